/*
 * bench_seqread.c - sequential reads of a file larger than the service's
 * page cache, through libananke: what readahead and merged device reads
 * give when every block comes from the device.
 *
 * usage: bench_seqread --socket PATH [--size SIZE] [--reps N]
 *
 * The service on PATH should run with a page cache much smaller than SIZE
 * (scripts/bench-seqread.sh starts one with --cache-size 8M). The program
 * writes SIZE bytes to /bench-seqread, fsyncs, then reads the file from
 * the start N times with 4 KiB reads and N times with 1 MiB reads,
 * interleaved, and prints the median MiB/s of each.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/ananke.h"
#include "bench_util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* MiB/s of one pass over the file in `chunk`-byte reads, or -1. */
static double pass(int fd, uint8_t *buf, size_t chunk, uint64_t size)
{
	if (ank_lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	uint64_t t0 = bench_now_ns(), total = 0;
	ssize_t n;
	while ((n = ank_read(fd, buf, chunk)) > 0)
		total += (uint64_t)n;
	if (n < 0 || total != size)
		return -1;
	return (double)total / (1 << 20) / ((double)(bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	uint64_t size = 64ull << 20;
	unsigned reps = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && !bench_parse_size(argv[i + 1], &size))
			i++;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc &&
			 !bench_parse_uint(argv[i + 1], &reps) && reps >= 1 && reps <= 99)
			i++;
		else {
			fprintf(stderr, "usage: bench_seqread --socket PATH [--size SIZE] [--reps N]\n");
			return 2;
		}
	}
	if (!sock || size < (1 << 20)) {
		fprintf(stderr, "bench_seqread: --socket is needed, --size at least 1M\n");
		return 2;
	}
	if (ank_mount(sock) < 0) {
		fprintf(stderr, "bench_seqread: cannot reach the service at %s: %s\n", sock,
			strerror(errno));
		return 1;
	}
	uint8_t *buf = malloc(1 << 20);
	int fd = ank_open("/bench-seqread", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (!buf || fd < 0) {
		fprintf(stderr, "bench_seqread: setup failed: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < (1 << 20); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (uint64_t off = 0; off < size; off += 1 << 20)
		if (ank_pwrite(fd, buf, (size_t)(size - off < (1 << 20) ? size - off : (1 << 20)), (off_t)off) < 0) {
			fprintf(stderr, "bench_seqread: write: %s\n", strerror(errno));
			return 1;
		}
	if (ank_fsync(fd) < 0) {
		fprintf(stderr, "bench_seqread: fsync: %s\n", strerror(errno));
		return 1;
	}
	double r4k[99], r1m[99];
	for (unsigned r = 0; r < reps; r++) {
		r4k[r] = pass(fd, buf, 4096, size);
		r1m[r] = pass(fd, buf, 1 << 20, size);
		if (r4k[r] < 0 || r1m[r] < 0) {
			fprintf(stderr, "bench_seqread: a pass failed: %s\n", strerror(errno));
			return 1;
		}
	}
	qsort(r4k, reps, sizeof(double), cmp_double);
	qsort(r1m, reps, sizeof(double), cmp_double);
	printf("sequential read of a %llu MiB file, median of %u passes each, interleaved:\n",
	       (unsigned long long)(size >> 20), reps);
	printf("  4 KiB reads: %8.0f MiB/s\n", r4k[reps / 2]);
	printf("  1 MiB reads: %8.0f MiB/s\n", r1m[reps / 2]);
	ank_close(fd);
	ank_unlink("/bench-seqread");
	ank_unmount();
	free(buf);
	return 0;
}
