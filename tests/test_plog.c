/*
 * test_plog.c - behaviour of the p-log module (src/plog/): entries round-trip
 * with their data and paths, status bits and reclaim, a full log that
 * refuses instead of dropping, wrap-around, replica fallback, corruption
 * reported and never used, a writer dying after any store (rebuilt from the
 * module's fault point) or killed by SIGKILL at random times, merging three
 * workers by timestamp, random bytes that must not crash the reader, memory
 * protection keys where the CPU has them, and the cost of an append.
 * It does not test how the server uses the log (what to log, when to clear).
 *
 * Randomised tests print their seed; PLOG_TEST_SEED=<n> reruns one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/plog/plog.h"
#include "../src/plog/plog_internal.h" /* plog_csum */
#include "../src/ipc/optable.h"
#include "../src/util/common.h"
#include "../src/util/crc32c.h"

#define SMALL_COPY 16384u

/* ---- regions ---- */

static void *region_new(uint64_t copy_size, size_t *size)
{
	*size = PLOG_REGION_SIZE(copy_size);
	void *m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	return m;
}

static void region_free(void *m, size_t size)
{
	munmap(m, size);
}

static void *region_dup(const void *m, size_t size)
{
	void *c = aligned_alloc(4096, size);
	assert_non_null(c);
	memcpy(c, m, size);
	return c;
}

static uint8_t *copy_base(void *m, unsigned c)
{
	const struct plog_header *h = m;
	return (uint8_t *)m + PLOG_HEADER_SIZE + (c ? h->info.copy_size : 0);
}

static uint64_t test_seed(void)
{
	const char *s = getenv("PLOG_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	return seed;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- deterministic entry content, derived from the sequence number ---- */

struct ent {
	struct plog_op op;
	struct plog_desc desc;
	char path[64], path2[64];
	uint8_t data[8192];
	size_t len;
};

static const uint32_t opcodes[] = {
	ANK_OP_OPEN,  ANK_OP_WRITE, ANK_OP_PWRITE,    ANK_OP_RENAME, ANK_OP_LSEEK,
	ANK_OP_MKDIR, ANK_OP_UNLINK, ANK_OP_FTRUNCATE, ANK_OP_LINK,
};

static size_t data_max = 3000; /* bytes of the largest write entry */

static uint8_t data_byte(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static void make_entry(uint64_t seq, struct ent *e)
{
	memset(e, 0, sizeof(*e));
	uint32_t opc = opcodes[seq % ANK_ARRAY_SIZE(opcodes)];
	e->op.opcode = opc;
	e->op.flags = (uint32_t)(seq * 3);
	e->op.fd = (int32_t)(seq % 100);
	e->op.mode = 0644;
	e->op.whence = (uint32_t)(seq % 3);
	e->op.off = (int64_t)(seq * 4096);
	e->op.result = (int64_t)(seq % 7) - 3;
	e->op.uid = (uint32_t)(seq % 3) * 1000;
	e->op.gid = e->op.uid + 1;
	if (seq % 4 == 1) { /* acting for another user (every fourth entry) */
		e->op.as_set = true;
		e->op.as_uid = 4000 + (uint32_t)(seq % 5);
		e->op.as_gid = 5000;
	}
	if (opc == ANK_OP_OPEN || opc == ANK_OP_MKDIR || opc == ANK_OP_UNLINK ||
	    opc == ANK_OP_RENAME || opc == ANK_OP_LINK) {
		snprintf(e->path, sizeof(e->path), "/dir%llu/file-%llu", (unsigned long long)(seq % 5),
			 (unsigned long long)seq);
		e->op.path = e->path;
	}
	if (opc == ANK_OP_RENAME || opc == ANK_OP_LINK) {
		snprintf(e->path2, sizeof(e->path2), "/other/name-%llu-%s", (unsigned long long)seq,
			 seq % 2 ? "odd" : "even-longer-name");
		e->op.path2 = e->path2;
	}
	if (opc == ANK_OP_WRITE || opc == ANK_OP_PWRITE) {
		e->len = 1 + (size_t)(seq * 977) % data_max;
		for (size_t i = 0; i < e->len; i++)
			e->data[i] = data_byte(seq, i);
	}
	e->op.len = e->len ? e->len : seq;
	e->desc.client_id = 1 + seq % 4;
	e->desc.timestamp = 1000 + seq;
	e->desc.ipc_idx = (uint32_t)(seq % 32);
	e->desc.targets_status = (uint32_t)((seq | 1) & PLOG_STATUS_MASK);
	for (unsigned i = 0; i < PLOG_NTARGETS; i++)
		e->desc.targets[i] = seq * 10 + i + 1;
}

/* Every byte of a scanned entry is what make_entry() produced for its seq
 * (status, ipc_idx and timestamp are checked by the caller). */
static bool entry_content_ok(const struct plog_entry *e)
{
	struct ent x;
	make_entry(e->seq, &x);
	if (e->err || e->op.opcode != x.op.opcode || e->op.flags != x.op.flags ||
	    e->op.fd != x.op.fd || e->op.mode != x.op.mode || e->op.whence != x.op.whence ||
	    e->op.off != x.op.off || e->op.len != x.op.len || e->op.result != x.op.result ||
	    e->op.uid != x.op.uid || e->op.gid != x.op.gid || e->op.as_set != x.op.as_set ||
	    (x.op.as_set && (e->op.as_uid != x.op.as_uid || e->op.as_gid != x.op.as_gid)))
		return false;
	if (!x.op.path != !e->op.path || (x.op.path && strcmp(x.op.path, e->op.path)))
		return false;
	if (!x.op.path2 != !e->op.path2 || (x.op.path2 && strcmp(x.op.path2, e->op.path2)))
		return false;
	if (e->data_len != x.len || (x.len && memcmp(e->data, x.data, x.len)))
		return false;
	if (e->desc.client_id != x.desc.client_id)
		return false;
	return memcmp(e->desc.targets, x.desc.targets, sizeof(x.desc.targets)) == 0;
}

static int append_seq(struct plog *p, uint64_t seq, uint64_t *id)
{
	struct ent e;
	make_entry(seq, &e);
	return plog_append(p, &e.op, &e.desc, e.data, e.len, id);
}

/* ---- collecting a scan ---- */

#define MAXSEEN 4096
struct seen {
	long n, nerr, bad_content;
	uint64_t seq[MAXSEEN], id[MAXSEEN], ts[MAXSEEN];
	uint32_t status[MAXSEEN], ipc[MAXSEEN];
	int err[MAXSEEN];
	uint8_t desc_copy[MAXSEEN], op_copy[MAXSEEN];
	bool live[MAXSEEN];
};

static int seen_cb(const struct plog_entry *e, void *arg)
{
	struct seen *s = arg;
	if (s->n >= MAXSEEN)
		return -ERANGE;
	long i = s->n++;
	s->seq[i] = e->seq;
	s->id[i] = e->id;
	s->ts[i] = e->desc.timestamp;
	s->status[i] = e->desc.targets_status;
	s->ipc[i] = e->desc.ipc_idx;
	s->err[i] = e->err;
	s->desc_copy[i] = e->desc_copy;
	s->op_copy[i] = e->op_copy;
	s->live[i] = e->live;
	if (e->err)
		s->nerr++;
	else if (!entry_content_ok(e))
		s->bad_content++;
	return 0;
}

static struct seen *scan_all(const void *m, size_t size, unsigned flags, int *rc)
{
	struct seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	*rc = plog_scan(m, size, flags, seen_cb, s);
	return s;
}

static long find_seq(const struct seen *s, uint64_t seq)
{
	for (long i = 0; i < s->n; i++)
		if (s->seq[i] == seq)
			return i;
	return -1;
}

static void setup_log(void **m, size_t *size, uint64_t copy_size, struct plog *p)
{
	*m = region_new(copy_size, size);
	assert_int_equal(plog_format(*m, *size, 7), 0);
	assert_int_equal(plog_attach(*m, *size, p), 0);
}

/* ---- checksum ---- */

/* A stray write into the tables every checksum reads would make the
 * process compute wrong sums from then on without failing a check of its
 * own: it must fault instead. */
static void test_crc_tables_are_read_only_once_built(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* (not a sanitizer's report) */
		volatile uint32_t *t = (volatile uint32_t *)crc32c_tables();
		t[1] ^= 1u << 3; /* a flip in byte_table[1] */
		_exit(crc32c(0, "123456789", 9) == 0xE3069283u ? 0 : 1);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

static void test_three_stream_crc_matches_the_reference_crc32c(void **state)
{
	static uint8_t buf[3 * 8192 + 64];
	rng_state = 12345;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	for (size_t len = 0; len < sizeof(buf) - 64; len += 1 + len / 7) {
		for (size_t off = 0; off < 9; off += 3) {
			uint32_t seed = (uint32_t)rnd();
			assert_int_equal(crc32c(seed, buf + off, len), crc32c_sw(seed, buf + off, len));
		}
	}
	/* combine: crc(A || B) from crc(A), crc(B) and |B|, page length too */
	for (size_t la = 0; la < 9000; la += 1 + la / 3) {
		size_t lbs[] = {0, 1, 7, 64, 4095, 4096, 4097, (size_t)rnd() % 12000};
		for (size_t k = 0; k < sizeof(lbs) / sizeof(lbs[0]); k++) {
			size_t lb = lbs[k];
			if (la + lb > sizeof(buf))
				continue;
			uint32_t a = crc32c(0, buf, la), b = crc32c(0, buf + la, lb);
			assert_int_equal(crc32c_combine(a, b, lb), crc32c_sw(0, buf, la + lb));
		}
	}
	/* zeros: crc(crc, n zero bytes) without reading them */
	static const uint8_t nothing[9000];
	size_t ns[] = {0, 1, 7, 64, 4095, 4096, 4097, 9000, (size_t)rnd() % 9000};
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint32_t seed = (uint32_t)rnd();
		assert_int_equal(crc32c_zeros(seed, ns[k]), crc32c_sw(seed, nothing, ns[k]));
	}
	/* a record's checksum counts its crc field (bytes 4..7) as zero */
	for (size_t len = 8; len < 9000; len += 8 + len / 5) {
		uint32_t seed = (uint32_t)rnd();
		uint8_t *r = buf + 64;
		uint32_t want = crc32c(seed, r, 4);
		want = crc32c(want, "\0\0\0\0", 4);
		want = crc32c(want, r + 8, len - 8);
		assert_int_equal(plog_csum(seed, r, len), want);
	}
}

/* ---- the writer's own state ---- */

/* A child appends to a log, then (flip) one bit of the writer's in-memory
 * state changes behind its back, as a stray write would, and it appends
 * again: it must stop with SIGABRT rather than publish positions that
 * lose the log. Without the flip it finishes, and the log scans whole. */
static int writer_state_child(unsigned field, bool flip)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id;
	setup_log(&m, &size, PLOG_DEFAULT_COPY_SIZE, &p);
	for (uint64_t s = 0; s < 8; s++)
		if (append_seq(&p, s, &id) != 0)
			return 10;
	if (flip) {
		uint64_t *f[] = {&p.tail_pos, &p.head_pos, &p.head_seq, &p.copy_size,
				 (uint64_t *)(void *)&p.copy[1]};
		*f[field] ^= 1ull << 12;
	}
	if (append_seq(&p, 8, &id) != 0 || plog_gc(&p) < 0)
		return 11;
	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	int bad = rc != 9 || sn->nerr != 0;
	free(sn);
	return bad ? 12 : 0;
}

static void test_flipped_writer_state_stops_the_process(void **state)
{
	(void)state;
	for (unsigned field = 0; field < 5; field++)
		for (int flip = 0; flip <= 1; flip++) {
			fflush(stdout);
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				int null = open("/dev/null", O_WRONLY);
				dup2(null, 2);
				_exit(writer_state_child(field, flip));
			}
			int st = 0;
			assert_int_equal(waitpid(pid, &st, 0), pid);
			if (flip)
				assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
			else
				assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
}

/* ---- round trip ---- */

static void test_appended_entries_scan_back_with_every_field_path_and_data(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t ids[40];

	setup_log(&m, &size, PLOG_DEFAULT_COPY_SIZE, &p);
	for (uint64_t s = 0; s < 40; s++)
		assert_int_equal(append_seq(&p, s, &ids[s]), 0);

	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 40);
	assert_int_equal(sn->n, 40);
	assert_int_equal(sn->nerr, 0);
	assert_int_equal(sn->bad_content, 0);
	for (long i = 0; i < 40; i++) {
		struct ent x;
		make_entry((uint64_t)i, &x);
		assert_int_equal(sn->seq[i], (uint64_t)i);
		assert_int_equal(sn->id[i], ids[i]);
		assert_int_equal(sn->ts[i], x.desc.timestamp);
		assert_int_equal(sn->status[i], x.desc.targets_status);
		assert_int_equal(sn->ipc[i], x.desc.ipc_idx);
		assert_int_equal(sn->desc_copy[i], PLOG_PRIMARY);
		assert_int_equal(sn->op_copy[i], PLOG_PRIMARY);
	}
	free(sn);

	/* a full 1 MiB write with two maximal paths fits one entry */
	static uint8_t big[PLOG_DATA_MAX];
	static char longp[PLOG_PATH_MAX], longp2[PLOG_PATH_MAX];
	memset(longp, 'a', sizeof(longp) - 1);
	memset(longp2, 'b', sizeof(longp2) - 1);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	struct plog_op op = {.opcode = ANK_OP_RENAME, .path = longp, .path2 = longp2};
	struct plog_desc d = {.timestamp = 5000, .ipc_idx = PLOG_IPC_NONE, .targets_status = 1};
	uint64_t id;
	assert_int_equal(plog_append(&p, &op, &d, big, sizeof(big), &id), 0);
	struct plog_entry *all;
	size_t n;
	const void *mems[1] = {m};
	size_t sizes[1] = {size};
	assert_int_equal(plog_merge(mems, sizes, 1, 0, &all, &n, NULL), 0);
	assert_int_equal(n, 41);
	assert_int_equal(all[40].id, id);
	assert_int_equal(all[40].data_len, sizeof(big));
	assert_memory_equal(all[40].data, big, sizeof(big));
	assert_string_equal(all[40].op.path, longp);
	assert_string_equal(all[40].op.path2, longp2);
	free(all);
	region_free(m, size);
}

static void test_append_rejects_bad_arguments_without_writing(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	static char longp[PLOG_PATH_MAX + 1];
	static uint8_t big[PLOG_DATA_MAX + 1];
	struct plog_desc d = {.ipc_idx = PLOG_IPC_NONE, .targets_status = 1};
	struct plog_op op = {.opcode = ANK_OP_WRITE};

	setup_log(&m, &size, SMALL_COPY, &p);
	op.opcode = ANK_OP_NONE;
	assert_int_equal(plog_append(&p, &op, &d, NULL, 0, NULL), -EINVAL);
	op.opcode = ANK_OP_MAX;
	assert_int_equal(plog_append(&p, &op, &d, NULL, 0, NULL), -EINVAL);
	op.opcode = ANK_OP_WRITE;
	d.targets_status = 1u << PLOG_NTARGETS;
	assert_int_equal(plog_append(&p, &op, &d, NULL, 0, NULL), -EINVAL);
	d.targets_status = 1;
	assert_int_equal(plog_append(&p, &op, &d, NULL, 10, NULL), -EINVAL);
	assert_int_equal(plog_append(&p, &op, &d, big, sizeof(big), NULL), -EMSGSIZE);
	memset(longp, 'x', PLOG_PATH_MAX);
	op.path = longp;
	assert_int_equal(plog_append(&p, &op, &d, NULL, 0, NULL), -ENAMETOOLONG);
	op.path = NULL;
	/* larger than the whole area of a small log */
	assert_int_equal(plog_append(&p, &op, &d, big, SMALL_COPY, NULL), -E2BIG);
	assert_int_equal(plog_used(&p), 0);
	int rc;
	struct seen *sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(rc, 0);
	free(sn);
	region_free(m, size);
}

/* ---- status, ipc, reclaim ---- */

static void test_clearing_ipc_and_status_updates_both_copies(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[3];

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 3; s++)
		assert_int_equal(append_seq(&p, s, &id[s]), 0);
	assert_int_equal(plog_clear_ipc(&p, id[1]), 0);
	assert_int_equal(plog_clear_status(&p, id[1], PLOG_STATUS_MASK & ~1u), 0);
	assert_int_equal(plog_clear_status(&p, id[2], 1u << 5), -EINVAL);
	assert_int_equal(plog_clear_status(&p, id[2] + 64, 1), -ENOENT);
	assert_int_equal(plog_clear_ipc(&p, p.head_pos), -ENOENT);

	int rc;
	struct seen *sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(rc, 3);
	assert_int_equal(sn->ipc[1], PLOG_IPC_NONE);
	assert_int_equal(sn->status[1], 1);
	assert_true(sn->live[1]);
	free(sn);

	/* the replica holds the same update: break the primary descriptor */
	copy_base(m, PLOG_PRIMARY)[id[1] % SMALL_COPY + 9] ^= 0x40;
	sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(rc, 3);
	assert_int_equal(sn->desc_copy[1], PLOG_REPLICA);
	assert_int_equal(sn->ipc[1], PLOG_IPC_NONE);
	assert_int_equal(sn->status[1], 1);
	assert_int_equal(sn->bad_content, 0);
	free(sn);

	/* a later clear rewrites (and so heals) the primary */
	assert_int_equal(plog_clear_status(&p, id[1], 1), 0);
	sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(sn->desc_copy[1], PLOG_PRIMARY);
	assert_false(sn->live[1]);
	free(sn);
	sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 2); /* dead entries are not reported by default */
	assert_int_equal(find_seq(sn, 1), -1);
	free(sn);
	region_free(m, size);
}

static void test_gc_reclaims_only_a_prefix_of_dead_entries(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[10];

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 10; s++)
		assert_int_equal(append_seq(&p, s, &id[s]), 0);
	/* dead: 0, 1, 2 and 5; entry 3 still has ipc_idx set (exactly-once) */
	for (int s = 0; s < 6; s++) {
		if (s == 4)
			continue;
		assert_int_equal(plog_clear_status(&p, id[s], PLOG_STATUS_MASK), 0);
		if (s != 3)
			assert_int_equal(plog_clear_ipc(&p, id[s]), 0);
	}
	uint64_t used = plog_used(&p);
	assert_int_equal(plog_gc(&p), 3);
	assert_int_equal(plog_used(&p), used - (id[3] - id[0]));
	assert_int_equal(plog_gc(&p), 0);
	assert_int_equal(plog_clear_status(&p, id[1], 1), -ENOENT);

	int rc;
	struct seen *sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(rc, 7); /* 3..9, entry 5 dead but kept behind live 4 */
	assert_int_equal(sn->seq[0], 3);
	free(sn);
	sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 6);
	assert_int_equal(find_seq(sn, 5), -1);
	free(sn);

	assert_int_equal(plog_clear_ipc(&p, id[3]), 0);
	assert_int_equal(plog_clear_status(&p, id[4], PLOG_STATUS_MASK), 0);
	assert_int_equal(plog_clear_ipc(&p, id[4]), 0);
	assert_int_equal(plog_gc(&p), 3);
	/* a fresh attach sees the published tail */
	struct plog q;
	assert_int_equal(plog_attach(m, size, &q), 0);
	assert_int_equal(q.tail_pos, id[6]);
	assert_int_equal(q.head_pos, p.head_pos);
	assert_int_equal(q.head_seq, 10);
	region_free(m, size);
}

static void test_clear_matching_clears_one_target_of_older_entries(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[6];
	struct plog_op op = {.opcode = ANK_OP_WRITE};

	setup_log(&m, &size, SMALL_COPY, &p);
	for (int s = 0; s < 6; s++) {
		struct plog_desc d = {.ipc_idx = PLOG_IPC_NONE, .targets_status = 0x3};
		d.targets[PLOG_T_FD] = plog_fd_key(1, s % 2);
		d.targets[PLOG_T_INODE] = 100 + (uint64_t)(s % 3);
		assert_int_equal(plog_append(&p, &op, &d, "x", 1, &id[s]), 0);
	}
	/* inode 100 (entries 0 and 3) became durable before entry 3 was logged */
	assert_int_equal(plog_clear_matching(&p, PLOG_T_INODE, 100, id[3]), 1);
	/* fd 0 of client 1 closed: entries 0, 2, 4 */
	assert_int_equal(plog_clear_matching(&p, PLOG_T_FD, plog_fd_key(1, 0), UINT64_MAX), 3);
	assert_int_equal(plog_clear_matching(&p, PLOG_NTARGETS, 1, UINT64_MAX), -EINVAL);

	int rc;
	struct seen *sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_int_equal(rc, 6);
	uint32_t want[6] = {0x0, 0x3, 0x2, 0x3, 0x2, 0x3};
	for (int s = 0; s < 6; s++)
		assert_int_equal(sn->status[s], want[s]);
	free(sn);
	assert_int_equal(plog_gc(&p), 1);
	region_free(m, size);
}

static void test_full_log_refuses_with_enospc_and_keeps_every_live_entry(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[512];
	uint64_t n = 0;
	int rc;

	setup_log(&m, &size, SMALL_COPY, &p);
	while ((rc = append_seq(&p, n, &id[n])) == 0)
		n++;
	assert_int_equal(rc, -ENOSPC);
	assert_true(n > 4);
	uint64_t head = p.head_pos;
	assert_int_equal(append_seq(&p, n, NULL), -ENOSPC); /* and again: nothing moved */
	assert_int_equal(p.head_pos, head);

	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, (int)n);
	for (uint64_t s = 0; s < n; s++)
		assert_int_equal(sn->seq[s], s);
	assert_int_equal(sn->bad_content, 0);
	free(sn);

	/* a "sync" makes the two oldest dead; the append succeeds after reclaim */
	for (int s = 0; s < 2; s++) {
		assert_int_equal(plog_clear_status(&p, id[s], PLOG_STATUS_MASK), 0);
		assert_int_equal(plog_clear_ipc(&p, id[s]), 0);
	}
	while ((rc = append_seq(&p, n, &id[n])) == 0)
		n++;
	assert_int_equal(rc, -ENOSPC);
	sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, (int)n - 2);
	for (long i = 0; i < sn->n; i++)
		assert_int_equal(sn->seq[i], (uint64_t)i + 2);
	assert_int_equal(sn->bad_content, 0);
	free(sn);
	region_free(m, size);
}

/* Append through many laps while keeping the newest `keep` entries live;
 * after every step the scan shows exactly those, byte for byte. */
static void test_entries_wrap_around_the_area_many_times(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	enum { N = 3000, KEEP = 4 };
	static uint64_t id[N];

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < N; s++) {
		int rc = append_seq(&p, s, &id[s]);
		assert_int_equal(rc, 0);
		assert_int_equal(plog_clear_ipc(&p, id[s]), 0);
		if (s >= KEEP)
			assert_int_equal(plog_clear_status(&p, id[s - KEEP], PLOG_STATUS_MASK), 0);
		if (s % 97 == 0 || s > N - 3) {
			struct seen *sn = scan_all(m, size, 0, &rc);
			uint64_t first = s >= KEEP ? s - KEEP + 1 : 0;
			assert_int_equal(rc, (int)(s - first + 1));
			for (long i = 0; i < sn->n; i++)
				assert_int_equal(sn->seq[i], first + (uint64_t)i);
			assert_int_equal(sn->nerr, 0);
			assert_int_equal(sn->bad_content, 0);
			free(sn);
		}
	}
	assert_true(p.head_pos > 20 * (uint64_t)SMALL_COPY); /* many laps */
	region_free(m, size);
}

/* An empty log whose head is near the end of the area restarts at the next
 * lap for an entry that does not fit before the end. */
static void test_large_entry_in_an_empty_log_moves_to_the_next_lap(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	static uint8_t buf[SMALL_COPY];
	struct plog_op op = {.opcode = ANK_OP_PWRITE};
	struct plog_desc d = {.ipc_idx = PLOG_IPC_NONE, .targets_status = 1};
	uint64_t id0, id1;

	setup_log(&m, &size, SMALL_COPY, &p);
	assert_int_equal(plog_append(&p, &op, &d, buf, 1000, &id0), 0);
	assert_int_equal(plog_clear_status(&p, id0, 1), 0);
	/* nearly the whole area: cannot go after the dead entry */
	size_t big = SMALL_COPY - PLOG_DESC_SIZE - PLOG_OP_SIZE - 64;
	memset(buf, 0x5a, big);
	assert_int_equal(plog_append(&p, &op, &d, buf, big, &id1), 0);
	assert_int_equal(id1, SMALL_COPY);
	struct plog_entry *all;
	size_t n;
	const void *mems[1] = {m};
	size_t sizes[1] = {size};
	assert_int_equal(plog_merge(mems, sizes, 1, PLOG_SCAN_DEAD, &all, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].seq, 1);
	assert_int_equal(all[0].data_len, big);
	assert_memory_equal(all[0].data, buf, big);
	free(all);
	region_free(m, size);
}

/* ---- corruption ---- */

static void test_corrupt_primary_falls_back_to_the_replica(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[8];

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 8; s++)
		assert_int_equal(append_seq(&p, s, &id[s]), 0);
	uint8_t *pri = copy_base(m, PLOG_PRIMARY);
	/* entry 1: descriptor field; entry 2 (a write): a data byte; entry 3
	 * (a rename): a path byte; entry 5: the descriptor's magic; entry 6:
	 * the operation's crc */
	pri[id[1] % SMALL_COPY + 48] ^= 0x01;
	pri[id[2] % SMALL_COPY + PLOG_DESC_SIZE + PLOG_OP_SIZE + 5] ^= 0x10;
	pri[id[3] % SMALL_COPY + PLOG_DESC_SIZE + PLOG_OP_SIZE + 3] ^= 0x01;
	pri[id[5] % SMALL_COPY] ^= 0xff;
	pri[id[6] % SMALL_COPY + PLOG_DESC_SIZE + 4] ^= 0x02;

	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 8);
	assert_int_equal(sn->nerr, 0);
	assert_int_equal(sn->bad_content, 0);
	uint8_t want_desc[8] = {0, 1, 0, 0, 0, 1, 0, 0};
	uint8_t want_op[8] = {0, 0, 1, 1, 0, 0, 1, 0};
	for (int s = 0; s < 8; s++) {
		assert_int_equal(sn->seq[s], (uint64_t)s);
		assert_int_equal(sn->desc_copy[s], want_desc[s]);
		assert_int_equal(sn->op_copy[s], want_op[s]);
	}
	free(sn);
	region_free(m, size);
}

static void test_entry_corrupt_in_both_copies_is_reported_and_never_used(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[8];

	ank_corrupt_quiet = 1;
	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 8; s++)
		assert_int_equal(append_seq(&p, s, &id[s]), 0);
	for (unsigned c = 0; c < 2; c++) {
		uint8_t *b = copy_base(m, c);
		b[id[2] % SMALL_COPY + PLOG_DESC_SIZE + 40] ^= 0x04; /* op of 2 */
		b[id[5] % SMALL_COPY + 12] ^= 0x20;                  /* descriptor of 5 */
	}
	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 8);
	assert_int_equal(sn->nerr, 2);
	assert_int_equal(sn->bad_content, 0);
	for (int s = 0; s < 8; s++)
		assert_int_equal(sn->seq[s], (uint64_t)s);
	assert_int_equal(sn->err[2], -EUCLEAN);
	assert_int_equal(sn->id[2], id[2]); /* its descriptor still tells where */
	assert_int_equal(sn->err[5], -EUCLEAN);
	assert_int_equal(sn->id[5], PLOG_ID_NONE);
	assert_int_equal(sn->desc_copy[5], PLOG_COPY_NONE);
	assert_int_equal(sn->err[6], 0); /* found again after the hole */
	free(sn);

	/* the writer refuses to append over a log with a lost committed entry */
	struct plog q;
	assert_int_equal(plog_attach(m, size, &q), -EUCLEAN);

	/* the last entry broken in both copies is not taken for the end */
	for (unsigned c = 0; c < 2; c++)
		copy_base(m, c)[id[7] % SMALL_COPY + 8] ^= 0x01;
	sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 8);
	assert_int_equal(sn->err[7], -EUCLEAN);
	free(sn);
	ank_corrupt_quiet = 0;
	region_free(m, size);
}

static void test_header_is_checked_and_its_copy_used(void **state)
{
	void *m;
	size_t size;
	struct plog p;

	m = region_new(SMALL_COPY, &size);
	assert_int_equal(plog_attach(m, size, &p), -EPROTO); /* zeroes: not a p-log */
	assert_int_equal(plog_format(m, 1000, 0), -EINVAL);
	assert_int_equal(plog_format(m, size, 3), 0);
	assert_int_equal(plog_attach(m, size - 64, &p), -EINVAL);
	assert_int_equal(plog_attach(m, size, &p), 0);
	assert_int_equal(p.worker, 3);
	assert_int_equal(append_seq(&p, 0, NULL), 0);

	struct plog_header *h = m;
	h->info.copy_size ^= 64; /* breaks the first info's crc */
	assert_int_equal(plog_attach(m, size, &p), 0);
	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 1);
	free(sn);
	h->info_copy.salt ^= 1;
	assert_int_equal(plog_attach(m, size, &p), -EUCLEAN);
	assert_int_equal(plog_scan(m, size, 0, NULL, NULL), -EUCLEAN);

	/* a valid header of another version is refused as another layout */
	assert_int_equal(plog_format(m, size, 3), 0);
	h->info.version = PLOG_VERSION + 1;
	h->info.crc = 0; /* re-signed: CRC32C seed 0, crc field zero */
	h->info.crc = crc32c(0, &h->info, sizeof(h->info));
	h->info_copy = h->info;
	assert_int_equal(plog_attach(m, size, &p), -EPROTO);
	region_free(m, size);
}

static void test_broken_position_record_falls_back_to_the_previous_one(void **state)
{
	void *m;
	size_t size;
	struct plog p, q;

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 4; s++)
		assert_int_equal(append_seq(&p, s, NULL), 0);
	struct plog_header *h = m;
	h->pos[p.serial & 1].head_seq ^= 1; /* the newest slot no longer checks */
	int rc;
	struct seen *sn = scan_all(m, size, 0, &rc);
	assert_int_equal(rc, 4); /* the older slot's head is one short: still all */
	assert_int_equal(sn->nerr, 0);
	free(sn);
	assert_int_equal(plog_attach(m, size, &q), 0);
	assert_int_equal(q.head_seq, 4);
	assert_int_equal(q.serial, p.serial - 1);
	assert_int_equal(append_seq(&q, 4, NULL), 0); /* rewrites the broken slot */
	assert_int_equal(plog_scan(m, size, 0, NULL, NULL), 5);
	h->pos[0].crc ^= 1;
	h->pos[1].crc ^= 1;
	assert_int_equal(plog_scan(m, size, 0, NULL, NULL), -EUCLEAN);
	region_free(m, size);
}

static void test_format_bumps_the_generation_and_old_entries_never_parse(void **state)
{
	void *m;
	size_t size;
	struct plog p;

	setup_log(&m, &size, SMALL_COPY, &p);
	for (uint64_t s = 0; s < 5; s++)
		assert_int_equal(append_seq(&p, s, NULL), 0);
	uint32_t gen = ((struct plog_header *)m)->info.generation;
	assert_int_equal(plog_format(m, size, 7), 0);
	assert_int_equal(((struct plog_header *)m)->info.generation, gen + 1);
	assert_int_equal(plog_scan(m, size, PLOG_SCAN_DEAD, NULL, NULL), 0);
	assert_int_equal(plog_attach(m, size, &p), 0);
	assert_int_equal(p.head_pos, 0);
	assert_int_equal(append_seq(&p, 0, NULL), 0);
	assert_int_equal(plog_scan(m, size, PLOG_SCAN_DEAD, NULL, NULL), 1);
	region_free(m, size);
}

/* ---- the writer dies after any store ---- */

struct crash_rec {
	uint8_t *region;
	size_t size;
	int nsnap;
	uint8_t *snap[256];
	size_t off[256], len[256];
};

static void crash_hook(void *arg, const void *addr, size_t len)
{
	struct crash_rec *r = arg;
	assert_true(r->nsnap < 256);
	r->off[r->nsnap] = (size_t)((const uint8_t *)addr - r->region);
	r->len[r->nsnap] = len;
	r->snap[r->nsnap++] = region_dup(r->region, r->size);
}

/* What a scan of a crash image must show: each entry complete, with status
 * and ipc_idx from before or after the operation; every entry live before
 * is still there; no corruption reported. */
struct expect {
	uint64_t seq_lo, seq_hi;           /* seqs that may appear [lo, hi] */
	bool must[MAXSEEN];                /* live before: must appear */
	uint64_t changed_seq;              /* entry whose desc the op changes */
	uint32_t st_before, st_after, ipc_before, ipc_after;
	uint32_t status_of[MAXSEEN];       /* status of the others, by seq */
	uint32_t ipc_of[MAXSEEN];
};

static void check_image(const uint8_t *img, size_t size, const struct expect *x, bool try_append)
{
	int rc;
	struct seen *sn = scan_all(img, size, PLOG_SCAN_DEAD, &rc);
	assert_true(rc >= 0);
	assert_int_equal(sn->nerr, 0);
	assert_int_equal(sn->bad_content, 0);
	for (long i = 0; i < sn->n; i++) {
		uint64_t s = sn->seq[i];
		assert_true(s >= x->seq_lo && s <= x->seq_hi);
		if (i)
			assert_int_equal(s, sn->seq[i - 1] + 1);
		if (s == x->changed_seq) {
			assert_true(sn->status[i] == x->st_before || sn->status[i] == x->st_after);
			assert_true(sn->ipc[i] == x->ipc_before || sn->ipc[i] == x->ipc_after);
		} else {
			assert_int_equal(sn->status[i], x->status_of[s]);
			assert_int_equal(sn->ipc[i], x->ipc_of[s]);
		}
	}
	for (uint64_t s = x->seq_lo; s <= x->seq_hi && s < MAXSEEN; s++)
		if (x->must[s])
			assert_true(find_seq(sn, s) >= 0);
	free(sn);

	if (try_append) {
		/* a fresh process attaches and goes on appending */
		uint8_t *c = region_dup(img, size);
		struct plog q;
		assert_int_equal(plog_attach(c, size, &q), 0);
		uint64_t next = q.head_seq;
		rc = append_seq(&q, next, NULL);
		if (rc == -ENOSPC) {
			assert_true(plog_gc(&q) >= 0);
		} else {
			assert_int_equal(rc, 0);
			sn = scan_all(c, size, PLOG_SCAN_DEAD, &rc);
			assert_int_equal(sn->nerr, 0);
			assert_int_equal(sn->bad_content, 0);
			assert_true(find_seq(sn, next) >= 0);
			free(sn);
		}
		free(c);
	}
}

/* Rebuild every state a death inside `run` could leave: after each store
 * group, and inside each group any prefix, suffix or random subset of its
 * bytes (the compiler and CPU may order stores within a group freely). */
static long replay_crashes(void *m, size_t size, void (*run)(void *arg), void *arg,
			   const struct expect *x)
{
	struct crash_rec *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->region = m;
	r->size = size;
	uint8_t *before = region_dup(m, size);
	plog_fault_hook_arg = r;
	plog_fault_hook = crash_hook;
	run(arg);
	plog_fault_hook = NULL;
	plog_fault_hook_arg = NULL;

	long images = 0;
	uint8_t *img = malloc(size);
	assert_non_null(img);
	check_image(before, size, x, true);
	for (int g = 0; g < r->nsnap; g++) {
		const uint8_t *prev = g ? r->snap[g - 1] : before, *next = r->snap[g];
		size_t off = r->off[g], len = r->len[g];
		size_t step = len > 256 ? len / 97 : 1;
		for (size_t k = 0; k <= len; k += step) {
			memcpy(img, prev, size);
			memcpy(img + off, next + off, k); /* first k bytes landed */
			check_image(img, size, x, k % (4 * step) == 0);
			memcpy(img, prev, size);
			memcpy(img + off + k, next + off + k, len - k); /* last ones */
			check_image(img, size, x, false);
			images += 2;
		}
		for (int t = 0; t < 8; t++) {
			memcpy(img, prev, size);
			for (size_t b = 0; b < len; b++)
				if (rnd() & 1)
					img[off + b] = next[off + b];
			check_image(img, size, x, t == 0);
			images++;
		}
		check_image(next, size, x, true);
	}
	free(img);
	free(before);
	for (int g = 0; g < r->nsnap; g++)
		free(r->snap[g]);
	free(r);
	return images;
}

struct crash_op {
	struct plog *p;
	int kind; /* 0 append, 1 clear status, 2 clear ipc, 3 gc */
	uint64_t seq, id;
	int rc;
};

static void crash_run(void *arg)
{
	struct crash_op *o = arg;
	switch (o->kind) {
	case 0:
		o->rc = append_seq(o->p, o->seq, &o->id);
		break;
	case 1:
		o->rc = plog_clear_status(o->p, o->id, PLOG_STATUS_MASK & ~1u);
		break;
	case 2:
		o->rc = plog_clear_ipc(o->p, o->id);
		break;
	default:
		o->rc = plog_gc(o->p);
		break;
	}
}

static void expect_from_scan(const void *m, size_t size, struct expect *x)
{
	int rc;
	struct seen *sn = scan_all(m, size, PLOG_SCAN_DEAD, &rc);
	assert_true(rc >= 0);
	memset(x, 0, sizeof(*x));
	x->changed_seq = UINT64_MAX;
	x->seq_lo = sn->n ? sn->seq[0] : 0;
	x->seq_hi = sn->n ? sn->seq[sn->n - 1] : 0;
	for (long i = 0; i < sn->n; i++) {
		x->status_of[sn->seq[i]] = sn->status[i];
		x->ipc_of[sn->seq[i]] = sn->ipc[i];
		x->must[sn->seq[i]] = sn->live[i];
	}
	free(sn);
}

static void test_writer_death_after_any_store_never_yields_a_half_written_entry(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t id[64];
	long images = 0;
	uint64_t seed = test_seed();
	rng_state = seed | 1;
	print_message("seed %llu\n", (unsigned long long)seed);

	setup_log(&m, &size, SMALL_COPY, &p);
	uint64_t n = 0;
	struct crash_op o = {.p = &p};
	struct expect *x = calloc(1, sizeof(*x));
	assert_non_null(x);

	/* 1: the first append into an empty log */
	expect_from_scan(m, size, x);
	x->seq_hi = 0;
	struct ent e0;
	make_entry(0, &e0);
	x->status_of[0] = e0.desc.targets_status;
	x->ipc_of[0] = e0.desc.ipc_idx;
	o.kind = 0;
	o.seq = n;
	images += replay_crashes(m, size, crash_run, &o, x);
	assert_int_equal(o.rc, 0);
	id[n++] = o.id;

	/* 2: appends until the log wraps, reclaiming as it goes; each append is
	 * replayed, so some need a reclaim, a wrap marker, or both */
	while (p.head_pos < 3 * (uint64_t)SMALL_COPY / 2) {
		if (n >= 3) {
			plog_clear_ipc(&p, id[n - 3]);
			plog_clear_status(&p, id[n - 3], PLOG_STATUS_MASK);
		}
		/* a reclaim may drop dead entries from the image, never live
		 * ones; the new entry may be there or not, but only whole */
		expect_from_scan(m, size, x);
		x->seq_hi = n;
		struct ent e;
		make_entry(n, &e);
		x->status_of[n] = e.desc.targets_status;
		x->ipc_of[n] = e.desc.ipc_idx;
		o.kind = 0;
		o.seq = n;
		images += replay_crashes(m, size, crash_run, &o, x);
		assert_int_equal(o.rc, 0);
		id[n++] = o.id;
		assert_true(n < 64);
	}
	/* those appends went through reclaim and across the end of the area */
	assert_true(p.gc_reclaimed > 0);
	assert_true(p.head_pos > SMALL_COPY);

	/* 3: clearing status bits, clearing ipc_idx, and a reclaim */
	for (int kind = 1; kind <= 3; kind++) {
		expect_from_scan(m, size, x);
		uint64_t s = n - 1;
		x->changed_seq = s;
		x->st_before = x->status_of[s];
		x->ipc_before = x->ipc_of[s];
		x->st_after = kind == 1 ? x->st_before & 1u : x->st_before;
		x->ipc_after = kind == 2 ? PLOG_IPC_NONE : x->ipc_before;
		if (kind == 3) {
			/* make every older entry dead first: the reclaim moves the
			 * tail past them, the newest stays */
			for (uint64_t t = 0; t + 1 < n; t++) {
				plog_clear_ipc(&p, id[t]);
				plog_clear_status(&p, id[t], PLOG_STATUS_MASK);
			}
			expect_from_scan(m, size, x);
			x->changed_seq = s;
			x->st_before = x->st_after = x->status_of[s];
			x->ipc_before = x->ipc_after = x->ipc_of[s];
		}
		o.kind = kind;
		o.id = id[s];
		images += replay_crashes(m, size, crash_run, &o, x);
		assert_true(o.rc >= 0);
	}
	print_message("%ld crash images checked\n", images);
	free(x);
	region_free(m, size);
}

/* ---- SIGKILL at random times ---- */

struct progress {
	uint64_t done; /* [child, atomic] seqs below this were appended and settled */
	uint64_t kills;
};

enum { KEEP_LIVE = 6 };

static int collect_live(const struct plog_entry *e, void *arg)
{
	uint64_t *ids = arg; /* ids[0] = count, then (seq, id) pairs */
	if (ids[0] < 64) {
		ids[1 + 2 * ids[0]] = e->seq;
		ids[2 + 2 * ids[0]] = e->id;
		ids[0]++;
	}
	return 0;
}

static void child_writer(void *m, size_t size, struct progress *pr)
{
	struct plog p;
	uint64_t live[64 * 2 + 1] = {0};
	uint64_t ring[KEEP_LIVE + 64];
	unsigned nring = 0;

	if (plog_attach(m, size, &p))
		_exit(3);
	if (plog_scan(m, size, 0, collect_live, live) < 0)
		_exit(4);
	/* settle what the previous writer left: keep the newest KEEP_LIVE live
	 * (announced first: the parent then expects exactly those) */
	__atomic_store_n(&pr->done, p.head_seq, __ATOMIC_RELEASE);
	for (uint64_t i = 0; i < live[0]; i++) {
		uint64_t id = live[2 + 2 * i];
		if (plog_clear_ipc(&p, id))
			_exit(5);
		if (live[0] - i > KEEP_LIVE) {
			if (plog_clear_status(&p, id, PLOG_STATUS_MASK))
				_exit(6);
		} else {
			ring[nring++] = id;
		}
	}
	for (;;) {
		uint64_t seq = p.head_seq, id;
		int rc = append_seq(&p, seq, &id);
		if (rc)
			_exit(7);
		if (plog_clear_ipc(&p, id))
			_exit(8);
		ring[nring++] = id;
		__atomic_store_n(&pr->done, seq + 1, __ATOMIC_RELEASE);
		if (nring > KEEP_LIVE) {
			if (plog_clear_status(&p, ring[0], PLOG_STATUS_MASK))
				_exit(9);
			memmove(ring, ring + 1, (nring - 1) * sizeof(ring[0]));
			nring--;
		}
	}
}

static void test_writer_killed_at_random_times_leaves_a_log_the_next_one_continues(void **state)
{
	void *m;
	size_t size;
	struct plog p;
	uint64_t seed = test_seed();
	rng_state = seed | 1;
	print_message("seed %llu\n", (unsigned long long)seed);

	setup_log(&m, &size, 65536, &p);
	struct progress *pr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				   -1, 0);
	assert_true(pr != MAP_FAILED);
	uint64_t prev_done = 0, total_lost_tail = 0;
	for (int round = 0; round < 150; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			child_writer(m, size, pr);
			_exit(0);
		}
		usleep((useconds_t)(200 + rnd() % 3000));
		kill(pid, SIGKILL);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st)); /* an _exit(n) would be a writer error */
		uint64_t done = __atomic_load_n(&pr->done, __ATOMIC_ACQUIRE);
		assert_true(done >= prev_done);

		int rc;
		struct seen *sn = scan_all(m, size, 0, &rc);
		assert_true(rc >= 0);
		assert_int_equal(sn->nerr, 0);
		assert_int_equal(sn->bad_content, 0);
		/* the newest settled entries are all there, live */
		uint64_t lo = done > KEEP_LIVE ? done - KEEP_LIVE : 0;
		for (uint64_t s = lo; s < done; s++)
			assert_true(find_seq(sn, s) >= 0);
		for (long i = 0; i < sn->n; i++) {
			uint64_t s = sn->seq[i];
			/* nothing older than the kept ones and up to two a death
			 * left before they were cleared; at most one newer */
			assert_true(s + KEEP_LIVE + 2 >= done && s <= done);
			assert_true(sn->ipc[i] == PLOG_IPC_NONE || sn->ipc[i] == s % 32);
		}
		if (sn->n && sn->seq[sn->n - 1] == done)
			total_lost_tail++; /* died after the commit, before "done" */
		free(sn);
		prev_done = done;
	}
	print_message("last seq %llu; %llu deaths fell between commit and return\n",
		      (unsigned long long)prev_done, (unsigned long long)total_lost_tail);
	assert_true(prev_done > 150);
	munmap(pr, 4096);
	region_free(m, size);
}

/* ---- merge ---- */

static void test_merge_orders_three_workers_by_timestamp(void **state)
{
	void *m[3];
	size_t size[3];
	struct plog p[3];
	uint64_t ts = 1;

	for (int w = 0; w < 3; w++) {
		m[w] = region_new(SMALL_COPY, &size[w]);
		assert_int_equal(plog_format(m[w], size[w], (uint32_t)w), 0);
		assert_int_equal(plog_attach(m[w], size[w], &p[w]), 0);
	}
	/* a shared timestamp counter; workers append in a shuffled order */
	uint64_t seq_of_ts[200];
	int worker_of_ts[200];
	for (int i = 0; i < 60; i++) {
		int w = (int)((i * 7 + i / 3) % 3);
		struct ent e;
		make_entry(p[w].head_seq, &e);
		e.desc.timestamp = ts;
		seq_of_ts[ts] = p[w].head_seq;
		worker_of_ts[ts] = w;
		assert_int_equal(plog_append(&p[w], &e.op, &e.desc, e.data, e.len, NULL), 0);
		ts++;
	}
	const void *mems[3] = {m[0], m[1], m[2]};
	struct plog_entry *all;
	size_t n;
	int errs[3];
	assert_int_equal(plog_merge(mems, size, 3, 0, &all, &n, errs), 0);
	assert_int_equal(n, 60);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(all[i].desc.timestamp, i + 1);
		assert_int_equal(all[i].region, (uint32_t)worker_of_ts[i + 1]);
		assert_int_equal(all[i].worker, (uint32_t)worker_of_ts[i + 1]);
		assert_int_equal(all[i].seq, seq_of_ts[i + 1]);
		assert_int_equal(all[i].err, 0);
	}
	free(all);

	/* a worker whose header is gone is reported; the others still merge;
	 * an entry lost in both copies keeps its place in its worker's order */
	ank_corrupt_quiet = 1;
	memset(m[1], 0, 512);
	struct plog_entry *v;
	uint64_t id2 = 0;
	{
		struct seen *sn;
		int rc;
		sn = scan_all(m[2], size[2], 0, &rc);
		id2 = sn->id[3];
		free(sn);
	}
	for (unsigned c = 0; c < 2; c++)
		copy_base(m[2], c)[id2 % SMALL_COPY + 8] ^= 1;
	assert_int_equal(plog_merge(mems, size, 3, 0, &v, &n, errs), -EPROTO);
	assert_int_equal(errs[0], 0);
	assert_int_equal(errs[1], -EPROTO);
	assert_int_equal(errs[2], 0);
	uint64_t last_ts = 0;
	int lost = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(v[i].region != 1);
		assert_true(v[i].order_ts >= last_ts);
		last_ts = v[i].order_ts;
		if (v[i].err) {
			lost++;
			assert_int_equal(v[i].region, 2);
			assert_int_equal(v[i].seq, 3);
			/* right after worker 2's entry 2 */
			assert_int_equal(v[i - 1].region, 2);
			assert_int_equal(v[i - 1].seq, 2);
		}
	}
	assert_int_equal(lost, 1);
	free(v);
	ank_corrupt_quiet = 0;
	for (int w = 0; w < 3; w++)
		region_free(m[w], size[w]);
}

/* ---- fuzz ---- */

static uint32_t salted(const void *mem, const void *rec, size_t len)
{
	const struct plog_header *h = mem;
	uint32_t seed = (uint32_t)h->info.salt ^ (uint32_t)(h->info.salt >> 32);
	static const uint8_t z[4];
	uint32_t c = crc32c(seed, rec, 4);
	c = crc32c(c, z, 4);
	return crc32c(c, (const uint8_t *)rec + 8, len - 8);
}

static int count_cb(const struct plog_entry *e, void *arg)
{
	long *n = arg;
	(*n)++;
	/* touch every byte the entry points to: ASan checks the bounds */
	volatile uint8_t sink = 0;
	if (e->err == 0) {
		for (uint32_t i = 0; i < e->data_len; i++)
			sink ^= ((const uint8_t *)e->data)[i];
		if (e->op.path)
			sink ^= (uint8_t)strlen(e->op.path);
		if (e->op.path2)
			sink ^= (uint8_t)strlen(e->op.path2);
	}
	(void)sink;
	return 0;
}

/* Mutate a genuine log, re-signing what it changes so the reader goes past
 * the checksums into its bounds checks. */
static void mutate(uint8_t *m, size_t size, uint64_t copy_size)
{
	struct plog_header *h = (struct plog_header *)m;
	uint8_t *area = m + PLOG_HEADER_SIZE + (rnd() & 1) * copy_size;
	uint64_t off = (rnd() % (copy_size / 64)) * 64;
	switch (rnd() % 8) {
	case 0: /* random bytes anywhere */
		for (int i = 0; i < 1 + (int)(rnd() % 16); i++)
			m[rnd() % size] = (uint8_t)rnd();
		break;
	case 1: { /* a descriptor with a random field, re-signed */
		struct plog_desc_rec *d = (struct plog_desc_rec *)(area + off);
		uint32_t *w = (uint32_t *)d + 2 + rnd() % 30;
		*w = (rnd() & 1) ? (uint32_t)rnd() : *w + (uint32_t)(rnd() % 5) - 2;
		if (off + sizeof(*d) <= copy_size)
			d->crc = salted(m, d, sizeof(*d));
		break;
	}
	case 2: { /* an op header with random lengths, op crc and desc re-signed */
		struct plog_desc_rec *d = (struct plog_desc_rec *)(area + off);
		if (off + 256 > copy_size || d->magic != PLOG_DESC_MAGIC)
			break;
		struct plog_op_rec *o = (struct plog_op_rec *)(area + off + PLOG_DESC_SIZE);
		uint32_t *w = (uint32_t *)o + 4 + rnd() % 28;
		*w = (uint32_t)rnd() % 9000;
		uint64_t maxlen = copy_size - off - PLOG_DESC_SIZE;
		if (rnd() & 1)
			d->op_len = (uint32_t)(rnd() % maxlen);
		if (d->op_len >= 8 && d->op_len <= maxlen) {
			o->crc = salted(m, o, d->op_len);
			d->op_crc = o->crc;
		}
		d->crc = salted(m, d, sizeof(*d));
		break;
	}
	case 3: { /* a position record pointing anywhere */
		struct plog_pos *r = &h->pos[rnd() & 1];
		r->tail_pos = rnd() % (4 * copy_size) & ~(uint64_t)63;
		r->head_pos = r->tail_pos + rnd() % (copy_size + 1);
		r->tail_seq = rnd() % 64;
		r->head_seq = r->tail_seq + rnd() % 64;
		r->serial = (r->serial & 1) + 2 * (rnd() % 100);
		r->crc = salted(m, r, sizeof(*r));
		break;
	}
	case 4: /* a wrap marker with random fields */ {
		struct plog_wrap_rec *w = (struct plog_wrap_rec *)(area + off);
		w->magic = PLOG_WRAP_MAGIC;
		w->seq = rnd() % 64;
		w->pos = (rnd() & 1) ? off : rnd();
		w->generation = h->info.generation;
		w->crc = salted(m, w, sizeof(*w));
		break;
	}
	case 5: /* copy one record over another position */
		memcpy(area + off, area + (rnd() % (copy_size / 64)) * 64, 64);
		break;
	case 6: /* bit flips */
		for (int i = 0; i < 4; i++)
			m[rnd() % size] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	default: /* the info copies' sizes, re-signed */
		h->info.copy_size = rnd() % (2 * copy_size);
		h->info.crc = 0;
		h->info.crc = crc32c(0, &h->info, sizeof(h->info));
		break;
	}
}

static void test_random_bytes_never_crash_the_reader(void **state)
{
	uint64_t seed = test_seed();
	rng_state = seed | 1;
	print_message("seed %llu\n", (unsigned long long)seed);
	ank_corrupt_quiet = 1;

	size_t size;
	void *m = region_new(SMALL_COPY, &size);
	long reported = 0, scans_ok = 0;
	/* pure noise */
	for (int i = 0; i < 300; i++) {
		for (size_t b = 0; b < size; b += 8) {
			uint64_t v = rnd();
			memcpy((uint8_t *)m + b, &v, 8);
		}
		if (i % 2) { /* a valid-looking magic to get past the first check */
			((struct plog_header *)m)->info.magic = PLOG_MAGIC;
		}
		(void)plog_scan(m, size, PLOG_SCAN_DEAD, count_cb, &reported);
		struct plog q;
		(void)plog_attach(m, size, &q);
	}
	/* genuine logs, mutated */
	struct plog p;
	uint8_t *img = malloc(size);
	assert_non_null(img);
	for (int round = 0; round < 60; round++) {
		assert_int_equal(plog_format(m, size, 1), 0);
		assert_int_equal(plog_attach(m, size, &p), 0);
		for (uint64_t s = 0; s < 40; s++) {
			uint64_t id;
			int rc = append_seq(&p, s, &id);
			if (rc == -ENOSPC)
				break;
			if (s % 3 == 0)
				plog_clear_status(&p, id, PLOG_STATUS_MASK);
			if (s % 2 == 0)
				plog_clear_ipc(&p, id);
			if (s % 5 == 0)
				plog_gc(&p);
		}
		for (int k = 0; k < 60; k++) {
			memcpy(img, m, size);
			int nmut = 1 + (int)(rnd() % 6);
			for (int j = 0; j < nmut; j++)
				mutate(img, size, SMALL_COPY);
			int rc = plog_scan(img, size, PLOG_SCAN_DEAD, count_cb, &reported);
			if (rc >= 0)
				scans_ok++;
			struct plog q;
			if (plog_attach(img, size, &q) == 0) {
				/* a log the writer accepts can take an append */
				rc = append_seq(&q, q.head_seq, NULL);
				assert_true(rc == 0 || rc == -ENOSPC || rc == -EUCLEAN);
			}
		}
	}
	print_message("%ld scans completed, %ld entries reported\n", scans_ok, reported);
	free(img);
	region_free(m, size);
	ank_corrupt_quiet = 0;
}

/* ---- protection ---- */

static void test_protection_mode_is_reported_and_blocks_stray_writes(void **state)
{
	void *m;
	size_t size;
	struct plog p;

	setup_log(&m, &size, SMALL_COPY, &p);
	assert_int_equal(plog_protect_init(m, size), 0);
	enum plog_protection mode = plog_protection_mode();
	print_message("p-log protection on this machine: %s\n", plog_protection_name(mode));
	/* the writer functions work whatever the mode */
	uint64_t id;
	assert_int_equal(append_seq(&p, 0, &id), 0);
	assert_int_equal(plog_clear_ipc(&p, id), 0);
	assert_int_equal(plog_scan(m, size, 0, NULL, NULL), 1);
	if (mode == PLOG_PROTECT_PKEY) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			((volatile uint8_t *)m)[PLOG_HEADER_SIZE] = 1; /* must fault */
			_exit(0);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	} else {
		assert_int_equal(mode, PLOG_PROTECT_NONE);
	}
	region_free(m, size);
}

/* ---- cost ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_append_ns(size_t data_len, bool with_path, int runs, int per_run)
{
	void *m;
	size_t size;
	struct plog p;
	double *ns = calloc((size_t)runs, sizeof(double));
	static uint8_t buf[4096];
	assert_non_null(ns);
	memset(buf, 0x33, sizeof(buf));
	struct plog_op op = {.opcode = with_path ? ANK_OP_OPEN : ANK_OP_PWRITE, .fd = 3,
			     .len = data_len, .path = with_path ? "/home/user/project/file.c" : NULL};
	struct plog_desc d = {.client_id = 1, .ipc_idx = 5, .targets_status = 0x3};
	m = region_new(PLOG_DEFAULT_COPY_SIZE, &size);
	memset(m, 0, size); /* fault the pages in */
	for (int r = 0; r < runs; r++) {
		assert_int_equal(plog_format(m, size, 0), 0);
		assert_int_equal(plog_attach(m, size, &p), 0);
		uint64_t t0 = ank_mono_ns();
		for (int i = 0; i < per_run; i++) {
			d.timestamp = (uint64_t)i;
			if (plog_append(&p, &op, &d, buf, data_len, NULL))
				fail();
		}
		ns[r] = (double)(ank_mono_ns() - t0) / per_run;
	}
	qsort(ns, (size_t)runs, sizeof(double), cmp_double);
	double med = ns[runs / 2];
	free(ns);
	region_free(m, size);
	return med;
}

static double median_clear_ns(int runs, int per_run)
{
	void *m;
	size_t size;
	struct plog p;
	double *ns = calloc((size_t)runs, sizeof(double));
	uint64_t *ids = calloc((size_t)per_run, sizeof(uint64_t));
	struct plog_op op = {.opcode = ANK_OP_LSEEK};
	struct plog_desc d = {.ipc_idx = 5, .targets_status = 0x1};
	m = region_new(PLOG_DEFAULT_COPY_SIZE, &size);
	for (int r = 0; r < runs; r++) {
		assert_int_equal(plog_format(m, size, 0), 0);
		assert_int_equal(plog_attach(m, size, &p), 0);
		for (int i = 0; i < per_run; i++)
			assert_int_equal(plog_append(&p, &op, &d, NULL, 0, &ids[i]), 0);
		uint64_t t0 = ank_mono_ns();
		for (int i = 0; i < per_run; i++)
			if (plog_clear_ipc(&p, ids[i]))
				fail();
		ns[r] = (double)(ank_mono_ns() - t0) / per_run;
	}
	qsort(ns, (size_t)runs, sizeof(double), cmp_double);
	double med = ns[runs / 2];
	free(ns);
	free(ids);
	region_free(m, size);
	return med;
}

/* Time to scan a full default-size log of live entries (recovery's cost). */
static double full_scan_us(size_t data_len, bool with_path)
{
	void *m;
	size_t size;
	struct plog p;
	static uint8_t buf[4096];
	struct plog_op op = {.opcode = with_path ? ANK_OP_OPEN : ANK_OP_PWRITE, .fd = 3,
			     .len = data_len, .path = with_path ? "/home/user/project/file.c" : NULL};
	struct plog_desc d = {.client_id = 1, .ipc_idx = PLOG_IPC_NONE, .targets_status = 0x3};
	setup_log(&m, &size, PLOG_DEFAULT_COPY_SIZE, &p);
	while (plog_append(&p, &op, &d, buf, data_len, NULL) == 0)
		d.timestamp++;
	double best = 1e30;
	for (int r = 0; r < 5; r++) {
		uint64_t t0 = ank_mono_ns();
		int n = plog_scan(m, size, 0, NULL, NULL);
		double us = (double)(ank_mono_ns() - t0) / 1000;
		assert_int_equal((uint64_t)n, d.timestamp);
		best = us < best ? us : best;
	}
	print_message("scan of a full 4 MiB log, %llu live %s entries: %.0f us\n",
		      (unsigned long long)d.timestamp, with_path ? "metadata" : "4 KiB write", best);
	region_free(m, size);
	return best;
}

static void test_append_cost_is_measured(void **state)
{
	/* 4 KiB entries: 900 fill 3.9 MiB of the 4 MiB area, no reclaim */
	double w4k = median_append_ns(4096, false, 21, 900);
	double meta = median_append_ns(0, true, 21, 5000);
	double clr = median_clear_ns(21, 5000);
	print_message("append 4 KiB write entry: %.0f ns (median of 21 runs)\n", w4k);
	print_message("append metadata entry (open, 26-byte path): %.0f ns\n", meta);
	print_message("clear ipc_idx (step 4): %.0f ns\n", clr);
	assert_true(w4k > 0 && meta > 0);
	assert_true(full_scan_us(4096, false) > 0);
	assert_true(full_scan_us(0, true) > 0);
}

/* The operation table (src/server/optable.c) has an entry for every opcode,
 * and its columns agree: logged calls have an AIM row and unlogged ones
 * none; data sent in is replayed as data; an fd that moves has an offset
 * rule; a call that changes the file system has a way to be synced. */
static void test_operation_table_covers_every_opcode_consistently(void **state)
{
	(void)state;
	assert_null(op_info(ANK_OP_NONE));
	assert_null(op_info(ANK_OP_MAX));
	for (uint32_t op = ANK_OP_NONE + 1; op < ANK_OP_MAX; op++) {
		const struct op_info *o = op_info(op);
		assert_non_null(o);
		if (!o->name)
			printf("opcode %u has no entry in op_table\n", op);
		assert_non_null(o->name);
		assert_true(o->npaths <= 2);
		assert_int_equal(op_logged(o), o->aim != AIM_NOT_LOGGED);
		if (o->data == DATA_IN)
			assert_int_equal(o->aim, AIM_DATA);
		if (o->data == DATA_ARGS)
			assert_true(op_logged(o));
		if (o->data == DATA_QUERY)
			assert_false(op_logged(o));
		if (o->fd == OPFD_MOVES)
			assert_true(o->offset != OFFSET_ZERO);
		if (op_changes_fs(o, 0100 | 01000))
			assert_true(o->sync != SYNC_NONE);
		if (o->fd != OPFD_NONE)
			assert_true(op_logged(o));
		/* a second path is named what it is, and only then */
		assert_int_equal(o->npaths == 2, o->second != P2_NONE);
		/* what is logged beside the entry is logged, and ring data is
		 * data sent in */
		if (o->logged != LOGGED_NONE)
			assert_true(op_logged(o));
		if (o->logged == LOGGED_RING)
			assert_true(o->data == DATA_IN || o->data == DATA_ARGS);
		if (o->data == DATA_IN)
			assert_int_equal(o->logged, LOGGED_RING);
		/* an object made is a change; a stat answered has an object,
		 * and by fd only the fd the call returns */
		if (o->object == OBJ_NEW)
			assert_true(op_changes_fs(o, 0) && op_creates(o, 0));
		if (o->stat)
			assert_true(o->object != OBJ_NONE &&
				    (o->object != OBJ_FD || op_returns_fd(o)));
		if (op_is_query(o))
			assert_false(op_logged(o));
		for (uint32_t k = ANK_OP_NONE + 1; k < op; k++)
			assert_string_not_equal(op_table[k].name, o->name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_stream_crc_matches_the_reference_crc32c),
		cmocka_unit_test(test_crc_tables_are_read_only_once_built),
		cmocka_unit_test(test_operation_table_covers_every_opcode_consistently),
		cmocka_unit_test(test_appended_entries_scan_back_with_every_field_path_and_data),
		cmocka_unit_test(test_append_rejects_bad_arguments_without_writing),
		cmocka_unit_test(test_clearing_ipc_and_status_updates_both_copies),
		cmocka_unit_test(test_gc_reclaims_only_a_prefix_of_dead_entries),
		cmocka_unit_test(test_clear_matching_clears_one_target_of_older_entries),
		cmocka_unit_test(test_full_log_refuses_with_enospc_and_keeps_every_live_entry),
		cmocka_unit_test(test_entries_wrap_around_the_area_many_times),
		cmocka_unit_test(test_large_entry_in_an_empty_log_moves_to_the_next_lap),
		cmocka_unit_test(test_corrupt_primary_falls_back_to_the_replica),
		cmocka_unit_test(test_entry_corrupt_in_both_copies_is_reported_and_never_used),
		cmocka_unit_test(test_header_is_checked_and_its_copy_used),
		cmocka_unit_test(test_broken_position_record_falls_back_to_the_previous_one),
		cmocka_unit_test(test_format_bumps_the_generation_and_old_entries_never_parse),
		cmocka_unit_test(test_writer_death_after_any_store_never_yields_a_half_written_entry),
		cmocka_unit_test(test_writer_killed_at_random_times_leaves_a_log_the_next_one_continues),
		cmocka_unit_test(test_merge_orders_three_workers_by_timestamp),
		cmocka_unit_test(test_random_bytes_never_crash_the_reader),
		cmocka_unit_test(test_protection_mode_is_reported_and_blocks_stray_writes),
		cmocka_unit_test(test_append_cost_is_measured),
		cmocka_unit_test(test_flipped_writer_state_stops_the_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
