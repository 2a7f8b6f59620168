/*
 * bench_util.c - helpers shared by the benchmark programs (bench_util.h).
 */
#include "bench_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/ipc/control.h"
#include "../src/supervisor/supervisor.h"

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

void bench_put_fatal(const char *prog, int sig, const char *activity, const char *cleanup)
{
	bench_put_str("\n");
	bench_put_str(prog);
	bench_put_str(sig == SIGINT || sig == SIGTERM || sig == SIGHUP ? ": interrupted by signal "
								  : ": FATAL signal ");
	bench_put_str(sig == SIGSEGV   ? "SIGSEGV"
		      : sig == SIGBUS  ? "SIGBUS"
		      : sig == SIGABRT ? "SIGABRT"
		      : sig == SIGFPE  ? "SIGFPE"
		      : sig == SIGILL  ? "SIGILL"
		      : sig == SIGINT  ? "SIGINT"
		      : sig == SIGTERM ? "SIGTERM"
		      : sig == SIGHUP  ? "SIGHUP"
		      : sig == SIGQUIT ? "SIGQUIT"
				       : "(other)");
	bench_put_str(" during: ");
	bench_put_str(activity);
	bench_put_str("\n");
	bench_put_str(prog);
	bench_put_str(": cleaning up (");
	bench_put_str(cleanup);
	bench_put_str(")\n");
}

bool bench_split_opt(const char **a, const char **v, char *buf, size_t len)
{
	const char *eq = strchr(*a, '=');
	if (!eq || strncmp(*a, "--", 2) || (size_t)(eq - *a) >= len)
		return false;
	memcpy(buf, *a, (size_t)(eq - *a));
	buf[eq - *a] = '\0';
	*a = buf;
	*v = eq + 1;
	return true;
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

/* ---- the Ananke service ------------------------------------------------------ */

const char *bench_default_ananke(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	if (n <= 0)
		return "ananke";
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash)
		return "ananke";
	strcpy(slash + 1, "ananke");
	return path;
}

int bench_svc_mkfs(struct bench_svc *s, uint64_t size)
{
	int rc = bench_make_sparse_file(s->image, size);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", s->prog, s->image, strerror(-rc));
		return -1;
	}
	char sz[32];
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	char *argv[] = {(char *)s->ananke, "mkfs", s->image, "--size", sz, NULL};
	if (bench_run_cmd(s->prog, argv, true, s->log) != 0) {
		fprintf(stderr, "%s: `%s mkfs %s --size %s` failed\n", s->prog, s->ananke, s->image,
			sz);
		bench_svc_show_log(s, 12);
		return -1;
	}
	return 0;
}

int bench_svc_spawn(struct bench_svc *s, char *const args[])
{
	char *argv[32] = {(char *)s->ananke, "serve", s->image, "--socket", s->socket,
			  "--foreground"};
	size_t n = 6;
	for (size_t i = 0; args && args[i]; i++) {
		if (n + 1 >= sizeof(argv) / sizeof(argv[0])) {
			fprintf(stderr, "%s: too many serve options\n", s->prog);
			return -1;
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	pid_t pid = bench_spawn(s->prog, argv, false, s->log);
	if (pid < 0)
		return -1;
	s->pid = pid;
	return 0;
}

bool bench_svc_reap(struct bench_svc *s, int *status)
{
	pid_t pid = (pid_t)s->pid;
	if (pid <= 0)
		return true;
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid || (r < 0 && errno == ECHILD)) {
		s->pid = 0;
		if (r == pid && status)
			*status = st;
		return true;
	}
	return false;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait up to timeout_ms for the child to be reaped. */
static bool wait_reaped(struct bench_svc *s, unsigned timeout_ms, int *status)
{
	for (unsigned t = 0;; t += 10) {
		if (bench_svc_reap(s, status))
			return true;
		if (t >= timeout_ms)
			return false;
		sleep_ms(10);
	}
}

int bench_svc_wait_running(struct bench_svc *s, unsigned timeout_ms)
{
	static char buf[65536];
	uint64_t t0 = bench_now_ns();
	for (;;) {
		char state[32];
		int st = 0;
		if (bench_svc_reap(s, &st)) {
			fprintf(stderr, "%s: `ananke serve` exited before it was running (status %d)\n",
				s->prog, st);
			bench_svc_show_log(s, 12);
			return -1;
		}
		int n = bench_svc_status(s, buf, sizeof(buf));
		if (n > 0 && bench_json_str(buf, "state", state, sizeof(state)) &&
		    !strcmp(state, "running"))
			return 0;
		if (bench_now_ns() - t0 > (uint64_t)timeout_ms * 1000000ull) {
			fprintf(stderr, "%s: the service on %s is not running after %u ms (%s)\n",
				s->prog, s->socket, timeout_ms,
				n < 0 ? strerror(-n) : "state is not \"running\"");
			bench_svc_show_log(s, 12);
			return -1;
		}
		sleep_ms(5);
	}
}

int bench_svc_stop(struct bench_svc *s)
{
	if (s->pid <= 0)
		return 0;
	int rc = 0, st = 0;
	char *argv[] = {(char *)s->ananke, "stop", "--socket", s->socket, NULL};
	if (bench_run_cmd(s->prog, argv, true, s->log) != 0) {
		fprintf(stderr, "%s: `ananke stop --socket %s` failed\n", s->prog, s->socket);
		rc = -1;
	}
	if (!wait_reaped(s, 90000, &st)) {
		fprintf(stderr, "%s: the service did not exit after `ananke stop`: SIGTERM\n",
			s->prog);
		kill((pid_t)s->pid, SIGTERM);
		if (!wait_reaped(s, 10000, &st)) {
			kill((pid_t)s->pid, SIGKILL);
			wait_reaped(s, 10000, &st);
		}
		rc = -1;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: `ananke serve` ended with status %d\n", s->prog, st);
		rc = -1;
	}
	if (rc < 0)
		bench_svc_show_log(s, 12);
	return rc;
}

void bench_svc_kill(struct bench_svc *s)
{
	pid_t pid = (pid_t)s->pid;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			s->pid = 0;
			return;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
}

void bench_svc_show_log(const struct bench_svc *s, unsigned n)
{
	FILE *f = fopen(s->log, "r");
	if (!f)
		return;
	static char lines[32][512];
	if (n > 32)
		n = 32;
	unsigned total = 0;
	while (fgets(lines[total % 32], sizeof(lines[0]), f))
		total++;
	fclose(f);
	fprintf(stderr, "%s: last lines of the service log (%s):\n", s->prog, s->log);
	for (unsigned i = total > n ? total - n : 0; i < total; i++)
		fprintf(stderr, "  | %s", lines[i % 32]);
}

int bench_svc_status(const struct bench_svc *s, char *buf, size_t len)
{
	if (len < 2)
		return -EINVAL;
	buf[0] = '\0';
	int fd = sup_connect(s->socket, ANK_HELLO_STATUS, 1);
	if (fd < 0)
		return fd;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int n;
	do
		n = poll(&pfd, 1, 10000);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		close(fd);
		return n == 0 ? -ETIMEDOUT : -errno;
	}
	ssize_t got = recv(fd, buf, len - 1, MSG_DONTWAIT);
	int e = errno;
	close(fd);
	if (got <= 0)
		return got < 0 ? -e : -ECONNRESET;
	buf[got] = '\0';
	return (int)got;
}

/* ---- reading JSON replies ------------------------------------------------------ */

/* The value after "key": (spaces skipped), or NULL. */
static const char *json_value(const char *json, const char *key)
{
	char pat[128];
	int pl = snprintf(pat, sizeof(pat), "\"%s\"", key);
	if (pl < 0 || (size_t)pl >= sizeof(pat))
		return NULL;
	for (const char *p = strstr(json, pat); p; p = strstr(p + 1, pat)) {
		const char *q = p + pl;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q != ':')
			continue;
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		return q;
	}
	return NULL;
}

bool bench_json_int(const char *json, const char *key, int64_t *out)
{
	const char *v = json_value(json, key);
	if (!v)
		return false;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v)
		return false;
	*out = x;
	return true;
}

bool bench_json_bool(const char *json, const char *key, bool *out)
{
	const char *v = json_value(json, key);
	if (v && !strncmp(v, "true", 4))
		*out = true;
	else if (v && !strncmp(v, "false", 5))
		*out = false;
	else
		return false;
	return true;
}

bool bench_json_str(const char *json, const char *key, char *out, size_t n)
{
	const char *v = json_value(json, key);
	if (!v || *v != '"' || n == 0)
		return false;
	size_t k = 0;
	for (v++; *v && *v != '"'; v++) {
		if (*v == '\\' && v[1])
			v++;
		if (k + 1 < n)
			out[k++] = *v;
	}
	out[k] = '\0';
	return *v == '"';
}

bool bench_json_next(const char *json, const char *key, const char **pos, char *out, size_t n)
{
	const char *p = *pos;
	if (!p) {
		p = json_value(json, key);
		if (!p || *p != '[')
			return false;
		p++;
	}
	while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	if (*p != '{')
		return false;
	/* the matching brace, skipping strings */
	int depth = 0;
	bool in_str = false;
	const char *q = p;
	for (; *q; q++) {
		if (in_str) {
			if (*q == '\\' && q[1])
				q++;
			else if (*q == '"')
				in_str = false;
		} else if (*q == '"') {
			in_str = true;
		} else if (*q == '{') {
			depth++;
		} else if (*q == '}' && --depth == 0) {
			break;
		}
	}
	if (!*q || (size_t)(q - p + 1) >= n)
		return false;
	memcpy(out, p, (size_t)(q - p + 1));
	out[q - p + 1] = '\0';
	*pos = q + 1;
	return true;
}
