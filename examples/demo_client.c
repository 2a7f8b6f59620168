/*
 * demo_client.c - the client side of `make demo`: through libananke, build a
 * tree of directories and files of many sizes (some fsync'd, one large),
 * rename and delete some, read everything back and verify every byte, then
 * print what it did. Exits non-zero on the first error or mismatch.
 *
 * usage: ananke-demo-client [SOCKET]
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

int main(int argc, char **argv)
{
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
