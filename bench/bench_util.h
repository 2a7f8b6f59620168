/*
 * bench_util.h - helpers shared by the benchmark programs in bench/: timing,
 * option parsing, statistics, running external commands, and mount handling
 * (loop-mounted ext4 images, tmpfs) with async-signal-safe cleanup.
 *
 * This file is not a program: the Makefile links bench_util.o into every
 * bench/<name>.c program instead of building a build/bin/bench_util.
 */
#ifndef ANK_BENCH_UTIL_H
#define ANK_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define BENCH_BLK 4096u

/* CLOCK_MONOTONIC in ns (vDSO: no system call). */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "ENOENT" for ENOENT, "?" when unknown. */
const char *bench_errno_name(int e);

/* "1G", "256M", "4096", "64KiB" -> bytes (> 0). 0 or -1. */
int bench_parse_size(const char *s, uint64_t *out);
/* A decimal 1..100,000,000. 0 or -1. */
int bench_parse_uint(const char *s, unsigned *out);
/* 1073741824 -> "1 GiB" (exact units only, else bytes). */
void bench_fmt_size(uint64_t bytes, char *out, size_t n);
/* Microseconds with 2, 1 or 0 decimals depending on magnitude. */
void bench_fmt_us(double us, char *out, size_t n);

/* Sort helpers and nearest-rank percentile of sorted values. */
int bench_cmp_u64(const void *a, const void *b);
uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p);
/* Median of v[0..n) (sorts v in place); 0 when n == 0. */
double bench_median(double *v, unsigned n);

/* Start argv (PATH search) without waiting. Its stdout goes to /dev/null
 * when quiet; stdout and stderr both go to `log` (appended) when log is not
 * NULL. Returns its pid, or -1 with a message naming `prog` (the caller). */
pid_t bench_spawn(const char *prog, char *const argv[], bool quiet, const char *log);
/* bench_spawn, then wait. Returns the exit status, or -1 (cannot run it, or
 * killed by a signal). */
int bench_run_cmd(const char *prog, char *const argv[], bool quiet, const char *log);

/* Replace path with a sparse file of `size` bytes. 0 or -errno. */
int bench_make_sparse_file(const char *path, uint64_t size);

/* write(2) a string to stderr. Async-signal-safe. */
void bench_put_str(const char *s);

/* Unmount `path`: retry a busy unmount for up to 2 s unless lazy, then
 * detach it. Returns 0 when it is no longer mounted there (or never was),
 * else -errno. Async-signal-safe. */
int bench_umount(const char *path, bool lazy);

/* Enter a private mount namespace (root only): mounts made afterwards
 * vanish with the process even if it is killed. true on success. */
bool bench_private_mount_ns(void);

/* "rw,relatime (ext4 on /dev/loop0)" for the mount at `mnt`, from
 * /proc/self/mounts; empty when not found. */
void bench_mount_options(const char *mnt, char *out, size_t n);

/* File system type under `path`: "ext4", "xfs", "btrfs", "tmpfs", "other"
 * or "?". */
const char *bench_host_fs(const char *path);

#endif
