/*
 * test_guard.c - a stray write into cached file system state stops the
 * process before the damage is used (src/fs/guard.c).
 *
 * Each case runs in a child process: it mounts an emulated volume, writes a
 * file, lets the operation end (so everything it touched is sealed), then
 * flips one bit of one cached structure behind the file system's back, as
 * a bug or a bit flip would, and calls the file system again. The child
 * must die of SIGABRT with the guard's message, before the call returns.
 * Every case also runs once without the flip: then the child must finish
 * cleanly, with the file's bytes and size intact, so a check that fires for
 * nothing (or one that cannot fire) fails the test.
 *
 * Cases: a cached inode (its size, then a byte of its extent root), the
 * in-memory superblock, the allocator's free-block count, a cached data
 * page, a cached metadata buffer (a directory block), and a data block
 * flipped in the commit's buffer while the device writes it (the commit
 * must stop before its record makes the damage durable); where cached
 * blocks belong: a data page's device block and index, a dirty buffer's
 * block number; and a device request made with a damaged block number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fs/fs_internal.h"

enum target {
	T_INODE_SIZE,
	T_INODE_EXTENT,
	T_SUPERBLOCK,
	T_FREE_COUNT,
	T_PAGE,
	T_DIR_BUFFER,
	T_STAGED_WRITE,
	T_INODE_BUSY,
	T_PAGE_BLOCK,
	T_PAGE_PLACE,
	T_PAGE_KEY,
	T_BUF_NUMBER,
	T_INODE_IN_USE,
	T_INODE_DURING_OP,
	T_INODE_NUMBER,
	T_DIR_INDEX_HASH,
	T_DIR_INDEX_INO,
	T_OFILE_POS,
	T_CLIENT_NFDS,
	T_CLIENT_UID,
	T_META_COPY,
	T_DIR_INDEX_COUNT,
	T_JOURNAL_TID,
	T_OPEN_COUNT,
	T_DIRTY_PAGES,
	T_DIRTY_BUFFERS,
	T_DIRTY_INODES,
	T_INODE_PAGES,
	T_COMMIT_TID,
	T_CHECKPOINT_TID,
	T_OP_ORDER,
	T_GEOMETRY,
	T_INODE_XAREA,
};

static const char *const target_names[] = {
	"inode size", "inode extent root", "superblock", "free block count", "data page",
	"directory buffer", "data being written", "inode, fs never idle", "block of a data page",
	"data page's block", "data page's index", "directory buffer's number",
	"inode number, in use", "inode size, during an operation", "cached inode's number",
	"directory index entry's hash", "directory index entry's inode", "open file's offset",
	"client's fd table size", "client's uid", "metadata image copied for a commit",
	"directory index's count of names", "journal's durable transaction id",
	"inode's count of open files", "list of dirty data pages", "list of dirty metadata blocks",
	"list of dirty inodes", "list of an inode's pages", "id in a commit record",
	"id of a checkpoint", "order number of the calls", "superblock layout, during an operation",
	"inode's attribute area",
};

#define FILE_BYTES 20000u

/* The cached inode `ino`, found without using it (no check, no touch). */
static struct inode *find_inode(struct fs *fs, uint64_t ino)
{
	for (size_t h = 0; h < fs->ic.nhash; h++)
		for (struct inode *ip = fs->ic.hash[h]; ip; ip = ip->hnext)
			if (ip->ino == ino)
				return ip;
	return NULL;
}

static struct page *find_page(struct fs *fs, uint64_t ino)
{
	for (size_t h = 0; h < fs->pc.nhash; h++)
		for (struct page *p = fs->pc.hash[h]; p; p = p->hnext)
			if (p->ino == ino)
				return p;
	return NULL;
}

/* The root directory's first block, cached and unused. */
static struct buf *find_dir_buffer(struct fs *fs, uint64_t blk)
{
	for (size_t h = 0; h < fs->bc.nhash; h++)
		for (struct buf *b = fs->bc.hash[h]; b; b = b->hnext)
			if (b->blk == blk)
				return b;
	return NULL;
}

/* T_STAGED_WRITE: flip one bit of the file's first data block in the
 * commit's buffer as the device takes it. */
static uint64_t g_data_blk;

static void flip_on_write(void *arg, uint64_t blk, uint32_t nblk, void *buf)
{
	(void)arg;
	if (g_data_blk && blk <= g_data_blk && g_data_blk < blk + nblk) {
		((uint8_t *)buf)[(g_data_blk - blk) * 4096 + 77] ^= 0x08;
		g_data_blk = 0; /* once */
	}
}

/* T_INODE_BUSY: another operation stays inside the file system (as a
 * commit whose device I/O is in flight does) for the rest of the child. */
static void *busy_section(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->lock);
	guard_enter(fs);
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

static void flip_first_image(uint8_t *const *images, size_t n)
{
	if (n)
		images[0][100] ^= 0x08;
	journal_copied_hook = NULL;
}

/* A commit record built from an id a stray write changed (its checksum
 * taken over the changed id): read at the next mount as the last durable
 * transaction, it would make replay skip calls that were never durable. */
static void flip_record_tid(struct ank_journal_commit *c)
{
	c->tid ^= 1u << 9;
	c->checksum = ank_jcmt_csum(c);
	journal_record_hook = NULL;
}

/* A checkpoint's id changed in its frame while its images went home: the
 * header would name a later transaction as written home, and replay at
 * the next mount would take calls for durable that were not. */
static void flip_checkpoint_upto(uint64_t *tail, uint64_t *upto)
{
	(void)tail;
	*upto ^= 1u << 9;
	journal_checkpoint_hook = NULL;
}

/* A fresh emulated volume, mounted without the background thread: 0, or
 * 10 (no device) or 11 (mkfs or mount failed). */
static int fresh_volume(struct bdev **dev, struct fs **fs)
{
	if (bdev_emu_create(8192, dev) < 0)
		return 10;
	struct fs_mkfs_options mo = {.inodes = 1024};
	struct fs_options o = {.no_background = true};
	return fs_mkfs(*dev, &mo) < 0 || fs_mount(*dev, &o, fs) < 0 ? 11 : 0;
}

/* Run fn(a, b) in a child process with its stderr in msg (len bytes, NUL
 * ended): its wait status. */
static int run_captured(int (*fn)(int a, int b), int a, int b, char *msg, size_t len)
{
	char err[] = "/tmp/ank-guard-XXXXXX";
	int efd = mkstemp(err);
	assert_true(efd >= 0);
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(efd, 2); /* the guard's message, read by the caller */
		_exit(fn(a, b));
	}
	close(efd);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	FILE *f = fopen(err, "r");
	assert_non_null(f);
	size_t n = fread(msg, 1, len - 1, f);
	msg[n] = '\0';
	fclose(f);
	unlink(err);
	return st;
}

/* The child: 0 when everything went as without damage, 10+ for what went
 * wrong; killed by SIGABRT when a check fired. */
static int child(enum target t, bool flip)
{
	struct bdev *dev;
	struct fs *fs;
	int vrc = fresh_volume(&dev, &fs);
	if (vrc)
		return vrc;
	struct fs_client *c = fs_client_new(fs, 0, 0);
	static uint8_t data[FILE_BYTES], back[FILE_BYTES];
	for (unsigned i = 0; i < FILE_BYTES; i++)
		data[i] = (uint8_t)(i * 13u + 7u);
	int fd = fs_open(c, "/f", O_CREAT | O_RDWR, 0644);
	if (fd < 0 || fs_pwrite(c, fd, data, FILE_BYTES, 0) != (ssize_t)FILE_BYTES)
		return 12;
	struct stat st;
	if (fs_fstat(c, fd, &st) < 0)
		return 13;
	if (t == T_DIR_BUFFER && fs_sync(fs) < 0) /* written and clean: evictable, sealed */
		return 14;
	if (t == T_INODE_BUSY) {
		pthread_t th;
		if (pthread_create(&th, NULL, busy_section, fs) != 0 || pthread_join(th, NULL) != 0)
			return 14;
		if (fs_fstat(c, fd, &st) < 0) /* an operation on the file while busy */
			return 13;
	}
	if (flip) {
		struct inode *ip = find_inode(fs, (uint64_t)st.st_ino);
		struct inode *root = find_inode(fs, ANK_ROOT_INO);
		switch (t) {
		case T_INODE_SIZE:
		case T_INODE_BUSY:
			if (!ip)
				return 15;
			ip->d.size ^= 1u << 3;
			break;
		case T_INODE_XAREA:
			/* the attributes kept in the inode's record, written
			 * with it at the next commit */
			if (!ip)
				return 15;
			ip->xa[ANK_XATTR_HDR_SIZE + 3] ^= 1u << 2;
			break;
		case T_INODE_IN_USE:
			/* as if an operation held it (unsealed) when the flip came:
			 * its seal cannot see it, the check before its commit must */
			if (!ip)
				return 15;
			ip->d.ino ^= 1u << 6;
			ip->dsealed = false;
			break;
		case T_INODE_DURING_OP:
			/* an operation takes the inode; the flip comes while it
			 * holds it, after its last legitimate change */
			if (!ip)
				return 15;
			pthread_mutex_lock(&fs->lock);
			guard_enter(fs);
			guard_inode_use(fs, ip);
			ip->d.size ^= 1u << 9;
			guard_leave(fs);
			pthread_mutex_unlock(&fs->lock);
			break;
		case T_INODE_NUMBER:
			/* the number the cache knows the file by (not its image):
			 * its pages would be looked up under another number and
			 * read back from the device without its unsynced writes,
			 * and its log entries would name another file */
			if (!ip)
				return 15;
			ip->ino ^= 1u << 4;
			break;
		case T_OFILE_POS:
			/* where the next read or write of the fd goes */
			c->fds[fd]->pos ^= 1u << 5;
			break;
		case T_CLIENT_NFDS:
			/* the table's size: its fds above would answer EBADF */
			c->nfds ^= 1u << 6;
			break;
		case T_CLIENT_UID:
			/* who the client is: permissions checked as another */
			c->uid ^= 1u << 10;
			break;
		case T_META_COPY:
			/* the next commit's copy of a directory block, once
			 * made: journaled under a good checksum, it would
			 * reach the disk with its own checksum failing */
			journal_copied_hook = flip_first_image;
			break;
		case T_DIR_INDEX_HASH:
		case T_DIR_INDEX_INO:
			/* the name's entry in the root's index: a lookup would
			 * miss it (and a second "f" could be created) or find
			 * another inode */
			if (!root || dir_index_damage(root, "f", 1, t == T_DIR_INDEX_INO) < 0)
				return 15;
			break;
		case T_OPEN_COUNT:
			/* unlinked, a file whose count reads 0 is freed while
			 * its fd still reads it */
			if (!ip)
				return 15;
			ip->open_count ^= 1u << 1;
			break;
		case T_DIRTY_PAGES:
			/* the list the next commit writes the file's pages
			 * from, its first page dropped (a link changed): the
			 * commit would go on without that page's data */
			if (fs->pc.dirty.dnext == &fs->pc.dirty ||
			    fs->pc.dirty.dnext->dnext == &fs->pc.dirty)
				return 15;
			fs->pc.dirty.dnext = fs->pc.dirty.dnext->dnext;
			break;
		case T_DIRTY_BUFFERS:
			/* the same for the metadata blocks: the file's inode,
			 * its directory entry or a bitmap left out */
			if (!fs->bc.dirty || !fs->bc.dirty->dnext)
				return 15;
			fs->bc.dirty = fs->bc.dirty->dnext;
			break;
		case T_COMMIT_TID:
			journal_record_hook = flip_record_tid;
			break;
		case T_GEOMETRY:
			/* where the inode table starts, changed while an
			 * operation runs (the superblock is not under its seal
			 * then): sealed in with the rest when it ends, every
			 * inode would be written into another block */
			pthread_mutex_lock(&fs->lock);
			guard_enter(fs);
			fs->sb.itable_start ^= 1u << 1;
			guard_leave(fs);
			pthread_mutex_unlock(&fs->lock);
			break;
		case T_OP_ORDER:
			/* the number the next call's log entry is ordered by: a
			 * lower one puts later calls before earlier ones in a
			 * replay (older bytes over newer) */
			fs->op_order ^= 1u << 3;
			break;
		case T_CHECKPOINT_TID:
			journal_checkpoint_hook = flip_checkpoint_upto;
			break;
		case T_INODE_PAGES:
			/* the file's list of cached pages, its first dropped:
			 * a truncation would leave that page behind */
			if (!ip || !ip->pages || !ip->pages->inext)
				return 15;
			ip->pages = ip->pages->inext;
			break;
		case T_DIRTY_INODES:
			/* and the inodes whose images it copies: the file's
			 * size or the root's times left out */
			if (!fs->ic.dirty || !fs->ic.dirty->dnext)
				return 15;
			fs->ic.dirty = fs->ic.dirty->dnext;
			break;
		case T_JOURNAL_TID:
			/* the last durable transaction, as the p-logs will be
			 * told: entries of later ones would count as durable */
			fs->j.committed_tid ^= 1u << 7;
			break;
		case T_DIR_INDEX_COUNT:
			/* how many names the root holds: rmdir's emptiness */
			if (!root || dir_index_damage(root, "f", 1, 2) < 0)
				return 15;
			break;
		case T_INODE_EXTENT:
			if (!ip)
				return 15;
			((uint8_t *)&ip->d.eh)[20] ^= 0x40;
			break;
		case T_SUPERBLOCK:
			fs->sb.orphan_head ^= 1u << 2;
			break;
		case T_FREE_COUNT:
			fs->al.free_blocks ^= 1u << 4;
			break;
		case T_PAGE: {
			struct page *p = find_page(fs, (uint64_t)st.st_ino);
			if (!p)
				return 16;
			p->data[100] ^= 0x01;
			break;
		}
		case T_PAGE_BLOCK: {
			/* where a dirty page goes: far past the device's end */
			struct page *p = find_page(fs, (uint64_t)st.st_ino);
			if (!p || !p->pblk)
				return 16;
			p->pblk ^= 1ull << 40;
			/* sealed again, as if the flip came before the seal:
			 * only the device request's check is left to see it */
			guard_seal(&p->csum, &p->sealed, p->data,
				   guard_place(p->ino, p->idx, p->pblk, p->data));
			break;
		}
		case T_PAGE_PLACE: {
			/* another block of the data region: its bytes would
			 * be read back, and this page's written over it */
			struct page *p = find_page(fs, (uint64_t)st.st_ino);
			if (!p || !p->pblk)
				return 16;
			p->pblk ^= 1;
			break;
		}
		case T_PAGE_KEY: {
			struct page *p = find_page(fs, (uint64_t)st.st_ino);
			if (!p)
				return 16;
			p->idx ^= 1u << 1;
			break;
		}
		case T_STAGED_WRITE: {
			struct extent_root *er = ip ? inode_root(ip) : NULL;
			if (!er || er->eh.entries == 0)
				return 19;
			g_data_blk = er->e[0].pblk;
			bdev_emu_on_write(dev, flip_on_write, NULL);
			break;
		}
		case T_BUF_NUMBER: {
			/* the root directory's block, dirty (not synced):
			 * missed by its lookup, its change would be lost */
			struct extent_root *er = root ? inode_root(root) : NULL;
			if (!er || er->eh.entries == 0)
				return 17;
			struct buf *b = find_dir_buffer(fs, er->e[0].pblk);
			if (!b || !b->dirty)
				return 18;
			b->blk ^= 1u << 5;
			break;
		}
		case T_DIR_BUFFER: {
			uint64_t blk = 0;
			struct extent_root *er = root ? inode_root(root) : NULL;
			if (!er || er->eh.entries == 0)
				return 17;
			blk = er->e[0].pblk;
			struct buf *b = find_dir_buffer(fs, blk);
			if (!b)
				return 18;
			b->data[40] ^= 0x02;
			break;
		}
		}
	}
	if (t == T_INODE_PAGES) {
		/* truncated to nothing and extended again: zeros only */
		if (fs_ftruncate(c, fd, 0) < 0 || fs_ftruncate(c, fd, FILE_BYTES) < 0 ||
		    fs_pread(c, fd, back, FILE_BYTES, 0) != (ssize_t)FILE_BYTES)
			return 30;
		for (unsigned i = 0; i < FILE_BYTES; i++)
			if (back[i])
				return 31;
		if (fs_close(c, fd) < 0 || fs_sync(fs) < 0)
			return 32;
		fs_client_free(c);
		if (fs_unmount(fs) < 0)
			return 33;
		bdev_close(dev);
		return 0;
	}
	/* Use it all again: read the file back, list the root, sync. */
	if (fs_pread(c, fd, back, FILE_BYTES, 0) != (ssize_t)FILE_BYTES ||
	    memcmp(back, data, FILE_BYTES) != 0)
		return 20;
	if (fs_fstat(c, fd, &st) < 0 || st.st_size != (off_t)FILE_BYTES)
		return 21;
	int g = fs_open(c, "/g", O_CREAT | O_RDWR, 0644);
	if (g < 0 || fs_close(c, g) < 0 || fs_stat(c, "/f", &st) < 0)
		return 22;
	if (fs_close(c, fd) < 0 || fs_sync(fs) < 0)
		return 23;
	fs_client_free(c);
	if (fs_unmount(fs) < 0)
		return 24;
	bdev_close(dev);
	return 0;
}

/* When set: the check expected to stop the process names this. */
static const char *g_expect;

static int child_of(int t, int flip)
{
	return child((enum target)t, flip != 0);
}

static void one(enum target t)
{
	for (int flip = 0; flip <= 1; flip++) {
		char msg[512];
		int st = run_captured(child_of, (int)t, flip, msg, sizeof(msg));
		if (!flip) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				printf("%s, undamaged: %s %d\n", target_names[t],
				       WIFEXITED(st) ? "exit" : "signal",
				       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		} else {
			if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
				printf("%s, one bit flipped: %s %d, expected SIGABRT\n",
				       target_names[t], WIFEXITED(st) ? "exit" : "signal",
				       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
		}
		/* the stop was the guard's, and nothing else complained */
		if (flip) {
			assert_non_null(strstr(msg, "memory corruption"));
			printf("%-20s one bit flipped: %s", target_names[t], msg);
			if (g_expect)
				assert_non_null(strstr(msg, g_expect));
		} else {
			assert_string_equal(msg, "");
		}
	}
}

static void flipped_inode_size_stops_the_process(void **state)
{
	(void)state;
	one(T_INODE_SIZE);
}

static void flipped_inode_extent_root_stops_the_process(void **state)
{
	(void)state;
	one(T_INODE_EXTENT);
}

static void flipped_attribute_area_of_an_inode_stops_the_process(void **state)
{
	(void)state;
	one(T_INODE_XAREA);
}

static void flipped_superblock_stops_the_process(void **state)
{
	(void)state;
	one(T_SUPERBLOCK);
}

static void flipped_free_block_count_stops_the_process(void **state)
{
	(void)state;
	one(T_FREE_COUNT);
}

static void flipped_data_page_stops_the_process(void **state)
{
	(void)state;
	one(T_PAGE);
}

static void data_flipped_while_written_stops_before_the_commit(void **state)
{
	(void)state;
	one(T_STAGED_WRITE);
}

/* The file system is never idle (another operation is inside it), yet an
 * inode flipped between two operations on it is caught: an inode is sealed
 * when the operation that took it ends, not when the file system is idle. */
static void flipped_inode_of_a_busy_file_system_stops_the_process(void **state)
{
	(void)state;
	one(T_INODE_BUSY);
}

/* A device request the file system makes with damaged arguments (here a
 * dirty page's block number, far past the end of the device) is refused
 * with EINVAL: that stops the process instead of failing the commit and
 * leaving the file system answering the error to every later call. */
static void damaged_device_request_stops_the_process(void **state)
{
	(void)state;
	one(T_PAGE_BLOCK);
}

/* A data page's device block changed in memory: its bytes would go to
 * another file's block at the next commit. */
static void flipped_block_of_a_data_page_stops_the_process(void **state)
{
	(void)state;
	one(T_PAGE_PLACE);
}

/* A data page's index changed in memory: it would be read as another part
 * of the file. Every lookup that walks past it checks its key. */
static void flipped_index_of_a_data_page_stops_the_process(void **state)
{
	(void)state;
	one(T_PAGE_KEY);
}

/* A dirty metadata buffer's block number changed in memory: its lookup
 * would miss it and read the stale block from the disk. */
static void flipped_number_of_a_dirty_buffer_stops_the_process(void **state)
{
	(void)state;
	one(T_BUF_NUMBER);
}

/* The lists a commit takes its dirty pages, blocks and inodes from, one
 * entry dropped by a stray write into a link: the commit would make the
 * transaction durable without it (and its calls' log entries with it).
 * And a file's list of cached pages: a truncation would leave the dropped
 * page behind, for a later extension to read. */
/* The id and place of a commit or checkpoint, changed in the frame that
 * holds them across their I/O, never reach the journal on the device. */
static void flipped_id_of_a_transaction_being_committed_stops_the_process(void **state)
{
	(void)state;
	g_expect = "transaction being committed";
	one(T_COMMIT_TID);
	g_expect = "checkpoint in flight";
	one(T_CHECKPOINT_TID);
	g_expect = NULL;
}

static void superblock_layout_flipped_during_an_operation_stops_the_process(void **state)
{
	(void)state;
	g_expect = "superblock layout";
	one(T_GEOMETRY);
	g_expect = NULL;
}

static void flipped_order_number_of_the_calls_stops_the_process(void **state)
{
	(void)state;
	g_expect = "order number of the calls";
	one(T_OP_ORDER);
	g_expect = NULL;
}

static void dropped_entry_of_a_cache_list_stops_the_process(void **state)
{
	(void)state;
	g_expect = "list of dirty data pages";
	one(T_DIRTY_PAGES);
	g_expect = "list of dirty metadata blocks";
	one(T_DIRTY_BUFFERS);
	g_expect = "list of dirty inodes";
	one(T_DIRTY_INODES);
	g_expect = "list of an inode's pages";
	one(T_INODE_PAGES);
	g_expect = NULL;
}

/* A page's seal is carried over a write (guard_sum_change) rather than
 * taken again from the result: it must equal the sum of the page the write
 * meant to leave, and differ from that of a page a flip hit meanwhile,
 * inside or outside the bytes written. */
static void seal_carried_over_a_write_catches_a_flip_during_it(void **state)
{
	(void)state;
	static uint8_t page[4096], want[4096], src[4096];
	srand(7);
	for (int round = 0; round < 2000; round++) {
		for (unsigned i = 0; i < sizeof(page); i++)
			page[i] = (uint8_t)rand();
		for (unsigned i = 0; i < sizeof(src); i++)
			src[i] = (uint8_t)rand();
		size_t off = (size_t)rand() % 4096, n = 1 + (size_t)rand() % (4096 - off);
		uint32_t seal = guard_sum(page) ^ guard_sum_change(page + off, src, off, n);
		memcpy(want, page, sizeof(page));
		memcpy(want + off, src, n);
		assert_int_equal(seal, guard_sum(want));
		size_t at = (size_t)rand() % 4096;
		if (at >= off && at < off + n)
			continue; /* (a flip the write covers is harmless) */
		want[at] ^= (uint8_t)(1u << (rand() % 8));
		assert_int_not_equal(seal, guard_sum(want));
	}
}

/* An inode image damaged while an operation held it (so not under its
 * seal) is checked as a read would check it before its commit, and the
 * commit stops instead of making an unreadable inode durable. */
static void inode_damaged_in_use_never_reaches_the_disk(void **state)
{
	(void)state;
	one(T_INODE_IN_USE);
}

/* A commit that fails (here the device refuses its writes) aborts the
 * file system. With abort_stops_process (the service's servers) that
 * stops the process, so recovery takes over; without it the file system
 * answers the error and the process goes on. */
static int abort_child(bool stops)
{
	struct bdev *dev;
	if (bdev_emu_create(8192, &dev) < 0)
		return 10;
	struct fs_mkfs_options mo = {.inodes = 256};
	struct fs_options o = {.no_background = true, .abort_stops_process = stops};
	struct fs *fs;
	if (fs_mkfs(dev, &mo) < 0 || fs_mount(dev, &o, &fs) < 0)
		return 11;
	struct fs_client *c = fs_client_new(fs, 0, 0);
	int fd = fs_open(c, "/f", O_CREAT | O_RDWR, 0644);
	if (fd < 0 || fs_pwrite(c, fd, "abc", 3, 0) != 3)
		return 12;
	bdev_emu_fail_nth(dev, 1, true);
	if (fs_fsync(c, fd) == 0)
		return 13; /* the commit cannot have succeeded */
	return 0;
}

static void aborted_file_system_stops_a_service_process(void **state)
{
	(void)state;
	for (int stops = 0; stops <= 1; stops++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int efd = open("/dev/null", O_WRONLY);
			dup2(efd, 2);
			_exit(abort_child(stops));
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (stops)
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
		else
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* An inode flipped while an operation holds it (unsealed) is caught when
 * the operation ends: every legitimate change is followed by inode_dirty,
 * and the image must still be what it was then. */
static void inode_flipped_during_an_operation_is_never_sealed(void **state)
{
	(void)state;
	one(T_INODE_DURING_OP);
}

static void flipped_number_of_a_cached_inode_stops_the_process(void **state)
{
	(void)state;
	one(T_INODE_NUMBER);
}

/* A call's stamp (the inode, position and transaction its log entry is
 * made of) is sealed when the fs lock is released: a stray write to it
 * before the entry is written is seen (plogsvc_log stops the server). */
static void a_changed_stamp_is_seen(void **state)
{
	(void)state;
	struct bdev *dev;
	assert_int_equal(bdev_emu_create(8192, &dev), 0);
	struct fs_mkfs_options mo = {.inodes = 256};
	struct fs_options o = {.no_background = true};
	struct fs *fs;
	assert_int_equal(fs_mkfs(dev, &mo), 0);
	assert_int_equal(fs_mount(dev, &o, &fs), 0);
	struct fs_client *c = fs_client_new(fs, 0, 0);
	int fd = fs_open(c, "/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	fs_stamp_clear();
	assert_int_equal(fs_pwrite(c, fd, "abcdef", 6, 4096), 6);
	struct fs_stamp s;
	fs_stamp_last(&s);
	assert_true(s.has_fd && s.has_io && s.io_pos == 4096);
	assert_true(fs_stamp_intact(&s));
	uint64_t *fields[] = {&s.order, &s.tid, &s.fd_ino, &s.fd_pos, &s.io_pos};
	for (unsigned k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
		for (unsigned bit = 0; bit < 64; bit += 7) {
			*fields[k] ^= 1ull << bit;
			assert_false(fs_stamp_intact(&s));
			*fields[k] ^= 1ull << bit;
		}
	s.has_io = false;
	assert_false(fs_stamp_intact(&s));
	s.has_io = true;
	assert_true(fs_stamp_intact(&s));
	fs_stamp_clear(); /* a call that never took the lock: a sealed zero */
	fs_stamp_last(&s);
	assert_true(fs_stamp_intact(&s));
	assert_int_equal(fs_close(c, fd), 0);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	bdev_close(dev);
}

static void flipped_directory_index_entry_stops_the_process(void **state)
{
	(void)state;
	one(T_DIR_INDEX_HASH);
	one(T_DIR_INDEX_INO);
	one(T_DIR_INDEX_COUNT);
}

static void flipped_offset_of_an_open_file_stops_the_process(void **state)
{
	(void)state;
	one(T_OFILE_POS);
}

static void flipped_fd_table_or_identity_of_a_client_stops_the_process(void **state)
{
	(void)state;
	one(T_CLIENT_NFDS);
	one(T_CLIENT_UID);
}

static void flipped_transaction_id_of_the_journal_stops_the_process(void **state)
{
	(void)state;
	one(T_JOURNAL_TID);
}

static void flipped_count_of_open_files_stops_the_process(void **state)
{
	(void)state;
	one(T_OPEN_COUNT);
}

static void flipped_copy_of_a_metadata_block_in_a_commit_stops_the_process(void **state)
{
	(void)state;
	one(T_META_COPY);
}

static void flipped_directory_buffer_stops_the_process(void **state)
{
	(void)state;
	one(T_DIR_BUFFER);
}

/* An inode whose image fails its checks only in memory: as when a flip
 * changed the number on its way between the slot it was read from and the
 * check (a thread's stack). The cached inode table block is changed and
 * sealed again here, so that only the inode's own checks can see it.
 * how: 0 nothing changed, 1 memory only (SIGABRT expected), 2 memory and
 * device alike (real damage: EUCLEAN, the process goes on). */
static int number_child(int how, int unused)
{
	(void)unused;
	struct bdev *dev;
	struct fs *fs;
	int vrc = fresh_volume(&dev, &fs);
	if (vrc)
		return vrc;
	struct fs_options o = {.no_background = true};
	struct fs_client *c = fs_client_new(fs, 0, 0);
	struct stat st;
	int a = fs_open(c, "/a", O_CREAT | O_RDWR, 0644);
	int b = fs_open(c, "/b", O_CREAT | O_RDWR, 0644);
	if (a < 0 || b < 0 || fs_close(c, a) < 0 || fs_close(c, b) < 0 || fs_stat(c, "/b", &st) < 0)
		return 12;
	uint64_t ino = (uint64_t)st.st_ino;
	fs_client_free(c);
	if (fs_sync(fs) < 0 || fs_unmount(fs) < 0 || fs_mount(dev, &o, &fs) < 0)
		return 13;
	c = fs_client_new(fs, 0, 0);
	if (fs_stat(c, "/a", &st) < 0) /* (its block is cached, /b is not) */
		return 14;
	if (how) {
		uint64_t blk = ank_inode_block(&fs->sb, ino);
		if (find_inode(fs, ino) || blk != ank_inode_block(&fs->sb, (uint64_t)st.st_ino))
			return 15;
		pthread_mutex_lock(&fs->lock);
		guard_enter(fs);
		struct buf *bp;
		if (buf_get(fs, blk, &bp) < 0)
			return 16;
		struct ank_dinode *d =
			(struct ank_dinode *)(void *)(bp->data + ank_inode_offset(&fs->sb, ino));
		d->ino ^= 1u << 7;
		d->checksum = ank_dinode_csum(d);
		buf_seal(bp);
		if (how == 2 && bdev_write(dev, blk, 1, bp->data) < 0)
			return 17;
		buf_put(fs, bp);
		guard_leave(fs);
		pthread_mutex_unlock(&fs->lock);
	}
	ank_corrupt_quiet = 1;
	int rc = fs_stat(c, "/b", &st);
	if (how == 0 ? rc != 0 : rc != -EUCLEAN)
		return 18;
	fs_client_free(c);
	if (fs_unmount(fs) < 0)
		return 19;
	bdev_close(dev);
	return 0;
}

static void inode_failing_its_checks_in_memory_only_stops_the_process(void **state)
{
	(void)state;
	for (int how = 0; how <= 2; how++) {
		char msg[512];
		int st = run_captured(number_child, how, 0, msg, sizeof(msg));
		printf("how %d: %s %d: %s\n", how, WIFEXITED(st) ? "exit" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), msg);
		if (how == 1) {
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
			assert_non_null(strstr(msg, "passes them on the device: memory corruption"));
		} else {
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			assert_null(strstr(msg, "memory corruption"));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flipped_inode_size_stops_the_process),
		cmocka_unit_test(flipped_inode_extent_root_stops_the_process),
		cmocka_unit_test(flipped_superblock_stops_the_process),
		cmocka_unit_test(flipped_free_block_count_stops_the_process),
		cmocka_unit_test(flipped_data_page_stops_the_process),
		cmocka_unit_test(flipped_directory_buffer_stops_the_process),
		cmocka_unit_test(data_flipped_while_written_stops_before_the_commit),
		cmocka_unit_test(flipped_inode_of_a_busy_file_system_stops_the_process),
		cmocka_unit_test(damaged_device_request_stops_the_process),
		cmocka_unit_test(flipped_block_of_a_data_page_stops_the_process),
		cmocka_unit_test(flipped_index_of_a_data_page_stops_the_process),
		cmocka_unit_test(flipped_number_of_a_dirty_buffer_stops_the_process),
		cmocka_unit_test(seal_carried_over_a_write_catches_a_flip_during_it),
		cmocka_unit_test(inode_damaged_in_use_never_reaches_the_disk),
		cmocka_unit_test(aborted_file_system_stops_a_service_process),
		cmocka_unit_test(inode_flipped_during_an_operation_is_never_sealed),
		cmocka_unit_test(flipped_number_of_a_cached_inode_stops_the_process),
		cmocka_unit_test(a_changed_stamp_is_seen),
		cmocka_unit_test(flipped_directory_index_entry_stops_the_process),
		cmocka_unit_test(flipped_offset_of_an_open_file_stops_the_process),
		cmocka_unit_test(flipped_fd_table_or_identity_of_a_client_stops_the_process),
		cmocka_unit_test(flipped_copy_of_a_metadata_block_in_a_commit_stops_the_process),
		cmocka_unit_test(flipped_transaction_id_of_the_journal_stops_the_process),
		cmocka_unit_test(flipped_count_of_open_files_stops_the_process),
		cmocka_unit_test(dropped_entry_of_a_cache_list_stops_the_process),
		cmocka_unit_test(flipped_order_number_of_the_calls_stops_the_process),
		cmocka_unit_test(superblock_layout_flipped_during_an_operation_stops_the_process),
		cmocka_unit_test(flipped_id_of_a_transaction_being_committed_stops_the_process),
		cmocka_unit_test(inode_failing_its_checks_in_memory_only_stops_the_process),
		cmocka_unit_test(flipped_attribute_area_of_an_inode_stops_the_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
