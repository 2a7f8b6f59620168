/*
 * plogsvc.c - recovery mode "ananke" in the server: logging every operation
 * that opens a state gap into the worker's p-log (src/plog/plog.h), clearing
 * status bits when effects become durable or fds close, and, when a server
 * starts on p-logs that still hold live entries, rebuilding the dead
 * server's state with the AIM rules of docs/RECOVERY.md.
 *
 * Entry conventions (what the p-log's generic fields hold here):
 *   op.opcode/flags/fd/mode/whence/off/len/result/path/path2: the request;
 *     for entries with an fd target, op.flags = the fd's open flags and
 *     targets[INODE] = its inode;
 *     READ: off = the fd offset after the read;
 *     WRITE: off = the position written, len = bytes written (the data is
 *     inline), so the offset after it is off + len;
 *     PWRITE: off, len as given (data inline);
 *     LSEEK: result = the new offset.
 *   desc.timestamp: the order base of this server plus the call's number in
 *   the mount's order (fs_stamp_last: taken under the fs lock, so two
 *   workers' dependent calls are logged in their real order); desc.tid:
 *   the transaction the call's effects joined; desc.req_seq: the ring
 *   request's sequence number (exactly-once); op.uid/gid: its credentials.
 *   Status bits: FD while the entry holds the fd's latest state (the
 *   previous entry of that fd has its FD bit cleared when a new one is
 *   appended, and close clears the last one); INODE while tid > durable,
 *   for calls that changed something.
 *
 * It does not run operations (dispatch.c) nor own rings (server.c).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ipc/barrier.h"
#include "../util/common.h"
#include "optable.h"
#include "server.h"

#define FD_FLAGS_KEPT (O_ACCMODE | O_APPEND | O_DIRECTORY)

static uint64_t creds_of(const struct plog_op *op)
{
	return (uint64_t)op->uid << 32 | op->gid;
}

/* The fd offset an entry with an fd target leaves behind. */
static uint64_t entry_fd_offset(const struct plog_op *op)
{
	const struct op_info *o = op_info(op->opcode);
	switch (o ? o->offset : OFFSET_ZERO) {
	case OFFSET_AT_OFF:
		return (uint64_t)op->off;
	case OFFSET_OFF_PLUS_LEN:
		return (uint64_t)op->off + op->len;
	case OFFSET_RESULT:
		return (uint64_t)op->result;
	default:
		return 0;
	}
}

/* ---- fd table mirror ----------------------------------------------------------- */

static struct server_fdstate *fdtab_get(struct server_fdstate **fds, size_t *nfds, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= *nfds) {
		size_t n = *nfds ? *nfds : 16;
		while (n <= (size_t)fd)
			n *= 2;
		struct server_fdstate *t = realloc(*fds, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + *nfds, 0, (n - *nfds) * sizeof(*t));
		*fds = t;
		*nfds = n;
	}
	return &(*fds)[fd];
}

/* ---- appending --------------------------------------------------------------------- */

static int pend_add(struct server_plog *l, uint64_t id, uint64_t tid)
{
	if (l->npend == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 256;
		struct server_pend *t = realloc(l->pend, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->pend = t;
		l->cap = n;
	}
	l->pend[l->npend++] = (struct server_pend){.id = id, .tid = tid};
	return 0;
}

/* Fault point plog_after_op (fault.c): the log a served request is being
 * appended to by this thread, NULL otherwise. */
static __thread struct plog *fault_plog;

/* plog_fault_hook, installed only when plog_after_op is armed: called after
 * every store group of the writer; the point is the release store of the
 * primary operation part's checksum (4 bytes at offset 4 of the operation
 * part, which follows the descriptor at the head), i.e. before the first
 * store of the descriptor. */
static void fault_plog_hook(void *arg, const void *addr, size_t len)
{
	(void)arg;
	struct plog *p = fault_plog;
	if (!p || len != 4)
		return;
	const uint8_t *o0 = p->copy[PLOG_PRIMARY] + p->head_pos % p->copy_size + PLOG_DESC_SIZE;
	if ((const uint8_t *)addr == o0 + 4)
		server_fault(SERVER_FAULT_PLOG_AFTER_OP);
}

/* ---- moving long-lived fd entries forward ---------------------------------------- */

/* An fd's latest state stays in the entry that last moved it, for as long
 * as the fd is open, and reclaim only frees a dead prefix: one fd left idle
 * would pin the log's tail. When the log is full and a sync freed nothing,
 * the oldest entries whose only live bit is the fd bit are re-appended as
 * compact fd-state entries (an LSEEK to the fd's offset, same order number,
 * no data) and the old ones cleared. The fd tables (per ring, owned by the
 * ring's worker) keep naming the old entry: `fwd` maps it to the new one
 * for the clear that comes with the fd's next operation or close. */

static uint64_t fwd_take(struct server_plog *l, uint64_t id)
{
	for (size_t k = 0; k < l->nfwd; k++)
		if (l->fwd[k].from == id) {
			uint64_t to = l->fwd[k].to;
			l->fwd[k] = l->fwd[--l->nfwd];
			return to;
		}
	return id;
}

static int fwd_put(struct server_plog *l, uint64_t from, uint64_t to)
{
	for (size_t k = 0; k < l->nfwd; k++)
		if (l->fwd[k].to == from) { /* moved again: keep the table's key */
			l->fwd[k].to = to;
			return 0;
		}
	if (l->nfwd == l->capfwd) {
		size_t n = l->capfwd ? l->capfwd * 2 : 64;
		struct server_fwd *t = realloc(l->fwd, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->fwd = t;
		l->capfwd = n;
	}
	l->fwd[l->nfwd++] = (struct server_fwd){.from = from, .to = to};
	return 0;
}

struct reloc_scan {
	struct plog_entry *e;
	size_t n, cap;
	uint64_t before; /* entries below this id only */
};

static int reloc_collect(const struct plog_entry *e, void *arg)
{
	struct reloc_scan *rs = arg;
	if (e->err || e->desc_copy == PLOG_COPY_NONE)
		return 0;
	if (e->id >= rs->before)
		return -ECANCELED; /* the newer half: stop */
	if (e->desc.targets_status != (1u << PLOG_T_FD) || e->desc.ipc_idx != PLOG_IPC_NONE)
		return 0;
	if (rs->n == rs->cap) {
		size_t n = rs->cap ? rs->cap * 2 : 64;
		struct plog_entry *t = realloc(rs->e, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		rs->e = t;
		rs->cap = n;
	}
	rs->e[rs->n++] = *e;
	return 0;
}

/* With l->lock held: move the fd-only entries of the older half of the
 * log forward. Returns how many moved. */
static size_t relocate_fds(struct server_plog *l)
{
	struct reloc_scan rs = {.before = l->p->tail_pos + plog_used(l->p) / 2};
	plog_scan(l->mem, l->size, 0, reloc_collect, &rs);
	size_t moved = 0;
	for (size_t k = 0; k < rs.n; k++) {
		const struct plog_entry *e = &rs.e[k];
		uint64_t off = entry_fd_offset(&e->op);
		struct plog_op op = {
			.opcode = ANK_OP_LSEEK,
			.flags = e->op.flags & ~PLOG_OPF_SYNCED,
			.fd = e->op.fd,
			.whence = SEEK_SET,
			.off = (int64_t)off,
			.result = (int64_t)off,
			.uid = e->op.uid,
			.gid = e->op.gid,
		};
		struct plog_desc d = {
			.client_id = e->desc.client_id,
			.timestamp = e->desc.timestamp, /* a newer entry of the fd still wins */
			.ipc_idx = PLOG_IPC_NONE,
			.targets_status = 1u << PLOG_T_FD,
		};
		d.targets[PLOG_T_FD] = e->desc.targets[PLOG_T_FD];
		d.targets[PLOG_T_INODE] = e->desc.targets[PLOG_T_INODE];
		uint64_t id;
		if (plog_append_ex(l->p, &op, &d, NULL, 0, &id, PLOG_APPEND_RESERVE) < 0)
			break;
		if (fwd_put(l, e->id, id) < 0) {
			/* Cannot remember the move: keep the old entry (the
			 * new one, with the same state and order, is harmless
			 * at recovery) and give up. */
			plog_clear_status(l->p, id, 1u << PLOG_T_FD);
			break;
		}
		plog_clear_status(l->p, e->id, 1u << PLOG_T_FD);
		moved++;
	}
	free(rs.e);
	l->relocated += moved;
	return moved;
}

/* Append with the ENOSPC protocol: reclaim; make the oldest pending
 * transaction durable (usually a wait for the commit that the half-full
 * mark started; the commit hook clears the inode bits) and reclaim; sync
 * everything and reclaim; move long-lived fd entries forward and reclaim.
 * A live entry is never dropped. `served`: the entry of a client request
 * (fault points count those only). */
static int log_append(struct server *srv, unsigned li, const struct plog_op *op,
		      const struct plog_desc *d, const void *data, size_t len, uint64_t tid,
		      uint64_t *id, bool served)
{
	struct server_plog *l = &srv->plogs[li];
	int rc = -ENOSPC;
	for (int attempt = 0; attempt < 4 && rc == -ENOSPC; attempt++) {
		/* A served call has run already: a sync now could make it
		 * durable before its entry exists, and a crash then would run
		 * it twice. Its room was made before it ran (plogsvc_prepare),
		 * so one try (with the reclaim plog_append does) is all; moving
		 * fd entries forward without a sync first would only fill the
		 * room that was made. */
		if (served && attempt > 0)
			break;
		/* (outside the log lock: the commit hook takes it) */
		if (attempt == 1) {
			pthread_mutex_lock(&l->lock);
			uint64_t oldest = l->npend ? l->pend[0].tid : 0;
			pthread_mutex_unlock(&l->lock);
			if (oldest)
				fs_sync_tid(srv->fs, oldest);
		} else if (attempt == 2) {
			fs_sync(srv->fs);
		}
		pthread_mutex_lock(&l->lock);
		if (attempt > 0)
			plog_gc(l->p);
		if (attempt == 3 && relocate_fds(l) > 0)
			plog_gc(l->p);
		if (served)
			fault_plog = l->p;
		rc = plog_append(l->p, op, d, data, len, id);
		fault_plog = NULL;
		if (rc == 0 && (d->targets_status & (1u << PLOG_T_INODE)) &&
		    (tid <= __atomic_load_n(&l->durable, __ATOMIC_ACQUIRE) || pend_add(l, *id, tid) < 0))
			plog_clear_status(l->p, *id, 1u << PLOG_T_INODE); /* replay decides by tid */
		pthread_mutex_unlock(&l->lock);
	}
	return rc;
}

static void log_clear(struct server *srv, unsigned li, uint64_t id, uint32_t mask)
{
	struct server_plog *l = &srv->plogs[li];
	pthread_mutex_lock(&l->lock);
	if (l->nfwd && (mask & (1u << PLOG_T_FD)))
		id = fwd_take(l, id);
	int rc = plog_clear_status(l->p, id, mask);
	pthread_mutex_unlock(&l->lock);
	if (rc < 0 && rc != -ENOENT)
		fprintf(stderr, "ananke: server: p-log %u: clearing entry %" PRIu64 ": %s\n", li, id,
			strerror(-rc));
}

/* Before a request runs: make room in this worker's log for its entry (or,
 * when its data can never fit, for the small entry of the "no room" path),
 * syncing if need be. Syncing here is safe: the call has not run, so it
 * cannot become durable without an entry. Only this worker appends to its
 * log, so the room stays until the entry is appended. */
void plogsvc_prepare(struct server_worker *w, const struct request *rq)
{
	struct server *srv = w->srv;
	struct server_plog *l = &srv->plogs[w->index];
	uint64_t small = PLOG_DESC_SIZE + PLOG_OP_SIZE + (uint64_t)rq->path_len +
			 rq->path2_len + 128;
	const struct op_info *o = op_info(rq->opcode);
	uint64_t data = o && o->data == DATA_IN ? rq->len : 0;
	/* an entry cannot straddle the end: twice its size is surely room */
	uint64_t need = 2 * (small + data) + PLOG_WRAP_SIZE;
	if (need > l->p->copy_size / 2)
		need = 2 * small + PLOG_WRAP_SIZE;
	for (int attempt = 0; attempt < 4; attempt++) {
		pthread_mutex_lock(&l->lock);
		if (attempt > 0)
			plog_gc(l->p);
		if (attempt == 3 && relocate_fds(l) > 0)
			plog_gc(l->p);
		uint64_t used = plog_used(l->p) + l->p->headroom;
		bool room = used < l->p->copy_size && l->p->copy_size - used >= need;
		uint64_t oldest = l->npend ? l->pend[0].tid : 0;
		pthread_mutex_unlock(&l->lock);
		if (room)
			return;
		if (attempt == 0 && oldest)
			fs_sync_tid(srv->fs, oldest);
		else if (attempt == 1)
			fs_sync(srv->fs);
	}
}

uint64_t plogsvc_log(struct server_worker *w, struct server_ring *r, unsigned i,
		     const struct request *rq, const char *path, const char *path2,
		     int64_t result, const struct fs_stamp *stamp_in)
{
	struct server *srv = w->srv;
	struct fs_client *c = r->client;
	bool fd_op = false, meta = false;
	const void *data = NULL;
	size_t dlen = 0;

	const struct op_info *o = op_info(rq->opcode);
	if (result < 0 || !o || !op_logged(o))
		return PLOG_ID_NONE;
	fd_op = o->fd == OPFD_OPENS || o->fd == OPFD_MOVES;
	meta = op_changes_fs(o, rq->flags);
	struct fs_stamp stamp = *stamp_in;
	if (stamp.order == 0) {
		/* The call never took the fs lock (it changed nothing): any
		 * number after the calls it could depend on will do. */
		fs_running_tid(srv->fs);
		fs_stamp_last(&stamp);
		stamp.modified = false;
	}
	uint64_t tid = stamp.tid;

	struct plog_op op = {
		.opcode = rq->opcode,
		.flags = rq->flags,
		.fd = rq->opcode == ANK_OP_OPEN ? (int32_t)result : rq->fd,
		.mode = rq->mode,
		.whence = rq->opcode == ANK_OP_LSEEK ? rq->flags : 0,
		.off = rq->off,
		.len = rq->len,
		.result = result,
		.uid = r->uid,
		.gid = r->gid,
		.path = path[0] ? path : NULL,
		.path2 = path2[0] ? path2 : NULL,
	};
	struct plog_desc d = {
		.client_id = r->client_id,
		.timestamp = srv->order_base + stamp.order,
		.ipc_idx = i,
		.tid = tid,
		.req_seq = rq->seq,
	};
	struct server_fdstate *fs_ = NULL;
	uint64_t ino = 0;
	if (fd_op) {
		fs_ = fdtab_get(&r->fds, &r->nfds, op.fd);
		if (stamp.has_fd)
			ino = stamp.fd_ino; /* taken by the call itself, under the lock */
		else
			fs_inode_of_fd(c, op.fd, &ino);
		if (rq->opcode == ANK_OP_OPEN && fs_) {
			fs_->flags = rq->flags & FD_FLAGS_KEPT;
			fs_->ino = ino;
		}
		if (fs_ && rq->opcode != ANK_OP_OPEN)
			op.flags = fs_->flags; /* OPEN keeps O_CREAT, O_TRUNC for replay */
		d.targets[PLOG_T_FD] = plog_fd_key(r->client_id, op.fd);
		d.targets[PLOG_T_INODE] = ino;
		d.targets_status |= 1u << PLOG_T_FD;
		if (rq->opcode == ANK_OP_READ || rq->opcode == ANK_OP_READDIR) {
			off_t pos = stamp.has_fd ? (off_t)stamp.fd_pos : fs_lseek(c, op.fd, 0, SEEK_CUR);
			op.off = pos < 0 ? 0 : pos;
		} else if (rq->opcode == ANK_OP_WRITE) {
			off_t pos = stamp.has_fd ? (off_t)stamp.fd_pos : fs_lseek(c, op.fd, 0, SEEK_CUR);
			op.off = stamp.has_io ? (int64_t)stamp.io_pos : pos < 0 ? 0 : pos - result;
			op.len = (uint64_t)result;
			data = ank_ring_data(r->map, i);
			dlen = (size_t)result;
		} else if (rq->opcode == ANK_OP_OPEN) {
			op.off = 0;
		}
	} else if (rq->opcode == ANK_OP_PWRITE || rq->opcode == ANK_OP_FTRUNCATE) {
		if (stamp.has_fd)
			ino = stamp.fd_ino;
		else
			fs_inode_of_fd(c, rq->fd, &ino);
		d.targets[PLOG_T_INODE] = ino;
		if (rq->opcode == ANK_OP_PWRITE) {
			/* where the data went: an O_APPEND fd's pwrite appends */
			if (stamp.has_io)
				op.off = (int64_t)stamp.io_pos;
			op.len = (uint64_t)result;
			data = ank_ring_data(r->map, i);
			dlen = (size_t)result;
		}
	} else if (rq->opcode == ANK_OP_MKDIR) {
		/* (from the stamp: a call into the core here could wait for a
		 * commit that waits for this very entry) */
		ino = stamp.new_ino;
		d.targets[PLOG_T_INODE] = ino;
	} else if (rq->opcode == ANK_OP_CLOSE) {
		d.targets[PLOG_T_INODE] = stamp.has_fd ? stamp.fd_ino : 0;
	}
	if (meta && stamp.modified)
		d.targets_status |= 1u << PLOG_T_INODE;

	/* Entries go into the logs in the order their calls ran: a call of
	 * another worker that ran before this one (a lower order number) but
	 * is not logged yet is waited for (a few hundred nanoseconds: the
	 * time to log it). Otherwise a crash in between could leave this
	 * entry, which may depend on that call's effect, without it. */
	for (unsigned k = 0; k < srv->nworkers; k++) {
		if (k == w->index)
			continue;
		uint64_t p;
		while ((p = __atomic_load_n(&srv->workers[k].log_pending, __ATOMIC_ACQUIRE)) != 0 &&
		       p < stamp.order)
			ank_cpu_relax();
	}
	uint64_t id = PLOG_ID_NONE;
	int rc = log_append(srv, w->index, &op, &d, data, dlen, tid, &id, true);
	if (rc == 0)
		__atomic_store_n(&w->log_pending, 0, __ATOMIC_RELEASE); /* recorded: commits may go */
	/* Half full (--plog-commit-at): start a commit in the background, so
	 * that its inode bits are clear before the log is full and an append
	 * has to wait for a sync. Once per filling (re-armed when a quarter
	 * is left). */
	struct server_plog *lw = &srv->plogs[w->index];
	uint64_t used = plog_used(lw->p); /* a racy read of our own log: a hint */
	if (!lw->kicked && srv->plog_commit_at &&
	    used > lw->p->copy_size / 100 * srv->plog_commit_at) {
		lw->kicked = true;
		fs_commit_soon(srv->fs);
	} else if (lw->kicked && used < lw->p->copy_size / 4) {
		lw->kicked = false;
	}
	if ((rc == -E2BIG || rc == -ENOSPC) && (dlen > 0 || (d.targets_status & (1u << PLOG_T_INODE)))) {
		/* The log cannot take the entry (its data is larger than the
		 * log, or the log is full of live entries): log it without
		 * data and inode bit, marked PLOG_OPF_SYNCED, then make the
		 * call durable, then answer. A crash before the sync is done
		 * finds the entry's tid above D: recovery then treats the call
		 * as never run (its effects died with the server, and it was
		 * not answered), so it runs again; after the sync the entry
		 * is durable and gives the fd state and the result. Logging
		 * after the sync instead would leave a window in which a
		 * durable call has no entry and would run twice. */
		d.targets_status &= ~(1u << PLOG_T_INODE);
		op.flags |= PLOG_OPF_SYNCED;
		rc = log_append(srv, w->index, &op, &d, NULL, 0, tid, &id, true);
		__atomic_store_n(&w->log_pending, 0, __ATOMIC_RELEASE); /* (logged, or never) */
		if (rc == 0) {
			rc = fs_sync(srv->fs);
			__atomic_fetch_add(&srv->plogs[w->index].synced, 1, __ATOMIC_RELAXED);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "ananke: server: p-log %u: cannot log opcode %" PRIu32
				": %s; this operation would not survive a server crash\n",
			w->index, rq->opcode, strerror(-rc));
		id = PLOG_ID_NONE;
	} else {
		server_fault(SERVER_FAULT_PLOG_AFTER_DESC);
		if (__builtin_expect(__atomic_load_n(&server_fault_point, __ATOMIC_RELAXED) ==
					     SERVER_FAULT_PLOG_DAMAGE, 0) &&
		    server_fault_due(SERVER_FAULT_PLOG_DAMAGE)) {
			struct server_plog *l = &srv->plogs[w->index];
			pthread_mutex_lock(&l->lock);
			plog_damage_entry(l->p, id);
			pthread_mutex_unlock(&l->lock);
		}
	}
	/* Only the newest entry of an fd keeps its fd bit. */
	if (rq->opcode == ANK_OP_CLOSE) {
		struct server_fdstate *f = rq->fd >= 0 && (size_t)rq->fd < r->nfds ? &r->fds[rq->fd] : NULL;
		if (f && f->live)
			log_clear(srv, f->log, f->entry_id, 1u << PLOG_T_FD);
		if (f)
			f->live = false;
	} else if (fs_) {
		if (fs_->live)
			log_clear(srv, fs_->log, fs_->entry_id, 1u << PLOG_T_FD);
		fs_->live = id != PLOG_ID_NONE;
		fs_->log = w->index;
		fs_->entry_id = id;
		fs_->ino = ino;
	}
	return id;
}

void plogsvc_clear_ipc(struct server_worker *w, uint64_t id)
{
	struct server_plog *l = &w->srv->plogs[w->index];
	pthread_mutex_lock(&l->lock);
	plog_clear_ipc(l->p, id);
	pthread_mutex_unlock(&l->lock);
}

/* The commit gate (fs_set_commit_gate): a call that ran and released the
 * fs lock stays in its worker's log_pending until its entry is appended. A
 * commit in that window could make the call durable without an entry, and
 * a crash then would run it again; so a commit first waits (fs lock held,
 * nothing else can run) for every other worker's pending entry. The wait
 * is bounded (100 ms), so that a worker that needs the fs lock to log (a
 * rare fallback) cannot deadlock the commit; hitting the bound is said. */
static void plogsvc_commit_gate(void *arg, const uint64_t *self)
{
	struct server *srv = arg;
	uint64_t t0 = 0;
	for (unsigned k = 0; k < srv->nworkers; k++) {
		uint64_t *slot = &srv->workers[k].log_pending;
		if (slot == self)
			continue;
		for (unsigned spins = 0; __atomic_load_n(slot, __ATOMIC_ACQUIRE) != 0; spins++) {
			ank_cpu_relax();
			if (spins % 4096 != 4095)
				continue;
			uint64_t now = ank_mono_ns();
			if (!t0) {
				t0 = now;
			} else if (now - t0 > 100000000ull) {
				fprintf(stderr, "ananke: server: a commit waited 100 ms for worker %u "
						"to log its call; going on\n", k);
				return;
			}
			sched_yield();
		}
	}
}

/* The durable tid advanced: entries whose effects joined a transaction up
 * to it lose their inode bit. */
static void plogsvc_commit_hook(void *arg, uint64_t durable)
{
	struct server *srv = arg;
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		__atomic_store_n(&l->durable, durable, __ATOMIC_RELEASE);
		pthread_mutex_lock(&l->lock);
		size_t keep = 0;
		for (size_t j = 0; j < l->npend; j++) {
			if (l->pend[j].tid <= durable)
				plog_clear_status(l->p, l->pend[j].id, 1u << PLOG_T_INODE);
			else
				l->pend[keep++] = l->pend[j];
		}
		l->npend = keep;
		pthread_mutex_unlock(&l->lock);
	}
}

/* ---- takeover: AIM replay ------------------------------------------------------------ */

#define CREDS_UNKNOWN UINT64_MAX

struct rfd {
	uint64_t client_id;
	int32_t fd;
	uint32_t flags;
	uint64_t ino, offset, creds;
	uint32_t log;     /* the entry holding the fd's latest state */
	uint64_t entry_id;
	bool opened;
};

#define REPLAY_WFDS 32

struct replay {
	struct server *srv;
	struct rfd *fds;
	size_t nfds, capfds;
	struct { uint64_t creds; struct fs_client *c; } scratch[16];
	unsigned nscratch;
	/* Scratch fds open for writing, by inode: consecutive writes to a
	 * file replay without an open and a close each. */
	struct { struct fs_client *c; uint64_t ino; int fd; } wfd[REPLAY_WFDS];
	unsigned nwfd, wfd_next;
	/* Entries whose ring index a newer entry of the same client and slot
	 * supersedes: their request was answered (the client reused the
	 * slot), so the index only pins the entry; cleared once the logs go
	 * on. */
	struct { unsigned log; uint64_t id; } *ipc_done;
	size_t nipc_done, capipc_done;
};

static struct server_recovered *recovered_get(struct server *srv, uint64_t client_id,
					      uint64_t creds)
{
	struct server_recovered *x = srv->recovered;
	while (x && x->client_id != client_id)
		x = x->next;
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return NULL;
		x->client_id = client_id;
		x->next = srv->recovered;
		srv->recovered = x;
	}
	/* A client known only from a lost fd (recovered_lost_fd) gets its
	 * file system client when an entry tells its credentials. */
	if (!x->client && creds != CREDS_UNKNOWN)
		x->client = fs_client_new(srv->fs, (uint32_t)(creds >> 32), (uint32_t)creds);
	return x->client || creds == CREDS_UNKNOWN ? x : NULL;
}

/* fd `fd` of a client had its latest state in an entry valid in neither
 * copy: it comes back stale (every use EIO) rather than wrong. */
static void recovered_lost_fd(struct server *srv, uint64_t client_id, int fd)
{
	struct server_recovered *x = recovered_get(srv, client_id, CREDS_UNKNOWN);
	if (!x)
		return;
	int *t = realloc(x->lost_fds, (x->nlost + 1) * sizeof(*t));
	if (!t)
		return;
	x->lost_fds = t;
	x->lost_fds[x->nlost++] = fd;
	fprintf(stderr, "ananke: server: recovery: client %" PRIu64 ": fd %d's state was in a "
			"corrupt entry; it comes back stale (EIO)\n",
		client_id, fd);
}

static struct fs_client *scratch_client(struct replay *rp, uint64_t creds)
{
	for (unsigned k = 0; k < rp->nscratch; k++)
		if (rp->scratch[k].creds == creds)
			return rp->scratch[k].c;
	if (rp->nscratch == 16)
		return rp->scratch[0].c;
	struct fs_client *c = fs_client_new(rp->srv->fs, (uint32_t)(creds >> 32), (uint32_t)creds);
	if (c) {
		rp->scratch[rp->nscratch].creds = creds;
		rp->scratch[rp->nscratch++].c = c;
	}
	return c;
}

/* Reopen a live fd by inode at its number in its client. */
static int rfd_open(struct replay *rp, struct rfd *f)
{
	struct server_recovered *x = recovered_get(rp->srv, f->client_id, f->creds);
	if (!x)
		return -ENOMEM;
	int rc = fs_open_ino_at(x->client, f->ino, (int)(f->flags & FD_FLAGS_KEPT), f->fd);
	if (rc >= 0)
		f->opened = true;
	return rc;
}

static void open_waiting_fds(struct replay *rp, uint64_t ino)
{
	for (size_t k = 0; k < rp->nfds; k++)
		if (!rp->fds[k].opened && rp->fds[k].ino == ino)
			rfd_open(rp, &rp->fds[k]);
}

/* A scratch fd of client c open for writing on inode ino, or -errno. Slot
 * k of rp->wfd uses fd number k of its client; when all are taken the
 * oldest is closed. */
static int replay_wfd(struct replay *rp, struct fs_client *c, uint64_t ino)
{
	for (unsigned k = 0; k < rp->nwfd; k++)
		if (rp->wfd[k].ino == ino && rp->wfd[k].c == c)
			return rp->wfd[k].fd;
	unsigned k;
	if (rp->nwfd < REPLAY_WFDS) {
		k = rp->nwfd;
	} else {
		k = rp->wfd_next++ % REPLAY_WFDS;
		fs_close(rp->wfd[k].c, rp->wfd[k].fd);
		rp->wfd[k].c = NULL;
	}
	int fd = fs_open_ino_at(c, ino, O_WRONLY, (int)k);
	if (fd < 0) {
		if (k < rp->nwfd) /* the slot was emptied: fill it from the last */
			rp->wfd[k] = rp->wfd[--rp->nwfd];
		return fd;
	}
	if (k == rp->nwfd)
		rp->nwfd++;
	rp->wfd[k].c = c;
	rp->wfd[k].ino = ino;
	rp->wfd[k].fd = fd;
	return fd;
}

/* Write logged data into inode ino at pos through a scratch fd. */
static int replay_pwrite(struct replay *rp, struct fs_client *c, uint64_t ino, const void *data,
			 size_t len, uint64_t pos)
{
	int fd = replay_wfd(rp, c, ino);
	if (fd < 0)
		return fd;
	ssize_t n = fs_pwrite(c, fd, data, len, (off_t)pos);
	return n < 0 ? (int)n : 0;
}

/* Act on the metadata effects of one non-durable entry. */
static int replay_act(struct replay *rp, const struct plog_entry *e)
{
	const struct plog_op *op = &e->op;
	struct fs_client *c = scratch_client(rp, creds_of(op));
	uint64_t ino = e->desc.targets[PLOG_T_INODE];
	int rc = 0;
	if (!c)
		return -ENOMEM;
	switch (op->opcode) {
	case ANK_OP_OPEN: {
		if (!op->path)
			return -EINVAL;
		uint64_t cur = 0;
		int lr = fs_lookup_ino(c, op->path, &cur, NULL);
		if ((op->flags & O_CREAT) && lr == -ENOENT) {
			rc = fs_create_ino(c, op->path, (int)((op->flags & O_ACCMODE) | O_CREAT | O_EXCL),
					   (mode_t)op->mode, ino, -1);
			if (rc >= 0)
				open_waiting_fds(rp, ino);
		} else if (op->flags & O_TRUNC) {
			rc = fs_truncate(c, op->path, 0);
		}
		break;
	}
	case ANK_OP_WRITE:
	case ANK_OP_PWRITE:
		if (e->data_len != op->len)
			return -EUCLEAN;
		rc = replay_pwrite(rp, c, ino, e->data, e->data_len, (uint64_t)op->off);
		break;
	case ANK_OP_FTRUNCATE: {
		int fd = replay_wfd(rp, c, ino);
		if (fd < 0)
			return fd;
		rc = fs_ftruncate(c, fd, (off_t)op->off);
		break;
	}
	case ANK_OP_TRUNCATE:
		rc = op->path ? fs_truncate(c, op->path, (off_t)op->off) : -EINVAL;
		break;
	case ANK_OP_UNLINK:
		rc = op->path ? fs_unlink(c, op->path) : -EINVAL;
		break;
	case ANK_OP_RMDIR:
		rc = op->path ? fs_rmdir(c, op->path) : -EINVAL;
		break;
	case ANK_OP_RENAME:
		rc = op->path && op->path2 ? fs_rename(c, op->path, op->path2) : -EINVAL;
		break;
	case ANK_OP_LINK:
		rc = op->path && op->path2 ? fs_link(c, op->path, op->path2) : -EINVAL;
		break;
	case ANK_OP_MKDIR:
		rc = op->path ? fs_mkdir_ino(c, op->path, (mode_t)op->mode, ino) : -EINVAL;
		if (rc == 0)
			open_waiting_fds(rp, ino);
		break;
	default:
		break;
	}
	return rc < 0 ? rc : 0;
}

static int map_logs(struct server *srv)
{
	srv->plogs = calloc(srv->nworkers, sizeof(*srv->plogs));
	if (!srv->plogs)
		return -ENOMEM;
	srv->nplogs = srv->nworkers;
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		int fd = ANK_SERVER_PLOG_FD0 + (int)k;
		struct stat st;
		pthread_mutex_init(&l->lock, NULL);
		l->mem = MAP_FAILED;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)PLOG_REGION_SIZE(PLOG_COPY_MIN)) {
			fprintf(stderr, "ananke: server: recovery ananke: fd %d is not a p-log "
					"(the supervisor passes one per worker)\n",
				fd);
			return -EBADF;
		}
		l->size = (size_t)st.st_size;
		l->mem = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (l->mem == MAP_FAILED)
			return -errno;
		l->p = calloc(1, sizeof(*l->p));
		if (!l->p)
			return -ENOMEM;
	}
	return 0;
}

/* Reformat every log and attach it for appending. */
static int fresh_logs(struct server *srv)
{
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		int rc = plog_format(l->mem, l->size, k);
		if (rc == 0)
			rc = plog_attach(l->mem, l->size, l->p);
		if (rc < 0)
			return rc;
		/* Room to move long-lived fd entries forward when full. */
		plog_set_headroom(l->p, l->p->copy_size / 16);
		l->npend = 0;
		l->nfwd = 0;
	}
	return 0;
}

/* The usual end of a replay: the old logs stay authoritative and the new
 * server goes on appending to them. The replay ran with commits held, so
 * its effects (and the orphan release) sit in one running transaction R,
 * above every id the dead server used (fs_reserve_tids): until R is
 * durable, another crash finds the same entries not durable and replays
 * them again; once it is, every old entry is durable at once. So the old
 * entries with an inode bit wait for R like any new one, the rebuilt fds
 * keep pointing at the entries that hold their state, and nothing is
 * written to disk or to the logs before the clients resume. */
static int continue_logs(struct server *srv, struct replay *rp, const struct plog_entry *ents,
			 size_t count, const struct rfd *stale, size_t nstale, uint64_t max_order)
{
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		int rc = plog_attach(l->mem, l->size, l->p);
		if (rc < 0)
			return rc; /* nothing written yet: the caller starts afresh */
	}
	srv->logs_continued = true;
	uint64_t r = fs_running_tid(srv->fs);
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		plog_set_headroom(l->p, l->p->copy_size / 16);
		l->npend = l->nfwd = 0;
	}
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE || e->region >= srv->nplogs)
			continue;
		if ((e->desc.targets_status & (1u << PLOG_T_INODE)) &&
		    pend_add(&srv->plogs[e->region], e->id, r) < 0)
			return -ENOMEM;
	}
	for (size_t k = 0; k < nstale; k++)
		log_clear(srv, stale[k].log, stale[k].entry_id, 1u << PLOG_T_FD);
	for (size_t k = 0; k < rp->nipc_done; k++) {
		if (rp->ipc_done[k].log >= srv->nplogs)
			continue;
		struct server_plog *l = &srv->plogs[rp->ipc_done[k].log];
		pthread_mutex_lock(&l->lock);
		plog_clear_ipc(l->p, rp->ipc_done[k].id);
		pthread_mutex_unlock(&l->lock);
	}
	for (size_t j = 0; j < rp->nfds; j++) {
		struct rfd *f = &rp->fds[j];
		struct server_recovered *x = f->opened ? recovered_get(srv, f->client_id, f->creds) : NULL;
		struct server_fdstate *st = x ? fdtab_get(&x->fds, &x->nfds, f->fd) : NULL;
		if (!st) {
			log_clear(srv, f->log, f->entry_id, 1u << PLOG_T_FD);
			continue;
		}
		st->live = true;
		st->log = f->log;
		st->entry_id = f->entry_id;
		st->ino = f->ino;
		st->flags = f->flags;
	}
	srv->order_base = max_order;
	return 0;
}

/* The fallback when an old log cannot be appended to (a corrupt entry):
 * make the replay durable, format fresh logs and log each rebuilt fd's
 * state into them. */
static int restart_logs(struct server *srv, struct replay *rp, uint64_t max_order)
{
	fs_hold_commits(srv->fs, false);
	int rc = fs_sync(srv->fs);
	if (rc == 0)
		rc = fresh_logs(srv);
	if (rc < 0)
		return rc;
	srv->logs_continued = false;
	for (struct server_recovered *x = srv->recovered; x; x = x->next)
		for (unsigned i = 0; i < ANK_RING_NSLOTS; i++)
			x->slot[i].id = PLOG_ID_NONE; /* those entries are gone */
	uint64_t order = max_order;
	for (size_t j = 0; j < rp->nfds; j++) {
		struct rfd *f = &rp->fds[j];
		if (!f->opened)
			continue;
		struct server_recovered *x = recovered_get(srv, f->client_id, f->creds);
		struct server_fdstate *st = x ? fdtab_get(&x->fds, &x->nfds, f->fd) : NULL;
		if (!st)
			continue;
		struct plog_op op = {
			.opcode = ANK_OP_LSEEK,
			.flags = f->flags,
			.fd = f->fd,
			.whence = SEEK_SET,
			.off = (int64_t)f->offset,
			.result = (int64_t)f->offset,
			.uid = (uint32_t)(f->creds >> 32),
			.gid = (uint32_t)f->creds,
		};
		struct plog_desc d = {
			.client_id = f->client_id,
			.timestamp = order++,
			.ipc_idx = PLOG_IPC_NONE,
			.targets_status = 1u << PLOG_T_FD,
		};
		d.targets[PLOG_T_FD] = plog_fd_key(f->client_id, f->fd);
		d.targets[PLOG_T_INODE] = f->ino;
		uint64_t id;
		unsigned li = (unsigned)(j % srv->nplogs);
		if (log_append(srv, li, &op, &d, NULL, 0, 0, &id, false) == 0) {
			st->live = true;
			st->log = li;
			st->entry_id = id;
			st->ino = f->ino;
			st->flags = f->flags;
		}
	}
	srv->order_base = order;
	return 0;
}

/* An entry valid in neither copy: never used. When its descriptor still
 * names the inode and its effects were not durable, that file's data may
 * have lost changes: its reads fail with EIO from now on (fs_mark_damaged)
 * and the report names it. */
static void entry_lost(struct server *srv, const struct plog_entry *e, uint64_t durable,
		       struct ank_ctl_report *rep)
{
	uint64_t ino = e->desc_copy != PLOG_COPY_NONE ? e->desc.targets[PLOG_T_INODE] : 0;
	if (e->desc_copy != PLOG_COPY_NONE && (e->desc.targets_status & (1u << PLOG_T_FD)) &&
	    (e->desc.targets[PLOG_T_FD] & 0xffffffffu) != 0)
		recovered_lost_fd(srv, e->desc.client_id,
				  (int)(uint32_t)(e->desc.targets[PLOG_T_FD] & 0xffffffffu) - 1);
	if (e->desc_copy != PLOG_COPY_NONE && e->desc.tid <= durable) {
		fprintf(stderr, "ananke: server: recovery: p-log %u entry %" PRIu64 " is corrupt "
				"in both copies; its effects are durable, nothing is lost\n",
			e->region, e->seq);
		return;
	}
	if (ino == 0) {
		fprintf(stderr, "ananke: server: recovery: p-log %u entry %" PRIu64 " is corrupt "
				"in both copies and names no file: the operation it held is lost\n",
			e->region, e->seq);
		return;
	}
	int rc = fs_mark_damaged(srv->fs, ino);
	fprintf(stderr, "ananke: server: recovery: p-log %u entry %" PRIu64 " (client %" PRIu64
			") is corrupt in both copies: changes to inode %" PRIu64 " are lost; "
			"its reads fail with EIO%s\n",
		e->region, e->seq, e->desc.client_id, ino, rc < 0 ? " (could not be marked)" : "");
	for (unsigned k = 0; k < ANK_REPORT_DAMAGED; k++) {
		if (rep->damaged[k] == ino)
			return;
		if (rep->damaged[k] == 0) {
			rep->damaged[k] = ino;
			return;
		}
	}
}

/* An entry logged without its data before the sync that was to make its
 * call durable (PLOG_OPF_SYNCED), and that sync did not finish: the call's
 * effects are lost and it was never answered, so it counts as not run (its
 * request runs again; the fd keeps its previous entry's state). */
static bool synced_undone(const struct plog_entry *e, uint64_t durable)
{
	return (e->op.flags & PLOG_OPF_SYNCED) && e->desc.tid > durable;
}

/* Remember an entry whose ring index must be cleared once the logs go on. */
static int ipc_done_push(struct replay *rp, unsigned log, uint64_t id)
{
	if (rp->nipc_done == rp->capipc_done) {
		size_t n = rp->capipc_done ? rp->capipc_done * 2 : 16;
		void *t = realloc(rp->ipc_done, n * sizeof(*rp->ipc_done));
		if (!t)
			return -ENOMEM;
		rp->ipc_done = t;
		rp->capipc_done = n;
	}
	rp->ipc_done[rp->nipc_done].log = log;
	rp->ipc_done[rp->nipc_done++].id = id;
	return 0;
}

/* Remember an fd entry whose fd bit must be cleared once the logs go on. */
static int stale_push(struct rfd **v, size_t *n, size_t *cap, const struct rfd *f)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct rfd *t = realloc(*v, c * sizeof(*t));
		if (!t)
			return -ENOMEM;
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = *f;
	return 0;
}

static int replay_logs(struct server *srv, struct plog_entry *ents, size_t count,
		       struct ank_ctl_report *rep)
{
	struct replay rp = {.srv = srv};
	struct rfd *stale = NULL;
	size_t nstale = 0, capstale = 0;
	/* D: the last transaction the crashed server made durable, in its own
	 * numbering (read from the journal at mount). */
	uint64_t durable = fs_mount_durable_tid(srv->fs);
	uint64_t max_order = 0, max_tid = 0;
	size_t acted = 0, failed = 0, corrupt = 0;
	int rc = 0;

	/* Pass 1: the live fd table (the newest entry with the fd bit wins)
	 * and the logged completions of ring slots. */
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE) {
			corrupt++;
			rep->corrupt++;
			entry_lost(srv, e, durable, rep);
			continue;
		}
		if (synced_undone(e, durable)) {
			/* Not run: the entry must not outlive this recovery
			 * (under the next server's numbering its tid would
			 * look durable), so its fd bit and ring index go. */
			struct rfd u = {.log = e->region, .entry_id = e->id};
			if ((e->desc.targets_status & (1u << PLOG_T_FD)) &&
			    stale_push(&stale, &nstale, &capstale, &u) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			if (e->desc.ipc_idx < ANK_RING_NSLOTS && ipc_done_push(&rp, e->region, e->id) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			continue;
		}
		if (e->desc.timestamp + 1 > max_order)
			max_order = e->desc.timestamp + 1;
		if (e->desc.tid > max_tid)
			max_tid = e->desc.tid;
		if (e->desc.ipc_idx < ANK_RING_NSLOTS) {
			struct server_recovered *x =
				recovered_get(srv, e->desc.client_id, creds_of(&e->op));
			if (x && x->slot[e->desc.ipc_idx].set &&
			    x->slot[e->desc.ipc_idx].id != PLOG_ID_NONE &&
			    ipc_done_push(&rp, x->slot[e->desc.ipc_idx].log,
					  x->slot[e->desc.ipc_idx].id) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			if (x) {
				x->slot[e->desc.ipc_idx].set = true;
				x->slot[e->desc.ipc_idx].log = e->region;
				x->slot[e->desc.ipc_idx].id = e->id;
				x->slot[e->desc.ipc_idx].seq = e->desc.req_seq;
				x->slot[e->desc.ipc_idx].opcode = e->op.opcode;
				x->slot[e->desc.ipc_idx].result = e->op.result;
			}
		}
		if (e->op.opcode == ANK_OP_CLOSE && e->op.result == 0) {
			/* A close logged before it cleared the fd bit of the
			 * fd's entry (death in between): the fd is closed. */
			uint64_t key = plog_fd_key(e->desc.client_id, e->op.fd);
			for (size_t j = 0; j < rp.nfds; j++) {
				if (plog_fd_key(rp.fds[j].client_id, rp.fds[j].fd) != key)
					continue;
				if (stale_push(&stale, &nstale, &capstale, &rp.fds[j]) < 0) {
					rc = -ENOMEM;
					goto out;
				}
				rp.fds[j] = rp.fds[--rp.nfds];
				break;
			}
			continue;
		}
		if (!(e->desc.targets_status & (1u << PLOG_T_FD)))
			continue;
		uint64_t key = e->desc.targets[PLOG_T_FD];
		struct rfd *f = NULL;
		for (size_t j = 0; j < rp.nfds; j++)
			if (plog_fd_key(rp.fds[j].client_id, rp.fds[j].fd) == key)
				f = &rp.fds[j];
		if (!f) {
			if (rp.nfds == rp.capfds) {
				size_t n = rp.capfds ? rp.capfds * 2 : 64;
				struct rfd *t = realloc(rp.fds, n * sizeof(*t));
				if (!t) {
					rc = -ENOMEM;
					goto out;
				}
				rp.fds = t;
				rp.capfds = n;
			}
			f = &rp.fds[rp.nfds++];
			memset(f, 0, sizeof(*f));
		} else {
			/* Two entries of one fd (death between the append of
			 * the newer and the clear of the older): the newer wins;
			 * the older one's bit is cleared below. */
			if (stale_push(&stale, &nstale, &capstale, f) < 0) {
				rc = -ENOMEM;
				goto out;
			}
		}
		f->log = e->region;
		f->entry_id = e->id;
		f->client_id = e->desc.client_id;
		f->fd = e->op.fd;
		f->flags = e->op.flags & FD_FLAGS_KEPT;
		f->ino = e->desc.targets[PLOG_T_INODE];
		f->offset = entry_fd_offset(&e->op);
		f->creds = creds_of(&e->op);
	}
	/* Ids of the crashed server are never reused: a crash after this
	 * replay's sync must find every replayed entry below the new D. And the
	 * replay becomes durable all at once (commits held until its sync). */
	fs_reserve_tids(srv->fs, max_tid);
	fs_hold_commits(srv->fs, true);
	server_fault(SERVER_FAULT_RECOVERY_SLOW_HOLD);

	/* How many entries pass 3 acts on (fault point recovery_mid_aim). */
	size_t to_act = 0;
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE ||
		    e->desc.tid <= durable || synced_undone(e, durable))
			continue;
		const struct op_info *o = op_info(e->op.opcode);
		if (o && op_acts(o))
			to_act++;
	}
	bool mid_passed = false;

	/* Pass 2: reopen the fds whose inode exists now (durable, or kept as
	 * an orphan); the others wait for their creation in pass 3. */
	for (size_t j = 0; j < rp.nfds; j++)
		rfd_open(&rp, &rp.fds[j]);

	/* Pass 3: Act on every non-durable entry in global order; durable
	 * ones are Ignored (their effects are on disk: durability is a prefix). */
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE)
			continue;
		if (synced_undone(e, durable)) {
			rep->ignored++; /* never ran, as far as anyone can tell */
			continue;
		}
		bool fd_live = (e->desc.targets_status & (1u << PLOG_T_FD)) != 0;
		const struct op_info *o = op_info(e->op.opcode);
		uint8_t aim = o ? o->aim : AIM_NOT_LOGGED;
		if (e->desc.tid <= durable) {
			/* Durable: only a live fd comes back (creat -> open,
			 * write/read -> lseek); an lseek is Acted (offset). */
			if (!fd_live)
				rep->ignored++;
			else if (aim == AIM_SEEK)
				rep->acted++;
			else
				rep->modified++;
			continue;
		}
		/* (The inode bit may lag behind the tid: decide by the tid.) */
		switch (aim) {
		case AIM_OFFSET:
			if (fd_live)
				rep->modified++;
			else
				rep->ignored++;
			continue;
		case AIM_SEEK:
			if (fd_live)
				rep->acted++;
			else
				rep->ignored++;
			continue;
		case AIM_OPEN:
		case AIM_DATA:
		case AIM_REDO:
			break;
		default:
			rep->ignored++;
			continue;
		}
		int r = replay_act(&rp, e);
		acted++;
		rep->acted++;
		if (!mid_passed && acted * 2 >= to_act) {
			mid_passed = true;
			server_fault(SERVER_FAULT_RECOVERY_MID_AIM);
		}
		if (r < 0) {
			failed++;
			fprintf(stderr, "ananke: server: replay of opcode %" PRIu32 " (%s%s%s) "
					"failed: %s\n",
				e->op.opcode, e->op.path ? e->op.path : "", e->op.path2 ? " -> " : "",
				e->op.path2 ? e->op.path2 : "", strerror(-r));
		}
	}

	/* Pass 4: fd offsets; report fds that could not come back. */
	for (size_t j = 0; j < rp.nfds; j++) {
		struct rfd *f = &rp.fds[j];
		if (!f->opened) {
			int r = rfd_open(&rp, f);
			if (r < 0) {
				fprintf(stderr, "ananke: server: client %" PRIu64 ": fd %d (inode "
						"%" PRIu64 ") cannot be reopened: %s\n",
					f->client_id, f->fd, f->ino, strerror(-r));
				continue;
			}
		}
		struct server_recovered *x = recovered_get(srv, f->client_id, f->creds);
		fs_set_offset(x->client, f->fd, f->offset); /* a directory's: its position */
	}
	rp.nwfd = 0; /* (their fds close with the scratch clients) */
	for (unsigned k = 0; k < rp.nscratch; k++)
		fs_client_free(rp.scratch[k].c);
	rp.nscratch = 0;

	/* Orphans no rebuilt fd holds are freed, in the same transaction. */
	rc = fs_release_orphans(srv->fs);
	if (rc < 0)
		goto out;
	rc = continue_logs(srv, &rp, ents, count, stale, nstale, max_order);
	if (rc < 0) {
		fprintf(stderr, "ananke: server: recovery: the p-logs cannot be appended to (%s); "
				"making the replay durable and starting fresh logs\n",
			strerror(-rc));
		rc = restart_logs(srv, &rp, max_order);
		if (rc < 0)
			goto out;
	}
	fprintf(stderr, "ananke: server: recovery: %zu p-log entries (durable tid %" PRIu64
			"), %zu replayed (%zu failed), %zu corrupt, %zu fds rebuilt\n",
		count, durable, acted, failed, corrupt, rp.nfds);
out:
	fs_hold_commits(srv->fs, false);
	for (unsigned k = 0; k < rp.nscratch; k++)
		fs_client_free(rp.scratch[k].c);
	free(rp.fds);
	free(rp.ipc_done);
	free(stale);
	return rc;
}

int plogsvc_map(struct server *srv)
{
	int rc = map_logs(srv);
	if (rc < 0)
		return rc;
	/* Fault the pages in now, writable, without writing (the logs still
	 * belong to the server this one may stand by for): neither recovery
	 * nor the first lap of appends takes a page fault. Where the kernel
	 * cannot (before Linux 5.14), touch them by reading. */
	for (unsigned k = 0; k < srv->nplogs; k++) {
#ifdef MADV_POPULATE_WRITE
		if (madvise(srv->plogs[k].mem, srv->plogs[k].size, MADV_POPULATE_WRITE) == 0)
			continue;
#endif
		const volatile uint8_t *m = srv->plogs[k].mem;
		uint8_t sum = 0;
		for (size_t off = 0; off < srv->plogs[k].size; off += 4096)
			sum ^= m[off];
		(void)sum;
	}
	if (server_fault_point == SERVER_FAULT_PLOG_AFTER_OP)
		plog_fault_hook = fault_plog_hook;
	return 0;
}

static uint64_t us_since(uint64_t t0)
{
	return (ank_mono_ns() - t0) / 1000u;
}

int plogsvc_start(struct server *srv)
{
	int rc;
	uint64_t t0 = ank_mono_ns();
	const void *mems[ANK_STATS_MAX_WORKERS];
	size_t sizes[ANK_STATS_MAX_WORKERS];
	for (unsigned k = 0; k < srv->nplogs; k++) {
		mems[k] = srv->plogs[k].mem;
		sizes[k] = srv->plogs[k].size;
	}
	struct plog_entry *ents = NULL;
	size_t count = 0;
	rc = plog_merge(mems, sizes, srv->nplogs, 0, &ents, &count, NULL);
	if (rc < 0 && !ents) {
		fprintf(stderr, "ananke: server: cannot read the p-logs: %s\n", strerror(-rc));
		return rc;
	}
	if (rc < 0)
		fprintf(stderr, "ananke: server: a p-log header is unusable (%s); recovering "
				"from the others\n",
			strerror(-rc));
	if (count > 0) {
		srv->took_over = true;
		srv->report.entries = count;
		srv->report.plog_us = us_since(t0);
		server_fault(SERVER_FAULT_RECOVERY_AFTER_JOURNAL);
		t0 = ank_mono_ns();
		rc = replay_logs(srv, ents, count, &srv->report);
		srv->report.aim_us = us_since(t0);
	} else {
		rc = fs_release_orphans(srv->fs);
		if (rc == 0)
			rc = fresh_logs(srv);
	}
	free(ents);
	if (rc < 0) {
		fprintf(stderr, "ananke: server: recovery failed: %s\n", strerror(-rc));
		return rc;
	}
	fs_set_commit_hook(srv->fs, plogsvc_commit_hook, srv);
	fs_set_commit_gate(srv->fs, plogsvc_commit_gate, srv);
	return 0;
}

/* The logged completions of a rebuilt client were settled (its ATTACH) or
 * are no longer wanted (it is gone): their entries may go. */
static void recovered_clear_ipc(struct server *srv, struct server_recovered *x)
{
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		if (!x->slot[i].set || x->slot[i].id == PLOG_ID_NONE || x->slot[i].log >= srv->nplogs)
			continue;
		struct server_plog *l = &srv->plogs[x->slot[i].log];
		pthread_mutex_lock(&l->lock);
		plog_clear_ipc(l->p, x->slot[i].id);
		pthread_mutex_unlock(&l->lock);
		x->slot[i].set = false;
	}
}

static void recovered_free(struct server_recovered *x)
{
	fs_client_free(x->client);
	free(x->fds);
	free(x->lost_fds);
	free(x);
}

void plogsvc_stop(struct server *srv)
{
	if (srv->fs && srv->plogs) {
		fs_set_commit_gate(srv->fs, NULL, NULL);
		fs_set_commit_hook(srv->fs, NULL, NULL);
	}
	while (srv->recovered) {
		struct server_recovered *x = srv->recovered;
		srv->recovered = x->next;
		recovered_free(x);
	}
	if (!srv->plogs)
		return;
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		if (l->relocated || l->synced)
			fprintf(stderr, "ananke: server: p-log %u: %" PRIu64 " long-lived fd entries "
					"moved forward, %" PRIu64 " calls made durable for lack of room\n",
				k, l->relocated, l->synced);
		if (l->mem && l->mem != MAP_FAILED)
			munmap(l->mem, l->size);
		free(l->p);
		free(l->pend);
		free(l->fwd);
		pthread_mutex_destroy(&l->lock);
	}
	free(srv->plogs);
	srv->plogs = NULL;
}

bool plogsvc_adopt(struct server *srv, struct server_ring *r)
{
	struct server_recovered **pp = &srv->recovered;
	while (*pp && (*pp)->client_id != r->client_id)
		pp = &(*pp)->next;
	struct server_recovered *x = *pp;
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		struct ank_ring_slot *slot = ank_ring_slot(r->map, i);
		uint32_t state = ank_load_acquire(&slot->state);
		if (state != ANK_SLOT_SUBMITTED && state != ANK_SLOT_SERVER)
			continue;
		const volatile struct ank_ring_slot *vs = slot;
		uint32_t opcode = vs->opcode;
		uint64_t seq = vs->seq;
		if (x && x->slot[i].set && x->slot[i].seq == seq && x->slot[i].opcode == opcode) {
			/* Completed inside the dead server: publish, never re-run. */
			if (state == ANK_SLOT_SUBMITTED &&
			    !ank_cas(&slot->state, ANK_SLOT_SUBMITTED, ANK_SLOT_SERVER))
				continue;
			dispatch_complete(r->map, i, x->slot[i].result);
			srv->report.republished++;
		} else if (state == ANK_SLOT_SERVER) {
			/* Claimed but never completed: run it again. (A slot
			 * still SUBMITTED was never taken: it just runs.) */
			ank_store_release(&slot->state, ANK_SLOT_SUBMITTED);
			srv->report.reexecuted++;
		}
	}
	if (!x)
		return false;
	recovered_clear_ipc(srv, x);
	*pp = x->next;
	if (x->client) {
		fs_client_free(r->client);
		r->client = x->client;
	}
	for (size_t k = 0; k < x->nlost; k++)
		fs_client_mark_stale(r->client, x->lost_fds[k]);
	r->fds = x->fds;
	r->nfds = x->nfds;
	free(x->lost_fds);
	free(x);
	return true;
}

bool plogsvc_drop(struct server *srv, uint64_t client_id)
{
	struct server_recovered **pp = &srv->recovered;
	while (*pp && (*pp)->client_id != client_id)
		pp = &(*pp)->next;
	if (!*pp)
		return false;
	struct server_recovered *x = *pp;
	*pp = x->next;
	recovered_clear_ipc(srv, x);
	for (size_t k = 0; k < x->nfds; k++)
		if (x->fds[k].live)
			log_clear(srv, x->fds[k].log, x->fds[k].entry_id, 1u << PLOG_T_FD);
	recovered_free(x);
	return true;
}

void plogsvc_ring_free(struct server *srv, struct server_ring *r)
{
	/* The client is gone and its fds are closed with it. */
	for (size_t k = 0; k < r->nfds; k++)
		if (r->fds[k].live)
			log_clear(srv, r->fds[k].log, r->fds[k].entry_id, 1u << PLOG_T_FD);
	free(r->fds);
	r->fds = NULL;
	r->nfds = 0;
}
