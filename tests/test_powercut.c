/*
 * test_powercut.c - crash consistency of the Ananke core under power cuts,
 * in the style of SQLite's crash tests.
 *
 * Each workload runs once on an emulated device to count its write/flush
 * boundaries E (from after mount to the end of a clean unmount). Then, for
 * every boundary k (or a dense deterministic sample when E is large), a fresh
 * volume runs the same workload with the device frozen after boundary k; the
 * workload stops at its first failing operation (errors are expected after
 * the cut and must be negative errnos), the client is freed and the fs
 * unmounted (errors expected), and a power cut keeps, drops or reorders the
 * unflushed writes (EMU_CUT_DROP_ALL, EMU_CUT_RANDOM and EMU_CUT_PREFIX in
 * turn, with varying seeds). Then:
 *   - fsck on the post-cut device (it judges the journal-replayed state)
 *     must be clean;
 *   - mount must succeed (journal replay, orphan processing);
 *   - the recovered tree must equal the model state after some prefix of
 *     the workload's operations (operations are atomic: a rename is fully
 *     visible or not at all, a write is in or out), at or after the newest
 *     state promised durable by a successful fsync (of the file: its data,
 *     metadata and directory entry; of a directory: its entries) or fs_sync.
 *     File data overwritten in place may be newer than the metadata (ordered
 *     journaling writes data before the commit record): a 4 KiB block may
 *     hold its content of that prefix state or of any later state;
 *   - after a clean unmount of the recovered volume fsck is clean again.
 * The model records the namespace and every file's content as immutable
 * block-shared versions after each state-changing operation.
 *
 * Workloads: create-heavy, rename-heavy (within and across directories,
 * directory moves, atomic replace), append+fsync of one log, 2 MiB in-place
 * overwrite, unlink/truncate-heavy (with unlinked-but-open files, so crashes
 * leave orphans), mkdir/rmdir tree; the overwrite and rename-heavy ones
 * also with tiny caches (commits then start inside operations, and
 * metadata buffers are evicted between commit and checkpoint).
 *
 * Also:
 *   - the checker itself reports a recovered volume that lost, changed or
 *     moved a fsync'd file;
 *   - a crashed volume whose recovery is itself cut at every boundary
 *     recovers again to the same tree;
 *   - a torn journal transaction (commit record present, one of its blocks
 *     lost) is discarded by replay, an intact one is replayed;
 *   - a committed unlink of an open file (the orphan list head only in the
 *     journaled superblock) is judged clean by fsck before replay;
 *   - a rename failing at any one of its I/O requests leaves, after a
 *     remount, the state before or after it (one name), fsck clean; the
 *     same consistency for unlink, create, mkdir, rmdir, link, directory
 *     rename, truncate, append and unlink-while-open (cold caches, so the
 *     operations read from the device);
 *   - the emulated device failing its Nth I/O request, for every N of a
 *     small workload (fresh volume, and a populated volume with tiny
 *     caches): operations return negative errnos, nothing crashes, and
 *     after unmount, power cut and remount fsck is clean.
 *
 * Environment: ANK_POWERCUT_FULL=1 tests every boundary of bigger workloads
 * with all three cut modes; ANK_POWERCUT_MAX (cuts per workload, default
 * 240); ANK_POWERCUT_CUT=k with ANK_POWERCUT_MODE=0|2|3 and
 * ANK_POWERCUT_SEED=s reruns one cut of every workload.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/format.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"
#include "../src/util/common.h"

#define BS ANK_BLOCK_SIZE
#define NBLK 8192u /* 32 MiB volumes */
#define MPATH 96
#define WBUF (1u << 20) /* largest write of a workload */
#define NHANDLES 16
#define MAX_REPORTS 6 /* failure details printed per test */

/* ---- configuration and helpers ------------------------------------------- */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	if (!s || !*s)
		return def;
	return strtoul(s, NULL, 0);
}

static bool full_run(void)
{
	return env_ul("ANK_POWERCUT_FULL", 0) != 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rndu(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rnd(s) % n) : 0;
}

/* Deterministic bytes from a seed. */
static void gen(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(&s);

		memcpy(p + i, &v, ANK_MIN((size_t)8, n - i));
	}
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool is_errno(long rc)
{
	return rc < 0 && rc >= -4095;
}

static const char *mode_name(enum emu_cut_mode m)
{
	switch (m) {
	case EMU_CUT_DROP_ALL: return "drop-all";
	case EMU_CUT_KEEP_ALL: return "keep-all";
	case EMU_CUT_RANDOM: return "random";
	case EMU_CUT_PREFIX: return "prefix";
	}
	return "?";
}

/* fsck in check mode; on failure and while reports are left, run it again
 * printing its problem lines. */
static int check_fsck(struct bdev *dev, bool print)
{
	struct fsck_options o = { .repair = false, .quiet = true, .out = NULL };
	int rc = fsck_run(dev, &o, NULL);

	if (rc != 0 && print) {
		o.out = stderr;
		(void)fsck_run(dev, &o, NULL);
	}
	return rc;
}

/* ---- arena: every model allocation of one trial ------------------------- */

struct arena {
	void **p;
	size_t n, cap;
};

static void *ar_alloc(struct arena *a, size_t n)
{
	void *x = calloc(1, n ? n : 1);

	assert_non_null(x);
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->p = realloc(a->p, a->cap * sizeof(*a->p));
		assert_non_null(a->p);
	}
	a->p[a->n++] = x;
	return x;
}

static void ar_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
	memset(a, 0, sizeof(*a));
}

/* ---- the model ------------------------------------------------------------- */

/* An immutable file content: blocks shared between versions (NULL = zeros;
 * bytes past size inside the last block are zero). */
struct ver {
	uint64_t size;
	uint32_t nblk;
	const uint8_t **blk;
};

static const struct ver empty_ver = { 0, 0, NULL };

struct ment {
	char path[MPATH];
	uint32_t id;
	bool dir;
	const struct ver *v; /* files: content in this state */
};

struct mobj {
	bool dir;
	const struct ver *v;
	uint32_t last_mod; /* newest state that changed it or its entry */
};

struct mstate {
	const struct ment *e; /* sorted by path */
	uint32_t n;
};

struct model {
	struct arena ar;
	struct ment *ns; /* current namespace (root excluded), sorted */
	uint32_t nns, capns;
	struct mobj *obj; /* by id; id 0 is the root */
	uint32_t nobj, capobj;
	struct mstate *hist; /* hist[i]: state after the i-th change */
	uint32_t nhist, caphist;
	uint32_t durable; /* recovery must reach at least hist[durable] */
};

static int ment_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ment *)a)->path, ((const struct ment *)b)->path);
}

static uint32_t m_snap(struct model *m)
{
	struct ment *e = ar_alloc(&m->ar, (m->nns ? m->nns : 1) * sizeof(*e));

	for (uint32_t i = 0; i < m->nns; i++) {
		e[i] = m->ns[i];
		e[i].v = m->obj[e[i].id].v;
	}
	if (m->nhist == m->caphist) {
		m->caphist = m->caphist ? m->caphist * 2 : 256;
		m->hist = realloc(m->hist, m->caphist * sizeof(*m->hist));
		assert_non_null(m->hist);
	}
	m->hist[m->nhist] = (struct mstate){ e, m->nns };
	return m->nhist++;
}

static void m_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->capobj = 64;
	m->obj = calloc(m->capobj, sizeof(*m->obj));
	assert_non_null(m->obj);
	m->obj[0] = (struct mobj){ .dir = true, .v = &empty_ver };
	m->nobj = 1;
	(void)m_snap(m);
}

static void m_free(struct model *m)
{
	ar_free(&m->ar);
	free(m->ns);
	free(m->obj);
	free(m->hist);
	memset(m, 0, sizeof(*m));
}

static int m_find(const struct model *m, const char *path)
{
	for (uint32_t i = 0; i < m->nns; i++)
		if (strcmp(m->ns[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* Id of the directory holding path (0: the root). */
static uint32_t m_parent(const struct model *m, const char *path)
{
	char p[MPATH];
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	slash = strrchr(p, '/');
	if (!slash || slash == p)
		return 0;
	*slash = 0;
	int i = m_find(m, p);

	assert_true(i >= 0);
	return m->ns[i].id;
}

static uint32_t m_id(const struct model *m, const char *path)
{
	if (strcmp(path, "/") == 0)
		return 0;
	int i = m_find(m, path);

	assert_true(i >= 0);
	return m->ns[i].id;
}

/* Has directory `dir` any entry in the current namespace? */
static bool m_has_children(const struct model *m, const char *dir)
{
	size_t l = strlen(dir);

	for (uint32_t i = 0; i < m->nns; i++)
		if (strncmp(m->ns[i].path, dir, l) == 0 && m->ns[i].path[l] == '/')
			return true;
	return false;
}

static void m_touch(struct model *m, uint32_t id, uint32_t st)
{
	m->obj[id].last_mod = st;
}

static uint32_t m_create(struct model *m, const char *path, bool dir)
{
	uint32_t parent = m_parent(m, path);

	assert_true(m_find(m, path) < 0);
	assert_true(strlen(path) < MPATH);
	if (m->nobj == m->capobj) {
		m->capobj *= 2;
		m->obj = realloc(m->obj, m->capobj * sizeof(*m->obj));
		assert_non_null(m->obj);
	}
	uint32_t id = m->nobj++;

	m->obj[id] = (struct mobj){ .dir = dir, .v = &empty_ver };
	if (m->nns == m->capns) {
		m->capns = m->capns ? m->capns * 2 : 64;
		m->ns = realloc(m->ns, m->capns * sizeof(*m->ns));
		assert_non_null(m->ns);
	}
	struct ment *e = &m->ns[m->nns++];

	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->id = id;
	e->dir = dir;
	qsort(m->ns, m->nns, sizeof(*m->ns), ment_cmp);
	uint32_t st = m_snap(m);

	m_touch(m, id, st);
	m_touch(m, parent, st);
	return id;
}

static void m_write(struct model *m, uint32_t id, uint64_t off, const uint8_t *data, size_t len)
{
	const struct ver *old = m->obj[id].v;
	uint64_t end = off + len;
	uint64_t size = ANK_MAX(old->size, end);
	struct ver *v = ar_alloc(&m->ar, sizeof(*v));

	v->size = size;
	v->nblk = (uint32_t)ANK_DIV_ROUND_UP(size, (uint64_t)BS);
	v->blk = ar_alloc(&m->ar, (v->nblk ? v->nblk : 1) * sizeof(*v->blk));
	if (old->nblk)
		memcpy(v->blk, old->blk, old->nblk * sizeof(*v->blk));
	for (uint64_t b = off / BS; len && b < ANK_DIV_ROUND_UP(end, (uint64_t)BS); b++) {
		uint8_t *nb = ar_alloc(&m->ar, BS);
		uint64_t s = ANK_MAX(off, b * BS), e = ANK_MIN(end, (b + 1) * BS);

		if (b < old->nblk && old->blk[b])
			memcpy(nb, old->blk[b], BS);
		memcpy(nb + (s - b * BS), data + (s - off), e - s);
		v->blk[b] = nb;
	}
	m->obj[id].v = v;
	m_touch(m, id, m_snap(m));
}

static void m_truncate(struct model *m, uint32_t id, uint64_t len)
{
	const struct ver *old = m->obj[id].v;
	struct ver *v = ar_alloc(&m->ar, sizeof(*v));

	v->size = len;
	v->nblk = (uint32_t)ANK_DIV_ROUND_UP(len, (uint64_t)BS);
	v->blk = ar_alloc(&m->ar, (v->nblk ? v->nblk : 1) * sizeof(*v->blk));
	if (ANK_MIN(v->nblk, old->nblk))
		memcpy(v->blk, old->blk, ANK_MIN(v->nblk, old->nblk) * sizeof(*v->blk));
	if (len < old->size && len % BS && len / BS < old->nblk && old->blk[len / BS]) {
		uint8_t *nb = ar_alloc(&m->ar, BS);

		memcpy(nb, old->blk[len / BS], len % BS);
		v->blk[len / BS] = nb;
	}
	m->obj[id].v = v;
	m_touch(m, id, m_snap(m));
}

static void m_unlink(struct model *m, const char *path)
{
	int i = m_find(m, path);
	uint32_t parent = m_parent(m, path);

	assert_true(i >= 0);
	uint32_t id = m->ns[i].id;

	memmove(&m->ns[i], &m->ns[i + 1], (m->nns - (uint32_t)i - 1) * sizeof(*m->ns));
	m->nns--;
	uint32_t st = m_snap(m);

	m_touch(m, id, st);
	m_touch(m, parent, st);
}

static void m_rename(struct model *m, const char *from, const char *to)
{
	char f[MPATH];
	size_t fl = strlen(from);
	int si = m_find(m, from), di = m_find(m, to);
	uint32_t pfrom = m_parent(m, from), pto = m_parent(m, to), replaced = 0;

	assert_true(si >= 0);
	uint32_t id = m->ns[si].id;

	snprintf(f, sizeof(f), "%s", from);
	if (di >= 0) {
		replaced = m->ns[di].id;
		memmove(&m->ns[di], &m->ns[di + 1], (m->nns - (uint32_t)di - 1) * sizeof(*m->ns));
		m->nns--;
	}
	for (uint32_t i = 0; i < m->nns; i++) {
		char *p = m->ns[i].path;

		if (strcmp(p, f) == 0) {
			snprintf(p, MPATH, "%s", to);
		} else if (strncmp(p, f, fl) == 0 && p[fl] == '/') {
			char tmp[MPATH];

			assert_true(strlen(to) + strlen(p + fl) < MPATH);
			snprintf(tmp, sizeof(tmp), "%s%s", to, p + fl);
			memcpy(p, tmp, MPATH);
		}
	}
	qsort(m->ns, m->nns, sizeof(*m->ns), ment_cmp);
	uint32_t st = m_snap(m);

	m_touch(m, id, st);
	m_touch(m, pfrom, st);
	m_touch(m, pto, st);
	if (replaced)
		m_touch(m, replaced, st);
}

static void m_durable(struct model *m, uint32_t st)
{
	if (st > m->durable)
		m->durable = st;
}

/* ---- workload operations: run on the fs, mirror in the model -------------- */

struct wh {
	int fd;
	uint32_t id;
};

struct wl {
	struct fs *fs;
	struct fs_client *c;
	struct model *m;
	bool dry;        /* no cut armed: every operation must succeed */
	bool keep_going; /* fail-Nth runs: continue after errors */
	bool stopped;    /* an operation failed after the cut */
	char err[400];   /* a real failure of the trial */
	uint64_t rng;
	uint8_t *buf;
	struct wh h[NHANDLES];
	unsigned ops;
	unsigned failed_ops;
};

static bool w_fail(struct wl *w, const char *op, const char *path, long rc)
{
	w->failed_ops++;
	if (w->dry && !w->keep_going) {
		if (!w->err[0])
			snprintf(w->err, sizeof(w->err),
				 "%s %s returned %ld with no fault injected", op, path, rc);
	} else if (rc < 0 && !is_errno(rc)) {
		if (!w->err[0])
			snprintf(w->err, sizeof(w->err), "%s %s returned %ld, not a negative errno",
				 op, path, rc);
	}
	if (!w->keep_going)
		w->stopped = true;
	return false;
}

static bool w_go(struct wl *w)
{
	w->ops++;
	return !w->stopped;
}

static bool w_mkdir(struct wl *w, const char *p)
{
	if (!w_go(w))
		return false;
	int rc = fs_mkdir(w->c, p, 0755);

	if (rc != 0)
		return w_fail(w, "mkdir", p, rc);
	if (w->m)
		m_create(w->m, p, true);
	return true;
}

static bool w_rmdir(struct wl *w, const char *p)
{
	if (!w_go(w))
		return false;
	int rc = fs_rmdir(w->c, p);

	if (rc != 0)
		return w_fail(w, "rmdir", p, rc);
	if (w->m)
		m_unlink(w->m, p);
	return true;
}

static bool w_create(struct wl *w, const char *p, struct wh *h)
{
	h->fd = -1;
	if (!w_go(w))
		return false;
	int fd = fs_open(w->c, p, O_CREAT | O_EXCL | O_RDWR, 0644);

	if (fd < 0)
		return w_fail(w, "create", p, fd);
	h->fd = fd;
	h->id = w->m ? m_create(w->m, p, false) : 0;
	return true;
}

/* Open an existing file (flags may hold O_TRUNC). */
static bool w_open(struct wl *w, const char *p, int flags, struct wh *h)
{
	h->fd = -1;
	if (!w_go(w))
		return false;
	int fd = fs_open(w->c, p, flags, 0);

	if (fd < 0)
		return w_fail(w, "open", p, fd);
	h->fd = fd;
	h->id = w->m ? m_id(w->m, p) : 0;
	if ((flags & O_TRUNC) && w->m)
		m_truncate(w->m, h->id, 0);
	return true;
}

static bool w_pwrite(struct wl *w, struct wh *h, uint64_t off, size_t len)
{
	if (!w_go(w))
		return false;
	assert_true(len <= WBUF);
	gen(w->buf, len, rnd(&w->rng));
	ssize_t rc = fs_pwrite(w->c, h->fd, w->buf, len, (off_t)off);

	if (rc != (ssize_t)len)
		return w_fail(w, "pwrite", "", rc);
	if (w->m)
		m_write(w->m, h->id, off, w->buf, len);
	return true;
}

static bool w_append(struct wl *w, struct wh *h, size_t len)
{
	struct stat st;

	if (w->m)
		return w_pwrite(w, h, w->m->obj[h->id].v->size, len);
	if (fs_fstat(w->c, h->fd, &st) != 0)
		return false;
	return w_pwrite(w, h, (uint64_t)st.st_size, len);
}

static bool w_ftruncate(struct wl *w, struct wh *h, uint64_t len)
{
	if (!w_go(w))
		return false;
	int rc = fs_ftruncate(w->c, h->fd, (off_t)len);

	if (rc != 0)
		return w_fail(w, "ftruncate", "", rc);
	if (w->m)
		m_truncate(w->m, h->id, len);
	return true;
}

static bool w_truncate_path(struct wl *w, const char *p, uint64_t len)
{
	if (!w_go(w))
		return false;
	int rc = fs_truncate(w->c, p, (off_t)len);

	if (rc != 0)
		return w_fail(w, "truncate", p, rc);
	if (w->m)
		m_truncate(w->m, m_id(w->m, p), len);
	return true;
}

static bool w_fsync(struct wl *w, struct wh *h)
{
	if (!w_go(w))
		return false;
	int rc = fs_fsync(w->c, h->fd);

	if (rc != 0)
		return w_fail(w, "fsync", "", rc);
	if (w->m)
		m_durable(w->m, w->m->obj[h->id].last_mod);
	return true;
}

static bool w_close(struct wl *w, struct wh *h)
{
	if (!w_go(w))
		return false;
	int rc = fs_close(w->c, h->fd);

	h->fd = -1;
	if (rc != 0)
		return w_fail(w, "close", "", rc);
	return true;
}

/* fsync of a directory, or of a file opened read-only by path. */
static bool w_fsync_path(struct wl *w, const char *p)
{
	if (!w_go(w))
		return false;
	struct stat st;
	uint32_t id = w->m ? m_id(w->m, p) : 0;
	bool dir = w->m ? w->m->obj[id].dir : fs_stat(w->c, p, &st) == 0 && S_ISDIR(st.st_mode);
	int fd = fs_open(w->c, p, O_RDONLY | (dir ? O_DIRECTORY : 0), 0);

	if (fd < 0)
		return w_fail(w, "open for fsync", p, fd);
	int rc = fs_fsync(w->c, fd);
	int rc2 = fs_close(w->c, fd);

	if (rc != 0)
		return w_fail(w, "fsync", p, rc);
	if (rc2 != 0)
		return w_fail(w, "close", p, rc2);
	if (w->m)
		m_durable(w->m, w->m->obj[id].last_mod);
	return true;
}

static bool w_sync(struct wl *w)
{
	if (!w_go(w))
		return false;
	int rc = fs_sync(w->fs);

	if (rc != 0)
		return w_fail(w, "sync", "", rc);
	if (w->m)
		m_durable(w->m, w->m->nhist - 1);
	return true;
}

static bool w_rename(struct wl *w, const char *from, const char *to)
{
	if (!w_go(w))
		return false;
	int rc = fs_rename(w->c, from, to);

	if (rc != 0)
		return w_fail(w, "rename", from, rc);
	if (w->m)
		m_rename(w->m, from, to);
	return true;
}

static bool w_unlink(struct wl *w, const char *p)
{
	if (!w_go(w))
		return false;
	int rc = fs_unlink(w->c, p);

	if (rc != 0)
		return w_fail(w, "unlink", p, rc);
	if (w->m)
		m_unlink(w->m, p);
	return true;
}

/* Create path with len random bytes, optionally fsync, close. */
static bool w_file(struct wl *w, const char *p, size_t len, bool fsync)
{
	struct wh h;

	if (!w_create(w, p, &h))
		return false;
	if (len && !w_pwrite(w, &h, 0, len))
		return false;
	if (fsync && !w_fsync(w, &h))
		return false;
	return w_close(w, &h);
}

/* Pick the k-th current namespace entry that is a dir (or file) and passes
 * the filter; -1 when there is none. The root counts as a directory and is
 * returned as index -2. */
static int m_pick(const struct model *m, uint64_t *rng, bool dir, bool with_root,
		  bool (*ok)(const struct model *, int, const void *), const void *arg)
{
	uint32_t n = 0;

	if (dir && with_root && (!ok || ok(m, -2, arg)))
		n++;
	for (uint32_t i = 0; i < m->nns; i++)
		if (m->ns[i].dir == dir && (!ok || ok(m, (int)i, arg)))
			n++;
	if (!n)
		return -1;
	uint32_t k = rndu(rng, n);

	if (dir && with_root && (!ok || ok(m, -2, arg))) {
		if (k == 0)
			return -2;
		k--;
	}
	for (uint32_t i = 0; i < m->nns; i++)
		if (m->ns[i].dir == dir && (!ok || ok(m, (int)i, arg)) && k-- == 0)
			return (int)i;
	return -1;
}

static const char *m_path(const struct model *m, int i)
{
	return i == -2 ? "" : m->ns[i].path;
}

/* Path depth: number of components. */
static int depth_of(const char *p)
{
	int d = 0;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* ---- the workloads ----------------------------------------------------------- */

static unsigned scale(unsigned normal, unsigned full)
{
	return full_run() ? full : normal;
}

/* Many small files in a few directories; every fifth file fsync'd, every
 * twentieth a directory fsync. */
static void wl_create_heavy(struct wl *w)
{
	unsigned n = scale(90, 240);
	char p[MPATH];

	for (unsigned d = 0; d < 4; d++) {
		snprintf(p, sizeof(p), "/d%u", d);
		if (!w_mkdir(w, p))
			return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct wh h;
		size_t len = 1 + rndu(&w->rng, 9000);

		snprintf(p, sizeof(p), "/d%u/f%03u", i % 4, i);
		if (!w_create(w, p, &h))
			return;
		if (len > 4000 && rndu(&w->rng, 2)) {
			if (!w_pwrite(w, &h, 0, len / 2) ||
			    !w_pwrite(w, &h, len / 2, len - len / 2))
				return;
		} else if (!w_pwrite(w, &h, 0, len)) {
			return;
		}
		if (i % 5 == 0 && !w_fsync(w, &h))
			return;
		if (!w_close(w, &h))
			return;
		if (i % 20 == 19) {
			snprintf(p, sizeof(p), "/d%u", i % 4);
			if (!w_fsync_path(w, p))
				return;
		}
	}
}

static void setup_rename(struct wl *w)
{
	const char *dirs[] = { "/a", "/b", "/c", "/a/sub" };
	char p[MPATH];

	for (unsigned i = 0; i < 4; i++)
		if (!w_mkdir(w, dirs[i]))
			return;
	for (unsigned i = 0; i < 28; i++) {
		snprintf(p, sizeof(p), "%s/f%02u", dirs[i % 4], i);
		if (!w_file(w, p, 1 + rndu(&w->rng, 6000), false))
			return;
	}
	(void)w_sync(w);
}

static bool not_under(const struct model *m, int i, const void *arg)
{
	const char *src = arg;
	const char *p = m_path(m, i);
	size_t l = strlen(src);

	return !(strncmp(p, src, l) == 0 && (p[l] == '/' || p[l] == 0)) && depth_of(p) < 4;
}

static bool file_in_dir(const struct model *m, int i, const void *arg)
{
	const char *dir = arg;
	const char *p = m->ns[i].path;
	size_t l = strlen(dir);

	return strncmp(p, dir, l) == 0 && p[l] == '/' && !strchr(p + l + 1, '/');
}

/* Renames of files within and across directories (some over existing
 * files), directory moves, fsync of the renamed file or of directories,
 * and the write-fsync-rename-over pattern. */
static void wl_rename_heavy(struct wl *w)
{
	unsigned n = scale(100, 300);
	char to[2 * MPATH], from[2 * MPATH], tmp[2 * MPATH];

	for (unsigned i = 0; i < n; i++) {
		uint32_t r = rndu(&w->rng, 10);

		if (r < 6) {
			int f = m_pick(w->m, &w->rng, false, false, NULL, NULL);
			int d = m_pick(w->m, &w->rng, true, true, NULL, NULL);

			if (f < 0)
				continue;
			snprintf(from, sizeof(from), "%s", w->m->ns[f].path);
			char dir[MPATH];

			snprintf(dir, sizeof(dir), "%s", m_path(w->m, d));
			int t = rndu(&w->rng, 4) == 0
					? m_pick(w->m, &w->rng, false, false, file_in_dir, dir)
					: -1;

			if (t >= 0 && strcmp(w->m->ns[t].path, from) != 0)
				snprintf(to, sizeof(to), "%s", w->m->ns[t].path);
			else
				snprintf(to, sizeof(to), "%s/r%03u", dir, i);
			if (!w_rename(w, from, to))
				return;
			if (i % 3 == 0 && !w_fsync_path(w, to))
				return;
		} else if (r < 7) {
			int d = m_pick(w->m, &w->rng, true, false, NULL, NULL);

			if (d < 0)
				continue;
			snprintf(from, sizeof(from), "%s", w->m->ns[d].path);
			int p = m_pick(w->m, &w->rng, true, true, not_under, from);

			if (p == -1)
				continue;
			snprintf(to, sizeof(to), "%s/s%03u", m_path(w->m, p), i);
			if (!w_rename(w, from, to))
				return;
			if (rndu(&w->rng, 2) && !w_fsync_path(w, to))
				return;
		} else if (r < 8) {
			int d = m_pick(w->m, &w->rng, true, true, NULL, NULL);

			if (!w_fsync_path(w, d == -2 ? "/" : w->m->ns[d].path))
				return;
		} else {
			int d = m_pick(w->m, &w->rng, true, true, NULL, NULL);
			char dir[MPATH];

			snprintf(dir, sizeof(dir), "%s", m_path(w->m, d));
			int t = m_pick(w->m, &w->rng, false, false, file_in_dir, dir);

			snprintf(tmp, sizeof(tmp), "%s/tmp%03u", dir, i);
			if (t >= 0)
				snprintf(to, sizeof(to), "%s", w->m->ns[t].path);
			else
				snprintf(to, sizeof(to), "%s/n%03u", dir, i);
			if (!w_file(w, tmp, 1 + rndu(&w->rng, 7000), true) ||
			    !w_rename(w, tmp, to) || !w_fsync_path(w, d == -2 ? "/" : dir))
				return;
		}
	}
}

/* One log file appended in 100-byte to 8 KiB records, fsync after each. */
static void wl_append_fsync(struct wl *w)
{
	unsigned n = scale(60, 200);

	if (!w_create(w, "/log", &w->h[0]))
		return;
	for (unsigned i = 0; i < n; i++)
		if (!w_append(w, &w->h[0], 100 + rndu(&w->rng, 8192 - 100 + 1)) ||
		    !w_fsync(w, &w->h[0]))
			return;
	(void)w_close(w, &w->h[0]);
}

#define BIG_SIZE (2u << 20)
#define BIG_CHUNK (64u << 10)

static void setup_overwrite(struct wl *w)
{
	if (!w_create(w, "/big", &w->h[0]))
		return;
	for (unsigned c = 0; c < BIG_SIZE / BIG_CHUNK; c++)
		if (!w_pwrite(w, &w->h[0], (uint64_t)c * BIG_CHUNK, BIG_CHUNK))
			return;
	if (!w_fsync(w, &w->h[0]))
		return;
	(void)w_sync(w);
}

/* A fsync'd 2 MiB file overwritten in place in 64 KiB pwrites (random
 * order), fsync after every second one. */
static void wl_overwrite(struct wl *w)
{
	unsigned n = BIG_SIZE / BIG_CHUNK, perm[BIG_SIZE / BIG_CHUNK];
	unsigned rounds = scale(1, 2);

	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 0; i < n; i++)
			perm[i] = i;
		for (unsigned i = n - 1; i > 0; i--) {
			unsigned j = rndu(&w->rng, i + 1), t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
		for (unsigned i = 0; i < n; i++) {
			if (!w_pwrite(w, &w->h[0], (uint64_t)perm[i] * BIG_CHUNK, BIG_CHUNK))
				return;
			if (i % 2 == 1 && !w_fsync(w, &w->h[0]))
				return;
		}
	}
	(void)w_close(w, &w->h[0]);
}

static bool is_file_any(const struct model *m, int i, const void *arg)
{
	(void)m;
	(void)i;
	(void)arg;
	return true;
}

/* Files created, fsync'd, truncated (shorter, O_TRUNC, longer), unlinked,
 * unlinked while open and still written and fsync'd through the open fd. */
static void wl_unlink_truncate(struct wl *w)
{
	unsigned n = scale(70, 200);
	unsigned nheld = 0;
	struct wh *held = &w->h[1];
	char p[2 * MPATH];

	if (!w_mkdir(w, "/t"))
		return;
	for (unsigned i = 0; i < n; i++) {
		uint32_t op = rndu(&w->rng, 8);
		int f = m_pick(w->m, &w->rng, false, false, is_file_any, NULL);
		struct wh h;

		if (f < 0 && op >= 2 && op <= 6)
			op = 0;
		switch (op) {
		case 0:
		case 1:
			snprintf(p, sizeof(p), "%s/u%03u", rndu(&w->rng, 2) ? "/t" : "", i);
			if (!w_file(w, p, rndu(&w->rng, 20000), rndu(&w->rng, 2)))
				return;
			break;
		case 2: {
			snprintf(p, sizeof(p), "%s", w->m->ns[f].path);
			uint64_t size = w->m->obj[w->m->ns[f].id].v->size;
			uint64_t len = rndu(&w->rng, 4) == 0 ? size + rndu(&w->rng, 9000)
							     : rndu(&w->rng, (uint32_t)size + 1);

			if (!w_open(w, p, O_WRONLY, &h) || !w_ftruncate(w, &h, len))
				return;
			if (rndu(&w->rng, 2) && !w_fsync(w, &h))
				return;
			if (!w_close(w, &h))
				return;
			break;
		}
		case 3:
			snprintf(p, sizeof(p), "%s", w->m->ns[f].path);
			if (!w_unlink(w, p))
				return;
			break;
		case 4:
			snprintf(p, sizeof(p), "%s", w->m->ns[f].path);
			if (nheld == NHANDLES - 1) {
				if (!w_close(w, &held[0]))
					return;
				memmove(&held[0], &held[1], (--nheld) * sizeof(*held));
			}
			if (!w_open(w, p, O_RDWR, &held[nheld]))
				return;
			nheld++;
			if (!w_unlink(w, p) ||
			    !w_append(w, &held[nheld - 1], 1 + rndu(&w->rng, 8000)) ||
			    !w_fsync(w, &held[nheld - 1]))
				return;
			break;
		case 5:
			snprintf(p, sizeof(p), "%s", w->m->ns[f].path);
			if (!w_open(w, p, O_RDWR | O_TRUNC, &h) ||
			    !w_pwrite(w, &h, 0, 1 + rndu(&w->rng, 10000)) || !w_fsync(w, &h) ||
			    !w_close(w, &h))
				return;
			break;
		case 6:
			snprintf(p, sizeof(p), "%s", w->m->ns[f].path);
			if (!w_open(w, p, O_RDWR, &h) ||
			    !w_append(w, &h, 1 + rndu(&w->rng, 6000)) || !w_fsync(w, &h) ||
			    !w_close(w, &h))
				return;
			break;
		default:
			if (nheld) {
				if (!w_close(w, &held[0]))
					return;
				memmove(&held[0], &held[1], (--nheld) * sizeof(*held));
			} else if (!w_sync(w)) {
				return;
			}
			break;
		}
	}
	/* The files still held open are closed by the client's destruction. */
}

static bool dir_shallow(const struct model *m, int i, const void *arg)
{
	(void)arg;
	return depth_of(m_path(m, i)) < 4;
}

static bool dir_empty(const struct model *m, int i, const void *arg)
{
	(void)arg;
	return i >= 0 && !m_has_children(m, m->ns[i].path);
}

/* A directory tree grown and pruned: mkdir, rmdir of empty directories,
 * files created and unlinked, directory moves, directory fsyncs. */
static void wl_tree(struct wl *w)
{
	unsigned n = scale(110, 300);
	char p[2 * MPATH], from[2 * MPATH];

	for (unsigned i = 0; i < n; i++) {
		uint32_t op = rndu(&w->rng, 9);
		int d;

		switch (op) {
		case 0:
		case 1:
		case 2:
			d = m_pick(w->m, &w->rng, true, true, dir_shallow, NULL);
			snprintf(p, sizeof(p), "%s/n%03u", m_path(w->m, d), i);
			if (!w_mkdir(w, p))
				return;
			break;
		case 3:
			d = m_pick(w->m, &w->rng, true, false, dir_empty, NULL);
			if (d >= 0) {
				snprintf(p, sizeof(p), "%s", w->m->ns[d].path);
				if (!w_rmdir(w, p))
					return;
			}
			break;
		case 4:
			d = m_pick(w->m, &w->rng, true, true, NULL, NULL);
			snprintf(p, sizeof(p), "%s/g%03u", m_path(w->m, d), i);
			if (!w_file(w, p, rndu(&w->rng, 3000), false))
				return;
			break;
		case 5:
			d = m_pick(w->m, &w->rng, false, false, NULL, NULL);
			if (d >= 0) {
				snprintf(p, sizeof(p), "%s", w->m->ns[d].path);
				if (!w_unlink(w, p))
					return;
			}
			break;
		case 6: {
			d = m_pick(w->m, &w->rng, true, false, NULL, NULL);
			if (d < 0)
				break;
			snprintf(from, sizeof(from), "%s", w->m->ns[d].path);
			int t = m_pick(w->m, &w->rng, true, true, not_under, from);

			if (t == -1)
				break;
			snprintf(p, sizeof(p), "%s/m%03u", m_path(w->m, t), i);
			if (!w_rename(w, from, p))
				return;
			break;
		}
		case 7:
			d = m_pick(w->m, &w->rng, true, true, NULL, NULL);
			if (!w_fsync_path(w, d == -2 ? "/" : w->m->ns[d].path))
				return;
			break;
		default:
			if (i % 3 == 0 && !w_sync(w))
				return;
			break;
		}
	}
}

/* ---- reading the recovered tree ------------------------------------------ */

struct rent {
	char path[MPATH];
	bool dir;
	uint64_t size;
	uint8_t *data;
};

struct rtree {
	struct rent *e;
	uint32_t n, cap;
};

static void rtree_free(struct rtree *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->e[i].data);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int rent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rent *)a)->path, ((const struct rent *)b)->path);
}

static int read_file(struct fs_client *c, const char *path, struct rent *r, char *why, size_t wn)
{
	struct stat st;
	int fd = fs_open(c, path, O_RDONLY, 0);

	if (fd < 0) {
		snprintf(why, wn, "open %s: %d", path, fd);
		return fd;
	}
	int rc = fs_fstat(c, fd, &st);

	if (rc == 0) {
		r->size = (uint64_t)st.st_size;
		r->data = malloc(r->size ? r->size : 1);
		assert_non_null(r->data);
		uint64_t got = 0;

		while (got < r->size) {
			ssize_t n = fs_pread(c, fd, r->data + got,
					     ANK_MIN(r->size - got, (uint64_t)WBUF), (off_t)got);

			if (n <= 0) {
				snprintf(why, wn, "read %s at %llu: %zd", path,
					 (unsigned long long)got, n);
				rc = n < 0 ? (int)n : -EIO;
				break;
			}
			got += (uint64_t)n;
		}
	} else {
		snprintf(why, wn, "fstat %s: %d", path, rc);
	}
	fs_close(c, fd);
	return rc;
}

static int walk_dir(struct fs_client *c, const char *dir, struct rtree *t, char *why, size_t wn,
		    int depth)
{
	enum { BATCH = 32 };
	struct fs_dirent *ents = malloc(BATCH * sizeof(*ents));
	int fd, rc = 0;

	assert_non_null(ents);
	if (depth > 16) {
		snprintf(why, wn, "tree deeper than 16 at %s", dir);
		free(ents);
		return -ELOOP;
	}
	fd = fs_open(c, *dir ? dir : "/", O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		snprintf(why, wn, "opendir %s: %d", dir, fd);
		free(ents);
		return fd;
	}
	for (;;) {
		int n = fs_readdir(c, fd, ents, BATCH);

		if (n < 0) {
			snprintf(why, wn, "readdir %s: %d", dir, n);
			rc = n;
			break;
		}
		if (n == 0)
			break;
		for (int i = 0; i < n && rc == 0; i++) {
			struct stat st;
			char p[MPATH];
			size_t dl = strlen(dir), nl = strlen(ents[i].name);

			if (!strcmp(ents[i].name, ".") || !strcmp(ents[i].name, ".."))
				continue;
			if (dl + 1 + nl >= MPATH) {
				snprintf(why, wn, "unexpected long name in %s", dir);
				rc = -ENAMETOOLONG;
				break;
			}
			memcpy(p, dir, dl);
			p[dl] = '/';
			memcpy(p + dl + 1, ents[i].name, nl + 1);
			rc = fs_stat(c, p, &st);
			if (rc < 0) {
				snprintf(why, wn, "stat %s: %d", p, rc);
				break;
			}
			if (t->n == t->cap) {
				t->cap = t->cap ? t->cap * 2 : 64;
				t->e = realloc(t->e, t->cap * sizeof(*t->e));
				assert_non_null(t->e);
			}
			struct rent *r = &t->e[t->n++];

			memset(r, 0, sizeof(*r));
			memcpy(r->path, p, sizeof(r->path));
			r->dir = S_ISDIR(st.st_mode);
			if ((ents[i].type == DT_DIR) != r->dir) {
				snprintf(why, wn, "%s: readdir type %u, stat mode %o", p,
					 ents[i].type, (unsigned)st.st_mode);
				rc = -EUCLEAN;
			} else if (r->dir) {
				rc = walk_dir(c, p, t, why, wn, depth + 1);
			} else {
				rc = read_file(c, p, r, why, wn);
			}
		}
		if (rc)
			break;
	}
	fs_close(c, fd);
	free(ents);
	return rc;
}

/* ---- comparing the recovered tree with the model --------------------------- */

static bool block_is(const uint8_t *got, size_t len, const struct ver *v, uint64_t b)
{
	const uint8_t *exp = b < v->nblk ? v->blk[b] : NULL;

	return exp ? memcmp(got, exp, len) == 0 : is_zero(got, len);
}

static const struct ment *state_find_id(const struct mstate *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->e[i].id == id)
			return &s->e[i];
	return NULL;
}

/* Does the recovered tree equal hist[j] (with newer in-place data allowed)? */
static bool state_matches(const struct model *m, uint32_t j, const struct rtree *t, char *why,
			  size_t wn, unsigned *newer)
{
	const struct mstate *s = &m->hist[j];
	uint32_t n = ANK_MIN(s->n, t->n);

	for (uint32_t i = 0; i < n; i++) {
		const struct ment *e = &s->e[i];
		const struct rent *r = &t->e[i];

		if (strcmp(e->path, r->path) != 0) {
			snprintf(why, wn, "expected %s, found %s", e->path, r->path);
			return false;
		}
		if (e->dir != r->dir) {
			snprintf(why, wn, "%s: type differs", e->path);
			return false;
		}
		if (e->dir)
			continue;
		if (e->v->size != r->size) {
			snprintf(why, wn, "%s: size %llu, expected %llu", e->path,
				 (unsigned long long)r->size, (unsigned long long)e->v->size);
			return false;
		}
		for (uint64_t b = 0; b * BS < r->size; b++) {
			size_t len = (size_t)ANK_MIN((uint64_t)BS, r->size - b * BS);
			const uint8_t *got = r->data + b * BS;
			bool ok = block_is(got, len, e->v, b);

			for (uint32_t k = j + 1; !ok && k < m->nhist; k++) {
				const struct ment *later = state_find_id(&m->hist[k], e->id);

				if (later && block_is(got, len, later->v, b)) {
					ok = true;
					(*newer)++;
				}
			}
			if (!ok) {
				snprintf(why, wn,
					 "%s: block %llu holds data of no state at or after "
					 "this one",
					 e->path, (unsigned long long)b);
				return false;
			}
		}
	}
	if (s->n != t->n) {
		snprintf(why, wn, "%u entries, expected %u (first extra: %s)", t->n, s->n,
			 s->n > t->n ? s->e[n].path : t->e[n].path);
		return false;
	}
	return true;
}

/* 0 when the tree equals a state at or after the durable one. */
static int verify_tree(const struct model *m, const struct rtree *t, char *why, size_t wn,
		       uint32_t *matched, unsigned *newer)
{
	char tmp[300];
	unsigned dummy = 0;

	for (uint32_t j = m->nhist; j-- > 0;) {
		*newer = 0;
		if (state_matches(m, j, t, tmp, sizeof(tmp), newer)) {
			*matched = j;
			if (j >= m->durable)
				return 0;
			(void)state_matches(m, m->durable, t, tmp, sizeof(tmp), &dummy);
			snprintf(why, wn,
				 "durability: recovered state is state %u of %u, but an fsync/sync "
				 "promised state >= %u (%s)",
				 j, m->nhist - 1, m->durable, tmp);
			return -1;
		}
	}
	(void)state_matches(m, m->durable, t, tmp, sizeof(tmp), &dummy);
	*newer = 0;
	snprintf(why, wn,
		 "recovered tree matches no state of the workload (durable state %u of %u: %s)",
		 m->durable, m->nhist - 1, tmp);
	return -1;
}

/* ---- trials ----------------------------------------------------------------- */

struct workload {
	const char *name;
	void (*setup)(struct wl *w); /* before the cut is armed; may be NULL */
	void (*run)(struct wl *w);
	uint64_t seed;
	const struct fs_options *opt; /* mount options of the run; NULL: defaults */
};

struct trial {
	uint64_t events; /* boundaries of the workload (dry run) */
	uint32_t matched, nstates, durable;
	unsigned newer; /* blocks holding data newer than the recovered metadata */
	bool ok;
	char msg[1200];
};

static const struct fs_options mount_opt = { .no_background = true };
static int reports_left;

static void trial_failed(struct trial *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void trial_failed(struct trial *t, const char *fmt, ...)
{
	va_list ap;
	size_t l = strlen(t->msg);

	t->ok = false;
	if (l + 4 >= sizeof(t->msg))
		return;
	if (l) {
		strcpy(t->msg + l, "; ");
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(t->msg + l, sizeof(t->msg) - l, fmt, ap);
	va_end(ap);
}

/* Remount the device, compare with the model, unmount, fsck. */
static void check_recovered(struct bdev *dev, const struct model *m, struct trial *t)
{
	struct fs *fs;
	int rc = fs_mount(dev, &mount_opt, &fs);

	if (rc != 0) {
		trial_failed(t, "remount after the cut failed: %d", rc);
		return;
	}
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct rtree tree = { 0 };
	char why[400] = "";

	assert_non_null(c);
	rc = walk_dir(c, "", &tree, why, sizeof(why), 0);
	if (rc != 0) {
		trial_failed(t, "reading the recovered tree: %s", why);
	} else {
		if (tree.n)
			qsort(tree.e, tree.n, sizeof(*tree.e), rent_cmp);
		if (verify_tree(m, &tree, why, sizeof(why), &t->matched, &t->newer) != 0)
			trial_failed(t, "%s", why);
	}
	rtree_free(&tree);
	fs_client_free(c);
	rc = fs_unmount(fs);
	if (rc != 0)
		trial_failed(t, "unmount of the recovered volume: %d", rc);
	rc = check_fsck(dev, reports_left > 0);
	if (rc != 0)
		trial_failed(t, "fsck after remount+unmount returned %d", rc);
}

/* cut == 0: the dry run (counts boundaries, checks the model against a clean
 * unmount). */
static void run_trial_tampered(const struct workload *wk, uint64_t cut, enum emu_cut_mode mode,
			       uint64_t seed, struct trial *t, void (*tamper)(struct bdev *dev))
{
	struct bdev *dev;
	struct fs *fs;
	struct model m;
	struct wl w;

	memset(t, 0, sizeof(*t));
	t->ok = true;
	assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
	assert_int_equal(fs_mkfs(dev, NULL), 0);
	assert_int_equal(fs_mount(dev, wk->opt ? wk->opt : &mount_opt, &fs), 0);
	m_init(&m);
	memset(&w, 0, sizeof(w));
	w.fs = fs;
	w.c = fs_client_new(fs, 0, 0);
	assert_non_null(w.c);
	w.m = &m;
	w.rng = wk->seed;
	w.buf = malloc(WBUF);
	assert_non_null(w.buf);
	for (unsigned i = 0; i < NHANDLES; i++)
		w.h[i].fd = -1;
	w.dry = true;
	if (wk->setup) {
		wk->setup(&w);
		if (w.err[0])
			trial_failed(t, "setup: %s", w.err);
	}
	uint64_t e0 = bdev_emu_events(dev);

	if (cut) {
		bdev_emu_cut_after(dev, cut);
		w.dry = false;
	}
	if (t->ok)
		wk->run(&w);
	if (w.err[0])
		trial_failed(t, "%s", w.err);
	fs_client_free(w.c);
	int urc = fs_unmount(fs);

	t->events = bdev_emu_events(dev) - e0;
	if (urc == 0)
		m_durable(&m, m.nhist - 1);
	else if (!cut)
		trial_failed(t, "unmount failed with no fault injected: %d", urc);
	else if (!is_errno(urc))
		trial_failed(t, "unmount returned %d, not a negative errno", urc);
	t->nstates = m.nhist;
	t->durable = m.durable;
	if (t->ok) {
		if (cut)
			bdev_emu_power_cut(dev, mode, seed);
		if (tamper)
			tamper(dev);
		int rc = check_fsck(dev, reports_left > 0);

		if (rc != 0)
			trial_failed(t, "fsck of the post-cut volume (before remount) returned %d",
				     rc);
		check_recovered(dev, &m, t);
	}
	free(w.buf);
	m_free(&m);
	bdev_close(dev);
}

static void run_trial(const struct workload *wk, uint64_t cut, enum emu_cut_mode mode,
		      uint64_t seed, struct trial *t)
{
	run_trial_tampered(wk, cut, mode, seed, t, NULL);
}

static void powercut_workload(const struct workload *wk)
{
	struct trial t;
	double t0 = now_s();
	bool full = full_run();
	unsigned long only = env_ul("ANK_POWERCUT_CUT", 0);
	unsigned long maxcuts = env_ul("ANK_POWERCUT_MAX", full ? 1000000 : 240);
	static const enum emu_cut_mode modes[] = { EMU_CUT_DROP_ALL, EMU_CUT_RANDOM,
						   EMU_CUT_PREFIX };
	unsigned tested = 0, failures = 0, reached_durable = 0, beyond = 0, newer = 0;

	reports_left = MAX_REPORTS;
	run_trial(wk, 0, EMU_CUT_DROP_ALL, 0, &t);
	if (!t.ok)
		fail_msg("%s: the workload fails without a power cut: %s", wk->name, t.msg);
	uint64_t E = t.events;

	if (only) {
		enum emu_cut_mode mode =
			(enum emu_cut_mode)env_ul("ANK_POWERCUT_MODE", EMU_CUT_RANDOM);
		uint64_t seed = env_ul("ANK_POWERCUT_SEED", 1);

		run_trial(wk, only, mode, seed, &t);
		printf("%s: cut %lu (%s, seed %llu): %s%s\n", wk->name, only, mode_name(mode),
		       (unsigned long long)seed, t.ok ? "ok" : "FAILED: ", t.ok ? "" : t.msg);
		assert_true(t.ok);
		return;
	}
	/* Every boundary, or an evenly spread deterministic sample of them. */
	uint64_t ncuts = E <= maxcuts ? E : maxcuts;

	for (uint64_t i = 0; i < ncuts; i++) {
		uint64_t k = ncuts == E ? i + 1 : 1 + (i * (E - 1)) / (ncuts - 1);
		unsigned nm = full ? 3 : 1;

		for (unsigned mi = 0; mi < nm; mi++) {
			enum emu_cut_mode mode = modes[full ? mi : k % 3];
			uint64_t seed = k * 1000003u + wk->seed * 31u + mi;

			run_trial(wk, k, mode, seed, &t);
			tested++;
			if (!t.ok) {
				failures++;
				if (reports_left > 0) {
					reports_left--;
					printf("  %s: cut %llu/%llu (%s, seed %llu): %s\n",
					       wk->name, (unsigned long long)k,
					       (unsigned long long)E, mode_name(mode),
					       (unsigned long long)seed, t.msg);
				}
			} else {
				reached_durable += t.matched == t.durable;
				newer += t.newer;
				beyond += t.matched > t.durable;
			}
		}
	}
	printf("powercut %-16s boundaries %4llu, cuts tested %4u, failures %u "
	       "(recovered the durable state %u, a newer one %u; in-place blocks newer than "
	       "metadata %u) %.1fs\n",
	       wk->name, (unsigned long long)E, tested, failures, reached_durable, beyond, newer,
	       now_s() - t0);
	fflush(stdout);
	assert_int_equal(failures, 0);
}

static void create_heavy_survives_a_cut_at_every_boundary(void **state)
{
	(void)state;
	static const struct workload wk = { "create-heavy", NULL, wl_create_heavy, 11, NULL };

	powercut_workload(&wk);
}

static void rename_heavy_is_atomic_and_durable_at_every_boundary(void **state)
{
	(void)state;
	static const struct workload wk = { "rename-heavy", setup_rename, wl_rename_heavy, 22,
					    NULL };

	powercut_workload(&wk);
}

static void appended_fsynced_records_survive_every_cut(void **state)
{
	(void)state;
	static const struct workload wk = { "append-fsync", NULL, wl_append_fsync, 33, NULL };

	powercut_workload(&wk);
}

static void in_place_overwrite_keeps_old_or_new_blocks_at_every_cut(void **state)
{
	(void)state;
	static const struct workload wk = { "overwrite-2MiB", setup_overwrite, wl_overwrite, 44,
					    NULL };

	powercut_workload(&wk);
}

/* Tiny caches: commits start inside operations (dirty limits), metadata
 * buffers and pages are evicted between commit and checkpoint. */
static const struct fs_options small_cache_opt = {
	.no_background = true,
	.cache_pages = 48,
	.dirty_pages_limit = 12,
	.buffer_cache = 6,
	.inode_cache = 3,
};

static void overwrite_with_tiny_caches_survives_every_cut(void **state)
{
	(void)state;
	static const struct workload wk = { "overwrite-smallc", setup_overwrite, wl_overwrite, 45,
					    &small_cache_opt };

	powercut_workload(&wk);
}

static void rename_heavy_with_tiny_caches_survives_every_cut(void **state)
{
	(void)state;
	static const struct workload wk = { "rename-smallc", setup_rename, wl_rename_heavy, 23,
					    &small_cache_opt };

	powercut_workload(&wk);
}

static void unlink_truncate_heavy_leaves_no_orphan_after_any_cut(void **state)
{
	(void)state;
	static const struct workload wk = { "unlink-truncate", NULL, wl_unlink_truncate, 55, NULL };

	powercut_workload(&wk);
}

static void mkdir_rmdir_tree_survives_a_cut_at_every_boundary(void **state)
{
	(void)state;
	static const struct workload wk = { "mkdir-rmdir-tree", NULL, wl_tree, 66, NULL };

	powercut_workload(&wk);
}

/* ---- the checker itself ------------------------------------------------------ */

/* Change the recovered volume behind the model's back, through the fs. */
static void tamper_with(struct bdev *dev, int how)
{
	struct fs *fs;
	uint8_t b = 0;

	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	if (how == 0) {
		assert_int_equal(fs_unlink(c, "/d0/f000"), 0);
	} else if (how == 1) {
		int fd = fs_open(c, "/d0/f000", O_RDWR, 0);

		assert_true(fd >= 0);
		assert_int_equal(fs_pread(c, fd, &b, 1, 0), 1);
		b ^= 0x40;
		assert_int_equal(fs_pwrite(c, fd, &b, 1, 0), 1);
		fs_close(c, fd);
	} else {
		assert_int_equal(fs_rename(c, "/d0/f000", "/d1/moved"), 0);
	}
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
}

static void tamper_unlink(struct bdev *dev)
{
	tamper_with(dev, 0);
}

static void tamper_byte(struct bdev *dev)
{
	tamper_with(dev, 1);
}

static void tamper_rename(struct bdev *dev)
{
	tamper_with(dev, 2);
}

/* The checker must not be vacuous: a recovered volume that lost, changed or
 * moved a fsync'd file is reported, an untouched one is not. */
static void checker_reports_lost_changed_or_moved_fsynced_file(void **state)
{
	(void)state;
	static const struct workload wk = { "create-heavy", NULL, wl_create_heavy, 11, NULL };
	void (*tampers[])(struct bdev *) = { tamper_unlink, tamper_byte, tamper_rename };
	struct trial t;

	reports_left = 0;
	run_trial(&wk, 0, EMU_CUT_DROP_ALL, 0, &t);
	assert_true(t.ok);
	uint64_t E = t.events, cuts[] = { E / 2, E };

	for (unsigned i = 0; i < 2; i++) {
		run_trial(&wk, cuts[i], EMU_CUT_RANDOM, 5, &t);
		assert_true(t.ok);
		for (unsigned k = 0; k < 3; k++) {
			run_trial_tampered(&wk, cuts[i], EMU_CUT_RANDOM, 5, &t, tampers[k]);
			if (t.ok)
				fail_msg("tampering %u after cut %llu went unnoticed", k,
					 (unsigned long long)cuts[i]);
		}
	}
}

/* ---- a power cut during recovery ---------------------------------------------- */

/* Run wk with the device frozen after boundary k, power cut; returns the
 * crashed image (aligned, NBLK blocks). */
static uint8_t *crashed_image(const struct workload *wk, uint64_t k, enum emu_cut_mode mode)
{
	struct bdev *dev;
	struct fs *fs;
	struct model m;
	struct wl w;
	uint8_t *img = ank_aligned_alloc((size_t)NBLK * BS);

	assert_non_null(img);
	assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
	assert_int_equal(fs_mkfs(dev, NULL), 0);
	assert_int_equal(fs_mount(dev, wk->opt ? wk->opt : &mount_opt, &fs), 0);
	m_init(&m);
	memset(&w, 0, sizeof(w));
	w.fs = fs;
	w.c = fs_client_new(fs, 0, 0);
	assert_non_null(w.c);
	w.m = &m;
	w.rng = wk->seed;
	w.buf = malloc(WBUF);
	assert_non_null(w.buf);
	w.dry = true;
	if (wk->setup)
		wk->setup(&w);
	bdev_emu_cut_after(dev, k);
	w.dry = false;
	wk->run(&w);
	fs_client_free(w.c);
	(void)fs_unmount(fs);
	bdev_emu_power_cut(dev, mode, k);
	bdev_emu_snapshot(dev, img);
	bdev_close(dev);
	free(w.buf);
	m_free(&m);
	return img;
}

static bool rtree_equal(const struct rtree *a, const struct rtree *b, char *why, size_t wn)
{
	for (uint32_t i = 0; i < ANK_MIN(a->n, b->n); i++) {
		if (strcmp(a->e[i].path, b->e[i].path) || a->e[i].dir != b->e[i].dir ||
		    a->e[i].size != b->e[i].size ||
		    (a->e[i].size && memcmp(a->e[i].data, b->e[i].data, a->e[i].size))) {
			snprintf(why, wn, "%s differs", a->e[i].path);
			return false;
		}
	}
	if (a->n != b->n) {
		snprintf(why, wn, "%u entries, expected %u", b->n, a->n);
		return false;
	}
	return true;
}

/* Mount (must work), read the tree, unmount; fsck before and after. */
static bool recover_and_read(struct bdev *dev, struct rtree *t, char *why, size_t wn)
{
	struct fs *fs;
	int rc = check_fsck(dev, false);

	if (rc != 0) {
		snprintf(why, wn, "fsck before the mount returned %d", rc);
		return false;
	}
	rc = fs_mount(dev, &mount_opt, &fs);
	if (rc != 0) {
		snprintf(why, wn, "mount failed: %d", rc);
		return false;
	}
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	rc = walk_dir(c, "", t, why, wn, 0);
	fs_client_free(c);
	if (t->n)
		qsort(t->e, t->n, sizeof(*t->e), rent_cmp);
	int urc = fs_unmount(fs);

	if (rc != 0)
		return false;
	if (urc != 0) {
		snprintf(why, wn, "unmount failed: %d", urc);
		return false;
	}
	rc = check_fsck(dev, false);
	if (rc != 0) {
		snprintf(why, wn, "fsck after the mount returned %d", rc);
		return false;
	}
	return true;
}

/* A crashed volume whose recovery (replay, orphan processing, the commit
 * and checkpoint of the unmount) is itself cut at every boundary must
 * recover again to the same tree. */
static void power_cut_during_recovery_recovers_the_same_tree(void **state)
{
	(void)state;
	static const struct workload wks[] = {
		{ "unlink-truncate", NULL, wl_unlink_truncate, 55, NULL },
		{ "overwrite-2MiB", setup_overwrite, wl_overwrite, 44, NULL },
		{ "rename-heavy", setup_rename, wl_rename_heavy, 22, NULL },
	};
	static const enum emu_cut_mode modes[] = { EMU_CUT_DROP_ALL, EMU_CUT_RANDOM,
						   EMU_CUT_PREFIX };
	unsigned tested = 0, failures = 0, images = 0;
	double t0 = now_s();

	reports_left = MAX_REPORTS;
	for (unsigned wi = 0; wi < ANK_ARRAY_SIZE(wks); wi++) {
		struct trial t;

		run_trial(&wks[wi], 0, EMU_CUT_DROP_ALL, 0, &t);
		assert_true(t.ok);
		for (unsigned q = 1; q <= 3; q++) {
			uint64_t k = t.events * q / 4;
			uint8_t *img = crashed_image(&wks[wi], k, EMU_CUT_KEEP_ALL);
			struct bdev *dev;
			struct fsck_report rep;
			struct fsck_options o = { .quiet = true };
			struct rtree ref = { 0 };
			char why[300] = "";

			assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
			assert_int_equal(fsck_run(dev, &o, &rep), 0);
			uint64_t e0 = bdev_emu_events(dev);

			if (!recover_and_read(dev, &ref, why, sizeof(why)))
				fail_msg("%s cut %llu: the first recovery: %s", wks[wi].name,
					 (unsigned long long)k, why);
			uint64_t R = bdev_emu_events(dev) - e0;

			bdev_close(dev);
			images += rep.journal_txns > 0;
			for (uint64_t r = 1; r <= R; r++) {
				struct fs *fs;
				struct rtree got = { 0 };
				bool ok;

				assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
				bdev_emu_cut_after(dev, r);
				if (fs_mount(dev, &mount_opt, &fs) == 0)
					(void)fs_unmount(fs);
				bdev_emu_power_cut(dev, modes[r % 3], r);
				ok = recover_and_read(dev, &got, why, sizeof(why)) &&
				     rtree_equal(&ref, &got, why, sizeof(why));
				tested++;
				if (!ok) {
					failures++;
					if (reports_left-- > 0)
						printf("  %s cut %llu (%llu journal "
						       "transactions), recovery cut at "
						       "%llu/%llu (%s): %s\n",
						       wks[wi].name, (unsigned long long)k,
						       (unsigned long long)rep.journal_txns,
						       (unsigned long long)r, (unsigned long long)R,
						       mode_name(modes[r % 3]), why);
				}
				rtree_free(&got);
				bdev_close(dev);
			}
			rtree_free(&ref);
			free(img);
		}
	}
	printf("power cut during recovery: %u crashed volumes (%u with a non-empty journal), "
	       "%u recovery cuts, failures %u %.1fs\n",
	       (unsigned)(3 * ANK_ARRAY_SIZE(wks)), images, tested, failures, now_s() - t0);
	assert_int_equal(failures, 0);
}

/* ---- torn journal transaction ------------------------------------------------ */

/* Build a volume with committed transaction T1 (/keep), then T2 (/keep
 * renamed, /torn and /newdir created). Returns images after T1 and T2, each
 * with every write flushed. */
static void build_t1_t2(uint8_t **img1, uint8_t **img2, struct ank_super *sb)
{
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
	uint8_t *buf = malloc(3 * BS);
	size_t bytes = (size_t)NBLK * BS;

	assert_non_null(buf);
	assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
	assert_int_equal(fs_mkfs(dev, NULL), 0);
	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	assert_non_null(c);
	gen(buf, 3 * BS, 7);
	int fd = fs_open(c, "/keep", O_CREAT | O_RDWR, 0644);

	assert_true(fd >= 0);
	assert_int_equal(fs_write(c, fd, buf, 5000), 5000);
	assert_int_equal(fs_close(c, fd), 0);
	assert_int_equal(fs_sync(fs), 0);
	*img1 = ank_aligned_alloc(bytes);
	assert_non_null(*img1);
	bdev_emu_snapshot(dev, *img1);

	assert_int_equal(fs_rename(c, "/keep", "/keep2"), 0);
	fd = fs_open(c, "/torn", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	gen(buf, 3 * BS, 8);
	assert_int_equal(fs_write(c, fd, buf, 3 * BS), 3 * BS);
	assert_int_equal(fs_close(c, fd), 0);
	assert_int_equal(fs_mkdir(c, "/newdir", 0755), 0);
	assert_int_equal(fs_sync(fs), 0);
	*img2 = ank_aligned_alloc(bytes);
	assert_non_null(*img2);
	bdev_emu_snapshot(dev, *img2);
	memcpy(sb, *img2, sizeof(*sb));
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	bdev_close(dev);
	free(buf);
}

/* Names in the root of the mounted volume, sorted, space-separated. */
static void root_names(struct bdev *dev, char *out, size_t n, uint8_t *keep_data,
		       uint64_t *keep_size)
{
	struct fs *fs;
	struct rtree t = { 0 };
	char why[300] = "";

	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	int rc = walk_dir(c, "", &t, why, sizeof(why), 0);

	if (rc)
		fail_msg("walk: %s", why);
	if (t.n)
		qsort(t.e, t.n, sizeof(*t.e), rent_cmp);
	out[0] = 0;
	*keep_size = 0;
	for (uint32_t i = 0; i < t.n; i++) {
		strncat(out, t.e[i].path, n - strlen(out) - 2);
		strncat(out, " ", n - strlen(out) - 1);
		if (!strcmp(t.e[i].path, "/keep") || !strcmp(t.e[i].path, "/keep2")) {
			*keep_size = t.e[i].size;
			memcpy(keep_data, t.e[i].data, ANK_MIN(t.e[i].size, (uint64_t)3 * BS));
		}
	}
	rtree_free(&t);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
}

static void torn_journal_transaction_is_discarded(void **state)
{
	(void)state;
	uint8_t *img1, *img2;
	struct ank_super sb;
	uint64_t logblk[64], other[64];
	unsigned nlog = 0, nother = 0, commit_idx = ~0u;
	uint8_t *want = malloc(3 * BS), *got = malloc(3 * BS);

	assert_non_null(want);
	assert_non_null(got);
	gen(want, 3 * BS, 7);
	build_t1_t2(&img1, &img2, &sb);
	/* T2's log blocks (in log order) and its other writes (data homes). */
	for (uint64_t b = 0; b < NBLK; b++) {
		if (memcmp(img1 + b * BS, img2 + b * BS, BS) == 0)
			continue;
		bool in_log = b > sb.journal_start && b < sb.journal_start + sb.journal_blocks;

		if (in_log) {
			assert_true(nlog < 64);
			const struct ank_journal_commit *cm = (const void *)(img2 + b * BS);

			if (cm->magic == ANK_JCMT_MAGIC)
				commit_idx = nlog;
			logblk[nlog++] = b;
		} else {
			assert_true(nother < 64);
			other[nother++] = b;
		}
	}
	/* Without a checkpoint in between, T2 is only in the log. */
	assert_true(nlog >= 3);
	assert_int_equal(commit_idx, nlog - 1);
	printf("torn transaction: T2 has %u log blocks (descriptor, images, commit), %u data "
	       "blocks written home\n",
	       nlog, nother);

	unsigned torn_tested = 0;
	for (uint64_t seed = 1; seed < 2000 && torn_tested < 24; seed++) {
		struct bdev *dev;

		assert_int_equal(bdev_emu_create_from(img1, NBLK, &dev), 0);
		for (unsigned i = 0; i < nother; i++)
			assert_int_equal(bdev_write(dev, other[i], 1, img2 + other[i] * BS), 0);
		assert_int_equal(bdev_flush(dev), 0);
		/* The whole transaction unflushed, as if the device reordered
		 * writes across the barrier. */
		for (unsigned i = 0; i < nlog; i++)
			assert_int_equal(bdev_write(dev, logblk[i], 1, img2 + logblk[i] * BS), 0);
		bdev_emu_power_cut(dev, EMU_CUT_RANDOM, seed);
		unsigned dropped = 0;
		bool commit_kept = memcmp(bdev_emu_block(dev, logblk[commit_idx]),
					  img2 + logblk[commit_idx] * BS, BS) == 0;

		for (unsigned i = 0; i < nlog; i++)
			dropped += memcmp(bdev_emu_block(dev, logblk[i]), img2 + logblk[i] * BS,
					  BS) != 0;
		if (!commit_kept || dropped == 0) {
			bdev_close(dev);
			continue;
		}
		torn_tested++;
		struct fsck_report rep;
		struct fsck_options o = { .quiet = true, .out = NULL };

		assert_int_equal(fsck_run(dev, &o, &rep), 0);
		char names[512];
		uint64_t ks;

		root_names(dev, names, sizeof(names), got, &ks);
		if (strcmp(names, "/keep ") != 0)
			fail_msg(
				"seed %llu (%u of %u log blocks lost, commit kept): replay applied "
				"a torn transaction, root holds: %s",
				(unsigned long long)seed, dropped, nlog, names);
		assert_int_equal(ks, 5000);
		assert_memory_equal(got, want, 5000);
		assert_int_equal(check_fsck(dev, true), 0);
		bdev_close(dev);
	}
	assert_true(torn_tested > 0);

	/* Control: the whole transaction kept is replayed. */
	struct bdev *dev;
	char names[512];
	uint64_t ks;

	assert_int_equal(bdev_emu_create_from(img1, NBLK, &dev), 0);
	for (unsigned i = 0; i < nother; i++)
		assert_int_equal(bdev_write(dev, other[i], 1, img2 + other[i] * BS), 0);
	for (unsigned i = 0; i < nlog; i++)
		assert_int_equal(bdev_write(dev, logblk[i], 1, img2 + logblk[i] * BS), 0);
	bdev_emu_power_cut(dev, EMU_CUT_KEEP_ALL, 1);
	assert_int_equal(check_fsck(dev, true), 0);
	root_names(dev, names, sizeof(names), got, &ks);
	assert_string_equal(names, "/keep2 /newdir /torn ");
	assert_int_equal(ks, 5000);
	assert_memory_equal(got, want, 5000);
	assert_int_equal(check_fsck(dev, true), 0);
	bdev_close(dev);
	printf("torn transaction: %u torn variants discarded, intact one replayed\n", torn_tested);
	free(img1);
	free(img2);
	free(want);
	free(got);
}

/* ---- orphan list in a committed, not yet replayed transaction ---------------- */

/* A file unlinked while open, the unlink committed by an fsync, then the
 * machine stops before any checkpoint: the new orphan list head exists only
 * in the journaled superblock. fsck judges the replayed state, so it must
 * find the inode on the orphan list (clean), as mount does. */
static void crash_with_committed_open_unlinked_file_is_fsck_clean(void **state)
{
	(void)state;
	struct bdev *dev;
	struct fs *fs;
	uint8_t *buf = malloc(10000);

	assert_non_null(buf);
	gen(buf, 10000, 3);
	assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
	assert_int_equal(fs_mkfs(dev, NULL), 0);
	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	int fd = fs_open(c, "/o", O_CREAT | O_RDWR, 0644);

	assert_true(fd >= 0);
	assert_int_equal(fs_write(c, fd, buf, 10000), 10000);
	assert_int_equal(fs_fsync(c, fd), 0);
	assert_int_equal(fs_unlink(c, "/o"), 0);
	assert_int_equal(fs_fsync(c, fd), 0);
	/* Freeze the machine: nothing more reaches the device. */
	bdev_emu_fail_nth(dev, 1, true);
	fs_client_free(c);
	assert_true(fs_unmount(fs) < 0);
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 1);
	int pre = check_fsck(dev, true);

	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	assert_non_null(c);
	struct stat st;

	assert_int_equal(fs_stat(c, "/o", &st), -ENOENT);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	int post = check_fsck(dev, true);

	bdev_close(dev);
	free(buf);
	assert_int_equal(post, 0);
	assert_int_equal(pre, 0);
}

/* ---- failing Nth I/O ---------------------------------------------------------- */

static void wl_small_mixed(struct wl *w)
{
	struct wh h, held;
	char p[MPATH];

	held.fd = -1;
	(void)w_mkdir(w, "/m");
	(void)w_mkdir(w, "/m/x");
	for (unsigned i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "/m/f%u", i);
		(void)w_file(w, p, 1 + rndu(&w->rng, 12000), i % 2 == 0);
	}
	(void)w_rename(w, "/m/f1", "/m/x/g1");
	(void)w_rename(w, "/m/f2", "/m/f3");
	(void)w_fsync_path(w, "/m");
	if (w_open(w, "/m/f4", O_RDWR, &held)) {
		(void)w_unlink(w, "/m/f4");
		(void)w_append(w, &held, 5000);
		(void)w_fsync(w, &held);
	}
	if (w_open(w, "/m/f5", O_RDWR, &h)) {
		(void)w_ftruncate(w, &h, 100);
		(void)w_append(w, &h, 9000);
		(void)w_fsync(w, &h);
		(void)w_close(w, &h);
	}
	(void)w_unlink(w, "/m/f0");
	(void)w_sync(w);
	(void)w_rename(w, "/m/x", "/y");
	(void)w_file(w, "/y/late", 3000, false);
	if (held.fd >= 0)
		(void)w_close(w, &held);
}

/* Populated volume for the cold-cache runs: /p/d0..d3 with files. */
static void populate_cold(struct bdev *dev)
{
	struct fs *fs;
	struct wl w;
	char p[MPATH];

	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	memset(&w, 0, sizeof(w));
	w.fs = fs;
	w.c = fs_client_new(fs, 0, 0);
	assert_non_null(w.c);
	w.rng = 99;
	w.dry = true;
	w.buf = malloc(WBUF);
	assert_non_null(w.buf);
	(void)w_mkdir(&w, "/p");
	for (unsigned d = 0; d < 4; d++) {
		snprintf(p, sizeof(p), "/p/d%u", d);
		(void)w_mkdir(&w, p);
		for (unsigned i = 0; i < 40; i++) {
			snprintf(p, sizeof(p), "/p/d%u/file-with-a-longer-name-%03u", d, i);
			(void)w_file(&w, p, rndu(&w.rng, 20000), false);
		}
	}
	assert_true(w.err[0] == 0);
	fs_client_free(w.c);
	free(w.buf);
	assert_int_equal(fs_unmount(fs), 0);
}

/* Operations on the cold volume: every lookup and read misses the caches. */
static void wl_cold_mixed(struct wl *w)
{
	struct wh h;
	struct stat st;

	(void)w_rename(w, "/p/d0/file-with-a-longer-name-003", "/p/d1/moved");
	(void)w_rename(w, "/p/d2", "/p/d3/d2");
	(void)w_unlink(w, "/p/d1/file-with-a-longer-name-039");
	if (w_open(w, "/p/d3/d2/file-with-a-longer-name-010", O_RDWR, &h)) {
		(void)w_append(w, &h, 7000);
		(void)w_fsync(w, &h);
		(void)w_close(w, &h);
	}
	(void)w_file(w, "/p/d3/new", 5000, true);
	(void)fs_stat(w->c, "/p/d1/file-with-a-longer-name-020", &st);
	(void)w_truncate_path(w, "/p/d0/file-with-a-longer-name-005", 10);
	(void)w_sync(w);
	(void)w_rename(w, "/p/d1/moved", "/p/d0/file-with-a-longer-name-006");
	(void)w_mkdir(w, "/p/e");
	(void)w_rmdir(w, "/p/e");
}

static uint64_t io_count(const struct bdev *dev)
{
	return dev->stat_reads + dev->stat_writes + dev->stat_flushes;
}

struct failnth_cfg {
	const char *name;
	bool cold; /* populated volume, tiny caches */
	void (*run)(struct wl *w);
	struct fs_options opt;
};

/* One configuration: fail the Nth request for every N of the run. */
static unsigned failnth_config(const struct failnth_cfg *cfg)
{
	static const enum emu_cut_mode modes[] = { EMU_CUT_DROP_ALL, EMU_CUT_RANDOM, EMU_CUT_PREFIX,
						   EMU_CUT_KEEP_ALL };
	uint64_t N = 0;
	unsigned failures = 0, mount_failed = 0, op_failed = 0, runs = 0;
	double t0 = now_s();

	reports_left = MAX_REPORTS;
	for (uint64_t n = 0; n == 0 || n <= N; n++) {
		struct bdev *dev;
		struct fs *fs = NULL;
		struct wl w;
		struct trial t = { .ok = true };

		assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
		assert_int_equal(fs_mkfs(dev, NULL), 0);
		if (cfg->cold)
			populate_cold(dev);
		uint64_t io0 = io_count(dev);

		if (n)
			bdev_emu_fail_nth(dev, n, n % 2 == 0);
		int rc = fs_mount(dev, &cfg->opt, &fs);

		memset(&w, 0, sizeof(w));
		w.rng = 77;
		w.dry = true;
		w.keep_going = n != 0;
		w.buf = malloc(WBUF);
		assert_non_null(w.buf);
		if (rc != 0) {
			if (!n || !is_errno(rc))
				trial_failed(&t, "mount returned %d", rc);
			mount_failed++;
		} else {
			w.fs = fs;
			w.c = fs_client_new(fs, 0, 0);
			assert_non_null(w.c);
			cfg->run(&w);
			if (w.err[0])
				trial_failed(&t, "%s", w.err);
			op_failed += w.failed_ops > 0;
			fs_client_free(w.c);
			rc = fs_unmount(fs);
			if (rc != 0 && (!n || !is_errno(rc)))
				trial_failed(&t, "unmount returned %d", rc);
		}
		if (n == 0)
			N = io_count(dev) - io0;
		else
			bdev_emu_power_cut(dev, modes[n % 4], n);
		runs++;
		rc = check_fsck(dev, reports_left > 0);
		if (rc != 0)
			trial_failed(&t, "fsck before remount returned %d", rc);
		struct fs *fs2;

		rc = fs_mount(dev, &cfg->opt, &fs2);
		if (rc != 0) {
			trial_failed(&t, "remount failed: %d", rc);
		} else {
			struct fs_client *c = fs_client_new(fs2, 0, 0);
			struct rtree tree = { 0 };
			char why[300];

			assert_non_null(c);
			if (walk_dir(c, "", &tree, why, sizeof(why), 0) != 0)
				trial_failed(&t, "walking the remounted tree: %s", why);
			rtree_free(&tree);
			fs_client_free(c);
			rc = fs_unmount(fs2);
			if (rc != 0)
				trial_failed(&t, "unmount after remount: %d", rc);
			rc = check_fsck(dev, reports_left > 0);
			if (rc != 0)
				trial_failed(&t, "fsck after remount returned %d", rc);
		}
		if (!t.ok) {
			failures++;
			if (reports_left-- > 0)
				printf("  fail-nth %s %llu/%llu (%s): %s\n", cfg->name,
				       (unsigned long long)n, (unsigned long long)N,
				       n % 2 == 0 ? "sticky" : "once", t.msg);
		}
		free(w.buf);
		bdev_close(dev);
	}
	printf("fail-nth %-12s %3llu I/O requests, %3u runs: mount failed %u, some operation "
	       "failed %u, failures %u %.1fs\n",
	       cfg->name, (unsigned long long)N, runs - 1, mount_failed, op_failed, failures,
	       now_s() - t0);
	return failures;
}

/* The populated volume of the cold-cache runs, as an image. */
static uint8_t *cold_image(void)
{
	struct bdev *base;
	uint8_t *img = ank_aligned_alloc((size_t)NBLK * BS);

	assert_non_null(img);
	assert_int_equal(bdev_emu_create(NBLK, &base), 0);
	assert_int_equal(fs_mkfs(base, NULL), 0);
	populate_cold(base);
	bdev_emu_snapshot(base, img);
	bdev_close(base);
	return img;
}

static const struct fs_options cold_opt = {
	.no_background = true, .buffer_cache = 1, .inode_cache = 1, .cache_pages = 4
};

/* One operation on the cold volume; returns its result. */
typedef int (*single_op)(struct fs_client *c);

/* Run op on a fresh copy of img with its nth I/O failing once (0: none),
 * then sync, unmount, power cut and fsck; probe (may be NULL) then looks at
 * the remounted volume. *nio gets the op's I/O count when n == 0. */
static int one_failing_op(const uint8_t *img, single_op op, uint64_t n, uint64_t *nio, int *op_rc,
			  int *sync_rc, int *umount_rc, int (*probe)(struct fs_client *c),
			  int *probe_rc, bool print)
{
	struct bdev *dev;
	struct fs *fs;

	assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
	assert_int_equal(fs_mount(dev, &cold_opt, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	uint64_t io0 = io_count(dev);

	if (n)
		bdev_emu_fail_nth(dev, n, false);
	*op_rc = op(c);
	if (n == 0)
		*nio = io_count(dev) - io0;
	bdev_emu_fail_nth(dev, 0, false);
	*sync_rc = fs_sync(fs);
	fs_client_free(c);
	*umount_rc = fs_unmount(fs);
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 1);
	int frc = check_fsck(dev, print);

	*probe_rc = 1;
	if (probe) {
		int rc = fs_mount(dev, &cold_opt, &fs);

		if (rc != 0) {
			*probe_rc = rc;
		} else {
			c = fs_client_new(fs, 0, 0);
			assert_non_null(c);
			*probe_rc = probe(c);
			fs_client_free(c);
			if (fs_unmount(fs) != 0)
				*probe_rc = -1;
		}
	}
	bdev_close(dev);
	return frc;
}

static const char *rn_from = "/p/d0/file-with-a-longer-name-003";
static const char *rn_new = "/p/d1/moved";
static const char *rn_existing = "/p/d1/file-with-a-longer-name-020";
static const char *rn_to;
static uint64_t rn_ino_from, rn_ino_to; /* before the rename; 0: absent */

static int op_rename(struct fs_client *c)
{
	return fs_rename(c, rn_from, rn_to);
}

static uint64_t ino_of(struct fs_client *c, const char *p)
{
	struct stat st;

	return fs_stat(c, p, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* 1 when the names show the state before the rename or after it. */
static int probe_one_name(struct fs_client *c)
{
	uint64_t f = ino_of(c, rn_from), t = ino_of(c, rn_to);

	return (f == rn_ino_from && t == rn_ino_to) || (f == 0 && t == rn_ino_from);
}

static void rename_inos(const uint8_t *img)
{
	struct bdev *dev;
	struct fs *fs;

	assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
	assert_int_equal(fs_mount(dev, &cold_opt, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);

	assert_non_null(c);
	rn_ino_from = ino_of(c, rn_from);
	rn_ino_to = ino_of(c, rn_to);
	assert_true(rn_ino_from != 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	bdev_close(dev);
}

/* A rename that fails with an I/O error (any of its reads or writes) must
 * leave a consistent volume where, after a remount, the names show the
 * state before the rename or after it (the file under exactly one name).
 * Cold caches make the rename read both directories. Both a new target name
 * and an existing target (replaced) are tried. */
static void rename_failing_on_any_io_leaves_exactly_one_name(void **state)
{
	(void)state;
	uint8_t *img = cold_image();
	const char *targets[] = { rn_new, rn_existing };
	unsigned bad = 0;

	for (unsigned ti = 0; ti < 2; ti++) {
		uint64_t N = 0;
		unsigned failed = 0;

		rn_to = targets[ti];
		rename_inos(img);
		for (uint64_t n = 0; n == 0 || n <= N; n++) {
			int rc, src, urc, one;
			int frc = one_failing_op(img, op_rename, n, &N, &rc, &src, &urc,
						 probe_one_name, &one, bad < 4);

			failed += rc != 0;
			if (one != 1 || frc != 0 || (rc != 0 && (n == 0 || !is_errno(rc))) ||
			    (rc == 0 && (src || urc))) {
				if (bad++ < 4)
					printf("  rename %s -> %s failing at its I/O "
					       "%llu of %llu: rename %d, then sync %d, "
					       "unmount %d; fsck %d; after remount the names "
					       "show the state before or after: %s (%d)\n",
					       rn_from, rn_to, (unsigned long long)n,
					       (unsigned long long)N, rc, src, urc, frc,
					       one == 1 ? "yes" : "NO", one);
			}
		}
		printf("rename to %s name, failing each of its %llu I/O requests: %u renames "
		       "failed\n",
		       ti ? "an existing" : "a new", (unsigned long long)N, failed);
	}
	printf("rename with a failing I/O: %u bad outcomes\n", bad);
	free(img);
	assert_int_equal(bad, 0);
}

static int op_unlink(struct fs_client *c)
{
	return fs_unlink(c, "/p/d2/file-with-a-longer-name-017");
}

static int op_create(struct fs_client *c)
{
	int fd = fs_open(c, "/p/d3/created", O_CREAT | O_EXCL | O_RDWR, 0644);

	if (fd < 0)
		return fd;
	ssize_t n = fs_write(c, fd, "0123456789", 10);

	fs_close(c, fd);
	return n == 10 ? 0 : n < 0 ? (int)n : -EIO;
}

static int op_mkdir(struct fs_client *c)
{
	return fs_mkdir(c, "/p/d1/newdir", 0755);
}

static int op_rmdir(struct fs_client *c)
{
	int rc = fs_mkdir(c, "/p/d1/gone", 0755);

	return rc ? rc : fs_rmdir(c, "/p/d1/gone");
}

static int op_link(struct fs_client *c)
{
	return fs_link(c, "/p/d0/file-with-a-longer-name-011", "/p/d3/hardlink");
}

static int op_rename_dir(struct fs_client *c)
{
	return fs_rename(c, "/p/d2", "/p/d0/d2moved");
}

static int op_truncate(struct fs_client *c)
{
	return fs_truncate(c, "/p/d3/file-with-a-longer-name-001", 5);
}

static int op_append(struct fs_client *c)
{
	uint8_t buf[9000];
	int fd = fs_open(c, "/p/d3/file-with-a-longer-name-002", O_RDWR | O_APPEND, 0);

	if (fd < 0)
		return fd;
	gen(buf, sizeof(buf), 5);
	ssize_t n = fs_write(c, fd, buf, sizeof(buf));
	int rc = n == (ssize_t)sizeof(buf) ? fs_fsync(c, fd) : n < 0 ? (int)n : -EIO;

	fs_close(c, fd);
	return rc;
}

static int op_unlink_open(struct fs_client *c)
{
	int fd = fs_open(c, "/p/d1/file-with-a-longer-name-030", O_RDWR, 0);

	if (fd < 0)
		return fd;
	int rc = fs_unlink(c, "/p/d1/file-with-a-longer-name-030");

	if (rc == 0)
		rc = fs_fsync(c, fd);
	fs_close(c, fd);
	return rc;
}

/* Every metadata operation, with any one of its I/O requests failing once:
 * it returns 0 or a negative errno, and after a sync, unmount and power cut
 * the volume is consistent. */
static void metadata_operations_failing_on_any_io_leave_a_consistent_volume(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		single_op op;
	} ops[] = {
		{ "unlink", op_unlink },
		{ "create+write", op_create },
		{ "mkdir", op_mkdir },
		{ "mkdir+rmdir", op_rmdir },
		{ "link", op_link },
		{ "rename dir", op_rename_dir },
		{ "truncate", op_truncate },
		{ "append+fsync", op_append },
		{ "unlink open file+fsync", op_unlink_open },
	};
	uint8_t *img = cold_image();
	unsigned bad = 0;

	for (unsigned i = 0; i < ANK_ARRAY_SIZE(ops); i++) {
		uint64_t N = 0;
		unsigned failed = 0, bad_op = 0;

		for (uint64_t n = 0; n == 0 || n <= N; n++) {
			int rc, src, urc, unused;
			int frc = one_failing_op(img, ops[i].op, n, &N, &rc, &src, &urc, NULL,
						 &unused, bad < 6);

			failed += rc != 0;
			if (frc != 0 || (rc != 0 && (n == 0 || !is_errno(rc))) ||
			    (n == 0 && (src || urc))) {
				bad_op++;
				if (bad++ < 6)
					printf("  %s failing at its I/O %llu of %llu: "
					       "returned %d, then sync %d, unmount %d; "
					       "fsck %d\n",
					       ops[i].name, (unsigned long long)n,
					       (unsigned long long)N, rc, src, urc, frc);
			}
		}
		printf("%-24s %3llu I/O requests: %3u failed with an errno, %u bad outcomes\n",
		       ops[i].name, (unsigned long long)N, failed, bad_op);
	}
	free(img);
	assert_int_equal(bad, 0);
}

static void failing_nth_io_returns_errors_and_leaves_a_clean_volume(void **state)
{
	(void)state;
	const struct failnth_cfg cfgs[] = {
		{ "fresh", false, wl_small_mixed, { .no_background = true } },
		{ "cold-cache",
		  true,
		  wl_cold_mixed,
		  { .no_background = true,
		    .buffer_cache = 4,
		    .inode_cache = 2,
		    .cache_pages = 8 } },
	};
	unsigned failures = 0;

	reports_left = MAX_REPORTS;
	for (unsigned i = 0; i < ANK_ARRAY_SIZE(cfgs); i++)
		failures += failnth_config(&cfgs[i]);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checker_reports_lost_changed_or_moved_fsynced_file),
		cmocka_unit_test(create_heavy_survives_a_cut_at_every_boundary),
		cmocka_unit_test(rename_heavy_is_atomic_and_durable_at_every_boundary),
		cmocka_unit_test(appended_fsynced_records_survive_every_cut),
		cmocka_unit_test(in_place_overwrite_keeps_old_or_new_blocks_at_every_cut),
		cmocka_unit_test(overwrite_with_tiny_caches_survives_every_cut),
		cmocka_unit_test(rename_heavy_with_tiny_caches_survives_every_cut),
		cmocka_unit_test(unlink_truncate_heavy_leaves_no_orphan_after_any_cut),
		cmocka_unit_test(mkdir_rmdir_tree_survives_a_cut_at_every_boundary),
		cmocka_unit_test(power_cut_during_recovery_recovers_the_same_tree),
		cmocka_unit_test(torn_journal_transaction_is_discarded),
		cmocka_unit_test(crash_with_committed_open_unlinked_file_is_fsck_clean),
		cmocka_unit_test(rename_failing_on_any_io_leaves_exactly_one_name),
		cmocka_unit_test(metadata_operations_failing_on_any_io_leave_a_consistent_volume),
		cmocka_unit_test(failing_nth_io_returns_errors_and_leaves_a_clean_volume),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
