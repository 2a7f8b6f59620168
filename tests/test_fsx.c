/*
 * test_fsx.c - fsx-style data checker: a few files receive seeded random
 * writes, pwrites, O_APPEND writes, truncates (up, down, to 0), fallocates
 * (mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE) and reads at
 * random offsets up to ~8 MiB with lengths of 1 byte to 256 KiB; every read
 * and every size is compared with an in-memory model of the files (holes
 * read as zeros). Files are fsync'ed now and then; midway and at the end the
 * target is remounted and every file compared in full.
 *
 * The checker runs on a target (oracle.h). Self-tests that need no core:
 *   - fsx_model_agrees_with_linux: the model against Linux must agree, so a
 *     failure on Ananke is not a bug of the model;
 *   - fsx_detects_a_corrupting_target: against a target that flips a byte of
 *     every write it must fail.
 * With the core: the same workload on an Ananke volume in an image file, and
 * once more with tiny caches so eviction and write-back run all the time.
 *
 * Not covered: directories, links, concurrency, crashes.
 *
 * Environment: ANK_FSX_SEEDS (default 4), ANK_FSX_OPS (default 3000),
 * ANK_FSX_SEED (run only this seed), ANK_FSX_SEED_BASE (default 1),
 * ANK_FSX_VERBOSE=1 (print every operation).
 *
 * Build without the core: -DORACLE_LIBC_ONLY (only the self-tests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oracle.h"

#define NFILES 3
#define MAXLEN (8ll * 1024 * 1024) /* offsets stay below this */
#define MAXIO (256u * 1024u)       /* largest single I/O */
#define MODEL_LEN ((size_t)MAXLEN + MAXIO + 65536)
#define BLK 4096
#define NLOG 48

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	return *end ? def : v;
}

struct fsx_file {
	char path[32];
	int fd;
	uint8_t *model;     /* bytes past size are always zero */
	off_t size;
	uint32_t *last_op;  /* per 4 KiB block: last operation that changed it */
};

struct fsx {
	struct target *t;
	struct oracle_rng rng;
	uint64_t seed;
	unsigned opno;
	bool verbose;
	bool failed;
	struct fsx_file f[NFILES];
	uint8_t *wbuf, *rbuf;
	char log[NLOG][160];
};

enum fop {
	F_WRITE, F_PWRITE, F_APPEND, F_READ, F_PREAD, F_TRUNC_UP, F_TRUNC_DOWN, F_TRUNC_ZERO,
	F_FSYNC, F_REOPEN, F_FALLOC, F_COUNT
};
static const unsigned fop_weight[F_COUNT] = {
	[F_WRITE] = 20, [F_PWRITE] = 20, [F_APPEND] = 4, [F_READ] = 15, [F_PREAD] = 15,
	[F_TRUNC_UP] = 5, [F_TRUNC_DOWN] = 5, [F_TRUNC_ZERO] = 1, [F_FSYNC] = 3, [F_REOPEN] = 2,
	[F_FALLOC] = 8,
};

static void logop(struct fsx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logop(struct fsx *x, const char *fmt, ...)
{
	char *l = x->log[x->opno % NLOG];
	int n = snprintf(l, sizeof(x->log[0]), "#%u ", x->opno);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l + n, sizeof(x->log[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	if (x->verbose)
		printf("  %s\n", l);
}

static void report(struct fsx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct fsx *x, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	x->failed = true;
	printf("FSX FAILURE seed=%llu op#%u on %s: %s\n", (unsigned long long)x->seed, x->opno,
	       x->t->name, what);
	printf("  last operations:\n");
	unsigned first = x->opno >= NLOG - 1 ? x->opno - (NLOG - 1) : 0;
	for (unsigned i = first; i <= x->opno; i++)
		if (x->log[i % NLOG][0] && strtoul(x->log[i % NLOG] + 1, NULL, 10) == i)
			printf("    %s\n", x->log[i % NLOG]);
	printf("  rerun: ANK_FSX_SEED=%llu ANK_FSX_VERBOSE=1\n", (unsigned long long)x->seed);
	fflush(stdout);
}

static void touch(struct fsx_file *f, off_t from, off_t to, unsigned opno)
{
	if (to <= from)
		return;
	for (off_t b = from / BLK; b <= (to - 1) / BLK && b < (off_t)(MODEL_LEN / BLK); b++)
		f->last_op[b] = opno;
}

static bool check_result(struct fsx *x, const char *what, long got, long want)
{
	if (got == want)
		return true;
	char g[32], w[32];
	report(x, "%s returned %s, expected %s", what, oracle_result_str(got, g, sizeof(g)),
	       oracle_result_str(want, w, sizeof(w)));
	return false;
}

/* Compare `n` bytes read at file offset `off` with the model. */
static bool check_data(struct fsx *x, struct fsx_file *f, const uint8_t *got, off_t off, size_t n)
{
	if (!memcmp(got, f->model + off, n))
		return true;
	size_t i = 0;
	while (got[i] == f->model[off + (off_t)i])
		i++;
	size_t bad = 0;
	for (size_t j = i; j < n; j++)
		bad += got[j] != f->model[off + (off_t)j];
	off_t at = off + (off_t)i;
	report(x,
	       "%s: data differs at offset %lld (0x%llx): got 0x%02x, expected 0x%02x; %zu of %zu "
	       "bytes differ from there; size %lld; that block last changed by op #%u",
	       f->path, (long long)at, (long long)at, got[i], f->model[at], bad, n - i,
	       (long long)f->size, f->last_op[at / BLK]);
	return false;
}

static bool check_size(struct fsx *x, struct fsx_file *f)
{
	struct stat st;
	int r = x->t->fstat(x->t->ctx, f->fd, &st);
	if (!check_result(x, "fstat", r, 0))
		return false;
	if (st.st_size != f->size) {
		report(x, "%s: size %lld, expected %lld", f->path, (long long)st.st_size,
		       (long long)f->size);
		return false;
	}
	return true;
}

static bool full_compare(struct fsx *x, const char *when)
{
	for (int i = 0; i < NFILES; i++) {
		struct fsx_file *f = &x->f[i];
		struct stat st;
		int r = x->t->stat(x->t->ctx, f->path, &st);
		if (!check_result(x, "stat", r, 0))
			return false;
		if (st.st_size != f->size) {
			report(x, "%s %s: size %lld, expected %lld", when, f->path, (long long)st.st_size,
			       (long long)f->size);
			return false;
		}
		for (off_t off = 0; off < f->size + 1; off += MAXIO) {
			ssize_t n = x->t->pread(x->t->ctx, f->fd, x->rbuf, MAXIO, off);
			off_t want = f->size - off < (off_t)MAXIO ? f->size - off : (off_t)MAXIO;
			char what[96];
			snprintf(what, sizeof(what), "%s: pread(%s, %u, %lld)", when, f->path, MAXIO,
			         (long long)off);
			if (!check_result(x, what, n, want < 0 ? 0 : want))
				return false;
			if (n > 0 && !check_data(x, f, x->rbuf, off, (size_t)n))
				return false;
		}
	}
	return true;
}

static bool open_all(struct fsx *x, int extra_flags)
{
	for (int i = 0; i < NFILES; i++) {
		struct fsx_file *f = &x->f[i];
		f->fd = x->t->open(x->t->ctx, f->path, O_RDWR | O_CREAT | extra_flags, 0644);
		if (f->fd < 0) {
			check_result(x, "open", f->fd, 0);
			return false;
		}
	}
	return true;
}

static void close_all(struct fsx *x)
{
	for (int i = 0; i < NFILES; i++) {
		if (x->f[i].fd >= 0)
			x->t->close(x->t->ctx, x->f[i].fd);
		x->f[i].fd = -1;
	}
}

static bool remount(struct fsx *x, const char *when)
{
	char *l = x->log[x->opno % NLOG];
	size_t used = strlen(l);
	snprintf(l + used, sizeof(x->log[0]) - used, "; then remount (%s)", when);
	if (x->verbose)
		printf("  remount (%s)\n", when);
	for (int i = 0; i < NFILES; i++) {
		int r = x->t->close(x->t->ctx, x->f[i].fd);
		x->f[i].fd = -1;
		if (!check_result(x, "close", r, 0))
			return false;
	}
	int r = x->t->remount(x->t->ctx);
	if (!check_result(x, "remount", r, 0))
		return false;
	if (!open_all(x, 0))
		return false;
	return full_compare(x, when);
}

static size_t gen_len(struct oracle_rng *r)
{
	unsigned k = (unsigned)oracle_rng_below(r, 100);
	if (k < 40)
		return (size_t)oracle_rng_range(r, 1, 4096);
	if (k < 70)
		return (size_t)oracle_rng_range(r, 1, 64 * 1024);
	return (size_t)oracle_rng_range(r, 1, MAXIO);
}

static off_t gen_off(struct oracle_rng *r, off_t size, size_t len)
{
	unsigned k = (unsigned)oracle_rng_below(r, 100);
	off_t off;
	if (k < 30 && size > 0)
		off = (off_t)oracle_rng_below(r, (uint64_t)size); /* inside */
	else if (k < 55)
		off = size - 65536 + (off_t)oracle_rng_below(r, 2 * 65536); /* around EOF */
	else if (k < 65)
		off = BLK * (off_t)oracle_rng_below(r, MAXLEN / BLK); /* block aligned */
	else
		off = (off_t)oracle_rng_below(r, MAXLEN);
	if (off < 0)
		off = 0;
	if (off + (off_t)len > MAXLEN)
		off = MAXLEN - (off_t)len;
	return off;
}

/* Model of a write of wbuf[0..n) at off. */
static void model_write(struct fsx *x, struct fsx_file *f, off_t off, size_t n)
{
	memcpy(f->model + off, x->wbuf, n);
	if (off + (off_t)n > f->size)
		f->size = off + (off_t)n;
	touch(f, off, off + (off_t)n, x->opno);
}

static void model_truncate(struct fsx *x, struct fsx_file *f, off_t len)
{
	if (len < f->size)
		memset(f->model + len, 0, (size_t)(f->size - len));
	touch(f, len < f->size ? len : f->size, len < f->size ? f->size : len, x->opno);
	f->size = len;
}

static bool do_write(struct fsx *x, struct fsx_file *f, bool positional)
{
	struct target *t = x->t;
	size_t n = gen_len(&x->rng);
	off_t off = gen_off(&x->rng, f->size, n);
	oracle_rng_fill(&x->rng, x->wbuf, n);
	logop(x, "%s %s off=%lld len=%zu (size %lld)", positional ? "pwrite" : "write", f->path,
	      (long long)off, n, (long long)f->size);
	ssize_t r;
	if (positional) {
		r = t->pwrite(t->ctx, f->fd, x->wbuf, n, off);
	} else {
		off_t p = t->lseek(t->ctx, f->fd, off, SEEK_SET);
		if (!check_result(x, "lseek", p, off))
			return false;
		r = t->write(t->ctx, f->fd, x->wbuf, n);
	}
	if (!check_result(x, positional ? "pwrite" : "write", r, (long)n))
		return false;
	model_write(x, f, off, n);
	if (!positional) {
		off_t p = t->lseek(t->ctx, f->fd, 0, SEEK_CUR);
		if (!check_result(x, "lseek(0, SEEK_CUR) after write", p, off + (off_t)n))
			return false;
	}
	return check_size(x, f);
}

static bool do_append(struct fsx *x, struct fsx_file *f)
{
	struct target *t = x->t;
	size_t n = gen_len(&x->rng);
	if (f->size + (off_t)n > MAXLEN)
		return true;
	oracle_rng_fill(&x->rng, x->wbuf, n);
	logop(x, "append %s len=%zu (size %lld)", f->path, n, (long long)f->size);
	int fd = t->open(t->ctx, f->path, O_WRONLY | O_APPEND, 0);
	if (!check_result(x, "open(O_WRONLY|O_APPEND)", fd < 0 ? fd : 0, 0))
		return false;
	ssize_t r = t->write(t->ctx, fd, x->wbuf, n);
	off_t p = t->lseek(t->ctx, fd, 0, SEEK_CUR);
	int c = t->close(t->ctx, fd);
	off_t off = f->size;
	if (!check_result(x, "append write", r, (long)n) ||
	    !check_result(x, "lseek(0, SEEK_CUR) after append", p, off + (off_t)n) ||
	    !check_result(x, "close", c, 0))
		return false;
	model_write(x, f, off, n);
	return check_size(x, f);
}

static bool do_read(struct fsx *x, struct fsx_file *f, bool positional)
{
	struct target *t = x->t;
	size_t n = gen_len(&x->rng);
	off_t off;
	if (oracle_rng_pct(&x->rng, 10))
		off = f->size + (off_t)oracle_rng_below(&x->rng, 65536); /* at/after EOF */
	else
		off = gen_off(&x->rng, f->size, n);
	logop(x, "%s %s off=%lld len=%zu (size %lld)", positional ? "pread" : "read", f->path,
	      (long long)off, n, (long long)f->size);
	ssize_t r;
	if (positional) {
		r = t->pread(t->ctx, f->fd, x->rbuf, n, off);
	} else {
		off_t p = t->lseek(t->ctx, f->fd, off, SEEK_SET);
		if (!check_result(x, "lseek", p, off))
			return false;
		r = t->read(t->ctx, f->fd, x->rbuf, n);
	}
	long want = off >= f->size ? 0 : (long)(f->size - off < (off_t)n ? f->size - off : (off_t)n);
	if (!check_result(x, positional ? "pread" : "read", r, want))
		return false;
	return r <= 0 || check_data(x, f, x->rbuf, off, (size_t)r);
}

static bool do_truncate(struct fsx *x, struct fsx_file *f, enum fop kind)
{
	struct target *t = x->t;
	off_t len;
	if (kind == F_TRUNC_ZERO)
		len = 0;
	else if (kind == F_TRUNC_DOWN)
		len = (off_t)oracle_rng_below(&x->rng, (uint64_t)f->size + 1);
	else if (oracle_rng_pct(&x->rng, 50))
		len = f->size + (off_t)oracle_rng_range(&x->rng, 1, 256 * 1024);
	else
		len = f->size + (off_t)oracle_rng_below(&x->rng, (uint64_t)(MAXLEN - f->size) + 1);
	if (len > MAXLEN)
		len = MAXLEN;
	bool by_path = oracle_rng_pct(&x->rng, 30);
	logop(x, "%s %s %lld -> %lld", by_path ? "truncate" : "ftruncate", f->path,
	      (long long)f->size, (long long)len);
	int r = by_path ? t->truncate(t->ctx, f->path, len) : t->ftruncate(t->ctx, f->fd, len);
	if (!check_result(x, by_path ? "truncate" : "ftruncate", r, 0))
		return false;
	model_truncate(x, f, len);
	return check_size(x, f);
}

/* fallocate: mode 0 (the size grows to the range's end, with zeros),
 * FALLOC_FL_KEEP_SIZE (nothing visible changes), PUNCH_HOLE and ZERO_RANGE
 * (the range reads zeros; ZERO_RANGE without KEEP_SIZE grows the size). */
static bool do_falloc(struct fsx *x, struct fsx_file *f)
{
	struct target *t = x->t;
	unsigned k = (unsigned)oracle_rng_below(&x->rng, 100);
	int mode = k < 25 ? 0 : k < 40 ? FALLOC_FL_KEEP_SIZE
		 : k < 75 ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
		 : k < 88 ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	off_t off = (off_t)oracle_rng_below(&x->rng, (uint64_t)f->size + 128 * 1024);
	off_t len = (off_t)oracle_rng_range(&x->rng, 1, 512 * 1024);
	if (off + len > MAXLEN)
		len = MAXLEN - off;
	if (len <= 0)
		return true;
	logop(x, "fallocate %s mode 0x%x %lld+%lld (size %lld)", f->path, (unsigned)mode,
	      (long long)off, (long long)len, (long long)f->size);
	int r = t->fallocate(t->ctx, f->fd, mode, off, len);
	if (!check_result(x, "fallocate", r, 0))
		return false;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* the range reads zeros (below the size: past it, always) */
		off_t e = off + len < f->size ? off + len : f->size;
		if (e > off) {
			memset(f->model + off, 0, (size_t)(e - off));
			touch(f, off, e, x->opno);
		}
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f->size)
		model_truncate(x, f, off + len);
	return check_size(x, f);
}

static bool do_fsync(struct fsx *x, struct fsx_file *f)
{
	bool data = oracle_rng_pct(&x->rng, 50);
	logop(x, "%s %s", data ? "fdatasync" : "fsync", f->path);
	int r = data ? x->t->fdatasync(x->t->ctx, f->fd) : x->t->fsync(x->t->ctx, f->fd);
	return check_result(x, data ? "fdatasync" : "fsync", r, 0);
}

static bool do_reopen(struct fsx *x, struct fsx_file *f)
{
	logop(x, "reopen %s", f->path);
	int r = x->t->close(x->t->ctx, f->fd);
	f->fd = -1;
	if (!check_result(x, "close", r, 0))
		return false;
	f->fd = x->t->open(x->t->ctx, f->path, O_RDWR, 0);
	return check_result(x, "open(O_RDWR)", f->fd < 0 ? f->fd : 0, 0) && check_size(x, f);
}

static enum fop pick(struct fsx *x)
{
	unsigned total = 0;
	for (int i = 0; i < F_COUNT; i++)
		total += fop_weight[i];
	unsigned k = (unsigned)oracle_rng_below(&x->rng, total);
	for (int i = 0; i < F_COUNT; i++) {
		if (k < fop_weight[i])
			return (enum fop)i;
		k -= fop_weight[i];
	}
	return F_READ;
}

/* One seeded run on target t. Returns 0 when every check passed, 1 if not. */
static int fsx_run(struct target *t, uint64_t seed, unsigned nops, bool verbose)
{
	struct fsx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->t = t;
	x->seed = seed;
	x->verbose = verbose;
	oracle_rng_seed(&x->rng, seed);
	x->wbuf = malloc(MAXIO);
	x->rbuf = malloc(MAXIO);
	assert_non_null(x->wbuf);
	assert_non_null(x->rbuf);
	for (int i = 0; i < NFILES; i++) {
		struct fsx_file *f = &x->f[i];
		snprintf(f->path, sizeof(f->path), "/fsx%d", i);
		f->fd = -1;
		f->model = calloc(1, MODEL_LEN);
		f->last_op = calloc(MODEL_LEN / BLK, sizeof(uint32_t));
		assert_non_null(f->model);
		assert_non_null(f->last_op);
	}
	printf("[ fsx seed %llu ] %u operations on %s\n", (unsigned long long)seed, nops, t->name);
	fflush(stdout);
	bool ok = open_all(x, O_TRUNC);
	for (x->opno = 1; ok && x->opno <= nops; x->opno++) {
		struct fsx_file *f = &x->f[oracle_rng_below(&x->rng, NFILES)];
		enum fop op = pick(x);
		switch (op) {
		case F_WRITE: ok = do_write(x, f, false); break;
		case F_PWRITE: ok = do_write(x, f, true); break;
		case F_APPEND: ok = do_append(x, f); break;
		case F_READ: ok = do_read(x, f, false); break;
		case F_PREAD: ok = do_read(x, f, true); break;
		case F_TRUNC_UP:
		case F_TRUNC_DOWN:
		case F_TRUNC_ZERO: ok = do_truncate(x, f, op); break;
		case F_FSYNC: ok = do_fsync(x, f); break;
		case F_REOPEN: ok = do_reopen(x, f); break;
		case F_FALLOC: ok = do_falloc(x, f); break;
		case F_COUNT: break;
		}
		if (ok && x->opno == nops / 2)
			ok = remount(x, "midway");
	}
	if (ok) {
		x->opno = nops;
		ok = full_compare(x, "end") && remount(x, "end");
	}
	close_all(x);
	for (int i = 0; i < NFILES; i++) {
		free(x->f[i].model);
		free(x->f[i].last_op);
	}
	free(x->wbuf);
	free(x->rbuf);
	free(x);
	return ok ? 0 : 1;
}

struct fsx_cfg {
	uint64_t first;
	unsigned nseeds, nops;
	bool verbose;
};

static struct fsx_cfg fsx_cfg(unsigned default_seeds)
{
	struct fsx_cfg c;
	c.nops = (unsigned)env_ulong("ANK_FSX_OPS", 3000);
	c.verbose = env_ulong("ANK_FSX_VERBOSE", 0) != 0;
	if (getenv("ANK_FSX_SEED") && *getenv("ANK_FSX_SEED")) {
		c.first = env_ulong("ANK_FSX_SEED", 1);
		c.nseeds = 1;
	} else {
		c.first = env_ulong("ANK_FSX_SEED_BASE", 1);
		c.nseeds = (unsigned)env_ulong("ANK_FSX_SEEDS", default_seeds);
	}
	return c;
}

/* ---- self-tests -------------------------------------------------------------- */

static void fsx_model_agrees_with_linux(void **state)
{
	(void)state;
	struct fsx_cfg c = fsx_cfg(4);
	unsigned bad = 0;
	for (unsigned i = 0; i < c.nseeds; i++) {
		struct target t;
		assert_int_equal(target_libc_new(&t, "linux"), 0);
		bad += (unsigned)fsx_run(&t, c.first + i, c.nops, c.verbose);
		target_destroy(&t);
	}
	assert_int_equal(bad, 0);
}

static void fsx_detects_a_corrupting_target(void **state)
{
	(void)state;
	struct target inner, t;
	assert_int_equal(target_libc_new(&inner, "linux"), 0);
	assert_int_equal(target_faulty_new(&t, &inner, ORACLE_FAULT_PWRITE_FLIP_BYTE), 0);
	printf("(a failure below is expected: the target flips a byte of every write)\n");
	int r = fsx_run(&t, 1, 500, false);
	target_destroy(&t);
	target_destroy(&inner);
	assert_int_equal(r, 1);
}

/* ---- Ananke ------------------------------------------------------------------------ */

#ifndef ORACLE_LIBC_ONLY

#define VOLUME_BYTES (128ull * 1024 * 1024)

static void run_on_ananke(const struct fs_options *opt, unsigned default_seeds, const char *name)
{
	struct fsx_cfg c = fsx_cfg(default_seeds);
	unsigned bad = 0;
	for (unsigned i = 0; i < c.nseeds; i++) {
		struct oracle_volume *v = NULL;
		int r = oracle_volume_create(&v, VOLUME_BYTES, false, opt);
		if (r) {
			printf("creating the volume failed: %d\n", r);
			bad++;
			continue;
		}
		struct target t;
		assert_int_equal(target_ananke_new(&t, name, v, NULL), 0);
		bad += (unsigned)fsx_run(&t, c.first + i, c.nops, c.verbose);
		target_destroy(&t);
		oracle_volume_destroy(v);
	}
	assert_int_equal(bad, 0);
}

static void fsx_data_survives_on_ananke(void **state)
{
	(void)state;
	struct fs_options opt = {0};
	run_on_ananke(&opt, 4, "ananke");
}

static void fsx_data_survives_on_ananke_with_tiny_caches(void **state)
{
	(void)state;
	struct fs_options opt = {
		.cache_pages = 64,        /* 256 KiB: smaller than one large write */
		.dirty_pages_limit = 16,
		.inode_cache = 4,
		.buffer_cache = 32,
		.commit_interval_ms = 50,
	};
	run_on_ananke(&opt, 2, "ananke-tiny-caches");
}

#endif

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fsx_model_agrees_with_linux),
		cmocka_unit_test(fsx_detects_a_corrupting_target),
#ifndef ORACLE_LIBC_ONLY
		cmocka_unit_test(fsx_data_survives_on_ananke),
		cmocka_unit_test(fsx_data_survives_on_ananke_with_tiny_caches),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
