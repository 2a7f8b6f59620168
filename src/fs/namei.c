/*
 * namei.c - path resolution: walk "/a/b/c" from the root through the
 * directory index, handling ".", "..", repeated and trailing slashes, name
 * and path length limits, and search permission, with Linux's errno values.
 *
 * It does not create or remove anything. Called with fs->lock held.
 */
#include "namei.h"

#include <limits.h>

int namei_permission(const struct fs_client *c, const struct inode *ip, int mask)
{
	if (fs_client_uid(c) == 0) {
		/* root: exec needs at least one x bit on non-directories */
		if ((mask & NAMEI_MAY_EXEC) && !inode_is_dir(ip) && !(ip->d.mode & 0111))
			return -EACCES;
		return 0;
	}
	uint32_t mode = ip->d.mode;
	unsigned bits;
	if (ip->d.uid == fs_client_uid(c))
		bits = (mode >> 6) & 7;
	else if (ip->d.gid == fs_client_gid(c))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	return ((unsigned)mask & ~bits) ? -EACCES : 0;
}

/* Step from directory `dir` (referenced) through one component; on success
 * *next is referenced and dir is released. */
static int step(struct fs *fs, const struct fs_client *c, struct inode *dir, const char *name,
		size_t len, struct inode **next)
{
	int rc = namei_permission(c, dir, NAMEI_MAY_EXEC);
	if (rc < 0)
		return rc;
	uint64_t ino;
	if (len == 1 && name[0] == '.') {
		*next = dir;
		return 0;
	}
	if (len == 2 && name[0] == '.' && name[1] == '.')
		ino = dir->d.parent;
	else {
		rc = dir_lookup(fs, dir, name, len, &ino, NULL);
		if (rc < 0)
			return rc;
	}
	rc = inode_get(fs, ino, next);
	if (rc < 0)
		return rc;
	inode_put(fs, dir);
	return 0;
}

int namei_parent(struct fs *fs, const struct fs_client *c, const char *path,
		 struct nameidata *nd)
{
	memset(nd, 0, sizeof(*nd));
	if (!path || path[0] == '\0')
		return -ENOENT;
	size_t plen = strnlen(path, PATH_MAX);
	if (plen >= PATH_MAX)
		return -ENAMETOOLONG;
	struct inode *dir;
	int rc = inode_get(fs, ANK_ROOT_INO, &dir);
	if (rc < 0)
		return rc;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		const char *q = p;
		while (*q == '/')
			q++;
		if (*q == '\0') {
			/* last component (possibly empty: the path is "/") */
			nd->dir = dir;
			nd->name = s;
			nd->len = len;
			nd->trailing_slash = *p == '/';
			if (len == 1 && s[0] == '.')
				nd->dot = NAMEI_DOT;
			else if (len == 2 && s[0] == '.' && s[1] == '.')
				nd->dot = NAMEI_DOTDOT;
			return 0;
		}
		if (!inode_is_dir(dir)) {
			rc = -ENOTDIR;
			goto fail;
		}
		struct inode *next;
		rc = step(fs, c, dir, s, len, &next);
		if (rc < 0)
			goto fail;
		dir = next;
		if (!inode_is_dir(dir)) {
			rc = -ENOTDIR;
			goto fail;
		}
	}
fail:
	inode_put(fs, dir);
	return rc;
}

int namei_last(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
	       struct inode **out)
{
	struct inode *ip;
	int rc = namei_permission(c, nd->dir, NAMEI_MAY_EXEC);
	if (rc < 0)
		return rc;
	if (nd->len == 0 || nd->dot == NAMEI_DOT) {
		inode_ref(nd->dir);
		ip = nd->dir;
	} else {
		uint64_t ino;
		if (nd->dot == NAMEI_DOTDOT)
			ino = nd->dir->d.parent;
		else {
			rc = dir_lookup(fs, nd->dir, nd->name, nd->len, &ino, NULL);
			if (rc < 0)
				return rc;
		}
		rc = inode_get(fs, ino, &ip);
		if (rc < 0)
			return rc;
	}
	if (nd->trailing_slash && !inode_is_dir(ip)) {
		inode_put(fs, ip);
		return -ENOTDIR;
	}
	*out = ip;
	return 0;
}

int namei_lookup(struct fs *fs, const struct fs_client *c, const char *path, struct inode **out)
{
	struct nameidata nd;
	int rc = namei_parent(fs, c, path, &nd);
	if (rc < 0)
		return rc;
	rc = namei_last(fs, c, &nd, out);
	inode_put(fs, nd.dir);
	return rc;
}
