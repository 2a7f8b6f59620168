/*
 * xattr.c - extended attributes, with Linux's names, limits, errors and
 * permission rules (fs/xattr.c's xattr_permission, fs/posix_acl.c), kept in
 * one block per inode (format.h, "extended attributes"). A change reads the
 * block into a scratch copy, builds the new block there and writes it whole
 * through the journal; the last attribute removed frees the block.
 *
 * POSIX ACLs (system.posix_acl_access, system.posix_acl_default) are
 * checked as Linux checks them, stored in their canonical form, and an
 * access ACL sets the mode's permission bits as Linux does (one that the
 * mode expresses whole is not stored). They are not enforced: permission
 * checks look at the mode alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs_internal.h"
#include "namei.h"

#define NAME_MAX_ 255u
#define SIZE_MAX_ 65536u /* XATTR_SIZE_MAX */

/* ---- names ------------------------------------------------------------------------ */

struct xname {
	uint8_t index;
	uint8_t len;
	const char *suffix;
};

static const struct {
	const char *prefix;
	uint8_t index;
} prefixes[] = {
	{"user.", ANK_XATTR_USER},
	{"trusted.", ANK_XATTR_TRUSTED},
	{"security.", ANK_XATTR_SECURITY},
};

#define ACL_ACCESS_NAME "system.posix_acl_access"
#define ACL_DEFAULT_NAME "system.posix_acl_default"

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The namespace of a name: 0, -EOPNOTSUPP (none this file system has) or
 * -EINVAL (a prefix with nothing after it). */
static int xname_resolve(const char *name, struct xname *xn)
{
	if (!strcmp(name, ACL_ACCESS_NAME) || !strcmp(name, ACL_DEFAULT_NAME)) {
		xn->index = !strcmp(name, ACL_ACCESS_NAME) ? ANK_XATTR_ACL_ACCESS
							   : ANK_XATTR_ACL_DEFAULT;
		xn->len = 0;
		xn->suffix = "";
		return 0;
	}
	for (unsigned k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		if (!has_prefix(name, prefixes[k].prefix))
			continue;
		xn->suffix = name + strlen(prefixes[k].prefix);
		if (xn->suffix[0] == '\0')
			return -EINVAL;
		xn->index = prefixes[k].index;
		xn->len = (uint8_t)strlen(xn->suffix);
		return 0;
	}
	return -EOPNOTSUPP;
}

static const char *index_prefix(uint8_t index)
{
	switch (index) {
	case ANK_XATTR_USER:
		return "user.";
	case ANK_XATTR_TRUSTED:
		return "trusted.";
	case ANK_XATTR_SECURITY:
		return "security.";
	case ANK_XATTR_ACL_ACCESS:
		return ACL_ACCESS_NAME;
	case ANK_XATTR_ACL_DEFAULT:
		return ACL_DEFAULT_NAME;
	default:
		return NULL;
	}
}

/* A name as the system call takes it: 1 to 255 bytes, or -ERANGE. */
static int xname_check(const char *name)
{
	size_t n = name ? strnlen(name, NAME_MAX_ + 1) : 0;
	return n == 0 || n > NAME_MAX_ ? -ERANGE : 0;
}

/* Linux's xattr_permission: may client c read (NAMEI_MAY_READ) or change
 * (NAMEI_MAY_WRITE) attribute `name` of ip? */
static int xattr_may(const struct fs_client *c, const struct inode *ip, const char *name, int mask)
{
	bool root = fs_client_uid(c) == 0, write = mask & NAMEI_MAY_WRITE;
	if (has_prefix(name, "security.") || has_prefix(name, "system."))
		return 0;
	if (has_prefix(name, "trusted."))
		return root ? 0 : write ? -EPERM : -ENODATA;
	if (has_prefix(name, "user.")) {
		uint32_t t = ip->d.mode & S_IFMT;
		if (t != S_IFREG && t != S_IFDIR)
			return write ? -EPERM : -ENODATA;
		if (t == S_IFDIR && (ip->d.mode & S_ISVTX) && write && !root && fs_client_uid(c) != ip->d.uid)
			return -EPERM;
	}
	return namei_permission(c, ip, mask);
}

/* ---- the area in the inode and the block -------------------------------------------
 *
 * Both are "boxes" of one format (format.h), 256 or 4096 bytes. A name is
 * in one of them: a set puts it in the area when it fits there, else in
 * the block. */

static struct ank_xattr_header *hdr(uint8_t *blk)
{
	return (struct ank_xattr_header *)(void *)blk;
}

static struct ank_xattr_entry *entry_at(uint8_t *blk, unsigned off)
{
	return (struct ank_xattr_entry *)(void *)(blk + ANK_XATTR_HDR_SIZE + off);
}

static unsigned entry_len(const struct ank_xattr_entry *e)
{
	return ANK_XATTR_ENTRY_LEN(e->name_len, e->value_len);
}

static void box_empty(uint8_t *box, size_t size, uint64_t ino)
{
	memset(box, 0, size);
	hdr(box)->magic = ANK_XATTR_MAGIC;
	hdr(box)->ino = ino;
}

static void block_empty(uint8_t *blk, uint64_t ino)
{
	box_empty(blk, ANK_BLOCK_SIZE, ino);
}

/* ip's attribute block into blk (a scratch block): an empty one when it has
 * none. 0 or -errno; a damaged block is reported and refused. */
static int block_load(struct fs *fs, struct inode *ip, uint8_t *blk)
{
	uint64_t pblk = ip->d.xattr_block;
	if (pblk == 0) {
		block_empty(blk, ip->ino);
		return 0;
	}
	if (pblk < fs->sb.data_start || pblk >= fs->sb.block_count)
		return ANK_CORRUPT("extended attribute block outside the data region");
	struct buf *b;
	int rc = buf_get(fs, pblk, &b);
	if (rc < 0)
		return rc;
	memcpy(blk, b->data, ANK_BLOCK_SIZE);
	buf_put(fs, b);
	const char *why;
	if (ank_xattr_block_check(blk, ip->ino, &why) < 0)
		return ANK_CORRUPT("extended attribute block damaged");
	return 0;
}

/* Write blk as ip's attribute block: allocate one when ip has none, free
 * it when no entry is left. 0 or -errno (nothing changed). */
static int block_store(struct fs *fs, struct inode *ip, uint8_t *blk)
{
	struct ank_xattr_header *h = hdr(blk);
	uint64_t pblk = ip->d.xattr_block;
	if (h->count == 0) {
		if (pblk) {
			free_blocks(fs, pblk, 1);
			ip->d.xattr_block = 0;
			ip->d.blocks--;
		}
		return 0;
	}
	struct buf *b;
	int rc;
	if (pblk == 0) {
		uint32_t got;
		rc = alloc_blocks(fs, 0, 1, &pblk, &got);
		if (rc < 0)
			return rc;
		if (pblk > UINT32_MAX) { /* the inode's field holds 32 bits */
			free_blocks(fs, pblk, 1);
			return -ENOSPC;
		}
		rc = buf_new(fs, pblk, &b);
		if (rc < 0) {
			free_blocks(fs, pblk, 1);
			return rc;
		}
		ip->d.xattr_block = (uint32_t)pblk;
		ip->d.blocks++;
	} else {
		rc = buf_get(fs, pblk, &b);
		if (rc < 0)
			return rc;
	}
	h->checksum = ank_xattr_block_csum(blk, ip->ino);
	memcpy(b->data, blk, ANK_BLOCK_SIZE);
	buf_dirty(fs, b);
	buf_put(fs, b);
	return 0;
}

static int entry_cmp(uint8_t index, uint8_t len, const char *name, const struct ank_xattr_entry *e)
{
	if (index != e->name_index)
		return index < e->name_index ? -1 : 1;
	if (len != e->name_len)
		return len < e->name_len ? -1 : 1;
	return memcmp(name, (const char *)(e + 1), len);
}

/* The entry of xn in blk: its offset, or -1. */
static int entry_find(uint8_t *blk, const struct xname *xn)
{
	unsigned off = 0;
	for (unsigned k = 0; k < hdr(blk)->count; k++) {
		struct ank_xattr_entry *e = entry_at(blk, off);
		if (entry_cmp(xn->index, xn->len, xn->suffix, e) == 0)
			return (int)off;
		off += entry_len(e);
	}
	return -1;
}

/* Rebuild blk (a box of box_size bytes) without the entry of xn and, when
 * value is not NULL, with xn = value in its sorted place. -ENOSPC when it
 * does not fit (blk unchanged). */
static int box_rebuild(uint8_t *blk, size_t box_size, const struct xname *xn, const void *value,
		       size_t size)
{
	const unsigned space = (unsigned)box_size - ANK_XATTR_HDR_SIZE;
	uint8_t *nb = malloc(box_size);
	if (!nb)
		return -ENOMEM;
	box_empty(nb, box_size, hdr(blk)->ino);
	unsigned in = 0, out = 0;
	bool placed = value == NULL;
	struct ank_xattr_header *h = hdr(blk), *nh = hdr(nb);
	for (unsigned k = 0; k <= h->count; k++) {
		struct ank_xattr_entry *e = k < h->count ? entry_at(blk, in) : NULL;
		int cmp = e ? entry_cmp(xn->index, xn->len, xn->suffix, e) : -1;
		if (!placed && cmp <= 0) {
			unsigned len = ANK_XATTR_ENTRY_LEN(xn->len, size);
			if (out + len > space) {
				free(nb);
				return -ENOSPC;
			}
			struct ank_xattr_entry *ne = entry_at(nb, out);
			ne->name_index = xn->index;
			ne->name_len = xn->len;
			ne->value_len = (uint16_t)size;
			memcpy(ne + 1, xn->suffix, xn->len);
			if (size)
				memcpy((uint8_t *)(ne + 1) + xn->len, value, size);
			out += len;
			nh->count++;
			placed = true;
		}
		if (!e)
			break;
		unsigned len = entry_len(e);
		if (cmp != 0) {
			if (out + len > space) {
				free(nb);
				return -ENOSPC;
			}
			memcpy(entry_at(nb, out), e, len);
			out += len;
			nh->count++;
		}
		in += len;
	}
	nh->used = (uint16_t)out;
	memcpy(blk, nb, box_size);
	free(nb);
	return 0;
}

/* An inode's attributes while a call works on them: copies of its area
 * and of its block. */
struct xset {
	_Alignas(8) uint8_t blk[ANK_BLOCK_SIZE]; /* (headers are read in place) */
	_Alignas(8) uint8_t area[ANK_INODE_XATTR_SIZE];
	bool has_area; /* the volume has INODE_XATTRS */
};

static int xset_load(struct fs *fs, struct inode *ip, struct xset *xs)
{
	xs->has_area = ank_has_inode_xattrs(&fs->sb);
	box_empty(xs->area, sizeof(xs->area), ip->ino);
	if (xs->has_area) {
		const char *why;
		if (ank_xattr_check(ip->xa, sizeof(ip->xa), ip->ino, &why) < 0)
			return ANK_CORRUPT("extended attribute area of an inode damaged");
		if (hdr(ip->xa)->magic) /* (all zero: none) */
			memcpy(xs->area, ip->xa, sizeof(xs->area));
	}
	return block_load(fs, ip, xs->blk);
}

/* The box holding xn (*box), and the entry's offset in it; -1: none. */
static int xset_find(struct xset *xs, const struct xname *xn, uint8_t **box)
{
	int off = xs->has_area ? entry_find(xs->area, xn) : -1;
	if (off >= 0) {
		*box = xs->area;
		return off;
	}
	*box = xs->blk;
	return entry_find(xs->blk, xn);
}

/* xn without its entry and, when value is not NULL, with xn = value: in
 * the area when it fits there, else in the block. -ENOSPC when neither
 * has room. */
static int xset_put(struct xset *xs, const struct xname *xn, const void *value, size_t size)
{
	uint8_t *box;
	int rc = 0;
	if (xset_find(xs, xn, &box) >= 0)
		rc = box_rebuild(box, box == xs->area ? sizeof(xs->area) : sizeof(xs->blk), xn, NULL, 0);
	if (rc < 0 || !value)
		return rc;
	if (xs->has_area) {
		rc = box_rebuild(xs->area, sizeof(xs->area), xn, value, size);
		if (rc != -ENOSPC)
			return rc;
	}
	return box_rebuild(xs->blk, sizeof(xs->blk), xn, value, size);
}

/* Make xs ip's attributes: the block first (allocated or freed as needed),
 * then the area, which the caller's inode_dirty writes with the inode. 0
 * or -errno (nothing changed). */
static int xset_store(struct fs *fs, struct inode *ip, struct xset *xs)
{
	int rc = block_store(fs, ip, xs->blk);
	if (rc < 0 || !xs->has_area)
		return rc;
	if (hdr(xs->area)->count == 0) {
		memset(ip->xa, 0, sizeof(ip->xa));
	} else {
		hdr(xs->area)->checksum = ank_xattr_csum(xs->area, sizeof(xs->area), ip->ino);
		memcpy(ip->xa, xs->area, sizeof(ip->xa));
	}
	return 0;
}

void xattr_release(struct fs *fs, struct inode *ip)
{
	memset(ip->xa, 0, sizeof(ip->xa));
	uint64_t pblk = ip->d.xattr_block;
	if (pblk == 0)
		return;
	ip->d.xattr_block = 0;
	if (ip->d.blocks)
		ip->d.blocks--;
	free_blocks(fs, pblk, 1); /* (out of range: reported, left to fsck) */
}

/* ---- POSIX ACLs ----------------------------------------------------------------------- */

#define ACL_VERSION 2u
enum { TAG_USER_OBJ = 1, TAG_USER = 2, TAG_GROUP_OBJ = 4, TAG_GROUP = 8, TAG_MASK = 0x10,
       TAG_OTHER = 0x20 };

struct acl_entry {
	uint16_t tag, perm;
	uint32_t id;
};

/* Check an ACL value as Linux's posix_acl_from_xattr and posix_acl_valid
 * do, put it in canonical form in *out (ids of the entries that have none
 * set to -1), and give the permission bits it sets (*bits) and whether the
 * mode alone expresses it (*equiv). An empty ACL (no entries) is NULL. */
static int acl_parse(const void *value, size_t size, uint8_t *out, uint32_t *bits, bool *equiv)
{
	uint32_t version;
	if (size < 4)
		return -EINVAL;
	memcpy(&version, value, 4);
	if (version != ACL_VERSION)
		return -EOPNOTSUPP;
	if ((size - 4) % sizeof(struct acl_entry))
		return -EINVAL;
	size_t n = (size - 4) / sizeof(struct acl_entry);
	memcpy(out, value, 4);
	int state = TAG_USER_OBJ;
	bool needs_mask = false;
	uint32_t user = 0, group = 0, mask = 0, other = 0;
	bool has_mask = false;
	*equiv = true;
	for (size_t k = 0; k < n; k++) {
		struct acl_entry e;
		memcpy(&e, (const uint8_t *)value + 4 + k * sizeof(e), sizeof(e));
		if (e.perm & ~7u)
			return -EINVAL;
		switch (e.tag) {
		case TAG_USER_OBJ:
			if (state != TAG_USER_OBJ)
				return -EINVAL;
			state = TAG_USER;
			user = e.perm;
			e.id = UINT32_MAX;
			break;
		case TAG_USER:
		case TAG_GROUP:
			if (state != (e.tag == TAG_USER ? TAG_USER : TAG_GROUP) || e.id == UINT32_MAX)
				return -EINVAL;
			needs_mask = true;
			*equiv = false;
			break;
		case TAG_GROUP_OBJ:
			if (state != TAG_USER)
				return -EINVAL;
			state = TAG_GROUP;
			group = e.perm;
			e.id = UINT32_MAX;
			break;
		case TAG_MASK:
			if (state != TAG_GROUP)
				return -EINVAL;
			state = TAG_OTHER;
			mask = e.perm;
			has_mask = true;
			*equiv = false;
			e.id = UINT32_MAX;
			break;
		case TAG_OTHER:
			if (state != TAG_OTHER && !(state == TAG_GROUP && !needs_mask))
				return -EINVAL;
			state = 0;
			other = e.perm;
			e.id = UINT32_MAX;
			break;
		default:
			return -EINVAL;
		}
		memcpy(out + 4 + k * sizeof(e), &e, sizeof(e));
	}
	if (n && state != 0)
		return -EINVAL;
	*bits = user << 6 | (has_mask ? mask : group) << 3 | other;
	return n ? 0 : 1; /* 1: no ACL */
}

/* ---- the calls on an inode -------------------------------------------------------------- */

static int xattr_set_inode(struct fs *fs, struct fs_client *c, struct inode *ip,
			   const char *name, const void *value, size_t size, int flags)
{
	bool root = fs_client_uid(c) == 0;
	int rc = xattr_may(c, ip, name, NAMEI_MAY_WRITE);
	if (rc < 0)
		return rc;
	if (has_prefix(name, "security.") && !root)
		return -EPERM; /* (the capability module's rule: CAP_SYS_ADMIN) */
	struct xname xn;
	rc = xname_resolve(name, &xn);
	if (rc < 0)
		return rc;
	uint8_t acl[ANK_XATTR_SPACE];
	uint32_t mode = ip->d.mode;
	bool acl_name = xn.index == ANK_XATTR_ACL_ACCESS || xn.index == ANK_XATTR_ACL_DEFAULT;
	if (acl_name) {
		if (inode_is_symlink(ip))
			return -EOPNOTSUPP;
		bool equiv = false;
		uint32_t bits = 0;
		rc = size == 0 ? 1 : size > sizeof(acl) ? -ENOSPC : acl_parse(value, size, acl, &bits, &equiv);
		if (rc < 0)
			return rc;
		bool none = rc == 1;
		if (xn.index == ANK_XATTR_ACL_DEFAULT && !inode_is_dir(ip)) {
			fs_last_stamp.new_ino = ip->ino;
			return none ? 0 : -EACCES;
		}
		if (!root && fs_client_uid(c) != ip->d.uid)
			return -EPERM;
		if (xn.index == ANK_XATTR_ACL_ACCESS && !none) {
			mode = (mode & ~0777u) | bits;
			if (!root && fs_client_gid(c) != ip->d.gid)
				mode &= ~(uint32_t)S_ISGID;
		}
		/* no ACL, or one the mode says whole: the entry goes */
		value = none || (xn.index == ANK_XATTR_ACL_ACCESS && equiv) ? NULL : acl;
		flags = 0;
	}
	if (value == NULL && !acl_name)
		value = ""; /* an empty value */
	rc = fs_op_begin(fs);
	if (rc < 0)
		return rc;
	struct xset *xs = malloc(sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	rc = xset_load(fs, ip, xs);
	bool changed = mode != ip->d.mode;
	if (rc == 0) {
		uint8_t *box;
		bool exists = xset_find(xs, &xn, &box) >= 0;
		changed |= exists || value;
		if (exists && (flags & XATTR_CREATE))
			rc = -EEXIST;
		else if (!exists && (flags & XATTR_REPLACE))
			rc = -ENODATA;
		else if (value && size > ANK_XATTR_SPACE)
			rc = -ENOSPC;
		else if (exists || value)
			rc = xset_put(xs, &xn, value, size);
		if (rc == 0 && (exists || value))
			rc = xset_store(fs, ip, xs);
	}
	free(xs);
	fs_last_stamp.new_ino = ip->ino;
	if (rc < 0 || !changed)
		return rc; /* (removing an ACL that is not there changes nothing) */
	ip->d.mode = mode;
	inode_touch(ip, false, true);
	inode_dirty(fs, ip);
	return 0;
}

static int xattr_remove_inode(struct fs *fs, struct fs_client *c, struct inode *ip,
			      const char *name)
{
	int rc = xattr_may(c, ip, name, NAMEI_MAY_WRITE);
	if (rc < 0)
		return rc;
	if (has_prefix(name, "security.") && fs_client_uid(c) != 0)
		return -EPERM;
	struct xname xn;
	rc = xname_resolve(name, &xn);
	if (rc < 0)
		return rc;
	if (xn.index == ANK_XATTR_ACL_ACCESS || xn.index == ANK_XATTR_ACL_DEFAULT)
		return xattr_set_inode(fs, c, ip, name, NULL, 0, 0); /* removing an ACL */
	rc = fs_op_begin(fs);
	if (rc < 0)
		return rc;
	struct xset *xs = malloc(sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	rc = xset_load(fs, ip, xs);
	uint8_t *box;
	if (rc == 0)
		rc = xset_find(xs, &xn, &box) < 0 ? -ENODATA : xset_put(xs, &xn, NULL, 0);
	if (rc == 0)
		rc = xset_store(fs, ip, xs);
	free(xs);
	if (rc < 0)
		return rc;
	inode_touch(ip, false, true);
	inode_dirty(fs, ip);
	fs_last_stamp.new_ino = ip->ino;
	return 0;
}

static ssize_t xattr_get_inode(struct fs *fs, struct fs_client *c, struct inode *ip,
			       const char *name, void *buf, size_t size)
{
	int rc = xattr_may(c, ip, name, NAMEI_MAY_READ);
	if (rc < 0)
		return rc;
	struct xname xn;
	rc = xname_resolve(name, &xn);
	if (rc < 0)
		return rc;
	/* (a symbolic link has no ACL: Linux's handler refuses the name) */
	if ((xn.index == ANK_XATTR_ACL_ACCESS || xn.index == ANK_XATTR_ACL_DEFAULT) &&
	    inode_is_symlink(ip))
		return -EOPNOTSUPP;
	struct xset *xs = malloc(sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	rc = xset_load(fs, ip, xs);
	ssize_t n = rc;
	if (rc == 0) {
		uint8_t *box;
		int off = xset_find(xs, &xn, &box);
		if (off < 0) {
			n = -ENODATA;
		} else {
			struct ank_xattr_entry *e = entry_at(box, (unsigned)off);
			n = e->value_len;
			if (size && size < e->value_len)
				n = -ERANGE;
			else if (size)
				memcpy(buf, (uint8_t *)(e + 1) + e->name_len, e->value_len);
		}
	}
	free(xs);
	return n;
}

static ssize_t xattr_list_inode(struct fs *fs, struct fs_client *c, struct inode *ip, char *buf,
				size_t size)
{
	struct xset *xs = malloc(sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	int rc = xset_load(fs, ip, xs);
	ssize_t total = rc;
	for (int which = 0; rc == 0 && which < 2; which++) {
		uint8_t *blk = which == 0 ? xs->area : xs->blk; /* (the area: in the inode) */
		unsigned off = 0;
		for (unsigned k = 0; k < hdr(blk)->count; k++) {
			struct ank_xattr_entry *e = entry_at(blk, off);
			off += entry_len(e);
			if (e->name_index == ANK_XATTR_TRUSTED && fs_client_uid(c) != 0)
				continue; /* listed for the privileged only */
			const char *p = index_prefix(e->name_index);
			size_t plen = strlen(p), len = plen + e->name_len + 1;
			if (size && (size_t)total + len <= size) {
				memcpy(buf + total, p, plen);
				memcpy(buf + total + plen, e + 1, e->name_len);
				buf[total + (ssize_t)len - 1] = '\0';
			}
			total += (ssize_t)len;
		}
	}
	if (rc == 0 && size && (size_t)total > size)
		total = -ERANGE;
	free(xs);
	return total;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int at_flags_check(int at_flags)
{
	return at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) ? -EINVAL : 0;
}

int fs_setxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		  const char *name, const void *value, size_t size, int flags)
{
	struct fs *fs = c->fs;
	int rc = at_flags_check(at_flags);
	if (rc == 0 && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		rc = -EINVAL;
	if (rc == 0)
		rc = xname_check(name);
	if (rc == 0 && size > SIZE_MAX_)
		rc = -E2BIG;
	if (rc < 0)
		return rc;
	fs_lock(fs);
	struct inode *ip;
	rc = fs_lookup_at(fs, c, at, path, at_flags, &ip);
	if (rc == 0) {
		rc = xattr_set_inode(fs, c, ip, name, value, size, flags);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

ssize_t fs_getxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		      const char *name, void *buf, size_t size)
{
	struct fs *fs = c->fs;
	int rc = at_flags_check(at_flags);
	if (rc == 0)
		rc = xname_check(name);
	if (rc < 0)
		return rc;
	if (size > SIZE_MAX_)
		size = SIZE_MAX_;
	fs_lock(fs);
	struct inode *ip;
	ssize_t n = fs_lookup_at(fs, c, at, path, at_flags, &ip);
	if (n == 0) {
		n = xattr_get_inode(fs, c, ip, name, buf, size);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return n;
}

ssize_t fs_listxattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		       char *buf, size_t size)
{
	struct fs *fs = c->fs;
	int rc = at_flags_check(at_flags);
	if (rc < 0)
		return rc;
	if (size > SIZE_MAX_)
		size = SIZE_MAX_;
	fs_lock(fs);
	struct inode *ip;
	ssize_t n = fs_lookup_at(fs, c, at, path, at_flags, &ip);
	if (n == 0) {
		n = xattr_list_inode(fs, c, ip, buf, size);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return n;
}

int fs_removexattrat(struct fs_client *c, struct fs_at at, const char *path, int at_flags,
		     const char *name)
{
	struct fs *fs = c->fs;
	int rc = at_flags_check(at_flags);
	if (rc == 0)
		rc = xname_check(name);
	if (rc < 0)
		return rc;
	fs_lock(fs);
	struct inode *ip;
	rc = fs_lookup_at(fs, c, at, path, at_flags, &ip);
	if (rc == 0) {
		rc = xattr_remove_inode(fs, c, ip, name);
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}

/* Replay (by inode number: the names that led there may have changed).
 * A set replaces whatever is there; a remove of what is gone is done. */
int fs_xattr_replay(struct fs_client *c, uint64_t ino, const char *name, const void *value,
		    size_t size, bool remove)
{
	struct fs *fs = c->fs;
	int rc = xname_check(name);
	if (rc < 0)
		return rc;
	fs_lock(fs);
	struct inode *ip;
	rc = fs_inode_by_number(fs, ino, &ip);
	if (rc == 0) {
		if (remove) {
			rc = xattr_remove_inode(fs, c, ip, name);
			if (rc == -ENODATA)
				rc = 0;
		} else {
			rc = xattr_set_inode(fs, c, ip, name, value ? value : "", size, 0);
		}
		inode_put(fs, ip);
	}
	fs_unlock(fs);
	return rc;
}
