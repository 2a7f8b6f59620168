/*
 * conn.c - the connection of this process to the service, and the request
 * engine of libananke.
 *
 * ank_mount() does the hello/welcome handshake on the service socket
 * (src/ipc/control.h), maps the ring it receives, and keeps the socket open:
 * its closing (at ank_unmount or process exit) is how the supervisor learns
 * that the client is gone. ankc_call() carries one request through a ring
 * slot following the state machine of src/ipc/ring.h.
 *
 * What this file does not do: interpret any operation (libananke.c, dir.c),
 * retry requests the service lost (they fail with EIO), or survive fork():
 * the child of a mounted process starts unmounted (every call gives
 * ENOTCONN) because the ring and the connection belong to the parent; the
 * child may call ank_mount() to get its own.
 *
 * Connection lifetime without locks on the fast path: g_state says whether
 * the process is mounted; every API call holds a reference (g_users) while it
 * touches the ring, and ank_unmount() first moves g_state away from MOUNTED,
 * then waits for g_users to drain before unmapping. Both sides store, fence,
 * then load the other's word, so at least one of them sees the other.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP, MADV_DONTFORK, MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../ipc/barrier.h"
#include "../ipc/control.h"
#include "../ipc/optable.h"
#include "../ipc/ring.h"
#include "../util/crc32c.h"
#include "client.h"

enum {
	CONN_UNMOUNTED = 0,
	CONN_BUSY = 1,       /* a mount or an unmount is in progress */
	CONN_MOUNTED = 2,
};

/* How long a waiting client spins before it sleeps: a request the server
 * serves from its caches completes within a few microseconds, while going to
 * sleep and being woken costs tens of microseconds of latency. */
#define SPIN_NS 30000ull
/* A sleeping client wakes this often to check that the supervisor still
 * holds the other end of the control socket. */
#define SLEEP_NS 100000000ull

static uint32_t g_state;
static uint32_t g_users;
static uint32_t g_dead;          /* the supervisor closed the socket */
static void *g_ring;
static int g_sock = -1;
/* The socket's identity: an application that closes our fd, or puts
 * another file in its place (dup2 of /dev/null onto a low number, as a
 * daemon does), has cut the connection, and must get errors, not a wait
 * for an answer that can never come. */
static dev_t g_sock_dev;
static ino_t g_sock_ino;
static mode_t g_umask;
/* Request numbers of the current ring. The ring's atomic words are 32-bit;
 * this one is process-private and 64-bit so that it never wraps. */
static uint64_t g_seq;
static uint32_t g_hint_next;
static _Thread_local uint32_t t_hint; /* slot index + 1; 0: not chosen yet */
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* ---- fork --------------------------------------------------------------- */

/* The child has one thread and a copy of the parent's memory. The ring is
 * not mapped there (MADV_DONTFORK), and the socket copy must go, or the
 * supervisor would not notice the parent's exit while the child lives. */
static void atfork_child(void)
{
	if (g_state != CONN_UNMOUNTED && g_sock >= 0)
		close(g_sock);
	g_sock = -1;
	g_ring = NULL;
	g_users = 0;
	g_dead = 0;
	g_state = CONN_UNMOUNTED;
	ankc_rw_locks_reset();
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

/* ---- helpers -------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait until g_state leaves BUSY (another thread mounts or unmounts). */
static void wait_not_busy(void)
{
	uint32_t s;
	while ((s = ank_load_acquire(&g_state)) == CONN_BUSY)
		ank_futex_wait(&g_state, s, SLEEP_NS);
}

static void set_state(uint32_t s)
{
	ank_store_release(&g_state, s);
	ank_futex_wake(&g_state);
}

/* Is g_sock no longer the socket ank_mount connected? */
static bool sock_replaced(void)
{
	struct stat st;
	return fstat(g_sock, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != g_sock_dev ||
	       st.st_ino != g_sock_ino;
}

/* Has the supervisor gone away? Checked only after a long wait, so the
 * system calls are off the fast path. Once true, stays true until unmount. */
static int conn_dead(void)
{
	if (ank_load_acquire(&g_dead))
		return 1;
	if (sock_replaced()) {
		ank_store_release(&g_dead, 1);
		return 1;
	}
	struct pollfd p = { .fd = g_sock, .events = POLLRDHUP };
	int rc = poll(&p, 1, 0);
	if (rc > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))) {
		ank_store_release(&g_dead, 1);
		return 1;
	}
	return 0;
}

int ankc_wait_gone(int ms)
{
	if (ank_load_acquire(&g_state) != CONN_MOUNTED || g_sock < 0)
		return -1;
	if (ank_load_acquire(&g_dead))
		return 1;
	if (sock_replaced()) {
		ank_store_release(&g_dead, 1);
		return 1;
	}
	struct pollfd p = { .fd = g_sock, .events = POLLRDHUP };
	if (poll(&p, 1, ms) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))) {
		ank_store_release(&g_dead, 1);
		return 1;
	}
	return 0;
}

int ankc_check_path(const char *path, size_t *len_out)
{
	if (!path)
		return -EFAULT;
	size_t n = strnlen(path, ANKC_PATH_MAX + 1);
	if (n > ANKC_PATH_MAX)
		return -ENAMETOOLONG;
	*len_out = n + 1;
	return 0;
}

mode_t ankc_umask(void)
{
	return g_umask;
}

/* ---- references ---------------------------------------------------------- */

int ankc_enter(void)
{
	ank_fetch_add(&g_users, 1);
	ank_full_barrier(); /* pairs with the fence in ank_unmount */
	if (ank_load_acquire(&g_state) != CONN_MOUNTED) {
		ankc_leave();
		errno = ENOTCONN;
		return -1;
	}
	if (ank_load_relaxed(&g_dead)) {
		ankc_leave();
		errno = EIO;
		return -1;
	}
	return 0;
}

void ankc_leave(void)
{
	uint32_t before = ank_fetch_add(&g_users, (uint32_t)-1);
	ank_full_barrier();
	if (before == 1 && ank_load_acquire(&g_state) == CONN_BUSY)
		ank_futex_wake(&g_users);
}

/* ---- the request engine --------------------------------------------------- */

/* Claim a FREE slot, starting at this thread's last one (its cache lines are
 * likely still local). When all are busy, spin briefly, then yield, then
 * sleep in short steps, checking now and then that the service is alive. */
static int claim_slot(unsigned *out)
{
	if (t_hint == 0)
		t_hint = ank_fetch_add(&g_hint_next, 1) % ANK_RING_NSLOTS + 1;
	unsigned start = t_hint - 1;
	uint64_t t0 = 0;
	for (unsigned round = 0;; round++) {
		for (unsigned k = 0; k < ANK_RING_NSLOTS; k++) {
			unsigned i = (start + k) % ANK_RING_NSLOTS;
			struct ank_ring_slot *s = ank_ring_slot(g_ring, i);
			if (ank_load_relaxed(&s->state) == ANK_SLOT_FREE &&
			    ank_cas(&s->state, ANK_SLOT_FREE, ANK_SLOT_CLIENT)) {
				t_hint = i + 1;
				*out = i;
				return 0;
			}
		}
		if (round < 64) {
			ank_cpu_relax();
		} else if (round < 128) {
			sched_yield();
		} else {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
			uint64_t now = mono_ns();
			if (t0 == 0)
				t0 = now;
			else if (now - t0 >= SLEEP_NS) {
				if (conn_dead())
					return -EIO;
				t0 = now;
			}
		}
	}
}

/* Wait for DONE. Returns 0, or -EIO when the supervisor is gone: the slot
 * then stays claimed for good, since the server (or its successor) may still
 * write to it. */
static int wait_done(struct ank_ring_slot *s)
{
	uint64_t t0 = mono_ns();
	for (unsigned i = 1;; i++) {
		if (ank_load_acquire(&s->state) == ANK_SLOT_DONE)
			return 0;
		ank_cpu_relax();
		if ((i & 31) == 0 && mono_ns() - t0 >= SPIN_NS)
			break;
	}
	ank_store_release(&s->waiting, 1);
	ank_full_barrier(); /* the server stores DONE, then reads waiting */
	for (;;) {
		uint32_t st = ank_load_acquire(&s->state);
		if (st == ANK_SLOT_DONE)
			return 0;
		int rc = ank_futex_wait(&s->state, st, SLEEP_NS);
		if (rc == -ETIMEDOUT && ank_load_acquire(&s->state) != ANK_SLOT_DONE &&
		    conn_dead())
			return -EIO;
	}
}

int64_t ankc_call(struct ankc_req *rq)
{
	int saved_errno = errno;
	struct ank_ring_header *hdr = g_ring;
	unsigned idx;
	int64_t res;
	const struct op_info *o = op_info(rq->opcode); /* (what may be asked again) */

	if (rq->path_len + rq->path2_len > ANK_RING_DATA_PER_SLOT ||
	    rq->len > ANK_RING_DATA_PER_SLOT - (rq->wdata ? rq->path_len + rq->path2_len : 0)) {
		errno = saved_errno;
		return -EINVAL; /* callers split; this is a guard, not a path */
	}
	unsigned attempts = 0;
again:;
	int rc = claim_slot(&idx);
	if (rc < 0) {
		errno = saved_errno;
		return rc;
	}
	struct ank_ring_slot *s = ank_ring_slot(g_ring, idx);
	uint8_t *data = ank_ring_data(g_ring, idx);

	s->opcode = rq->opcode;
	s->flags = rq->flags;
	s->fd = rq->fd;
	s->mode = rq->mode;
	s->off = rq->off;
	s->len = rq->len;
	s->path_len = rq->path ? (uint32_t)rq->path_len : 0;
	s->path2_len = rq->path2 ? (uint32_t)rq->path2_len : 0;
	s->at_ino = rq->at_ino;
	s->at2_ino = rq->at2_ino;
	s->as_set = rq->as_set ? 1 : 0;
	s->as_uid = rq->as_set ? rq->as_uid : 0;
	s->as_gid = rq->as_set ? rq->as_gid : 0;
	/* A private counter; relaxed is enough, it only has to be unique. */
	s->seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);
	if (rq->path)
		memcpy(data, rq->path, rq->path_len);
	if (rq->path2)
		memcpy(data + rq->path_len, rq->path2, rq->path2_len);
	if (rq->wdata && rq->len) /* a request's data follows its paths */
		memcpy(data + s->path_len + s->path2_len, rq->wdata, rq->len);
	/* Taken from the caller's buffer, so that damage to the ring's copy
	 * is caught by the server (which answers EIO). */
	uint32_t data_sum = rq->wdata ? crc32c(0, rq->wdata, rq->len) : 0;
	s->data_sum = data_sum;
	/* The request's fields and paths, from the caller's own values: a
	 * request damaged in the ring is refused (EIO), never run. */
	uint32_t path_len = rq->path ? (uint32_t)rq->path_len : 0;
	uint32_t path2_len = rq->path2 ? (uint32_t)rq->path2_len : 0;
	s->req_sum = ank_req_as_sum(ank_req_sum(rq->opcode, rq->flags, rq->fd, rq->mode, rq->off,
						rq->len, path_len, path2_len, s->seq, data_sum,
						rq->at_ino, rq->at2_ino),
				    rq->as_set ? 1 : 0, rq->as_set ? rq->as_uid : 0,
				    rq->as_set ? rq->as_gid : 0);
	uint32_t psum = rq->path ? crc32c(0, rq->path, path_len) : 0;
	s->path_sum = rq->path2 ? crc32c(psum, rq->path2, path2_len) : psum;
	ank_store_release(&s->waiting, 0);
	ank_store_release(&s->state, ANK_SLOT_SUBMITTED);
	ank_fetch_add(&hdr->sq_seq, 1);
	ank_full_barrier(); /* the worker sets server_sleeping, then re-reads sq_seq */
	if (ank_load_acquire(&hdr->server_sleeping))
		ank_futex_wake(&hdr->sq_seq);

	rc = wait_done(s);
	if (rc < 0) {
		errno = saved_errno;
		return rc;
	}

	/* The answer, copied out once and checked against its checksum: an
	 * answer damaged in the ring is never returned. A call that changes
	 * nothing is asked again; any other fails with EIO (it may have run). */
	res = s->result;
	uint8_t out[sizeof(s->out)];
	memcpy(out, s->out, sizeof(out));
	uint32_t reply_sum = s->reply_sum;
	if (ank_result_sum(res, out, reply_sum) != s->result_sum) {
		if (o && op_is_query(o) && ++attempts < 3) {
			ank_store_release(&s->state, ANK_SLOT_FREE);
			goto again;
		}
		ank_store_release(&s->state, ANK_SLOT_FREE);
		errno = saved_errno;
		return -EIO;
	}
	/* The server is not trusted: a result must be a count, an fd, an
	 * offset, or a plausible -errno. */
	if (res < -4095)
		res = -EIO;
	if (res >= 0 && rq->rdata) {
		size_t n = rq->rdata_cap;
		if (!rq->rdata_all) {
			if ((uint64_t)res > rq->rdata_cap)
				res = -EIO;
			else
				n = (size_t)res;
		}
		if (res >= 0 && n)
			/* (an answer follows the request's paths: a request
			 * run again after a crash still finds them) */
			memcpy(rq->rdata, data + rq->path_len + rq->path2_len, n);
		/* Read bytes are checked once they are in the caller's buffer:
		 * damage on the way (the server's copy, the shared ring) is
		 * never returned. A pread or readlink is asked again; a read,
		 * which moved the offset, fails with EIO. */
		if (res >= 0 && o && o->data == DATA_OUT && crc32c(0, rq->rdata, n) != reply_sum) {
			if (op_is_query(o) && ++attempts < 3) {
				ank_store_release(&s->state, ANK_SLOT_FREE);
				goto again;
			}
			res = -EIO;
		}
	}
	if (rq->out)
		memcpy(rq->out, out, sizeof(out));
	ank_store_release(&s->state, ANK_SLOT_FREE);
	errno = saved_errno;
	return res;
}

/* ---- mount ---------------------------------------------------------------- */

/* Receive the welcome and the ring fd. Returns the fd, or -errno. */
static int recv_welcome(int sock)
{
	struct ank_ctl_welcome w;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	ssize_t n;
	memset(&w, 0, sizeof(w));
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Collect every fd that came along, so that none leaks. */
	int fd = -1, extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0) {
				fd = f;
			} else {
				close(f);
				extra = 1;
			}
		}
	}
	int err = 0;
	if (n == 0)
		err = ECONNRESET; /* the supervisor closed without answering */
	else if ((size_t)n < offsetof(struct ank_ctl_welcome, reserved) ||
		 w.magic != ANK_CTL_MAGIC)
		err = EPROTO;
	else if (w.status != 0)
		err = (w.status < 0 && w.status >= -4095) ? -w.status : EPROTO;
	else if ((size_t)n != sizeof(w) || w.version != ANK_RING_VERSION || fd < 0 ||
		 extra || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
		err = EPROTO;
	if (err) {
		if (fd >= 0)
			close(fd);
		return -err;
	}
	return fd;
}

/* Connect, greet, map the ring. Returns 0 with *sock_out and *ring_out, or
 * -errno with nothing left open. */
static int connect_service(const char *path, int *sock_out, void **ring_out)
{
	struct sockaddr_un sa;
	size_t plen = strlen(path);
	if (plen == 0)
		return -ENOENT;
	if (plen >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen + 1);

	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (sock <= 2) {
		/* Not on a standard stream's number, which a program that
		 * started with one closed may fill again (with /dev/null). */
		int high = fcntl(sock, F_DUPFD_CLOEXEC, 3);
		int err = errno;
		close(sock);
		if (high < 0)
			return -err;
		sock = high;
	}
	int rc;
	do
		rc = connect(sock, (struct sockaddr *)&sa, sizeof(sa));
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		goto fail_sock;
	}

	struct ank_ctl_hello hello = {
		.magic = ANK_CTL_MAGIC,
		.version = ANK_RING_VERSION,
		.kind = ANK_HELLO_CLIENT,
		.flags = 0,
	};
	ssize_t n;
	do
		n = send(sock, &hello, sizeof(hello), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(hello)) {
		rc = n < 0 ? -errno : -EPROTO;
		goto fail_sock;
	}

	int rfd = recv_welcome(sock);
	if (rfd < 0) {
		rc = rfd;
		goto fail_sock;
	}
	struct stat st;
	if (fstat(rfd, &st) < 0) {
		rc = -errno;
		goto fail_fd;
	}
	if ((uint64_t)st.st_size != ANK_RING_TOTAL_SIZE) {
		rc = -EPROTO;
		goto fail_fd;
	}
	void *ring = mmap(NULL, (size_t)ANK_RING_TOTAL_SIZE, PROT_READ | PROT_WRITE,
			  MAP_SHARED, rfd, 0);
	if (ring == MAP_FAILED) {
		rc = -errno;
		goto fail_fd;
	}
	if (ank_ring_check(ring) < 0) {
		munmap(ring, (size_t)ANK_RING_TOTAL_SIZE);
		rc = -EPROTO;
		goto fail_fd;
	}
	/* A forked child must not see (or keep alive) the parent's ring. */
	madvise(ring, (size_t)ANK_RING_TOTAL_SIZE, MADV_DONTFORK);
	close(rfd);
	*sock_out = sock;
	*ring_out = ring;
	return 0;

fail_fd:
	close(rfd);
fail_sock:
	close(sock);
	return rc;
}

ANK_API int ank_mount(const char *socket_path)
{
	int saved_errno = errno;
	pthread_once(&g_atfork_once, atfork_register);
	for (;;) {
		if (ank_cas(&g_state, CONN_UNMOUNTED, CONN_BUSY))
			break;
		if (ank_load_acquire(&g_state) == CONN_MOUNTED) {
			errno = EISCONN;
			return -1;
		}
		wait_not_busy();
	}

	const char *path = socket_path;
	if (!path) {
		path = getenv("ANANKE_SOCKET");
		if (!path || !*path) /* set but empty counts as unset */
			path = "./ananke.sock";
	}

	int sock = -1;
	void *ring = NULL;
	int rc = connect_service(path, &sock, &ring);
	struct stat sst;
	if (rc == 0 && fstat(sock, &sst) < 0) {
		rc = -errno;
		munmap(ring, (size_t)ANK_RING_TOTAL_SIZE);
		close(sock);
	}
	if (rc < 0) {
		set_state(CONN_UNMOUNTED);
		errno = -rc;
		return -1;
	}
	/* umask() has no read-only form: read it by setting it back. */
	mode_t m = umask(022);
	umask(m);

	g_umask = m;
	g_ring = ring;
	g_sock = sock;
	g_sock_dev = sst.st_dev;
	g_sock_ino = sst.st_ino;
	g_seq = 0;
	ank_store_release(&g_dead, 0);
	set_state(CONN_MOUNTED);
	errno = saved_errno;
	return 0;
}

/* The server closes this client's fds when the supervisor tells it the
 * client is gone, which closing the socket does; so unmounting is local. */
ANK_API int ank_unmount(void)
{
	int saved_errno = errno;
	for (;;) {
		if (ank_cas(&g_state, CONN_MOUNTED, CONN_BUSY))
			break;
		if (ank_load_acquire(&g_state) == CONN_UNMOUNTED) {
			errno = EINVAL;
			return -1;
		}
		wait_not_busy();
	}
	ank_full_barrier(); /* pairs with the fence in ankc_enter */
	uint32_t u;
	while ((u = ank_load_acquire(&g_users)) != 0)
		ank_futex_wait(&g_users, u, SLEEP_NS);

	/* Clear the globals before releasing, so that a fork() in between
	 * leaves the child nothing to close twice. */
	void *ring = g_ring;
	int sock = g_sock;
	g_ring = NULL;
	g_sock = -1;
	munmap(ring, (size_t)ANK_RING_TOTAL_SIZE);
	close(sock);
	set_state(CONN_UNMOUNTED);
	errno = saved_errno;
	return 0;
}
