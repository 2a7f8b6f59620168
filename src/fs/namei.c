/*
 * namei.c - path resolution: walk "/a/b/c" from the root through the
 * directory index, handling ".", "..", repeated and trailing slashes,
 * symbolic links (at most NAMEI_MAX_LINKS per resolution), name and path
 * length limits, and search permission, with Linux's errno values.
 *
 * It does not create or remove anything. Called with fs->lock held.
 */
#include "namei.h"

#include <limits.h>
#include <stdlib.h>

int namei_permission(const struct fs_client *c, const struct inode *ip, int mask)
{
	const uint32_t uid = fs_client_uid(c), gid = fs_client_gid(c);
	if (uid == 0) {
		/* root: exec needs at least one x bit on non-directories */
		if ((mask & NAMEI_MAY_EXEC) && !inode_is_dir(ip) && !(ip->d.mode & 0111))
			return -EACCES;
		return 0;
	}
	uint32_t mode = ip->d.mode;
	unsigned bits;
	if (ip->d.uid == uid)
		bits = (mode >> 6) & 7;
	else if (ip->d.gid == gid)
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	return ((unsigned)mask & ~bits) ? -EACCES : 0;
}

/* Read the target of symbolic link ip into buf (PATH_MAX bytes, NUL-ended):
 * its length, or -errno. */
int namei_read_link(struct fs *fs, struct inode *ip, char *buf)
{
	if (ip->d.size == 0 || ip->d.size >= PATH_MAX)
		return ANK_CORRUPT("symbolic link with a target of impossible length");
	if (ank_link_is_inline(&fs->sb, &ip->d)) {
		memcpy(buf, ank_link_inline_target(&ip->d), (size_t)ip->d.size);
		buf[ip->d.size] = '\0';
		return memchr(buf, '\0', (size_t)ip->d.size)
			       ? ANK_CORRUPT("symbolic link target with a NUL byte")
			       : (int)ip->d.size;
	}
	ssize_t n = file_read(fs, ip, buf, (size_t)ip->d.size, 0, NULL);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n != ip->d.size || memchr(buf, '\0', (size_t)n))
		return ANK_CORRUPT("symbolic link target unreadable or with a NUL byte");
	buf[n] = '\0';
	return (int)n;
}

/* The path still to walk: the path itself, and above it the bodies of
 * the links met on the way, each walked to its end before the rest of the
 * one below it. Bodies are malloc'ed; the path is nd->buf. */
struct walkstack {
	unsigned depth;                        /* segments above the path */
	bool slash_after;                      /* a "/" follows everything */
	const char *pos[NAMEI_MAX_LINKS + 2];  /* where each segment resumes */
	char *body[NAMEI_MAX_LINKS + 2];       /* body[0] is NULL: nd->buf */
};

static void stack_free(struct walkstack *ws)
{
	for (unsigned i = 1; i <= ws->depth; i++)
		free(ws->body[i]);
	ws->depth = 0;
}

/* Push the body of link ip: it is walked next. */
static int push_link(struct fs *fs, struct nameidata *nd, struct walkstack *ws,
		     struct inode *ip)
{
	if (++nd->links > NAMEI_MAX_LINKS)
		return -ELOOP;
	char *body = malloc(PATH_MAX);
	if (!body)
		return -ENOMEM;
	int n = namei_read_link(fs, ip, body);
	if (n < 0) {
		free(body);
		return n;
	}
	ws->depth++;
	ws->body[ws->depth] = body;
	ws->pos[ws->depth] = body;
	return 0;
}

/* Does nothing but slashes remain below the top segment? And does any
 * slash remain there (a trailing slash on the last component)? */
static bool rest_below_empty(const struct walkstack *ws, bool *slash)
{
	for (unsigned i = ws->depth; i-- > 0;) {
		for (const char *q = ws->pos[i]; *q; q++) {
			if (*q != '/')
				return false;
			*slash = true;
		}
	}
	return true;
}

/* Walk the segments of ws, starting in `dir` (referenced; released on
 * failure, kept as nd->dir on success), to the parent of the last
 * component, which is copied to nd->buf. ws is freed either way. */
static int walk(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		struct inode *dir, struct walkstack *ws)
{
	int rc;
	for (;;) {
		const char *p = ws->pos[ws->depth];
		while (*p == '/')
			p++;
		if (*p == '\0' && ws->depth > 0) {
			/* this link's body is walked: go on below it */
			free(ws->body[ws->depth]);
			ws->depth--;
			continue;
		}
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		const char *q = p;
		while (*q == '/')
			q++;
		bool slash = *p == '/' || ws->slash_after;
		ws->pos[ws->depth] = q;
		if (*q == '\0' && rest_below_empty(ws, &slash)) {
			/* last component (possibly empty: the path is "/") */
			memmove(nd->buf, s, len);
			nd->buf[len] = '\0';
			stack_free(ws);
			nd->dir = dir;
			nd->name = nd->buf;
			nd->len = len;
			nd->trailing_slash = slash;
			nd->dot = 0;
			if (len == 1 && nd->buf[0] == '.')
				nd->dot = NAMEI_DOT;
			else if (len == 2 && nd->buf[0] == '.' && nd->buf[1] == '.')
				nd->dot = NAMEI_DOTDOT;
			return 0;
		}
		if (!inode_is_dir(dir)) {
			rc = -ENOTDIR;
			goto fail;
		}
		rc = namei_permission(c, dir, NAMEI_MAY_EXEC);
		if (rc < 0)
			goto fail;
		if (len == 1 && s[0] == '.')
			continue;
		uint64_t ino;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			ino = dir->d.parent;
		else if ((rc = dir_lookup(fs, dir, s, len, &ino, NULL)) < 0)
			goto fail;
		struct inode *next;
		rc = inode_get(fs, ino, &next);
		if (rc < 0)
			goto fail;
		if (inode_is_symlink(next)) {
			/* go on through the link's target, from this directory
			 * or, for an absolute target, from the root */
			rc = push_link(fs, nd, ws, next);
			inode_put(fs, next);
			if (rc < 0)
				goto fail;
			if (ws->body[ws->depth][0] == '/') {
				inode_put(fs, dir);
				if ((rc = inode_get(fs, ANK_ROOT_INO, &dir)) < 0) {
					stack_free(ws);
					return rc;
				}
			}
			continue;
		}
		inode_put(fs, dir);
		dir = next;
		if (!inode_is_dir(dir)) {
			rc = -ENOTDIR;
			goto fail;
		}
	}
fail:
	stack_free(ws);
	inode_put(fs, dir);
	return rc;
}

/* The inode `at` names (fs.h's struct fs_at), referenced. */
int namei_start(struct fs *fs, struct fs_client *c, struct fs_at at, struct inode **out)
{
	if (at.ino) {
		if (at.ino >= fs->sb.inode_count)
			return -ESTALE;
		struct inode *cached = inode_cached(fs, at.ino);
		if (cached ? cached->d.mode == 0 : alloc_inode_state(fs, at.ino) != INO_ALLOCATED)
			return -ESTALE;
		int rc = inode_get(fs, at.ino, out);
		if (rc < 0)
			return rc;
	} else if (at.fd == AT_FDCWD) {
		return inode_get(fs, ANK_ROOT_INO, out);
	} else {
		struct ofile *of = fd_get(c, at.fd);
		if (!of)
			return fd_error(c, at.fd);
		inode_ref(of->ip);
		*out = of->ip;
	}
	return 0;
}

/* The directory a relative path starts from, referenced. */
static int start_dir(struct fs *fs, struct fs_client *c, struct fs_at at, struct inode **out)
{
	int rc = namei_start(fs, c, at, out);
	if (rc < 0)
		return rc;
	if (!inode_is_dir(*out)) {
		inode_put(fs, *out);
		return -ENOTDIR;
	}
	return 0;
}

int namei_parent(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
		 struct nameidata *nd)
{
	nd->dir = NULL;
	nd->name = NULL;
	nd->len = 0;
	nd->trailing_slash = false;
	nd->dot = 0;
	nd->links = 0;
	if (!path || path[0] == '\0')
		return -ENOENT;
	size_t plen = strnlen(path, PATH_MAX);
	if (plen >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(nd->buf, path, plen + 1);
	struct inode *dir;
	int rc = path[0] == '/' ? inode_get(fs, ANK_ROOT_INO, &dir) : start_dir(fs, c, at, &dir);
	if (rc < 0)
		return rc;
	struct walkstack ws = { .depth = 0, .slash_after = false };
	ws.body[0] = NULL;
	ws.pos[0] = nd->buf;
	return walk(fs, c, nd, dir, &ws);
}

/* The last component of nd, referenced, without the trailing-slash check. */
static int last(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		struct inode **out)
{
	/* (a walk with no last name, "/", searches nothing: Linux stats and
	 * opens "/" whatever its mode) */
	int rc = nd->len || nd->dot ? namei_permission(c, nd->dir, NAMEI_MAY_EXEC) : 0;
	if (rc < 0)
		return rc;
	if (nd->len == 0 || nd->dot == NAMEI_DOT) {
		inode_ref(nd->dir);
		*out = nd->dir;
		return 0;
	}
	uint64_t ino;
	if (nd->dot == NAMEI_DOTDOT)
		ino = nd->dir->d.parent;
	else if ((rc = dir_lookup(fs, nd->dir, nd->name, nd->len, &ino, NULL)) < 0)
		return rc;
	return inode_get(fs, ino, out);
}

int namei_last(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
	       struct inode **out)
{
	struct inode *ip;
	int rc = last(fs, c, nd, &ip);
	if (rc < 0)
		return rc;
	if (nd->trailing_slash && inode_is_symlink(ip)) {
		/* "link/" names what the link leads to (Linux follows it) */
		inode_put(fs, ip);
		return namei_last_follow(fs, c, nd, out);
	}
	if (nd->trailing_slash && !inode_is_dir(ip)) {
		inode_put(fs, ip);
		return -ENOTDIR;
	}
	*out = ip;
	return 0;
}

int namei_follow(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		 struct inode *ip)
{
	struct inode *dir = nd->dir;
	nd->dir = NULL;
	/* the link's body alone, with the trailing slash nd had */
	struct walkstack ws = { .depth = 0, .slash_after = nd->trailing_slash };
	ws.body[0] = NULL;
	nd->buf[0] = '\0';
	ws.pos[0] = nd->buf;
	int rc = push_link(fs, nd, &ws, ip);
	if (rc < 0) {
		inode_put(fs, dir);
		return rc;
	}
	if (ws.body[1][0] == '/') {
		inode_put(fs, dir);
		if ((rc = inode_get(fs, ANK_ROOT_INO, &dir)) < 0) {
			stack_free(&ws);
			return rc;
		}
	}
	return walk(fs, c, nd, dir, &ws);
}

int namei_last_follow(struct fs *fs, const struct fs_client *c, struct nameidata *nd,
		      struct inode **out)
{
	for (;;) {
		struct inode *ip;
		int rc = last(fs, c, nd, &ip);
		if (rc < 0)
			return rc;
		if (!inode_is_symlink(ip)) {
			if (nd->trailing_slash && !inode_is_dir(ip)) {
				inode_put(fs, ip);
				return -ENOTDIR;
			}
			*out = ip;
			return 0;
		}
		rc = namei_follow(fs, c, nd, ip);
		inode_put(fs, ip);
		if (rc < 0)
			return rc;
	}
}

static int lookup(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
		  bool follow, struct inode **out)
{
	struct nameidata nd;
	if (at.ino && path && path[0] == '\0')
		return namei_start(fs, c, at, out); /* an inode by number (fs.h) */
	int rc = namei_parent(fs, c, at, path, &nd);
	if (rc < 0)
		return rc;
	rc = follow ? namei_last_follow(fs, c, &nd, out) : namei_last(fs, c, &nd, out);
	inode_put(fs, nd.dir);
	return rc;
}

int namei_lookup(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
		 struct inode **out)
{
	return lookup(fs, c, at, path, true, out);
}

int namei_lookup_nofollow(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path,
			  struct inode **out)
{
	return lookup(fs, c, at, path, false, out);
}
