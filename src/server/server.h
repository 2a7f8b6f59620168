/*
 * server.h - the server process: mounts the volume, serves client rings with
 * worker threads, and obeys the supervisor on the control socket.
 *
 * Process shape (docs/DESIGN.md, "The service"):
 *   - the main thread is the control thread: it reads ATTACH / DETACH /
 *     SHUTDOWN from fd 3 (src/ipc/control.h) and changes the worker ring sets;
 *   - N worker threads each poll their own set of rings (src/ipc/ring.h),
 *     run requests on the file system core (src/fs/fs.h) and complete them.
 *
 * Ownership of a ring (struct server_ring):
 *   - created, recovered and destroyed by the control thread only;
 *   - between ATTACH and DETACH it is in exactly one worker's set, and only
 *     that worker touches its slots. Moving a ring out of a set is a
 *     handshake: the control thread publishes the new set and waits until
 *     the worker acknowledges it (it has dropped every pointer to the ring)
 *     before freeing the fs client or unmapping the memory.
 *
 * Everything in ring memory is untrusted: it is copied out before it is
 * validated, and only the copies are used (dispatch.c).
 *
 * This header is internal to src/server/; the only entry point the rest of
 * the program uses is server_main().
 */
#ifndef ANK_SERVER_H
#define ANK_SERVER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../fs/recovery.h"
#include "../ipc/control.h"
#include "../ipc/ring.h"
#include "../plog/plog.h"

/* The fixed request fields, copied out of the slot (dispatch.c). */
struct request {
	uint32_t opcode;
	uint32_t flags;
	int32_t fd;
	uint32_t mode;
	int64_t off;
	uint64_t len;
	uint32_t path_len;
	uint32_t path2_len;
	uint64_t seq;
	uint32_t data_sum;   /* the client's CRC32C of WRITE/PWRITE data */
	uint32_t req_sum;    /* the client's ank_req_sum of the fields above */
	uint32_t path_sum;   /* the client's CRC32C of the path bytes */
	uint32_t zero;       /* (no padding: the request is checksummed) */
	uint64_t at_ino;     /* the directory path starts at, by number (0: fd) */
	uint64_t at2_ino;    /* the same for path2 (0: mode) */
	uint32_t as_set;     /* acting credentials (ring.h) */
	uint32_t as_uid;
	uint32_t as_gid;
	uint32_t zero2;      /* (no padding) */
};

/* `ananke server --image PATH [--workers N] [--recovery none|ananke|sync]
 * [--standby]`, with fd 3 the control socket and fd 4 the stats
 * memfd. argv[0] is "server". Returns the process exit code: 0 after
 * SHUTDOWN (or the supervisor going away) with a clean unmount, or a standby
 * told to go away before TAKEOVER; 1 when the volume cannot be served, 2 on
 * bad usage. */
int server_main(int argc, char **argv);

/* One worker sleeps with futex_waitv on every ring's doorbell plus its own
 * generation word; futex_waitv takes at most 128 words (FUTEX_WAITV_MAX), so
 * a worker serves at most 127 rings. */
#define SERVER_MAX_RINGS 127u

/* Idle worker: spin this long re-scanning before going to sleep. */
#define SERVER_SPIN_NS 50000ull
/* A sleeping worker wakes at least this often (heartbeat, responsiveness). */
#define SERVER_SLEEP_NS 100000000ull
/* Busy workers bump the stats heartbeat at most this often. */
#define SERVER_BEAT_NS 1000000ull

/* Entries asked of fs_readdir per READDIR request at most (the client asks
 * again for more); bounds the per-worker scratch array. */
#define SERVER_READDIR_MAX 1024

struct server;
struct server_worker;

/* ---- fault.c: test fault points (ANANKE_FAULT, src/ipc/control.h) ---------- */

enum server_fault {
	SERVER_FAULT_NONE = 0,
	SERVER_FAULT_PLOG_AFTER_OP,
	SERVER_FAULT_PLOG_AFTER_DESC,
	SERVER_FAULT_AFTER_DONE,
	SERVER_FAULT_RECOVERY_AFTER_JOURNAL,
	SERVER_FAULT_RECOVERY_MID_AIM,
	SERVER_FAULT_HANG,
	SERVER_FAULT_PLOG_DAMAGE,
	SERVER_FAULT_RECOVERY_MID_JOURNAL,
	SERVER_FAULT_RECOVERY_RESUME,
	SERVER_FAULT_RECOVERY_SLOW_HOLD,
	SERVER_FAULT_STOP_UNMOUNT,
	SERVER_FAULT_REPLY_DAMAGE,
	SERVER_FAULT_LOG_DELAY,
	SERVER_FAULT_RECOVERY_SLOW_ABORT,
	SERVER_FAULT_RESULT_DAMAGE,
	SERVER_FAULT_WRITE_DAMAGE,
	SERVER_FAULT_STOP_EXIT,
	SERVER_FAULT_FD_STATE_DAMAGE,
	SERVER_FAULT_RECOVERY_EARLY_COMMIT,
	SERVER_FAULT_RING_ID_DAMAGE,
	SERVER_FAULT_DURABLE_DAMAGE,
	SERVER_FAULT_ENTRY_DAMAGE,
	SERVER_FAULT_REPLAY_DAMAGE,
	SERVER_FAULT_RECOVERY_SIGSTOP,
};
/* The armed point (NONE in production, and once it fired). */
extern enum server_fault server_fault_point;
/* ANANKE_FAULT_POISON (fault.c): a request on this path aborts the server. */
extern const char *server_fault_poison;
/* Parse ANANKE_FAULT (and ANANKE_FAULT_ONCE) once, at start-up. */
void server_fault_init(void);
/* A pass of an armed point: counts, and fires at the n-th. */
void server_fault_pass(enum server_fault p);
/* The same for a point whose caller acts itself: true at the n-th pass. */
bool server_fault_due(enum server_fault p);
static inline void server_fault(enum server_fault p)
{
	if (__builtin_expect(__atomic_load_n(&server_fault_point, __ATOMIC_RELAXED) == p, 0))
		server_fault_pass(p);
}

/* Recovery "ananke": what the server knows of one fd of a client (the p-log
 * entry that holds its live state: inode, flags, latest offset). */
struct server_fdstate {
	uint64_t ino;
	uint64_t entry_id;               /* entry whose fd bit is set */
	uint32_t flags;                  /* open flags */
	uint32_t log;                    /* p-log index of that entry */
	/* The open file description: the order number of the entry of the
	 * open that made it; fds made from it by dup share it (and its
	 * offset and status flags). */
	uint64_t ofd;
	bool live;
	uint32_t check;                  /* plogsvc_fd_seal: the fields above */
};
/* An fd's entry is sealed at each change and checked before it is used: a
 * stray write to it would clear another entry's fd bit (that fd lost at
 * the next recovery) or leave a closed fd's entry live. */
void plogsvc_fd_seal(struct server_fdstate *f);
void plogsvc_fd_check(const struct server_fdstate *f);

/* One worker's p-log (recovery "ananke"): fd ANK_SERVER_PLOG_FD0 + index. */
struct server_plog {
	pthread_mutex_t lock;            /* serialises every plog_* call on it */
	void *mem;
	size_t size;
	struct plog *p;
	/* Entries whose metadata effects are not durable yet: their inode bit
	 * is cleared by the commit hook once the durable tid reaches tid. */
	struct server_pend { uint64_t id, tid; } *pend;
	size_t npend, cap;
	/* Entries moved forward (relocate_fds in plogsvc.c): an fd whose
	 * table still names `from` has its latest state in entry `to`. */
	struct server_fwd { uint64_t from, to; } *fwd;
	size_t nfwd, capfwd;
	uint64_t relocated;              /* entries moved, for the log */
	uint64_t synced;                 /* calls made durable: no room to log them */
	bool kicked;                     /* [its worker] a commit was asked for at half full */
};

/* A client rebuilt by takeover replay, waiting for its ATTACH. */
struct server_recovered {
	struct server_recovered *next;
	uint64_t client_id;
	struct fs_client *client;
	struct server_fdstate *fds;
	size_t nfds;
	int *lost_fds;                   /* fds whose state entry was corrupt: stale */
	size_t nlost;
	/* exactly-once: the logged completion of each ring slot, if any */
	struct {
		bool set;
		uint32_t opcode;
		uint32_t log;            /* the entry: p-log index and id */
		uint64_t seq;
		uint64_t id;
		int64_t result;
	} slot[ANK_RING_NSLOTS];
};

/* One attached client. [control] fields are only touched by the control
 * thread; the worker that serves the ring only reads the immutable ones. */
struct server_ring {
	struct server_ring *next;        /* [control] list of attached rings */
	uint64_t client_id;              /* immutable while attached */
	void *map;                       /* immutable: ANK_RING_TOTAL_SIZE bytes */
	struct ank_ring_header *hdr;     /* == map */
	struct fs_client *client;        /* immutable; freed after detach */
	struct server_worker *worker;    /* [control] the worker serving it */
	uint32_t sleep_seq;              /* [worker] sq_seq read before sleeping */
	uint32_t uid, gid;               /* immutable: the client's credentials */
	/* Recovery "ananke": fd table mirror [worker serving it] */
	struct server_fdstate *fds;
	size_t nfds;
	uint32_t id_check;               /* server_ring_seal: the immutable fields */
};
/* A ring's identity (client id, credentials, map, core client) is sealed
 * once it is attached and checked before each request is served: a stray
 * write to the client id would file its calls' entries under another
 * client (its fds lost at the next recovery), one to its credentials would
 * run them as another user. */
/* A value of the server's own memory failed its check: say what, abort. */
void server_corrupt(const char *what, uint64_t a) __attribute__((noreturn));
void server_ring_seal(struct server_ring *r);
void server_ring_check(const struct server_ring *r);

struct server_worker {
	struct server *srv;
	unsigned index;                  /* stats->ops[index] */
	/* The running READ/PREAD's CRC32C of its bytes, from the cache. */
	uint32_t read_sum;
	bool read_sum_set;
	pthread_t thread;
	bool started;                    /* [control] thread was created */

	pthread_mutex_t lock;
	pthread_cond_t acked;            /* signalled when ack_gen moves */
	/* The set the control thread wants served. [lock] */
	struct server_ring *want[SERVER_MAX_RINGS];
	unsigned nwant;                  /* [lock] */
	bool stop;                       /* [lock] leave the loop */
	/* Bumped (under lock) on every change of want/stop, then futex-woken:
	 * the worker both polls it and sleeps on it. [atomic] */
	uint32_t gen;
	uint32_t ack_gen;                /* [lock] last gen the worker took */

	/* Worker-private: the set being served right now. */
	struct server_ring *active[SERVER_MAX_RINGS];
	unsigned nactive;
	uint32_t active_gen;
	struct fs_dirent *dirents;       /* READDIR scratch, SERVER_READDIR_MAX */
	uint64_t last_beat_ns;
	/* Recovery "ananke": the order number of this worker's call that ran
	 * but is not logged yet, 0 when none. [atomic: set by the fs as the
	 * call releases its lock, cleared by the worker after logging; read by
	 * the other workers before they log] */
	uint64_t log_pending;
	struct fs_stamp stamp;           /* the running request's (mode ananke) */
	/* The running request's DATA_ARGS as the call ran them (utimensat's
	 * times with UTIME_NOW resolved), for its p-log entry: the ring's
	 * copy stays as the client wrote it, so that a request run again
	 * after a crash still matches its data_sum. */
	struct ank_wire_times args;
	/* SYMLINK: the target as the call ran it, NUL-ended, which the entry
	 * copies (not the ring's bytes, which the client could change). */
	char target[PATH_MAX];
	/* SETXATTR: the value as the call ran it (copied out of the ring
	 * once, then checked against its sum), which the entry copies. */
	uint8_t xvalue[65536];
};

struct server {
	uint32_t owner_uid;              /* the service's owner (geteuid), who
	                                    may act for other users (ring.h) */
	struct bdev *dev;
	struct fs *fs;
	struct ank_stats_page *stats;    /* shared page, or a private one */
	bool stats_shared;
	/* Advisory locks (locktab.c): the table in the stats memfd (or a
	 * private one), and which file each slot holds a lock of (0: free). */
	struct ank_lock_slot *locktab;
	bool locktab_shared;
	uint64_t *lockslot_ino;
	uint32_t lockslot_next;          /* where to look for a free slot */
	uint64_t lock_seq;
	bool locktab_full_said;
	int ctl_fd;
	unsigned nworkers;
	struct server_worker *workers;   /* [nworkers] */
	struct server_ring *rings;       /* [control] attached rings */

	/* Started with --standby: prepared, waiting for TAKEOVER. */
	bool standby;
	/* Serving: the workers may bump the heartbeat (a standby's must not:
	 * the stats page is shared with the server it stands by for). [atomic] */
	uint32_t serving;
	/* This server took over (a standby's TAKEOVER, or live p-logs found):
	 * RECOVERED {report} goes out right before READY. */
	bool took_over;
	struct ank_ctl_report report;    /* [control] */

	/* The recovery mode (mode.c): none, sync or ananke. */
	const struct recovery_mode *mode;

	/* Recovery "ananke" (NULL plogs in the other modes) */
	uint32_t commit_ms; /* background commit interval (--commit-ms), 0: the core's default */
	uint32_t idle_ckpt_ms; /* --idle-checkpoint-ms: 0 default, UINT32_MAX never */
	uint32_t plog_commit_at; /* --plog-commit-at: % of a p-log that starts a commit, 0 never */
	uint32_t cache_mb;       /* --cache-size in MiB (server_cache_default_mb if not given) */
	struct server_plog *plogs;       /* [nplogs] */
	unsigned nplogs;                 /* == nworkers */
	bool logs_continued;             /* takeover went on with the old p-logs */
	uint64_t gate_wait_since;        /* the commit gate has been waiting since (ns) */
	bool gate_wait_said;             /* a long gate wait was said once */
	uint64_t order_base;             /* entry order = base + fs_stamp order */
	uint64_t order_base_check;       /* ~order_base: checked at each use */
	struct server_recovered *recovered; /* [control] rebuilt, not attached */
};

/* ---- worker.c ------------------------------------------------------------- */

/* Initialise / tear down the worker structs (not the threads). 0, -ENOMEM. */
int worker_init(struct server *srv, struct server_worker *w, unsigned index);
void worker_destroy(struct server_worker *w);
/* Start the thread: 0 or -errno. */
int worker_start(struct server_worker *w);
/* Ask the worker to leave its loop and join it. Control thread only. */
void worker_stop(struct server_worker *w);
/* Add a ring to the worker's set: 0, or -EUSERS when the set is full.
 * Control thread only; the worker starts serving it at once. */
int worker_add_ring(struct server_worker *w, struct server_ring *r);
/* Remove a ring from the set and wait until the worker no longer touches
 * it. Control thread only. */
void worker_remove_ring(struct server_worker *w, struct server_ring *r);

/* ---- mode.c: the recovery modes ---------------------------------------------- */

struct request;
/* What a recovery mode does at each point of a server's life and of each
 * request. A NULL hook does nothing (mode "none" has none but adopt's
 * absence, which means "take the ring over as in mode none"). */
struct recovery_mode {
	const char *name;
	bool plogs;          /* the supervisor makes p-logs and hands them to
	                        every server (sup_config.plogs) */
	bool keep_orphans;   /* mount keeps orphans for rebuilt fds */
	/* Before mount: map what the dead server left (a standby does it
	 * before TAKEOVER). 0 or -errno. */
	int (*map)(struct server *srv);
	/* After mount, before any ring: rebuild the dead server's state and
	 * start. 0 or -errno. */
	int (*start)(struct server *srv);
	void (*stop)(struct server *srv);
	/* ATTACH of a client: adopt its rebuilt state; true when adopted. */
	bool (*adopt)(struct server *srv, struct server_ring *r);
	/* A client that went away before its ATTACH: true when known. */
	bool (*drop)(struct server *srv, uint64_t client_id);
	void (*ring_free)(struct server *srv, struct server_ring *r);
	/* Around each request (dispatch.c): before it runs; right after it
	 * ran (returns the result to answer); once its arguments were checked,
	 * to record it (returns an id for `answered`, PLOG_ID_NONE for none);
	 * after the answer was published. */
	void (*before_run)(struct server_worker *w, const struct request *rq);
	int64_t (*after_run)(struct server_worker *w, struct server_ring *r,
			     const struct request *rq, int64_t result);
	uint64_t (*record)(struct server_worker *w, struct server_ring *r, unsigned i,
			   const struct request *rq, const char *path, const char *path2,
			   int64_t result);
	void (*answered)(struct server_worker *w, uint64_t id);
};
extern const struct recovery_mode recovery_none, recovery_sync, recovery_ananke;
/* The mode called `name`, or NULL. */
const struct recovery_mode *recovery_mode_named(const char *name);

/* ---- plogsvc.c (recovery "ananke") ----------------------------------------- */

/* Map the p-logs (fds 5..) and touch their pages; no metadata is read (a
 * standby does it before TAKEOVER). 0 or -errno. */
int plogsvc_map(struct server *srv);
/* After mount: when the p-logs hold live entries, rebuild the state of the
 * dead server (AIM replay) and fill srv->report (plog_us, aim_us, counts;
 * srv->took_over = true); then reformat them, re-log the live fds and install
 * the commit hook. Before any ring is attached. 0 or -errno. */
int plogsvc_start(struct server *srv);
void plogsvc_stop(struct server *srv);
/* Log request `rq` (already run, `result`) of slot i. Returns the entry id
 * (or PLOG_ID_NONE when nothing was logged) and its log in *log. */
/* Before running a request: make room in the worker's log for its entry
 * (syncing if need be, while the call has not run yet). */
void plogsvc_prepare(struct server_worker *w, const struct request *rq);
uint64_t plogsvc_log(struct server_worker *w, struct server_ring *r, unsigned i,
		     const struct request *rq, const char *path, const char *path2,
		     int64_t result, const struct fs_stamp *stamp);
void plogsvc_answered(struct server_worker *w, uint64_t id);
/* replay.c: ATTACH of a client: adopt its rebuilt state if there is one and settle
 * its in-flight slots (exactly-once): those answered from the log are added
 * to srv->report.republished, those given back to be run to .reexecuted.
 * Returns true when adopted. */
bool replay_adopt(struct server *srv, struct server_ring *r);
/* Forget the rebuilt state of a client that went away before its ATTACH. */
bool replay_drop(struct server *srv, uint64_t client_id);
void plogsvc_ring_free(struct server *srv, struct server_ring *r);

/* ---- dispatch.c ------------------------------------------------------------ */

/* Run the request in slot `i` of ring `r`, which the caller has just moved
 * SUBMITTED -> SERVER, and complete it (DONE + wake). */
void dispatch_request(struct server_worker *w, struct server_ring *r, unsigned i);
/* Complete slot `i` with `result` (no out data): publish DONE, wake the
 * client if it waits. The caller owns the slot (SERVER state). */
/* The attributes a CHOWN/FCHOWN's `off` (uid << 32 | gid, 0xffffffff:
 * unchanged) and a UTIMENS/FUTIMENS payload as the call ran it (UTIME_NOW
 * resolved, `now` set) stand for; shared by dispatch and replay. */
struct fs_attr attr_of_ids(int64_t off);
struct fs_attr attr_of_times(const struct ank_wire_times *t);
void dispatch_complete(void *ring, unsigned i, int64_t result);
/* Complete every SUBMITTED or SERVER slot of a ring that no worker serves
 * with `result`; returns how many. Used when a ring is taken over after a
 * server restart and at shutdown. */
unsigned dispatch_fail_pending(void *ring, int64_t result);

/* locktab.c: read the lock table a dead server left, put back the locks
 * whose owners the recovery rebuilt (none outside mode "ananke"), and
 * keep the table current from then on (fs_set_lock_hook). */
void locktab_start(struct server *srv);
/* The description id a lock request on fd names (recovery "ananke": its
 * p-log `ofd`, stable across a crash; else 0). */
uint64_t locktab_ofd(const struct server_ring *r, int fd);

#endif
