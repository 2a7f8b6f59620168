/*
 * oracle.c - shared test library behind oracle.h: the "target" operations
 * table with three implementations and the helpers that compare targets.
 *
 *   - libc target: the real Linux system calls on a temporary directory of the
 *     machine's own file system, every path prefixed with that root, results
 *     mapped from -1/errno to -errno. Linux's answers for the volume root
 *     itself ("/") that a subdirectory cannot give (rmdir: EBUSY, unlink:
 *     EISDIR, mkdir: EEXIST, rename from or onto it: EBUSY once both parents
 *     resolve) are returned without that system call, so the real root
 *     directory of the test is never removed or renamed. Paths whose ".." would
 *     climb above the root are refused with -ENOTSUP (never used on purpose).
 *   - Ananke target: the fs_* calls of one struct fs_client, directory
 *     listing through fs_open(O_DIRECTORY) + fs_readdir + fs_close.
 *   - libananke target: the ank_* calls of this process's connection to a
 *     running service, every path placed below a prefix directory; answers
 *     for its "/" itself are made the way the libc target makes them.
 *   - faulty wrapper: forwards to another target but is wrong on purpose in
 *     one way, so the self-tests can prove the checkers do fail.
 *
 * Also: tree walks and a whole-tree comparison of two targets (with lstat:
 * a symbolic link is compared as itself, by its target, and never followed,
 * so links to directories make no loops), and helpers to create, remount
 * and destroy Ananke volumes (image file or RAM device).
 *
 * Not here: any workload or assertion; those live in the test_*.c files.
 * With -DORACLE_LIBC_ONLY the Ananke parts are compiled out.
 */
#include "oracle.h"

#ifndef ORACLE_LIBC_ONLY
#include "../include/ananke.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef ST_VALID
#define ST_VALID 0x0020 /* (Linux: f_flags is filled in) */
#endif

/* ---- random bytes ------------------------------------------------------------ */

void oracle_rng_fill(struct oracle_rng *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n >= 8) {
		uint64_t v = oracle_rng_next(r);
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = oracle_rng_next(r);
		memcpy(p, &v, n);
	}
}

/* ---- directory lists ----------------------------------------------------------- */

void oracle_dirlist_init(struct oracle_dirlist *l)
{
	l->ents = NULL;
	l->n = l->cap = 0;
}

void oracle_dirlist_free(struct oracle_dirlist *l)
{
	free(l->ents);
	oracle_dirlist_init(l);
}

int oracle_dirlist_add(struct oracle_dirlist *l, const char *name, unsigned char type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct oracle_dirent *e = realloc(l->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->ents = e;
		l->cap = cap;
	}
	struct oracle_dirent *e = &l->ents[l->n++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = type;
	return 0;
}

static int dirent_cmp(const void *a, const void *b)
{
	const struct oracle_dirent *x = a, *y = b;
	return strcmp(x->name, y->name);
}

void oracle_dirlist_sort(struct oracle_dirlist *l)
{
	if (l->n > 1)
		qsort(l->ents, l->n, sizeof(l->ents[0]), dirent_cmp);
}

void target_destroy(struct target *t)
{
	if (t->destroy)
		t->destroy(t->ctx);
	memset(t, 0, sizeof(*t));
}

/* ---- libc target ----------------------------------------------------------------- */

struct libc_ctx {
	char root[PATH_MAX];
	bool owned;
};

static const char *test_tmpdir(void)
{
	const char *d = getenv("ANK_TEST_TMPDIR");
	return d && *d ? d : "/tmp";
}

static bool is_root_path(const char *path)
{
	if (!*path)
		return false;
	for (; *path; path++)
		if (*path != '/')
			return false;
	return true;
}

/* Does the path climb above its root with ".." (read lexically)? */
static bool escapes_root(const char *path)
{
	long depth = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (depth == 0)
				return true;
			depth--;
		} else if (!(len == 1 && s[0] == '.')) {
			depth++;
		}
	}
	return false;
}

/* Host path for `path`: "" stays "" (so Linux reports ENOENT). */
static int libc_path(const struct libc_ctx *c, const char *path, char *out, size_t outlen)
{
	if (!*path) {
		out[0] = 0;
		return 0;
	}
	if (escapes_root(path))
		return -ENOTSUP;
	/* The volume root: "<root>" itself, a walk that, like Linux's over
	 * "/", searches no directory the sequence can chmod ("<root>/." would
	 * need search permission on the root: EACCES where "/" opens; and
	 * "<root>/" gives EISDIR to O_CREAT|O_EXCL where "/" gives EEXIST).
	 * The calls that would change "<root>" by name (rmdir, unlink,
	 * rename, mkdir) answer for the root before they get here. */
	if (is_root_path(path)) {
		int n = snprintf(out, outlen, "%s", c->root);
		return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	}
	int n = snprintf(out, outlen, "%s%s%s", c->root, path[0] == '/' ? "" : "/", path);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

#define LIBC_RET(expr) ((expr) < 0 ? -errno : 0)

static int libc_open(void *ctx, const char *path, int flags, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	int fd = open(p, flags, mode);
	return fd < 0 ? -errno : fd;
}

static int libc_close(void *ctx, int fd)
{
	(void)ctx;
	return LIBC_RET(close(fd));
}

static ssize_t libc_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	ssize_t r = read(fd, buf, n);
	return r < 0 ? -errno : r;
}

static ssize_t libc_write(void *ctx, int fd, const void *buf, size_t n)
{
	(void)ctx;
	ssize_t r = write(fd, buf, n);
	return r < 0 ? -errno : r;
}

static ssize_t libc_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	(void)ctx;
	ssize_t r = pread(fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static ssize_t libc_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	(void)ctx;
	ssize_t r = pwrite(fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static off_t libc_lseek(void *ctx, int fd, off_t off, int whence)
{
	(void)ctx;
	off_t r = lseek(fd, off, whence);
	return r < 0 ? -errno : r;
}

static int libc_fsync(void *ctx, int fd)
{
	(void)ctx;
	return LIBC_RET(fsync(fd));
}

static int libc_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return LIBC_RET(fdatasync(fd));
}

static int libc_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return LIBC_RET(ftruncate(fd, len));
}

static int libc_truncate(void *ctx, const char *path, off_t len)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(truncate(p, len));
}

static int libc_chmod(void *ctx, const char *path, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(chmod(p, mode));
}

static int libc_fchmod(void *ctx, int fd, mode_t mode)
{
	(void)ctx;
	return LIBC_RET(fchmod(fd, mode));
}

static int libc_chown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(chown(p, uid, gid));
}

static int libc_fchown(void *ctx, int fd, uid_t uid, gid_t gid)
{
	(void)ctx;
	return LIBC_RET(fchown(fd, uid, gid));
}

static int libc_utimens(void *ctx, const char *path, const struct timespec ts[2])
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(utimensat(AT_FDCWD, p, ts, 0));
}

static int libc_futimens(void *ctx, int fd, const struct timespec ts[2])
{
	(void)ctx;
	return LIBC_RET(futimens(fd, ts));
}

static int libc_stat(void *ctx, const char *path, struct stat *st)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(stat(p, st));
}

static int libc_fstat(void *ctx, int fd, struct stat *st)
{
	(void)ctx;
	return LIBC_RET(fstat(fd, st));
}

static int libc_statfs(void *ctx, const char *path, struct statfs *sf)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(statfs(p, sf));
}

static int libc_fstatfs(void *ctx, int fd, struct statfs *sf)
{
	(void)ctx;
	return LIBC_RET(fstatfs(fd, sf));
}

static int libc_lstat(void *ctx, const char *path, struct stat *st)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(lstat(p, st));
}

static int libc_lchown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(lchown(p, uid, gid));
}

/* The target is stored as given: only relative targets stay inside the
 * root (the caller makes sure that they do not climb above it). */
static int libc_symlink(void *ctx, const char *target, const char *path)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(symlink(target, p));
}

static ssize_t libc_readlink(void *ctx, const char *path, char *buf, size_t n)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ssize_t got = readlink(p, buf, n);
	return got < 0 ? -errno : got;
}

static int libc_setxattr(void *ctx, const char *path, const char *name, const void *value,
			 size_t size, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(setxattr(p, name, value, size, flags));
}

static ssize_t libc_getxattr(void *ctx, const char *path, const char *name, void *buf,
			     size_t size)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ssize_t got = getxattr(p, name, buf, size);
	return got < 0 ? -errno : got;
}

static ssize_t libc_listxattr(void *ctx, const char *path, char *buf, size_t size)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ssize_t got = listxattr(p, buf, size);
	return got < 0 ? -errno : got;
}

static int libc_removexattr(void *ctx, const char *path, const char *name)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(removexattr(p, name));
}

static int libc_lsetxattr(void *ctx, const char *path, const char *name, const void *value,
			  size_t size, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(lsetxattr(p, name, value, size, flags));
}

static ssize_t libc_lgetxattr(void *ctx, const char *path, const char *name, void *buf,
			      size_t size)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ssize_t got = lgetxattr(p, name, buf, size);
	return got < 0 ? -errno : got;
}

static ssize_t libc_llistxattr(void *ctx, const char *path, char *buf, size_t size)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ssize_t got = llistxattr(p, buf, size);
	return got < 0 ? -errno : got;
}

static int libc_lremovexattr(void *ctx, const char *path, const char *name)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(lremovexattr(p, name));
}

static int libc_fsetxattr(void *ctx, int fd, const char *name, const void *value, size_t size,
			  int flags)
{
	(void)ctx;
	return LIBC_RET(fsetxattr(fd, name, value, size, flags));
}

static ssize_t libc_fgetxattr(void *ctx, int fd, const char *name, void *buf, size_t size)
{
	(void)ctx;
	ssize_t got = fgetxattr(fd, name, buf, size);
	return got < 0 ? -errno : got;
}

static ssize_t libc_flistxattr(void *ctx, int fd, char *buf, size_t size)
{
	(void)ctx;
	ssize_t got = flistxattr(fd, buf, size);
	return got < 0 ? -errno : got;
}

static int libc_fremovexattr(void *ctx, int fd, const char *name)
{
	(void)ctx;
	return LIBC_RET(fremovexattr(fd, name));
}

static int libc_unlink(void *ctx, const char *path)
{
	if (is_root_path(path))
		return -EISDIR; /* Linux: unlink("/") */
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(unlink(p));
}

/* For a path that names an entry (not the root): resolve its parent
 * directory on the host as Linux's first step would. 0 or -errno. */
static int libc_parent_ok(const struct libc_ctx *c, const char *path)
{
	if (!*path)
		return -ENOENT;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = 0;
	while (n > 0 && dir[n - 1] != '/')
		dir[--n] = 0;
	char p[PATH_MAX * 2];
	int r = libc_path(c, dir, p, sizeof(p));
	if (r)
		return r;
	struct stat st;
	if (stat(p, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* the walk then searches the parent for the last name (which matters
	 * to a caller that is not root) */
	return access(p, X_OK) < 0 ? -errno : 0;
}

static int libc_rename(void *ctx, const char *from, const char *to)
{
	if (is_root_path(from) || is_root_path(to)) {
		/* Linux: both parents are resolved, then a root on either side
		 * is EBUSY, before the entries themselves are looked up. */
		int e = is_root_path(from) ? 0 : libc_parent_ok(ctx, from);
		if (!e && !is_root_path(to))
			e = libc_parent_ok(ctx, to);
		return e ? e : -EBUSY;
	}
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = libc_path(ctx, from, p, sizeof(p));
	if (!r)
		r = libc_path(ctx, to, q, sizeof(q));
	if (r)
		return r;
	return LIBC_RET(rename(p, q));
}

static int libc_link(void *ctx, const char *from, const char *to)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = libc_path(ctx, from, p, sizeof(p));
	if (!r)
		r = libc_path(ctx, to, q, sizeof(q));
	if (r)
		return r;
	return LIBC_RET(link(p, q));
}

/* A path of an *at call: absolute ones as the calls above translate them,
 * relative ones as they are (from the real dirfd). */
static int libc_at_path(void *ctx, const char *path, char *out, size_t outlen)
{
	if (is_root_path(path))
		return -ENOTSUP; /* (never generated: relative paths only) */
	if (path[0] == '/')
		return libc_path(ctx, path, out, outlen);
	if (strlen(path) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, path);
	return 0;
}

static int libc_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = libc_at_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	int fd = openat(dirfd, p, flags, mode);
	return fd < 0 ? -errno : fd;
}

static int libc_mkdirat(void *ctx, int dirfd, const char *path, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = libc_at_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(mkdirat(dirfd, p, mode));
}

static int libc_unlinkat(void *ctx, int dirfd, const char *path, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_at_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(unlinkat(dirfd, p, flags));
}

static int libc_renameat2(void *ctx, int fromfd, const char *from, int tofd, const char *to,
			  unsigned flags)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = libc_at_path(ctx, from, p, sizeof(p));
	if (!r)
		r = libc_at_path(ctx, to, q, sizeof(q));
	return r ? r : LIBC_RET(renameat2(fromfd, p, tofd, q, flags));
}

static int libc_linkat(void *ctx, int fromfd, const char *from, int tofd, const char *to,
		       int flags)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = libc_at_path(ctx, from, p, sizeof(p));
	if (!r)
		r = libc_at_path(ctx, to, q, sizeof(q));
	return r ? r : LIBC_RET(linkat(fromfd, p, tofd, q, flags));
}

static int libc_fstatat(void *ctx, int dirfd, const char *path, struct stat *st, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_at_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(fstatat(dirfd, p, st, flags));
}

/* The path of faccessat, fchmodat and fchownat: an absolute one (dirfd
 * AT_FDCWD) as the path calls translate it, the root included. */
static int libc_at_or_abs(void *ctx, const char *path, char *out, size_t outlen)
{
	return path[0] == '/' ? libc_path(ctx, path, out, outlen)
			      : libc_at_path(ctx, path, out, outlen);
}

static int libc_faccessat(void *ctx, int dirfd, const char *path, int mode, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_at_or_abs(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(faccessat(dirfd, p, mode, flags));
}

static int libc_fchmodat(void *ctx, int dirfd, const char *path, mode_t mode, int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_at_or_abs(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(fchmodat(dirfd, p, mode, flags));
}

static int libc_fchownat(void *ctx, int dirfd, const char *path, uid_t uid, gid_t gid,
			 int flags)
{
	char p[PATH_MAX * 2];
	int r = libc_at_or_abs(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(fchownat(dirfd, p, uid, gid, flags));
}

static int libc_fcntl_fl(void *ctx, int fd, int cmd, int arg)
{
	(void)ctx;
	int r = cmd == F_SETFL ? fcntl(fd, cmd, arg) : fcntl(fd, cmd);
	return r < 0 ? -errno : r;
}

static int libc_lock(void *ctx, int fd, int cmd, struct flock *fl)
{
	(void)ctx;
	return fcntl(fd, cmd, fl) < 0 ? -errno : 0;
}

static int libc_flock(void *ctx, int fd, int op)
{
	(void)ctx;
	return LIBC_RET(flock(fd, op));
}

static int libc_fcntl_fd(void *ctx, int fd, int cmd, int arg)
{
	(void)ctx;
	int r = cmd == F_SETFD ? fcntl(fd, cmd, arg) : fcntl(fd, cmd);
	return r < 0 ? -errno : r;
}

static int libc_dup(void *ctx, int fd)
{
	(void)ctx;
	int r = dup(fd);
	return r < 0 ? -errno : r;
}

static int libc_dup2(void *ctx, int fd, int newfd)
{
	(void)ctx;
	int r = dup2(fd, newfd);
	return r < 0 ? -errno : r;
}

static int libc_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	(void)ctx;
	return LIBC_RET(fallocate(fd, mode, off, len));
}

static int libc_mknod(void *ctx, const char *path, mode_t mode, dev_t dev)
{
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	return r ? r : LIBC_RET(mknod(p, mode, dev));
}

static int libc_mkdir(void *ctx, const char *path, mode_t mode)
{
	if (is_root_path(path))
		return -EEXIST; /* Linux: mkdir("/") */
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(mkdir(p, mode));
}

static int libc_rmdir(void *ctx, const char *path)
{
	if (is_root_path(path))
		return -EBUSY; /* Linux: rmdir("/") */
	char p[PATH_MAX * 2];
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return LIBC_RET(rmdir(p));
}

static unsigned char mode_to_dt(mode_t m)
{
	if (S_ISREG(m))
		return DT_REG;
	if (S_ISDIR(m))
		return DT_DIR;
	if (S_ISLNK(m))
		return DT_LNK;
	if (S_ISFIFO(m))
		return DT_FIFO;
	if (S_ISSOCK(m))
		return DT_SOCK;
	if (S_ISCHR(m))
		return DT_CHR;
	if (S_ISBLK(m))
		return DT_BLK;
	return DT_UNKNOWN;
}

/* The entry types a listing keeps; anything else is DT_UNKNOWN. */
static unsigned char dt_kept(unsigned char t)
{
	return t == DT_REG || t == DT_DIR || t == DT_LNK || t == DT_FIFO || t == DT_SOCK ||
		       t == DT_CHR || t == DT_BLK
		       ? t
		       : DT_UNKNOWN;
}

static int libc_list_dir(void *ctx, const char *path, struct oracle_dirlist *out)
{
	char p[PATH_MAX * 2];
	out->n = 0;
	int r = libc_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	DIR *d = opendir(p);
	if (!d)
		return -errno;
	struct dirent *de;
	r = 0;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				type = mode_to_dt(st.st_mode);
		} else {
			type = dt_kept(type);
		}
		r = oracle_dirlist_add(out, de->d_name, type);
		if (r)
			break;
	}
	closedir(d);
	if (r)
		out->n = 0;
	else
		oracle_dirlist_sort(out);
	return r;
}

static int libc_sync(void *ctx)
{
	(void)ctx;
	return 0;
}

static int libc_remount(void *ctx)
{
	(void)ctx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void libc_destroy(void *ctx)
{
	struct libc_ctx *c = ctx;
	if (c->owned && c->root[0])
		nftw(c->root, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(c);
}

static void libc_fill(struct target *t, const char *name, struct libc_ctx *c)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->ctx = c;
	t->open = libc_open;
	t->close = libc_close;
	t->read = libc_read;
	t->write = libc_write;
	t->pread = libc_pread;
	t->pwrite = libc_pwrite;
	t->lseek = libc_lseek;
	t->fsync = libc_fsync;
	t->fdatasync = libc_fdatasync;
	t->ftruncate = libc_ftruncate;
	t->truncate = libc_truncate;
	t->chmod = libc_chmod;
	t->fchmod = libc_fchmod;
	t->chown = libc_chown;
	t->fchown = libc_fchown;
	t->utimens = libc_utimens;
	t->futimens = libc_futimens;
	t->stat = libc_stat;
	t->fstat = libc_fstat;
	t->lstat = libc_lstat;
	t->lchown = libc_lchown;
	t->symlink = libc_symlink;
	t->readlink = libc_readlink;
	t->setxattr = libc_setxattr;
	t->getxattr = libc_getxattr;
	t->listxattr = libc_listxattr;
	t->removexattr = libc_removexattr;
	t->lsetxattr = libc_lsetxattr;
	t->lgetxattr = libc_lgetxattr;
	t->llistxattr = libc_llistxattr;
	t->lremovexattr = libc_lremovexattr;
	t->fsetxattr = libc_fsetxattr;
	t->fgetxattr = libc_fgetxattr;
	t->flistxattr = libc_flistxattr;
	t->fremovexattr = libc_fremovexattr;
	t->statfs = libc_statfs;
	t->fstatfs = libc_fstatfs;
	t->faccessat = libc_faccessat;
	t->fchmodat = libc_fchmodat;
	t->fchownat = libc_fchownat;
	t->flock = libc_flock;
	t->fcntl_fd = libc_fcntl_fd;
	t->mknod = libc_mknod;
	t->fallocate = libc_fallocate;
	t->fcntl_fl = libc_fcntl_fl;
	t->lock = libc_lock;
	t->dup = libc_dup;
	t->dup2 = libc_dup2;
	t->openat = libc_openat;
	t->mkdirat = libc_mkdirat;
	t->unlinkat = libc_unlinkat;
	t->renameat2 = libc_renameat2;
	t->linkat = libc_linkat;
	t->fstatat = libc_fstatat;
	t->unlink = libc_unlink;
	t->rename = libc_rename;
	t->link = libc_link;
	t->mkdir = libc_mkdir;
	t->rmdir = libc_rmdir;
	t->list_dir = libc_list_dir;
	t->sync = libc_sync;
	t->remount = libc_remount;
	t->destroy = libc_destroy;
}

int target_libc_new(struct target *t, const char *name)
{
	struct libc_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int n = snprintf(c->root, sizeof(c->root), "%s/ank-oracle-XXXXXX", test_tmpdir());
	if (n < 0 || (size_t)n >= sizeof(c->root)) {
		free(c);
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(c->root)) {
		int e = errno;
		free(c);
		return -e;
	}
	umask(0);
	if (chmod(c->root, 0755) < 0) {
		int e = errno;
		rmdir(c->root);
		free(c);
		return -e;
	}
	c->owned = true;
	libc_fill(t, name, c);
	return 0;
}

int target_libc_attach(struct target *t, const char *name, const char *root)
{
	struct libc_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int n = snprintf(c->root, sizeof(c->root), "%s", root);
	if (n < 0 || (size_t)n >= sizeof(c->root)) {
		free(c);
		return -ENAMETOOLONG;
	}
	c->owned = false;
	libc_fill(t, name, c);
	return 0;
}

const char *target_libc_root(const struct target *t)
{
	const struct libc_ctx *c = t->ctx;
	return c->root;
}

/* ---- faulty wrapper ---------------------------------------------------------------- */

struct faulty_ctx {
	struct target *in;
	enum oracle_fault fault;
};

#define IN(ctx) (((struct faulty_ctx *)(ctx))->in)

static int fw_open(void *ctx, const char *path, int flags, mode_t mode)
{
	return IN(ctx)->open(IN(ctx)->ctx, path, flags, mode);
}
static int fw_close(void *ctx, int fd)
{
	return IN(ctx)->close(IN(ctx)->ctx, fd);
}
static ssize_t fw_read(void *ctx, int fd, void *buf, size_t n)
{
	return IN(ctx)->read(IN(ctx)->ctx, fd, buf, n);
}
static ssize_t fw_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	return IN(ctx)->pread(IN(ctx)->ctx, fd, buf, n, off);
}

/* A copy of buf with its middle byte flipped, or NULL (use buf) when the
 * fault is not armed or n == 0. */
static void *flipped_copy(struct faulty_ctx *c, const void *buf, size_t n)
{
	if (c->fault != ORACLE_FAULT_PWRITE_FLIP_BYTE || n == 0)
		return NULL;
	uint8_t *copy = malloc(n);
	if (!copy)
		return NULL;
	memcpy(copy, buf, n);
	copy[n / 2] ^= 0x5a;
	return copy;
}

static ssize_t fw_write(void *ctx, int fd, const void *buf, size_t n)
{
	void *copy = flipped_copy(ctx, buf, n);
	ssize_t r = IN(ctx)->write(IN(ctx)->ctx, fd, copy ? copy : buf, n);
	free(copy);
	return r;
}
static ssize_t fw_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	void *copy = flipped_copy(ctx, buf, n);
	ssize_t r = IN(ctx)->pwrite(IN(ctx)->ctx, fd, copy ? copy : buf, n, off);
	free(copy);
	return r;
}
static off_t fw_lseek(void *ctx, int fd, off_t off, int whence)
{
	return IN(ctx)->lseek(IN(ctx)->ctx, fd, off, whence);
}
static int fw_fsync(void *ctx, int fd)
{
	return IN(ctx)->fsync(IN(ctx)->ctx, fd);
}
static int fw_fdatasync(void *ctx, int fd)
{
	return IN(ctx)->fdatasync(IN(ctx)->ctx, fd);
}
static int fw_ftruncate(void *ctx, int fd, off_t len)
{
	return IN(ctx)->ftruncate(IN(ctx)->ctx, fd, len);
}
static int fw_truncate(void *ctx, const char *path, off_t len)
{
	return IN(ctx)->truncate(IN(ctx)->ctx, path, len);
}
static int fw_chmod(void *ctx, const char *path, mode_t mode)
{
	return IN(ctx)->chmod(IN(ctx)->ctx, path, mode);
}
static int fw_fchmod(void *ctx, int fd, mode_t mode)
{
	return IN(ctx)->fchmod(IN(ctx)->ctx, fd, mode);
}
static int fw_chown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	return IN(ctx)->chown(IN(ctx)->ctx, path, uid, gid);
}
static int fw_fchown(void *ctx, int fd, uid_t uid, gid_t gid)
{
	return IN(ctx)->fchown(IN(ctx)->ctx, fd, uid, gid);
}
static int fw_utimens(void *ctx, const char *path, const struct timespec ts[2])
{
	return IN(ctx)->utimens(IN(ctx)->ctx, path, ts);
}
static int fw_futimens(void *ctx, int fd, const struct timespec ts[2])
{
	return IN(ctx)->futimens(IN(ctx)->ctx, fd, ts);
}
static int fw_stat(void *ctx, const char *path, struct stat *st)
{
	return IN(ctx)->stat(IN(ctx)->ctx, path, st);
}
static int fw_fstat(void *ctx, int fd, struct stat *st)
{
	return IN(ctx)->fstat(IN(ctx)->ctx, fd, st);
}
static int fw_lstat(void *ctx, const char *path, struct stat *st)
{
	return IN(ctx)->lstat(IN(ctx)->ctx, path, st);
}
static int fw_lchown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	return IN(ctx)->lchown(IN(ctx)->ctx, path, uid, gid);
}
static int fw_symlink(void *ctx, const char *target, const char *path)
{
	return IN(ctx)->symlink(IN(ctx)->ctx, target, path);
}
static ssize_t fw_readlink(void *ctx, const char *path, char *buf, size_t n)
{
	return IN(ctx)->readlink(IN(ctx)->ctx, path, buf, n);
}
static int fw_setxattr(void *ctx, const char *path, const char *name, const void *value,
		       size_t size, int flags)
{
	return IN(ctx)->setxattr(IN(ctx)->ctx, path, name, value, size, flags);
}
static ssize_t fw_getxattr(void *ctx, const char *path, const char *name, void *buf, size_t size)
{
	return IN(ctx)->getxattr(IN(ctx)->ctx, path, name, buf, size);
}
static ssize_t fw_listxattr(void *ctx, const char *path, char *buf, size_t size)
{
	return IN(ctx)->listxattr(IN(ctx)->ctx, path, buf, size);
}
static int fw_removexattr(void *ctx, const char *path, const char *name)
{
	return IN(ctx)->removexattr(IN(ctx)->ctx, path, name);
}
static int fw_lsetxattr(void *ctx, const char *path, const char *name, const void *value,
			size_t size, int flags)
{
	return IN(ctx)->lsetxattr(IN(ctx)->ctx, path, name, value, size, flags);
}
static ssize_t fw_lgetxattr(void *ctx, const char *path, const char *name, void *buf,
			    size_t size)
{
	return IN(ctx)->lgetxattr(IN(ctx)->ctx, path, name, buf, size);
}
static ssize_t fw_llistxattr(void *ctx, const char *path, char *buf, size_t size)
{
	return IN(ctx)->llistxattr(IN(ctx)->ctx, path, buf, size);
}
static int fw_lremovexattr(void *ctx, const char *path, const char *name)
{
	return IN(ctx)->lremovexattr(IN(ctx)->ctx, path, name);
}
static int fw_fsetxattr(void *ctx, int fd, const char *name, const void *value, size_t size,
			int flags)
{
	return IN(ctx)->fsetxattr(IN(ctx)->ctx, fd, name, value, size, flags);
}
static ssize_t fw_fgetxattr(void *ctx, int fd, const char *name, void *buf, size_t size)
{
	return IN(ctx)->fgetxattr(IN(ctx)->ctx, fd, name, buf, size);
}
static ssize_t fw_flistxattr(void *ctx, int fd, char *buf, size_t size)
{
	return IN(ctx)->flistxattr(IN(ctx)->ctx, fd, buf, size);
}
static int fw_fremovexattr(void *ctx, int fd, const char *name)
{
	return IN(ctx)->fremovexattr(IN(ctx)->ctx, fd, name);
}
static int fw_statfs(void *ctx, const char *path, struct statfs *sf)
{
	return IN(ctx)->statfs(IN(ctx)->ctx, path, sf);
}
static int fw_fstatfs(void *ctx, int fd, struct statfs *sf)
{
	return IN(ctx)->fstatfs(IN(ctx)->ctx, fd, sf);
}
static int fw_faccessat(void *ctx, int dirfd, const char *path, int mode, int flags)
{
	return IN(ctx)->faccessat(IN(ctx)->ctx, dirfd, path, mode, flags);
}
static int fw_fchmodat(void *ctx, int dirfd, const char *path, mode_t mode, int flags)
{
	return IN(ctx)->fchmodat(IN(ctx)->ctx, dirfd, path, mode, flags);
}
static int fw_fchownat(void *ctx, int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	return IN(ctx)->fchownat(IN(ctx)->ctx, dirfd, path, uid, gid, flags);
}
static int fw_flock(void *ctx, int fd, int op)
{
	return IN(ctx)->flock(IN(ctx)->ctx, fd, op);
}
static int fw_fcntl_fd(void *ctx, int fd, int cmd, int arg)
{
	return IN(ctx)->fcntl_fd(IN(ctx)->ctx, fd, cmd, arg);
}
static int fw_fcntl_fl(void *ctx, int fd, int cmd, int arg)
{
	return IN(ctx)->fcntl_fl(IN(ctx)->ctx, fd, cmd, arg);
}
static int fw_lock(void *ctx, int fd, int cmd, struct flock *fl)
{
	return IN(ctx)->lock(IN(ctx)->ctx, fd, cmd, fl);
}
static int fw_dup(void *ctx, int fd)
{
	return IN(ctx)->dup(IN(ctx)->ctx, fd);
}
static int fw_dup2(void *ctx, int fd, int newfd)
{
	return IN(ctx)->dup2(IN(ctx)->ctx, fd, newfd);
}
static int fw_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	return IN(ctx)->fallocate(IN(ctx)->ctx, fd, mode, off, len);
}
static int fw_mknod(void *ctx, const char *path, mode_t mode, dev_t dev)
{
	return IN(ctx)->mknod(IN(ctx)->ctx, path, mode, dev);
}
static int fw_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	return IN(ctx)->openat(IN(ctx)->ctx, dirfd, path, flags, mode);
}
static int fw_mkdirat(void *ctx, int dirfd, const char *path, mode_t mode)
{
	return IN(ctx)->mkdirat(IN(ctx)->ctx, dirfd, path, mode);
}
static int fw_unlinkat(void *ctx, int dirfd, const char *path, int flags)
{
	return IN(ctx)->unlinkat(IN(ctx)->ctx, dirfd, path, flags);
}
static int fw_renameat2(void *ctx, int fromfd, const char *from, int tofd, const char *to,
			unsigned flags)
{
	return IN(ctx)->renameat2(IN(ctx)->ctx, fromfd, from, tofd, to, flags);
}
static int fw_linkat(void *ctx, int fromfd, const char *from, int tofd, const char *to,
		     int flags)
{
	return IN(ctx)->linkat(IN(ctx)->ctx, fromfd, from, tofd, to, flags);
}
static int fw_fstatat(void *ctx, int dirfd, const char *path, struct stat *st, int flags)
{
	return IN(ctx)->fstatat(IN(ctx)->ctx, dirfd, path, st, flags);
}
static int fw_unlink(void *ctx, const char *path)
{
	return IN(ctx)->unlink(IN(ctx)->ctx, path);
}
static int fw_rename(void *ctx, const char *from, const char *to)
{
	return IN(ctx)->rename(IN(ctx)->ctx, from, to);
}
static int fw_link(void *ctx, const char *from, const char *to)
{
	return IN(ctx)->link(IN(ctx)->ctx, from, to);
}
static int fw_mkdir(void *ctx, const char *path, mode_t mode)
{
	return IN(ctx)->mkdir(IN(ctx)->ctx, path, mode);
}
static int fw_rmdir(void *ctx, const char *path)
{
	struct faulty_ctx *c = ctx;
	int r = c->in->rmdir(c->in->ctx, path);
	if (c->fault == ORACLE_FAULT_RMDIR_EEXIST && r == -ENOTEMPTY)
		r = -EEXIST;
	return r;
}
static int fw_list_dir(void *ctx, const char *path, struct oracle_dirlist *out)
{
	return IN(ctx)->list_dir(IN(ctx)->ctx, path, out);
}
static int fw_sync(void *ctx)
{
	return IN(ctx)->sync(IN(ctx)->ctx);
}
static int fw_remount(void *ctx)
{
	return IN(ctx)->remount(IN(ctx)->ctx);
}
static void fw_destroy(void *ctx)
{
	free(ctx);
}

int target_faulty_new(struct target *t, struct target *inner, enum oracle_fault fault)
{
	struct faulty_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = inner;
	c->fault = fault;
	memset(t, 0, sizeof(*t));
	t->name = "faulty";
	t->ctx = c;
	t->open = fw_open;
	t->close = fw_close;
	t->read = fw_read;
	t->write = fw_write;
	t->pread = fw_pread;
	t->pwrite = fw_pwrite;
	t->lseek = fw_lseek;
	t->fsync = fw_fsync;
	t->fdatasync = fw_fdatasync;
	t->ftruncate = fw_ftruncate;
	t->truncate = fw_truncate;
	t->chmod = fw_chmod;
	t->fchmod = fw_fchmod;
	t->chown = fw_chown;
	t->fchown = fw_fchown;
	t->utimens = fw_utimens;
	t->futimens = fw_futimens;
	t->stat = fw_stat;
	t->fstat = fw_fstat;
	t->lstat = fw_lstat;
	t->lchown = fw_lchown;
	t->symlink = fw_symlink;
	t->readlink = fw_readlink;
	t->setxattr = fw_setxattr;
	t->getxattr = fw_getxattr;
	t->listxattr = fw_listxattr;
	t->removexattr = fw_removexattr;
	t->lsetxattr = fw_lsetxattr;
	t->lgetxattr = fw_lgetxattr;
	t->llistxattr = fw_llistxattr;
	t->lremovexattr = fw_lremovexattr;
	t->fsetxattr = fw_fsetxattr;
	t->fgetxattr = fw_fgetxattr;
	t->flistxattr = fw_flistxattr;
	t->fremovexattr = fw_fremovexattr;
	t->statfs = fw_statfs;
	t->fstatfs = fw_fstatfs;
	t->faccessat = fw_faccessat;
	t->fchmodat = fw_fchmodat;
	t->fchownat = fw_fchownat;
	t->mknod = fw_mknod;
	t->fallocate = fw_fallocate;
	t->fcntl_fl = fw_fcntl_fl;
	t->lock = inner->lock ? fw_lock : NULL;
	t->flock = inner->flock ? fw_flock : NULL;
	t->fcntl_fd = inner->fcntl_fd ? fw_fcntl_fd : NULL;
	t->dup = fw_dup;
	t->dup2 = fw_dup2;
	t->openat = fw_openat;
	t->mkdirat = fw_mkdirat;
	t->unlinkat = fw_unlinkat;
	t->renameat2 = fw_renameat2;
	t->linkat = fw_linkat;
	t->fstatat = fw_fstatat;
	t->unlink = fw_unlink;
	t->rename = fw_rename;
	t->link = fw_link;
	t->mkdir = fw_mkdir;
	t->rmdir = fw_rmdir;
	t->list_dir = fw_list_dir;
	t->sync = fw_sync;
	t->remount = fw_remount;
	t->destroy = fw_destroy;
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

const char *oracle_result_str(long r, char *buf, size_t len)
{
	static const struct {
		int e;
		const char *name;
	} names[] = {
		{EPERM, "EPERM"},       {ENOENT, "ENOENT"},   {EIO, "EIO"},
		{EBADF, "EBADF"},       {ENOMEM, "ENOMEM"},   {EACCES, "EACCES"},
		{EFAULT, "EFAULT"},     {EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},
		{EXDEV, "EXDEV"},       {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},
		{EINVAL, "EINVAL"},     {EMFILE, "EMFILE"},   {ENFILE, "ENFILE"},
		{EFBIG, "EFBIG"},       {ENOSPC, "ENOSPC"},   {ESPIPE, "ESPIPE"},
		{EROFS, "EROFS"},       {EMLINK, "EMLINK"},   {ERANGE, "ERANGE"},
		{ENAMETOOLONG, "ENAMETOOLONG"},               {ENOSYS, "ENOSYS"},
		{ENOTEMPTY, "ENOTEMPTY"},                     {ELOOP, "ELOOP"},
		{EOVERFLOW, "EOVERFLOW"},                     {ENOTSUP, "ENOTSUP"},
		{EUCLEAN, "EUCLEAN"},   {EAGAIN, "EAGAIN"},   {EINTR, "EINTR"},
		{ENODATA, "ENODATA"},   {ENXIO, "ENXIO"},     {E2BIG, "E2BIG"},
		{EDEADLK, "EDEADLK"},   {ENOLCK, "ENOLCK"},
	};
	if (r >= 0) {
		snprintf(buf, len, "%ld", r);
		return buf;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (-r == names[i].e) {
			snprintf(buf, len, "-%s", names[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "-E(%ld)", -r);
	return buf;
}

int oracle_read_file(struct target *t, const char *path, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = t->open(t->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	int r = t->fstat(t->ctx, fd, &st);
	if (r < 0) {
		t->close(t->ctx, fd);
		return r;
	}
	size_t cap = (size_t)st.st_size + 1;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		t->close(t->ctx, fd);
		return -ENOMEM;
	}
	size_t got = 0;
	for (;;) {
		if (got == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = t->pread(t->ctx, fd, buf + got, cap - got, (off_t)got);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	int rc = t->close(t->ctx, fd);
	if (!r)
		r = rc;
	if (r < 0) {
		free(buf);
		return r;
	}
	*data = buf;
	*len = got;
	return 0;
}

void oracle_tree_free(struct oracle_tree *tr)
{
	for (size_t i = 0; i < tr->n; i++)
		free(tr->ents[i].path);
	free(tr->ents);
	tr->ents = NULL;
	tr->n = tr->cap = 0;
}

#define TREE_MAX_DEPTH 64
#define TREE_MAX_ENTS 100000

static int tree_add(struct oracle_tree *tr, const char *path, const struct stat *st)
{
	if (tr->n >= TREE_MAX_ENTS)
		return -ELOOP;
	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 64;
		struct oracle_tree_ent *e = realloc(tr->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		tr->ents = e;
		tr->cap = cap;
	}
	struct oracle_tree_ent *e = &tr->ents[tr->n];
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->st = *st;
	e->type = mode_to_dt(st->st_mode);
	tr->n++;
	return 0;
}

static void join_path(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
}

static int tree_walk_dir(struct target *t, const char *dir, struct oracle_tree *out, int depth)
{
	if (depth > TREE_MAX_DEPTH)
		return -ELOOP;
	struct oracle_dirlist l;
	oracle_dirlist_init(&l);
	int r = t->list_dir(t->ctx, dir, &l);
	if (r == -EACCES)
		r = 0; /* (not root: a directory it may not read is walked no further) */
	for (size_t i = 0; !r && i < l.n; i++) {
		char p[PATH_MAX];
		join_path(p, sizeof(p), dir, l.ents[i].name);
		struct stat st;
		r = t->lstat(t->ctx, p, &st); /* a symbolic link is an entry, never followed */
		if (r == -EACCES) {
			r = 0; /* (may not search the directory: the name only) */
			continue;
		}
		if (!r)
			r = tree_add(out, p, &st);
		if (!r && S_ISDIR(st.st_mode))
			r = tree_walk_dir(t, p, out, depth + 1);
	}
	oracle_dirlist_free(&l);
	return r;
}

int oracle_tree_walk(struct target *t, struct oracle_tree *out)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	int r = t->stat(t->ctx, "/", &st);
	if (r == -EACCES)
		return 0; /* (not root: an empty tree as far as can be seen) */
	if (!r)
		r = tree_add(out, "/", &st);
	if (!r)
		r = tree_walk_dir(t, "/", out, 0);
	if (r)
		oracle_tree_free(out);
	return r;
}

static const char *dt_name(unsigned char t)
{
	return t == DT_REG ? "file" : t == DT_DIR ? "dir" : t == DT_LNK ? "symlink"
		: t == DT_FIFO ? "fifo" : t == DT_SOCK ? "socket" : t == DT_CHR ? "chrdev"
		: t == DT_BLK ? "blkdev" : "other";
}

/* Compare the stat fields the core models. */
bool oracle_atime_loose;

int oracle_stat_diff(const struct stat *a, const struct stat *b, char *msg, size_t len)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT)) {
		snprintf(msg, len, "type %06o vs %06o", (unsigned)(a->st_mode & S_IFMT),
		         (unsigned)(b->st_mode & S_IFMT));
		return 1;
	}
	if ((a->st_mode & 07777) != (b->st_mode & 07777)) {
		snprintf(msg, len, "mode %04o vs %04o", (unsigned)(a->st_mode & 07777),
		         (unsigned)(b->st_mode & 07777));
		return 1;
	}
	if (a->st_nlink != b->st_nlink) {
		snprintf(msg, len, "nlink %lu vs %lu", (unsigned long)a->st_nlink,
		         (unsigned long)b->st_nlink);
		return 1;
	}
	if (a->st_uid != b->st_uid || a->st_gid != b->st_gid) {
		snprintf(msg, len, "owner %u:%u vs %u:%u", (unsigned)a->st_uid, (unsigned)a->st_gid,
		         (unsigned)b->st_uid, (unsigned)b->st_gid);
		return 1;
	}
	/* mtime set by utimensat to a time long past must be kept exactly (a
	 * clock time cannot be compared across two file systems) */
	if ((a->st_mtim.tv_sec < ORACLE_LONG_PAST || b->st_mtim.tv_sec < ORACLE_LONG_PAST) &&
	    (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)) {
		snprintf(msg, len, "mtime %lld.%09ld vs %lld.%09ld", (long long)a->st_mtim.tv_sec,
		         a->st_mtim.tv_nsec, (long long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec);
		return 1;
	}
	/* So must an atime set long past, until a read moves it to now: under
	 * relatime (Linux's default mount option, which Ananke follows) the
	 * first read or listing after it does, as such an atime is more than
	 * a day old. (A read that reads nothing, of 0 bytes or at or beyond
	 * the largest file size, leaves it on Linux.) */
	bool a_past = a->st_atim.tv_sec < ORACLE_LONG_PAST, b_past = b->st_atim.tv_sec < ORACLE_LONG_PAST;
	if ((a_past || b_past) && !(oracle_atime_loose && a_past != b_past) &&
	    (a->st_atim.tv_sec != b->st_atim.tv_sec || a->st_atim.tv_nsec != b->st_atim.tv_nsec)) {
		snprintf(msg, len, "atime %lld.%09ld vs %lld.%09ld", (long long)a->st_atim.tv_sec,
		         a->st_atim.tv_nsec, (long long)b->st_atim.tv_sec, b->st_atim.tv_nsec);
		return 1;
	}
	if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev) {
		snprintf(msg, len, "device %u,%u vs %u,%u", major(a->st_rdev), minor(a->st_rdev),
			 major(b->st_rdev), minor(b->st_rdev));
		return 1;
	}
	if ((S_ISREG(a->st_mode) || S_ISLNK(a->st_mode)) && a->st_size != b->st_size) {
		snprintf(msg, len, "size %lld vs %lld", (long long)a->st_size,
		         (long long)b->st_size);
		return 1;
	}
	return 0;
}

#define CMP_CHUNK (256u * 1024u)

struct cmp_state {
	struct target *a, *b;
	bool contents;
	char *msg;
	size_t msglen;
	uint8_t *ba, *bb;
	/* hard-link structure: inode numbers of regular files and symbolic
	 * links, per side */
	ino_t *ia, *ib;
	char **ipath;
	size_t ni, capi;
	int depth;
};

static int cmp_contents(struct cmp_state *s, const char *path, off_t size)
{
	struct target *a = s->a, *b = s->b;
	int fa = a->open(a->ctx, path, O_RDONLY, 0);
	int fb = b->open(b->ctx, path, O_RDONLY, 0);
	int res = 0;
	char x[32], y[32];
	if (fa == -EACCES && fb == -EACCES)
		return 0; /* (not root: a file it may not read, on both sides) */
	if (fa < 0 || fb < 0) {
		snprintf(s->msg, s->msglen, "%s: open O_RDONLY for comparing: %s %s, %s %s", path,
		         a->name, oracle_result_str(fa, x, sizeof(x)), b->name,
		         oracle_result_str(fb, y, sizeof(y)));
		res = 1;
		goto out;
	}
	for (off_t off = 0;; off += CMP_CHUNK) {
		ssize_t na = a->pread(a->ctx, fa, s->ba, CMP_CHUNK, off);
		ssize_t nb = b->pread(b->ctx, fb, s->bb, CMP_CHUNK, off);
		if (na != nb) {
			snprintf(s->msg, s->msglen,
			         "%s: pread(%u @ %lld) of size-%lld file: %s %s, %s %s", path,
			         CMP_CHUNK, (long long)off, (long long)size, a->name,
			         oracle_result_str(na, x, sizeof(x)), b->name,
			         oracle_result_str(nb, y, sizeof(y)));
			res = 1;
			goto out;
		}
		if (na <= 0)
			break;
		if (memcmp(s->ba, s->bb, (size_t)na)) {
			size_t i = 0;
			while (s->ba[i] == s->bb[i])
				i++;
			snprintf(s->msg, s->msglen,
			         "%s: content differs at offset %lld (size %lld): %s 0x%02x, %s 0x%02x",
			         path, (long long)(off + (off_t)i), (long long)size, a->name, s->ba[i],
			         b->name, s->bb[i]);
			res = 1;
			goto out;
		}
	}
out:
	if (fa >= 0)
		a->close(a->ctx, fa);
	if (fb >= 0)
		b->close(b->ctx, fb);
	return res;
}

/* The targets of the symbolic link at path on both sides must be equal. */
static int cmp_link_target(struct cmp_state *s, const char *path)
{
	struct target *a = s->a, *b = s->b;
	char x[32], y[32];
	char ta[PATH_MAX + 1], tb[PATH_MAX + 1];
	ssize_t na = a->readlink(a->ctx, path, ta, sizeof(ta));
	ssize_t nb = b->readlink(b->ctx, path, tb, sizeof(tb));
	if (na != nb || (na > 0 && memcmp(ta, tb, (size_t)na))) {
		ta[na > 0 ? na : 0] = 0;
		tb[nb > 0 ? nb : 0] = 0;
		snprintf(s->msg, s->msglen, "readlink(%s): %s %s \"%.200s\", %s %s \"%.200s\"", path,
		         a->name, oracle_result_str(na, x, sizeof(x)), ta, b->name,
		         oracle_result_str(nb, y, sizeof(y)), tb);
		return 1;
	}
	return 0;
}

static int cmp_note_inode(struct cmp_state *s, const char *path, ino_t ia, ino_t ib)
{
	if (s->ni == s->capi) {
		size_t cap = s->capi ? s->capi * 2 : 64;
		ino_t *na = realloc(s->ia, cap * sizeof(*na));
		if (na)
			s->ia = na;
		ino_t *nb = realloc(s->ib, cap * sizeof(*nb));
		if (nb)
			s->ib = nb;
		char **np = realloc(s->ipath, cap * sizeof(*np));
		if (np)
			s->ipath = np;
		if (!na || !nb || !np)
			return -ENOMEM;
		s->capi = cap;
	}
	s->ipath[s->ni] = strdup(path);
	if (!s->ipath[s->ni])
		return -ENOMEM;
	s->ia[s->ni] = ia;
	s->ib[s->ni] = ib;
	s->ni++;
	return 0;
}

static int cmp_dir(struct cmp_state *s, const char *dir)
{
	struct target *a = s->a, *b = s->b;
	char x[32], y[32];
	if (++s->depth > TREE_MAX_DEPTH) {
		snprintf(s->msg, s->msglen, "%s: tree deeper than %d", dir, TREE_MAX_DEPTH);
		return 1;
	}
	struct oracle_dirlist la, lb;
	oracle_dirlist_init(&la);
	oracle_dirlist_init(&lb);
	int ra = a->list_dir(a->ctx, dir, &la);
	int rb = b->list_dir(b->ctx, dir, &lb);
	int res = 0;
	if (ra != rb) {
		snprintf(s->msg, s->msglen, "list_dir(%s): %s %s, %s %s", dir, a->name,
		         oracle_result_str(ra, x, sizeof(x)), b->name,
		         oracle_result_str(rb, y, sizeof(y)));
		res = 1;
		goto out;
	}
	if (ra == -EACCES)
		goto out; /* (not root: unreadable on both sides alike) */
	if (ra < 0) {
		res = ra;
		goto out;
	}
	for (size_t i = 0; i < la.n || i < lb.n; i++) {
		const char *na = i < la.n ? la.ents[i].name : NULL;
		const char *nb = i < lb.n ? lb.ents[i].name : NULL;
		int c = !na ? 1 : !nb ? -1 : strcmp(na, nb);
		if (c) {
			const char *who = c < 0 ? b->name : a->name;
			const char *name = c < 0 ? na : nb;
			snprintf(s->msg, s->msglen, "list_dir(%s): \"%.64s%s\" missing in %s (%zu vs %zu entries)",
			         dir, name, strlen(name) > 64 ? "..." : "", who, la.n, lb.n);
			res = 1;
			goto out;
		}
		if (la.ents[i].type != lb.ents[i].type) {
			snprintf(s->msg, s->msglen, "list_dir(%s): \"%s\" type %s vs %s", dir, na,
			         dt_name(la.ents[i].type), dt_name(lb.ents[i].type));
			res = 1;
			goto out;
		}
	}
	for (size_t i = 0; i < la.n && !res; i++) {
		char p[PATH_MAX];
		join_path(p, sizeof(p), dir, la.ents[i].name);
		struct stat sa, sb;
		ra = a->lstat(a->ctx, p, &sa); /* symbolic links: never followed */
		rb = b->lstat(b->ctx, p, &sb);
		if (ra == -EACCES && rb == -EACCES)
			continue; /* (not root: the directory may not be searched) */
		if (ra || rb) {
			snprintf(s->msg, s->msglen, "lstat(%s) of a listed entry: %s %s, %s %s", p,
			         a->name, oracle_result_str(ra, x, sizeof(x)), b->name,
			         oracle_result_str(rb, y, sizeof(y)));
			res = 1;
			break;
		}
		char d[128];
		if (oracle_stat_diff(&sa, &sb, d, sizeof(d))) {
			snprintf(s->msg, s->msglen, "lstat(%s): %s (%s vs %s)", p, d, a->name, b->name);
			res = 1;
			break;
		}
		if (mode_to_dt(sa.st_mode) != la.ents[i].type ||
		    mode_to_dt(sb.st_mode) != lb.ents[i].type) {
			snprintf(s->msg, s->msglen, "%s: directory entry type disagrees with stat", p);
			res = 1;
			break;
		}
		if (S_ISREG(sa.st_mode)) {
			res = cmp_note_inode(s, p, sa.st_ino, sb.st_ino);
			if (!res && s->contents)
				res = cmp_contents(s, p, sa.st_size);
		} else if (S_ISLNK(sa.st_mode)) {
			res = cmp_note_inode(s, p, sa.st_ino, sb.st_ino);
			if (!res)
				res = cmp_link_target(s, p);
		} else if (S_ISDIR(sa.st_mode)) {
			res = cmp_dir(s, p);
		}
	}
out:
	s->depth--;
	oracle_dirlist_free(&la);
	oracle_dirlist_free(&lb);
	return res;
}

int oracle_compare_trees(struct target *a, struct target *b, bool contents, char *msg,
                         size_t msglen)
{
	struct cmp_state s = {.a = a, .b = b, .contents = contents, .msg = msg, .msglen = msglen};
	char x[32], y[32];
	msg[0] = 0;
	struct stat sa, sb;
	int ra = a->stat(a->ctx, "/", &sa), rb = b->stat(b->ctx, "/", &sb);
	if (ra || rb) {
		snprintf(msg, msglen, "stat(/): %s %s, %s %s", a->name,
		         oracle_result_str(ra, x, sizeof(x)), b->name,
		         oracle_result_str(rb, y, sizeof(y)));
		if (ra == -EACCES && rb == -EACCES)
			return 0; /* (not root: nothing more to see on either side) */
		return ra == rb ? ra : 1;
	}
	char d[128];
	if (oracle_stat_diff(&sa, &sb, d, sizeof(d))) {
		snprintf(msg, msglen, "stat(/): %s (%s vs %s)", d, a->name, b->name);
		return 1;
	}
	s.ba = malloc(CMP_CHUNK);
	s.bb = malloc(CMP_CHUNK);
	int res = -ENOMEM;
	if (s.ba && s.bb)
		res = cmp_dir(&s, "/");
	/* Hard-link structure: i and j share an inode on one side iff on the other. */
	for (size_t i = 0; res == 0 && i < s.ni; i++) {
		for (size_t j = i + 1; j < s.ni; j++) {
			bool sa_ = s.ia[i] == s.ia[j], sb_ = s.ib[i] == s.ib[j];
			if (sa_ != sb_) {
				snprintf(msg, msglen, "%s and %s: same file on %s: %s, on %s: %s",
				         s.ipath[i], s.ipath[j], a->name, sa_ ? "yes" : "no", b->name,
				         sb_ ? "yes" : "no");
				res = 1;
				break;
			}
		}
	}
	for (size_t i = 0; i < s.ni; i++)
		free(s.ipath[i]);
	free(s.ipath);
	free(s.ia);
	free(s.ib);
	free(s.ba);
	free(s.bb);
	return res;
}

/* ---- Ananke volumes and target ---------------------------------------------------- */

#ifndef ORACLE_LIBC_ONLY

int oracle_volume_create(struct oracle_volume **out, uint64_t bytes, bool emu,
                         const struct fs_options *opt)
{
	*out = NULL;
	if (bytes % 4096)
		return -EINVAL;
	struct oracle_volume *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (opt)
		v->opt = *opt;
	v->nblocks = bytes / 4096;
	int r;
	if (emu) {
		r = bdev_emu_create(v->nblocks, &v->dev);
	} else {
		snprintf(v->image, sizeof(v->image), "%s/ank-vol-XXXXXX.img", test_tmpdir());
		int fd = mkstemps(v->image, 4);
		if (fd < 0) {
			r = -errno;
			v->image[0] = 0;
			goto fail;
		}
		r = ftruncate(fd, (off_t)bytes) < 0 ? -errno : 0;
		close(fd);
		if (!r)
			r = bdev_file_open(v->image, false, 0, &v->dev);
	}
	if (r)
		goto fail;
	r = fs_mkfs(v->dev, NULL);
	if (r)
		goto fail;
	r = oracle_volume_mount(v);
	if (r)
		goto fail;
	*out = v;
	return 0;
fail:
	oracle_volume_destroy(v);
	return r;
}

int oracle_volume_unmount(struct oracle_volume *v)
{
	if (!v->fs)
		return 0;
	int r = fs_unmount(v->fs);
	v->fs = NULL;
	return r;
}

int oracle_volume_mount(struct oracle_volume *v)
{
	if (v->fs)
		return -EBUSY;
	struct fs *fs = NULL;
	int r = fs_mount(v->dev, &v->opt, &fs);
	if (r)
		return r;
	v->fs = fs;
	return 0;
}

int oracle_volume_remount(struct oracle_volume *v)
{
	int r = oracle_volume_unmount(v);
	int m = oracle_volume_mount(v);
	return r ? r : m;
}

void oracle_volume_destroy(struct oracle_volume *v)
{
	if (!v)
		return;
	oracle_volume_unmount(v);
	if (v->dev)
		bdev_close(v->dev);
	if (v->image[0])
		unlink(v->image);
	free(v);
}

struct ank_ctx {
	struct oracle_volume *v;
	struct fs_client *c;
	bool owns_client;
	uint32_t uid, gid; /* an owned client's credentials */
};

#define CL(ctx) (((struct ank_ctx *)(ctx))->c)

static int core_open(void *ctx, const char *path, int flags, mode_t mode)
{
	return fs_open(CL(ctx), path, flags, mode);
}
static int core_close(void *ctx, int fd)
{
	return fs_close(CL(ctx), fd);
}
static ssize_t core_read(void *ctx, int fd, void *buf, size_t n)
{
	return fs_read(CL(ctx), fd, buf, n);
}
static ssize_t core_write(void *ctx, int fd, const void *buf, size_t n)
{
	return fs_write(CL(ctx), fd, buf, n);
}
static ssize_t core_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	return fs_pread(CL(ctx), fd, buf, n, off);
}
static ssize_t core_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	return fs_pwrite(CL(ctx), fd, buf, n, off);
}
static off_t core_lseek(void *ctx, int fd, off_t off, int whence)
{
	return fs_lseek(CL(ctx), fd, off, whence);
}
static int core_fsync(void *ctx, int fd)
{
	return fs_fsync(CL(ctx), fd);
}
static int core_fdatasync(void *ctx, int fd)
{
	return fs_fdatasync(CL(ctx), fd);
}
static int core_ftruncate(void *ctx, int fd, off_t len)
{
	return fs_ftruncate(CL(ctx), fd, len);
}
static int core_truncate(void *ctx, const char *path, off_t len)
{
	return fs_truncate(CL(ctx), path, len);
}
static struct fs_attr core_ids(uid_t uid, gid_t gid)
{
	struct fs_attr a = {.valid = FS_ATTR_CHOWN, .uid = (uint32_t)uid, .gid = (uint32_t)gid};
	if (uid != (uid_t)-1)
		a.valid |= FS_ATTR_UID;
	if (gid != (gid_t)-1)
		a.valid |= FS_ATTR_GID;
	return a;
}
/* utimensat's times as the core takes them (the server does the same). */
static void core_times(const struct timespec ts[2], struct fs_attr *a)
{
	struct timespec now, t[2];
	clock_gettime(CLOCK_REALTIME, &now);
	*a = (struct fs_attr){.valid = FS_ATTR_TIMES};
	if (!ts) {
		t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
	} else {
		t[0] = ts[0];
		t[1] = ts[1];
	}
	if (t[0].tv_nsec == UTIME_NOW && t[1].tv_nsec == UTIME_NOW)
		a->valid |= FS_ATTR_TIMES_NOW;
	for (unsigned k = 0; k < 2; k++) {
		if (t[k].tv_nsec == UTIME_OMIT)
			continue;
		if (t[k].tv_nsec == UTIME_NOW)
			t[k] = now;
		else if (t[k].tv_nsec < 0 || t[k].tv_nsec >= 1000000000L)
			t[k].tv_nsec = UINT32_MAX; /* refused once the file is found */
		a->valid |= k ? FS_ATTR_MTIME : FS_ATTR_ATIME;
		*(k ? &a->mtime_sec : &a->atime_sec) = (int64_t)t[k].tv_sec;
		*(k ? &a->mtime_nsec : &a->atime_nsec) = (uint32_t)t[k].tv_nsec;
	}
}
static int core_chmod(void *ctx, const char *path, mode_t mode)
{
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = (uint32_t)mode & 07777u};
	return fs_setattr_path(CL(ctx), path, &a);
}
static int core_fchmod(void *ctx, int fd, mode_t mode)
{
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = (uint32_t)mode & 07777u};
	return fs_setattr_fd(CL(ctx), fd, &a);
}
static int core_chown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	struct fs_attr a = core_ids(uid, gid);
	return fs_setattr_path(CL(ctx), path, &a);
}
static int core_fchown(void *ctx, int fd, uid_t uid, gid_t gid)
{
	struct fs_attr a = core_ids(uid, gid);
	return fs_setattr_fd(CL(ctx), fd, &a);
}
static int core_utimens(void *ctx, const char *path, const struct timespec ts[2])
{
	struct fs_attr a;
	if (ts && ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT)
		return 0; /* the syscall's shortcut */
	core_times(ts, &a);
	return fs_setattr_path(CL(ctx), path, &a);
}
static int core_futimens(void *ctx, int fd, const struct timespec ts[2])
{
	struct fs_attr a;
	if (fd < 0)
		return -EBADF; /* glibc's check */
	if (ts && ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT)
		return 0; /* the syscall's shortcut */
	core_times(ts, &a);
	return fs_setattr_fd(CL(ctx), fd, &a);
}
static int core_stat(void *ctx, const char *path, struct stat *st)
{
	return fs_stat(CL(ctx), path, st);
}
static int core_fstat(void *ctx, int fd, struct stat *st)
{
	return fs_fstat(CL(ctx), fd, st);
}
static int core_lstat(void *ctx, const char *path, struct stat *st)
{
	return fs_lstat(CL(ctx), path, st);
}
static int core_lchown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	struct fs_attr a = core_ids(uid, gid);
	a.valid |= FS_ATTR_NOFOLLOW;
	return fs_setattr_path(CL(ctx), path, &a);
}
static int core_symlink(void *ctx, const char *target, const char *path)
{
	return fs_symlink(CL(ctx), target, path);
}
static ssize_t core_readlink(void *ctx, const char *path, char *buf, size_t n)
{
	return fs_readlink(CL(ctx), path, buf, n);
}
static int core_setxattr(void *ctx, const char *path, const char *name, const void *value,
			 size_t size, int flags)
{
	return fs_setxattrat(CL(ctx), FS_AT_ROOT, path, 0, name, value, size, flags);
}
static ssize_t core_getxattr(void *ctx, const char *path, const char *name, void *buf,
			     size_t size)
{
	return fs_getxattrat(CL(ctx), FS_AT_ROOT, path, 0, name, buf, size);
}
static ssize_t core_listxattr(void *ctx, const char *path, char *buf, size_t size)
{
	return fs_listxattrat(CL(ctx), FS_AT_ROOT, path, 0, buf, size);
}
static int core_removexattr(void *ctx, const char *path, const char *name)
{
	return fs_removexattrat(CL(ctx), FS_AT_ROOT, path, 0, name);
}
static int core_lsetxattr(void *ctx, const char *path, const char *name, const void *value,
			  size_t size, int flags)
{
	return fs_setxattrat(CL(ctx), FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name, value, size,
			     flags);
}
static ssize_t core_lgetxattr(void *ctx, const char *path, const char *name, void *buf,
			      size_t size)
{
	return fs_getxattrat(CL(ctx), FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name, buf, size);
}
static ssize_t core_llistxattr(void *ctx, const char *path, char *buf, size_t size)
{
	return fs_listxattrat(CL(ctx), FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, buf, size);
}
static int core_lremovexattr(void *ctx, const char *path, const char *name)
{
	return fs_removexattrat(CL(ctx), FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name);
}
/* The f- calls: the file of fd, an empty path with AT_EMPTY_PATH (as the
 * server gets them from libananke). */
static int core_fsetxattr(void *ctx, int fd, const char *name, const void *value, size_t size,
			  int flags)
{
	return fs_setxattrat(CL(ctx), fs_at_fd(fd), "", AT_EMPTY_PATH, name, value, size, flags);
}
static ssize_t core_fgetxattr(void *ctx, int fd, const char *name, void *buf, size_t size)
{
	return fs_getxattrat(CL(ctx), fs_at_fd(fd), "", AT_EMPTY_PATH, name, buf, size);
}
static ssize_t core_flistxattr(void *ctx, int fd, char *buf, size_t size)
{
	return fs_listxattrat(CL(ctx), fs_at_fd(fd), "", AT_EMPTY_PATH, buf, size);
}
static int core_fremovexattr(void *ctx, int fd, const char *name)
{
	return fs_removexattrat(CL(ctx), fs_at_fd(fd), "", AT_EMPTY_PATH, name);
}
/* statfs as libananke fills it in from the service's answer. */
static void core_statfs_fill(const struct fs_statfs *f, struct statfs *sf)
{
	memset(sf, 0, sizeof(*sf));
	sf->f_type = ANK_STATFS_MAGIC;
	sf->f_bsize = (long)f->bsize;
	sf->f_frsize = (long)f->bsize;
	sf->f_blocks = (fsblkcnt_t)f->blocks;
	sf->f_bfree = (fsblkcnt_t)f->bfree;
	sf->f_bavail = (fsblkcnt_t)f->bfree;
	sf->f_files = (fsfilcnt_t)f->files;
	sf->f_ffree = (fsfilcnt_t)f->ffree;
	sf->f_namelen = (long)f->namelen;
	sf->f_flags = ST_VALID | (f->read_only ? ST_RDONLY : 0);
}
static int core_statfs(void *ctx, const char *path, struct statfs *sf)
{
	struct fs_statfs f;
	int r = fs_statfs_path(CL(ctx), path, &f);
	if (r == 0)
		core_statfs_fill(&f, sf);
	return r;
}
static int core_fstatfs(void *ctx, int fd, struct statfs *sf)
{
	struct fs_statfs f;
	int r = fs_statfs_fd(CL(ctx), fd, &f);
	if (r == 0)
		core_statfs_fill(&f, sf);
	return r;
}
static int core_faccessat(void *ctx, int dirfd, const char *path, int mode, int flags)
{
	return fs_faccessat(CL(ctx), fs_at_fd(dirfd), path, mode, flags);
}
static int core_fchmodat(void *ctx, int dirfd, const char *path, mode_t mode, int flags)
{
	if (flags & ~AT_SYMLINK_NOFOLLOW)
		return -EINVAL;
	struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = (uint32_t)mode & 07777u};
	if (flags & AT_SYMLINK_NOFOLLOW)
		a.valid |= FS_ATTR_NOFOLLOW;
	return fs_setattrat(CL(ctx), fs_at_fd(dirfd), path, &a);
}
static int core_fchownat(void *ctx, int dirfd, const char *path, uid_t uid, gid_t gid,
			 int flags)
{
	if (flags & ~AT_SYMLINK_NOFOLLOW)
		return -EINVAL;
	struct fs_attr a = core_ids(uid, gid);
	if (flags & AT_SYMLINK_NOFOLLOW)
		a.valid |= FS_ATTR_NOFOLLOW;
	return fs_setattrat(CL(ctx), fs_at_fd(dirfd), path, &a);
}
/* Record locks as the server takes them from libananke's fcntl: the
 * client's POSIX locks (its lock owner and pid: this process) and the
 * descriptions' OFD locks. */
static int core_lock(void *ctx, int fd, int cmd, struct flock *fl)
{
	bool ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
	bool get = cmd == F_GETLK || cmd == F_OFD_GETLK;
	struct fs_lock_req rq = {.kind = ofd ? FS_LOCK_OFD : FS_LOCK_POSIX,
				 .wait = cmd == F_SETLKW || cmd == F_OFD_SETLKW,
				 .type = fl->l_type,
				 .whence = fl->l_whence,
				 .pid_set = fl->l_pid != 0,
				 .start = (int64_t)fl->l_start,
				 .len = (int64_t)fl->l_len};
	if (!get)
		return fs_setlk(CL(ctx), fd, &rq, 0);
	struct fs_lock_info li;
	int r = fs_getlk(CL(ctx), fd, &rq, 0, &li);
	if (r == 0) {
		fl->l_type = li.type;
		if (li.type != F_UNLCK) {
			fl->l_whence = SEEK_SET;
			fl->l_start = (off_t)li.start;
			fl->l_len = (off_t)li.len;
			fl->l_pid = li.pid;
		}
	}
	return r;
}
/* flock as libananke's ank_flock asks the server for it. */
static int core_flock(void *ctx, int fd, int op)
{
	int o = op & ~LOCK_NB;
	int16_t type = o == LOCK_SH ? F_RDLCK : o == LOCK_EX ? F_WRLCK : o == LOCK_UN ? F_UNLCK : -1;
	if (type < 0)
		return -EINVAL;
	struct fs_lock_req rq = {.kind = FS_LOCK_FLOCK,
				 .wait = !(op & LOCK_NB) && type != F_UNLCK,
				 .type = type,
				 .whence = SEEK_SET};
	return fs_setlk(CL(ctx), fd, &rq, 0);
}
static int core_unlink(void *ctx, const char *path)
{
	return fs_unlink(CL(ctx), path);
}
static int core_rename(void *ctx, const char *from, const char *to)
{
	return fs_rename(CL(ctx), from, to);
}
static int core_link(void *ctx, const char *from, const char *to)
{
	return fs_link(CL(ctx), from, to);
}
static int core_mkdir(void *ctx, const char *path, mode_t mode)
{
	return fs_mkdir(CL(ctx), path, mode);
}
/* The kernel's O_LARGEFILE, which Linux's F_GETFL adds on 64-bit (glibc
 * defines O_LARGEFILE as 0 there). */
#if defined(__x86_64__)
#define KERNEL_O_LARGEFILE 0100000
#elif defined(__aarch64__)
#define KERNEL_O_LARGEFILE 0400000
#else
#define KERNEL_O_LARGEFILE 0
#endif
static int core_fcntl_fl(void *ctx, int fd, int cmd, int arg)
{
	if (cmd == F_SETFL)
		return fs_setfl(CL(ctx), fd, arg);
	int r = fs_getfl(CL(ctx), fd);
	return r < 0 ? r : r | KERNEL_O_LARGEFILE;
}
static int core_dup(void *ctx, int fd)
{
	return fs_dup(CL(ctx), fd, 0, 0);
}
static int core_dup2(void *ctx, int fd, int newfd)
{
	return fs_dup(CL(ctx), fd, newfd, FS_DUP_EXACT);
}
static int core_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	return fs_fallocate(CL(ctx), fd, mode, off, len);
}
static int core_mknod(void *ctx, const char *path, mode_t mode, dev_t dev)
{
	return fs_mknodat(CL(ctx), FS_AT_ROOT, path, mode, dev);
}
static int core_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	return fs_openat(CL(ctx), fs_at_fd(dirfd), path, flags, mode);
}
static int core_mkdirat(void *ctx, int dirfd, const char *path, mode_t mode)
{
	return fs_mkdirat(CL(ctx), fs_at_fd(dirfd), path, mode);
}
static int core_unlinkat(void *ctx, int dirfd, const char *path, int flags)
{
	return fs_unlinkat(CL(ctx), fs_at_fd(dirfd), path, flags);
}
static int core_renameat2(void *ctx, int fromfd, const char *from, int tofd, const char *to,
			  unsigned flags)
{
	return fs_renameat2(CL(ctx), fs_at_fd(fromfd), from, fs_at_fd(tofd), to, flags);
}
static int core_linkat(void *ctx, int fromfd, const char *from, int tofd, const char *to,
		       int flags)
{
	return fs_linkat(CL(ctx), fs_at_fd(fromfd), from, fs_at_fd(tofd), to, flags);
}
static int core_fstatat(void *ctx, int dirfd, const char *path, struct stat *st, int flags)
{
	return fs_fstatat(CL(ctx), fs_at_fd(dirfd), path, st, flags);
}
static int core_rmdir(void *ctx, const char *path)
{
	return fs_rmdir(CL(ctx), path);
}

#define ANK_READDIR_BATCH 32
#define ANK_LIST_MAX 1000000

static int core_list_dir(void *ctx, const char *path, struct oracle_dirlist *out)
{
	struct fs_client *c = CL(ctx);
	out->n = 0;
	int fd = fs_open(c, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	struct fs_dirent *ents = malloc(ANK_READDIR_BATCH * sizeof(*ents));
	int r = ents ? 0 : -ENOMEM;
	size_t seen = 0;
	while (!r) {
		int n = fs_readdir(c, fd, ents, ANK_READDIR_BATCH);
		if (n <= 0) {
			r = n;
			break;
		}
		if (n > ANK_READDIR_BATCH) {
			r = -EOVERFLOW;
			break;
		}
		seen += (size_t)n;
		if (seen > ANK_LIST_MAX) {
			r = -ELOOP; /* readdir never reaches the end */
			break;
		}
		for (int i = 0; i < n && !r; i++) {
			const char *name = ents[i].name;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			r = oracle_dirlist_add(out, name, dt_kept(ents[i].type));
		}
	}
	free(ents);
	int rc = fs_close(c, fd);
	if (!r && rc < 0)
		r = rc;
	if (r)
		out->n = 0;
	else
		oracle_dirlist_sort(out);
	return r;
}

static int core_sync(void *ctx)
{
	struct ank_ctx *a = ctx;
	return fs_sync(a->v->fs);
}

static int core_remount(void *ctx)
{
	struct ank_ctx *a = ctx;
	if (!a->owns_client)
		return -ENOTSUP;
	if (a->c)
		fs_client_free(a->c);
	a->c = NULL;
	int r = oracle_volume_remount(a->v);
	if (r)
		return r;
	a->c = fs_client_new(a->v->fs, a->uid, a->gid);
	return a->c ? 0 : -ENOMEM;
}

static void core_destroy(void *ctx)
{
	struct ank_ctx *a = ctx;
	if (a->owns_client && a->c)
		fs_client_free(a->c);
	free(a);
}

int target_ananke_new(struct target *t, const char *name, struct oracle_volume *v,
                      struct fs_client *client)
{
	return target_ananke_new_as(t, name, v, client, 0, 0);
}

int target_ananke_new_as(struct target *t, const char *name, struct oracle_volume *v,
			 struct fs_client *client, uint32_t uid, uint32_t gid)
{
	struct ank_ctx *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->v = v;
	a->uid = uid;
	a->gid = gid;
	if (client) {
		a->c = client;
	} else {
		if (!v->fs) {
			free(a);
			return -EINVAL;
		}
		a->c = fs_client_new(v->fs, uid, gid);
		if (!a->c) {
			free(a);
			return -ENOMEM;
		}
		a->owns_client = true;
	}
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->ctx = a;
	t->open = core_open;
	t->close = core_close;
	t->read = core_read;
	t->write = core_write;
	t->pread = core_pread;
	t->pwrite = core_pwrite;
	t->lseek = core_lseek;
	t->fsync = core_fsync;
	t->fdatasync = core_fdatasync;
	t->ftruncate = core_ftruncate;
	t->truncate = core_truncate;
	t->chmod = core_chmod;
	t->fchmod = core_fchmod;
	t->chown = core_chown;
	t->fchown = core_fchown;
	t->utimens = core_utimens;
	t->futimens = core_futimens;
	t->stat = core_stat;
	t->fstat = core_fstat;
	t->lstat = core_lstat;
	t->lchown = core_lchown;
	t->symlink = core_symlink;
	t->readlink = core_readlink;
	t->setxattr = core_setxattr;
	t->getxattr = core_getxattr;
	t->listxattr = core_listxattr;
	t->removexattr = core_removexattr;
	t->lsetxattr = core_lsetxattr;
	t->lgetxattr = core_lgetxattr;
	t->llistxattr = core_llistxattr;
	t->lremovexattr = core_lremovexattr;
	t->fsetxattr = core_fsetxattr;
	t->fgetxattr = core_fgetxattr;
	t->flistxattr = core_flistxattr;
	t->fremovexattr = core_fremovexattr;
	t->statfs = core_statfs;
	t->fstatfs = core_fstatfs;
	t->faccessat = core_faccessat;
	t->fchmodat = core_fchmodat;
	t->fchownat = core_fchownat;
	t->lock = core_lock;
	t->flock = core_flock;
	t->mknod = core_mknod;
	t->fallocate = core_fallocate;
	t->fcntl_fl = core_fcntl_fl;
	t->dup = core_dup;
	t->dup2 = core_dup2;
	t->openat = core_openat;
	t->mkdirat = core_mkdirat;
	t->unlinkat = core_unlinkat;
	t->renameat2 = core_renameat2;
	t->linkat = core_linkat;
	t->fstatat = core_fstatat;
	t->unlink = core_unlink;
	t->rename = core_rename;
	t->link = core_link;
	t->mkdir = core_mkdir;
	t->rmdir = core_rmdir;
	t->list_dir = core_list_dir;
	t->sync = core_sync;
	t->remount = core_remount;
	t->destroy = core_destroy;
	return 0;
}

/* ---- libananke target ----------------------------------------------------------- */

struct ankt_ctx {
	char prefix[PATH_MAX]; /* "" (the volume root) or "/dir" without a trailing slash */
};

/* Service path for `path`, as libc_path does for the host: "" stays "", the
 * root is "<prefix>/." (a last component that is not a name). */
static int ankt_path(const struct ankt_ctx *c, const char *path, char *out, size_t outlen)
{
	if (!*path) {
		out[0] = 0;
		return 0;
	}
	if (escapes_root(path))
		return -ENOTSUP;
	if (is_root_path(path))
		path = "/.";
	int n = snprintf(out, outlen, "%s%s%s", c->prefix, path[0] == '/' ? "" : "/", path);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* -1/errno to -errno; other values pass (errno is read after the call). */
static long ankt_ret(long r)
{
	return r < 0 ? -(long)errno : r;
}

static int ankt_open(void *ctx, const char *path, int flags, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_open(p, flags, mode));
}

static int ankt_close(void *ctx, int fd)
{
	(void)ctx;
	return (int)ankt_ret(ank_close(fd));
}

static ssize_t ankt_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	return ankt_ret(ank_read(fd, buf, n));
}

static ssize_t ankt_write(void *ctx, int fd, const void *buf, size_t n)
{
	(void)ctx;
	return ankt_ret(ank_write(fd, buf, n));
}

static ssize_t ankt_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	(void)ctx;
	return ankt_ret(ank_pread(fd, buf, n, off));
}

static ssize_t ankt_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
	(void)ctx;
	return ankt_ret(ank_pwrite(fd, buf, n, off));
}

static off_t ankt_lseek(void *ctx, int fd, off_t off, int whence)
{
	(void)ctx;
	return ankt_ret(ank_lseek(fd, off, whence));
}

static int ankt_fsync(void *ctx, int fd)
{
	(void)ctx;
	return (int)ankt_ret(ank_fsync(fd));
}

static int ankt_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return (int)ankt_ret(ank_fdatasync(fd));
}

static int ankt_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return (int)ankt_ret(ank_ftruncate(fd, len));
}

static int ankt_truncate(void *ctx, const char *path, off_t len)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_truncate(p, len));
}

static int ankt_chmod(void *ctx, const char *path, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_chmod(p, mode));
}

static int ankt_fchmod(void *ctx, int fd, mode_t mode)
{
	(void)ctx;
	return (int)ankt_ret(ank_fchmod(fd, mode));
}

static int ankt_chown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_chown(p, uid, gid));
}

static int ankt_fchown(void *ctx, int fd, uid_t uid, gid_t gid)
{
	(void)ctx;
	return (int)ankt_ret(ank_fchown(fd, uid, gid));
}

static int ankt_utimens(void *ctx, const char *path, const struct timespec ts[2])
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_utimensat(AT_FDCWD, p, ts, 0));
}

static int ankt_futimens(void *ctx, int fd, const struct timespec ts[2])
{
	(void)ctx;
	return (int)ankt_ret(ank_futimens(fd, ts));
}

static int ankt_stat(void *ctx, const char *path, struct stat *st)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_stat(p, st));
}

static int ankt_fstat(void *ctx, int fd, struct stat *st)
{
	(void)ctx;
	return (int)ankt_ret(ank_fstat(fd, st));
}

static int ankt_lstat(void *ctx, const char *path, struct stat *st)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_lstat(p, st));
}

static int ankt_lchown(void *ctx, const char *path, uid_t uid, gid_t gid)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_lchown(p, uid, gid));
}

/* The target is stored as given, not placed below the prefix: relative
 * targets resolve from the link's directory, inside the prefix. */
static int ankt_symlink(void *ctx, const char *target, const char *path)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_symlink(target, p));
}

static ssize_t ankt_readlink(void *ctx, const char *path, char *buf, size_t n)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return ankt_ret(ank_readlink(p, buf, n));
}

static int ankt_setxattr(void *ctx, const char *path, const char *name, const void *value,
			 size_t size, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_setxattr(p, name, value, size, flags));
}

static ssize_t ankt_getxattr(void *ctx, const char *path, const char *name, void *buf,
			     size_t size)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : ankt_ret(ank_getxattr(p, name, buf, size));
}

static ssize_t ankt_listxattr(void *ctx, const char *path, char *buf, size_t size)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : ankt_ret(ank_listxattr(p, buf, size));
}

static int ankt_removexattr(void *ctx, const char *path, const char *name)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_removexattr(p, name));
}

static int ankt_lsetxattr(void *ctx, const char *path, const char *name, const void *value,
			  size_t size, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_lsetxattr(p, name, value, size, flags));
}

static ssize_t ankt_lgetxattr(void *ctx, const char *path, const char *name, void *buf,
			      size_t size)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : ankt_ret(ank_lgetxattr(p, name, buf, size));
}

static ssize_t ankt_llistxattr(void *ctx, const char *path, char *buf, size_t size)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : ankt_ret(ank_llistxattr(p, buf, size));
}

static int ankt_lremovexattr(void *ctx, const char *path, const char *name)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_lremovexattr(p, name));
}

static int ankt_fsetxattr(void *ctx, int fd, const char *name, const void *value, size_t size,
			  int flags)
{
	(void)ctx;
	return (int)ankt_ret(ank_fsetxattr(fd, name, value, size, flags));
}

static ssize_t ankt_fgetxattr(void *ctx, int fd, const char *name, void *buf, size_t size)
{
	(void)ctx;
	return ankt_ret(ank_fgetxattr(fd, name, buf, size));
}

static ssize_t ankt_flistxattr(void *ctx, int fd, char *buf, size_t size)
{
	(void)ctx;
	return ankt_ret(ank_flistxattr(fd, buf, size));
}

static int ankt_fremovexattr(void *ctx, int fd, const char *name)
{
	(void)ctx;
	return (int)ankt_ret(ank_fremovexattr(fd, name));
}

static int ankt_statfs(void *ctx, const char *path, struct statfs *sf)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_statfs(p, sf));
}

static int ankt_fstatfs(void *ctx, int fd, struct statfs *sf)
{
	(void)ctx;
	return (int)ankt_ret(ank_fstatfs(fd, sf));
}

static int ankt_unlink(void *ctx, const char *path)
{
	if (is_root_path(path))
		return -EISDIR; /* Linux: unlink("/") */
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_unlink(p));
}

/* libc_parent_ok through the service: resolve the parent of an entry. */
static int ankt_parent_ok(const struct ankt_ctx *c, const char *path)
{
	if (!*path)
		return -ENOENT;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = 0;
	while (n > 0 && dir[n - 1] != '/')
		dir[--n] = 0;
	char p[PATH_MAX * 2];
	int r = ankt_path(c, dir, p, sizeof(p));
	if (r)
		return r;
	struct stat st;
	if (ank_stat(p, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int ankt_rename(void *ctx, const char *from, const char *to)
{
	if (is_root_path(from) || is_root_path(to)) {
		/* as libc_rename: both parents first, then EBUSY */
		int e = is_root_path(from) ? 0 : ankt_parent_ok(ctx, from);
		if (!e && !is_root_path(to))
			e = ankt_parent_ok(ctx, to);
		return e ? e : -EBUSY;
	}
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = ankt_path(ctx, from, p, sizeof(p));
	if (!r)
		r = ankt_path(ctx, to, q, sizeof(q));
	if (r)
		return r;
	return (int)ankt_ret(ank_rename(p, q));
}

static int ankt_link(void *ctx, const char *from, const char *to)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = ankt_path(ctx, from, p, sizeof(p));
	if (!r)
		r = ankt_path(ctx, to, q, sizeof(q));
	if (r)
		return r;
	return (int)ankt_ret(ank_link(p, q));
}

/* A path of an *at call: absolute ones as the calls above translate them,
 * relative ones as they are. */
static int ankt_at_path(void *ctx, const char *path, char *out, size_t outlen)
{
	if (path[0] == '/')
		return ankt_path(ctx, path, out, outlen);
	if (strlen(path) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, path);
	return 0;
}

static int ankt_faccessat(void *ctx, int dirfd, const char *path, int mode, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_faccessat(dirfd, p, mode, flags));
}

static int ankt_fchmodat(void *ctx, int dirfd, const char *path, mode_t mode, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_fchmodat(dirfd, p, mode, flags));
}

static int ankt_fchownat(void *ctx, int dirfd, const char *path, uid_t uid, gid_t gid,
			 int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_fchownat(dirfd, p, uid, gid, flags));
}

static int ankt_flock(void *ctx, int fd, int op)
{
	(void)ctx;
	return (int)ankt_ret(ank_flock(fd, op));
}

static int ankt_fcntl_fd(void *ctx, int fd, int cmd, int arg)
{
	(void)ctx;
	return (int)ankt_ret(cmd == F_SETFD ? ank_fcntl(fd, cmd, (long)arg) : ank_fcntl(fd, cmd));
}

static int ankt_fcntl_fl(void *ctx, int fd, int cmd, int arg)
{
	(void)ctx;
	return (int)ankt_ret(cmd == F_SETFL ? ank_fcntl(fd, cmd, (long)arg) : ank_fcntl(fd, cmd));
}

static int ankt_lock(void *ctx, int fd, int cmd, struct flock *fl)
{
	(void)ctx;
	return (int)ankt_ret(ank_fcntl(fd, cmd, fl));
}

static int ankt_dup(void *ctx, int fd)
{
	(void)ctx;
	return (int)ankt_ret(ank_dup(fd));
}

static int ankt_dup2(void *ctx, int fd, int newfd)
{
	(void)ctx;
	return (int)ankt_ret(ank_dup2(fd, newfd));
}

static int ankt_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	(void)ctx;
	return (int)ankt_ret(ank_fallocate(fd, mode, off, len));
}

static int ankt_mknod(void *ctx, const char *path, mode_t mode, dev_t dev)
{
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_mknod(p, mode, dev));
}

static int ankt_openat(void *ctx, int dirfd, const char *path, int flags, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_openat(dirfd, p, flags, mode));
}

static int ankt_mkdirat(void *ctx, int dirfd, const char *path, mode_t mode)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_mkdirat(dirfd, p, mode));
}

static int ankt_unlinkat(void *ctx, int dirfd, const char *path, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_unlinkat(dirfd, p, flags));
}

static int ankt_renameat2(void *ctx, int fromfd, const char *from, int tofd, const char *to,
			  unsigned flags)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = ankt_at_path(ctx, from, p, sizeof(p));
	if (!r)
		r = ankt_at_path(ctx, to, q, sizeof(q));
	return r ? r : (int)ankt_ret(ank_renameat2(fromfd, p, tofd, q, flags));
}

static int ankt_linkat(void *ctx, int fromfd, const char *from, int tofd, const char *to,
		       int flags)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	int r = ankt_at_path(ctx, from, p, sizeof(p));
	if (!r)
		r = ankt_at_path(ctx, to, q, sizeof(q));
	return r ? r : (int)ankt_ret(ank_linkat(fromfd, p, tofd, q, flags));
}

static int ankt_fstatat(void *ctx, int dirfd, const char *path, struct stat *st, int flags)
{
	char p[PATH_MAX * 2];
	int r = ankt_at_path(ctx, path, p, sizeof(p));
	return r ? r : (int)ankt_ret(ank_fstatat(dirfd, p, st, flags));
}

static int ankt_mkdir(void *ctx, const char *path, mode_t mode)
{
	if (is_root_path(path))
		return -EEXIST; /* Linux: mkdir("/") */
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_mkdir(p, mode));
}

static int ankt_rmdir(void *ctx, const char *path)
{
	if (is_root_path(path))
		return -EBUSY; /* Linux: rmdir("/") */
	char p[PATH_MAX * 2];
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	return (int)ankt_ret(ank_rmdir(p));
}

#define ANKT_LIST_MAX 1000000

static int ankt_list_dir(void *ctx, const char *path, struct oracle_dirlist *out)
{
	char p[PATH_MAX * 2];
	out->n = 0;
	int r = ankt_path(ctx, path, p, sizeof(p));
	if (r)
		return r;
	ANK_DIR *d = ank_opendir(p);
	if (!d)
		return -errno;
	size_t seen = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = ank_readdir(d);
		if (!de) {
			if (errno)
				r = -errno;
			break;
		}
		if (++seen > ANKT_LIST_MAX) {
			r = -ELOOP; /* readdir never reaches the end */
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = oracle_dirlist_add(out, de->d_name, dt_kept(de->d_type));
		if (r)
			break;
	}
	if (ank_closedir(d) < 0 && !r)
		r = -errno;
	if (r)
		out->n = 0;
	else
		oracle_dirlist_sort(out);
	return r;
}

static int ankt_sync(void *ctx)
{
	(void)ctx;
	return (int)ankt_ret(ank_sync());
}

/* The volume belongs to the service: there is nothing to remount from a
 * client, and the service keeps the state anyway. */
static int ankt_remount(void *ctx)
{
	(void)ctx;
	return 0;
}

static void ankt_destroy(void *ctx)
{
	free(ctx);
}

int target_ank_new(struct target *t, const char *name, const char *prefix)
{
	if (!prefix)
		prefix = "";
	size_t len = strlen(prefix);
	while (len > 0 && prefix[len - 1] == '/')
		len--;
	if (len > 0 && prefix[0] != '/')
		return -EINVAL;
	struct ankt_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (len >= sizeof(c->prefix)) {
		free(c);
		return -ENAMETOOLONG;
	}
	memcpy(c->prefix, prefix, len);
	c->prefix[len] = 0;
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->ctx = c;
	t->open = ankt_open;
	t->close = ankt_close;
	t->read = ankt_read;
	t->write = ankt_write;
	t->pread = ankt_pread;
	t->pwrite = ankt_pwrite;
	t->lseek = ankt_lseek;
	t->fsync = ankt_fsync;
	t->fdatasync = ankt_fdatasync;
	t->ftruncate = ankt_ftruncate;
	t->truncate = ankt_truncate;
	t->chmod = ankt_chmod;
	t->fchmod = ankt_fchmod;
	t->chown = ankt_chown;
	t->fchown = ankt_fchown;
	t->utimens = ankt_utimens;
	t->futimens = ankt_futimens;
	t->stat = ankt_stat;
	t->fstat = ankt_fstat;
	t->lstat = ankt_lstat;
	t->lchown = ankt_lchown;
	t->symlink = ankt_symlink;
	t->readlink = ankt_readlink;
	t->mknod = ankt_mknod;
	t->fallocate = ankt_fallocate;
	t->setxattr = ankt_setxattr;
	t->getxattr = ankt_getxattr;
	t->listxattr = ankt_listxattr;
	t->removexattr = ankt_removexattr;
	t->lsetxattr = ankt_lsetxattr;
	t->lgetxattr = ankt_lgetxattr;
	t->llistxattr = ankt_llistxattr;
	t->lremovexattr = ankt_lremovexattr;
	t->fsetxattr = ankt_fsetxattr;
	t->fgetxattr = ankt_fgetxattr;
	t->flistxattr = ankt_flistxattr;
	t->fremovexattr = ankt_fremovexattr;
	t->statfs = ankt_statfs;
	t->fstatfs = ankt_fstatfs;
	t->faccessat = ankt_faccessat;
	t->fchmodat = ankt_fchmodat;
	t->fchownat = ankt_fchownat;
	t->fcntl_fl = ankt_fcntl_fl;
	t->lock = ankt_lock;
	t->flock = ankt_flock;
	t->fcntl_fd = ankt_fcntl_fd;
	t->dup = ankt_dup;
	t->dup2 = ankt_dup2;
	t->openat = ankt_openat;
	t->mkdirat = ankt_mkdirat;
	t->unlinkat = ankt_unlinkat;
	t->renameat2 = ankt_renameat2;
	t->linkat = ankt_linkat;
	t->fstatat = ankt_fstatat;
	t->unlink = ankt_unlink;
	t->rename = ankt_rename;
	t->link = ankt_link;
	t->mkdir = ankt_mkdir;
	t->rmdir = ankt_rmdir;
	t->list_dir = ankt_list_dir;
	t->sync = ankt_sync;
	t->remount = ankt_remount;
	t->destroy = ankt_destroy;
	return 0;
}

#endif /* ORACLE_LIBC_ONLY */
