/*
 * test_standby.c - the speculative standby, the hang watchdog and the
 * recovery report of the supervisor (docs/RECOVERY.md, "The standby and the
 * recovery sequence"), end to end with the real `ananke` binary:
 *
 *   - standby_is_ready_and_takes_over: a ready standby runs beside the
 *     server; after a SIGKILL of the server the standby is the new server,
 *     a new standby appears, and a client's fds keep working (mode ananke);
 *   - watchdog_kills_a_hung_server: the server is stopped (SIGSTOP) while a
 *     client's write is pending; the watchdog kills it within its limit,
 *     the standby takes over and the write completes; a stopped server with
 *     nothing pending is left alone;
 *   - watchdog_finds_one_stuck_worker: two clients on two workers keep
 *     writing and reading back; one worker gets stuck inside a request (the
 *     `hang` fault point) while the other keeps serving (and beating): the
 *     per-worker watchdog replaces the server, and neither client sees an
 *     error or a wrong byte;
 *   - recovery_report_in_status: after a kill, `status --json` lists one
 *     recovery with its phases;
 *   - recovery_times_with_standby: 20 SIGKILLs in a row, each recovery's
 *     total printed (measured, not asserted).
 *
 * The mode and extra options reach `ananke serve` through $ANK_TEST_RECOVERY
 * and $ANK_TEST_SERVE_OPTS, which tests/service_util.c adds to the command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "service_util.h"

#define WORKERS 2
#define KILLS 20

static struct svc g_svc;
static char g_json[65536];

/* A number after "key": in json (from p on), or -1. */
static long long num_after(const char *p, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *q = strstr(p, pat);
	if (!q)
		return -1;
	return strtoll(q + strlen(pat), NULL, 10);
}

/* The full `status --json` into g_json: 0 or -1. */
static int full_status(void)
{
	return svc_cmd_quiet(g_json, sizeof(g_json), 10000 * svc_slow(), "status", "--socket",
			     g_svc.sock, "--json", (char *)NULL) == 0
		       ? 0
		       : -1;
}

static long long standby_pid(const struct svc_status *st)
{
	return num_after(st->json, "standby_pid");
}

static bool standby_ready(const struct svc_status *st, long long arg)
{
	(void)arg;
	long long sb = standby_pid(st);
	return !strcmp(st->state, "running") && sb > 0 && sb != st->server_pid;
}

/* The old standby (arg) serves, and a new standby is ready. */
static bool taken_over(const struct svc_status *st, long long old_standby)
{
	return st->server_pid == old_standby && standby_ready(st, 0) &&
	       standby_pid(st) != old_standby;
}

static bool recoveries_at_least(const struct svc_status *st, long long n)
{
	return !strcmp(st->state, "running") && num_after(st->json, "recoveries_total") >= n;
}

static void start(const char *mode, const char *opts)
{
	setenv("ANK_TEST_RECOVERY", mode, 1);
	setenv("ANK_TEST_SERVE_OPTS", opts, 1);
	assert_int_equal(svc_start(&g_svc, "256M", WORKERS), 0);
}

static void wait_standby(struct svc_status *st)
{
	if (svc_status_wait(&g_svc, st, 10000 * svc_slow(), standby_ready, 0) < 0) {
		printf("no ready standby: %s\n", st->json);
		svc_dump_log(&g_svc, 30);
		fail();
	}
}

static void standby_is_ready_and_takes_over(void **state)
{
	(void)state;
	struct svc_status st;
	char buf[8192], back[8192];
	memset(buf, 'a', sizeof(buf));

	start("ananke", "");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, buf, 4096), 4096);

	wait_standby(&st);
	long long server = st.server_pid, sb = standby_pid(&st);
	printf("server %lld, standby %lld\n", server, sb);
	assert_true(sb > 0 && sb != server);
	assert_int_equal(kill((pid_t)server, SIGKILL), 0);
	if (svc_status_wait(&g_svc, &st, 20000 * svc_slow(), taken_over, sb) < 0) {
		printf("no takeover by the standby: %s\n", st.json);
		svc_dump_log(&g_svc, 30);
		fail();
	}
	printf("after the kill: server %lld (the old standby), new standby %lld\n", st.server_pid,
	       standby_pid(&st));
	assert_int_equal(st.server_pid, sb);
	assert_int_equal(st.restarts, 1);

	/* The same fd, at the same offset, with the same data. */
	memset(buf, 'b', sizeof(buf));
	assert_int_equal(ank_write(fd, buf, 4096), 4096);
	assert_int_equal(ank_pread(fd, back, 8192, 0), 8192);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(back[i], i < 4096 ? 'a' : 'b');
	assert_int_equal(ank_close(fd), 0);
	ank_unmount();
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
}

struct writer {
	int fd;
	ssize_t result;
	int err;
	uint64_t done_ms;
};

static void *write_thread(void *arg)
{
	struct writer *w = arg;
	char buf[4096];
	memset(buf, 'w', sizeof(buf));
	w->result = ank_pwrite(w->fd, buf, sizeof(buf), 8192);
	w->err = errno;
	w->done_ms = svc_now_ms();
	return NULL;
}

/* True once every thread of pid is stopped (state T in /proc): a SIGSTOP is
 * delivered asynchronously, and a worker spinning on another CPU could
 * still serve a request sent right after kill() returned. */
static bool all_threads_stopped(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool all = true;
	struct dirent *e;
	while (all && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[64 + 256 + 8], buf[512];
		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		const char *rp = strrchr(buf, ')');
		all = rp && rp[1] == ' ' && (rp[2] == 'T' || rp[2] == 't');
	}
	closedir(d);
	return all;
}

static bool server_changed(const struct svc_status *st, long long old)
{
	return st->server_pid > 0 && st->server_pid != old && !strcmp(st->state, "running");
}

static void watchdog_kills_a_hung_server(void **state)
{
	(void)state;
	struct svc_status st;
	char buf[4096];
	memset(buf, 'x', sizeof(buf));

	start("ananke", "--watchdog-ms=500");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/h", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	wait_standby(&st);
	long long server = st.server_pid;

	/* Hung with a request pending: stopped, then a write arrives. */
	assert_int_equal(kill((pid_t)server, SIGSTOP), 0);
	for (int i = 0; i < 2000 && !all_threads_stopped((pid_t)server); i++)
		svc_sleep_ms(1);
	assert_true(all_threads_stopped((pid_t)server));
	uint64_t t0 = svc_now_ms();
	struct writer w = {.fd = fd};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, write_thread, &w), 0);
	int rc = svc_status_wait(&g_svc, &st, 10000 * svc_slow(), server_changed, server);
	uint64_t seen = svc_now_ms() - t0;
	if (rc < 0) {
		kill((pid_t)server, SIGCONT);
		printf("the hung server was not replaced: %s\n", st.json);
		svc_dump_log(&g_svc, 30);
	}
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	printf("hung server %lld replaced by %lld after %llu ms; the write returned %zd after "
	       "%llu ms\n",
	       server, st.server_pid, (unsigned long long)seen, w.result,
	       (unsigned long long)(w.done_ms - t0));
	/* 500 ms of silence, a 100 ms tick, the takeover, status polling. */
	assert_true(seen < 1500u * svc_slow());
	assert_int_equal(w.result, 4096);
	assert_int_equal(full_status(), 0);
	assert_non_null(strstr(g_json, "\"cause\": \"hang\""));

	/* Idle and stopped: nothing pending, so nothing to kill. */
	wait_standby(&st);
	server = st.server_pid;
	assert_int_equal(kill((pid_t)server, SIGSTOP), 0);
	svc_sleep_ms(2000);
	assert_int_equal(svc_status(&g_svc, &st), 0);
	kill((pid_t)server, SIGCONT);
	printf("idle stopped server %lld: still serving after 2 s: %s\n", server,
	       st.server_pid == server ? "yes" : "no");
	assert_int_equal(st.server_pid, server);
	assert_int_equal(st.restarts, 1);

	char back[4096];
	assert_int_equal(ank_pread(fd, back, sizeof(back), 8192), 4096);
	assert_int_equal(back[0], 'w');
	assert_int_equal(back[4095], 'w');
	assert_int_equal(ank_close(fd), 0);
	ank_unmount();
	assert_int_equal(svc_stop(&g_svc), 0);
}

static void recovery_report_in_status(void **state)
{
	(void)state;
	struct svc_status st;
	start("ananke", "");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/r", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	wait_standby(&st);
	assert_int_equal(full_status(), 0);
	assert_non_null(strstr(g_json, "\"recoveries\": []"));
	assert_int_equal(kill((pid_t)st.server_pid, SIGKILL), 0);
	if (svc_status_wait(&g_svc, &st, 20000 * svc_slow(), recoveries_at_least, 1) < 0) {
		printf("no recovery recorded: %s\n", st.json);
		svc_dump_log(&g_svc, 30);
		fail();
	}
	assert_int_equal(full_status(), 0);
	const char *r = strstr(g_json, "\"recoveries\": [");
	assert_non_null(r);
	printf("%s", r);
	assert_int_equal(num_after(g_json, "recoveries_total"), 1);
	assert_true(num_after(r, "total_us") > 0);
	const char *keys[] = {"detect_us", "handover_us", "journal_us", "plog_us", "aim_us",
			      "resume_us", "backoff_us", "acted", "ignored", "modified", "corrupt",
			      "republished", "reexecuted"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(num_after(r, keys[i]) >= 0);
	assert_true(num_after(r, "total_us") >= num_after(r, "detect_us") +
							num_after(r, "resume_us"));
	assert_non_null(strstr(r, "\"cause\": \"signal 9\""));
	assert_non_null(strstr(r, "\"standby\": true"));
	assert_int_equal(ank_write(fd, "x", 1), 1);
	assert_int_equal(ank_close(fd), 0);
	ank_unmount();
	assert_int_equal(svc_stop(&g_svc), 0);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static void recovery_times_with_standby(void **state)
{
	(void)state;
	struct svc_status st;
	start("ananke", "");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/t", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < KILLS; i++) {
		wait_standby(&st);
		/* Past the crash-loop window (1 s after READY): no backoff. */
		svc_sleep_ms(1100);
		/* Some work in every generation, so each server has state. */
		assert_int_equal(ank_pwrite(fd, "0123456789", 10, i * 10), 10);
		assert_int_equal(kill((pid_t)st.server_pid, SIGKILL), 0);
		if (svc_status_wait(&g_svc, &st, 20000 * svc_slow(), recoveries_at_least, i + 1) < 0) {
			printf("recovery %d not recorded: %s\n", i + 1, st.json);
			svc_dump_log(&g_svc, 30);
			fail();
		}
	}
	assert_int_equal(full_status(), 0);
	long long tot[KILLS], sum_phase[7] = {0};
	const char *ph[7] = {"detect_us", "handover_us", "journal_us", "plog_us",
			     "aim_us",    "resume_us",   "backoff_us"};
	int n = 0, by_standby = 0;
	for (const char *p = strstr(g_json, "{\"total_us\": "); p && n < KILLS;
	     p = strstr(p + 1, "{\"total_us\": ")) {
		tot[n] = num_after(p, "total_us");
		for (int k = 0; k < 7; k++)
			sum_phase[k] += num_after(p, ph[k]);
		const char *sb = strstr(p, "\"standby\": ");
		if (sb && !strncmp(sb + 11, "true", 4))
			by_standby++;
		n++;
	}
	assert_int_equal(n, KILLS);
	qsort(tot, (size_t)n, sizeof(tot[0]), cmp_ll);
	printf("recovery total over %d SIGKILLs (%d by the standby): min %lld us, median %lld "
	       "us, max %lld us\n",
	       n, by_standby, tot[0], tot[n / 2], tot[n - 1]);
	printf("mean phases: detect %lld us, handover %lld us, journal %lld us, plog %lld us, "
	       "aim %lld us, resume %lld us, backoff %lld us\n",
	       sum_phase[0] / n, sum_phase[1] / n, sum_phase[2] / n, sum_phase[3] / n,
	       sum_phase[4] / n, sum_phase[5] / n, sum_phase[6] / n);
	char back[10];
	assert_int_equal(ank_pread(fd, back, 10, (KILLS - 1) * 10), 10);
	assert_memory_equal(back, "0123456789", 10);
	assert_int_equal(ank_close(fd), 0);
	ank_unmount();
	assert_int_equal(svc_stop(&g_svc), 0);
}

/* A client process: for `ms`, pwrite a numbered block and read it back.
 * Exit code: 0, or 1 at the first error or wrong byte. */
static int busy_client(const char *name, unsigned ms)
{
	if (ank_mount(g_svc.sock) < 0)
		return 1;
	int fd = ank_open(name, O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		return 1;
	char out[512], in[512];
	uint64_t end = svc_now_ms() + ms;
	for (unsigned n = 0; svc_now_ms() < end; n++) {
		memset(out, 'a' + (int)(n % 26), sizeof(out));
		off_t at = (off_t)(n % 64) * (off_t)sizeof(out);
		if (ank_pwrite(fd, out, sizeof(out), at) != (ssize_t)sizeof(out) ||
		    ank_pread(fd, in, sizeof(in), at) != (ssize_t)sizeof(in) ||
		    memcmp(in, out, sizeof(in))) {
			printf("%s: request %u failed: %s\n", name, n, strerror(errno));
			return 1;
		}
	}
	return ank_close(fd) == 0 && ank_unmount() == 0 ? 0 : 1;
}

static void watchdog_finds_one_stuck_worker(void **state)
{
	(void)state;
	char once[PATH_MAX];
	snprintf(once, sizeof(once), "/tmp/ank-test-hang-%d", (int)getpid());
	unlink(once);
	setenv("ANANKE_FAULT", "hang:400", 1);
	setenv("ANANKE_FAULT_ONCE", once, 1);
	start("ananke", "--watchdog-ms=500");
	unsetenv("ANANKE_FAULT");
	unsetenv("ANANKE_FAULT_ONCE");
	struct svc_status st;
	wait_standby(&st);
	long long server = st.server_pid;

	pid_t pa = svc_fork();
	if (pa == 0)
		_exit(busy_client("/a", 3000));
	pid_t pb = svc_fork();
	if (pb == 0)
		_exit(busy_client("/b", 3000));
	int sa = -1, sb = -1;
	int ra = svc_wait(pa, 20000 * svc_slow(), &sa);
	int rb = svc_wait(pb, 20000 * svc_slow(), &sb);
	bool fired = access(once, F_OK) == 0;
	unlink(once);
	assert_int_equal(full_status(), 0);
	if (ra < 0 || rb < 0 || svc_exit_code(sa) != 0 || svc_exit_code(sb) != 0 || !fired)
		svc_dump_log(&g_svc, 40);
	assert_true(fired);
	assert_int_equal(ra, 0);
	assert_int_equal(rb, 0);
	assert_int_equal(svc_exit_code(sa), 0);
	assert_int_equal(svc_exit_code(sb), 0);
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_true(st.server_pid != server);
	assert_int_equal(st.restarts, 1);
	assert_non_null(strstr(g_json, "\"cause\": \"hang\""));
	/* found by the per-worker check (the other worker kept beating) */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "grep -q 'hang: worker [0-9]* has requests pending' '%s'",
		 g_svc.log);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
}

static int teardown(void **state)
{
	(void)state;
	ank_unmount();
	svc_destroy(&g_svc);
	memset(&g_svc, 0, sizeof(g_svc));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(standby_is_ready_and_takes_over, teardown),
		cmocka_unit_test_teardown(watchdog_kills_a_hung_server, teardown),
		cmocka_unit_test_teardown(watchdog_finds_one_stuck_worker, teardown),
		cmocka_unit_test_teardown(recovery_report_in_status, teardown),
		cmocka_unit_test_teardown(recovery_times_with_standby, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
