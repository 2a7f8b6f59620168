/*
 * barrier.h - every atomic and barrier used on shared memory, named for what
 * it orders, plus the futex helpers behind spin-then-sleep waiting.
 *
 * Rules for shared memory (rings, stats): a writer fills the fields of a
 * record, then publishes it with ank_store_release() on its state word; a
 * reader checks the state word with ank_load_acquire() before reading the
 * fields. Sleep/wake uses process-shared futexes (no FUTEX_PRIVATE_FLAG: the
 * words live in memfd mappings shared by processes).
 */
#ifndef ANK_BARRIER_H
#define ANK_BARRIER_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Publish: every store before it is visible to a thread that sees this
 * store through ank_load_acquire. */
static inline void ank_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Observe a published value: later loads see what was written before the
 * matching release. */
static inline uint32_t ank_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t ank_load_relaxed(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Take ownership of a state word: succeeds when it held `expect`. */
static inline int ank_cas(uint32_t *p, uint32_t expect, uint32_t desired)
{
	return __atomic_compare_exchange_n(p, &expect, desired, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static inline uint32_t ank_fetch_add(uint32_t *p, uint32_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}

/* Full barrier between a store and a later load (the "set waiting flag,
 * then re-check the condition" pattern on both sides of a futex). */
static inline void ank_full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void ank_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Sleep while *addr == val, at most timeout_ns (0: no limit). Returns 0 when
 * woken or the value differed, -ETIMEDOUT, or -EINTR. */
static inline int ank_futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tp = &ts;
	}
	long rc = syscall(SYS_futex, addr, FUTEX_WAIT, val, tp, NULL, 0);
	if (rc == 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

/* Wake every sleeper on addr. */
static inline void ank_futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#endif
