/*
 * test_dup.c - fs_dup (dup(2), dup2(2), fcntl F_DUPFD) of the core,
 * compared with Linux: the new fd names the same open file description
 * (one offset, one set of status flags), dup2 closes what the target fd
 * named, the errors. The same script runs on the core (an emulated volume)
 * and through libc in a fresh directory; fd numbers differ between the two
 * (the process has its own), so the script names fds by slot and prints
 * results that do not depend on the numbers: success or errno, offsets,
 * bytes read. Then fsck checks the volume (an unlinked file kept open by a
 * dup is freed at its last close).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"

#define NSLOTS 8

struct side {
	struct bdev *dev;
	struct fs *fs;
	struct fs_client *c;
	char root[64];
	bool libc;
	int slot[NSLOTS];
};

struct transcript {
	char line[100][128];
	unsigned n;
};

static void say(struct transcript *t, const char *fmt, ...)
{
	assert_true(t->n < 100);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->line[t->n++], sizeof(t->line[0]), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->line[0]));
}

static long ERR(long r)
{
	return r < 0 ? -errno : r;
}

static long s_open(struct side *s, int slot, const char *name, int flags)
{
	char b[PATH_MAX];
	snprintf(b, sizeof(b), "%s/%s", s->libc ? s->root : "", name);
	long fd = s->libc ? ERR(open(b, flags, 0644)) : fs_open(s->c, b, flags, 0644);
	if (fd >= 0)
		s->slot[slot] = (int)fd;
	return fd < 0 ? fd : 0;
}

/* dup into a slot: how 0 dup, 1 dup2 onto slot `to`'s fd (or number
 * `num` when to < 0), 2 F_DUPFD with minimum num */
static long s_dup(struct side *s, int slot, int from, int how, int to, int num)
{
	int old = from < 0 ? 900 : s->slot[from];
	int target = to >= 0 ? s->slot[to] : num;
	long fd;
	if (s->libc)
		fd = ERR(how == 0 ? dup(old) : how == 1 ? dup2(old, target) : fcntl(old, F_DUPFD, num));
	else
		fd = how == 0   ? fs_dup(s->c, old, 0, 0)
		     : how == 1 ? fs_dup(s->c, old, target, FS_DUP_EXACT)
				: fs_dup(s->c, old, num, 0);
	if (fd >= 0 && slot >= 0)
		s->slot[slot] = (int)fd;
	if (fd >= 0 && how == 2)
		return fd >= num ? 1 : -1000; /* at least the minimum */
	if (fd >= 0 && how == 1 && to < 0)
		return fd == num ? 1 : -1000;
	return fd < 0 ? fd : 0;
}

static long s_write(struct side *s, int slot, const char *text)
{
	size_t n = strlen(text);
	return s->libc ? ERR(write(s->slot[slot], text, n)) : fs_write(s->c, s->slot[slot], text, n);
}

static void say_read(struct transcript *t, struct side *s, int slot, size_t n)
{
	char b[64] = "";
	long r = s->libc ? ERR(read(s->slot[slot], b, n)) : fs_read(s->c, s->slot[slot], b, n);
	say(t, "read %d %zu = %ld \"%.*s\"", slot, n, r, r > 0 ? (int)r : 0, b);
}

static long s_seek(struct side *s, int slot, off_t off, int whence)
{
	return s->libc ? ERR(lseek(s->slot[slot], off, whence))
		       : fs_lseek(s->c, s->slot[slot], off, whence);
}

static long s_close(struct side *s, int slot)
{
	return s->libc ? ERR(close(s->slot[slot])) : fs_close(s->c, s->slot[slot]);
}

static long s_getfl(struct side *s, int slot)
{
	long r = s->libc ? ERR(fcntl(s->slot[slot], F_GETFL)) : fs_getfl(s->c, s->slot[slot]);
	return r < 0 ? r : (r & (O_ACCMODE | O_APPEND));
}

static void script(struct side *s, struct transcript *t)
{
	say(t, "open f = %ld", s_open(s, 0, "f", O_CREAT | O_RDWR));
	say(t, "write = %ld", s_write(s, 0, "0123456789"));
	say(t, "dup 0 -> 1 = %ld", s_dup(s, 1, 0, 0, 0, 0));
	say(t, "seek 1 3 = %ld", s_seek(s, 1, 3, SEEK_SET));
	say(t, "offset of 0 = %ld", s_seek(s, 0, 0, SEEK_CUR));
	say_read(t, s, 0, 2);
	say(t, "offset of 1 = %ld", s_seek(s, 1, 0, SEEK_CUR));
	/* status flags belong to the description */
	if (s->libc)
		fcntl(s->slot[1], F_SETFL, O_APPEND);
	else
		fs_setfl(s->c, s->slot[1], O_APPEND);
	say(t, "flags of 0 = 0%lo", (unsigned long)s_getfl(s, 0));
	say(t, "write 0 = %ld", s_write(s, 0, "ab"));
	say(t, "offset of 1 = %ld", s_seek(s, 1, 0, SEEK_CUR));
	/* dup2 onto an fd open on another file closes that one */
	say(t, "open g = %ld", s_open(s, 2, "g", O_CREAT | O_RDWR));
	say(t, "write g = %ld", s_write(s, 2, "gggg"));
	say(t, "dup2 0 -> 2 = %ld", s_dup(s, 2, 0, 1, 2, 0));
	say(t, "seek 2 0 = %ld", s_seek(s, 2, 0, SEEK_SET));
	say_read(t, s, 0, 4);
	/* dup2 onto itself, onto a free number, F_DUPFD's minimum */
	say(t, "dup2 0 -> 0 = %ld", s_dup(s, -1, 0, 1, 0, 0));
	say(t, "dup2 0 -> 40 = %ld", s_dup(s, 3, 0, 1, -1, 40));
	say(t, "F_DUPFD 0 >= 50 = %ld", s_dup(s, 4, 0, 2, -1, 50));
	say(t, "offset of 4 = %ld", s_seek(s, 4, 0, SEEK_CUR));
	/* errors */
	say(t, "dup bad = %ld", s_dup(s, -1, -1, 0, 0, 0));
	say(t, "dup2 bad = %ld", s_dup(s, -1, -1, 1, -1, 60));
	say(t, "dup2 to -1 = %ld", s_dup(s, -1, 0, 1, -1, -1));
	say(t, "F_DUPFD min -1 = %ld", s_dup(s, -1, 0, 2, -1, -1));
	/* the original closes; the copies go on with its offset */
	say(t, "close 0 = %ld", s_close(s, 0));
	say(t, "offset of 1 = %ld", s_seek(s, 1, 0, SEEK_CUR));
	say(t, "seek 3 1 = %ld", s_seek(s, 3, 1, SEEK_SET));
	say_read(t, s, 1, 5);
	say(t, "close 0 again = %ld", s_close(s, 0));
	/* an unlinked file stays while a copy is open */
	say(t, "open h = %ld", s_open(s, 5, "h", O_CREAT | O_RDWR));
	say(t, "write h = %ld", s_write(s, 5, "kept"));
	say(t, "dup 5 -> 6 = %ld", s_dup(s, 6, 5, 0, 0, 0));
	char b[PATH_MAX];
	snprintf(b, sizeof(b), "%s/h", s->libc ? s->root : "");
	say(t, "unlink h = %ld", s->libc ? ERR(unlink(b)) : fs_unlink(s->c, b));
	say(t, "close 5 = %ld", s_close(s, 5));
	say(t, "seek 6 0 = %ld", s_seek(s, 6, 0, SEEK_SET));
	say_read(t, s, 6, 10);
	for (int k = 1; k <= 6; k++)
		if (k != 5)
			say(t, "close %d = %ld", k, s_close(s, k));
}

static struct transcript ta, tb;

static void every_result_is_linux_s(void **state)
{
	(void)state;
	struct side core = {0}, lx = {.libc = true};
	assert_int_equal(bdev_emu_create(2048, &core.dev), 0);
	struct fs_mkfs_options mo = {.inodes = 128};
	assert_int_equal(fs_mkfs(core.dev, &mo), 0);
	struct fs_options o = {.no_background = true};
	assert_int_equal(fs_mount(core.dev, &o, &core.fs), 0);
	core.c = fs_client_new(core.fs, 0, 0);
	snprintf(lx.root, sizeof(lx.root), "/tmp/ank-dup-XXXXXX");
	assert_non_null(mkdtemp(lx.root));
	script(&core, &ta);
	script(&lx, &tb);
	assert_int_equal(ta.n, tb.n);
	unsigned bad = 0;
	for (unsigned i = 0; i < ta.n; i++)
		if (strcmp(ta.line[i], tb.line[i])) {
			printf("differs: core  %s\n         linux %s\n", ta.line[i], tb.line[i]);
			bad++;
		}
	if (getenv("ANK_DUP_VERBOSE"))
		for (unsigned i = 0; i < ta.n; i++)
			printf("  %s\n", ta.line[i]);
	printf("%u results compared with Linux, %u differ\n", ta.n, bad);
	assert_int_equal(bad, 0);
	fs_client_free(core.c);
	assert_int_equal(fs_unmount(core.fs), 0);
	struct fsck_options fo = {.quiet = true, .out = stderr};
	struct fsck_report r;
	assert_int_equal(fsck_run(core.dev, &fo, &r), 0);
	bdev_close(core.dev);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", lx.root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_result_is_linux_s),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
