/*
 * plog_record.c - checks of the p-log's records, shared by the writer and
 * the reader: the header (static info in two copies, the double-buffered
 * position record), descriptors, wrap markers and operation parts. Every
 * check copies the record out of the region before looking at it and trusts
 * nothing it has not checked. It does not walk the log (plog_scan.c) and
 * never writes to a region.
 */
#include "plog_internal.h"

#include <string.h>

#include "../util/common.h"
#include "../util/crc32c.h"

static const uint8_t zero4[4];

uint32_t plog_info_csum(const struct plog_info *info)
{
	const uint8_t *p = (const uint8_t *)info;
	uint32_t c = crc32c(0, p, offsetof(struct plog_info, crc));
	return crc32c(c, zero4, 4);
}

uint32_t plog_seed_of(uint64_t salt)
{
	return (uint32_t)salt ^ (uint32_t)(salt >> 32);
}

/* 0 when info describes a region of this layout that fits in `size` bytes. */
static int info_check(const struct plog_info *in, size_t size)
{
	if (in->magic != PLOG_MAGIC || in->version != PLOG_VERSION ||
	    in->header_size != PLOG_HEADER_SIZE || in->desc_size != PLOG_DESC_SIZE ||
	    in->op_size != PLOG_OP_SIZE || in->align != PLOG_ALIGN ||
	    in->data_max != PLOG_DATA_MAX || in->path_max != PLOG_PATH_MAX)
		return -EPROTO;
	if (in->copy_size % PLOG_ALIGN || in->copy_size < PLOG_COPY_MIN ||
	    in->copy_size > PLOG_COPY_MAX || in->region_size != PLOG_REGION_SIZE(in->copy_size) ||
	    in->primary_off != PLOG_HEADER_SIZE ||
	    in->replica_off != PLOG_HEADER_SIZE + in->copy_size)
		return -EPROTO;
	if (in->region_size > size)
		return -EINVAL;
	return 0;
}

static bool pos_valid(const struct plog_pos *r, unsigned slot, uint32_t seed,
		      uint64_t copy_size)
{
	if (r->magic != PLOG_POS_MAGIC || r->crc != plog_csum(seed, r, sizeof(*r)))
		return false;
	if ((r->serial & 1) != slot || r->tail_pos > r->head_pos ||
	    r->head_pos - r->tail_pos > copy_size || r->tail_seq > r->head_seq)
		return false;
	/* every entry takes at least a descriptor and an operation header */
	return r->head_seq - r->tail_seq <=
	       (r->head_pos - r->tail_pos) / (PLOG_DESC_SIZE + PLOG_OP_SIZE);
}

int plog_geom_load(const void *mem, size_t size, struct plog_geom *g)
{
	if (!mem || !g || size < PLOG_HEADER_SIZE)
		return -EINVAL;
	const uint8_t *base = mem;
	struct plog_info in[2];
	memcpy(&in[0], base + offsetof(struct plog_header, info), sizeof(in[0]));
	memcpy(&in[1], base + offsetof(struct plog_header, info_copy), sizeof(in[1]));

	int rc = -EUCLEAN;
	const struct plog_info *use = NULL;
	for (int i = 0; i < 2 && !use; i++) {
		if (in[i].crc != plog_info_csum(&in[i]))
			continue;
		rc = info_check(&in[i], size);
		if (rc == 0)
			use = &in[i];
	}
	if (!use) {
		if (rc == -EUCLEAN && in[0].magic != PLOG_MAGIC && in[1].magic != PLOG_MAGIC)
			rc = -EPROTO; /* not a p-log at all */
		return rc;
	}
	g->copy[PLOG_PRIMARY] = base + use->primary_off;
	g->copy[PLOG_REPLICA] = base + use->replica_off;
	g->copy_size = use->copy_size;
	g->seed = plog_seed_of(use->salt);
	g->generation = use->generation;
	g->worker = use->worker;

	bool have = false;
	for (unsigned s = 0; s < 2; s++) {
		struct plog_pos r;
		memcpy(&r, base + offsetof(struct plog_header, pos) + s * sizeof(r), sizeof(r));
		if (!pos_valid(&r, s, g->seed, g->copy_size))
			continue;
		if (!have || r.serial > g->pos.serial)
			g->pos = r;
		have = true;
	}
	return have ? 0 : -EUCLEAN;
}

int plog_region_usage(const void *mem, size_t size, uint64_t *used, uint64_t *capacity,
		      uint64_t *entries)
{
	struct plog_geom g;
	int rc = plog_geom_load(mem, size, &g);
	if (rc < 0)
		return rc;
	*used = g.pos.head_pos - g.pos.tail_pos;
	*capacity = g.copy_size;
	*entries = g.pos.head_seq - g.pos.tail_seq;
	return 0;
}

static bool desc_valid(const struct plog_geom *g, const struct plog_desc_rec *d, uint64_t pos,
		       uint64_t phys, uint64_t seq_lo, uint64_t seq_hi)
{
	if (d->crc != plog_csum(g->seed, d, sizeof(*d)))
		return false;
	if (d->pos != pos || d->generation != g->generation || d->seq < seq_lo ||
	    d->seq > seq_hi)
		return false;
	if (d->entry_len % PLOG_ALIGN || d->entry_len < PLOG_DESC_SIZE + PLOG_OP_SIZE ||
	    d->entry_len > g->copy_size - phys)
		return false;
	if (d->op_len < PLOG_OP_SIZE || d->op_len > d->entry_len - PLOG_DESC_SIZE)
		return false;
	return (d->targets_status & ~PLOG_STATUS_MASK) == 0;
}

static bool wrap_valid(const struct plog_geom *g, const struct plog_wrap_rec *w, uint64_t pos,
		       uint64_t phys, uint64_t seq_lo, uint64_t seq_hi)
{
	/* a marker at offset 0 would point at itself */
	return phys != 0 && w->crc == plog_csum(g->seed, w, sizeof(*w)) && w->pos == pos &&
	       w->generation == g->generation && w->seq >= seq_lo && w->seq <= seq_hi;
}

int plog_view_at(const struct plog_geom *g, uint64_t pos, uint64_t seq_lo, uint64_t seq_hi,
		 struct plog_view *v)
{
	uint64_t phys = pos % g->copy_size;
	int wrap_copy = -1;
	uint64_t wrap_seq = 0;

	memset(v, 0, sizeof(*v));
	if (phys % PLOG_ALIGN)
		return PLOG_REC_NONE;
	for (unsigned c = 0; c < 2; c++) {
		const uint8_t *b = g->copy[c] + phys;
		uint32_t magic;
		memcpy(&magic, b, sizeof(magic));
		if (magic == PLOG_DESC_MAGIC && phys + PLOG_DESC_SIZE <= g->copy_size) {
			memcpy(&v->desc, b, sizeof(v->desc));
			if (desc_valid(g, &v->desc, pos, phys, seq_lo, seq_hi)) {
				v->kind = PLOG_REC_ENTRY;
				v->desc_copy = (uint8_t)c;
				v->seq = v->desc.seq;
				return PLOG_REC_ENTRY;
			}
		} else if (magic == PLOG_WRAP_MAGIC && wrap_copy < 0) {
			struct plog_wrap_rec w;
			memcpy(&w, b, sizeof(w));
			if (wrap_valid(g, &w, pos, phys, seq_lo, seq_hi)) {
				wrap_copy = (int)c;
				wrap_seq = w.seq;
			}
		}
	}
	memset(&v->desc, 0, sizeof(v->desc));
	if (wrap_copy < 0)
		return PLOG_REC_NONE;
	v->kind = PLOG_REC_WRAP;
	v->desc_copy = (uint8_t)wrap_copy;
	v->seq = wrap_seq;
	return PLOG_REC_WRAP;
}

/* A path of `len` bytes (NUL included): exactly one NUL, at its end. */
static bool path_ok(const char *s, uint32_t len)
{
	return len >= 1 && s[len - 1] == '\0' && memchr(s, '\0', len - 1) == NULL;
}

int plog_op_at(const struct plog_geom *g, unsigned c, const struct plog_desc_rec *d,
	       struct plog_op *op, const void **data, uint32_t *data_len)
{
	const uint8_t *b = g->copy[c] + d->pos % g->copy_size + PLOG_DESC_SIZE;
	struct plog_op_rec h;

	/* desc_valid() bounded op_len within the entry and the entry within the
	 * copy, so every byte read below is inside the region. */
	memcpy(&h, b, sizeof(h));
	if (h.magic != PLOG_OP_MAGIC || h.seq != d->seq || h.crc != d->op_crc)
		return -EUCLEAN;
	if (h.opcode == ANK_OP_NONE || h.opcode >= ANK_OP_MAX || h.path_len > PLOG_PATH_MAX ||
	    h.path2_len > PLOG_PATH_MAX || h.data_len > PLOG_DATA_MAX)
		return -EUCLEAN;
	uint64_t p1 = plog_pad8(h.path_len), p2 = plog_pad8(h.path2_len);
	if (PLOG_OP_SIZE + p1 + p2 + h.data_len != d->op_len)
		return -EUCLEAN;
	if (plog_csum(g->seed, b, d->op_len) != h.crc)
		return -EUCLEAN;
	const char *s1 = (const char *)b + PLOG_OP_SIZE, *s2 = s1 + p1;
	if ((h.path_len && !path_ok(s1, h.path_len)) || (h.path2_len && !path_ok(s2, h.path2_len)))
		return -EUCLEAN;

	op->opcode = h.opcode;
	op->flags = h.flags;
	op->fd = h.fd;
	op->mode = h.mode;
	op->whence = h.whence;
	op->off = h.off;
	op->len = h.len;
	op->result = h.result;
	op->uid = h.uid;
	op->gid = h.gid;
	op->at_ino = h.at_ino;
	op->at2_ino = h.at2_ino;
	op->ofd = h.ofd;
	op->gen = h.gen;
	op->time_sec = h.time_sec;
	op->time_nsec = h.time_nsec < 1000000000u ? h.time_nsec : 0;
	op->as_set = h.as_uid != h.uid || h.as_gid != h.gid;
	op->as_uid = h.as_uid;
	op->as_gid = h.as_gid;
	op->path = h.path_len ? s1 : NULL;
	op->path2 = h.path2_len ? s2 : NULL;
	*data = h.data_len ? (const void *)(s2 + p2) : NULL;
	*data_len = h.data_len;
	return 0;
}
