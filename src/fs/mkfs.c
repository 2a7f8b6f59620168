/*
 * mkfs.c - fs_mkfs(): write a fresh, empty file system on a whole device.
 *
 * Lays the regions out in the order format.h documents (superblock, journal,
 * inode bitmap, block bitmap, inode table, data), zeroes the journal and the
 * inode table in large batched writes, writes an empty journal header, both
 * bitmaps, the root directory inode, and finally the superblock, with a
 * flush before and after it so a superblock never describes metadata that
 * is not durable yet. It does not touch the data region (free blocks keep
 * whatever they held) and it does not mount anything.
 */
#include "fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "../bdev/bdev.h"
#include "../util/common.h"
#include "format.h"

#define MKFS_MIN_BLOCKS 256u
#define MKFS_ZERO_CHUNK 256u   /* blocks per zero-write request (1 MiB) */
#define MKFS_ZERO_BATCH 32u    /* requests per bdev_submit */

/* Fill buf with random bytes; falls back to a clock-derived mix if the
 * kernel's generator is unavailable (uuid/salt need not be cryptographic). */
static void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t r = getrandom(p + done, len - done, GRND_NONBLOCK);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	if (done < len) {
		uint64_t x = ank_mono_ns() ^ ((uint64_t)(uintptr_t)buf << 17);
		for (; done < len; done++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[done] = (uint8_t)(x >> 24);
		}
	}
}

static void bit_set(uint8_t *map, uint64_t i)
{
	map[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* Set bits [from, to) of map. */
static void bits_set_range(uint8_t *map, uint64_t from, uint64_t to)
{
	while (from < to && (from & 7))
		bit_set(map, from++);
	if (to - from >= 8) {
		uint64_t bytes = (to - from) >> 3;
		memset(map + (from >> 3), 0xff, bytes);
		from += bytes << 3;
	}
	while (from < to)
		bit_set(map, from++);
}

/* Write zeros to [start, start+count) in batches of large requests. */
static int zero_range(struct bdev *dev, const void *zero, uint64_t start, uint64_t count)
{
	struct bdev_io ios[MKFS_ZERO_BATCH];

	while (count > 0) {
		unsigned n = 0;
		while (n < MKFS_ZERO_BATCH && count > 0) {
			uint32_t len = (uint32_t)ANK_MIN(count, (uint64_t)MKFS_ZERO_CHUNK);
			ios[n] = (struct bdev_io){ .op = BDEV_WRITE, .blk = start, .nblk = len,
						   .buf = (void *)zero };
			start += len;
			count -= len;
			n++;
		}
		int rc = bdev_submit(dev, ios, n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Compute the layout into sb. 0 or -EINVAL when it does not fit. */
static int plan_layout(struct ank_super *sb, uint64_t nblocks, const struct fs_mkfs_options *opt)
{
	uint64_t jblocks = opt ? opt->journal_blocks : 0;
	uint64_t inodes = opt ? opt->inodes : 0;

	if (jblocks == 0)
		jblocks = ANK_MIN(ANK_MAX(nblocks / 16, (uint64_t)64), (uint64_t)8192);
	if (jblocks < 8 || jblocks >= nblocks)
		return -EINVAL;
	if (inodes == 0)
		inodes = nblocks * ANK_BLOCK_SIZE / 16384;
	if (inodes < 64)
		inodes = 64;
	/* Inode numbers must stay below 2^32 (extent node owners hold 32 bits). */
	if (inodes > ((uint64_t)1 << 32))
		return -EINVAL;
	inodes = ANK_ALIGN_UP(inodes, (uint64_t)ank_inodes_per_block(sb));

	const uint64_t bits_per_block = (uint64_t)ANK_BLOCK_SIZE * 8;
	sb->block_count = nblocks;
	sb->inode_count = inodes;
	sb->journal_start = 1;
	sb->journal_blocks = jblocks;
	sb->ibitmap_start = sb->journal_start + jblocks;
	sb->ibitmap_blocks = ANK_DIV_ROUND_UP(inodes, bits_per_block);
	sb->bbitmap_start = sb->ibitmap_start + sb->ibitmap_blocks;
	sb->bbitmap_blocks = ANK_DIV_ROUND_UP(nblocks, bits_per_block);
	sb->itable_start = sb->bbitmap_start + sb->bbitmap_blocks;
	sb->itable_blocks = inodes / ank_inodes_per_block(sb);
	sb->data_start = sb->itable_start + sb->itable_blocks;
	/* Metadata must leave room for at least one data block. */
	if (sb->data_start >= nblocks)
		return -EINVAL;
	return 0;
}

int fs_mkfs(struct bdev *dev, const struct fs_mkfs_options *opt)
{
	struct ank_super sb;
	uint8_t *zero = NULL, *map = NULL, *blk = NULL;
	const char *label = (opt && opt->label) ? opt->label : "ananke";
	int64_t now_sec;
	uint32_t now_nsec;
	int rc;

	if (!dev)
		return -EINVAL;
	if (dev->nblocks < MKFS_MIN_BLOCKS)
		return -EINVAL;
	if (strlen(label) >= sizeof(sb.label))
		return -EINVAL;

	memset(&sb, 0, sizeof(sb));
	sb.feature_incompat = ANK_FEATURE_INCOMPAT_FILETYPES | ANK_FEATURE_INCOMPAT_XATTR |
			      ANK_FEATURE_INCOMPAT_INLINE_LINKS | ANK_FEATURE_INCOMPAT_INODE_XATTRS;
	rc = plan_layout(&sb, dev->nblocks, opt);
	if (rc < 0)
		return rc;

	zero = ank_aligned_alloc((size_t)MKFS_ZERO_CHUNK * ANK_BLOCK_SIZE);
	blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	uint64_t map_blocks = ANK_MAX(sb.ibitmap_blocks, sb.bbitmap_blocks);
	map = ank_aligned_alloc((size_t)map_blocks * ANK_BLOCK_SIZE);
	if (!zero || !blk || !map) {
		rc = -ENOMEM;
		goto out;
	}
	memset(zero, 0, (size_t)MKFS_ZERO_CHUNK * ANK_BLOCK_SIZE);
	ank_now(&now_sec, &now_nsec);

	/* An interrupted mkfs must not leave an old, valid superblock in front
	 * of half-written metadata. */
	rc = bdev_write(dev, 0, 1, zero);
	if (rc < 0)
		goto out;

	/* Journal and inode table start out zero. */
	rc = zero_range(dev, zero, sb.journal_start, sb.journal_blocks);
	if (rc < 0)
		goto out;
	rc = zero_range(dev, zero, sb.itable_start, sb.itable_blocks);
	if (rc < 0)
		goto out;

	/* Journal header: empty log starting at index 0 with seq 1. */
	memset(blk, 0, ANK_BLOCK_SIZE);
	struct ank_journal_header *jh = (struct ank_journal_header *)blk;
	jh->magic = ANK_JHDR_MAGIC;
	jh->version = 1;
	jh->seq = 1;
	jh->tail = 0;
	fill_random(&jh->salt, sizeof(jh->salt));
	jh->checksum = ank_jhdr_csum(jh);
	rc = bdev_write(dev, sb.journal_start, 1, blk);
	if (rc < 0)
		goto out;

	/* Inode bitmap: inode 0 (never used) and the root; padding set. */
	const uint64_t bits_per_block = (uint64_t)ANK_BLOCK_SIZE * 8;
	memset(map, 0, (size_t)sb.ibitmap_blocks * ANK_BLOCK_SIZE);
	bit_set(map, 0);
	bit_set(map, ANK_ROOT_INO);
	bits_set_range(map, sb.inode_count, sb.ibitmap_blocks * bits_per_block);
	rc = bdev_write(dev, sb.ibitmap_start, (uint32_t)sb.ibitmap_blocks, map);
	if (rc < 0)
		goto out;

	/* Block bitmap: every metadata block; padding set. */
	memset(map, 0, (size_t)sb.bbitmap_blocks * ANK_BLOCK_SIZE);
	bits_set_range(map, 0, sb.data_start);
	bits_set_range(map, sb.block_count, sb.bbitmap_blocks * bits_per_block);
	rc = bdev_write(dev, sb.bbitmap_start, (uint32_t)sb.bbitmap_blocks, map);
	if (rc < 0)
		goto out;

	/* Root directory: empty ("." and ".." are implicit). */
	memset(blk, 0, ANK_BLOCK_SIZE);
	struct ank_dinode *root =
		(struct ank_dinode *)(void *)(blk + ank_inode_offset(&sb, ANK_ROOT_INO));
	root->mode = S_IFDIR | 0755;
	root->nlink = 2;
	root->atime_sec = root->mtime_sec = root->ctime_sec = now_sec;
	root->atime_nsec = root->mtime_nsec = root->ctime_nsec = now_nsec;
	root->generation = 1;
	root->ino = ANK_ROOT_INO;
	root->parent = ANK_ROOT_INO;
	root->eh.magic = ANK_EXTENT_MAGIC;
	root->eh.entries = 0;
	root->eh.max = ANK_EXTENT_ROOT_ENTRIES;
	root->eh.depth = 0;
	root->checksum = ank_dinode_csum(root);
	rc = bdev_write(dev, sb.itable_start, 1, blk);
	if (rc < 0)
		goto out;

	rc = bdev_flush(dev);
	if (rc < 0)
		goto out;

	sb.magic = ANK_SUPER_MAGIC;
	sb.version = ANK_FORMAT_VERSION;
	sb.block_size = ANK_BLOCK_SIZE;
	sb.root_ino = ANK_ROOT_INO;
	sb.orphan_head = 0;
	sb.free_blocks = sb.block_count - sb.data_start;
	sb.free_inodes = sb.inode_count - 2;
	sb.mkfs_time = now_sec;
	sb.write_time = now_sec;
	sb.state = ANK_STATE_CLEAN;
	fill_random(sb.uuid, sizeof(sb.uuid));
	memcpy(sb.label, label, strlen(label));
	sb.checksum = ank_super_csum(&sb);

	memset(blk, 0, ANK_BLOCK_SIZE);
	memcpy(blk, &sb, sizeof(sb));
	rc = bdev_write(dev, 0, 1, blk);
	if (rc < 0)
		goto out;
	rc = bdev_flush(dev);
out:
	free(zero);
	free(map);
	free(blk);
	return rc;
}
