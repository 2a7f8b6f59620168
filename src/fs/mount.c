/*
 * mount.c - mounting and unmounting: superblock validation, journal replay,
 * orphan processing, the background commit thread, and a clean unmount that
 * leaves an empty journal and a CLEAN superblock.
 *
 * It does not format volumes (mkfs.c) or check them (src/fsck/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "fs_internal.h"

static int read_super(struct bdev *dev, struct ank_super *sb)
{
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	int rc = bdev_read(dev, 0, 1, blk);
	if (rc == 0) {
		memcpy(sb, blk, sizeof(*sb));
		rc = ank_super_validate(sb, dev->nblocks);
		if (rc == -EOPNOTSUPP)
			fprintf(stderr, "ananke: the volume uses features this program does not "
					"know (incompat 0x%x): a newer version made it; mount it "
					"with that version\n",
				sb->feature_incompat & ~ANK_FEATURE_INCOMPAT_SUPP);
	}
	free(blk);
	return rc;
}

static int write_super(struct fs *fs)
{
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	memset(blk, 0, ANK_BLOCK_SIZE);
	int64_t s;
	uint32_t ns;
	ank_now(&s, &ns);
	fs->sb.write_time = s;
	fs->sb.checksum = ank_super_csum(&fs->sb);
	memcpy(blk, &fs->sb, sizeof(fs->sb));
	int rc = bdev_write(fs->dev, 0, 1, blk);
	if (rc == 0)
		rc = bdev_flush(fs->dev);
	free(blk);
	return rc;
}

/* A journal with no new commit for opt.idle_checkpoint_ms is checkpointed
 * (background thread): a crash in a quiet period then leaves nothing to
 * replay, which keeps recovery short. */

/* The background thread: commits every commit_interval_ms (or at once when
 * asked, fs_commit_soon) if anything is dirty, and checkpoints a journal
 * that has been idle for IDLE_CHECKPOINT_NS. */
static void *bg_main(void *arg)
{
	struct fs *fs = arg;
	uint64_t interval = (uint64_t)fs->opt.commit_interval_ms * 1000000ull;
	bool idle_ckpt = fs->opt.idle_checkpoint_ms != UINT32_MAX;
	uint64_t idle = (uint64_t)fs->opt.idle_checkpoint_ms * 1000000ull;
	pthread_mutex_lock(&fs->lock);
	uint64_t next_commit = ank_mono_ns() + interval;
	uint64_t seen_tid = fs->j.committed_tid, seen_ns = ank_mono_ns();
	while (!fs->bg_stop) {
		uint64_t now = ank_mono_ns();
		if (fs->j.committed_tid != seen_tid) {
			seen_tid = fs->j.committed_tid;
			seen_ns = now;
		}
		bool log_used = idle_ckpt && (fs->j.head != fs->j.tail || fs->j.nckpt) &&
				!fs->j.error && !fs->commits_held;
		uint64_t until = next_commit;
		if (log_used && seen_ns + idle < until)
			until = seen_ns + idle;
		if (!fs->bg_kick && until > now) {
			struct timespec ts = {.tv_sec = (time_t)(until / 1000000000ull),
					      .tv_nsec = (long)(until % 1000000000ull)};
			pthread_cond_timedwait(&fs->bg_cond, &fs->lock, &ts);
		}
		if (fs->bg_stop)
			break;
		bool kick = fs->bg_kick;
		fs->bg_kick = false;
		now = ank_mono_ns();
		if (fs->j.error || fs->commits_held) {
			/* Nothing to do until the replay lets commits go (or
			 * ever, after an error): wait with the lock released.
			 * Going round at once would spin with the lock held
			 * whenever the commit time has passed, and the replay
			 * holding commits would never get the lock back. */
			uint64_t t = now + 10000000ull;
			struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
					      .tv_nsec = (long)(t % 1000000000ull)};
			pthread_cond_timedwait(&fs->bg_cond, &fs->lock, &ts);
			continue;
		}
		if (kick || now >= next_commit) {
			next_commit = now + interval;
			if (fs->bc.ndirty || fs->pc.ndirty || fs->ic.dirty || fs->j.sb_dirty) {
				guard_enter(fs);
				(void)journal_commit(fs);
				guard_leave(fs);
			}
		} else if (idle_ckpt && fs->j.committed_tid == seen_tid && now >= seen_ns + idle &&
			   (fs->j.head != fs->j.tail || fs->j.nckpt)) {
			guard_enter(fs);
			(void)journal_checkpoint(fs);
			guard_leave(fs);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

static void fs_free(struct fs *fs)
{
	icache_destroy(fs);
	alloc_destroy(fs);
	pcache_destroy(fs);
	buf_destroy(fs);
	journal_destroy(fs);
	free(fs->damaged);
	pthread_cond_destroy(&fs->bg_cond);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

int fs_mount(struct bdev *dev, const struct fs_options *opt, struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->op_order_check = ~fs->op_order;
	if (opt)
		fs->opt = *opt;
	if (!fs->opt.commit_interval_ms)
		fs->opt.commit_interval_ms = 5000;
	if (!fs->opt.idle_checkpoint_ms)
		fs->opt.idle_checkpoint_ms = 100;
	fs->dev = dev;
	fs->read_only = fs->opt.read_only;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->bg_cond, &ca);
	pthread_condattr_destroy(&ca);

	if (getrandom(&fs->next_generation, sizeof(fs->next_generation), 0) !=
	    sizeof(fs->next_generation))
		fs->next_generation = (uint32_t)ank_mono_ns();
	int rc = read_super(dev, &fs->sb);
	if (rc < 0)
		goto fail;
	guard_geometry_seal(fs);
	if (!fs->read_only && (fs->sb.feature_ro_compat & ~ANK_FEATURE_RO_COMPAT_SUPP)) {
		rc = -EROFS;
		goto fail;
	}
	rc = journal_init(fs);
	if (rc < 0)
		goto fail;
	rc = buf_init(fs, fs->opt.buffer_cache);
	if (rc < 0)
		goto fail;
	uint64_t replayed = 0;
	rc = journal_replay(fs, &replayed);
	if (rc < 0)
		goto fail;
	fs->stats.replayed_transactions = replayed;
	if (replayed) {
		/* The superblock may itself have been replayed. */
		const uint8_t *img = journal_ckpt_image(fs, 0);
		if (img) {
			memcpy(&fs->sb, img, sizeof(fs->sb));
			rc = ank_super_validate(&fs->sb, dev->nblocks);
		} else {
			rc = read_super(dev, &fs->sb);
		}
		if (rc < 0)
			goto fail;
	}
	guard_geometry_seal(fs); /* (the superblock may have been replayed) */
	rc = icache_init(fs, fs->opt.inode_cache);
	if (rc == 0)
		rc = pcache_init(fs, fs->opt.cache_pages, fs->opt.dirty_pages_limit);
	if (rc == 0) {
		/* The bitmaps and the root's inode block, side by side: a
		 * round trip to the device for each was most of a recovery's
		 * mount. (A failure here is met again, and reported, below.) */
		const uint64_t root_blk = ank_inode_block(&fs->sb, ANK_ROOT_INO);
		const uint64_t from[3] = {fs->sb.ibitmap_start, fs->sb.bbitmap_start, root_blk};
		const uint64_t count[3] = {fs->sb.ibitmap_blocks, fs->sb.bbitmap_blocks, 1};
		(void)buf_prefetch(fs, from, count, 3);
		rc = alloc_init(fs);
	}
	if (rc < 0)
		goto fail;
	/* The root must be a readable directory. */
	struct inode *root;
	rc = inode_get(fs, ANK_ROOT_INO, &root);
	if (rc == 0 && !inode_is_dir(root))
		rc = ANK_CORRUPT("root inode is not a directory");
	if (rc == 0)
		inode_put(fs, root);
	if (rc < 0)
		goto fail;
	if (!fs->read_only) {
		/* Mark the volume in use before changing anything. After a
		 * crash it is marked already: the new count and time go with
		 * the first commit (a write and a flush fewer on recovery). */
		bool marked = fs->sb.state == ANK_STATE_DIRTY;
		/* A volume made before symbolic links, special files or
		 * extended attributes: from now on it may hold them, which
		 * older programs must refuse. (Not INLINE_LINKS: the short
		 * links such a volume has are in blocks; format.h.) */
		const uint32_t now_incompat = ANK_FEATURE_INCOMPAT_FILETYPES |
					      ANK_FEATURE_INCOMPAT_XATTR;
		bool upgrade = (fs->sb.feature_incompat & now_incompat) != now_incompat;
		fs->sb.feature_incompat |= now_incompat;
		fs->sb.state = ANK_STATE_DIRTY;
		fs->sb.mount_count++;
		int64_t s;
		uint32_t ns;
		ank_now(&s, &ns);
		fs->sb.mount_time = s;
		if (!marked || upgrade)
			rc = write_super(fs);
		if (rc < 0)
			goto fail;
		pthread_mutex_lock(&fs->lock);
		/* An unreadable orphan is left for fsck (it reports the leaked
		 * inode); the list is dropped and the mount goes on. */
		rc = inode_process_orphans(fs);
		if (rc < 0)
			fprintf(stderr, "ananke: mount: orphan list: %s; run fsck --repair\n",
				strerror(-rc));
		/* Held: the changes wait in the running transaction, whose id
		 * the caller may still move up (fs_reserve_tids). */
		fs->commits_held = fs->opt.hold_commits;
		rc = fs->commits_held ? 0 : journal_commit(fs);
		if (marked)
			journal_sb_dirty(fs); /* after that commit: joins the next one */
		pthread_mutex_unlock(&fs->lock);
		if (rc < 0)
			goto fail;
		if (!fs->opt.no_background) {
			if (pthread_create(&fs->bg_thread, NULL, bg_main, fs) == 0)
				fs->bg_running = true;
		}
	}
	*out = fs;
	return 0;
fail:
	fs_free(fs);
	return rc;
}

uint64_t fs_mount_durable_tid(struct fs *fs)
{
	/* (set by replay, never changed afterwards; read under the journal's
	 * seal, and without what fs_unlock does to the caller's stamp) */
	pthread_mutex_lock(&fs->lock);
	journal_check(&fs->j);
	uint64_t d = fs->j.mount_tid;
	pthread_mutex_unlock(&fs->lock);
	return d;
}

int fs_unmount(struct fs *fs)
{
	if (fs->bg_running) {
		pthread_mutex_lock(&fs->lock);
		fs->bg_stop = true;
		pthread_cond_broadcast(&fs->bg_cond);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->bg_thread, NULL);
	}
	pthread_mutex_lock(&fs->lock);
	guard_enter(fs); /* never left: nothing is sealed after this */
	fs_clients_close_all(fs);
	int rc = 0;
	if (!fs->read_only) {
		rc = journal_commit(fs);
		if (rc == 0)
			rc = journal_checkpoint(fs);
		if (rc == 0) {
			fs->sb.state = ANK_STATE_CLEAN;
			fs->sb.free_blocks = fs->al.free_blocks;
			fs->sb.free_inodes = fs->al.free_inodes;
			rc = write_super(fs);
		}
	}
	/* Clients not freed by their owners are freed now. */
	while (fs->clients) {
		struct fs_client *c = fs->clients;
		pthread_mutex_unlock(&fs->lock);
		fs_client_free(c);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	fs_free(fs);
	guard_thread_done(); /* (the section entered above, with the fs) */
	return rc;
}
