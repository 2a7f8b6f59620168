/*
 * format_csum.c - checksums and superblock validation shared by every reader
 * and writer of the on-disk format (mount, journal, fsck, dump). Each
 * checksum is CRC32C over the structure with its checksum field as zero.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "../util/crc32c.h"
#include "format.h"

/* CRC32C of `len` bytes at `p` where the 4 bytes at `csum_off` count as 0. */
static uint32_t csum_skip(const void *p, size_t len, size_t csum_off, uint32_t seed)
{
	static const uint8_t zero[4];
	const uint8_t *b = p;
	uint32_t c = crc32c(seed, b, csum_off);
	c = crc32c(c, zero, 4);
	return crc32c(c, b + csum_off + 4, len - csum_off - 4);
}

uint32_t ank_super_csum(const struct ank_super *sb)
{
	return csum_skip(sb, sizeof(*sb), offsetof(struct ank_super, checksum), 0);
}

uint32_t ank_dinode_csum(const struct ank_dinode *di)
{
	return csum_skip(di, sizeof(*di), offsetof(struct ank_dinode, checksum), 0);
}

uint32_t ank_extent_node_csum(const void *block)
{
	return csum_skip(block, ANK_BLOCK_SIZE, offsetof(struct ank_extent_header, checksum), 0);
}

uint32_t ank_dir_block_csum(const void *block, uint64_t dir_ino)
{
	return crc32c((uint32_t)dir_ino, block, ANK_DIR_TAIL_OFF);
}

uint32_t ank_xattr_csum(const void *box, size_t size, uint64_t ino)
{
	return csum_skip(box, size, offsetof(struct ank_xattr_header, checksum), (uint32_t)ino);
}

uint32_t ank_xattr_block_csum(const void *block, uint64_t ino)
{
	return ank_xattr_csum(block, ANK_BLOCK_SIZE, ino);
}

uint32_t ank_jhdr_csum(const struct ank_journal_header *h)
{
	return csum_skip(h, sizeof(*h), offsetof(struct ank_journal_header, checksum), 0);
}

uint32_t ank_jdesc_csum(const struct ank_journal_desc *d)
{
	return csum_skip(d, sizeof(*d), offsetof(struct ank_journal_desc, checksum), 0);
}

uint32_t ank_jcmt_csum(const struct ank_journal_commit *c)
{
	return csum_skip(c, sizeof(*c), offsetof(struct ank_journal_commit, checksum), 0);
}

/* Region [start, start+len) must lie inside [lo, hi). */
static int region_ok(uint64_t start, uint64_t len, uint64_t lo, uint64_t hi)
{
	return len > 0 && start >= lo && start < hi && len <= hi - start;
}

int ank_super_validate(const struct ank_super *sb, uint64_t device_blocks)
{
	if (sb->magic != ANK_SUPER_MAGIC)
		return ANK_CORRUPT("superblock: bad magic (not an ananke volume)");
	if (sb->checksum != ank_super_csum(sb))
		return ANK_CORRUPT("superblock: checksum mismatch");
	if (sb->version != ANK_FORMAT_VERSION)
		return ANK_CORRUPT("superblock: unknown format version");
	if (sb->feature_incompat & ~ANK_FEATURE_INCOMPAT_SUPP)
		return -EOPNOTSUPP;
	if (sb->block_size != ANK_BLOCK_SIZE)
		return ANK_CORRUPT("superblock: block size is not 4096");
	if (sb->block_count < 256)
		return ANK_CORRUPT("superblock: block count below the 1 MiB minimum");
	if (sb->block_count > device_blocks)
		return ANK_CORRUPT("superblock: block count larger than the device");
	uint64_t n = sb->block_count;
	/* Regions follow each other in the documented order without overlap. */
	if (sb->journal_start != 1 || sb->journal_blocks < 8 ||
	    !region_ok(sb->journal_start, sb->journal_blocks, 1, n))
		return ANK_CORRUPT("superblock: journal region out of range");
	if (sb->ibitmap_start != sb->journal_start + sb->journal_blocks ||
	    !region_ok(sb->ibitmap_start, sb->ibitmap_blocks, 1, n))
		return ANK_CORRUPT("superblock: inode bitmap region out of range");
	if (sb->bbitmap_start != sb->ibitmap_start + sb->ibitmap_blocks ||
	    !region_ok(sb->bbitmap_start, sb->bbitmap_blocks, 1, n))
		return ANK_CORRUPT("superblock: block bitmap region out of range");
	if (sb->itable_start != sb->bbitmap_start + sb->bbitmap_blocks ||
	    !region_ok(sb->itable_start, sb->itable_blocks, 1, n))
		return ANK_CORRUPT("superblock: inode table region out of range");
	if (sb->data_start != sb->itable_start + sb->itable_blocks || sb->data_start >= n)
		return ANK_CORRUPT("superblock: data region out of range");
	if (sb->inode_count < 2 || sb->inode_count > sb->itable_blocks * ank_inodes_per_block(sb) ||
	    sb->inode_count > sb->ibitmap_blocks * ANK_BLOCK_SIZE * 8)
		return ANK_CORRUPT("superblock: inode count does not fit its table");
	if (n > sb->bbitmap_blocks * ANK_BLOCK_SIZE * 8)
		return ANK_CORRUPT("superblock: block bitmap too small for the volume");
	if (sb->root_ino != ANK_ROOT_INO)
		return ANK_CORRUPT("superblock: root inode is not 1");
	if (sb->orphan_head >= sb->inode_count)
		return ANK_CORRUPT("superblock: orphan list head out of range");
	if (sb->state != ANK_STATE_CLEAN && sb->state != ANK_STATE_DIRTY)
		return ANK_CORRUPT("superblock: unknown state");
	return 0;
}

int ank_xattr_block_check(const uint8_t *blk, uint64_t ino, const char **why)
{
	return ank_xattr_check(blk, ANK_BLOCK_SIZE, ino, why);
}

int ank_xattr_check(const uint8_t *blk, size_t size, uint64_t ino, const char **why)
{
	const struct ank_xattr_header *h = (const void *)blk;
	*why = NULL;
	if (size == ANK_INODE_XATTR_SIZE) {
		bool empty = true;
		for (size_t k = 0; k < size && empty; k++)
			empty = blk[k] == 0;
		if (empty)
			return 0;
	}
	if (h->magic != ANK_XATTR_MAGIC)
		*why = "bad magic";
	else if (h->checksum != ank_xattr_csum(blk, size, ino))
		*why = "bad checksum";
	else if (h->ino != ino)
		*why = "belongs to another inode";
	else if (h->used > size - ANK_XATTR_HDR_SIZE || h->count == 0)
		*why = "bad entry count or size";
	if (*why)
		return -EUCLEAN;
	unsigned off = 0;
	for (unsigned k = 0; k < h->count; k++) {
		const struct ank_xattr_entry *e = (const void *)(blk + ANK_XATTR_HDR_SIZE + off);
		if (off + sizeof(*e) > h->used ||
		    off + ANK_XATTR_ENTRY_LEN(e->name_len, e->value_len) > h->used) {
			*why = "an entry runs past the end";
			return -EUCLEAN;
		}
		bool acl = e->name_index == ANK_XATTR_ACL_ACCESS ||
			   e->name_index == ANK_XATTR_ACL_DEFAULT;
		bool known = acl || e->name_index == ANK_XATTR_USER ||
			     e->name_index == ANK_XATTR_TRUSTED || e->name_index == ANK_XATTR_SECURITY;
		if (!known || (acl ? e->name_len != 0 : e->name_len == 0)) {
			*why = "an entry has a bad name";
			return -EUCLEAN;
		}
		off += ANK_XATTR_ENTRY_LEN(e->name_len, e->value_len);
	}
	if (off != h->used) {
		*why = "entries do not fill their space";
		return -EUCLEAN;
	}
	return 0;
}
