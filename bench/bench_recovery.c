/*
 * bench_recovery.c - benchmark: how long the Ananke service takes to recover
 * from a server crash in recovery mode "ananke", against how full the
 * workers' p-logs are at the crash.
 *
 * The program starts `ananke serve IMAGE --socket S --foreground
 * --recovery=ananke --workers W --plog-size P --commit-ms MS` on a fresh
 * image (MS 600000 by default: no background commit during the run, only
 * the syncs below), and forks W client processes (one per
 * worker: a ring goes to the least loaded worker). Each client connects with
 * ank_mount(), opens its own file and keeps that fd open for the whole run.
 * Then, for every crash:
 *
 *   1. drain the p-logs: a sync makes every entry dead, then the clients log
 *      cheap entries (an lseek that moves nothing) until each log reaches
 *      the limit of its appends and reclaims the dead entries; a log counts
 *      as drained at 1/64 of its size or less (measured). A takeover keeps
 *      the old logs and their entries, so without this the fill of one
 *      crash would carry over to the next;
 *   2. wait until a standby server is ready and the last recovery ended more
 *      than 1.1 s ago (a server that dies within 1 s of READY counts as a
 *      crash loop and is restarted after a back-off), and read the p-logs'
 *      fill (`status --json`, "plogs": used and size per worker);
 *   3. every client writes k blocks of 4 KiB with ank_pwrite at offsets
 *      0..k-1 of its file, no fsync: each write is a p-log entry (4 KiB of
 *      inline data) that stays live until its transaction commits, which a
 *      long --commit-ms postpones past the crash unless the service commits
 *      by itself (it does when a log passes half full: the entries acted
 *      at the recovery show how many were still live). k is chosen so that
 *      each worker's p-log reaches the fill level (estimated from the bytes
 *      per entry measured so far) and the fill actually reached is measured
 *      again and reported;
 *   4. SIGKILL the server; the clients then each send one 4 KiB pread (the
 *      "stall" probe: the time from the kill until that request returns, as
 *      an application sees it);
 *   5. wait until "restarts" and "recoveries_total" went up by one and the
 *      state is "running"; take the newest entry of "recoveries": total_us
 *      and its phases (detect, backoff, handover, journal, plog, aim,
 *      resume) and counts (acted, ignored, modified, corrupt), and the
 *      standby's minor page faults over the recovery (/proc/PID/stat);
 *   6. every client reads its k blocks back and checks them (the unsynced
 *      writes must have survived the crash).
 *
 * The fill levels (--levels, in percent of the p-log size) are interleaved:
 * round r runs every level once, in an order rotated by r. Two untimed
 * crashes come first (--warmup). The report gives, per level, the measured
 * fill, p50/p99/max of the total recovery time, the median of every phase,
 * the client stall p50/p99 and the entries replayed.
 *
 * Every process it starts is stopped: the clients exit when told to (or are
 * SIGKILLed), the service is stopped with `ananke stop` (after a fatal
 * signal: SIGTERM to the supervisor, whose servers die with it).
 *
 * Usage: bench_recovery [--crashes N] [--levels LIST] [--workers N]
 *                       [--plog-size SIZE] [--commit-ms MS] [--image-size SIZE]
 *                       [--warmup N] [--quick] [--csv FILE] [--verbose]
 *                       [--serve-opt OPT]... [--ananke PATH] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "../src/plog/plog.h" /* entry sizes only */
#include "bench_util.h"

#define PROG "bench_recovery"
#define BLK BENCH_BLK
#define MAX_WORKERS 16
#define MAX_LEVELS 8
#define STATUS_LEN 65536
#define SETTLE_NS 1100000000ull    /* after a recovery: past the crash-loop window */
#define RECOVERY_TIMEOUT_MS 30000u
#define STANDBY_TIMEOUT_MS 30000u

/* ---- configuration ---------------------------------------------------------- */

struct config {
	unsigned crashes; /* per level */
	unsigned warmup;
	unsigned workers;
	unsigned levels[MAX_LEVELS]; /* percent of the p-log size */
	unsigned nlevels;
	uint64_t plog_size;
	uint64_t image_size;
	unsigned commit_ms; /* 0: not passed (the service's default) */
	const char *serve_opt[8]; /* more options for `ananke serve` (--serve-opt) */
	unsigned nserve_opt;
	const char *ananke;
	const char *dir;
	const char *csv;
	bool quick;
};

/* ---- one crash --------------------------------------------------------------- */

struct crash {
	unsigned level; /* index into cfg.levels */
	uint64_t blocks; /* written by each client */
	uint64_t used_min, used_max; /* p-log bytes in use at the kill, over workers */
	uint64_t entries;            /* entries kept in the p-logs at the kill, all workers */
	int64_t total_us, detect_us, backoff_us, handover_us, journal_us, plog_us, aim_us,
		resume_us;
	int64_t acted, ignored, modified, corrupt;
	bool standby;
	int64_t faults;    /* minor page faults of the standby while it took over */
	uint64_t stall_ns; /* kill -> the slowest client's probe returned */
	int64_t exit_us;   /* kill -> the server process gone (its pidfd readable) */
	unsigned bad_blocks; /* blocks that read back wrong after the recovery */
};

/* ---- cleanup state (touched from signal handlers: syscalls only) -------------- */

static char g_workdir[1024];
static volatile sig_atomic_t g_workdir_made;
static struct bench_svc g_svc = {.prog = PROG};
static volatile sig_atomic_t g_client_pid[MAX_WORKERS];
static const char *volatile g_activity = "setup";

static void kill_clients(void)
{
	for (int i = 0; i < MAX_WORKERS; i++) {
		pid_t pid = (pid_t)g_client_pid[i];
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			g_client_pid[i] = 0;
		}
	}
}

/* Remove the files of the run. Async-signal-safe. */
static void remove_files(void)
{
	const char *files[] = {g_svc.image, g_svc.socket, g_svc.log};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i][0])
			unlink(files[i]);
	if (g_workdir_made && rmdir(g_workdir) == 0)
		g_workdir_made = 0;
}

static void on_fatal_signal(int sig)
{
	bench_put_fatal(PROG, sig, g_activity, "clients, the service, the image");
	kill_clients();
	bench_svc_kill(&g_svc);
	remove_files();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_signal_handlers(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
				   SIGBUS, SIGABRT, SIGFPE,  SIGILL};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the client processes ------------------------------------------------------ */

/* Controller -> client, and the reply, one SOCK_SEQPACKET record each. */
enum { CMD_FILL = 1, CMD_DRAIN, CMD_PROBE, CMD_CHECK, CMD_QUIT };

struct cmd {
	uint32_t op;
	uint32_t sync;   /* CMD_DRAIN: ank_sync first */
	uint64_t blocks; /* CMD_FILL, CMD_CHECK: 4 KiB blocks; CMD_DRAIN: lseeks */
	uint64_t tag;
};

struct reply {
	int32_t status; /* 0 or -errno */
	uint32_t bad;   /* CMD_CHECK: blocks that read back wrong */
	uint64_t done_ns; /* CMD_PROBE: CLOCK_MONOTONIC when the pread returned */
};

/* The 4 KiB block b of client k written for `tag`: its first words say so,
 * the rest is a pattern of the three. */
static void fill_block(uint8_t *buf, unsigned k, uint64_t b, uint64_t tag)
{
	uint64_t w[3] = {tag, k, b};
	memcpy(buf, w, sizeof(w));
	uint64_t x = (tag * 0x9E3779B97F4A7C15ull) ^ (b << 20) ^ k;
	for (size_t i = sizeof(w); i + 8 <= BLK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

static int client_main(unsigned k, int sock, const char *socket_path)
{
	static uint8_t buf[BLK], want[BLK];
	char path[32];
	snprintf(path, sizeof(path), "/rec%u", k);
	struct reply rp = {0};
	int fd = -1;
	if (ank_mount(socket_path) < 0) {
		rp.status = -errno;
	} else {
		fd = ank_open(path, O_CREAT | O_RDWR, 0644);
		if (fd < 0)
			rp.status = -errno;
	}
	if (send(sock, &rp, sizeof(rp), MSG_NOSIGNAL) != (ssize_t)sizeof(rp) || rp.status < 0)
		return 1;
	for (;;) {
		struct cmd c;
		ssize_t n = recv(sock, &c, sizeof(c), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(c))
			break; /* the controller is gone */
		memset(&rp, 0, sizeof(rp));
		if (c.op == CMD_QUIT) {
			if (ank_close(fd) < 0 || ank_unmount() < 0)
				rp.status = -errno;
			send(sock, &rp, sizeof(rp), MSG_NOSIGNAL);
			return rp.status < 0 ? 1 : 0;
		}
		if (c.op == CMD_FILL) {
			for (uint64_t b = 0; b < c.blocks; b++) {
				fill_block(buf, k, b, c.tag);
				if (ank_pwrite(fd, buf, BLK, (off_t)(b * BLK)) != (ssize_t)BLK) {
					rp.status = errno ? -errno : -EIO;
					break;
				}
			}
		} else if (c.op == CMD_DRAIN) {
			if (c.sync && ank_sync() < 0)
				rp.status = -errno;
			for (uint64_t i = 0; i < c.blocks && rp.status == 0; i++)
				if (ank_lseek(fd, 0, SEEK_SET) < 0)
					rp.status = -errno;
		} else if (c.op == CMD_PROBE) {
			if (ank_pread(fd, buf, BLK, 0) < 0)
				rp.status = -errno;
			rp.done_ns = bench_now_ns();
		} else if (c.op == CMD_CHECK) {
			for (uint64_t b = 0; b < c.blocks; b++) {
				fill_block(want, k, b, c.tag);
				ssize_t r = ank_pread(fd, buf, BLK, (off_t)(b * BLK));
				if (r < 0) {
					rp.status = -errno;
					break;
				}
				if (r != (ssize_t)BLK || memcmp(buf, want, BLK) != 0)
					rp.bad++;
			}
		} else {
			rp.status = -EINVAL;
		}
		if (send(sock, &rp, sizeof(rp), MSG_NOSIGNAL) != (ssize_t)sizeof(rp))
			break;
	}
	if (fd >= 0)
		ank_close(fd);
	ank_unmount();
	return 1;
}

static int g_sock[MAX_WORKERS];
static unsigned g_nclients;

/* Fork client k and wait for it to be connected with its file open. 0 or -1. */
static int client_start(unsigned k)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, PROG ": socketpair: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t ppid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Not the controller: no cleanup handlers; die with it. */
		static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
					   SIGBUS, SIGABRT, SIGFPE,  SIGILL};
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid)
			_exit(1);
		close(sv[0]);
		for (unsigned i = 0; i < k; i++)
			close(g_sock[i]);
		_exit(client_main(k, sv[1], g_svc.socket));
	}
	close(sv[1]);
	g_client_pid[k] = pid;
	g_sock[k] = sv[0];
	g_nclients = k + 1;
	struct reply rp;
	ssize_t n;
	do
		n = recv(sv[0], &rp, sizeof(rp), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rp) || rp.status < 0) {
		fprintf(stderr, PROG ": client %u could not connect and open its file: %s\n", k,
			n != (ssize_t)sizeof(rp) ? "it exited" : strerror(-rp.status));
		return -1;
	}
	return 0;
}

static int clients_send(const struct cmd *c)
{
	for (unsigned k = 0; k < g_nclients; k++)
		if (send(g_sock[k], c, sizeof(*c), MSG_NOSIGNAL) != (ssize_t)sizeof(*c)) {
			fprintf(stderr, PROG ": client %u is gone: %s\n", k, strerror(errno));
			return -1;
		}
	return 0;
}

/* Every client's reply, waiting at most timeout_ms in all. 0, or -1 when a
 * client failed, is gone or did not answer in time (message printed). */
static int clients_collect(struct reply *rps, unsigned timeout_ms)
{
	int rc = 0;
	uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (unsigned k = 0; k < g_nclients; k++) {
		struct pollfd pfd = {.fd = g_sock[k], .events = POLLIN};
		int64_t left = (int64_t)(end - bench_now_ns()) / 1000000;
		int pr;
		do
			pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
		while (pr < 0 && errno == EINTR);
		if (pr <= 0) {
			fprintf(stderr, PROG ": client %u: no reply within %u ms\n", k, timeout_ms);
			return -1;
		}
		ssize_t n;
		do
			n = recv(g_sock[k], &rps[k], sizeof(rps[k]), 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(rps[k])) {
			fprintf(stderr, PROG ": client %u is gone (no reply)\n", k);
			rc = -1;
		} else if (rps[k].status < 0) {
			fprintf(stderr, PROG ": client %u: %s\n", k, strerror(-rps[k].status));
			rc = -1;
		}
	}
	return rc;
}

/* Send c to every client, then collect every reply (within 60 s). */
static int clients_do(const struct cmd *c, struct reply *rps)
{
	if (clients_send(c) < 0)
		return -1;
	return clients_collect(rps, 60000);
}

/* Tell every client to finish, wait for them; SIGKILL the ones that do not
 * exit within 10 s. */
static int clients_stop(void)
{
	int rc = 0;
	struct cmd c = {.op = CMD_QUIT};
	struct reply rps[MAX_WORKERS];
	if (g_nclients && clients_do(&c, rps) < 0)
		rc = -1;
	for (unsigned k = 0; k < g_nclients; k++) {
		pid_t pid = (pid_t)g_client_pid[k];
		int st = 0;
		bool gone = false;
		for (int i = 0; i < 1000 && !gone; i++) {
			pid_t r = waitpid(pid, &st, WNOHANG);
			gone = r == pid || (r < 0 && errno == ECHILD);
			if (!gone)
				sleep_ms(10);
		}
		if (!gone) {
			fprintf(stderr, PROG ": client %u did not exit: SIGKILL\n", k);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			rc = -1;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			rc = -1;
		}
		g_client_pid[k] = 0;
		close(g_sock[k]);
	}
	g_nclients = 0;
	return rc;
}

/* ---- the service's status -------------------------------------------------------- */

static char g_status[STATUS_LEN];

struct svc_state {
	char state[32];
	int64_t server_pid, standby_pid, restarts, recoveries;
};

static int read_state(struct svc_state *st)
{
	int n = bench_svc_status(&g_svc, g_status, sizeof(g_status));
	if (n < 0)
		return n;
	memset(st, 0, sizeof(*st));
	if (!bench_json_str(g_status, "state", st->state, sizeof(st->state)) ||
	    !bench_json_int(g_status, "server_pid", &st->server_pid) ||
	    !bench_json_int(g_status, "standby_pid", &st->standby_pid) ||
	    !bench_json_int(g_status, "restarts", &st->restarts) ||
	    !bench_json_int(g_status, "recoveries_total", &st->recoveries))
		return -EPROTO;
	return 0;
}

/* The p-logs' fill from "plogs" in the status: bytes between tail and head,
 * the size of the entry area and the entries kept, by worker. Returns the
 * number of logs listed, or -1. */
static int read_fill(uint64_t *used, uint64_t *size, uint64_t *entries, unsigned max)
{
	if (bench_svc_status(&g_svc, g_status, sizeof(g_status)) < 0)
		return -1;
	const char *pos = NULL;
	char obj[512];
	int found = 0;
	while (bench_json_next(g_status, "plogs", &pos, obj, sizeof(obj))) {
		int64_t w, u, sz, n;
		if (!bench_json_int(obj, "worker", &w) || !bench_json_int(obj, "used", &u) ||
		    !bench_json_int(obj, "size", &sz) || !bench_json_int(obj, "entries", &n) || w < 0 ||
		    (uint64_t)w >= max)
			return -1;
		used[w] = (uint64_t)u;
		size[w] = (uint64_t)sz;
		entries[w] = (uint64_t)n;
		found++;
	}
	return found;
}

/* The newest entry of "recoveries" into c. 0 or -1. */
static int read_last_recovery(struct crash *c)
{
	const char *pos = NULL;
	char obj[2048], last[2048] = "";
	while (bench_json_next(g_status, "recoveries", &pos, obj, sizeof(obj)))
		memcpy(last, obj, sizeof(last));
	if (!last[0])
		return -1;
	struct {
		const char *key;
		int64_t *v;
	} f[] = {{"total_us", &c->total_us},   {"detect_us", &c->detect_us},
		 {"backoff_us", &c->backoff_us}, {"handover_us", &c->handover_us},
		 {"journal_us", &c->journal_us}, {"plog_us", &c->plog_us},
		 {"aim_us", &c->aim_us},         {"resume_us", &c->resume_us},
		 {"acted", &c->acted},           {"ignored", &c->ignored},
		 {"modified", &c->modified},     {"corrupt", &c->corrupt}};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!bench_json_int(last, f[i].key, f[i].v))
			return -1;
	if (!bench_json_bool(last, "standby", &c->standby))
		return -1;
	return 0;
}

/* Wait until the service runs with a ready standby, and at least
 * SETTLE_NS after `since_ns`. 0 or -1. */
static int wait_settled(struct svc_state *st, uint64_t since_ns)
{
	uint64_t t0 = bench_now_ns();
	for (;;) {
		int rc = read_state(st);
		bool ok = rc == 0 && !strcmp(st->state, "running") && st->standby_pid > 0 &&
			  st->standby_pid != st->server_pid && st->server_pid > 0;
		if (ok && bench_now_ns() >= since_ns + SETTLE_NS)
			return 0;
		if (bench_svc_reap(&g_svc, NULL)) {
			fprintf(stderr, PROG ": the service exited\n");
			bench_svc_show_log(&g_svc, 20);
			return -1;
		}
		if (bench_now_ns() - t0 > (uint64_t)STANDBY_TIMEOUT_MS * 1000000ull) {
			fprintf(stderr, PROG ": no ready standby after %u ms (%s)\n", STANDBY_TIMEOUT_MS,
				rc < 0 ? strerror(-rc) : st->state);
			bench_svc_show_log(&g_svc, 20);
			return -1;
		}
		sleep_ms(ok ? 10 : 5);
	}
}

/* ---- one crash ----------------------------------------------------------------------- */

/* p-log bytes per 4 KiB write entry, measured by every fill of 32 blocks
 * or more (the start value only steers the first fill). */
static double g_entry_bytes = PLOG_DESC_SIZE + PLOG_OP_SIZE + BLK;

/* Minor page faults of process pid so far (/proc/PID/stat), or -1. */
static int64_t minor_faults(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	/* after the command: state ppid pgrp session tty_nr tpgid flags minflt */
	for (int field = 0; p && field < 8; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoll(p + 1, NULL, 10) : -1;
}

/* Wait until the process pid is gone (pidfd), at most timeout_ms. */
static void wait_gone(pid_t pid, unsigned timeout_ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return; /* already gone */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (poll(&pfd, 1, (int)timeout_ms) < 0 && errno == EINTR)
		;
	close(fd);
}

/* Bring every p-log down to almost nothing: a sync makes every entry dead
 * (its effects durable; the clients' fds keep one live entry each), and
 * each client then repeats an lseek that leaves its offset as it is (an
 * fd-only entry of 256 bytes that supersedes the previous one) until the
 * log reaches the limit of its appends (15/16 of it) and reclaims the dead
 * entries in front of its head. The number of lseeks is computed to end
 * just after that point. A log is drained when it holds at most size/64
 * bytes (measured). 0 or -1. */
static int drain(const struct config *cfg)
{
	uint64_t used[MAX_WORKERS], size[MAX_WORKERS], entries[MAX_WORKERS];
	struct reply rps[MAX_WORKERS];
	struct cmd cm = {.op = CMD_DRAIN, .sync = 1};
	for (unsigned round = 0; round < 100; round++) {
		if (clients_do(&cm, rps) < 0)
			return -1;
		if (read_fill(used, size, entries, MAX_WORKERS) != (int)cfg->workers) {
			fprintf(stderr, PROG ": cannot read the p-logs' fill\n");
			return -1;
		}
		bool drained = true;
		for (unsigned w = 0; w < cfg->workers; w++)
			drained &= used[w] <= size[w] / 64;
		if (drained)
			return 0;
		/* Every client is on its own worker but which one is unknown:
		 * enough lseeks for the fullest log, then a few more. */
		uint64_t most = 0;
		for (unsigned w = 0; w < cfg->workers; w++) {
			uint64_t limit = size[w] - size[w] / 16;
			uint64_t left = used[w] < limit ? (limit - used[w]) / 256 : 0;
			most = left > most ? left : most;
		}
		cm = (struct cmd){.op = CMD_DRAIN, .blocks = most + 4};
	}
	fprintf(stderr, PROG ": the p-logs do not drain (");
	for (unsigned w = 0; w < cfg->workers; w++)
		fprintf(stderr, "%s%" PRIu64 " of %" PRIu64 " bytes used", w ? ", " : "", used[w],
			size[w]);
	fprintf(stderr, ")\n");
	bench_svc_show_log(&g_svc, 20);
	return -1;
}

/* Fill the p-logs to cfg->levels[level], crash the server, wait for the
 * recovery and check the data. *since_ns: when the previous recovery was
 * seen complete (updated). 0 or -1 (message printed). */
static int one_crash(const struct config *cfg, unsigned level, uint64_t tag, uint64_t *since_ns,
		     struct crash *c)
{
	struct svc_state st, now;
	uint64_t used0[MAX_WORKERS] = {0}, used1[MAX_WORKERS] = {0}, size[MAX_WORKERS] = {0};
	uint64_t entries[MAX_WORKERS] = {0};
	struct reply rps[MAX_WORKERS];
	memset(c, 0, sizeof(*c));
	c->level = level;

	g_activity = "draining the p-logs";
	if (drain(cfg) < 0)
		return -1;
	g_activity = "waiting for a ready standby";
	if (wait_settled(&st, *since_ns) < 0)
		return -1;
	int nl = read_fill(used0, size, entries, MAX_WORKERS);
	if (nl != (int)cfg->workers) {
		fprintf(stderr, PROG ": the status lists %d p-logs, expected %u%s\n", nl,
			cfg->workers, nl < 0 ? " (no \"plogs\": this service is too old)" : "");
		return -1;
	}
	uint64_t base = 0;
	for (unsigned w = 0; w < cfg->workers; w++)
		if (used0[w] > base)
			base = used0[w];
	uint64_t target = size[0] / 100 * cfg->levels[level];
	c->blocks = target > base ? (uint64_t)((double)(target - base) / g_entry_bytes) : 0;

	g_activity = "filling the p-logs";
	struct cmd cm = {.op = CMD_FILL, .blocks = c->blocks, .tag = tag};
	if (c->blocks && clients_do(&cm, rps) < 0)
		return -1;
	if (read_fill(used1, size, entries, MAX_WORKERS) != (int)cfg->workers) {
		fprintf(stderr, PROG ": cannot read the p-logs' fill\n");
		return -1;
	}
	c->used_min = UINT64_MAX;
	double est = 0;
	for (unsigned w = 0; w < cfg->workers; w++) {
		c->entries += entries[w];
		c->used_min = used1[w] < c->used_min ? used1[w] : c->used_min;
		c->used_max = used1[w] > c->used_max ? used1[w] : c->used_max;
		double per = c->blocks ? (double)(used1[w] - used0[w]) / (double)c->blocks : 0;
		if (c->blocks >= 32 && (per < g_entry_bytes / 2 || per > g_entry_bytes * 2)) {
			fprintf(stderr,
				PROG ": worker %u's p-log grew by %.0f bytes per 4 KiB write (expected "
				     "about %.0f): the clients are not one per worker\n",
				w, per, g_entry_bytes);
			return -1;
		}
		est += per / cfg->workers;
	}
	if (c->blocks >= 32)
		g_entry_bytes = est;

	/* The crash. */
	g_activity = "crash and recovery";
	if (read_state(&st) < 0 || st.server_pid <= 0) {
		fprintf(stderr, PROG ": cannot read the server pid\n");
		return -1;
	}
	int64_t faults0 = minor_faults((pid_t)st.standby_pid);
	uint64_t t_kill = bench_now_ns();
	if (kill((pid_t)st.server_pid, SIGKILL) < 0) {
		fprintf(stderr, PROG ": kill %" PRId64 ": %s\n", st.server_pid, strerror(errno));
		return -1;
	}
	wait_gone((pid_t)st.server_pid, 5000);
	c->exit_us = (int64_t)((bench_now_ns() - t_kill) / 1000);
	/* The probes wait in the rings until the new server serves them. */
	cm = (struct cmd){.op = CMD_PROBE};
	if (clients_send(&cm) < 0 || clients_collect(rps, RECOVERY_TIMEOUT_MS) < 0) {
		fprintf(stderr, PROG ": the clients' requests did not complete after the crash\n");
		bench_svc_show_log(&g_svc, 20);
		return -1;
	}
	for (unsigned k = 0; k < g_nclients; k++)
		if (rps[k].done_ns - t_kill > c->stall_ns)
			c->stall_ns = rps[k].done_ns - t_kill;
	for (uint64_t t0 = bench_now_ns();;) {
		int rc = read_state(&now);
		if (rc == 0 && now.recoveries > st.recoveries && now.restarts > st.restarts &&
		    !strcmp(now.state, "running"))
			break;
		if (bench_now_ns() - t0 > (uint64_t)RECOVERY_TIMEOUT_MS * 1000000ull) {
			fprintf(stderr, PROG ": no recovery recorded %u ms after the kill (%s)\n",
				RECOVERY_TIMEOUT_MS, rc < 0 ? strerror(-rc) : now.state);
			bench_svc_show_log(&g_svc, 20);
			return -1;
		}
		sleep_ms(2);
	}
	*since_ns = bench_now_ns();
	int64_t faults1 = now.server_pid == st.standby_pid ? minor_faults((pid_t)now.server_pid) : -1;
	c->faults = faults0 >= 0 && faults1 >= faults0 ? faults1 - faults0 : -1;
	if (now.recoveries != st.recoveries + 1 || now.restarts != st.restarts + 1) {
		fprintf(stderr, PROG ": %" PRId64 " recoveries and %" PRId64 " restarts for one kill\n",
			now.recoveries - st.recoveries, now.restarts - st.restarts);
		return -1;
	}
	if (read_last_recovery(c) < 0) {
		fprintf(stderr, PROG ": cannot read the newest recovery from the status\n");
		return -1;
	}

	/* The unsynced writes survived. */
	g_activity = "checking the data";
	cm = (struct cmd){.op = CMD_CHECK, .blocks = c->blocks, .tag = tag};
	if (c->blocks && clients_do(&cm, rps) < 0)
		return -1;
	for (unsigned k = 0; k < g_nclients; k++)
		c->bad_blocks += c->blocks ? rps[k].bad : 0;
	return 0;
}

/* ---- report ------------------------------------------------------------------------- */

static const char *level_name(unsigned pct)
{
	return pct == 0 ? "empty" : pct == 50 ? "half" : pct >= 90 ? "full" : "";
}

static void fmt_ms(int64_t us, char *out, size_t n)
{
	if (us < 10000)
		snprintf(out, n, "%.2f", (double)us / 1000.0);
	else
		snprintf(out, n, "%.1f", (double)us / 1000.0);
}

static double median_of(const struct crash *cs, unsigned n, unsigned level, size_t off)
{
	double *v = calloc(n ? n : 1, sizeof(*v));
	unsigned k = 0;
	if (!v)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (cs[i].level == level)
			v[k++] = (double)*(const int64_t *)((const char *)&cs[i] + off);
	double m = bench_median(v, k);
	free(v);
	return m;
}

static void print_report(const struct config *cfg, const struct crash *cs, unsigned n,
			 uint64_t plog_size)
{
	char t[8][32], psz[32];
	bench_fmt_size(plog_size, psz, sizeof(psz));
	printf("\nRecovery time by p-log fill (%u crashes per level; %u workers, p-log %s per "
	       "worker):\n\n",
	       cfg->crashes, cfg->workers, psz);
	printf("| level    | p-log fill, median [min .. max] | 4K writes per client | entries "
	       "acted | total p50 ms | total p99 ms | max ms | client stall p50 / p99 ms |\n");
	printf("|----------|-------------------------------:|---------------------:|--------------:|"
	       "-------------:|-------------:|-------:|--------------------------:|\n");
	uint64_t *tot = calloc(n ? n : 1, sizeof(*tot)), *stall = calloc(n ? n : 1, sizeof(*stall));
	double *fill = calloc(2 * (size_t)n + 1, sizeof(*fill)); /* two per crash */
	if (!tot || !stall || !fill) {
		fprintf(stderr, PROG ": out of memory\n");
		free(tot);
		free(stall);
		free(fill);
		return;
	}
	bool full_met[2] = {true, true};
	bool have_full = false;
	for (unsigned l = 0; l < cfg->nlevels; l++) {
		unsigned k = 0, nf = 0;
		double fmin = 1e9, fmax = 0;
		uint64_t blocks = 0;
		for (unsigned i = 0; i < n; i++) {
			if (cs[i].level != l)
				continue;
			tot[k] = (uint64_t)cs[i].total_us;
			stall[k] = cs[i].stall_ns / 1000;
			k++;
			double lo = 100.0 * (double)cs[i].used_min / (double)plog_size;
			double hi = 100.0 * (double)cs[i].used_max / (double)plog_size;
			fill[nf++] = lo;
			fill[nf++] = hi;
			fmin = lo < fmin ? lo : fmin;
			fmax = hi > fmax ? hi : fmax;
			blocks = cs[i].blocks > blocks ? cs[i].blocks : blocks;
		}
		if (!k)
			continue;
		qsort(tot, k, sizeof(*tot), bench_cmp_u64);
		qsort(stall, k, sizeof(*stall), bench_cmp_u64);
		double fmed = bench_median(fill, nf);
		uint64_t p50 = bench_percentile(tot, k, 0.50), p99 = bench_percentile(tot, k, 0.99);
		fmt_ms((int64_t)p50, t[0], sizeof(t[0]));
		fmt_ms((int64_t)p99, t[1], sizeof(t[1]));
		fmt_ms((int64_t)tot[k - 1], t[2], sizeof(t[2]));
		fmt_ms((int64_t)bench_percentile(stall, k, 0.50), t[3], sizeof(t[3]));
		fmt_ms((int64_t)bench_percentile(stall, k, 0.99), t[4], sizeof(t[4]));
		char lname[32], fcell[64], acted[32], stall_cell[72];
		snprintf(lname, sizeof(lname), "%u%% %s", cfg->levels[l], level_name(cfg->levels[l]));
		snprintf(fcell, sizeof(fcell), "%.1f%% [%.1f .. %.1f]", fmed, fmin, fmax);
		snprintf(acted, sizeof(acted), "%.0f",
			 median_of(cs, n, l, offsetof(struct crash, acted)));
		snprintf(stall_cell, sizeof(stall_cell), "%s / %s", t[3], t[4]);
		printf("| %-8s | %30s | %20" PRIu64 " | %13s | %12s | %12s | %6s | %25s |\n",
		       lname, fcell, blocks, acted, t[0], t[1], t[2], stall_cell);
		if (cfg->levels[l] >= 90) {
			have_full = true;
			full_met[0] &= p50 <= 5000;
			full_met[1] &= p99 <= 20000;
		}
	}
	printf("\ntotal: the supervisor's recovery report (death -> every client re-attached); "
	       "p50/p99 nearest rank.\nclient stall: SIGKILL -> a pread sent right after the "
	       "server died returned (slowest client).\nentries acted: p-log entries AIM "
	       "replayed (median per crash, both workers).\n");

	printf("\nMedian of each phase per level, ms (and counts):\n\n");
	printf("| level    | exit | detect | backoff | handover | journal | p-log |   AIM | resume "
	       "|  total | ignored | modified | page faults |\n");
	printf("|----------|-----:|-------:|--------:|---------:|--------:|------:|------:|-------:|"
	       "-------:|--------:|---------:|------------:|\n");
	static const size_t offs[] = {
		offsetof(struct crash, exit_us),
		offsetof(struct crash, detect_us),  offsetof(struct crash, backoff_us),
		offsetof(struct crash, handover_us), offsetof(struct crash, journal_us),
		offsetof(struct crash, plog_us),    offsetof(struct crash, aim_us),
		offsetof(struct crash, resume_us),  offsetof(struct crash, total_us)};
	for (unsigned l = 0; l < cfg->nlevels; l++) {
		static const int wd[] = {4, 6, 7, 8, 7, 5, 5, 6, 6};
		char lname[32];
		snprintf(lname, sizeof(lname), "%u%% %s", cfg->levels[l], level_name(cfg->levels[l]));
		printf("| %-8s |", lname);
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			char x[32];
			fmt_ms((int64_t)median_of(cs, n, l, offs[i]), x, sizeof(x));
			printf(" %*s |", wd[i], x);
		}
		printf(" %7.0f | %8.0f | %11.0f |\n",
		       median_of(cs, n, l, offsetof(struct crash, ignored)),
		       median_of(cs, n, l, offsetof(struct crash, modified)),
		       median_of(cs, n, l, offsetof(struct crash, faults)));
	}
	printf("\nexit: SIGKILL -> the server process is gone (its pidfd readable), as this "
	       "program sees it;\n      the supervisor's total starts about there (when it "
	       "learns of the death).\n"
	       "The other phases are the supervisor's report:\n"
	       "  detect   death -> process reaped      backoff  crash-loop delay\n"
	       "  handover TAKEOVER -> READY, minus the server's own phases\n"
	       "  journal  the mount, journal replay included\n"
	       "  p-log    read, verify and merge the p-logs\n"
	       "  AIM      the replay by the rule table (and whatever else the service counts "
	       "there)\n"
	       "  resume   READY -> every client re-attached\n"
	       "Medians are taken one by one: they need not add up to the median total.\n"
	       "page faults: minor faults of the standby from the kill until the recovery was "
	       "seen complete\n(/proc/PID/stat).\n");

	/* anomalies */
	unsigned fresh = 0, backoff = 0, corrupt = 0, bad = 0, committed = 0;
	for (unsigned i = 0; i < n; i++) {
		fresh += !cs[i].standby;
		backoff += cs[i].backoff_us > 1000;
		corrupt += cs[i].corrupt > 0;
		bad += cs[i].bad_blocks > 0;
		committed += cs[i].blocks && cs[i].acted < (int64_t)(cs[i].blocks * cfg->workers);
	}
	printf("\nchecks: %u of %u crashes recovered by a fresh exec instead of the standby; "
	       "%u with a back-off over 1 ms;\n        %u with corrupt p-log entries; %u with "
	       "data that did not read back after the recovery;\n        %u where a commit "
	       "before the crash had made some of the fill durable (fewer entries\n        "
	       "acted than writes; the service commits when a log passes half full)\n",
	       fresh, n, backoff, corrupt, bad, committed);
	if (have_full)
		printf("\ntargets with a full p-log: recovery p50 <= 5 ms: %s; p99 <= 20 ms: %s\n",
		       full_met[0] ? "MET" : "NOT MET", full_met[1] ? "MET" : "NOT MET");
	free(tot);
	free(stall);
	free(fill);
}

static int write_csv(const char *path, const struct config *cfg, const struct crash *cs,
		     unsigned n, uint64_t plog_size)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "crash,level_pct,writes_per_client,used_min,used_max,plog_size,entries,exit_us,"
		   "total_us,detect_us,backoff_us,handover_us,journal_us,plog_us,aim_us,resume_us,acted,"
		   "ignored,modified,corrupt,standby,stall_us,bad_blocks\n");
	for (unsigned i = 0; i < n; i++) {
		const struct crash *c = &cs[i];
		fprintf(f,
			"%u,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64
			",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
			",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
			",%d,%" PRIu64 ",%u\n",
			i + 1, cfg->levels[c->level], c->blocks, c->used_min, c->used_max, plog_size,
			c->entries, c->exit_us, c->total_us, c->detect_us, c->backoff_us,
			c->handover_us, c->journal_us, c->plog_us, c->aim_us, c->resume_us, c->acted,
			c->ignored, c->modified, c->corrupt, c->standby ? 1 : 0, c->stall_ns / 1000,
			c->bad_blocks);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"  --crashes N        crashes per fill level (default 100)\n"
		"  --levels LIST      p-log fill levels in percent, comma-separated (default\n"
		"                     0,50,92: empty, half, full; appends stop at 15/16 of the\n"
		"                     log, and a log full of live entries forces a sync, so\n"
		"                     'full' stays below 93.75)\n"
		"  --workers N        server workers = client processes (default 2)\n"
		"  --plog-size SIZE   p-log per worker, `serve --plog-size` (default 4M)\n"
		"  --commit-ms MS     background commit interval, `serve --commit-ms` (default\n"
		"                     600000: the writes of a fill stay live until the crash;\n"
		"                     0: the service's default, 5000)\n"
		"  --image-size SIZE  the image (default 1G)\n"
		"  --serve-opt OPT    one more option for `ananke serve` (up to 8), e.g.\n"
		"                     --serve-opt=--plog-commit-at=0: only a full log commits\n"
		"  --warmup N         untimed crashes first (default 2)\n"
		"  --quick            10 crashes per level, 1 warm-up, 256M image\n"
		"  --csv FILE         every crash's figures as CSV\n"
		"  --verbose          one line per crash\n"
		"  --ananke PATH      the ananke program (default: next to this program)\n"
		"  --dir DIR          where the image and the socket live (default: a new\n"
		"                     temp dir under /var/tmp)\n");
}

static int parse_levels(const char *list, struct config *cfg)
{
	cfg->nlevels = 0;
	const char *p = list;
	while (*p) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (errno || end == p || v > 99 || (*end && *end != ',') ||
		    cfg->nlevels == MAX_LEVELS) {
			fprintf(stderr, PROG ": --levels: percentages 0..99, at most %d\n", MAX_LEVELS);
			return -1;
		}
		cfg->levels[cfg->nlevels++] = (unsigned)v;
		p = *end ? end + 1 : end;
	}
	return cfg->nlevels ? 0 : -1;
}

/* Does `ananke serve` know opt? (its --help mentions it) */
static bool serve_has_option(const struct config *cfg, const char *opt, const char *tmp)
{
	char *argv[] = {(char *)cfg->ananke, "serve", "--help", NULL};
	unlink(tmp);
	if (bench_run_cmd(PROG, argv, false, tmp) != 0)
		return false;
	FILE *f = fopen(tmp, "r");
	unlink(tmp);
	if (!f)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, opt) != NULL;
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	struct config cfg = {.workers = 2, .plog_size = 4ull << 20, .commit_ms = 600000};
	bool set_crashes = false, set_image = false, set_warmup = false, verbose = false;
	if (parse_levels("0,50,92", &cfg) < 0)
		return 2;
	for (int i = 1; i < argc; i++) {
		char opt[64];
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool bad = false;
		bool inline_value = bench_split_opt(&a, &v, opt, sizeof(opt)); /* --name=value */
		if (!strcmp(a, "--quick")) {
			cfg.quick = true;
			continue;
		} else if (!strcmp(a, "--verbose")) {
			verbose = true;
			continue;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, PROG ": %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		unsigned u;
		if (!strcmp(a, "--crashes")) {
			bad = bench_parse_uint(v, &cfg.crashes) < 0 || cfg.crashes > 100000;
			set_crashes = true;
		} else if (!strcmp(a, "--levels")) {
			if (parse_levels(v, &cfg) < 0)
				return 2;
		} else if (!strcmp(a, "--workers")) {
			bad = bench_parse_uint(v, &cfg.workers) < 0 || cfg.workers > MAX_WORKERS;
		} else if (!strcmp(a, "--plog-size")) {
			bad = bench_parse_size(v, &cfg.plog_size) < 0 || cfg.plog_size < 65536 ||
			      cfg.plog_size % 64;
		} else if (!strcmp(a, "--commit-ms")) {
			bad = strcmp(v, "0") && bench_parse_uint(v, &u) < 0;
			cfg.commit_ms = strcmp(v, "0") ? u : 0;
		} else if (!strcmp(a, "--image-size")) {
			bad = bench_parse_size(v, &cfg.image_size) < 0 || cfg.image_size % BLK;
			set_image = true;
		} else if (!strcmp(a, "--warmup")) {
			bad = strcmp(v, "0") && bench_parse_uint(v, &cfg.warmup) < 0;
			cfg.warmup = strcmp(v, "0") ? cfg.warmup : 0;
			set_warmup = true;
		} else if (!strcmp(a, "--csv")) {
			cfg.csv = v;
		} else if (!strcmp(a, "--serve-opt")) {
			bad = cfg.nserve_opt == sizeof(cfg.serve_opt) / sizeof(cfg.serve_opt[0]);
			if (!bad)
				cfg.serve_opt[cfg.nserve_opt++] = v;
		} else if (!strcmp(a, "--ananke")) {
			cfg.ananke = v;
		} else if (!strcmp(a, "--dir")) {
			cfg.dir = v;
		} else {
			fprintf(stderr, PROG ": unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, PROG ": bad value for %s: %s\n", a, v);
			return 2;
		}
		if (!inline_value)
			i++;
	}
	if (!set_crashes)
		cfg.crashes = cfg.quick ? 10 : 100;
	if (!set_image)
		cfg.image_size = cfg.quick ? 256ull << 20 : 1ull << 30;
	if (!set_warmup)
		cfg.warmup = cfg.quick ? 1 : 2;
	if (!cfg.ananke)
		cfg.ananke = bench_default_ananke();
	if (access(cfg.ananke, X_OK) < 0) {
		fprintf(stderr, PROG ": cannot run %s: %s (build it with `make`, or --ananke)\n",
			cfg.ananke, strerror(errno));
		return 1;
	}
	/* Each client's file holds the blocks of a full p-log. */
	if (cfg.plog_size * 2 * cfg.workers > cfg.image_size / 2) {
		fprintf(stderr, PROG ": --image-size is too small for the clients' files\n");
		return 2;
	}

	/* work directory */
	const char *base = cfg.dir ? cfg.dir : "/var/tmp";
	if (cfg.dir && mkdir(cfg.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", cfg.dir, strerror(errno));
		return 1;
	}
	if (snprintf(g_workdir, sizeof(g_workdir), "%s/bench_recovery.XXXXXX", base) >= 80) {
		fprintf(stderr, PROG ": --dir path too long for a socket path\n");
		return 2;
	}
	install_signal_handlers();
	if (!mkdtemp(g_workdir)) {
		fprintf(stderr, PROG ": cannot create a directory in %s: %s\n", base,
			strerror(errno));
		return 1;
	}
	g_workdir_made = 1;
	g_svc.ananke = cfg.ananke;
	snprintf(g_svc.image, sizeof(g_svc.image), "%s/ananke.img", g_workdir);
	snprintf(g_svc.socket, sizeof(g_svc.socket), "%s/s", g_workdir);
	snprintf(g_svc.log, sizeof(g_svc.log), "%s/serve.log", g_workdir);

	if (cfg.commit_ms && !serve_has_option(&cfg, "--commit-ms", g_svc.log)) {
		fprintf(stderr, PROG ": this `ananke serve` has no --commit-ms option (or use "
				"--commit-ms 0)\n");
		remove_files();
		return 2;
	}

	unsigned total = cfg.warmup + cfg.crashes * cfg.nlevels;
	struct crash *cs = calloc(total, sizeof(*cs));
	if (!cs) {
		fprintf(stderr, PROG ": out of memory\n");
		remove_files();
		return 1;
	}

	struct utsname un;
	uname(&un);
	double la[3] = {0, 0, 0};
	getloadavg(la, 3);
	char psz[32], isz[32], wk[16], pl[32], cms[32];
	bench_fmt_size(cfg.plog_size, psz, sizeof(psz));
	bench_fmt_size(cfg.image_size, isz, sizeof(isz));
	snprintf(wk, sizeof(wk), "%u", cfg.workers);
	snprintf(pl, sizeof(pl), "%" PRIu64, cfg.plog_size);
	snprintf(cms, sizeof(cms), "%u", cfg.commit_ms);
	printf(PROG ": recovery time of the Ananke service (--recovery=ananke) against p-log "
		    "fill\n");
	printf("  machine  : %ld CPUs online, Linux %s %s, load average %.2f %.2f %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), un.release, un.machine, la[0], la[1], la[2]);
	printf("  service  : %s serve IMAGE --socket S --foreground --recovery=ananke --workers "
	       "%s --plog-size %s%s%s\n             (%s image in %s, host fs %s)%s\n",
	       cfg.ananke, wk, pl, cfg.commit_ms ? " --commit-ms " : "", cfg.commit_ms ? cms : "",
	       isz, g_workdir, bench_host_fs(g_workdir), cfg.quick ? "  [--quick]" : "");
	printf("  clients  : %u processes (one per worker), each with one open file; a fill is "
	       "k 4 KiB\n             pwrites at offsets 0..k-1, no fsync (one p-log entry "
	       "each), checked after the recovery\n",
	       cfg.workers);
	printf("  crashes  : %u per level at levels", cfg.crashes);
	for (unsigned l = 0; l < cfg.nlevels; l++)
		printf(" %u%%", cfg.levels[l]);
	printf(" of %s, interleaved; %u untimed warm-up\n", psz, cfg.warmup);
	printf("             SIGKILL of the server; figures from `status --json` "
	       "\"recoveries\"\n");
	fflush(stdout);

	int rc = 1;
	uint64_t since = 0;
	unsigned done = 0;
	char *args[8 + sizeof(cfg.serve_opt) / sizeof(cfg.serve_opt[0])] = {
		"--recovery=ananke", "--workers", wk, "--plog-size", pl};
	unsigned na = 5;
	if (cfg.commit_ms) {
		args[na++] = "--commit-ms";
		args[na++] = cms;
	}
	for (unsigned k = 0; k < cfg.nserve_opt; k++)
		args[na++] = (char *)cfg.serve_opt[k];
	args[na] = NULL;
	g_activity = "mkfs / serve";
	if (bench_svc_mkfs(&g_svc, cfg.image_size) < 0 || bench_svc_spawn(&g_svc, args) < 0 ||
	    bench_svc_wait_running(&g_svc, 30000) < 0)
		goto out;
	since = bench_now_ns();
	g_activity = "starting the clients";
	for (unsigned k = 0; k < cfg.workers; k++)
		if (client_start(k) < 0)
			goto out;

	for (unsigned i = 0; i < total; i++) {
		bool warm = i < cfg.warmup;
		unsigned j = warm ? 0 : i - cfg.warmup;
		unsigned round = j / cfg.nlevels;
		/* warm-up: the highest level; then every level once per round,
		 * rotated by the round */
		unsigned level = warm ? cfg.nlevels - 1 : (j + round) % cfg.nlevels;
		if (one_crash(&cfg, level, (uint64_t)i + 1, &since, &cs[done]) < 0) {
			fprintf(stderr, PROG ": crash %u failed; stopping\n", i + 1);
			goto out;
		}
		const struct crash *c = &cs[done];
		if (verbose || (!warm && (j + 1) % 25 == 0) || i + 1 == total)
			printf("crash %u/%u%s: level %u%%, fill %.1f%%, total %.2f ms (journal %.2f, "
			       "aim %.2f), acted %" PRId64 ", stall %.2f ms\n",
			       i + 1, total, warm ? " (warm-up)" : "", cfg.levels[c->level],
			       100.0 * (double)c->used_max / (double)cfg.plog_size,
			       (double)c->total_us / 1000, (double)c->journal_us / 1000,
			       (double)c->aim_us / 1000, c->acted, (double)c->stall_ns / 1e6);
		fflush(stdout);
		if (!warm)
			done++;
	}
	rc = 0;
out:
	g_activity = "cleanup";
	if (clients_stop() < 0)
		rc = 1;
	if (bench_svc_stop(&g_svc) < 0)
		rc = 1;
	getloadavg(la, 3);
	printf("  load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	if (done) {
		print_report(&cfg, cs, done, cfg.plog_size);
		if (cfg.csv && write_csv(cfg.csv, &cfg, cs, done, cfg.plog_size) < 0)
			rc = 1;
	}
	if (rc)
		printf("\nFAILED after %u measured crashes (see the messages above)\n", done);
	else
		for (unsigned i = 0; i < done; i++)
			if (cs[i].bad_blocks || cs[i].corrupt)
				rc = 1;
	free(cs);
	remove_files();
	return rc;
}
