/*
 * service_util.h - shared test library for tests that run the Ananke service
 * as a user would: the `ananke` binary (mkfs, serve, status, stop, fsck) in
 * child processes, a registry of every process a test starts so that none is
 * left behind, bounded waits, and a raw ring client that speaks the wire
 * protocol of src/ipc/ directly (for tests that misbehave on purpose).
 *
 * The binary: $ANANKE_BIN, else bin/ananke of the build directory this test
 * binary lives in (build/ or build-san/, found from /proc/self/exe), else
 * build/bin/ananke (build-san/bin/ananke for a sanitizer build) relative to
 * the current directory.
 *
 * Processes: svc_fork() and everything started here are registered;
 * svc_kill_all() SIGKILLs and reaps whatever is still registered. The test
 * process becomes a child subreaper, so a server orphaned by a killed
 * supervisor is reaped here too. Children get PR_SET_PDEATHSIG(SIGKILL):
 * nothing outlives the test binary.
 *
 * Nothing here asserts (no cmocka): failures are returned and printed, so the
 * helpers also work in forked children and in threads.
 */
#ifndef ANK_TEST_SERVICE_UTIL_H
#define ANK_TEST_SERVICE_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../src/ipc/control.h"
#include "../src/ipc/ring.h"

/* ---- time and scale ------------------------------------------------------------ */

uint64_t svc_now_ms(void);
void svc_sleep_ms(unsigned ms);
/* 1 normally, 3 in sanitizer builds: multiply time limits by it. */
unsigned svc_slow(void);
/* Unsigned value of an environment variable, or def when unset/invalid. */
unsigned long svc_env_ulong(const char *name, unsigned long def);

/* ---- processes ------------------------------------------------------------------ */

/* The ananke binary (see above). */
const char *svc_bin(void);

/* Register / forget a process started by the test. */
void svc_track(pid_t pid);
void svc_untrack(pid_t pid);
/* fork(); the child gets PDEATHSIG SIGKILL and an empty registry, the parent
 * registers it. Flushes stdio first. */
pid_t svc_fork(void);
/* Wait at most timeout_ms for pid to end; then *status (may be NULL) and 0.
 * On timeout the process is SIGKILLed and reaped, and -ETIMEDOUT returned.
 * The pid is forgotten either way. */
int svc_wait(pid_t pid, unsigned timeout_ms, int *status);
/* Has pid ended? (It is not reaped: svc_wait still gets its status.) */
bool svc_exited(pid_t pid);
/* Exit code of a wait status, or 128 + signal. */
int svc_exit_code(int status);
/* SIGKILL and reap every registered process, and reap orphans adopted as
 * subreaper. Returns how many were still running. */
int svc_kill_all(void);

/*
 * Run `ananke` with the given arguments (NULL-terminated), stdout captured
 * into out (NUL-terminated, may be NULL), stderr passed through. Returns the
 * exit code (0..255), 128 + signal, or -1 when it could not run or did not
 * end within timeout_ms (it is killed).
 */
int svc_cmd(char *out, size_t outlen, unsigned timeout_ms, const char *arg, ...)
	__attribute__((sentinel));
/* The same with stderr sent to /dev/null. */
int svc_cmd_quiet(char *out, size_t outlen, unsigned timeout_ms, const char *arg, ...)
	__attribute__((sentinel));

/* ---- a service ------------------------------------------------------------------ */

struct svc {
	char dir[PATH_MAX - 64]; /* private temporary directory */
	char image[PATH_MAX];  /* dir/img */
	char sock[108];        /* dir/sock */
	char log[PATH_MAX];    /* dir/serve.log: the supervisor's and server's stderr */
	pid_t sup_pid;         /* `ananke serve --foreground`, 0 when not running */
	int sup_status;        /* its wait status once it ended */
	bool started;
};

/* What `ananke status --json` says (fields missing in the reply are -1). */
struct svc_status {
	long long supervisor_pid, server_pid, epoch, clients, rings, restarts, ops,
		workers_running;
	char state[32];
	char json[4096];
};

/*
 * A fresh sparse image of `size` ("256M") in a new temporary directory under
 * $ANK_TEST_TMPDIR or /tmp, `ananke mkfs`, then `ananke serve IMG --socket
 * SOCK --foreground --workers N` as a registered child, followed by
 * --recovery=$ANK_TEST_RECOVERY when set and the space-separated options of
 * $ANK_TEST_SERVE_OPTS; returns 0 once status says "running" (bounded), else
 * -1 with the reason printed.
 */
int svc_start(struct svc *s, const char *size, unsigned workers);
/* Start the service again on the same image (after svc_stop). */
int svc_restart(struct svc *s, unsigned workers);
/* `ananke status --json` (stderr discarded): 0 and *st, or -1. */
int svc_status(const struct svc *s, struct svc_status *st);
/* Poll status until pred(st, arg) holds, at most timeout_ms: 0, or -1 (the
 * last status, if any, is left in *st). */
int svc_status_wait(const struct svc *s, struct svc_status *st, unsigned timeout_ms,
                    bool (*pred)(const struct svc_status *st, long long arg), long long arg);
/* `ananke stop`: its exit code (0: stopped cleanly); then waits (bounded) for
 * the supervisor process to end. -1 when stop could not run. */
int svc_stop(struct svc *s);
/* `ananke fsck IMG`: its exit code (0: clean); the report is printed when it
 * is not 0. */
int svc_fsck(const struct svc *s);
/* Print the last `lines` lines of the service log to stdout. */
void svc_dump_log(const struct svc *s, unsigned lines);
/* Kill what is left of the service (and every registered process), remove
 * the image, socket, log and directory. Safe on a zeroed struct. */
void svc_destroy(struct svc *s);
/* Allow other users to connect: the directory 0711, the socket 0666. */
int svc_share(const struct svc *s);

/* ---- a raw ring client ------------------------------------------------------------ */

struct svc_raw {
	int sock;                     /* the control connection, -1 when closed */
	void *ring;                   /* ANK_RING_TOTAL_SIZE bytes */
	struct ank_ring_header *hdr;
	uint64_t client_id;
};

/* Connect, say hello (CLIENT), receive the welcome and the ring fd, map and
 * check the ring. 0 or -errno (the welcome's status when it refused). */
int svc_raw_connect(struct svc_raw *c, const char *sock_path);
/* Unmap and hang up. Safe on a closed client. */
void svc_raw_close(struct svc_raw *c);
static inline struct ank_ring_slot *svc_raw_slot(struct svc_raw *c, unsigned i)
{
	return ank_ring_slot(c->ring, i);
}
static inline uint8_t *svc_raw_data(struct svc_raw *c, unsigned i)
{
	return ank_ring_data(c->ring, i);
}
/* Publish slot i as the protocol says: state SUBMITTED (release), bump
 * sq_seq, full barrier, wake the worker if it sleeps. A WRITE/PWRITE gets
 * the checksum of its data first, as libananke gives it. */
void svc_raw_publish(struct svc_raw *c, unsigned i);
/* The same without touching data_sum, req_sum or path_sum (a test's
 * damaged request). */
void svc_raw_publish_as_is(struct svc_raw *c, unsigned i);
/* Take req_sum and path_sum of slot i as libananke does (ring.h). */
void svc_raw_sum(struct svc_raw *c, unsigned i);
/* Wait at most timeout_ms for slot i to be DONE (spin, then futex with
 * `waiting` set): 0 or -ETIMEDOUT. */
int svc_raw_wait_done(struct svc_raw *c, unsigned i, unsigned timeout_ms);

/* Does the service log (supervisor and servers) contain `what`? */
bool svc_log_contains(const struct svc *s, const char *what);
/* Fill slot i with a request (fields zeroed first; paths copied into the data
 * buffer with their NUL). The slot must be owned by the caller. */
void svc_raw_fill(struct svc_raw *c, unsigned i, uint32_t opcode, int32_t fd, uint32_t flags,
                  uint32_t mode, int64_t off, uint64_t len, const char *path, const char *path2);
/* svc_raw_fill + publish + wait + set FREE: the result, or INT64_MIN on timeout
 * (the slot then stays claimed). */
int64_t svc_raw_call(struct svc_raw *c, unsigned i, uint32_t opcode, int32_t fd,
                     uint32_t flags, uint32_t mode, int64_t off, uint64_t len, const char *path,
                     const char *path2, unsigned timeout_ms);

#endif
