/*
 * main.c - `ananke-fuse`: mount the service on a directory through FUSE and
 * serve it (frontdoor.c). `ananke mount` starts the service and runs this;
 * it can also be run by hand against a running service.
 *
 *   ananke-fuse [--socket PATH] [--threads N] [--attr-timeout S]
 *               [--entry-timeout S] [--no-readdirplus] [--keep-cache]
 *               [--allow-other] [--foreground] MOUNTPOINT
 *
 * Without --foreground it returns once the mount is up and the front door
 * is connected to the service, and goes on serving in the background.
 * Root mounts with mount(2), and the mount is shared by every user
 * (allow_other). Any other user mounts through the set-user-id helper
 * fusermount3 (package fuse3), and the mount is that user's alone unless
 * --allow-other (which fusermount3 grants only with user_allow_other in
 * /etc/fuse.conf). Either way the kernel checks permissions
 * (default_permissions).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/stdfds.h"
#include "../../include/ananke.h"
#include "frontdoor.h"
#include "fusermount.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ananke-fuse [--socket PATH] [--threads N] [--attr-timeout S]\n"
		   "                   [--entry-timeout S] [--no-readdirplus] [--keep-cache]\n"
		   "                   [--writeback] [--allow-other] [--foreground] MOUNTPOINT\n"
		   "  --socket: the service's socket ($ANANKE_SOCKET, else ./ananke.sock)\n"
		   "  --threads: readers of the FUSE connection (default 4)\n"
		   "  --attr-timeout, --entry-timeout: seconds the kernel caches attributes\n"
		   "  and names (default 1; libananke clients may change files meanwhile)\n"
		   "  --writeback: the kernel's writeback cache (write(2) returns from the\n"
		   "  page cache; the service gets the data in the background; fsync(2) and\n"
		   "  close-to-open still deliver it)\n"
		   "  --allow-other: other users may use the mount too (always so when root\n"
		   "  mounts; any other user mounts through fusermount3, which allows it only\n"
		   "  with user_allow_other in /etc/fuse.conf)\n");
}

static int parse_seconds(const char *name, const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || *end || end == v || !(d >= 0 && d <= 86400)) {
		fprintf(stderr, "ananke-fuse: %s must be 0..86400 seconds\n", name);
		return -1;
	}
	*out = d;
	return 0;
}

/* Root: open /dev/fuse and mount it on mnt with mount(2); the fd, or -1
 * (said). */
static int mount_as_root(const char *mnt, const char *source)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ananke-fuse: /dev/fuse: %s%s\n", strerror(errno),
			errno == ENOENT ? " (is the fuse module loaded?)" : "");
		return -1;
	}
	char opts[256];
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=%u,group_id=%u,default_permissions,allow_other", fd,
		 (unsigned)getuid(), (unsigned)getgid());
	/* Neither nosuid nor nodev: root mounts it, and it is a file system
	 * like any other (set-user-id programs and device nodes work as on
	 * ext4). */
	if (mount(source, mnt, "fuse.ananke", 0, opts) < 0) {
		int e = errno;
		fprintf(stderr, "ananke-fuse: mounting %s: %s%s\n", mnt, strerror(e),
			e == EPERM ? " (refused to root: does this container allow FUSE mounts?)"
				   : "");
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- other users: fusermount3 ------------------------------------------------ */

/* How long fusermount3 may take to mount or unmount before it counts as
 * hung and is killed. */
#define FUSERMOUNT_MS 10000

/* Our environment plus _FUSE_COMMFD=fd, the socket on which fusermount3
 * sends the /dev/fuse fd; entry holds the new string. Built before the
 * fork, so that the child only calls execve. NULL when out of memory. */
static char **commfd_environ(int fd, char *entry, size_t len)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	snprintf(entry, len, "_FUSE_COMMFD=%d", fd);
	size_t k = 0;
	env[k++] = entry;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "_FUSE_COMMFD=", 13))
			env[k++] = environ[i];
	return env;
}

/* The fd fusermount3 sends on sock (one byte of data, the fd in an
 * SCM_RIGHTS message), close-on-exec; waits at most ms. -1 when none came:
 * fusermount3 failed (and said why on stderr), or hung. */
static int receive_fd(int sock, int ms)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	int r;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		return -1;
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	ssize_t got;
	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	if (msg.msg_flags & MSG_CTRUNC) { /* (not what fusermount3 sends) */
		close(fd);
		return -1;
	}
	return fd;
}

/* ",", "\" escaped with "\" for a value of fusermount3's -o, into buf. */
static void escape_opt(const char *v, char *buf, size_t len)
{
	size_t k = 0;
	for (; *v && k + 2 < len; v++) {
		if (*v == ',' || *v == '\\')
			buf[k++] = '\\';
		buf[k++] = *v;
	}
	buf[k] = '\0';
}

/* Run fusermount3 with argv and the environment env, keeping comm_fd
 * (unless -1) open in it; its pid, or -1 (said). */
static pid_t spawn_fusermount(const char *prog, char *const argv[], char **env, int comm_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (comm_fd >= 0)
			fcntl(comm_fd, F_SETFD, 0); /* (fusermount3 must inherit it) */
		execve(prog, argv, env);
		_exit(127);
	}
	if (pid < 0)
		fprintf(stderr, "ananke-fuse: fork: %s\n", strerror(errno));
	return pid;
}

/* Is a fuse.ananke mount of source on mnt (absolute) in
 * /proc/self/mountinfo? */
static bool mounted_here(const char *mnt, const char *source)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	char line[8192], point[PATH_MAX], type[64], src[PATH_MAX];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint options [optional...] - type source super */
		const char *tail = strstr(line, " - ");
		found = tail && sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 &&
			sscanf(tail, " - %63s %4095s", type, src) == 2 && !strcmp(point, mnt) &&
			!strcmp(type, "fuse.ananke") && !strcmp(src, source);
	}
	fclose(f);
	return found;
}

/* Any other user: fusermount3 (set-user-id root) opens /dev/fuse, mounts
 * it on mnt (absolute), and sends us the fd; it sets rootmode, user_id and
 * group_id itself, and adds nosuid and nodev. The fd, or -1 (said). */
static int mount_with_fusermount(const char *mnt, const char *source, bool allow_other)
{
	char prog[PATH_MAX];
	if (fusermount_find(prog, sizeof(prog)) < 0) {
		fprintf(stderr, "ananke-fuse: mounting as a non-root user needs fusermount3 "
				"(package fuse3); there is none in /usr/bin or $PATH\n");
		return -1;
	}
	char fsname[2 * PATH_MAX], opts[2 * PATH_MAX + 128];
	escape_opt(source, fsname, sizeof(fsname));
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=ananke,default_permissions%s", fsname,
		 allow_other ? ",allow_other" : "");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "ananke-fuse: socketpair: %s\n", strerror(errno));
		return -1;
	}
	char entry[32];
	char **env = commfd_environ(sv[1], entry, sizeof(entry));
	char *argv[] = {prog, "-o", opts, "--", (char *)mnt, NULL};
	pid_t pid = env ? spawn_fusermount(prog, argv, env, sv[1]) : -1;
	free(env);
	close(sv[1]); /* (so that our end sees fusermount3 end) */
	int fd = pid > 0 ? receive_fd(sv[0], FUSERMOUNT_MS) : -1;
	close(sv[0]);
	if (pid <= 0)
		return -1;
	/* Without an fd it failed, or hung for FUSERMOUNT_MS already. */
	int status = 0;
	bool ended = fusermount_wait(pid, fd >= 0 ? FUSERMOUNT_MS : 1000, &status) == 0;
	if (fd >= 0)
		return fd; /* (sent only once the mount is up) */
	if (!ended)
		fprintf(stderr, "ananke-fuse: %s did not mount %s within %d s; killed it\n", prog,
			mnt, FUSERMOUNT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "ananke-fuse: %s could not mount %s (%s %d)\n", prog, mnt,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	else
		fprintf(stderr, "ananke-fuse: %s ended without sending the /dev/fuse fd for %s\n",
			prog, mnt);
	/* (it may fail after mounting, when sending the fd fails) */
	if (mounted_here(mnt, source)) {
		fprintf(stderr, "ananke-fuse: unmounting what %s left on %s\n", prog, mnt);
		fusermount_unmount("ananke-fuse", mnt, 1);
	}
	return -1;
}

/* Mount /dev/fuse on mnt (mnt_abs: the same, resolved): the fd serving
 * it, or -1 (said). */
static int fuse_mount(const char *mnt, const char *mnt_abs, const char *source, bool allow_other)
{
	return geteuid() == 0 ? mount_as_root(mnt, source)
			      : mount_with_fusermount(mnt_abs, source, allow_other);
}

int main(int argc, char **argv)
{
	if (ank_std_fds_open() < 0) {
		/* (no stderr to say it on, perhaps) */
		return 1;
	}
	struct frontdoor_options opt = {.threads = 4, .attr_timeout = 1.0, .entry_timeout = 1.0,
					.readdirplus = true};
	const char *sock = getenv("ANANKE_SOCKET");
	if (!sock || !*sock)
		sock = "./ananke.sock";
	const char *mnt = NULL;
	bool foreground = false, allow_other = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;
		if (!strcmp(a, "--socket") && has_next) {
			sock = argv[++i];
		} else if (!strcmp(a, "--threads") && has_next) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > 64) {
				fprintf(stderr, "ananke-fuse: --threads must be 1..64\n");
				return 2;
			}
			opt.threads = (unsigned)n;
		} else if (!strcmp(a, "--attr-timeout") && has_next) {
			if (parse_seconds(a, argv[++i], &opt.attr_timeout) < 0)
				return 2;
		} else if (!strcmp(a, "--entry-timeout") && has_next) {
			if (parse_seconds(a, argv[++i], &opt.entry_timeout) < 0)
				return 2;
		} else if (!strcmp(a, "--no-readdirplus")) {
			opt.readdirplus = false;
		} else if (!strcmp(a, "--keep-cache")) {
			opt.keep_cache = true;
		} else if (!strcmp(a, "--writeback")) {
			opt.writeback = true;
		} else if (!strcmp(a, "--allow-other")) {
			allow_other = true;
		} else if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) {
			foreground = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' || mnt) {
			usage(stderr);
			return 2;
		} else {
			mnt = a;
		}
	}
	if (!mnt) {
		usage(stderr);
		return 2;
	}
	struct stat st;
	if (stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ananke-fuse: %s: %s\n", mnt,
			errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
		return 1;
	}
	/* (before the mount: afterwards, resolving it would ask the mount) */
	char mnt_abs[PATH_MAX];
	opt.mountpoint = realpath(mnt, mnt_abs) ? mnt_abs : mnt;
	char sock_abs[PATH_MAX];
	if (!realpath(sock, sock_abs)) {
		fprintf(stderr, "ananke-fuse: no service on %s: %s\n", sock, strerror(errno));
		return 1;
	}
	/* The background process reports "ready" (or a failure) through a
	 * pipe, so that the caller's exit status says whether the mount is up. */
	int pfd[2] = {-1, -1};
	if (!foreground) {
		if (pipe(pfd) < 0) {
			perror("ananke-fuse: pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("ananke-fuse: fork");
			return 1;
		}
		if (pid > 0) {
			close(pfd[1]);
			/* (bounded: a front door that cannot say "ready" within
			 * 30 s has failed, whatever it is waiting for) */
			struct pollfd pw = {.fd = pfd[0], .events = POLLIN};
			int r;
			do
				r = poll(&pw, 1, 30000);
			while (r < 0 && errno == EINTR);
			char c = 0;
			if (r == 1 && read(pfd[0], &c, 1) == 1 && c == 'y')
				return 0;
			fprintf(stderr, "ananke-fuse: the front door did not %s\n",
				r == 0 ? "get ready within 30 s; stopping it" : "start");
			if (r == 0)
				kill(pid, SIGKILL);
			return 1;
		}
		close(pfd[0]);
		setsid();
	}
	if (ank_mount(sock_abs) < 0) {
		fprintf(stderr, "ananke-fuse: cannot connect to the service on %s: %s\n", sock_abs,
			strerror(errno));
		return 1;
	}
	int fd = fuse_mount(mnt, opt.mountpoint, sock_abs, allow_other);
	if (fd < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (!foreground) {
		(void)!write(pfd[1], "y", 1);
		close(pfd[1]);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
	}
	int rc = frontdoor_serve(fd, &opt);
	close(fd);
	ank_unmount();
	return rc < 0 ? 1 : 0;
}
