/*
 * tools.h - helpers shared by the subcommands of the `ananke` command.
 */
#ifndef ANK_TOOLS_H
#define ANK_TOOLS_H

#include <stdbool.h>
#include <stdint.h>

/* "1G", "256M", "4096" -> bytes. 0 or -1 on a bad string. */
int tool_parse_size(const char *s, uint64_t *out);
/* Create (or reuse) an image file of `size` bytes (0: 1 GiB for a new file,
 * else keep its size) and format it. Returns an exit code. */
int tool_mkfs_image(const char *path, uint64_t size, bool quiet);
/* `ananke demo [IMAGE]`: the scripted core workload. Returns an exit code. */
int tool_demo(int argc, char **argv);
/* `ananke serve [IMAGE] [--socket PATH] [--workers N] [--foreground]
 * [--recovery=none]`: run the service (tools/service.c). Exit code. */
int tool_serve(int argc, char **argv);
/* `ananke status [--socket PATH] [--json]`: print the service's status;
 * 1 with "no service on PATH" when nothing listens. */
int tool_status(int argc, char **argv);
/* `ananke stop [--socket PATH]`: stop the service; 0 when it stopped
 * cleanly. */
int tool_stop(int argc, char **argv);

/* `ananke mount MOUNTPOINT [IMAGE] [options]` and `ananke umount MOUNTPOINT`:
 * the service behind a FUSE mount (src/fuse/). */
int tool_mount(int argc, char **argv);
int tool_umount(int argc, char **argv);

#endif
