/*
 * mode.c - the three recovery modes of the server, one struct each
 * (server.h, struct recovery_mode):
 *
 *   none    a restarted server mounts the volume (journal replay) and
 *           nothing else: in-flight requests fail with EIO, old fds are
 *           stale. The baseline.
 *   sync    as none, but every call that opens a state gap is made durable
 *           before it is answered (like uFS-Sync): nothing answered is lost.
 *   ananke  every such call is logged in the worker's p-log; a new server
 *           rebuilds the dead one's state from the logs (plogsvc.c,
 *           replay.c) and the clients never notice.
 *
 * Nothing else in the server tests which mode it runs: it calls the hooks.
 */
#include <string.h>

#include "../plog/plog.h"
#include "../ipc/optable.h"
#include "server.h"

/* Recovery "sync": make the effect of a successful gap-creating request
 * durable before its reply. Data operations fsync their file (data, inode
 * and directory entry: fs.h), the rest commit everything. Returns the
 * result, or the sync's error when the effect could not be made durable. */
static int64_t sync_after_run(struct server_worker *w, struct server_ring *r,
			      const struct request *rq, int64_t result)
{
	struct fs_client *c = r->client;
	const struct op_info *o = op_info(rq->opcode);
	int rc;
	if (result < 0 || !o)
		return result;
	switch (o->sync) {
	case SYNC_NEW_FD:
		if (!op_changes_fs(o, rq->flags))
			return result;
		rc = fs_fsync(c, (int)result);
		break;
	case SYNC_FD:
		rc = fs_fsync(c, rq->fd);
		break;
	case SYNC_ALL:
		rc = fs_sync(w->srv->fs);
		break;
	default:
		return result;
	}
	return rc < 0 ? rc : result;
}

static void ananke_before_run(struct server_worker *w, const struct request *rq)
{
	plogsvc_prepare(w, rq);
	fs_stamp_clear();
	fs_stamp_publish(&w->log_pending);
}

/* The call's order, transaction and fd, taken under the fs lock. */
static int64_t ananke_after_run(struct server_worker *w, struct server_ring *r,
				const struct request *rq, int64_t result)
{
	(void)r;
	(void)rq;
	fs_stamp_publish(NULL);
	fs_stamp_last(&w->stamp);
	return result;
}

static uint64_t ananke_record(struct server_worker *w, struct server_ring *r, unsigned i,
			      const struct request *rq, const char *path, const char *path2,
			      int64_t result)
{
	const struct op_info *o = op_info(rq->opcode);
	if (o && o->aim == AIM_DATA)
		server_fault(SERVER_FAULT_LOG_DELAY);
	uint64_t id = plogsvc_log(w, r, i, rq, path, path2, result, &w->stamp);
	__atomic_store_n(&w->log_pending, 0, __ATOMIC_RELEASE);
	return id;
}

static void ananke_answered(struct server_worker *w, uint64_t id)
{
	if (id == PLOG_ID_NONE)
		return;
	server_fault(SERVER_FAULT_AFTER_DONE);
	plogsvc_answered(w, id);
}

const struct recovery_mode recovery_none = {
	.name = "none",
};

const struct recovery_mode recovery_sync = {
	.name = "sync",
	.after_run = sync_after_run,
};

const struct recovery_mode recovery_ananke = {
	.name = "ananke",
	.plogs = true,
	.keep_orphans = true,
	.map = plogsvc_map,
	.start = plogsvc_start,
	.stop = plogsvc_stop,
	.adopt = replay_adopt,
	.drop = replay_drop,
	.ring_free = plogsvc_ring_free,
	.before_run = ananke_before_run,
	.after_run = ananke_after_run,
	.record = ananke_record,
	.answered = ananke_answered,
};

const struct recovery_mode *recovery_mode_named(const char *name)
{
	static const struct recovery_mode *const all[] = {&recovery_none, &recovery_sync,
							  &recovery_ananke};
	for (unsigned k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		if (!strcmp(all[k]->name, name))
			return all[k];
	return NULL;
}
