/*
 * test_fsck.c - tests of mkfs, the journal scanner, fsck and dump on the
 * emulated device. Non-empty trees, journal transactions and corruptions are
 * built by hand in the device's blocks, so these tests depend only on the
 * on-disk format, not on the mounted file system.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/format.h"
#include "../src/fs/fs.h"
#include "../src/fs/jscan.h"
#include "../src/fsck/fsck.h"
#include "../src/util/common.h"
#include "../src/util/crc32c.h"

#define BS ANK_BLOCK_SIZE

/* ---- image helpers --------------------------------------------------------- */

static struct bdev *fresh(uint64_t nblocks, uint64_t journal_blocks)
{
	struct bdev *dev;
	struct fs_mkfs_options o = { .journal_blocks = journal_blocks };

	assert_int_equal(bdev_emu_create(nblocks, &dev), 0);
	assert_int_equal(fs_mkfs(dev, &o), 0);
	return dev;
}

static struct ank_super *SB(struct bdev *d)
{
	return (struct ank_super *)bdev_emu_block(d, 0);
}

static void sb_reseal(struct bdev *d)
{
	SB(d)->checksum = ank_super_csum(SB(d));
}

static struct ank_dinode *INO(struct bdev *d, uint64_t ino)
{
	return (struct ank_dinode *)(void *)(bdev_emu_block(d, ank_inode_block(SB(d), ino)) +
					     ank_inode_offset(SB(d), ino));
}

static void ino_reseal(struct bdev *d, uint64_t ino)
{
	INO(d, ino)->checksum = ank_dinode_csum(INO(d, ino));
}

static uint8_t *bitmap_byte(struct bdev *d, uint64_t start, uint64_t bit)
{
	return bdev_emu_block(d, start + bit / (BS * 8)) + (bit % (BS * 8)) / 8;
}

static bool ibit(struct bdev *d, uint64_t ino)
{
	return (*bitmap_byte(d, SB(d)->ibitmap_start, ino) >> (ino % 8)) & 1;
}

static void set_ibit(struct bdev *d, uint64_t ino, bool on)
{
	uint8_t *p = bitmap_byte(d, SB(d)->ibitmap_start, ino);
	if (on)
		*p |= (uint8_t)(1u << (ino % 8));
	else
		*p &= (uint8_t)~(1u << (ino % 8));
}

static bool bbit(struct bdev *d, uint64_t b)
{
	return (*bitmap_byte(d, SB(d)->bbitmap_start, b) >> (b % 8)) & 1;
}

/* First free data block run of n blocks; marks it used. */
static uint64_t alloc_blocks(struct bdev *d, uint32_t n)
{
	for (uint64_t b = SB(d)->data_start; b + n <= SB(d)->block_count; b++) {
		uint32_t k = 0;
		while (k < n && !bbit(d, b + k))
			k++;
		if (k < n) {
			b += k;
			continue;
		}
		for (k = 0; k < n; k++)
			*bitmap_byte(d, SB(d)->bbitmap_start, b + k) |= (uint8_t)(1u << ((b + k) % 8));
		SB(d)->free_blocks -= n;
		sb_reseal(d);
		return b;
	}
	fail_msg("volume full");
	return 0;
}

static void make_inode(struct bdev *d, uint64_t ino, uint32_t mode)
{
	struct ank_dinode *di = INO(d, ino);

	memset(di, 0, sizeof(*di));
	di->mode = mode;
	di->nlink = S_ISDIR(mode) ? 2 : 0;
	di->generation = 1;
	di->ino = ino;
	di->eh.magic = ANK_EXTENT_MAGIC;
	di->eh.max = ANK_EXTENT_ROOT_ENTRIES;
	di->mtime_sec = 1700000000;
	ino_reseal(d, ino);
	set_ibit(d, ino, true);
	SB(d)->free_inodes--;
	sb_reseal(d);
}

/* Give a file n data blocks (one extent in the root). */
static void give_blocks(struct bdev *d, uint64_t ino, uint32_t n)
{
	struct ank_dinode *di = INO(d, ino);
	uint64_t p = alloc_blocks(d, n);

	assert_true(di->eh.entries < ANK_EXTENT_ROOT_ENTRIES);
	uint32_t lblk = 0;
	if (di->eh.entries)
		lblk = di->extents[di->eh.entries - 1].lblk + di->extents[di->eh.entries - 1].len;
	di->extents[di->eh.entries++] = (struct ank_extent){ .lblk = lblk, .len = n, .pblk = p };
	di->blocks += n;
	di->size = (uint64_t)(lblk + n) * BS;
	ino_reseal(d, ino);
}

static void dir_reseal(struct bdev *d, uint64_t dir, uint64_t pblk)
{
	uint8_t *b = bdev_emu_block(d, pblk);
	struct ank_dir_tail *t = (struct ank_dir_tail *)(b + ANK_DIR_TAIL_OFF);
	t->magic = ANK_DIR_TAIL_MAGIC;
	t->checksum = ank_dir_block_csum(b, dir);
}

/* Physical block of a directory's first block, allocating it if needed. */
static uint64_t dir_block(struct bdev *d, uint64_t dir)
{
	struct ank_dinode *di = INO(d, dir);
	if (di->eh.entries == 0) {
		give_blocks(d, dir, 1);
		uint64_t p = INO(d, dir)->extents[0].pblk;
		uint8_t *b = bdev_emu_block(d, p);
		memset(b, 0, BS);
		struct ank_dirent *de = (struct ank_dirent *)b;
		de->rec_len = ANK_DIR_TAIL_OFF;
		dir_reseal(d, dir, p);
	}
	return INO(d, dir)->extents[0].pblk;
}

/* Add entry name -> child in dir's first block (no link count changes).
 * Returns the byte offset of the new record. */
static uint32_t add_entry_raw(struct bdev *d, uint64_t dir, const char *name, uint64_t child,
			      uint8_t ft)
{
	uint64_t p = dir_block(d, dir);
	uint8_t *b = bdev_emu_block(d, p);
	unsigned len = (unsigned)strlen(name);
	unsigned need = ANK_DIRENT_LEN(len);

	for (uint32_t off = 0; off < ANK_DIR_TAIL_OFF;) {
		struct ank_dirent *de = (struct ank_dirent *)(b + off);
		unsigned used = de->ino ? ANK_DIRENT_LEN(de->name_len) : 0;
		if (de->rec_len - used >= need) {
			uint32_t at = off;
			if (used) {
				at = off + used;
				struct ank_dirent *n = (struct ank_dirent *)(b + at);
				n->rec_len = (uint16_t)(de->rec_len - used);
				de->rec_len = (uint16_t)used;
			}
			struct ank_dirent *n = (struct ank_dirent *)(b + at);
			n->ino = child;
			n->name_len = (uint8_t)len;
			n->file_type = ft;
			memcpy(b + at + sizeof(*n), name, len);
			dir_reseal(d, dir, p);
			return at;
		}
		off += de->rec_len;
	}
	fail_msg("directory block full");
	return 0;
}

/* Link child into dir under name, keeping link counts and parents right. */
static void link_in(struct bdev *d, uint64_t dir, const char *name, uint64_t child)
{
	bool isdir = S_ISDIR(INO(d, child)->mode);

	add_entry_raw(d, dir, name, child, ank_mode_to_ft(INO(d, child)->mode));
	if (isdir) {
		INO(d, child)->parent = dir;
		INO(d, dir)->nlink++;
	} else {
		INO(d, child)->nlink++;
	}
	ino_reseal(d, child);
	ino_reseal(d, dir);
}

/*
 * A small tree:
 *   /a          dir  (ino 2)
 *   /a/f        file (ino 3), 3 blocks
 *   /g          file (ino 4), 1 block, also linked as /a/g2
 *   /a/b        dir  (ino 5)
 *   /big        file (ino 6) with a depth-1 extent tree of 20 one-block
 *               extents (gaps between them)
 */
enum { I_A = 2, I_F = 3, I_G = 4, I_B = 5, I_BIG = 6 };

static void build_tree(struct bdev *d)
{
	make_inode(d, I_A, S_IFDIR | 0755);
	link_in(d, ANK_ROOT_INO, "a", I_A);
	make_inode(d, I_F, S_IFREG | 0644);
	give_blocks(d, I_F, 3);
	link_in(d, I_A, "f", I_F);
	make_inode(d, I_G, S_IFREG | 0644);
	give_blocks(d, I_G, 1);
	link_in(d, ANK_ROOT_INO, "g", I_G);
	link_in(d, I_A, "g2", I_G);
	make_inode(d, I_B, S_IFDIR | 0700);
	link_in(d, I_A, "b", I_B);

	make_inode(d, I_BIG, S_IFREG | 0600);
	uint64_t node = alloc_blocks(d, 1);
	uint8_t *nb = bdev_emu_block(d, node);
	memset(nb, 0, BS);
	struct ank_extent_header *h = (struct ank_extent_header *)nb;
	struct ank_extent *ex = (struct ank_extent *)(nb + sizeof(*h));
	h->magic = ANK_EXTENT_MAGIC;
	h->max = ANK_EXTENT_NODE_ENTRIES;
	h->depth = 0;
	h->owner_ino = I_BIG;
	for (uint32_t i = 0; i < 20; i++) {
		uint64_t p = alloc_blocks(d, 2); /* keep the second block free */
		*bitmap_byte(d, SB(d)->bbitmap_start, p + 1) &= (uint8_t)~(1u << ((p + 1) % 8));
		SB(d)->free_blocks++;
		ex[i] = (struct ank_extent){ .lblk = i * 3, .len = 1, .pblk = p };
	}
	h->entries = 20;
	h->checksum = ank_extent_node_csum(nb);
	struct ank_dinode *di = INO(d, I_BIG);
	di->eh.depth = 1;
	di->eh.entries = 1;
	struct ank_extent_index ix = { .lblk = 0, .child = node };
	memcpy(&di->extents[0], &ix, sizeof(ix));
	di->blocks = 21;
	di->size = (uint64_t)(19 * 3 + 1) * BS;
	ino_reseal(d, I_BIG);
	sb_reseal(d);
	link_in(d, ANK_ROOT_INO, "big", I_BIG);
}

/* The extent node block of /big (its root's single index entry). */
static uint64_t big_node(struct bdev *d)
{
	struct ank_extent_index ix;
	memcpy(&ix, &INO(d, I_BIG)->extents[0], sizeof(ix));
	return ix.child;
}

/* ---- running fsck ------------------------------------------------------------ */

static char *g_out;      /* output of the last run */
static size_t g_outlen;
static char *g_first;    /* output of the first (check) run of assert_repairs */

/* Run fsck capturing its output in g_out (also echoed for the test log). */
static int run(struct bdev *d, bool repair, struct fsck_report *rep)
{
	struct fsck_options o = { .repair = repair };
	free(g_out);
	g_out = NULL;
	FILE *f = open_memstream(&g_out, &g_outlen);
	assert_non_null(f);
	o.out = f;
	int rc = fsck_run(d, &o, rep);
	fclose(f);
	printf("--- fsck%s -> %d\n%s", repair ? " --repair" : "", rc, g_out);
	return rc;
}

static void assert_said(const char *what)
{
	if (!strstr(g_out, what) && !(g_first && strstr(g_first, what)))
		fail_msg("fsck output lacks \"%s\"", what);
}

static void assert_clean(struct bdev *d)
{
	struct fsck_report rep;
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.problems, 0);
}

/* Check finds problems; repair fixes all; a second check is clean. */
static void assert_repairs(struct bdev *d)
{
	struct fsck_report rep;
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_PROBLEMS);
	assert_true(rep.problems > 0);
	assert_int_equal(rep.repaired, 0);
	free(g_first);
	g_first = strdup(g_out);
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_REPAIRED);
	assert_int_equal(rep.problems, rep.repaired);
	assert_clean(d);
}

/* ---- tests ------------------------------------------------------------------ */

static void fresh_volume_is_clean(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;
	const struct ank_super *sb = SB(d);

	/* Layout as documented: journal clamp(1024/16, 64, 8192) = 64 blocks,
	 * 256 inodes (32 table blocks of 8 records of 512 bytes). */
	assert_int_equal(sb->journal_start, 1);
	assert_int_equal(sb->journal_blocks, 64);
	assert_int_equal(sb->inode_count, 256);
	assert_int_equal(sb->ibitmap_start, 65);
	assert_int_equal(sb->bbitmap_start, 66);
	assert_int_equal(sb->itable_start, 67);
	assert_int_equal(sb->itable_blocks, 32);
	assert_int_equal(sb->data_start, 99);
	assert_int_equal(sb->free_blocks, 1024 - 99);
	assert_int_equal(sb->free_inodes, 254);
	assert_int_equal(ank_super_validate(sb, 1024), 0);
	assert_true(bbit(d, 98) && !bbit(d, 99) && bbit(d, 1024) && bbit(d, BS * 8 - 1));
	assert_true(ibit(d, 0) && ibit(d, 1) && !ibit(d, 2) && ibit(d, 256));

	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(rep.inodes_used, 1);
	assert_int_equal(rep.dirs, 1);
	assert_int_equal(rep.files, 0);
	assert_int_equal(rep.blocks_used, 99);
	assert_said("summary: 0 problems");
	bdev_close(d);
}

static void populated_tree_is_clean_and_dumps(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;

	build_tree(d);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.inodes_used, 6);
	assert_int_equal(rep.dirs, 3);
	assert_int_equal(rep.files, 3);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dump_run(d, NULL, f), 0);
	assert_int_equal(dump_run(d, "/a/f", f), 0);
	assert_int_equal(dump_run(d, "/a/", f), 0);
	assert_int_equal(dump_run(d, "/a/../a/./b", f), 0);
	assert_int_equal(dump_run(d, "6", f), 0);
	assert_int_equal(dump_run(d, "1", f), 0);
	assert_int_equal(dump_run(d, "/nope", f), -ENOENT);
	assert_int_equal(dump_run(d, "/g/x", f), -ENOTDIR);
	assert_int_equal(dump_run(d, "99", f), -ENOENT);
	assert_int_equal(dump_run(d, "100000", f), -ENOENT);
	assert_int_equal(dump_run(d, "12x", f), -EINVAL);
	fclose(f);
	printf("%s", buf);
	assert_non_null(strstr(buf, "pending replay"));
	assert_non_null(strstr(buf, "g2"));
	assert_non_null(strstr(buf, "tree node at block"));
	free(buf);
	bdev_close(d);
}

static void mkfs_refuses_tiny_device(void **state)
{
	(void)state;
	struct bdev *d;

	assert_int_equal(bdev_emu_create(255, &d), 0);
	assert_int_equal(fs_mkfs(d, NULL), -EINVAL);
	bdev_close(d);

	assert_int_equal(bdev_emu_create(256, &d), 0);
	assert_int_equal(fs_mkfs(d, NULL), 0);
	assert_clean(d);
	/* Options that cannot fit are refused too. */
	struct fs_mkfs_options o = { .journal_blocks = 4 };
	assert_int_equal(fs_mkfs(d, &o), -EINVAL);
	o = (struct fs_mkfs_options){ .inodes = 1 << 20 };
	assert_int_equal(fs_mkfs(d, &o), -EINVAL);
	o = (struct fs_mkfs_options){ .label = "this label is far too long for the field" };
	assert_int_equal(fs_mkfs(d, &o), -EINVAL);
	bdev_close(d);
}

static void corrupt_superblock_magic_reports_and_exits_8(void **state)
{
	(void)state;
	struct bdev *d = fresh(512, 0);
	struct fsck_report rep;

	SB(d)->magic ^= 1;
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_ERROR);
	assert_said("fsck: superblock: bad magic");
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_ERROR);

	SB(d)->magic ^= 1;
	SB(d)->label[0] ^= 1; /* checksum no longer matches */
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_ERROR);
	assert_said("checksum mismatch");

	SB(d)->label[0] ^= 1;
	SB(d)->data_start = 1;
	sb_reseal(d);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_ERROR);
	assert_int_equal(dump_run(d, NULL, stdout), -EUCLEAN);
	bdev_close(d);
}

static void flipped_bit_in_inode_reported(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	INO(d, I_F)->mtime_sec ^= 1 << 5;
	assert_repairs(d);
	assert_said("inode 3: checksum mismatch");
	/* The corrupt file was dropped from /a and freed with its blocks. */
	assert_int_equal(INO(d, I_F)->mode, 0);
	assert_false(ibit(d, I_F));
	bdev_close(d);
}

/* FIFOs, sockets and devices: clean as made; data on one, device numbers
 * on a FIFO, and an entry whose type says otherwise are found. */
static void special_files_are_checked(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	make_inode(d, 7, S_IFIFO | 0644);
	link_in(d, ANK_ROOT_INO, "p", 7);
	make_inode(d, 8, S_IFCHR | 0600);
	INO(d, 8)->rdev_major = 240;
	INO(d, 8)->rdev_minor = 1;
	ino_reseal(d, 8);
	link_in(d, ANK_ROOT_INO, "c", 8);
	make_inode(d, 9, S_IFSOCK | 0600);
	link_in(d, ANK_ROOT_INO, "s", 9);
	assert_clean(d);
	INO(d, 7)->size = 10;
	ino_reseal(d, 7);
	INO(d, 9)->rdev_minor = 5;
	ino_reseal(d, 9);
	add_entry_raw(d, ANK_ROOT_INO, "c2", 8, ANK_FT_REG);
	INO(d, 8)->nlink++;
	ino_reseal(d, 8);
	assert_repairs(d);
	assert_said("inode 7: special file (FIFO, socket or device) with data");
	assert_said("inode 9: device numbers on an inode that is no device");
	assert_said("entry \"c2\" has file type 1, inode 8 is type 3");
	assert_int_equal(INO(d, 8)->rdev_major, 240); /* the good device stays */
	bdev_close(d);
}

/* A symbolic link: dump shows its target; a link whose target block is
 * gone (its extent root emptied) is reported and dropped with its name. */
static void symbolic_links_are_checked_and_dumped(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fs *fs;
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct stat st, in, at144, at145;
	/* a target longer than the inode holds is block 0 of the link */
	char target[201];
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	memcpy(target, "some/where \\ \x01", 14);
	assert_int_equal(fs_symlink(c, target, "/l"), 0);
	assert_int_equal(fs_symlink(c, "t \x02", "/l2"), 0);
	assert_int_equal(fs_lstat(c, "/l", &st), 0);
	assert_int_equal(fs_lstat(c, "/l2", &in), 0);
	/* the boundary: 144 bytes inline, 145 in a block */
	char t144[ANK_INLINE_LINK_MAX + 2];
	memset(t144, 'y', sizeof(t144));
	t144[ANK_INLINE_LINK_MAX] = '\0';
	assert_int_equal(fs_symlink(c, t144, "/l144"), 0);
	t144[ANK_INLINE_LINK_MAX] = 'y';
	t144[ANK_INLINE_LINK_MAX + 1] = '\0';
	assert_int_equal(fs_symlink(c, t144, "/l145"), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);
	/* both kinds read back after a mount; only the long ones have a
	 * block (inline ones none, as ext4's fast links) */
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	assert_int_equal(fs_lstat(c, "/l", &st), 0);
	assert_int_equal(fs_lstat(c, "/l2", &in), 0);
	assert_int_equal(fs_lstat(c, "/l144", &at144), 0);
	assert_int_equal(fs_lstat(c, "/l145", &at145), 0);
	assert_int_equal(st.st_blocks, 8);
	assert_int_equal(in.st_blocks, 0);
	assert_int_equal(at144.st_blocks, 0);
	assert_int_equal(at144.st_size, ANK_INLINE_LINK_MAX);
	assert_int_equal(at145.st_blocks, 8);
	char got[256];
	assert_int_equal(fs_readlink(c, "/l144", got, sizeof(got)), ANK_INLINE_LINK_MAX);
	assert_int_equal(fs_readlink(c, "/l145", got, sizeof(got)), ANK_INLINE_LINK_MAX + 1);
	assert_memory_equal(got, t144, ANK_INLINE_LINK_MAX + 1);
	assert_int_equal(fs_readlink(c, "/l2", got, sizeof(got)), 3);
	assert_memory_equal(got, "t \x02", 3);
	assert_int_equal(fs_unlink(c, "/l145"), 0);
	assert_int_equal(fs_unlink(c, "/l144"), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d); /* (the block of the long one is free again) */

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dump_run(d, "/l", f), 0);
	assert_int_equal(dump_run(d, "/l2", f), 0);
	fclose(f);
	printf("%s", buf);
	assert_non_null(strstr(buf, "symbolic link"));
	assert_non_null(strstr(buf, "target       \"some/where \\x5c \\x01xxxx"));
	assert_non_null(strstr(buf, "target       \"t \\x02\" (in the inode)"));
	free(buf);

	struct ank_dinode *di = INO(d, st.st_ino);
	di->eh.entries = 0; /* the target's block is no longer mapped */
	ino_reseal(d, st.st_ino);
	char *t = (char *)(void *)&INO(d, in.st_ino)->eh;
	t[1] = '\0'; /* a NUL inside the inline target */
	ino_reseal(d, in.st_ino);
	assert_repairs(d);
	assert_said("symbolic link with 0 blocks mapped");
	assert_said("inline symbolic link target with a NUL byte");
	bdev_close(d);
}

/* An inline target must be followed by zeros up to the end of the map
 * area (so one image has one checksum), and have no block of data; a
 * target in a block must have no NUL byte either (the core refuses such a
 * link as corrupt, so fsck must not call it clean). */
static void inline_link_targets_are_checked(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fs *fs;
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct stat a, b, l;
	assert_int_equal(fs_symlink(c, "short", "/a"), 0);
	assert_int_equal(fs_symlink(c, "other", "/b"), 0);
	char longt[300];
	memset(longt, 'q', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	assert_int_equal(fs_symlink(c, longt, "/l"), 0);
	assert_int_equal(fs_lstat(c, "/a", &a), 0);
	assert_int_equal(fs_lstat(c, "/b", &b), 0);
	assert_int_equal(fs_lstat(c, "/l", &l), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);
	char *t = (char *)(void *)&INO(d, a.st_ino)->eh;
	t[ANK_INLINE_LINK_MAX - 1] = 'z';
	ino_reseal(d, a.st_ino);
	INO(d, b.st_ino)->blocks = 1;
	ino_reseal(d, b.st_ino);
	assert_int_equal(INO(d, l.st_ino)->eh.depth, 0);
	uint8_t *lb = bdev_emu_block(d, INO(d, l.st_ino)->extents[0].pblk);
	lb[100] = '\0'; /* (data: no checksum to reseal) */
	/* the core refuses both as corrupt */
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	char got[256];
	assert_int_equal(fs_readlink(c, "/a", got, sizeof(got)), -EUCLEAN);
	assert_int_equal(fs_readlink(c, "/b", got, sizeof(got)), -EUCLEAN);
	char big[400];
	assert_int_equal(fs_readlink(c, "/l", big, sizeof(big)), -EUCLEAN);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_repairs(d);
	assert_said("inline symbolic link target not followed by zeros");
	assert_said("inline symbolic link with blocks of data");
	assert_said("symbolic link target with a NUL byte");
	bdev_close(d);
}

/* Extended attribute blocks: a damaged one (its checksum), one outside the
 * data region and one two inodes claim are reported; repair drops the
 * attributes (and the block) of the inode at fault and counts its blocks
 * again. A sound block survives a check untouched. */
static void xattr_blocks_are_checked(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fs *fs;
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct stat st[3];
	const char *names[3] = {"/a", "/b", "/c"};
	static char big[300]; /* (too big for the inode: in a block) */
	memset(big, 'v', sizeof(big));
	for (int k = 0; k < 3; k++) {
		assert_int_equal(fs_close(c, fs_open(c, names[k], O_CREAT | O_WRONLY, 0644)), 0);
		assert_int_equal(fs_setxattrat(c, FS_AT_ROOT, names[k], 0, "user.k", big, 300, 0), 0);
		assert_int_equal(fs_stat(c, names[k], &st[k]), 0);
	}
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);
	uint64_t a = st[0].st_ino, b = st[1].st_ino, cc = st[2].st_ino;
	assert_int_equal(INO(d, a)->blocks, 1);
	uint8_t *blk = bdev_emu_block(d, INO(d, a)->xattr_block);
	assert_int_equal(((struct ank_xattr_header *)(void *)blk)->magic, ANK_XATTR_MAGIC);
	blk[40] ^= 1; /* a's block damaged */
	INO(d, b)->xattr_block = 1; /* b's outside the data region */
	ino_reseal(d, b);
	INO(d, cc)->xattr_block = INO(d, a)->xattr_block; /* c claims a's */
	ino_reseal(d, cc);
	assert_repairs(d);
	assert_said("extended attribute block");
	assert_said("bad checksum");
	assert_int_equal(INO(d, a)->xattr_block, 0);
	assert_int_equal(INO(d, a)->blocks, 0);
	assert_int_equal(INO(d, b)->xattr_block, 0);
	assert_int_equal(INO(d, cc)->xattr_block, 0);
	bdev_close(d);
}

/* The attribute areas in the inode table's records: one damaged in an
 * inode in use, one left in a free inode; both reported and emptied, and
 * dump prints the attributes of a sound one. */
static void xattr_areas_are_checked(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fs *fs;
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct stat sa, sb, sc;
	const char *names[3] = {"/a", "/b", "/c"};
	for (int k = 0; k < 3; k++) {
		assert_int_equal(fs_close(c, fs_open(c, names[k], O_CREAT | O_WRONLY, 0644)), 0);
		assert_int_equal(fs_setxattrat(c, FS_AT_ROOT, names[k], 0, "user.k", "v1", 2, 0), 0);
	}
	assert_int_equal(fs_stat(c, "/a", &sa), 0);
	assert_int_equal(fs_stat(c, "/b", &sb), 0);
	assert_int_equal(fs_stat(c, "/c", &sc), 0);
	assert_int_equal(sa.st_blocks, 0); /* (in the inode) */
	assert_int_equal(fs_unlink(c, "/c"), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dump_run(d, "/a", f), 0);
	fclose(f);
	printf("%s", buf);
	assert_non_null(strstr(buf, "xattrs in the inode (1, 8 bytes)"));
	assert_non_null(strstr(buf, "user.k = 2 bytes \"v1\""));
	free(buf);

	uint8_t *area_a = (uint8_t *)INO(d, sa.st_ino) + ANK_INODE_SIZE;
	uint8_t *area_b = (uint8_t *)INO(d, sb.st_ino) + ANK_INODE_SIZE;
	uint8_t *area_c = (uint8_t *)INO(d, sc.st_ino) + ANK_INODE_SIZE;
	assert_int_equal(INO(d, sc.st_ino)->mode, 0); /* (freed) */
	area_a[ANK_XATTR_HDR_SIZE + 5] ^= 1;  /* a value byte of a */
	memcpy(area_c, area_b, ANK_INODE_XATTR_SIZE); /* attributes in a free inode */
	assert_repairs(d);
	assert_said("extended attribute area bad checksum; emptied");
	assert_said("extended attribute area not zero in a free inode");
	for (unsigned k = 0; k < ANK_INODE_XATTR_SIZE; k++)
		assert_true(area_a[k] == 0 && area_c[k] == 0);
	/* b's is untouched, and still read */
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	char v[4];
	assert_int_equal(fs_getxattrat(c, FS_AT_ROOT, "/b", 0, "user.k", v, sizeof(v)), 2);
	assert_int_equal(fs_getxattrat(c, FS_AT_ROOT, "/a", 0, "user.k", v, sizeof(v)), -ENODATA);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);
	bdev_close(d);
}

/* The incompat feature word: mkfs sets FILETYPES, XATTR, INLINE_LINKS and
 * INODE_XATTRS (the records' size, which stays);
 * a volume made without the first two (by an older version) gets them at
 * its first read-write mount, so that an older program then refuses it. It
 * never gets INLINE_LINKS: its short links keep their targets in blocks,
 * and new ones are made the same way. An unknown bit (a newer version's)
 * makes mount and fsck refuse the volume with a clear answer. */
static void feature_flags_refuse_what_they_do_not_know(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fs *fs;
	struct fs_options o = {.no_background = true};
	/* (INODE_XATTRS is the inode table's layout, not a feature a mount
	 * may add: it stays, as mkfs made it) */
	const uint32_t layout = ANK_FEATURE_INCOMPAT_INODE_XATTRS;
	const uint32_t all = ANK_FEATURE_INCOMPAT_FILETYPES | ANK_FEATURE_INCOMPAT_XATTR | layout;
	assert_int_equal(SB(d)->feature_incompat, all | ANK_FEATURE_INCOMPAT_INLINE_LINKS);
	SB(d)->feature_incompat = layout;
	sb_reseal(d);
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	assert_int_equal(SB(d)->feature_incompat, all);
	assert_int_equal(fs_unmount(fs), 0);
	SB(d)->feature_incompat = ANK_FEATURE_INCOMPAT_FILETYPES | layout; /* before attributes */
	sb_reseal(d);
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	assert_int_equal(SB(d)->feature_incompat, all);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	assert_int_equal(fs_symlink(c, "short", "/l"), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_clean(d);
	assert_int_equal(fs_mount(d, &o, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	struct stat st;
	char got[16];
	assert_int_equal(fs_lstat(c, "/l", &st), 0);
	assert_int_equal(st.st_blocks, 8); /* (in a block) */
	assert_int_equal(fs_readlink(c, "/l", got, sizeof(got)), 5);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	assert_int_equal(SB(d)->feature_incompat, all);
	SB(d)->feature_incompat |= 0x80;
	sb_reseal(d);
	assert_int_equal(fs_mount(d, &o, &fs), -EOPNOTSUPP);
	struct fsck_report rep;
	assert_int_not_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_said("unknown incompatible features 0x80");
	bdev_close(d);
}

static void inode_bitmap_bit_cleared_reported_and_repaired(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;

	build_tree(d);
	set_ibit(d, I_G, false);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_PROBLEMS);
	assert_said("fsck: inode bitmap: inode 4 in use but marked free");
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_REPAIRED);
	assert_true(ibit(d, I_G));
	assert_clean(d);
	bdev_close(d);
}

static void wrong_link_count_reported_and_repaired(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	INO(d, I_G)->nlink = 5;
	ino_reseal(d, I_G);
	INO(d, I_A)->nlink = 2; /* has one subdirectory: should be 3 */
	ino_reseal(d, I_A);
	assert_repairs(d);
	assert_int_equal(INO(d, I_G)->nlink, 2);
	assert_int_equal(INO(d, I_A)->nlink, 3);
	bdev_close(d);
}

static void directory_entry_to_free_inode_repaired(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	uint32_t off = add_entry_raw(d, I_A, "ghost", 40, ANK_FT_REG);
	assert_repairs(d);
	assert_said("names free inode 40");
	const struct ank_dirent *de =
		(const void *)(bdev_emu_block(d, INO(d, I_A)->extents[0].pblk) + off);
	assert_int_equal(de->ino, 0);
	bdev_close(d);
}

static void directory_block_checksum_mismatch_reported(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	uint8_t *b = bdev_emu_block(d, INO(d, I_A)->extents[0].pblk);
	b[2000] ^= 0x10; /* inside the free space of the last record */
	assert_repairs(d);
	assert_said("directory 2 block 0: checksum mismatch");
	bdev_close(d);
}

static void duplicate_block_and_unreachable_inode_repaired(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);

	build_tree(d);
	/* Inode 7: allocated, reachable from nowhere. */
	make_inode(d, 7, S_IFREG | 0644);
	give_blocks(d, 7, 2);
	/* /a/f's first block is also claimed by /g. */
	INO(d, I_G)->extents[0].pblk = INO(d, I_F)->extents[0].pblk;
	ino_reseal(d, I_G);
	assert_repairs(d);
	assert_said("inode 7: allocated but not reachable from the root");
	assert_said("is claimed by another inode too");
	assert_int_equal(INO(d, 7)->mode, 0);
	bdev_close(d);
}

static void orphan_list_is_information_and_repair_frees_it(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;

	build_tree(d);
	make_inode(d, 8, S_IFREG | 0644);
	give_blocks(d, 8, 4);
	make_inode(d, 9, S_IFREG | 0644);
	INO(d, 8)->next_orphan = 9;
	ino_reseal(d, 8);
	SB(d)->orphan_head = 8;
	SB(d)->state = ANK_STATE_DIRTY;
	sb_reseal(d);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_said("info: orphan list: 2 inodes pending");
	assert_int_equal(rep.inodes_used, 8);

	uint64_t blk8 = INO(d, 8)->extents[0].pblk;
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(SB(d)->orphan_head, 0);
	assert_int_equal(INO(d, 8)->mode, 0);
	assert_false(ibit(d, 9));
	assert_false(bbit(d, blk8));
	assert_clean(d);

	/* A loop in the list is a problem, cut and repaired. */
	make_inode(d, 8, S_IFREG | 0644);
	INO(d, 8)->next_orphan = 8;
	ino_reseal(d, 8);
	SB(d)->orphan_head = 8;
	sb_reseal(d);
	assert_repairs(d);
	assert_said("loop");
	bdev_close(d);
}

/* ---- journal ---------------------------------------------------------------- */

/* Write a transaction at log index pos: descriptors for homes[] (images[i]
 * is homes[i]'s new content), then the commit. Returns the log blocks used. */
static uint64_t put_txn(struct bdev *d, uint64_t pos, uint64_t seq, const uint64_t *homes,
			uint8_t *const *images, uint32_t n)
{
	const struct ank_super *sb = SB(d);
	const struct ank_journal_header *jh = (const void *)bdev_emu_block(d, sb->journal_start);
	uint32_t crc = 0, done = 0;
	uint64_t p = pos;

	while (done < n) {
		uint32_t cnt = ANK_MIN(n - done, ANK_JDESC_MAX);
		struct ank_journal_desc *desc = (void *)bdev_emu_block(d, jscan_log_block(sb, p++));
		memset(desc, 0, BS);
		desc->magic = ANK_JDESC_MAGIC;
		desc->salt = jh->salt;
		desc->seq = seq;
		desc->count = cnt;
		for (uint32_t i = 0; i < cnt; i++)
			desc->home[i] = homes[done + i];
		desc->checksum = ank_jdesc_csum(desc);
		crc = crc32c(crc, desc, BS);
		for (uint32_t i = 0; i < cnt; i++) {
			uint8_t *blk = bdev_emu_block(d, jscan_log_block(sb, p++));
			memcpy(blk, images[done + i], BS);
			crc = crc32c(crc, blk, BS);
		}
		done += cnt;
	}
	struct ank_journal_commit *c = (void *)bdev_emu_block(d, jscan_log_block(sb, p));
	memset(c, 0, BS);
	c->magic = ANK_JCMT_MAGIC;
	c->salt = jh->salt;
	c->seq = seq;
	c->nblocks = (uint32_t)(p - pos);
	c->data_crc = crc;
	c->time_sec = 1700000000;
	c->checksum = ank_jcmt_csum(c);
	return p + 1 - pos;
}

/* A transaction at the journal's tail replacing the root's inode-table
 * block with one where the root's mtime is `mtime`. */
static void txn_root_mtime(struct bdev *d, int64_t mtime)
{
	const struct ank_super *sb = SB(d);
	const struct ank_journal_header *jh = (const void *)bdev_emu_block(d, sb->journal_start);
	uint8_t *img = malloc(BS);
	uint64_t home = sb->itable_start;

	memcpy(img, bdev_emu_block(d, home), BS);
	struct ank_dinode *root = (struct ank_dinode *)(void *)(img + ank_inode_offset(sb, 1));
	root->mtime_sec = mtime;
	root->checksum = ank_dinode_csum(root);
	put_txn(d, jh->tail, jh->seq, &home, &img, 1);
	free(img);
}

static void committed_journal_transaction_is_seen_through_overlay(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;

	build_tree(d);
	txn_root_mtime(d, 1234567);
	/* Also corrupt the root's on-disk copy: only the journal's is right. */
	INO(d, 1)->mtime_sec = 42;
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.journal_txns, 1);
	assert_said("info: journal: 1 committed transaction (1 blocks) not yet replayed");
	assert_int_equal(INO(d, 1)->mtime_sec, 42); /* check mode wrote nothing */

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dump_run(d, "1", f), 0);
	fclose(f);
	assert_non_null(strstr(buf, " 1234567."));
	free(buf);

	uint32_t salt = ((struct ank_journal_header *)bdev_emu_block(d, 1))->salt;
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(INO(d, 1)->mtime_sec, 1234567);
	const struct ank_journal_header *jh = (const void *)bdev_emu_block(d, 1);
	assert_int_equal(jh->seq, 2);
	assert_int_equal(jh->tail, 3);
	assert_int_not_equal(jh->salt, salt);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.journal_txns, 0);
	bdev_close(d);
}

static void journaled_superblock_image_is_used(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;

	build_tree(d);
	/* Inode 8 was unlinked while open: on the orphan list, but the list
	 * head only reached the journal, not block 0. */
	make_inode(d, 8, S_IFREG | 0644);
	give_blocks(d, 8, 2);
	uint8_t *img = calloc(1, BS);
	memcpy(img, SB(d), sizeof(struct ank_super));
	struct ank_super *jsb = (struct ank_super *)img;
	jsb->orphan_head = 8;
	jsb->state = ANK_STATE_DIRTY;
	jsb->checksum = ank_super_csum(jsb);
	const struct ank_journal_header *jh = (const void *)bdev_emu_block(d, 1);
	uint64_t home = 0;
	put_txn(d, jh->tail, jh->seq, &home, &img, 1);

	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_said("info: orphan list: 1 inode pending");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(dump_run(d, NULL, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "orphan head    8"));
	free(buf);

	assert_int_equal(run(d, true, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(SB(d)->orphan_head, 0);
	assert_int_equal(INO(d, 8)->mode, 0);
	assert_clean(d);

	/* An invalid superblock image in the journal is ignored, reported. */
	memcpy(img, SB(d), sizeof(struct ank_super));
	jsb->data_start++;
	jsb->checksum = ank_super_csum(jsb);
	jh = (const void *)bdev_emu_block(d, 1);
	put_txn(d, jh->tail, jh->seq, &home, &img, 1);
	ank_corrupt_quiet = 1;
	assert_repairs(d);
	ank_corrupt_quiet = 0;
	assert_said("superblock image in the journal is invalid");
	assert_int_equal(ank_super_validate(SB(d), 1024), 0);
	free(img);
	bdev_close(d);
}

static void torn_journal_transaction_ignored(void **state)
{
	(void)state;
	struct bdev *d = fresh(1024, 0);
	struct fsck_report rep;
	struct jscan_result res;

	txn_root_mtime(d, 999);
	/* Damage the image after the commit was computed: data_crc fails. */
	bdev_emu_block(d, jscan_log_block(SB(d), 1))[100] ^= 1;
	assert_int_equal(jscan_scan(d, SB(d), NULL, NULL, &res), 0);
	assert_int_equal(res.transactions, 0);
	assert_int_equal(res.torn_tail, 1);
	assert_int_equal(res.next_seq, 1);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.journal_txns, 0);
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_CLEAN);
	assert_int_not_equal(INO(d, 1)->mtime_sec, 999);

	/* A missing commit is torn as well. */
	bdev_close(d);
	d = fresh(1024, 0);
	txn_root_mtime(d, 999);
	memset(bdev_emu_block(d, jscan_log_block(SB(d), 2)), 0, BS);
	assert_int_equal(jscan_scan(d, SB(d), NULL, NULL, &res), 0);
	assert_int_equal(res.transactions, 0);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	bdev_close(d);
}

struct collect {
	uint64_t n;
	uint64_t seq_sum;
	int bad;
};

static int collect_fn(void *arg, uint64_t seq, uint64_t home, const void *image)
{
	struct collect *c = arg;
	uint64_t tag;
	memcpy(&tag, image, sizeof(tag));
	if (tag != home * 7 + seq)
		c->bad++;
	c->n++;
	c->seq_sum += seq;
	return 0;
}

static void jscan_reads_multi_descriptor_transactions_across_the_wrap(void **state)
{
	(void)state;
	struct bdev *d = fresh(4096, 1200);
	const struct ank_super *sb = SB(d);
	struct ank_journal_header *jh = (void *)bdev_emu_block(d, sb->journal_start);
	uint64_t loglen = sb->journal_blocks - 1;
	enum { N1 = 700, N2 = 5 };
	uint64_t homes[N1];
	uint8_t *imgs[N1];

	/* Start near the end of the log so the first transaction wraps. */
	jh->tail = loglen - 100;
	jh->seq = 77;
	jh->checksum = ank_jhdr_csum(jh);
	for (int i = 0; i < N1; i++) {
		homes[i] = sb->data_start + (uint64_t)i;
		imgs[i] = calloc(1, BS);
		uint64_t tag = homes[i] * 7 + 77;
		memcpy(imgs[i], &tag, sizeof(tag));
	}
	uint64_t len1 = put_txn(d, jh->tail, 77, homes, imgs, N1);
	assert_int_equal(len1, N1 + 2 + 1);
	for (int i = 0; i < N2; i++) {
		uint64_t tag = homes[i] * 7 + 78;
		memcpy(imgs[i], &tag, sizeof(tag));
	}
	uint64_t len2 = put_txn(d, jh->tail + len1, 78, homes, imgs, N2);

	struct collect c = { 0 };
	struct jscan_result res;
	assert_int_equal(jscan_scan(d, sb, collect_fn, &c, &res), 0);
	assert_int_equal(res.transactions, 2);
	assert_int_equal(res.blocks, N1 + N2);
	assert_int_equal(c.n, N1 + N2);
	assert_int_equal(c.bad, 0);
	assert_int_equal(res.next_seq, 79);
	assert_int_equal(res.next_pos, (jh->tail + len1 + len2) % loglen);

	/* fsck sees the images; they land in free data blocks, which is fine. */
	struct fsck_report rep;
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_CLEAN);
	assert_int_equal(rep.journal_txns, 2);
	uint64_t tag;
	memcpy(&tag, bdev_emu_block(d, homes[0]), sizeof(tag));
	assert_int_equal(tag, homes[0] * 7 + 78);
	memcpy(&tag, bdev_emu_block(d, homes[N1 - 1]), sizeof(tag));
	assert_int_equal(tag, homes[N1 - 1] * 7 + 77);
	assert_clean(d);

	/* A home block inside the journal makes the scan fail as corrupt. */
	jh = (void *)bdev_emu_block(d, sb->journal_start);
	homes[0] = sb->journal_start + 3;
	put_txn(d, jh->tail, jh->seq, homes, imgs, 1);
	ank_corrupt_quiet = 1;
	assert_int_equal(jscan_scan(d, sb, NULL, NULL, &res), -EUCLEAN);
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_PROBLEMS);
	assert_int_equal(run(d, true, &rep), FSCK_EXIT_REPAIRED);
	assert_clean(d);
	ank_corrupt_quiet = 0;
	for (int i = 0; i < N1; i++)
		free(imgs[i]);
	bdev_close(d);
}

/* ---- robustness ------------------------------------------------------------- */

static void random_bit_flips_never_crash_fsck(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)time(NULL);
	const char *env = getenv("FSCK_SEED");
	if (env)
		seed = strtoull(env, NULL, 0);
	int iters = getenv("FSCK_ITERS") ? atoi(getenv("FSCK_ITERS")) : 300;
	int maxflips = getenv("FSCK_MAXFLIPS") ? atoi(getenv("FSCK_MAXFLIPS")) : 3;
	if (maxflips < 1)
		maxflips = 1;
	printf("random_bit_flips_never_crash_fsck: seed %llu (set FSCK_SEED to replay)\n",
	       (unsigned long long)seed);
	srandom((unsigned)seed);

	const uint64_t nblocks = 1024;
	struct bdev *d = fresh(nblocks, 0);
	build_tree(d);
	txn_root_mtime(d, 5555);
	assert_clean(d);

	/* Blocks worth corrupting: every metadata block in use, plus the data
	 * blocks that hold directories and extent nodes. */
	uint64_t targets[64];
	unsigned nt = 0;
	const struct ank_super *sb = SB(d);
	targets[nt++] = 0;
	for (uint64_t j = 0; j < 4; j++)
		targets[nt++] = sb->journal_start + j;
	targets[nt++] = sb->ibitmap_start;
	targets[nt++] = sb->bbitmap_start;
	targets[nt++] = sb->itable_start;
	targets[nt++] = sb->itable_start + 1;
	targets[nt++] = INO(d, 1)->extents[0].pblk;
	targets[nt++] = INO(d, I_A)->extents[0].pblk;
	targets[nt++] = big_node(d);

	uint8_t *image = malloc(nblocks * BS);
	assert_non_null(image);
	bdev_emu_snapshot(d, image);
	bdev_close(d);

	FILE *devnull = fopen("/dev/null", "w");
	assert_non_null(devnull);
	ank_corrupt_quiet = 1;
	unsigned counts[16] = { 0 };
	for (int it = 0; it < iters; it++) {
		assert_int_equal(bdev_emu_create_from(image, nblocks, &d), 0);
		int flips = 1 + (int)(random() % maxflips);
		for (int k = 0; k < flips; k++) {
			uint64_t blk = targets[random() % nt];
			unsigned bit = (unsigned)(random() % (BS * 8));
			/* Bias towards the structure headers at the start of blocks. */
			if (random() % 2)
				bit %= 512 * 8;
			bdev_emu_block(d, blk)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		struct fsck_options o = { .out = devnull };
		struct fsck_report rep;
		int rc = fsck_run(d, &o, &rep);
		if (rc != 0 && rc != 4 && rc != 8)
			fail_msg("iteration %d: check returned %d", it, rc);
		counts[rc]++;
		/* dump must cope with the corrupt image too */
		dump_run(d, NULL, devnull);
		dump_run(d, "/a/b", devnull);
		dump_run(d, "/big", devnull);
		dump_run(d, "2", devnull);
		if (rc != 8) {
			o.repair = true;
			rc = fsck_run(d, &o, &rep);
			if (rc != 0 && rc != 1)
				fail_msg("iteration %d: repair returned %d", it, rc);
			o.repair = false;
			o.out = NULL;
			rc = fsck_run(d, &o, &rep);
			if (rc != 0) {
				struct fsck_options v = { .out = stdout };
				fsck_run(d, &v, &rep);
				fail_msg("iteration %d (seed %llu): not clean after repair", it,
					 (unsigned long long)seed);
			}
			o.out = devnull;
			char *buf = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&buf, &len);
			dump_run(d, NULL, f);
			dump_run(d, "/a/f", f);
			dump_run(d, "6", f);
			fclose(f);
			free(buf);
		}
		bdev_close(d);
	}
	ank_corrupt_quiet = 0;
	printf("check results: %u clean, %u with problems, %u unrecognised\n", counts[0],
	       counts[4], counts[8]);
	fclose(devnull);
	free(image);
}

/* Corruptions with valid checksums: a bit flipped inside an inode, a
 * directory block or an extent node, which is then resealed, so only the
 * semantic checks can catch it. Repair must always converge. */
static void random_resealed_corruptions_are_repaired(void **state)
{
	(void)state;
	uint64_t seed = getenv("FSCK_SEED") ? strtoull(getenv("FSCK_SEED"), NULL, 0)
					    : (uint64_t)time(NULL);
	int iters = getenv("FSCK_ITERS") ? atoi(getenv("FSCK_ITERS")) : 300;
	printf("random_resealed_corruptions_are_repaired: seed %llu\n", (unsigned long long)seed);
	srandom((unsigned)seed + 1);

	const uint64_t nblocks = 1024;
	struct bdev *d = fresh(nblocks, 0);
	build_tree(d);
	uint64_t dirblk[2] = { INO(d, 1)->extents[0].pblk, INO(d, I_A)->extents[0].pblk };
	uint64_t node = big_node(d);
	uint8_t *image = malloc(nblocks * BS);
	assert_non_null(image);
	bdev_emu_snapshot(d, image);
	bdev_close(d);

	ank_corrupt_quiet = 1;
	unsigned counts[16] = { 0 };
	for (int it = 0; it < iters; it++) {
		assert_int_equal(bdev_emu_create_from(image, nblocks, &d), 0);
		int n = 1 + (int)(random() % 3);
		for (int k = 0; k < n; k++) {
			unsigned bit;
			switch (random() % 4) {
			case 0: { /* an inode, not its checksum */
				uint64_t ino = 1 + (uint64_t)(random() % 8);
				bit = (unsigned)(random() % (252 * 8));
				((uint8_t *)INO(d, ino))[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				ino_reseal(d, ino);
				break;
			}
			case 1: { /* a directory block, mostly its records */
				int which = (int)(random() % 2);
				uint8_t *b = bdev_emu_block(d, dirblk[which]);
				bit = (unsigned)(random() % (256 * 8));
				b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				dir_reseal(d, which ? I_A : 1, dirblk[which]);
				break;
			}
			case 2: { /* the extent node */
				uint8_t *b = bdev_emu_block(d, node);
				bit = (unsigned)(random() % (400 * 8));
				if (bit / 8 >= 12 && bit / 8 < 16)
					bit = 0;
				b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				((struct ank_extent_header *)b)->checksum = ank_extent_node_csum(b);
				break;
			}
			default: { /* a bitmap bit */
				bool inode_map = random() % 2;
				uint64_t start = inode_map ? SB(d)->ibitmap_start : SB(d)->bbitmap_start;
				uint64_t lim = inode_map ? 16 : 160;
				bit = (unsigned)(random() % lim);
				*bitmap_byte(d, start, bit) ^= (uint8_t)(1u << (bit % 8));
				break;
			}
			}
		}
		struct fsck_options o = { .out = NULL };
		struct fsck_report rep;
		int rc = fsck_run(d, &o, &rep);
		if (rc != 0 && rc != 4)
			fail_msg("iteration %d: check returned %d", it, rc);
		counts[rc]++;
		o.repair = true;
		rc = fsck_run(d, &o, &rep);
		if (rc != 0 && rc != 1)
			fail_msg("iteration %d: repair returned %d", it, rc);
		o.repair = false;
		rc = fsck_run(d, &o, &rep);
		if (rc != 0) {
			struct fsck_options v = { .out = stdout };
			fsck_run(d, &v, &rep);
			fail_msg("iteration %d (seed %llu): not clean after repair", it,
				 (unsigned long long)seed);
		}
		bdev_close(d);
	}
	ank_corrupt_quiet = 0;
	printf("check results: %u clean, %u with problems\n", counts[0], counts[4]);
	free(image);
}

/* A larger device: mkfs and a clean check stay quick and bounded. */
static void large_volume_mkfs_and_check(void **state)
{
	(void)state;
	struct bdev *d = fresh(262144, 0); /* 1 GiB */
	struct fsck_report rep;

	assert_int_equal(SB(d)->journal_blocks, 8192);
	assert_int_equal(SB(d)->inode_count, 65536);
	uint64_t t0 = ank_mono_ns();
	assert_int_equal(run(d, false, &rep), FSCK_EXIT_CLEAN);
	printf("fsck of an empty 1 GiB volume: %.1f ms\n", (double)(ank_mono_ns() - t0) / 1e6);
	bdev_close(d);
}

static int teardown_out(void **state)
{
	(void)state;
	free(g_out);
	g_out = NULL;
	free(g_first);
	g_first = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fresh_volume_is_clean),
		cmocka_unit_test(populated_tree_is_clean_and_dumps),
		cmocka_unit_test(mkfs_refuses_tiny_device),
		cmocka_unit_test(corrupt_superblock_magic_reports_and_exits_8),
		cmocka_unit_test(flipped_bit_in_inode_reported),
		cmocka_unit_test(special_files_are_checked),
		cmocka_unit_test(symbolic_links_are_checked_and_dumped),
		cmocka_unit_test(xattr_areas_are_checked),
		cmocka_unit_test(inline_link_targets_are_checked),
		cmocka_unit_test(xattr_blocks_are_checked),
		cmocka_unit_test(feature_flags_refuse_what_they_do_not_know),
		cmocka_unit_test(inode_bitmap_bit_cleared_reported_and_repaired),
		cmocka_unit_test(wrong_link_count_reported_and_repaired),
		cmocka_unit_test(directory_entry_to_free_inode_repaired),
		cmocka_unit_test(directory_block_checksum_mismatch_reported),
		cmocka_unit_test(duplicate_block_and_unreachable_inode_repaired),
		cmocka_unit_test(orphan_list_is_information_and_repair_frees_it),
		cmocka_unit_test(committed_journal_transaction_is_seen_through_overlay),
		cmocka_unit_test(journaled_superblock_image_is_used),
		cmocka_unit_test(torn_journal_transaction_ignored),
		cmocka_unit_test(jscan_reads_multi_descriptor_transactions_across_the_wrap),
		cmocka_unit_test(random_bit_flips_never_crash_fsck),
		cmocka_unit_test(random_resealed_corruptions_are_repaired),
		cmocka_unit_test(large_volume_mkfs_and_check),
	};
	return cmocka_run_group_tests(tests, NULL, teardown_out);
}
