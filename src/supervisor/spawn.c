/*
 * spawn.c - the server process: start it as a fresh exec of this binary
 * (`ananke server --image I --workers N --recovery M`, control socket on
 * fd 3, stats memfd on fd 4, in recovery mode "ananke" the p-logs on fds
 * 5..5+N-1, nothing else inherited; a standby gets `--standby` and the same
 * fds with a control socket of its own), send it control
 * messages, kill it, reap it. A fresh exec, not a fork of the supervisor,
 * so that no state of a previous server or of the supervisor leaks in.
 *
 * What the server answers is handled by supervisor.c, not here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sup_internal.h"

/* How long a new server may take to mount (journal replay) and say READY. */
#define READY_TIMEOUT_NS (30ull * 1000000000ull)

static int pidfd_open_raw(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal_raw(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* In the child between fork and exec: the supervisor is single-threaded,
 * so ordinary calls are safe here, but nothing may return to the caller. */
static void __attribute__((noreturn))
exec_server(struct sup *s, int ctl, pid_t parent, char *const argv[])
{
	/* Own process group: a Ctrl-C on the terminal of a foreground
	 * supervisor must reach only the supervisor, which then stops the
	 * server cleanly. */
	setpgid(0, 0);
	/* A server must never outlive its supervisor: it would keep serving
	 * the image while a new supervisor starts another server on it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);

	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);

	/* Move every fd above the last target first, so that placing one
	 * cannot clobber another, and so that dup2 always creates a new fd
	 * (which drops FD_CLOEXEC; dup2 onto itself would keep it). */
	int base = ANK_SERVER_PLOG_FD0 + (int)s->nplogs;
	int c = fcntl(ctl, F_DUPFD, base);
	int st = fcntl(s->stats_fd, F_DUPFD, base);
	if (c < 0 || st < 0 || dup2(c, ANK_SERVER_CTL_FD) < 0 ||
	    dup2(st, ANK_SERVER_STATS_FD) < 0)
		_exit(127);
	int moved[ANK_STATS_MAX_WORKERS];
	for (unsigned i = 0; i < s->nplogs; i++)
		if ((moved[i] = fcntl(s->plog_fds[i], F_DUPFD, base)) < 0)
			_exit(127);
	for (unsigned i = 0; i < s->nplogs; i++)
		if (dup2(moved[i], ANK_SERVER_PLOG_FD0 + (int)i) < 0)
			_exit(127);
	if (syscall(SYS_close_range, (unsigned)base, ~0u, 0u) < 0) {
		/* Old kernel: close what could be open, slowly. */
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = base; fd < (max > 0 ? max : 65536); fd++)
			close((int)fd);
	}
	execv("/proc/self/exe", argv);
	dprintf(2, "ananke: supervisor: cannot exec the server: %s\n", strerror(errno));
	_exit(127);
}

int sup_server_spawn(struct sup *s)
{
	return sup_proc_spawn(s, &s->srv, false);
}

int sup_proc_spawn(struct sup *s, struct sup_server *v, bool standby)
{
	char workers[16], commit[16], idle[16], at[16], cache[16];
	snprintf(workers, sizeof(workers), "%u", s->cfg.workers);
	snprintf(commit, sizeof(commit), "%u", s->cfg.commit_ms);
	snprintf(idle, sizeof(idle), "%u", s->cfg.idle_checkpoint_ms);
	snprintf(at, sizeof(at), "%u", s->cfg.plog_commit_at);
	snprintf(cache, sizeof(cache), "%uM", s->cfg.cache_mb);
	char *argv[20] = {"ananke", "server", "--image", s->image, "--workers", workers,
			  "--recovery", (char *)s->cfg.recovery, "--commit-ms", commit,
			  "--idle-checkpoint-ms", idle, "--plog-commit-at", at};
	int argc = 14;
	if (s->cfg.cache_mb) { /* else the server's default */
		argv[argc++] = "--cache-size";
		argv[argc++] = cache;
	}
	if (standby)
		argv[argc++] = "--standby";
	argv[argc] = NULL;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t parent = getpid();
	fflush(NULL); /* the child must not write out our stdio buffers again */
	pid_t pid = fork();
	if (pid < 0) {
		int rc = -errno;
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0)
		exec_server(s, sv[1], parent, argv);
	close(sv[1]);
	setpgid(pid, pid); /* also here: whichever side runs first wins the race */

	int pidfd = pidfd_open_raw(pid);
	if (pidfd < 0) {
		int rc = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return rc;
	}
	int rc = sup_epoll_add(s, sv[0], EPOLLIN | EPOLLRDHUP, &v->ctl_obj);
	if (rc == 0)
		rc = sup_epoll_add(s, pidfd, EPOLLIN, &v->pid_obj);
	if (rc < 0) {
		sup_epoll_del(s, sv[0]);
		pidfd_signal_raw(pidfd, SIGKILL);
		waitpid(pid, NULL, 0);
		close(pidfd);
		close(sv[0]);
		return rc;
	}
	v->pid = pid;
	v->pidfd = pidfd;
	v->ctl = sv[0];
	v->ctl_want_out = false;
	v->state = SRV_STARTING;
	v->start_ns = sup_now_ns();
	v->ready_ns = 0;
	v->ready_deadline_ns = v->start_ns + READY_TIMEOUT_NS;
	v->hup_deadline_ns = 0;
	v->killed = false;
	v->kill_reason[0] = '\0';
	v->got_stopped = false;
	v->stopped_status = 0;
	v->shutdown_pending = false;
	v->standby = standby;
	v->took_over = false;
	v->hang = false;
	v->hang_outside = false;
	v->got_report = false;
	v->kill_ns = 0;
	if (standby)
		sup_log("started standby server pid %d (%u workers, recovery %s)", (int)pid,
			s->cfg.workers, s->cfg.recovery);
	else
		sup_log("started server pid %d (epoch %u, %u workers, recovery %s)", (int)pid,
			s->epoch, s->cfg.workers, s->cfg.recovery);
	return 0;
}

bool sup_process_stopped(pid_t pid)
{
	if (pid <= 0)
		return false;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "pid (comm) S ...": comm may hold anything, the state follows the
	 * last ')' */
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

void sup_server_kill(struct sup *s, const char *reason)
{
	sup_proc_kill(s, &s->srv, reason);
}

void sup_proc_kill(struct sup *s, struct sup_server *v, const char *reason)
{
	if (v->pidfd < 0)
		return;
	if (!v->killed) {
		snprintf(v->kill_reason, sizeof(v->kill_reason), "%s", reason);
		v->kill_ns = sup_now_ns();
	}
	v->killed = true;
	sup_log("killing %sserver pid %d: %s", v->standby && !v->took_over ? "standby " : "",
		(int)v->pid, reason);
	/* Through the pidfd: the pid cannot have been reused, since it is our
	 * unreaped child, but the pidfd makes that true by construction. */
	if (pidfd_signal_raw(v->pidfd, SIGKILL) < 0 && errno != ESRCH)
		kill(v->pid, SIGKILL);
	/* Nothing it says from now on matters. */
	if (v->ctl >= 0) {
		sup_epoll_del(s, v->ctl);
		close(v->ctl);
		v->ctl = -1;
	}
}

int sup_server_reap(struct sup *s, char *desc, size_t desc_len)
{
	return sup_proc_reap(s, &s->srv, desc, desc_len);
}

int sup_proc_reap(struct sup *s, struct sup_server *v, char *desc, size_t desc_len)
{
	int st = 0;
	pid_t r;
	do
		r = waitpid(v->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		snprintf(desc, desc_len, "unknown status (%s)", strerror(errno));
	else if (WIFSIGNALED(st))
		snprintf(desc, desc_len, "signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
			 WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(desc, desc_len, "exit %d", WEXITSTATUS(st));
	if (v->ctl >= 0) {
		sup_epoll_del(s, v->ctl);
		close(v->ctl);
	}
	sup_epoll_del(s, v->pidfd);
	close(v->pidfd);
	v->ctl = -1;
	v->pidfd = -1;
	v->ctl_want_out = false;
	return r < 0 ? -1 : st;
}

int sup_server_send(struct sup *s, uint32_t type, uint64_t client_id, const struct sup_conn *c,
		    int fd)
{
	return sup_proc_send(&s->srv, type, client_id, c, fd);
}

int sup_proc_send(struct sup_server *v, uint32_t type, uint64_t client_id,
		  const struct sup_conn *c, int fd)
{
	if (v->ctl < 0)
		return -EPIPE;
	struct ank_ctl_msg m = {.magic = ANK_CTL_MAGIC, .type = type, .client_id = client_id};
	if (c) {
		m.uid = c->uid;
		m.gid = c->gid;
		m.pid = c->pid;
	}
	return sup_send_fd(v->ctl, &m, sizeof(m), fd);
}
