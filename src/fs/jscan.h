/*
 * jscan.h - reading the journal (s-log) as it is on disk: find the committed
 * transactions that replay must apply. Used by mount (replay) and by fsck and
 * dump (which look at a crashed volume as replay would leave it, without
 * writing). Writing the journal is journal.c's job, not this module's.
 *
 * Scan rules (docs/FORMAT.md, "Journal"): start at the header's tail with the
 * header's seq; a transaction is accepted only if every descriptor has the
 * right magic, salt, seq and checksum, counts are in range, the commit block
 * has the right magic, salt, seq, nblocks and checksum, and data_crc matches
 * the descriptor and data blocks actually read. The first transaction that
 * fails any check ends the scan (it and everything after it are ignored: a
 * torn or stale tail). A home block number outside the volume's metadata or
 * data range makes the transaction corrupt (-EUCLEAN), not ignored.
 */
#ifndef ANK_JSCAN_H
#define ANK_JSCAN_H

#include <stdint.h>

#include "format.h"

struct bdev;

struct jscan_result {
	uint64_t transactions;   /* committed transactions found */
	uint64_t blocks;         /* block images in them */
	uint64_t next_seq;       /* seq the next transaction would have */
	uint64_t next_pos;       /* log block index after the last one found */
	uint32_t salt;           /* salt from the header */
	int torn_tail;           /* 1 if scanning stopped at a block that looked
	                            like the start of a transaction but failed a
	                            check (informational) */
	uint64_t last_tid;       /* tid in the commit record of the last
	                            committed transaction found; 0 when none was
	                            found or its writer did not record tids */
};

/* Read and validate the journal header of the volume described by sb.
 * 0 or -EUCLEAN / -EIO. */
int jscan_read_header(struct bdev *dev, const struct ank_super *sb,
		      struct ank_journal_header *out);

/*
 * Scan the journal. For each block image of each committed transaction, in
 * log order, call fn(arg, seq, home, image) (image: 4096 bytes valid only
 * during the call). A nonzero return from fn stops the scan and is returned.
 * Returns 0 and fills *res, or -EIO / -EUCLEAN.
 */
int jscan_scan(struct bdev *dev, const struct ank_super *sb,
	       int (*fn)(void *arg, uint64_t seq, uint64_t home, const void *image),
	       void *arg, struct jscan_result *res);
/* The same from a header the caller read and validated already (one read
 * fewer). */
int jscan_scan_from(struct bdev *dev, const struct ank_super *sb,
		    const struct ank_journal_header *hdr,
		    int (*fn)(void *arg, uint64_t seq, uint64_t home, const void *image),
		    void *arg, struct jscan_result *res);

/* Log block index i (0-based, wraps) to the device block number. */
static inline uint64_t jscan_log_block(const struct ank_super *sb, uint64_t i)
{
	return sb->journal_start + 1 + (i % (sb->journal_blocks - 1));
}

#endif
