/*
 * extent.c - a file's block map as a B+tree of extents (see extent.h):
 * lookup, insert (merging contiguous runs, splitting full nodes, growing the
 * tree in depth through the root), truncate (freeing data and node blocks,
 * collapsing the tree back into the root) and in-order walk. Every node block
 * is validated when it is read.
 *
 * Invariants kept on top of the format's (and checked on every node read):
 *  - the key of an index entry is the lblk of the first extent of its
 *    subtree, so the length of a hole up to the next mapped block is known
 *    from the keys on the path without reading other nodes;
 *  - block nodes are never empty and an index root has at least one entry;
 *  - no extent reaches past logical block UINT32_MAX - 1.
 *
 * Insertion of one extent allocates and pins every node block it may need
 * before it changes anything, so it either fails with the tree untouched or
 * succeeds; a run longer than ANK_EXTENT_MAX_LEN is inserted as several
 * extents and the ones already inserted are removed again if a later one
 * fails. Truncation works leaf by leaf from the end; each step leaves a
 * consistent tree.
 *
 * Not here: I/O, caching, journaling and the allocation policy (all behind
 * struct extent_io); merging a new extent with
 * a contiguous neighbour that is the first extent of the next leaf (the two
 * stay separate extents). No recursion: paths are arrays of at most
 * ANK_EXTENT_MAX_DEPTH + 1 levels.
 */
#include "extent.h"

#include <stdbool.h>
#include <string.h>

#include "../util/common.h"

/* Exclusive end of the mappable logical range. */
#define LBLK_END ((uint64_t)UINT32_MAX)
#define MAX_LEVELS (ANK_EXTENT_MAX_DEPTH + 1)
#define ENT_SIZE 16u

_Static_assert(sizeof(struct ank_extent) == ENT_SIZE, "entry size");
_Static_assert(sizeof(struct ank_extent_index) == ENT_SIZE, "entry size");
_Static_assert(offsetof(struct extent_root, e) == sizeof(struct ank_extent_header),
	       "root entries follow the header");

/* One level of a path from the root down to a leaf. Level 0 is the root. */
struct level {
	struct ank_extent_header *eh;
	void *handle;  /* NULL for the root (it lives in the inode) */
	uint64_t pblk; /* 0 for the root */
	uint64_t hi;   /* exclusive end of the lblk range this node covers */
	int pos;       /* index levels: entry followed; leaf: last extent <= lblk, or -1 */
	bool dirty;    /* modified: checksum and node_dirty on release */
	bool dead;     /* emptied and unlinked: put and free on release */
};

struct path {
	unsigned depth; /* depth of the root when the path was built */
	struct level lv[MAX_LEVELS];
};

/* A node block allocated and pinned ahead of an insertion. */
struct new_node {
	struct ank_extent_header *eh;
	void *handle;
	uint64_t pblk;
};

/* ---- entry access ----------------------------------------------------------
 * Leaf entries are read as struct ank_extent. Index entries and entries of
 * either kind moved in bulk go through memcpy, because the root's storage is
 * declared as an array of struct ank_extent. */

static unsigned char *ent_ptr(struct ank_extent_header *eh, unsigned i)
{
	return (unsigned char *)eh + sizeof(*eh) + (size_t)i * ENT_SIZE;
}

static const unsigned char *ent_cptr(const struct ank_extent_header *eh, unsigned i)
{
	return (const unsigned char *)eh + sizeof(*eh) + (size_t)i * ENT_SIZE;
}

static struct ank_extent *leaf_ents(struct ank_extent_header *eh)
{
	return (struct ank_extent *)(void *)ent_ptr(eh, 0);
}

static const struct ank_extent *leaf_cents(const struct ank_extent_header *eh)
{
	return (const struct ank_extent *)(const void *)ent_cptr(eh, 0);
}

/* lblk of entry i, leaf or index (both start with a uint32 lblk). */
static uint32_t ent_lblk(const struct ank_extent_header *eh, unsigned i)
{
	uint32_t v;
	memcpy(&v, ent_cptr(eh, i), sizeof(v));
	return v;
}

static void idx_get(const struct ank_extent_header *eh, unsigned i, struct ank_extent_index *ix)
{
	memcpy(ix, ent_cptr(eh, i), ENT_SIZE);
}

static void idx_set(struct ank_extent_header *eh, unsigned i, const struct ank_extent_index *ix)
{
	memcpy(ent_ptr(eh, i), ix, ENT_SIZE);
}

/* Insert the 16-byte entry `ent` at position q of a node with room. */
static void ent_insert(struct ank_extent_header *eh, unsigned q, const void *ent)
{
	unsigned n = eh->entries;
	memmove(ent_ptr(eh, q + 1), ent_ptr(eh, q), (size_t)(n - q) * ENT_SIZE);
	memcpy(ent_ptr(eh, q), ent, ENT_SIZE);
	eh->entries = (uint16_t)(n + 1);
}

/* Remove `cnt` entries at position i, clearing the slots left at the end. */
static void ent_remove(struct ank_extent_header *eh, unsigned i, unsigned cnt)
{
	unsigned n = eh->entries;
	memmove(ent_ptr(eh, i), ent_ptr(eh, i + cnt), (size_t)(n - i - cnt) * ENT_SIZE);
	memset(ent_ptr(eh, n - cnt), 0, (size_t)cnt * ENT_SIZE);
	eh->entries = (uint16_t)(n - cnt);
}

/* Last entry whose lblk is <= lblk, or -1 when every entry starts after it. */
static int ent_search(const struct ank_extent_header *eh, uint32_t lblk)
{
	int lo = 0, hi = (int)eh->entries - 1, found = -1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (ent_lblk(eh, (unsigned)mid) <= lblk) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* End of the range covered by entry i of an index node whose range ends at hi. */
static uint64_t idx_end(const struct ank_extent_header *eh, unsigned i, uint64_t hi)
{
	return i + 1u < eh->entries ? ent_lblk(eh, i + 1) : hi;
}

/* ---- validation ---------------------------------------------------------- */

#define BAD(is_root, what) \
	ANK_CORRUPT((is_root) ? "extent root: " what : "extent node: " what)

/*
 * Check the header fields and entries of a node (root or block): capacity
 * `max`, expected depth, every entry inside [lo, hi), sorted, non-overlapping,
 * no zero length, block or child. A block node's first entry must start
 * exactly at lo, the key its parent holds for it.
 */
static int node_check(const struct ank_extent_header *eh, bool is_root, unsigned max,
		      unsigned depth, uint64_t lo, uint64_t hi)
{
	unsigned n = eh->entries;
	if (eh->magic != ANK_EXTENT_MAGIC)
		return BAD(is_root, "bad magic");
	if (eh->max != max)
		return BAD(is_root, "bad capacity");
	if (n > max)
		return BAD(is_root, "more entries than capacity");
	if (eh->depth != depth)
		return BAD(is_root, "wrong depth");
	if (n == 0 && (!is_root || depth > 0))
		return BAD(is_root, "empty node");
	if (!is_root && ent_lblk(eh, 0) != lo)
		return BAD(is_root, "first key differs from the parent's key");
	uint64_t prev_end = lo;
	if (depth == 0) {
		const struct ank_extent *e = leaf_cents(eh);
		for (unsigned i = 0; i < n; i++) {
			if (e[i].len == 0 || e[i].len > ANK_EXTENT_MAX_LEN)
				return BAD(is_root, "extent length out of range");
			if (e[i].pblk == 0 || e[i].pblk > UINT64_MAX - e[i].len)
				return BAD(is_root, "extent block out of range");
			if (e[i].lblk < prev_end)
				return BAD(is_root, "extents unsorted or overlapping");
			prev_end = (uint64_t)e[i].lblk + e[i].len;
			if (prev_end > hi)
				return BAD(is_root, "extent outside the node's range");
		}
	} else {
		for (unsigned i = 0; i < n; i++) {
			struct ank_extent_index ix;
			idx_get(eh, i, &ix);
			if (ix.child == 0 || ix.reserved != 0)
				return BAD(is_root, "bad index entry");
			if (ix.lblk < prev_end)
				return BAD(is_root, "index keys unsorted");
			if (ix.lblk >= hi)
				return BAD(is_root, "index key outside the node's range");
			prev_end = (uint64_t)ix.lblk + 1;
		}
	}
	return 0;
}

void extent_root_init(struct extent_root *root)
{
	memset(root, 0, sizeof(*root));
	root->eh.magic = ANK_EXTENT_MAGIC;
	root->eh.max = ANK_EXTENT_ROOT_ENTRIES;
}

int extent_root_validate(const struct extent_root *root)
{
	const struct ank_extent_header *eh = &root->eh;
	if (eh->depth > ANK_EXTENT_MAX_DEPTH)
		return ANK_CORRUPT("extent root: depth too large");
	if (eh->owner_ino != 0 || eh->checksum != 0)
		return ANK_CORRUPT("extent root: owner or checksum set");
	return node_check(eh, true, ANK_EXTENT_ROOT_ENTRIES, eh->depth, 0, LBLK_END);
}

/* Pin and validate node block `pblk`, expected at `depth` and covering
 * [lo, hi). On success the node is pinned in *lv. */
static int node_read(const struct extent_io *io, uint32_t ino, uint64_t pblk, unsigned depth,
		     uint64_t lo, uint64_t hi, struct level *lv)
{
	void *data, *handle;
	int rc = io->node_get(io->ctx, pblk, &data, &handle);
	if (rc < 0)
		return rc;
	struct ank_extent_header *eh = data;
	if (eh->magic != ANK_EXTENT_MAGIC)
		rc = ANK_CORRUPT("extent node: bad magic");
	else if (eh->checksum != ank_extent_node_csum(data))
		rc = ANK_CORRUPT("extent node: checksum mismatch");
	else if (eh->owner_ino != ino)
		rc = ANK_CORRUPT("extent node: belongs to another inode");
	else
		rc = node_check(eh, false, ANK_EXTENT_NODE_ENTRIES, depth, lo, hi);
	if (rc < 0) {
		io->node_put(io->ctx, handle);
		return rc;
	}
	*lv = (struct level){.eh = eh, .handle = handle, .pblk = pblk, .hi = hi, .pos = 0};
	return 0;
}

static void node_seal(struct ank_extent_header *eh)
{
	eh->checksum = ank_extent_node_csum(eh);
}

/* ---- paths --------------------------------------------------------------- */

static void path_init_root(struct path *p, struct extent_root *root)
{
	p->depth = root->eh.depth;
	p->lv[0] = (struct level){.eh = &root->eh, .hi = LBLK_END, .pos = 0};
}

/*
 * Pin the nodes from the root down to the leaf that holds (or would hold)
 * lblk; with `last`, follow the last entry at every level instead. The
 * leaf's pos is the last extent starting at or before lblk (or its last
 * extent with `last`), -1 if none.
 */
static int path_find(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		     uint32_t lblk, bool last, struct path *p)
{
	path_init_root(p, root);
	for (unsigned l = 0; l < p->depth; l++) {
		struct level *lv = &p->lv[l];
		int pos = last ? (int)lv->eh->entries - 1 : ent_search(lv->eh, lblk);
		if (pos < 0)
			pos = 0;
		lv->pos = pos;
		struct ank_extent_index ix;
		idx_get(lv->eh, (unsigned)pos, &ix);
		int rc = node_read(io, ino, ix.child, p->depth - l - 1, ix.lblk,
				   idx_end(lv->eh, (unsigned)pos, lv->hi), &p->lv[l + 1]);
		if (rc < 0) {
			for (unsigned k = l; k >= 1; k--)
				io->node_put(io->ctx, p->lv[k].handle);
			return rc;
		}
	}
	struct level *leaf = &p->lv[p->depth];
	leaf->pos = last ? (int)leaf->eh->entries - 1 : ent_search(leaf->eh, lblk);
	return 0;
}

/* Unpin every node of the path. With `commit`, modified nodes get their
 * checksum and are marked dirty, and nodes emptied and unlinked from the tree
 * are freed (counted in *blocks_delta). */
static void path_release(const struct extent_io *io, struct path *p, bool commit,
			 int64_t *blocks_delta)
{
	for (unsigned l = p->depth; l >= 1; l--) {
		struct level *lv = &p->lv[l];
		if (!lv->handle)
			continue;
		if (commit && lv->dead) {
			io->node_put(io->ctx, lv->handle);
			io->free(io->ctx, lv->pblk, 1);
			(*blocks_delta)--;
		} else {
			if (commit && lv->dirty) {
				node_seal(lv->eh);
				io->node_dirty(io->ctx, lv->handle);
			}
			io->node_put(io->ctx, lv->handle);
		}
		lv->handle = NULL;
	}
}

/* The first extent under the path's leaf now starts at `lblk`, before the
 * keys that lead to it: lower them. Only entries at position 0 can be
 * affected, all the way up while the path keeps going through position 0. */
static void path_lower_keys(struct path *p, unsigned from_level, uint32_t lblk)
{
	for (unsigned l = from_level; l-- > 0;) {
		struct level *lv = &p->lv[l];
		struct ank_extent_index ix;
		idx_get(lv->eh, (unsigned)lv->pos, &ix);
		if (ix.lblk <= lblk)
			break;
		ix.lblk = lblk;
		idx_set(lv->eh, (unsigned)lv->pos, &ix);
		lv->dirty = true;
	}
}

/* The node at level l now starts at `first`: the keys that lead to it
 * follow (a non-root node's first key equals its parent's), up through
 * every level where the path goes through position 0. */
static void path_set_first_key(struct path *p, unsigned l, uint32_t first)
{
	for (unsigned k = l; k-- > 0;) {
		struct level *up = &p->lv[k];
		struct ank_extent_index ix;
		idx_get(up->eh, (unsigned)up->pos, &ix);
		ix.lblk = first;
		idx_set(up->eh, (unsigned)up->pos, &ix);
		up->dirty = true;
		if (up->pos != 0)
			break;
	}
}

/*
 * Remove `cnt` entries at position i of the node at level l. A block node
 * left empty is marked dead and its entry is removed from its parent, and so
 * on up; an emptied root becomes an empty leaf. When a node's first entry
 * changed, the keys above it follow.
 */
static void path_remove(struct extent_root *root, struct path *p, unsigned l, unsigned i,
			unsigned cnt)
{
	for (;;) {
		struct level *lv = &p->lv[l];
		ent_remove(lv->eh, i, cnt);
		lv->dirty = true;
		if (lv->eh->entries == 0) {
			if (l == 0) {
				root->eh.depth = 0;
				return;
			}
			lv->dead = true;
			i = (unsigned)p->lv[l - 1].pos;
			cnt = 1;
			l--;
			continue;
		}
		if (i == 0)
			path_set_first_key(p, l, ent_lblk(lv->eh, 0));
		return;
	}
}

/* ---- lookup -------------------------------------------------------------- */

int extent_lookup(const struct extent_io *io, const struct extent_root *root, uint32_t ino,
		  uint32_t lblk, uint64_t *pblk, uint32_t *len)
{
	int rc = extent_root_validate(root);
	if (rc < 0)
		return rc;
	const struct ank_extent_header *eh = &root->eh;
	void *handle = NULL;
	uint64_t hi = LBLK_END;
	uint64_t next = LBLK_END; /* first mapped block after lblk when in a hole */
	*pblk = 0;
	*len = 0;
	for (unsigned depth = eh->depth;; depth--) {
		int pos = ent_search(eh, lblk);
		if (depth == 0) {
			const struct ank_extent *e = leaf_cents(eh);
			if (pos >= 0 && lblk < (uint64_t)e[pos].lblk + e[pos].len) {
				*pblk = e[pos].pblk + (lblk - e[pos].lblk);
				*len = (uint32_t)((uint64_t)e[pos].lblk + e[pos].len - lblk);
				rc = 1;
				break;
			}
			next = pos + 1 < (int)eh->entries ? e[pos + 1].lblk : hi;
			rc = 0;
			break;
		}
		if (pos < 0) {
			/* Before the first key: the subtree's first extent starts there. */
			next = ent_lblk(eh, 0);
			rc = 0;
			break;
		}
		struct ank_extent_index ix;
		struct level lv;
		idx_get(eh, (unsigned)pos, &ix);
		hi = idx_end(eh, (unsigned)pos, hi);
		rc = node_read(io, ino, ix.child, depth - 1, ix.lblk, hi, &lv);
		if (handle)
			io->node_put(io->ctx, handle);
		handle = NULL;
		if (rc < 0)
			return rc;
		handle = lv.handle;
		eh = lv.eh;
	}
	if (handle)
		io->node_put(io->ctx, handle);
	if (rc == 0)
		*len = next > lblk ? (uint32_t)(next - lblk) : 1;
	return rc;
}

/* ---- insert -------------------------------------------------------------- */

/* Release nodes allocated ahead of an insertion that did not happen. */
static void new_nodes_drop(const struct extent_io *io, struct new_node *nn, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (nn[i].handle)
			io->node_put(io->ctx, nn[i].handle);
		io->free(io->ctx, nn[i].pblk, 1);
	}
}

/* The root is full: move its entries into the block node `nw`, insert `ent`
 * there at q, and make the root an index with the single entry for `nw`. */
static void root_grow(struct extent_root *root, struct new_node *nw, unsigned q, const void *ent)
{
	struct ank_extent_header *reh = &root->eh;
	unsigned n = reh->entries;
	nw->eh->depth = reh->depth;
	memcpy(ent_ptr(nw->eh, 0), ent_ptr(reh, 0), (size_t)n * ENT_SIZE);
	nw->eh->entries = (uint16_t)n;
	ent_insert(nw->eh, q, ent);
	memset(ent_ptr(reh, 0), 0, sizeof(root->e));
	struct ank_extent_index ix = {.lblk = ent_lblk(nw->eh, 0), .reserved = 0, .child = nw->pblk};
	idx_set(reh, 0, &ix);
	reh->entries = 1;
	reh->depth = (uint16_t)(reh->depth + 1);
}

/*
 * Split the full block node at level `lv`, moving its entries from s on into
 * the empty node `nw`, and insert `ent` at q. An insertion past the last entry
 * of the rightmost node, or one continuing the last extent (a file written
 * front to back), moves nothing: the old node stays full and the new one
 * starts with the new entry. Otherwise the node is cut in the middle.
 */
static void node_split(struct level *lv, struct new_node *nw, unsigned q, const void *ent,
		       bool sequential)
{
	struct ank_extent_header *eh = lv->eh;
	unsigned n = eh->entries;
	bool append = q == n && (lv->hi == LBLK_END || sequential);
	unsigned s = append ? n : n / 2;
	nw->eh->depth = eh->depth;
	memcpy(ent_ptr(nw->eh, 0), ent_ptr(eh, s), (size_t)(n - s) * ENT_SIZE);
	nw->eh->entries = (uint16_t)(n - s);
	memset(ent_ptr(eh, s), 0, (size_t)(n - s) * ENT_SIZE);
	eh->entries = (uint16_t)s;
	if (append)
		ent_insert(nw->eh, 0, ent);
	else if (q <= s)
		ent_insert(eh, q, ent);
	else
		ent_insert(nw->eh, q - s, ent);
	lv->dirty = true;
}

/* Insert one extent (len <= ANK_EXTENT_MAX_LEN). All or nothing. */
static int insert_one(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		      uint32_t lblk, uint64_t pblk, uint32_t len, int64_t *blocks_delta)
{
	struct path p;
	struct new_node nn[MAX_LEVELS];
	unsigned need = 0, nalloc = 0, used = 0;
	int rc = path_find(io, root, ino, lblk, false, &p);
	if (rc < 0)
		return rc;
	unsigned depth = p.depth;
	struct level *leaf = &p.lv[depth];
	struct ank_extent *e = leaf_ents(leaf->eh);
	int n = leaf->eh->entries;
	int pos = leaf->pos;
	uint64_t end = (uint64_t)lblk + len;
	uint64_t next = pos + 1 < n ? e[pos + 1].lblk : leaf->hi;
	if ((pos >= 0 && (uint64_t)e[pos].lblk + e[pos].len > lblk) || end > next) {
		rc = -EEXIST;
		goto out_put;
	}

	/* Contiguous with a neighbour in this leaf: extend it. */
	bool mleft = pos >= 0 && (uint64_t)e[pos].lblk + e[pos].len == lblk &&
		     e[pos].pblk + e[pos].len == pblk && e[pos].len + len <= ANK_EXTENT_MAX_LEN;
	bool mright = pos + 1 < n && e[pos + 1].lblk == end && pblk + len == e[pos + 1].pblk &&
		      e[pos + 1].len + len <= ANK_EXTENT_MAX_LEN;
	if (mleft && mright && e[pos].len + len + e[pos + 1].len <= ANK_EXTENT_MAX_LEN) {
		e[pos].len += len + e[pos + 1].len;
		ent_remove(leaf->eh, (unsigned)pos + 1, 1);
		leaf->dirty = true;
		goto out_commit;
	}
	if (mleft) {
		e[pos].len += len;
		leaf->dirty = true;
		goto out_commit;
	}
	if (mright) {
		e[pos + 1].lblk = lblk;
		e[pos + 1].pblk = pblk;
		e[pos + 1].len += len;
		leaf->dirty = true;
		if (pos + 1 == 0)
			path_lower_keys(&p, depth, lblk);
		goto out_commit;
	}

	/* A new entry. Every full node from the leaf up splits; a full root
	 * grows the tree by one level. Get all the blocks first. */
	for (unsigned l = depth + 1; l-- > 0;) {
		if (p.lv[l].eh->entries < p.lv[l].eh->max)
			break;
		need++;
		if (l == 0 && depth + 1 > ANK_EXTENT_MAX_DEPTH) {
			rc = -EFBIG;
			goto out_put;
		}
	}
	for (nalloc = 0; nalloc < need;) {
		uint64_t b = 0;
		uint32_t got = 0;
		rc = io->alloc(io->ctx, pblk, 1, &b, &got);
		if (rc < 0)
			goto out_drop;
		if (got == 0 || b == 0) {
			rc = -EIO;
			goto out_drop;
		}
		if (got > 1)
			io->free(io->ctx, b + 1, got - 1);
		nn[nalloc] = (struct new_node){.pblk = b};
		nalloc++;
		void *data;
		rc = io->node_new(io->ctx, b, &data, &nn[nalloc - 1].handle);
		if (rc < 0) {
			nn[nalloc - 1].handle = NULL;
			goto out_drop;
		}
		struct ank_extent_header *eh = data;
		memset(data, 0, ANK_BLOCK_SIZE);
		eh->magic = ANK_EXTENT_MAGIC;
		eh->max = ANK_EXTENT_NODE_ENTRIES;
		eh->owner_ino = ino;
		nn[nalloc - 1].eh = eh;
	}

	/* From here on nothing can fail. */
	bool sequential = pos >= 0 && (uint64_t)e[pos].lblk + e[pos].len == lblk;
	if (pos < 0)
		path_lower_keys(&p, depth, lblk);
	struct ank_extent ne = {.lblk = lblk, .len = len, .pblk = pblk};
	unsigned char ent[ENT_SIZE];
	memcpy(ent, &ne, ENT_SIZE);
	unsigned q = (unsigned)(pos + 1);
	for (unsigned l = depth;; l--) {
		struct level *lv = &p.lv[l];
		if (lv->eh->entries < lv->eh->max) {
			ent_insert(lv->eh, q, ent);
			lv->dirty = true;
			break;
		}
		struct new_node *nw = &nn[used++];
		if (l == 0) {
			root_grow(root, nw, q, ent);
			break;
		}
		node_split(lv, nw, q, ent, sequential);
		struct ank_extent_index ix = {
			.lblk = ent_lblk(nw->eh, 0), .reserved = 0, .child = nw->pblk};
		memcpy(ent, &ix, ENT_SIZE);
		q = (unsigned)p.lv[l - 1].pos + 1;
	}
	for (unsigned i = 0; i < nalloc; i++) {
		node_seal(nn[i].eh);
		io->node_dirty(io->ctx, nn[i].handle);
		io->node_put(io->ctx, nn[i].handle);
	}
	*blocks_delta += nalloc;
out_commit:
	path_release(io, &p, true, blocks_delta);
	return 0;

out_drop:
	new_nodes_drop(io, nn, nalloc);
out_put:
	path_release(io, &p, false, blocks_delta);
	return rc;
}

/* Remove the extent exactly [lblk, lblk+len) (one just inserted). */
static int remove_extent(const struct extent_io *io, struct extent_root *root, uint32_t ino,
			 uint32_t lblk, uint32_t len, int64_t *blocks_delta)
{
	struct path p;
	int rc = path_find(io, root, ino, lblk, false, &p);
	if (rc < 0)
		return rc;
	struct level *leaf = &p.lv[p.depth];
	const struct ank_extent *e = leaf_ents(leaf->eh);
	if (leaf->pos < 0 || e[leaf->pos].lblk != lblk || e[leaf->pos].len != len) {
		path_release(io, &p, false, blocks_delta);
		return ANK_CORRUPT("extent tree: inserted extent vanished");
	}
	path_remove(root, &p, p.depth, (unsigned)leaf->pos, 1);
	path_release(io, &p, true, blocks_delta);
	return 0;
}

static int collapse(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		    int64_t *blocks_delta);

int extent_insert(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		  uint32_t lblk, uint64_t pblk, uint32_t len, int64_t *blocks_delta)
{
	if (len == 0 || pblk == 0 || pblk > UINT64_MAX - len)
		return -EINVAL;
	if ((uint64_t)lblk + len > LBLK_END)
		return -EFBIG;
	int rc = extent_root_validate(root);
	if (rc < 0)
		return rc;
	if (len <= ANK_EXTENT_MAX_LEN)
		return insert_one(io, root, ino, lblk, pblk, len, blocks_delta);

	/* A long run: check the whole range is a hole, then insert it in
	 * pieces. Pieces but the last are full length, so none of them merges
	 * with anything and each can be taken out again exactly. */
	uint64_t p0;
	uint32_t hole;
	rc = extent_lookup(io, root, ino, lblk, &p0, &hole);
	if (rc < 0)
		return rc;
	if (rc == 1 || hole < len)
		return -EEXIST;
	uint32_t done = 0;
	while (done < len) {
		uint32_t n = ANK_MIN(len - done, ANK_EXTENT_MAX_LEN);
		rc = insert_one(io, root, ino, lblk + done, pblk + done, n, blocks_delta);
		if (rc < 0)
			break;
		done += n;
	}
	if (rc == 0)
		return 0;
	while (done > 0) {
		done -= ANK_EXTENT_MAX_LEN;
		if (remove_extent(io, root, ino, lblk + done, ANK_EXTENT_MAX_LEN, blocks_delta) < 0)
			return rc;
	}
	collapse(io, root, ino, blocks_delta);
	return rc;
}

/* ---- walk ---------------------------------------------------------------- */

/*
 * In-order traversal of the subtrees that hold blocks at or after `from`
 * (all of the tree for from = 0), validating every node. fn gets each
 * extent of the leaves visited, node_fn each node block; either may be NULL.
 */
static int walk_from(const struct extent_io *io, const struct extent_root *root, uint32_t ino,
		     uint32_t from, int (*fn)(void *arg, const struct ank_extent *ext),
		     int (*node_fn)(void *arg, uint64_t pblk, unsigned depth), void *arg)
{
	struct path p;
	int rc = extent_root_validate(root);
	if (rc < 0)
		return rc;
	/* The walk only reads; the cast lets it share the path code. */
	path_init_root(&p, (struct extent_root *)(uintptr_t)root);
	unsigned l = 0;
	int pos0 = ent_search(p.lv[0].eh, from);
	p.lv[0].pos = pos0 < 0 ? 0 : pos0;
	for (;;) {
		struct level *lv = &p.lv[l];
		unsigned depth = p.depth - l;
		if (depth == 0) {
			const struct ank_extent *e = leaf_cents(lv->eh);
			for (unsigned i = 0; fn && i < lv->eh->entries; i++) {
				rc = fn(arg, &e[i]);
				if (rc)
					goto out;
			}
		} else if ((unsigned)lv->pos < lv->eh->entries) {
			struct ank_extent_index ix;
			unsigned i = (unsigned)lv->pos++;
			idx_get(lv->eh, i, &ix);
			rc = node_read(io, ino, ix.child, depth - 1, ix.lblk,
				       idx_end(lv->eh, i, lv->hi), &p.lv[l + 1]);
			if (rc < 0)
				goto out;
			l++;
			int pos = ent_search(p.lv[l].eh, from);
			p.lv[l].pos = pos < 0 ? 0 : pos;
			if (node_fn) {
				rc = node_fn(arg, ix.child, depth - 1);
				if (rc)
					goto out;
			}
			continue;
		}
		if (l == 0)
			break;
		io->node_put(io->ctx, lv->handle);
		l--;
	}
	return 0;
out:
	for (; l >= 1; l--)
		io->node_put(io->ctx, p.lv[l].handle);
	return rc;
}

int extent_walk(const struct extent_io *io, const struct extent_root *root, uint32_t ino,
		int (*fn)(void *arg, const struct ank_extent *ext),
		int (*node_fn)(void *arg, uint64_t pblk, unsigned depth), void *arg)
{
	return walk_from(io, root, ino, 0, fn, node_fn, arg);
}

/* ---- truncate ------------------------------------------------------------ */

/* While the children of the root fit in the root together, pull them up. */
static int collapse(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		    int64_t *blocks_delta)
{
	while (root->eh.depth > 0) {
		struct ank_extent_header *reh = &root->eh;
		unsigned n = reh->entries, total = 0, got;
		struct level kids[ANK_EXTENT_ROOT_ENTRIES];
		int rc = 0;
		for (got = 0; got < n; got++) {
			struct ank_extent_index ix;
			idx_get(reh, got, &ix);
			rc = node_read(io, ino, ix.child, reh->depth - 1u, ix.lblk,
				       idx_end(reh, got, LBLK_END), &kids[got]);
			if (rc < 0)
				break;
			total += kids[got].eh->entries;
			if (total > ANK_EXTENT_ROOT_ENTRIES) {
				got++;
				break;
			}
		}
		if (rc < 0 || total > ANK_EXTENT_ROOT_ENTRIES) {
			for (unsigned i = 0; i < got; i++)
				io->node_put(io->ctx, kids[i].handle);
			return rc;
		}
		unsigned char buf[sizeof(root->e)];
		memset(buf, 0, sizeof(buf));
		unsigned off = 0;
		for (unsigned i = 0; i < n; i++) {
			unsigned k = kids[i].eh->entries;
			memcpy(buf + (size_t)off * ENT_SIZE, ent_ptr(kids[i].eh, 0), (size_t)k * ENT_SIZE);
			off += k;
		}
		memcpy(ent_ptr(reh, 0), buf, sizeof(buf));
		reh->entries = (uint16_t)total;
		reh->depth = (uint16_t)(reh->depth - 1);
		for (unsigned i = 0; i < n; i++) {
			io->node_put(io->ctx, kids[i].handle);
			io->free(io->ctx, kids[i].pblk, 1);
			(*blocks_delta)--;
		}
	}
	return 0;
}

/* Unmap [lblk, lblk + len), which lies inside one extent, and free its
 * blocks. Cutting the middle out of an extent inserts its tail as a new
 * extent; when that needs a node and none can be had, nothing changes. */
static int punch_one(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		     uint32_t lblk, uint32_t len, int64_t *blocks_delta)
{
	struct path p;
	int rc = path_find(io, root, ino, lblk, false, &p);
	if (rc < 0)
		return rc;
	struct level *leaf = &p.lv[p.depth];
	struct ank_extent *e = leaf_ents(leaf->eh);
	int pos = leaf->pos;
	if (pos < 0 || e[pos].lblk > lblk ||
	    (uint64_t)lblk + len > (uint64_t)e[pos].lblk + e[pos].len) {
		path_release(io, &p, false, blocks_delta);
		return ANK_CORRUPT("extent tree: the range to punch is not inside one extent");
	}
	struct ank_extent x = e[pos];
	uint64_t pb = x.pblk + (lblk - x.lblk);
	uint32_t front = lblk - x.lblk;
	uint32_t back = (uint32_t)((uint64_t)x.lblk + x.len - lblk - len);
	if (front == 0 && back == 0) {
		path_remove(root, &p, p.depth, (unsigned)pos, 1);
	} else if (front == 0) {
		e[pos].lblk += len;
		e[pos].pblk += len;
		e[pos].len -= len;
		leaf->dirty = true;
		if (pos == 0)
			path_set_first_key(&p, p.depth, e[0].lblk);
	} else {
		e[pos].len = front;
		leaf->dirty = true;
	}
	path_release(io, &p, true, blocks_delta);
	if (front > 0 && back > 0) {
		rc = insert_one(io, root, ino, lblk + len, pb + len, back, blocks_delta);
		if (rc < 0) {
			/* give the extent its length back: the tree is as before */
			if (path_find(io, root, ino, lblk, false, &p) == 0) {
				leaf = &p.lv[p.depth];
				e = leaf_ents(leaf->eh);
				if (leaf->pos >= 0 && e[leaf->pos].lblk == x.lblk) {
					e[leaf->pos].len = x.len;
					leaf->dirty = true;
				}
				path_release(io, &p, true, blocks_delta);
			}
			return rc;
		}
	}
	io->free(io->ctx, pb, len);
	*blocks_delta -= len;
	return 0;
}

int extent_punch(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		 uint32_t from, uint32_t to, int64_t *blocks_delta)
{
	int rc = extent_root_validate(root);
	if (rc < 0)
		return rc;
	uint64_t cur = from;
	bool changed = false;
	while (cur < to) {
		uint64_t pblk;
		uint32_t run;
		rc = extent_lookup(io, root, ino, (uint32_t)cur, &pblk, &run);
		if (rc < 0)
			break;
		uint32_t n = (uint32_t)ANK_MIN((uint64_t)run, (uint64_t)to - cur);
		if (rc == 1) {
			rc = punch_one(io, root, ino, (uint32_t)cur, n, blocks_delta);
			if (rc < 0)
				break;
			changed = true;
		}
		rc = 0;
		cur += n;
	}
	if (changed) {
		int c = collapse(io, root, ino, blocks_delta);
		if (rc == 0)
			rc = c;
	}
	return rc;
}

int extent_truncate(const struct extent_io *io, struct extent_root *root, uint32_t ino,
		    uint32_t from, int64_t *blocks_delta)
{
	/* Read and check every node that will be touched before touching any. */
	int rc = walk_from(io, root, ino, from, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	bool changed = false;
	for (;;) {
		struct path p;
		rc = path_find(io, root, ino, 0, true, &p);
		if (rc < 0)
			return rc;
		struct level *leaf = &p.lv[p.depth];
		struct ank_extent *e = leaf_ents(leaf->eh);
		unsigned n = leaf->eh->entries, k = n;
		while (k > 0 && e[k - 1].lblk >= from)
			k--;
		for (unsigned i = k; i < n; i++) {
			io->free(io->ctx, e[i].pblk, e[i].len);
			*blocks_delta -= e[i].len;
		}
		if (k > 0 && (uint64_t)e[k - 1].lblk + e[k - 1].len > from) {
			uint32_t keep = from - e[k - 1].lblk;
			io->free(io->ctx, e[k - 1].pblk + keep, e[k - 1].len - keep);
			*blocks_delta -= e[k - 1].len - keep;
			e[k - 1].len = keep;
			leaf->dirty = true;
		}
		if (k < n) {
			path_remove(root, &p, p.depth, k, n - k);
			changed = true;
		}
		/* Done once the last leaf keeps something (everything before it
		 * is before `from`) or the tree is empty. */
		bool done = k > 0 || p.depth == 0;
		path_release(io, &p, true, blocks_delta);
		if (done)
			break;
	}
	return changed ? collapse(io, root, ino, blocks_delta) : 0;
}
