/*
 * test_matrix.c - the recovery test matrix (docs/RECOVERY.md, AIM rule
 * table): every logged operation in every persistence state, with the
 * server killed, must leave the application seeing exactly what a
 * fault-free run sees.
 *
 * Rows (one directory /<row> each): open of an existing file, open O_TRUNC,
 * open O_CREAT that creates, close, read, write (with a second O_APPEND fd),
 * pwrite, lseek, ftruncate, truncate, unlink (of an open file, and of a
 * closed one), rename (over an existing target that stays open), link,
 * mkdir and rmdir (of a directory that stays open), chmod, fchmod, chown,
 * fchown (set-id bits dropped), utimensat and futimens (explicit times,
 * one omitted), each of a file kept open, symlink (a link to a file,
 * which is then opened through it), and the *at calls relative to the
 * row's directory fd, closed after them (mkdirat, openat that creates,
 * linkat, renameat2 RENAME_EXCHANGE of a file and a directory,
 * symlinkat: a replay must start each at that directory, by inode), and
 * mknod (a socket, a character device and a regular file; each stat'ed),
 * and fallocate (mode 0 past the end, KEEP_SIZE over a hole, a hole
 * punched, a range zeroed; SEEK_DATA / SEEK_HOLE asked afterwards), and
 * fcntl F_SETFL turning O_APPEND on (the writes that follow the crash
 * must append; F_GETFL asked), extended attributes (set and removed by
 * path and fd, an ACL), dup and dup2 (one open file description, also
 * once the fd that moved its offset is closed), lchown of a symbolic link
 * to a set-id file kept open through it (the link's owner changes, the
 * target's stays), fsetxattr / fremovexattr on fds kept open (one of an
 * unlinked file) and lsetxattr / lremovexattr on a symbolic link (trusted.
 * names: Linux refuses user. ones there) and on a file, unlinkat of a file
 * and of a directory (AT_REMOVEDIR), each kept open, fchmodat and fchownat
 * (of a file, through a symbolic link, and of the link itself with
 * AT_SYMLINK_NOFOLLOW) from the row's directory fd, closed after them, and
 * locks, which a crash must not lose: a POSIX record lock (F_SETLK, a
 * write lock then a hole unlocked in it) and an OFD read lock
 * (F_OFD_SETLK) on two fds kept open, and flock LOCK_EX (converted from
 * LOCK_SH) on one; each followed by a logged read, where the fault points
 * fire with the locks held.
 *
 * Columns (the state of the row's operation at the crash): before fsync
 * (nothing synced after it), after fsync (of the operation's fd, or
 * ank_sync() for path operations), after a background commit (serve option
 * --commit-ms), after close of the row's fds, after a later rename of the
 * affected name, after a later unlink of it (for unlink and rmdir: the
 * name is reused, then removed again).
 *
 * A column runs on one service: the setup of every row, ank_sync(), the
 * operations of every row followed by the column's step, then ONE kill,
 * then the observations. The journal is a single ordered log, so this one
 * crash finds every row in the column's state. Everything the application
 * sees from the operations on is written to a transcript, one per row:
 * every return value and errno, the fd numbers a new open gets, for every
 * fd kept open its offset (lseek SEEK_CUR), fstat, which name it refers to
 * (or none), its attributes and its full contents, each directory's sorted
 * listing with type, mode, owner, size, link count, hard-link groups,
 * contents, link targets and extended attributes, sorted, with their
 * values (lstat, readlink, llistxattr, lgetxattr), for the lock rows
 * (first, through a new open file description of the file, by a name no
 * column step touches) the locks F_GETLK and F_OFD_GETLK report over
 * given ranges (type, range, pid) and whether flock LOCK_EX | LOCK_NB and
 * LOCK_SH | LOCK_NB are refused, then a write
 * or read continuing on every fd, and closes. The transcript of a run with
 * a kill is compared line by line with that of the same column run without
 * any kill on a fresh service; the first difference of each row is printed.
 * After every run: `ananke stop` exits 0 and fsck finds the image clean.
 *
 * Tests:
 *   - <column>_sigkill (six): the server is SIGKILLed between the
 *     operations and the observations (recovery "ananke"); transcripts
 *     must be equal, inode numbers included. For the background commit
 *     column a run with --recovery=none must also find the fault-free
 *     names, sizes and contents on disk (the commit really happened; the
 *     other columns run with background commits off);
 *   - before_fsync_fault_points: for every row and each of the fault points
 *     plog_after_op, plog_after_desc and after_done, the server aborts
 *     inside the row's operation (ANANKE_FAULT=<point>:<n>, n counted from
 *     the logged requests of the reference run, ANANKE_FAULT_ONCE so only
 *     the first server fires), the operations go on, and the server is also
 *     SIGKILLed before the observations; the application must see no error
 *     and the same transcript (inode numbers compared as identities: a
 *     file created after the fault may get another free number);
 *   - other_columns_fault_points: the same in the other columns, every row
 *     once with the points taken in turn, the fault in the column's step
 *     (the close, the later rename or unlink) where it sends requests;
 *   - before_fsync_none_differs: with --recovery=none the same column
 *     differs from the reference in every row (each keeps an fd open or
 *     has unsynced effects), proving the comparison can fail; on disk,
 *     exactly the rows whose operation changes the disk differ; a
 *     fault-free run in mode none equals the reference.
 *
 * $ANK_TEST_MATRIX_DUMP set: the reference transcripts are printed.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/falloc.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "service_util.h"

#define WORKERS 2
#define MAXFD 2
#define MAXNAMES 16
#define MAXFILE 16384

/* ---- transcripts ------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
};

enum { R_OPEN, R_OTRUNC, R_CREAT, R_CLOSE, R_READ, R_WRITE, R_PWRITE, R_LSEEK, R_FTRUNC,
       R_TRUNCATE, R_UNLINK, R_RENAME, R_LINK, R_MKDIR, R_RMDIR, R_CHMOD, R_FCHMOD, R_CHOWN,
       R_FCHOWN, R_UTIMENS, R_FUTIMENS, R_SYMLINK, R_AT, R_MKNOD, R_FALLOC, R_SETFL, R_XATTR,
       R_DUP, R_DUPCLOSE, R_LCHOWN, R_FXATTR, R_LXATTR, R_UNLINKAT, R_FCHMODAT, R_FCHOWNAT,
       R_LOCK, R_FLOCK, NROWS };
#define GLOBAL NROWS /* the transcript of what is not one row's */

struct transcript {
	struct sbuf row[NROWS + 1];
	/* logged request number of each row's operation (MARK_OP) and of the
	 * last request of its column step (MARK_STEP), 0: none */
	unsigned long pass[2][NROWS];
	bool valid;
};

static void sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void tr_free(struct transcript *t)
{
	for (unsigned i = 0; i <= NROWS; i++)
		sbuf_free(&t->row[i]);
	memset(t, 0, sizeof(*t));
}

static void sbuf_vadd(struct sbuf *b, const char *fmt, va_list ap)
{
	char line[512];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	size_t l = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (b->len + l + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + l + 2)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, line, l);
	b->len += l;
	b->p[b->len++] = '\n';
	b->p[b->len] = '\0';
}

/* ---- rows ---------------------------------------------------------------------------- */

struct row {
	const char *name;
	void (*setup)(struct row *r);
	void (*op)(struct row *r);           /* leads to and runs the operation */
	void (*later_rename)(struct row *r); /* a later rename of what it affected */
	void (*later_unlink)(struct row *r); /* a later unlink of it */
	void (*observe)(struct row *r);      /* what the listing cannot show, NULL: none */
	int opfd;                            /* index in fd[] of the operation's fd, -1: none */
	int idx;
	int fd[MAXFD];                       /* fds kept open, -1: none */
	int fdfl[MAXFD];                     /* their open flags */
};

enum column { C_BEFORE, C_FSYNC, C_COMMIT, C_CLOSE, C_RENAME, C_UNLINK, NCOLS };
static const char *const col_names[NCOLS] = {"before-fsync", "after-fsync", "after-commit",
                                             "after-close", "after-rename", "after-unlink"};

enum kill_kind { K_NONE, K_SIGKILL, K_FAULT };

/* The run in progress. */
static struct {
	struct transcript *tr;
	unsigned long logged;  /* logged requests sent so far (successful ones) */
	int fault_row;         /* row whose requests the fault hits, -1: none */
	int fault_mark;        /* MARK_OP or MARK_STEP: which of them */
	bool fired_early;      /* the fault had fired before those requests */
	bool fired_in_op;      /* it fired during them */
} g_run;

static struct svc g_svc;
static char g_tmp[PATH_MAX - 64]; /* for the fault's marker file */
static char g_once[PATH_MAX];
static char g_serve_opts[128]; /* $ANK_TEST_SERVE_OPTS as the test found it */
static struct transcript g_ref[NCOLS]; /* fault-free references, made on first use */
static struct transcript g_got;
static struct row g_rows[NROWS];
static struct row g_global = {.name = "", .idx = GLOBAL, .fd = {-1, -1}};

static void put(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct row *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sbuf_vadd(&g_run.tr->row[r->idx], fmt, ap);
	va_end(ap);
}

/* "/<row>/<name>" (or "/<name>" for the global pseudo-row); four rotating
 * buffers so that a call can take two paths. */
static const char *P(const struct row *r, const char *name)
{
	static char bufs[4][PATH_MAX];
	static unsigned k;
	char *b = bufs[k++ % 4];
	if (!r->name[0])
		snprintf(b, PATH_MAX, "/%s", name);
	else if (!name[0])
		snprintf(b, PATH_MAX, "/%s", r->name);
	else
		snprintf(b, PATH_MAX, "/%s/%s", r->name, name);
	return b;
}

static void pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static uint64_t fnv(const uint8_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void count(bool ok)
{
	if (ok)
		g_run.logged++;
}

/* ---- transcribed calls -----------------------------------------------------------------
 * Each records its arguments, result and errno in the row's transcript and
 * counts the requests the server logs (successful operations of the rule
 * table), which is what the fault points count. */

/* Record a call's result: "<what> = <ret> e<errno>" (errno 0 on success);
 * `logged`: the server logs it when it succeeds. Returns ret. */
static long long note(struct row *r, bool logged, long long ret, const char *what, ...)
	__attribute__((format(printf, 4, 5)));
static long long note(struct row *r, bool logged, long long ret, const char *what, ...)
{
	int e = ret < 0 ? errno : 0;
	char buf[PATH_MAX * 2];
	va_list ap;
	va_start(ap, what);
	vsnprintf(buf, sizeof(buf), what, ap);
	va_end(ap);
	put(r, "%s = %lld e%d", buf, ret, e);
	if (logged)
		count(ret >= 0);
	return ret;
}

static int t_open(struct row *r, const char *name, int flags, mode_t mode)
{
	errno = 0;
	return (int)note(r, true, ank_open(P(r, name), flags, mode), "open %s 0%o", name,
			 (unsigned)flags);
}

static int t_close(struct row *r, int fd)
{
	return (int)note(r, true, ank_close(fd), "close %d", fd);
}

static ssize_t t_read(struct row *r, int fd, size_t n)
{
	static uint8_t buf[MAXFILE];
	if (n > sizeof(buf))
		n = sizeof(buf);
	ssize_t ret = ank_read(fd, buf, n);
	int e = ret < 0 ? errno : 0;
	put(r, "read %d %zu = %zd e%d data %016llx", fd, n, ret, e,
	    (unsigned long long)fnv(buf, ret > 0 ? (size_t)ret : 0));
	count(ret >= 0);
	return ret;
}

static ssize_t t_write(struct row *r, int fd, size_t n, unsigned seed)
{
	static uint8_t buf[MAXFILE];
	if (n > sizeof(buf))
		n = sizeof(buf);
	pattern(buf, n, seed);
	return (ssize_t)note(r, true, ank_write(fd, buf, n), "write %d %zu", fd, n);
}

static ssize_t t_pwrite(struct row *r, int fd, size_t n, off_t off, unsigned seed)
{
	static uint8_t buf[MAXFILE];
	if (n > sizeof(buf))
		n = sizeof(buf);
	pattern(buf, n, seed);
	return (ssize_t)note(r, true, ank_pwrite(fd, buf, n, off), "pwrite %d %zu @%lld", fd, n,
			     (long long)off);
}

static off_t t_lseek(struct row *r, int fd, off_t off, int whence)
{
	return (off_t)note(r, true, ank_lseek(fd, off, whence), "lseek %d %lld %d", fd,
			   (long long)off, whence);
}

static int t_ftruncate(struct row *r, int fd, off_t len)
{
	return (int)note(r, true, ank_ftruncate(fd, len), "ftruncate %d %lld", fd, (long long)len);
}

static int t_truncate(struct row *r, const char *name, off_t len)
{
	return (int)note(r, true, ank_truncate(P(r, name), len), "truncate %s %lld", name,
			 (long long)len);
}

static int t_unlink(struct row *r, const char *name)
{
	return (int)note(r, true, ank_unlink(P(r, name)), "unlink %s", name);
}

static int t_rename(struct row *r, const char *from, const char *to)
{
	return (int)note(r, true, ank_rename(P(r, from), P(r, to)), "rename %s %s", from, to);
}

static int t_link(struct row *r, const char *from, const char *to)
{
	return (int)note(r, true, ank_link(P(r, from), P(r, to)), "link %s %s", from, to);
}

static int t_mkdir(struct row *r, const char *name, mode_t mode)
{
	return (int)note(r, true, ank_mkdir(P(r, name), mode), "mkdir %s 0%o", name,
			 (unsigned)mode);
}

static int t_symlink(struct row *r, const char *target, const char *name)
{
	return (int)note(r, true, ank_symlink(target, P(r, name)), "symlink %s %s", target, name);
}

static int t_chmod(struct row *r, const char *name, mode_t mode)
{
	return (int)note(r, true, ank_chmod(P(r, name), mode), "chmod %s 0%o", name,
			 (unsigned)mode);
}

static int t_fchmod(struct row *r, int fd, mode_t mode)
{
	return (int)note(r, true, ank_fchmod(fd, mode), "fchmod %d 0%o", fd, (unsigned)mode);
}

static int t_chown(struct row *r, const char *name, uid_t u, gid_t g)
{
	return (int)note(r, true, ank_chown(P(r, name), u, g), "chown %s %d %d", name, (int)u,
			 (int)g);
}

static int t_fchown(struct row *r, int fd, uid_t u, gid_t g)
{
	return (int)note(r, true, ank_fchown(fd, u, g), "fchown %d %d %d", fd, (int)u, (int)g);
}

static int t_lchown(struct row *r, const char *name, uid_t u, gid_t g)
{
	return (int)note(r, true, ank_lchown(P(r, name), u, g), "lchown %s %d %d", name, (int)u,
			 (int)g);
}

/* Times far in the past, so that the observations show them (put_stat). */
static int t_utimens(struct row *r, const char *name, time_t at, time_t mt)
{
	struct timespec ts[2] = {{at, 1000}, {mt, 2000}};
	return (int)note(r, true, ank_utimensat(AT_FDCWD, P(r, name), ts, 0), "utimensat %s %lld %lld",
			 name, (long long)at, (long long)mt);
}

static int t_futimens(struct row *r, int fd, time_t at, time_t mt)
{
	struct timespec ts[2] = {{at, 3000}, {mt, UTIME_OMIT}};
	return (int)note(r, true, ank_futimens(fd, ts), "futimens %d %lld %lld", fd, (long long)at,
			 (long long)mt);
}

/* The *at calls: names relative to directory fd dfd. */
static int t_openat(struct row *r, int dfd, const char *name, int flags, mode_t mode)
{
	return (int)note(r, true, ank_openat(dfd, name, flags, mode), "openat %s 0%o", name,
			 (unsigned)flags);
}

static int t_mkdirat(struct row *r, int dfd, const char *name, mode_t mode)
{
	return (int)note(r, true, ank_mkdirat(dfd, name, mode), "mkdirat %s 0%o", name,
			 (unsigned)mode);
}

static int t_linkat(struct row *r, int dfd, const char *from, const char *to)
{
	return (int)note(r, true, ank_linkat(dfd, from, dfd, to, 0), "linkat %s %s", from, to);
}

static int t_renameat2(struct row *r, int dfd, const char *from, const char *to, unsigned flags)
{
	return (int)note(r, true, ank_renameat2(dfd, from, dfd, to, flags), "renameat2 %s %s %u",
			 from, to, flags);
}

static int t_symlinkat(struct row *r, const char *target, int dfd, const char *name)
{
	return (int)note(r, true, ank_symlinkat(target, dfd, name), "symlinkat %s %s", target,
			 name);
}

static int t_unlinkat(struct row *r, int dfd, const char *name, int flags)
{
	return (int)note(r, true, ank_unlinkat(dfd, name, flags), "unlinkat %s 0x%x", name,
			 (unsigned)flags);
}

static int t_fchmodat(struct row *r, int dfd, const char *name, mode_t mode, int flags)
{
	return (int)note(r, true, ank_fchmodat(dfd, name, mode, flags), "fchmodat %s 0%o 0x%x",
			 name, (unsigned)mode, (unsigned)flags);
}

static int t_fchownat(struct row *r, int dfd, const char *name, uid_t u, gid_t g, int flags)
{
	return (int)note(r, true, ank_fchownat(dfd, name, u, g, flags), "fchownat %s %d %d 0x%x",
			 name, (int)u, (int)g, (unsigned)flags);
}

/* Locks: kept by the server in its lock table, not in the p-log
 * (docs/RECOVERY.md, "Locks across a crash"), so not counted. */
static const char *lock_type(int type)
{
	return type == F_RDLCK ? "R" : type == F_WRLCK ? "W" : type == F_UNLCK ? "U" : "?";
}

static int t_setlk(struct row *r, int fd, int cmd, int type, off_t start, off_t len)
{
	struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = start,
	                   .l_len = len};
	return (int)note(r, false, ank_fcntl(fd, cmd, &fl), "fcntl %d %s %s %lld+%lld", fd,
			 cmd == F_SETLK ? "F_SETLK" : cmd == F_OFD_SETLK ? "F_OFD_SETLK" : "?",
			 lock_type(type), (long long)start, (long long)len);
}

/* The lock F_GETLK / F_OFD_GETLK reports for [start, start + len): its
 * type, range and pid ("self": this process, the holder of a POSIX lock;
 * -1 for an OFD lock, as Linux gives). */
static int t_getlk(struct row *r, int fd, int cmd, int type, off_t start, off_t len)
{
	struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = start,
	                   .l_len = len};
	int ret = ank_fcntl(fd, cmd, &fl);
	int e = ret < 0 ? errno : 0;
	char pid[24];
	if (fl.l_pid == getpid())
		snprintf(pid, sizeof(pid), "self");
	else
		snprintf(pid, sizeof(pid), "%d", (int)fl.l_pid);
	if (ret < 0 || fl.l_type == F_UNLCK)
		put(r, "fcntl %d %s %s %lld+%lld = %d e%d: %s", fd,
		    cmd == F_GETLK ? "F_GETLK" : "F_OFD_GETLK", lock_type(type), (long long)start,
		    (long long)len, ret, e, lock_type(fl.l_type));
	else
		put(r, "fcntl %d %s %s %lld+%lld = %d e%d: %s %lld+%lld pid %s", fd,
		    cmd == F_GETLK ? "F_GETLK" : "F_OFD_GETLK", lock_type(type), (long long)start,
		    (long long)len, ret, e, lock_type(fl.l_type), (long long)fl.l_start,
		    (long long)fl.l_len, pid);
	return ret;
}

static int t_flock(struct row *r, int fd, int op)
{
	int how = op & ~LOCK_NB;
	const char *name = how == LOCK_SH ? "LOCK_SH" : how == LOCK_EX ? "LOCK_EX"
			 : how == LOCK_UN ? "LOCK_UN" : "?";
	return (int)note(r, false, ank_flock(fd, op), "flock %d %s%s", fd, name,
			 op & LOCK_NB ? "|LOCK_NB" : "");
}

static int t_rmdir(struct row *r, const char *name)
{
	return (int)note(r, true, ank_rmdir(P(r, name)), "rmdir %s", name);
}

static int t_fsync(struct row *r, int fd)
{
	return (int)note(r, false, ank_fsync(fd), "fsync %d", fd);
}

static int t_sync(struct row *r)
{
	return (int)note(r, false, ank_sync(), "sync");
}

/* A file of n bytes (pattern seed), created, written and closed. */
static void t_file(struct row *r, const char *name, size_t n, unsigned seed)
{
	int fd = t_open(r, name, O_CREAT | O_EXCL | O_WRONLY, 0644);
	t_write(r, fd, n, seed);
	t_close(r, fd);
}

/* Keep fd as the row's k-th open fd. */
static int keep(struct row *r, unsigned k, int fd, int flags)
{
	r->fd[k] = fd;
	r->fdfl[k] = flags;
	return fd;
}

/* The fault marker exists (the armed server fired). */
static bool fired(void)
{
	return g_once[0] && access(g_once, F_OK) == 0;
}

/* Bracket the row's operation under test (MARK_OP) or its column step
 * (MARK_STEP): the logged number of the last request in between, and
 * whether an armed fault fired right there (after_done may fire after the
 * client saw DONE, so the marker is awaited, bounded). */
enum { MARK_OP, MARK_STEP };
static unsigned long g_mark_from;

static void mark_begin(struct row *r, int which)
{
	g_mark_from = g_run.logged;
	if (g_run.fault_row == r->idx && g_run.fault_mark == which && fired())
		g_run.fired_early = true;
}

static void mark_end(struct row *r, int which)
{
	g_run.tr->pass[which][r->idx] = g_run.logged > g_mark_from ? g_run.logged : 0;
	if (g_run.fault_row != r->idx || g_run.fault_mark != which)
		return;
	uint64_t t0 = svc_now_ms();
	while (!fired() && svc_now_ms() - t0 < 10000u * svc_slow())
		svc_sleep_ms(5);
	g_run.fired_in_op = fired() && !g_run.fired_early;
}
#define main_begin(r) mark_begin(r, MARK_OP)
#define main_end(r) mark_end(r, MARK_OP)

/* ---- the rows' scenarios ---------------------------------------------------------------- */

static void open_setup(struct row *r) { t_file(r, "f", 3000, 1); }
static void open_op(struct row *r)
{
	main_begin(r);
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	main_end(r);
}
static void f_rename(struct row *r) { t_rename(r, "f", "g"); }
static void f_unlink(struct row *r) { t_unlink(r, "f"); }

static void otrunc_setup(struct row *r) { t_file(r, "f", 5000, 2); }
static void otrunc_op(struct row *r)
{
	main_begin(r);
	keep(r, 0, t_open(r, "f", O_RDWR | O_TRUNC, 0), O_RDWR);
	main_end(r);
}

static void creat_setup(struct row *r) { (void)r; }
static void creat_op(struct row *r)
{
	main_begin(r);
	keep(r, 0, t_open(r, "f", O_CREAT | O_EXCL | O_RDWR, 0640), O_RDWR);
	main_end(r);
}

/* close: unsynced data written through the fd, then the fd closed. */
static void close_setup(struct row *r) { t_file(r, "f", 4000, 3); }
static void close_op(struct row *r)
{
	int fd = t_open(r, "f", O_RDWR, 0);
	t_pwrite(r, fd, 1000, 500, 4);
	t_read(r, fd, 300);
	main_begin(r);
	t_close(r, fd);
	main_end(r);
}

static void read_setup(struct row *r) { t_file(r, "f", 6000, 5); }
static void read_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	t_read(r, fd, 1000);
	main_begin(r);
	t_read(r, fd, 500);
	main_end(r);
}

/* write at an offset inside the file, extending it, while an O_APPEND fd
 * of the same file is left below the new end (a continued append must go
 * to the end: the fd's flags came back). */
static void write_setup(struct row *r) { t_file(r, "f", 2000, 6); }
static void write_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_lseek(r, fd, 1000, SEEK_SET);
	int ap = keep(r, 1, t_open(r, "f", O_WRONLY | O_APPEND, 0), O_WRONLY | O_APPEND);
	t_write(r, ap, 100, 7);
	main_begin(r);
	t_write(r, fd, 3000, 8);
	main_end(r);
}

static void pwrite_setup(struct row *r) { t_file(r, "f", 4000, 9); }
static void pwrite_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_read(r, fd, 100);
	main_begin(r);
	t_pwrite(r, fd, 2000, 3000, 10);
	main_end(r);
}

static void lseek_setup(struct row *r) { t_file(r, "f", 5000, 11); }
static void lseek_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	t_lseek(r, fd, 1234, SEEK_SET);
	main_begin(r);
	t_lseek(r, fd, 100, SEEK_CUR);
	main_end(r);
}

/* shrink, then grow (a zero-filled tail), the fd's offset beyond both */
static void ftrunc_setup(struct row *r) { t_file(r, "f", 6000, 12); }
static void ftrunc_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_lseek(r, fd, 5000, SEEK_SET);
	t_ftruncate(r, fd, 2500);
	main_begin(r);
	t_ftruncate(r, fd, 3500);
	main_end(r);
}

static void truncate_setup(struct row *r) { t_file(r, "f", 6000, 13); }
static void truncate_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_truncate(r, "f", 1000);
	main_end(r);
}

/* unlink of a closed file and of an open one (an orphan); later: the name
 * is reused by a rename, or recreated and unlinked again */
static void unlink_setup(struct row *r)
{
	t_file(r, "f", 3000, 14);
	t_file(r, "g", 1500, 15);
}
static void unlink_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_unlink(r, "g");
	main_begin(r);
	t_unlink(r, "f");
	main_end(r);
}
static void unlink_later_rename(struct row *r)
{
	t_file(r, "n", 700, 16);
	t_rename(r, "n", "f");
}
static void unlink_later_unlink(struct row *r)
{
	t_file(r, "f", 800, 17);
	t_unlink(r, "f");
}

/* rename over an existing target that stays open (an orphan) */
static void rename_setup(struct row *r)
{
	t_file(r, "f", 3000, 18);
	t_file(r, "t", 2000, 19);
}
static void rename_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	keep(r, 1, t_open(r, "t", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_rename(r, "f", "t");
	main_end(r);
}
static void rename_later_rename(struct row *r) { t_rename(r, "t", "u"); }
static void rename_later_unlink(struct row *r) { t_unlink(r, "t"); }

static void link_setup(struct row *r) { t_file(r, "f", 2500, 20); }
static void link_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_link(r, "f", "l");
	main_end(r);
}
static void link_later_rename(struct row *r) { t_rename(r, "l", "l2"); }

static void mkdir_setup(struct row *r) { (void)r; }
static void mkdir_op(struct row *r)
{
	main_begin(r);
	t_mkdir(r, "d", 0750);
	main_end(r);
	keep(r, 0, t_open(r, "d", O_RDONLY | O_DIRECTORY, 0), O_RDONLY);
}
static void d_rename(struct row *r) { t_rename(r, "d", "d2"); }
static void d_rmdir(struct row *r) { t_rmdir(r, "d"); }

/* rmdir of a directory that stays open; later: the name is reused by a
 * rename, or by a file created and unlinked */
static void rmdir_setup(struct row *r)
{
	t_mkdir(r, "d", 0755);
	t_mkdir(r, "e", 0700);
}
static void rmdir_op(struct row *r)
{
	keep(r, 0, t_open(r, "d", O_RDONLY | O_DIRECTORY, 0), O_RDONLY);
	main_begin(r);
	t_rmdir(r, "d");
	main_end(r);
}
static void rmdir_later_rename(struct row *r) { t_rename(r, "e", "d"); }
static void rmdir_later_unlink(struct row *r)
{
	t_file(r, "d", 600, 21);
	t_unlink(r, "d");
}

/* attributes: the file stays open through a second fd; the later rename
 * and unlink act on the name */
static void chmod_setup(struct row *r) { t_file(r, "f", 900, 22); }
static void chmod_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	t_chmod(r, "f", 0640);
	main_begin(r);
	t_chmod(r, "f", 04711);
	main_end(r);
}
static void fchmod_setup(struct row *r) { t_file(r, "f", 900, 23); }
static void fchmod_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_fchmod(r, fd, 0602);
	main_end(r);
}
static void chown_setup(struct row *r) { t_file(r, "f", 900, 24); }
static void chown_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_chmod(r, "f", 06775);
	main_begin(r);
	t_chown(r, "f", 4242, (gid_t)-1); /* and S_ISUID, S_ISGID go */
	main_end(r);
}
static void fchown_setup(struct row *r) { t_file(r, "f", 900, 25); }
static void fchown_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	main_begin(r);
	t_fchown(r, fd, (uid_t)-1, 4343);
	main_end(r);
}
static void utimens_setup(struct row *r) { t_file(r, "f", 900, 26); }
static void utimens_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_utimens(r, "f", 111111111, 222222222);
	main_end(r);
}
static void futimens_setup(struct row *r) { t_file(r, "f", 900, 27); }
static void futimens_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_utimens(r, "f", 123, 456);
	main_begin(r);
	t_futimens(r, fd, 333333333, 0);
	main_end(r);
}

/* symlink: a link to a file kept open through it; later the link is
 * renamed or unlinked (its target stays) */
static void symlink_setup(struct row *r) { t_file(r, "f", 900, 28); }
static void symlink_op(struct row *r)
{
	main_begin(r);
	t_symlink(r, "f", "s");
	main_end(r);
	keep(r, 0, t_open(r, "s", O_RDWR, 0), O_RDWR);
}
static void s_rename(struct row *r) { t_rename(r, "s", "s2"); }
static void s_unlink(struct row *r) { t_unlink(r, "s"); }

/* mknod: a socket, a device (its numbers survive) and a regular file, which
 * is then opened */
static void mknod_setup(struct row *r) { (void)r; }
static void mknod_op(struct row *r)
{
	main_begin(r);
	note(r, true, ank_mknod(P(r, "k"), S_IFSOCK | 0640, 0), "mknod k socket");
	note(r, true, ank_mknod(P(r, "c"), S_IFCHR | 0600, makedev(240, 9)), "mknod c 240:9");
	note(r, true, ank_mknod(P(r, "f"), S_IFREG | 0604, 0), "mknod f regular");
	main_end(r);
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	struct stat st;
	int rc = ank_stat(P(r, "c"), &st);
	put(r, "stat c = %d rdev %u:%u", rc, major(st.st_rdev), minor(st.st_rdev));
}
/* fallocate: the size grows and holes fill, which SEEK_HOLE shows */
static void falloc_setup(struct row *r) { t_file(r, "f", 3000, 21); }
static void falloc_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_pwrite(r, fd, 300, 40000, 22); /* a hole from block 1 to 9 */
	main_begin(r);
	note(r, true, ank_fallocate(fd, 0, 50000, 20000), "fallocate 0 50000 20000");
	note(r, true, ank_fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192), "fallocate keep 8192 8192");
	note(r, true, ank_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 53248, 8192),
	     "fallocate punch 53248 8192");
	note(r, true, ank_fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 500), "fallocate zero 1000 500");
	main_end(r);
	note(r, true, ank_lseek(fd, 4096, SEEK_HOLE), "lseek 4096 SEEK_HOLE");
	note(r, true, ank_lseek(fd, 5000, SEEK_DATA), "lseek 5000 SEEK_DATA");
	note(r, true, ank_lseek(fd, 12288, SEEK_HOLE), "lseek 12288 SEEK_HOLE");
}

/* F_SETFL: an fd's status flags are state a crash would lose */
static void setfl_setup(struct row *r) { t_file(r, "f", 5000, 23); }
static void setfl_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR | O_APPEND);
	t_lseek(r, fd, 100, SEEK_SET);
	main_begin(r);
	note(r, true, ank_fcntl(fd, F_SETFL, (long)O_APPEND), "fcntl F_SETFL O_APPEND");
	main_end(r);
	note(r, false, ank_fcntl(fd, F_GETFL), "fcntl F_GETFL");
}

/* extended attributes, by path and by fd, and an ACL that sets the mode */
static void xattr_setup(struct row *r) { t_file(r, "f", 900, 27); }
static void xattr_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	note(r, true, ank_setxattr(P(r, "f"), "user.a", "first", 5, 0), "setxattr user.a");
	/* user::rw- user:1000:rwx group::r-- mask::r-x other::--x */
	static const uint32_t acl[11] = {2,         6 << 16 | 1, UINT32_MAX, 7 << 16 | 2, 1000,
					 4 << 16 | 4, UINT32_MAX, 5 << 16 | 0x10, UINT32_MAX,
					 1 << 16 | 0x20, UINT32_MAX};
	main_begin(r);
	note(r, true, ank_setxattr(P(r, "f"), "user.b", "second", 6, XATTR_CREATE),
	     "setxattr user.b");
	note(r, true, ank_fsetxattr(fd, "user.a", "replaced", 8, XATTR_REPLACE), "fsetxattr user.a");
	note(r, true, ank_setxattr(P(r, "f"), "trusted.t", "", 0, 0), "setxattr trusted.t");
	note(r, true, ank_removexattr(P(r, "f"), "user.b"), "removexattr user.b");
	note(r, true, ank_setxattr(P(r, "f"), "system.posix_acl_access", acl, sizeof(acl), 0),
	     "setxattr system.posix_acl_access");
	main_end(r);
}

/* dup: two fds on one open file description share its offset and flags */
static void dup_setup(struct row *r) { t_file(r, "f", 900, 28); }
static void dup_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_lseek(r, fd, 100, SEEK_SET);
	main_begin(r);
	int fd2 = keep(r, 1, (int)note(r, true, ank_dup(fd), "dup %d", fd), O_RDWR);
	t_write(r, fd2, 50, 29);
	t_lseek(r, fd, 10, SEEK_CUR);
	note(r, true, ank_fcntl(fd2, F_SETFL, (long)O_APPEND), "fcntl F_SETFL O_APPEND");
	note(r, false, ank_fcntl(fd, F_GETFL), "fcntl F_GETFL");
	note(r, true, ank_fcntl(fd, F_SETFL, 0L), "fcntl F_SETFL 0"); /* for both */
	main_end(r);
	/* (then the observation's writes on both fds show one offset moving) */
}

/* the fd that moved the shared offset closes: the other keeps it */
static void dupclose_setup(struct row *r) { t_file(r, "f", 900, 30); }
static void dupclose_op(struct row *r)
{
	int fd = t_open(r, "f", O_RDWR, 0);
	t_lseek(r, fd, 100, SEEK_SET);
	main_begin(r);
	keep(r, 0, (int)note(r, true, ank_dup2(fd, fd + 7), "dup2 %d %d", fd, fd + 7), O_RDWR);
	t_write(r, fd, 300, 31);
	t_close(r, fd);
	main_end(r);
}

/* An attribute's value as a transcript shows it: printable bytes as they
 * are, others as \xHH, a value longer than 64 bytes as its hash. */
static const char *xattr_text(const uint8_t *v, ssize_t vn)
{
	static char text[4 * 64 + 1];
	size_t used = 0;
	text[0] = '\0';
	if (vn > 64)
		snprintf(text, sizeof(text), "data %016llx", (unsigned long long)fnv(v, (size_t)vn));
	for (ssize_t j = 0; vn <= 64 && j < vn; j++) {
		bool plain = v[j] >= 0x20 && v[j] < 0x7f && v[j] != '\\' && v[j] != '"';
		used += (size_t)(plain ? snprintf(text + used, sizeof(text) - used, "%c", v[j])
				       : snprintf(text + used, sizeof(text) - used, "\\x%02x", v[j]));
	}
	return text;
}

/* An fd's file's attributes: names (as listed) and values. */
static void put_xattrs(struct row *r, int fd)
{
	char names[512];
	uint8_t v[512];
	ssize_t n = ank_flistxattr(fd, names, sizeof(names));
	int e = n < 0 ? errno : 0;
	put(r, "  xattrs %zd e%d", n, e);
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		ssize_t vn = ank_fgetxattr(fd, names + off, v, sizeof(v));
		e = vn < 0 ? errno : 0;
		put(r, "    %s = %zd e%d \"%s\"", names + off, vn, e, xattr_text(v, vn));
	}
}

static void k_rename(struct row *r) { t_rename(r, "k", "k2"); }
static void k_unlink(struct row *r) { t_unlink(r, "k"); }

/* the *at calls, from the row's directory fd */
static void at_setup(struct row *r) { t_file(r, "x", 700, 31); }
static void at_op(struct row *r)
{
	int dfd = t_open(r, "", O_RDONLY | O_DIRECTORY, 0);
	main_begin(r);
	t_mkdirat(r, dfd, "d", 0750);
	keep(r, 0, t_openat(r, dfd, "f", O_CREAT | O_EXCL | O_RDWR, 0640), O_RDWR);
	t_linkat(r, dfd, "x", "h");
	t_renameat2(r, dfd, "x", "d", RENAME_EXCHANGE);
	t_symlinkat(r, "h", dfd, "s");
	main_end(r);
	t_close(r, dfd);
}

/* lchown of a symbolic link to a set-id file kept open through it: the
 * link's owner changes; the target's owner and set-id bits stay */
static void lchown_setup(struct row *r)
{
	t_file(r, "f", 900, 32);
	t_chmod(r, "f", 06755);
	t_symlink(r, "f", "s");
}
static void lchown_op(struct row *r)
{
	keep(r, 0, t_open(r, "s", O_RDWR, 0), O_RDWR);
	main_begin(r);
	t_lchown(r, "s", 4545, 4646);
	main_end(r);
}

/* fsetxattr / fremovexattr on fds kept open, one of them of a file
 * unlinked before (the replay finds it by inode); an XATTR_CREATE of a
 * name that exists is refused in between */
static void fxattr_setup(struct row *r)
{
	t_file(r, "f", 900, 33);
	t_file(r, "g", 600, 34);
	note(r, true, ank_setxattr(P(r, "f"), "user.a", "one", 3, 0), "setxattr f user.a");
	note(r, true, ank_setxattr(P(r, "f"), "user.b", "two", 3, 0), "setxattr f user.b");
}
static void fxattr_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	int orphan = keep(r, 1, t_open(r, "g", O_RDWR, 0), O_RDWR);
	t_unlink(r, "g");
	main_begin(r);
	note(r, true, ank_fsetxattr(fd, "user.c", "three", 5, XATTR_CREATE), "fsetxattr user.c");
	note(r, true, ank_fsetxattr(fd, "user.b", "zwei", 4, XATTR_REPLACE), "fsetxattr user.b");
	note(r, true, ank_fsetxattr(fd, "user.a", "x", 1, XATTR_CREATE), "fsetxattr user.a create");
	note(r, true, ank_fsetxattr(orphan, "trusted.o", "orphan", 6, 0),
	     "fsetxattr orphan trusted.o");
	note(r, true, ank_fremovexattr(fd, "user.a"), "fremovexattr user.a");
	main_end(r);
}

/* lsetxattr / lremovexattr: on a symbolic link (trusted. names; user.
 * ones are refused there, as Linux does) the link's own attributes,
 * on a file's name the file's */
static void lxattr_setup(struct row *r)
{
	t_file(r, "f", 900, 35);
	t_symlink(r, "f", "s");
	note(r, true, ank_lsetxattr(P(r, "s"), "trusted.r", "old", 3, 0), "lsetxattr s trusted.r");
	note(r, true, ank_setxattr(P(r, "f"), "user.r", "file", 4, 0), "setxattr f user.r");
}
static void lxattr_op(struct row *r)
{
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	note(r, true, ank_lsetxattr(P(r, "s"), "trusted.l", "link", 4, XATTR_CREATE),
	     "lsetxattr s trusted.l");
	note(r, true, ank_lsetxattr(P(r, "s"), "user.l", "refused", 7, 0), "lsetxattr s user.l");
	note(r, true, ank_lsetxattr(P(r, "f"), "user.f", "by name", 7, 0), "lsetxattr f user.f");
	note(r, true, ank_lremovexattr(P(r, "f"), "user.r"), "lremovexattr f user.r");
	note(r, true, ank_lremovexattr(P(r, "s"), "trusted.r"), "lremovexattr s trusted.r");
	main_end(r);
}

/* unlinkat of a file and of a directory (AT_REMOVEDIR), both kept open,
 * from the row's directory fd, closed after them; later: the names are
 * reused by renames, or made again and removed again */
static void unlinkat_setup(struct row *r)
{
	t_file(r, "f", 2000, 36);
	t_mkdir(r, "d", 0750);
	t_mkdir(r, "e", 0700);
}
static void unlinkat_op(struct row *r)
{
	int dfd = t_open(r, "", O_RDONLY | O_DIRECTORY, 0);
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	keep(r, 1, t_open(r, "d", O_RDONLY | O_DIRECTORY, 0), O_RDONLY);
	main_begin(r);
	t_unlinkat(r, dfd, "f", 0);
	t_unlinkat(r, dfd, "d", AT_REMOVEDIR);
	main_end(r);
	t_close(r, dfd);
}
static void unlinkat_later_rename(struct row *r)
{
	t_file(r, "n", 500, 37);
	t_rename(r, "n", "f");
	t_rename(r, "e", "d");
}
static void unlinkat_later_unlink(struct row *r)
{
	t_file(r, "f", 400, 38);
	t_unlink(r, "f");
	t_mkdir(r, "d", 0755);
	t_rmdir(r, "d");
}

/* fchmodat from the row's directory fd, closed after it: a file kept
 * open, a file with AT_SYMLINK_NOFOLLOW, the same through a symbolic link
 * to it, and the link itself with AT_SYMLINK_NOFOLLOW (refused, as Linux
 * does) */
static void fchmodat_setup(struct row *r)
{
	t_file(r, "f", 900, 39);
	t_file(r, "t", 700, 40);
	t_symlink(r, "t", "s");
}
static void fchmodat_op(struct row *r)
{
	int dfd = t_open(r, "", O_RDONLY | O_DIRECTORY, 0);
	keep(r, 0, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_fchmodat(r, dfd, "f", 02750, 0);
	t_fchmodat(r, dfd, "t", 0606, AT_SYMLINK_NOFOLLOW);
	t_fchmodat(r, dfd, "s", 0700, AT_SYMLINK_NOFOLLOW);
	t_fchmodat(r, dfd, "s", 04604, 0);
	main_end(r);
	t_close(r, dfd);
}

/* fchownat from the row's directory fd, closed after it: a set-id file
 * kept open (the bits go), a symbolic link itself (AT_SYMLINK_NOFOLLOW)
 * and its target through it */
static void fchownat_setup(struct row *r)
{
	t_file(r, "f", 900, 41);
	t_chmod(r, "f", 06775);
	t_file(r, "t", 700, 42);
	t_symlink(r, "t", "s");
}
static void fchownat_op(struct row *r)
{
	int dfd = t_open(r, "", O_RDONLY | O_DIRECTORY, 0);
	keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	main_begin(r);
	t_fchownat(r, dfd, "f", 5151, 5252, 0);
	t_fchownat(r, dfd, "s", 5353, (gid_t)-1, AT_SYMLINK_NOFOLLOW);
	t_fchownat(r, dfd, "s", (uid_t)-1, 5454, 0);
	main_end(r);
	t_close(r, dfd);
}

/* record locks on two fds kept open: a POSIX write lock with a hole
 * unlocked in it (two locks left) and an OFD read lock; then a logged
 * read, so that the fault points fire with the locks held. h: a second
 * name, which no column step touches, for the observation (observe_locks) */
static void lock_setup(struct row *r)
{
	t_file(r, "f", 4000, 43);
	t_link(r, "f", "h");
}
static void lock_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	int rd = keep(r, 1, t_open(r, "f", O_RDONLY, 0), O_RDONLY);
	main_begin(r);
	t_setlk(r, fd, F_SETLK, F_WRLCK, 100, 200);
	t_setlk(r, fd, F_SETLK, F_UNLCK, 150, 50);
	t_setlk(r, rd, F_OFD_SETLK, F_RDLCK, 1000, 500);
	t_read(r, rd, 500);
	main_end(r);
}

/* flock LOCK_EX (a conversion from LOCK_SH) on an fd kept open, then a
 * logged read */
static void flock_setup(struct row *r)
{
	t_file(r, "f", 3000, 44);
	t_link(r, "f", "h");
}
static void flock_op(struct row *r)
{
	int fd = keep(r, 0, t_open(r, "f", O_RDWR, 0), O_RDWR);
	t_flock(r, fd, LOCK_SH);
	main_begin(r);
	t_flock(r, fd, LOCK_EX);
	t_read(r, fd, 300);
	main_end(r);
}

/* The locks of the lock rows, from a new open file description of the
 * file (opened by h): what F_GETLK (the process's own POSIX locks do not
 * conflict with it) and F_OFD_GETLK find over given ranges, and whether
 * flock refuses the new description (which lets go of what it got). Its
 * close releases the process's POSIX locks on the file, as any close of
 * one of its fds does (the listing's opens too): it runs first, before
 * the listing. */
static void observe_locks(struct row *r)
{
	int fd = t_open(r, "h", O_RDONLY, 0);
	t_getlk(r, fd, F_GETLK, F_WRLCK, 0, 0);
	t_getlk(r, fd, F_OFD_GETLK, F_WRLCK, 0, 150);
	t_getlk(r, fd, F_OFD_GETLK, F_WRLCK, 150, 50);
	t_getlk(r, fd, F_OFD_GETLK, F_WRLCK, 150, 850);
	t_getlk(r, fd, F_OFD_GETLK, F_WRLCK, 1000, 0);
	t_getlk(r, fd, F_OFD_GETLK, F_RDLCK, 0, 0);
	bool got = t_flock(r, fd, LOCK_EX | LOCK_NB) == 0;
	got |= t_flock(r, fd, LOCK_SH | LOCK_NB) == 0;
	if (got)
		t_flock(r, fd, LOCK_UN);
	t_close(r, fd);
}

#define ROW(n, s, o, lr, lu, fd)                                                          \
	{.name = n, .setup = s, .op = o, .later_rename = lr, .later_unlink = lu, .opfd = fd}
#define ROW_OBS(n, s, o, lr, lu, fd, ob)                                                  \
	{.name = n, .setup = s, .op = o, .later_rename = lr, .later_unlink = lu, .opfd = fd,  \
	 .observe = ob}
static const struct row row_defs[NROWS] = {
	[R_OPEN] = ROW("open", open_setup, open_op, f_rename, f_unlink, 0),
	[R_OTRUNC] = ROW("otrunc", otrunc_setup, otrunc_op, f_rename, f_unlink, 0),
	[R_CREAT] = ROW("creat", creat_setup, creat_op, f_rename, f_unlink, 0),
	[R_CLOSE] = ROW("close", close_setup, close_op, f_rename, f_unlink, -1),
	[R_READ] = ROW("read", read_setup, read_op, f_rename, f_unlink, 0),
	[R_WRITE] = ROW("write", write_setup, write_op, f_rename, f_unlink, 0),
	[R_PWRITE] = ROW("pwrite", pwrite_setup, pwrite_op, f_rename, f_unlink, 0),
	[R_LSEEK] = ROW("lseek", lseek_setup, lseek_op, f_rename, f_unlink, 0),
	[R_FTRUNC] = ROW("ftrunc", ftrunc_setup, ftrunc_op, f_rename, f_unlink, 0),
	[R_TRUNCATE] = ROW("truncate", truncate_setup, truncate_op, f_rename, f_unlink, -1),
	[R_UNLINK] = ROW("unlink", unlink_setup, unlink_op, unlink_later_rename,
	                 unlink_later_unlink, -1),
	[R_RENAME] = ROW("rename", rename_setup, rename_op, rename_later_rename,
	                 rename_later_unlink, -1),
	[R_LINK] = ROW("link", link_setup, link_op, link_later_rename, f_unlink, -1),
	[R_MKDIR] = ROW("mkdir", mkdir_setup, mkdir_op, d_rename, d_rmdir, -1),
	[R_RMDIR] = ROW("rmdir", rmdir_setup, rmdir_op, rmdir_later_rename, rmdir_later_unlink, -1),
	[R_CHMOD] = ROW("chmod", chmod_setup, chmod_op, f_rename, f_unlink, -1),
	[R_FCHMOD] = ROW("fchmod", fchmod_setup, fchmod_op, f_rename, f_unlink, 0),
	[R_CHOWN] = ROW("chown", chown_setup, chown_op, f_rename, f_unlink, -1),
	[R_FCHOWN] = ROW("fchown", fchown_setup, fchown_op, f_rename, f_unlink, 0),
	[R_UTIMENS] = ROW("utimens", utimens_setup, utimens_op, f_rename, f_unlink, -1),
	[R_FUTIMENS] = ROW("futimens", futimens_setup, futimens_op, f_rename, f_unlink, 0),
	[R_SYMLINK] = ROW("symlink", symlink_setup, symlink_op, s_rename, s_unlink, -1),
	[R_AT] = ROW("at", at_setup, at_op, f_rename, f_unlink, -1),
	[R_MKNOD] = ROW("mknod", mknod_setup, mknod_op, k_rename, k_unlink, -1),
	[R_FALLOC] = ROW("fallocate", falloc_setup, falloc_op, f_rename, f_unlink, 0),
	[R_SETFL] = ROW("setfl", setfl_setup, setfl_op, f_rename, f_unlink, 0),
	[R_XATTR] = ROW("xattr", xattr_setup, xattr_op, f_rename, f_unlink, 0),
	[R_DUP] = ROW("dup", dup_setup, dup_op, f_rename, f_unlink, 1),
	[R_DUPCLOSE] = ROW("dupclose", dupclose_setup, dupclose_op, f_rename, f_unlink, 0),
	[R_LCHOWN] = ROW("lchown", lchown_setup, lchown_op, s_rename, s_unlink, -1),
	[R_FXATTR] = ROW("fxattr", fxattr_setup, fxattr_op, f_rename, f_unlink, 0),
	[R_LXATTR] = ROW("lxattr", lxattr_setup, lxattr_op, s_rename, s_unlink, -1),
	[R_UNLINKAT] = ROW("unlinkat", unlinkat_setup, unlinkat_op, unlinkat_later_rename,
	                   unlinkat_later_unlink, -1),
	[R_FCHMODAT] = ROW("fchmodat", fchmodat_setup, fchmodat_op, f_rename, f_unlink, -1),
	[R_FCHOWNAT] = ROW("fchownat", fchownat_setup, fchownat_op, f_rename, f_unlink, -1),
	[R_LOCK] = ROW_OBS("lock", lock_setup, lock_op, f_rename, f_unlink, 0, observe_locks),
	[R_FLOCK] = ROW_OBS("flock", flock_setup, flock_op, f_rename, f_unlink, 0, observe_locks),
};
#undef ROW
#undef ROW_OBS

/* ---- observations ----------------------------------------------------------------------- */

static char type_char(mode_t m)
{
	return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISSOCK(m) ? 's'
	     : S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b' : S_ISFIFO(m) ? 'p' : '?';
}

static void put_stat(struct row *r, const char *what, int ret, int e, const struct stat *st)
{
	if (ret < 0) {
		put(r, "%s = %d e%d", what, ret, e);
		return;
	}
	char ino[32] = "", times[128] = "";
	snprintf(ino, sizeof(ino), " ino %llu", (unsigned long long)st->st_ino);
	/* times a row set explicitly (long past); others are the clock's */
	if (st->st_atim.tv_sec < 1000000000)
		snprintf(times, 48, " atime %lld.%09ld", (long long)st->st_atim.tv_sec,
			 st->st_atim.tv_nsec);
	if (st->st_mtim.tv_sec < 1000000000)
		snprintf(times + strlen(times), 48, " mtime %lld.%09ld", (long long)st->st_mtim.tv_sec,
			 st->st_mtim.tv_nsec);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		snprintf(times + strlen(times), 32, " rdev %u:%u", major(st->st_rdev),
			 minor(st->st_rdev));
	put(r, "%s = %c %04o %u:%u size %lld nlink %lu%s%s", what, type_char(st->st_mode),
	    (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
	    (long long)st->st_size, (unsigned long)st->st_nlink, ino, times);
}

/* Full contents through fd: length and hash (the fd number only when it
 * is one the row keeps: a listing must read the same in any mode). */
static void put_contents(struct row *r, int fd, bool kept)
{
	static uint8_t buf[MAXFILE + 1];
	ssize_t n = ank_pread(fd, buf, sizeof(buf), 0);
	int e = n < 0 ? errno : 0;
	if (kept)
		put(r, "  pread %d all = %zd e%d data %016llx", fd, n, e,
		    (unsigned long long)fnv(buf, n > 0 ? (size_t)n : 0));
	else
		put(r, "  contents = %zd e%d data %016llx", n, e,
		    (unsigned long long)fnv(buf, n > 0 ? (size_t)n : 0));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The extended attributes of a name itself (a symbolic link's own, not
 * its target's), sorted by name, with their values; nothing when there
 * are none. */
static void put_lxattrs(struct row *r, const char *path, const char *name)
{
	char list[1024];
	errno = 0;
	ssize_t n = ank_llistxattr(path, list, sizeof(list));
	if (n < 0) {
		put(r, "  llistxattr %s = %zd e%d", name, n, errno);
		return;
	}
	const char *names[64];
	unsigned k = 0;
	for (ssize_t off = 0; off < n && k < 64; off += (ssize_t)strlen(list + off) + 1)
		names[k++] = list + off;
	qsort(names, k, sizeof(names[0]), cmp_str);
	for (unsigned i = 0; i < k; i++) {
		uint8_t v[512];
		errno = 0;
		ssize_t vn = ank_lgetxattr(path, names[i], v, sizeof(v));
		int e = vn < 0 ? errno : 0;
		put(r, "  xattr %s %s = %zd e%d \"%s\"", name, names[i], vn, e, xattr_text(v, vn));
	}
}

struct entry {
	char name[NAME_MAX + 1];
	ino_t ino;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Sorted listing of a directory with every entry's stat, hard-link group
 * and (regular files) contents; fills ents, returns their count. */
static unsigned list_dir(struct row *r, const char *dirpath, struct entry *ents)
{
	errno = 0;
	ANK_DIR *d = ank_opendir(dirpath);
	if (!d) {
		put(r, "opendir %s = NULL e%d", dirpath, errno);
		return 0;
	}
	unsigned n = 0, extra = 0;
	struct dirent *de;
	errno = 0;
	while ((de = ank_readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n < MAXNAMES)
			snprintf(ents[n++].name, sizeof(ents[0].name), "%s", de->d_name);
		else
			extra++;
	}
	int e = errno;
	int cret = ank_closedir(d);
	qsort(ents, n, sizeof(ents[0]), cmp_entry);
	char names[MAXNAMES * 16 + 32] = "";
	size_t used = 0;
	for (unsigned i = 0; i < n && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, " %s", ents[i].name);
	put(r, "ls %s:%s (+%u) e%d closedir %d", dirpath, names, extra, e, cret);
	for (unsigned i = 0; i < n; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", strcmp(dirpath, "/") ? dirpath : "", ents[i].name);
		struct stat st;
		int ret = ank_lstat(p, &st);
		int se = ret < 0 ? errno : 0;
		ents[i].ino = ret == 0 ? st.st_ino : 0;
		char what[PATH_MAX + 16];
		snprintf(what, sizeof(what), "  lstat %s", ents[i].name);
		put_stat(r, what, ret, se, &st);
		if (ret == 0 && S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tn = ank_readlink(p, target, sizeof(target) - 1);
			put(r, "  readlink %s = %zd \"%.*s\"", ents[i].name, tn,
			    tn > 0 ? (int)tn : 0, target);
		}
		if (ret == 0)
			put_lxattrs(r, p, ents[i].name);
		for (unsigned j = 0; j < i; j++)
			if (ret == 0 && ents[j].ino == st.st_ino)
				put(r, "  %s same inode as %s", ents[i].name, ents[j].name);
		if (ret == 0 && S_ISREG(st.st_mode) && r->idx != GLOBAL) {
			int fd = ank_open(p, O_RDONLY);
			if (fd < 0) {
				put(r, "  open %s = %d e%d", ents[i].name, fd, errno);
			} else {
				put_contents(r, fd, false);
				ank_close(fd);
			}
		}
	}
	return n;
}

/* Everything the application can see of one row, then continue working on
 * its fds and close them. */
static void observe_row(struct row *r)
{
	struct entry ents[MAXNAMES];
	if (r->observe)
		r->observe(r);
	unsigned n = list_dir(r, P(r, ""), ents);
	for (unsigned k = 0; k < MAXFD; k++) {
		int fd = r->fd[k];
		if (fd < 0)
			continue;
		off_t cur = ank_lseek(fd, 0, SEEK_CUR);
		int e = cur < 0 ? errno : 0;
		put(r, "fd[%u] %d: offset %lld e%d flags 0%o", k, fd, (long long)cur, e,
		    (unsigned)ank_fcntl(fd, F_GETFL));
		struct stat st;
		int ret = ank_fstat(fd, &st);
		e = ret < 0 ? errno : 0;
		put_stat(r, "  fstat", ret, e, &st);
		if (ret == 0) {
			const char *name = "(no name)";
			for (unsigned i = 0; i < n; i++)
				if (ents[i].ino == st.st_ino)
					name = ents[i].name;
			put(r, "  refers to %s", name);
			put_xattrs(r, fd);
			if (S_ISREG(st.st_mode)) {
				put_contents(r, fd, true);
				/* where its holes are (then the offset back) */
				off_t h = ank_lseek(fd, 0, SEEK_HOLE), dt = ank_lseek(fd, h, SEEK_DATA);
				put(r, "  first hole %lld, data after it %lld", (long long)h,
				    (long long)dt);
				ank_lseek(fd, cur, SEEK_SET);
			}
		}
	}
	/* carry on: a write on every writable fd, a read on the others */
	for (unsigned k = 0; k < MAXFD; k++) {
		int fd = r->fd[k];
		if (fd < 0)
			continue;
		struct stat st;
		if (ank_fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			put(r, "fd[%u] directory nlink %lu", k, (unsigned long)st.st_nlink);
		} else if ((r->fdfl[k] & O_ACCMODE) != O_RDONLY) {
			t_write(r, fd, 5, 100 + (unsigned)k);
		} else {
			t_read(r, fd, 100);
		}
		off_t cur = ank_lseek(fd, 0, SEEK_CUR);
		int e = cur < 0 ? errno : 0;
		put(r, "fd[%u] then offset %lld e%d", k, (long long)cur, e);
		int ret = ank_fstat(fd, &st);
		e = ret < 0 ? errno : 0;
		put_stat(r, "  fstat", ret, e, &st);
		if (ret == 0 && S_ISREG(st.st_mode))
			put_contents(r, fd, true);
	}
	for (unsigned k = 0; k < MAXFD; k++)
		if (r->fd[k] >= 0) {
			t_close(r, r->fd[k]);
			r->fd[k] = -1;
		}
	/* and the names as they are now */
	list_dir(r, P(r, ""), ents);
}

/* ---- running a column -------------------------------------------------------------------- */

static bool restarted(const struct svc_status *st, long long old_restarts)
{
	return st->restarts > old_restarts && st->server_pid > 0 && !strcmp(st->state, "running");
}

/* SIGKILL the serving server and wait until a new one serves. */
static int kill_server_and_wait(void)
{
	struct svc_status st;
	if (svc_status(&g_svc, &st) < 0 || st.server_pid <= 0) {
		printf("no server to kill: %s\n", st.json);
		return -1;
	}
	long long old = st.server_pid;
	if (kill((pid_t)old, SIGKILL) < 0) {
		printf("kill %lld: %s\n", old, strerror(errno));
		return -1;
	}
	if (svc_status_wait(&g_svc, &st, 30000 * svc_slow(), restarted, st.restarts) < 0 ||
	    st.server_pid == old) {
		printf("no restart seen: %s\n", st.json);
		return -1;
	}
	return 0;
}

/* Does the serve command accept --commit-ms? */
static bool have_commit_ms(void)
{
	static int known = -1;
	if (known < 0) {
		char out[4096];
		svc_cmd_quiet(out, sizeof(out), 10000 * svc_slow(), "serve", "--help", (char *)NULL);
		known = strstr(out, "--commit-ms") != NULL;
	}
	return known;
}

struct run_opts {
	enum column col;
	const char *mode;      /* recovery mode */
	enum kill_kind kill;
	const char *point;     /* K_FAULT: the fault point */
	int fault_row;         /* K_FAULT: whose requests */
	int mark;              /* K_FAULT: MARK_OP or MARK_STEP */
	unsigned long pass;    /* K_FAULT: the logged request number to fire at */
};

/* One run of a column on a fresh service; the transcript goes to *out.
 * The service is stopped (cleanly) and checked, but left for the caller to
 * destroy (its log may be wanted). */
static void run_column(const struct run_opts *o, struct transcript *out)
{
	tr_free(out);
	memset(&g_run, 0, sizeof(g_run));
	g_run.tr = out;
	g_run.fault_row = o->kill == K_FAULT ? o->fault_row : -1;
	g_run.fault_mark = o->mark;
	memcpy(g_rows, row_defs, sizeof(g_rows));
	for (unsigned i = 0; i < NROWS; i++) {
		g_rows[i].idx = (int)i;
		for (unsigned k = 0; k < MAXFD; k++)
			g_rows[i].fd[k] = -1;
	}

	setenv("ANK_TEST_RECOVERY", o->mode, 1);
	/* Background commits: every 50 ms in their column, none in the others
	 * (a commit in the middle would change the state a column stands for). */
	char opts[256];
	snprintf(opts, sizeof(opts), "%s%s", g_serve_opts,
	         !have_commit_ms() ? ""
	         : o->col == C_COMMIT ? " --commit-ms 50" : " --commit-ms 3600000");
	setenv("ANK_TEST_SERVE_OPTS", opts, 1);
	unlink(g_once);
	if (o->kill == K_FAULT) {
		char spec[64];
		snprintf(spec, sizeof(spec), "%s:%lu", o->point, o->pass);
		setenv("ANANKE_FAULT", spec, 1);
		setenv("ANANKE_FAULT_ONCE", g_once, 1);
	} else {
		unsetenv("ANANKE_FAULT");
		unsetenv("ANANKE_FAULT_ONCE");
	}
	assert_int_equal(svc_start(&g_svc, "256M", WORKERS), 0);
	unsetenv("ANANKE_FAULT");
	unsetenv("ANANKE_FAULT_ONCE");
	if (ank_mount(g_svc.sock) != 0) {
		printf("ank_mount: errno %d\n", errno);
		svc_dump_log(&g_svc, 100);
		fail();
	}

	/* setup: durable before the operations */
	for (unsigned i = 0; i < NROWS; i++) {
		struct row *r = &g_rows[i];
		int ret = ank_mkdir(P(r, ""), 0755);
		put(r, "mkdir /%s = %d", r->name, ret);
		count(ret == 0);
		r->setup(r);
	}
	t_sync(&g_global);

	/* the operations, each followed by the column's step */
	for (unsigned i = 0; i < NROWS; i++) {
		struct row *r = &g_rows[i];
		r->op(r);
		mark_begin(r, MARK_STEP);
		switch (o->col) {
		case C_BEFORE:
		case C_COMMIT:
			break;
		case C_FSYNC:
			if (r->opfd >= 0)
				t_fsync(r, r->fd[r->opfd]);
			else
				t_sync(r);
			break;
		case C_CLOSE:
			for (unsigned k = 0; k < MAXFD; k++)
				if (r->fd[k] >= 0) {
					t_close(r, r->fd[k]);
					r->fd[k] = -1;
				}
			break;
		case C_RENAME:
			r->later_rename(r);
			break;
		case C_UNLINK:
			r->later_unlink(r);
			break;
		case NCOLS:
			break;
		}
		mark_end(r, MARK_STEP);
	}
	if (o->col == C_COMMIT)
		svc_sleep_ms(200 * svc_slow()); /* four commit intervals */

	if (o->kill == K_FAULT) {
		if (!fired() || g_run.fired_early || !g_run.fired_in_op) {
			printf("fault %s:%lu did not fire in the %s of row %s (fired %d, "
			       "early %d)\n",
			       o->point, o->pass, o->mark == MARK_OP ? "operation" : "step",
			       row_defs[o->fault_row].name, fired(), g_run.fired_early);
			svc_dump_log(&g_svc, 30);
			fail();
		}
		/* The aborted server is replaced before the next one is killed
		 * (after_done may fire after the last operation returned). */
		struct svc_status st;
		if (svc_status_wait(&g_svc, &st, 30000 * svc_slow(), restarted, 0) < 0) {
			printf("no restart after the fault: %s\n", st.json);
			fail();
		}
	}
	if (o->kill != K_NONE)
		assert_int_equal(kill_server_and_wait(), 0);

	/* what the application sees now */
	int probe[4];
	for (unsigned k = 0; k < 4; k++) {
		char name[16];
		snprintf(name, sizeof(name), "probe%u", k);
		probe[k] = t_open(&g_global, name, O_CREAT | O_EXCL | O_RDWR, 0600);
	}
	for (unsigned k = 0; k < 4; k++) {
		char name[16];
		snprintf(name, sizeof(name), "probe%u", k);
		t_close(&g_global, probe[k]);
		t_unlink(&g_global, name);
	}
	for (unsigned i = 0; i < NROWS; i++)
		observe_row(&g_rows[i]);
	struct entry ents[MAXNAMES];
	list_dir(&g_global, "/", ents);

	if (o->kill == K_SIGKILL) {
		struct svc_status st;
		if (svc_status(&g_svc, &st) == 0) {
			const char *rec = strstr(st.json, "\"recoveries\"");
			printf("  %s\n", rec ? rec : st.json);
		}
	}
	assert_int_equal(ank_unmount(), 0);
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
	out->valid = true;
}

/* Inode numbers replaced by the order of their first appearance ("ino #3"),
 * over all rows in order: the identities stay, the numbers go. */
struct ino_map {
	unsigned long long ino[256];
	unsigned n;
};

static char *canon_inos(const char *s, struct ino_map *m)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	const char *p = s;
	for (;;) {
		const char *q = strstr(p, " ino ");
		size_t chunk = q ? (size_t)(q - p) + 5 : strlen(p);
		memcpy(out + len, p, chunk);
		len += chunk;
		if (!q)
			break;
		char *end;
		unsigned long long v = strtoull(q + 5, &end, 10);
		unsigned k = 0;
		while (k < m->n && m->ino[k] != v)
			k++;
		if (k == m->n && m->n < 256)
			m->ino[m->n++] = v;
		char lab[24];
		int ll = snprintf(lab, sizeof(lab), "#%u", k);
		if (len + (size_t)ll + strlen(end) + 1 > cap) {
			cap = len + (size_t)ll + strlen(end) + 1;
			char *t = realloc(out, cap);
			if (!t)
				abort();
			out = t;
		}
		memcpy(out + len, lab, (size_t)ll);
		len += (size_t)ll;
		p = end;
	}
	out[len] = '\0';
	return out;
}

/* Print the first difference of every row; the number of rows that differ.
 * canon: compare inode identities, not numbers (a file created after a
 * crash may get another free inode number than in the fault-free run). */
static unsigned compare(const struct transcript *ref, const struct transcript *got,
                        const char *label, bool canon, bool *row_differs)
{
	unsigned bad = 0;
	struct ino_map mref = {.n = 0}, mgot = {.n = 0};
	for (unsigned i = 0; i <= NROWS; i++) {
		const char *ra = ref->row[i].p ? ref->row[i].p : "";
		const char *rb = got->row[i].p ? got->row[i].p : "";
		char *ca = canon ? canon_inos(ra, &mref) : NULL;
		char *cb = canon ? canon_inos(rb, &mgot) : NULL;
		const char *a = canon ? ca : ra, *b = canon ? cb : rb;
		bool differs = strcmp(a, b) != 0;
		if (row_differs)
			row_differs[i] = differs;
		unsigned line = 1;
		while (differs) {
			const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
			size_t la = ea ? (size_t)(ea - a) : strlen(a);
			size_t lb = eb ? (size_t)(eb - b) : strlen(b);
			if (la != lb || memcmp(a, b, la)) {
				if (bad < 5)
					printf("  [%s] row %s, line %u:\n    expected: %.*s\n"
					       "    got:      %.*s\n",
					       label, i < NROWS ? row_defs[i].name : "(global)", line,
					       (int)la, a, (int)lb, b);
				bad++;
				break;
			}
			a += la + (ea ? 1 : 0);
			b += lb + (eb ? 1 : 0);
			line++;
		}
		free(ca);
		free(cb);
	}
	if (bad > 5)
		printf("  [%s] ... %u rows differ in all\n", label, bad);
	return bad;
}

static void destroy_service(void)
{
	svc_destroy(&g_svc);
	memset(&g_svc, 0, sizeof(g_svc));
}

/* The fault-free transcript of a column (mode ananke, no kill). */
static const struct transcript *reference(enum column col)
{
	if (!g_ref[col].valid) {
		struct run_opts o = {.col = col, .mode = "ananke", .kill = K_NONE};
		run_column(&o, &g_ref[col]);
		destroy_service();
		if (getenv("ANK_TEST_MATRIX_DUMP")) /* to read what is compared */
			for (unsigned i = 0; i <= NROWS; i++)
				printf("== %s, row %s\n%s", col_names[col],
				       i < NROWS ? row_defs[i].name : "(global)",
				       g_ref[col].row[i].p ? g_ref[col].row[i].p : "");
	}
	return &g_ref[col];
}

/* The first listing of a row in its transcript (the "ls" line and the
 * indented lines under it): names, stats and contents as the observations
 * found them, before anything else touched them. Malloc'd. */
static char *listing_block(const char *s)
{
	const char *b = s;
	while (b && strncmp(b, "ls ", 3)) {
		b = strchr(b, '\n');
		b = b ? b + 1 : NULL;
	}
	if (!b)
		return strdup("");
	const char *e = strchr(b, '\n');
	while (e && !strncmp(e + 1, "  ", 2))
		e = strchr(e + 1, '\n');
	return strndup(b, e ? (size_t)(e - b) : strlen(b));
}

/* Compare the first listings of every row; the number of rows whose
 * listing differs (differs[] per row when not NULL; printed when print). */
static unsigned compare_listings(const struct transcript *ref, const struct transcript *got,
                                 const char *label, bool print, bool *differs)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < NROWS; i++) {
		char *a = listing_block(ref->row[i].p ? ref->row[i].p : "");
		char *b = listing_block(got->row[i].p ? got->row[i].p : "");
		if (!a || !b)
			abort();
		bool d = strcmp(a, b) != 0;
		if (differs)
			differs[i] = d;
		if (d && print)
			printf("  [%s] row %s, listing:\n%s\n  expected:\n%s\n", label,
			       row_defs[i].name, b, a);
		bad += d;
		free(a);
		free(b);
	}
	return bad;
}

static void sigkill_column(enum column col)
{
	if (col == C_COMMIT && !have_commit_ms()) {
		printf("`ananke serve` has no --commit-ms option: background commit column "
		       "skipped\n");
		skip();
	}
	const struct transcript *ref = reference(col);
	struct run_opts o = {.col = col, .mode = "ananke", .kill = K_SIGKILL};
	printf("-- %s, SIGKILL\n", col_names[col]);
	run_column(&o, &g_got);
	unsigned bad = compare(ref, &g_got, col_names[col], false, NULL);
	if (bad)
		svc_dump_log(&g_svc, 60);
	destroy_service();
	assert_int_equal(bad, 0);

	if (col == C_COMMIT) {
		/* The background commit made every row durable: without recovery
		 * the names, sizes and contents on disk are those of the
		 * fault-free run (only the fds are lost). */
		o.mode = "none";
		printf("-- %s, SIGKILL, recovery none: the disk alone\n", col_names[col]);
		run_column(&o, &g_got);
		destroy_service();
		assert_int_equal(compare_listings(ref, &g_got, "after-commit, none", true, NULL), 0);
	}
}

static void before_fsync_sigkill(void **state) { (void)state; sigkill_column(C_BEFORE); }
static void after_fsync_sigkill(void **state) { (void)state; sigkill_column(C_FSYNC); }
static void after_commit_sigkill(void **state) { (void)state; sigkill_column(C_COMMIT); }
static void after_close_sigkill(void **state) { (void)state; sigkill_column(C_CLOSE); }
static void after_rename_sigkill(void **state) { (void)state; sigkill_column(C_RENAME); }
static void after_unlink_sigkill(void **state) { (void)state; sigkill_column(C_UNLINK); }

static const char *const fault_points[3] = {"plog_after_op", "plog_after_desc", "after_done"};

/* One run with a fault in the given row's operation or step; 1 when the
 * transcript differs from the reference. */
static unsigned fault_run(enum column col, const char *point, int row, int mark)
{
	const struct transcript *ref = reference(col);
	struct run_opts o = {.col = col, .mode = "ananke", .kill = K_FAULT, .point = point,
	                     .fault_row = row, .mark = mark, .pass = ref->pass[mark][row]};
	char label[128];
	snprintf(label, sizeof(label), "%s, %s:%lu in %s of %s", col_names[col], point, o.pass,
	         mark == MARK_OP ? "the operation" : "the step", row_defs[row].name);
	printf("-- fault %s\n", label);
	run_column(&o, &g_got);
	unsigned bad = compare(ref, &g_got, label, true, NULL);
	if (bad)
		svc_dump_log(&g_svc, 40);
	destroy_service();
	return bad ? 1 : 0;
}

/* Every row, every careful-update point, the fault in the operation. */
static void before_fsync_fault_points(void **state)
{
	(void)state;
	unsigned failures = 0, runs = 0;
	for (unsigned p = 0; p < 3; p++)
		for (int i = 0; i < NROWS; i++, runs++)
			failures += fault_run(C_BEFORE, fault_points[p], i, MARK_OP);
	printf("before-fsync fault runs: %u, with differences: %u\n", runs, failures);
	assert_int_equal(failures, 0);
}

/* The other columns: every row once, the point taken in turn, the fault in
 * the column's step where it sends logged requests (close, the later
 * rename or unlink), else in the operation. */
static void other_columns_fault_points(void **state)
{
	(void)state;
	unsigned failures = 0, runs = 0;
	for (int c = C_FSYNC; c < NCOLS; c++) {
		if (c == C_COMMIT && !have_commit_ms())
			continue;
		const struct transcript *ref = reference((enum column)c);
		for (int i = 0; i < NROWS; i++, runs++) {
			int mark = ref->pass[MARK_STEP][i] ? MARK_STEP : MARK_OP;
			failures += fault_run((enum column)c, fault_points[(i + c) % 3], i, mark);
		}
	}
	printf("fault runs in the other columns: %u, with differences: %u\n", runs, failures);
	assert_int_equal(failures, 0);
}

static void before_fsync_none_differs(void **state)
{
	(void)state;
	const struct transcript *ref = reference(C_BEFORE);
	/* fault-free, mode none: the same transcript (the reference does not
	 * depend on the logging) */
	struct run_opts o = {.col = C_BEFORE, .mode = "none", .kill = K_NONE};
	run_column(&o, &g_got);
	destroy_service();
	assert_int_equal(compare(ref, &g_got, "none, no kill", false, NULL), 0);

	o.kill = K_SIGKILL;
	printf("-- before-fsync, SIGKILL, recovery none (differences expected)\n");
	run_column(&o, &g_got);
	destroy_service();
	bool differs[NROWS + 1];
	unsigned bad = compare(ref, &g_got, "none", false, differs);
	unsigned rows = 0;
	for (unsigned i = 0; i < NROWS; i++) {
		if (differs[i])
			rows++;
		else
			printf("  row %s shows no loss under recovery none\n", row_defs[i].name);
	}
	printf("recovery none: %u of %u rows differ from the fault-free run (%u with global)\n",
	       rows, NROWS, bad);
	assert_int_equal(rows, NROWS);

	/* What is on disk: every row whose operation changes the disk shows
	 * the loss in its first listing; open, read, lseek, F_SETFL and the
	 * locks change nothing there (which also shows that nothing was
	 * committed before the kill). */
	bool ldiff[NROWS];
	unsigned lrows = compare_listings(ref, &g_got, "none", false, ldiff);
	unsigned wrong = 0;
	for (unsigned i = 0; i < NROWS; i++) {
		bool disk_only_same = i == R_OPEN || i == R_READ || i == R_LSEEK || i == R_SETFL ||
		                      i == R_LOCK || i == R_FLOCK;
		if (ldiff[i] == disk_only_same) {
			printf("  row %s: the listing %s\n", row_defs[i].name,
			       ldiff[i] ? "differs, unexpected" : "shows no loss");
			wrong++;
		}
	}
	printf("recovery none: %u rows differ on disk\n", lrows);
	assert_int_equal(wrong, 0);
}

static int teardown(void **state)
{
	(void)state;
	ank_unmount(); /* after a failed assertion; EINVAL when not mounted */
	destroy_service();
	tr_free(&g_got);
	unsetenv("ANANKE_FAULT");
	unsetenv("ANANKE_FAULT_ONCE");
	setenv("ANK_TEST_SERVE_OPTS", g_serve_opts, 1);
	if (g_once[0])
		unlink(g_once);
	return 0;
}

int main(void)
{
	umask(022);
	const char *opts = getenv("ANK_TEST_SERVE_OPTS");
	snprintf(g_serve_opts, sizeof(g_serve_opts), "%s", opts ? opts : "");
	const char *root = getenv("ANK_TEST_TMPDIR");
	snprintf(g_tmp, sizeof(g_tmp), "%s/ank-mtx-XXXXXX", root && *root ? root : "/tmp");
	if (!mkdtemp(g_tmp)) {
		printf("cannot create a temporary directory\n");
		return 1;
	}
	snprintf(g_once, sizeof(g_once), "%s/fired", g_tmp);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(before_fsync_sigkill, teardown),
		cmocka_unit_test_teardown(after_fsync_sigkill, teardown),
		cmocka_unit_test_teardown(after_commit_sigkill, teardown),
		cmocka_unit_test_teardown(after_close_sigkill, teardown),
		cmocka_unit_test_teardown(after_rename_sigkill, teardown),
		cmocka_unit_test_teardown(after_unlink_sigkill, teardown),
		cmocka_unit_test_teardown(before_fsync_fault_points, teardown),
		cmocka_unit_test_teardown(other_columns_fault_points, teardown),
		cmocka_unit_test_teardown(before_fsync_none_differs, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (unsigned c = 0; c < NCOLS; c++)
		tr_free(&g_ref[c]);
	unlink(g_once);
	rmdir(g_tmp);
	return rc;
}
