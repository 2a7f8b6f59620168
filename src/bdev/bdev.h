/*
 * bdev.h - block devices: the only way the file system touches storage.
 *
 * A device is an array of 4 KiB blocks. Two implementations share one
 * interface:
 *   - the file device (uring.c): a regular file or block device opened with
 *     O_DIRECT, I/O through io_uring (liburing) with several requests in
 *     flight, flush = fsync through io_uring (a real durability barrier);
 *   - the emulated device (emu.c): RAM-backed, for tests only. It remembers
 *     which writes are not yet flushed, can fail the Nth I/O, and can simulate
 *     a power cut by dropping or reordering unflushed writes.
 *
 * Contract:
 *   - Buffers passed to read/write must be aligned to ANK_BLOCK_SIZE.
 *   - A write is durable only after a later bdev_flush() returned 0.
 *   - bdev_submit() runs a batch of requests concurrently and returns when all
 *     completed; the result of each request is in its `res` field (0 or a
 *     negative errno) and the call returns the first error, or 0.
 *   - Every function is thread-safe: concurrent callers are serialised inside
 *     the device.
 *   - Out-of-range block numbers give -EINVAL, never touch storage.
 */
#ifndef ANK_BDEV_H
#define ANK_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bdev;

enum bdev_op { BDEV_READ = 0, BDEV_WRITE = 1 };

struct bdev_io {
	enum bdev_op op;
	uint64_t blk;   /* first block */
	uint32_t nblk;  /* number of blocks */
	void *buf;      /* nblk * 4096 bytes, 4096-aligned */
	int res;        /* out: 0 or negative errno */
};

struct bdev_ops {
	int (*submit)(struct bdev *dev, struct bdev_io *ios, unsigned n);
	int (*flush)(struct bdev *dev);
	void (*close)(struct bdev *dev);
};

struct bdev {
	const struct bdev_ops *ops;
	uint64_t nblocks;         /* device size in blocks */
	/* statistics [atomic] */
	uint64_t stat_reads, stat_writes, stat_flushes;
};

/* Open a regular file or block device for O_DIRECT I/O through io_uring.
 * `queue_depth` is the io_uring size (0: default 64). Returns 0 and *out, or
 * -errno (-ENOENT, -EACCES, -EINVAL when the size is not a multiple of 4096
 * or O_DIRECT is unsupported, ...). With read_only, writes fail with -EROFS. */
int bdev_file_open(const char *path, bool read_only, unsigned queue_depth, struct bdev **out);

/* Run a batch of requests; see the contract above. */
int bdev_submit(struct bdev *dev, struct bdev_io *ios, unsigned n);
/* Convenience wrappers for one request. */
int bdev_read(struct bdev *dev, uint64_t blk, uint32_t nblk, void *buf);
int bdev_write(struct bdev *dev, uint64_t blk, uint32_t nblk, const void *buf);
/* Durability barrier: every write completed before this call is durable when
 * it returns 0. */
int bdev_flush(struct bdev *dev);
void bdev_close(struct bdev *dev);

/* Process-wide: while set, every submit and flush of a file device adds 1 to
 * *counter for its duration (atomically), so another process can tell a
 * thread waiting for the device from a stuck one. NULL to stop. */
void bdev_set_busy_counter(uint64_t *counter);

/* ---- emulated device (tests only) ---------------------------------------- */

/* How a power cut treats writes that were not yet flushed. */
enum emu_cut_mode {
	EMU_CUT_DROP_ALL = 0,  /* none of the unflushed writes survive */
	EMU_CUT_KEEP_ALL = 1,  /* all of them survive */
	EMU_CUT_RANDOM = 2,    /* each unflushed block write survives with p=1/2
	                          (seeded), independently: reordering */
	EMU_CUT_PREFIX = 3,    /* a seeded random prefix (in issue order) survives */
};

/* Create a RAM-backed device of nblocks blocks, all zero. */
int bdev_emu_create(uint64_t nblocks, struct bdev **out);
/* Create an emulated device whose durable content is a copy of `image`
 * (nblocks*4096 bytes). */
int bdev_emu_create_from(const void *image, uint64_t nblocks, struct bdev **out);
/* Fail the Nth I/O request from now (1 = the next one; reads, writes and
 * flushes each count as one) with -EIO; 0 disarms. After it fires the device
 * keeps failing every request when `sticky`. */
void bdev_emu_fail_nth(struct bdev *dev, uint64_t n, bool sticky);
/* Stop the device at the Nth write-or-flush boundary from now: after N
 * writes+flushes have been accepted, every later request fails with -EIO
 * (a frozen machine). 0 disarms. bdev_emu_events() counts boundaries. */
void bdev_emu_cut_after(struct bdev *dev, uint64_t n);
/* Number of write and flush requests accepted so far (the power-cut
 * boundaries of a workload). */
uint64_t bdev_emu_events(struct bdev *dev);
/* Simulate a power cut now: unflushed writes are kept or dropped per `mode`
 * (seeded by `seed`), then the device's content is the durable content and it
 * accepts I/O again (failure/cut arming cleared). */
void bdev_emu_power_cut(struct bdev *dev, enum emu_cut_mode mode, uint64_t seed);
/* Call fn with each write request's first block, length and buffer just
 * before the device takes its bytes (a test's stray write during the I/O);
 * NULL removes it. */
void bdev_emu_on_write(struct bdev *dev, void (*fn)(void *arg, uint64_t blk, uint32_t nblk,
						  void *buf),
		       void *arg);
/* Copy the current durable+volatile view (what a read returns) to `out`
 * (nblocks*4096 bytes). */
void bdev_emu_snapshot(struct bdev *dev, void *out);
/* Direct pointer to block `blk` of the current view, for tests that corrupt
 * images on purpose. */
uint8_t *bdev_emu_block(struct bdev *dev, uint64_t blk);

#endif
