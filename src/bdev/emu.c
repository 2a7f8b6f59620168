/*
 * emu.c - the emulated device for tests: RAM-backed, with fault injection
 * (fail the Nth request, freeze after N write/flush boundaries) and power
 * cuts that keep, drop or reorder unflushed writes. It models a disk with a
 * volatile write cache; it does not model torn blocks (a 4 KiB block write
 * survives whole or not at all) or latency.
 *
 * Memory: `view` holds what a read returns. A block overwritten since the
 * last flush also has its durable content saved in durable[blk], and every
 * unflushed block write is logged with its data, in issue order, so a power
 * cut can rebuild any subset. Clean blocks cost nothing beyond the view.
 */
#include "bdev.h"

#include "../util/common.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

struct logent {
	uint64_t blk;
	uint8_t *data;       /* ANK_BLOCK_SIZE bytes */
};

struct emu {
	struct bdev dev;
	pthread_mutex_t lock;
	uint8_t *view;
	uint8_t **durable;   /* nblocks entries, NULL for a clean block */
	struct logent *log;  /* unflushed block writes, oldest first */
	size_t nlog, caplog;
	uint64_t fail_left;  /* fail the request that brings this to 0 */
	bool fail_sticky, failing;
	uint64_t cut_left;   /* freeze when this many more events accepted */
	bool frozen;
	uint64_t events;
	void (*on_write)(void *arg, uint64_t blk, uint32_t nblk, void *buf);
	void *on_write_arg;
};

static const struct bdev_ops emu_ops;

static struct emu *to_emu(struct bdev *dev)
{
	assert(dev && dev->ops == &emu_ops);
	return (struct emu *)dev;
}

static uint8_t *blkp(struct emu *e, uint64_t blk)
{
	return e->view + blk * ANK_BLOCK_SIZE;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fault injection for one request, before it has any effect. */
static int check_request(struct emu *e)
{
	if (e->frozen || e->failing)
		return -EIO;
	if (e->fail_left && --e->fail_left == 0) {
		e->failing = e->fail_sticky;
		return -EIO;
	}
	return 0;
}

/* A write or flush was accepted: one more power-cut boundary. */
static void count_event(struct emu *e)
{
	e->events++;
	if (e->cut_left && --e->cut_left == 0)
		e->frozen = true;
}

static int write_block(struct emu *e, uint64_t blk, const uint8_t *src)
{
	uint8_t *data = malloc(ANK_BLOCK_SIZE);

	if (!data)
		return -ENOMEM;
	if (!e->durable[blk]) {
		e->durable[blk] = malloc(ANK_BLOCK_SIZE);
		if (!e->durable[blk]) {
			free(data);
			return -ENOMEM;
		}
		memcpy(e->durable[blk], blkp(e, blk), ANK_BLOCK_SIZE);
	}
	memcpy(data, src, ANK_BLOCK_SIZE);
	memcpy(blkp(e, blk), src, ANK_BLOCK_SIZE);
	e->log[e->nlog++] = (struct logent){ .blk = blk, .data = data };
	return 0;
}

static int do_write(struct emu *e, const struct bdev_io *io)
{
	if (e->nlog + io->nblk > e->caplog) {
		size_t cap = ANK_MAX(e->caplog * 2, e->nlog + io->nblk);
		struct logent *log = realloc(e->log, cap * sizeof(*log));

		if (!log)
			return -ENOMEM;
		e->log = log;
		e->caplog = cap;
	}
	for (uint32_t i = 0; i < io->nblk; i++) {
		int err = write_block(e, io->blk + i, (const uint8_t *)io->buf + (size_t)i * ANK_BLOCK_SIZE);

		if (err)
			return err;
	}
	return 0;
}

/* Forget the unflushed state: the view becomes the durable content. */
static void drop_log(struct emu *e)
{
	for (size_t i = 0; i < e->nlog; i++) {
		free(e->durable[e->log[i].blk]);
		e->durable[e->log[i].blk] = NULL;
		free(e->log[i].data);
	}
	e->nlog = 0;
}

static int emu_submit(struct bdev *dev, struct bdev_io *ios, unsigned n)
{
	struct emu *e = to_emu(dev);
	int first = 0;

	pthread_mutex_lock(&e->lock);
	for (unsigned i = 0; i < n; i++) {
		struct bdev_io *io = &ios[i];

		io->res = check_request(e);
		if (io->res) {
			/* rejected before it had any effect */
		} else if (io->op == BDEV_READ) {
			memcpy(io->buf, blkp(e, io->blk), (size_t)io->nblk * ANK_BLOCK_SIZE);
		} else {
			if (e->on_write)
				e->on_write(e->on_write_arg, io->blk, io->nblk, io->buf);
			io->res = do_write(e, io);
			count_event(e);
		}
		if (io->res && !first)
			first = io->res;
	}
	pthread_mutex_unlock(&e->lock);
	return first;
}

void bdev_emu_on_write(struct bdev *dev, void (*fn)(void *arg, uint64_t blk, uint32_t nblk,
						  void *buf),
		       void *arg)
{
	struct emu *e = to_emu(dev);
	pthread_mutex_lock(&e->lock);
	e->on_write = fn;
	e->on_write_arg = arg;
	pthread_mutex_unlock(&e->lock);
}

static int emu_flush(struct bdev *dev)
{
	struct emu *e = to_emu(dev);
	int err;

	pthread_mutex_lock(&e->lock);
	err = check_request(e);
	if (!err) {
		drop_log(e);
		count_event(e);
	}
	pthread_mutex_unlock(&e->lock);
	return err;
}

static void emu_close(struct bdev *dev)
{
	struct emu *e = to_emu(dev);

	drop_log(e);
	free(e->log);
	free(e->durable);
	munmap(e->view, e->dev.nblocks * ANK_BLOCK_SIZE);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static const struct bdev_ops emu_ops = {
	.submit = emu_submit,
	.flush = emu_flush,
	.close = emu_close,
};

int bdev_emu_create(uint64_t nblocks, struct bdev **out)
{
	struct emu *e;

	*out = NULL;
	if (nblocks == 0 || nblocks > SIZE_MAX / ANK_BLOCK_SIZE)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	/* Anonymous memory is zero-filled and only backed when touched, so a
	 * large mostly-empty device stays cheap. */
	e->view = mmap(NULL, nblocks * ANK_BLOCK_SIZE, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->view == MAP_FAILED)
		goto fail;
	e->durable = calloc(nblocks, sizeof(*e->durable));
	if (!e->durable)
		goto fail_unmap;
	pthread_mutex_init(&e->lock, NULL);
	e->dev.ops = &emu_ops;
	e->dev.nblocks = nblocks;
	*out = &e->dev;
	return 0;

fail_unmap:
	munmap(e->view, nblocks * ANK_BLOCK_SIZE);
fail:
	free(e);
	return -ENOMEM;
}

int bdev_emu_create_from(const void *image, uint64_t nblocks, struct bdev **out)
{
	int err = bdev_emu_create(nblocks, out);

	if (!err)
		memcpy(to_emu(*out)->view, image, nblocks * ANK_BLOCK_SIZE);
	return err;
}

void bdev_emu_fail_nth(struct bdev *dev, uint64_t n, bool sticky)
{
	struct emu *e = to_emu(dev);

	pthread_mutex_lock(&e->lock);
	e->fail_left = n;
	e->fail_sticky = sticky;
	e->failing = false;
	pthread_mutex_unlock(&e->lock);
}

void bdev_emu_cut_after(struct bdev *dev, uint64_t n)
{
	struct emu *e = to_emu(dev);

	pthread_mutex_lock(&e->lock);
	e->cut_left = n;
	e->frozen = false;
	pthread_mutex_unlock(&e->lock);
}

uint64_t bdev_emu_events(struct bdev *dev)
{
	struct emu *e = to_emu(dev);
	uint64_t n;

	pthread_mutex_lock(&e->lock);
	n = e->events;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/*
 * Roll every dirty block back to its durable content, then replay the
 * surviving subset of the log in issue order, so that when several writes of
 * one block survive the newest of them wins.
 */
void bdev_emu_power_cut(struct bdev *dev, enum emu_cut_mode mode, uint64_t seed)
{
	struct emu *e = to_emu(dev);
	uint64_t rng = seed;
	size_t keep_prefix = 0;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nlog; i++) {
		uint64_t blk = e->log[i].blk;

		if (e->durable[blk]) {
			memcpy(blkp(e, blk), e->durable[blk], ANK_BLOCK_SIZE);
			free(e->durable[blk]);
			e->durable[blk] = NULL;
		}
	}
	if (mode == EMU_CUT_KEEP_ALL)
		keep_prefix = e->nlog;
	else if (mode == EMU_CUT_PREFIX)
		keep_prefix = (size_t)(splitmix64(&rng) % (e->nlog + 1));
	for (size_t i = 0; i < e->nlog; i++) {
		bool keep = i < keep_prefix;

		if (mode == EMU_CUT_RANDOM)
			keep = splitmix64(&rng) & 1;
		if (keep)
			memcpy(blkp(e, e->log[i].blk), e->log[i].data, ANK_BLOCK_SIZE);
	}
	drop_log(e);
	e->fail_left = 0;
	e->failing = false;
	e->cut_left = 0;
	e->frozen = false;
	pthread_mutex_unlock(&e->lock);
}

void bdev_emu_snapshot(struct bdev *dev, void *out)
{
	struct emu *e = to_emu(dev);

	pthread_mutex_lock(&e->lock);
	memcpy(out, e->view, e->dev.nblocks * ANK_BLOCK_SIZE);
	pthread_mutex_unlock(&e->lock);
}

/* For a block with unflushed writes the pointer reaches only the volatile
 * view (its durable copy is separate); callers corrupting images flush
 * first, so the block is clean and the view is also the durable content. */
uint8_t *bdev_emu_block(struct bdev *dev, uint64_t blk)
{
	struct emu *e = to_emu(dev);

	return blk < e->dev.nblocks ? blkp(e, blk) : NULL;
}
