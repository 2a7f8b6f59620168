/*
 * worker.c - the worker threads: each polls its own set of rings for
 * SUBMITTED slots and runs them (dispatch.c); when there is nothing to do it
 * spins briefly, then sleeps on every ring's doorbell at once.
 *
 * Waiting protocol (pairs with the client side described in ring.h):
 *   worker: read each ring's sq_seq; set server_sleeping = 1 in each header;
 *           full barrier; scan every slot once more; if nothing, futex_waitv
 *           on all the sq_seq words (expected: the values read first) plus
 *           this worker's `gen` word; then clear server_sleeping.
 *   client: publish SUBMITTED; bump sq_seq; full barrier; if
 *           server_sleeping, futex-wake sq_seq.
 * Either the worker's re-scan sees the request, or the client sees the flag
 * and wakes it, or the bumped sq_seq makes futex_waitv return at once. The
 * sleep has a timeout, so the heartbeat keeps beating while idle.
 *
 * Ring set changes are published by the control thread under w->lock with a
 * bump of w->gen (also a futex word, so a sleeping worker wakes). The worker
 * polls gen between rings and copies the set when it moved; the copy is its
 * acknowledgement that it no longer uses rings that were removed.
 *
 * It does not decode requests (dispatch.c) nor attach rings (server.c).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../ipc/barrier.h"
#include "../util/common.h"
#include "server.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

/* Set once when the kernel has no futex_waitv (before 5.16): workers then
 * sleep on their gen word only, with a short timeout (polling). */
static int worker_no_waitv;
#define WORKER_POLL_NS 1000000ull

/* Take the set the control thread published; returns true when asked to
 * stop. The copy and the ack happen under the lock, so once ack_gen covers a
 * removal no pointer to the removed ring is left in `active`. */
static bool worker_sync(struct server_worker *w)
{
	pthread_mutex_lock(&w->lock);
	memcpy(w->active, w->want, w->nwant * sizeof(w->want[0]));
	w->nactive = w->nwant;
	w->active_gen = ank_load_relaxed(&w->gen); /* only changes under lock */
	w->ack_gen = w->active_gen;
	bool stop = w->stop;
	pthread_cond_broadcast(&w->acked);
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static bool worker_set_changed(struct server_worker *w)
{
	return ank_load_acquire(&w->gen) != w->active_gen;
}

/* Watchdog liveness: bump this worker's heartbeat (and the shared one
 * shown by status), at most every SERVER_BEAT_NS. A worker beats as it
 * loops, idle or not, and never inside a request, so the supervisor's
 * watchdog sees a worker stuck in one request, or not looping at all,
 * while its rings have requests pending, whatever the other workers do.
 * A standby's workers never beat: the page is the serving server's. */
static void worker_beat(struct server_worker *w, uint64_t now)
{
	if (now - w->last_beat_ns < SERVER_BEAT_NS)
		return;
	w->last_beat_ns = now;
	struct server *srv = w->srv;
	if (!ank_load_acquire(&srv->serving))
		return;
	__atomic_fetch_add(&srv->stats->beat[w->index], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&srv->stats->heartbeat, 1, __ATOMIC_RELAXED);
}

/* One pass over every slot of every ring: run what is SUBMITTED. Returns
 * the number of requests run. Stops early when the ring set changed so a
 * detach waits for at most one ring's worth of requests. */
static unsigned worker_scan(struct server_worker *w)
{
	unsigned n = 0;
	for (unsigned k = 0; k < w->nactive; k++) {
		struct server_ring *r = w->active[k];
		for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
			struct ank_ring_slot *slot = ank_ring_slot(r->map, i);
			if (ank_load_acquire(&slot->state) != ANK_SLOT_SUBMITTED)
				continue;
			/* The CAS makes this worker the slot's owner; it fails
			 * only if a (hostile) client changed the state. */
			if (!ank_cas(&slot->state, ANK_SLOT_SUBMITTED, ANK_SLOT_SERVER))
				continue;
			dispatch_request(w, r, i);
			n++;
		}
		if (n && worker_set_changed(w))
			break;
	}
	return n;
}

static void worker_set_sleeping(struct server_worker *w, uint32_t v)
{
	for (unsigned k = 0; k < w->nactive; k++)
		ank_store_release(&w->active[k]->hdr->server_sleeping, v);
}

/* Sleep until a doorbell rings, the set changes, or the timeout. Returns
 * true when the sleep ended by timeout (nothing happened). */
static bool worker_sleep(struct server_worker *w)
{
	struct futex_waitv wv[SERVER_MAX_RINGS + 1];
	bool timed_out = false;
	uint32_t gen = ank_load_acquire(&w->gen);
	if (gen != w->active_gen)
		return false;

	for (unsigned k = 0; k < w->nactive; k++) {
		struct server_ring *r = w->active[k];
		r->sleep_seq = ank_load_acquire(&r->hdr->sq_seq);
	}
	worker_set_sleeping(w, 1);
	/* Order the flag stores before the re-scan's loads; pairs with the
	 * client's barrier between its sq_seq bump and its flag load. */
	ank_full_barrier();
	if (worker_scan(w) > 0)
		goto out;

	if (__atomic_load_n(&worker_no_waitv, __ATOMIC_RELAXED)) {
		ank_futex_wait(&w->gen, gen, WORKER_POLL_NS);
		goto out;
	}

	unsigned n = 0;
	for (unsigned k = 0; k < w->nactive; k++) {
		struct server_ring *r = w->active[k];
		wv[n++] = (struct futex_waitv){
			.val = r->sleep_seq,
			.uaddr = (uint64_t)(uintptr_t)&r->hdr->sq_seq,
			.flags = FUTEX_32, /* shared: the words live in memfds */
		};
	}
	wv[n++] = (struct futex_waitv){
		.val = gen,
		.uaddr = (uint64_t)(uintptr_t)&w->gen,
		.flags = FUTEX_32,
	};
	/* futex_waitv takes an absolute timeout on the given clock. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t deadline = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
			    SERVER_SLEEP_NS;
	ts.tv_sec = (time_t)(deadline / 1000000000ull);
	ts.tv_nsec = (long)(deadline % 1000000000ull);
	long rc = syscall(SYS_futex_waitv, wv, n, 0, &ts, CLOCK_MONOTONIC);
	if (rc < 0 && errno == ETIMEDOUT) {
		timed_out = true;
	} else if (rc < 0 && errno == ENOSYS) {
		__atomic_store_n(&worker_no_waitv, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "ananke: server: futex_waitv unavailable (Linux < 5.16); "
				"idle workers poll every %llu ms\n",
			WORKER_POLL_NS / 1000000ull);
	}
	/* EAGAIN (a word already moved), EINTR, or a wake: look again. */
out:
	worker_set_sleeping(w, 0);
	return timed_out;
}

static void *worker_main(void *arg)
{
	struct server_worker *w = arg;
	uint64_t idle_since = 0;
	char name[16];
	snprintf(name, sizeof(name), "ank-worker-%u", w->index);
	pthread_setname_np(pthread_self(), name);

	for (;;) {
		if (worker_set_changed(w)) {
			if (worker_sync(w))
				break;
			idle_since = 0;
		}
		uint64_t now = ank_mono_ns();
		worker_beat(w, now);
		if (worker_scan(w) > 0) {
			idle_since = 0;
			continue;
		}
		if (idle_since == 0) {
			idle_since = now;
			continue;
		}
		if (now - idle_since < SERVER_SPIN_NS) {
			ank_cpu_relax();
			continue;
		}
		/* After a timeout nothing is going on: skip the spin and go
		 * straight back to sleep; after a wake-up, spin again. */
		if (!worker_sleep(w))
			idle_since = 0;
	}
	return NULL;
}

int worker_init(struct server *srv, struct server_worker *w, unsigned index)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->dirents = calloc(SERVER_READDIR_MAX, sizeof(*w->dirents));
	if (!w->dirents)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->acked, NULL);
	w->srv = srv; /* marks the struct as initialised for worker_destroy */
	return 0;
}

void worker_destroy(struct server_worker *w)
{
	if (!w->srv)
		return;
	pthread_cond_destroy(&w->acked);
	pthread_mutex_destroy(&w->lock);
	free(w->dirents);
	w->dirents = NULL;
	w->srv = NULL;
}

int worker_start(struct server_worker *w)
{
	/* The stop signals go to the control thread, which waits for them in
	 * ppoll; faults (SIGSEGV, SIGBUS) stay unblocked so they are reported
	 * as usual. */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

/* Publish a change made under w->lock: bump gen and wake the worker.
 * Returns the new generation. Called with w->lock held. */
static uint32_t worker_publish_locked(struct server_worker *w)
{
	return ank_fetch_add(&w->gen, 1) + 1;
}

void worker_stop(struct server_worker *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	worker_publish_locked(w);
	pthread_mutex_unlock(&w->lock);
	ank_futex_wake(&w->gen);
	pthread_join(w->thread, NULL);
	w->started = false;
}

int worker_add_ring(struct server_worker *w, struct server_ring *r)
{
	pthread_mutex_lock(&w->lock);
	if (w->nwant >= SERVER_MAX_RINGS) {
		pthread_mutex_unlock(&w->lock);
		return -EUSERS;
	}
	w->want[w->nwant++] = r;
	worker_publish_locked(w);
	pthread_mutex_unlock(&w->lock);
	ank_futex_wake(&w->gen);
	return 0;
}

void worker_remove_ring(struct server_worker *w, struct server_ring *r)
{
	pthread_mutex_lock(&w->lock);
	unsigned k;
	for (k = 0; k < w->nwant; k++)
		if (w->want[k] == r)
			break;
	if (k == w->nwant) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	w->want[k] = w->want[--w->nwant];
	uint32_t target = worker_publish_locked(w);
	pthread_mutex_unlock(&w->lock);
	ank_futex_wake(&w->gen);

	/* Wait for the worker to take a set without the ring. It finishes at
	 * most the request it is running and the rest of that ring's slots. */
	pthread_mutex_lock(&w->lock);
	while (w->started && (int32_t)(w->ack_gen - target) < 0)
		pthread_cond_wait(&w->acked, &w->lock);
	pthread_mutex_unlock(&w->lock);
}
