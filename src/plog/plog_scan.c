/*
 * plog_scan.c - reading p-logs after their writer died: walk one region
 * from its tail along the chain of valid records, taking each part from the
 * primary when it checks and from the replica otherwise, report what is
 * corrupt in both copies, and merge several workers' logs by timestamp. It
 * never writes to a region and never trusts a byte it has not checked; it
 * does not interpret entries (that is AIM's job).
 */
#include "plog_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util/common.h"

struct scan {
	const struct plog_geom *g;
	unsigned flags;
	uint32_t region;
	plog_scan_fn fn;
	void *arg;
	long count;
	uint64_t last_ts; /* timestamp of the last entry with a valid descriptor */
};

static int emit(struct scan *s, const struct plog_entry *e)
{
	s->count++;
	int rc = s->fn(e, s->arg);
	return rc < 0 ? rc : 0;
}

/* Report sequences [from, to) as lost: no valid record in either copy. */
static int emit_lost(struct scan *s, uint64_t from, uint64_t to)
{
	for (uint64_t q = from; q < to; q++) {
		struct plog_entry e = {
			.err = -EUCLEAN,
			.region = s->region,
			.worker = s->g->worker,
			.desc_copy = PLOG_COPY_NONE,
			.op_copy = PLOG_COPY_NONE,
			.live = true,
			.seq = q,
			.id = PLOG_ID_NONE,
			.order_ts = s->last_ts,
		};
		ank_corrupt_report(__FILE__, __LINE__, "p-log entry lost in both copies");
		int rc = emit(s, &e);
		if (rc)
			return rc;
	}
	return 0;
}

/* An entry whose descriptor checks: report it (unless dead and not asked). */
static int emit_entry(struct scan *s, const struct plog_view *v)
{
	const struct plog_desc_rec *d = &v->desc;
	struct plog_entry e = {
		.region = s->region,
		.worker = s->g->worker,
		.desc_copy = v->desc_copy,
		.op_copy = PLOG_COPY_NONE,
		.live = plog_desc_live(d),
		.seq = d->seq,
		.id = d->pos,
		.order_ts = d->timestamp,
		.desc = {
			.client_id = d->client_id,
			.timestamp = d->timestamp,
			.ipc_idx = d->ipc_idx,
			.targets_status = d->targets_status,
			.tid = d->tid,
			.req_seq = d->req_seq,
		},
	};
	memcpy(e.desc.targets, d->targets, sizeof(e.desc.targets));
	s->last_ts = d->timestamp;
	if (!e.live && !(s->flags & PLOG_SCAN_DEAD))
		return 0; /* dead: its operation is never looked at */
	for (unsigned c = PLOG_PRIMARY; c <= PLOG_REPLICA; c++) {
		if (plog_op_at(s->g, c, d, &e.op, &e.data, &e.data_len) == 0) {
			e.op_copy = (uint8_t)c;
			return emit(s, &e);
		}
	}
	memset(&e.op, 0, sizeof(e.op));
	e.err = ank_corrupt_report(__FILE__, __LINE__, "p-log operation corrupt in both copies");
	return emit(s, &e);
}

/* After a position where nothing checks although sequence `seq` should be
 * there: find the next genuine record (its position and generation are in
 * it and salted, so only the real one matches) before the end of the lap
 * that started at `start`. Every entry takes at least 256 bytes, so the
 * record d bytes further on has a sequence below seq + d / 256 + 1: this
 * bounds what can be reported lost. Returns 1 and fills *next and *v, or 0
 * when there is none. */
static int resync(const struct plog_geom *g, uint64_t pos, uint64_t seq, uint64_t start,
		  uint64_t *next, struct plog_view *v)
{
	for (uint64_t p = pos + PLOG_ALIGN; p - start < g->copy_size; p += PLOG_ALIGN) {
		uint64_t hi = seq + (p - pos) / (PLOG_DESC_SIZE + PLOG_OP_SIZE);
		if (plog_view_at(g, p, seq, hi, v) != PLOG_REC_NONE) {
			*next = p;
			return 1;
		}
	}
	return 0;
}

static int scan_region(const void *mem, size_t size, unsigned flags, uint32_t region,
		       plog_scan_fn fn, void *arg, long *count)
{
	struct plog_geom g;
	int rc = plog_geom_load(mem, size, &g);
	if (rc)
		return rc;

	struct scan s = {.g = &g, .flags = flags, .region = region, .fn = fn, .arg = arg};
	const uint64_t start = g.pos.tail_pos, head_seq = g.pos.head_seq;
	uint64_t pos = start, seq = g.pos.tail_seq;

	/* Positions only grow along the chain and live entries span less than
	 * one lap, so this loop ends after at most copy_size / 64 steps. */
	while (pos - start < g.copy_size) {
		struct plog_view v;
		int kind = plog_view_at(&g, pos, seq, seq, &v);
		if (kind == PLOG_REC_WRAP) {
			pos = plog_next_lap(pos, g.copy_size);
			continue;
		}
		if (kind == PLOG_REC_ENTRY) {
			rc = emit_entry(&s, &v);
			if (rc)
				goto out;
			pos += v.desc.entry_len;
			seq++;
			continue;
		}
		if (seq >= head_seq)
			break; /* the end: nothing was committed here */
		uint64_t next = 0;
		int found = resync(&g, pos, seq, start, &next, &v);
		/* a genuine record with sequence v.seq means every earlier
		 * sequence was committed: those we could not read are lost */
		rc = emit_lost(&s, seq, found ? v.seq : head_seq);
		if (rc || !found)
			goto out;
		pos = next;
		seq = v.seq;
	}
	if (seq < head_seq) /* a full lap walked, committed entries missing */
		rc = emit_lost(&s, seq, head_seq);
out:
	*count = s.count;
	return rc;
}

static int scan_report(const struct plog_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

int plog_scan(const void *mem, size_t size, unsigned flags, plog_scan_fn fn, void *arg)
{
	long count = 0;
	int rc = scan_region(mem, size, flags, 0, fn ? fn : scan_report, arg, &count);
	return rc ? rc : (int)ANK_MIN(count, (long)INT32_MAX);
}

struct collect {
	struct plog_entry *v;
	size_t n, cap;
};

static int collect_one(const struct plog_entry *e, void *arg)
{
	struct collect *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct plog_entry *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *e;
	return 0;
}

static int merge_order(const void *a, const void *b)
{
	const struct plog_entry *x = a, *y = b;
	if (x->order_ts != y->order_ts)
		return x->order_ts < y->order_ts ? -1 : 1;
	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One region's scan for plog_merge, run in a thread of its own. */
struct region_job {
	const void *mem;
	size_t size;
	unsigned flags, index;
	struct collect c;
	int rc;
	pthread_t thread;
	bool threaded;
};

static void *region_job_run(void *arg)
{
	struct region_job *j = arg;
	long k;
	j->rc = scan_region(j->mem, j->size, j->flags, j->index, collect_one, &j->c, &k);
	return NULL;
}

int plog_merge(const void *const mems[], const size_t sizes[], unsigned n, unsigned flags,
	       struct plog_entry **out, size_t *count, int *region_err)
{
	int first_err = 0;

	if (!out || !count || (n && (!mems || !sizes)))
		return -EINVAL;
	*out = NULL;
	*count = 0;
	if (n == 0)
		return 0;
	/* The regions are independent and reading one is checksumming
	 * megabytes: one thread each (the caller's takes region 0). */
	struct region_job *jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		jobs[i] = (struct region_job){.mem = mems[i], .size = sizes[i], .flags = flags,
					      .index = i};
	for (unsigned i = 1; i < n; i++)
		jobs[i].threaded =
			pthread_create(&jobs[i].thread, NULL, region_job_run, &jobs[i]) == 0;
	for (unsigned i = 0; i < n; i++) {
		if (i == 0 || !jobs[i].threaded)
			region_job_run(&jobs[i]);
		else
			pthread_join(jobs[i].thread, NULL);
	}
	size_t total = 0;
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		if (jobs[i].rc == -ENOMEM)
			rc = -ENOMEM;
		if (jobs[i].rc) {
			jobs[i].c.n = 0; /* a region with an unusable header adds nothing */
			if (!first_err)
				first_err = jobs[i].rc;
		}
		if (region_err)
			region_err[i] = jobs[i].rc;
		total += jobs[i].c.n;
	}
	struct plog_entry *v = rc == 0 && total ? malloc(total * sizeof(*v)) : NULL;
	if (rc == 0 && total && !v)
		rc = -ENOMEM;
	size_t at = 0;
	for (unsigned i = 0; i < n; i++) {
		if (v && jobs[i].c.n)
			memcpy(v + at, jobs[i].c.v, jobs[i].c.n * sizeof(*v));
		at += jobs[i].c.n;
		free(jobs[i].c.v);
	}
	free(jobs);
	if (rc < 0) {
		free(v);
		return rc;
	}
	if (total)
		qsort(v, total, sizeof(*v), merge_order);
	*out = v;
	*count = total;
	return first_err;
}
