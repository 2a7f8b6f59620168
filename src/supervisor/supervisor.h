/*
 * supervisor.h - the trusted supervisor of the Ananke service, as seen by the
 * `ananke` command: run the service (`ananke serve`), and the small client
 * side of the control socket used by `ananke status` / `ananke stop`.
 *
 * The supervisor owns everything that must outlive a server process: the
 * listening socket, one connection and one ring memfd per client, and the
 * stats memfd. It starts the server as a fresh exec of this binary
 * (`ananke server ...`, fd 3 = control socket, fd 4 = stats memfd, see
 * src/ipc/control.h), restarts it when it dies, and never touches file
 * system logic. It depends on src/ipc/ only.
 */
#ifndef ANK_SUPERVISOR_H
#define ANK_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

/* At most this many clients (rings) at once; more are refused (-EMFILE). */
#define SUP_MAX_CLIENTS 1024u
/* A server worker waits on at most 127 rings (futex_waitv takes 128 words,
 * one is its own); the supervisor admits no more clients than that. */
#define SUP_RINGS_PER_WORKER 127u

struct sup_config {
	const char *image;       /* a formatted image or block device (must exist) */
	const char *socket_path; /* where to listen (AF_UNIX, SOCK_SEQPACKET) */
	unsigned workers;        /* server worker threads, 1..ANK_STATS_MAX_WORKERS */
	const char *recovery;    /* recovery mode passed to the server: "none",
	                            "ananke" (p-logs + AIM replay) or "sync" */
	bool plogs;              /* the mode logs: make the p-logs and hand them
	                            to every server (struct recovery_mode) */
	uint64_t plog_size;      /* "ananke": bytes of one copy of each worker's
	                            p-log entry area; 0: PLOG_DEFAULT_COPY_SIZE */
	bool foreground;         /* stay attached, log to stderr */
	unsigned watchdog_ms;    /* kill a server whose heartbeat stands still
	                            this long while requests are pending; 0: off */
	unsigned io_timeout_ms;  /* the longest a server's "waiting for the
	                            device" word (io_busy) may hold the watchdog
	                            off; at most this long a device wait can
	                            take before the server counts as hung */
	bool no_standby;         /* never start a standby server */
	/* Handed to every server; names, ranges and defaults are the table
	 * of src/server/options.c, which `serve` and `server` both parse with. */
	unsigned commit_ms;      /* background commit interval */
	unsigned idle_checkpoint_ms; /* checkpoint the journal after this long
	                            without a commit; 0: never */
	unsigned plog_commit_at; /* "ananke": a p-log this % full starts a
	                            background commit; 0: never */
	unsigned cache_mb;       /* page cache bound in MiB; 0: the server's
	                            default (server_cache_default_mb) */
};

/*
 * Run the service until it is stopped (STOP request, SIGTERM, SIGINT, SIGHUP).
 * Without cfg->foreground the calling process returns as soon as the first
 * server is READY (after printing where the service runs) and a detached
 * child carries on; both return an exit code for main().
 */
int sup_serve(const struct sup_config *cfg);

/* Does a service answer on socket_path? 1 yes, 0 no (no socket file, or a
 * stale one), -errno when the path cannot be checked (e.g. -ENAMETOOLONG,
 * -ENOTSOCK when the path exists and is not a socket). */
int sup_probe(const char *socket_path);

/* Can `ananke serve` listen on socket_path (nothing there, or a stale
 * socket)? 0, or -1 after printing why not ("already running", too long,
 * not a socket) to stderr. */
int sup_check_socket(const char *socket_path);

/* Connect to the service on socket_path and send a hello of `kind`
 * (enum ank_hello_kind) with `flags`. Returns the connected socket (close-on-
 * exec) or -errno: -ENOENT / -ECONNREFUSED when nothing listens there. */
int sup_connect(const char *socket_path, uint32_t kind, uint32_t flags);

#endif
