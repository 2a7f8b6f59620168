/*
 * locks.c - advisory locks: POSIX record locks (fcntl F_SETLK, owned by a
 * client), open file description locks (F_OFD_SETLK, owned by the
 * description) and flock(2) locks (whole file, owned by the description),
 * with Linux's rules: a read lock needs an fd open for reading, a write
 * lock one open for writing (flock needs neither); locks of one owner merge
 * and split; POSIX and OFD locks conflict with each other, flock locks only
 * with flock locks; a POSIX owner that would wait for an owner that (in a
 * chain) waits for it gets EDEADLK.
 *
 * Locks live on their inode's list. A client's POSIX locks on a file go
 * when it closes any fd of that file; a description's locks go with its
 * last fd. Nothing here waits: a conflicting request answers -EAGAIN (a
 * "wait" request first records whom it waits for, for deadlock detection,
 * and the caller asks again later).
 *
 * Every change of an inode's list is reported to the lock hook
 * (fs_set_lock_hook) under the fs lock, with the whole new list: the
 * server keeps a copy that outlives it (src/server/locktab.c).
 * All functions run under fs->lock.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "fs_internal.h"

#define LOCK_MAX_END INT64_MAX /* "to the end of the file, and beyond" */
#define WAIT_FRESH_NS 2000000000ull /* a wait not renewed for 2 s is over */

/* The identity a lock's owner has among all owners: a POSIX owner (a
 * client) and a description never compare equal. */
static bool same_owner(const struct fs_lock *l, uint8_t kind, uint64_t owner)
{
	bool posix = kind == FS_LOCK_POSIX, lposix = l->kind == FS_LOCK_POSIX;
	return posix == lposix && l->owner == owner;
}

/* Is l one of (kind, owner)'s own locks of the same class (flock or
 * record)? A description owns both classes under one id. */
static bool mine(const struct fs_lock *l, uint8_t kind, uint64_t owner)
{
	return same_owner(l, kind, owner) && (l->kind == FS_LOCK_FLOCK) == (kind == FS_LOCK_FLOCK);
}

/* Do l and a request of (kind, owner, type, [start, end]) conflict? */
static bool conflicts(const struct fs_lock *l, uint8_t kind, uint64_t owner, uint8_t type,
		      int64_t start, int64_t end)
{
	if ((l->kind == FS_LOCK_FLOCK) != (kind == FS_LOCK_FLOCK))
		return false; /* flock and record locks never meet */
	if (same_owner(l, kind, owner))
		return false;
	if (l->type != F_WRLCK && type != F_WRLCK)
		return false;
	return l->start <= end && start <= l->end;
}

static void report(struct fs *fs, struct inode *ip)
{
	if (!fs->lock_hook)
		return;
	size_t n = 0;
	for (struct fs_lock *l = ip->locks; l; l = l->next)
		n++;
	struct fs_lock_rec *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v) {
		/* The copy would miss a change: the caller's request fails
		 * instead (see lock_set); a release cannot fail, so its report
		 * is what a crash could lose here. */
		fs->lock_hook(fs->lock_hook_arg, ip->ino, NULL, SIZE_MAX);
		return;
	}
	size_t i = 0;
	for (struct fs_lock *l = ip->locks; l; l = l->next, i++)
		v[i] = (struct fs_lock_rec){.ino = ip->ino, .owner = l->owner, .start = l->start,
					    .end = l->end, .pid = l->pid, .kind = l->kind,
					    .type = l->type};
	fs->lock_hook(fs->lock_hook_arg, ip->ino, v, n);
	free(v);
}

/* Remove (kind, owner)'s locks from [start, end], splitting a lock that
 * reaches past it. -ENOLCK (nothing changed) when a split needs memory. */
static int cut(struct inode *ip, uint8_t kind, uint64_t owner, int64_t start, int64_t end,
	       bool *changed)
{
	for (struct fs_lock **pp = &ip->locks; *pp;) {
		struct fs_lock *l = *pp;
		if (!mine(l, kind, owner) || l->end < start || l->start > end) {
			pp = &l->next;
			continue;
		}
		*changed = true;
		if (l->start < start && l->end > end) { /* a hole in the middle */
			struct fs_lock *r = malloc(sizeof(*r));
			if (!r)
				return -ENOLCK;
			*r = *l;
			r->start = end + 1;
			l->end = start - 1;
			r->next = l->next;
			l->next = r;
			return 0;
		}
		if (l->start < start) {
			l->end = start - 1;
			pp = &l->next;
		} else if (l->end > end) {
			l->start = end + 1;
			pp = &l->next;
		} else {
			*pp = l->next;
			free(l);
		}
	}
	return 0;
}

/* Where (kind, owner)'s locks sit in the list: *had when it has some,
 * and the lock before the first of them (NULL: they come first). */
static struct fs_lock *group_prev(struct inode *ip, uint8_t kind, uint64_t owner, bool *had)
{
	struct fs_lock *prev = NULL;
	*had = false;
	for (struct fs_lock *l = ip->locks; l; prev = l, l = l->next)
		if (mine(l, kind, owner)) {
			*had = true;
			break;
		}
	return prev;
}

/* Give (kind, owner) a lock of `type` on [start, end] (after cut), merged
 * with its locks of the same type that touch it; n is its memory. `had`
 * and `prev`: its locks' place before the cut (group_prev). */
static void add(struct inode *ip, struct fs_lock *n, uint8_t kind, uint64_t owner, int32_t pid,
		uint8_t type, int64_t start, int64_t end, bool had, struct fs_lock *prev)
{
	for (struct fs_lock **pp = &ip->locks; *pp;) {
		struct fs_lock *l = *pp;
		bool touches = l->type == type && mine(l, kind, owner) &&
			       (l->end == LOCK_MAX_END || l->end + 1 >= start) &&
			       (end == LOCK_MAX_END || end + 1 >= l->start);
		if (touches) {
			start = ANK_MIN(start, l->start);
			end = ANK_MAX(end, l->end);
			*pp = l->next;
			free(l);
			continue;
		}
		pp = &l->next;
	}
	*n = (struct fs_lock){.kind = kind, .type = type, .owner = owner, .pid = pid,
			      .start = start, .end = end};
	/* Linux's order, which decides which conflict F_GETLK reports: an
	 * owner's locks together, by start; a new owner's at the end; an
	 * owner whose every lock this one replaced keeps their place. */
	struct fs_lock **pp = &ip->locks;
	bool in_group = false;
	for (; *pp; pp = &(*pp)->next) {
		struct fs_lock *l = *pp;
		bool m = mine(l, kind, owner);
		if (m && l->start > start)
			break;
		if (!m && in_group)
			break;
		in_group = in_group || m;
	}
	if (!in_group && !*pp && had)
		pp = prev ? &prev->next : &ip->locks;
	n->next = *pp;
	*pp = n;
}

/* The range a request names: Linux's rules for l_whence, l_start, l_len. */
static int lock_range(struct ofile *of, const struct fs_lock_req *rq, int64_t *start, int64_t *end)
{
	if (rq->kind == FS_LOCK_FLOCK) {
		*start = 0;
		*end = LOCK_MAX_END;
		return 0;
	}
	int64_t base;
	switch (rq->whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)of->pos;
		break;
	case SEEK_END:
		base = (int64_t)of->ip->d.size;
		break;
	default:
		return -EINVAL;
	}
	if ((rq->start > 0 && base > INT64_MAX - rq->start) || base + rq->start < 0)
		return rq->start > 0 ? -EOVERFLOW : -EINVAL;
	int64_t s = base + rq->start;
	if (rq->len > 0) {
		if (rq->len - 1 > INT64_MAX - s)
			return -EOVERFLOW;
		*start = s;
		*end = s + rq->len - 1;
	} else if (rq->len < 0) {
		if (s + rq->len < 0)
			return -EINVAL;
		*start = s + rq->len;
		*end = s - 1;
	} else {
		*start = s;
		*end = LOCK_MAX_END;
	}
	return 0;
}

static uint64_t ofile_lock_id(struct fs *fs, struct ofile *of, uint64_t hint)
{
	if (!of->lock_id) {
		of->lock_id = hint ? hint : (1ull << 63) | ++fs->lock_ids;
		ofile_seal(of);
	}
	return of->lock_id;
}

/* Checks common to set and get: the fd, the type, the range. */
static int lock_prepare(struct fs_client *c, int fd, const struct fs_lock_req *rq, uint64_t hint,
			struct ofile **ofp, uint64_t *owner, int64_t *start, int64_t *end)
{
	struct ofile *of = fd_get(c, fd);
	if (!of)
		return fd_error(c, fd);
	if (rq->type != F_RDLCK && rq->type != F_WRLCK && rq->type != F_UNLCK)
		return -EINVAL;
	if (rq->kind > FS_LOCK_FLOCK)
		return -EINVAL;
	int rc = lock_range(of, rq, start, end);
	if (rc < 0)
		return rc;
	*ofp = of;
	*owner = rq->kind == FS_LOCK_POSIX ? c->lock_owner : ofile_lock_id(c->fs, of, hint);
	return 0;
}

static struct fs_client *posix_owner_client(struct fs *fs, uint64_t owner)
{
	for (struct fs_client *c = fs->clients; c; c = c->next)
		if (c->lock_owner == owner)
			return c;
	return NULL;
}

/* Would c waiting for POSIX owner `blocker` close a cycle of waits? */
static bool would_deadlock(struct fs *fs, struct fs_client *c, uint64_t blocker)
{
	uint64_t now = ank_mono_ns();
	uint64_t cur = blocker;
	for (int hops = 0; hops < 64; hops++) {
		if (cur == c->lock_owner)
			return true;
		struct fs_client *b = posix_owner_client(fs, cur);
		if (!b || !b->waits_for || now - b->wait_ns > WAIT_FRESH_NS)
			return false;
		cur = b->waits_for;
	}
	return false;
}

static void release(struct fs *fs, struct inode *ip, bool posix, uint64_t owner);

/* A POSIX lock whose process is gone: Linux releases a process's locks
 * before its exit can be waited for, but the service hears of a client's
 * end a little later (its socket closes, then the server is told). A
 * conflicting lock of a process that no longer exists is released when it
 * is met, so that a parent that reaped its child finds the child's locks
 * gone, as on Linux. (ESRCH only: a pid reused since keeps the lock, the
 * safe side; the client's detach releases it soon after.) */
static bool owner_gone(const struct fs_lock *l)
{
	return l->kind == FS_LOCK_POSIX && l->pid > 0 && kill(l->pid, 0) < 0 && errno == ESRCH;
}

/* Release the locks of ip's owners that are gone and conflict with the
 * request: true when any went (the list changed). */
static bool release_gone(struct fs *fs, struct inode *ip, uint8_t kind, uint64_t owner,
			 uint8_t type, int64_t start, int64_t end)
{
	for (struct fs_lock *l = ip->locks; l; l = l->next)
		if (conflicts(l, kind, owner, type, start, end) && owner_gone(l)) {
			release(fs, ip, true, l->owner);
			return true;
		}
	return false;
}

int fs_setlk(struct fs_client *c, int fd, const struct fs_lock_req *rq, uint64_t ofd_hint)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of;
	uint64_t owner;
	int64_t start, end;
	int rc = lock_prepare(c, fd, rq, ofd_hint, &of, &owner, &start, &end);
	if (rc == 0 && rq->kind != FS_LOCK_FLOCK) {
		int acc = of->flags & O_ACCMODE;
		if ((rq->type == F_RDLCK && acc == O_WRONLY) || (rq->type == F_WRLCK && acc == O_RDONLY))
			rc = -EBADF;
		else if (rq->kind == FS_LOCK_OFD && rq->pid_set)
			rc = -EINVAL;
	}
	if (rc < 0)
		goto out;
	struct inode *ip = of->ip;
	int32_t pid = rq->kind == FS_LOCK_POSIX ? c->lock_pid : -1;
	bool changed = false;
	if (rq->type == F_UNLCK) {
		rc = cut(ip, rq->kind, owner, start, end, &changed);
		goto done;
	}
	for (int k = 0; k < 64 && release_gone(fs, ip, rq->kind, owner, (uint8_t)rq->type, start, end);
	     k++)
		;
	for (struct fs_lock *l = ip->locks; l; l = l->next) {
		if (!conflicts(l, rq->kind, owner, (uint8_t)rq->type, start, end))
			continue;
		/* flock converts by letting go first, as Linux does */
		if (rq->kind == FS_LOCK_FLOCK) {
			rc = cut(ip, rq->kind, owner, start, end, &changed);
			if (rc == 0)
				rc = -EAGAIN;
			goto done;
		}
		rc = -EAGAIN;
		if (rq->wait && rq->kind == FS_LOCK_POSIX && l->kind == FS_LOCK_POSIX) {
			if (would_deadlock(fs, c, l->owner)) {
				rc = -EDEADLK;
				c->waits_for = 0;
			} else {
				c->waits_for = l->owner;
				c->wait_ns = ank_mono_ns();
			}
		}
		goto done;
	}
	if (rq->kind == FS_LOCK_POSIX)
		c->waits_for = 0;
	/* The new lock's memory first: a failure changes nothing (a split in
	 * cut() fails before it changes anything too). */
	struct fs_lock *n = malloc(sizeof(*n));
	if (!n) {
		rc = -ENOLCK;
		goto done;
	}
	bool had;
	struct fs_lock *prev = group_prev(ip, rq->kind, owner, &had);
	rc = cut(ip, rq->kind, owner, start, end, &changed);
	if (rc == 0) {
		add(ip, n, rq->kind, owner, pid, (uint8_t)rq->type, start, end, had, prev);
		changed = true;
	} else {
		free(n);
	}
done:
	if (changed)
		report(fs, ip);
out:
	fs_unlock(fs);
	return rc;
}

int fs_getlk(struct fs_client *c, int fd, const struct fs_lock_req *rq, uint64_t ofd_hint,
	     struct fs_lock_info *out)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of;
	uint64_t owner;
	int64_t start, end;
	/* F_UNLCK asks F_OFD_GETLK for the description's own lock there
	 * (Linux 6.5 on); F_GETLK refuses it */
	bool own = rq->type == F_UNLCK;
	/* the fd first (EBADF), as fcntl(2) looks it up before the command */
	int rc = fd_get(c, fd) ? 0 : fd_error(c, fd);
	if (rc == 0 && ((own && rq->kind != FS_LOCK_OFD) || rq->kind == FS_LOCK_FLOCK))
		rc = -EINVAL;
	if (rc == 0)
		rc = lock_prepare(c, fd, rq, ofd_hint, &of, &owner, &start, &end);
	if (rc == 0 && rq->kind == FS_LOCK_OFD && rq->pid_set)
		rc = -EINVAL;
	if (rc == 0) {
		*out = (struct fs_lock_info){.type = F_UNLCK};
		for (int k = 0; !own && k < 64 &&
				release_gone(fs, of->ip, rq->kind, owner, (uint8_t)rq->type, start, end);
		     k++)
			;
		for (struct fs_lock *l = of->ip->locks; l; l = l->next) {
			bool hit = own ? mine(l, rq->kind, owner) &&
						 l->start <= end && start <= l->end
				       : conflicts(l, rq->kind, owner, (uint8_t)rq->type, start, end);
			if (!hit)
				continue;
			*out = (struct fs_lock_info){
				.type = l->type,
				.start = l->start,
				.len = l->end == LOCK_MAX_END ? 0 : l->end - l->start + 1,
				.pid = l->kind == FS_LOCK_POSIX ? l->pid : -1,
			};
			break;
		}
	}
	fs_unlock(fs);
	return rc;
}

void fs_client_set_lock_owner(struct fs_client *c, uint64_t owner, int32_t pid)
{
	fs_lock(c->fs);
	c->lock_owner = owner;
	c->lock_pid = pid;
	fs_client_seal(c);
	fs_unlock(c->fs);
}

void fs_set_lock_hook(struct fs *fs,
		      void (*fn)(void *arg, uint64_t ino, const struct fs_lock_rec *recs, size_t n),
		      void *arg)
{
	fs_lock(fs);
	fs->lock_hook = fn;
	fs->lock_hook_arg = arg;
	fs_unlock(fs);
}

int fs_lock_restore(struct fs_client *c, int fd, const struct fs_lock_rec *rec)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct ofile *of = fd_get(c, fd);
	int rc = of ? 0 : fd_error(c, fd);
	if (rc == 0 && (of->ip->ino != rec->ino || rec->kind > FS_LOCK_FLOCK ||
			(rec->type != F_RDLCK && rec->type != F_WRLCK) || rec->start < 0 ||
			rec->end < rec->start))
		rc = -EINVAL;
	uint64_t owner = 0;
	if (rc == 0 && rec->kind == FS_LOCK_POSIX) {
		owner = c->lock_owner;
		rc = owner == rec->owner ? 0 : -EINVAL;
	} else if (rc == 0) {
		owner = ofile_lock_id(fs, of, rec->owner);
		rc = owner == rec->owner ? 0 : -EINVAL;
	}
	bool changed = false;
	struct fs_lock *n = rc == 0 ? malloc(sizeof(*n)) : NULL;
	if (rc == 0 && !n)
		rc = -ENOLCK;
	bool had = false;
	struct fs_lock *prev = rc == 0 ? group_prev(of->ip, rec->kind, owner, &had) : NULL;
	if (rc == 0)
		rc = cut(of->ip, rec->kind, owner, rec->start, rec->end, &changed);
	if (rc == 0) {
		add(of->ip, n, rec->kind, owner, rec->pid, rec->type, rec->start, rec->end, had,
		    prev);
		report(fs, of->ip);
	} else {
		free(n);
	}
	fs_unlock(fs);
	return rc;
}

/* Let go of every lock of (kind class, owner) on ip; the POSIX class is
 * POSIX only, the description class OFD and flock. */
static void release(struct fs *fs, struct inode *ip, bool posix, uint64_t owner)
{
	bool changed = false;
	for (struct fs_lock **pp = &ip->locks; *pp;) {
		struct fs_lock *l = *pp;
		if ((l->kind == FS_LOCK_POSIX) == posix && l->owner == owner) {
			*pp = l->next;
			free(l);
			changed = true;
		} else {
			pp = &l->next;
		}
	}
	if (changed)
		report(fs, ip);
}

void locks_fd_closing(struct fs_client *c, struct ofile *of)
{
	if (of != STALE_OFILE && of->ip->locks)
		release(c->fs, of->ip, true, c->lock_owner);
}

void locks_ofile_gone(struct fs *fs, struct ofile *of)
{
	if (of->lock_id && of->ip->locks)
		release(fs, of->ip, false, of->lock_id);
}
