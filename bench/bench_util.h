/*
 * bench_util.h - helpers shared by the benchmark programs in bench/: timing,
 * option parsing, statistics, running external commands, mount handling
 * (loop-mounted ext4 images, tmpfs) with async-signal-safe cleanup, and the
 * Ananke service as a child process (`ananke serve`, its status as JSON).
 *
 * This file is not a program: the Makefile links bench_util.o into every
 * bench/<name>.c program instead of building a build/bin/bench_util.
 */
#ifndef ANK_BENCH_UTIL_H
#define ANK_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
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

/* The message of a fatal-signal handler: "PROG: FATAL signal SIGSEGV during:
 * ACTIVITY" (or "interrupted by signal ..."), then "PROG: cleaning up
 * (CLEANUP)". Async-signal-safe. */
void bench_put_fatal(const char *prog, int sig, const char *activity, const char *cleanup);

/* Command line: an argument "--name=value" is split into buf ("--name",
 * returned in *a) and *v (the value), and true is returned; any other
 * argument is left as it is (false). */
bool bench_split_opt(const char **a, const char **v, char *buf, size_t len);

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

/* ---- the Ananke service ------------------------------------------------------ */

/* One `ananke serve IMAGE --socket S --foreground ...` child of this process
 * and its files. The caller fills prog, ananke and the three paths; pid is
 * set by bench_svc_spawn and cleared when the child has been reaped (signal
 * handlers read it). */
struct bench_svc {
	const char *prog;   /* the benchmark's name, for messages */
	const char *ananke; /* the ananke program */
	char image[1100], socket[1100], log[1100];
	volatile sig_atomic_t pid; /* the serve child (the supervisor), 0: none */
};

/* The ananke program next to the running program (build/bin/ananke), else
 * "ananke" (PATH). */
const char *bench_default_ananke(void);

/* A new sparse image of `size` bytes at s->image, formatted with
 * `ananke mkfs IMAGE --size SIZE` (output to the log). 0, or -1 with a
 * message. */
int bench_svc_mkfs(struct bench_svc *s, uint64_t size);

/* Start `ananke serve IMAGE --socket S --foreground` plus args (NULL-
 * terminated; args may be NULL), stdout and stderr appended to the log.
 * 0, or -1 with a message. */
int bench_svc_spawn(struct bench_svc *s, char *const args[]);

/* Wait up to timeout_ms until the service answers STATUS with "state":
 * "running". 0, or -1 with a message (the child exited, or time ran out). */
int bench_svc_wait_running(struct bench_svc *s, unsigned timeout_ms);

/* Reap the serve child if it has exited (then s->pid = 0). true when it has
 * (or there is none); *status gets its wait status when reaped here. */
bool bench_svc_reap(struct bench_svc *s, int *status);

/* Stop the service with `ananke stop` and wait up to 90 s for the child; if
 * it does not exit, SIGTERM, then SIGKILL (to the child only). 0 when it
 * stopped cleanly and exited 0, else -1 with a message. */
int bench_svc_stop(struct bench_svc *s);

/* SIGTERM to the serve child (its supervisor stops its servers), wait up to
 * 5 s, then SIGKILL. Async-signal-safe. */
void bench_svc_kill(struct bench_svc *s);

/* The last n (at most 32) lines of the service log, to stderr. */
void bench_svc_show_log(const struct bench_svc *s, unsigned n);

/* One STATUS reply as JSON (in-process over the control socket, no exec)
 * into buf, NUL-terminated. Its length, or -errno (-ENOENT/-ECONNREFUSED:
 * nothing listens; -ETIMEDOUT: no reply within 10 s). */
int bench_svc_status(const struct bench_svc *s, char *buf, size_t len);

/* ---- reading JSON replies (flat objects and arrays of flat objects) ---------- */

/* The integer after the first "key": in json. true when found. */
bool bench_json_int(const char *json, const char *key, int64_t *out);
/* true or false after the first "key":. */
bool bench_json_bool(const char *json, const char *key, bool *out);
/* The string after the first "key": (escapes kept as they are). */
bool bench_json_str(const char *json, const char *key, char *out, size_t n);
/* Iterate the objects of the array "key": start with *pos = NULL; each call
 * copies the next object (braces included) into out and returns true, or
 * returns false after the last one (or when there is no such array, or an
 * object does not fit in out). */
bool bench_json_next(const char *json, const char *key, const char **pos, char *out, size_t n);

#endif
