/*
 * fsck.h - the offline checker (fsck_run) and the inspector (dump_run).
 *
 * Both look at the volume the way journal replay would leave it: committed
 * journal transactions are read first and their newest block images are laid
 * over the device (an in-memory overlay; a journaled superblock image
 * replaces the on-disk one when it is valid and keeps the layout), so a
 * crashed volume is judged on its replayed state without writing anything. Neither may run while the
 * volume is mounted.
 *
 * fsck_run exit codes (also its return value):
 *   0  clean
 *   1  problems were found and all of them were repaired
 *   4  problems remain (check-only run, or not repairable)
 *   8  operational error, or the superblock is unreadable / not recognised
 * Every problem is printed on its own line prefixed "fsck: "; information
 * lines start with "info: " (suppressed by quiet); a final "summary: " line
 * closes the report. out == NULL prints nothing.
 *
 * Repair (opt->repair) replays the journal for real and resets it, frees the
 * inodes on the orphan list, drops directory entries naming free, corrupt or
 * already-named inodes, fixes link counts, parent fields, sizes and block
 * counts, frees every allocated inode that is not reachable from the root
 * (they are not moved to a lost+found directory), rebuilds both bitmaps
 * from reachability, and rewrites the superblock's free counts and orphan
 * head. A second fsck_run after a repair returns 0.
 */
#ifndef ANK_FSCK_H
#define ANK_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../fs/format.h"
#include "../fs/jscan.h"

struct bdev;

#define FSCK_EXIT_CLEAN 0
#define FSCK_EXIT_REPAIRED 1
#define FSCK_EXIT_PROBLEMS 4
#define FSCK_EXIT_ERROR 8

struct fsck_options {
	bool repair;
	bool quiet;   /* no information lines (problems and summary still print) */
	FILE *out;    /* NULL: print nothing */
};

struct fsck_report {
	uint64_t problems;
	uint64_t repaired;
	uint64_t inodes_used;   /* allocated inodes in use, the root included */
	uint64_t dirs;
	uint64_t files;
	uint64_t blocks_used;   /* blocks in use, metadata regions included */
	uint64_t journal_txns;  /* committed transactions found in the journal */
};

/* Check (and with opt->repair, repair) the volume on dev. rep may be NULL.
 * Returns one of the FSCK_EXIT_* codes above. */
int fsck_run(struct bdev *dev, const struct fsck_options *opt, struct fsck_report *rep);

/*
 * Print information about the volume to out. what == NULL: superblock,
 * journal and usage summary; "/path": the inode that path names; a decimal
 * number: that inode (fields, extents, directory entries). Returns 0, or
 * -ENOENT (no such path / free inode), -EINVAL (bad argument), -EUCLEAN
 * (corrupt superblock or metadata in the way), -EIO, with a message on out.
 */
int dump_run(struct bdev *dev, const char *what, FILE *out);

/* ---- volume view shared by fsck.c and dump.c (not a public API) -------- */

struct fsck_map_ent {
	uint64_t blk;
	uint8_t *data;   /* NULL: empty slot */
	int dirty;       /* must be written home (repair only) */
};

/* Block number -> 4096-byte image: the journal overlay, and in repair mode
 * the blocks fsck has modified. */
struct fsck_map {
	struct fsck_map_ent *ents;
	size_t cap;     /* power of two, or 0 */
	size_t used;
};

struct fsck_vol {
	struct bdev *dev;
	struct ank_super sb;
	struct fsck_map map;
	struct ank_journal_header jh;
	int jh_rc;                  /* jscan_read_header result */
	struct jscan_result js;
	int js_rc;                  /* jscan_scan result (0 or -EUCLEAN) */
	bool sb_journaled;          /* sb is the newest image from the journal */
	bool sb_image_bad;          /* the journal held an unusable sb image */
	uint8_t *walkbuf;           /* ANK_EXTENT_MAX_DEPTH node buffers */
};

/* Read and validate the superblock. On -EUCLEAN/-EOPNOTSUPP a description
 * is left in why. 0, -EUCLEAN, -EOPNOTSUPP, -EIO, -ENOMEM. */
int fsck_vol_open(struct fsck_vol *v, struct bdev *dev, char *why, size_t whylen);
/* Scan the journal into the overlay; sets jh_rc, js, js_rc. A corrupt
 * journal is not an error here; returns only -EIO / -ENOMEM. */
int fsck_vol_load_journal(struct fsck_vol *v);
void fsck_vol_close(struct fsck_vol *v);

/* Read n blocks through the overlay into buf (any alignment is fine). */
int fsck_vol_read(struct fsck_vol *v, uint64_t blk, uint32_t n, void *buf);
/* Pin block blk in the map (reading it if absent); *data is its image. With
 * dirty, the block will be written home by fsck_vol_writeback. */
int fsck_vol_get(struct fsck_vol *v, uint64_t blk, bool dirty, uint8_t **data);
/* Write every dirty block home (in batches), then flush. */
int fsck_vol_writeback(struct fsck_vol *v);

/* Inode `ino` through the overlay; -EINVAL when out of range. */
int fsck_vol_read_inode(struct fsck_vol *v, uint64_t ino, struct ank_dinode *di);
/* NULL when the allocated inode's checksum, self number and mode are sound,
 * else a short description. */
const char *fsck_inode_problem(const struct ank_super *sb, const struct ank_dinode *di,
			       uint64_t ino);

/*
 * Walk the extent tree of inode `ino` (di as read from disk), validating
 * every node before use: magic, max, entries (block nodes and index roots
 * non-empty), depth, owner, checksum, keys sorted and inside the node's
 * range, a child's first key equal to its parent's key, leaves within
 * [0, 2^32-1), every block inside the data region. leaf is called for every
 * leaf extent in lblk order, node (may be NULL) for every node block after
 * its header was validated. Returns 0, a positive value returned by a
 * callback (the walk stops), -EUCLEAN with why filled, or -EIO/-ENOMEM.
 */
int fsck_vol_walk(struct fsck_vol *v, uint64_t ino, const struct ank_dinode *di,
		  int (*leaf)(void *arg, const struct ank_extent *e),
		  int (*node)(void *arg, uint64_t pblk, unsigned depth), void *arg,
		  char *why, size_t whylen);

#endif
