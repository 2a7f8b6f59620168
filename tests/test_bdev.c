/*
 * test_bdev.c - unit tests of the block layer: the generic checks in bdev.c,
 * the emulated device's durability and fault model, and the io_uring file
 * device on a temporary file. It does not test real block devices.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../src/bdev/bdev.h"
#include "../src/util/common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BS ANK_BLOCK_SIZE

/* Fill a block with a pattern derived from (tag, blk) so any misplaced or
 * stale block is detected. */
static void fill(uint8_t *p, uint32_t tag, uint64_t blk)
{
	for (unsigned i = 0; i < BS; i += 4) {
		uint32_t v = tag * 2654435761u ^ (uint32_t)blk * 40503u ^ i;

		memcpy(p + i, &v, 4);
	}
}

static bool is_fill(const uint8_t *p, uint32_t tag, uint64_t blk)
{
	uint8_t want[BS];

	fill(want, tag, blk);
	return memcmp(p, want, BS) == 0;
}

static bool is_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < BS; i++)
		if (p[i])
			return false;
	return true;
}

static uint8_t *balloc(size_t nblk)
{
	uint8_t *p = ank_aligned_alloc(nblk * BS);

	assert_non_null(p);
	return p;
}

static struct bdev *emu(uint64_t nblocks)
{
	struct bdev *dev;

	assert_int_equal(bdev_emu_create(nblocks, &dev), 0);
	assert_int_equal(dev->nblocks, nblocks);
	return dev;
}

/* Write block blk with pattern tag. */
static int put(struct bdev *dev, uint64_t blk, uint32_t tag)
{
	uint8_t *b = balloc(1);
	int err;

	fill(b, tag, blk);
	err = bdev_write(dev, blk, 1, b);
	free(b);
	return err;
}

/* Read block blk; is it pattern tag (tag 0: all zero)? */
static bool holds(struct bdev *dev, uint64_t blk, uint32_t tag)
{
	uint8_t *b = balloc(1);
	bool ok;

	assert_int_equal(bdev_read(dev, blk, 1, b), 0);
	ok = tag ? is_fill(b, tag, blk) : is_zero(b);
	free(b);
	return ok;
}

/* ---- emulated device ------------------------------------------------------ */

static void new_emu_device_reads_zero(void **state)
{
	struct bdev *dev = emu(16);

	for (uint64_t b = 0; b < 16; b++)
		assert_true(holds(dev, b, 0));
	bdev_close(dev);
}

static void write_then_read_returns_same_data(void **state)
{
	struct bdev *dev = emu(64);
	uint8_t *w = balloc(8), *r = balloc(8);

	for (unsigned i = 0; i < 8; i++)
		fill(w + i * BS, 7, 10 + i);
	assert_int_equal(bdev_write(dev, 10, 8, w), 0);
	assert_int_equal(bdev_read(dev, 10, 8, r), 0);
	assert_memory_equal(w, r, 8 * BS);
	assert_true(holds(dev, 9, 0));
	assert_true(holds(dev, 18, 0));
	free(w);
	free(r);
	bdev_close(dev);
}

static void unflushed_writes_dropped_by_power_cut(void **state)
{
	struct bdev *dev = emu(16);

	assert_int_equal(put(dev, 1, 1), 0);
	assert_int_equal(put(dev, 2, 1), 0);
	assert_int_equal(bdev_flush(dev), 0);
	assert_int_equal(put(dev, 2, 2), 0);
	assert_int_equal(put(dev, 3, 2), 0);
	assert_true(holds(dev, 2, 2));
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	assert_true(holds(dev, 1, 1));
	assert_true(holds(dev, 2, 1));
	assert_true(holds(dev, 3, 0));
	bdev_close(dev);
}

static void flushed_writes_survive_power_cut(void **state)
{
	struct bdev *dev = emu(16);

	for (uint64_t b = 0; b < 16; b++)
		assert_int_equal(put(dev, b, 3), 0);
	assert_int_equal(bdev_flush(dev), 0);
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	for (uint64_t b = 0; b < 16; b++)
		assert_true(holds(dev, b, 3));
	bdev_close(dev);
}

static void keep_all_cut_mode_keeps_latest_unflushed_data(void **state)
{
	struct bdev *dev = emu(8);

	assert_int_equal(put(dev, 0, 1), 0);
	assert_int_equal(put(dev, 0, 2), 0);
	assert_int_equal(put(dev, 5, 1), 0);
	bdev_emu_power_cut(dev, EMU_CUT_KEEP_ALL, 0);
	assert_true(holds(dev, 0, 2));
	assert_true(holds(dev, 5, 1));
	/* After the cut nothing is pending: a second cut changes nothing. */
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	assert_true(holds(dev, 0, 2));
	bdev_close(dev);
}

/* Run the same unflushed workload on a fresh device and cut with `seed`;
 * the result goes to `out` (64 blocks). */
static void random_cut_image(uint64_t seed, enum emu_cut_mode mode, uint8_t *out)
{
	struct bdev *dev = emu(64);

	for (uint64_t b = 0; b < 64; b++)
		assert_int_equal(put(dev, b, 1), 0);
	assert_int_equal(bdev_flush(dev), 0);
	for (uint64_t b = 0; b < 64; b++)
		assert_int_equal(put(dev, b, 2), 0);
	bdev_emu_power_cut(dev, mode, seed);
	bdev_emu_snapshot(dev, out);
	bdev_close(dev);
}

static void random_cut_mode_keeps_subset_deterministically_by_seed(void **state)
{
	uint8_t *a = balloc(64), *b = balloc(64), *c = balloc(64);
	unsigned kept = 0;

	random_cut_image(42, EMU_CUT_RANDOM, a);
	random_cut_image(42, EMU_CUT_RANDOM, b);
	random_cut_image(43, EMU_CUT_RANDOM, c);
	assert_memory_equal(a, b, 64 * BS);
	assert_memory_not_equal(a, c, 64 * BS);
	for (uint64_t i = 0; i < 64; i++) {
		bool newer = is_fill(a + i * BS, 2, i);

		assert_true(newer || is_fill(a + i * BS, 1, i));
		kept += newer;
	}
	/* p=1/2 per block: with 64 blocks all-or-nothing would be a broken PRNG. */
	assert_true(kept > 0 && kept < 64);
	free(a);
	free(b);
	free(c);
}

static void random_cut_mode_may_keep_older_write_of_same_block(void **state)
{
	bool seen[3] = { false };

	/* Two writes of one block: across seeds every outcome (durable,
	 * first, second) must appear, i.e. writes are reordered. */
	for (uint64_t seed = 0; seed < 64; seed++) {
		struct bdev *dev = emu(1);

		assert_int_equal(put(dev, 0, 1), 0);
		assert_int_equal(put(dev, 0, 2), 0);
		bdev_emu_power_cut(dev, EMU_CUT_RANDOM, seed);
		for (uint32_t t = 0; t < 3; t++)
			if (holds(dev, 0, t))
				seen[t] = true;
		bdev_close(dev);
	}
	assert_true(seen[0] && seen[1] && seen[2]);
}

static void prefix_cut_mode_keeps_an_issue_order_prefix(void **state)
{
	uint8_t *img = balloc(64);
	unsigned shortest = 64, longest = 0;

	for (uint64_t seed = 0; seed < 16; seed++) {
		unsigned k = 0;

		random_cut_image(seed, EMU_CUT_PREFIX, img);
		while (k < 64 && is_fill(img + k * BS, 2, k))
			k++;
		for (unsigned i = k; i < 64; i++)
			assert_true(is_fill(img + i * BS, 1, i));
		shortest = ANK_MIN(shortest, k);
		longest = ANK_MAX(longest, k);
	}
	assert_true(shortest < longest);
	free(img);
}

static void fail_nth_fails_exactly_that_request(void **state)
{
	struct bdev *dev = emu(8);
	uint8_t *bufs = balloc(4);
	struct bdev_io ios[4];

	bdev_emu_fail_nth(dev, 3, false);
	assert_int_equal(put(dev, 0, 1), 0);
	assert_true(holds(dev, 0, 1));
	assert_int_equal(put(dev, 1, 1), -EIO);
	assert_true(holds(dev, 1, 0)); /* the failed write had no effect */
	assert_int_equal(put(dev, 1, 1), 0);
	assert_int_equal(bdev_flush(dev), 0);

	/* Inside a batch only the chosen request fails. */
	bdev_emu_fail_nth(dev, 2, false);
	for (unsigned i = 0; i < 4; i++) {
		fill(bufs + i * BS, 5, 4 + i);
		ios[i] = (struct bdev_io){ .op = BDEV_WRITE, .blk = 4 + i, .nblk = 1, .buf = bufs + i * BS };
	}
	assert_int_equal(bdev_submit(dev, ios, 4), -EIO);
	assert_int_equal(ios[0].res, 0);
	assert_int_equal(ios[1].res, -EIO);
	assert_int_equal(ios[2].res, 0);
	assert_int_equal(ios[3].res, 0);
	assert_true(holds(dev, 5, 0));
	assert_true(holds(dev, 6, 5));

	/* A flush counts as a request too. */
	bdev_emu_fail_nth(dev, 1, false);
	assert_int_equal(bdev_flush(dev), -EIO);
	assert_int_equal(bdev_flush(dev), 0);
	free(bufs);
	bdev_close(dev);
}

static void sticky_fail_keeps_failing_until_power_cut(void **state)
{
	struct bdev *dev = emu(8);

	bdev_emu_fail_nth(dev, 2, true);
	assert_int_equal(put(dev, 0, 1), 0);
	assert_int_equal(put(dev, 1, 1), -EIO);
	assert_int_equal(bdev_flush(dev), -EIO);
	assert_int_equal(put(dev, 2, 1), -EIO);
	bdev_emu_power_cut(dev, EMU_CUT_KEEP_ALL, 0);
	assert_true(holds(dev, 0, 1));
	assert_int_equal(put(dev, 2, 1), 0);
	bdev_close(dev);
}

static void cut_after_n_freezes_device(void **state)
{
	struct bdev *dev = emu(8);
	uint8_t *b = balloc(1);

	assert_int_equal(bdev_emu_events(dev), 0);
	bdev_emu_cut_after(dev, 3);
	assert_int_equal(put(dev, 0, 1), 0);
	assert_true(holds(dev, 0, 1)); /* reads are not boundaries */
	assert_int_equal(bdev_flush(dev), 0);
	assert_int_equal(put(dev, 1, 1), 0);
	assert_int_equal(bdev_emu_events(dev), 3);
	/* Frozen: everything fails, nothing more is accepted. */
	assert_int_equal(put(dev, 2, 1), -EIO);
	assert_int_equal(bdev_read(dev, 0, 1, b), -EIO);
	assert_int_equal(bdev_flush(dev), -EIO);
	assert_int_equal(bdev_emu_events(dev), 3);

	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	assert_true(holds(dev, 0, 1));
	assert_true(holds(dev, 1, 0));
	assert_true(holds(dev, 2, 0));
	assert_int_equal(put(dev, 2, 1), 0);
	assert_int_equal(bdev_emu_events(dev), 4);
	free(b);
	bdev_close(dev);
}

static void cut_after_n_stops_inside_a_batch(void **state)
{
	struct bdev *dev = emu(8);
	uint8_t *bufs = balloc(4);
	struct bdev_io ios[4];

	bdev_emu_cut_after(dev, 2);
	for (unsigned i = 0; i < 4; i++) {
		fill(bufs + i * BS, 9, i);
		ios[i] = (struct bdev_io){ .op = BDEV_WRITE, .blk = i, .nblk = 1, .buf = bufs + i * BS };
	}
	assert_int_equal(bdev_submit(dev, ios, 4), -EIO);
	assert_int_equal(ios[0].res, 0);
	assert_int_equal(ios[1].res, 0);
	assert_int_equal(ios[2].res, -EIO);
	assert_int_equal(ios[3].res, -EIO);
	bdev_emu_power_cut(dev, EMU_CUT_KEEP_ALL, 0);
	assert_true(holds(dev, 1, 9));
	assert_true(holds(dev, 2, 0));
	free(bufs);
	bdev_close(dev);
}

static void out_of_range_block_is_einval(void **state)
{
	struct bdev *dev = emu(8);
	uint8_t *b = balloc(2);
	struct bdev_io ios[3] = {
		{ .op = BDEV_WRITE, .blk = 0, .nblk = 1, .buf = b },
		{ .op = BDEV_WRITE, .blk = 7, .nblk = 2, .buf = b },
		{ .op = BDEV_WRITE, .blk = 1, .nblk = 1, .buf = b },
	};

	fill(b, 4, 0);
	assert_int_equal(bdev_read(dev, 8, 1, b), -EINVAL);
	assert_int_equal(bdev_write(dev, 8, 1, b), -EINVAL);
	assert_int_equal(bdev_write(dev, 7, 2, b), -EINVAL);
	assert_int_equal(bdev_write(dev, UINT64_MAX, 2, b), -EINVAL);
	assert_int_equal(bdev_write(dev, 2, 0, b), -EINVAL);
	assert_int_equal(bdev_emu_events(dev), 0); /* storage never touched */

	/* The valid neighbours of a bad request still run. */
	assert_int_equal(bdev_submit(dev, ios, 3), -EINVAL);
	assert_int_equal(ios[0].res, 0);
	assert_int_equal(ios[1].res, -EINVAL);
	assert_int_equal(ios[2].res, 0);
	assert_true(holds(dev, 7, 0));
	assert_int_equal(bdev_emu_events(dev), 2);
	free(b);
	bdev_close(dev);
}

static void unaligned_buffer_is_einval(void **state)
{
	struct bdev *dev = emu(8);
	uint8_t *b = balloc(2);

	assert_int_equal(bdev_write(dev, 0, 1, b + 512), -EINVAL);
	assert_int_equal(bdev_read(dev, 0, 1, b + 1), -EINVAL);
	assert_int_equal(bdev_read(dev, 0, 1, NULL), -EINVAL);
	free(b);
	bdev_close(dev);
}

static void stats_count_requests_and_flushes(void **state)
{
	struct bdev *dev = emu(8);

	assert_int_equal(put(dev, 0, 1), 0);
	assert_int_equal(put(dev, 1, 1), 0);
	assert_true(holds(dev, 0, 1));
	assert_int_equal(bdev_flush(dev), 0);
	assert_int_equal(dev->stat_writes, 2);
	assert_int_equal(dev->stat_reads, 1);
	assert_int_equal(dev->stat_flushes, 1);
	bdev_close(dev);
}

static void create_from_image_is_durable(void **state)
{
	uint8_t *img = balloc(4);
	struct bdev *dev;

	for (uint64_t b = 0; b < 4; b++)
		fill(img + b * BS, 6, b);
	assert_int_equal(bdev_emu_create_from(img, 4, &dev), 0);
	assert_int_equal(put(dev, 2, 7), 0);
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	for (uint64_t b = 0; b < 4; b++)
		assert_true(holds(dev, b, 6));
	free(img);
	bdev_close(dev);
}

static void snapshot_and_block_pointer_show_current_view(void **state)
{
	struct bdev *dev = emu(4);
	uint8_t *img = balloc(4);

	assert_int_equal(put(dev, 1, 3), 0);
	bdev_emu_snapshot(dev, img);
	assert_true(is_fill(img + BS, 3, 1));
	assert_true(is_zero(img));
	assert_true(is_fill(bdev_emu_block(dev, 1), 3, 1));
	assert_null(bdev_emu_block(dev, 4));

	/* On a clean block a write through the pointer is also durable. */
	assert_int_equal(bdev_flush(dev), 0);
	bdev_emu_block(dev, 1)[100] ^= 0xff;
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	assert_false(holds(dev, 1, 3));
	assert_int_equal(bdev_emu_block(dev, 1)[100], img[BS + 100] ^ 0xff);
	free(img);
	bdev_close(dev);
}

static void large_emu_device_is_cheap(void **state)
{
	struct bdev *dev = emu(65536); /* 256 MiB */

	assert_int_equal(put(dev, 65535, 1), 0);
	assert_int_equal(bdev_flush(dev), 0);
	assert_true(holds(dev, 65535, 1));
	assert_true(holds(dev, 30000, 0));
	bdev_close(dev);
}

/* ---- concurrency (either device) ------------------------------------------ */

struct worker {
	struct bdev *dev;
	uint64_t first;
	int err;
};

#define PER_WORKER 32
#define NWORKERS 4

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *b = ank_aligned_alloc(BS);

	for (unsigned round = 1; round <= 8 && b && !w->err; round++) {
		for (uint64_t i = w->first; i < w->first + PER_WORKER && !w->err; i++) {
			fill(b, round, i);
			w->err = bdev_write(w->dev, i, 1, b);
			if (!w->err)
				w->err = bdev_read(w->dev, i, 1, b);
			if (!w->err && !is_fill(b, round, i))
				w->err = -EILSEQ;
		}
		if (!w->err)
			w->err = bdev_flush(w->dev);
	}
	free(b);
	return NULL;
}

static void run_workers(struct bdev *dev)
{
	pthread_t th[NWORKERS];
	struct worker w[NWORKERS];

	for (unsigned i = 0; i < NWORKERS; i++) {
		w[i] = (struct worker){ .dev = dev, .first = i * PER_WORKER };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NWORKERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].err, 0);
	}
	for (uint64_t b = 0; b < NWORKERS * PER_WORKER; b++)
		assert_true(holds(dev, b, 8));
}

static void concurrent_emu_callers_are_serialised(void **state)
{
	struct bdev *dev = emu(NWORKERS * PER_WORKER);

	run_workers(dev);
	bdev_emu_power_cut(dev, EMU_CUT_DROP_ALL, 0);
	for (uint64_t b = 0; b < NWORKERS * PER_WORKER; b++)
		assert_true(holds(dev, b, 8));
	bdev_close(dev);
}

/* ---- file device ---------------------------------------------------------- */

/* Create a temporary file of `bytes` bytes; its name goes to path[32]. */
static void tmpfile_of(char *path, off_t bytes)
{
	int fd;

	strcpy(path, "/tmp/ank-bdev-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, bytes), 0);
	close(fd);
}

static struct bdev *file_dev(char *path, uint64_t nblocks, unsigned depth)
{
	struct bdev *dev;

	tmpfile_of(path, (off_t)(nblocks * BS));
	assert_int_equal(bdev_file_open(path, false, depth, &dev), 0);
	assert_int_equal(dev->nblocks, nblocks);
	return dev;
}

static void file_device_write_then_read_persists_across_reopen(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, 32, 0);
	uint8_t *w = balloc(16), *r = balloc(16);

	for (unsigned i = 0; i < 16; i++)
		fill(w + i * BS, 11, 8 + i);
	assert_int_equal(bdev_write(dev, 8, 16, w), 0);
	assert_int_equal(bdev_read(dev, 8, 16, r), 0);
	assert_memory_equal(w, r, 16 * BS);
	assert_int_equal(bdev_flush(dev), 0);
	bdev_close(dev);

	assert_int_equal(bdev_file_open(path, true, 4, &dev), 0);
	memset(r, 0, 16 * BS);
	assert_int_equal(bdev_read(dev, 8, 16, r), 0);
	assert_memory_equal(w, r, 16 * BS);
	assert_true(holds(dev, 0, 0));
	bdev_close(dev);
	unlink(path);
	free(w);
	free(r);
}

static void batch_of_many_requests_in_flight(void **state)
{
	enum { N = 256 };
	char path[32];
	/* A small queue so the batch is streamed through many refills. */
	struct bdev *dev = file_dev(path, N * 2, 16);
	uint8_t *w = balloc(N), *r = balloc(N);
	struct bdev_io *ios = calloc(N, sizeof(*ios));

	assert_non_null(ios);
	/* Scattered, out-of-order blocks: request i writes block (i*37)%N*2. */
	for (unsigned i = 0; i < N; i++) {
		uint64_t blk = (uint64_t)(i * 37 % N) * 2;

		fill(w + i * BS, 12, blk);
		ios[i] = (struct bdev_io){ .op = BDEV_WRITE, .blk = blk, .nblk = 1, .buf = w + i * BS, .res = 1 };
	}
	assert_int_equal(bdev_submit(dev, ios, N), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(ios[i].res, 0);
		ios[i].op = BDEV_READ;
		ios[i].buf = r + i * BS;
		ios[i].res = 1;
	}
	assert_int_equal(bdev_submit(dev, ios, N), 0);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(ios[i].res, 0);
	assert_memory_equal(w, r, (size_t)N * BS);
	assert_true(holds(dev, 1, 0));
	assert_int_equal(dev->stat_writes, N);
	bdev_close(dev);
	unlink(path);
	free(ios);
	free(w);
	free(r);
}

static void large_request_spanning_many_blocks(void **state)
{
	enum { N = 1024 }; /* 4 MiB in one request */
	char path[32];
	struct bdev *dev = file_dev(path, N, 2);
	uint8_t *w = balloc(N), *r = balloc(N);

	for (unsigned i = 0; i < N; i++)
		fill(w + i * BS, 13, i);
	assert_int_equal(bdev_write(dev, 0, N, w), 0);
	assert_int_equal(bdev_read(dev, 0, N, r), 0);
	assert_memory_equal(w, r, (size_t)N * BS);
	bdev_close(dev);
	unlink(path);
	free(w);
	free(r);
}

static void file_device_flush_succeeds(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, 8, 0);

	assert_int_equal(put(dev, 3, 1), 0);
	assert_int_equal(bdev_flush(dev), 0);
	assert_int_equal(bdev_flush(dev), 0);
	assert_int_equal(dev->stat_flushes, 2);
	bdev_close(dev);
	unlink(path);
}

static void file_device_rejects_size_not_multiple_of_4096(void **state)
{
	char path[32];
	struct bdev *dev = (struct bdev *)1;

	tmpfile_of(path, 3 * BS + 512);
	assert_int_equal(bdev_file_open(path, false, 0, &dev), -EINVAL);
	assert_null(dev);
	unlink(path);
}

static void missing_file_is_enoent(void **state)
{
	struct bdev *dev;

	assert_int_equal(bdev_file_open("/tmp/ank-bdev-does-not-exist", false, 0, &dev), -ENOENT);
}

static void read_only_file_device_rejects_write(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, 8, 0);
	uint8_t *b = balloc(1);
	struct bdev_io ios[2] = {
		{ .op = BDEV_WRITE, .blk = 0, .nblk = 1, .buf = b },
		{ .op = BDEV_READ, .blk = 2, .nblk = 1, .buf = b },
	};

	assert_int_equal(put(dev, 2, 4), 0);
	bdev_close(dev);
	assert_int_equal(bdev_file_open(path, true, 0, &dev), 0);
	fill(b, 1, 0);
	assert_int_equal(bdev_write(dev, 0, 1, b), -EROFS);
	assert_int_equal(bdev_submit(dev, ios, 2), -EROFS);
	assert_int_equal(ios[0].res, -EROFS);
	assert_int_equal(ios[1].res, 0);
	assert_true(is_fill(b, 4, 2));
	assert_true(holds(dev, 0, 0));
	bdev_close(dev);
	unlink(path);
	free(b);
}

static void file_device_out_of_range_block_is_einval(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, 8, 0);
	uint8_t *b = balloc(1);

	assert_int_equal(bdev_read(dev, 8, 1, b), -EINVAL);
	assert_int_equal(bdev_write(dev, 6, 3, b), -EINVAL);
	bdev_close(dev);
	unlink(path);
	free(b);
}

static void read_past_shrunk_file_is_eio(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, 8, 0);
	uint8_t *b = balloc(1);

	assert_int_equal(truncate(path, 4 * BS), 0);
	assert_int_equal(bdev_read(dev, 6, 1, b), -EIO);
	assert_int_equal(bdev_read(dev, 3, 1, b), 0);
	bdev_close(dev);
	unlink(path);
	free(b);
}

static void concurrent_file_callers_are_serialised(void **state)
{
	char path[32];
	struct bdev *dev = file_dev(path, NWORKERS * PER_WORKER, 8);

	run_workers(dev);
	bdev_close(dev);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_emu_device_reads_zero),
		cmocka_unit_test(write_then_read_returns_same_data),
		cmocka_unit_test(unflushed_writes_dropped_by_power_cut),
		cmocka_unit_test(flushed_writes_survive_power_cut),
		cmocka_unit_test(keep_all_cut_mode_keeps_latest_unflushed_data),
		cmocka_unit_test(random_cut_mode_keeps_subset_deterministically_by_seed),
		cmocka_unit_test(random_cut_mode_may_keep_older_write_of_same_block),
		cmocka_unit_test(prefix_cut_mode_keeps_an_issue_order_prefix),
		cmocka_unit_test(fail_nth_fails_exactly_that_request),
		cmocka_unit_test(sticky_fail_keeps_failing_until_power_cut),
		cmocka_unit_test(cut_after_n_freezes_device),
		cmocka_unit_test(cut_after_n_stops_inside_a_batch),
		cmocka_unit_test(out_of_range_block_is_einval),
		cmocka_unit_test(unaligned_buffer_is_einval),
		cmocka_unit_test(stats_count_requests_and_flushes),
		cmocka_unit_test(create_from_image_is_durable),
		cmocka_unit_test(snapshot_and_block_pointer_show_current_view),
		cmocka_unit_test(large_emu_device_is_cheap),
		cmocka_unit_test(concurrent_emu_callers_are_serialised),
		cmocka_unit_test(file_device_write_then_read_persists_across_reopen),
		cmocka_unit_test(batch_of_many_requests_in_flight),
		cmocka_unit_test(large_request_spanning_many_blocks),
		cmocka_unit_test(file_device_flush_succeeds),
		cmocka_unit_test(file_device_rejects_size_not_multiple_of_4096),
		cmocka_unit_test(missing_file_is_enoent),
		cmocka_unit_test(read_only_file_device_rejects_write),
		cmocka_unit_test(file_device_out_of_range_block_is_einval),
		cmocka_unit_test(read_past_shrunk_file_is_eio),
		cmocka_unit_test(concurrent_file_callers_are_serialised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
