/*
 * differ.h - shared test library: the seeded random differential generator.
 * One call runs a reproducible sequence of POSIX operations side by side on
 * two targets (oracle.h), usually Linux and an Ananke target, and compares
 * every result and, after every namespace change, the whole tree (with file
 * contents every 250 operations and at the end). Differences are printed
 * with the seed, the last operations and how to rerun them.
 *
 * What a sequence covers and leaves out is described in
 * tests/test_differential.c. Used by test_differential.c (in-process core)
 * and test_service.c (through libananke, several processes and threads).
 *
 * Environment read here: ANK_DIFF_KEEP_GOING=1 (errno-only differences are
 * reported and the sequence goes on; it still fails).
 */
#ifndef ANK_TEST_DIFFER_H
#define ANK_TEST_DIFFER_H

#include <stdbool.h>
#include <stdint.h>

#include "oracle.h"

/* Results seen per operation when both sides agreed: n[op][0] successes,
 * n[op][e] errno e. Operations in generator order (differ_print_stats names
 * them). */
#define DIFFER_NOPS 51
#define DIFFER_NERR 160
struct differ_stats {
	unsigned long n[DIFFER_NOPS][DIFFER_NERR];
};

/* Once per process, before the first sequence (differ_run calls it too):
 * builds the long names and probes whether the host's largest file size is
 * ext4's (offsets beyond it are generated only then; prints a note if not).
 * Thread-safe. */
void differ_init(void);
/* Never generate offsets beyond the largest file size (for a target whose
 * kernel knows another limit: a FUSE mount's is the kernel's
 * MAX_LFS_FILESIZE, which lseek(SEEK_END) checks without asking the file
 * system). Call before the sequences. */
void differ_no_big_offsets(void);

/*
 * Run one seeded sequence of `nops` operations on a and b (a's results are
 * the reference). Returns 0 when they agreed throughout (including after the
 * final remount of both), 1 otherwise. `verbose` prints every operation;
 * `stats` (may be NULL) collects per-operation results. Several threads may
 * run sequences at once, each on its own pair of targets; `stats` must then
 * be per thread too.
 *
 * Targets see at most 12 open fds per sequence and files below ~12 MiB; all
 * fds of the sequence are closed when it returns.
 */
int differ_run(struct target *a, struct target *b, uint64_t seed, unsigned nops, bool verbose,
               struct differ_stats *stats);

/* Called (when set) before each operation of a sequence with its number
 * (1-based): a test may crash the system under test there. One per
 * process; set it before differ_run. */
extern void (*differ_before_op)(unsigned opno);

/* Choose a workload mix for the sequences that follow (per process):
 * "mixed" (or NULL: the default frequencies), "metadata", "append_fsync",
 * "large_overwrite", "many_fds", "rename_unlink". 0, or -1 for an unknown
 * name. */
int differ_set_mix(const char *name);
extern const unsigned *differ_weights;

void differ_print_stats(const struct differ_stats *st);

#endif
