/*
 * bench_stall.c - the stall a program sees when the server is killed: a
 * 4 KiB pwrite + pread loop on a file in DIR (the service's FUSE mount, or
 * anything else) runs while the server is SIGKILLed --kills times, a random
 * 100 to 300 ms apart (each time once the previous kill's replacement is
 * serving). A kill's stall is the longest call that was running at, or
 * started after, that kill and before the next one. Prints p50, p99 and max
 * of the stalls and of all calls, and fails if any call failed or any byte
 * read back differs.
 *
 * Usage: bench_stall --kills N --socket SOCK [--ananke PATH] DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_CALLS (1u << 24)

struct call {
	uint64_t start, end;
};

static struct call *g_calls;
static volatile unsigned g_ncalls;
static volatile int g_stop;
static unsigned g_errors;

static long server_pid(const char *ananke, const char *sock)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "'%s' status --socket '%s' 2>/dev/null", ananke, sock);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	char line[512];
	long pid = -1;
	while (fgets(line, sizeof(line), p))
		if (!strncmp(line, "server_pid:", 11))
			pid = strtol(line + 11, NULL, 10);
	pclose(p);
	return pid;
}

static void *io_loop(void *arg)
{
	const char *path = arg;
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		perror("bench_stall: open");
		g_errors++;
		g_stop = 1;
		return NULL;
	}
	char w[4096], r[4096];
	for (uint64_t i = 0; !g_stop && g_ncalls < MAX_CALLS; i++) {
		memset(w, (int)('a' + i % 26), sizeof(w));
		off_t off = (off_t)((i % 256) * sizeof(w));
		uint64_t t0 = bench_now_ns();
		ssize_t a = pwrite(fd, w, sizeof(w), off);
		uint64_t t1 = bench_now_ns();
		ssize_t b = pread(fd, r, sizeof(r), off);
		uint64_t t2 = bench_now_ns();
		if (a != (ssize_t)sizeof(w) || b != (ssize_t)sizeof(r) || memcmp(w, r, sizeof(w))) {
			if (g_errors++ < 5)
				fprintf(stderr, "bench_stall: call %llu failed or read back wrong: %s\n",
					(unsigned long long)i, strerror(errno));
		}
		unsigned n = g_ncalls;
		g_calls[n] = (struct call){t0, t1};
		g_calls[n + 1] = (struct call){t1, t2};
		__atomic_store_n(&g_ncalls, n + 2, __ATOMIC_RELEASE);
	}
	close(fd);
	unlink(path);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[k] / 1e6;
}

int main(int argc, char **argv)
{
	unsigned kills = 100;
	const char *sock = NULL, *ananke = "build/bin/ananke", *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kills") && i + 1 < argc)
			kills = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--ananke") && i + 1 < argc)
			ananke = argv[++i];
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else
			dir = NULL, i = argc;
	}
	if (!sock || !dir || kills < 1 || kills > 100000) {
		fprintf(stderr, "usage: bench_stall --kills N --socket SOCK [--ananke PATH] DIR\n");
		return 2;
	}
	g_calls = calloc(MAX_CALLS + 2, sizeof(*g_calls));
	uint64_t *kill_at = calloc(kills + 1, sizeof(*kill_at));
	if (!g_calls || !kill_at)
		return 1;
	char path[4096];
	snprintf(path, sizeof(path), "%s/bench_stall.%d", dir, (int)getpid());
	pthread_t t;
	pthread_create(&t, NULL, io_loop, path);
	srand((unsigned)time(NULL));
	unsigned done = 0;
	long last = -1;
	usleep(200000);
	while (done < kills && !g_stop) {
		usleep((useconds_t)(100000 + rand() % 200000));
		long pid = -1;
		for (int k = 0; k < 200; k++) { /* the replacement serving (at most 10 s) */
			pid = server_pid(ananke, sock);
			if (pid > 1 && pid != last)
				break;
			usleep(50000);
		}
		if (pid <= 1 || pid == last) {
			fprintf(stderr, "bench_stall: no new server after a kill\n");
			g_errors++;
			break;
		}
		kill_at[done++] = bench_now_ns();
		kill((pid_t)pid, SIGKILL);
		last = pid;
	}
	usleep(500000);
	g_stop = 1;
	pthread_join(t, NULL);
	unsigned n = __atomic_load_n(&g_ncalls, __ATOMIC_ACQUIRE);
	kill_at[done] = UINT64_MAX;
	uint64_t *stall = calloc(done + 1, sizeof(*stall));
	uint64_t *lat = calloc(n + 1, sizeof(*lat));
	if (!stall || !lat)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		lat[i] = g_calls[i].end - g_calls[i].start;
		/* the kill window this call belongs to: running at the kill, or
		 * started after it and before the next */
		for (unsigned k = 0; k < done; k++) {
			if (g_calls[i].end >= kill_at[k] && g_calls[i].start < kill_at[k + 1]) {
				if (lat[i] > stall[k])
					stall[k] = lat[i];
				break;
			}
		}
	}
	qsort(stall, done, sizeof(*stall), cmp_u64);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("bench_stall: %u kills, %u calls (4 KiB pwrite or pread), %u errors\n", done, n,
	       g_errors);
	printf("  stall per kill: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(stall, done, 0.5),
	       pct(stall, done, 0.99), done ? (double)stall[done - 1] / 1e6 : 0.0);
	printf("  every call:     p50 %.3f ms, p99 %.3f ms\n", pct(lat, n, 0.5), pct(lat, n, 0.99));
	return g_errors ? 1 : 0;
}
