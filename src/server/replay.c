/*
 * replay.c - a takeover's AIM replay (docs/RECOVERY.md): the new server
 * rebuilds the dead server's state from the merged p-log entries, in named
 * passes over them in global order:
 *
 *   1 fd_table   the live fd table (the newest entry with the fd bit wins),
 *                the logged completions of ring slots (exactly-once), and
 *                which entries are corrupt or undone;
 *   2 reopen     every fd whose inode exists now is reopened at its number;
 *   3 act        every entry that is not durable is Acted on, Modified or
 *                Ignored by its row of the operation table (optable.h);
 *   4 offsets    the fds' offsets; fds that cannot come back are said;
 *   5 go_on      orphans no fd holds are freed, and the old logs are
 *                continued (or, when they cannot be, fresh ones started).
 *
 * Commits are held from pass 2 to the end, so the replay becomes durable
 * all at once. Then, as each client attaches to the new server, its
 * rebuilt state is adopted and its in-flight slots settled exactly once
 * (replay_adopt): a request whose completion was logged gets its logged
 * result, one claimed but never completed runs again. The logging side is
 * plogsvc.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/common.h"
#include "../util/crc32c.h"
#include "../ipc/barrier.h"
#include "../ipc/optable.h"
#include "plogsvc_internal.h"
#include "server.h"

#define CREDS_UNKNOWN UINT64_MAX

struct rfd {
	uint64_t client_id;
	int32_t fd;
	uint32_t flags;
	uint64_t ino, offset, creds;
	uint64_t ofd, order; /* its open file description; its entry's order */
	size_t gfirst, gend;  /* after pass 1: the fds on the same description are
	                         rp->fds[gfirst .. gend) (itself alone: ofd 0) */
	bool inherited;      /* its state came from another fd's entry */
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
	/* Entries whose fd bit must go (superseded, closed, undone). */
	struct rfd *stale;
	size_t nstale, capstale;
	/* D: the last transaction the crashed server made durable, in its own
	 * numbering (read from the journal at mount). */
	uint64_t durable;
	uint64_t max_order, max_tid;
	size_t acted, failed, corrupt;
	struct ank_ctl_report *rep;
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
	if (!x->client && creds != CREDS_UNKNOWN) {
		x->client = fs_client_new(srv->fs, (uint32_t)(creds >> 32), (uint32_t)creds);
		if (x->client) /* (its pid comes with its ATTACH) */
			fs_client_set_lock_owner(x->client, client_id, 0);
	}
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

/* Reopen a live fd by inode at its number in its client; an fd whose open
 * file description another reopened fd names already (dup) names it too. */
static int rfd_open(struct replay *rp, struct rfd *f)
{
	struct server_recovered *x = recovered_get(rp->srv, f->client_id, f->creds);
	if (!x)
		return -ENOMEM;
	for (size_t j = f->gfirst; j < f->gend; j++) {
		struct rfd *m = &rp->fds[j];
		if (m != f && m->opened) {
			int rc = fs_dup(x->client, m->fd, f->fd, FS_DUP_EXACT);
			if (rc >= 0)
				f->opened = true;
			return rc;
		}
	}
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

/* The attributes a logged chmod, chown or utimens set (the same fields
 * dispatch.c gave the core). */
static int replay_attr(const struct plog_entry *e, struct fs_attr *a)
{
	const struct plog_op *op = &e->op;
	*a = (struct fs_attr){0};
	switch (op->opcode) {
	case ANK_OP_CHMOD:
	case ANK_OP_FCHMOD:
		a->valid = FS_ATTR_MODE;
		a->mode = op->mode & 07777u;
		return 0;
	case ANK_OP_CHOWN:
	case ANK_OP_FCHOWN:
		*a = attr_of_ids(op->off);
		return 0;
	default: {
		struct ank_wire_times t;
		if (e->data_len != sizeof(t))
			return -EUCLEAN;
		memcpy(&t, e->data, sizeof(t));
		*a = attr_of_times(&t);
		return 0;
	}
	}
}

/* Act on the metadata effects of one non-durable entry. */
static int replay_act(struct replay *rp, const struct plog_entry *e)
{
	const struct plog_op *op = &e->op;
	/* (the credentials the call acted with: its client's, or those the
	 * client named for it) */
	struct fs_client *c = scratch_client(
		rp, op->as_set ? (uint64_t)op->as_uid << 32 | op->as_gid : plogsvc_creds(op));
	uint64_t ino = e->desc.targets[PLOG_T_INODE];
	/* a relative path (an *at call) from its directory, by inode number */
	struct fs_at at = fs_at_ino(op->at_ino), at2 = fs_at_ino(op->at2_ino);
	int rc = 0;
	if (!c)
		return -ENOMEM;
	switch (op->opcode) {
	case ANK_OP_OPEN: {
		if (!op->path && op->at_ino) {
			/* an inode opened by number (the front door) */
			rc = (op->flags & O_TRUNC) ? fs_truncateat(c, at, "", 0) : 0;
			break;
		}
		if (!op->path)
			return -EINVAL;
		uint64_t cur = 0;
		int lr = fs_lookupat_ino(c, at, op->path, &cur, NULL);
		if ((op->flags & O_CREAT) && lr == -ENOENT) {
			rc = fs_createat_ino(c, at, op->path,
					     (int)((op->flags & O_ACCMODE) | O_CREAT | O_EXCL),
					     (mode_t)op->mode, ino, -1);
			if (rc >= 0 && op->gen)
				rc = fs_inode_set_generation(c, ino, op->gen);
			if (rc >= 0)
				open_waiting_fds(rp, ino);
		} else if (op->flags & O_TRUNC) {
			rc = fs_truncateat(c, at, op->path, 0);
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
	case ANK_OP_FALLOCATE: {
		struct ank_wire_range wr;
		if (e->data_len != sizeof(wr))
			return -EUCLEAN;
		memcpy(&wr, e->data, sizeof(wr));
		int fd = replay_wfd(rp, c, ino);
		if (fd < 0)
			return fd;
		rc = fs_fallocate(c, fd, (int)op->flags, (off_t)wr.off, (off_t)wr.len);
		break;
	}
	case ANK_OP_TRUNCATE:
		/* (no path: the inode at_ino itself, truncated by number) */
		rc = op->path || op->at_ino ? fs_truncateat(c, at, op->path ? op->path : "",
							    (off_t)op->off)
					    : -EINVAL;
		break;
	case ANK_OP_UNLINK:
		rc = op->path ? fs_unlinkat(c, at, op->path, 0) : -EINVAL;
		break;
	case ANK_OP_RMDIR:
		rc = op->path ? fs_unlinkat(c, at, op->path, AT_REMOVEDIR) : -EINVAL;
		break;
	case ANK_OP_RENAME:
		rc = op->path && op->path2
			     ? fs_renameat2(c, at, op->path, at2, op->path2, op->flags)
			     : -EINVAL;
		break;
	case ANK_OP_LINK:
		/* (no path: AT_EMPTY_PATH on the inode at_ino, the front door's
		 * link by number) */
		rc = (op->path || op->at_ino) && op->path2
			     ? fs_linkat(c, at, op->path ? op->path : "", at2, op->path2,
					 (int)op->flags)
			     : -EINVAL;
		break;
	case ANK_OP_MKDIR:
		rc = op->path ? fs_mkdirat_ino(c, at, op->path, (mode_t)op->mode, ino) : -EINVAL;
		if (rc == 0 && op->gen)
			rc = fs_inode_set_generation(c, ino, op->gen);
		if (rc == 0)
			open_waiting_fds(rp, ino);
		break;
	case ANK_OP_MKNOD:
		rc = op->path ? fs_mknodat_ino(c, at, op->path, (mode_t)op->mode, (dev_t)op->off, ino)
			      : -EINVAL;
		if (rc == 0 && op->gen)
			rc = fs_inode_set_generation(c, ino, op->gen);
		if (rc == 0)
			open_waiting_fds(rp, ino); /* (a regular file made by mknod) */
		break;
	case ANK_OP_SYMLINK: {
		/* the target is the entry's data (no NUL) */
		char target[PATH_MAX];
		if (!op->path || e->data_len == 0 || e->data_len >= sizeof(target))
			return -EUCLEAN;
		memcpy(target, e->data, e->data_len);
		target[e->data_len] = '\0';
		rc = fs_symlinkat_ino(c, target, at, op->path, ino);
		if (rc == 0 && op->gen)
			rc = fs_inode_set_generation(c, ino, op->gen);
		break;
	}
	case ANK_OP_SETXATTR:
	case ANK_OP_REMOVEXATTR:
		/* by inode, as chmod; the value is the entry's data */
		if (!op->path2 || (op->opcode == ANK_OP_SETXATTR && e->data_len != op->len))
			return -EUCLEAN;
		rc = ino ? fs_xattr_replay(c, ino, op->path2, e->data, e->data_len,
					   op->opcode == ANK_OP_REMOVEXATTR)
			 : -EINVAL;
		break;
	case ANK_OP_CHMOD:
	case ANK_OP_FCHMOD:
	case ANK_OP_CHOWN:
	case ANK_OP_FCHOWN:
	case ANK_OP_UTIMENS:
	case ANK_OP_FUTIMENS: {
		struct fs_attr a;
		rc = replay_attr(e, &a);
		if (rc == 0)
			rc = ino ? fs_setattr(c, ino, &a) : -EINVAL; /* by inode: names may differ now */
		break;
	}
	default:
		break;
	}
	return rc < 0 ? rc : 0;
}

/* Log rebuilt fd f's state (an lseek entry of its offset and flags) into
 * log li with order `timestamp`, and make it the fd's entry. */
static int relog_fd(struct server *srv, const struct rfd *f, struct server_fdstate *st, unsigned li,
		    uint64_t timestamp)
{
	struct plog_op op = {
		.opcode = ANK_OP_LSEEK,
		.flags = f->flags,
		.fd = f->fd,
		.whence = SEEK_SET,
		.off = (int64_t)f->offset,
		.result = (int64_t)f->offset,
		.uid = (uint32_t)(f->creds >> 32),
		.gid = (uint32_t)f->creds,
		.ofd = f->ofd,
	};
	struct plog_desc d = {
		.client_id = f->client_id,
		.timestamp = timestamp,
		.ipc_idx = PLOG_IPC_NONE,
		.targets_status = 1u << PLOG_T_FD,
	};
	d.targets[PLOG_T_FD] = plog_fd_key(f->client_id, f->fd);
	d.targets[PLOG_T_INODE] = f->ino;
	uint64_t id;
	int rc = plogsvc_append(srv, li, &op, &d, NULL, 0, 0, &id, false);
	if (rc < 0)
		return rc;
	st->live = true;
	st->log = li;
	st->entry_id = id;
	st->ino = f->ino;
	st->flags = f->flags;
	st->ofd = f->ofd;
	plogsvc_fd_seal(st);
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
	uint64_t d = fs_mount_durable_tid(srv->fs);
	for (unsigned k = 0; k < srv->nplogs; k++) {
		struct server_plog *l = &srv->plogs[k];
		plog_set_headroom(l->p, plog_capacity(l->p) / 16);
		l->npend = l->nfwd = 0;
		/* the old entries of transactions up to D are durable: only
		 * their fd bits keep them (the commit hook reports later
		 * commits only) */
		plog_set_durable(l->p, d);
	}
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE || e->region >= srv->nplogs)
			continue;
		if ((e->desc.targets_status & (1u << PLOG_T_INODE)) &&
		    plogsvc_pend_add(&srv->plogs[e->region], e->id, r) < 0)
			return -ENOMEM;
	}
	for (size_t k = 0; k < nstale; k++)
		plogsvc_clear(srv, stale[k].log, stale[k].entry_id, 1u << PLOG_T_FD);
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
		struct server_fdstate *st = x ? plogsvc_fdtab_get(&x->fds, &x->nfds, f->fd) : NULL;
		if (!st) {
			plogsvc_clear(srv, f->log, f->entry_id, 1u << PLOG_T_FD);
			continue;
		}
		st->live = true;
		st->log = f->log;
		st->entry_id = f->entry_id;
		st->ino = f->ino;
		st->flags = f->flags;
		st->ofd = f->ofd;
		plogsvc_fd_seal(st);
	}
	/* An fd whose state came from another fd's entry (a shared open file
	 * description) gets an entry of its own: its old one holds an older
	 * state, and the other's may go. */
	uint64_t order = max_order;
	for (size_t j = 0; j < rp->nfds; j++) {
		struct rfd *f = &rp->fds[j];
		struct server_recovered *x = f->opened && f->inherited
						     ? recovered_get(srv, f->client_id, f->creds)
						     : NULL;
		struct server_fdstate *st = x ? plogsvc_fdtab_get(&x->fds, &x->nfds, f->fd) : NULL;
		if (!st || !st->live)
			continue;
		uint32_t old_log = st->log;
		uint64_t old_id = st->entry_id;
		if (relog_fd(srv, f, st, (unsigned)(j % srv->nplogs), order++) == 0)
			plogsvc_clear(srv, old_log, old_id, 1u << PLOG_T_FD);
	}
	srv->order_base = order;
	srv->order_base_check = ~order;
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
		rc = plogsvc_fresh_logs(srv);
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
		struct server_fdstate *st = x ? plogsvc_fdtab_get(&x->fds, &x->nfds, f->fd) : NULL;
		if (!st)
			continue;
		relog_fd(srv, f, st, (unsigned)(j % srv->nplogs), order++);
	}
	srv->order_base = order;
	srv->order_base_check = ~order;
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

/* fd f goes from the table (closed, or its number taken by a dup2) while
 * other fds still name its open file description: if its entry is newer
 * than theirs, its state (offset, status flags) is the description's, and
 * passes to them. (The server carries it into an entry of theirs when the
 * fd goes, plogsvc.c carry_shared_state; a crash before that finds f
 * here.) */
static void group_inherit(struct replay *rp, const struct rfd *f)
{
	for (size_t k = 0; f->ofd && k < rp->nfds; k++) {
		struct rfd *m = &rp->fds[k];
		if (m == f || m->ofd != f->ofd || m->client_id != f->client_id ||
		    m->order >= f->order)
			continue;
		m->offset = f->offset;
		m->flags = f->flags;
		m->order = f->order;
		m->inherited = true;
	}
}

/* Order of rebuilt fds: by client and open file description, the newest
 * entry first within one. */
static int rfd_cmp(const void *pa, const void *pb)
{
	const struct rfd *a = pa, *b = pb;
	if (a->client_id != b->client_id)
		return a->client_id < b->client_id ? -1 : 1;
	if (a->ofd != b->ofd)
		return a->ofd < b->ofd ? -1 : 1;
	if (a->order != b->order)
		return a->order > b->order ? -1 : 1;
	return a->fd < b->fd ? -1 : a->fd > b->fd;
}

/* Pass 1: the live fd table and the logged completions of ring slots. */
static int pass_fd_table(struct replay *rp, const struct plog_entry *ents, size_t count)
{
	struct server *srv = rp->srv;
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE) {
			rp->corrupt++;
			rp->rep->corrupt++;
			entry_lost(srv, e, rp->durable, rp->rep);
			continue;
		}
		if (synced_undone(e, rp->durable)) {
			/* Not run: the entry must not outlive this recovery
			 * (under the next server's numbering its tid would
			 * look durable), so its fd bit and ring index go. */
			struct rfd u = {.log = e->region, .entry_id = e->id};
			if ((e->desc.targets_status & (1u << PLOG_T_FD)) &&
			    stale_push(&rp->stale, &rp->nstale, &rp->capstale, &u) < 0)
				return -ENOMEM;
			if (e->desc.ipc_idx < ANK_RING_NSLOTS && ipc_done_push(rp, e->region, e->id) < 0)
				return -ENOMEM;
			continue;
		}
		if (e->desc.timestamp + 1 > rp->max_order)
			rp->max_order = e->desc.timestamp + 1;
		if (e->desc.tid > rp->max_tid)
			rp->max_tid = e->desc.tid;
		if (e->desc.ipc_idx < ANK_RING_NSLOTS) {
			struct server_recovered *x =
				recovered_get(srv, e->desc.client_id, plogsvc_creds(&e->op));
			if (x && x->slot[e->desc.ipc_idx].set &&
			    x->slot[e->desc.ipc_idx].id != PLOG_ID_NONE &&
			    ipc_done_push(rp, x->slot[e->desc.ipc_idx].log,
					  x->slot[e->desc.ipc_idx].id) < 0)
				return -ENOMEM;
			if (x) {
				x->slot[e->desc.ipc_idx].set = true;
				x->slot[e->desc.ipc_idx].log = e->region;
				x->slot[e->desc.ipc_idx].id = e->id;
				x->slot[e->desc.ipc_idx].seq = e->desc.req_seq;
				x->slot[e->desc.ipc_idx].opcode = e->op.opcode;
				x->slot[e->desc.ipc_idx].result = e->op.result;
			}
		}
		const struct op_info *o = op_info(e->op.opcode);
		if (o && o->aim == AIM_CLOSE && e->op.result == 0) {
			/* A close logged before it cleared the fd bit of the
			 * fd's entry (death in between): the fd is closed. */
			uint64_t key = plog_fd_key(e->desc.client_id, e->op.fd);
			for (size_t j = 0; j < rp->nfds; j++) {
				if (plog_fd_key(rp->fds[j].client_id, rp->fds[j].fd) != key)
					continue;
				if (stale_push(&rp->stale, &rp->nstale, &rp->capstale, &rp->fds[j]) < 0)
					return -ENOMEM;
				group_inherit(rp, &rp->fds[j]);
				rp->fds[j] = rp->fds[--rp->nfds];
				break;
			}
			continue;
		}
		if (!(e->desc.targets_status & (1u << PLOG_T_FD)))
			continue;
		uint64_t key = e->desc.targets[PLOG_T_FD];
		struct rfd *f = NULL;
		for (size_t j = 0; j < rp->nfds; j++)
			if (plog_fd_key(rp->fds[j].client_id, rp->fds[j].fd) == key)
				f = &rp->fds[j];
		if (!f) {
			if (rp->nfds == rp->capfds) {
				size_t n = rp->capfds ? rp->capfds * 2 : 64;
				struct rfd *t = realloc(rp->fds, n * sizeof(*t));
				if (!t)
					return -ENOMEM;
				rp->fds = t;
				rp->capfds = n;
			}
			f = &rp->fds[rp->nfds++];
			memset(f, 0, sizeof(*f));
		} else {
			/* Two entries of one fd (death between the append of
			 * the newer and the clear of the older): the newer wins;
			 * the older one's bit is cleared below. */
			if (stale_push(&rp->stale, &rp->nstale, &rp->capstale, f) < 0)
				return -ENOMEM;
			if (f->ofd != e->op.ofd) /* a dup2 took its number */
				group_inherit(rp, f);
		}
		f->log = e->region;
		f->entry_id = e->id;
		f->client_id = e->desc.client_id;
		f->fd = e->op.fd;
		f->flags = e->op.flags & FD_FLAGS_KEPT;
		f->ino = e->desc.targets[PLOG_T_INODE];
		f->offset = plogsvc_fd_offset(&e->op);
		f->creds = plogsvc_creds(&e->op);
		f->ofd = e->op.ofd;
		f->order = e->desc.timestamp;
	}
	/* fds on one open file description (dup) share its state: the newest
	 * entry among theirs holds it (plogsvc.c, carry_shared_state). Sorted
	 * by description, newest first, each group is one run. */
	if (rp->nfds > 1) /* (rp->fds is NULL when there is none) */
		qsort(rp->fds, rp->nfds, sizeof(rp->fds[0]), rfd_cmp);
	for (size_t j = 0, end; j < rp->nfds; j = end) {
		struct rfd *head = &rp->fds[j];
		end = j + 1;
		while (head->ofd && end < rp->nfds && rp->fds[end].ofd == head->ofd &&
		       rp->fds[end].client_id == head->client_id)
			end++;
		for (size_t k = j; k < end; k++) {
			struct rfd *f = &rp->fds[k];
			f->gfirst = j;
			f->gend = end;
			if (k > j) {
				f->offset = head->offset;
				f->flags = head->flags;
				f->ino = head->ino;
				f->inherited = true;
			}
		}
	}
	return 0;
}

/* Pass 2: reopen the fds whose inode exists now (durable, or kept as an
 * orphan); the others wait for their creation in pass 3. */
static void pass_reopen(struct replay *rp)
{
	for (size_t j = 0; j < rp->nfds; j++)
		rfd_open(rp, &rp->fds[j]);
}

/* Pass 3: Act on every non-durable entry in global order; durable ones are
 * Ignored (their effects are on disk: durability is a prefix), except for
 * the fd they leave (Modify). */
static void pass_act(struct replay *rp, const struct plog_entry *ents, size_t count)
{
	struct ank_ctl_report *rep = rp->rep;
	/* How many entries this pass acts on (fault point recovery_mid_aim). */
	size_t to_act = 0;
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE || e->desc.tid <= rp->durable ||
		    synced_undone(e, rp->durable))
			continue;
		const struct op_info *o = op_info(e->op.opcode);
		if (o && op_acts(o))
			to_act++;
	}
	bool mid_passed = false;
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE)
			continue;
		if (synced_undone(e, rp->durable)) {
			rep->ignored++; /* never ran, as far as anyone can tell */
			continue;
		}
		bool fd_live = (e->desc.targets_status & (1u << PLOG_T_FD)) != 0;
		const struct op_info *o = op_info(e->op.opcode);
		uint8_t aim = o ? o->aim : AIM_NOT_LOGGED;
		if (e->desc.tid <= rp->durable || !o || !op_acts(o)) {
			/* Durable, or an entry whose only effect is its fd's
			 * offset (read, readdir, lseek) or none (close): only a
			 * live fd comes back (creat -> open, write/read ->
			 * lseek); an lseek is Acted (offset). (The inode bit may
			 * lag behind the tid: decide by the tid.) */
			if (!fd_live)
				rep->ignored++;
			else if (aim == AIM_SEEK)
				rep->acted++;
			else
				rep->modified++;
			continue;
		}
		/* The times the call set are the ones it set then (a file's
		 * ctime does not move because the server crashed). */
		fs_set_call_time(e->op.time_sec, e->op.time_nsec);
		int r = replay_act(rp, e);
		fs_set_call_time(0, 0);
		rp->acted++;
		rep->acted++;
		if (!mid_passed && rp->acted * 2 >= to_act) {
			mid_passed = true;
			server_fault(SERVER_FAULT_RECOVERY_MID_AIM);
		}
		if (r < 0) {
			rp->failed++;
			fprintf(stderr, "ananke: server: replay of %s (%s%s%s) failed: %s\n",
				o && o->name ? o->name : "?", e->op.path ? e->op.path : "",
				e->op.path2 ? " -> " : "", e->op.path2 ? e->op.path2 : "", strerror(-r));
		}
	}
}

/* Pass 4: fd offsets; report fds that could not come back. */
static void pass_offsets(struct replay *rp)
{
	for (size_t j = 0; j < rp->nfds; j++) {
		struct rfd *f = &rp->fds[j];
		if (!f->opened) {
			int r = rfd_open(rp, f);
			if (r < 0) {
				fprintf(stderr, "ananke: server: client %" PRIu64 ": fd %d (inode "
						"%" PRIu64 ") cannot be reopened: %s\n",
					f->client_id, f->fd, f->ino, strerror(-r));
				continue;
			}
		}
		struct server_recovered *x = recovered_get(rp->srv, f->client_id, f->creds);
		fs_set_offset(x->client, f->fd, f->offset); /* a directory's: its position */
	}
}

/* Pass 5: free what the replay no longer needs, release orphans no rebuilt
 * fd holds (same transaction), and go on with the old logs. */
static int pass_go_on(struct replay *rp, const struct plog_entry *ents, size_t count)
{
	struct server *srv = rp->srv;
	rp->nwfd = 0; /* (their fds close with the scratch clients) */
	for (unsigned k = 0; k < rp->nscratch; k++)
		fs_client_free(rp->scratch[k].c);
	rp->nscratch = 0;
	int rc = fs_release_orphans(srv->fs);
	if (rc < 0)
		return rc;
	rc = continue_logs(srv, rp, ents, count, rp->stale, rp->nstale, rp->max_order);
	if (rc < 0) {
		fprintf(stderr, "ananke: server: recovery: the p-logs cannot be appended to (%s); "
				"making the replay durable and starting fresh logs\n",
			strerror(-rc));
		rc = restart_logs(srv, rp, rp->max_order);
	}
	return rc;
}

/* Before the replay's effects can become durable: what it decided by must
 * still be what it read. The merged entries (a copy in ordinary memory,
 * checked against the logs when they were read) against their sum, D
 * against the journal's, and the highest tid and order against the
 * entries. A stray write into any of them during the replay (an entry
 * skipped as durable, ids reused) stops this server; commits are held
 * until the replay's end, so the next one recovers from the same disk and
 * logs. */
static void replay_facts_check(const struct replay *rp, const struct plog_entry *ents,
			       size_t count, uint32_t ents_sum)
{
	uint64_t max_tid = 0, max_order = 0;
	for (size_t k = 0; k < count; k++) {
		const struct plog_entry *e = &ents[k];
		if (e->err || e->desc_copy == PLOG_COPY_NONE || synced_undone(e, rp->durable))
			continue;
		max_order = ANK_MAX(max_order, e->desc.timestamp + 1);
		max_tid = ANK_MAX(max_tid, e->desc.tid);
	}
	if (crc32c(0, ents, count * sizeof(*ents)) != ents_sum ||
	    rp->durable != fs_mount_durable_tid(rp->srv->fs) || max_tid != rp->max_tid ||
	    max_order != rp->max_order) {
		fprintf(stderr, "ananke: server: recovery: the entries or the durable tid the replay "
				"decided by changed while it ran (memory corruption); stopping before "
				"any of it is durable\n");
		abort();
	}
}

int replay_run(struct server *srv, struct plog_entry *ents, size_t count,
	       struct ank_ctl_report *rep)
{
	uint32_t ents_sum = crc32c(0, ents, count * sizeof(*ents));
	struct replay rp = {.srv = srv, .rep = rep, .durable = fs_mount_durable_tid(srv->fs)};
	int rc = pass_fd_table(&rp, ents, count);
	if (rc == 0) {
		/* Ids of the crashed server are never reused: a crash after
		 * this replay's sync must find every replayed entry below the
		 * new D. And the replay becomes durable all at once (commits
		 * held until its sync). */
		fs_reserve_tids(srv->fs, rp.max_tid);
		fs_hold_commits(srv->fs, true);
		server_fault(SERVER_FAULT_RECOVERY_SLOW_HOLD);
		server_fault(SERVER_FAULT_RECOVERY_SIGSTOP);
		pass_reopen(&rp);
		if (__builtin_expect(server_fault_point == SERVER_FAULT_REPLAY_DAMAGE, 0) &&
		    server_fault_due(SERVER_FAULT_REPLAY_DAMAGE))
			rp.durable += 1u << 20;
		pass_act(&rp, ents, count);
		pass_offsets(&rp);
		replay_facts_check(&rp, ents, count, ents_sum);
		rc = pass_go_on(&rp, ents, count);
	}
	if (rc == 0)
		fprintf(stderr, "ananke: server: recovery: %zu p-log entries (durable tid %" PRIu64
				"), %zu replayed (%zu failed), %zu corrupt, %zu fds rebuilt\n",
			count, rp.durable, rp.acted, rp.failed, rp.corrupt, rp.nfds);
	fs_hold_commits(srv->fs, false);
	for (unsigned k = 0; k < rp.nscratch; k++)
		fs_client_free(rp.scratch[k].c);
	free(rp.fds);
	free(rp.ipc_done);
	free(rp.stale);

	return rc;
}

/* ---- exactly-once: a client's ATTACH to the new server ------------------- */

/* The logged completions of x's ring slots lose their ring index: the
 * slots were settled (docs/RECOVERY.md, "Exactly-once for in-flight
 * requests", step 4). */
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

void replay_recovered_free(struct server_recovered *x)
{
	fs_client_free(x->client);
	free(x->fds);
	free(x->lost_fds);
	free(x);
}

bool replay_adopt(struct server *srv, struct server_ring *r)
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
			/* (no stat in out[]: whatever an earlier request
			 * left there must not pass for this one's) */
			memset(slot->out, 0, sizeof(slot->out));
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

bool replay_drop(struct server *srv, uint64_t client_id)
{
	struct server_recovered **pp = &srv->recovered;
	while (*pp && (*pp)->client_id != client_id)
		pp = &(*pp)->next;
	if (!*pp)
		return false;
	struct server_recovered *x = *pp;
	*pp = x->next;
	recovered_clear_ipc(srv, x);
	for (size_t k = 0; k < x->nfds; k++) {
		plogsvc_fd_check(&x->fds[k]);
		if (x->fds[k].live)
			plogsvc_clear(srv, x->fds[k].log, x->fds[k].entry_id, 1u << PLOG_T_FD);
	}
	replay_recovered_free(x);
	return true;
}
