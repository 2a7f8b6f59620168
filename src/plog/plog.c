/*
 * plog.c - the p-log's writer: format a region, attach to it, append entries
 * in the careful order (primary operation, primary descriptor, replica,
 * position record), clear ipc_idx and status bits crash-atomically, and
 * reclaim dead entries. It does not read a log for recovery (plog_scan.c),
 * check records (plog_record.c) or manage protection keys (plog_protect.c).
 * No system call on any path except plog_format (getrandom).
 */
#include "plog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../util/common.h"
#include "../util/crc32c.h"

void (*plog_fault_hook)(void *arg, const void *addr, size_t len);
void *plog_fault_hook_arg;

/* After each store group: let a crash test look at the region. */
static inline void stored(const void *addr, size_t len)
{
	if (ANK_UNLIKELY(plog_fault_hook != NULL))
		plog_fault_hook(plog_fault_hook_arg, addr, len);
}

/* The writer's view of its log, field by field (no padding), for its seal. */
static uint32_t state_sum(const struct plog *p)
{
	uint64_t v[15] = {(uintptr_t)p->mem, (uintptr_t)p->hdr, (uintptr_t)p->copy[0],
			  (uintptr_t)p->copy[1], p->copy_size, p->seed, p->generation,
			  p->worker, p->head_pos, p->head_seq, p->tail_pos, p->tail_seq,
			  p->serial, p->headroom, p->durable};
	return crc32c(0x53544154u, v, sizeof(v));
}

static void state_seal(struct plog *p)
{
	p->state_sum = state_sum(p);
}

static void state_check(const struct plog *p)
{
	if (__builtin_expect(state_sum(p) != p->state_sum, 0)) {
		fprintf(stderr, "ananke: the p-log writer's state (worker %u) fails its checksum: "
				"memory corruption; stopping at once (its published header holds "
				"the last good state)\n",
			p->worker);
		abort();
	}
}

/*
 * Write a record whose crc field is at offset 4: every other byte first,
 * then the crc with a release store, so a reader that sees the new crc sees
 * the fields (and everything written before them) too. Until the crc lands,
 * the old crc guards the new fields, and the fields differ at least in the
 * position or sequence, so the record does not check.
 */
static void put_record(void *dst, const void *src, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	uint32_t crc;

	memcpy(d, s, 4);
	memcpy(d + 8, s + 8, len - 8);
	stored(d, len);
	memcpy(&crc, s + 4, 4);
	__atomic_store_n((uint32_t *)(d + 4), crc, __ATOMIC_RELEASE);
	stored(d + 4, 4);
}

static void geom_of(const struct plog *p, struct plog_geom *g)
{
	g->copy[PLOG_PRIMARY] = p->copy[PLOG_PRIMARY];
	g->copy[PLOG_REPLICA] = p->copy[PLOG_REPLICA];
	g->copy_size = p->copy_size;
	g->seed = p->seed;
	g->generation = p->generation;
	g->worker = p->worker;
}

static uint64_t fresh_salt(const void *mem)
{
	uint64_t salt = 0;
	if (getrandom(&salt, sizeof(salt), GRND_NONBLOCK) != (ssize_t)sizeof(salt))
		salt = ank_mono_ns() ^ ((uint64_t)(uintptr_t)mem << 17) ^ 0x9E3779B97F4A7C15ull;
	return salt ? salt : 1;
}

int plog_format(void *mem, size_t size, uint32_t worker)
{
	if (!mem || (uintptr_t)mem % PLOG_ALIGN || size < PLOG_REGION_SIZE(PLOG_COPY_MIN))
		return -EINVAL;
	uint64_t copy_size = ((uint64_t)(size - PLOG_HEADER_SIZE) / 2) & ~(uint64_t)(PLOG_ALIGN - 1);
	if (copy_size > PLOG_COPY_MAX)
		copy_size = PLOG_COPY_MAX;

	/* Entries of an earlier generation must never check: a new salt
	 * guarantees it, the generation number makes it visible. */
	uint32_t generation = 1;
	const struct plog_header *oh = mem;
	for (int i = 0; i < 2; i++) {
		struct plog_info old;
		memcpy(&old, i ? &oh->info_copy : &oh->info, sizeof(old));
		if (old.magic == PLOG_MAGIC && old.crc == plog_info_csum(&old) &&
		    old.generation >= generation)
			generation = old.generation + 1;
	}

	struct plog_info in = {
		.magic = PLOG_MAGIC,
		.version = PLOG_VERSION,
		.header_size = PLOG_HEADER_SIZE,
		.desc_size = PLOG_DESC_SIZE,
		.op_size = PLOG_OP_SIZE,
		.align = PLOG_ALIGN,
		.copy_size = copy_size,
		.region_size = PLOG_REGION_SIZE(copy_size),
		.primary_off = PLOG_HEADER_SIZE,
		.replica_off = PLOG_HEADER_SIZE + copy_size,
		.worker = worker,
		.generation = generation,
		.salt = fresh_salt(mem),
		.data_max = PLOG_DATA_MAX,
		.path_max = PLOG_PATH_MAX,
	};
	in.crc = plog_info_csum(&in);

	struct plog_pos pos = {.magic = PLOG_POS_MAGIC, .serial = 0};
	pos.crc = plog_csum(plog_seed_of(in.salt), &pos, sizeof(pos));

	plog_write_begin();
	struct plog_header *h = mem;
	memset(h, 0, sizeof(*h));
	h->info = in;
	h->info_copy = in;
	h->pos[0] = pos;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	plog_write_end();
	return 0;
}

/* Follow the chain from (pos, seq) while records check. Stops at the first
 * position without a valid record; *err is set when that happens before
 * head_seq of the position record (a committed entry is lost) or when a live
 * entry's operation checks in neither copy. */
static void chain_end(const struct plog_geom *g, uint64_t *pos, uint64_t *seq, int *err)
{
	uint64_t start = *pos;
	*err = 0;
	while (*pos - start <= g->copy_size) {
		struct plog_view v;
		int kind = plog_view_at(g, *pos, *seq, *seq, &v);
		if (kind == PLOG_REC_WRAP) {
			*pos = plog_next_lap(*pos, g->copy_size);
			continue;
		}
		if (kind == PLOG_REC_NONE)
			break;
		const void *data;
		uint32_t dlen;
		struct plog_op op;
		if (plog_desc_live(&v.desc) &&
		    plog_op_at(g, PLOG_PRIMARY, &v.desc, &op, &data, &dlen) &&
		    plog_op_at(g, PLOG_REPLICA, &v.desc, &op, &data, &dlen)) {
			*err = -EUCLEAN;
			return;
		}
		*pos += v.desc.entry_len;
		(*seq)++;
	}
	if (*seq < g->pos.head_seq)
		*err = -EUCLEAN;
}

int plog_attach(void *mem, size_t size, struct plog *out)
{
	struct plog_geom g;

	if (!out || (uintptr_t)mem % PLOG_ALIGN)
		return -EINVAL;
	int rc = plog_geom_load(mem, size, &g);
	if (rc)
		return rc;
	uint64_t pos = g.pos.tail_pos, seq = g.pos.tail_seq;
	chain_end(&g, &pos, &seq, &rc);
	if (rc)
		return rc;

	memset(out, 0, sizeof(*out));
	out->mem = mem;
	out->hdr = mem;
	out->copy[PLOG_PRIMARY] = (uint8_t *)g.copy[PLOG_PRIMARY];
	out->copy[PLOG_REPLICA] = (uint8_t *)g.copy[PLOG_REPLICA];
	out->copy_size = g.copy_size;
	out->seed = g.seed;
	out->generation = g.generation;
	out->worker = g.worker;
	out->tail_pos = g.pos.tail_pos;
	out->tail_seq = g.pos.tail_seq;
	out->head_pos = pos;
	out->head_seq = seq;
	out->serial = g.pos.serial;
	state_seal(out);
	return 0;
}

/* Publish head and tail in the slot not holding the newest record. */
static void publish(struct plog *p)
{
	struct plog_pos r = {
		.magic = PLOG_POS_MAGIC,
		.serial = p->serial + 1,
		.tail_seq = p->tail_seq,
		.tail_pos = p->tail_pos,
		.head_seq = p->head_seq,
		.head_pos = p->head_pos,
	};
	r.crc = plog_csum(p->seed, &r, sizeof(r));
	put_record(&p->hdr->pos[r.serial & 1], &r, sizeof(r));
	p->serial = r.serial;
}

static int gc_run(struct plog *p)
{
	struct plog_geom g;
	uint64_t pos = p->tail_pos, seq = p->tail_seq;
	int n = 0, rc = 0;

	geom_of(p, &g);
	while (pos < p->head_pos) {
		struct plog_view v;
		int kind = plog_view_at(&g, pos, seq, seq, &v);
		if (kind == PLOG_REC_WRAP) {
			pos = plog_next_lap(pos, p->copy_size);
			continue;
		}
		if (kind == PLOG_REC_NONE) {
			rc = ANK_CORRUPT("p-log entry unreadable in both copies");
			break;
		}
		if (plog_desc_live_marks(p, &v.desc))
			break;
		pos += v.desc.entry_len;
		seq++;
		n++;
	}
	if (pos > p->head_pos) /* cannot happen with sane entries; stay safe */
		return ANK_CORRUPT("p-log chain runs past its head");
	p->gc_runs++;
	if (pos != p->tail_pos) {
		p->tail_pos = pos;
		p->tail_seq = seq;
		p->gc_reclaimed += (uint64_t)n;
		publish(p); /* before any of that space is written again (I4) */
	}
	return rc ? rc : n;
}

bool plog_desc_live_marks(const struct plog *p, const struct plog_desc_rec *d)
{
	uint32_t status = d->targets_status;
	if (d->tid <= p->durable)
		status &= 1u << PLOG_T_FD;
	return status != 0 || d->ipc_idx != PLOG_IPC_NONE;
}

void plog_set_durable(struct plog *p, uint64_t tid)
{
	if (p && tid > p->durable) {
		state_check(p);
		p->durable = tid;
		state_seal(p);
	}
}

int plog_gc(struct plog *p)
{
	if (!p)
		return -EINVAL;
	state_check(p);
	plog_write_begin();
	int rc = gc_run(p);
	plog_write_end();
	state_seal(p);
	return rc;
}

uint64_t plog_used(const struct plog *p)
{
	return p->head_pos - p->tail_pos;
}

uint64_t plog_durable(const struct plog *p)
{
	state_check(p);
	return p->durable;
}

uint64_t plog_capacity(const struct plog *p)
{
	return p->copy_size;
}

uint64_t plog_headroom(const struct plog *p)
{
	return p->headroom;
}

uint64_t plog_tail(const struct plog *p)
{
	return p->tail_pos;
}

const void *plog_next_op_csum(const struct plog *p)
{
	return p->copy[PLOG_PRIMARY] + p->head_pos % p->copy_size + PLOG_DESC_SIZE + 4;
}

static void put_wrap(struct plog *p, uint64_t phys)
{
	struct plog_wrap_rec w = {
		.magic = PLOG_WRAP_MAGIC,
		.seq = p->head_seq,
		.pos = p->head_pos,
		.generation = p->generation,
	};
	w.crc = plog_csum(p->seed, &w, sizeof(w));
	put_record(p->copy[PLOG_PRIMARY] + phys, &w, sizeof(w));
	put_record(p->copy[PLOG_REPLICA] + phys, &w, sizeof(w));
}

/* Make room for `need` contiguous bytes at the head, writing a wrap marker
 * if the entry goes to the next lap. 0, -ENOSPC, or -EUCLEAN. */
static int reserve(struct plog *p, uint64_t need, uint64_t keep)
{
	uint64_t cs = p->copy_size;
	int rc = 0;

	for (int tried_gc = 0;; tried_gc = 1) {
		uint64_t phys = p->head_pos % cs;
		uint64_t pad = phys + need > cs ? cs - phys : 0;
		uint64_t used = p->head_pos - p->tail_pos;
		if (used + pad + need + keep <= cs) {
			if (pad) {
				put_wrap(p, phys);
				p->head_pos += pad;
			}
			return 0;
		}
		if (used == 0 && pad) {
			/* empty but the entry does not fit before the end: move
			 * tail and head to the next lap, no marker needed */
			p->head_pos += pad;
			p->tail_pos = p->head_pos;
			publish(p);
			continue;
		}
		if (tried_gc) {
			p->enospc++;
			return rc < 0 ? rc : -ENOSPC;
		}
		rc = gc_run(p);
	}
}

void plog_set_headroom(struct plog *p, uint64_t bytes)
{
	state_check(p);
	p->headroom = ANK_MIN(bytes, p->copy_size / 2);
	state_seal(p);
}

uint64_t plog_entry_bytes(const struct plog_op *op, size_t len)
{
	uint64_t l1 = op->path ? strnlen(op->path, PLOG_PATH_MAX) + 1 : 0;
	uint64_t l2 = op->path2 ? strnlen(op->path2, PLOG_PATH_MAX) + 1 : 0;
	return ANK_ALIGN_UP(PLOG_DESC_SIZE + PLOG_OP_SIZE + plog_pad8(l1) + plog_pad8(l2) + len,
			    (uint64_t)PLOG_ALIGN);
}

int plog_append(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		const void *data, size_t len, uint64_t *entry_id)
{
	return plog_append_ex(p, op, desc, data, len, entry_id, 0);
}

static int append_ex(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		     const void *data, size_t len, uint64_t *entry_id, unsigned flags);

int plog_append_ex(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		   const void *data, size_t len, uint64_t *entry_id, unsigned flags)
{
	if (!p)
		return -EINVAL;
	state_check(p);
	int rc = append_ex(p, op, desc, data, len, entry_id, flags);
	state_seal(p);
	return rc;
}

static int append_ex(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		     const void *data, size_t len, uint64_t *entry_id, unsigned flags)
{
	size_t l1 = 0, l2 = 0;

	if (!p || !op || !desc || (len && !data))
		return -EINVAL;
	if (op->opcode == ANK_OP_NONE || op->opcode >= ANK_OP_MAX ||
	    (desc->targets_status & ~PLOG_STATUS_MASK))
		return -EINVAL;
	if (len > PLOG_DATA_MAX)
		return -EMSGSIZE;
	if (op->path) {
		l1 = strnlen(op->path, PLOG_PATH_MAX);
		if (l1++ == PLOG_PATH_MAX)
			return -ENAMETOOLONG;
	}
	if (op->path2) {
		l2 = strnlen(op->path2, PLOG_PATH_MAX);
		if (l2++ == PLOG_PATH_MAX)
			return -ENAMETOOLONG;
	}
	uint64_t p1 = plog_pad8(l1), p2 = plog_pad8(l2);
	uint64_t op_len = PLOG_OP_SIZE + p1 + p2 + len;
	uint64_t entry_len = ANK_ALIGN_UP(PLOG_DESC_SIZE + op_len, (uint64_t)PLOG_ALIGN);
	if (entry_len > p->copy_size)
		return -E2BIG;

	plog_write_begin();
	int rc = reserve(p, entry_len, (flags & PLOG_APPEND_RESERVE) ? 0 : p->headroom);
	if (rc) {
		plog_write_end();
		return rc;
	}

	uint64_t phys = p->head_pos % p->copy_size;
	uint8_t *e0 = p->copy[PLOG_PRIMARY] + phys;
	uint8_t *e1 = p->copy[PLOG_REPLICA] + phys;
	uint8_t *o0 = e0 + PLOG_DESC_SIZE, *o1 = e1 + PLOG_DESC_SIZE;

	/* (1) operation part and data, primary */
	struct plog_op_rec oh = {
		.magic = PLOG_OP_MAGIC,
		.seq = p->head_seq,
		.opcode = op->opcode,
		.flags = op->flags,
		.fd = op->fd,
		.mode = op->mode,
		.whence = op->whence,
		.path_len = (uint32_t)l1,
		.path2_len = (uint32_t)l2,
		.data_len = (uint32_t)len,
		.off = op->off,
		.len = op->len,
		.result = op->result,
		.uid = op->uid,
		.gid = op->gid,
		.at_ino = op->at_ino,
		.at2_ino = op->at2_ino,
		.ofd = op->ofd,
		.gen = op->gen,
		.time_nsec = op->time_nsec,
		.time_sec = op->time_sec,
		.as_uid = op->as_set ? op->as_uid : op->uid,
		.as_gid = op->as_set ? op->as_gid : op->gid,
	};
	memcpy(o0, &oh, 4);
	memcpy(o0 + 8, (const uint8_t *)&oh + 8, PLOG_OP_SIZE - 8);
	uint8_t *q = o0 + PLOG_OP_SIZE;
	if (l1) {
		memcpy(q, op->path, l1 - 1);
		memset(q + l1 - 1, 0, p1 - l1 + 1);
		q += p1;
	}
	if (l2) {
		memcpy(q, op->path2, l2 - 1);
		memset(q + l2 - 1, 0, p2 - l2 + 1);
		q += p2;
	}
	if (len)
		memcpy(q, data, len);
	stored(o0, op_len);
	/* The crc is computed over what landed in the log, not over the
	 * caller's buffer (a client may still be changing its ring data). */
	uint32_t ocrc = plog_csum(p->seed, o0, op_len);
	__atomic_store_n((uint32_t *)(o0 + 4), ocrc, __ATOMIC_RELEASE);
	stored(o0 + 4, 4);

	/* (2) descriptor, primary: the commit point */
	struct plog_desc_rec d = {
		.magic = PLOG_DESC_MAGIC,
		.seq = p->head_seq,
		.pos = p->head_pos,
		.generation = p->generation,
		.entry_len = (uint32_t)entry_len,
		.op_len = (uint32_t)op_len,
		.op_crc = ocrc,
		.client_id = desc->client_id,
		.timestamp = desc->timestamp,
		.ipc_idx = desc->ipc_idx,
		.targets_status = desc->targets_status,
		.tid = desc->tid,
		.req_seq = desc->req_seq,
	};
	memcpy(d.targets, desc->targets, sizeof(d.targets));
	d.crc = plog_csum(p->seed, &d, sizeof(d));
	put_record(e0, &d, sizeof(d));

	/* (1') and (2') the replica, copied from the primary */
	memcpy(o1, o0, 4);
	memcpy(o1 + 8, o0 + 8, op_len - 8);
	stored(o1, op_len);
	__atomic_store_n((uint32_t *)(o1 + 4), ocrc, __ATOMIC_RELEASE);
	stored(o1 + 4, 4);
	put_record(e1, &d, sizeof(d));

	if (entry_id)
		*entry_id = p->head_pos;
	p->head_pos += entry_len;
	p->head_seq++;
	publish(p);
	plog_write_end();
	return 0;
}

static int find_desc(const struct plog *p, uint64_t id, struct plog_desc_rec *d);

int plog_damage_entry(struct plog *p, uint64_t entry_id)
{
	struct plog_desc_rec d;
	int rc = find_desc(p, entry_id, &d);
	if (rc < 0)
		return rc;
	uint64_t at = entry_id % p->copy_size + PLOG_DESC_SIZE + d.op_len - 1;
	plog_write_begin();
	p->copy[PLOG_PRIMARY][at] ^= 0xFF;
	p->copy[PLOG_REPLICA][at] ^= 0xFF;
	plog_write_end();
	return 0;
}

/* The descriptor of a kept entry, from the primary or else the replica. */
static int find_desc(const struct plog *p, uint64_t id, struct plog_desc_rec *d)
{
	struct plog_geom g;
	struct plog_view v;

	if (id < p->tail_pos || id >= p->head_pos || id % PLOG_ALIGN)
		return -ENOENT;
	geom_of(p, &g);
	int kind = plog_view_at(&g, id, p->tail_seq, p->head_seq - 1, &v);
	if (kind == PLOG_REC_ENTRY) {
		*d = v.desc;
		return 0;
	}
	if (kind == PLOG_REC_WRAP)
		return -ENOENT;
	/* No descriptor checks in either copy. With the magic in neither, no
	 * entry starts here (a caller's wrong id); otherwise it is damage. */
	uint32_t m0, m1;
	memcpy(&m0, p->copy[PLOG_PRIMARY] + id % p->copy_size, 4);
	memcpy(&m1, p->copy[PLOG_REPLICA] + id % p->copy_size, 4);
	if (m0 != PLOG_DESC_MAGIC && m1 != PLOG_DESC_MAGIC)
		return -ENOENT;
	return ANK_CORRUPT("p-log descriptor unreadable in both copies");
}

/* Rewrite a descriptor in both copies, primary first (see plog.h). */
static void rewrite_desc(struct plog *p, struct plog_desc_rec *d)
{
	uint64_t phys = d->pos % p->copy_size;
	d->crc = plog_csum(p->seed, d, sizeof(*d));
	put_record(p->copy[PLOG_PRIMARY] + phys, d, sizeof(*d));
	put_record(p->copy[PLOG_REPLICA] + phys, d, sizeof(*d));
}

static int change_desc(struct plog *p, uint64_t id, uint32_t clear_status, bool clear_ipc)
{
	struct plog_desc_rec d;
	int rc = find_desc(p, id, &d);
	if (rc)
		return rc;
	uint32_t status = d.targets_status & ~clear_status;
	uint32_t ipc = clear_ipc ? PLOG_IPC_NONE : d.ipc_idx;
	if (status == d.targets_status && ipc == d.ipc_idx)
		return 0;
	d.targets_status = status;
	d.ipc_idx = ipc;
	plog_write_begin();
	rewrite_desc(p, &d);
	plog_write_end();
	return 0;
}

int plog_clear_ipc(struct plog *p, uint64_t entry_id)
{
	if (!p)
		return -EINVAL;
	state_check(p);
	return change_desc(p, entry_id, 0, true);
}

int plog_clear_status(struct plog *p, uint64_t entry_id, uint32_t mask)
{
	if (!p || (mask & ~PLOG_STATUS_MASK))
		return -EINVAL;
	state_check(p);
	return change_desc(p, entry_id, mask, false);
}

int plog_clear_matching(struct plog *p, unsigned target, uint64_t value, uint64_t before_id)
{
	struct plog_geom g;
	uint64_t pos, seq;
	int n = 0, rc = 0;

	if (!p || target >= PLOG_NTARGETS || value == 0)
		return -EINVAL;
	state_check(p);
	geom_of(p, &g);
	plog_write_begin();
	for (pos = p->tail_pos, seq = p->tail_seq; pos < p->head_pos && pos < before_id;) {
		struct plog_view v;
		int kind = plog_view_at(&g, pos, seq, seq, &v);
		if (kind == PLOG_REC_WRAP) {
			pos = plog_next_lap(pos, p->copy_size);
			continue;
		}
		if (kind == PLOG_REC_NONE) {
			rc = ANK_CORRUPT("p-log entry unreadable in both copies");
			break;
		}
		uint32_t bit = 1u << target;
		if ((v.desc.targets_status & bit) && v.desc.targets[target] == value) {
			v.desc.targets_status &= ~bit;
			rewrite_desc(p, &v.desc);
			n++;
		}
		pos += v.desc.entry_len;
		seq++;
	}
	plog_write_end();
	return rc ? rc : n;
}
