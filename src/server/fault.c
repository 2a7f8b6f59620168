/*
 * fault.c - fault points for crash tests (src/ipc/control.h):
 *   ANANKE_FAULT=<point>[:<n>]   fire at the n-th pass of <point> (default 1),
 *                                at most once per server process
 *   ANANKE_FAULT_ONCE=<path>     optional: fire only if <path> can be created
 *                                (O_CREAT|O_EXCL), so that of all the servers
 *                                a supervisor starts with the same
 *                                environment only the first one that reaches
 *                                the point fires (later ones find the file
 *                                and run unarmed)
 *
 * Parsed once at start-up (server_fault_init); the check at a point is one
 * compare of a static enum (server_fault() in server.h). Firing is abort(),
 * except for `hang`: the calling worker blocks forever while it holds the
 * request, and the heartbeat stops (worker.c) so a watchdog sees it.
 *
 * Where each point fires (what a death there leaves behind):
 *   plog_after_op      inside plog_append of a served request (through
 *                      plog_fault_hook): right after the primary copy of the
 *                      operation part got its checksum, before any byte of
 *                      the descriptor (the commit point) is written. The
 *                      entry does not exist for a reader; the slot is SERVER.
 *   plog_after_desc    right after plog_append returned for a served request
 *                      (both copies of operation and descriptor written, ipc
 *                      index = the slot), before the slot is published DONE.
 *   after_done         after the slot was published DONE (and the client
 *                      woken), before plog_clear_ipc of its entry.
 *   recovery_after_journal  at a takeover with live p-log entries: after the
 *                      mount replayed the journal and the p-logs were
 *                      verified and merged, before AIM replay changes
 *                      anything. In modes none and sync: after the mount of
 *                      a standby that got TAKEOVER.
 *   recovery_mid_journal  during the journal replay of a mount: the replayed
 *                      images are written home, the log header not yet
 *                      moved past them (only when there was something to
 *                      replay).
 *   recovery_mid_aim   during AIM replay, once half of the entries to Act on
 *                      were replayed (commits are held: none of it durable).
 *   recovery_resume    at the ATTACH of a client rebuilt by a takeover, after
 *                      its in-flight requests were settled (answers
 *                      published, the rest given back to run), before the
 *                      supervisor hears ATTACHED.
 *   hang               at the start of running a request (any opcode).
 *   stop_unmount       at a clean stop (SHUTDOWN), once the workers are
 *                      gone, before the unmount syncs anything: what was
 *                      not durable is only in the p-logs and the journal.
 *   stop_exit          at a clean stop, after the unmount succeeded and
 *                      STOPPED said so, before the process exits (a stray
 *                      write that strikes on the way out).
 *   recovery_slow_hold at a takeover with live p-log entries, right after
 *                      the replay started holding commits: the server
 *                      sleeps 50 ms (no abort) and goes on, so that the
 *                      background commit thread surely runs meanwhile.
 *   plog_damage        where plog_after_desc is: the entry's operation part
 *                      is damaged in both copies (plog_damage_entry), as a
 *                      stray write could, and the server goes on (no abort):
 *                      a later crash's recovery must not use the entry, and
 *                      must say which file lost data.
 *
 *   reply_damage       when a READ or PREAD answers bytes, after they
 *                      were copied from the cache into the ring and before
 *                      the answer's checksum is set: one byte of the
 *                      answer in the ring is flipped, as a stray write
 *                      could, and the
 *                      server goes on (no abort). Passes are counted for
 *                      answers of at least one byte.
 *   log_delay          when a WRITE or PWRITE ran (fs lock released) and
 *                      before its p-log entry is appended: the worker
 *                      sleeps 150 ms (no abort) and goes on, so that a
 *                      commit surely comes in between. Passes are counted
 *                      for WRITE and PWRITE in recovery mode "ananke".
 *
 *   result_damage      when a PREAD answers at least one byte, after the
 *                      answer's checksum (result_sum) was taken: one bit
 *                      of the result in the ring is flipped, as a stray
 *                      write could, and the server goes on (no abort).
 *                      Passes are counted for such answers only.
 *   write_damage       when a WRITE or PWRITE of at least one byte passed
 *                      its data checksum, before it runs: one byte of its
 *                      data in the ring is flipped, as a stray write could,
 *                      and the server goes on (the copy's check must stop
 *                      it). Passes are counted for such requests.
 *   fd_state_damage    when a logged call on an fd has recorded the fd's
 *                      newest entry in the server's fd table: one bit of
 *                      that entry's id is flipped, as a stray write could,
 *                      and the server goes on (no abort): the table's check
 *                      must stop it at the fd's next use. Passes are counted
 *                      for such calls.
 *   recovery_early_commit  at a takeover with live p-log entries, after
 *                      the replay released commits and before the commit
 *                      hook is installed: the server syncs (no abort), as
 *                      the background commit thread could there.
 *   ring_id_damage     when a request was logged, before it is answered:
 *                      one bit of its ring's client id is flipped, as a
 *                      stray write could, and the server goes on (no
 *                      abort): the ring's check must stop it before the
 *                      ring's next request is served.
 *   durable_damage     when the core reports a durable tid to the p-logs
 *                      (the commit hook, also run once at start): the tid
 *                      is raised by 2^20, as a stray write could, and the
 *                      server goes on (no abort): the hook's check against
 *                      the journal must stop it.
 *   entry_damage       when a served call's p-log entry is built, before
 *                      it is checked and appended: its transaction id is
 *                      lowered by one, as a stray write could (an id that
 *                      may read as durable), and the server goes on (no
 *                      abort): the check before the append must stop it.
 *                      Passes are counted for logged calls.
 *   recovery_sigstop   where recovery_slow_hold is: the server stops itself
 *                      (SIGSTOP), as a debugger or an operator's kill -STOP
 *                      could stop it, and goes on if it is continued: the
 *                      supervisor must replace it well before the 30 s a
 *                      server has to become READY.
 *   replay_damage      at a takeover with live p-log entries, before the
 *                      replay acts on them: the durable tid it decides by
 *                      is raised by 2^20, as a stray write into its frame
 *                      could, and the server goes on (no abort): the
 *                      check of the replay's facts, before any of it can
 *                      become durable, must stop it.
 *   recovery_slow_abort  where recovery_after_journal is (a takeover with
 *                      live p-log entries, before the replay): the server
 *                      sleeps 1.2 s, so that the background commit thread
 *                      surely runs meanwhile (with --commit-ms below
 *                      that), then aborts.
 *
 *   ANANKE_FAULT_POISON=<path>  a deterministic bug: every server aborts when
 *                      it starts to run a client request whose first path is
 *                      <path> (recovery's replay is not affected), so the
 *                      request crashes each server that runs it again.
 *
 * Passes of the three p-log points are counted for logged requests only (in
 * recovery mode "ananke"), not for the entries recovery itself appends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

enum server_fault server_fault_point;
const char *server_fault_poison;
static unsigned long fault_at = 1;
static unsigned long fault_passes;
static const char *fault_once;

static const char *const fault_names[] = {
	[SERVER_FAULT_NONE] = NULL,
	[SERVER_FAULT_PLOG_AFTER_OP] = "plog_after_op",
	[SERVER_FAULT_PLOG_AFTER_DESC] = "plog_after_desc",
	[SERVER_FAULT_AFTER_DONE] = "after_done",
	[SERVER_FAULT_RECOVERY_AFTER_JOURNAL] = "recovery_after_journal",
	[SERVER_FAULT_RECOVERY_MID_AIM] = "recovery_mid_aim",
	[SERVER_FAULT_HANG] = "hang",
	[SERVER_FAULT_PLOG_DAMAGE] = "plog_damage",
	[SERVER_FAULT_RECOVERY_MID_JOURNAL] = "recovery_mid_journal",
	[SERVER_FAULT_RECOVERY_RESUME] = "recovery_resume",
	[SERVER_FAULT_RECOVERY_SLOW_HOLD] = "recovery_slow_hold",
	[SERVER_FAULT_STOP_UNMOUNT] = "stop_unmount",
	[SERVER_FAULT_REPLY_DAMAGE] = "reply_damage",
	[SERVER_FAULT_LOG_DELAY] = "log_delay",
	[SERVER_FAULT_RECOVERY_SLOW_ABORT] = "recovery_slow_abort",
	[SERVER_FAULT_RESULT_DAMAGE] = "result_damage",
	[SERVER_FAULT_WRITE_DAMAGE] = "write_damage",
	[SERVER_FAULT_STOP_EXIT] = "stop_exit",
	[SERVER_FAULT_FD_STATE_DAMAGE] = "fd_state_damage",
	[SERVER_FAULT_RECOVERY_EARLY_COMMIT] = "recovery_early_commit",
	[SERVER_FAULT_RING_ID_DAMAGE] = "ring_id_damage",
	[SERVER_FAULT_DURABLE_DAMAGE] = "durable_damage",
	[SERVER_FAULT_ENTRY_DAMAGE] = "entry_damage",
	[SERVER_FAULT_REPLAY_DAMAGE] = "replay_damage",
	[SERVER_FAULT_RECOVERY_SIGSTOP] = "recovery_sigstop",
};

void server_fault_init(void)
{
	const char *poison = getenv("ANANKE_FAULT_POISON");
	if (poison && *poison) {
		server_fault_poison = poison;
		fprintf(stderr, "ananke: server: a request on %s aborts the server, every time\n",
			poison);
	}
	const char *s = getenv("ANANKE_FAULT");
	if (!s || !*s)
		return;
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	enum server_fault p = SERVER_FAULT_NONE;
	for (unsigned k = 1; k < sizeof(fault_names) / sizeof(fault_names[0]); k++)
		if (strlen(fault_names[k]) == len && !strncmp(s, fault_names[k], len))
			p = (enum server_fault)k;
	if (colon) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || n == 0)
			p = SERVER_FAULT_NONE;
		else
			fault_at = n;
	}
	if (p == SERVER_FAULT_NONE) {
		fprintf(stderr, "ananke: server: ANANKE_FAULT='%s' not understood (ignored)\n", s);
		return;
	}
	const char *once = getenv("ANANKE_FAULT_ONCE");
	if (once && *once) {
		if (access(once, F_OK) == 0)
			return; /* an earlier server fired it */
		fault_once = once;
	}
	server_fault_point = p;
	fprintf(stderr, "ananke: server: fault point %s armed (pass %lu)\n", fault_names[p],
		fault_at);
}

bool server_fault_due(enum server_fault p)
{
	if (__atomic_load_n(&server_fault_point, __ATOMIC_RELAXED) != p)
		return false;
	/* Points may be passed by several workers at once. */
	unsigned long n = __atomic_add_fetch(&fault_passes, 1, __ATOMIC_RELAXED);
	if (n != fault_at)
		return false;
	__atomic_store_n(&server_fault_point, SERVER_FAULT_NONE, __ATOMIC_RELAXED);
	if (fault_once) {
		int fd = open(fault_once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return false;
		close(fd);
	}
	fprintf(stderr, "ananke: server: fault point %s fired\n", fault_names[p]);
	return true;
}

void server_fault_pass(enum server_fault p)
{
	if (!server_fault_due(p))
		return;
	if (p == SERVER_FAULT_HANG) {
		for (;;)
			pause();
	}
	if (p == SERVER_FAULT_RECOVERY_SIGSTOP) {
		raise(SIGSTOP);
		return;
	}
	if (p == SERVER_FAULT_RECOVERY_SLOW_HOLD || p == SERVER_FAULT_LOG_DELAY) {
		struct timespec ts = {0, (p == SERVER_FAULT_LOG_DELAY ? 150 : 50) * 1000 * 1000};
		nanosleep(&ts, NULL);
		return;
	}
	if (p == SERVER_FAULT_RECOVERY_SLOW_ABORT) {
		struct timespec ts = {1, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	abort();
}
