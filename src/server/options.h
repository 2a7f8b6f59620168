/*
 * options.h - the options `ananke serve` takes and hands to every server it
 * starts (`ananke server`): one table of names, ranges and defaults, read
 * by both parsers, so the two can never disagree on what a value means.
 */
#ifndef ANK_SERVER_OPTIONS_H
#define ANK_SERVER_OPTIONS_H

#include <stdint.h>

enum server_opt {
	OPT_WORKERS,            /* worker threads (serve: one per core by default) */
	OPT_COMMIT_MS,          /* background journal commit interval */
	OPT_IDLE_CHECKPOINT_MS, /* checkpoint an idle journal after this; 0 never */
	OPT_PLOG_COMMIT_AT,     /* a p-log this % full starts a commit; 0 never */
	OPT_CACHE_MB,           /* page cache bound in MiB; 0: server_cache_default_mb */
	OPT_COUNT,
};

struct server_opt_spec {
	const char *name;       /* "--commit-ms" */
	uint32_t min, max, def;
};

extern const struct server_opt_spec server_opts[OPT_COUNT];

/* Parse `v` as the value of option `id`: 0 with *out, or -1 after saying on
 * stderr, prefixed by `who` ("serve", "server"), what the range is. */
int server_opt_parse(enum server_opt id, const char *who, const char *v, uint32_t *out);
/* The same for a size option (OPT_CACHE_MB): bytes with an optional K, M,
 * G or T suffix (powers of 1024), in whole MiB; *out is in MiB. */
int server_size_parse(enum server_opt id, const char *who, const char *v, uint32_t *out);
/* The page cache a server gets without --cache-size: an eighth of the
 * machine's memory, at least 64 MiB and at most 4 GiB. */
uint32_t server_cache_default_mb(void);
/* Dirty data that makes a call commit (at half of it the background
 * thread starts): a quarter of the cache, at most 256 MiB, in 4 KiB pages. */
uint64_t server_dirty_pages(uint32_t cache_mb);

#endif
