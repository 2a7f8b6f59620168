/*
 * server.c - the server process's main thread: argument parsing, mount,
 * worker start-up, and the control loop on fd 3 (ATTACH / DETACH /
 * SHUTDOWN from the supervisor, src/ipc/control.h), down to the clean
 * unmount.
 *
 * Control protocol as the server speaks it:
 *   server -> READY                    once mounted and workers are running
 *                                      (or STOPPED {-errno} and exit 1)
 *   ATTACH {client_id,uid,gid,pid} + ring fd
 *          -> ATTACHED {client_id, status 0 or -errno}
 *   DETACH {client_id} -> DETACHED {client_id, status 0 or -ENOENT}
 *   SHUTDOWN -> STOPPED {status of the unmount}, exit 0
 *   EOF on fd 3 (supervisor gone), SIGTERM, SIGINT: unmount cleanly and
 *   exit (STOPPED is still sent on a signal, in case someone listens).
 *
 * Taking over a ring after a server restart (recovery mode "none"): a ring
 * that some earlier server served has its in-flight requests completed with
 * -EIO and keeps the fd numbers it had as stale fds (EIO on use), so no
 * request is silently lost and no fd number silently names another file.
 *
 * Recovery mode "ananke" (plogsvc.c): the volume is mounted keeping its
 * orphans, the p-logs of the dead server are replayed before the workers
 * start, and at ATTACH a client gets back the fds rebuilt for it; its
 * in-flight slots are completed from the log or run again (exactly-once),
 * nothing is failed with EIO and no fd is made stale.
 *
 * Recovery mode "sync" (`--recovery sync`, like uFS-Sync): every
 * successful create (OPEN with O_CREAT or O_TRUNC), write, pwrite, truncate,
 * ftruncate, unlink, rename, link, mkdir and rmdir is made durable before
 * its reply (dispatch.c: fsync of the file for fd operations, a full sync
 * for path operations; a failed sync is the request's error). No p-log.
 * It closes the data and metadata gap only: after a restart in-flight
 * requests get EIO and old fds are stale, exactly as in "none".
 *
 * Standby (`--standby`): everything that reads no metadata is done first
 * (device open with its io_uring, p-logs mapped and touched, worker threads
 * created, idle and not beating the shared heartbeat), then
 *   server -> STANDBY
 *   TAKEOVER -> mount (journal replay), p-log verify/merge, AIM replay,
 *               then RECOVERED {struct ank_ctl_report}, READY
 *   SHUTDOWN or EOF before TAKEOVER -> exit 0, nothing sent, nothing written
 * A server started without --standby that finds live p-log entries also
 * sends RECOVERED right before READY. The in-flight counts (republished,
 * reexecuted) are only known when the rings come back at ATTACH, after
 * READY: the report carries 0 for them, and each ATTACH that settles
 * in-flight requests logs its counts (and running totals) on stderr.
 *
 * It does not poll rings (worker.c) nor decode requests (dispatch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bdev/bdev.h"
#include "../ipc/barrier.h"
#include "../util/common.h"
#include "../util/crc32c.h"
#include "options.h"
#include "server.h"

/* Most fds one control message may carry before it is refused. */
#define CTL_MAX_FDS 8

static volatile sig_atomic_t server_signalled;

/* A fatal signal (SIGSEGV, SIGABRT, ...) sent by another process with
 * kill(2) is not the server's own fault: say so on the stats page, so that
 * the supervisor does not count the death against the requests in flight
 * (quarantine.c), then die of it as if not caught. A fault of the server's
 * own (si_code > 0) or its own abort() (SI_TKILL from itself) says nothing. */
static struct ank_stats_page *fatal_stats;

static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (fatal_stats && (si->si_code == SI_USER || si->si_code == SI_QUEUE) &&
	    si->si_pid != getpid())
		__atomic_store_n(&fatal_stats->signalled_pid, (uint32_t)getpid(), __ATOMIC_RELEASE);
	raise(sig); /* SA_RESETHAND: the default action now */
}

static void catch_fatal_signals(struct ank_stats_page *stats)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
	fatal_stats = stats;
	struct sigaction sa = {.sa_sigaction = on_fatal_signal,
			       .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER};
	sigemptyset(&sa.sa_mask);
	for (unsigned k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		sigaction(sigs[k], &sa, NULL);
}

static void server_on_signal(int sig)
{
	server_signalled = sig;
}

static void server_usage(FILE *f)
{
	fprintf(f, "usage: ananke server --image PATH [--workers N] [--recovery none|ananke|sync]\n"
		   "                     [--commit-ms MS] [--idle-checkpoint-ms MS]\n"
		   "                     [--plog-commit-at PERCENT] [--cache-size SIZE] [--standby]\n"
		   "  run by the supervisor: fd 3 is its control socket, fd 4 the stats memfd\n"
		   "  --standby: prepare (device, io_uring, p-logs, threads), send STANDBY,\n"
		   "             mount and recover only on TAKEOVER\n");
}

static uint64_t us_since(uint64_t t0)
{
	return (ank_mono_ns() - t0) / 1000u;
}

/* ---- control socket -------------------------------------------------------- */

static int ctl_send(struct server *srv, uint32_t type, uint64_t client_id, int32_t status)
{
	struct ank_ctl_msg m = {
		.magic = ANK_CTL_MAGIC,
		.type = type,
		.client_id = client_id,
		.status = status,
	};
	for (;;) {
		ssize_t n = send(srv->ctl_fd, &m, sizeof(m), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(m))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : -EPROTO;
	}
}

/* RECOVERED: this server's recovery report (phases, counts). */
static int ctl_send_report(struct server *srv)
{
	struct ank_ctl_report rep = srv->report;
	rep.magic = ANK_CTL_MAGIC;
	rep.type = ANK_CTL_RECOVERED;
	memset(rep.reserved, 0, sizeof(rep.reserved));
	for (;;) {
		ssize_t n = send(srv->ctl_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(rep))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : -EPROTO;
	}
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Wait for and receive one control message with the fds it carries.
 * Returns the message length (0 at EOF), -EINTR when a signal arrived, or
 * -errno. *nfds fds are returned (close-on-exec) whatever the message. */
static ssize_t ctl_recv(struct server *srv, const sigset_t *waitmask, struct ank_ctl_msg *m,
			int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	/* Room for more than one message: an oversized one is detected. */
	uint8_t buf[2 * sizeof(*m)];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	struct pollfd pfd = {.fd = srv->ctl_fd, .events = POLLIN};

	*nfds = 0;
	/* ppoll unblocks SIGTERM/SIGINT only while waiting, so a signal that
	 * arrives between the flag check and the wait is not missed. */
	if (ppoll(&pfd, 1, NULL, waitmask) < 0)
		return -errno;
	ssize_t n = recvmsg(srv->ctl_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? -EINTR : -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && *nfds < CTL_MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	if ((size_t)n == sizeof(*m))
		memcpy(m, buf, sizeof(*m));
	return n;
}

/* ---- rings ------------------------------------------------------------------ */

static struct server_ring *ring_find(struct server *srv, uint64_t client_id)
{
	for (struct server_ring *r = srv->rings; r; r = r->next)
		if (r->client_id == client_id)
			return r;
	return NULL;
}

/* A client that shrank its own ring memfd would make every access of ours
 * fault (SIGBUS) and take the whole server down. Make sure it cannot: the
 * supervisor should create rings with MFD_ALLOW_SEALING and seal them. */
static void ring_seal(int fd)
{
	static bool warned;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
		return;
	if (!warned) {
		warned = true;
		fprintf(stderr, "ananke: server: warning: ring memfds are not sealed against "
				"shrinking (create them with MFD_ALLOW_SEALING); a client could "
				"crash the server\n");
	}
}

/* Did an earlier server serve this ring? Its attached_epoch is set, it has
 * handed out fds, or it died holding a slot. */
static bool ring_was_served(struct ank_ring_header *hdr)
{
	if (ank_load_acquire(&hdr->attached_epoch) != 0 || ank_load_acquire(&hdr->fd_high) != 0)
		return true;
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++)
		if (ank_load_acquire(&ank_ring_slot(hdr, i)->state) == ANK_SLOT_SERVER)
			return true;
	return false;
}

/* Recovery mode "none" for a ring taken over from a dead server. */
static int ring_take_over(struct server_ring *r)
{
	struct ank_ring_header *hdr = r->hdr;
	unsigned failed = dispatch_fail_pending(r->map, -EIO);
	uint32_t fd_high = ank_load_acquire(&hdr->fd_high);
	int rc = 0;
	if (fd_high > 0) {
		rc = fs_client_reserve_stale(r->client, fd_high > INT32_MAX ? -1 : (int)fd_high);
		if (rc < 0)
			fprintf(stderr, "ananke: server: client %" PRIu64 ": cannot keep %" PRIu32
					" fds from the previous server: %s\n",
				r->client_id, fd_high, strerror(-rc));
	}
	if (failed)
		fprintf(stderr, "ananke: server: client %" PRIu64 ": %u in-flight requests "
				"lost in the restart (EIO)\n",
			r->client_id, failed);
	return rc;
}

static struct server_worker *worker_least_loaded(struct server *srv)
{
	struct server_worker *best = &srv->workers[0];
	/* nwant is written by this (control) thread only. */
	for (unsigned i = 1; i < srv->nworkers; i++)
		if (srv->workers[i].nwant < best->nwant)
			best = &srv->workers[i];
	return best;
}

void server_corrupt(const char *what, uint64_t a)
{
	fprintf(stderr, "ananke: server: %s (%" PRIu64 ") fails its check: memory corruption; "
			"stopping at once (recovery rebuilds it)\n",
		what, a);
	abort();
}

static uint32_t ring_id_sum(const struct server_ring *r)
{
	uint64_t v[5] = {r->client_id, (uintptr_t)r->map, (uintptr_t)r->hdr, (uintptr_t)r->client,
			 (uint64_t)r->uid << 32 | r->gid};
	return crc32c(0x52494E47u, v, sizeof(v));
}

void server_ring_seal(struct server_ring *r)
{
	r->id_check = ring_id_sum(r);
}

void server_ring_check(const struct server_ring *r)
{
	if (__builtin_expect(r->id_check != ring_id_sum(r), 0))
		server_corrupt("a ring's identity (client id, credentials)", r->client_id);
}

/* ATTACH: map and check the ring, create the fs client, recover the ring if
 * it outlived a server, hand it to a worker. Consumes ring_fd. */
static int server_attach(struct server *srv, const struct ank_ctl_msg *m, int ring_fd)
{
	struct server_ring *r = NULL;
	struct ank_ring_header *hdr;
	struct server_worker *w;
	void *map = MAP_FAILED;
	struct stat st;
	int rc;

	if (ring_find(srv, m->client_id)) {
		rc = -EEXIST;
		goto out;
	}
	if (fstat(ring_fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != ANK_RING_TOTAL_SIZE) {
		rc = -EINVAL;
		goto out;
	}
	ring_seal(ring_fd);
	map = mmap(NULL, ANK_RING_TOTAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	rc = ank_ring_check(map);
	if (rc < 0)
		goto out;
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	r->client_id = m->client_id;
	r->map = map;
	r->hdr = map;
	r->uid = m->uid;
	r->gid = m->gid;
	r->client = fs_client_new(srv->fs, m->uid, m->gid);
	if (!r->client) {
		rc = -ENOMEM;
		goto out;
	}
	hdr = r->hdr;
	if (srv->mode->adopt) {
		/* Transparent: the fds rebuilt from the p-logs are the client's;
		 * logged completions are published, the rest runs again. */
		if (srv->mode->adopt(srv, r))
			server_fault(SERVER_FAULT_RECOVERY_RESUME);
	} else if (ring_was_served(hdr)) {
		rc = ring_take_over(r);
		if (rc < 0)
			goto out;
	}
	/* Its POSIX locks are the client's, whichever server it talks to. */
	fs_client_set_lock_owner(r->client, r->client_id, (int32_t)m->pid);
	server_ring_seal(r); /* (adopt may have given it the rebuilt client) */
	/* The previous server may have died asleep; nobody sleeps on it now. */
	ank_store_release(&hdr->server_sleeping, 0);
	ank_store_release(&hdr->attached_epoch, ank_load_acquire(&hdr->epoch));

	w = worker_least_loaded(srv);
	rc = worker_add_ring(w, r);
	if (rc < 0)
		goto out;
	r->worker = w;
	ank_store_release(&hdr->worker, w->index + 1); /* the watchdog's per-worker view */
	r->next = srv->rings;
	srv->rings = r;
	map = MAP_FAILED;
	r = NULL;
out:
	if (r) {
		fs_client_free(r->client);
		free(r);
	}
	if (map != MAP_FAILED)
		munmap(map, ANK_RING_TOTAL_SIZE);
	close(ring_fd);
	return rc;
}

/* Take a ring away from its worker and release it: the worker stops
 * touching it first, then the client's fds are closed. */
static void ring_release(struct server *srv, struct server_ring *r, bool fail_pending)
{
	if (r->worker)
		worker_remove_ring(r->worker, r);
	if (fail_pending)
		dispatch_fail_pending(r->map, -EIO);
	if (srv->mode->ring_free)
		srv->mode->ring_free(srv, r);
	fs_client_free(r->client);
	munmap(r->map, ANK_RING_TOTAL_SIZE);
	free(r);
}

static int server_detach(struct server *srv, uint64_t client_id)
{
	struct server_ring **pp = &srv->rings;
	while (*pp && (*pp)->client_id != client_id)
		pp = &(*pp)->next;
	struct server_ring *r = *pp;
	if (!r)
		return srv->mode->drop && srv->mode->drop(srv, client_id) ? 0 : -ENOENT;
	*pp = r->next;
	ring_release(srv, r, false);
	return 0;
}

/* ---- start and stop --------------------------------------------------------- */

/* Map the stats page from fd 4; without one (run by hand) counters go to a
 * private page so the workers need no special case. */
static void stats_map(struct server *srv)
{
	struct stat st;
	void *p = MAP_FAILED, *t = MAP_FAILED;
	size_t tlen = (size_t)ANK_LOCKTAB_SLOTS * sizeof(struct ank_lock_slot);
	if (fstat(ANK_SERVER_STATS_FD, &st) == 0) {
		if ((uint64_t)st.st_size >= sizeof(struct ank_stats_page))
			p = mmap(NULL, sizeof(struct ank_stats_page), PROT_READ | PROT_WRITE,
				 MAP_SHARED, ANK_SERVER_STATS_FD, 0);
		if ((uint64_t)st.st_size >= ANK_STATS_MEMFD_SIZE)
			t = mmap(NULL, tlen, PROT_READ | PROT_WRITE, MAP_SHARED,
				 ANK_SERVER_STATS_FD, ANK_LOCKTAB_OFF);
		close(ANK_SERVER_STATS_FD);
		if (p != MAP_FAILED && ((struct ank_stats_page *)p)->magic != ANK_STATS_MAGIC) {
			munmap(p, sizeof(struct ank_stats_page));
			p = MAP_FAILED;
		}
		if (p == MAP_FAILED)
			fprintf(stderr, "ananke: server: fd %d is not a stats page; statistics "
					"are not shared\n",
				ANK_SERVER_STATS_FD);
	}
	if (p != MAP_FAILED) {
		srv->stats = p;
		srv->stats_shared = true;
	} else {
		srv->stats = calloc(1, sizeof(*srv->stats));
		srv->stats_shared = false;
	}
	/* Without the supervisor's table, locks hold but do not outlive this
	 * server. */
	srv->locktab_shared = t != MAP_FAILED;
	srv->locktab = t != MAP_FAILED ? t : calloc(ANK_LOCKTAB_SLOTS, sizeof(struct ank_lock_slot));
	srv->lockslot_ino = calloc(ANK_LOCKTAB_SLOTS, sizeof(uint64_t));
}

static void stats_unmap(struct server *srv)
{
	if (!srv->stats)
		return;
	if (srv->stats_shared)
		munmap(srv->stats, sizeof(*srv->stats));
	else
		free(srv->stats);
	srv->stats = NULL;
	if (srv->locktab_shared)
		munmap(srv->locktab, (size_t)ANK_LOCKTAB_SLOTS * sizeof(struct ank_lock_slot));
	else
		free(srv->locktab);
	srv->locktab = NULL;
	free(srv->lockslot_ino);
	srv->lockslot_ino = NULL;
}

static void workers_stop(struct server *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_stop(&srv->workers[i]);
	/* (A standby never wrote to the page: it is the serving server's.) */
	if (srv->stats && ank_load_acquire(&srv->serving))
		ank_store_release(&srv->stats->workers, 0);
}

/* Stop serving and unmount. Returns the unmount status. */
static int server_teardown(struct server *srv)
{
	int rc = 0;
	if (srv->fs)
		fs_set_commit_gate(srv->fs, NULL, NULL); /* it reads the workers */
	if (srv->workers) {
		workers_stop(srv);
		/* No worker runs now: detach everything without handshakes and
		 * fail what clients still wait for so that none hangs. */
		while (srv->rings) {
			struct server_ring *r = srv->rings;
			srv->rings = r->next;
			r->worker = NULL;
			ring_release(srv, r, true);
		}
		for (unsigned i = 0; i < srv->nworkers; i++)
			worker_destroy(&srv->workers[i]);
		free(srv->workers);
		srv->workers = NULL;
	}
	if (srv->mode->stop)
		srv->mode->stop(srv);
	if (srv->fs) {
		server_fault(SERVER_FAULT_STOP_UNMOUNT);
		rc = fs_unmount(srv->fs);
		srv->fs = NULL;
	}
	if (srv->dev) {
		bdev_close(srv->dev);
		srv->dev = NULL;
	}
	bdev_set_busy_counter(NULL);
	stats_unmap(srv);
	fs_release_reserve();
	return rc;
}

static const char *mount_error(int rc)
{
	switch (rc) {
	case -EUCLEAN:
		return "not an ananke file system, or a corrupt one (see `ananke fsck`)";
	case -EOPNOTSUPP:
		return "the file system uses features this version does not know";
	default:
		return strerror(-rc);
	}
}

/* Everything that reads no file system metadata (a standby does it ahead
 * of time): open the device (io_uring set up), map and touch the p-logs,
 * create the worker threads (idle, no rings, no heartbeat yet). */
static int server_prepare(struct server *srv, const char *image, unsigned nworkers)
{
	int rc = bdev_file_open(image, false, 0, &srv->dev);
	if (rc < 0) {
		fprintf(stderr, "ananke: server: cannot open %s: %s\n", image,
			rc == -EINVAL ? "size is not a multiple of 4096 or O_DIRECT unsupported"
				      : strerror(-rc));
		return rc;
	}
	if (srv->mode->map) {
		srv->nworkers = nworkers;
		rc = srv->mode->map(srv);
		srv->nworkers = 0;
		if (rc < 0) {
			fprintf(stderr, "ananke: server: recovery ananke: %s\n", strerror(-rc));
			return rc;
		}
	}
	if (srv->standby) {
		/* Page cache memory for the replay (up to every log's data)
		 * and the first requests, faulted in now. */
		uint64_t want = 16ull << 20;
		for (unsigned k = 0; k < srv->nplogs; k++)
			want += srv->plogs[k].size / 2;
		fs_reserve_memory(want < (64ull << 20) ? want : 64ull << 20);
	}
	srv->workers = calloc(nworkers, sizeof(*srv->workers));
	if (!srv->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	srv->nworkers = nworkers;
	for (unsigned i = 0; i < nworkers; i++) {
		rc = worker_init(srv, &srv->workers[i], i);
		if (rc < 0)
			goto fail;
		/* Touch the scratch memory now rather than in a request. */
		memset(srv->workers[i].dirents, 0, SERVER_READDIR_MAX * sizeof(struct fs_dirent));
	}
	for (unsigned i = 0; i < nworkers; i++) {
		rc = worker_start(&srv->workers[i]);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "ananke: server: cannot start workers: %s\n", strerror(-rc));
	return rc;
}

static void fault_mid_journal(void)
{
	server_fault(SERVER_FAULT_RECOVERY_MID_JOURNAL);
}

/* Mount (journal replay), then in recovery mode "ananke" rebuild the dead
 * server's state from the p-logs; start serving. Fills srv->report. */
static int server_mount(struct server *srv, const char *image)
{
	/* A mode that rebuilds state (keep_orphans) mounts with commits held
	 * until it has reserved the dead server's transaction ids: a commit
	 * before that (the background thread's, of the mount's own changes)
	 * would make an id durable that the dead server's unreplayed entries
	 * carry, and a crash before the replay's commit would then take them
	 * for durable and skip them. */
	struct fs_options opt = {.keep_orphans = srv->mode->keep_orphans,
				  .hold_commits = srv->mode->keep_orphans,
				  .abort_stops_process = true,
				  .commit_interval_ms = srv->commit_ms,
				  .cache_pages = (uint64_t)srv->cache_mb * 256,
				  .dirty_pages_limit = server_dirty_pages(srv->cache_mb),
				  .idle_checkpoint_ms = srv->idle_ckpt_ms};
	if (server_fault_point == SERVER_FAULT_RECOVERY_MID_JOURNAL)
		opt.replay_hook = fault_mid_journal;
	/* The device-busy count of the stats page is this server's now (a
	 * dead one may have died inside a call). */
	__atomic_store_n(&srv->stats->io_busy, 0, __ATOMIC_RELEASE);
	bdev_set_busy_counter(&srv->stats->io_busy);
	uint64_t t0 = ank_mono_ns();
	int rc = fs_mount(srv->dev, &opt, &srv->fs);
	if (rc < 0) {
		srv->fs = NULL;
		fprintf(stderr, "ananke: server: cannot mount %s: %s\n", image, mount_error(rc));
		return rc;
	}
	srv->report.journal_us = us_since(t0);
	if (srv->mode->start) {
		/* Before any ring is attached: rebuild what the dead server had. */
		rc = srv->mode->start(srv);
		if (rc < 0) {
			fprintf(stderr, "ananke: server: recovery ananke: %s\n", strerror(-rc));
			return rc;
		}
	} else if (srv->standby) {
		/* A takeover without p-logs: the journal was all there was. */
		server_fault(SERVER_FAULT_RECOVERY_AFTER_JOURNAL);
	}
	/* The locks the dead server's clients held, on the fds rebuilt. */
	locktab_start(srv);
	if (opt.hold_commits)
		fs_hold_commits(srv->fs, false); /* the ids are reserved */
	if (srv->standby)
		srv->took_over = true;
	ank_store_release(&srv->serving, 1);
	ank_store_release(&srv->stats->workers, srv->nworkers);
	return 0;
}

/* A standby: say STANDBY, then wait for TAKEOVER. Returns 1 on TAKEOVER, 0
 * when told to go away first (SHUTDOWN, EOF, a signal), or -errno. */
static int server_stand_by(struct server *srv, const sigset_t *waitmask)
{
	int rc = ctl_send(srv, ANK_CTL_STANDBY, 0, 0);
	if (rc < 0)
		return 0; /* the supervisor is gone */
	for (;;) {
		struct ank_ctl_msg m = {0};
		int fds[CTL_MAX_FDS];
		int nfds;
		if (server_signalled)
			return 0;
		ssize_t n = ctl_recv(srv, waitmask, &m, fds, &nfds);
		close_fds(fds, nfds);
		if (n == -EINTR)
			continue;
		if (n == 0)
			return 0;
		if (n < 0 && n != -EMSGSIZE)
			return (int)n;
		if (n != (ssize_t)sizeof(m) || m.magic != ANK_CTL_MAGIC) {
			fprintf(stderr, "ananke: server: standby: malformed control message ignored\n");
			continue;
		}
		if (m.type == ANK_CTL_TAKEOVER)
			return 1;
		if (m.type == ANK_CTL_SHUTDOWN)
			return 0;
		fprintf(stderr, "ananke: server: standby: control message %" PRIu32
				" before TAKEOVER ignored\n",
			m.type);
	}
}

/* ---- the control loop -------------------------------------------------------- */

/* Serve control messages until SHUTDOWN (returns 1), the supervisor goes
 * away (0) or a signal (2). */
static int server_control_loop(struct server *srv, const sigset_t *waitmask)
{
	for (;;) {
		struct ank_ctl_msg m = {0};
		int fds[CTL_MAX_FDS];
		int nfds;
		if (server_signalled)
			return 2;
		ssize_t n = ctl_recv(srv, waitmask, &m, fds, &nfds);
		if (n == -EINTR)
			continue;
		if (n == -EMSGSIZE || (n > 0 && (size_t)n != sizeof(m))) {
			fprintf(stderr, "ananke: server: malformed control message ignored\n");
			close_fds(fds, nfds);
			continue;
		}
		if (n <= 0) {
			close_fds(fds, nfds);
			if (n < 0)
				fprintf(stderr, "ananke: server: control socket: %s\n",
					strerror((int)-n));
			return 0;
		}
		if (m.magic != ANK_CTL_MAGIC) {
			fprintf(stderr, "ananke: server: control message with bad magic ignored\n");
			close_fds(fds, nfds);
			continue;
		}
		switch (m.type) {
		case ANK_CTL_ATTACH: {
			int rc;
			uint64_t rep0 = srv->report.republished, rex0 = srv->report.reexecuted;
			if (nfds != 1) {
				close_fds(fds, nfds);
				rc = nfds == 0 ? -EBADF : -EINVAL;
			} else {
				rc = server_attach(srv, &m, fds[0]);
			}
			/* In-flight requests settled at this ATTACH: the report
			 * goes again with the new totals (the supervisor keeps
			 * the phases of the first one), and to the log. */
			if ((srv->report.republished != rep0 || srv->report.reexecuted != rex0) &&
			    ctl_send_report(srv) < 0)
				fprintf(stderr, "ananke: server: cannot send the recovery report\n");
			if (srv->report.republished != rep0 || srv->report.reexecuted != rex0)
				fprintf(stderr, "ananke: server: client %" PRIu64 ": %" PRIu64
						" in-flight requests answered from the p-log, %" PRIu64
						" run again (totals %" PRIu64 ", %" PRIu64 ")\n",
					m.client_id, srv->report.republished - rep0,
					srv->report.reexecuted - rex0, srv->report.republished,
					srv->report.reexecuted);
			if (rc < 0)
				fprintf(stderr, "ananke: server: attach of client %" PRIu64
						" (pid %" PRIu32 ") refused: %s\n",
					m.client_id, m.pid, strerror(-rc));
			ctl_send(srv, ANK_CTL_ATTACHED, m.client_id, rc);
			break;
		}
		case ANK_CTL_DETACH:
			close_fds(fds, nfds);
			ctl_send(srv, ANK_CTL_DETACHED, m.client_id, server_detach(srv, m.client_id));
			break;
		case ANK_CTL_SHUTDOWN:
			close_fds(fds, nfds);
			return 1;
		default:
			close_fds(fds, nfds);
			fprintf(stderr, "ananke: server: unknown control message %" PRIu32
					" ignored\n",
				m.type);
			break;
		}
	}
}

static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > (long)ANK_STATS_MAX_WORKERS)
		n = ANK_STATS_MAX_WORKERS;
	return (unsigned)n;
}

int server_main(int argc, char **argv)
{
	struct server srv = {.ctl_fd = ANK_SERVER_CTL_FD,
			     .owner_uid = (uint32_t)geteuid(),
			     .mode = &recovery_none,
			     .order_base_check = ~(uint64_t)0, /* ~order_base */
			     .commit_ms = server_opts[OPT_COMMIT_MS].def,
			     .idle_ckpt_ms = server_opts[OPT_IDLE_CHECKPOINT_MS].def,
			     .plog_commit_at = server_opts[OPT_PLOG_COMMIT_AT].def,
			     .cache_mb = server_cache_default_mb()};
	const char *image = NULL;
	unsigned nworkers = 0;
	struct stat st;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--image") && i + 1 < argc) {
			image = argv[++i];
		} else if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
			uint32_t n;
			if (server_opt_parse(OPT_WORKERS, "server", argv[++i], &n) < 0)
				goto usage;
			nworkers = n;
		} else if ((!strcmp(argv[i], "--recovery") && i + 1 < argc) ||
			   !strncmp(argv[i], "--recovery=", 11)) {
			const char *mode = argv[i][10] == '=' ? argv[i] + 11 : argv[++i];
			srv.mode = recovery_mode_named(mode);
			if (!srv.mode) {
				fprintf(stderr, "ananke: server: unknown recovery mode '%s' "
						"(supported: none, ananke, sync)\n",
					mode);
				goto usage;
			}
		} else if (!strcmp(argv[i], "--commit-ms") && i + 1 < argc) {
			if (server_opt_parse(OPT_COMMIT_MS, "server", argv[++i], &srv.commit_ms) < 0)
				goto usage;
		} else if (!strcmp(argv[i], "--idle-checkpoint-ms") && i + 1 < argc) {
			if (server_opt_parse(OPT_IDLE_CHECKPOINT_MS, "server", argv[++i],
					     &srv.idle_ckpt_ms) < 0)
				goto usage;
			if (srv.idle_ckpt_ms == 0)
				srv.idle_ckpt_ms = UINT32_MAX; /* never */
		} else if (!strcmp(argv[i], "--plog-commit-at") && i + 1 < argc) {
			if (server_opt_parse(OPT_PLOG_COMMIT_AT, "server", argv[++i],
					     &srv.plog_commit_at) < 0)
				goto usage;
		} else if (!strcmp(argv[i], "--cache-size") && i + 1 < argc) {
			if (server_size_parse(OPT_CACHE_MB, "server", argv[++i], &srv.cache_mb) < 0)
				goto usage;
		} else if (!strcmp(argv[i], "--standby")) {
			srv.standby = true;
		} else {
			goto usage;
		}
	}
	if (!image)
		goto usage;
	if (fstat(srv.ctl_fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "ananke: server: fd %d is not the control socket; the server "
				"is started by the supervisor (`ananke start`)\n",
			srv.ctl_fd);
		return 2;
	}
	if (!nworkers)
		nworkers = default_workers();

	/* SIGTERM/SIGINT stay blocked except while the control thread waits
	 * in ppoll; workers inherit the blocked mask. */
	sigset_t stopsigs, waitmask;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stopsigs, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction sa = {.sa_handler = server_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	stats_map(&srv);
	if (srv.stats)
		catch_fatal_signals(srv.stats);
	if (!srv.stats || !srv.locktab || !srv.lockslot_ino) {
		rc = -ENOMEM;
		fprintf(stderr, "ananke: server: out of memory\n");
		goto fail;
	}
	server_fault_init();
	rc = server_prepare(&srv, image, nworkers);
	if (rc < 0)
		goto fail;
	if (srv.standby) {
		rc = server_stand_by(&srv, &waitmask);
		if (rc <= 0) {
			/* Never served: nothing to unmount, nothing to report. */
			server_teardown(&srv);
			if (rc < 0)
				fprintf(stderr, "ananke: server: standby: control socket: %s\n",
					strerror(-rc));
			return rc < 0 ? 1 : 0;
		}
	}
	rc = server_mount(&srv, image);
	if (rc < 0)
		goto fail;
	if (srv.took_over && ctl_send_report(&srv) < 0)
		fprintf(stderr, "ananke: server: cannot send the recovery report\n");
	if (ctl_send(&srv, ANK_CTL_READY, 0, 0) < 0)
		fprintf(stderr, "ananke: server: cannot report READY; the supervisor is gone\n");

	int why = server_control_loop(&srv, &waitmask);
	rc = server_teardown(&srv);
	if (rc < 0)
		fprintf(stderr, "ananke: server: unmount of %s failed: %s\n", image,
			strerror(-rc));
	if (why != 0)
		ctl_send(&srv, ANK_CTL_STOPPED, 0, rc);
	server_fault(SERVER_FAULT_STOP_EXIT);
	/* SHUTDOWN reports the unmount status in STOPPED; exit 0 says the
	 * server did what it was told. Otherwise the exit code tells. */
	return why == 1 || rc == 0 ? 0 : 1;

fail:
	server_teardown(&srv);
	ctl_send(&srv, ANK_CTL_STOPPED, 0, rc);
	return 1;
usage:
	server_usage(stderr);
	if (fstat(srv.ctl_fd, &st) == 0 && S_ISSOCK(st.st_mode))
		ctl_send(&srv, ANK_CTL_STOPPED, 0, -EINVAL);
	return 2;
}
