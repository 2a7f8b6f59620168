/*
 * recovery.h - the calls of the core that only crash recovery (and the
 * service's logging of calls for it) uses: stale fds, explicit identities
 * (fd and inode numbers chosen by the caller), durability tracking
 * (transaction ids, call stamps, the commit hook and gate). The ordinary
 * POSIX-style API is fs.h, and its conventions (negative errno values,
 * paths, thread-safety) hold here too.
 */
#ifndef ANK_RECOVERY_H
#define ANK_RECOVERY_H

#include "fs.h"

/* ---- stale fds ------------------------------------------------------------- */

/* Mark fds 0..nfds-1 that are not open as stale: they stay allocated, every
 * use gives -EIO, close releases them. Used when a client's state could not
 * be carried over a server restart. 0, -EINVAL, -ENOMEM. */
int fs_client_reserve_stale(struct fs_client *c, int nfds);
/* Mark fd number `fd` stale (as above) if it is not open: its state was
 * lost. 0, -EINVAL, -ENOMEM, -EBUSY (open). */
int fs_client_mark_stale(struct fs_client *c, int fd);
/* One more than the highest fd in use (open or stale), 0 when none. */
int fs_client_fd_high(struct fs_client *c);

/* ---- explicit identities (crash recovery replay) ----------------------------
 *
 * Recovery replays logged operations on a freshly mounted volume and must
 * give the application back the same fd numbers and inode numbers. These
 * calls take those identities as arguments; otherwise they behave as the
 * operations of fs.h (same permission checks, same errors, same order of
 * checks unless stated).
 */

/* fs_open, but the new fd is exactly `fd`. The number is checked first:
 * -EINVAL for bad flags as fs_open, then -EBADF when fd < 0 or fd >= 2^20
 * (the table's limit), then (after the -EROFS / sticky-error check of a
 * creating or truncating open) -EBUSY when the number is open or a stale fd
 * in this client, -ENOMEM if the table cannot grow to hold it; then every
 * error of fs_open. Nothing changes when the number is refused. Holes below
 * fd stay free and are used by later fs_open calls (lowest free first). */
int fs_open_at(struct fs_client *c, const char *path, int flags, mode_t mode, int fd);

/* Set the offset of open fd `fd` to pos (what read, write, lseek and
 * readdir leave behind). 0, -EBADF (not open), -EIO (stale fd), -EINVAL
 * (pos > INT64_MAX, or for a regular file pos past the largest file size,
 * as lseek refuses). */
int fs_set_offset(struct fs_client *c, int fd, uint64_t pos);

/* Recovery found that changes to inode ino's data were lost (a log entry it
 * could not verify): until the file is truncated to size 0 or freed, every
 * read of its data fails with -EIO instead of returning what may be stale.
 * Kept in memory for this mount. 0, -EINVAL (no such inode number),
 * -ENOMEM. */
int fs_mark_damaged(struct fs *fs, uint64_t ino);

/*
 * Create a regular file (fs_create_ino) or directory (fs_mkdir_ino) whose
 * inode number is exactly `ino`. flags is as for fs_open; O_CREAT and
 * O_EXCL are implied, O_DIRECTORY is -EINVAL. With fd >= 0 the file is
 * opened at that fd number (checked as fs_open_at does, before anything
 * changes) and fd is returned; with fd < 0 it is not opened and 0 is
 * returned. fs_mkdir_ino returns 0.
 *
 * The number must be one of:
 *   - free in the allocatable view: exactly that number is allocated;
 *   - allocated on disk, with nlink 0, unused (no fd, no operation) and not
 *     on the orphan list: an inode whose allocation became durable without
 *     its directory entry (Ananke's "CreatReuseDInode"). It is reinitialised
 *     as a new inode: its blocks are freed, mode, owner and times are set,
 *     its map is empty and it gets a new generation. Whether a directory
 *     entry still names it is not checked: nlink 0 is trusted. An allocated
 *     slot that was never written (mode 0) is reused the same way.
 * Generations always come from the mount's counter (a new one).
 *
 * Errors, in order: -EINVAL (bad flags; ino <= 1, the reserved 0 and the
 * root, or ino >= the volume's inode count), -EBADF / -EBUSY (fd, as
 * fs_open_at), then the errors of fs_open(O_CREAT | O_EXCL) / fs_mkdir for
 * the path (-EEXIST when the name exists, -ENOENT, -ENOTDIR, -EACCES,
 * -EROFS, ...), then for the number: -EEXIST when a linked inode has it;
 * -EBUSY when it is an unlinked inode still open or listed as an orphan, or
 * when it was freed by a transaction not yet checkpointed ("pending free":
 * not allocatable until the next checkpoint, see docs/DESIGN.md "Block
 * reuse"); -EUCLEAN when the allocated slot is corrupt. Nothing is changed
 * by a failure, except that after -ENOSPC/-EIO/-ENOMEM from the directory
 * insertion the number is left pending free, as fs_open would leave it.
 *
 * Pending frees: right after fs_mount nothing is pending, unless the mount
 * freed orphans (those numbers and blocks are pending until a checkpoint);
 * mount with keep_orphans, or call fs_checkpoint() first.
 */
int fs_create_ino(struct fs_client *c, const char *path, int flags, mode_t mode, uint64_t ino,
		  int fd);
int fs_mkdir_ino(struct fs_client *c, const char *path, mode_t mode, uint64_t ino);
/* fs_symlink, the link's inode being number ino (as fs_mkdir_ino). */
int fs_symlink_ino(struct fs_client *c, const char *target, const char *path, uint64_t ino);
/* The same, a relative path starting at `at` (fs.h: the replay of a logged
 * *at call, by the directory's inode number). */
int fs_createat_ino(struct fs_client *c, struct fs_at at, const char *path, int flags,
		    mode_t mode, uint64_t ino, int fd);
int fs_mkdirat_ino(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		   uint64_t ino);
int fs_symlinkat_ino(struct fs_client *c, const char *target, struct fs_at at, const char *path,
		     uint64_t ino);
int fs_mknodat_ino(struct fs_client *c, struct fs_at at, const char *path, mode_t mode,
		   dev_t rdev, uint64_t ino);

/* Open inode `ino` itself (not a path) at fd number `fd`: reopens a file
 * whose name may have changed or gone (an unlinked file that was open at the
 * crash is kept by a keep_orphans mount). flags: O_RDONLY / O_WRONLY /
 * O_RDWR, O_APPEND, O_DIRECTORY (others, O_CREAT, O_EXCL and O_TRUNC
 * included, are -EINVAL). No permission check: it re-establishes an fd the
 * client was granted before. Errors in order: -EINVAL (flags, ino <= 0 or
 * out of range), -EBADF / -EBUSY / -ENOMEM (fd, as fs_open_at), -ENOENT
 * (inode not allocated), -EUCLEAN (corrupt), -ENOTDIR (O_DIRECTORY on a
 * file), -EISDIR (directory not read-only), -EROFS (write access on a
 * read-only mount). Returns fd. */
int fs_open_ino_at(struct fs_client *c, uint64_t ino, int flags, int fd);

/* After a keep_orphans mount: free every orphan that was not reopened
 * (fs_open_ino_at) meanwhile; the reopened ones are freed at their last
 * close, as usual. The frees join the running transaction. No-op without
 * keep_orphans or when already done. 0, or the errors every modifying
 * operation can give before it starts (-EROFS, a failed commit's sticky
 * error, -EIO). */
int fs_release_orphans(struct fs *fs);

/* Commit the running transaction and write everything home (checkpoint):
 * afterwards no block or inode number is pending free. 0 or -errno. */
int fs_checkpoint(struct fs *fs);

/* The inode number of open fd `fd`. 0, -EBADF, -EIO (stale fd). */
int fs_inode_of_fd(struct fs_client *c, int fd, uint64_t *ino);

/* Resolve path as fs_stat does (same errors) and give the inode number
 * (*ino) and the directory that holds its entry (*parent_ino): for "/" the
 * root itself, for a path whose last component is "." or ".." the named
 * directory's parent. Either pointer may be NULL. */
int fs_lookup_ino(struct fs_client *c, const char *path, uint64_t *ino, uint64_t *parent_ino);
int fs_lookupat_ino(struct fs_client *c, struct fs_at at, const char *path, uint64_t *ino,
		    uint64_t *parent_ino);

/* ---- durability tracking ------------------------------------------------------
 *
 * Transactions have increasing ids. Every change joins the running
 * transaction; a commit freezes it at an operation boundary (operations
 * hold fs->lock throughout and a commit runs only between them; the one
 * exception is a write larger than 1 MiB, whose 1 MiB pieces may fall into
 * consecutive transactions) and transactions become durable in order.
 *
 * The rule: the effects of an operation that has returned joined
 * transactions <= T, where T = fs_running_tid() read after it returned;
 * they are all durable (metadata and file data) once fs_durable_tid() >= T.
 * No effect of a transaction > fs_durable_tid() is on disk.
 *
 * The ids are durable and continue across mounts and crashes: every commit
 * record holds its id, and the journal header holds the last checkpointed
 * one (docs/FORMAT.md §9). A mount finds D, the last id durable before it
 * (fs_mount_durable_tid()), and continues with D + 1, so after a crash D is
 * in the numbering the crashed mount used: its transactions <= D are
 * entirely on disk, none of its transactions > D is. (Ids > D it handed
 * out without making them durable, at most D + 2, are given again to new
 * transactions: compare old logs with fs_mount_durable_tid(), not with the
 * new mount's durable id.)
 *
 * Ids advance only by commits that write a record. A commit with nothing to
 * write keeps the running id, so fs_sync() with nothing dirty writes nothing
 * and fs_durable_tid() does not move; except that once fs_running_tid() has
 * handed out the running id, the next commit records it even if it is
 * empty, so fs_sync() always ends with fs_durable_tid() >= every id
 * fs_running_tid() returned before it.
 */

/* Make transaction `tid` durable (and every one before it): waits for a
 * commit in flight that covers it, commits the running one only if tid is
 * still running. 0 or -errno. */
int fs_sync_tid(struct fs *fs, uint64_t tid);

/* Ask the background thread to commit now, without waiting for it (the
 * caller goes on; the commit's I/O runs outside the lock). No-op on a
 * mount without background thread. */
void fs_commit_soon(struct fs *fs);

/* Id of the transaction being built now (read under the lock): every
 * operation that completed before the call joined a transaction <= it. */
uint64_t fs_running_tid(struct fs *fs);

/* What the calling thread's last call on a mount did, read under the fs
 * lock as that call released it: its number in the order of all calls on
 * the mount (1, 2, ...: calls ordered by the lock are numbered the same
 * way, so a log sorted by it replays calls that depend on each other in
 * their real order), the transaction its effects joined (exact: the last
 * one, for a write whose 1 MiB pieces straddle commits), and whether it
 * changed anything. For a call that changed something, fs_sync() ends with
 * fs_durable_tid() >= tid. Thread-local; fs_stamp_clear() zeroes it, so a
 * call that never took the lock leaves order == 0. */
struct fs_stamp {
	uint64_t order;
	uint64_t tid;
	bool modified;
	/* read, write, pread, pwrite, lseek, readdir, close of an open fd:
	 * its inode and its offset after the call */
	bool has_fd;
	uint64_t fd_ino, fd_pos;
	/* write, pwrite that wrote: the file position its data went to (for
	 * O_APPEND the end of file, whatever position a pwrite asked for) */
	bool has_io;
	uint64_t io_pos;
	/* mkdir that created: the new directory's inode; a change of attributes
	 * (fs_setattr*): the inode changed */
	uint64_t new_ino;
	/* an inode the call created (open O_CREAT, mkdir, mknod, symlink): its
	 * generation (0: none) */
	uint32_t new_gen;
	/* the time the call gave every time it set (fs_now; 0: it set none) */
	int64_t time_sec;
	uint32_t time_nsec;
	/* over every field above, taken when the fs lock is released: the
	 * stamp then waits in memory until the call is logged, and a stray
	 * write there would log other facts than the call's (fs_stamp_intact) */
	uint32_t seal;
};
void fs_stamp_last(struct fs_stamp *out);
/* Recovery: the calls this thread makes from now on set the times they
 * set (ctime, mtime, a new inode's) to sec.nsec, the time a crashed
 * server's call used (its entry's time), instead of now, so that a replay
 * gives a file the times it had; sec 0 goes back to now. */
void fs_set_call_time(int64_t sec, uint32_t nsec);
/* A stamp is as its call left it (its seal matches). */
bool fs_stamp_intact(const struct fs_stamp *s);
/* Recovery: give inode ino the generation a crashed server had given it
 * when it created it (an entry's gen), after the replay created it again:
 * whoever holds (number, generation) - the kernel, through the FUSE front
 * door - still names the same object. 0 or -errno. */
int fs_inode_set_generation(struct fs_client *c, uint64_t ino, uint32_t gen);
void fs_stamp_clear(void);
/* While set (per thread, NULL to stop), every release of the fs lock by
 * this thread also stores the call's order number into *slot, atomically
 * and before the lock is released: whoever takes the lock next sees it. */
void fs_stamp_publish(uint64_t *slot);
/* Id of the last durable (committed) transaction. */
uint64_t fs_durable_tid(struct fs *fs);
/* The same, checked against the journal's seal, without what every release
 * of the fs lock does: the calling thread's stamp stays as it was, and no
 * advance is reported to the commit hook. For the commit hook itself, which
 * may run in a worker between its call and that call's log entry. */
uint64_t fs_committed_tid(struct fs *fs);
/* D: the id of the last transaction that was durable when this mount
 * started (replay's newest commit record, or the journal header's
 * checkpoint_tid when the log was empty), in the numbering of the mount
 * that wrote it; 0 for a fresh volume or one written before ids were
 * recorded. fs_durable_tid() equals it right after fs_mount unless the
 * mount itself committed (freeing orphans; never with hold_commits).
 * Constant for the mount. */
uint64_t fs_mount_durable_tid(struct fs *fs);
/* Make the next transaction id at least tid + 1 (recovery: ids found in a
 * crashed server's log must never be handed out again). The durable id does
 * not change. */
void fs_reserve_tids(struct fs *fs, uint64_t tid);
/* While held, no commit runs at operation boundaries or in the background:
 * only an explicit fs_sync/fs_fsync/fs_checkpoint commits. A replay holds
 * commits so that its effects become durable all at once. (A transaction
 * that outgrows the journal still fails the operation that would overflow
 * it.) */
void fs_hold_commits(struct fs *fs, bool hold);
/* The transaction of inode `ino`'s newest change that is not durable yet;
 * 0 when every change of it is durable (fs_durable_tid() >= its last
 * change). For an inode no longer cached this is the transaction being
 * committed, if one is in flight, else 0 (only clean inodes are evicted). */
uint64_t fs_inode_change_tid(struct fs_client *c, uint64_t ino);

/*
 * Call fn(arg, durable_tid) when the durable transaction id advances, so a
 * log can clear the entries whose tid became durable. Calls:
 *   - happen in the thread of an operation that saw the advance, after it
 *     released every fs lock, before that operation returns: a commit made
 *     by the operation itself (fsync, sync, a commit forced by its size)
 *     is reported before it returns, unless another thread is inside fn at
 *     that moment, in which case that thread reports it as soon as its fn
 *     returns;
 *   - a commit of the background thread is reported by the next call into
 *     the core by any thread (any operation, fs_durable_tid() included), so a
 *     user that needs it promptly polls fs_durable_tid() (e.g. from an idle
 *     heartbeat);
 *   - are serialised (never two at once) and the tids passed are strictly
 *     increasing; one call may cover several commits (coalesced);
 *   - fn may call the core (an operation it makes that commits is reported
 *     after fn returns, by the same thread), but not fs_set_commit_hook.
 * The commits of fs_mount and fs_unmount are not reported. fn NULL removes
 * the hook; when fs_set_commit_hook returns no call to the old fn is in
 * progress. Reports start after the durable tid at the time of the call.
 */
void fs_set_commit_hook(struct fs *fs, void (*fn)(void *arg, uint64_t durable_tid), void *arg);
/* A gate every commit passes before it freezes the running transaction,
 * called with the fs lock held: fn may wait (without calling into the core)
 * until calls that released the lock are recorded elsewhere, so that no
 * call becomes durable before its record exists, and returns true. When it
 * gives up waiting for a while it returns false: the commit then releases
 * the fs lock for a moment (a call that needs it to be recorded can take
 * it) and passes the gate again. It never goes on before fn said true.
 * `self` is the calling thread's fs_stamp_publish slot (NULL when none),
 * for fn to leave out. */
void fs_set_commit_gate(struct fs *fs, bool (*fn)(void *arg, const uint64_t *self), void *arg);

#endif
