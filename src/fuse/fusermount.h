/*
 * fusermount.h - running fusermount3, the set-user-id helper through which
 * a user other than root mounts and unmounts a FUSE file system. Shared by
 * ananke-fuse (mount) and `ananke umount`.
 */
#ifndef ANANKE_FUSERMOUNT_H
#define ANANKE_FUSERMOUNT_H

#include <stddef.h>
#include <sys/types.h>

/* fusermount3's path into buf: /usr/bin's, else the first in $PATH. 0, or
 * -1 when there is none. */
int fusermount_find(char *buf, size_t len);

/* Wait at most ms for pid to end; past that, SIGKILL it and reap it. 0
 * with *status, or -1 when it had to be killed. */
int fusermount_wait(pid_t pid, int ms, int *status);

/* `fusermount3 -u [-z] -- mnt`, for the user who mounted it, waited for at
 * most 10 s. 0, or -1 (said on stderr, after `who: `). */
int fusermount_unmount(const char *who, const char *mnt, int lazy);

#endif
