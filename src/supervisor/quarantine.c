/*
 * quarantine.c - a request that crashes every server that runs it (a
 * deterministic bug, hit again when recovery runs it again) must not take
 * the service down in a loop. At each server death the supervisor notes the
 * requests the server had claimed (ring slots in SERVER state: running
 * inside it). A request found claimed at SUP_QUARANTINE_DEATHS deaths that
 * the server caused itself (a fatal signal other than an outside SIGKILL, a
 * non-zero exit, or the watchdog's kill for a hang), with the same client,
 * slot and request number, is answered -EIO by the supervisor before the
 * next server starts: it alone fails, and the service goes on for everyone
 * else. A SIGKILL from outside neither counts nor forgets a suspect.
 *
 * The supervisor writes the slot only as a server would (result, then DONE
 * with release order, then a futex wake when the client sleeps); the ring
 * is shared with an untrusted client, so nothing read from it is trusted
 * beyond its bounds (the slot index is the loop's own).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "../ipc/barrier.h"
#include "sup_internal.h"

static struct sup_suspect *suspect_find(struct sup *s, uint64_t client, unsigned slot,
					uint64_t seq)
{
	for (unsigned k = 0; k < s->nsuspects; k++) {
		struct sup_suspect *x = &s->suspects[k];
		if (x->client_id == client && x->slot == slot && x->seq == seq)
			return x;
	}
	return NULL;
}

static void answer_eio(struct sup *s, struct sup_conn *c, unsigned i, const struct sup_suspect *x)
{
	struct ank_ring_slot *sl = ank_ring_slot((void *)c->hdr, i);
	if (!ank_cas(&sl->state, ANK_SLOT_SERVER, ANK_SLOT_SERVER))
		return; /* the client retracted it meanwhile (hostile only) */
	sl->result = -EIO;
	uint8_t out[sizeof(sl->out)];
	memcpy(out, sl->out, sizeof(out));
	sl->result_sum = ank_result_sum(-EIO, out, sl->reply_sum);
	ank_store_release(&sl->state, ANK_SLOT_DONE);
	ank_full_barrier();
	if (ank_load_acquire(&sl->waiting))
		ank_futex_wake(&sl->state);
	s->quarantined++;
	s->last_quarantine = *x;
	sup_log("quarantined a request that crashed %u servers: client %" PRIu64 " (pid %u), "
		"slot %u, request %" PRIu64 ", opcode %" PRIu32 "; it fails with EIO, the "
		"service goes on",
		x->deaths, c->id, c->pid, i, x->seq, x->opcode);
}

void sup_quarantine_on_death(struct sup *s, bool self_inflicted)
{
	struct sup_suspect next[SUP_MAX_SUSPECTS];
	unsigned n = 0;
	for (struct sup_conn *c = s->conns; c; c = c->next) {
		if (!c->hdr)
			continue;
		for (unsigned i = 0; i < ANK_RING_NSLOTS; i++) {
			const struct ank_ring_slot *sl = ank_ring_slot((void *)c->hdr, i);
			if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != ANK_SLOT_SERVER)
				continue;
			uint64_t seq = __atomic_load_n(&sl->seq, __ATOMIC_RELAXED);
			uint32_t opcode = __atomic_load_n(&sl->opcode, __ATOMIC_RELAXED);
			const struct sup_suspect *old = suspect_find(s, c->id, i, seq);
			struct sup_suspect x = {.client_id = c->id, .slot = i, .seq = seq,
						.opcode = opcode,
						.deaths = (old ? old->deaths : 0) + (self_inflicted ? 1 : 0)};
			if (x.deaths == 0)
				continue;
			if (x.deaths >= SUP_QUARANTINE_DEATHS) {
				answer_eio(s, c, i, &x);
				continue;
			}
			if (n < SUP_MAX_SUSPECTS)
				next[n++] = x;
		}
	}
	memcpy(s->suspects, next, n * sizeof(next[0]));
	s->nsuspects = n;
}
