/*
 * plogsvc.c - recovery mode "ananke" in the server: logging every operation
 * that opens a state gap into the worker's p-log (src/plog/plog.h), clearing
 * status bits when effects become durable or fds close, and, when a server
 * starts on p-logs that still hold live entries, handing them to the
 * replay (replay.c: the AIM rules of docs/RECOVERY.md, in named passes).
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
 * It does not run operations (dispatch.c), replay (replay.c) nor own rings
 * (server.c).
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
#include "../ipc/optable.h"
#include "../util/crc32c.h"
#include "plogsvc_internal.h"
#include "server.h"

uint64_t plogsvc_creds(const struct plog_op *op)
{
	return (uint64_t)op->uid << 32 | op->gid;
}

/* The fd offset an entry with an fd target leaves behind. */
uint64_t plogsvc_fd_offset(const struct plog_op *op)
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

static uint32_t fd_sum(const struct server_fdstate *f)
{
	uint64_t v[5] = {f->ino, f->entry_id, f->ofd, f->flags | (uint64_t)f->log << 32, f->live};
	return crc32c(0x46445354u, v, sizeof(v));
}

void plogsvc_fd_seal(struct server_fdstate *f)
{
	f->check = fd_sum(f);
}

void plogsvc_fd_check(const struct server_fdstate *f)
{
	if (__builtin_expect(f->check != fd_sum(f), 0))
		server_corrupt("an fd's log state (its newest entry)", f->entry_id);
}

struct server_fdstate *plogsvc_fdtab_get(struct server_fdstate **fds, size_t *nfds, int fd)
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
		for (size_t k = *nfds; k < n; k++)
			plogsvc_fd_seal(&t[k]);
		*fds = t;
		*nfds = n;
	}
	plogsvc_fd_check(&(*fds)[fd]);
	return &(*fds)[fd];
}

/* ---- appending --------------------------------------------------------------------- */

static void plogsvc_commit_hook(void *arg, uint64_t durable);

/* After a sync made for room: what is durable now, as the fs says (a sync
 * with nothing to commit reports nothing to the commit hook, and entries
 * the last server left, durable before this one started, would pin the
 * log for good). */
static void sync_for_room(struct server *srv, uint64_t tid)
{
	if (tid)
		fs_sync_tid(srv->fs, tid);
	else
		fs_sync(srv->fs);
	plogsvc_commit_hook(srv, fs_durable_tid(srv->fs));
}

int plogsvc_pend_add(struct server_plog *l, uint64_t id, uint64_t tid)
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
	if (addr == plog_next_op_csum(p))
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
	const struct plog *p; /* its marks: plog_desc_live_marks */
};

static int reloc_collect(const struct plog_entry *e, void *arg)
{
	struct reloc_scan *rs = arg;
	if (e->err || e->desc_copy == PLOG_COPY_NONE)
		return 0;
	if (e->id >= rs->before)
		return -ECANCELED; /* the newer half: stop */
	/* fd-only: live by its fd bit alone */
	struct plog_desc_rec d = {.tid = e->desc.tid, .pos = e->id, .ipc_idx = e->desc.ipc_idx,
				  .targets_status = e->desc.targets_status & ~(1u << PLOG_T_FD)};
	if (!(e->desc.targets_status & (1u << PLOG_T_FD)) || plog_desc_live_marks(rs->p, &d))
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

/* With l->lock held: move the fd-only entries below id `before` forward.
 * Returns how many moved. */
static size_t relocate_fds(struct server_plog *l, uint64_t before)
{
	struct reloc_scan rs = {.before = before, .p = l->p};
	plog_scan(l->mem, l->size, 0, reloc_collect, &rs);
	size_t moved = 0;
	for (size_t k = 0; k < rs.n; k++) {
		const struct plog_entry *e = &rs.e[k];
		uint64_t off = plogsvc_fd_offset(&e->op);
		struct plog_op op = {
			.opcode = ANK_OP_LSEEK,
			.flags = e->op.flags & ~PLOG_OPF_SYNCED,
			.fd = e->op.fd,
			.whence = SEEK_SET,
			.off = (int64_t)off,
			.result = (int64_t)off,
			.uid = e->op.uid,
			.gid = e->op.gid,
			.ofd = e->op.ofd,
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

/* Is there room for `need` bytes, the headroom kept aside? (l->lock held) */
static bool room_for(const struct server_plog *l, uint64_t need)
{
	uint64_t used = plog_used(l->p) + plog_headroom(l->p);
	return used < plog_capacity(l->p) && plog_capacity(l->p) - used >= need;
}

/* With l->lock held, after a sync: move fd entries forward until there is
 * room for `need` bytes. The older half's first; then every fd-only entry,
 * round after round, since each round can only use the headroom and the
 * space the last one freed (a log full of the entries of many open fds,
 * some holding data, frees nothing with the older half alone). True when
 * there is room. */
static bool relocate_for(struct server_plog *l, uint64_t need)
{
	/* (entry ids are log positions: those below the head as it is now
	 * were appended before; what a round moves is not moved again) */
	const uint64_t head = plog_tail(l->p) + plog_used(l->p);
	for (int round = 0; round < 16 && !room_for(l, need); round++) {
		uint64_t before = round == 0 ? plog_tail(l->p) + plog_used(l->p) / 2 : head;
		size_t moved = relocate_fds(l, before);
		if (moved)
			plog_gc(l->p);
		else if (round > 0)
			break;
	}
	return room_for(l, need);
}

/* Append with the ENOSPC protocol: reclaim; make the oldest pending
 * transaction durable (usually a wait for the commit that the half-full
 * mark started; the commit hook clears the inode bits) and reclaim; sync
 * everything and reclaim; move long-lived fd entries forward and reclaim.
 * A live entry is never dropped. `served`: the entry of a client request
 * (fault points count those only). */
int plogsvc_append(struct server *srv, unsigned li, const struct plog_op *op,
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
				sync_for_room(srv, oldest);
		} else if (attempt == 2) {
			sync_for_room(srv, 0);
		}
		pthread_mutex_lock(&l->lock);
		if (attempt > 0)
			plog_gc(l->p);
		if (attempt == 3)
			relocate_for(l, 2 * (PLOG_DESC_SIZE + PLOG_OP_SIZE + len +
					     (op->path ? strlen(op->path) + 1 : 0) +
					     (op->path2 ? strlen(op->path2) + 1 : 0)) +
						PLOG_WRAP_SIZE);
		if (served)
			fault_plog = l->p;
		rc = plog_append(l->p, op, d, data, len, id);
		fault_plog = NULL;
		/* An entry whose tid is durable already keeps no inode bit:
		 * no later report may come to clear it (a full log would then
		 * wait for a commit that has nothing to commit). The durable
		 * tid is the log's own, under its seal: a stray write that
		 * raised it would let entries of calls not yet durable be
		 * reclaimed, and lost at the next crash. */
		if (rc == 0 && (d->targets_status & (1u << PLOG_T_INODE)) &&
		    (tid <= plog_durable(l->p) || plogsvc_pend_add(l, *id, tid) < 0))
			plog_clear_status(l->p, *id, 1u << PLOG_T_INODE); /* replay decides by tid */
		pthread_mutex_unlock(&l->lock);
	}
	return rc;
}

void plogsvc_clear(struct server *srv, unsigned li, uint64_t id, uint32_t mask)
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

static int first_live(const struct plog_entry *e, void *arg)
{
	*(struct plog_entry *)arg = *e;
	return -ECANCELED;
}

/* The log stays full: say what pins its oldest live entry. */
static void report_full(struct server_plog *l, unsigned li)
{
	struct plog_entry e = {.id = PLOG_ID_NONE};
	pthread_mutex_lock(&l->lock);
	plog_scan(l->mem, l->size, 0, first_live, &e);
	uint64_t used = plog_used(l->p), cap = plog_capacity(l->p), durable = plog_durable(l->p);
	pthread_mutex_unlock(&l->lock);
	fprintf(stderr, "ananke: server: p-log %u full (%" PRIu64 " of %" PRIu64 " bytes): its oldest "
			"live entry %" PRIu64 " (opcode %u, tid %" PRIu64 ", durable %" PRIu64
			", status 0x%x, ipc %u) pins it\n",
		li, used, cap, e.id, e.err ? 0u : (unsigned)e.op.opcode, e.desc.tid,
		durable, e.desc.targets_status,
		(unsigned)e.desc.ipc_idx);
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
	/* A request whose sizes the ring cannot hold is refused before it
	 * runs (dispatch.c): it gets no entry, and needs no room. Its
	 * unchecked sizes must not make this sync for room it can never get. */
	const struct op_info *o = op_info(rq->opcode);
	uint64_t paths = (o && o->npaths >= 1 ? (uint64_t)rq->path_len : 0) +
			 (o && o->npaths == 2 ? rq->path2_len : 0);
	if (!o || rq->len > ANK_RING_DATA_PER_SLOT || paths > ANK_RING_DATA_PER_SLOT)
		return;
	uint64_t small = PLOG_DESC_SIZE + PLOG_OP_SIZE + paths + 128;
	uint64_t data = o && (o->data == DATA_IN || o->data == DATA_ARGS) ? rq->len : 0;
	/* an entry cannot straddle the end: twice its size is surely room */
	uint64_t need = 2 * (small + data) + PLOG_WRAP_SIZE;
	if (need > plog_capacity(l->p) / 2)
		need = 2 * small + PLOG_WRAP_SIZE;
	for (int attempt = 0; attempt < 4; attempt++) {
		pthread_mutex_lock(&l->lock);
		if (attempt > 0)
			plog_gc(l->p);
		bool room = attempt == 3 ? relocate_for(l, need) : room_for(l, need);
		uint64_t oldest = l->npend ? l->pend[0].tid : 0;
		pthread_mutex_unlock(&l->lock);
		if (room)
			return;
		if (attempt == 0 && oldest)
			sync_for_room(srv, oldest);
		else if (attempt == 1)
			sync_for_room(srv, 0);
	}
	report_full(l, w->index);
}

/* The inode of the client's open fd, as this server's fd table knows it. */
static uint64_t fd_inode(const struct server_ring *r, int32_t fd)
{
	if ((size_t)fd >= r->nfds)
		return 0;
	plogsvc_fd_check(&r->fds[fd]);
	return r->fds[fd].ino;
}

/* An fd of ring r went (closed, or replaced by dup2) whose open file
 * description `ofd` other fds still name. The description's latest state
 * (offset, status flags) may be in the entries of the fd that went, and
 * the others' entries older: one of them logs that state now (an lseek
 * entry), so that a recovery, which takes a description's state from the
 * newest entry of its fds, still finds it. */
static void carry_shared_state(struct server_worker *w, struct server_ring *r, uint64_t ofd,
			       uint64_t timestamp)
{
	for (size_t k = 0; ofd && k < r->nfds; k++) {
		struct server_fdstate *f = &r->fds[k];
		plogsvc_fd_check(f);
		if (!f->live || f->ofd != ofd)
			continue;
		off_t pos = fs_lseek(r->client, (int)k, 0, SEEK_CUR);
		if (pos < 0)
			return;
		struct plog_op op = {
			.opcode = ANK_OP_LSEEK,
			.flags = f->flags,
			.fd = (int32_t)k,
			.whence = SEEK_SET,
			.off = pos,
			.result = pos,
			.uid = r->uid,
			.gid = r->gid,
			.ofd = ofd,
		};
		struct plog_desc d = {
			.client_id = r->client_id,
			.timestamp = timestamp, /* the close's: after the state it carries */
			.ipc_idx = PLOG_IPC_NONE,
			.targets_status = 1u << PLOG_T_FD,
		};
		d.targets[PLOG_T_FD] = plog_fd_key(r->client_id, (int32_t)k);
		d.targets[PLOG_T_INODE] = f->ino;
		uint64_t id;
		if (plogsvc_append(w->srv, w->index, &op, &d, NULL, 0, 0, &id, false) == 0) {
			plogsvc_clear(w->srv, f->log, f->entry_id, 1u << PLOG_T_FD);
			f->log = w->index;
			f->entry_id = id;
			plogsvc_fd_seal(f);
		}
		return;
	}
}

/* The order base of this server's entries (a takeover sets it above the
 * dead server's): a stray write to it would order later entries before
 * earlier ones at the next recovery. */
static uint64_t order_base(const struct server *srv)
{
	if (__builtin_expect(srv->order_base_check != ~srv->order_base, 0))
		server_corrupt("the order base of the p-log entries", srv->order_base);
	return srv->order_base;
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
	fd_op = op_returns_fd(o) || o->fd == OPFD_MOVES || o->fd == OPFD_FLAGS;
	meta = op_changes_fs(o, rq->flags);
	struct fs_stamp stamp = *stamp_in;
	bool sealed_stamp = stamp.order != 0; /* (checked again before the append) */
	if (stamp.order == 0) {
		/* The call never took the fs lock (it changed nothing): any
		 * number after the calls it could depend on will do. */
		fs_running_tid(srv->fs);
		fs_stamp_last(&stamp);
		stamp.modified = false;
	} else if (!fs_stamp_intact(&stamp)) {
		/* The facts this entry is made of (inode, position,
		 * transaction, order) are not the call's: not logged, not
		 * answered, so the next server runs it again from the ring. */
		fprintf(stderr, "ananke: server: a call's stamp changed before it was logged "
				"(memory corruption); stopping before it is logged or answered\n");
		abort();
	}
	uint64_t tid = stamp.tid;

	struct plog_op op = {
		.opcode = rq->opcode,
		.flags = rq->flags,
		.fd = op_returns_fd(o) ? (int32_t)result : rq->fd,
		.mode = rq->mode,
		.whence = o->offset == OFFSET_RESULT ? rq->flags : 0, /* (lseek's) */
		.off = rq->off,
		.len = rq->len,
		.result = result,
		.uid = r->uid,
		.gid = r->gid,
		.as_set = rq->as_set != 0,
		.as_uid = rq->as_uid,
		.as_gid = rq->as_gid,
		.time_sec = stamp.time_sec,
		.time_nsec = stamp.time_nsec,
		.path = path[0] ? path : NULL,
		.path2 = path2[0] ? path2 : NULL,
	};
	/* The *at calls: the directory a relative path started at, by inode
	 * number, from this server's own fd table (the fd itself may be
	 * closed by the time the entry is replayed). */
	if (o->npaths >= 1 && rq->at_ino && path[0] != '/')
		op.at_ino = rq->at_ino; /* (the front door: by number already) */
	else if (o->npaths >= 1 && rq->fd >= 0 && path[0] != '/')
		op.at_ino = fd_inode(r, rq->fd);
	/* A created inode's generation: a replay that creates it again gives
	 * it the same (the front door's kernel knows the pair). */
	if (op_creates(o, rq->flags))
		op.gen = stamp.new_gen;
	bool two_dirs = o->second == P2_PATH;
	if (two_dirs && rq->at2_ino && path2[0] != '/')
		op.at2_ino = rq->at2_ino;
	else if (two_dirs && (int32_t)rq->mode >= 0 && path2[0] != '/')
		op.at2_ino = fd_inode(r, (int32_t)rq->mode);
	struct plog_desc d = {
		.client_id = r->client_id,
		.timestamp = order_base(srv) + stamp.order,
		.ipc_idx = i,
		.tid = tid,
		.req_seq = rq->seq,
	};
	struct server_fdstate *fs_ = NULL;
	uint64_t ino = 0;
	uint64_t replaced_ofd = 0; /* a dup2 over an open fd: its description */
	if (fd_op) {
		fs_ = plogsvc_fdtab_get(&r->fds, &r->nfds, op.fd);
		if (fs_ && o->fd == OPFD_DUPS && op.fd != rq->fd) {
			/* the new fd names the old one's description */
			struct server_fdstate *old = plogsvc_fdtab_get(&r->fds, &r->nfds, rq->fd);
			fs_ = &r->fds[op.fd]; /* (the table may have moved) */
			replaced_ofd = fs_->live ? fs_->ofd : 0;
			if (old)
				plogsvc_fd_check(old);
			fs_->flags = old ? old->flags : 0;
			fs_->ofd = old ? old->ofd : 0;
			plogsvc_fd_seal(fs_);
		}
		if (stamp.has_fd)
			ino = stamp.fd_ino; /* taken by the call itself, under the lock */
		else
			fs_inode_of_fd(c, op.fd, &ino);
		if (o->fd == OPFD_OPENS && fs_) {
			fs_->flags = rq->flags & FD_FLAGS_KEPT;
			fs_->ino = ino;
			fs_->ofd = d.timestamp; /* a new description */
			plogsvc_fd_seal(fs_);
		}
		if (fs_ && o->fd == OPFD_FLAGS) {
			/* the description's new status flags, for every fd on it */
			fs_->flags = (fs_->flags & ~(uint32_t)O_APPEND) | (rq->flags & O_APPEND);
			plogsvc_fd_seal(fs_);
			for (size_t k = 0; fs_->ofd && k < r->nfds; k++) {
				plogsvc_fd_check(&r->fds[k]);
				if (r->fds[k].ofd == fs_->ofd) {
					r->fds[k].flags = fs_->flags;
					plogsvc_fd_seal(&r->fds[k]);
				}
			}
		}
		if (fs_)
			op.ofd = fs_->ofd;
		if (fs_ && o->fd != OPFD_OPENS)
			op.flags = fs_->flags; /* OPEN keeps O_CREAT, O_TRUNC for replay */
		d.targets[PLOG_T_FD] = plog_fd_key(r->client_id, op.fd);
		d.targets[PLOG_T_INODE] = ino;
		d.targets_status |= 1u << PLOG_T_FD;
		switch (o->offset) {
		case OFFSET_AT_OFF: { /* (read, readdir, setfl, dup) */
			off_t pos = stamp.has_fd ? (off_t)stamp.fd_pos : fs_lseek(c, op.fd, 0, SEEK_CUR);
			op.off = pos < 0 ? 0 : pos;
			break;
		}
		case OFFSET_OFF_PLUS_LEN: { /* (write) */
			off_t pos = stamp.has_fd ? (off_t)stamp.fd_pos : fs_lseek(c, op.fd, 0, SEEK_CUR);
			op.off = stamp.has_io ? (int64_t)stamp.io_pos : pos < 0 ? 0 : pos - result;
			break;
		}
		case OFFSET_ZERO: /* (open) */
			op.off = 0;
			break;
		default: /* (lseek: the request's offset and whence) */
			break;
		}
	} else {
		/* The inode the call acted on, from the stamp: a call into the
		 * core here could wait for a commit that waits for this very
		 * entry. */
		switch (o->object) {
		case OBJ_FD: /* (pwrite, ftruncate, fallocate, fchmod, close) */
			ino = stamp.has_fd ? stamp.fd_ino : 0;
			break;
		case OBJ_NEW:   /* (mkdir, mknod, symlink) */
		case OBJ_NAMED: /* (chmod, setxattr: replay acts on it) */
			ino = stamp.new_ino;
			break;
		default:
			break;
		}
		d.targets[PLOG_T_INODE] = ino;
		if (o->data == DATA_IN && stamp.has_io)
			op.off = (int64_t)stamp.io_pos; /* an O_APPEND fd's pwrite appends */
	}
	switch (o->logged) {
	case LOGGED_RING:
		data = ank_ring_data(r->map, i);
		if (o->data == DATA_IN) { /* (write, pwrite: the bytes written) */
			op.len = (uint64_t)result;
			dlen = (size_t)result;
		} else if (rq->len == sizeof(struct ank_wire_range)) {
			/* (fallocate: its range, checked against its sum below,
			 * as write data is) */
			dlen = sizeof(struct ank_wire_range);
		} else {
			data = NULL;
		}
		break;
	case LOGGED_TIMES:
		if (rq->len == sizeof(struct ank_wire_times)) {
			data = &w->args; /* (UTIME_NOW resolved by dispatch.c) */
			dlen = sizeof(w->args);
		}
		break;
	case LOGGED_TARGET:
		data = w->target; /* (dispatch.c) */
		dlen = strlen(w->target);
		break;
	case LOGGED_XVALUE:
		data = w->xvalue; /* (dispatch.c) */
		dlen = (size_t)rq->len;
		break;
	default:
		break;
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
	/* The data logged is read from the ring again: it must still be what
	 * the client wrote (and what the call copied, fs_write_sum), or a
	 * replay would write other bytes. Not logged, not answered: the next
	 * server finds the request in the ring. */
	if (o->logged == LOGGED_RING && data && dlen == rq->len &&
	    crc32c(0, data, dlen) != rq->data_sum) {
		fprintf(stderr, "ananke: server: the data of a %s changed in the ring after it ran "
				"(memory corruption); stopping before it is logged\n",
			o->name);
		abort();
	}
	if (__builtin_expect(server_fault_point == SERVER_FAULT_ENTRY_DAMAGE, 0) &&
	    server_fault_due(SERVER_FAULT_ENTRY_DAMAGE))
		d.tid--;
	/* What the entry is made of, held to its sources once more just
	 * before it goes into the log: a stray write into this frame since
	 * they were read (a transaction id that would read as durable,
	 * another order, client or request) would be logged under a good
	 * checksum and replayed as it is. Not logged, not answered: the next
	 * server runs the call again from the ring. */
	if ((sealed_stamp && !fs_stamp_intact(&stamp)) || d.tid != stamp.tid || tid != stamp.tid ||
	    d.timestamp != order_base(srv) + stamp.order || d.client_id != r->client_id ||
	    d.req_seq != rq->seq || d.ipc_idx != i || op.opcode != rq->opcode ||
	    op.result != result) {
		fprintf(stderr, "ananke: server: a p-log entry's facts changed while it was built "
				"(memory corruption); stopping before it is logged or answered\n");
		abort();
	}
	uint64_t id = PLOG_ID_NONE;
	int rc = plogsvc_append(srv, w->index, &op, &d, data, dlen, tid, &id, true);
	if (rc == 0)
		__atomic_store_n(&w->log_pending, 0, __ATOMIC_RELEASE); /* recorded: commits may go */
	/* Half full (--plog-commit-at): start a commit in the background, so
	 * that its inode bits are clear before the log is full and an append
	 * has to wait for a sync. Once per filling (re-armed when a quarter
	 * is left). */
	struct server_plog *lw = &srv->plogs[w->index];
	uint64_t used = plog_used(lw->p); /* a racy read of our own log: a hint */
	if (!lw->kicked && srv->plog_commit_at &&
	    used > plog_capacity(lw->p) / 100 * srv->plog_commit_at) {
		lw->kicked = true;
		fs_commit_soon(srv->fs);
	} else if (lw->kicked && used < plog_capacity(lw->p) / 4) {
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
		rc = plogsvc_append(srv, w->index, &op, &d, NULL, 0, tid, &id, true);
		__atomic_store_n(&w->log_pending, 0, __ATOMIC_RELEASE); /* (logged, or never) */
		if (rc == 0) {
			rc = fs_sync(srv->fs);
			__atomic_fetch_add(&srv->plogs[w->index].synced, 1, __ATOMIC_RELAXED);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "ananke: server: p-log %u: cannot log opcode %" PRIu32
				": %s (%" PRIu64 " of %" PRIu64 " bytes used, %" PRIu64
				" kept free); this operation would not survive a server crash\n",
			w->index, rq->opcode, strerror(-rc), plog_used(lw->p), plog_capacity(lw->p),
			plog_headroom(lw->p));
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
	/* Only the newest entry of an fd keeps its fd bit. A description
	 * other fds still name gets its state carried to one of them first:
	 * until the bit of the fd that went is cleared, a recovery finds its
	 * entry and hands its state on (replay.c, group_inherit). */
	if (o->fd == OPFD_CLOSES) {
		struct server_fdstate *f = rq->fd >= 0 && (size_t)rq->fd < r->nfds ? &r->fds[rq->fd] : NULL;
		if (f) {
			plogsvc_fd_check(f);
			bool was = f->live;
			f->live = false;
			plogsvc_fd_seal(f);
			carry_shared_state(w, r, f->ofd, d.timestamp);
			if (was)
				plogsvc_clear(srv, f->log, f->entry_id, 1u << PLOG_T_FD);
		}
	} else if (fs_) {
		if (replaced_ofd && replaced_ofd != fs_->ofd) {
			uint64_t mine = fs_->ofd;
			fs_->ofd = 0; /* (not a sharer of the one it replaces) */
			plogsvc_fd_seal(fs_);
			carry_shared_state(w, r, replaced_ofd, d.timestamp);
			fs_ = &r->fds[op.fd];
			fs_->ofd = mine;
			plogsvc_fd_seal(fs_);
		}
		plogsvc_fd_check(fs_);
		if (fs_->live)
			plogsvc_clear(srv, fs_->log, fs_->entry_id, 1u << PLOG_T_FD);
		fs_->live = id != PLOG_ID_NONE;
		fs_->log = w->index;
		fs_->entry_id = id;
		fs_->ino = ino;
		plogsvc_fd_seal(fs_);
		if (__builtin_expect(server_fault_point == SERVER_FAULT_FD_STATE_DAMAGE, 0) &&
		    server_fault_due(SERVER_FAULT_FD_STATE_DAMAGE))
			fs_->entry_id ^= 1u << 1;
	}
	return id;
}

void plogsvc_answered(struct server_worker *w, uint64_t id)
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
 * nothing else can run) for every other worker's pending entry. After 10 ms
 * it gives up for now: the core releases the fs lock for a moment (a worker
 * that needs it to log, a rare fallback, takes it) and asks again. The
 * commit never goes on while a call is unlogged; a wait longer than a
 * second is said once. */
static bool plogsvc_commit_gate(void *arg, const uint64_t *self)
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
			} else if (now - t0 > 10000000ull) {
				uint64_t since = __atomic_load_n(&srv->gate_wait_since, __ATOMIC_RELAXED);
				if (!since)
					__atomic_store_n(&srv->gate_wait_since, t0, __ATOMIC_RELAXED);
				else if (now - since > 1000000000ull &&
					 !__atomic_exchange_n(&srv->gate_wait_said, true, __ATOMIC_RELAXED))
					fprintf(stderr, "ananke: server: a commit has waited over 1 s for "
							"worker %u to log its call\n", k);
				return false;
			}
			sched_yield();
		}
	}
	__atomic_store_n(&srv->gate_wait_since, 0, __ATOMIC_RELAXED);
	return true;
}

/* The durable tid advanced: entries whose effects joined a transaction up
 * to it count as without their inode bit when the log reclaims space
 * (plog_set_durable); no descriptor is rewritten for it. The tid reported
 * is held to the journal's own, under its seal: one raised on the way (a
 * stray write into the core's record of what it reported, or into this
 * call's frame) would let the logs reclaim entries of calls that are not
 * durable, and the next crash lose them. */
static void plogsvc_commit_hook(void *arg, uint64_t durable)
{
	struct server *srv = arg;
	if (__builtin_expect(server_fault_point == SERVER_FAULT_DURABLE_DAMAGE, 0) &&
	    server_fault_due(SERVER_FAULT_DURABLE_DAMAGE))
		durable += 1u << 20;
	/* (not fs_durable_tid: the hook may run in a worker whose call's
	 * stamp, taken when the call released the fs lock, is not logged
	 * yet, and every release of that lock would replace it) */
	uint64_t journal = fs_committed_tid(srv->fs);
	if (durable > journal)
		server_corrupt("the durable transaction id reported to the p-logs", durable);
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		pthread_mutex_lock(&l->lock);
		plog_set_durable(l->p, durable);
		size_t keep = 0;
		for (size_t j = 0; j < l->npend; j++)
			if (l->pend[j].tid > durable)
				l->pend[keep++] = l->pend[j];
		l->npend = keep;
		pthread_mutex_unlock(&l->lock);
	}
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
int plogsvc_fresh_logs(struct server *srv)
{
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		int rc = plog_format(l->mem, l->size, k);
		if (rc == 0)
			rc = plog_attach(l->mem, l->size, l->p);
		if (rc < 0)
			return rc;
		/* Room to move long-lived fd entries forward when full. */
		plog_set_headroom(l->p, plog_capacity(l->p) / 16);
		l->npend = 0;
		l->nfwd = 0;
	}
	return 0;
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
		server_fault(SERVER_FAULT_RECOVERY_SLOW_ABORT);
		t0 = ank_mono_ns();
		rc = replay_run(srv, ents, count, &srv->report);
		srv->report.aim_us = us_since(t0);
	} else {
		rc = fs_release_orphans(srv->fs);
		if (rc == 0)
			rc = plogsvc_fresh_logs(srv);
	}
	free(ents);
	if (rc < 0) {
		fprintf(stderr, "ananke: server: recovery failed: %s\n", strerror(-rc));
		return rc;
	}
	if (__builtin_expect(server_fault_point == SERVER_FAULT_RECOVERY_EARLY_COMMIT, 0) &&
	    srv->took_over && server_fault_due(SERVER_FAULT_RECOVERY_EARLY_COMMIT))
		fs_sync(srv->fs);
	fs_set_commit_hook(srv->fs, plogsvc_commit_hook, srv);
	fs_set_commit_gate(srv->fs, plogsvc_commit_gate, srv);
	/* A commit since the replay released commits (the background thread
	 * may run one) is not reported by the hook, which starts from what is
	 * durable when it is installed: the logs learn it here. */
	plogsvc_commit_hook(srv, fs_durable_tid(srv->fs));
	return 0;
}

/* The logged completions of a rebuilt client were settled (its ATTACH) or
 * are no longer wanted (it is gone): their entries may go. */
void plogsvc_stop(struct server *srv)
{
	if (srv->fs && srv->plogs) {
		fs_set_commit_gate(srv->fs, NULL, NULL);
		fs_set_commit_hook(srv->fs, NULL, NULL);
	}
	while (srv->recovered) {
		struct server_recovered *x = srv->recovered;
		srv->recovered = x->next;
		replay_recovered_free(x);
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

void plogsvc_ring_free(struct server *srv, struct server_ring *r)
{
	/* The client is gone and its fds are closed with it. */
	for (size_t k = 0; k < r->nfds; k++) {
		plogsvc_fd_check(&r->fds[k]);
		if (r->fds[k].live)
			plogsvc_clear(srv, r->fds[k].log, r->fds[k].entry_id, 1u << PLOG_T_FD);
	}
	free(r->fds);
	r->fds = NULL;
	r->nfds = 0;
}
