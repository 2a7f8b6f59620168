/*
 * test_differential.c - differential testing of the Ananke core against
 * Linux: seeded random sequences of POSIX operations run side by side on a
 * libc target (a temporary directory of the machine's file system) and on
 * an Ananke target (one fs_client on a fresh volume in an image file), and
 * every result is compared: return values (for open only success vs errno),
 * errno, bytes read, stat type/permission bits/nlink/size and times set
 * long past, readlink's bytes, and the whole directory tree (symbolic
 * links compared by lstat and their targets) (after every operation that
 * can change the namespace, with file contents every 250 operations and
 * at the end). At the end of each
 * seed both sides are remounted (Ananke: unmount + mount) and the trees
 * compared again byte for byte. The generator itself is tests/differ.c
 * (shared with test_service.c, which runs it through libananke).
 *
 * Self-tests of the harness, which run without the core:
 *   - libc_vs_libc_harness_agrees: Linux against Linux, must agree;
 *   - harness_detects_a_difference: Linux against a deliberately wrong
 *     wrapper (a write that flips a byte; rmdir answering EEXIST for
 *     ENOTEMPTY), must report a mismatch;
 *   - libc_target_root_answers_match_a_real_root: what the libc target
 *     answers for operations on "/" equals what Linux answers on a real root
 *     (a chroot()ed child; needs root, skipped otherwise).
 *
 * The libc side should live on ext4 (the default /tmp here): the expected
 * directory link counts (2 + subdirectories) and the largest file size
 * (16 TiB - 4 KiB, probed at start; offsets beyond it are generated only
 * when the host agrees) are ext4's, which Ananke follows.
 *
 * ananke_matches_linux_as_another_user runs seeds (first seed + 500000)
 * as uid/gid 65534 in a child that dropped root, on a Linux directory and
 * a volume root it owns: the permission checks root skips are compared
 * (trees it may not read count as equal when both sides refuse alike).
 *
 * Not covered: files of other users (everything is created by the one
 * user), timestamps beyond an atime or mtime set long past (clock times
 * differ between two file systems), st_blocks,
 * directory sizes, SEEK_DATA/SEEK_HOLE, crash consistency; opening
 * with O_RDONLY|O_TRUNC and O_EXCL without O_CREAT (unspecified by POSIX),
 * lseek on directories (a file-system cookie on Linux).
 *
 * Environment: ANK_DIFF_SEEDS (number of seeds, default 10), ANK_DIFF_OPS
 * (operations per seed, default 2000), ANK_DIFF_SEED (run only this seed),
 * ANK_DIFF_SEED_BASE (first seed, default 1), ANK_DIFF_VERBOSE=1 (print every
 * operation with both results), ANK_DIFF_KEEP_GOING=1 (when both sides fail
 * with different errnos, report it and go on; the seed still fails).
 *
 * Build without the core: -DORACLE_LIBC_ONLY (only the self-tests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "differ.h"

/* ---- configuration ---------------------------------------------------------- */

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	return *end ? def : v;
}

struct run_cfg {
	uint64_t first_seed;
	unsigned nseeds;
	unsigned nops;
	bool verbose;
};

static struct run_cfg run_cfg(void)
{
	struct run_cfg c;
	c.nops = (unsigned)env_ulong("ANK_DIFF_OPS", 2000);
	c.verbose = env_ulong("ANK_DIFF_VERBOSE", 0) != 0;
	if (getenv("ANK_DIFF_SEED") && *getenv("ANK_DIFF_SEED")) {
		c.first_seed = env_ulong("ANK_DIFF_SEED", 1);
		c.nseeds = 1;
	} else {
		c.first_seed = env_ulong("ANK_DIFF_SEED_BASE", 1);
		c.nseeds = (unsigned)env_ulong("ANK_DIFF_SEEDS", 10);
	}
	return c;
}

/* ---- self-tests of the harness --------------------------------------------------- */

static void libc_vs_libc_harness_agrees(void **state)
{
	(void)state;
	struct run_cfg c = run_cfg();
	struct differ_stats *st = calloc(1, sizeof(*st));
	assert_non_null(st);
	unsigned bad = 0;
	for (unsigned i = 0; i < c.nseeds; i++) {
		struct target a, b;
		assert_int_equal(target_libc_new(&a, "linux-A"), 0);
		assert_int_equal(target_libc_new(&b, "linux-B"), 0);
		bad += (unsigned)differ_run(&a, &b, c.first_seed + i, c.nops, c.verbose, st);
		target_destroy(&a);
		target_destroy(&b);
	}
	differ_print_stats(st);
	free(st);
	assert_int_equal(bad, 0);
}

static void harness_detects_a_difference(void **state)
{
	(void)state;
	static const enum oracle_fault faults[] = {ORACLE_FAULT_PWRITE_FLIP_BYTE,
	                                           ORACLE_FAULT_RMDIR_EEXIST};
	for (size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++) {
		int detected = 0;
		printf("(a mismatch below is expected: fault %d)\n", (int)faults[f]);
		for (uint64_t seed = 1; seed <= 5 && !detected; seed++) {
			struct target a, inner, b;
			assert_int_equal(target_libc_new(&a, "linux"), 0);
			assert_int_equal(target_libc_new(&inner, "linux-inner"), 0);
			assert_int_equal(target_faulty_new(&b, &inner, faults[f]), 0);
			detected = differ_run(&a, &b, seed, 2000, false, NULL);
			target_destroy(&b);
			target_destroy(&inner);
			target_destroy(&a);
		}
		assert_int_equal(detected, 1);
	}
}

/*
 * The libc target answers some operations on "/" itself without asking the
 * host (its root is an ordinary directory there). Check those answers
 * against a real root: a child process chroot()s into a directory with the
 * same layout and runs the same calls. Needs root; skipped otherwise.
 */
struct root_case {
	const char *op, *a, *b;
};

static const struct root_case root_cases[] = {
	{"rmdir", "/", NULL},       {"rmdir", "//", NULL},      {"unlink", "/", NULL},
	{"unlink", "//", NULL},     {"mkdir", "/", NULL},       {"mkdir", "//", NULL},
	{"rename", "/", "/zz"},     {"rename", "/", "/nx/y"},   {"rename", "/", "/f/y"},
	{"rename", "/", "/d"},      {"rename", "/", ""},        {"rename", "/b", "/"},
	{"rename", "/f", "/"},      {"rename", "/d/", "/"},     {"rename", "/nx/y", "/"},
	{"rename", "/f/y", "/"},    {"rename", "", "/"},        {"rename", "/nx/y", "//"},
	{"rename", "/", "/"},       {"link", "/", "/q"},        {"link", "/f", "/"},
	{"link", "/nx", "/"},       {"link", "/f", "//"},       {"truncate", "/", NULL},
	{"stat", "/", NULL},        {"open_creat", "/", NULL},  {"open_excl", "/", NULL},
	{"open_wr", "/", NULL},     {"open_dir", "/", NULL},    {"list", "/", NULL},
	{"open_excl", "//", NULL},  {"open_creat", "//", NULL}, {"truncate", "//", NULL},
};

static int root_case_run(struct target *t, const struct root_case *c)
{
	struct stat st;
	if (!strcmp(c->op, "rmdir"))
		return t->rmdir(t->ctx, c->a);
	if (!strcmp(c->op, "unlink"))
		return t->unlink(t->ctx, c->a);
	if (!strcmp(c->op, "mkdir"))
		return t->mkdir(t->ctx, c->a, 0755);
	if (!strcmp(c->op, "rename"))
		return t->rename(t->ctx, c->a, c->b);
	if (!strcmp(c->op, "link"))
		return t->link(t->ctx, c->a, c->b);
	if (!strcmp(c->op, "truncate"))
		return t->truncate(t->ctx, c->a, 0);
	if (!strcmp(c->op, "stat"))
		return t->stat(t->ctx, c->a, &st);
	if (!strcmp(c->op, "list")) {
		struct oracle_dirlist l;
		oracle_dirlist_init(&l);
		int r = t->list_dir(t->ctx, c->a, &l);
		r = r ? r : (int)l.n;
		oracle_dirlist_free(&l);
		return r;
	}
	int flags = !strcmp(c->op, "open_creat")  ? O_CREAT | O_RDWR
	            : !strcmp(c->op, "open_excl") ? O_CREAT | O_EXCL | O_RDONLY
	            : !strcmp(c->op, "open_wr")   ? O_WRONLY
	                                          : O_RDONLY | O_DIRECTORY;
	int fd = t->open(t->ctx, c->a, flags, 0644);
	if (fd >= 0)
		t->close(t->ctx, fd);
	return fd >= 0 ? 0 : fd;
}

/* The same calls as plain system calls, for the chroot()ed child. */
static int root_case_raw(const struct root_case *c)
{
	struct stat st;
	int r;
	if (!strcmp(c->op, "rmdir"))
		r = rmdir(c->a);
	else if (!strcmp(c->op, "unlink"))
		r = unlink(c->a);
	else if (!strcmp(c->op, "mkdir"))
		r = mkdir(c->a, 0755);
	else if (!strcmp(c->op, "rename"))
		r = rename(c->a, c->b);
	else if (!strcmp(c->op, "link"))
		r = link(c->a, c->b);
	else if (!strcmp(c->op, "truncate"))
		r = truncate(c->a, 0);
	else if (!strcmp(c->op, "stat"))
		r = stat(c->a, &st);
	else if (!strcmp(c->op, "list")) {
		DIR *d = opendir(c->a);
		if (!d)
			return -errno;
		r = 0;
		struct dirent *de;
		while ((de = readdir(d)))
			r += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		closedir(d);
		return r;
	} else {
		int flags = !strcmp(c->op, "open_creat")  ? O_CREAT | O_RDWR
		            : !strcmp(c->op, "open_excl") ? O_CREAT | O_EXCL | O_RDONLY
		            : !strcmp(c->op, "open_wr")   ? O_WRONLY
		                                          : O_RDONLY | O_DIRECTORY;
		r = open(c->a, flags, 0644);
		if (r >= 0) {
			close(r);
			r = 0;
		}
	}
	return r < 0 ? -errno : r;
}

static void root_layout(struct target *t)
{
	int fd = t->open(t->ctx, "/f", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(t->close(t->ctx, fd), 0);
	assert_int_equal(t->mkdir(t->ctx, "/d", 0755), 0);
}

static void libc_target_root_answers_match_a_real_root(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("not root: cannot chroot, skipped\n");
		skip();
	}
	enum { N = sizeof(root_cases) / sizeof(root_cases[0]) };
	struct target real, emu;
	assert_int_equal(target_libc_new(&real, "real-root"), 0);
	assert_int_equal(target_libc_new(&emu, "libc-target"), 0);
	root_layout(&real);
	root_layout(&emu);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int res[N];
		bool ok = chroot(target_libc_root(&real)) == 0 && chdir("/") == 0;
		for (int i = 0; i < N; i++)
			res[i] = ok ? root_case_raw(&root_cases[i]) : 1;
		ssize_t w = write(pfd[1], res, sizeof(res));
		_exit(w == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(pfd[1]);
	int res[N];
	ssize_t got = 0;
	while (got < (ssize_t)sizeof(res)) {
		ssize_t n = read(pfd[0], (char *)res + got, sizeof(res) - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	close(pfd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	assert_int_equal(got, (ssize_t)sizeof(res));
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int mine = root_case_run(&emu, &root_cases[i]);
		char x[32], y[32];
		bool same_result = res[i] == mine;
		printf("  %-10s %-6s %-6s real root: %-13s libc target: %s%s\n", root_cases[i].op,
		       root_cases[i].a, root_cases[i].b ? root_cases[i].b : "",
		       oracle_result_str(res[i], x, sizeof(x)), oracle_result_str(mine, y, sizeof(y)),
		       same_result ? "" : "   <-- differs");
		bad += !same_result;
	}
	target_destroy(&emu);
	target_destroy(&real);
	assert_int_equal(bad, 0);
}

/* ---- Linux vs Ananke ---------------------------------------------------------------- */

#ifndef ORACLE_LIBC_ONLY

#define VOLUME_BYTES (256ull * 1024 * 1024)

static void ananke_matches_linux_on_random_sequences(void **state)
{
	(void)state;
	struct run_cfg c = run_cfg();
	unsigned bad = 0;
	for (unsigned i = 0; i < c.nseeds; i++) {
		struct target a, b;
		struct oracle_volume *v = NULL;
		struct fs_options opt = {0};
		assert_int_equal(target_libc_new(&a, "linux"), 0);
		int r = oracle_volume_create(&v, VOLUME_BYTES, false, &opt);
		if (r) {
			printf("seed %llu: creating the volume failed: %d\n",
			       (unsigned long long)(c.first_seed + i), r);
			target_destroy(&a);
			bad++;
			continue;
		}
		assert_int_equal(target_ananke_new(&b, "ananke", v, NULL), 0);
		bad += (unsigned)differ_run(&a, &b, c.first_seed + i, c.nops, c.verbose, NULL);
		target_destroy(&b);
		oracle_volume_destroy(v);
		target_destroy(&a);
	}
	printf("%u of %u seeds mismatched\n", bad, c.nseeds);
	assert_int_equal(bad, 0);
}

/* One seed as uid/gid 65534, in a child that has dropped root: the libc
 * side's directory is its own, and so is the volume's root (chowned by a
 * root client of the core). Permission checks that root skips (modes
 * without r, w or x on one's own files and directories, chown to other
 * ids, devices, trusted. attributes) are compared. 0: agreed. */
static int run_as_user(uint64_t seed, unsigned nops, bool verbose)
{
	const uint32_t id = 65534;
	if (setgroups(0, NULL) || setresgid(id, id, id) || setresuid(id, id, id))
		return 90;
	struct target a, b;
	struct oracle_volume *v = NULL;
	struct fs_options opt = {0};
	if (target_libc_new(&a, "linux") || oracle_volume_create(&v, VOLUME_BYTES, false, &opt))
		return 91;
	struct fs_client *root = fs_client_new(v->fs, 0, 0);
	struct fs_attr at = {.valid = FS_ATTR_UID | FS_ATTR_GID, .uid = id, .gid = id};
	if (!root || fs_setattr_path(root, "/", &at) < 0)
		return 92;
	fs_client_free(root);
	if (target_ananke_new_as(&b, "ananke", v, NULL, id, id))
		return 93;
	int bad = differ_run(&a, &b, seed, nops, verbose, NULL);
	target_destroy(&b);
	oracle_volume_destroy(v);
	/* (modes without w or x keep the owner out too: open them first) */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", target_libc_root(&a));
	if (system(cmd) != 0)
		printf("(chmod -R of the Linux side's tree failed)\n");
	target_destroy(&a);
	return bad;
}

static void ananke_matches_linux_as_another_user(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("(not root: cannot run as another user; skipped)\n");
		return;
	}
	struct run_cfg c = run_cfg();
	unsigned bad = 0;
	for (unsigned i = 0; i < c.nseeds; i++) {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(run_as_user(c.first_seed + 500000 + i, c.nops, c.verbose));
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("seed %llu as uid 65534: %s %d\n",
			       (unsigned long long)(c.first_seed + 500000 + i),
			       WIFEXITED(st) ? "exit" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			bad++;
		}
	}
	printf("%u of %u seeds as uid 65534 mismatched\n", bad, c.nseeds);
	assert_int_equal(bad, 0);
}

#endif


int main(void)
{
	differ_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(libc_vs_libc_harness_agrees),
		cmocka_unit_test(harness_detects_a_difference),
		cmocka_unit_test(libc_target_root_answers_match_a_real_root),
#ifndef ORACLE_LIBC_ONLY
		cmocka_unit_test(ananke_matches_linux_on_random_sequences),
		cmocka_unit_test(ananke_matches_linux_as_another_user),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
