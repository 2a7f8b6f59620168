/*
 * differ.c - the seeded random differential generator behind differ.h: one
 * sequence of POSIX operations run side by side on two targets (oracle.h),
 * every result compared: return values (for open only success vs errno),
 * errno, bytes read (and readlink's bytes), stat type/permission bits/
 * nlink/size, atimes and mtimes set long past (and whether the calls on an
 * fd keep them), answers of F_GETLK, F_GETFD and statfs, and the whole
 * directory tree (after every operation that can change the namespace,
 * with file contents every 250 operations and at the end; symbolic links
 * by lstat and their targets). At the end of a
 * sequence both sides are remounted and the trees compared again byte for
 * byte.
 *
 * Symbolic links get relative targets only, and none may climb above the
 * root (a libc target's root is an ordinary directory, where ".." leads
 * out): targets are generated within the link's depth, links that a rename
 * moved too high are removed by the harness on both sides, and a ".." of a
 * path is not put where its prefix is the root itself.
 *
 * Thread safety: differ_run() keeps all its state in its own struct, so
 * several threads may run sequences at once on independent targets (each
 * thread its own pair). differ_init() must have run first (differ_run()
 * calls it, once per process).
 *
 * Not here: configuration from the environment beyond ANK_DIFF_KEEP_GOING,
 * targets (oracle.c), assertions (the callers).
 */
#include "differ.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#define NSLOTS 12
#define BADFD 1000
#define MAX_IO (4u * 1024u * 1024u + 8192u) /* largest read/write: several ring pieces */
#define MAX_END (8ll * 1024 * 1024)       /* files stay below ~8 MiB (+ one I/O) */
#define MAX_FILE ((((off_t)1) << 44) - 4096) /* ext4's and Ananke's largest file */

/* Offsets and sizes beyond MAX_FILE are generated only when the host file
 * system has the same limit (ext4 with 4 KiB blocks): elsewhere they could
 * succeed and make files of terabytes. Probed once, in differ_init(). */
static bool g_big_ok;
#define CONTENT_EVERY 250
#define HISTORY 16
#define MAXCOMP 8

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	return *end ? def : v;
}

/* Linux >= 6.4 answers EINVAL to every O_CREAT|O_DIRECTORY open; older
 * kernels did other things, so that combination is generated only there. */
static bool kernel_creat_directory_einval(void)
{
	struct utsname u;
	if (uname(&u))
		return false;
	int major = 0, minor = 0;
	if (sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 4);
}

void (*differ_before_op)(unsigned opno);

/* ---- the differ --------------------------------------------------------------- */

enum op {
	OP_OPEN, OP_CLOSE, OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_LSEEK, OP_FSYNC,
	OP_FDATASYNC, OP_FTRUNCATE, OP_TRUNCATE, OP_STAT, OP_FSTAT, OP_UNLINK, OP_RENAME,
	OP_LINK, OP_MKDIR, OP_RMDIR, OP_LISTDIR, OP_SYNC, OP_REMOUNT, OP_CHMOD, OP_FCHMOD,
	OP_CHOWN, OP_FCHOWN, OP_UTIMENS, OP_FUTIMENS, OP_SYMLINK, OP_READLINK, OP_LSTAT,
	OP_LCHOWN, OP_OPENAT, OP_MKDIRAT, OP_UNLINKAT, OP_RENAMEAT2, OP_LINKAT, OP_FSTATAT,
	OP_MKNOD, OP_FALLOCATE, OP_FCNTL, OP_XATTR, OP_DUP, OP_LOCK, OP_STATFS, OP_ACCESS,
	OP_XATTR_LF, OP_FLOCK, OP_POSIX_LOCK, OP_FCNTL_FD, OP_FCHMODAT, OP_FCHOWNAT, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"open", "close", "read", "write", "pread", "pwrite", "lseek", "fsync",
	"fdatasync", "ftruncate", "truncate", "stat", "fstat", "unlink", "rename",
	"link", "mkdir", "rmdir", "list_dir", "sync", "remount", "chmod", "fchmod",
	"chown", "fchown", "utimensat", "futimens", "symlink", "readlink", "lstat",
	"lchown", "openat", "mkdirat", "unlinkat", "renameat2", "linkat", "fstatat", "mknod",
	"fallocate", "fcntl", "xattr", "dup", "ofd_lock", "statfs", "faccessat",
	"xattr_lf", "flock", "posix_lock", "fcntl_fd", "fchmodat", "fchownat",
};

/* Relative frequencies. */
static const unsigned op_weight[OP_COUNT] = {
	[OP_OPEN] = 140, [OP_CLOSE] = 45, [OP_READ] = 70, [OP_WRITE] = 90,
	[OP_PREAD] = 60, [OP_PWRITE] = 90, [OP_LSEEK] = 50, [OP_FSYNC] = 15,
	[OP_FDATASYNC] = 15, [OP_FTRUNCATE] = 40, [OP_TRUNCATE] = 30, [OP_STAT] = 50,
	[OP_FSTAT] = 40, [OP_UNLINK] = 40, [OP_RENAME] = 70, [OP_LINK] = 30,
	[OP_MKDIR] = 60, [OP_RMDIR] = 40, [OP_LISTDIR] = 30, [OP_SYNC] = 4,
	[OP_REMOUNT] = 2, [OP_CHMOD] = 12, [OP_FCHMOD] = 8, [OP_CHOWN] = 8, [OP_FCHOWN] = 6,
	[OP_UTIMENS] = 10, [OP_FUTIMENS] = 8, [OP_SYMLINK] = 12, [OP_READLINK] = 8,
	[OP_LSTAT] = 10, [OP_LCHOWN] = 6, [OP_OPENAT] = 40, [OP_MKDIRAT] = 15, [OP_UNLINKAT] = 15,
	[OP_RENAMEAT2] = 25, [OP_LINKAT] = 8, [OP_FSTATAT] = 15, [OP_MKNOD] = 10,
	[OP_FALLOCATE] = 15, [OP_FCNTL] = 15, [OP_XATTR] = 20, [OP_DUP] = 25, [OP_LOCK] = 8,
	[OP_STATFS] = 8, [OP_ACCESS] = 12, [OP_XATTR_LF] = 12, [OP_FLOCK] = 10,
	[OP_POSIX_LOCK] = 12, [OP_FCNTL_FD] = 6, [OP_FCHMODAT] = 8, [OP_FCHOWNAT] = 6,
};

/* Results seen per operation: [op][0] successes, [op][e] errno e. */
#define NERR DIFFER_NERR
_Static_assert(OP_COUNT == DIFFER_NOPS, "differ_stats has a row per operation");

struct slot {
	bool open;
	bool is_dir;
	int flags;
	int fd[2];
};

struct differ {
	struct target *t[2];
	struct oracle_rng rng;
	uint64_t seed;
	unsigned opno;
	bool verbose;
	bool creat_directory;
	bool keep_going;  /* errno-only differences are reported, not fatal */
	unsigned soft;    /* errno-only differences seen */
	bool failed;
	char desc[1024];
	char hist[HISTORY][600];
	struct slot slots[NSLOTS];
	uint8_t *wbuf, *rbuf[2];
	struct oracle_tree known; /* last tree of side 0: paths the generator favours */
	struct differ_stats *stats;
	/* Files fallocate touched (side 0's inode numbers): Linux's unwritten
	 * extents read as holes to SEEK_DATA/SEEK_HOLE, the service's
	 * allocated blocks as data, so those are not asked of them. */
	ino_t falloc_ino[256];
	unsigned nfalloc;
};

static char long255[256], long256[257];

static void init_names(void)
{
	memset(long255, 'l', 255);
	long255[255] = 0;
	memset(long256, 'm', 256);
	long256[256] = 0;
}

/* Path for messages: components longer than 32 bytes are abbreviated. */
static const char *pp(const char *path)
{
	static _Thread_local char bufs[4][700];
	static _Thread_local unsigned next;
	char *out = bufs[next++ % 4];
	size_t o = 0;
	const char *p = path;
	if (!*p)
		return "\"\"";
	out[o++] = '"';
	while (*p && o < 600) {
		if (*p == '/') {
			out[o++] = *p++;
			continue;
		}
		size_t len = strcspn(p, "/");
		if (len > 32)
			o += (size_t)snprintf(out + o, 700 - o, "<%zu x '%c'>", len, *p);
		else
			o += (size_t)snprintf(out + o, 700 - o, "%.*s", (int)len, p);
		p += len;
	}
	out[o++] = '"';
	out[o] = 0;
	return out;
}

static const char *flags_str(int flags, char *buf, size_t len)
{
	int acc = flags & O_ACCMODE;
	snprintf(buf, len, "%s%s%s%s%s%s%s", acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR",
	         flags & O_CREAT ? "|O_CREAT" : "", flags & O_EXCL ? "|O_EXCL" : "",
	         flags & O_TRUNC ? "|O_TRUNC" : "", flags & O_APPEND ? "|O_APPEND" : "",
	         flags & O_DIRECTORY ? "|O_DIRECTORY" : "", flags & O_NOFOLLOW ? "|O_NOFOLLOW" : "");
	return buf;
}

static const char *whence_str(int w)
{
	return w == SEEK_SET ? "SEEK_SET" : w == SEEK_CUR ? "SEEK_CUR" : w == SEEK_END ? "SEEK_END"
	     : w == SEEK_DATA ? "SEEK_DATA" : w == SEEK_HOLE ? "SEEK_HOLE" : "99";
}

static void describe(struct differ *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void describe(struct differ *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->desc, sizeof(d->desc), fmt, ap);
	va_end(ap);
}

static void note_result(struct differ *d, enum op op, long ra, long rb)
{
	char x[32], y[32];
	snprintf(d->hist[d->opno % HISTORY], sizeof(d->hist[0]), "#%u %.480s -> %s / %s", d->opno,
	         d->desc, oracle_result_str(ra, x, sizeof(x)), oracle_result_str(rb, y, sizeof(y)));
	if (d->verbose)
		printf("  %s\n", d->hist[d->opno % HISTORY]);
	if (d->stats && ra == rb) {
		long e = ra >= 0 ? 0 : -ra;
		if (e < NERR)
			d->stats->n[op][e]++;
	}
}

static void mismatch(struct differ *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(struct differ *d, const char *fmt, ...)
{
	char what[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	d->failed = true;
	printf("MISMATCH seed=%llu op#%u: %s\n  %s\n", (unsigned long long)d->seed, d->opno,
	       d->desc, what);
	printf("  last operations (side %s / side %s):\n", d->t[0]->name, d->t[1]->name);
	unsigned first = d->opno >= HISTORY - 1 ? d->opno - (HISTORY - 1) : 0;
	for (unsigned i = first; i <= d->opno; i++)
		if (d->hist[i % HISTORY][0])
			printf("    %s\n", d->hist[i % HISTORY]);
	printf("  rerun: ANK_DIFF_SEED=%llu ANK_DIFF_VERBOSE=1\n", (unsigned long long)d->seed);
	fflush(stdout);
}

/* With keep_going, two different errors are reported and the run goes on. */
static bool soft_mismatch(struct differ *d, long ra, long rb)
{
	if (!d->keep_going || ra >= 0 || rb >= 0)
		return false;
	char x[32], y[32];
	d->soft++;
	printf("ERRNO MISMATCH seed=%llu op#%u: %s: %s %s, %s %s (continuing)\n",
	       (unsigned long long)d->seed, d->opno, d->desc, d->t[0]->name,
	       oracle_result_str(ra, x, sizeof(x)), d->t[1]->name, oracle_result_str(rb, y, sizeof(y)));
	return true;
}

/* Exact comparison of two results. */
static bool same(struct differ *d, enum op op, long ra, long rb)
{
	note_result(d, op, ra, rb);
	if (ra == rb || soft_mismatch(d, ra, rb))
		return true;
	char x[32], y[32];
	mismatch(d, "%s: %s, %s: %s", d->t[0]->name, oracle_result_str(ra, x, sizeof(x)), d->t[1]->name,
	     oracle_result_str(rb, y, sizeof(y)));
	return false;
}

/* fd-returning calls: success vs errno only. */
static bool same_fd(struct differ *d, enum op op, long ra, long rb)
{
	long na = ra >= 0 ? 0 : ra, nb = rb >= 0 ? 0 : rb;
	note_result(d, op, na, nb);
	if (na == nb || soft_mismatch(d, ra, rb))
		return true;
	char x[32], y[32];
	mismatch(d, "%s: %s, %s: %s", d->t[0]->name, oracle_result_str(ra, x, sizeof(x)), d->t[1]->name,
	     oracle_result_str(rb, y, sizeof(y)));
	return false;
}

/* ---- generators ------------------------------------------------------------------ */

static const char *const names[] = {"a", "b", "c", "d"};

struct pathgen {
	char comp[MAXCOMP][260];
	int n;
};

static void pg_join(const struct pathgen *g, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < g->n; i++)
		o += (size_t)snprintf(out + o, len - o, "/%s", g->comp[i]);
	if (g->n == 0)
		snprintf(out, len, "/");
}

static void pg_split(struct pathgen *g, const char *path)
{
	g->n = 0;
	const char *p = path;
	while (*p && g->n < MAXCOMP) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		snprintf(g->comp[g->n++], sizeof(g->comp[0]), "%.*s", (int)len, p);
		p += len;
	}
}

enum want { W_ANY, W_FILE, W_DIR, W_NEW, W_LINK };

/* Does a known entry of this type suit the wanted kind of path? A symbolic
 * link suits a file and a directory (it may lead to either, or nowhere). */
static bool want_fits(enum want w, unsigned char type)
{
	switch (w) {
	case W_FILE: return type == DT_REG || type == DT_LNK;
	case W_DIR: return type != DT_REG;
	case W_LINK: return type == DT_LNK;
	default: return true;
	}
}

/* A known path (from the last tree of side 0) of the wanted type, or NULL. */
static const char *pick_known(struct differ *d, enum want w)
{
	size_t cand = 0;
	for (size_t i = 1; i < d->known.n; i++)
		if (want_fits(w, d->known.ents[i].type))
			cand++;
	if (!cand)
		return NULL;
	size_t k = oracle_rng_below(&d->rng, cand);
	for (size_t i = 1; i < d->known.n; i++)
		if (want_fits(w, d->known.ents[i].type))
			if (k-- == 0)
				return d->known.ents[i].path;
	return NULL;
}

/* Do the first k components of g name the root directory itself on side 0
 * (through symbolic links: "/l" with l -> ".")? A ".." there would climb
 * out of the libc target's root, which the Ananke root does not. */
static bool prefix_is_root(struct differ *d, const struct pathgen *g, int k)
{
	struct pathgen h = *g;
	char p[PATH_MAX];
	struct stat sr, sp;
	h.n = k;
	pg_join(&h, p, sizeof(p));
	if (d->t[0]->stat(d->t[0]->ctx, "/", &sr) || d->t[0]->stat(d->t[0]->ctx, p, &sp))
		return false;
	return sr.st_dev == sp.st_dev && sr.st_ino == sp.st_ino;
}

/*
 * A path for an operation. `mutating`: the operation changes the namespace,
 * so no "." / ".." components (Linux answers those with special errors that
 * depend on where they appear) and no root unless allow_root.
 */
static void gen_path(struct differ *d, char *out, size_t len, enum want w, bool mutating,
                     bool allow_root)
{
	struct oracle_rng *r = &d->rng;
	unsigned x = (unsigned)oracle_rng_below(r, 1000);
	if (x < 15) {
		out[0] = 0; /* "" -> ENOENT */
		return;
	}
	if (x < 35 && allow_root) {
		snprintf(out, len, "/");
		return;
	}
	struct pathgen g;
	unsigned src = (unsigned)oracle_rng_below(r, 100);
	const char *known = NULL;
	if (w == W_NEW ? src < 10 : src < 55)
		known = pick_known(d, w == W_NEW ? W_ANY : w);
	else if (w == W_NEW ? src < 80 : src < 75)
		known = "";
	if (known && !*known) {
		/* a (probably new) name in an existing directory */
		const char *dir = oracle_rng_pct(r, 25) ? NULL : pick_known(d, W_DIR);
		if (dir)
			pg_split(&g, dir);
		else
			g.n = 0;
		if (g.n >= 3 || g.n >= MAXCOMP)
			g.n = 2;
		snprintf(g.comp[g.n++], sizeof(g.comp[0]), "%s",
		         oracle_rng_pct(r, 2) ? long255 : names[oracle_rng_below(r, 4)]);
	} else if (known) {
		pg_split(&g, known);
	} else {
		unsigned depth = (unsigned)oracle_rng_below(r, 100);
		g.n = depth < 35 ? 1 : depth < 75 ? 2 : 3;
		for (int i = 0; i < g.n; i++)
			snprintf(g.comp[i], sizeof(g.comp[0]), "%s",
			         oracle_rng_pct(r, 1) ? long255 : names[oracle_rng_below(r, 4)]);
	}
	bool trailing = false;
	unsigned deco = (unsigned)oracle_rng_below(r, 100);
	if (deco < 3) {
		/* a 256-byte name somewhere: ENAMETOOLONG, or an earlier error */
		snprintf(g.comp[oracle_rng_below(r, (uint64_t)g.n)], sizeof(g.comp[0]), "%s", long256);
	} else if (deco < 7) {
		trailing = true;
	} else if (deco < 10 && g.n < MAXCOMP) {
		/* below a (probably) regular file: ENOTDIR */
		const char *f = pick_known(d, W_FILE);
		if (f) {
			pg_split(&g, f);
			if (g.n < MAXCOMP)
				snprintf(g.comp[g.n++], sizeof(g.comp[0]), "%s", names[oracle_rng_below(r, 4)]);
		}
	} else if (deco < 14 && !mutating && g.n < MAXCOMP) {
		/* "." or ".." after component k >= 1: never climbs above "/" */
		int k = 1 + (int)oracle_rng_below(r, (uint64_t)g.n);
		for (int i = g.n; i > k; i--)
			memcpy(g.comp[i], g.comp[i - 1], sizeof(g.comp[0]));
		bool up = !oracle_rng_pct(r, 50);
		if (up && prefix_is_root(d, &g, k))
			up = false; /* ".." above the root: Linux would leave the libc root */
		snprintf(g.comp[k], sizeof(g.comp[0]), "%s", up ? ".." : ".");
		g.n++;
	}
	pg_join(&g, out, len);
	if (deco >= 14 && deco < 16) {
		/* a doubled slash */
		size_t l = strlen(out);
		size_t at = oracle_rng_below(r, l);
		while (at > 0 && out[at] != '/')
			at--;
		if (l + 2 < len) {
			memmove(out + at + 1, out + at, l - at + 1);
			out[at] = '/';
		}
	}
	if (trailing && strlen(out) + 2 < len)
		strcat(out, "/");
}

static size_t gen_io_size(struct oracle_rng *r)
{
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	if (x < 5)
		return 0;
	if (x < 35)
		return (size_t)oracle_rng_range(r, 1, 512);
	if (x < 50) {
		size_t n = 4096 * (size_t)oracle_rng_range(r, 1, 16);
		return n - 1 + (size_t)oracle_rng_below(r, 3);
	}
	if (x < 92)
		return (size_t)oracle_rng_range(r, 1, 64 * 1024);
	if (x < 98)
		return (size_t)oracle_rng_range(r, 64 * 1024, 1024 * 1024);
	return (size_t)oracle_rng_range(r, 1024 * 1024, MAX_IO); /* more than one ring slot */
}

/* Offset for pread/pwrite given the current size. May be invalid. */
static off_t gen_offset(struct oracle_rng *r, off_t size, size_t n, bool allow_bad)
{
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	off_t off;
	if (allow_bad && x < 3)
		return oracle_rng_pct(r, 50) ? -1 : -4096;
	if (allow_bad && x < 5 && g_big_ok) {
		/* beyond the largest file size (EFBIG for writes, 0 for reads), or
		 * overflowing offset + count (EINVAL) */
		static const off_t big[] = {MAX_FILE + 1, MAX_FILE + 4096, ((off_t)1) << 50,
		                            INT64_MAX - 1};
		return big[oracle_rng_below(r, 4)];
	}
	if (x < 35)
		off = (off_t)oracle_rng_below(r, (uint64_t)size + 1);
	else if (x < 50)
		off = size;
	else if (x < 65)
		off = 4096 * (off_t)oracle_rng_below(r, 256);
	else if (x < 80)
		off = (off_t)oracle_rng_below(r, 1024 * 1024);
	else
		off = size + (off_t)oracle_rng_range(r, 1, 2 * 1024 * 1024);
	if (off + (off_t)n > MAX_END)
		off = MAX_END - (off_t)n > 0 ? (off_t)oracle_rng_below(r, (uint64_t)(MAX_END - (off_t)n)) : 0;
	return off;
}

static off_t gen_trunc_len(struct oracle_rng *r, off_t size)
{
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	if (x < 15)
		return 0;
	if (x < 45)
		return (off_t)oracle_rng_below(r, (uint64_t)size + 1);
	if (x < 70)
		return size + (off_t)oracle_rng_range(r, 1, 64 * 1024);
	if (x < 90)
		return (off_t)oracle_rng_below(r, MAX_END);
	if (x < 94)
		return size;
	if (x < 97)
		return -1 - (off_t)oracle_rng_below(r, 4096);
	if (!g_big_ok)
		return -1;
	return oracle_rng_pct(r, 50) ? MAX_FILE + 1 : INT64_MAX; /* EFBIG */
}

static const mode_t file_modes_root[] = {0644, 0600, 0666, 0444, 0640, 0755, 0000, 0777};
static const mode_t dir_modes_root[] = {0755, 0700, 0777, 0555, 0750, 0000, 0711, 0775};
static const mode_t file_modes_user[] = {0644, 0600, 0666, 0640};
static const mode_t dir_modes_user[] = {0755, 0700, 0777, 0750};

static mode_t gen_mode(struct oracle_rng *r, bool dir)
{
	/* As root every mode is usable; otherwise keep the owner's rwx so that
	 * Linux's permission checks never fire (the Ananke client is uid 0). */
	if (geteuid() == 0)
		return dir ? dir_modes_root[oracle_rng_below(r, 8)] : file_modes_root[oracle_rng_below(r, 8)];
	return dir ? dir_modes_user[oracle_rng_below(r, 4)] : file_modes_user[oracle_rng_below(r, 4)];
}

/* Pick a slot for an fd operation: mostly an open one, sometimes a closed
 * one (EBADF on both sides through a fixed invalid fd number). */
enum pref { P_ANY, P_READ, P_WRITE, P_DIR };

static bool slot_fits(const struct slot *s, enum pref p)
{
	if (!s->open)
		return false;
	if (p == P_DIR)
		return s->is_dir;
	if (p == P_READ)
		return !s->is_dir && (s->flags & O_ACCMODE) != O_WRONLY;
	if (p == P_WRITE)
		return (s->flags & O_ACCMODE) != O_RDONLY;
	return true;
}

static int pick_slot_pref(struct differ *d, enum pref p)
{
	int n = 0;
	if (oracle_rng_pct(&d->rng, 8))
		return -1 - (int)oracle_rng_below(&d->rng, 2);
	for (int i = 0; i < NSLOTS; i++)
		n += slot_fits(&d->slots[i], p);
	if (!n || oracle_rng_pct(&d->rng, 20)) {
		p = P_ANY;
		n = 0;
		for (int i = 0; i < NSLOTS; i++)
			n += d->slots[i].open;
	}
	if (n) {
		int k = (int)oracle_rng_below(&d->rng, (uint64_t)n);
		for (int i = 0; i < NSLOTS; i++)
			if (slot_fits(&d->slots[i], p) && k-- == 0)
				return i;
	}
	return -1 - (int)oracle_rng_below(&d->rng, 2); /* -1: fd 1000, -2: fd -1 */
}

static int pick_slot(struct differ *d)
{
	return pick_slot_pref(d, P_ANY);
}

static int slot_fd(struct differ *d, int s, int side)
{
	if (s >= 0 && d->slots[s].open)
		return d->slots[s].fd[side];
	return s == -2 ? -1 : BADFD;
}

static const char *slot_str(struct differ *d, int s, char *buf, size_t len)
{
	if (s >= 0)
		snprintf(buf, len, "slot%d(fd %d/%d)", s, d->slots[s].fd[0], d->slots[s].fd[1]);
	else
		snprintf(buf, len, "badfd(%d)", s == -2 ? -1 : BADFD);
	return buf;
}

/* Current size of the file behind a slot on side 0 (0 when unknown). */
static off_t slot_size(struct differ *d, int s)
{
	struct stat st;
	if (s < 0 || d->slots[s].is_dir)
		return 0;
	if (d->t[0]->fstat(d->t[0]->ctx, d->slots[s].fd[0], &st))
		return 0;
	return st.st_size;
}

/* ---- tree checks ----------------------------------------------------------------- */

static bool link_climbs(const char *path, const char *t, size_t len);
static bool check_trees(struct differ *d, bool contents, const char *when);

/*
 * Symbolic links whose target now climbs above the root (made so, or moved
 * up by a rename) are removed on both sides before anything follows them:
 * Linux would resolve them outside the libc target's root. The removal is
 * compared like an operation; then the trees are checked again.
 */
static bool drop_climbing_links(struct differ *d, bool contents, const char *when)
{
	char t[PATH_MAX + 1];
	for (size_t i = 1; i < d->known.n; i++) {
		const char *path = d->known.ents[i].path;
		if (d->known.ents[i].type != DT_LNK)
			continue;
		ssize_t n = d->t[0]->readlink(d->t[0]->ctx, path, t, sizeof(t));
		if (n < 0 || !link_climbs(path, t, (size_t)n))
			continue;
		describe(d, "unlink(%s) by the harness: its target \"%.*s\" climbs above the root",
		         pp(path), (int)(n > 200 ? 200 : n), t);
		int ra = d->t[0]->unlink(d->t[0]->ctx, path);
		int rb = d->t[1]->unlink(d->t[1]->ctx, path);
		char x[32], y[32];
		if (d->verbose)
			printf("    %s -> %s / %s\n", d->desc, oracle_result_str(ra, x, sizeof(x)),
			       oracle_result_str(rb, y, sizeof(y)));
		if (ra || rb) {
			mismatch(d, "%s: %s, %s: %s", d->t[0]->name, oracle_result_str(ra, x, sizeof(x)),
			         d->t[1]->name, oracle_result_str(rb, y, sizeof(y)));
			return false;
		}
		return check_trees(d, contents, when);
	}
	return true;
}

static bool check_trees(struct differ *d, bool contents, const char *when)
{
	char msg[2048];
	int r = oracle_compare_trees(d->t[0], d->t[1], contents, msg, sizeof(msg));
	if (r) {
		if (r < 0)
			snprintf(msg, sizeof(msg), "tree walk failed on both sides: %ld", (long)r);
		mismatch(d, "tree comparison %s%s: %s", when, contents ? " (with contents)" : "", msg);
		return false;
	}
	oracle_tree_free(&d->known);
	if (oracle_tree_walk(d->t[0], &d->known)) {
		mismatch(d, "tree walk of %s failed", d->t[0]->name);
		return false;
	}
	return drop_climbing_links(d, contents, when);
}

static void close_all(struct differ *d, bool check)
{
	for (int s = 0; s < NSLOTS; s++) {
		if (!d->slots[s].open)
			continue;
		int ra = d->t[0]->close(d->t[0]->ctx, d->slots[s].fd[0]);
		int rb = d->t[1]->close(d->t[1]->ctx, d->slots[s].fd[1]);
		d->slots[s].open = false;
		if (check && !d->failed && (ra || rb)) {
			describe(d, "close(slot%d) before remount", s);
			same(d, OP_CLOSE, ra, rb);
			if (!d->failed)
				mismatch(d, "close failed on both sides: %d", ra);
		}
	}
}

static bool do_remount(struct differ *d, const char *when)
{
	close_all(d, true);
	if (d->failed)
		return false;
	describe(d, "remount (%s)", when);
	int ra = d->t[0]->remount(d->t[0]->ctx);
	int rb = d->t[1]->remount(d->t[1]->ctx);
	if (!same(d, OP_REMOUNT, ra, rb))
		return false;
	return check_trees(d, true, "after remount");
}

/* ---- operations -------------------------------------------------------------------- */

#define T0 (d->t[0])
#define T1 (d->t[1])

static bool adopt_open(struct differ *d, enum op op, int s, int flags, int ra, int rb);

static bool op_open(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = -1;
	for (int i = 0; i < NSLOTS; i++)
		if (!d->slots[i].open) {
			s = i;
			break;
		}
	if (s < 0)
		return true; /* every slot busy: the caller closes one next time */
	int flags;
	unsigned acc = (unsigned)oracle_rng_below(r, 10);
	flags = acc < 3 ? O_RDONLY : acc < 6 ? O_WRONLY : O_RDWR;
	enum want w = W_FILE;
	if (oracle_rng_pct(r, 50)) {
		flags |= O_CREAT;
		if (oracle_rng_pct(r, 35))
			flags |= O_EXCL; /* never without O_CREAT: undefined there */
	}
	if ((flags & O_ACCMODE) != O_RDONLY && oracle_rng_pct(r, 20))
		flags |= O_TRUNC; /* not with O_RDONLY: unspecified by POSIX */
	if (oracle_rng_pct(r, 20))
		flags |= O_APPEND;
	if (oracle_rng_pct(r, 5))
		flags |= O_NOFOLLOW; /* ELOOP on a symbolic link at the end */
	if (oracle_rng_pct(r, 10)) {
		flags |= O_DIRECTORY;
		w = W_DIR;
		if (oracle_rng_pct(r, 80))
			flags &= ~(O_ACCMODE | O_TRUNC);
		if (!d->creat_directory || !oracle_rng_pct(r, 10))
			flags &= ~(O_CREAT | O_EXCL);
	} else if (oracle_rng_pct(r, 8)) {
		w = W_DIR; /* a directory without O_DIRECTORY: fine for O_RDONLY */
		if (oracle_rng_pct(r, 70))
			flags &= ~(O_ACCMODE | O_TRUNC | O_CREAT | O_EXCL);
	}
	mode_t mode = gen_mode(r, false);
	char path[PATH_MAX], fb[96];
	if ((flags & O_CREAT) && w == W_FILE && oracle_rng_pct(r, 50))
		w = W_NEW;
	gen_path(d, path, sizeof(path), w, (flags & (O_CREAT | O_TRUNC)) != 0, true);
	describe(d, "open(%s, %s, 0%03o) -> slot%d", pp(path), flags_str(flags, fb, sizeof(fb)),
	         (unsigned)mode, s);
	int ra = T0->open(T0->ctx, path, flags, mode);
	int rb = T1->open(T1->ctx, path, flags, mode);
	return adopt_open(d, OP_OPEN, s, flags, ra, rb);
}

/* dup into a free slot, or dup2 onto another slot's fds (the new fds then
 * name the first slot's open file description: one offset, one set of
 * status flags, which later reads, writes and lseeks on either compare). */
static bool op_dup(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	char sa[64], sb[64];
	int ra, rb, t = -1;
	if (oracle_rng_pct(r, 60)) {
		for (int i = 0; i < NSLOTS && t < 0; i++)
			if (!d->slots[i].open)
				t = i;
		if (t < 0)
			return true;
		describe(d, "dup(%s) -> slot%d", slot_str(d, s, sa, sizeof(sa)), t);
		ra = T0->dup(T0->ctx, slot_fd(d, s, 0));
		rb = T1->dup(T1->ctx, slot_fd(d, s, 1));
		if (!same_fd(d, OP_DUP, ra, rb)) {
			if (ra >= 0)
				T0->close(T0->ctx, ra);
			if (rb >= 0)
				T1->close(T1->ctx, rb);
			return false;
		}
		if (ra < 0)
			return true;
		d->slots[t].fd[0] = ra;
		d->slots[t].fd[1] = rb;
	} else {
		t = pick_slot(d);
		if (t < 0)
			return true;
		describe(d, "dup2(%s, %s)", slot_str(d, s, sa, sizeof(sa)),
			 slot_str(d, t, sb, sizeof(sb)));
		ra = T0->dup2(T0->ctx, slot_fd(d, s, 0), slot_fd(d, t, 0));
		rb = T1->dup2(T1->ctx, slot_fd(d, s, 1), slot_fd(d, t, 1));
		if (!same_fd(d, OP_DUP, ra, rb))
			return false;
		if (ra < 0)
			return true;
	}
	d->slots[t].open = true;
	d->slots[t].is_dir = d->slots[s].is_dir;
	d->slots[t].flags = d->slots[s].flags;
	return true;
}

/* The results of an open on both sides: the same, and on success the two
 * fds fill slot s after an fstat of each agrees. */
static bool adopt_open(struct differ *d, enum op op, int s, int flags, int ra, int rb)
{
	if (!same_fd(d, op, ra, rb)) {
		if (ra >= 0)
			T0->close(T0->ctx, ra);
		if (rb >= 0)
			T1->close(T1->ctx, rb);
		return false;
	}
	if (ra < 0)
		return true;
	struct slot *sl = &d->slots[s];
	sl->open = true;
	sl->fd[0] = ra;
	sl->fd[1] = rb;
	struct stat sa, sb;
	int fa = T0->fstat(T0->ctx, ra, &sa), fbr = T1->fstat(T1->ctx, rb, &sb);
	char msg[128];
	if (fa || fbr) {
		mismatch(d, "fstat after open: %d / %d", fa, fbr);
		return false;
	}
	if (oracle_stat_diff(&sa, &sb, msg, sizeof(msg))) {
		mismatch(d, "fstat after open: %s", msg);
		return false;
	}
	sl->is_dir = S_ISDIR(sa.st_mode);
	sl->flags = flags;
	return true;
}

static bool op_close(struct differ *d)
{
	int s = pick_slot(d);
	char sb[64];
	describe(d, "close(%s)", slot_str(d, s, sb, sizeof(sb)));
	int ra = T0->close(T0->ctx, slot_fd(d, s, 0));
	int rb = T1->close(T1->ctx, slot_fd(d, s, 1));
	if (s >= 0)
		d->slots[s].open = false; /* closed either way on Linux */
	return same(d, OP_CLOSE, ra, rb);
}

static bool cmp_data(struct differ *d, long n)
{
	if (n <= 0 || !memcmp(d->rbuf[0], d->rbuf[1], (size_t)n))
		return true;
	size_t i = 0;
	while (d->rbuf[0][i] == d->rbuf[1][i])
		i++;
	mismatch(d, "data differs at byte %zu of %ld: %s 0x%02x, %s 0x%02x", i, n, T0->name,
	     d->rbuf[0][i], T1->name, d->rbuf[1][i]);
	return false;
}

/* ---- timestamps ---- */

/*
 * A clock time cannot be compared across two file systems, but a time set
 * long past (ORACLE_LONG_PAST) can: oracle_stat_diff compares such an atime
 * or mtime exactly wherever a stat is compared, so after an operation that
 * changes the namespace (the tree comparison that follows it stats every
 * entry) a directory whose mtime was old must have a new one on both sides
 * or on neither. The calls on an fd below are not followed by a tree
 * comparison: around them each side's times are taken before and after,
 * and "the old atime / mtime is still there" must be true on both sides or
 * on neither. ctime cannot be set; each side's must never move backwards
 * (whether it moved forwards is not compared: Linux's clock for it is
 * coarse, so two calls close in time may see the same ctime).
 */
struct times_before {
	bool ok;
	struct stat st[2];
};

static bool ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static const char *ts_str(const struct timespec *t, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%09ld", (long long)t->tv_sec, t->tv_nsec);
	return buf;
}

/* Each side's times of slot s (fstat) or of path (stat, following links as
 * the calls on a path do) before an operation. */
static void times_take(struct differ *d, int s, const char *path, struct times_before *tb)
{
	if (path)
		tb->ok = T0->stat(T0->ctx, path, &tb->st[0]) == 0 &&
			 T1->stat(T1->ctx, path, &tb->st[1]) == 0;
	else
		tb->ok = s >= 0 && d->slots[s].open &&
			 T0->fstat(T0->ctx, d->slots[s].fd[0], &tb->st[0]) == 0 &&
			 T1->fstat(T1->ctx, d->slots[s].fd[1], &tb->st[1]) == 0;
}

/* One kind of time (what: "atime" or "mtime") of both sides: if it was set
 * long past, is it still that time on both sides or on neither? */
static bool times_kept(struct differ *d, const char *what, const struct timespec *b0,
		       const struct timespec *b1, const struct timespec *a0,
		       const struct timespec *a1)
{
	if (b0->tv_sec >= ORACLE_LONG_PAST || b1->tv_sec >= ORACLE_LONG_PAST)
		return true;
	bool k0 = ts_equal(a0, b0), k1 = ts_equal(a1, b1);
	if (k0 == k1)
		return true;
	char x[4][40];
	mismatch(d, "%s set long past: %s %s -> %s, %s %s -> %s", what, T0->name,
		 ts_str(b0, x[0], sizeof(x[0])), ts_str(a0, x[1], sizeof(x[1])), T1->name,
		 ts_str(b1, x[2], sizeof(x[2])), ts_str(a1, x[3], sizeof(x[3])));
	return false;
}

/* After the operation: the same file (slot s, or path) on both sides
 * again, compared with tb (see above). */
static bool times_check(struct differ *d, int s, const char *path, const struct times_before *tb)
{
	if (!tb->ok || d->failed)
		return !d->failed;
	struct stat st[2];
	int r0, r1;
	if (path) {
		r0 = T0->stat(T0->ctx, path, &st[0]);
		r1 = T1->stat(T1->ctx, path, &st[1]);
	} else {
		if (!d->slots[s].open)
			return true;
		r0 = T0->fstat(T0->ctx, d->slots[s].fd[0], &st[0]);
		r1 = T1->fstat(T1->ctx, d->slots[s].fd[1], &st[1]);
	}
	char x[32], y[32];
	if (r0 || r1) {
		if (r0 == r1)
			return true; /* (both gone: an unlink, a rename over it) */
		mismatch(d, "%s after the operation: %s %s, %s %s", path ? "stat" : "fstat", T0->name,
			 oracle_result_str(r0, x, sizeof(x)), T1->name,
			 oracle_result_str(r1, y, sizeof(y)));
		return false;
	}
	if (st[0].st_ino != tb->st[0].st_ino || st[1].st_ino != tb->st[1].st_ino)
		return true; /* (another file now has the name) */
	for (int k = 0; k < 2; k++) {
		if (ts_before(&st[k].st_ctim, &tb->st[k].st_ctim)) {
			mismatch(d, "ctime of %s moved backwards: %s -> %s", d->t[k]->name,
				 ts_str(&tb->st[k].st_ctim, x, sizeof(x)),
				 ts_str(&st[k].st_ctim, y, sizeof(y)));
			return false;
		}
	}
	return times_kept(d, "mtime", &tb->st[0].st_mtim, &tb->st[1].st_mtim, &st[0].st_mtim,
			  &st[1].st_mtim) &&
	       (oracle_atime_loose || /* (oracle.h) */
		times_kept(d, "atime", &tb->st[0].st_atim, &tb->st[1].st_atim, &st[0].st_atim,
			   &st[1].st_atim));
}

static bool op_read(struct differ *d, bool positional)
{
	int s = pick_slot_pref(d, P_READ);
	size_t n = gen_io_size(&d->rng);
	off_t off = positional ? gen_offset(&d->rng, slot_size(d, s), n, true) : 0;
	char sb[64];
	long ra, rb;
	struct times_before tb;
	times_take(d, s, NULL, &tb);
	if (positional) {
		describe(d, "pread(%s, %zu, %lld)", slot_str(d, s, sb, sizeof(sb)), n, (long long)off);
		ra = T0->pread(T0->ctx, slot_fd(d, s, 0), d->rbuf[0], n, off);
		rb = T1->pread(T1->ctx, slot_fd(d, s, 1), d->rbuf[1], n, off);
	} else {
		describe(d, "read(%s, %zu)", slot_str(d, s, sb, sizeof(sb)), n);
		ra = T0->read(T0->ctx, slot_fd(d, s, 0), d->rbuf[0], n);
		rb = T1->read(T1->ctx, slot_fd(d, s, 1), d->rbuf[1], n);
	}
	return same(d, positional ? OP_PREAD : OP_READ, ra, rb) && cmp_data(d, ra) &&
	       times_check(d, s, NULL, &tb);
}

static bool op_write(struct differ *d, bool positional)
{
	int s = pick_slot_pref(d, P_WRITE);
	size_t n = gen_io_size(&d->rng);
	off_t off = 0;
	if (positional) {
		if (oracle_rng_pct(&d->rng, 2)) {
			n = 0; /* zero bytes far beyond the largest file: 0 */
			off = MAX_FILE + 4096 * (off_t)oracle_rng_range(&d->rng, 1, 4);
		} else {
			off = gen_offset(&d->rng, slot_size(d, s), n, true);
		}
	}
	oracle_rng_fill(&d->rng, d->wbuf, n);
	char sb[64];
	long ra, rb;
	struct times_before tb;
	times_take(d, s, NULL, &tb);
	if (positional) {
		describe(d, "pwrite(%s, %zu, %lld)", slot_str(d, s, sb, sizeof(sb)), n, (long long)off);
		ra = T0->pwrite(T0->ctx, slot_fd(d, s, 0), d->wbuf, n, off);
		rb = T1->pwrite(T1->ctx, slot_fd(d, s, 1), d->wbuf, n, off);
	} else {
		describe(d, "write(%s, %zu)", slot_str(d, s, sb, sizeof(sb)), n);
		ra = T0->write(T0->ctx, slot_fd(d, s, 0), d->wbuf, n);
		rb = T1->write(T1->ctx, slot_fd(d, s, 1), d->wbuf, n);
	}
	return same(d, positional ? OP_PWRITE : OP_WRITE, ra, rb) && times_check(d, s, NULL, &tb);
}

static bool memchr_ino(const ino_t *v, unsigned n, ino_t ino)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == ino)
			return true;
	return false;
}

static bool op_lseek(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	if (s >= 0 && d->slots[s].is_dir)
		return true; /* a directory's offset is a file-system cookie on Linux */
	off_t size = slot_size(d, s);
	unsigned w = (unsigned)oracle_rng_below(r, 100);
	int whence = w < 36 ? SEEK_SET : w < 56 ? SEEK_CUR : w < 80 ? SEEK_END
		   : w < 88 ? SEEK_DATA : w < 96 ? SEEK_HOLE : 99;
	struct stat st;
	if ((whence == SEEK_DATA || whence == SEEK_HOLE) &&
	    (d->nfalloc == sizeof(d->falloc_ino) / sizeof(d->falloc_ino[0]) ||
	     (s >= 0 && T0->fstat(T0->ctx, slot_fd(d, s, 0), &st) == 0 &&
	      memchr_ino(d->falloc_ino, d->nfalloc, st.st_ino))))
		whence = SEEK_END; /* (fallocated: see struct differ) */
	off_t off;
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	if (x < 4 && g_big_ok) {
		off = oracle_rng_pct(r, 50) ? MAX_FILE + 1 : INT64_MAX; /* EINVAL */
	} else if (x < 12) {
		off = -1 - (off_t)oracle_rng_below(r, 2 * 1024 * 1024); /* maybe negative result */
	} else if (whence == SEEK_END) {
		off = (off_t)oracle_rng_range(r, 0, 1024 * 1024) - size / 2;
	} else if (whence == SEEK_CUR) {
		off = (off_t)oracle_rng_below(r, 512 * 1024) - 128 * 1024;
	} else {
		off = gen_offset(r, size, 0, false);
	}
	char sb[64];
	describe(d, "lseek(%s, %lld, %s)", slot_str(d, s, sb, sizeof(sb)), (long long)off,
	         whence_str(whence));
	off_t ra = T0->lseek(T0->ctx, slot_fd(d, s, 0), off, whence);
	off_t rb = T1->lseek(T1->ctx, slot_fd(d, s, 1), off, whence);
	if (!same(d, OP_LSEEK, ra, rb))
		return false;
	if (ra > MAX_END + (off_t)MAX_IO) {
		/* keep files small: go back (same on both sides) */
		T0->lseek(T0->ctx, slot_fd(d, s, 0), 0, SEEK_SET);
		T1->lseek(T1->ctx, slot_fd(d, s, 1), 0, SEEK_SET);
	}
	return true;
}

static bool op_fsync(struct differ *d, bool data)
{
	int s = pick_slot(d);
	char sb[64];
	describe(d, "%s(%s)", data ? "fdatasync" : "fsync", slot_str(d, s, sb, sizeof(sb)));
	int ra = data ? T0->fdatasync(T0->ctx, slot_fd(d, s, 0)) : T0->fsync(T0->ctx, slot_fd(d, s, 0));
	int rb = data ? T1->fdatasync(T1->ctx, slot_fd(d, s, 1)) : T1->fsync(T1->ctx, slot_fd(d, s, 1));
	return same(d, data ? OP_FDATASYNC : OP_FSYNC, ra, rb);
}

static bool op_ftruncate(struct differ *d)
{
	int s = pick_slot_pref(d, P_WRITE);
	off_t len = gen_trunc_len(&d->rng, slot_size(d, s));
	char sb[64];
	describe(d, "ftruncate(%s, %lld)", slot_str(d, s, sb, sizeof(sb)), (long long)len);
	struct times_before tb;
	times_take(d, s, NULL, &tb);
	int ra = T0->ftruncate(T0->ctx, slot_fd(d, s, 0), len);
	int rb = T1->ftruncate(T1->ctx, slot_fd(d, s, 1), len);
	return same(d, OP_FTRUNCATE, ra, rb) && times_check(d, s, NULL, &tb);
}

/* fallocate: mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, and modes both
 * refuse, over ranges inside, across and past the end, sometimes an invalid
 * one. SEEK_DATA and SEEK_HOLE (op_lseek) then see the holes punched. */
static bool op_fallocate(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot_pref(d, P_WRITE);
	off_t size = slot_size(d, s);
	unsigned k = (unsigned)oracle_rng_below(r, 100);
	int mode = k < 30 ? 0 : k < 45 ? FALLOC_FL_KEEP_SIZE
		 : k < 75 ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
		 : k < 85 ? FALLOC_FL_ZERO_RANGE : k < 92 ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
		 : k < 96 ? FALLOC_FL_PUNCH_HOLE /* EOPNOTSUPP without KEEP_SIZE */
			  : 0x100; /* no mode: EOPNOTSUPP */
	off_t off = gen_offset(r, size, 0, false);
	off_t len = 1 + (off_t)oracle_rng_below(r, 256 * 1024);
	if (oracle_rng_pct(r, 3))
		len = -(off_t)oracle_rng_below(r, 2); /* EINVAL */
	char sb[64];
	describe(d, "fallocate(%s, 0x%x, %lld, %lld)", slot_str(d, s, sb, sizeof(sb)),
		 (unsigned)mode, (long long)off, (long long)len);
	struct times_before tb;
	times_take(d, s, NULL, &tb);
	int ra = T0->fallocate(T0->ctx, slot_fd(d, s, 0), mode, off, len);
	int rb = T1->fallocate(T1->ctx, slot_fd(d, s, 1), mode, off, len);
	struct stat st;
	if (ra == 0 && !(mode & FALLOC_FL_PUNCH_HOLE) &&
	    T0->fstat(T0->ctx, slot_fd(d, s, 0), &st) == 0 &&
	    d->nfalloc < sizeof(d->falloc_ino) / sizeof(d->falloc_ino[0]))
		d->falloc_ino[d->nfalloc++] = st.st_ino;
	return same(d, OP_FALLOCATE, ra, rb) && times_check(d, s, NULL, &tb);
}

/* Open file description locks (F_OFD_SETLK, F_OFD_GETLK) over a few
 * overlapping ranges: they conflict between the slots' descriptions even
 * in one process, and with the process's POSIX locks (op_posix_lock: GETLK
 * reports those with the process's pid), go with a description's last fd,
 * and must outlive a server crash (the server's lock table). GETLK's
 * answer is compared. */
static bool op_lock(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	char sb[64];
	static const short types[] = {F_RDLCK, F_WRLCK, F_UNLCK};
	bool get = oracle_rng_pct(r, 40);
	struct flock fa = {0};
	fa.l_type = types[oracle_rng_below(r, get ? 2 : 3)];
	fa.l_whence = SEEK_SET;
	fa.l_start = (off_t)oracle_rng_below(r, 4) * 1024;
	fa.l_len = (off_t)oracle_rng_below(r, 3) * 1024; /* (0: to the end) */
	struct flock fb = fa;
	int cmd = get ? F_OFD_GETLK : F_OFD_SETLK;
	describe(d, "fcntl(%s, %s, %s %lld+%lld)", slot_str(d, s, sb, sizeof(sb)),
		 get ? "F_OFD_GETLK" : "F_OFD_SETLK",
		 fa.l_type == F_RDLCK ? "F_RDLCK" : fa.l_type == F_WRLCK ? "F_WRLCK" : "F_UNLCK",
		 (long long)fa.l_start, (long long)fa.l_len);
	int ra = T0->lock(T0->ctx, slot_fd(d, s, 0), cmd, &fa);
	int rb = T1->lock(T1->ctx, slot_fd(d, s, 1), cmd, &fb);
	if (!same(d, OP_LOCK, ra, rb))
		return false;
	if (get && ra == 0 &&
	    (fa.l_type != fb.l_type ||
	     (fa.l_type != F_UNLCK && (fa.l_start != fb.l_start || fa.l_len != fb.l_len ||
				       fa.l_pid != fb.l_pid)))) {
		mismatch(d, "F_OFD_GETLK: %s reports type %d %lld+%lld pid %d, %s type %d %lld+%lld pid %d",
			 T0->name, fa.l_type, (long long)fa.l_start, (long long)fa.l_len, (int)fa.l_pid,
			 T1->name, fb.l_type, (long long)fb.l_start, (long long)fb.l_len, (int)fb.l_pid);
		return false;
	}
	return true;
}

/* fcntl F_GETFL (compared) and F_SETFL turning O_APPEND on or off (the
 * writes that follow show it) */
static bool op_fcntl(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	char sb[64];
	if (oracle_rng_pct(r, 50)) {
		describe(d, "fcntl(%s, F_GETFL)", slot_str(d, s, sb, sizeof(sb)));
		int ra = T0->fcntl_fl(T0->ctx, slot_fd(d, s, 0), F_GETFL, 0);
		int rb = T1->fcntl_fl(T1->ctx, slot_fd(d, s, 1), F_GETFL, 0);
		return same(d, OP_FCNTL, ra, rb);
	}
	int fl = oracle_rng_pct(r, 50) ? O_APPEND : 0;
	describe(d, "fcntl(%s, F_SETFL, 0%o)", slot_str(d, s, sb, sizeof(sb)), (unsigned)fl);
	int ra = T0->fcntl_fl(T0->ctx, slot_fd(d, s, 0), F_SETFL, fl);
	int rb = T1->fcntl_fl(T1->ctx, slot_fd(d, s, 1), F_SETFL, fl);
	if (ra == 0 && s >= 0)
		d->slots[s].flags = (d->slots[s].flags & ~O_APPEND) | (fl & O_APPEND);
	return same(d, OP_FCNTL, ra, rb);
}

/* flock(2) on slots: LOCK_SH and LOCK_EX always with LOCK_NB (another
 * slot may hold a conflicting lock, and nothing here may wait), LOCK_UN
 * with or without it, sometimes an operation that is none (EINVAL).
 * Slots opened apart are descriptions of their own whose locks conflict
 * (EWOULDBLOCK); a dup'd slot shares its description's lock, which goes
 * with the description's last fd; a conversion that meets a conflict has
 * let the old lock go first, as Linux does. flock locks never meet record
 * locks. They must outlive a server crash. */
static bool op_flock(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	unsigned k = (unsigned)oracle_rng_below(r, 100);
	int op = k < 40 ? LOCK_SH | LOCK_NB : k < 75 ? LOCK_EX | LOCK_NB : k < 85 ? LOCK_UN
		 : k < 96 ? LOCK_UN | LOCK_NB : k < 98 ? LOCK_NB : LOCK_SH | LOCK_EX | LOCK_NB;
	int base = op & ~LOCK_NB;
	char sb[64];
	describe(d, "flock(%s, %s%s)", slot_str(d, s, sb, sizeof(sb)),
		 base == LOCK_SH ? "LOCK_SH" : base == LOCK_EX ? "LOCK_EX" : base == LOCK_UN ? "LOCK_UN"
		 : base == 0 ? "0" : "LOCK_SH|LOCK_EX",
		 op & LOCK_NB ? "|LOCK_NB" : "");
	int ra = T0->flock(T0->ctx, slot_fd(d, s, 0), op);
	int rb = T1->flock(T1->ctx, slot_fd(d, s, 1), op);
	return same(d, OP_FLOCK, ra, rb);
}

/* A GETLK answer (fa from side 0, fb from side 1): the same type, and for
 * a conflicting lock the same range and holder (l_pid: the process for a
 * POSIX lock, -1 for an OFD lock). */
static bool same_getlk(struct differ *d, const char *cmd, const struct flock *fa,
		       const struct flock *fb)
{
	if (fa->l_type == fb->l_type &&
	    (fa->l_type == F_UNLCK ||
	     (fa->l_whence == fb->l_whence && fa->l_start == fb->l_start &&
	      fa->l_len == fb->l_len && fa->l_pid == fb->l_pid)))
		return true;
	mismatch(d, "%s: %s reports type %d whence %d %lld+%lld pid %d, %s type %d whence %d "
		 "%lld+%lld pid %d", cmd, T0->name, fa->l_type, fa->l_whence, (long long)fa->l_start,
		 (long long)fa->l_len, (int)fa->l_pid, T1->name, fb->l_type, fb->l_whence,
		 (long long)fb->l_start, (long long)fb->l_len, (int)fb->l_pid);
	return false;
}

/* POSIX record locks (F_SETLK, F_GETLK; never F_SETLKW) over a few ranges,
 * mostly from the start of the file, sometimes from the fd's offset or the
 * end, sometimes backwards (a negative l_len). Their owner is the process:
 * here they never conflict with each other, merge and split across the
 * slots, and go when any fd of the file is closed (a close, a dup2 over
 * it, the harness's own reads of the tree: alike on both sides). They do
 * conflict with the slots' OFD locks (op_lock), which F_GETLK reports with
 * l_pid -1; F_GETLK with F_UNLCK is EINVAL. A read lock needs an fd open
 * for reading, a write lock one open for writing (EBADF). */
static bool op_posix_lock(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	char sb[64];
	static const short types[] = {F_RDLCK, F_WRLCK, F_UNLCK};
	bool get = oracle_rng_pct(r, 35);
	struct flock fa = {0};
	fa.l_type = types[oracle_rng_below(r, get && !oracle_rng_pct(r, 5) ? 2 : 3)];
	unsigned w = (unsigned)oracle_rng_below(r, 100);
	fa.l_whence = w < 80 ? SEEK_SET : w < 90 ? SEEK_CUR : SEEK_END;
	if (s >= 0 && d->slots[s].is_dir)
		fa.l_whence = SEEK_SET; /* (a directory's offset and size are the file system's own) */
	fa.l_start = fa.l_whence == SEEK_SET ? (off_t)oracle_rng_below(r, 4) * 1024
					     : ((off_t)oracle_rng_below(r, 5) - 2) * 1024;
	fa.l_len = oracle_rng_pct(r, 5) ? -1024 : (off_t)oracle_rng_below(r, 3) * 1024;
	struct flock fb = fa;
	int cmd = get ? F_GETLK : F_SETLK;
	describe(d, "fcntl(%s, %s, %s %s %lld len %lld)", slot_str(d, s, sb, sizeof(sb)),
		 get ? "F_GETLK" : "F_SETLK",
		 fa.l_type == F_RDLCK ? "F_RDLCK" : fa.l_type == F_WRLCK ? "F_WRLCK" : "F_UNLCK",
		 whence_str(fa.l_whence), (long long)fa.l_start, (long long)fa.l_len);
	int ra = T0->lock(T0->ctx, slot_fd(d, s, 0), cmd, &fa);
	int rb = T1->lock(T1->ctx, slot_fd(d, s, 1), cmd, &fb);
	if (!same(d, OP_POSIX_LOCK, ra, rb))
		return false;
	return !get || ra || rb || same_getlk(d, "F_GETLK", &fa, &fb);
}

/* fcntl F_GETFD (compared) and F_SETFD turning FD_CLOEXEC on or off (other
 * bits are ignored): the flag belongs to the fd, not to the description (a
 * dup or dup2 makes a new fd without it), and must outlive a server crash
 * (libananke keeps it). */
static bool op_fcntl_fd(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = pick_slot(d);
	char sb[64];
	if (oracle_rng_pct(r, 50)) {
		describe(d, "fcntl(%s, F_GETFD)", slot_str(d, s, sb, sizeof(sb)));
		int ra = T0->fcntl_fd(T0->ctx, slot_fd(d, s, 0), F_GETFD, 0);
		int rb = T1->fcntl_fd(T1->ctx, slot_fd(d, s, 1), F_GETFD, 0);
		return same(d, OP_FCNTL_FD, ra, rb);
	}
	int fl = oracle_rng_pct(r, 50) ? FD_CLOEXEC : 0;
	if (oracle_rng_pct(r, 10))
		fl |= 4;
	describe(d, "fcntl(%s, F_SETFD, %d)", slot_str(d, s, sb, sizeof(sb)), fl);
	int ra = T0->fcntl_fd(T0->ctx, slot_fd(d, s, 0), F_SETFD, fl);
	int rb = T1->fcntl_fd(T1->ctx, slot_fd(d, s, 1), F_SETFD, fl);
	return same(d, OP_FCNTL_FD, ra, rb);
}

/* statfs(2) of a path or fstatfs(2) of a slot: the results, and where both
 * succeed the little that any two Linux file systems given the same calls
 * agree on: names of up to 255 bytes, neither read-only. Block and inode
 * counts are not compared (two volumes of different sizes), but each
 * side's must hang together: blocks of some size, no more free than
 * there are, no more available than free. */
static bool statfs_sane(struct differ *d, int k, const struct statfs *sf)
{
	if (sf->f_bsize > 0 && sf->f_bfree <= sf->f_blocks && sf->f_bavail <= sf->f_bfree &&
	    sf->f_ffree <= sf->f_files)
		return true;
	mismatch(d, "statfs of %s does not hang together: f_bsize %ld, f_blocks %llu, f_bfree %llu, "
		 "f_bavail %llu, f_files %llu, f_ffree %llu", d->t[k]->name, (long)sf->f_bsize,
		 (unsigned long long)sf->f_blocks, (unsigned long long)sf->f_bfree,
		 (unsigned long long)sf->f_bavail, (unsigned long long)sf->f_files,
		 (unsigned long long)sf->f_ffree);
	return false;
}

static bool op_statfs(struct differ *d)
{
	struct statfs sf[2];
	int ra, rb;
	if (oracle_rng_pct(&d->rng, 50)) {
		char path[PATH_MAX];
		gen_path(d, path, sizeof(path), W_ANY, false, true);
		describe(d, "statfs(%s)", pp(path));
		ra = T0->statfs(T0->ctx, path, &sf[0]);
		rb = T1->statfs(T1->ctx, path, &sf[1]);
	} else {
		int s = pick_slot(d);
		char sb[64];
		describe(d, "fstatfs(%s)", slot_str(d, s, sb, sizeof(sb)));
		ra = T0->fstatfs(T0->ctx, slot_fd(d, s, 0), &sf[0]);
		rb = T1->fstatfs(T1->ctx, slot_fd(d, s, 1), &sf[1]);
	}
	if (!same(d, OP_STATFS, ra, rb))
		return false;
	if (ra || rb)
		return true;
	if (sf[0].f_namelen != 255 || sf[1].f_namelen != 255) {
		mismatch(d, "f_namelen: %s %ld, %s %ld (255 expected)", T0->name,
			 (long)sf[0].f_namelen, T1->name, (long)sf[1].f_namelen);
		return false;
	}
	if ((sf[0].f_flags & ST_RDONLY) != (sf[1].f_flags & ST_RDONLY)) {
		mismatch(d, "f_flags ST_RDONLY: %s %s, %s %s", T0->name,
			 sf[0].f_flags & ST_RDONLY ? "set" : "clear", T1->name,
			 sf[1].f_flags & ST_RDONLY ? "set" : "clear");
		return false;
	}
	return statfs_sane(d, 0, &sf[0]) && statfs_sane(d, 1, &sf[1]);
}

static bool op_truncate(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), W_FILE, true, true);
	struct stat st;
	off_t size = T0->stat(T0->ctx, path, &st) == 0 ? st.st_size : 0;
	off_t len = gen_trunc_len(&d->rng, size);
	describe(d, "truncate(%s, %lld)", pp(path), (long long)len);
	struct times_before tb;
	times_take(d, -1, path, &tb);
	int ra = T0->truncate(T0->ctx, path, len);
	int rb = T1->truncate(T1->ctx, path, len);
	return same(d, OP_TRUNCATE, ra, rb) && times_check(d, -1, path, &tb);
}

/* ---- attributes ---- */

static mode_t gen_attr_mode(struct oracle_rng *r)
{
	static const mode_t modes[] = {0644, 0600, 0755, 0700, 0444, 0, 04755, 02755, 06775, 01777,
	                               02745, 0640};
	if (oracle_rng_pct(r, 20))
		return (mode_t)oracle_rng_below(r, 010000);
	return modes[oracle_rng_below(r, sizeof(modes) / sizeof(modes[0]))];
}

static void gen_ids(struct oracle_rng *r, uid_t *u, gid_t *g)
{
	static const unsigned ids[] = {(unsigned)-1, 0, 1000, 4242};
	*u = (uid_t)ids[oracle_rng_below(r, 4)];
	*g = (gid_t)ids[oracle_rng_below(r, 4)];
}

/* Times: NULL (now), or each one now, omitted, or long past (so that the
 * comparisons can see them: oracle_stat_diff), sometimes a bad nsec. */
static const struct timespec *gen_times(struct oracle_rng *r, struct timespec ts[2])
{
	if (oracle_rng_pct(r, 15))
		return NULL;
	for (unsigned k = 0; k < 2; k++) {
		unsigned x = (unsigned)oracle_rng_below(r, 100);
		ts[k].tv_sec = (time_t)oracle_rng_below(r, 900000000);
		ts[k].tv_nsec = x < 15 ? UTIME_NOW : x < 35 ? UTIME_OMIT : x < 38 ? 1000000000L
		                : (long)oracle_rng_below(r, 1000000000);
	}
	return ts;
}

static const char *times_str(const struct timespec *ts, char *buf, size_t len)
{
	if (!ts) {
		snprintf(buf, len, "NULL");
		return buf;
	}
	char a[2][32];
	for (unsigned k = 0; k < 2; k++) {
		if (ts[k].tv_nsec == UTIME_NOW)
			snprintf(a[k], sizeof(a[k]), "NOW");
		else if (ts[k].tv_nsec == UTIME_OMIT)
			snprintf(a[k], sizeof(a[k]), "OMIT");
		else
			snprintf(a[k], sizeof(a[k]), "%lld.%09ld", (long long)ts[k].tv_sec,
			         ts[k].tv_nsec);
	}
	snprintf(buf, len, "{%s, %s}", a[0], a[1]);
	return buf;
}

static bool op_chmod(struct differ *d, bool by_fd)
{
	mode_t mode = gen_attr_mode(&d->rng);
	int ra, rb;
	if (by_fd) {
		int s = pick_slot(d);
		char sb[64];
		describe(d, "fchmod(%s, 0%o)", slot_str(d, s, sb, sizeof(sb)), (unsigned)mode);
		ra = T0->fchmod(T0->ctx, slot_fd(d, s, 0), mode);
		rb = T1->fchmod(T1->ctx, slot_fd(d, s, 1), mode);
	} else {
		char path[PATH_MAX];
		gen_path(d, path, sizeof(path), W_ANY, true, true);
		describe(d, "chmod(%s, 0%o)", pp(path), (unsigned)mode);
		ra = T0->chmod(T0->ctx, path, mode);
		rb = T1->chmod(T1->ctx, path, mode);
	}
	return same(d, by_fd ? OP_FCHMOD : OP_CHMOD, ra, rb);
}

static bool op_chown(struct differ *d, bool by_fd)
{
	uid_t u;
	gid_t g;
	gen_ids(&d->rng, &u, &g);
	int ra, rb;
	if (by_fd) {
		int s = pick_slot(d);
		char sb[64];
		describe(d, "fchown(%s, %d, %d)", slot_str(d, s, sb, sizeof(sb)), (int)u, (int)g);
		ra = T0->fchown(T0->ctx, slot_fd(d, s, 0), u, g);
		rb = T1->fchown(T1->ctx, slot_fd(d, s, 1), u, g);
	} else {
		char path[PATH_MAX];
		gen_path(d, path, sizeof(path), W_ANY, true, true);
		describe(d, "chown(%s, %d, %d)", pp(path), (int)u, (int)g);
		ra = T0->chown(T0->ctx, path, u, g);
		rb = T1->chown(T1->ctx, path, u, g);
	}
	return same(d, by_fd ? OP_FCHOWN : OP_CHOWN, ra, rb);
}

/* After a utimensat or futimens that succeeded on both sides: every time
 * given explicitly is the file's now, to the nanosecond, on both sides,
 * and ctime (set to now by the call) is not before the mtime given. */
static bool utimens_check(struct differ *d, int s, const char *path, const struct timespec *ts)
{
	if ((ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000L) &&
	    (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000L))
		return true; /* (no time given: both omitted succeed even on a bad fd) */
	struct stat st[2];
	int r[2];
	for (int k = 0; k < 2; k++)
		r[k] = path ? d->t[k]->stat(d->t[k]->ctx, path, &st[k])
			    : d->t[k]->fstat(d->t[k]->ctx, slot_fd(d, s, k), &st[k]);
	char x[32], y[32];
	if (r[0] || r[1]) {
		mismatch(d, "%s after it: %s %s, %s %s", path ? "stat" : "fstat", T0->name,
			 oracle_result_str(r[0], x, sizeof(x)), T1->name,
			 oracle_result_str(r[1], y, sizeof(y)));
		return false;
	}
	for (int k = 0; k < 2; k++) {
		for (int w = 0; w < 2; w++) {
			const struct timespec *got = w ? &st[k].st_mtim : &st[k].st_atim;
			if (ts[w].tv_nsec < 0 || ts[w].tv_nsec >= 1000000000L || ts_equal(got, &ts[w]))
				continue; /* (UTIME_NOW, UTIME_OMIT) */
			mismatch(d, "%s of %s is %s after it was set to %s", w ? "mtime" : "atime",
				 d->t[k]->name, ts_str(got, x, sizeof(x)), ts_str(&ts[w], y, sizeof(y)));
			return false;
		}
		if (ts[1].tv_nsec >= 0 && ts[1].tv_nsec < 1000000000L &&
		    ts_before(&st[k].st_ctim, &ts[1])) {
			mismatch(d, "ctime of %s (%s) is before the mtime set (%s)", d->t[k]->name,
				 ts_str(&st[k].st_ctim, x, sizeof(x)), ts_str(&ts[1], y, sizeof(y)));
			return false;
		}
	}
	return true;
}

static bool op_utimens(struct differ *d, bool by_fd)
{
	struct timespec buf[2];
	const struct timespec *ts = gen_times(&d->rng, buf);
	char tstr[96];
	times_str(ts, tstr, sizeof(tstr));
	int ra, rb, s = -1;
	char path[PATH_MAX];
	if (by_fd) {
		s = pick_slot(d);
		char sb[64];
		describe(d, "futimens(%s, %s)", slot_str(d, s, sb, sizeof(sb)), tstr);
		ra = T0->futimens(T0->ctx, slot_fd(d, s, 0), ts);
		rb = T1->futimens(T1->ctx, slot_fd(d, s, 1), ts);
	} else {
		gen_path(d, path, sizeof(path), W_ANY, true, true);
		describe(d, "utimensat(%s, %s)", pp(path), tstr);
		ra = T0->utimens(T0->ctx, path, ts);
		rb = T1->utimens(T1->ctx, path, ts);
	}
	if (!same(d, by_fd ? OP_FUTIMENS : OP_UTIMENS, ra, rb))
		return false;
	return ra || rb || !ts || utimens_check(d, s, by_fd ? NULL : path, ts);
}

static bool cmp_stat(struct differ *d, const struct stat *sa, const struct stat *sb)
{
	char msg[128];
	if (oracle_stat_diff(sa, sb, msg, sizeof(msg))) {
		mismatch(d, "stat differs: %s (%s vs %s)", msg, T0->name, T1->name);
		return false;
	}
	return true;
}

static bool op_stat(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), W_ANY, false, true);
	describe(d, "stat(%s)", pp(path));
	struct stat sa, sb;
	int ra = T0->stat(T0->ctx, path, &sa);
	int rb = T1->stat(T1->ctx, path, &sb);
	return same(d, OP_STAT, ra, rb) && (ra || cmp_stat(d, &sa, &sb));
}

static bool op_fstat(struct differ *d)
{
	int s = pick_slot(d);
	char sbuf[64];
	describe(d, "fstat(%s)", slot_str(d, s, sbuf, sizeof(sbuf)));
	struct stat sa, sb;
	int ra = T0->fstat(T0->ctx, slot_fd(d, s, 0), &sa);
	int rb = T1->fstat(T1->ctx, slot_fd(d, s, 1), &sb);
	return same(d, OP_FSTAT, ra, rb) && (ra || cmp_stat(d, &sa, &sb));
}

/* ---- symbolic links ---- */

/* Components of the directory that holds `path`, read lexically. */
static unsigned parent_depth(const char *path)
{
	unsigned n = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		n++;
		p += strcspn(p, "/");
	}
	return n ? n - 1 : 0;
}

/*
 * Does a link at `path` whose target is t[0..len) climb above the root when
 * it is followed? Linux follows a libc target's ".." out of its root (the
 * Ananke root is its own parent), so such links are never left in the tree.
 * Only leading ".." (after "." or nothing) are measured against the link's
 * depth; a ".." after a name, which depends on where that name leads, and an
 * absolute target count as climbing.
 */
static bool link_climbs(const char *path, const char *t, size_t len)
{
	if (len && t[0] == '/')
		return true;
	unsigned up = 0;
	bool named = false;
	for (size_t i = 0; i < len;) {
		while (i < len && t[i] == '/')
			i++;
		size_t j = i;
		while (j < len && t[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 2 && t[i] == '.' && t[i + 1] == '.') {
			if (named)
				return true;
			up++;
		} else if (n && !(n == 1 && t[i] == '.')) {
			named = true;
		}
		i = j;
	}
	return up > parent_depth(path);
}

/* Append s to out (len bytes, o used so far), cut at the end. */
static void tgt_add(char *out, size_t len, size_t *o, const char *s)
{
	size_t n = strlen(s);
	if (*o + 1 >= len)
		return;
	if (n > len - 1 - *o)
		n = len - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = 0;
}

/*
 * A relative target for a new link at `path`: names of the generator's
 * namespace (existing or not, "nx" never exists), sometimes below "./" or
 * "../" (never more of those than the link is deep: Linux's ".." would
 * leave the libc root), sometimes a known entry reached from the link's
 * directory, with a trailing "/", "." and "..", a too long name, "" and
 * targets of PATH_MAX - 1 and PATH_MAX bytes. Links to files, to
 * directories, dangling links, chains and loops all arise.
 */
static void gen_link_target(struct differ *d, const char *path, char *out, size_t len)
{
	struct oracle_rng *r = &d->rng;
	unsigned depth = parent_depth(path);
	unsigned x = (unsigned)oracle_rng_below(r, 1000);
	size_t o = 0;
	out[0] = 0;
	if (x < 10)
		return; /* "": ENOENT */
	if (x < 20 && len > PATH_MAX) {
		/* "./" repeated, then a name: PATH_MAX - 1 bytes (fine) or
		 * PATH_MAX (ENAMETOOLONG) */
		size_t want = oracle_rng_pct(r, 50) ? PATH_MAX - 1 : PATH_MAX;
		while (o + 1 < want)
			tgt_add(out, len, &o, "./");
		out[want - 1] = (char)('a' + oracle_rng_below(r, 4));
		out[want] = 0;
		return;
	}
	if (x < 250) {
		/* a known entry, from the link's directory */
		const char *k = pick_known(d, W_ANY);
		if (k) {
			for (unsigned i = 0; i < depth; i++)
				tgt_add(out, len, &o, "../");
			tgt_add(out, len, &o, k + 1);
			if (oracle_rng_pct(r, 8))
				tgt_add(out, len, &o, "/");
			return;
		}
	}
	if (x < 300) {
		/* the link's own directory, or one above it */
		unsigned up = (unsigned)oracle_rng_below(r, (uint64_t)depth + 1);
		if (!up)
			tgt_add(out, len, &o, oracle_rng_pct(r, 50) ? "." : "./");
		for (unsigned i = 0; i < up; i++)
			tgt_add(out, len, &o, i ? "/.." : "..");
		return;
	}
	if (oracle_rng_pct(r, 15))
		tgt_add(out, len, &o, "./");
	if (depth && oracle_rng_pct(r, 35)) {
		unsigned up = 1 + (unsigned)oracle_rng_below(r, depth);
		for (unsigned i = 0; i < up; i++)
			tgt_add(out, len, &o, "../");
	}
	unsigned n = 1 + (unsigned)oracle_rng_below(r, 3);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			tgt_add(out, len, &o, oracle_rng_pct(r, 10) ? "/./" : "/");
		unsigned y = (unsigned)oracle_rng_below(r, 100);
		tgt_add(out, len, &o, y < 88 ? names[oracle_rng_below(r, 4)] : y < 94 ? "nx"
		                      : y < 97 ? long255 : long256);
	}
	if (oracle_rng_pct(r, 8))
		tgt_add(out, len, &o, "/");
}

static bool op_symlink(struct differ *d)
{
	char path[PATH_MAX], target[PATH_MAX + 8];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 70) ? W_NEW : W_ANY, true, true);
	gen_link_target(d, path, target, sizeof(target));
	char pt[700];
	if (strlen(target) > 300)
		snprintf(pt, sizeof(pt), "<%zu bytes: \"%.16s...%s\">", strlen(target), target,
		         target + strlen(target) - 8);
	else
		snprintf(pt, sizeof(pt), "%s", pp(target));
	describe(d, "symlink(%s, %s)", pt, pp(path));
	int ra = T0->symlink(T0->ctx, target, path);
	int rb = T1->symlink(T1->ctx, target, path);
	return same(d, OP_SYMLINK, ra, rb);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A listxattr answer in canonical form: the names sorted (each file system
 * lists in its own order), NUL-separated as listed. */
static void sort_names(uint8_t *buf, long n)
{
	char *list[64], tmp[4096];
	unsigned k = 0;
	if (n <= 0 || n > (long)sizeof(tmp))
		return;
	for (long off = 0; off < n && k < 64; off += (long)strlen((char *)buf + off) + 1)
		list[k++] = (char *)buf + off;
	qsort(list, k, sizeof(list[0]), cmp_cstr);
	size_t at = 0;
	for (unsigned i = 0; i < k; i++) {
		size_t l = strlen(list[i]) + 1;
		memcpy(tmp + at, list[i], l);
		at += l;
	}
	memcpy(buf, tmp, at);
}

/* Which calls of a family: the one on a path (a link at the end
 * followed), the l- one (not followed), the f- one (an fd). */
enum xvariant { XV_PATH, XV_LINK, XV_FD };

static long x_set(struct target *t, enum xvariant v, const char *path, int fd, const char *name,
		  const void *val, size_t n, int flags)
{
	return v == XV_PATH ? t->setxattr(t->ctx, path, name, val, n, flags)
	     : v == XV_LINK ? t->lsetxattr(t->ctx, path, name, val, n, flags)
			    : t->fsetxattr(t->ctx, fd, name, val, n, flags);
}

static long x_get(struct target *t, enum xvariant v, const char *path, int fd, const char *name,
		  void *buf, size_t n)
{
	return v == XV_PATH ? t->getxattr(t->ctx, path, name, buf, n)
	     : v == XV_LINK ? t->lgetxattr(t->ctx, path, name, buf, n)
			    : t->fgetxattr(t->ctx, fd, name, buf, n);
}

static long x_list(struct target *t, enum xvariant v, const char *path, int fd, char *buf,
		   size_t n)
{
	return v == XV_PATH ? t->listxattr(t->ctx, path, buf, n)
	     : v == XV_LINK ? t->llistxattr(t->ctx, path, buf, n)
			    : t->flistxattr(t->ctx, fd, buf, n);
}

static long x_remove(struct target *t, enum xvariant v, const char *path, int fd,
		     const char *name)
{
	return v == XV_PATH ? t->removexattr(t->ctx, path, name)
	     : v == XV_LINK ? t->lremovexattr(t->ctx, path, name)
			    : t->fremovexattr(t->ctx, fd, name);
}

/* Extended attributes: set (flags 0, XATTR_CREATE, XATTR_REPLACE), get,
 * list or remove, on a few names in every namespace and some that Linux
 * refuses, with sizes that fit and sizes that do not. Values stay small:
 * ext4 keeps some attributes in the inode, so the space of one file
 * differs from the block the core gives it. One call of variant v, on
 * path or (XV_FD) slot s. */
static bool xattr_call(struct differ *d, enum op op, enum xvariant v, const char *path, int s)
{
	static const char *const xnames[] = {
		"user.a", "user.b", "user.a-rather-longer-name-of-an-attribute-0123456789",
		"trusted.t", "security.s", "user.", "other.x", "", "system.posix_acl_access",
	};
	struct oracle_rng *r = &d->rng;
	const char *pre = v == XV_PATH ? "" : v == XV_LINK ? "l" : "f";
	char on[700];
	if (v == XV_FD)
		slot_str(d, s, on, sizeof(on));
	else
		snprintf(on, sizeof(on), "%s", pp(path));
	int fa = slot_fd(d, s, 0), fb = slot_fd(d, s, 1);
	const char *name = xnames[oracle_rng_pct(r, 85) ? oracle_rng_below(r, 5)
						      : oracle_rng_below(r, 9)];
	unsigned what = (unsigned)oracle_rng_below(r, 100);
	long ra, rb;
	if (what < 40) {
		size_t n = oracle_rng_pct(r, 10) ? 0 : (size_t)oracle_rng_range(r, 1, 200);
		int flags = oracle_rng_pct(r, 60) ? 0 : oracle_rng_pct(r, 50) ? XATTR_CREATE
									  : XATTR_REPLACE;
		uint8_t val[200];
		for (size_t i = 0; i < n; i++)
			val[i] = (uint8_t)oracle_rng_next(r);
		describe(d, "%ssetxattr(%s, \"%s\", %zu bytes, %d)", pre, on, name, n, flags);
		ra = x_set(T0, v, path, fa, name, val, n, flags);
		rb = x_set(T1, v, path, fb, name, val, n, flags);
		return same(d, op, ra, rb);
	}
	if (what < 65) {
		size_t n = oracle_rng_pct(r, 20) ? 0 : oracle_rng_pct(r, 20) ? 3 : 256;
		describe(d, "%sgetxattr(%s, \"%s\", %zu)", pre, on, name, n);
		ra = x_get(T0, v, path, fa, name, n ? d->rbuf[0] : NULL, n);
		rb = x_get(T1, v, path, fb, name, n ? d->rbuf[1] : NULL, n);
		return same(d, op, ra, rb) && (n == 0 || cmp_data(d, ra));
	}
	if (what < 85) {
		size_t n = oracle_rng_pct(r, 20) ? 0 : oracle_rng_pct(r, 20) ? 5 : 1024;
		describe(d, "%slistxattr(%s, %zu)", pre, on, n);
		ra = x_list(T0, v, path, fa, n ? (char *)d->rbuf[0] : NULL, n);
		rb = x_list(T1, v, path, fb, n ? (char *)d->rbuf[1] : NULL, n);
		if (!same(d, op, ra, rb))
			return false;
		if (n == 0)
			return true;
		sort_names(d->rbuf[0], ra);
		sort_names(d->rbuf[1], rb);
		return cmp_data(d, ra);
	}
	describe(d, "%sremovexattr(%s, \"%s\")", pre, on, name);
	ra = x_remove(T0, v, path, fa, name);
	rb = x_remove(T1, v, path, fb, name);
	return same(d, op, ra, rb);
}

static bool op_xattr(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 70) ? W_FILE : W_ANY, false, true);
	return xattr_call(d, OP_XATTR, XV_PATH, path, -1);
}

/* The l- calls on a path, often a symbolic link (Linux refuses user.
 * attributes there: EPERM to set or remove, ENODATA to get; trusted. and
 * security. ones it takes), and the f- calls on a slot (an open file or
 * directory, whatever its access mode; the times of the file around
 * them as for the other calls on an fd). */
static bool op_xattr_lf(struct differ *d)
{
	if (oracle_rng_pct(&d->rng, 50)) {
		char path[PATH_MAX];
		gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 50) ? W_LINK : W_ANY, false,
			 true);
		return xattr_call(d, OP_XATTR_LF, XV_LINK, path, -1);
	}
	int s = pick_slot(d);
	struct times_before tb;
	times_take(d, s, NULL, &tb);
	return xattr_call(d, OP_XATTR_LF, XV_FD, NULL, s) && times_check(d, s, NULL, &tb);
}

static bool op_readlink(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(r, 75) ? W_LINK : W_ANY, false, true);
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	size_t n = x < 3 ? 0 : x < 20 ? (size_t)oracle_rng_range(r, 1, 4)
	           : x < 45 ? (size_t)oracle_rng_range(r, 1, 64) : x < 90 ? PATH_MAX : MAX_IO;
	describe(d, "readlink(%s, %zu)", pp(path), n);
	long ra = T0->readlink(T0->ctx, path, (char *)d->rbuf[0], n);
	long rb = T1->readlink(T1->ctx, path, (char *)d->rbuf[1], n);
	return same(d, OP_READLINK, ra, rb) && cmp_data(d, ra);
}

static bool op_lstat(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 50) ? W_LINK : W_ANY, false, true);
	describe(d, "lstat(%s)", pp(path));
	struct stat sa, sb;
	int ra = T0->lstat(T0->ctx, path, &sa);
	int rb = T1->lstat(T1->ctx, path, &sb);
	return same(d, OP_LSTAT, ra, rb) && (ra || cmp_stat(d, &sa, &sb));
}

static bool op_lchown(struct differ *d)
{
	uid_t u;
	gid_t g;
	gen_ids(&d->rng, &u, &g);
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 60) ? W_LINK : W_ANY, true, true);
	describe(d, "lchown(%s, %d, %d)", pp(path), (int)u, (int)g);
	int ra = T0->lchown(T0->ctx, path, u, g);
	int rb = T1->lchown(T1->ctx, path, u, g);
	return same(d, OP_LCHOWN, ra, rb);
}

static bool op_unlink(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 85) ? W_FILE : W_DIR, true, true);
	describe(d, "unlink(%s)", pp(path));
	int ra = T0->unlink(T0->ctx, path);
	int rb = T1->unlink(T1->ctx, path);
	return same(d, OP_UNLINK, ra, rb);
}

static bool op_rename(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	char from[PATH_MAX], to[PATH_MAX + 8];
	enum want w = oracle_rng_pct(r, 50) ? W_FILE : W_DIR;
	gen_path(d, from, sizeof(from), w, true, true);
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	if (x < 15 && *from) {
		/* into its own subtree: EINVAL for a directory */
		snprintf(to, sizeof(to), "%s%s%s", from, from[strlen(from) - 1] == '/' ? "" : "/",
		         names[oracle_rng_below(r, 4)]);
	} else if (x < 25) {
		snprintf(to, sizeof(to), "%s", from); /* same name: 0 */
	} else if (x < 35 && strrchr(from, '/') && strrchr(from, '/') != from) {
		/* onto its own parent: ENOTEMPTY */
		snprintf(to, sizeof(to), "%.*s", (int)(strrchr(from, '/') - from), from);
	} else if (x < 60) {
		gen_path(d, to, sizeof(to), oracle_rng_pct(r, 70) ? w : (w == W_FILE ? W_DIR : W_FILE),
		         true, true); /* usually over an existing entry */
	} else {
		gen_path(d, to, sizeof(to), oracle_rng_pct(r, 70) ? W_NEW : W_ANY, true, true);
	}
	char pf[700];
	snprintf(pf, sizeof(pf), "%s", pp(from));
	describe(d, "rename(%s, %s)", pf, pp(to));
	int ra = T0->rename(T0->ctx, from, to);
	int rb = T1->rename(T1->ctx, from, to);
	return same(d, OP_RENAME, ra, rb);
}

static bool op_link(struct differ *d)
{
	char from[PATH_MAX], to[PATH_MAX];
	gen_path(d, from, sizeof(from), oracle_rng_pct(&d->rng, 90) ? W_FILE : W_DIR, true, true);
	gen_path(d, to, sizeof(to), oracle_rng_pct(&d->rng, 70) ? W_NEW : W_ANY, true, true);
	char pf[700];
	snprintf(pf, sizeof(pf), "%s", pp(from));
	describe(d, "link(%s, %s)", pf, pp(to));
	int ra = T0->link(T0->ctx, from, to);
	int rb = T1->link(T1->ctx, from, to);
	return same(d, OP_LINK, ra, rb);
}

static bool op_mkdir(struct differ *d)
{
	char path[PATH_MAX];
	unsigned x = (unsigned)oracle_rng_below(&d->rng, 100);
	gen_path(d, path, sizeof(path), x < 60 ? W_NEW : x < 85 ? W_DIR : W_ANY, true, true);
	mode_t mode = gen_mode(&d->rng, true);
	describe(d, "mkdir(%s, 0%03o)", pp(path), (unsigned)mode);
	int ra = T0->mkdir(T0->ctx, path, mode);
	int rb = T1->mkdir(T1->ctx, path, mode);
	return same(d, OP_MKDIR, ra, rb);
}

static bool op_rmdir(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 85) ? W_DIR : W_FILE, true, true);
	describe(d, "rmdir(%s)", pp(path));
	int ra = T0->rmdir(T0->ctx, path);
	int rb = T1->rmdir(T1->ctx, path);
	return same(d, OP_RMDIR, ra, rb);
}

static bool op_listdir(struct differ *d)
{
	char path[PATH_MAX];
	gen_path(d, path, sizeof(path), oracle_rng_pct(&d->rng, 85) ? W_DIR : W_ANY, false, true);
	describe(d, "list_dir(%s)", pp(path));
	struct oracle_dirlist la, lb;
	oracle_dirlist_init(&la);
	oracle_dirlist_init(&lb);
	int ra = T0->list_dir(T0->ctx, path, &la);
	int rb = T1->list_dir(T1->ctx, path, &lb);
	bool ok = same(d, OP_LISTDIR, ra, rb);
	if (ok && ra == 0) {
		for (size_t i = 0; ok && (i < la.n || i < lb.n); i++) {
			if (i >= la.n || i >= lb.n || strcmp(la.ents[i].name, lb.ents[i].name) ||
			    la.ents[i].type != lb.ents[i].type) {
				mismatch(d, "listing differs at entry %zu: %s \"%s\", %s \"%s\"", i, T0->name,
				     i < la.n ? la.ents[i].name : "(end)", T1->name,
				     i < lb.n ? lb.ents[i].name : "(end)");
				ok = false;
			}
		}
	}
	oracle_dirlist_free(&la);
	oracle_dirlist_free(&lb);
	return ok;
}

static bool op_sync(struct differ *d)
{
	describe(d, "sync()");
	int ra = T0->sync(T0->ctx);
	int rb = T1->sync(T1->ctx);
	return same(d, OP_SYNC, ra, rb);
}

/* ---- the *at calls ---- */

/* A path relative to a directory fd: one or two names of the tree's
 * alphabet (so it often meets existing entries), never ".." (the Linux
 * side would climb out of its tree from its root's fd); sometimes "./"
 * first, a trailing slash, an empty path (ENOENT) or a 256-byte name. */
static void gen_rel(struct differ *d, char *out, size_t len)
{
	struct oracle_rng *r = &d->rng;
	out[0] = '\0';
	if (oracle_rng_pct(r, 2))
		return;
	size_t o = 0;
	if (oracle_rng_pct(r, 8))
		o += (size_t)snprintf(out + o, len - o, "./");
	unsigned n = 1 + (unsigned)oracle_rng_below(r, 2);
	for (unsigned i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "/" : "",
				      oracle_rng_pct(r, 1) ? long256 : names[oracle_rng_below(r, 4)]);
	if (oracle_rng_pct(r, 4) && o + 1 < len)
		strcat(out, "/");
}

/* A directory fd for an *at call: mostly an open directory, sometimes a
 * file's fd (ENOTDIR) or none (EBADF). */
static int pick_dir_slot(struct differ *d)
{
	return pick_slot_pref(d, P_DIR);
}

static bool op_openat(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int s = -1;
	for (int i = 0; i < NSLOTS; i++)
		if (!d->slots[i].open) {
			s = i;
			break;
		}
	if (s < 0)
		return true;
	static const int flag_set[] = {
		O_RDONLY | O_DIRECTORY, O_RDONLY | O_DIRECTORY, O_RDONLY, O_WRONLY | O_CREAT,
		O_RDWR | O_CREAT | O_EXCL, O_WRONLY | O_TRUNC, O_RDWR | O_APPEND, O_RDONLY | O_NOFOLLOW,
	};
	int flags = flag_set[oracle_rng_below(r, sizeof(flag_set) / sizeof(flag_set[0]))];
	int at = pick_dir_slot(d);
	char path[PATH_MAX], sbuf[64], fb[96];
	gen_rel(d, path, sizeof(path));
	mode_t mode = gen_mode(r, false);
	describe(d, "openat(%s, %s, %s, 0%03o) -> slot%d", slot_str(d, at, sbuf, sizeof(sbuf)),
		 pp(path), flags_str(flags, fb, sizeof(fb)), (unsigned)mode, s);
	int ra = T0->openat(T0->ctx, slot_fd(d, at, 0), path, flags, mode);
	int rb = T1->openat(T1->ctx, slot_fd(d, at, 1), path, flags, mode);
	return adopt_open(d, OP_OPENAT, s, flags, ra, rb);
}

static bool op_mkdirat(struct differ *d)
{
	int at = pick_dir_slot(d);
	char path[PATH_MAX], sbuf[64];
	gen_rel(d, path, sizeof(path));
	mode_t mode = gen_mode(&d->rng, true);
	describe(d, "mkdirat(%s, %s, 0%03o)", slot_str(d, at, sbuf, sizeof(sbuf)), pp(path),
		 (unsigned)mode);
	int ra = T0->mkdirat(T0->ctx, slot_fd(d, at, 0), path, mode);
	int rb = T1->mkdirat(T1->ctx, slot_fd(d, at, 1), path, mode);
	return same(d, OP_MKDIRAT, ra, rb);
}

static bool op_unlinkat(struct differ *d)
{
	int at = pick_dir_slot(d);
	char path[PATH_MAX], sbuf[64];
	gen_rel(d, path, sizeof(path));
	int flags = oracle_rng_pct(&d->rng, 30) ? AT_REMOVEDIR : 0;
	describe(d, "unlinkat(%s, %s, %s)", slot_str(d, at, sbuf, sizeof(sbuf)), pp(path),
		 flags ? "AT_REMOVEDIR" : "0");
	int ra = T0->unlinkat(T0->ctx, slot_fd(d, at, 0), path, flags);
	int rb = T1->unlinkat(T1->ctx, slot_fd(d, at, 1), path, flags);
	return same(d, OP_UNLINKAT, ra, rb);
}

static bool op_renameat2(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int a = pick_dir_slot(d), b = oracle_rng_pct(r, 50) ? a : pick_dir_slot(d);
	char from[PATH_MAX], to[PATH_MAX], sa[64], sb[64], pf[700];
	gen_rel(d, from, sizeof(from));
	gen_rel(d, to, sizeof(to));
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	unsigned flags = x < 60 ? 0 : x < 80 ? RENAME_NOREPLACE : RENAME_EXCHANGE;
	snprintf(pf, sizeof(pf), "%s", pp(from));
	describe(d, "renameat2(%s, %s, %s, %s, %s)", slot_str(d, a, sa, sizeof(sa)), pf,
		 slot_str(d, b, sb, sizeof(sb)), pp(to),
		 flags == RENAME_NOREPLACE ? "NOREPLACE" : flags ? "EXCHANGE" : "0");
	int ra = T0->renameat2(T0->ctx, slot_fd(d, a, 0), from, slot_fd(d, b, 0), to, flags);
	int rb = T1->renameat2(T1->ctx, slot_fd(d, a, 1), from, slot_fd(d, b, 1), to, flags);
	return same(d, OP_RENAMEAT2, ra, rb);
}

static bool op_linkat(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	int a = pick_dir_slot(d), b = oracle_rng_pct(r, 50) ? a : pick_dir_slot(d);
	char from[PATH_MAX], to[PATH_MAX], sa[64], sb[64], pf[700];
	gen_rel(d, from, sizeof(from));
	gen_rel(d, to, sizeof(to));
	int flags = oracle_rng_pct(r, 30) ? AT_SYMLINK_FOLLOW : 0;
	snprintf(pf, sizeof(pf), "%s", pp(from));
	describe(d, "linkat(%s, %s, %s, %s, %s)", slot_str(d, a, sa, sizeof(sa)), pf,
		 slot_str(d, b, sb, sizeof(sb)), pp(to), flags ? "AT_SYMLINK_FOLLOW" : "0");
	int ra = T0->linkat(T0->ctx, slot_fd(d, a, 0), from, slot_fd(d, b, 0), to, flags);
	int rb = T1->linkat(T1->ctx, slot_fd(d, a, 1), from, slot_fd(d, b, 1), to, flags);
	return same(d, OP_LINKAT, ra, rb);
}

static bool op_fstatat(struct differ *d)
{
	int at = pick_dir_slot(d);
	char path[PATH_MAX], sbuf[64];
	gen_rel(d, path, sizeof(path));
	int flags = oracle_rng_pct(&d->rng, 30) ? AT_SYMLINK_NOFOLLOW : 0;
	describe(d, "fstatat(%s, %s, %s)", slot_str(d, at, sbuf, sizeof(sbuf)), pp(path),
		 flags ? "AT_SYMLINK_NOFOLLOW" : "0");
	struct stat sa, sb;
	int ra = T0->fstatat(T0->ctx, slot_fd(d, at, 0), path, &sa, flags);
	int rb = T1->fstatat(T1->ctx, slot_fd(d, at, 1), path, &sb, flags);
	return same(d, OP_FSTATAT, ra, rb) && (ra || cmp_stat(d, &sa, &sb));
}

/* The directory and path of a faccessat, fchmodat or fchownat: mostly a
 * directory slot and a relative path, as for the other *at calls,
 * sometimes AT_FDCWD and an absolute path (the root included) of the kind
 * gen_path makes. `dir` describes the directory for messages. */
static void gen_at(struct differ *d, enum want w, bool mutating, int fd[2], char *path,
		   size_t len, char *dir, size_t dlen)
{
	if (oracle_rng_pct(&d->rng, 25)) {
		fd[0] = fd[1] = AT_FDCWD;
		gen_path(d, path, len, w, mutating, true);
		snprintf(dir, dlen, "AT_FDCWD");
		return;
	}
	int s = pick_dir_slot(d);
	fd[0] = slot_fd(d, s, 0);
	fd[1] = slot_fd(d, s, 1);
	gen_rel(d, path, len);
	slot_str(d, s, dir, dlen);
}

static const char *at_flags_str(int flags)
{
	return flags == 0 ? "0" : flags == AT_EACCESS ? "AT_EACCESS"
	     : flags == AT_SYMLINK_NOFOLLOW ? "AT_SYMLINK_NOFOLLOW"
	     : flags == (AT_EACCESS | AT_SYMLINK_NOFOLLOW) ? "AT_EACCESS|AT_SYMLINK_NOFOLLOW"
							    : "?";
}

/* faccessat(2): F_OK, or R_OK, W_OK and X_OK in every combination,
 * sometimes a bit that is none of them (EINVAL); flags 0, AT_EACCESS (the
 * same ids here: no set-id program) and AT_SYMLINK_NOFOLLOW (a link's own
 * permissions, which allow everything). Root is refused only X_OK on a
 * file without any x bit; another user (test_differential's second half)
 * meets every mode bit. */
static bool op_access(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	static const int flag_set[] = {0, 0, AT_EACCESS, AT_SYMLINK_NOFOLLOW,
				       AT_EACCESS | AT_SYMLINK_NOFOLLOW};
	int mode = oracle_rng_pct(r, 3) ? 010 : (int)oracle_rng_below(r, 8);
	int flags = flag_set[oracle_rng_below(r, sizeof(flag_set) / sizeof(flag_set[0]))];
	int fd[2];
	char path[PATH_MAX], dir[64], ms[32];
	gen_at(d, oracle_rng_pct(r, 20) ? W_LINK : W_ANY, false, fd, path, sizeof(path), dir,
	       sizeof(dir));
	if (mode == F_OK)
		snprintf(ms, sizeof(ms), "F_OK");
	else if (mode & ~(R_OK | W_OK | X_OK))
		snprintf(ms, sizeof(ms), "0%o", (unsigned)mode);
	else
		snprintf(ms, sizeof(ms), "%s%s%s", mode & R_OK ? "R_OK" : "",
			 mode & W_OK ? (mode & R_OK ? "|W_OK" : "W_OK") : "",
			 mode & X_OK ? (mode & (R_OK | W_OK) ? "|X_OK" : "X_OK") : "");
	describe(d, "faccessat(%s, %s, %s, %s)", dir, pp(path), ms, at_flags_str(flags));
	int ra = T0->faccessat(T0->ctx, fd[0], path, mode, flags);
	int rb = T1->faccessat(T1->ctx, fd[1], path, mode, flags);
	return same(d, OP_ACCESS, ra, rb);
}

/* fchmodat(2) and fchownat(2), with flags 0 or AT_SYMLINK_NOFOLLOW: then a
 * symbolic link at the end is changed itself, which chown does and chmod
 * refuses (EOPNOTSUPP: glibc looks at what the path names first, and
 * Ananke answers as Linux). */
static bool op_fchmodat(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	mode_t mode = gen_attr_mode(r);
	int flags = oracle_rng_pct(r, 40) ? AT_SYMLINK_NOFOLLOW : 0;
	int fd[2];
	char path[PATH_MAX], dir[64];
	gen_at(d, oracle_rng_pct(r, 30) ? W_LINK : W_ANY, true, fd, path, sizeof(path), dir,
	       sizeof(dir));
	describe(d, "fchmodat(%s, %s, 0%o, %s)", dir, pp(path), (unsigned)mode, at_flags_str(flags));
	int ra = T0->fchmodat(T0->ctx, fd[0], path, mode, flags);
	int rb = T1->fchmodat(T1->ctx, fd[1], path, mode, flags);
	return same(d, OP_FCHMODAT, ra, rb);
}

static bool op_fchownat(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	uid_t u;
	gid_t g;
	gen_ids(r, &u, &g);
	int flags = oracle_rng_pct(r, 40) ? AT_SYMLINK_NOFOLLOW : 0;
	int fd[2];
	char path[PATH_MAX], dir[64];
	gen_at(d, oracle_rng_pct(r, 30) ? W_LINK : W_ANY, true, fd, path, sizeof(path), dir,
	       sizeof(dir));
	describe(d, "fchownat(%s, %s, %d, %d, %s)", dir, pp(path), (int)u, (int)g,
		 at_flags_str(flags));
	int ra = T0->fchownat(T0->ctx, fd[0], path, u, g, flags);
	int rb = T1->fchownat(T1->ctx, fd[1], path, u, g, flags);
	return same(d, OP_FCHOWNAT, ra, rb);
}

/* mknod: sockets, regular files, and (where this host lets us) device
 * nodes of major 240, which is for local use: no driver answers it, so
 * opening one is ENXIO on Linux as through the service (which has no
 * drivers). Never FIFOs: opening one would block the Linux side. Also a
 * directory (EPERM) and a type that is none (EINVAL). */
static bool mknod_dev_ok(void)
{
	static int ok = -1;
	if (ok < 0) {
		char p[64];
		snprintf(p, sizeof(p), "/tmp/ank-mknod-probe-%d", (int)getpid());
		ok = mknod(p, S_IFCHR | 0600, makedev(240, 0)) == 0;
		unlink(p);
	}
	return ok;
}

static bool op_mknod(struct differ *d)
{
	struct oracle_rng *r = &d->rng;
	char path[PATH_MAX];
	unsigned x = (unsigned)oracle_rng_below(r, 100);
	gen_path(d, path, sizeof(path), x < 70 ? W_NEW : W_ANY, true, true);
	unsigned k = (unsigned)oracle_rng_below(r, 100);
	mode_t type = k < 45 ? S_IFSOCK : k < 65 ? S_IFREG : k < 70 ? 0 : k < 75 ? S_IFDIR
		    : k < 78 ? 0170000 : S_IFCHR;
	if ((type == S_IFCHR) && !mknod_dev_ok())
		type = S_IFSOCK;
	if (type == S_IFCHR && oracle_rng_pct(r, 40))
		type = S_IFBLK;
	dev_t dev = makedev(240, (unsigned)oracle_rng_below(r, 300));
	mode_t mode = type | gen_mode(r, false);
	describe(d, "mknod(%s, 0%06o, 240:%u)", pp(path), (unsigned)mode, minor(dev));
	int ra = T0->mknod(T0->ctx, path, mode, dev);
	int rb = T1->mknod(T1->ctx, path, mode, dev);
	return same(d, OP_MKNOD, ra, rb);
}

/* Workload mixes: relative frequencies that replace op_weight (differ.h). */
struct mix {
	const char *name;
	unsigned w[OP_COUNT];
};
static const struct mix mixes[] = {
	{"metadata", {[OP_OPEN] = 140, [OP_CLOSE] = 70, [OP_WRITE] = 15, [OP_PWRITE] = 10,
		      [OP_CHMOD] = 25, [OP_FCHMOD] = 15, [OP_CHOWN] = 15, [OP_FCHOWN] = 10,
		      [OP_UTIMENS] = 20, [OP_FUTIMENS] = 15, [OP_SYMLINK] = 25, [OP_READLINK] = 15,
		      [OP_LSTAT] = 20, [OP_LCHOWN] = 10, [OP_OPENAT] = 60, [OP_MKDIRAT] = 30,
		      [OP_UNLINKAT] = 30, [OP_RENAMEAT2] = 50, [OP_LINKAT] = 15, [OP_FSTATAT] = 20,
		      [OP_MKNOD] = 25, [OP_XATTR] = 25, [OP_XATTR_LF] = 15, [OP_ACCESS] = 15,
		      [OP_FCHMODAT] = 15, [OP_FCHOWNAT] = 10, [OP_STATFS] = 5,
		      [OP_READ] = 10, [OP_STAT] = 60, [OP_FSTAT] = 20, [OP_UNLINK] = 80,
		      [OP_RENAME] = 110, [OP_LINK] = 60, [OP_MKDIR] = 100, [OP_RMDIR] = 70,
		      [OP_LISTDIR] = 50, [OP_TRUNCATE] = 10, [OP_FSYNC] = 5, [OP_SYNC] = 2}},
	{"append_fsync", {[OP_FCNTL] = 20, [OP_LOCK] = 10, [OP_POSIX_LOCK] = 10, [OP_FLOCK] = 10,
			  [OP_FCNTL_FD] = 5, [OP_OPEN] = 50, [OP_CLOSE] = 25, [OP_WRITE] = 200,
			  [OP_READ] = 40, [OP_LSEEK] = 40, [OP_FSYNC] = 60, [OP_FDATASYNC] = 60, [OP_FSTAT] = 30,
			  [OP_STAT] = 10, [OP_UNLINK] = 5, [OP_RENAME] = 5, [OP_SYNC] = 2}},
	{"large_overwrite", {[OP_OPEN] = 40, [OP_CLOSE] = 15, [OP_PWRITE] = 200, [OP_FALLOCATE] = 30,
			     [OP_WRITE] = 100, [OP_PREAD] = 80, [OP_READ] = 40, [OP_LSEEK] = 30,
			     [OP_FTRUNCATE] = 25, [OP_TRUNCATE] = 10, [OP_FSTAT] = 30,
			     [OP_FDATASYNC] = 10}},
	{"many_fds", {[OP_DUP] = 60, [OP_FCNTL] = 20, [OP_LOCK] = 40, [OP_POSIX_LOCK] = 40,
		      [OP_FLOCK] = 30, [OP_FCNTL_FD] = 20, [OP_STATFS] = 5, [OP_OPEN] = 300,
		      [OP_CLOSE] = 20, [OP_READ] = 80, [OP_WRITE] = 80, [OP_PREAD] = 40,
		      [OP_PWRITE] = 60, [OP_LSEEK] = 60, [OP_FSTAT] = 40,
		      [OP_UNLINK] = 30, [OP_RENAME] = 30, [OP_MKDIR] = 20, [OP_LISTDIR] = 10}},
	{"rename_unlink", {[OP_OPEN] = 120, [OP_CLOSE] = 40, [OP_WRITE] = 40, [OP_READ] = 20,
			   [OP_UNLINK] = 150, [OP_RENAME] = 200, [OP_LINK] = 80, [OP_MKDIR] = 50,
			   [OP_RMDIR] = 40, [OP_STAT] = 30, [OP_LISTDIR] = 20, [OP_FSTAT] = 20,
			   [OP_OPENAT] = 40, [OP_UNLINKAT] = 40, [OP_RENAMEAT2] = 60, [OP_LINKAT] = 20}},
};

const unsigned *differ_weights;

int differ_set_mix(const char *name)
{
	if (!name || !*name || !strcmp(name, "mixed")) {
		differ_weights = NULL;
		return 0;
	}
	for (size_t k = 0; k < sizeof(mixes) / sizeof(mixes[0]); k++)
		if (!strcmp(mixes[k].name, name)) {
			differ_weights = mixes[k].w;
			return 0;
		}
	return -1;
}

static enum op pick_op(struct differ *d)
{
	const unsigned *w = differ_weights ? differ_weights : op_weight;
	unsigned total = 0;
	for (int i = 0; i < OP_COUNT; i++)
		total += w[i];
	unsigned x = (unsigned)oracle_rng_below(&d->rng, total);
	for (int i = 0; i < OP_COUNT; i++) {
		if (x < w[i])
			return (enum op)i;
		x -= w[i];
	}
	return OP_STAT;
}

static bool all_slots_busy(const struct differ *d)
{
	for (int i = 0; i < NSLOTS; i++)
		if (!d->slots[i].open)
			return false;
	return true;
}

/* One operation; returns false on a mismatch. */
static bool step(struct differ *d)
{
	enum op op = pick_op(d);
	d->hist[d->opno % HISTORY][0] = 0;
	if ((op == OP_OPEN || op == OP_OPENAT) && all_slots_busy(d))
		op = OP_CLOSE;
	bool ok = true, ns = false;
	switch (op) {
	case OP_OPEN: ok = op_open(d); ns = true; break;
	case OP_CLOSE: ok = op_close(d); break;
	case OP_READ: ok = op_read(d, false); break;
	case OP_PREAD: ok = op_read(d, true); break;
	case OP_WRITE: ok = op_write(d, false); break;
	case OP_PWRITE: ok = op_write(d, true); break;
	case OP_LSEEK: ok = op_lseek(d); break;
	case OP_FSYNC: ok = op_fsync(d, false); break;
	case OP_FDATASYNC: ok = op_fsync(d, true); break;
	case OP_FTRUNCATE: ok = op_ftruncate(d); break;
	case OP_TRUNCATE: ok = op_truncate(d); ns = true; break;
	case OP_STAT: ok = op_stat(d); break;
	case OP_FSTAT: ok = op_fstat(d); break;
	case OP_UNLINK: ok = op_unlink(d); ns = true; break;
	case OP_RENAME: ok = op_rename(d); ns = true; break;
	case OP_LINK: ok = op_link(d); ns = true; break;
	case OP_MKDIR: ok = op_mkdir(d); ns = true; break;
	case OP_RMDIR: ok = op_rmdir(d); ns = true; break;
	case OP_LISTDIR: ok = op_listdir(d); break;
	case OP_SYNC: ok = op_sync(d); break;
	case OP_REMOUNT: return do_remount(d, "random");
	case OP_CHMOD: ok = op_chmod(d, false); ns = true; break;
	case OP_FCHMOD: ok = op_chmod(d, true); ns = true; break;
	case OP_CHOWN: ok = op_chown(d, false); ns = true; break;
	case OP_FCHOWN: ok = op_chown(d, true); ns = true; break;
	case OP_UTIMENS: ok = op_utimens(d, false); ns = true; break;
	case OP_FUTIMENS: ok = op_utimens(d, true); ns = true; break;
	case OP_SYMLINK: ok = op_symlink(d); ns = true; break;
	case OP_READLINK: ok = op_readlink(d); break;
	case OP_LSTAT: ok = op_lstat(d); break;
	case OP_LCHOWN: ok = op_lchown(d); ns = true; break;
	case OP_OPENAT: ok = op_openat(d); ns = true; break;
	case OP_MKDIRAT: ok = op_mkdirat(d); ns = true; break;
	case OP_UNLINKAT: ok = op_unlinkat(d); ns = true; break;
	case OP_RENAMEAT2: ok = op_renameat2(d); ns = true; break;
	case OP_LINKAT: ok = op_linkat(d); ns = true; break;
	case OP_FSTATAT: ok = op_fstatat(d); break;
	case OP_MKNOD: ok = op_mknod(d); ns = true; break;
	case OP_FALLOCATE: ok = op_fallocate(d); break;
	case OP_FCNTL: ok = op_fcntl(d); break;
	case OP_LOCK: ok = T0->lock && T1->lock ? op_lock(d) : true; break;
	case OP_XATTR: ok = op_xattr(d); ns = true; break;
	case OP_DUP: ok = op_dup(d); break;
	case OP_STATFS: ok = op_statfs(d); break;
	case OP_ACCESS: ok = op_access(d); break;
	case OP_XATTR_LF: ok = op_xattr_lf(d); ns = true; break;
	case OP_FLOCK: ok = T0->flock && T1->flock ? op_flock(d) : true; break;
	case OP_POSIX_LOCK: ok = T0->lock && T1->lock ? op_posix_lock(d) : true; break;
	case OP_FCNTL_FD: ok = T0->fcntl_fd && T1->fcntl_fd ? op_fcntl_fd(d) : true; break;
	case OP_FCHMODAT: ok = op_fchmodat(d); ns = true; break;
	case OP_FCHOWNAT: ok = op_fchownat(d); ns = true; break;
	case OP_COUNT: break;
	}
	if (!ok)
		return false;
	if (ns)
		return check_trees(d, false, "after the operation");
	return true;
}

/* Does the host's file system (where libc targets live) stop files at
 * MAX_FILE like Ananke? */
static bool host_max_file_matches(void)
{
	const char *dir = getenv("ANK_TEST_TMPDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ank-maxprobe-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	unlink(path);
	bool ok = ftruncate(fd, MAX_FILE + 1) < 0 && errno == EFBIG &&
	          lseek(fd, MAX_FILE + 1, SEEK_SET) < 0 && errno == EINVAL &&
	          lseek(fd, MAX_FILE, SEEK_SET) == MAX_FILE;
	close(fd);
	if (!ok)
		printf("note: the host file system's largest file is not %lld bytes: offsets beyond "
		       "it are not generated\n", (long long)MAX_FILE);
	return ok;
}

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

static void differ_init_once(void)
{
	init_names();
	g_big_ok = host_max_file_matches();
}

void differ_no_big_offsets(void)
{
	differ_init();
	g_big_ok = false;
}

void differ_init(void)
{
	pthread_once(&g_init_once, differ_init_once);
}

int differ_run(struct target *a, struct target *b, uint64_t seed, unsigned nops, bool verbose,
               struct differ_stats *stats)
{
	differ_init();
	struct differ *d = calloc(1, sizeof(*d));
	if (!d) {
		printf("seed %llu: out of memory\n", (unsigned long long)seed);
		return 1;
	}
	d->t[0] = a;
	d->t[1] = b;
	d->seed = seed;
	d->verbose = verbose;
	d->stats = stats;
	d->creat_directory = kernel_creat_directory_einval();
	d->keep_going = env_ulong("ANK_DIFF_KEEP_GOING", 0) != 0;
	oracle_rng_seed(&d->rng, seed);
	d->wbuf = malloc(MAX_IO);
	d->rbuf[0] = malloc(MAX_IO);
	d->rbuf[1] = malloc(MAX_IO);
	if (!d->wbuf || !d->rbuf[0] || !d->rbuf[1]) {
		printf("seed %llu: out of memory\n", (unsigned long long)seed);
		free(d->wbuf);
		free(d->rbuf[0]);
		free(d->rbuf[1]);
		free(d);
		return 1;
	}
	printf("[ seed %llu ] %u operations, %s vs %s\n", (unsigned long long)seed, nops, a->name,
	       b->name);
	fflush(stdout);
	describe(d, "initial state");
	bool ok = check_trees(d, true, "at the start");
	for (d->opno = 1; ok && d->opno <= nops; d->opno++) {
		if (differ_before_op)
			differ_before_op(d->opno);
		ok = step(d);
		if (ok && d->opno % CONTENT_EVERY == 0) {
			describe(d, "periodic check");
			ok = check_trees(d, true, "periodic");
		}
	}
	if (ok) {
		d->opno = nops;
		describe(d, "end of sequence");
		ok = check_trees(d, true, "at the end");
		if (ok)
			ok = do_remount(d, "end of sequence");
	}
	if (d->soft)
		printf("seed %llu: %u errno-only differences\n", (unsigned long long)seed, d->soft);
	ok = ok && d->soft == 0;
	close_all(d, false);
	oracle_tree_free(&d->known);
	free(d->wbuf);
	free(d->rbuf[0]);
	free(d->rbuf[1]);
	free(d);
	return ok ? 0 : 1;
}

void differ_print_stats(const struct differ_stats *st)
{
	char e[32];
	printf("results per operation (both sides agreed):\n");
	for (int op = 0; op < OP_COUNT; op++) {
		printf("  %-10s", op_names[op]);
		for (int i = 0; i < NERR; i++) {
			if (!st->n[op][i])
				continue;
			printf(" %s:%lu", i == 0 ? "ok" : oracle_result_str(-i, e, sizeof(e)) + 1,
			       st->n[op][i]);
		}
		printf("\n");
	}
}
