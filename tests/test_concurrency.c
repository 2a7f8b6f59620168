/*
 * test_concurrency.c - several threads (4) work at once on one mounted
 * volume, each operation going either through one fs_client shared by all
 * threads or through the thread's own client:
 *   - in its own directory /tN: create, write, append, overwrite, truncate,
 *     rename (within the directory, into its subdirectories, through the
 *     shared directory /xfer, and over its own other files), link + unlink,
 *     unlink, mkdir/rmdir of subdirectories, listing and read-back checks;
 *   - in /shared: files with distinct names created and removed concurrently,
 *     and one file /shared/big whose disjoint regions the threads pwrite and
 *     pread (partly through one fd of the shared client);
 *   - peeking at other threads' directories (list + stat; only 0 or ENOENT
 *     are acceptable answers there).
 * Every thread records what its files must contain. After the threads end,
 * everything is verified, the volume is unmounted, fsck_run must report it
 * clean, it is mounted again and everything is verified once more: the
 * listing of every directory and the content of every file.
 *
 * The same workload runs on Linux (threads_on_linux_agree_with_their_records)
 * to prove the bookkeeping before the file system is blamed. A watchdog ends
 * the process with each thread's last operation printed when a run hangs.
 *
 * Not covered: conflicting operations on the same name from several threads
 * (their outcome is not deterministic), crashes.
 *
 * Environment: ANK_CONC_OPS (operations per thread, default 1000),
 * ANK_CONC_SEED (default 1), ANK_CONC_TIMEOUT (watchdog seconds, default 300).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oracle.h"

#if !defined(ORACLE_LIBC_ONLY)
#include "../src/fsck/fsck.h"
#endif

#define NTHREADS 4
#define NSLOT 8             /* files per thread */
#define NSUB 2              /* subdirectories per thread */
#define NSHARED 24          /* names per thread in /shared */
#define REGION (256 * 1024) /* each thread's part of /shared/big */
#define MAXFILE (256 * 1024)

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	return *end ? def : v;
}

/* Where a slot's file lives. */
enum loc { L_TOP, L_SUB0, L_SUB1, L_XFER };

struct rec {
	bool exists;
	enum loc loc;
	unsigned ver;
	uint8_t *data;
	size_t len;
};

struct worker {
	int id;
	struct target *own, *shared;
	int shared_big_fd; /* fd of /shared/big in the shared client */
	struct oracle_rng rng;
	unsigned nops;
	struct rec files[NSLOT];
	bool sub_exists[NSUB];
	bool shared_exists[NSHARED];
	uint8_t shared_byte[NSHARED]; /* content: 100 copies of this byte */
	uint8_t *region;              /* expected content of the big-file region */
	uint8_t *buf;
	unsigned ver;
	char err[768];
	atomic_bool failed;
	atomic_ulong done;
	const char *_Atomic cur;
};

static struct worker *g_workers;

/* ---- watchdog ------------------------------------------------------------------ */

static void on_alarm(int sig)
{
	(void)sig;
	char line[256];
	int n = snprintf(line, sizeof(line), "\nWATCHDOG: the concurrency run did not finish "
	                                     "(deadlock?). Last operation per thread:\n");
	if (write(2, line, (size_t)n) < 0)
		_exit(3);
	for (int i = 0; g_workers && i < NTHREADS; i++) {
		const char *cur = atomic_load(&g_workers[i].cur);
		n = snprintf(line, sizeof(line), "  thread %d: %lu operations done, now: %s\n", i,
		             (unsigned long)atomic_load(&g_workers[i].done), cur ? cur : "-");
		if (write(2, line, (size_t)n) < 0)
			break;
	}
	_exit(3);
}

static void watchdog_arm(void)
{
	signal(SIGALRM, on_alarm);
	alarm((unsigned)env_ulong("ANK_CONC_TIMEOUT", 300));
}

static void watchdog_disarm(void)
{
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

/* ---- names ------------------------------------------------------------------------ */

static void dir_of(int id, enum loc l, char *out, size_t len)
{
	switch (l) {
	case L_TOP: snprintf(out, len, "/t%d", id); break;
	case L_SUB0: snprintf(out, len, "/t%d/s0", id); break;
	case L_SUB1: snprintf(out, len, "/t%d/s1", id); break;
	case L_XFER: snprintf(out, len, "/xfer"); break;
	}
}

static void name_of(int id, int slot, unsigned ver, char *out, size_t len)
{
	snprintf(out, len, "t%d_f%d_v%u", id, slot, ver);
}

static void path_of(int id, int slot, const struct rec *r, char *out, size_t len)
{
	char d[64], n[64];
	dir_of(id, r->loc, d, sizeof(d));
	name_of(id, slot, r->ver, n, sizeof(n));
	snprintf(out, len, "%s/%s", d, n);
}

/* ---- error reporting (threads never call cmocka) --------------------------------- */

static bool werr(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool werr(struct worker *w, const char *fmt, ...)
{
	if (!atomic_load(&w->failed)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
		atomic_store(&w->failed, true);
	}
	return false;
}

static bool expect(struct worker *w, const char *what, const char *path, long got, long want)
{
	if (got == want)
		return true;
	char g[32], e[32];
	return werr(w, "thread %d: %s(%s) = %s, expected %s", w->id, what, path,
	            oracle_result_str(got, g, sizeof(g)), oracle_result_str(want, e, sizeof(e)));
}

static struct target *pick_target(struct worker *w)
{
	return oracle_rng_pct(&w->rng, 50) ? w->own : w->shared;
}

/* ---- whole-file helpers --------------------------------------------------------------- */

/* Read all of path through t and compare with data[0..len). */
static bool verify_file(struct worker *w, struct target *t, const char *path, const uint8_t *data,
                        size_t len, uint8_t *buf, size_t buflen)
{
	int fd = t->open(t->ctx, path, O_RDONLY, 0);
	if (fd < 0)
		return expect(w, "open(O_RDONLY)", path, fd, 0);
	size_t got = 0;
	bool ok = true;
	bool positional = oracle_rng_pct(&w->rng, 50);
	for (;;) {
		size_t want = buflen;
		ssize_t n = positional ? t->pread(t->ctx, fd, buf, want, (off_t)got)
		                       : t->read(t->ctx, fd, buf, want);
		if (n < 0) {
			ok = expect(w, "read", path, n, 0);
			break;
		}
		if (n == 0)
			break;
		if (got + (size_t)n > len) {
			ok = werr(w, "thread %d: %s is longer than %zu bytes", w->id, path, len);
			break;
		}
		if (memcmp(buf, data + got, (size_t)n)) {
			size_t i = 0;
			while (buf[i] == data[got + i])
				i++;
			ok = werr(w, "thread %d: %s: byte %zu is 0x%02x, expected 0x%02x", w->id, path,
			          got + i, buf[i], data[got + i]);
			break;
		}
		got += (size_t)n;
	}
	if (ok && got != len)
		ok = werr(w, "thread %d: %s: %zu bytes read, expected %zu", w->id, path, got, len);
	struct stat st;
	int r = t->fstat(t->ctx, fd, &st);
	if (ok && (r || st.st_size != (off_t)len))
		ok = werr(w, "thread %d: fstat(%s): %d, size %lld, expected %zu", w->id, path, r,
		          (long long)st.st_size, len);
	int c = t->close(t->ctx, fd);
	return ok && expect(w, "close", path, c, 0);
}

/* Listing of dir must be exactly the `n` names given. */
static bool verify_listing(struct worker *w, struct target *t, const char *dir, char (*names)[64],
                           size_t n)
{
	struct oracle_dirlist l;
	oracle_dirlist_init(&l);
	int r = t->list_dir(t->ctx, dir, &l);
	bool ok = expect(w, "list_dir", dir, r, 0);
	for (size_t i = 0; ok && i < n; i++) {
		bool found = false;
		for (size_t j = 0; j < l.n && !found; j++)
			found = !strcmp(l.ents[j].name, names[i]);
		if (!found)
			ok = werr(w, "thread %d: %s: \"%s\" is missing (%zu entries listed)", w->id, dir,
			          names[i], l.n);
	}
	if (ok && l.n != n) {
		for (size_t j = 0; j < l.n; j++) {
			bool known = false;
			for (size_t i = 0; i < n && !known; i++)
				known = !strcmp(l.ents[j].name, names[i]);
			if (!known) {
				ok = werr(w, "thread %d: %s: unexpected entry \"%s\"", w->id, dir,
				          l.ents[j].name);
				break;
			}
		}
		if (ok)
			ok = werr(w, "thread %d: %s: %zu entries, expected %zu (duplicates?)", w->id, dir,
			          l.n, n);
	}
	oracle_dirlist_free(&l);
	return ok;
}

/* Expected entries of one of the thread's directories. */
static size_t expected_names(struct worker *w, enum loc l, char (*names)[64])
{
	size_t n = 0;
	if (l == L_TOP)
		for (int s = 0; s < NSUB; s++)
			if (w->sub_exists[s])
				snprintf(names[n++], 64, "s%d", s);
	for (int i = 0; i < NSLOT; i++)
		if (w->files[i].exists && w->files[i].loc == l)
			name_of(w->id, i, w->files[i].ver, names[n++], 64);
	return n;
}

/* ---- thread operations ---------------------------------------------------------------- */

static enum loc pick_loc(struct worker *w)
{
	for (int tries = 0; tries < 4; tries++) {
		enum loc l = (enum loc)oracle_rng_below(&w->rng, 4);
		if (l == L_SUB0 && !w->sub_exists[0])
			continue;
		if (l == L_SUB1 && !w->sub_exists[1])
			continue;
		return l;
	}
	return L_TOP;
}

static size_t gen_len(struct worker *w)
{
	unsigned k = (unsigned)oracle_rng_below(&w->rng, 100);
	if (k < 50)
		return (size_t)oracle_rng_range(&w->rng, 0, 4096);
	if (k < 85)
		return (size_t)oracle_rng_range(&w->rng, 1, 65536);
	return (size_t)oracle_rng_range(&w->rng, 1, MAXFILE);
}

static bool t_create(struct worker *w, int s)
{
	struct rec *r = &w->files[s];
	struct target *t = pick_target(w);
	r->loc = pick_loc(w);
	r->ver = ++w->ver;
	char p[128];
	path_of(w->id, s, r, p, sizeof(p));
	int fd = t->open(t->ctx, p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		return expect(w, "open(O_CREAT|O_EXCL)", p, fd, 0);
	r->exists = true;
	r->len = gen_len(w);
	oracle_rng_fill(&w->rng, r->data, r->len);
	size_t off = 0;
	while (off < r->len) {
		size_t n = (size_t)oracle_rng_range(&w->rng, 1, r->len - off);
		ssize_t k = t->write(t->ctx, fd, r->data + off, n);
		if (!expect(w, "write", p, k, (long)n)) {
			t->close(t->ctx, fd);
			return false;
		}
		off += n;
	}
	if (oracle_rng_pct(&w->rng, 20)) {
		int f = t->fsync(t->ctx, fd);
		if (!expect(w, "fsync", p, f, 0)) {
			t->close(t->ctx, fd);
			return false;
		}
	}
	return expect(w, "close", p, t->close(t->ctx, fd), 0);
}

static bool t_overwrite(struct worker *w, int s, bool append)
{
	struct rec *r = &w->files[s];
	struct target *t = pick_target(w);
	char p[128];
	path_of(w->id, s, r, p, sizeof(p));
	size_t off = append ? r->len : (size_t)oracle_rng_below(&w->rng, r->len + 8192);
	size_t n = (size_t)oracle_rng_range(&w->rng, 1, 65536);
	if (off + n > MAXFILE)
		return true;
	oracle_rng_fill(&w->rng, w->buf, n);
	int fd = t->open(t->ctx, p, append ? O_WRONLY | O_APPEND : O_RDWR, 0);
	if (fd < 0)
		return expect(w, "open", p, fd, 0);
	ssize_t k = append ? t->write(t->ctx, fd, w->buf, n) : t->pwrite(t->ctx, fd, w->buf, n, (off_t)off);
	if (!expect(w, append ? "append" : "pwrite", p, k, (long)n)) {
		t->close(t->ctx, fd);
		return false;
	}
	if (off > r->len)
		memset(r->data + r->len, 0, off - r->len);
	memcpy(r->data + off, w->buf, n);
	if (off + n > r->len)
		r->len = off + n;
	if (oracle_rng_pct(&w->rng, 10)) {
		int f = t->fdatasync(t->ctx, fd);
		if (!expect(w, "fdatasync", p, f, 0)) {
			t->close(t->ctx, fd);
			return false;
		}
	}
	return expect(w, "close", p, t->close(t->ctx, fd), 0);
}

static bool t_truncate(struct worker *w, int s)
{
	struct rec *r = &w->files[s];
	struct target *t = pick_target(w);
	char p[128];
	path_of(w->id, s, r, p, sizeof(p));
	size_t len = (size_t)oracle_rng_below(&w->rng, MAXFILE);
	if (oracle_rng_pct(&w->rng, 60))
		len = (size_t)oracle_rng_below(&w->rng, r->len + 1);
	if (!expect(w, "truncate", p, t->truncate(t->ctx, p, (off_t)len), 0))
		return false;
	if (len > r->len)
		memset(r->data + r->len, 0, len - r->len);
	r->len = len;
	return true;
}

static bool t_rename(struct worker *w, int s)
{
	struct rec *r = &w->files[s];
	struct target *t = pick_target(w);
	char from[128], to[128];
	path_of(w->id, s, r, from, sizeof(from));
	/* sometimes over another existing file of this thread */
	int victim = (int)oracle_rng_below(&w->rng, NSLOT);
	if (victim != s && w->files[victim].exists && oracle_rng_pct(&w->rng, 30)) {
		struct rec *v = &w->files[victim];
		path_of(w->id, victim, v, to, sizeof(to));
		if (!expect(w, "rename over a file", from, t->rename(t->ctx, from, to), 0))
			return false;
		/* slot s's file now has the victim's name and the victim is gone;
		 * a second rename gives it a name of slot s again */
		v->exists = false;
		r->loc = v->loc;
		struct rec moved = *r;
		moved.ver = ++w->ver;
		char fin[128];
		path_of(w->id, s, &moved, fin, sizeof(fin));
		if (!expect(w, "rename", to, t->rename(t->ctx, to, fin), 0))
			return false;
		r->ver = moved.ver;
		return true;
	}
	struct rec moved = *r;
	moved.loc = pick_loc(w);
	moved.ver = ++w->ver;
	path_of(w->id, s, &moved, to, sizeof(to));
	if (oracle_rng_pct(&w->rng, 25)) {
		/* link + unlink instead of rename */
		if (!expect(w, "link", from, t->link(t->ctx, from, to), 0))
			return false;
		struct stat st;
		int sr = t->stat(t->ctx, to, &st);
		if (!expect(w, "stat", to, sr, 0))
			return false;
		if (st.st_nlink != 2)
			return werr(w, "thread %d: %s: nlink %lu after link, expected 2", w->id, to,
			            (unsigned long)st.st_nlink);
		if (!expect(w, "unlink", from, t->unlink(t->ctx, from), 0))
			return false;
	} else if (!expect(w, "rename", from, t->rename(t->ctx, from, to), 0)) {
		return false;
	}
	r->loc = moved.loc;
	r->ver = moved.ver;
	return true;
}

static bool t_unlink(struct worker *w, int s)
{
	struct rec *r = &w->files[s];
	struct target *t = pick_target(w);
	char p[128];
	path_of(w->id, s, r, p, sizeof(p));
	if (!expect(w, "unlink", p, t->unlink(t->ctx, p), 0))
		return false;
	r->exists = false;
	return true;
}

static bool t_subdir(struct worker *w)
{
	struct target *t = pick_target(w);
	int s = (int)oracle_rng_below(&w->rng, NSUB);
	char p[64];
	snprintf(p, sizeof(p), "/t%d/s%d", w->id, s);
	if (!w->sub_exists[s]) {
		if (!expect(w, "mkdir", p, t->mkdir(t->ctx, p, 0755), 0))
			return false;
		w->sub_exists[s] = true;
		return true;
	}
	bool empty = true;
	for (int i = 0; i < NSLOT; i++)
		if (w->files[i].exists && w->files[i].loc == (s ? L_SUB1 : L_SUB0))
			empty = false;
	int r = t->rmdir(t->ctx, p);
	if (!expect(w, "rmdir", p, r, empty ? 0 : -ENOTEMPTY))
		return false;
	if (empty)
		w->sub_exists[s] = false;
	return true;
}

static bool t_list(struct worker *w)
{
	struct target *t = pick_target(w);
	char names[NSLOT + NSUB][64], d[64];
	enum loc l = (enum loc)oracle_rng_below(&w->rng, 3);
	if ((l == L_SUB0 && !w->sub_exists[0]) || (l == L_SUB1 && !w->sub_exists[1]))
		l = L_TOP;
	dir_of(w->id, l, d, sizeof(d));
	return verify_listing(w, t, d, names, expected_names(w, l, names));
}

static bool t_shared(struct worker *w)
{
	struct target *t = pick_target(w);
	int k = (int)oracle_rng_below(&w->rng, NSHARED);
	char p[64];
	snprintf(p, sizeof(p), "/shared/c%d_%d", w->id, k);
	if (w->shared_exists[k]) {
		if (oracle_rng_pct(&w->rng, 50)) {
			uint8_t expectb[100];
			memset(expectb, w->shared_byte[k], sizeof(expectb));
			return verify_file(w, t, p, expectb, sizeof(expectb), w->buf, 4096);
		}
		if (!expect(w, "unlink", p, t->unlink(t->ctx, p), 0))
			return false;
		w->shared_exists[k] = false;
		return true;
	}
	int fd = t->open(t->ctx, p, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0)
		return expect(w, "open(O_CREAT|O_EXCL)", p, fd, 0);
	w->shared_exists[k] = true;
	w->shared_byte[k] = (uint8_t)oracle_rng_next(&w->rng);
	memset(w->buf, w->shared_byte[k], 100);
	ssize_t n = t->write(t->ctx, fd, w->buf, 100);
	int c = t->close(t->ctx, fd);
	return expect(w, "write", p, n, 100) && expect(w, "close", p, c, 0);
}

static bool t_big(struct worker *w)
{
	size_t n = (size_t)oracle_rng_range(&w->rng, 1, 16384);
	size_t off = (size_t)oracle_rng_below(&w->rng, REGION - n + 1);
	off_t foff = (off_t)w->id * REGION + (off_t)off;
	bool via_shared_fd = oracle_rng_pct(&w->rng, 50);
	bool read_back = oracle_rng_pct(&w->rng, 30);
	struct target *t = via_shared_fd ? w->shared : w->own;
	int fd = w->shared_big_fd;
	if (!via_shared_fd) {
		fd = t->open(t->ctx, "/shared/big", O_RDWR, 0);
		if (fd < 0)
			return expect(w, "open", "/shared/big", fd, 0);
	}
	bool ok;
	if (read_back) {
		ssize_t k = t->pread(t->ctx, fd, w->buf, n, foff);
		ok = expect(w, "pread", "/shared/big", k, (long)n);
		if (ok && memcmp(w->buf, w->region + off, n))
			ok = werr(w, "thread %d: /shared/big region data differs near %lld", w->id,
			          (long long)foff);
	} else {
		oracle_rng_fill(&w->rng, w->buf, n);
		ssize_t k = t->pwrite(t->ctx, fd, w->buf, n, foff);
		ok = expect(w, "pwrite", "/shared/big", k, (long)n);
		if (ok)
			memcpy(w->region + off, w->buf, n);
	}
	if (!via_shared_fd) {
		int c = t->close(t->ctx, fd);
		ok = ok && expect(w, "close", "/shared/big", c, 0);
	}
	return ok;
}

/* Look at another thread's directory: only 0 / ENOENT are acceptable. */
static bool t_peek(struct worker *w)
{
	struct target *t = pick_target(w);
	int other = (int)oracle_rng_below(&w->rng, NTHREADS);
	char d[64], p[400];
	snprintf(d, sizeof(d), oracle_rng_pct(&w->rng, 30) ? "/xfer" : "/t%d", other);
	struct oracle_dirlist l;
	oracle_dirlist_init(&l);
	int r = t->list_dir(t->ctx, d, &l);
	bool ok = expect(w, "list_dir", d, r, 0);
	for (size_t i = 0; ok && i < l.n && i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", d, l.ents[i].name);
		struct stat st;
		r = t->stat(t->ctx, p, &st);
		if (r != 0 && r != -ENOENT)
			ok = expect(w, "stat (peek)", p, r, 0);
	}
	oracle_dirlist_free(&l);
	return ok;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < w->nops && !atomic_load(&w->failed); i++) {
		int s = (int)oracle_rng_below(&w->rng, NSLOT);
		struct rec *r = &w->files[s];
		unsigned k = (unsigned)oracle_rng_below(&w->rng, 100);
		bool ok = true;
		const char *what;
		if (!r->exists && k < 60) {
			what = "create";
			atomic_store(&w->cur, what);
			ok = t_create(w, s);
		} else if (r->exists && k < 12) {
			what = "overwrite";
			atomic_store(&w->cur, what);
			ok = t_overwrite(w, s, false);
		} else if (r->exists && k < 18) {
			what = "append";
			atomic_store(&w->cur, what);
			ok = t_overwrite(w, s, true);
		} else if (r->exists && k < 23) {
			what = "truncate";
			atomic_store(&w->cur, what);
			ok = t_truncate(w, s);
		} else if (r->exists && k < 38) {
			what = "rename";
			atomic_store(&w->cur, what);
			ok = t_rename(w, s);
		} else if (r->exists && k < 44) {
			what = "unlink";
			atomic_store(&w->cur, what);
			ok = t_unlink(w, s);
		} else if (r->exists && k < 56) {
			char p[128];
			path_of(w->id, s, r, p, sizeof(p));
			what = "read back";
			atomic_store(&w->cur, what);
			ok = verify_file(w, pick_target(w), p, r->data, r->len, w->buf, 65536);
		} else if (k < 62) {
			what = "mkdir/rmdir";
			atomic_store(&w->cur, what);
			ok = t_subdir(w);
		} else if (k < 68) {
			what = "list";
			atomic_store(&w->cur, what);
			ok = t_list(w);
		} else if (k < 80) {
			what = "shared dir";
			atomic_store(&w->cur, what);
			ok = t_shared(w);
		} else if (k < 92) {
			what = "big file";
			atomic_store(&w->cur, what);
			ok = t_big(w);
		} else if (k < 98) {
			what = "peek";
			atomic_store(&w->cur, what);
			ok = t_peek(w);
		} else {
			what = "sync";
			atomic_store(&w->cur, what);
			struct target *t = pick_target(w);
			ok = expect(w, "sync", "-", t->sync(t->ctx), 0);
		}
		(void)ok;
		atomic_fetch_add(&w->done, 1);
	}
	atomic_store(&w->cur, "finished");
	return NULL;
}

/* ---- final verification (single-threaded, through one target) ------------------------- */

static bool verify_all(struct worker *ws, struct target *t, const char *when)
{
	uint8_t *buf = malloc(65536);
	assert_non_null(buf);
	bool ok = true;
	for (int i = 0; i < NTHREADS && ok; i++) {
		struct worker *w = &ws[i];
		char names[NSLOT + NSUB][64], d[64], p[128];
		for (enum loc l = L_TOP; ok && l <= L_SUB1; l++) {
			if (l != L_TOP && !w->sub_exists[l == L_SUB0 ? 0 : 1])
				continue;
			dir_of(w->id, l, d, sizeof(d));
			ok = verify_listing(w, t, d, names, expected_names(w, l, names));
		}
		for (int s = 0; s < NSLOT && ok; s++) {
			if (!w->files[s].exists)
				continue;
			path_of(w->id, s, &w->files[s], p, sizeof(p));
			ok = verify_file(w, t, p, w->files[s].data, w->files[s].len, buf, 65536);
		}
		for (int k = 0; k < NSHARED && ok; k++) {
			snprintf(p, sizeof(p), "/shared/c%d_%d", w->id, k);
			struct stat st;
			int r = t->stat(t->ctx, p, &st);
			ok = expect(w, "stat", p, r, w->shared_exists[k] ? 0 : -ENOENT);
			if (ok && w->shared_exists[k]) {
				uint8_t e[100];
				memset(e, w->shared_byte[k], sizeof(e));
				ok = verify_file(w, t, p, e, sizeof(e), buf, 65536);
			}
		}
	}
	/* /xfer and /shared hold exactly the names the threads left there */
	size_t cap = NTHREADS * (NSLOT + NSHARED) + 2;
	char (*names)[64] = calloc(cap, 64);
	assert_non_null(names);
	size_t n = 0;
	for (int i = 0; ok && i < NTHREADS; i++)
		n += expected_names(&ws[i], L_XFER, names + n);
	if (ok)
		ok = verify_listing(&ws[0], t, "/xfer", names, n);
	n = 0;
	snprintf(names[n++], 64, "big");
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < NSHARED; k++)
			if (ws[i].shared_exists[k])
				snprintf(names[n++], 64, "c%d_%d", i, k);
	if (ok)
		ok = verify_listing(&ws[0], t, "/shared", names, n);
	free(names);
	/* the big file: every region as its thread left it */
	uint8_t *all = malloc((size_t)NTHREADS * REGION);
	assert_non_null(all);
	for (int i = 0; i < NTHREADS; i++)
		memcpy(all + (size_t)i * REGION, ws[i].region, REGION);
	if (ok)
		ok = verify_file(&ws[0], t, "/shared/big", all, (size_t)NTHREADS * REGION, buf, 65536);
	free(all);
	free(buf);
	if (!ok) {
		for (int i = 0; i < NTHREADS; i++)
			if (atomic_load(&ws[i].failed))
				printf("%s: %s\n", when, ws[i].err);
	}
	return ok;
}

/* ---- the scenario, on any set of targets ------------------------------------------------ */

struct conc_env {
	const char *name;
	struct target *shared;
	struct target *own[NTHREADS];
	/* End the live phase (close clients, unmount, fsck, mount) and return the
	 * target for the final verification in *verify; 0 or an error. */
	int (*finish)(struct conc_env *e, struct target **verify);
	void *priv;
};

static bool scenario(struct conc_env *e, uint64_t seed, unsigned nops)
{
	printf("[ concurrency seed %llu ] %d threads x %u operations on %s\n",
	       (unsigned long long)seed, NTHREADS, nops, e->name);
	struct target *t = e->shared;
	/* layout */
	static const char *const dirs[] = {"/shared", "/xfer", "/t0", "/t1", "/t2", "/t3"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(t->mkdir(t->ctx, dirs[i], 0755), 0);
	int big = t->open(t->ctx, "/shared/big", O_CREAT | O_EXCL | O_RDWR, 0644);
	assert_true(big >= 0);
	assert_int_equal(t->ftruncate(t->ctx, big, (off_t)NTHREADS * REGION), 0);

	struct worker *ws = calloc(NTHREADS, sizeof(*ws));
	assert_non_null(ws);
	for (int i = 0; i < NTHREADS; i++) {
		struct worker *w = &ws[i];
		w->id = i;
		w->own = e->own[i];
		w->shared = e->shared;
		w->shared_big_fd = big;
		w->nops = nops;
		oracle_rng_seed(&w->rng, seed * 1000 + (uint64_t)i);
		w->region = calloc(1, REGION);
		w->buf = malloc(MAXFILE + 65536);
		assert_non_null(w->region);
		assert_non_null(w->buf);
		for (int s = 0; s < NSLOT; s++) {
			w->files[s].data = malloc(MAXFILE + 65536);
			assert_non_null(w->files[s].data);
		}
		atomic_init(&w->failed, false);
		atomic_init(&w->done, 0);
		atomic_init(&w->cur, "starting");
	}
	g_workers = ws;
	watchdog_arm();
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &ws[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	bool ok = true;
	for (int i = 0; i < NTHREADS; i++) {
		if (atomic_load(&ws[i].failed)) {
			printf("during the run: %s\n", ws[i].err);
			ok = false;
		}
	}
	if (ok)
		ok = verify_all(ws, e->shared, "after the run");
	assert_int_equal(t->close(t->ctx, big), 0);
	struct target *vt = NULL;
	int fr = e->finish(e, &vt);
	if (fr) {
		printf("unmount / fsck / mount failed: %d\n", fr);
		ok = false;
	}
	if (ok && vt) {
		for (int i = 0; i < NTHREADS; i++)
			atomic_store(&ws[i].failed, false);
		ok = verify_all(ws, vt, "after remount");
	}
	watchdog_disarm();
	g_workers = NULL;
	for (int i = 0; i < NTHREADS; i++) {
		for (int s = 0; s < NSLOT; s++)
			free(ws[i].files[s].data);
		free(ws[i].region);
		free(ws[i].buf);
	}
	free(ws);
	return ok;
}

static bool run_scenario(struct conc_env *e, uint64_t seed)
{
	return scenario(e, seed, (unsigned)env_ulong("ANK_CONC_OPS", 1000));
}

/* ---- Linux ----------------------------------------------------------------------------- */

struct libc_priv {
	struct target shared, own[NTHREADS], verify;
};

static int libc_finish(struct conc_env *e, struct target **verify)
{
	struct libc_priv *p = e->priv;
	*verify = &p->verify;
	return 0;
}

static void threads_on_linux_agree_with_their_records(void **state)
{
	(void)state;
	struct libc_priv *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	assert_int_equal(target_libc_new(&p->shared, "linux"), 0);
	const char *root = target_libc_root(&p->shared);
	struct conc_env e = {.name = "linux", .shared = &p->shared, .finish = libc_finish, .priv = p};
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(target_libc_attach(&p->own[i], "linux-thread", root), 0);
		e.own[i] = &p->own[i];
	}
	assert_int_equal(target_libc_attach(&p->verify, "linux-verify", root), 0);
	bool ok = run_scenario(&e, env_ulong("ANK_CONC_SEED", 1));
	target_destroy(&p->verify);
	for (int i = 0; i < NTHREADS; i++)
		target_destroy(&p->own[i]);
	target_destroy(&p->shared);
	free(p);
	assert_true(ok);
}

/* The checker must notice a target that corrupts data. */
static void concurrency_checker_detects_a_corrupting_target(void **state)
{
	(void)state;
	struct libc_priv *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	struct target inner;
	assert_int_equal(target_libc_new(&inner, "linux"), 0);
	assert_int_equal(target_faulty_new(&p->shared, &inner, ORACLE_FAULT_PWRITE_FLIP_BYTE), 0);
	struct conc_env e = {.name = "faulty", .shared = &p->shared, .finish = libc_finish, .priv = p};
	for (int i = 0; i < NTHREADS; i++)
		e.own[i] = &inner; /* the workers' own clients are fine */
	assert_int_equal(target_libc_attach(&p->verify, "linux-verify", target_libc_root(&inner)), 0);
	printf("(failures below are expected: the shared client flips a byte of every write)\n");
	bool ok = scenario(&e, 1, 200);
	target_destroy(&p->verify);
	target_destroy(&p->shared);
	target_destroy(&inner);
	free(p);
	assert_false(ok);
}

/* ---- Ananke ------------------------------------------------------------------------------- */

#ifndef ORACLE_LIBC_ONLY

struct ank_priv {
	struct oracle_volume *v;
	struct fs_client *shared_client;
	struct target shared, own[NTHREADS], verify;
	bool have_verify;
};

static int fsck_clean(struct bdev *dev)
{
	struct fsck_options fo;
	struct fsck_report rep;
	memset(&fo, 0, sizeof(fo));
	memset(&rep, 0, sizeof(rep));
	fo.repair = false;
	fo.quiet = true;
	fo.out = stdout;
	int r = fsck_run(dev, &fo, &rep);
	if (r != FSCK_EXIT_CLEAN)
		printf("fsck_run: %d, %llu problems\n", r, (unsigned long long)rep.problems);
	return r;
}

static int ank_finish(struct conc_env *e, struct target **verify)
{
	struct ank_priv *p = e->priv;
	for (int i = 0; i < NTHREADS; i++)
		target_destroy(&p->own[i]);
	target_destroy(&p->shared);
	fs_client_free(p->shared_client);
	p->shared_client = NULL;
	int r = oracle_volume_unmount(p->v);
	if (r) {
		printf("fs_unmount: %d\n", r);
		return r;
	}
	r = fsck_clean(p->v->dev);
	if (r)
		return r > 0 ? -EUCLEAN : r;
	r = oracle_volume_mount(p->v);
	if (r)
		return r;
	r = target_ananke_new(&p->verify, "ananke-verify", p->v, NULL);
	if (r)
		return r;
	p->have_verify = true;
	*verify = &p->verify;
	return 0;
}

static void threads_share_a_volume_and_fsck_stays_clean(void **state)
{
	(void)state;
	struct ank_priv *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	struct fs_options opt = {.commit_interval_ms = 100};
	assert_int_equal(oracle_volume_create(&p->v, 256ull * 1024 * 1024, false, &opt), 0);
	p->shared_client = fs_client_new(p->v->fs, 0, 0);
	assert_non_null(p->shared_client);
	assert_int_equal(target_ananke_new(&p->shared, "ananke-shared", p->v, p->shared_client), 0);
	struct conc_env e = {.name = "ananke", .shared = &p->shared, .finish = ank_finish, .priv = p};
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(target_ananke_new(&p->own[i], "ananke-own", p->v, NULL), 0);
		e.own[i] = &p->own[i];
	}
	bool ok = run_scenario(&e, env_ulong("ANK_CONC_SEED", 1));
	if (p->have_verify)
		target_destroy(&p->verify);
	int ur = oracle_volume_unmount(p->v);
	int fr = ur ? 0 : fsck_clean(p->v->dev);
	oracle_volume_destroy(p->v);
	free(p);
	assert_true(ok);
	assert_int_equal(ur, 0);
	assert_int_equal(fr, 0);
}

#endif

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads_on_linux_agree_with_their_records),
		cmocka_unit_test(concurrency_checker_detects_a_corrupting_target),
#ifndef ORACLE_LIBC_ONLY
		cmocka_unit_test(threads_share_a_volume_and_fsck_stays_clean),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
