/*
 * plog_internal.h - what the p-log's files share and nobody else uses: the
 * checked view of a region's header, the record checks used by both the
 * writer (reclaim, attach, clear) and the reader (scan), and the write
 * window of the protection key. Not part of the module's contract.
 */
#ifndef ANK_PLOG_INTERNAL_H
#define ANK_PLOG_INTERNAL_H

#include <sys/mman.h>

#include "plog.h"

/* A region's header after validation, plus pointers to its two copies. */
struct plog_geom {
	const uint8_t *copy[2];
	uint64_t copy_size;
	uint32_t seed;
	uint32_t generation;
	uint32_t worker;
	struct plog_pos pos; /* newest valid position record */
};

/* Validate the header of the region at mem (size bytes): 0, -EINVAL,
 * -EPROTO (not a p-log of this layout), -EUCLEAN (header corrupt). */
int plog_geom_load(const void *mem, size_t size, struct plog_geom *g);

/* CRC32C seeded with `seed` over `len` bytes of a record whose crc field is
 * at offset 4, that field counted as zero. */
uint32_t plog_csum(uint32_t seed, const void *rec, size_t len);

/* CRC32C seed 0 of a struct plog_info, its crc field counted as zero. */
uint32_t plog_info_csum(const struct plog_info *info);

uint32_t plog_seed_of(uint64_t salt);

enum plog_rec_kind { PLOG_REC_NONE = 0, PLOG_REC_ENTRY = 1, PLOG_REC_WRAP = 2 };

/* What sits at one position, as far as the descriptor or marker tells. */
struct plog_view {
	int kind;                  /* enum plog_rec_kind */
	uint8_t desc_copy;         /* copy the record was taken from */
	uint64_t seq;              /* entry's sequence, or the marker's next one */
	struct plog_desc_rec desc; /* kind == ENTRY: local copy, checked */
};

/* Find a valid descriptor or wrap marker at position `pos` whose sequence is
 * in [seq_lo, seq_hi], primary first. Returns the kind found (NONE when
 * neither copy holds one). Reads only; any content is safe. */
int plog_view_at(const struct plog_geom *g, uint64_t pos, uint64_t seq_lo, uint64_t seq_hi,
		 struct plog_view *v);

/* Check the operation part of copy c against descriptor d; on success fill
 * op (paths point into the region) and the data pointer. 0 or -EUCLEAN. */
int plog_op_at(const struct plog_geom *g, unsigned c, const struct plog_desc_rec *d,
	       struct plog_op *op, const void **data, uint32_t *data_len);

static inline bool plog_desc_live(const struct plog_desc_rec *d)
{
	return d->targets_status != 0 || d->ipc_idx != PLOG_IPC_NONE;
}

static inline uint64_t plog_pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* Position where the lap after the one holding `pos` starts. */
static inline uint64_t plog_next_lap(uint64_t pos, uint64_t copy_size)
{
	return pos - pos % copy_size + copy_size;
}

/* The protection key of this process, -1 when the log is not protected. */
extern int plog_pkey;

/* Open and close the writer's window on every protected log: the key's
 * rights live in the thread's PKRU register, so this is two register writes
 * and no system call. */
static inline void plog_write_begin(void)
{
	int k = __atomic_load_n(&plog_pkey, __ATOMIC_RELAXED);
	if (k >= 0)
		pkey_set(k, 0);
}

static inline void plog_write_end(void)
{
	int k = __atomic_load_n(&plog_pkey, __ATOMIC_RELAXED);
	if (k >= 0)
		pkey_set(k, PKEY_DISABLE_WRITE);
}

#endif
