/*
 * bench_mix.c - application-level mixes and scaling with clients: the
 * Ananke service through libananke (one service per recovery mode) against
 * ext4 on a loop-mounted image of the same size through syscalls, in one
 * run, with 1, 2 and 4 client processes.
 *
 * Workloads (each client in a directory of its own, seeded, the same
 * sequence on every side):
 *   fileserver  a tree of --files files per client (20 directories), 16 KiB
 *               each to start; ops: read a whole file 30%, append 4 KiB 20%,
 *               write a whole new 16 KiB file (O_TRUNC) 20%, stat 20%,
 *               delete and create again (empty) 10%
 *   varmail     100 small files per client; ops: write a 4 KiB message to a
 *               new file and fsync 25%, append 4 KiB and fsync 25%, read a
 *               whole file 25%, delete and create again 25%
 *   create      each client creates --files empty files
 *   stat        each client stats its --files files
 *   write4k     each client pwrites 4 KiB blocks over its own 16 MiB file
 *   read4k      each client preads them back (cached)
 * The time of a workload runs from the moment every client is ready until
 * the last one is done; ops/s is the total over all clients.
 *
 * Method: --reps repetitions (default 5); in each, every side in turn
 * (the order rotates by one each repetition) gets a fresh file system (and
 * service), then runs every workload with 1, 2 and 4 clients, an untimed
 * sync before each. Medians over repetitions. Ratios: each mode against
 * "none" and against ext4; N clients against 1 client of the same side.
 *
 * Usage: bench_mix [--reps N] [--ops N] [--files N] [--modes LIST]
 *                  [--workers N] [--image-size SIZE] [--no-ext4]
 *                  [--ananke PATH] [--dir DIR]
 * The ext4 side needs root (mkfs.ext4, mount -o loop).
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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "bench_util.h"

#define PROG "bench_mix"
#define MAX_SIDES 4
#define MAX_REPS 99
#define NCLIENTS 3
static const unsigned g_clients[NCLIENTS] = {1, 2, 4};

enum { W_FILESERVER, W_VARMAIL, W_CREATE, W_STAT, W_WRITE4K, W_READ4K, W_COUNT };
static const char *const g_wname[W_COUNT] = {"fileserver", "varmail", "create",
					     "stat",       "write4k", "read4k"};

struct side_def {
	const char *name;
	const char *mode; /* recovery mode, NULL for ext4 */
};

static struct side_def g_sides[MAX_SIDES];
static int g_nsides;
static unsigned g_reps = 5, g_ops = 4000, g_files = 1000, g_workers;
static uint64_t g_image_size = 1ull << 30;
static char g_dir[1024], g_ext4_img[1100], g_ext4_mnt[1100];
static volatile sig_atomic_t g_ext4_mounted;
static struct bench_svc g_svc = {.prog = PROG};
/* ops/s by side, workload, client count index, repetition */
static double g_res[MAX_SIDES][W_COUNT][NCLIENTS][MAX_REPS];

/* ---- one client's calls: libananke or syscalls -------------------------------- */

static bool g_ank; /* this process talks to the service */
static char g_root[1100]; /* "" for the service, the ext4 mount point else */

static void path_of(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", g_root, rel);
}

static int c_open(const char *rel, int fl)
{
	char p[PATH_MAX];
	path_of(p, sizeof(p), rel);
	return g_ank ? ank_open(p, fl, 0644) : open(p, fl, 0644);
}
static int c_close(int fd)
{
	return g_ank ? ank_close(fd) : close(fd);
}
static ssize_t c_write(int fd, const void *b, size_t n)
{
	return g_ank ? ank_write(fd, b, n) : write(fd, b, n);
}
static ssize_t c_pwrite(int fd, const void *b, size_t n, off_t o)
{
	return g_ank ? ank_pwrite(fd, b, n, o) : pwrite(fd, b, n, o);
}
static ssize_t c_read(int fd, void *b, size_t n)
{
	return g_ank ? ank_read(fd, b, n) : read(fd, b, n);
}
static ssize_t c_pread(int fd, void *b, size_t n, off_t o)
{
	return g_ank ? ank_pread(fd, b, n, o) : pread(fd, b, n, o);
}
static int c_fsync(int fd)
{
	return g_ank ? ank_fsync(fd) : fsync(fd);
}
static int c_stat(const char *rel, struct stat *st)
{
	char p[PATH_MAX];
	path_of(p, sizeof(p), rel);
	return g_ank ? ank_stat(p, st) : stat(p, st);
}
static int c_unlink(const char *rel)
{
	char p[PATH_MAX];
	path_of(p, sizeof(p), rel);
	return g_ank ? ank_unlink(p) : unlink(p);
}
static int c_mkdir(const char *rel)
{
	char p[PATH_MAX];
	path_of(p, sizeof(p), rel);
	return g_ank ? ank_mkdir(p, 0755) : mkdir(p, 0755);
}
static void c_sync(void)
{
	if (g_ank)
		ank_sync();
	else
		sync();
}

/* ---- the workloads (in a client process) ------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static uint8_t g_buf[16384];

#define CHECK(x)                                                                             \
	do {                                                                                 \
		if ((x) < 0) {                                                               \
			fprintf(stderr, PROG ": client %u: %s: %s\n", me, #x, strerror(errno)); \
			return -1;                                                           \
		}                                                                            \
	} while (0)

static void file_name(char *out, size_t n, unsigned me, unsigned i, bool tree)
{
	if (tree)
		snprintf(out, n, "c%u/d%02u/f%05u", me, i % 20, i);
	else
		snprintf(out, n, "c%u/f%05u", me, i);
}

static int write_whole(unsigned me, const char *name, size_t len, bool do_fsync)
{
	int fd;
	CHECK(fd = c_open(name, O_CREAT | O_WRONLY | O_TRUNC));
	CHECK(c_write(fd, g_buf, len));
	if (do_fsync)
		CHECK(c_fsync(fd));
	CHECK(c_close(fd));
	return 0;
}

static int read_whole(unsigned me, const char *name)
{
	int fd;
	CHECK(fd = c_open(name, O_RDONLY));
	ssize_t n;
	uint8_t b[16384];
	while ((n = c_read(fd, b, sizeof(b))) > 0)
		;
	CHECK(n);
	CHECK(c_close(fd));
	return 0;
}

static int append(unsigned me, const char *name, bool do_fsync)
{
	int fd;
	CHECK(fd = c_open(name, O_WRONLY | O_APPEND | O_CREAT));
	CHECK(c_write(fd, g_buf, 4096));
	if (do_fsync)
		CHECK(c_fsync(fd));
	CHECK(c_close(fd));
	return 0;
}

/* Untimed: what a workload starts from. */
static int prepare(int wl, unsigned me)
{
	char name[64];
	snprintf(name, sizeof(name), "c%u", me);
	if (c_mkdir(name) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": mkdir %s: %s\n", name, strerror(errno));
		return -1;
	}
	if (wl == W_FILESERVER) {
		for (unsigned d = 0; d < 20; d++) {
			snprintf(name, sizeof(name), "c%u/d%02u", me, d);
			if (c_mkdir(name) < 0 && errno != EEXIST)
				return -1;
		}
		for (unsigned i = 0; i < g_files; i++) {
			file_name(name, sizeof(name), me, i, true);
			if (write_whole(me, name, 16384, false) < 0)
				return -1;
		}
	} else if (wl == W_VARMAIL) {
		for (unsigned i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "c%u/m%03u", me, i);
			if (write_whole(me, name, 4096, false) < 0)
				return -1;
		}
	} else if (wl == W_STAT) {
		for (unsigned i = 0; i < g_files; i++) {
			file_name(name, sizeof(name), me, i, false);
			if (write_whole(me, name, 0, false) < 0)
				return -1;
		}
	} else if (wl == W_WRITE4K || wl == W_READ4K) {
		snprintf(name, sizeof(name), "c%u/big", me);
		if (write_whole(me, name, 0, false) < 0)
			return -1;
		if (wl == W_READ4K) {
			int fd;
			CHECK(fd = c_open(name, O_WRONLY));
			for (unsigned k = 0; k < 4096; k++)
				CHECK(c_pwrite(fd, g_buf, 4096, (off_t)k * 4096));
			CHECK(c_close(fd));
		}
	}
	return 0;
}

static int run(int wl, unsigned me)
{
	uint64_t s = 0x9E3779B97F4A7C15ull * (me + 1) + (uint64_t)wl;
	char name[64];
	struct stat st;
	switch (wl) {
	case W_FILESERVER:
		for (unsigned k = 0; k < g_ops; k++) {
			unsigned i = (unsigned)(rng_next(&s) % g_files), r = (unsigned)(rng_next(&s) % 10);
			file_name(name, sizeof(name), me, i, true);
			if (r < 3) {
				if (read_whole(me, name) < 0)
					return -1;
			} else if (r < 5) {
				if (append(me, name, false) < 0)
					return -1;
			} else if (r < 7) {
				if (write_whole(me, name, 16384, false) < 0)
					return -1;
			} else if (r < 9) {
				CHECK(c_stat(name, &st));
			} else {
				CHECK(c_unlink(name));
				if (write_whole(me, name, 0, false) < 0)
					return -1;
			}
		}
		return 0;
	case W_VARMAIL:
		for (unsigned k = 0; k < g_ops; k++) {
			unsigned i = (unsigned)(rng_next(&s) % 100), r = (unsigned)(rng_next(&s) % 4);
			snprintf(name, sizeof(name), "c%u/m%03u", me, i);
			if (r == 0) {
				if (write_whole(me, name, 4096, true) < 0)
					return -1;
			} else if (r == 1) {
				if (append(me, name, true) < 0)
					return -1;
			} else if (r == 2) {
				if (read_whole(me, name) < 0)
					return -1;
			} else {
				CHECK(c_unlink(name));
				if (write_whole(me, name, 0, false) < 0)
					return -1;
			}
		}
		return 0;
	case W_CREATE:
		for (unsigned i = 0; i < g_files; i++) {
			int fd;
			file_name(name, sizeof(name), me, i, false);
			CHECK(fd = c_open(name, O_CREAT | O_EXCL | O_WRONLY));
			CHECK(c_close(fd));
		}
		return 0;
	case W_STAT:
		for (unsigned k = 0; k < 4; k++)
			for (unsigned i = 0; i < g_files; i++) {
				file_name(name, sizeof(name), me, i, false);
				CHECK(c_stat(name, &st));
			}
		return 0;
	case W_WRITE4K:
	case W_READ4K: {
		int fd;
		snprintf(name, sizeof(name), "c%u/big", me);
		CHECK(fd = c_open(name, O_RDWR));
		for (unsigned k = 0; k < 4096 * 2; k++) {
			off_t off = (off_t)(k % 4096) * 4096;
			if (wl == W_WRITE4K)
				CHECK(c_pwrite(fd, g_buf, 4096, off));
			else
				CHECK(c_pread(fd, g_buf, 4096, off));
		}
		CHECK(c_close(fd));
		return 0;
	}
	}
	return -1;
}

/* Operations one client makes in a workload (for ops/s). */
static unsigned ops_of(int wl)
{
	switch (wl) {
	case W_CREATE:
		return g_files;
	case W_STAT:
		return 4 * g_files;
	case W_WRITE4K:
	case W_READ4K:
		return 4096 * 2;
	default:
		return g_ops;
	}
}

/* ---- running a workload with n client processes ------------------------------------- */

/* Shared with the clients: a start flag and how many are ready / done. */
struct gate {
	volatile int go;
	volatile int ready, failed;
};

static double run_clients(int wl, unsigned n)
{
	struct gate *g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0);
	if (g == MAP_FAILED)
		return -1;
	memset((void *)g, 0, sizeof(*g));
	pid_t pids[8];
	for (unsigned c = 0; c < n; c++) {
		fflush(NULL);
		pids[c] = fork();
		if (pids[c] < 0) /* (counted ready, and failed below) */
			__atomic_add_fetch(&g->ready, 1, __ATOMIC_SEQ_CST);
		if (pids[c] == 0) {
			/* a child has its own connection (libananke: after fork) */
			int rc = g_ank && ank_mount(g_svc.socket) < 0 ? -1 : 0;
			if (rc == 0)
				rc = prepare(wl, c);
			__atomic_add_fetch(&g->ready, 1, __ATOMIC_SEQ_CST);
			while (!__atomic_load_n(&g->go, __ATOMIC_ACQUIRE))
				usleep(100);
			if (rc == 0)
				rc = run(wl, c);
			if (g_ank)
				ank_unmount();
			_exit(rc == 0 ? 0 : 1);
		}
	}
	/* every child says ready, failed or not; a child that died first is
	 * seen by waitpid, so this never waits for ever */
	for (unsigned done = 0; __atomic_load_n(&g->ready, __ATOMIC_SEQ_CST) < (int)n;) {
		usleep(200);
		for (unsigned c = 0; c < n && !done; c++)
			if (pids[c] > 0 && waitpid(pids[c], NULL, WNOHANG) == pids[c]) {
				done = 1; /* (reaped: the loop below counts it failed) */
				pids[c] = -1;
			}
		if (done)
			break;
	}
	c_sync();
	uint64_t t0 = bench_now_ns();
	__atomic_store_n(&g->go, 1, __ATOMIC_RELEASE);
	bool ok = true;
	for (unsigned c = 0; c < n; c++) {
		int st;
		if (pids[c] < 0 || waitpid(pids[c], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			ok = false;
	}
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	munmap((void *)g, sizeof(*g));
	return ok ? (double)ops_of(wl) * n / secs : -1;
}

/* ---- sides --------------------------------------------------------------------------- */

static int side_up(int side)
{
	if (g_sides[side].mode) {
		char workers[16], recovery[32];
		char *args[6];
		int k = 0;
		if (g_workers) {
			snprintf(workers, sizeof(workers), "%u", g_workers);
			args[k++] = "--workers";
			args[k++] = workers;
		}
		snprintf(recovery, sizeof(recovery), "--recovery=%s", g_sides[side].mode);
		args[k++] = recovery;
		args[k] = NULL;
		if (bench_svc_mkfs(&g_svc, g_image_size) < 0 || bench_svc_spawn(&g_svc, args) < 0 ||
		    bench_svc_wait_running(&g_svc, 30000) < 0 || ank_mount(g_svc.socket) < 0)
			return -1;
		g_ank = true;
		g_root[0] = 0;
		return 0;
	}
	if (mkdir(g_ext4_mnt, 0700) < 0 && errno != EEXIST)
		return -1;
	if (bench_make_sparse_file(g_ext4_img, g_image_size) < 0)
		return -1;
	char *mkfs_argv[] = {"mkfs.ext4", "-q", "-F", g_ext4_img, NULL};
	if (bench_run_cmd(PROG, mkfs_argv, true, NULL) != 0)
		return -1;
	char *mount_argv[] = {"mount", "-o", "loop", g_ext4_img, g_ext4_mnt, NULL};
	g_ext4_mounted = 1;
	if (bench_run_cmd(PROG, mount_argv, false, NULL) != 0) {
		g_ext4_mounted = 0;
		return -1;
	}
	g_ank = false;
	snprintf(g_root, sizeof(g_root), "%s", g_ext4_mnt);
	return 0;
}

static void side_down(int side)
{
	if (g_sides[side].mode) {
		ank_unmount();
		bench_svc_stop(&g_svc);
	} else if (g_ext4_mounted) {
		bench_umount(g_ext4_mnt, false);
		g_ext4_mounted = 0;
		unlink(g_ext4_img);
	}
}

static void on_signal(int sig)
{
	bench_svc_kill(&g_svc);
	if (g_ext4_mounted)
		bench_umount(g_ext4_mnt, true);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- report ------------------------------------------------------------------------------ */

static double med(int side, int wl, int c)
{
	double v[MAX_REPS];
	unsigned n = 0;
	for (unsigned r = 0; r < g_reps; r++)
		if (g_res[side][wl][c][r] > 0)
			v[n++] = g_res[side][wl][c][r];
	return n ? bench_median(v, n) : 0;
}

static void report(void)
{
	int none = -1, ext4 = -1;
	for (int s = 0; s < g_nsides; s++) {
		if (g_sides[s].mode && !strcmp(g_sides[s].mode, "none"))
			none = s;
		if (!g_sides[s].mode)
			ext4 = s;
	}
	printf("\n| workload | clients |");
	for (int s = 0; s < g_nsides; s++)
		printf(" %s ops/s |", g_sides[s].name);
	for (int s = 0; s < g_nsides; s++)
		if (g_sides[s].mode && s != none && none >= 0)
			printf(" %s / none |", g_sides[s].name);
	for (int s = 0; s < g_nsides; s++)
		if (g_sides[s].mode && ext4 >= 0)
			printf(" %s / ext4 |", g_sides[s].name);
	for (int s = 0; s < g_nsides; s++)
		printf(" %s vs 1 client |", g_sides[s].name);
	printf("\n|---|--:|");
	int cols = g_nsides * 2;
	for (int s = 0; s < g_nsides; s++)
		cols += (g_sides[s].mode && s != none && none >= 0) + (g_sides[s].mode && ext4 >= 0);
	for (int k = 0; k < cols; k++)
		printf("--:|");
	printf("\n");
	for (int wl = 0; wl < W_COUNT; wl++)
		for (int c = 0; c < NCLIENTS; c++) {
			printf("| %s | %u |", g_wname[wl], g_clients[c]);
			for (int s = 0; s < g_nsides; s++)
				printf(" %.0f |", med(s, wl, c));
			for (int s = 0; s < g_nsides; s++)
				if (g_sides[s].mode && s != none && none >= 0)
					printf(" %.2f |", med(none, wl, c) > 0 ? med(s, wl, c) / med(none, wl, c) : 0);
			for (int s = 0; s < g_nsides; s++)
				if (g_sides[s].mode && ext4 >= 0)
					printf(" %.2f |", med(ext4, wl, c) > 0 ? med(s, wl, c) / med(ext4, wl, c) : 0);
			for (int s = 0; s < g_nsides; s++)
				printf(" %.2f |", med(s, wl, 0) > 0 ? med(s, wl, c) / med(s, wl, 0) : 0);
			printf("\n");
		}
	printf("\nops/s: all clients together, median of %u repetitions; ratios of medians.\n", g_reps);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--reps N] [--ops N] [--files N] [--modes LIST] [--workers N]\n"
		   "                 [--image-size SIZE] [--no-ext4] [--ananke PATH] [--dir DIR]\n"
		   "  LIST: comma-separated recovery modes (none, ananke, sync; default none,ananke)\n");
}

int main(int argc, char **argv)
{
	const char *modes = "none,ananke";
	bool ext4 = geteuid() == 0;
	g_svc.ananke = bench_default_ananke();
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--reps") && v && !bench_parse_uint(v, &g_reps) && g_reps <= MAX_REPS)
			i++;
		else if (!strcmp(a, "--ops") && v && !bench_parse_uint(v, &g_ops))
			i++;
		else if (!strcmp(a, "--files") && v && !bench_parse_uint(v, &g_files))
			i++;
		else if (!strcmp(a, "--workers") && v && !bench_parse_uint(v, &g_workers))
			i++;
		else if (!strcmp(a, "--image-size") && v && !bench_parse_size(v, &g_image_size))
			i++;
		else if (!strcmp(a, "--modes") && v)
			modes = argv[++i];
		else if (!strcmp(a, "--ananke") && v)
			g_svc.ananke = argv[++i];
		else if (!strcmp(a, "--dir") && v)
			dir = argv[++i];
		else if (!strcmp(a, "--no-ext4"))
			ext4 = false;
		else if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	char *ml = strdup(modes);
	for (char *save = NULL, *m = strtok_r(ml, ",", &save); m && g_nsides < MAX_SIDES - 1;
	     m = strtok_r(NULL, ",", &save)) {
		if (strcmp(m, "none") && strcmp(m, "ananke") && strcmp(m, "sync")) {
			fprintf(stderr, PROG ": unknown mode '%s'\n", m);
			return 2;
		}
		g_sides[g_nsides++] = (struct side_def){.name = m, .mode = m};
	}
	if (ext4)
		g_sides[g_nsides++] = (struct side_def){.name = "ext4", .mode = NULL};
	if (!dir) {
		snprintf(g_dir, sizeof(g_dir), "/var/tmp/bench-mix.XXXXXX");
		if (!mkdtemp(g_dir)) {
			perror(PROG ": mkdtemp");
			return 1;
		}
	} else {
		snprintf(g_dir, sizeof(g_dir), "%s", dir);
	}
	snprintf(g_svc.image, sizeof(g_svc.image), "%s/ananke.img", g_dir);
	snprintf(g_svc.socket, sizeof(g_svc.socket), "%s/s", g_dir);
	snprintf(g_svc.log, sizeof(g_svc.log), "%s/serve.log", g_dir);
	snprintf(g_ext4_img, sizeof(g_ext4_img), "%s/ext4.img", g_dir);
	snprintf(g_ext4_mnt, sizeof(g_ext4_mnt), "%s/ext4", g_dir);
	if (ext4)
		bench_private_mount_ns();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	memset(g_buf, 0x6b, sizeof(g_buf));
	printf(PROG ": %u reps, %u ops per client (fileserver, varmail), %u files per client, "
		   "clients 1, 2, 4; service workers: %s\n",
	       g_reps, g_ops, g_files, g_workers ? "as given" : "the service's default");
	int failures = 0;
	for (unsigned r = 0; r < g_reps; r++)
		for (int k = 0; k < g_nsides; k++) {
			int side = (int)((k + r) % (unsigned)g_nsides);
			uint64_t t0 = bench_now_ns();
			if (side_up(side) < 0) {
				fprintf(stderr, PROG ": %s: cannot set up the side\n", g_sides[side].name);
				if (g_sides[side].mode)
					bench_svc_show_log(&g_svc, 12);
				side_down(side);
				failures++;
				continue;
			}
			for (int wl = 0; wl < W_COUNT; wl++)
				for (int c = 0; c < NCLIENTS; c++) {
					/* each client count on fresh directories */
					double x = run_clients(wl, g_clients[c]);
					if (x < 0) {
						fprintf(stderr, PROG ": %s rep %u: %s with %u clients failed\n",
							g_sides[side].name, r + 1, g_wname[wl], g_clients[c]);
						failures++;
					}
					g_res[side][wl][c][r] = x;
					/* next count starts from an empty tree */
					char cmd[64];
					for (unsigned m = 0; m < g_clients[c]; m++) {
						snprintf(cmd, sizeof(cmd), "c%u", m);
						char newname[64];
						snprintf(newname, sizeof(newname), "old%u-%d-%d", m, wl, c);
						char a[PATH_MAX], b[PATH_MAX];
						path_of(a, sizeof(a), cmd);
						path_of(b, sizeof(b), newname);
						if (g_ank)
							ank_rename(a, b);
						else
							rename(a, b);
					}
				}
			printf("rep %u/%u %-7s: done (%.1f s)\n", r + 1, g_reps, g_sides[side].name,
			       (double)(bench_now_ns() - t0) / 1e9);
			fflush(stdout);
			side_down(side);
		}
	report();
	if (!dir) { /* what this run made: the images, the log, the mount point */
		unlink(g_svc.image);
		unlink(g_svc.log);
		unlink(g_ext4_img);
		rmdir(g_ext4_mnt);
		rmdir(g_dir);
	}
	return failures ? 1 : 0;
}
