/*
 * dir.c - opendir/readdir/closedir of libananke. An ANK_DIR is an fd opened
 * O_RDONLY|O_DIRECTORY plus a buffer of packed struct ank_wire_dirent
 * records, refilled by one ANK_OP_READDIR request whenever it runs out; the
 * server keeps the directory position with the fd.
 *
 * The records come from the server, which is not trusted: each one is
 * checked to lie inside the buffer and to hold a sane name before it is
 * handed out; anything else ends the listing with EIO.
 *
 * As with readdir(3), one ANK_DIR must not be used by two threads at once;
 * different ANK_DIRs are independent. No rewinddir/telldir/seekdir: the
 * public API has none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../ipc/ring.h"
#include "client.h"

/* Entries per request are bounded by this buffer: at most 272 bytes per
 * entry, so at least 120 names per round trip. */
#define DIR_BUF_SIZE 32768u
_Static_assert(DIR_BUF_SIZE <= ANK_RING_DATA_PER_SLOT, "fits a slot");

struct ank_dir {
	int fd;
	int eof;             /* the server returned 0 entries */
	uint32_t left;       /* records not yet returned from buf */
	size_t pos;          /* byte offset of the next record in buf */
	long index;          /* entries returned so far (d_off) */
	struct dirent ent;
	uint8_t buf[DIR_BUF_SIZE];
};

ANK_API ANK_DIR *ank_opendir(const char *path)
{
	int fd = ank_open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return NULL;
	ANK_DIR *d = malloc(sizeof(*d));
	if (!d) {
		int saved = errno;
		ank_close(fd);
		errno = saved;
		return NULL;
	}
	memset(d, 0, offsetof(struct ank_dir, buf));
	d->fd = fd;
	return d;
}

/* Fetch the next batch. 1: records are there, 0: end of directory, -1:
 * errno set. */
static int refill(ANK_DIR *d)
{
	struct ankc_req rq = {
		.opcode = ANK_OP_READDIR, .fd = d->fd, .len = DIR_BUF_SIZE,
		.rdata = d->buf, .rdata_cap = DIR_BUF_SIZE, .rdata_all = 1,
	};
	if (ankc_enter() < 0)
		return -1;
	int64_t r = ankc_call(&rq);
	ankc_leave();
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	/* each record takes at least 16 bytes (12 + a name, padded to 8) */
	if (r > (int64_t)(DIR_BUF_SIZE / 16)) {
		errno = EIO;
		return -1;
	}
	d->left = (uint32_t)r;
	d->pos = 0;
	if (r == 0)
		d->eof = 1;
	return r > 0;
}

ANK_API struct dirent *ank_readdir(ANK_DIR *d)
{
	if (!d) {
		errno = EBADF;
		return NULL;
	}
	if (d->left == 0) {
		if (d->eof)
			return NULL;
		int rc = refill(d);
		if (rc <= 0)
			return NULL; /* end (errno untouched) or error */
	}

	struct ank_wire_dirent w;
	if (d->pos > DIR_BUF_SIZE - sizeof(w))
		goto garbage;
	memcpy(&w, d->buf + d->pos, sizeof(w));
	if (w.namelen == 0 || w.reclen < sizeof(w) + w.namelen ||
	    w.reclen > DIR_BUF_SIZE - d->pos)
		goto garbage;
	const char *name = (const char *)d->buf + d->pos + sizeof(w);
	if (memchr(name, '\0', w.namelen) || memchr(name, '/', w.namelen))
		goto garbage;

	struct dirent *e = &d->ent;
	e->d_ino = (ino_t)w.ino;
	e->d_type = w.type;
	e->d_reclen = sizeof(*e);
	e->d_off = ++d->index;
	memcpy(e->d_name, name, w.namelen);
	e->d_name[w.namelen] = '\0';
	d->pos += w.reclen;
	d->left--;
	return e;

garbage:
	/* The rest of this batch cannot be parsed; the listing is over. */
	d->left = 0;
	d->eof = 1;
	errno = EIO;
	return NULL;
}

ANK_API int ank_closedir(ANK_DIR *d)
{
	if (!d) {
		errno = EBADF;
		return -1;
	}
	int rc = ank_close(d->fd);
	free(d);
	return rc;
}
