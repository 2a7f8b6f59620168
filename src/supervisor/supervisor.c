/*
 * supervisor.c - the trusted supervisor: setup (image lock, listening
 * socket, daemon), the event loop, client connections and their rings, the
 * server's control messages, restarts after a server death, and the stop.
 *
 * One thread, one epoll set: the listening socket, every connection, the
 * server's control socket and pidfd, and a signalfd (SIGTERM, SIGINT,
 * SIGHUP: clean stop). Nothing ever blocks on a peer: sends are
 * non-blocking and messages for the server wait in a queue when its socket
 * is full. The server is untrusted: a malformed or unexpected message gets
 * it killed and restarted. File system logic never runs here.
 *
 * The standby: while a server serves, a second one is exec'd with
 * --standby (same fds, its own control socket); it prepares everything that
 * reads no metadata and says STANDBY. When the serving server dies (pidfd
 * readable, process reaped: every thread gone), the ready standby gets
 * TAKEOVER and becomes the server (RECOVERED, then READY), the clients are
 * re-attached, and the next standby is started. Without a ready standby the
 * restart is a fresh exec. A standby that refuses --standby (exit 2) or
 * never says STANDBY within 5 s disables standbys for the supervisor's life.
 *
 * The watchdog: every 100 ms (at most; watchdog_ms / 4 when smaller) it
 * looks for requests in SUBMITTED or SERVER state in the rings of attached
 * clients; when there are some and the stats heartbeat has not moved for
 * watchdog_ms, the server is SIGKILLed (cause "hang") and recovered as
 * after a crash. Nothing pending: never killed.
 *
 * The recovery report (last SUP_MAX_RECOVERIES, `status --json`):
 *   detect   the death as the supervisor can know it -> the process reaped.
 *            The death is the supervisor's own SIGKILL when it killed the
 *            server (watchdog, protocol error), else the moment epoll
 *            reported the pidfd readable (the kernel's exit notification:
 *            the time between the actual kill and that wakeup is not seen);
 *   backoff  reaped -> hand-over (crash-loop backoff; ~0 otherwise);
 *   handover TAKEOVER sent (or fresh exec) -> READY, minus the server's own
 *            journal, plog and aim phases from its RECOVERED report;
 *   resume   READY -> every waiting client re-attached (ATTACHED);
 *   total    death -> resume done.
 *
 * Not here: spawning and reaping the process (spawn.c), the memfds (shm.c),
 * STATUS text (status.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ipc/barrier.h"
#include "sup_internal.h"

#define NSEC 1000000000ull
#define MSEC 1000000ull
#define HELLO_TIMEOUT_NS (1 * NSEC)
#define STOP_TIMEOUT_NS (60 * NSEC)
#define KILL_WAIT_NS (5 * NSEC)     /* after SIGKILL in a stop: give up waiting */
#define STOP_RECOVERIES 3u          /* servers recovered to finish one stop */
#define QUICK_DEATH_NS (1 * NSEC)   /* a death this soon after READY is a crash loop */
#define QUICK_DEATHS_FREE 2u        /* restarts without delay before backing off */
#define BACKOFF_MIN_NS (100 * MSEC)
#define BACKOFF_MAX_NS (2 * NSEC)
#define MAX_PENDING_HELLOS 128u     /* silent connections held at once */
#define SRV_MSGS_PER_WAKEUP 256     /* fairness towards clients */
#define CTL_HUP_GRACE_NS (1 * NSEC) /* control socket closed, process alive */
#define STANDBY_TIMEOUT_NS (5 * NSEC) /* exec to STANDBY; later: no standby at all */
#define WD_TICK_MAX_NS (100 * MSEC) /* watchdog check interval (at most) */
#define STATUS_MAX 65536u           /* one STATUS reply */

/* ---- small helpers ------------------------------------------------------ */

uint64_t sup_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

void sup_log(const char *fmt, ...)
{
	char when[32] = "";
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (localtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write per line: the server appends to the same log file. */
	fprintf(stderr, "%s.%03ld ananke-supervisor[%d]: %s\n", when, ts.tv_nsec / 1000000,
		(int)getpid(), msg);
}

int sup_epoll_add(struct sup *s, int fd, uint32_t events, struct sup_obj *obj)
{
	struct epoll_event ev = {.events = events, .data.ptr = obj};
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void sup_epoll_del(struct sup *s, int fd)
{
	if (fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Tell the `ananke serve` process waiting for the daemon how startup went:
 * "ok" or an error message. Only once. */
static void notify_parent(struct sup *s, const char *msg)
{
	if (s->notify_fd < 0)
		return;
	size_t len = strlen(msg);
	ssize_t n;
	do
		n = write(s->notify_fd, msg, len);
	while (n < 0 && errno == EINTR);
	close(s->notify_fd);
	s->notify_fd = -1;
}

static void __attribute__((format(printf, 2, 3))) startup_failed(struct sup *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sup_log("%s", msg);
	notify_parent(s, msg);
	s->done = true;
	s->exit_code = 1;
}

/* ---- connections -------------------------------------------------------- */

static void outq_push(struct sup *s, struct sup_conn *c, uint32_t type)
{
	c->out = type;
	c->onext = NULL;
	c->oprev = s->outq_tail;
	if (s->outq_tail)
		s->outq_tail->onext = c;
	else
		s->outq_head = c;
	s->outq_tail = c;
}

static void outq_remove(struct sup *s, struct sup_conn *c)
{
	if (!c->out)
		return;
	if (c->oprev)
		c->oprev->onext = c->onext;
	else
		s->outq_head = c->onext;
	if (c->onext)
		c->onext->oprev = c->oprev;
	else
		s->outq_tail = c->oprev;
	c->oprev = c->onext = NULL;
	c->out = 0;
}

static void conn_close_sock(struct sup *s, struct sup_conn *c)
{
	/* Leave the epoll set explicitly: a server being forked holds a copy
	 * of every fd until its exec, and the registration lives as long as
	 * any copy does. */
	sup_epoll_del(s, c->sock);
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

static void conn_free(struct sup *s, struct sup_conn *c)
{
	conn_close_sock(s, c);
	outq_remove(s, c);
	if (c->state == CONN_HELLO)
		s->npending--;
	if (c->ring_fd >= 0) {
		sup_ring_destroy(c);
		s->nclients--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Events of this batch may still point at c: free it after the batch. */
	c->next = s->zombies;
	s->zombies = c;
}

static void free_zombies(struct sup *s)
{
	while (s->zombies) {
		struct sup_conn *c = s->zombies;
		s->zombies = c->next;
		free(c);
	}
}

static int welcome_send(struct sup_conn *c, int32_t status, int fd)
{
	struct ank_ctl_welcome w = {.magic = ANK_CTL_MAGIC,
				    .version = ANK_RING_VERSION,
				    .status = status,
				    .client_id = status == 0 ? c->id : 0};
	return sup_send_fd(c->sock, &w, sizeof(w), fd);
}

/* ---- messages to the server --------------------------------------------- */

static void ctl_want_out(struct sup *s, bool want)
{
	struct sup_server *v = &s->srv;
	if (v->ctl < 0 || v->ctl_want_out == want)
		return;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0),
				 .data.ptr = &v->ctl_obj};
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, v->ctl, &ev) == 0)
		v->ctl_want_out = want;
}

/* Send queued messages in order until the socket is full. */
static void outq_flush(struct sup *s)
{
	struct sup_server *v = &s->srv;
	if (v->ctl < 0)
		return;
	while (s->outq_head) {
		struct sup_conn *c = s->outq_head;
		int rc = sup_server_send(s, c->out, c->id, c, c->out == ANK_CTL_ATTACH ? c->ring_fd : -1);
		if (rc == -EAGAIN) {
			ctl_want_out(s, true);
			return;
		}
		if (rc < 0) {
			sup_server_kill(s, "its control socket failed");
			return;
		}
		outq_remove(s, c);
	}
	if (v->shutdown_pending) {
		int rc = sup_server_send(s, ANK_CTL_SHUTDOWN, 0, NULL, -1);
		if (rc == -EAGAIN) {
			ctl_want_out(s, true);
			return;
		}
		v->shutdown_pending = false;
		if (rc < 0) {
			sup_server_kill(s, "its control socket failed");
			return;
		}
	}
	ctl_want_out(s, false);
}

/* The ring's epoch first: the server that attaches it reads the epoch it
 * serves from there, and the client sees a new server generation. */
static void attach_client(struct sup *s, struct sup_conn *c)
{
	ank_store_release(&c->hdr->epoch, s->epoch);
	c->state = CL_ATTACHING;
	outq_push(s, c, ANK_CTL_ATTACH);
}

/* A client leaves while no server can be told (sup.gone). */
static void note_gone(struct sup *s, uint64_t id)
{
	for (unsigned k = 0; k < s->ngone; k++)
		if (s->gone[k] == id)
			return;
	if (s->ngone == SUP_MAX_GONE) {
		sup_log("more than %u clients left during recoveries; what a server rebuilt for "
			"client %llu is kept", SUP_MAX_GONE, (unsigned long long)s->gone[0]);
		memmove(s->gone, s->gone + 1, (SUP_MAX_GONE - 1) * sizeof(s->gone[0]));
		s->ngone--;
	}
	s->gone[s->ngone++] = id;
}

/* The server said READY: tell it which clients will never come back. A
 * send that fails is tried again with the next server. */
static void send_gone(struct sup *s)
{
	for (unsigned k = 0; k < s->ngone; k++)
		if (sup_server_send(s, ANK_CTL_DETACH, s->gone[k], NULL, -1) < 0)
			break;
}

static bool gone_answered(struct sup *s, uint64_t id)
{
	for (unsigned k = 0; k < s->ngone; k++) {
		if (s->gone[k] != id)
			continue;
		s->gone[k] = s->gone[--s->ngone];
		return true;
	}
	return false;
}

static void detach_client(struct sup *s, struct sup_conn *c)
{
	c->state = CL_DETACHING;
	outq_push(s, c, ANK_CTL_DETACH);
}

/* The client closed its connection (exited, died, or misbehaved). */
static void conn_hangup(struct sup *s, struct sup_conn *c)
{
	conn_close_sock(s, c);
	switch (c->state) {
	case CL_ATTACHING:
		if (c->out) { /* this server never heard of it (an earlier one may have) */
			note_gone(s, c->id);
			conn_free(s, c);
			return;
		}
		/* ATTACH is with the server: DETACH once it answers. */
		return;
	case CL_LIVE:
		sup_log("client %llu (pid %u) gone; detaching", (unsigned long long)c->id, c->pid);
		detach_client(s, c);
		outq_flush(s);
		return;
	case CL_DETACHING:
		return;
	case CL_WAIT_SERVER: /* nothing on a live server; a dead one had its ring */
		note_gone(s, c->id);
		conn_free(s, c);
		return;
	default: /* HELLO, STOP_WAIT: nothing on the server side */
		conn_free(s, c);
		return;
	}
}

/* ---- stop --------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) finish_stop(struct sup *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->stop_msg, sizeof(s->stop_msg), fmt, ap);
	va_end(ap);
	sup_log("%s", s->stop_msg);
	s->srv.state = SRV_DEAD;
	s->done = true;
	s->exit_code = 0;
}

static void request_stop(struct sup *s, const char *why)
{
	struct sup_server *v = &s->srv;
	if (s->stopping) {
		sup_log("%s: already stopping", why);
		return;
	}
	s->stopping = true;
	s->stop_deadline_ns = sup_now_ns() + STOP_TIMEOUT_NS;
	sup_log("stopping: %s", why);
	/* A standby has read no metadata: nothing to unmount, just end it. */
	sup_proc_kill(s, &s->sb, "the service is stopping");
	if (v->pidfd >= 0) {
		/* A server still starting reads SHUTDOWN after its READY. */
		v->shutdown_pending = true;
		outq_flush(s);
		return;
	}
	finish_stop(s, "stopped; no server was running (its journal is replayed at the next start)");
}

/* ---- connection events -------------------------------------------------- */

static void on_client_hello(struct sup *s, struct sup_conn *c, const struct ank_ctl_hello *h)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		conn_free(s, c);
		return;
	}
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = (uint32_t)cred.pid;
	int status = 0;
	if (h->version != ANK_RING_VERSION)
		status = -EPROTO;
	else if (s->stopping)
		status = -ESHUTDOWN;
	else if (s->nclients >= SUP_MAX_CLIENTS ||
		 s->nclients >= s->cfg.workers * SUP_RINGS_PER_WORKER)
		status = -EMFILE; /* each worker sleeps on at most 127 rings */
	if (status == 0) {
		c->id = s->next_client_id++;
		status = sup_ring_create(c, s->epoch);
		if (status == 0)
			s->nclients++;
	}
	if (status < 0) {
		sup_log("refusing client pid %u: %s", c->pid, strerror(-status));
		welcome_send(c, status, -1);
		conn_free(s, c);
		return;
	}
	c->state = CL_WAIT_SERVER;
	/* While a server starts, the client waits for its READY. */
	if (s->srv.state == SRV_RUNNING) {
		attach_client(s, c);
		outq_flush(s);
	}
}

static void on_hello(struct sup *s, struct sup_conn *c, uint32_t events)
{
	struct ank_ctl_hello h;
	struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			conn_free(s, c);
		return;
	}
	/* Fds sent along are dropped by the kernel (no control buffer). */
	if (n != (ssize_t)sizeof(h) || (mh.msg_flags & MSG_TRUNC) || h.magic != ANK_CTL_MAGIC) {
		if (n != 0)
			sup_log("dropping a connection: malformed hello");
		conn_free(s, c);
		return;
	}
	/* Past the hello: no longer counted as pending, whatever comes next. */
	s->npending--;
	c->state = CONN_ANSWERED;
	switch (h.kind) {
	case ANK_HELLO_STATUS: {
		static char buf[STATUS_MAX];
		size_t len = sup_status_format(s, h.flags & 1u, buf, sizeof(buf));
		sup_send_fd(c->sock, buf, len, -1);
		conn_free(s, c);
		return;
	}
	case ANK_HELLO_STOP: {
		struct ucred cred = {0};
		socklen_t cl = sizeof(cred);
		getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
		c->state = CONN_STOP_WAIT;
		char why[64];
		snprintf(why, sizeof(why), "STOP request from pid %d", (int)cred.pid);
		request_stop(s, why);
		return;
	}
	case ANK_HELLO_CLIENT:
		on_client_hello(s, c, &h);
		return;
	default:
		sup_log("dropping a connection: unknown hello kind %u", h.kind);
		conn_free(s, c);
		return;
	}
}

static void on_conn_event(struct sup *s, struct sup_conn *c, uint32_t events)
{
	if (c->sock < 0)
		return; /* closed earlier in this batch */
	if (c->state == CONN_HELLO) {
		on_hello(s, c, events);
		return;
	}
	/* After its hello a client only ever closes the connection: anything
	 * else is a broken client, and treated as one that left. */
	char b[64];
	ssize_t n = recv(c->sock, b, sizeof(b), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
	    !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	if (n > 0)
		sup_log("client %llu (pid %u) sent unexpected data; dropping it",
			(unsigned long long)c->id, c->pid);
	conn_hangup(s, c);
}

static void on_listen(struct sup *s)
{
	/* A bounded batch: a connection storm must not starve the server. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				sup_log("accept: %s", strerror(errno));
			return;
		}
		if (s->npending >= MAX_PENDING_HELLOS) {
			close(fd);
			continue;
		}
		struct sup_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->obj.kind = SUP_OBJ_CONN;
		c->sock = fd;
		c->ring_fd = -1;
		c->state = CONN_HELLO;
		c->deadline_ns = sup_now_ns() + HELLO_TIMEOUT_NS;
		if (sup_epoll_add(s, fd, EPOLLIN | EPOLLRDHUP, &c->obj) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->npending++;
	}
}

/* ---- server events ------------------------------------------------------ */

static struct sup_conn *find_client(struct sup *s, uint64_t id)
{
	for (struct sup_conn *c = s->conns; c; c = c->next)
		if (c->ring_fd >= 0 && c->id == id)
			return c;
	return NULL;
}

/* Requests served by all workers, as the stats page says (a server-written
 * number: it only decides whether a death counts toward the crash-loop
 * backoff, which is bounded). */
static uint64_t stats_ops(const struct sup *s)
{
	uint64_t n = 0;
	if (!s->stats)
		return 0;
	for (unsigned k = 0; k < s->cfg.workers && k < ANK_STATS_MAX_WORKERS; k++)
		n += __atomic_load_n(&s->stats->ops[k], __ATOMIC_ACQUIRE);
	return n;
}

static void on_ready(struct sup *s)
{
	struct sup_server *v = &s->srv;
	v->state = SRV_RUNNING;
	v->ready_ns = sup_now_ns();
	v->ready_ops = stats_ops(s);
	sup_log("server pid %d ready (epoch %u, %s in %llu ms)", (int)v->pid, s->epoch,
		v->took_over ? "took over" : "started",
		(unsigned long long)((v->ready_ns - v->start_ns) / MSEC));
	sup_record_ready(&s->rec, v->ready_ns);
	s->wd_last_hb = s->stats ? __atomic_load_n(&s->stats->heartbeat, __ATOMIC_ACQUIRE) : 0;
	s->wd_since_ns = v->ready_ns;
	for (unsigned k = 0; k < s->cfg.workers && k < ANK_STATS_MAX_WORKERS; k++) {
		s->wd_last_beat[k] =
			s->stats ? __atomic_load_n(&s->stats->beat[k], __ATOMIC_ACQUIRE) : 0;
		s->wd_beat_since_ns[k] = v->ready_ns;
	}
	s->wd_next_ns = v->ready_ns;
	if (!s->ever_ready) {
		s->ever_ready = true;
		notify_parent(s, "ok");
	}
	if (s->stopping)
		return; /* SHUTDOWN is queued already */
	unsigned n = 0;
	for (struct sup_conn *c = s->conns; c; c = c->next)
		if (c->state == CL_WAIT_SERVER) {
			attach_client(s, c);
			n++;
		}
	if (n)
		sup_log("attaching %u client%s to server pid %d", n, n == 1 ? "" : "s", (int)v->pid);
	outq_flush(s);
	send_gone(s);
}

static void on_attached(struct sup *s, struct sup_conn *c, int32_t status)
{
	if (c->sock < 0) { /* the client left while the server attached it */
		if (status == 0) {
			detach_client(s, c);
			outq_flush(s);
		} else {
			conn_free(s, c);
		}
		return;
	}
	if (status < 0) {
		sup_log("server refused client %llu (pid %u): %s%s", (unsigned long long)c->id, c->pid,
			strerror(-status), c->welcomed ? "; dropping it" : "");
		if (!c->welcomed)
			welcome_send(c, status, -1);
		conn_free(s, c);
		return;
	}
	c->state = CL_LIVE;
	if (c->welcomed)
		return;
	if (welcome_send(c, 0, c->ring_fd) < 0) {
		conn_hangup(s, c);
		return;
	}
	c->welcomed = true;
	sup_log("client %llu attached (pid %u, uid %u)", (unsigned long long)c->id, c->pid, c->uid);
}

/* One message from the server. Returns false when it got the server killed. */
static bool on_server_msg(struct sup *s, const struct ank_ctl_msg *m)
{
	struct sup_server *v = &s->srv;
	struct sup_conn *c;
	/* Statuses are -errno or 0; anything else is garbage. */
	if (m->status > 0 || m->status < -4095) {
		sup_server_kill(s, "bad status in a control message");
		return false;
	}
	switch (m->type) {
	case ANK_CTL_READY:
		if (v->state != SRV_STARTING)
			break;
		on_ready(s);
		return true;
	case ANK_CTL_ATTACHED:
		c = find_client(s, m->client_id);
		if (!c || c->state != CL_ATTACHING || c->out)
			break;
		on_attached(s, c, m->status);
		return true;
	case ANK_CTL_DETACHED:
		c = find_client(s, m->client_id);
		if (!c && gone_answered(s, m->client_id))
			return true; /* dropped (0) or never rebuilt (-ENOENT) */
		if (!c || c->state != CL_DETACHING || c->out)
			break;
		conn_free(s, c);
		return true;
	case ANK_CTL_STOPPED:
		v->got_stopped = true;
		v->stopped_status = m->status;
		if (!s->stopping && v->state == SRV_RUNNING)
			sup_log("server pid %d stopped on its own (%s)", (int)v->pid,
				m->status ? strerror(-m->status) : "status 0");
		return true;
	default:
		break;
	}
	char why[96];
	snprintf(why, sizeof(why), "unexpected control message (type %u, client %llu)", m->type,
		 (unsigned long long)m->client_id);
	sup_server_kill(s, why);
	return false;
}

/* The serving server's recovery report (untrusted: only displayed). It
 * comes before READY, and again, with cumulative counts, after an ATTACH
 * that settled in-flight requests. */
static bool on_report(struct sup *s, const struct ank_ctl_report *r)
{
	struct sup_server *v = &s->srv;
	if (v->state != SRV_STARTING && v->state != SRV_RUNNING) {
		sup_server_kill(s, "unexpected RECOVERED message");
		return false;
	}
	v->got_report = true;
	sup_record_report(&s->rec, (int)v->pid, r);
	return true;
}

/* One message from the standby: only STANDBY (and STOPPED, when it could
 * not start) make sense. Returns false when it got the standby killed. */
static bool on_standby_msg(struct sup *s, const struct ank_ctl_msg *m)
{
	struct sup_server *b = &s->sb;
	if (m->status > 0 || m->status < -4095) {
		sup_proc_kill(s, b, "bad status in a control message");
		return false;
	}
	if (m->type == ANK_CTL_STANDBY && b->state == SRV_STARTING) {
		b->state = SRV_RUNNING;
		b->ready_ns = sup_now_ns();
		sup_log("standby server pid %d ready in %llu ms", (int)b->pid,
			(unsigned long long)((b->ready_ns - b->start_ns) / MSEC));
		return true;
	}
	if (m->type == ANK_CTL_STOPPED) {
		b->got_stopped = true;
		b->stopped_status = m->status;
		return true;
	}
	char why[96];
	snprintf(why, sizeof(why), "unexpected control message from a standby (type %u)", m->type);
	sup_proc_kill(s, b, why);
	return false;
}

static void on_ctl_event(struct sup *s, struct sup_server *v, uint32_t events)
{
	bool standby = v == &s->sb;
	if (v->ctl < 0)
		return;
	if ((events & EPOLLOUT) && !standby)
		outq_flush(s);
	for (int i = 0; i < SRV_MSGS_PER_WAKEUP && v->ctl >= 0; i++) {
		union {
			struct ank_ctl_msg m;
			struct ank_ctl_report r;
		} u;
		struct ank_ctl_msg m;
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} cm;
		struct iovec iov = {.iov_base = &u, .iov_len = sizeof(u)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf)};
		ssize_t n = recvmsg(v->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!(events & (EPOLLHUP | EPOLLERR)))
				return;
			n = 0; /* hung up with nothing left to read */
		}
		if (n == 0 || n < 0) {
			/* Expected after STOPPED; otherwise the server is dying
			 * (a process's fds close before its pidfd fires) or it
			 * closed fd 3 and nobody can talk to it: it gets a
			 * moment to die on its own, then SIGKILL. */
			sup_epoll_del(s, v->ctl);
			close(v->ctl);
			v->ctl = -1;
			v->ctl_want_out = false;
			if (!s->stopping)
				v->hup_deadline_ns = sup_now_ns() + CTL_HUP_GRACE_NS;
			return;
		}
		/* The server has no business sending fds: close any. */
		int nfds = 0;
		for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
			if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int fd;
				memcpy(&fd, CMSG_DATA(ch) + j * sizeof(int), sizeof(int));
				close(fd);
				nfds++;
			}
		}
		/* Two shapes: a control message, or (type RECOVERED) a report. */
		bool ok = !nfds && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
			  n >= (ssize_t)sizeof(m) && u.m.magic == ANK_CTL_MAGIC;
		bool report = ok && n == (ssize_t)sizeof(u.r) && u.r.type == ANK_CTL_RECOVERED;
		if (!report && (!ok || n != (ssize_t)sizeof(m) || u.m.type == ANK_CTL_RECOVERED)) {
			sup_proc_kill(s, v, "malformed control message");
			return;
		}
		if (report) {
			struct ank_ctl_report r = u.r;
			if (standby) {
				sup_proc_kill(s, v, "recovery report from a standby");
				return;
			}
			if (!on_report(s, &r))
				return;
			continue;
		}
		m = u.m;
		if (!(standby ? on_standby_msg(s, &m) : on_server_msg(s, &m)))
			return;
	}
}

/* A short cause for the recovery report: "hang", "signal 9", "exit 1". */
static void death_cause(const struct sup_server *v, int st, char *out, size_t len)
{
	if (v->hang)
		snprintf(out, len, "hang");
	else if (st >= 0 && WIFSIGNALED(st))
		snprintf(out, len, "signal %d", WTERMSIG(st));
	else if (st >= 0 && WIFEXITED(st))
		snprintf(out, len, "exit %d", WEXITSTATUS(st));
	else
		snprintf(out, len, "unknown");
}

/* The server process is gone: reap it and decide what comes next. */
static void on_server_death(struct sup *s)
{
	struct sup_server *v = &s->srv;
	if (v->pidfd < 0)
		return;
	/* "Detect" starts at the death as far as the supervisor can know it:
	 * its own SIGKILL, else the moment epoll reported the pidfd readable. */
	uint64_t death_ns = v->killed && v->kill_ns ? v->kill_ns : s->batch_ns;
	char desc[128];
	/* Blocks until the whole process (every thread) is gone and reaped. */
	int st = sup_server_reap(s, desc, sizeof(desc));
	uint64_t now = sup_now_ns();
	bool was_ready = v->ready_ns != 0;
	pid_t pid = v->pid;
	if (!s->stopping && s->ever_ready) {
		char cause[64];
		death_cause(v, st, cause, sizeof(cause));
		sup_record_death(&s->rec, death_ns, now, (int)pid, cause);
		/* A death the server caused itself: a fatal signal that is
		 * not an outside SIGKILL, a failing exit, or our kill for a
		 * hang. Requests it had claimed are suspects (quarantine.c). */
		bool self = v->killed ? v->hang && !v->hang_outside
				      : st >= 0 && ((WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL) ||
						    (WIFEXITED(st) && WEXITSTATUS(st) != 0));
		/* A fatal signal someone else sent (the server's handler says so,
		 * naming itself): not its own doing. Believing the server here
		 * can only spare its requests from quarantine; a server that
		 * lies and crashes again and again still meets the crash-loop
		 * backoff. */
		uint32_t signalled = s->stats ? __atomic_exchange_n(&s->stats->signalled_pid, 0,
								       __ATOMIC_ACQ_REL)
					      : 0;
		if (self && !v->killed && WIFSIGNALED(st) && signalled == (uint32_t)pid)
			self = false;
		sup_quarantine_on_death(s, self);
	}

	s->sigstop_since_ns = 0; /* (the next server's own, from its start) */
	/* Whatever was queued for it is void; rings stay, clients wait. */
	while (s->outq_head)
		outq_remove(s, s->outq_head);
	v->shutdown_pending = false;
	for (struct sup_conn *c = s->conns, *n; c; c = n) {
		n = c->next;
		if (c->state == CL_DETACHING ||
		    ((c->state == CL_ATTACHING || c->state == CL_LIVE) && c->sock < 0)) {
			note_gone(s, c->id);
			conn_free(s, c);
		}
		else if (c->state == CL_ATTACHING || c->state == CL_LIVE)
			c->state = CL_WAIT_SERVER;
	}

	char killed[160] = "";
	if (v->killed)
		snprintf(killed, sizeof(killed), "; killed by the supervisor: %s", v->kill_reason);

	bool exit0 = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	bool clean = v->got_stopped && v->stopped_status == 0 && exit0 && !v->killed;
	if (s->stopping && s->ever_ready && !clean && s->stop_recoveries < STOP_RECOVERIES &&
	    now < s->stop_deadline_ns) {
		/* It died (or failed its unmount) before the stop was done:
		 * what it had not synced is in the p-logs and the journal. A
		 * new server recovers it like after any crash, then stops
		 * cleanly; the stop's deadline still holds. One that said it
		 * had unmounted and then crashed anyway (a stray write that
		 * struck on the way out) is not believed either: its last
		 * commit may carry the same damage, and a recovery checks. */
		s->stop_recoveries++;
		sup_log("server pid %d %s%s while stopping; recovering it to finish the stop "
			"(%u of %u)",
			(int)pid,
			!v->got_stopped		  ? "ended with "
			: v->stopped_status != 0 ? "failed its unmount, then ended with "
						   : "unmounted, then ended with ",
			desc, s->stop_recoveries, STOP_RECOVERIES);
		v->state = SRV_BACKOFF;
		s->backoff_until_ns = now;
		s->stop_recovering = true;
		return;
	}
	if (s->stopping) {
		if (clean)
			finish_stop(s, "stopped cleanly");
		else if (v->got_stopped && v->stopped_status != 0)
			finish_stop(s, "stop failed: server pid %d reported %s while unmounting (%s)",
				    (int)pid, strerror(-v->stopped_status), desc);
		else if (v->got_stopped)
			finish_stop(s, "stop failed: server pid %d unmounted but then ended with %s%s",
				    (int)pid, desc, killed);
		else
			finish_stop(s,
				    "stop failed: server pid %d ended with %s before it unmounted%s "
				    "(its journal is replayed at the next start)",
				    (int)pid, desc, killed);
		return;
	}
	if (!s->ever_ready) {
		if (v->got_stopped)
			startup_failed(s, "the server failed to start: it reported %s (%s)",
				       strerror(-v->stopped_status), desc);
		else
			startup_failed(s, "the server failed to start: pid %d ended with %s%s", (int)pid,
				       desc, killed);
		return;
	}

	/* A crash loop is a server that dies before it serves anything: one
	 * that was ready and served requests since made progress, however
	 * soon it died (a request that kills every server that runs it is
	 * quarantined instead, see quarantine.c). */
	bool quick = !was_ready ||
		     (now - v->ready_ns < QUICK_DEATH_NS && stats_ops(s) == v->ready_ops);
	s->quick_deaths = quick ? s->quick_deaths + 1 : 0;
	uint64_t delay = 0;
	if (s->quick_deaths > QUICK_DEATHS_FREE) {
		unsigned k = s->quick_deaths - QUICK_DEATHS_FREE - 1;
		delay = k >= 5 ? BACKOFF_MAX_NS : BACKOFF_MIN_NS << k;
		if (delay > BACKOFF_MAX_NS)
			delay = BACKOFF_MAX_NS;
	}
	s->restarts++;
	s->epoch++;
	char when[64] = "";
	if (delay)
		snprintf(when, sizeof(when), " in %llu ms (%u quick deaths in a row)",
			 (unsigned long long)(delay / MSEC), s->quick_deaths);
	sup_log("server pid %d died (%s%s)%s; restarting%s%s", (int)pid, desc, killed,
		was_ready ? "" : " before it was ready", when,
		s->sb.state == SRV_RUNNING ? " from the standby" : "");
	/* The start itself waits for the end of this epoll batch: later events
	 * of the batch still refer to the dead server's fds. */
	v->state = SRV_BACKOFF;
	s->backoff_until_ns = now + delay;
}

/* The standby process is gone: reap it; start another one later (backoff on
 * quick deaths), or give up on standbys when the server cannot be one. */
static void on_standby_death(struct sup *s)
{
	struct sup_server *b = &s->sb;
	if (b->pidfd < 0)
		return;
	char desc[128];
	int st = sup_proc_reap(s, b, desc, sizeof(desc));
	uint64_t now = sup_now_ns();
	bool was_ready = b->ready_ns != 0;
	b->state = SRV_NONE;
	if (s->stopping || s->done)
		return;
	if (!was_ready && ((st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2) ||
			   (b->got_stopped && b->stopped_status == -EINVAL))) {
		s->sb_mode = SB_DISABLED;
		sup_log("standby server pid %d refused --standby (%s): standby disabled, restarts "
			"use a fresh exec",
			(int)b->pid, desc);
		return;
	}
	if (s->sb_mode == SB_DISABLED)
		return;
	bool quick = !was_ready || now - b->ready_ns < QUICK_DEATH_NS;
	s->sb_quick_deaths = quick ? s->sb_quick_deaths + 1 : 0;
	uint64_t delay = 0;
	if (s->sb_quick_deaths > QUICK_DEATHS_FREE) {
		unsigned k = s->sb_quick_deaths - QUICK_DEATHS_FREE - 1;
		delay = k >= 5 ? BACKOFF_MAX_NS : BACKOFF_MIN_NS << k;
		if (delay > BACKOFF_MAX_NS)
			delay = BACKOFF_MAX_NS;
	}
	s->sb_backoff_until_ns = now + delay;
	char killed[160] = "";
	if (b->killed)
		snprintf(killed, sizeof(killed), "; killed by the supervisor: %s", b->kill_reason);
	sup_log("standby server pid %d died (%s%s)%s; starting another in %llu ms", (int)b->pid,
		desc, killed, was_ready ? "" : " before it was ready",
		(unsigned long long)(delay / MSEC));
}

/* The serving server is dead and reaped: the ready standby becomes the
 * server. It gets TAKEOVER, mounts and recovers, and says READY; the
 * clients are re-attached then, as after a fresh start. */
static int takeover(struct sup *s)
{
	struct sup_server *v = &s->srv;
	struct sup_server *b = &s->sb;
	*v = *b;
	v->ctl_obj.kind = SUP_OBJ_SRV_CTL;
	v->pid_obj.kind = SUP_OBJ_SRV_PID;
	memset(b, 0, sizeof(*b));
	b->ctl_obj.kind = SUP_OBJ_SB_CTL;
	b->pid_obj.kind = SUP_OBJ_SB_PID;
	b->pidfd = b->ctl = -1;
	b->state = SRV_NONE;

	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &v->ctl_obj};
	struct epoll_event pe = {.events = EPOLLIN, .data.ptr = &v->pid_obj};
	int rc = 0;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, v->ctl, &ev) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_MOD, v->pidfd, &pe) < 0)
		rc = -errno;
	uint64_t now = sup_now_ns();
	v->state = SRV_STARTING;
	v->took_over = true;
	v->start_ns = now;
	v->ready_ns = 0;
	v->ready_deadline_ns = now + 30 * NSEC;
	if (rc == 0)
		rc = sup_proc_send(v, ANK_CTL_TAKEOVER, 0, NULL, -1);
	sup_record_handover(&s->rec, now, true, (int)v->pid);
	if (rc < 0) {
		/* Its death brings the fresh-exec path. */
		sup_server_kill(s, "TAKEOVER could not be sent");
		return 0;
	}
	sup_log("standby server pid %d takes over (epoch %u)", (int)v->pid, s->epoch);
	return 0;
}

/* Every client of the recovery re-attached: the recovery is complete. */
static void recovery_check_done(struct sup *s)
{
	if (!sup_record_active(&s->rec) || s->srv.state != SRV_RUNNING)
		return;
	for (const struct sup_conn *c = s->conns; c; c = c->next)
		if (c->state == CL_WAIT_SERVER || c->state == CL_ATTACHING)
			return;
	sup_record_finish(&s->rec, sup_now_ns(), (int)s->srv.pid);
}

static uint64_t wd_tick_ns(const struct sup *s)
{
	uint64_t t = (uint64_t)s->cfg.watchdog_ms * MSEC / 4;
	if (t > WD_TICK_MAX_NS)
		t = WD_TICK_MAX_NS;
	return t < MSEC ? MSEC : t;
}

static bool wd_active(const struct sup *s)
{
	const struct sup_server *v = &s->srv;
	return s->cfg.watchdog_ms && s->stats && s->nclients && !s->stopping &&
	       v->state == SRV_RUNNING && v->pidfd >= 0 && !v->killed;
}

/* The watchdog: a worker whose rings have requests pending while its
 * heartbeat stands still for watchdog_ms is hung (stuck in one request, or
 * not looping at all), whatever the other workers do; the server is killed
 * and recovered. A ring no worker claims yet (the ring header's `worker`
 * word, written by the server) is judged by the shared heartbeat. An idle
 * server (nothing pending) is never killed, whatever its heartbeats do. */
static void watchdog(struct sup *s, uint64_t now)
{
	s->wd_next_ns = now + wd_tick_ns(s);
	unsigned nw = s->cfg.workers < ANK_STATS_MAX_WORKERS ? s->cfg.workers : ANK_STATS_MAX_WORKERS;
	bool pending[ANK_STATS_MAX_WORKERS] = {false}, pending_other = false;
	for (const struct sup_conn *c = s->conns; c; c = c->next) {
		if ((c->state != CL_LIVE && c->state != CL_ATTACHING) || !sup_ring_pending(c))
			continue;
		uint32_t w = __atomic_load_n(&c->hdr->worker, __ATOMIC_ACQUIRE);
		if (w >= 1 && w <= nw)
			pending[w - 1] = true;
		else
			pending_other = true;
	}
	/* The server's own word that it waits for the device (io_busy) may
	 * stretch the silence allowed from watchdog_ms to io_timeout_ms, no
	 * more, and not at all when the kernel says the process is stopped
	 * (SIGSTOP, a debugger): then no device wait can be its excuse. */
	uint64_t limit = (uint64_t)s->cfg.watchdog_ms * MSEC;
	bool stopped = sup_process_stopped(s->srv.pid);
	if (__atomic_load_n(&s->stats->io_busy, __ATOMIC_ACQUIRE) != 0 &&
	    s->cfg.io_timeout_ms > s->cfg.watchdog_ms && !stopped)
		limit = (uint64_t)s->cfg.io_timeout_ms * MSEC;
	char why[128] = "";
	for (unsigned k = 0; k < nw && !why[0]; k++) {
		uint64_t b = __atomic_load_n(&s->stats->beat[k], __ATOMIC_ACQUIRE);
		if (!pending[k] || b != s->wd_last_beat[k]) {
			s->wd_last_beat[k] = b;
			s->wd_beat_since_ns[k] = now;
		} else if (now - s->wd_beat_since_ns[k] >= limit) {
			snprintf(why, sizeof(why),
				 "hang: worker %u has requests pending and no heartbeat for %llu ms", k,
				 (unsigned long long)((now - s->wd_beat_since_ns[k]) / MSEC));
		}
	}
	uint64_t hb = __atomic_load_n(&s->stats->heartbeat, __ATOMIC_ACQUIRE);
	if (!pending_other || hb != s->wd_last_hb) {
		s->wd_last_hb = hb;
		s->wd_since_ns = now;
	} else if (!why[0] && now - s->wd_since_ns >= limit) {
		snprintf(why, sizeof(why), "hang: requests pending and no heartbeat for %llu ms",
			 (unsigned long long)((now - s->wd_since_ns) / MSEC));
	}
	if (!why[0])
		return;
	/* A process stopped from outside hangs through no fault of the
	 * request it runs: that does not count toward its quarantine. */
	s->srv.hang = true;
	s->srv.hang_outside = stopped;
	sup_server_kill(s, stopped ? "hang: the process is stopped (SIGSTOP) with requests pending"
				   : why);
}

/* A new standby is started once the server runs and no recovery is in
 * progress: a standby starting up (exec, device, memory faulted in) would
 * compete for the CPUs with the recovery it is meant to speed up next
 * time. */
static bool standby_wanted(const struct sup *s)
{
	return !s->cfg.no_standby && s->sb_mode == SB_ENABLED && !s->stopping && !s->done &&
	       s->ever_ready && s->sb.pidfd < 0 && !sup_record_active(&s->rec) &&
	       (s->srv.state == SRV_RUNNING || s->srv.state == SRV_STARTING);
}

static void on_signal(struct sup *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		char why[64];
		snprintf(why, sizeof(why), "%s from pid %u", strsignal((int)si.ssi_signo), si.ssi_pid);
		request_stop(s, why);
	}
}

/* ---- timers ------------------------------------------------------------- */

/*
 * Every timer of the supervisor is one row of `timers`: `due` says when it
 * fires next (NEVER when it is not armed), `fire` does what is due. The
 * event loop sleeps until the earliest due time of all rows
 * (next_timeout_ms) and then fires every row that is due, in table order
 * (run_timers), so the two can never disagree on what a timer waits for.
 */
#define NEVER UINT64_MAX

struct sup_timer {
	const char *name;
	uint64_t (*due)(const struct sup *s);
	void (*fire)(struct sup *s, uint64_t now);
};

/* A connection silent since it connected is dropped. */
static uint64_t hello_due(const struct sup *s)
{
	uint64_t next = NEVER;
	if (s->npending)
		for (const struct sup_conn *c = s->conns; c; c = c->next)
			if (c->state == CONN_HELLO && c->deadline_ns < next)
				next = c->deadline_ns;
	return next;
}

static void hello_fire(struct sup *s, uint64_t now)
{
	for (struct sup_conn *c = s->conns, *n; c; c = n) {
		n = c->next;
		if (c->state == CONN_HELLO && now >= c->deadline_ns)
			conn_free(s, c);
	}
}

/* A dead server's successor starts once the crash-loop backoff is over:
 * the ready standby takes over, else a fresh exec. */
static uint64_t restart_due(const struct sup *s)
{
	return s->srv.state == SRV_BACKOFF && (!s->stopping || s->stop_recovering)
		       ? s->backoff_until_ns
		       : NEVER;
}

static void restart_fire(struct sup *s, uint64_t now)
{
	struct sup_server *v = &s->srv;
	struct sup_server *b = &s->sb;
	int rc;
	if (b->state == SRV_RUNNING && b->pidfd >= 0 && b->ctl >= 0 && !b->killed &&
	    !b->hup_deadline_ns) {
		rc = takeover(s);
	} else {
		rc = sup_server_spawn(s);
		if (rc == 0)
			sup_record_handover(&s->rec, sup_now_ns(), false, (int)v->pid);
	}
	if (rc == 0 && s->stopping) {
		/* it recovers, says READY, then reads SHUTDOWN */
		s->stop_recovering = false;
		v->shutdown_pending = true;
		outq_flush(s);
	}
	if (rc < 0) {
		/* fork/socketpair failures are transient (memory, fds): keep
		 * trying, slowly, and say so every time. */
		s->quick_deaths++;
		s->backoff_until_ns = now + BACKOFF_MAX_NS;
		sup_log("cannot start a server: %s; retrying in 2 s", strerror(-rc));
	}
}

/* A server that does not say READY within 30 s is killed. */
static uint64_t ready_due(const struct sup *s)
{
	const struct sup_server *v = &s->srv;
	return v->state == SRV_STARTING && v->pidfd >= 0 && !v->killed ? v->ready_deadline_ns
									: NEVER;
}

static void ready_fire(struct sup *s, uint64_t now)
{
	(void)now;
	sup_server_kill(s, "not READY within 30 s");
}

/* A process that closed its control socket but lives on is killed after a
 * grace period (the server, then the standby). */
static uint64_t hup_due_of(const struct sup_server *v)
{
	return v->hup_deadline_ns && v->pidfd >= 0 && !v->killed ? v->hup_deadline_ns : NEVER;
}

static uint64_t srv_hup_due(const struct sup *s)
{
	return hup_due_of(&s->srv);
}

static void srv_hup_fire(struct sup *s, uint64_t now)
{
	(void)now;
	sup_server_kill(s, "it closed its control socket");
}

static uint64_t sb_hup_due(const struct sup *s)
{
	return hup_due_of(&s->sb);
}

static void sb_hup_fire(struct sup *s, uint64_t now)
{
	(void)now;
	sup_proc_kill(s, &s->sb, "it closed its control socket");
}

static uint64_t watchdog_due(const struct sup *s)
{
	return wd_active(s) ? s->wd_next_ns : NEVER;
}

/* A new standby, once wanted and past its own backoff. */
static uint64_t sb_start_due(const struct sup *s)
{
	return standby_wanted(s) ? s->sb_backoff_until_ns : NEVER;
}

static void sb_start_fire(struct sup *s, uint64_t now)
{
	int rc = sup_proc_spawn(s, &s->sb, true);
	if (rc < 0) {
		s->sb_backoff_until_ns = now + BACKOFF_MAX_NS;
		sup_log("cannot start a standby server: %s; retrying in 2 s", strerror(-rc));
	}
}

/* A standby that does not say STANDBY within 5 s disables standbys. */
static uint64_t sb_ready_due(const struct sup *s)
{
	const struct sup_server *b = &s->sb;
	return b->state == SRV_STARTING && b->pidfd >= 0 && !b->killed
		       ? b->start_ns + STANDBY_TIMEOUT_NS
		       : NEVER;
}

static void sb_ready_fire(struct sup *s, uint64_t now)
{
	(void)now;
	s->sb_mode = SB_DISABLED;
	sup_proc_kill(s, &s->sb, "no STANDBY within 5 s: standby disabled, restarts use a "
				 "fresh exec");
}

/* The watchdog looks only at a running server with requests pending. A
 * server the kernel reports stopped (SIGSTOP) while the service stops
 * will not unmount, and one stopped while it starts or recovers keeps
 * every client waiting: either is looked at every WD_TICK_MAX_NS and
 * replaced after watchdog_ms (500 ms when off) instead of waiting out the
 * stop's 60 s or the 30 s allowed to become READY. */
static uint64_t sigstop_due(const struct sup *s)
{
	const struct sup_server *v = &s->srv;
	return (s->stopping || v->state == SRV_STARTING) && v->pidfd >= 0 && !v->killed
		       ? s->sigstop_poll_ns
		       : NEVER;
}

static void sigstop_fire(struct sup *s, uint64_t now)
{
	s->sigstop_poll_ns = now + WD_TICK_MAX_NS;
	if (!sup_process_stopped(s->srv.pid)) {
		s->sigstop_since_ns = 0;
	} else if (!s->sigstop_since_ns) {
		s->sigstop_since_ns = now;
	} else if (now - s->sigstop_since_ns >=
		   (uint64_t)(s->cfg.watchdog_ms ? s->cfg.watchdog_ms : 500) * MSEC) {
		s->sigstop_since_ns = 0;
		if (s->stopping) {
			sup_server_kill(s, "stopped (SIGSTOP) during the stop");
		} else {
			/* (stopped from outside: not the fault of a request) */
			s->srv.hang = true;
			s->srv.hang_outside = true;
			sup_server_kill(s, "stopped (SIGSTOP) before it was READY");
		}
	}
}

/* A stop that takes over 60 s kills the server; one that survives SIGKILL
 * for 5 more ends the stop as failed. */
static uint64_t stop_limit_due(const struct sup *s)
{
	if (!s->stopping || s->srv.pidfd < 0)
		return NEVER;
	return s->kill_deadline_ns ? s->kill_deadline_ns : s->stop_deadline_ns;
}

static void stop_limit_fire(struct sup *s, uint64_t now)
{
	if (!s->kill_deadline_ns) {
		sup_server_kill(s, "did not stop within 60 s");
		s->kill_deadline_ns = now + KILL_WAIT_NS;
	} else {
		finish_stop(s, "stop failed: server pid %d did not stop within 60 s and "
			       "survived SIGKILL for 5 s",
			    (int)s->srv.pid);
	}
}

static const struct sup_timer timers[] = {
	{"hello", hello_due, hello_fire},
	{"restart", restart_due, restart_fire},
	{"ready", ready_due, ready_fire},
	{"server hangup", srv_hup_due, srv_hup_fire},
	{"watchdog", watchdog_due, watchdog},
	{"standby start", sb_start_due, sb_start_fire},
	{"standby ready", sb_ready_due, sb_ready_fire},
	{"standby hangup", sb_hup_due, sb_hup_fire},
	{"stopped (SIGSTOP)", sigstop_due, sigstop_fire},
	{"stop limit", stop_limit_due, stop_limit_fire},
};

/* Fire every due timer, in table order (a row sees what the rows before it
 * changed); nothing but dropping silent connections once the service is
 * done. Then see whether the recovery in progress is complete. */
static void run_timers(struct sup *s)
{
	uint64_t now = sup_now_ns();
	for (size_t k = 0; k < sizeof(timers) / sizeof(timers[0]); k++) {
		if (s->done && k > 0)
			return;
		if (timers[k].due(s) <= now)
			timers[k].fire(s, now);
	}
	recovery_check_done(s);
}

/* How long the event loop may sleep: until the earliest due timer. */
static int next_timeout_ms(const struct sup *s)
{
	uint64_t next = NEVER;
	for (size_t k = 0; k < sizeof(timers) / sizeof(timers[0]); k++) {
		uint64_t t = timers[k].due(s);
		if (t < next)
			next = t;
	}
	if (next == NEVER)
		return -1;
	uint64_t now = sup_now_ns();
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + MSEC - 1) / MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void event_loop(struct sup *s)
{
	struct epoll_event evs[64];
	while (!s->done) {
		int n = epoll_wait(s->epfd, evs, 64, next_timeout_ms(s));
		s->batch_ns = sup_now_ns();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sup_log("epoll_wait: %s", strerror(errno));
			startup_failed(s, "internal error: epoll_wait failed");
			break;
		}
		for (int i = 0; i < n && !s->done; i++) {
			struct sup_obj *o = evs[i].data.ptr;
			switch (o->kind) {
			case SUP_OBJ_LISTEN: on_listen(s); break;
			case SUP_OBJ_SIGNAL: on_signal(s); break;
			case SUP_OBJ_SRV_CTL: on_ctl_event(s, &s->srv, evs[i].events); break;
			case SUP_OBJ_SRV_PID: on_server_death(s); break;
			case SUP_OBJ_SB_CTL: on_ctl_event(s, &s->sb, evs[i].events); break;
			case SUP_OBJ_SB_PID: on_standby_death(s); break;
			case SUP_OBJ_CONN:
				on_conn_event(s, (struct sup_conn *)o, evs[i].events);
				break;
			}
		}
		run_timers(s);
		free_zombies(s);
	}
}

/* ---- setup and teardown ------------------------------------------------- */

/* Each client costs the supervisor two fds (socket, ring) and the server at
 * least one: lift the soft limit so SUP_MAX_CLIENTS fit (the server
 * inherits it). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = 4 * SUP_MAX_CLIENTS;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int resolve_paths(struct sup *s)
{
	if (!realpath(s->cfg.image, s->image)) {
		fprintf(stderr, "ananke: serve: %s: %s\n", s->cfg.image, strerror(errno));
		return -1;
	}
	const char *p = s->cfg.socket_path;
	if (p[0] == '/') {
		snprintf(s->socket_abs, sizeof(s->socket_abs), "%s", p);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "ananke: serve: getcwd: %s\n", strerror(errno));
			return -1;
		}
		while (p[0] == '.' && p[1] == '/')
			p += 2;
		snprintf(s->socket_abs, sizeof(s->socket_abs), "%s%s%s", cwd,
			 strcmp(cwd, "/") ? "/" : "", p);
	}
	return 0;
}

/* Two services on one image would corrupt it: hold an OFD write lock on it
 * for the supervisor's lifetime (advisory; the server itself takes none). */
static int lock_image(struct sup *s)
{
	int fd = open(s->image, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ananke: serve: cannot open %s: %s\n", s->image, strerror(errno));
		return -1;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			fprintf(stderr, "ananke: serve: %s is in use by another ananke service\n",
				s->image);
		else
			fprintf(stderr, "ananke: serve: cannot lock %s: %s\n", s->image,
				strerror(errno));
		close(fd);
		return -1;
	}
	s->image_lock_fd = fd;
	return 0;
}

static struct stat g_sock_st; /* the socket file we created, to unlink only ours */

int sup_check_socket(const char *path)
{
	int rc = sup_probe(path);
	if (rc == 1)
		fprintf(stderr, "ananke: serve: a service is already running on %s\n", path);
	else if (rc == -ENOTSOCK)
		fprintf(stderr, "ananke: serve: %s exists and is not a socket\n", path);
	else if (rc == -ENAMETOOLONG)
		fprintf(stderr, "ananke: serve: socket path too long (at most %zu bytes): %s\n",
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
	else if (rc < 0)
		fprintf(stderr, "ananke: serve: cannot use socket %s: %s\n", path, strerror(-rc));
	return rc == 0 ? 0 : -1;
}

static int open_listener(struct sup *s)
{
	const char *path = s->cfg.socket_path;
	struct sockaddr_un sa;
	if (sup_sockaddr(path, &sa) < 0) {
		fprintf(stderr, "ananke: serve: socket path too long (at most %zu bytes): %s\n",
			sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	/* Checked again under the image lock: the probe before the lock only
	 * chose the better message. A socket file nobody answers on was left
	 * by a supervisor that was killed. */
	if (sup_check_socket(path) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "ananke: serve: cannot remove stale socket %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fprintf(stderr, "ananke: serve: socket: %s\n", strerror(errno));
		return -1;
	}
	/* umask, not just the chmod below: no window where others can connect */
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	umask(old);
	if (rc < 0) {
		if (err == EADDRINUSE)
			fprintf(stderr, "ananke: serve: a service is already running on %s\n", path);
		else
			fprintf(stderr, "ananke: serve: bind %s: %s\n", path, strerror(err));
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0 || lstat(path, &g_sock_st) < 0) {
		fprintf(stderr, "ananke: serve: %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	s->listen_fd = fd;
	return 0;
}

static void remove_socket(struct sup *s)
{
	struct stat st;
	if (s->listen_fd < 0)
		return;
	close(s->listen_fd);
	s->listen_fd = -1;
	/* Only if it is still ours: never remove a successor's socket. */
	if (lstat(s->cfg.socket_path, &st) == 0 && st.st_ino == g_sock_st.st_ino &&
	    st.st_dev == g_sock_st.st_dev)
		unlink(s->cfg.socket_path);
}

/*
 * Detach from the terminal. The parent waits until the child reports that
 * the first server is READY (or why it failed), so `ananke serve` returns
 * only once the service works. Returns 1 in the parent (exit code in
 * *code), 0 in the child, -1 on error.
 */
static int daemonize(struct sup *s, int *code)
{
	char logpath[4096 + 8];
	snprintf(logpath, sizeof(logpath), "%s.log", s->cfg.socket_path);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "ananke: serve: cannot open log %s: %s\n", logpath, strerror(errno));
		return -1;
	}
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int p[2];
	if (nullfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "ananke: serve: %s\n", strerror(errno));
		close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ananke: serve: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		close(logfd);
		close(nullfd);
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		close(logfd);
		close(nullfd);
		char msg[600];
		size_t got = 0;
		for (;;) {
			ssize_t n = read(p[0], msg + got, sizeof(msg) - 1 - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
			if (got == sizeof(msg) - 1)
				break;
		}
		msg[got] = '\0';
		close(p[0]);
		if (!strcmp(msg, "ok")) {
			printf("ananke: serving %s on %s (supervisor pid %d)\n", s->image, s->socket_abs,
			       (int)pid);
			*code = 0;
		} else {
			fprintf(stderr, "ananke: serve: %s\nananke: serve: log: %s\n",
				got ? msg : "the supervisor exited during startup", logpath);
			*code = 1;
		}
		return 1;
	}
	close(p[0]);
	s->notify_fd = p[1];
	setsid();
	dup2(nullfd, 0);
	dup2(nullfd, 1);
	dup2(logfd, 2);
	close(nullfd);
	close(logfd);
	return 0;
}

static int setup_loop(struct sup *s)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Writes to a vanished peer must return EPIPE, not kill us (sends use
	 * MSG_NOSIGNAL; this covers the log on a closed pipe too). */
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return -errno;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	s->listen_obj.kind = SUP_OBJ_LISTEN;
	s->sig_obj.kind = SUP_OBJ_SIGNAL;
	s->srv.ctl_obj.kind = SUP_OBJ_SRV_CTL;
	s->srv.pid_obj.kind = SUP_OBJ_SRV_PID;
	s->sb.ctl_obj.kind = SUP_OBJ_SB_CTL;
	s->sb.pid_obj.kind = SUP_OBJ_SB_PID;
	int rc = sup_epoll_add(s, s->listen_fd, EPOLLIN, &s->listen_obj);
	if (rc == 0)
		rc = sup_epoll_add(s, s->sigfd, EPOLLIN, &s->sig_obj);
	if (rc == 0)
		rc = sup_stats_create(s);
	return rc;
}

static void teardown(struct sup *s)
{
	/* The socket and the image lock go first: once a STOP requester hears
	 * back, a new `ananke serve` on the same paths must succeed. */
	remove_socket(s);
	if (s->image_lock_fd >= 0)
		close(s->image_lock_fd);
	s->image_lock_fd = -1;
	if (!s->ever_ready)
		notify_parent(s, s->stop_msg[0] ? s->stop_msg : "stopped before the server was ready");
	while (s->conns) {
		struct sup_conn *c = s->conns;
		if (c->state == CONN_STOP_WAIT && c->sock >= 0)
			sup_send_fd(c->sock, s->stop_msg, strlen(s->stop_msg), -1);
		conn_free(s, c);
	}
	free_zombies(s);
	if (s->sb.pidfd >= 0) {
		/* A standby holds nothing worth saving: SIGKILL and reap it. */
		char desc[128];
		sup_proc_kill(s, &s->sb, "the supervisor is exiting");
		sup_proc_reap(s, &s->sb, desc, sizeof(desc));
	}
	if (s->srv.pidfd >= 0) {
		/* Only when a stop gave up on a server that survived SIGKILL. */
		sup_epoll_del(s, s->srv.pidfd);
		close(s->srv.pidfd);
	}
	if (s->srv.ctl >= 0)
		close(s->srv.ctl);
	sup_stats_destroy(s);
	sup_plogs_destroy(s);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
}

int sup_serve(const struct sup_config *cfg)
{
	struct sup *s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "ananke: serve: out of memory\n");
		return 1;
	}
	s->cfg = *cfg;
	s->listen_fd = s->image_lock_fd = s->epfd = s->sigfd = s->notify_fd = s->stats_fd = -1;
	s->srv.pidfd = s->srv.ctl = -1;
	s->sb.pidfd = s->sb.ctl = -1;
	s->epoch = 1;
	s->next_client_id = 1;
	int code = 1;

	raise_fd_limit();
	if (resolve_paths(s) < 0 || sup_check_socket(cfg->socket_path) < 0 || lock_image(s) < 0 ||
	    open_listener(s) < 0)
		goto out;
	if (!cfg->foreground) {
		int r = daemonize(s, &code);
		if (r != 0) {
			/* The parent: the child owns the socket now. */
			close(s->listen_fd);
			s->listen_fd = -1;
			if (r < 0) {
				unlink(cfg->socket_path);
				code = 1;
			}
			goto out;
		}
	}
	s->start_ns = sup_now_ns();
	sup_log("supervisor starting: image %s, socket %s, %u workers, recovery %s, watchdog %s%u "
		"ms, standby %s",
		s->image, s->socket_abs, cfg->workers, cfg->recovery,
		cfg->watchdog_ms ? "" : "off/", cfg->watchdog_ms, cfg->no_standby ? "off" : "on");
	int rc = setup_loop(s);
	if (rc == 0 && cfg->plogs)
		rc = sup_plogs_create(s);
	if (rc == 0)
		rc = sup_server_spawn(s);
	if (rc < 0) {
		startup_failed(s, "cannot start: %s", strerror(-rc));
	} else {
		event_loop(s);
	}
	code = s->exit_code;
	teardown(s);
	if (code == 0)
		sup_log("supervisor exiting");
	free(s);
	return code;
out:
	if (s->listen_fd >= 0)
		remove_socket(s);
	if (s->image_lock_fd >= 0)
		close(s->image_lock_fd);
	free(s);
	return code;
}
