/*
 * test_xattr.c - extended attributes of the core (fs_setxattrat,
 * fs_getxattrat, fs_listxattrat, fs_removexattrat), compared with Linux.
 *
 * One script runs on the core (an emulated volume) and through libc in a
 * fresh directory of this machine: names and namespaces, XATTR_CREATE and
 * XATTR_REPLACE, the size rules of get and list, the limits (ERANGE, E2BIG,
 * ENOSPC), FIFOs and symbolic links (the l- calls), fds (the f- calls),
 * POSIX ACLs and the mode they set. A second part runs as uid/gid 65534 on
 * files root made (on Linux in a child that changed its ids; needs root):
 * write permission, trusted. and security., sticky directories, ACLs on
 * another's file. Every result (return value or errno, the value read, the
 * names listed, sorted, and st_mode after ACL calls) must be the same. Then
 * the volume is remounted, its attributes read again, and fsck checks it;
 * the last attribute removed frees the block.
 *
 * Not compared: how much fits in one file (ext4 keeps small attributes in
 * the inode as well; here one 4 KiB block holds them all), so values stay
 * small but for one that fits neither.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

#define USER_ID 65534u

struct side {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
	char root[64];
	bool libc;
	int fd;           /* an fd on /f */
};

struct transcript {
	char line[200][192];
	unsigned n;
};

static void say(struct transcript *t, const char *fmt, ...)
{
	assert_true(t->n < 200);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->line[t->n++], sizeof(t->line[0]), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->line[0]));
}

static const char *P(const struct side *s, const char *path, char *buf, size_t n)
{
	if (!s->libc)
		return path;
	snprintf(buf, n, "%s%s", s->root, path);
	return buf;
}

static long ERR(long r)
{
	return r < 0 ? -errno : r;
}

/* kind: 0 path, 1 the l- call, 2 the fd (path ignored) */
static long do_set(struct side *s, int kind, const char *path, const char *name, const void *v,
		   size_t n, int flags)
{
	char b[PATH_MAX];
	if (s->libc) {
		const char *p = P(s, path, b, sizeof(b));
		return ERR(kind == 2   ? fsetxattr(s->fd, name, v, n, flags)
			   : kind == 1 ? lsetxattr(p, name, v, n, flags)
				       : setxattr(p, name, v, n, flags));
	}
	struct fs_at at = kind == 2 ? fs_at_fd(s->fd) : FS_AT_ROOT;
	return fs_setxattrat(s->c, at, kind == 2 ? "" : path,
			     kind == 2 ? AT_EMPTY_PATH : kind == 1 ? AT_SYMLINK_NOFOLLOW : 0, name, v,
			     n, flags);
}

static long do_get(struct side *s, int kind, const char *path, const char *name, void *v,
		   size_t n)
{
	char b[PATH_MAX];
	if (s->libc) {
		const char *p = P(s, path, b, sizeof(b));
		return ERR(kind == 2   ? fgetxattr(s->fd, name, v, n)
			   : kind == 1 ? lgetxattr(p, name, v, n)
				       : getxattr(p, name, v, n));
	}
	struct fs_at at = kind == 2 ? fs_at_fd(s->fd) : FS_AT_ROOT;
	return fs_getxattrat(s->c, at, kind == 2 ? "" : path,
			     kind == 2 ? AT_EMPTY_PATH : kind == 1 ? AT_SYMLINK_NOFOLLOW : 0, name, v,
			     n);
}

static long do_list(struct side *s, int kind, const char *path, char *v, size_t n)
{
	char b[PATH_MAX];
	if (s->libc) {
		const char *p = P(s, path, b, sizeof(b));
		return ERR(kind == 2   ? flistxattr(s->fd, v, n)
			   : kind == 1 ? llistxattr(p, v, n)
				       : listxattr(p, v, n));
	}
	struct fs_at at = kind == 2 ? fs_at_fd(s->fd) : FS_AT_ROOT;
	return fs_listxattrat(s->c, at, kind == 2 ? "" : path,
			      kind == 2 ? AT_EMPTY_PATH : kind == 1 ? AT_SYMLINK_NOFOLLOW : 0, v, n);
}

static long do_remove(struct side *s, int kind, const char *path, const char *name)
{
	char b[PATH_MAX];
	if (s->libc) {
		const char *p = P(s, path, b, sizeof(b));
		return ERR(kind == 2   ? fremovexattr(s->fd, name)
			   : kind == 1 ? lremovexattr(p, name)
				       : removexattr(p, name));
	}
	struct fs_at at = kind == 2 ? fs_at_fd(s->fd) : FS_AT_ROOT;
	return fs_removexattrat(s->c, at, kind == 2 ? "" : path,
				kind == 2 ? AT_EMPTY_PATH : kind == 1 ? AT_SYMLINK_NOFOLLOW : 0, name);
}

static unsigned st_mode(struct side *s, const char *path)
{
	char b[PATH_MAX];
	struct stat st;
	long r = s->libc ? ERR(lstat(P(s, path, b, sizeof(b)), &st)) : fs_lstat(s->c, path, &st);
	return r < 0 ? 0 : (unsigned)st.st_mode;
}

static void say_set(struct transcript *t, struct side *s, int kind, const char *path,
		    const char *name, const char *value, int flags)
{
	long r = do_set(s, kind, path, name, value, value ? strlen(value) : 0, flags);
	say(t, "set%d %s %.40s \"%s\" %d = %ld", kind, path, name, value ? value : "", flags, r);
}

static void say_get(struct transcript *t, struct side *s, int kind, const char *path,
		    const char *name, size_t size)
{
	char v[128] = "";
	long r = do_get(s, kind, path, name, size ? v : NULL, size);
	say(t, "get%d %s %.40s %zu = %ld \"%.*s\"", kind, path, name, size, r,
	    r > 0 && size ? (int)r : 0, v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names listed, sorted (the order is the file system's own). */
static void say_list(struct transcript *t, struct side *s, int kind, const char *path, size_t size)
{
	char v[1024];
	long r = do_list(s, kind, path, size ? v : NULL, size);
	char out[160] = "";
	if (r > 0 && size) {
		char *names[32];
		unsigned n = 0;
		for (long off = 0; off < r && n < 32; off += (long)strlen(v + off) + 1)
			names[n++] = v + off;
		qsort(names, n, sizeof(names[0]), cmp_str);
		for (unsigned k = 0; k < n; k++)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.20s", k ? "," : "",
				 names[k]);
	}
	say(t, "list%d %s %zu = %ld [%s]", kind, path, size, r, out);
}

static void say_remove(struct transcript *t, struct side *s, int kind, const char *path,
		       const char *name)
{
	say(t, "remove%d %s %.40s = %ld", kind, path, name, do_remove(s, kind, path, name));
}

/* POSIX ACL values (version 2, entries tag/perm/id, little-endian). */
struct acl_e {
	uint16_t tag, perm;
	uint32_t id;
};
struct acl {
	uint32_t version;
	struct acl_e e[6];
};

static size_t acl_make(struct acl *a, bool named)
{
	memset(a, 0, sizeof(*a));
	a->version = 2;
	unsigned n = 0;
	a->e[n++] = (struct acl_e){1, 6, UINT32_MAX};
	if (named)
		a->e[n++] = (struct acl_e){2, 7, 1000};
	a->e[n++] = (struct acl_e){4, 4, UINT32_MAX};
	if (named)
		a->e[n++] = (struct acl_e){0x10, 5, UINT32_MAX};
	a->e[n++] = (struct acl_e){0x20, 1, UINT32_MAX};
	return 4 + n * 8;
}

static void say_acl(struct transcript *t, struct side *s, const char *path, const char *name,
		    const struct acl *a, size_t n)
{
	long r = do_set(s, 0, path, name, a, n, 0);
	uint8_t back[128];
	long g = do_get(s, 0, path, name, back, sizeof(back));
	say(t, "acl %s %s %zu = %ld mode 0%o get %ld same %d", path, name, n, r, st_mode(s, path),
	    g, g == (long)n && memcmp(back, a, n) == 0);
}

/* As root: the files, then the calls. */
static void script_root(struct side *s, struct transcript *t)
{
	char b[PATH_MAX];
	/* the files */
	if (s->libc) {
		close(open(P(s, "/f", b, sizeof(b)), O_CREAT | O_WRONLY, 0644));
		close(open(P(s, "/u", b, sizeof(b)), O_CREAT | O_WRONLY, 0644));
		close(open(P(s, "/secret", b, sizeof(b)), O_CREAT | O_WRONLY, 0600));
		mkdir(P(s, "/d", b, sizeof(b)), 0755);
		mkdir(P(s, "/sd", b, sizeof(b)), 0);
		mkdir(P(s, "/wd", b, sizeof(b)), 0);
		chmod(P(s, "/sd", b, sizeof(b)), 01777); /* (not the umask's) */
		chmod(P(s, "/wd", b, sizeof(b)), 0777);
		mkfifo(P(s, "/p", b, sizeof(b)), 0644);
		symlink("f", P(s, "/l", b, sizeof(b)));
		assert_int_equal(chown(P(s, "/u", b, sizeof(b)), USER_ID, USER_ID), 0);
		s->fd = open(P(s, "/f", b, sizeof(b)), O_RDONLY);
	} else {
		fs_close(s->c, fs_open(s->c, "/f", O_CREAT | O_WRONLY, 0644));
		fs_close(s->c, fs_open(s->c, "/u", O_CREAT | O_WRONLY, 0644));
		fs_close(s->c, fs_open(s->c, "/secret", O_CREAT | O_WRONLY, 0600));
		fs_mkdir(s->c, "/d", 0755);
		fs_mkdir(s->c, "/sd", 01777);
		fs_mkdir(s->c, "/wd", 0777);
		fs_mknodat(s->c, FS_AT_ROOT, "/p", S_IFIFO | 0644, 0);
		fs_symlink(s->c, "f", "/l");
		struct fs_attr a = {.valid = FS_ATTR_UID | FS_ATTR_GID, .uid = USER_ID, .gid = USER_ID};
		assert_int_equal(fs_setattr_path(s->c, "/u", &a), 0);
		s->fd = fs_open(s->c, "/f", O_RDONLY, 0);
	}
	assert_true(s->fd >= 0);
	say(t, "modes %o %o %o", st_mode(s, "/f"), st_mode(s, "/sd"), st_mode(s, "/p"));

	say_set(t, s, 0, "/f", "user.a", "hello", 0);
	say_get(t, s, 0, "/f", "user.a", 64);
	say_get(t, s, 0, "/f", "user.a", 0);
	say_get(t, s, 0, "/f", "user.a", 2);
	say_set(t, s, 0, "/f", "user.a", "again", XATTR_CREATE);
	say_set(t, s, 0, "/f", "user.b", "x", XATTR_REPLACE);
	say_set(t, s, 0, "/f", "user.b", "x", XATTR_CREATE | XATTR_REPLACE);
	say_set(t, s, 0, "/f", "user.a", "replaced", XATTR_REPLACE);
	say_get(t, s, 0, "/f", "user.a", 64);
	say_set(t, s, 0, "/f", "user.b", "", 0);
	say_get(t, s, 0, "/f", "user.b", 64);
	say_get(t, s, 0, "/f", "user.nothere", 64);
	/* names */
	char n255[256], n256[257];
	memset(n255, 'n', 255);
	memcpy(n255, "user.", 5);
	n255[255] = '\0';
	memset(n256, 'n', 256);
	memcpy(n256, "user.", 5);
	n256[256] = '\0';
	say_set(t, s, 0, "/f", n255, "long", 0);
	say_get(t, s, 0, "/f", n255, 64);
	say_set(t, s, 0, "/f", n256, "x", 0);
	say_get(t, s, 0, "/f", n256, 64);
	say_set(t, s, 0, "/f", "", "x", 0);
	say_get(t, s, 0, "/f", "", 64);
	say_remove(t, s, 0, "/f", "");
	say_set(t, s, 0, "/f", "user.", "x", 0);
	say_get(t, s, 0, "/f", "user.", 64);
	say_set(t, s, 0, "/f", "other.x", "x", 0);
	say_get(t, s, 0, "/f", "other.x", 64);
	say_remove(t, s, 0, "/f", "other.x");
	say_set(t, s, 0, "/f", "system.x", "x", 0);
	say_set(t, s, 0, "/f", "user.x", "x", 8);
	say_set(t, s, 0, "/nothere", "", "x", 0);
	say_set(t, s, 0, "/nothere", "user.x", "x", 0);
	say_set(t, s, 0, "/f/x", "user.x", "x", 0);
	/* sizes */
	static char big[70000];
	memset(big, 'v', sizeof(big));
	say(t, "set big 65537 = %ld", do_set(s, 0, "/f", "user.big", big, 65537, 0));
	say(t, "set big 5000 = %ld", do_set(s, 0, "/f", "user.big", big, 5000, 0));
	say_get(t, s, 0, "/f", "user.big", 64);
	/* namespaces */
	say_set(t, s, 0, "/f", "trusted.t", "tv", 0);
	say_set(t, s, 0, "/f", "security.s", "sv", 0);
	say_get(t, s, 0, "/f", "trusted.t", 64);
	say_list(t, s, 0, "/f", 1024);
	say_list(t, s, 0, "/f", 3);
	say(t, "list size = %ld", do_list(s, 0, "/f", NULL, 0));
	say_remove(t, s, 0, "/f", "user.b");
	say_remove(t, s, 0, "/f", "user.b");
	say_remove(t, s, 0, "/f", n255);
	say_list(t, s, 0, "/f", 1024);
	/* a FIFO, a symbolic link, a directory */
	say_set(t, s, 0, "/p", "user.a", "x", 0);
	say_get(t, s, 0, "/p", "user.a", 64);
	say_set(t, s, 0, "/p", "trusted.a", "x", 0);
	say_list(t, s, 0, "/p", 1024);
	say_set(t, s, 1, "/l", "user.a", "x", 0);
	say_get(t, s, 1, "/l", "user.a", 64);
	say_set(t, s, 1, "/l", "trusted.l", "on the link", 0);
	say_list(t, s, 1, "/l", 1024);
	say_get(t, s, 1, "/l", "system.posix_acl_access", 64); /* (no ACL on a link) */
	say_get(t, s, 1, "/l", "system.posix_acl_default", 0);
	say_remove(t, s, 1, "/l", "system.posix_acl_access");
	say_set(t, s, 0, "/l", "user.c", "through the link", 0);
	say_get(t, s, 0, "/f", "user.c", 64);
	say_get(t, s, 0, "/l", "trusted.l", 64);
	say_get(t, s, 1, "/l", "trusted.l", 64);
	say_set(t, s, 0, "/d", "user.d", "dir", 0);
	say_set(t, s, 0, "/sd", "user.d", "sticky", 0);
	say_list(t, s, 0, "/d", 1024);
	/* the fd */
	say_set(t, s, 2, "", "user.fd", "by fd", 0);
	say_get(t, s, 2, "", "user.fd", 64);
	say_list(t, s, 2, "", 1024);
	say_remove(t, s, 2, "", "user.fd");
	say_get(t, s, 2, "", "user.fd", 64);
	int keep = s->fd;
	s->fd = 900;
	say_set(t, s, 2, "", "user.fd", "x", 0);
	say_set(t, s, 2, "", "", "x", 0);
	say_list(t, s, 2, "", 64);
	s->fd = keep;
	/* POSIX ACLs */
	struct acl a;
	size_t n = acl_make(&a, false);
	say_acl(t, s, "/f", "system.posix_acl_access", &a, n);
	n = acl_make(&a, true);
	say_acl(t, s, "/f", "system.posix_acl_access", &a, n);
	say_list(t, s, 0, "/f", 1024);
	say_acl(t, s, "/f", "system.posix_acl_default", &a, n);
	say_acl(t, s, "/d", "system.posix_acl_default", &a, n);
	say_remove(t, s, 0, "/f", "system.posix_acl_access");
	say_remove(t, s, 0, "/f", "system.posix_acl_access");
	say(t, "mode after removal 0%o", st_mode(s, "/f"));
	a.version = 3;
	say_acl(t, s, "/d", "system.posix_acl_access", &a, n);
	a.version = 2;
	say_acl(t, s, "/d", "system.posix_acl_access", &a, n - 3);
	a.e[1].perm = 8;
	say_acl(t, s, "/d", "system.posix_acl_access", &a, n);
	a.e[1].perm = 7;
	struct acl swapped = a; /* the group entry before the named user */
	swapped.e[1] = a.e[2];
	swapped.e[2] = a.e[1];
	say_acl(t, s, "/d", "system.posix_acl_access", &swapped, n);
	say(t, "set empty acl = %ld", do_set(s, 0, "/d", "system.posix_acl_default", "", 0, 0));
	say_get(t, s, 0, "/d", "system.posix_acl_default", 64);
	say_list(t, s, 0, "/d", 1024);
}

/* As uid/gid 65534, on root's files and its own. */
static void script_user(struct side *s, struct transcript *t)
{
	say_set(t, s, 0, "/f", "user.n", "x", 0);
	say_get(t, s, 0, "/f", "user.a", 64);
	say_get(t, s, 0, "/secret", "user.a", 64);
	say_remove(t, s, 0, "/f", "user.a");
	say_set(t, s, 0, "/f", "trusted.n", "x", 0);
	say_get(t, s, 0, "/f", "trusted.t", 64);
	say_get(t, s, 0, "/f", "security.s", 64);
	say_list(t, s, 0, "/f", 1024);
	say_set(t, s, 0, "/u", "user.mine", "mine", 0);
	say_get(t, s, 0, "/u", "user.mine", 64);
	say_set(t, s, 0, "/u", "security.n", "x", 0);
	say_remove(t, s, 0, "/f", "security.s");
	say_set(t, s, 0, "/u", "trusted.n", "x", 0);
	say_list(t, s, 0, "/u", 1024);
	say_remove(t, s, 0, "/u", "user.mine");
	say_set(t, s, 0, "/sd", "user.n", "x", 0);
	say_set(t, s, 0, "/wd", "user.n", "x", 0);
	say_get(t, s, 0, "/wd", "user.n", 64);
	struct acl a;
	size_t n = acl_make(&a, true);
	say_acl(t, s, "/f", "system.posix_acl_access", &a, n);
	say_acl(t, s, "/u", "system.posix_acl_access", &a, n);
	say_remove(t, s, 0, "/u", "system.posix_acl_access");
	say(t, "mode 0%o", st_mode(s, "/u"));
}

/* ---- the sides ---------------------------------------------------------------------- */

static void core_up(struct side *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(bdev_emu_create(4096, &s->dev), 0);
	struct fs_mkfs_options mo = {.inodes = 256};
	assert_int_equal(fs_mkfs(s->dev, &mo), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(s->dev, &o, &s->fs), 0);
	s->c = fs_client_new(s->fs, 0, 0);
	assert_non_null(s->c);
}

static void libc_up(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->libc = true;
	snprintf(s->root, sizeof(s->root), "/tmp/ank-xattr-XXXXXX");
	assert_non_null(mkdtemp(s->root));
	assert_int_equal(chmod(s->root, 0755), 0);
}

static void libc_down(struct side *s)
{
	char cmd[128];
	close(s->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->root);
	assert_int_equal(system(cmd), 0);
}

static unsigned compare(const struct transcript *a, const struct transcript *b)
{
	assert_int_equal(a->n, b->n);
	unsigned bad = 0;
	for (unsigned i = 0; i < a->n; i++) {
		if (strcmp(a->line[i], b->line[i]) != 0) {
			printf("differs: core  %s\n         linux %s\n", a->line[i], b->line[i]);
			bad++;
		}
	}
	if (getenv("ANK_XATTR_VERBOSE"))
		for (unsigned i = 0; i < a->n; i++)
			printf("  %s\n", a->line[i]);
	return bad;
}

static struct transcript ta, tb;

static void every_result_is_linux_s(void **state)
{
	(void)state;
	struct side core, lx;
	core_up(&core);
	libc_up(&lx);
	memset(&ta, 0, sizeof(ta));
	memset(&tb, 0, sizeof(tb));
	script_root(&core, &ta);
	script_root(&lx, &tb);
	unsigned bad = compare(&ta, &tb);
	printf("%u calls as root compared with Linux, %u differ\n", ta.n, bad);
	unsigned bad_user = 0;
	if (geteuid() == 0) {
		struct fs_client *root_c = core.c;
		core.c = fs_client_new(core.fs, USER_ID, USER_ID);
		assert_non_null(core.c);
		memset(&ta, 0, sizeof(ta));
		script_user(&core, &ta);
		fs_client_free(core.c);
		core.c = root_c;
		/* Linux's side in a child that is uid 65534 */
		struct transcript *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
						 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		assert_true(shared != MAP_FAILED);
		memset(shared, 0, sizeof(*shared));
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setresgid(USER_ID, USER_ID, USER_ID) || setgroups(0, NULL) ||
			    setresuid(USER_ID, USER_ID, USER_ID))
				_exit(3);
			script_user(&lx, shared);
			_exit(0);
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		bad_user = compare(&ta, shared);
		printf("%u calls as uid %u compared with Linux, %u differ\n", ta.n, USER_ID,
		       bad_user);
		munmap(shared, sizeof(*shared));
	} else {
		printf("(not root: the calls as another user are left out)\n");
	}
	assert_int_equal(bad, 0);
	assert_int_equal(bad_user, 0);

	/* What was set survives a remount, and fsck finds the volume clean. */
	fs_close(core.c, core.fd);
	fs_client_free(core.c);
	assert_int_equal(fs_unmount(core.fs), 0);
	struct fsck_options fo = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(core.dev, &fo, &r), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(core.dev, &o, &core.fs), 0);
	core.c = fs_client_new(core.fs, 0, 0);
	char v[64];
	assert_int_equal(fs_getxattrat(core.c, FS_AT_ROOT, "/f", 0, "user.a", v, sizeof(v)), 8);
	assert_memory_equal(v, "replaced", 8);
	assert_int_equal(fs_getxattrat(core.c, FS_AT_ROOT, "/l", AT_SYMLINK_NOFOLLOW, "trusted.l",
				       v, sizeof(v)),
			 11);
	fs_client_free(core.c);
	assert_int_equal(fs_unmount(core.fs), 0);
	bdev_close(core.dev);
	libc_down(&lx);
}

/* The block comes and goes with the attributes: st_blocks counts it, the
 * last removal frees it, and so does the file's removal; fsck agrees. */
static void attributes_live_in_the_inode_and_spill_into_a_block(void **state)
{
	(void)state;
	struct side s;
	core_up(&s);
	struct fs_statfs f0, f1, f2;
	struct stat st;
	fs_close(s.c, fs_open(s.c, "/a", O_CREAT | O_WRONLY, 0644));
	assert_int_equal(fs_statfs_path(s.c, "/", &f0), 0);
	/* small ones: in the inode, no block */
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", "1", 1, 0), 0);
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.y", "2", 1, 0), 0);
	assert_int_equal(fs_statfs_path(s.c, "/", &f1), 0);
	assert_int_equal(f0.bfree - f1.bfree, 0);
	assert_int_equal(fs_stat(s.c, "/a", &st), 0);
	assert_int_equal(st.st_blocks, 0);
	/* one that does not fit beside them takes the block */
	static char big[300], got[300];
	memset(big, 'b', sizeof(big));
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.big", big, 300, 0), 0);
	assert_int_equal(fs_statfs_path(s.c, "/", &f1), 0);
	assert_int_equal(f0.bfree - f1.bfree, 1);
	assert_int_equal(fs_stat(s.c, "/a", &st), 0);
	assert_int_equal(st.st_blocks, 8);
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.big", big, 1, XATTR_CREATE),
			 -EEXIST);
	/* one in the inode that grows past its room moves to the block, and
	 * back when it shrinks */
	memset(big, 'x', sizeof(big));
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", big, 230, XATTR_REPLACE),
			 0);
	assert_int_equal(fs_getxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", got, sizeof(got)), 230);
	assert_memory_equal(got, big, 230);
	char names[64];
	assert_int_equal(fs_listxattrat(s.c, FS_AT_ROOT, "/a", 0, names, sizeof(names)), 23);
	assert_int_equal(fs_removexattrat(s.c, FS_AT_ROOT, "/a", 0, "user.big"), 0);
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", "3", 1, 0), 0);
	assert_int_equal(fs_stat(s.c, "/a", &st), 0);
	assert_int_equal(st.st_blocks, 0);
	/* both kept across a remount (the area is written with the inode) */
	fs_client_free(s.c);
	assert_int_equal(fs_unmount(s.fs), 0);
	struct fs_options ro = {.no_background = true};
	assert_int_equal(fs_mount(s.dev, &ro, &s.fs), 0);
	s.c = fs_client_new(s.fs, 0, 0);
	assert_int_equal(fs_getxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", got, sizeof(got)), 1);
	assert_int_equal(got[0], '3');
	assert_int_equal(fs_getxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.y", got, sizeof(got)), 1);
	assert_int_equal(got[0], '2');
	assert_int_equal(fs_removexattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x"), 0);
	assert_int_equal(fs_removexattrat(s.c, FS_AT_ROOT, "/a", 0, "user.y"), 0);
	assert_int_equal(fs_listxattrat(s.c, FS_AT_ROOT, "/a", 0, names, sizeof(names)), 0);
	/* removal of the file frees it too, also when it was open */
	assert_int_equal(fs_setxattrat(s.c, FS_AT_ROOT, "/a", 0, "user.x", "1", 1, 0), 0);
	int fd = fs_open(s.c, "/a", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fs_unlink(s.c, "/a"), 0);
	char v[4];
	assert_int_equal(fs_getxattrat(s.c, fs_at_fd(fd), "", AT_EMPTY_PATH, "user.x", v, 4), 1);
	assert_int_equal(fs_close(s.c, fd), 0);
	/* (a freed block counts as free once its transaction is checkpointed:
	 * fsck, which finds any block marked used that nobody claims, and
	 * statfs after a remount) */
	fs_client_free(s.c);
	assert_int_equal(fs_unmount(s.fs), 0);
	struct fsck_options fo = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(s.dev, &fo, &r), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(s.dev, &o, &s.fs), 0);
	s.c = fs_client_new(s.fs, 0, 0);
	assert_int_equal(fs_statfs_path(s.c, "/", &f2), 0);
	assert_int_equal(f2.bfree, f0.bfree);
	fs_client_free(s.c);
	assert_int_equal(fs_unmount(s.fs), 0);
	bdev_close(s.dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_result_is_linux_s),
		cmocka_unit_test(attributes_live_in_the_inode_and_spill_into_a_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
