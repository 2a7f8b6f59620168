/*
 * test_core.c - behaviour of the file system core that the differential and
 * model tests do not reach: large directories, sparse and huge files, name
 * limits, journal replay after a crash, orphans, group commit, cache bounds,
 * background commit, and running out of space.
 *
 * A "crash" here is a copy of the emulated device taken while the file
 * system is still mounted; the copy is mounted on its own device, which must
 * replay the journal and pass fsck.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

struct vol {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
};

static void vol_mount(struct vol *v, const struct fs_options *opt)
{
	struct fs_options o = {.no_background = true};
	if (opt)
		o = *opt;
	assert_int_equal(fs_mount(v->dev, &o, &v->fs), 0);
	v->c = fs_client_new(v->fs, 0, 0);
	assert_non_null(v->c);
}

static void vol_create(struct vol *v, uint64_t blocks, uint64_t inodes,
		       const struct fs_options *opt)
{
	assert_int_equal(bdev_emu_create(blocks, &v->dev), 0);
	struct fs_mkfs_options mo = {.inodes = inodes};
	assert_int_equal(fs_mkfs(v->dev, &mo), 0);
	vol_mount(v, opt);
}

static void vol_unmount(struct vol *v)
{
	fs_client_free(v->c);
	assert_int_equal(fs_unmount(v->fs), 0);
	v->c = NULL;
	v->fs = NULL;
}

static void assert_fsck_clean(struct bdev *dev)
{
	struct fsck_options o = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(dev, &o, &r), 0);
}

/* Copy the device as it is now (the "crash") into a new emulated device. */
static struct bdev *crash_copy(struct bdev *dev)
{
	void *img = malloc(dev->nblocks * 4096);
	assert_non_null(img);
	bdev_emu_snapshot(dev, img);
	struct bdev *copy;
	assert_int_equal(bdev_emu_create_from(img, dev->nblocks, &copy), 0);
	free(img);
	return copy;
}

static void write_all(struct fs_client *c, const char *path, const void *buf, size_t n)
{
	int fd = fs_open(c, path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(c, fd, buf, n), (ssize_t)n);
	assert_int_equal(fs_close(c, fd), 0);
}

static void test_directory_of_100000_entries_stays_correct_and_listable(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 32768, 110000, NULL);
	enum { N = 100000 };
	char name[64];
	assert_int_equal(fs_mkdir(v.c, "/big", 0755), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "/big/entry-%06d-with-a-longer-name", i);
		int fd = fs_open(v.c, name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fs_close(v.c, fd), 0);
	}
	struct stat st;
	for (int i = 0; i < N; i += 7) {
		snprintf(name, sizeof(name), "/big/entry-%06d-with-a-longer-name", i);
		assert_int_equal(fs_stat(v.c, name, &st), 0);
	}
	assert_int_equal(fs_stat(v.c, "/big/entry-100000-with-a-longer-name", &st), -ENOENT);
	for (int i = 0; i < N; i += 2) {
		snprintf(name, sizeof(name), "/big/entry-%06d-with-a-longer-name", i);
		assert_int_equal(fs_unlink(v.c, name), 0);
	}
	vol_unmount(&v);
	vol_mount(&v, NULL);
	int fd = fs_open(v.c, "/big", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	struct fs_dirent ents[128];
	int n, total = 0;
	char *seen = calloc(N, 1);
	while ((n = fs_readdir(v.c, fd, ents, 128)) > 0) {
		for (int k = 0; k < n; k++) {
			int idx;
			if (ents[k].name[0] == '.')
				continue;
			assert_int_equal(sscanf(ents[k].name, "entry-%d-", &idx), 1);
			assert_true(idx % 2 == 1 && !seen[idx]);
			seen[idx] = 1;
			total++;
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(total, N / 2);
	free(seen);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_sparse_file_reads_zeros_and_one_tebibyte_offset_works(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 0, NULL);
	int fd = fs_open(v.c, "/sparse", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	const off_t tib = (off_t)1 << 40;
	assert_int_equal(fs_pwrite(v.c, fd, "end", 3, tib), 3);
	assert_int_equal(fs_pwrite(v.c, fd, "mid", 3, 5 << 20), 3);
	struct stat st;
	assert_int_equal(fs_fstat(v.c, fd, &st), 0);
	assert_int_equal(st.st_size, tib + 3);
	assert_true(st.st_blocks <= 8 * 8); /* two data blocks, a few nodes */
	char buf[8192], zero[8192] = {0};
	assert_int_equal(fs_pread(v.c, fd, buf, sizeof(buf), 1 << 20), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(fs_pread(v.c, fd, buf, 8, tib - 5), 8);
	assert_memory_equal(buf, "\0\0\0\0\0end", 8);
	assert_int_equal(fs_pwrite(v.c, fd, "x", 1, (off_t)16 << 40), -EFBIG);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	vol_mount(&v, NULL);
	fd = fs_open(v.c, "/sparse", O_RDONLY, 0);
	assert_int_equal(fs_pread(v.c, fd, buf, 3, 5 << 20), 3);
	assert_memory_equal(buf, "mid", 3);
	assert_int_equal(fs_pread(v.c, fd, buf, 3, tib), 3);
	assert_memory_equal(buf, "end", 3);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_names_of_255_bytes_work_and_256_are_too_long(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 1024, 0, NULL);
	char path[300];
	path[0] = '/';
	memset(path + 1, 'n', 255);
	path[256] = '\0';
	int fd = fs_open(v.c, path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_close(v.c, fd), 0);
	path[256] = 'n';
	path[257] = '\0';
	assert_int_equal(fs_open(v.c, path, O_CREAT | O_WRONLY, 0644), -ENAMETOOLONG);
	assert_int_equal(fs_mkdir(v.c, path, 0755), -ENAMETOOLONG);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_crash_after_sync_replays_journal_and_keeps_data(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 0, NULL);
	char data[10000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	assert_int_equal(fs_mkdir(v.c, "/d", 0755), 0);
	write_all(v.c, "/d/kept", data, sizeof(data));
	assert_int_equal(fs_sync(v.fs), 0);
	write_all(v.c, "/d/not-synced", data, 100);
	struct bdev *crashed = crash_copy(v.dev);
	vol_unmount(&v);
	bdev_close(v.dev);

	/* The crashed image has committed transactions in its log. */
	struct fsck_options o = {.quiet = true, .out = NULL};
	struct fsck_report r;
	assert_int_equal(fsck_run(crashed, &o, &r), 0);
	assert_true(r.journal_txns > 0);
	v.dev = crashed;
	vol_mount(&v, NULL);
	char buf[10000];
	int fd = fs_open(v.c, "/d/kept", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_read(v.c, fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, data, sizeof(buf));
	assert_int_equal(fs_close(v.c, fd), 0);
	struct stat st;
	assert_int_equal(fs_stat(v.c, "/d/not-synced", &st), -ENOENT);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_unlinked_open_file_is_freed_after_a_crash(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 4096, 0, NULL);
	char data[65536] = {1};
	int fd = fs_open(v.c, "/tmpfile", O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write(v.c, fd, data, sizeof(data)), (ssize_t)sizeof(data));
	assert_int_equal(fs_fsync(v.c, fd), 0);
	struct fs_stats before;
	fs_get_stats(v.fs, &before);
	assert_int_equal(fs_unlink(v.c, "/tmpfile"), 0);
	/* Still readable through the open fd. */
	char buf[16];
	assert_int_equal(fs_pread(v.c, fd, buf, 16, 0), 16);
	assert_int_equal(fs_sync(v.fs), 0);
	struct bdev *crashed = crash_copy(v.dev);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	bdev_close(v.dev);

	v.dev = crashed;
	vol_mount(&v, NULL); /* frees the orphan */
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

struct gc_arg {
	struct fs *fs;
	int id;
};

static void *group_commit_worker(void *p)
{
	struct gc_arg *a = p;
	struct fs_client *c = fs_client_new(a->fs, 0, 0);
	char path[32], rec[512];
	snprintf(path, sizeof(path), "/log-%d", a->id);
	int fd = fs_open(c, path, O_CREAT | O_WRONLY | O_APPEND, 0644);
	memset(rec, 'a' + a->id, sizeof(rec));
	for (int i = 0; i < 100; i++) {
		if (fs_write(c, fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) || fs_fsync(c, fd) != 0)
			return (void *)1;
	}
	fs_close(c, fd);
	fs_client_free(c);
	return NULL;
}

static void test_concurrent_fsyncs_share_commits(void **state)
{
	(void)state;
	/* A real image file: flushes take real time, so fsyncs that arrive
	 * while a commit's I/O is in flight must share the next commit. */
	char path[] = "/var/tmp/ananke-gc-XXXXXX";
	int tfd = mkstemp(path);
	assert_true(tfd >= 0);
	assert_int_equal(ftruncate(tfd, 32 << 20), 0);
	close(tfd);
	struct vol v;
	assert_int_equal(bdev_file_open(path, false, 0, &v.dev), 0);
	unlink(path);
	assert_int_equal(fs_mkfs(v.dev, NULL), 0);
	vol_mount(&v, NULL);
	struct fs_stats s0, s1;
	fs_get_stats(v.fs, &s0);
	enum { T = 4 };
	pthread_t th[T];
	struct gc_arg args[T];
	for (int i = 0; i < T; i++) {
		args[i] = (struct gc_arg){v.fs, i};
		assert_int_equal(pthread_create(&th[i], NULL, group_commit_worker, &args[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	fs_get_stats(v.fs, &s1);
	uint64_t commits = s1.commits - s0.commits;
	print_message("400 fsyncs from 4 threads took %llu commits\n", (unsigned long long)commits);
	assert_true(commits < 400);
	assert_true(commits > 0);
	struct stat st;
	for (int i = 0; i < T; i++) {
		char fpath[32];
		snprintf(fpath, sizeof(fpath), "/log-%d", i);
		assert_int_equal(fs_stat(v.c, fpath, &st), 0);
		assert_int_equal(st.st_size, 100 * 512);
	}
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_page_cache_stays_within_its_bound(void **state)
{
	(void)state;
	struct vol v;
	struct fs_options o = {.no_background = true, .cache_pages = 256};
	vol_create(&v, 8192, 0, &o);
	static char buf[1 << 20];
	memset(buf, 0x5a, sizeof(buf));
	int fd = fs_open(v.c, "/big", O_CREAT | O_RDWR, 0644);
	for (int i = 0; i < 8; i++)
		assert_int_equal(fs_write(v.c, fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(fs_fsync(v.c, fd), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(fs_pread(v.c, fd, buf, sizeof(buf), (off_t)i << 20),
				 (ssize_t)sizeof(buf));
		assert_int_equal(buf[12345], 0x5a);
	}
	struct fs_stats s;
	fs_get_stats(v.fs, &s);
	print_message("cached pages after 8 MiB of I/O: %llu (bound 256)\n",
		      (unsigned long long)s.cache_pages);
	assert_true(s.cache_pages <= 256);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

static void test_background_commit_makes_changes_durable_without_fsync(void **state)
{
	(void)state;
	struct vol v;
	struct fs_options o = {.commit_interval_ms = 50};
	vol_create(&v, 4096, 0, &o);
	write_all(v.c, "/eventually", "durable", 7);
	struct fs_stats s;
	for (int i = 0; i < 100; i++) {
		usleep(20000);
		fs_get_stats(v.fs, &s);
		if (s.commits >= 2 && s.dirty_pages == 0)
			break;
	}
	struct bdev *crashed = crash_copy(v.dev);
	vol_unmount(&v);
	bdev_close(v.dev);
	v.dev = crashed;
	vol_mount(&v, NULL);
	char buf[8];
	int fd = fs_open(v.c, "/eventually", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_read(v.c, fd, buf, 8), 7);
	assert_memory_equal(buf, "durable", 7);
	fs_close(v.c, fd);
	vol_unmount(&v);
	bdev_close(v.dev);
}

/* A journal that saw no commit for idle_checkpoint_ms is checkpointed by
 * the background thread: a crash then has nothing to replay. With the idle
 * checkpoint off, the committed transaction stays in the log. */
static void test_idle_journal_is_checkpointed(void **state)
{
	(void)state;
	for (int off = 0; off < 2; off++) {
		struct vol v;
		struct fs_options o = {.commit_interval_ms = 3600000,
				       .idle_checkpoint_ms = off ? UINT32_MAX : 30};
		vol_create(&v, 4096, 0, &o);
		write_all(v.c, "/f", "checkpointed", 12);
		assert_int_equal(fs_sync(v.fs), 0);
		struct fs_stats s0, s;
		fs_get_stats(v.fs, &s0);
		for (int i = 0; i < 50; i++) {
			usleep(10000);
			fs_get_stats(v.fs, &s);
			if (s.checkpoints > s0.checkpoints)
				break;
		}
		usleep(off ? 300000 : 0);
		fs_get_stats(v.fs, &s);
		assert_int_equal(s.checkpoints > s0.checkpoints, !off);
		struct bdev *crashed = crash_copy(v.dev);
		vol_unmount(&v);
		bdev_close(v.dev);
		v.dev = crashed;
		struct fs_options ro = {.no_background = true, .read_only = true};
		struct fs *fs;
		assert_int_equal(fs_mount(v.dev, &ro, &fs), 0);
		/* Transactions found in the log at the crash: none when idle
		 * checkpointed, the sync's otherwise. */
		fs_get_stats(fs, &s);
		assert_int_equal(s.replayed_transactions > 0, off);
		fs_unmount(fs);
		bdev_close(v.dev);
	}
}

static void test_full_volume_gives_enospc_and_space_returns_after_unlink(void **state)
{
	(void)state;
	struct vol v;
	vol_create(&v, 2048, 0, NULL);
	static char buf[1 << 20];
	memset(buf, 1, sizeof(buf));
	int fd = fs_open(v.c, "/fill", O_CREAT | O_WRONLY, 0644);
	ssize_t n;
	size_t total = 0;
	while ((n = fs_write(v.c, fd, buf, sizeof(buf))) == (ssize_t)sizeof(buf))
		total += (size_t)n;
	if (n > 0) {
		total += (size_t)n;
		n = fs_write(v.c, fd, buf, sizeof(buf));
	}
	assert_int_equal(n, -ENOSPC);
	assert_true(total > 4u << 20);
	/* a link whose target needs a block cannot be made and leaves
	 * nothing behind; a short one (in the inode) needs none */
	char longt[300];
	memset(longt, 't', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	int lr = fs_symlink(v.c, longt, "/long");
	struct stat lst;
	if (lr == 0) /* (a block was left after all: it is the link's) */
		assert_int_equal(fs_lstat(v.c, "/long", &lst), 0);
	else
		assert_int_equal(lr, -ENOSPC);
	assert_int_equal(fs_symlink(v.c, "short", "/short"), 0);
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	vol_mount(&v, NULL);
	assert_int_equal(fs_unlink(v.c, "/fill"), 0);
	fd = fs_open(v.c, "/again", O_CREAT | O_WRONLY, 0644);
	for (size_t done = 0; done + sizeof(buf) <= total; done += sizeof(buf))
		assert_int_equal(fs_write(v.c, fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(fs_close(v.c, fd), 0);
	vol_unmount(&v);
	assert_fsck_clean(v.dev);
	bdev_close(v.dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory_of_100000_entries_stays_correct_and_listable),
		cmocka_unit_test(test_sparse_file_reads_zeros_and_one_tebibyte_offset_works),
		cmocka_unit_test(test_names_of_255_bytes_work_and_256_are_too_long),
		cmocka_unit_test(test_crash_after_sync_replays_journal_and_keeps_data),
		cmocka_unit_test(test_unlinked_open_file_is_freed_after_a_crash),
		cmocka_unit_test(test_concurrent_fsyncs_share_commits),
		cmocka_unit_test(test_page_cache_stays_within_its_bound),
		cmocka_unit_test(test_background_commit_makes_changes_durable_without_fsync),
		cmocka_unit_test(test_idle_journal_is_checkpointed),
		cmocka_unit_test(test_full_volume_gives_enospc_and_space_returns_after_unlink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
