/*
 * ctlsock.c - small helpers around the service's AF_UNIX SOCK_SEQPACKET
 * sockets: addresses, sending a record with an fd attached, probing whether
 * a service listens, and connecting with a hello (used by `ananke status`
 * and `ananke stop`). No policy lives here; the event loop is supervisor.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sup_internal.h"

int sup_sockaddr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	size_t n = strlen(path);
	/* Keep room for the NUL: abstract-style unterminated names are not
	 * what a path on disk means. */
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int sup_send_fd(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EMSGSIZE; /* a record is all or nothing on SEQPACKET */
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static int connect_path(const char *path, int *out)
{
	struct sockaddr_un sa;
	int rc = sup_sockaddr(path, &sa);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

int sup_probe(const char *socket_path)
{
	struct sockaddr_un sa;
	int rc = sup_sockaddr(socket_path, &sa);
	if (rc < 0)
		return rc;
	struct stat st;
	if (lstat(socket_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	int fd;
	rc = connect_path(socket_path, &fd);
	if (rc == 0) {
		/* Something accepted us: a live service. It sees a connection
		 * that closes before its hello and drops it. */
		close(fd);
		return 1;
	}
	/* A socket file nobody listens on is what a killed supervisor leaves. */
	return rc == -ECONNREFUSED ? 0 : rc;
}

int sup_connect(const char *socket_path, uint32_t kind, uint32_t flags)
{
	int fd;
	int rc = connect_path(socket_path, &fd);
	if (rc < 0)
		return rc;
	struct ank_ctl_hello h = {
		.magic = ANK_CTL_MAGIC, .version = ANK_RING_VERSION, .kind = kind, .flags = flags};
	/* The socket is fresh and the hello is tiny: this never blocks long. */
	ssize_t n;
	do
		n = send(fd, &h, sizeof(h), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h)) {
		rc = n < 0 ? -errno : -EIO;
		close(fd);
		return rc;
	}
	return fd;
}
