/*
 * alloc.c - allocation of blocks and inode numbers.
 *
 * Two views of each bitmap exist. The on-disk view lives in pinned buffers
 * and is journaled like any metadata. The allocatable view is an in-memory
 * bitmap equal to the on-disk view plus the blocks freed since the last
 * checkpoint: a block freed by transaction T is reused only after T has been
 * checkpointed, so neither a crash before T commits nor a replay of an older
 * transaction's image of that block can ever clobber its new contents (the
 * problem jbd2 solves with revoke records).
 *
 * It does not decide placement beyond a next-fit goal near the caller's hint.
 * Called with fs->lock held.
 */
#include <stdlib.h>

#include "fs_internal.h"

#define BITS_PER_BLOCK (ANK_BLOCK_SIZE * 8u)

static inline bool bit_test(const uint8_t *m, uint64_t i)
{
	return m[i >> 3] & (1u << (i & 7));
}
static inline void bit_set(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static inline void bit_clear(uint8_t *m, uint64_t i)
{
	m[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

/* Load a bitmap region into pinned buffers and into the allocatable view. */
static int load_bitmap(struct fs *fs, uint64_t start, uint64_t nblocks, uint64_t nbits,
		       struct buf ***bufs_out, uint8_t **map_out, uint64_t *free_out)
{
	struct buf **bufs = calloc(nblocks, sizeof(*bufs));
	uint8_t *map = malloc(nblocks * ANK_BLOCK_SIZE);
	if (!bufs || !map) {
		free(bufs);
		free(map);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < nblocks; i++) {
		int rc = buf_get(fs, start + i, &bufs[i]);
		if (rc < 0) {
			for (uint64_t k = 0; k < i; k++) {
				bufs[k]->pinned_forever = false;
				buf_put(fs, bufs[k]);
			}
			free(bufs);
			free(map);
			return rc;
		}
		bufs[i]->pinned_forever = true;
		buf_seal(bufs[i]);
		memcpy(map + i * ANK_BLOCK_SIZE, bufs[i]->data, ANK_BLOCK_SIZE);
	}
	/* Bits past the end can never be handed out. */
	for (uint64_t b = nbits; b < nblocks * BITS_PER_BLOCK; b++)
		bit_set(map, b);
	uint64_t used = 0;
	for (uint64_t i = 0; i < nblocks * ANK_BLOCK_SIZE; i++)
		used += (uint64_t)__builtin_popcount(map[i]);
	*free_out = nblocks * BITS_PER_BLOCK - used;
	*bufs_out = bufs;
	*map_out = map;
	return 0;
}

int alloc_init(struct fs *fs)
{
	struct alloc *al = &fs->al;
	const struct ank_super *sb = &fs->sb;
	int rc = load_bitmap(fs, sb->bbitmap_start, sb->bbitmap_blocks, sb->block_count,
			     &al->bbufs, &al->bmap, &al->free_blocks);
	if (rc < 0)
		return rc;
	rc = load_bitmap(fs, sb->ibitmap_start, sb->ibitmap_blocks, sb->inode_count, &al->ibufs,
			 &al->imap, &al->free_inodes);
	if (rc < 0)
		return rc;
	/* Never hand out metadata blocks, inode 0 or the root, whatever the
	 * bitmap says (fsck reports such a bitmap). */
	for (uint64_t b = 0; b < sb->data_start; b++)
		if (!bit_test(al->bmap, b)) {
			bit_set(al->bmap, b);
			al->free_blocks--;
		}
	for (uint64_t i = 0; i <= ANK_ROOT_INO; i++)
		if (!bit_test(al->imap, i)) {
			bit_set(al->imap, i);
			al->free_inodes--;
		}
	al->block_goal = sb->data_start;
	al->inode_goal = ANK_ROOT_INO + 1;
	return 0;
}

static void unpin_all(struct fs *fs, struct buf **bufs, uint64_t n)
{
	if (!bufs)
		return;
	for (uint64_t i = 0; i < n; i++) {
		bufs[i]->pinned_forever = false;
		buf_put(fs, bufs[i]);
	}
	free(bufs);
}

void alloc_destroy(struct fs *fs)
{
	struct alloc *al = &fs->al;
	unpin_all(fs, al->bbufs, fs->sb.bbitmap_blocks);
	unpin_all(fs, al->ibufs, fs->sb.ibitmap_blocks);
	free(al->bmap);
	free(al->imap);
	free(al->pend);
	memset(al, 0, sizeof(*al));
}

/* Set or clear bit `i` of an on-disk bitmap and put its block in the
 * transaction. */
static void disk_bit(struct fs *fs, struct buf **bufs, uint64_t i, bool set)
{
	struct buf *b = bufs[i / BITS_PER_BLOCK];
	uint64_t off = i % BITS_PER_BLOCK;
	buf_check(b);
	/* The allocatable view said free, so the disk must too; and what is
	 * freed must have been allocated. Otherwise one of the two views is
	 * corrupt, and going on would hand out a block or inode twice. */
	if (bit_test(b->data, off) == set)
		guard_fail(set ? "bitmap (allocating a used bit)" : "bitmap (freeing a free bit)",
			   b->blk, off);
	if (set)
		bit_set(b->data, off);
	else
		bit_clear(b->data, off);
	buf_seal(b);
	buf_dirty(fs, b);
}

/* First clear bit of map in [from, to), or `to`. Skips full bytes and words. */
static uint64_t find_zero(const uint8_t *map, uint64_t from, uint64_t to)
{
	uint64_t i = from;
	while (i < to && (i & 63)) {
		if (!bit_test(map, i))
			return i;
		i++;
	}
	while (i + 64 <= to) {
		uint64_t w;
		memcpy(&w, map + (i >> 3), 8);
		if (w != ~0ull)
			return i + (uint64_t)__builtin_ctzll(~w);
		i += 64;
	}
	while (i < to) {
		if (!bit_test(map, i))
			return i;
		i++;
	}
	return to;
}

int alloc_blocks(struct fs *fs, uint64_t goal, uint32_t want, uint64_t *start, uint32_t *got)
{
	struct alloc *al = &fs->al;
	uint64_t n = fs->sb.block_count;
	if (want == 0)
		want = 1;
	if (al->free_blocks == 0)
		return -ENOSPC;
	if (goal < fs->sb.data_start || goal >= n)
		goal = al->block_goal;
	uint64_t b = find_zero(al->bmap, goal, n);
	if (b >= n)
		b = find_zero(al->bmap, fs->sb.data_start, goal);
	if (b >= n || b >= goal + n) /* defensive; free count said there is one */
		return -ENOSPC;
	uint32_t len = 0;
	while (len < want && b + len < n && !bit_test(al->bmap, b + len)) {
		bit_set(al->bmap, b + len);
		disk_bit(fs, al->bbufs, b + len, true);
		len++;
	}
	al->free_blocks -= len;
	al->block_goal = b + len < n ? b + len : fs->sb.data_start;
	*start = b;
	*got = len;
	return 0;
}

static int add_pending(struct fs *fs, uint64_t start, uint32_t n, bool is_inode)
{
	struct alloc *al = &fs->al;
	uint64_t tid = fs->j.running_tid;
	if (al->npend) {
		struct pending_free *last = &al->pend[al->npend - 1];
		if (last->is_inode == is_inode && last->tid == tid && last->start + last->n == start &&
		    last->n + (uint64_t)n <= UINT32_MAX) {
			last->n += n;
			return 0;
		}
	}
	if (al->npend == al->cappend) {
		size_t cap = al->cappend ? al->cappend * 2 : 256;
		struct pending_free *p = realloc(al->pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		al->pend = p;
		al->cappend = cap;
	}
	al->pend[al->npend++] = (struct pending_free){start, n, is_inode, tid};
	return 0;
}

void free_blocks(struct fs *fs, uint64_t start, uint32_t n)
{
	struct alloc *al = &fs->al;
	if (start < fs->sb.data_start || start + n > fs->sb.block_count || n == 0) {
		ANK_CORRUPT("freeing blocks outside the data region");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		disk_bit(fs, al->bbufs, start + i, false);
		buf_forget(fs, start + i);
	}
	if (add_pending(fs, start, n, false) < 0) {
		/* Out of memory for the pending list: keep the blocks
		 * unallocatable until the next mount (leak in memory only;
		 * the on-disk bitmap is correct). */
	}
}

int alloc_inode(struct fs *fs, uint64_t *ino)
{
	struct alloc *al = &fs->al;
	uint64_t n = fs->sb.inode_count;
	if (al->free_inodes == 0)
		return -ENOSPC;
	uint64_t i = find_zero(al->imap, al->inode_goal, n);
	if (i >= n)
		i = find_zero(al->imap, ANK_ROOT_INO + 1, n);
	if (i >= n)
		return -ENOSPC;
	bit_set(al->imap, i);
	disk_bit(fs, al->ibufs, i, true);
	al->free_inodes--;
	al->inode_goal = i + 1;
	*ino = i;
	return 0;
}

enum alloc_inode_state alloc_inode_state(struct fs *fs, uint64_t ino)
{
	struct alloc *al = &fs->al;
	if (!bit_test(al->imap, ino))
		return INO_FREE;
	const struct buf *b = al->ibufs[ino / BITS_PER_BLOCK];
	buf_check(b);
	/* Not allocatable yet clear on disk: freed, waiting for a checkpoint
	 * (the allocatable view is the on-disk view plus pending frees). */
	return bit_test(b->data, ino % BITS_PER_BLOCK) ? INO_ALLOCATED : INO_PENDING_FREE;
}

int alloc_inode_exact(struct fs *fs, uint64_t ino)
{
	struct alloc *al = &fs->al;
	if (ino <= ANK_ROOT_INO || ino >= fs->sb.inode_count)
		return -EINVAL;
	switch (alloc_inode_state(fs, ino)) {
	case INO_PENDING_FREE: return -EBUSY;
	case INO_ALLOCATED: return -EEXIST;
	case INO_FREE: break;
	}
	bit_set(al->imap, ino);
	disk_bit(fs, al->ibufs, ino, true);
	al->free_inodes--;
	return 0;
}

void free_inode_number(struct fs *fs, uint64_t ino)
{
	if (ino <= ANK_ROOT_INO || ino >= fs->sb.inode_count)
		return;
	disk_bit(fs, fs->al.ibufs, ino, false);
	(void)add_pending(fs, ino, 1, true);
	if (fs->ndamaged)
		fs_clear_damaged(fs, ino);
}

void alloc_release_pending(struct fs *fs, uint64_t tid)
{
	struct alloc *al = &fs->al;
	size_t keep = 0;
	for (size_t i = 0; i < al->npend; i++) {
		struct pending_free *p = &al->pend[i];
		if (p->tid > tid) {
			al->pend[keep++] = *p;
			continue;
		}
		uint8_t *map = p->is_inode ? al->imap : al->bmap;
		for (uint64_t k = 0; k < p->n; k++)
			bit_clear(map, p->start + k);
		if (p->is_inode) {
			al->free_inodes += p->n;
			if (p->start < al->inode_goal)
				al->inode_goal = p->start;
		} else {
			al->free_blocks += p->n;
		}
	}
	al->npend = keep;
}

bool alloc_has_pending(struct fs *fs)
{
	return fs->al.npend != 0;
}

bool alloc_inode_block_unused(struct fs *fs, uint64_t ino)
{
	const uint32_t per = ank_inodes_per_block(&fs->sb);
	uint64_t first = ino - ino % per;
	for (uint64_t i = first; i < first + per; i++)
		if (i != ino && (i < fs->sb.inode_count ? bit_test(fs->al.imap, i) : false))
			return false;
	return true;
}
