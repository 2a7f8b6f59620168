/*
 * durable.c - the core's support for crash recovery that is not tied to an
 * fd: transaction ids and durability (fs_sync_tid, fs_running_tid,
 * fs_durable_tid, fs_inode_change_tid, fs_reserve_tids), commits asked for
 * or held back (fs_commit_soon, fs_hold_commits), the orphans a
 * keep_orphans mount kept (fs_release_orphans), a full checkpoint
 * (fs_checkpoint), and the damaged set: inodes whose reads fail because
 * recovery could not restore their data (fs_mark_damaged).
 */
#include <stdlib.h>

#include "fs_internal.h"

/* ---- damaged inodes ------------------------------------------------------------------ */

int fs_mark_damaged(struct fs *fs, uint64_t ino)
{
	if (ino <= ANK_ROOT_INO || ino >= fs->sb.inode_count)
		return -EINVAL;
	fs_lock(fs);
	int rc = 0;
	if (!fs_is_damaged(fs, ino)) {
		if (fs->ndamaged == fs->capdamaged) {
			size_t n = fs->capdamaged ? fs->capdamaged * 2 : 8;
			uint64_t *t = realloc(fs->damaged, n * sizeof(*t));
			if (!t)
				rc = -ENOMEM;
			else {
				fs->damaged = t;
				fs->capdamaged = n;
			}
		}
		if (rc == 0)
			fs->damaged[fs->ndamaged++] = ino;
	}
	fs_unlock(fs);
	return rc;
}

bool fs_is_damaged(struct fs *fs, uint64_t ino)
{
	for (size_t k = 0; k < fs->ndamaged; k++)
		if (fs->damaged[k] == ino)
			return true;
	return false;
}

void fs_clear_damaged(struct fs *fs, uint64_t ino)
{
	for (size_t k = 0; k < fs->ndamaged; k++)
		if (fs->damaged[k] == ino) {
			fs->damaged[k] = fs->damaged[--fs->ndamaged];
			return;
		}
}

/* ---- recovery support: durability, orphans, checkpoint ------------------------------ */

int fs_sync_tid(struct fs *fs, uint64_t tid)
{
	fs_lock(fs);
	int rc = fs->read_only ? 0 : journal_force(fs, tid);
	fs_unlock(fs);
	return rc;
}

void fs_commit_soon(struct fs *fs)
{
	fs_lock(fs);
	if (fs->bg_running && !fs->bg_kick) {
		fs->bg_kick = true;
		pthread_cond_signal(&fs->bg_cond);
	}
	fs_unlock(fs);
}

uint64_t fs_running_tid(struct fs *fs)
{
	fs_lock(fs);
	journal_check(&fs->j);
	uint64_t t = fs->j.running_tid;
	/* Someone may now wait for t to become durable: the next commit gives
	 * it a record even if nothing joins it (journal_commit). */
	fs->j.running_seen = true;
	fs_unlock(fs);
	return t;
}

void fs_reserve_tids(struct fs *fs, uint64_t tid)
{
	fs_lock(fs);
	journal_check(&fs->j);
	if (fs->j.running_tid <= tid)
		fs->j.running_tid = tid + 1;
	journal_seal(&fs->j);
	fs_unlock(fs);
}

void fs_hold_commits(struct fs *fs, bool hold)
{
	fs_lock(fs);
	fs->commits_held = hold;
	if (!hold && fs->bg_running)
		pthread_cond_signal(&fs->bg_cond); /* a commit may be due */
	fs_unlock(fs);
}

uint64_t fs_durable_tid(struct fs *fs)
{
	fs_lock(fs);
	journal_check(&fs->j);
	uint64_t t = fs->j.committed_tid;
	fs_unlock(fs);
	return t;
}

uint64_t fs_committed_tid(struct fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	journal_check(&fs->j);
	uint64_t t = fs->j.committed_tid;
	pthread_mutex_unlock(&fs->lock);
	return t;
}

uint64_t fs_inode_change_tid(struct fs_client *c, uint64_t ino)
{
	struct fs *fs = c->fs;
	fs_lock(fs);
	struct inode *ip = inode_cached(fs, ino);
	/* Only clean inodes without dirty or in-flight pages are evicted, so an
	 * uncached inode's last change is at most in the transaction being
	 * committed (running_tid - 1; already durable unless a commit is in
	 * flight). */
	uint64_t t = ip ? ip->dirty_tid : fs->j.running_tid ? fs->j.running_tid - 1 : 0;
	if (t <= fs->j.committed_tid)
		t = 0;
	fs_unlock(fs);
	return t;
}

int fs_release_orphans(struct fs *fs)
{
	fs_lock(fs);
	int rc = fs_op_begin(fs);
	if (rc == 0)
		inode_release_orphans(fs);
	fs_unlock(fs);
	return rc;
}

int fs_checkpoint(struct fs *fs)
{
	fs_lock(fs);
	int rc = -EROFS;
	if (!fs->read_only) {
		rc = journal_force(fs, fs->j.running_tid);
		if (rc == 0)
			rc = journal_checkpoint(fs);
	}
	fs_unlock(fs);
	return rc;
}
