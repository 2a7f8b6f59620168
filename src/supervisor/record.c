/*
 * record.c - the supervisor's recovery record: the recovery in progress
 * (from a serving server's death until every client is re-attached to its
 * successor) and a ring of the last completed ones, which `ananke status`
 * shows. The rest of the supervisor tells it what happened, when; nothing
 * else reads or writes a recovery's fields.
 *
 * The server's own report (journal, p-log and AIM times, counts) is
 * untrusted: it is only displayed, and the hand-over time derived from it
 * is clamped to what the supervisor measured itself.
 */
#include <stdio.h>
#include <string.h>

#include "sup_internal.h"

void sup_record_death(struct sup_record *rec, uint64_t death_ns, uint64_t reaped_ns, int old_pid,
		      const char *cause)
{
	struct sup_recovery_run *rr = &rec->run;
	if (!rr->active) {
		memset(rr, 0, sizeof(*rr));
		rr->active = true;
		rr->death_ns = death_ns;
		rr->r.old_pid = old_pid;
		snprintf(rr->r.cause, sizeof(rr->r.cause), "%s", cause);
	} else {
		/* Died during a recovery: the recovery starts over, its clock
		 * keeps running from the first death. */
		rr->ready_ns = 0;
		rr->r.report = false;
	}
	rr->reaped_ns = reaped_ns;
}

bool sup_record_active(const struct sup_record *rec)
{
	return rec->run.active;
}

void sup_record_handover(struct sup_record *rec, uint64_t now, bool standby, int new_pid)
{
	struct sup_recovery_run *rr = &rec->run;
	if (!rr->active)
		return;
	rr->handover_ns = now;
	rr->r.standby = standby;
	rr->r.new_pid = new_pid;
}

void sup_record_ready(struct sup_record *rec, uint64_t ready_ns)
{
	if (rec->run.active)
		rec->run.ready_ns = ready_ns;
}

const struct sup_recovery *sup_record_get(const struct sup_record *rec, uint64_t back)
{
	if (back >= rec->ndone || back >= SUP_MAX_RECOVERIES)
		return NULL;
	return &rec->done[(rec->ndone - 1 - back) % SUP_MAX_RECOVERIES];
}

uint64_t sup_record_count(const struct sup_record *rec)
{
	return rec->ndone;
}

void sup_record_report(struct sup_record *rec, int server_pid, const struct ank_ctl_report *r)
{
	struct sup_recovery *x = NULL;
	if (rec->run.active)
		x = &rec->run.r;
	else if (rec->ndone && rec->done[(rec->ndone - 1) % SUP_MAX_RECOVERIES].new_pid == server_pid)
		x = &rec->done[(rec->ndone - 1) % SUP_MAX_RECOVERIES]; /* a late update */
	if (!x)
		return; /* no recovery to attach it to: ignored */
	/* The phases only from the first report of a server: later ones
	 * repeat them, and the hand-over time was computed from them. */
	if (!x->report || rec->run.active) {
		x->journal_us = r->journal_us;
		x->plog_us = r->plog_us;
		x->aim_us = r->aim_us;
	}
	x->report = true;
	x->acted = r->acted;
	x->ignored = r->ignored;
	x->modified = r->modified;
	x->corrupt = r->corrupt;
	x->republished = r->republished;
	x->reexecuted = r->reexecuted;
	memcpy(x->damaged, r->damaged, sizeof(x->damaged));
}

void sup_record_finish(struct sup_record *rec, uint64_t now, int server_pid)
{
	struct sup_recovery_run *rr = &rec->run;
	if (!rr->active || !rr->ready_ns)
		return;
	struct sup_recovery *r = &rr->r;
	r->detect_us = (rr->reaped_ns - rr->death_ns) / 1000;
	r->backoff_us = (rr->handover_ns - rr->reaped_ns) / 1000;
	r->resume_us = (now - rr->ready_ns) / 1000;
	r->total_us = (now - rr->death_ns) / 1000;
	uint64_t hand = (rr->ready_ns - rr->handover_ns) / 1000;
	uint64_t own = 0;
	if (r->report)
		own = r->journal_us + r->plog_us + r->aim_us; /* untrusted: clamp below */
	r->handover_us = own < hand ? hand - own : 0;
	if (!r->new_pid)
		r->new_pid = server_pid;
	rec->done[rec->ndone % SUP_MAX_RECOVERIES] = *r;
	rec->ndone++;
	rr->active = false;
	sup_log("recovery %llu (%s, pid %d -> %d by %s): total %llu us = detect %llu + "
		"backoff %llu + handover %llu + journal %llu + plog %llu + aim %llu + resume %llu; acted %llu, "
		"ignored %llu, modified %llu, corrupt %llu, republished %llu, reexecuted %llu",
		(unsigned long long)rec->ndone, r->cause, r->old_pid, r->new_pid,
		r->standby ? "the standby" : "a fresh exec", (unsigned long long)r->total_us,
		(unsigned long long)r->detect_us, (unsigned long long)r->backoff_us,
		(unsigned long long)r->handover_us,
		(unsigned long long)r->journal_us, (unsigned long long)r->plog_us,
		(unsigned long long)r->aim_us, (unsigned long long)r->resume_us,
		(unsigned long long)r->acted, (unsigned long long)r->ignored,
		(unsigned long long)r->modified, (unsigned long long)r->corrupt,
		(unsigned long long)r->republished, (unsigned long long)r->reexecuted);
	for (unsigned k = 0; k < ANK_REPORT_DAMAGED; k++)
		if (r->damaged[k])
			sup_log("recovery %llu: inode %llu lost changes; its reads fail with EIO",
				(unsigned long long)rec->ndone, (unsigned long long)r->damaged[k]);
}
