/*
 * frontdoor.c - the FUSE front door: unmodified programs reach the service
 * through a FUSE mount. This process speaks the kernel's FUSE protocol on
 * /dev/fuse and turns each request into ring requests of its own
 * libananke connection, addressing objects by inode number (ring.h,
 * at_ino). See docs/DESIGN.md, "The FUSE front door".
 *
 * Why its own process: the kernel's state of the mount (the connection,
 * the INIT outcome, nodeids, open handles) lives here and in the kernel,
 * never in the file system server. A server crash is invisible to the
 * kernel: the front door's requests wait in their ring slots while the
 * standby recovers, and the p-log gives them exactly-once execution as it
 * does for every libananke client. Nothing of the connection has to be
 * rebuilt, re-sent or deduplicated.
 *
 * The mapping is stateless: a nodeid is the inode number (the root is 1
 * on both sides), its generation the inode's generation; a file handle is
 * the front door's fd on the service (which recovery rebuilds); a readdir
 * cookie is the directory position after the entry (fs.h, struct
 * fs_dirent: stable across crashes). Lookup counts need no table: inode
 * numbers are the nodeids whatever the kernel holds.
 *
 * The raw protocol, not libfuse: Debian's libfuse 3.14 negotiates protocol
 * 7.31 at most and owns the session loop; the protocol is about forty
 * fixed structs (<linux/fuse.h>).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../client/client.h"
#include "../ipc/ring.h"
#include "frontdoor.h"
#include "fusermount.h"

/* Largest READ/WRITE payload: one ring slot's data (1 MiB), which is
 * also FUSE's max_pages (256) pages. */
#define FD_MAX_IO ANK_RING_DATA_PER_SLOT
/* A request buffer must hold the largest WRITE and its headers. */
#define FD_BUF_SIZE (FD_MAX_IO + 64 * 1024)

static int g_fuse = -1;
static struct frontdoor_options g_opt;
static volatile int g_stop;
static uint32_t g_minor;

/* ---- ring calls ---------------------------------------------------------- */

/* The service went away for good (its supervisor ended): nothing this
 * mount could answer would be true any more. Unmount it (lazily: programs
 * inside keep their cwd) and exit: closing /dev/fuse aborts the connection,
 * so every request in flight ends with ENOTCONN and nothing hangs. */
static void service_gone(void)
{
	static int once;
	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		for (;;)
			pause(); /* (the first thread is exiting the process) */
	fprintf(stderr, "ananke-fuse: the service is gone; unmounting %s\n",
		g_opt.mountpoint ? g_opt.mountpoint : "the mount");
	if (g_opt.mountpoint && geteuid() == 0)
		umount2(g_opt.mountpoint, MNT_DETACH);
	else if (g_opt.mountpoint) /* (umount2(2) is root's) */
		fusermount_unmount("ananke-fuse", g_opt.mountpoint, 1);
	_exit(1);
}

/* A front door that is not root (a user's mount) cannot give a new object
 * to the caller with chown, nor have the service check permissions as
 * the caller: each of its calls names the kernel's caller (ring.h as_set),
 * which the service allows its owner. Root's front door keeps its own
 * credentials and gives new objects away (give_to_caller). */
static bool g_act_as;
static _Thread_local const struct fuse_in_header *t_caller; /* the request served */

static int64_t call(struct ankc_req *rq)
{
	if (g_act_as && t_caller) {
		rq->as_set = 1;
		rq->as_uid = t_caller->uid;
		rq->as_gid = t_caller->gid;
	}
	if (ankc_enter() < 0) {
		if (errno == EIO)
			service_gone();
		return -errno;
	}
	int64_t r = ankc_call(rq);
	ankc_leave();
	if (r == -EIO) { /* lost with the service, or one damaged answer? */
		if (ankc_enter() < 0) {
			if (errno == EIO)
				service_gone();
		} else {
			ankc_leave();
		}
	}
	return r;
}

static void set_path(struct ankc_req *rq, const char *p)
{
	rq->path = p;
	rq->path_len = strlen(p) + 1;
}

static void set_path2(struct ankc_req *rq, const char *p)
{
	rq->path2 = p;
	rq->path2_len = strlen(p) + 1;
}

/* stat of `name` in directory `dir` (name "": the inode dir itself), a
 * final symbolic link not followed. */
static int stat_at(uint64_t dir, const char *name, struct ank_wire_stat *w)
{
	struct ankc_req rq = {.opcode = ANK_OP_LSTAT, .fd = -1, .at_ino = dir, .out = w};
	set_path(&rq, name);
	return (int)call(&rq);
}

static int fstat_fd(int fd, struct ank_wire_stat *w)
{
	struct ankc_req rq = {.opcode = ANK_OP_FSTAT, .fd = fd, .out = w};
	return (int)call(&rq);
}

/* ---- replies ------------------------------------------------------------- */

static __thread uint32_t t_opcode; /* the request being answered, for the trace */
static bool g_trace; /* $ANANKE_FUSE_TRACE: every error answered, on stderr */
static bool g_trace_all; /* $ANANKE_FUSE_TRACE=2: every request too */

static void reply(uint64_t unique, int err, const void *a, size_t alen, const void *b, size_t blen)
{
	if (err && g_trace)
		fprintf(stderr, "ananke-fuse: opcode %u answered %s\n", t_opcode, strerror(-err));
	struct fuse_out_header oh = {.len = (uint32_t)(sizeof(oh) + (err ? 0 : alen + blen)),
				     .error = err,
				     .unique = unique};
	struct iovec iov[3] = {{&oh, sizeof(oh)}, {(void *)a, alen}, {(void *)b, blen}};
	int n = err ? 1 : 3;
	ssize_t w = writev(g_fuse, iov, n);
	/* ENOENT: the request was interrupted and is gone; anything else
	 * means the connection is going away. Nothing to do either way. */
	(void)w;
}

static void reply_err(uint64_t unique, int negerr)
{
	reply(unique, negerr, NULL, 0, NULL, 0);
}

/* Linux's 32-bit device encoding (FUSE's attr.rdev and MKNOD's rdev). */
static uint32_t dev_encode(uint64_t d)
{
	uint32_t ma = major((dev_t)d), mi = minor((dev_t)d);
	return (mi & 0xffu) | (ma << 8) | ((mi & ~0xffu) << 12);
}

static uint64_t dev_decode(uint32_t d)
{
	unsigned ma = (d & 0xfff00u) >> 8, mi = (d & 0xffu) | ((d >> 12) & 0xfff00u);
	return (uint64_t)makedev(ma, mi);
}

static void wire_to_attr(const struct ank_wire_stat *w, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	bool dev = S_ISCHR(w->mode) || S_ISBLK(w->mode);
	a->ino = w->ino;
	a->size = dev ? 0 : w->size;
	a->blocks = w->blocks;
	a->atime = (uint64_t)w->atime_sec;
	a->mtime = (uint64_t)w->mtime_sec;
	a->ctime = (uint64_t)w->ctime_sec;
	a->atimensec = w->atime_nsec;
	a->mtimensec = w->mtime_nsec;
	a->ctimensec = w->ctime_nsec;
	a->mode = w->mode;
	a->nlink = w->nlink;
	a->uid = w->uid;
	a->gid = w->gid;
	a->rdev = dev ? dev_encode(w->size) : 0;
	a->blksize = 4096;
}

static void split_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
}

static void fill_entry(const struct ank_wire_stat *w, struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = w->ino;
	e->generation = w->generation;
	split_timeout(g_opt.entry_timeout, &e->entry_valid, &e->entry_valid_nsec);
	split_timeout(g_opt.attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
	wire_to_attr(w, &e->attr);
}

static void reply_entry(uint64_t unique, const struct ank_wire_stat *w)
{
	struct fuse_entry_out e;
	fill_entry(w, &e);
	reply(unique, 0, &e, sizeof(e), NULL, 0);
}

static void reply_attr(uint64_t unique, const struct ank_wire_stat *w)
{
	struct fuse_attr_out ao;
	memset(&ao, 0, sizeof(ao));
	split_timeout(g_opt.attr_timeout, &ao.attr_valid, &ao.attr_valid_nsec);
	wire_to_attr(w, &ao.attr);
	reply(unique, 0, &ao, sizeof(ao), NULL, 0);
}

/* ---- ownership of new objects ---------------------------------------------- */

/* The front door runs as root on the service; the kernel checks
 * permissions (default_permissions). A new object is given to the caller:
 * its uid, and its gid unless the directory is set-group-id (then the
 * directory's group, which the service already gave it). `name` in `dir`,
 * or fd >= 0. */
static int give_to_caller(const struct fuse_in_header *h, uint64_t dir, const char *name,
			  struct ank_wire_stat *w)
{
	if ((h->uid == 0 && h->gid == 0) || g_act_as)
		return 0; /* (made as the caller already) */
	uint32_t gid = h->gid;
	struct ank_wire_stat ds;
	if (stat_at(dir, "", &ds) == 0 && (ds.mode & S_ISGID))
		gid = UINT32_MAX;
	struct ankc_req rq = {.opcode = ANK_OP_CHOWN, .fd = -1, .at_ino = dir,
			      .flags = AT_SYMLINK_NOFOLLOW, .out = w,
			      .off = (int64_t)(((uint64_t)h->uid << 32) | gid)};
	set_path(&rq, name);
	return (int)call(&rq);
}

/* After a create whose answer put the new object's stat in *w (ino 0: it
 * did not): chown to the caller, then the entry. A chown clears
 * S_ISUID/S_ISGID of a non-directory; a mode that asked for them gets them
 * back (the kernel already decided the caller may have them). 0, or the
 * error to answer. */
static int finish_new(const struct fuse_in_header *h, uint64_t dir, const char *name,
		      uint32_t mode, struct ank_wire_stat *w)
{
	int rc = give_to_caller(h, dir, name, w);
	if (rc == 0 && (mode & (S_ISUID | S_ISGID)) && !S_ISDIR(mode) && !S_ISLNK(mode) &&
	    (h->uid || h->gid) && !g_act_as) {
		struct ankc_req rq = {.opcode = ANK_OP_CHMOD, .fd = -1, .at_ino = dir,
				      .flags = AT_SYMLINK_NOFOLLOW, .mode = mode & 07777u,
				      .out = w};
		set_path(&rq, name);
		rc = (int)call(&rq);
	}
	if (rc == 0 && w->ino == 0)
		rc = stat_at(dir, name, w);
	return rc;
}

static void reply_new(const struct fuse_in_header *h, uint64_t dir, const char *name, uint32_t mode,
		      int rc, struct ank_wire_stat *w)
{
	if (rc >= 0)
		rc = finish_new(h, dir, name, mode, w);
	if (rc < 0)
		reply_err(h->unique, rc);
	else
		reply_entry(h->unique, w);
}

/* ---- the operations ------------------------------------------------------ */

static void op_init(const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_init_in *in = arg;
	struct fuse_init_out out;
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	if (in->major < 7) {
		reply_err(h->unique, -EPROTO);
		return;
	}
	if (in->major > 7) { /* the kernel will ask again with 7 */
		reply(h->unique, 0, &out, sizeof(out), NULL, 0);
		return;
	}
	g_minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	out.minor = g_minor;
	out.max_readahead = in->max_readahead;
	uint32_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS |
			FUSE_AUTO_INVAL_DATA | FUSE_ASYNC_DIO | FUSE_CACHE_SYMLINKS |
			FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO;
	if (!g_opt.readdirplus)
		want &= ~(uint32_t)(FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO);
	if (g_opt.writeback)
		want |= FUSE_WRITEBACK_CACHE;
	out.flags = in->flags & want;
	if (g_trace)
		fprintf(stderr, "ananke-fuse: INIT 7.%u, kernel flags %#x, ours %#x\n", in->minor, in->flags, out.flags);
	out.max_background = 64;
	out.congestion_threshold = 48;
	out.max_write = FD_MAX_IO;
	out.time_gran = 1;
	out.max_pages = (uint16_t)(FD_MAX_IO / 4096);
	size_t len = g_minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out);
	reply(h->unique, 0, &out, len, NULL, 0);
}

static void op_lookup(const struct fuse_in_header *h, const char *name)
{
	struct ank_wire_stat w;
	int rc = stat_at(h->nodeid, name, &w);
	if (rc == -ENOENT && g_opt.entry_timeout > 0) {
		/* a negative entry (nodeid 0) the kernel may keep as long as a
		 * positive one: a program probing for files that are not there
		 * (a compiler's include path, git, sqlite's journal) asks once */
		struct fuse_entry_out e;
		memset(&e, 0, sizeof(e));
		split_timeout(g_opt.entry_timeout, &e.entry_valid, &e.entry_valid_nsec);
		reply(h->unique, 0, &e, sizeof(e), NULL, 0);
	} else if (rc < 0) {
		reply_err(h->unique, rc);
	} else {
		reply_entry(h->unique, &w);
	}
}

static void op_getattr(const struct fuse_in_header *h, const struct fuse_getattr_in *in)
{
	struct ank_wire_stat w;
	int rc = (in->getattr_flags & FUSE_GETATTR_FH) ? fstat_fd((int)in->fh, &w)
						       : stat_at(h->nodeid, "", &w);
	if (rc == -EBADF)
		rc = stat_at(h->nodeid, "", &w);
	if (rc < 0)
		reply_err(h->unique, rc);
	else
		reply_attr(h->unique, &w);
}

static void op_setattr(const struct fuse_in_header *h, const struct fuse_setattr_in *in)
{
	/* Each call answers the inode's stat after it (ring.h, out[]); the
	 * last one's is the reply. The kernel checked the permissions (the
	 * size by inode also when the caller truncates an open file). */
	uint64_t ino = h->nodeid;
	struct ank_wire_stat w = {0};
	int rc = 0;
	if (in->valid & FATTR_SIZE) {
		struct ankc_req rq = {.opcode = ANK_OP_TRUNCATE, .fd = -1, .at_ino = ino,
				      .off = (int64_t)in->size, .out = &w};
		set_path(&rq, "");
		rc = (int)call(&rq);
	}
	if (rc == 0 && (in->valid & (FATTR_UID | FATTR_GID))) {
		uint32_t uid = (in->valid & FATTR_UID) ? in->uid : UINT32_MAX;
		uint32_t gid = (in->valid & FATTR_GID) ? in->gid : UINT32_MAX;
		struct ankc_req rq = {.opcode = ANK_OP_CHOWN, .fd = -1, .at_ino = ino, .out = &w,
				      .off = (int64_t)(((uint64_t)uid << 32) | gid)};
		set_path(&rq, "");
		rc = (int)call(&rq);
	}
	if (rc == 0 && (in->valid & FATTR_MODE)) {
		struct ankc_req rq = {.opcode = ANK_OP_CHMOD, .fd = -1, .at_ino = ino, .out = &w,
				      .mode = in->mode & 07777u};
		set_path(&rq, "");
		rc = (int)call(&rq);
	}
	if (rc == 0 && (in->valid & (FATTR_ATIME | FATTR_MTIME))) {
		struct ank_wire_times t = {.atime_nsec = (uint32_t)UTIME_OMIT,
					   .mtime_nsec = (uint32_t)UTIME_OMIT};
		if (in->valid & FATTR_ATIME) {
			t.atime_sec = (int64_t)in->atime;
			t.atime_nsec = (in->valid & FATTR_ATIME_NOW) ? (uint32_t)UTIME_NOW
								     : in->atimensec;
		}
		if (in->valid & FATTR_MTIME) {
			t.mtime_sec = (int64_t)in->mtime;
			t.mtime_nsec = (in->valid & FATTR_MTIME_NOW) ? (uint32_t)UTIME_NOW
								     : in->mtimensec;
		}
		struct ankc_req rq = {.opcode = ANK_OP_UTIMENS, .fd = -1, .at_ino = ino, .out = &w,
				      .wdata = &t, .len = sizeof(t)};
		set_path(&rq, "");
		rc = (int)call(&rq);
	}
	if (rc == 0 && w.ino == 0)
		rc = stat_at(ino, "", &w);
	if (rc < 0)
		reply_err(h->unique, rc);
	else
		reply_attr(h->unique, &w);
}

static void op_readlink(const struct fuse_in_header *h, char *buf)
{
	struct ankc_req rq = {.opcode = ANK_OP_READLINK, .fd = -1, .at_ino = h->nodeid,
			      .len = PATH_MAX, .rdata = buf, .rdata_cap = PATH_MAX};
	set_path(&rq, "");
	int64_t n = call(&rq);
	if (n < 0)
		reply_err(h->unique, (int)n);
	else
		reply(h->unique, 0, buf, (size_t)n, NULL, 0);
}

static void op_mknod(const struct fuse_in_header *h, const struct fuse_mknod_in *in,
		     const char *name)
{
	struct ank_wire_stat w = {0};
	struct ankc_req rq = {.opcode = ANK_OP_MKNOD, .fd = -1, .at_ino = h->nodeid, .out = &w,
			      .mode = in->mode, .off = (int64_t)dev_decode(in->rdev)};
	set_path(&rq, name);
	reply_new(h, h->nodeid, name, in->mode, (int)call(&rq), &w);
}

static void op_mkdir(const struct fuse_in_header *h, const struct fuse_mkdir_in *in,
		     const char *name)
{
	struct ank_wire_stat w = {0};
	struct ankc_req rq = {.opcode = ANK_OP_MKDIR, .fd = -1, .at_ino = h->nodeid, .out = &w,
			      .mode = in->mode & 07777u};
	set_path(&rq, name);
	reply_new(h, h->nodeid, name, S_IFDIR | in->mode, (int)call(&rq), &w);
}

static void op_symlink(const struct fuse_in_header *h, const char *name, const char *target)
{
	struct ank_wire_stat w = {0};
	struct ankc_req rq = {.opcode = ANK_OP_SYMLINK, .fd = -1, .at_ino = h->nodeid, .out = &w,
			      .wdata = target, .len = strlen(target)};
	set_path(&rq, name);
	reply_new(h, h->nodeid, name, S_IFLNK | 0777, (int)call(&rq), &w);
}

static void op_unlink(const struct fuse_in_header *h, const char *name, bool dir)
{
	struct ankc_req rq = {.opcode = dir ? ANK_OP_RMDIR : ANK_OP_UNLINK, .fd = -1,
			      .at_ino = h->nodeid};
	set_path(&rq, name);
	reply_err(h->unique, (int)call(&rq));
}

static void op_rename(const struct fuse_in_header *h, uint64_t newdir, uint32_t flags,
		      const char *from, const char *to)
{
	if (flags & RENAME_WHITEOUT) {
		reply_err(h->unique, -EINVAL);
		return;
	}
	struct ankc_req rq = {.opcode = ANK_OP_RENAME, .fd = -1, .mode = (uint32_t)-1,
			      .at_ino = h->nodeid, .at2_ino = newdir, .flags = flags};
	set_path(&rq, from);
	set_path2(&rq, to);
	reply_err(h->unique, (int)call(&rq));
}

static void op_link(const struct fuse_in_header *h, const struct fuse_link_in *in,
		    const char *name)
{
	struct ank_wire_stat w = {0};
	struct ankc_req rq = {.opcode = ANK_OP_LINK, .fd = -1, .mode = (uint32_t)-1,
			      .at_ino = in->oldnodeid, .at2_ino = h->nodeid,
			      .flags = AT_EMPTY_PATH, .out = &w};
	set_path(&rq, "");
	set_path2(&rq, name);
	int rc = (int)call(&rq);
	if (rc == 0 && w.ino == 0)
		rc = stat_at(h->nodeid, name, &w);
	if (rc < 0)
		reply_err(h->unique, rc);
	else
		reply_entry(h->unique, &w);
}

/* The open flags the service is given: the access mode only. The kernel
 * gives every write its offset (O_APPEND included), truncates with
 * SETATTR, and has checked the permissions. */
static int open_ino(uint64_t ino, uint32_t flags, bool dir)
{
	uint32_t acc = flags & O_ACCMODE;
	if (g_opt.writeback && acc == O_WRONLY)
		acc = O_RDWR; /* the kernel reads through any handle to fill a page */
	struct ankc_req rq = {.opcode = ANK_OP_OPEN, .fd = -1, .at_ino = ino,
			      .flags = dir ? (uint32_t)(O_RDONLY | O_DIRECTORY) : acc};
	set_path(&rq, "");
	return (int)call(&rq);
}

static void op_open(const struct fuse_in_header *h, const struct fuse_open_in *in, bool dir)
{
	int fd = open_ino(h->nodeid, in->flags, dir);
	if (fd < 0) {
		reply_err(h->unique, fd);
		return;
	}
	struct fuse_open_out out = {.fh = (uint64_t)fd};
	if (!dir && g_opt.keep_cache)
		out.open_flags |= FOPEN_KEEP_CACHE;
	reply(h->unique, 0, &out, sizeof(out), NULL, 0);
}

static void close_fd(uint64_t fh)
{
	struct ankc_req rq = {.opcode = ANK_OP_CLOSE, .fd = (int32_t)fh};
	(void)call(&rq);
}

static void op_create(const struct fuse_in_header *h, const struct fuse_create_in *in,
		      const char *name)
{
	uint32_t acc = in->flags & O_ACCMODE;
	if (g_opt.writeback && acc == O_WRONLY)
		acc = O_RDWR; /* (as open_ino) */
	struct ank_wire_stat w = {0};
	struct ankc_req rq = {.opcode = ANK_OP_OPEN, .fd = -1, .at_ino = h->nodeid, .out = &w,
			      .flags = acc | O_CREAT | O_EXCL, .mode = in->mode & 07777u};
	set_path(&rq, name);
	int fd = (int)call(&rq);
	bool created = fd >= 0;
	if (fd == -EEXIST && !(in->flags & O_EXCL)) {
		/* it appeared since the kernel's lookup: open it as open(2) would */
		rq.flags = acc | (in->flags & O_TRUNC);
		fd = (int)call(&rq);
	}
	if (fd < 0) {
		reply_err(h->unique, fd);
		return;
	}
	int rc = created ? finish_new(h, h->nodeid, name, S_IFREG | in->mode, &w) : 0;
	if (rc == 0 && w.ino == 0)
		rc = fstat_fd(fd, &w);
	if (rc < 0) {
		close_fd((uint64_t)fd);
		reply_err(h->unique, rc);
		return;
	}
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	memset(&out, 0, sizeof(out));
	fill_entry(&w, &out.e);
	out.o.fh = (uint64_t)fd;
	reply(h->unique, 0, &out, sizeof(out), NULL, 0);
}

static void op_read(const struct fuse_in_header *h, const struct fuse_read_in *in, void *buf)
{
	size_t n = in->size < FD_MAX_IO ? in->size : FD_MAX_IO;
	struct ankc_req rq = {.opcode = ANK_OP_PREAD, .fd = (int32_t)in->fh, .len = n,
			      .off = (int64_t)in->offset, .rdata = buf, .rdata_cap = n};
	int64_t r = call(&rq);
	if (r < 0)
		reply_err(h->unique, (int)r);
	else
		reply(h->unique, 0, buf, (size_t)r, NULL, 0);
}

static void op_write(const struct fuse_in_header *h, const struct fuse_write_in *in,
		     const void *data, size_t avail)
{
	if (in->size > avail || in->size > FD_MAX_IO) {
		reply_err(h->unique, -EINVAL);
		return;
	}
	struct ankc_req rq = {.opcode = ANK_OP_PWRITE, .fd = (int32_t)in->fh, .len = in->size,
			      .off = (int64_t)in->offset, .wdata = data};
	int64_t r = call(&rq);
	if (r < 0) {
		reply_err(h->unique, (int)r);
		return;
	}
	struct fuse_write_out out = {.size = (uint32_t)r};
	reply(h->unique, 0, &out, sizeof(out), NULL, 0);
}

static void op_fsync(const struct fuse_in_header *h, const struct fuse_fsync_in *in)
{
	struct ankc_req rq = {.opcode = (in->fsync_flags & 1) ? ANK_OP_FDATASYNC : ANK_OP_FSYNC,
			      .fd = (int32_t)in->fh};
	reply_err(h->unique, (int)call(&rq));
}

/* READDIR and READDIRPLUS from position `in->offset` (a cookie: the
 * position after the last entry the kernel took). */
static void op_readdir(const struct fuse_in_header *h, const struct fuse_read_in *in, bool plus,
		       uint8_t *wire, uint8_t *out)
{
	size_t cap = in->size < FD_MAX_IO ? in->size : FD_MAX_IO;
	/* ask for about as many entries as fit (a FUSE entry is a little
	 * larger than a wire one; what does not fit is asked again), with
	 * their stats for READDIRPLUS */
	uint64_t ask = cap < 4096 ? 4096 : cap;
	struct ankc_req rq = {.opcode = ANK_OP_READDIR, .fd = (int32_t)in->fh, .len = ask,
			      .flags = ANK_READDIR_SEEK | (plus ? ANK_READDIR_PLUS : 0u),
			      .off = (int64_t)in->offset,
			      .rdata = wire, .rdata_cap = ask, .rdata_all = 1};
	int64_t n = call(&rq);
	if (n < 0) {
		reply_err(h->unique, (int)n);
		return;
	}
	size_t pos = 0, used = 0;
	for (int64_t k = 0; k < n; k++) {
		struct ank_wire_dirent wd;
		if (pos + sizeof(wd) > ask)
			break;
		memcpy(&wd, wire + pos, sizeof(wd));
		size_t namerec = (sizeof(wd) + wd.namelen + 7) & ~(size_t)7;
		if (wd.reclen < namerec + (plus ? sizeof(struct ank_wire_stat) : 0) ||
		    pos + wd.reclen > ask)
			break;
		const char *name = (const char *)wire + pos + sizeof(wd);
		struct ank_wire_stat w;
		if (plus)
			memcpy(&w, wire + pos + namerec, sizeof(w));
		pos += wd.reclen;
		size_t ent = plus ? FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){
					    .dirent = {.namelen = wd.namelen}})
				  : FUSE_DIRENT_SIZE(&(struct fuse_dirent){.namelen = wd.namelen});
		if (used + ent > cap)
			break;
		struct fuse_dirent *d;
		if (plus) {
			struct fuse_direntplus *dp = (struct fuse_direntplus *)(out + used);
			memset(dp, 0, ent);
			bool dot = (wd.namelen == 1 && name[0] == '.') ||
				   (wd.namelen == 2 && name[0] == '.' && name[1] == '.');
			/* "." and "..": no entry (nodeid 0), the kernel takes no
			 * reference; every other entry is a lookup (an entry gone
			 * meanwhile has a zero stat: no entry either) */
			if (!dot && w.ino == wd.ino && w.ino != 0)
				fill_entry(&w, &dp->entry_out);
			d = &dp->dirent;
		} else {
			d = (struct fuse_dirent *)(out + used);
			memset(d, 0, ent);
		}
		d->ino = wd.ino;
		d->off = wd.next;
		d->namelen = wd.namelen;
		d->type = wd.type;
		memcpy(d->name, name, wd.namelen);
		used += ent;
	}
	reply(h->unique, 0, out, used, NULL, 0);
}

static void op_statfs(const struct fuse_in_header *h)
{
	struct ank_wire_statfs ws;
	struct ankc_req rq = {.opcode = ANK_OP_STATFS, .fd = -1, .out = &ws};
	set_path(&rq, "/");
	int rc = (int)call(&rq);
	if (rc < 0) {
		reply_err(h->unique, rc);
		return;
	}
	struct fuse_statfs_out out;
	memset(&out, 0, sizeof(out));
	out.st.blocks = ws.blocks;
	out.st.bfree = ws.bfree;
	out.st.bavail = ws.bfree;
	out.st.files = ws.files;
	out.st.ffree = ws.ffree;
	out.st.bsize = ws.bsize;
	out.st.frsize = ws.bsize;
	out.st.namelen = ws.namelen;
	reply(h->unique, 0, &out, sizeof(out), NULL, 0);
}

/*
 * "This inode has no security.capability", per inode, for the attribute
 * timeout. The kernel asks for that attribute before every write(2) (to
 * know whether the write must drop file capabilities); the answer is
 * almost always "none", and one ring request per write is most of a small
 * write's cost. Kept for the attribute timeout like any cached attribute;
 * set and removal of it through the mount forget the entry at once.
 */
#define CAP_NAME "security.capability"
#define CAP_SLOTS 4096u
static struct {
	uint64_t ino;
	uint64_t until_ns;
} g_nocap[CAP_SLOTS];
static pthread_mutex_t g_nocap_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned nocap_slot(uint64_t ino)
{
	return (unsigned)((ino * 0x9E3779B97F4A7C15ull) >> 52) % CAP_SLOTS;
}

static bool nocap_known(uint64_t ino)
{
	unsigned k = nocap_slot(ino);
	pthread_mutex_lock(&g_nocap_lock);
	bool known = g_nocap[k].ino == ino && mono_ns() < g_nocap[k].until_ns;
	pthread_mutex_unlock(&g_nocap_lock);
	return known;
}

static void nocap_set(uint64_t ino, bool none)
{
	unsigned k = nocap_slot(ino);
	pthread_mutex_lock(&g_nocap_lock);
	if (none) {
		g_nocap[k].ino = ino;
		g_nocap[k].until_ns = mono_ns() + (uint64_t)(g_opt.attr_timeout * 1e9);
	} else if (g_nocap[k].ino == ino) {
		g_nocap[k].ino = 0;
	}
	pthread_mutex_unlock(&g_nocap_lock);
}

static void op_setxattr(const struct fuse_in_header *h, const struct fuse_setxattr_in *in,
			const char *name, const void *value, size_t avail)
{
	if (in->size > avail) {
		reply_err(h->unique, -EINVAL);
		return;
	}
	struct ankc_req rq = {.opcode = ANK_OP_SETXATTR, .fd = -1, .at_ino = h->nodeid,
			      .flags = (in->flags & (XATTR_CREATE | XATTR_REPLACE)) |
				       AT_EMPTY_PATH,
			      .wdata = value, .len = in->size};
	set_path(&rq, "");
	set_path2(&rq, name);
	int rc = (int)call(&rq);
	if (!strcmp(name, CAP_NAME)) /* (after: a lookup meanwhile saw the old state) */
		nocap_set(h->nodeid, false);
	reply_err(h->unique, rc);
}

/* GETXATTR (name) and LISTXATTR (name NULL): size 0 asks for the size. */
static void op_getxattr(const struct fuse_in_header *h, const struct fuse_getxattr_in *in,
			const char *name, void *buf)
{
	bool capname = name && !strcmp(name, CAP_NAME);
	if (capname && nocap_known(h->nodeid)) {
		reply_err(h->unique, -ENODATA);
		return;
	}
	size_t cap = in->size < 65536 ? in->size : 65536;
	struct ankc_req rq = {.opcode = name ? ANK_OP_GETXATTR : ANK_OP_LISTXATTR, .fd = -1,
			      .at_ino = h->nodeid, .flags = AT_EMPTY_PATH, .len = cap,
			      .rdata = cap ? buf : NULL, .rdata_cap = cap};
	/* (no buffer for a size query: its answer is a size, not a count of
	 * bytes in the buffer, which libananke would refuse as too many) */
	set_path(&rq, "");
	if (name)
		set_path2(&rq, name);
	int64_t n = call(&rq);
	if (capname && n == -ENODATA && g_opt.attr_timeout > 0)
		nocap_set(h->nodeid, true);
	if (n < 0) {
		reply_err(h->unique, (int)n);
	} else if (in->size == 0) {
		struct fuse_getxattr_out out = {.size = (uint32_t)n};
		reply(h->unique, 0, &out, sizeof(out), NULL, 0);
	} else {
		reply(h->unique, 0, buf, (size_t)n, NULL, 0);
	}
}

static void op_removexattr(const struct fuse_in_header *h, const char *name)
{
	if (!strcmp(name, CAP_NAME))
		nocap_set(h->nodeid, false);
	struct ankc_req rq = {.opcode = ANK_OP_REMOVEXATTR, .fd = -1, .at_ino = h->nodeid,
			      .flags = AT_EMPTY_PATH};
	set_path(&rq, "");
	set_path2(&rq, name);
	reply_err(h->unique, (int)call(&rq));
}

static void op_fallocate(const struct fuse_in_header *h, const struct fuse_fallocate_in *in)
{
	struct ank_wire_range wr = {.off = (int64_t)in->offset, .len = (int64_t)in->length};
	struct ankc_req rq = {.opcode = ANK_OP_FALLOCATE, .fd = (int32_t)in->fh,
			      .flags = in->mode, .wdata = &wr, .len = sizeof(wr)};
	reply_err(h->unique, (int)call(&rq));
}

static void op_lseek(const struct fuse_in_header *h, const struct fuse_lseek_in *in)
{
	if (g_opt.writeback) {
		/* The kernel does not write its dirty pages back before it asks,
		 * so the service's holes could be stale: ENOSYS makes it answer
		 * SEEK_DATA/SEEK_HOLE itself (data up to the end of file). */
		reply_err(h->unique, -ENOSYS);
		return;
	}
	struct ankc_req rq = {.opcode = ANK_OP_LSEEK, .fd = (int32_t)in->fh,
			      .off = (int64_t)in->offset, .flags = in->whence};
	int64_t r = call(&rq);
	if (r < 0) {
		reply_err(h->unique, (int)r);
		return;
	}
	struct fuse_lseek_out out = {.offset = (uint64_t)r};
	reply(h->unique, 0, &out, sizeof(out), NULL, 0);
}

/* ---- the request loop ---------------------------------------------------- */

struct worker {
	uint8_t *in;    /* FD_BUF_SIZE: one request */
	uint8_t *out;   /* FD_MAX_IO: an answer's payload */
	uint8_t *wire;  /* FD_MAX_IO: what the service answered */
};

/* The k-th NUL-terminated string of a request's argument bytes, or NULL. */
static const char *arg_str(const uint8_t *a, size_t alen, unsigned k, size_t *end)
{
	size_t pos = 0;
	for (unsigned i = 0;; i++) {
		const void *nul = pos < alen ? memchr(a + pos, '\0', alen - pos) : NULL;
		if (!nul)
			return NULL;
		size_t e = (size_t)((const uint8_t *)nul - a) + 1;
		if (i == k) {
			if (end)
				*end = e;
			return (const char *)a + pos;
		}
		pos = e;
	}
}

#define NEED(type) \
	do { \
		if (alen < sizeof(type)) { \
			reply_err(h->unique, -EINVAL); \
			return; \
		} \
	} while (0)
#define NAME(k, var) \
	const char *var = arg_str(a, alen, k, NULL); \
	if (!var) { \
		reply_err(h->unique, -EINVAL); \
		return; \
	}

static void handle(struct worker *wk, const struct fuse_in_header *h, const uint8_t *a, size_t alen)
{
	t_caller = h;
	switch (h->opcode) {
	case FUSE_INIT:
		NEED(struct fuse_init_in);
		op_init(h, a);
		return;
	case FUSE_DESTROY:
		g_stop = 1;
		reply_err(h->unique, 0);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return; /* no answer: nodeids are inode numbers, nothing to count */
	case FUSE_LOOKUP: {
		NAME(0, name);
		op_lookup(h, name);
		return;
	}
	case FUSE_GETATTR:
		NEED(struct fuse_getattr_in);
		op_getattr(h, (const struct fuse_getattr_in *)a);
		return;
	case FUSE_SETATTR:
		NEED(struct fuse_setattr_in);
		op_setattr(h, (const struct fuse_setattr_in *)a);
		return;
	case FUSE_READLINK:
		op_readlink(h, (char *)wk->out);
		return;
	case FUSE_SYMLINK: {
		NAME(0, name);
		NAME(1, target);
		op_symlink(h, name, target);
		return;
	}
	case FUSE_MKNOD: {
		NEED(struct fuse_mknod_in);
		size_t sz = sizeof(struct fuse_mknod_in);
		const char *name = arg_str(a + sz, alen - sz, 0, NULL);
		if (!name)
			break;
		op_mknod(h, (const struct fuse_mknod_in *)a, name);
		return;
	}
	case FUSE_MKDIR: {
		NEED(struct fuse_mkdir_in);
		size_t sz = sizeof(struct fuse_mkdir_in);
		const char *name = arg_str(a + sz, alen - sz, 0, NULL);
		if (!name)
			break;
		op_mkdir(h, (const struct fuse_mkdir_in *)a, name);
		return;
	}
	case FUSE_UNLINK:
	case FUSE_RMDIR: {
		NAME(0, name);
		op_unlink(h, name, h->opcode == FUSE_RMDIR);
		return;
	}
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		size_t sz = h->opcode == FUSE_RENAME ? sizeof(struct fuse_rename_in)
						     : sizeof(struct fuse_rename2_in);
		if (alen < sz)
			break;
		uint64_t newdir = ((const struct fuse_rename_in *)a)->newdir;
		uint32_t flags = h->opcode == FUSE_RENAME2 ? ((const struct fuse_rename2_in *)a)->flags
							   : 0;
		const char *from = arg_str(a + sz, alen - sz, 0, NULL);
		const char *to = arg_str(a + sz, alen - sz, 1, NULL);
		if (!from || !to)
			break;
		op_rename(h, newdir, flags, from, to);
		return;
	}
	case FUSE_LINK: {
		NEED(struct fuse_link_in);
		size_t sz = sizeof(struct fuse_link_in);
		const char *name = arg_str(a + sz, alen - sz, 0, NULL);
		if (!name)
			break;
		op_link(h, (const struct fuse_link_in *)a, name);
		return;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		NEED(struct fuse_open_in);
		op_open(h, (const struct fuse_open_in *)a, h->opcode == FUSE_OPENDIR);
		return;
	case FUSE_CREATE: {
		NEED(struct fuse_create_in);
		size_t sz = sizeof(struct fuse_create_in);
		const char *name = arg_str(a + sz, alen - sz, 0, NULL);
		if (!name)
			break;
		op_create(h, (const struct fuse_create_in *)a, name);
		return;
	}
	case FUSE_READ:
		NEED(struct fuse_read_in);
		op_read(h, (const struct fuse_read_in *)a, wk->out);
		return;
	case FUSE_WRITE:
		NEED(struct fuse_write_in);
		op_write(h, (const struct fuse_write_in *)a, a + sizeof(struct fuse_write_in),
			 alen - sizeof(struct fuse_write_in));
		return;
	case FUSE_FLUSH:
		reply_err(h->unique, 0);
		return;
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		NEED(struct fuse_release_in);
		close_fd(((const struct fuse_release_in *)a)->fh);
		reply_err(h->unique, 0);
		return;
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		NEED(struct fuse_fsync_in);
		op_fsync(h, (const struct fuse_fsync_in *)a);
		return;
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		NEED(struct fuse_read_in);
		op_readdir(h, (const struct fuse_read_in *)a, h->opcode == FUSE_READDIRPLUS,
			   wk->wire, wk->out);
		return;
	case FUSE_STATFS:
		op_statfs(h);
		return;
	case FUSE_SETXATTR: {
		/* without FUSE_SETXATTR_EXT: the 8-byte form */
		size_t sz = FUSE_COMPAT_SETXATTR_IN_SIZE;
		if (alen < sz)
			break;
		size_t end;
		const char *name = arg_str(a + sz, alen - sz, 0, &end);
		if (!name)
			break;
		op_setxattr(h, (const struct fuse_setxattr_in *)a, name, a + sz + end,
			    alen - sz - end);
		return;
	}
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		NEED(struct fuse_getxattr_in);
		size_t sz = sizeof(struct fuse_getxattr_in);
		const char *name = NULL;
		if (h->opcode == FUSE_GETXATTR && !(name = arg_str(a + sz, alen - sz, 0, NULL)))
			break;
		op_getxattr(h, (const struct fuse_getxattr_in *)a, name, wk->out);
		return;
	}
	case FUSE_REMOVEXATTR: {
		NAME(0, name);
		op_removexattr(h, name);
		return;
	}
	case FUSE_FALLOCATE:
		NEED(struct fuse_fallocate_in);
		op_fallocate(h, (const struct fuse_fallocate_in *)a);
		return;
	case FUSE_LSEEK:
		NEED(struct fuse_lseek_in);
		op_lseek(h, (const struct fuse_lseek_in *)a);
		return;
	case FUSE_SYNCFS: {
		struct ankc_req rq = {.opcode = ANK_OP_SYNC};
		reply_err(h->unique, (int)call(&rq));
		return;
	}
	default:
		/* ACCESS (default_permissions decides), locks (kept by the
		 * kernel), IOCTL, POLL, BMAP, COPY_FILE_RANGE, TMPFILE, ...:
		 * ENOSYS, after which the kernel stops asking */
		reply_err(h->unique, -ENOSYS);
		return;
	}
	reply_err(h->unique, -EINVAL);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	while (!g_stop) {
		ssize_t n = read(g_fuse, wk->in, FD_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue; /* (ENOENT: a request interrupted before we read it) */
			if (errno != ENODEV)
				fprintf(stderr, "ananke-fuse: reading /dev/fuse: %s\n",
					strerror(errno));
			break; /* ENODEV: unmounted */
		}
		struct fuse_in_header h;
		if ((size_t)n < sizeof(h))
			continue;
		memcpy(&h, wk->in, sizeof(h));
		if (h.len != (uint32_t)n)
			continue;
		t_opcode = h.opcode;
		if (g_trace_all)
			fprintf(stderr, "ananke-fuse: request %u nodeid %llu len %u\n", h.opcode,
				(unsigned long long)h.nodeid, h.len);
		handle(wk, &h, wk->in + sizeof(h), (size_t)n - sizeof(h));
	}
	g_stop = 1;
	return NULL;
}

/* The service can go away while no request comes (an idle mount): this
 * thread notices the supervisor's socket close and ends the mount as a
 * failed call would (service_gone). */
static void *watch_main(void *arg)
{
	(void)arg;
	while (!g_stop) {
		if (ankc_enter() < 0) {
			if (errno == EIO)
				service_gone();
			return NULL;
		}
		int gone = ankc_wait_gone(500);
		ankc_leave();
		/* (not when the mount is going already: an unmount ends the
		 * readers, then the service is stopped) */
		if (gone == 1 && !g_stop)
			service_gone();
		if (gone < 0)
			return NULL;
	}
	return NULL;
}

int frontdoor_serve(int fuse_fd, const struct frontdoor_options *opt)
{
	g_fuse = fuse_fd;
	g_opt = *opt;
	g_act_as = geteuid() != 0;
	g_trace = getenv("ANANKE_FUSE_TRACE") != NULL;
	g_trace_all = g_trace && !strcmp(getenv("ANANKE_FUSE_TRACE"), "2");
	unsigned nthreads = opt->threads ? opt->threads : 4;
	pthread_t *tids = calloc(nthreads, sizeof(*tids));
	struct worker *wks = calloc(nthreads, sizeof(*wks));
	if (!tids || !wks)
		return -ENOMEM;
	unsigned started = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		wks[i].in = malloc(FD_BUF_SIZE);
		wks[i].out = malloc(FD_MAX_IO);
		wks[i].wire = malloc(FD_MAX_IO);
		if (!wks[i].in || !wks[i].out || !wks[i].wire)
			break;
		if (pthread_create(&tids[i], NULL, worker_main, &wks[i]) != 0)
			break;
		started++;
	}
	int rc = started ? 0 : -ENOMEM;
	pthread_t watcher;
	if (started && pthread_create(&watcher, NULL, watch_main, NULL) == 0)
		pthread_detach(watcher); /* (ends with the process) */
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		free(wks[i].in);
		free(wks[i].out);
		free(wks[i].wire);
	}
	free(tids);
	free(wks);
	return rc;
}
