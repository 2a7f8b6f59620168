/*
 * optable.c - the operation table (optable.h): one entry per ring opcode.
 * The AIM column follows docs/RECOVERY.md's rule table row by row.
 */
#include "optable.h"

#include <fcntl.h>

_Static_assert(O_CREAT == 0100 && O_TRUNC == 01000, "optable.h spells these flags");

/*
 * The table is written once, as a list (OP_LIST), and expanded twice: into
 * the array, and into a count of its rows. With the count equal to the
 * number of opcodes, no designator repeated (-Woverride-init, an error in
 * the warning build) and none past the end (the array's size), every
 * opcode has exactly one row: a missing one fails the build.
 */
#define OP_LIST(OP) \
	/*  opcode             name           paths second         fd           gap          data          fd offset            sync         AIM row         object      logged         stat */ \
	OP(ANK_OP_OPEN,       "open",        1, P2_NONE,       OPFD_OPENS,  GAP_OPEN,    DATA_NONE,    OFFSET_ZERO,         SYNC_NEW_FD, AIM_OPEN,       OBJ_FD,     LOGGED_NONE,   1) \
	OP(ANK_OP_CLOSE,      "close",       0, P2_NONE,       OPFD_CLOSES, GAP_FD,      DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_CLOSE,      OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_READ,       "read",        0, P2_NONE,       OPFD_MOVES,  GAP_FD,      DATA_OUT,     OFFSET_AT_OFF,       SYNC_NONE,   AIM_OFFSET,     OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_WRITE,      "write",       0, P2_NONE,       OPFD_MOVES,  GAP_META,    DATA_IN,      OFFSET_OFF_PLUS_LEN, SYNC_FD,     AIM_DATA,       OBJ_FD,     LOGGED_RING,   0) \
	OP(ANK_OP_PREAD,      "pread",       0, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_OUT,     OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_PWRITE,     "pwrite",      0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_IN,      OFFSET_ZERO,         SYNC_FD,     AIM_DATA,       OBJ_FD,     LOGGED_RING,   0) \
	OP(ANK_OP_LSEEK,      "lseek",       0, P2_NONE,       OPFD_MOVES,  GAP_FD,      DATA_NONE,    OFFSET_RESULT,       SYNC_NONE,   AIM_SEEK,       OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_FSYNC,      "fsync",       0, P2_NONE,       OPFD_NONE,   GAP_DURABLE, DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_FDATASYNC,  "fdatasync",   0, P2_NONE,       OPFD_NONE,   GAP_DURABLE, DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_FTRUNCATE,  "ftruncate",   0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_FD,     AIM_REDO,       OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_TRUNCATE,   "truncate",    1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_NONE,   1) \
	OP(ANK_OP_STAT,       "stat",        1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_FSTAT,      "fstat",       0, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_UNLINK,     "unlink",      1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_RENAME,     "rename",      2, P2_PATH,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_LINK,       "link",        2, P2_PATH,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_LINKED, LOGGED_NONE,   1) \
	OP(ANK_OP_MKDIR,      "mkdir",       1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NEW,    LOGGED_NONE,   1) \
	OP(ANK_OP_RMDIR,      "rmdir",       1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_READDIR,    "readdir",     0, P2_NONE,       OPFD_MOVES,  GAP_FD,      DATA_DIRENTS, OFFSET_AT_OFF,       SYNC_NONE,   AIM_OFFSET,     OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_SYNC,       "sync",        0, P2_NONE,       OPFD_NONE,   GAP_DURABLE, DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_CHMOD,      "chmod",       1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_NONE,   1) \
	OP(ANK_OP_FCHMOD,     "fchmod",      0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_FD,     AIM_REDO,       OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_CHOWN,      "chown",       1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_NONE,   1) \
	OP(ANK_OP_FCHOWN,     "fchown",      0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_FD,     AIM_REDO,       OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_UTIMENS,    "utimensat",   1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_ARGS,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_TIMES,  1) \
	OP(ANK_OP_FUTIMENS,   "futimens",    0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_ARGS,    OFFSET_ZERO,         SYNC_FD,     AIM_REDO,       OBJ_FD,     LOGGED_TIMES,  0) \
	OP(ANK_OP_SYMLINK,    "symlink",     1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_ARGS,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NEW,    LOGGED_TARGET, 1) \
	OP(ANK_OP_READLINK,   "readlink",    1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_OUT,     OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_LSTAT,      "lstat",       1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_STATFS,     "statfs",      1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_FSTATFS,    "fstatfs",     0, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_ACCESS,     "access",      1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_MKNOD,      "mknod",       1, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NEW,    LOGGED_NONE,   1) \
	OP(ANK_OP_GETFL,      "getfl",       0, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_NONE,    OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_SETFL,      "setfl",       0, P2_NONE,       OPFD_FLAGS,  GAP_FD,      DATA_NONE,    OFFSET_AT_OFF,       SYNC_NONE,   AIM_OFFSET,     OBJ_FD,     LOGGED_NONE,   0) \
	OP(ANK_OP_FALLOCATE,  "fallocate",   0, P2_NONE,       OPFD_NONE,   GAP_META,    DATA_ARGS,    OFFSET_ZERO,         SYNC_FD,     AIM_REDO,       OBJ_FD,     LOGGED_RING,   0) \
	OP(ANK_OP_SETXATTR,   "setxattr",    2, P2_XATTR_NAME, OPFD_NONE,   GAP_META,    DATA_ARGS,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_XVALUE, 0) \
	OP(ANK_OP_GETXATTR,   "getxattr",    2, P2_XATTR_NAME, OPFD_NONE,   GAP_NONE,    DATA_OUT,     OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_LISTXATTR,  "listxattr",   1, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_OUT,     OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0) \
	OP(ANK_OP_REMOVEXATTR, "removexattr", 2, P2_XATTR_NAME, OPFD_NONE,   GAP_META,    DATA_NONE,    OFFSET_ZERO,         SYNC_ALL,    AIM_REDO,       OBJ_NAMED,  LOGGED_NONE,   0) \
	OP(ANK_OP_DUP,        "dup",         0, P2_NONE,       OPFD_DUPS,   GAP_FD,      DATA_NONE,    OFFSET_AT_OFF,       SYNC_NONE,   AIM_OFFSET,     OBJ_FD,     LOGGED_NONE,   0) \
	/* locks are kept in their own table (locktab.c), not logged */ \
	OP(ANK_OP_LOCK,       "lock",        0, P2_NONE,       OPFD_NONE,   GAP_NONE,    DATA_QUERY,   OFFSET_ZERO,         SYNC_NONE,   AIM_NOT_LOGGED, OBJ_NONE,   LOGGED_NONE,   0)

#define OP_ROW(op, nm, np, p2, f, g, d, o, s, a, ob, lg, st) \
	[op] = {.name = nm, .npaths = np, .second = p2, .fd = f, .gap = g, .data = d, .offset = o, \
		.sync = s, .aim = a, .object = ob, .logged = lg, .stat = st},
#define OP_ONE(...) +1

const struct op_info op_table[] = {
	[ANK_OP_NONE] = {.name = NULL},
	OP_LIST(OP_ROW)
};

_Static_assert(sizeof(op_table) / sizeof(op_table[0]) == ANK_OP_MAX,
	       "no opcode past the end of op_table");
_Static_assert(0 OP_LIST(OP_ONE) == ANK_OP_MAX - 1, "every opcode has one row in OP_LIST");
