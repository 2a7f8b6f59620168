/*
 * shm.c - the memfds the supervisor owns: the stats page handed to every
 * server as fd 4, and one ring per client (layout in src/ipc/ring.h). The
 * supervisor writes only the [supervisor] fields; of the slots it only reads
 * the state words (the watchdog: are requests pending?), never their content.
 *
 * Both memfds are sealed against shrinking and growing: the server and the
 * clients hold the same fds and are untrusted, and a memfd truncated under
 * the supervisor's mapping would turn its next read into SIGBUS.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../ipc/barrier.h"
#include "../plog/plog.h"
#include "sup_internal.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static int memfd_sized(const char *name, uint64_t size, int *out)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* ftruncate only sets the size: pages are allocated when first
	 * touched, so a 32 MiB ring costs what its users write into it. */
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static size_t stats_map_len(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t p = pg > 0 ? (size_t)pg : 4096;
	return (sizeof(struct ank_stats_page) + p - 1) / p * p;
}

int sup_stats_create(struct sup *s)
{
	int fd;
	int rc = memfd_sized("ananke-stats", ANK_STATS_MEMFD_SIZE, &fd);
	if (rc < 0)
		return rc;
	void *p = mmap(NULL, stats_map_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	s->stats = p;
	s->stats_fd = fd;
	ank_store_release(&s->stats->magic, ANK_STATS_MAGIC);
	return 0;
}

void sup_stats_destroy(struct sup *s)
{
	if (s->stats)
		munmap(s->stats, stats_map_len());
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	s->stats = NULL;
	s->stats_fd = -1;
}

int sup_ring_create(struct sup_conn *c, uint32_t epoch)
{
	int fd;
	int rc = memfd_sized("ananke-ring", ANK_RING_TOTAL_SIZE, &fd);
	if (rc < 0)
		return rc;
	/* The header and the slots (the watchdog reads their state words);
	 * the data buffers are the client's and the server's business. */
	struct ank_ring_header *h =
		mmap(NULL, ANK_RING_DATA_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* A fresh memfd reads as zeros: only the supervisor's fields are set. */
	h->magic = ANK_RING_MAGIC;
	h->version = ANK_RING_VERSION;
	h->header_size = ANK_RING_HEADER_SIZE;
	h->slot_size = ANK_RING_SLOT_SIZE;
	h->nslots = ANK_RING_NSLOTS;
	h->data_per_slot = ANK_RING_DATA_PER_SLOT;
	h->data_off = ANK_RING_DATA_OFF;
	h->total_size = ANK_RING_TOTAL_SIZE;
	h->client_id = c->id;
	h->client_pid = c->pid;
	ank_store_release(&h->epoch, epoch);
	c->ring_fd = fd;
	c->hdr = h;
	return 0;
}

/* Does the ring hold a request the server has not answered (a slot in
 * SUBMITTED or SERVER)? The slots are written by the client and the server:
 * only their state words are read, with acquire loads, and only compared. */
bool sup_ring_pending(const struct sup_conn *c)
{
	if (!c->hdr)
		return false;
	for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
		const struct ank_ring_slot *sl = ank_ring_slot((void *)c->hdr, i);
		uint32_t st = __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE);
		if (st == ANK_SLOT_SUBMITTED || st == ANK_SLOT_SERVER)
			return true;
	}
	return false;
}

void sup_ring_destroy(struct sup_conn *c)
{
	if (c->hdr)
		munmap(c->hdr, ANK_RING_DATA_OFF);
	if (c->ring_fd >= 0)
		close(c->ring_fd);
	c->hdr = NULL;
	c->ring_fd = -1;
}

/* The p-logs (recovery "ananke"): formatted here once; the supervisor keeps
 * them alive across server deaths and maps them read-only to report how full
 * they are (status); it never interprets their entries. */
int sup_plogs_create(struct sup *s)
{
	uint64_t copy = s->cfg.plog_size ? s->cfg.plog_size : PLOG_DEFAULT_COPY_SIZE;
	uint64_t size = PLOG_REGION_SIZE(copy);
	for (unsigned i = 0; i < s->cfg.workers; i++) {
		int fd;
		int rc = memfd_sized("ananke-plog", size, &fd);
		if (rc < 0)
			return rc;
		s->plog_fds[s->nplogs++] = fd;
		void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		rc = plog_format(p, (size_t)size, i);
		munmap(p, (size_t)size);
		if (rc < 0)
			return rc;
		p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		s->plog_maps[i] = p;
		s->plog_size = (size_t)size;
	}
	return 0;
}

void sup_plogs_destroy(struct sup *s)
{
	for (unsigned i = 0; i < s->nplogs; i++) {
		close(s->plog_fds[i]);
		if (s->plog_maps[i])
			munmap((void *)s->plog_maps[i], s->plog_size);
		s->plog_maps[i] = NULL;
	}
	s->nplogs = 0;
}
