/*
 * status.c - the reply to a STATUS request: one JSON object, or the same
 * fields as "name: value" lines. The counters come from the stats page,
 * which the server writes: they are shown, never trusted for decisions.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

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

size_t sup_status_format(const struct sup *s, bool json, char *buf, size_t len)
{
	struct out o = {.buf = buf, .len = len, .used = 0};
	if (len)
		buf[0] = '\0';

	uint64_t ops = 0, heartbeat = 0;
	uint32_t running = 0;
	if (s->stats) {
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
	uint64_t uptime = (sup_now_ns() - s->start_ns) / 1000000000ull;

	if (json) {
		put(&o, "{\"supervisor_pid\": %d, \"server_pid\": %d, \"state\": \"%s\", ",
		    (int)getpid(), server_pid, state_name(s));
		put(&o, "\"epoch\": %u, \"clients\": %u, \"rings\": %u, \"restarts\": %" PRIu64
			", \"uptime_s\": %" PRIu64 ", ",
		    s->epoch, clients, s->nclients, s->restarts, uptime);
		put(&o, "\"ops\": %" PRIu64 ", \"heartbeat\": %" PRIu64
			", \"workers\": %u, \"workers_running\": %u, ",
		    ops, heartbeat, s->cfg.workers, running);
		put(&o, "\"image\": ");
		put_json_str(&o, s->image);
		put(&o, ", \"socket\": ");
		put_json_str(&o, s->socket_abs);
		put(&o, ", \"recovery\": ");
		put_json_str(&o, s->cfg.recovery);
		put(&o, ", \"ring_version\": %u}\n", ANK_RING_VERSION);
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
	}
	return o.used;
}
