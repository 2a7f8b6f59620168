/*
 * service_util.c - shared test library behind service_util.h: run the
 * `ananke` binary, keep track of every process a test starts, start / query
 * / stop / check a service, and a raw ring client that speaks the protocol of
 * src/ipc/ring.h and src/ipc/control.h without libananke.
 *
 * Not here: any assertion or workload (those are in the test_*.c files).
 */
#include "../src/util/crc32c.h"
#include "service_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/ipc/barrier.h"

/* ---- time and scale ----------------------------------------------------------------- */

uint64_t svc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void svc_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

unsigned svc_slow(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 3;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 3;
#else
	return 1;
#endif
#else
	return 1;
#endif
}

unsigned long svc_env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	return errno || *end ? def : v;
}

/* ---- the binary --------------------------------------------------------------------- */

static char g_bin[PATH_MAX];
static pthread_once_t g_bin_once = PTHREAD_ONCE_INIT;

static void find_bin(void)
{
	const char *env = getenv("ANANKE_BIN");
	if (env && *env) {
		snprintf(g_bin, sizeof(g_bin), "%s", env);
		return;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	bool san = false;
	if (n > 0) {
		exe[n] = 0;
		san = strstr(exe, "build-san") != NULL;
		/* <build>/tests/test_x -> <build>/bin/ananke */
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			slash = strrchr(exe, '/');
		}
		if (slash) {
			*slash = 0;
			size_t len = strlen(exe);
			if (len + sizeof("/bin/ananke") <= sizeof(g_bin)) {
				memcpy(g_bin, exe, len);
				memcpy(g_bin + len, "/bin/ananke", sizeof("/bin/ananke"));
				if (access(g_bin, X_OK) == 0)
					return;
			}
		}
	}
	snprintf(g_bin, sizeof(g_bin), "%s", san ? "build-san/bin/ananke" : "build/bin/ananke");
}

const char *svc_bin(void)
{
	pthread_once(&g_bin_once, find_bin);
	return g_bin;
}

/* ---- processes ---------------------------------------------------------------------- */

#define MAX_TRACKED 512

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t g_reg[MAX_TRACKED];
static unsigned g_nreg;

void svc_track(pid_t pid)
{
	pthread_mutex_lock(&g_reg_lock);
	if (g_nreg < MAX_TRACKED)
		g_reg[g_nreg++] = pid;
	else
		fprintf(stderr, "service_util: more than %d processes tracked\n", MAX_TRACKED);
	pthread_mutex_unlock(&g_reg_lock);
}

void svc_untrack(pid_t pid)
{
	pthread_mutex_lock(&g_reg_lock);
	for (unsigned i = 0; i < g_nreg; i++) {
		if (g_reg[i] == pid) {
			g_reg[i] = g_reg[--g_nreg];
			break;
		}
	}
	pthread_mutex_unlock(&g_reg_lock);
}

static void become_subreaper(void)
{
	static bool done;
	if (!done) {
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		done = true;
	}
}

/* In a new child: die with the parent, forget the parent's registry. */
static void child_setup(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	g_nreg = 0;
	/* the registry lock may have been held by another thread at fork */
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	memcpy(&g_reg_lock, &fresh, sizeof(fresh));
}

pid_t svc_fork(void)
{
	become_subreaper();
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child_setup(parent);
	else if (pid > 0)
		svc_track(pid);
	return pid;
}

int svc_wait(pid_t pid, unsigned timeout_ms, int *status)
{
	uint64_t deadline = svc_now_ms() + timeout_ms;
	unsigned nap = 1;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			svc_untrack(pid);
			return -errno;
		}
		if (svc_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			svc_untrack(pid);
			return -ETIMEDOUT;
		}
		svc_sleep_ms(nap);
		if (nap < 20)
			nap *= 2;
	}
	svc_untrack(pid);
	if (status)
		*status = st;
	return 0;
}

bool svc_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

int svc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int svc_kill_all(void)
{
	pid_t pids[MAX_TRACKED];
	pthread_mutex_lock(&g_reg_lock);
	unsigned n = g_nreg;
	memcpy(pids, g_reg, n * sizeof(pids[0]));
	pthread_mutex_unlock(&g_reg_lock);
	int alive = 0;
	for (unsigned i = 0; i < n; i++)
		if (kill(pids[i], SIGKILL) == 0)
			alive++;
	for (unsigned i = 0; i < n; i++)
		svc_wait(pids[i], 5000, NULL);
	/* Orphans adopted as subreaper (a server whose supervisor was killed
	 * dies of PDEATHSIG): reap them, for a bounded time. */
	uint64_t deadline = svc_now_ms() + 5000;
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, WNOHANG);
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || svc_now_ms() >= deadline)
			break; /* ECHILD: nothing left */
		svc_sleep_ms(5);
	}
	return alive;
}

#define MAX_ARGS 32

static int run_argv(char *const argv[], char *out, size_t outlen, unsigned timeout_ms, bool quiet)
{
	int p[2];
	if (out && outlen)
		out[0] = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = svc_fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0)
				dup2(null, 2);
		}
		execv(argv[0], argv);
		fprintf(stderr, "service_util: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	uint64_t deadline = svc_now_ms() + timeout_ms;
	size_t got = 0;
	bool timed_out = false;
	for (;;) {
		uint64_t now = svc_now_ms();
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		int rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			timed_out = rc == 0;
			break;
		}
		char tmp[4096];
		ssize_t n = read(p[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && outlen > 1 && got < outlen - 1) {
			size_t k = (size_t)n < outlen - 1 - got ? (size_t)n : outlen - 1 - got;
			memcpy(out + got, tmp, k);
			got += k;
			out[got] = 0;
		}
	}
	close(p[0]);
	uint64_t now = svc_now_ms();
	unsigned left = timed_out || now >= deadline ? 0 : (unsigned)(deadline - now);
	int st;
	int rc = svc_wait(pid, left, &st);
	if (rc < 0 || timed_out) {
		fprintf(stderr, "service_util: `%s %s` did not finish within %u ms; killed\n", argv[0],
		        argv[1] ? argv[1] : "", timeout_ms);
		return -1;
	}
	return svc_exit_code(st);
}

static int vcmd(char *out, size_t outlen, unsigned timeout_ms, bool quiet, const char *arg,
                va_list ap)
{
	char *argv[MAX_ARGS + 2];
	int n = 0;
	argv[n++] = (char *)svc_bin();
	for (const char *a = arg; a && n < MAX_ARGS; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	argv[n] = NULL;
	return run_argv(argv, out, outlen, timeout_ms, quiet);
}

int svc_cmd(char *out, size_t outlen, unsigned timeout_ms, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = vcmd(out, outlen, timeout_ms, false, arg, ap);
	va_end(ap);
	return rc;
}

int svc_cmd_quiet(char *out, size_t outlen, unsigned timeout_ms, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = vcmd(out, outlen, timeout_ms, true, arg, ap);
	va_end(ap);
	return rc;
}

/* ---- a service ---------------------------------------------------------------------- */

static const char *tmp_root(void)
{
	const char *d = getenv("ANK_TEST_TMPDIR");
	return d && *d ? d : "/tmp";
}

static long long json_num(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	char *end;
	long long v = strtoll(p, &end, 10);
	return end == p ? -1 : v;
}

static void json_str(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	out[0] = 0;
	const char *p = strstr(json, pat);
	if (!p)
		return;
	p += strlen(pat);
	size_t i = 0;
	while (p[i] && p[i] != '"' && i + 1 < len) {
		out[i] = p[i];
		i++;
	}
	out[i] = 0;
}

int svc_status(const struct svc *s, struct svc_status *st)
{
	memset(st, 0, sizeof(*st));
	int rc = svc_cmd_quiet(st->json, sizeof(st->json), 10000 * svc_slow(), "status",
	                       "--socket", s->sock, "--json", (char *)NULL);
	if (rc != 0)
		return -1;
	st->supervisor_pid = json_num(st->json, "supervisor_pid");
	st->server_pid = json_num(st->json, "server_pid");
	st->epoch = json_num(st->json, "epoch");
	st->clients = json_num(st->json, "clients");
	st->rings = json_num(st->json, "rings");
	st->restarts = json_num(st->json, "restarts");
	st->ops = json_num(st->json, "ops");
	st->workers_running = json_num(st->json, "workers_running");
	json_str(st->json, "state", st->state, sizeof(st->state));
	return 0;
}

int svc_status_wait(const struct svc *s, struct svc_status *st, unsigned timeout_ms,
                    bool (*pred)(const struct svc_status *st, long long arg), long long arg)
{
	uint64_t deadline = svc_now_ms() + timeout_ms;
	for (;;) {
		if (svc_status(s, st) == 0 && pred(st, arg))
			return 0;
		if (svc_now_ms() >= deadline)
			return -1;
		svc_sleep_ms(20);
	}
}

static bool is_running(const struct svc_status *st, long long arg)
{
	(void)arg;
	return !strcmp(st->state, "running") && st->server_pid > 0;
}

static int launch(struct svc *s, unsigned workers)
{
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		printf("service_util: cannot open %s: %s\n", s->log, strerror(errno));
		return -1;
	}
	char w[16];
	snprintf(w, sizeof(w), "%u", workers ? workers : 2);
	/* $ANK_TEST_RECOVERY (a mode) and $ANK_TEST_SERVE_OPTS (options
	 * separated by spaces) are added to the serve command. */
	char rec[64], opts[256];
	char *argv[8 + 2 + 16] = {(char *)svc_bin(), "serve", s->image, "--socket", s->sock,
	                          "--foreground", "--workers", w};
	int argc = 8;
	const char *mode = getenv("ANK_TEST_RECOVERY");
	if (mode && *mode) {
		snprintf(rec, sizeof(rec), "--recovery=%s", mode);
		argv[argc++] = rec;
	}
	const char *extra = getenv("ANK_TEST_SERVE_OPTS");
	snprintf(opts, sizeof(opts), "%s", extra ? extra : "");
	for (char *save = NULL, *t = strtok_r(opts, " ", &save); t && argc < 8 + 2 + 15;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	pid_t pid = svc_fork();
	if (pid < 0) {
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(argv[0], argv);
		dprintf(logfd, "service_util: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	s->sup_pid = pid;
	s->started = true;
	/* Ready when status says so; give up early if the supervisor ends. */
	uint64_t deadline = svc_now_ms() + 20000 * svc_slow();
	struct svc_status st;
	for (;;) {
		int wst;
		pid_t r = waitpid(pid, &wst, WNOHANG);
		if (r == pid) {
			svc_untrack(pid);
			s->sup_pid = 0;
			s->sup_status = wst;
			printf("service_util: `ananke serve` ended during startup (exit %d)\n",
			       svc_exit_code(wst));
			svc_dump_log(s, 40);
			return -1;
		}
		if (svc_status(s, &st) == 0 && is_running(&st, 0))
			return 0;
		if (svc_now_ms() >= deadline) {
			printf("service_util: the service did not become ready\n");
			svc_dump_log(s, 40);
			return -1;
		}
		svc_sleep_ms(10);
	}
}

int svc_start(struct svc *s, const char *size, unsigned workers)
{
	memset(s, 0, sizeof(*s));
	become_subreaper();
	snprintf(s->dir, sizeof(s->dir), "%s/ank-svc-XXXXXX", tmp_root());
	if (!mkdtemp(s->dir)) {
		printf("service_util: mkdtemp %s: %s\n", s->dir, strerror(errno));
		s->dir[0] = 0;
		return -1;
	}
	snprintf(s->image, sizeof(s->image), "%s/img", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/serve.log", s->dir);
	int n = snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	if (n < 0 || (size_t)n >= sizeof(s->sock)) {
		printf("service_util: socket path too long under %s\n", s->dir);
		return -1;
	}
	char out[1024];
	int rc = svc_cmd(out, sizeof(out), 60000 * svc_slow(), "mkfs", s->image, "--size", size,
	                 (char *)NULL);
	if (rc != 0) {
		printf("service_util: `ananke mkfs %s --size %s` failed (%d): %s\n", s->image, size,
		       rc, out);
		return -1;
	}
	return launch(s, workers);
}

int svc_restart(struct svc *s, unsigned workers)
{
	if (s->sup_pid)
		return -1;
	return launch(s, workers);
}

int svc_stop(struct svc *s)
{
	char out[1024];
	int rc = svc_cmd(out, sizeof(out), 90000 * svc_slow(), "stop", "--socket", s->sock,
	                 (char *)NULL);
	if (rc != 0)
		printf("service_util: `ananke stop` exited %d: %s\n", rc, out);
	if (s->sup_pid) {
		int st = 0;
		int w = svc_wait(s->sup_pid, (rc == 0 ? 15000 : 2000) * svc_slow(), &st);
		s->sup_pid = 0;
		if (w < 0) {
			printf("service_util: the supervisor did not exit after stop; killed\n");
			return rc ? rc : 200;
		}
		s->sup_status = st;
		if (rc == 0 && svc_exit_code(st) != 0) {
			printf("service_util: the supervisor exited %d after a clean stop\n",
			       svc_exit_code(st));
			return 201;
		}
	}
	/* The corruption checks (src/fs/guard.c, dispatch.c, the device) stop
	 * a server only on damaged memory: with nothing injected, one that
	 * fired is a false alarm, which recovery would hide. */
	if (rc == 0 && !getenv("ANK_TEST_CORRUPTION") &&
	    (svc_log_contains(s, "memory corruption") || svc_log_contains(s, "damaged in memory"))) {
		printf("service_util: a memory corruption check fired with nothing injected:\n");
		svc_dump_log(s, 40);
		return 202;
	}
	return rc;
}

int svc_fsck(const struct svc *s)
{
	size_t len = 256 * 1024;
	char *out = malloc(len);
	if (!out)
		return -1;
	int rc = svc_cmd(out, len, 120000 * svc_slow(), "fsck", s->image, (char *)NULL);
	if (rc != 0)
		printf("service_util: `ananke fsck %s` exited %d:\n%s\n", s->image, rc, out);
	free(out);
	return rc;
}

void svc_dump_log(const struct svc *s, unsigned lines)
{
	if (!s->log[0])
		return;
	FILE *f = fopen(s->log, "r");
	if (!f)
		return;
	char **ring = calloc(lines, sizeof(char *));
	char buf[2048];
	unsigned n = 0;
	while (ring && fgets(buf, sizeof(buf), f)) {
		free(ring[n % lines]);
		ring[n % lines] = strdup(buf);
		n++;
	}
	fclose(f);
	if (!ring)
		return;
	printf("---- last lines of %s ----\n", s->log);
	for (unsigned i = n > lines ? n - lines : 0; i < n; i++)
		if (ring[i % lines])
			fputs(ring[i % lines], stdout);
	printf("---- end of log ----\n");
	for (unsigned i = 0; i < lines; i++)
		free(ring[i]);
	free(ring);
	fflush(stdout);
}

void svc_destroy(struct svc *s)
{
	if (s->sup_pid) {
		kill(s->sup_pid, SIGKILL);
		svc_wait(s->sup_pid, 5000, NULL);
		s->sup_pid = 0;
	}
	svc_kill_all();
	if (s->dir[0]) {
		unlink(s->image);
		unlink(s->sock);
		unlink(s->log);
		rmdir(s->dir);
	}
	memset(s, 0, sizeof(*s));
}

int svc_share(const struct svc *s)
{
	if (chmod(s->dir, 0711) < 0 || chmod(s->sock, 0666) < 0)
		return -errno;
	return 0;
}

/* ---- a raw ring client -------------------------------------------------------------- */

int svc_raw_connect(struct svc_raw *c, const char *sock_path)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct ank_ctl_hello h = {.magic = ANK_CTL_MAGIC, .version = ANK_RING_VERSION,
	                          .kind = ANK_HELLO_CLIENT};
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		rc = -errno;
		close(fd);
		return rc ? rc : -EPROTO;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, (int)(20000 * svc_slow())) <= 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	struct ank_ctl_welcome w;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = {.iov_base = &w, .iov_len = sizeof(w)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
	                     .msg_controllen = sizeof(cm.buf)};
	memset(&w, 0, sizeof(w));
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	int rfd = -1;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&msg); ch; ch = CMSG_NXTHDR(&msg, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int f;
			memcpy(&f, CMSG_DATA(ch) + j * sizeof(int), sizeof(int));
			if (rfd < 0)
				rfd = f;
			else
				close(f);
		}
	}
	rc = 0;
	if (n != (ssize_t)sizeof(w) || w.magic != ANK_CTL_MAGIC)
		rc = -EPROTO;
	else if (w.status != 0)
		rc = w.status < 0 ? w.status : -EPROTO;
	else if (rfd < 0)
		rc = -EPROTO;
	void *ring = MAP_FAILED;
	if (!rc) {
		struct stat st;
		if (fstat(rfd, &st) < 0 || (uint64_t)st.st_size != ANK_RING_TOTAL_SIZE)
			rc = -EPROTO;
	}
	if (!rc) {
		ring = mmap(NULL, ANK_RING_TOTAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
		if (ring == MAP_FAILED)
			rc = -errno;
		else if (ank_ring_check(ring) < 0)
			rc = -EPROTO;
	}
	if (rfd >= 0)
		close(rfd);
	if (rc) {
		if (ring != MAP_FAILED)
			munmap(ring, ANK_RING_TOTAL_SIZE);
		close(fd);
		return rc;
	}
	c->sock = fd;
	c->ring = ring;
	c->hdr = ring;
	c->client_id = w.client_id;
	return 0;
}

void svc_raw_close(struct svc_raw *c)
{
	if (c->ring)
		munmap(c->ring, ANK_RING_TOTAL_SIZE);
	if (c->sock >= 0)
		close(c->sock);
	c->ring = NULL;
	c->hdr = NULL;
	c->sock = -1;
}

void svc_raw_sum(struct svc_raw *c, unsigned i)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	s->req_sum = ank_req_as_sum(ank_req_sum(s->opcode, s->flags, s->fd, s->mode, s->off, s->len,
						s->path_len, s->path2_len, s->seq, s->data_sum,
						s->at_ino, s->at2_ino),
				    s->as_set, s->as_uid, s->as_gid);
	uint64_t n = (uint64_t)s->path_len + s->path2_len;
	s->path_sum = crc32c(0, svc_raw_data(c, i), n <= ANK_RING_DATA_PER_SLOT ? (size_t)n : 0);
}

void svc_raw_publish_as_is(struct svc_raw *c, unsigned i)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	ank_store_release(&s->waiting, 0);
	ank_store_release(&s->state, ANK_SLOT_SUBMITTED);
	ank_fetch_add(&c->hdr->sq_seq, 1);
	ank_full_barrier();
	if (ank_load_acquire(&c->hdr->server_sleeping))
		ank_futex_wake(&c->hdr->sq_seq);
}

void svc_raw_publish(struct svc_raw *c, unsigned i)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	/* As libananke does: the checksum of the data a write carries. */
	if ((s->opcode == ANK_OP_WRITE || s->opcode == ANK_OP_PWRITE) &&
	    s->len <= ANK_RING_DATA_PER_SLOT)
		s->data_sum = crc32c(0, svc_raw_data(c, i), (size_t)s->len);
	svc_raw_sum(c, i);
	svc_raw_publish_as_is(c, i);
}

int svc_raw_wait_done(struct svc_raw *c, unsigned i, unsigned timeout_ms)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	for (unsigned k = 0; k < 2000; k++) {
		if (ank_load_acquire(&s->state) == ANK_SLOT_DONE)
			return 0;
		ank_cpu_relax();
	}
	uint64_t deadline = svc_now_ms() + timeout_ms;
	ank_store_release(&s->waiting, 1);
	ank_full_barrier();
	for (;;) {
		uint32_t st = ank_load_acquire(&s->state);
		if (st == ANK_SLOT_DONE)
			return 0;
		if (svc_now_ms() >= deadline)
			return -ETIMEDOUT;
		ank_futex_wait(&s->state, st, 20000000ull);
	}
}

void svc_raw_fill(struct svc_raw *c, unsigned i, uint32_t opcode, int32_t fd, uint32_t flags,
                  uint32_t mode, int64_t off, uint64_t len, const char *path, const char *path2)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	uint8_t *data = svc_raw_data(c, i);
	memset((uint8_t *)s + offsetof(struct ank_ring_slot, opcode), 0,
	       sizeof(*s) - offsetof(struct ank_ring_slot, opcode));
	s->opcode = opcode;
	s->fd = fd;
	s->flags = flags;
	s->mode = mode;
	s->off = off;
	s->len = len;
	size_t l1 = path ? strlen(path) + 1 : 0;
	size_t l2 = path2 ? strlen(path2) + 1 : 0;
	if (path)
		memcpy(data, path, l1);
	if (path2)
		memcpy(data + l1, path2, l2);
	s->path_len = (uint32_t)l1;
	s->path2_len = (uint32_t)l2;
}

int64_t svc_raw_call(struct svc_raw *c, unsigned i, uint32_t opcode, int32_t fd,
                     uint32_t flags, uint32_t mode, int64_t off, uint64_t len, const char *path,
                     const char *path2, unsigned timeout_ms)
{
	struct ank_ring_slot *s = svc_raw_slot(c, i);
	ank_store_release(&s->state, ANK_SLOT_CLIENT);
	svc_raw_fill(c, i, opcode, fd, flags, mode, off, len, path, path2);
	svc_raw_publish(c, i);
	if (svc_raw_wait_done(c, i, timeout_ms) < 0)
		return INT64_MIN;
	int64_t r = s->result;
	ank_store_release(&s->state, ANK_SLOT_FREE);
	return r;
}

bool svc_log_contains(const struct svc *s, const char *what)
{
	FILE *f = fopen(s->log, "r");
	char line[1024];
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}
