/*
 * bench_util.c - helpers shared by the benchmark programs (bench_util.h).
 */
#include "bench_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *bench_errno_name(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

int bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	case 'T': mul = 1ull << 40; end++; break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v == 0 || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int bench_parse_uint(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 100000000ul)
		return -1;
	*out = (unsigned)v;
	return 0;
}

void bench_fmt_size(uint64_t b, char *out, size_t n)
{
	if (b >= (1ull << 30) && b % (1ull << 30) == 0)
		snprintf(out, n, "%" PRIu64 " GiB", b >> 30);
	else if (b >= (1ull << 20) && b % (1ull << 20) == 0)
		snprintf(out, n, "%" PRIu64 " MiB", b >> 20);
	else if (b >= (1ull << 10) && b % (1ull << 10) == 0)
		snprintf(out, n, "%" PRIu64 " KiB", b >> 10);
	else
		snprintf(out, n, "%" PRIu64 " B", b);
}

void bench_fmt_us(double us, char *out, size_t n)
{
	if (us < 10)
		snprintf(out, n, "%.2f", us);
	else if (us < 1000)
		snprintf(out, n, "%.1f", us);
	else
		snprintf(out, n, "%.0f", us);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(p * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

double bench_median(double *v, unsigned n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t bench_spawn(const char *prog, char *const argv[], bool quiet, const char *log)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (log) {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log,
						 O_WRONLY | O_CREAT | O_APPEND, 0644);
		posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	} else if (quiet) {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	}
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

int bench_run_cmd(const char *prog, char *const argv[], bool quiet, const char *log)
{
	pid_t pid = bench_spawn(prog, argv, quiet, log);
	if (pid < 0)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int bench_make_sparse_file(const char *path, uint64_t size)
{
	unlink(path);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void bench_put_str(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int bench_umount(const char *path, bool lazy)
{
	if (!lazy) {
		for (int i = 0; i < 20; i++) {
			if (umount2(path, 0) == 0)
				return 0;
			if (errno != EBUSY)
				break;
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (umount2(path, MNT_DETACH) == 0 || errno == EINVAL || errno == ENOENT)
		return 0;
	return -errno;
}

bool bench_private_mount_ns(void)
{
	return geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	       mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

void bench_mount_options(const char *mnt, char *out, size_t n)
{
	if (n)
		out[0] = '\0';
	FILE *f = fopen("/proc/self/mounts", "r");
	if (!f)
		return;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		char dev[4096], m[4096], type[64], opts[512];
		if (sscanf(line, "%4095s %4095s %63s %511s", dev, m, type, opts) == 4 &&
		    strcmp(m, mnt) == 0)
			snprintf(out, n, "%.300s (%.20s on %.150s)", opts, type, dev);
	}
	fclose(f);
}

const char *bench_host_fs(const char *path)
{
	struct statfs sfs;
	if (statfs(path, &sfs) < 0)
		return "?";
	switch ((unsigned long)sfs.f_type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	default: return "other";
	}
}
