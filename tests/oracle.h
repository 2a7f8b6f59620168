/*
 * oracle.h - shared test library: one "target" interface for the POSIX file
 * operations, so the same workload can run against Linux (a directory on the
 * machine's own file system) and against Ananke (a struct fs_client, or a
 * running service through libananke), and the results can be compared.
 *
 * Conventions of every target function: the result is >= 0 on success and a
 * NEGATIVE errno on failure (never -1 + errno). Paths are absolute inside the
 * target ("/a/b"); the empty path is passed through unchanged.
 *
 * fd numbers of different targets are unrelated: a workload keeps its own
 * table of open handles per target and never compares raw fd values.
 *
 * Built with -DORACLE_LIBC_ONLY everything that needs the Ananke core or
 * libananke (the Ananke targets and the volume helpers) is compiled out, so
 * the libc target and the workloads can be checked on their own.
 */
#ifndef ANK_TEST_ORACLE_H
#define ANK_TEST_ORACLE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>

#ifndef ORACLE_LIBC_ONLY
#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#endif

/* ---- deterministic random numbers (splitmix64) ----------------------------- */

struct oracle_rng {
	uint64_t s;
};

static inline void oracle_rng_seed(struct oracle_rng *r, uint64_t seed)
{
	/* mix the seed so that nearby seeds give unrelated sequences */
	uint64_t z = seed + 0x632BE59BD9B4E019ull;
	z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
	z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ull;
	r->s = z ^ (z >> 33);
}

static inline uint64_t oracle_rng_next(struct oracle_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n == 0. */
static inline uint64_t oracle_rng_below(struct oracle_rng *r, uint64_t n)
{
	return n ? oracle_rng_next(r) % n : 0;
}

/* Uniform in [lo, hi] (inclusive). */
static inline uint64_t oracle_rng_range(struct oracle_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + oracle_rng_below(r, hi - lo + 1);
}

/* True with probability pct/100. */
static inline bool oracle_rng_pct(struct oracle_rng *r, unsigned pct)
{
	return oracle_rng_below(r, 100) < pct;
}

/* Fill buf with pseudo-random bytes. */
void oracle_rng_fill(struct oracle_rng *r, void *buf, size_t n);

/* ---- directory listings ---------------------------------------------------- */

struct oracle_dirent {
	char name[256];
	unsigned char type; /* DT_REG, DT_DIR, DT_LNK, or DT_UNKNOWN for anything else */
};

struct oracle_dirlist {
	struct oracle_dirent *ents; /* sorted by name (strcmp), no "." or ".." */
	size_t n, cap;
};

void oracle_dirlist_init(struct oracle_dirlist *l);
void oracle_dirlist_free(struct oracle_dirlist *l);
/* Append one entry; returns 0 or -ENOMEM. */
int oracle_dirlist_add(struct oracle_dirlist *l, const char *name, unsigned char type);
void oracle_dirlist_sort(struct oracle_dirlist *l);

/* ---- the target interface -------------------------------------------------- */

struct target {
	const char *name;
	void *ctx;
	int (*open)(void *ctx, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t n);
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t n);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
	off_t (*lseek)(void *ctx, int fd, off_t off, int whence);
	int (*fsync)(void *ctx, int fd);
	int (*fdatasync)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*fallocate)(void *ctx, int fd, int mode, off_t off, off_t len);
	/* fcntl(2) with F_GETFL (the flags as Linux gives them, O_LARGEFILE
	 * included) or F_SETFL (arg). */
	int (*fcntl_fl)(void *ctx, int fd, int cmd, int arg);
	/* fcntl F_OFD_SETLK / F_OFD_GETLK and the POSIX record locks F_SETLK
	 * / F_GETLK (fl filled in by GETLK): 0 or -errno. NULL when the
	 * target offers no locks. */
	int (*lock)(void *ctx, int fd, int cmd, struct flock *fl);
	/* flock(2) (never asked to wait: LOCK_NB, or LOCK_UN). NULL when the
	 * target offers no flock locks. */
	int (*flock)(void *ctx, int fd, int op);
	/* fcntl(2) with F_GETFD (the fd flags) or F_SETFD (arg). NULL when
	 * the target keeps no fd flags. */
	int (*fcntl_fd)(void *ctx, int fd, int cmd, int arg);
	/* dup(2) and dup2(2): the new fd, or -errno. */
	int (*dup)(void *ctx, int fd);
	int (*dup2)(void *ctx, int fd, int newfd);
	int (*truncate)(void *ctx, const char *path, off_t len);
	int (*chmod)(void *ctx, const char *path, mode_t mode);
	int (*fchmod)(void *ctx, int fd, mode_t mode);
	int (*chown)(void *ctx, const char *path, uid_t uid, gid_t gid);
	int (*fchown)(void *ctx, int fd, uid_t uid, gid_t gid);
	/* utimensat(AT_FDCWD, path, ts, 0) / futimens(fd, ts) */
	int (*utimens)(void *ctx, const char *path, const struct timespec ts[2]);
	int (*futimens)(void *ctx, int fd, const struct timespec ts[2]);
	int (*stat)(void *ctx, const char *path, struct stat *st);
	int (*fstat)(void *ctx, int fd, struct stat *st);
	/* statfs(2) / fstatfs(2). */
	int (*statfs)(void *ctx, const char *path, struct statfs *sf);
	int (*fstatfs)(void *ctx, int fd, struct statfs *sf);
	/* Symbolic links: lstat(2), lchown(2) (a link at the end of the path is
	 * not followed), symlink(2) (the target is stored verbatim: relative
	 * targets resolve inside the target's own tree), readlink(2) (at most n
	 * bytes, no NUL added: the count). */
	int (*lstat)(void *ctx, const char *path, struct stat *st);
	/* Extended attributes of the file a path names (a link at the end is
	 * followed): setxattr(2), getxattr(2), listxattr(2), removexattr(2). */
	int (*setxattr)(void *ctx, const char *path, const char *name, const void *value,
			size_t size, int flags);
	ssize_t (*getxattr)(void *ctx, const char *path, const char *name, void *buf, size_t size);
	ssize_t (*listxattr)(void *ctx, const char *path, char *buf, size_t size);
	int (*removexattr)(void *ctx, const char *path, const char *name);
	/* The same of a symbolic link itself (lsetxattr(2), ...) and of an fd
	 * (fsetxattr(2), ...). */
	int (*lsetxattr)(void *ctx, const char *path, const char *name, const void *value,
			 size_t size, int flags);
	ssize_t (*lgetxattr)(void *ctx, const char *path, const char *name, void *buf,
			     size_t size);
	ssize_t (*llistxattr)(void *ctx, const char *path, char *buf, size_t size);
	int (*lremovexattr)(void *ctx, const char *path, const char *name);
	int (*fsetxattr)(void *ctx, int fd, const char *name, const void *value, size_t size,
			 int flags);
	ssize_t (*fgetxattr)(void *ctx, int fd, const char *name, void *buf, size_t size);
	ssize_t (*flistxattr)(void *ctx, int fd, char *buf, size_t size);
	int (*fremovexattr)(void *ctx, int fd, const char *name);
	int (*lchown)(void *ctx, const char *path, uid_t uid, gid_t gid);
	int (*symlink)(void *ctx, const char *target, const char *path);
	ssize_t (*readlink)(void *ctx, const char *path, char *buf, size_t n);
	int (*unlink)(void *ctx, const char *path);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*link)(void *ctx, const char *from, const char *to);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	int (*rmdir)(void *ctx, const char *path);
	/* mknod(2): regular files, FIFOs, sockets, devices (root). */
	int (*mknod)(void *ctx, const char *path, mode_t mode, dev_t dev);
	/* The *at calls, relative to an fd the target returned (an absolute
	 * path is translated as for the calls above, the fd ignored):
	 * openat(2), mkdirat(2), unlinkat(2) (AT_REMOVEDIR), renameat2(2)
	 * (RENAME_NOREPLACE, RENAME_EXCHANGE), linkat(2) (AT_SYMLINK_FOLLOW),
	 * fstatat(2) (AT_SYMLINK_NOFOLLOW). A relative path must not climb
	 * above the fd's directory with "..": the Linux side would leave its
	 * tree. */
	int (*openat)(void *ctx, int dirfd, const char *path, int flags, mode_t mode);
	int (*mkdirat)(void *ctx, int dirfd, const char *path, mode_t mode);
	int (*unlinkat)(void *ctx, int dirfd, const char *path, int flags);
	int (*renameat2)(void *ctx, int fromfd, const char *from, int tofd, const char *to,
			 unsigned flags);
	int (*linkat)(void *ctx, int fromfd, const char *from, int tofd, const char *to, int flags);
	int (*fstatat)(void *ctx, int dirfd, const char *path, struct stat *st, int flags);
	/* faccessat(2) (AT_EACCESS, AT_SYMLINK_NOFOLLOW), fchmodat(2) and
	 * fchownat(2) (AT_SYMLINK_NOFOLLOW); these three also take dirfd
	 * AT_FDCWD with an absolute path, the root included. */
	int (*faccessat)(void *ctx, int dirfd, const char *path, int mode, int flags);
	int (*fchmodat)(void *ctx, int dirfd, const char *path, mode_t mode, int flags);
	int (*fchownat)(void *ctx, int dirfd, const char *path, uid_t uid, gid_t gid, int flags);
	/* Fill `out` (initialised by the caller, emptied first) with the sorted
	 * entries of directory `path` without "." and "..". 0 or -errno. */
	int (*list_dir)(void *ctx, const char *path, struct oracle_dirlist *out);
	/* Commit everything (fs_sync). May be a no-op. */
	int (*sync)(void *ctx);
	/* Make the state durable and re-open it from storage (unmount + mount).
	 * Every fd of the target must be closed first. A no-op for Linux. */
	int (*remount)(void *ctx);
	/* Free the target (and what it owns). */
	void (*destroy)(void *ctx);
};

/* Release a target (calls destroy) and clear it. Safe on a cleared target. */
void target_destroy(struct target *t);

/* Linux target rooted at a fresh temporary directory (mode 0755) under
 * $ANK_TEST_TMPDIR or /tmp; the directory tree is removed by destroy.
 * Sets the process umask to 0 so that create modes are taken as given, as
 * the Ananke core does. Returns 0 or -errno. */
int target_libc_new(struct target *t, const char *name);
/* Linux target over an existing root directory that it does not own (several
 * targets can share one root, e.g. one per thread). */
int target_libc_attach(struct target *t, const char *name, const char *root);
/* The root directory of a libc target (made by either constructor). */
const char *target_libc_root(const struct target *t);

/* A wrapper that forwards everything to `inner` but is deliberately wrong in
 * one way, to prove that checkers notice a difference. The wrapper does not
 * own `inner`. */
enum oracle_fault {
	ORACLE_FAULT_PWRITE_FLIP_BYTE = 1, /* pwrite/write store one byte flipped */
	ORACLE_FAULT_RMDIR_EEXIST = 2,     /* rmdir reports EEXIST for ENOTEMPTY */
};
int target_faulty_new(struct target *t, struct target *inner, enum oracle_fault fault);

/* ---- helpers over any target ----------------------------------------------- */

/* errno name ("ENOENT") for a negative result, or the number for >= 0, in a
 * static-free caller buffer. Returns buf. */
const char *oracle_result_str(long r, char *buf, size_t len);

/* Read a whole regular file into a malloc'd buffer. 0 or -errno. */
int oracle_read_file(struct target *t, const char *path, uint8_t **data, size_t *len);

/* Compare what the core models of two stat results: type (S_IFMT),
 * permission bits (07777), nlink, owner, an atime and an mtime set long
 * ago (ORACLE_LONG_PAST), the size of regular files and symbolic links (a
 * link's: its target's length), and a device node's st_rdev. Returns 0
 * when equal, else 1 with the first difference described in msg. */
#define ORACLE_LONG_PAST 1000000000 /* times before this (2001) were set explicitly */
/* Set by a test where an atime that a read or a listing set (relatime)
 * may be missing on the service's side: one whose server crashes (such an
 * update is not logged, so a crash before the next commit may bring back
 * the atime it replaced, docs/DESIGN.md "atime"; Linux never loses one),
 * and one through the FUSE mount (the kernel answers reads from its page
 * cache, and reads at or past the end of file, without asking the
 * server). Then an atime set long past on one side only is not a
 * difference (the other side's read moved it); two set long past must
 * still be equal (utimensat is logged and reaches the server). */
extern bool oracle_atime_loose;
int oracle_stat_diff(const struct stat *a, const struct stat *b, char *msg, size_t len);

/* One entry of a tree walk. */
struct oracle_tree_ent {
	char *path;
	struct stat st;
	unsigned char type; /* DT_REG / DT_DIR / DT_LNK / DT_UNKNOWN */
};

struct oracle_tree {
	struct oracle_tree_ent *ents; /* walk order: a directory before its entries */
	size_t n, cap;
};

void oracle_tree_free(struct oracle_tree *tr);
/* Walk everything below "/" (the root itself is entry 0) with lstat:
 * symbolic links are entries of their own, never followed. 0 or -errno. */
int oracle_tree_walk(struct target *t, struct oracle_tree *out);

/*
 * Compare the whole trees of two targets: the same names at every level with
 * the same types, and for every entry (lstat: symbolic links are not
 * followed) the same nlink, permission bits (07777), type (S_IFMT), and for
 * regular files and symbolic links the same size; for every symbolic link
 * the same target (readlink); the same hard-link structure (entries sharing
 * an inode on one side share one on the other); with `contents` also every
 * regular file byte for byte.
 * Returns 0 when equal, 1 on a difference (described in msg), or a negative
 * errno when a walk failed on both sides the same way.
 */
int oracle_compare_trees(struct target *a, struct target *b, bool contents, char *msg,
                         size_t msglen);

/* ---- Ananke volumes and the Ananke target ---------------------------------- */

#ifndef ORACLE_LIBC_ONLY

struct oracle_volume {
	char image[4096];       /* image file path ("" for a RAM device) */
	struct bdev *dev;
	struct fs *fs;          /* NULL while unmounted */
	struct fs_options opt;
	uint64_t nblocks;
};

/*
 * Create a volume of `bytes` (a multiple of 4096): with emu false an image
 * file under $ANK_TEST_TMPDIR or /tmp opened with bdev_file_open, with emu
 * true a RAM device; then fs_mkfs and fs_mount with `opt` (NULL: defaults).
 * Returns 0 and *out, or -errno.
 */
int oracle_volume_create(struct oracle_volume **out, uint64_t bytes, bool emu,
                         const struct fs_options *opt);
int oracle_volume_unmount(struct oracle_volume *v);
int oracle_volume_mount(struct oracle_volume *v);
/* Unmount (if mounted) and mount again. 0 or the first -errno. */
int oracle_volume_remount(struct oracle_volume *v);
/* Unmount if mounted, close the device, remove the image file. */
void oracle_volume_destroy(struct oracle_volume *v);

/*
 * Ananke target over volume `v`. With client NULL the target creates and owns
 * its own client, and its remount frees that client, remounts the volume and
 * makes a new client (valid only when it is the volume's only client). With a
 * client given, the target only borrows it and remount returns -ENOTSUP.
 */
int target_ananke_new(struct target *t, const char *name, struct oracle_volume *v,
                      struct fs_client *client);
/* The same with the owned client's credentials uid/gid (kept on remount). */
int target_ananke_new_as(struct target *t, const char *name, struct oracle_volume *v,
			 struct fs_client *client, uint32_t uid, uint32_t gid);

/*
 * libananke target: the ank_* calls of this process's connection to a running
 * service (the caller has called ank_mount(), with umask 0 so that create
 * modes are taken as given, as the libc target does). Every path is placed
 * below `prefix`, an existing directory ("/p3-t1"; NULL or "" for the volume
 * root), so that several targets (one per thread or process) share one
 * volume without seeing each other. Answers for "/" that a subdirectory
 * cannot give are made as the libc target makes them. fds are the process's
 * (shared by its threads). sync is ank_sync(); remount is a no-op returning
 * 0 (the service owns the volume). Returns 0, -EINVAL (a relative prefix),
 * -ENAMETOOLONG or -ENOMEM.
 */
int target_ank_new(struct target *t, const char *name, const char *prefix);

#endif /* ORACLE_LIBC_ONLY */

#endif
