/*
 * bench_service.c - benchmark: the Ananke service, driven through libananke
 * by a separate client process, against Linux ext4 (loop mount) and tmpfs
 * driven through plain syscalls.
 *
 * This program is the client. For each repetition it creates a sparse image
 * of --image-size, runs `ananke mkfs` on it and starts
 * `ananke serve IMAGE --socket S --foreground` as its child (default
 * workers), connects with ank_mount(), runs every phase with the ank_* calls,
 * disconnects and stops the service with `ananke stop`. The kernel sides get
 * a fresh file system each repetition as well: mkfs.ext4 on a sparse image
 * of the same size plus `mount -o loop`, and a new `mount -t tmpfs`.
 *
 *   create         open(O_CREAT|O_EXCL|O_WRONLY) + close, N files in one dir
 *   open+close     open(O_RDONLY) + close of each of those files
 *   stat           stat of each file
 *   chmod          chmod of each file (0600 and 0640 in turn)
 *   utimensat      utimensat of each file to explicit times
 *   setxattr       a 14-byte user.bench attribute on each file
 *   symlink        a symbolic link beside each file ("<name>.l")
 *   rename         rename of each file to a new name in the same directory
 *   unlink         unlink of each (renamed) file
 *   write 4K       pwrite of 4 KiB at sequential offsets into a new file
 *                  (--file-size), no fsync
 *   overwrite 4K   the same pwrites again over that file (cached pages)
 *   read 4K        pread of 4 KiB blocks of that file, after an untimed
 *                  warm-up pass (cached)
 *   append+fsync   4 KiB write to an O_APPEND file, then fsync
 *   seq write 1M   pwrite of 1 MiB at sequential offsets into a new file of
 *                  --seq-size (default 256 MiB), no fsync
 *   seq read 1M    pread of 1 MiB at sequential offsets of that file, after
 *                  an untimed warm-up pass
 *   seq read 1M    the same on a --fit-size file (default 32 MiB) that fits
 *   (fits cache)   in the service's page cache, read over and over for as
 *                  many operations as the previous row
 *
 * Method (as bench_core): repetitions interleave the sides (ananke, ext4,
 * tmpfs, ananke, ...), each starting from a fresh file system; before each
 * phase an untimed sync; clock_gettime(CLOCK_MONOTONIC) around each timed
 * operation; per side the median over repetitions of throughput (operations
 * / phase wall time), p50 and p99; ratios ananke/ext4 and ananke/tmpfs of the
 * median throughputs (above 1: Ananke faster).
 *
 * Recovery modes (--modes none,ananke,sync): the service side runs once per
 * listed mode in every repetition (`ananke serve ... --recovery=MODE`), the
 * modes interleaved with each other and with ext4 and tmpfs (unless
 * --no-ext4 / --no-tmpfs); the order of the sides rotates by one from one
 * repetition to the next, so no mode always follows another. The table then
 * gives each mode's medians and the ratio of each mode's median throughput
 * to the baseline mode's (none when listed, else the first), plus the
 * paired per-repetition ratios (median, min, max) to show the spread.
 * Without --modes the service runs with its default mode and no
 * --recovery option.
 *
 * ext4 and tmpfs need root (mount). Without it the program says so and
 * measures the Ananke side only. A fresh volume's root directory belongs to
 * uid 0 (mode 0755), so a client that is not root may not create files in
 * it: then the program makes /w (mode 0777) on the new image in-process,
 * before starting the service, and every path lives under /w. Mounts are
 * made in a private mount namespace when possible and are also unmounted
 * explicitly; the service is stopped with `ananke stop` (or, after a fatal
 * signal, SIGTERM to the supervisor this program started, and nothing
 * else).
 *
 * Usage: bench_service [--reps N] [--files N] [--image-size SIZE] [--quick]
 *                      [--file-size SIZE] [--fsyncs N] [--seq-size SIZE]
 *                      [--fit-size SIZE] [--workers N] [--ananke PATH]
 *                      [--modes LIST] [--serve-opt OPT]... [--dir DIR]
 *                      [--no-ext4] [--no-tmpfs]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "bench_util.h"

#define PROG "bench_service"
#define BLK BENCH_BLK
#define SEQ_IO (1u << 20) /* the size of one sequential operation */
#define MAX_REPS 99
#define MAX_MODES 3 /* none, ananke, sync */
#define MAX_SIDES (MAX_MODES + 2)
#define MAX_SERVE_OPTS 8

/* ---- configuration ------------------------------------------------------- */

struct config {
	uint64_t image_size;
	uint64_t file_size; /* the 4 KiB write/read file */
	uint64_t seq_size;  /* the 1 MiB sequential file */
	uint64_t fit_size;  /* the 1 MiB sequential file that fits the cache */
	unsigned files;
	unsigned reps;
	unsigned fsyncs;
	unsigned workers;   /* 0: the service's default */
	const char *ananke; /* the ananke program */
	const char *dir;
	const char *modes[MAX_MODES]; /* --modes, in the order given */
	unsigned nmodes;              /* 0: one service side, its default mode */
	char *serve_opts[MAX_SERVE_OPTS]; /* --serve-opt, passed to `ananke serve` */
	unsigned nserve_opts;
	bool quick;
	bool no_ext4, no_tmpfs;
};

enum op {
	OP_CREATE,
	OP_OPEN,
	OP_STAT,
	OP_CHMOD,
	OP_UTIMENS,
	OP_SETXATTR,
	OP_SYMLINK,
	OP_RENAME,
	OP_UNLINK,
	OP_WRITE,
	OP_OVERWRITE,
	OP_READ,
	OP_FSYNC,
	OP_SEQ_WRITE,
	OP_SEQ_READ,
	OP_FIT_READ,
	OP_COUNT
};
/* What a side is. The sides of a run are g_sides[0..g_nsides): the service
 * (once per recovery mode with --modes), then ext4 and tmpfs. */
enum { SIDE_ANANKE, SIDE_EXT4, SIDE_TMPFS };
struct side_def {
	int kind;
	const char *name; /* "ananke", or the recovery mode; "ext4", "tmpfs" */
	const char *mode; /* --recovery=MODE for the service, NULL: its default */
};
static struct side_def g_sides[MAX_SIDES];
static int g_nsides;

/* ---- cleanup state (touched from signal handlers: syscalls only) ---------- */

static char g_workdir[1024];
static char g_ext4_img[1100];
static char g_ext4_mnt[1100];
static char g_tmpfs_mnt[1100];
static volatile sig_atomic_t g_ext4_mounted;
static volatile sig_atomic_t g_tmpfs_mounted;
static volatile sig_atomic_t g_workdir_made;
static struct bench_svc g_svc = {.prog = PROG}; /* its pid: the `ananke serve` child */
static const char *volatile g_activity = "setup";

/* Unmount what is mounted. Async-signal-safe. */
static void unmount_all(bool lazy)
{
	if (g_ext4_mounted && bench_umount(g_ext4_mnt, lazy) == 0)
		g_ext4_mounted = 0;
	if (g_tmpfs_mounted && bench_umount(g_tmpfs_mnt, lazy) == 0)
		g_tmpfs_mounted = 0;
}

/* Remove everything this program created. Async-signal-safe; the service
 * must be stopped first (or be stopping: its image may be unlinked early). */
static void cleanup_all(bool lazy)
{
	unmount_all(lazy);
	const char *files[] = {g_svc.image, g_ext4_img, g_svc.socket, g_svc.log};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i][0])
			unlink(files[i]);
	if (!g_ext4_mounted && g_ext4_mnt[0])
		rmdir(g_ext4_mnt);
	if (!g_tmpfs_mounted && g_tmpfs_mnt[0])
		rmdir(g_tmpfs_mnt);
	if (g_workdir_made && !g_ext4_mounted && !g_tmpfs_mounted) {
		if (rmdir(g_workdir) == 0)
			g_workdir_made = 0;
	}
}

static void on_fatal_signal(int sig)
{
	bench_put_fatal(PROG, sig, g_activity, "stop the service, unmount, delete images");
	/* The supervisor stops its server on SIGTERM. */
	bench_svc_kill(&g_svc);
	cleanup_all(true);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_signal_handlers(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
				   SIGBUS, SIGABRT, SIGFPE,  SIGILL};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* ---- the sides behind one interface ------------------------------------------ */

/* Paths are absolute volume paths ("/bench/f0000123"). The kernel sides
 * resolve them relative to a descriptor of the mount root (the leading '/'
 * dropped), so every side walks the same components. Every call returns a
 * count, an fd or 0, or -errno. */
struct side {
	int kind;
	int rootfd; /* kernel sides */
	const char *root; /* kernel sides: the directory rootfd names */
};

static inline long neg_errno(long r)
{
	return r < 0 ? -errno : r;
}

static int s_open(const struct side *s, const char *p, int fl, mode_t m)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_open(p, fl, m));
	return (int)neg_errno(openat(s->rootfd, p + 1, fl | O_CLOEXEC, m));
}

static int s_close(const struct side *s, int fd)
{
	return (int)neg_errno(s->kind == SIDE_ANANKE ? ank_close(fd) : close(fd));
}

static ssize_t s_pwrite(const struct side *s, int fd, const void *b, size_t n, off_t o)
{
	return neg_errno(s->kind == SIDE_ANANKE ? ank_pwrite(fd, b, n, o) : pwrite(fd, b, n, o));
}

static ssize_t s_write(const struct side *s, int fd, const void *b, size_t n)
{
	return neg_errno(s->kind == SIDE_ANANKE ? ank_write(fd, b, n) : write(fd, b, n));
}

static ssize_t s_pread(const struct side *s, int fd, void *b, size_t n, off_t o)
{
	return neg_errno(s->kind == SIDE_ANANKE ? ank_pread(fd, b, n, o) : pread(fd, b, n, o));
}

static int s_fsync(const struct side *s, int fd)
{
	return (int)neg_errno(s->kind == SIDE_ANANKE ? ank_fsync(fd) : fsync(fd));
}

static int s_stat(const struct side *s, const char *p, struct stat *st)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_stat(p, st));
	return (int)neg_errno(fstatat(s->rootfd, p + 1, st, 0));
}

static int s_rename(const struct side *s, const char *from, const char *to)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_rename(from, to));
	return (int)neg_errno(renameat(s->rootfd, from + 1, s->rootfd, to + 1));
}

static int s_unlink(const struct side *s, const char *p)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_unlink(p));
	return (int)neg_errno(unlinkat(s->rootfd, p + 1, 0));
}

static int s_chmod(const struct side *s, const char *p, mode_t m)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_chmod(p, m));
	return (int)neg_errno(fchmodat(s->rootfd, p + 1, m, 0));
}

static int s_utimens(const struct side *s, const char *p, const struct timespec ts[2])
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_utimensat(AT_FDCWD, p, ts, 0));
	return (int)neg_errno(utimensat(s->rootfd, p + 1, ts, 0));
}

static int s_setxattr(const struct side *s, const char *p, const char *name, const void *v,
		      size_t n)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_setxattr(p, name, v, n, 0));
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s%s", s->root, p); /* (no *at form in the kernel) */
	return (int)neg_errno(setxattr(full, name, v, n, 0));
}

static int s_symlink(const struct side *s, const char *target, const char *p)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_symlink(target, p));
	return (int)neg_errno(symlinkat(target, s->rootfd, p + 1));
}

static int s_mkdir(const struct side *s, const char *p, mode_t m)
{
	if (s->kind == SIDE_ANANKE)
		return (int)neg_errno(ank_mkdir(p, m));
	return (int)neg_errno(mkdirat(s->rootfd, p + 1, m));
}

static int s_sync(const struct side *s)
{
	return (int)neg_errno(s->kind == SIDE_ANANKE ? ank_sync() : syncfs(s->rootfd));
}

/* ---- results ----------------------------------------------------------------- */

struct phase_result {
	bool ok;
	double ops_per_s;
	double p50_us, p99_us, max_us;
};

static struct phase_result g_res[MAX_SIDES][OP_COUNT][MAX_REPS];
static uint64_t g_requests[MAX_SIDES][MAX_REPS]; /* requests the service counted */
static unsigned g_errors;
static char g_first_errors[8][320];

static void report_error(int side, int rep, const char *op, const char *call, const char *path,
			 long rc)
{
	char msg[320];
	snprintf(msg, sizeof(msg), "%s rep %d, %s: %s(%s) returned %ld (%s: %s)", g_sides[side].name,
		 rep + 1, op, call, path ? path : "", rc, bench_errno_name((int)-rc),
		 strerror((int)-rc));
	fprintf(stderr, PROG ": ERROR %s\n", msg);
	if (g_errors < 8)
		snprintf(g_first_errors[g_errors], sizeof(g_first_errors[0]), "%s", msg);
	g_errors++;
}

/* A phase completed: n timed operations in elapsed_ns; lat gets sorted. */
static void finish_phase(int side, int op, int rep, uint64_t *lat, size_t n, uint64_t elapsed_ns)
{
	struct phase_result *r = &g_res[side][op][rep];
	qsort(lat, n, sizeof(*lat), bench_cmp_u64);
	r->ok = true;
	r->ops_per_s = (double)n * 1e9 / (double)(elapsed_ns ? elapsed_ns : 1);
	r->p50_us = (double)bench_percentile(lat, n, 0.50) / 1000.0;
	r->p99_us = (double)bench_percentile(lat, n, 0.99) / 1000.0;
	r->max_us = (double)lat[n - 1] / 1000.0;
}

/* ---- one repetition on one side ---------------------------------------------- */

struct workload {
	const struct config *cfg;
	const char *prefix; /* "" as root, else "/w" (see the top of the file) */
	char bench[16], f4k[16], log[16], seq[16], fit[16]; /* prefix + "/bench" ... */
	char (*paths)[32];  /* cfg->files paths /bench/fNNNNNNN */
	char (*rpaths)[32]; /* their rename targets /bench/rNNNNNNN */
	uint64_t *lat;
	uint8_t *buf;       /* SEQ_IO bytes, page aligned */
	char op_label[OP_COUNT][48];
};

static char g_activity_buf[128];

static void set_activity(int side, int rep, const char *what)
{
	snprintf(g_activity_buf, sizeof(g_activity_buf), "%s rep %d: %s", g_sides[side].name, rep + 1,
		 what);
	g_activity = g_activity_buf;
}

/* N operations on the bench files, one of: create, open+close, stat,
 * rename, unlink. Returns true when every one succeeded. */
static bool meta_phase(const struct side *s, int side, int rep, struct workload *w, int op)
{
	const struct config *cfg = w->cfg;
	const char *name = w->op_label[op];
	long rc;
	set_activity(side, rep, name);
	if ((rc = s_sync(s)) < 0) {
		report_error(side, rep, name, "sync", NULL, rc);
		return false;
	}
	unsigned i;
	struct stat st;
	uint64_t t0 = bench_now_ns();
	for (i = 0; i < cfg->files; i++) {
		const char *p = w->paths[i];
		const char *call = "";
		uint64_t a = bench_now_ns();
		switch (op) {
		case OP_CREATE:
		case OP_OPEN:
			call = "open";
			rc = s_open(s, p, op == OP_CREATE ? O_CREAT | O_EXCL | O_WRONLY : O_RDONLY,
				    0644);
			if (rc >= 0) {
				call = "close";
				rc = s_close(s, (int)rc);
			}
			break;
		case OP_STAT:
			call = "stat";
			rc = s_stat(s, p, &st);
			if (rc == 0 && (!S_ISREG(st.st_mode) || st.st_size != 0)) {
				call = "stat (wrong mode/size)";
				rc = -EILSEQ;
			}
			break;
		case OP_CHMOD:
			call = "chmod";
			rc = s_chmod(s, p, i % 2 ? 0600 : 0640);
			break;
		case OP_UTIMENS: {
			struct timespec ts[2] = {{.tv_sec = 1000000 + i, .tv_nsec = 5},
						 {.tv_sec = 2000000 + i, .tv_nsec = 7}};
			call = "utimensat";
			rc = s_utimens(s, p, ts);
			break;
		}
		case OP_SETXATTR: {
			char v[32];
			snprintf(v, sizeof(v), "value %08u", i);
			call = "setxattr";
			rc = s_setxattr(s, p, "user.bench", v, 14);
			break;
		}
		case OP_SYMLINK: {
			char lp[PATH_MAX];
			snprintf(lp, sizeof(lp), "%s.l", p);
			call = "symlink";
			rc = s_symlink(s, "a-target-of-the-link", lp);
			break;
		}
		case OP_RENAME:
			call = "rename";
			rc = s_rename(s, p, w->rpaths[i]);
			break;
		case OP_UNLINK:
			call = "unlink";
			p = w->rpaths[i];
			rc = s_unlink(s, p);
			break;
		}
		uint64_t b = bench_now_ns();
		if (rc < 0) {
			report_error(side, rep, name, call, p, rc);
			return false;
		}
		w->lat[i] = b - a;
	}
	finish_phase(side, op, rep, w->lat, i, bench_now_ns() - t0);
	return true;
}

/* Write `nops` pieces of `io` bytes at sequential offsets into a new file
 * (or over an existing one when !create); piece k carries k in its first 8
 * bytes. Timed as `op` when op >= 0. */
static bool write_file(const struct side *s, int side, int rep, struct workload *w, int op,
		       const char *path, size_t io, size_t nops, const char *name, bool create)
{
	long rc;
	int fd = s_open(s, path, create ? O_CREAT | O_EXCL | O_WRONLY : O_WRONLY, 0644);
	if (fd < 0) {
		report_error(side, rep, name, "open", path, fd);
		return false;
	}
	size_t i;
	uint64_t t0 = bench_now_ns();
	for (i = 0; i < nops; i++) {
		memcpy(w->buf, &(uint64_t){i}, 8);
		uint64_t a = bench_now_ns();
		ssize_t n = s_pwrite(s, fd, w->buf, io, (off_t)(i * io));
		uint64_t b = bench_now_ns();
		if (n != (ssize_t)io) {
			report_error(side, rep, name, "pwrite", path, n < 0 ? n : -EIO);
			break;
		}
		w->lat[i] = b - a;
	}
	uint64_t el = bench_now_ns() - t0;
	if ((rc = s_close(s, fd)) < 0) {
		report_error(side, rep, name, "close", path, rc);
		return false;
	}
	if (i < nops)
		return false;
	if (op >= 0)
		finish_phase(side, op, rep, w->lat, nops, el);
	return true;
}

/* Read a file written by write_file: one untimed pass, then `nops` timed
 * reads of `io` bytes at sequential offsets (wrapping around the file's
 * `npieces`), each checked for its tag. */
static bool read_file(const struct side *s, int side, int rep, struct workload *w, int op,
		      const char *path, size_t io, size_t npieces, size_t nops)
{
	const char *name = w->op_label[op];
	long rc;
	int fd = s_open(s, path, O_RDONLY, 0);
	if (fd < 0) {
		report_error(side, rep, name, "open", path, fd);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < npieces && ok; i++) {
		ssize_t n = s_pread(s, fd, w->buf, io, (off_t)(i * io));
		if (n != (ssize_t)io) {
			report_error(side, rep, name, "pread (warm-up)", path, n < 0 ? n : -EIO);
			ok = false;
		}
	}
	uint64_t t0 = bench_now_ns();
	for (size_t i = 0; i < nops && ok; i++) {
		size_t k = i % npieces;
		uint64_t a = bench_now_ns();
		ssize_t n = s_pread(s, fd, w->buf, io, (off_t)(k * io));
		uint64_t b = bench_now_ns();
		uint64_t tag;
		memcpy(&tag, w->buf, 8);
		if (n != (ssize_t)io || tag != k) {
			report_error(side, rep, name, n != (ssize_t)io ? "pread" : "pread (wrong data)",
				     path, n < 0 ? n : n != (ssize_t)io ? -EIO : -EILSEQ);
			ok = false;
			break;
		}
		w->lat[i] = b - a;
	}
	uint64_t el = bench_now_ns() - t0;
	if ((rc = s_close(s, fd)) < 0) {
		report_error(side, rep, name, "close", path, rc);
		return false;
	}
	if (ok)
		finish_phase(side, op, rep, w->lat, nops, el);
	return ok;
}

/* Run every phase; a failing phase is reported and the independent ones
 * still run. */
static void run_phases(const struct side *s, int side, int rep, struct workload *w)
{
	const struct config *cfg = w->cfg;
	long rc;

	/* metadata: create, open+close, stat, rename, unlink on the same files */
	set_activity(side, rep, "mkdir");
	if ((rc = s_mkdir(s, w->bench, 0755)) < 0) {
		report_error(side, rep, "create", "mkdir", w->bench, rc);
	} else if (meta_phase(s, side, rep, w, OP_CREATE)) {
		meta_phase(s, side, rep, w, OP_OPEN);
		meta_phase(s, side, rep, w, OP_STAT);
		meta_phase(s, side, rep, w, OP_CHMOD);
		meta_phase(s, side, rep, w, OP_UTIMENS);
		meta_phase(s, side, rep, w, OP_SETXATTR);
		meta_phase(s, side, rep, w, OP_SYMLINK);
		if (meta_phase(s, side, rep, w, OP_RENAME))
			meta_phase(s, side, rep, w, OP_UNLINK);
	}

	/* 4 KiB pwrite into a new file, again over it, then cached 4 KiB pread */
	size_t nblk = (size_t)(cfg->file_size / BLK);
	set_activity(side, rep, "write 4K");
	if ((rc = s_sync(s)) < 0)
		report_error(side, rep, w->op_label[OP_WRITE], "sync", NULL, rc);
	else if (write_file(s, side, rep, w, OP_WRITE, w->f4k, BLK, nblk, w->op_label[OP_WRITE],
			    true)) {
		set_activity(side, rep, "overwrite 4K");
		if ((rc = s_sync(s)) < 0)
			report_error(side, rep, w->op_label[OP_OVERWRITE], "sync", NULL, rc);
		else
			write_file(s, side, rep, w, OP_OVERWRITE, w->f4k, BLK, nblk,
				   w->op_label[OP_OVERWRITE], false);
		set_activity(side, rep, "read 4K");
		if ((rc = s_sync(s)) < 0)
			report_error(side, rep, w->op_label[OP_READ], "sync", NULL, rc);
		else
			read_file(s, side, rep, w, OP_READ, w->f4k, BLK, nblk, nblk);
	}

	/* append + fsync */
	const char *name = w->op_label[OP_FSYNC];
	set_activity(side, rep, "append+fsync");
	memset(w->buf, 0x5a, BLK);
	int fd;
	if ((rc = s_sync(s)) < 0) {
		report_error(side, rep, name, "sync", NULL, rc);
	} else if ((fd = s_open(s, w->log, O_CREAT | O_EXCL | O_WRONLY | O_APPEND, 0644)) < 0) {
		report_error(side, rep, name, "open", w->log, fd);
	} else {
		unsigned i;
		uint64_t t0 = bench_now_ns();
		for (i = 0; i < cfg->fsyncs; i++) {
			uint64_t a = bench_now_ns();
			ssize_t n = s_write(s, fd, w->buf, BLK);
			if (n != (ssize_t)BLK) {
				report_error(side, rep, name, "write", w->log, n < 0 ? n : -EIO);
				break;
			}
			rc = s_fsync(s, fd);
			uint64_t b = bench_now_ns();
			if (rc < 0) {
				report_error(side, rep, name, "fsync", w->log, rc);
				break;
			}
			w->lat[i] = b - a;
		}
		uint64_t el = bench_now_ns() - t0;
		if ((rc = s_close(s, fd)) < 0)
			report_error(side, rep, name, "close", w->log, rc);
		else if (i == cfg->fsyncs)
			finish_phase(side, OP_FSYNC, rep, w->lat, i, el);
	}

	/* 1 MiB sequential write of --seq-size, then read it back */
	size_t nseq = (size_t)(cfg->seq_size / SEQ_IO);
	set_activity(side, rep, "seq write 1M");
	if ((rc = s_sync(s)) < 0)
		report_error(side, rep, w->op_label[OP_SEQ_WRITE], "sync", NULL, rc);
	else if (write_file(s, side, rep, w, OP_SEQ_WRITE, w->seq, SEQ_IO, nseq,
			    w->op_label[OP_SEQ_WRITE], true)) {
		set_activity(side, rep, "seq read 1M");
		if ((rc = s_sync(s)) < 0)
			report_error(side, rep, w->op_label[OP_SEQ_READ], "sync", NULL, rc);
		else
			read_file(s, side, rep, w, OP_SEQ_READ, w->seq, SEQ_IO, nseq, nseq);
	}

	/* 1 MiB sequential reads of a file small enough for every cache */
	size_t nfit = (size_t)(cfg->fit_size / SEQ_IO);
	name = w->op_label[OP_FIT_READ];
	set_activity(side, rep, "seq read 1M (fits cache): writing the file");
	if (write_file(s, side, rep, w, -1, w->fit, SEQ_IO, nfit, name, true)) {
		set_activity(side, rep, "seq read 1M (fits cache)");
		if ((rc = s_sync(s)) < 0)
			report_error(side, rep, name, "sync", NULL, rc);
		else
			read_file(s, side, rep, w, OP_FIT_READ, w->fit, SEQ_IO, nfit, nseq);
	}
}

/* ---- the service -------------------------------------------------------------- */

/* The service's request counter (`status --json`, "ops"), or -1. */
static int64_t service_requests(void)
{
	static char buf[65536];
	int64_t ops;
	if (bench_svc_status(&g_svc, buf, sizeof(buf)) < 0 || !bench_json_int(buf, "ops", &ops))
		return -1;
	return ops;
}

/* Make `dir` (mode 0777, owned by uid 0) on the unserved image, in-process:
 * a client that is not root may then create files in it. 0 or -errno. */
static int make_shared_dir(const char *dir)
{
	struct bdev *dev;
	struct fs *fs;
	int rc = bdev_file_open(g_svc.image, false, 0, &dev);
	if (rc < 0)
		return rc;
	struct fs_options fo = {.no_background = true};
	rc = fs_mount(dev, &fo, &fs);
	if (rc == 0) {
		struct fs_client *c = fs_client_new(fs, 0, 0);
		rc = c ? fs_mkdir(c, dir, 0777) : -ENOMEM;
		if (c)
			fs_client_free(c);
		int urc = fs_unmount(fs);
		if (rc == 0)
			rc = urc;
	}
	bdev_close(dev);
	return rc;
}

/* Start `ananke serve` (side's recovery mode) on a fresh image and connect
 * to it. 0 or -1. */
static int service_start(const struct config *cfg, int side, int rep, const char *prefix)
{
	int rc;
	if (bench_svc_mkfs(&g_svc, cfg->image_size) < 0) {
		report_error(side, rep, "setup", "ananke mkfs", g_svc.image, -EIO);
		return -1;
	}
	if (prefix[0] && (rc = make_shared_dir(prefix)) < 0) {
		report_error(side, rep, "setup", "mkdir (in-process)", prefix, rc);
		return -1;
	}
	char workers[16], recovery[32];
	char *args[5 + MAX_SERVE_OPTS];
	int n = 0;
	snprintf(workers, sizeof(workers), "%u", cfg->workers);
	if (cfg->workers) {
		args[n++] = "--workers";
		args[n++] = workers;
	}
	if (g_sides[side].mode) {
		snprintf(recovery, sizeof(recovery), "--recovery=%s", g_sides[side].mode);
		args[n++] = recovery;
	}
	for (unsigned k = 0; k < cfg->nserve_opts; k++)
		args[n++] = cfg->serve_opts[k];
	args[n] = NULL;
	if (bench_svc_spawn(&g_svc, args) < 0 || bench_svc_wait_running(&g_svc, 30000) < 0) {
		report_error(side, rep, "setup", "ananke serve", g_svc.socket, -EIO);
		return -1;
	}
	if (ank_mount(g_svc.socket) < 0) {
		report_error(side, rep, "setup", "ank_mount", g_svc.socket, -errno);
		bench_svc_show_log(&g_svc, 12);
		return -1;
	}
	return 0;
}

/* Disconnect (when connected) and stop the service. 0 or -1. */
static int service_stop(int side, int rep, bool mounted)
{
	int rc = 0;
	if (mounted && ank_unmount() < 0) {
		report_error(side, rep, "teardown", "ank_unmount", NULL, -errno);
		rc = -1;
	}
	if (bench_svc_stop(&g_svc) < 0) {
		report_error(side, rep, "teardown", "ananke stop", g_svc.socket, -EIO);
		rc = -1;
	}
	return rc;
}

static int ananke_rep(const struct config *cfg, int side, int rep, struct workload *w)
{
	struct side s = {.kind = SIDE_ANANKE, .rootfd = -1};
	set_activity(side, rep, "mkfs / serve");
	unlink(g_svc.log);
	g_requests[side][rep] = 0;
	int rc = service_start(cfg, side, rep, w->prefix);
	if (rc == 0) {
		int64_t r0 = service_requests();
		run_phases(&s, side, rep, w);
		int64_t r1 = service_requests();
		if (r0 >= 0 && r1 >= r0)
			g_requests[side][rep] = (uint64_t)(r1 - r0);
	}
	set_activity(side, rep, "stop");
	if (service_stop(side, rep, rc == 0) < 0)
		rc = -1;
	unlink(g_svc.image);
	return rc;
}

/* ---- the kernel sides ------------------------------------------------------------ */

static char g_ext4_mount_opts[512];
static char g_tmpfs_mount_opts[512];

/* Mount a fresh file system of `kind` (SIDE_EXT4 or SIDE_TMPFS). 0, -1
 * (this rep failed), or -2 (the side cannot run at all; why says it). */
static int kernel_mount(const struct config *cfg, int kind, char *why, size_t whyn)
{
	const char *mnt = kind == SIDE_EXT4 ? g_ext4_mnt : g_tmpfs_mnt;
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST) {
		snprintf(why, whyn, "cannot create %s: %s", mnt, strerror(errno));
		return -2;
	}
	if (kind == SIDE_TMPFS) {
		char opts[64];
		snprintf(opts, sizeof(opts), "size=%" PRIu64 ",mode=0755", cfg->image_size);
		g_tmpfs_mounted = 1; /* set before: a signal during mount still unmounts */
		if (mount("tmpfs", mnt, "tmpfs", 0, opts) < 0) {
			snprintf(why, whyn, "mount -t tmpfs on %s failed: %s", mnt, strerror(errno));
			g_tmpfs_mounted = 0;
			return -2;
		}
		if (!g_tmpfs_mount_opts[0])
			bench_mount_options(mnt, g_tmpfs_mount_opts, sizeof(g_tmpfs_mount_opts));
		return 0;
	}
	int rc = bench_make_sparse_file(g_ext4_img, cfg->image_size);
	if (rc < 0) {
		snprintf(why, whyn, "cannot create %s: %s", g_ext4_img, strerror(-rc));
		return -2;
	}
	char *mkfs_argv[] = {"mkfs.ext4", "-q", "-F", g_ext4_img, NULL};
	if (bench_run_cmd(PROG, mkfs_argv, true, NULL) != 0) {
		snprintf(why, whyn, "mkfs.ext4 -q -F %s failed", g_ext4_img);
		unlink(g_ext4_img);
		return -2;
	}
	char *mount_argv[] = {"mount", "-o", "loop", g_ext4_img, g_ext4_mnt, NULL};
	g_ext4_mounted = 1;
	if (bench_run_cmd(PROG, mount_argv, false, NULL) != 0) {
		bench_umount(g_ext4_mnt, true); /* normally not mounted */
		g_ext4_mounted = 0;
		snprintf(why, whyn, "`mount -o loop %s %s` failed%s", g_ext4_img, g_ext4_mnt,
			 geteuid() != 0 ? " (not root)" : "");
		unlink(g_ext4_img);
		return -2;
	}
	if (!g_ext4_mount_opts[0])
		bench_mount_options(mnt, g_ext4_mount_opts, sizeof(g_ext4_mount_opts));
	return 0;
}

/* Returns 0, -1 on a failed repetition, -2 when the side cannot run. */
static int kernel_rep(const struct config *cfg, int side, int rep, struct workload *w, char *why,
		      size_t whyn)
{
	int kind = g_sides[side].kind;
	struct side s = {.kind = kind, .rootfd = -1};
	set_activity(side, rep, "mkfs/mount");
	int rc = kernel_mount(cfg, kind, why, whyn);
	if (rc < 0)
		return rc;
	const char *mnt = kind == SIDE_EXT4 ? g_ext4_mnt : g_tmpfs_mnt;
	s.root = mnt;
	s.rootfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.rootfd < 0) {
		report_error(side, rep, "setup", "open", mnt, -errno);
		rc = -1;
	} else {
		run_phases(&s, side, rep, w);
		close(s.rootfd);
	}
	set_activity(side, rep, "unmount");
	volatile sig_atomic_t *flag = kind == SIDE_EXT4 ? &g_ext4_mounted : &g_tmpfs_mounted;
	int urc = bench_umount(mnt, false);
	if (urc == 0)
		*flag = 0;
	else {
		fprintf(stderr, PROG ": cannot unmount %s: %s\n", mnt, strerror(-urc));
		rc = -1;
	}
	if (kind == SIDE_EXT4)
		unlink(g_ext4_img);
	return rc;
}

/* ---- output ------------------------------------------------------------------------ */

struct summary {
	unsigned nok;
	double ops, p50, p99;
};

static struct summary summarize(int side, int op, unsigned reps)
{
	struct summary s = {0, 0, 0, 0};
	double ops[MAX_REPS], p50[MAX_REPS], p99[MAX_REPS];
	for (unsigned r = 0; r < reps; r++) {
		const struct phase_result *x = &g_res[side][op][r];
		if (!x->ok)
			continue;
		ops[s.nok] = x->ops_per_s;
		p50[s.nok] = x->p50_us;
		p99[s.nok] = x->p99_us;
		s.nok++;
	}
	s.ops = bench_median(ops, s.nok);
	s.p50 = bench_median(p50, s.nok);
	s.p99 = bench_median(p99, s.nok);
	return s;
}

/* The service side the others are compared with: mode "none" when it runs,
 * else the first service side. */
static int baseline_side(void)
{
	for (int i = 0; i < g_nsides; i++)
		if (g_sides[i].kind == SIDE_ANANKE && g_sides[i].mode &&
		    !strcmp(g_sides[i].mode, "none"))
			return i;
	return 0;
}

/* A ratio column: median ops/s of side a / median ops/s of side b. */
struct ratio_col {
	int a, b;
	bool mode; /* two recovery modes (paired ratios are printed too) */
	char label[32];
};

static int ratio_cols(const struct config *cfg, struct ratio_col *rc)
{
	int n = 0, base = baseline_side();
	for (int i = 0; cfg->nmodes && i < g_nsides; i++) {
		if (g_sides[i].kind != SIDE_ANANKE || i == base)
			continue;
		rc[n] = (struct ratio_col){.a = i, .b = base, .mode = true};
		snprintf(rc[n].label, sizeof(rc[n].label), "%s / %s", g_sides[i].name,
			 g_sides[base].name);
		n++;
	}
	for (int i = 0; i < g_nsides; i++) {
		if (g_sides[i].kind == SIDE_ANANKE)
			continue;
		rc[n] = (struct ratio_col){.a = base, .b = i};
		snprintf(rc[n].label, sizeof(rc[n].label), "%s / %s",
			 cfg->nmodes ? g_sides[base].name : "a", g_sides[i].name);
		n++;
	}
	return n;
}

static void fmt_ratio(double x, char *out, size_t n)
{
	snprintf(out, n, x < 0.095 ? "%.3f" : "%.2f", x);
}

/* "| a | b |" with each cell right-aligned to its width (the first left). */
static void print_row(char cells[][48], const int *width, int n)
{
	for (int k = 0; k < n; k++)
		printf(k == 0 ? "| %-*s " : "| %*s ", width[k], cells[k]);
	printf("|\n");
}

static void print_rule(const int *width, int n)
{
	for (int k = 0; k < n; k++) {
		printf("|");
		for (int i = 0; i < width[k] + 1; i++)
			putchar('-');
		putchar(k == 0 ? '-' : ':');
	}
	printf("|\n");
}

#define MAX_COLS (1 + 2 * MAX_SIDES + 2 * MAX_SIDES)

static void print_table(const struct config *cfg, const struct workload *w, const bool ran[])
{
	bool partial = false;
	struct ratio_col rc[2 * MAX_SIDES];
	int nrc = ratio_cols(cfg, rc);
	char cells[MAX_COLS][48];
	int width[MAX_COLS], ncol = 0;

	/* header */
	snprintf(cells[ncol], 48, "op");
	width[ncol++] = 28;
	for (int i = 0; i < g_nsides; i++) {
		snprintf(cells[ncol], 48, "%s/s", g_sides[i].name);
		width[ncol++] = 10;
	}
	for (int k = 0; k < nrc; k++) {
		snprintf(cells[ncol], 48, "%s", rc[k].label);
		int l = (int)strlen(rc[k].label);
		width[ncol++] = l > 8 ? l : 8;
	}
	for (int i = 0; i < g_nsides; i++) {
		snprintf(cells[ncol], 48, "%s p50/p99 us", g_sides[i].name);
		int l = (int)strlen(cells[ncol]);
		width[ncol++] = l > 17 ? l : 17;
	}
	printf("\n");
	print_row(cells, width, ncol);
	print_rule(width, ncol);

	for (int op = 0; op < OP_COUNT; op++) {
		struct summary sm[MAX_SIDES];
		int c = 0;
		snprintf(cells[c++], 48, "%s", w->op_label[op]);
		for (int i = 0; i < g_nsides; i++) {
			sm[i] = summarize(i, op, cfg->reps);
			const char *mark = sm[i].nok && sm[i].nok < cfg->reps ? "*" : "";
			if (*mark)
				partial = true;
			if (!ran[i])
				snprintf(cells[c++], 48, "not run");
			else if (!sm[i].nok)
				snprintf(cells[c++], 48, "ERROR");
			else
				snprintf(cells[c++], 48, "%.0f%s", sm[i].ops, mark);
		}
		for (int k = 0; k < nrc; k++) {
			int a = rc[k].a, b = rc[k].b;
			if (ran[a] && ran[b] && sm[a].nok && sm[b].nok)
				fmt_ratio(sm[a].ops / sm[b].ops, cells[c++], 48);
			else
				snprintf(cells[c++], 48, "-");
		}
		for (int i = 0; i < g_nsides; i++) {
			if (!ran[i] || !sm[i].nok) {
				snprintf(cells[c++], 48, "-");
				continue;
			}
			char t1[16], t2[16];
			bench_fmt_us(sm[i].p50, t1, sizeof(t1));
			bench_fmt_us(sm[i].p99, t2, sizeof(t2));
			snprintf(cells[c++], 48, "%s / %s", t1, t2);
		}
		print_row(cells, width, ncol);
	}
	printf("\nops/s: median over %u reps of (operations / phase time); for the 1 MiB rows "
	       "ops/s = MiB/s.\n",
	       cfg->reps);
	if (cfg->nmodes)
		printf("ratios: median ops/s of the side named first / median ops/s of the side "
		       "named second\n(ananke / none = 0.98: mode ananke has 2%% less throughput "
		       "than mode none).\n");
	else
		printf("ratios: ananke ops/s / ext4 (or tmpfs) ops/s, > 1: Ananke faster.\n");
	printf("Latencies: median over reps of each rep's p50 / p99.\n");
	if (partial)
		printf("* median over the repetitions that completed (some failed, see errors).\n");

	/* paired ratios of the recovery modes: rep r of one / rep r of the other */
	bool any_mode = false;
	for (int k = 0; k < nrc; k++)
		any_mode |= rc[k].mode && ran[rc[k].a] && ran[rc[k].b];
	if (any_mode) {
		printf("\npaired per-rep ratios (rep r of one mode / rep r of the other), median "
		       "[min .. max]:\n\n");
		int pw[1 + 2 * MAX_SIDES], np = 0;
		snprintf(cells[np], 48, "op");
		pw[np++] = 28;
		for (int k = 0; k < nrc; k++) {
			if (!rc[k].mode)
				continue;
			snprintf(cells[np], 48, "%s", rc[k].label);
			pw[np++] = 22;
		}
		print_row(cells, pw, np);
		print_rule(pw, np);
		for (int op = 0; op < OP_COUNT; op++) {
			np = 0;
			snprintf(cells[np++], 48, "%s", w->op_label[op]);
			for (int k = 0; k < nrc; k++) {
				if (!rc[k].mode)
					continue;
				double v[MAX_REPS];
				unsigned nv = 0;
				for (unsigned r = 0; r < cfg->reps; r++) {
					const struct phase_result *x = &g_res[rc[k].a][op][r];
					const struct phase_result *y = &g_res[rc[k].b][op][r];
					if (x->ok && y->ok && y->ops_per_s > 0)
						v[nv++] = x->ops_per_s / y->ops_per_s;
				}
				if (!nv) {
					snprintf(cells[np++], 48, "-");
					continue;
				}
				double med = bench_median(v, nv); /* sorts v */
				char t[3][12];
				fmt_ratio(med, t[0], sizeof(t[0]));
				fmt_ratio(v[0], t[1], sizeof(t[1]));
				fmt_ratio(v[nv - 1], t[2], sizeof(t[2]));
				snprintf(cells[np++], 48, "%s [%s .. %s]", t[0], t[1], t[2]);
			}
			print_row(cells, pw, np);
		}
	}

	for (int what = 0; what < 2; what++) {
		printf(what == 0 ? "\nper-rep ops/s (in rep order):\n"
				 : "\nper-rep max latency, us (in rep order):\n");
		for (int op = 0; op < OP_COUNT; op++) {
			for (int side = 0; side < g_nsides; side++) {
				if (!ran[side])
					continue;
				printf("  %-28s %-7s", w->op_label[op], g_sides[side].name);
				for (unsigned r = 0; r < cfg->reps; r++) {
					const struct phase_result *x = &g_res[side][op][r];
					if (x->ok)
						printf(" %9.0f", what == 0 ? x->ops_per_s : x->max_us);
					else
						printf(" %9s", "ERR");
				}
				printf("\n");
			}
		}
	}
	for (int side = 0; side < g_nsides; side++) {
		if (g_sides[side].kind != SIDE_ANANKE || !ran[side])
			continue;
		printf("\nrequests the service counted per rep (%s%s, status \"ops\"):",
		       cfg->nmodes ? "mode " : "", g_sides[side].name);
		for (unsigned r = 0; r < cfg->reps; r++)
			printf(" %" PRIu64, g_requests[side][r]);
		printf("\n");
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"  --reps N            repetitions per side, interleaved (default 5, max %d)\n"
		"  --files N           files for the metadata rows (default 10000)\n"
		"  --image-size SIZE   size of the ananke and ext4 images, and of the tmpfs\n"
		"                      (default 1G; K/M/G suffixes)\n"
		"  --quick             small fast run (smoke test): 256M image, 1000 files,\n"
		"                      2 reps, 4 MiB 4K-file, 50 fsyncs, 32 MiB seq file, 8 MiB fit\n"
		"  --file-size SIZE    the 4 KiB write/read file (default 16M)\n"
		"  --fsyncs N          append+fsync operations (default 1000)\n"
		"  --seq-size SIZE     the 1 MiB sequential write/read file (default 256M)\n"
		"  --fit-size SIZE     the file of the 'fits cache' read row (default 32M)\n"
		"  --workers N         `ananke serve --workers N` (default: the service's)\n"
		"  --ananke PATH       the ananke program (default: next to this program)\n"
		"  --modes LIST        run the service once per recovery mode in LIST (comma-\n"
		"                      separated: none, ananke, sync), interleaved; ratios\n"
		"                      against none (default: one service side, no --recovery)\n"
		"  --serve-opt OPT     pass OPT to every `ananke serve` (repeatable; e.g.\n"
		"                      --serve-opt=--plog-size=67108864)\n"
		"  --dir DIR           where images, mount points and the socket live\n"
		"                      (default: a new temp dir under /var/tmp)\n"
		"  --no-ext4           skip the ext4 side\n"
		"  --no-tmpfs          skip the tmpfs side\n",
		MAX_REPS);
}

/* --modes LIST into cfg. 0 or -1 (message printed). */
static int parse_modes(const char *list, struct config *cfg)
{
	static const char *const known[] = {"none", "ananke", "sync"};
	const char *p = list;
	cfg->nmodes = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *mode = NULL;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strlen(known[k]) == n && !strncmp(p, known[k], n))
				mode = known[k];
		if (!mode) {
			fprintf(stderr, PROG ": --modes: unknown mode '%.*s' (none, ananke, sync)\n",
				(int)n, p);
			return -1;
		}
		for (unsigned k = 0; k < cfg->nmodes; k++)
			if (cfg->modes[k] == mode) {
				fprintf(stderr, PROG ": --modes: %s listed twice\n", mode);
				return -1;
			}
		cfg->modes[cfg->nmodes++] = mode;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!cfg->nmodes) {
		fprintf(stderr, PROG ": --modes needs at least one mode\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {0};
	bool set_image = false, set_files = false, set_reps = false, set_fsize = false,
	     set_fsyncs = false, set_seq = false, set_fit = false;
	for (int i = 1; i < argc; i++) {
		char opt[64];
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool bad = false;
		bool inline_value = bench_split_opt(&a, &v, opt, sizeof(opt)); /* --name=value */
		if (!strcmp(a, "--quick")) {
			cfg.quick = true;
			continue;
		} else if (!strcmp(a, "--no-ext4")) {
			cfg.no_ext4 = true;
			continue;
		} else if (!strcmp(a, "--no-tmpfs")) {
			cfg.no_tmpfs = true;
			continue;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, PROG ": %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--image-size")) {
			bad = bench_parse_size(v, &cfg.image_size) < 0;
			set_image = true;
		} else if (!strcmp(a, "--file-size")) {
			bad = bench_parse_size(v, &cfg.file_size) < 0;
			set_fsize = true;
		} else if (!strcmp(a, "--seq-size")) {
			bad = bench_parse_size(v, &cfg.seq_size) < 0;
			set_seq = true;
		} else if (!strcmp(a, "--fit-size")) {
			bad = bench_parse_size(v, &cfg.fit_size) < 0;
			set_fit = true;
		} else if (!strcmp(a, "--files")) {
			bad = bench_parse_uint(v, &cfg.files) < 0;
			set_files = true;
		} else if (!strcmp(a, "--reps")) {
			bad = bench_parse_uint(v, &cfg.reps) < 0 || cfg.reps > MAX_REPS;
			set_reps = true;
		} else if (!strcmp(a, "--fsyncs")) {
			bad = bench_parse_uint(v, &cfg.fsyncs) < 0;
			set_fsyncs = true;
		} else if (!strcmp(a, "--workers")) {
			bad = bench_parse_uint(v, &cfg.workers) < 0;
		} else if (!strcmp(a, "--ananke")) {
			cfg.ananke = v;
		} else if (!strcmp(a, "--serve-opt")) {
			if (cfg.nserve_opts == MAX_SERVE_OPTS) {
				fprintf(stderr, PROG ": at most %d --serve-opt\n", MAX_SERVE_OPTS);
				return 2;
			}
			cfg.serve_opts[cfg.nserve_opts++] = (char *)v;
		} else if (!strcmp(a, "--modes")) {
			if (parse_modes(v, &cfg) < 0)
				return 2;
		} else if (!strcmp(a, "--dir")) {
			cfg.dir = v;
		} else {
			fprintf(stderr, PROG ": unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, PROG ": bad value for %s: %s\n", a, v);
			return 2;
		}
		if (!inline_value)
			i++;
	}
	if (!set_image)
		cfg.image_size = cfg.quick ? 256ull << 20 : 1ull << 30;
	if (!set_files)
		cfg.files = cfg.quick ? 1000 : 10000;
	if (!set_reps)
		cfg.reps = cfg.quick ? 2 : 5;
	if (!set_fsize)
		cfg.file_size = cfg.quick ? 4ull << 20 : 16ull << 20;
	if (!set_fsyncs)
		cfg.fsyncs = cfg.quick ? 50 : 1000;
	if (!set_seq)
		cfg.seq_size = cfg.quick ? 32ull << 20 : 256ull << 20;
	if (!set_fit)
		cfg.fit_size = cfg.quick ? 8ull << 20 : 32ull << 20;
	if (!cfg.ananke)
		cfg.ananke = bench_default_ananke();
	if (cfg.image_size % BLK || cfg.file_size % BLK) {
		fprintf(stderr, PROG ": --image-size and --file-size must be multiples of 4 KiB\n");
		return 2;
	}
	if (cfg.seq_size % SEQ_IO || cfg.fit_size % SEQ_IO) {
		fprintf(stderr, PROG ": --seq-size and --fit-size must be multiples of 1 MiB\n");
		return 2;
	}
	if (cfg.file_size + cfg.seq_size + cfg.fit_size + (uint64_t)cfg.fsyncs * BLK >
	    cfg.image_size / 10 * 9) {
		fprintf(stderr, PROG ": the files do not fit in --image-size with room to spare\n");
		return 2;
	}
	if (access(cfg.ananke, X_OK) < 0) {
		fprintf(stderr, PROG ": cannot run %s: %s (build it with `make`, or --ananke)\n",
			cfg.ananke, strerror(errno));
		return 1;
	}

	/* workload buffers */
	struct workload w = {.cfg = &cfg};
	size_t nlat = cfg.files;
	if (cfg.file_size / BLK > nlat)
		nlat = (size_t)(cfg.file_size / BLK);
	if (cfg.fsyncs > nlat)
		nlat = cfg.fsyncs;
	if (cfg.seq_size / SEQ_IO > nlat)
		nlat = (size_t)(cfg.seq_size / SEQ_IO);
	w.paths = calloc(cfg.files, sizeof(*w.paths));
	w.rpaths = calloc(cfg.files, sizeof(*w.rpaths));
	w.lat = calloc(nlat, sizeof(*w.lat));
	w.buf = aligned_alloc(4096, SEQ_IO);
	if (!w.paths || !w.rpaths || !w.lat || !w.buf) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	memset(w.buf, 0xa5, SEQ_IO);
	w.prefix = geteuid() == 0 ? "" : "/w";
	snprintf(w.bench, sizeof(w.bench), "%s/bench", w.prefix);
	snprintf(w.f4k, sizeof(w.f4k), "%s/f4k", w.prefix);
	snprintf(w.log, sizeof(w.log), "%s/log", w.prefix);
	snprintf(w.seq, sizeof(w.seq), "%s/seq", w.prefix);
	snprintf(w.fit, sizeof(w.fit), "%s/fit", w.prefix);
	for (unsigned i = 0; i < cfg.files; i++) {
		snprintf(w.paths[i], sizeof(w.paths[i]), "%s/f%07u", w.bench, i);
		snprintf(w.rpaths[i], sizeof(w.rpaths[i]), "%s/r%07u", w.bench, i);
	}
	char fsz[32], isz[32], ssz[32], tsz[32];
	bench_fmt_size(cfg.file_size, fsz, sizeof(fsz));
	bench_fmt_size(cfg.image_size, isz, sizeof(isz));
	bench_fmt_size(cfg.seq_size, ssz, sizeof(ssz));
	bench_fmt_size(cfg.fit_size, tsz, sizeof(tsz));
	snprintf(w.op_label[OP_CREATE], 48, "create");
	snprintf(w.op_label[OP_OPEN], 48, "open+close");
	snprintf(w.op_label[OP_STAT], 48, "stat");
	snprintf(w.op_label[OP_CHMOD], 48, "chmod");
	snprintf(w.op_label[OP_UTIMENS], 48, "utimensat");
	snprintf(w.op_label[OP_SETXATTR], 48, "setxattr (14 B)");
	snprintf(w.op_label[OP_SYMLINK], 48, "symlink");
	snprintf(w.op_label[OP_RENAME], 48, "rename");
	snprintf(w.op_label[OP_UNLINK], 48, "unlink");
	snprintf(w.op_label[OP_WRITE], 48, "write 4K (new file)");
	snprintf(w.op_label[OP_OVERWRITE], 48, "write 4K (overwrite, cached)");
	snprintf(w.op_label[OP_READ], 48, "read 4K (cached)");
	snprintf(w.op_label[OP_FSYNC], 48, "append 4K + fsync");
	snprintf(w.op_label[OP_SEQ_WRITE], 48, "seq write 1M (%.20s file)", ssz);
	snprintf(w.op_label[OP_SEQ_READ], 48, "seq read 1M (%.20s file)", ssz);
	snprintf(w.op_label[OP_FIT_READ], 48, "seq read 1M (%.20s file)", tsz);

	/* work directory */
	const char *base = cfg.dir ? cfg.dir : "/var/tmp";
	if (cfg.dir && mkdir(cfg.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", cfg.dir, strerror(errno));
		return 1;
	}
	/* the socket path must fit in sun_path (108 bytes) */
	if (snprintf(g_workdir, sizeof(g_workdir), "%s/bench_service.XXXXXX", base) >= 80) {
		fprintf(stderr, PROG ": --dir path too long for a socket path\n");
		return 2;
	}
	install_signal_handlers();
	if (!mkdtemp(g_workdir)) {
		fprintf(stderr, PROG ": cannot create a directory in %s: %s\n", base,
			strerror(errno));
		return 1;
	}
	g_workdir_made = 1;
	g_svc.ananke = cfg.ananke;
	snprintf(g_svc.image, sizeof(g_svc.image), "%s/ananke.img", g_workdir);
	snprintf(g_svc.socket, sizeof(g_svc.socket), "%s/s", g_workdir);
	snprintf(g_svc.log, sizeof(g_svc.log), "%s/serve.log", g_workdir);
	snprintf(g_ext4_img, sizeof(g_ext4_img), "%s/ext4.img", g_workdir);
	snprintf(g_ext4_mnt, sizeof(g_ext4_mnt), "%s/ext4.mnt", g_workdir);
	snprintf(g_tmpfs_mnt, sizeof(g_tmpfs_mnt), "%s/tmpfs.mnt", g_workdir);

	/* the sides: the service (once per mode), ext4, tmpfs */
	if (cfg.nmodes) {
		for (unsigned k = 0; k < cfg.nmodes; k++)
			g_sides[g_nsides++] = (struct side_def){SIDE_ANANKE, cfg.modes[k], cfg.modes[k]};
	} else {
		g_sides[g_nsides++] = (struct side_def){SIDE_ANANKE, "ananke", NULL};
	}
	if (!cfg.no_ext4)
		g_sides[g_nsides++] = (struct side_def){SIDE_EXT4, "ext4", NULL};
	if (!cfg.no_tmpfs)
		g_sides[g_nsides++] = (struct side_def){SIDE_TMPFS, "tmpfs", NULL};

	bool private_ns = false;
	if (!(cfg.no_ext4 && cfg.no_tmpfs) && bench_private_mount_ns())
		private_ns = true;

	struct utsname un;
	uname(&un);
	double la[3] = {0, 0, 0};
	getloadavg(la, 3);
	printf(PROG ": the Ananke service through libananke vs Linux ext4 (loop mount) and tmpfs "
		    "through syscalls, same run\n");
	printf("  machine   : %ld CPUs online, Linux %s %s, load average %.2f %.2f %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), un.release, un.machine, la[0], la[1], la[2]);
	printf("  images    : %s sparse files in %s (host fs %s)%s\n", isz, g_workdir,
	       bench_host_fs(g_workdir), cfg.quick ? "  [--quick]" : "");
	char wopt[512] = "";
	size_t wl = 0;
	if (cfg.workers)
		wl += (size_t)snprintf(wopt, sizeof(wopt), " --workers %u", cfg.workers);
	for (unsigned k = 0; k < cfg.nserve_opts && wl < sizeof(wopt); k++)
		wl += (size_t)snprintf(wopt + wl, sizeof(wopt) - wl, " %s", cfg.serve_opts[k]);
	printf("  ananke    : %s mkfs IMAGE; %s serve IMAGE --socket S --foreground%s%s\n"
	       "              (a child of this process, its defaults otherwise); this process "
	       "is the client (ank_mount / ank_*)\n",
	       cfg.ananke, cfg.ananke, wopt, cfg.nmodes ? " --recovery=MODE" : "");
	if (cfg.nmodes) {
		printf("  modes     :");
		for (unsigned k = 0; k < cfg.nmodes; k++)
			printf(" %s", cfg.modes[k]);
		printf(" (one service per mode and rep; ratios against %s)\n",
		       g_sides[baseline_side()].name);
	}
	if (w.prefix[0])
		printf("              not root: every path is under %s, a mode 0777 directory "
		       "made on each new image\n              in-process (the root of a new "
		       "volume belongs to uid 0)\n",
		       w.prefix);
	printf("  ext4      : %s\n",
	       cfg.no_ext4 ? "disabled (--no-ext4)"
			   : "mkfs.ext4 -q -F <image>; mount -o loop; plain syscalls (*at() "
			     "relative to the mount root)");
	printf("  tmpfs     : %s\n", cfg.no_tmpfs ? "disabled (--no-tmpfs)"
						  : "mount -t tmpfs -o size=<image size>; plain "
						    "syscalls (*at() relative to the mount root)");
	printf("  workload  : %u files; %s file in 4 KiB pwrite/pread; %u x (4 KiB append + "
	       "fsync);\n              %s file in 1 MiB pwrite/pread; %s file read in 1 MiB "
	       "preads, %zu of them\n",
	       cfg.files, fsz, cfg.fsyncs, ssz, tsz, (size_t)(cfg.seq_size / SEQ_IO));
	printf("  method    : %u reps per side, interleaved (%s), fresh "
	       "file system\n              (and service) per rep; untimed sync before each "
	       "phase; median over reps;\n              clock_gettime around each op\n",
	       cfg.reps,
	       cfg.nmodes ? "the order of the sides rotates by one each rep"
			  : "ananke, ext4, tmpfs, ...");
	fflush(stdout);

	bool enabled[MAX_SIDES], ran[MAX_SIDES];
	static char why[MAX_SIDES][3000];
	for (int side = 0; side < g_nsides; side++) {
		enabled[side] = true;
		ran[side] = g_sides[side].kind == SIDE_ANANKE;
	}
	if (geteuid() != 0 && !(cfg.no_ext4 && cfg.no_tmpfs)) {
		for (int side = 0; side < g_nsides; side++) {
			if (!enabled[side] || g_sides[side].kind == SIDE_ANANKE)
				continue;
			snprintf(why[side], sizeof(why[side]), "not root: mount needs root");
			enabled[side] = false;
		}
		fprintf(stderr, PROG ": not root: the ext4 and tmpfs sides (mount) are skipped; "
				"measuring the Ananke side only\n");
	}
	for (unsigned r = 0; r < cfg.reps; r++) {
		for (int k = 0; k < g_nsides; k++) {
			/* With --modes the order rotates: no side always follows another. */
			int side = cfg.nmodes ? (int)((r + (unsigned)k) % (unsigned)g_nsides) : k;
			if (!enabled[side])
				continue;
			uint64_t t = bench_now_ns();
			struct rusage ru0, ru1;
			getrusage(RUSAGE_SELF, &ru0);
			int rc = g_sides[side].kind == SIDE_ANANKE
					 ? ananke_rep(&cfg, side, (int)r, &w)
					 : kernel_rep(&cfg, side, (int)r, &w, why[side], sizeof(why[side]));
			if (rc == -2) {
				fprintf(stderr, PROG ": %s side unavailable: %s; running without it.\n",
					g_sides[side].name, why[side]);
				enabled[side] = false;
				continue;
			}
			ran[side] = true;
			/* Signs of other load: this process preempted, the load average. */
			getrusage(RUSAGE_SELF, &ru1);
			getloadavg(la, 1);
			printf("rep %u/%u %-6s: %s (%.1f s; %ld involuntary context switches, load "
			       "%.2f)\n",
			       r + 1, cfg.reps, g_sides[side].name, rc == 0 ? "done" : "FAILED",
			       (double)(bench_now_ns() - t) / 1e9, ru1.ru_nivcsw - ru0.ru_nivcsw, la[0]);
			fflush(stdout);
		}
	}
	g_activity = "cleanup";
	getloadavg(la, 3);
	printf("  load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	bool ran_kind[3] = {false, false, false};
	for (int side = 0; side < g_nsides; side++)
		ran_kind[g_sides[side].kind] |= ran[side];
	if (ran_kind[SIDE_EXT4])
		printf("  ext4 mount : %s%s\n", g_ext4_mount_opts[0] ? g_ext4_mount_opts : "?",
		       private_ns ? " [private mount namespace]" : "");
	if (ran_kind[SIDE_TMPFS])
		printf("  tmpfs mount: %s%s\n", g_tmpfs_mount_opts[0] ? g_tmpfs_mount_opts : "?",
		       private_ns ? " [private mount namespace]" : "");

	print_table(&cfg, &w, ran);
	for (int side = 0; side < g_nsides; side++)
		if (!ran[side] && why[side][0])
			printf("\nNOTE: %s side NOT RUN (%s).\n", g_sides[side].name, why[side]);
	if (!ran_kind[SIDE_EXT4] && !ran_kind[SIDE_TMPFS])
		printf("\nNOTE: Ananke figures only%s.\n",
		       geteuid() != 0 ? " (not root: the kernel sides need mount)" : "");
	if (g_errors) {
		printf("\n%u ERROR(S) on the benchmarked file systems; first ones:\n", g_errors);
		for (unsigned i = 0; i < g_errors && i < 8; i++)
			printf("  %s\n", g_first_errors[i]);
	}

	cleanup_all(false);
	if (g_ext4_mounted || g_tmpfs_mounted)
		fprintf(stderr, PROG ": WARNING: a mount is left under %s\n", g_workdir);
	free(w.paths);
	free(w.rpaths);
	free(w.lat);
	free(w.buf);
	return g_errors ? 1 : 0;
}
