/*
 * ring.h - the shared-memory ring between one client process and the server,
 * byte by byte (docs/FORMAT.md, "Ring"). The supervisor creates each ring as
 * a memfd, fills the header, and passes the fd to the client and the server.
 *
 * Layout of a ring memfd (all offsets from the start of the mapping):
 *   [0, 4096)                         struct ank_ring_header
 *   [4096, 4096 + nslots * 256)       struct ank_ring_slot[nslots]
 *   [data_off + i * data_per_slot)    data buffer of slot i (page aligned)
 *
 * Slot state machine (the state word's single writer at each step is named):
 *
 *   FREE --client CAS--> CLIENT --client release--> SUBMITTED
 *        --server CAS--> SERVER --server release--> DONE
 *        --client release--> FREE
 *
 *   - CLIENT: a client thread owns the slot and fills the request fields and
 *     the data buffer. Publishing SUBMITTED is a release store, after which
 *     the client bumps the header's sq_seq and wakes the worker if it sleeps.
 *   - SERVER: the worker copies the request out (the ring is untrusted: it is
 *     validated only after the copy), runs it, writes result/out/data, then
 *     publishes DONE with a release store and wakes the client if `waiting`.
 *   - The client reads the result after an acquire load of DONE, then frees.
 *   - A worker that finds SUBMITTED or SERVER slots when it attaches a ring
 *     after a server restart completes them (recovery mode "none": result
 *     -EIO) before serving new requests.
 *
 * Waiting is spin-then-sleep on both sides: the client spins on its slot's
 * state, then sets `waiting` and futex-waits on the state word; the worker
 * spins over its rings, then sets `server_sleeping` and futex-waits on the
 * sq_seq words of all its rings (futex_waitv).
 *
 * Fields marked [supervisor] are written once before the fd is passed on;
 * [client] fields are written only by the client, [server] only by the
 * server; [atomic] words are accessed with barrier.h helpers only.
 */
#ifndef ANK_RING_H
#define ANK_RING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../util/crc32c.h"

#define ANK_RING_MAGIC 0x474E5241u /* "ARNG" */
#define ANK_RING_VERSION 4u
#define ANK_RING_HEADER_SIZE 4096u
#define ANK_RING_SLOT_SIZE 256u
#define ANK_RING_NSLOTS 32u
#define ANK_RING_DATA_PER_SLOT (1u << 20) /* 1 MiB: larger I/O is split */
#define ANK_RING_DATA_OFF \
	(ANK_RING_HEADER_SIZE + ANK_RING_NSLOTS * ANK_RING_SLOT_SIZE) /* 12288 */
#define ANK_RING_TOTAL_SIZE \
	((uint64_t)ANK_RING_DATA_OFF + (uint64_t)ANK_RING_NSLOTS * ANK_RING_DATA_PER_SLOT)

enum ank_slot_state {
	ANK_SLOT_FREE = 0,
	ANK_SLOT_CLIENT = 1,
	ANK_SLOT_SUBMITTED = 2,
	ANK_SLOT_SERVER = 3,
	ANK_SLOT_DONE = 4,
};

/* Path requests: a relative path starts at directory fd `fd` (the *at
 * calls), -1 meaning the root; another negative fd is answered EBADF.
 * A nonzero `at_ino` (`at2_ino` for the second path) names that directory
 * by inode number instead (how the FUSE front door addresses objects); an
 * OPEN with at_ino and the empty path opens that inode itself, and the
 * AT_EMPTY_PATH requests (STAT, CHMOD, CHOWN, UTIMENS, the xattr calls)
 * with the empty path act on it.
 * RENAME and LINK carry the second path's directory fd in `mode` and their
 * renameat2 / linkat flags in `flags`; STAT, LSTAT and ACCESS the
 * fstatat / faccessat flags; CHMOD, CHOWN and UTIMENS AT_SYMLINK_NOFOLLOW. */
enum ank_opcode {
	ANK_OP_NONE = 0,
	ANK_OP_OPEN = 1,      /* path, flags, mode -> fd */
	ANK_OP_CLOSE = 2,     /* fd */
	ANK_OP_READ = 3,      /* fd, len -> bytes in data */
	ANK_OP_WRITE = 4,     /* fd, len bytes in data */
	ANK_OP_PREAD = 5,     /* fd, len, off */
	ANK_OP_PWRITE = 6,    /* fd, len, off */
	ANK_OP_LSEEK = 7,     /* fd, off, flags = whence */
	ANK_OP_FSYNC = 8,     /* fd */
	ANK_OP_FDATASYNC = 9, /* fd */
	ANK_OP_FTRUNCATE = 10,/* fd, off = length */
	ANK_OP_TRUNCATE = 11, /* path, off = length */
	ANK_OP_STAT = 12,     /* path -> out.st */
	ANK_OP_FSTAT = 13,    /* fd -> out.st */
	ANK_OP_UNLINK = 14,   /* path */
	ANK_OP_RENAME = 15,   /* path, path2 */
	ANK_OP_LINK = 16,     /* path, path2 */
	ANK_OP_MKDIR = 17,    /* path, mode */
	ANK_OP_RMDIR = 18,    /* path */
	ANK_OP_READDIR = 19,  /* fd, len = buffer bytes -> packed entries in data,
	                         result = entry count; flags ANK_READDIR_SEEK:
	                         start at position off (a `next` of an entry);
	                         ANK_READDIR_PLUS: with each entry's stat */
	ANK_OP_SYNC = 20,
	ANK_OP_CHMOD = 21,    /* path, mode (07777 bits) */
	ANK_OP_FCHMOD = 22,   /* fd, mode */
	ANK_OP_CHOWN = 23,    /* path, off = uid << 32 | gid (0xffffffff: unchanged),
	                         flags = AT_SYMLINK_NOFOLLOW or 0 */
	ANK_OP_FCHOWN = 24,   /* fd, off as for CHOWN */
	ANK_OP_UTIMENS = 25,  /* path, struct ank_wire_times after the path (len 32),
	                         flags = AT_SYMLINK_NOFOLLOW or 0 */
	ANK_OP_FUTIMENS = 26, /* fd, struct ank_wire_times in data (len 32) */
	ANK_OP_SYMLINK = 27,  /* path = the new link, its target's len bytes after the
	                         path (no NUL) */
	ANK_OP_READLINK = 28, /* path, len = buffer bytes -> the target in data,
	                         result = its length (no NUL) */
	ANK_OP_LSTAT = 29,    /* path -> out.st, a final symbolic link not followed */
	ANK_OP_STATFS = 30,   /* path -> out: struct ank_wire_statfs */
	ANK_OP_FSTATFS = 31,  /* fd -> out: struct ank_wire_statfs */
	ANK_OP_ACCESS = 32,   /* path, mode = F_OK or R_OK | W_OK | X_OK */
	ANK_OP_MKNOD = 33,    /* path, mode = type | permission bits (umask applied),
	                         off = the device number (dev_t) */
	ANK_OP_FALLOCATE = 34,/* fd, flags = mode, struct ank_wire_range in data
	                         (len 16) */
	ANK_OP_GETFL = 35,    /* fd -> the fd's access mode and status flags */
	ANK_OP_SETFL = 36,    /* fd, flags = new status flags (O_APPEND) */
	/* Extended attributes: path, path2 = the attribute's name; flags
	 * AT_SYMLINK_NOFOLLOW (the l- calls), AT_EMPTY_PATH with an empty
	 * path (the f- calls: fd is the file's); mode unused (0). */
	ANK_OP_SETXATTR = 37, /* flags also XATTR_CREATE / XATTR_REPLACE, the
	                         value's len bytes after the paths */
	ANK_OP_GETXATTR = 38, /* len = buffer bytes (0: the size) -> the value in
	                         data after the paths, result = its length */
	ANK_OP_LISTXATTR = 39,/* path only; len = buffer bytes (0: the size) ->
	                         the names, each NUL-ended, in data after the path */
	ANK_OP_REMOVEXATTR = 40,
	ANK_OP_DUP = 41,      /* fd = the fd to copy, off = the new fd (flags
	                         ANK_DUP_EXACT: dup2/dup3) or the lowest it may
	                         be (flags 0: F_DUPFD) -> the new fd */
	ANK_OP_LOCK = 42,     /* fd, flags = ANK_LOCK_GET/SET/SETW | kind << 8
	                         (0 POSIX, 1 OFD, 2 flock), struct ank_wire_lock
	                         in data (len 24); GET answers a struct
	                         ank_wire_lock in out[] */
	ANK_OP_MAX = 43,
};

/* ANK_OP_LOCK commands */
#define ANK_LOCK_GET 0u  /* F_GETLK, F_OFD_GETLK */
#define ANK_LOCK_SET 1u  /* F_SETLK, F_OFD_SETLK, flock with LOCK_NB */
#define ANK_LOCK_SETW 2u /* F_SETLKW, F_OFD_SETLKW, flock: a conflict answers
                            EAGAIN after the deadlock check; the client asks
                            again */
/* ANK_OP_LOCK kinds (flags >> 8) */
#define ANK_LOCK_POSIX 0u
#define ANK_LOCK_OFD 1u
#define ANK_LOCK_FLOCK 2u

/* The times of UTIMENS/FUTIMENS, in the data buffer right after the paths
 * (the data of every request follows its paths). nsec may be UTIME_NOW or
 * UTIME_OMIT. `now` is 0 in the ring; the p-log entry holds the same
 * struct as the call ran it: the time used in place of UTIME_NOW, and
 * `now` 1 when both were UTIME_NOW (the permission rule of "now"), so that
 * a replay sets the same times. */
#define ANK_DUP_EXACT 1u
#define ANK_READDIR_SEEK 1u
#define ANK_READDIR_PLUS 2u /* each entry's struct ank_wire_stat follows its
                               name (at the next 8-byte boundary), within
                               reclen; zeros for an entry gone meanwhile */

/* fallocate's range (its length may exceed what a slot's data holds, so
 * it travels as data rather than in off and len). */
struct ank_wire_range {
	int64_t off;         /* 0 */
	int64_t len;         /* 8 */
};
_Static_assert(sizeof(struct ank_wire_range) == 16, "wire range");

/* LOCK's arguments (struct flock's fields; flock(2): type only) and
 * GET's answer (start absolute, whence SEEK_SET, len 0 = to the end, pid
 * of the holder, -1 for an OFD lock; type F_UNLCK when nothing conflicts).
 * In a request, pid is 1 when the caller's l_pid was not 0. */
struct ank_wire_lock {
	int64_t start;       /* 0 */
	int64_t len;         /* 8 */
	int16_t type;        /* 16 F_RDLCK, F_WRLCK, F_UNLCK */
	int16_t whence;      /* 18 */
	int32_t pid;         /* 20 */
};
_Static_assert(sizeof(struct ank_wire_lock) == 24, "wire lock");

struct ank_wire_times {
	int64_t atime_sec;   /* 0 */
	int64_t mtime_sec;   /* 8 */
	uint32_t atime_nsec; /* 16 */
	uint32_t mtime_nsec; /* 20 */
	uint32_t now;        /* 24 */
	uint32_t zero;       /* 28 */
};
_Static_assert(sizeof(struct ank_wire_times) == 32, "wire times");

/* stat as it travels in a slot (no padding, fixed widths). */
struct ank_wire_stat {
	uint64_t ino;        /* 0 */
	uint64_t size;       /* 8  for a device node (size 0): its st_rdev */
	uint64_t blocks;     /* 16 512-byte units */
	uint32_t mode;       /* 24 */
	uint32_t nlink;      /* 28 */
	uint32_t uid;        /* 32 */
	uint32_t gid;        /* 36 */
	int64_t atime_sec;   /* 40 */
	int64_t mtime_sec;   /* 48 */
	int64_t ctime_sec;   /* 56 */
	uint32_t atime_nsec; /* 64 */
	uint32_t mtime_nsec; /* 68 */
	uint32_t ctime_nsec; /* 72 */
	uint32_t generation; /* 76 the inode's generation (st_blksize is 4096) */
};
_Static_assert(sizeof(struct ank_wire_stat) == 80, "wire stat");

/* The answer of STATFS/FSTATFS in the slot's out[] (80 bytes). */
struct ank_wire_statfs {
	uint64_t blocks;     /* 0  blocks of the data region */
	uint64_t bfree;      /* 8  of them free */
	uint64_t files;      /* 16 inode numbers */
	uint64_t ffree;      /* 24 of them free */
	uint32_t bsize;      /* 32 4096 */
	uint32_t namelen;    /* 36 255 */
	uint32_t flags;      /* 40 ANK_STATFS_RDONLY */
	uint32_t zero[9];    /* 44 */
};
_Static_assert(sizeof(struct ank_wire_statfs) == 80, "wire statfs");
#define ANK_STATFS_RDONLY 1u

/* A readdir entry packed in the data buffer: header then name (no NUL),
 * each entry padded to 8 bytes. */
struct ank_wire_dirent {
	uint64_t ino;        /* 0 */
	uint64_t next;       /* 8 the directory position after this entry (a
	                          stable cookie: READDIR with ANK_READDIR_SEEK
	                          resumes there) */
	uint16_t reclen;     /* 16 bytes to the next entry */
	uint8_t type;        /* 18 DT_REG / DT_DIR / ... */
	uint8_t namelen;     /* 19 1..255 */
	/* 20: name */
} __attribute__((packed));
_Static_assert(sizeof(struct ank_wire_dirent) == 20, "wire dirent");

struct ank_ring_slot {
	uint32_t state;      /* 0   [atomic] enum ank_slot_state */
	uint32_t waiting;    /* 4   [client, atomic] client sleeps on state */
	uint32_t opcode;     /* 8   [client] enum ank_opcode */
	uint32_t flags;      /* 12  [client] open flags, lseek whence */
	int32_t fd;          /* 16  [client] */
	uint32_t mode;       /* 20  [client] create mode (umask applied) */
	int64_t off;         /* 24  [client] offset, or length (truncate) */
	uint64_t len;        /* 32  [client] data bytes (<= data_per_slot), at
	                            data[path_len + path2_len] */
	uint32_t path_len;   /* 40  [client] bytes of path 1 at data[0], NUL included */
	uint32_t path2_len;  /* 44  [client] bytes of path 2 at data[path_len], NUL incl. */
	uint64_t seq;        /* 48  [client] per-ring request number */
	int64_t result;      /* 56  [server] return value or -errno */
	uint8_t out[80];     /* 64  [server] struct ank_wire_stat for STAT/FSTAT; and
	                            for a request with at_ino that made or changed
	                            an object (OPEN, MKDIR, MKNOD, SYMLINK, LINK,
	                            CHMOD, CHOWN, UTIMENS, TRUNCATE) its stat after
	                            the call, or zeros (ino 0) when the answer was
	                            logged by a crashed server and republished */
	uint32_t data_sum;   /* 144 [client] CRC32C of the WRITE/PWRITE bytes */
	uint32_t reply_sum;  /* 148 [server] CRC32C of the READ/PREAD bytes returned */
	uint32_t req_sum;    /* 152 [client] ank_req_sum of the request's fields */
	uint32_t path_sum;   /* 156 [client] CRC32C of the path bytes, data[0,
	                            path_len + path2_len) */
	uint32_t result_sum; /* 160 [server] ank_result_sum of result, out, reply_sum */
	uint32_t zero;       /* 164 zero */
	uint64_t at_ino;     /* 168 [client] the directory path 1 starts at, by
	                            inode number (0: fd says) */
	uint64_t at2_ino;    /* 176 [client] the same for path 2 (0: mode says) */
	uint32_t as_set;     /* 184 [client] 1: the call acts with as_uid and as_gid
	                            (permission checks, a new object's owner)
	                            instead of the client's own credentials;
	                            allowed to root and to the service's owner
	                            (the front door of a user's mount), EPERM
	                            for others. 0: the client's own */
	uint32_t as_uid;     /* 188 [client] */
	uint32_t as_gid;     /* 192 [client] */
	uint8_t reserved[60]; /* 196 zero */
};
_Static_assert(sizeof(struct ank_ring_slot) == ANK_RING_SLOT_SIZE, "slot is 256 bytes");
_Static_assert(offsetof(struct ank_ring_slot, off) == 24, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, result) == 56, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, out) == 64, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, data_sum) == 144, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, reply_sum) == 148, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, req_sum) == 152, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, path_sum) == 156, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, result_sum) == 160, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, as_set) == 184, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, as_gid) == 192, "slot layout");
_Static_assert(offsetof(struct ank_ring_slot, at_ino) == 168, "slot layout");

/* The checksum of a request's fields (req_sum): CRC32C of the 68 bytes
 * opcode, flags, fd, mode, off, len, path_len, path2_len, seq, data_sum,
 * at_ino, at2_ino in this order, little-endian, as the slot holds them at
 * 8..56, 144..148 and 168..184.
 * The client takes it from its own arguments; the server checks it on its
 * copy before anything else, so a request damaged in the shared ring is
 * answered EIO rather than run with other arguments. */
static inline uint32_t ank_req_sum(uint32_t opcode, uint32_t flags, int32_t fd, uint32_t mode,
				   int64_t off, uint64_t len, uint32_t path_len, uint32_t path2_len,
				   uint64_t seq, uint32_t data_sum, uint64_t at_ino,
				   uint64_t at2_ino)
{
	uint8_t b[68];
	memcpy(b, &opcode, 4);
	memcpy(b + 4, &flags, 4);
	memcpy(b + 8, &fd, 4);
	memcpy(b + 12, &mode, 4);
	memcpy(b + 16, &off, 8);
	memcpy(b + 24, &len, 8);
	memcpy(b + 32, &path_len, 4);
	memcpy(b + 36, &path2_len, 4);
	memcpy(b + 40, &seq, 8);
	memcpy(b + 48, &data_sum, 4);
	memcpy(b + 52, &at_ino, 8);
	memcpy(b + 60, &at2_ino, 8);
	return crc32c(0, b, sizeof(b));
}

/* A request that acts with other credentials (as_set) chains them into
 * its req_sum: CRC32C of as_set, as_uid, as_gid (12 bytes) seeded with
 * ank_req_sum's value. One without them keeps ank_req_sum's value. */
static inline uint32_t ank_req_as_sum(uint32_t sum, uint32_t as_set, uint32_t as_uid,
				      uint32_t as_gid)
{
	if (!as_set)
		return sum;
	uint8_t b[12];
	memcpy(b, &as_set, 4);
	memcpy(b + 4, &as_uid, 4);
	memcpy(b + 8, &as_gid, 4);
	return crc32c(sum, b, sizeof(b));
}

/* The checksum of an answer (result_sum): CRC32C of result (8 bytes), out
 * (80) and reply_sum (4), in this order. The server takes it from what it
 * answers; the client checks it on the values it copied out, so an answer
 * damaged in the ring is never returned (an idempotent call is asked again,
 * any other fails with EIO). */
static inline uint32_t ank_result_sum(int64_t result, const uint8_t out[80], uint32_t reply_sum)
{
	uint8_t b[92];
	memcpy(b, &result, 8);
	memcpy(b + 8, out, 80);
	memcpy(b + 88, &reply_sum, 4);
	return crc32c(0, b, sizeof(b));
}

struct ank_ring_header {
	/* line 0: written by the supervisor before the fd is passed on */
	uint32_t magic;          /* 0   [supervisor] ANK_RING_MAGIC */
	uint32_t version;        /* 4   [supervisor] ANK_RING_VERSION */
	uint32_t header_size;    /* 8   [supervisor] 4096 */
	uint32_t slot_size;      /* 12  [supervisor] 256 */
	uint32_t nslots;         /* 16  [supervisor] */
	uint32_t data_per_slot;  /* 20  [supervisor] */
	uint64_t data_off;       /* 24  [supervisor] */
	uint64_t total_size;     /* 32  [supervisor] */
	uint64_t client_id;      /* 40  [supervisor] */
	uint32_t epoch;          /* 48  [supervisor, atomic] server generation; bumped
	                                before a restarted server attaches the ring */
	uint32_t client_pid;     /* 52  [supervisor] */
	uint8_t pad0[8];         /* 56  */
	/* line 1: the client's doorbell */
	uint32_t sq_seq;         /* 64  [client, atomic] bumped after each submit */
	uint8_t pad1[60];        /* 68  */
	/* line 2: the server's side */
	uint32_t server_sleeping;/* 128 [server, atomic] worker may sleep on sq_seq */
	uint32_t attached_epoch; /* 132 [server, atomic] epoch of the server serving it */
	uint32_t fd_high;        /* 136 [server, atomic] one more than the highest fd
	                                this client has had; a restarted server
	                                keeps those numbers as stale fds (EIO) */
	uint32_t worker;         /* 140 [server, atomic] 1 + index of the worker serving
	                                it (0: none); for the watchdog only */
	uint8_t pad2[48];        /* 144 */
	uint8_t reserved[ANK_RING_HEADER_SIZE - 192]; /* 192 zero */
};
_Static_assert(sizeof(struct ank_ring_header) == ANK_RING_HEADER_SIZE, "header is 4 KiB");
_Static_assert(offsetof(struct ank_ring_header, sq_seq) == 64, "doorbell on its own line");
_Static_assert(offsetof(struct ank_ring_header, server_sleeping) == 128, "server line");
_Static_assert(offsetof(struct ank_ring_header, worker) == 140, "server line");
_Static_assert(ANK_RING_DATA_OFF % 4096 == 0, "data buffers are page aligned");

static inline struct ank_ring_slot *ank_ring_slot(void *ring, unsigned i)
{
	return (struct ank_ring_slot *)((uint8_t *)ring + ANK_RING_HEADER_SIZE +
					(size_t)i * ANK_RING_SLOT_SIZE);
}

static inline uint8_t *ank_ring_data(void *ring, unsigned i)
{
	return (uint8_t *)ring + ANK_RING_DATA_OFF + (size_t)i * ANK_RING_DATA_PER_SLOT;
}

/* Check a mapped ring header against this build's layout: 0 or -EPROTO. */
static inline int ank_ring_check(const struct ank_ring_header *h)
{
	if (h->magic != ANK_RING_MAGIC || h->version != ANK_RING_VERSION ||
	    h->header_size != ANK_RING_HEADER_SIZE || h->slot_size != ANK_RING_SLOT_SIZE ||
	    h->nslots != ANK_RING_NSLOTS || h->data_per_slot != ANK_RING_DATA_PER_SLOT ||
	    h->data_off != ANK_RING_DATA_OFF || h->total_size != ANK_RING_TOTAL_SIZE)
		return -71; /* EPROTO */
	return 0;
}

#endif
