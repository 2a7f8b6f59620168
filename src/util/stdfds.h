/*
 * stdfds.h - a program started with a standard stream closed gets
 * /dev/null in its place before it opens anything of its own.
 *
 * Otherwise the first socket, image or /dev/fuse it opens takes number 0,
 * 1 or 2: a later "stdin to /dev/null" (daemonizing) would close it, and a
 * message to stderr would be written into it.
 */
#ifndef ANK_STDFDS_H
#define ANK_STDFDS_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Returns 0, or -1 (errno set) when /dev/null cannot be opened. */
static inline int ank_std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -1;
		if (n != fd) { /* (lowest free number: cannot be above fd) */
			close(n);
			errno = EBADF;
			return -1;
		}
	}
	return 0;
}

#endif
