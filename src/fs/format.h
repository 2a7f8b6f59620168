/*
 * format.h - the on-disk format, byte by byte. docs/FORMAT.md is the prose
 * version of this file; the _Static_asserts below pin every size and key
 * offset so the two cannot drift.
 *
 * All integers are little-endian. Blocks are 4096 bytes. Checksums are CRC32C
 * computed over the structure with its checksum field set to zero.
 *
 * Layout of a volume (block numbers, all ranges fixed at mkfs):
 *
 *   0                          superblock
 *   [journal_start, +journal_blocks)   journal (s-log); its first block is
 *                                      the journal header
 *   [ibitmap_start, +ibitmap_blocks)   inode allocation bitmap (bit i = ino i)
 *   [bbitmap_start, +bbitmap_blocks)   block allocation bitmap (bit b = block b;
 *                                      every block before data_start is set)
 *   [itable_start, +itable_blocks)     inode table: records of 256 bytes (16
 *                                      per block), or of 512 with
 *                                      INODE_XATTRS (8 per block: the inode,
 *                                      then its attribute area); inode i
 *                                      lives at record i
 *   [data_start, block_count)          data, directory and extent-tree blocks
 *
 * Inode 0 is never used (0 means "no inode"); inode 1 is the root directory.
 */
#ifndef ANK_FORMAT_H
#define ANK_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../util/common.h"

/* ---- superblock (block 0) ----------------------------------------------- */

#define ANK_SUPER_MAGIC 0x314B4E41u /* "ANK1" */
#define ANK_FORMAT_VERSION 1u

/* Feature words. A mount refuses any incompat bit it does not know; a
 * read-write mount also refuses unknown ro_compat bits.
 * INCOMPAT_FILETYPES: inodes of every type (symbolic links, FIFOs, sockets,
 * devices with their rdev fields), which a program that knows only
 * regular files and directories would take for corruption. mkfs sets it;
 * a read-write mount of a volume without it sets it before anything can
 * be created. */
#define ANK_FEATURE_INCOMPAT_FILETYPES 0x1u
/* INCOMPAT_XATTR: inodes may own an extended attribute block (xattr_block),
 * which a program that does not know it would leak or hand out again.
 * Set like FILETYPES. */
#define ANK_FEATURE_INCOMPAT_XATTR 0x2u
/* INCOMPAT_INLINE_LINKS: a symbolic link without a data block keeps its
 * target in the inode, where a program that does not know it would read
 * an extent map (ank_link_is_inline). Set like FILETYPES. */
#define ANK_FEATURE_INCOMPAT_INLINE_LINKS 0x4u
/* INCOMPAT_INODE_XATTRS: the inode table's records are 512 bytes, the
 * inode and after it an area for extended attributes
 * (ank_inode_rec_size), where a program that does not know it would look
 * for every other inode. mkfs sets it; a mount never adds it. */
#define ANK_FEATURE_INCOMPAT_INODE_XATTRS 0x8u
#define ANK_FEATURE_COMPAT_SUPP 0u
#define ANK_FEATURE_INCOMPAT_SUPP (ANK_FEATURE_INCOMPAT_FILETYPES | ANK_FEATURE_INCOMPAT_XATTR | \
				   ANK_FEATURE_INCOMPAT_INLINE_LINKS | \
				   ANK_FEATURE_INCOMPAT_INODE_XATTRS)
#define ANK_FEATURE_RO_COMPAT_SUPP 0u

#define ANK_STATE_CLEAN 1u /* unmounted cleanly: journal empty */
#define ANK_STATE_DIRTY 2u /* mounted, or crashed while mounted */

#define ANK_ROOT_INO 1u

struct ank_super {
	uint32_t magic;              /* 0   ANK_SUPER_MAGIC */
	uint32_t version;            /* 4   ANK_FORMAT_VERSION */
	uint32_t feature_compat;     /* 8   */
	uint32_t feature_incompat;   /* 12  */
	uint32_t feature_ro_compat;  /* 16  */
	uint32_t block_size;         /* 20  always 4096 */
	uint64_t block_count;        /* 24  blocks in the volume */
	uint64_t inode_count;        /* 32  inode numbers 0..inode_count-1 */
	uint64_t journal_start;      /* 40  */
	uint64_t journal_blocks;     /* 48  including the journal header */
	uint64_t ibitmap_start;      /* 56  */
	uint64_t ibitmap_blocks;     /* 64  */
	uint64_t bbitmap_start;      /* 72  */
	uint64_t bbitmap_blocks;     /* 80  */
	uint64_t itable_start;       /* 88  */
	uint64_t itable_blocks;      /* 96  */
	uint64_t data_start;         /* 104 first data block */
	uint64_t root_ino;           /* 112 ANK_ROOT_INO */
	uint64_t orphan_head;        /* 120 first inode of the orphan list, 0 = none */
	uint64_t free_blocks;        /* 128 advisory; recomputed from bitmaps at mount */
	uint64_t free_inodes;        /* 136 advisory */
	int64_t mkfs_time;           /* 144 seconds since the epoch */
	int64_t mount_time;          /* 152 */
	int64_t write_time;          /* 160 last time the superblock was written */
	uint32_t state;              /* 168 ANK_STATE_CLEAN / ANK_STATE_DIRTY */
	uint32_t mount_count;        /* 172 */
	uint8_t uuid[16];            /* 176 */
	uint8_t label[32];           /* 192 NUL-padded */
	uint8_t reserved[284];       /* 224 zero */
	uint32_t checksum;           /* 508 CRC32C of bytes 0..511, this field 0 */
};
_Static_assert(sizeof(struct ank_super) == 512, "superblock is 512 bytes");
_Static_assert(offsetof(struct ank_super, block_count) == 24, "sb layout");
_Static_assert(offsetof(struct ank_super, orphan_head) == 120, "sb layout");
_Static_assert(offsetof(struct ank_super, state) == 168, "sb layout");
_Static_assert(offsetof(struct ank_super, uuid) == 176, "sb layout");
_Static_assert(offsetof(struct ank_super, checksum) == 508, "sb layout");

/* ---- extents -------------------------------------------------------------- */

/*
 * A file's block map is a B+tree of extents (like ext4's). The root lives in
 * the inode (ANK_EXTENT_ROOT_ENTRIES entries); deeper nodes fill a whole block
 * (ANK_EXTENT_NODE_ENTRIES entries). depth 0 = entries are leaves.
 * Within a node, entries are sorted by lblk and do not overlap.
 */
#define ANK_EXTENT_MAGIC 0xE47Au
#define ANK_EXTENT_ROOT_ENTRIES 8u
#define ANK_EXTENT_NODE_ENTRIES 255u
#define ANK_EXTENT_MAX_LEN 0x8000u /* blocks per leaf extent (128 MiB) */
#define ANK_EXTENT_MAX_DEPTH 5u

struct ank_extent_header {
	uint16_t magic;     /* 0  ANK_EXTENT_MAGIC */
	uint16_t entries;   /* 2  valid entries */
	uint16_t max;       /* 4  capacity of this node */
	uint16_t depth;     /* 6  0 = leaf */
	uint32_t owner_ino; /* 8  inode owning the node (low 32 bits), 0 in roots */
	uint32_t checksum;  /* 12 block nodes: CRC32C of the 4096-byte block with
	                          this field 0; roots: 0 (the inode's checksum
	                          covers them) */
};
_Static_assert(sizeof(struct ank_extent_header) == 16, "extent header");

/* Leaf entry: logical blocks [lblk, lblk+len) live at [pblk, pblk+len). */
struct ank_extent {
	uint32_t lblk;  /* 0 */
	uint32_t len;   /* 4 1..ANK_EXTENT_MAX_LEN */
	uint64_t pblk;  /* 8 */
};
_Static_assert(sizeof(struct ank_extent) == 16, "extent");

/* Index entry: the child at `child` covers logical blocks >= lblk (up to the
 * next index entry's lblk). */
struct ank_extent_index {
	uint32_t lblk;     /* 0 */
	uint32_t reserved; /* 4 zero */
	uint64_t child;    /* 8 block of the child node */
};
_Static_assert(sizeof(struct ank_extent_index) == 16, "extent index");
_Static_assert(16 + 255 * 16 == ANK_BLOCK_SIZE, "extent node fills a block");

/* Largest file: 2^32 - 1 logical blocks of 4 KiB (16 TiB - 4 KiB), as ext4. */
#define ANK_MAX_FILE_SIZE ((uint64_t)UINT32_MAX * ANK_BLOCK_SIZE)
/* A symbolic link's target: 1 to ANK_SYMLINK_MAX - 1 bytes (PATH_MAX - 1), kept
 * as the link's data. */
#define ANK_SYMLINK_MAX 4096u

/* ---- inodes (256 bytes, 16 per block) ------------------------------------ */

#define ANK_INODE_SIZE 256u
#define ANK_INODES_PER_BLOCK (ANK_BLOCK_SIZE / ANK_INODE_SIZE)

struct ank_dinode {
	uint32_t mode;          /* 0   S_IFREG/S_IFDIR/S_IFLNK/S_IFIFO/S_IFSOCK/S_IFCHR/
	                                S_IFBLK | permission bits; 0 = free */
	uint32_t nlink;         /* 4   */
	uint32_t uid;           /* 8   */
	uint32_t gid;           /* 12  */
	uint64_t size;          /* 16  bytes */
	uint64_t blocks;        /* 24  allocated blocks (data + extent nodes) */
	int64_t atime_sec;      /* 32  */
	int64_t mtime_sec;      /* 40  */
	int64_t ctime_sec;      /* 48  */
	uint32_t atime_nsec;    /* 56  */
	uint32_t mtime_nsec;    /* 60  */
	uint32_t ctime_nsec;    /* 64  */
	uint32_t generation;    /* 68  incremented each time the number is reused */
	uint64_t ino;           /* 72  this inode's own number (self-check) */
	uint64_t next_orphan;   /* 80  orphan list link, 0 = end */
	uint64_t parent;        /* 88  directories: parent directory's inode */
	struct ank_extent_header eh;                       /* 96  root of the map */
	struct ank_extent extents[ANK_EXTENT_ROOT_ENTRIES]; /* 112 root entries */
	uint32_t xattr_block;   /* 240 the block of its extended attributes, 0 = none
	                                (counted in `blocks`); such blocks lie below
	                                block 2^32 */
	uint32_t rdev_major;    /* 244 device nodes (S_IFCHR, S_IFBLK): the device */
	uint32_t rdev_minor;    /* 248 numbers; zero for every other type */
	uint32_t checksum;      /* 252 CRC32C of the 256 bytes, this field 0 */
};
_Static_assert(sizeof(struct ank_dinode) == ANK_INODE_SIZE, "inode is 256 bytes");
_Static_assert(offsetof(struct ank_dinode, size) == 16, "inode layout");
_Static_assert(offsetof(struct ank_dinode, generation) == 68, "inode layout");
_Static_assert(offsetof(struct ank_dinode, eh) == 96, "inode layout");
_Static_assert(offsetof(struct ank_dinode, extents) == 112, "inode layout");
_Static_assert(offsetof(struct ank_dinode, xattr_block) == 240, "inode layout");
_Static_assert(offsetof(struct ank_dinode, rdev_major) == 244, "inode layout");
_Static_assert(offsetof(struct ank_dinode, rdev_minor) == 248, "inode layout");
_Static_assert(offsetof(struct ank_dinode, checksum) == 252, "inode layout");

/* On a volume with INCOMPAT_INLINE_LINKS (mkfs sets it), a symbolic link
 * whose target is at most ANK_INLINE_LINK_MAX bytes keeps it inline: in
 * the 144 bytes of the map (eh and extents, offsets 96 to 239),
 * zero-padded, with no block of data (`blocks` counts only its extended
 * attribute block, if any). A longer target is the link's data, file
 * block 0. A volume made without the feature never gets it (a mount does
 * not add it): its short links have their blocks, and keep them. */
#define ANK_INLINE_LINK_MAX 144u
_Static_assert(offsetof(struct ank_dinode, xattr_block) - offsetof(struct ank_dinode, eh) ==
		       ANK_INLINE_LINK_MAX,
	       "an inline target fills the map area exactly");
static inline bool ank_link_is_inline(const struct ank_super *sb, const struct ank_dinode *d)
{
	return (sb->feature_incompat & ANK_FEATURE_INCOMPAT_INLINE_LINKS) &&
	       (d->mode & 0170000u) == 0120000u /* S_IFLNK */ && d->size <= ANK_INLINE_LINK_MAX;
}
static inline const char *ank_link_inline_target(const struct ank_dinode *d)
{
	return (const char *)(const void *)&d->eh;
}
/* What is wrong with an inline link's image (no data block, no NUL among
 * its `size` target bytes, zeros after them), or NULL. The core and fsck
 * both hold an inline link to this. */
static inline const char *ank_link_inline_problem(const struct ank_dinode *d)
{
	const char *t = ank_link_inline_target(d);
	if (d->blocks != (d->xattr_block ? 1u : 0u))
		return "inline symbolic link with blocks of data";
	if (memchr(t, '\0', (size_t)d->size))
		return "inline symbolic link target with a NUL byte";
	for (size_t k = (size_t)d->size; k < ANK_INLINE_LINK_MAX; k++)
		if (t[k])
			return "inline symbolic link target not followed by zeros";
	return NULL;
}

/* The inode table's records: the 256-byte inode, followed on a volume
 * with INODE_XATTRS by ANK_INODE_XATTR_SIZE bytes of extended attributes
 * (section "extended attributes"). */
#define ANK_INODE_XATTR_SIZE 256u
static inline uint32_t ank_inode_rec_size(const struct ank_super *sb)
{
	return (sb->feature_incompat & ANK_FEATURE_INCOMPAT_INODE_XATTRS)
		       ? ANK_INODE_SIZE + ANK_INODE_XATTR_SIZE
		       : ANK_INODE_SIZE;
}
static inline uint32_t ank_inodes_per_block(const struct ank_super *sb)
{
	return ANK_BLOCK_SIZE / ank_inode_rec_size(sb);
}
/* The inode table block of inode ino, and the byte where its record starts. */
static inline uint64_t ank_inode_block(const struct ank_super *sb, uint64_t ino)
{
	return sb->itable_start + ino / ank_inodes_per_block(sb);
}
static inline uint32_t ank_inode_offset(const struct ank_super *sb, uint64_t ino)
{
	return (uint32_t)(ino % ank_inodes_per_block(sb)) * ank_inode_rec_size(sb);
}
static inline bool ank_has_inode_xattrs(const struct ank_super *sb)
{
	return (sb->feature_incompat & ANK_FEATURE_INCOMPAT_INODE_XATTRS) != 0;
}

/* ---- directories ----------------------------------------------------------- */

/*
 * A directory's data blocks hold variable-length records. The records of a
 * block tile bytes [0, ANK_DIR_TAIL_OFF) exactly: each rec_len is a multiple
 * of 8 and at least ANK_DIRENT_LEN(name_len); a record with ino 0 is free
 * space. "." and ".." are not stored: the inode's `parent` field gives "..".
 * Every block ends with a tail holding its checksum.
 */
#define ANK_NAME_MAX 255u
#define ANK_DIR_TAIL_MAGIC 0xD1DE7A11u
#define ANK_DIR_TAIL_OFF (ANK_BLOCK_SIZE - 8u)

struct ank_dirent {
	uint64_t ino;       /* 0  0 = free record */
	uint16_t rec_len;   /* 8  bytes to the next record */
	uint8_t name_len;   /* 10 1..255 */
	uint8_t file_type;  /* 11 ANK_FT_* */
	/* 12: name_len bytes of name, no NUL, then zero padding to rec_len */
} __attribute__((packed));
_Static_assert(sizeof(struct ank_dirent) == 12, "dirent header");
#define ANK_DIRENT_LEN(name_len) ANK_ALIGN_UP(12u + (unsigned)(name_len), 8u)

struct ank_dir_tail {
	uint32_t magic;     /* 0 ANK_DIR_TAIL_MAGIC */
	uint32_t checksum;  /* 4 CRC32C of bytes 0..4087 of the block, seeded with
	                         the directory's inode number (low 32 bits) */
};
_Static_assert(sizeof(struct ank_dir_tail) == 8, "dir tail");

#define ANK_FT_UNKNOWN 0u
#define ANK_FT_REG 1u
#define ANK_FT_DIR 2u
#define ANK_FT_CHRDEV 3u
#define ANK_FT_BLKDEV 4u
#define ANK_FT_FIFO 5u
#define ANK_FT_SOCK 6u
#define ANK_FT_SYMLINK 7u   /* (ext4's numbering) */

/* ---- extended attributes ------------------------------------------------------ */

/*
 * An inode's extended attributes live in the area after it in its record
 * (volumes with INODE_XATTRS: ANK_INODE_XATTR_SIZE bytes) and, for what
 * does not fit there, in one block of their own, which belongs to that
 * inode alone. Area and block have one format, only their sizes differ:
 * a header, then the entries packed one after the other from byte 32,
 * sorted by (name_index, name_len, name bytes) as ext4 sorts its
 * attribute blocks; the rest is zero. An entry is its 4-byte head, the
 * name (without its namespace prefix, no NUL), then the value, padded
 * with zeros to a multiple of 4. A name is in one of the two places,
 * never both. An area with no entries is all zero; a block with none is
 * freed.
 */
#define ANK_XATTR_MAGIC 0xEA77B10Cu
#define ANK_XATTR_HDR_SIZE 32u
#define ANK_XATTR_SPACE (ANK_BLOCK_SIZE - ANK_XATTR_HDR_SIZE) /* for entries */
#define ANK_XATTR_AREA_SPACE (ANK_INODE_XATTR_SIZE - ANK_XATTR_HDR_SIZE) /* in the inode */

struct ank_xattr_header {
	uint32_t magic;      /* 0  ANK_XATTR_MAGIC */
	uint32_t checksum;   /* 4  CRC32C of the whole block (or area) with this
	                           field 0, seeded with the owner's inode number
	                           (low 32 bits) */
	uint64_t ino;        /* 8  the owner (self-check) */
	uint16_t count;      /* 16 entries */
	uint16_t used;       /* 18 bytes of entries from byte 32 */
	uint32_t zero[3];    /* 20 */
};
_Static_assert(sizeof(struct ank_xattr_header) == ANK_XATTR_HDR_SIZE, "xattr header");

/* The namespace of a name (ext4's numbering). The two POSIX ACL names are
 * whole names: their entries have name_len 0. */
#define ANK_XATTR_USER 1u          /* "user." */
#define ANK_XATTR_ACL_ACCESS 2u    /* "system.posix_acl_access" */
#define ANK_XATTR_ACL_DEFAULT 3u   /* "system.posix_acl_default" */
#define ANK_XATTR_TRUSTED 4u       /* "trusted." */
#define ANK_XATTR_SECURITY 6u      /* "security." */

struct ank_xattr_entry {
	uint8_t name_index;  /* 0 ANK_XATTR_* */
	uint8_t name_len;    /* 1 bytes of name after the prefix */
	uint16_t value_len;  /* 2 */
	/* 4: the name, then the value, then zeros to a multiple of 4 */
};
_Static_assert(sizeof(struct ank_xattr_entry) == 4, "xattr entry head");
#define ANK_XATTR_ENTRY_LEN(name_len, value_len) \
	ANK_ALIGN_UP(4u + (unsigned)(name_len) + (unsigned)(value_len), 4u)

/* ---- journal (s-log) -------------------------------------------------------- */

/*
 * The journal area is a circular log of physical block images. Its first
 * block is the journal header; log blocks are the rest, addressed by index
 * 0..journal_blocks-2. A transaction is:
 *     descriptor block, the blocks it lists, [descriptor, blocks]..., commit
 * Descriptors and the commit carry the transaction's sequence number and the
 * journal's salt (new at every reset), so stale blocks never parse as valid.
 * The commit's data_crc covers every descriptor and data block of the
 * transaction in order, so a torn transaction is discarded at replay.
 */
#define ANK_JHDR_MAGIC 0x4A4B4E41u  /* "ANKJ" */
#define ANK_JDESC_MAGIC 0x444B4E41u /* "ANKD" */
#define ANK_JCMT_MAGIC 0x434B4E41u  /* "ANKC" */

struct ank_journal_header {
	uint32_t magic;     /* 0  ANK_JHDR_MAGIC */
	uint32_t version;   /* 4  1 */
	uint64_t seq;       /* 8  sequence number of the transaction at `tail` */
	uint64_t tail;      /* 16 log block index where replay starts */
	uint32_t salt;      /* 24 */
	uint32_t reserved;  /* 28 zero */
	uint64_t checkpoint_tid; /* 32 last transaction id whose effects are all
	                            home (checkpointed); 0 = unknown (older
	                            writers left it zero) */
	uint8_t pad[468];   /* 40 zero */
	uint32_t checksum;  /* 508 CRC32C of bytes 0..511, this field 0 */
};
_Static_assert(sizeof(struct ank_journal_header) == 512, "journal header");
_Static_assert(offsetof(struct ank_journal_header, checkpoint_tid) == 32, "header layout");

#define ANK_JDESC_MAX 508u /* home block numbers per descriptor */
struct ank_journal_desc {
	uint32_t magic;     /* 0  ANK_JDESC_MAGIC */
	uint32_t salt;      /* 4  */
	uint64_t seq;       /* 8  */
	uint32_t count;     /* 16 blocks that follow this descriptor */
	uint32_t checksum;  /* 20 CRC32C of the 4096-byte block, this field 0 */
	uint64_t reserved;  /* 24 zero */
	uint64_t home[ANK_JDESC_MAX]; /* 32 home block numbers of the images */
};
_Static_assert(sizeof(struct ank_journal_desc) == ANK_BLOCK_SIZE, "descriptor fills a block");

struct ank_journal_commit {
	uint32_t magic;     /* 0  ANK_JCMT_MAGIC */
	uint32_t salt;      /* 4  */
	uint64_t seq;       /* 8  */
	uint32_t nblocks;   /* 16 descriptor+data blocks in the transaction */
	uint32_t data_crc;  /* 20 CRC32C chained over those blocks */
	int64_t time_sec;   /* 24 commit time */
	uint64_t tid;       /* 32 the transaction's id (fs_running_tid numbering);
	                          0 = unknown (older writers left it zero) */
	uint8_t pad[468];   /* 40 zero */
	uint32_t checksum;  /* 508 CRC32C of bytes 0..511, this field 0 */
};
_Static_assert(offsetof(struct ank_journal_commit, nblocks) == 16, "commit layout");
_Static_assert(offsetof(struct ank_journal_commit, tid) == 32, "commit layout");
_Static_assert(sizeof(struct ank_journal_commit) == 512, "commit record");

/* ---- helpers shared by every reader of the format -------------------------- */

/* Checksum helpers: compute the checksum of a structure with its checksum
 * field treated as zero. */
uint32_t ank_super_csum(const struct ank_super *sb);
uint32_t ank_dinode_csum(const struct ank_dinode *di);
uint32_t ank_extent_node_csum(const void *block);
uint32_t ank_dir_block_csum(const void *block, uint64_t dir_ino);
uint32_t ank_xattr_block_csum(const void *block, uint64_t ino);
/* The same over an area or block of `size` bytes. */
uint32_t ank_xattr_csum(const void *box, size_t size, uint64_t ino);
/* An extended attribute block of inode ino: header, checksum, entries
 * (0, or -EUCLEAN with *why). */
int ank_xattr_block_check(const uint8_t *blk, uint64_t ino, const char **why);
/* The same for an area or block of `size` bytes; an area (size
 * ANK_INODE_XATTR_SIZE) that is all zero holds no entries and passes. */
int ank_xattr_check(const uint8_t *box, size_t size, uint64_t ino, const char **why);
uint32_t ank_jhdr_csum(const struct ank_journal_header *h);
uint32_t ank_jdesc_csum(const struct ank_journal_desc *d);
uint32_t ank_jcmt_csum(const struct ank_journal_commit *c);

/* Validate a superblock read from disk: magic, version, checksum, features,
 * and that every region lies inside the volume without overlap. Returns 0 or
 * -EUCLEAN (reported), or -EOPNOTSUPP for an unknown incompat feature. */
int ank_super_validate(const struct ank_super *sb, uint64_t device_blocks);

static inline uint8_t ank_mode_to_ft(uint32_t mode)
{
	switch (mode & 0170000u) {
	case 0100000u: return ANK_FT_REG;
	case 0040000u: return ANK_FT_DIR;
	case 0120000u: return ANK_FT_SYMLINK;
	case 0020000u: return ANK_FT_CHRDEV;
	case 0060000u: return ANK_FT_BLKDEV;
	case 0010000u: return ANK_FT_FIFO;
	case 0140000u: return ANK_FT_SOCK;
	default: return ANK_FT_UNKNOWN;
	}
}

#endif
