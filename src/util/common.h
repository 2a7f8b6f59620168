/*
 * common.h - small helpers shared by every layer: little-endian field access,
 * alignment, error reporting for corruption, and compiler hints.
 *
 * Conventions (see docs/DESIGN.md): internal functions return 0 or a count on
 * success and a negative errno on failure. Corruption of on-disk structures is
 * -EUCLEAN, distinct from -EIO, and is reported through ANK_CORRUPT() which
 * records the source file and line of the check that failed.
 */
#ifndef ANK_COMMON_H
#define ANK_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ANK_BLOCK_SIZE 4096u
#define ANK_BLOCK_SHIFT 12

#define ANK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ANK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ANK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ANK_DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ANK_ALIGN_UP(n, a) (((n) + (a) - 1) & ~((__typeof__(n))(a) - 1))
#define ANK_UNUSED __attribute__((unused))
#define ANK_LIKELY(x) __builtin_expect(!!(x), 1)
#define ANK_UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

/* The host must be little-endian: the formats are little-endian and fields are
 * accessed in place. A big-endian port would add byte swaps here. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "ananke formats are little-endian; add byte swapping to port");

/*
 * Report a corruption found by a check on untrusted on-disk data. Returns
 * -EUCLEAN so it can be used as `return ANK_CORRUPT("what")`. The message goes
 * to the corruption log (stderr unless silenced by ank_corrupt_quiet).
 */
int ank_corrupt_report(const char *file, int line, const char *what);
#define ANK_CORRUPT(what) ank_corrupt_report(__FILE__, __LINE__, (what))

/* When nonzero, corruption reports are counted but not printed (tests that
 * corrupt images on purpose set it). */
extern int ank_corrupt_quiet;
/* Number of corruption reports since start (for tests). */
extern unsigned long ank_corrupt_count;

/* Allocate `n` bytes aligned to the block size (for O_DIRECT buffers).
 * Returns NULL on failure. Free with free(). */
void *ank_aligned_alloc(size_t n);

/* Current wall-clock time (CLOCK_REALTIME) split into seconds and nanoseconds. */
void ank_now(int64_t *sec, uint32_t *nsec);

/* Monotonic time in nanoseconds. */
uint64_t ank_mono_ns(void);

#endif
