/*
 * control.h - the messages on the service's sockets, and the shared stats
 * page. Everything that must outlive the server (rings, stats) is a memfd
 * owned by the supervisor; these sockets carry those fds and control.
 *
 * Sockets are SOCK_SEQPACKET, so one message is one record.
 *
 * Client <-> supervisor, on the listening socket (ananke.sock, mode 0600):
 *   client     -> ank_ctl_hello {kind}
 *   CLIENT:    <- ank_ctl_welcome {status, client_id} + SCM_RIGHTS(ring fd).
 *              The connection stays open for the client's lifetime; its
 *              closing is how the supervisor learns that the client is gone.
 *   STATUS:    <- one message of JSON text (ank_ctl_hello.flags & 1: JSON,
 *              else human-readable text).
 *   STOP:      <- one message of text once the server has unmounted cleanly;
 *              then the supervisor exits.
 *
 * Supervisor <-> server, on a socketpair that is fd 3 of the server process
 * (the stats memfd is fd 4, the p-logs fds 5.. in recovery mode "ananke"):
 *   supervisor -> ATTACH {client_id, uid, gid, pid} + SCM_RIGHTS(ring fd)
 *   supervisor -> DETACH {client_id}    the client is gone: close its fds
 *   supervisor -> SHUTDOWN              sync, unmount, exit 0
 *   server     -> READY                 mounted (journal replayed), serving
 *   server     -> ATTACHED / DETACHED {client_id}
 *   server     -> STOPPED {status}      unmounted; about to exit
 * The supervisor validates every message from the server (it is untrusted).
 */
#ifndef ANK_CONTROL_H
#define ANK_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define ANK_CTL_MAGIC 0x4C54434Bu /* "KCTL" */

enum ank_hello_kind {
	ANK_HELLO_CLIENT = 1,
	ANK_HELLO_STATUS = 2,
	ANK_HELLO_STOP = 3,
};

struct ank_ctl_hello {
	uint32_t magic;      /* ANK_CTL_MAGIC */
	uint32_t version;    /* ANK_RING_VERSION the client was built with */
	uint32_t kind;       /* enum ank_hello_kind */
	uint32_t flags;      /* STATUS: bit 0 = JSON */
};

struct ank_ctl_welcome {
	uint32_t magic;      /* ANK_CTL_MAGIC */
	uint32_t version;    /* ANK_RING_VERSION of the service */
	int32_t status;      /* 0 or -errno (-EPROTO: version mismatch) */
	uint32_t reserved;
	uint64_t client_id;
};

enum ank_ctl_type {
	ANK_CTL_ATTACH = 1,
	ANK_CTL_DETACH = 2,
	ANK_CTL_SHUTDOWN = 3,
	ANK_CTL_TAKEOVER = 4,  /* to a standby: the serving server is confirmed
	                          dead; mount, recover, then send READY */
	ANK_CTL_READY = 16,
	ANK_CTL_ATTACHED = 17,
	ANK_CTL_DETACHED = 18,
	ANK_CTL_STOPPED = 19,
	ANK_CTL_STANDBY = 20,  /* from a standby: device open, io_uring ready,
	                          memory touched, threads made; waiting for
	                          TAKEOVER (no metadata read yet) */
	ANK_CTL_RECOVERED = 21,/* struct ank_ctl_report: the server's recovery
	                          phases, sent just before READY after a takeover */
};

/*
 * A server's report of one recovery (type ANK_CTL_RECOVERED), sent on fd 3
 * right before READY when it took over from a dead server. Times are in
 * microseconds, measured by the server; the supervisor adds the phases it
 * sees itself (detect, hand-over, resume) and keeps the last reports for
 * `ananke status --json` ("recoveries"). Untrusted like every server message:
 * only displayed.
 */
struct ank_ctl_report {
	uint32_t magic;          /* 0  ANK_CTL_MAGIC */
	uint32_t type;           /* 4  ANK_CTL_RECOVERED */
	uint64_t journal_us;     /* 8  mount: journal replay */
	uint64_t plog_us;        /* 16 p-log verify and merge */
	uint64_t aim_us;         /* 24 AIM replay incl. its sync */
	uint64_t entries;        /* 32 live entries found */
	uint64_t acted;          /* 40 */
	uint64_t ignored;        /* 48 */
	uint64_t modified;       /* 56 (write -> lseek, creat -> open) */
	uint64_t corrupt;        /* 64 entries valid in neither copy */
	uint64_t republished;    /* 72 in-flight requests answered from the log */
	uint64_t reexecuted;     /* 80 in-flight requests run again */
	uint64_t damaged[4];     /* 88 inodes whose lost changes make reads fail
	                               (EIO); 0 = none; the first four */
	uint64_t reserved[1];    /* 120 zero */
};
#define ANK_REPORT_DAMAGED 4u
_Static_assert(sizeof(struct ank_ctl_report) == 128, "recovery report");
_Static_assert(offsetof(struct ank_ctl_report, damaged) == 88, "recovery report layout");

/* Fault points a test can arm in the server through the environment of
 * `ananke serve` (inherited by every server it starts):
 *   ANANKE_FAULT=<point>[:<n>]   fire at the n-th pass (default 1), once per
 *                                server process
 * points: plog_after_op (operation part written, descriptor not),
 * plog_after_desc (entry complete, ring slot not DONE), after_done (DONE
 * published, ipc index not cleared), recovery_mid_journal (replayed images
 * home, log header not moved), recovery_after_journal, recovery_mid_aim
 * (half the entries replayed), recovery_resume (a rebuilt client's in-flight
 * requests settled, ATTACHED not sent), hang (the worker spins
 * forever while holding a request), plog_damage (the entry just logged is
 * damaged in both copies; the server goes on). A fault is abort() except
 * hang and plog_damage. */

struct ank_ctl_msg {
	uint32_t magic;      /* ANK_CTL_MAGIC */
	uint32_t type;       /* enum ank_ctl_type */
	uint64_t client_id;
	uint32_t uid, gid;   /* ATTACH: the client's credentials (SO_PEERCRED) */
	uint32_t pid;        /* ATTACH: the client's pid */
	int32_t status;      /* STOPPED, ATTACHED: 0 or -errno */
};
_Static_assert(sizeof(struct ank_ctl_msg) == 32, "control message");

/* Server file descriptors after exec. */
#define ANK_SERVER_CTL_FD 3
#define ANK_SERVER_STATS_FD 4
/* Recovery mode "ananke" (`--recovery ananke`): the p-log of worker i is fd
 * ANK_SERVER_PLOG_FD0 + i, for i in 0..workers-1. Each is a memfd the
 * supervisor created (plog_format, src/plog/plog.h) and keeps for its whole
 * life, so a restarted server finds the logs of the dead one there. */
#define ANK_SERVER_PLOG_FD0 5

/* The stats page: a memfd owned by the supervisor, written by the server
 * (counters are advisory: the server is untrusted, values are only shown). */
#define ANK_STATS_MAGIC 0x54415453u /* "STAT" */
#define ANK_STATS_MAX_WORKERS 64u
struct ank_stats_page {
	uint32_t magic;                  /* [supervisor] */
	uint32_t workers;                /* [server] worker threads running */
	uint64_t heartbeat;              /* [server, atomic] bumped by workers */
	uint64_t ops[ANK_STATS_MAX_WORKERS]; /* [server, atomic] requests served */
	uint64_t beat[ANK_STATS_MAX_WORKERS]; /* [server, atomic] per-worker heartbeat:
	                                        bumped by each worker as it loops
	                                        (also idle), never inside a request */
	uint64_t io_busy;                    /* [server, atomic] device calls in progress */
	uint32_t signalled_pid;              /* [server, atomic] pid of a server dying of a
	                                        fatal signal another process sent it
	                                        (kill(2)), set by its signal handler;
	                                        only spares that death from quarantine */
	uint32_t pad;
};
_Static_assert(offsetof(struct ank_stats_page, ops) == 16, "stats layout");
_Static_assert(offsetof(struct ank_stats_page, beat) == 528, "stats layout");
_Static_assert(offsetof(struct ank_stats_page, io_busy) == 1040, "stats layout");
_Static_assert(offsetof(struct ank_stats_page, signalled_pid) == 1048, "stats layout");

/* The lock table: in the stats memfd, from ANK_LOCKTAB_OFF, one slot per
 * advisory lock a client holds (src/server/locktab.c). Written by the
 * server before it answers the call that changed the lock, read by the
 * server that takes over after a crash, which puts back the locks whose
 * owners it rebuilt. A slot is in use when magic is ANK_LOCK_MAGIC and crc
 * holds; the supervisor never reads it. */
#define ANK_LOCKTAB_OFF 4096u
#define ANK_LOCKTAB_SLOTS 8192u
#define ANK_LOCK_MAGIC 0x4B434F4Cu /* "LOCK" */
struct ank_lock_slot {
	uint32_t magic;       /* 0  ANK_LOCK_MAGIC; 0: free */
	uint32_t crc;         /* 4  CRC32C (seed 0) of the 64 bytes, this field zero */
	uint64_t ino;         /* 8  the locked file */
	uint64_t owner;       /* 16 POSIX: the client id; OFD, flock: the open file
	                         description (its p-log id, `ofd`) */
	int64_t start;        /* 24 first byte */
	int64_t end;          /* 32 last byte; INT64_MAX: to the end and beyond */
	int32_t pid;          /* 40 what F_GETLK reports (-1: an OFD lock) */
	uint8_t kind;         /* 44 0 POSIX, 1 OFD, 2 flock */
	uint8_t type;         /* 45 F_RDLCK or F_WRLCK */
	uint16_t zero;        /* 46 */
	uint64_t seq;         /* 48 order of writing (diagnostics) */
	uint32_t pos;         /* 56 its place in the file's list of locks (the
	                         order decides which conflict F_GETLK reports) */
	uint8_t reserved[4];  /* 60 zero */
};
_Static_assert(sizeof(struct ank_lock_slot) == 64, "lock slot");
_Static_assert(offsetof(struct ank_lock_slot, start) == 24, "lock slot layout");
_Static_assert(offsetof(struct ank_lock_slot, kind) == 44, "lock slot layout");
_Static_assert(sizeof(struct ank_stats_page) <= ANK_LOCKTAB_OFF, "the stats page fits before the lock table");
#define ANK_STATS_MEMFD_SIZE ((uint64_t)ANK_LOCKTAB_OFF + (uint64_t)ANK_LOCKTAB_SLOTS * 64u)

#endif
