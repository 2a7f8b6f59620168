/*
 * inode.c - the inode cache and the life cycle of inodes: read and validate,
 * create, mark dirty, free when the last link and the last user are gone,
 * and the orphan list that keeps unlinked-but-open inodes recoverable.
 *
 * An in-memory inode holds its on-disk image `d` in current form; the
 * journal serialises dirty images into the inode table at commit
 * (inode_flush_dirty). Unreferenced clean inodes sit on an LRU and are
 * evicted past the cache bound.
 *
 * It does not touch file data (file.c) or directory contents (dir.c).
 * Called with fs->lock held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"

static size_t ihash(struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 24) & (fs->ic.nhash - 1);
}

int icache_init(struct fs *fs, size_t limit)
{
	fs->ic.limit = limit ? limit : 4096;
	fs->ic.nhash = 1;
	while (fs->ic.nhash < fs->ic.limit * 2)
		fs->ic.nhash <<= 1;
	fs->ic.hash = calloc(fs->ic.nhash, sizeof(*fs->ic.hash));
	if (!fs->ic.hash)
		return -ENOMEM;
	fs->ic.lru.lnext = fs->ic.lru.lprev = &fs->ic.lru;
	return 0;
}

static void ilru_unlink(struct fs *fs, struct inode *ip)
{
	if (ip->lnext) {
		ip->lnext->lprev = ip->lprev;
		ip->lprev->lnext = ip->lnext;
		ip->lnext = ip->lprev = NULL;
		fs->ic.unused--;
	}
}

static void ihash_unlink(struct fs *fs, struct inode *ip)
{
	guard_inode_number(ip);
	struct inode **pp = &fs->ic.hash[ihash(fs, ip->ino)];
	while (*pp && *pp != ip)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ip->hnext;
	fs->ic.count--;
}

static void inode_release(struct fs *fs, struct inode *ip)
{
	guard_inode_forget(fs, ip);
	file_drop_pages(fs, ip);
	dir_index_free(ip->dix);
	ip->dix = NULL;
	free(ip);
}

void icache_destroy(struct fs *fs)
{
	if (!fs->ic.hash)
		return;
	for (size_t i = 0; i < fs->ic.nhash; i++) {
		struct inode *ip = fs->ic.hash[i];
		while (ip) {
			struct inode *n = ip->hnext;
			inode_release(fs, ip);
			ip = n;
		}
	}
	free(fs->ic.hash);
	fs->ic.hash = NULL;
}

/* Evict unreferenced, clean inodes without dirty pages past the bound,
 * which counts the unreferenced ones (the LRU): referenced and dirty inodes
 * cannot go anyway, and counting them would evict the few clean ones in
 * use, such as a large directory whose name index is then rebuilt on every
 * lookup. The scan gives up after a few busy inodes, so one call stays
 * cheap; busy ones become evictable after the next commit. */
static void icache_shrink(struct fs *fs)
{
	struct inode *ip = fs->ic.lru.lnext;
	unsigned busy_seen = 0;
	while (fs->ic.unused > fs->ic.limit && ip != &fs->ic.lru && busy_seen < 32) {
		struct inode *next = ip->lnext;
		bool busy = ip->dirty;
		for (struct page *pg = ip->pages; pg && !busy; pg = pg->inext)
			busy = pg->dirty || pg->writeback;
		if (busy) {
			busy_seen++;
		} else {
			ilru_unlink(fs, ip);
			ihash_unlink(fs, ip);
			inode_release(fs, ip);
		}
		ip = next;
	}
}

static void ilru_add(struct fs *fs, struct inode *ip)
{
	if (ip->lnext)
		return;
	ip->lprev = fs->ic.lru.lprev;
	ip->lnext = &fs->ic.lru;
	fs->ic.lru.lprev->lnext = ip;
	fs->ic.lru.lprev = ip;
	fs->ic.unused++;
}

static struct inode *icache_find(struct fs *fs, uint64_t ino)
{
	for (struct inode *ip = fs->ic.hash[ihash(fs, ino)]; ip; ip = ip->hnext) {
		/* (a number a stray write changed would miss here, and a second
		 * copy of the inode would be read in beside it) */
		guard_inode_number(ip);
		if (ip->ino == ino) {
			guard_inode_use(fs, ip);
			return ip;
		}
	}
	return NULL;
}

static void icache_insert(struct fs *fs, struct inode *ip)
{
	ip->ino_check = ~ip->ino;
	ip->open_check = ~ip->open_count;
	guard_inode_use(fs, ip);
	size_t h = ihash(fs, ip->ino);
	ip->hnext = fs->ic.hash[h];
	fs->ic.hash[h] = ip;
	fs->ic.count++;
}

/* Does ip's map area hold an extent map? Not for an inline symbolic link
 * (format.h), which has no block of data; a link whose long target was
 * being written when it failed is still short, but may own a block, so
 * the block count decides too. */
static bool inode_has_map(const struct fs *fs, const struct inode *ip)
{
	return !ank_link_is_inline(&fs->sb, &ip->d) ||
	       ip->d.blocks != (ip->d.xattr_block ? 1u : 0u);
}

/* Validate an inode image read from the inode table. */
static int dinode_validate(const struct fs *fs, const struct ank_dinode *d, uint64_t ino)
{
	if (d->mode == 0)
		return ANK_CORRUPT("inode: reference to a free inode");
	if (d->checksum != ank_dinode_csum(d))
		return ANK_CORRUPT("inode: checksum mismatch");
	if (d->ino != ino)
		return ANK_CORRUPT("inode: number field does not match its slot");
	uint32_t fmt = d->mode & S_IFMT;
	if (ank_mode_to_ft(d->mode) == ANK_FT_UNKNOWN)
		return ANK_CORRUPT("inode: unsupported file type");
	bool special = fmt == S_IFIFO || fmt == S_IFSOCK || fmt == S_IFCHR || fmt == S_IFBLK;
	/* (a special file's one block may be its extended attributes) */
	if (special && (d->size != 0 || d->blocks != (d->xattr_block ? 1u : 0u)))
		return ANK_CORRUPT("inode: special file with data");
	if (d->xattr_block && (d->xattr_block < fs->sb.data_start ||
			       d->xattr_block >= fs->sb.block_count))
		return ANK_CORRUPT("inode: extended attribute block outside the data region");
	if (fmt != S_IFCHR && fmt != S_IFBLK && (d->rdev_major || d->rdev_minor))
		return ANK_CORRUPT("inode: device numbers on a file that is no device");
	if (fmt == S_IFLNK && (d->size == 0 || d->size >= ANK_SYMLINK_MAX))
		return ANK_CORRUPT("inode: symbolic link target of impossible length");
	if (ank_link_is_inline(&fs->sb, d)) {
		/* the target in the map area: 1..144 bytes, no NUL, zeros after */
		if (ank_link_inline_problem(d))
			return ANK_CORRUPT("inode: inline symbolic link target unreadable");
		return 0; /* (no map to validate) */
	}
	if (d->size > ANK_MAX_FILE_SIZE)
		return ANK_CORRUPT("inode: size beyond the format's limit");
	if (fmt == S_IFDIR && (d->size % ANK_BLOCK_SIZE || d->parent == 0 ||
			       d->parent >= fs->sb.inode_count))
		return ANK_CORRUPT("inode: bad directory size or parent");
	int rc = extent_root_validate((const struct extent_root *)(const void *)&d->eh);
	if (rc < 0)
		return rc;
	return 0;
}

void inode_damage_confirm(struct fs *fs, uint64_t ino)
{
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return;
	int rc = guard_io(bdev_read(fs->dev, ank_inode_block(&fs->sb, ino), 1, blk),
			  "an inode table block");
	struct ank_dinode d;
	memcpy(&d, blk + ank_inode_offset(&fs->sb, ino), sizeof(d));
	free(blk);
	if (rc < 0 || dinode_validate(fs, &d, ino) < 0)
		return; /* the device's copy is damaged too (or unreadable) */
	fprintf(stderr,
		"ananke: inode %llu fails its checks in memory but passes them on the device: "
		"memory corruption; stopping at once (recovery rebuilds what was cached)\n",
		(unsigned long long)ino);
	abort();
}

int inode_get(struct fs *fs, uint64_t ino, struct inode **out)
{
	if (ino == 0 || ino >= fs->sb.inode_count)
		return ANK_CORRUPT("inode number out of range");
	struct inode *ip = icache_find(fs, ino);
	if (ip) {
		if (ip->d.mode == 0)
			return ANK_CORRUPT("inode: reference to a freed inode");
		if (ip->refs++ == 0)
			ilru_unlink(fs, ip);
		*out = ip;
		return 0;
	}
	struct buf *b;
	int rc = buf_get(fs, ank_inode_block(&fs->sb, ino), &b);
	if (rc < 0)
		return rc;
	ip = calloc(1, sizeof(*ip));
	if (!ip) {
		buf_put(fs, b);
		return -ENOMEM;
	}
	const uint8_t *rec = b->data + ank_inode_offset(&fs->sb, ino);
	memcpy(&ip->d, rec, sizeof(ip->d));
	if (ank_has_inode_xattrs(&fs->sb))
		memcpy(ip->xa, rec + ANK_INODE_SIZE, sizeof(ip->xa));
	buf_put(fs, b);
	rc = dinode_validate(fs, &ip->d, ino);
	if (rc < 0) {
		/* (a free inode is no damage of memory: a stale number) */
		if (ip->d.mode != 0)
			inode_damage_confirm(fs, ino);
		free(ip);
		return rc;
	}
	ip->ino = ino;
	ip->refs = 1;
	icache_insert(fs, ip);
	*out = ip;
	return 0;
}

void inode_ref(struct inode *ip)
{
	ip->refs++;
}

void inode_dirty(struct fs *fs, struct inode *ip)
{
	guard_inode_changed(ip);
	ip->dirty = true;
	ip->dirty_tid = fs->j.running_tid;
	if (!ip->on_dirty_list) {
		ip->on_dirty_list = true;
		ip->dnext = fs->ic.dirty;
		fs->ic.dirty = ip;
		fs->ic.ndirty++;
	}
}

void inode_touch(struct inode *ip, bool mtime, bool ctime)
{
	int64_t s;
	uint32_t ns;
	fs_now(&s, &ns);
	if (mtime) {
		ip->d.mtime_sec = s;
		ip->d.mtime_nsec = ns;
	}
	if (ctime) {
		ip->d.ctime_sec = s;
		ip->d.ctime_nsec = ns;
	}
}

/* Give ip a fresh image for its number: mode, owner, times now, empty map,
 * nlink 0, a generation from the per-mount counter that differs from
 * old_gen (0: none). */
static void dinode_fresh(struct fs *fs, struct inode *ip, uint32_t mode, uint32_t uid,
			 uint32_t gid, uint32_t old_gen)
{
	uint32_t gen = fs->next_generation++;
	while (gen == 0 || (old_gen != 0 && gen == old_gen))
		gen = fs->next_generation++;
	memset(&ip->d, 0, sizeof(ip->d));
	memset(ip->xa, 0, sizeof(ip->xa));
	ip->d.mode = mode;
	ip->d.uid = uid;
	ip->d.gid = gid;
	ip->d.ino = ip->ino;
	ip->d.generation = gen;
	extent_root_init(inode_root(ip));
	int64_t s;
	uint32_t ns;
	fs_now(&s, &ns);
	ip->d.atime_sec = ip->d.mtime_sec = ip->d.ctime_sec = s;
	ip->d.atime_nsec = ip->d.mtime_nsec = ip->d.ctime_nsec = ns;
}

/* Put ino's inode table block in the running transaction. When no other
 * inode of the block is in use, the block is not read at all: it is built
 * from zeros (free slots) and written at commit, which saves a synchronous
 * read per 16 creates. */
static int itable_block_join(struct fs *fs, uint64_t ino)
{
	uint64_t tblk = ank_inode_block(&fs->sb, ino);
	struct buf *b;
	int rc = alloc_inode_block_unused(fs, ino) ? buf_get_fresh(fs, tblk, &b)
						   : buf_get(fs, tblk, &b);
	if (rc < 0)
		return rc;
	buf_dirty(fs, b); /* keeps it cached until the commit writes the inode */
	buf_put(fs, b);
	return 0;
}

int inode_create(struct fs *fs, uint32_t mode, uint32_t uid, uint32_t gid, struct inode **out)
{
	uint64_t ino;
	int rc = alloc_inode(fs, &ino);
	if (rc < 0)
		return rc;
	/* Generations come from a per-mount counter started at a random value,
	 * so a reused number gets a new generation without reading its old
	 * slot. */
	rc = itable_block_join(fs, ino);
	if (rc < 0) {
		free_inode_number(fs, ino);
		return rc;
	}
	struct inode *ip = calloc(1, sizeof(*ip));
	if (!ip) {
		free_inode_number(fs, ino);
		return -ENOMEM;
	}
	ip->ino = ino;
	ip->refs = 1;
	dinode_fresh(fs, ip, mode, uid, gid, 0);
	icache_insert(fs, ip);
	inode_dirty(fs, ip);
	*out = ip;
	return 0;
}

struct inode *inode_cached(struct fs *fs, uint64_t ino)
{
	return icache_find(fs, ino);
}

/* inode_create_ino for a number that is allocated on disk: reuse it when it
 * is unlinked and unused (see fs_create_ino in recovery.h). */
static int inode_reuse(struct fs *fs, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
		       struct inode **out)
{
	struct inode *ip = icache_find(fs, ino);
	if (ip) {
		if (ip->d.mode == 0)
			return ANK_CORRUPT("inode: allocated number whose cached inode is free");
		if (ip->d.nlink > 0)
			return -EEXIST;
		if (ip->refs > 0 || inode_opens(ip) > 0 || ip->on_orphan_list)
			return -EBUSY; /* an unlinked file that is still open */
		ilru_unlink(fs, ip);
		ip->refs = 1;
	} else {
		struct buf *b;
		int rc = buf_get(fs, ank_inode_block(&fs->sb, ino), &b);
		if (rc < 0)
			return rc;
		struct ank_dinode d;
		memcpy(&d, b->data + ank_inode_offset(&fs->sb, ino), sizeof(d));
		buf_put(fs, b);
		/* mode 0: the bit is set but the slot was never written; a free
		 * slot owns no blocks. Otherwise the image must be sound, since
		 * its block map is about to be freed. */
		if (d.mode != 0) {
			rc = dinode_validate(fs, &d, ino);
			if (rc < 0)
				return rc;
			if (d.nlink > 0)
				return -EEXIST;
			if (d.next_orphan != 0 || fs->sb.orphan_head == ino)
				return -EBUSY; /* listed as an orphan */
		}
		ip = calloc(1, sizeof(*ip));
		if (!ip)
			return -ENOMEM;
		ip->ino = ino;
		ip->refs = 1;
		ip->d = d;
		icache_insert(fs, ip);
	}
	/* Release what the old image owned: cached pages, the name index and
	 * every block of its map. A corrupt map leaves its blocks allocated
	 * (fsck repairs the leak), as when an inode is freed. */
	file_drop_pages(fs, ip);
	dir_index_free(ip->dix);
	ip->dix = NULL;
	if (ip->d.mode != 0 && inode_has_map(fs, ip)) {
		int64_t delta = 0;
		struct extent_io io;
		fs_extent_io(fs, &io);
		(void)extent_truncate(&io, inode_root(ip), (uint32_t)ip->ino, 0, &delta);
	}
	if (ip->d.mode != 0)
		xattr_release(fs, ip); /* (its attribute block, if any) */
	dinode_fresh(fs, ip, mode, uid, gid, ip->d.generation);
	inode_dirty(fs, ip);
	*out = ip;
	return 0;
}

int inode_create_ino(struct fs *fs, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
		     struct inode **out)
{
	if (ino <= ANK_ROOT_INO || ino >= fs->sb.inode_count)
		return -EINVAL;
	switch (alloc_inode_state(fs, ino)) {
	case INO_PENDING_FREE: return -EBUSY;
	case INO_ALLOCATED: return inode_reuse(fs, ino, mode, uid, gid, out);
	case INO_FREE: break;
	}
	if (icache_find(fs, ino))
		return ANK_CORRUPT("inode: a free inode number is still cached");
	/* Everything that can fail comes before the number is taken. */
	struct inode *ip = calloc(1, sizeof(*ip));
	if (!ip)
		return -ENOMEM;
	int rc = itable_block_join(fs, ino);
	if (rc == 0)
		rc = alloc_inode_exact(fs, ino);
	if (rc < 0) {
		free(ip);
		return rc;
	}
	ip->ino = ino;
	ip->refs = 1;
	dinode_fresh(fs, ip, mode, uid, gid, 0);
	icache_insert(fs, ip);
	inode_dirty(fs, ip);
	*out = ip;
	return 0;
}

void inode_orphan_add(struct fs *fs, struct inode *ip)
{
	if (ip->on_orphan_list)
		return;
	ip->d.next_orphan = fs->sb.orphan_head;
	fs->sb.orphan_head = ip->ino;
	ip->on_orphan_list = true;
	inode_dirty(fs, ip);
	journal_sb_dirty(fs);
}

void inode_orphan_remove(struct fs *fs, struct inode *ip)
{
	if (!ip->on_orphan_list)
		return;
	ip->on_orphan_list = false;
	if (fs->sb.orphan_head == ip->ino) {
		fs->sb.orphan_head = ip->d.next_orphan;
		journal_sb_dirty(fs);
	} else {
		/* Find the predecessor; the list is short (open unlinked files). */
		uint64_t cur = fs->sb.orphan_head;
		for (uint64_t steps = 0; cur && steps < fs->sb.inode_count; steps++) {
			struct inode *pp = icache_find(fs, cur);
			if (!pp)
				break; /* every orphan is pinned in memory by its users */
			if (pp->d.next_orphan == ip->ino) {
				pp->d.next_orphan = ip->d.next_orphan;
				inode_dirty(fs, pp);
				break;
			}
			cur = pp->d.next_orphan;
		}
	}
	ip->d.next_orphan = 0;
	inode_dirty(fs, ip);
}

/* Last link and last user gone: release blocks and the number. */
static void inode_free(struct fs *fs, struct inode *ip)
{
	int64_t delta = 0;
	struct extent_io io;
	file_drop_pages(fs, ip);
	fs_extent_io(fs, &io);
	if (!inode_has_map(fs, ip)) {
		/* (no map: the target is in the inode) */
	} else if (extent_truncate(&io, inode_root(ip), (uint32_t)ip->ino, 0, &delta) < 0) {
		/* A corrupt map: leave its blocks allocated (fsck repairs), but
		 * still free the inode. */
	}
	xattr_release(fs, ip);
	inode_orphan_remove(fs, ip);
	dir_index_free(ip->dix);
	ip->dix = NULL;
	uint32_t gen = ip->d.generation;
	memset(&ip->d, 0, sizeof(ip->d));
	memset(ip->xa, 0, sizeof(ip->xa));
	ip->d.generation = gen; /* kept so the next user of the number bumps it */
	free_inode_number(fs, ip->ino);
	inode_dirty(fs, ip);
}

void inode_put(struct fs *fs, struct inode *ip)
{
	if (!ip)
		return;
	if (--ip->refs > 0)
		return;
	guard_inode_use(fs, ip);
	if (ip->d.mode == 0) {
		/* Freed: forget it once its zeroed image is written. */
		if (!ip->on_dirty_list) {
			ihash_unlink(fs, ip);
			inode_release(fs, ip);
		}
		return;
	}
	if (ip->d.nlink == 0 && inode_opens(ip) == 0) {
		/* Freed in the same transaction as the last unlink or close, so
		 * no committed state has an unreferenced, unlisted inode. */
		inode_free(fs, ip);
		return;
	}
	if (ip->dirty)
		return; /* inode_flush_dirty puts it on the LRU once written */
	ilru_add(fs, ip);
	icache_shrink(fs);
}

int inode_flush_dirty(struct fs *fs)
{
	int err = 0;
	struct inode *ip = fs->ic.dirty;
	/* As long as its count says, and no longer: an inode a stray write
	 * into a link dropped from the list would be committed without its
	 * change (a size, a link count), and the calls behind it lost at the
	 * next crash. */
	size_t n = fs->ic.ndirty, seen = 0;
	fs->ic.dirty = NULL;
	fs->ic.ndirty = 0;
	while (ip) {
		if (seen++ == n || !ip->on_dirty_list)
			guard_fail("list of dirty inodes", seen, n);
		struct inode *next = ip->dnext;
		ip->dnext = NULL;
		ip->on_dirty_list = false;
		guard_inode_use(fs, ip); /* checked before it is committed */
		struct buf *b;
		int rc = buf_get(fs, ank_inode_block(&fs->sb, ip->ino), &b);
		if (rc == 0) {
			if (ip->d.mode != 0) {
				ip->d.checksum = 0;
				ip->d.checksum = ank_dinode_csum(&ip->d);
				/* An image the next read would refuse (a flip in its
				 * number, type or extent root while an operation
				 * held it) must not become durable. */
				if (dinode_validate(fs, &ip->d, ip->ino) < 0)
					guard_fail("inode image, invalid before its commit", ip->ino,
						   ip->d.ino);
			}
			guard_inode_changed(ip); /* (its checksum field) */
			uint8_t *rec = b->data + ank_inode_offset(&fs->sb, ip->ino);
			memcpy(rec, &ip->d, sizeof(ip->d));
			if (ank_has_inode_xattrs(&fs->sb))
				memcpy(rec + ANK_INODE_SIZE, ip->xa, sizeof(ip->xa));
			buf_dirty(fs, b);
			buf_put(fs, b);
			ip->dirty = false;
		} else {
			err = err ? err : rc;
		}
		if (ip->refs == 0 && ip->d.mode == 0 && !ip->dirty) {
			ihash_unlink(fs, ip);
			inode_release(fs, ip);
		} else if (ip->refs == 0 && !ip->dirty) {
			ilru_add(fs, ip);
		}
		ip = next;
	}
	if (seen != n)
		guard_fail("list of dirty inodes", seen, n);
	icache_shrink(fs);
	return err;
}

/* keep_orphans: pin every listed inode instead of freeing it. A relinked
 * one is unlisted; an unreadable one cuts the list there (fsck reports the
 * rest). The predecessors of every listed inode stay cached, which
 * inode_orphan_remove relies on. */
static int pin_orphans(struct fs *fs)
{
	struct inode *prev = NULL;
	uint64_t cur = fs->sb.orphan_head;
	for (uint64_t steps = 0; cur; steps++) {
		struct inode *ip = NULL;
		int rc = steps >= fs->sb.inode_count ? ANK_CORRUPT("orphan list has a cycle")
						     : inode_get(fs, cur, &ip);
		if (rc == 0 && ip->on_orphan_list) {
			inode_put(fs, ip);
			rc = ANK_CORRUPT("orphan list has a cycle");
		}
		if (rc < 0) {
			if (prev) {
				prev->d.next_orphan = 0;
				inode_dirty(fs, prev);
			} else {
				fs->sb.orphan_head = 0;
				journal_sb_dirty(fs);
			}
			return rc;
		}
		uint64_t next = ip->d.next_orphan;
		ip->on_orphan_list = true;
		if (ip->d.nlink != 0) {
			inode_orphan_remove(fs, ip); /* linked again before the crash */
			inode_put(fs, ip);
		} else {
			ip->orphan_pinned = true; /* the reference is kept */
			prev = ip;
		}
		cur = next;
	}
	return 0;
}

int inode_process_orphans(struct fs *fs)
{
	if (fs->opt.keep_orphans)
		return pin_orphans(fs);
	uint64_t steps = 0;
	while (fs->sb.orphan_head) {
		if (++steps > fs->sb.inode_count)
			return ANK_CORRUPT("orphan list has a cycle");
		struct inode *ip;
		uint64_t ino = fs->sb.orphan_head;
		int rc = inode_get(fs, ino, &ip);
		if (rc < 0) {
			/* Unreadable orphan: drop the list rather than fail the
			 * mount; fsck reports the leaked inode. */
			fs->sb.orphan_head = 0;
			journal_sb_dirty(fs);
			return rc;
		}
		ip->on_orphan_list = true;
		if (ip->d.nlink != 0) {
			/* Linked again before the crash: just unlist it. */
			inode_orphan_remove(fs, ip);
		}
		inode_put(fs, ip); /* nlink 0, no users: freed, unlisted */
		if (fs->sb.orphan_head == ino)
			return ANK_CORRUPT("orphan list head did not advance");
	}
	return 0;
}

void inode_release_orphans(struct fs *fs)
{
	uint64_t cur = fs->sb.orphan_head;
	for (uint64_t steps = 0; cur && steps < fs->sb.inode_count; steps++) {
		/* Every listed inode is cached: pinned, or held by its users. */
		struct inode *ip = icache_find(fs, cur);
		if (!ip)
			break;
		uint64_t next = ip->d.next_orphan;
		if (ip->orphan_pinned) {
			ip->orphan_pinned = false;
			inode_put(fs, ip); /* frees it unless it was opened since */
		}
		cur = next;
	}
}

/* ---- extent I/O bound to the buffer cache and allocator ------------------ */

static int xio_get(void *ctx, uint64_t pblk, void **data, void **handle)
{
	struct fs *fs = ctx;
	struct buf *b;
	if (pblk < fs->sb.data_start || pblk >= fs->sb.block_count)
		return ANK_CORRUPT("extent node outside the data region");
	int rc = buf_get(fs, pblk, &b);
	if (rc < 0)
		return rc;
	*data = b->data;
	*handle = b;
	return 0;
}

static int xio_new(void *ctx, uint64_t pblk, void **data, void **handle)
{
	struct buf *b;
	int rc = buf_new(ctx, pblk, &b);
	if (rc < 0)
		return rc;
	*data = b->data;
	*handle = b;
	return 0;
}

static void xio_dirty(void *ctx, void *handle)
{
	buf_dirty(ctx, handle);
}

static void xio_put(void *ctx, void *handle)
{
	buf_put(ctx, handle);
}

static int xio_alloc(void *ctx, uint64_t goal, uint32_t want, uint64_t *pblk, uint32_t *got)
{
	return alloc_blocks(ctx, goal, want, pblk, got);
}

static void xio_free(void *ctx, uint64_t pblk, uint32_t n)
{
	free_blocks(ctx, pblk, n);
}

const struct extent_io fs_extent_io_template = {
	.ctx = NULL,
	.node_get = xio_get,
	.node_new = xio_new,
	.node_dirty = xio_dirty,
	.node_put = xio_put,
	.alloc = xio_alloc,
	.free = xio_free,
};

void fs_extent_io(struct fs *fs, struct extent_io *io)
{
	*io = fs_extent_io_template;
	io->ctx = fs;
}
