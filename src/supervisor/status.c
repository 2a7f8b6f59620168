/*
 * status.c - the reply to a STATUS request: one JSON object, or the same
 * fields as "name: value" lines. The counters come from the stats page,
 * which the server writes: they are shown, never trusted for decisions.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "../plog/plog.h"
#include "sup_internal.h"

struct out {
	char *buf;
	size_t len, used;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	if (o->used >= o->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* On truncation, stop at the end of the buffer (still terminated). */
	o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

/* A JSON string: paths may hold quotes, backslashes or control bytes. */
static void put_json_str(struct out *o, const char *str)
{
	put(o, "\"");
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			put(o, "\\%c", *p);
		else if (*p < 0x20)
			put(o, "\\u%04x", *p);
		else
			put(o, "%c", *p);
	}
	put(o, "\"");
}

static const char *state_name(const struct sup *s)
{
	if (s->stopping)
		return "stopping";
	switch (s->srv.state) {
	case SRV_STARTING: return s->ever_ready ? "restarting" : "starting";
	case SRV_RUNNING: return "running";
	case SRV_BACKOFF: return "restarting";
	default: return "stopped";
	}
}

static const char *standby_name(const struct sup *s)
{
	if (s->cfg.no_standby)
		return "off";
	if (s->sb_mode == SB_DISABLED)
		return "disabled";
	if (s->sb.pidfd < 0)
		return "none";
	return s->sb.state == SRV_RUNNING ? "ready" : "starting";
}

/* The last recoveries, oldest first. */
static void put_recoveries(struct out *o, const struct sup *s)
{
	uint64_t n = sup_record_count(&s->rec);
	if (n > SUP_MAX_RECOVERIES)
		n = SUP_MAX_RECOVERIES;
	put(o, "\"recoveries\": [");
	for (uint64_t i = 0; i < n; i++) {
		const struct sup_recovery *r = sup_record_get(&s->rec, n - 1 - i);
		put(o, "%s{\"total_us\": %" PRIu64 ", \"detect_us\": %" PRIu64
			", \"handover_us\": %" PRIu64 ", \"journal_us\": %" PRIu64
			", \"plog_us\": %" PRIu64 ", \"aim_us\": %" PRIu64 ", \"resume_us\": %" PRIu64
			", \"backoff_us\": %" PRIu64 ", \"cause\": ",
		    i ? ", " : "", r->total_us, r->detect_us, r->handover_us, r->journal_us,
		    r->plog_us, r->aim_us, r->resume_us, r->backoff_us);
		put_json_str(o, r->cause);
		put(o, ", \"standby\": %s, \"report\": %s, \"old_pid\": %d, \"new_pid\": %d, "
		       "\"acted\": %" PRIu64 ", \"ignored\": %" PRIu64 ", \"modified\": %" PRIu64
		       ", \"corrupt\": %" PRIu64 ", \"republished\": %" PRIu64
		       ", \"reexecuted\": %" PRIu64 ", \"damaged_inodes\": [",
		    r->standby ? "true" : "false", r->report ? "true" : "false", r->old_pid,
		    r->new_pid, r->acted, r->ignored, r->modified, r->corrupt, r->republished,
		    r->reexecuted);
		for (unsigned k = 0, shown = 0; k < ANK_REPORT_DAMAGED; k++)
			if (r->damaged[k])
				put(o, "%s%" PRIu64, shown++ ? ", " : "", r->damaged[k]);
		put(o, "]}");
	}
	put(o, "]");
}

/* "plogs": how full each worker's p-log is (recovery "ananke" only). */
static void put_plogs(struct out *o, const struct sup *s)
{
	put(o, "\"plogs\": [");
	for (unsigned i = 0; i < s->nplogs; i++) {
		uint64_t used = 0, cap = 0, n = 0;
		if (!s->plog_maps[i] ||
		    plog_region_usage(s->plog_maps[i], s->plog_size, &used, &cap, &n) < 0)
			used = cap = n = 0;
		put(o, "%s{\"worker\": %u, \"used\": %" PRIu64 ", \"size\": %" PRIu64
		       ", \"entries\": %" PRIu64 "}",
		    i ? ", " : "", i, used, cap, n);
	}
	put(o, "], ");
}

size_t sup_status_format(const struct sup *s, bool json, char *buf, size_t len)
{
	struct out o = {.buf = buf, .len = len, .used = 0};
	if (len)
		buf[0] = '\0';

	uint64_t ops = 0, heartbeat = 0, io_busy = 0;
	uint32_t running = 0;
	if (s->stats) {
		io_busy = __atomic_load_n(&s->stats->io_busy, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < ANK_STATS_MAX_WORKERS; i++)
			ops += __atomic_load_n(&s->stats->ops[i], __ATOMIC_RELAXED);
		heartbeat = __atomic_load_n(&s->stats->heartbeat, __ATOMIC_RELAXED);
		running = __atomic_load_n(&s->stats->workers, __ATOMIC_RELAXED);
	}
	if (s->srv.state != SRV_RUNNING)
		running = 0;
	/* Connected clients; `rings` also counts those whose detach the
	 * server has not confirmed yet. */
	unsigned clients = 0;
	for (const struct sup_conn *c = s->conns; c; c = c->next)
		if (c->state >= CL_WAIT_SERVER && c->state <= CL_LIVE && c->sock >= 0)
			clients++;
	int server_pid = s->srv.pidfd >= 0 ? (int)s->srv.pid : 0;
	/* Only a standby that is ready to take over counts. */
	int standby_pid = s->sb.pidfd >= 0 && s->sb.state == SRV_RUNNING && !s->sb.killed
				  ? (int)s->sb.pid
				  : 0;
	uint64_t uptime = (sup_now_ns() - s->start_ns) / 1000000000ull;

	if (json) {
		put(&o, "{\"supervisor_pid\": %d, \"server_pid\": %d, \"state\": \"%s\", ",
		    (int)getpid(), server_pid, state_name(s));
		put(&o, "\"epoch\": %u, \"clients\": %u, \"rings\": %u, \"restarts\": %" PRIu64
			", \"uptime_s\": %" PRIu64 ", ",
		    s->epoch, clients, s->nclients, s->restarts, uptime);
		put(&o, "\"ops\": %" PRIu64 ", \"heartbeat\": %" PRIu64
			", \"io_busy\": %" PRIu64 ", \"workers\": %u, \"workers_running\": %u, ",
		    ops, heartbeat, io_busy, s->cfg.workers, running);
		put(&o, "\"image\": ");
		put_json_str(&o, s->image);
		put(&o, ", \"socket\": ");
		put_json_str(&o, s->socket_abs);
		put(&o, ", \"recovery\": ");
		put_json_str(&o, s->cfg.recovery);
		/* Growing lists last: clients that read a truncated reply
		 * still find the fixed fields. */
		put(&o, ", \"ring_version\": %u, \"standby_pid\": %d, \"standby\": \"%s\", "
			"\"watchdog_ms\": %u, \"recoveries_total\": %" PRIu64 ", ",
		    ANK_RING_VERSION, standby_pid, standby_name(s), s->cfg.watchdog_ms,
		    sup_record_count(&s->rec));
		put(&o, "\"io_timeout_ms\": %u, \"quarantined\": %" PRIu64 ", ", s->cfg.io_timeout_ms,
		    s->quarantined);
		if (s->quarantined)
			put(&o, "\"last_quarantined\": {\"client\": %" PRIu64 ", \"slot\": %u, "
				"\"request\": %" PRIu64 ", \"opcode\": %u, \"deaths\": %u}, ",
			    s->last_quarantine.client_id, s->last_quarantine.slot,
			    s->last_quarantine.seq, s->last_quarantine.opcode,
			    s->last_quarantine.deaths);
		put_plogs(&o, s);
		put_recoveries(&o, s);
		put(&o, "}\n");
	} else {
		put(&o, "state: %s\n", state_name(s));
		put(&o, "image: %s\n", s->image);
		put(&o, "socket: %s\n", s->socket_abs);
		put(&o, "recovery: %s\n", s->cfg.recovery);
		put(&o, "supervisor_pid: %d\n", (int)getpid());
		put(&o, "server_pid: %d\n", server_pid);
		put(&o, "epoch: %u\n", s->epoch);
		put(&o, "restarts: %" PRIu64 "\n", s->restarts);
		put(&o, "clients: %u\n", clients);
		put(&o, "rings: %u\n", s->nclients);
		put(&o, "workers: %u (%u running)\n", s->cfg.workers, running);
		put(&o, "ops: %" PRIu64 "\n", ops);
		put(&o, "heartbeat: %" PRIu64 "\n", heartbeat);
		put(&o, "uptime_s: %" PRIu64 "\n", uptime);
		put(&o, "standby_pid: %d (%s)\n", standby_pid, standby_name(s));
		put(&o, "watchdog_ms: %u\n", s->cfg.watchdog_ms);
		put(&o, "recoveries: %" PRIu64 "\n", sup_record_count(&s->rec));
		if (s->quarantined)
			put(&o, "quarantined requests (answered EIO): %" PRIu64 "\n", s->quarantined);
		const struct sup_recovery *r = sup_record_get(&s->rec, 0);
		if (r) {
			put(&o, "last_recovery: %" PRIu64 " us (detect %" PRIu64 ", handover %" PRIu64
				", journal %" PRIu64 ", plog %" PRIu64 ", aim %" PRIu64 ", resume %" PRIu64
				"), cause %s, %s\n",
			    r->total_us, r->detect_us, r->handover_us, r->journal_us, r->plog_us,
			    r->aim_us, r->resume_us, r->cause, r->standby ? "standby" : "fresh exec");
		}
	}
	return o.used;
}
