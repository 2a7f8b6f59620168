/*
 * jscan.c - read-only scan of the journal (s-log): validate the header, then
 * walk the log from the header's tail, accepting committed transactions in
 * sequence order and handing each block image to a callback.
 *
 * A transaction is accepted only when all of its descriptors and its commit
 * check out (magic, salt, seq, checksums, counts, nblocks, data_crc over the
 * blocks actually read). The first transaction that does not ends the scan.
 * Images are handed out only after their whole transaction was verified.
 * Transactions up to JSCAN_BUF_MAX blocks are kept in memory between the
 * verify and the delivery step; longer ones are read a second time.
 *
 * This module never writes: replay (writing images home) and resetting the
 * journal belong to its callers.
 */
#include "jscan.h"

#include <stdlib.h>

#include "../bdev/bdev.h"
#include "../util/common.h"
#include "../util/crc32c.h"

#define JSCAN_BUF_MAX 4096u /* blocks of one transaction kept in memory */

int jscan_read_header(struct bdev *dev, const struct ank_super *sb,
		      struct ank_journal_header *out)
{
	uint8_t *blk;
	int rc;

	if (sb->journal_blocks < 2)
		return ANK_CORRUPT("journal: region too small");
	blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	rc = bdev_read(dev, sb->journal_start, 1, blk);
	if (rc < 0)
		goto out;
	memcpy(out, blk, sizeof(*out));
	if (out->magic != ANK_JHDR_MAGIC)
		rc = ANK_CORRUPT("journal header: bad magic");
	else if (out->checksum != ank_jhdr_csum(out))
		rc = ANK_CORRUPT("journal header: checksum mismatch");
	else if (out->version != 1)
		rc = ANK_CORRUPT("journal header: unknown version");
	else if (out->tail >= sb->journal_blocks - 1)
		rc = ANK_CORRUPT("journal header: tail outside the log");
out:
	free(blk);
	return rc;
}

/* One descriptor of the transaction being verified. */
struct jdesc_ref {
	uint64_t pos;                  /* log index of the descriptor */
	uint32_t count;
	uint64_t home[ANK_JDESC_MAX];
};

struct jscan_state {
	struct bdev *dev;
	const struct ank_super *sb;
	uint64_t loglen;
	uint32_t salt;
	uint8_t *blk;                  /* one-block scratch */
	uint8_t *data;                 /* transaction data blocks, or NULL */
	uint64_t data_cap;             /* blocks allocated in data */
	struct jdesc_ref *descs;
	size_t ndescs, descs_cap;
	uint64_t txn_tid;              /* tid of the transaction just verified */
	/* Read-ahead: the log is read front to back, so blocks come from a
	 * window read in one request (growing from 16 to WIN_MAX blocks),
	 * not one synchronous read per record. */
	uint8_t *win;                  /* WIN_MAX blocks, or NULL: no window */
	uint64_t win_idx, win_n;       /* log index of its first block, blocks held */
	uint64_t win_next;             /* blocks the next refill asks for */
};

#define WIN_MAX 256u

/* Read `n` consecutive log blocks starting at log index `pos` (wrapping)
 * into buf, through the read-ahead window. */
static int read_log(struct jscan_state *st, uint64_t pos, uint32_t n, void *buf)
{
	uint8_t *out = buf;
	while (n > 0) {
		uint64_t idx = pos % st->loglen;
		if (st->win && idx >= st->win_idx && idx < st->win_idx + st->win_n) {
			uint64_t k = ANK_MIN((uint64_t)n, st->win_idx + st->win_n - idx);
			memcpy(out, st->win + (idx - st->win_idx) * ANK_BLOCK_SIZE,
			       (size_t)k * ANK_BLOCK_SIZE);
			out += k * ANK_BLOCK_SIZE;
			pos += k;
			n -= (uint32_t)k;
			continue;
		}
		uint64_t want = ANK_MIN(st->loglen - idx, st->win ? st->win_next : (uint64_t)n);
		if (!st->win)
			want = ANK_MIN(want, (uint64_t)n);
		struct bdev_io io = {.op = BDEV_READ, .blk = jscan_log_block(st->sb, idx),
				     .nblk = (uint32_t)want, .buf = st->win ? st->win : out};
		int rc = bdev_submit(st->dev, &io, 1);
		if (rc == 0)
			rc = io.res;
		if (rc < 0) {
			st->win_n = 0;
			return rc;
		}
		if (!st->win) {
			out += want * ANK_BLOCK_SIZE;
			pos += want;
			n -= (uint32_t)want;
			continue;
		}
		st->win_idx = idx;
		st->win_n = want;
		st->win_next = ANK_MIN(st->win_next * 2, (uint64_t)WIN_MAX);
	}
	return 0;
}

static int desc_ok(const struct jscan_state *st, const struct ank_journal_desc *d, uint64_t seq)
{
	return d->magic == ANK_JDESC_MAGIC && d->salt == st->salt && d->seq == seq &&
	       d->checksum == ank_jdesc_csum(d) && d->count >= 1 && d->count <= ANK_JDESC_MAX;
}

static int home_ok(const struct ank_super *sb, uint64_t home)
{
	/* Block 0 is allowed: the superblock (orphan list head) is journaled. */
	if (home >= sb->block_count)
		return 0;
	return home < sb->journal_start || home - sb->journal_start >= sb->journal_blocks;
}

/* Make room for `n` data blocks, keeping the first `have`; on failure (or
 * beyond the cap) the data buffer is dropped and the transaction will be
 * read again for delivery. */
static void data_reserve(struct jscan_state *st, uint64_t have, uint64_t n)
{
	if (n <= st->data_cap)
		return;
	uint8_t *nd = NULL;
	uint64_t cap = 0;
	if (n <= JSCAN_BUF_MAX) {
		cap = ANK_MAX(n, ANK_MIN(st->data_cap * 2, (uint64_t)JSCAN_BUF_MAX));
		cap = ANK_MAX(cap, (uint64_t)ANK_JDESC_MAX + 1);
		cap = ANK_MIN(cap, (uint64_t)JSCAN_BUF_MAX);
		nd = ank_aligned_alloc((size_t)cap * ANK_BLOCK_SIZE);
		if (nd && have)
			memcpy(nd, st->data, (size_t)have * ANK_BLOCK_SIZE);
	}
	free(st->data);
	st->data = nd;
	st->data_cap = nd ? cap : 0;
}

/*
 * Verify the transaction starting at log index `start` with sequence `seq`.
 * Returns its length in log blocks (descriptors + data + commit) when it is
 * committed and valid, 0 when it is not (end of the log), or -errno.
 * *looked_valid is set when the first block is a descriptor of this journal
 * (magic, salt) with the expected seq, whatever its other checks say.
 * On success st->descs lists its descriptors and st->txn_tid holds the
 * commit record's tid; when st->data is non-NULL it
 * holds the transaction's data blocks in order.
 */
static int64_t verify_txn(struct jscan_state *st, uint64_t start, uint64_t seq,
			  uint64_t budget, int *looked_valid)
{
	uint64_t pos = start, nblocks = 0, ndata = 0;
	uint32_t crc = 0;
	int keep = 1;
	int rc;

	*looked_valid = 0;
	st->ndescs = 0;
	for (;;) {
		if (nblocks + 1 > budget)
			return 0; /* longer than the log allows */
		rc = read_log(st, pos, 1, st->blk);
		if (rc < 0)
			return rc;
		const struct ank_journal_desc *d = (const void *)st->blk;
		const struct ank_journal_commit *c = (const void *)st->blk;

		if (nblocks > 0 && c->magic == ANK_JCMT_MAGIC) {
			if (c->salt != st->salt || c->seq != seq || c->checksum != ank_jcmt_csum(c) ||
			    c->nblocks != nblocks || c->data_crc != crc)
				return 0;
			st->txn_tid = c->tid;
			break;
		}
		if (nblocks == 0 && d->magic == ANK_JDESC_MAGIC && d->salt == st->salt && d->seq == seq)
			*looked_valid = 1;
		if (!desc_ok(st, d, seq))
			return 0;
		/* descriptor + its blocks + the commit must fit the budget */
		if (nblocks + 1 + d->count + 1 > budget)
			return 0;
		if (st->ndescs == st->descs_cap) {
			size_t ncap = st->descs_cap ? st->descs_cap * 2 : 4;
			struct jdesc_ref *nd = realloc(st->descs, ncap * sizeof(*nd));
			if (!nd)
				return -ENOMEM;
			st->descs = nd;
			st->descs_cap = ncap;
		}
		struct jdesc_ref *ref = &st->descs[st->ndescs++];
		ref->pos = pos % st->loglen;
		ref->count = d->count;
		memcpy(ref->home, d->home, sizeof(uint64_t) * d->count);
		crc = crc32c(crc, st->blk, ANK_BLOCK_SIZE);
		uint32_t count = d->count;
		pos++;
		nblocks++;

		/* The descriptor's blocks, in one batched read. */
		uint8_t *dst;
		if (keep) {
			data_reserve(st, ndata, ndata + count);
			if (!st->data)
				keep = 0;
		}
		uint8_t *tmp = NULL;
		if (keep) {
			dst = st->data + ndata * ANK_BLOCK_SIZE;
		} else {
			tmp = ank_aligned_alloc((size_t)count * ANK_BLOCK_SIZE);
			if (!tmp)
				return -ENOMEM;
			dst = tmp;
		}
		rc = read_log(st, pos, count, dst);
		if (rc == 0)
			crc = crc32c(crc, dst, (size_t)count * ANK_BLOCK_SIZE);
		free(tmp);
		if (rc < 0)
			return rc;
		pos += count;
		nblocks += count;
		ndata += count;
	}
	if (!keep) {
		free(st->data);
		st->data = NULL;
		st->data_cap = 0;
	}
	return (int64_t)(nblocks + 1);
}

/* Hand the images of the verified transaction to fn. */
static int deliver_txn(struct jscan_state *st, uint64_t seq,
		       int (*fn)(void *, uint64_t, uint64_t, const void *), void *arg)
{
	uint64_t ndata = 0;
	int rc = 0;

	for (size_t i = 0; i < st->ndescs; i++) {
		const struct jdesc_ref *ref = &st->descs[i];
		uint8_t *src, *tmp = NULL;

		if (st->data) {
			src = st->data + ndata * ANK_BLOCK_SIZE;
		} else {
			tmp = ank_aligned_alloc((size_t)ref->count * ANK_BLOCK_SIZE);
			if (!tmp)
				return -ENOMEM;
			rc = read_log(st, ref->pos + 1, ref->count, tmp);
			if (rc < 0) {
				free(tmp);
				return rc;
			}
			src = tmp;
		}
		for (uint32_t j = 0; j < ref->count && rc == 0; j++)
			if (fn)
				rc = fn(arg, seq, ref->home[j], src + (size_t)j * ANK_BLOCK_SIZE);
		free(tmp);
		if (rc)
			return rc;
		ndata += ref->count;
	}
	return 0;
}

int jscan_scan(struct bdev *dev, const struct ank_super *sb,
	       int (*fn)(void *arg, uint64_t seq, uint64_t home, const void *image),
	       void *arg, struct jscan_result *res)
{
	struct ank_journal_header hdr;

	memset(res, 0, sizeof(*res));
	int rc = jscan_read_header(dev, sb, &hdr);
	if (rc < 0)
		return rc;
	return jscan_scan_from(dev, sb, &hdr, fn, arg, res);
}

int jscan_scan_from(struct bdev *dev, const struct ank_super *sb,
		    const struct ank_journal_header *hdr_in,
		    int (*fn)(void *arg, uint64_t seq, uint64_t home, const void *image),
		    void *arg, struct jscan_result *res)
{
	const struct ank_journal_header hdr = *hdr_in;
	struct jscan_state st = { .dev = dev, .sb = sb };
	int rc;

	memset(res, 0, sizeof(*res));
	st.loglen = sb->journal_blocks - 1;
	st.salt = hdr.salt;
	st.blk = ank_aligned_alloc(ANK_BLOCK_SIZE);
	st.win = ank_aligned_alloc((size_t)WIN_MAX * ANK_BLOCK_SIZE); /* NULL: no read-ahead */
	st.win_next = 16;
	if (!st.blk)
		return -ENOMEM;

	uint64_t pos = hdr.tail, seq = hdr.seq, used = 0;
	res->salt = hdr.salt;
	res->next_seq = seq;
	res->next_pos = pos;
	for (;;) {
		int looked_valid;
		int64_t len = verify_txn(&st, pos, seq, st.loglen - used, &looked_valid);

		if (len < 0) {
			rc = (int)len;
			goto out;
		}
		if (len == 0) {
			res->torn_tail = looked_valid;
			break;
		}
		uint64_t images = 0;
		for (size_t i = 0; i < st.ndescs; i++) {
			for (uint32_t j = 0; j < st.descs[i].count; j++)
				if (!home_ok(sb, st.descs[i].home[j])) {
					rc = ANK_CORRUPT("journal: transaction names a home block outside the volume's metadata and data");
					goto out;
				}
			images += st.descs[i].count;
		}
		rc = deliver_txn(&st, seq, fn, arg);
		if (rc)
			goto out;
		res->transactions++;
		res->blocks += images;
		res->last_tid = st.txn_tid;
		used += (uint64_t)len;
		pos = (pos + (uint64_t)len) % st.loglen;
		seq++;
		res->next_seq = seq;
		res->next_pos = pos;
		if (used >= st.loglen)
			break;
	}
	rc = 0;
out:
	free(st.blk);
	free(st.win);
	free(st.data);
	free(st.descs);
	return rc;
}
