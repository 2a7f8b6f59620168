/*
 * locktab.c - the copy of every advisory lock that outlives the server: a
 * table of 64-byte slots in the stats memfd the supervisor owns
 * (src/ipc/control.h, docs/FORMAT.md). The core reports each change of a
 * file's locks (fs_set_lock_hook) under its lock, during the call that made
 * it, so the table is current before that call is logged or answered. A
 * change writes the file's new slots first, then frees its old ones: a
 * crash between leaves both, a superset of what was held, and the call was
 * neither logged nor answered, so it runs again on the next server and
 * gives the same result on that superset (a lock or unlock by the same
 * owner is idempotent; a close releases again). A server that takes over
 * puts back the locks whose owner it rebuilt: a client with an fd on the
 * file (POSIX locks go when any fd of the file is closed, so an owner
 * holding one always has such an fd) or a description still open (OFD and
 * flock). The others are dropped: their owner went while no server ran.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ipc/control.h"
#include "../util/crc32c.h"
#include "server.h"

static uint32_t slot_crc(const struct ank_lock_slot *s)
{
	struct ank_lock_slot t;
	memcpy(&t, s, sizeof(t));
	t.crc = 0;
	return crc32c(0, &t, sizeof(t));
}

static bool slot_valid(const struct ank_lock_slot *s)
{
	return s->magic == ANK_LOCK_MAGIC && slot_crc(s) == s->crc;
}

static void slot_free(struct server *srv, uint32_t i)
{
	__atomic_store_n(&srv->locktab[i].magic, 0, __ATOMIC_RELEASE);
	srv->lockslot_ino[i] = 0;
}

/* fs lock hook: the file's locks are now recs[0..n). */
static void locktab_hook(void *arg, uint64_t ino, const struct fs_lock_rec *recs, size_t n)
{
	struct server *srv = arg;
	if (n == SIZE_MAX) {
		fprintf(stderr, "ananke: server: out of memory copying the locks of inode %" PRIu64
				"; a crash now could lose a change of them\n",
			ino);
		return;
	}
	uint64_t batch = ++srv->lock_seq;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = srv->lockslot_next, tries = 0;
		while (srv->lockslot_ino[i] && tries++ < ANK_LOCKTAB_SLOTS)
			i = (i + 1) % ANK_LOCKTAB_SLOTS;
		if (srv->lockslot_ino[i]) {
			if (!srv->locktab_full_said) {
				srv->locktab_full_said = true;
				fprintf(stderr, "ananke: server: the lock table is full (%u locks): "
						"further locks hold but would not survive a crash\n",
					ANK_LOCKTAB_SLOTS);
			}
			break;
		}
		struct ank_lock_slot s = {.magic = ANK_LOCK_MAGIC,
					  .ino = ino,
					  .owner = recs[k].owner,
					  .start = recs[k].start,
					  .end = recs[k].end,
					  .pid = recs[k].pid,
					  .kind = recs[k].kind,
					  .type = recs[k].type,
					  .seq = batch,
					  .pos = (uint32_t)k};
		s.crc = slot_crc(&s);
		struct ank_lock_slot *d = &srv->locktab[i];
		uint32_t crc = s.crc;
		s.crc = ~crc; /* every field first, the checksum last */
		memcpy(d, &s, sizeof(s));
		__atomic_store_n(&d->crc, crc, __ATOMIC_RELEASE);
		srv->lockslot_ino[i] = ino;
		srv->lockslot_next = (i + 1) % ANK_LOCKTAB_SLOTS;
	}
	for (uint32_t i = 0; i < ANK_LOCKTAB_SLOTS; i++)
		if (srv->lockslot_ino[i] == ino && srv->locktab[i].seq != batch)
			slot_free(srv, i);
}

uint64_t locktab_ofd(const struct server_ring *r, int fd)
{
	if (fd < 0 || (size_t)fd >= r->nfds)
		return 0;
	plogsvc_fd_check(&r->fds[fd]);
	return r->fds[fd].live ? r->fds[fd].ofd : 0;
}

/* Put back one lock of the dead server: 1 done, 0 no owner left. */
static int restore_one(struct server *srv, const struct fs_lock_rec *rec)
{
	for (struct server_recovered *x = srv->recovered; x; x = x->next) {
		if (!x->client || (rec->kind == FS_LOCK_POSIX && x->client_id != rec->owner))
			continue;
		for (size_t k = 0; k < x->nfds; k++) {
			const struct server_fdstate *f = &x->fds[k];
			plogsvc_fd_check(f);
			if (!f->live || f->ino != rec->ino ||
			    (rec->kind != FS_LOCK_POSIX && f->ofd != rec->owner))
				continue;
			int rc = fs_lock_restore(x->client, (int)k, rec);
			if (rc == 0)
				return 1;
			fprintf(stderr, "ananke: server: cannot put back a lock on inode %" PRIu64
					": %s\n",
				rec->ino, strerror(-rc));
			return 0;
		}
	}
	return 0;
}

void locktab_start(struct server *srv)
{
	struct fs_lock_rec *v = NULL;
	uint32_t *pos = NULL;
	size_t n = 0, cap = 0, bad = 0;
	for (uint32_t i = 0; i < ANK_LOCKTAB_SLOTS; i++) {
		const struct ank_lock_slot *s = &srv->locktab[i];
		if (s->magic == 0)
			continue;
		if (!slot_valid(s)) {
			bad++;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct fs_lock_rec *t = realloc(v, nc * sizeof(*t));
			uint32_t *tp = t ? realloc(pos, nc * sizeof(*tp)) : NULL;
			if (tp)
				pos = tp;
			if (t)
				v = t;
			if (!t || !tp)
				break;
			cap = nc;
		}
		v[n] = (struct fs_lock_rec){.ino = s->ino, .owner = s->owner, .start = s->start,
					    .end = s->end, .pid = s->pid, .kind = s->kind,
					    .type = s->type};
		pos[n++] = s->pos;
	}
	/* back in each file's order (see ank_lock_slot.pos) */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && (v[j - 1].ino > v[j].ino ||
					     (v[j - 1].ino == v[j].ino && pos[j - 1] > pos[j]));
		     j--) {
			struct fs_lock_rec t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
			uint32_t tp = pos[j];
			pos[j] = pos[j - 1];
			pos[j - 1] = tp;
		}
	memset(srv->locktab, 0, (size_t)ANK_LOCKTAB_SLOTS * sizeof(*srv->locktab));
	memset(srv->lockslot_ino, 0, (size_t)ANK_LOCKTAB_SLOTS * sizeof(*srv->lockslot_ino));
	fs_set_lock_hook(srv->fs, locktab_hook, srv);
	size_t back = 0;
	for (size_t k = 0; k < n; k++)
		back += (size_t)restore_one(srv, &v[k]);
	if (n || bad)
		fprintf(stderr, "ananke: server: locks: %zu put back, %zu whose owner is gone "
				"dropped, %zu slots damaged\n",
			back, n - back, bad);
	free(v);
	free(pos);
}
