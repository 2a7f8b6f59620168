/*
 * journal.c - the metadata journal (s-log): transactions, commit, checkpoint
 * and replay.
 *
 * Contract
 *   - Every change to metadata joins the running transaction (dirty buffers,
 *     dirty inodes, the superblock). A commit makes it atomic and durable:
 *     after a crash, replay applies all of a committed transaction or none.
 *   - Ordered data: file data dirtied before a commit reaches the disk before
 *     that commit's record, so committed metadata never points at blocks
 *     whose data was not written.
 *   - Group commit: a commit copies the transaction under fs->lock, starts
 *     the next one and drops the lock for its I/O; operations (and fsyncs)
 *     that arrive meanwhile form the next transaction together.
 *   - Checkpoint: committed block images are kept in memory until written to
 *     their home locations; then the log tail moves forward. Blocks freed by
 *     a transaction become allocatable only after it was checkpointed (see
 *     alloc.c), so no replay can overwrite a reused block.
 *   - A failed commit or checkpoint is sticky: every later change fails with
 *     that error (the in-memory state no longer matches what can be made
 *     durable); a remount replays what was committed.
 *
 * Transaction states: running (collecting changes) -> committing (copied,
 * I/O in flight) -> committed (durable in the log) -> checkpointed (durable at
 * home, log space reclaimed).
 *
 * On-disk records are in format.h; reading them at mount is jscan.c's job.
 * Called with fs->lock held; commit and checkpoint drop it during I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "../util/crc32c.h"
#include "fs_internal.h"
#include "jscan.h"

static size_t ckpt_hash(const struct journal *j, uint64_t home)
{
	return (size_t)((home * 0x9E3779B97F4A7C15ull) >> 20) & (j->nckpt_hash - 1);
}

static struct ckpt_image *ckpt_find(struct journal *j, uint64_t home)
{
	for (struct ckpt_image *c = j->ckpt[ckpt_hash(j, home)]; c; c = c->hnext)
		if (c->home == home)
			return c;
	return NULL;
}

void (*journal_copied_hook)(uint8_t *const *images, size_t n);
void (*journal_record_hook)(struct ank_journal_commit *c);
void (*journal_checkpoint_hook)(uint64_t *tail, uint64_t *upto);

/* Keep `data` (ownership taken) as the newest committed image of home;
 * `sum`: guard_sum of the bytes it was copied from (so that a stray write
 * to the copy since is caught before the copy is written home). */
static void ckpt_put(struct journal *j, uint64_t home, uint8_t *data, uint32_t sum,
		     struct ckpt_image *node)
{
	struct ckpt_image *c = ckpt_find(j, home);
	if (c) {
		free(c->data);
		c->data = data;
		c->csum = sum ^ guard_place(home, 0, 0, data);
		free(node);
		return;
	}
	node->home = home;
	node->data = data;
	node->csum = sum ^ guard_place(home, 0, 0, data);
	size_t h = ckpt_hash(j, home);
	node->hnext = j->ckpt[h];
	j->ckpt[h] = node;
	j->nckpt++;
}

static void ckpt_clear(struct journal *j)
{
	for (size_t i = 0; i < j->nckpt_hash; i++) {
		struct ckpt_image *c = j->ckpt[i];
		while (c) {
			struct ckpt_image *n = c->hnext;
			free(c->data);
			free(c);
			c = n;
		}
		j->ckpt[i] = NULL;
	}
	j->nckpt = 0;
}

const uint8_t *journal_ckpt_image(struct fs *fs, uint64_t blk)
{
	if (!fs->j.ckpt || fs->j.nckpt == 0)
		return NULL;
	struct ckpt_image *c = ckpt_find(&fs->j, blk);
	if (c)
		guard_check("checkpoint image", c->home, 0, c->csum, true, c->data,
			    guard_place(c->home, 0, 0, c->data));
	return c ? c->data : NULL;
}

static uint32_t journal_sum(const struct journal *j)
{
	uint64_t v[9] = {j->nlog, j->head, j->tail, j->log_seq, j->salt, j->running_tid,
			 j->committed_tid, j->checkpointed_tid, j->mount_tid};
	return crc32c(0x4A524E4Cu, v, sizeof(v));
}

void journal_seal(struct journal *j)
{
	j->check = journal_sum(j);
}

static uint32_t committing_sum(const struct journal *j)
{
	uint64_t v[4] = {j->committing.tid, j->committing.seq, j->committing.head,
			 j->committing.nblocks};
	return crc32c(0x434D4954u, v, sizeof(v));
}

static uint32_t checkpointing_sum(const struct journal *j)
{
	uint64_t v[2] = {j->checkpointing.tail, j->checkpointing.upto};
	return crc32c(0x434B5054u, v, sizeof(v));
}

static void checkpointing_check(const struct journal *j, uint64_t tail, uint64_t upto)
{
	if (j->checkpointing.check != checkpointing_sum(j) || tail != j->checkpointing.tail ||
	    upto != j->checkpointing.upto)
		guard_fail("checkpoint in flight (tail, transaction id)", tail, upto);
}

/* The commit in flight is the one recorded, and its record says so. */
static void committing_check(const struct journal *j, uint64_t tid, uint64_t seq, uint64_t head,
			     uint64_t nblocks, const struct ank_journal_commit *c)
{
	if (j->committing.check != committing_sum(j) || tid != j->committing.tid ||
	    seq != j->committing.seq || head != j->committing.head ||
	    nblocks != j->committing.nblocks || c->tid != tid || c->seq != seq ||
	    ank_jcmt_csum(c) != c->checksum)
		guard_fail("transaction being committed (id, sequence, place)", tid,
			   j->committing.tid);
}

void journal_check(const struct journal *j)
{
	if (__builtin_expect(j->check != journal_sum(j), 0))
		guard_fail("journal state (positions, transaction ids)", j->running_tid,
			   j->committed_tid);
}

int journal_init(struct fs *fs)
{
	struct journal *j = &fs->j;
	j->nlog = fs->sb.journal_blocks - 1;
	journal_seal(j);
	j->nckpt_hash = 1;
	while (j->nckpt_hash < j->nlog * 2)
		j->nckpt_hash <<= 1;
	j->ckpt = calloc(j->nckpt_hash, sizeof(*j->ckpt));
	if (!j->ckpt)
		return -ENOMEM;
	pthread_cond_init(&j->cond, NULL);
	return 0;
}

void journal_destroy(struct fs *fs)
{
	struct journal *j = &fs->j;
	free(j->stage);
	j->stage = NULL;
	j->stage_pages = 0;
	if (j->ckpt) {
		ckpt_clear(j);
		free(j->ckpt);
		j->ckpt = NULL;
		pthread_cond_destroy(&j->cond);
	}
}

void journal_sb_dirty(struct fs *fs)
{
	fs->j.sb_dirty = true;
}

uint64_t journal_running_blocks(struct fs *fs)
{
	return fs->bc.ndirty + (fs->j.sb_dirty ? 1 : 0);
}

/* Write the journal header: the log now starts at `tail` with `seq`, and
 * every transaction up to `ckpt_tid` is home. Flushed when `flush`. */
static int write_header(struct fs *fs, uint64_t seq, uint64_t tail, uint32_t salt,
			uint64_t ckpt_tid, bool flush)
{
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	memset(blk, 0, ANK_BLOCK_SIZE);
	struct ank_journal_header *h = (void *)blk;
	h->magic = ANK_JHDR_MAGIC;
	h->version = 1;
	h->seq = seq;
	h->tail = tail % fs->j.nlog;
	h->salt = salt;
	h->checkpoint_tid = ckpt_tid;
	h->checksum = ank_jhdr_csum(h);
	int rc = guard_io(bdev_write(fs->dev, fs->sb.journal_start, 1, blk), "the journal header");
	if (rc == 0 && flush)
		rc = bdev_flush(fs->dev);
	free(blk);
	return rc;
}

struct replay_ctx {
	struct journal *j;
	int err;
};

static int replay_collect(void *arg, uint64_t seq, uint64_t home, const void *image)
{
	struct replay_ctx *rc = arg;
	(void)seq;
	uint8_t *copy = ank_aligned_alloc(ANK_BLOCK_SIZE);
	struct ckpt_image *node = calloc(1, sizeof(*node));
	if (!copy || !node) {
		free(copy);
		free(node);
		rc->err = -ENOMEM;
		return -ENOMEM;
	}
	uint32_t sum = guard_sum(image);
	memcpy(copy, image, ANK_BLOCK_SIZE);
	ckpt_put(rc->j, home, copy, sum, node);
	return 0;
}

/* Write every image of the checkpoint set home, then flush. */
static int write_home(struct fs *fs, struct ckpt_image **list, size_t n)
{
	enum { BATCH = 128 };
	struct bdev_io ios[BATCH];
	int err = 0;
	for (size_t i = 0; i < n;) {
		unsigned k = 0;
		while (k < BATCH && i < n) {
			guard_check("checkpoint image", list[i]->home, 0, list[i]->csum, true,
				    list[i]->data, guard_place(list[i]->home, 0, 0, list[i]->data));
			ios[k++] = (struct bdev_io){BDEV_WRITE, list[i]->home, 1, list[i]->data, 0};
			i++;
		}
		int rc = guard_io(bdev_submit(fs->dev, ios, k), "a checkpoint");
		if (rc < 0 && !err)
			err = rc;
	}
	if (!err)
		err = bdev_flush(fs->dev);
	/* Damage during the writes may be on the device now: stop before the
	 * log's tail moves past the good copies (replay writes them again). */
	for (size_t i = 0; !err && i < n; i++)
		guard_check("checkpoint image", list[i]->home, 1, list[i]->csum, true,
			    list[i]->data, guard_place(list[i]->home, 0, 0, list[i]->data));
	return err;
}

static struct ckpt_image **ckpt_list(struct journal *j, size_t *n)
{
	struct ckpt_image **list = malloc((j->nckpt ? j->nckpt : 1) * sizeof(*list));
	size_t k = 0;
	if (!list)
		return NULL;
	for (size_t i = 0; i < j->nckpt_hash; i++)
		for (struct ckpt_image *c = j->ckpt[i]; c; c = c->hnext)
			list[k++] = c;
	*n = k;
	return list;
}

int journal_replay(struct fs *fs, uint64_t *txns_replayed)
{
	struct journal *j = &fs->j;
	struct ank_journal_header h;
	int rc = jscan_read_header(fs->dev, &fs->sb, &h);
	if (rc < 0)
		return rc;
	struct jscan_result res;
	struct replay_ctx ctx = {j, 0};
	rc = jscan_scan_from(fs->dev, &fs->sb, &h, replay_collect, &ctx, &res);
	if (ctx.err)
		rc = ctx.err;
	if (rc < 0) {
		ckpt_clear(j);
		return rc;
	}
	*txns_replayed = res.transactions;
	/* D, the last durable transaction id: the newest commit record in the
	 * log, else the header's (a checkpoint moved the tail past every
	 * record). Volumes written before ids were recorded have 0 in both:
	 * numbering then starts at 1. New ids continue above D. */
	uint64_t d = ANK_MAX(res.last_tid, h.checkpoint_tid);
	j->mount_tid = d;
	j->committed_tid = j->checkpointed_tid = d;
	j->running_tid = d + 1;
	j->running_seen = false;
	j->head = j->tail = res.next_pos % j->nlog;
	j->log_seq = res.next_seq;
	if (fs->read_only) {
		/* Keep the images in memory: reads see the replayed state, the
		 * device is not written. */
		j->salt = h.salt;
		journal_seal(j);
		return 0;
	}
	journal_seal(j);
	if (j->nckpt) {
		size_t n;
		struct ckpt_image **list = ckpt_list(j, &n);
		if (!list)
			return -ENOMEM;
		rc = write_home(fs, list, n);
		free(list);
		if (rc < 0)
			return rc;
		ckpt_clear(j);
		if (fs->opt.replay_hook)
			fs->opt.replay_hook();
	}
	uint32_t salt;
	if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt))
		salt = (uint32_t)ank_mono_ns();
	if (salt == h.salt)
		salt ^= 0x5A5A5A5Au;
	j->salt = salt;
	journal_seal(j);
	/* Not flushed here: nothing needs it durable before the first commit,
	 * whose flush before its commit record makes it so. Until then a crash
	 * finds the old header or this one, and either names the same log:
	 * the tail at the same place (the replayed images were written home
	 * and flushed above), and no block yet under the new salt. One flush
	 * fewer on every recovery. */
	return write_header(fs, j->log_seq, j->tail, salt, d, false);
}

/* Write home every committed image and move the log tail to the head. Called
 * with the lock held and no commit in flight (j->busy clear); drops the lock
 * during I/O. */
static int checkpoint_locked(struct fs *fs)
{
	struct journal *j = &fs->j;
	journal_check(j);
	if (j->head == j->tail && j->nckpt == 0) {
		j->checkpointed_tid = j->committed_tid;
		journal_seal(j);
		alloc_release_pending(fs, j->checkpointed_tid);
		return 0;
	}
	size_t n;
	struct ckpt_image **list = ckpt_list(j, &n);
	if (!list)
		return -ENOMEM;
	uint64_t upto = j->committed_tid, new_tail = j->head;
	guard_geometry_check(fs);
	j->checkpointing.tail = new_tail;
	j->checkpointing.upto = upto;
	j->checkpointing.check = checkpointing_sum(j);
	j->busy = true;
	pthread_mutex_unlock(&fs->lock);
	int rc = write_home(fs, list, n);
	if (rc == 0 && journal_checkpoint_hook)
		journal_checkpoint_hook(&new_tail, &upto);
	if (rc == 0) {
		checkpointing_check(j, new_tail, upto);
		rc = write_header(fs, j->log_seq, new_tail, j->salt, upto, true);
	}
	pthread_mutex_lock(&fs->lock);
	free(list);
	j->busy = false;
	pthread_cond_broadcast(&j->cond);
	if (rc < 0) {
		fs_abort(fs, rc);
		return rc;
	}
	ckpt_clear(j);
	journal_check(j);
	checkpointing_check(j, new_tail, upto);
	j->tail = j->checkpointing.tail;
	j->checkpointed_tid = j->checkpointing.upto;
	journal_seal(j);
	fs->stats.checkpoints++;
	alloc_release_pending(fs, j->checkpointed_tid);
	return 0;
}

int journal_checkpoint(struct fs *fs)
{
	struct journal *j = &fs->j;
	while (j->busy)
		pthread_cond_wait(&j->cond, &fs->lock);
	if (j->error)
		return j->error;
	return checkpoint_locked(fs);
}

static int cmp_page_pblk(const void *a, const void *b)
{
	const struct page *x = *(struct page *const *)a, *y = *(struct page *const *)b;
	return x->pblk < y->pblk ? -1 : x->pblk > y->pblk;
}

int journal_commit(struct fs *fs)
{
	struct journal *j = &fs->j;
	int rc = 0;
	uint8_t **meta = NULL, *log = NULL, *data = NULL;
	uint64_t *pages = NULL; /* pairs: pblk, index into data */
	struct bdev_io *ios = NULL;
	size_t nmeta = 0, ndata = 0;

	for (;;) {
		while (j->busy)
			pthread_cond_wait(&j->cond, &fs->lock);
		/* Every call that released the lock is recorded before its
		 * effects can become durable (fs_set_commit_gate); from here to
		 * the freeze below the lock is held, so no call joins meanwhile. */
		if (!fs_commit_gate(fs))
			continue; /* the lock was released: look again */
		if (j->error)
			return j->error;
		if (fs->read_only)
			return 0;
		/* A transaction that cannot be put together completely must never
		 * be committed partly: any failure from here on is sticky. */
		rc = inode_flush_dirty(fs);
		if (rc < 0) {
			fs_abort(fs, rc);
			return rc;
		}
		if (j->sb_dirty) {
			struct buf *b;
			rc = buf_get(fs, 0, &b);
			if (rc < 0) {
				fs_abort(fs, rc);
				return rc;
			}
			int64_t s;
			uint32_t ns;
			ank_now(&s, &ns);
			fs->sb.write_time = s;
			fs->sb.checksum = ank_super_csum(&fs->sb);
			memcpy(b->data, &fs->sb, sizeof(fs->sb));
			buf_dirty(fs, b);
			buf_put(fs, b);
			j->sb_dirty = false;
		}
		nmeta = fs->bc.ndirty;
		ndata = fs->pc.ndirty;
		if (nmeta == 0 && ndata == 0 && !j->running_seen) {
			/* Nothing to commit: the running transaction keeps its
			 * id (nothing joined it, nobody was told it), so no id
			 * becomes durable without being recorded on disk. */
			return 0;
		}
		if (nmeta == 0) {
			/* Data alone, or an empty transaction whose id was
			 * handed out: journal the superblock so that a commit
			 * record carries the id. */
			j->sb_dirty = true;
			continue;
		}
		uint64_t need = ANK_DIV_ROUND_UP(nmeta, (uint64_t)ANK_JDESC_MAX) + nmeta + 1;
		if (need > j->nlog) {
			fs_abort(fs, -ENOSPC);
			return ANK_CORRUPT("transaction larger than the journal");
		}
		if (j->head - j->tail + need <= j->nlog)
			break;
		rc = checkpoint_locked(fs);
		if (rc < 0)
			return rc;
	}

	uint64_t tid = j->running_tid;
	uint64_t seq = j->log_seq;
	uint64_t ndesc = ANK_DIV_ROUND_UP(nmeta, (uint64_t)ANK_JDESC_MAX);
	/* Every commit writes a record (nmeta >= 1, see above): it carries the
	 * transaction's id, which is how mount learns the last durable one. */
	uint64_t nlogblk = ndesc + nmeta + 1;
	meta = calloc(nmeta, sizeof(*meta));
	log = ank_aligned_alloc(nlogblk * ANK_BLOCK_SIZE);
	/* Data pages are staged in a buffer kept from commit to commit (one
	 * commit runs at a time): no fresh memory to fault in every time. */
	if (ndata > j->stage_pages) {
		free(j->stage);
		j->stage_pages = 0;
		j->stage = ank_aligned_alloc(ndata * ANK_BLOCK_SIZE);
		if (j->stage)
			j->stage_pages = ndata;
	}
	data = j->stage;
	pages = malloc((ndata ? ndata : 1) * 2 * sizeof(*pages));
	struct page **plist = malloc((ndata ? ndata : 1) * sizeof(*plist));
	uint64_t *homes = malloc(nmeta * sizeof(*homes));
	uint32_t *msums = malloc(nmeta * sizeof(*msums));
	struct ckpt_image **nodes = calloc(nmeta, sizeof(*nodes));
	uint64_t *pg_keys = malloc((ndata ? ndata : 1) * 2 * sizeof(*pg_keys));
	uint32_t *pg_sums = malloc((ndata ? ndata : 1) * sizeof(*pg_sums));
	ios = malloc((ndata + nlogblk) * sizeof(*ios));
	bool oom = !meta || !log || (ndata && !data) || !pages || !plist || !homes || !msums || !nodes ||
		   !pg_keys || !pg_sums || !ios;
	for (size_t i = 0; !oom && i < nmeta; i++) {
		meta[i] = ank_aligned_alloc(ANK_BLOCK_SIZE);
		nodes[i] = calloc(1, sizeof(**nodes));
		oom = !meta[i] || !nodes[i];
	}
	if (oom) {
		rc = -ENOMEM;
		goto out_nomem;
	}

	/* Copy the transaction: metadata images and data pages. */
	memset(log, 0, nlogblk * ANK_BLOCK_SIZE);
	/* The dirty lists are walked no further than their counts say, and
	 * must end there: a stray write into a link that dropped part of a
	 * list would commit the transaction without those blocks, its calls
	 * would count as durable, and the next crash would lose them. */
	size_t mi = 0;
	while (fs->bc.dirty && mi < nmeta) {
		struct buf *b = fs->bc.dirty;
		fs->bc.dirty = b->dnext;
		b->dnext = NULL;
		buf_check(b); /* nothing but the file system changed it */
		memcpy(meta[mi], b->data, ANK_BLOCK_SIZE);
		/* every copy made of it from here on must still say this */
		msums[mi] = guard_sum(meta[mi]);
		homes[mi++] = b->blk;
		buf_clean(fs, b);
	}
	if (mi != nmeta || fs->bc.dirty)
		guard_fail("list of dirty metadata blocks", mi, nmeta);
	fs->bc.ndirty = 0;
	if (journal_copied_hook)
		journal_copied_hook(meta, nmeta);
	/* Data pages in block order, so contiguous blocks go out as one
	 * request, copied straight into the staging buffer in that order. */
	size_t di = 0;
	struct page *dp = fs->pc.dirty.dnext;
	for (; dp != &fs->pc.dirty && di < ndata; dp = dp->dnext) {
		if (!dp->dirty)
			guard_fail("list of dirty data pages (a clean page)", dp->ino, dp->idx);
		plist[di++] = dp;
	}
	if (di != ndata || dp != &fs->pc.dirty)
		guard_fail("list of dirty data pages", di, ndata);
	qsort(plist, di, sizeof(*plist), cmp_page_pblk);
	for (size_t k = 0; k < di; k++) {
		struct page *p = plist[k];
		pg_sums[k] = page_verify(p);
		memcpy(data + k * ANK_BLOCK_SIZE, p->data, ANK_BLOCK_SIZE);
		pages[2 * k] = p->pblk;
		pages[2 * k + 1] = k;
		pg_keys[2 * k] = p->ino;
		pg_keys[2 * k + 1] = p->idx;
		page_start_writeback(fs, p);
	}
	free(plist);
	plist = NULL;
	/* Lay out the log: [desc, images...]* commit, and chain the CRC. */
	uint32_t crc = 0;
	uint64_t lb = 0;
	for (size_t m = 0; m < nmeta;) {
		struct ank_journal_desc *d = (void *)(log + lb * ANK_BLOCK_SIZE);
		size_t cnt = ANK_MIN(nmeta - m, (size_t)ANK_JDESC_MAX);
		d->magic = ANK_JDESC_MAGIC;
		d->salt = j->salt;
		d->seq = seq;
		d->count = (uint32_t)cnt;
		for (size_t k = 0; k < cnt; k++)
			d->home[k] = homes[m + k];
		d->checksum = ank_jdesc_csum(d);
		crc = crc32c(crc, d, ANK_BLOCK_SIZE);
		lb++;
		for (size_t k = 0; k < cnt; k++, lb++) {
			uint8_t *img = log + lb * ANK_BLOCK_SIZE;
			memcpy(img, meta[m + k], ANK_BLOCK_SIZE);
			/* (a stray write to the copy since the buffer was checked
			 * would otherwise be journaled under a good checksum) */
			if (guard_sum(img) != msums[m + k])
				guard_fail("metadata image being committed", homes[m + k], seq);
			crc = crc32c(crc, img, ANK_BLOCK_SIZE);
		}
		m += cnt;
	}
	struct ank_journal_commit *c = (void *)(log + lb * ANK_BLOCK_SIZE);
	c->magic = ANK_JCMT_MAGIC;
	c->salt = j->salt;
	c->seq = seq;
	c->nblocks = (uint32_t)(nlogblk - 1);
	c->data_crc = crc;
	c->tid = tid;
	uint32_t ns;
	ank_now(&c->time_sec, &ns);
	c->checksum = ank_jcmt_csum(c);
	/* Readers that miss in the buffer cache must see these images from now
	 * on, since the buffers are clean and may be evicted. */
	for (size_t k = 0; k < nmeta; k++) {
		ckpt_put(j, homes[k], meta[k], msums[k], nodes[k]);
		meta[k] = NULL;
		nodes[k] = NULL;
	}

	journal_check(j);
	uint64_t head = j->head;
	/* (the lock was held since tid and seq were read: they must still be
	 * the journal's) */
	if (tid != j->running_tid || seq != j->log_seq)
		guard_fail("transaction being committed (id, sequence)", tid, j->running_tid);
	/* (every home above was computed from the layout) */
	guard_geometry_check(fs);
	j->committing.tid = tid;
	j->committing.seq = seq;
	j->committing.head = head;
	j->committing.nblocks = nlogblk;
	j->committing.check = committing_sum(j);
	committing_check(j, tid, seq, head, nlogblk, c);
	j->busy = true;
	j->running_tid++;
	journal_seal(j);
	j->running_seen = false;
	pthread_mutex_unlock(&fs->lock);

	/* Data first (sorted, contiguous blocks merged), with every log block
	 * but the commit record; flush; then the commit record; flush. */
	unsigned nio = 0;
	uint8_t *sorted = data; /* staged in block order already */
	{
		for (size_t k = 0; k < ndata;) {
			size_t run = 1;
			while (k + run < ndata && pages[2 * (k + run)] == pages[2 * k] + run &&
			       run < 256)
				run++;
			ios[nio++] = (struct bdev_io){BDEV_WRITE, pages[2 * k], (uint32_t)run,
						      sorted + k * ANK_BLOCK_SIZE, 0};
			k += run;
		}
		for (uint64_t k = 0; k + 1 < nlogblk;) {
			uint64_t pos = (head + k) % j->nlog;
			uint64_t run = ANK_MIN(nlogblk - 1 - k, j->nlog - pos);
			ios[nio++] = (struct bdev_io){BDEV_WRITE, fs->sb.journal_start + 1 + pos,
						      (uint32_t)run, log + k * ANK_BLOCK_SIZE, 0};
			k += run;
		}
		rc = nio ? guard_io(bdev_submit(fs->dev, ios, nio), "a commit") : 0;
		if (rc == 0)
			rc = bdev_flush(fs->dev);
		/* What went to the device came from these buffers: if a stray
		 * write changed one before or during its write, the device may
		 * hold the damage. Stop before the commit record makes any of
		 * it durable; recovery replays the calls from the p-log. */
		for (size_t k = 0; rc == 0 && k < ndata; k++)
			if (guard_sum(data + k * ANK_BLOCK_SIZE) != pg_sums[k])
				guard_fail("staged data page", pg_keys[2 * k], pg_keys[2 * k + 1]);
		if (rc == 0 && (crc32c(0, log, (nlogblk - 1) * ANK_BLOCK_SIZE) != c->data_crc ||
				ank_jcmt_csum(c) != c->checksum))
			guard_fail("journal transaction", tid, seq);
		if (rc == 0 && journal_record_hook)
			journal_record_hook(c);
		if (rc == 0)
			committing_check(j, tid, seq, head, nlogblk, c);
		if (rc == 0)
			rc = guard_io(bdev_write(fs->dev,
						 fs->sb.journal_start + 1 +
							 (head + nlogblk - 1) % j->nlog,
						 1, log + (nlogblk - 1) * ANK_BLOCK_SIZE),
				      "a commit record");
		if (rc == 0)
			rc = bdev_flush(fs->dev);
	}

	pthread_mutex_lock(&fs->lock);
	for (size_t k = 0; k < ndata; k++)
		page_end_writeback(fs, pg_keys[2 * k], (uint32_t)pg_keys[2 * k + 1]);
	j->busy = false;
	pthread_cond_broadcast(&j->cond);
	if (rc < 0) {
		fs_abort(fs, rc);
	} else {
		journal_check(j);
		committing_check(j, tid, seq, head, nlogblk, c);
		j->head = j->committing.head + j->committing.nblocks;
		j->log_seq = j->committing.seq + 1;
		j->committed_tid = j->committing.tid;
		journal_seal(j);
		fs->stats.commits++;
		fs->stats.journal_blocks_written += nlogblk;
	}
	pcache_shrink(fs);
	free(homes);
	free(msums);
	free(nodes);
	free(pg_keys);
	free(pg_sums);
	free(meta);
	free(log);
	free(pages);
	free(ios);
	/* Checkpoint early: what is left in the log after a crash is what
	 * replay (and so a server's recovery) has to read and write. */
	if (rc == 0 && j->head - j->tail > j->nlog / 8)
		rc = journal_checkpoint(fs);
	/* The background thread may sleep for a whole commit interval: it
	 * plans the checkpoint of an idle journal from this commit on. */
	if (rc == 0 && fs->bg_running)
		pthread_cond_signal(&fs->bg_cond);
	return rc;

out_nomem:
	fs_abort(fs, rc);
	for (size_t i = 0; meta && i < nmeta; i++)
		free(meta[i]);
	for (size_t i = 0; nodes && i < nmeta; i++)
		free(nodes[i]);
	free(homes);
	free(msums);
	free(nodes);
	free(pg_keys);
	free(pg_sums);
	free(meta);
	free(log);
	free(pages);
	free(plist);
	free(ios);
	return rc;
}

void fs_abort(struct fs *fs, int err)
{
	if (fs->j.error)
		return;
	fs->j.error = err < 0 ? err : -EIO;
	if (fs->opt.abort_stops_process) {
		fprintf(stderr, "ananke: file system aborted (%s): stopping the process, so that "
				"recovery rebuilds what it held\n",
			strerror(-fs->j.error));
		abort();
	}
	fprintf(stderr, "ananke: file system aborted (%s): changes since the last commit are "
			"discarded; remount to recover\n",
		strerror(-fs->j.error));
}

int journal_force(struct fs *fs, uint64_t tid)
{
	struct journal *j = &fs->j;
	while (j->committed_tid < tid) {
		if (j->error)
			return j->error;
		if (j->busy) {
			pthread_cond_wait(&j->cond, &fs->lock);
			continue;
		}
		uint64_t running = j->running_tid;
		int rc = journal_commit(fs);
		if (rc < 0)
			return rc;
		/* Nothing was committed (by us or anyone meanwhile): the running
		 * transaction is empty and unseen, and everything before it is
		 * durable (no commit is in flight), so no change is pending. */
		if (j->running_tid == running && !j->busy)
			break;
	}
	return j->error;
}
