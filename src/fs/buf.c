/*
 * buf.c - the metadata block cache: superblock, bitmaps, inode table blocks,
 * directory blocks and extent nodes, keyed by block number.
 *
 * A buffer is pinned while referenced, dirty while it belongs to the running
 * transaction (the journal copies and cleans it at commit), and otherwise
 * sits on an LRU list from which it is evicted past the cache bound. A miss
 * reads the newest committed image of the block if the journal still holds
 * one that is not yet written home; otherwise it reads the disk.
 *
 * It does not write anything itself: only the journal writes metadata.
 * All functions are called with fs->lock held.
 */
#include <stdlib.h>

#include "fs_internal.h"

static size_t buf_hash(const struct bufcache *bc, uint64_t blk)
{
	return (size_t)((blk * 0x9E3779B97F4A7C15ull) >> 20) & (bc->nhash - 1);
}

int buf_init(struct fs *fs, size_t limit)
{
	struct bufcache *bc = &fs->bc;
	bc->limit = limit ? limit : 4096;
	bc->nhash = 1;
	while (bc->nhash < bc->limit * 2)
		bc->nhash <<= 1;
	bc->hash = calloc(bc->nhash, sizeof(*bc->hash));
	if (!bc->hash)
		return -ENOMEM;
	bc->lru.lnext = bc->lru.lprev = &bc->lru;
	return 0;
}

static void lru_unlink(struct buf *b)
{
	if (b->lnext) {
		b->lnext->lprev = b->lprev;
		b->lprev->lnext = b->lnext;
		b->lnext = b->lprev = NULL;
	}
}

static void lru_append(struct bufcache *bc, struct buf *b)
{
	b->lprev = bc->lru.lprev;
	b->lnext = &bc->lru;
	bc->lru.lprev->lnext = b;
	bc->lru.lprev = b;
}

static void hash_unlink(struct bufcache *bc, struct buf *b)
{
	struct buf **pp = &bc->hash[buf_hash(bc, b->blk)];
	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
}

static void buf_free_one(struct buf *b)
{
	free(b->data);
	free(b);
}

void buf_destroy(struct fs *fs)
{
	struct bufcache *bc = &fs->bc;
	if (!bc->hash)
		return;
	for (size_t i = 0; i < bc->nhash; i++) {
		struct buf *b = bc->hash[i];
		while (b) {
			struct buf *n = b->hnext;
			buf_free_one(b);
			b = n;
		}
	}
	free(bc->hash);
	bc->hash = NULL;
}

static struct buf *buf_find(struct bufcache *bc, uint64_t blk)
{
	for (struct buf *b = bc->hash[buf_hash(bc, blk)]; b; b = b->hnext) {
		/* A buffer whose number a stray write changed would be missed
		 * (its block read again from the disk, stale) or taken for
		 * another: caught here, by the lookups of its own chain. */
		if (__builtin_expect(b->blk_check != ~b->blk, 0))
			guard_fail("metadata block number", b->blk, ~b->blk_check);
		if (b->blk == blk)
			return b;
	}
	return NULL;
}

/* Evict unpinned clean buffers until the cache is within its bound. */
static void buf_shrink(struct bufcache *bc)
{
	while (bc->count > bc->limit && bc->lru.lnext != &bc->lru) {
		struct buf *b = bc->lru.lnext;
		lru_unlink(b);
		hash_unlink(bc, b);
		bc->count--;
		buf_free_one(b);
	}
}

static int buf_insert(struct fs *fs, uint64_t blk, bool read, struct buf **out)
{
	struct bufcache *bc = &fs->bc;
	if (blk >= fs->sb.block_count)
		return ANK_CORRUPT("metadata block number beyond the volume");
	struct buf *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->data = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!b->data) {
		free(b);
		return -ENOMEM;
	}
	b->blk = blk;
	b->blk_check = ~blk;
	if (read) {
		const uint8_t *img = journal_ckpt_image(fs, blk);
		if (img) {
			memcpy(b->data, img, ANK_BLOCK_SIZE);
		} else {
			int rc = guard_io(bdev_read(fs->dev, blk, 1, b->data), "a metadata block");
			if (rc < 0) {
				buf_free_one(b);
				return rc;
			}
		}
	} else {
		memset(b->data, 0, ANK_BLOCK_SIZE);
	}
	size_t h = buf_hash(bc, blk);
	b->hnext = bc->hash[h];
	bc->hash[h] = b;
	bc->count++;
	b->refs = 1;
	buf_shrink(bc);
	*out = b;
	return 0;
}

#define PREFETCH_MAX 1024u

int buf_prefetch(struct fs *fs, const uint64_t *start, const uint64_t *n, unsigned nranges)
{
	/* (bounded: what does not fit is read later, as without this) */
	uint64_t total = 0;
	for (unsigned r = 0; r < nranges; r++)
		total += n[r];
	total = ANK_MIN(total, (uint64_t)PREFETCH_MAX);
	if (total == 0)
		return 0;
	struct buf **bs = calloc(total, sizeof(*bs));
	struct bdev_io *ios = calloc(total, sizeof(*ios));
	int rc = bs && ios ? 0 : -ENOMEM;
	size_t k = 0;
	for (unsigned r = 0; rc == 0 && r < nranges; r++)
		for (uint64_t blk = start[r]; rc == 0 && k < total && blk < start[r] + n[r]; blk++) {
			if (blk >= fs->sb.block_count || buf_find(&fs->bc, blk) ||
			    journal_ckpt_image(fs, blk))
				continue;
			rc = buf_insert(fs, blk, false, &bs[k]);
			if (rc == 0) {
				ios[k] = (struct bdev_io){BDEV_READ, blk, 1, bs[k]->data, 0};
				k++;
			}
		}
	if (k)
		(void)bdev_submit(fs->dev, ios, (unsigned)k);
	for (size_t i = 0; i < k; i++) {
		buf_put(fs, bs[i]); /* sealed, on the LRU */
		if (ios[i].res < 0) {
			buf_forget(fs, ios[i].blk); /* (buf_get reads it again, and says why) */
			if (rc == 0)
				rc = ios[i].res;
		}
	}
	free(bs);
	free(ios);
	return rc;
}

/* A buffer nobody holds was sealed by its last user: it must still match. */
static void buf_check_unused(const struct buf *b)
{
	if (b->refs == 0 && !b->pinned_forever)
		guard_check("metadata block", b->blk, 0, b->csum, b->sealed, b->data,
			    guard_place(b->blk, 0, 0, b->data));
}

void buf_seal(struct buf *b)
{
	guard_seal(&b->csum, &b->sealed, b->data, guard_place(b->blk, 0, 0, b->data));
}

int buf_get(struct fs *fs, uint64_t blk, struct buf **out)
{
	struct buf *b = buf_find(&fs->bc, blk);
	if (b) {
		buf_check_unused(b);
		if (b->refs++ == 0)
			lru_unlink(b);
		*out = b;
		return 0;
	}
	return buf_insert(fs, blk, true, out);
}

int buf_new(struct fs *fs, uint64_t blk, struct buf **out)
{
	struct buf *b = buf_find(&fs->bc, blk);
	if (b) {
		if (b->refs++ == 0)
			lru_unlink(b);
		memset(b->data, 0, ANK_BLOCK_SIZE);
		*out = b;
		return 0;
	}
	return buf_insert(fs, blk, false, out);
}

int buf_get_fresh(struct fs *fs, uint64_t blk, struct buf **out)
{
	struct buf *b = buf_find(&fs->bc, blk);
	if (b) {
		buf_check_unused(b);
		if (b->refs++ == 0)
			lru_unlink(b);
		*out = b;
		return 0;
	}
	return buf_insert(fs, blk, false, out);
}

void buf_dirty(struct fs *fs, struct buf *b)
{
	if (b->dirty)
		return;
	b->dirty = true;
	b->dnext = fs->bc.dirty;
	fs->bc.dirty = b;
	fs->bc.ndirty++;
}

void buf_put(struct fs *fs, struct buf *b)
{
	if (b->refs == 1 && !b->pinned_forever)
		buf_seal(b); /* the last user's change */
	if (--b->refs == 0 && !b->dirty && !b->pinned_forever) {
		lru_append(&fs->bc, b);
		buf_shrink(&fs->bc);
	}
}

void buf_forget(struct fs *fs, uint64_t blk)
{
	struct bufcache *bc = &fs->bc;
	struct buf *b = buf_find(bc, blk);
	if (!b || b->refs || b->pinned_forever)
		return;
	if (b->dirty) {
		struct buf **pp = &bc->dirty;
		while (*pp && *pp != b)
			pp = &(*pp)->dnext;
		if (*pp)
			*pp = b->dnext;
		bc->ndirty--;
	}
	lru_unlink(b);
	hash_unlink(bc, b);
	bc->count--;
	buf_free_one(b);
}

void buf_check(const struct buf *b)
{
	if (b->refs == 0 || b->pinned_forever)
		guard_check("metadata block", b->blk, 0, b->csum, b->sealed, b->data,
			    guard_place(b->blk, 0, 0, b->data));
}

void buf_clean(struct fs *fs, struct buf *b)
{
	b->dirty = false;
	if (b->refs == 0 && !b->pinned_forever)
		lru_append(&fs->bc, b);
}
