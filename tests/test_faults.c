/*
 * test_faults.c - the server's fault points (ANANKE_FAULT, src/ipc/control.h)
 * and recovery mode "sync", end to end through libananke:
 *
 *   - careful_update_points: for plog_after_op, plog_after_desc and
 *     after_done, armed once on an O_CREAT|O_EXCL create (re-execution would
 *     give EEXIST) and once on an append write (re-execution would duplicate
 *     bytes): the server aborts at the point, the supervisor restarts it,
 *     recovery runs, and the application's request completes exactly once
 *     with the right result;
 *   - recovery_points: a crash in each phase of recovery
 *     (recovery_mid_journal, recovery_after_journal, recovery_mid_aim,
 *     recovery_resume): the first server is SIGKILLed mid-workload, the
 *     recovering one aborts at the point, the next one completes recovery;
 *     names, data and offsets are intact and the application saw no error;
 *   - sync_mode_survives_sigkill: with --recovery=sync every create and write
 *     is durable when it returns: a SIGKILL right after keeps file and data
 *     (old fds are stale, as in "none": sync closes the data gap only);
 *   - none_mode_loses_unsynced_create: the same with --recovery=none loses
 *     the create, proving the check can fail;
 *   - damaged_entry_is_never_used: an entry damaged in both copies
 *     (plog_damage) is not replayed: its file reads EIO, its fd is stale,
 *     the report names the inode.
 *
 * The fault fires in one server only: ANANKE_FAULT_ONCE names a marker file
 * that the firing server creates, so the servers the supervisor starts after
 * it (same environment) run unarmed. The mode reaches `ananke serve` through
 * $ANK_TEST_RECOVERY (tests/service_util.c adds it to the command).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "service_util.h"

static struct svc g_svc;
static char g_wrap_dir[PATH_MAX - 64];
static char g_once[PATH_MAX];

static void pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/* Arm `point` (NULL: nothing) for the next service start. */
static void arm(const char *mode, const char *point)
{
	setenv("ANK_TEST_RECOVERY", mode, 1);
	snprintf(g_once, sizeof(g_once), "%s/fired", g_wrap_dir);
	unlink(g_once);
	if (point) {
		setenv("ANANKE_FAULT", point, 1);
		setenv("ANANKE_FAULT_ONCE", g_once, 1);
	} else {
		unsetenv("ANANKE_FAULT");
		unsetenv("ANANKE_FAULT_ONCE");
	}
}

static bool fired(void)
{
	return access(g_once, F_OK) == 0;
}

/* Does the service log (supervisor and servers) contain `what`? */
static bool log_contains(const char *what)
{
	return svc_log_contains(&g_svc, what);
}

static bool running_new(const struct svc_status *st, long long old_pid)
{
	return st->server_pid > 0 && st->server_pid != old_pid && !strcmp(st->state, "running");
}

/* SIGKILL the serving server and wait until another one serves. */
static int kill_server_and_wait(void)
{
	struct svc_status st;
	if (svc_status(&g_svc, &st) < 0 || st.server_pid <= 0)
		return -1;
	long long old = st.server_pid;
	if (kill((pid_t)old, SIGKILL) < 0)
		return -1;
	if (svc_status_wait(&g_svc, &st, 30000 * svc_slow(), running_new, old) < 0) {
		printf("no new server seen: %s\n", st.json);
		return -1;
	}
	return 0;
}

static void finish(void)
{
	assert_int_equal(ank_unmount(), 0);
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
}

/* ---- (a) careful-update points --------------------------------------------------- */

/* Logged requests: pass 1 the create, 2 and 3 the two appends. */
static void one_careful_point(const char *point, unsigned pass)
{
	char spec[64];
	struct stat st;
	uint8_t buf[64];
	snprintf(spec, sizeof(spec), "%s:%u", point, pass);
	printf("-- %s\n", spec);
	arm("ananke", spec);
	assert_int_equal(svc_start(&g_svc, "128M", 1), 0);
	if (ank_mount(g_svc.sock) != 0) {
		printf("ank_mount: errno %d\n", errno);
		svc_dump_log(&g_svc, 30);
		fail();
	}

	int fd = ank_open("/f", O_CREAT | O_EXCL | O_RDWR | O_APPEND, 0644);
	if (fd < 0)
		printf("create: errno %d\n", errno);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, "hello", 5), 5);
	assert_int_equal(ank_write(fd, "world", 5), 5);
	/* A query (not logged) runs on a server that survived the fault. */
	assert_int_equal(ank_fstat(fd, &st), 0);
	if (!fired())
		svc_dump_log(&g_svc, 30);
	assert_true(fired());
	assert_int_equal(st.st_size, 10);
	assert_int_equal(ank_lseek(fd, 0, SEEK_CUR), 10);
	assert_int_equal(ank_pread(fd, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "helloworld", 10);
	/* The create really happened once: a second O_EXCL fails. */
	assert_int_equal(ank_open("/f", O_CREAT | O_EXCL | O_RDWR, 0644), -1);
	assert_int_equal(errno, EEXIST);
	/* and the fd keeps working */
	assert_int_equal(ank_write(fd, "!", 1), 1);
	assert_int_equal(ank_stat("/f", &st), 0);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(ank_close(fd), 0);

	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	assert_true(ss.restarts >= 1);
	char msg[96];
	snprintf(msg, sizeof(msg), "fault point %s fired", point);
	assert_true(log_contains(msg));
	/* How the interrupted request was settled: run again when its entry
	 * was not complete, answered from the log when it was, nothing to do
	 * when the client had its reply. */
	if (!strcmp(point, "plog_after_op"))
		assert_true(log_contains("0 in-flight requests answered from the p-log, 1 run again"));
	else if (!strcmp(point, "plog_after_desc"))
		assert_true(log_contains("1 in-flight requests answered from the p-log, 0 run again"));
	/* The same counts reach the recovery report in `status --json`. */
	if (!strcmp(point, "plog_after_op"))
		assert_non_null(strstr(ss.json, "\"republished\": 0, \"reexecuted\": 1"));
	else if (!strcmp(point, "plog_after_desc"))
		assert_non_null(strstr(ss.json, "\"republished\": 1, \"reexecuted\": 0"));
	finish();
	svc_destroy(&g_svc);
	memset(&g_svc, 0, sizeof(g_svc));
}

static void careful_update_points(void **state)
{
	(void)state;
	static const char *const points[] = {"plog_after_op", "plog_after_desc", "after_done"};
	for (unsigned k = 0; k < 3; k++) {
		one_careful_point(points[k], 1); /* the create */
		one_careful_point(points[k], 2); /* the first append */
	}
}

/* ---- (b) crash during recovery ------------------------------------------------------ */

static void one_recovery_point(const char *point)
{
	static uint8_t da[9000], db[5000], buf[16384];
	struct stat st;
	printf("-- %s\n", point);
	arm("ananke", point);
	/* The journal must still hold the sync's transaction at the crash
	 * for the replay point to be reached: no checkpoint when idle. */
	if (!strcmp(point, "recovery_mid_journal"))
		setenv("ANK_TEST_SERVE_OPTS", "--idle-checkpoint-ms 0", 1);
	int started = svc_start(&g_svc, "128M", 2);
	unsetenv("ANK_TEST_SERVE_OPTS");
	assert_int_equal(started, 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	pattern(da, sizeof(da), 1);
	pattern(db, sizeof(db), 2);

	assert_int_equal(ank_mkdir("/d", 0755), 0);
	assert_int_equal(ank_sync(), 0); /* a transaction for the journal replay */
	int a = ank_open("/d/a", O_CREAT | O_EXCL | O_RDWR, 0644);
	assert_true(a >= 0);
	assert_int_equal(ank_write(a, da, sizeof(da)), (ssize_t)sizeof(da));
	assert_int_equal(ank_rename("/d/a", "/d/a2"), 0);
	int b = ank_open("/d/b", O_CREAT | O_RDWR, 0600);
	assert_true(b >= 0);
	assert_int_equal(ank_write(b, db, sizeof(db)), (ssize_t)sizeof(db));
	assert_int_equal(ank_lseek(b, 200, SEEK_SET), 200);
	assert_int_equal(ank_mkdir("/d/sub", 0700), 0);
	int c = ank_open("/d/c", O_CREAT | O_RDWR, 0644);
	assert_true(c >= 0);
	assert_int_equal(ank_write(c, db, 3000), 3000);
	assert_int_equal(ank_ftruncate(c, 1234), 0);

	assert_int_equal(kill_server_and_wait(), 0);
	/* The server after the killed one died at the point (the status may
	 * already show the one after it). */
	uint64_t t0 = svc_now_ms();
	while (!fired() && svc_now_ms() - t0 < 20000u * svc_slow())
		svc_sleep_ms(20);
	if (!fired())
		svc_dump_log(&g_svc, 40);
	assert_true(fired());

	/* Everything is as the application left it. */
	errno = 0;
	assert_int_equal(ank_lseek(a, 0, SEEK_CUR), (off_t)sizeof(da));
	assert_int_equal(ank_pread(a, buf, sizeof(da), 0), (ssize_t)sizeof(da));
	assert_memory_equal(buf, da, sizeof(da));
	assert_int_equal(ank_stat("/d/a2", &st), 0);
	assert_int_equal(st.st_size, (off_t)sizeof(da));
	assert_int_equal(ank_stat("/d/a", &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(ank_lseek(b, 0, SEEK_CUR), 200);
	assert_int_equal(ank_read(b, buf, 100), 100);
	assert_memory_equal(buf, db + 200, 100);
	assert_int_equal(ank_fstat(c, &st), 0);
	assert_int_equal(st.st_size, 1234);
	assert_int_equal(ank_lseek(c, 0, SEEK_CUR), 3000);
	assert_int_equal(ank_stat("/d/sub", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(ank_open("/d/a2", O_CREAT | O_EXCL | O_RDWR, 0644), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(ank_write(a, "tail", 4), 4);
	assert_int_equal(ank_fstat(a, &st), 0);
	assert_int_equal(st.st_size, (off_t)sizeof(da) + 4);

	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	assert_true(ss.restarts >= 2);
	char msg[96];
	snprintf(msg, sizeof(msg), "fault point %s fired", point);
	assert_true(log_contains(msg));
	ank_close(a);
	ank_close(b);
	ank_close(c);
	finish();
	svc_destroy(&g_svc);
	memset(&g_svc, 0, sizeof(g_svc));
}

static void recovery_points(void **state)
{
	(void)state;
	one_recovery_point("recovery_mid_journal");
	one_recovery_point("recovery_after_journal");
	one_recovery_point("recovery_mid_aim");
	one_recovery_point("recovery_resume");
}

/* ---- (c) sync and none -------------------------------------------------------------- */

static void sync_mode_survives_sigkill(void **state)
{
	(void)state;
	static uint8_t d[6000], buf[8192];
	struct stat st;
	pattern(d, sizeof(d), 3);
	arm("sync", NULL);
	if (svc_start(&g_svc, "128M", 2) < 0) {
		printf("the service does not start with --recovery=sync (is the mode "
		       "accepted by `ananke serve`?)\n");
		svc_dump_log(&g_svc, 10);
		skip();
	}
	assert_int_equal(ank_mount(g_svc.sock), 0);

	int fd = ank_open("/s", O_CREAT | O_EXCL | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, d, 4000), 4000);
	assert_int_equal(kill_server_and_wait(), 0);
	/* The create and the write were durable when they returned. */
	assert_int_equal(ank_stat("/s", &st), 0);
	assert_int_equal(st.st_size, 4000);
	/* The fd gap stays (as in "none"): the old fd is stale. */
	assert_int_equal(ank_write(fd, d, 10), -1);
	assert_int_equal(errno, EIO);
	ank_close(fd);

	/* A pwrite, a mkdir, a rename and an unlink, each followed by a kill. */
	fd = ank_open("/s", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ank_pwrite(fd, d + 4000, 2000, 4000), 2000);
	assert_int_equal(kill_server_and_wait(), 0);
	ank_close(fd);
	assert_int_equal(ank_mkdir("/sd", 0755), 0);
	assert_int_equal(ank_rename("/s", "/sd/s2"), 0);
	assert_int_equal(kill_server_and_wait(), 0);
	assert_int_equal(ank_stat("/sd/s2", &st), 0);
	assert_int_equal(st.st_size, 6000);
	fd = ank_open("/sd/s2", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ank_read(fd, buf, sizeof(buf)), 6000);
	assert_memory_equal(buf, d, 6000);
	ank_close(fd);
	fd = ank_open("/t", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	ank_close(fd);
	assert_int_equal(ank_unlink("/t"), 0);
	assert_int_equal(kill_server_and_wait(), 0);
	assert_int_equal(ank_stat("/t", &st), -1);
	assert_int_equal(errno, ENOENT);
	finish();
}

/* ---- (d) a damaged entry is never used silently ------------------------------------ */

/* The entry of the second write to /f is damaged in both copies (fault
 * point plog_damage: the server goes on); a later SIGKILL's recovery must
 * not use it: /f's reads fail with EIO, the report names /f's inode, /g
 * (whose entries are intact) is whole, and truncating /f heals it. */
static void damaged_entry_is_never_used(void **state)
{
	(void)state;
	char buf[64];
	struct stat st;
	/* logged: 1 create /g, 2 write /g, 3 create /f, 4 write /f, 5 write /f */
	arm("ananke", "plog_damage:5");
	assert_int_equal(svc_start(&g_svc, "128M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int g = ank_open("/g", O_CREAT | O_RDWR, 0644);
	assert_true(g >= 0);
	assert_int_equal(ank_write(g, "gggg", 4), 4);
	int f = ank_open("/f", O_CREAT | O_RDWR, 0644);
	assert_true(f >= 0);
	assert_int_equal(ank_write(f, "hello", 5), 5);
	assert_int_equal(ank_write(f, "world", 5), 5);
	assert_true(fired());
	assert_int_equal(ank_fstat(f, &st), 0);
	ino_t ino = st.st_ino;

	assert_int_equal(kill_server_and_wait(), 0);
	/* The fd whose latest state was in the damaged entry comes back stale;
	 * a new fd on the file cannot read it either. */
	errno = 0;
	assert_int_equal(ank_pread(f, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EIO);
	int f2 = ank_open("/f", O_RDONLY);
	assert_true(f2 >= 0);
	errno = 0;
	assert_int_equal(ank_pread(f2, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(ank_close(f2), 0);
	assert_int_equal(ank_pread(g, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "gggg", 4);
	char want[96];
	snprintf(want, sizeof(want), "changes to inode %llu are lost", (unsigned long long)ino);
	assert_true(log_contains(want));
	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	snprintf(want, sizeof(want), "\"damaged_inodes\": [%llu]", (unsigned long long)ino);
	if (!strstr(ss.json, want))
		printf("status: %s\n", ss.json);
	assert_non_null(strstr(ss.json, want));
	/* Truncation discards what was lost: the file works again. */
	f2 = ank_open("/f", O_RDWR | O_TRUNC);
	assert_true(f2 >= 0);
	assert_int_equal(ank_pwrite(f2, "new", 3, 0), 3);
	assert_int_equal(ank_pread(f2, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "new", 3);
	assert_int_equal(ank_close(f2), 0);
	assert_int_equal(ank_close(f), 0); /* a stale fd closes like any */
	ank_close(g);
	finish();
}

static void none_mode_loses_unsynced_create(void **state)
{
	(void)state;
	struct stat st;
	arm("none", NULL);
	assert_int_equal(svc_start(&g_svc, "128M", 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/n", O_CREAT | O_EXCL | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, "data", 4), 4);
	assert_int_equal(kill_server_and_wait(), 0);
	int lost = ank_stat("/n", &st) == -1 && errno == ENOENT;
	printf("recovery none: unsynced create %s\n", lost ? "lost, as expected" : "survived");
	assert_true(lost);
	assert_int_equal(ank_write(fd, "x", 1), -1);
	assert_int_equal(errno, EIO);
	ank_close(fd);
	finish();
}

static int teardown(void **state)
{
	(void)state;
	/* A test that failed while mounted must not fail the next ones. */
	(void)ank_unmount();
	if (g_svc.sup_pid) { /* (still serving: the test failed) */
		printf("the service's log, last lines:\n");
		svc_dump_log(&g_svc, 20);
	}
	svc_destroy(&g_svc);
	memset(&g_svc, 0, sizeof(g_svc));
	unsetenv("ANANKE_FAULT");
	unsetenv("ANANKE_FAULT_ONCE");
	if (g_once[0])
		unlink(g_once);
	return 0;
}

/* ---- (f) a request that crashes every server -------------------------------------- */

/* A deterministic bug: every server aborts when it runs a request on
 * /poison (ANANKE_FAULT_POISON), and recovery runs it again each time. After
 * SUP_QUARANTINE_DEATHS (3) such deaths the supervisor answers that request
 * EIO; the service goes on and nothing else of the client is lost. */
static void request_that_crashes_every_server_alone_gets_eio(void **state)
{
	(void)state;
	arm("ananke", NULL);
	setenv("ANANKE_FAULT_POISON", "/poison", 1);
	assert_int_equal(svc_start(&g_svc, "256M", 2), 0);
	unsetenv("ANANKE_FAULT_POISON");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	static uint8_t a[20000], back[20000];
	pattern(a, sizeof(a), 11);
	int fd = ank_open("/a", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, a, sizeof(a)), (ssize_t)sizeof(a));
	errno = 0;
	assert_int_equal(ank_open("/poison", O_CREAT | O_WRONLY, 0644), -1);
	assert_int_equal(errno, EIO);
	/* everything else is still there: the fd, its offset, the data */
	assert_int_equal(ank_lseek(fd, 0, SEEK_CUR), (off_t)sizeof(a));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	assert_int_equal(ss.restarts, 3);
	assert_non_null(strstr(ss.json, "\"quarantined\": 1,"));
	assert_true(log_contains("quarantined a request that crashed 3 servers"));
	/* and the service serves on */
	int fd2 = ank_open("/b", O_CREAT | O_RDWR, 0644);
	assert_true(fd2 >= 0);
	assert_int_equal(ank_close(fd2), 0);
	assert_int_equal(ank_close(fd), 0);
	finish();
}

/* ---- (g) a crash during `ananke stop` ------------------------------------------------ */

/* Data written, never synced, then a stop whose server dies before the
 * unmount syncs (fault stop_unmount, or SIGSTOP: the supervisor replaces a
 * server stopped during the stop): the supervisor recovers a new server
 * from the p-logs and the journal, that one stops cleanly, and after a
 * restart every byte is there. */
static void stop_finishes_after_a_crash_during_it(const char *how)
{
	arm("ananke", !strcmp(how, "fault") ? "stop_unmount" : !strcmp(how, "exit") ? "stop_exit" : NULL);
	assert_int_equal(svc_start(&g_svc, "256M", 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	static uint8_t a[300000], back[300000];
	pattern(a, sizeof(a), 13);
	assert_int_equal(ank_mkdir("/d", 0755), 0);
	int fd = ank_open("/d/f", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, a, sizeof(a)), (ssize_t)sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_unmount(), 0);
	if (!strcmp(how, "sigstop")) {
		struct svc_status st;
		assert_int_equal(svc_status(&g_svc, &st), 0);
		assert_int_equal(kill((pid_t)st.server_pid, SIGSTOP), 0);
	}
	uint64_t t0 = svc_now_ms();
	assert_int_equal(svc_stop(&g_svc), 0);
	printf("%s: stopped cleanly in %llu ms\n", how, (unsigned long long)(svc_now_ms() - t0));
	if (!strcmp(how, "fault") || !strcmp(how, "exit"))
		assert_true(fired());
	assert_true(log_contains("recovering it to finish the stop (1 of 3)"));
	if (!strcmp(how, "exit")) /* (it had said its unmount went well) */
		assert_true(log_contains("unmounted, then ended with"));
	assert_int_equal(svc_fsck(&g_svc), 0);
	arm("ananke", NULL);
	assert_int_equal(svc_restart(&g_svc, 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	fd = ank_open("/d/f", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(ank_read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	finish();
}

static void crash_during_stop_is_recovered_and_nothing_is_lost(void **state)
{
	(void)state;
	stop_finishes_after_a_crash_during_it("fault");
}

static void server_stopped_during_stop_is_replaced_and_nothing_is_lost(void **state)
{
	(void)state;
	stop_finishes_after_a_crash_during_it("sigstop");
}

/* A server that reported a good unmount and then crashed is not believed:
 * a recovery checks, and the stop ends cleanly. */
static void crash_after_the_unmount_is_recovered_too(void **state)
{
	(void)state;
	stop_finishes_after_a_crash_during_it("exit");
}

/* ---- (h) read answers damaged on the way ------------------------------------------ */

/* A READ or PREAD answer damaged in the ring after the bytes left the
 * cache, before the server set the answer's checksum (fault reply_damage
 * flips one byte; the checksum is taken from the cache, not from the
 * ring), never reaches the caller: a
 * pread is asked again and returns the right bytes; a read, which already
 * moved the offset, fails with EIO, and the file is unharmed. */
static void damaged_read_answer_is_never_returned(void **state)
{
	(void)state;
	static uint8_t a[20000], back[20000];
	pattern(a, sizeof(a), 12);
	for (int positioned = 1; positioned >= 0; positioned--) {
		arm("ananke", "reply_damage");
		assert_int_equal(svc_start(&g_svc, "64M", 2), 0);
		assert_int_equal(ank_mount(g_svc.sock), 0);
		int fd = ank_open("/r", O_CREAT | O_RDWR | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ank_write(fd, a, sizeof(a)), (ssize_t)sizeof(a));
		memset(back, 0, sizeof(back));
		if (positioned) {
			assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
			assert_memory_equal(back, a, sizeof(a));
		} else {
			assert_int_equal(ank_lseek(fd, 0, SEEK_SET), 0);
			errno = 0;
			assert_int_equal(ank_read(fd, back, sizeof(back)), -1);
			assert_int_equal(errno, EIO);
			assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
			assert_memory_equal(back, a, sizeof(a));
		}
		assert_true(fired());
		assert_true(log_contains("fault point reply_damage fired"));
		assert_int_equal(ank_close(fd), 0);
		finish();
		svc_destroy(&g_svc);
		memset(&g_svc, 0, sizeof(g_svc));
	}
}

/* A PREAD answer whose result is damaged in the ring after the server took
 * the answer's checksum (fault result_damage flips one bit of the result)
 * never reaches the caller: the pread is asked again and returns the right
 * count and bytes. */
static void damaged_result_is_never_returned(void **state)
{
	(void)state;
	static uint8_t a[20000], back[20000];
	pattern(a, sizeof(a), 13);
	arm("ananke", "result_damage");
	assert_int_equal(svc_start(&g_svc, "64M", 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/r", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, a, sizeof(a)), (ssize_t)sizeof(a));
	memset(back, 0, sizeof(back));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_true(fired());
	assert_true(log_contains("fault point result_damage fired"));
	assert_int_equal(ank_close(fd), 0);
	finish();
}

/* Write data damaged in the ring after its checksum passed, before the call
 * copied it (fault write_damage flips one byte): the server stops before
 * anything of it is committed, logged or answered, and the next server
 * finds the damage (EIO). The file never holds the flipped byte; the next
 * write goes through. */
static void write_data_damaged_before_its_copy_never_reaches_the_file(void **state)
{
	(void)state;
	static uint8_t a[20000], back[20000];
	pattern(a, sizeof(a), 14);
	arm("ananke", "write_damage:2");
	setenv("ANK_TEST_CORRUPTION", "1", 1); /* the check that fires says "memory corruption" */
	assert_int_equal(svc_start(&g_svc, "64M", 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/w", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_pwrite(fd, a, 4096, 0), 4096); /* pass 1 */
	errno = 0;
	assert_int_equal(ank_pwrite(fd, a, sizeof(a), 0), -1); /* pass 2: damaged */
	assert_int_equal(errno, EIO);
	assert_true(fired());
	assert_true(log_contains("changed while it was copied"));
	struct stat st;
	assert_int_equal(ank_fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	memset(back, 0, sizeof(back));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), 4096);
	assert_memory_equal(back, a, 4096);
	assert_int_equal(ank_pwrite(fd, a, sizeof(a), 0), (ssize_t)sizeof(a));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
}

/* The server's record of which p-log entry holds an fd's newest state is
 * damaged after a write (fault fd_state_damage flips a bit of its entry id,
 * which would clear another entry's fd bit at the fd's next call): the
 * next call on the fd stops the server, and the one that takes over
 * answers it. The application sees every write land, nothing else. */
static void damaged_fd_record_of_the_server_stops_it_at_the_next_use(void **state)
{
	(void)state;
	static uint8_t a[12288], back[12288];
	pattern(a, sizeof(a), 23);
	arm("ananke", "fd_state_damage:3");
	setenv("ANK_TEST_CORRUPTION", "1", 1);
	assert_int_equal(svc_start(&g_svc, "64M", 2), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/fdrec", O_CREAT | O_RDWR | O_TRUNC, 0644); /* pass 1 */
	assert_true(fd >= 0);
	int other = ank_open("/fdrec2", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(other >= 0);
	assert_int_equal(ank_write(fd, a, 4096), 4096);          /* pass 3: damaged */
	assert_true(fired());
	assert_int_equal(ank_write(fd, a + 4096, 4096), 4096);   /* stops, run again */
	assert_int_equal(ank_write(other, a, 100), 100);
	assert_int_equal(ank_write(fd, a + 8192, 4096), 4096);
	assert_true(log_contains("an fd's log state"));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(kill_server_and_wait(), 0); /* every fd's state still logged */
	assert_int_equal(ank_lseek(fd, 0, SEEK_CUR), (off_t)sizeof(a));
	assert_int_equal(ank_lseek(other, 0, SEEK_CUR), 100);
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_close(other), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
}

/* A ring's client id damaged after an answer (fault ring_id_damage): the
 * entries of the ring's next calls would be filed under another client
 * and its fds lost at the next recovery. The next request stops the
 * server instead, and the one that takes over runs it. */
static void damaged_ring_identity_stops_the_server_at_the_next_request(void **state)
{
	(void)state;
	static uint8_t a[8192], back[8192];
	pattern(a, sizeof(a), 29);
	arm("ananke", "ring_id_damage:1");
	setenv("ANK_TEST_CORRUPTION", "1", 1);
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/ringid", O_CREAT | O_RDWR | O_TRUNC, 0644); /* damaged after */
	assert_true(fd >= 0);
	assert_true(fired());
	assert_int_equal(ank_write(fd, a, 4096), 4096);        /* stops, run again */
	assert_int_equal(ank_write(fd, a + 4096, 4096), 4096);
	assert_true(log_contains("a ring's identity"));
	assert_int_equal(kill_server_and_wait(), 0); /* its fd still logged as its own */
	assert_int_equal(ank_lseek(fd, 0, SEEK_CUR), (off_t)sizeof(a));
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
}

/* The durable tid the core reports to the p-logs raised on the way (fault
 * durable_damage, at the first commit after the start): the logs would
 * count entries of calls not yet durable as durable, reclaim them when
 * they fill (64 KiB logs, no background commit), and the next crash would
 * lose those writes. The hook's check against the journal stops the server
 * instead, and the one that takes over makes room by committing. */
static void raised_durable_tid_stops_the_server_before_the_logs_trust_it(void **state)
{
	(void)state;
	static uint8_t a[40 * 4096], back[40 * 4096];
	pattern(a, sizeof(a), 31);
	setenv("ANK_TEST_SERVE_OPTS", "--plog-size 65536 --commit-ms 3600000", 1);
	arm("ananke", "durable_damage:2");
	setenv("ANK_TEST_CORRUPTION", "1", 1);
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/durable", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_pwrite(fd, a, 4096, 0), 4096);
	assert_int_equal(ank_fsync(fd), 0); /* the commit: its report is raised */
	assert_true(fired());
	for (unsigned k = 1; k < 40; k++) /* more than the log holds */
		assert_int_equal(ank_pwrite(fd, a + k * 4096, 4096, (off_t)k * 4096), 4096);
	assert_true(log_contains("the durable transaction id"));
	assert_int_equal(kill_server_and_wait(), 0); /* every write still logged or durable */
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
	unsetenv("ANK_TEST_SERVE_OPTS");
}

/* A p-log entry's transaction id lowered while the entry was built (fault
 * entry_damage, on the write after an fsync): logged so, it would read as
 * durable, and a crash would lose the write. The check before the append
 * stops the server instead; the write runs again on the next one. */
static void damaged_entry_under_construction_is_never_logged(void **state)
{
	(void)state;
	static uint8_t a[8192], back[8192];
	pattern(a, sizeof(a), 37);
	setenv("ANK_TEST_SERVE_OPTS", "--commit-ms 3600000", 1);
	arm("ananke", "entry_damage:3");
	setenv("ANK_TEST_CORRUPTION", "1", 1);
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/entry", O_CREAT | O_RDWR | O_TRUNC, 0644); /* pass 1 */
	assert_true(fd >= 0);
	assert_int_equal(ank_pwrite(fd, a, 4096, 0), 4096);           /* pass 2 */
	assert_int_equal(ank_fsync(fd), 0);
	assert_int_equal(ank_pwrite(fd, a + 4096, 4096, 4096), 4096); /* pass 3: damaged */
	assert_true(fired());
	assert_true(log_contains("entry's facts changed"));
	assert_int_equal(kill_server_and_wait(), 0); /* the write still logged */
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
	unsetenv("ANK_TEST_SERVE_OPTS");
}

/* The durable tid a replay decides by raised while it runs (fault
 * replay_damage, at the first takeover): it would skip the writes as
 * durable, and they would be gone. The check of the replay's facts stops
 * that server before anything is durable; the next one replays them. */
static void damaged_replay_stops_before_its_effects_are_durable(void **state)
{
	(void)state;
	static uint8_t a[16384], back[16384];
	pattern(a, sizeof(a), 41);
	setenv("ANK_TEST_SERVE_OPTS", "--commit-ms 3600000", 1);
	arm("ananke", "replay_damage:1");
	setenv("ANK_TEST_CORRUPTION", "1", 1);
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/replay", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(ank_pwrite(fd, a + k * 4096, 4096, (off_t)k * 4096), 4096);
	assert_int_equal(kill_server_and_wait(), 0); /* the replay: damaged, stopped */
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	assert_true(fired());
	assert_true(log_contains("the replay decided by changed"));
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_CORRUPTION");
	unsetenv("ANK_TEST_SERVE_OPTS");
}

/* A server stopped (SIGSTOP) while it recovers is not READY and is not
 * served by the watchdog, which looks at running servers: the supervisor
 * watches a starting server's process state too, and replaces one that
 * stays stopped for watchdog_ms, not after the 30 s a server has to become
 * READY. The client's call in flight completes with its bytes. */
static void server_stopped_while_recovering_is_replaced_at_once(void **state)
{
	(void)state;
	static uint8_t a[16384], back[16384];
	pattern(a, sizeof(a), 43);
	setenv("ANK_TEST_SERVE_OPTS", "--commit-ms 3600000", 1);
	arm("ananke", "recovery_sigstop");
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/stopped", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(ank_pwrite(fd, a + k * 4096, 4096, (off_t)k * 4096), 4096);
	uint64_t t0 = svc_now_ms();
	assert_int_equal(kill_server_and_wait(), 0); /* the next one stops itself */
	uint64_t took = svc_now_ms() - t0;
	assert_int_equal(ank_pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_memory_equal(back, a, sizeof(a));
	printf("replaced after %llu ms\n", (unsigned long long)took);
	assert_true(fired());
	assert_true(log_contains("stopped (SIGSTOP) before it was READY"));
	assert_true(took < 10000 * svc_slow()); /* (30 s without the watch) */
	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_null(strstr(st.json, "\"quarantined\": 1,")); /* (not the request's fault) */
	assert_int_equal(ank_close(fd), 0);
	finish();
	unsetenv("ANK_TEST_SERVE_OPTS");
}

/* ---- (i) fatal signals sent from outside ------------------------------------------ */

/* SIGSEGV and SIGABRT sent by another process (kill(2)) are not the
 * server's fault: a request in flight at several such deaths is run again
 * each time, never quarantined. Each flush sleeps 300 ms
 * (ANANKE_FAULT_FLUSH_SLEEP_MS), so an fsync is surely in flight when the
 * signal comes; four servers die in a row under it, and it returns 0. */
static void outside_fatal_signals_never_quarantine_a_request(void **state)
{
	(void)state;
	arm("ananke", NULL);
	setenv("ANANKE_FAULT_FLUSH_SLEEP_MS", "300", 1);
	int started = svc_start(&g_svc, "64M", 2);
	unsetenv("ANANKE_FAULT_FLUSH_SLEEP_MS");
	assert_int_equal(started, 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	static uint8_t a[8192];
	pattern(a, sizeof(a), 31);
	int fd = ank_open("/s", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, a, sizeof(a)), (ssize_t)sizeof(a));
	fflush(stdout);
	pid_t killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		/* four deaths while the fsync is in flight */
		struct svc_status st;
		long long last = 0;
		for (int k = 0; k < 4; k++) {
			uint64_t t0 = svc_now_ms();
			while ((svc_status(&g_svc, &st) < 0 || st.server_pid <= 0 ||
				st.server_pid == last || strcmp(st.state, "running") != 0) &&
			       svc_now_ms() - t0 < 20000)
				svc_sleep_ms(5);
			svc_sleep_ms(120); /* inside the re-run fsync's 300 ms flush */
			last = st.server_pid;
			if (kill((pid_t)st.server_pid, k % 2 ? SIGABRT : SIGSEGV) < 0)
				_exit(1);
		}
		_exit(0);
	}
	assert_int_equal(ank_fsync(fd), 0);
	int kst = 0;
	assert_int_equal(waitpid(killer, &kst, 0), killer);
	assert_true(WIFEXITED(kst) && WEXITSTATUS(kst) == 0);
	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	printf("restarts %lld: %s\n", ss.restarts, ss.json);
	assert_true(ss.restarts >= 4);
	assert_non_null(strstr(ss.json, "\"quarantined\": 0,"));
	assert_false(log_contains("quarantined a request"));
	assert_int_equal(ank_close(fd), 0);
	finish();
}

int main(void)
{
	/* A directory for the fault's "fired" marker file. */
	const char *root = getenv("ANK_TEST_TMPDIR");
	snprintf(g_wrap_dir, sizeof(g_wrap_dir), "%s/ank-flt-XXXXXX",
		 root && *root ? root : "/tmp");
	if (!mkdtemp(g_wrap_dir)) {
		printf("cannot create a temporary directory\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(careful_update_points, teardown),
		cmocka_unit_test_teardown(recovery_points, teardown),
		cmocka_unit_test_teardown(sync_mode_survives_sigkill, teardown),
		cmocka_unit_test_teardown(none_mode_loses_unsynced_create, teardown),
		cmocka_unit_test_teardown(damaged_entry_is_never_used, teardown),
		cmocka_unit_test_teardown(damaged_read_answer_is_never_returned, teardown),
		cmocka_unit_test_teardown(damaged_result_is_never_returned, teardown),
		cmocka_unit_test_teardown(write_data_damaged_before_its_copy_never_reaches_the_file,
					  teardown),
		cmocka_unit_test_teardown(damaged_fd_record_of_the_server_stops_it_at_the_next_use,
					  teardown),
		cmocka_unit_test_teardown(damaged_ring_identity_stops_the_server_at_the_next_request,
					  teardown),
		cmocka_unit_test_teardown(raised_durable_tid_stops_the_server_before_the_logs_trust_it,
					  teardown),
		cmocka_unit_test_teardown(damaged_entry_under_construction_is_never_logged, teardown),
		cmocka_unit_test_teardown(damaged_replay_stops_before_its_effects_are_durable,
					  teardown),
		cmocka_unit_test_teardown(server_stopped_while_recovering_is_replaced_at_once,
					  teardown),
		cmocka_unit_test_teardown(outside_fatal_signals_never_quarantine_a_request, teardown),
		cmocka_unit_test_teardown(request_that_crashes_every_server_alone_gets_eio,
		                          teardown),
		cmocka_unit_test_teardown(crash_during_stop_is_recovered_and_nothing_is_lost,
		                          teardown),
		cmocka_unit_test_teardown(server_stopped_during_stop_is_replaced_and_nothing_is_lost,
		                          teardown),
		cmocka_unit_test_teardown(crash_after_the_unmount_is_recovered_too, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(g_once);
	rmdir(g_wrap_dir);
	return rc;
}
