/*
 * test_byinode.c - the core addressed by inode (fs.h, "addressing by
 * inode"): each call gives what its path twin gives, names are single
 * components, numbers that are not in use are refused, a reused number
 * gets a new generation, setattr changes size and ctime with truncate's
 * rules, and a directory listing resumes at a saved cookie after entries
 * came and went and after a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

struct vol {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
};

static void vol_mount(struct vol *v)
{
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(v->dev, &o, &v->fs), 0);
	v->c = fs_client_new(v->fs, 0, 0);
	assert_non_null(v->c);
}

static void vol_create(struct vol *v, uint64_t blocks, uint64_t inodes)
{
	assert_int_equal(bdev_emu_create(blocks, &v->dev), 0);
	struct fs_mkfs_options mo = {.inodes = inodes};
	assert_int_equal(fs_mkfs(v->dev, &mo), 0);
	vol_mount(v);
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
	vol_unmount(v);
	struct fsck_options o = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(v->dev, &o, &r), 0);
	bdev_close(v->dev);
}

static uint64_t ino_of(struct fs_client *c, const char *path)
{
	struct stat st;
	assert_int_equal(fs_lstat(c, path, &st), 0);
	return st.st_ino;
}

static void test_lookup_and_getattr_give_what_the_path_calls_give(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 256);
	assert_int_equal(fs_mkdir(v.c, "/d", 0750), 0);
	int fd = fs_open(v.c, "/d/f", O_CREAT | O_WRONLY, 0640);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(v.c, fd, "hello", 5), 5);
	assert_int_equal(fs_close(v.c, fd), 0);
	assert_int_equal(fs_symlink(v.c, "f", "/d/l"), 0);
	uint64_t d = ino_of(v.c, "/d");

	struct stat a, b;
	uint32_t ga = 0, gb = 0;
	assert_int_equal(fs_lookup(v.c, d, "f", &a, &ga), 0);
	assert_int_equal(fs_fstatat_gen(v.c, FS_AT_ROOT, "/d/f", &b, 0, &gb), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(ga, gb);
	assert_int_equal(a.st_size, 5);
	assert_int_equal(a.st_mode, S_IFREG | 0640);
	assert_int_equal(fs_getattr(v.c, a.st_ino, &b, &gb), 0);
	assert_int_equal(b.st_ino, a.st_ino);
	assert_int_equal(b.st_size, 5);
	assert_int_equal(gb, ga);

	/* a symbolic link is looked up as itself */
	assert_int_equal(fs_lookup(v.c, d, "l", &a, NULL), 0);
	assert_true(S_ISLNK(a.st_mode));
	assert_int_equal(a.st_size, 1);
	char buf[16];
	assert_int_equal(fs_readlink_ino(v.c, a.st_ino, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'f');
	assert_int_equal(fs_readlink_ino(v.c, d, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fs_open_ino(v.c, a.st_ino, O_RDONLY), -ELOOP);

	/* "." and ".." are components; the root is its own parent */
	assert_int_equal(fs_lookup(v.c, d, ".", &a, NULL), 0);
	assert_int_equal(a.st_ino, d);
	assert_int_equal(fs_lookup(v.c, d, "..", &a, NULL), 0);
	assert_int_equal(a.st_ino, ANK_ROOT_INO);
	assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, "..", &a, NULL), 0);
	assert_int_equal(a.st_ino, ANK_ROOT_INO);

	/* names are one component */
	char longname[ANK_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, "d/f", &a, NULL), -EINVAL);
	assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, "", &a, NULL), -ENOENT);
	assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, longname, &a, NULL), -ENAMETOOLONG);
	assert_int_equal(fs_lookup(v.c, d, "missing", &a, NULL), -ENOENT);
	assert_int_equal(fs_mkdir_in(v.c, ANK_ROOT_INO, "d/x", 0755, NULL), -EINVAL);
	assert_int_equal(fs_rename_in(v.c, d, "f", d, "a/b", 0), -EINVAL);

	/* numbers: 0 is none, one past the table or free is stale, a file is
	 * no directory */
	uint64_t f = ino_of(v.c, "/d/f");
	assert_int_equal(fs_lookup(v.c, 0, "d", &a, NULL), -EINVAL);
	assert_int_equal(fs_getattr(v.c, 0, &a, NULL), -EINVAL);
	assert_int_equal(fs_getattr(v.c, 1u << 30, &a, NULL), -ESTALE);
	assert_int_equal(fs_lookup(v.c, f, "x", &a, NULL), -ENOTDIR);
	assert_int_equal(fs_unlink(v.c, "/d/f"), 0);
	assert_int_equal(fs_getattr(v.c, f, &a, NULL), -ESTALE);
	assert_int_equal(fs_open_ino(v.c, f, O_RDONLY), -ESTALE);
	struct fs_statfs sf;
	assert_int_equal(fs_statfs_ino(v.c, f, &sf), -ESTALE);
	assert_int_equal(fs_statfs_ino(v.c, d, &sf), 0);
	assert_int_equal(sf.namelen, ANK_NAME_MAX);
	vol_destroy(&v);
}

/* A tree made and changed through the inode calls only, then read back
 * through paths, and after a remount. */
static void test_a_tree_built_by_inode_reads_back_by_path(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 256);
	uint64_t a = 0, b = 0, s = 0, n = 0;
	assert_int_equal(fs_mkdir_in(v.c, ANK_ROOT_INO, "a", 0755, &a), 0);
	assert_int_equal(a, ino_of(v.c, "/a"));
	assert_int_equal(fs_mkdir_in(v.c, a, "b", 0700, &b), 0);
	assert_int_equal(b, ino_of(v.c, "/a/b"));
	assert_int_equal(fs_mkdir_in(v.c, a, "b", 0700, NULL), -EEXIST);

	int fd = fs_create(v.c, b, "file", O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(v.c, fd, "0123456789", 10), 10);
	assert_int_equal(fs_close(v.c, fd), 0);
	assert_int_equal(fs_create(v.c, b, "file", O_WRONLY | O_EXCL, 0600), -EEXIST);
	uint64_t file = ino_of(v.c, "/a/b/file");

	assert_int_equal(fs_symlink_in(v.c, "b/file", a, "ln", &s), 0);
	assert_int_equal(s, ino_of(v.c, "/a/ln"));
	assert_int_equal(fs_mknod_in(v.c, a, "fifo", S_IFIFO | 0644, 0, &n), 0);
	assert_int_equal(n, ino_of(v.c, "/a/fifo"));
	assert_int_equal(fs_mknod_in(v.c, a, "dev", S_IFCHR | 0600, makedev(1, 3), NULL), 0);
	assert_int_equal(fs_link_in(v.c, file, ANK_ROOT_INO, "hard"), 0);
	assert_int_equal(fs_link_in(v.c, b, ANK_ROOT_INO, "dirlink"), -EPERM);

	/* rename with flags, by directory and name */
	assert_int_equal(fs_rename_in(v.c, ANK_ROOT_INO, "hard", a, "fifo", RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(fs_rename_in(v.c, ANK_ROOT_INO, "hard", a, "fifo", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(v.c, "/a/fifo"), file);
	assert_int_equal(ino_of(v.c, "/hard"), n);
	assert_int_equal(fs_unlink_in(v.c, ANK_ROOT_INO, "hard"), 0);
	assert_int_equal(fs_rmdir_in(v.c, a, "b"), -ENOTEMPTY);
	assert_int_equal(fs_unlink_in(v.c, a, "b"), -EISDIR);

	/* open by number reads what a path open reads */
	fd = fs_open_ino(v.c, file, O_RDONLY);
	assert_true(fd >= 0);
	char buf[16] = {0};
	assert_int_equal(fs_read(v.c, fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(fs_close(v.c, fd), 0);
	assert_int_equal(fs_open_ino(v.c, file, O_RDONLY | O_CREAT), -EINVAL);

	vol_unmount(&v);
	vol_mount(&v);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/a/ln", &st), 0); /* followed to b/file */
	assert_int_equal(st.st_ino, file);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(fs_lstat(v.c, "/a/dev", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(fs_stat(v.c, "/hard", &st), -ENOENT);
	assert_int_equal(fs_unlink_in(v.c, a, "fifo"), 0);
	assert_int_equal(fs_unlink_in(v.c, b, "file"), 0);
	assert_int_equal(fs_rmdir_in(v.c, a, "b"), 0);
	assert_int_equal(fs_getattr(v.c, b, &st, NULL), -ESTALE);
	vol_destroy(&v);
}

/* When a number comes back for a new object, its generation differs, so
 * a caller holding (number, generation) never mistakes one for the other. */
static void test_a_reused_number_gets_a_new_generation(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 2048, 16);
	int fd = fs_create(v.c, ANK_ROOT_INO, "x", O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_close(v.c, fd), 0);
	struct stat st;
	uint32_t gen0;
	assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, "x", &st, &gen0), 0);
	uint64_t ino0 = st.st_ino;
	bool reused = false;
	for (int i = 0; i < 64 && !reused; i++) {
		assert_int_equal(fs_unlink_in(v.c, ANK_ROOT_INO, "x"), 0);
		fd = fs_create(v.c, ANK_ROOT_INO, "x", O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fs_close(v.c, fd), 0);
		uint32_t gen;
		assert_int_equal(fs_lookup(v.c, ANK_ROOT_INO, "x", &st, &gen), 0);
		if (st.st_ino == ino0) {
			assert_int_not_equal(gen, gen0);
			reused = true;
		}
	}
	assert_true(reused); /* (16 inodes: the number must come back) */
	vol_destroy(&v);
}

static void test_setattr_changes_size_and_ctime_with_truncate_s_rules(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 256);
	int fd = fs_open(v.c, "/f", O_CREAT | O_RDWR, 0664);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(v.c, fd, "abcdefgh", 8), 8);
	uint64_t f = ino_of(v.c, "/f");
	struct stat st;

	struct fs_attr a = {.valid = FS_ATTR_SIZE, .size = 3};
	assert_int_equal(fs_setattr(v.c, f, &a), 0);
	assert_int_equal(fs_getattr(v.c, f, &st, NULL), 0);
	assert_int_equal(st.st_size, 3);
	a.size = 10000;
	assert_int_equal(fs_setattr_path(v.c, "/f", &a), 0);
	char buf[8];
	assert_int_equal(fs_pread(v.c, fd, buf, 8, 0), 8);
	assert_memory_equal(buf, "abc\0\0\0\0\0", 8);

	/* bad sizes and kinds change nothing, the mode given beside included */
	struct fs_attr bad = {.valid = FS_ATTR_SIZE | FS_ATTR_MODE, .size = -1, .mode = 0600};
	assert_int_equal(fs_setattr(v.c, f, &bad), -EINVAL);
	bad.size = INT64_MAX;
	assert_int_equal(fs_setattr(v.c, f, &bad), -EFBIG);
	assert_int_equal(fs_getattr(v.c, f, &st, NULL), 0);
	assert_int_equal(st.st_mode & 07777, 0664);
	assert_int_equal(st.st_size, 10000);
	assert_int_equal(fs_setattr(v.c, ANK_ROOT_INO, &a), -EISDIR);
	assert_int_equal(fs_symlink(v.c, "f", "/l"), 0);
	struct fs_attr nofollow = {.valid = FS_ATTR_SIZE | FS_ATTR_NOFOLLOW, .size = 0};
	assert_int_equal(fs_setattr_path(v.c, "/l", &nofollow), -EINVAL);

	/* by fd: an fd open for writing, whatever the mode says */
	int ro = fs_open(v.c, "/f", O_RDONLY, 0);
	assert_true(ro >= 0);
	a.size = 1;
	assert_int_equal(fs_setattr_fd(v.c, ro, &a), -EINVAL);
	assert_int_equal(fs_close(v.c, ro), 0);
	struct fs_attr ro_mode = {.valid = FS_ATTR_MODE, .mode = 0444};
	assert_int_equal(fs_setattr(v.c, f, &ro_mode), 0);

	/* another user: by inode needs write permission, by fd only the fd */
	struct fs_client *u = fs_client_new(v.fs, 1000, 1000);
	assert_non_null(u);
	assert_int_equal(fs_setattr(u, f, &a), -EACCES);
	struct fs_attr own = {.valid = FS_ATTR_UID, .uid = 1000};
	assert_int_equal(fs_setattr(v.c, f, &own), 0);
	assert_int_equal(fs_setattr(u, f, &a), -EACCES); /* (0444: the owner too) */
	assert_int_equal(fs_setattr_fd(v.c, fd, &a), 0);
	assert_int_equal(fs_getattr(v.c, f, &st, NULL), 0);
	assert_int_equal(st.st_size, 1);

	/* an explicit ctime: the owner or root only, nanoseconds kept */
	struct fs_attr ct = {.valid = FS_ATTR_CTIME, .ctime_sec = 1234567, .ctime_nsec = 89};
	assert_int_equal(fs_setattr(u, f, &ct), 0);
	assert_int_equal(fs_getattr(v.c, f, &st, NULL), 0);
	assert_int_equal(st.st_ctim.tv_sec, 1234567);
	assert_int_equal(st.st_ctim.tv_nsec, 89);
	struct fs_attr back = {.valid = FS_ATTR_UID, .uid = 0};
	assert_int_equal(fs_setattr(v.c, f, &back), 0);
	assert_int_equal(fs_setattr(u, f, &ct), -EPERM);
	ct.ctime_nsec = 1000000000u;
	assert_int_equal(fs_setattr(v.c, f, &ct), -EINVAL);
	fs_client_free(u);
	assert_int_equal(fs_close(v.c, fd), 0);

	vol_unmount(&v);
	vol_mount(&v);
	assert_int_equal(fs_getattr(v.c, f, &st, NULL), 0);
	assert_int_equal(st.st_size, 1);
	vol_destroy(&v);
}

/* A listing read in part, its cookie kept; entries removed and added; the
 * file system crashed and mounted again (a copy of the device taken while
 * mounted). Resumed at the cookie, the listing gives every entry that was
 * there all along and not yet listed exactly once, nothing listed before,
 * nothing removed, and each new entry at most once. */
static void test_a_listing_resumes_at_its_cookie_after_changes_and_a_crash(void **state)
{
	(void)state;
	enum { N = 400, FIRST = 150 };
	struct vol v;
	vol_create(&v, 8192, 1024);
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	char name[64];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "/d/old-%03d", i);
		int fd = fs_open(v.c, name, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fs_close(v.c, fd), 0);
	}
	int dfd = fs_open(v.c, "/d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	/* 0: not listed yet; 1: listed before the cookie; 2: after; 3: removed */
	char seen[N] = {0};
	struct fs_dirent ents[FIRST];
	int got = 0;
	uint64_t cookie = 0;
	while (got < FIRST) {
		int n = fs_readdir(v.c, dfd, ents, FIRST - got);
		assert_true(n > 0);
		for (int k = 0; k < n; k++) {
			cookie = ents[k].next;
			int i;
			if (sscanf(ents[k].name, "old-%d", &i) == 1) {
				assert_int_equal(seen[i], 0);
				seen[i] = 1;
			}
		}
		got += n;
	}
	assert_int_equal(fs_close(v.c, dfd), 0);

	/* every third entry goes, listed or not; as many new ones come */
	for (int i = 0; i < N; i += 3) {
		snprintf(name, sizeof(name), "/d/old-%03d", i);
		assert_int_equal(fs_unlink(v.c, name), 0);
		seen[i] = 3;
	}
	for (int i = 0; i < N / 3; i++) {
		snprintf(name, sizeof(name), "/d/new-%03d-with-a-longer-name", i);
		int fd = fs_open(v.c, name, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fs_close(v.c, fd), 0);
	}
	assert_int_equal(fs_sync(v.fs), 0);
	void *img = malloc(v.dev->nblocks * 4096);
	assert_non_null(img);
	bdev_emu_snapshot(v.dev, img);
	struct vol w;
	assert_int_equal(bdev_emu_create_from(img, v.dev->nblocks, &w.dev), 0);
	free(img);
	vol_mount(&w);

	dfd = fs_open(w.c, "/d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	assert_int_equal(fs_lseek(w.c, dfd, (off_t)cookie, SEEK_SET), (off_t)cookie);
	char seen_new[N / 3] = {0};
	int n;
	while ((n = fs_readdir(w.c, dfd, ents, 64)) > 0) {
		for (int k = 0; k < n; k++) {
			int i;
			if (sscanf(ents[k].name, "old-%d", &i) == 1) {
				assert_true(i >= 0 && i < N);
				if (seen[i] != 0)
					fail_msg("old-%03d listed again after the cookie (state %d)", i,
						 seen[i]);
				seen[i] = 2;
			} else if (sscanf(ents[k].name, "new-%d", &i) == 1) {
				assert_true(i >= 0 && i < N / 3);
				assert_int_equal(seen_new[i], 0);
				seen_new[i] = 1;
			} else {
				assert_true(ents[k].name[0] == '.'); /* (only at the start) */
				assert_int_equal(cookie, 0);
			}
		}
	}
	assert_int_equal(n, 0);
	for (int i = 0; i < N; i++)
		if (seen[i] == 0)
			fail_msg("old-%03d was never listed", i);
	assert_int_equal(fs_close(w.c, dfd), 0);
	vol_destroy(&w);
	vol_destroy(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_and_getattr_give_what_the_path_calls_give),
		cmocka_unit_test(test_a_tree_built_by_inode_reads_back_by_path),
		cmocka_unit_test(test_a_reused_number_gets_a_new_generation),
		cmocka_unit_test(test_setattr_changes_size_and_ctime_with_truncate_s_rules),
		cmocka_unit_test(test_a_listing_resumes_at_its_cookie_after_changes_and_a_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
