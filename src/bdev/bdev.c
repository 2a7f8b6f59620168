/*
 * bdev.c - the device-independent half of the block layer: argument checks
 * (range, alignment, sizes) and statistics, then dispatch through the
 * device's ops. It does no I/O itself; drivers only ever see requests that
 * passed these checks.
 */
#include "bdev.h"

#include "../util/common.h"

#include <stdint.h>

/* A request the driver may run: a known op, a non-empty block range inside
 * the device (checked without overflow) and an aligned buffer. */
static bool io_valid(const struct bdev *dev, const struct bdev_io *io)
{
	if (io->op != BDEV_READ && io->op != BDEV_WRITE)
		return false;
	if (io->nblk == 0 || io->blk >= dev->nblocks || io->nblk > dev->nblocks - io->blk)
		return false;
	return io->buf && ((uintptr_t)io->buf & (ANK_BLOCK_SIZE - 1)) == 0;
}

static void count_io(struct bdev *dev, const struct bdev_io *ios, unsigned n)
{
	uint64_t r = 0, w = 0;

	for (unsigned i = 0; i < n; i++) {
		if (ios[i].op == BDEV_READ)
			r++;
		else
			w++;
	}
	if (r)
		__atomic_add_fetch(&dev->stat_reads, r, __ATOMIC_RELAXED);
	if (w)
		__atomic_add_fetch(&dev->stat_writes, w, __ATOMIC_RELAXED);
}

/*
 * Invalid requests are answered with -EINVAL here and never reach the
 * driver; the valid ones around them still run, in maximal contiguous runs so
 * the driver keeps seeing batches it can overlap. The return value is the
 * first error in array order, whichever stage produced it.
 */
int bdev_submit(struct bdev *dev, struct bdev_io *ios, unsigned n)
{
	unsigned i = 0;

	if (!dev || (n && !ios))
		return -EINVAL;
	while (i < n) {
		unsigned start = i;

		while (i < n && io_valid(dev, &ios[i]))
			i++;
		if (i > start) {
			count_io(dev, ios + start, i - start);
			dev->ops->submit(dev, ios + start, i - start);
		}
		for (; i < n && !io_valid(dev, &ios[i]); i++)
			ios[i].res = -EINVAL;
	}
	for (i = 0; i < n; i++)
		if (ios[i].res)
			return ios[i].res;
	return 0;
}

int bdev_read(struct bdev *dev, uint64_t blk, uint32_t nblk, void *buf)
{
	struct bdev_io io = { .op = BDEV_READ, .blk = blk, .nblk = nblk, .buf = buf };

	return bdev_submit(dev, &io, 1);
}

int bdev_write(struct bdev *dev, uint64_t blk, uint32_t nblk, const void *buf)
{
	/* The request struct is shared with reads, hence non-const; writes never
	 * modify the buffer. */
	struct bdev_io io = { .op = BDEV_WRITE, .blk = blk, .nblk = nblk, .buf = (void *)buf };

	return bdev_submit(dev, &io, 1);
}

int bdev_flush(struct bdev *dev)
{
	if (!dev)
		return -EINVAL;
	__atomic_add_fetch(&dev->stat_flushes, 1, __ATOMIC_RELAXED);
	return dev->ops->flush(dev);
}

void bdev_close(struct bdev *dev)
{
	if (dev)
		dev->ops->close(dev);
}
