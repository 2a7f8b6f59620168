/*
 * test_service.c - the Ananke service end to end, as users run it: each test
 * formats a fresh sparse image under /tmp (`ananke mkfs`), runs `ananke serve
 * IMG --socket SOCK --foreground` as a child, talks to it through libananke
 * (include/ananke.h) from several processes and threads or through raw rings
 * (src/ipc/), stops it with `ananke stop` and checks the image with `ananke
 * fsck` (exit 0). On any failure every process the test started is killed
 * (tests/service_util.h); the service log is printed.
 *
 *   - differential_through_libananke_matches_linux: the seeded differential
 *     generator (tests/differ.c) in several processes x threads at once, each
 *     thread Linux (a temporary directory) against libananke in its own
 *     prefix directory of the volume;
 *   - ring_fuzz_gets_clean_errors_and_service_keeps_serving: thousands of
 *     random and mutated requests written straight into ring slots get a
 *     -errno or a plausible value, while a well-behaved client works; the
 *     server is never restarted;
 *   - client_killed_mid_requests_is_cleaned_up: SIGKILLed clients in the
 *     middle of writes are detached, others keep working;
 *   - client_that_never_reads_replies_does_not_block_others: a ring with all
 *     32 slots submitted and never freed does not stall another client;
 *   - sixty_four_clients_at_once: 64 processes mounted together;
 *   - server_killed_restarts_and_fsynced_data_survives: kill -9 of the server
 *     (stopped with a request in flight): restart, fsync'd data intact,
 *     in-flight request and old fds EIO, new opens work;
 *   - status_and_stop: the status JSON, a clean stop, a second stop fails;
 *   - permissions_are_enforced_with_client_credentials: a client that runs
 *     as nobody gets EACCES where Linux would (needs root; skipped otherwise);
 *   - permission_answers_match_linux_for_another_user: the same operations
 *     by uid 65534 (with its own group, then with root's) on root-owned
 *     files and directories of many modes, on Linux and through libananke,
 *     give the same answers (needs root);
 *   - large_io_through_the_ring: 1 byte, 1 MiB + 1 and 64 MiB round trips,
 *     also after a restart of the service.
 *
 * Reproducers of bugs these tests found (they fail until the bug is fixed;
 * each checks the expected answer on Linux first):
 *   - sticky_directory_keeps_other_users_from_removing_entries;
 *   - rename_with_a_trailing_slash_onto_an_overlong_name_is_enametoolong;
 *   - concurrent_large_writes_on_one_fd_do_not_interleave;
 *   - every_client_the_supervisor_admits_is_served;
 *   - fd_flags_match_linux_and_outlive_a_server_crash: F_GETFD after opens
 *     with and without O_CLOEXEC, dup, dup2, dup3, F_DUPFD(_CLOEXEC) and
 *     F_SETFD equals Linux's, and stays so across a server SIGKILL.
 *
 * Environment: ANANKE_BIN (the binary; see service_util.h), ANK_TEST_TMPDIR,
 * ANK_SVC_DIFF_OPS (operations per thread, default 1500), ANK_SVC_DIFF_SEED
 * (first seed, default 1; thread k of process p runs seed + p * threads + k),
 * ANK_SVC_DIFF_PROCS (3), ANK_SVC_DIFF_THREADS (2), ANK_DIFF_VERBOSE=1,
 * ANK_SVC_FUZZ_SEED (default 1), ANK_SVC_FUZZ_REQS (default 30000), ANK_SVC_TEST
 * (run only the tests matching this cmocka filter pattern, e.g. "*fuzz*").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/ananke.h"
#include "../src/ipc/barrier.h"
#include "../src/client/client.h"
#include "differ.h"
#include "oracle.h"
#include "../src/util/crc32c.h"
#include "service_util.h"

#define WORKERS 2
#define MiB (1024u * 1024u)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixture ------------------------------------------------------------------------ */

static struct svc g_svc;
static bool g_clean; /* the test got to its clean stop */

static int setup(void **state)
{
	(void)state;
	memset(&g_svc, 0, sizeof(g_svc));
	g_clean = false;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ank_unmount(); /* EINVAL when not mounted */
	if (g_svc.started && !g_clean)
		svc_dump_log(&g_svc, 60);
	svc_destroy(&g_svc);
	return 0;
}

static void start_service(const char *size)
{
	assert_int_equal(svc_start(&g_svc, size, WORKERS), 0);
}

/* Stop cleanly, then fsck must find nothing. */
static void stop_and_check(void)
{
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
	g_clean = true;
}

static unsigned limit_ms(unsigned ms)
{
	return ms * svc_slow();
}

/* Wait for a child of the test: its exit code, or -1 on timeout (killed). */
static int child_result(pid_t pid, unsigned timeout_ms)
{
	int st = 0;
	if (svc_wait(pid, timeout_ms, &st) < 0) {
		printf("child %d did not finish within %u ms; killed\n", (int)pid, timeout_ms);
		return -1;
	}
	int code = svc_exit_code(st);
	if (code)
		printf("child %d ended with %d\n", (int)pid, code);
	return code;
}

static bool clients_are(const struct svc_status *st, long long n)
{
	return st->clients == n && st->rings == n;
}

/* ---- data patterns ------------------------------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Bytes [off, off + len) of the stream named by seed. */
static void pattern(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	size_t i = 0;
	while (i < len) {
		uint64_t pos = off + i;
		uint64_t w = mix64(seed * 0x9E3779B97F4A7C15ull + pos / 8);
		unsigned k = (unsigned)(pos % 8);
		if (k == 0 && len - i >= 8) {
			memcpy(buf + i, &w, 8);
			i += 8;
			continue;
		}
		buf[i++] = (uint8_t)(w >> (8 * k));
	}
}

/* First offset where buf differs from the pattern, or -1. */
static long long pattern_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t tmp[65536];
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		pattern(tmp, n, seed, off + done);
		if (memcmp(tmp, buf + done, n)) {
			size_t k = 0;
			while (tmp[k] == buf[done + k])
				k++;
			return (long long)(done + k);
		}
		done += n;
	}
	return -1;
}

/* Write `len` bytes of pattern `seed` to path (created/truncated), optionally
 * fsync, read them back and compare. 0 or a negative step number (errno is
 * printed). For children and threads: no asserts. */
static int write_verify(const char *path, size_t len, uint64_t seed, bool do_fsync, uint8_t *wbuf,
                        uint8_t *rbuf)
{
	pattern(wbuf, len, seed, 0);
	int fd = ank_open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0) {
		printf("[%d] open %s: %s\n", (int)getpid(), path, strerror(errno));
		return -1;
	}
	int rc = 0;
	ssize_t n = ank_write(fd, wbuf, len);
	if (n != (ssize_t)len) {
		printf("[%d] write %s (%zu): %zd %s\n", (int)getpid(), path, len, n,
		       n < 0 ? strerror(errno) : "");
		rc = -2;
		goto out;
	}
	if (do_fsync && ank_fsync(fd) < 0) {
		printf("[%d] fsync %s: %s\n", (int)getpid(), path, strerror(errno));
		rc = -3;
		goto out;
	}
	struct stat st;
	if (ank_fstat(fd, &st) < 0 || st.st_size != (off_t)len) {
		printf("[%d] fstat %s: size %lld, expected %zu\n", (int)getpid(), path,
		       (long long)st.st_size, len);
		rc = -4;
		goto out;
	}
	memset(rbuf, 0, len);
	n = ank_pread(fd, rbuf, len + 1, 0);
	if (n != (ssize_t)len) {
		printf("[%d] pread %s (%zu): %zd %s\n", (int)getpid(), path, len, n,
		       n < 0 ? strerror(errno) : "");
		rc = -5;
		goto out;
	}
	long long bad = pattern_check(rbuf, len, seed, 0);
	if (bad >= 0) {
		printf("[%d] %s: data differs at offset %lld of %zu\n", (int)getpid(), path, bad, len);
		rc = -6;
	}
out:
	if (ank_close(fd) < 0 && !rc) {
		printf("[%d] close %s: %s\n", (int)getpid(), path, strerror(errno));
		rc = -7;
	}
	return rc;
}

/* Read a whole file and compare it with pattern `seed` of `len` bytes. */
static int read_verify(const char *path, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return -1;
	int rc = 0;
	int fd = ank_open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s: %s\n", path, strerror(errno));
		free(buf);
		return -2;
	}
	ssize_t n = ank_pread(fd, buf, len + 1, 0);
	if (n != (ssize_t)len) {
		printf("pread %s: %zd (%s), expected %zu\n", path, n, n < 0 ? strerror(errno) : "",
		       len);
		rc = -3;
	} else {
		long long bad = pattern_check(buf, len, seed, 0);
		if (bad >= 0) {
			printf("%s: data differs at offset %lld of %zu\n", path, bad, len);
			rc = -4;
		}
	}
	if (ank_close(fd) < 0 && !rc)
		rc = -5;
	free(buf);
	return rc;
}

/* A shared page for flags and counters between the test and its children. */
struct shared {
	uint32_t stop;
	uint32_t go;
	uint32_t ready;
	uint32_t rounds;
	uint32_t errors;
};

static struct shared *shared_new(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* ---- 1. differential through libananke ---------------------------------------------- */

struct diff_thread {
	pthread_t tid;
	char prefix[32];
	char name[48];
	uint64_t seed;
	unsigned nops;
	bool verbose;
	int result;
};

static void *diff_thread_main(void *arg)
{
	struct diff_thread *t = arg;
	struct target a, b;
	int r = target_libc_new(&a, "linux");
	if (r) {
		printf("seed %llu: libc target: %s\n", (unsigned long long)t->seed, strerror(-r));
		t->result = 2;
		return NULL;
	}
	r = target_ank_new(&b, t->name, t->prefix);
	if (r) {
		printf("seed %llu: libananke target: %s\n", (unsigned long long)t->seed, strerror(-r));
		target_destroy(&a);
		t->result = 2;
		return NULL;
	}
	t->result = differ_run(&a, &b, t->seed, t->nops, t->verbose, NULL);
	target_destroy(&b);
	target_destroy(&a);
	return NULL;
}

/* One client process: mount, a prefix directory per thread, the threads. */
static int diff_process(const char *sock, unsigned proc, unsigned nthreads, uint64_t seed0,
                        unsigned nops)
{
	umask(0); /* libananke takes the umask at mount; the libc side runs with 0 */
	if (ank_mount(sock) < 0) {
		printf("[proc %u] ank_mount: %s\n", proc, strerror(errno));
		return 10;
	}
	struct diff_thread *th = calloc(nthreads, sizeof(*th));
	if (!th)
		return 11;
	bool verbose = svc_env_ulong("ANK_DIFF_VERBOSE", 0) != 0;
	for (unsigned k = 0; k < nthreads; k++) {
		struct diff_thread *t = &th[k];
		snprintf(t->prefix, sizeof(t->prefix), "/p%u-t%u", proc, k);
		snprintf(t->name, sizeof(t->name), "libananke%s", t->prefix);
		t->seed = seed0 + (uint64_t)proc * nthreads + k;
		t->nops = nops;
		t->verbose = verbose;
		if (ank_mkdir(t->prefix, 0755) < 0) {
			printf("[proc %u] mkdir %s: %s\n", proc, t->prefix, strerror(errno));
			return 12;
		}
	}
	unsigned started = 0;
	for (unsigned k = 0; k < nthreads; k++) {
		if (pthread_create(&th[k].tid, NULL, diff_thread_main, &th[k]) != 0) {
			th[k].result = 3;
			break;
		}
		started++;
	}
	int bad = 0;
	for (unsigned k = 0; k < started; k++)
		pthread_join(th[k].tid, NULL);
	for (unsigned k = 0; k < nthreads; k++) {
		if (th[k].result) {
			printf("[proc %u] seed %llu (%s) FAILED\n", proc,
			       (unsigned long long)th[k].seed, th[k].prefix);
			bad++;
		}
	}
	free(th);
	if (ank_unmount() < 0)
		return 13;
	return bad ? 1 : 0;
}

static void differential_through_libananke_matches_linux(void **state)
{
	(void)state;
	unsigned nprocs = (unsigned)svc_env_ulong("ANK_SVC_DIFF_PROCS", 3);
	unsigned nthreads = (unsigned)svc_env_ulong("ANK_SVC_DIFF_THREADS", 2);
	unsigned nops = (unsigned)svc_env_ulong("ANK_SVC_DIFF_OPS", 1500);
	uint64_t seed0 = svc_env_ulong("ANK_SVC_DIFF_SEED", 1);
	assert_true(nprocs >= 1 && nprocs <= 64 && nthreads >= 1 && nthreads <= 16);
	printf("%u processes x %u threads, %u operations each, seeds %llu..%llu "
	       "(ANK_SVC_DIFF_SEED / _OPS / _PROCS / _THREADS)\n",
	       nprocs, nthreads, nops, (unsigned long long)seed0,
	       (unsigned long long)(seed0 + nprocs * nthreads - 1));
	start_service("1G");
	pid_t pids[64];
	for (unsigned p = 0; p < nprocs; p++) {
		pids[p] = svc_fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			_exit(diff_process(g_svc.sock, p, nthreads, seed0, nops));
	}
	int bad = 0;
	for (unsigned p = 0; p < nprocs; p++)
		bad += child_result(pids[p], limit_ms(240000)) != 0;
	assert_int_equal(bad, 0);
	struct svc_status st;
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(5000), clients_are, 0), 0);
	assert_int_equal(st.restarts, 0);
	stop_and_check();
}

/* ---- 2. ring fuzzing ---------------------------------------------------------------- */

/* A client that does everything right, until told to stop. */
static int good_client(const char *sock, const char *dir, struct shared *sh, uint64_t seed)
{
	if (ank_mount(sock) < 0) {
		printf("[good] ank_mount: %s\n", strerror(errno));
		return 10;
	}
	if (ank_mkdir(dir, 0755) < 0) {
		printf("[good] mkdir %s: %s\n", dir, strerror(errno));
		return 11;
	}
	uint8_t *w = malloc(MiB + 1), *r = malloc(MiB + 2);
	if (!w || !r)
		return 12;
	struct oracle_rng rng;
	oracle_rng_seed(&rng, seed);
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
	unsigned rounds = 0;
	int rc = 0;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && rounds < 1000000) {
		char path[64], path2[64];
		snprintf(path, sizeof(path), "%s/f%u", dir, rounds % 8);
		size_t len = oracle_rng_pct(&rng, 10) ? MiB + 1
		                                      : (size_t)oracle_rng_range(&rng, 1, 128 * 1024);
		rc = write_verify(path, len, seed + rounds, rounds % 4 == 0, w, r);
		if (rc)
			break;
		if (rounds % 8 == 7) {
			/* namespace work: list, rename, unlink */
			ANK_DIR *d = ank_opendir(dir);
			unsigned n = 0;
			struct dirent *de;
			while (d && (de = ank_readdir(d)))
				n++;
			if (!d || ank_closedir(d) < 0 || n != 10) {
				printf("[good] listing %s: %u entries, expected 10\n", dir, n);
				rc = 20;
				break;
			}
			snprintf(path2, sizeof(path2), "%s/renamed", dir);
			if (ank_rename(path, path2) < 0 || ank_unlink(path2) < 0 ||
			    ank_stat(path2, &(struct stat){0}) == 0 || errno != ENOENT) {
				printf("[good] rename/unlink in %s: %s\n", dir, strerror(errno));
				rc = 21;
				break;
			}
		}
		rounds++;
		__atomic_store_n(&sh->rounds, rounds, __ATOMIC_RELEASE);
	}
	free(w);
	free(r);
	if (ank_unmount() < 0)
		return 13;
	return rc ? (rc < 0 ? -rc : rc) : 0;
}

enum { FZ_PLAUSIBLE, FZ_MUTATED, FZ_RANDOM_FIELDS, FZ_GARBAGE_SLOT, FZ_BAD_OPCODE, FZ_KINDS };
static const char *const fz_kind_names[FZ_KINDS] = {"plausible", "mutated", "random-fields",
                                                    "garbage-slot", "bad-opcode"};

struct fuzz {
	struct svc_raw *c;
	struct oracle_rng rng;
	int32_t fds[64];
	unsigned nfds;
	char longname[400];
	char toolong[5200];
	unsigned failures;
	unsigned long results[FZ_KINDS][2]; /* [kind][0] -errno, [1] >= 0 */
	unsigned long einval_len, enosys;
};

/* What a request was, for checking its result. */
struct fz_req {
	unsigned kind;
	uint32_t opcode;
	uint64_t len;
	bool scribbled; /* changed after publishing: only the errno range is checked */
};

static const char *fz_path(struct fuzz *f)
{
	static const char *const pool[] = {
		"/", "//", "/fz", "/fz/", "/fz/a", "/fz/b", "/fz/a/b", "/fz/c/", "/fz/./a",
		"/fz/../fz/b", "/fz/d/e/f", "/nx/y", "", ".", "fz/a", "/fz/a/", "/fz/.", "/fz/..",
		"/fz/a/..", "/fz/b/c",
	};
	unsigned x = (unsigned)oracle_rng_below(&f->rng, 100);
	if (x < 5)
		return f->longname;
	if (x < 8)
		return f->toolong;
	return pool[oracle_rng_below(&f->rng, sizeof(pool) / sizeof(pool[0]))];
}

static int32_t fz_fd(struct fuzz *f)
{
	unsigned x = (unsigned)oracle_rng_below(&f->rng, 100);
	if (x < 55 && f->nfds)
		return f->fds[oracle_rng_below(&f->rng, f->nfds)];
	if (x < 80)
		return (int32_t)oracle_rng_range(&f->rng, 0, 70) - 2;
	if (x < 90)
		return oracle_rng_pct(&f->rng, 50) ? INT32_MAX : INT32_MIN;
	return (int32_t)oracle_rng_next(&f->rng);
}

static int64_t fz_off(struct fuzz *f)
{
	static const int64_t special[] = {0, 1, -1, 4095, 4096, INT64_MAX, INT64_MIN,
	                                  (1ll << 44) - 4096, 1ll << 44, 1ll << 62, -4096};
	unsigned x = (unsigned)oracle_rng_below(&f->rng, 100);
	if (x < 40)
		return (int64_t)oracle_rng_below(&f->rng, 4 * MiB);
	if (x < 70)
		return special[oracle_rng_below(&f->rng, sizeof(special) / sizeof(special[0]))];
	if (x < 85)
		return (int64_t)oracle_rng_below(&f->rng, 64ull * MiB);
	return (int64_t)oracle_rng_next(&f->rng);
}

static uint64_t fz_len(struct fuzz *f)
{
	unsigned x = (unsigned)oracle_rng_below(&f->rng, 100);
	if (x < 10)
		return 0;
	if (x < 55)
		return oracle_rng_range(&f->rng, 1, 8192);
	if (x < 75)
		return oracle_rng_range(&f->rng, 8192, 128 * 1024);
	if (x < 82)
		return ANK_RING_DATA_PER_SLOT - oracle_rng_below(&f->rng, 2);
	if (x < 88)
		return ANK_RING_DATA_PER_SLOT + 1 + oracle_rng_below(&f->rng, 4096);
	if (x < 94)
		return UINT64_MAX - oracle_rng_below(&f->rng, 2);
	return oracle_rng_next(&f->rng);
}

static uint32_t fz_flags(struct fuzz *f, uint32_t opcode)
{
	static const uint32_t open_flags[] = {
		O_RDONLY, O_WRONLY, O_RDWR, O_RDWR | O_CREAT, O_WRONLY | O_CREAT | O_EXCL,
		O_RDWR | O_CREAT | O_TRUNC, O_WRONLY | O_APPEND, O_RDONLY | O_DIRECTORY,
		O_RDWR | O_DIRECTORY, O_CREAT | O_DIRECTORY, O_ACCMODE, O_RDONLY | O_TRUNC,
		O_EXCL, O_TMPFILE | O_RDWR, O_PATH, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	};
	if (oracle_rng_pct(&f->rng, 15))
		return (uint32_t)oracle_rng_next(&f->rng);
	if (opcode == ANK_OP_OPEN)
		return open_flags[oracle_rng_below(&f->rng, NELEM(open_flags))];
	if (opcode == ANK_OP_LSEEK)
		return (uint32_t)oracle_rng_below(&f->rng, 6); /* SET CUR END DATA HOLE 5 */
	return (uint32_t)oracle_rng_below(&f->rng, 4);
}

static void fz_random_bytes(struct fuzz *f, void *p, size_t n)
{
	oracle_rng_fill(&f->rng, p, n);
}

/* Write path(s) into slot i's data buffer and set the lengths. */
static void fz_paths(struct fuzz *f, unsigned i, const char *p1, const char *p2)
{
	struct ank_ring_slot *s = svc_raw_slot(f->c, i);
	uint8_t *data = svc_raw_data(f->c, i);
	size_t l1 = strlen(p1) + 1, l2 = p2 ? strlen(p2) + 1 : 0;
	memcpy(data, p1, l1);
	if (p2)
		memcpy(data + l1, p2, l2);
	s->path_len = (uint32_t)l1;
	s->path2_len = (uint32_t)l2;
}

/* Fill slot i (owned by the test: state CLIENT, or about to be garbage). */
static void fz_build(struct fuzz *f, unsigned i, struct fz_req *q)
{
	struct ank_ring_slot *s = svc_raw_slot(f->c, i);
	uint8_t *data = svc_raw_data(f->c, i);
	unsigned x = (unsigned)oracle_rng_below(&f->rng, 100);
	q->kind = x < 40 ? FZ_PLAUSIBLE : x < 65 ? FZ_MUTATED : x < 80 ? FZ_RANDOM_FIELDS
	          : x < 92 ? FZ_GARBAGE_SLOT : FZ_BAD_OPCODE;
	q->scribbled = false;
	switch (q->kind) {
	case FZ_PLAUSIBLE:
	case FZ_MUTATED:
	case FZ_BAD_OPCODE: {
		uint32_t op = 1 + (uint32_t)oracle_rng_below(&f->rng, ANK_OP_MAX - 1);
		svc_raw_fill(f->c, i, op, fz_fd(f), fz_flags(f, op),
		         oracle_rng_pct(&f->rng, 70) ? 0644 : (uint32_t)oracle_rng_next(&f->rng),
		         fz_off(f), fz_len(f), NULL, NULL);
		if (q->kind == FZ_MUTATED && oracle_rng_pct(&f->rng, 60))
			s->len = oracle_rng_below(&f->rng, 4096); /* keep the paths the point */
		if ((op == ANK_OP_WRITE || op == ANK_OP_PWRITE) && s->len <= ANK_RING_DATA_PER_SLOT)
			fz_random_bytes(f, data, s->len < 65536 ? s->len : 65536);
		fz_paths(f, i, fz_path(f), fz_path(f));
		if (q->kind == FZ_BAD_OPCODE) {
			unsigned y = (unsigned)oracle_rng_below(&f->rng, 4);
			s->opcode = y == 0 ? ANK_OP_NONE
			            : y == 1 ? ANK_OP_MAX + (uint32_t)oracle_rng_below(&f->rng, 16)
			            : y == 2 ? UINT32_MAX - (uint32_t)oracle_rng_below(&f->rng, 2)
			                     : (uint32_t)oracle_rng_next(&f->rng) | 0x100u;
		}
		if (q->kind != FZ_MUTATED)
			break;
		/* one or two mutations of an otherwise well-formed request */
		for (unsigned m = 0, nm = 1 + (unsigned)oracle_rng_below(&f->rng, 2); m < nm; m++) {
			switch (oracle_rng_below(&f->rng, 10)) {
			case 0: s->path_len = 0; break;
			case 1: if (s->path_len > 1) s->path_len--; break; /* NUL not counted */
			case 2: /* NUL overwritten */
				if (s->path_len >= 1 && s->path_len <= 8192)
					data[s->path_len - 1] = 'x';
				break;
			case 3: /* past the data buffer, or beyond any path */
				if (oracle_rng_pct(&f->rng, 50))
					s->path_len = ANK_RING_DATA_PER_SLOT - 1 +
					              (uint32_t)oracle_rng_below(&f->rng, 3);
				else
					s->path_len = UINT32_MAX - (uint32_t)oracle_rng_below(&f->rng, 2);
				break;
			case 4: /* path 2 past the buffer */
				s->path2_len = ANK_RING_DATA_PER_SLOT - s->path_len +
				               (uint32_t)oracle_rng_below(&f->rng, 3);
				break;
			case 5: s->path2_len = (uint32_t)oracle_rng_next(&f->rng); break;
			case 6: /* a NUL inside the path */
				if (s->path_len >= 1 && s->path_len <= 8192) {
					memcpy(data + s->path_len, "abc", 4);
					s->path_len += 4;
				}
				break;
			case 7: s->len = UINT64_MAX - oracle_rng_below(&f->rng, 1u << 20); break;
			case 8: s->fd = (int32_t)oracle_rng_next(&f->rng); break;
			case 9: fz_random_bytes(f, data, 1 + oracle_rng_below(&f->rng, 64)); break;
			}
		}
		break;
	}
	case FZ_RANDOM_FIELDS: {
		/* every request field random, the data buffer's start random */
		fz_random_bytes(f, (uint8_t *)s + offsetof(struct ank_ring_slot, opcode),
		                offsetof(struct ank_ring_slot, result) -
		                    offsetof(struct ank_ring_slot, opcode));
		/* (no acting credentials: what a garbage slot before left there
		 * goes; the request's checksum covers them) */
		s->as_set = s->as_uid = s->as_gid = 0;
		if (oracle_rng_pct(&f->rng, 50))
			s->opcode = (uint32_t)oracle_rng_below(&f->rng, ANK_OP_MAX + 2);
		if (oracle_rng_pct(&f->rng, 50))
			s->len = oracle_rng_below(&f->rng, 2 * ANK_RING_DATA_PER_SLOT);
		if (oracle_rng_pct(&f->rng, 50))
			s->path_len = (uint32_t)oracle_rng_below(&f->rng, 6000);
		if (oracle_rng_pct(&f->rng, 50))
			s->path2_len = (uint32_t)oracle_rng_below(&f->rng, 6000);
		fz_random_bytes(f, data, 1 + oracle_rng_below(&f->rng, 8192));
		break;
	}
	case FZ_GARBAGE_SLOT:
		/* the whole slot random, state included; published below as is */
		fz_random_bytes(f, s, sizeof(*s));
		fz_random_bytes(f, data, 1 + oracle_rng_below(&f->rng, 4096));
		if (oracle_rng_pct(&f->rng, 40))
			s->opcode = (uint32_t)oracle_rng_below(&f->rng, ANK_OP_MAX + 2);
		break;
	}
	q->opcode = s->opcode;
	q->len = s->len;
}

/* Is `r` a sane answer to request q? Counts and describes failures. */
static void fz_check(struct fuzz *f, unsigned i, const struct fz_req *q, int64_t r, unsigned reqno)
{
	char why[160] = "";
	bool valid_op = q->opcode > ANK_OP_NONE && q->opcode < ANK_OP_MAX;
	f->results[q->kind][r >= 0]++;
	if (r < 0 && r < -4095)
		snprintf(why, sizeof(why), "result %lld is not an errno", (long long)r);
	else if (q->scribbled)
		return;
	else if (q->kind == FZ_GARBAGE_SLOT && r == -EIO)
		; /* its checksums are garbage too: refused as damaged in the ring */
	else if (!valid_op && r != -ENOSYS)
		snprintf(why, sizeof(why), "unknown opcode %u: %lld, expected -ENOSYS", q->opcode,
		         (long long)r);
	else if (valid_op && q->len > ANK_RING_DATA_PER_SLOT && r != -EINVAL)
		snprintf(why, sizeof(why), "len %llu > data buffer: %lld, expected -EINVAL",
		         (unsigned long long)q->len, (long long)r);
	else if (r >= 0) {
		switch (q->opcode) {
		case ANK_OP_OPEN:
		case ANK_OP_DUP:
			if (r >= 65536)
				snprintf(why, sizeof(why), "open returned fd %lld", (long long)r);
			break;
		case ANK_OP_READ: case ANK_OP_PREAD: case ANK_OP_WRITE: case ANK_OP_PWRITE:
			if ((uint64_t)r > q->len)
				snprintf(why, sizeof(why), "count %lld > len %llu", (long long)r,
				         (unsigned long long)q->len);
			break;
		case ANK_OP_READDIR:
			if ((uint64_t)r > q->len / 16)
				snprintf(why, sizeof(why), "%lld entries in %llu bytes", (long long)r,
				         (unsigned long long)q->len);
			break;
		case ANK_OP_LSEEK:
			break;
		case ANK_OP_READLINK:
			if ((uint64_t)r > q->len)
				snprintf(why, sizeof(why), "readlink %lld > len %llu", (long long)r,
				         (unsigned long long)q->len);
			break;
		case ANK_OP_GETXATTR:
		case ANK_OP_LISTXATTR: /* a size; at most len unless len was 0 */
			if ((uint64_t)r > (q->len ? q->len : 65536))
				snprintf(why, sizeof(why), "xattr size %lld for len %llu", (long long)r,
				         (unsigned long long)q->len);
			break;
		case ANK_OP_GETFL: /* the fd's flags */
			if (r & ~(int64_t)(O_ACCMODE | O_APPEND | O_DIRECTORY | O_NOFOLLOW))
				snprintf(why, sizeof(why), "F_GETFL returned 0%llo",
				         (unsigned long long)r);
			break;
		default:
			if (r != 0)
				snprintf(why, sizeof(why), "result %lld, expected 0 or -errno",
				         (long long)r);
		}
	}
	if (!valid_op && r == -ENOSYS)
		f->enosys++;
	if (valid_op && q->len > ANK_RING_DATA_PER_SLOT && r == -EINVAL)
		f->einval_len++;
	if (why[0]) {
		if (f->failures++ < 20)
			printf("fuzz request #%u (slot %u, %s, opcode %u): %s\n", reqno, i,
			       fz_kind_names[q->kind], q->opcode, why);
	}
}

static void fz_note_fd(struct fuzz *f, const struct fz_req *q, int64_t r)
{
	if (q->scribbled || (q->opcode != ANK_OP_OPEN && q->opcode != ANK_OP_DUP) || r < 0 ||
	    r >= 65536)
		return;
	if (f->nfds < sizeof(f->fds) / sizeof(f->fds[0]))
		f->fds[f->nfds++] = (int32_t)r;
	else
		f->fds[oracle_rng_below(&f->rng, f->nfds)] = (int32_t)r;
}

static void ring_fuzz_gets_clean_errors_and_service_keeps_serving(void **state)
{
	(void)state;
	uint64_t seed = svc_env_ulong("ANK_SVC_FUZZ_SEED", 1);
	unsigned nreq = (unsigned)svc_env_ulong("ANK_SVC_FUZZ_REQS", 30000);
	printf("fuzz seed %llu, %u requests (ANK_SVC_FUZZ_SEED / ANK_SVC_FUZZ_REQS)\n",
	       (unsigned long long)seed, nreq);
	start_service("512M");
	struct svc_status st0, st;
	assert_int_equal(svc_status(&g_svc, &st0), 0);

	struct shared *sh = shared_new();
	pid_t good = svc_fork();
	assert_true(good >= 0);
	if (good == 0)
		_exit(good_client(g_svc.sock, "/good", sh, seed + 1000));

	struct svc_raw rc;
	assert_int_equal(svc_raw_connect(&rc, g_svc.sock), 0);
	struct fuzz *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = &rc;
	oracle_rng_seed(&f->rng, seed);
	memset(f->longname, 'n', sizeof(f->longname) - 1);
	memcpy(f->longname, "/fz/", 4);
	memset(f->toolong, 't', sizeof(f->toolong) - 1);
	f->toolong[0] = '/';
	unsigned tmo = limit_ms(20000);

	/* a playground with a file and a directory, and some valid fds */
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_MKDIR, -1, 0, 0755, 0, 0, "/fz", NULL, tmo), 0);
	int64_t fd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/fz/a",
	                          NULL, tmo);
	assert_true(fd >= 0);
	f->fds[f->nfds++] = (int32_t)fd;
	fd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_RDONLY | O_DIRECTORY, 0, 0, 0, "/fz", NULL, tmo);
	assert_true(fd >= 0);
	f->fds[f->nfds++] = (int32_t)fd;

	unsigned done = 0, timeouts = 0;
	uint64_t t0 = svc_now_ms();
	while (done < nreq && !timeouts) {
		/* a batch of requests in flight at once */
		unsigned batch = 1 + (unsigned)oracle_rng_below(&f->rng, 8);
		if (batch > nreq - done)
			batch = nreq - done;
		unsigned first = (unsigned)oracle_rng_below(&f->rng, ANK_RING_NSLOTS);
		struct fz_req q[8];
		for (unsigned b = 0; b < batch; b++) {
			unsigned i = (first + b) % ANK_RING_NSLOTS;
			struct ank_ring_slot *s = svc_raw_slot(&rc, i);
			ank_store_release(&s->state, ANK_SLOT_CLIENT);
			fz_build(f, i, &q[b]);
			if (q[b].kind == FZ_GARBAGE_SLOT) {
				/* straight to SUBMITTED, `waiting` left as garbage */
				ank_store_release(&s->state, ANK_SLOT_SUBMITTED);
				ank_fetch_add(&rc.hdr->sq_seq, 1);
				ank_full_barrier();
				if (ank_load_acquire(&rc.hdr->server_sleeping))
					ank_futex_wake(&rc.hdr->sq_seq);
			} else {
				svc_raw_publish(&rc, i);
			}
			if (oracle_rng_pct(&f->rng, 4)) {
				/* rewrite the request while the server may be reading it */
				fz_random_bytes(f, (uint8_t *)s + offsetof(struct ank_ring_slot, opcode),
				                offsetof(struct ank_ring_slot, result) -
				                    offsetof(struct ank_ring_slot, opcode));
				fz_random_bytes(f, svc_raw_data(&rc, i), 256);
				q[b].scribbled = true;
			}
		}
		for (unsigned b = 0; b < batch; b++) {
			unsigned i = (first + b) % ANK_RING_NSLOTS;
			struct ank_ring_slot *s = svc_raw_slot(&rc, i);
			if (svc_raw_wait_done(&rc, i, tmo) < 0) {
				printf("fuzz request #%u (slot %u, %s, opcode %u): no reply within "
				       "%u ms\n", done + b, i, fz_kind_names[q[b].kind], q[b].opcode, tmo);
				timeouts++;
				continue;
			}
			int64_t r = s->result;
			fz_check(f, i, &q[b], r, done + b);
			fz_note_fd(f, &q[b], r);
			ank_store_release(&s->state, ANK_SLOT_FREE);
		}
		done += batch;
		/* keep the number of open fds bounded: close one now and then */
		if (f->nfds > 40) {
			int32_t victim = f->fds[--f->nfds];
			svc_raw_call(&rc, 0, ANK_OP_CLOSE, victim, 0, 0, 0, 0, NULL, NULL, tmo);
		}
	}
	uint64_t ms = svc_now_ms() - t0;
	printf("fuzz: %u requests in %llu ms; -ENOSYS for unknown opcodes: %lu, -EINVAL for "
	       "oversized len: %lu\n",
	       done, (unsigned long long)ms, f->enosys, f->einval_len);
	for (unsigned k = 0; k < FZ_KINDS; k++)
		printf("  %-14s %6lu errors %6lu successes\n", fz_kind_names[k], f->results[k][0],
		       f->results[k][1]);

	/* the raw ring still works for well-formed requests */
	struct ank_ring_slot *s0 = svc_raw_slot(&rc, 0);
	int64_t r = timeouts ? INT64_MIN
	                     : svc_raw_call(&rc, 0, ANK_OP_STAT, -1, 0, 0, 0, 0, "/fz", NULL, tmo);
	struct ank_wire_stat ws;
	memcpy(&ws, s0->out, sizeof(ws));

	/* the well-behaved client got real work done meanwhile (or fails) */
	uint64_t deadline = svc_now_ms() + limit_ms(20000);
	while (__atomic_load_n(&sh->rounds, __ATOMIC_ACQUIRE) < 5 && svc_now_ms() < deadline &&
	       !svc_exited(good))
		svc_sleep_ms(5);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	int good_rc = child_result(good, limit_ms(60000));
	unsigned rounds = __atomic_load_n(&sh->rounds, __ATOMIC_ACQUIRE);
	printf("well-behaved client: %u rounds of write/fsync/read/verify\n", rounds);
	svc_raw_close(&rc);
	unsigned failures = f->failures;
	free(f);

	assert_int_equal(timeouts, 0);
	assert_int_equal(failures, 0);
	assert_int_equal(r, 0);
	assert_true(S_ISDIR(ws.mode));
	assert_int_equal(good_rc, 0);
	assert_true(rounds > 0);
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(5000), clients_are, 0), 0);
	assert_int_equal(st.server_pid, st0.server_pid);
	assert_int_equal(st.restarts, 0);
	assert_int_equal(st.epoch, st0.epoch);
	stop_and_check();
	munmap(sh, 4096);
}

/* ---- 3. killed clients -------------------------------------------------------------- */

struct writer_arg {
	char path[64];
	uint64_t seed;
	int which;
	struct shared *sh;
};

static void *victim_thread(void *p)
{
	struct writer_arg *a = p;
	struct oracle_rng rng;
	oracle_rng_seed(&rng, a->seed);
	uint8_t *buf = malloc(3 * MiB);
	if (!buf)
		return NULL;
	pattern(buf, 3 * MiB, a->seed, 0);
	int fd = ank_open(a->path, O_CREAT | O_RDWR, 0644);
	for (unsigned n = 0;; n++) {
		if (a->which == 0) {
			size_t len = (size_t)oracle_rng_range(&rng, 1, 3 * MiB);
			ank_pwrite(fd, buf, len, (off_t)oracle_rng_below(&rng, 16 * MiB));
			if (n % 16 == 0)
				ank_fsync(fd);
		} else {
			char dpath[80];
			snprintf(dpath, sizeof(dpath), "%s.d%u", a->path, n % 4);
			ank_mkdir(dpath, 0755);
			ank_rmdir(dpath);
			ank_stat(a->path, &(struct stat){0});
			ank_write(fd, buf, 4096);
			ank_ftruncate(fd, (off_t)oracle_rng_below(&rng, 8 * MiB));
		}
		if (n == 4)
			__atomic_fetch_add(&a->sh->ready, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Waits for its turn, then writes until killed (never returns normally).
 * It is forked before the test starts any thread: a child forked while
 * another thread is inside malloc may inherit the allocator's lock held
 * (AddressSanitizer's large-block lock is not reset at fork). */
static int victim_client(const char *sock, unsigned round, struct shared *sh)
{
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		svc_sleep_ms(1);
	if (ank_mount(sock) < 0)
		return 10;
	static struct writer_arg args[2];
	pthread_t t[2];
	for (int k = 0; k < 2; k++) {
		snprintf(args[k].path, sizeof(args[k].path), "/victim%u-%d", round, k);
		args[k].seed = round * 10 + (unsigned)k;
		args[k].which = k;
		args[k].sh = sh;
		if (pthread_create(&t[k], NULL, victim_thread, &args[k]) != 0)
			return 11;
	}
	for (;;)
		pause();
}

struct bystander {
	pthread_t tid;
	struct shared *sh;
	unsigned rounds;
	int rc;
};

static void *bystander_main(void *p)
{
	struct bystander *b = p;
	uint8_t *w = malloc(MiB + 1), *r = malloc(MiB + 2);
	if (!w || !r) {
		b->rc = -100;
		return NULL;
	}
	while (!__atomic_load_n(&b->sh->stop, __ATOMIC_ACQUIRE) && b->rounds < 1000000) {
		char path[32];
		snprintf(path, sizeof(path), "/bystander%u", b->rounds % 3);
		size_t len = b->rounds % 5 == 0 ? MiB + 1 : 1 + (b->rounds * 7919u) % 65536u;
		b->rc = write_verify(path, len, 77 + b->rounds, b->rounds % 3 == 0, w, r);
		if (b->rc)
			break;
		b->rounds++;
	}
	free(w);
	free(r);
	return NULL;
}

static void client_killed_mid_requests_is_cleaned_up(void **state)
{
	(void)state;
	start_service("512M");
	struct shared *vss[3];
	pid_t vs_pid[3];
	for (unsigned round = 0; round < 3; round++) {
		vss[round] = shared_new();
		vs_pid[round] = svc_fork();
		assert_true(vs_pid[round] >= 0);
		if (vs_pid[round] == 0)
			_exit(victim_client(g_svc.sock, round, vss[round]));
	}
	assert_int_equal(ank_mount(g_svc.sock), 0);
	struct shared *sh = shared_new();
	struct bystander by = {.sh = sh};
	assert_int_equal(pthread_create(&by.tid, NULL, bystander_main, &by), 0);
	struct svc_status st;
	int fail = 0;
	unsigned round = 0;
	for (; round < 3 && !fail; round++) {
		struct shared *vs = vss[round];
		pid_t v = vs_pid[round];
		__atomic_store_n(&vs->go, 1, __ATOMIC_RELEASE);
		/* both of its threads are busy */
		uint64_t deadline = svc_now_ms() + limit_ms(20000);
		while (__atomic_load_n(&vs->ready, __ATOMIC_ACQUIRE) < 2 && svc_now_ms() < deadline)
			svc_sleep_ms(2);
		if (__atomic_load_n(&vs->ready, __ATOMIC_ACQUIRE) < 2) {
			printf("round %u: the victim never got going\n", round);
			fail = 2;
		}
		if (!fail && (svc_status(&g_svc, &st) || st.clients != 2)) {
			printf("round %u: status says %lld clients with the victim, expected 2\n",
			       round, st.clients);
			fail = 3;
		}
		svc_sleep_ms(5 + 20 * round);
		kill(v, SIGKILL);
		int wst = 0;
		if (svc_wait(v, limit_ms(10000), &wst) < 0 || !WIFSIGNALED(wst))
			fail = 4;
		munmap(vs, 4096);
		if (!fail && svc_status_wait(&g_svc, &st, limit_ms(10000), clients_are, 1) < 0) {
			printf("round %u: clients/rings did not drop back to 1: %s\n", round, st.json);
			fail = 5;
		}
		/* what it was writing is usable: stat, read, remove */
		for (int k = 0; k < 2 && !fail; k++) {
			char path[64];
			snprintf(path, sizeof(path), "/victim%u-%d", round, k);
			struct stat vst;
			if (ank_stat(path, &vst) < 0) {
				fail = 6;
				break;
			}
			uint8_t *buf = malloc(MiB);
			int fd = ank_open(path, O_RDONLY);
			if (!buf || fd < 0 || ank_pread(fd, buf, MiB, 0) < 0 || ank_close(fd) < 0 ||
			    ank_unlink(path) < 0) {
				printf("round %u: %s left unusable: %s\n", round, path,
				       strerror(errno));
				fail = 7;
			}
			free(buf);
		}
	}
	for (; round < 3; round++) { /* victims a failure left waiting */
		kill(vs_pid[round], SIGKILL);
		svc_wait(vs_pid[round], limit_ms(10000), NULL);
		munmap(vss[round], 4096);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	pthread_join(by.tid, NULL);
	printf("bystander: %u rounds of write/read/verify while clients died\n", by.rounds);
	assert_int_equal(fail, 0);
	assert_int_equal(by.rc, 0);
	assert_true(by.rounds > 0);
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_int_equal(st.restarts, 0);
	assert_int_equal(ank_unmount(), 0);
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(5000), clients_are, 0), 0);
	munmap(sh, 4096);
	stop_and_check();
}

/* ---- 4. a client that never frees its slots ----------------------------------------- */

/* Normal work for a bounded number of rounds. */
static int worker_client(const char *sock, const char *dir, unsigned rounds, uint64_t seed)
{
	if (ank_mount(sock) < 0) {
		printf("[worker] ank_mount: %s\n", strerror(errno));
		return 10;
	}
	if (ank_mkdir(dir, 0755) < 0 && errno != EEXIST)
		return 11;
	uint8_t *w = malloc(MiB + 1), *r = malloc(MiB + 2);
	if (!w || !r)
		return 12;
	int rc = 0;
	for (unsigned i = 0; i < rounds && !rc; i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s/f%u", dir, i % 4);
		rc = write_verify(path, i % 8 == 0 ? MiB + 1 : 1 + (i * 4099u) % 100000u, seed + i,
		                  i % 4 == 0, w, r);
	}
	free(w);
	free(r);
	if (ank_unmount() < 0)
		return 13;
	return rc ? 20 : 0;
}

struct hog {
	pthread_t tid;
	struct svc_raw *c;
	uint32_t stop;
	unsigned long resubmitted;
};

/* Put every DONE slot back to SUBMITTED, unread, until told to stop. */
static void *hog_main(void *p)
{
	struct hog *h = p;
	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
			struct ank_ring_slot *s = svc_raw_slot(h->c, i);
			if (ank_load_acquire(&s->state) != ANK_SLOT_DONE)
				continue;
			svc_raw_publish(h->c, i);
			h->resubmitted++;
		}
		ank_cpu_relax();
	}
	return NULL;
}

static void client_that_never_reads_replies_does_not_block_others(void **state)
{
	(void)state;
	start_service("256M");
	struct svc_raw rc;
	assert_int_equal(svc_raw_connect(&rc, g_svc.sock), 0);
	unsigned tmo = limit_ms(20000);
	int64_t fd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/hog",
	                          NULL, tmo);
	assert_true(fd >= 0);
	int64_t dfd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_RDONLY | O_DIRECTORY, 0, 0, 0, "/",
	                           NULL, tmo);
	assert_true(dfd >= 0);

	/* every slot: a request, published, never taken back */
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		struct ank_ring_slot *s = svc_raw_slot(&rc, i);
		ank_store_release(&s->state, ANK_SLOT_CLIENT);
		switch (i % 4) {
		case 0:
			svc_raw_fill(&rc, i, ANK_OP_PWRITE, (int32_t)fd, 0, 0, (int64_t)i * MiB,
			         ANK_RING_DATA_PER_SLOT, NULL, NULL);
			pattern(svc_raw_data(&rc, i), ANK_RING_DATA_PER_SLOT, 4242, (uint64_t)i * MiB);
			break;
		case 1:
			svc_raw_fill(&rc, i, ANK_OP_FSYNC, (int32_t)fd, 0, 0, 0, 0, NULL, NULL);
			break;
		case 2:
			svc_raw_fill(&rc, i, ANK_OP_STAT, -1, 0, 0, 0, 0, "/hog", NULL);
			break;
		case 3:
			svc_raw_fill(&rc, i, ANK_OP_READDIR, (int32_t)dfd, 0, 0, 0, 4096, NULL, NULL);
			break;
		}
		svc_raw_publish(&rc, i);
	}
	/* the replies come, nobody reads them; another client works meanwhile */
	pid_t w = svc_fork();
	assert_true(w >= 0);
	if (w == 0)
		_exit(worker_client(g_svc.sock, "/other", 40, 99));
	int wrc = child_result(w, limit_ms(60000));

	/* Worse: every reply is submitted again at once, unread, as fast as a
	 * thread can, while another client works. */
	/* (forked before the hog thread starts: see victim_client) */
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t w3 = svc_fork();
	assert_true(w3 >= 0);
	if (w3 == 0) {
		close(go[1]);
		char c;
		_exit(read(go[0], &c, 1) == 1 ? worker_client(g_svc.sock, "/other3", 40, 299)
					       : 98);
	}
	close(go[0]);
	struct hog h = {.c = &rc};
	assert_int_equal(pthread_create(&h.tid, NULL, hog_main, &h), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	int w3rc = child_result(w3, limit_ms(60000));
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
	pthread_join(h.tid, NULL);
	printf("hog resubmitted %lu requests without reading a reply\n", h.resubmitted);
	unsigned done = 0, bad = 0;
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		if (svc_raw_wait_done(&rc, i, tmo) < 0)
			continue;
		done++;
		int64_t r = svc_raw_slot(&rc, i)->result;
		int64_t want = i % 4 == 0 ? (int64_t)ANK_RING_DATA_PER_SLOT : 0;
		if (i % 4 == 3 ? (r < 0 || r > 4096 / 16) : r != want) {
			printf("slot %u (op %u): result %lld\n", i, svc_raw_slot(&rc, i)->opcode,
			       (long long)r);
			bad++;
		}
	}
	/* still all DONE and never freed: a second client works again */
	pid_t w2 = svc_fork();
	assert_true(w2 >= 0);
	if (w2 == 0)
		_exit(worker_client(g_svc.sock, "/other2", 10, 199));
	int w2rc = child_result(w2, limit_ms(60000));
	svc_raw_close(&rc);
	assert_int_equal(wrc, 0);
	assert_int_equal(w3rc, 0);
	assert_int_equal(w2rc, 0);
	assert_true(h.resubmitted > 0);
	assert_int_equal(done, ANK_RING_NSLOTS);
	assert_int_equal(bad, 0);
	/* the writes of the hog landed */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	struct stat st;
	assert_int_equal(ank_stat("/hog", &st), 0);
	assert_int_equal(st.st_size, (off_t)(ANK_RING_NSLOTS - 4) * MiB + ANK_RING_DATA_PER_SLOT);
	uint8_t *buf = malloc(MiB);
	assert_non_null(buf);
	int hfd = ank_open("/hog", O_RDONLY);
	assert_true(hfd >= 0);
	assert_int_equal(ank_pread(hfd, buf, MiB, 8 * MiB), MiB);
	assert_int_equal(pattern_check(buf, MiB, 4242, 8 * MiB), -1);
	assert_int_equal(ank_close(hfd), 0);
	free(buf);
	assert_int_equal(ank_unmount(), 0);
	struct svc_status sst;
	assert_int_equal(svc_status_wait(&g_svc, &sst, limit_ms(5000), clients_are, 0), 0);
	assert_int_equal(sst.restarts, 0);
	stop_and_check();
}

/* ---- 5. many clients ---------------------------------------------------------------- */

#define NCLIENTS 64

static int many_client(const char *sock, unsigned i, struct shared *sh, int go_fd)
{
	if (ank_mount(sock) < 0) {
		printf("[client %u] ank_mount: %s\n", i, strerror(errno));
		return 10;
	}
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_RELEASE);
	char c;
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		; /* EOF: go */
	size_t len = 4096 + (size_t)i * 3001;
	uint8_t *w = malloc(len), *r = malloc(len + 1);
	if (!w || !r)
		return 11;
	char path[32];
	snprintf(path, sizeof(path), "/client%u", i);
	int rc = write_verify(path, len, 5000 + i, i % 2 == 0, w, r);
	free(w);
	free(r);
	if (rc)
		return 20;
	if (ank_unmount() < 0)
		return 12;
	return 0;
}

static void sixty_four_clients_at_once(void **state)
{
	(void)state;
	start_service("256M");
	struct shared *sh = shared_new();
	int go[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid_t pids[NCLIENTS];
	for (unsigned i = 0; i < NCLIENTS; i++) {
		pids[i] = svc_fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			_exit(many_client(g_svc.sock, i, sh, go[0]));
		}
	}
	close(go[0]);
	uint64_t deadline = svc_now_ms() + limit_ms(30000);
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < NCLIENTS && svc_now_ms() < deadline)
		svc_sleep_ms(5);
	unsigned ready = __atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE);
	struct svc_status st;
	int strc = svc_status(&g_svc, &st);
	close(go[1]); /* go */
	int bad = 0;
	for (unsigned i = 0; i < NCLIENTS; i++)
		bad += child_result(pids[i], limit_ms(60000)) != 0;
	printf("%u clients mounted at once; status then: %lld clients\n", ready, st.clients);
	assert_int_equal(ready, NCLIENTS);
	assert_int_equal(strc, 0);
	assert_int_equal(st.clients, NCLIENTS);
	assert_int_equal(bad, 0);
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(10000), clients_are, 0), 0);
	/* everything they wrote is there */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	for (unsigned i = 0; i < NCLIENTS; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/client%u", i);
		assert_int_equal(read_verify(path, 4096 + (size_t)i * 3001, 5000 + i), 0);
	}
	assert_int_equal(ank_unmount(), 0);
	munmap(sh, 4096);
	stop_and_check();
}

/* ---- 6. server crash ---------------------------------------------------------------- */

struct loop_writer {
	pthread_t tid;
	struct shared *sh;
	unsigned ok, ok_after, eio, other, reopen_fail;
	int other_errno;
	uint32_t *restarted; /* set by the test once the new server is up */
};

static void *loop_writer_main(void *p)
{
	struct loop_writer *lw = p;
	uint8_t buf[65536];
	pattern(buf, sizeof(buf), 31337, 0);
	int fd = -1;
	for (unsigned n = 0; !__atomic_load_n(&lw->sh->stop, __ATOMIC_ACQUIRE); n++) {
		if (fd < 0) {
			fd = ank_open("/loop", O_CREAT | O_WRONLY, 0644);
			if (fd < 0) {
				lw->reopen_fail++;
				lw->other_errno = errno;
				svc_sleep_ms(1);
				continue;
			}
		}
		ssize_t r = ank_pwrite(fd, buf, sizeof(buf), (off_t)(n % 64) * (off_t)sizeof(buf));
		if (r == (ssize_t)sizeof(buf)) {
			__atomic_fetch_add(&lw->ok, 1, __ATOMIC_RELEASE);
			if (__atomic_load_n(lw->restarted, __ATOMIC_ACQUIRE))
				__atomic_fetch_add(&lw->ok_after, 1, __ATOMIC_RELEASE);
		} else if (r < 0 && errno == EIO) {
			/* the request the dead server held, or the fd it gave */
			lw->eio++;
			if (ank_close(fd) < 0) {
				lw->other++;
				lw->other_errno = errno;
			}
			fd = -1;
		} else {
			lw->other++;
			lw->other_errno = r < 0 ? errno : 0;
		}
	}
	if (fd >= 0)
		ank_close(fd);
	return NULL;
}

static bool restarted_once(const struct svc_status *st, long long old_pid)
{
	return st->restarts == 1 && st->server_pid > 0 && st->server_pid != old_pid &&
	       !strcmp(st->state, "running");
}

static void server_killed_restarts_and_fsynced_data_survives(void **state)
{
	(void)state;
	enum { NFILES = 5 };
	static const size_t sizes[NFILES] = {1, 4096, 100000, MiB + 1, 3 * MiB + 12345};
	/* The plain restart of mode none (test_recovery covers the default). */
	setenv("ANK_TEST_RECOVERY", "none", 1);
	start_service("256M");
	unsetenv("ANK_TEST_RECOVERY");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	uint8_t *w = malloc(4 * MiB), *r = malloc(4 * MiB);
	assert_non_null(w);
	assert_non_null(r);
	assert_int_equal(ank_mkdir("/keep", 0755), 0);
	for (unsigned i = 0; i < NFILES; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/keep/f%u", i);
		assert_int_equal(write_verify(path, sizes[i], 100 + i, true, w, r), 0);
	}
	/* an fd from before the crash */
	int old = ank_open("/keep/f2", O_RDWR);
	assert_true(old >= 0);
	char c;
	assert_int_equal(ank_pread(old, &c, 1, 0), 1);

	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	long long old_pid = st.server_pid;
	assert_true(old_pid > 0);
	assert_int_equal(st.restarts, 0);

	struct shared *sh = shared_new();
	uint32_t restarted = 0;
	struct loop_writer lw = {.sh = sh, .restarted = &restarted};
	assert_int_equal(pthread_create(&lw.tid, NULL, loop_writer_main, &lw), 0);
	uint64_t deadline = svc_now_ms() + limit_ms(10000);
	while (__atomic_load_n(&lw.ok, __ATOMIC_ACQUIRE) < 20 && svc_now_ms() < deadline)
		svc_sleep_ms(1);

	/* Stop the server so that the writer's next request is surely in
	 * flight, then kill it. */
	int fail = 0;
	if (kill((pid_t)old_pid, SIGSTOP) < 0)
		fail = 1;
	svc_sleep_ms(100);
	unsigned ok_at_kill = __atomic_load_n(&lw.ok, __ATOMIC_ACQUIRE);
	if (kill((pid_t)old_pid, SIGKILL) < 0)
		fail = 2;
	if (!fail && svc_status_wait(&g_svc, &st, limit_ms(15000), restarted_once, old_pid) < 0) {
		printf("no restart seen: %s\n", st.json);
		fail = 3;
	}
	__atomic_store_n(&restarted, 1, __ATOMIC_RELEASE);
	deadline = svc_now_ms() + limit_ms(10000);
	while (__atomic_load_n(&lw.ok_after, __ATOMIC_ACQUIRE) < 20 && svc_now_ms() < deadline)
		svc_sleep_ms(1);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	pthread_join(lw.tid, NULL);
	printf("writer: %u writes (%u before the kill, %u after the restart), %u EIO, %u other "
	       "errors (%s), %u failed reopens\n",
	       lw.ok, ok_at_kill, lw.ok_after, lw.eio, lw.other,
	       lw.other ? strerror(lw.other_errno) : "-", lw.reopen_fail);
	assert_int_equal(fail, 0);
	assert_int_equal(lw.other, 0);
	assert_int_equal(lw.reopen_fail, 0);
	assert_in_range(lw.eio, 1, 3); /* the request in flight; at most a stale fd more */
	assert_true(lw.ok_after >= 20);
	assert_int_equal(st.epoch, 2);

	/* fsync'd files are intact */
	for (unsigned i = 0; i < NFILES; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/keep/f%u", i);
		assert_int_equal(read_verify(path, sizes[i], 100 + i), 0);
	}
	/* the old fd is stale: EIO on use, close works */
	errno = 0;
	assert_int_equal(ank_pread(old, &c, 1, 0), -1);
	assert_int_equal(errno, EIO);
	struct stat sst;
	errno = 0;
	assert_int_equal(ank_fstat(old, &sst), -1);
	assert_int_equal(errno, EIO);
	errno = 0;
	assert_int_equal(ank_write(old, "x", 1), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(ank_close(old), 0);
	/* new opens work */
	assert_int_equal(write_verify("/after", 200000, 555, true, w, r), 0);
	int nfd = ank_open("/keep/f3", O_RDONLY);
	assert_true(nfd >= 0);
	assert_int_equal(ank_pread(nfd, r, sizes[3], 0), (ssize_t)sizes[3]);
	assert_int_equal(pattern_check(r, sizes[3], 103, 0), -1);
	assert_int_equal(ank_close(nfd), 0);
	free(w);
	free(r);
	assert_int_equal(ank_unmount(), 0);
	munmap(sh, 4096);
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_int_equal(st.restarts, 1);
	stop_and_check();
}

/* ---- 7. status and stop ------------------------------------------------------------- */

static void status_and_stop(void **state)
{
	(void)state;
	start_service("256M");
	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	printf("%s", st.json);
	assert_string_equal(st.state, "running");
	assert_int_equal(st.supervisor_pid, g_svc.sup_pid);
	assert_true(st.server_pid > 0);
	assert_true(st.server_pid != st.supervisor_pid);
	assert_int_equal(st.clients, 0);
	assert_int_equal(st.rings, 0);
	assert_int_equal(st.restarts, 0);
	assert_int_equal(st.epoch, 1);
	assert_int_equal(st.workers_running, WORKERS);
	assert_true(strstr(st.json, "\"ops\":") != NULL);

	/* a client shows up, and goes */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(svc_status(&g_svc, &st), 0);
	assert_int_equal(st.clients, 1);
	assert_int_equal(st.rings, 1);
	long long ops0 = st.ops;
	assert_int_equal(ank_mkdir("/d", 0755), 0);
	uint8_t w[1000], r[1001];
	assert_int_equal(write_verify("/d/f", sizeof(w), 7, true, w, r), 0);
	assert_int_equal(ank_unmount(), 0);
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(5000), clients_are, 0), 0);
	assert_true(st.ops >= ops0 + 6);

	/* stop: clean exit of everything, socket gone */
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(access(g_svc.sock, F_OK), -1);
	assert_int_equal(svc_fsck(&g_svc), 0);
	/* nothing answers any more */
	char out[256];
	assert_true(svc_cmd(out, sizeof(out), limit_ms(10000), "stop", "--socket", g_svc.sock,
	                    (char *)NULL) > 0);
	assert_true(svc_cmd(out, sizeof(out), limit_ms(10000), "status", "--socket", g_svc.sock,
	                    "--json", (char *)NULL) > 0);
	assert_int_equal(ank_mount(g_svc.sock), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);
	g_clean = true;
}

/* ---- 8. permissions ----------------------------------------------------------------- */

static int nobody_client(const char *sock)
{
	umask(022);
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0) {
		printf("[nobody] cannot drop privileges: %s\n", strerror(errno));
		return 10;
	}
	if (ank_mount(sock) < 0) {
		printf("[nobody] ank_mount: %s\n", strerror(errno));
		return 11;
	}
	int rc = 0;
	errno = 0;
	if (ank_open("/secret", O_RDONLY) != -1 || errno != EACCES) {
		printf("[nobody] open of the 0600 root file: errno %s\n", strerror(errno));
		rc = 20;
	}
	errno = 0;
	if (!rc && (ank_open("/rootdir/mine", O_CREAT | O_WRONLY, 0644) != -1 || errno != EACCES)) {
		printf("[nobody] create in the 0755 root directory: errno %s\n", strerror(errno));
		rc = 21;
	}
	errno = 0;
	if (!rc && (ank_mkdir("/rootdir/sub", 0755) != -1 || errno != EACCES)) {
		printf("[nobody] mkdir in the 0755 root directory: errno %s\n", strerror(errno));
		rc = 22;
	}
	errno = 0;
	if (!rc && (ank_unlink("/rootdir/file") != -1 || errno != EACCES)) {
		printf("[nobody] unlink in the 0755 root directory: errno %s\n", strerror(errno));
		rc = 23;
	}
	errno = 0;
	if (!rc && (ank_open("/rootdir/file", O_WRONLY) != -1 || errno != EACCES)) {
		printf("[nobody] open for writing of a 0644 root file: errno %s\n", strerror(errno));
		rc = 24;
	}
	/* reading what others may read works */
	int fd = -1;
	if (!rc && (fd = ank_open("/rootdir/file", O_RDONLY)) < 0) {
		printf("[nobody] open of a 0644 root file for reading: %s\n", strerror(errno));
		rc = 25;
	}
	if (fd >= 0)
		ank_close(fd);
	/* the 0777 directory lets anyone create */
	fd = -1;
	if (!rc && (fd = ank_open("/shared/mine", O_CREAT | O_EXCL | O_WRONLY, 0640)) < 0) {
		printf("[nobody] create in the 0777 directory: %s\n", strerror(errno));
		rc = 26;
	}
	if (fd >= 0 && ank_write(fd, "hello", 5) != 5)
		rc = 27;
	if (fd >= 0 && ank_close(fd) < 0)
		rc = 28;
	struct stat st;
	if (!rc && (ank_stat("/shared/mine", &st) < 0 || st.st_uid != 65534 || st.st_gid != 65534 ||
	            (st.st_mode & 07777) != 0640)) {
		printf("[nobody] the new file: uid %u gid %u mode %o\n", (unsigned)st.st_uid,
		       (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
		rc = 29;
	}
	if (!rc && ank_mkdir("/shared/subdir", 0755) < 0) {
		printf("[nobody] mkdir in the 0777 directory: %s\n", strerror(errno));
		rc = 30;
	}
	ank_unmount();
	return rc;
}

static void permissions_are_enforced_with_client_credentials(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("not root: cannot switch users, skipped\n");
		skip();
	}
	start_service("256M");
	assert_int_equal(svc_share(&g_svc), 0);
	mode_t old = umask(0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	umask(old);
	int fd = ank_open("/secret", O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, "root only", 9), 9);
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_mkdir("/rootdir", 0755), 0);
	fd = ank_open("/rootdir/file", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_mkdir("/shared", 0777), 0);
	struct stat st;
	assert_int_equal(ank_stat("/shared", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0777);
	assert_int_equal(st.st_uid, 0);

	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(nobody_client(g_svc.sock));
	assert_int_equal(child_result(pid, limit_ms(30000)), 0);
	/* root sees nobody's file, and still reads its own */
	assert_int_equal(ank_stat("/shared/mine", &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(ank_stat("/rootdir/file", &st), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/* ---- 8b. permissions, differential -------------------------------------------------- */

/* Modes of the root-owned directories and files that another user then
 * meets. Sticky directories have their own test below. */
static const mode_t perm_dir_modes[] = {0000, 0100, 0300, 0311, 0333, 0500, 0555,
                                        0700, 0711, 0733, 0755, 0777, 0705, 0750};
static const mode_t perm_file_modes[] = {0000, 0400, 0200, 0600, 0644, 0666, 0604, 0602,
                                         0606, 0004, 0002, 0040, 0020, 0060, 0640, 0660};

static int perm_mkfile(struct target *t, const char *path, mode_t mode)
{
	int fd = t->open(t->ctx, path, O_CREAT | O_EXCL | O_WRONLY, mode);
	if (fd < 0)
		return fd;
	long w = t->write(t->ctx, fd, "hello", 5);
	int rc = t->close(t->ctx, fd);
	return w != 5 ? -EIO : rc;
}

/* The layout, made by root under `base` (mode 0755). 0 or -errno. */
static int perm_layout(struct target *t, const char *base)
{
	char p[256];
	int rc = t->mkdir(t->ctx, base, 0755);
	for (size_t i = 0; !rc && i < NELEM(perm_dir_modes); i++) {
		snprintf(p, sizeof(p), "%s/d%04o", base, (unsigned)perm_dir_modes[i]);
		rc = t->mkdir(t->ctx, p, perm_dir_modes[i]);
		snprintf(p, sizeof(p), "%s/d%04o/f", base, (unsigned)perm_dir_modes[i]);
		if (!rc)
			rc = perm_mkfile(t, p, 0644);
		snprintf(p, sizeof(p), "%s/d%04o/g", base, (unsigned)perm_dir_modes[i]);
		if (!rc)
			rc = perm_mkfile(t, p, 0666);
		snprintf(p, sizeof(p), "%s/d%04o/s", base, (unsigned)perm_dir_modes[i]);
		if (!rc)
			rc = t->mkdir(t->ctx, p, 0755);
	}
	for (size_t i = 0; !rc && i < NELEM(perm_file_modes); i++) {
		snprintf(p, sizeof(p), "%s/f%04o", base, (unsigned)perm_file_modes[i]);
		rc = perm_mkfile(t, p, perm_file_modes[i]);
	}
	return rc;
}

struct pcmp {
	struct target *a, *b;
	unsigned n, diffs, ok;
};

static void pc_same(struct pcmp *p, const char *what, long ra, long rb)
{
	char x[32], y[32];
	p->n++;
	p->ok += ra >= 0;
	if (ra != rb && p->diffs++ < 40)
		printf("  %s: %s %s, %s %s\n", what, p->a->name, oracle_result_str(ra, x, sizeof(x)),
		       p->b->name, oracle_result_str(rb, y, sizeof(y)));
}

static void pc_open(struct pcmp *p, const char *path, int flags, mode_t mode)
{
	char what[300], fb[16];
	snprintf(fb, sizeof(fb), "%#o", (unsigned)flags);
	snprintf(what, sizeof(what), "open(%s, %s)", path, fb);
	int ra = p->a->open(p->a->ctx, path, flags, mode);
	int rb = p->b->open(p->b->ctx, path, flags, mode);
	pc_same(p, what, ra < 0 ? ra : 0, rb < 0 ? rb : 0);
	if (ra >= 0 && rb >= 0) {
		struct stat sa, sb;
		if (p->a->fstat(p->a->ctx, ra, &sa) == 0 && p->b->fstat(p->b->ctx, rb, &sb) == 0 &&
		    (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
		     (sa.st_mode & 07777) != (sb.st_mode & 07777))) {
			p->n++;
			if (p->diffs++ < 40)
				printf("  %s: owner/mode %u:%u %o vs %u:%u %o\n", what, (unsigned)sa.st_uid,
				       (unsigned)sa.st_gid, (unsigned)(sa.st_mode & 07777),
				       (unsigned)sb.st_uid, (unsigned)sb.st_gid,
				       (unsigned)(sb.st_mode & 07777));
		}
	}
	if (ra >= 0)
		p->a->close(p->a->ctx, ra);
	if (rb >= 0)
		p->b->close(p->b->ctx, rb);
}

/* Everything another user may try on the layout, on both targets. */
static void perm_ops(struct pcmp *p, const char *base)
{
	char d[256], x[300], y[300], w[700];
	struct stat st;
	struct oracle_dirlist la, lb;
	for (size_t i = 0; i < NELEM(perm_dir_modes); i++) {
		snprintf(d, sizeof(d), "%s/d%04o", base, (unsigned)perm_dir_modes[i]);
		snprintf(x, sizeof(x), "%s/f", d);
		snprintf(w, sizeof(w), "stat(%s)", x);
		pc_same(p, w, p->a->stat(p->a->ctx, x, &st), p->b->stat(p->b->ctx, x, &st));
		pc_open(p, x, O_RDONLY, 0);
		pc_open(p, d, O_RDONLY | O_DIRECTORY, 0);
		oracle_dirlist_init(&la);
		oracle_dirlist_init(&lb);
		snprintf(w, sizeof(w), "list_dir(%s)", d);
		pc_same(p, w, p->a->list_dir(p->a->ctx, d, &la), p->b->list_dir(p->b->ctx, d, &lb));
		oracle_dirlist_free(&la);
		oracle_dirlist_free(&lb);
		snprintf(x, sizeof(x), "%s/new", d);
		pc_open(p, x, O_CREAT | O_EXCL | O_WRONLY, 0640);
		snprintf(y, sizeof(y), "%s/lnk", d);
		snprintf(w, sizeof(w), "link(%s, %s)", x, y);
		pc_same(p, w, p->a->link(p->a->ctx, x, y), p->b->link(p->b->ctx, x, y));
		snprintf(w, sizeof(w), "unlink(%s)", y);
		pc_same(p, w, p->a->unlink(p->a->ctx, y), p->b->unlink(p->b->ctx, y));
		snprintf(x, sizeof(x), "%s/nd", d);
		snprintf(w, sizeof(w), "mkdir(%s)", x);
		pc_same(p, w, p->a->mkdir(p->a->ctx, x, 0750), p->b->mkdir(p->b->ctx, x, 0750));
		snprintf(w, sizeof(w), "rmdir(%s)", x);
		pc_same(p, w, p->a->rmdir(p->a->ctx, x), p->b->rmdir(p->b->ctx, x));
		snprintf(x, sizeof(x), "%s/g", d);
		snprintf(y, sizeof(y), "%s/g2", d);
		snprintf(w, sizeof(w), "rename(%s, %s)", x, y);
		pc_same(p, w, p->a->rename(p->a->ctx, x, y), p->b->rename(p->b->ctx, x, y));
		snprintf(w, sizeof(w), "rename(%s, %s)", y, x);
		pc_same(p, w, p->a->rename(p->a->ctx, y, x), p->b->rename(p->b->ctx, y, x));
		snprintf(w, sizeof(w), "truncate(%s, 1)", x);
		pc_same(p, w, p->a->truncate(p->a->ctx, x, 1), p->b->truncate(p->b->ctx, x, 1));
		pc_open(p, x, O_WRONLY | O_APPEND, 0);
		snprintf(x, sizeof(x), "%s/new", d);
		snprintf(w, sizeof(w), "unlink(%s)", x);
		pc_same(p, w, p->a->unlink(p->a->ctx, x), p->b->unlink(p->b->ctx, x));
		snprintf(x, sizeof(x), "%s/f", d);
		snprintf(w, sizeof(w), "unlink(%s)", x);
		pc_same(p, w, p->a->unlink(p->a->ctx, x), p->b->unlink(p->b->ctx, x));
		snprintf(x, sizeof(x), "%s/s", d);
		snprintf(w, sizeof(w), "rmdir(%s)", x);
		pc_same(p, w, p->a->rmdir(p->a->ctx, x), p->b->rmdir(p->b->ctx, x));
		snprintf(x, sizeof(x), "%s/s/deeper", d);
		snprintf(w, sizeof(w), "mkdir(%s)", x);
		pc_same(p, w, p->a->mkdir(p->a->ctx, x, 0755), p->b->mkdir(p->b->ctx, x, 0755));
	}
	static const int open_flags[] = {O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_APPEND,
	                                 O_RDWR | O_CREAT, O_WRONLY | O_TRUNC, O_RDONLY | O_DIRECTORY};
	for (size_t i = 0; i < NELEM(perm_file_modes); i++) {
		snprintf(x, sizeof(x), "%s/f%04o", base, (unsigned)perm_file_modes[i]);
		snprintf(w, sizeof(w), "stat(%s)", x);
		pc_same(p, w, p->a->stat(p->a->ctx, x, &st), p->b->stat(p->b->ctx, x, &st));
		for (size_t k = 0; k < NELEM(open_flags); k++)
			pc_open(p, x, open_flags[k], 0644);
		snprintf(w, sizeof(w), "truncate(%s, 2)", x);
		pc_same(p, w, p->a->truncate(p->a->ctx, x, 2), p->b->truncate(p->b->ctx, x, 2));
		snprintf(y, sizeof(y), "%s/d0777/moved", base);
		snprintf(w, sizeof(w), "rename(%s, %s)", x, y);
		pc_same(p, w, p->a->rename(p->a->ctx, x, y), p->b->rename(p->b->ctx, x, y));
	}
}

/* As uid 65534 with gid `gid` (65534: "other" bits apply; 0: root's group). */
static int perm_child(const char *sock, const char *libc_root, const char *base, gid_t gid)
{
	umask(0);
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(65534) < 0)
		return 10;
	if (ank_mount(sock) < 0) {
		printf("[uid 65534 gid %u] ank_mount: %s\n", (unsigned)gid, strerror(errno));
		return 11;
	}
	struct target a, b;
	if (target_libc_attach(&a, "linux", libc_root) || target_ank_new(&b, "ananke", "/perm"))
		return 12;
	struct pcmp p = {.a = &a, .b = &b};
	printf("as uid 65534 gid %u:\n", (unsigned)gid);
	perm_ops(&p, base);
	printf("  %u operations (%u allowed on Linux), %u differences\n", p.n, p.ok, p.diffs);
	target_destroy(&b);
	target_destroy(&a);
	ank_unmount();
	return p.diffs ? 1 : 0;
}

static void permission_answers_match_linux_for_another_user(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("not root: cannot switch users, skipped\n");
		skip();
	}
	start_service("256M");
	assert_int_equal(svc_share(&g_svc), 0);
	struct target a, b;
	assert_int_equal(target_libc_new(&a, "linux"), 0); /* umask 0 from here on */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(ank_mkdir("/perm", 0755), 0);
	assert_int_equal(target_ank_new(&b, "ananke", "/perm"), 0);
	static const char *const bases[] = {"/other", "/group"};
	static const gid_t gids[] = {65534, 0};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(perm_layout(&a, bases[k]), 0);
		assert_int_equal(perm_layout(&b, bases[k]), 0);
	}
	int bad = 0;
	for (int k = 0; k < 2; k++) {
		pid_t pid = svc_fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(perm_child(g_svc.sock, target_libc_root(&a), bases[k], gids[k]));
		bad += child_result(pid, limit_ms(30000)) != 0;
	}
	/* the trees agree afterwards, too */
	char msg[2048];
	int cmp = oracle_compare_trees(&a, &b, true, msg, sizeof(msg));
	if (cmp)
		printf("trees differ afterwards: %s\n", msg);
	target_destroy(&b);
	target_destroy(&a);
	assert_int_equal(bad, 0);
	assert_int_equal(cmp, 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/* ---- 9. large I/O ------------------------------------------------------------------- */

/* Write data damaged in the shared ring between the client's checksum and
 * the server (a stray write, a bit flip) is refused with EIO and reaches
 * no file; the same request with its data intact is written. */
static void write_data_damaged_in_the_ring_is_refused_with_eio(void **state)
{
	(void)state;
	start_service("64M");
	struct svc_raw rc;
	assert_int_equal(svc_raw_connect(&rc, g_svc.sock), 0);
	unsigned tmo = limit_ms(20000);
	int64_t fd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/dmg",
	                          NULL, tmo);
	assert_true(fd >= 0);
	for (int op = ANK_OP_WRITE; op <= ANK_OP_PWRITE; op += ANK_OP_PWRITE - ANK_OP_WRITE) {
		struct ank_ring_slot *s = svc_raw_slot(&rc, 1);
		uint8_t *data = svc_raw_data(&rc, 1);
		ank_store_release(&s->state, ANK_SLOT_CLIENT);
		svc_raw_fill(&rc, 1, (uint32_t)op, (int32_t)fd, 0, 0, 0, 8192, NULL, NULL);
		memset(data, 'a', 8192);
		s->data_sum = crc32c(0, data, 8192);
		svc_raw_sum(&rc, 1);
		data[4100] ^= 0x04; /* after the client's checksums */
		svc_raw_publish_as_is(&rc, 1); /* (svc_raw_publish would sum it) */
		assert_int_equal(svc_raw_wait_done(&rc, 1, tmo), 0);
		assert_int_equal(s->result, -EIO);
		ank_store_release(&s->state, ANK_SLOT_FREE);
	}
	/* nothing reached the file, and the offset did not move */
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_LSEEK, (int32_t)fd, SEEK_END, 0, 0, 0, NULL,
	                              NULL, tmo), 0);
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_LSEEK, (int32_t)fd, SEEK_CUR, 0, 0, 0, NULL,
	                              NULL, tmo), 0);
	/* intact data is written */
	memset(svc_raw_data(&rc, 2), 'b', 8192);
	assert_int_equal(svc_raw_call(&rc, 2, ANK_OP_PWRITE, (int32_t)fd, 0, 0, 0, 8192, NULL,
	                              NULL, tmo), 8192);
	svc_raw_close(&rc);
	assert_true(svc_log_contains(&g_svc, "of 8192 bytes on fd"));
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
	g_clean = true;
}

/* A request whose fields or paths are damaged in the ring after the client
 * took their checksums (req_sum, path_sum) is answered EIO and not run: a
 * pwrite whose offset changed writes nothing anywhere, an open whose path
 * changed creates nothing. */
static void request_damaged_in_the_ring_is_refused_with_eio(void **state)
{
	(void)state;
	start_service("64M");
	struct svc_raw rc;
	assert_int_equal(svc_raw_connect(&rc, g_svc.sock), 0);
	unsigned tmo = limit_ms(20000);
	int64_t fd = svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/req",
	                          NULL, tmo);
	assert_true(fd >= 0);
	struct ank_ring_slot *s = svc_raw_slot(&rc, 1);
	uint8_t *data = svc_raw_data(&rc, 1);
	/* a pwrite at 0 whose offset becomes 1 GiB on the way */
	ank_store_release(&s->state, ANK_SLOT_CLIENT);
	svc_raw_fill(&rc, 1, ANK_OP_PWRITE, (int32_t)fd, 0, 0, 0, 4096, NULL, NULL);
	memset(data, 'c', 4096);
	s->data_sum = crc32c(0, data, 4096);
	svc_raw_sum(&rc, 1);
	s->off ^= (int64_t)1 << 30;
	svc_raw_publish_as_is(&rc, 1);
	assert_int_equal(svc_raw_wait_done(&rc, 1, tmo), 0);
	assert_int_equal(s->result, -EIO);
	ank_store_release(&s->state, ANK_SLOT_FREE);
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_LSEEK, (int32_t)fd, SEEK_END, 0, 0, 0, NULL,
	                              NULL, tmo), 0);
	/* an open(O_CREAT) of "/made" whose path becomes "/mad\x65" ^ 1 */
	ank_store_release(&s->state, ANK_SLOT_CLIENT);
	svc_raw_fill(&rc, 1, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/made", NULL);
	svc_raw_sum(&rc, 1);
	data[4] ^= 0x01;
	svc_raw_publish_as_is(&rc, 1);
	assert_int_equal(svc_raw_wait_done(&rc, 1, tmo), 0);
	assert_int_equal(s->result, -EIO);
	ank_store_release(&s->state, ANK_SLOT_FREE);
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_STAT, -1, 0, 0, 0, 0, "/made", NULL, tmo),
	                 -ENOENT);
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_STAT, -1, 0, 0, 0, 0, "/madd", NULL, tmo),
	                 -ENOENT);
	/* the same requests intact run */
	assert_int_equal(svc_raw_call(&rc, 0, ANK_OP_OPEN, -1, O_CREAT | O_RDWR, 0644, 0, 0, "/made",
	                              NULL, tmo) >= 0, 1);
	svc_raw_close(&rc);
	assert_true(svc_log_contains(&g_svc, "a request (opcode"));
	assert_true(svc_log_contains(&g_svc, "the paths of a request"));
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
	g_clean = true;
}

/* The server's anonymous memory (RssAnon of /proc/PID/status) in KiB. */
static long server_anon_kib(void)
{
	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%lld/status", st.server_pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	assert_true(kib >= 0);
	return kib;
}

/* Write a 48 MiB file and read it twice through a service whose page cache
 * is `cache`; the server's anonymous memory afterwards, in MiB. */
static long cache_run(const char *cache)
{
	char opts[64];
	snprintf(opts, sizeof(opts), "--cache-size %s", cache);
	setenv("ANK_TEST_SERVE_OPTS", opts, 1);
	start_service("256M");
	unsetenv("ANK_TEST_SERVE_OPTS");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	size_t len = 48 * MiB;
	uint8_t *w = malloc(len), *r = malloc(len);
	assert_non_null(w);
	assert_non_null(r);
	pattern(w, len, 77, 0);
	int fd = ank_open("/big", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_pwrite(fd, w, len, 0), (ssize_t)len);
	for (int k = 0; k < 2; k++) {
		memset(r, 0, len);
		assert_int_equal(ank_pread(fd, r, len, 0), (ssize_t)len);
		assert_int_equal(pattern_check(r, len, 77, 0), -1);
	}
	long mib = server_anon_kib() / 1024;
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_unmount(), 0);
	free(w);
	free(r);
	stop_and_check();
	svc_destroy(&g_svc);
	g_clean = false;
	return mib;
}

/* --cache-size bounds the server's page cache: with 8 MiB, reading a 48 MiB
 * file leaves the server small; with 256 MiB the file stays cached. Bad
 * sizes are refused with a message. */
static void cache_size_bounds_the_servers_page_cache(void **state)
{
	(void)state;
	char out[1024];
	static const char *bad[] = {"3X", "1000", "2M3", "-8M", "1K", "2T"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(svc_cmd_quiet(out, sizeof(out), 10000, "serve", "/nonexistent/img",
					       "--cache-size", bad[i], (char *)NULL),
				 2);
	/* a good size gets past the options (and fails on the image) */
	int rc = svc_cmd_quiet(out, sizeof(out), 10000, "serve", "/nonexistent/img", "--cache-size",
			       "8M", (char *)NULL);
	assert_true(rc != 2 && rc != 0);
	long small = cache_run("8M");
	long large = cache_run("256M");
	printf("server anonymous memory after a 48 MiB file: %ld MiB with --cache-size 8M, "
	       "%ld MiB with 256M\n", small, large);
	assert_true(small < 40);
	assert_true(large >= 48);
}

static void large_io_through_the_ring(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		size_t len;
		off_t off;
	} cases[] = {
		{"/one", 1, 0},
		{"/mib1", MiB + 1, 0},
		{"/mib1-odd", MiB + 1, 4095},
		{"/big", 64 * MiB, 0},
	};
	enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
	start_service("256M");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	uint8_t *w = malloc(64 * MiB + 1), *r = malloc(64 * MiB + 4096);
	assert_non_null(w);
	assert_non_null(r);
	for (unsigned k = 0; k < NCASES; k++) {
		size_t len = cases[k].len;
		off_t off = cases[k].off;
		pattern(w, len, 900 + k, 0);
		int fd = ank_open(cases[k].path, O_CREAT | O_RDWR | O_TRUNC, 0644);
		assert_true(fd >= 0);
		uint64_t t0 = svc_now_ms();
		if (off)
			assert_int_equal(ank_pwrite(fd, w, len, off), (ssize_t)len);
		else
			assert_int_equal(ank_write(fd, w, len), (ssize_t)len);
		uint64_t t1 = svc_now_ms();
		struct stat st;
		assert_int_equal(ank_fstat(fd, &st), 0);
		assert_int_equal(st.st_size, off + (off_t)len);
		/* read it back in one call (asking for more than there is) */
		memset(r, 0xA5, len + 1);
		assert_int_equal(ank_lseek(fd, off, SEEK_SET), off);
		assert_int_equal(ank_read(fd, r, len + 1), (ssize_t)len);
		assert_int_equal(pattern_check(r, len, 900 + k, 0), -1);
		assert_int_equal(r[len], 0xA5);
		/* and positioned, from an odd place to the end */
		size_t skip_ = len / 3;
		assert_int_equal(ank_pread(fd, r, len, off + (off_t)skip_), (ssize_t)(len - skip_));
		assert_int_equal(pattern_check(r, len - skip_, 900 + k, skip_), -1);
		if (off) {
			/* the hole in front reads as zeros */
			assert_int_equal(ank_pread(fd, r, (size_t)off, 0), (ssize_t)off);
			for (off_t i = 0; i < off; i++)
				assert_int_equal(r[i], 0);
		}
		assert_int_equal(ank_fsync(fd), 0);
		assert_int_equal(ank_close(fd), 0);
		printf("%-10s %9zu bytes at %5lld: write %llu ms, verified\n", cases[k].path, len,
		       (long long)off, (unsigned long long)(t1 - t0));
	}
	assert_int_equal(ank_unmount(), 0);
	/* the same bytes after a stop and a new start */
	assert_int_equal(svc_stop(&g_svc), 0);
	assert_int_equal(svc_fsck(&g_svc), 0);
	assert_int_equal(svc_restart(&g_svc, WORKERS), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	for (unsigned k = 0; k < NCASES; k++) {
		int fd = ank_open(cases[k].path, O_RDONLY);
		assert_true(fd >= 0);
		size_t len = cases[k].len;
		assert_int_equal(ank_pread(fd, r, len + 1, cases[k].off), (ssize_t)len);
		assert_int_equal(pattern_check(r, len, 900 + k, 0), -1);
		assert_int_equal(ank_close(fd), 0);
	}
	free(w);
	free(r);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/* ---- reproducers of bugs found by the tests above ----------------------------------- */

/*
 * A sticky directory (mode 01777, like /tmp) lets users remove or rename only
 * their own entries: Linux answers EPERM for another user's file or
 * directory. Checked against Linux first, in the same child.
 */
static int sticky_child(const char *sock, const char *libc_root)
{
	umask(0);
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	if (ank_mount(sock) < 0)
		return 11;
	struct target a, b;
	if (target_libc_attach(&a, "linux", libc_root) || target_ank_new(&b, "ananke", "/perm"))
		return 12;
	struct target *t[2] = {&a, &b};
	long r[2][5];
	for (int k = 0; k < 2; k++) {
		struct target *x = t[k];
		r[k][0] = x->unlink(x->ctx, "/sticky/rootfile1");
		r[k][1] = x->rename(x->ctx, "/sticky/rootfile2", "/sticky/mine");
		r[k][2] = x->rmdir(x->ctx, "/sticky/rootdir1");
		r[k][3] = x->rename(x->ctx, "/sticky/rootdir2", "/sticky/minedir");
		/* its own entries it may remove */
		int fd = x->open(x->ctx, "/sticky/own", O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd >= 0)
			x->close(x->ctx, fd);
		r[k][4] = fd < 0 ? fd : x->unlink(x->ctx, "/sticky/own");
	}
	static const char *const what[5] = {"unlink(root's file)", "rename(root's file)",
	                                    "rmdir(root's directory)", "rename(root's directory)",
	                                    "create + unlink(own file)"};
	int bad = 0;
	for (int i = 0; i < 5; i++) {
		char x[32], y[32];
		bool want_eperm = i < 4;
		bool linux_ok = want_eperm ? r[0][i] == -EPERM : r[0][i] == 0;
		printf("  %-26s linux %-8s ananke %s\n", what[i], oracle_result_str(r[0][i], x, sizeof(x)),
		       oracle_result_str(r[1][i], y, sizeof(y)));
		if (!linux_ok)
			bad |= 1; /* the host does not behave as expected: no verdict */
		else if (r[1][i] != r[0][i])
			bad |= 2;
	}
	target_destroy(&b);
	target_destroy(&a);
	ank_unmount();
	return bad == 1 ? 77 : bad ? 1 : 0;
}

static void sticky_directory_keeps_other_users_from_removing_entries(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("not root: cannot switch users, skipped\n");
		skip();
	}
	start_service("256M");
	assert_int_equal(svc_share(&g_svc), 0);
	struct target a, b;
	assert_int_equal(target_libc_new(&a, "linux"), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(ank_mkdir("/perm", 0755), 0);
	assert_int_equal(target_ank_new(&b, "ananke", "/perm"), 0);
	struct target *t[2] = {&a, &b};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(t[k]->mkdir(t[k]->ctx, "/sticky", 01777), 0);
		assert_int_equal(perm_mkfile(t[k], "/sticky/rootfile1", 0666), 0);
		assert_int_equal(perm_mkfile(t[k], "/sticky/rootfile2", 0666), 0);
		assert_int_equal(t[k]->mkdir(t[k]->ctx, "/sticky/rootdir1", 0777), 0);
		assert_int_equal(t[k]->mkdir(t[k]->ctx, "/sticky/rootdir2", 0777), 0);
		struct stat st;
		assert_int_equal(t[k]->stat(t[k]->ctx, "/sticky", &st), 0);
		assert_int_equal(st.st_mode & 07777, 01777);
	}
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(sticky_child(g_svc.sock, target_libc_root(&a)));
	int rc = child_result(pid, limit_ms(30000));
	target_destroy(&b);
	target_destroy(&a);
	if (rc == 77) {
		printf("the host does not enforce the sticky bit as expected: skipped\n");
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/*
 * statfs, access and symbolic links through the ring. access(2) answers are
 * compared with Linux's on the same files (as this process's user); statfs
 * must count the blocks a write allocates; a link's target, its lstat and
 * the file it leads to come back as made.
 */
/* FD_CLOEXEC is kept by libananke per fd number (the service has no exec):
 * the same script of opens, dups and F_SETFD gives Linux's F_GETFD answers,
 * before and after the server is SIGKILLed and recovered, and the fds go
 * on working. */
static void fd_flags_match_linux_and_outlive_a_server_crash(void **state)
{
	(void)state;
	start_service("64M");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	char dir[] = "/tmp/ank-fdflags-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char lp[128];
	snprintf(lp, sizeof(lp), "%s/f", dir);
	int fa = ank_open("/f", O_CREAT | O_RDWR, 0644), fl = open(lp, O_CREAT | O_RDWR, 0644);
	assert_true(fa >= 0 && fl >= 0);
	assert_int_equal(ank_write(fa, "abcdef", 6), 6);
	assert_int_equal(write(fl, "abcdef", 6), 6);
	enum { N = 8 };
	int a[N], l[N]; /* slot i: ananke's and Linux's fd */
	for (int i = 0; i < N; i++)
		a[i] = l[i] = -1;
	a[0] = fa, l[0] = fl;
	a[1] = ank_open("/f", O_RDONLY | O_CLOEXEC), l[1] = open(lp, O_RDONLY | O_CLOEXEC);
	a[2] = ank_dup(a[1]), l[2] = dup(l[1]);                           /* dup clears */
	a[3] = ank_fcntl(a[0], F_DUPFD_CLOEXEC, 0), l[3] = fcntl(l[0], F_DUPFD_CLOEXEC, 0);
	a[4] = ank_fcntl(a[1], F_DUPFD, 0), l[4] = fcntl(l[1], F_DUPFD, 0);
	for (int i = 0; i < 5; i++)
		assert_true(a[i] >= 0 && l[i] >= 0);
	/* dup3 with O_CLOEXEC onto slot 4's number; dup2 onto slot 3's clears */
	a[5] = ank_dup3(a[0], a[4], O_CLOEXEC), l[5] = dup3(l[0], l[4], O_CLOEXEC);
	a[4] = l[4] = -1;
	a[6] = ank_dup2(a[1], a[3]), l[6] = dup2(l[1], l[3]);
	a[3] = l[3] = -1;
	assert_int_equal(ank_fcntl(a[0], F_SETFD, FD_CLOEXEC), 0);
	assert_int_equal(fcntl(l[0], F_SETFD, FD_CLOEXEC), 0);
	assert_int_equal(ank_fcntl(a[1], F_SETFD, 0), 0);
	assert_int_equal(fcntl(l[1], F_SETFD, 0), 0);
	/* a closed number opened again starts without FD_CLOEXEC */
	assert_int_equal(ank_close(a[0]), 0);
	assert_int_equal(close(l[0]), 0);
	a[0] = ank_open("/f", O_RDWR), l[0] = open(lp, O_RDWR);
	a[7] = ank_open("/f", O_WRONLY | O_CLOEXEC | O_APPEND);
	l[7] = open(lp, O_WRONLY | O_CLOEXEC | O_APPEND);

	int want[N];
	for (int i = 0; i < N; i++) {
		if (l[i] < 0)
			continue;
		want[i] = fcntl(l[i], F_GETFD);
		int got = ank_fcntl(a[i], F_GETFD);
		if (got != want[i])
			printf("slot %d: F_GETFD %d, Linux %d\n", i, got, want[i]);
		assert_int_equal(got, want[i]);
	}
	assert_int_equal(want[1], 0);
	assert_int_equal(want[5], FD_CLOEXEC);
	assert_int_equal(want[7], FD_CLOEXEC);
	errno = 0;
	assert_int_equal(ank_fcntl(1000, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(ank_fcntl(1000, F_SETFD, FD_CLOEXEC), -1);
	assert_int_equal(errno, EBADF);

	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	long long old_pid = st.server_pid;
	assert_true(old_pid > 0);
	assert_int_equal(kill((pid_t)old_pid, SIGKILL), 0);
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(15000), restarted_once, old_pid), 0);

	for (int i = 0; i < N; i++) {
		if (l[i] < 0)
			continue;
		assert_int_equal(ank_fcntl(a[i], F_GETFD), want[i]);
		assert_int_equal(ank_fcntl(a[i], F_GETFL) & O_ACCMODE, fcntl(l[i], F_GETFL) & O_ACCMODE);
	}
	/* the fds work: an append through slot 7, read back through slot 2 */
	assert_int_equal(ank_write(a[7], "gh", 2), 2);
	char buf[16];
	assert_int_equal(ank_pread(a[2], buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	for (int i = 0; i < N; i++) {
		if (l[i] < 0)
			continue;
		assert_int_equal(ank_close(a[i]), 0);
		close(l[i]);
	}
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

static void statfs_access_and_symlinks_through_libananke(void **state)
{
	(void)state;
	start_service("256M");
	assert_int_equal(ank_mount(g_svc.sock), 0);
	char dir[] = "/tmp/ank-access-XXXXXX";
	assert_non_null(mkdtemp(dir));
	static const mode_t modes[] = {0, 0400, 0200, 0100, 0644, 0755, 0711, 0070};
	static const int asks[] = {F_OK, R_OK, W_OK, X_OK, R_OK | W_OK, R_OK | X_OK, 0x10};
	unsigned compared = 0;
	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char ap[64], lp[128];
		snprintf(ap, sizeof(ap), "/acc%u", m);
		snprintf(lp, sizeof(lp), "%s/acc%u", dir, m);
		int fa = ank_open(ap, O_CREAT | O_EXCL | O_WRONLY, 0600);
		int fl = open(lp, O_CREAT | O_EXCL | O_WRONLY, 0600);
		assert_true(fa >= 0 && fl >= 0);
		ank_close(fa);
		close(fl);
		assert_int_equal(ank_chmod(ap, modes[m]), 0);
		assert_int_equal(chmod(lp, modes[m]), 0);
		for (unsigned k = 0; k < sizeof(asks) / sizeof(asks[0]); k++) {
			errno = 0;
			int ra = ank_access(ap, asks[k]);
			int ea = ra < 0 ? errno : 0;
			errno = 0;
			int rl = access(lp, asks[k]);
			int el = rl < 0 ? errno : 0;
			if (ra != rl || ea != el)
				printf("access(mode 0%o, 0x%x): ananke %d e%d, linux %d e%d\n",
				       (unsigned)modes[m], (unsigned)asks[k], ra, ea, rl, el);
			assert_int_equal(ra, rl);
			assert_int_equal(ea, el);
			compared++;
		}
	}
	errno = 0;
	assert_int_equal(ank_access("/nothing", F_OK), -1);
	assert_int_equal(errno, ENOENT);
	printf("%u access answers equal Linux's\n", compared);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);

	struct statfs a, b;
	assert_int_equal(ank_statfs("/", &a), 0);
	assert_int_equal((unsigned long)a.f_type, (unsigned long)ANK_STATFS_MAGIC);
	assert_int_equal(a.f_bsize, 4096);
	assert_int_equal(a.f_namelen, 255);
	assert_true(a.f_blocks > 0 && a.f_bfree <= a.f_blocks && a.f_ffree <= a.f_files);
	static uint8_t mib[1 << 20];
	memset(mib, 7, sizeof(mib));
	int fd = ank_open("/big", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ank_write(fd, mib, sizeof(mib)), (ssize_t)sizeof(mib));
	assert_int_equal(ank_fstatfs(fd, &b), 0);
	assert_true(a.f_bfree - b.f_bfree >= 256); /* 1 MiB of 4 KiB blocks */
	assert_true(a.f_ffree - b.f_ffree >= 1);
	errno = 0;
	assert_int_equal(ank_statfs("/nothing", &b), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(ank_mkdir("/d", 0755), 0);
	assert_int_equal(ank_symlink("../big", "/d/l"), 0);
	char t[64];
	assert_int_equal(ank_readlink("/d/l", t, sizeof(t)), 6);
	assert_memory_equal(t, "../big", 6);
	struct stat st;
	assert_int_equal(ank_lstat("/d/l", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_int_equal(ank_stat("/d/l", &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	errno = 0;
	assert_int_equal(ank_open("/d/l", O_RDONLY | O_NOFOLLOW), -1);
	assert_int_equal(errno, ELOOP);
	int lf = ank_open("/d/l", O_RDONLY);
	assert_true(lf >= 0);
	assert_int_equal(ank_pread(lf, t, 4, 100), 4);
	assert_memory_equal(t, "\7\7\7\7", 4);
	assert_int_equal(ank_close(lf), 0);
	assert_int_equal(ank_close(fd), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/*
 * rename(2) looks the new name up before it rejects a trailing slash on a
 * non-directory: Linux answers ENAMETOOLONG for a new name of 256 bytes,
 * whatever the slashes. Checked against Linux first.
 */
static void rename_with_a_trailing_slash_onto_an_overlong_name_is_enametoolong(void **state)
{
	(void)state;
	char longname[260], longslash[262];
	longname[0] = '/';
	memset(longname + 1, 'm', 256);
	longname[257] = 0;
	snprintf(longslash, sizeof(longslash), "%s/", longname);
	start_service("256M");
	struct target a, b;
	assert_int_equal(target_libc_new(&a, "linux"), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(target_ank_new(&b, "ananke", NULL), 0);
	long r[2][2];
	struct target *t[2] = {&a, &b};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(t[k]->mkdir(t[k]->ctx, "/c", 0755), 0);
		assert_int_equal(perm_mkfile(t[k], "/c/c", 0644), 0);
		r[k][0] = t[k]->rename(t[k]->ctx, "/c/c/", longname);
		r[k][1] = t[k]->rename(t[k]->ctx, "/c/c", longslash);
	}
	char x[32], y[32];
	printf("rename(\"/c/c/\", \"/<256 x m>\"):  linux %s, ananke %s\n",
	       oracle_result_str(r[0][0], x, sizeof(x)), oracle_result_str(r[1][0], y, sizeof(y)));
	printf("rename(\"/c/c\", \"/<256 x m>/\"): linux %s, ananke %s\n",
	       oracle_result_str(r[0][1], x, sizeof(x)), oracle_result_str(r[1][1], y, sizeof(y)));
	target_destroy(&b);
	target_destroy(&a);
	assert_int_equal(r[0][0], -ENAMETOOLONG);
	assert_int_equal(r[0][1], -ENAMETOOLONG);
	assert_int_equal(r[1][0], -ENAMETOOLONG);
	assert_int_equal(r[1][1], -ENAMETOOLONG);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/*
 * Writes to a regular file through one open file are atomic with respect to
 * each other (POSIX 2.9.7; Linux serialises them): two threads appending
 * 3 MiB blocks of different bytes leave only whole blocks. Checked against
 * Linux first, with the same threads on a host file.
 */
#define ATOMIC_BLOCK (3u * MiB)
#define ATOMIC_WRITES 6

struct atomic_writer {
	pthread_t tid;
	struct target *t;
	int fd;
	uint8_t byte;
	long bad;
};

static void *atomic_writer_main(void *p)
{
	struct atomic_writer *aw = p;
	uint8_t *buf = malloc(ATOMIC_BLOCK);
	if (!buf) {
		aw->bad = -ENOMEM;
		return NULL;
	}
	memset(buf, aw->byte, ATOMIC_BLOCK);
	for (int i = 0; i < ATOMIC_WRITES; i++) {
		long r = aw->t->write(aw->t->ctx, aw->fd, buf, ATOMIC_BLOCK);
		if (r != (long)ATOMIC_BLOCK)
			aw->bad = r < 0 ? r : -EIO;
	}
	free(buf);
	return NULL;
}

/* Run the two appenders on target t; returns the number of mixed blocks, or
 * a negative errno. */
static long atomic_run(struct target *t)
{
	int fd = t->open(t->ctx, "/appended", O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
	if (fd < 0)
		return fd;
	struct atomic_writer w[2] = {{.t = t, .fd = fd, .byte = 'A'}, {.t = t, .fd = fd, .byte = 'B'}};
	for (int k = 0; k < 2; k++)
		if (pthread_create(&w[k].tid, NULL, atomic_writer_main, &w[k]) != 0)
			return -EAGAIN;
	for (int k = 0; k < 2; k++)
		pthread_join(w[k].tid, NULL);
	t->close(t->ctx, fd);
	if (w[0].bad || w[1].bad)
		return w[0].bad ? w[0].bad : w[1].bad;
	uint8_t *data;
	size_t len;
	int rc = oracle_read_file(t, "/appended", &data, &len);
	if (rc)
		return rc;
	long mixed = len == 2ul * ATOMIC_WRITES * ATOMIC_BLOCK ? 0 : -EIO;
	for (size_t off = 0; mixed >= 0 && off < len; off += ATOMIC_BLOCK)
		for (size_t i = 1; i < ATOMIC_BLOCK; i++)
			if (data[off + i] != data[off]) {
				mixed++;
				break;
			}
	free(data);
	return mixed;
}

static void concurrent_large_writes_on_one_fd_do_not_interleave(void **state)
{
	(void)state;
	start_service("256M");
	struct target a, b;
	assert_int_equal(target_libc_new(&a, "linux"), 0);
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(target_ank_new(&b, "ananke", NULL), 0);
	long ra = atomic_run(&a);
	long rb = atomic_run(&b);
	printf("blocks of %u bytes written by two threads at once that came out mixed: "
	       "linux %ld, ananke %ld (of %u)\n",
	       ATOMIC_BLOCK, ra, rb, 2 * ATOMIC_WRITES);
	target_destroy(&b);
	target_destroy(&a);
	assert_int_equal(ra, 0);
	assert_int_equal(rb, 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/*
 * The service admits at most 127 clients per worker thread (a worker sleeps
 * on at most 127 rings with futex_waitv) and at most 1024 in all. Every
 * client it admits must be served, and the ones beyond the limit are refused
 * cleanly with EMFILE, as include/ananke.h documents.
 */
#define MANY_RAW 160

static void every_client_the_supervisor_admits_is_served(void **state)
{
	(void)state;
	assert_int_equal(svc_start(&g_svc, "64M", 1), 0);
	struct svc_raw *c = calloc(MANY_RAW, sizeof(*c));
	assert_non_null(c);
	unsigned ok = 0;
	int first_err = 0;
	for (unsigned i = 0; i < MANY_RAW; i++) {
		int rc = svc_raw_connect(&c[i], g_svc.sock);
		if (rc == 0) {
			ok++;
		} else {
			c[i].sock = -1;
			if (!first_err) {
				first_err = rc;
				printf("client %u of %u refused: %s\n", i + 1, MANY_RAW, strerror(-rc));
			}
		}
	}
	/* those that got in are served */
	unsigned served = 0;
	for (unsigned i = 0; i < MANY_RAW; i++)
		if (c[i].ring && svc_raw_call(&c[i], 0, ANK_OP_STAT, -1, 0, 0, 0, 0, "/", NULL,
		                          limit_ms(10000)) == 0)
			served++;
	for (unsigned i = 0; i < MANY_RAW; i++)
		svc_raw_close(&c[i]);
	free(c);
	printf("%u of %u clients admitted, %u served (1 worker)\n", ok, MANY_RAW, served);
	assert_int_equal(served, ok);
	assert_int_equal(ok, 127);
	assert_int_equal(first_err, -EMFILE);
	struct svc_status st;
	assert_int_equal(svc_status_wait(&g_svc, &st, limit_ms(10000), clients_are, 0), 0);
	stop_and_check();
}

/* A program started with its standard streams closed, which then points
 * them at /dev/null as a daemon does, keeps its connection: libananke's
 * socket never takes number 0, 1 or 2. And a program that does close or
 * replace the socket (dup2 over it) gets EIO from its next call within a
 * bounded time, never a wait for an answer no server will give. */
static int closed_streams_child(const char *sock)
{
	close(0);
	close(1);
	close(2);
	if (ank_mount(sock) < 0)
		return 10;
	int fd = ank_open("/daemon", O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		return 11;
	for (int k = 0; k <= 2; k++)
		if (fcntl(k, F_GETFD) >= 0 || errno != EBADF)
			return 12; /* libananke took a standard stream's number */
	int null = open("/dev/null", O_RDWR);
	if (null != 0 || dup2(null, 1) != 1 || dup2(null, 2) != 2)
		return 13;
	if (ank_write(fd, "abc", 3) != 3)
		return 14;
	struct stat st;
	if (ank_fstat(fd, &st) < 0 || st.st_size != 3)
		return 15;
	/* Now put /dev/null over every socket the process holds: its
	 * connection to the service is gone. */
	for (int k = 3; k < 256; k++) {
		struct stat ks;
		if (fstat(k, &ks) == 0 && S_ISSOCK(ks.st_mode) && dup2(null, k) != k)
			return 16;
	}
	/* Calls may still be answered until the supervisor sees the socket
	 * closed and the server drops the ring; then each fails with EIO. */
	uint64_t t0 = svc_now_ms();
	for (;;) {
		errno = 0;
		int rc = ank_stat("/daemon", &st);
		if (rc < 0 && errno == EIO)
			break;
		if (rc < 0)
			return 17;
		if (svc_now_ms() - t0 > 5000)
			return 18;
		usleep(1000);
	}
	if (ank_unmount() < 0)
		return 19;
	return 0;
}

static void closed_standard_streams_and_a_replaced_socket(void **state)
{
	(void)state;
	start_service("64M");
	fflush(stdout);
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(closed_streams_child(g_svc.sock));
	assert_int_equal(child_result(pid, limit_ms(20000)), 0);
	/* what it wrote while connected is there */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	struct stat st;
	assert_int_equal(ank_stat("/daemon", &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/* A create through the ring on behalf of another user (ring.h as_set, as
 * the front door of a user's mount sends): -errno or the fd. */
static int64_t open_as(const char *path, int flags, uint32_t uid, uint32_t gid)
{
	struct ankc_req rq = {.opcode = ANK_OP_OPEN, .flags = (uint32_t)flags, .fd = -1,
			      .mode = 0644, .path = path, .path_len = strlen(path) + 1,
			      .as_set = 1, .as_uid = uid, .as_gid = gid};
	if (ankc_enter() < 0)
		return -errno;
	int64_t r = ankc_call(&rq);
	ankc_leave();
	return r;
}

static int acting_child(const char *sock)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 10;
	if (ank_mount(sock) < 0)
		return 11;
	/* neither root nor the service's owner: may not speak for others */
	if (open_as("/v/x", O_CREAT | O_WRONLY, 1000, 1000) != -EPERM)
		return 12;
	if (ank_unmount() < 0)
		return 13;
	return 0;
}

/* The service's owner (here root) may name the user a call acts for: the
 * permission checks are that user's, a new file is theirs without a
 * chown, and a replay after a crash acts for them again. A client that
 * is neither root nor the owner gets EPERM. */
static void calls_acting_for_another_user(void **state)
{
	(void)state;
	start_service("64M");
	assert_int_equal(svc_share(&g_svc), 0); /* (the child below is another user) */
	assert_int_equal(ank_mount(g_svc.sock), 0);
	assert_int_equal(ank_mkdir("/v", 0755), 0);
	assert_int_equal(ank_chown("/v", 1000, 1000), 0);
	int64_t fd = open_as("/v/f", O_CREAT | O_EXCL | O_WRONLY, 1000, 1000);
	assert_true(fd >= 0);
	assert_int_equal(ank_write((int)fd, "abc", 3), 3);
	struct stat st;
	assert_int_equal(ank_stat("/v/f", &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	/* another user may not create in 1000's 0755 directory */
	assert_int_equal(open_as("/v/g", O_CREAT | O_WRONLY, 2000, 2000), -EACCES);
	assert_int_equal(ank_stat("/v/g", &st), -1);
	assert_int_equal(errno, ENOENT);
	/* a crash before anything is durable: the replay creates it for 1000
	 * again, and the fd goes on */
	int64_t fd2 = open_as("/v/h", O_CREAT | O_EXCL | O_WRONLY, 1000, 1000);
	assert_true(fd2 >= 0);
	struct svc_status ss;
	assert_int_equal(svc_status(&g_svc, &ss), 0);
	long long old_pid = ss.server_pid;
	assert_int_equal(kill((pid_t)old_pid, SIGKILL), 0);
	assert_int_equal(svc_status_wait(&g_svc, &ss, limit_ms(15000), restarted_once, old_pid), 0);
	assert_int_equal(ank_stat("/v/h", &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	assert_int_equal(ank_write((int)fd2, "de", 2), 2);
	assert_int_equal(ank_close((int)fd2), 0);
	assert_int_equal(ank_close((int)fd), 0);
	fflush(stdout);
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(acting_child(g_svc.sock));
	assert_int_equal(child_result(pid, limit_ms(20000)), 0);
	assert_int_equal(ank_unmount(), 0);
	stop_and_check();
}

/* Paths each within the ring's data buffer but together beyond it: the
 * request is refused (ENAMETOOLONG) before it runs, and its sizes must not make
 * the server sync the volume for p-log room it could never get (they did:
 * "p-log 0 full (0 of 4194304 bytes)", two journal syncs per request). */
static void requests_too_large_for_the_ring_are_refused_without_a_sync(void **state)
{
	(void)state;
	start_service("64M");
	struct svc_raw c;
	assert_int_equal(svc_raw_connect(&c, g_svc.sock), 0);
	struct svc_status st;
	assert_int_equal(svc_status(&g_svc, &st), 0);
	for (unsigned k = 0; k < 20; k++) {
		struct ank_ring_slot *s = svc_raw_slot(&c, 0);
		ank_store_release(&s->state, ANK_SLOT_CLIENT);
		svc_raw_fill(&c, 0, ANK_OP_RENAME, -1, 0, 0, 0, 0, "/a", "/b");
		s->path_len = s->path2_len = ANK_RING_DATA_PER_SLOT - 1 - k;
		s->seq = k + 1;
		svc_raw_publish(&c, 0);
		assert_int_equal(svc_raw_wait_done(&c, 0, limit_ms(10000)), 0);
		assert_int_equal(s->result, -ENAMETOOLONG); /* (each path beyond PATH_MAX) */
	}
	svc_raw_close(&c);
	assert_false(svc_log_contains(&g_svc, "full ("));
	stop_and_check();
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	differ_init();
	printf("ananke binary: %s\n", svc_bin());
	const char *only = getenv("ANK_SVC_TEST");
	if (only && *only)
		cmocka_set_test_filter(only);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(differential_through_libananke_matches_linux, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(closed_standard_streams_and_a_replaced_socket, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(calls_acting_for_another_user, setup, teardown),
		cmocka_unit_test_setup_teardown(
			requests_too_large_for_the_ring_are_refused_without_a_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(ring_fuzz_gets_clean_errors_and_service_keeps_serving,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(client_killed_mid_requests_is_cleaned_up, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(client_that_never_reads_replies_does_not_block_others,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(sixty_four_clients_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(server_killed_restarts_and_fsynced_data_survives, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(status_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(permissions_are_enforced_with_client_credentials, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(permission_answers_match_linux_for_another_user, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(large_io_through_the_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(write_data_damaged_in_the_ring_is_refused_with_eio,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(request_damaged_in_the_ring_is_refused_with_eio,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(sticky_directory_keeps_other_users_from_removing_entries,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
			rename_with_a_trailing_slash_onto_an_overlong_name_is_enametoolong, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_large_writes_on_one_fd_do_not_interleave, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(every_client_the_supervisor_admits_is_served, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(cache_size_bounds_the_servers_page_cache, setup,
						teardown),
		cmocka_unit_test_setup_teardown(statfs_access_and_symlinks_through_libananke, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(fd_flags_match_linux_and_outlive_a_server_crash, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
