/*
 * libananke.c - the POSIX-mirror file operations of libananke: argument
 * checks that need no service, translation of each call into one ring
 * request (or, for large reads and writes, a sequence of them), and of the
 * reply back into the POSIX return value and errno.
 *
 * What it does not do: keep any per-fd state (the fd table lives in the
 * server, so fds, offsets and O_APPEND behave the same from every thread),
 * or decide semantics the server owns (permissions, ordering of errors).
 *
 * Every call on an unmounted library fails with ENOTCONN, even those that
 * take an fd: without a connection there is no fd table to say EBADF.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_TMPFILE, O_LARGEFILE */
#endif
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#ifndef ST_VALID
#define ST_VALID 0x0020 /* (Linux: f_flags is filled in) */
#endif

#include "../ipc/ring.h"
#include "client.h"

/* Set errno from a negative result; pass counts through. */
static int64_t ret(int64_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Calls whose success value is 0. */
static int ret0(int64_t r)
{
	if (r > 0)
		r = -EIO; /* the server answered nonsense */
	return (int)ret(r);
}

/* One request on the connection, with the reference taken around it. */
static int64_t call1(struct ankc_req *rq)
{
	if (ankc_enter() < 0)
		return -errno;
	int64_t r = ankc_call(rq);
	ankc_leave();
	return r;
}

/* A path and the directory fd it is relative to (the *at calls), as they
 * travel (ring.h): the fd, or -1 for the root (an absolute path, or
 * AT_FDCWD: the root is every client's working directory). Any other
 * negative dirfd travels as -2, which the server answers with EBADF in
 * the order Linux gives its errors (after those of the other path). */
static int check_at(int dirfd, const char *path, size_t *len, int32_t *wire_fd)
{
	int rc = ankc_check_path(path, len);
	if (rc < 0)
		return rc;
	if (path[0] == '/' || dirfd == AT_FDCWD)
		*wire_fd = -1;
	else if (dirfd < 0)
		*wire_fd = -2;
	else
		*wire_fd = dirfd;
	return 0;
}

static int path_op(uint32_t op, int dirfd, const char *path, int64_t off)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = op, .path = path, .path_len = len,
			       .off = off, .fd = wfd };
	return ret0(call1(&rq));
}

/* rename and link: the second path's dirfd travels in mode (ring.h). */
static int path2_op(uint32_t op, int fromfd, const char *from, int tofd, const char *to,
		    uint32_t flags)
{
	size_t l1, l2;
	int32_t w1, w2;
	int rc = check_at(fromfd, from, &l1, &w1);
	if (rc == 0)
		rc = check_at(tofd, to, &l2, &w2);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = op, .path = from, .path_len = l1,
			       .path2 = to, .path2_len = l2, .fd = w1,
			       .mode = (uint32_t)w2, .flags = flags };
	return ret0(call1(&rq));
}

static int fd_op(uint32_t op, int fd, int64_t off)
{
	struct ankc_req rq = { .opcode = op, .fd = fd, .off = off };
	return ret0(call1(&rq));
}

/* ---- open / close ---------------------------------------------------------- */

/* Flags that have no meaning here: the service has no terminals, no
 * symlinks, never blocks on a file, and has no exec to close on. */
#ifdef __O_LARGEFILE
#define IGNORED_LARGEFILE (O_LARGEFILE | __O_LARGEFILE)
#else
#define IGNORED_LARGEFILE O_LARGEFILE
#endif
#define OPEN_IGNORED (O_CLOEXEC | O_NONBLOCK | O_NOCTTY | IGNORED_LARGEFILE)
#define OPEN_PASSED (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_NOFOLLOW)

/* Close-on-exec: an fd flag of the process, not of the service (which has
 * no exec), kept here per fd number. */
#define CLOEXEC_FDS (1 << 20) /* the service's largest fd table */
static uint64_t cloexec_bits[CLOEXEC_FDS / 64];

static void cloexec_set(int fd, bool on)
{
	if (fd < 0 || fd >= CLOEXEC_FDS)
		return;
	uint64_t bit = 1ull << (fd % 64);
	if (on)
		__atomic_fetch_or(&cloexec_bits[fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&cloexec_bits[fd / 64], ~bit, __ATOMIC_RELAXED);
}

static bool cloexec_get(int fd)
{
	if (fd < 0 || fd >= CLOEXEC_FDS)
		return false;
	return (__atomic_load_n(&cloexec_bits[fd / 64], __ATOMIC_RELAXED) >> (fd % 64)) & 1;
}

static int open_at(int dirfd, const char *path, int flags, mode_t mode)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		errno = EINVAL;
		return -1;
	}
	/* Other flags (O_SYNC, O_DIRECT, O_NOATIME, ...) are dropped, as
	 * open(2) drops flags a file system does not implement. */
	uint32_t wire = (uint32_t)(flags & ~OPEN_IGNORED & OPEN_PASSED);
	struct ankc_req rq = { .opcode = ANK_OP_OPEN, .path = path, .path_len = len,
			       .flags = wire, .fd = wfd };
	if (ankc_enter() < 0)
		return -1;
	/* the umask belongs to the mount, so read it under the reference */
	if (flags & O_CREAT)
		rq.mode = (uint32_t)(mode & 07777 & ~ankc_umask());
	int64_t r = ankc_call(&rq);
	ankc_leave();
	if (r > INT_MAX)
		r = -EIO;
	if (r >= 0)
		cloexec_set((int)r, (flags & O_CLOEXEC) != 0);
	return (int)ret(r);
}

ANK_API int ank_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & O_CREAT) {
		/* mode_t is promoted to int through ... */
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_at(AT_FDCWD, path, flags, mode);
}

ANK_API int ank_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_at(dirfd, path, flags, mode);
}

ANK_API int ank_close(int fd)
{
	int rc = fd_op(ANK_OP_CLOSE, fd, 0);
	if (rc == 0)
		cloexec_set(fd, false);
	return rc;
}

/* The status flags as Linux's F_GETFL gives them on this machine: it adds
 * O_LARGEFILE (the kernel's value, which glibc defines as 0 on 64-bit). */
#if defined(__x86_64__)
#define KERNEL_O_LARGEFILE 0100000
#elif defined(__aarch64__)
#define KERNEL_O_LARGEFILE 0400000
#else
#define KERNEL_O_LARGEFILE 0
#endif

/* dup(2) and its kin: the server makes the new fd name the same open file
 * description (ring.h, ANK_OP_DUP); FD_CLOEXEC is the caller's. */
static int dup_common(int oldfd, int newfd, uint32_t how, bool cloexec)
{
	struct ankc_req rq = { .opcode = ANK_OP_DUP, .fd = oldfd, .off = newfd, .flags = how };
	int64_t r = call1(&rq);
	if (r > INT_MAX)
		r = -EIO;
	if (r >= 0)
		cloexec_set((int)r, cloexec);
	return (int)ret(r);
}

/* One lock request; a waiting one (SETW) is asked again, at growing
 * intervals up to 10 ms, while the server answers EAGAIN (the server
 * never waits; it records whom the client waits for, for EDEADLK). A
 * signal ends the wait with EINTR, as in the kernel. */
static int64_t lock_call(struct ankc_req *rq)
{
	long wait_ns = 50000;
	for (;;) {
		int64_t r = call1(rq);
		if (r != -EAGAIN || (rq->flags & 0xffu) != ANK_LOCK_SETW)
			return r;
		struct timespec ts = {0, wait_ns};
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			return -EINTR;
		if (wait_ns < 10000000)
			wait_ns *= 2;
	}
}

/* fcntl's record locks: F_GETLK, F_SETLK, F_SETLKW and the F_OFD_ forms. */
static int fcntl_lock(int fd, int cmd, struct flock *fl)
{
	bool ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
	uint32_t how = cmd == F_GETLK || cmd == F_OFD_GETLK	    ? ANK_LOCK_GET
		       : cmd == F_SETLKW || cmd == F_OFD_SETLKW ? ANK_LOCK_SETW
								: ANK_LOCK_SET;
	if (!fl)
		return (int)ret(-EFAULT);
	struct ank_wire_lock wl = {.start = (int64_t)fl->l_start, .len = (int64_t)fl->l_len,
				   .type = fl->l_type, .whence = fl->l_whence,
				   .pid = fl->l_pid != 0 /* (OFD: must be 0) */};
	uint8_t out[80];
	struct ankc_req rq = {.opcode = ANK_OP_LOCK, .fd = fd,
			      .flags = how | (ofd ? (uint32_t)ANK_LOCK_OFD : 0u) << 8,
			      .wdata = &wl, .len = sizeof(wl), .out = out};
	int64_t r = lock_call(&rq);
	if (r == 0 && how == ANK_LOCK_GET) {
		struct ank_wire_lock ans;
		memcpy(&ans, out, sizeof(ans));
		fl->l_type = ans.type;
		if (ans.type != F_UNLCK) {
			fl->l_whence = SEEK_SET;
			fl->l_start = (off_t)ans.start;
			fl->l_len = (off_t)ans.len;
			fl->l_pid = ans.pid;
		}
	}
	return ret0(r);
}

ANK_API int ank_flock(int fd, int operation)
{
	int op = operation & ~LOCK_NB;
	int16_t type = op == LOCK_SH ? F_RDLCK : op == LOCK_EX ? F_WRLCK : op == LOCK_UN ? F_UNLCK : -1;
	if (type < 0)
		return (int)ret(-EINVAL);
	struct ank_wire_lock wl = {.type = type, .whence = SEEK_SET};
	uint32_t how = (operation & LOCK_NB) || type == F_UNLCK ? ANK_LOCK_SET : ANK_LOCK_SETW;
	struct ankc_req rq = {.opcode = ANK_OP_LOCK, .fd = fd,
			      .flags = how | (uint32_t)ANK_LOCK_FLOCK << 8, .wdata = &wl,
			      .len = sizeof(wl)};
	return ret0(lock_call(&rq));
}

ANK_API int ank_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	if (cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_GETLK ||
	    cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW) {
		struct flock *fl = va_arg(ap, struct flock *);
		va_end(ap);
		return fcntl_lock(fd, cmd, fl);
	}
	long arg = cmd == F_SETFL || cmd == F_SETFD || cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC
			   ? va_arg(ap, long)
			   : 0;
	va_end(ap);
	struct ankc_req rq = { .opcode = ANK_OP_GETFL, .fd = fd };
	switch (cmd) {
	case F_GETFL: {
		int64_t r = call1(&rq);
		if (r >= 0)
			r |= KERNEL_O_LARGEFILE;
		return (int)ret(r > INT_MAX ? -EIO : r);
	}
	case F_SETFL:
		rq.opcode = ANK_OP_SETFL;
		rq.flags = (uint32_t)arg;
		return ret0(call1(&rq));
	case F_GETFD:
	case F_SETFD: {
		int rc = (int)ret(call1(&rq)); /* is fd open? (EBADF) */
		if (rc < 0)
			return rc;
		if (cmd == F_GETFD)
			return cloexec_get(fd) ? FD_CLOEXEC : 0;
		cloexec_set(fd, (arg & FD_CLOEXEC) != 0);
		return 0;
	}
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0 || arg > INT_MAX)
			return (int)ret(-EINVAL);
		return dup_common(fd, (int)arg, 0, cmd == F_DUPFD_CLOEXEC);
	default:
		return (int)ret(-EINVAL);
	}
}

ANK_API int ank_dup(int fd)
{
	return dup_common(fd, 0, 0, false);
}

ANK_API int ank_dup2(int oldfd, int newfd)
{
	if (newfd < 0)
		return (int)ret(-EBADF);
	if (oldfd == newfd) { /* newfd as it is (FD_CLOEXEC too), if open */
		struct ankc_req rq = { .opcode = ANK_OP_GETFL, .fd = oldfd };
		int rc = (int)ret(call1(&rq));
		return rc < 0 ? rc : newfd;
	}
	return dup_common(oldfd, newfd, ANK_DUP_EXACT, false);
}

ANK_API int ank_dup3(int oldfd, int newfd, int flags)
{
	if (flags & ~O_CLOEXEC)
		return (int)ret(-EINVAL);
	if (newfd < 0)
		return (int)ret(-EBADF);
	if (oldfd == newfd)
		return (int)ret(-EINVAL);
	return dup_common(oldfd, newfd, ANK_DUP_EXACT, (flags & O_CLOEXEC) != 0);
}

/* ---- read / write ------------------------------------------------------------ */

/* Reads and writes larger than a slot's data buffer go as consecutive
 * pieces under one connection reference. A short piece or an error ends the
 * sequence; what was transferred before an error is returned, as a short
 * count, the way read(2) and write(2) report a partial transfer. */
/* Threads of a process doing multi-piece I/O on the same fd take the same
 * lock for the whole call, so one call's pieces are never interleaved with
 * another's (as one read(2)/write(2) is atomic against others on Linux).
 * Calls that fit in one piece need no lock: the server runs a request whole.
 * The table is striped by fd number. */
#define RW_LOCKS 64
static pthread_mutex_t rw_locks[RW_LOCKS] = {
	[0 ... RW_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

/* fork(): another thread of the parent may have held one of these locks at
 * that moment; the child's copies start unlocked (called from the child
 * handler in conn.c). */
void ankc_rw_locks_reset(void)
{
	for (unsigned i = 0; i < RW_LOCKS; i++)
		pthread_mutex_init(&rw_locks[i], NULL);
}

static ssize_t rw(uint32_t op, int fd, void *rbuf, const void *wbuf, size_t n,
		  int64_t off)
{
	int reading = (op == ANK_OP_READ || op == ANK_OP_PREAD);
	int positioned = (op == ANK_OP_PREAD || op == ANK_OP_PWRITE);
	if (n > 0 && (reading ? !rbuf : !wbuf)) {
		errno = EFAULT;
		return -1;
	}
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (ankc_enter() < 0)
		return -1;
	pthread_mutex_t *lk = n > ANK_RING_DATA_PER_SLOT && fd >= 0 ? &rw_locks[fd % RW_LOCKS]
								     : NULL;
	if (lk)
		pthread_mutex_lock(lk);
	size_t done = 0;
	int64_t err = 0;
	do {
		size_t piece = n - done;
		if (piece > ANK_RING_DATA_PER_SLOT)
			piece = ANK_RING_DATA_PER_SLOT;
		struct ankc_req rq = { .opcode = op, .fd = fd, .len = piece };
		if (positioned) {
			/* stop before a position that does not fit in off_t
			 * (a negative off fails on the first piece) */
			if (done > 0 && off >= 0 && done > (uint64_t)(INT64_MAX - off))
				break;
			rq.off = off + (int64_t)done;
		}
		if (piece > 0) {
			if (reading) {
				rq.rdata = (uint8_t *)rbuf + done;
				rq.rdata_cap = piece;
			} else {
				rq.wdata = (const uint8_t *)wbuf + done;
			}
		}
		int64_t r = ankc_call(&rq);
		if (r < 0) {
			err = r;
			break;
		}
		if ((uint64_t)r > piece) {
			err = -EIO; /* more written than asked: a broken server */
			break;
		}
		done += (size_t)r;
		if ((size_t)r < piece)
			break;
	} while (done < n);
	if (lk)
		pthread_mutex_unlock(lk);
	ankc_leave();
	if (done > 0)
		return (ssize_t)done;
	return (ssize_t)ret(err);
}

ANK_API ssize_t ank_read(int fd, void *buf, size_t n)
{
	return rw(ANK_OP_READ, fd, buf, NULL, n, 0);
}

ANK_API ssize_t ank_write(int fd, const void *buf, size_t n)
{
	return rw(ANK_OP_WRITE, fd, NULL, buf, n, 0);
}

ANK_API ssize_t ank_pread(int fd, void *buf, size_t n, off_t off)
{
	return rw(ANK_OP_PREAD, fd, buf, NULL, n, off);
}

ANK_API ssize_t ank_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return rw(ANK_OP_PWRITE, fd, NULL, buf, n, off);
}

/* ---- the rest of the fd calls -------------------------------------------- */

ANK_API off_t ank_lseek(int fd, off_t off, int whence)
{
	struct ankc_req rq = { .opcode = ANK_OP_LSEEK, .fd = fd, .off = off,
			       .flags = (uint32_t)whence };
	return (off_t)ret(call1(&rq));
}

ANK_API int ank_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct ank_wire_range w = {.off = (int64_t)off, .len = (int64_t)len};
	struct ankc_req rq = { .opcode = ANK_OP_FALLOCATE, .fd = fd, .flags = (uint32_t)mode,
			       .wdata = &w, .len = sizeof(w) };
	return ret0(call1(&rq));
}

ANK_API int ank_posix_fallocate(int fd, off_t off, off_t len)
{
	int saved = errno;
	int rc = ank_fallocate(fd, 0, off, len);
	int e = rc < 0 ? errno : 0;
	errno = saved; /* posix_fallocate(3) returns the error, errno untouched */
	return e;
}

ANK_API int ank_fsync(int fd)
{
	return fd_op(ANK_OP_FSYNC, fd, 0);
}

ANK_API int ank_fdatasync(int fd)
{
	return fd_op(ANK_OP_FDATASYNC, fd, 0);
}

ANK_API int ank_ftruncate(int fd, off_t len)
{
	return fd_op(ANK_OP_FTRUNCATE, fd, len);
}

ANK_API int ank_truncate(const char *path, off_t len)
{
	return path_op(ANK_OP_TRUNCATE, AT_FDCWD, path, len);
}

/* ---- attributes ------------------------------------------------------------ */

ANK_API int ank_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	size_t len;
	int32_t wfd;
	if (flags & ~AT_SYMLINK_NOFOLLOW)
		return (int)ret(-EINVAL);
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_CHMOD, .path = path, .path_len = len,
			       .mode = (uint32_t)mode & 07777u, .fd = wfd,
			       .flags = (uint32_t)flags };
	return ret0(call1(&rq));
}

ANK_API int ank_chmod(const char *path, mode_t mode)
{
	return ank_fchmodat(AT_FDCWD, path, mode, 0);
}

ANK_API int ank_fchmod(int fd, mode_t mode)
{
	struct ankc_req rq = { .opcode = ANK_OP_FCHMOD, .fd = fd, .mode = (uint32_t)mode & 07777u };
	return ret0(call1(&rq));
}

/* uid and gid in one word; (uid_t)-1 / (gid_t)-1 leave them unchanged. */
static int64_t ids(uid_t owner, gid_t group)
{
	return (int64_t)((uint64_t)(uint32_t)owner << 32 | (uint32_t)group);
}

ANK_API int ank_fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags)
{
	size_t len;
	int32_t wfd;
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return (int)ret(-EINVAL);
	if ((flags & AT_EMPTY_PATH) && path && path[0] == '\0')
		return dirfd == AT_FDCWD ? ank_fchownat(AT_FDCWD, "/", owner, group, 0)
					 : ank_fchown(dirfd, owner, group);
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_CHOWN, .path = path, .path_len = len,
			       .off = ids(owner, group), .flags = (uint32_t)flags & AT_SYMLINK_NOFOLLOW,
			       .fd = wfd };
	return ret0(call1(&rq));
}

ANK_API int ank_chown(const char *path, uid_t owner, gid_t group)
{
	return ank_fchownat(AT_FDCWD, path, owner, group, 0);
}

ANK_API int ank_lchown(const char *path, uid_t owner, gid_t group)
{
	return ank_fchownat(AT_FDCWD, path, owner, group, AT_SYMLINK_NOFOLLOW);
}

ANK_API int ank_fchown(int fd, uid_t owner, gid_t group)
{
	struct ankc_req rq = { .opcode = ANK_OP_FCHOWN, .fd = fd, .off = ids(owner, group) };
	return ret0(call1(&rq));
}

/* The times as they travel; NULL means both "now". An nsec that is
 * neither a count below 1e9 nor UTIME_NOW/UTIME_OMIT travels as
 * 0xffffffff: the server refuses it with EINVAL once the file is found, as
 * Linux orders the errors. */
static void wire_times(const struct timespec times[2], struct ank_wire_times *w)
{
	memset(w, 0, sizeof(*w));
	if (!times) {
		w->atime_nsec = w->mtime_nsec = (uint32_t)UTIME_NOW;
		return;
	}
	uint32_t ns[2];
	for (unsigned k = 0; k < 2; k++) {
		long v = times[k].tv_nsec;
		ns[k] = (v >= 0 && v < 1000000000L) || v == UTIME_NOW || v == UTIME_OMIT
				? (uint32_t)v
				: UINT32_MAX;
	}
	w->atime_sec = (int64_t)times[0].tv_sec;
	w->atime_nsec = ns[0];
	w->mtime_sec = (int64_t)times[1].tv_sec;
	w->mtime_nsec = ns[1];
}

static int both_omitted(const struct timespec times[2])
{
	return times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT;
}

ANK_API int ank_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	struct ank_wire_times w;
	if (both_omitted(times))
		return 0; /* as utimensat(2): not even the path is looked at */
	if (flags & ~AT_SYMLINK_NOFOLLOW)
		return (int)ret(-EINVAL);
	if (!path) /* Linux: the file dirfd refers to */
		return ank_futimens(dirfd, times);
	wire_times(times, &w);
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_UTIMENS, .path = path, .path_len = len,
			       .flags = (uint32_t)flags, .fd = wfd, .wdata = &w, .len = sizeof(w) };
	return ret0(call1(&rq));
}

ANK_API int ank_futimens(int fd, const struct timespec times[2])
{
	struct ank_wire_times w;
	if (fd < 0)
		return (int)ret(-EBADF); /* checked first, as glibc's futimens does */
	if (both_omitted(times))
		return 0;
	wire_times(times, &w);
	struct ankc_req rq = { .opcode = ANK_OP_FUTIMENS, .fd = fd, .wdata = &w, .len = sizeof(w) };
	return ret0(call1(&rq));
}

/* ---- stat ------------------------------------------------------------------ */

/* The service's st_dev: one volume per service, and not any device of this
 * machine, so that nothing mistakes the two. */
#define ANK_ST_DEV 0xA4A4

static void wire_to_stat(const struct ank_wire_stat *w, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = ANK_ST_DEV;
	st->st_ino = (ino_t)w->ino;
	st->st_mode = (mode_t)w->mode;
	st->st_nlink = (nlink_t)w->nlink;
	st->st_uid = (uid_t)w->uid;
	st->st_gid = (gid_t)w->gid;
	int dev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode);
	st->st_rdev = dev ? (dev_t)w->size : 0; /* (a device's size is 0) */
	st->st_size = dev ? 0 : (off_t)w->size;
	st->st_blksize = 4096; /* (the wire carries the generation there) */
	st->st_blocks = (blkcnt_t)w->blocks;
	st->st_atim.tv_sec = (time_t)w->atime_sec;
	st->st_atim.tv_nsec = (long)w->atime_nsec;
	st->st_mtim.tv_sec = (time_t)w->mtime_sec;
	st->st_mtim.tv_nsec = (long)w->mtime_nsec;
	st->st_ctim.tv_sec = (time_t)w->ctime_sec;
	st->st_ctim.tv_nsec = (long)w->ctime_nsec;
}

static int stat_common(struct ankc_req *rq, struct stat *st)
{
	struct ank_wire_stat w;
	_Static_assert(sizeof(w) == sizeof(((struct ank_ring_slot *)0)->out), "out is a stat");
	rq->out = &w;
	int rc = ret0(call1(rq));
	if (rc == 0)
		wire_to_stat(&w, st);
	return rc;
}

ANK_API int ank_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc == 0 && !st)
		rc = -EFAULT;
	if (rc == 0 && (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)))
		rc = -EINVAL;
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = (flags & AT_SYMLINK_NOFOLLOW) ? ANK_OP_LSTAT : ANK_OP_STAT,
			       .path = path, .path_len = len, .fd = wfd,
			       .flags = (uint32_t)flags & ~(uint32_t)AT_SYMLINK_NOFOLLOW };
	return stat_common(&rq, st);
}

ANK_API int ank_stat(const char *path, struct stat *st)
{
	return ank_fstatat(AT_FDCWD, path, st, 0);
}

ANK_API int ank_lstat(const char *path, struct stat *st)
{
	return ank_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

static int statfs_common(struct ankc_req *rq, struct statfs *sf)
{
	struct ank_wire_statfs w;
	rq->out = &w;
	int rc = ret0(call1(rq));
	if (rc == 0) {
		memset(sf, 0, sizeof(*sf));
		sf->f_type = ANK_STATFS_MAGIC;
		sf->f_bsize = (long)w.bsize;
		sf->f_frsize = (long)w.bsize;
		sf->f_blocks = (fsblkcnt_t)w.blocks;
		sf->f_bfree = (fsblkcnt_t)w.bfree;
		sf->f_bavail = (fsblkcnt_t)w.bfree;
		sf->f_files = (fsfilcnt_t)w.files;
		sf->f_ffree = (fsfilcnt_t)w.ffree;
		sf->f_namelen = (long)w.namelen;
		sf->f_fsid.__val[0] = ANK_ST_DEV;
		sf->f_flags = ST_VALID | ((w.flags & ANK_STATFS_RDONLY) ? ST_RDONLY : 0);
	}
	return rc;
}

ANK_API int ank_statfs(const char *path, struct statfs *sf)
{
	size_t len;
	int rc = ankc_check_path(path, &len);
	if (rc == 0 && !sf)
		rc = -EFAULT;
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_STATFS, .path = path, .path_len = len,
			       .fd = -1 };
	return statfs_common(&rq, sf);
}

ANK_API int ank_fstatfs(int fd, struct statfs *sf)
{
	if (!sf)
		return (int)ret(-EFAULT);
	struct ankc_req rq = { .opcode = ANK_OP_FSTATFS, .fd = fd };
	return statfs_common(&rq, sf);
}

ANK_API int ank_faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (mode & ~(R_OK | W_OK | X_OK))
		return (int)ret(-EINVAL); /* before the path, as access(2) */
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return (int)ret(-EINVAL);
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_ACCESS, .path = path, .path_len = len,
			       .mode = (uint32_t)mode, .fd = wfd, .flags = (uint32_t)flags };
	return ret0(call1(&rq));
}

ANK_API int ank_access(const char *path, int mode)
{
	return ank_faccessat(AT_FDCWD, path, mode, 0);
}

ANK_API int ank_fstat(int fd, struct stat *st)
{
	if (!st) {
		errno = EFAULT;
		return -1;
	}
	struct ankc_req rq = { .opcode = ANK_OP_FSTAT, .fd = fd };
	return stat_common(&rq, st);
}

/* ---- namespace ------------------------------------------------------------- */

ANK_API int ank_unlink(const char *path)
{
	return path_op(ANK_OP_UNLINK, AT_FDCWD, path, 0);
}

ANK_API int ank_unlinkat(int dirfd, const char *path, int flags)
{
	if (flags & ~AT_REMOVEDIR)
		return (int)ret(-EINVAL);
	return path_op((flags & AT_REMOVEDIR) ? ANK_OP_RMDIR : ANK_OP_UNLINK, dirfd, path, 0);
}

ANK_API int ank_rename(const char *from, const char *to)
{
	return path2_op(ANK_OP_RENAME, AT_FDCWD, from, AT_FDCWD, to, 0);
}

ANK_API int ank_renameat(int fromfd, const char *from, int tofd, const char *to)
{
	return path2_op(ANK_OP_RENAME, fromfd, from, tofd, to, 0);
}

ANK_API int ank_renameat2(int fromfd, const char *from, int tofd, const char *to,
			  unsigned int flags)
{
	return path2_op(ANK_OP_RENAME, fromfd, from, tofd, to, flags);
}

ANK_API int ank_link(const char *from, const char *to)
{
	return path2_op(ANK_OP_LINK, AT_FDCWD, from, AT_FDCWD, to, 0);
}

ANK_API int ank_linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	return path2_op(ANK_OP_LINK, fromfd, from, tofd, to, (uint32_t)flags);
}

ANK_API int ank_symlink(const char *target, const char *linkpath)
{
	return ank_symlinkat(target, AT_FDCWD, linkpath);
}

ANK_API int ank_symlinkat(const char *target, int dirfd, const char *linkpath)
{
	if (!target)
		return (int)ret(-EFAULT);
	/* the target first, as symlink(2) reads it before the new name */
	size_t tlen = strnlen(target, PATH_MAX);
	if (tlen == 0)
		return (int)ret(-ENOENT);
	if (tlen >= PATH_MAX)
		return (int)ret(-ENAMETOOLONG);
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, linkpath, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_SYMLINK, .path = linkpath, .path_len = len,
			       .fd = wfd, .wdata = target, .len = tlen };
	return ret0(call1(&rq));
}

ANK_API ssize_t ank_readlink(const char *path, char *buf, size_t bufsiz)
{
	return ank_readlinkat(AT_FDCWD, path, buf, bufsiz);
}

ANK_API ssize_t ank_readlinkat(int dirfd, const char *path, char *buf, size_t bufsiz)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc == 0 && bufsiz == 0)
		rc = -EINVAL;
	if (rc == 0 && !buf)
		rc = -EFAULT;
	if (rc < 0)
		return ret(rc);
	/* a target is shorter than PATH_MAX */
	size_t cap = bufsiz < PATH_MAX ? bufsiz : PATH_MAX;
	struct ankc_req rq = { .opcode = ANK_OP_READLINK, .path = path, .path_len = len,
			       .fd = wfd, .len = cap, .rdata = buf, .rdata_cap = cap };
	return ret(call1(&rq));
}

ANK_API int ank_mkdir(const char *path, mode_t mode)
{
	return ank_mkdirat(AT_FDCWD, path, mode);
}

ANK_API int ank_mkdirat(int dirfd, const char *path, mode_t mode)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_MKDIR, .path = path, .path_len = len,
			       .fd = wfd };
	if (ankc_enter() < 0)
		return -1;
	/* mkdir(2) keeps the permission bits and the sticky bit, minus umask */
	rq.mode = (uint32_t)(mode & 01777 & ~ankc_umask());
	int64_t r = ankc_call(&rq);
	ankc_leave();
	return ret0(r);
}

ANK_API int ank_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	size_t len;
	int32_t wfd;
	int rc = check_at(dirfd, path, &len, &wfd);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_MKNOD, .path = path, .path_len = len,
			       .fd = wfd, .off = (int64_t)dev };
	if (ankc_enter() < 0)
		return -1;
	rq.mode = (uint32_t)((mode & S_IFMT) | (mode & 07777 & ~ankc_umask()));
	int64_t r = ankc_call(&rq);
	ankc_leave();
	return ret0(r);
}

ANK_API int ank_mknod(const char *path, mode_t mode, dev_t dev)
{
	return ank_mknodat(AT_FDCWD, path, mode, dev);
}

ANK_API int ank_mkfifoat(int dirfd, const char *path, mode_t mode)
{
	return ank_mknodat(dirfd, path, S_IFIFO | (mode & 07777), 0);
}

ANK_API int ank_mkfifo(const char *path, mode_t mode)
{
	return ank_mknodat(AT_FDCWD, path, S_IFIFO | (mode & 07777), 0);
}

ANK_API int ank_rmdir(const char *path)
{
	return path_op(ANK_OP_RMDIR, AT_FDCWD, path, 0);
}

ANK_API int ank_sync(void)
{
	struct ankc_req rq = { .opcode = ANK_OP_SYNC, .fd = -1 };
	return ret0(call1(&rq));
}

/* ---- extended attributes ------------------------------------------------------------ */

#define XATTR_NAME_LEN_MAX 255u
#define XATTR_VALUE_MAX 65536u

/* A name as the system calls take it (checked before the file, as Linux
 * does): 1..255 bytes, else ERANGE. */
static int xattr_name(const char *name, size_t *len)
{
	if (!name)
		return -EFAULT;
	size_t n = strnlen(name, XATTR_NAME_LEN_MAX + 1);
	if (n == 0 || n > XATTR_NAME_LEN_MAX)
		return -ERANGE;
	*len = n + 1;
	return 0;
}

/* The file of an xattr call: `path` (AT_SYMLINK_NOFOLLOW in *at_flags for
 * the l- calls), or when path is NULL the fd (an empty path with
 * AT_EMPTY_PATH, ring.h). */
static int xattr_file(int fd, const char *path, size_t *len, int32_t *wfd, uint32_t *at_flags)
{
	if (path)
		return check_at(AT_FDCWD, path, len, wfd);
	if (fd < 0)
		return -EBADF;
	*wfd = fd;
	*len = 1;
	*at_flags |= AT_EMPTY_PATH;
	return 0;
}

static int xattr_set(int fd, const char *path, uint32_t at_flags, const char *name,
		     const void *value, size_t size, int flags)
{
	size_t nlen, plen = 0;
	int32_t wfd = -1;
	int rc = flags & ~(XATTR_CREATE | XATTR_REPLACE) ? -EINVAL : xattr_name(name, &nlen);
	if (rc == 0 && size > XATTR_VALUE_MAX)
		rc = -E2BIG;
	if (rc == 0 && size && !value)
		rc = -EFAULT;
	if (rc == 0)
		rc = xattr_file(fd, path, &plen, &wfd, &at_flags);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_SETXATTR, .path = path ? path : "",
			       .path_len = plen, .path2 = name, .path2_len = nlen, .fd = wfd,
			       .flags = at_flags | (uint32_t)flags, .wdata = value, .len = size };
	return ret0(call1(&rq));
}

static ssize_t xattr_get(int fd, const char *path, uint32_t at_flags, const char *name,
			 void *value, size_t size, bool list)
{
	size_t nlen = 0, plen = 0;
	int32_t wfd = -1;
	int rc = list ? 0 : xattr_name(name, &nlen);
	if (rc == 0)
		rc = xattr_file(fd, path, &plen, &wfd, &at_flags);
	if (rc == 0 && size && !value)
		rc = -EFAULT;
	if (rc < 0)
		return ret(rc);
	if (size > XATTR_VALUE_MAX)
		size = XATTR_VALUE_MAX;
	struct ankc_req rq = { .opcode = list ? ANK_OP_LISTXATTR : ANK_OP_GETXATTR,
			       .path = path ? path : "", .path_len = plen,
			       .path2 = list ? NULL : name, .path2_len = nlen, .fd = wfd,
			       .flags = at_flags, .len = size, .rdata = size ? value : NULL,
			       .rdata_cap = size };
	return ret(call1(&rq));
}

static int xattr_remove(int fd, const char *path, uint32_t at_flags, const char *name)
{
	size_t nlen, plen = 0;
	int32_t wfd = -1;
	int rc = xattr_name(name, &nlen);
	if (rc == 0)
		rc = xattr_file(fd, path, &plen, &wfd, &at_flags);
	if (rc < 0)
		return (int)ret(rc);
	struct ankc_req rq = { .opcode = ANK_OP_REMOVEXATTR, .path = path ? path : "",
			       .path_len = plen, .path2 = name, .path2_len = nlen, .fd = wfd,
			       .flags = at_flags };
	return ret0(call1(&rq));
}

ANK_API int ank_setxattr(const char *path, const char *name, const void *value, size_t size,
			 int flags)
{
	return path ? xattr_set(-1, path, 0, name, value, size, flags) : (int)ret(-EFAULT);
}

ANK_API int ank_lsetxattr(const char *path, const char *name, const void *value, size_t size,
			  int flags)
{
	return path ? xattr_set(-1, path, AT_SYMLINK_NOFOLLOW, name, value, size, flags)
		    : (int)ret(-EFAULT);
}

ANK_API int ank_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	return xattr_set(fd, NULL, 0, name, value, size, flags);
}

ANK_API ssize_t ank_getxattr(const char *path, const char *name, void *value, size_t size)
{
	return path ? xattr_get(-1, path, 0, name, value, size, false) : ret(-EFAULT);
}

ANK_API ssize_t ank_lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	return path ? xattr_get(-1, path, AT_SYMLINK_NOFOLLOW, name, value, size, false)
		    : ret(-EFAULT);
}

ANK_API ssize_t ank_fgetxattr(int fd, const char *name, void *value, size_t size)
{
	return xattr_get(fd, NULL, 0, name, value, size, false);
}

ANK_API ssize_t ank_listxattr(const char *path, char *list, size_t size)
{
	return path ? xattr_get(-1, path, 0, NULL, list, size, true) : ret(-EFAULT);
}

ANK_API ssize_t ank_llistxattr(const char *path, char *list, size_t size)
{
	return path ? xattr_get(-1, path, AT_SYMLINK_NOFOLLOW, NULL, list, size, true)
		    : ret(-EFAULT);
}

ANK_API ssize_t ank_flistxattr(int fd, char *list, size_t size)
{
	return xattr_get(fd, NULL, 0, NULL, list, size, true);
}

ANK_API int ank_removexattr(const char *path, const char *name)
{
	return path ? xattr_remove(-1, path, 0, name) : (int)ret(-EFAULT);
}

ANK_API int ank_lremovexattr(const char *path, const char *name)
{
	return path ? xattr_remove(-1, path, AT_SYMLINK_NOFOLLOW, name) : (int)ret(-EFAULT);
}

ANK_API int ank_fremovexattr(int fd, const char *name)
{
	return xattr_remove(fd, NULL, 0, name);
}
