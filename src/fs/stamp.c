/*
 * stamp.c - the fs lock as operations take and release it, and what rides
 * on its release: every call is stamped (its order number, its transaction,
 * the fd it worked on: fs_stamp_last) and its order number published
 * (fs_stamp_publish), and a durable tid that advanced meanwhile goes to the
 * commit hook (fs_set_commit_hook). Also the commit gate every commit
 * passes first (fs_set_commit_gate, fs_commit_gate), and fs_op_begin, the
 * operation boundary where a modifying operation may commit first.
 */
#include <sched.h>
#include <time.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

/* The calling thread's last call (fs_stamp_last); `began`: the call in
 * progress passed fs_op_begin. */
__thread struct fs_stamp fs_last_stamp;
static __thread bool began;
static __thread uint64_t *stamp_slot;

void fs_stamp_publish(uint64_t *slot)
{
	stamp_slot = slot;
}

/* The seal of a stamp: its fields laid out without padding. */
static uint32_t stamp_sum(const struct fs_stamp *s)
{
	uint64_t v[10] = {s->order,  s->tid,     s->fd_ino,  s->fd_pos, s->io_pos,
			  s->new_ino, s->new_gen,
			  (uint64_t)s->modified | (uint64_t)s->has_fd << 1 | (uint64_t)s->has_io << 2,
			  (uint64_t)s->time_sec, s->time_nsec};
	return crc32c(0x5354414Du, v, sizeof(v));
}

bool fs_stamp_intact(const struct fs_stamp *s)
{
	return stamp_sum(s) == s->seal;
}

/* The fd a call worked on, for fs_stamp_last (under the lock). */
void fs_stamp_fd(const struct ofile *of)
{
	guard_inode_number(of->ip); /* (the number goes into the call's log entry) */
	fs_last_stamp.has_fd = true;
	fs_last_stamp.fd_ino = of->ip->ino;
	fs_last_stamp.fd_pos = of->pos;
}

void fs_stamp_last(struct fs_stamp *out)
{
	*out = fs_last_stamp;
}

void fs_stamp_clear(void)
{
	fs_last_stamp = (struct fs_stamp){0};
	fs_last_stamp.seal = stamp_sum(&fs_last_stamp);
}

bool fs_txn_at_bound(struct fs *fs, unsigned div)
{
	/* (each dirty inode may need an inode table block of its own) */
	return fs->pc.ndirty >= fs->pc.dirty_limit / div ||
	       journal_running_blocks(fs) + fs->ic.ndirty > fs->j.nlog / (4 * div);
}

int fs_op_begin(struct fs *fs)
{
	if (fs->read_only)
		return -EROFS;
	if (fs->j.error)
		return fs->j.error == -ENOSPC ? -EIO : fs->j.error;
	int rc = 0;
	if (fs->commits_held) {
		began = true;
		return 0; /* a replay in progress commits once, at its end */
	}
	/* Past half of either bound the background thread commits (dirty data
	 * is written back there, not in a client's call); only a call that
	 * finds a bound reached commits itself, which throttles writers that
	 * outrun the device. */
	if (fs_txn_at_bound(fs, 1)) {
		rc = journal_commit(fs);
	} else if (fs_txn_at_bound(fs, 2) && fs->bg_running && !fs->bg_kick && !fs->j.busy) {
		fs->bg_kick = true;
		pthread_cond_signal(&fs->bg_cond);
	}
	if (rc == 0 && fs->al.free_blocks < 2048 && alloc_has_pending(fs)) {
		rc = journal_commit(fs);
		if (rc == 0)
			rc = journal_checkpoint(fs);
	}
	if (rc == 0)
		began = true;
	return rc;
}

/* The time of the call under the lock (fs_now), taken at its first use;
 * 0: not yet. A replay's forced time (fs_set_call_time) stands in for the
 * clock. Outside fs_lock .. fs_unlock (`in_call` false) nothing is kept. */
static __thread int64_t call_sec, forced_sec;
static __thread uint32_t call_nsec, forced_nsec;
static __thread bool in_call;

void fs_set_call_time(int64_t sec, uint32_t nsec)
{
	forced_sec = sec;
	forced_nsec = nsec < 1000000000u ? nsec : 0;
}

void fs_now(int64_t *sec, uint32_t *nsec)
{
	if (!in_call)
		call_sec = 0;
	if (!call_sec) {
		if (forced_sec) {
			call_sec = forced_sec;
			call_nsec = forced_nsec;
		} else {
			ank_now(&call_sec, &call_nsec);
		}
	}
	*sec = call_sec;
	*nsec = call_nsec;
}

void fs_lock(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	guard_enter(fs);
	call_sec = 0;
	in_call = true;
}

/* Give every advance of the durable tid to the commit hook, outside
 * fs->lock. One thread at a time runs the hook (hook_busy); a thread that
 * finds it busy leaves a re-check request that the runner honours before
 * leaving, so no advance is left unreported and tids only increase. A hook
 * that calls the core lands here again with hook_busy held by its own
 * thread: its advance is reported when the hook returns. */
static void commit_notify(struct fs *fs)
{
	atomic_store(&fs->hook_recheck, true);
	while (atomic_load(&fs->hook_recheck)) {
		if (atomic_exchange(&fs->hook_busy, true))
			return; /* the runner re-checks */
		atomic_store(&fs->hook_recheck, false);
		uint64_t d = atomic_load(&fs->hook_seen);
		if (fs->hook_fn && d > fs->hook_reported) {
			fs->hook_reported = d;
			fs->hook_fn(fs->hook_arg, d);
		}
		atomic_store(&fs->hook_busy, false);
	}
}

/* Release fs->lock; report a durable tid that advanced meanwhile (a commit
 * by this operation, or by anyone since the last report). */
void fs_unlock(struct fs *fs)
{
	if (__builtin_expect(fs->op_order != ~fs->op_order_check, 0))
		guard_fail("order number of the calls", fs->op_order, ~fs->op_order_check);
	fs_last_stamp.order = ++fs->op_order;
	fs->op_order_check = ~fs->op_order;
	if (began) /* (the transaction a changing call's entry will name) */
		journal_check(&fs->j);
	fs_last_stamp.tid = fs->j.running_tid;
	fs_last_stamp.modified = began;
	if (call_sec) { /* (a later call of the same request that set no time keeps it) */
		fs_last_stamp.time_sec = call_sec;
		fs_last_stamp.time_nsec = call_nsec;
	}
	in_call = false;
	fs_last_stamp.seal = stamp_sum(&fs_last_stamp);
	if (began)
		fs->j.running_seen = true; /* see fs_stamp_last: fs_sync reaches it */
	began = false;
	if (stamp_slot)
		__atomic_store_n(stamp_slot, fs_last_stamp.order, __ATOMIC_RELEASE);
	guard_leave(fs);
	bool notify = false;
	if (fs->hook_fn && fs->j.committed_tid > fs->hook_noted) {
		journal_check(&fs->j); /* (what the p-logs will count as durable) */
		fs->hook_noted = fs->j.committed_tid;
		atomic_store(&fs->hook_seen, fs->hook_noted);
		notify = true;
	}
	pthread_mutex_unlock(&fs->lock);
	if (notify)
		commit_notify(fs);
}

void fs_set_commit_gate(struct fs *fs, bool (*fn)(void *arg, const uint64_t *self), void *arg)
{
	fs_lock(fs);
	fs->gate_fn = fn;
	fs->gate_arg = arg;
	fs_unlock(fs);
}

bool fs_commit_gate(struct fs *fs)
{
	if (!fs->gate_fn || fs->gate_fn(fs->gate_arg, stamp_slot))
		return true;
	/* A call waited for may need the fs lock to be recorded: let it. */
	pthread_mutex_unlock(&fs->lock);
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&fs->lock);
	return false;
}

void fs_set_commit_hook(struct fs *fs, void (*fn)(void *arg, uint64_t durable_tid), void *arg)
{
	/* Wait out a report in progress, so the old fn is not running when this
	 * returns (lock order: hook_busy, then fs->lock). */
	while (atomic_exchange(&fs->hook_busy, true))
		sched_yield();
	fs_lock(fs);
	fs->hook_fn = fn;
	fs->hook_arg = arg;
	fs->hook_noted = fs->hook_reported = fs->j.committed_tid;
	atomic_store(&fs->hook_seen, fs->hook_noted);
	guard_leave(fs);
	pthread_mutex_unlock(&fs->lock); /* nothing to report yet */
	atomic_store(&fs->hook_busy, false);
}
