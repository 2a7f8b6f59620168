/*
 * test_attr.c - changing attributes in the core (fs_setattr and its path
 * and fd forms): who may change the mode, the owner and the times, which
 * set-id bits go, what ctime does, and that the change survives a crash
 * once committed. The rules are Linux's (chmod(2), chown(2),
 * utimensat(2)), for a caller with one gid and no supplementary groups.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

struct vol {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *root, *alice, *bob; /* uid 0; 1000/100; 1001/101 */
};

static void vol_up(struct vol *v)
{
	assert_int_equal(bdev_emu_create(4096, &v->dev), 0);
	struct fs_mkfs_options mo = {.inodes = 256};
	assert_int_equal(fs_mkfs(v->dev, &mo), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(v->dev, &o, &v->fs), 0);
	v->root = fs_client_new(v->fs, 0, 0);
	v->alice = fs_client_new(v->fs, 1000, 100);
	v->bob = fs_client_new(v->fs, 1001, 101);
	assert_non_null(v->root);
	assert_non_null(v->alice);
	assert_non_null(v->bob);
	assert_int_equal(fs_mkdir(v->root, "/pub", 0777), 0);
}

static void vol_down(struct vol *v)
{
	fs_client_free(v->root);
	fs_client_free(v->alice);
	fs_client_free(v->bob);
	assert_int_equal(fs_unmount(v->fs), 0);
	struct fsck_options fo = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(v->dev, &fo, &r), 0);
	bdev_close(v->dev);
}

static void make_file(struct fs_client *c, const char *path, mode_t mode)
{
	int fd = fs_open(c, path, O_CREAT | O_EXCL | O_WRONLY, mode);
	assert_true(fd >= 0);
	assert_int_equal(fs_close(c, fd), 0);
}

static mode_t mode_of(struct fs_client *c, const char *path)
{
	struct stat st;
	assert_int_equal(fs_stat(c, path, &st), 0);
	return st.st_mode;
}

static int chmod_(struct fs_client *c, const char *path, mode_t mode)
{
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = mode};
	return fs_setattr_path(c, path, &a);
}

static int chown_(struct fs_client *c, const char *path, int64_t uid, int64_t gid)
{
	struct fs_attr a = {.valid = FS_ATTR_CHOWN};
	if (uid >= 0) {
		a.valid |= FS_ATTR_UID;
		a.uid = (uint32_t)uid;
	}
	if (gid >= 0) {
		a.valid |= FS_ATTR_GID;
		a.gid = (uint32_t)gid;
	}
	return fs_setattr_path(c, path, &a);
}

/* Only the owner or root changes the mode; the file type stays. */
static void chmod_needs_the_owner(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	make_file(v.alice, "/pub/a", 0644);
	assert_int_equal(chmod_(v.bob, "/pub/a", 0777), -EPERM);
	assert_int_equal(mode_of(v.root, "/pub/a"), S_IFREG | 0644);
	assert_int_equal(chmod_(v.alice, "/pub/a", 0600), 0);
	assert_int_equal(mode_of(v.root, "/pub/a"), S_IFREG | 0600);
	assert_int_equal(chmod_(v.root, "/pub/a", 04755), 0);
	assert_int_equal(mode_of(v.root, "/pub/a"), S_IFREG | 04755);
	assert_int_equal(chmod_(v.root, "/pub", 01777), 0);
	assert_int_equal(mode_of(v.root, "/pub"), S_IFDIR | 01777);
	assert_int_equal(chmod_(v.alice, "/pub/none", 0600), -ENOENT);
	vol_down(&v);
}

/* "/" is reached without searching any directory: a caller without
 * search permission on the root still stats and opens "/" (EISDIR for a
 * create, as Linux answers), while "/." and any name under it are
 * EACCES. */
static void the_root_needs_no_search_permission(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	assert_int_equal(chmod_(v.root, "/", 0744), 0);
	struct stat st;
	assert_int_equal(fs_stat(v.alice, "/", &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0744);
	assert_int_equal(fs_open(v.alice, "/", O_CREAT | O_RDWR, 0644), -EISDIR);
	assert_int_equal(fs_open(v.alice, "/", O_CREAT | O_EXCL | O_RDONLY, 0644), -EEXIST);
	int fd = fs_open(v.alice, "/", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_close(v.alice, fd), 0);
	assert_int_equal(fs_stat(v.alice, "/.", &st), -EACCES);
	assert_int_equal(fs_stat(v.alice, "/pub", &st), -EACCES);
	assert_int_equal(chmod_(v.root, "/", 0755), 0);
	vol_down(&v);
}

/* A caller outside the file's group who is not root cannot set S_ISGID:
 * the bit is dropped silently (as Linux does); root keeps it. */
static void chmod_outside_the_group_drops_setgid(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	make_file(v.alice, "/pub/g", 0644);
	assert_int_equal(chown_(v.root, "/pub/g", -1, 55), 0);
	assert_int_equal(chmod_(v.alice, "/pub/g", 02755), 0);
	assert_int_equal(mode_of(v.root, "/pub/g"), S_IFREG | 0755);
	assert_int_equal(chmod_(v.root, "/pub/g", 02755), 0);
	assert_int_equal(mode_of(v.root, "/pub/g"), S_IFREG | 02755);
	/* in the group: kept */
	assert_int_equal(chown_(v.root, "/pub/g", -1, 100), 0);
	assert_int_equal(chmod_(v.alice, "/pub/g", 02750), 0);
	assert_int_equal(mode_of(v.root, "/pub/g"), S_IFREG | 02750);
	vol_down(&v);
}

/* Only root gives a file away; the owner may change its group to his own;
 * any chown of a regular file clears S_ISUID, and S_ISGID when the group
 * may execute; a directory keeps both. */
static void chown_rules_and_setid_bits(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	make_file(v.alice, "/pub/o", 0644);
	assert_int_equal(chown_(v.alice, "/pub/o", 1001, -1), -EPERM);
	assert_int_equal(chown_(v.alice, "/pub/o", 1000, -1), 0); /* unchanged: allowed */
	assert_int_equal(chown_(v.alice, "/pub/o", -1, 101), -EPERM);
	assert_int_equal(chown_(v.bob, "/pub/o", -1, 101), -EPERM);
	assert_int_equal(chown_(v.root, "/pub/o", -1, 7), 0);
	assert_int_equal(chown_(v.alice, "/pub/o", -1, 100), 0); /* to his own group */
	struct stat st;
	assert_int_equal(fs_stat(v.root, "/pub/o", &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(chown_(v.root, "/pub/o", 1001, 101), 0);
	assert_int_equal(fs_stat(v.root, "/pub/o", &st), 0);
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 101);

	assert_int_equal(chmod_(v.root, "/pub/o", 06755), 0);
	assert_int_equal(chown_(v.root, "/pub/o", -1, -1), 0);
	assert_int_equal(mode_of(v.root, "/pub/o"), S_IFREG | 0755);
	assert_int_equal(chmod_(v.root, "/pub/o", 06745), 0); /* no group execute */
	assert_int_equal(chown_(v.root, "/pub/o", 1000, -1), 0);
	assert_int_equal(mode_of(v.root, "/pub/o"), S_IFREG | 02745);
	assert_int_equal(fs_mkdir(v.root, "/pub/d", 0755), 0);
	assert_int_equal(chmod_(v.root, "/pub/d", 06755), 0);
	assert_int_equal(chown_(v.root, "/pub/d", 1000, 100), 0);
	assert_int_equal(mode_of(v.root, "/pub/d"), S_IFDIR | 06755);
	vol_down(&v);
}

/* Times: explicit ones need the owner or root (EPERM); "now" also a
 * caller with write permission (EACCES without). ctime follows every
 * change; a bad nsec is EINVAL. */
static void utimens_rules(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	make_file(v.alice, "/pub/t", 0644);
	struct fs_attr set = {.valid = FS_ATTR_ATIME | FS_ATTR_MTIME, .atime_sec = 1000000,
			      .atime_nsec = 5, .mtime_sec = 2000000, .mtime_nsec = 7};
	assert_int_equal(fs_setattr_path(v.bob, "/pub/t", &set), -EPERM);
	struct stat st0, st;
	assert_int_equal(fs_stat(v.root, "/pub/t", &st0), 0);
	assert_int_equal(fs_setattr_path(v.alice, "/pub/t", &set), 0);
	assert_int_equal(fs_stat(v.root, "/pub/t", &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000);
	assert_int_equal(st.st_atim.tv_nsec, 5);
	assert_int_equal(st.st_mtim.tv_sec, 2000000);
	assert_int_equal(st.st_mtim.tv_nsec, 7);
	assert_true(st.st_ctim.tv_sec > st0.st_ctim.tv_sec ||
		    (st.st_ctim.tv_sec == st0.st_ctim.tv_sec &&
		     st.st_ctim.tv_nsec >= st0.st_ctim.tv_nsec));
	/* mtime alone */
	struct fs_attr m = {.valid = FS_ATTR_MTIME, .mtime_sec = 3000000};
	assert_int_equal(fs_setattr_path(v.root, "/pub/t", &m), 0);
	assert_int_equal(fs_stat(v.root, "/pub/t", &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000);
	assert_int_equal(st.st_mtim.tv_sec, 3000000);
	/* now: write permission is enough */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct fs_attr n = {.valid = FS_ATTR_ATIME | FS_ATTR_MTIME | FS_ATTR_TIMES_NOW,
			    .atime_sec = now.tv_sec, .mtime_sec = now.tv_sec};
	assert_int_equal(fs_setattr_path(v.bob, "/pub/t", &n), -EACCES);
	assert_int_equal(chmod_(v.alice, "/pub/t", 0666), 0);
	assert_int_equal(fs_setattr_path(v.bob, "/pub/t", &n), 0);
	assert_int_equal(fs_stat(v.root, "/pub/t", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, now.tv_sec);
	struct fs_attr bad = {.valid = FS_ATTR_MTIME, .mtime_nsec = 1000000000u};
	assert_int_equal(fs_setattr_path(v.root, "/pub/t", &bad), -EINVAL);
	struct fs_attr junk = {.valid = 0x8000};
	assert_int_equal(fs_setattr_path(v.root, "/pub/t", &junk), -EINVAL);
	vol_down(&v);
}

/* The fd and inode forms act on the file itself, whatever its name is now
 * (renamed, unlinked while open). */
static void fd_and_inode_forms_follow_the_file(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	int fd = fs_open(v.alice, "/pub/f", O_CREAT | O_RDONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_rename(v.alice, "/pub/f", "/pub/g"), 0);
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = 0600};
	assert_int_equal(fs_setattr_fd(v.alice, fd, &a), 0); /* read-only fd: allowed */
	assert_int_equal(mode_of(v.root, "/pub/g"), S_IFREG | 0600);
	struct stat st;
	assert_int_equal(fs_fstat(v.alice, fd, &st), 0);
	struct fs_attr b = {.valid = FS_ATTR_MODE, .mode = 0640};
	assert_int_equal(fs_setattr(v.alice, (uint64_t)st.st_ino, &b), 0);
	assert_int_equal(mode_of(v.root, "/pub/g"), S_IFREG | 0640);
	assert_int_equal(fs_unlink(v.alice, "/pub/g"), 0);
	struct fs_attr c = {.valid = FS_ATTR_MODE, .mode = 0400};
	assert_int_equal(fs_setattr_fd(v.alice, fd, &c), 0);
	assert_int_equal(fs_fstat(v.alice, fd, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0400);
	assert_int_equal(fs_close(v.alice, fd), 0);
	assert_int_equal(fs_setattr_fd(v.alice, fd, &c), -EBADF);
	assert_int_equal(fs_setattr(v.alice, 0, &c), -EINVAL);
	assert_int_equal(fs_setattr(v.alice, (uint64_t)st.st_ino, &c), -ENOENT);
	vol_down(&v);
}

/* A committed change is on the disk: a crash copy mounted afresh has it. */
static void committed_attributes_survive_a_crash(void **state)
{
	(void)state;
	struct vol v;
	vol_up(&v);
	make_file(v.alice, "/pub/s", 0644);
	assert_int_equal(chown_(v.root, "/pub/s", 1001, 101), 0);
	assert_int_equal(chmod_(v.root, "/pub/s", 0604), 0);
	struct fs_attr t = {.valid = FS_ATTR_MTIME, .mtime_sec = 123456789, .mtime_nsec = 42};
	assert_int_equal(fs_setattr_path(v.root, "/pub/s", &t), 0);
	assert_int_equal(fs_sync(v.fs), 0);
	void *img = malloc(v.dev->nblocks * 4096);
	assert_non_null(img);
	bdev_emu_snapshot(v.dev, img);
	struct bdev *copy;
	assert_int_equal(bdev_emu_create_from(img, v.dev->nblocks, &copy), 0);
	free(img);
	struct fs *fs2;
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(copy, &o, &fs2), 0);
	struct fs_client *c2 = fs_client_new(fs2, 0, 0);
	struct stat st;
	assert_int_equal(fs_stat(c2, "/pub/s", &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0604);
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 101);
	assert_int_equal(st.st_mtim.tv_sec, 123456789);
	assert_int_equal(st.st_mtim.tv_nsec, 42);
	fs_client_free(c2);
	assert_int_equal(fs_unmount(fs2), 0);
	bdev_close(copy);
	vol_down(&v);
}

/* ---- atime: the same script on the core and on Linux (a relatime mount
 * under /tmp); at each step, did the read change atime? ---- */

struct side {
	struct fs_client *c; /* NULL: Linux, under dir */
	char dir[64];
};

static long long atime_of(struct side *s, const char *name)
{
	char p[128];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", s->c ? "" : s->dir, name);
	if (s->c)
		assert_int_equal(fs_stat(s->c, p, &st), 0);
	else
		assert_int_equal(stat(p, &st), 0);
	return (long long)st.st_atim.tv_sec * 1000000000ll + st.st_atim.tv_nsec;
}

static int open_(struct side *s, const char *name, int flags)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", s->c ? "" : s->dir, name);
	int fd = s->c ? fs_open(s->c, p, flags, 0644) : open(p, flags, 0644);
	assert_true(fd >= 0);
	return fd;
}

static void close_(struct side *s, int fd)
{
	assert_int_equal(s->c ? fs_close(s->c, fd) : close(fd), 0);
}

static void tick(void)
{
	struct timespec ts = {0, 20000000}; /* past the kernel's coarse clock */
	nanosleep(&ts, NULL);
}

/* Read `n` bytes of `name` (or list it, a directory) and say whether
 * atime moved. */
static char read_n_moves(struct side *s, const char *name, int flags, size_t n)
{
	long long before = atime_of(s, name);
	tick();
	int fd = open_(s, name, flags);
	if (flags & O_DIRECTORY) {
		if (s->c) {
			struct fs_dirent e[4];
			assert_true(fs_readdir(s->c, fd, e, 4) >= 0);
		} else {
			char buf[4096];
			assert_true(syscall(SYS_getdents64, fd, buf, sizeof(buf)) >= 0);
		}
	} else {
		char b[8];
		assert_true(n <= sizeof(b));
		assert_true(s->c ? fs_read(s->c, fd, b, n) >= 0 : read(fd, b, n) >= 0);
	}
	close_(s, fd);
	return atime_of(s, name) != before ? 'y' : 'n';
}

static char read_moves(struct side *s, const char *name, int flags)
{
	return read_n_moves(s, name, flags, 8);
}

static void write_(struct side *s, const char *name)
{
	tick();
	int fd = open_(s, name, O_WRONLY | O_CREAT);
	assert_int_equal(s->c ? fs_write(s->c, fd, "hello", 5) : write(fd, "hello", 5), 5);
	close_(s, fd);
}

static void atime_script(struct side *s, char *out)
{
	size_t k = 0;
	write_(s, "f");
	out[k++] = read_moves(s, "f", O_RDONLY); /* atime <= mtime: moves */
	out[k++] = read_moves(s, "f", O_RDONLY); /* later than both now: stays */
	out[k++] = read_moves(s, "f", O_RDONLY);
	write_(s, "f");
	out[k++] = read_moves(s, "f", O_RDONLY); /* written since: moves */
	out[k++] = read_moves(s, "f", O_RDONLY);
	write_(s, "f");
	out[k++] = read_moves(s, "f", O_RDONLY | O_NOATIME); /* never with O_NOATIME */
	out[k++] = read_moves(s, "f", O_RDONLY);
	/* a directory's listing, once changed */
	char p[128];
	snprintf(p, sizeof(p), "%s/d", s->c ? "" : s->dir);
	assert_int_equal(s->c ? fs_mkdir(s->c, p, 0755) : mkdir(p, 0755), 0);
	write_(s, "d/x");
	out[k++] = read_moves(s, "d", O_RDONLY | O_DIRECTORY);
	out[k++] = read_moves(s, "d", O_RDONLY | O_DIRECTORY);
	/* a read of nothing looks at no atime (Linux returns first) */
	write_(s, "f");
	out[k++] = read_n_moves(s, "f", O_RDONLY, 0);
	out[k++] = read_moves(s, "f", O_RDONLY);
	out[k] = 0;
}

static void reads_update_atime_as_linux_relatime_does(void **state)
{
	(void)state;
	struct side lx = {0};
	snprintf(lx.dir, sizeof(lx.dir), "/tmp/ank-atime-XXXXXX");
	assert_non_null(mkdtemp(lx.dir));
	char want[32], got[32];
	atime_script(&lx, want);
	char p[128];
	snprintf(p, sizeof(p), "%s/d/x", lx.dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/d", lx.dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/f", lx.dir);
	unlink(p);
	rmdir(lx.dir);

	struct vol v;
	vol_up(&v);
	struct side an = {.c = v.root};
	atime_script(&an, got);
	printf("atime moved (Linux, relatime): %s; the core: %s\n", want, got);
	assert_string_equal(got, want);
	assert_string_equal(want, "ynnynnyynny"); /* what relatime gives */
	vol_down(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chmod_needs_the_owner),
		cmocka_unit_test(the_root_needs_no_search_permission),
		cmocka_unit_test(chmod_outside_the_group_drops_setgid),
		cmocka_unit_test(chown_rules_and_setid_bits),
		cmocka_unit_test(utimens_rules),
		cmocka_unit_test(fd_and_inode_forms_follow_the_file),
		cmocka_unit_test(committed_attributes_survive_a_crash),
		cmocka_unit_test(reads_update_atime_as_linux_relatime_does),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
