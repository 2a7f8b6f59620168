/*
 * bench_fuse.c - benchmark: the same workload through plain syscalls on
 * several directories, side by side: the service through its FUSE mount
 * (`ananke mount`), libfuse's passthrough_ll example over ext4, and ext4
 * itself. scripts/bench-fuse.sh prepares the three and runs this program;
 * it measures whatever directories it is given.
 *
 *   create         open(O_CREAT|O_EXCL|O_WRONLY) + close, N files in one dir
 *   stat           stat of each file
 *   open+close     open(O_RDONLY) + close of each file
 *   readdir        opendir + readdir to the end + closedir of that directory
 *                  (one operation per entry)
 *   rename         rename of each file in the same directory
 *   unlink         unlink of each file
 *   write 4K       pwrite of 4 KiB at sequential offsets into a new file
 *   read 4K        pread of 4 KiB blocks of that file (after an untimed pass)
 *   write 1M       pwrite of 1 MiB at sequential offsets into a new file
 *   read 1M        pread of 1 MiB blocks of that file (after an untimed pass)
 *   append+fsync   4 KiB write to an O_APPEND file, then fsync
 *   untar          `tar xf` of --tar (one operation per file it holds)
 *   git status     `git status` in that tree, made a repository (untimed)
 *
 * Method: repetitions interleave the sides, the order rotating by one each
 * repetition; every repetition works in a fresh subdirectory; before each
 * phase an untimed sync(). Throughput = operations / phase wall time; per
 * side the median over repetitions; ratios of the first side's median to
 * each other side's (above 1: the first side is faster).
 *
 * Usage: bench_fuse [--reps N] [--files N] [--file-size SIZE]
 *                   [--seq-size SIZE] [--fsyncs N] [--tar FILE] NAME=DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_SIDES 6
#define MAX_REPS 15

enum op {
	OP_CREATE, OP_STAT, OP_OPEN, OP_READDIR, OP_RENAME, OP_UNLINK, OP_W4K, OP_R4K,
	OP_W1M, OP_R1M, OP_APPEND, OP_UNTAR, OP_GIT, OP_COUNT
};
static const char *const op_name[OP_COUNT] = {
	"create", "stat", "open+close", "readdir", "rename", "unlink", "write 4K",
	"read 4K", "write 1M", "read 1M", "append+fsync", "untar", "git status",
};

struct cfg {
	unsigned reps, files, fsyncs;
	uint64_t file_size, seq_size;
	const char *tar;
	unsigned tar_files;
	int nsides;
	const char *name[MAX_SIDES];
	const char *dir[MAX_SIDES];
};

static double g_rate[MAX_SIDES][OP_COUNT][MAX_REPS];
static unsigned g_errors;

static void fail(const char *what, const char *path)
{
	if (g_errors++ < 8)
		fprintf(stderr, "bench_fuse: %s %s: %s\n", what, path, strerror(errno));
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1024ull * 1024 * 1024, end++;
	if (*end || end == s || v == 0)
		return -1;
	*out = v * mul;
	return 0;
}

/* Time `n` operations of one phase: rate in operations per second. */
#define PHASE(side, op, rep, n, body) \
	do { \
		sync(); \
		uint64_t t0_ = bench_now_ns(); \
		body; \
		double s_ = (double)(bench_now_ns() - t0_) / 1e9; \
		g_rate[side][op][rep] = s_ > 0 ? (double)(n) / s_ : 0; \
	} while (0)

static void file_io(int side, int rep, const char *path, size_t bs, uint64_t size, int wop, int rop)
{
	static char *buf;
	if (!buf && posix_memalign((void **)&buf, 4096, 1 << 20) != 0)
		exit(1);
	memset(buf, 'x', 1 << 20);
	uint64_t n = size / bs;
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		fail("open", path);
		return;
	}
	PHASE(side, wop, rep, n, {
		for (uint64_t i = 0; i < n; i++)
			if (pwrite(fd, buf, bs, (off_t)(i * bs)) != (ssize_t)bs)
				fail("pwrite", path);
	});
	for (uint64_t i = 0; i < n; i++) /* untimed pass */
		if (pread(fd, buf, bs, (off_t)(i * bs)) != (ssize_t)bs)
			fail("pread", path);
	PHASE(side, rop, rep, n, {
		for (uint64_t i = 0; i < n; i++)
			if (pread(fd, buf, bs, (off_t)(i * bs)) != (ssize_t)bs)
				fail("pread", path);
	});
	close(fd);
	unlink(path);
}

static void run_side(const struct cfg *c, int side, int rep)
{
	char base[4096], p[4200], q[4200];
	snprintf(base, sizeof(base), "%s/rep%d", c->dir[side], rep);
	if (mkdir(base, 0755) < 0) {
		fail("mkdir", base);
		return;
	}
	snprintf(p, sizeof(p), "%s/d", base);
	mkdir(p, 0755);
	unsigned n = c->files;
	PHASE(side, OP_CREATE, rep, n, {
		for (unsigned i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/d/f%06u", base, i);
			int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0)
				fail("create", p);
			else
				close(fd);
		}
	});
	PHASE(side, OP_STAT, rep, n, {
		struct stat st;
		for (unsigned i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/d/f%06u", base, i);
			if (stat(p, &st) < 0)
				fail("stat", p);
		}
	});
	PHASE(side, OP_OPEN, rep, n, {
		for (unsigned i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/d/f%06u", base, i);
			int fd = open(p, O_RDONLY);
			if (fd < 0)
				fail("open", p);
			else
				close(fd);
		}
	});
	snprintf(q, sizeof(q), "%s/d", base);
	{
		sync();
		unsigned listed = 0;
		uint64_t t0 = bench_now_ns();
		for (int k = 0; k < 5; k++) {
			DIR *d = opendir(q);
			if (!d) {
				fail("opendir", q);
				break;
			}
			while (readdir(d))
				listed++;
			closedir(d);
		}
		double secs = (double)(bench_now_ns() - t0) / 1e9;
		g_rate[side][OP_READDIR][rep] = secs > 0 ? listed / secs : 0;
	}
	PHASE(side, OP_RENAME, rep, n, {
		for (unsigned i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/d/f%06u", base, i);
			snprintf(q, sizeof(q), "%s/d/g%06u", base, i);
			if (rename(p, q) < 0)
				fail("rename", p);
		}
	});
	PHASE(side, OP_UNLINK, rep, n, {
		for (unsigned i = 0; i < n; i++) {
			snprintf(q, sizeof(q), "%s/d/g%06u", base, i);
			if (unlink(q) < 0)
				fail("unlink", q);
		}
	});
	snprintf(p, sizeof(p), "%s/small", base);
	file_io(side, rep, p, 4096, c->file_size, OP_W4K, OP_R4K);
	snprintf(p, sizeof(p), "%s/big", base);
	file_io(side, rep, p, 1 << 20, c->seq_size, OP_W1M, OP_R1M);
	snprintf(p, sizeof(p), "%s/log", base);
	int fd = open(p, O_CREAT | O_WRONLY | O_APPEND, 0644);
	if (fd >= 0) {
		char b[4096];
		memset(b, 'a', sizeof(b));
		PHASE(side, OP_APPEND, rep, c->fsyncs, {
			for (unsigned i = 0; i < c->fsyncs; i++)
				if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b) || fsync(fd) < 0)
					fail("append+fsync", p);
		});
		close(fd);
	} else {
		fail("open", p);
	}
	if (c->tar) {
		char cmd[9000];
		snprintf(p, sizeof(p), "%s/tree", base);
		mkdir(p, 0755);
		snprintf(cmd, sizeof(cmd), "tar xf '%s' -C '%s'", c->tar, p);
		PHASE(side, OP_UNTAR, rep, c->tar_files, {
			if (system(cmd) != 0)
				fail("tar xf into", p);
		});
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && git init -q && git config gc.auto 0 && git add -A && "
			 "git -c user.name=b -c user.email=b@b commit -qm t && "
			 "git status --porcelain >/dev/null",
			 p);
		if (system(cmd) != 0)
			fail("git init/add/commit in", p);
		snprintf(cmd, sizeof(cmd), "cd '%s' && git status --porcelain >/dev/null", p);
		PHASE(side, OP_GIT, rep, 3, {
			for (int k = 0; k < 3; k++)
				if (system(cmd) != 0)
					fail("git status in", p);
		});
	}
	snprintf(q, sizeof(q), "rm -rf '%s'", base);
	if (system(q) != 0)
		fail("rm -rf", base);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(int side, int op, unsigned reps)
{
	double v[MAX_REPS];
	memcpy(v, g_rate[side][op], reps * sizeof(double));
	qsort(v, reps, sizeof(double), cmp_double);
	return reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_fuse [--reps N] [--files N] [--file-size SIZE] [--seq-size SIZE]\n"
		   "                  [--fsyncs N] [--tar FILE] NAME=DIR...\n");
}

int main(int argc, char **argv)
{
	struct cfg c = {.reps = 5, .files = 2000, .fsyncs = 200, .file_size = 16 << 20,
			.seq_size = 128 << 20};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool next = i + 1 < argc;
		if (!strcmp(a, "--reps") && next) {
			c.reps = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--files") && next) {
			c.files = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--fsyncs") && next) {
			c.fsyncs = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(a, "--file-size") && next) {
			if (parse_size(argv[++i], &c.file_size) < 0)
				return 2;
		} else if (!strcmp(a, "--seq-size") && next) {
			if (parse_size(argv[++i], &c.seq_size) < 0)
				return 2;
		} else if (!strcmp(a, "--tar") && next) {
			c.tar = argv[++i];
		} else if (strchr(a, '=') && a[0] != '-' && c.nsides < MAX_SIDES) {
			char *eq = strchr(a, '=');
			*eq = '\0';
			c.name[c.nsides] = a;
			c.dir[c.nsides++] = eq + 1;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (c.nsides < 1 || c.reps < 1 || c.reps > MAX_REPS || c.files < 1 || c.fsyncs < 1) {
		usage(stderr);
		return 2;
	}
	if (c.tar) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "tar tf '%s' | wc -l", c.tar);
		FILE *p = popen(cmd, "r");
		if (!p || fscanf(p, "%u", &c.tar_files) != 1)
			c.tar_files = 1;
		if (p)
			pclose(p);
	}
	for (unsigned rep = 0; rep < c.reps; rep++)
		for (int k = 0; k < c.nsides; k++) {
			int side = (int)((k + rep) % (unsigned)c.nsides);
			fprintf(stderr, "rep %u: %s\n", rep + 1, c.name[side]);
			run_side(&c, side, (int)rep);
		}
	printf("bench_fuse: %u repetitions, %u files, 4K file %llu MiB, 1M file %llu MiB, %u "
	       "fsyncs%s%s; medians in operations/s\n\n",
	       c.reps, c.files, (unsigned long long)(c.file_size >> 20),
	       (unsigned long long)(c.seq_size >> 20), c.fsyncs, c.tar ? ", tar " : "",
	       c.tar ? c.tar : "");
	printf("%-14s", "operation");
	for (int s = 0; s < c.nsides; s++)
		printf(" %16s", c.name[s]);
	for (int s = 1; s < c.nsides; s++)
		printf("  %s/%s", c.name[0], c.name[s]);
	printf("\n");
	for (int op = 0; op < OP_COUNT; op++) {
		if ((op == OP_UNTAR || op == OP_GIT) && !c.tar)
			continue;
		printf("%-14s", op_name[op]);
		double m0 = median(0, op, c.reps);
		for (int s = 0; s < c.nsides; s++)
			printf(" %16.0f", median(s, op, c.reps));
		for (int s = 1; s < c.nsides; s++) {
			double m = median(s, op, c.reps);
			int w = (int)(strlen(c.name[0]) + strlen(c.name[s]) + 1);
			printf("  %*.2f", w, m > 0 ? m0 / m : 0.0);
		}
		printf("\n");
	}
	if (g_errors)
		printf("\n%u errors (the first are on stderr)\n", g_errors);
	return g_errors ? 1 : 0;
}
