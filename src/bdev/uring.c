/*
 * uring.c - the file device: a regular file or block device opened with
 * O_DIRECT, driven through one io_uring per device. A batch keeps up to
 * queue-depth requests in flight, refilling slots as completions arrive;
 * short transfers are resubmitted for the remainder and -EAGAIN/-EINTR are
 * retried. Flush is IORING_OP_FSYNC. It does no caching and no range checks
 * (bdev.c did those).
 */
#include "bdev.h"

#include "../util/common.h"

#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define DEFAULT_DEPTH 64u
#define MAX_DEPTH 4096u
/* io_uring lengths are 32-bit: a huge request is issued in pieces this big,
 * through the same path as a short transfer. */
#define MAX_CHUNK (1u << 30)

/* One in-flight request; its index in the slot table is the user_data. */
struct slot {
	struct bdev_io *io;  /* NULL while the slot is free */
	uint64_t done;       /* bytes transferred so far */
};

struct ufile {
	struct bdev dev;
	int fd;
	bool read_only;
	bool is_blkdev;
	int broken;          /* ring unusable after a failed io_uring_enter */
	unsigned depth;
	pthread_mutex_t lock; /* serialises all use of the ring and slots */
	struct io_uring ring;
	struct slot *slots;   /* depth entries: the requests in flight */
	unsigned *free_idx;   /* stack of free slot numbers */
};

static struct ufile *to_ufile(struct bdev *dev)
{
	return (struct ufile *)dev;
}

/* Queue the (remaining part of the) slot's request. The SQ has depth
 * entries and each slot owns at most one, so a free SQE always exists. */
static void queue_slot(struct ufile *f, struct slot *s, unsigned idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
	uint64_t total = (uint64_t)s->io->nblk * ANK_BLOCK_SIZE;
	unsigned len = (unsigned)ANK_MIN(total - s->done, (uint64_t)MAX_CHUNK);
	uint64_t off = s->io->blk * ANK_BLOCK_SIZE + s->done;
	char *buf = (char *)s->io->buf + s->done;

	if (s->io->op == BDEV_READ)
		io_uring_prep_read(sqe, f->fd, buf, len, off);
	else
		io_uring_prep_write(sqe, f->fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, idx);
}

/* EFAULT or EBADF from the kernel means a request carried a bad buffer
 * address or fd. This file only ever passes its own, so its memory was
 * damaged (a stray write, a bit flip): stop at once rather than hand an
 * error, or worse, to a caller; the service's recovery takes over. */
static void check_not_corrupt(int res)
{
	if (res == -EFAULT || res == -EBADF) {
		fprintf(stderr, "ananke: device request refused (%s): its arguments were damaged "
				"in memory; stopping at once\n", strerror(-res));
		abort();
	}
}

/* Submit what is queued and wait for at least one completion. Transient
 * failures are retried; any other failure leaves queued SQEs in an unknown
 * state, so the device is marked broken and the ring is never entered again
 * (a later enter could start I/O into buffers the caller has freed). */
static int enter(struct ufile *f)
{
	for (;;) {
		int ret = io_uring_submit_and_wait(&f->ring, 1);

		if (ret >= 0)
			return 0;
		check_not_corrupt(ret);
		if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			f->broken = ret;
			return ret;
		}
	}
}

static uint64_t *busy_counter;
/* Fault injection for liveness tests: ANANKE_FAULT_FLUSH_SLEEP_MS=N makes
 * every flush of a device with a busy counter (the server's) sleep N ms
 * while counted busy, as a slow device would (read when the counter is
 * set). */
static unsigned flush_sleep_ms;

void bdev_set_busy_counter(uint64_t *counter)
{
	const char *e = counter ? getenv("ANANKE_FAULT_FLUSH_SLEEP_MS") : NULL;
	flush_sleep_ms = e ? (unsigned)strtoul(e, NULL, 10) : 0;
	__atomic_store_n(&busy_counter, counter, __ATOMIC_RELEASE);
}

static void busy_add(int64_t d)
{
	uint64_t *c = __atomic_load_n(&busy_counter, __ATOMIC_ACQUIRE);
	if (c)
		__atomic_add_fetch(c, (uint64_t)d, __ATOMIC_RELAXED);
}

static int uring_submit(struct bdev *dev, struct bdev_io *ios, unsigned n)
{
	struct ufile *f = to_ufile(dev);
	struct slot *slots = f->slots;
	unsigned *free_idx = f->free_idx;
	unsigned nfree = f->depth, next = 0, busy = 0;
	int err = 0;

	busy_add(1);
	pthread_mutex_lock(&f->lock);
	if (f->broken) {
		err = -EIO;
		goto out;
	}
	for (unsigned i = 0; i < nfree; i++)
		free_idx[i] = i;

	while (next < n || busy) {
		struct io_uring_cqe *cqe;

		for (; next < n && nfree; next++) {
			struct bdev_io *io = &ios[next];
			unsigned idx;

			io->res = 0;
			if (io->op == BDEV_WRITE && f->read_only) {
				io->res = -EROFS;
				continue;
			}
			idx = free_idx[--nfree];
			slots[idx] = (struct slot){ .io = io, .done = 0 };
			queue_slot(f, &slots[idx], idx);
			busy++;
		}
		if (!busy)
			break;
		err = enter(f);
		if (err)
			goto out;
		while (io_uring_peek_cqe(&f->ring, &cqe) == 0) {
			unsigned idx = (unsigned)io_uring_cqe_get_data64(cqe);
			struct slot *s = &slots[idx];
			int res = cqe->res;

			io_uring_cqe_seen(&f->ring, cqe);
			check_not_corrupt(res);
			if (res == -EAGAIN || res == -EINTR) {
				queue_slot(f, s, idx);
				continue;
			}
			if (res > 0) {
				s->done += (uint64_t)res;
				if (s->done < (uint64_t)s->io->nblk * ANK_BLOCK_SIZE) {
					queue_slot(f, s, idx);
					continue;
				}
			}
			/* 0 bytes means end of file: the file shrank under us. */
			s->io->res = res < 0 ? res : (res == 0 ? -EIO : 0);
			s->io = NULL;
			free_idx[nfree++] = idx;
			busy--;
		}
	}
out:
	/* Requests still in a slot or never started did not complete. */
	if (err) {
		for (unsigned i = 0; i < f->depth; i++) {
			if (slots[i].io)
				slots[i].io->res = err;
			slots[i].io = NULL;
		}
		for (; next < n; next++)
			ios[next].res = err;
	}
	pthread_mutex_unlock(&f->lock);
	busy_add(-1);
	return err;
}

/* A file needs a full fsync so its size and allocation metadata are durable
 * too; a block device has no such metadata, so data sync suffices. */
static int uring_flush(struct bdev *dev)
{
	struct ufile *f = to_ufile(dev);
	unsigned flags = f->is_blkdev ? IORING_FSYNC_DATASYNC : 0;
	int err;

	busy_add(1);
	if (flush_sleep_ms && __atomic_load_n(&busy_counter, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {(time_t)(flush_sleep_ms / 1000),
				      (long)(flush_sleep_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&f->lock);
	err = f->broken ? -EIO : 0;
	while (!err) {
		struct io_uring_cqe *cqe;

		io_uring_prep_fsync(io_uring_get_sqe(&f->ring), f->fd, flags);
		err = enter(f);
		if (err || io_uring_peek_cqe(&f->ring, &cqe))
			break;
		err = cqe->res;
		io_uring_cqe_seen(&f->ring, cqe);
		check_not_corrupt(err);
		if (err != -EINTR && err != -EAGAIN)
			break;
		err = 0;
	}
	pthread_mutex_unlock(&f->lock);
	busy_add(-1);
	return err;
}

static void uring_close(struct bdev *dev)
{
	struct ufile *f = to_ufile(dev);

	io_uring_queue_exit(&f->ring);
	close(f->fd);
	pthread_mutex_destroy(&f->lock);
	free(f->slots);
	free(f->free_idx);
	free(f);
}

static const struct bdev_ops uring_ops = {
	.submit = uring_submit,
	.flush = uring_flush,
	.close = uring_close,
};

int bdev_file_open(const char *path, bool read_only, unsigned queue_depth, struct bdev **out)
{
	struct ufile *f;
	struct stat st;
	uint64_t size;
	int err;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
	if (f->fd < 0) {
		err = -errno;
		goto fail_free;
	}
	if (fstat(f->fd, &st) < 0) {
		err = -errno;
		goto fail_close;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		f->is_blkdev = true;
		if (ioctl(f->fd, BLKGETSIZE64, &size) < 0) {
			err = -errno;
			goto fail_close;
		}
	} else {
		err = -EINVAL;
		goto fail_close;
	}
	if (size % ANK_BLOCK_SIZE) {
		err = -EINVAL;
		goto fail_close;
	}
	f->depth = queue_depth ? ANK_MIN(queue_depth, MAX_DEPTH) : DEFAULT_DEPTH;
	f->slots = calloc(f->depth, sizeof(*f->slots));
	f->free_idx = calloc(f->depth, sizeof(*f->free_idx));
	if (!f->slots || !f->free_idx) {
		err = -ENOMEM;
		goto fail_close;
	}
	err = io_uring_queue_init(f->depth, &f->ring, 0);
	if (err < 0)
		goto fail_close;
	pthread_mutex_init(&f->lock, NULL);
	f->read_only = read_only;
	f->dev.ops = &uring_ops;
	f->dev.nblocks = size / ANK_BLOCK_SIZE;
	*out = &f->dev;
	return 0;

fail_close:
	close(f->fd);
fail_free:
	free(f->slots);
	free(f->free_idx);
	free(f);
	return err;
}
