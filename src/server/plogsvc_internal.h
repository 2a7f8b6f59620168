/*
 * plogsvc_internal.h - what the logging side (plogsvc.c) and the takeover's
 * replay (replay.c) of recovery mode "ananke" share. Not used elsewhere.
 */
#ifndef ANK_PLOGSVC_INTERNAL_H
#define ANK_PLOGSVC_INTERNAL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ipc/control.h"
#include "../plog/plog.h"
#include "server.h"

/* The open flags an fd's entries keep (and a rebuilt fd gets back). */
#define FD_FLAGS_KEPT (O_ACCMODE | O_APPEND | O_DIRECTORY | O_NOFOLLOW)

/* The credentials an entry ran with, as one key (uid << 32 | gid). */
uint64_t plogsvc_creds(const struct plog_op *op);
/* The fd offset an entry with an fd target leaves behind. */
uint64_t plogsvc_fd_offset(const struct plog_op *op);
/* The server's mirror of a client's fd entry `fd`, grown as needed (NULL
 * for a negative fd or no memory). */
struct server_fdstate *plogsvc_fdtab_get(struct server_fdstate **fds, size_t *nfds, int fd);
/* Remember that entry `id` of log l keeps its inode bit until tid is
 * durable. 0 or -ENOMEM. */
int plogsvc_pend_add(struct server_plog *l, uint64_t id, uint64_t tid);
/* Append an entry to log li (served: a client's request, room was made
 * for it before it ran). 0 with *id, or -errno. */
int plogsvc_append(struct server *srv, unsigned li, const struct plog_op *op,
		   const struct plog_desc *d, const void *data, size_t len, uint64_t tid,
		   uint64_t *id, bool served);
/* Clear status bits of entry id of log li. */
void plogsvc_clear(struct server *srv, unsigned li, uint64_t id, uint32_t mask);
/* Reformat every log and attach it for appending. */
int plogsvc_fresh_logs(struct server *srv);

/* replay.c: rebuild the dead server's state from the merged entries (in
 * global order) and go on with the logs. 0 or -errno. */
int replay_run(struct server *srv, struct plog_entry *ents, size_t count,
	       struct ank_ctl_report *rep);
/* replay.c: free a client's rebuilt state that no ATTACH adopted. */
void replay_recovered_free(struct server_recovered *x);

#endif
