/*
 * test_at.c - the *at calls of the core (fs_openat, fs_mkdirat,
 * fs_symlinkat, fs_readlinkat, fs_fstatat, fs_faccessat, fs_unlinkat,
 * fs_linkat, fs_renameat2, fs_setattrat), compared with Linux.
 *
 * One script runs twice: on the core (an emulated volume) and through libc
 * in a fresh directory of this machine, which is also the process's working
 * directory while it runs (so AT_FDCWD with a relative path means the same
 * place on both sides: a core client's working directory is the root).
 * Directory fds are opened on each side and named by a slot number in the
 * script. Every result (return value or errno, the bytes read, stat's type,
 * link count and mode) must be the same. Then the volume is remounted and
 * checked by fsck. Directory fds by inode number (fs_at_ino) are checked on
 * the core alone: Linux has no such call.
 *
 * Not compared: RENAME_WHITEOUT (Linux makes a whiteout device; the core
 * answers EINVAL), AT_EMPTY_PATH for linkat unless running as root (Linux
 * asks for CAP_DAC_READ_SEARCH).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fs/recovery.h"
#include "../src/fsck/fsck.h"

/* ---- the two sides ----------------------------------------------------------- */

#define NSLOTS 8
#define BADFD 900 /* no fd on either side */

struct side {
	struct bdev *dev;          /* core */
	struct fs *fs;
	struct fs_client *c;
	char root[64];             /* libc: the test directory, also the cwd */
	bool libc;
	int slot[NSLOTS];          /* directory (or file) fds the script opened */
};

/* A path as the side sees it: absolute paths below the test directory on
 * the libc side; relative ones as they are. */
static const char *P(const struct side *s, const char *path, char *buf, size_t n)
{
	if (!s->libc || path[0] != '/')
		return path;
	snprintf(buf, n, "%s%s", s->root, path);
	return buf;
}

/* The fd a slot names: AT_FDCWD for -1, BADFD for -2. */
static int FD(const struct side *s, int slot)
{
	return slot == -1 ? AT_FDCWD : slot == -2 ? BADFD : s->slot[slot];
}

static struct fs_at AT(const struct side *s, int slot)
{
	return fs_at_fd(FD(s, slot));
}

static long ERR(long r)
{
	return r < 0 ? -errno : r;
}

/* ---- the transcript ---------------------------------------------------------- */

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

/* ---- the calls, on either side ------------------------------------------------ */

/* openat into a slot (kept open), or -errno. */
static long open_slot(struct side *s, int slot, int at, const char *path, int flags)
{
	char b[PATH_MAX];
	int fd = s->libc ? (int)ERR(openat(FD(s, at), P(s, path, b, sizeof(b)), flags, 0644))
			 : fs_openat(s->c, AT(s, at), path, flags, 0644);
	if (fd >= 0)
		s->slot[slot] = fd;
	return fd < 0 ? fd : 0;
}

/* openat, read up to 63 bytes (unless write-only), close. */
static void say_openat(struct transcript *t, struct side *s, int at, const char *path, int flags)
{
	char b[PATH_MAX], out[64] = "";
	long r;
	if (s->libc) {
		int fd = openat(FD(s, at), P(s, path, b, sizeof(b)), flags, 0640);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0) {
			if ((flags & O_ACCMODE) != O_WRONLY && !(flags & O_DIRECTORY))
				r = ERR(read(fd, out, 63));
			close(fd);
		}
	} else {
		int fd = fs_openat(s->c, AT(s, at), path, flags, 0640);
		r = fd < 0 ? fd : 0;
		if (fd >= 0) {
			if ((flags & O_ACCMODE) != O_WRONLY && !(flags & O_DIRECTORY))
				r = fs_read(s->c, fd, out, 63);
			fs_close(s->c, fd);
		}
	}
	if (r >= 0)
		out[r] = '\0';
	say(t, "openat %d %s 0%o = %ld \"%s\"", at, path, flags, r, r >= 0 ? out : "");
}

static void say_fstatat(struct transcript *t, struct side *s, int at, const char *path, int flags)
{
	char b[PATH_MAX];
	struct stat st;
	memset(&st, 0, sizeof(st));
	long r = s->libc ? ERR(fstatat(FD(s, at), P(s, path, b, sizeof(b)), &st, flags))
			 : fs_fstatat(s->c, AT(s, at), path, &st, flags);
	const char *type = S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir"
			 : S_ISREG(st.st_mode) ? "file" : S_ISFIFO(st.st_mode) ? "fifo"
			 : S_ISSOCK(st.st_mode) ? "socket" : S_ISCHR(st.st_mode) ? "chr"
			 : S_ISBLK(st.st_mode) ? "blk" : "?";
	if (r == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
		say(t, "fstatat %d \"%s\" %x = 0 %s %u:%u nlink %lu mode %o", at, path, flags, type,
		    major(st.st_rdev), minor(st.st_rdev), (unsigned long)st.st_nlink,
		    (unsigned)(st.st_mode & 07777));
	else if (r < 0)
		say(t, "fstatat %d \"%.60s\" %x = %ld", at, path, flags, r);
	else if (S_ISDIR(st.st_mode)) /* (a directory's size is the fs's own) */
		say(t, "fstatat %d \"%s\" %x = 0 dir nlink %lu mode %o", at, path, flags,
		    (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 07777));
	else
		say(t, "fstatat %d \"%s\" %x = 0 %s size %lld nlink %lu mode %o", at, path, flags, type,
		    (long long)st.st_size, (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 07777));
}

static void say_readlinkat(struct transcript *t, struct side *s, int at, const char *path)
{
	char b[PATH_MAX], out[PATH_MAX + 1];
	long r = s->libc ? ERR(readlinkat(FD(s, at), P(s, path, b, sizeof(b)), out, 100))
			 : (long)fs_readlinkat(s->c, AT(s, at), path, out, 100);
	say(t, "readlinkat %d %s = %ld \"%.*s\"", at, path, r, r > 0 ? (int)r : 0, out);
}

static long do_mkdirat(struct side *s, int at, const char *path)
{
	char b[PATH_MAX];
	return s->libc ? ERR(mkdirat(FD(s, at), P(s, path, b, sizeof(b)), 0750))
		       : fs_mkdirat(s->c, AT(s, at), path, 0750);
}

static long do_mknodat(struct side *s, int at, const char *path, mode_t mode, dev_t dev)
{
	char b[PATH_MAX];
	return s->libc ? ERR(mknodat(FD(s, at), P(s, path, b, sizeof(b)), mode, dev))
		       : fs_mknodat(s->c, AT(s, at), path, mode, dev);
}

static long do_symlinkat(struct side *s, const char *target, int at, const char *path)
{
	char b[PATH_MAX];
	return s->libc ? ERR(symlinkat(target, FD(s, at), P(s, path, b, sizeof(b))))
		       : fs_symlinkat(s->c, target, AT(s, at), path);
}

static long do_unlinkat(struct side *s, int at, const char *path, int flags)
{
	char b[PATH_MAX];
	return s->libc ? ERR(unlinkat(FD(s, at), P(s, path, b, sizeof(b)), flags))
		       : fs_unlinkat(s->c, AT(s, at), path, flags);
}

static long do_faccessat(struct side *s, int at, const char *path, int mode, int flags)
{
	char b[PATH_MAX];
	return s->libc ? ERR(faccessat(FD(s, at), P(s, path, b, sizeof(b)), mode, flags))
		       : fs_faccessat(s->c, AT(s, at), path, mode, flags);
}

static long do_linkat(struct side *s, int at1, const char *from, int at2, const char *to,
		      int flags)
{
	char b[PATH_MAX], b2[PATH_MAX];
	return s->libc ? ERR(linkat(FD(s, at1), P(s, from, b, sizeof(b)), FD(s, at2),
				    P(s, to, b2, sizeof(b2)), flags))
		       : fs_linkat(s->c, AT(s, at1), from, AT(s, at2), to, flags);
}

static long do_renameat2(struct side *s, int at1, const char *from, int at2, const char *to,
			 unsigned flags)
{
	char b[PATH_MAX], b2[PATH_MAX];
	return s->libc ? ERR(renameat2(FD(s, at1), P(s, from, b, sizeof(b)), FD(s, at2),
				       P(s, to, b2, sizeof(b2)), flags))
		       : fs_renameat2(s->c, AT(s, at1), from, AT(s, at2), to, flags);
}

static long do_fchmodat(struct side *s, int at, const char *path, mode_t mode)
{
	char b[PATH_MAX];
	if (s->libc)
		return ERR(fchmodat(FD(s, at), P(s, path, b, sizeof(b)), mode, 0));
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = mode};
	return fs_setattrat(s->c, AT(s, at), path, &a);
}

static void close_slot(struct side *s, int slot)
{
	if (s->libc)
		close(s->slot[slot]);
	else
		fs_close(s->c, s->slot[slot]);
}

/* ---- the script ---------------------------------------------------------------- */

static bool g_dev_ok; /* this host lets the test make device nodes */

enum { D = 0, E = 1, F = 2, Q = 3 }; /* slots: /d, /d/e, /d/f (a file), /q */
#define CWD (-1)
#define BAD (-2)

static void script(struct side *s, struct transcript *t)
{
	/* the tree: /d/f ("hello"), /d/e, /q/r */
	assert_int_equal(do_mkdirat(s, CWD, "/d"), 0);
	assert_int_equal(do_mkdirat(s, CWD, "d/e"), 0);
	assert_int_equal(do_mkdirat(s, CWD, "q"), 0);
	assert_int_equal(do_mkdirat(s, CWD, "/q/r"), 0);
	assert_int_equal(open_slot(s, F, CWD, "d/f", O_RDWR | O_CREAT), 0);
	if (s->libc)
		assert_int_equal(write(s->slot[F], "hello", 5), 5);
	else
		assert_int_equal(fs_write(s->c, s->slot[F], "hello", 5), 5);
	say(t, "open D = %ld", open_slot(s, D, CWD, "/d", O_RDONLY | O_DIRECTORY));
	say(t, "open E = %ld", open_slot(s, E, D, "e", O_RDONLY | O_DIRECTORY));
	say(t, "open Q = %ld", open_slot(s, Q, D, "../q", O_RDONLY | O_DIRECTORY));
	/* opening relative to a directory, a file, no fd, and absolute paths */
	say_openat(t, s, D, "f", O_RDONLY);
	say_openat(t, s, E, "../f", O_RDONLY);
	say_openat(t, s, E, "..", O_RDONLY | O_DIRECTORY);
	say_openat(t, s, D, "new", O_WRONLY | O_CREAT | O_EXCL);
	say_openat(t, s, D, "new", O_WRONLY | O_CREAT | O_EXCL);
	say_openat(t, s, F, "x", O_RDONLY);
	say_openat(t, s, F, "", O_RDONLY);
	say_openat(t, s, BAD, "f", O_RDONLY);
	say_openat(t, s, BAD, "/d/f", O_RDONLY);
	say_openat(t, s, F, "/d/f", O_RDONLY);
	say_openat(t, s, D, "", O_RDONLY);
	say_openat(t, s, D, "nothere", O_RDONLY);
	say_openat(t, s, CWD, "d/f", O_RDONLY);
	/* stat */
	say_fstatat(t, s, D, "f", 0);
	say_fstatat(t, s, D, "", 0);
	say_fstatat(t, s, D, "", AT_EMPTY_PATH);
	say_fstatat(t, s, F, "", AT_EMPTY_PATH);
	say_fstatat(t, s, F, "x", 0);
	say_fstatat(t, s, BAD, "x", 0);
	say_fstatat(t, s, BAD, "/d", 0);
	say_fstatat(t, s, E, "..", 0);
	say_fstatat(t, s, D, "f", 0x4000000);
	/* directories, symbolic links */
	say(t, "mkdirat D m = %ld", do_mkdirat(s, D, "m"));
	say(t, "mkdirat E m2 = %ld", do_mkdirat(s, E, "m2"));
	say(t, "mkdirat D m = %ld", do_mkdirat(s, D, "m"));
	say(t, "mkdirat F m = %ld", do_mkdirat(s, F, "m"));
	say_fstatat(t, s, D, "m", 0);
	say_fstatat(t, s, CWD, "d", 0);
	say(t, "symlinkat f D l = %ld", do_symlinkat(s, "f", D, "l"));
	say(t, "symlinkat ../f E up = %ld", do_symlinkat(s, "../f", E, "up"));
	say(t, "symlinkat x F l = %ld", do_symlinkat(s, "x", F, "l"));
	say_readlinkat(t, s, D, "l");
	say_readlinkat(t, s, E, "up");
	say_readlinkat(t, s, D, "f");
	say_readlinkat(t, s, BAD, "l");
	say_openat(t, s, E, "up", O_RDONLY);
	say_openat(t, s, E, "up", O_RDONLY | O_NOFOLLOW);
	say_fstatat(t, s, E, "up", 0);
	say_fstatat(t, s, E, "up", AT_SYMLINK_NOFOLLOW);
	/* special files: FIFOs, sockets, devices (where this host may make
	 * them); the type is checked before the path */
	say(t, "mknodat D fifo = %ld", do_mknodat(s, D, "fifo", S_IFIFO | 0640, 0));
	say(t, "mknodat D sock = %ld", do_mknodat(s, D, "sock", S_IFSOCK | 0600, 0));
	say(t, "mknodat D reg = %ld", do_mknodat(s, D, "reg", S_IFREG | 0600, 0));
	say(t, "mknodat D notype = %ld", do_mknodat(s, D, "notype", 0644, 0));
	say(t, "mknodat D dir = %ld", do_mknodat(s, D, "dir", S_IFDIR | 0755, 0));
	say(t, "mknodat D nodir/x dir = %ld", do_mknodat(s, D, "nodir/x", S_IFDIR | 0755, 0));
	say(t, "mknodat D bad type = %ld", do_mknodat(s, D, "bad", 0170644, 0));
	say(t, "mknodat D fifo again = %ld", do_mknodat(s, D, "fifo", S_IFIFO | 0640, 0));
	say(t, "mknodat D new/ = %ld", do_mknodat(s, D, "new2/", S_IFIFO | 0640, 0));
	say(t, "mknodat F x = %ld", do_mknodat(s, F, "x", S_IFIFO | 0640, 0));
	say_fstatat(t, s, D, "fifo", 0);
	say_fstatat(t, s, D, "sock", 0);
	say_fstatat(t, s, D, "reg", 0);
	say_fstatat(t, s, D, "notype", 0);
	say_fstatat(t, s, D, "fifo/", 0);
	say_openat(t, s, D, "sock", O_RDONLY);
	if (g_dev_ok) {
		say(t, "mknodat D chr = %ld", do_mknodat(s, D, "chr", S_IFCHR | 0600, makedev(240, 77)));
		say(t, "mknodat D blk = %ld", do_mknodat(s, D, "blk", S_IFBLK | 0600, makedev(241, 3)));
		say_fstatat(t, s, D, "chr", 0);
		say_fstatat(t, s, D, "blk", 0);
		say_openat(t, s, D, "chr", O_RDWR);
		say_openat(t, s, D, "blk", O_RDONLY);
		say(t, "linkat D chr D chr2 = %ld", do_linkat(s, D, "chr", D, "chr2", 0));
		say(t, "renameat2 D chr2 D sock exchange = %ld",
		    do_renameat2(s, D, "chr2", D, "sock", RENAME_EXCHANGE));
		say_fstatat(t, s, D, "sock", 0);
		say_fstatat(t, s, D, "chr2", 0);
	}
	/* O_CREAT of a socket someone else owns in a world-writable sticky
	 * directory: EACCES even for root (Linux's may_create_in_sticky) */
	say(t, "mkdirat D sticky = %ld", do_mkdirat(s, D, "sticky"));
	say(t, "fchmodat D sticky 01777 = %ld", do_fchmodat(s, D, "sticky", 01777));
	say(t, "mknodat D sticky/s = %ld", do_mknodat(s, D, "sticky/s", S_IFSOCK | 0666, 0));
	say(t, "mknodat D sticky/r = %ld", do_mknodat(s, D, "sticky/r", S_IFREG | 0666, 0));
	if (s->libc) {
		say(t, "chown = %ld", ERR(fchownat(FD(s, D), "sticky/s", 4242, 4242, 0)));
		say(t, "chown = %ld", ERR(fchownat(FD(s, D), "sticky/r", 4242, 4242, 0)));
	} else {
		struct fs_attr a = {.valid = FS_ATTR_UID | FS_ATTR_GID | FS_ATTR_CHOWN,
				    .uid = 4242, .gid = 4242};
		say(t, "chown = %ld", (long)fs_setattrat(s->c, AT(s, D), "sticky/s", &a));
		say(t, "chown = %ld", (long)fs_setattrat(s->c, AT(s, D), "sticky/r", &a));
	}
	say_openat(t, s, D, "sticky/s", O_RDONLY | O_CREAT);
	say_openat(t, s, D, "sticky/s", O_RDONLY);
	/* (a regular file there follows fs.protected_regular, which differs
	 * between hosts: not compared) */
	/* access */
	say(t, "faccessat D f R = %ld", do_faccessat(s, D, "f", R_OK, 0));
	say(t, "faccessat D f X eaccess = %ld", do_faccessat(s, D, "f", X_OK, AT_EACCESS));
	say(t, "faccessat E up W nofollow = %ld",
	    do_faccessat(s, E, "up", W_OK, AT_SYMLINK_NOFOLLOW));
	say(t, "faccessat D f bad flag = %ld", do_faccessat(s, D, "f", R_OK, 0x10000000));
	say(t, "faccessat F x = %ld", do_faccessat(s, F, "x", F_OK, 0));
	/* chmod */
	say(t, "fchmodat E ../f 0604 = %ld", do_fchmodat(s, E, "../f", 0604));
	say_fstatat(t, s, F, "", AT_EMPTY_PATH);
	/* links */
	say(t, "linkat D f E hard = %ld", do_linkat(s, D, "f", E, "hard", 0));
	say(t, "linkat D l E hl = %ld", do_linkat(s, D, "l", E, "hl", 0));
	say(t, "linkat D l E hf follow = %ld", do_linkat(s, D, "l", E, "hf", AT_SYMLINK_FOLLOW));
	say(t, "linkat D m E hm = %ld", do_linkat(s, D, "m", E, "hm", 0));
	say(t, "linkat D f E hard = %ld", do_linkat(s, D, "f", E, "hard", 0));
	say(t, "linkat D f E x bad flag = %ld", do_linkat(s, D, "f", E, "x", 0x8000));
	say_fstatat(t, s, E, "hl", AT_SYMLINK_NOFOLLOW);
	say_fstatat(t, s, E, "hf", AT_SYMLINK_NOFOLLOW);
	say_fstatat(t, s, D, "f", 0);
	if (geteuid() == 0) {
		say(t, "linkat F \"\" D viaempty = %ld",
		    do_linkat(s, F, "", D, "viaempty", AT_EMPTY_PATH));
		say(t, "linkat D \"\" D dirempty = %ld",
		    do_linkat(s, D, "", D, "dirempty", AT_EMPTY_PATH));
		say_fstatat(t, s, D, "viaempty", 0);
	}
	/* unlink and rmdir */
	say(t, "unlinkat D new = %ld", do_unlinkat(s, D, "new", 0));
	say(t, "unlinkat D m = %ld", do_unlinkat(s, D, "m", 0));
	say(t, "unlinkat D f removedir = %ld", do_unlinkat(s, D, "f", AT_REMOVEDIR));
	say(t, "unlinkat D e removedir = %ld", do_unlinkat(s, D, "e", AT_REMOVEDIR));
	say(t, "unlinkat D m removedir = %ld", do_unlinkat(s, D, "m", AT_REMOVEDIR));
	say(t, "unlinkat D x bad flag = %ld", do_unlinkat(s, D, "x", 0x1));
	say(t, "unlinkat E hf = %ld", do_unlinkat(s, E, "hf", 0));
	say(t, "unlinkat E m2 removedir = %ld", do_unlinkat(s, E, "m2", AT_REMOVEDIR));
	/* rename: plain, RENAME_NOREPLACE, RENAME_EXCHANGE */
	say(t, "renameat2 D f E g = %ld", do_renameat2(s, D, "f", E, "g", 0));
	say_openat(t, s, E, "g", O_RDONLY);
	say(t, "renameat2 E g D f noreplace = %ld",
	    do_renameat2(s, E, "g", D, "f", RENAME_NOREPLACE));
	say(t, "renameat2 D f E hard noreplace = %ld",
	    do_renameat2(s, D, "f", E, "hard", RENAME_NOREPLACE));
	say(t, "renameat2 D f D f noreplace = %ld",
	    do_renameat2(s, D, "f", D, "f", RENAME_NOREPLACE));
	say(t, "renameat2 D f D e exchange = %ld", do_renameat2(s, D, "f", D, "e", RENAME_EXCHANGE));
	say_fstatat(t, s, D, "f", 0);
	say_fstatat(t, s, D, "e", 0);
	say_openat(t, s, D, "e", O_RDONLY);
	say_fstatat(t, s, E, "", AT_EMPTY_PATH);   /* the fd follows its directory */
	say_fstatat(t, s, E, "../e", 0);
	say(t, "renameat2 D e D f exchange = %ld", do_renameat2(s, D, "e", D, "f", RENAME_EXCHANGE));
	say(t, "renameat2 D f D nothing exchange = %ld",
	    do_renameat2(s, D, "f", D, "nothing", RENAME_EXCHANGE));
	say(t, "renameat2 D f D e both = %ld",
	    do_renameat2(s, D, "f", D, "e", RENAME_EXCHANGE | RENAME_NOREPLACE));
	say(t, "renameat2 D f D e bad flag = %ld", do_renameat2(s, D, "f", D, "e", 0x100));
	say(t, "renameat2 F x BAD y = %ld", do_renameat2(s, F, "x", BAD, "y", 0));
	say(t, "renameat2 BAD x F y = %ld", do_renameat2(s, BAD, "x", F, "y", 0));
	say(t, "linkat F x BAD y = %ld", do_linkat(s, F, "x", BAD, "y", 0));
	say(t, "linkat D f BAD y = %ld", do_linkat(s, D, "f", BAD, "y", 0));
	say(t, "renameat2 CWD d D e exchange = %ld",
	    do_renameat2(s, CWD, "d", D, "e", RENAME_EXCHANGE));
	say(t, "renameat2 D e CWD d exchange = %ld",
	    do_renameat2(s, D, "e", CWD, "d", RENAME_EXCHANGE));
	/* two directories in two parents change places: link counts follow */
	say(t, "renameat2 D e Q r exchange = %ld", do_renameat2(s, D, "e", Q, "r", RENAME_EXCHANGE));
	say_fstatat(t, s, CWD, "q/r", 0);
	say_fstatat(t, s, CWD, "d/e", 0);
	say_fstatat(t, s, E, "..", 0);
	say_fstatat(t, s, E, "up", 0);
	say_fstatat(t, s, CWD, "d", 0);
	say_fstatat(t, s, CWD, "q", 0);
	/* a file and a directory in two parents */
	say(t, "renameat2 D f Q r exchange = %ld", do_renameat2(s, D, "f", Q, "r", RENAME_EXCHANGE));
	say_fstatat(t, s, CWD, "d", 0);
	say_fstatat(t, s, CWD, "q", 0);
	say_fstatat(t, s, CWD, "d/f", 0);
	say_fstatat(t, s, CWD, "q/r", 0);
	say_fstatat(t, s, CWD, "/", 0);
	say_fstatat(t, s, E, "..", 0);
	say(t, "renameat2 E up CWD up2 = %ld", do_renameat2(s, E, "up", CWD, "up2", 0));
	say_openat(t, s, CWD, "up2", O_RDONLY);
	/* a removed directory as the start */
	say(t, "mkdirat CWD gone = %ld", do_mkdirat(s, CWD, "gone"));
	close_slot(s, Q);
	say(t, "open Q = %ld", open_slot(s, Q, CWD, "gone", O_RDONLY | O_DIRECTORY));
	say(t, "unlinkat CWD gone removedir = %ld", do_unlinkat(s, CWD, "gone", AT_REMOVEDIR));
	say_openat(t, s, Q, "new", O_WRONLY | O_CREAT);
	say(t, "mkdirat Q m = %ld", do_mkdirat(s, Q, "m"));
	say_fstatat(t, s, Q, ".", 0);
	/* nothing is looked up in a removed directory: ENOENT before other
	 * errors (a name too long, a directory to link, a trailing slash) */
	static char longname[300];
	memset(longname, 'n', 256);
	say_fstatat(t, s, Q, longname, 0);
	say(t, "linkat D f Q x = %ld", do_linkat(s, D, "f", Q, "x", 0));
	say(t, "linkat CWD d Q x = %ld", do_linkat(s, CWD, "d", Q, "x", 0));
	say(t, "renameat2 D f Q x/ = %ld", do_renameat2(s, D, "f", Q, "x/", 0));
	say(t, "renameat2 CWD q Q x exchange = %ld", do_renameat2(s, CWD, "q", Q, "x", RENAME_EXCHANGE));
	say(t, "unlinkat Q long = %ld", do_unlinkat(s, Q, longname, 0));
	for (int k = 0; k < NSLOTS && k <= Q; k++)
		close_slot(s, k);
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

static void core_check(struct side *s)
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

static char old_cwd[PATH_MAX];

static void libc_up(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->libc = true;
	snprintf(s->root, sizeof(s->root), "/tmp/ank-at-XXXXXX");
	assert_non_null(mkdtemp(s->root));
	assert_int_equal(chmod(s->root, 0755), 0); /* as the volume's root */
	assert_non_null(getcwd(old_cwd, sizeof(old_cwd)));
	assert_int_equal(chdir(s->root), 0);
}

static void libc_down(struct side *s)
{
	char cmd[128];
	assert_int_equal(chdir(old_cwd), 0);
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
	g_dev_ok = mknod("probe", S_IFCHR | 0600, makedev(240, 0)) == 0;
	unlink("probe");
	if (!g_dev_ok)
		printf("(this host makes no device nodes: those lines are left out)\n");
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
	if (getenv("ANK_AT_VERBOSE"))
		for (unsigned i = 0; i < ta.n; i++)
			printf("  %s\n", ta.line[i]);
	assert_int_equal(bad, 0);
	core_check(&core);
	core_down(&core);
	libc_down(&lx);
}

/* A directory addressed by inode number: relative paths start there, an
 * absolute one at the root; a number not in use is ESTALE, a file's
 * ENOTDIR. */
static void directories_by_inode_number(void **state)
{
	(void)state;
	struct side s;
	core_up(&s);
	assert_int_equal(fs_mkdir(s.c, "/a", 0755), 0);
	assert_int_equal(fs_mkdir(s.c, "/a/b", 0755), 0);
	int fd = fs_open(s.c, "/a/b/f", O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(s.c, fd, "xyz", 3), 3);
	struct stat a, b, f, st;
	assert_int_equal(fs_stat(s.c, "/a", &a), 0);
	assert_int_equal(fs_stat(s.c, "/a/b", &b), 0);
	assert_int_equal(fs_fstat(s.c, fd, &f), 0);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(a.st_ino), "b/f", &st, 0), 0);
	assert_int_equal(st.st_ino, f.st_ino);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(b.st_ino), "", &st, AT_EMPTY_PATH), 0);
	assert_int_equal(st.st_ino, b.st_ino);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(b.st_ino), "/a", &st, 0), 0);
	assert_int_equal(st.st_ino, a.st_ino);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(f.st_ino), "x", &st, 0), -ENOTDIR);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(400), "x", &st, 0), -ESTALE);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(1u << 30), "x", &st, 0), -ESTALE);
	/* changes by inode number, as a replay makes them */
	assert_int_equal(fs_mkdirat_ino(s.c, fs_at_ino(b.st_ino), "d", 0700, 77), 0);
	assert_int_equal(fs_stat(s.c, "/a/b/d", &st), 0);
	assert_int_equal(st.st_ino, 77);
	assert_int_equal(fs_createat_ino(s.c, fs_at_ino(b.st_ino), "d/g", O_WRONLY, 0600, 78, -1),
			 0);
	assert_int_equal(fs_symlinkat_ino(s.c, "d/g", fs_at_ino(b.st_ino), "l", 79), 0);
	uint64_t ino = 0, parent = 0;
	assert_int_equal(fs_lookupat_ino(s.c, fs_at_ino(a.st_ino), "b/l", &ino, &parent), 0);
	assert_int_equal(ino, 78);
	assert_int_equal(parent, 77);
	assert_int_equal(fs_renameat2(s.c, fs_at_ino(b.st_ino), "f", fs_at_ino(77), "f2", 0), 0);
	assert_int_equal(fs_fstat(s.c, fd, &st), 0);
	assert_int_equal(fs_stat(s.c, "/a/b/d/f2", &st), 0);
	assert_int_equal(st.st_ino, f.st_ino);
	assert_int_equal(fs_unlinkat(s.c, fs_at_ino(77), "f2", 0), 0);
	assert_int_equal(fs_truncateat(s.c, fs_at_ino(77), "g", 5), 0);
	assert_int_equal(fs_stat(s.c, "/a/b/d/g", &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(fs_close(s.c, fd), 0);
	/* the directory removed: its number is no longer in use */
	assert_int_equal(fs_unlinkat(s.c, FS_AT_ROOT, "/a/b/d/g", 0), 0);
	assert_int_equal(fs_unlinkat(s.c, FS_AT_ROOT, "/a/b/l", 0), 0);
	assert_int_equal(fs_unlinkat(s.c, fs_at_ino(b.st_ino), "d", AT_REMOVEDIR), 0);
	assert_int_equal(fs_fstatat(s.c, fs_at_ino(77), "x", &st, 0), -ESTALE);
	core_check(&s);
	core_down(&s);
}

/* Special files on the core alone: what Linux would do with a driver or
 * a pipe behind them, the service cannot: opening is ENXIO, truncating
 * EINVAL; a device needs root (EPERM after EACCES); fsck and a remount
 * keep them. */
static void special_files_are_stored_but_not_opened(void **state)
{
	(void)state;
	struct side s;
	core_up(&s);
	struct stat st;
	assert_int_equal(fs_mknodat(s.c, FS_AT_ROOT, "/p", S_IFIFO | 0666, 0), 0);
	assert_int_equal(fs_mknodat(s.c, FS_AT_ROOT, "/c", S_IFCHR | 0666, makedev(4, 64)), 0);
	assert_int_equal(fs_open(s.c, "/p", O_RDONLY, 0), -ENXIO);
	assert_int_equal(fs_open(s.c, "/p", O_WRONLY | O_TRUNC, 0), -ENXIO);
	assert_int_equal(fs_open(s.c, "/c", O_RDWR, 0), -ENXIO);
	assert_int_equal(fs_open(s.c, "/p", O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);
	assert_int_equal(fs_truncate(s.c, "/p", 0), -EINVAL);
	assert_int_equal(fs_mkdir(s.c, "/u", 0777), 0);
	struct fs_client *user = fs_client_new(s.fs, 1000, 1000);
	assert_non_null(user);
	assert_int_equal(fs_mknodat(user, FS_AT_ROOT, "/x", S_IFCHR | 0600, makedev(1, 3)), -EACCES);
	assert_int_equal(fs_mknodat(user, FS_AT_ROOT, "/u/x", S_IFCHR | 0600, makedev(1, 3)), -EPERM);
	assert_int_equal(fs_mknodat(user, FS_AT_ROOT, "/u/x", S_IFIFO | 0600, 0), 0);
	assert_int_equal(fs_mknodat(user, FS_AT_ROOT, "/u/d", S_IFDIR | 0700, 0), -EPERM);
	fs_client_free(user);
	struct fs_dirent ents[8];
	int dfd = fs_open(s.c, "/", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	int n = fs_readdir(s.c, dfd, ents, 8);
	assert_int_equal(n, 5); /* . .. p c u */
	assert_int_equal(ents[2].type, DT_FIFO);
	assert_int_equal(ents[3].type, DT_CHR);
	assert_int_equal(fs_close(s.c, dfd), 0);
	core_check(&s);
	assert_int_equal(fs_lstat(s.c, "/c", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 4);
	assert_int_equal(minor(st.st_rdev), 64);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(fs_lstat(s.c, "/u/x", &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_uid, 1000);
	core_down(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_result_is_linux_s),
		cmocka_unit_test(directories_by_inode_number),
		cmocka_unit_test(special_files_are_stored_but_not_opened),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
