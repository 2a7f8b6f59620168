/*
 * test_fuse.c - the FUSE front door with real programs, as a user runs it:
 * `ananke serve`, `ananke-fuse` on a directory, then cp -a, diff -r, tar,
 * sqlite3 (rollback and WAL), git, fio (verify=crc32c), make and the
 * differential harness's
 * random call sequences through the mount, compared with Linux; and the
 * same programs while the server is SIGKILLed and SIGSTOPped again and
 * again, which they must never notice. Every test ends with the mount gone
 * (unmounted, or its connection aborted by killing the front door) and
 * fsck clean.
 *
 * And a user other than root mounting and unmounting with `ananke mount`
 * and `ananke umount`, through fusermount3.
 *
 * Needs root and /dev/fuse; without them each test says so and passes (the
 * user's test is skipped, saying why).
 * Environment: ANK_FUSE_ROUNDS (workload rounds under kills, default 3),
 * ANK_FUSE_SEEDS (differential seeds, default 3), ANK_FUSE_OPS (calls per
 * seed, default 600), ANK_FUSE_TEST (run only the tests matching this
 * cmocka pattern).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "differ.h"
#include "oracle.h"
#include "service_util.h"

#define FUSE_SUPER_MAGIC 0x65735546

struct fz {
	struct svc s;
	char mnt[PATH_MAX];
	char src[PATH_MAX];  /* a tree on Linux to copy in */
	pid_t door;          /* ananke-fuse --foreground */
};

/* Root, /dev/fuse, and a FUSE mount allowed here (a container may refuse
 * mount(2)): probed once with a mount nobody serves, undone at once. */
static bool can_mount(void)
{
	static int known = -1;
	if (known >= 0) {
		if (!known)
			printf("(needs root, /dev/fuse and mount(2): skipped)\n");
		return known;
	}
	known = 0;
	char dir[] = "/tmp/ank-fuse-probe-XXXXXX";
	int fd = -1;
	if (geteuid() == 0 && mkdtemp(dir) && (fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) >= 0) {
		char opts[128];
		snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
		if (mount("ank-probe", dir, "fuse.ankprobe", 0, opts) == 0) {
			known = 1;
			umount2(dir, MNT_DETACH);
		} else {
			printf("(mounting FUSE: %s)\n", strerror(errno));
		}
	}
	if (fd >= 0)
		close(fd);
	rmdir(dir);
	return can_mount();
}

static bool mounted(const char *mnt)
{
	struct statfs sf;
	return statfs(mnt, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
}

/* A deterministic tree of directories, files of 0 to 300 KiB, symbolic
 * and hard links, under dir. */
static void make_tree(const char *dir, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	char path[PATH_MAX];
	static uint8_t buf[300 * 1024];
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int d = 0; d < 6; d++) {
		snprintf(path, sizeof(path), "%s/d%d", dir, d);
		assert_int_equal(mkdir(path, 0700 + (d % 3) * 050), 0);
		for (int f = 0; f < 12; f++) {
			snprintf(path, sizeof(path), "%s/d%d/f%d.c", dir, d, f);
			int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
			assert_true(fd >= 0);
			size_t n = (size_t)(RND() % sizeof(buf));
			if (f % 4 == 0)
				n %= 100;
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)(i % 64 == 63 ? '\n' : 'a' + RND() % 26);
			assert_int_equal(write(fd, buf, n), (ssize_t)n);
			close(fd);
		}
		char target[64], lnk[PATH_MAX];
		snprintf(target, sizeof(target), "f%d.c", d);
		snprintf(lnk, sizeof(lnk), "%s/d%d/link", dir, d);
		assert_int_equal(symlink(target, lnk), 0);
		snprintf(lnk, sizeof(lnk), "%s/d%d/hard", dir, d);
		snprintf(path, sizeof(path), "%s/d%d/f1.c", dir, d);
		assert_int_equal(link(path, lnk), 0);
	}
#undef RND
}

static void fz_up(struct fz *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(svc_start(&f->s, "1G", 2), 0);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->s.dir);
	snprintf(f->src, sizeof(f->src), "%s/src", f->s.dir);
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	char prog[PATH_MAX];
	snprintf(prog, sizeof(prog), "%s-fuse", svc_bin());
	f->door = svc_fork();
	assert_true(f->door >= 0);
	if (f->door == 0) {
		/* $ANK_FUSE_DOOR_OPTS: more front door options (one word) */
		const char *more = getenv("ANK_FUSE_DOOR_OPTS");
		if (more && *more)
			execl(prog, prog, "--foreground", more, "--socket", f->s.sock, f->mnt,
			      (char *)NULL);
		execl(prog, prog, "--foreground", "--socket", f->s.sock, f->mnt, (char *)NULL);
		_exit(127);
	}
	uint64_t end = svc_now_ms() + 10000ull * svc_slow();
	while (!mounted(f->mnt) && svc_now_ms() < end && !svc_exited(f->door))
		svc_sleep_ms(10);
	if (!mounted(f->mnt))
		svc_dump_log(&f->s, 30);
	assert_true(mounted(f->mnt));
}

/* Unmount, let the front door go, stop the service, fsck: 0 when all
 * went well. Whatever happens, nothing stays mounted. */
static int fz_down(struct fz *f)
{
	int bad = 0;
	for (int i = 0; i < 50 && umount2(f->mnt, 0) < 0; i++) {
		if (errno != EBUSY) {
			printf("umount %s: %s\n", f->mnt, strerror(errno));
			bad = 1;
			break;
		}
		svc_sleep_ms(100);
	}
	if (mounted(f->mnt)) {
		printf("the mount stayed busy: aborting it\n");
		umount2(f->mnt, MNT_DETACH);
		bad = 1;
	}
	int st = 0;
	if (svc_wait(f->door, 10000 * svc_slow(), &st) < 0 || svc_exit_code(st) != 0) {
		printf("the front door did not end well (status %d)\n", st);
		bad = 1;
	}
	if (svc_stop(&f->s) != 0) {
		printf("the service did not stop cleanly\n");
		bad = 1;
	}
	if (svc_fsck(&f->s) != 0)
		bad = 1;
	return bad;
}

static void fz_destroy(struct fz *f)
{
	if (mounted(f->mnt))
		umount2(f->mnt, MNT_DETACH);
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->src);
	if (system(cmd) != 0)
		printf("(could not remove %s)\n", f->src);
	svc_destroy(&f->s);
}

/* The real programs, as one bash script run in dir `w` on the mount: every
 * command must succeed and every check hold. `round` makes names unique. */
static const char workload[] =
	"set -euo pipefail\n"
	"W=\"$MNT/w$ROUND\"\n"
	"mkdir \"$W\"\n"
	"cd \"$W\"\n"
	"cp -a \"$SRC\" tree\n"
	"diff -r \"$SRC\" tree\n"
	"tar cf t.tar -C \"$SRC\" .\n"
	"mkdir x\n"
	"tar xf t.tar -C x\n"
	"diff -r \"$SRC\" x\n"
	"if command -v sqlite3 >/dev/null; then\n"
	"  for mode in DELETE WAL; do\n"
	"    db=db_$mode.sqlite\n"
	"    sqlite3 $db \"PRAGMA journal_mode=$mode; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);\" >/dev/null\n"
	"    for i in $(seq 1 20); do\n"
	"      sqlite3 $db \"PRAGMA journal_mode=$mode; BEGIN; WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n<50) INSERT INTO t(b) SELECT hex(randomblob(100)) FROM c; COMMIT;\" >/dev/null\n"
	"    done\n"
	"    test \"$(sqlite3 $db 'PRAGMA integrity_check;')\" = ok\n"
	"    test \"$(sqlite3 $db 'SELECT count(*) FROM t;')\" = 1000\n"
	"  done\n"
	"fi\n"
	"if command -v git >/dev/null; then\n"
	"  cd x\n"
	"  git init -q\n"
	"  git add -A\n"
	"  git -c user.name=t -c user.email=t@t commit -qm one\n"
	"  echo more >> d1/f2.c\n"
	"  git -c user.name=t -c user.email=t@t commit -qam two\n"
	"  git fsck --full\n"
	"  git gc -q\n"
	"  git fsck --full\n"
	"  test -z \"$(git status --porcelain)\"\n"
	"  test \"$(git rev-list --count HEAD)\" = 2\n"
	"  cd ..\n"
	"fi\n"
	"if command -v fio >/dev/null; then\n"
	"  fio --name=rnd --directory=\"$W\" --rw=randwrite --size=8M --bs=4k --ioengine=psync --numjobs=2 --verify=crc32c --do_verify=1 --verify_fatal=1 --minimal >/dev/null\n"
	"  fio --name=seq --directory=\"$W\" --rw=write --size=16M --bs=1M --ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 --minimal >/dev/null\n"
	"fi\n"
	"if command -v cc >/dev/null && command -v make >/dev/null; then\n"
	"  mkdir prj\n"
	"  cd prj\n"
	"  printf 'int twice(int x) { return 2 * x; }\\n' > a.c\n"
	"  printf '#include <stdio.h>\\nint twice(int);\\nint main(void) { printf(\"%%d\\\\n\", twice(21)); return 0; }\\n' > m.c\n"
	"  printf 'prog: a.o m.o\\n\\tcc -o prog a.o m.o\\n%%.o: %%.c\\n\\tcc -O0 -c $< -o $@\\n' > Makefile\n"
	"  make -s\n"
	"  test \"$(./prog)\" = 42\n"
	"  cd ..\n"
	"fi\n"
	"cd \"$MNT\"\n"
	"rm -rf \"$W\"\n"
	"test ! -e \"$W\"\n"
	"echo workload-complete\n";

/* Run the workload for round r; its output goes to log. 0: all held. */
static int run_workload(const struct fz *f, unsigned r, const char *log)
{
	char script[PATH_MAX];
	snprintf(script, sizeof(script), "%s/workload.sh", f->s.dir);
	FILE *fp = fopen(script, "w");
	if (!fp || fputs(workload, fp) < 0 || fclose(fp) != 0)
		return -1;
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "MNT='%s' SRC='%s' ROUND=%u bash '%s' > '%s' 2>&1", f->mnt,
		 f->src, r, script, log);
	int rc = system(cmd);
	char grep[PATH_MAX + 64];
	snprintf(grep, sizeof(grep), "grep -q '^workload-complete$' '%s'", log);
	if (rc == 0 && system(grep) != 0)
		rc = -1; /* it stopped early without saying why */
	if (rc != 0) {
		printf("round %u failed (status %d); its output:\n", r, rc);
		char show[PATH_MAX + 32];
		snprintf(show, sizeof(show), "tail -n 30 '%s'", log);
		if (system(show) != 0)
			printf("(no output)\n");
	}
	return rc == 0 ? 0 : 1;
}

static void real_programs_work_through_the_mount(void **state)
{
	(void)state;
	if (!can_mount())
		return;
	struct fz f;
	fz_up(&f);
	make_tree(f.src, 1);
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/round.log", f.s.dir);
	int bad = run_workload(&f, 0, log);
	bad += fz_down(&f);
	fz_destroy(&f);
	assert_int_equal(bad, 0);
}

/* The killer's count, in memory shared with it (an exit status stops at
 * 255). */
static int *g_kills;

/* The killer: until told to stop (SIGTERM), SIGKILL the server after a
 * random 20 to 250 ms; every 5th time SIGSTOP it instead (the watchdog
 * must notice the hang and replace it). Exits with the count. */
static int killer(const struct svc *s, uint64_t seed)
{
	uint64_t x = seed | 1;
	int kills = 0;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	long long last = -1;
	for (;;) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		struct timespec ts = {0, (long)(20 + x % 230) * 1000000L};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM)
			break;
		struct svc_status st;
		if (svc_status(s, &st) < 0 || st.server_pid <= 0 || st.server_pid == last ||
		    strcmp(st.state, "running"))
			continue; /* (one kill per server: let it take over first) */
		last = st.server_pid;
		kill((pid_t)st.server_pid, (x >> 20) % 5 == 0 ? SIGSTOP : SIGKILL);
		kills++;
	}
	__atomic_store_n(g_kills, kills, __ATOMIC_RELEASE);
	return 0;
}

/* Start the killer on f's service; killer_stop() ends it and returns how
 * many times it struck (-1: it did not end well). SIGTERM is blocked
 * before the fork, so that the killer never dies of it. */
static pid_t killer_start(const struct fz *f, uint64_t seed)
{
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	pid_t k = svc_fork();
	if (k == 0)
		_exit(killer(&f->s, seed));
	sigprocmask(SIG_SETMASK, &old, NULL);
	return k;
}

static int killer_stop(pid_t k)
{
	kill(k, SIGTERM);
	int st = 0;
	if (svc_wait(k, 10000, &st) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? __atomic_load_n(g_kills, __ATOMIC_ACQUIRE)
						     : -1;
}

static void real_programs_never_notice_server_crashes(void **state)
{
	(void)state;
	if (!can_mount())
		return;
	unsigned rounds = (unsigned)svc_env_ulong("ANK_FUSE_ROUNDS", 3);
	struct fz f;
	fz_up(&f);
	make_tree(f.src, 2);
	pid_t k = killer_start(&f, (uint64_t)getpid() * 7919);
	assert_true(k > 0);
	int bad = 0;
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/round.log", f.s.dir);
	for (unsigned r = 0; r < rounds; r++)
		bad += run_workload(&f, r + 1, log);
	int kills = killer_stop(k);
	struct svc_status ss;
	long long restarts = svc_status(&f.s, &ss) == 0 ? ss.restarts : -1;
	printf("%u rounds of cp -a, diff -r, tar, sqlite3, git, fio, make: %d failed; %d server "
	       "kills/stops, %lld restarts\n",
	       rounds, bad, kills, restarts);
	bad += fz_down(&f);
	fz_destroy(&f);
	assert_int_equal(bad, 0);
	assert_true(kills >= (int)rounds);
}

/* The differential harness's random call sequences, on a directory of the
 * mount against a directory of Linux. */
static int differ_through(const struct fz *f, const char *sub, uint64_t seed, unsigned nops)
{
	char root[PATH_MAX + 64];
	snprintf(root, sizeof(root), "%s/%s", f->mnt, sub);
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		printf("mkdir %s: %s\n", root, strerror(errno));
		return 1;
	}
	struct target a, b;
	int r = target_libc_new(&a, "linux");
	if (r) {
		printf("a Linux directory: %s\n", strerror(-r));
		return 1;
	}
	if ((r = target_libc_attach(&b, "fuse", root))) {
		printf("the mount's directory %s: %s\n", root, strerror(-r));
		target_destroy(&a);
		return 1;
	}
	int bad = differ_run(&a, &b, seed, nops, svc_env_ulong("ANK_DIFF_VERBOSE", 0) != 0, NULL);
	target_destroy(&b);
	target_destroy(&a);
	return bad;
}

static void calls_through_the_mount_match_linux(void **state)
{
	(void)state;
	if (!can_mount())
		return;
	unsigned seeds = (unsigned)svc_env_ulong("ANK_FUSE_SEEDS", 3);
	unsigned nops = (unsigned)svc_env_ulong("ANK_FUSE_OPS", 600);
	uint64_t base = svc_env_ulong("ANK_FUSE_SEED_BASE", 1);
	struct fz f;
	fz_up(&f);
	assert_int_equal(svc_share(&f.s), 0); /* (uid 65534 reaches the mount) */
	int bad = 0;
	for (unsigned i = 0; i < seeds; i++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "root%u", i);
		int b = differ_through(&f, sub, base + i, nops);
		if (b)
			printf("seed %llu as root: mismatched\n", (unsigned long long)(base + i));
		bad += b;
	}
	/* as another user: a directory of its own on both sides */
	for (unsigned i = 0; i < seeds; i++) {
		char sub[32], root[PATH_MAX + 64];
		snprintf(sub, sizeof(sub), "user%u", i);
		snprintf(root, sizeof(root), "%s/%s", f.mnt, sub);
		if (mkdir(root, 0755) < 0) {
			struct stat st;
			int e = errno;
			int r = stat(f.mnt, &st);
			printf("mkdir %s: %s (the mount's root: stat %d, mode %o, uid %u)\n", root,
			       strerror(e), r, (unsigned)st.st_mode, (unsigned)st.st_uid);
			fail();
		}
		assert_int_equal(chown(root, 65534, 65534), 0);
		pid_t pid = svc_fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
			    setresuid(65534, 65534, 65534))
				_exit(90);
			_exit(differ_through(&f, sub, base + 500000 + i, nops) ? 1 : 0);
		}
		int st = 0;
		assert_int_equal(svc_wait(pid, 300000, &st), 0);
		if (svc_exit_code(st) != 0) {
			printf("seed %llu as uid 65534: mismatched (exit %d)\n",
			       (unsigned long long)(base + 500000 + i), svc_exit_code(st));
			bad++;
		}
	}
	printf("%u seeds of %u calls, as root and as uid 65534: %d mismatched\n", seeds, nops, bad);
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", f.mnt);
	if (system(cmd) != 0)
		printf("(chmod -R of the mount failed)\n");
	bad += fz_down(&f);
	fz_destroy(&f);
	assert_int_equal(bad, 0);
}

/* The whole service goes away (its supervisor SIGKILLed, and with it the
 * servers): the front door must notice, unmount and let go of the
 * connection, so that a program using the mount gets an error instead of
 * hanging. */
static void the_mount_goes_away_with_the_service(void **state)
{
	(void)state;
	if (!can_mount())
		return;
	struct fz f;
	fz_up(&f);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/file", f.mnt);
	int fd = open(path, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	/* a program reading in a loop, in its own process */
	pid_t prog = svc_fork();
	assert_true(prog >= 0);
	if (prog == 0) {
		char b[16];
		for (;;)
			if (pread(fd, b, sizeof(b), 0) < 0)
				_exit(errno == ENOTCONN || errno == ECONNABORTED || errno == EIO ? 0 : 2);
	}
	svc_sleep_ms(200);
	struct svc_status st;
	long long server = svc_status(&f.s, &st) == 0 ? st.server_pid : -1;
	assert_int_equal(kill(f.s.sup_pid, SIGKILL), 0);
	if (server > 1)
		kill((pid_t)server, SIGKILL);
	int ps = 0, ds = 0;
	int rp = svc_wait(prog, 30000 * svc_slow(), &ps);
	int rd = svc_wait(f.door, 30000 * svc_slow(), &ds);
	bool still = mounted(f.mnt);
	printf("the program: %s (exit %d); the front door: %s (exit %d); mount %s\n",
	       rp == 0 ? "ended" : "hung", svc_exit_code(ps), rd == 0 ? "ended" : "hung",
	       svc_exit_code(ds), still ? "still there" : "gone");
	close(fd);
	if (still)
		umount2(f.mnt, MNT_DETACH);
	svc_kill_all();
	f.s.sup_pid = 0;
	fz_destroy(&f);
	assert_int_equal(rp, 0);
	assert_int_equal(svc_exit_code(ps), 0);
	assert_int_equal(rd, 0);
	assert_false(still);
}

/* The same random call sequences as root while the server is SIGKILLed and
 * SIGSTOPped at random moments: every result, errno and byte must still be
 * Linux's (the crash-differential test of the libananke side, through the
 * kernel and the front door). */
static void calls_through_the_mount_match_linux_under_kills(void **state)
{
	(void)state;
	if (!can_mount())
		return;
	unsigned seeds = (unsigned)svc_env_ulong("ANK_FUSE_SEEDS", 3);
	unsigned nops = (unsigned)svc_env_ulong("ANK_FUSE_OPS", 600);
	uint64_t base = svc_env_ulong("ANK_FUSE_SEED_BASE", 1) + 900000;
	struct fz f;
	fz_up(&f);
	pid_t k = killer_start(&f, (uint64_t)getpid() * 104729);
	assert_true(k > 0);
	int bad = 0;
	for (unsigned i = 0; i < seeds; i++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "k%u", i);
		int b = differ_through(&f, sub, base + i, nops);
		if (b)
			printf("seed %llu under kills: mismatched\n", (unsigned long long)(base + i));
		bad += b;
	}
	int kills = killer_stop(k);
	printf("%u seeds of %u calls under %d server kills/stops: %d mismatched\n", seeds, nops,
	       kills, bad);
	bad += fz_down(&f);
	fz_destroy(&f);
	assert_int_equal(bad, 0);
	assert_true(kills >= (int)seeds);
}

/* ---- a user other than root: fusermount3 ---------------------------------- */

#define NOBODY 65534

/* Can uid NOBODY mount through fusermount3 here? It must be installed
 * set-user-id root on a file system that honours that, and /dev/fuse open
 * to everyone (fusermount3 opens it with the caller's rights; udev makes it
 * 0666). When not, prints why. */
static bool fusermount_usable(void)
{
	static const char *const where[] = {"/usr/bin/fusermount3", "/bin/fusermount3"};
	const char *prog = NULL;
	struct stat st;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]) && !prog; i++)
		if (stat(where[i], &st) == 0)
			prog = where[i];
	struct statvfs vfs;
	if (!prog)
		printf("(no fusermount3: install the package fuse3)\n");
	else if (!(st.st_mode & S_ISUID) || st.st_uid != 0)
		printf("(%s is not set-user-id root)\n", prog);
	else if (statvfs(prog, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		printf("(%s is on a nosuid file system)\n", prog);
	else if (stat("/dev/fuse", &st) < 0 || (st.st_mode & 0006) != 0006)
		printf("(/dev/fuse is mode %o: fusermount3 opens it with the user's rights, so "
		       "it must be 0666)\n",
		       (unsigned)(st.st_mode & 07777));
	else
		return true;
	return false;
}

/* Is anything mounted on mnt? (/proc/self/mountinfo's fifth field) */
static bool in_mountinfo(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	char line[8192], point[PATH_MAX];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && !strcmp(point, mnt);
	fclose(f);
	return found;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names in dir (at most 64), sorted, separated by spaces, into buf:
 * 0, or -1 and errno. */
static int names_in(const char *dir, char *buf, size_t len)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	static char names[64][256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_name);
	buf[0] = '\0';
	for (size_t i = 0, k = 0; i < n && k < len; i++, k = strlen(buf))
		snprintf(buf + k, len - k, "%s%s", i ? " " : "", names[i]);
	return 0;
}

/* In the user's process (no cmocka there): say what failed and give up. */
#define UCHECK(cond)                                                                    \
	do {                                                                            \
		errno = 0;                                                              \
		if (!(cond)) {                                                          \
			printf("as uid %d, line %d: %s failed (errno: %s)\n", NOBODY,   \
			       __LINE__, #cond, errno ? strerror(errno) : "none");      \
			return 1;                                                       \
		}                                                                       \
	} while (0)

/* Is the file at path exactly want[0..size)? */
static bool holds(const char *path, const uint8_t *want, size_t size)
{
	static uint8_t got[300 * 1024 + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, got + n, sizeof(got) - n)) > 0)
		n += (size_t)r;
	close(fd);
	return r == 0 && n == size && !memcmp(got, want, size);
}

/* Plain system calls on the user's mount: create, write, read back, stat,
 * readdir, rename, unlink. 0, or 1 (said). */
static int user_files(const char *mnt)
{
	static const struct {
		const char *name;
		size_t size;
	} files[] = {{"a", 1}, {"b", 5000}, {"c", 300 * 1024}};
	static uint8_t data[3][300 * 1024];
	char path[PATH_MAX + 64], names[512];
	struct stat st;
	/* (a new image's root directory is the user's who made it) */
	UCHECK(stat(mnt, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == NOBODY);
	for (int i = 0; i < 3; i++) {
		for (size_t k = 0; k < files[i].size; k++)
			data[i][k] = (uint8_t)(k * 7 + (size_t)i * 31 + k / 4096);
		snprintf(path, sizeof(path), "%s/%s", mnt, files[i].name);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
		UCHECK(fd >= 0);
		UCHECK(write(fd, data[i], files[i].size) == (ssize_t)files[i].size);
		UCHECK(fsync(fd) == 0);
		UCHECK(close(fd) == 0);
	}
	snprintf(path, sizeof(path), "%s/sub", mnt);
	UCHECK(mkdir(path, 0750) == 0);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", mnt, files[i].name);
		UCHECK(holds(path, data[i], files[i].size));
		UCHECK(stat(path, &st) == 0);
		UCHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640);
		UCHECK(st.st_size == (off_t)files[i].size && st.st_nlink == 1);
		UCHECK(st.st_uid == NOBODY && st.st_gid == NOBODY);
	}
	UCHECK(names_in(mnt, names, sizeof(names)) == 0 && !strcmp(names, "a b c sub"));
	snprintf(path, sizeof(path), "%s/a", mnt);
	UCHECK(unlink(path) == 0);
	UCHECK(stat(path, &st) < 0 && errno == ENOENT);
	char to[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/c", mnt);
	snprintf(to, sizeof(to), "%s/sub/c", mnt);
	UCHECK(rename(path, to) == 0);
	UCHECK(holds(to, data[2], files[2].size));
	UCHECK(names_in(mnt, names, sizeof(names)) == 0 && !strcmp(names, "b sub"));
	UCHECK(names_in(path, names, sizeof(names)) < 0 && errno == ENOENT);
	snprintf(path, sizeof(path), "%s/sub", mnt);
	UCHECK(names_in(path, names, sizeof(names)) == 0 && !strcmp(names, "c"));
	/* (nor may the user give a file away: the kernel checks, default_permissions) */
	UCHECK(chown(to, 0, 0) < 0 && errno == EPERM);
	return 0;
}

/* The user's whole session, in a process of its own that drops root for
 * good: `ananke mount` (which creates the image), the files, `ananke
 * umount`, the mount gone, fsck. 0, or what failed (said). */
static int user_session(const char *dir)
{
	/* Its programs start with no standard input, as from a job runner:
	 * neither the daemons' sockets nor /dev/fuse may take number 0 and be
	 * lost when they point it at /dev/null. */
	close(0);
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
		printf("cannot become uid %d: %s\n", NOBODY, strerror(errno));
		return 90;
	}
	if (geteuid() == 0 || getuid() == 0) {
		printf("still root after setuid(%d)\n", NOBODY);
		return 91;
	}
	char mnt[PATH_MAX], img[PATH_MAX], sock[PATH_MAX], out[4096];
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	UCHECK(mkdir(mnt, 0755) == 0);
	int rc = svc_cmd(out, sizeof(out), 120000 * svc_slow(), "mount", mnt, img, "--socket", sock,
			 "--workers", "1", (char *)NULL);
	if (rc != 0) {
		printf("`ananke mount` as uid %d exited %d: %s\n", NOBODY, rc, out);
		return 2;
	}
	UCHECK(mounted(mnt) && in_mountinfo(mnt));
	int bad = user_files(mnt);
	rc = svc_cmd(out, sizeof(out), 90000 * svc_slow(), "umount", mnt, (char *)NULL);
	if (rc != 0) {
		printf("`ananke umount` as uid %d exited %d: %s\n", NOBODY, rc, out);
		return 3;
	}
	UCHECK(!in_mountinfo(mnt) && !mounted(mnt));
	rc = svc_cmd(out, sizeof(out), 60000 * svc_slow(), "fsck", img, (char *)NULL);
	if (rc != 0) {
		printf("`ananke fsck` after the user's umount exited %d: %s\n", rc, out);
		return 4;
	}
	/* The service going away takes the user's mount with it: the front
	 * door unmounts it through fusermount3 (umount2(2) is root's). */
	rc = svc_cmd(out, sizeof(out), 120000 * svc_slow(), "mount", mnt, img, "--socket", sock,
		     "--workers", "1", (char *)NULL);
	if (rc != 0) {
		printf("the second `ananke mount` as uid %d exited %d: %s\n", NOBODY, rc, out);
		return 5;
	}
	UCHECK(in_mountinfo(mnt));
	rc = svc_cmd(out, sizeof(out), 90000 * svc_slow(), "stop", "--socket", sock, (char *)NULL);
	if (rc != 0) {
		printf("`ananke stop` of the user's service exited %d: %s\n", rc, out);
		return 6;
	}
	uint64_t t0 = svc_now_ms();
	while (in_mountinfo(mnt) && svc_now_ms() - t0 < 20000 * svc_slow())
		svc_sleep_ms(50);
	UCHECK(!in_mountinfo(mnt));
	return bad;
}

/* The processes descending from this one that still run (not zombies),
 * into pids (at most max): how many. The daemons a test's `ananke mount`
 * leaves are among them (svc_fork made this process a subreaper). */
static int live_descendants(pid_t *pids, int max)
{
	enum { N = 8192 };
	static pid_t pid[N], ppid[N];
	static bool mine[N];
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < N) {
		char path[300], stat_line[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
		if (!f)
			continue;
		char *rp = fgets(stat_line, sizeof(stat_line), f) ? strrchr(stat_line, ')') : NULL;
		fclose(f);
		char state;
		int pp;
		if (rp && sscanf(rp + 1, " %c %d", &state, &pp) == 2 && state != 'Z') {
			pid[n] = (pid_t)atoi(e->d_name);
			ppid[n] = (pid_t)pp;
			mine[n++] = false;
		}
	}
	if (d)
		closedir(d);
	for (bool more = true; more;) { /* (children of descendants, until none is new) */
		more = false;
		for (int i = 0; i < n; i++) {
			if (mine[i])
				continue;
			mine[i] = ppid[i] == getpid();
			for (int j = 0; j < n && !mine[i]; j++)
				mine[i] = mine[j] && ppid[i] == pid[j];
			more |= mine[i];
		}
	}
	int k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (mine[i])
			pids[k++] = pid[i];
	return k;
}

/* Give the daemons of a test up to 5 s to end by themselves (reaping
 * them), then SIGKILL what is left: how many had to be killed. */
static int end_descendants(void)
{
	pid_t pids[64];
	int n = 0;
	uint64_t end = svc_now_ms() + 5000 * svc_slow();
	while ((n = live_descendants(pids, 64)) > 0 && svc_now_ms() < end) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		svc_sleep_ms(50);
	}
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	svc_kill_all(); /* (reaps them, bounded) */
	return n;
}

static void a_user_mounts_and_unmounts_without_root(void **state)
{
	(void)state;
	if (!can_mount() || !fusermount_usable())
		skip();
	const char *tmp = getenv("ANK_TEST_TMPDIR");
	char dir[PATH_MAX - 64], mnt[PATH_MAX];
	/* (not tmpfs: the service opens its image with O_DIRECT) */
	snprintf(dir, sizeof(dir), "%s/ank-user-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
	svc_bin(); /* (found now: the user's process may not read /proc/self/exe) */
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(user_session(dir));
	int st = 0;
	int w = svc_wait(pid, 300000 * svc_slow(), &st);
	/* Whatever happened, nothing stays mounted or running. */
	bool still = in_mountinfo(mnt);
	if (still)
		umount2(mnt, MNT_DETACH);
	int killed = end_descendants();
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("(could not remove %s)\n", dir);
	printf("uid %d: mount, files, umount, fsck: %s (exit %d); mount %s; %d process(es) "
	       "left running\n",
	       NOBODY, w < 0 ? "hung" : svc_exit_code(st) ? "failed" : "done", svc_exit_code(st),
	       still ? "left behind" : "gone", killed);
	assert_int_equal(w, 0);
	assert_int_equal(svc_exit_code(st), 0);
	assert_false(still);
	assert_int_equal(killed, 0);
}

/* ---- another user in a user's shared mount ------------------------------------------ */

#define OTHER 4321

static int become(uid_t uid)
{
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
		printf("cannot become uid %d: %s\n", (int)uid, strerror(errno));
		return -1;
	}
	return 0;
}

#define OCHECK(cond) /* (errno: of the last call that set it) */                      \
	do {                                                                            \
		if (!(cond)) {                                                          \
			printf("as uid %d, line %d: %s failed (errno: %s)\n", OTHER,    \
			       __LINE__, #cond, strerror(errno));                       \
			return 1;                                                       \
		}                                                                       \
	} while (0)

/* What uid OTHER does in NOBODY's mount, shared with --allow-other. */
static int other_user_files(const char *mnt)
{
	if (become(OTHER) < 0)
		return 90;
	umask(022);
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/shared/f", mnt);
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0644);
	OCHECK(fd >= 0);
	OCHECK(write(fd, "hello", 5) == 5);
	OCHECK(fstat(fd, &st) == 0 && st.st_uid == OTHER && st.st_gid == OTHER);
	OCHECK(close(fd) == 0);
	snprintf(q, sizeof(q), "%s/shared/d", mnt);
	OCHECK(mkdir(q, 0755) == 0);
	OCHECK(stat(q, &st) == 0 && st.st_uid == OTHER && (st.st_mode & 07777) == 0755);
	snprintf(q, sizeof(q), "%s/shared/d/l", mnt);
	OCHECK(symlink("../f", q) == 0);
	OCHECK(lstat(q, &st) == 0 && st.st_uid == OTHER);
	char buf[8] = "";
	fd = open(q, O_RDONLY);
	OCHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5));
	OCHECK(close(fd) == 0);
	/* the owner's own directory (0755) is not the other's to write in */
	snprintf(q, sizeof(q), "%s/private/x", mnt);
	OCHECK(open(q, O_CREAT | O_WRONLY, 0644) < 0 && errno == EACCES);
	OCHECK(stat(q, &st) < 0 && errno == ENOENT);
	/* and the other's file is not the owner's: chmod as OTHER works */
	OCHECK(chmod(p, 0600) == 0);
	snprintf(q, sizeof(q), "%s/shared/d/l", mnt);
	OCHECK(unlink(q) == 0);
	snprintf(q, sizeof(q), "%s/shared/d", mnt);
	OCHECK(rmdir(q) == 0);
	return 0;
}

/* In a mount namespace of its own, with a /etc/fuse.conf that allows
 * user_allow_other bound over the system's: NOBODY mounts with
 * --allow-other, OTHER works in it, NOBODY unmounts; fsck. 0, or what
 * failed (said). */
static int shared_mount_session(const char *dir) /* (dir: below PATH_MAX - 128) */
{
	char conf[PATH_MAX], mnt[PATH_MAX - 64], img[PATH_MAX], sock[PATH_MAX], out[4096];
	snprintf(conf, sizeof(conf), "%s/fuse.conf", dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	FILE *f = fopen(conf, "w");
	if (!f || fputs("user_allow_other\n", f) < 0 || fclose(f) != 0)
		return 80;
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(conf, "/etc/fuse.conf", NULL, MS_BIND, NULL) < 0) {
		printf("private /etc/fuse.conf: %s\n", strerror(errno));
		return 81;
	}
	close(0); /* (as in user_session) */
	pid_t p = svc_fork();
	if (p == 0) {
		if (become(NOBODY) < 0)
			_exit(90);
		umask(0);
		if (mkdir(mnt, 0755) < 0)
			_exit(91);
		int rc = svc_cmd(out, sizeof(out), 120000 * svc_slow(), "mount", mnt, img,
				 "--socket", sock, "--workers", "1", "--allow-other", (char *)NULL);
		if (rc != 0) {
			printf("`ananke mount --allow-other` as uid %d exited %d: %s\n", NOBODY, rc,
			       out);
			_exit(92);
		}
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s/shared", mnt);
		if (mkdir(d, 0777) < 0)
			_exit(93);
		snprintf(d, sizeof(d), "%s/private", mnt);
		_exit(mkdir(d, 0755) < 0 ? 94 : 0);
	}
	int st = 0;
	if (p < 0 || svc_wait(p, 150000 * svc_slow(), &st) < 0 || svc_exit_code(st) != 0)
		return 82;
	p = svc_fork();
	if (p == 0)
		_exit(other_user_files(mnt));
	if (p < 0 || svc_wait(p, 60000 * svc_slow(), &st) < 0)
		return 83;
	int bad = svc_exit_code(st);
	p = svc_fork();
	if (p == 0) {
		if (become(NOBODY) < 0)
			_exit(90);
		struct stat fs_st;
		char q[PATH_MAX];
		snprintf(q, sizeof(q), "%s/shared/f", mnt);
		/* the owner sees the other's file as the other's, and may not read it */
		if (stat(q, &fs_st) < 0 || fs_st.st_uid != OTHER || (fs_st.st_mode & 0777) != 0600) {
			printf("as uid %d: %s is not uid %d's, mode 0600\n", NOBODY, q, OTHER);
			_exit(95);
		}
		if (open(q, O_RDONLY) >= 0 || errno != EACCES)
			_exit(96);
		int rc = svc_cmd(out, sizeof(out), 90000 * svc_slow(), "umount", mnt, (char *)NULL);
		if (rc != 0) {
			printf("`ananke umount` as uid %d exited %d: %s\n", NOBODY, rc, out);
			_exit(97);
		}
		rc = svc_cmd(out, sizeof(out), 60000 * svc_slow(), "fsck", img, (char *)NULL);
		if (rc != 0)
			printf("`ananke fsck` exited %d: %s\n", rc, out);
		_exit(rc ? 98 : 0);
	}
	if (p < 0 || svc_wait(p, 150000 * svc_slow(), &st) < 0)
		return 84;
	if (in_mountinfo(mnt)) {
		umount2(mnt, MNT_DETACH);
		return 85;
	}
	return bad ? bad : svc_exit_code(st);
}

/* --allow-other on a user's mount: another user's creates are theirs (the
 * front door, not root, names the caller on each call), their permissions
 * are checked as theirs, and nothing is left half made. */
static void another_user_works_in_a_shared_user_mount(void **state)
{
	(void)state;
	if (!can_mount() || !fusermount_usable() || access("/etc/fuse.conf", F_OK) != 0)
		skip();
	const char *tmp = getenv("ANK_TEST_TMPDIR");
	char dir[PATH_MAX - 128];
	snprintf(dir, sizeof(dir), "%s/ank-shared-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
	svc_bin();
	fflush(stdout);
	pid_t pid = svc_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(shared_mount_session(dir));
	int st = 0;
	int w = svc_wait(pid, 400000 * svc_slow(), &st);
	int killed = end_descendants();
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("(could not remove %s)\n", dir);
	printf("uid %d's mount shared with uid %d: %s (exit %d); %d process(es) left running\n",
	       NOBODY, OTHER, w < 0 ? "hung" : svc_exit_code(st) ? "failed" : "done",
	       svc_exit_code(st), killed);
	assert_int_equal(w, 0);
	assert_int_equal(svc_exit_code(st), 0);
	assert_int_equal(killed, 0);
}

int main(void)
{
	differ_no_big_offsets(); /* (a FUSE mount's lseek limit is the kernel's) */
	oracle_atime_loose = true; /* (oracle.h: the kernel answers some reads itself) */
	g_kills = mmap(NULL, sizeof(*g_kills), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (g_kills == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *only = getenv("ANK_FUSE_TEST");
	if (only && *only)
		cmocka_set_test_filter(only);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_programs_work_through_the_mount),
		cmocka_unit_test(calls_through_the_mount_match_linux),
		cmocka_unit_test(real_programs_never_notice_server_crashes),
		cmocka_unit_test(calls_through_the_mount_match_linux_under_kills),
		cmocka_unit_test(the_mount_goes_away_with_the_service),
		cmocka_unit_test(a_user_mounts_and_unmounts_without_root),
		cmocka_unit_test(another_user_works_in_a_shared_user_mount),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	svc_kill_all();
	return rc;
}
