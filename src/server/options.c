/*
 * options.c - the option table shared by `ananke serve` and `ananke server`
 * (options.h).
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../ipc/control.h"

const struct server_opt_spec server_opts[OPT_COUNT] = {
	[OPT_WORKERS] = {"--workers", 1, ANK_STATS_MAX_WORKERS, 1},
	[OPT_COMMIT_MS] = {"--commit-ms", 1, 3600000, 5000},
	[OPT_IDLE_CHECKPOINT_MS] = {"--idle-checkpoint-ms", 0, 3600000, 100},
	[OPT_PLOG_COMMIT_AT] = {"--plog-commit-at", 0, 100, 50},
};

int server_opt_parse(enum server_opt id, const char *who, const char *v, uint32_t *out)
{
	const struct server_opt_spec *o = &server_opts[id];
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || end == v || *v == '-' || n < o->min || n > o->max) {
		fprintf(stderr, "ananke: %s: %s must be %u..%u, not '%s'\n", who, o->name, o->min,
			o->max, v);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}
