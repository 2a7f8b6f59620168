/*
 * test_corrupt.c - corrupted volumes never crash fsck or the file system,
 * and corruption of checksummed live structures is always reported.
 *
 * A populated volume is built once: directories, files of several sizes, a
 * sparse 8 MiB file written every other 4 KiB block (1024 extents, so its
 * extent tree has node blocks), a directory of 500 entries; symbolic links
 * with short targets (in the inode) and long ones of 200 to 399 bytes (in
 * a block), relative and absolute, of each kind one to a file, one
 * dangling and one to a directory, and one through a link; extended
 * attributes (user., trusted., security.; values of 0 to 4012 bytes) on two
 * files, a directory, a symbolic link and a FIFO, one file's attribute
 * block filled to within 4 bytes of its capacity; and special inodes: a
 * FIFO, a socket, a character and a block device. Images:
 *   clean  - after a clean unmount (empty journal);
 *   crash  - remounted, more operations (among them an attribute replaced
 *            and a new symbolic link), fs_sync, then the machine stops:
 *            one committed transaction waits in the journal;
 *   orphan - the crash image plus a file unlinked while open, committed.
 * Structure locations come from parsing the images with format.h (the
 * superblock's regions, the journal from its header, inodes, extent trees,
 * each inode's xattr_block). Besides the superblock, journal, bitmaps,
 * inodes, directory blocks, extent nodes and file data, three structures
 * are targets of their own: attribute blocks, symbolic link target blocks
 * (a long link's block 0: the target's bytes and the 8 after them, which
 * must never be taken for part of it; a short target is in its inode) and
 * the inode slots of special inodes.
 *
 * Each trial copies an image into a fresh emulated device and flips 1..4
 * distinct random bits in a chosen structure, then:
 *   (a) fsck (check only) must return 0, 1, 4 or 8, and != 0 when the flip
 *       hit a checksummed live structure (superblock, used inode, special
 *       inode, directory block, extent node, attribute block) or an
 *       in-range allocation bitmap bit. A target in a block is data without
 *       a checksum, and fsck checks of such a link that it maps its block 0
 *       alone: a flip there need not be reported, but when fsck calls the
 *       volume clean, readlink must return the damaged bytes exactly as
 *       stored;
 *   (b) fs_mount must fail with a negative errno or succeed; when it
 *       succeeds the whole tree is walked (every directory listed, every
 *       file read, every link read with readlink and followed, every
 *       special file stat'ed, the attributes of every inode listed and
 *       each one read), a few changes are made (create, write, mkdir,
 *       rename, truncate, unlink, sync), every call must return a value or
 *       a negative errno, then it is unmounted. When fsck had found the
 *       corrupted volume clean, nothing may fail (following a link may: a
 *       dangling one answers ENOENT) and fsck must still be clean
 *       afterwards. After journal corruption a mounted tree (names, types,
 *       contents, link targets, device numbers, attributes) must be the
 *       state before or after the committed transaction, never a mixture;
 *   (c) on a second copy, fsck --repair then fsck: when the repair returned
 *       0 or 1 the second run must return 0, and the volume must then mount,
 *       read back without any error and unmount clean. A repair answering 4
 *       (not repairable) or 8 is accepted and counted.
 * Under ASan/UBSan this shows the absence of memory errors on bad input.
 *
 * A damaged superblock or journal header (checksummed bytes) must also make
 * the mount refuse. A NUL byte made in each link's target (inline ones with
 * the inode's checksum made to match), which the file system refuses as
 * corrupt, must be reported by fsck or read by the file system: the checks
 * (a) to (c) apply.
 *
 * Environment: ANK_CORRUPT_SEED (base seed, default 1, printed), ANK_CORRUPT_TRIALS
 * (trials of the random-anywhere test, default 300), ANK_CORRUPT_VERBOSE=1
 * (print every trial).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/format.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"
#include "../src/util/common.h"
#include "../src/util/crc32c.h"

#define BS ANK_BLOCK_SIZE
#define NBLK 2048u            /* 8 MiB volumes */
#define MANY 500              /* entries of /many */
#define READ_HEAD (1u << 20)  /* bytes read from the start of each file */
#define READ_TAIL (64u << 10) /* and from its end */
#define MAX_REPORTS 8

static const struct fs_options mount_opt = { .no_background = true };

/* ---- helpers ------------------------------------------------------------------ */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	if (!s || !*s)
		return def;
	return strtoul(s, NULL, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rndu(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rnd(s) % n) : 0;
}

static void gen(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(&s);

		memcpy(p + i, &v, ANK_MIN((size_t)8, n - i));
	}
}

static bool is_errno(long rc)
{
	return rc < 0 && rc >= -4095;
}

static uint64_t base_seed;
static int reports_left;

static int run_fsck(struct bdev *dev, bool repair, bool print)
{
	struct fsck_options o = { .repair = repair, .quiet = true, .out = print ? stderr : NULL };

	return fsck_run(dev, &o, NULL);
}

static bool fsck_code_ok(int rc)
{
	return rc == 0 || rc == 1 || rc == 4 || rc == 8;
}

/* ---- walking a mounted volume, defensively ------------------------------------ */

struct tent {
	char *path;
	uint64_t ino;
	uint32_t type; /* st_mode & S_IFMT */
	uint64_t size; /* a device: st_rdev */
	uint32_t crc;  /* of the bytes the walk reads: a file's data, a link's target */
	uint32_t xcrc; /* of the attribute names and values, as listed */
};

struct walk {
	struct fs_client *c;
	uint8_t *buf;
	char *names;     /* listxattr */
	uint64_t entries;
	uint64_t errors; /* calls answered with a negative errno */
	char bad[300];   /* a call answered with neither a value nor -errno */
	uint64_t *seen;  /* directory inodes entered */
	size_t nseen, capseen;
	bool collect;
	struct tent *t;
	size_t n, cap;
};

#define XLIST_MAX 65536u /* Linux's XATTR_LIST_MAX and XATTR_SIZE_MAX */
#define XSIZE_MAX 65536u

static void walk_bad(struct walk *w, const char *what, const char *path, long rc)
{
	if (!w->bad[0])
		snprintf(w->bad, sizeof(w->bad), "%s %.200s returned %ld", what, path, rc);
}

/* Check one result: a value in [lo, hi], or a negative errno. */
static bool walk_rc(struct walk *w, const char *what, const char *path, long rc, long lo, long hi)
{
	if (rc >= lo && rc <= hi)
		return true;
	if (is_errno(rc))
		w->errors++;
	else
		walk_bad(w, what, path, rc);
	return false;
}

static void tree_add(struct walk *w, const char *path, uint64_t ino, uint32_t type, uint64_t size,
		     uint32_t crc, uint32_t xcrc)
{
	if (!w->collect)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->t = realloc(w->t, w->cap * sizeof(*w->t));
		assert_non_null(w->t);
	}
	w->t[w->n].path = strdup(path);
	assert_non_null(w->t[w->n].path);
	w->t[w->n].ino = ino;
	w->t[w->n].type = type;
	w->t[w->n].size = size;
	w->t[w->n].crc = crc;
	w->t[w->n].xcrc = xcrc;
	w->n++;
}

/* Every extended attribute of path (a link itself, not followed): listed,
 * then each read, its size asked first as a caller sizing a buffer does.
 * Returns the CRC32C of the names and values in the listed order. */
static uint32_t walk_xattrs(struct walk *w, const char *path)
{
	uint32_t crc = 0;
	ssize_t need = fs_listxattrat(w->c, FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, NULL, 0);

	if (!walk_rc(w, "listxattr size", path, need, 0, XLIST_MAX) || need == 0)
		return 0;
	ssize_t n = fs_listxattrat(w->c, FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, w->names,
				   XLIST_MAX);

	if (!walk_rc(w, "listxattr", path, n, 0, XLIST_MAX))
		return 0;
	if (n != need) {
		walk_bad(w, "listxattr, after announcing another size,", path, n);
		return 0;
	}
	if (n > 0 && w->names[n - 1] != '\0') {
		walk_bad(w, "listxattr without a final NUL", path, n);
		return 0;
	}
	for (ssize_t off = 0; off < n;) {
		const char *name = w->names + off;
		size_t len = strlen(name);

		if (len == 0) {
			walk_bad(w, "listxattr with an empty name", path, n);
			break;
		}
		crc = crc32c(crc, name, len + 1);
		off += (ssize_t)len + 1;
		ssize_t vs =
			fs_getxattrat(w->c, FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name, NULL, 0);

		if (!walk_rc(w, "getxattr size", path, vs, 0, XSIZE_MAX))
			continue;
		ssize_t v = fs_getxattrat(w->c, FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name, w->buf,
					  XSIZE_MAX);

		if (!walk_rc(w, "getxattr", path, v, 0, XSIZE_MAX))
			continue;
		if (v != vs)
			walk_bad(w, "getxattr, after announcing another size,", path, v);
		crc = crc32c(crc, w->buf, (size_t)v);
	}
	return crc;
}

static void read_whole(struct walk *w, const char *path, uint32_t xcrc)
{
	struct stat st;
	uint32_t crc = 0;
	int fd = fs_open(w->c, path, O_RDONLY, 0);

	if (!walk_rc(w, "open", path, fd, 0, 1 << 20))
		return;
	int rc = fs_fstat(w->c, fd, &st);

	if (walk_rc(w, "fstat", path, rc, 0, 0)) {
		uint64_t size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
		uint64_t head = ANK_MIN(size, (uint64_t)READ_HEAD);

		for (uint64_t off = 0; off < head;) {
			size_t want = (size_t)ANK_MIN(head - off, (uint64_t)(256u << 10));
			ssize_t n = fs_pread(w->c, fd, w->buf, want, (off_t)off);

			if (!walk_rc(w, "pread", path, n, 0, (long)want) || n == 0)
				break;
			crc = crc32c(crc, w->buf, (size_t)n);
			off += (uint64_t)n;
		}
		if (size > head && size < ((uint64_t)1 << 62)) {
			uint64_t off = ANK_MAX(head, size - READ_TAIL);
			ssize_t n = fs_pread(w->c, fd, w->buf, READ_TAIL, (off_t)off);

			if (walk_rc(w, "pread", path, n, 0, READ_TAIL))
				crc = crc32c(crc, w->buf, (size_t)n);
		}
		tree_add(w, path, (uint64_t)st.st_ino, S_IFREG, size, crc, xcrc);
	}
	rc = fs_close(w->c, fd);
	(void)walk_rc(w, "close", path, rc, 0, 0);
}

/* A symbolic link (lst: its lstat): its target, then the path followed.
 * Following may fail (a dangling link answers ENOENT, a damaged target
 * anything), so it is not counted as an error; it must still answer 0 or
 * a negative errno. */
static void read_link(struct walk *w, const char *path, const struct stat *lst, uint32_t xcrc)
{
	char target[ANK_SYMLINK_MAX];
	struct stat st;
	ssize_t n = fs_readlink(w->c, path, target, sizeof(target));

	if (walk_rc(w, "readlink", path, n, 1, ANK_SYMLINK_MAX - 1)) {
		if (n != lst->st_size)
			walk_bad(w, "readlink, where lstat gave another size,", path, n);
		tree_add(w, path, (uint64_t)lst->st_ino, S_IFLNK, (uint64_t)n,
			 crc32c(0, target, (size_t)n), xcrc);
	}
	int rc = fs_stat(w->c, path, &st);

	if (rc != 0 && !is_errno(rc))
		walk_bad(w, "stat through the link", path, rc);
}

static void walk_dir(struct walk *w, const char *path, int depth)
{
	enum { BATCH = 64 };
	struct fs_dirent *ents;
	struct stat st;

	if (depth > 40 || w->entries > 50000)
		return;
	int rc = fs_stat(w->c, *path ? path : "/", &st);

	if (!walk_rc(w, "stat", path, rc, 0, 0))
		return;
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == (uint64_t)st.st_ino)
			return; /* a directory reachable twice: corruption, already listed */
	if (w->nseen == w->capseen) {
		w->capseen = w->capseen ? w->capseen * 2 : 64;
		w->seen = realloc(w->seen, w->capseen * sizeof(*w->seen));
		assert_non_null(w->seen);
	}
	w->seen[w->nseen++] = (uint64_t)st.st_ino;
	if (depth == 0)
		(void)walk_xattrs(w, "/"); /* (the others' are read in their parent's loop) */
	int fd = fs_open(w->c, *path ? path : "/", O_RDONLY | O_DIRECTORY, 0);

	if (!walk_rc(w, "opendir", path, fd, 0, 1 << 20))
		return;
	ents = malloc(BATCH * sizeof(*ents));
	assert_non_null(ents);
	for (unsigned calls = 0; calls < 100000; calls++) {
		int n = fs_readdir(w->c, fd, ents, BATCH);

		if (!walk_rc(w, "readdir", path, n, 0, BATCH) || n == 0)
			break;
		for (int i = 0; i < n; i++) {
			char child[4096];
			size_t pl = strlen(path), nl = strnlen(ents[i].name, sizeof(ents[i].name));

			if (nl == sizeof(ents[i].name)) {
				walk_bad(w, "readdir name without NUL in", path, n);
				continue;
			}
			if (!strcmp(ents[i].name, ".") || !strcmp(ents[i].name, ".."))
				continue;
			if (pl + 1 + nl >= sizeof(child))
				continue;
			memcpy(child, path, pl);
			child[pl] = '/';
			memcpy(child + pl + 1, ents[i].name, nl + 1);
			w->entries++;
			/* lstat: a link is read as a link, never walked into */
			rc = fs_lstat(w->c, child, &st);
			if (!walk_rc(w, "lstat", child, rc, 0, 0))
				continue;
			uint32_t xcrc = walk_xattrs(w, child);

			if (S_ISDIR(st.st_mode)) {
				tree_add(w, child, (uint64_t)st.st_ino, S_IFDIR, 0, 0, xcrc);
				walk_dir(w, child, depth + 1);
			} else if (S_ISREG(st.st_mode)) {
				read_whole(w, child, xcrc);
			} else if (S_ISLNK(st.st_mode)) {
				read_link(w, child, &st, xcrc);
			} else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
				   S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
				/* no data: its stat (followed, the same inode) is all */
				struct stat fst;

				rc = fs_stat(w->c, child, &fst);
				if (!walk_rc(w, "stat", child, rc, 0, 0))
					continue;
				if (fst.st_ino != st.st_ino || fst.st_mode != st.st_mode ||
				    fst.st_rdev != st.st_rdev)
					walk_bad(w, "stat, unlike lstat, of", child,
						 (long)fst.st_mode);
				tree_add(w, child, (uint64_t)st.st_ino, st.st_mode & S_IFMT,
					 (uint64_t)st.st_rdev, 0, xcrc);
			} else {
				walk_bad(w, "lstat mode of", child, (long)st.st_mode);
			}
		}
	}
	free(ents);
	rc = fs_close(w->c, fd);
	(void)walk_rc(w, "closedir", path, rc, 0, 0);
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->t[i].path);
	free(w->t);
	free(w->seen);
	free(w->buf);
	free(w->names);
	memset(w, 0, sizeof(*w));
}

static int tent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tent *)a)->path, ((const struct tent *)b)->path);
}

/* Walk a mounted fs; the tree (sorted) stays in w when collect. */
static void walk_fs(struct fs *fs, struct walk *w, bool collect)
{
	memset(w, 0, sizeof(*w));
	w->c = fs_client_new(fs, 0, 0);
	assert_non_null(w->c);
	w->buf = malloc(256u << 10);
	assert_non_null(w->buf);
	w->names = malloc(XLIST_MAX);
	assert_non_null(w->names);
	w->collect = collect;
	walk_dir(w, "", 0);
	fs_client_free(w->c);
	w->c = NULL;
	if (w->n)
		qsort(w->t, w->n, sizeof(*w->t), tent_cmp);
}

static bool tree_equal(const struct walk *a, const struct walk *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->t[i].path, b->t[i].path) || a->t[i].ino != b->t[i].ino ||
		    a->t[i].type != b->t[i].type || a->t[i].size != b->t[i].size ||
		    a->t[i].crc != b->t[i].crc || a->t[i].xcrc != b->t[i].xcrc)
			return false;
	return true;
}

/* ---- the images ------------------------------------------------------------------ */

static uint8_t *clean_img, *crash_img, *orphan_img;
static struct walk tree_a, tree_b; /* the crash image without / with its transaction */

static int write_file(struct fs_client *c, const char *path, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	int fd = fs_open(c, path, O_CREAT | O_EXCL | O_RDWR, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	gen(buf, len, seed);
	assert_int_equal(fs_write(c, fd, buf, len), (ssize_t)len);
	assert_int_equal(fs_close(c, fd), 0);
	free(buf);
	return 0;
}

static void set_xattr(struct fs_client *c, const char *path, const char *name, size_t len,
		      uint64_t seed)
{
	uint8_t *v = malloc(len ? len : 1);

	assert_non_null(v);
	gen(v, len, seed);
	assert_int_equal(fs_setxattrat(c, FS_AT_ROOT, path, AT_SYMLINK_NOFOLLOW, name, v, len, 0),
			 0);
	free(v);
}

/* A target of `len` bytes: `head`, then `rep` as often as it fits whole,
 * then `tail` (and the rest of `rep` cut to fit). */
static const char *long_target(char *buf, size_t len, const char *head, const char *rep,
			       const char *tail)
{
	size_t k = strlen(head), t = strlen(tail);

	memcpy(buf, head, k);
	while (k + t < len) {
		size_t n = ANK_MIN(strlen(rep), len - t - k);

		memcpy(buf + k, rep, n);
		k += n;
	}
	memcpy(buf + k, tail, t + 1);
	assert_int_equal(strlen(buf), len);
	return buf;
}

/* Symbolic links, extended attributes and special inodes. */
static void populate_other_types(struct fs_client *c)
{
	char target[512];
	int fd;

	/* Targets of up to ANK_INLINE_LINK_MAX bytes live in the inode, longer
	 * ones in the link's block 0: both kinds, each kind with one link to
	 * a file, one dangling and one to a directory. */
	assert_int_equal(fs_mkdir(c, "/links", 0755), 0);
	assert_int_equal(fs_symlink(c, "/docs/s1", "/links/short"), 0);
	assert_int_equal(fs_symlink(c, "../a/x", "/links/rel"), 0);
	assert_int_equal(fs_symlink(c, long_target(target, 399, "../a/", "./", "b/c/deep"),
				    "/links/long"),
			 0);
	assert_int_equal(fs_symlink(c, "/nowhere/to be found", "/links/dangling"), 0);
	assert_int_equal(fs_symlink(c, long_target(target, 300, "/nowhere/", "a long way off/",
						   "end"),
				    "/links/far-dangling"),
			 0);
	fd = fs_open(c, "/links", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_symlinkat(c, "/a/b", fs_at_fd(fd), "todir"), 0);
	assert_int_equal(fs_symlinkat(c, "todir/c/deep", fs_at_fd(fd), "via"), 0);
	assert_int_equal(fs_symlinkat(c, long_target(target, 200, "/a/", "./", "b"), fs_at_fd(fd),
				      "far-todir"),
			 0);
	assert_int_equal(fs_close(c, fd), 0);

	/* Special inodes: no data, device numbers on the two devices (one
	 * pair beyond 16 bits). */
	assert_int_equal(fs_mkdir(c, "/special", 0755), 0);
	fd = fs_open(c, "/special", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_mknodat(c, fs_at_fd(fd), "fifo", S_IFIFO | 0644, 0), 0);
	assert_int_equal(fs_mknodat(c, fs_at_fd(fd), "sock", S_IFSOCK | 0755, 0), 0);
	assert_int_equal(fs_close(c, fd), 0);
	assert_int_equal(fs_mknodat(c, FS_AT_ROOT, "/special/null", S_IFCHR | 0666, makedev(1, 3)),
			 0);
	assert_int_equal(fs_mknodat(c, FS_AT_ROOT, "/special/disk", S_IFBLK | 0660,
				    makedev(259, 70000)),
			 0);

	/* Extended attributes of every namespace, on a file, a directory, a
	 * link and a FIFO; values of 0 to 4012 bytes. */
	assert_int_equal(fs_mkdir(c, "/xa", 0755), 0);
	write_file(c, "/xa/file", 5000, 600);
	set_xattr(c, "/xa/file", "user.empty", 0, 601);
	set_xattr(c, "/xa/file", "user.small", 1, 602);
	set_xattr(c, "/xa/file", "user.mid", 700, 603);
	set_xattr(c, "/xa/file", "trusted.t", 100, 604);
	assert_int_equal(fs_setxattrat(c, FS_AT_ROOT, "/xa/file", 0, "security.selinux",
				       "system_u:object_r:etc_t:s0", 26, 0),
			 0);
	set_xattr(c, "/xa", "user.dir", 40, 605);
	set_xattr(c, "/xa", "trusted.dir", 10, 606);
	set_xattr(c, "/xa", "security.dir", 300, 607);
	/* (user. attributes are for files and directories only) */
	assert_int_equal(fs_symlink(c, "full", "/xa/link"), 0);
	set_xattr(c, "/xa/link", "trusted.l", 20, 608);
	set_xattr(c, "/xa/link", "security.l", 64, 609);
	set_xattr(c, "/special/fifo", "security.f", 12, 610);
	/* Two small entries in the inode's area, and a block filled to within
	 * 4 bytes of its capacity by one whose value takes the rest: a value
	 * that fits in neither is refused. */
	size_t big = ANK_XATTR_SPACE - 4 - ANK_XATTR_ENTRY_LEN(3, 0);
	static char no_room[200];

	write_file(c, "/xa/full", 3000, 611);
	set_xattr(c, "/xa/full", "user.a", 16, 612);
	set_xattr(c, "/xa/full", "trusted.k", 8, 613);
	set_xattr(c, "/xa/full", "user.big", big, 614);
	assert_int_equal(fs_setxattrat(c, FS_AT_ROOT, "/xa/full", 0, "user.c", no_room,
				       sizeof(no_room), 0),
			 -ENOSPC);
}

static uint8_t *snapshot(struct bdev *dev)
{
	uint8_t *img = ank_aligned_alloc((size_t)NBLK * BS);

	assert_non_null(img);
	bdev_emu_snapshot(dev, img);
	return img;
}

static void tree_of(const uint8_t *img, struct walk *w)
{
	struct bdev *dev;
	struct fs *fs;

	assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	walk_fs(fs, w, true);
	assert_int_equal(w->errors, 0);
	assert_true(w->bad[0] == 0);
	assert_int_equal(fs_unmount(fs), 0);
	bdev_close(dev);
}

static int build_images(void **state)
{
	(void)state;
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
	char p[64];
	static const size_t sizes[] = { 0, 1, 100, 4096, 4097, 50000, 300000 };
	uint8_t *blk = malloc(BS);

	ank_corrupt_quiet = 1;
	base_seed = env_ul("ANK_CORRUPT_SEED", 1);
	printf("corruption tests: base seed %llu (ANK_CORRUPT_SEED=%llu reproduces)\n",
	       (unsigned long long)base_seed, (unsigned long long)base_seed);
	assert_non_null(blk);
	assert_int_equal(bdev_emu_create(NBLK, &dev), 0);
	const struct fs_mkfs_options mo = { .inodes = 1024 };

	assert_int_equal(fs_mkfs(dev, &mo), 0);
	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	assert_non_null(c);
	assert_int_equal(fs_mkdir(c, "/docs", 0755), 0);
	for (unsigned i = 0; i < ANK_ARRAY_SIZE(sizes); i++) {
		snprintf(p, sizeof(p), "/docs/s%zu", sizes[i]);
		write_file(c, p, sizes[i], 100 + i);
	}
	assert_int_equal(fs_mkdir(c, "/a", 0755), 0);
	assert_int_equal(fs_mkdir(c, "/a/b", 0755), 0);
	assert_int_equal(fs_mkdir(c, "/a/b/c", 0755), 0);
	write_file(c, "/a/b/c/deep", 7000, 200);
	write_file(c, "/a/x", 12000, 201);
	/* Every other 4 KiB block of 8 MiB: 1024 single-block extents. */
	int fd = fs_open(c, "/big8", O_CREAT | O_RDWR, 0644);

	assert_true(fd >= 0);
	for (unsigned i = 0; i < 1024; i++) {
		gen(blk, BS, 300 + i);
		assert_int_equal(fs_pwrite(c, fd, blk, BS, (off_t)i * 2 * BS), BS);
	}
	assert_int_equal(fs_close(c, fd), 0);
	assert_int_equal(fs_mkdir(c, "/many", 0755), 0);
	for (unsigned i = 0; i < MANY; i++) {
		snprintf(p, sizeof(p), "/many/entry-%03u", i);
		write_file(c, p, i % 2 ? 1 + i % 300 : 0, 400 + i);
	}
	write_file(c, "/victim", 9000, 900);
	populate_other_types(c);
	fs_client_free(c);
	assert_int_equal(fs_unmount(fs), 0);
	clean_img = snapshot(dev);

	/* One committed transaction left in the journal. */
	assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
	c = fs_client_new(fs, 0, 0);
	assert_non_null(c);
	assert_int_equal(fs_mkdir(c, "/late", 0755), 0);
	write_file(c, "/late/x", 6000, 500);
	assert_int_equal(fs_rename(c, "/docs/s100", "/docs/s100.renamed"), 0);
	fd = fs_open(c, "/docs/s50000", O_RDWR | O_APPEND, 0);
	assert_true(fd >= 0);
	gen(blk, 3000, 501);
	assert_int_equal(fs_write(c, fd, blk, 3000), 3000);
	assert_int_equal(fs_close(c, fd), 0);
	assert_int_equal(fs_symlink(c, "x", "/late/link"), 0);
	set_xattr(c, "/xa/file", "user.small", 1, 615); /* the block again, in the journal */
	/* Last: an operation that finds blocks freed in the running
	 * transaction commits and checkpoints it first. */
	assert_int_equal(fs_unlink(c, "/many/entry-007"), 0);
	assert_int_equal(fs_sync(fs), 0);
	crash_img = snapshot(dev);

	/* And a file unlinked while open, committed. */
	fd = fs_open(c, "/victim", O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_unlink(c, "/victim"), 0);
	assert_int_equal(fs_fsync(c, fd), 0);
	orphan_img = snapshot(dev);
	bdev_emu_fail_nth(dev, 1, true); /* the machine stops */
	fs_client_free(c);
	assert_true(fs_unmount(fs) < 0);
	bdev_close(dev);
	free(blk);

	/* The images themselves are sound. */
	struct bdev *d2;
	struct fsck_report rep;
	struct fsck_options o = { .quiet = true, .out = stderr };

	assert_int_equal(bdev_emu_create_from(clean_img, NBLK, &d2), 0);
	assert_int_equal(fsck_run(d2, &o, &rep), 0);
	assert_int_equal(rep.journal_txns, 0);
	bdev_close(d2);
	assert_int_equal(bdev_emu_create_from(crash_img, NBLK, &d2), 0);
	assert_int_equal(fsck_run(d2, &o, &rep), 0);
	assert_int_equal(rep.journal_txns, 1);
	bdev_close(d2);
	tree_of(clean_img, &tree_a);
	tree_of(crash_img, &tree_b);
	assert_false(tree_equal(&tree_a, &tree_b));
	/* The walk reads every kind of inode the volume holds. */
	unsigned links = 0, special = 0, with_xattrs = 0;

	for (size_t i = 0; i < tree_a.n; i++) {
		links += tree_a.t[i].type == S_IFLNK;
		special += tree_a.t[i].type == S_IFIFO || tree_a.t[i].type == S_IFSOCK ||
			   tree_a.t[i].type == S_IFCHR || tree_a.t[i].type == S_IFBLK;
		with_xattrs += tree_a.t[i].xcrc != 0;
	}
	assert_int_equal(links, 9);
	assert_int_equal(special, 4);
	assert_int_equal(with_xattrs, 5);
	return 0;
}

static int free_images(void **state)
{
	(void)state;
	free(clean_img);
	free(crash_img);
	free(orphan_img);
	walk_free(&tree_a);
	walk_free(&tree_b);
	return 0;
}

/* ---- where the structures are ------------------------------------------------------ */

enum cls {
	C_SUPER,
	C_JHDR,
	C_JDESC,
	C_JDATA,
	C_JCOMMIT,
	C_IBITMAP,
	C_BBITMAP,
	C_INODE,
	C_DIR,
	C_XNODE,
	C_DATA,
	C_XATTR,
	C_LINK,
	C_SPECIAL,
	C_XAREA,
	C_NCLS
};

static const char *const cls_name[C_NCLS] = {
	"superblock",      "journal header", "journal descriptor", "journal block image",
	"journal commit",  "inode bitmap",   "block bitmap",       "inode",
	"directory block", "extent node",    "file data",          "xattr block",
	"symlink target",  "special inode",  "xattr area",
};

/* A flippable range of bits inside one block. */
struct loc {
	uint64_t blk;
	uint32_t bit_lo, bit_hi; /* [lo, hi) */
	enum cls cls;
	uint64_t ino;  /* inodes, directory blocks, extent nodes, data, xattr blocks */
	bool shadowed; /* a committed journal image replaces this block */
	uint32_t len;  /* a link's target: its length */
};

struct layout {
	struct ank_super sb;
	struct loc *l;
	size_t n, cap;
	uint64_t *shadow;
	size_t nshadow;
};

static void add_loc(struct layout *L, uint64_t blk, uint32_t lo, uint32_t hi, enum cls cls,
		    uint64_t ino)
{
	if (L->n == L->cap) {
		L->cap = L->cap ? L->cap * 2 : 1024;
		L->l = realloc(L->l, L->cap * sizeof(*L->l));
		assert_non_null(L->l);
	}
	L->l[L->n++] = (struct loc){ blk, lo, hi, cls, ino, false, 0 };
}

static uint64_t jlog(const struct ank_super *sb, uint64_t i)
{
	return sb->journal_start + 1 + (i % (sb->journal_blocks - 1));
}

/* The journal's committed transactions, from its header (the image is
 * sound, so no checksum is verified here). Applies their images to eff. */
static void scan_journal(struct layout *L, const uint8_t *img, uint8_t *eff)
{
	const struct ank_super *sb = &L->sb;
	const struct ank_journal_header *h = (const void *)(img + sb->journal_start * BS);
	uint64_t pos = h->tail, seq = h->seq;

	add_loc(L, sb->journal_start, 0, 512 * 8, C_JHDR, 0);
	for (unsigned t = 0; t < 64; t++) {
		uint64_t homes[4096];
		unsigned nh = 0;
		bool committed = false;
		size_t first = L->n;

		for (unsigned guard = 0; guard < 64; guard++) {
			uint64_t b = jlog(sb, pos);
			const struct ank_journal_desc *d = (const void *)(img + b * BS);
			const struct ank_journal_commit *cm = (const void *)(img + b * BS);

			if (d->magic == ANK_JDESC_MAGIC && d->seq == seq && d->salt == h->salt &&
			    d->count <= ANK_JDESC_MAX) {
				add_loc(L, b, 0, BS * 8, C_JDESC, 0);
				for (uint32_t k = 0; k < d->count; k++) {
					add_loc(L, jlog(sb, pos + 1 + k), 0, BS * 8, C_JDATA,
						d->home[k]);
					if (nh < ANK_ARRAY_SIZE(homes))
						homes[nh++] = d->home[k];
				}
				pos += 1 + d->count;
			} else if (cm->magic == ANK_JCMT_MAGIC && cm->seq == seq &&
				   cm->salt == h->salt) {
				add_loc(L, b, 0, 512 * 8, C_JCOMMIT, 0);
				pos++;
				committed = true;
				break;
			} else {
				break;
			}
		}
		if (!committed) {
			L->n = first;
			break;
		}
		/* Apply the images in log order. */
		for (size_t i = first; i < L->n; i++) {
			if (L->l[i].cls != C_JDATA)
				continue;
			uint64_t home = L->l[i].ino;

			if (home < NBLK)
				memcpy(eff + home * BS, img + L->l[i].blk * BS, BS);
		}
		for (unsigned k = 0; k < nh; k++) {
			L->shadow = realloc(L->shadow, (L->nshadow + 1) * sizeof(*L->shadow));
			assert_non_null(L->shadow);
			L->shadow[L->nshadow++] = homes[k];
		}
		seq++;
	}
}

/* The mapped blocks of inode ino become locations of class cls, bits
 * [0, hi) of each; its extent nodes C_XNODE. */
static void walk_extents(struct layout *L, const uint8_t *eff, uint64_t ino, enum cls cls,
			 uint32_t hi, const struct ank_extent_header *eh, const void *ents,
			 unsigned level)
{
	if (eh->magic != ANK_EXTENT_MAGIC || level > ANK_EXTENT_MAX_DEPTH)
		return;
	unsigned n = ANK_MIN(eh->entries, eh->max);

	for (unsigned i = 0; i < n; i++) {
		if (eh->depth == 0) {
			const struct ank_extent *e = (const struct ank_extent *)ents + i;

			for (uint64_t b = e->pblk; b < e->pblk + e->len && b < NBLK; b++)
				add_loc(L, b, 0, hi, cls, ino);
		} else {
			const struct ank_extent_index *x =
				(const struct ank_extent_index *)ents + i;

			if (x->child >= NBLK)
				continue;
			add_loc(L, x->child, 0, BS * 8, C_XNODE, ino);
			const uint8_t *node = eff + x->child * BS;

			walk_extents(L, eff, ino, cls, hi, (const void *)node,
				     node + sizeof(struct ank_extent_header), level + 1);
		}
	}
}

static void layout_of(const uint8_t *img, struct layout *L)
{
	uint8_t *eff = malloc((size_t)NBLK * BS);

	assert_non_null(eff);
	memset(L, 0, sizeof(*L));
	memcpy(&L->sb, img, sizeof(L->sb));
	memcpy(eff, img, (size_t)NBLK * BS);
	add_loc(L, 0, 0, 512 * 8, C_SUPER, 0);
	scan_journal(L, img, eff);
	memcpy(&L->sb, eff, sizeof(L->sb));
	const struct ank_super *sb = &L->sb;

	/* In-range bitmap bits (bit 0 of the inode bitmap: inode 0, never used
	 * and not necessarily checked, is left out). */
	for (uint64_t i = 0; i < sb->ibitmap_blocks; i++) {
		uint64_t lo = i * BS * 8, hi = ANK_MIN((i + 1) * BS * 8, sb->inode_count);

		if (lo < hi)
			add_loc(L, sb->ibitmap_start + i, i == 0 ? 1 : 0, (uint32_t)(hi - lo),
				C_IBITMAP, 0);
	}
	for (uint64_t i = 0; i < sb->bbitmap_blocks; i++) {
		uint64_t lo = i * BS * 8, hi = ANK_MIN((i + 1) * BS * 8, sb->block_count);

		if (lo < hi)
			add_loc(L, sb->bbitmap_start + i, 0, (uint32_t)(hi - lo), C_BBITMAP, 0);
	}
	for (uint64_t ino = 1; ino < sb->inode_count; ino++) {
		uint64_t b = ank_inode_block(sb, ino);
		uint32_t rec = ank_inode_offset(sb, ino);
		const struct ank_dinode *di = (const void *)(eff + b * BS + rec);

		if (di->mode == 0)
			continue;
		bool special = S_ISFIFO(di->mode) || S_ISSOCK(di->mode) || S_ISCHR(di->mode) ||
			       S_ISBLK(di->mode);

		add_loc(L, b, rec * 8, (rec + ANK_INODE_SIZE) * 8, special ? C_SPECIAL : C_INODE, ino);
		/* the attributes kept in its record, when it has any */
		const struct ank_xattr_header *xh =
			(const void *)(eff + b * BS + rec + ANK_INODE_SIZE);
		if (ank_has_inode_xattrs(sb) && xh->magic)
			add_loc(L, b, (rec + ANK_INODE_SIZE) * 8,
				(rec + ANK_INODE_SIZE + ANK_INODE_XATTR_SIZE) * 8, C_XAREA, ino);
		if (di->xattr_block && di->xattr_block < NBLK)
			add_loc(L, di->xattr_block, 0, BS * 8, C_XATTR, ino);
		if (S_ISLNK(di->mode) && ank_link_is_inline(sb, di)) {
			/* (its target is in the inode, under its checksum) */
		} else if (S_ISLNK(di->mode) && di->size && di->size < ANK_SYMLINK_MAX) {
			/* A longer link's target is the first `size` bytes of
			 * its block 0 (fsck sees to it that nothing else is
			 * mapped): those, and the 8 bytes after them, which
			 * must never be read as part of it. */
			size_t first = L->n;

			walk_extents(L, eff, ino, C_LINK,
				     (uint32_t)ANK_MIN(di->size + 8, (uint64_t)BS) * 8, &di->eh,
				     di->extents, 0);
			for (size_t i = first; i < L->n; i++)
				L->l[i].len = (uint32_t)di->size;
		} else {
			walk_extents(L, eff, ino, S_ISDIR(di->mode) ? C_DIR : C_DATA, BS * 8,
				     &di->eh, di->extents, 0);
		}
	}
	for (size_t i = 0; i < L->n; i++) {
		if (L->l[i].cls >= C_JHDR && L->l[i].cls <= C_JCOMMIT)
			continue;
		for (size_t k = 0; k < L->nshadow; k++)
			if (L->shadow[k] == L->l[i].blk)
				L->l[i].shadowed = true;
	}
	free(eff);
}

static void layout_free(struct layout *L)
{
	free(L->l);
	free(L->shadow);
	memset(L, 0, sizeof(*L));
}

/* Pick a location of class cls (C_NCLS: any), optionally not shadowed. */
static const struct loc *pick_loc(const struct layout *L, uint64_t *rng, enum cls cls,
				  bool unshadowed)
{
	size_t n = 0;

	for (size_t i = 0; i < L->n; i++)
		if ((cls == C_NCLS || L->l[i].cls == cls) && !(unshadowed && L->l[i].shadowed))
			n++;
	if (!n)
		return NULL;
	size_t k = rndu(rng, (uint32_t)n);

	for (size_t i = 0; i < L->n; i++)
		if ((cls == C_NCLS || L->l[i].cls == cls) && !(unshadowed && L->l[i].shadowed) &&
		    k-- == 0)
			return &L->l[i];
	return NULL;
}

static size_t count_cls(const struct layout *L, enum cls cls, bool unshadowed)
{
	size_t n = 0;

	for (size_t i = 0; i < L->n; i++)
		n += L->l[i].cls == cls && !(unshadowed && L->l[i].shadowed);
	return n;
}

/* ---- trials ----------------------------------------------------------------------- */

struct flip {
	uint64_t blk;
	uint32_t bit;
};

struct flips {
	struct flip f[4];
	unsigned n;
	enum cls cls;
	uint64_t ino;
	uint32_t len, off; /* a link's target: its length, its offset in the block */
};

/* 1..4 distinct bits inside the location's range. */
static void choose_flips(const struct loc *l, uint64_t *rng, struct flips *fl)
{
	uint32_t span = l->bit_hi - l->bit_lo;
	unsigned want = 1 + rndu(rng, 4);

	fl->n = 0;
	fl->cls = l->cls;
	fl->ino = l->ino;
	fl->len = l->len;
	fl->off = 0;
	while (fl->n < want && fl->n < span) {
		uint32_t bit = l->bit_lo + rndu(rng, span);
		bool dup = false;

		for (unsigned i = 0; i < fl->n; i++)
			dup |= fl->f[i].bit == bit;
		if (!dup)
			fl->f[fl->n++] = (struct flip){ l->blk, bit };
	}
}

static void apply_flips(struct bdev *dev, const struct flips *fl)
{
	for (unsigned i = 0; i < fl->n; i++) {
		uint8_t *b = bdev_emu_block(dev, fl->f[i].blk);

		assert_non_null(b);
		b[fl->f[i].bit / 8] ^= (uint8_t)(1u << (fl->f[i].bit % 8));
	}
}

static void describe(const struct flips *fl, char *out, size_t n)
{
	int k = snprintf(out, n, "%s", cls_name[fl->cls]);

	if (fl->ino && (fl->cls == C_INODE || fl->cls == C_DIR || fl->cls == C_XNODE ||
			fl->cls == C_DATA || fl->cls >= C_XATTR))
		k += snprintf(out + k, n - (size_t)k, " of inode %llu",
			      (unsigned long long)fl->ino);
	k += snprintf(out + k, n - (size_t)k, ", block %llu, bits",
		      (unsigned long long)fl->f[0].blk);
	for (unsigned i = 0; i < fl->n && (size_t)k < n; i++)
		k += snprintf(out + k, n - (size_t)k, " %u", fl->f[i].bit);
}

struct counts {
	const char *name;
	unsigned trials;
	unsigned fsck[9];
	unsigned mount_ok, mount_fail, mount_euclean, mount_eio, mount_other;
	unsigned walk_with_errors, writes_failed;
	unsigned tree_before, tree_after;
	unsigned repair[9];
	unsigned failures;
};

enum expect {
	EXPECT_NOTHING,     /* any sound outcome */
	EXPECT_DETECTED,    /* fsck must report */
	EXPECT_TREE_BEFORE, /* a mount must show the state without the transaction */
	EXPECT_TREE_EITHER, /* a mount must show the state without or with it */
	EXPECT_AS_STORED,   /* unchecked data (a link's target): when fsck calls the
			       volume clean, the file system reads it as stored */
};

static void trial_fail(struct counts *k, uint64_t seed, const struct flips *fl, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
static void trial_fail(struct counts *k, uint64_t seed, const struct flips *fl, const char *fmt,
		       ...)
{
	char what[200], msg[400];
	va_list ap;

	k->failures++;
	if (reports_left <= 0)
		return;
	reports_left--;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	describe(fl, what, sizeof(what));
	printf("  %s: seed %llu, %s: %s\n", k->name, (unsigned long long)seed, what, msg);
}

/* A few changes on a mounted (maybe corrupt) volume; every call must
 * answer a value or a negative errno. Returns the number of failed calls. */
static unsigned some_writes(struct fs *fs, struct walk *w)
{
	struct fs_client *c = fs_client_new(fs, 0, 0);
	uint8_t *buf = malloc(20000);
	unsigned failed = 0;
	long rc;

	assert_non_null(c);
	assert_non_null(buf);
	gen(buf, 20000, 42);
	int fd = fs_open(c, "/zz-new", O_CREAT | O_RDWR, 0644);

	if (!walk_rc(w, "create", "/zz-new", fd, 0, 1 << 20)) {
		failed++;
	} else {
		rc = fs_write(c, fd, buf, 20000);
		failed += !walk_rc(w, "write", "/zz-new", rc, 20000, 20000);
		rc = fs_close(c, fd);
		failed += !walk_rc(w, "close", "/zz-new", rc, 0, 0);
	}
	rc = fs_mkdir(c, "/zz-dir", 0755);
	failed += !walk_rc(w, "mkdir", "/zz-dir", rc, 0, 0);
	rc = fs_rename(c, "/zz-new", "/zz-dir/moved");
	failed += !walk_rc(w, "rename", "/zz-new", rc, 0, 0);
	rc = fs_truncate(c, "/zz-dir/moved", 5000);
	failed += !walk_rc(w, "truncate", "/zz-dir/moved", rc, 0, 0);
	rc = fs_unlink(c, "/docs/s4096");
	failed += !walk_rc(w, "unlink", "/docs/s4096", rc, 0, 0);
	rc = fs_sync(fs);
	failed += !walk_rc(w, "sync", "", rc, 0, 0);
	fs_client_free(c);
	free(buf);
	return failed;
}

/* Mount, walk, optionally write, unmount; returns the mount result. */
static int mount_and_walk(struct bdev *dev, struct walk *w, bool collect, bool write,
			  unsigned *write_fails, int *urc)
{
	struct fs *fs;
	int rc = fs_mount(dev, &mount_opt, &fs);

	memset(w, 0, sizeof(*w));
	*urc = 0;
	*write_fails = 0;
	if (rc != 0)
		return rc;
	walk_fs(fs, w, collect);
	if (write)
		*write_fails = some_writes(fs, w);
	*urc = fs_unmount(fs);
	return 0;
}

static void run_corrupt_trial(const uint8_t *img, const struct flips *fl, enum expect ex,
			      uint64_t seed, struct counts *k)
{
	struct bdev *dev;
	struct walk w;
	int urc;
	bool verbose = env_ul("ANK_CORRUPT_VERBOSE", 0) != 0;

	k->trials++;
	/* (a) check */
	assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
	apply_flips(dev, fl);
	uint32_t stored = 0; /* the damaged link target's CRC32C */

	if (ex == EXPECT_AS_STORED)
		stored = crc32c(0, bdev_emu_block(dev, fl->f[0].blk) + fl->off, fl->len);
	int frc = run_fsck(dev, false, false);

	if (frc >= 0 && frc < 9)
		k->fsck[frc]++;
	if (!fsck_code_ok(frc))
		trial_fail(k, seed, fl, "fsck returned %d", frc);
	if (ex == EXPECT_DETECTED && frc == 0)
		trial_fail(k, seed, fl, "fsck found nothing");

	/* (b) mount, read everything, change a little */
	unsigned wfail;
	int mrc = mount_and_walk(dev, &w, ex != EXPECT_NOTHING && ex != EXPECT_DETECTED, true,
				 &wfail, &urc);

	if (mrc == 0 && ex != EXPECT_NOTHING && (fl->cls == C_SUPER || fl->cls == C_JHDR))
		trial_fail(k, seed, fl, "mount accepted a %s with a bad checksum",
			   cls_name[fl->cls]);
	if (mrc == 0) {
		k->mount_ok++;
		if (w.bad[0])
			trial_fail(k, seed, fl, "%s", w.bad);
		if (w.errors)
			k->walk_with_errors++;
		if (urc != 0 && !is_errno(urc))
			trial_fail(k, seed, fl, "unmount returned %d", urc);
		if (wfail)
			k->writes_failed++;
		if (frc == 0) {
			/* fsck called it clean: the file system keeps it clean. */
			int after = run_fsck(dev, false, false);

			if (wfail || w.errors || urc != 0 || after != 0) {
				trial_fail(k, seed, fl,
					   "volume fsck called clean: %llu read errors, %u "
					   "failed changes, unmount %d, then fsck %d",
					   (unsigned long long)w.errors, wfail, urc, after);
				if (after && reports_left > 0)
					(void)run_fsck(dev, false, true);
			}
		}
		if (ex == EXPECT_AS_STORED && frc == 0) {
			const struct tent *t = NULL;

			for (size_t i = 0; i < w.n && !t; i++)
				if (w.t[i].ino == fl->ino && w.t[i].type == S_IFLNK)
					t = &w.t[i];
			/* (a link the walk could not read is a failure above) */
			if (t && (t->size != fl->len || t->crc != stored))
				trial_fail(k, seed, fl,
					   "readlink %s returned %llu bytes other than the %u "
					   "stored",
					   t->path, (unsigned long long)t->size, fl->len);
			else if (!t && !w.errors)
				trial_fail(k, seed, fl, "the walk did not meet the link");
		}
		if (ex == EXPECT_TREE_BEFORE || ex == EXPECT_TREE_EITHER) {
			bool before = tree_equal(&w, &tree_a), after = tree_equal(&w, &tree_b);

			k->tree_before += before;
			k->tree_after += after;
			if (ex == EXPECT_TREE_BEFORE && !before)
				trial_fail(k, seed, fl,
					   "the mounted tree is not the state before the "
					   "damaged transaction (%s)",
					   after ? "it was replayed" : "a mixture");
			if (ex == EXPECT_TREE_EITHER && !before && !after)
				trial_fail(k, seed, fl,
					   "the mounted tree is neither the state before nor "
					   "after the transaction (%zu entries, walk errors %llu)",
					   w.n, (unsigned long long)w.errors);
		}
	} else {
		k->mount_fail++;
		if (mrc == -EUCLEAN)
			k->mount_euclean++;
		else if (mrc == -EIO)
			k->mount_eio++;
		else
			k->mount_other++;
		if (!is_errno(mrc))
			trial_fail(k, seed, fl, "mount returned %d", mrc);
	}
	walk_free(&w);
	bdev_close(dev);

	/* (c) repair, then check again */
	assert_int_equal(bdev_emu_create_from(img, NBLK, &dev), 0);
	apply_flips(dev, fl);
	int r1 = run_fsck(dev, true, false);
	int r2 = run_fsck(dev, false, false);

	if (r1 >= 0 && r1 < 9)
		k->repair[r1]++;
	if (!fsck_code_ok(r1))
		trial_fail(k, seed, fl, "fsck --repair returned %d", r1);
	if (ex == EXPECT_DETECTED && r1 == 0)
		trial_fail(k, seed, fl, "fsck --repair found nothing");
	if ((r1 == 0 || r1 == 1) && r2 != 0) {
		trial_fail(k, seed, fl, "fsck --repair returned %d, then fsck returned %d", r1, r2);
		if (reports_left > 0)
			(void)run_fsck(dev, false, true);
	} else if (r1 == 0 || r1 == 1) {
		/* fsck calls it clean: the file system must agree. */
		mrc = mount_and_walk(dev, &w, false, false, &wfail, &urc);
		if (mrc != 0)
			trial_fail(k, seed, fl, "repaired volume (fsck clean) does not mount: %d",
				   mrc);
		else if (w.bad[0] || w.errors || urc != 0)
			trial_fail(k, seed, fl,
				   "repaired volume (fsck clean): %llu read errors%s%s, "
				   "unmount %d",
				   (unsigned long long)w.errors, w.bad[0] ? ", " : "", w.bad, urc);
		else if ((r2 = run_fsck(dev, false, false)) != 0)
			trial_fail(k, seed, fl, "repaired volume: fsck %d after mount+unmount", r2);
		walk_free(&w);
	}
	bdev_close(dev);
	if (verbose) {
		char what[200];

		describe(fl, what, sizeof(what));
		printf("    seed %llu %s: fsck %d, mount %d, repair %d/%d\n",
		       (unsigned long long)seed, what, frc, mrc, r1, r2);
	}
}

static void print_counts(const struct counts *k, double t0)
{
	printf("%s: %u trials (%.1fs)\n", k->name, k->trials, now_s() - t0);
	printf("    fsck: clean %u, problems %u, unreadable %u; mount: ok %u (a walk met "
	       "errors in %u, changes failed in %u), refused %u (EUCLEAN %u, EIO %u, other %u)\n",
	       k->fsck[0], k->fsck[4], k->fsck[8], k->mount_ok, k->walk_with_errors,
	       k->writes_failed, k->mount_fail, k->mount_euclean, k->mount_eio, k->mount_other);
	printf("    repair: nothing to do %u, repaired %u, not repairable %u, unreadable %u",
	       k->repair[0], k->repair[1], k->repair[4], k->repair[8]);
	if (k->tree_before + k->tree_after)
		printf("; mounted tree before the transaction %u, after it %u", k->tree_before,
		       k->tree_after);
	printf("; failures %u\n", k->failures);
	fflush(stdout);
}

/* Trials of one structure class on the given images. */
static void class_trials(const char *name, enum cls cls, unsigned trials, enum expect ex,
			 bool use_clean, bool use_crash, unsigned test_no)
{
	struct layout lc, lx;
	struct counts k = { .name = name };
	double t0 = now_s();

	reports_left = MAX_REPORTS;
	layout_of(clean_img, &lc);
	layout_of(crash_img, &lx);
	for (unsigned t = 0; t < trials; t++) {
		uint64_t seed = base_seed * 1000003u + test_no * 100000u + t, rng = seed;
		bool crash = use_crash && (!use_clean || (t & 1));
		/* Detection, and data read as stored, are only promised where
		 * no journal image replaces the damaged block. */
		bool unshadowed = ex == EXPECT_DETECTED || ex == EXPECT_AS_STORED;
		const struct loc *l = pick_loc(crash ? &lx : &lc, &rng, cls, unshadowed);
		struct flips fl;

		if (!l && crash && use_clean) {
			crash = false;
			l = pick_loc(&lc, &rng, cls, unshadowed);
		}
		assert_non_null(l);
		choose_flips(l, &rng, &fl);
		run_corrupt_trial(crash ? crash_img : clean_img, &fl, ex, seed, &k);
	}
	print_counts(&k, t0);
	layout_free(&lc);
	layout_free(&lx);
	assert_int_equal(k.failures, 0);
}

/* ---- the tests ---------------------------------------------------------------------- */

static void flipped_superblock_bits_are_reported_not_crashing(void **state)
{
	(void)state;
	class_trials("superblock", C_SUPER, 60, EXPECT_DETECTED, true, true, 1);
}

static void flipped_inode_bits_detected_by_checksum(void **state)
{
	(void)state;
	class_trials("inode", C_INODE, 100, EXPECT_DETECTED, true, true, 2);
}

static void flipped_directory_bits_detected(void **state)
{
	(void)state;
	class_trials("directory block", C_DIR, 100, EXPECT_DETECTED, true, true, 3);
}

static void flipped_extent_node_bits_detected(void **state)
{
	(void)state;
	struct layout L;

	layout_of(clean_img, &L);
	printf("extent nodes in the clean image: %zu\n", count_cls(&L, C_XNODE, false));
	assert_true(count_cls(&L, C_XNODE, false) >= 2);
	layout_free(&L);
	class_trials("extent node", C_XNODE, 60, EXPECT_DETECTED, true, true, 4);
}

static void flipped_bitmap_bits_reported(void **state)
{
	(void)state;
	class_trials("inode bitmap", C_IBITMAP, 40, EXPECT_DETECTED, true, true, 5);
	class_trials("block bitmap", C_BBITMAP, 40, EXPECT_DETECTED, true, true, 6);
}

static void flipped_journal_bits_never_replay_garbage(void **state)
{
	(void)state;
	struct layout L;

	layout_of(crash_img, &L);
	printf("journal of the crash image: descriptors %zu, block images %zu, commits %zu\n",
	       count_cls(&L, C_JDESC, false), count_cls(&L, C_JDATA, false),
	       count_cls(&L, C_JCOMMIT, false));
	assert_int_equal(count_cls(&L, C_JCOMMIT, false), 1);
	layout_free(&L);
	/* A damaged descriptor, image or commit record fails the transaction's
	 * checksums: it must be discarded whole. A damaged header may stop the
	 * mount; what mounts is one of the two states. */
	class_trials("journal descriptor", C_JDESC, 30, EXPECT_TREE_BEFORE, false, true, 7);
	class_trials("journal block image", C_JDATA, 50, EXPECT_TREE_BEFORE, false, true, 8);
	class_trials("journal commit", C_JCOMMIT, 30, EXPECT_TREE_BEFORE, false, true, 9);
	class_trials("journal header", C_JHDR, 30, EXPECT_TREE_EITHER, false, true, 10);
}

static void flipped_xattr_block_bits_detected(void **state)
{
	(void)state;
	struct layout L;
	uint16_t fullest = 0;

	layout_of(clean_img, &L);
	for (size_t i = 0; i < L.n; i++)
		if (L.l[i].cls == C_XATTR) {
			const uint8_t *blk = clean_img + L.l[i].blk * BS;
			const struct ank_xattr_header *h = (const void *)blk;

			fullest = ANK_MAX(fullest, h->used);
		}
	printf("xattr blocks in the clean image: %zu, the fullest with %u of %u bytes used\n",
	       count_cls(&L, C_XATTR, false), fullest, ANK_XATTR_SPACE);
	printf("xattr areas in the inode table: %zu\n", count_cls(&L, C_XAREA, false));
	assert_int_equal(count_cls(&L, C_XATTR, false), 3);
	assert_true(fullest >= ANK_XATTR_SPACE - 4);
	assert_int_equal(count_cls(&L, C_XAREA, false), 5);
	layout_free(&L);
	/* The checksum covers the whole block, unused bytes included. */
	class_trials("xattr block", C_XATTR, 40, EXPECT_DETECTED, true, true, 12);
	/* ... and the whole area in the inode's record */
	class_trials("xattr area", C_XAREA, 40, EXPECT_DETECTED, true, true, 13);
}

static void flipped_symlink_target_bits_read_as_stored(void **state)
{
	(void)state;
	struct layout L;

	layout_of(crash_img, &L);
	printf("symlink target blocks in the crash image: %zu\n", count_cls(&L, C_LINK, false));
	assert_int_equal(count_cls(&L, C_LINK, false), 3);
	layout_free(&L);
	class_trials("symlink target", C_LINK, 40, EXPECT_AS_STORED, true, true, 13);
}

/* A NUL byte in a link's target: the file system refuses such a target as
 * corrupt (namei_read_link), so fsck must report it, or the file system
 * read it; the checks (a), (b), (c) of a trial hold either way. In every
 * link, the first byte of its target with at most 4 bits set has them
 * flipped; an inline target is under the inode's checksum, which is made to
 * match the target with that NUL, so that only the NUL is wrong. */
static void symlink_target_with_a_nul_byte(void **state)
{
	(void)state;
	const struct ank_super *sb = (const void *)clean_img;
	uint8_t *img = ank_aligned_alloc((size_t)NBLK * BS);
	struct layout L;
	struct counts k = { .name = "symlink target with a NUL byte" };
	unsigned inl = 0, blocks = 0;
	double t0 = now_s();

	assert_non_null(img);
	reports_left = MAX_REPORTS;
	layout_of(clean_img, &L);
	for (uint64_t ino = 1; ino < sb->inode_count; ino++) {
		uint64_t b = ank_inode_block(sb, ino);
		uint32_t slot_off = ank_inode_offset(sb, ino);
		const struct ank_dinode *di = (const void *)(clean_img + b * BS + slot_off);
		bool inline_target = ank_link_is_inline(sb, di);
		struct flips fl = { .cls = C_LINK, .ino = ino, .len = (uint32_t)di->size };
		uint32_t at = 0;

		if (!S_ISLNK(di->mode))
			continue;
		memcpy(img, clean_img, (size_t)NBLK * BS);
		if (inline_target) {
			fl.off = slot_off + (uint32_t)offsetof(struct ank_dinode, eh);
		} else {
			const struct loc *l = NULL;

			for (size_t i = 0; i < L.n && !l; i++)
				if (L.l[i].cls == C_LINK && L.l[i].ino == ino)
					l = &L.l[i];
			assert_non_null(l);
			b = l->blk;
		}
		const uint8_t *t = clean_img + b * BS + fl.off;

		while (at < fl.len && (t[at] == 0 || __builtin_popcount(t[at]) > 4))
			at++;
		assert_true(at < fl.len);
		for (unsigned bit = 0; bit < 8; bit++)
			if (t[at] & (1u << bit))
				fl.f[fl.n++] = (struct flip){ b, (fl.off + at) * 8 + bit };
		if (inline_target) {
			struct ank_dinode nul = *di;

			((uint8_t *)(void *)&nul.eh)[at] = 0;
			((struct ank_dinode *)(void *)(img + b * BS + slot_off))->checksum =
				ank_dinode_csum(&nul);
		}
		inl += inline_target;
		blocks += !inline_target;
		/* (nothing random: the number names the link's trial) */
		run_corrupt_trial(img, &fl, EXPECT_AS_STORED, 15u * 100000u + k.trials, &k);
	}
	print_counts(&k, t0);
	printf("    links with their target inline %u, in a block %u\n", inl, blocks);
	layout_free(&L);
	free(img);
	assert_true(inl >= 1 && blocks >= 1);
	assert_int_equal(k.failures, 0);
}

static void flipped_special_inode_bits_detected(void **state)
{
	(void)state;
	struct layout L;

	layout_of(clean_img, &L);
	assert_int_equal(count_cls(&L, C_SPECIAL, false), 4);
	layout_free(&L);
	class_trials("special inode", C_SPECIAL, 30, EXPECT_DETECTED, true, true, 14);
}

static void random_flips_anywhere_never_crash_mount_or_fsck(void **state)
{
	(void)state;
	unsigned trials = (unsigned)env_ul("ANK_CORRUPT_TRIALS", 300);
	const uint8_t *imgs[3] = { clean_img, crash_img, orphan_img };
	struct layout L[3];
	struct counts k = { .name = "random flips anywhere" };
	unsigned by_cls[C_NCLS] = { 0 };
	double t0 = now_s();

	reports_left = MAX_REPORTS;
	uint64_t used = 0;

	for (unsigned i = 0; i < 3; i++) {
		layout_of(imgs[i], &L[i]);
		for (size_t j = 0; j < L[i].n; j++)
			used = ANK_MAX(used, L[i].l[j].blk + 1);
	}
	for (unsigned t = 0; t < trials; t++) {
		uint64_t seed = base_seed * 1000003u + 11u * 100000u + t, rng = seed;
		unsigned im = t % 3;
		struct flips fl;
		struct loc any;
		const struct loc *l;

		if (rndu(&rng, 3) == 0) {
			/* any block of the used part of the volume */
			any = (struct loc){
				rndu(&rng, (uint32_t)used), 0, BS * 8, C_DATA, 0, false, 0
			};
			for (size_t i = 0; i < L[im].n; i++)
				if (L[im].l[i].blk == any.blk) {
					any.cls = L[im].l[i].cls;
					any.ino = L[im].l[i].ino;
				}
			l = &any;
		} else {
			l = pick_loc(&L[im], &rng, (enum cls)rndu(&rng, C_NCLS), false);
			if (!l)
				l = pick_loc(&L[im], &rng, C_NCLS, false);
		}
		assert_non_null(l);
		choose_flips(l, &rng, &fl);
		by_cls[fl.cls]++;
		run_corrupt_trial(imgs[im], &fl, EXPECT_NOTHING, seed, &k);
	}
	print_counts(&k, t0);
	printf("    flips by structure:");
	for (unsigned c = 0; c < C_NCLS; c++)
		printf(" %s %u%s", cls_name[c], by_cls[c], c + 1 < C_NCLS ? "," : "\n");
	for (unsigned i = 0; i < 3; i++)
		layout_free(&L[i]);
	assert_int_equal(k.failures, 0);
}

static void zeroed_root_inode_fails_mount_cleanly(void **state)
{
	(void)state;
	struct bdev *dev;
	struct fs *fs;
	const struct ank_super *sb = (const void *)clean_img;
	uint64_t b = ank_inode_block(sb, ANK_ROOT_INO);
	uint32_t off = ank_inode_offset(sb, ANK_ROOT_INO);

	assert_int_equal(bdev_emu_create_from(clean_img, NBLK, &dev), 0);
	memset(bdev_emu_block(dev, b) + off, 0, ANK_INODE_SIZE);
	int frc = run_fsck(dev, false, false);

	assert_true(frc == 4 || frc == 8);
	int rc = fs_mount(dev, &mount_opt, &fs);

	if (rc == 0)
		fs_unmount(fs);
	assert_true(is_errno(rc));
	int r1 = run_fsck(dev, true, false), r2 = run_fsck(dev, false, false);

	printf("zeroed root inode: fsck %d, mount %d, repair %d then fsck %d\n", frc, rc, r1, r2);
	assert_true(fsck_code_ok(r1));
	if (r1 == 0 || r1 == 1) {
		assert_int_equal(r2, 0);
		assert_int_equal(fs_mount(dev, &mount_opt, &fs), 0);
		assert_int_equal(fs_unmount(fs), 0);
	}
	bdev_close(dev);
}

static void truncated_image_is_refused(void **state)
{
	(void)state;
	static const uint64_t sizes[] = { NBLK - 1, NBLK / 2, 300, 256, 17, 1 };
	const uint8_t *imgs[2] = { clean_img, crash_img };

	for (unsigned im = 0; im < 2; im++) {
		for (unsigned i = 0; i < ANK_ARRAY_SIZE(sizes); i++) {
			struct bdev *dev;
			struct fs *fs;

			assert_int_equal(bdev_emu_create_from(imgs[im], sizes[i], &dev), 0);
			int frc = run_fsck(dev, false, false);
			int rc = fs_mount(dev, &mount_opt, &fs);

			if (rc == 0)
				fs_unmount(fs);
			int r1 = run_fsck(dev, true, false);

			printf("%s image truncated to %llu blocks: fsck %d, mount %d, repair %d\n",
			       im ? "crash" : "clean", (unsigned long long)sizes[i], frc, rc, r1);
			assert_int_not_equal(frc, 0);
			assert_true(fsck_code_ok(frc));
			assert_true(is_errno(rc));
			assert_true(fsck_code_ok(r1) && r1 != 0 && r1 != 1);
			bdev_close(dev);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flipped_superblock_bits_are_reported_not_crashing),
		cmocka_unit_test(flipped_inode_bits_detected_by_checksum),
		cmocka_unit_test(flipped_directory_bits_detected),
		cmocka_unit_test(flipped_extent_node_bits_detected),
		cmocka_unit_test(flipped_bitmap_bits_reported),
		cmocka_unit_test(flipped_journal_bits_never_replay_garbage),
		cmocka_unit_test(flipped_xattr_block_bits_detected),
		cmocka_unit_test(flipped_symlink_target_bits_read_as_stored),
		cmocka_unit_test(symlink_target_with_a_nul_byte),
		cmocka_unit_test(flipped_special_inode_bits_detected),
		cmocka_unit_test(random_flips_anywhere_never_crash_mount_or_fsck),
		cmocka_unit_test(zeroed_root_inode_fails_mount_cleanly),
		cmocka_unit_test(truncated_image_is_refused),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, build_images, free_images);
}
