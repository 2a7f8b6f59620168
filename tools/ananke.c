/*
 * ananke.c - the `ananke` command: mkfs, fsck, dump, the demo workload
 * that exercises the file system core, and the service commands (serve,
 * status, stop, and the hidden `server` the supervisor execs). Each
 * subcommand parses its own arguments and reports errors as "ananke: ..."
 * with a non-zero exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/util/stdfds.h"
#include "../src/bdev/bdev.h"
#include "../src/fs/fs.h"
#include "../src/fsck/fsck.h"
#include "../src/server/server.h"
#include "tools.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ananke COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  mkfs IMAGE [--size SIZE]     create a file system (SIZE like 1G, 256M; default 1G\n"
		"                               when IMAGE does not exist, else the image's size)\n"
		"  fsck IMAGE [--repair]        check (and repair) a file system; exit 0 when clean\n"
		"  dump IMAGE [PATH|INODE]      print the superblock, journal state, an inode or a\n"
		"                               directory, human-readable\n"
		"  demo [IMAGE]                 run the demo workload on IMAGE (default ananke.img)\n"
		"  serve [IMAGE] [--socket PATH] [--workers N] [--foreground] [--recovery=none]\n"
		"                               start the service on IMAGE (default ./ananke.img,\n"
		"                               created when missing); socket default $ANANKE_SOCKET,\n"
		"                               else ./ananke.sock; detaches unless --foreground\n"
		"  status [--socket PATH] [--json]\n"
		"                               show the running service\n"
		"  stop [--socket PATH]         stop the service cleanly; exit 0 when it unmounted\n"
		"  mount MOUNTPOINT [IMAGE] [serve options]\n"
		"                               start the service and mount it through FUSE, for\n"
		"                               unmodified programs (`mount --help` for more)\n"
		"  umount MOUNTPOINT            unmount it and stop the service\n"
		"  help                         this text\n");
}

int tool_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int tool_mkfs_image(const char *path, uint64_t size, bool quiet)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (exists && S_ISREG(st.st_mode) && size && (uint64_t)st.st_size != size) {
		if (truncate(path, (off_t)size) < 0) {
			fprintf(stderr, "ananke: mkfs: cannot resize %s: %s\n", path, strerror(errno));
			return 1;
		}
	} else if (!exists) {
		if (!size)
			size = 1ull << 30;
		int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			fprintf(stderr, "ananke: mkfs: cannot create %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return 1;
		}
		close(fd);
	}
	struct bdev *dev;
	int rc = bdev_file_open(path, false, 0, &dev);
	if (rc < 0) {
		fprintf(stderr, "ananke: mkfs: cannot open %s: %s\n", path, strerror(-rc));
		return 1;
	}
	rc = fs_mkfs(dev, NULL);
	uint64_t nblocks = dev->nblocks;
	bdev_close(dev);
	if (rc < 0) {
		fprintf(stderr, "ananke: mkfs: %s: %s\n", path,
			rc == -EINVAL ? "device too small (at least 1 MiB)" : strerror(-rc));
		return 1;
	}
	if (!quiet)
		printf("ananke: created %s: %" PRIu64 " blocks of 4 KiB (%" PRIu64 " MiB)\n", path,
		       nblocks, nblocks / 256);
	return 0;
}

static int cmd_mkfs(int argc, char **argv)
{
	const char *image = NULL;
	uint64_t size = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			if (tool_parse_size(argv[++i], &size) < 0 || size % 4096) {
				fprintf(stderr, "ananke: mkfs: bad size '%s' (a multiple of 4 KiB, e.g. 1G)\n",
					argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-' || image) {
			usage(stderr);
			return 2;
		} else {
			image = argv[i];
		}
	}
	if (!image) {
		usage(stderr);
		return 2;
	}
	return tool_mkfs_image(image, size, false);
}

static int open_image(const char *cmd, const char *path, bool ro, struct bdev **dev)
{
	int rc = bdev_file_open(path, ro, 0, dev);
	if (rc < 0) {
		fprintf(stderr, "ananke: %s: cannot open %s: %s\n", cmd, path,
			rc == -EINVAL ? "size is not a multiple of 4096 or O_DIRECT unsupported"
				      : strerror(-rc));
		return -1;
	}
	return 0;
}

static int cmd_fsck(int argc, char **argv)
{
	const char *image = NULL;
	struct fsck_options opt = {.out = stdout};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repair"))
			opt.repair = true;
		else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
			opt.quiet = true;
		else if (argv[i][0] == '-' || image) {
			usage(stderr);
			return FSCK_EXIT_ERROR;
		} else
			image = argv[i];
	}
	if (!image) {
		usage(stderr);
		return FSCK_EXIT_ERROR;
	}
	struct bdev *dev;
	if (open_image("fsck", image, !opt.repair, &dev) < 0)
		return FSCK_EXIT_ERROR;
	struct fsck_report rep;
	int rc = fsck_run(dev, &opt, &rep);
	bdev_close(dev);
	return rc;
}

static int cmd_dump(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		usage(stderr);
		return 2;
	}
	struct bdev *dev;
	if (open_image("dump", argv[1], true, &dev) < 0)
		return 1;
	int rc = dump_run(dev, argc == 3 ? argv[2] : NULL, stdout);
	bdev_close(dev);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (ank_std_fds_open() < 0) {
		/* (no stderr to say it on, perhaps) */
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "mkfs"))
		return cmd_mkfs(argc - 1, argv + 1);
	if (!strcmp(cmd, "fsck"))
		return cmd_fsck(argc - 1, argv + 1);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc - 1, argv + 1);
	if (!strcmp(cmd, "demo"))
		return tool_demo(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return tool_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return tool_status(argc - 1, argv + 1);
	if (!strcmp(cmd, "stop"))
		return tool_stop(argc - 1, argv + 1);
	if (!strcmp(cmd, "mount"))
		return tool_mount(argc - 1, argv + 1);
	if (!strcmp(cmd, "umount") || !strcmp(cmd, "unmount"))
		return tool_umount(argc - 1, argv + 1);
	/* Not in the usage text: run by the supervisor, fds 3 and 4 prepared. */
	if (!strcmp(cmd, "server"))
		return server_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ananke: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
