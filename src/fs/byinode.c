/*
 * byinode.c - the core addressed by inode: a name in a directory given by
 * its inode number, or an object given by its own number. This is the
 * shape of the FUSE protocol (a nodeid and a name), and of a replay, which
 * knows the inode a logged call started from.
 *
 * Each call checks that `name` is one component, then runs the same body
 * as the path call, started at the directory's inode (fs_at_ino): a
 * relative path of one component is exactly (parent inode, name), so the
 * two APIs cannot drift apart. Neither API is beneath the other; both
 * reach the bodies in ops.c, which work on a resolved (directory, name).
 *
 * What it does not do: keep lookup counts. A node is named by its inode
 * number and its generation (which changes when the number is reused), so
 * the core needs no table of what a caller holds and has no forget call.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs_internal.h"

/* One component: not empty, no '/', at most ANK_NAME_MAX bytes. "." and
 * ".." are components (their meaning is the directory's). */
static int check_name(const char *name)
{
	if (!name || name[0] == '\0')
		return -ENOENT;
	size_t n = strnlen(name, ANK_NAME_MAX + 1);
	if (n > ANK_NAME_MAX)
		return -ENAMETOOLONG;
	return memchr(name, '/', n) ? -EINVAL : 0;
}

/* A directory's number and a name in it. (0 is no inode: fs_at_ino(0)
 * would mean the root.) */
static int check_in(uint64_t parent, const char *name)
{
	return parent == 0 ? -EINVAL : check_name(name);
}

/* The inode a successful create of this thread made (stamp.c keeps it;
 * reading it changes nothing). */
static void new_inode(int rc, uint64_t *ino)
{
	if (rc >= 0 && ino)
		*ino = fs_last_stamp.new_ino;
}

int fs_lookup(struct fs_client *c, uint64_t parent, const char *name, struct stat *st,
	      uint32_t *gen)
{
	int rc = check_in(parent, name);
	if (rc < 0)
		return rc;
	return fs_fstatat_gen(c, fs_at_ino(parent), name, st, AT_SYMLINK_NOFOLLOW, gen);
}

int fs_getattr(struct fs_client *c, uint64_t ino, struct stat *st, uint32_t *gen)
{
	if (ino == 0)
		return -EINVAL;
	return fs_fstatat_gen(c, fs_at_ino(ino), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, gen);
}

int fs_create(struct fs_client *c, uint64_t parent, const char *name, int flags, mode_t mode)
{
	int rc = check_in(parent, name);
	if (rc < 0)
		return rc;
	return fs_openat(c, fs_at_ino(parent), name, flags | O_CREAT, mode);
}

int fs_open_ino(struct fs_client *c, uint64_t ino, int flags)
{
	if (ino == 0)
		return -EINVAL;
	if (flags & O_CREAT)
		return -EINVAL; /* (a create names its parent and a name) */
	return fs_openat(c, fs_at_ino(ino), "", flags, 0);
}

int fs_mknod_in(struct fs_client *c, uint64_t parent, const char *name, mode_t mode,
		dev_t rdev, uint64_t *ino)
{
	int rc = check_in(parent, name);
	if (rc == 0)
		rc = fs_mknodat(c, fs_at_ino(parent), name, mode, rdev);
	new_inode(rc, ino);
	return rc;
}

int fs_mkdir_in(struct fs_client *c, uint64_t parent, const char *name, mode_t mode,
		uint64_t *ino)
{
	int rc = check_in(parent, name);
	if (rc == 0)
		rc = fs_mkdirat(c, fs_at_ino(parent), name, mode);
	new_inode(rc, ino);
	return rc;
}

int fs_symlink_in(struct fs_client *c, const char *target, uint64_t parent, const char *name,
		  uint64_t *ino)
{
	int rc = check_in(parent, name);
	if (rc == 0)
		rc = fs_symlinkat(c, target, fs_at_ino(parent), name);
	new_inode(rc, ino);
	return rc;
}

int fs_link_in(struct fs_client *c, uint64_t ino, uint64_t newparent, const char *newname)
{
	int rc = ino == 0 ? -EINVAL : check_in(newparent, newname);
	if (rc < 0)
		return rc;
	return fs_linkat(c, fs_at_ino(ino), "", fs_at_ino(newparent), newname, AT_EMPTY_PATH);
}

int fs_unlink_in(struct fs_client *c, uint64_t parent, const char *name)
{
	int rc = check_in(parent, name);
	return rc < 0 ? rc : fs_unlinkat(c, fs_at_ino(parent), name, 0);
}

int fs_rmdir_in(struct fs_client *c, uint64_t parent, const char *name)
{
	int rc = check_in(parent, name);
	return rc < 0 ? rc : fs_unlinkat(c, fs_at_ino(parent), name, AT_REMOVEDIR);
}

int fs_rename_in(struct fs_client *c, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags)
{
	int rc = check_in(parent, name);
	if (rc == 0)
		rc = check_in(newparent, newname);
	if (rc < 0)
		return rc;
	return fs_renameat2(c, fs_at_ino(parent), name, fs_at_ino(newparent), newname, flags);
}

ssize_t fs_readlink_ino(struct fs_client *c, uint64_t ino, char *buf, size_t n)
{
	if (ino == 0)
		return -EINVAL;
	return fs_readlinkat(c, fs_at_ino(ino), "", buf, n);
}
