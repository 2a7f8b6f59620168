/*
 * fs.h - the file system core, used in-process: mkfs, mount, and the POSIX
 * operations. This header is the contract of the core; the calls that only
 * crash recovery uses are in recovery.h.
 *
 * Every operation returns 0 or a non-negative count on success and a negative
 * errno on failure, with Linux's errno values. Paths are absolute inside the
 * volume ("/a/b"); "." and ".." components are resolved; a trailing slash
 * requires a directory. Names are at most 255 bytes, paths at most 4095.
 *
 * File descriptors belong to a client (struct fs_client): a per-client table
 * of open files with their offsets and flags. In-process users create one
 * client; the service creates one per connected application. fd numbers are
 * the lowest free ones, as in POSIX.
 *
 * Durability (see docs/DESIGN.md): operations change memory and join the
 * running journal transaction. fs_fsync(file) makes the file's data,
 * metadata and directory entry durable (ext4's behaviour); fs_fsync(dir)
 * commits the directory; fs_sync() commits everything. A background commit
 * runs every commit_interval_ms and when dirty data passes a threshold.
 * Without fsync there is no durability promise, but after any crash the
 * volume is consistent (fsck clean).
 *
 * Thread-safety: every function may be called from any thread at any time;
 * see docs/DESIGN.md for the locking design. A client's fd table is safe to
 * share between threads.
 */
#ifndef ANK_FS_H
#define ANK_FS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct bdev;
struct fs;
struct fs_client;

struct fs_mkfs_options {
	uint64_t inodes;          /* 0: one per 16 KiB of volume */
	uint64_t journal_blocks;  /* 0: size-dependent default */
	const char *label;        /* NULL: "ananke" */
};

/* Write a fresh file system on the whole device. Returns 0 or -errno
 * (-EINVAL when the device is too small: fewer than 256 blocks, 1 MiB). */
int fs_mkfs(struct bdev *dev, const struct fs_mkfs_options *opt);

struct fs_options {
	uint32_t commit_interval_ms;  /* background commit period; 0: 5000 */
	uint32_t idle_checkpoint_ms;  /* checkpoint a journal idle this long (no
	                                 commit); 0: 100; UINT32_MAX: never */
	uint64_t cache_pages;         /* page cache bound in 4 KiB pages; 0: 16384 */
	uint64_t dirty_pages_limit;   /* commit when more pages are dirty; 0: cache/4 */
	uint64_t inode_cache;         /* inode cache bound (unreferenced inodes); 0: 4096 */
	uint64_t buffer_cache;        /* metadata block cache bound; 0: 4096 */
	bool read_only;               /* no journal replay, every change -EROFS */
	bool no_background;           /* no background commit thread (tests) */
	bool keep_orphans;            /* recovery: do not free the orphan list at
	                                 mount; see fs_release_orphans() */
	bool hold_commits;            /* recovery: mount with commits held
	                                 (fs_hold_commits) and commit nothing
	                                 itself, so that no transaction id
	                                 becomes durable before the caller has
	                                 reserved the ids a crashed server used
	                                 (fs_reserve_tids) */
	bool abort_stops_process;     /* a file system abort (fs_abort: a failed
	                                 commit, memory for a page refused) stops
	                                 the process instead of leaving it to
	                                 answer the error to every later call:
	                                 the service then recovers from the
	                                 journal and the p-log */
	void (*replay_hook)(void);    /* tests: called during journal replay, once
	                                 the replayed images are home and before the
	                                 log header moves past them; NULL: none */
};

/* Mount: validate the superblock, replay the journal, process the orphan
 * list, mark the volume dirty. The device stays owned by the caller and must
 * outlive the fs. Returns 0 and *out, or -EUCLEAN (corrupt), -EOPNOTSUPP
 * (unknown incompat feature), -EIO, -ENOMEM. */
int fs_mount(struct bdev *dev, const struct fs_options *opt, struct fs **out);

/* Commit, checkpoint, mark clean, free everything. Open fds of clients that
 * were not destroyed are closed first. Returns 0 or -errno (the fs is freed
 * either way). */
int fs_unmount(struct fs *fs);

/* Map and touch `bytes` (rounded up to 2 MiB) of page cache memory now,
 * for the next mount of this process to take before it maps any: a standby
 * server pays the page faults before it takes over. 0 or -errno (what was
 * reserved stays). fs_release_reserve() unmaps what no mount took. */
int fs_reserve_memory(uint64_t bytes);
void fs_release_reserve(void);

/* Client: credentials and fd table. uid 0 bypasses permission checks. */
struct fs_client *fs_client_new(struct fs *fs, uint32_t uid, uint32_t gid);
/* Close every fd of the client and free it. */
void fs_client_free(struct fs_client *c);
/* The calling thread's calls act with uid and gid instead of their
 * client's credentials (permission checks, a new object's owner) until
 * fs_act_as_end(): a client the service trusts to speak for another user
 * (the front door of a user's mount) names that user per call. */
void fs_act_as(uint32_t uid, uint32_t gid);
void fs_act_as_end(void);

/* ---- operations ---------------------------------------------------------- */
/* Where a relative path starts (the *at calls): the root (FS_AT_ROOT; a
 * client has no working directory of its own, so AT_FDCWD means the root
 * too), a directory the client has open (fs_at_fd), or a directory by inode
 * number (fs_at_ino: how the replay of a logged *at call and the FUSE front
 * door address it). An absolute path starts at the root whatever `at`
 * says. For a relative path: a bad fd is -EBADF (-EIO when stale), an fd or
 * inode that is no directory -ENOTDIR, an inode number not in use -ESTALE.
 * With an inode number, the empty path names that inode itself (of any
 * type) in every call that looks a path up, and fs_openat opens it (no
 * O_CREAT; a symbolic link is -ELOOP): that is how the front door
 * addresses an object by its number. */
struct fs_at {
	int fd;       /* the client's fd, or AT_FDCWD */
	uint64_t ino; /* a directory's inode number; 0: fd says */
};
#define FS_AT_ROOT ((struct fs_at){.fd = AT_FDCWD, .ino = 0})
static inline struct fs_at fs_at_fd(int fd)
{
	return (struct fs_at){.fd = fd, .ino = 0};
}
static inline struct fs_at fs_at_ino(uint64_t ino)
{
	return (struct fs_at){.fd = AT_FDCWD, .ino = ino};
}


int fs_open(struct fs_client *c, const char *path, int flags, mode_t mode);
int fs_close(struct fs_client *c, int fd);
ssize_t fs_read(struct fs_client *c, int fd, void *buf, size_t n);
ssize_t fs_write(struct fs_client *c, int fd, const void *buf, size_t n);
ssize_t fs_pread(struct fs_client *c, int fd, void *buf, size_t n, off_t off);
ssize_t fs_pwrite(struct fs_client *c, int fd, const void *buf, size_t n, off_t off);
/* fs_read and fs_pread, and *sum = the CRC32C of the bytes read, taken from
 * the cache itself rather than from buf (0 when nothing was read): whoever
 * receives buf through other memory checks it against *sum. */
ssize_t fs_read_sum(struct fs_client *c, int fd, void *buf, size_t n, uint32_t *sum);
/* fs_write and fs_pwrite of bytes whose CRC32C is `sum` (checked before the
 * call by whoever received them): the bytes are summed again from buf as
 * they are copied into the cache, and a mismatch (buf changed meanwhile:
 * memory corruption) stops the process before anything of it is
 * committed or answered. */
ssize_t fs_write_sum(struct fs_client *c, int fd, const void *buf, size_t n, uint32_t sum);
ssize_t fs_pwrite_sum(struct fs_client *c, int fd, const void *buf, size_t n, off_t off,
		      uint32_t sum);
ssize_t fs_pread_sum(struct fs_client *c, int fd, void *buf, size_t n, off_t off, uint32_t *sum);
off_t fs_lseek(struct fs_client *c, int fd, off_t off, int whence);
int fs_fsync(struct fs_client *c, int fd);
int fs_fdatasync(struct fs_client *c, int fd);
int fs_ftruncate(struct fs_client *c, int fd, off_t len);
/* fcntl(2) F_GETFL: the fd's access mode and the status flags it keeps
 * (O_APPEND, O_DIRECTORY, O_NOFOLLOW as opened). F_SETFL: O_APPEND is the
 * one flag that changes anything here (Linux also takes O_NONBLOCK,
 * O_ASYNC, O_DIRECT and O_NOATIME, which mean nothing to the service and
 * are ignored); the others are ignored, as Linux does. -EBADF. */
int fs_getfl(struct fs_client *c, int fd);
/* dup(2), dup2(2), fcntl F_DUPFD: a new fd naming the same open file
 * description as oldfd (offset and status flags shared). FS_DUP_EXACT:
 * the new fd is `newfd` (an fd open there is closed first; newfd ==
 * oldfd returns it); else the lowest free fd >= newfd. The new fd, or
 * -EBADF (oldfd; newfd out of range with FS_DUP_EXACT), -EINVAL (a
 * minimum out of range), -EMFILE, -EIO (a stale oldfd). */
#define FS_DUP_EXACT 1
int fs_dup(struct fs_client *c, int oldfd, int newfd, int how);
int fs_setfl(struct fs_client *c, int fd, int flags);
/* fallocate(2): mode 0 allocates every block of [off, off + len) not yet
 * allocated (zeroed) and extends the size to off + len if it was smaller;
 * FALLOC_FL_KEEP_SIZE allocates only the part below the size (nothing is
 * reserved past the end of a file). FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE):
 * the range reads zeros and its whole blocks become holes.
 * FALLOC_FL_ZERO_RANGE: the range reads zeros, allocated, and the size
 * grows to its end unless KEEP_SIZE. Other modes are -EOPNOTSUPP. -EBADF (also: fd not open for
 * writing), -EINVAL, -EISDIR, -ENODEV (no regular file), -EFBIG, -ENOSPC,
 * in Linux's order. Sets ctime. */
int fs_fallocate(struct fs_client *c, int fd, int mode, off_t off, off_t len);

/* ---- advisory locks (locks.c) ----
 * POSIX record locks belong to the client (fs_client_set_lock_owner) and
 * go when it closes any fd of the file; OFD and flock locks belong to the
 * open file description and go with its last fd. POSIX and OFD locks
 * conflict with each other; flock locks only with flock locks. Nothing
 * waits: a conflict is -EAGAIN; with `wait`, a POSIX request first
 * records whom it waits for and gets -EDEADLK when that closes a cycle of
 * waits; the caller asks again later. */
enum fs_lock_kind { FS_LOCK_POSIX = 0, FS_LOCK_OFD = 1, FS_LOCK_FLOCK = 2 };
struct fs_lock_req {
	uint8_t kind;              /* enum fs_lock_kind */
	bool wait;                 /* F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB */
	int16_t type;              /* F_RDLCK, F_WRLCK, F_UNLCK (flock: LOCK_SH = F_RDLCK,
	                              LOCK_EX = F_WRLCK, LOCK_UN = F_UNLCK) */
	int16_t whence;            /* l_whence (not for flock) */
	bool pid_set;              /* l_pid was not 0 (EINVAL for OFD locks, after
	                              the other checks, as Linux) */
	int64_t start, len;        /* l_start, l_len (not for flock) */
};
/* What F_GETLK reports: type F_UNLCK when nothing conflicts; len 0 = to
 * the end; pid -1 for an OFD lock. */
struct fs_lock_info {
	int16_t type;
	int32_t pid;
	int64_t start, len;
};
/* A lock as the lock hook sees it: end INT64_MAX = to the end. */
struct fs_lock_rec {
	uint64_t ino, owner;       /* owner: a client's lock owner or a description's id */
	int64_t start, end;
	int32_t pid;
	uint8_t kind, type;
};
/* 0, -EAGAIN, -EDEADLK, -EBADF (also: a read lock on an fd not open for
 * reading, a write lock on one not open for writing), -EINVAL,
 * -EOVERFLOW, -ENOLCK. ofd_id names the fd's description the first time
 * it takes an OFD or flock lock (0: an id of the core's). */
int fs_setlk(struct fs_client *c, int fd, const struct fs_lock_req *rq, uint64_t ofd_id);
int fs_getlk(struct fs_client *c, int fd, const struct fs_lock_req *rq, uint64_t ofd_id,
	     struct fs_lock_info *out);
/* The owner id of c's POSIX locks and the pid F_GETLK reports for them. */
void fs_client_set_lock_owner(struct fs_client *c, uint64_t owner, int32_t pid);
/* Called under the fs lock with the whole new list of an inode's locks
 * after every change (n SIZE_MAX, recs NULL: the list could not be
 * copied). */
void fs_set_lock_hook(struct fs *fs,
		      void (*fn)(void *arg, uint64_t ino, const struct fs_lock_rec *recs, size_t n),
		      void *arg);
/* Put back a lock a crashed server's clients held, on the file of fd (its
 * owner: c's POSIX owner, or the description of fd, which takes rec's id
 * if it has none). No conflict check: the locks were compatible. */
int fs_lock_restore(struct fs_client *c, int fd, const struct fs_lock_rec *rec);
int fs_truncate(struct fs_client *c, const char *path, off_t len);
int fs_stat(struct fs_client *c, const char *path, struct stat *st);
/* stat, not following a symbolic link at the end of the path. */
int fs_lstat(struct fs_client *c, const char *path, struct stat *st);

/* statfs(2) of the volume: the data region's blocks and those free, the
 * inode numbers and those free, 4096-byte blocks, names up to 255 bytes. */
struct fs_statfs {
	uint64_t blocks, bfree, files, ffree;
	uint32_t bsize, namelen;
	bool read_only;
};
/* Of the volume holding path (resolved as stat does) or fd: 0 or -errno. */
int fs_statfs_path(struct fs_client *c, const char *path, struct fs_statfs *out);
int fs_statfs_fd(struct fs_client *c, int fd, struct fs_statfs *out);
/* access(2) with the client's ids: mode F_OK or any of R_OK, W_OK, X_OK
 * (EINVAL otherwise); root may read and write anything and execute what
 * has an x bit (or is a directory). 0, -EACCES, -EROFS, or the path's
 * errors. */
int fs_access(struct fs_client *c, const char *path, int mode);
int fs_fstat(struct fs_client *c, int fd, struct stat *st);
int fs_unlink(struct fs_client *c, const char *path);
int fs_rename(struct fs_client *c, const char *from, const char *to);
int fs_link(struct fs_client *c, const char *from, const char *to);
int fs_mkdir(struct fs_client *c, const char *path, mode_t mode);
/* A symbolic link at path whose target is `target` (1 to PATH_MAX - 1
 * bytes, kept as the link's data; not resolved now). Mode 0777. */
int fs_symlink(struct fs_client *c, const char *target, const char *path);
/* The target of the symbolic link at path (not followed), at most n bytes,
 * no NUL added: the count. -EINVAL when path is no symbolic link or n is
 * 0. */
ssize_t fs_readlink(struct fs_client *c, const char *path, char *buf, size_t n);
int fs_rmdir(struct fs_client *c, const char *path);
int fs_sync(struct fs *fs);

/* The *at calls: a relative path starts at `at` (struct fs_at above),
 * otherwise each is the call without "at" (fs_openat: fs_open, ...).
 * Flags as Linux takes them, others -EINVAL: fs_fstatat and fs_faccessat
 * AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH (an empty path names `at` itself;
 * fs_faccessat also AT_EACCESS, the same ids here); fs_unlinkat
 * AT_REMOVEDIR (rmdir); fs_linkat AT_SYMLINK_FOLLOW (a symbolic link `from`
 * is followed) and AT_EMPTY_PATH; fs_renameat2 RENAME_NOREPLACE (-EEXIST
 * when `to` exists) and RENAME_EXCHANGE (both names must exist: each then
 * names the other's inode), not both. fs_truncateat is truncate(2) from
 * `at` (no syscall has that form). */
int fs_openat(struct fs_client *c, struct fs_at at, const char *path, int flags, mode_t mode);
int fs_mkdirat(struct fs_client *c, struct fs_at at, const char *path, mode_t mode);
int fs_symlinkat(struct fs_client *c, const char *target, struct fs_at at, const char *path);
ssize_t fs_readlinkat(struct fs_client *c, struct fs_at at, const char *path, char *buf, size_t n);
int fs_fstatat(struct fs_client *c, struct fs_at at, const char *path, struct stat *st,
	       int flags);
/* fs_fstatat and fs_fstat, and *gen = the inode's generation (bumped each
 * time its number is reused: with the number, it names one object for the
 * volume's life). */
int fs_fstatat_gen(struct fs_client *c, struct fs_at at, const char *path, struct stat *st,
		   int flags, uint32_t *gen);
int fs_fstat_gen(struct fs_client *c, int fd, struct stat *st, uint32_t *gen);
int fs_faccessat(struct fs_client *c, struct fs_at at, const char *path, int mode, int flags);
int fs_unlinkat(struct fs_client *c, struct fs_at at, const char *path, int flags);
int fs_linkat(struct fs_client *c, struct fs_at from_at, const char *from, struct fs_at to_at,
	      const char *to, int flags);
int fs_renameat2(struct fs_client *c, struct fs_at from_at, const char *from, struct fs_at to_at,
		 const char *to, unsigned flags);
int fs_truncateat(struct fs_client *c, struct fs_at at, const char *path, off_t len);
/* mknod(2) relative to `at`: mode's type is a regular file (S_IFREG or no
 * type), a FIFO, a socket, or a character or block device numbered rdev
 * (root only: EPERM after the permission checks); S_IFDIR is EPERM, any
 * other type EINVAL, both before the path is looked at. FIFOs, sockets and
 * devices are stored, listed (DT_FIFO, DT_SOCK, DT_CHR, DT_BLK) and stat'ed
 * (st_rdev); opening one answers ENXIO (the service has no pipe, socket or
 * driver behind it) and truncating one EINVAL. */
int fs_mknodat(struct fs_client *c, struct fs_at at, const char *path, mode_t mode, dev_t rdev);

/* Attributes (chmod, chown, utimensat), as Linux gives them. `valid` says
 * which fields apply. FS_ATTR_MODE: the permission bits (07777) change;
 * only the owner or root may, and a caller outside the file's group who is
 * not root loses S_ISGID. FS_ATTR_UID / FS_ATTR_GID: the owner changes
 * (root only, unless unchanged) and the group (root, or the owner to his
 * own group); any chown (FS_ATTR_CHOWN, even with neither id given) of a
 * non-directory clears S_ISUID, and S_ISGID when S_IXGRP is set. FS_ATTR_ATIME / FS_ATTR_MTIME: the times given; with
 * FS_ATTR_TIMES_NOW they are the caller's "now" (utimensat with UTIME_NOW
 * or NULL), which the owner, root or a caller with write permission may
 * set, while explicit times need the owner or root (FS_ATTR_TIMES: a
 * utimensat call whose times are both omitted, which still needs the
 * owner); a time's nsec of 1e9 or more is EINVAL once the file is found.
 * In a set-group-id directory new inodes take its group, new directories
 * the bit. ctime becomes now whenever anything changed. 0, or -EPERM, -EACCES, -EINVAL, and the
 * lookup's errors. The inode form is what paths and fds resolve to. */
#define FS_ATTR_MODE 0x01u
#define FS_ATTR_UID 0x02u
#define FS_ATTR_GID 0x04u
#define FS_ATTR_ATIME 0x08u
#define FS_ATTR_MTIME 0x10u
#define FS_ATTR_TIMES_NOW 0x20u
#define FS_ATTR_CHOWN 0x40u /* a chown call, even with neither id given */
#define FS_ATTR_TIMES 0x80u /* a utimensat call, even with both times omitted */
#define FS_ATTR_NOFOLLOW 0x100u /* fs_setattr_path: a symbolic link at the end of
                                   the path is changed itself (lchown,
                                   AT_SYMLINK_NOFOLLOW), not followed */
/* FS_ATTR_SIZE: the size changes as truncate(2) does (a directory -EISDIR,
 * another non-regular file -EINVAL, beyond the largest size -EFBIG, a
 * negative one -EINVAL); by path or inode it needs write permission, by
 * fd an fd open for writing (else -EINVAL, as ftruncate). It is applied
 * before the other fields, so an error leaves everything as it was.
 * FS_ATTR_CTIME: ctime is set to the time given instead of now (the FUSE
 * protocol's FATTR_CTIME); the owner or root only. */
#define FS_ATTR_SIZE 0x200u
#define FS_ATTR_CTIME 0x400u
struct fs_attr {
	uint32_t valid;
	uint32_t mode;
	uint32_t uid, gid;
	int64_t atime_sec, mtime_sec;
	uint32_t atime_nsec, mtime_nsec;
	int64_t size;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
};
/* fs_setattr: of the inode numbered `ino` (-ENOENT when it is not in use,
 * -EINVAL when no inode can have that number). */
int fs_setattr(struct fs_client *c, uint64_t ino, const struct fs_attr *a);
int fs_setattr_path(struct fs_client *c, const char *path, const struct fs_attr *a);
int fs_setattrat(struct fs_client *c, struct fs_at at, const char *path, const struct fs_attr *a);
int fs_setattr_fd(struct fs_client *c, int fd, const struct fs_attr *a);

/* Extended attributes (xattr.c), as setxattr(2), getxattr(2), listxattr(2)
 * and removexattr(2) with Linux's errors: of the file `path` names from
 * `at`; at_flags AT_SYMLINK_NOFOLLOW (the l- calls) and AT_EMPTY_PATH with
 * an empty path (the f- calls: at is the file's fd). Namespaces user.,
 * trusted., security. and the two POSIX ACL names; flags XATTR_CREATE and
 * XATTR_REPLACE. get and list: size 0 asks for the size needed. */
int fs_setxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		  const char *name, const void *value, size_t size, int flags);
ssize_t fs_getxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		      const char *name, void *buf, size_t size);
ssize_t fs_listxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		       char *buf, size_t size);
int fs_removexattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		     const char *name);
/* Replay a logged set (remove false) or removal, by inode number. */
int fs_xattr_replay(struct fs_client *c, uint64_t ino, const char *name, const void *value,
		    size_t size, bool remove);

/* ---- addressing by inode (byinode.c) ------------------------------------- */
/* The calls of a protocol that names a directory by its inode number and
 * an entry by one component in it (FUSE): each is the path call started at
 * the directory (fs_at_ino) with a one-component name, so both run the same
 * body. `name` must be one component: empty is -ENOENT, longer than
 * ANK_NAME_MAX -ENAMETOOLONG, one with a '/' -EINVAL. An inode number of 0
 * is -EINVAL; one not in use -ESTALE. Otherwise the errors are those of the
 * path call named beside each.
 *
 * The core keeps no lookup counts, so there is no forget: a node is its
 * inode number with the inode's generation, which changes whenever a
 * number is reused, and that is how a caller tells a new object from the
 * one it remembers.
 *
 * fs_lookup: the entry `name` in directory `parent`, not followed (a
 * symbolic link is the link itself): its stat and generation (lstat).
 * fs_getattr: the inode `ino`'s stat and generation (fstat).
 * fs_create: open `name` in `parent` with O_CREAT added (openat); the fd.
 * fs_open_ino: open the inode `ino` itself (openat with an empty path; a
 * symbolic link is -ELOOP); O_CREAT is -EINVAL. The fd.
 * fs_mknod_in, fs_mkdir_in, fs_symlink_in: make `name` in `parent`
 * (mknodat, mkdirat, symlinkat); *ino (when not NULL) gets the new inode's
 * number. fs_link_in: a new name `newname` in `newparent` for the inode
 * `ino` (linkat; a directory is -EPERM). fs_unlink_in, fs_rmdir_in
 * (unlinkat, with AT_REMOVEDIR), fs_rename_in (renameat2 with its flags).
 * fs_readlink_ino: the target of the link `ino` (readlinkat; no link:
 * -EINVAL). fs_statfs_ino: the file system holding the inode `ino`
 * (statfs). fs_setattr above changes an inode by number. */
int fs_lookup(struct fs_client *c, uint64_t parent, const char *name, struct stat *st,
	      uint32_t *gen);
int fs_getattr(struct fs_client *c, uint64_t ino, struct stat *st, uint32_t *gen);
int fs_create(struct fs_client *c, uint64_t parent, const char *name, int flags, mode_t mode);
int fs_open_ino(struct fs_client *c, uint64_t ino, int flags);
int fs_mknod_in(struct fs_client *c, uint64_t parent, const char *name, mode_t mode,
		dev_t rdev, uint64_t *ino);
int fs_mkdir_in(struct fs_client *c, uint64_t parent, const char *name, mode_t mode,
		uint64_t *ino);
int fs_symlink_in(struct fs_client *c, const char *target, uint64_t parent, const char *name,
		  uint64_t *ino);
int fs_link_in(struct fs_client *c, uint64_t ino, uint64_t newparent, const char *newname);
int fs_unlink_in(struct fs_client *c, uint64_t parent, const char *name);
int fs_rmdir_in(struct fs_client *c, uint64_t parent, const char *name);
int fs_rename_in(struct fs_client *c, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags);
ssize_t fs_readlink_ino(struct fs_client *c, uint64_t ino, char *buf, size_t n);
int fs_statfs_ino(struct fs_client *c, uint64_t ino, struct fs_statfs *out);

/* Directory reading through an fd opened with fs_open(path, O_RDONLY |
 * O_DIRECTORY). Fills at most `max` entries starting at the fd's position and
 * advances it; returns the number filled, 0 at the end. "." and ".." come
 * first. */
struct fs_dirent {
	uint64_t ino;
	uint64_t next;       /* the fd's position after this entry: a stable
	                        cookie (fs_lseek SEEK_SET resumes there, also
	                        after entries came or went, and after a crash) */
	uint8_t type;        /* DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK, DT_CHR, DT_BLK */
	char name[256];      /* NUL-terminated */
};
int fs_readdir(struct fs_client *c, int fd, struct fs_dirent *ents, int max);

/* ---- statistics ------------------------------------------------------------ */
struct fs_stats {
	uint64_t commits;          /* journal transactions committed */
	uint64_t checkpoints;
	uint64_t journal_blocks_written;
	uint64_t cache_pages, dirty_pages;
	uint64_t free_blocks, free_inodes;
	uint64_t replayed_transactions; /* found in the journal by this mount */
};
void fs_get_stats(struct fs *fs, struct fs_stats *out);

#endif
