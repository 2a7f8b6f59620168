/*
 * client.h - internals shared by the files of libananke: the connection
 * state and the request engine that moves one request through a ring slot.
 *
 * Nothing here is part of the public API. Every name that crosses files
 * starts with ankc_ so that the static archive does not clash with the
 * application's (or the core's) symbols; the shared object hides them all
 * (-fvisibility=hidden), and only the functions of include/ananke.h carry
 * ANK_API.
 */
#ifndef ANK_CLIENT_H
#define ANK_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../include/ananke.h"

#define ANK_API __attribute__((visibility("default")))

/* Longest path the service accepts, NUL excluded (PATH_MAX - 1). */
#define ANKC_PATH_MAX 4095u

/* One request as the API functions describe it; ankc_call() moves it through
 * a slot. Paths are NUL-terminated and already length-checked. */
struct ankc_req {
	uint32_t opcode;
	uint32_t flags;
	int32_t fd;
	uint32_t mode;
	int64_t off;
	uint64_t len;            /* request len field */
	const char *path;        /* NULL: none */
	const char *path2;       /* NULL: none */
	size_t path_len;         /* strlen(path) + 1 when path */
	size_t path2_len;
	const void *wdata;       /* copied into the data buffer (len bytes) */
	void *rdata;             /* receives data after DONE */
	size_t rdata_cap;        /* at most this many bytes are copied out */
	int rdata_all;           /* 1: copy rdata_cap bytes; 0: copy `result` bytes */
	void *out;               /* receives the slot's out[] (80 bytes), or NULL */
	uint64_t at_ino;         /* path starts at this inode (0: fd says) */
	uint64_t at2_ino;        /* path2 starts at this inode (0: mode says) */
	uint32_t as_set;         /* 1: act as as_uid/as_gid (ring.h; the front door) */
	uint32_t as_uid, as_gid;
};

/* Take a reference on the connection for the duration of one API call:
 * 0, or -1 with errno ENOTCONN (not mounted) / EIO (service gone). Every
 * successful ankc_enter() is paired with one ankc_leave(). */
int ankc_enter(void);
void ankc_leave(void);

/* Run one request on the mounted connection (the caller holds a reference).
 * Returns the server's result (>= 0) or -errno. The result is validated:
 * a negative value outside the errno range, or a read count larger than
 * what was asked, comes back as -EIO. errno is preserved. */
int64_t ankc_call(struct ankc_req *rq);

/* Wait at most ms for the service to go away (the supervisor closed the
 * connection's socket): 1 when it did, 0 when not yet, -1 when nothing is
 * mounted. For a program that must notice it without making a call (the
 * FUSE front door, idle). The caller holds a reference. */
int ankc_wait_gone(int ms);

/* The process umask, read once at mount. */
mode_t ankc_umask(void);

/* Check a caller's path: 0 and *len_out = strlen + 1, or -EFAULT /
 * -ENAMETOOLONG. */
int ankc_check_path(const char *path, size_t *len_out);
/* Re-initialise the per-fd I/O locks in a fork child (libananke.c). */
void ankc_rw_locks_reset(void);

#endif
