/*
 * common.c - the few helpers declared in common.h: corruption reports,
 * aligned allocation and clocks.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int ank_corrupt_quiet;
unsigned long ank_corrupt_count;

int ank_corrupt_report(const char *file, int line, const char *what)
{
	__atomic_add_fetch(&ank_corrupt_count, 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&ank_corrupt_quiet, __ATOMIC_RELAXED))
		fprintf(stderr, "ananke: corruption: %s (%s:%d)\n", what, file, line);
	return -EUCLEAN;
}

void *ank_aligned_alloc(size_t n)
{
	void *p = NULL;
	if (n == 0)
		n = ANK_BLOCK_SIZE;
	if (posix_memalign(&p, ANK_BLOCK_SIZE, ANK_ALIGN_UP(n, (size_t)ANK_BLOCK_SIZE)))
		return NULL;
	return p;
}

void ank_now(int64_t *sec, uint32_t *nsec)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

uint64_t ank_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
