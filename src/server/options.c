/*
 * options.c - the option table shared by `ananke serve` and `ananke server`
 * (options.h).
 */
#include "options.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../ipc/control.h"

const struct server_opt_spec server_opts[OPT_COUNT] = {
	[OPT_WORKERS] = {"--workers", 1, ANK_STATS_MAX_WORKERS, 1},
	[OPT_COMMIT_MS] = {"--commit-ms", 1, 3600000, 5000},
	[OPT_IDLE_CHECKPOINT_MS] = {"--idle-checkpoint-ms", 0, 3600000, 100},
	[OPT_PLOG_COMMIT_AT] = {"--plog-commit-at", 0, 100, 50},
	[OPT_CACHE_MB] = {"--cache-size", 4, 1u << 20, 0},
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

int server_size_parse(enum server_opt id, const char *who, const char *v, uint32_t *out)
{
	const struct server_opt_spec *o = &server_opts[id];
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	unsigned shift = 0;
	if (end != v && *end && !end[1]) {
		switch (*end) {
		case 'K': case 'k': shift = 10; end++; break;
		case 'M': case 'm': shift = 20; end++; break;
		case 'G': case 'g': shift = 30; end++; break;
		case 'T': case 't': shift = 40; end++; break;
		}
	}
	unsigned long long mb = 0;
	bool ok = !errno && !*end && end != v && *v != '-' && n <= (~0ull >> shift);
	if (ok) {
		unsigned long long bytes = n << shift;
		ok = bytes % (1ull << 20) == 0;
		mb = bytes >> 20;
	}
	if (!ok || mb < o->min || mb > o->max) {
		fprintf(stderr,
			"ananke: %s: %s must be a whole number of MiB from %u MiB to %u MiB "
			"(suffixes K, M, G, T), not '%s'\n",
			who, o->name, o->min, o->max, v);
		return -1;
	}
	*out = (uint32_t)mb;
	return 0;
}

uint32_t server_cache_default_mb(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t mem = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
	uint64_t mb = (mem >> 20) / 8;
	return (uint32_t)(mb < 64 ? 64 : mb > 4096 ? 4096 : mb);
}

uint64_t server_dirty_pages(uint32_t cache_mb)
{
	uint64_t pages = (uint64_t)cache_mb * 256 / 4;
	return pages > 65536 ? 65536 : pages;
}
