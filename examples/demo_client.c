/*
 * demo_client.c - the client side of `make demo`: through libananke, build a
 * tree of directories and files of many sizes (some fsync'd, one large),
 * rename and delete some, read everything back and verify every byte, then
 * print what it did. Exits non-zero on the first error or mismatch.
 *
 * usage: ananke-demo-client [SOCKET]
 *        ananke-demo-client --loop SECONDS [SOCKET]
 *
 * With --loop it keeps working for SECONDS (files created, written in
 * pieces, read back and verified, renamed, removed, and one log file kept
 * open the whole time and appended to), counting every error instead of
 * stopping at the first: the recovery demo kills the server meanwhile and
 * expects zero errors.
 */
#include <ananke.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NDIRS 8
#define NFILES 240
#define BIG (48u << 20)

static void fill(uint8_t *b, size_t n, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(((off + i) * 2654435761u + seed) >> 13);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "demo-client: " __VA_ARGS__);                                      \
		fprintf(stderr, ": %s\n", strerror(errno));                                        \
		exit(1);                                                                           \
	} while (0)

static uint64_t verify(const char *path, uint64_t size, uint32_t seed, uint8_t *buf, uint8_t *want)
{
	int fd = ank_open(path, O_RDONLY);
	if (fd < 0)
		DIE("open %s", path);
	uint64_t off = 0;
	while (off < size) {
		size_t n = size - off > (4u << 20) ? (4u << 20) : (size_t)(size - off);
		if (ank_read(fd, buf, n) != (ssize_t)n)
			DIE("read %s", path);
		fill(want, n, seed, off);
		if (memcmp(buf, want, n)) {
			errno = EILSEQ;
			DIE("%s differs near byte %llu", path, (unsigned long long)off);
		}
		off += n;
	}
	char extra;
	if (ank_read(fd, &extra, 1) != 0) {
		errno = EILSEQ;
		DIE("%s is longer than written", path);
	}
	ank_close(fd);
	return size;
}

static unsigned long g_errors;

static void soft_error(const char *what, const char *path)
{
	g_errors++;
	fprintf(stderr, "demo-client: %s %s: %s\n", what, path, strerror(errno));
}

/* The loop workload: returns the number of operations done. */
static uint64_t loop_workload(double seconds, uint64_t *verified)
{
	static uint8_t wbuf[65536], rbuf[65536];
	char path[64], moved[64];
	uint64_t ops = 0, logged = 0;
	if (ank_mkdir("/loop", 0755) < 0 && errno != EEXIST)
		soft_error("mkdir", "/loop");
	int log = ank_open("/loop/journal.log", O_CREAT | O_RDWR | O_TRUNC | O_APPEND, 0644);
	if (log < 0)
		soft_error("open", "/loop/journal.log");
	double end = now() + seconds;
	for (uint32_t i = 0; now() < end; i++) {
		snprintf(path, sizeof(path), "/loop/f%u", i % 50);
		snprintf(moved, sizeof(moved), "/loop/g%u", i % 50);
		size_t size = 4096 + (i * 7919u) % 60000u;
		fill(wbuf, size, i, 0);
		int fd = ank_open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
		ops++;
		if (fd < 0) {
			soft_error("open", path);
			continue;
		}
		for (size_t off = 0; off < size; off += 4096, ops++) {
			size_t n = size - off < 4096 ? size - off : 4096;
			if (ank_write(fd, wbuf + off, n) != (ssize_t)n)
				soft_error("write", path);
		}
		if (i % 7 == 0 && ank_fsync(fd) < 0)
			soft_error("fsync", path);
		if (ank_lseek(fd, 0, SEEK_SET) != 0)
			soft_error("lseek", path);
		if (ank_read(fd, rbuf, size) != (ssize_t)size || memcmp(rbuf, wbuf, size)) {
			errno = EILSEQ;
			soft_error("read back", path);
		} else {
			*verified += size;
		}
		if (ank_close(fd) < 0)
			soft_error("close", path);
		if (ank_rename(path, moved) < 0)
			soft_error("rename", path);
		struct stat st;
		if (ank_stat(moved, &st) < 0 || (size_t)st.st_size != size) {
			errno = EILSEQ;
			soft_error("stat", moved);
		}
		if (i % 3 == 0 && ank_unlink(moved) < 0)
			soft_error("unlink", moved);
		ops += 6;
		if (log >= 0) {
			char rec[64];
			int len = snprintf(rec, sizeof(rec), "record %u\n", i);
			if (ank_write(log, rec, (size_t)len) != len)
				soft_error("append", "/loop/journal.log");
			logged += (uint64_t)len;
			ops++;
		}
	}
	if (log >= 0) {
		/* The log fd survived every crash: its size and first record. */
		struct stat st;
		char first[16];
		if (ank_fstat(log, &st) < 0 || (uint64_t)st.st_size != logged ||
		    ank_pread(log, first, 9, 0) != 9 || memcmp(first, "record 0\n", 9)) {
			errno = EILSEQ;
			soft_error("verify", "/loop/journal.log");
		} else {
			*verified += logged;
		}
		ank_close(log);
	}
	return ops;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--loop")) {
		double secs = atof(argv[2]);
		if (ank_mount(argc > 3 ? argv[3] : NULL) < 0)
			DIE("cannot reach the service");
		uint64_t verified = 0;
		double t0 = now();
		uint64_t ops = loop_workload(secs, &verified);
		printf("demo client: %llu operations in %.1f s, %.1f MiB read back and verified, "
		       "%lu errors seen by the application\n",
		       (unsigned long long)ops, now() - t0, verified / 1048576.0, g_errors);
		ank_unmount();
		return g_errors ? 1 : 0;
	}
	const char *sock = argc > 1 ? argv[1] : NULL;
	uint8_t *buf = malloc(BIG), *want = malloc(4u << 20);
	char path[128], to[128];
	struct { uint32_t size, seed; int dir; int alive; char path[128]; } f[NFILES];
	uint64_t ops = 0, written = 0, checked = 0;
	if (!buf || !want)
		return 1;
	if (ank_mount(sock) < 0)
		DIE("cannot reach the service at %s", sock ? sock : "$ANANKE_SOCKET or ./ananke.sock");
	double t0 = now();
	if (ank_mkdir("/demo", 0755) < 0 && errno != EEXIST)
		DIE("mkdir /demo");
	for (int d = 0; d < NDIRS; d++, ops++) {
		snprintf(path, sizeof(path), "/demo/dir-%d", d);
		if (ank_mkdir(path, 0755) < 0)
			DIE("mkdir %s", path);
	}
	for (int i = 0; i < NFILES; i++) {
		f[i].size = (uint32_t)((i * 104729u) % 300000u);
		f[i].seed = 7919u * (uint32_t)i;
		f[i].alive = 1;
		snprintf(f[i].path, sizeof(f[i].path), "/demo/dir-%d/file-%03d", i % NDIRS, i);
		int fd = ank_open(f[i].path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			DIE("create %s", f[i].path);
		fill(buf, f[i].size, f[i].seed, 0);
		if (ank_write(fd, buf, f[i].size) != (ssize_t)f[i].size)
			DIE("write %s", f[i].path);
		if (i % 5 == 0 && ank_fsync(fd) < 0)
			DIE("fsync %s", f[i].path);
		ank_close(fd);
		ops += 4;
		written += f[i].size;
	}
	fill(buf, BIG, 99, 0);
	int fd = ank_open("/demo/big.bin", O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ank_write(fd, buf, BIG) != (ssize_t)BIG || ank_fsync(fd) < 0)
		DIE("big file");
	ank_close(fd);
	ops += 4;
	written += BIG;
	for (int i = 0; i < NFILES; i += 6, ops++) {
		snprintf(to, sizeof(to), "/demo/dir-%d/renamed-%03d", (i + 3) % NDIRS, i);
		if (ank_rename(f[i].path, to) < 0)
			DIE("rename %s", f[i].path);
		strcpy(f[i].path, to);
	}
	for (int i = 1; i < NFILES; i += 9, ops++) {
		if (ank_unlink(f[i].path) < 0)
			DIE("unlink %s", f[i].path);
		f[i].alive = 0;
	}
	if (ank_sync() < 0)
		DIE("sync");
	for (int i = 0; i < NFILES; i++) {
		struct stat st;
		if (!f[i].alive) {
			if (ank_stat(f[i].path, &st) == 0 || errno != ENOENT) {
				errno = EEXIST;
				DIE("deleted %s is still there", f[i].path);
			}
			continue;
		}
		checked += verify(f[i].path, f[i].size, f[i].seed, buf, want);
		ops += 3;
	}
	checked += verify("/demo/big.bin", BIG, 99, buf, want);
	size_t listed = 0;
	for (int d = 0; d < NDIRS; d++) {
		snprintf(path, sizeof(path), "/demo/dir-%d", d);
		ANK_DIR *dir = ank_opendir(path);
		if (!dir)
			DIE("opendir %s", path);
		while (ank_readdir(dir))
			listed++;
		ank_closedir(dir);
	}
	double dt = now() - t0;
	printf("demo client: %llu operations, %.1f MiB written, %.1f MiB read back and verified, "
	       "%zu directory entries listed, %.2f s, 0 errors\n",
	       (unsigned long long)ops, written / 1048576.0, checked / 1048576.0, listed, dt);
	ank_unmount();
	free(buf);
	free(want);
	return 0;
}
