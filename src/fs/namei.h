/*
 * namei.h - path resolution inside the core (see namei.c).
 */
#ifndef ANK_NAMEI_H
#define ANK_NAMEI_H

#include <limits.h>

#include "fs_internal.h"

#define NAMEI_MAY_EXEC 1
#define NAMEI_MAY_WRITE 2
#define NAMEI_MAY_READ 4

enum { NAMEI_NORMAL = 0, NAMEI_DOT = 1, NAMEI_DOTDOT = 2 };

/* Symbolic links followed in one resolution at most (Linux: 40); more is
 * ELOOP. */
#define NAMEI_MAX_LINKS 40

struct nameidata {
	struct inode *dir;     /* referenced parent directory (NULL after a
	                          failed namei_last_follow) */
	const char *name;      /* last component, in buf (NUL-ended) */
	size_t len;            /* 0: the path names the root itself */
	bool trailing_slash;
	int dot;               /* NAMEI_DOT / NAMEI_DOTDOT for "." / ".." */
	unsigned links;        /* symbolic links followed so far */
	char buf[PATH_MAX];    /* the path; at the end, its last component */
};

/* 0 or -EACCES: may the client access ip with the NAMEI_MAY_* mask? */
int namei_permission(const struct fs_client *c, const struct inode *ip, int mask);
/* Resolve every component but the last, following symbolic links on the
 * way, a relative path from `at` (fs.h). On success nd->dir is referenced
 * (release with inode_put). -ENOENT, -ENOTDIR, -ENAMETOOLONG, -EACCES,
 * -ELOOP, and at's errors (-EBADF, -EIO, -ESTALE). */
int namei_parent(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
		 struct nameidata *nd);
/* The inode `at` names (the root for FS_AT_ROOT; any type), referenced:
 * what an empty path with AT_EMPTY_PATH means. */
int namei_start(struct fs *fs, struct fs_client *c, struct fs_at at, struct inode **out);
/* Resolve the last component of nd, not following a symbolic link there
 * (unless a trailing slash follows it, as in Linux): *out referenced. */
int namei_last(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
	       struct inode **out);
/* The same, following a symbolic link there (and the links it leads to):
 * nd then describes where the last link led. On failure nd->dir may be
 * NULL (inode_put accepts it). */
int namei_last_follow(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		      struct inode **out);
/* The last component of nd is the symbolic link ip: resolve its target
 * (plus a trailing slash when nd had one) to its parent directory, as
 * namei_parent does; nd->dir is replaced. On failure nd->dir is NULL. */
int namei_follow(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		 struct inode *ip);
/* The target of symbolic link ip into buf (PATH_MAX bytes, NUL-ended): its
 * length, or -errno. */
int namei_read_link(struct fs *fs, struct inode *ip, char *buf);
/* Resolve a whole path, following a symbolic link at its end or not. */
int namei_lookup(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
		 struct inode **out);
int namei_lookup_nofollow(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
			  struct inode **out);

#endif
