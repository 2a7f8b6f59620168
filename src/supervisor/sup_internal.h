/*
 * sup_internal.h - the supervisor's state, shared by its source files:
 * supervisor.c (setup, event loop, clients, stop), spawn.c (the server
 * process), record.c (the recovery record), quarantine.c (requests that
 * crash every server), shm.c (ring and stats memfds), status.c (STATUS
 * replies), ctlsock.c (socket helpers). Not used outside src/supervisor/.
 *
 * Nothing here is shared with the server except through the fds handed to
 * it; everything the server sends back is validated before use.
 */
#ifndef ANK_SUP_INTERNAL_H
#define ANK_SUP_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../ipc/control.h"
#include "../ipc/ring.h"
#include "supervisor.h"

/* Every fd in the epoll set points to one of these (epoll_event.data.ptr). */
enum sup_obj_kind {
	SUP_OBJ_LISTEN = 1,
	SUP_OBJ_SIGNAL,
	SUP_OBJ_SRV_CTL,
	SUP_OBJ_SRV_PID,
	SUP_OBJ_SB_CTL,   /* the standby's control socket */
	SUP_OBJ_SB_PID,   /* the standby's pidfd */
	SUP_OBJ_CONN,
};

struct sup_obj {
	enum sup_obj_kind kind;
};

/*
 * A connection on the listening socket. It starts in HELLO; STATUS requests
 * are answered and closed at once, STOP requests wait in STOP_WAIT for the
 * end of the service, CLIENT connections become clients with a ring:
 *
 *   WAIT_SERVER --ATTACH queued--> ATTACHING --ATTACHED--> LIVE
 *   LIVE --socket closed, DETACH queued--> DETACHING --DETACHED--> freed
 *
 * When the server dies, ATTACHING and LIVE clients go back to WAIT_SERVER
 * (re-attached once the next server is READY) and DETACHING ones are freed.
 */
enum sup_conn_state {
	CONN_HELLO = 0,
	CONN_ANSWERED,    /* STATUS answered, or refused: being closed */
	CONN_STOP_WAIT,
	CL_WAIT_SERVER,
	CL_ATTACHING,
	CL_LIVE,
	CL_DETACHING,
};

struct sup_conn {
	struct sup_obj obj;               /* SUP_OBJ_CONN */
	struct sup_conn *prev, *next;     /* sup.conns */
	struct sup_conn *oprev, *onext;   /* sup.outq, when out != 0 */
	enum sup_conn_state state;
	int sock;                         /* -1 once the client hung up */
	uint64_t deadline_ns;             /* HELLO: drop when still silent */
	/* clients only */
	uint64_t id;
	uint32_t uid, gid, pid;           /* SO_PEERCRED at connect time */
	int ring_fd;
	struct ank_ring_header *hdr;      /* the ring's header and slots, mapped
	                                     (slots only read, by the watchdog) */
	uint32_t out;                     /* message queued for the server:
	                                     0, ANK_CTL_ATTACH or ANK_CTL_DETACH */
	bool welcomed;                    /* welcome + ring fd sent to the client */
};

/* The server process, one generation at a time. The same struct describes
 * the standby (sup.sb), which uses only SRV_NONE, SRV_STARTING (exec'd,
 * waiting for STANDBY) and SRV_RUNNING (STANDBY received). */
enum sup_srv_state {
	SRV_NONE = 0,  /* no process (before the first start, after the last) */
	SRV_STARTING,  /* exec'd, waiting for READY */
	SRV_RUNNING,   /* READY received */
	SRV_BACKOFF,   /* dead; the next start waits for backoff_until */
	SRV_DEAD,      /* dead during a stop; not restarted */
};

struct sup_server {
	struct sup_obj ctl_obj;           /* SUP_OBJ_SRV_CTL */
	struct sup_obj pid_obj;           /* SUP_OBJ_SRV_PID */
	enum sup_srv_state state;
	pid_t pid;
	int pidfd;
	int ctl;                          /* our end of the control socketpair */
	bool ctl_want_out;                /* EPOLLOUT armed: outq is blocked */
	uint64_t start_ns, ready_ns;
	uint64_t ready_ops;               /* the stats page's requests served at READY */
	uint64_t ready_deadline_ns;       /* STARTING: kill when not READY by then */
	uint64_t hup_deadline_ns;         /* control socket closed: kill if alive then */
	bool killed;                      /* we sent SIGKILL */
	bool hang;                        /* ... because the watchdog saw a hang */
	bool hang_outside;                /* ... of a process stopped from outside */
	char kill_reason[128];            /* why, for the log */
	bool got_stopped;                 /* STOPPED received */
	int32_t stopped_status;
	bool shutdown_pending;            /* SHUTDOWN still to be sent */
	bool standby;                     /* started with --standby */
	bool took_over;                   /* a standby that got TAKEOVER */
	bool got_report;                  /* RECOVERED received */
	uint64_t kill_ns;                 /* when we sent SIGKILL */
};

/* Standby availability. */
enum sup_sb_mode {
	SB_ENABLED = 0,
	SB_DISABLED,                      /* the server cannot be a standby */
};

/* One recovery, as `ananke status --json` shows it ("recoveries"). */
#define SUP_MAX_RECOVERIES 64u
struct sup_recovery {
	uint64_t total_us, detect_us, handover_us, journal_us, plog_us, aim_us, resume_us;
	uint64_t backoff_us;              /* reaped -> hand-over: crash-loop backoff */
	uint64_t acted, ignored, modified, corrupt, republished, reexecuted;
	uint64_t damaged[ANK_REPORT_DAMAGED]; /* inodes that lost changes, 0 = none */
	char cause[64];
	bool standby;                     /* taken over by a standby (else fresh exec) */
	bool report;                      /* the server sent RECOVERED */
	int old_pid, new_pid;
};

/* The recovery in progress (from a serving server's death until every
 * client is re-attached to its successor). */
struct sup_recovery_run {
	bool active;
	uint64_t death_ns;                /* SIGKILL sent, or pidfd readiness seen */
	uint64_t reaped_ns;               /* the dead process fully gone */
	uint64_t handover_ns;             /* TAKEOVER sent, or fresh exec */
	uint64_t ready_ns;                /* READY received */
	struct sup_recovery r;
};

/* The recovery record (record.c): the run in progress and the last ones. */
struct sup_record {
	struct sup_recovery_run run;
	struct sup_recovery done[SUP_MAX_RECOVERIES]; /* ring of the last ones */
	uint64_t ndone;                   /* recoveries completed, ever */
};

#define SUP_MAX_GONE 256u

/* A request that was running inside a server that died by its own fault
 * (quarantine.c). */
#define SUP_QUARANTINE_DEATHS 3u
#define SUP_MAX_SUSPECTS 64u
struct sup_suspect {
	uint64_t client_id, seq;
	uint32_t slot, opcode;
	unsigned deaths;
};

struct sup {
	struct sup_config cfg;
	char image[PATH_MAX];             /* absolute image path */
	char socket_abs[PATH_MAX + 128];  /* absolute socket path, for messages */
	int listen_fd;
	int image_lock_fd;                /* OFD write lock on the image */
	int epfd;
	int sigfd;
	int notify_fd;                    /* daemon start: pipe to the waiting parent */
	struct sup_obj listen_obj, sig_obj;

	int stats_fd;
	struct ank_stats_page *stats;
	/* Recovery "ananke": one p-log memfd per worker, created once and
	 * handed to every server as fds ANK_SERVER_PLOG_FD0.. */
	int plog_fds[ANK_STATS_MAX_WORKERS];
	const void *plog_maps[ANK_STATS_MAX_WORKERS]; /* read-only, for status */
	size_t plog_size;                             /* bytes of each region */
	unsigned nplogs;

	struct sup_server srv;
	struct sup_server sb;             /* the standby, when one runs */
	enum sup_sb_mode sb_mode;
	unsigned sb_quick_deaths;
	uint64_t sb_backoff_until_ns;     /* no standby start before */
	uint64_t batch_ns;                /* when epoll_wait returned */

	/* The watchdog (cfg.watchdog_ms, 0: off). */
	uint64_t wd_next_ns;              /* next check */
	uint64_t wd_last_hb;              /* heartbeat seen at the last check */
	uint64_t wd_since_ns;             /* heartbeat unchanged with requests pending
	                                     since then (rings no worker claims) */
	uint64_t wd_last_beat[ANK_STATS_MAX_WORKERS]; /* the same per worker */
	uint64_t wd_beat_since_ns[ANK_STATS_MAX_WORKERS];

	struct sup_record rec;            /* record.c */

	uint32_t epoch;                   /* server generation, starts at 1 */
	uint64_t restarts;
	unsigned quick_deaths;            /* consecutive deaths soon after start */
	struct sup_suspect suspects[SUP_MAX_SUSPECTS]; /* quarantine.c */
	unsigned nsuspects;
	uint64_t quarantined;             /* requests answered -EIO so far */
	struct sup_suspect last_quarantine;
	uint64_t backoff_until_ns;
	uint64_t start_ns;                /* supervisor start */
	bool ever_ready;                  /* the first server reached READY */

	/* Clients that went away while no server could hear of it (freed at a
	 * server's death, or while waiting for the next one). What a takeover
	 * rebuilt for them from the p-logs (fds, logged completions) would
	 * stay live for good and, at the log's tail, keep the log from being
	 * reclaimed: every server that says READY is told to drop them
	 * (DETACH), until one answers DETACHED. */
	uint64_t gone[SUP_MAX_GONE];
	unsigned ngone;
	struct sup_conn *conns;           /* every connection */
	struct sup_conn *zombies;         /* freed ones, released after the epoll
	                                     batch (its events may point at them) */
	struct sup_conn *outq_head, *outq_tail; /* clients with a queued message */
	unsigned nclients;                /* conns holding a ring */
	unsigned npending;                /* conns in HELLO */
	uint64_t next_client_id;

	bool stopping;
	uint64_t stop_deadline_ns;        /* kill the server when still alive */
	unsigned stop_recoveries;         /* servers recovered to finish a stop */
	bool stop_recovering;             /* ... one is to be started */
	uint64_t sigstop_poll_ns;         /* stopping, or a server starting: next
	                                     look at whether it is stopped
	                                     (SIGSTOP) */
	uint64_t sigstop_since_ns;        /* ... and it is stopped since; 0: it
	                                     is not */
	uint64_t kill_deadline_ns;        /* give up waiting after SIGKILL */
	bool done;
	int exit_code;
	char stop_msg[512];
};

/* ---- supervisor.c ---- */
void sup_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t sup_now_ns(void);
int sup_epoll_add(struct sup *s, int fd, uint32_t events, struct sup_obj *obj);
void sup_epoll_del(struct sup *s, int fd);

/* ---- spawn.c ---- */
/* Start a server process (fresh exec); on success the server is STARTING. */
int sup_server_spawn(struct sup *s);
/* Start a process into v (&s->srv or &s->sb; standby: `--standby`). */
int sup_proc_spawn(struct sup *s, struct sup_server *v, bool standby);
/* Reap / kill / message one process (&s->srv or &s->sb). */
int sup_proc_reap(struct sup *s, struct sup_server *v, char *desc, size_t desc_len);
void sup_proc_kill(struct sup *s, struct sup_server *v, const char *reason);
int sup_proc_send(struct sup_server *v, uint32_t type, uint64_t client_id,
		  const struct sup_conn *c, int fd);
/* Reap the dead server; fills a description ("signal 9 (Killed)") and
 * returns its wait status. */
int sup_server_reap(struct sup *s, char *desc, size_t desc_len);
/* Does the kernel say process pid is stopped (SIGSTOP, traced)? Reads
 * /proc/PID/stat; false when it cannot tell. Never blocks. */
bool sup_process_stopped(pid_t pid);
/* SIGKILL the server (through its pidfd), remembering why. */
void sup_server_kill(struct sup *s, const char *reason);
/* Send one control message (+ optional fd) without blocking: 0, -EAGAIN,
 * or another -errno. */
int sup_server_send(struct sup *s, uint32_t type, uint64_t client_id, const struct sup_conn *c,
		    int fd);

/* ---- record.c: the recovery record ---- */
/* The serving server died (death_ns: our SIGKILL or the pidfd's readiness)
 * and was reaped: a recovery starts, or the one in progress starts over
 * (its clock keeps running). */
void sup_record_death(struct sup_record *rec, uint64_t death_ns, uint64_t reaped_ns, int old_pid,
		      const char *cause);
bool sup_record_active(const struct sup_record *rec);
/* The successor got TAKEOVER (standby) or was exec'd. */
void sup_record_handover(struct sup_record *rec, uint64_t now, bool standby, int new_pid);
/* The successor said READY. */
void sup_record_ready(struct sup_record *rec, uint64_t ready_ns);
/* The serving server's RECOVERED report (untrusted: only displayed),
 * attached to the recovery in progress or, as a late update, to the last
 * one when server_pid made it. */
void sup_record_report(struct sup_record *rec, int server_pid, const struct ank_ctl_report *r);
/* Every client is re-attached: the recovery in progress (once READY)
 * completes, is logged and joins the ring. */
void sup_record_finish(struct sup_record *rec, uint64_t now, int server_pid);
/* Recoveries completed, ever; the one `back` before the last (0: the last),
 * NULL when not kept. */
uint64_t sup_record_count(const struct sup_record *rec);
const struct sup_recovery *sup_record_get(const struct sup_record *rec, uint64_t back);

/* ---- quarantine.c ---- */
/* At a server death (before the next server starts): count the requests it
 * had claimed; answer -EIO to one claimed at SUP_QUARANTINE_DEATHS deaths
 * the server caused itself. */
void sup_quarantine_on_death(struct sup *s, bool self_inflicted);

/* ---- shm.c ---- */
int sup_stats_create(struct sup *s);
void sup_stats_destroy(struct sup *s);
/* Recovery "ananke": create and format one p-log memfd per worker. */
int sup_plogs_create(struct sup *s);
void sup_plogs_destroy(struct sup *s);
/* Create the ring memfd of client c and fill its header. */
int sup_ring_create(struct sup_conn *c, uint32_t epoch);
void sup_ring_destroy(struct sup_conn *c);
/* A request in SUBMITTED or SERVER state in c's ring? */
bool sup_ring_pending(const struct sup_conn *c);

/* ---- status.c ---- */
/* Format the STATUS reply into buf (JSON when json). Returns its length. */
size_t sup_status_format(const struct sup *s, bool json, char *buf, size_t len);

/* ---- ctlsock.c ---- */
/* Fill a sockaddr_un; -ENAMETOOLONG when the path does not fit. */
struct sockaddr_un;
int sup_sockaddr(const char *path, struct sockaddr_un *sa);
/* Send one record with an optional fd (SCM_RIGHTS), never blocking, never
 * raising SIGPIPE. Returns 0 or -errno (-EAGAIN when the buffer is full). */
int sup_send_fd(int sock, const void *buf, size_t len, int fd);

#endif
