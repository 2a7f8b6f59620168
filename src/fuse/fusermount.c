/*
 * fusermount.c - finding fusermount3 and waiting for it, never for good.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fusermount.h"

int fusermount_find(char *buf, size_t len)
{
	snprintf(buf, len, "/usr/bin/fusermount3");
	if (access(buf, X_OK) == 0)
		return 0;
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		if (n && (size_t)snprintf(buf, len, "%.*s/fusermount3", (int)n, path) < len &&
		    access(buf, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

int fusermount_unmount(const char *who, const char *mnt, int lazy)
{
	char prog[4096];
	if (fusermount_find(prog, sizeof(prog)) < 0) {
		fprintf(stderr, "%s: unmounting as a non-root user needs fusermount3 (package "
				"fuse3); there is none in /usr/bin or $PATH\n",
			who);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (lazy)
			execl(prog, prog, "-u", "-z", "--", mnt, (char *)NULL);
		else
			execl(prog, prog, "-u", "--", mnt, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", who, strerror(errno));
		return -1;
	}
	int status = 0;
	if (fusermount_wait(pid, 10000, &status) < 0) {
		fprintf(stderr, "%s: %s -u %s did not finish within 10 s; killed it\n", who, prog,
			mnt);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "%s: %s -u %s failed (%s %d)\n", who, prog, mnt,
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -1;
}

int fusermount_wait(pid_t pid, int ms, int *status)
{
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= ms) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		usleep(10000);
	}
}
