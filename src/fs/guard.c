/*
 * guard.c - fail fast on memory corruption of cached file system state.
 *
 * A cached block (metadata buffer, data page, committed checkpoint image)
 * carries a CRC32C taken at its last legitimate change (sealed). Whoever
 * uses it again first checks it: a mismatch means a stray write (a bug, a
 * bit flip) changed it behind the file system's back. Nothing that reached
 * the cache that way may reach an application or the disk, so the process
 * stops at once; the service's recovery rebuilds the state from the disk,
 * the journal and the p-log, none of which trusts this memory.
 *
 * Where the seals are taken and checked (the invariant is in
 * docs/RECOVERY.md, "Corruption of cached state"):
 *   buffers      sealed when the last user puts them (buf_put), checked
 *                when a user takes an unused one (buf_get) and before a
 *                commit copies it into the journal; the pinned bitmap
 *                blocks around each bit change (alloc.c);
 *   data pages   sealed when added (zeros), after a read from disk, a
 *                write into them and a truncation that zeroes a tail;
 *                checked before they are read from (and again after the
 *                bytes were copied out), written into, and committed;
 *   checkpoint   sealed when a commit keeps a copy for the checkpoint,
 *   images       checked before it is written home or read back;
 *   inodes       (the on-disk image each cached inode keeps current)
 *                sealed when the operation that first took it ends,
 *                checked when an operation first takes it (lookup, fd,
 *                the commit's dirty list);
 *   superblock   (and the allocator's free counts) sealed likewise,
 *                checked when the first operation enters.
 * Every block's seal also covers where it belongs (guard_place: its block
 * number, a page's file and index, the pointer to its bytes), and the
 * lookup keys of buffers and pages are kept twice, checked by every lookup
 * that walks past them.
 * The superblock is sealed only when no operation is left, lock drops
 * inside commits included; an inode when the operation that first took it
 * ends (its list is per thread). Either way no seal is taken while a caller
 * may still change what it covers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

uint32_t guard_sum(const void *data)
{
	return crc32c(0x414E4B47u, data, ANK_BLOCK_SIZE);
}

uint32_t guard_sum_to_crc(uint32_t sum)
{
	/* guard_sum(d) = crc32c(seed, d) = zeros_4096(seed) ^ crc32c(0, d).
	 * (Taken each time, from the read-only tables, not kept in a
	 * variable: a stray write into a kept constant would make every
	 * answer's sum wrong, and every reader see damage, until a restart.) */
	return sum ^ crc32c_combine(0x414E4B47u, 0, ANK_BLOCK_SIZE);
}

/* A page of zeros, and guard_sum of it. */
static const uint8_t zero_page[ANK_BLOCK_SIZE] __attribute__((aligned(64)));

/*
 * CRC32C is affine over messages of one length: sum(a ^ b) = sum(a) ^
 * sum(b) ^ sum(zeros). So writing n bytes `now` at off over `was` changes
 * a page's sum by sum(delta) ^ sum(zeros), delta being was ^ now there and
 * zeros elsewhere; only those n bytes are read. A seal moved on this way
 * describes the page the write meant to leave: a flip anywhere in the page
 * while it was written (in bytes the write did not touch too) leaves the
 * page not matching it, and the next check stops the process.
 */
uint32_t guard_sum_change(const uint8_t *was, const uint8_t *now, size_t off, size_t n)
{
	/* (guard_sum of a page of zeros: taken each time, as above) */
	uint32_t zero_sum = crc32c_zeros(0x414E4B47u, ANK_BLOCK_SIZE);
	uint32_t c = crc32c(0x414E4B47u, zero_page, off);
	uint8_t delta[256];
	for (size_t k = 0; k < n;) {
		size_t m = ANK_MIN(n - k, sizeof(delta));
		for (size_t j = 0; j < m; j++)
			delta[j] = was[k + j] ^ now[k + j];
		c = crc32c(c, delta, m);
		k += m;
	}
	c = crc32c(c, zero_page, ANK_BLOCK_SIZE - off - n);
	return c ^ zero_sum;
}

uint32_t guard_place(uint64_t a, uint64_t b, uint64_t c, const void *data)
{
	uint64_t v[4] = {a, b, c, (uint64_t)(uintptr_t)data};
	return crc32c(0x504C4345u, v, sizeof(v));
}

void guard_fail(const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr,
		"ananke: cached %s %llu/%llu fails its checksum: memory corruption; stopping "
		"at once so that nothing it changed is used (recovery rebuilds it)\n",
		what, (unsigned long long)a, (unsigned long long)b);
	abort();
}

int guard_io(int rc, const char *what)
{
	if (rc == -EINVAL || rc == -EFAULT || rc == -EBADF) {
		fprintf(stderr,
			"ananke: device request for %s refused (%s): memory corruption (the file "
			"system makes only valid requests, so their arguments were damaged); "
			"stopping at once (recovery rebuilds what it held)\n",
			what, strerror(-rc));
		abort();
	}
	return rc;
}

static uint32_t state_sum(const struct fs *fs)
{
	uint32_t c = crc32c(0x414E4B53u, &fs->sb, sizeof(fs->sb));
	c = crc32c(c, &fs->al.free_blocks, sizeof(fs->al.free_blocks));
	return crc32c(c, &fs->al.free_inodes, sizeof(fs->al.free_inodes));
}

static uint32_t dinode_sum(const struct inode *ip)
{
	return crc32c(crc32c(0x414E4B49u, &ip->d, sizeof(ip->d)), ip->xa, sizeof(ip->xa));
}

/* Inodes this thread touched in its current section, sealed again when the
 * section ends (its unlock): a hot inode is checked between any two
 * operations on it, not only when the file system is idle. An inode stays
 * on the list of the thread that first touched it, so an operation whose
 * commit released the lock keeps its inodes unsealed until it is done.
 * Another thread's operation may take such an inode meanwhile (the lock
 * drops inside a commit) and go on changing it after the first section
 * ended: such a shared inode is not sealed when that section ends, it
 * waits on fs->guard.deferred, still touched, until no section is open.
 * (Sealed at once, it was sealed under a write that went on changing it:
 * a false alarm at its next use.) Touched outside any section (mount,
 * unmount), an inode is just unsealed. */
static __thread struct inode *tl_touched;
static __thread unsigned tl_depth;

static uint32_t geometry_sum(const struct ank_super *sb)
{
	/* block_size .. root_ino: fixed by mkfs */
	const uint8_t *from = (const uint8_t *)&sb->block_size;
	const uint8_t *to = (const uint8_t *)&sb->root_ino + sizeof(sb->root_ino);
	return crc32c(0x47454F4Du, from, (size_t)(to - from));
}

void guard_geometry_seal(struct fs *fs)
{
	fs->guard.geometry_sum = geometry_sum(&fs->sb);
}

void guard_geometry_check(const struct fs *fs)
{
	if (__builtin_expect(geometry_sum(&fs->sb) != fs->guard.geometry_sum, 0))
		guard_fail("superblock layout", fs->sb.itable_start, fs->sb.data_start);
}

void guard_enter(struct fs *fs)
{
	if (fs->guard.ops++ == 0 && fs->guard.state_sealed && state_sum(fs) != fs->guard.state_sum)
		guard_fail("superblock", 0, 0);
	fs->guard.state_sealed = false;
	tl_depth++;
}

static void seal_one(struct inode *ip)
{
	ip->tnext = ip->tprev = NULL;
	ip->thead = NULL;
	ip->touched = false;
	ip->shared = false;
	ip->dsum = dinode_sum(ip);
	/* Every change is followed by inode_dirty: a change after the last
	 * one is a stray write, never sealed. */
	if (ip->dsum != ip->dsum_dirty)
		guard_fail("inode (changed after its last legitimate change)", ip->ino, 0);
	ip->dsealed = true;
}

void guard_leave(struct fs *fs)
{
	if (tl_depth > 0 && --tl_depth == 0) {
		struct inode *ip;
		while ((ip = tl_touched) != NULL) {
			tl_touched = ip->tnext;
			if (tl_touched)
				tl_touched->tprev = NULL;
			if (ip->shared && fs->guard.ops > 1) {
				/* another section may still be changing it */
				ip->tprev = NULL;
				ip->tnext = fs->guard.deferred;
				if (ip->tnext)
					ip->tnext->tprev = ip;
				fs->guard.deferred = ip;
				ip->thead = &fs->guard.deferred;
				continue;
			}
			seal_one(ip);
		}
	}
	if (--fs->guard.ops > 0)
		return;
	struct inode *ip;
	while ((ip = fs->guard.deferred) != NULL) {
		fs->guard.deferred = ip->tnext;
		if (fs->guard.deferred)
			fs->guard.deferred->tprev = NULL;
		seal_one(ip);
	}
	guard_geometry_check(fs); /* (before a change is sealed in with the rest) */
	fs->guard.state_sum = state_sum(fs);
	fs->guard.state_sealed = true;
}

void guard_thread_done(void)
{
	tl_depth = 0;
	tl_touched = NULL;
}

void guard_inode_number(const struct inode *ip)
{
	if (__builtin_expect(ip->ino_check != ~ip->ino, 0))
		guard_fail("inode number", ip->ino, ~ip->ino_check);
}

void guard_inode_use(struct fs *fs, struct inode *ip)
{
	(void)fs;
	guard_inode_number(ip);
	if (ip->touched) {
		if (ip->thead != &tl_touched)
			ip->shared = true; /* (another section has it) */
		return;
	}
	if (ip->dsealed && dinode_sum(ip) != ip->dsum)
		guard_fail("inode", ip->ino, 0);
	ip->dsealed = false;
	if (tl_depth == 0)
		return;
	ip->dsum_dirty = dinode_sum(ip);
	ip->touched = true;
	ip->thead = &tl_touched;
	ip->tprev = NULL;
	ip->tnext = tl_touched;
	if (ip->tnext)
		ip->tnext->tprev = ip;
	tl_touched = ip;
}

void guard_inode_changed(struct inode *ip)
{
	if (ip->touched)
		ip->dsum_dirty = dinode_sum(ip);
}

void guard_inode_forget(struct fs *fs, struct inode *ip)
{
	(void)fs;
	if (!ip->touched)
		return;
	if (ip->tprev)
		ip->tprev->tnext = ip->tnext;
	else if (ip->thead)
		*ip->thead = ip->tnext;
	if (ip->tnext)
		ip->tnext->tprev = ip->tprev;
	ip->tnext = ip->tprev = NULL;
	ip->thead = NULL;
	ip->touched = false;
}
