/*
 * dump.c - dump_run(): print what is on a volume, for people debugging it.
 *
 * With no argument: the superblock, the journal header and what a journal
 * scan finds, and usage counted from the bitmaps. With "/path" or an inode
 * number: that inode's fields, its extent map and, for a directory, its
 * entries. Everything is read through the journal overlay (the volume as
 * replay would leave it), read-only. It checks only what it needs to read
 * safely; judging the volume is fsck's job.
 */
#include "fsck.h"

#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../bdev/bdev.h"
#include "../util/common.h"

/* The name bytes follow the 12-byte record header. */
#define DE_NAME(de) ((const char *)(de) + sizeof(struct ank_dirent))

#define DUMP_PATH_MAX 4095u

static const char *fmt_time(int64_t sec, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)sec;

	if (sec == 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%lld", (long long)sec);
	return buf;
}

static const char *printable(const char *s, size_t n, char *buf, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf[j++] = (char)c;
		} else {
			snprintf(buf + j, len - j, "\\x%02x", c);
			j += 4;
		}
	}
	buf[j] = 0;
	return buf;
}

static void region(FILE *out, const char *name, uint64_t start, uint64_t n)
{
	fprintf(out, "  %-14s blocks %" PRIu64 "-%" PRIu64 " (%" PRIu64 " blocks)\n", name, start,
		start + n - 1, n);
}

static uint64_t count_bits(const uint8_t *m, uint64_t nbits)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < nbits; i++)
		n += (m[i >> 3] >> (i & 7)) & 1;
	return n;
}

/* Set bits among the first nbits of the bitmap at [start, start+blocks). */
static int bitmap_used(struct fsck_vol *v, uint64_t start, uint64_t blocks, uint64_t nbits,
		       uint64_t *used)
{
	uint8_t *buf = ank_aligned_alloc(ANK_BLOCK_SIZE);
	const uint64_t bpb = (uint64_t)ANK_BLOCK_SIZE * 8;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	*used = 0;
	for (uint64_t k = 0; k < blocks && k * bpb < nbits; k++) {
		rc = fsck_vol_read(v, start + k, 1, buf);
		if (rc < 0)
			break;
		*used += count_bits(buf, ANK_MIN(bpb, nbits - k * bpb));
	}
	free(buf);
	return rc;
}

static int dump_volume(struct fsck_vol *v, FILE *out)
{
	const struct ank_super *sb = &v->sb;
	char tb[64], label[4 * sizeof(sb->label) + 1];
	size_t llen = strnlen((const char *)sb->label, sizeof(sb->label));
	uint64_t used_b = 0, used_i = 0;
	int rc;

	fprintf(out, "superblock%s\n", v->sb_journaled ? " (newest image, from the journal)" : "");
	fprintf(out, "  %-14s \"%s\"\n", "label", printable((const char *)sb->label, llen, label,
							   sizeof(label)));
	fprintf(out, "  %-14s ", "uuid");
	for (int i = 0; i < 16; i++)
		fprintf(out, "%02x%s", sb->uuid[i], (i == 3 || i == 5 || i == 7 || i == 9) ? "-" : "");
	fprintf(out, "\n");
	fprintf(out, "  %-14s %u\n", "version", sb->version);
	fprintf(out, "  %-14s compat 0x%x, incompat 0x%x, ro_compat 0x%x\n", "features",
		sb->feature_compat, sb->feature_incompat, sb->feature_ro_compat);
	fprintf(out, "  %-14s %u bytes\n", "block size", sb->block_size);
	fprintf(out, "  %-14s %" PRIu64 " (%" PRIu64 " MiB)\n", "blocks", sb->block_count,
		sb->block_count * ANK_BLOCK_SIZE >> 20);
	fprintf(out, "  %-14s %" PRIu64 "\n", "inodes", sb->inode_count);
	region(out, "superblock", 0, 1);
	region(out, "journal", sb->journal_start, sb->journal_blocks);
	region(out, "inode bitmap", sb->ibitmap_start, sb->ibitmap_blocks);
	region(out, "block bitmap", sb->bbitmap_start, sb->bbitmap_blocks);
	region(out, "inode table", sb->itable_start, sb->itable_blocks);
	region(out, "data", sb->data_start, sb->block_count - sb->data_start);
	fprintf(out, "  %-14s %s\n", "state",
		sb->state == ANK_STATE_CLEAN ? "clean" : "dirty (mounted or not cleanly unmounted)");
	fprintf(out, "  %-14s %u\n", "mount count", sb->mount_count);
	fprintf(out, "  %-14s %s\n", "created", fmt_time(sb->mkfs_time, tb, sizeof(tb)));
	fprintf(out, "  %-14s %s\n", "last mount", fmt_time(sb->mount_time, tb, sizeof(tb)));
	fprintf(out, "  %-14s %s\n", "last write", fmt_time(sb->write_time, tb, sizeof(tb)));
	fprintf(out, "  %-14s %" PRIu64 "%s\n", "orphan head", sb->orphan_head,
		sb->orphan_head ? "" : " (none)");
	fprintf(out, "  %-14s %" PRIu64 " blocks, %" PRIu64 " inodes (as recorded)\n", "free",
		sb->free_blocks, sb->free_inodes);

	fprintf(out, "journal\n");
	if (v->jh_rc < 0) {
		fprintf(out, "  header is corrupt: %s\n", strerror(-v->jh_rc));
	} else {
		fprintf(out, "  %-14s seq %" PRIu64 ", tail %" PRIu64 ", salt 0x%08x, checkpoint tid %"
			PRIu64 "\n", "header", v->jh.seq, v->jh.tail, v->jh.salt, v->jh.checkpoint_tid);
		fprintf(out, "  %-14s %" PRIu64 " committed transaction%s (%" PRIu64
			" blocks) pending replay\n", "scan", v->js.transactions,
			v->js.transactions == 1 ? "" : "s", v->js.blocks);
		fprintf(out, "  %-14s seq %" PRIu64 " at log block %" PRIu64 "%s\n", "next", v->js.next_seq,
			v->js.next_pos, v->js.torn_tail ? " (a torn transaction follows)" : "");
		if (v->js.transactions)
			fprintf(out, "  %-14s %" PRIu64 "%s\n", "last committed tid", v->js.last_tid,
				v->js.last_tid ? "" : " (not recorded)");
		if (v->js_rc < 0)
			fprintf(out, "  scan stopped at a corrupt transaction: %s\n", strerror(-v->js_rc));
		if (v->sb_image_bad)
			fprintf(out, "  the superblock image in the journal is invalid (ignored)\n");
	}

	rc = bitmap_used(v, sb->bbitmap_start, sb->bbitmap_blocks, sb->block_count, &used_b);
	if (rc == 0)
		rc = bitmap_used(v, sb->ibitmap_start, sb->ibitmap_blocks, sb->inode_count, &used_i);
	if (rc < 0) {
		fprintf(out, "dump: cannot read the bitmaps: %s\n", strerror(-rc));
		return rc;
	}
	fprintf(out, "usage (from the bitmaps%s)\n", v->js.transactions ? ", journal applied" : "");
	fprintf(out, "  %-14s %" PRIu64 " used, %" PRIu64 " free of %" PRIu64 "\n", "blocks", used_b,
		sb->block_count - used_b, sb->block_count);
	fprintf(out, "  %-14s %" PRIu64 " used, %" PRIu64 " free of %" PRIu64
		" (inode 0 counts as used)\n", "inodes", used_i, sb->inode_count - used_i,
		sb->inode_count);
	return 0;
}

/* ---- directories ---------------------------------------------------------- */

struct runs {
	struct ank_extent *e;
	size_t n, cap;
};

static int add_run(void *arg, const struct ank_extent *e)
{
	struct runs *r = arg;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct ank_extent *ne = realloc(r->e, ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		r->e = ne;
		r->cap = ncap;
	}
	r->e[r->n++] = *e;
	return 0;
}

/* Call fn for every in-use record of directory `ino`. Records that do not
 * tile the block end that block's listing (noted on out when non-NULL).
 * Returns 0, fn's nonzero value, -EUCLEAN, -EIO, -ENOMEM. */
static int dir_iterate(struct fsck_vol *v, uint64_t ino, const struct ank_dinode *di, FILE *out,
		       int (*fn)(void *arg, const struct ank_dirent *de), void *arg)
{
	struct runs r = { 0 };
	char why[160];
	uint8_t *buf = ank_aligned_alloc(ANK_BLOCK_SIZE);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = fsck_vol_walk(v, ino, di, add_run, NULL, &r, why, sizeof(why));
	if (rc == -EUCLEAN && out)
		fprintf(out, "dump: directory %" PRIu64 ": extent tree corrupt: %s\n", ino, why);
	for (size_t k = 0; rc == 0 && k < r.n; k++) {
		for (uint32_t j = 0; rc == 0 && j < r.e[k].len; j++) {
			uint64_t lblk = (uint64_t)r.e[k].lblk + j;
			rc = fsck_vol_read(v, r.e[k].pblk + j, 1, buf);
			if (rc < 0)
				break;
			const struct ank_dir_tail *t = (const void *)(buf + ANK_DIR_TAIL_OFF);
			if (out && (t->magic != ANK_DIR_TAIL_MAGIC ||
				    t->checksum != ank_dir_block_csum(buf, ino)))
				fprintf(out, "  (block %" PRIu64 ": bad tail or checksum)\n", lblk);
			uint32_t off = 0;
			while (off < ANK_DIR_TAIL_OFF) {
				const struct ank_dirent *de = (const void *)(buf + off);
				if (ANK_DIR_TAIL_OFF - off < sizeof(*de) || de->rec_len % 8 ||
				    de->rec_len < ANK_DIRENT_LEN(de->name_len) ||
				    de->rec_len > ANK_DIR_TAIL_OFF - off) {
					if (out)
						fprintf(out, "  (block %" PRIu64 ": bad record at offset %u)\n",
							lblk, off);
					break;
				}
				if (de->ino != 0 && de->name_len > 0) {
					rc = fn(arg, de);
					if (rc)
						break;
				}
				off += de->rec_len;
			}
		}
	}
	free(r.e);
	free(buf);
	return rc;
}

struct lookup {
	const char *name;
	size_t len;
	uint64_t ino;
};

static int lookup_fn(void *arg, const struct ank_dirent *de)
{
	struct lookup *l = arg;
	if (de->name_len == l->len && !memcmp(DE_NAME(de), l->name, l->len)) {
		l->ino = de->ino;
		return 1;
	}
	return 0;
}

static int list_fn(void *arg, const struct ank_dirent *de)
{
	FILE *out = arg;
	char nb[4 * ANK_NAME_MAX + 8];
	const char *type = de->file_type == ANK_FT_DIR ? "dir" :
			   de->file_type == ANK_FT_REG ? "file" :
			   de->file_type == ANK_FT_SYMLINK ? "link" :
			   de->file_type == ANK_FT_FIFO ? "fifo" :
			   de->file_type == ANK_FT_SOCK ? "sock" :
			   de->file_type == ANK_FT_CHRDEV ? "chr" :
			   de->file_type == ANK_FT_BLKDEV ? "blk" : "?";
	fprintf(out, "  %10" PRIu64 "  %-4s  %s\n", de->ino, type,
		printable(DE_NAME(de), de->name_len, nb, sizeof(nb)));
	return 0;
}

/* Read inode `ino` and check it is sound enough to follow. */
static int load_inode(struct fsck_vol *v, uint64_t ino, struct ank_dinode *di, FILE *out)
{
	int rc = fsck_vol_read_inode(v, ino, di);
	if (rc < 0) {
		fprintf(out, "dump: inode %" PRIu64 ": %s\n", ino, strerror(-rc));
		return rc;
	}
	if (di->mode == 0) {
		fprintf(out, "dump: inode %" PRIu64 " is free\n", ino);
		return -ENOENT;
	}
	const char *bad = fsck_inode_problem(&v->sb, di, ino);
	if (bad) {
		fprintf(out, "dump: inode %" PRIu64 " is corrupt: %s\n", ino, bad);
		return ANK_CORRUPT("dump: corrupt inode on a path");
	}
	return 0;
}

static int resolve(struct fsck_vol *v, const char *path, FILE *out, uint64_t *res)
{
	uint64_t cur = ANK_ROOT_INO;
	const char *p = path;
	int rc;

	if (strlen(path) > DUMP_PATH_MAX) {
		fprintf(out, "dump: path too long\n");
		return -ENAMETOOLONG;
	}
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		struct ank_dinode di;

		rc = load_inode(v, cur, &di, out);
		if (rc < 0)
			return rc;
		if (ank_mode_to_ft(di.mode) != ANK_FT_DIR) {
			fprintf(out, "dump: %.*s: not a directory\n", (int)(s - path), path);
			return -ENOTDIR;
		}
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (di.parent == 0 || di.parent >= v->sb.inode_count) {
				fprintf(out, "dump: directory %" PRIu64 " has a bad parent field\n", cur);
				return -EUCLEAN;
			}
			cur = di.parent;
			continue;
		}
		if (len > ANK_NAME_MAX) {
			fprintf(out, "dump: %.*s: name too long\n", (int)(p - path), path);
			return -ENAMETOOLONG;
		}
		struct lookup l = { .name = s, .len = len, .ino = 0 };
		rc = dir_iterate(v, cur, &di, NULL, lookup_fn, &l);
		if (rc < 0) {
			fprintf(out, "dump: cannot read directory %" PRIu64 ": %s\n", cur, strerror(-rc));
			return rc;
		}
		if (rc == 0 || l.ino == 0 || l.ino >= v->sb.inode_count) {
			fprintf(out, "dump: %.*s: no such file or directory\n", (int)(p - path), path);
			return -ENOENT;
		}
		cur = l.ino;
	}
	*res = cur;
	return 0;
}

static int print_extent(void *arg, const struct ank_extent *e)
{
	FILE *out = arg;
	fprintf(out, "  %10u  %6u  %12" PRIu64 "-%" PRIu64 "\n", e->lblk, e->len, e->pblk,
		e->pblk + e->len - 1);
	return 0;
}

static int print_node(void *arg, uint64_t pblk, unsigned depth)
{
	FILE *out = arg;
	fprintf(out, "  (tree node at block %" PRIu64 ", depth %u)\n", pblk, depth);
	return 0;
}

/* The attributes of a checked area or block: name, value length, and the
 * value when it is short printable text. */
static void print_xattrs(const uint8_t *b, const char *where, FILE *out)
{
	static const char *const prefix[] = {
		[ANK_XATTR_USER] = "user.", [ANK_XATTR_ACL_ACCESS] = "system.posix_acl_access",
		[ANK_XATTR_ACL_DEFAULT] = "system.posix_acl_default",
		[ANK_XATTR_TRUSTED] = "trusted.", [ANK_XATTR_SECURITY] = "security.",
	};
	const struct ank_xattr_header *h = (const void *)b;
	fprintf(out, "xattrs %s (%u, %u bytes)\n", where, h->count, h->used);
	unsigned off = 0;
	for (unsigned k = 0; k < h->count; k++) {
		const struct ank_xattr_entry *e = (const void *)(b + ANK_XATTR_HDR_SIZE + off);
		const char *name = (const char *)(e + 1), *val = name + e->name_len;
		bool text = e->value_len <= 64;
		for (unsigned i = 0; text && i < e->value_len; i++)
			text = val[i] >= 0x20 && val[i] < 0x7f;
		fprintf(out, "  %s%.*s = %u bytes%s%.*s%s\n", prefix[e->name_index], e->name_len,
			name, e->value_len, text ? " \"" : "", text ? (int)e->value_len : 0, val,
			text ? "\"" : "");
		off += ANK_XATTR_ENTRY_LEN(e->name_len, e->value_len);
	}
}

/* The attributes in an inode's record (INODE_XATTRS), when it has any. */
static int dump_area_xattrs(struct fsck_vol *v, uint64_t ino, FILE *out)
{
	uint8_t *b = aligned_alloc(ANK_BLOCK_SIZE, ANK_BLOCK_SIZE);
	if (!b)
		return -ENOMEM;
	const char *why = NULL;
	int rc = fsck_vol_read(v, ank_inode_block(&v->sb, ino), 1, b);
	const uint8_t *area = b + ank_inode_offset(&v->sb, ino) + ANK_INODE_SIZE;
	if (rc == 0)
		rc = ank_xattr_check(area, ANK_INODE_XATTR_SIZE, ino, &why);
	if (rc < 0)
		fprintf(out, "dump: xattr area: %s\n", why ? why : strerror(-rc));
	else if (((const struct ank_xattr_header *)(const void *)area)->count)
		print_xattrs(area, "in the inode", out);
	free(b);
	return rc;
}

/* The attributes in an inode's extended attribute block. */
static int dump_xattrs(struct fsck_vol *v, uint64_t ino, uint64_t blk, FILE *out)
{
	uint8_t *b = aligned_alloc(ANK_BLOCK_SIZE, ANK_BLOCK_SIZE);
	if (!b)
		return -ENOMEM;
	const char *why = NULL;
	int rc = blk < v->sb.data_start || blk >= v->sb.block_count ? -ERANGE
								     : fsck_vol_read(v, blk, 1, b);
	if (rc == 0)
		rc = ank_xattr_block_check(b, ino, &why);
	if (rc < 0) {
		fprintf(out, "dump: xattr block %" PRIu64 ": %s\n", blk,
			why ? why : rc == -ERANGE ? "outside the data region" : strerror(-rc));
		free(b);
		return rc;
	}
	print_xattrs(b, "in the block", out);
	free(b);
	return 0;
}

/* A symbolic link's target: its first `size` bytes (below 4096: all in
 * file block 0), printed as printable() shows names. */
static int dump_target(struct fsck_vol *v, uint64_t ino, const struct ank_dinode *di, FILE *out)
{
	if (ank_link_is_inline(&v->sb, di)) {
		char shown[4 * ANK_INLINE_LINK_MAX + 8];
		if (di->size == 0) {
			fprintf(out, "  %-12s (unreadable: size out of range)\n", "target");
			return -EUCLEAN;
		}
		fprintf(out, "  %-12s \"%s\" (in the inode)\n", "target",
			printable(ank_link_inline_target(di), (size_t)di->size, shown, sizeof(shown)));
		return 0;
	}
	struct runs r = {0};
	char why[160];
	int rc = fsck_vol_walk(v, ino, di, add_run, NULL, &r, why, sizeof(why));
	uint64_t pblk = 0;
	if (rc == 0 && r.n > 0 && r.e[0].lblk == 0)
		pblk = r.e[0].pblk;
	free(r.e);
	if (rc < 0 || !pblk || di->size == 0 || di->size >= ANK_BLOCK_SIZE) {
		fprintf(out, "  %-12s (unreadable: %s)\n", "target",
			rc < 0 ? (rc == -EUCLEAN ? why : strerror(-rc)) :
			!pblk ? "no block 0" : "size out of range");
		return rc < 0 ? rc : -EUCLEAN;
	}
	uint8_t *blk = malloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	rc = fsck_vol_read(v, pblk, 1, blk);
	if (rc == 0) {
		char shown[4 * ANK_BLOCK_SIZE + 8];
		fprintf(out, "  %-12s \"%s\"\n", "target",
			printable((const char *)blk, (size_t)di->size, shown, sizeof(shown)));
	} else {
		fprintf(out, "  %-12s (unreadable: %s)\n", "target", strerror(-rc));
	}
	free(blk);
	return rc;
}

static int dump_inode(struct fsck_vol *v, uint64_t ino, FILE *out)
{
	struct ank_dinode di;
	char why[160];
	int rc, ret = 0;

	rc = fsck_vol_read_inode(v, ino, &di);
	if (rc < 0) {
		fprintf(out, "dump: inode %" PRIu64 ": %s\n", ino, strerror(-rc));
		return rc;
	}
	if (di.mode == 0) {
		fprintf(out, "dump: inode %" PRIu64 " is free\n", ino);
		return -ENOENT;
	}
	const char *bad = fsck_inode_problem(&v->sb, &di, ino);
	uint8_t ft = ank_mode_to_ft(di.mode);
	fprintf(out, "inode %" PRIu64 "%s%s\n", ino, bad ? " - CORRUPT: " : "", bad ? bad : "");
	fprintf(out, "  %-12s 0%o (%s)\n", "mode", di.mode,
		ft == ANK_FT_DIR ? "directory" : ft == ANK_FT_REG ? "regular file" :
		ft == ANK_FT_SYMLINK ? "symbolic link" : ft == ANK_FT_FIFO ? "FIFO" :
		ft == ANK_FT_SOCK ? "socket" : ft == ANK_FT_CHRDEV ? "character device" :
		ft == ANK_FT_BLKDEV ? "block device" : "unknown type");
	if (ft == ANK_FT_CHRDEV || ft == ANK_FT_BLKDEV)
		fprintf(out, "  %-12s %u, %u\n", "device", di.rdev_major, di.rdev_minor);
	if (ft == ANK_FT_SYMLINK && dump_target(v, ino, &di, out) < 0)
		ret = -EUCLEAN;
	fprintf(out, "  %-12s %u\n", "links", di.nlink);
	fprintf(out, "  %-12s %u / %u\n", "uid / gid", di.uid, di.gid);
	fprintf(out, "  %-12s %" PRIu64 " bytes\n", "size", di.size);
	fprintf(out, "  %-12s %" PRIu64 "\n", "blocks", di.blocks);
	fprintf(out, "  %-12s %lld.%09u\n", "atime", (long long)di.atime_sec, di.atime_nsec);
	fprintf(out, "  %-12s %lld.%09u\n", "mtime", (long long)di.mtime_sec, di.mtime_nsec);
	fprintf(out, "  %-12s %lld.%09u\n", "ctime", (long long)di.ctime_sec, di.ctime_nsec);
	fprintf(out, "  %-12s %u\n", "generation", di.generation);
	fprintf(out, "  %-12s %" PRIu64 "\n", "self", di.ino);
	fprintf(out, "  %-12s %" PRIu64 "\n", "next orphan", di.next_orphan);
	fprintf(out, "  %-12s %" PRIu64 "\n", "parent", di.parent);
	fprintf(out, "  %-12s %u\n", "xattr block", di.xattr_block);
	fprintf(out, "  %-12s depth %u, %u of %u root entries\n", "extent root", di.eh.depth,
		di.eh.entries, di.eh.max);
	fprintf(out, "extents (lblk, len, pblk)\n");
	rc = fsck_vol_walk(v, ino, &di, print_extent, print_node, out, why, sizeof(why));
	if (rc < 0) {
		fprintf(out, "dump: extent tree: %s\n", rc == -EUCLEAN ? why : strerror(-rc));
		ret = rc;
	}
	if (ank_has_inode_xattrs(&v->sb)) {
		int xr = dump_area_xattrs(v, ino, out);
		if (xr < 0)
			ret = xr;
	}
	if (di.xattr_block) {
		int xr = dump_xattrs(v, ino, di.xattr_block, out);
		if (xr < 0)
			ret = xr;
	}
	if (ft == ANK_FT_DIR && rc == 0) {
		fprintf(out, "entries (ino, type, name)\n");
		rc = dir_iterate(v, ino, &di, out, list_fn, out);
		if (rc < 0) {
			fprintf(out, "dump: directory: %s\n", strerror(-rc));
			ret = rc;
		}
	}
	return ret;
}

int dump_run(struct bdev *dev, const char *what, FILE *out)
{
	struct fsck_vol v;
	char why[200];
	int rc;

	if (!out)
		return -EINVAL;
	rc = fsck_vol_open(&v, dev, why, sizeof(why));
	if (rc < 0) {
		fprintf(out, "dump: superblock: %s\n",
			rc == -EUCLEAN || rc == -EOPNOTSUPP ? why : strerror(-rc));
		goto out;
	}
	rc = fsck_vol_load_journal(&v);
	if (rc < 0) {
		fprintf(out, "dump: journal: %s\n", strerror(-rc));
		goto out;
	}
	if (!what) {
		rc = dump_volume(&v, out);
	} else if (what[0] == '/') {
		uint64_t ino;
		rc = resolve(&v, what, out, &ino);
		if (rc == 0)
			rc = dump_inode(&v, ino, out);
	} else {
		char *end = NULL;
		unsigned long long n;
		errno = 0;
		n = (what[0] >= '0' && what[0] <= '9') ? strtoull(what, &end, 10) : 0;
		if (!end || *end || errno) {
			fprintf(out, "dump: \"%s\" is neither an absolute path nor an inode number\n", what);
			rc = -EINVAL;
		} else if (n == 0 || n >= v.sb.inode_count) {
			fprintf(out, "dump: inode %llu out of range (1..%" PRIu64 ")\n", n,
				v.sb.inode_count - 1);
			rc = -ENOENT;
		} else {
			rc = dump_inode(&v, n, out);
		}
	}
out:
	fsck_vol_close(&v);
	return rc;
}
