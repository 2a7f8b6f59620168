/*
 * ops.c - the POSIX operations of fs.h on top of the core modules and the
 * clients' fd tables (fdtable.c): open/close/read/write, metadata
 * operations, with Linux's semantics and errno values.
 *
 * Each operation takes fs->lock for its whole duration (fs_lock and
 * fs_unlock, stamp.c). Modifying operations first call fs_op_begin(), which
 * may commit the running transaction at this boundary.
 *
 * It does not know the disk format beyond what the modules expose.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "namei.h"

#define WRITE_CHUNK (1u << 20) /* large writes commit-check between chunks */

/* Where the fd of an open goes. */
enum fd_want { FD_LOWEST, FD_EXACT, FD_NONE };

/* ---- open / close ---------------------------------------------------------- */

/* Create and link nd's last component. ino 0: any number; else exactly
 * that number (inode_create_ino). */
/* A write, truncation or fallocate by a client other than root clears
 * S_ISUID, and S_ISGID when group execution is on (Linux's
 * file_remove_privs without CAP_FSETID). */
static void kill_privs(struct fs *fs, const struct fs_client *c, struct inode *ip)
{
	uint32_t kill = ip->d.mode & S_ISUID;
	if ((ip->d.mode & S_ISGID) && (ip->d.mode & S_IXGRP))
		kill |= S_ISGID;
	if (!kill || fs_client_uid(c) == 0)
		return;
	ip->d.mode &= ~kill;
	inode_dirty(fs, ip);
}

static int create_inode_in(struct fs *fs, struct fs_client *c, struct nameidata *nd,
			   uint32_t mode, uint64_t want_ino, struct inode **out)
{
	if (nd->dir->d.nlink == 0)
		return -ENOENT; /* the parent was removed (before permission, as Linux) */
	int rc = namei_permission(c, nd->dir, NAMEI_MAY_WRITE | NAMEI_MAY_EXEC);
	if (rc < 0)
		return rc;
	struct inode *ip;
	/* In a set-group-id directory the new inode takes the directory's
	 * group, and a new directory the bit too; a file created there by a
	 * caller outside that group (not root) loses S_ISGID when the group
	 * may execute it (as Linux's inode_init_owner). */
	uint32_t gid = fs_client_gid(c);
	if (nd->dir->d.mode & S_ISGID) {
		gid = nd->dir->d.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
		else if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && fs_client_uid(c) != 0 &&
			 fs_client_gid(c) != gid)
			mode &= ~(uint32_t)S_ISGID;
	}
	rc = want_ino ? inode_create_ino(fs, want_ino, mode, fs_client_uid(c), gid, &ip)
		      : inode_create(fs, mode, fs_client_uid(c), gid, &ip);
	if (rc < 0)
		return rc;
	if (S_ISDIR(mode)) {
		ip->d.nlink = 2;
		ip->d.parent = nd->dir->ino;
	} else {
		ip->d.nlink = 1;
	}
	rc = dir_add(fs, nd->dir, nd->name, nd->len, ip->ino, ank_mode_to_ft(mode));
	if (rc < 0) {
		ip->d.nlink = 0;
		inode_put(fs, ip);
		return rc;
	}
	if (S_ISDIR(mode))
		nd->dir->d.nlink++;
	inode_touch(nd->dir, true, true);
	inode_dirty(fs, nd->dir);
	inode_dirty(fs, ip);
	fs_last_stamp.new_gen = ip->d.generation;
	*out = ip;
	return 0;
}

int fs_inode_set_generation(struct fs_client *c, uint64_t ino, uint32_t gen)
{
	struct fs *fs = c->fs;
	if (gen == 0)
		return -EINVAL;
	fs_lock(fs);
	struct inode *ip;
	int rc = fs_op_begin(fs);
	if (rc == 0)
		rc = fs_inode_by_number(fs, ino, &ip);
	if (rc == 0) {
		if (ip->d.generation != gen) {
			ip->d.generation = gen;
			inode_dirty(fs, ip);
		}
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

/* fs_open and its explicit-identity forms: the fd goes where `where` says
 * (FD_EXACT: number fd), a created file gets number want_ino (0: any). */
static int do_open(struct fs_client *c, struct fs_at at, const char *path, int flags,
		   mode_t mode, enum fd_want where, int fd, uint64_t want_ino)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	struct inode *ip = NULL;
	int acc = flags & O_ACCMODE;
	int rc;
	if (acc == O_ACCMODE)
		return -EINVAL;
	if ((flags & O_CREAT) && (flags & O_DIRECTORY))
		return -EINVAL;
	if (want_ino && (want_ino <= ANK_ROOT_INO || want_ino >= fs->sb.inode_count))
		return -EINVAL; /* inode_count is fixed at mkfs */
	if (where == FD_EXACT && (rc = fd_number_check(fd)) < 0)
		return rc;
	fs_lock(fs);
	bool modifying = (flags & (O_CREAT | O_TRUNC)) != 0;
	if (modifying && !fs->read_only) {
		rc = fs_op_begin(fs);
		if (rc < 0)
			goto out_unlock;
	}
	/* The lock is held from here to the end (a commit can only happen in
	 * fs_op_begin), so the number stays free. */
	if (where == FD_EXACT && (rc = fd_reserve(c, fd)) < 0)
		goto out_unlock;
	if (at.ino && path && path[0] == '\0' && !(flags & O_CREAT)) {
		/* the inode at.ino itself (fs.h: the FUSE front door's open) */
		nd.dir = NULL;
		rc = namei_start(fs, c, at, &ip);
		if (rc < 0)
			goto out_unlock;
		if (inode_is_symlink(ip)) {
			rc = -ELOOP;
			goto out_ip;
		}
		goto found;
	}
	rc = namei_parent(fs, c, at, path, &nd);
	if (rc < 0)
		goto out_unlock;
	if (flags & O_CREAT) {
	create_at:
		/* (the walk searched the parent before the last name) */
		if ((nd.len || nd.dot) && (rc = namei_permission(c, nd.dir, NAMEI_MAY_EXEC)) < 0)
			goto out_nd;
		if (nd.len == 0 || nd.dot) {
			/* "/" or "." exist: O_EXCL says so first */
			rc = (flags & O_EXCL) ? -EEXIST : -EISDIR;
			goto out_nd;
		}
		if (nd.trailing_slash) {
			rc = -EISDIR;
			goto out_nd;
		}
		uint64_t ino;
		rc = namei_permission(c, nd.dir, NAMEI_MAY_EXEC);
		if (rc == 0)
			rc = dir_lookup(fs, nd.dir, nd.name, nd.len, &ino, NULL);
		if (rc == 0) {
			rc = inode_get(fs, ino, &ip);
			if (rc < 0)
				goto out_nd;
			/* O_EXCL: the name exists, even as a link (a replayed
			 * create, want_ino, ran through the link it found) */
			if ((flags & O_EXCL) && !(want_ino && inode_is_symlink(ip))) {
				rc = -EEXIST;
				goto out_ip;
			}
			if (inode_is_symlink(ip) && !(flags & O_NOFOLLOW)) {
				/* open or create where the link leads (a
				 * dangling link's target is created) */
				rc = namei_follow(fs, c, &nd, ip);
				inode_put(fs, ip);
				ip = NULL;
				if (rc < 0)
					goto out_nd;
				goto create_at;
			}
			if (inode_is_dir(ip)) {
				rc = -EISDIR;
				goto out_ip;
			}
			/* Linux's may_create_in_sticky: O_CREAT of a socket,
			 * device or (O_NOFOLLOW) symbolic link someone else owns
			 * in a world-writable sticky directory is EACCES, even
			 * for root (regular files and FIFOs follow
			 * fs.protected_regular / protected_fifos, taken at their
			 * default 0 here) */
			if (!S_ISREG(ip->d.mode) && !S_ISFIFO(ip->d.mode) &&
			    (nd.dir->d.mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH) &&
			    ip->d.uid != nd.dir->d.uid && ip->d.uid != fs_client_uid(c)) {
				rc = -EACCES;
				goto out_ip;
			}
			if (nd.trailing_slash) {
				rc = -ENOTDIR;
				goto out_ip;
			}
		} else if (rc == -ENOENT) {
			if (nd.trailing_slash) {
				rc = -EISDIR;
				goto out_nd;
			}
			if (fs->read_only) {
				rc = -EROFS;
				goto out_nd;
			}
			rc = create_inode_in(fs, c, &nd, S_IFREG | (mode & 07777), want_ino, &ip);
			if (rc < 0)
				goto out_nd;
			flags &= ~O_TRUNC; /* new and empty; permission bits do not apply */
			goto opened;
		} else {
			goto out_nd;
		}
	} else {
		rc = (flags & O_NOFOLLOW) ? namei_last(fs, c, &nd, &ip)
					  : namei_last_follow(fs, c, &nd, &ip);
		if (rc < 0)
			goto out_nd;
	}
found:
	if ((flags & O_DIRECTORY) && !inode_is_dir(ip)) {
		rc = -ENOTDIR;
		goto out_ip;
	}
	if (inode_is_symlink(ip)) {
		rc = -ELOOP; /* O_NOFOLLOW on a symbolic link */
		goto out_ip;
	}
	if (inode_is_dir(ip) && (acc != O_RDONLY || (flags & O_TRUNC))) {
		rc = -EISDIR;
		goto out_ip;
	}
	bool special = inode_is_special(ip);
	int want = 0;
	if (acc == O_RDONLY || acc == O_RDWR)
		want |= NAMEI_MAY_READ;
	if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
		want |= NAMEI_MAY_WRITE;
	if (special)
		want &= ~NAMEI_MAY_WRITE | ((acc == O_WRONLY || acc == O_RDWR) ? NAMEI_MAY_WRITE : 0);
	rc = namei_permission(c, ip, want);
	if (rc < 0)
		goto out_ip;
	if (special) {
		/* A FIFO, socket or device node is stored, listed and stat'ed,
		 * but the service has no pipe, socket or driver behind it:
		 * opening one is ENXIO (as Linux for a socket, or a device
		 * without a driver). */
		rc = -ENXIO;
		goto out_ip;
	}
	if ((want & NAMEI_MAY_WRITE) && fs->read_only) {
		rc = -EROFS;
		goto out_ip;
	}
	if (flags & O_TRUNC)
		kill_privs(fs, c, ip);
	if ((flags & O_TRUNC) && ip->d.size > 0) {
		rc = file_truncate(fs, ip, 0);
		if (rc < 0)
			goto out_ip;
	} else if ((flags & O_TRUNC)) {
		inode_touch(ip, true, true);
		inode_dirty(fs, ip);
	}
	if ((flags & O_TRUNC) && fs->ndamaged)
		fs_clear_damaged(fs, ip->ino);
opened:;
	if (where == FD_NONE) {
		rc = 0;
		goto out_ip; /* created and linked: the put keeps it */
	}
	struct ofile *of = calloc(1, sizeof(*of));
	if (!of) {
		rc = -ENOMEM;
		goto out_ip;
	}
	of->ip = ip;
	of->flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC);
	of->refs = 1;
	ofile_seal(of);
	inode_opens_add(ip, 1);
	if (where == FD_EXACT) {
		c->fds[fd] = of; /* reserved above */
		rc = fd;
	} else {
		rc = fd_alloc(c, of);
	}
	if (rc < 0) {
		inode_opens_add(ip, -1);
		free(of);
		goto out_ip;
	}
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
out_ip:
	inode_put(fs, ip);
out_nd:
	inode_put(fs, nd.dir);
out_unlock:
	fs_unlock(fs);
	return rc;
}

int fs_open(struct fs_client *c, const char *path, int flags, mode_t mode)
{
	return do_open(c, FS_AT_ROOT, path, flags, mode, FD_LOWEST, -1, 0);
}

int fs_openat(struct fs_client *c, struct fs_at at, const char *path, int flags, mode_t mode)
{
	return do_open(c, at, path, flags, mode, FD_LOWEST, -1, 0);
}

int fs_open_at(struct fs_client *c, const char *path, int flags, mode_t mode, int fd)
{
	return do_open(c, FS_AT_ROOT, path, flags, mode, FD_EXACT, fd, 0);
}

int fs_createat_ino(struct fs_client *c, struct fs_at at, const char *path, int flags,
		    mode_t mode, uint64_t ino, int fd)
{
	if (ino == 0)
		return -EINVAL; /* 0 would mean "any number" below */
	return do_open(c, at, path, flags | O_CREAT | O_EXCL, mode, fd < 0 ? FD_NONE : FD_EXACT,
		       fd, ino);
}

int fs_create_ino(struct fs_client *c, const char *path, int flags, mode_t mode, uint64_t ino,
		  int fd)
{
	return fs_createat_ino(c, FS_AT_ROOT, path, flags, mode, ino, fd);
}

int fs_close(struct fs_client *c, int fd)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	if (!of) {
		int rc = fd_error(c, fd);
		if (rc == -EIO) {
			c->fds[fd] = NULL; /* a stale fd: closing it just frees the number */
			rc = 0;
		}
		fs_unlock(fs);
		return rc;
	}
	fs_stamp_fd(of);
	c->fds[fd] = NULL;
	locks_fd_closing(c, of);
	ofile_put(fs, of);
	fs_unlock(fs);
	return 0;
}

/* ---- data --------------------------------------------------------------------- */

/* A read or a directory listing updates atime by the relatime rule, Linux's
 * default: when atime is not later than mtime or ctime, or a day old; not
 * for an fd opened O_NOATIME, nor on a read-only file system. The change
 * joins the running transaction without an entry of its own in the p-log:
 * a server crash before the next commit may lose it (as a power cut loses
 * Linux's), never the read itself. */
static bool ts_not_before(int64_t s, uint32_t ns, int64_t s2, uint32_t ns2)
{
	return s > s2 || (s == s2 && ns >= ns2);
}

static void read_touch_atime(struct fs *fs, struct ofile *of)
{
	struct inode *ip = of->ip;
	if (fs->read_only || fs->j.error || fs->commits_held || (of->flags & O_NOATIME))
		return;
	int64_t s;
	uint32_t ns;
	fs_now(&s, &ns);
	const struct ank_dinode *d = &ip->d;
	int64_t a = d->atime_sec;
	bool need = ts_not_before(d->mtime_sec, d->mtime_nsec, a, d->atime_nsec) ||
		    ts_not_before(d->ctime_sec, d->ctime_nsec, a, d->atime_nsec) ||
		    s - a >= 24 * 60 * 60;
	/* Never a commit here (it would drop the lock in the middle of the
	 * read): when the running transaction is at a bound, this update waits
	 * for a later read. */
	if (!need || fs_txn_at_bound(fs, 1))
		return;
	ip->d.atime_sec = s;
	ip->d.atime_nsec = ns;
	inode_dirty(fs, ip);
}

static ssize_t do_read(struct fs_client *c, int fd, void *buf, size_t n, off_t off, bool use_pos,
		       uint32_t *sum)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	ssize_t rc;
	struct ofile *of = fd_get(c, fd);
	if (!use_pos && off < 0) {
		rc = -EINVAL; /* checked before the fd, as pread64 does */
	} else if (!of || (of->flags & O_ACCMODE) == O_WRONLY) {
		rc = fd_error(c, fd);
	} else if ((n > SSIZE_MAX ? SSIZE_MAX : n) >
		   (uint64_t)INT64_MAX - (use_pos ? of->pos : (uint64_t)off)) {
		rc = -EINVAL; /* position + count overflows, as Linux checks */
	} else if (inode_is_dir(of->ip)) {
		rc = -EISDIR;
	} else if (fs->ndamaged && fs_is_damaged(fs, of->ip->ino)) {
		rc = -EIO; /* recovery could not restore its data */
	} else {
		uint64_t pos = use_pos ? of->pos : (uint64_t)off;
		if (n > SSIZE_MAX)
			n = SSIZE_MAX;
		rc = file_read(fs, of->ip, buf, n, pos, sum);
		if (rc > 0 && use_pos) {
			of->pos = pos + (uint64_t)rc;
			ofile_seal(of);
		}
		/* (as Linux: a read of nothing, or from beyond the largest
		 * file, returns before the atime is looked at) */
		if (rc >= 0 && n > 0 && pos < ANK_MAX_FILE_SIZE)
			read_touch_atime(fs, of);
	}
	if (of && of != STALE_OFILE && rc >= 0)
		fs_stamp_fd(of);
	fs_unlock(fs);
	return rc;
}

ssize_t fs_read(struct fs_client *c, int fd, void *buf, size_t n)
{
	return do_read(c, fd, buf, n, 0, true, NULL);
}

ssize_t fs_pread(struct fs_client *c, int fd, void *buf, size_t n, off_t off)
{
	return do_read(c, fd, buf, n, off, false, NULL);
}

ssize_t fs_read_sum(struct fs_client *c, int fd, void *buf, size_t n, uint32_t *sum)
{
	*sum = 0;
	return do_read(c, fd, buf, n, 0, true, sum);
}

ssize_t fs_pread_sum(struct fs_client *c, int fd, void *buf, size_t n, off_t off, uint32_t *sum)
{
	*sum = 0;
	return do_read(c, fd, buf, n, off, false, sum);
}

static ssize_t do_write(struct fs_client *c, int fd, const void *buf, size_t n, off_t off,
			bool use_pos, const uint32_t *want_sum)
{
	uint32_t got_sum = 0;
	struct fs *fs = c->fs;
	fs_lock(fs);
	ssize_t rc = 0;
	struct ofile *of = ofile_hold(fd_get(c, fd));
	if (!use_pos && off < 0) {
		rc = -EINVAL; /* checked before the fd, as pwrite64 does */
		goto out;
	}
	if (!of || (of->flags & O_ACCMODE) == O_RDONLY) {
		rc = fd_error(c, fd);
		goto out;
	}
	if (inode_is_dir(of->ip)) {
		rc = -EISDIR; /* cannot happen: directories open read-only */
		goto out;
	}
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	struct inode *ip = of->ip;
	size_t done = 0;
	/* O_APPEND writes at the end, for pwrite too (as Linux does). */
	uint64_t pos = (of->flags & O_APPEND) ? ip->d.size : use_pos ? of->pos : (uint64_t)off;
	if (n > (uint64_t)INT64_MAX - (use_pos ? of->pos : (uint64_t)off)) {
		rc = -EINVAL; /* position + count overflows (checked on the
			       * position asked for, before O_APPEND applies) */
		goto out;
	}
	if (n == 0)
		goto out;
	if (pos >= ANK_MAX_FILE_SIZE) {
		rc = -EFBIG;
		goto out;
	}
	while (done < n) {
		rc = fs_op_begin(fs);
		if (rc < 0)
			break;
		if (of->flags & O_APPEND)
			pos = ip->d.size; /* another thread may have appended */
		if (done == 0)
			kill_privs(fs, c, ip);
		size_t chunk = ANK_MIN(n - done, (size_t)WRITE_CHUNK);
		rc = file_write(fs, ip, (const uint8_t *)buf + done, chunk, pos,
				want_sum ? &got_sum : NULL);
		if (rc <= 0)
			break;
		done += (size_t)rc;
		pos += (uint64_t)rc;
		if (use_pos) {
			of->pos = pos; /* pwrite never moves the offset, O_APPEND or not */
			ofile_seal(of);
		}
		if ((size_t)rc < chunk)
			break;
	}
	if (want_sum && done == n && got_sum != *want_sum) {
		/* The source changed between its check and the copy (or
		 * during it): what the cache holds now is not what the caller
		 * wrote. Nothing of it is committed or logged yet. */
		fprintf(stderr, "ananke: the data of a write of %zu bytes changed while it was copied "
				"(memory corruption); stopping before it is used\n",
			n);
		abort();
	}
	if (done > 0) {
		rc = (ssize_t)done;
		fs_last_stamp.has_io = true;
		fs_last_stamp.io_pos = pos - done;
	}
out:
	if (of && rc >= 0)
		fs_stamp_fd(of);
	if (of)
		ofile_put(fs, of);
	fs_unlock(fs);
	return rc;
}

ssize_t fs_write(struct fs_client *c, int fd, const void *buf, size_t n)
{
	return do_write(c, fd, buf, n, 0, true, NULL);
}

ssize_t fs_pwrite(struct fs_client *c, int fd, const void *buf, size_t n, off_t off)
{
	return do_write(c, fd, buf, n, off, false, NULL);
}

ssize_t fs_write_sum(struct fs_client *c, int fd, const void *buf, size_t n, uint32_t sum)
{
	return do_write(c, fd, buf, n, 0, true, &sum);
}

ssize_t fs_pwrite_sum(struct fs_client *c, int fd, const void *buf, size_t n, off_t off,
		      uint32_t sum)
{
	return do_write(c, fd, buf, n, off, false, &sum);
}

off_t fs_lseek(struct fs_client *c, int fd, off_t off, int whence)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	off_t rc;
	struct ofile *of = fd_get(c, fd);
	if (!of) {
		rc = fd_error(c, fd);
		goto out;
	}
	int64_t base;
	switch (whence) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)of->pos; break;
	case SEEK_END: base = (int64_t)of->ip->d.size; break;
	case SEEK_DATA:
	case SEEK_HOLE: {
		/* Holes are unmapped blocks, as ext4 reports them. */
		if (off < 0 || (uint64_t)off >= of->ip->d.size) {
			rc = -ENXIO;
			goto out;
		}
		uint64_t at = whence == SEEK_DATA ? (uint64_t)off : of->ip->d.size;
		int r = 0;
		if (!inode_is_dir(of->ip)) /* (a directory: all data) */
			r = file_seek(fs, of->ip, (uint64_t)off, whence == SEEK_HOLE, &at);
		if (r < 0) {
			rc = r;
			goto out;
		}
		of->pos = at;
		ofile_seal(of);
		rc = (off_t)of->pos;
		goto out;
	}
	default: rc = -EINVAL; goto out;
	}
	int64_t np;
	/* Like ext4, offsets past the largest file size are refused. */
	if (__builtin_add_overflow(base, (int64_t)off, &np) || np < 0 ||
	    (uint64_t)np > ANK_MAX_FILE_SIZE) {
		rc = -EINVAL;
		goto out;
	}
	of->pos = (uint64_t)np;
	ofile_seal(of);
	rc = np;
out:
	if (of && rc >= 0)
		fs_stamp_fd(of);
	fs_unlock(fs);
	return rc;
}

static int do_sync_fd(struct fs_client *c, int fd)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	int rc;
	struct ofile *of = fd_get(c, fd);
	if (!of) {
		rc = fd_error(c, fd);
	} else if (fs->read_only) {
		rc = 0;
	} else {
		struct inode *ip = of->ip;
		inode_ref(ip);
		rc = journal_force(fs, ip->dirty_tid);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_fsync(struct fs_client *c, int fd)
{
	return do_sync_fd(c, fd);
}

int fs_fdatasync(struct fs_client *c, int fd)
{
	return do_sync_fd(c, fd);
}

int fs_sync(struct fs *fs)
{
	fs_lock(fs);
	int rc = fs->read_only ? 0 : journal_force(fs, fs->j.running_tid);
	fs_unlock(fs);
	return rc;
}

static int truncate_inode(struct fs *fs, const struct fs_client *c, struct inode *ip, off_t len)
{
	if (len == 0 && fs->ndamaged)
		fs_clear_damaged(fs, ip->ino); /* nothing of the lost data is left */
	if ((uint64_t)len > ANK_MAX_FILE_SIZE)
		return -EFBIG;
	kill_privs(fs, c, ip); /* (once the size is known to be possible) */
	if ((uint64_t)len == ip->d.size) {
		inode_touch(ip, true, true);
		inode_dirty(fs, ip);
		return 0;
	}
	return file_truncate(fs, ip, (uint64_t)len);
}

int fs_ftruncate(struct fs_client *c, int fd, off_t len)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	int rc;
	struct ofile *of = ofile_hold(fd_get(c, fd));
	if (len < 0)
		rc = -EINVAL; /* before the fd, as the syscall checks */
	else if (!of)
		rc = fd_error(c, fd);
	else if (inode_is_dir(of->ip) || (of->flags & O_ACCMODE) == O_RDONLY)
		rc = -EINVAL;
	else if ((rc = fs_op_begin(fs)) == 0)
		rc = truncate_inode(fs, c, of->ip, len);
	if (of && rc == 0)
		fs_stamp_fd(of); /* (the inode, for the call's log entry) */
	if (of)
		ofile_put(fs, of);
	fs_unlock(fs);
	return rc;
}

int fs_fallocate(struct fs_client *c, int fd, int mode, off_t off, off_t len)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	int rc = 0;
	struct ofile *of = ofile_hold(fd_get(c, fd));
	/* in the order of Linux's checks */
	if (!of)
		rc = fd_error(c, fd);
	else if (off < 0 || len <= 0)
		rc = -EINVAL;
	else if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ||
		 ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE)) ||
		 ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)))
		rc = -EOPNOTSUPP;
	else if ((of->flags & O_ACCMODE) == O_RDONLY)
		rc = -EBADF;
	else if (inode_is_dir(of->ip))
		rc = -EISDIR;
	else if (!S_ISREG(of->ip->d.mode))
		rc = -ENODEV;
	else if ((uint64_t)off + (uint64_t)len > ANK_MAX_FILE_SIZE || off + len < 0)
		rc = -EFBIG;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	if (rc == 0)
		rc = fs_op_begin(fs);
	if (rc == 0) {
		struct inode *ip = of->ip;
		uint64_t end = (uint64_t)off + (uint64_t)len;
		kill_privs(fs, c, ip);
		/* PUNCH_HOLE and ZERO_RANGE: the range reads zeros, its whole
		 * blocks unmapped; ZERO_RANGE then allocates them again */
		if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
			rc = file_punch(fs, ip, (uint64_t)off, (uint64_t)len);
		/* KEEP_SIZE: only what lies below the size is allocated (blocks
		 * are never mapped beyond the end of a file here) */
		if (mode & FALLOC_FL_KEEP_SIZE)
			end = ANK_MIN(end, ip->d.size);
		if (rc == 0 && !(mode & FALLOC_FL_PUNCH_HOLE) && end > (uint64_t)off)
			rc = file_allocate(fs, ip, (uint64_t)off, end - (uint64_t)off);
		bool grew = rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > ip->d.size;
		if (grew)
			ip->d.size = end;
		if (rc == 0) {
			inode_touch(ip, true, true); /* (as ext4 does, whatever it allocated) */
			inode_dirty(fs, ip);
		}
	}
	if (of && rc == 0)
		fs_stamp_fd(of); /* (the inode, for the call's log entry) */
	if (of)
		ofile_put(fs, of);
	fs_unlock(fs);
	return rc;
}

int fs_truncate(struct fs_client *c, const char *path, off_t len)
{
	return fs_truncateat(c, FS_AT_ROOT, path, len);
}

int fs_truncateat(struct fs_client *c, struct fs_at at, const char *path, off_t len)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	if (len < 0)
		return -EINVAL; /* before the path, as the syscall checks */
	fs_lock(fs);
	int rc = namei_lookup(fs, c, at, path, &ip);
	if (rc == 0) {
		if (inode_is_dir(ip))
			rc = -EISDIR;
		else if (inode_is_special(ip))
			rc = -EINVAL;
		else if ((rc = namei_permission(c, ip, NAMEI_MAY_WRITE)) == 0 &&
			 (rc = fs_op_begin(fs)) == 0)
			rc = truncate_inode(fs, c, ip, len);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

/* ---- attributes ------------------------------------------------------------------ */

static void fill_stat(const struct inode *ip, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = 0xA4A4;
	st->st_ino = ip->ino;
	st->st_mode = ip->d.mode;
	st->st_nlink = ip->d.nlink;
	st->st_uid = ip->d.uid;
	st->st_gid = ip->d.gid;
	st->st_size = (off_t)ip->d.size;
	st->st_blksize = ANK_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(ip->d.blocks * (ANK_BLOCK_SIZE / 512));
	st->st_atim.tv_sec = ip->d.atime_sec;
	st->st_atim.tv_nsec = ip->d.atime_nsec;
	st->st_mtim.tv_sec = ip->d.mtime_sec;
	st->st_mtim.tv_nsec = ip->d.mtime_nsec;
	st->st_ctim.tv_sec = ip->d.ctime_sec;
	st->st_ctim.tv_nsec = ip->d.ctime_nsec;
	st->st_rdev = makedev(ip->d.rdev_major, ip->d.rdev_minor);
}

/* The inode a path names from `at`: an empty path with AT_EMPTY_PATH is
 * at itself; AT_SYMLINK_NOFOLLOW: a symbolic link at the end is not
 * followed. Under the lock. */
int fs_lookup_at(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path, int flags,
		 struct inode **ip)
{
	if ((flags & AT_EMPTY_PATH) && path && path[0] == '\0')
		return namei_start(fs, c, at, ip);
	return (flags & AT_SYMLINK_NOFOLLOW) ? namei_lookup_nofollow(fs, c, at, path, ip)
					     : namei_lookup(fs, c, at, path, ip);
}

int fs_fstatat_gen(struct fs_client *c, struct fs_at at, const char *path, struct stat *st,
		   int flags, uint32_t *gen)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT))
		return -EINVAL;
	fs_lock(fs);
	int rc = fs_lookup_at(fs, c, at, path, flags, &ip);
	if (rc == 0) {
		fill_stat(ip, st);
		if (gen)
			*gen = ip->d.generation;
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_fstatat(struct fs_client *c, struct fs_at at, const char *path, struct stat *st,
	       int flags)
{
	return fs_fstatat_gen(c, at, path, st, flags, NULL);
}

int fs_stat(struct fs_client *c, const char *path, struct stat *st)
{
	return fs_fstatat(c, FS_AT_ROOT, path, st, 0);
}

int fs_lstat(struct fs_client *c, const char *path, struct stat *st)
{
	return fs_fstatat(c, FS_AT_ROOT, path, st, AT_SYMLINK_NOFOLLOW);
}

static void fill_statfs(const struct fs *fs, struct fs_statfs *out)
{
	*out = (struct fs_statfs){
		.blocks = fs->sb.block_count - fs->sb.data_start,
		.bfree = fs->al.free_blocks,
		.files = fs->sb.inode_count - 1,
		.ffree = fs->al.free_inodes,
		.bsize = ANK_BLOCK_SIZE,
		.namelen = ANK_NAME_MAX,
		.read_only = fs->read_only,
	};
}

int fs_statfs_path(struct fs_client *c, const char *path, struct fs_statfs *out)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	fs_lock(fs);
	int rc = namei_lookup(fs, c, FS_AT_ROOT, path, &ip);
	if (rc == 0) {
		fill_statfs(fs, out);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_statfs_fd(struct fs_client *c, int fd, struct fs_statfs *out)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	if (of)
		fill_statfs(fs, out);
	fs_unlock(fs);
	return of ? 0 : fd_error(c, fd);
}

int fs_statfs_ino(struct fs_client *c, uint64_t ino, struct fs_statfs *out)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	if (ino == 0)
		return -EINVAL; /* (fs_at_ino(0) would be the root) */
	fs_lock(fs);
	int rc = fs_lookup_at(fs, c, fs_at_ino(ino), "", AT_EMPTY_PATH, &ip);
	if (rc == 0) {
		fill_statfs(fs, out);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_access(struct fs_client *c, const char *path, int mode)
{
	return fs_faccessat(c, FS_AT_ROOT, path, mode, 0);
}

int fs_faccessat(struct fs_client *c, struct fs_at at, const char *path, int mode, int flags)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	if (mode & ~(R_OK | W_OK | X_OK))
		return -EINVAL; /* before the path, as the syscall checks */
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	fs_lock(fs);
	int rc = fs_lookup_at(fs, c, at, path, flags, &ip);
	if (rc == 0) {
		int want = ((mode & R_OK) ? NAMEI_MAY_READ : 0) |
			   ((mode & W_OK) ? NAMEI_MAY_WRITE : 0) |
			   ((mode & X_OK) ? NAMEI_MAY_EXEC : 0);
		rc = namei_permission(c, ip, want);
		if (rc == 0 && (mode & W_OK) && fs->read_only)
			rc = -EROFS;
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_fstat_gen(struct fs_client *c, int fd, struct stat *st, uint32_t *gen)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	if (of) {
		fill_stat(of->ip, st);
		if (gen)
			*gen = of->ip->d.generation;
	}
	fs_unlock(fs);
	return of ? 0 : fd_error(c, fd);
}

int fs_fstat(struct fs_client *c, int fd, struct stat *st)
{
	return fs_fstat_gen(c, fd, st, NULL);
}

int fs_lookup_ino(struct fs_client *c, const char *path, uint64_t *ino, uint64_t *parent_ino)
{
	return fs_lookupat_ino(c, FS_AT_ROOT, path, ino, parent_ino);
}

int fs_lookupat_ino(struct fs_client *c, struct fs_at at, const char *path, uint64_t *ino,
		    uint64_t *parent_ino)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	struct inode *ip;
	fs_lock(fs);
	int rc = namei_parent(fs, c, at, path, &nd);
	if (rc == 0) {
		rc = namei_last_follow(fs, c, &nd, &ip);
		if (rc == 0) {
			if (ino)
				*ino = ip->ino;
			if (parent_ino) /* "/", "." and "..": a directory's own parent */
				*parent_ino = nd.len == 0 || nd.dot ? ip->d.parent : nd.dir->ino;
			inode_put(fs, ip);
		}
		inode_put(fs, nd.dir);
	}
	fs_unlock(fs);
	return rc;
}

/* ---- changing attributes ---------------------------------------------------------- */

/* Apply a to ip under the lock, with Linux's permission rules (fs.h). */
static int setattr_inode(struct fs *fs, struct fs_client *c, struct inode *ip,
			 const struct fs_attr *a, const struct ofile *of)
{
	uint32_t v = a->valid;
	bool root = fs_client_uid(c) == 0, owner = root || fs_client_uid(c) == ip->d.uid;
	if (v & ~(FS_ATTR_MODE | FS_ATTR_UID | FS_ATTR_GID | FS_ATTR_ATIME | FS_ATTR_MTIME |
		  FS_ATTR_TIMES_NOW | FS_ATTR_CHOWN | FS_ATTR_TIMES | FS_ATTR_NOFOLLOW |
		  FS_ATTR_SIZE | FS_ATTR_CTIME))
		return -EINVAL;
	/* (the times are checked once the file is found, before permission) */
	if (((v & FS_ATTR_ATIME) && a->atime_nsec >= 1000000000u) ||
	    ((v & FS_ATTR_MTIME) && a->mtime_nsec >= 1000000000u) ||
	    ((v & FS_ATTR_CTIME) && a->ctime_nsec >= 1000000000u))
		return -EINVAL;
	if (v & FS_ATTR_SIZE) {
		if (a->size < 0)
			return -EINVAL;
		if (inode_is_dir(ip))
			return -EISDIR;
		if (inode_is_special(ip) || inode_is_symlink(ip))
			return -EINVAL;
		if (of) {
			if ((of->flags & O_ACCMODE) == O_RDONLY)
				return -EINVAL;
		} else {
			int rc = namei_permission(c, ip, NAMEI_MAY_WRITE);
			if (rc < 0)
				return rc;
		}
	}
	if ((v & FS_ATTR_CTIME) && !owner)
		return -EPERM;
	if ((v & FS_ATTR_MODE) && inode_is_symlink(ip))
		return -EOPNOTSUPP; /* (a link's mode is always 0777) */
	if ((v & FS_ATTR_MODE) && !owner)
		return -EPERM;
	if ((v & FS_ATTR_UID) && a->uid != ip->d.uid && !root)
		return -EPERM;
	if ((v & FS_ATTR_GID) && a->gid != ip->d.gid && !root &&
	    !(fs_client_uid(c) == ip->d.uid && a->gid == fs_client_gid(c)))
		return -EPERM;
	if (v & (FS_ATTR_ATIME | FS_ATTR_MTIME | FS_ATTR_TIMES)) {
		if (v & FS_ATTR_TIMES_NOW) {
			if (!owner) {
				int rc = namei_permission(c, ip, NAMEI_MAY_WRITE);
				if (rc < 0)
					return rc;
			}
		} else if (!owner) {
			return -EPERM;
		}
	}
	int rc = fs_op_begin(fs);
	if (rc < 0)
		return rc;
	if ((v & FS_ATTR_SIZE) && (rc = truncate_inode(fs, c, ip, a->size)) < 0)
		return rc;
	uint32_t mode = ip->d.mode;
	if (v & FS_ATTR_MODE) {
		mode = (mode & S_IFMT) | (a->mode & 07777);
		/* gid == uid's group stands in for "in the group": a client has
		 * one gid and no supplementary groups */
		if (!root && fs_client_gid(c) != ip->d.gid)
			mode &= ~(uint32_t)S_ISGID;
	}
	if (v & (FS_ATTR_UID | FS_ATTR_GID | FS_ATTR_CHOWN)) {
		if (v & FS_ATTR_UID)
			ip->d.uid = a->uid;
		if (v & FS_ATTR_GID)
			ip->d.gid = a->gid;
		if (!inode_is_dir(ip)) {
			mode &= ~(uint32_t)S_ISUID;
			if (mode & S_IXGRP)
				mode &= ~(uint32_t)S_ISGID;
		}
	}
	ip->d.mode = mode;
	if (v & FS_ATTR_ATIME) {
		ip->d.atime_sec = a->atime_sec;
		ip->d.atime_nsec = a->atime_nsec;
	}
	if (v & FS_ATTR_MTIME) {
		ip->d.mtime_sec = a->mtime_sec;
		ip->d.mtime_nsec = a->mtime_nsec;
	}
	inode_touch(ip, false, true);
	if (v & FS_ATTR_CTIME) {
		ip->d.ctime_sec = a->ctime_sec;
		ip->d.ctime_nsec = a->ctime_nsec;
	}
	inode_dirty(fs, ip);
	fs_last_stamp.new_ino = ip->ino;
	return 0;
}

int fs_inode_by_number(struct fs *fs, uint64_t ino, struct inode **ip)
{
	if (ino == 0 || ino >= fs->sb.inode_count)
		return -EINVAL;
	struct inode *cached = inode_cached(fs, ino);
	int rc = cached ? (cached->d.mode == 0 ? -ENOENT : 0)
			: alloc_inode_state(fs, ino) != INO_ALLOCATED ? -ENOENT : 0;
	return rc == 0 ? inode_get(fs, ino, ip) : rc;
}

int fs_setattr(struct fs_client *c, uint64_t ino, const struct fs_attr *a)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct inode *ip;
	int rc = fs_inode_by_number(fs, ino, &ip);
	if (rc == 0) {
		rc = setattr_inode(fs, c, ip, a, NULL);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_setattr_path(struct fs_client *c, const char *path, const struct fs_attr *a)
{
	return fs_setattrat(c, FS_AT_ROOT, path, a);
}

int fs_setattrat(struct fs_client *c, struct fs_at at, const char *path, const struct fs_attr *a)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	fs_lock(fs);
	int rc = (a->valid & FS_ATTR_NOFOLLOW) ? namei_lookup_nofollow(fs, c, at, path, &ip)
					     : namei_lookup(fs, c, at, path, &ip);
	if (rc == 0) {
		rc = setattr_inode(fs, c, ip, a, NULL);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_setattr_fd(struct fs_client *c, int fd, const struct fs_attr *a)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = ofile_hold(fd_get(c, fd));
	int rc = of ? setattr_inode(fs, c, of->ip, a, of) : fd_error(c, fd);
	if (of && rc == 0)
		fs_stamp_fd(of);
	if (of)
		ofile_put(fs, of);
	fs_unlock(fs);
	return rc;
}

/* ---- names -------------------------------------------------------------------------- */

/* Removing or replacing ip's entry in dir: write and search permission on
 * dir (EACCES), then the sticky bit (EPERM): in a sticky directory only the
 * owner of the directory or of the file (or root) may remove the entry. */
static int may_delete(const struct fs_client *c, const struct inode *dir, const struct inode *ip)
{
	int rc = namei_permission(c, dir, NAMEI_MAY_WRITE | NAMEI_MAY_EXEC);
	if (rc < 0)
		return rc;
	uint32_t uid = fs_client_uid(c);
	if ((dir->d.mode & S_ISVTX) && uid != 0 && uid != dir->d.uid && uid != ip->d.uid)
		return -EPERM;
	return 0;
}

/* Drop one link of ip (its entry is already gone). */
static void drop_link(struct fs *fs, struct inode *ip)
{
	if (inode_is_dir(ip))
		ip->d.nlink = 0;
	else if (ip->d.nlink > 0)
		ip->d.nlink--;
	inode_touch(ip, false, true);
	inode_dirty(fs, ip);
	if (ip->d.nlink == 0 && inode_opens(ip) > 0)
		inode_orphan_add(fs, ip);
}

/* Start a modifying operation on a path: take the lock, commit first if the
 * running transaction is due (fs_op_begin), resolve every component but the
 * last. On error nothing is held and the lock is released. */
static int path_op_begin(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
			 struct nameidata *nd)
{
	fs_lock(fs);
	int rc = fs_op_begin(fs);
	if (rc == 0)
		rc = namei_parent(fs, c, at, path, nd);
	if (rc < 0)
		fs_unlock(fs);
	return rc;
}

static int do_unlink(struct fs_client *c, struct fs_at at, const char *path)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	struct inode *ip;
	int rc = path_op_begin(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	if (nd.len == 0 || nd.dot) {
		rc = -EISDIR;
		goto out_nd;
	}
	bool slash = nd.trailing_slash;
	nd.trailing_slash = false;
	rc = namei_last(fs, c, &nd, &ip);
	if (rc < 0)
		goto out_nd;
	/* Linux's order: a trailing slash first, then the permission and
	 * sticky checks of may_delete, then a directory */
	if (slash)
		rc = inode_is_dir(ip) ? -EISDIR : -ENOTDIR;
	else if ((rc = may_delete(c, nd.dir, ip)) == 0 && inode_is_dir(ip))
		rc = -EISDIR;
	if (rc == 0)
		rc = dir_remove(fs, nd.dir, nd.name, nd.len);
	if (rc == 0) {
		inode_touch(nd.dir, true, true);
		inode_dirty(fs, nd.dir);
		drop_link(fs, ip);
	}
	inode_put(fs, ip);
out_nd:
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
}

static int do_mkdir(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		    uint64_t want_ino)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	if (want_ino && (want_ino <= ANK_ROOT_INO || want_ino >= fs->sb.inode_count))
		return -EINVAL;
	int rc = path_op_begin(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	uint64_t ino;
	if (nd.len == 0 || nd.dot) {
		rc = -EEXIST;
	} else if ((rc = namei_permission(c, nd.dir, NAMEI_MAY_EXEC)) == 0) {
		rc = dir_lookup(fs, nd.dir, nd.name, nd.len, &ino, NULL);
		if (rc == 0) {
			rc = -EEXIST;
		} else if (rc == -ENOENT) {
			struct inode *ip;
			rc = create_inode_in(fs, c, &nd, S_IFDIR | (mode & 07777), want_ino, &ip);
			if (rc == 0) {
				fs_last_stamp.new_ino = ip->ino;
				inode_put(fs, ip);
			}
		}
	}
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
}

/* May nd's last component be created as a non-directory (symlink,
 * mknod)? 0 when the name is free; else -EEXIST ("/", ".", "..", a name
 * that exists), -ENOENT (a trailing slash: Linux makes no non-directory
 * named "x/"; a removed parent), -EROFS, or the lookup's errors, in
 * Linux's order. */
static int new_name_free(struct fs *fs, struct fs_client *c, const struct nameidata *nd)
{
	if (nd->len == 0 || nd->dot)
		return -EEXIST;
	int rc = namei_permission(c, nd->dir, NAMEI_MAY_EXEC);
	if (rc < 0)
		return rc;
	uint64_t ino;
	rc = dir_lookup(fs, nd->dir, nd->name, nd->len, &ino, NULL);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	if (nd->trailing_slash || nd->dir->d.nlink == 0)
		return -ENOENT;
	return fs->read_only ? -EROFS : 0;
}

static int do_symlink(struct fs_client *c, const char *target, struct fs_at at, const char *path,
		      uint64_t want_ino)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	if (!target || target[0] == '\0')
		return -ENOENT;
	size_t tlen = strnlen(target, PATH_MAX);
	if (tlen >= PATH_MAX)
		return -ENAMETOOLONG;
	if (want_ino && (want_ino <= ANK_ROOT_INO || want_ino >= fs->sb.inode_count))
		return -EINVAL;
	int rc = path_op_begin(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	struct inode *ip;
	rc = new_name_free(fs, c, &nd);
	if (rc == 0)
		rc = create_inode_in(fs, c, &nd, S_IFLNK | 0777, want_ino, &ip);
	if (rc == 0 && tlen <= ANK_INLINE_LINK_MAX &&
	    (fs->sb.feature_incompat & ANK_FEATURE_INCOMPAT_INLINE_LINKS)) {
		/* A short target lives in the inode (format.h); the map it
		 * takes the place of is empty. */
		char *t = (char *)(void *)&ip->d.eh;
		memset(t, 0, ANK_INLINE_LINK_MAX);
		memcpy(t, target, tlen);
		ip->d.size = tlen;
		inode_dirty(fs, ip);
		fs_last_stamp.new_ino = ip->ino;
		inode_put(fs, ip);
	} else if (rc == 0) {
		/* The target is the link's data, as a file's bytes. */
		ssize_t w = file_write(fs, ip, target, tlen, 0, NULL);
		if (w != (ssize_t)tlen) {
			/* no link without its target: take it back */
			(void)dir_remove(fs, nd.dir, nd.name, nd.len);
			ip->d.nlink = 0;
			inode_dirty(fs, ip);
			rc = w < 0 ? (int)w : -ENOSPC;
		} else {
			fs_last_stamp.new_ino = ip->ino;
		}
		inode_put(fs, ip);
	}
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
}

static int do_mknod(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		    dev_t rdev, uint64_t want_ino)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	uint32_t fmt = mode & S_IFMT;
	/* the type first, as Linux's mknod checks it before the path */
	if (fmt == S_IFDIR)
		return -EPERM;
	if (fmt == 0)
		fmt = S_IFREG;
	if (fmt != S_IFREG && fmt != S_IFIFO && fmt != S_IFSOCK && fmt != S_IFCHR &&
	    fmt != S_IFBLK)
		return -EINVAL;
	bool dev = fmt == S_IFCHR || fmt == S_IFBLK;
	if (dev && (major(rdev) > UINT32_MAX || minor(rdev) > UINT32_MAX))
		return -EINVAL;
	if (want_ino && (want_ino <= ANK_ROOT_INO || want_ino >= fs->sb.inode_count))
		return -EINVAL;
	int rc = path_op_begin(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	rc = new_name_free(fs, c, &nd);
	if (rc == 0)
		rc = namei_permission(c, nd.dir, NAMEI_MAY_WRITE | NAMEI_MAY_EXEC);
	if (rc == 0 && dev && fs_client_uid(c) != 0)
		rc = -EPERM; /* devices: root only (CAP_MKNOD), after EACCES */
	struct inode *ip;
	if (rc == 0)
		rc = create_inode_in(fs, c, &nd, fmt | (mode & 07777), want_ino, &ip);
	if (rc == 0) {
		if (dev) {
			ip->d.rdev_major = (uint32_t)major(rdev);
			ip->d.rdev_minor = (uint32_t)minor(rdev);
			inode_dirty(fs, ip);
		}
		fs_last_stamp.new_ino = ip->ino;
		inode_put(fs, ip);
	}
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
}

int fs_mknodat(struct fs_client *c, struct fs_at at, const char *path, mode_t mode, dev_t rdev)
{
	return do_mknod(c, at, path, mode, rdev, 0);
}

int fs_mknodat_ino(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		   dev_t rdev, uint64_t ino)
{
	return ino == 0 ? -EINVAL : do_mknod(c, at, path, mode, rdev, ino);
}

int fs_symlink(struct fs_client *c, const char *target, const char *path)
{
	return do_symlink(c, target, FS_AT_ROOT, path, 0);
}

int fs_symlinkat(struct fs_client *c, const char *target, struct fs_at at, const char *path)
{
	return do_symlink(c, target, at, path, 0);
}

int fs_symlink_ino(struct fs_client *c, const char *target, const char *path, uint64_t ino)
{
	return fs_symlinkat_ino(c, target, FS_AT_ROOT, path, ino);
}

int fs_symlinkat_ino(struct fs_client *c, const char *target, struct fs_at at, const char *path,
		     uint64_t ino)
{
	return ino == 0 ? -EINVAL : do_symlink(c, target, at, path, ino);
}

ssize_t fs_readlink(struct fs_client *c, const char *path, char *buf, size_t n)
{
	return fs_readlinkat(c, FS_AT_ROOT, path, buf, n);
}

ssize_t fs_readlinkat(struct fs_client *c, struct fs_at at, const char *path, char *buf, size_t n)
{
	struct fs *fs = c->fs;
	struct inode *ip;
	if (n == 0 || n > SSIZE_MAX)
		return -EINVAL;
	fs_lock(fs);
	ssize_t rc = namei_lookup_nofollow(fs, c, at, path, &ip);
	if (rc == 0) {
		char target[PATH_MAX];
		if (!inode_is_symlink(ip))
			rc = -EINVAL;
		else if ((rc = namei_read_link(fs, ip, target)) >= 0) {
			rc = (ssize_t)ANK_MIN((size_t)rc, n);
			memcpy(buf, target, (size_t)rc);
		}
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

int fs_mkdir(struct fs_client *c, const char *path, mode_t mode)
{
	return do_mkdir(c, FS_AT_ROOT, path, mode, 0);
}

int fs_mkdirat(struct fs_client *c, struct fs_at at, const char *path, mode_t mode)
{
	return do_mkdir(c, at, path, mode, 0);
}

int fs_mkdir_ino(struct fs_client *c, const char *path, mode_t mode, uint64_t ino)
{
	return fs_mkdirat_ino(c, FS_AT_ROOT, path, mode, ino);
}

int fs_mkdirat_ino(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		   uint64_t ino)
{
	return ino == 0 ? -EINVAL : do_mkdir(c, at, path, mode, ino);
}

static int do_rmdir(struct fs_client *c, struct fs_at at, const char *path)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	struct inode *ip;
	int rc = path_op_begin(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	if (nd.len == 0) {
		rc = -EBUSY;
		goto out_nd;
	}
	if (nd.dot == NAMEI_DOT) {
		rc = -EINVAL;
		goto out_nd;
	}
	if (nd.dot == NAMEI_DOTDOT) {
		rc = -ENOTEMPTY;
		goto out_nd;
	}
	nd.trailing_slash = false;
	rc = namei_last(fs, c, &nd, &ip);
	if (rc < 0)
		goto out_nd;
	int64_t n = 0;
	/* may_delete's permission and sticky checks come first, as Linux's */
	if ((rc = may_delete(c, nd.dir, ip)) < 0)
		;
	else if (!inode_is_dir(ip))
		rc = -ENOTDIR;
	else if ((n = dir_count(fs, ip)) < 0)
		rc = (int)n;
	else if (n > 0)
		rc = -ENOTEMPTY;
	if (rc == 0)
		rc = dir_remove(fs, nd.dir, nd.name, nd.len);
	if (rc == 0) {
		nd.dir->d.nlink--;
		inode_touch(nd.dir, true, true);
		inode_dirty(fs, nd.dir);
		drop_link(fs, ip);
	}
	inode_put(fs, ip);
out_nd:
	inode_put(fs, nd.dir);
	fs_unlock(fs);
	return rc;
}

int fs_unlink(struct fs_client *c, const char *path)
{
	return do_unlink(c, FS_AT_ROOT, path);
}

int fs_rmdir(struct fs_client *c, const char *path)
{
	return do_rmdir(c, FS_AT_ROOT, path);
}

int fs_unlinkat(struct fs_client *c, struct fs_at at, const char *path, int flags)
{
	if (flags & ~AT_REMOVEDIR)
		return -EINVAL;
	return (flags & AT_REMOVEDIR) ? do_rmdir(c, at, path) : do_unlink(c, at, path);
}

int fs_link(struct fs_client *c, const char *from, const char *to)
{
	return fs_linkat(c, FS_AT_ROOT, from, FS_AT_ROOT, to, 0);
}

int fs_linkat(struct fs_client *c, struct fs_at from_at, const char *from, struct fs_at to_at,
	      const char *to, int flags)
{
	struct fs *fs = c->fs;
	struct nameidata nd;
	struct inode *ip;
	if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	fs_lock(fs);
	int rc = fs_op_begin(fs);
	if (rc < 0)
		goto out_unlock;
	/* link(2) links a symbolic link itself, unless AT_SYMLINK_FOLLOW */
	rc = fs_lookup_at(fs, c, from_at, from,
		       (flags & AT_EMPTY_PATH) | ((flags & AT_SYMLINK_FOLLOW) ? 0 : AT_SYMLINK_NOFOLLOW),
		       &ip);
	if (rc < 0)
		goto out_unlock;
	/* As in Linux, the new name is resolved and checked before the kind of
	 * the source is (EEXIST and ENOENT come before EPERM). */
	rc = namei_parent(fs, c, to_at, to, &nd);
	if (rc < 0)
		goto out_ip;
	uint64_t ino;
	if (nd.len == 0 || nd.dot)
		rc = -EEXIST;
	else if ((rc = namei_permission(c, nd.dir, NAMEI_MAY_EXEC)) == 0 &&
		 (rc = dir_lookup(fs, nd.dir, nd.name, nd.len, &ino, NULL)) == 0)
		rc = -EEXIST;
	if (rc != -ENOENT)
		;
	else if (nd.trailing_slash || nd.dir->d.nlink == 0)
		rc = -ENOENT; /* (in a removed directory: before EPERM, as Linux) */
	else if ((rc = namei_permission(c, nd.dir, NAMEI_MAY_WRITE | NAMEI_MAY_EXEC)) < 0)
		; /* (may_create's permission check, before the kind of the source) */
	else if (inode_is_dir(ip))
		rc = -EPERM;
	else if (ip->d.nlink == 0)
		rc = -ENOENT; /* linking an unlinked file back is not allowed */
	else if (ip->d.nlink >= 65000)
		rc = -EMLINK;
	else {
		rc = dir_add(fs, nd.dir, nd.name, nd.len, ip->ino, ank_mode_to_ft(ip->d.mode));
		if (rc == 0) {
			ip->d.nlink++;
			inode_touch(ip, false, true);
			inode_dirty(fs, ip);
			inode_touch(nd.dir, true, true);
			inode_dirty(fs, nd.dir);
		}
	}
	inode_put(fs, nd.dir);
out_ip:
	inode_put(fs, ip);
out_unlock:
	fs_unlock(fs);
	return rc;
}

/* Is directory `dir` equal to or below directory `top`? */
static int is_within(struct fs *fs, struct inode *dir, uint64_t top)
{
	uint64_t ino = dir->ino;
	for (uint64_t steps = 0; steps < fs->sb.inode_count; steps++) {
		if (ino == top)
			return 1;
		if (ino == ANK_ROOT_INO)
			return 0;
		struct inode *ip;
		int rc = inode_get(fs, ino, &ip);
		if (rc < 0)
			return rc;
		uint64_t parent = ip->d.parent;
		inode_put(fs, ip);
		ino = parent;
	}
	return ANK_CORRUPT("directory parent chain has a cycle");
}

int fs_rename(struct fs_client *c, const char *from, const char *to)
{
	return fs_renameat2(c, FS_AT_ROOT, from, FS_AT_ROOT, to, 0);
}

/* RENAME_EXCHANGE of src (a's entry) and dst (b's): each name then holds
 * the other inode; directories change parents. Permissions are checked. */
static int exchange(struct fs *fs, struct fs_client *c, struct nameidata *a,
		    struct nameidata *b, struct inode *src, struct inode *dst)
{
	int rc = may_delete(c, a->dir, src);
	if (rc == 0)
		rc = may_delete(c, b->dir, dst);
	if (rc == 0 && a->dir != b->dir && inode_is_dir(src)) /* (their ".." change) */
		rc = namei_permission(c, src, NAMEI_MAY_WRITE);
	if (rc == 0 && a->dir != b->dir && inode_is_dir(dst))
		rc = namei_permission(c, dst, NAMEI_MAY_WRITE);
	if (rc < 0)
		return rc;
	rc = dir_replace(fs, b->dir, b->name, b->len, src->ino, ank_mode_to_ft(src->d.mode));
	if (rc < 0)
		return rc;
	rc = dir_replace(fs, a->dir, a->name, a->len, dst->ino, ank_mode_to_ft(dst->d.mode));
	if (rc < 0) {
		fs_abort(fs, rc); /* one name changed already: never commit that */
		return rc;
	}
	if (a->dir != b->dir) {
		if (inode_is_dir(src)) {
			src->d.parent = b->dir->ino;
			a->dir->d.nlink--;
			b->dir->d.nlink++;
		}
		if (inode_is_dir(dst)) {
			dst->d.parent = a->dir->ino;
			b->dir->d.nlink--;
			a->dir->d.nlink++;
		}
	}
	inode_touch(src, false, true);
	inode_dirty(fs, src);
	inode_touch(dst, false, true);
	inode_dirty(fs, dst);
	inode_touch(a->dir, true, true);
	inode_dirty(fs, a->dir);
	inode_touch(b->dir, true, true);
	inode_dirty(fs, b->dir);
	return 0;
}

int fs_renameat2(struct fs_client *c, struct fs_at from_at, const char *from, struct fs_at to_at,
		 const char *to, unsigned flags)
{
	struct fs *fs = c->fs;
	struct nameidata a, b;
	struct inode *src = NULL, *dst = NULL;
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL; /* (RENAME_WHITEOUT is not supported) */
	fs_lock(fs);
	int rc = fs_op_begin(fs);
	if (rc < 0)
		goto out_unlock;
	/* Linux's walk of each path checks search permission on its last
	 * parent too (when a name follows), before the next path is walked
	 * and before anything is looked up in either */
	rc = namei_parent(fs, c, from_at, from, &a);
	if (rc < 0)
		goto out_unlock;
	rc = a.len || a.dot ? namei_permission(c, a.dir, NAMEI_MAY_EXEC) : 0;
	if (rc < 0)
		goto out_a;
	rc = namei_parent(fs, c, to_at, to, &b);
	if (rc < 0)
		goto out_a;
	rc = b.len || b.dot ? namei_permission(c, b.dir, NAMEI_MAY_EXEC) : 0;
	if (rc < 0)
		goto out_b;
	if (a.len == 0 || a.dot || b.len == 0 || b.dot) {
		rc = -EBUSY; /* once both parents resolved, as Linux orders it */
		goto out_b;
	}
	bool a_slash = a.trailing_slash, b_slash = b.trailing_slash;
	a.trailing_slash = false;
	rc = namei_last(fs, c, &a, &src);
	if (rc < 0)
		goto out_b;
	bool src_dir = inode_is_dir(src);
	uint64_t dino;
	rc = namei_permission(c, b.dir, NAMEI_MAY_EXEC);
	if (rc == 0)
		rc = dir_lookup(fs, b.dir, b.name, b.len, &dino, NULL);
	if (rc == -ENOENT && b.dir->d.nlink == 0)
		goto out_src; /* nothing is looked up in a removed directory */
	if (rc == 0) {
		rc = inode_get(fs, dino, &dst);
		if (rc < 0)
			goto out_src;
	} else if (rc != -ENOENT) {
		goto out_src;
	}
	/* Linux looks both names up, then checks the flags, then trailing
	 * slashes. */
	if ((flags & RENAME_NOREPLACE) && dst) {
		rc = -EEXIST;
		goto out_dst;
	}
	bool swap = flags & RENAME_EXCHANGE;
	if (swap && !dst) {
		rc = -ENOENT;
		goto out_dst;
	}
	if (swap && !inode_is_dir(dst) && b_slash) {
		rc = -ENOTDIR;
		goto out_dst;
	}
	if (!src_dir && (a_slash || (!swap && b_slash))) {
		rc = -ENOTDIR;
		goto out_dst;
	}
	if (src_dir) {
		rc = is_within(fs, b.dir, src->ino);
		if (rc != 0) {
			rc = rc > 0 ? -EINVAL : rc;
			goto out_dst;
		}
	}
	if (dst && dst->ino == src->ino) {
		rc = 0; /* same file: nothing to do */
		goto out_dst;
	}
	if (swap) {
		/* neither may be an ancestor of the other's new parent */
		if (inode_is_dir(dst) && (rc = is_within(fs, a.dir, dst->ino)) != 0)
			rc = rc > 0 ? -EINVAL : rc;
		else
			rc = exchange(fs, c, &a, &b, src, dst);
		goto out_dst;
	}
	bool dst_dir = dst && inode_is_dir(dst);
	/* target should not be an ancestor of source */
	if (dst_dir && (rc = is_within(fs, a.dir, dst->ino)) != 0) {
		rc = rc > 0 ? -ENOTEMPTY : rc;
		goto out_dst;
	}
	/* Linux's vfs_rename: the permission and sticky checks of both
	 * names, then the kinds of the two, then write permission on a
	 * directory that changes parents (its ".." is rewritten), then
	 * (ext4) a directory replaced must be empty */
	rc = may_delete(c, a.dir, src);
	if (rc == 0)
		rc = dst ? may_delete(c, b.dir, dst)
			 : namei_permission(c, b.dir, NAMEI_MAY_WRITE | NAMEI_MAY_EXEC);
	if (rc == 0 && dst && src_dir && !dst_dir)
		rc = -ENOTDIR;
	if (rc == 0 && dst && !src_dir && dst_dir)
		rc = -EISDIR;
	if (rc == 0 && src_dir && a.dir != b.dir)
		rc = namei_permission(c, src, NAMEI_MAY_WRITE);
	if (rc == 0 && dst_dir) {
		int64_t n = dir_count(fs, dst);
		if (n != 0)
			rc = n < 0 ? (int)n : -ENOTEMPTY;
	}
	if (rc < 0)
		goto out_dst;
	if (b.dir->d.nlink == 0) {
		rc = -ENOENT;
		goto out_dst;
	}
	uint8_t ft = ank_mode_to_ft(src->d.mode);
	if (dst)
		rc = dir_replace(fs, b.dir, b.name, b.len, src->ino, ft);
	else
		rc = dir_add(fs, b.dir, b.name, b.len, src->ino, ft);
	if (rc < 0)
		goto out_dst;
	rc = dir_remove(fs, a.dir, a.name, a.len);
	if (rc < 0) {
		fs_abort(fs, rc); /* the new name exists already: never commit that */
		goto out_dst;
	}
	if (dst) {
		if (inode_is_dir(dst))
			b.dir->d.nlink--;
		drop_link(fs, dst);
	}
	if (src_dir && a.dir != b.dir) {
		src->d.parent = b.dir->ino;
		a.dir->d.nlink--;
		b.dir->d.nlink++;
	}
	inode_touch(src, false, true);
	inode_dirty(fs, src);
	inode_touch(a.dir, true, true);
	inode_dirty(fs, a.dir);
	inode_touch(b.dir, true, true);
	inode_dirty(fs, b.dir);
out_dst:
	if (dst)
		inode_put(fs, dst);
out_src:
	inode_put(fs, src);
out_b:
	inode_put(fs, b.dir);
out_a:
	inode_put(fs, a.dir);
out_unlock:
	fs_unlock(fs);
	return rc;
}

int fs_readdir(struct fs_client *c, int fd, struct fs_dirent *ents, int max)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	int rc = 0, n = 0;
	struct ofile *of = fd_get(c, fd);
	if (!of) {
		rc = fd_error(c, fd);
		goto out;
	}
	if (!inode_is_dir(of->ip)) {
		rc = -ENOTDIR;
		goto out;
	}
	while (n < max) {
		if (of->pos < 2) {
			ents[n].ino = of->pos == 0 ? of->ip->ino : of->ip->d.parent;
			ents[n].type = DT_DIR;
			strcpy(ents[n].name, of->pos == 0 ? "." : "..");
			of->pos++;
			ofile_seal(of);
			ents[n].next = of->pos;
			n++;
			continue;
		}
		uint64_t pos = of->pos - 2;
		rc = dir_next(fs, of->ip, &pos, &ents[n]);
		if (rc <= 0)
			break;
		of->pos = pos + 2;
		ofile_seal(of);
		ents[n].next = of->pos;
		n++;
	}
	if (n > 0)
		rc = n;
	if (rc >= 0) {
		read_touch_atime(fs, of);
		fs_stamp_fd(of);
	}
out:
	fs_unlock(fs);
	return rc;
}

void fs_get_stats(struct fs *fs, struct fs_stats *out)
{
	fs_lock(fs);
	*out = fs->stats;
	out->cache_pages = fs->pc.count;
	out->dirty_pages = fs->pc.ndirty;
	out->free_blocks = fs->al.free_blocks;
	out->free_inodes = fs->al.free_inodes;
	fs_unlock(fs);
}
