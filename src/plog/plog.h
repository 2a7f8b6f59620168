/*
 * plog.h - the p-log: one circular log per worker, in a memfd the supervisor
 * owns, recording every operation that opens a state gap (docs/FORMAT.md,
 * "13. p-log"; docs/RECOVERY.md for how recovery uses it). This module writes
 * entries, clears their status bits, reclaims dead ones, and reads a region
 * back after its writer died. It does not decide what to log, when to clear
 * bits, or how to replay (that is the server's and AIM's job), and it never
 * makes a system call on the append path.
 *
 * Layout of a region (all offsets from the start of the mapping):
 *   [0, 4096)                          struct plog_header
 *   [4096, 4096 + copy_size)           primary copy of the entry area
 *   [4096 + copy_size, + 2*copy_size)  replica (same bytes, written second)
 * An entry is a descriptor (128 bytes) followed by its operation part (a
 * 128-byte header, up to two NUL-terminated paths, inline data), padded to a
 * multiple of 64 bytes. A 64-byte wrap marker fills the end of the area when
 * the next entry does not fit there. Entries have a 64-bit *position*: bytes
 * appended since format, never reused; the byte offset in a copy is
 * position % copy_size. The position is the entry id.
 *
 * Invariants
 *  I1 Positions and sequence numbers grow by construction: the entry with
 *     sequence s sits at one position p, stored in its descriptor together
 *     with s and the region's generation. A record is valid only where both
 *     match, so bytes left from an earlier lap, an earlier generation or a
 *     torn write never parse as a live record.
 *  I2 Every record (descriptor, operation part, wrap marker, position record)
 *     carries a CRC32C seeded with the region's random salt, so client data
 *     stored inline cannot imitate a record (clients never see the salt).
 *  I3 The descriptor records the operation part's CRC, so a descriptor only
 *     ever pairs with the exact operation it was written for, in either copy.
 *  I4 Bytes in [tail, head) of the published position record are never
 *     overwritten: the writer publishes a new tail before reusing space.
 *  I5 An entry is live while any status bit is set or its ipc_idx is still
 *     set (exactly-once needs it until the ring slot is completed), except
 *     that the writer may know more than the bits say: inode bits of an
 *     entry whose tid is durable (plog_set_durable) count as clear,
 *     unwritten. Only a prefix of dead entries is reclaimed; a live entry is
 *     never dropped.
 *
 * Crash safety (the writer may die at any instruction, SIGKILL included):
 * every record is written in two store groups, all fields first and the CRC
 * last with release ordering, and a copy is written completely before the
 * other is touched. Appending writes, in order: the operation part and data
 * of the primary, its descriptor (the commit point), the replica's operation
 * part and descriptor, then the position record (double-buffered: the older
 * of two slots is rewritten, so the newer one always survives). Death before
 * the primary descriptor's CRC lands leaves no descriptor that checks with
 * the expected (position, sequence) pair - the old CRC guards new fields, a
 * 2^-32 chance of a false match as for any checksummed log - so the entry
 * does not exist; after it, the primary is whole. Clearing ipc_idx or status
 * bits rewrites the primary descriptor, then the replica's: during the
 * first, the replica still holds the old descriptor with a valid CRC; during
 * the second, the primary holds the new one (a torn rewrite changes one
 * 32-bit word, a burst CRC32C always detects). A reader takes the primary's descriptor when its CRC holds, else the
 * replica's, and the operation part likewise (per part, checked against the
 * descriptor's operation CRC). The position record only bounds the search:
 * the reader follows the chain of valid records from the tail and accepts
 * entries past the recorded head too (death between commit and head update).
 * A record that fails in both copies before the recorded head is corruption:
 * it is reported (-EUCLEAN), never used, and the reader resynchronises on the
 * next valid record.
 *
 * Threads: a struct plog has a single writer; calls on one plog must be
 * serialised by the caller. Readers (plog_scan, plog_merge) need a region
 * that nobody writes while they run (the writer is dead or stopped).
 */
#ifndef ANK_PLOG_H
#define ANK_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ipc/ring.h"

#define PLOG_MAGIC 0x474F4C50u       /* "PLOG": region header */
#define PLOG_POS_MAGIC 0x50474C50u   /* "PLGP": position record */
#define PLOG_DESC_MAGIC 0x44474C50u  /* "PLGD": descriptor */
#define PLOG_OP_MAGIC 0x4F474C50u    /* "PLGO": operation part */
#define PLOG_WRAP_MAGIC 0x57474C50u  /* "PLGW": wrap marker */
#define PLOG_VERSION 2u

#define PLOG_HEADER_SIZE 4096u
#define PLOG_DESC_SIZE 128u
#define PLOG_OP_SIZE 128u
#define PLOG_WRAP_SIZE 64u
#define PLOG_ALIGN 64u
#define PLOG_PATH_MAX 4096u                  /* bytes of one path, NUL included */
#define PLOG_DATA_MAX ANK_RING_DATA_PER_SLOT /* inline data of one entry */
#define PLOG_ENTRY_MAX \
	(PLOG_DESC_SIZE + PLOG_OP_SIZE + 2u * PLOG_PATH_MAX + PLOG_DATA_MAX)
#define PLOG_COPY_MIN 8192u
#define PLOG_COPY_MAX (1ull << 30)
#define PLOG_DEFAULT_COPY_SIZE (4u << 20)
#define PLOG_REGION_SIZE(copy_size) ((uint64_t)PLOG_HEADER_SIZE + 2ull * (copy_size))

/* targets[] indices and their status bits */
enum plog_target {
	PLOG_T_FD = 0,         /* fd key, see plog_fd_key() */
	PLOG_T_INODE = 1,      /* inode the operation changes */
	PLOG_T_PARENT = 2,     /* its parent directory */
	PLOG_T_DST_INODE = 3,  /* rename/link: destination inode */
	PLOG_T_DST_PARENT = 4, /* rename/link: destination parent */
	PLOG_NTARGETS = 5,
};
#define PLOG_STATUS_MASK ((1u << PLOG_NTARGETS) - 1)
#define PLOG_IPC_NONE UINT32_MAX /* ipc_idx once the ring slot is completed */
#define PLOG_ID_NONE UINT64_MAX

/* A target value is 0 for "none"; fd 0 is a real fd, so fds are stored as a
 * key: client id in the high half, fd + 1 in the low half. */
static inline uint64_t plog_fd_key(uint64_t client_id, int32_t fd)
{
	return (client_id << 32) | ((uint64_t)(uint32_t)fd + 1u);
}

/* ---- shared-memory format (docs/FORMAT.md section 13) ---- */

/* Static description of the region, written once by plog_format. Stored
 * twice in the header (offsets 0 and 256); a reader uses the first valid. */
struct plog_info {
	uint32_t magic;       /* 0   PLOG_MAGIC */
	uint32_t version;     /* 4   PLOG_VERSION */
	uint32_t header_size; /* 8   4096 */
	uint32_t desc_size;   /* 12  128 */
	uint32_t op_size;     /* 16  128 */
	uint32_t align;       /* 20  64 */
	uint64_t copy_size;   /* 24  bytes of one entry area (primary = replica) */
	uint64_t region_size; /* 32  4096 + 2 * copy_size */
	uint64_t primary_off; /* 40  4096 */
	uint64_t replica_off; /* 48  4096 + copy_size */
	uint32_t worker;      /* 56  worker index of the writer */
	uint32_t generation;  /* 60  bumped by every format of the region */
	uint64_t salt;        /* 64  random; seeds every record CRC */
	uint32_t data_max;    /* 72  PLOG_DATA_MAX */
	uint32_t path_max;    /* 76  PLOG_PATH_MAX */
	uint8_t reserved[44]; /* 80  zero */
	uint32_t crc;         /* 124 CRC32C (seed 0) of these 128 bytes, field zero */
};
_Static_assert(sizeof(struct plog_info) == 128, "plog info is 128 bytes");
_Static_assert(offsetof(struct plog_info, salt) == 64, "plog info layout");
_Static_assert(offsetof(struct plog_info, crc) == 124, "plog info layout");

/* Where the live entries are. Two slots; the writer rewrites the one with
 * the older serial, so a torn update leaves the other intact. */
struct plog_pos {
	uint32_t magic;       /* 0  PLOG_POS_MAGIC */
	uint32_t crc;         /* 4  salted CRC32C, field zero */
	uint64_t serial;      /* 8  publication number; slot = serial & 1 */
	uint64_t tail_seq;    /* 16 sequence of the oldest kept entry */
	uint64_t tail_pos;    /* 24 its position */
	uint64_t head_seq;    /* 32 sequence of the next entry to append */
	uint64_t head_pos;    /* 40 position where it goes (a hint: see above) */
	uint8_t reserved[16]; /* 48 zero */
};
_Static_assert(sizeof(struct plog_pos) == 64, "plog pos is one cache line");

struct plog_header {
	struct plog_info info;      /* 0    [format] */
	struct plog_pos pos[2];     /* 128  [writer] */
	struct plog_info info_copy; /* 256  [format] */
	uint8_t reserved[PLOG_HEADER_SIZE - 384];
};
_Static_assert(sizeof(struct plog_header) == PLOG_HEADER_SIZE, "plog header is 4 KiB");
_Static_assert(offsetof(struct plog_header, pos) == 128, "plog header layout");
_Static_assert(offsetof(struct plog_header, info_copy) == 256, "plog header layout");

/* Descriptor: first 128 bytes of an entry. [writer] every field. */
struct plog_desc_rec {
	uint32_t magic;          /* 0   PLOG_DESC_MAGIC */
	uint32_t crc;            /* 4   salted CRC32C, field zero; written last */
	uint64_t seq;            /* 8   sequence number */
	uint64_t pos;            /* 16  position = entry id */
	uint32_t generation;     /* 24  region generation */
	uint32_t entry_len;      /* 28  bytes of the entry, multiple of 64 */
	uint32_t op_len;         /* 32  bytes of the operation part in use */
	uint32_t op_crc;         /* 36  the operation part's crc */
	uint64_t client_id;      /* 40  */
	uint64_t timestamp;      /* 48  global order across workers */
	uint32_t ipc_idx;        /* 56  ring slot index, PLOG_IPC_NONE once completed */
	uint32_t targets_status; /* 60  bit i: targets[i] still in the state gap */
	uint64_t targets[PLOG_NTARGETS]; /* 64 0 = none */
	uint64_t tid;            /* 104 journal transaction the effects joined */
	uint64_t req_seq;        /* 112 the ring request's sequence number */
	uint8_t reserved[8];     /* 120 zero */
};
_Static_assert(sizeof(struct plog_desc_rec) == PLOG_DESC_SIZE, "descriptor is 128 bytes");
_Static_assert(offsetof(struct plog_desc_rec, ipc_idx) == 56, "descriptor layout");
_Static_assert(offsetof(struct plog_desc_rec, targets) == 64, "descriptor layout");
_Static_assert(offsetof(struct plog_desc_rec, tid) == 104, "descriptor layout");
_Static_assert(offsetof(struct plog_desc_rec, req_seq) == 112, "descriptor layout");

/* Operation part header, at entry offset 128, followed by path (padded to 8
 * bytes), path2 (padded to 8 bytes) and data_len bytes of data. */
struct plog_op_rec {
	uint32_t magic;       /* 0   PLOG_OP_MAGIC */
	uint32_t crc;         /* 4   salted CRC32C of the op_len bytes, field zero */
	uint64_t seq;         /* 8   same as the descriptor's */
	uint32_t opcode;      /* 16  enum ank_opcode */
	uint32_t flags;       /* 20  */
	int32_t fd;           /* 24  */
	uint32_t mode;        /* 28  */
	uint32_t whence;      /* 32  */
	uint32_t path_len;    /* 36  bytes of path incl. NUL, 0 = none */
	uint32_t path2_len;   /* 40  bytes of path2 incl. NUL, 0 = none */
	uint32_t data_len;    /* 44  bytes of inline data */
	int64_t off;          /* 48  */
	uint64_t len;         /* 56  */
	int64_t result;       /* 64  return value or -errno */
	uint32_t uid;         /* 72  credentials the operation ran with */
	uint32_t gid;         /* 76  */
	uint64_t at_ino;      /* 80  directory a relative path starts at (0: root) */
	uint64_t at2_ino;     /* 88  the same for path2 */
	uint64_t ofd;         /* 96  fd entries: the open file description the fd
	                              names (fds made by dup share it); 0 = unknown */
	uint32_t gen;         /* 104 an inode the call created: its generation (0:
	                              none), which a replay gives it again */
	uint32_t time_nsec;   /* 108 the call's time (below) */
	int64_t time_sec;     /* 112 the time the call gave the times it set (ctime,
	                              mtime, a new inode's), which a replay gives
	                              them again; 0: none */
	uint32_t as_uid;      /* 120 the credentials the call acted with: uid and */
	uint32_t as_gid;      /* 124 gid's own unless the client named others
	                              (ring.h as_set), which a replay acts with
	                              again */
};
_Static_assert(sizeof(struct plog_op_rec) == PLOG_OP_SIZE, "op header is 128 bytes");
_Static_assert(offsetof(struct plog_op_rec, gen) == 104, "op layout");
_Static_assert(offsetof(struct plog_op_rec, time_nsec) == 108, "op layout");
_Static_assert(offsetof(struct plog_op_rec, time_sec) == 112, "op layout");
_Static_assert(offsetof(struct plog_op_rec, as_uid) == 120, "op layout");
_Static_assert(offsetof(struct plog_op_rec, off) == 48, "op layout");
_Static_assert(offsetof(struct plog_op_rec, result) == 64, "op layout");
_Static_assert(offsetof(struct plog_op_rec, uid) == 72, "op layout");
_Static_assert(offsetof(struct plog_op_rec, at_ino) == 80, "op layout");
_Static_assert(offsetof(struct plog_op_rec, at2_ino) == 88, "op layout");
_Static_assert(offsetof(struct plog_op_rec, ofd) == 96, "op layout");

/* Wrap marker: the entry with sequence `seq` starts the next lap. */
struct plog_wrap_rec {
	uint32_t magic;       /* 0  PLOG_WRAP_MAGIC */
	uint32_t crc;         /* 4  salted CRC32C, field zero */
	uint64_t seq;         /* 8  sequence of the entry at the next lap's start */
	uint64_t pos;         /* 16 position of this marker */
	uint32_t generation;  /* 24 */
	uint8_t reserved[36]; /* 28 zero */
};
_Static_assert(sizeof(struct plog_wrap_rec) == PLOG_WRAP_SIZE, "wrap marker is 64 bytes");

/* ---- API ---- */

/* A flag in plog_op.flags (no open flag uses bit 31): the entry was logged
 * without its data and inode bit, before a sync that makes its call
 * durable; recovery counts it as not run when its tid is above D (see
 * docs/RECOVERY.md, "No room at all"). */
#define PLOG_OPF_SYNCED (1u << 31)

/* An operation as the caller hands it over (and as plog_scan returns it:
 * then the paths point into the region). */
struct plog_op {
	uint32_t opcode; /* enum ank_opcode, not NONE */
	uint32_t flags;
	int32_t fd;
	uint32_t mode;
	uint32_t whence;
	int64_t off;
	uint64_t len;
	int64_t result;
	uint32_t uid, gid; /* credentials: the client's (whose fds these are) */
	bool as_set;       /* the call acted as as_uid, as_gid (plog_op_rec) */
	uint32_t as_uid, as_gid;
	uint64_t at_ino;   /* the *at calls: the directory inode path starts at */
	uint64_t at2_ino;  /* and path2 (0: the root) */
	uint64_t ofd;      /* the fd's open file description (plog_op_rec) */
	uint32_t gen;      /* a created inode's generation (plog_op_rec) */
	int64_t time_sec;  /* the call's time (plog_op_rec); 0: none */
	uint32_t time_nsec;
	const char *path;  /* NULL = none; < PLOG_PATH_MAX bytes before the NUL */
	const char *path2; /* NULL = none */
};

struct plog_desc {
	uint64_t client_id;
	uint64_t timestamp;      /* from the caller's shared global counter */
	uint32_t ipc_idx;        /* ring slot index, or PLOG_IPC_NONE */
	uint32_t targets_status; /* bits within PLOG_STATUS_MASK */
	uint64_t targets[PLOG_NTARGETS];
	uint64_t tid;            /* journal transaction id (opaque here) */
	uint64_t req_seq;        /* ring request sequence (opaque here) */
};

/* The writer's handle. Its fields are private to src/plog: other code uses
 * the functions below (plog_used, plog_capacity, plog_headroom, ...). */
struct plog {
	uint8_t *mem;
	struct plog_header *hdr;
	uint8_t *copy[2];
	uint64_t copy_size;
	uint32_t seed;       /* CRC seed derived from the salt */
	uint32_t generation;
	uint32_t worker;
	uint64_t head_pos, head_seq; /* next append */
	uint64_t tail_pos, tail_seq; /* oldest kept entry (published) */
	uint64_t serial;             /* of the last published position record */
	uint64_t gc_runs, gc_reclaimed, enospc;
	uint64_t headroom;           /* kept free by appends without PLOG_APPEND_RESERVE */
	uint64_t durable;            /* plog_set_durable */
	/* Over every field above but the counters, taken when an API call
	 * changes them and checked when the next one starts: the writer's
	 * own view of its log lives in ordinary memory, and a stray write
	 * there (a position, a pointer) would make it publish positions that
	 * lose the log, or write entries elsewhere. A mismatch stops the
	 * process (the published header still holds the last good view). */
	uint32_t state_sum;
};

/* Initialise a region of `size` bytes at `mem` (64-byte aligned). The entry
 * area is (size - 4096) / 2 rounded down to 64 bytes, between PLOG_COPY_MIN
 * and PLOG_COPY_MAX. The generation is one more than a valid old header's.
 * Only the header is written. 0, or -EINVAL (alignment, size). */
int plog_format(void *mem, size_t size, uint32_t worker);

/* Validate the header and find the end of the log by following the chain
 * from the tail; fill *out for appending. 0, -EINVAL (arguments), -EPROTO
 * (another layout or version), -EUCLEAN (header or a committed entry
 * corrupt in both copies). Makes no system call. */
int plog_attach(void *mem, size_t size, struct plog *out);

/* Append one entry: opcode, arguments, result, paths, targets, and `len`
 * bytes of `data` stored inline. The paths must not change during the call
 * (pass the server's validated copy); `data` may be shared memory a client
 * still writes to: the checksum covers the bytes as stored in the log, so
 * both copies agree whatever the client does. Returns 0 and the entry id,
 * -EINVAL (bad opcode, status bits, arguments), -ENAMETOOLONG, -EMSGSIZE
 * (len > PLOG_DATA_MAX), -E2BIG (entry larger than the area), -ENOSPC (full
 * after reclaiming dead entries: make some bits clear, e.g. by a sync, and
 * retry; the entry was not written), -EUCLEAN (reclaim met a corrupt entry). */
int plog_append(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		const void *data, size_t len, uint64_t *entry_id);

/* plog_append with flags: PLOG_APPEND_RESERVE may use the headroom that
 * plog_set_headroom keeps free from ordinary appends (a writer moving live
 * entries forward needs room to do so when the log is otherwise full). */
#define PLOG_APPEND_RESERVE 1u
int plog_append_ex(struct plog *p, const struct plog_op *op, const struct plog_desc *desc,
		   const void *data, size_t len, uint64_t *entry_id, unsigned flags);
/* Ordinary appends leave `bytes` of the area free (0: none, the default;
 * at most half the area). */
void plog_set_headroom(struct plog *p, uint64_t bytes);
/* Bytes an entry with these paths and `len` bytes of data takes. */
uint64_t plog_entry_bytes(const struct plog_op *op, size_t len);

/* Step 4 of exactly-once: set ipc_idx to PLOG_IPC_NONE in both copies (after
 * the ring slot was completed). 0, -ENOENT (no such entry kept), -EUCLEAN. */
int plog_clear_ipc(struct plog *p, uint64_t entry_id);

/* Clear status bits `mask` of an entry (the effects became durable or the fd
 * was closed). Crash-atomic per copy. 0, -ENOENT, -EINVAL, -EUCLEAN. */
int plog_clear_status(struct plog *p, uint64_t entry_id, uint32_t mask);

/* The writer's knowledge that every entry with tid <= `tid` is durable:
 * reclaiming (plog_gc, and the reclaim of every append) then counts such
 * an entry's status bits other than the fd bit as clear, without writing
 * them (one descriptor rewrite less per logged call). The bits stay set in
 * the log; a reader after a crash decides durability by the tid anyway
 * (docs/RECOVERY.md). Never decreases. */
void plog_set_durable(struct plog *p, uint64_t tid);
/* Is the entry live for reclaiming, given plog_set_durable's tid? */
bool plog_desc_live_marks(const struct plog *p, const struct plog_desc_rec *d);

/* For every kept entry with id < before_id and targets[target] == value,
 * clear status bit `target` (e.g. an inode became durable: target
 * PLOG_T_INODE and PLOG_T_DST_INODE...). Returns the number of entries
 * changed, or -EINVAL, -EUCLEAN. Cost: one descriptor read per kept entry. */
int plog_clear_matching(struct plog *p, unsigned target, uint64_t value, uint64_t before_id);

/* Advance the tail over the prefix of dead entries and publish it. Returns
 * the number of entries reclaimed, or -EUCLEAN when a corrupt entry stops
 * it. plog_append calls it when space runs out. */
int plog_gc(struct plog *p);

/* Bytes between tail and head (kept entries, markers, padding). */
uint64_t plog_used(const struct plog *p);
/* The durable tid last set (plog_set_durable), checked against the
 * writer's seal. */
uint64_t plog_durable(const struct plog *p);
/* Bytes of the entry area (of each copy). */
uint64_t plog_capacity(const struct plog *p);
/* Bytes ordinary appends leave free (plog_set_headroom). */
uint64_t plog_headroom(const struct plog *p);
/* Position of the oldest kept entry (positions only grow). */
uint64_t plog_tail(const struct plog *p);
/* Where the next append stores the checksum of its primary operation part
 * (fault injection: the last store before the descriptor, the commit
 * point, is written). */
const void *plog_next_op_csum(const struct plog *p);

/* How full a region is, from its newest position record (safe to call
 * while the writer runs, e.g. for a status report): bytes between tail and
 * head, the entry area's size, and the number of kept entries. 0, or
 * -EINVAL, -EPROTO, -EUCLEAN as plog_attach. */
int plog_region_usage(const void *mem, size_t size, uint64_t *used, uint64_t *capacity,
		      uint64_t *entries);

/* ---- reading a region (recovery) ---- */

enum plog_copy { PLOG_PRIMARY = 0, PLOG_REPLICA = 1, PLOG_COPY_NONE = 0xff };

struct plog_entry {
	int err;            /* 0, or -EUCLEAN: no valid copy; do not use it */
	uint32_t region;    /* index into plog_merge's input; 0 in plog_scan */
	uint32_t worker;
	uint8_t desc_copy;  /* enum plog_copy the descriptor came from */
	uint8_t op_copy;    /* enum plog_copy the operation came from */
	bool live;          /* status bits or ipc_idx still set (true if unknown) */
	uint64_t seq;
	uint64_t id;        /* entry id, PLOG_ID_NONE when unknown */
	uint64_t order_ts;  /* merge key: desc.timestamp, or for an entry
	                       without a valid descriptor, the previous one's */
	struct plog_desc desc;   /* valid when desc_copy != PLOG_COPY_NONE */
	struct plog_op op;       /* valid when err == 0; paths point into the region */
	const void *data;        /* inline data in the region, or NULL */
	uint32_t data_len;
};

#define PLOG_SCAN_DEAD 1u /* also report dead entries (all bits clear) */

/* Called for each entry in log order; return 0 to go on, a negative value
 * to stop the scan with that value. */
typedef int (*plog_scan_fn)(const struct plog_entry *e, void *arg);

/* Walk a region from its tail: live entries (all entries with
 * PLOG_SCAN_DEAD), and every sequence number corrupt in both copies as an
 * entry with err = -EUCLEAN. Returns the number of entries reported,
 * -EINVAL, -EPROTO, -EUCLEAN (header unusable), or the callback's negative
 * value. Never writes to the region; any byte content is safe to scan. */
int plog_scan(const void *mem, size_t size, unsigned flags, plog_scan_fn fn, void *arg);

/* Scan n regions and merge their entries into one array ordered by
 * (order_ts, region, seq). *out is malloc'ed (free it), *count entries.
 * region_err[i] (if not NULL) gets region i's header status; regions whose
 * header is unusable contribute nothing. Returns 0, the first region error
 * (the array still holds every other region's entries), or -ENOMEM/-EINVAL
 * (then *out is NULL). */
int plog_merge(const void *const mems[], const size_t sizes[], unsigned n, unsigned flags,
	       struct plog_entry **out, size_t *count, int *region_err);

/* ---- protection ---- */

enum plog_protection {
	PLOG_PROTECT_NONE = 0, /* no memory protection keys on this machine */
	PLOG_PROTECT_PKEY = 1, /* writes only inside plog_append/plog_clear_*, plog_gc */
};

/* In the writer process: tag the mapping with a protection key that makes
 * it read-only to every thread except inside the plog functions above. Takes
 * one key per process on first use; without PKU (or no key left) the mode
 * stays PLOG_PROTECT_NONE and this returns 0. Returns -errno only when the
 * key exists but pkey_mprotect fails. */
int plog_protect_init(void *mem, size_t size);

/* Threads that existed before the first plog_protect_init have no access
 * to the key at all; such a thread calls this once before touching a log.
 * Threads created later inherit the right state. No-op without pkeys. */
void plog_protect_thread(void);

enum plog_protection plog_protection_mode(void);
const char *plog_protection_name(enum plog_protection mode);

/* ---- fault point (tests) ---- */

/* Damage entry `entry_id` as a stray write would: flip the last byte of its
 * operation part in both copies (its checksum then fails in both). For
 * fault tests only. 0 or -ENOENT. */
int plog_damage_entry(struct plog *p, uint64_t entry_id);

/* When set, called after every store group the writer makes in the region
 * (fields of a record, then its CRC), with the bytes just written. Crash
 * tests use it to rebuild the region as a death at that point would leave
 * it. NULL in production: one predictable branch per group. */
extern void (*plog_fault_hook)(void *arg, const void *addr, size_t len);
extern void *plog_fault_hook_arg;

#endif
