/*
 * dispatch.c - one ring request, from the slot to the file system core and
 * back: copy the request out of shared memory, validate the copy, run the
 * operation with the client's fs_client, write the result, publish DONE and
 * wake the client.
 *
 * The ring is writable by the client at any moment, so every field is read
 * exactly once (through a volatile pointer, so the compiler cannot re-load
 * it either) into a local struct, and only the local copy is validated and
 * used. File data is the exception: READ/WRITE move bytes between the data
 * buffer and the file directly, because garbage bytes there only hurt the
 * client that wrote them.
 *
 * It does not find requests (worker.c) and knows nothing of the control
 * socket (server.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "../ipc/barrier.h"
#include "../util/common.h"
#include "../util/crc32c.h"
#include "../ipc/optable.h"
#include "server.h"

/* Longest path a request may carry, NUL included (fs.h: at most 4095). */
#define DISPATCH_PATH_MAX 4096u

/* Worst-case bytes of one packed dirent: header + 255-byte name, padded. */
#define DISPATCH_DIRENT_MAX \
	ANK_ALIGN_UP((uint32_t)sizeof(struct ank_wire_dirent) + 255u, 8u)


static void request_copy(const struct ank_ring_slot *slot, struct request *rq)
{
	const volatile struct ank_ring_slot *vs = slot;
	rq->opcode = vs->opcode;
	rq->flags = vs->flags;
	rq->fd = vs->fd;
	rq->mode = vs->mode;
	rq->off = vs->off;
	rq->len = vs->len;
	rq->path_len = vs->path_len;
	rq->path2_len = vs->path2_len;
	rq->seq = vs->seq;
	rq->data_sum = vs->data_sum;
	rq->req_sum = vs->req_sum;
	rq->path_sum = vs->path_sum;
	rq->zero = 0;
	rq->at_ino = vs->at_ino;
	rq->at2_ino = vs->at2_ino;
	rq->as_set = vs->as_set;
	rq->as_uid = vs->as_uid;
	rq->as_gid = vs->as_gid;
	rq->zero2 = 0;
}

/* Damage in the ring is said in the log, but a client that sends garbage
 * all the time does not flood it: the first 16 times, then every 1024th. */
static bool say_damage(void)
{
	static unsigned long said;
	unsigned long n = __atomic_fetch_add(&said, 1, __ATOMIC_RELAXED);
	return n < 16 || n % 1024 == 0;
}

/* The request's fields must be what the client wrote (ring.h,
 * ank_req_sum): a request damaged in the shared ring is answered EIO
 * before anything runs. */
static int request_check(const struct request *rq)
{
	if (rq->as_set <= 1 &&
	    ank_req_as_sum(ank_req_sum(rq->opcode, rq->flags, rq->fd, rq->mode, rq->off, rq->len,
				       rq->path_len, rq->path2_len, rq->seq, rq->data_sum, rq->at_ino,
				       rq->at2_ino),
			   rq->as_set, rq->as_uid, rq->as_gid) == rq->req_sum)
		return 0;
	if (say_damage())
		fprintf(stderr, "ananke: server: a request (opcode %u, seq %llu) fails its checksum "
				"(damaged in the ring); answering EIO\n",
			rq->opcode, (unsigned long long)rq->seq);
	return -EIO;
}

/* WRITE/PWRITE data must be what the client wrote: its checksum is checked
 * before the call runs, so that bytes damaged in the shared ring (a stray
 * write, a bit flip) are refused with EIO instead of reaching the file. */
static int data_check(const uint8_t *data, const struct request *rq)
{
	if (crc32c(0, data, (size_t)rq->len) == rq->data_sum)
		return 0;
	if (say_damage())
		fprintf(stderr, "ananke: server: the data of a %s of %llu bytes on fd %d fails its "
				"checksum (damaged in the ring); answering EIO\n",
			op_info(rq->opcode)->name,
			(unsigned long long)rq->len, (int)rq->fd);
	return -EIO;
}

static int path_len_check(uint32_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > DISPATCH_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Copy `len` bytes of a path out of the data buffer into dst. */
static void path_copy(const uint8_t *src, uint32_t len, char *dst)
{
	const volatile uint8_t *vsrc = src;
	for (uint32_t i = 0; i < len; i++)
		dst[i] = (char)vsrc[i];
}

/* A copied path must be one NUL-terminated string filling its bytes. */
static int path_valid(const char *p, uint32_t len)
{
	if (p[len - 1] != '\0' || memchr(p, '\0', len - 1) != NULL)
		return -EINVAL;
	return 0;
}

/* Where a path request's relative path starts (ring.h): its fd, or for
 * the second path of RENAME and LINK its mode field; -1 is the root. */
/* The *at flags of the xattr requests; SETXATTR's other bits are its
 * XATTR_CREATE / XATTR_REPLACE. */
#define XATTR_AT_FLAGS ((uint32_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))

static struct fs_at at_of(int32_t fd, uint64_t ino)
{
	if (ino)
		return fs_at_ino(ino);
	return fd == -1 ? FS_AT_ROOT : fs_at_fd(fd);
}

static struct fs_at req_at(const struct request *rq)
{
	return at_of(rq->fd, rq->at_ino);
}

static struct fs_at req_at2(const struct request *rq)
{
	return at_of((int32_t)rq->mode, rq->at2_ino);
}

/* The attribute calls' *at flags. AT_EMPTY_PATH with the empty path and
 * no inode number: the request's fd itself (fchownat(fd, "", ...)). */
static int setattr_req(struct fs_client *c, const struct request *rq, const char *path,
		       struct fs_attr *a)
{
	if (rq->flags & ~(uint32_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (rq->flags & AT_SYMLINK_NOFOLLOW)
		a->valid |= FS_ATTR_NOFOLLOW;
	if ((rq->flags & AT_EMPTY_PATH) && path[0] == '\0' && !rq->at_ino)
		return rq->fd == -1 ? -ENOENT : fs_setattr_fd(c, rq->fd, a);
	return fs_setattrat(c, req_at(rq), path, a);
}

static void stat_to_wire(const struct stat *st, uint32_t gen, struct ank_wire_stat *ws)
{
	memset(ws, 0, sizeof(*ws));
	ws->ino = (uint64_t)st->st_ino;
	ws->size = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev
								 : (uint64_t)st->st_size;
	ws->blocks = (uint64_t)st->st_blocks;
	ws->mode = (uint32_t)st->st_mode;
	ws->nlink = (uint32_t)st->st_nlink;
	ws->uid = (uint32_t)st->st_uid;
	ws->gid = (uint32_t)st->st_gid;
	ws->atime_sec = (int64_t)st->st_atim.tv_sec;
	ws->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	ws->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	ws->atime_nsec = (uint32_t)st->st_atim.tv_nsec;
	ws->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	ws->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	ws->generation = gen;
}

/* READDIR: ask fs_readdir only for as many entries as surely fit in `len`
 * bytes, so none it returns (and skips past) is lost; pack them. */
static int64_t do_readdir(struct server_worker *w, struct fs_client *c, const struct request *rq,
			  uint8_t *data)
{
	int fd = rq->fd;
	uint64_t len = rq->len;
	bool plus = (rq->flags & ANK_READDIR_PLUS) != 0;
	uint64_t max = len / (DISPATCH_DIRENT_MAX + (plus ? sizeof(struct ank_wire_stat) : 0));
	if (max == 0)
		return -EINVAL; /* as getdents64 with a too small buffer */
	if (rq->flags & ~(ANK_READDIR_SEEK | ANK_READDIR_PLUS))
		return -EINVAL;
	if (rq->flags & ANK_READDIR_SEEK) {
		off_t pos = fs_lseek(c, fd, (off_t)rq->off, SEEK_SET);
		if (pos < 0)
			return pos;
	}
	if (max > SERVER_READDIR_MAX)
		max = SERVER_READDIR_MAX;
	int n = fs_readdir(c, fd, w->dirents, (int)max);
	if (n <= 0)
		return n;
	size_t pos = 0;
	for (int k = 0; k < n; k++) {
		const struct fs_dirent *e = &w->dirents[k];
		size_t namelen = strnlen(e->name, sizeof(e->name) - 1);
		uint32_t namerec = ANK_ALIGN_UP((uint32_t)(sizeof(struct ank_wire_dirent) + namelen), 8u);
		uint32_t reclen = namerec + (plus ? (uint32_t)sizeof(struct ank_wire_stat) : 0u);
		struct ank_wire_dirent wd = {
			.ino = e->ino,
			.next = e->next,
			.reclen = (uint16_t)reclen,
			.type = e->type,
			.namelen = (uint8_t)namelen,
		};
		uint8_t *p = data + pos;
		memcpy(p, &wd, sizeof(wd));
		memcpy(p + sizeof(wd), e->name, namelen);
		memset(p + sizeof(wd) + namelen, 0, namerec - sizeof(wd) - namelen);
		if (plus) {
			/* the entry's stat, by its number (zeros: gone meanwhile) */
			struct ank_wire_stat ws;
			struct stat st;
			uint32_t gen = 0;
			if (fs_fstatat_gen(c, fs_at_ino(e->ino), "", &st, AT_SYMLINK_NOFOLLOW, &gen) == 0)
				stat_to_wire(&st, gen, &ws);
			else
				memset(&ws, 0, sizeof(ws));
			memcpy(p + namerec, &ws, sizeof(ws));
		}
		pos += reclen;
	}
	return n;
}

struct fs_attr attr_of_ids(int64_t off)
{
	uint32_t uid = (uint32_t)((uint64_t)off >> 32), gid = (uint32_t)off;
	return (struct fs_attr){.valid = FS_ATTR_CHOWN | (uid != UINT32_MAX ? FS_ATTR_UID : 0) |
					 (gid != UINT32_MAX ? FS_ATTR_GID : 0),
				.uid = uid,
				.gid = gid};
}

struct fs_attr attr_of_times(const struct ank_wire_times *t)
{
	struct fs_attr a = {.valid = FS_ATTR_TIMES | (t->now ? FS_ATTR_TIMES_NOW : 0)};
	if (t->atime_nsec != (uint32_t)UTIME_OMIT) {
		a.valid |= FS_ATTR_ATIME;
		a.atime_sec = t->atime_sec;
		a.atime_nsec = t->atime_nsec;
	}
	if (t->mtime_nsec != (uint32_t)UTIME_OMIT) {
		a.valid |= FS_ATTR_MTIME;
		a.mtime_sec = t->mtime_sec;
		a.mtime_nsec = t->mtime_nsec;
	}
	return a;
}

/* UTIMENS/FUTIMENS: read the times from the ring once, resolve UTIME_NOW
 * (and set `now` when both were) into *ran, which the p-log entry copies
 * (ring.h, struct ank_wire_times); fill *a. A bad nsec goes to the core,
 * which refuses it once the file is found (as Linux orders the errors). */
static int times_resolve(const uint8_t *args, struct fs_attr *a, struct ank_wire_times *ran)
{
	struct ank_wire_times t;
	memcpy(&t, args, sizeof(t));
	if (t.now != 0 || t.zero != 0)
		return -EINVAL;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (t.atime_nsec == (uint32_t)UTIME_NOW && t.mtime_nsec == (uint32_t)UTIME_NOW)
		t.now = 1;
	if (t.atime_nsec == (uint32_t)UTIME_NOW) {
		t.atime_sec = now.tv_sec;
		t.atime_nsec = (uint32_t)now.tv_nsec;
	}
	if (t.mtime_nsec == (uint32_t)UTIME_NOW) {
		t.mtime_sec = now.tv_sec;
		t.mtime_nsec = (uint32_t)now.tv_nsec;
	}
	*a = attr_of_times(&t);
	*ran = t;
	return 0;
}

/* Validate the copied request and run it. Returns the result for the slot;
 * fills *wst and sets *has_st for STAT/FSTAT. */
static int64_t request_run(struct server_worker *w, struct server_ring *r, unsigned i,
			   const struct request *rq, struct ank_wire_stat *wst, bool *has_st,
			   char *path, char *path2, uint32_t *paths_sum, bool *paths_set)
{
	struct fs_client *c = r->client;
	uint8_t *data = ank_ring_data(r->map, i);
	struct stat st;
	int64_t rc;

	rc = request_check(rq);
	if (rc < 0)
		return rc;
	const struct op_info *o = op_info(rq->opcode);
	if (!o)
		return -ENOSYS;
	if (rq->len > ANK_RING_DATA_PER_SLOT)
		return -EINVAL;
	unsigned npaths = o->npaths;
	uint64_t paths_total = 0;
	if (npaths >= 1) {
		rc = path_len_check(rq->path_len);
		if (rc < 0)
			return rc;
		if (npaths == 2) {
			rc = path_len_check(rq->path2_len);
			if (rc < 0)
				return rc;
		}
		uint64_t total = (uint64_t)rq->path_len + (npaths == 2 ? rq->path2_len : 0);
		if (total > ANK_RING_DATA_PER_SLOT)
			return -EINVAL;
		/* The bytes the client summed, copied once, checked, then
		 * validated: damage in the ring gives EIO, not ENOENT. */
		path_copy(data, rq->path_len, path);
		uint32_t sum = crc32c(0, path, rq->path_len);
		if (npaths == 2) {
			path_copy(data + rq->path_len, rq->path2_len, path2);
			sum = crc32c(sum, path2, rq->path2_len);
		}
		if (sum != rq->path_sum) {
			if (say_damage())
				fprintf(stderr, "ananke: server: the paths of a request (opcode "
						"%u) fail their checksum (damaged in the ring); "
						"answering EIO\n",
					rq->opcode);
			return -EIO;
		}
		rc = path_valid(path, rq->path_len);
		if (rc == 0 && npaths == 2)
			rc = path_valid(path2, rq->path2_len);
		if (rc < 0)
			return rc;
		if (__builtin_expect(server_fault_poison != NULL, 0) && !strcmp(path, server_fault_poison))
			abort(); /* fault.c: ANANKE_FAULT_POISON */
		*paths_sum = crc32c(crc32c(0, path, strlen(path)), path2, strlen(path2));
		*paths_set = true;
		paths_total = total;
	}
	/* A request's data follows its paths. */
	uint8_t *args = data + paths_total;
	if (o->data == DATA_IN || o->data == DATA_ARGS || o->data == DATA_QUERY) {
		if (paths_total + rq->len > ANK_RING_DATA_PER_SLOT)
			return -EINVAL;
		rc = data_check(args, rq);
		if (rc < 0)
			return rc;
		if (__builtin_expect(server_fault_point == SERVER_FAULT_WRITE_DAMAGE, 0) &&
		    o->data == DATA_IN && rq->len > 0 && server_fault_due(SERVER_FAULT_WRITE_DAMAGE))
			args[rq->len / 2] ^= 0x20;
	}

	switch (rq->opcode) {
	case ANK_OP_OPEN:
		rc = fs_openat(c, req_at(rq), path, (int)rq->flags, (mode_t)rq->mode);
		if (rc >= 0) {
			/* A restarted server keeps every fd number below fd_high
			 * as stale, so the client never sees a number reused. */
			uint32_t high = (uint32_t)rc + 1;
			if (ank_load_acquire(&r->hdr->fd_high) < high)
				ank_store_release(&r->hdr->fd_high, high);
		}
		return rc;
	case ANK_OP_CLOSE:
		return fs_close(c, rq->fd);
	case ANK_OP_DUP:
		/* a new fd number is below 65536 (as a RLIMIT_NOFILE would
		 * have it: EBADF for dup2's, EINVAL for F_DUPFD's minimum) */
		if (rq->flags & ~ANK_DUP_EXACT)
			return -EINVAL;
		if (rq->off < 0 || rq->off >= 65536)
			return rq->flags & ANK_DUP_EXACT ? -EBADF : -EINVAL;
		rc = fs_dup(c, rq->fd, (int)rq->off, (int)rq->flags);
		if (rc >= 0) { /* (as OPEN: numbers below fd_high stay stale) */
			uint32_t high = (uint32_t)rc + 1;
			if (ank_load_acquire(&r->hdr->fd_high) < high)
				ank_store_release(&r->hdr->fd_high, high);
		}
		return rc;
	case ANK_OP_READ:
		w->read_sum_set = true;
		return fs_read_sum(c, rq->fd, data, (size_t)rq->len, &w->read_sum);
	case ANK_OP_WRITE:
		return fs_write_sum(c, rq->fd, data, (size_t)rq->len, rq->data_sum);
	case ANK_OP_PREAD:
		w->read_sum_set = true;
		return fs_pread_sum(c, rq->fd, data, (size_t)rq->len, (off_t)rq->off, &w->read_sum);
	case ANK_OP_PWRITE:
		return fs_pwrite_sum(c, rq->fd, data, (size_t)rq->len, (off_t)rq->off, rq->data_sum);
	case ANK_OP_LSEEK:
		return fs_lseek(c, rq->fd, (off_t)rq->off, (int)rq->flags);
	case ANK_OP_FSYNC:
		return fs_fsync(c, rq->fd);
	case ANK_OP_FDATASYNC:
		return fs_fdatasync(c, rq->fd);
	case ANK_OP_FTRUNCATE:
		return fs_ftruncate(c, rq->fd, (off_t)rq->off);
	case ANK_OP_TRUNCATE:
		return fs_truncateat(c, req_at(rq), path, (off_t)rq->off);
	case ANK_OP_STAT:
	case ANK_OP_LSTAT:
	case ANK_OP_FSTAT: {
		uint32_t gen = 0;
		rc = rq->opcode == ANK_OP_FSTAT
			     ? fs_fstat_gen(c, rq->fd, &st, &gen)
			     : fs_fstatat_gen(c, req_at(rq), path, &st,
					      (int)rq->flags |
						      (rq->opcode == ANK_OP_LSTAT ? AT_SYMLINK_NOFOLLOW : 0),
					      &gen);
		if (rc == 0) {
			stat_to_wire(&st, gen, wst);
			*has_st = true;
		}
		return rc;
	}
	case ANK_OP_UNLINK:
		return fs_unlinkat(c, req_at(rq), path, 0);
	case ANK_OP_RENAME:
		return fs_renameat2(c, req_at(rq), path, req_at2(rq), path2,
				    rq->flags);
	case ANK_OP_LINK:
		return fs_linkat(c, req_at(rq), path, req_at2(rq), path2,
				 (int)rq->flags);
	case ANK_OP_MKDIR:
		return fs_mkdirat(c, req_at(rq), path, (mode_t)rq->mode);
	case ANK_OP_GETFL:
		return fs_getfl(c, rq->fd);
	case ANK_OP_SETFL:
		return fs_setfl(c, rq->fd, (int)rq->flags);
	case ANK_OP_LOCK: {
		struct ank_wire_lock wl;
		uint32_t cmd = rq->flags & 0xffu, kind = rq->flags >> 8;
		_Static_assert(ANK_LOCK_POSIX == FS_LOCK_POSIX && ANK_LOCK_OFD == FS_LOCK_OFD &&
				       ANK_LOCK_FLOCK == FS_LOCK_FLOCK, "lock kinds on the wire");
		if (rq->len != sizeof(wl) || cmd > ANK_LOCK_SETW || kind > FS_LOCK_FLOCK)
			return -EINVAL;
		memcpy(&wl, args, sizeof(wl));
		struct fs_lock_req lr = {.kind = (uint8_t)kind,
					 .wait = cmd == ANK_LOCK_SETW,
					 .type = wl.type,
					 .whence = wl.whence,
					 .pid_set = wl.pid != 0,
					 .start = wl.start,
					 .len = wl.len};
		uint64_t ofd = locktab_ofd(r, rq->fd);
		if (cmd != ANK_LOCK_GET)
			return fs_setlk(c, rq->fd, &lr, ofd);
		struct fs_lock_info li;
		rc = fs_getlk(c, rq->fd, &lr, ofd, &li);
		if (rc == 0) {
			_Static_assert(sizeof(struct ank_wire_lock) <= sizeof(*wst),
				       "a lock travels in out[] as stat does");
			struct ank_wire_lock ans = wl;
			ans.type = li.type;
			if (li.type != F_UNLCK)
				ans = (struct ank_wire_lock){.start = li.start, .len = li.len,
							     .type = li.type, .whence = SEEK_SET,
							     .pid = li.pid};
			memset(wst, 0, sizeof(*wst));
			memcpy(wst, &ans, sizeof(ans));
			*has_st = true;
		}
		return rc;
	}
	case ANK_OP_FALLOCATE: {
		struct ank_wire_range wr;
		if (rq->len != sizeof(wr))
			return -EINVAL;
		memcpy(&wr, args, sizeof(wr));
		return fs_fallocate(c, rq->fd, (int)rq->flags, (off_t)wr.off, (off_t)wr.len);
	}
	case ANK_OP_MKNOD:
		return fs_mknodat(c, req_at(rq), path, (mode_t)rq->mode, (dev_t)rq->off);
	case ANK_OP_RMDIR:
		return fs_unlinkat(c, req_at(rq), path, AT_REMOVEDIR);
	case ANK_OP_READDIR:
		return do_readdir(w, c, rq, data);
	case ANK_OP_SYNC:
		return fs_sync(w->srv->fs);
	case ANK_OP_CHMOD:
	case ANK_OP_FCHMOD: {
		struct fs_attr a = {.valid = FS_ATTR_MODE, .mode = rq->mode & 07777u};
		if (rq->opcode == ANK_OP_CHMOD)
			return setattr_req(c, rq, path, &a);
		return rq->flags ? -EINVAL : fs_setattr_fd(c, rq->fd, &a);
	}
	case ANK_OP_CHOWN:
	case ANK_OP_FCHOWN: {
		struct fs_attr a = attr_of_ids(rq->off);
		if (rq->opcode == ANK_OP_CHOWN)
			return setattr_req(c, rq, path, &a);
		return rq->flags ? -EINVAL : fs_setattr_fd(c, rq->fd, &a);
	}
	case ANK_OP_UTIMENS:
	case ANK_OP_FUTIMENS: {
		struct fs_attr a;
		if (rq->len != sizeof(struct ank_wire_times) ||
		    (rq->flags & ~(uint32_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) ||
		    (rq->opcode == ANK_OP_FUTIMENS && rq->flags))
			return -EINVAL;
		rc = times_resolve(args, &a, &w->args);
		if (rc < 0)
			return rc;
		return rq->opcode == ANK_OP_UTIMENS ? setattr_req(c, rq, path, &a)
						    : fs_setattr_fd(c, rq->fd, &a);
	}
	case ANK_OP_STATFS:
	case ANK_OP_FSTATFS: {
		struct fs_statfs sf;
		rc = rq->opcode == ANK_OP_STATFS ? fs_statfs_path(c, path, &sf)
						 : fs_statfs_fd(c, rq->fd, &sf);
		if (rc == 0) {
			_Static_assert(sizeof(struct ank_wire_statfs) == sizeof(*wst),
				       "statfs travels in out[] as stat does");
			struct ank_wire_statfs ws = {.blocks = sf.blocks,
						     .bfree = sf.bfree,
						     .files = sf.files,
						     .ffree = sf.ffree,
						     .bsize = sf.bsize,
						     .namelen = sf.namelen,
						     .flags = sf.read_only ? ANK_STATFS_RDONLY : 0};
			memcpy(wst, &ws, sizeof(ws));
			*has_st = true;
		}
		return rc;
	}
	case ANK_OP_ACCESS:
		return fs_faccessat(c, req_at(rq), path, (int)rq->mode, (int)rq->flags);
	case ANK_OP_SYMLINK:
		/* the target: 1 to PATH_MAX - 1 bytes, no NUL among them */
		if (rq->len == 0)
			return -ENOENT;
		if (rq->len >= PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(w->target, args, (size_t)rq->len);
		w->target[rq->len] = '\0';
		if (strlen(w->target) != rq->len)
			return -EINVAL;
		return fs_symlinkat(c, w->target, req_at(rq), path);
	case ANK_OP_READLINK:
		/* the answer goes after the path, which a request run again
		 * after a crash must still find intact */
		if (paths_total + rq->len > ANK_RING_DATA_PER_SLOT)
			return -EINVAL;
		return fs_readlinkat(c, req_at(rq), path, (char *)data + paths_total,
				     (size_t)rq->len);
	case ANK_OP_SETXATTR: {
		int at_flags = (int)(rq->flags & XATTR_AT_FLAGS);
		if (rq->len > sizeof(w->xvalue))
			return -E2BIG;
		memcpy(w->xvalue, args, (size_t)rq->len);
		if (crc32c(0, w->xvalue, (size_t)rq->len) != rq->data_sum)
			return -EIO; /* changed in the ring since data_check */
		return fs_setxattrat(c, req_at(rq), path, at_flags, path2, w->xvalue,
				     (size_t)rq->len, (int)(rq->flags & ~(uint32_t)XATTR_AT_FLAGS));
	}
	case ANK_OP_GETXATTR:
	case ANK_OP_LISTXATTR:
		/* (the answer after the paths, as READLINK's) */
		if (paths_total + rq->len > ANK_RING_DATA_PER_SLOT)
			return -EINVAL;
		return rq->opcode == ANK_OP_GETXATTR
			       ? fs_getxattrat(c, req_at(rq), path, (int)rq->flags, path2,
					       data + paths_total, (size_t)rq->len)
			       : fs_listxattrat(c, req_at(rq), path, (int)rq->flags,
						(char *)data + paths_total, (size_t)rq->len);
	case ANK_OP_REMOVEXATTR:
		return fs_removexattrat(c, req_at(rq), path, (int)rq->flags, path2);
	default:
		return -ENOSYS;
	}
}

/* A path request addressed by inode number (the front door) that made or
 * changed an object answers that object's stat in out[] (ring.h), which
 * saves the front door a request per create, open and attribute change.
 * Taken after the call's stamp was saved, so that it is logged as itself. */
static bool answer_stat(struct fs_client *c, const struct request *rq, const char *path,
			const char *path2, int64_t result, struct ank_wire_stat *wst)
{
	struct stat st;
	uint32_t gen = 0;
	int rc;
	const struct op_info *o = op_info(rq->opcode);
	if (!o || !o->stat)
		return false;
	switch (o->object) {
	case OBJ_FD: /* (open: the fd it returned) */
		rc = fs_fstat_gen(c, (int)result, &st, &gen);
		break;
	case OBJ_NEW:
		rc = fs_fstatat_gen(c, req_at(rq), path, &st, AT_SYMLINK_NOFOLLOW, &gen);
		break;
	case OBJ_LINKED:
		rc = fs_fstatat_gen(c, req_at2(rq), path2, &st, AT_SYMLINK_NOFOLLOW, &gen);
		break;
	case OBJ_NAMED: /* (chmod, chown, utimensat, truncate) */
		rc = fs_fstatat_gen(c, req_at(rq), path, &st,
				    (int)(rq->flags & AT_SYMLINK_NOFOLLOW), &gen);
		break;
	default:
		return false;
	}
	if (rc < 0)
		memset(wst, 0, sizeof(*wst)); /* (gone meanwhile: ino 0 says "ask") */
	else
		stat_to_wire(&st, gen, wst);
	return true;
}

void dispatch_complete(void *ring, unsigned i, int64_t result)
{
	struct ank_ring_slot *slot = ank_ring_slot(ring, i);
	slot->result = result;
	/* The client checks what it copies out against this (ring.h). */
	uint8_t out[sizeof(slot->out)];
	memcpy(out, slot->out, sizeof(out));
	slot->result_sum = ank_result_sum(result, out, slot->reply_sum);
	if (__builtin_expect(server_fault_point == SERVER_FAULT_RESULT_DAMAGE, 0) &&
	    slot->opcode == ANK_OP_PREAD && result > 0 &&
	    server_fault_due(SERVER_FAULT_RESULT_DAMAGE))
		slot->result ^= 1; /* after its checksum, as a stray write could */
	/* Publish: the client reads result/out/data after its acquire of DONE. */
	ank_store_release(&slot->state, ANK_SLOT_DONE);
	/* The client sets `waiting`, fences, then re-checks state before it
	 * sleeps; the fence here pairs with that one so that either it sees
	 * DONE or we see `waiting` (no lost wake-up). */
	ank_full_barrier();
	if (ank_load_acquire(&slot->waiting))
		ank_futex_wake(&slot->state);
}

void dispatch_request(struct server_worker *w, struct server_ring *r, unsigned i)
{
	struct ank_ring_slot *slot = ank_ring_slot(r->map, i);
	struct request rq;
	struct ank_wire_stat wst;
	bool has_st = false;

	char path[DISPATCH_PATH_MAX], path2[DISPATCH_PATH_MAX];

	server_ring_check(r);
	request_copy(slot, &rq);
	path[0] = path2[0] = '\0';
	/* The request and its paths live on this thread's stack while the call
	 * runs: a stray write there must not make it act on other arguments
	 * and answer as if all were well. Their checksums are taken now and
	 * checked before anything is logged or answered; the result is kept
	 * twice. A mismatch stops the server: the request was neither logged
	 * nor answered, so the next server runs it again from the ring. */
	uint32_t rq_sum = crc32c(0, &rq, sizeof(rq)), paths_sum = 0;
	bool paths_set = false; /* (a request refused before its paths were copied has none) */
	server_fault(SERVER_FAULT_HANG);
	w->read_sum_set = false;
	const struct recovery_mode *m = w->srv->mode;
	if (m->before_run)
		m->before_run(w, &rq);
	/* Acting as another user: for root and the service's owner only (the
	 * front door of a user's mount, on behalf of the kernel's caller). */
	int64_t result;
	if (rq.as_set && request_check(&rq) == 0 && r->uid != 0 && r->uid != w->srv->owner_uid) {
		result = -EPERM;
	} else {
		if (rq.as_set)
			fs_act_as(rq.as_uid, rq.as_gid);
		result = request_run(w, r, i, &rq, &wst, &has_st, path, path2, &paths_sum,
				     &paths_set);
		if (rq.as_set)
			fs_act_as_end();
	}
	int64_t result_copy = ~result;
	if (m->after_run) {
		int64_t after = m->after_run(w, r, &rq, result);
		if (after != result) /* (sync: the effect could not be made durable) */
			result_copy = ~after;
		result = after;
	}
	if (result >= 0 && rq.at_ino && !has_st)
		has_st = answer_stat(r->client, &rq, path, path2, result, &wst);
	if (has_st)
		memcpy(slot->out, &wst, sizeof(wst));
	/* The client checks the bytes it copies out against this. */
	const struct op_info *o = op_info(rq.opcode);
	/* An answer's bytes follow the request's paths (validated in
	 * request_run when the call has paths; none for read and pread). */
	uint64_t out_off = o && o->npaths >= 1 ? (uint64_t)rq.path_len +
							 (o->npaths == 2 ? rq.path2_len : 0)
					     : 0;
	if (o && o->data == DATA_OUT && result >= 0 && (uint64_t)result <= rq.len &&
	    out_off + (uint64_t)result <= ANK_RING_DATA_PER_SLOT) {
		uint8_t *data = ank_ring_data(r->map, i) + out_off;
		if (__builtin_expect(server_fault_point == SERVER_FAULT_REPLY_DAMAGE, 0) &&
		    w->read_sum_set && result > 0 && server_fault_due(SERVER_FAULT_REPLY_DAMAGE))
			data[result / 2] ^= 0x10;
		/* A read's sum comes from the page cache, not from the ring:
		 * bytes damaged after they left the cache are caught. */
		slot->reply_sum = w->read_sum_set ? w->read_sum : crc32c(0, data, (size_t)result);
	}
	if (crc32c(0, &rq, sizeof(rq)) != rq_sum ||
	    (paths_set && crc32c(crc32c(0, path, strlen(path)), path2, strlen(path2)) != paths_sum) ||
	    result != ~result_copy) {
		fprintf(stderr, "ananke: server: a request's arguments or result changed while it "
				"ran (memory corruption); stopping before it is logged or answered\n");
		abort();
	}
	uint64_t id = m->record ? m->record(w, r, i, &rq, path, path2, result) : PLOG_ID_NONE;
	if (__builtin_expect(server_fault_point == SERVER_FAULT_RING_ID_DAMAGE, 0) &&
	    server_fault_due(SERVER_FAULT_RING_ID_DAMAGE))
		r->client_id ^= 1u << 3;
	dispatch_complete(r->map, i, result);
	if (m->answered)
		m->answered(w, id);
	/* Advisory counter; the stats page is shared memory, 64-bit wide, so
	 * a plain atomic add (barrier.h only has 32-bit words). */
	__atomic_fetch_add(&w->srv->stats->ops[w->index], 1, __ATOMIC_RELAXED);
}

unsigned dispatch_fail_pending(void *ring, int64_t result)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		struct ank_ring_slot *slot = ank_ring_slot(ring, i);
		uint32_t state = ank_load_acquire(&slot->state);
		if (state == ANK_SLOT_SUBMITTED) {
			/* The client might retract it meanwhile (hostile only). */
			if (!ank_cas(&slot->state, ANK_SLOT_SUBMITTED, ANK_SLOT_SERVER))
				continue;
		} else if (state != ANK_SLOT_SERVER) {
			continue;
		}
		dispatch_complete(ring, i, result);
		n++;
	}
	return n;
}
