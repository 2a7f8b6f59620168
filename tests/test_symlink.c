/*
 * test_symlink.c - symbolic links in the core, compared with Linux.
 *
 * One script of calls runs twice: on the core (an emulated volume) and
 * through libc on a fresh directory of this machine. Every result (the
 * return value or errno, readlink's bytes, stat's type, size and link
 * count, the bytes read through a link) must be the same. Targets are
 * relative, so both sides resolve them inside their own tree. Then the
 * volume is remounted and checked by fsck, and the links must still
 * resolve; absolute targets (which on the Linux side would leave the test
 * directory) are checked on the core alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

/* ---- the two sides ----------------------------------------------------------- */

struct side {
	struct bdev *dev;          /* core */
	struct fs *fs;
	struct fs_client *c;
	char root[64];             /* libc: the test directory */
	bool libc;
};

static const char *lp(const struct side *s, const char *path, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", s->root, path);
	return buf;
}

/* A libc result as the core gives it: -errno on failure. */
static long ERR(long r)
{
	return r < 0 ? -errno : r;
}

static long do_symlink(struct side *s, const char *target, const char *path)
{
	char b[PATH_MAX];
	if (s->libc)
		return ERR(symlink(target, lp(s, path, b, sizeof(b))));
	return fs_symlink(s->c, target, path);
}

/* readlink: the count, and the bytes in out (NUL added here). */
static long do_readlink(struct side *s, const char *path, size_t n, char *out)
{
	char b[PATH_MAX];
	long r = s->libc ? ERR(readlink(lp(s, path, b, sizeof(b)), out, n))
			 : (long)fs_readlink(s->c, path, out, n);
	if (r >= 0)
		out[r] = '\0';
	return r;
}

/* stat or lstat: 0 or -errno; the type, size and link count in *st. */
static long do_stat(struct side *s, const char *path, bool follow, struct stat *st)
{
	char b[PATH_MAX];
	memset(st, 0, sizeof(*st));
	if (s->libc)
		return ERR(follow ? stat(lp(s, path, b, sizeof(b)), st)
				  : lstat(lp(s, path, b, sizeof(b)), st));
	return follow ? fs_stat(s->c, path, st) : fs_lstat(s->c, path, st);
}

/* open, read up to 63 bytes into out (for O_RDONLY), close: the count
 * read (or 0 for a write-only open) or -errno. */
static long do_open_read(struct side *s, const char *path, int flags, char *out)
{
	char b[PATH_MAX];
	out[0] = '\0';
	long r;
	if (s->libc) {
		int fd = open(lp(s, path, b, sizeof(b)), flags, 0644);
		if (fd < 0)
			return -errno;
		r = (flags & O_ACCMODE) == O_WRONLY || (flags & O_DIRECTORY) ? 0 : ERR(read(fd, out, 63));
		close(fd);
	} else {
		int fd = fs_open(s->c, path, flags, 0644);
		if (fd < 0)
			return fd;
		r = (flags & O_ACCMODE) == O_WRONLY || (flags & O_DIRECTORY) ? 0
										: fs_read(s->c, fd, out, 63);
		fs_close(s->c, fd);
	}
	if (r >= 0)
		out[r] = '\0';
	return r;
}

static long do_path(struct side *s, const char *op, const char *path, const char *path2, long arg)
{
	char b[PATH_MAX], b2[PATH_MAX];
	if (s->libc) {
		const char *p = lp(s, path, b, sizeof(b));
		const char *p2 = path2 ? lp(s, path2, b2, sizeof(b2)) : NULL;
		if (!strcmp(op, "mkdir"))
			return ERR(mkdir(p, 0755));
		if (!strcmp(op, "rmdir"))
			return ERR(rmdir(p));
		if (!strcmp(op, "unlink"))
			return ERR(unlink(p));
		if (!strcmp(op, "link"))
			return ERR(link(p, p2));
		if (!strcmp(op, "rename"))
			return ERR(rename(p, p2));
		if (!strcmp(op, "chmod"))
			return ERR(chmod(p, (mode_t)arg));
		if (!strcmp(op, "truncate"))
			return ERR(truncate(p, arg));
	} else {
		if (!strcmp(op, "mkdir"))
			return fs_mkdir(s->c, path, 0755);
		if (!strcmp(op, "rmdir"))
			return fs_rmdir(s->c, path);
		if (!strcmp(op, "unlink"))
			return fs_unlink(s->c, path);
		if (!strcmp(op, "link"))
			return fs_link(s->c, path, path2);
		if (!strcmp(op, "rename"))
			return fs_rename(s->c, path, path2);
		if (!strcmp(op, "chmod")) {
			struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = (uint32_t)arg};
			return fs_setattr_path(s->c, path, &a);
		}
		if (!strcmp(op, "truncate"))
			return fs_truncate(s->c, path, arg);
	}
	fail_msg("unknown op %s", op);
	return 0;
}

/* ---- the script ---------------------------------------------------------------- */

/* One line of the script's transcript per call: what the call returned and
 * saw. The two sides' transcripts must be equal line by line. */
struct transcript {
	char line[256][160];
	unsigned n;
};

static void say(struct transcript *t, const char *fmt, ...)
{
	assert_true(t->n < 256);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->line[t->n++], sizeof(t->line[0]), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->line[0])); /* nothing cut off */
}

/* A path short enough for a transcript line: long ones by their start, end
 * and length. */
static const char *shown(const char *path)
{
	static char buf[4][80];
	static unsigned next;
	size_t n = strlen(path);
	if (n < 48)
		return path;
	char *b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "%.20s...%s[%zu]", path, path + n - 16, n);
	return b;
}

static void say_stat(struct transcript *t, struct side *s, const char *path, bool follow)
{
	struct stat st;
	long r = do_stat(s, path, follow, &st);
	const char *type = S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir"
							: S_ISREG(st.st_mode) ? "file" : "?";
	if (r < 0 || S_ISDIR(st.st_mode)) /* (a directory's size is the fs's own) */
		say(t, "%s %s = %ld %s", follow ? "stat" : "lstat", shown(path), r,
		    r < 0 ? "" : type);
	else
		say(t, "%s %s = %ld %s size %lld nlink %lu mode %o", follow ? "stat" : "lstat",
		    shown(path), r, type, (long long)st.st_size, (unsigned long)st.st_nlink,
		    (unsigned)(st.st_mode & 07777));
}

static void say_readlink(struct transcript *t, struct side *s, const char *path, size_t n)
{
	char out[PATH_MAX + 1];
	long r = do_readlink(s, path, n, out);
	say(t, "readlink %s %zu = %ld \"%.60s\"", shown(path), n, r, r >= 0 ? out : "");
}

static void say_open(struct transcript *t, struct side *s, const char *path, int flags)
{
	char out[64];
	long r = do_open_read(s, path, flags, out);
	say(t, "open %s 0%o = %ld \"%s\"", shown(path), flags, r, r >= 0 ? out : "");
}

static void make_file(struct side *s, const char *path, const char *bytes)
{
	char b[PATH_MAX];
	if (s->libc) {
		int fd = open(lp(s, path, b, sizeof(b)), O_CREAT | O_EXCL | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
		close(fd);
	} else {
		int fd = fs_open(s->c, path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fs_write(s->c, fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
		fs_close(s->c, fd);
	}
}

static void script(struct side *s, struct transcript *t)
{
	char name[64], target[64];
	assert_int_equal(do_path(s, "mkdir", "/d", NULL, 0), 0);
	make_file(s, "/d/f", "hello");
	/* a link to a file in the same directory, and the calls through it */
	say(t, "symlink f /d/l = %ld", do_symlink(s, "f", "/d/l"));
	say_readlink(t, s, "/d/l", 100);
	say_stat(t, s, "/d/l", false);
	say_stat(t, s, "/d/l", true);
	say_open(t, s, "/d/l", O_RDONLY);
	say_open(t, s, "/d/l", O_RDONLY | O_NOFOLLOW);
	say_open(t, s, "/d/l", O_RDWR | O_CREAT | O_EXCL);
	say_open(t, s, "/d/l", O_RDONLY | O_CREAT);
	say_open(t, s, "/d/l", O_RDONLY | O_CREAT | O_NOFOLLOW);
	say_stat(t, s, "/d/l/", true);
	say_stat(t, s, "/d/l/", false);
	/* a link to a directory, in the middle of paths and at their end */
	say(t, "symlink d /ld = %ld", do_symlink(s, "d", "/ld"));
	say_stat(t, s, "/ld", true);
	say_stat(t, s, "/ld/", false);
	say_stat(t, s, "/ld/f", true);
	say_open(t, s, "/ld/l", O_RDONLY);
	say_open(t, s, "/ld", O_RDONLY | O_DIRECTORY);
	say_open(t, s, "/ld", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	say(t, "rmdir /ld = %ld", do_path(s, "rmdir", "/ld", NULL, 0));
	say(t, "mkdir /ld = %ld", do_path(s, "mkdir", "/ld", NULL, 0));
	/* up and across */
	say(t, "mkdir /e = %ld", do_path(s, "mkdir", "/e", NULL, 0));
	say(t, "symlink ../d/f /e/up = %ld", do_symlink(s, "../d/f", "/e/up"));
	say_open(t, s, "/e/up", O_RDONLY);
	say(t, "symlink ../ld/./l /e/across = %ld", do_symlink(s, "../ld/./l", "/e/across"));
	say_open(t, s, "/e/across", O_RDONLY);
	say_stat(t, s, "/e/across/..", true);
	/* a link to nothing: O_CREAT creates its target */
	say(t, "symlink nothing /d/dangle = %ld", do_symlink(s, "nothing", "/d/dangle"));
	say_stat(t, s, "/d/dangle", true);
	say_stat(t, s, "/d/dangle", false);
	say_open(t, s, "/d/dangle", O_RDONLY);
	say_open(t, s, "/d/dangle", O_WRONLY | O_CREAT | O_EXCL);
	say_open(t, s, "/d/dangle", O_WRONLY | O_CREAT);
	say_stat(t, s, "/d/nothing", true);
	say_stat(t, s, "/d/dangle", true);
	/* loops, and the limit of 40 links in one path */
	say(t, "symlink loop2 /loop1 = %ld", do_symlink(s, "loop2", "/loop1"));
	say(t, "symlink loop1 /loop2 = %ld", do_symlink(s, "loop1", "/loop2"));
	say_stat(t, s, "/loop1", true);
	say_stat(t, s, "/loop1", false);
	say_open(t, s, "/loop1/x", O_RDONLY);
	say_open(t, s, "/loop1", O_WRONLY | O_CREAT);
	say(t, "mkdir /c = %ld", do_path(s, "mkdir", "/c", NULL, 0));
	make_file(s, "/c/l0", "end");
	for (int k = 1; k <= 41; k++) {
		snprintf(name, sizeof(name), "/c/l%d", k);
		snprintf(target, sizeof(target), "l%d", k - 1);
		say(t, "symlink %s %s = %ld", target, name, do_symlink(s, target, name));
	}
	say_open(t, s, "/c/l40", O_RDONLY);
	say_open(t, s, "/c/l41", O_RDONLY);
	say_stat(t, s, "/c/l41", false);
	/* errors of symlink and readlink */
	say(t, "symlink x /d/l = %ld", do_symlink(s, "x", "/d/l"));
	say(t, "symlink x /d = %ld", do_symlink(s, "x", "/d"));
	say(t, "symlink \"\" /e2 = %ld", do_symlink(s, "", "/e2"));
	say(t, "symlink x /nodir/e = %ld", do_symlink(s, "x", "/nodir/e"));
	say(t, "symlink x /d/f/e = %ld", do_symlink(s, "x", "/d/f/e"));
	say(t, "symlink x /d/new/ = %ld", do_symlink(s, "x", "/d/new/"));
	say(t, "symlink x /ld/viaslink = %ld", do_symlink(s, "x", "/ld/viaslink"));
	say_readlink(t, s, "/ld/viaslink", 100);
	say_readlink(t, s, "/d/f", 100);
	say_readlink(t, s, "/d", 100);
	say_readlink(t, s, "/nothere", 100);
	say_readlink(t, s, "/ld", 100);
	say_readlink(t, s, "/ld/", 100);
	say(t, "symlink abcdefgh /long = %ld", do_symlink(s, "abcdefgh", "/long"));
	say_readlink(t, s, "/long", 3);
	say_readlink(t, s, "/long", 8);
	static char big[PATH_MAX + 1];
	memset(big, 'a', PATH_MAX);
	big[PATH_MAX] = '\0';
	say(t, "symlink a*4096 /big = %ld", do_symlink(s, big, "/big"));
	big[PATH_MAX - 1] = '\0';
	say(t, "symlink a*4095 /big = %ld", do_symlink(s, big, "/big"));
	say_stat(t, s, "/big", false);
	say_stat(t, s, "/big", true);
	/* link bodies longer, put together, than a path may be: each is
	 * walked on its own, as Linux does */
	static char body[PATH_MAX], path[PATH_MAX];
	memset(body, 'x', 200);
	memcpy(body, "self/", 5);
	body[200] = '\0';
	say(t, "symlink self/x* /self = %ld", do_symlink(s, body, "/self"));
	say_stat(t, s, "/self", true);
	say_stat(t, s, "/self/", false);
	say_open(t, s, "/self", O_RDONLY);
	strcpy(body, "d");
	for (size_t k = 1; k + 2 < PATH_MAX - 10; k += 2)
		strcat(body, "/.");
	say(t, "symlink d/./.* /dots = %ld", do_symlink(s, body, "/dots"));
	strcpy(path, "/dots");
	for (int k = 0; k < 1000; k++)
		strcat(path, "/.");
	strcat(path, "/f");
	say_stat(t, s, path, true);
	say_open(t, s, path, O_RDONLY);
	path[strlen(path) - 1] = 'g';
	say_open(t, s, path, O_RDWR | O_CREAT);
	say_stat(t, s, "/d/g", true);
	strcpy(body, "dots");
	for (size_t k = 4; k + 2 < PATH_MAX - 10; k += 2)
		strcat(body, "/.");
	say(t, "symlink dots/./.* /dots2 = %ld", do_symlink(s, body, "/dots2"));
	say_stat(t, s, "/dots2/f", true);
	say_stat(t, s, "/dots2/", true);
	say_stat(t, s, "/dots2/f/", true);
	say_open(t, s, "/dots2/nothere", O_RDONLY);
	/* names: unlink, rename and link act on the link itself */
	say(t, "link /d/l /d/hl = %ld", do_path(s, "link", "/d/l", "/d/hl", 0));
	say_stat(t, s, "/d/hl", false);
	say_stat(t, s, "/d/l", false);
	say(t, "rename /d/l /d/l2 = %ld", do_path(s, "rename", "/d/l", "/d/l2", 0));
	say_readlink(t, s, "/d/l2", 100);
	say(t, "rename /ld /e/ld = %ld", do_path(s, "rename", "/ld", "/e/ld", 0));
	say_stat(t, s, "/e/ld/f", true);   /* "d" is now resolved from /e */
	say(t, "rename /e/ld /ld = %ld", do_path(s, "rename", "/e/ld", "/ld", 0));
	say_stat(t, s, "/ld/f", true);
	say(t, "unlink /d/hl = %ld", do_path(s, "unlink", "/d/hl", NULL, 0));
	say_stat(t, s, "/d/f", true);
	say(t, "unlink /ld/ = %ld", do_path(s, "unlink", "/ld/", NULL, 0));
	/* attributes through a link change its target */
	say(t, "chmod /d/l2 0600 = %ld", do_path(s, "chmod", "/d/l2", NULL, 0600));
	say_stat(t, s, "/d/l2", false);
	say_stat(t, s, "/d/f", true);
	say(t, "truncate /d/l2 2 = %ld", do_path(s, "truncate", "/d/l2", NULL, 2));
	say_open(t, s, "/d/f", O_RDONLY);
	say(t, "truncate /loop1 0 = %ld", do_path(s, "truncate", "/loop1", NULL, 0));
	say(t, "unlink /ld = %ld", do_path(s, "unlink", "/ld", NULL, 0));
	say_stat(t, s, "/d", true);
}

/* ---- the cases ------------------------------------------------------------------- */

static void core_up(struct side *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(bdev_emu_create(8192, &s->dev), 0);
	struct fs_mkfs_options mo = {.inodes = 512};
	assert_int_equal(fs_mkfs(s->dev, &mo), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(s->dev, &o, &s->fs), 0);
	s->c = fs_client_new(s->fs, 0, 0);
	assert_non_null(s->c);
}

static void core_remount(struct side *s)
{
	fs_client_free(s->c);
	assert_int_equal(fs_unmount(s->fs), 0);
	struct fsck_options fo = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(s->dev, &fo, &r), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(s->dev, &o, &s->fs), 0);
	s->c = fs_client_new(s->fs, 0, 0);
	assert_non_null(s->c);
}

static void core_down(struct side *s)
{
	fs_client_free(s->c);
	assert_int_equal(fs_unmount(s->fs), 0);
	bdev_close(s->dev);
}

static void libc_up(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->libc = true;
	snprintf(s->root, sizeof(s->root), "/tmp/ank-symlink-XXXXXX");
	assert_non_null(mkdtemp(s->root));
}

static void libc_down(struct side *s)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->root);
	assert_int_equal(system(cmd), 0);
}

static struct transcript ta, tb;

static void every_result_is_linux_s(void **state)
{
	(void)state;
	struct side core, lx;
	core_up(&core);
	libc_up(&lx);
	memset(&ta, 0, sizeof(ta));
	memset(&tb, 0, sizeof(tb));
	script(&core, &ta);
	script(&lx, &tb);
	assert_int_equal(ta.n, tb.n);
	unsigned bad = 0;
	for (unsigned i = 0; i < ta.n; i++) {
		if (strcmp(ta.line[i], tb.line[i]) != 0) {
			printf("differs: core  %s\n         linux %s\n", ta.line[i], tb.line[i]);
			bad++;
		}
	}
	printf("%u calls compared with Linux, %u differ\n", ta.n, bad);
	assert_int_equal(bad, 0);
	/* the same answers after a remount (and a clean fsck) */
	core_remount(&core);
	struct transcript after = {0};
	say_readlink(&after, &core, "/d/l2", 100);
	say_open(&after, &core, "/e/up", O_RDONLY);
	say_open(&after, &core, "/c/l40", O_RDONLY);
	say_stat(&after, &core, "/big", false);
	assert_string_equal(after.line[0], "readlink /d/l2 100 = 1 \"f\"");
	assert_string_equal(after.line[1], "open /e/up 00 = 2 \"he\"");
	assert_string_equal(after.line[2], "open /c/l40 00 = 3 \"end\"");
	assert_string_equal(after.line[3], "lstat /big = 0 link size 4095 nlink 1 mode 777");
	core_down(&core);
	libc_down(&lx);
}

/* Absolute targets resolve from the volume's root (the Linux side cannot
 * run these: its root is the machine's). */
static void absolute_targets_start_at_the_root(void **state)
{
	(void)state;
	struct side s;
	core_up(&s);
	assert_int_equal(fs_mkdir(s.c, "/a", 0755), 0);
	assert_int_equal(fs_mkdir(s.c, "/a/b", 0755), 0);
	make_file(&s, "/a/b/f", "abs");
	assert_int_equal(fs_symlink(s.c, "/a/b", "/a/b/self"), 0);
	assert_int_equal(fs_symlink(s.c, "/a/b/f", "/a/tof"), 0);
	assert_int_equal(fs_symlink(s.c, "//a///b/../b/f", "/messy"), 0);
	char out[64];
	assert_int_equal(do_open_read(&s, "/a/b/self/self/self/f", O_RDONLY, out), 3);
	assert_string_equal(out, "abs");
	assert_int_equal(do_open_read(&s, "/a/tof", O_RDONLY, out), 3);
	assert_int_equal(do_open_read(&s, "/messy", O_RDONLY, out), 3);
	assert_int_equal(fs_symlink(s.c, "/", "/a/root"), 0);
	struct stat st;
	assert_int_equal(fs_stat(s.c, "/a/root/a/b/f", &st), 0);
	assert_int_equal(st.st_size, 3);
	/* a dangling absolute target is created by O_CREAT, where it says */
	assert_int_equal(fs_symlink(s.c, "/a/made", "/mk"), 0);
	int fd = fs_open(s.c, "/mk", O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_close(s.c, fd), 0);
	assert_int_equal(fs_stat(s.c, "/a/made", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	core_remount(&s);
	assert_int_equal(do_open_read(&s, "/a/b/self/f", O_RDONLY, out), 3);
	core_down(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_result_is_linux_s),
		cmocka_unit_test(absolute_targets_start_at_the_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
