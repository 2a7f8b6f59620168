/*
 * demo.c - `ananke demo`: a scripted workload through the file system core
 * on a real image (O_DIRECT + io_uring): a directory tree, files written and
 * fsync'd, a large file, renames and deletes; then unmount, remount and
 * verify every byte, unmount again, fsck, and print a summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"
#include "../src/util/common.h"
#include "tools.h"

#define NFILES 300
#define BIG_SIZE (32u << 20)

struct demo_file {
	char path[96];
	uint32_t size;
	uint32_t seed;
	bool alive;
};

static void fill(uint8_t *buf, size_t n, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull + seed;
		buf[i] = (uint8_t)(x >> 29);
	}
}

#define CHECK(expr, what)                                                                          \
	do {                                                                                       \
		long long _r = (long long)(expr);                                                  \
		if (_r < 0) {                                                                      \
			fprintf(stderr, "ananke: demo: %s failed: %s\n", what, strerror((int)-_r)); \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

static int write_file(struct fs_client *c, const char *path, uint32_t size, uint32_t seed,
		      bool do_fsync, uint8_t *buf)
{
	int fd = fs_open(c, path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return fd;
	fill(buf, size, seed, 0);
	ssize_t n = fs_write(c, fd, buf, size);
	int rc = n < 0 ? (int)n : (n != (ssize_t)size ? -EIO : 0);
	if (rc == 0 && do_fsync)
		rc = fs_fsync(c, fd);
	int rc2 = fs_close(c, fd);
	return rc ? rc : rc2;
}

static int verify_file(struct fs_client *c, const char *path, uint64_t size, uint32_t seed,
		       uint8_t *buf, uint8_t *want)
{
	int fd = fs_open(c, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	uint64_t off = 0;
	int rc = 0;
	while (off < size && rc == 0) {
		size_t chunk = (size_t)ANK_MIN(size - off, (uint64_t)(1u << 20));
		ssize_t n = fs_read(c, fd, buf, chunk);
		if (n != (ssize_t)chunk) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		fill(want, chunk, seed, off);
		if (memcmp(buf, want, chunk))
			rc = -EILSEQ;
		off += chunk;
	}
	struct stat st;
	if (rc == 0 && (fs_fstat(c, fd, &st) < 0 || (uint64_t)st.st_size != size))
		rc = -EILSEQ;
	fs_close(c, fd);
	return rc;
}

int tool_demo(int argc, char **argv)
{
	const char *image = argc > 1 ? argv[1] : "ananke.img";
	struct demo_file *files = calloc(NFILES, sizeof(*files));
	uint8_t *buf = malloc(BIG_SIZE), *want = malloc(1u << 20);
	struct bdev *dev = NULL;
	struct fs *fs = NULL;
	struct fs_client *c = NULL;
	int exit_code = 1;
	uint64_t ops = 0, bytes = 0, verified = 0;
	if (!files || !buf || !want) {
		fprintf(stderr, "ananke: demo: out of memory\n");
		goto fail;
	}
	printf("ananke demo: formatting %s\n", image);
	if (tool_mkfs_image(image, 0, false) != 0)
		goto fail;
	uint64_t t0 = ank_mono_ns();
	CHECK(bdev_file_open(image, false, 0, &dev), "open image");
	CHECK(fs_mount(dev, NULL, &fs), "mount");
	c = fs_client_new(fs, 0, 0);
	if (!c)
		goto fail;

	static const char *dirs[] = {"/projects", "/projects/src", "/projects/include",
				     "/docs",     "/photos",       "/photos/2026",
				     "/scratch"};
	for (size_t i = 0; i < ANK_ARRAY_SIZE(dirs); i++, ops++)
		CHECK(fs_mkdir(c, dirs[i], 0755), "mkdir");
	printf("ananke demo: writing %d files (every 4th fsync'd) and a %u MiB file\n", NFILES,
	       BIG_SIZE >> 20);
	for (int i = 0; i < NFILES; i++) {
		struct demo_file *f = &files[i];
		snprintf(f->path, sizeof(f->path), "%s/file-%03d.dat", dirs[i % ANK_ARRAY_SIZE(dirs)],
			 i);
		f->size = (uint32_t)((i * 7919u) % 200000u);
		f->seed = (uint32_t)i * 2654435761u;
		f->alive = true;
		CHECK(write_file(c, f->path, f->size, f->seed, i % 4 == 0, buf), f->path);
		ops += 3;
		bytes += f->size;
	}
	fill(buf, BIG_SIZE, 42, 0);
	int fd = fs_open(c, "/photos/2026/big.raw", O_CREAT | O_RDWR, 0644);
	CHECK(fd, "create big file");
	CHECK(fs_write(c, fd, buf, BIG_SIZE), "write big file");
	CHECK(fs_fsync(c, fd), "fsync big file");
	CHECK(fs_close(c, fd), "close big file");
	ops += 4;
	bytes += BIG_SIZE;

	printf("ananke demo: renaming and deleting\n");
	for (int i = 0; i < NFILES; i += 5, ops++) {
		struct demo_file *f = &files[i];
		char to[96];
		snprintf(to, sizeof(to), "/scratch/renamed-%03d.dat", i);
		CHECK(fs_rename(c, f->path, to), "rename");
		snprintf(f->path, sizeof(f->path), "%s", to);
	}
	for (int i = 1; i < NFILES; i += 7, ops++) {
		CHECK(fs_unlink(c, files[i].path), "unlink");
		files[i].alive = false;
	}
	CHECK(fs_rename(c, "/photos/2026", "/docs/archive-2026"), "rename directory");
	for (int i = 0; i < NFILES; i++)
		if (!strncmp(files[i].path, "/photos/2026/", 13)) {
			char tmp[96];
			snprintf(tmp, sizeof(tmp), "/docs/archive-2026/%s", files[i].path + 13);
			snprintf(files[i].path, sizeof(files[i].path), "%s", tmp);
		}
	CHECK(fs_mkdir(c, "/scratch/empty", 0700), "mkdir");
	CHECK(fs_rmdir(c, "/scratch/empty"), "rmdir");
	ops += 3;
	CHECK(fs_sync(fs), "sync");
	struct fs_stats stats;
	fs_get_stats(fs, &stats);
	fs_client_free(c);
	c = NULL;
	CHECK(fs_unmount(fs), "unmount");
	fs = NULL;

	printf("ananke demo: remounting and verifying every byte\n");
	CHECK(fs_mount(dev, NULL, &fs), "remount");
	c = fs_client_new(fs, 0, 0);
	if (!c)
		goto fail;
	for (int i = 0; i < NFILES; i++) {
		struct demo_file *f = &files[i];
		struct stat st;
		int rc = fs_stat(c, f->path, &st);
		if (!f->alive) {
			if (rc != -ENOENT) {
				fprintf(stderr, "ananke: demo: deleted %s still there\n", f->path);
				goto fail;
			}
			continue;
		}
		rc = verify_file(c, f->path, f->size, f->seed, buf, want);
		if (rc < 0) {
			fprintf(stderr, "ananke: demo: verify %s: %s\n", f->path, strerror(-rc));
			goto fail;
		}
		verified += f->size;
	}
	CHECK(verify_file(c, "/docs/archive-2026/big.raw", BIG_SIZE, 42, buf, want), "verify big");
	verified += BIG_SIZE;
	fs_client_free(c);
	c = NULL;
	CHECK(fs_unmount(fs), "unmount");
	fs = NULL;
	uint64_t elapsed = ank_mono_ns() - t0;

	printf("ananke demo: fsck\n");
	struct fsck_options fo = {.out = stdout, .quiet = true};
	struct fsck_report rep;
	int fr = fsck_run(dev, &fo, &rep);
	printf("\n== summary ==\n");
	printf("operations        %" PRIu64 "\n", ops);
	printf("bytes written     %" PRIu64 " (%.1f MiB)\n", bytes, (double)bytes / (1 << 20));
	printf("bytes verified    %" PRIu64 " after remount\n", verified);
	printf("journal commits   %" PRIu64 " (%" PRIu64 " log blocks, %" PRIu64 " checkpoints)\n",
	       stats.commits, stats.journal_blocks_written, stats.checkpoints);
	printf("elapsed           %.2f s\n", (double)elapsed / 1e9);
	printf("fsck              %s (%" PRIu64 " inodes, %" PRIu64 " directories, %" PRIu64
	       " files)\n",
	       fr == 0 ? "clean" : "PROBLEMS", rep.inodes_used, rep.dirs, rep.files);
	exit_code = fr == 0 ? 0 : 1;
fail:
	if (c)
		fs_client_free(c);
	if (fs)
		fs_unmount(fs);
	if (dev)
		bdev_close(dev);
	free(files);
	free(buf);
	free(want);
	return exit_code;
}
