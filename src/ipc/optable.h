/*
 * optable.h - what each ring opcode means to the server, in one place.
 *
 * Every per-opcode decision of the server reads this table: how many paths
 * a request carries, which data crosses the ring, what the call does to an
 * fd, whether it opens a state gap (changes state a crash would lose, so it
 * is logged), how recovery mode "sync" makes it durable, and its row of the
 * AIM rule table (docs/RECOVERY.md). The model is libfuse's fuse_ll_ops[]:
 * one entry per opcode, indexed by the opcode.
 */
#ifndef ANK_OPTABLE_H
#define ANK_OPTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

/* What the call does to the fd it names (or returns). */
enum op_fd {
	OPFD_NONE,   /* no fd, or one it only uses (pread, pwrite, fstat, fsync) */
	OPFD_OPENS,  /* returns a new fd */
	OPFD_MOVES,  /* moves the fd's offset (read, write, lseek, readdir) */
	OPFD_CLOSES, /* closes it */
	OPFD_DUPS,   /* returns a new fd on the open file description of the
	                fd it names (dup) */
	OPFD_FLAGS,  /* changes the status flags of the fd's description, for
	                every fd on it (setfl) */
};

/* What a request's second path is (npaths 2). */
enum op_second {
	P2_NONE,
	P2_PATH,       /* a second path, relative to a second directory (rename,
	                  link) */
	P2_XATTR_NAME, /* an extended attribute's name (setxattr, getxattr,
	                  removexattr) */
};

/* The inode a call acts on or makes: a logged entry's inode target, and
 * the stat a request by inode number is answered with. */
enum op_object {
	OBJ_NONE,   /* none, or several (rename, unlink) */
	OBJ_FD,     /* the inode of the fd it names or returns */
	OBJ_NEW,    /* the inode it makes at its path (mkdir, mknod, symlink) */
	OBJ_NAMED,  /* the inode its path names (chmod, truncate, setxattr) */
	OBJ_LINKED, /* the inode its second path names once it ran (link) */
};

/* Bytes logged with the entry besides its paths, and where they come from. */
enum op_logged {
	LOGGED_NONE,
	LOGGED_RING,   /* the slot's data as the client sent it (write, pwrite:
	                  the bytes written; fallocate: its range), checked
	                  against the request's data sum before it is logged */
	LOGGED_TIMES,  /* the times that ran, UTIME_NOW resolved (utimensat) */
	LOGGED_TARGET, /* the target that ran (symlink) */
	LOGGED_XVALUE, /* the value that ran (setxattr) */
};

/* The state a crash would lose if the call were not logged. */
enum op_gap {
	GAP_NONE,    /* a query: nothing to lose (stat, pread) */
	GAP_FD,      /* the fd table only (read, lseek, readdir, close) */
	GAP_META,    /* the file system (write, truncate, the namespace) */
	GAP_OPEN,    /* open: the fd table, and the file system with O_CREAT or
	                O_TRUNC */
	GAP_DURABLE, /* makes earlier calls durable (fsync, sync): not logged */
};

/* File data crossing the ring in the slot's data buffer. */
enum op_data {
	DATA_NONE,
	DATA_IN,     /* client to server: len bytes (write, pwrite) */
	DATA_OUT,    /* server to client: result bytes (read, pread) */
	DATA_DIRENTS,/* server to client: packed entries (readdir) */
	DATA_ARGS,   /* client to server: len bytes of structured arguments
	                after the paths (utimensat's times), logged with the
	                entry as the call ran them */
	DATA_QUERY,  /* client to server: len bytes of arguments of a call that
	                is not logged (lock) */
};

/* The fd offset an entry leaves behind (for OPFD_OPENS and OPFD_MOVES). */
enum op_offset {
	OFFSET_ZERO,        /* open */
	OFFSET_AT_OFF,      /* the entry's off: the position after the call
	                       (read, readdir) */
	OFFSET_OFF_PLUS_LEN,/* off + len: after the data written (write) */
	OFFSET_RESULT,      /* the call's result (lseek) */
};

/* How recovery mode "sync" makes a successful call durable before it
 * answers. */
enum op_sync {
	SYNC_NONE,
	SYNC_FD,     /* fsync the request's fd */
	SYNC_NEW_FD, /* fsync the fd the call returned (open, with O_CREAT or
	                O_TRUNC) */
	SYNC_ALL,    /* commit everything (path calls) */
};

/* The call's row of the AIM rule table (docs/RECOVERY.md) for an entry
 * that is not durable; a durable entry is Ignored except for the fd it
 * leaves (Modify). */
enum op_aim {
	AIM_NOT_LOGGED, /* queries and syncs */
	AIM_OFFSET,     /* Modify → lseek: only the fd's offset comes back
	                   (read, readdir) */
	AIM_SEEK,       /* Act, offset only (lseek) */
	AIM_CLOSE,      /* the fd goes (close) */
	AIM_OPEN,       /* Act: create the logged inode or truncate, reopen */
	AIM_DATA,       /* Act: pwrite the logged data at the logged position */
	AIM_REDO,       /* Act: run the call again with the logged arguments */
};

struct op_info {
	const char *name;
	uint8_t npaths;      /* paths at the start of the data buffer: 0, 1, 2 */
	uint8_t second;      /* enum op_second: what the second path is */
	uint8_t fd;          /* enum op_fd */
	uint8_t gap;         /* enum op_gap */
	uint8_t data;        /* enum op_data */
	uint8_t offset;      /* enum op_offset */
	uint8_t sync;        /* enum op_sync */
	uint8_t aim;         /* enum op_aim */
	uint8_t object;      /* enum op_object */
	uint8_t logged;      /* enum op_logged */
	bool stat;           /* a request by inode number is answered with the
	                        object's stat (ring.h, out[]) */
};

/* Indexed by opcode, 0 (ANK_OP_NONE) to ANK_OP_MAX - 1 (incomplete here,
 * so that optable.c's static assert counts its initialisers). */
extern const struct op_info op_table[];

/* The entry of a valid opcode (1 .. ANK_OP_MAX - 1), else NULL. */
static inline const struct op_info *op_info(uint32_t opcode)
{
	return opcode > ANK_OP_NONE && opcode < ANK_OP_MAX ? &op_table[opcode] : NULL;
}

/* Is the call logged (it opens a state gap)? */
static inline bool op_logged(const struct op_info *o)
{
	return o->gap == GAP_FD || o->gap == GAP_META || o->gap == GAP_OPEN;
}

/* Does pass 3 of the replay act on a non-durable entry of this call? */
static inline bool op_acts(const struct op_info *o)
{
	return o->aim == AIM_OPEN || o->aim == AIM_DATA || o->aim == AIM_REDO;
}

/* Does the call change nothing, so that a client may ask again when its
 * answer arrived damaged? (Not a lock call: taking a lock is state.) */
static inline bool op_is_query(const struct op_info *o)
{
	return o->gap == GAP_NONE && o->data != DATA_QUERY;
}

/* Does the call return a new fd? */
static inline bool op_returns_fd(const struct op_info *o)
{
	return o->fd == OPFD_OPENS || o->fd == OPFD_DUPS;
}

/* Does a successful call with these open flags make an inode? */
static inline bool op_creates(const struct op_info *o, uint32_t open_flags)
{
	return o->object == OBJ_NEW || (o->gap == GAP_OPEN && (open_flags & 0100u /* O_CREAT */));
}

/* Does a successful call with these open flags change the file system? */
static inline bool op_changes_fs(const struct op_info *o, uint32_t open_flags)
{
	return o->gap == GAP_META ||
	       (o->gap == GAP_OPEN && (open_flags & (0100u /* O_CREAT */ | 01000u /* O_TRUNC */)));
}

#endif
