/*
 * file.c - file data: the write-back page cache and the read, write and
 * truncate paths of regular files.
 *
 * Pages are 4 KiB, keyed by (inode, logical block). Blocks are allocated
 * when data is written (contiguous runs for large writes, so extents stay
 * few); the data itself reaches the disk at the next journal commit, before
 * the commit record (ordered mode). Holes are read as zero pages with no
 * block behind them. Clean pages are evicted in LRU order past the cache
 * bound; dirty pages leave the dirty list only through a commit.
 *
 * It does not write anything itself (the journal does) and knows nothing of
 * names or fds. Called with fs->lock held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

#define READ_BATCH 64u

/* Differs from the stored value after any one-bit change of ino or idx. */
static uint64_t page_key(uint64_t ino, uint32_t idx)
{
	return ~(ino ^ ((uint64_t)idx << 32 | idx));
}

static size_t phash(const struct pagecache *pc, uint64_t ino, uint32_t idx)
{
	uint64_t k = ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)idx * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(k >> 17) & (pc->nhash - 1);
}

int pcache_init(struct fs *fs, uint64_t limit, uint64_t dirty_limit)
{
	struct pagecache *pc = &fs->pc;
	pc->limit = limit ? limit : 16384;
	pc->dirty_limit = dirty_limit ? dirty_limit : pc->limit / 4;
	if (pc->dirty_limit > pc->limit)
		pc->dirty_limit = pc->limit;
	pc->nhash = 1;
	while (pc->nhash < pc->limit * 2)
		pc->nhash <<= 1;
	pc->hash = calloc(pc->nhash, sizeof(*pc->hash));
	if (!pc->hash)
		return -ENOMEM;
	pc->lru.lnext = pc->lru.lprev = &pc->lru;
	pc->dirty.dnext = pc->dirty.dprev = &pc->dirty;
	return 0;
}

/*
 * Page buffers come from 2 MiB anonymous mappings carved into 4 KiB pieces
 * and recycled through a free list: taking one costs no system call (a
 * malloc per page made glibc grow its arena with an mprotect per page), and
 * memory is touched once. The mappings live as long as the mount.
 */
struct pc_chunk {
	struct pc_chunk *next;
	void *mem;
};
#define PC_CHUNK_BYTES (2u << 20)

/* A chunk: 2 MiB, aligned to 2 MiB and marked for a transparent huge page
 * where the kernel offers them (one fault to fill it, one page to free: a
 * killed server's memory goes away faster, and recovery waits for that).
 * `populate`: fault it in now. MAP_FAILED on failure, errno set. */
static void *chunk_map(bool populate)
{
	size_t len = 2 * (size_t)PC_CHUNK_BYTES;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t a = ((uintptr_t)m + PC_CHUNK_BYTES - 1) & ~(uintptr_t)(PC_CHUNK_BYTES - 1);
	uint8_t *c = (uint8_t *)a;
	if (c > m)
		munmap(m, (size_t)(c - m));
	if (c + PC_CHUNK_BYTES < m + len)
		munmap(c + PC_CHUNK_BYTES, (size_t)(m + len - (c + PC_CHUNK_BYTES)));
#ifdef MADV_HUGEPAGE
	madvise(c, PC_CHUNK_BYTES, MADV_HUGEPAGE);
#endif
	if (populate) {
#ifdef MADV_POPULATE_WRITE
		if (madvise(c, PC_CHUNK_BYTES, MADV_POPULATE_WRITE) != 0)
#endif
			memset(c, 0, PC_CHUNK_BYTES);
	}
	return c;
}

/* Chunks made and touched ahead of a mount (fs_reserve_memory), taken
 * first by any mount of the process. */
static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_chunk *reserve;

int fs_reserve_memory(uint64_t bytes)
{
	for (uint64_t done = 0; done < bytes; done += PC_CHUNK_BYTES) {
		struct pc_chunk *c = malloc(sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->mem = chunk_map(true);
		if (c->mem == MAP_FAILED) {
			int rc = -errno;
			free(c);
			return rc;
		}
		pthread_mutex_lock(&reserve_lock);
		c->next = reserve;
		reserve = c;
		pthread_mutex_unlock(&reserve_lock);
	}
	return 0;
}

void fs_release_reserve(void)
{
	pthread_mutex_lock(&reserve_lock);
	while (reserve) {
		struct pc_chunk *c = reserve;
		reserve = c->next;
		munmap(c->mem, PC_CHUNK_BYTES);
		free(c);
	}
	pthread_mutex_unlock(&reserve_lock);
}

static void *pagebuf_get(struct pagecache *pc)
{
	if (!pc->free_bufs) {
		struct pc_chunk *c = NULL;
		pthread_mutex_lock(&reserve_lock); /* once per 512 pages */
		c = reserve;
		if (c)
			reserve = c->next;
		pthread_mutex_unlock(&reserve_lock);
		if (!c) {
			c = malloc(sizeof(*c));
			if (!c)
				return NULL;
			c->mem = chunk_map(false);
			if (c->mem == MAP_FAILED) {
				free(c);
				return NULL;
			}
		}
		c->next = pc->chunks;
		pc->chunks = c;
		for (size_t off = PC_CHUNK_BYTES; off > 0; off -= ANK_BLOCK_SIZE) {
			void **b = (void **)((uint8_t *)c->mem + off - ANK_BLOCK_SIZE);
			*b = pc->free_bufs;
			pc->free_bufs = b;
		}
	}
	void **b = pc->free_bufs;
	pc->free_bufs = *b;
	return b;
}

static void pagebuf_put(struct pagecache *pc, void *buf)
{
	*(void **)buf = pc->free_bufs;
	pc->free_bufs = buf;
}

void pcache_destroy(struct fs *fs)
{
	free(fs->pc.hash);
	fs->pc.hash = NULL;
	free(fs->pc.bounce);
	fs->pc.bounce = NULL;
	while (fs->pc.chunks) {
		struct pc_chunk *c = fs->pc.chunks;
		fs->pc.chunks = c->next;
		munmap(c->mem, PC_CHUNK_BYTES);
		free(c);
	}
	fs->pc.free_bufs = NULL;
}

static void list_del_lru(struct page *p)
{
	if (p->lnext) {
		p->lnext->lprev = p->lprev;
		p->lprev->lnext = p->lnext;
		p->lnext = p->lprev = NULL;
	}
}

static void lru_add(struct pagecache *pc, struct page *p)
{
	p->lprev = pc->lru.lprev;
	p->lnext = &pc->lru;
	pc->lru.lprev->lnext = p;
	pc->lru.lprev = p;
}

static struct page *page_find(struct fs *fs, uint64_t ino, uint32_t idx)
{
	struct pagecache *pc = &fs->pc;
	for (struct page *p = pc->hash[phash(pc, ino, idx)]; p; p = p->hnext) {
		/* (as buf_find: a page whose key a stray write changed) */
		if (__builtin_expect(p->key_check != page_key(p->ino, p->idx), 0))
			guard_fail("data page key", p->ino, p->idx);
		if (p->ino == ino && p->idx == idx)
			return p;
	}
	return NULL;
}

static void page_set_dirty(struct fs *fs, struct page *p)
{
	struct pagecache *pc = &fs->pc;
	if (p->dirty)
		return;
	list_del_lru(p);
	p->writeback = false; /* the commit in flight no longer owns its state */
	p->dirty = true;
	p->dprev = pc->dirty.dprev;
	p->dnext = &pc->dirty;
	pc->dirty.dprev->dnext = p;
	pc->dirty.dprev = p;
	pc->ndirty++;
	p->owner->dirty_tid = fs->j.running_tid;
}

void page_start_writeback(struct fs *fs, struct page *p)
{
	if (!p->dirty)
		return;
	p->dnext->dprev = p->dprev;
	p->dprev->dnext = p->dnext;
	p->dnext = p->dprev = NULL;
	p->dirty = false;
	p->writeback = true;
	fs->pc.ndirty--;
}

void page_end_writeback(struct fs *fs, uint64_t ino, uint32_t idx)
{
	struct page *p = page_find(fs, ino, idx);
	if (!p || !p->writeback)
		return;
	p->writeback = false;
	if (!p->dirty)
		lru_add(&fs->pc, p);
}


static void page_remove(struct fs *fs, struct page *p)
{
	struct pagecache *pc = &fs->pc;
	if (p->dirty) {
		p->dnext->dprev = p->dprev;
		p->dprev->dnext = p->dnext;
		pc->ndirty--;
	}
	list_del_lru(p);
	struct page **pp = &pc->hash[phash(pc, p->ino, p->idx)];
	while (*pp && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = p->hnext;
	if (p->iprev)
		p->iprev->inext = p->inext;
	else
		p->owner->pages = p->inext;
	if (p->inext)
		p->inext->iprev = p->iprev;
	p->owner->npages--;
	pc->count--;
	pagebuf_put(pc, p->data);
	free(p);
}

/* A page's seal covers its bytes, its file and index, its device block and
 * the pointer to its bytes (guard.c). Every cached page is sealed, except
 * while pages_get reads it in. */
static void page_seal(struct page *p)
{
	guard_seal(&p->csum, &p->sealed, p->data, guard_place(p->ino, p->idx, p->pblk, p->data));
}

uint32_t page_verify(const struct page *p)
{
	if (!p->sealed)
		guard_fail("data page (unsealed)", p->ino, p->idx);
	return guard_check("data page", p->ino, p->idx, p->csum, p->sealed, p->data,
			   guard_place(p->ino, p->idx, p->pblk, p->data));
}

/* Write n bytes at off into a sealed page. Its seal is carried over, not
 * taken again from the result: from the bytes the page had there and the
 * bytes written (guard_sum_change), or for a whole page from the source
 * before the copy. So a flip that lands in the page while it is written is
 * caught by the next check, never sealed in. */
static void page_write(struct page *p, size_t off, const uint8_t *src, size_t n)
{
	if (n == ANK_BLOCK_SIZE) {
		uint32_t sum = guard_sum(src);
		memcpy(p->data, src, n);
		p->csum = sum ^ guard_place(p->ino, p->idx, p->pblk, p->data);
	} else {
		p->csum ^= guard_sum_change(p->data + off, src, off, n);
		memcpy(p->data + off, src, n);
	}
}

/* New page, zero-filled, clean, sealed, on the LRU. NULL on ENOMEM. */
static struct page *page_add(struct fs *fs, struct inode *ip, uint32_t idx, uint64_t pblk)
{
	struct pagecache *pc = &fs->pc;
	struct page *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->data = pagebuf_get(pc);
	if (!p->data) {
		free(p);
		return NULL;
	}
	memset(p->data, 0, ANK_BLOCK_SIZE);
	p->ino = ip->ino;
	p->idx = idx;
	p->key_check = page_key(p->ino, p->idx);
	p->pblk = pblk;
	page_seal(p);
	p->owner = ip;
	size_t h = phash(pc, ip->ino, idx);
	p->hnext = pc->hash[h];
	pc->hash[h] = p;
	p->inext = ip->pages;
	if (ip->pages)
		ip->pages->iprev = p;
	ip->pages = p;
	ip->npages++;
	pc->count++;
	lru_add(pc, p);
	return p;
}

/* Evict clean pages, oldest first, until within the bound. */
void pcache_shrink(struct fs *fs)
{
	struct pagecache *pc = &fs->pc;
	while (pc->count > pc->limit && pc->lru.lnext != &pc->lru) {
		struct page *p = pc->lru.lnext;
		/* (only clean pages are on the LRU: one that is not, put there
		 * by a stray write into a link, would lose its data) */
		if (p->dirty || p->writeback)
			guard_fail("data page on the LRU while dirty", p->ino, p->idx);
		page_remove(fs, p);
	}
}

void file_drop_pages(struct fs *fs, struct inode *ip)
{
	while (ip->pages)
		page_remove(fs, ip->pages);
}

static void drop_pages_from(struct fs *fs, struct inode *ip, uint32_t from)
{
	/* The whole list, as long as its count says: a page a stray write
	 * into a link dropped from it would survive the truncation, and a
	 * later extension would read its old bytes where zeros belong. */
	uint64_t n = ip->npages, seen = 0;
	struct page *p = ip->pages;
	while (p) {
		if (seen++ == n || p->owner != ip)
			guard_fail("list of an inode's pages", ip->ino, seen);
		struct page *next = p->inext;
		if (p->idx >= from)
			page_remove(fs, p);
		p = next;
	}
	if (seen != n)
		guard_fail("list of an inode's pages", ip->ino, seen);
}

/*
 * Make pages [first, last] of ip present and up to date; out[i] receives page
 * first+i. Missing mapped pages are read in batches with several requests in
 * flight. `skip_read_mask` bit 0/1: the first/last page will be fully
 * overwritten, do not read it (bit 2: nor the pages between);
 * PAGES_CHECKED_AFTER: the caller checks every page after using it, so
 * cached pages are not checked here too.
 */
#define PAGES_CHECKED_AFTER 8u

/* Read n pages from the device, all requests in flight at once. Pages on
 * adjacent blocks are read as one request into the bounce buffer and
 * copied out (a copy costs far less than a device request per block). */
static int read_pages(struct fs *fs, struct page **rd, unsigned n)
{
	struct bdev_io ios[READ_BATCH];
	unsigned nio = 0;
	if (!fs->pc.bounce)
		fs->pc.bounce = ank_aligned_alloc((size_t)READ_BATCH * ANK_BLOCK_SIZE);
	for (unsigned k = 0, used = 0; k < n;) {
		unsigned run = 1;
		while (fs->pc.bounce && k + run < n && rd[k + run]->pblk == rd[k]->pblk + run)
			run++;
		if (run == 1) {
			ios[nio++] = (struct bdev_io){BDEV_READ, rd[k]->pblk, 1, rd[k]->data, 0};
		} else {
			ios[nio++] = (struct bdev_io){BDEV_READ, rd[k]->pblk, run,
						      fs->pc.bounce + (size_t)used * ANK_BLOCK_SIZE, 0};
			used += run;
		}
		k += run;
	}
	int rc = guard_io(bdev_submit(fs->dev, ios, nio), "file data");
	if (rc < 0)
		return rc;
	for (unsigned i = 0, k = 0; i < nio; k += ios[i].nblk, i++)
		if (ios[i].nblk > 1)
			for (unsigned b = 0; b < ios[i].nblk; b++)
				memcpy(rd[k + b]->data, (uint8_t *)ios[i].buf + (size_t)b * ANK_BLOCK_SIZE,
				       ANK_BLOCK_SIZE);
	return 0;
}

static int pages_get(struct fs *fs, struct inode *ip, uint32_t first, uint32_t last,
		     struct page **out, unsigned skip_read_mask)
{
	struct extent_io io;
	struct page *rd[READ_BATCH]; /* pages to read, in file order */
	unsigned nio = 0;
	int rc = 0;
	fs_extent_io(fs, &io);
	for (uint64_t idx = first; idx <= last; idx++) {
		struct page *p = page_find(fs, ip->ino, (uint32_t)idx);
		if (p && !(skip_read_mask & PAGES_CHECKED_AFTER))
			page_verify(p);
		if (!p) {
			uint64_t pblk;
			uint32_t run;
			rc = extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)idx,
					   &pblk, &run);
			if (rc < 0)
				goto flush;
			if (rc == 1 && (pblk < fs->sb.data_start || pblk >= fs->sb.block_count)) {
				rc = ANK_CORRUPT("file extent points outside the data region");
				goto flush;
			}
			p = page_add(fs, ip, (uint32_t)idx, rc == 1 ? pblk : 0);
			if (!p) {
				rc = -ENOMEM;
				goto flush;
			}
			bool full = (idx == first && (skip_read_mask & 1)) ||
				    (idx == last && (skip_read_mask & 2)) ||
				    (idx != first && idx != last && (skip_read_mask & 4));
			if (p->pblk && !full) {
				p->sealed = false; /* sealed again once read */
				rd[nio++] = p;
				if (nio == READ_BATCH) {
					rc = read_pages(fs, rd, nio);
					nio = 0;
					if (rc < 0)
						goto fail;
				}
			}
		}
		out[idx - first] = p;
	}
	rc = 0;
flush:
	if (nio) {
		int rc2 = read_pages(fs, rd, nio);
		if (rc == 0)
			rc = rc2;
	}
	if (rc >= 0) {
		/* pages just read (or zeroed) are what the file holds */
		for (uint64_t idx = first; idx <= last; idx++)
			if (!out[idx - first]->sealed)
				page_seal(out[idx - first]);
		return 0;
	}
fail:
	/* Pages whose read failed must not stay cached as zeros. */
	for (uint64_t idx = first; idx <= last; idx++) {
		struct page *p = page_find(fs, ip->ino, (uint32_t)idx);
		if (p && !p->dirty && p->pblk)
			page_remove(fs, p);
	}
	return rc;
}

/* The bytes are copied out of pages checked after the copy (a page
 * damaged before or during it fails that check: the process stops), so
 * nothing damaged is passed on. *sum (when asked) is the CRC32C of the
 * bytes taken from the pages themselves, not from buf: whoever receives buf
 * through other memory can tell whether it arrived as it left. */
ssize_t file_read(struct fs *fs, struct inode *ip, void *buf, size_t n, uint64_t off,
		  uint32_t *sum)
{
	if (sum)
		*sum = 0;
	if (off >= ip->d.size || n == 0)
		return 0;
	if (n > ip->d.size - off)
		n = (size_t)(ip->d.size - off);
	size_t done = 0;
	struct page *pages[READ_BATCH];
	while (done < n) {
		uint64_t pos = off + done;
		uint32_t first = (uint32_t)(pos >> ANK_BLOCK_SHIFT);
		uint64_t end = ANK_MIN(off + n, ((uint64_t)first + READ_BATCH) << ANK_BLOCK_SHIFT);
		uint32_t last = (uint32_t)((end - 1) >> ANK_BLOCK_SHIFT);
		/* Sequential (this read goes on where the last one ended) and
		 * not cached: the rest of the batch is read with it, in one
		 * device request where the blocks are adjacent. */
		uint32_t get_last = last;
		if (pos == ip->ra_next && !page_find(fs, ip->ino, last))
			get_last = (uint32_t)ANK_MIN((uint64_t)first + READ_BATCH - 1,
						     (ip->d.size - 1) >> ANK_BLOCK_SHIFT);
		int rc = pages_get(fs, ip, first, get_last, pages, PAGES_CHECKED_AFTER);
		if (rc < 0)
			return done ? (ssize_t)done : rc;
		for (uint32_t i = 0; i <= last - first; i++) {
			uint64_t pstart = (uint64_t)(first + i) << ANK_BLOCK_SHIFT;
			uint64_t from = ANK_MAX(pos, pstart);
			uint64_t to = ANK_MIN(end, pstart + ANK_BLOCK_SIZE);
			memcpy((uint8_t *)buf + (from - off), pages[i]->data + (from - pstart),
			       (size_t)(to - from));
		}
		/* Each page is checked against its seal after the copy; a whole
		 * page's sum comes from that check, which read its bytes. */
		for (uint32_t i = 0; i <= last - first; i++) {
			uint32_t g = page_verify(pages[i]);
			if (!sum)
				continue;
			uint64_t pstart = (uint64_t)(first + i) << ANK_BLOCK_SHIFT;
			uint64_t from = ANK_MAX(pos, pstart);
			uint64_t to = ANK_MIN(end, pstart + ANK_BLOCK_SIZE);
			if (to - from == ANK_BLOCK_SIZE)
				*sum = crc32c_combine(*sum, guard_sum_to_crc(g), ANK_BLOCK_SIZE);
			else
				*sum = crc32c(*sum, pages[i]->data + (from - pstart),
					      (size_t)(to - from));
		}
		done = (size_t)(end - off);
		ip->ra_next = end;
		pcache_shrink(fs);
	}
	return (ssize_t)done;
}

/* Allocate blocks for every hole in [first, last], in contiguous runs. */
static int allocate_range(struct fs *fs, struct inode *ip, uint32_t first, uint32_t last)
{
	struct extent_io io;
	fs_extent_io(fs, &io);
	uint64_t idx = first;
	while (idx <= last) {
		uint64_t pblk;
		uint32_t run;
		int rc = extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)idx, &pblk,
				       &run);
		if (rc < 0)
			return rc;
		uint64_t want = ANK_MIN((uint64_t)run, (uint64_t)last - idx + 1);
		if (rc == 1) {
			idx += want;
			continue;
		}
		/* Hole: place it after the previous block of the file if any. */
		uint64_t goal = 0;
		if (idx > 0) {
			uint64_t prev;
			uint32_t prun;
			if (extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino,
					  (uint32_t)idx - 1, &prev, &prun) == 1)
				goal = prev + 1;
		}
		while (want > 0) {
			uint64_t start;
			uint32_t got;
			uint32_t ask = (uint32_t)ANK_MIN(want, (uint64_t)ANK_EXTENT_MAX_LEN);
			rc = alloc_blocks(fs, goal, ask, &start, &got);
			if (rc < 0)
				return rc;
			int64_t delta = 0;
			rc = extent_insert(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)idx,
					   start, got, &delta);
			if (rc < 0) {
				free_blocks(fs, start, got);
				return rc;
			}
			ip->d.blocks += (uint64_t)((int64_t)got + delta);
			inode_dirty(fs, ip);
			/* A new block's old content must never be read or left
			 * on disk: give it a zeroed dirty page now (or map the
			 * cached hole page, which holds zeros). */
			for (uint32_t k = 0; k < got; k++) {
				struct page *p = page_find(fs, ip->ino, (uint32_t)(idx + k));
				if (p)
					page_verify(p);
				else
					p = page_add(fs, ip, (uint32_t)(idx + k), start + k);
				if (!p) {
					fs_abort(fs, -ENOMEM);
					return -ENOMEM;
				}
				p->pblk = start + k;
				page_seal(p);
				page_set_dirty(fs, p);
			}
			idx += got;
			want -= got;
			goal = start + got;
		}
	}
	return 0;
}

/* A write that failed after allocating blocks past EOF gives them back, so
 * no block is mapped beyond the size. */
static void trim_beyond_eof(struct fs *fs, struct inode *ip)
{
	uint64_t keep = ANK_DIV_ROUND_UP(ip->d.size, (uint64_t)ANK_BLOCK_SIZE);
	struct extent_io io;
	fs_extent_io(fs, &io);
	drop_pages_from(fs, ip, (uint32_t)keep);
	int64_t delta = 0;
	int rc = extent_truncate(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)keep, &delta);
	ip->d.blocks = (uint64_t)((int64_t)ip->d.blocks + delta);
	inode_dirty(fs, ip);
	if (rc < 0)
		fs_abort(fs, rc);
}

ssize_t file_write(struct fs *fs, struct inode *ip, const void *buf, size_t n, uint64_t off,
		   uint32_t *sum)
{
	if (n == 0)
		return 0;
	if (off >= ANK_MAX_FILE_SIZE)
		return -EFBIG;
	if (n > ANK_MAX_FILE_SIZE - off)
		n = (size_t)(ANK_MAX_FILE_SIZE - off);
	size_t done = 0;
	struct page *pages[READ_BATCH];
	int err = 0;
	while (done < n) {
		uint64_t pos = off + done;
		uint32_t first = (uint32_t)(pos >> ANK_BLOCK_SHIFT);
		uint64_t end = ANK_MIN(off + n, ((uint64_t)first + READ_BATCH) << ANK_BLOCK_SHIFT);
		uint32_t last = (uint32_t)((end - 1) >> ANK_BLOCK_SHIFT);
		int rc = allocate_range(fs, ip, first, last);
		if (rc < 0) {
			err = rc;
			trim_beyond_eof(fs, ip);
			break;
		}
		/* Pages fully overwritten need no read; partly written ones keep
		 * the rest of their content (newly allocated blocks already have
		 * zeroed pages, see allocate_range). */
		unsigned skip = 4;
		if ((pos & (ANK_BLOCK_SIZE - 1)) == 0 &&
		    end >= ((uint64_t)first << ANK_BLOCK_SHIFT) + ANK_BLOCK_SIZE)
			skip |= 1;
		if ((end & (ANK_BLOCK_SIZE - 1)) == 0 &&
		    pos <= ((uint64_t)last << ANK_BLOCK_SHIFT))
			skip |= 2;
		rc = pages_get(fs, ip, first, last, pages, skip);
		if (rc < 0) {
			err = rc;
			trim_beyond_eof(fs, ip);
			break;
		}
		for (uint32_t i = 0; i <= last - first; i++) {
			uint64_t pstart = (uint64_t)(first + i) << ANK_BLOCK_SHIFT;
			uint64_t from = ANK_MAX(pos, pstart);
			uint64_t to = ANK_MIN(end, pstart + ANK_BLOCK_SIZE);
			struct page *p = pages[i];
			page_write(p, (size_t)(from - pstart), (const uint8_t *)buf + (from - off),
				   (size_t)(to - from));
			if (sum) /* the source, after the copy */
				*sum = crc32c(*sum, (const uint8_t *)buf + (from - off),
					      (size_t)(to - from));
			page_set_dirty(fs, p);
		}
		done = (size_t)(end - off);
		if (off + done > ip->d.size)
			ip->d.size = off + done;
	}
	if (done > 0) {
		inode_touch(ip, true, true);
		inode_dirty(fs, ip);
	}
	pcache_shrink(fs);
	return done ? (ssize_t)done : err;
}

int file_truncate(struct fs *fs, struct inode *ip, uint64_t size)
{
	if (size > ANK_MAX_FILE_SIZE)
		return -EFBIG;
	uint64_t old = ip->d.size;
	/* The bytes between the smaller size and the end of its block must read
	 * as zeros from now on, on disk too. */
	uint64_t edge = ANK_MIN(size, old);
	if (size != old && (edge & (ANK_BLOCK_SIZE - 1))) {
		uint32_t idx = (uint32_t)(edge >> ANK_BLOCK_SHIFT);
		struct page *p;
		int rc = pages_get(fs, ip, idx, idx, &p, 0);
		if (rc < 0)
			return rc;
		size_t from = (size_t)(edge & (ANK_BLOCK_SIZE - 1));
		static const uint8_t zeros[ANK_BLOCK_SIZE];
		page_write(p, from, zeros, ANK_BLOCK_SIZE - from);
		if (p->pblk)
			page_set_dirty(fs, p);
	}
	if (size < old) {
		uint64_t keep = ANK_DIV_ROUND_UP(size, (uint64_t)ANK_BLOCK_SIZE);
		drop_pages_from(fs, ip, (uint32_t)ANK_MIN(keep, (uint64_t)UINT32_MAX));
		struct extent_io io;
		fs_extent_io(fs, &io);
		int64_t delta = 0;
		int rc = extent_truncate(&io, inode_root(ip), (uint32_t)ip->ino,
					 (uint32_t)ANK_MIN(keep, (uint64_t)UINT32_MAX), &delta);
		ip->d.blocks = (uint64_t)((int64_t)ip->d.blocks + delta);
		if (rc < 0)
			return rc;
	}
	ip->d.size = size;
	inode_touch(ip, true, true);
	inode_dirty(fs, ip);
	return 0;
}

int file_allocate(struct fs *fs, struct inode *ip, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	uint64_t first = off >> ANK_BLOCK_SHIFT, last = (off + len - 1) >> ANK_BLOCK_SHIFT;
	/* in batches, so that the zeroed pages of new blocks are written back
	 * as they go rather than all held at once */
	for (uint64_t b = first; b <= last; b += READ_BATCH) {
		uint64_t e = ANK_MIN(last, b + READ_BATCH - 1);
		int rc = allocate_range(fs, ip, (uint32_t)b, (uint32_t)e);
		if (rc < 0) {
			trim_beyond_eof(fs, ip); /* nothing stays mapped past EOF */
			return rc;
		}
		pcache_shrink(fs);
	}
	return 0;
}

/* Bytes [from, to) of one block read as zeros from now on (a hole stays a
 * hole). */
static int zero_in_block(struct fs *fs, struct inode *ip, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[ANK_BLOCK_SIZE];
	uint32_t idx = (uint32_t)(from >> ANK_BLOCK_SHIFT);
	struct page *p;
	int rc = pages_get(fs, ip, idx, idx, &p, 0);
	if (rc < 0)
		return rc;
	page_write(p, (size_t)(from & (ANK_BLOCK_SIZE - 1)), zeros, (size_t)(to - from));
	if (p->pblk)
		page_set_dirty(fs, p);
	return 0;
}

int file_punch(struct fs *fs, struct inode *ip, uint64_t off, uint64_t len)
{
	uint64_t size = ip->d.size;
	if (off >= size || len == 0)
		return 0;
	uint64_t end = ANK_MIN(off + len, size);
	/* whole blocks to unmap: [b0, b1); past the size a block holds zeros
	 * only, so a range that reaches the size takes its last block too */
	uint64_t b0 = ANK_DIV_ROUND_UP(off, (uint64_t)ANK_BLOCK_SIZE);
	uint64_t b1 = end == size ? ANK_DIV_ROUND_UP(size, (uint64_t)ANK_BLOCK_SIZE)
				  : end >> ANK_BLOCK_SHIFT;
	int rc = 0;
	if (b1 <= b0) {
		/* inside one block, or across one block boundary */
		uint64_t mid = ANK_MIN(end, b0 << ANK_BLOCK_SHIFT);
		if (mid > off)
			rc = zero_in_block(fs, ip, off, mid);
		if (rc == 0 && end > ANK_MAX(mid, off))
			rc = zero_in_block(fs, ip, ANK_MAX(mid, off), end);
		return rc;
	}
	if (off < (b0 << ANK_BLOCK_SHIFT))
		rc = zero_in_block(fs, ip, off, b0 << ANK_BLOCK_SHIFT);
	if (rc == 0 && end > (b1 << ANK_BLOCK_SHIFT))
		rc = zero_in_block(fs, ip, b1 << ANK_BLOCK_SHIFT, end);
	if (rc < 0)
		return rc;
	struct page *p = ip->pages;
	while (p) {
		struct page *n = p->inext;
		if (p->idx >= b0 && p->idx < b1)
			page_remove(fs, p);
		p = n;
	}
	struct extent_io io;
	fs_extent_io(fs, &io);
	int64_t delta = 0;
	rc = extent_punch(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)b0,
			  (uint32_t)ANK_MIN(b1, (uint64_t)UINT32_MAX), &delta);
	ip->d.blocks = (uint64_t)((int64_t)ip->d.blocks + delta);
	inode_dirty(fs, ip);
	return rc;
}

int file_seek(struct fs *fs, struct inode *ip, uint64_t off, bool hole, uint64_t *out)
{
	struct extent_io io;
	fs_extent_io(fs, &io);
	uint64_t size = ip->d.size;
	uint64_t lblk = off >> ANK_BLOCK_SHIFT;
	uint64_t end = ANK_DIV_ROUND_UP(size, (uint64_t)ANK_BLOCK_SIZE);
	while (lblk < end) {
		uint64_t pblk;
		uint32_t run;
		int rc = extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino, (uint32_t)lblk, &pblk,
				       &run);
		if (rc < 0)
			return rc;
		if ((rc == 1) != hole) {
			uint64_t at = ANK_MAX(off, lblk << ANK_BLOCK_SHIFT);
			*out = ANK_MIN(at, size);
			return 0;
		}
		lblk += run;
	}
	if (!hole)
		return -ENXIO;
	*out = size; /* the hole every file has at its end */
	return 0;
}

int file_map_block(struct fs *fs, struct inode *ip, uint32_t lblk, bool create, uint64_t *pblk)
{
	struct extent_io io;
	fs_extent_io(fs, &io);
	uint32_t run;
	int rc = extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino, lblk, pblk, &run);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		if (*pblk < fs->sb.data_start || *pblk >= fs->sb.block_count)
			return ANK_CORRUPT("extent points outside the data region");
		return 0;
	}
	if (!create)
		return -ENOENT;
	uint64_t goal = 0, prev;
	if (lblk > 0 && extent_lookup(&io, inode_root(ip), (uint32_t)ip->ino, lblk - 1, &prev,
				      &run) == 1)
		goal = prev + 1;
	uint64_t start;
	uint32_t got;
	rc = alloc_blocks(fs, goal, 1, &start, &got);
	if (rc < 0)
		return rc;
	int64_t delta = 0;
	rc = extent_insert(&io, inode_root(ip), (uint32_t)ip->ino, lblk, start, 1, &delta);
	if (rc < 0) {
		free_blocks(fs, start, 1);
		return rc;
	}
	ip->d.blocks += (uint64_t)(1 + delta);
	inode_dirty(fs, ip);
	*pblk = start;
	return 0;
}
