/*
 * namei.h - path resolution inside the core (see namei.c).
 */
#ifndef ANK_NAMEI_H
#define ANK_NAMEI_H

#include "fs_internal.h"

#define NAMEI_MAY_EXEC 1
#define NAMEI_MAY_WRITE 2
#define NAMEI_MAY_READ 4

enum { NAMEI_NORMAL = 0, NAMEI_DOT = 1, NAMEI_DOTDOT = 2 };

struct nameidata {
	struct inode *dir;     /* referenced parent directory */
	const char *name;      /* last component inside the path, not NUL-ended */
	size_t len;            /* 0: the path names the root itself */
	bool trailing_slash;
	int dot;               /* NAMEI_DOT / NAMEI_DOTDOT for "." / ".." */
};

/* 0 or -EACCES: may the client access ip with the NAMEI_MAY_* mask? */
int namei_permission(const struct fs_client *c, const struct inode *ip, int mask);
/* Resolve every component but the last. On success nd->dir is referenced
 * (release with inode_put). -ENOENT, -ENOTDIR, -ENAMETOOLONG, -EACCES. */
int namei_parent(struct fs *fs, const struct fs_client *c, const char *path,
		 struct nameidata *nd);
/* Resolve the last component of nd: *out referenced. */
int namei_last(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
	       struct inode **out);
/* Resolve a whole path. */
int namei_lookup(struct fs *fs, const struct fs_client *c, const char *path, struct inode **out);

#endif
