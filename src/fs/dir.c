/*
 * dir.c - directories: the on-disk record blocks and an in-memory name index.
 *
 * On disk a directory is a file of 4 KiB blocks of variable-length records
 * (format.h, "directories"), each block closed by a checksummed tail. The
 * first time a directory is used its blocks are read and validated once and
 * every name goes into a hash index, so lookups, inserts and removals cost
 * O(1) block accesses however large the directory (100,000 entries and
 * more). The index also remembers the largest free record of each block, so
 * an insert finds room without scanning.
 *
 * Readdir positions are byte offsets of records in the directory file; they
 * stay valid while entries are added and removed, because records never
 * move (a removed record is merged into its predecessor or marked free).
 *
 * It does not resolve paths (namei.c) or manage link counts (ops.c).
 * Called with fs->lock held.
 */
#include <stdlib.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

struct dent {
	struct dent *next;
	uint64_t ino;
	uint32_t hash;
	uint32_t lblk;
	uint16_t off;
	uint8_t type;
	uint8_t len;
	uint32_t check; /* dent_sum: a stray write to a field, the name or the
	                   link is caught when a lookup passes the entry */
	char name[];
};

static uint32_t dent_sum(const struct dent *d)
{
	uint64_t v[3] = {d->ino, (uint64_t)d->hash << 32 | d->lblk,
			 (uint64_t)d->off << 16 | (uint64_t)d->type << 8 | d->len};
	return crc32c(crc32c(0x44454E54u, v, sizeof(v)), d->name, d->len);
}

/* Every entry a lookup passes is checked: a flip in its name or hash
 * would make it miss (a second entry of the same name could then be
 * created), one in its inode number or place would act on another file or
 * record. */
static const struct dent *dent_checked(const struct dent *d)
{
	if (__builtin_expect(d->check != dent_sum(d), 0))
		guard_fail("directory index entry", d->ino, d->lblk);
	return d;
}

struct dir_index {
	struct dent **tab;
	size_t nbuckets, count;
	uint32_t nblocks;
	uint16_t *free_max;   /* per block: largest usable gap, bytes */
	uint32_t hint;        /* block where the last insert found room */
	uint32_t check;       /* dix_sum of the fields above but the hint */
};

/* The index's own fields are sealed too: a flipped count would let rmdir
 * remove a directory that still holds names (or refuse an empty one), a
 * flipped block count would hide the last blocks from readdir. */
static uint32_t dix_sum(const struct dir_index *dix)
{
	uint64_t v[5] = {(uintptr_t)dix->tab, dix->nbuckets, dix->count, dix->nblocks,
			 (uintptr_t)dix->free_max};
	return crc32c(0x44495849u, v, sizeof(v));
}

static void dix_seal(struct dir_index *dix)
{
	dix->check = dix_sum(dix);
}

static struct dir_index *dix_checked(struct dir_index *dix)
{
	if (__builtin_expect(dix->check != dix_sum(dix), 0))
		guard_fail("directory index", dix->count, dix->nblocks);
	return dix;
}

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

void dir_index_free(struct dir_index *dix)
{
	if (!dix)
		return;
	for (size_t i = 0; i < dix->nbuckets; i++) {
		struct dent *d = dix->tab[i];
		while (d) {
			struct dent *n = d->next;
			free(d);
			d = n;
		}
	}
	free(dix->tab);
	free(dix->free_max);
	free(dix);
}

static int index_grow(struct dir_index *dix)
{
	size_t nb = dix->nbuckets ? dix->nbuckets * 2 : 64;
	struct dent **tab = calloc(nb, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < dix->nbuckets; i++) {
		struct dent *d = dix->tab[i];
		while (d) {
			struct dent *n = dent_checked(d)->next;
			d->next = tab[d->hash & (nb - 1)];
			tab[d->hash & (nb - 1)] = d;
			d = n;
		}
	}
	free(dix->tab);
	dix->tab = tab;
	dix->nbuckets = nb;
	dix_seal(dix);
	return 0;
}

static struct dent **index_find(struct dir_index *dix, const char *name, size_t len)
{
	uint32_t h = name_hash(name, len);
	dix_checked(dix);
	struct dent **pp = &dix->tab[h & (dix->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if (dent_checked(*pp)->hash == h && (*pp)->len == len &&
		    !memcmp((*pp)->name, name, len))
			return pp;
	return NULL;
}

int dir_index_damage(struct inode *dp, const char *name, size_t len, unsigned field)
{
	struct dent **pp = dp->dix ? index_find(dp->dix, name, len) : NULL;
	if (!pp)
		return -ENOENT;
	if (field == 2)
		dp->dix->count ^= 1u << 2;
	else if (field == 0)
		(*pp)->hash ^= 1u << 3;
	else
		(*pp)->ino ^= 1u << 1;
	return 0;
}

static int index_add(struct dir_index *dix, const char *name, size_t len, uint64_t ino,
		     uint8_t type, uint32_t lblk, uint16_t off)
{
	dix_checked(dix);
	if (dix->count + 1 > dix->nbuckets) {
		int rc = index_grow(dix);
		if (rc < 0)
			return rc;
	}
	struct dent *d = malloc(sizeof(*d) + len);
	if (!d)
		return -ENOMEM;
	d->ino = ino;
	d->hash = name_hash(name, len);
	d->lblk = lblk;
	d->off = off;
	d->type = type;
	d->len = (uint8_t)len;
	memcpy(d->name, name, len);
	d->check = dent_sum(d);
	d->next = dix->tab[d->hash & (dix->nbuckets - 1)];
	dix->tab[d->hash & (dix->nbuckets - 1)] = d;
	dix->count++;
	dix_seal(dix);
	return 0;
}

static inline struct ank_dirent *rec_at(uint8_t *blk, unsigned off)
{
	return (struct ank_dirent *)(void *)(blk + off);
}

/* Bytes a record needs for itself (0 for a free record). */
static inline unsigned rec_used(const struct ank_dirent *r)
{
	return r->ino ? ANK_DIRENT_LEN(r->name_len) : 0;
}

/* Check a directory block's tail, checksum and record tiling. */
static int block_validate(const uint8_t *blk, uint64_t dir_ino, uint64_t inode_count)
{
	const struct ank_dir_tail *t = (const void *)(blk + ANK_DIR_TAIL_OFF);
	if (t->magic != ANK_DIR_TAIL_MAGIC)
		return ANK_CORRUPT("directory block: bad tail magic");
	if (t->checksum != ank_dir_block_csum(blk, dir_ino))
		return ANK_CORRUPT("directory block: checksum mismatch");
	unsigned off = 0;
	while (off < ANK_DIR_TAIL_OFF) {
		const struct ank_dirent *r = (const void *)(blk + off);
		if (ANK_DIR_TAIL_OFF - off < sizeof(*r) || r->rec_len < 16 || r->rec_len % 8 ||
		    r->rec_len > ANK_DIR_TAIL_OFF - off)
			return ANK_CORRUPT("directory block: bad record length");
		if (r->ino) {
			if (r->name_len == 0 || ANK_DIRENT_LEN(r->name_len) > r->rec_len)
				return ANK_CORRUPT("directory block: bad name length");
			if (r->ino >= inode_count)
				return ANK_CORRUPT("directory block: inode number out of range");
			if (memchr(blk + off + 12, '/', r->name_len) ||
			    memchr(blk + off + 12, '\0', r->name_len))
				return ANK_CORRUPT("directory block: bad character in name");
		}
		off += r->rec_len;
	}
	return 0;
}

static void block_seal(uint8_t *blk, uint64_t dir_ino)
{
	struct ank_dir_tail *t = (void *)(blk + ANK_DIR_TAIL_OFF);
	t->magic = ANK_DIR_TAIL_MAGIC;
	t->checksum = ank_dir_block_csum(blk, dir_ino);
}

static uint16_t block_free_max(uint8_t *blk)
{
	unsigned best = 0;
	for (unsigned off = 0; off < ANK_DIR_TAIL_OFF;) {
		struct ank_dirent *r = rec_at(blk, off);
		unsigned slack = r->rec_len - rec_used(r);
		if (slack > best)
			best = slack;
		off += r->rec_len;
	}
	return (uint16_t)best;
}

static int dir_block_get(struct fs *fs, struct inode *dp, uint32_t lblk, struct buf **out)
{
	uint64_t pblk;
	int rc = file_map_block(fs, dp, lblk, false, &pblk);
	if (rc == -ENOENT)
		return ANK_CORRUPT("directory has a hole");
	if (rc < 0)
		return rc;
	return buf_get(fs, pblk, out);
}

/* Build the name index of a directory (validating every block once). */
static int dir_load(struct fs *fs, struct inode *dp)
{
	if (dp->dix)
		return 0;
	if (!inode_is_dir(dp))
		return -ENOTDIR;
	uint64_t nblocks = dp->d.size / ANK_BLOCK_SIZE;
	if (nblocks > UINT32_MAX)
		return ANK_CORRUPT("directory too large");
	struct dir_index *dix = calloc(1, sizeof(*dix));
	if (!dix)
		return -ENOMEM;
	int rc = index_grow(dix);
	if (rc < 0)
		goto fail;
	dix->nblocks = (uint32_t)nblocks;
	dix->free_max = calloc(nblocks ? nblocks : 1, sizeof(*dix->free_max));
	if (!dix->free_max) {
		rc = -ENOMEM;
		goto fail;
	}
	dix_seal(dix);
	for (uint32_t l = 0; l < nblocks; l++) {
		struct buf *b;
		rc = dir_block_get(fs, dp, l, &b);
		if (rc < 0)
			goto fail;
		rc = block_validate(b->data, dp->ino, fs->sb.inode_count);
		for (unsigned off = 0; rc == 0 && off < ANK_DIR_TAIL_OFF;) {
			struct ank_dirent *r = rec_at(b->data, off);
			if (r->ino) {
				const char *nm = (const char *)b->data + off + 12;
				if (index_find(dix, nm, r->name_len))
					rc = ANK_CORRUPT("directory: duplicate name");
				else
					rc = index_add(dix, nm, r->name_len, r->ino, r->file_type, l,
						       (uint16_t)off);
			}
			off += r->rec_len;
		}
		if (rc == 0)
			dix->free_max[l] = block_free_max(b->data);
		buf_put(fs, b);
		if (rc < 0)
			goto fail;
	}
	dp->dix = dix;
	return 0;
fail:
	dir_index_free(dix);
	return rc;
}

int dir_lookup(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t *ino,
	       uint8_t *type)
{
	/* A removed directory holds nothing, whatever the name (Linux looks
	 * nothing up in a dead directory). Too long a name is found out when
	 * it is looked up, as in Linux's file systems, so it is reported in
	 * the same order as theirs. */
	if (dp->d.nlink == 0)
		return -ENOENT;
	if (len > ANK_NAME_MAX)
		return -ENAMETOOLONG;
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	struct dent **pp = index_find(dp->dix, name, len);
	if (!pp)
		return -ENOENT;
	*ino = (*pp)->ino;
	if (type)
		*type = (*pp)->type;
	return 0;
}

int64_t dir_count(struct fs *fs, struct inode *dp)
{
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	return (int64_t)dix_checked(dp->dix)->count;
}

/* Append an empty block to the directory. */
static int dir_grow(struct fs *fs, struct inode *dp, uint32_t *lblk_out)
{
	struct dir_index *dix = dp->dix;
	uint32_t l = dix->nblocks;
	uint16_t *fm = realloc(dix->free_max, ((size_t)l + 1) * sizeof(*fm));
	if (!fm)
		return -ENOMEM;
	dix->free_max = fm;
	dix_seal(dix);
	uint64_t pblk;
	int rc = file_map_block(fs, dp, l, true, &pblk);
	if (rc < 0)
		return rc;
	struct buf *b;
	rc = buf_new(fs, pblk, &b);
	if (rc < 0) {
		fs_abort(fs, rc); /* a block is mapped past the directory's size */
		return rc;
	}
	struct ank_dirent *r = rec_at(b->data, 0);
	r->rec_len = ANK_DIR_TAIL_OFF;
	block_seal(b->data, dp->ino);
	buf_dirty(fs, b);
	buf_put(fs, b);
	dix->free_max[l] = ANK_DIR_TAIL_OFF;
	dix->nblocks = l + 1;
	dix_seal(dix);
	dp->d.size += ANK_BLOCK_SIZE;
	inode_dirty(fs, dp);
	*lblk_out = l;
	return 0;
}

int dir_add(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t ino,
	    uint8_t type)
{
	if (len > ANK_NAME_MAX)
		return -ENAMETOOLONG;
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	struct dir_index *dix = dp->dix;
	if (index_find(dix, name, len))
		return -EEXIST;
	unsigned need = ANK_DIRENT_LEN(len);
	uint32_t l = UINT32_MAX;
	for (uint32_t k = 0; k < dix->nblocks; k++) {
		uint32_t cand = (dix->hint + k) % dix->nblocks;
		if (dix->free_max[cand] >= need) {
			l = cand;
			break;
		}
	}
	if (l == UINT32_MAX) {
		rc = dir_grow(fs, dp, &l);
		if (rc < 0)
			return rc;
	}
	struct buf *b;
	rc = dir_block_get(fs, dp, l, &b);
	if (rc < 0)
		return rc;
	unsigned off = 0, at = ANK_DIR_TAIL_OFF;
	while (off < ANK_DIR_TAIL_OFF) {
		struct ank_dirent *r = rec_at(b->data, off);
		if (r->rec_len - rec_used(r) >= need) {
			at = off;
			break;
		}
		off += r->rec_len;
	}
	if (at == ANK_DIR_TAIL_OFF) {
		buf_put(fs, b);
		return ANK_CORRUPT("directory: free space index out of date");
	}
	struct ank_dirent *r = rec_at(b->data, at);
	unsigned pos = at;
	if (r->ino) {
		/* Split: the existing record keeps what it uses. */
		unsigned used = rec_used(r);
		unsigned rest = r->rec_len - used;
		r->rec_len = (uint16_t)used;
		pos = at + used;
		r = rec_at(b->data, pos);
		memset(r, 0, rest);
		r->rec_len = (uint16_t)rest;
	}
	r->ino = ino;
	r->name_len = (uint8_t)len;
	r->file_type = type;
	memcpy(b->data + pos + 12, name, len);
	rc = index_add(dix, name, len, ino, type, l, (uint16_t)pos);
	if (rc < 0) {
		/* Undo in the block so memory and disk agree. */
		r->ino = 0;
		buf_put(fs, b);
		return rc;
	}
	dix->free_max[l] = block_free_max(b->data);
	dix->hint = l;
	block_seal(b->data, dp->ino);
	buf_dirty(fs, b);
	buf_put(fs, b);
	return 0;
}

int dir_remove(struct fs *fs, struct inode *dp, const char *name, size_t len)
{
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	struct dent **pp = index_find(dp->dix, name, len);
	if (!pp)
		return -ENOENT;
	struct dent *d = *pp;
	struct buf *b;
	rc = dir_block_get(fs, dp, d->lblk, &b);
	if (rc < 0)
		return rc;
	unsigned prev = ANK_DIR_TAIL_OFF;
	for (unsigned off = 0; off < d->off;) {
		prev = off;
		off += rec_at(b->data, off)->rec_len;
	}
	struct ank_dirent *r = rec_at(b->data, d->off);
	uint16_t rec_len = r->rec_len;
	memset(b->data + d->off + 12, 0, rec_len - 12u);
	r->ino = 0;
	r->name_len = 0;
	r->file_type = 0;
	if (prev != ANK_DIR_TAIL_OFF) {
		rec_at(b->data, prev)->rec_len += rec_len;
		memset(r, 0, 12);
	}
	dp->dix->free_max[d->lblk] = block_free_max(b->data);
	block_seal(b->data, dp->ino);
	buf_dirty(fs, b);
	buf_put(fs, b);
	*pp = d->next;
	free(d);
	dp->dix->count--;
	dix_seal(dp->dix);
	return 0;
}

int dir_replace(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t ino,
		uint8_t type)
{
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	struct dent **pp = index_find(dp->dix, name, len);
	if (!pp)
		return -ENOENT;
	struct buf *b;
	rc = dir_block_get(fs, dp, (*pp)->lblk, &b);
	if (rc < 0)
		return rc;
	struct ank_dirent *r = rec_at(b->data, (*pp)->off);
	r->ino = ino;
	r->file_type = type;
	block_seal(b->data, dp->ino);
	buf_dirty(fs, b);
	buf_put(fs, b);
	(*pp)->ino = ino;
	(*pp)->type = type;
	(*pp)->check = dent_sum(*pp);
	return 0;
}

int dir_next(struct fs *fs, struct inode *dp, uint64_t *pos, struct fs_dirent *ent)
{
	int rc = dir_load(fs, dp);
	if (rc < 0)
		return rc;
	uint64_t p = *pos;
	while (p / ANK_BLOCK_SIZE < dix_checked(dp->dix)->nblocks) {
		uint32_t l = (uint32_t)(p / ANK_BLOCK_SIZE);
		unsigned want = (unsigned)(p % ANK_BLOCK_SIZE);
		struct buf *b;
		rc = dir_block_get(fs, dp, l, &b);
		if (rc < 0)
			return rc;
		for (unsigned off = 0; off < ANK_DIR_TAIL_OFF;) {
			struct ank_dirent *r = rec_at(b->data, off);
			if (r->rec_len == 0) /* validated at load; defensive */
				break;
			if (off >= want && r->ino) {
				ent->ino = r->ino;
				/* ANK_FT_* to DT_*: DT_FIFO 1, DT_CHR 2, DT_DIR 4,
				 * DT_BLK 6, DT_REG 8, DT_LNK 10, DT_SOCK 12 */
				static const uint8_t dt[8] = {0, 8, 4, 2, 6, 1, 12, 10};
				ent->type = r->file_type < 8 ? dt[r->file_type] : 0;
				memcpy(ent->name, b->data + off + 12, r->name_len);
				ent->name[r->name_len] = '\0';
				*pos = (uint64_t)l * ANK_BLOCK_SIZE + off + r->rec_len;
				buf_put(fs, b);
				return 1;
			}
			off += r->rec_len;
		}
		buf_put(fs, b);
		p = ((uint64_t)l + 1) * ANK_BLOCK_SIZE;
	}
	*pos = p;
	return 0;
}
