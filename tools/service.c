/*
 * service.c - `ananke serve`, `ananke status` and `ananke stop`: argument
 * parsing and output for the service commands. The supervisor itself is
 * src/supervisor/; this file only creates a missing image, starts it, and
 * talks to a running one over its socket.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fuse/fusermount.h"
#include "../src/ipc/control.h"
#include "../src/server/options.h"
#include "../src/server/server.h"
#include "../src/supervisor/supervisor.h"
#include "tools.h"

#define DEFAULT_IMAGE "./ananke.img"
#define DEFAULT_SOCKET "./ananke.sock"

static const char *default_socket(void)
{
	const char *env = getenv("ANANKE_SOCKET");
	return env && *env ? env : DEFAULT_SOCKET;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL if argv[*i]
 * is another option. *bad is set when the option lacks its value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

/* A decimal number in [lo, hi] for option `name` into *out; false (and a
 * message) otherwise. */
static bool opt_uint(const char *name, const char *v, unsigned long lo, unsigned long hi,
		     unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || end == v || *v == '-' || n < lo || n > hi) {
		fprintf(stderr, "ananke: serve: %s must be %lu..%lu\n", name, lo, hi);
		return false;
	}
	*out = (unsigned)n;
	return true;
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: ananke serve [IMAGE] [--socket PATH] [--workers N] [--foreground]\n"
		   "                    [--recovery=none|ananke|sync] [--plog-size BYTES]\n"
		   "                    [--watchdog-ms MS] [--commit-ms MS] [--idle-checkpoint-ms MS]\n"
		   "                    [--plog-commit-at PERCENT] [--io-timeout-ms MS] [--no-standby]\n"
		   "                    [--cache-size SIZE]\n"
		   "  --recovery: ananke (default): a crashed server's state is rebuilt\n"
		   "  transparently; none: plain restart (unsynced state lost); sync: every\n"
		   "  change made durable before it returns.\n"
		   "  --plog-size: bytes of each worker's p-log (default 4194304).\n"
		   "  --plog-commit-at: a p-log this %% full starts a background commit\n"
		   "  (default 50; 0: only a full log syncs).\n"
		   "  --cache-size: the server's page cache, in bytes with K, M, G or T\n"
		   "  (default: an eighth of the machine's memory, 64 MiB to 4 GiB). A quarter\n"
		   "  of it, at most 256 MiB, may be dirty: at half of that a background\n"
		   "  commit writes it back; a call that finds it all dirty commits first.\n"
		   "  --commit-ms: background journal commit interval (default 5000).\n"
		   "  --idle-checkpoint-ms: checkpoint the journal once it saw no commit this\n"
		   "  long (default 100; 0: never), so a crash in a quiet period replays nothing.\n"
		   "  --watchdog-ms: kill a server whose heartbeat stands still this long while\n"
		   "  requests are pending (default 500; 0: off).\n"
		   "  --io-timeout-ms: how long a server waiting for the device may stay silent\n"
		   "  before it counts as hung too (default 5000; never less than --watchdog-ms;\n"
		   "  a stopped process gets no such grace).\n"
		   "  IMAGE defaults to " DEFAULT_IMAGE " (created, 1 GiB, when missing);\n"
		   "  PATH to $ANANKE_SOCKET, else " DEFAULT_SOCKET ".\n");
}

/* A new image made for a user other than root: its root directory is
 * given to that user (mkfs makes it root's, 0755), or nothing could be
 * created at the top of the file system they serve or mount themselves.
 * Done offline, before the service starts. 0, or -1 (said). */
static int give_root_dir(const char *image)
{
	struct bdev *dev;
	struct fs *fs;
	int rc = bdev_file_open(image, false, 0, &dev);
	if (rc < 0) {
		fprintf(stderr, "ananke: serve: cannot open %s: %s\n", image, strerror(-rc));
		return -1;
	}
	rc = fs_mount(dev, NULL, &fs);
	if (rc == 0) {
		struct fs_client *c = fs_client_new(fs, 0, 0);
		struct fs_attr a = {.valid = FS_ATTR_UID | FS_ATTR_GID | FS_ATTR_CHOWN,
				    .uid = (uint32_t)geteuid(), .gid = (uint32_t)getegid()};
		rc = c ? fs_setattr_path(c, "/", &a) : -ENOMEM;
		if (c)
			fs_client_free(c);
		int urc = fs_unmount(fs);
		if (rc == 0)
			rc = urc;
	}
	bdev_close(dev);
	if (rc < 0)
		fprintf(stderr, "ananke: serve: cannot give the root directory of %s to uid %u: %s\n",
			image, (unsigned)geteuid(), strerror(-rc));
	return rc < 0 ? -1 : 0;
}

int tool_serve(int argc, char **argv)
{
	struct sup_config cfg = {.image = DEFAULT_IMAGE,
				 .socket_path = default_socket(),
				 .recovery = recovery_ananke.name,
				 .plogs = recovery_ananke.plogs,
				 .watchdog_ms = 500,
				 .io_timeout_ms = 5000,
				 .commit_ms = server_opts[OPT_COMMIT_MS].def,
				 .idle_checkpoint_ms = server_opts[OPT_IDLE_CHECKPOINT_MS].def,
				 .plog_commit_at = server_opts[OPT_PLOG_COMMIT_AT].def};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/* Thread per core by default. */
	cfg.workers = ncpu < 1 ? 1u : ncpu > ANK_STATS_MAX_WORKERS ? ANK_STATS_MAX_WORKERS
								     : (unsigned)ncpu;
	bool have_image = false;
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--socket", &bad))) {
			cfg.socket_path = v;
		} else if ((v = opt_value(argc, argv, &i, "--workers", &bad))) {
			if (server_opt_parse(OPT_WORKERS, "serve", v, &cfg.workers) < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--recovery", &bad))) {
			const struct recovery_mode *m = recovery_mode_named(v);
			if (!m) {
				fprintf(stderr,
					"ananke: serve: unknown recovery mode '%s' (none: a "
					"restarted server fails in-flight requests with EIO; "
					"ananke: p-logs and transparent replay; sync: see "
					"docs/RECOVERY.md)\n",
					v);
				return 2;
			}
			cfg.recovery = m->name;
			cfg.plogs = m->plogs;
		} else if ((v = opt_value(argc, argv, &i, "--watchdog-ms", &bad))) {
			if (!opt_uint("--watchdog-ms", v, 0, 3600000, &cfg.watchdog_ms))
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--io-timeout-ms", &bad))) {
			if (!opt_uint("--io-timeout-ms", v, 1, 3600000, &cfg.io_timeout_ms))
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--commit-ms", &bad))) {
			if (server_opt_parse(OPT_COMMIT_MS, "serve", v, &cfg.commit_ms) < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--idle-checkpoint-ms", &bad))) {
			if (server_opt_parse(OPT_IDLE_CHECKPOINT_MS, "serve", v,
					     &cfg.idle_checkpoint_ms) < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--plog-commit-at", &bad))) {
			if (server_opt_parse(OPT_PLOG_COMMIT_AT, "serve", v, &cfg.plog_commit_at) < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--cache-size", &bad))) {
			if (server_size_parse(OPT_CACHE_MB, "serve", v, &cfg.cache_mb) < 0)
				return 2;
		} else if ((v = opt_value(argc, argv, &i, "--plog-size", &bad))) {
			char *end;
			errno = 0;
			unsigned long long b = strtoull(v, &end, 10);
			if (errno || *end || end == v || b < 65536 || b > (1ull << 30) || b % 64) {
				fprintf(stderr, "ananke: serve: --plog-size must be 65536..2^30 "
						"bytes, a multiple of 64\n");
				return 2;
			}
			cfg.plog_size = b;
		} else if (bad) {
			fprintf(stderr, "ananke: serve: %s needs a value\n", argv[i]);
			return 2;
		} else if (!strcmp(argv[i], "--no-standby")) {
			cfg.no_standby = true;
		} else if (!strcmp(argv[i], "--foreground") || !strcmp(argv[i], "-f")) {
			cfg.foreground = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			serve_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || have_image) {
			serve_usage(stderr);
			return 2;
		} else {
			cfg.image = argv[i];
			have_image = true;
		}
	}

	/* Before creating anything: a running service is the likely mistake. */
	if (sup_check_socket(cfg.socket_path) < 0)
		return 1;
	struct stat st;
	if (stat(cfg.image, &st) < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, "ananke: serve: %s: %s\n", cfg.image, strerror(errno));
			return 1;
		}
		int code = tool_mkfs_image(cfg.image, 1ull << 30, false);
		if (code)
			return code;
		if (geteuid() != 0 && give_root_dir(cfg.image) < 0)
			return 1;
	}
	return sup_serve(&cfg);
}

/* Connect, send a hello, wait up to timeout_ms for the one-record reply
 * and print it. Returns an exit code; *reply gets the text. */
static int request(const char *cmd, const char *path, uint32_t kind, uint32_t flags,
		   int timeout_ms, char *reply, size_t len)
{
	int fd = sup_connect(path, kind, flags);
	if (fd < 0) {
		if (fd == -ENOENT || fd == -ECONNREFUSED)
			fprintf(stderr, "ananke: no service on %s\n", path);
		else
			fprintf(stderr, "ananke: %s: cannot connect to %s: %s\n", cmd, path,
				strerror(-fd));
		return 1;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int n;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		fprintf(stderr, "ananke: %s: no reply from the service on %s within %d s\n", cmd, path,
			timeout_ms / 1000);
		close(fd);
		return 1;
	}
	ssize_t got = recv(fd, reply, len - 1, MSG_DONTWAIT);
	close(fd);
	if (got <= 0) {
		fprintf(stderr, "ananke: %s: the service on %s closed the connection without a reply\n",
			cmd, path);
		return 1;
	}
	reply[got] = '\0';
	fputs(reply, stdout);
	if (got && reply[got - 1] != '\n')
		putchar('\n');
	return 0;
}

int tool_status(int argc, char **argv)
{
	const char *path = default_socket();
	uint32_t flags = 0;
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--socket", &bad))) {
			path = v;
		} else if (!strcmp(argv[i], "--json")) {
			flags |= 1u;
		} else {
			fprintf(stderr, "usage: ananke status [--socket PATH] [--json]\n");
			return 2;
		}
	}
	static char reply[65536 + 1];
	return request("status", path, ANK_HELLO_STATUS, flags, 10000, reply, sizeof(reply));
}

int tool_stop(int argc, char **argv)
{
	const char *path = default_socket();
	for (int i = 1; i < argc; i++) {
		bool bad = false;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--socket", &bad))) {
			path = v;
		} else {
			fprintf(stderr, "usage: ananke stop [--socket PATH]\n");
			return 2;
		}
	}
	/* The supervisor gives the server 60 s to unmount, then kills it and
	 * waits a few more seconds: outlast both. */
	char reply[1024];
	int code = request("stop", path, ANK_HELLO_STOP, 0, 75000, reply, sizeof(reply));
	if (code)
		return code;
	/* The reply comes before the supervisor has let go of its socket and
	 * the image: wait (at most 15 s) until the socket is gone, so that a
	 * `serve` or `mount` right after this finds them free. */
	for (int i = 0; i < 1500 && access(path, F_OK) == 0; i++)
		usleep(10000);
	return strncmp(reply, "stopped cleanly", 15) ? 1 : 0;
}

/* ---- ananke mount / umount --------------------------------------------------- */

/* The ananke-fuse program beside this one (build/bin/, or the install's
 * bin/), into buf. */
static int fuse_program(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/ananke-fuse", self) >= len || access(buf, X_OK) < 0)
		return -1;
	return 0;
}

static void mount_usage(FILE *f)
{
	fprintf(f, "usage: ananke mount MOUNTPOINT [IMAGE] [serve options] [--threads N]\n"
		   "                    [--attr-timeout S] [--entry-timeout S] [--no-readdirplus]\n"
		   "                    [--keep-cache] [--writeback] [--allow-other]\n"
		   "  Starts the service on IMAGE (as `ananke serve`, which lists its options)\n"
		   "  and mounts it on MOUNTPOINT through FUSE: unmodified programs use it there,\n"
		   "  and libananke clients on its socket at the same time. Root mounts it\n"
		   "  with mount(2), shared by every user; any other user through fusermount3\n"
		   "  (package fuse3), for that user alone unless --allow-other (which needs\n"
		   "  user_allow_other in /etc/fuse.conf).\n"
		   "  `ananke umount MOUNTPOINT` unmounts it and stops the service.\n");
}

int tool_mount(int argc, char **argv)
{
	const char *mnt = NULL;
	const char *socket_path = default_socket();
	/* argv split between the service and the front door */
	char **serve_argv = calloc((size_t)argc + 3, sizeof(char *));
	char **fuse_argv = calloc((size_t)argc + 6, sizeof(char *));
	if (!serve_argv || !fuse_argv) {
		free(serve_argv);
		free(fuse_argv);
		return 1;
	}
	int ns = 0, nf = 0, code = 2;
	serve_argv[ns++] = "serve";
	char prog[PATH_MAX];
	fuse_argv[nf++] = prog;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool next = i + 1 < argc;
		if ((!strcmp(a, "--threads") || !strcmp(a, "--attr-timeout") ||
		     !strcmp(a, "--entry-timeout")) && next) {
			fuse_argv[nf++] = argv[i++];
			fuse_argv[nf++] = argv[i];
		} else if (!strcmp(a, "--no-readdirplus") || !strcmp(a, "--keep-cache") ||
			   !strcmp(a, "--writeback") || !strcmp(a, "--allow-other")) {
			fuse_argv[nf++] = argv[i];
		} else if (!strcmp(a, "--socket") && next) {
			socket_path = argv[++i];
		} else if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) {
			fprintf(stderr, "ananke: mount: the service always detaches; run `ananke serve "
					"--foreground` and `ananke-fuse --foreground` instead\n");
			goto out;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			mount_usage(stdout);
			code = 0;
			goto out;
		} else if (!mnt && a[0] != '-') {
			mnt = a;
		} else {
			serve_argv[ns++] = argv[i];
		}
	}
	if (!mnt) {
		mount_usage(stderr);
		goto out;
	}
	code = 1;
	struct stat st;
	if (stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ananke: mount: %s is not a directory\n", mnt);
		goto out;
	}
	if (fuse_program(prog, sizeof(prog)) < 0) {
		fprintf(stderr, "ananke: mount: ananke-fuse is not installed beside ananke\n");
		goto out;
	}
	char helper[PATH_MAX]; /* (said before the service starts for nothing) */
	if (geteuid() != 0 && fusermount_find(helper, sizeof(helper)) < 0) {
		fprintf(stderr, "ananke: mount: mounting as a non-root user needs fusermount3 "
				"(package fuse3); there is none in /usr/bin or $PATH\n");
		goto out;
	}
	serve_argv[ns++] = "--socket";
	serve_argv[ns++] = (char *)socket_path;
	pid_t self = getpid();
	code = tool_serve(ns, serve_argv);
	if (getpid() != self)
		goto out; /* the supervisor's own process, returning once the service
			     ended: its life is over, the mount is not its business */
	if (code)
		goto out;
	fuse_argv[nf++] = "--socket";
	fuse_argv[nf++] = (char *)socket_path;
	fuse_argv[nf++] = (char *)mnt;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execv(prog, fuse_argv);
		_exit(127);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ananke: mount: the front door did not start; stopping the service\n");
		char reply[1024];
		request("stop", socket_path, ANK_HELLO_STOP, 0, 75000, reply, sizeof(reply));
		code = 1;
		goto out;
	}
	printf("ananke: mounted on %s\n", mnt);
	code = 0;
out:
	free(serve_argv);
	free(fuse_argv);
	return code;
}

/* The source (the service's socket) of the fuse.ananke mount at mnt, from
 * /proc/self/mountinfo: 0, or -1 when nothing of ours is mounted there. */
static int mount_source(const char *mnt, char *src, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -1;
	char line[8192];
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint options [optional...] - type source super */
		char *save = NULL, *tok[5];
		int n = 0;
		for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
			tok[n++] = t;
		if (n < 5 || strcmp(tok[4], mnt))
			continue;
		char *t;
		while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-"))
			;
		char *type = strtok_r(NULL, " ", &save), *source = strtok_r(NULL, " ", &save);
		if (!type || !source || strcmp(type, "fuse.ananke"))
			continue;
		snprintf(src, len, "%s", source);
		rc = 0; /* (the last one mounted there wins) */
	}
	fclose(f);
	return rc;
}

int tool_umount(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: ananke umount MOUNTPOINT\n");
		return 2;
	}
	char mnt[PATH_MAX], src[PATH_MAX];
	if (!realpath(argv[1], mnt)) {
		fprintf(stderr, "ananke: umount: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (mount_source(mnt, src, sizeof(src)) < 0) {
		fprintf(stderr, "ananke: umount: no ananke file system is mounted on %s\n", mnt);
		return 1;
	}
	if (geteuid() != 0) {
		/* (umount2(2) is root's; fusermount3 unmounts for the user who
		 * mounted) */
		if (fusermount_unmount("ananke: umount", mnt, 0) < 0)
			return 1;
	} else if (umount2(mnt, 0) < 0) {
		fprintf(stderr, "ananke: umount: %s: %s%s\n", mnt, strerror(errno),
			errno == EBUSY ? " (a program still uses it); nothing changed" : "");
		return 1;
	}
	/* The front door sees the unmount and goes; then the service stops
	 * (a clean unmount of the image). */
	return tool_stop(3, (char *[]){"stop", "--socket", src, NULL});
}
