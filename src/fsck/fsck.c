/*
 * fsck.c - the offline consistency checker, independent of the file system
 * code: it parses every structure itself, through the block device only.
 *
 * The volume is judged as journal replay would leave it (committed journal
 * transactions overlay the device in memory). Passes:
 *   1. inode table: checksum, self number, mode, extent tree (structure,
 *      data-region bounds, no block claimed twice), size and block counts;
 *   2. directory tree from the root (breadth first, each directory entered
 *      once): block tails and checksums, record tiling, names, duplicates,
 *      targets, file types, one entry per directory, parent fields;
 *   3. orphan list; 4. link counts; 5. unreachable inodes;
 *   6. both bitmaps against reachability; 7. superblock free counts.
 * Check mode never writes. Repair mode (see fsck.h) keeps its changes in the
 * block map and writes them home at the end, superblock last.
 *
 * Memory: a few bytes per inode and a few bits per block; one directory's
 * names at a time. Every loop over on-disk data is bounded.
 *
 * Not done here: moving unreachable inodes to a lost+found directory (they
 * are freed), repairing a corrupt superblock (reported, exit 8).
 */
#include "fsck.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "../bdev/bdev.h"
#include "../util/common.h"

/* The name bytes follow the 12-byte record header. */
#define DE_NAME(de) ((const char *)(de) + sizeof(struct ank_dirent))

#define FSCK_MAX_LINES 2000u    /* problem lines printed before going silent */
#define FSCK_READ_CHUNK 64u     /* blocks per read of the inode table */
#define FSCK_DIR_CHUNK 16u      /* directory blocks per read */

/* ------------------------------------------------------------------------ */
/* Block map                                                                */

static size_t map_hash(uint64_t blk, size_t cap)
{
	blk ^= blk >> 33;
	blk *= 0xff51afd7ed558ccdull;
	blk ^= blk >> 33;
	return (size_t)blk & (cap - 1);
}

static struct fsck_map_ent *map_find(struct fsck_map *m, uint64_t blk)
{
	if (!m->cap)
		return NULL;
	for (size_t i = map_hash(blk, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->ents[i].data)
			return NULL;
		if (m->ents[i].blk == blk)
			return &m->ents[i];
	}
}

static int map_grow(struct fsck_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 256;
	struct fsck_map_ent *ne = calloc(ncap, sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->ents[i].data)
			continue;
		size_t j = map_hash(m->ents[i].blk, ncap);
		while (ne[j].data)
			j = (j + 1) & (ncap - 1);
		ne[j] = m->ents[i];
	}
	free(m->ents);
	m->ents = ne;
	m->cap = ncap;
	return 0;
}

/* Entry for blk, created (with an uninitialised image) when absent. */
static int map_insert(struct fsck_map *m, uint64_t blk, struct fsck_map_ent **out, bool *created)
{
	struct fsck_map_ent *e = map_find(m, blk);

	*created = false;
	if (!e) {
		if ((m->used + 1) * 2 > m->cap) {
			int rc = map_grow(m);
			if (rc < 0)
				return rc;
		}
		uint8_t *data = ank_aligned_alloc(ANK_BLOCK_SIZE);
		if (!data)
			return -ENOMEM;
		size_t i = map_hash(blk, m->cap);
		while (m->ents[i].data)
			i = (i + 1) & (m->cap - 1);
		e = &m->ents[i];
		e->blk = blk;
		e->data = data;
		e->dirty = 0;
		m->used++;
		*created = true;
	}
	*out = e;
	return 0;
}

static void map_free(struct fsck_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->ents[i].data);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------ */
/* Volume view                                                              */

int fsck_vol_open(struct fsck_vol *v, struct bdev *dev, char *why, size_t whylen)
{
	uint8_t *blk;
	int rc;

	memset(v, 0, sizeof(*v));
	v->dev = dev;
	snprintf(why, whylen, "unknown");
	if (!dev || dev->nblocks < 1) {
		snprintf(why, whylen, "device is empty");
		return -EUCLEAN;
	}
	blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	v->walkbuf = ank_aligned_alloc((size_t)ANK_EXTENT_MAX_DEPTH * ANK_BLOCK_SIZE);
	if (!blk || !v->walkbuf) {
		free(blk);
		return -ENOMEM;
	}
	rc = bdev_read(dev, 0, 1, blk);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read block 0: %s", strerror(-rc));
		goto out;
	}
	memcpy(&v->sb, blk, sizeof(v->sb));
	const struct ank_super *sb = &v->sb;
	if (sb->magic != ANK_SUPER_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%08x (not an ananke volume)", sb->magic);
		rc = -EUCLEAN;
	} else if (sb->checksum != ank_super_csum(sb)) {
		snprintf(why, whylen, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 sb->checksum, ank_super_csum(sb));
		rc = -EUCLEAN;
	} else if (sb->version != ANK_FORMAT_VERSION) {
		snprintf(why, whylen, "unknown format version %u", sb->version);
		rc = -EUCLEAN;
	} else {
		rc = ank_super_validate(sb, dev->nblocks);
		if (rc == -EOPNOTSUPP)
			snprintf(why, whylen, "unknown incompatible features 0x%x",
				 sb->feature_incompat & ~ANK_FEATURE_INCOMPAT_SUPP);
		else if (rc < 0)
			snprintf(why, whylen, "inconsistent geometry or fields (block count %llu, "
				 "device %llu blocks)", (unsigned long long)sb->block_count,
				 (unsigned long long)dev->nblocks);
	}
out:
	free(blk);
	return rc;
}

static int overlay_store(void *arg, uint64_t seq, uint64_t home, const void *image)
{
	struct fsck_vol *v = arg;
	struct fsck_map_ent *e;
	bool created;
	int rc = map_insert(&v->map, home, &e, &created);

	(void)seq;
	if (rc < 0)
		return rc;
	memcpy(e->data, image, ANK_BLOCK_SIZE);
	return 0;
}

/* The journaled superblock may only change fields that do not move the
 * regions: same geometry as the one that located the journal. */
static bool same_geometry(const struct ank_super *a, const struct ank_super *b)
{
	return a->block_count == b->block_count && a->inode_count == b->inode_count &&
	       a->journal_start == b->journal_start && a->journal_blocks == b->journal_blocks &&
	       a->ibitmap_start == b->ibitmap_start && a->ibitmap_blocks == b->ibitmap_blocks &&
	       a->bbitmap_start == b->bbitmap_start && a->bbitmap_blocks == b->bbitmap_blocks &&
	       a->itable_start == b->itable_start && a->itable_blocks == b->itable_blocks &&
	       a->data_start == b->data_start;
}

int fsck_vol_load_journal(struct fsck_vol *v)
{
	v->jh_rc = jscan_read_header(v->dev, &v->sb, &v->jh);
	if (v->jh_rc == -EIO || v->jh_rc == -ENOMEM)
		return v->jh_rc;
	if (v->jh_rc < 0) {
		v->js_rc = v->jh_rc;
		return 0;
	}
	v->js_rc = jscan_scan_from(v->dev, &v->sb, &v->jh, overlay_store, v, &v->js);
	if (v->js_rc < 0 && v->js_rc != -EUCLEAN)
		return v->js_rc;

	/* The superblock is journaled too: its newest committed image wins,
	 * provided it is valid and describes the same layout. */
	struct fsck_map_ent *e = map_find(&v->map, 0);
	if (e) {
		struct ank_super cand;
		memcpy(&cand, e->data, sizeof(cand));
		if (cand.magic == ANK_SUPER_MAGIC && cand.checksum == ank_super_csum(&cand) &&
		    ank_super_validate(&cand, v->dev->nblocks) == 0 && same_geometry(&cand, &v->sb)) {
			v->sb = cand;
			v->sb_journaled = true;
		} else {
			/* Ignore it: replay writes the current block 0 back. */
			int rc = bdev_read(v->dev, 0, 1, e->data);
			if (rc < 0)
				return rc;
			v->sb_image_bad = true;
		}
	}
	return 0;
}

void fsck_vol_close(struct fsck_vol *v)
{
	map_free(&v->map);
	free(v->walkbuf);
	v->walkbuf = NULL;
}

int fsck_vol_read(struct fsck_vol *v, uint64_t blk, uint32_t n, void *buf)
{
	int rc;

	if (n == 0 || blk >= v->sb.block_count || n > v->sb.block_count - blk)
		return -EINVAL;
	if (((uintptr_t)buf & (ANK_BLOCK_SIZE - 1)) == 0) {
		rc = bdev_read(v->dev, blk, n, buf);
	} else {
		uint8_t *tmp = ank_aligned_alloc((size_t)n * ANK_BLOCK_SIZE);
		if (!tmp)
			return -ENOMEM;
		rc = bdev_read(v->dev, blk, n, tmp);
		if (rc == 0)
			memcpy(buf, tmp, (size_t)n * ANK_BLOCK_SIZE);
		free(tmp);
	}
	if (rc < 0)
		return rc;
	if (v->map.used) {
		for (uint32_t i = 0; i < n; i++) {
			struct fsck_map_ent *e = map_find(&v->map, blk + i);
			if (e)
				memcpy((uint8_t *)buf + (size_t)i * ANK_BLOCK_SIZE, e->data, ANK_BLOCK_SIZE);
		}
	}
	return 0;
}

int fsck_vol_get(struct fsck_vol *v, uint64_t blk, bool dirty, uint8_t **data)
{
	struct fsck_map_ent *e;
	bool created;
	int rc;

	if (blk >= v->sb.block_count)
		return -EINVAL;
	rc = map_insert(&v->map, blk, &e, &created);
	if (rc < 0)
		return rc;
	if (created) {
		rc = bdev_read(v->dev, blk, 1, e->data);
		if (rc < 0) {
			/* Leave a zero image rather than garbage; the caller fails. */
			memset(e->data, 0, ANK_BLOCK_SIZE);
			return rc;
		}
	}
	if (dirty)
		e->dirty = 1;
	*data = e->data;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int fsck_vol_writeback(struct fsck_vol *v)
{
	struct fsck_map *m = &v->map;
	uint64_t *list = NULL;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->ents[i].data && m->ents[i].dirty)
			n++;
	if (n == 0)
		return 0;
	list = malloc(n * sizeof(*list));
	if (!list)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < m->cap; i++)
		if (m->ents[i].data && m->ents[i].dirty)
			list[n++] = m->ents[i].blk;
	qsort(list, n, sizeof(*list), cmp_u64);

	struct bdev_io ios[64];
	unsigned nio = 0;
	for (size_t i = 0; i < n; i++) {
		struct fsck_map_ent *e = map_find(m, list[i]);
		ios[nio++] = (struct bdev_io){ .op = BDEV_WRITE, .blk = e->blk, .nblk = 1,
					       .buf = e->data };
		if (nio == ANK_ARRAY_SIZE(ios) || i + 1 == n) {
			rc = bdev_submit(v->dev, ios, nio);
			if (rc < 0)
				goto out;
			nio = 0;
		}
		e->dirty = 0;
	}
	rc = bdev_flush(v->dev);
out:
	free(list);
	return rc;
}

int fsck_vol_read_inode(struct fsck_vol *v, uint64_t ino, struct ank_dinode *di)
{
	uint8_t *blk;
	int rc;

	if (ino >= v->sb.inode_count)
		return -EINVAL;
	blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	rc = fsck_vol_read(v, ank_inode_block(&v->sb, ino), 1, blk);
	if (rc == 0)
		memcpy(di, blk + ank_inode_offset(&v->sb, ino), sizeof(*di));
	free(blk);
	return rc;
}

const char *fsck_inode_problem(const struct ank_super *sb, const struct ank_dinode *di,
			       uint64_t ino)
{
	if (di->checksum != ank_dinode_csum(di))
		return "checksum mismatch";
	if (di->ino != ino)
		return "self number does not match its slot";
	uint8_t ft = ank_mode_to_ft(di->mode);
	if (ft == ANK_FT_UNKNOWN)
		return "mode is no file type the format knows";
	if ((ft == ANK_FT_FIFO || ft == ANK_FT_SOCK || ft == ANK_FT_CHRDEV || ft == ANK_FT_BLKDEV) &&
	    (di->size != 0 || di->blocks != (di->xattr_block ? 1u : 0u) || di->eh.entries != 0))
		return "special file (FIFO, socket or device) with data";
	/* (device numbers on another type: check_inode clears them) */
	if (ank_mode_to_ft(di->mode) == ANK_FT_SYMLINK &&
	    (di->size == 0 || di->size >= ANK_SYMLINK_MAX))
		return "symbolic link whose target length is out of range";
	return ank_link_is_inline(sb, di) ? ank_link_inline_problem(di) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Extent tree walk                                                         */

struct walk {
	struct fsck_vol *v;
	uint64_t ino;
	int (*leaf)(void *arg, const struct ank_extent *e);
	int (*node)(void *arg, uint64_t pblk, unsigned depth);
	void *arg;
	char *why;
	size_t whylen;
	uint64_t next_lblk;   /* leaves must start at or after this */
	uint64_t nodes_left;  /* bound on node reads */
};

static int walk_bad(struct walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int walk_bad(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->why, w->whylen, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

static bool in_data(const struct ank_super *sb, uint64_t pblk, uint64_t len)
{
	return pblk >= sb->data_start && pblk < sb->block_count && len <= sb->block_count - pblk;
}

/* Entries of one node (root or block) at `depth`, covering [lo, hi). */
static int walk_node(struct walk *w, const void *entries, unsigned n, unsigned depth,
		     uint64_t lo, uint64_t hi)
{
	const struct ank_super *sb = &w->v->sb;
	int rc;

	if (depth == 0) {
		const struct ank_extent *e = entries;
		for (unsigned i = 0; i < n; i++) {
			uint64_t end = (uint64_t)e[i].lblk + e[i].len;
			if (e[i].len == 0 || e[i].len > ANK_EXTENT_MAX_LEN)
				return walk_bad(w, "extent at lblk %u has length %u", e[i].lblk, e[i].len);
			if (e[i].lblk < w->next_lblk || e[i].lblk < lo)
				return walk_bad(w, "extent at lblk %u out of order or overlapping", e[i].lblk);
			if (end > hi)
				return walk_bad(w, "extent at lblk %u extends past its node's range", e[i].lblk);
			if (!in_data(sb, e[i].pblk, e[i].len))
				return walk_bad(w, "extent at lblk %u maps blocks %llu+%u outside the data region",
						e[i].lblk, (unsigned long long)e[i].pblk, e[i].len);
			w->next_lblk = end;
			rc = w->leaf ? w->leaf(w->arg, &e[i]) : 0;
			if (rc)
				return rc;
		}
		return 0;
	}

	struct ank_extent_index ix[ANK_EXTENT_NODE_ENTRIES];
	uint8_t *buf = w->v->walkbuf + (size_t)(depth - 1) * ANK_BLOCK_SIZE;
	memcpy(ix, entries, (size_t)n * sizeof(ix[0]));
	for (unsigned i = 0; i < n; i++) {
		if (ix[i].lblk < lo || ix[i].lblk >= hi || (i > 0 && ix[i].lblk <= ix[i - 1].lblk))
			return walk_bad(w, "index entry at lblk %u out of order", ix[i].lblk);
		if (ix[i].reserved != 0)
			return walk_bad(w, "index entry at lblk %u has reserved bits set", ix[i].lblk);
		if (!in_data(sb, ix[i].child, 1))
			return walk_bad(w, "index entry at lblk %u points to block %llu outside the data region",
					ix[i].lblk, (unsigned long long)ix[i].child);
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t clo = ix[i].lblk;
		uint64_t chi = i + 1 < n ? ix[i + 1].lblk : hi;
		uint64_t child = ix[i].child;

		if (w->nodes_left == 0)
			return walk_bad(w, "extent tree has more nodes than the volume has blocks");
		w->nodes_left--;
		rc = fsck_vol_read(w->v, child, 1, buf);
		if (rc < 0)
			return rc;
		const struct ank_extent_header *h = (const void *)buf;
		if (h->magic != ANK_EXTENT_MAGIC)
			return walk_bad(w, "node block %llu: bad magic", (unsigned long long)child);
		if (h->checksum != ank_extent_node_csum(buf))
			return walk_bad(w, "node block %llu: checksum mismatch", (unsigned long long)child);
		if (h->max != ANK_EXTENT_NODE_ENTRIES || h->entries > h->max)
			return walk_bad(w, "node block %llu: bad entry count", (unsigned long long)child);
		if (h->depth != depth - 1)
			return walk_bad(w, "node block %llu: depth %u, expected %u",
					(unsigned long long)child, h->depth, depth - 1);
		if (h->owner_ino != (uint32_t)w->ino)
			return walk_bad(w, "node block %llu: owned by inode %u",
					(unsigned long long)child, h->owner_ino);
		/* Both entry kinds start with their uint32 lblk. */
		uint32_t first;
		memcpy(&first, buf + sizeof(*h), sizeof(first));
		if (h->entries == 0)
			return walk_bad(w, "node block %llu: empty", (unsigned long long)child);
		if (first != ix[i].lblk)
			return walk_bad(w, "node block %llu: first key %u, parent's key %u",
					(unsigned long long)child, first, ix[i].lblk);
		if (w->node) {
			rc = w->node(w->arg, child, depth - 1);
			if (rc)
				return rc;
		}
		/* buf stays valid: deeper levels use lower buffers. */
		rc = walk_node(w, buf + sizeof(*h), h->entries, depth - 1, clo, chi);
		if (rc)
			return rc;
	}
	return 0;
}

int fsck_vol_walk(struct fsck_vol *v, uint64_t ino, const struct ank_dinode *di,
		  int (*leaf)(void *arg, const struct ank_extent *e),
		  int (*node)(void *arg, uint64_t pblk, unsigned depth), void *arg,
		  char *why, size_t whylen)
{
	struct walk w = { .v = v, .ino = ino, .leaf = leaf, .node = node, .arg = arg,
			  .why = why, .whylen = whylen, .next_lblk = 0,
			  .nodes_left = v->sb.block_count };
	const struct ank_extent_header *eh = &di->eh;

	if (whylen)
		why[0] = 0;
	if (ank_link_is_inline(&v->sb, di))
		return 0; /* (the map area holds the link's target: no blocks) */
	if (eh->magic != ANK_EXTENT_MAGIC)
		return walk_bad(&w, "extent root: bad magic");
	if (eh->max != ANK_EXTENT_ROOT_ENTRIES || eh->entries > eh->max)
		return walk_bad(&w, "extent root: bad entry count");
	if (eh->depth > ANK_EXTENT_MAX_DEPTH)
		return walk_bad(&w, "extent root: depth %u too large", eh->depth);
	if (eh->owner_ino != 0 || eh->checksum != 0)
		return walk_bad(&w, "extent root: owner/checksum fields not zero");
	if (eh->depth > 0 && eh->entries == 0)
		return walk_bad(&w, "extent root: empty index root");
	/* Logical blocks 0 .. 2^32-2 can be mapped. */
	return walk_node(&w, di->extents, eh->entries, eh->depth, 0, UINT32_MAX);
}

/* ------------------------------------------------------------------------ */
/* Bitmaps                                                                  */

static inline bool bm_test(const uint8_t *m, uint64_t i)
{
	return (m[i >> 3] >> (i & 7)) & 1;
}

static inline void bm_set(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline void bm_clear(uint8_t *m, uint64_t i)
{
	m[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

/* ------------------------------------------------------------------------ */
/* Checker state                                                            */

enum {
	T_FREE = 0,
	T_REG = 1,
	T_DIR = 2,
	T_OTHER = 3,
	T_MASK = 3,
	F_BAD = 0x04,     /* allocated but unusable (corrupt) */
	F_REACH = 0x08,   /* reachable from the root */
	F_ORPHAN = 0x10,  /* valid member of the orphan list */
	F_LINK = 0x20,    /* T_REG that is a symbolic link (its target is its data) */
};

struct fsck {
	struct fsck_vol v;
	const struct fsck_options *opt;
	struct fsck_report *rep;
	FILE *out;
	bool repair;
	uint64_t lines;
	uint64_t ninodes, nblocks;
	uint8_t *ist;           /* per inode: T_* | F_* */
	uint8_t *ft;            /* per inode: its ANK_FT_* (what entries must say) */
	uint32_t *nlink;        /* on-disk link count */
	uint32_t *found;        /* entries naming the inode */
	uint32_t *subdirs;      /* accepted subdirectory entries (directories) */
	uint64_t *parent_disk;  /* directories: parent field */
	uint64_t *parent_found; /* directories: directory holding its entry */
	uint8_t *claimed;       /* data-region blocks claimed by usable inodes */
	uint8_t *ibm, *bbm;     /* on-disk bitmaps, less what orphan processing
	                           legitimately frees (the reference for reports) */
	uint8_t *ibm_orig, *bbm_orig; /* on-disk bitmaps as read */
	uint8_t *ibm_want, *bbm_want;
	uint64_t *queue;
	uint64_t orphans;
	bool root_reinit;
};

static bool usable(const struct fsck *f, uint64_t ino)
{
	uint8_t t = f->ist[ino] & T_MASK;
	return (t == T_REG || t == T_DIR) && !(f->ist[ino] & F_BAD);
}

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	f->rep->problems++;
	if (f->repair)
		f->rep->repaired++;
	if (!f->out)
		return;
	f->lines++;
	if (f->lines > FSCK_MAX_LINES) {
		if (f->lines == FSCK_MAX_LINES + 1)
			fprintf(f->out, "fsck: (further problems are counted but not listed)\n");
		return;
	}
	fputs("fsck: ", f->out);
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

static void info(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->out || f->opt->quiet)
		return;
	fputs("info: ", f->out);
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

/* A directory entry name made printable for messages. */
static const char *show_name(const char *name, unsigned len, char *buf, size_t buflen)
{
	size_t j = 0;
	for (unsigned i = 0; i < len && j + 5 < buflen; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf[j++] = (char)c;
		} else {
			snprintf(buf + j, buflen - j, "\\x%02x", c);
			j += 4;
		}
	}
	buf[j] = 0;
	return buf;
}

/* Rewrite inode `ino` with di (checksum recomputed). Repair mode only. */
static int inode_store(struct fsck *f, uint64_t ino, struct ank_dinode *di)
{
	uint8_t *blk;
	int rc = fsck_vol_get(&f->v, ank_inode_block(&f->v.sb, ino), true, &blk);
	if (rc < 0)
		return rc;
	di->checksum = ank_dinode_csum(di);
	memcpy(blk + ank_inode_offset(&f->v.sb, ino), di, sizeof(*di));
	return 0;
}

/* The attribute area of inode ino's record (INODE_XATTRS), as read in
 * pass 1: sound, or reported and, in repair mode, emptied (the
 * attributes in it are lost). */
static int check_inode_area(struct fsck *f, uint64_t ino, bool in_use, const uint8_t *area)
{
	const char *why = NULL;
	if (!in_use) {
		for (unsigned k = 0; k < ANK_INODE_XATTR_SIZE && !why; k++)
			if (area[k])
				why = "not zero in a free inode";
	} else if (ank_xattr_check(area, ANK_INODE_XATTR_SIZE, ino, &why) < 0 && !why) {
		why = "damaged";
	}
	if (!why)
		return 0;
	problem(f, "inode %llu: extended attribute area %s; emptied", (unsigned long long)ino,
		why);
	if (!f->repair)
		return 0;
	uint8_t *blk;
	int rc = fsck_vol_get(&f->v, ank_inode_block(&f->v.sb, ino), true, &blk);
	if (rc < 0)
		return rc;
	memset(blk + ank_inode_offset(&f->v.sb, ino) + ANK_INODE_SIZE, 0, ANK_INODE_XATTR_SIZE);
	return 0;
}

/* Free inode `ino` on disk: everything zero but its number and generation. */
static int inode_free(struct fsck *f, uint64_t ino)
{
	struct ank_dinode di;
	int rc = fsck_vol_read_inode(&f->v, ino, &di);
	if (rc < 0)
		return rc;
	uint32_t gen = di.generation;
	memset(&di, 0, sizeof(di));
	di.generation = gen;
	di.ino = ino;
	rc = inode_store(f, ino, &di);
	if (rc < 0 || !ank_has_inode_xattrs(&f->v.sb))
		return rc;
	uint8_t *blk; /* (and its attribute area) */
	rc = fsck_vol_get(&f->v, ank_inode_block(&f->v.sb, ino), true, &blk);
	if (rc == 0)
		memset(blk + ank_inode_offset(&f->v.sb, ino) + ANK_INODE_SIZE, 0, ANK_INODE_XATTR_SIZE);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Pass 1: inode table                                                      */

enum { CL_CLAIM, CL_UNCLAIM, CL_RELEASE };

struct claim {
	struct fsck *f;
	int mode;
	uint8_t *also;        /* CL_RELEASE: clear the bits here too (or NULL) */
	bool is_dir;
	uint64_t budget;      /* CL_UNCLAIM: blocks left to unclaim */
	uint64_t claimed;     /* CL_CLAIM: blocks claimed so far */
	uint64_t dup_blk;
	uint64_t hole_at;
	uint64_t data, nodes, maxend, next_dir;
};

#define CL_STOP_DUP 1
#define CL_STOP_HOLE 2
#define CL_STOP_BUDGET 3

static int claim_range(struct claim *c, uint64_t pblk, uint64_t len)
{
	uint8_t *map = c->f->claimed;

	for (uint64_t b = pblk; b < pblk + len; b++) {
		switch (c->mode) {
		case CL_CLAIM:
			if (bm_test(map, b)) {
				c->dup_blk = b;
				return CL_STOP_DUP;
			}
			bm_set(map, b);
			c->claimed++;
			break;
		case CL_UNCLAIM:
			if (c->budget == 0)
				return CL_STOP_BUDGET;
			bm_clear(map, b);
			c->budget--;
			break;
		default:
			bm_clear(map, b);
			if (c->also)
				bm_clear(c->also, b);
			break;
		}
	}
	return 0;
}

static int claim_leaf(void *arg, const struct ank_extent *e)
{
	struct claim *c = arg;

	if (c->mode == CL_CLAIM && c->is_dir && e->lblk != c->next_dir) {
		c->hole_at = c->next_dir;
		return CL_STOP_HOLE;
	}
	int rc = claim_range(c, e->pblk, e->len);
	if (rc)
		return rc;
	c->data += e->len;
	c->maxend = ANK_MAX(c->maxend, (uint64_t)e->lblk + e->len);
	c->next_dir = (uint64_t)e->lblk + e->len;
	return 0;
}

static int claim_node(void *arg, uint64_t pblk, unsigned depth)
{
	struct claim *c = arg;
	(void)depth;
	int rc = claim_range(c, pblk, 1);
	if (rc == 0)
		c->nodes++;
	return rc;
}

/* Inode ino's extended attribute block: 0 when it is sound and its own
 * (*why NULL), -EUCLEAN with *why when not, or -errno. */
static int xattr_block_sound(struct fsck *f, uint64_t ino, uint64_t blk, const char **why)
{
	*why = NULL;
	if (!in_data(&f->v.sb, blk, 1)) {
		*why = "outside the data region";
		return -EUCLEAN;
	}
	uint8_t *b = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!b)
		return -ENOMEM;
	int rc = fsck_vol_read(&f->v, blk, 1, b);
	if (rc == 0)
		rc = ank_xattr_block_check(b, ino, why);
	free(b);
	return rc;
}

/* Give back the blocks of a usable inode (it is being dropped). */
static int release_blocks(struct fsck *f, uint64_t ino, uint8_t *also)
{
	struct ank_dinode di;
	struct claim c = { .f = f, .mode = CL_RELEASE, .also = also };
	char why[160];
	int rc = fsck_vol_read_inode(&f->v, ino, &di);
	if (rc < 0)
		return rc;
	const char *xwhy;
	if (di.xattr_block && xattr_block_sound(f, ino, di.xattr_block, &xwhy) == 0) {
		bm_clear(f->claimed, di.xattr_block); /* (claimed only when sound) */
		if (also)
			bm_clear(also, di.xattr_block);
	}
	rc = fsck_vol_walk(&f->v, ino, &di, claim_leaf, claim_node, &c, why, sizeof(why));
	return rc == -EUCLEAN ? 0 : (rc < 0 ? rc : 0);
}

/* The physical block of a link's block 0 (a leaf callback). */
static int block0_leaf(void *arg, const struct ank_extent *e)
{
	if (e->lblk == 0)
		*(uint64_t *)arg = e->pblk;
	return 0;
}

/* Does the block-stored target of link `ino` hold a NUL among its `size`
 * bytes? 1 (or -EUCLEAN: its block cannot be found), 0, or -errno from the
 * device. */
static int link_target_has_nul(struct fsck *f, uint64_t ino, const struct ank_dinode *di)
{
	uint64_t pblk = 0;
	char why[160];
	int rc = fsck_vol_walk(&f->v, ino, di, block0_leaf, NULL, &pblk, why, sizeof(why));
	if (rc < 0)
		return rc;
	if (!pblk || di->size == 0 || di->size >= ANK_BLOCK_SIZE)
		return 1;
	uint8_t *blk = malloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	rc = fsck_vol_read(&f->v, pblk, 1, blk);
	if (rc == 0)
		rc = memchr(blk, '\0', (size_t)di->size) ? 1 : 0;
	free(blk);
	return rc;
}

/* Check one allocated inode. Returns 0 or -errno (operational). */
static int check_inode(struct fsck *f, uint64_t ino, const struct ank_dinode *di)
{
	const char *bad = fsck_inode_problem(&f->v.sb, di, ino);
	bool root_csum_only = false;
	char why[160];
	int rc;

	f->nlink[ino] = di->nlink;
	f->parent_disk[ino] = di->parent;
	uint8_t ft = ank_mode_to_ft(di->mode);
	/* (FIFOs, sockets and devices are checked as files without data) */
	uint8_t t = ft == ANK_FT_DIR ? T_DIR : ft != ANK_FT_UNKNOWN ? T_REG : T_OTHER;
	f->ist[ino] = t | (ft == ANK_FT_SYMLINK ? F_LINK : 0);
	f->ft[ino] = ft;

	/* The root is worth saving when only its checksum is off. */
	if (bad && ino == ANK_ROOT_INO && di->checksum != ank_dinode_csum(di) &&
	    di->ino == ino && t == T_DIR) {
		bad = NULL;
		root_csum_only = true;
	}
	if (bad) {
		f->ist[ino] |= F_BAD;
		problem(f, "inode %llu: %s", (unsigned long long)ino, bad);
		return 0;
	}

	struct claim c = { .f = f, .mode = CL_CLAIM, .is_dir = t == T_DIR };
	rc = fsck_vol_walk(&f->v, ino, di, claim_leaf, claim_node, &c, why, sizeof(why));
	if (rc < 0 && rc != -EUCLEAN)
		return rc;
	if (rc != 0) {
		if (rc == CL_STOP_DUP)
			problem(f, "inode %llu: block %llu is claimed by another inode too",
				(unsigned long long)ino, (unsigned long long)c.dup_blk);
		else if (rc == CL_STOP_HOLE)
			problem(f, "directory %llu: hole at block %llu", (unsigned long long)ino,
				(unsigned long long)c.hole_at);
		else
			problem(f, "inode %llu: extent tree: %s", (unsigned long long)ino, why);
		if (c.claimed) {
			struct claim u = { .f = f, .mode = CL_UNCLAIM, .budget = c.claimed };
			rc = fsck_vol_walk(&f->v, ino, di, claim_leaf, claim_node, &u, why, sizeof(why));
			if (rc < 0 && rc != -EUCLEAN)
				return rc;
		}
		f->ist[ino] |= F_BAD;
		return 0;
	}

	/* A symbolic link's target (under 4096 bytes) is its block 0 and
	 * nothing else, with no NUL among its bytes: without it, or with one,
	 * the link cannot be read, and is dropped. */
	bool mapped_bad = false, nul_bad = false;
	if ((f->ist[ino] & F_LINK) && !ank_link_is_inline(&f->v.sb, di)) {
		mapped_bad = c.data != 1 || c.maxend != 1;
		if (!mapped_bad) {
			rc = link_target_has_nul(f, ino, di);
			if (rc < 0 && rc != -EUCLEAN)
				return rc;
			nul_bad = rc != 0;
		}
	}
	if (mapped_bad || nul_bad) {
		if (nul_bad)
			problem(f, "inode %llu: symbolic link target with a NUL byte (or unreadable)",
				(unsigned long long)ino);
		else
			problem(f, "inode %llu: symbolic link with %llu blocks mapped (up to block %llu) "
				   "where its target needs block 0 alone",
				(unsigned long long)ino, (unsigned long long)c.data,
				(unsigned long long)c.maxend);
		if (c.claimed) {
			struct claim u = { .f = f, .mode = CL_UNCLAIM, .budget = c.claimed };
			rc = fsck_vol_walk(&f->v, ino, di, claim_leaf, claim_node, &u, why, sizeof(why));
			if (rc < 0 && rc != -EUCLEAN)
				return rc;
		}
		f->ist[ino] |= F_BAD;
		return 0;
	}

	struct ank_dinode fixed = *di;
	bool dirty = root_csum_only;
	if (root_csum_only)
		problem(f, "inode 1 (root): checksum mismatch");
	/* The extended attribute block: sound and nobody else's, or dropped
	 * (its attributes are lost; the block is left free). */
	uint64_t xblocks = 0;
	if (di->xattr_block) {
		const char *xwhy;
		rc = xattr_block_sound(f, ino, di->xattr_block, &xwhy);
		if (rc < 0 && rc != -EUCLEAN)
			return rc;
		if (rc == 0 && bm_test(f->claimed, di->xattr_block))
			xwhy = "claimed by another inode too";
		if (xwhy) {
			problem(f, "inode %llu: extended attribute block %u: %s; attributes dropped",
				(unsigned long long)ino, di->xattr_block, xwhy);
			fixed.xattr_block = 0;
			dirty = true;
		} else {
			bm_set(f->claimed, di->xattr_block);
			xblocks = 1;
		}
	}
	if (t == T_REG) {
		uint64_t lim = ANK_DIV_ROUND_UP(di->size, (uint64_t)ANK_BLOCK_SIZE);
		if (di->size > ANK_MAX_FILE_SIZE || c.maxend > lim) {
			problem(f, "inode %llu: size %llu but blocks are mapped up to block %llu",
				(unsigned long long)ino, (unsigned long long)di->size,
				(unsigned long long)c.maxend);
			fixed.size = c.maxend * ANK_BLOCK_SIZE;
			dirty = true;
		}
	} else if (di->size != c.data * ANK_BLOCK_SIZE) {
		problem(f, "directory %llu: size %llu, expected %llu (%llu blocks)",
			(unsigned long long)ino, (unsigned long long)di->size,
			(unsigned long long)(c.data * ANK_BLOCK_SIZE), (unsigned long long)c.data);
		fixed.size = c.data * ANK_BLOCK_SIZE;
		dirty = true;
	}
	uint8_t dft = ank_mode_to_ft(di->mode);
	if (dft != ANK_FT_CHRDEV && dft != ANK_FT_BLKDEV && (di->rdev_major || di->rdev_minor)) {
		problem(f, "inode %llu: device numbers on an inode that is no device",
			(unsigned long long)ino);
		fixed.rdev_major = fixed.rdev_minor = 0;
		dirty = true;
	}
	if (di->blocks != c.data + c.nodes + xblocks) {
		problem(f, "inode %llu: blocks field %llu, counted %llu", (unsigned long long)ino,
			(unsigned long long)di->blocks,
			(unsigned long long)(c.data + c.nodes + xblocks));
		fixed.blocks = c.data + c.nodes + xblocks;
		dirty = true;
	}
	if (dirty && f->repair)
		return inode_store(f, ino, &fixed);
	return 0;
}

static int pass_inodes(struct fsck *f)
{
	const struct ank_super *sb = &f->v.sb;
	uint8_t *buf = ank_aligned_alloc((size_t)FSCK_READ_CHUNK * ANK_BLOCK_SIZE);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t b = 0; b < sb->itable_blocks; b += FSCK_READ_CHUNK) {
		uint32_t n = (uint32_t)ANK_MIN((uint64_t)FSCK_READ_CHUNK, sb->itable_blocks - b);
		rc = fsck_vol_read(&f->v, sb->itable_start + b, n, buf);
		if (rc < 0)
			goto out;
		const uint32_t per = ank_inodes_per_block(sb), rec = ank_inode_rec_size(sb);
		for (uint64_t s = 0; s < (uint64_t)n * per; s++) {
			uint64_t ino = b * per + s;
			if (ino == 0 || ino >= f->ninodes)
				continue;
			struct ank_dinode di;
			memcpy(&di, buf + s * rec, sizeof(di));
			if (ank_has_inode_xattrs(sb)) {
				rc = check_inode_area(f, ino, di.mode != 0, buf + s * rec + ANK_INODE_SIZE);
				if (rc < 0)
					goto out;
			}
			if (di.mode == 0)
				continue;
			rc = check_inode(f, ino, &di);
			if (rc < 0)
				goto out;
		}
	}
out:
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Pass 2: the directory tree                                               */

/* Names of one directory, for duplicate detection. */
struct nameset {
	uint32_t *tab;      /* index+1 into ents, 0 = empty */
	size_t tabcap;
	struct ns_ent { uint64_t off; uint32_t hash; uint8_t len; } *ents;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
};

static uint32_t name_hash(const char *s, unsigned len)
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void ns_reset(struct nameset *s)
{
	if (s->tab)
		memset(s->tab, 0, s->tabcap * sizeof(*s->tab));
	s->n = 0;
	s->alen = 0;
}

static void ns_free(struct nameset *s)
{
	free(s->tab);
	free(s->ents);
	free(s->arena);
	memset(s, 0, sizeof(*s));
}

static int ns_rehash(struct nameset *s, size_t ncap)
{
	uint32_t *nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		size_t j = s->ents[i].hash & (ncap - 1);
		while (nt[j])
			j = (j + 1) & (ncap - 1);
		nt[j] = (uint32_t)(i + 1);
	}
	free(s->tab);
	s->tab = nt;
	s->tabcap = ncap;
	return 0;
}

/* 1 if the name is already present, 0 when added, -ENOMEM. */
static int ns_add(struct nameset *s, const char *name, unsigned len)
{
	uint32_t h = name_hash(name, len);
	int rc;

	if ((s->n + 1) * 2 > s->tabcap) {
		rc = ns_rehash(s, s->tabcap ? s->tabcap * 2 : 64);
		if (rc < 0)
			return rc;
	}
	size_t j = h & (s->tabcap - 1);
	for (; s->tab[j]; j = (j + 1) & (s->tabcap - 1)) {
		const struct ns_ent *e = &s->ents[s->tab[j] - 1];
		if (e->hash == h && e->len == len && !memcmp(s->arena + e->off, name, len))
			return 1;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct ns_ent *ne = realloc(s->ents, ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		s->ents = ne;
		s->cap = ncap;
	}
	if (s->alen + len > s->acap) {
		size_t ncap = ANK_MAX(s->acap * 2, s->alen + len + 4096);
		char *na = realloc(s->arena, ncap);
		if (!na)
			return -ENOMEM;
		s->arena = na;
		s->acap = ncap;
	}
	memcpy(s->arena + s->alen, name, len);
	s->ents[s->n] = (struct ns_ent){ .off = s->alen, .hash = h, .len = (uint8_t)len };
	s->alen += len;
	s->tab[j] = (uint32_t)(s->n + 1);
	s->n++;
	return 0;
}

struct dirwalk {
	struct fsck *f;
	uint64_t dir;
	struct nameset names;
	uint64_t qtail;
	struct ank_extent *runs;
	size_t nruns, runcap;
};

static int collect_run(void *arg, const struct ank_extent *e)
{
	struct dirwalk *dw = arg;
	if (dw->nruns == dw->runcap) {
		size_t ncap = dw->runcap ? dw->runcap * 2 : 16;
		struct ank_extent *nr = realloc(dw->runs, ncap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		dw->runs = nr;
		dw->runcap = ncap;
	}
	dw->runs[dw->nruns++] = *e;
	return 0;
}

static bool name_valid(const char *name, unsigned len)
{
	if (len == 0)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (unsigned i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == 0)
			return false;
	return true;
}

/* Judge one in-use record. Returns 1 when the entry must be dropped, 0 when
 * kept (its file_type may have been corrected in *de), -ENOMEM. */
static int check_entry(struct dirwalk *dw, uint64_t lblk, struct ank_dirent *de, bool *changed)
{
	struct fsck *f = dw->f;
	unsigned long long d = (unsigned long long)dw->dir;
	char shown[4 * ANK_NAME_MAX + 8];
	const char *nm = show_name(DE_NAME(de), de->name_len, shown, sizeof(shown));
	uint64_t ino = de->ino;
	int rc;

	if (!name_valid(DE_NAME(de), de->name_len)) {
		problem(f, "directory %llu block %llu: entry with invalid name \"%s\"", d,
			(unsigned long long)lblk, nm);
		return 1;
	}
	if (ino >= f->ninodes) {
		problem(f, "directory %llu: entry \"%s\" names inode %llu, out of range", d, nm,
			(unsigned long long)ino);
		return 1;
	}
	if ((f->ist[ino] & T_MASK) == T_FREE) {
		problem(f, "directory %llu: entry \"%s\" names free inode %llu", d, nm,
			(unsigned long long)ino);
		return 1;
	}
	if (!usable(f, ino)) {
		problem(f, "directory %llu: entry \"%s\" names corrupt inode %llu", d, nm,
			(unsigned long long)ino);
		return 1;
	}
	rc = ns_add(&dw->names, DE_NAME(de), de->name_len);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		problem(f, "directory %llu: duplicate entry \"%s\" (inode %llu)", d, nm,
			(unsigned long long)ino);
		return 1;
	}
	if ((f->ist[ino] & T_MASK) == T_DIR) {
		if (ino == ANK_ROOT_INO || f->found[ino]) {
			problem(f, "directory %llu: entry \"%s\" is a second name for directory %llu",
				d, nm, (unsigned long long)ino);
			return 1;
		}
		f->found[ino] = 1;
		f->parent_found[ino] = dw->dir;
		if (f->subdirs[dw->dir] < UINT32_MAX)
			f->subdirs[dw->dir]++;
		f->ist[ino] |= F_REACH;
		f->queue[dw->qtail++] = ino;
	} else {
		if (f->found[ino] < UINT32_MAX)
			f->found[ino]++;
		f->ist[ino] |= F_REACH;
	}
	uint8_t ft = (f->ist[ino] & T_MASK) == T_DIR ? ANK_FT_DIR : f->ft[ino];
	if (de->file_type != ft) {
		problem(f, "directory %llu: entry \"%s\" has file type %u, inode %llu is type %u", d,
			nm, de->file_type, (unsigned long long)ino, ft);
		de->file_type = ft;
		*changed = true;
	}
	return 0;
}

/* Check one directory block (buf, a private copy); in repair mode store the
 * corrected block in the map. */
static int check_dir_block(struct dirwalk *dw, uint64_t lblk, uint64_t pblk, uint8_t *buf)
{
	struct fsck *f = dw->f;
	unsigned long long d = (unsigned long long)dw->dir;
	struct ank_dir_tail *tail = (struct ank_dir_tail *)(buf + ANK_DIR_TAIL_OFF);
	bool changed = false;
	bool csum_bad = tail->magic != ANK_DIR_TAIL_MAGIC ||
			tail->checksum != ank_dir_block_csum(buf, dw->dir);
	uint32_t off = 0, last = UINT32_MAX;
	int rc;

	while (off < ANK_DIR_TAIL_OFF) {
		struct ank_dirent *de = (struct ank_dirent *)(buf + off);
		if (ANK_DIR_TAIL_OFF - off < sizeof(*de) || de->rec_len % 8 != 0 ||
		    de->rec_len < ANK_DIRENT_LEN(de->name_len) ||
		    de->rec_len > ANK_DIR_TAIL_OFF - off) {
			problem(f, "directory %llu block %llu: records do not tile the block (offset %u)",
				d, (unsigned long long)lblk, off);
			/* Keep the valid prefix: the last good record absorbs the rest. */
			if (last == UINT32_MAX) {
				memset(buf, 0, ANK_DIR_TAIL_OFF);
				de = (struct ank_dirent *)buf;
				de->rec_len = ANK_DIR_TAIL_OFF;
			} else {
				struct ank_dirent *prev = (struct ank_dirent *)(buf + last);
				prev->rec_len = (uint16_t)(ANK_DIR_TAIL_OFF - last);
			}
			changed = true;
			break;
		}
		if (de->ino != 0) {
			rc = check_entry(dw, lblk, de, &changed);
			if (rc < 0)
				return rc;
			if (rc == 1) {
				de->ino = 0;
				changed = true;
			}
		}
		last = off;
		off += de->rec_len;
	}
	if (csum_bad)
		problem(f, "directory %llu block %llu: %s", d, (unsigned long long)lblk,
			tail->magic != ANK_DIR_TAIL_MAGIC ? "bad tail magic" : "checksum mismatch");
	if ((changed || csum_bad) && f->repair) {
		uint8_t *img;
		tail->magic = ANK_DIR_TAIL_MAGIC;
		tail->checksum = ank_dir_block_csum(buf, dw->dir);
		rc = fsck_vol_get(&f->v, pblk, true, &img);
		if (rc < 0)
			return rc;
		memcpy(img, buf, ANK_BLOCK_SIZE);
	}
	return 0;
}

static int check_dir(struct dirwalk *dw, uint8_t *buf)
{
	struct fsck *f = dw->f;
	struct ank_dinode di;
	char why[160];
	int rc;

	dw->nruns = 0;
	ns_reset(&dw->names);
	rc = fsck_vol_read_inode(&f->v, dw->dir, &di);
	if (rc < 0)
		return rc;
	rc = fsck_vol_walk(&f->v, dw->dir, &di, collect_run, NULL, dw, why, sizeof(why));
	if (rc < 0)
		return rc == -EUCLEAN ? 0 : rc; /* validated in pass 1; cannot happen */
	for (size_t r = 0; r < dw->nruns; r++) {
		const struct ank_extent *e = &dw->runs[r];
		for (uint32_t i = 0; i < e->len; i += FSCK_DIR_CHUNK) {
			uint32_t n = ANK_MIN(FSCK_DIR_CHUNK, e->len - i);
			rc = fsck_vol_read(&f->v, e->pblk + i, n, buf);
			if (rc < 0)
				return rc;
			for (uint32_t j = 0; j < n; j++) {
				rc = check_dir_block(dw, (uint64_t)e->lblk + i + j, e->pblk + i + j,
						     buf + (size_t)j * ANK_BLOCK_SIZE);
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

/* Reset the root to an empty directory (repair of a lost root). */
static int root_reinit(struct fsck *f)
{
	struct ank_dinode di;
	uint32_t gen = 0;
	int rc = fsck_vol_read_inode(&f->v, ANK_ROOT_INO, &di);
	if (rc < 0)
		return rc;
	gen = di.generation + 1;
	if (gen == 0)
		gen = 1;
	memset(&di, 0, sizeof(di));
	di.mode = S_IFDIR | 0755;
	di.nlink = 2;
	ank_now(&di.mtime_sec, &di.mtime_nsec);
	di.atime_sec = di.ctime_sec = di.mtime_sec;
	di.atime_nsec = di.ctime_nsec = di.mtime_nsec;
	di.generation = gen;
	di.ino = ANK_ROOT_INO;
	di.parent = ANK_ROOT_INO;
	di.eh.magic = ANK_EXTENT_MAGIC;
	di.eh.max = ANK_EXTENT_ROOT_ENTRIES;
	return inode_store(f, ANK_ROOT_INO, &di);
}

static int pass_tree(struct fsck *f)
{
	struct dirwalk dw = { .f = f };
	uint8_t *buf = ank_aligned_alloc((size_t)FSCK_DIR_CHUNK * ANK_BLOCK_SIZE);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	if (!usable(f, ANK_ROOT_INO) || (f->ist[ANK_ROOT_INO] & T_MASK) != T_DIR) {
		problem(f, "root directory (inode 1) is missing or corrupt%s",
			f->repair ? "; recreated empty" : "");
		f->root_reinit = true;
		if (usable(f, ANK_ROOT_INO)) {
			/* A valid inode of the wrong type: its blocks go. */
			rc = release_blocks(f, ANK_ROOT_INO, NULL);
			if (rc < 0)
				goto out;
		}
		if (f->repair) {
			rc = root_reinit(f);
			if (rc < 0)
				goto out;
		}
		/* From here on the root is an empty directory. */
		f->ist[ANK_ROOT_INO] = T_DIR | F_REACH;
		f->nlink[ANK_ROOT_INO] = 2;
		f->parent_disk[ANK_ROOT_INO] = ANK_ROOT_INO;
		goto out;
	}
	f->ist[ANK_ROOT_INO] |= F_REACH;
	f->queue[dw.qtail++] = ANK_ROOT_INO;
	for (uint64_t qh = 0; qh < dw.qtail; qh++) {
		dw.dir = f->queue[qh];
		rc = check_dir(&dw, buf);
		if (rc < 0)
			goto out;
	}
out:
	ns_free(&dw.names);
	free(dw.runs);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Passes 3-5: orphans, link counts, unreachable inodes                     */

static int pass_orphans(struct fsck *f)
{
	uint64_t cur = f->v.sb.orphan_head;
	int rc;

	for (uint64_t steps = 0; cur != 0 && steps < f->ninodes; steps++) {
		struct ank_dinode di;
		const char *bad = NULL;

		if (cur >= f->ninodes)
			bad = "is out of range";
		else if ((f->ist[cur] & T_MASK) == T_FREE)
			bad = "is free";
		else if (!usable(f, cur))
			bad = "is corrupt";
		else if (f->ist[cur] & F_ORPHAN)
			bad = "appears twice (loop)";
		else if (f->ist[cur] & F_REACH)
			bad = "is still linked into the tree";
		else if (f->nlink[cur] != 0)
			bad = "has a nonzero link count";
		else if ((f->ist[cur] & T_MASK) == T_DIR &&
			 (f->parent_disk[cur] == 0 || f->parent_disk[cur] >= f->ninodes))
			bad = "is a directory with an invalid parent field";
		if (bad) {
			problem(f, "orphan list: inode %llu %s; list cut there",
				(unsigned long long)cur, bad);
			break;
		}
		f->ist[cur] |= F_ORPHAN;
		f->orphans++;
		rc = fsck_vol_read_inode(&f->v, cur, &di);
		if (rc < 0)
			return rc;
		cur = di.next_orphan;
	}
	if (f->orphans)
		info(f, "orphan list: %llu inode%s %s", (unsigned long long)f->orphans,
		     f->orphans == 1 ? "" : "s",
		     f->repair ? "freed" : "pending (freed at the next mount)");
	if (f->repair) {
		for (uint64_t i = 1; i < f->ninodes; i++) {
			if (!(f->ist[i] & F_ORPHAN))
				continue;
			/* Freeing orphans is routine, not a bitmap problem. */
			rc = release_blocks(f, i, f->bbm);
			if (rc == 0)
				rc = inode_free(f, i);
			if (rc < 0)
				return rc;
			bm_clear(f->ibm, i);
			f->ist[i] = T_FREE;
		}
	}
	return 0;
}

static int pass_links(struct fsck *f)
{
	int rc;

	for (uint64_t i = 1; i < f->ninodes; i++) {
		if (!usable(f, i) || !(f->ist[i] & F_REACH))
			continue;
		bool dir = (f->ist[i] & T_MASK) == T_DIR;
		uint64_t want = dir ? 2 + (uint64_t)f->subdirs[i] : f->found[i];
		uint64_t want_parent = i == ANK_ROOT_INO ? ANK_ROOT_INO : f->parent_found[i];
		bool fix = false;

		if (want > UINT32_MAX)
			want = UINT32_MAX;
		if (f->nlink[i] != want) {
			problem(f, "inode %llu: link count %u, should be %llu", (unsigned long long)i,
				f->nlink[i], (unsigned long long)want);
			fix = true;
		}
		if (dir && f->parent_disk[i] != want_parent) {
			problem(f, "directory %llu: parent field %llu, but its entry is in %llu",
				(unsigned long long)i, (unsigned long long)f->parent_disk[i],
				(unsigned long long)want_parent);
			fix = true;
		}
		if (fix && f->repair) {
			struct ank_dinode di;
			rc = fsck_vol_read_inode(&f->v, i, &di);
			if (rc < 0)
				return rc;
			di.nlink = (uint32_t)want;
			if (dir)
				di.parent = want_parent;
			rc = inode_store(f, i, &di);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int pass_unreachable(struct fsck *f)
{
	int rc;

	for (uint64_t i = 1; i < f->ninodes; i++) {
		uint8_t s = f->ist[i];
		if ((s & T_MASK) == T_FREE || (s & (F_REACH | F_ORPHAN)))
			continue;
		if (usable(f, i)) {
			problem(f, "inode %llu: allocated but not reachable from the root%s",
				(unsigned long long)i, f->repair ? "; freed" : "");
			/* Its blocks are no longer in use. */
			rc = release_blocks(f, i, NULL);
			if (rc < 0)
				return rc;
		}
		/* Corrupt inodes were reported in pass 1; repair frees them. */
		if (f->repair) {
			rc = inode_free(f, i);
			if (rc < 0)
				return rc;
		}
		f->ist[i] = T_FREE;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Pass 6: bitmaps                                                          */

/* Report bits that differ between have and want over [0, nbits), as ranges;
 * bits at or beyond `limit` are padding. Returns the number of mismatches. */
static void compare_bitmap(struct fsck *f, const char *what, const char *unit,
			   const uint8_t *have, const uint8_t *want, uint64_t limit, uint64_t nbits)
{
	uint64_t i = 0;
	bool pad_bad = false;

	while (i < nbits) {
		if ((i & 7) == 0 && i + 8 <= nbits && have[i >> 3] == want[i >> 3]) {
			i += 8;
			continue;
		}
		bool h = bm_test(have, i), w = bm_test(want, i);
		if (h == w) {
			i++;
			continue;
		}
		if (i >= limit) {
			pad_bad = true;
			i++;
			continue;
		}
		uint64_t start = i;
		while (i < limit && bm_test(have, i) == h && bm_test(want, i) == w)
			i++;
		if (i - start == 1)
			problem(f, "%s: %s %llu %s", what, unit, (unsigned long long)start,
				h ? "marked used but not referenced" : "in use but marked free");
		else
			problem(f, "%s: %ss %llu-%llu %s", what, unit, (unsigned long long)start,
				(unsigned long long)(i - 1),
				h ? "marked used but not referenced" : "in use but marked free");
	}
	if (pad_bad)
		problem(f, "%s: padding bits beyond %s %llu are not all set", what, unit,
			(unsigned long long)(limit - 1));
}

static uint64_t count_set(const uint8_t *m, uint64_t nbits)
{
	uint64_t n = 0, i = 0;
	for (; i + 64 <= nbits; i += 64) {
		uint64_t w;
		memcpy(&w, m + (i >> 3), 8);
		n += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < nbits; i++)
		n += bm_test(m, i);
	return n;
}

static int pass_bitmaps(struct fsck *f)
{
	const struct ank_super *sb = &f->v.sb;
	const uint64_t bpb = (uint64_t)ANK_BLOCK_SIZE * 8;
	uint64_t ibits = sb->ibitmap_blocks * bpb, bbits = sb->bbitmap_blocks * bpb;
	int rc;

	/* Inode bitmap wanted: 0, in-use inodes, padding. */
	memset(f->ibm_want, 0, sb->ibitmap_blocks * ANK_BLOCK_SIZE);
	bm_set(f->ibm_want, 0);
	for (uint64_t i = 1; i < f->ninodes; i++)
		if (usable(f, i) && (f->ist[i] & (F_REACH | F_ORPHAN)))
			bm_set(f->ibm_want, i);
	for (uint64_t i = f->ninodes; i < ibits; i++)
		bm_set(f->ibm_want, i);

	/* Block bitmap wanted: metadata, claimed blocks, padding. The claimed
	 * map already lost the blocks of every dropped inode. */
	memcpy(f->bbm_want, f->claimed, sb->bbitmap_blocks * ANK_BLOCK_SIZE);
	for (uint64_t b = 0; b < sb->data_start; b++)
		bm_set(f->bbm_want, b);
	for (uint64_t b = sb->block_count; b < bbits; b++)
		bm_set(f->bbm_want, b);

	compare_bitmap(f, "inode bitmap", "inode", f->ibm, f->ibm_want, f->ninodes, ibits);
	compare_bitmap(f, "block bitmap", "block", f->bbm, f->bbm_want, sb->block_count, bbits);

	if (!f->repair)
		return 0;
	for (uint64_t k = 0; k < sb->ibitmap_blocks; k++) {
		size_t o = (size_t)k * ANK_BLOCK_SIZE;
		if (memcmp(f->ibm_orig + o, f->ibm_want + o, ANK_BLOCK_SIZE)) {
			uint8_t *img;
			rc = fsck_vol_get(&f->v, sb->ibitmap_start + k, true, &img);
			if (rc < 0)
				return rc;
			memcpy(img, f->ibm_want + o, ANK_BLOCK_SIZE);
		}
	}
	for (uint64_t k = 0; k < sb->bbitmap_blocks; k++) {
		size_t o = (size_t)k * ANK_BLOCK_SIZE;
		if (memcmp(f->bbm_orig + o, f->bbm_want + o, ANK_BLOCK_SIZE)) {
			uint8_t *img;
			rc = fsck_vol_get(&f->v, sb->bbitmap_start + k, true, &img);
			if (rc < 0)
				return rc;
			memcpy(img, f->bbm_want + o, ANK_BLOCK_SIZE);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Journal                                                                  */

/* Write a fresh, empty journal header starting at (seq, tail). */
static int journal_reset(struct fsck *f, uint64_t seq, uint64_t tail)
{
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	int rc;

	if (!blk)
		return -ENOMEM;
	memset(blk, 0, ANK_BLOCK_SIZE);
	struct ank_journal_header *h = (struct ank_journal_header *)blk;
	h->magic = ANK_JHDR_MAGIC;
	h->version = 1;
	h->seq = seq;
	h->tail = tail;
	do {
		if (getrandom(&h->salt, sizeof(h->salt), GRND_NONBLOCK) != sizeof(h->salt))
			h->salt = (uint32_t)ank_mono_ns() ^ (uint32_t)(ank_mono_ns() >> 32);
	} while (h->salt == f->v.jh.salt && f->v.jh_rc == 0);
	h->checksum = ank_jhdr_csum(h);
	rc = bdev_write(f->v.dev, f->v.sb.journal_start, 1, blk);
	if (rc == 0)
		rc = bdev_flush(f->v.dev);
	free(blk);
	return rc;
}

static int pass_journal(struct fsck *f)
{
	struct fsck_vol *v = &f->v;
	int rc = fsck_vol_load_journal(v);

	if (rc < 0)
		return rc;
	f->rep->journal_txns = v->js.transactions;
	if (v->jh_rc < 0) {
		problem(f, "journal: header is corrupt%s", f->repair ? "; reset" : "");
		if (f->repair)
			return journal_reset(f, 1, 0);
		return 0;
	}
	if (v->js.transactions)
		info(f, "journal: %llu committed transaction%s (%llu blocks) not yet replayed%s",
		     (unsigned long long)v->js.transactions, v->js.transactions == 1 ? "" : "s",
		     (unsigned long long)v->js.blocks, f->repair ? "; replayed" : "");
	if (v->sb_image_bad)
		problem(f, "journal: the superblock image in the journal is invalid or changes the "
			"layout; ignored");
	if (v->js_rc < 0)
		problem(f, "journal: transaction %llu names a block outside the volume%s",
			(unsigned long long)v->js.next_seq,
			f->repair ? "; it and everything after it discarded" : "");
	if (f->repair && (v->js.transactions || v->js_rc < 0)) {
		/* Replay: every overlay image goes home, then the log is emptied. */
		for (size_t i = 0; i < v->map.cap; i++)
			if (v->map.ents[i].data)
				v->map.ents[i].dirty = 1;
		rc = fsck_vol_writeback(v);
		if (rc < 0)
			return rc;
		rc = journal_reset(f, v->js.next_seq, v->js.next_pos);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                   */

static int alloc_state(struct fsck *f)
{
	const struct ank_super *sb = &f->v.sb;
	size_t n = (size_t)f->ninodes;
	size_t ib = (size_t)sb->ibitmap_blocks * ANK_BLOCK_SIZE;
	size_t bb = (size_t)sb->bbitmap_blocks * ANK_BLOCK_SIZE;

	f->ist = calloc(n, 1);
	f->ft = calloc(n, 1);
	f->nlink = calloc(n, sizeof(*f->nlink));
	f->found = calloc(n, sizeof(*f->found));
	f->subdirs = calloc(n, sizeof(*f->subdirs));
	f->parent_disk = calloc(n, sizeof(*f->parent_disk));
	f->parent_found = calloc(n, sizeof(*f->parent_found));
	f->queue = calloc(n + 1, sizeof(*f->queue));
	f->ibm = ank_aligned_alloc(ib);
	f->ibm_want = ank_aligned_alloc(ib);
	f->bbm = ank_aligned_alloc(bb);
	f->bbm_want = ank_aligned_alloc(bb);
	f->ibm_orig = malloc(ib);
	f->bbm_orig = malloc(bb);
	f->claimed = calloc(bb, 1);
	if (!f->ist || !f->ft || !f->nlink || !f->found || !f->subdirs || !f->parent_disk ||
	    !f->parent_found || !f->queue || !f->ibm || !f->ibm_want || !f->bbm ||
	    !f->bbm_want || !f->claimed || !f->ibm_orig || !f->bbm_orig)
		return -ENOMEM;
	return 0;
}

static void free_state(struct fsck *f)
{
	free(f->ist);
	free(f->ft);
	free(f->nlink);
	free(f->found);
	free(f->subdirs);
	free(f->parent_disk);
	free(f->parent_found);
	free(f->queue);
	free(f->ibm);
	free(f->ibm_want);
	free(f->bbm);
	free(f->bbm_want);
	free(f->ibm_orig);
	free(f->bbm_orig);
	free(f->claimed);
}

static int read_bitmaps(struct fsck *f)
{
	const struct ank_super *sb = &f->v.sb;
	int rc = 0;

	for (uint64_t k = 0; k < sb->ibitmap_blocks && rc == 0; k += FSCK_READ_CHUNK)
		rc = fsck_vol_read(&f->v, sb->ibitmap_start + k,
				   (uint32_t)ANK_MIN((uint64_t)FSCK_READ_CHUNK, sb->ibitmap_blocks - k),
				   f->ibm + k * ANK_BLOCK_SIZE);
	for (uint64_t k = 0; k < sb->bbitmap_blocks && rc == 0; k += FSCK_READ_CHUNK)
		rc = fsck_vol_read(&f->v, sb->bbitmap_start + k,
				   (uint32_t)ANK_MIN((uint64_t)FSCK_READ_CHUNK, sb->bbitmap_blocks - k),
				   f->bbm + k * ANK_BLOCK_SIZE);
	if (rc == 0) {
		memcpy(f->ibm_orig, f->ibm, (size_t)sb->ibitmap_blocks * ANK_BLOCK_SIZE);
		memcpy(f->bbm_orig, f->bbm, (size_t)sb->bbitmap_blocks * ANK_BLOCK_SIZE);
	}
	return rc;
}

/* Superblock counts; in repair mode the superblock is rewritten last. */
static int pass_super(struct fsck *f)
{
	struct ank_super sb = f->v.sb;
	uint64_t used_inodes = count_set(f->ibm_want, f->ninodes);
	uint64_t used_blocks = count_set(f->bbm_want, sb.block_count);
	uint64_t free_inodes = f->ninodes - used_inodes;
	uint64_t free_blocks = sb.block_count - used_blocks;
	/* The counts are advisory; they only have to be right on a volume that
	 * claims to be cleanly unmounted with nothing left in the journal and
	 * no orphans to free. */
	bool strict = sb.state == ANK_STATE_CLEAN && f->v.js.transactions == 0 && f->orphans == 0;
	bool change = false;
	int rc;

	f->rep->blocks_used = used_blocks;
	if (sb.free_blocks != free_blocks || sb.free_inodes != free_inodes) {
		if (strict)
			problem(f, "superblock: free counts %llu blocks / %llu inodes, should be %llu / %llu",
				(unsigned long long)sb.free_blocks, (unsigned long long)sb.free_inodes,
				(unsigned long long)free_blocks, (unsigned long long)free_inodes);
		else
			info(f, "superblock: free counts %llu blocks / %llu inodes will be recomputed "
			     "(%llu / %llu)", (unsigned long long)sb.free_blocks,
			     (unsigned long long)sb.free_inodes, (unsigned long long)free_blocks,
			     (unsigned long long)free_inodes);
		change = true;
	}
	if (!f->repair)
		return 0;
	if (sb.orphan_head != 0)
		change = true;
	rc = fsck_vol_writeback(&f->v);
	if (rc < 0 || !change)
		return rc;
	sb.free_blocks = free_blocks;
	sb.free_inodes = free_inodes;
	sb.orphan_head = 0;
	sb.checksum = ank_super_csum(&sb);
	uint8_t *blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	rc = bdev_read(f->v.dev, 0, 1, blk);
	if (rc == 0) {
		memcpy(blk, &sb, sizeof(sb));
		rc = bdev_write(f->v.dev, 0, 1, blk);
	}
	if (rc == 0)
		rc = bdev_flush(f->v.dev);
	free(blk);
	if (rc == 0)
		f->v.sb = sb;
	return rc;
}

int fsck_run(struct bdev *dev, const struct fsck_options *opt, struct fsck_report *rep)
{
	static const struct fsck_options defaults = { .out = NULL };
	struct fsck_report local;
	struct fsck f;
	char why[200];
	int rc, ret;

	if (!opt)
		opt = &defaults;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	memset(&f, 0, sizeof(f));
	f.opt = opt;
	f.rep = rep;
	f.out = opt->out;
	f.repair = opt->repair;

	rc = fsck_vol_open(&f.v, dev, why, sizeof(why));
	if (rc < 0) {
		if (f.out)
			fprintf(f.out, "fsck: superblock: %s\nsummary: cannot check this volume\n",
				rc == -EUCLEAN || rc == -EOPNOTSUPP ? why : strerror(-rc));
		fsck_vol_close(&f.v);
		return FSCK_EXIT_ERROR;
	}
	f.ninodes = f.v.sb.inode_count;
	f.nblocks = f.v.sb.block_count;

	rc = alloc_state(&f);
	if (rc == 0)
		rc = pass_journal(&f);
	if (rc == 0 && f.v.sb.state == ANK_STATE_DIRTY)
		info(&f, "volume was not cleanly unmounted");
	if (rc == 0)
		rc = read_bitmaps(&f);
	if (rc == 0)
		rc = pass_inodes(&f);
	if (rc == 0)
		rc = pass_tree(&f);
	if (rc == 0)
		rc = pass_orphans(&f);
	if (rc == 0)
		rc = pass_links(&f);
	if (rc == 0)
		rc = pass_unreachable(&f);
	if (rc == 0)
		rc = pass_bitmaps(&f);
	if (rc == 0)
		rc = pass_super(&f);

	if (rc < 0) {
		if (f.out)
			fprintf(f.out, "fsck: error: %s\nsummary: check aborted\n", strerror(-rc));
		ret = FSCK_EXIT_ERROR;
		goto out;
	}
	for (uint64_t i = 1; i < f.ninodes; i++) {
		if (!usable(&f, i) || !(f.ist[i] & (F_REACH | F_ORPHAN)))
			continue;
		rep->inodes_used++;
		if ((f.ist[i] & T_MASK) == T_DIR)
			rep->dirs++;
		else
			rep->files++;
	}
	if (rep->problems == 0)
		ret = FSCK_EXIT_CLEAN;
	else if (rep->repaired == rep->problems)
		ret = FSCK_EXIT_REPAIRED;
	else
		ret = FSCK_EXIT_PROBLEMS;
	if (f.out)
		fprintf(f.out,
			"summary: %llu problem%s, %llu repaired; %llu inodes in use (%llu directories, "
			"%llu files); %llu of %llu blocks in use; %llu journal transaction%s\n",
			(unsigned long long)rep->problems, rep->problems == 1 ? "" : "s",
			(unsigned long long)rep->repaired, (unsigned long long)rep->inodes_used,
			(unsigned long long)rep->dirs, (unsigned long long)rep->files,
			(unsigned long long)rep->blocks_used, (unsigned long long)f.nblocks,
			(unsigned long long)rep->journal_txns, rep->journal_txns == 1 ? "" : "s");
out:
	free_state(&f);
	fsck_vol_close(&f.v);
	return ret;
}
