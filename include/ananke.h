/*
 * ananke.h - libananke, the client API of the Ananke file system service.
 *
 * Each call mirrors its POSIX twin: same arguments, same return values, -1
 * with errno set on failure, and the errno values Linux gives. Applications
 * port by renaming calls. Paths are absolute inside the volume ("/a/b").
 *
 * The connection is per process: ank_mount() connects to the service, any
 * thread may then call any function, and fds are shared by all threads of
 * the process. Requests travel through a shared-memory ring; the fast path
 * makes no system call. Reads and writes of any size work (larger ones are
 * split into ring-sized pieces, returned as one count).
 *
 * Link with `pkg-config --cflags --libs ananke`.
 */
#ifndef ANANKE_H
#define ANANKE_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ank_dir ANK_DIR;

/* Connect this process to the service listening at socket_path; NULL means
 * $ANANKE_SOCKET, else "./ananke.sock". Returns 0, or -1 with errno:
 * ENOENT/ECONNREFUSED (no service there), EPROTO (the service speaks another
 * ring layout version), EISCONN (already mounted), EMFILE (the service has
 * as many clients as it can serve: 127 per worker thread), ESHUTDOWN (the
 * service is stopping), ENOMEM. */
int ank_mount(const char *socket_path);

/* Close every fd of this process and disconnect. 0, or -1 with EINVAL when
 * not mounted. Calls made after it fail with ENOTCONN. */
int ank_unmount(void);

/* open(2): flags O_RDONLY/O_WRONLY/O_RDWR, O_CREAT, O_EXCL, O_TRUNC,
 * O_APPEND, O_DIRECTORY; mode_t mode follows with O_CREAT (the process
 * umask is applied, as open(2) does). Returns the lowest free fd. Errors:
 * ENOENT, EEXIST, ENOTDIR, EISDIR, ENAMETOOLONG, EACCES, EINVAL, ENOSPC,
 * EMFILE, EIO (the service lost this request). */
int ank_open(const char *path, int flags, ...);

/* close(2). EBADF. */
int ank_close(int fd);

/* read(2) / write(2) at the fd's offset (O_APPEND: at the end). EBADF,
 * EISDIR, EINVAL, EFBIG, ENOSPC, EIO. */
ssize_t ank_read(int fd, void *buf, size_t n);
ssize_t ank_write(int fd, const void *buf, size_t n);

/* pread(2) / pwrite(2): the offset of the fd is not changed. */
ssize_t ank_pread(int fd, void *buf, size_t n, off_t off);
ssize_t ank_pwrite(int fd, const void *buf, size_t n, off_t off);

/* lseek(2): SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA and SEEK_HOLE (block
 * by block, as ext4). EBADF, EINVAL, ENXIO. */
off_t ank_lseek(int fd, off_t off, int whence);

/* fsync(2): the file's data, metadata and directory entry are durable when
 * it returns 0. fdatasync(2) gives the same guarantee. EBADF, EIO. */
int ank_fsync(int fd);
int ank_fdatasync(int fd);

/* fcntl(2): F_GETFL (the access mode and O_APPEND, O_DIRECTORY,
 * O_NOFOLLOW as opened, plus O_LARGEFILE as Linux reports it), F_SETFL
 * (O_APPEND changes; O_NONBLOCK, O_ASYNC, O_DIRECT, O_NOATIME are taken,
 * mean nothing here and are not reported by F_GETFL, unlike Linux), F_GETFD / F_SETFD (FD_CLOEXEC, kept by libananke:
 * the service has no exec; open's O_CLOEXEC sets it). The status flags
 * survive a server crash. F_DUPFD / F_DUPFD_CLOEXEC: see ank_dup.
 * Record locks, as Linux: F_GETLK, F_SETLK, F_SETLKW (POSIX locks, owned by
 * the process's connection, released when it closes any fd of the file)
 * and F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW (owned by the open file
 * description, released with its last fd). A read lock needs an fd open
 * for reading, a write lock one open for writing (EBADF); EAGAIN on a
 * conflict; F_SETLKW waits (asking the service again at growing
 * intervals, at most 10 ms apart) and fails with EDEADLK when the wait
 * would close a cycle of POSIX owners waiting for each other, EINTR when
 * a signal arrives. Locks survive a server crash (recovery "ananke").
 * Other commands answer EINVAL. EBADF. */
int ank_fcntl(int fd, int cmd, ...);
/* flock(2): LOCK_SH, LOCK_EX, LOCK_UN, with LOCK_NB (EWOULDBLOCK); owned by
 * the open file description; flock locks and record locks do not see
 * each other (as on Linux). Converting releases first, as Linux does. */
int ank_flock(int fd, int operation);
/* dup(2), dup2(2), dup3(2) (O_CLOEXEC), and fcntl's F_DUPFD /
 * F_DUPFD_CLOEXEC: the new fd names the same open file description (one
 * offset, one set of status flags), also after a server crash. New fd
 * numbers are below 65536 (EBADF / EINVAL beyond, as a file limit). */
int ank_dup(int fd);
int ank_dup2(int oldfd, int newfd);
int ank_dup3(int oldfd, int newfd, int flags);

/* fallocate(2): mode 0 allocates the blocks of [off, off + len) that are
 * holes (reading zeros) and extends the size to off + len;
 * FALLOC_FL_KEEP_SIZE allocates only the part below the size (nothing is
 * reserved past the end of a file). FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE)
 * makes the range read zeros and frees its whole blocks (holes);
 * FALLOC_FL_ZERO_RANGE makes it read zeros, allocated, growing the size
 * unless KEEP_SIZE. COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE and other
 * modes answer EOPNOTSUPP.
 * posix_fallocate(3): mode 0, the error returned rather than in errno.
 * EBADF (also: not open for writing), EINVAL, EISDIR, ENODEV, EFBIG,
 * ENOSPC. lseek's SEEK_DATA and SEEK_HOLE report the holes (blocks never
 * written), as ext4 does. */
int ank_fallocate(int fd, int mode, off_t off, off_t len);
int ank_posix_fallocate(int fd, off_t off, off_t len);

/* ftruncate(2) / truncate(2). EBADF, EINVAL, EISDIR, EFBIG, EACCES. */
int ank_ftruncate(int fd, off_t len);
int ank_truncate(const char *path, off_t len);

/* chmod(2) / fchmod(2): the permission bits (07777); the owner or root
 * only; a caller outside the file's group loses S_ISGID. chown(2) /
 * fchown(2) / lchown(2) (-1 leaves an id as it is): root gives files away,
 * an owner may change the group to his own; a non-directory loses S_ISUID,
 * and S_ISGID when the group may execute. utimensat(2) (a relative path
 * from dirfd, as the *at calls below; a NULL path means the file dirfd
 * refers to) and futimens(2): UTIME_NOW, UTIME_OMIT, times NULL for both now; flags 0
 * or AT_SYMLINK_NOFOLLOW. Every change sets ctime. EPERM, EACCES, EINVAL,
 * EBADF, ENOENT, ENOTDIR, ENAMETOOLONG. */
int ank_chmod(const char *path, mode_t mode);
int ank_fchmod(int fd, mode_t mode);
int ank_chown(const char *path, uid_t owner, gid_t group);
int ank_fchown(int fd, uid_t owner, gid_t group);
int ank_lchown(const char *path, uid_t owner, gid_t group);
int ank_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags);
int ank_futimens(int fd, const struct timespec times[2]);

/* stat(2) / fstat(2) / lstat(2) (a symbolic link at the end of the path is
 * not followed). st_dev is the service's, st_ino the volume's inode. */
int ank_stat(const char *path, struct stat *st);
int ank_fstat(int fd, struct stat *st);
int ank_lstat(const char *path, struct stat *st);

/* statfs(2) / fstatfs(2): the volume's blocks (of its data region), free
 * blocks (f_bavail = f_bfree: nothing is reserved), inodes and free inodes;
 * f_type is ANK_STATFS_MAGIC ("ANKE"), f_fsid the service's st_dev.
 * access(2) with the caller's ids (the service's client credentials):
 * F_OK, or R_OK | W_OK | X_OK; EINVAL for other bits, EACCES, EROFS and
 * the path's errors. */
int ank_statfs(const char *path, struct statfs *sf);
int ank_fstatfs(int fd, struct statfs *sf);
int ank_access(const char *path, int mode);
#define ANK_STATFS_MAGIC 0x414E4B45

/* unlink(2), rename(2), link(2), mkdir(2) (umask applied), rmdir(2). */
int ank_unlink(const char *path);
int ank_rename(const char *from, const char *to);
int ank_link(const char *from, const char *to);
int ank_mkdir(const char *path, mode_t mode);
int ank_rmdir(const char *path);

/* symlink(2): a symbolic link at linkpath whose target is `target` (any
 * string of 1 to PATH_MAX - 1 bytes, resolved when the link is used: a
 * relative target from the link's directory). readlink(2): the target, at
 * most bufsiz bytes, no NUL added. Every path call follows symbolic links
 * on the way (at most 40 in one path: ELOOP), and at the end of the path
 * except lstat, lchown, readlink, unlink, rename, link's first path,
 * rmdir (ENOTDIR), utimensat with AT_SYMLINK_NOFOLLOW and open with
 * O_NOFOLLOW (ELOOP); open with O_CREAT through a link to nothing creates
 * its target, with O_EXCL it fails (EEXIST). EEXIST, ENOENT, ENOTDIR,
 * EINVAL (readlink of no link), ENAMETOOLONG, EACCES, ELOOP. */
int ank_symlink(const char *target, const char *linkpath);
ssize_t ank_readlink(const char *path, char *buf, size_t bufsiz);

/* The *at calls: a relative path starts at directory fd dirfd (AT_FDCWD:
 * the root, which is every client's working directory here); an absolute
 * path ignores it; a relative path with a bad dirfd is EBADF, with a file's
 * ENOTDIR. Flags as Linux takes them (others: EINVAL): fstatat
 * AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (an empty path names dirfd itself),
 * AT_NO_AUTOMOUNT (nothing to do); faccessat AT_EACCESS (the same ids
 * here), AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; unlinkat AT_REMOVEDIR;
 * linkat AT_SYMLINK_FOLLOW, AT_EMPTY_PATH; fchownat AT_SYMLINK_NOFOLLOW,
 * AT_EMPTY_PATH; fchmodat AT_SYMLINK_NOFOLLOW (a symbolic link: ENOTSUP,
 * as Linux). renameat2: RENAME_NOREPLACE (EEXIST when `to` exists),
 * RENAME_EXCHANGE (both must exist; they swap), not both;
 * RENAME_WHITEOUT is EINVAL. A call logged and replayed after a crash
 * starts at the same directory, by its inode, even if dirfd was closed
 * meanwhile. */
int ank_openat(int dirfd, const char *path, int flags, ...);
int ank_mkdirat(int dirfd, const char *path, mode_t mode);
int ank_unlinkat(int dirfd, const char *path, int flags);
int ank_renameat(int fromfd, const char *from, int tofd, const char *to);
int ank_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags);
int ank_linkat(int fromfd, const char *from, int tofd, const char *to, int flags);
int ank_symlinkat(const char *target, int dirfd, const char *linkpath);
ssize_t ank_readlinkat(int dirfd, const char *path, char *buf, size_t bufsiz);
int ank_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int ank_faccessat(int dirfd, const char *path, int mode, int flags);
int ank_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
int ank_fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags);

/* mknod(2) / mknodat(2) / mkfifo(3) / mkfifoat(3) (umask applied): a
 * regular file, a FIFO, a socket, or (root only) a character or block
 * device. They are stored, listed and stat'ed (st_rdev) like Linux's, but
 * the service has no pipe, socket or driver behind them: opening one
 * through libananke answers ENXIO. EPERM (S_IFDIR; a device by another
 * user), EINVAL (another type), and the errors of mkdir. */
int ank_mknod(const char *path, mode_t mode, dev_t dev);
int ank_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);
int ank_mkfifo(const char *path, mode_t mode);
int ank_mkfifoat(int dirfd, const char *path, mode_t mode);

/* Extended attributes: setxattr(2), getxattr(2), listxattr(2),
 * removexattr(2), their l- (a symbolic link itself) and f- (an fd)
 * variants, with Linux's names, limits and errors. Namespaces user.
 * (regular files and directories), trusted. and security. (changed by
 * root only; trusted. also read and listed by root only), and the POSIX
 * ACLs system.posix_acl_access / system.posix_acl_default, which are
 * checked, stored and set the mode bits as Linux does, but are not
 * enforced (permission checks use the mode). Flags XATTR_CREATE (EEXIST)
 * and XATTR_REPLACE (ENODATA). A name is 1..255 bytes (ERANGE), a value at
 * most 65536 (E2BIG); one file's attributes share one 4 KiB block
 * (ENOSPC beyond). get and list with size 0 give the size needed, ERANGE
 * when size is too small. */
int ank_setxattr(const char *path, const char *name, const void *value, size_t size, int flags);
int ank_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags);
int ank_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
ssize_t ank_getxattr(const char *path, const char *name, void *value, size_t size);
ssize_t ank_lgetxattr(const char *path, const char *name, void *value, size_t size);
ssize_t ank_fgetxattr(int fd, const char *name, void *value, size_t size);
ssize_t ank_listxattr(const char *path, char *list, size_t size);
ssize_t ank_llistxattr(const char *path, char *list, size_t size);
ssize_t ank_flistxattr(int fd, char *list, size_t size);
int ank_removexattr(const char *path, const char *name);
int ank_lremovexattr(const char *path, const char *name);
int ank_fremovexattr(int fd, const char *name);

/* opendir(3) / readdir(3) / closedir(3). readdir returns NULL at the end
 * (errno unchanged) or on error (errno set). The dirent is valid until the
 * next readdir on the same ANK_DIR. "." and ".." come first. */
ANK_DIR *ank_opendir(const char *path);
struct dirent *ank_readdir(ANK_DIR *dir);
int ank_closedir(ANK_DIR *dir);

/* sync(2): everything written so far is durable when it returns 0. */
int ank_sync(void);

#ifdef __cplusplus
}
#endif

#endif
