/*
 * test_identity.c - the core calls that crash recovery replays through:
 * explicit fd numbers (fs_open_at, fs_open_ino_at), fd offsets
 * (fs_set_offset), explicit inode numbers (fs_create_ino, fs_mkdir_ino,
 * including the reuse of an allocated but unlinked inode), orphans kept
 * over a mount (keep_orphans, fs_release_orphans), the numbers the server
 * logs (fs_inode_of_fd, fs_lookup_ino), and durability tracking
 * (fs_running_tid, fs_durable_tid, fs_inode_change_tid, the commit hook).
 *
 * Every volume is an emulated device; a "crash" is a copy of the device
 * taken while the file system is mounted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/format.h"
#include "../src/fs/recovery.h"
#include "../src/fs/jscan.h"
#include "../src/fsck/fsck.h"

#define VOL_BLOCKS 4096
#define VOL_INODES 2048

struct vol {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
};

static void vol_mount(struct vol *v, const struct fs_options *opt)
{
	struct fs_options o = {.no_background = true};
	if (opt)
		o = *opt;
	assert_int_equal(fs_mount(v->dev, &o, &v->fs), 0);
	v->c = fs_client_new(v->fs, 0, 0);
	assert_non_null(v->c);
}

static void vol_format(struct vol *v)
{
	assert_int_equal(bdev_emu_create(VOL_BLOCKS, &v->dev), 0);
	struct fs_mkfs_options mo = {.inodes = VOL_INODES};
	assert_int_equal(fs_mkfs(v->dev, &mo), 0);
}

static void vol_create(struct vol *v)
{
	vol_format(v);
	vol_mount(v, NULL);
}

static void vol_unmount(struct vol *v)
{
	fs_client_free(v->c);
	assert_int_equal(fs_unmount(v->fs), 0);
	v->c = NULL;
	v->fs = NULL;
}

static void vol_destroy(struct vol *v)
{
	if (v->fs)
		vol_unmount(v);
	bdev_close(v->dev);
	v->dev = NULL;
}

static void assert_fsck_clean(struct bdev *dev)
{
	struct fsck_options o = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(dev, &o, &r), FSCK_EXIT_CLEAN);
}

/* Copy the device as it is now (the "crash") into a new emulated device. */
static struct bdev *crash_copy(struct bdev *dev)
{
	void *img = malloc(dev->nblocks * 4096);
	assert_non_null(img);
	bdev_emu_snapshot(dev, img);
	struct bdev *copy;
	assert_int_equal(bdev_emu_create_from(img, dev->nblocks, &copy), 0);
	free(img);
	return copy;
}

static uint64_t ino_of(struct fs_client *c, const char *path)
{
	struct stat st;
	assert_int_equal(fs_stat(c, path, &st), 0);
	return (uint64_t)st.st_ino;
}

static void write_file(struct fs_client *c, const char *path, const char *text)
{
	int fd = fs_open(c, path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(c, fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fs_close(c, fd), 0);
}

static void assert_content(struct fs_client *c, const char *path, const char *text)
{
	char buf[256];
	int fd = fs_open(c, path, O_RDONLY, 0);
	assert_true(fd >= 0);
	ssize_t n = fs_read(c, fd, buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_memory_equal(buf, text, (size_t)n);
	assert_int_equal(fs_close(c, fd), 0);
}

/* ---- fd numbers and offsets ---------------------------------------------------- */

static void test_open_at_gives_the_requested_fd_number(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/f", "hello");
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 7), 7);
	/* The holes below stay free: plain opens take the lowest. */
	assert_int_equal(fs_open(v.c, "/f", O_RDONLY, 0), 0);
	assert_int_equal(fs_open(v.c, "/f", O_RDONLY, 0), 1);
	/* Beyond the current table, and creating. */
	assert_int_equal(fs_open_at(v.c, "/g", O_CREAT | O_RDWR, 0644, 300), 300);
	assert_int_equal(fs_write(v.c, 300, "xyz", 3), 3);
	assert_int_equal(fs_client_fd_high(v.c), 301);
	char buf[8];
	assert_int_equal(fs_read(v.c, 7, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	struct stat st;
	assert_int_equal(fs_fstat(v.c, 300, &st), 0);
	assert_int_equal(st.st_ino, ino_of(v.c, "/g"));
	assert_int_equal(st.st_size, 3);
	/* Out of range numbers; errors of fs_open still apply. */
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, -1), -EBADF);
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 1 << 20), -EBADF);
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, (1 << 20) - 1), (1 << 20) - 1);
	assert_int_equal(fs_open_at(v.c, "/nope", O_RDONLY, 0, 9), -ENOENT);
	assert_int_equal(fs_open_at(v.c, "/f", O_ACCMODE, 0, 9), -EINVAL);
	assert_int_equal(fs_close(v.c, 7), 0);
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 7), 7);
	vol_destroy(&v);
}

static void test_open_at_busy_number_is_ebusy(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/f", "x");
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 3), 3);
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 3), -EBUSY);
	/* Checked before anything changes: no file is created. */
	assert_int_equal(fs_open_at(v.c, "/new", O_CREAT | O_RDWR, 0644, 3), -EBUSY);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/new", &st), -ENOENT);
	assert_int_equal(fs_create_ino(v.c, "/new", O_RDWR, 0644, 500, 3), -EBUSY);
	assert_int_equal(fs_stat(v.c, "/new", &st), -ENOENT);
	/* A stale fd is a number in use too. */
	struct fs_client *c2 = fs_client_new(v.fs, 0, 0);
	assert_non_null(c2);
	assert_int_equal(fs_client_reserve_stale(c2, 2), 0);
	assert_int_equal(fs_open_at(c2, "/f", O_RDONLY, 0, 1), -EBUSY);
	assert_int_equal(fs_close(c2, 1), 0);
	assert_int_equal(fs_open_at(c2, "/f", O_RDONLY, 0, 1), 1);
	/* Numbers are per client. */
	assert_int_equal(fs_open_at(c2, "/f", O_RDONLY, 0, 3), 3);
	fs_client_free(c2);
	assert_int_equal(fs_close(v.c, 3), 0);
	assert_int_equal(fs_open_at(v.c, "/f", O_RDONLY, 0, 3), 3);
	vol_destroy(&v);
}

static void test_set_offset_moves_the_fd(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/f", "abcdefgh");
	int fd = fs_open(v.c, "/f", O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_set_offset(v.c, fd, 2), 0);
	assert_int_equal(fs_lseek(v.c, fd, 0, SEEK_CUR), 2);
	char buf[16];
	assert_int_equal(fs_read(v.c, fd, buf, 3), 3);
	assert_memory_equal(buf, "cde", 3);
	assert_int_equal(fs_set_offset(v.c, fd, 10), 0); /* past EOF: a hole on write */
	assert_int_equal(fs_write(v.c, fd, "Z", 1), 1);
	struct stat st;
	assert_int_equal(fs_fstat(v.c, fd, &st), 0);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(fs_set_offset(v.c, fd, (uint64_t)UINT32_MAX * 4096), 0);
	assert_int_equal(fs_set_offset(v.c, fd, (uint64_t)UINT32_MAX * 4096 + 1), -EINVAL);
	assert_int_equal(fs_set_offset(v.c, fd, UINT64_MAX), -EINVAL);
	assert_int_equal(fs_set_offset(v.c, 99, 0), -EBADF);
	assert_int_equal(fs_set_offset(v.c, -1, 0), -EBADF);
	assert_int_equal(fs_close(v.c, fd), 0);
	assert_int_equal(fs_set_offset(v.c, fd, 0), -EBADF);
	/* A directory's offset is its readdir position. */
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	write_file(v.c, "/d/a", "");
	fd = fs_open(v.c, "/d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	struct fs_dirent ents[4];
	assert_int_equal(fs_readdir(v.c, fd, ents, 4), 3);
	assert_int_equal(fs_set_offset(v.c, fd, 2), 0); /* past "." and ".." */
	assert_int_equal(fs_readdir(v.c, fd, ents, 4), 1);
	assert_string_equal(ents[0].name, "a");
	assert_int_equal(fs_close(v.c, fd), 0);
	/* Stale fds say EIO, as every use does. */
	struct fs_client *c2 = fs_client_new(v.fs, 0, 0);
	assert_int_equal(fs_client_reserve_stale(c2, 1), 0);
	assert_int_equal(fs_set_offset(c2, 0, 0), -EIO);
	uint64_t ino;
	assert_int_equal(fs_inode_of_fd(c2, 0, &ino), -EIO);
	fs_client_free(c2);
	vol_destroy(&v);
}

/* ---- inode numbers ------------------------------------------------------------------ */

static void test_create_ino_uses_the_requested_inode_number_and_survives_remount(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	assert_int_equal(fs_create_ino(v.c, "/f", O_RDWR, 0640, 100, 5), 5);
	struct stat st;
	assert_int_equal(fs_fstat(v.c, 5, &st), 0);
	assert_int_equal(st.st_ino, 100);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(fs_write(v.c, 5, "data of f", 9), 9);
	assert_int_equal(fs_close(v.c, 5), 0);
	/* Without an fd: created, not opened. */
	assert_int_equal(fs_create_ino(v.c, "/g", O_WRONLY, 0600, VOL_INODES - 1, -1), 0);
	assert_int_equal(fs_client_fd_high(v.c), 0);
	assert_int_equal(ino_of(v.c, "/g"), VOL_INODES - 1);
	/* Neighbours in the same inode table block, and ordinary creates
	 * afterwards, keep their own numbers. */
	assert_int_equal(fs_create_ino(v.c, "/h", O_RDWR, 0600, 101, -1), 0);
	write_file(v.c, "/plain", "plain");
	uint64_t plain = ino_of(v.c, "/plain");
	assert_true(plain != 100 && plain != 101 && plain != VOL_INODES - 1);
	/* The usual creation errors. */
	assert_int_equal(fs_create_ino(v.c, "/f", O_RDWR, 0600, 200, -1), -EEXIST);
	assert_int_equal(fs_create_ino(v.c, "/no/x", O_RDWR, 0600, 200, -1), -ENOENT);
	assert_int_equal(fs_create_ino(v.c, "/plain/x", O_RDWR, 0600, 200, -1), -ENOTDIR);
	assert_int_equal(fs_create_ino(v.c, "/x", O_RDWR | O_DIRECTORY, 0600, 200, -1), -EINVAL);
	assert_int_equal(fs_create_ino(v.c, "/x", O_ACCMODE, 0600, 200, -1), -EINVAL);
	assert_int_equal(fs_create_ino(v.c, "/x", O_RDWR, 0600, 200, -2), 0); /* any fd < 0 */
	assert_int_equal(ino_of(v.c, "/x"), 200);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_mount(&v, NULL);
	assert_int_equal(ino_of(v.c, "/f"), 100);
	assert_int_equal(ino_of(v.c, "/g"), VOL_INODES - 1);
	assert_int_equal(ino_of(v.c, "/h"), 101);
	assert_int_equal(ino_of(v.c, "/plain"), plain);
	assert_content(v.c, "/f", "data of f");
	assert_content(v.c, "/plain", "plain");
	assert_int_equal(fs_unlink(v.c, "/f"), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_destroy(&v);
}

static void test_mkdir_ino_likewise(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	assert_int_equal(fs_mkdir_ino(v.c, "/d", 0750, 50), 0);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/d", &st), 0);
	assert_int_equal(st.st_ino, 50);
	assert_int_equal(st.st_mode, S_IFDIR | 0750);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(fs_mkdir_ino(v.c, "/d/e", 0755, 51), 0);
	assert_int_equal(fs_create_ino(v.c, "/d/e/f", O_RDWR, 0644, 52, -1), 0);
	assert_int_equal(fs_stat(v.c, "/d", &st), 0);
	assert_int_equal(st.st_nlink, 3);
	uint64_t ino, parent;
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/..", &ino, &parent), 0);
	assert_int_equal(ino, 50);
	assert_int_equal(fs_mkdir_ino(v.c, "/d", 0755, 60), -EEXIST);
	assert_int_equal(fs_mkdir_ino(v.c, "/", 0755, 60), -EEXIST);
	assert_int_equal(fs_mkdir_ino(v.c, "/none/x", 0755, 60), -ENOENT);
	assert_int_equal(fs_mkdir_ino(v.c, "/x", 0755, 51), -EEXIST);
	assert_int_equal(fs_mkdir_ino(v.c, "/x", 0755, 0), -EINVAL);
	assert_int_equal(fs_mkdir_ino(v.c, "/x", 0755, VOL_INODES), -EINVAL);
	assert_int_equal(fs_stat(v.c, "/x", &st), -ENOENT);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_mount(&v, NULL);
	assert_int_equal(ino_of(v.c, "/d"), 50);
	assert_int_equal(ino_of(v.c, "/d/e"), 51);
	assert_int_equal(ino_of(v.c, "/d/e/f"), 52);
	assert_int_equal(fs_unlink(v.c, "/d/e/f"), 0);
	assert_int_equal(fs_rmdir(v.c, "/d/e"), 0);
	assert_int_equal(fs_rmdir(v.c, "/d"), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_destroy(&v);
}

/* A user without write permission on the parent gets EACCES, as fs_mkdir. */
static void test_create_ino_checks_permissions_like_create(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	assert_int_equal(fs_mkdir(v.c, "/ro", 0555), 0);
	struct fs_client *u = fs_client_new(v.fs, 1000, 1000);
	assert_int_equal(fs_create_ino(u, "/ro/f", O_RDWR, 0644, 70, -1), -EACCES);
	assert_int_equal(fs_mkdir_ino(u, "/ro/d", 0755, 70), -EACCES);
	fs_client_free(u);
	/* The number was not taken. */
	assert_int_equal(fs_create_ino(v.c, "/f", O_RDWR, 0644, 70, -1), 0);
	vol_destroy(&v);
}

static void test_create_ino_of_linked_inode_is_eexist(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/a", "a");
	assert_int_equal(fs_mkdir(v.c, "/dir", 0755), 0);
	uint64_t a = ino_of(v.c, "/a"), dir = ino_of(v.c, "/dir");
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, a, -1), -EEXIST);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, dir, 4), -EEXIST);
	assert_int_equal(fs_mkdir_ino(v.c, "/b", 0755, a), -EEXIST);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/b", &st), -ENOENT);
	assert_int_equal(fs_client_fd_high(v.c), 0);
	/* Linked through a second name only. */
	assert_int_equal(fs_link(v.c, "/a", "/a2"), 0);
	assert_int_equal(fs_unlink(v.c, "/a"), 0);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, a, -1), -EEXIST);
	/* Reserved and out-of-range numbers. */
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, 0, -1), -EINVAL);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, 1, -1), -EINVAL);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, VOL_INODES, -1), -EINVAL);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, UINT64_MAX, -1), -EINVAL);
	/* Unlinked but still open: in use. */
	write_file(v.c, "/open", "o");
	uint64_t o = ino_of(v.c, "/open");
	int fd = fs_open(v.c, "/open", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_unlink(v.c, "/open"), 0);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, o, -1), -EBUSY);
	assert_int_equal(fs_close(v.c, fd), 0);
	/* Freed, but the freeing transaction is not checkpointed: pending. */
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, o, -1), -EBUSY);
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, o, -1), -EBUSY);
	assert_int_equal(fs_checkpoint(v.fs), 0);
	assert_int_equal(fs_create_ino(v.c, "/b", O_RDWR, 0644, o, -1), 0);
	assert_int_equal(ino_of(v.c, "/b"), o);
	assert_int_equal(fs_stat(v.c, "/open", &st), -ENOENT);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_destroy(&v);
}

/* Set bit `i` of the bitmap that starts at block `start`. */
static void raw_set_bit(struct bdev *dev, uint64_t start, uint64_t i)
{
	uint8_t *blk = bdev_emu_block(dev, start + i / (4096 * 8));
	uint64_t off = i % (4096 * 8);
	blk[off / 8] |= (uint8_t)(1u << (off % 8));
}

static bool raw_bit(struct bdev *dev, uint64_t start, uint64_t i)
{
	uint8_t *blk = bdev_emu_block(dev, start + i / (4096 * 8));
	uint64_t off = i % (4096 * 8);
	return (blk[off / 8] >> (off % 8)) & 1;
}

static struct ank_dinode *raw_inode(struct bdev *dev, const struct ank_super *sb, uint64_t ino)
{
	uint8_t *blk = bdev_emu_block(dev, ank_inode_block(sb, ino));
	return (struct ank_dinode *)(void *)(blk + ank_inode_offset(sb, ino));
}

/*
 * The state a neighbour's commit can leave in Ananke's design: an inode
 * whose allocation (bitmap bit and image, with nlink 0) is on disk, without
 * a directory entry and without being on the orphan list. It is built by
 * hand on a clean volume: inode N owns data block D; inode M has its bit set
 * but its slot was never written.
 */
static void test_create_ino_reuses_an_allocated_unlinked_inode(void **state)
{
	(void)state;
	struct vol v;
	vol_format(&v);
	struct ank_super sb;
	memcpy(&sb, bdev_emu_block(v.dev, 0), sizeof(sb));
	const uint64_t N = 37, M = 300, D = sb.block_count - 5;
	assert_false(raw_bit(v.dev, sb.ibitmap_start, N));
	assert_false(raw_bit(v.dev, sb.bbitmap_start, D));
	raw_set_bit(v.dev, sb.ibitmap_start, N);
	raw_set_bit(v.dev, sb.ibitmap_start, M);
	raw_set_bit(v.dev, sb.bbitmap_start, D);
	memset(bdev_emu_block(v.dev, D), 'Z', 4096);
	struct ank_dinode *d = raw_inode(v.dev, &sb, N);
	memset(d, 0, sizeof(*d));
	d->mode = S_IFREG | 0600;
	d->nlink = 0;
	d->uid = d->gid = 4242;
	d->size = 4096;
	d->blocks = 1;
	d->generation = 77;
	d->ino = N;
	d->eh.magic = ANK_EXTENT_MAGIC;
	d->eh.max = ANK_EXTENT_ROOT_ENTRIES;
	d->eh.entries = 1;
	d->extents[0] = (struct ank_extent){.lblk = 0, .len = 1, .pblk = D};
	d->checksum = ank_dinode_csum(d);
	memset(raw_inode(v.dev, &sb, M), 0, ANK_INODE_SIZE);

	vol_mount(&v, NULL);
	struct fs_stats before, after;
	fs_get_stats(v.fs, &before);
	assert_int_equal(fs_create_ino(v.c, "/reused", O_RDWR, 0644, N, 3), 3);
	struct stat st;
	assert_int_equal(fs_fstat(v.c, 3, &st), 0);
	assert_int_equal(st.st_ino, N);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, 0); /* the creator's, not the old owner's */
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	fs_get_stats(v.fs, &after);
	assert_int_equal(after.free_inodes, before.free_inodes); /* no new number taken */
	/* Old content is gone: extending the file reads zeros. */
	assert_int_equal(fs_ftruncate(v.c, 3, 4096), 0);
	char buf[4096];
	assert_int_equal(fs_pread(v.c, 3, buf, sizeof(buf), 0), 4096);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(fs_pwrite(v.c, 3, "new", 3, 0), 3);
	assert_int_equal(fs_close(v.c, 3), 0);
	/* The never-written slot: reused as a directory. */
	assert_int_equal(fs_mkdir_ino(v.c, "/dir", 0700, M), 0);
	assert_int_equal(ino_of(v.c, "/dir"), M);
	/* Now linked: a second reuse is refused. */
	assert_int_equal(fs_create_ino(v.c, "/again", O_RDWR, 0644, N, -1), -EEXIST);
	vol_unmount(&v);
	/* The old block was freed and nothing leaked. */
	assert_fsck_clean(v.dev);
	assert_false(raw_bit(v.dev, sb.bbitmap_start, D));
	assert_int_not_equal(raw_inode(v.dev, &sb, N)->generation, 77);
	vol_mount(&v, NULL);
	assert_int_equal(ino_of(v.c, "/reused"), N);
	assert_int_equal(ino_of(v.c, "/dir"), M);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_destroy(&v);
}

/* A corrupt allocated slot is reported, never reused. */
static void test_create_ino_of_a_corrupt_allocated_slot_is_euclean(void **state)
{
	(void)state;
	struct vol v;
	vol_format(&v);
	struct ank_super sb;
	memcpy(&sb, bdev_emu_block(v.dev, 0), sizeof(sb));
	const uint64_t N = 40;
	raw_set_bit(v.dev, sb.ibitmap_start, N);
	struct ank_dinode *d = raw_inode(v.dev, &sb, N);
	memset(d, 0, sizeof(*d));
	d->mode = S_IFREG | 0600;
	d->ino = N;
	d->checksum = 12345; /* wrong */
	vol_mount(&v, NULL);
	assert_int_equal(fs_create_ino(v.c, "/x", O_RDWR, 0644, N, -1), -EUCLEAN);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/x", &st), -ENOENT);
	vol_destroy(&v);
}

/* ---- orphans kept over a mount, reopened by inode number ------------------------ */

static void test_keep_orphans_lets_an_unlinked_open_file_be_reopened(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/kept", "still here");
	write_file(v.c, "/dropped", "gone");
	write_file(v.c, "/middle", "m");
	uint64_t kept = ino_of(v.c, "/kept"), dropped = ino_of(v.c, "/dropped");
	uint64_t middle = ino_of(v.c, "/middle");
	int f1 = fs_open(v.c, "/kept", O_RDONLY, 0);
	int f2 = fs_open(v.c, "/dropped", O_RDONLY, 0);
	int f3 = fs_open(v.c, "/middle", O_RDONLY, 0);
	assert_true(f1 >= 0 && f2 >= 0 && f3 >= 0);
	assert_int_equal(fs_unlink(v.c, "/kept"), 0);
	assert_int_equal(fs_unlink(v.c, "/middle"), 0);
	assert_int_equal(fs_unlink(v.c, "/dropped"), 0);
	assert_int_equal(fs_sync(v.fs), 0);
	struct vol r = {.dev = crash_copy(v.dev)};
	vol_destroy(&v);

	struct fs_options o = {.no_background = true, .keep_orphans = true};
	vol_mount(&r, &o);
	/* The orphans are kept: the numbers are in use. */
	assert_int_equal(fs_create_ino(r.c, "/x", O_RDWR, 0644, dropped, -1), -EBUSY);
	assert_int_equal(fs_open_ino_at(r.c, kept, O_RDONLY, 4), 4);
	assert_int_equal(fs_open_ino_at(r.c, middle, O_RDONLY, 6), 6);
	assert_int_equal(fs_close(r.c, 6), 0); /* a pinned orphan outlives its close */
	assert_int_equal(fs_set_offset(r.c, 4, 6), 0);
	char buf[32];
	assert_int_equal(fs_read(r.c, 4, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "here", 4);
	assert_int_equal(fs_release_orphans(r.fs), 0);
	assert_int_equal(fs_release_orphans(r.fs), 0); /* idempotent */
	/* Not reopened: freed now. Reopened: lives until its last close. */
	assert_int_equal(fs_open_ino_at(r.c, dropped, O_RDONLY, 5), -ENOENT);
	assert_int_equal(fs_open_ino_at(r.c, middle, O_RDONLY, 5), -ENOENT);
	struct stat st;
	assert_int_equal(fs_fstat(r.c, 4, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 10);
	assert_int_equal(fs_pread(r.c, 4, buf, 5, 0), 5);
	assert_memory_equal(buf, "still", 5);
	assert_int_equal(fs_close(r.c, 4), 0);
	assert_int_equal(fs_open_ino_at(r.c, kept, O_RDONLY, 5), -ENOENT);
	vol_unmount(&r);
	assert_fsck_clean(r.dev);
	vol_destroy(&r);
}

/* Unmounting without releasing leaves the orphans listed: the next normal
 * mount frees them. */
static void test_keep_orphans_without_release_is_cleaned_by_the_next_mount(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/o", "orphan");
	int fd = fs_open(v.c, "/o", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_unlink(v.c, "/o"), 0);
	assert_int_equal(fs_sync(v.fs), 0);
	struct vol r = {.dev = crash_copy(v.dev)};
	vol_destroy(&v);
	struct fs_options o = {.no_background = true, .keep_orphans = true};
	vol_mount(&r, &o);
	vol_unmount(&r);
	vol_mount(&r, NULL);
	vol_unmount(&r);
	assert_fsck_clean(r.dev);
	vol_destroy(&r);
}

static void test_open_ino_at_errors(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/f", "f");
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	uint64_t f = ino_of(v.c, "/f"), d = ino_of(v.c, "/d");
	assert_int_equal(fs_open_ino_at(v.c, f, O_RDWR | O_CREAT, 1), -EINVAL);
	assert_int_equal(fs_open_ino_at(v.c, f, O_RDWR | O_TRUNC, 1), -EINVAL);
	assert_int_equal(fs_open_ino_at(v.c, f, O_ACCMODE, 1), -EINVAL);
	assert_int_equal(fs_open_ino_at(v.c, 0, O_RDONLY, 1), -EINVAL);
	assert_int_equal(fs_open_ino_at(v.c, VOL_INODES, O_RDONLY, 1), -EINVAL);
	assert_int_equal(fs_open_ino_at(v.c, f, O_RDONLY, -1), -EBADF);
	assert_int_equal(fs_open_ino_at(v.c, 999, O_RDONLY, 1), -ENOENT);
	assert_int_equal(fs_open_ino_at(v.c, f, O_RDONLY | O_DIRECTORY, 1), -ENOTDIR);
	assert_int_equal(fs_open_ino_at(v.c, d, O_RDWR, 1), -EISDIR);
	assert_int_equal(fs_open_ino_at(v.c, d, O_RDONLY | O_DIRECTORY, 1), 1);
	assert_int_equal(fs_open_ino_at(v.c, f, O_RDONLY, 1), -EBUSY);
	assert_int_equal(fs_open_ino_at(v.c, f, O_WRONLY | O_APPEND, 2), 2);
	assert_int_equal(fs_write(v.c, 2, "g", 1), 1);
	assert_int_equal(fs_open_ino_at(v.c, 1, O_RDONLY, 3), 3); /* the root */
	struct fs_dirent ents[8];
	assert_true(fs_readdir(v.c, 3, ents, 8) == 4);
	assert_int_equal(fs_close(v.c, 1), 0);
	assert_int_equal(fs_close(v.c, 2), 0);
	assert_int_equal(fs_close(v.c, 3), 0);
	assert_content(v.c, "/f", "fg");
	vol_destroy(&v);
}

/* ---- the numbers the server logs ------------------------------------------------ */

static void test_inode_of_fd_and_lookup_ino_report_numbers(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	assert_int_equal(fs_mkdir(v.c, "/d/e", 0755), 0);
	write_file(v.c, "/d/e/f", "f");
	uint64_t d = ino_of(v.c, "/d"), e = ino_of(v.c, "/d/e"), f = ino_of(v.c, "/d/e/f");
	uint64_t ino = 0, parent = 0;
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/f", &ino, &parent), 0);
	assert_int_equal(ino, f);
	assert_int_equal(parent, e);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/", &ino, &parent), 0);
	assert_int_equal(ino, e);
	assert_int_equal(parent, d);
	assert_int_equal(fs_lookup_ino(v.c, "/", &ino, &parent), 0);
	assert_int_equal(ino, 1);
	assert_int_equal(parent, 1);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/.", &ino, &parent), 0);
	assert_int_equal(ino, e);
	assert_int_equal(parent, d);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/..", &ino, &parent), 0);
	assert_int_equal(ino, d);
	assert_int_equal(parent, 1);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/f", NULL, &parent), 0);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/f", &ino, NULL), 0);
	assert_int_equal(fs_lookup_ino(v.c, "/d/nope", &ino, &parent), -ENOENT);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/f/", &ino, &parent), -ENOTDIR);
	assert_int_equal(fs_lookup_ino(v.c, "/d/e/f/g", &ino, &parent), -ENOTDIR);
	/* Hard links: the directory of the name used. */
	assert_int_equal(fs_link(v.c, "/d/e/f", "/d/f2"), 0);
	assert_int_equal(fs_lookup_ino(v.c, "/d/f2", &ino, &parent), 0);
	assert_int_equal(ino, f);
	assert_int_equal(parent, d);
	/* Search permission applies, as for stat. */
	struct fs_client *u = fs_client_new(v.fs, 1000, 1000);
	assert_int_equal(fs_mkdir(v.c, "/closed", 0700), 0);
	write_file(v.c, "/closed/x", "");
	assert_int_equal(fs_lookup_ino(u, "/closed/x", &ino, &parent), -EACCES);
	fs_client_free(u);

	int fd = fs_open(v.c, "/d/e/f", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_inode_of_fd(v.c, fd, &ino), 0);
	assert_int_equal(ino, f);
	int dfd = fs_open(v.c, "/d", O_RDONLY | O_DIRECTORY, 0);
	assert_int_equal(fs_inode_of_fd(v.c, dfd, &ino), 0);
	assert_int_equal(ino, d);
	/* Still the same inode after the name is gone. */
	assert_int_equal(fs_unlink(v.c, "/d/e/f"), 0);
	assert_int_equal(fs_unlink(v.c, "/d/f2"), 0);
	assert_int_equal(fs_inode_of_fd(v.c, fd, &ino), 0);
	assert_int_equal(ino, f);
	assert_int_equal(fs_close(v.c, fd), 0);
	assert_int_equal(fs_inode_of_fd(v.c, fd, &ino), -EBADF);
	assert_int_equal(fs_inode_of_fd(v.c, -1, &ino), -EBADF);
	assert_int_equal(fs_inode_of_fd(v.c, 1000, &ino), -EBADF);
	assert_int_equal(fs_close(v.c, dfd), 0);
	vol_destroy(&v);
}

/* ---- durability tracking ------------------------------------------------------------ */

static void test_change_tid_and_durable_tid_track_commits(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	int fd = fs_open(v.c, "/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_fsync(v.c, fd), 0);
	uint64_t ino;
	assert_int_equal(fs_inode_of_fd(v.c, fd, &ino), 0);
	assert_int_equal(fs_inode_change_tid(v.c, ino), 0); /* all durable */
	uint64_t d0 = fs_durable_tid(v.fs);
	assert_true(fs_running_tid(v.fs) > d0);

	assert_int_equal(fs_write(v.c, fd, "one", 3), 3);
	uint64_t t1 = fs_running_tid(v.fs);
	uint64_t c1 = fs_inode_change_tid(v.c, ino);
	assert_true(c1 > fs_durable_tid(v.fs));
	assert_true(c1 <= t1);
	assert_int_equal(fs_durable_tid(v.fs), d0);
	/* The parent changed with the create (durable by now), a file never
	 * loaded has nothing pending. */
	assert_int_equal(fs_inode_change_tid(v.c, 1), 0);
	assert_int_equal(fs_inode_change_tid(v.c, 1000), 0);

	assert_int_equal(fs_fsync(v.c, fd), 0);
	assert_true(fs_durable_tid(v.fs) >= c1);
	assert_true(fs_durable_tid(v.fs) >= t1);
	assert_int_equal(fs_inode_change_tid(v.c, ino), 0);

	/* A creation changes the file and its parent in one transaction. */
	write_file(v.c, "/g", "g");
	uint64_t g = ino_of(v.c, "/g");
	assert_true(fs_inode_change_tid(v.c, g) > fs_durable_tid(v.fs));
	assert_int_equal(fs_inode_change_tid(v.c, 1), fs_inode_change_tid(v.c, g));
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(fs_inode_change_tid(v.c, 1), 0);

	/* The rule, checked across a crash: durable_tid >= T means on disk;
	 * a transaction > durable_tid is not. */
	assert_int_equal(fs_pwrite(v.c, fd, "two", 3, 3), 3);
	uint64_t t2 = fs_running_tid(v.fs);
	assert_int_equal(fs_sync(v.fs), 0);
	assert_true(fs_durable_tid(v.fs) >= t2);
	assert_int_equal(fs_pwrite(v.c, fd, "333", 3, 6), 3);
	assert_int_equal(fs_mkdir(v.c, "/late", 0755), 0);
	uint64_t t3 = fs_running_tid(v.fs);
	assert_true(fs_durable_tid(v.fs) < t3);
	struct vol r = {.dev = crash_copy(v.dev)};
	vol_mount(&r, NULL);
	assert_content(r.c, "/f", "onetwo");
	struct stat st;
	assert_int_equal(fs_stat(r.c, "/late", &st), -ENOENT);
	/* tids go on increasing after a remount */
	assert_true(fs_running_tid(r.fs) > fs_durable_tid(r.fs));
	vol_destroy(&r);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_destroy(&v);
}

struct hook_log {
	pthread_mutex_t mu;
	uint64_t tids[4096];
	int n;
	bool bad_order;
	struct fs *fs;     /* when set, the hook calls back into the core */
	int in_hook;       /* calls running at once (must stay <= 1) */
	int max_in_hook;
};

static void record_tid(void *arg, uint64_t tid)
{
	struct hook_log *h = arg;
	pthread_mutex_lock(&h->mu);
	if (++h->in_hook > h->max_in_hook)
		h->max_in_hook = h->in_hook;
	if (h->n > 0 && tid <= h->tids[h->n - 1])
		h->bad_order = true;
	if (h->n < 4096)
		h->tids[h->n++] = tid;
	pthread_mutex_unlock(&h->mu);
	/* Re-entering the core from the hook (no cmocka assert here: the hook
	 * may run in another thread). */
	bool behind = h->fs && fs_durable_tid(h->fs) < tid;
	pthread_mutex_lock(&h->mu);
	if (behind)
		h->bad_order = true;
	h->in_hook--;
	pthread_mutex_unlock(&h->mu);
}

static void test_commit_hook_is_called_with_increasing_tids(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	struct hook_log *h = calloc(1, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->fs = v.fs;
	int fd = fs_open(v.c, "/f", O_CREAT | O_RDWR, 0644);
	assert_int_equal(fs_fsync(v.c, fd), 0);
	fs_set_commit_hook(v.fs, record_tid, h);
	assert_int_equal(h->n, 0); /* only advances after the call count */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(fs_write(v.c, fd, "x", 1), 1);
		uint64_t t = fs_running_tid(v.fs);
		assert_int_equal(fs_fsync(v.c, fd), 0);
		/* reported before fsync returned, with the new durable tid */
		assert_int_equal(h->n, i + 1);
		assert_int_equal(h->tids[i], fs_durable_tid(v.fs));
		assert_true(h->tids[i] >= t);
	}
	/* A sync with nothing to commit (and no running id handed out)
	 * commits nothing: the durable id stays, nothing is reported. */
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(h->n, 20);
	assert_false(h->bad_order);
	assert_int_equal(h->max_in_hook, 1);
	/* Removed: no more calls. */
	fs_set_commit_hook(v.fs, NULL, NULL);
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(fs_write(v.c, fd, "x", 1), 1);
	assert_int_equal(fs_fsync(v.c, fd), 0);
	assert_int_equal(h->n, 20);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_destroy(&v);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* The server's hook checks each reported tid against the journal's
 * (fs_committed_tid). It may run in a worker right after the worker's own
 * call released the fs lock, before that call's stamp is taken for its log
 * entry: reading the journal must leave the stamp as it was, or the entry
 * would name another order, tid and "modified" (a create logged as not
 * modifying, lost at the next crash). */
struct stamp_hook {
	struct fs *fs;
	unsigned calls, changed;
	uint64_t last;
};

static void check_journal_keeping_the_stamp(void *arg, uint64_t tid)
{
	struct stamp_hook *h = arg;
	struct fs_stamp before, after;
	fs_stamp_last(&before);
	h->last = fs_committed_tid(h->fs);
	fs_stamp_last(&after);
	h->calls++;
	if (memcmp(&before, &after, sizeof(before)) != 0 || h->last < tid)
		h->changed++;
}

static void test_reading_the_journal_from_the_hook_keeps_the_call_s_stamp(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	struct stamp_hook h = {.fs = v.fs};
	int fd = fs_open(v.c, "/s", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	fs_set_commit_hook(v.fs, check_journal_keeping_the_stamp, &h);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(fs_write(v.c, fd, "x", 1), 1);
		assert_int_equal(fs_fsync(v.c, fd), 0); /* the hook runs in this thread */
	}
	assert_int_equal(h.calls, 10);
	assert_int_equal(h.changed, 0);
	assert_int_equal(h.last, fs_durable_tid(v.fs));
	fs_set_commit_hook(v.fs, NULL, NULL);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_destroy(&v);
}

struct writer_arg {
	struct fs_client *c;
	int fd;
	int rounds;
};

static void *writer_main(void *p)
{
	struct writer_arg *w = p;
	for (int i = 0; i < w->rounds; i++) {
		if (fs_pwrite(w->c, w->fd, "abcd", 4, (off_t)i * 4) != 4 || fs_fsync(w->c, w->fd) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Group commit from several threads: reports stay serialised and strictly
 * increasing, and the last one is the final durable tid. */
static void test_commit_hook_under_concurrent_fsyncs(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	struct hook_log *h = calloc(1, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->fs = v.fs;
	fs_set_commit_hook(v.fs, record_tid, h);
	enum { T = 4 };
	pthread_t th[T];
	struct writer_arg w[T];
	for (int i = 0; i < T; i++) {
		char name[16];
		snprintf(name, sizeof(name), "/w%d", i);
		w[i].c = fs_client_new(v.fs, 0, 0);
		w[i].fd = fs_open(w[i].c, name, O_CREAT | O_RDWR, 0644);
		w[i].rounds = 100;
		assert_true(w[i].fd >= 0);
	}
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	for (int i = 0; i < T; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	(void)fs_durable_tid(v.fs); /* delivers anything left over */
	pthread_mutex_lock(&h->mu);
	assert_false(h->bad_order);
	assert_int_equal(h->max_in_hook, 1);
	assert_true(h->n > 0);
	assert_int_equal(h->tids[h->n - 1], fs_durable_tid(v.fs));
	pthread_mutex_unlock(&h->mu);
	for (int i = 0; i < T; i++)
		fs_client_free(w[i].c);
	vol_destroy(&v);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* A background commit is reported at the next call into the core. */
static void test_commit_hook_sees_background_commits_when_polled(void **state)
{
	(void)state;
	struct vol v;
	vol_format(&v);
	struct fs_options o = {.commit_interval_ms = 10};
	vol_mount(&v, &o);
	struct hook_log *h = calloc(1, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	fs_set_commit_hook(v.fs, record_tid, h);
	write_file(v.c, "/bg", "background");
	uint64_t t = fs_running_tid(v.fs);
	for (int i = 0; i < 500 && fs_durable_tid(v.fs) < t; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(fs_durable_tid(v.fs) >= t);
	pthread_mutex_lock(&h->mu);
	assert_true(h->n > 0);
	assert_true(h->tids[h->n - 1] >= t);
	assert_false(h->bad_order);
	pthread_mutex_unlock(&h->mu);
	fs_set_commit_hook(v.fs, NULL, NULL);
	vol_destroy(&v);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- durable transaction ids (across mounts and crashes) --------------------- */

static const struct ank_super *dev_super(struct bdev *dev)
{
	return (const struct ank_super *)bdev_emu_block(dev, 0);
}

/* The journal as a mount would find it: header and scan. */
static void scan_journal(struct bdev *dev, struct ank_journal_header *h, struct jscan_result *res)
{
	struct ank_super sb = *dev_super(dev);
	assert_int_equal(jscan_read_header(dev, &sb, h), 0);
	assert_int_equal(jscan_scan(dev, &sb, NULL, NULL, res), 0);
}

static void test_durable_tid_survives_a_crash(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/a", "alpha");
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	assert_int_equal(fs_sync(v.fs), 0);
	write_file(v.c, "/d/b", "beta");
	assert_int_equal(fs_sync(v.fs), 0);
	uint64_t d1 = fs_durable_tid(v.fs);
	assert_true(d1 > 0);
	/* More work, not synced: its transaction is > d1 and not on disk. */
	write_file(v.c, "/late", "late");
	assert_int_equal(fs_mkdir(v.c, "/d/late", 0755), 0);
	assert_true(fs_running_tid(v.fs) > d1);
	assert_int_equal(fs_durable_tid(v.fs), d1);

	struct vol r = {.dev = crash_copy(v.dev)};
	struct ank_journal_header h;
	struct jscan_result res;
	scan_journal(r.dev, &h, &res);
	assert_true(res.transactions > 0);
	assert_int_equal(res.last_tid, d1);
	vol_mount(&r, NULL);
	assert_int_equal(fs_mount_durable_tid(r.fs), d1);
	assert_int_equal(fs_durable_tid(r.fs), d1);
	assert_int_equal(fs_running_tid(r.fs), d1 + 1);
	assert_content(r.c, "/d/b", "beta");
	struct stat st;
	assert_int_equal(fs_stat(r.c, "/late", &st), -ENOENT);

	/* The numbering goes on: a second crash finds the new mount's ids. */
	write_file(r.c, "/again", "again");
	assert_int_equal(fs_sync(r.fs), 0);
	uint64_t d2 = fs_durable_tid(r.fs);
	assert_true(d2 > d1);
	struct vol r2 = {.dev = crash_copy(r.dev)};
	vol_mount(&r2, NULL);
	assert_int_equal(fs_mount_durable_tid(r2.fs), d2);
	assert_content(r2.c, "/again", "again");
	vol_destroy(&r2);
	vol_destroy(&r);
	assert_fsck_clean(v.dev);
	vol_destroy(&v);
}

static void test_tids_continue_after_remount(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	assert_int_equal(fs_mount_durable_tid(v.fs), 0); /* fresh volume */
	write_file(v.c, "/a", "a");
	assert_int_equal(fs_sync(v.fs), 0);
	uint64_t d_old = fs_durable_tid(v.fs);
	/* An id handed out is made durable by the unmount's commit. */
	uint64_t r_old = fs_running_tid(v.fs);
	assert_true(r_old > d_old);
	vol_unmount(&v);
	struct ank_journal_header h;
	struct jscan_result res;
	scan_journal(v.dev, &h, &res);
	assert_int_equal(res.transactions, 0); /* clean: the log is empty */
	assert_int_equal(h.checkpoint_tid, r_old);

	vol_mount(&v, NULL);
	assert_int_equal(fs_mount_durable_tid(v.fs), r_old);
	assert_int_equal(fs_durable_tid(v.fs), r_old);
	assert_true(fs_running_tid(v.fs) > r_old);
	write_file(v.c, "/b", "b");
	assert_int_equal(fs_sync(v.fs), 0);
	assert_true(fs_durable_tid(v.fs) > r_old);
	vol_destroy(&v);
}

static void test_empty_commit_does_not_advance_tid(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	int fd = fs_open(v.c, "/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(v.c, fd, "data", 4), 4);
	assert_int_equal(fs_sync(v.fs), 0);
	uint64_t d = fs_durable_tid(v.fs);
	struct fs_stats s0, s1;
	fs_get_stats(v.fs, &s0);
	uint64_t ev = bdev_emu_events(v.dev);
	/* Nothing dirty: sync, fsync, fdatasync, checkpoint return at once
	 * without writing, and no id becomes durable. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fs_sync(v.fs), 0);
		assert_int_equal(fs_fsync(v.c, fd), 0);
		assert_int_equal(fs_fdatasync(v.c, fd), 0);
	}
	assert_int_equal(fs_durable_tid(v.fs), d);
	assert_int_equal(fs_inode_change_tid(v.c, ino_of(v.c, "/f")), 0);
	fs_get_stats(v.fs, &s1);
	assert_int_equal(s1.commits, s0.commits);
	assert_int_equal(s1.journal_blocks_written, s0.journal_blocks_written);
	assert_int_equal(bdev_emu_events(v.dev), ev);

	/* Once the running id was handed out, a sync makes it durable even
	 * though nothing joined it, and records it (a crash finds it). */
	uint64_t r = fs_running_tid(v.fs);
	assert_int_equal(r, d + 1);
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(fs_durable_tid(v.fs), r);
	struct vol c = {.dev = crash_copy(v.dev)};
	vol_mount(&c, NULL);
	assert_int_equal(fs_mount_durable_tid(c.fs), r);
	assert_content(c.c, "/f", "data");
	vol_destroy(&c);
	/* ...and only once. */
	assert_int_equal(fs_sync(v.fs), 0);
	assert_int_equal(fs_durable_tid(v.fs), r);
	assert_int_equal(fs_running_tid(v.fs), r + 1);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_destroy(&v);
}

static void test_checkpoint_tid_in_header_used_when_log_empty(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v);
	write_file(v.c, "/a", "a");
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	assert_int_equal(fs_sync(v.fs), 0);
	uint64_t t = fs_durable_tid(v.fs);
	assert_true(t > 0);
	assert_int_equal(fs_checkpoint(v.fs), 0);
	assert_int_equal(fs_durable_tid(v.fs), t);

	struct vol r = {.dev = crash_copy(v.dev)};
	struct ank_journal_header h;
	struct jscan_result res;
	scan_journal(r.dev, &h, &res);
	assert_int_equal(res.transactions, 0);
	assert_int_equal(res.last_tid, 0);
	assert_int_equal(h.checkpoint_tid, t);
	vol_mount(&r, NULL);
	assert_int_equal(fs_mount_durable_tid(r.fs), t);
	assert_int_equal(fs_durable_tid(r.fs), t);
	assert_int_equal(fs_running_tid(r.fs), t + 1);
	assert_content(r.c, "/a", "a");
	vol_destroy(&r);

	/* A volume written before ids were recorded (zero in the header and
	 * in commit records) starts from 1. */
	r.dev = crash_copy(v.dev);
	const struct ank_super *sb = dev_super(r.dev);
	struct ank_journal_header *hp =
		(struct ank_journal_header *)bdev_emu_block(r.dev, sb->journal_start);
	hp->checkpoint_tid = 0;
	hp->checksum = ank_jhdr_csum(hp);
	vol_mount(&r, NULL);
	assert_int_equal(fs_mount_durable_tid(r.fs), 0);
	assert_int_equal(fs_running_tid(r.fs), 1);
	assert_content(r.c, "/a", "a");
	vol_destroy(&r);
	vol_destroy(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_at_gives_the_requested_fd_number),
		cmocka_unit_test(test_open_at_busy_number_is_ebusy),
		cmocka_unit_test(test_set_offset_moves_the_fd),
		cmocka_unit_test(test_create_ino_uses_the_requested_inode_number_and_survives_remount),
		cmocka_unit_test(test_mkdir_ino_likewise),
		cmocka_unit_test(test_create_ino_checks_permissions_like_create),
		cmocka_unit_test(test_create_ino_of_linked_inode_is_eexist),
		cmocka_unit_test(test_create_ino_reuses_an_allocated_unlinked_inode),
		cmocka_unit_test(test_create_ino_of_a_corrupt_allocated_slot_is_euclean),
		cmocka_unit_test(test_keep_orphans_lets_an_unlinked_open_file_be_reopened),
		cmocka_unit_test(test_keep_orphans_without_release_is_cleaned_by_the_next_mount),
		cmocka_unit_test(test_open_ino_at_errors),
		cmocka_unit_test(test_inode_of_fd_and_lookup_ino_report_numbers),
		cmocka_unit_test(test_change_tid_and_durable_tid_track_commits),
		cmocka_unit_test(test_commit_hook_is_called_with_increasing_tids),
		cmocka_unit_test(test_reading_the_journal_from_the_hook_keeps_the_call_s_stamp),
		cmocka_unit_test(test_commit_hook_under_concurrent_fsyncs),
		cmocka_unit_test(test_commit_hook_sees_background_commits_when_polled),
		cmocka_unit_test(test_durable_tid_survives_a_crash),
		cmocka_unit_test(test_tids_continue_after_remount),
		cmocka_unit_test(test_empty_commit_does_not_advance_tid),
		cmocka_unit_test(test_checkpoint_tid_in_header_used_when_log_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
