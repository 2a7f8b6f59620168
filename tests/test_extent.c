/*
 * test_extent.c - unit tests of the extent B+tree (src/fs/extent.c) over an
 * in-memory struct extent_io: node blocks live in a mock with a simple
 * allocator that counts pins, node blocks and data blocks, and can be told
 * to fail allocations or reads. An independent checker walks the tree's
 * blocks directly and verifies every invariant. It does not test the file
 * system's binding of extent_io to the buffer cache and journal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../src/fs/extent.h"
#include "../src/util/common.h"
#include "../src/util/crc32c.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BS ANK_BLOCK_SIZE
#define MAXLEN ANK_EXTENT_MAX_LEN

/* Node blocks are handed out from [NODE_FIRST, NODE_LIMIT); data blocks
 * mapped by the tests come from [DATA_FIRST, DATA_FIRST + DATA_COUNT). */
#define NODE_FIRST 1u
#define NODE_LIMIT 65536u
#define DATA_FIRST (1ull << 20)
#define DATA_COUNT (1ull << 22)

/* ---- mock extent_io ------------------------------------------------------ */

struct mock {
	unsigned char *node[NODE_LIMIT]; /* NULL = free node block */
	int pins[NODE_LIMIT];
	uint64_t nodes_used;
	uint64_t cursor;
	uint8_t *data_map; /* bit per data block */
	uint64_t data_used;
	long pins_out;
	long alloc_budget; /* allocations that succeed before -ENOSPC; -1 = no limit */
	long new_budget;   /* node_new calls that succeed before -ENOMEM */
	long get_budget;   /* node_get calls that succeed before -EIO */
	unsigned long gets, dirties, allocs, bad_gets;
};

static int m_get(void *ctx, uint64_t pblk, void **data, void **handle)
{
	struct mock *m = ctx;
	if (m->get_budget == 0)
		return -EIO;
	if (m->get_budget > 0)
		m->get_budget--;
	if (pblk < NODE_FIRST || pblk >= NODE_LIMIT || !m->node[pblk]) {
		m->bad_gets++;
		return -EIO;
	}
	m->pins[pblk]++;
	m->pins_out++;
	m->gets++;
	*data = m->node[pblk];
	*handle = (void *)(uintptr_t)pblk;
	return 0;
}

static int m_new(void *ctx, uint64_t pblk, void **data, void **handle)
{
	struct mock *m = ctx;
	if (m->new_budget == 0)
		return -ENOMEM;
	if (m->new_budget > 0)
		m->new_budget--;
	assert_true(pblk >= NODE_FIRST && pblk < NODE_LIMIT);
	assert_non_null(m->node[pblk]);
	assert_int_equal(m->pins[pblk], 0);
	memset(m->node[pblk], 0, BS);
	m->pins[pblk]++;
	m->pins_out++;
	*data = m->node[pblk];
	*handle = (void *)(uintptr_t)pblk;
	return 0;
}

static void m_dirty(void *ctx, void *handle)
{
	struct mock *m = ctx;
	uint64_t pblk = (uintptr_t)handle;
	assert_true(pblk >= NODE_FIRST && pblk < NODE_LIMIT);
	assert_true(m->pins[pblk] > 0);
	const struct ank_extent_header *eh = (const void *)m->node[pblk];
	/* The checksum must be current when a node is handed to the journal. */
	assert_int_equal(eh->checksum, ank_extent_node_csum(m->node[pblk]));
	m->dirties++;
}

static void m_put(void *ctx, void *handle)
{
	struct mock *m = ctx;
	uint64_t pblk = (uintptr_t)handle;
	assert_true(pblk >= NODE_FIRST && pblk < NODE_LIMIT);
	assert_true(m->pins[pblk] > 0);
	m->pins[pblk]--;
	m->pins_out--;
}

static int m_alloc(void *ctx, uint64_t goal, uint32_t want, uint64_t *pblk, uint32_t *got)
{
	struct mock *m = ctx;
	(void)goal;
	assert_true(want >= 1);
	if (m->alloc_budget == 0)
		return -ENOSPC;
	if (m->alloc_budget > 0)
		m->alloc_budget--;
	for (uint64_t i = 0; i < NODE_LIMIT - NODE_FIRST; i++) {
		uint64_t b = NODE_FIRST + (m->cursor + i) % (NODE_LIMIT - NODE_FIRST);
		if (!m->node[b]) {
			m->node[b] = calloc(1, BS);
			assert_non_null(m->node[b]);
			m->cursor = b + 1 - NODE_FIRST;
			m->nodes_used++;
			m->allocs++;
			*pblk = b;
			*got = 1;
			return 0;
		}
	}
	return -ENOSPC;
}

static bool data_bit(const struct mock *m, uint64_t b)
{
	uint64_t i = b - DATA_FIRST;
	return m->data_map[i / 8] & (1u << (i % 8));
}

static void data_set(struct mock *m, uint64_t b, bool on)
{
	uint64_t i = b - DATA_FIRST;
	if (on)
		m->data_map[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		m->data_map[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static void m_free(void *ctx, uint64_t pblk, uint32_t n)
{
	struct mock *m = ctx;
	assert_true(n >= 1);
	if (pblk >= NODE_FIRST && pblk < NODE_LIMIT) {
		assert_int_equal(n, 1);
		assert_non_null(m->node[pblk]);
		assert_int_equal(m->pins[pblk], 0);
		free(m->node[pblk]);
		m->node[pblk] = NULL;
		m->nodes_used--;
		return;
	}
	assert_true(pblk >= DATA_FIRST && pblk + n <= DATA_FIRST + DATA_COUNT);
	for (uint32_t i = 0; i < n; i++) {
		assert_true(data_bit(m, pblk + i)); /* double free */
		data_set(m, pblk + i, false);
	}
	m->data_used -= n;
}

/* Mark data blocks [pblk, pblk+n) as owned by the test. */
static void data_take(struct mock *m, uint64_t pblk, uint32_t n)
{
	assert_true(pblk >= DATA_FIRST && pblk + n <= DATA_FIRST + DATA_COUNT);
	for (uint32_t i = 0; i < n; i++) {
		assert_false(data_bit(m, pblk + i));
		data_set(m, pblk + i, true);
	}
	m->data_used += n;
}

static void data_release(struct mock *m, uint64_t pblk, uint32_t n)
{
	m_free(m, pblk, n);
}

/* First free run of n data blocks at or after goal (wrapping). */
static bool data_find(const struct mock *m, uint64_t goal, uint32_t n, uint64_t *out)
{
	if (goal < DATA_FIRST || goal >= DATA_FIRST + DATA_COUNT)
		goal = DATA_FIRST;
	uint64_t b = goal, scanned = 0;
	while (scanned < DATA_COUNT) {
		if (b + n > DATA_FIRST + DATA_COUNT) {
			scanned += DATA_FIRST + DATA_COUNT - b;
			b = DATA_FIRST;
			continue;
		}
		uint32_t k = 0;
		while (k < n && !data_bit(m, b + k))
			k++;
		if (k == n) {
			*out = b;
			return true;
		}
		scanned += k + 1;
		b += k + 1;
	}
	return false;
}

/* ---- fixture --------------------------------------------------------------- */

struct fx {
	struct mock *m;
	struct extent_io io;
	struct extent_root root;
	uint32_t ino;
	int64_t blocks; /* what the inode's block count would be */
	uint64_t held;  /* data blocks the test owns that are not mapped */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->m = calloc(1, sizeof(*f->m));
	assert_non_null(f->m);
	f->m->data_map = calloc(DATA_COUNT / 8, 1);
	assert_non_null(f->m->data_map);
	f->m->alloc_budget = f->m->new_budget = f->m->get_budget = -1;
	f->io = (struct extent_io){
		.ctx = f->m,
		.node_get = m_get,
		.node_new = m_new,
		.node_dirty = m_dirty,
		.node_put = m_put,
		.alloc = m_alloc,
		.free = m_free,
	};
	extent_root_init(&f->root);
	f->ino = 77;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < NODE_LIMIT; i++)
		free(f->m->node[i]);
	free(f->m->data_map);
	free(f->m);
	free(f);
	ank_corrupt_quiet = 0;
	return 0;
}

/* ---- operations with bookkeeping -------------------------------------------- */

/* Data blocks owned by the test while no extent maps them. */
static void hold(struct fx *f, uint64_t pblk, uint32_t n)
{
	data_take(f->m, pblk, n);
	f->held += n;
}

static void unhold(struct fx *f, uint64_t pblk, uint32_t n)
{
	data_release(f->m, pblk, n);
	f->held -= n;
}

static int ins(struct fx *f, uint32_t lblk, uint64_t pblk, uint32_t len)
{
	int64_t d = 0;
	int rc = extent_insert(&f->io, &f->root, f->ino, lblk, pblk, len, &d);
	assert_int_equal(f->m->pins_out, 0);
	f->blocks += d;
	if (rc == 0)
		f->blocks += len;
	return rc;
}

/* Take data blocks [pblk, pblk+len) and map lblk there; must succeed. */
static void map_at(struct fx *f, uint32_t lblk, uint64_t pblk, uint32_t len)
{
	data_take(f->m, pblk, len);
	assert_int_equal(ins(f, lblk, pblk, len), 0);
}

static int trunc_to(struct fx *f, uint32_t from)
{
	int64_t d = 0;
	int rc = extent_truncate(&f->io, &f->root, f->ino, from, &d);
	assert_int_equal(f->m->pins_out, 0);
	assert_true(d <= 0);
	f->blocks += d;
	return rc;
}

static int look(struct fx *f, uint32_t lblk, uint64_t *pblk, uint32_t *len)
{
	int rc = extent_lookup(&f->io, &f->root, f->ino, lblk, pblk, len);
	assert_int_equal(f->m->pins_out, 0);
	return rc;
}

static void expect_mapped(struct fx *f, uint32_t lblk, uint64_t pblk, uint32_t len)
{
	uint64_t p;
	uint32_t l;
	assert_int_equal(look(f, lblk, &p, &l), 1);
	assert_int_equal(p, pblk);
	assert_int_equal(l, len);
}

static void expect_hole(struct fx *f, uint32_t lblk, uint32_t len)
{
	uint64_t p = 99;
	uint32_t l;
	assert_int_equal(look(f, lblk, &p, &l), 0);
	assert_int_equal(p, 0);
	assert_int_equal(l, len);
}

/* ---- independent checker ------------------------------------------------------ */

struct node_rec {
	uint64_t pblk;
	unsigned depth;
	uint32_t first;
};

struct tree_info {
	unsigned depth;
	uint64_t nodes, leaves, mapped;
	struct ank_extent *ext;
	size_t n, cap;
	struct node_rec *recs;
	size_t nrecs, recs_cap;
};

static void ti_free(struct tree_info *ti)
{
	free(ti->ext);
	free(ti->recs);
	memset(ti, 0, sizeof(*ti));
}

static void check_node(struct fx *f, const struct ank_extent_header *eh, bool is_root,
		       unsigned depth, uint64_t lo, uint64_t hi, struct tree_info *ti, uint8_t *seen)
{
	const unsigned char *ents = (const unsigned char *)eh + sizeof(*eh);
	assert_int_equal(eh->magic, ANK_EXTENT_MAGIC);
	assert_int_equal(eh->max, is_root ? ANK_EXTENT_ROOT_ENTRIES : ANK_EXTENT_NODE_ENTRIES);
	assert_int_equal(eh->depth, depth);
	assert_true(eh->entries <= eh->max);
	if (is_root) {
		assert_int_equal(eh->owner_ino, 0);
		assert_int_equal(eh->checksum, 0);
		if (depth > 0)
			assert_true(eh->entries >= 1);
	} else {
		assert_true(eh->entries >= 1);
		assert_int_equal(eh->owner_ino, f->ino);
		assert_int_equal(eh->checksum, ank_extent_node_csum(eh));
		uint32_t first;
		memcpy(&first, ents, 4);
		assert_int_equal(first, lo);
	}
	/* Unused slots are zero. */
	for (size_t i = (size_t)eh->entries * 16; i < (size_t)eh->max * 16; i++)
		assert_int_equal(ents[i], 0);
	uint64_t prev = lo;
	for (unsigned i = 0; i < eh->entries; i++) {
		if (depth == 0) {
			struct ank_extent e;
			memcpy(&e, ents + 16 * i, 16);
			assert_true(e.len >= 1 && e.len <= MAXLEN);
			assert_true(e.lblk >= prev);
			prev = (uint64_t)e.lblk + e.len;
			assert_true(prev <= hi);
			assert_true(e.pblk >= DATA_FIRST && e.pblk + e.len <= DATA_FIRST + DATA_COUNT);
			for (uint32_t k = 0; k < e.len; k++)
				assert_true(data_bit(f->m, e.pblk + k));
			if (ti->n == ti->cap) {
				ti->cap = ti->cap ? ti->cap * 2 : 1024;
				ti->ext = realloc(ti->ext, ti->cap * sizeof(*ti->ext));
				assert_non_null(ti->ext);
			}
			ti->ext[ti->n++] = e;
			ti->mapped += e.len;
		} else {
			struct ank_extent_index ix;
			memcpy(&ix, ents + 16 * i, 16);
			assert_int_equal(ix.reserved, 0);
			assert_true(ix.lblk >= prev);
			assert_true(ix.lblk < hi);
			prev = (uint64_t)ix.lblk + 1;
			uint64_t end = hi;
			if (i + 1u < eh->entries) {
				uint32_t nk;
				memcpy(&nk, ents + 16 * (i + 1), 4);
				end = nk;
			}
			assert_true(ix.child >= NODE_FIRST && ix.child < NODE_LIMIT);
			assert_non_null(f->m->node[ix.child]);
			assert_false(seen[ix.child]);
			seen[ix.child] = 1;
			ti->nodes++;
			if (depth == 1)
				ti->leaves++;
			if (ti->nrecs == ti->recs_cap) {
				ti->recs_cap = ti->recs_cap ? ti->recs_cap * 2 : 256;
				ti->recs = realloc(ti->recs, ti->recs_cap * sizeof(*ti->recs));
				assert_non_null(ti->recs);
			}
			ti->recs[ti->nrecs++] = (struct node_rec){ix.child, depth - 1, ix.lblk};
			check_node(f, (const void *)f->m->node[ix.child], false, depth - 1, ix.lblk,
				   end, ti, seen);
		}
	}
}

/* Verify the whole tree and the accounting: every node block allocated is
 * reachable exactly once, every data block owned is mapped, the inode block
 * count adds up, nothing is pinned. Fills *ti (free with ti_free). */
static void check_tree(struct fx *f, struct tree_info *ti)
{
	uint8_t *seen = calloc(NODE_LIMIT, 1);
	assert_non_null(seen);
	memset(ti, 0, sizeof(*ti));
	ti->depth = f->root.eh.depth;
	assert_true(ti->depth <= ANK_EXTENT_MAX_DEPTH);
	assert_int_equal(extent_root_validate(&f->root), 0);
	check_node(f, &f->root.eh, true, ti->depth, 0, UINT32_MAX, ti, seen);
	free(seen);
	assert_int_equal(ti->nodes, f->m->nodes_used);
	assert_int_equal(ti->mapped + f->held, f->m->data_used);
	assert_int_equal(f->blocks, (int64_t)(f->m->nodes_used + f->m->data_used - f->held));
	assert_int_equal(f->m->pins_out, 0);
	assert_int_equal(f->m->bad_gets, 0);
}

static void check_tree_quick(struct fx *f)
{
	struct tree_info ti;
	check_tree(f, &ti);
	ti_free(&ti);
}

/* A fingerprint of the root and of every node block's number and bytes. */
static uint32_t fingerprint(struct fx *f)
{
	uint32_t c = crc32c(0, &f->root, sizeof(f->root));
	for (uint64_t b = NODE_FIRST; b < NODE_LIMIT; b++) {
		if (!f->m->node[b])
			continue;
		c = crc32c(c, &b, sizeof(b));
		c = crc32c(c, f->m->node[b], BS);
	}
	return c;
}

/* Map extent i of a pattern: lblk = stride*i, len, pblk apart so nothing merges. */
static void build_pattern(struct fx *f, uint32_t count, uint32_t stride, uint32_t len)
{
	for (uint32_t i = 0; i < count; i++)
		map_at(f, stride * i, DATA_FIRST + (uint64_t)(len + 1) * i, len);
}

/* ---- tests ---------------------------------------------------------------------- */

static void empty_tree_is_one_hole_to_the_end(void **state)
{
	struct fx *f = *state;
	assert_int_equal(extent_root_validate(&f->root), 0);
	assert_int_equal(f->root.eh.magic, ANK_EXTENT_MAGIC);
	assert_int_equal(f->root.eh.max, ANK_EXTENT_ROOT_ENTRIES);
	expect_hole(f, 0, UINT32_MAX);
	expect_hole(f, 1000, UINT32_MAX - 1000);
	expect_hole(f, UINT32_MAX - 1, 1);
	expect_hole(f, UINT32_MAX, 1);
	assert_int_equal(trunc_to(f, 0), 0);
	check_tree_quick(f);
}

static void invalid_arguments_are_rejected(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ins(f, 0, DATA_FIRST, 0), -EINVAL);
	assert_int_equal(ins(f, 0, 0, 1), -EINVAL);
	assert_int_equal(ins(f, 0, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(ins(f, UINT32_MAX, DATA_FIRST, 1), -EFBIG);
	assert_int_equal(ins(f, UINT32_MAX - 10, DATA_FIRST, 11), -EFBIG);
	check_tree_quick(f);
}

static void sequential_appends_merge_into_one_extent(void **state)
{
	struct fx *f = *state;
	for (uint32_t i = 0; i < 1000; i++)
		map_at(f, i, DATA_FIRST + i, 1);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, 1);
	assert_int_equal(ti.ext[0].lblk, 0);
	assert_int_equal(ti.ext[0].len, 1000);
	assert_int_equal(ti.ext[0].pblk, DATA_FIRST);
	assert_int_equal(ti.nodes, 0);
	ti_free(&ti);
	expect_mapped(f, 500, DATA_FIRST + 500, 500);
	expect_hole(f, 1000, UINT32_MAX - 1000);

	/* Past the longest extent a second one starts. */
	for (uint32_t i = 1000; i < 40000; i++)
		map_at(f, i, DATA_FIRST + i, 1);
	check_tree(f, &ti);
	assert_int_equal(ti.n, 2);
	assert_int_equal(ti.ext[0].len, MAXLEN);
	assert_int_equal(ti.ext[1].lblk, MAXLEN);
	assert_int_equal(ti.ext[1].len, 40000 - MAXLEN);
	assert_int_equal(ti.ext[1].pblk, DATA_FIRST + MAXLEN);
	ti_free(&ti);
	expect_mapped(f, MAXLEN - 1, DATA_FIRST + MAXLEN - 1, 1);
	expect_mapped(f, MAXLEN, DATA_FIRST + MAXLEN, 40000 - MAXLEN);
}

static void long_run_is_split_into_max_len_extents(void **state)
{
	struct fx *f = *state;
	uint32_t len = 3 * MAXLEN + 100;
	map_at(f, 50, DATA_FIRST, len);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(ti.ext[i].lblk, 50 + i * MAXLEN);
		assert_int_equal(ti.ext[i].pblk, DATA_FIRST + (uint64_t)i * MAXLEN);
		assert_int_equal(ti.ext[i].len, i < 3 ? MAXLEN : 100);
	}
	ti_free(&ti);
	expect_mapped(f, 50 + MAXLEN + 7, DATA_FIRST + MAXLEN + 7, MAXLEN - 7);
	expect_hole(f, 0, 50);
	expect_hole(f, 50 + len, UINT32_MAX - 50 - len);
	/* Overlapping a long run with another long run. */
	assert_int_equal(ins(f, 0, DATA_FIRST + 2000000, 2 * MAXLEN), -EEXIST);
	check_tree_quick(f);
}

static void merges_with_right_and_with_both_neighbours(void **state)
{
	struct fx *f = *state;
	uint64_t P = DATA_FIRST + 1000;
	map_at(f, 10, P + 10, 10);
	map_at(f, 0, P, 10); /* merges with the right one */
	map_at(f, 30, P + 30, 10);
	map_at(f, 20, P + 20, 10); /* fills the gap: both sides merge */
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, 1);
	assert_int_equal(ti.ext[0].len, 40);
	ti_free(&ti);
	expect_mapped(f, 0, P, 40);

	/* Contiguous in lblk but not in pblk: no merge. */
	map_at(f, 40, P + 100, 5);
	check_tree(f, &ti);
	assert_int_equal(ti.n, 2);
	ti_free(&ti);

	/* Merging would exceed the longest extent: stays separate. */
	uint64_t Q = DATA_FIRST + 500000;
	map_at(f, 100000, Q, MAXLEN - 5);
	map_at(f, 100000 + MAXLEN - 5, Q + MAXLEN - 5, 10);
	check_tree(f, &ti);
	assert_int_equal(ti.n, 4);
	assert_int_equal(ti.ext[2].len, MAXLEN - 5);
	assert_int_equal(ti.ext[3].len, 10);
	ti_free(&ti);
}

static void insert_over_mapped_block_is_eexist(void **state)
{
	struct fx *f = *state;
	map_at(f, 100, DATA_FIRST, 10);
	uint32_t fp = fingerprint(f);
	uint64_t X = DATA_FIRST + 3000000;
	assert_int_equal(ins(f, 100, X, 10), -EEXIST);
	assert_int_equal(ins(f, 95, X, 6), -EEXIST);  /* overlaps the start */
	assert_int_equal(ins(f, 109, X, 5), -EEXIST); /* overlaps the end */
	assert_int_equal(ins(f, 103, X, 2), -EEXIST); /* inside */
	assert_int_equal(ins(f, 90, X, 30), -EEXIST); /* covers it */
	assert_int_equal(fingerprint(f), fp);
	map_at(f, 90, X, 10); /* just before it: fine */
	check_tree_quick(f);
	assert_int_equal(trunc_to(f, 0), 0);

	/* In a tree of several levels, at a leaf boundary: the range ends in
	 * the first extent of the next leaf. */
	build_pattern(f, 3000, 10, 2);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_true(ti.depth >= 1);
	fp = fingerprint(f);
	unsigned tested = 0;
	for (size_t i = 0; i < ti.nrecs; i++) {
		if (ti.recs[i].depth != 0 || ti.recs[i].first == 0)
			continue;
		uint32_t b = ti.recs[i].first;
		assert_int_equal(ins(f, b - 3, X, 4), -EEXIST);
		assert_int_equal(ins(f, b - 8, X, 10), -EEXIST);
		assert_int_equal(ins(f, b + 1, X, 1), -EEXIST);
		tested++;
	}
	assert_true(tested >= 2);
	ti_free(&ti);
	assert_int_equal(fingerprint(f), fp);
	check_tree_quick(f);
}

static void lookup_in_hole_reports_distance_to_next_extent(void **state)
{
	struct fx *f = *state;
	/* Extents [100k+100, +10) for k in 0..4999, inserted in a shuffled
	 * order so nodes split in the middle and leaf ends fall anywhere. */
	enum { N = 5000 };
	uint32_t *order = malloc(N * sizeof(*order));
	assert_non_null(order);
	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	srand(12345);
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand() % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t i = 0; i < N; i++)
		map_at(f, 100 * order[i] + 100, DATA_FIRST + 20 * order[i], 10);
	free(order);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_true(ti.depth >= 1);
	assert_true(ti.leaves >= 8);
	ti_free(&ti);
	for (uint32_t lblk = 0; lblk < 100 * N + 100; lblk++) {
		uint32_t k = lblk / 100, r = lblk % 100;
		if (k >= 1 && r < 10)
			expect_mapped(f, lblk, DATA_FIRST + 20 * (k - 1) + r, 10 - r);
		else if (k == N)
			expect_hole(f, lblk, UINT32_MAX - lblk);
		else
			expect_hole(f, lblk, 100 - r);
	}
	expect_hole(f, UINT32_MAX - 1, 1);
}

static int count_node(void *arg, uint64_t pblk, unsigned depth)
{
	unsigned long *c = arg;
	(void)pblk;
	c[depth]++;
	return 0;
}

static void fragmented_file_of_100000_extents_maps_every_block(void **state)
{
	struct fx *f = *state;
	enum { N = 100000 };
	/* Extent i: blocks 3i, 3i+1 at pblk DATA_FIRST+4i; 3i+2 is a hole. */
	for (uint32_t i = 0; i < N; i++)
		map_at(f, 3 * i, DATA_FIRST + 4ull * i, 2);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, N);
	unsigned long per_depth[ANK_EXTENT_MAX_DEPTH + 1] = {0};
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, count_node, per_depth), 0);
	unsigned long min_leaves = (N + 254) / 255;
	unsigned long min_index = (min_leaves + 254) / 255;
	print_message("100000 extents: depth %u, %lu nodes (%lu leaves, %lu index); minimum %lu\n",
		      ti.depth, (unsigned long)ti.nodes, per_depth[0], per_depth[1],
		      min_leaves + min_index);
	assert_true(ti.depth >= 2);
	assert_int_equal(per_depth[0], ti.leaves);
	assert_true(ti.nodes <= min_leaves + min_index + 2);
	ti_free(&ti);
	for (uint32_t i = 0; i < N; i++) {
		expect_mapped(f, 3 * i, DATA_FIRST + 4ull * i, 2);
		expect_mapped(f, 3 * i + 1, DATA_FIRST + 4ull * i + 1, 1);
		expect_hole(f, 3 * i + 2, i + 1 < N ? 1 : UINT32_MAX - (3 * i + 2));
	}
	expect_hole(f, 3 * N, UINT32_MAX - 3 * N);

	/* Same file written back to front: every insert lands at the front. */
	assert_int_equal(trunc_to(f, 0), 0);
	check_tree_quick(f);
	for (uint32_t i = N; i-- > 0;)
		map_at(f, 3 * i, DATA_FIRST + 4ull * i, 2);
	check_tree(f, &ti);
	assert_int_equal(ti.n, N);
	print_message("written backwards: depth %u, %lu nodes\n", ti.depth,
		      (unsigned long)ti.nodes);
	ti_free(&ti);
	for (uint32_t i = 0; i < N; i += 7) {
		expect_mapped(f, 3 * i + 1, DATA_FIRST + 4ull * i + 1, 1);
		expect_hole(f, 3 * i + 2, 1);
	}
	assert_int_equal(trunc_to(f, 0), 0);
	check_tree_quick(f);
	assert_int_equal(f->m->nodes_used, 0);
	assert_int_equal(f->m->data_used, 0);
}

static void contiguous_blocks_with_scattered_pblk_fill_nodes(void **state)
{
	struct fx *f = *state;
	enum { N = 20000 };
	for (uint32_t i = 0; i < N; i++)
		map_at(f, i, DATA_FIRST + 2ull * i, 1);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, N);
	assert_int_equal(ti.depth, 2);
	assert_int_equal(ti.leaves, (N + 254) / 255);
	assert_int_equal(ti.nodes, (N + 254) / 255 + 1);
	ti_free(&ti);
	for (uint32_t i = 0; i < N; i++)
		expect_mapped(f, i, DATA_FIRST + 2ull * i, 1);
}

static void truncate_middle_frees_tail_blocks_and_keeps_head(void **state)
{
	struct fx *f = *state;
	map_at(f, 0, DATA_FIRST, 100);
	assert_int_equal(trunc_to(f, 40), 0);
	assert_int_equal(f->m->data_used, 40);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(data_bit(f->m, DATA_FIRST + i), i < 40);
	expect_mapped(f, 0, DATA_FIRST, 40);
	expect_hole(f, 40, UINT32_MAX - 40);
	check_tree_quick(f);

	/* A deep tree cut in the middle of an extent in the middle of a leaf. */
	assert_int_equal(trunc_to(f, 0), 0);
	build_pattern(f, 5000, 10, 6); /* [10i, 10i+6) at DATA_FIRST+7i */
	uint32_t from = 10 * 2345 + 4;
	int64_t before = f->blocks;
	assert_int_equal(trunc_to(f, from), 0);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.n, 2346);
	assert_int_equal(ti.ext[2345].len, 4);
	assert_int_equal(ti.mapped, 2345ull * 6 + 4);
	assert_true(before - f->blocks >= (int64_t)((5000 - 2346) * 6 + 2));
	ti_free(&ti);
	expect_mapped(f, from - 1, DATA_FIRST + 7 * 2345 + 3, 1);
	expect_hole(f, from, UINT32_MAX - from);
	expect_mapped(f, 0, DATA_FIRST, 6);
	/* Appending after the cut still works. */
	map_at(f, from, DATA_FIRST + 7 * 2345 + 4, 2); /* merges with the trimmed one */
	expect_mapped(f, from - 4, DATA_FIRST + 7 * 2345, 6);
	check_tree_quick(f);
}

static void truncate_to_zero_frees_all_nodes_and_collapses_root(void **state)
{
	struct fx *f = *state;
	build_pattern(f, 30000, 3, 1);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_true(ti.depth >= 2);
	uint64_t total = ti.nodes + ti.mapped;
	ti_free(&ti);
	int64_t d = 0;
	assert_int_equal(extent_truncate(&f->io, &f->root, f->ino, 0, &d), 0);
	assert_int_equal(d, -(int64_t)total);
	f->blocks += d;
	assert_int_equal(f->m->nodes_used, 0);
	assert_int_equal(f->m->data_used, 0);
	assert_int_equal(f->root.eh.depth, 0);
	assert_int_equal(f->root.eh.entries, 0);
	assert_int_equal(extent_root_validate(&f->root), 0);
	check_tree_quick(f);
	expect_hole(f, 5, UINT32_MAX - 5);
	/* Used again after being emptied. */
	map_at(f, 7, DATA_FIRST, 3);
	expect_mapped(f, 8, DATA_FIRST + 1, 2);
}

static void truncate_collapses_tree_that_fits_in_root(void **state)
{
	struct fx *f = *state;
	build_pattern(f, 9, 5, 1); /* one more than the root holds */
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.depth, 1);
	assert_int_equal(ti.nodes, 1);
	ti_free(&ti);
	assert_int_equal(trunc_to(f, 40), 0); /* drops the ninth */
	check_tree(f, &ti);
	assert_int_equal(ti.depth, 0);
	assert_int_equal(ti.nodes, 0);
	assert_int_equal(ti.n, 8);
	ti_free(&ti);

	/* Deeper: 3000 extents, cut to 6. */
	assert_int_equal(trunc_to(f, 0), 0);
	build_pattern(f, 3000, 5, 2);
	assert_true(f->root.eh.depth >= 2);
	assert_int_equal(trunc_to(f, 28), 0);
	check_tree(f, &ti);
	assert_int_equal(ti.depth, 0);
	assert_int_equal(ti.n, 6);
	assert_int_equal(ti.ext[5].len, 2);
	ti_free(&ti);

	/* Cut to more than fits: the tree stays a tree. */
	assert_int_equal(trunc_to(f, 0), 0);
	build_pattern(f, 3000, 5, 2);
	assert_int_equal(trunc_to(f, 5 * 300), 0);
	check_tree(f, &ti);
	assert_int_equal(ti.n, 300);
	assert_int_equal(ti.depth, 1);
	ti_free(&ti);
}

/* extent_punch against a model of the map: random ranges (inside one
 * extent, across many, over holes, past the end) on trees of short and of
 * long extents; after each, every block the model maps is mapped there,
 * every other is a hole, and the accounting (check_tree: blocks freed, nodes
 * reachable once, the inode's count) adds up. */
#define PUNCH_SPAN 40000u
static void punch_check_model(struct fx *f, const uint64_t *model, uint32_t lo, uint32_t hi)
{
	for (uint32_t b = lo; b < hi && b < PUNCH_SPAN; b++) {
		uint64_t p;
		uint32_t l;
		int rc = look(f, b, &p, &l);
		if (model[b]) {
			assert_int_equal(rc, 1);
			assert_int_equal(p, model[b]);
		} else {
			assert_int_equal(rc, 0);
		}
	}
}

static void punch_round(struct fx *f, uint32_t count, uint32_t stride, uint32_t len, uint64_t seed)
{
	uint64_t *model = calloc(PUNCH_SPAN, sizeof(*model));
	assert_non_null(model);
	build_pattern(f, count, stride, len);
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t k = 0; k < len; k++)
			model[stride * i + k] = DATA_FIRST + (uint64_t)(len + 1) * i + k;
	uint32_t end = stride * count;
	uint64_t x = seed;
	for (unsigned it = 0; it < 400; it++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t from = (uint32_t)((x >> 33) % (end + 50));
		uint32_t n = (it % 7 == 0) ? (uint32_t)((x >> 17) % 3000) + 1
					   : (uint32_t)((x >> 11) % (2 * len + 2)) + 1;
		if (it % 5 == 0 && len > 2) { /* the middle of one extent */
			from = stride * (uint32_t)((x >> 40) % count) + 1;
			n = len - 2;
		}
		int64_t d = 0;
		assert_int_equal(extent_punch(&f->io, &f->root, f->ino, from, from + n, &d), 0);
		assert_int_equal(f->m->pins_out, 0);
		assert_true(d <= 0);
		f->blocks += d;
		for (uint32_t b = from; b < from + n && b < PUNCH_SPAN; b++)
			model[b] = 0;
		check_tree_quick(f);
		punch_check_model(f, model, from > 2 * len ? from - 2 * len : 0, from + n + 2 * len);
		if (it % 50 == 0)
			punch_check_model(f, model, 0, end + 1);
	}
	punch_check_model(f, model, 0, end + 1);
	/* punching everything leaves an empty root */
	int64_t d = 0;
	assert_int_equal(extent_punch(&f->io, &f->root, f->ino, 0, end + 10, &d), 0);
	f->blocks += d;
	check_tree_quick(f);
	assert_int_equal(f->root.eh.depth, 0);
	assert_int_equal(f->root.eh.entries, 0);
	assert_int_equal(f->blocks, 0);
	free(model);
}

static void punch_matches_a_model_of_the_map(void **state)
{
	struct fx *f = *state;
	punch_round(f, 3000, 5, 3, 1);   /* a tree two levels deep of short extents */
	punch_round(f, 300, 100, 60, 2); /* long extents: cuts in their middle */
}

static void truncate_beyond_end_changes_nothing(void **state)
{
	struct fx *f = *state;
	build_pattern(f, 1000, 4, 3);
	uint32_t fp = fingerprint(f);
	unsigned long dirties = f->m->dirties;
	assert_int_equal(trunc_to(f, 4000), 0);
	assert_int_equal(trunc_to(f, UINT32_MAX), 0);
	assert_int_equal(fingerprint(f), fp);
	assert_int_equal(f->m->dirties, dirties);
	assert_int_equal(trunc_to(f, 3998), 0); /* drops the last block of the last extent */
	expect_mapped(f, 3996, DATA_FIRST + 4 * 999, 2);
	check_tree_quick(f);
}

static void insert_without_space_leaves_tree_unchanged(void **state)
{
	struct fx *f = *state;
	uint64_t X = DATA_FIRST + 3000000;
	/* Root full: growing needs a block. */
	build_pattern(f, 8, 4, 2);
	uint32_t fp = fingerprint(f);
	data_take(f->m, X, 1);
	f->m->alloc_budget = 0;
	assert_int_equal(ins(f, 100, X, 1), -ENOSPC);
	assert_int_equal(fingerprint(f), fp);
	f->m->alloc_budget = -1;
	f->m->new_budget = 0;
	assert_int_equal(ins(f, 100, X, 1), -ENOMEM);
	assert_int_equal(fingerprint(f), fp);
	f->m->new_budget = -1;
	data_release(f->m, X, 1);
	check_tree_quick(f);

	/* 8 full leaves under a full root: the next append needs a leaf split
	 * and a new level, two blocks. One is not enough. */
	assert_int_equal(trunc_to(f, 0), 0);
	build_pattern(f, 8 * 255, 2, 1);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.depth, 1);
	assert_int_equal(ti.leaves, 8);
	ti_free(&ti);
	fp = fingerprint(f);
	uint64_t nodes = f->m->nodes_used;
	data_take(f->m, X, 1);
	f->m->alloc_budget = 1;
	assert_int_equal(ins(f, 8 * 255 * 2, X, 1), -ENOSPC);
	assert_int_equal(fingerprint(f), fp);
	assert_int_equal(f->m->nodes_used, nodes);
	f->m->alloc_budget = -1;
	f->m->new_budget = 1;
	assert_int_equal(ins(f, 8 * 255 * 2, X, 1), -ENOMEM);
	assert_int_equal(fingerprint(f), fp);
	assert_int_equal(f->m->nodes_used, nodes);
	f->m->new_budget = -1;
	/* With room it works. */
	assert_int_equal(ins(f, 8 * 255 * 2, X, 1), 0);
	check_tree(f, &ti);
	assert_int_equal(ti.depth, 2);
	assert_int_equal(ti.nodes, nodes + 2);
	ti_free(&ti);
	expect_mapped(f, 8 * 255 * 2, X, 1);
}

static void long_insert_failure_removes_pieces_already_inserted(void **state)
{
	struct fx *f = *state;
	uint64_t X = DATA_FIRST + 1000000;
	uint32_t len = 2 * MAXLEN + 5;
	/* Seven extents in the root: the first piece fills it, the second
	 * needs a node and there is none. */
	build_pattern(f, 7, 4, 2);
	uint32_t fp = fingerprint(f);
	hold(f, X, len);
	f->m->alloc_budget = 0;
	assert_int_equal(ins(f, 1000, X, len), -ENOSPC);
	f->m->alloc_budget = -1;
	assert_int_equal(fingerprint(f), fp);

	check_tree_quick(f);

	/* A leaf with room for two more: the third piece needs a split and
	 * there is no block for it. The mapping is back to what it was. */
	assert_int_equal(trunc_to(f, 0), 0);
	unhold(f, X, len);
	build_pattern(f, 253, 4, 2);
	struct tree_info before;
	check_tree(f, &before);
	len = 5 * MAXLEN;
	hold(f, X, len);
	f->m->alloc_budget = 0;
	assert_int_equal(ins(f, 100000, X, len), -ENOSPC);
	f->m->alloc_budget = -1;
	struct tree_info after;
	check_tree(f, &after);
	assert_int_equal(after.n, before.n);
	assert_memory_equal(after.ext, before.ext, before.n * sizeof(*before.ext));
	ti_free(&after);
	ti_free(&before);
	expect_hole(f, 100000, UINT32_MAX - 100000);
	/* And the same insert with space succeeds. */
	assert_int_equal(ins(f, 100000, X, len), 0);
	f->held -= len;
	expect_mapped(f, 100000 + 4 * MAXLEN + 1, X + 4 * MAXLEN + 1, MAXLEN - 1);
	check_tree_quick(f);
	assert_int_equal(trunc_to(f, 0), 0);

	/* At the front of a two-level tree whose first leaf has one free slot:
	 * the first piece becomes the first extent of the file (lowering the
	 * keys on the way down), the second finds the leaf full. Taking the
	 * first piece out again must raise those keys back. */
	for (uint32_t i = 0; i < 3000; i++)
		map_at(f, 1000000 + 2 * i, DATA_FIRST + 2 * i, 1);
	for (uint32_t j = 0; j < 127; j++)
		map_at(f, 900000 - 2 * j, DATA_FIRST + 10000 + 2 * j, 1);
	assert_int_equal(f->root.eh.depth, 2);
	check_tree(f, &before);
	fp = fingerprint(f);
	len = 2 * MAXLEN + 5;
	uint64_t Y = DATA_FIRST + 2000000;
	hold(f, Y, len);
	f->m->alloc_budget = 0;
	assert_int_equal(ins(f, 0, Y, len), -ENOSPC);
	f->m->alloc_budget = -1;
	check_tree(f, &after);
	assert_int_equal(after.n, before.n);
	assert_memory_equal(after.ext, before.ext, before.n * sizeof(*before.ext));
	ti_free(&after);
	ti_free(&before);
	assert_int_equal(fingerprint(f), fp);
	expect_hole(f, 0, 900000 - 2 * 126);
	unhold(f, Y, len);
}

static void corrupted_node_checksum_is_euclean(void **state)
{
	struct fx *f = *state;
	ank_corrupt_quiet = 1;
	build_pattern(f, 1000, 4, 2);
	struct tree_info ti;
	check_tree(f, &ti);
	uint64_t leaf = 0;
	uint32_t first = 0;
	for (size_t i = 0; i < ti.nrecs; i++)
		if (ti.recs[i].depth == 0 && ti.recs[i].first > 0) {
			leaf = ti.recs[i].pblk;
			first = ti.recs[i].first;
			break;
		}
	ti_free(&ti);
	assert_true(leaf != 0);
	uint32_t fp = fingerprint(f);
	unsigned char *blk = f->m->node[leaf];
	blk[16 + 16 * 3 + 9] ^= 0x40; /* a bit of some extent's pblk */
	uint32_t fp_bad = fingerprint(f);
	unsigned long reports = ank_corrupt_count;
	uint64_t p;
	uint32_t l;
	assert_int_equal(look(f, first, &p, &l), -EUCLEAN);
	assert_true(ank_corrupt_count > reports);
	assert_int_equal(look(f, 0, &p, &l), 1); /* another leaf is fine */
	uint64_t X = DATA_FIRST + 3000000;
	data_take(f->m, X, 1);
	assert_int_equal(ins(f, first + 2, X, 1), -EUCLEAN);
	assert_int_equal(trunc_to(f, 0), -EUCLEAN);
	assert_int_equal(trunc_to(f, first + 1), -EUCLEAN);
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, NULL, NULL), -EUCLEAN);
	assert_int_equal(f->m->pins_out, 0);
	assert_int_equal(fingerprint(f), fp_bad); /* nothing changed */
	blk[16 + 16 * 3 + 9] ^= 0x40;
	assert_int_equal(fingerprint(f), fp);
	data_release(f->m, X, 1);
	check_tree_quick(f);
}

/* Damage a node, re-seal its checksum (so only the structural checks can
 * see it), and check every entry point refuses it without changing a thing. */
static void expect_damage_refused(struct fx *f, uint64_t node, uint32_t lblk_inside,
				  void (*damage)(unsigned char *blk))
{
	unsigned char saved[BS];
	unsigned char *blk = f->m->node[node];
	memcpy(saved, blk, BS);
	damage(blk);
	struct ank_extent_header *eh = (void *)blk;
	eh->checksum = ank_extent_node_csum(blk);
	uint32_t fp = fingerprint(f);
	uint64_t p;
	uint32_t l;
	assert_int_equal(look(f, lblk_inside, &p, &l), -EUCLEAN);
	assert_int_equal(trunc_to(f, 0), -EUCLEAN);
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, NULL, NULL), -EUCLEAN);
	assert_int_equal(fingerprint(f), fp);
	memcpy(blk, saved, BS);
}

static void dmg_magic(unsigned char *b) { b[0] ^= 1; }
static void dmg_max(unsigned char *b) { b[4] = 254; }
static void dmg_entries(unsigned char *b) { b[2] = 0; b[3] = 1; } /* 256 */
static void dmg_no_entries(unsigned char *b) { b[2] = 0; b[3] = 0; }
static void dmg_depth(unsigned char *b) { b[6] ^= 1; }
static void dmg_owner(unsigned char *b) { b[8] ^= 1; }
static void dmg_swap(unsigned char *b)
{
	unsigned char t[16];
	memcpy(t, b + 16 + 16 * 4, 16);
	memcpy(b + 16 + 16 * 4, b + 16 + 16 * 5, 16);
	memcpy(b + 16 + 16 * 5, t, 16);
}
static void dmg_overlap(unsigned char *b) { b[16 + 16 * 4 + 4] = 5; } /* len 5 at stride 4 */
static void dmg_len0(unsigned char *b) { memset(b + 16 + 16 * 4 + 4, 0, 4); }
static void dmg_len_big(unsigned char *b)
{
	uint32_t v = MAXLEN + 1;
	memcpy(b + 16 + 16 * 4 + 4, &v, 4);
}
static void dmg_pblk0(unsigned char *b) { memset(b + 16 + 16 * 4 + 8, 0, 8); }
static void dmg_first_key(unsigned char *b) { b[16] += 1; } /* first extent starts later */
static void dmg_reserved(unsigned char *b) { b[16 + 16 * 1 + 4] = 1; }
static void dmg_child0(unsigned char *b) { memset(b + 16 + 16 * 1 + 8, 0, 8); }

static void damaged_nodes_are_euclean_and_tree_unchanged(void **state)
{
	struct fx *f = *state;
	ank_corrupt_quiet = 1;
	/* Extents [4i, 4i+2): deep enough for index nodes. */
	build_pattern(f, 70000, 4, 2);
	struct tree_info ti;
	check_tree(f, &ti);
	assert_true(ti.depth >= 2);
	uint64_t leaf = 0, index = 0;
	uint32_t leaf_first = 0, index_first = 0;
	for (size_t i = 0; i < ti.nrecs; i++) {
		if (ti.recs[i].depth == 0 && !leaf && ti.recs[i].first > 4000) {
			leaf = ti.recs[i].pblk;
			leaf_first = ti.recs[i].first;
		}
		if (ti.recs[i].depth == 1 && !index && ti.recs[i].first > 0) {
			index = ti.recs[i].pblk;
			index_first = ti.recs[i].first;
		}
	}
	ti_free(&ti);
	assert_true(leaf && index);
	uint32_t fp = fingerprint(f);
	void (*leaf_damage[])(unsigned char *) = {
		dmg_magic, dmg_max,	dmg_entries, dmg_no_entries, dmg_depth,	 dmg_owner, dmg_swap,
		dmg_overlap, dmg_len0, dmg_len_big, dmg_pblk0,	    dmg_first_key,
	};
	for (size_t i = 0; i < ANK_ARRAY_SIZE(leaf_damage); i++)
		expect_damage_refused(f, leaf, leaf_first + 17, leaf_damage[i]);
	void (*index_damage[])(unsigned char *) = {
		dmg_magic, dmg_entries, dmg_no_entries, dmg_depth, dmg_swap, dmg_first_key,
		dmg_reserved, dmg_child0,
	};
	for (size_t i = 0; i < ANK_ARRAY_SIZE(index_damage); i++)
		expect_damage_refused(f, index, index_first + 17, index_damage[i]);
	/* The last extent of a leaf reaching into the next leaf's range. */
	{
		unsigned char *blk = f->m->node[leaf];
		struct ank_extent_header *eh = (void *)blk;
		unsigned last = eh->entries - 1u;
		struct ank_extent e;
		memcpy(&e, blk + 16 + 16 * last, 16);
		e.len = 5;
		memcpy(blk + 16 + 16 * last, &e, 16);
		eh->checksum = ank_extent_node_csum(blk);
		uint64_t p;
		uint32_t l;
		assert_int_equal(look(f, leaf_first, &p, &l), -EUCLEAN);
		e.len = 2;
		memcpy(blk + 16 + 16 * last, &e, 16);
		eh->checksum = ank_extent_node_csum(blk);
	}
	/* Nodes read on behalf of another inode. */
	{
		uint64_t p;
		uint32_t l;
		assert_int_equal(extent_lookup(&f->io, &f->root, f->ino + 1, leaf_first, &p, &l),
				 -EUCLEAN);
		assert_int_equal(f->m->pins_out, 0);
	}
	assert_int_equal(fingerprint(f), fp);
	check_tree_quick(f);
}

static void damaged_root_is_rejected(void **state)
{
	struct fx *f = *state;
	ank_corrupt_quiet = 1;
	build_pattern(f, 6, 4, 2);
	struct extent_root good = f->root;
	struct extent_root r;
	struct ank_extent_index ix;
#define BAD_ROOT(stmt)                                                        \
	do {                                                                  \
		r = good;                                                     \
		stmt;                                                         \
		assert_int_equal(extent_root_validate(&r), -EUCLEAN);         \
	} while (0)
	BAD_ROOT(r.eh.magic ^= 1);
	BAD_ROOT(r.eh.max = 9);
	BAD_ROOT(r.eh.entries = 9);
	BAD_ROOT(r.eh.depth = ANK_EXTENT_MAX_DEPTH + 1);
	BAD_ROOT(r.eh.owner_ino = 5);
	BAD_ROOT(r.eh.checksum = 5);
	BAD_ROOT(r.e[3].lblk = r.e[2].lblk);
	BAD_ROOT(r.e[3].len = 5);
	BAD_ROOT(r.e[1].len = 0);
	BAD_ROOT(r.e[1].len = MAXLEN + 1);
	BAD_ROOT(r.e[1].pblk = 0);
	BAD_ROOT((r.e[5].lblk = UINT32_MAX - 1, r.e[5].len = 2));
	BAD_ROOT((r.eh.depth = 1, r.eh.entries = 0));
	BAD_ROOT((r.eh.depth = 1, r.eh.entries = 1, ix = (struct ank_extent_index){0, 0, 0},
		  memcpy(&r.e[0], &ix, 16)));
	BAD_ROOT((r.eh.depth = 1, r.eh.entries = 1, ix = (struct ank_extent_index){0, 1, 5},
		  memcpy(&r.e[0], &ix, 16)));
#undef BAD_ROOT
	/* Every operation refuses a bad root and leaves it alone. */
	f->root.eh.entries = 9;
	struct extent_root bad = f->root;
	uint64_t p;
	uint32_t l;
	int64_t d = 0;
	assert_int_equal(extent_lookup(&f->io, &f->root, f->ino, 0, &p, &l), -EUCLEAN);
	assert_int_equal(extent_insert(&f->io, &f->root, f->ino, 500, DATA_FIRST + 9000, 1, &d),
			 -EUCLEAN);
	assert_int_equal(extent_truncate(&f->io, &f->root, f->ino, 0, &d), -EUCLEAN);
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, NULL, NULL), -EUCLEAN);
	assert_memory_equal(&bad, &f->root, sizeof(bad));
	assert_int_equal(d, 0);
	f->root = good;
	check_tree_quick(f);
}

static void io_errors_release_every_pin(void **state)
{
	struct fx *f = *state;
	build_pattern(f, 30000, 3, 1);
	assert_true(f->root.eh.depth >= 2);
	uint32_t fp = fingerprint(f);
	uint64_t p;
	uint32_t l;
	for (long budget = 0; budget < 2; budget++) {
		f->m->get_budget = budget;
		assert_int_equal(look(f, 45000, &p, &l), -EIO);
		f->m->get_budget = budget;
		assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, NULL, NULL), -EIO);
		assert_int_equal(f->m->pins_out, 0);
		uint64_t X = DATA_FIRST + 3000000;
		f->m->get_budget = budget;
		assert_int_equal(ins(f, 100000, X, 1), -EIO);
		f->m->get_budget = budget;
		assert_int_equal(trunc_to(f, 45000), -EIO);
	}
	f->m->get_budget = -1;
	assert_int_equal(fingerprint(f), fp);
	/* A read failing in the middle of a truncate leaves a consistent tree. */
	unsigned long g0 = f->m->gets;
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, NULL, NULL, NULL), 0);
	f->m->get_budget = (long)(f->m->gets - g0) + 50;
	int rc = trunc_to(f, 100);
	f->m->get_budget = -1;
	assert_int_equal(rc, -EIO);
	check_tree_quick(f);
	assert_int_equal(trunc_to(f, 100), 0);
	check_tree_quick(f);
	expect_mapped(f, 99, DATA_FIRST + 2 * 33, 1);
	expect_hole(f, 100, UINT32_MAX - 100);
}

struct walk_state {
	uint64_t next_lblk;
	unsigned long extents, stop_after;
	unsigned long nodes[ANK_EXTENT_MAX_DEPTH + 1];
	long node_stop;
};

static int walk_ext(void *arg, const struct ank_extent *e)
{
	struct walk_state *w = arg;
	assert_true(e->lblk >= w->next_lblk);
	w->next_lblk = (uint64_t)e->lblk + e->len;
	w->extents++;
	if (w->stop_after && w->extents == w->stop_after)
		return 7;
	return 0;
}

static int walk_node(void *arg, uint64_t pblk, unsigned depth)
{
	struct walk_state *w = arg;
	(void)pblk;
	assert_true(depth <= ANK_EXTENT_MAX_DEPTH);
	w->nodes[depth]++;
	if (w->node_stop > 0 && --w->node_stop == 0)
		return -42;
	return 0;
}

static void walk_visits_extents_in_order(void **state)
{
	struct fx *f = *state;
	/* Inserted in a scrambled order. */
	enum { N = 6000 };
	for (uint32_t i = 0; i < N; i++) {
		uint32_t k = (uint32_t)(((uint64_t)i * 2654435761u) % N);
		map_at(f, 5 * k, DATA_FIRST + 3ull * k, 2);
	}
	struct tree_info ti;
	check_tree(f, &ti);
	struct walk_state w = {0};
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, walk_ext, walk_node, &w), 0);
	assert_int_equal(f->m->pins_out, 0);
	assert_int_equal(w.extents, N);
	assert_int_equal(w.nodes[0], ti.leaves);
	unsigned long all = 0;
	for (unsigned d = 0; d <= ANK_EXTENT_MAX_DEPTH; d++)
		all += w.nodes[d];
	assert_int_equal(all, ti.nodes);
	print_message("scrambled %d extents: depth %u, %lu nodes\n", N, ti.depth,
		      (unsigned long)ti.nodes);
	ti_free(&ti);

	struct walk_state s = {.stop_after = 1000};
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, walk_ext, NULL, &s), 7);
	assert_int_equal(s.extents, 1000);
	assert_int_equal(f->m->pins_out, 0);
	struct walk_state t = {.node_stop = 5};
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, walk_ext, walk_node, &t), -42);
	assert_int_equal(f->m->pins_out, 0);

	/* A tree that is only a root. */
	assert_int_equal(trunc_to(f, 15), 0);
	struct walk_state r = {0};
	assert_int_equal(extent_walk(&f->io, &f->root, f->ino, walk_ext, walk_node, &r), 0);
	assert_int_equal(r.extents, 3);
	assert_int_equal(r.nodes[0], 0);
}

static void large_file_beyond_1_tib_maps(void **state)
{
	struct fx *f = *state;
	uint32_t tib = 1u << 28; /* 1 TiB in 4 KiB blocks */
	map_at(f, 5, DATA_FIRST, 1);
	map_at(f, tib, DATA_FIRST + 10, 100);
	map_at(f, 1u << 31, DATA_FIRST + 200, 7);
	map_at(f, UINT32_MAX - 1, DATA_FIRST + 300, 1); /* the last block a file can have */
	map_at(f, UINT32_MAX - 10, DATA_FIRST + 400, 5);
	expect_hole(f, 6, tib - 6);
	expect_mapped(f, tib + 50, DATA_FIRST + 60, 50);
	expect_hole(f, tib + 100, (1u << 31) - tib - 100);
	expect_mapped(f, (1u << 31) + 6, DATA_FIRST + 206, 1);
	expect_hole(f, UINT32_MAX - 5, 4);
	expect_mapped(f, UINT32_MAX - 1, DATA_FIRST + 300, 1);
	expect_hole(f, UINT32_MAX, 1);
	uint64_t X = DATA_FIRST + 1000;
	assert_int_equal(ins(f, UINT32_MAX - 2, X, 2), -EEXIST);
	assert_int_equal(ins(f, UINT32_MAX - 1, X, 2), -EFBIG);
	/* Many extents far out, enough for a few levels. */
	for (uint32_t i = 0; i < 3000; i++)
		map_at(f, UINT32_MAX - 100000 + 2 * i, DATA_FIRST + 1000 + 2 * i, 1);
	expect_mapped(f, UINT32_MAX - 100000 + 2 * 1234, DATA_FIRST + 1000 + 2 * 1234, 1);
	expect_hole(f, UINT32_MAX - 100000 + 2 * 1234 + 1, 1);
	expect_hole(f, UINT32_MAX - 100000 + 6000, (UINT32_MAX - 10) - (UINT32_MAX - 100000 + 6000));
	check_tree_quick(f);
	assert_int_equal(trunc_to(f, 1u << 31), 0);
	expect_mapped(f, tib, DATA_FIRST + 10, 100);
	expect_hole(f, tib + 100, UINT32_MAX - tib - 100);
	assert_int_equal(f->m->data_used, 101);
	check_tree_quick(f);
	assert_int_equal(f->root.eh.depth, 0);
}

/* ---- model-based random test ---------------------------------------------------- */

#define MODEL_L (1u << 17)

static uint32_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

struct model {
	uint64_t *map; /* pblk of each lblk in [0, MODEL_L), 0 = hole */
	uint64_t mapped;
};

static void model_verify(struct fx *f, const struct model *md, unsigned *max_depth)
{
	struct tree_info ti;
	check_tree(f, &ti);
	assert_int_equal(ti.mapped, md->mapped);
	for (size_t i = 0; i < ti.n; i++) {
		const struct ank_extent *e = &ti.ext[i];
		assert_true((uint64_t)e->lblk + e->len <= MODEL_L);
		for (uint32_t k = 0; k < e->len; k++)
			assert_int_equal(md->map[e->lblk + k], e->pblk + k);
	}
	if (ti.depth > *max_depth)
		*max_depth = ti.depth;
	ti_free(&ti);
}

static void model_lookup(struct fx *f, const struct model *md, uint32_t lblk)
{
	uint64_t p;
	uint32_t l;
	int rc = look(f, lblk, &p, &l);
	uint64_t want = lblk < MODEL_L ? md->map[lblk] : 0;
	if (want) {
		assert_int_equal(rc, 1);
		assert_int_equal(p, want);
		assert_true(l >= 1 && l <= MAXLEN);
		for (uint32_t k = 0; k < l; k++)
			assert_int_equal(md->map[lblk + k], want + k);
		return;
	}
	assert_int_equal(rc, 0);
	uint64_t next = lblk;
	while (next < MODEL_L && !md->map[next])
		next++;
	if (next >= MODEL_L)
		next = UINT32_MAX;
	assert_int_equal(l, next > lblk ? next - lblk : 1);
}

/* ops: operations; trunc: per mille of them that truncate; merge: percent of
 * inserts placed right after the previous block (to merge). */
static void run_model(struct fx *f, uint64_t seed, unsigned ops, unsigned trunc, unsigned merge,
		      unsigned *max_depth)
{
	struct model md = {.map = calloc(MODEL_L, sizeof(uint64_t))};
	assert_non_null(md.map);
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	print_message("seed %llu\n", (unsigned long long)seed);
	for (unsigned op = 0; op < ops; op++) {
		unsigned r = rng_next(&s) % 1000;
		if (r < 620) {
			unsigned r2 = rng_next(&s) % 100;
			uint32_t len = r2 < 70 ? 1 + rng_next(&s) % 8
				       : r2 < 97 ? 1 + rng_next(&s) % 300
						 : 1 + rng_next(&s) % (3 * MAXLEN);
			if (len > MODEL_L)
				len = MODEL_L;
			uint32_t lblk = rng_next(&s) % (MODEL_L - len + 1);
			uint64_t goal = DATA_FIRST + rng_next(&s) % DATA_COUNT;
			if (rng_next(&s) % 100 < merge && lblk > 0 && md.map[lblk - 1])
				goal = md.map[lblk - 1] + 1;
			else if (rng_next(&s) % 4 == 0 && lblk + len < MODEL_L && md.map[lblk + len] &&
				 md.map[lblk + len] > DATA_FIRST + len)
				goal = md.map[lblk + len] - len;
			uint64_t pblk;
			if (!data_find(f->m, goal, len, &pblk))
				continue;
			data_take(f->m, pblk, len);
			bool overlap = false;
			for (uint32_t k = 0; k < len && !overlap; k++)
				overlap = md.map[lblk + k] != 0;
			bool inject = false;
			if (rng_next(&s) % 20 == 0) {
				f->m->alloc_budget = rng_next(&s) % 2;
				inject = true;
			} else if (rng_next(&s) % 40 == 0) {
				f->m->new_budget = rng_next(&s) % 2;
				inject = true;
			}
			int rc = ins(f, lblk, pblk, len);
			f->m->alloc_budget = f->m->new_budget = -1;
			if (overlap) {
				assert_int_equal(rc, -EEXIST);
			} else if (rc == 0) {
				for (uint32_t k = 0; k < len; k++)
					md.map[lblk + k] = pblk + k;
				md.mapped += len;
			} else {
				assert_true(inject);
				assert_true(rc == -ENOSPC || rc == -ENOMEM);
			}
			if (rc != 0)
				data_release(f->m, pblk, len);
		} else if (r < 620 + trunc) {
			uint32_t from = rng_next(&s) % 5 == 0 ? rng_next(&s) % MODEL_L
							      : MODEL_L - rng_next(&s) % (MODEL_L / 16);
			assert_int_equal(trunc_to(f, from), 0);
			for (uint32_t k = from; k < MODEL_L; k++)
				if (md.map[k]) {
					md.map[k] = 0;
					md.mapped--;
				}
		} else {
			uint32_t lblk = rng_next(&s) % 50 == 0 ? UINT32_MAX - rng_next(&s) % 3
							       : rng_next(&s) % (MODEL_L + 100);
			model_lookup(f, &md, lblk);
		}
		if (op % 250 == 249)
			model_verify(f, &md, max_depth);
	}
	model_verify(f, &md, max_depth);
	assert_int_equal(trunc_to(f, 0), 0);
	check_tree_quick(f);
	assert_int_equal(f->m->nodes_used, 0);
	assert_int_equal(f->m->data_used, 0);
	assert_int_equal(f->root.eh.depth, 0);
	assert_int_equal(f->root.eh.entries, 0);
	free(md.map);
}

static uint64_t base_seed(void)
{
	const char *env = getenv("ANK_TEST_SEED");
	return env ? strtoull(env, NULL, 0) : 20261121;
}

static void random_insert_truncate_against_model(void **state)
{
	struct fx *f = *state;
	unsigned max_depth = 0;
	uint64_t base = base_seed();
	for (uint64_t i = 0; i < 20; i++)
		run_model(f, base + i, 2000, 30, 50, &max_depth);
	print_message("deepest tree: %u\n", max_depth);
}

static void long_random_run_against_model_reaches_depth_2(void **state)
{
	struct fx *f = *state;
	unsigned max_depth = 0;
	uint64_t base = base_seed() + 1000;
	for (uint64_t i = 0; i < 2; i++)
		run_model(f, base + i, 25000, 2, 20, &max_depth);
	print_message("deepest tree: %u\n", max_depth);
	assert_true(max_depth >= 2);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(empty_tree_is_one_hole_to_the_end),
		T(invalid_arguments_are_rejected),
		T(sequential_appends_merge_into_one_extent),
		T(long_run_is_split_into_max_len_extents),
		T(merges_with_right_and_with_both_neighbours),
		T(insert_over_mapped_block_is_eexist),
		T(lookup_in_hole_reports_distance_to_next_extent),
		T(fragmented_file_of_100000_extents_maps_every_block),
		T(contiguous_blocks_with_scattered_pblk_fill_nodes),
		T(truncate_middle_frees_tail_blocks_and_keeps_head),
		T(truncate_to_zero_frees_all_nodes_and_collapses_root),
		T(truncate_collapses_tree_that_fits_in_root),
		T(truncate_beyond_end_changes_nothing),
		T(punch_matches_a_model_of_the_map),
		T(insert_without_space_leaves_tree_unchanged),
		T(long_insert_failure_removes_pieces_already_inserted),
		T(corrupted_node_checksum_is_euclean),
		T(damaged_nodes_are_euclean_and_tree_unchanged),
		T(damaged_root_is_rejected),
		T(io_errors_release_every_pin),
		T(walk_visits_extents_in_order),
		T(large_file_beyond_1_tib_maps),
		T(random_insert_truncate_against_model),
		T(long_random_run_against_model_reaches_depth_2),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
