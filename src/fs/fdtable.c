/*
 * fdtable.c - clients and their fd tables: the open file an fd number
 * names, fd numbers allocated lowest first as in POSIX or given by the
 * caller (recovery), stale fds that keep their number over a server restart
 * and fail with EIO, and the recovery calls that work on an fd or open one
 * by inode number (fs_open_ino_at, fs_set_offset, fs_inode_of_fd).
 *
 * A client's table is protected by fs->lock, as everything else is.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

#define FS_MAX_FDS (1 << 20)

struct ofile ofile_stale_sentinel; /* STALE_OFILE (fs_internal.h) */

/* ---- clients and fds ---------------------------------------------------- */

/* The calling thread's acting credentials (fs_act_as), if any. */
static _Thread_local struct {
	bool on;
	uint32_t uid, gid;
} tl_as;

void fs_act_as(uint32_t uid, uint32_t gid)
{
	tl_as.uid = uid;
	tl_as.gid = gid;
	tl_as.on = true;
}

void fs_act_as_end(void)
{
	tl_as.on = false;
}

uint32_t fs_client_uid(const struct fs_client *c)
{
	fs_client_check(c);
	return tl_as.on ? tl_as.uid : c->uid;
}

uint32_t fs_client_gid(const struct fs_client *c)
{
	fs_client_check(c);
	return tl_as.on ? tl_as.gid : c->gid;
}

struct fs_client *fs_client_new(struct fs *fs, uint32_t uid, uint32_t gid)
{
	struct fs_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fs = fs;
	c->uid = uid;
	c->gid = gid;
	c->lock_owner = (uintptr_t)c;
	c->lock_pid = (int32_t)getpid();
	fs_client_seal(c);
	fs_lock(fs);
	c->next = fs->clients;
	if (fs->clients)
		fs->clients->prev = c;
	fs->clients = c;
	fs_unlock(fs);
	return c;
}

struct ofile *ofile_hold(struct ofile *of)
{
	if (of)
		of->refs++;
	return of;
}

void ofile_put(struct fs *fs, struct ofile *of)
{
	if (--of->refs > 0)
		return;
	locks_ofile_gone(fs, of);
	inode_opens_add(of->ip, -1);
	inode_put(fs, of->ip);
	free(of);
}

/* Close every fd; called with the lock held. */
static void client_close_all(struct fs_client *c)
{
	for (int i = 0; i < c->nfds; i++)
		if (c->fds[i]) {
			if (c->fds[i] != STALE_OFILE) {
				locks_fd_closing(c, c->fds[i]);
				ofile_put(c->fs, c->fds[i]);
			}
			c->fds[i] = NULL;
		}
}

void fs_client_free(struct fs_client *c)
{
	if (!c)
		return;
	struct fs *fs = c->fs;
	fs_lock(fs);
	client_close_all(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		fs->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* No commit report: fs_unmount frees leftover clients after its final
	 * commit, which is not reported (the hook's arg may be gone). */
	guard_leave(fs);
	pthread_mutex_unlock(&fs->lock);
	free(c->fds);
	free(c);
}

void fs_clients_close_all(struct fs *fs)
{
	for (struct fs_client *c = fs->clients; c; c = c->next)
		client_close_all(c);
}

int fs_client_reserve_stale(struct fs_client *c, int nfds)
{
	struct fs *fs = c->fs;
	if (nfds < 0 || nfds > FS_MAX_FDS)
		return -EINVAL;
	fs_lock(fs);
	int rc = 0;
	if (nfds > c->nfds) {
		struct ofile **t = realloc(c->fds, (size_t)nfds * sizeof(*t));
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		memset(t + c->nfds, 0, (size_t)(nfds - c->nfds) * sizeof(*t));
		c->fds = t;
		c->nfds = nfds;
		fs_client_seal(c);
	}
	for (int i = 0; i < nfds; i++)
		if (!c->fds[i])
			c->fds[i] = STALE_OFILE;
out:
	fs_unlock(fs);
	return rc;
}

int fs_client_mark_stale(struct fs_client *c, int fd)
{
	if (fd < 0 || fd >= FS_MAX_FDS)
		return -EINVAL;
	int rc = 0;
	struct fs *fs = c->fs;
	fs_lock(fs);
	if (fd >= c->nfds) {
		struct ofile **t = realloc(c->fds, (size_t)(fd + 1) * sizeof(*t));
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		memset(t + c->nfds, 0, (size_t)(fd + 1 - c->nfds) * sizeof(*t));
		c->fds = t;
		c->nfds = fd + 1;
		fs_client_seal(c);
	}
	if (c->fds[fd] && c->fds[fd] != STALE_OFILE)
		rc = -EBUSY;
	else
		c->fds[fd] = STALE_OFILE;
out:
	fs_unlock(fs);
	return rc;
}

int fs_client_fd_high(struct fs_client *c)
{
	fs_lock(c->fs);
	int high = 0;
	for (int i = 0; i < c->nfds; i++)
		if (c->fds[i])
			high = i + 1;
	fs_unlock(c->fs);
	return high;
}

/* The error for an fd that names no open file: EIO for a stale one. */
int fd_error(const struct fs_client *c, int fd)
{
	fs_client_check(c);
	return fd >= 0 && fd < c->nfds && c->fds[fd] == STALE_OFILE ? -EIO : -EBADF;
}

int fd_alloc(struct fs_client *c, struct ofile *of)
{
	fs_client_check(c);
	for (int i = 0; i < c->nfds; i++)
		if (!c->fds[i]) {
			c->fds[i] = of;
			return i;
		}
	if (c->nfds >= FS_MAX_FDS)
		return -EMFILE;
	int n = c->nfds ? c->nfds * 2 : 64;
	struct ofile **t = realloc(c->fds, (size_t)n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + c->nfds, 0, (size_t)(n - c->nfds) * sizeof(*t));
	c->fds = t;
	int fd = c->nfds;
	c->nfds = n;
	fs_client_seal(c);
	c->fds[fd] = of;
	return fd;
}

static uint32_t client_sum(const struct fs_client *c)
{
	uint64_t v[6] = {(uintptr_t)c->fs, c->uid, c->gid, (uintptr_t)c->fds,
			 (uint64_t)(uint32_t)c->nfds, c->lock_owner ^ ((uint64_t)(uint32_t)c->lock_pid << 32)};
	return crc32c(0x434C4E54u, v, sizeof(v));
}

void fs_client_seal(struct fs_client *c)
{
	c->check = client_sum(c);
}

void fs_client_check(const struct fs_client *c)
{
	if (__builtin_expect(c->check != client_sum(c), 0))
		guard_fail("client (ids, fd table or lock owner)", c->uid, (uint64_t)(uint32_t)c->nfds);
}

static uint32_t ofile_sum(const struct ofile *of)
{
	uint64_t v[4] = {(uintptr_t)of->ip, of->pos, (uint64_t)(uint32_t)of->flags, of->lock_id};
	return crc32c(0x4F46494Cu, v, sizeof(v));
}

void ofile_seal(struct ofile *of)
{
	of->check = ofile_sum(of);
}

struct ofile *fd_get(struct fs_client *c, int fd)
{
	fs_client_check(c);
	if (fd < 0 || fd >= c->nfds || c->fds[fd] == STALE_OFILE)
		return NULL;
	struct ofile *of = c->fds[fd];
	if (of) {
		if (__builtin_expect(of->check != ofile_sum(of), 0))
			guard_fail("open file (offset, flags or file)", (uint64_t)fd, of->pos);
		guard_inode_use(c->fs, of->ip);
	}
	return of;
}

/* An explicit fd number asked for: valid range (checked before anything
 * else, without the lock). */
int fd_number_check(int fd)
{
	return fd < 0 || fd >= FS_MAX_FDS ? -EBADF : 0;
}

/* Make fd number `fd` available: -EBUSY when open or stale, -ENOMEM when
 * the table cannot grow to hold it. */
int fd_reserve(struct fs_client *c, int fd)
{
	fs_client_check(c);
	if (fd < c->nfds)
		return c->fds[fd] ? -EBUSY : 0;
	int n = c->nfds ? c->nfds : 64;
	while (n <= fd)
		n = n > FS_MAX_FDS / 2 ? FS_MAX_FDS : n * 2;
	struct ofile **t = realloc(c->fds, (size_t)n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + c->nfds, 0, (size_t)(n - c->nfds) * sizeof(*t));
	c->fds = t;
	c->nfds = n;
	fs_client_seal(c);
	return 0;
}

int fs_dup(struct fs_client *c, int oldfd, int newfd, int how)
{
	struct fs *fs = c->fs;
	if (newfd < 0 || newfd >= FS_MAX_FDS)
		return how == FS_DUP_EXACT ? -EBADF : -EINVAL;
	fs_lock(fs);
	struct ofile *of = fd_get(c, oldfd);
	int rc = of ? 0 : fd_error(c, oldfd);
	if (rc == 0 && how == FS_DUP_EXACT && newfd == oldfd) {
		rc = newfd;
	} else if (rc == 0 && how == FS_DUP_EXACT) {
		if (newfd < c->nfds && c->fds[newfd]) { /* closed first, as dup2 does */
			if (c->fds[newfd] != STALE_OFILE) {
				locks_fd_closing(c, c->fds[newfd]);
				ofile_put(fs, c->fds[newfd]);
			}
			c->fds[newfd] = NULL;
		}
		rc = fd_reserve(c, newfd);
		if (rc == 0) {
			c->fds[newfd] = of;
			of->refs++;
			rc = newfd;
		}
	} else if (rc == 0) {
		rc = fd_reserve(c, newfd) == -ENOMEM ? -ENOMEM : 0;
		int fd = newfd;
		while (rc == 0 && fd < c->nfds && c->fds[fd])
			fd++;
		if (rc == 0 && fd >= FS_MAX_FDS)
			rc = -EMFILE;
		else if (rc == 0)
			rc = fd_reserve(c, fd);
		if (rc == 0) {
			c->fds[fd] = of;
			of->refs++;
			rc = fd;
		}
	}
	if (rc >= 0)
		fs_stamp_fd(of);
	fs_unlock(fs);
	return rc;
}

int fs_getfl(struct fs_client *c, int fd)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	int rc = of ? of->flags & (O_ACCMODE | O_APPEND | O_DIRECTORY | O_NOFOLLOW)
		    : fd_error(c, fd);
	fs_unlock(fs);
	return rc;
}

int fs_setfl(struct fs_client *c, int fd, int flags)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	int rc = of ? 0 : fd_error(c, fd);
	if (of) {
		of->flags = (of->flags & ~O_APPEND) | (flags & O_APPEND);
		ofile_seal(of);
		fs_stamp_fd(of); /* the fd's state for the log (offset unchanged) */
	}
	fs_unlock(fs);
	return rc;
}

int fs_open_ino_at(struct fs_client *c, uint64_t ino, int flags, int fd)
{
	struct fs *fs = c->fs;
	int acc = flags & O_ACCMODE;
	if (acc == O_ACCMODE || (flags & ~(O_ACCMODE | O_APPEND | O_DIRECTORY | O_NOFOLLOW)))
		return -EINVAL;
	if (ino == 0 || ino >= fs->sb.inode_count)
		return -EINVAL;
	int rc = fd_number_check(fd);
	if (rc < 0)
		return rc;
	fs_lock(fs);
	struct inode *ip = NULL;
	rc = fd_reserve(c, fd);
	if (rc < 0)
		goto out;
	struct inode *cached = inode_cached(fs, ino);
	if (cached ? cached->d.mode == 0 : alloc_inode_state(fs, ino) != INO_ALLOCATED) {
		rc = -ENOENT;
		goto out;
	}
	rc = inode_get(fs, ino, &ip);
	if (rc < 0)
		goto out;
	if ((flags & O_DIRECTORY) && !inode_is_dir(ip))
		rc = -ENOTDIR;
	else if (inode_is_dir(ip) && acc != O_RDONLY)
		rc = -EISDIR;
	else if (acc != O_RDONLY && fs->read_only)
		rc = -EROFS;
	if (rc < 0)
		goto out_ip;
	struct ofile *of = calloc(1, sizeof(*of));
	if (!of) {
		rc = -ENOMEM;
		goto out_ip;
	}
	of->ip = ip;
	of->flags = flags;
	of->refs = 1;
	ofile_seal(of);
	inode_opens_add(ip, 1);
	c->fds[fd] = of;
	fs_unlock(fs);
	return fd;
out_ip:
	inode_put(fs, ip);
out:
	fs_unlock(fs);
	return rc;
}

int fs_set_offset(struct fs_client *c, int fd, uint64_t pos)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	int rc = 0;
	struct ofile *of = fd_get(c, fd);
	if (!of)
		rc = fd_error(c, fd);
	else if (pos > (uint64_t)INT64_MAX || (!inode_is_dir(of->ip) && pos > ANK_MAX_FILE_SIZE))
		rc = -EINVAL;
	else
		of->pos = pos, ofile_seal(of);
	fs_unlock(fs);
	return rc;
}

int fs_inode_of_fd(struct fs_client *c, int fd, uint64_t *ino)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	int rc = of ? 0 : fd_error(c, fd);
	if (of)
		*ino = of->ip->ino;
	fs_unlock(fs);
	return rc;
}
