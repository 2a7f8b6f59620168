/*
 * test_locks.c - advisory locks through libananke (fcntl's POSIX and OFD
 * record locks, flock), compared with Linux, and across server crashes.
 *
 * Two "actor" processes (two lock owners) each run commands sent over a
 * pipe: open, close, dup, fcntl lock commands, flock. The same seeded
 * random sequence of commands runs against the service (each actor its
 * own libananke connection) and against Linux on a directory under /tmp
 * (each actor plain syscalls); every result is compared: return value,
 * errno, and what F_GETLK reports (type, start, len, and whose pid). The
 * sequences never wait (no F_SETLKW, flock with LOCK_NB), so Linux never
 * blocks. One variant SIGKILLs the server at random points of the
 * sequence: locks held across the crash must still hold, and conflict, as
 * on Linux. Then F_SETLKW: a waiter gets the lock when its holder lets go,
 * EDEADLK when two owners would wait for each other, and a wait goes on
 * across a server crash.
 *
 * Knobs: ANK_LOCK_SEEDS (3), ANK_LOCK_OPS (400).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "service_util.h"

#define NACTORS 2
#define NSLOTS 4

enum { C_OPEN, C_CLOSE, C_DUP, C_FCNTL, C_FLOCK, C_EXIT };

struct cmd {
	int op;
	int slot, slot2;      /* C_DUP: from slot2 */
	int file;             /* C_OPEN: f0 or f1 */
	int oflags;
	int fcmd;             /* C_FCNTL: the command; C_FLOCK: the operation */
	struct flock fl;
};

struct res {
	long rc;
	int err;
	struct flock fl;
};

struct actor {
	pid_t pid;
	int to, from;         /* pipes: commands in, results out */
};

static struct svc g_svc;

/* ---- actors ------------------------------------------------------------------------ */

static void actor_loop(int in, int out, bool libc, const char *root)
{
	int slot[NSLOTS];
	for (int i = 0; i < NSLOTS; i++)
		slot[i] = -1;
	if (!libc && ank_mount(root) < 0)
		_exit(3);
	for (;;) {
		struct cmd c;
		if (read(in, &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(0);
		struct res r = {0};
		char path[PATH_MAX];
		errno = 0;
		switch (c.op) {
		case C_OPEN:
			snprintf(path, sizeof(path), "%s/f%d", libc ? root : "", c.file);
			r.rc = libc ? open(path, c.oflags | O_CREAT, 0644)
				    : ank_open(path, c.oflags | O_CREAT, 0644);
			if (r.rc >= 0) {
				slot[c.slot] = (int)r.rc;
				r.rc = 0;
			}
			break;
		case C_CLOSE:
			r.rc = libc ? close(slot[c.slot]) : ank_close(slot[c.slot]);
			slot[c.slot] = -1;
			break;
		case C_DUP:
			r.rc = libc ? dup(slot[c.slot2]) : ank_dup(slot[c.slot2]);
			if (r.rc >= 0) {
				slot[c.slot] = (int)r.rc;
				r.rc = 0;
			}
			break;
		case C_FCNTL:
			r.fl = c.fl;
			r.rc = libc ? fcntl(slot[c.slot], c.fcmd, &r.fl)
				    : ank_fcntl(slot[c.slot], c.fcmd, &r.fl);
			break;
		case C_FLOCK:
			r.rc = libc ? flock(slot[c.slot], c.fcmd) : ank_flock(slot[c.slot], c.fcmd);
			break;
		case C_EXIT:
			if (!libc)
				ank_unmount();
			_exit(0);
		}
		r.err = r.rc < 0 ? errno : 0;
		if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
	}
}

/* fork() a child joined by two pipes: the parent writes *to and reads
 * *from; in the child (0 returned) *to is the end it reads and *from the
 * end it writes. */
static pid_t fork_piped(int *to, int *from)
{
	int p1[2], p2[2];
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	close(pid == 0 ? p1[1] : p1[0]);
	close(pid == 0 ? p2[0] : p2[1]);
	*to = pid == 0 ? p1[0] : p1[1];
	*from = pid == 0 ? p2[1] : p2[0];
	return pid;
}

/* read(2) of n bytes that gives up after ms: what it read, or -1. */
static ssize_t read_within(int fd, void *buf, size_t n, unsigned ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, (int)ms) != 1)
		return -1;
	return read(fd, buf, n);
}

static void actors_start(struct actor *a, bool libc, const char *root)
{
	for (int k = 0; k < NACTORS; k++) {
		int to, from;
		pid_t pid = fork_piped(&to, &from);
		if (pid == 0)
			actor_loop(to, from, libc, root);
		a[k] = (struct actor){.pid = pid, .to = to, .from = from};
	}
}

static struct res actor_run(const struct actor *a, const struct cmd *c)
{
	struct res r;
	assert_int_equal(write(a->to, c, sizeof(*c)), (ssize_t)sizeof(*c));
	/* (a call that never answers is a failure, not a wait for ever) */
	ssize_t n = read_within(a->from, &r, sizeof(r), 60000 * svc_slow());
	if (n != (ssize_t)sizeof(r)) {
		printf("actor %d did not answer (%zd)\n", (int)a->pid, n);
		fail();
	}
	return r;
}

static void actors_stop(struct actor *a)
{
	struct cmd c = {.op = C_EXIT};
	for (int k = 0; k < NACTORS; k++) {
		assert_int_equal(write(a[k].to, &c, sizeof(c)), (ssize_t)sizeof(c));
		int st;
		assert_int_equal(svc_wait(a[k].pid, 30000 * svc_slow(), &st), 0);
		assert_int_equal(svc_exit_code(st), 0);
		close(a[k].to);
		close(a[k].from);
	}
}

/* ---- the random sequence ------------------------------------------------------------ */

static uint64_t rng;
static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(rng >> 33) % n;
}

struct step {
	int actor;
	struct cmd c;
};

/* Commands that never wait: locks on small ranges (so they overlap) of
 * two files, through up to four fds per actor. */
static void gen(struct step *s, unsigned n, uint64_t seed)
{
	bool open_[NACTORS][NSLOTS] = {{false}};
	rng = seed;
	for (unsigned i = 0; i < n; i++) {
		int a = (int)rnd(NACTORS), sl = (int)rnd(NSLOTS);
		struct cmd c = {.slot = sl};
		if (!open_[a][sl] || rnd(12) == 0) {
			if (open_[a][sl]) {
				c.op = C_CLOSE;
				open_[a][sl] = false;
			} else if (rnd(4) == 0 && open_[a][(sl + 1) % NSLOTS]) {
				c.op = C_DUP;
				c.slot2 = (sl + 1) % NSLOTS;
				open_[a][sl] = true;
			} else {
				static const int fl[] = {O_RDWR, O_RDWR, O_RDONLY, O_WRONLY};
				c.op = C_OPEN;
				c.file = (int)rnd(2);
				c.oflags = fl[rnd(4)];
				open_[a][sl] = true;
			}
		} else if (rnd(5) == 0) {
			static const int ops[] = {LOCK_SH | LOCK_NB, LOCK_EX | LOCK_NB, LOCK_UN,
						  LOCK_SH | LOCK_NB, 7};
			c.op = C_FLOCK;
			c.fcmd = ops[rnd(5)];
		} else {
			static const int cmds[] = {F_SETLK, F_SETLK, F_GETLK, F_OFD_SETLK, F_OFD_GETLK};
			static const short types[] = {F_RDLCK, F_WRLCK, F_UNLCK, F_WRLCK, 9};
			c.op = C_FCNTL;
			c.fcmd = cmds[rnd(5)];
			c.fl.l_type = types[rnd(rnd(10) == 0 ? 5 : 4)];
			c.fl.l_whence = rnd(8) == 0 ? (short)(SEEK_CUR + rnd(2)) : SEEK_SET;
			c.fl.l_start = (off_t)rnd(40) - (rnd(10) == 0 ? 20 : 0);
			unsigned k = rnd(10);
			c.fl.l_len = k == 0 ? 0 : k == 1 ? -(off_t)rnd(10) : (off_t)rnd(12);
			c.fl.l_pid = rnd(20) == 0 ? 1 : 0;
		}
		s[i] = (struct step){.actor = a, .c = c};
	}
}

static void describe(char *out, size_t n, const struct step *s, const struct res *r,
		     const struct actor *a)
{
	char who[16] = "";
	if (s->c.op == C_FCNTL && r->rc == 0 && r->fl.l_type != F_UNLCK &&
	    (s->c.fcmd == F_GETLK || s->c.fcmd == F_OFD_GETLK)) {
		int w = -1;
		for (int k = 0; k < NACTORS; k++)
			if (r->fl.l_pid == a[k].pid)
				w = k;
		snprintf(who, sizeof(who), "%s", r->fl.l_pid == -1 ? "ofd" : w == 0 ? "A" : w == 1 ? "B" : "?");
	}
	snprintf(out, n,
		 "actor %c op %d slot %d cmd %d type %d whence %d start %lld len %lld -> rc %ld "
		 "err %d | type %d whence %d start %lld len %lld who %s",
		 'A' + s->actor, s->c.op, s->c.slot, s->c.fcmd, s->c.fl.l_type, s->c.fl.l_whence,
		 (long long)s->c.fl.l_start, (long long)s->c.fl.l_len, r->rc, r->err,
		 r->fl.l_type, r->fl.l_whence, (long long)r->fl.l_start, (long long)r->fl.l_len, who);
}

static void kill_server(void)
{
	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_true(st.server_pid > 0);
	assert_int_equal(kill((pid_t)st.server_pid, SIGKILL), 0);
}

/* Run n steps on Linux and on the service (killing its server `kills`
 * times at random steps); 0 when every result matched. */
static int compare(uint64_t seed, unsigned n, unsigned kills)
{
	struct step *s = calloc(n, sizeof(*s));
	char (*lines)[256] = calloc(n, sizeof(*lines));
	assert_non_null(s);
	assert_non_null(lines);
	gen(s, n, seed);
	char root[] = "/tmp/ank-locks-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct actor a[NACTORS];
	actors_start(a, true, root);
	for (unsigned i = 0; i < n; i++) {
		struct res r = actor_run(&a[s[i].actor], &s[i].c);
		describe(lines[i], sizeof(lines[i]), &s[i], &r, a);
	}
	actors_stop(a);
	for (int f = 0; f < 2; f++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/f%d", root, f);
		unlink(p);
	}
	rmdir(root);

	/* the files may exist from an earlier seed: start from none */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	ank_unlink("/f0");
	ank_unlink("/f1");
	ank_unmount();
	actors_start(a, false, g_svc.sock);
	int bad = 0;
	rng = seed ^ 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < n && !bad; i++) {
		if (kills && rnd(n / kills) == 0)
			kill_server();
		struct res r = actor_run(&a[s[i].actor], &s[i].c);
		char line[256];
		describe(line, sizeof(line), &s[i], &r, a);
		if (strcmp(line, lines[i])) {
			if (getenv("ANK_LOCK_TRACE"))
				for (unsigned j = 0; j < i; j++)
					printf("  %4u %s\n", j, lines[j]);
			printf("seed %llu step %u differs\n  linux : %s\n  ananke: %s\n",
			       (unsigned long long)seed, i, lines[i], line);
			bad = 1;
		}
	}
	actors_stop(a);
	free(s);
	free(lines);
	return bad;
}

/* ---- tests ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	return svc_start(&g_svc, "64M", 2) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	(void)ank_unmount(); /* after a failed assertion; EINVAL when not mounted */
	svc_destroy(&g_svc);
	return 0;
}

static void stop_clean(void)
{
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
}

static void locks_match_linux(void **state)
{
	(void)state;
	unsigned seeds = (unsigned)svc_env_ulong("ANK_LOCK_SEEDS", 3);
	unsigned ops = (unsigned)svc_env_ulong("ANK_LOCK_OPS", 400);
	int bad = 0;
	for (unsigned k = 0; k < seeds; k++)
		bad += compare(100 + k, ops, 0);
	printf("%u seeds x %u lock calls by two processes: %d differed from Linux\n", seeds, ops,
	       bad);
	assert_int_equal(bad, 0);
	stop_clean();
}

static void locks_match_linux_across_server_crashes(void **state)
{
	(void)state;
	unsigned seeds = (unsigned)svc_env_ulong("ANK_LOCK_SEEDS", 3);
	unsigned ops = (unsigned)svc_env_ulong("ANK_LOCK_OPS", 400);
	int bad = 0;
	struct svc_status st0, st1;
	assert_int_equal(svc_status(&g_svc, &st0), 0);
	for (unsigned k = 0; k < seeds; k++)
		bad += compare(200 + k, ops, 4);
	assert_int_equal(svc_status(&g_svc, &st1), 0);
	printf("%u seeds x %u lock calls, %lld server crashes: %d differed from Linux\n", seeds,
	       ops, st1.restarts - st0.restarts, bad);
	assert_int_equal(bad, 0);
	assert_true(st1.restarts > st0.restarts);
	stop_clean();
}

/* A waiter, in its own process: F_SETLKW on [0, 10) of /w, then reports
 * the time it got it through the pipe and holds it until told. */
static pid_t waiter(int *report, int *release)
{
	pid_t pid = fork_piped(release, report);
	if (pid == 0) {
		if (ank_mount(g_svc.sock) < 0)
			_exit(3);
		int fd = ank_open("/w", O_RDWR | O_CREAT, 0644);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
		int rc = ank_fcntl(fd, F_SETLKW, &fl);
		char c = rc == 0 ? 'y' : 'n';
		if (write(*report, &c, 1) != 1)
			_exit(4);
		if (read(*release, &c, 1) != 1)
			_exit(5);
		ank_close(fd);
		_exit(0);
	}
	return pid;
}

static bool answered_within(int fd, unsigned ms, char *c)
{
	uint64_t until = svc_now_ms() + ms;
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (svc_now_ms() < until) {
		if (read(fd, c, 1) == 1)
			return true;
		svc_sleep_ms(5);
	}
	return false;
}

static void setlkw_waits_detects_deadlock_and_survives_a_crash(void **state)
{
	(void)state;
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/w", O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0);

	/* a waiter waits while we hold it, across a server crash */
	int report, release;
	char c;
	pid_t w = waiter(&report, &release);
	assert_false(answered_within(report, 300, &c));
	kill_server();
	assert_false(answered_within(report, 500 * svc_slow(), &c));
	/* the lock is still ours after the crash: the waiter still waits.
	 * Now it waits for us while we wait for it: EDEADLK for us. */
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 5};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0); /* ours */
	/* (the waiter holds nothing, so no deadlock yet: it is only waiting) */
	fl = (struct flock){.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0);
	assert_true(answered_within(report, 5000 * svc_slow(), &c));
	assert_int_equal(c, 'y');
	/* it holds [0, 10) now: we cannot take it */
	fl = (struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), -1);
	assert_int_equal(errno, EAGAIN);
	fl = (struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
	assert_int_equal(ank_fcntl(fd, F_GETLK, &fl), 0);
	assert_int_equal(fl.l_type, F_WRLCK);
	assert_int_equal(fl.l_pid, w);
	assert_int_equal(fl.l_start, 0);
	assert_int_equal(fl.l_len, 10);
	/* a bad fd is EBADF before a bad type is EINVAL, as fcntl(2) looks
	 * the fd up first */
	fl = (struct flock){.l_type = F_UNLCK, .l_whence = SEEK_SET};
	errno = 0;
	assert_int_equal(ank_fcntl(1000, F_GETLK, &fl), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fcntl(1000, F_GETLK, &fl), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(ank_fcntl(fd, F_GETLK, &fl), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(write(release, "x", 1), 1);
	int st;
	assert_int_equal(svc_wait(w, 10000 * svc_slow(), &st), 0);
	assert_int_equal(svc_exit_code(st), 0);
	close(report);
	close(release);
	/* its close released it */
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0);

	/* deadlock: a second process holds [100, 110) and waits for our
	 * [0, 10); our wait for its range must fail with EDEADLK */
	int p1[2];
	assert_int_equal(pipe(p1), 0);
	pid_t b = svc_fork();
	assert_true(b >= 0);
	if (b == 0) {
		if (ank_mount(g_svc.sock) < 0)
			_exit(3);
		int bfd = ank_open("/w", O_RDWR, 0);
		struct flock bl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
		if (ank_fcntl(bfd, F_SETLK, &bl) < 0)
			_exit(6);
		if (write(p1[1], "h", 1) != 1)
			_exit(4);
		bl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
		_exit(ank_fcntl(bfd, F_SETLKW, &bl) == 0 ? 0 : 7);
	}
	close(p1[1]);
	assert_int_equal(read_within(p1[0], &c, 1, 30000 * svc_slow()), 1);
	close(p1[0]);
	svc_sleep_ms(200); /* let it start waiting */
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 10};
	assert_int_equal(ank_fcntl(fd, F_SETLKW, &fl), -1);
	assert_int_equal(errno, EDEADLK);
	/* we let go: it gets [0, 10) and exits (its locks go with it) */
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(svc_wait(b, 10000 * svc_slow(), &st), 0);
	assert_int_equal(svc_exit_code(st), 0);
	fd = ank_open("/w", O_RDWR, 0);
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0);
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_clean();
}

/* On Linux a process's POSIX locks are gone by the time its exit can be
 * waited for. The service hears of a client's end when its connection
 * closes, which here a grandchild holding the inherited connection delays
 * for as long as it lives: the lock of the reaped child must still be gone
 * at once (its process no longer exists). */
static void locks_of_a_reaped_process_are_gone_at_once(void **state)
{
	(void)state;
	assert_int_equal(ank_mount(g_svc.sock), 0);
	int fd = ank_open("/r", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = svc_fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		if (ank_mount(g_svc.sock) < 0)
			_exit(3);
		int cfd = ank_open("/r", O_RDWR, 0);
		struct flock cl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
		if (cfd < 0 || ank_fcntl(cfd, F_SETLK, &cl) < 0)
			_exit(4);
		pid_t holder = fork(); /* keeps the connection open */
		if (holder == 0) {
			sleep(5);
			_exit(0);
		}
		if (holder < 0 || write(p[1], &holder, sizeof(holder)) != sizeof(holder))
			_exit(5);
		_exit(0);
	}
	close(p[1]);
	pid_t holder = -1;
	assert_int_equal(read(p[0], &holder, sizeof(holder)), (ssize_t)sizeof(holder));
	close(p[0]);
	int st;
	assert_int_equal(svc_wait(child, 10000 * svc_slow(), &st), 0);
	assert_int_equal(svc_exit_code(st), 0);
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
	assert_int_equal(ank_fcntl(fd, F_GETLK, &fl), 0);
	assert_int_equal(fl.l_type, F_UNLCK);
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	assert_int_equal(ank_fcntl(fd, F_SETLK, &fl), 0);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0); /* (not ours: ECHILD is fine) */
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(locks_match_linux, setup, teardown),
		cmocka_unit_test_setup_teardown(locks_of_a_reaped_process_are_gone_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(locks_match_linux_across_server_crashes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(setlkw_waits_detects_deadlock_and_survives_a_crash,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
