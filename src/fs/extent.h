/*
 * extent.h - a file's block map: a B+tree of extents rooted in the inode.
 *
 * The tree maps logical blocks (uint32) to physical blocks. Leaves hold
 * struct ank_extent runs; index nodes hold struct ank_extent_index. The root
 * (header + ANK_EXTENT_ROOT_ENTRIES entries) lives inside the inode; deeper
 * nodes are whole blocks (ANK_EXTENT_NODE_ENTRIES entries) with a checksum in
 * their header. All nodes of a tree have the depth their position implies;
 * entries in a node are sorted by lblk and never overlap.
 *
 * The module does no I/O and no allocation of its own: it reaches node
 * blocks and the block allocator through struct extent_io, so it can be used
 * by the file system (buffer cache + journal) and tested alone.
 *
 * Every node read from disk is validated (magic, depth, entries <= max,
 * sorted, checksum, owner) before use; a bad node gives -EUCLEAN (reported
 * with ANK_CORRUPT) and the tree is left unchanged.
 *
 * Thread-safety: none; the caller serialises access to one inode's tree.
 */
#ifndef ANK_EXTENT_H
#define ANK_EXTENT_H

#include <stdint.h>

#include "format.h"

/* The root as it sits in the inode (struct ank_dinode bytes 96..239). */
struct extent_root {
	struct ank_extent_header eh;
	struct ank_extent e[ANK_EXTENT_ROOT_ENTRIES];
};
_Static_assert(sizeof(struct extent_root) == 144, "root matches the inode field");

struct extent_io {
	void *ctx;
	/* Pin node block `pblk`, reading it if needed; *data is its 4096 bytes,
	 * *handle is passed back to dirty/put. Returns 0 or -errno. */
	int (*node_get)(void *ctx, uint64_t pblk, void **data, void **handle);
	/* Pin a freshly allocated block without reading it; *data is zeroed. */
	int (*node_new)(void *ctx, uint64_t pblk, void **data, void **handle);
	/* The node's content changed (after its checksum was updated): it must
	 * be written with the running transaction. */
	void (*node_dirty)(void *ctx, void *handle);
	void (*node_put)(void *ctx, void *handle);
	/* Allocate between 1 and `want` contiguous blocks, preferably at `goal`.
	 * Returns 0 with *pblk, *got set, or -ENOSPC. */
	int (*alloc)(void *ctx, uint64_t goal, uint32_t want, uint64_t *pblk, uint32_t *got);
	/* Free `n` blocks starting at `pblk`. */
	void (*free)(void *ctx, uint64_t pblk, uint32_t n);
};

/* Initialise an empty root (depth 0, no entries). */
void extent_root_init(struct extent_root *root);

/* Check a root taken from an inode read from disk: magic, max, entries,
 * depth, sorted entries. 0 or -EUCLEAN. */
int extent_root_validate(const struct extent_root *root);

/* Find the mapping of `lblk`. When mapped: returns 1, *pblk is its physical
 * block and *len the number of blocks from lblk that stay contiguous in the
 * same extent. When a hole: returns 0, *pblk = 0 and *len = number of blocks
 * until the next mapped block (UINT32_MAX - lblk when none follows; at least
 * 1). Negative errno on error. */
int extent_lookup(const struct extent_io *io, const struct extent_root *root, uint32_t ino,
		  uint32_t lblk, uint64_t *pblk, uint32_t *len);

/* Map [lblk, lblk+len) to [pblk, pblk+len). The range must currently be a
 * hole (-EEXIST otherwise). Merges with adjacent extents when contiguous on
 * both sides, splits nodes and grows the tree as needed (node blocks come
 * from io->alloc near `pblk`). *blocks_delta is increased by the number of
 * node blocks allocated (the data blocks are the caller's). On error the
 * tree is unchanged or still consistent. */
int extent_insert(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		  uint32_t lblk, uint64_t pblk, uint32_t len, int64_t *blocks_delta);

/* Unmap every block at or after `from`, freeing the data blocks through
 * io->free and the node blocks that become empty; the tree shrinks back
 * into the root when it can. *blocks_delta is decreased by every block
 * freed (data and nodes). */
int extent_truncate(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		    uint32_t from, int64_t *blocks_delta);

/* Unmap every block of [from, to), freeing the data blocks through
 * io->free (node blocks emptied too); extents that stick out on either side
 * are cut (one cut in the middle of an extent inserts its tail as an
 * extent of its own, which may need a node block: -ENOSPC then, with the
 * blocks before it already unmapped). *blocks_delta as extent_truncate. */
int extent_punch(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		 uint32_t from, uint32_t to, int64_t *blocks_delta);

/* Call fn for every leaf extent in lblk order, and node_fn (may be NULL) for
 * every node block with its depth. Stops at the first nonzero return of a
 * callback and returns it. */
int extent_walk(const struct extent_io *io, const struct extent_root *root, uint32_t ino,
		int (*fn)(void *arg, const struct ank_extent *ext),
		int (*node_fn)(void *arg, uint64_t pblk, unsigned depth), void *arg);

#endif
