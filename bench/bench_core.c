/*
 * bench_core.c - benchmark: the in-process Ananke core against Linux ext4.
 *
 * Measures the same operations, in the same run, on two file systems of the
 * same size: Ananke driven in-process through its core API (fs.h) on a real
 * image file (O_DIRECT + io_uring), and ext4 made on a sparse image file of
 * the same size, loop-mounted, driven through plain syscalls.
 *
 *   create        open(O_CREAT|O_EXCL) + close, N files in one directory
 *   stat          stat of each of those files
 *   write 4K      pwrite of 4 KiB at sequential offsets into a 64 MiB file,
 *                 no fsync (buffered)
 *   read 4K       pread of 4 KiB blocks of that file, already cached
 *   append+fsync  4 KiB append (O_APPEND write) followed by fsync
 *   unlink        unlink of the N files
 *   readdir       full listing (open + read all entries + close) of a
 *                 10,000-entry directory, repeated
 *
 * Method: repetitions interleave the two sides (ananke, ext4, ananke, ext4,
 * ...); every repetition starts from a fresh image (new sparse file, mkfs,
 * mount). Every phase is preceded by an untimed sync of the file system so
 * no phase pays for the previous one's dirty data. Each timed operation is
 * bracketed by clock_gettime(CLOCK_MONOTONIC), giving the phase's throughput
 * (operations / phase time) and per-operation latencies (p50, p99). The table
 * reports, per side, the median over repetitions of each figure, and the
 * ratio of the median throughputs (ananke / ext4: above 1 = Ananke faster).
 *
 * The ext4 side needs root (mkfs.ext4, mount -o loop). When it cannot run,
 * the program says so and measures the Ananke side only. Mounts are made in
 * a private mount namespace when possible (they vanish with the process even
 * if it is killed), and are also unmounted explicitly at the end, on error
 * and on fatal signals; image files are deleted the same way.
 *
 * Usage: bench_core [--image-size SIZE] [--files N] [--reps N] [--dir DIR]
 *                   [--quick] [--file-size SIZE] [--fsyncs N]
 *                   [--dir-entries N] [--listings N] [--cache-pages N]
 *                   [--no-ext4]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "bench_util.h"

#define BLK 4096u
#define MAX_REPS 99
#define DIRENT_BATCH 128    /* fs_readdir batch: 128 * 272 B, about glibc's 32 KiB */
#define GETDENTS_BUF 32768  /* getdents64 buffer, the size glibc's readdir uses */

/* ---- configuration ------------------------------------------------------- */

struct config {
	uint64_t image_size;
	uint64_t file_size;   /* the write/read file */
	uint64_t cache_pages; /* Ananke page cache */
	unsigned files;
	unsigned reps;
	unsigned fsyncs;
	unsigned dir_entries;
	unsigned listings;
	const char *dir;
	bool quick;
	bool no_ext4;
};

enum op { OP_CREATE, OP_STAT, OP_WRITE, OP_READ, OP_FSYNC, OP_UNLINK, OP_READDIR, OP_COUNT };
enum { SIDE_ANANKE, SIDE_EXT4, SIDE_COUNT };
static const char *const side_names[SIDE_COUNT] = {"ananke", "ext4"};

/* ---- cleanup state (touched from signal handlers: syscalls only) ---------- */

static char g_workdir[1024];       /* mkdtemp'd directory holding everything */
static char g_ananke_img[1100];
static char g_ext4_img[1100];
static char g_mnt[1100];
static volatile sig_atomic_t g_mounted;   /* ext4 image mounted on g_mnt */
static volatile sig_atomic_t g_workdir_made;
static volatile sig_atomic_t g_mnt_made;
static const char *volatile g_activity = "setup"; /* for crash reports */

/* Unmount the ext4 side (if mounted). Async-signal-safe. */
static void unmount_ext4(bool lazy)
{
	if (g_mounted && bench_umount(g_mnt, lazy) == 0)
		g_mounted = 0;
}

/* Remove everything this program created. Async-signal-safe. */
static void cleanup_all(bool lazy)
{
	unmount_ext4(lazy);
	if (g_ananke_img[0])
		unlink(g_ananke_img);
	if (g_ext4_img[0])
		unlink(g_ext4_img);
	if (g_mnt_made && !g_mounted) {
		rmdir(g_mnt);
		g_mnt_made = 0;
	}
	if (g_workdir_made && !g_mounted) {
		rmdir(g_workdir);
		g_workdir_made = 0;
	}
}

static void on_fatal_signal(int sig)
{
	bench_put_fatal("bench_core", sig, g_activity, "unmount, delete images");
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

/* ---- small helpers ---------------------------------------------------------- */

/* ---- the two sides behind one interface ------------------------------------- */

/* Paths are absolute volume paths ("/bench/f000001"). The ext4 side resolves
 * them relative to a descriptor of its mount root (the leading '/' dropped),
 * so both sides walk the same number of components. */
struct side {
	const struct side_ops *ops;
	/* ananke */
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
	struct fs_dirent *ents;
	/* ext4 */
	int rootfd;
	char *dbuf;
};

struct side_ops {
	int (*open)(struct side *s, const char *path, int flags, mode_t mode);
	int (*close)(struct side *s, int fd);
	ssize_t (*write)(struct side *s, int fd, const void *buf, size_t n);
	ssize_t (*pwrite)(struct side *s, int fd, const void *buf, size_t n, off_t off);
	ssize_t (*pread)(struct side *s, int fd, void *buf, size_t n, off_t off);
	int (*fsync)(struct side *s, int fd);
	int (*stat)(struct side *s, const char *path, struct stat *st);
	int (*unlink)(struct side *s, const char *path);
	int (*mkdir)(struct side *s, const char *path, mode_t mode);
	/* open the directory, read every entry, close; returns the number of
	 * entries other than "." and "..", or -errno */
	long (*list)(struct side *s, const char *path);
	int (*sync)(struct side *s);
};

/* Ananke: the core API. */
static int ak_open(struct side *s, const char *p, int fl, mode_t m) { return fs_open(s->c, p, fl, m); }
static int ak_close(struct side *s, int fd) { return fs_close(s->c, fd); }
static ssize_t ak_write(struct side *s, int fd, const void *b, size_t n) { return fs_write(s->c, fd, b, n); }
static ssize_t ak_pwrite(struct side *s, int fd, const void *b, size_t n, off_t o)
{
	return fs_pwrite(s->c, fd, b, n, o);
}
static ssize_t ak_pread(struct side *s, int fd, void *b, size_t n, off_t o)
{
	return fs_pread(s->c, fd, b, n, o);
}
static int ak_fsync(struct side *s, int fd) { return fs_fsync(s->c, fd); }
static int ak_stat(struct side *s, const char *p, struct stat *st) { return fs_stat(s->c, p, st); }
static int ak_unlink(struct side *s, const char *p) { return fs_unlink(s->c, p); }
static int ak_mkdir(struct side *s, const char *p, mode_t m) { return fs_mkdir(s->c, p, m); }
static int ak_sync(struct side *s) { return fs_sync(s->fs); }

static long ak_list(struct side *s, const char *path)
{
	int fd = fs_open(s->c, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	long count = 0;
	int n;
	while ((n = fs_readdir(s->c, fd, s->ents, DIRENT_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			const char *nm = s->ents[i].name;
			if (!(nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))))
				count++;
		}
	}
	int rc = fs_close(s->c, fd);
	if (n < 0)
		return n;
	return rc < 0 ? rc : count;
}

static const struct side_ops ananke_ops = {
	ak_open, ak_close, ak_write, ak_pwrite, ak_pread, ak_fsync,
	ak_stat, ak_unlink, ak_mkdir, ak_list, ak_sync,
};

/* ext4: plain syscalls. */
static inline long neg_errno(long r) { return r < 0 ? -errno : r; }
static int x_open(struct side *s, const char *p, int fl, mode_t m)
{
	return (int)neg_errno(openat(s->rootfd, p + 1, fl | O_CLOEXEC, m));
}
static int x_close(struct side *s, int fd)
{
	(void)s;
	return (int)neg_errno(close(fd));
}
static ssize_t x_write(struct side *s, int fd, const void *b, size_t n)
{
	(void)s;
	return neg_errno(write(fd, b, n));
}
static ssize_t x_pwrite(struct side *s, int fd, const void *b, size_t n, off_t o)
{
	(void)s;
	return neg_errno(pwrite(fd, b, n, o));
}
static ssize_t x_pread(struct side *s, int fd, void *b, size_t n, off_t o)
{
	(void)s;
	return neg_errno(pread(fd, b, n, o));
}
static int x_fsync(struct side *s, int fd)
{
	(void)s;
	return (int)neg_errno(fsync(fd));
}
static int x_stat(struct side *s, const char *p, struct stat *st)
{
	return (int)neg_errno(fstatat(s->rootfd, p + 1, st, 0));
}
static int x_unlink(struct side *s, const char *p)
{
	return (int)neg_errno(unlinkat(s->rootfd, p + 1, 0));
}
static int x_mkdir(struct side *s, const char *p, mode_t m)
{
	return (int)neg_errno(mkdirat(s->rootfd, p + 1, m));
}
static int x_sync(struct side *s) { return (int)neg_errno(syncfs(s->rootfd)); }

struct kdirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static long x_list(struct side *s, const char *path)
{
	int fd = openat(s->rootfd, path + 1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long count = 0, n;
	while ((n = syscall(SYS_getdents64, fd, s->dbuf, GETDENTS_BUF)) > 0) {
		for (long off = 0; off < n;) {
			const struct kdirent64 *d = (const struct kdirent64 *)(s->dbuf + off);
			const char *nm = d->d_name;
			if (!(nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))))
				count++;
			off += d->d_reclen;
		}
	}
	int e = n < 0 ? errno : 0;
	close(fd);
	return e ? -e : count;
}

static const struct side_ops ext4_ops = {
	x_open, x_close, x_write, x_pwrite, x_pread, x_fsync,
	x_stat, x_unlink, x_mkdir, x_list, x_sync,
};

/* ---- results ----------------------------------------------------------------- */

struct phase_result {
	bool ok;
	double ops_per_s;
	double p50_us, p99_us, max_us;
};

/* Ananke journal commits and device requests during a timed phase */
struct io_count {
	uint64_t commits, flushes, writes, reads;
};

static struct phase_result g_res[SIDE_COUNT][OP_COUNT][MAX_REPS];
static struct io_count g_io[OP_COUNT][MAX_REPS];
static unsigned g_errors;
static char g_first_errors[8][320];

static void report_error(int side, int rep, const char *op, const char *call, const char *path,
			 long rc)
{
	char msg[320];
	snprintf(msg, sizeof(msg), "%s rep %d, %s: %s(%s) returned %ld (%s: %s)", side_names[side],
		 rep + 1, op, call, path ? path : "", rc, bench_errno_name((int)-rc), strerror((int)-rc));
	fprintf(stderr, "bench_core: ERROR %s\n", msg);
	if (g_errors < 8)
		snprintf(g_first_errors[g_errors], sizeof(g_first_errors[0]), "%s", msg);
	g_errors++;
}

static void io_take(const struct side *s, struct io_count *c)
{
	memset(c, 0, sizeof(*c));
	if (!s->fs)
		return;
	struct fs_stats st;
	fs_get_stats(s->fs, &st);
	c->commits = st.commits;
	c->flushes = __atomic_load_n(&s->dev->stat_flushes, __ATOMIC_RELAXED);
	c->writes = __atomic_load_n(&s->dev->stat_writes, __ATOMIC_RELAXED);
	c->reads = __atomic_load_n(&s->dev->stat_reads, __ATOMIC_RELAXED);
}

/* A phase completed: n timed operations in elapsed_ns; lat is sorted. */
static void finish_phase(const struct side *s, const struct io_count *before, int side, int op,
			 int rep, uint64_t *lat, size_t n, uint64_t elapsed_ns)
{
	struct phase_result *r = &g_res[side][op][rep];
	qsort(lat, n, sizeof(*lat), bench_cmp_u64);
	r->ok = true;
	r->ops_per_s = (double)n * 1e9 / (double)(elapsed_ns ? elapsed_ns : 1);
	r->p50_us = (double)bench_percentile(lat, n, 0.50) / 1000.0;
	r->p99_us = (double)bench_percentile(lat, n, 0.99) / 1000.0;
	r->max_us = (double)lat[n - 1] / 1000.0;
	if (s->fs) {
		struct io_count now;
		io_take(s, &now);
		g_io[op][rep].commits = now.commits - before->commits;
		g_io[op][rep].flushes = now.flushes - before->flushes;
		g_io[op][rep].writes = now.writes - before->writes;
		g_io[op][rep].reads = now.reads - before->reads;
	}
}

/* ---- one repetition on one side ---------------------------------------------- */

struct workload {
	const struct config *cfg;
	char (*paths)[32];      /* cfg->files paths in /bench */
	char (*dpaths)[32];     /* cfg->dir_entries paths in /dir */
	uint64_t *lat;
	uint8_t *buf;           /* BLK, aligned */
	char op_label[OP_COUNT][40];
};

static char g_activity_buf[128];

static void set_activity(int side, int rep, const char *what)
{
	snprintf(g_activity_buf, sizeof(g_activity_buf), "%s rep %d: %s", side_names[side], rep + 1,
		 what);
	g_activity = g_activity_buf;
}

/* Run every phase; a failing phase is reported and the rest still run. */
static void run_phases(struct side *s, int side, int rep, struct workload *w)
{
	const struct config *cfg = w->cfg;
	const struct side_ops *o = s->ops;
#define RES(op) g_res[side][op][rep]
	struct io_count io0;
	uint64_t t0, a, b;
	long rc;
	int fd;

	/* create */
	set_activity(side, rep, "create");
	if ((rc = o->mkdir(s, "/bench", 0755)) < 0) {
		report_error(side, rep, "create", "mkdir", "/bench", rc);
	} else if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "create", "sync", NULL, rc);
	} else {
		unsigned i;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < cfg->files; i++) {
			a = bench_now_ns();
			fd = o->open(s, w->paths[i], O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0) {
				report_error(side, rep, "create", "open", w->paths[i], fd);
				break;
			}
			rc = o->close(s, fd);
			b = bench_now_ns();
			if (rc < 0) {
				report_error(side, rep, "create", "close", w->paths[i], rc);
				break;
			}
			w->lat[i] = b - a;
		}
		if (i == cfg->files)
			finish_phase(s, &io0, side, OP_CREATE, rep, w->lat, i, bench_now_ns() - t0);
	}

	/* stat */
	set_activity(side, rep, "stat");
	if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "stat", "sync", NULL, rc);
	} else {
		unsigned i;
		struct stat st;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < cfg->files; i++) {
			a = bench_now_ns();
			rc = o->stat(s, w->paths[i], &st);
			b = bench_now_ns();
			if (rc < 0) {
				report_error(side, rep, "stat", "stat", w->paths[i], rc);
				break;
			}
			if (!S_ISREG(st.st_mode) || st.st_size != 0) {
				report_error(side, rep, "stat", "stat (wrong mode/size)", w->paths[i],
					     -EILSEQ);
				break;
			}
			w->lat[i] = b - a;
		}
		if (i == cfg->files)
			finish_phase(s, &io0, side, OP_STAT, rep, w->lat, i, bench_now_ns() - t0);
	}

	/* 4 KiB buffered write: block i carries its index in its first 8 bytes */
	size_t nblk = (size_t)(cfg->file_size / BLK);
	bool file_ok = false;
	set_activity(side, rep, "write 4K");
	if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "write 4K", "sync", NULL, rc);
	} else if ((fd = o->open(s, "/big", O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0) {
		report_error(side, rep, "write 4K", "open", "/big", fd);
	} else {
		size_t i;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < nblk; i++) {
			a = bench_now_ns();
			memcpy(w->buf, &(uint64_t){i}, 8);
			ssize_t n = o->pwrite(s, fd, w->buf, BLK, (off_t)i * BLK);
			b = bench_now_ns();
			if (n != (ssize_t)BLK) {
				report_error(side, rep, "write 4K", "pwrite", "/big", n < 0 ? n : -EIO);
				break;
			}
			w->lat[i] = b - a;
		}
		uint64_t el = bench_now_ns() - t0;
		if ((rc = o->close(s, fd)) < 0)
			report_error(side, rep, "write 4K", "close", "/big", rc);
		else if (i == nblk) {
			finish_phase(s, &io0, side, OP_WRITE, rep, w->lat, i, el);
			file_ok = true;
		}
	}

	/* 4 KiB cached read: one untimed pass to be sure it is cached, then the
	 * timed pass, checking each block's index */
	set_activity(side, rep, "read 4K");
	if (!file_ok) {
		/* reported by the write phase */
	} else if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "read 4K", "sync", NULL, rc);
	} else if ((fd = o->open(s, "/big", O_RDONLY, 0)) < 0) {
		report_error(side, rep, "read 4K", "open", "/big", fd);
	} else {
		size_t i;
		bool ok = true;
		for (i = 0; i < nblk && ok; i++) {
			ssize_t n = o->pread(s, fd, w->buf, BLK, (off_t)i * BLK);
			if (n != (ssize_t)BLK) {
				report_error(side, rep, "read 4K", "pread (warm-up)", "/big",
					     n < 0 ? n : -EIO);
				ok = false;
			}
		}
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < nblk && ok; i++) {
			a = bench_now_ns();
			ssize_t n = o->pread(s, fd, w->buf, BLK, (off_t)i * BLK);
			b = bench_now_ns();
			uint64_t tag;
			memcpy(&tag, w->buf, 8);
			if (n != (ssize_t)BLK || tag != i) {
				report_error(side, rep, "read 4K",
					     n != (ssize_t)BLK ? "pread" : "pread (wrong data)", "/big",
					     n < 0 ? n : n != (ssize_t)BLK ? -EIO : -EILSEQ);
				ok = false;
				break;
			}
			w->lat[i] = b - a;
		}
		uint64_t el = bench_now_ns() - t0;
		if ((rc = o->close(s, fd)) < 0)
			report_error(side, rep, "read 4K", "close", "/big", rc);
		else if (ok)
			finish_phase(s, &io0, side, OP_READ, rep, w->lat, nblk, el);
	}

	/* append + fsync */
	set_activity(side, rep, "append+fsync");
	memset(w->buf, 0x5a, BLK);
	if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "append+fsync", "sync", NULL, rc);
	} else if ((fd = o->open(s, "/log", O_CREAT | O_EXCL | O_WRONLY | O_APPEND, 0644)) < 0) {
		report_error(side, rep, "append+fsync", "open", "/log", fd);
	} else {
		unsigned i;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < cfg->fsyncs; i++) {
			a = bench_now_ns();
			ssize_t n = o->write(s, fd, w->buf, BLK);
			if (n != (ssize_t)BLK) {
				report_error(side, rep, "append+fsync", "write", "/log",
					     n < 0 ? n : -EIO);
				break;
			}
			rc = o->fsync(s, fd);
			b = bench_now_ns();
			if (rc < 0) {
				report_error(side, rep, "append+fsync", "fsync", "/log", rc);
				break;
			}
			w->lat[i] = b - a;
		}
		uint64_t el = bench_now_ns() - t0;
		if ((rc = o->close(s, fd)) < 0)
			report_error(side, rep, "append+fsync", "close", "/log", rc);
		else if (i == cfg->fsyncs)
			finish_phase(s, &io0, side, OP_FSYNC, rep, w->lat, i, el);
	}

	/* unlink */
	set_activity(side, rep, "unlink");
	if (!RES(OP_CREATE).ok) {
		/* nothing to unlink; reported by create */
	} else if ((rc = o->sync(s)) < 0) {
		report_error(side, rep, "unlink", "sync", NULL, rc);
	} else {
		unsigned i;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < cfg->files; i++) {
			a = bench_now_ns();
			rc = o->unlink(s, w->paths[i]);
			b = bench_now_ns();
			if (rc < 0) {
				report_error(side, rep, "unlink", "unlink", w->paths[i], rc);
				break;
			}
			w->lat[i] = b - a;
		}
		if (i == cfg->files)
			finish_phase(s, &io0, side, OP_UNLINK, rep, w->lat, i, bench_now_ns() - t0);
	}

	/* readdir: build the directory (untimed), one untimed listing, then
	 * the timed listings; every listing must return every entry */
	set_activity(side, rep, "readdir (building the directory)");
	bool dir_ok = true;
	if ((rc = o->mkdir(s, "/dir", 0755)) < 0) {
		report_error(side, rep, "readdir setup", "mkdir", "/dir", rc);
		dir_ok = false;
	}
	for (unsigned i = 0; dir_ok && i < cfg->dir_entries; i++) {
		fd = o->open(s, w->dpaths[i], O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || (rc = o->close(s, fd)) < 0) {
			report_error(side, rep, "readdir setup", fd < 0 ? "open" : "close",
				     w->dpaths[i], fd < 0 ? fd : rc);
			dir_ok = false;
		}
	}
	set_activity(side, rep, "readdir");
	if (dir_ok && (rc = o->sync(s)) < 0) {
		report_error(side, rep, "readdir", "sync", NULL, rc);
		dir_ok = false;
	}
	if (dir_ok && (rc = o->list(s, "/dir")) != (long)cfg->dir_entries) {
		report_error(side, rep, "readdir", rc < 0 ? "list" : "list (wrong entry count)", "/dir",
			     rc < 0 ? rc : -EILSEQ);
		if (rc >= 0)
			fprintf(stderr, "bench_core:   listed %ld entries, expected %u\n", rc,
				cfg->dir_entries);
		dir_ok = false;
	}
	if (dir_ok) {
		unsigned i;
		io_take(s, &io0);
		t0 = bench_now_ns();
		for (i = 0; i < cfg->listings; i++) {
			a = bench_now_ns();
			rc = o->list(s, "/dir");
			b = bench_now_ns();
			if (rc != (long)cfg->dir_entries) {
				report_error(side, rep, "readdir",
					     rc < 0 ? "list" : "list (wrong entry count)", "/dir",
					     rc < 0 ? rc : -EILSEQ);
				break;
			}
			w->lat[i] = b - a;
		}
		if (i == cfg->listings)
			finish_phase(s, &io0, side, OP_READDIR, rep, w->lat, i, bench_now_ns() - t0);
	}
#undef RES
}

/* ---- per-side setup and teardown -------------------------------------------- */

static int ananke_rep(const struct config *cfg, int rep, struct workload *w)
{
	struct side s = {.ops = &ananke_ops, .rootfd = -1};
	int rc;
	set_activity(SIDE_ANANKE, rep, "mkfs/mount");
	if ((rc = bench_make_sparse_file(g_ananke_img, cfg->image_size)) < 0) {
		report_error(SIDE_ANANKE, rep, "setup", "create image", g_ananke_img, rc);
		return -1;
	}
	s.ents = calloc(DIRENT_BATCH, sizeof(*s.ents));
	if (!s.ents) {
		fprintf(stderr, "bench_core: out of memory\n");
		return -1;
	}
	if ((rc = bdev_file_open(g_ananke_img, false, 0, &s.dev)) < 0) {
		report_error(SIDE_ANANKE, rep, "setup", "bdev_file_open", g_ananke_img, rc);
		goto out;
	}
	if ((rc = fs_mkfs(s.dev, NULL)) < 0) {
		report_error(SIDE_ANANKE, rep, "setup", "fs_mkfs", g_ananke_img, rc);
		goto out;
	}
	struct fs_options fo = {.commit_interval_ms = 0, .cache_pages = cfg->cache_pages};
	if ((rc = fs_mount(s.dev, &fo, &s.fs)) < 0) {
		report_error(SIDE_ANANKE, rep, "setup", "fs_mount", g_ananke_img, rc);
		s.fs = NULL;
		goto out;
	}
	s.c = fs_client_new(s.fs, 0, 0);
	if (!s.c) {
		report_error(SIDE_ANANKE, rep, "setup", "fs_client_new", NULL, -ENOMEM);
		goto out;
	}
	run_phases(&s, SIDE_ANANKE, rep, w);
	rc = 0;
out:
	set_activity(SIDE_ANANKE, rep, "unmount");
	if (s.c)
		fs_client_free(s.c);
	if (s.fs) {
		int urc = fs_unmount(s.fs);
		if (urc < 0) {
			report_error(SIDE_ANANKE, rep, "teardown", "fs_unmount", NULL, urc);
			rc = urc;
		}
	}
	if (s.dev)
		bdev_close(s.dev);
	unlink(g_ananke_img);
	free(s.ents);
	return rc < 0 ? -1 : 0;
}

static char g_ext4_mount_opts[512];

/* Returns 0, -1 on a failed repetition, -2 when ext4 cannot be set up at all. */
static int ext4_rep(const struct config *cfg, int rep, struct workload *w, char *why, size_t whyn)
{
	struct side s = {.ops = &ext4_ops, .rootfd = -1};
	int rc;
	set_activity(SIDE_EXT4, rep, "mkfs.ext4/mount");
	if ((rc = bench_make_sparse_file(g_ext4_img, cfg->image_size)) < 0) {
		snprintf(why, whyn, "cannot create %s: %s", g_ext4_img, strerror(-rc));
		return -2;
	}
	char *mkfs_argv[] = {"mkfs.ext4", "-q", "-F", g_ext4_img, NULL};
	if (bench_run_cmd("bench_core", mkfs_argv, true, NULL) != 0) {
		snprintf(why, whyn, "mkfs.ext4 -q -F %s failed", g_ext4_img);
		unlink(g_ext4_img);
		return -2;
	}
	if (!g_mnt_made) {
		if (mkdir(g_mnt, 0700) < 0 && errno != EEXIST) {
			snprintf(why, whyn, "cannot create %s: %s", g_mnt, strerror(errno));
			unlink(g_ext4_img);
			return -2;
		}
		g_mnt_made = 1;
	}
	char *mount_argv[] = {"mount", "-o", "loop", g_ext4_img, g_mnt, NULL};
	g_mounted = 1; /* set before: a signal during mount still unmounts */
	if (bench_run_cmd("bench_core", mount_argv, false, NULL) != 0) {
		unmount_ext4(true); /* normally not mounted: clears the flag */
		g_mounted = 0;
		snprintf(why, whyn, "`mount -o loop %s %s` failed%s", g_ext4_img, g_mnt,
			 geteuid() != 0 ? " (not root)" : "");
		unlink(g_ext4_img);
		return -2;
	}
	if (!g_ext4_mount_opts[0])
		bench_mount_options(g_mnt, g_ext4_mount_opts, sizeof(g_ext4_mount_opts));
	s.rootfd = open(g_mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s.dbuf = aligned_alloc(4096, GETDENTS_BUF);
	if (s.rootfd < 0 || !s.dbuf) {
		report_error(SIDE_EXT4, rep, "setup", "open", g_mnt, s.rootfd < 0 ? -errno : -ENOMEM);
		rc = -1;
	} else {
		run_phases(&s, SIDE_EXT4, rep, w);
		rc = 0;
	}
	set_activity(SIDE_EXT4, rep, "unmount");
	if (s.rootfd >= 0)
		close(s.rootfd);
	free(s.dbuf);
	unmount_ext4(false);
	if (g_mounted) {
		fprintf(stderr, "bench_core: cannot unmount %s: %s\n", g_mnt, strerror(errno));
		rc = -1;
	}
	unlink(g_ext4_img);
	return rc;
}

/* ---- output ------------------------------------------------------------------ */

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
	if (s.nok) {
		s.ops = bench_median(ops, s.nok);
		s.p50 = bench_median(p50, s.nok);
		s.p99 = bench_median(p99, s.nok);
	}
	return s;
}

static void print_table(const struct config *cfg, const struct workload *w, bool ext4_ran)
{
	bool partial = false;
	printf("\n| %-22s | %13s | %13s | %6s | %19s | %19s |\n", "op", "ananke ops/s",
	       "ext4 ops/s", "ratio", "ananke p50/p99 us", "ext4 p50/p99 us");
	printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------", "--------------:",
	       "--------------:", "-------:", "--------------------:", "--------------------:");
	for (int op = 0; op < OP_COUNT; op++) {
		struct summary a = summarize(SIDE_ANANKE, op, cfg->reps);
		struct summary e = summarize(SIDE_EXT4, op, cfg->reps);
		char aops[32], eops[32], ratio[32], alat[48], elat[48], t1[16], t2[16];
		const char *mark_a = a.nok && a.nok < cfg->reps ? "*" : "";
		const char *mark_e = e.nok && e.nok < cfg->reps ? "*" : "";
		if (*mark_a || *mark_e)
			partial = true;
		if (a.nok) {
			snprintf(aops, sizeof(aops), "%.0f%s", a.ops, mark_a);
			bench_fmt_us(a.p50, t1, sizeof(t1));
			bench_fmt_us(a.p99, t2, sizeof(t2));
			snprintf(alat, sizeof(alat), "%s / %s", t1, t2);
		} else {
			snprintf(aops, sizeof(aops), "ERROR");
			snprintf(alat, sizeof(alat), "-");
		}
		if (!ext4_ran) {
			snprintf(eops, sizeof(eops), "not run");
			snprintf(elat, sizeof(elat), "-");
		} else if (e.nok) {
			snprintf(eops, sizeof(eops), "%.0f%s", e.ops, mark_e);
			bench_fmt_us(e.p50, t1, sizeof(t1));
			bench_fmt_us(e.p99, t2, sizeof(t2));
			snprintf(elat, sizeof(elat), "%s / %s", t1, t2);
		} else {
			snprintf(eops, sizeof(eops), "ERROR");
			snprintf(elat, sizeof(elat), "-");
		}
		if (a.nok && e.nok && ext4_ran)
			snprintf(ratio, sizeof(ratio), "%.2f", a.ops / e.ops);
		else
			snprintf(ratio, sizeof(ratio), "-");
		printf("| %-22s | %13s | %13s | %6s | %19s | %19s |\n", w->op_label[op], aops, eops,
		       ratio, alat, elat);
	}
	printf("\nratio = ananke ops/s / ext4 ops/s (medians over %u reps; > 1: Ananke faster). "
	       "Latencies: median over reps of each rep's p50 / p99.\n",
	       cfg->reps);
	if (partial)
		printf("* median over the repetitions that completed (some failed, see errors).\n");

	/* per-rep throughput and worst latency, to show the spread */
	for (int what = 0; what < 2; what++) {
		printf(what == 0 ? "\nper-rep ops/s (in run order):\n"
				 : "\nper-rep max latency, us (in run order):\n");
		for (int op = 0; op < OP_COUNT; op++) {
			for (int side = 0; side < SIDE_COUNT; side++) {
				if (side == SIDE_EXT4 && !ext4_ran)
					continue;
				printf("  %-22s %-7s", w->op_label[op], side_names[side]);
				for (unsigned r = 0; r < cfg->reps; r++) {
					const struct phase_result *x = &g_res[side][op][r];
					if (x->ok)
						printf(" %10.0f", what == 0 ? x->ops_per_s : x->max_us);
					else
						printf(" %10s", "ERR");
				}
				printf("\n");
			}
		}
	}
	/* Ananke's journal and device activity inside each timed phase */
	bool any = false;
	for (int op = 0; op < OP_COUNT; op++) {
		double c[MAX_REPS], f[MAX_REPS], wr[MAX_REPS], rd[MAX_REPS], per = 1;
		unsigned n = 0;
		for (unsigned r = 0; r < cfg->reps; r++) {
			if (!g_res[SIDE_ANANKE][op][r].ok)
				continue;
			c[n] = (double)g_io[op][r].commits;
			f[n] = (double)g_io[op][r].flushes;
			wr[n] = (double)g_io[op][r].writes;
			rd[n] = (double)g_io[op][r].reads;
			n++;
		}
		if (!n)
			continue;
		if (!any)
			printf("\nananke journal commits / device flushes / write requests / read "
			       "requests inside each timed phase (median over reps):\n");
		any = true;
		if (op == OP_FSYNC)
			per = cfg->fsyncs;
		double mc = bench_median(c, n), mf = bench_median(f, n);
		double mw = bench_median(wr, n), mr = bench_median(rd, n);
		printf("  %-22s %7.0f / %7.0f / %7.0f / %7.0f", w->op_label[op], mc, mf, mw, mr);
		if (op == OP_FSYNC)
			printf("   (per op: %.2f / %.2f / %.2f / %.2f)", mc / per, mf / per, mw / per,
			       mr / per);
		printf("\n");
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_core [options]\n"
		"  --image-size SIZE   size of both images (default 1G; K/M/G suffixes)\n"
		"  --files N           files for create/stat/unlink (default 10000)\n"
		"  --reps N            repetitions per side, interleaved (default 5, max %d)\n"
		"  --dir DIR           where the images and the mount point live\n"
		"                      (default: a new temp dir under /var/tmp)\n"
		"  --quick             small fast run (smoke test): 256M image, 1000 files,\n"
		"                      2 reps, 8 MiB file, 50 fsyncs, 1000-entry dir, 5 listings\n"
		"  --file-size SIZE    write/read file size (default 64M)\n"
		"  --fsyncs N          append+fsync operations (default 1000)\n"
		"  --dir-entries N     readdir directory size (default 10000)\n"
		"  --listings N        timed readdir listings (default 50)\n"
		"  --cache-pages N     Ananke page cache in 4 KiB pages (default 65536)\n"
		"  --no-ext4           Ananke side only\n",
		MAX_REPS);
}

int main(int argc, char **argv)
{
	struct config cfg = {0};
	bool set_image = false, set_files = false, set_reps = false, set_fsize = false,
	     set_fsyncs = false, set_dents = false, set_list = false;
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
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "bench_core: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--image-size")) {
			bad = bench_parse_size(v, &cfg.image_size) < 0;
			set_image = true;
		} else if (!strcmp(a, "--file-size")) {
			bad = bench_parse_size(v, &cfg.file_size) < 0;
			set_fsize = true;
		} else if (!strcmp(a, "--files")) {
			bad = bench_parse_uint(v, &cfg.files) < 0;
			set_files = true;
		} else if (!strcmp(a, "--reps")) {
			bad = bench_parse_uint(v, &cfg.reps) < 0 || cfg.reps > MAX_REPS;
			set_reps = true;
		} else if (!strcmp(a, "--fsyncs")) {
			bad = bench_parse_uint(v, &cfg.fsyncs) < 0;
			set_fsyncs = true;
		} else if (!strcmp(a, "--dir-entries")) {
			bad = bench_parse_uint(v, &cfg.dir_entries) < 0;
			set_dents = true;
		} else if (!strcmp(a, "--listings")) {
			bad = bench_parse_uint(v, &cfg.listings) < 0;
			set_list = true;
		} else if (!strcmp(a, "--cache-pages")) {
			unsigned cp = 0;
			bad = bench_parse_uint(v, &cp) < 0;
			cfg.cache_pages = cp;
		} else if (!strcmp(a, "--dir"))
			cfg.dir = v;
		else {
			fprintf(stderr, "bench_core: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "bench_core: bad value for %s: %s\n", a, v);
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
		cfg.file_size = cfg.quick ? 8ull << 20 : 64ull << 20;
	if (!set_fsyncs)
		cfg.fsyncs = cfg.quick ? 50 : 1000;
	if (!set_dents)
		cfg.dir_entries = cfg.quick ? 1000 : 10000;
	if (!set_list)
		cfg.listings = cfg.quick ? 5 : 50;
	if (!cfg.cache_pages)
		cfg.cache_pages = 65536;
	if (cfg.image_size % BLK || cfg.file_size % BLK) {
		fprintf(stderr, "bench_core: sizes must be multiples of 4 KiB\n");
		return 2;
	}

	/* workload buffers */
	struct workload w = {.cfg = &cfg};
	size_t nlat = cfg.files;
	if (cfg.file_size / BLK > nlat)
		nlat = (size_t)(cfg.file_size / BLK);
	if (cfg.fsyncs > nlat)
		nlat = cfg.fsyncs;
	if (cfg.listings > nlat)
		nlat = cfg.listings;
	w.paths = calloc(cfg.files, sizeof(*w.paths));
	w.dpaths = calloc(cfg.dir_entries, sizeof(*w.dpaths));
	w.lat = calloc(nlat, sizeof(*w.lat));
	w.buf = aligned_alloc(4096, BLK);
	if (!w.paths || !w.dpaths || !w.lat || !w.buf) {
		fprintf(stderr, "bench_core: out of memory\n");
		return 1;
	}
	memset(w.buf, 0xa5, BLK);
	for (unsigned i = 0; i < cfg.files; i++)
		snprintf(w.paths[i], sizeof(w.paths[i]), "/bench/f%07u", i);
	for (unsigned i = 0; i < cfg.dir_entries; i++)
		snprintf(w.dpaths[i], sizeof(w.dpaths[i]), "/dir/e%07u", i);
	char fsz[32], isz[32];
	bench_fmt_size(cfg.file_size, fsz, sizeof(fsz));
	bench_fmt_size(cfg.image_size, isz, sizeof(isz));
	snprintf(w.op_label[OP_CREATE], 40, "create");
	snprintf(w.op_label[OP_STAT], 40, "stat");
	snprintf(w.op_label[OP_WRITE], 40, "write 4K (buffered)");
	snprintf(w.op_label[OP_READ], 40, "read 4K (cached)");
	snprintf(w.op_label[OP_FSYNC], 40, "append 4K + fsync");
	snprintf(w.op_label[OP_UNLINK], 40, "unlink");
	snprintf(w.op_label[OP_READDIR], 40, "readdir %u entries", cfg.dir_entries);

	/* work directory */
	const char *base = cfg.dir ? cfg.dir : "/var/tmp";
	if (cfg.dir && mkdir(cfg.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "bench_core: cannot create %s: %s\n", cfg.dir, strerror(errno));
		return 1;
	}
	if (snprintf(g_workdir, sizeof(g_workdir), "%s/bench_core.XXXXXX", base) >=
	    (int)sizeof(g_workdir)) {
		fprintf(stderr, "bench_core: --dir path too long\n");
		return 2;
	}
	install_signal_handlers();
	if (!mkdtemp(g_workdir)) {
		fprintf(stderr, "bench_core: cannot create a directory in %s: %s\n", base,
			strerror(errno));
		return 1;
	}
	g_workdir_made = 1;
	snprintf(g_ananke_img, sizeof(g_ananke_img), "%s/ananke.img", g_workdir);
	snprintf(g_ext4_img, sizeof(g_ext4_img), "%s/ext4.img", g_workdir);
	snprintf(g_mnt, sizeof(g_mnt), "%s/ext4.mnt", g_workdir);

	/* A private mount namespace: the ext4 mount cannot outlive us. */
	bool private_ns = false;
	if (!cfg.no_ext4 && bench_private_mount_ns())
		private_ns = true;

	/* configuration */
	struct utsname un;
	uname(&un);
	const char *hostfs = bench_host_fs(g_workdir);
	char cache_sz[32];
	bench_fmt_size(cfg.cache_pages * BLK, cache_sz, sizeof(cache_sz));
	printf("bench_core: Ananke core (in-process) vs Linux ext4 (loop mount), same run\n");
	double la[3] = {0, 0, 0};
	getloadavg(la, 3);
	printf("  machine   : %ld CPUs online, Linux %s %s, load average %.2f %.2f %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), un.release, un.machine, la[0], la[1], la[2]);
	printf("  images    : %s sparse files in %s (host fs %s)%s\n", isz, g_workdir, hostfs,
	       cfg.quick ? "  [--quick]" : "");
	printf("  ananke    : fs_mkfs defaults; fs_mount cache_pages=%" PRIu64
	       " (%s), commit_interval_ms=default (5000),\n"
	       "              dirty_pages_limit=default (cache/4); image via bdev_file_open "
	       "(O_DIRECT + io_uring)\n",
	       cfg.cache_pages, cache_sz);
	printf("  ext4      : %s\n",
	       cfg.no_ext4 ? "disabled (--no-ext4)"
			   : "mkfs.ext4 -q -F <image>; mount -o loop; kernel page cache; "
			     "plain syscalls (*at() relative to the mount root)");
	printf("  workload  : %u files; %s file in 4 KiB pwrite/pread; %u x (4 KiB append + "
	       "fsync);\n              %u listings of a %u-entry directory\n",
	       cfg.files, fsz, cfg.fsyncs, cfg.listings, cfg.dir_entries);
	printf("  method    : %u reps per side, interleaved (ananke, ext4, ...), fresh image + "
	       "mkfs + mount per rep;\n              untimed sync before each phase; median over "
	       "reps; clock_gettime around each op\n",
	       cfg.reps);
	fflush(stdout);

	bool ext4_ran = false, ext4_enabled = !cfg.no_ext4;
	char why[3000] = "";
	for (unsigned r = 0; r < cfg.reps; r++) {
		uint64_t t = bench_now_ns();
		int rc = ananke_rep(&cfg, (int)r, &w);
		printf("rep %u/%u ananke: %s (%.1f s)\n", r + 1, cfg.reps, rc == 0 ? "done" : "FAILED",
		       (double)(bench_now_ns() - t) / 1e9);
		fflush(stdout);
		if (!ext4_enabled)
			continue;
		t = bench_now_ns();
		rc = ext4_rep(&cfg, (int)r, &w, why, sizeof(why));
		if (rc == -2) {
			fprintf(stderr,
				"bench_core: ext4 side unavailable: %s.\n"
				"bench_core: it needs root (mkfs.ext4, mount -o loop); running the "
				"ananke side only.\n",
				why);
			ext4_enabled = false;
			continue;
		}
		ext4_ran = true;
		printf("rep %u/%u ext4  : %s (%.1f s)\n", r + 1, cfg.reps, rc == 0 ? "done" : "FAILED",
		       (double)(bench_now_ns() - t) / 1e9);
		fflush(stdout);
	}
	g_activity = "cleanup";
	getloadavg(la, 3);
	printf("  load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	if (ext4_ran)
		printf("  ext4 mount: %s%s\n", g_ext4_mount_opts[0] ? g_ext4_mount_opts : "?",
		       private_ns ? " [private mount namespace]" : "");

	print_table(&cfg, &w, ext4_ran);
	if (!ext4_ran && !cfg.no_ext4)
		printf("\nNOTE: ext4 side NOT RUN (%s): Ananke figures only.\n",
		       why[0] ? why : "unavailable");
	if (g_errors) {
		printf("\n%u ERROR(S) on the benchmarked file systems; first ones:\n", g_errors);
		for (unsigned i = 0; i < g_errors && i < 8; i++)
			printf("  %s\n", g_first_errors[i]);
	}

	cleanup_all(false);
	if (g_mounted)
		fprintf(stderr, "bench_core: WARNING: %s still mounted\n", g_mnt);
	free(w.paths);
	free(w.dpaths);
	free(w.lat);
	free(w.buf);
	return g_errors ? 1 : 0;
}
