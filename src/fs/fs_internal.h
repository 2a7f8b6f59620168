/*
 * fs_internal.h - the in-memory side of a mounted file system, shared by the
 * modules of src/fs/. Not part of the core's contract (that is fs.h and
 * recovery.h).
 *
 * Locking (see docs/DESIGN.md, "Concurrency"): one mutex, fs->lock, protects
 * every structure below. Every operation holds it from start to end. The
 * journal commit and checkpoint are the only code that drops it, and only
 * while their I/O is in flight, at an operation boundary: the committed state
 * was copied beforehand, so other threads can keep working on the next
 * transaction meanwhile (this is what makes group commit happen).
 *
 * Modules:
 *   buf.c      metadata block cache (superblock, bitmaps, inode table,
 *              directory blocks, extent nodes)
 *   alloc.c    block and inode allocation; frees become reusable only after
 *              the freeing transaction is checkpointed
 *   inode.c    inode cache, inode life cycle, orphan list
 *   file.c     page cache, file read/write/truncate
 *   dir.c      directory blocks and the in-memory name index
 *   journal.c  transactions, commit, checkpoint, replay
 *   namei.c    path resolution
 *   ops.c      the POSIX operations of fs.h
 *   fdtable.c  clients and their fd tables, stale fds, fds by number
 *   stamp.c    the fs lock, call stamps, commit hook and gate, fs_op_begin
 *   durable.c  durability ids, held commits, orphan release, checkpoint,
 *              damaged inodes (recovery support)
 *   mount.c    mount, unmount, background commit
 */
#ifndef ANK_FS_INTERNAL_H
#define ANK_FS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../bdev/bdev.h"
#include "extent.h"
#include "format.h"
#include "recovery.h"

struct fs;
struct inode;

/* ---- metadata buffer cache (buf.c) -------------------------------------- */

struct buf {
	uint64_t blk;
	uint64_t blk_check;        /* ~blk: a lookup that walks past a buffer
	                              whose number was changed in memory
	                              stops the process (buf.c) */
	uint8_t *data;             /* 4096 bytes, aligned */
	uint32_t csum;             /* guard_sum(data) when sealed (guard.c) */
	bool sealed;
	uint32_t refs;             /* pins; a pinned buffer is never evicted */
	bool dirty;                /* changed in the running transaction */
	bool pinned_forever;       /* superblock and bitmaps */
	struct buf *hnext;         /* hash chain */
	struct buf *lprev, *lnext; /* LRU of unpinned clean buffers */
	struct buf *dnext;         /* dirty list */
};

struct bufcache {
	struct buf **hash;
	size_t nhash;
	size_t count, limit;
	struct buf lru;            /* sentinel: lnext = oldest */
	struct buf *dirty;         /* singly linked via dnext */
	size_t ndirty;
};

/* guard.c: checksums that catch stray writes into cached blocks. */
uint32_t guard_sum(const void *data);
/* crc32c(0, data, 4096) from guard_sum(data), without reading data. */
uint32_t guard_sum_to_crc(uint32_t sum);
void guard_fail(const char *what, uint64_t a, uint64_t b) __attribute__((noreturn));
/* The result of a device request the file system made: -EINVAL (a block
 * out of range, a bad buffer: bdev_submit's checks or the kernel's),
 * -EFAULT or -EBADF can only mean its arguments were damaged in memory:
 * stop at once. Anything else is returned as it is. */
int guard_io(int rc, const char *what);
/* The seal of a cached block covers its bytes and where they belong: a
 * flip in the block number (a page's file, index or device block), or in
 * the pointer to its bytes, is caught like one in the bytes themselves.
 * place = guard_place(those numbers, the pointer). */
uint32_t guard_place(uint64_t a, uint64_t b, uint64_t c, const void *data);
/* How a block's guard_sum changes when n bytes at off, `was`, become `now`
 * (XOR it into the seal; guard.c says why a flip during the write is still
 * caught). */
uint32_t guard_sum_change(const uint8_t *was, const uint8_t *now, size_t off, size_t n);
static inline void guard_seal(uint32_t *csum, bool *sealed, const void *data, uint32_t place)
{
	*csum = guard_sum(data) ^ place;
	*sealed = true;
}
/* Stops the process on a mismatch; returns guard_sum(data). */
static inline uint32_t guard_check(const char *what, uint64_t a, uint64_t b, uint32_t csum,
				   bool sealed, const void *data, uint32_t place)
{
	uint32_t sum = guard_sum(data);
	if (sealed && (sum ^ place) != csum)
		guard_fail(what, a, b);
	return sum;
}

/* Operations (and the background commits) enter and leave a guarded
 * section under fs->lock. When the first enters, the superblock and the
 * allocator's counts are checked against their seal; when the last leaves
 * (lock drops inside a commit included), they are sealed again. Inodes an
 * operation touched are sealed again when that operation leaves. */
/* The superblock's layout (where the bitmaps, the inode table, the journal
 * and the data region are): sealed once at mount, when it is final, and
 * checked where block numbers are computed from it without the state seal
 * (a commit, a checkpoint) and before the state is sealed again. A stray
 * write into it while operations run unsealed would otherwise be sealed
 * in, and every inode written to another block. */
void guard_geometry_seal(struct fs *fs);
void guard_geometry_check(const struct fs *fs);
void guard_enter(struct fs *fs);
void guard_leave(struct fs *fs);
/* The calling thread's sections end with the fs it unmounted (which
 * entered one it never left): a volume mounted later in the same thread
 * starts checked. */
void guard_thread_done(void);
/* An inode is about to be used, maybe changed: check its seal (unless it
 * is already touched) and put it on the touched list. */
void guard_inode_use(struct fs *fs, struct inode *ip);
/* ip's number still agrees with its check copy (a stray write to it would
 * send its pages, log entries and image elsewhere). */
void guard_inode_number(const struct inode *ip);
/* ip's image changed legitimately (inode_dirty): what the end of the
 * operation will check it against. */
void guard_inode_changed(struct inode *ip);
/* The inode is being freed: off the touched list. */
void guard_inode_forget(struct fs *fs, struct inode *ip);

int buf_init(struct fs *fs, size_t limit);
/* Seal a buffer's bytes and block number (its last legitimate change). */
void buf_seal(struct buf *b);
/* Check a buffer's seal when nobody is changing it (unused, or a pinned
 * bitmap block between changes); stops the process on a mismatch. */
void buf_check(const struct buf *b);
void buf_destroy(struct fs *fs);
/* Pin block blk, reading it (or its newest committed image not yet
 * checkpointed) when not cached. 0 or -errno. */
int buf_get(struct fs *fs, uint64_t blk, struct buf **out);
/* Read the blocks of the ranges (start[i], n[i]) that are neither cached
 * nor waiting as committed images into the cache, in one batch of device
 * requests that run side by side (not a round trip each), as clean sealed
 * buffers nobody holds. For mount, before it reads the bitmaps and the
 * root's inode block one by one. 0 or -errno (the blocks not read are
 * simply not cached). */
int buf_prefetch(struct fs *fs, const uint64_t *start, const uint64_t *n, unsigned nranges);
/* Pin block blk with zeroed content, without reading (a new block). */
int buf_new(struct fs *fs, uint64_t blk, struct buf **out);
/* Pin block blk; when not cached, start from zeros instead of reading it
 * (the caller knows the disk content does not matter). */
int buf_get_fresh(struct fs *fs, uint64_t blk, struct buf **out);
/* Add the buffer to the running transaction. */
void buf_dirty(struct fs *fs, struct buf *b);
void buf_put(struct fs *fs, struct buf *b);
/* The journal copied the buffer into a commit: it is clean again (the caller
 * has already taken it off the dirty list). */
void buf_clean(struct fs *fs, struct buf *b);
/* The block was freed: drop any cached copy (it must be unpinned). */
void buf_forget(struct fs *fs, uint64_t blk);

/* ---- allocation (alloc.c) ------------------------------------------------ */

struct pending_free {
	uint64_t start;
	uint32_t n;
	bool is_inode;
	uint64_t tid;              /* transaction that freed it */
};

struct alloc {
	uint8_t *bmap;             /* allocatable view of blocks: 1 = not allocatable */
	uint8_t *imap;             /* allocatable view of inodes */
	uint64_t free_blocks, free_inodes; /* in the allocatable view */
	uint64_t block_goal;       /* next-fit hint */
	uint64_t inode_goal;
	struct pending_free *pend;
	size_t npend, cappend;
	struct buf **bbufs;        /* on-disk block bitmap blocks (pinned) */
	struct buf **ibufs;        /* on-disk inode bitmap blocks (pinned) */
};

int alloc_init(struct fs *fs);
void alloc_destroy(struct fs *fs);
/* Allocate 1..want contiguous blocks near goal. 0 or -ENOSPC. */
int alloc_blocks(struct fs *fs, uint64_t goal, uint32_t want, uint64_t *start, uint32_t *got);
void free_blocks(struct fs *fs, uint64_t start, uint32_t n);
int alloc_inode(struct fs *fs, uint64_t *ino);
/* State of inode number `ino` (ANK_ROOT_INO < ino < inode_count) in the two
 * views: free in the allocatable view; freed by a transaction not yet
 * checkpointed (clear on disk, not allocatable); or allocated on disk. */
enum alloc_inode_state { INO_FREE, INO_PENDING_FREE, INO_ALLOCATED };
enum alloc_inode_state alloc_inode_state(struct fs *fs, uint64_t ino);
/* Allocate exactly number `ino`, which must be INO_FREE (0, or -EBUSY when
 * it is pending free, -EEXIST when allocated, -EINVAL out of range). */
int alloc_inode_exact(struct fs *fs, uint64_t ino);
void free_inode_number(struct fs *fs, uint64_t ino);
/* Blocks and inodes freed by transactions up to `tid` become allocatable
 * (called after a checkpoint made those transactions' effects final). */
void alloc_release_pending(struct fs *fs, uint64_t tid);
bool alloc_has_pending(struct fs *fs);
/* True when every inode sharing ino's inode table block, other than ino, is
 * free and not pending: that block's old content is all free slots. */
bool alloc_inode_block_unused(struct fs *fs, uint64_t ino);

/* ---- inodes (inode.c) ------------------------------------------------------ */

struct page;

struct inode {
	uint64_t ino;
	uint64_t ino_check;        /* ~ino (icache_insert): a stray write to ino
	                              is caught where ino is compared, before
	                              pages, logs or the inode table use it */
	uint32_t refs;             /* fds, operations in progress */
	uint32_t open_count;       /* open file descriptions (inode_opens) */
	uint32_t open_check;       /* ~open_count: a stray write would free an
	                              unlinked file still open, or keep one */
	struct ank_dinode d;       /* the on-disk image, kept current */
	_Alignas(8) uint8_t xa[ANK_INODE_XATTR_SIZE]; /* the record's attribute area (all
	                              zero without INODE_XATTRS), kept current
	                              and sealed with d */
	bool shared;               /* guard.c: touched by one section and used by
	                              another thread's meanwhile */
	bool dirty;                /* d must be written with the transaction */
	bool on_dirty_list;
	bool on_orphan_list;
	bool orphan_pinned;        /* a mount with keep_orphans holds a reference
	                              until fs_release_orphans() */
	uint64_t dirty_tid;        /* last transaction that changed this file */
	struct inode *hnext;
	struct inode *lprev, *lnext; /* LRU of unreferenced inodes */
	struct inode *dnext;
	struct page *pages;        /* cached pages of this file (list) */
	uint64_t npages;
	uint64_t ra_next;          /* where the last read ended: a read that
	                              starts there and misses reads ahead */
	struct fs_lock *locks;     /* advisory locks on the file (locks.c) */
	struct dir_index *dix;     /* directories: name index, built on demand */
	/* guard.c: d is sealed (dsum) between operations; an inode an
	 * operation takes is checked and put on that thread's touched list,
	 * and sealed again when the operation ends. dsum_dirty: d's sum when
	 * it was last marked dirty (or taken): at the operation's end d must
	 * still match it, every change being followed by inode_dirty. */
	uint32_t dsum, dsum_dirty;
	bool dsealed, touched;
	struct inode *tprev, *tnext;
	struct inode **thead;      /* the touched list it is on */
};

static inline struct extent_root *inode_root(struct inode *ip)
{
	return (struct extent_root *)(void *)&ip->d.eh;
}
_Static_assert(offsetof(struct ank_dinode, extents) - offsetof(struct ank_dinode, eh) ==
		       sizeof(struct ank_extent_header),
	       "extent root is contiguous in the inode");

static inline bool inode_is_dir(const struct inode *ip)
{
	return (ip->d.mode & S_IFMT) == S_IFDIR;
}

/* A FIFO, socket or device node: no data, cannot be opened here. */
static inline bool inode_is_special(const struct inode *ip)
{
	uint32_t f = ip->d.mode & S_IFMT;
	return f == S_IFIFO || f == S_IFSOCK || f == S_IFCHR || f == S_IFBLK;
}

static inline bool inode_is_symlink(const struct inode *ip)
{
	return (ip->d.mode & S_IFMT) == S_IFLNK;
}

int icache_init(struct fs *fs, size_t limit);
void icache_destroy(struct fs *fs);
/* Get a referenced in-memory inode, reading and validating it when needed.
 * -EUCLEAN for a corrupt or free inode, -EIO. */
/* The image of inode ino failed its checks (not as a free inode): read
 * its slot from the device and, when that copy passes them, stop the
 * process. The damage was in memory (the cached block, or the number
 * itself on its way), and an answer of EUCLEAN would be a wrong one. */
void inode_damage_confirm(struct fs *fs, uint64_t ino);
int inode_get(struct fs *fs, uint64_t ino, struct inode **out);
void inode_ref(struct inode *ip);
/* Drop a reference; frees the inode (blocks, number) when it has no links and
 * no users left. */
void inode_put(struct fs *fs, struct inode *ip);
/* Create a new inode with the given mode, owner and nlink 0 (referenced). */
int inode_create(struct fs *fs, uint32_t mode, uint32_t uid, uint32_t gid, struct inode **out);
/* Like inode_create, with inode number `ino` exactly (recovery replay). The
 * number is allocated when free; an inode allocated on disk with nlink 0,
 * no users and not on the orphan list is reinitialised (its blocks freed, a
 * new generation). Nothing changes on failure: -EINVAL (out of range),
 * -EEXIST (linked), -EBUSY (pending free, or an unlinked inode still in use),
 * -EUCLEAN (corrupt slot), -EIO, -ENOMEM. */
int inode_create_ino(struct fs *fs, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
		     struct inode **out);
/* The cached inode `ino`, or NULL (no reference taken). */
struct inode *inode_cached(struct fs *fs, uint64_t ino);
/* The in-memory image changed: write it with the running transaction. */
void inode_dirty(struct fs *fs, struct inode *ip);
void inode_touch(struct inode *ip, bool mtime, bool ctime);
/* Orphan list (inodes with nlink 0 still open). */
void inode_orphan_add(struct fs *fs, struct inode *ip);
void inode_orphan_remove(struct fs *fs, struct inode *ip);
/* Serialise every dirty inode into its inode table block (commit). */
int inode_flush_dirty(struct fs *fs);
/* Free the orphans left by a crash (mount). With fs->opt.keep_orphans they
 * are kept instead: each is pinned in memory (orphan_pinned, one reference)
 * until inode_release_orphans(). */
int inode_process_orphans(struct fs *fs);
/* Drop the pins of a keep_orphans mount: orphans nobody opened meanwhile are
 * freed (in the running transaction). */
void inode_release_orphans(struct fs *fs);
/* Extent I/O bound to the fs (buffer cache + allocator). */
extern const struct extent_io fs_extent_io_template;
void fs_extent_io(struct fs *fs, struct extent_io *io);

/* ---- page cache and file data (file.c) ------------------------------------ */

struct page {
	uint64_t ino;
	uint32_t idx;              /* logical block */
	uint64_t key_check;        /* page_key(ino, idx): checked by every
	                              lookup that walks past the page (file.c) */
	uint64_t pblk;             /* 0: hole (reads as zeros, nothing on disk) */
	uint8_t *data;
	uint32_t csum;             /* guard_sum(data) when sealed (guard.c) */
	bool sealed;
	bool dirty;
	bool writeback;            /* a copy is being written by a commit:
	                              not evictable until that write is done */
	struct inode *owner;
	struct page *hnext;
	struct page *iprev, *inext;  /* owner's list */
	struct page *lprev, *lnext;  /* LRU (clean pages only) */
	struct page *dprev, *dnext;  /* dirty list */
};

struct pagecache {
	struct page **hash;
	size_t nhash;
	uint64_t count, limit, ndirty, dirty_limit;
	struct page lru;           /* sentinel */
	struct page dirty;         /* sentinel */
	void *free_bufs;           /* free 4 KiB page buffers (linked through
	                              their first bytes) */
	struct pc_chunk *chunks;   /* where the buffers come from */
	uint8_t *bounce;           /* reads of adjacent blocks land here, as one
	                              request, before they are copied into their
	                              pages (READ_BATCH blocks, under fs->lock) */
};

int pcache_init(struct fs *fs, uint64_t limit, uint64_t dirty_limit);
void pcache_destroy(struct fs *fs);
ssize_t file_read(struct fs *fs, struct inode *ip, void *buf, size_t n, uint64_t off,
		  uint32_t *sum);
/* *sum (when asked): the CRC32C of buf's bytes, continued, each part taken
 * from buf right after it was copied into the cache. */
ssize_t file_write(struct fs *fs, struct inode *ip, const void *buf, size_t n, uint64_t off,
		   uint32_t *sum);
/* Change the size; shrinking frees blocks and drops cached pages. */
int file_truncate(struct fs *fs, struct inode *ip, uint64_t size);
/* Allocate (zeroed) every block of [off, off + len) not mapped yet; the
 * caller sets the size. 0 or -errno (blocks allocated before an error stay,
 * below the size they must then be covered by). */
int file_allocate(struct fs *fs, struct inode *ip, uint64_t off, uint64_t len);
/* The bytes of [off, off + len) below the size read as zeros from now on;
 * the whole blocks among them are unmapped and freed (holes). 0 or -errno
 * (-ENOSPC when cutting an extent in two needed a node block). */
int file_punch(struct fs *fs, struct inode *ip, uint64_t off, uint64_t len);
/* SEEK_DATA (hole false) / SEEK_HOLE (true) from off, which is below the
 * size: the first mapped (unmapped) byte at or after off, block by block;
 * SEEK_HOLE finds at least the end of the file. -ENXIO when no data
 * follows. */
int file_seek(struct fs *fs, struct inode *ip, uint64_t off, bool hole, uint64_t *out);
/* Commit support: take a dirty page off the dirty list while its copy is
 * written; end_writeback makes it evictable again if still clean. */
/* Check a cached page against its seal (bytes, file, index, device block;
 * every cached page is sealed outside pages_get): stops the process on a
 * mismatch, returns guard_sum(p->data). */
uint32_t page_verify(const struct page *p);
void page_start_writeback(struct fs *fs, struct page *p);
void page_end_writeback(struct fs *fs, uint64_t ino, uint32_t idx);
void pcache_shrink(struct fs *fs);
/* Drop every cached page of the inode (it is being freed). */
void file_drop_pages(struct fs *fs, struct inode *ip);
/* Bytes of file data at a logical block for directories: map or allocate. */
int file_map_block(struct fs *fs, struct inode *ip, uint32_t lblk, bool create, uint64_t *pblk);

/* ---- directories (dir.c) ---------------------------------------------------- */

struct dir_index;
int dir_lookup(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t *ino,
	       uint8_t *type);
int dir_add(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t ino,
	    uint8_t type);
int dir_remove(struct fs *fs, struct inode *dp, const char *name, size_t len);
/* Point an existing entry at another inode (rename over). */
int dir_replace(struct fs *fs, struct inode *dp, const char *name, size_t len, uint64_t ino,
		uint8_t type);
/* Number of entries ("." and ".." not counted), or -errno. */
int64_t dir_count(struct fs *fs, struct inode *dp);
/* Entry at or after byte position *pos of the directory file; advances *pos
 * past it. Returns 1 with the entry, 0 at the end, or -errno. */
int dir_next(struct fs *fs, struct inode *dp, uint64_t *pos, struct fs_dirent *ent);
void dir_index_free(struct dir_index *dix);
/* Tests: flip one bit of the cached index entry of `name` in directory dp
 * (field 0: its hash, 1: its inode number; 2: the index's count of
 * names), as a stray write would.
 * 0, or -ENOENT. */
int dir_index_damage(struct inode *dp, const char *name, size_t len, unsigned field);
/* The count of open file descriptions of ip, checked against its copy;
 * and a change of it. */
static inline uint32_t inode_opens(const struct inode *ip)
{
	if (__builtin_expect(ip->open_check != ~ip->open_count, 0))
		guard_fail("inode's count of open files", ip->ino, ip->open_count);
	return ip->open_count;
}

static inline void inode_opens_add(struct inode *ip, int delta)
{
	ip->open_count = inode_opens(ip) + (uint32_t)delta;
	ip->open_check = ~ip->open_count;
}

/* Test hook (journal.c): called by a commit once it copied its metadata
 * images, before it lays them out in the log; NULL in the product. */
extern void (*journal_copied_hook)(uint8_t *const *images, size_t n);
/* Tests: called with a commit's record once its other blocks are on the
 * device, before the record is written (a stray write into the id the
 * record was built from). */
extern void (*journal_record_hook)(struct ank_journal_commit *c);
/* Tests: called with a checkpoint's tail and id, as its frame holds them,
 * once the images are home and before the header is written. */
extern void (*journal_checkpoint_hook)(uint64_t *tail, uint64_t *upto);

/* ---- journal (journal.c) ------------------------------------------------------ */

struct ckpt_image {
	uint64_t home;
	uint8_t *data;
	uint32_t csum;             /* guard_sum(data) (guard.c) */
	struct ckpt_image *hnext;
};

struct journal {
	uint64_t nlog;             /* log blocks (journal_blocks - 1) */
	uint64_t head, tail;       /* absolute positions; used = head - tail */
	uint64_t log_seq;          /* on-disk sequence number of the next
	                              transaction written to the log (empty
	                              transactions take none) */
	uint32_t salt;
	uint64_t running_tid;      /* id of the transaction being built: the id
	                              the next commit gives its record. A commit
	                              with nothing to write keeps it (see
	                              journal_commit), so ids that become
	                              durable are always recorded on disk */
	uint64_t committed_tid;    /* last transaction durable (its commit record,
	                              or the header's checkpoint_tid, holds it) */
	uint64_t checkpointed_tid; /* last transaction written home */
	uint64_t mount_tid;        /* last durable id found at mount (D) */
	bool running_seen;         /* running_tid was handed out (fs_running_tid):
	                              a commit must make it durable even when the
	                              transaction is empty */
	bool busy;                 /* a commit or checkpoint is in flight */
	pthread_cond_t cond;       /* signalled when busy clears */
	struct ckpt_image **ckpt;  /* committed images not yet written home */
	size_t nckpt_hash, nckpt;
	bool sb_dirty;             /* superblock changed in the running txn */
	uint8_t *stage;            /* data pages of the commit in flight, kept */
	uint64_t stage_pages;      /* between commits (capacity in pages) */
	int error;                 /* sticky: a failed commit makes the fs read-only */
	uint32_t check;            /* journal_seal: positions and ids above */
	/* The commit in flight: its id, sequence number, first log block and
	 * block count, kept here (with a seal of their own: only the
	 * committer writes them, and it checks them without the fs lock)
	 * rather than only in its frame, where a stray write across the I/O
	 * would put another id in the commit record (read at the next mount
	 * as the last durable one) and in committed_tid. */
	struct {
		uint64_t tid, seq, head, nblocks;
		uint32_t check;
	} committing;
	/* The checkpoint in flight, likewise: the tail and the id the header
	 * will name (a changed tail loses or misreads the log's transactions
	 * at the next mount; a changed id makes replay skip calls). */
	struct {
		uint64_t tail, upto;
		uint32_t check;
	} checkpointing;
};
/* The journal's positions and transaction ids are sealed at each change
 * and checked before they are used: a stray write to the durable id would
 * tell the p-logs that entries are durable that are not (they could be
 * reclaimed, and lost at the next crash), one to a position would write a
 * commit over live records. */
void journal_seal(struct journal *j);
void journal_check(const struct journal *j);

int journal_init(struct fs *fs);
void journal_destroy(struct fs *fs);
/* Replay committed transactions at mount and reset the log. */
int journal_replay(struct fs *fs, uint64_t *txns_replayed);
/* Commit the running transaction (called with fs->lock held, at an
 * operation boundary; drops and retakes the lock during I/O). */
int journal_commit(struct fs *fs);
/* Make transaction `tid` durable (commit it unless already done). Returns
 * at once for tid >= running_tid when the running transaction has nothing
 * to write and its id was never handed out: every change is durable. */
int journal_force(struct fs *fs, uint64_t tid);
/* Write every committed image home and empty the log. */
int journal_checkpoint(struct fs *fs);
/* The newest committed image of a block not yet written home, or NULL. */
const uint8_t *journal_ckpt_image(struct fs *fs, uint64_t blk);
void journal_sb_dirty(struct fs *fs);
/* Blocks the running transaction will need in the log now. */
uint64_t journal_running_blocks(struct fs *fs);

/* ---- the mounted file system ------------------------------------------------- */

struct fs {
	pthread_mutex_t lock;
	struct bdev *dev;
	struct ank_super sb;       /* in-memory superblock, kept current */
	struct fs_options opt;
	bool read_only;
	struct bufcache bc;
	struct alloc al;
	struct {
		struct inode **hash;
		size_t nhash, count, unused, limit;
		struct inode lru;      /* sentinel: unreferenced inodes */
		struct inode *dirty;   /* dirty list via dnext */
		size_t ndirty;         /* its length (checked when it is flushed) */
	} ic;
	struct pagecache pc;
	struct journal j;
	struct {
		unsigned ops;          /* guarded sections open (guard_enter) */
		struct inode *deferred; /* touched inodes another thread's section
		                          used too, sealed when none is open */
		uint32_t state_sum;    /* seal of sb and the allocator's counts */
		bool state_sealed;
		uint32_t geometry_sum; /* seal of sb's layout (fixed once mounted) */
	} guard;
	/* clients, for unmount */
	struct fs_client *clients;
	uint64_t op_order;         /* calls numbered at unlock (fs_stamp_last) */
	uint64_t op_order_check;   /* ~op_order: a stray write that lowered it
	                              would number later calls before earlier
	                              ones, and a replay would run them so */
	uint64_t *damaged;         /* inodes whose reads fail (fs_mark_damaged) */
	size_t ndamaged, capdamaged;
	/* background commit */
	pthread_t bg_thread;
	bool bg_running, bg_stop;
	bool bg_kick;              /* commit now (fs_commit_soon) */
	pthread_cond_t bg_cond;
	struct fs_stats stats;
	uint32_t next_generation;  /* generation of the next inode created */
	bool commits_held;         /* no commit at operation boundaries, nor in
	                              the background (fs_hold_commits) */
	/* Commit gate (fs_set_commit_gate), under fs->lock. */
	bool (*gate_fn)(void *arg, const uint64_t *self);
	void *gate_arg;
	/* Commit notification (stamp.c, fs_set_commit_hook). fn, arg and
	 * hook_reported change only while hook_busy is held; fn and arg also
	 * only under fs->lock (so either protects reading them). hook_noted is
	 * the newest durable tid an operation saw, under fs->lock; hook_seen is
	 * its copy for the notifier, which runs outside fs->lock. */
	void (*hook_fn)(void *arg, uint64_t durable_tid);
	void *hook_arg;
	uint64_t hook_noted;
	uint64_t hook_reported;
	_Atomic uint64_t hook_seen;
	atomic_bool hook_busy, hook_recheck;
	/* Advisory locks (locks.c): the copy kept outside, and ids for the
	 * descriptions nobody named. */
	void (*lock_hook)(void *arg, uint64_t ino, const struct fs_lock_rec *recs, size_t n);
	void *lock_hook_arg;
	uint64_t lock_ids;
};

/* An operation failed after it had changed part of the in-memory state: the
 * running transaction must never commit. Makes the error sticky (later
 * changes fail, reads go on); a remount recovers the committed state. */
void fs_abort(struct fs *fs, int err);

/* ops.c: the inode a path names from `at` (AT_EMPTY_PATH with an empty
 * path: at itself; AT_SYMLINK_NOFOLLOW), and an allocated inode by number
 * (-EINVAL out of range, -ENOENT free). Under the lock, referenced. */
int fs_lookup_at(struct fs *fs, struct fs_client *c, struct fs_at at, const char *path, int flags,
		 struct inode **ip);
int fs_inode_by_number(struct fs *fs, uint64_t ino, struct inode **ip);

/* xattr.c: free ip's attribute block (the inode is being freed). */
void xattr_release(struct fs *fs, struct inode *ip);

/* ---- clients and fd tables (fdtable.c) ---------------------------------- */

/* What an fd of a client's table points to. */
struct ofile {
	struct inode *ip;
	uint64_t pos;
	int flags;
	uint32_t refs;
	uint64_t lock_id;          /* owner of its OFD and flock locks; 0 until
	                              it takes one (locks.c) */
	uint32_t check;            /* ofile_seal: over ip, pos, flags, lock_id;
	                              checked by fd_get, so a stray write to an
	                              offset or a file pointer is never used */
};

/* Take an open file's check after a change of ip, pos, flags or lock_id. */
void ofile_seal(struct ofile *of);
/* An operation that may release the fs lock midway (fs_op_begin, a
 * commit) holds the open file it works on, so that a close of its fd by
 * another thread meanwhile cannot free it (and its inode) under it; it
 * ends with ofile_put. NULL stays NULL. */
struct ofile *ofile_hold(struct ofile *of);

/* An fd opened under a server that has since been replaced (plain restart,
 * no recovery): its number stays taken, every use fails with EIO, close
 * releases it. */
extern struct ofile ofile_stale_sentinel;
#define STALE_OFILE (&ofile_stale_sentinel)

/* A client of fs.h: credentials and fd table, on the mount's list. */
struct fs_client {
	struct fs *fs;
	uint32_t uid, gid;
	struct ofile **fds;
	int nfds;                  /* table size */
	struct fs_client *next, *prev;
	uint64_t lock_owner;       /* owner of its POSIX locks (fs_client_set_lock_owner) */
	int32_t lock_pid;          /* what F_GETLK says of them */
	uint64_t waits_for;        /* POSIX owner it waits for (F_SETLKW), 0: none */
	uint64_t wait_ns;          /* when it last asked */
	uint32_t check;            /* fs_client_seal: fs, ids, fd table, lock owner */
};
/* The client's identity and fd table are sealed at each change and checked
 * before they are used: a stray write to them would otherwise answer EBADF
 * for an open fd, or check permissions as another user. */
void fs_client_seal(struct fs_client *c);
void fs_client_check(const struct fs_client *c);

/* An advisory lock (locks.c): [start, end], end INT64_MAX for "to the end
 * and beyond". */
struct fs_lock {
	struct fs_lock *next;
	uint8_t kind;              /* enum fs_lock_kind */
	uint8_t type;              /* F_RDLCK or F_WRLCK */
	int32_t pid;
	uint64_t owner;            /* a client's lock_owner, or an ofile's lock_id */
	int64_t start, end;
};
/* An fd of c naming `of` is being closed: c's POSIX locks on the file go. */
void locks_fd_closing(struct fs_client *c, struct ofile *of);
/* The last fd of `of` went: its OFD and flock locks go. */
void locks_ofile_gone(struct fs *fs, struct ofile *of);

uint32_t fs_client_uid(const struct fs_client *c);
uint32_t fs_client_gid(const struct fs_client *c);
/* Close every fd of every client (unmount); called with the lock held. */
void fs_clients_close_all(struct fs *fs);
/* Under fs->lock: fd_get gives the open file of fd `fd` (NULL when there is
 * none or it is stale), fd_error the error for an fd that names no open
 * file; fd_alloc puts an open file at the lowest free number;
 * fd_number_check and fd_reserve make an explicit number available
 * (recovery); ofile_put drops a reference to an open file. */
struct ofile *fd_get(struct fs_client *c, int fd);
int fd_error(const struct fs_client *c, int fd);
int fd_alloc(struct fs_client *c, struct ofile *of);
int fd_number_check(int fd);
int fd_reserve(struct fs_client *c, int fd);
void ofile_put(struct fs *fs, struct ofile *of);

/* ---- the fs lock and call stamps (stamp.c) ------------------------------- */

/* Every operation runs between fs_lock (take fs->lock, enter the guarded
 * section) and fs_unlock (stamp the call, leave the guarded section, release
 * fs->lock, then report a durable tid that advanced to the commit hook). */
void fs_lock(struct fs *fs);
void fs_unlock(struct fs *fs);
/* The calling thread's last call (fs_stamp_last), filled in under the lock:
 * an operation adds what only it knows (a write's position, a new
 * directory's inode). */
extern __thread struct fs_stamp fs_last_stamp;
/* The fd a call worked on, for fs_stamp_last (under the lock). */
void fs_stamp_fd(const struct ofile *of);
/* The time every time a call sets takes (ctime, mtime, atime, a new
 * inode's): one per call, taken at its first use, so that one call's times
 * agree and its log entry can carry them (fs_stamp.time_sec); during a
 * replay, the crashed server's (fs_set_call_time). Under the lock. */
void fs_now(int64_t *sec, uint32_t *nsec);

/* Has the running transaction reached 1/div of a bound: dirty pages
 * (dirty_limit) or journal space (a quarter of the log)? */
bool fs_txn_at_bound(struct fs *fs, unsigned div);
/* Called at the start of every modifying operation with fs->lock held:
 * commits when the running transaction or dirty data has grown past its
 * bounds (and wakes the background commit past half of them). */
int fs_op_begin(struct fs *fs);

/* stamp.c: run the commit gate (journal_commit calls it first). False when
 * the gate was not passed and the fs lock was released meanwhile: the
 * caller starts over. */
bool fs_commit_gate(struct fs *fs);

/* ---- recovery support (durable.c) --------------------------------------- */

/* fs_mark_damaged's list, under fs->lock. */
bool fs_is_damaged(struct fs *fs, uint64_t ino);
void fs_clear_damaged(struct fs *fs, uint64_t ino);

#endif
