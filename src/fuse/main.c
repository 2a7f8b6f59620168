/*
 * main.c - `ananke-fuse`: mount the service on a directory through FUSE and
 * serve it (frontdoor.c). `ananke mount` starts the service and runs this;
 * it can also be run by hand against a running service.
 *
 *   ananke-fuse [--socket PATH] [--threads N] [--attr-timeout S]
 *               [--entry-timeout S] [--no-readdirplus] [--keep-cache]
 *               [--foreground] MOUNTPOINT
 *
 * Without --foreground it returns once the mount is up and the front door
 * is connected to the service, and goes on serving in the background.
 * Mounting needs root (mount(2)); the mount is shared by every user
 * (allow_other) and the kernel checks permissions (default_permissions).
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
#include <sys/stat.h>
#include <unistd.h>

#include "../../include/ananke.h"
#include "frontdoor.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ananke-fuse [--socket PATH] [--threads N] [--attr-timeout S]\n"
		   "                   [--entry-timeout S] [--no-readdirplus] [--keep-cache]\n"
		   "                   [--writeback] [--foreground] MOUNTPOINT\n"
		   "  --socket: the service's socket ($ANANKE_SOCKET, else ./ananke.sock)\n"
		   "  --threads: readers of the FUSE connection (default 4)\n"
		   "  --attr-timeout, --entry-timeout: seconds the kernel caches attributes\n"
		   "  and names (default 1; libananke clients may change files meanwhile)\n"
		   "  --writeback: the kernel's writeback cache (write(2) returns from the\n"
		   "  page cache; the service gets the data in the background; fsync(2) and\n"
		   "  close-to-open still deliver it)\n");
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

/* Open /dev/fuse and mount it on mnt; the fd, or -1 (said). */
static int fuse_mount(const char *mnt, const char *source)
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
			e == EPERM ? " (mounting needs root)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct frontdoor_options opt = {.threads = 4, .attr_timeout = 1.0, .entry_timeout = 1.0,
					.readdirplus = true};
	const char *sock = getenv("ANANKE_SOCKET");
	if (!sock || !*sock)
		sock = "./ananke.sock";
	const char *mnt = NULL;
	bool foreground = false;
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
	int fd = fuse_mount(mnt, sock_abs);
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
