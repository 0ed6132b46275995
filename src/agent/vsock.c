#include "agent/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "util/cleanup.h"
#include "util/vsock_ports.h"

int agent_vsock_connect_start(unsigned port, int *out)
{
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = LCVM_HOST_CID, .svm_port = port };
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	*out = take_fd(&fd);
	return 0;
}

int agent_vsock_connect_finish(int fd)
{
	/* Without a timeout a host that never answers would stall PID 1. */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;
	do
		n = poll(&p, 1, AGENT_VSOCK_CONNECT_TIMEOUT_S * 1000);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int agent_vsock_connect(unsigned port, int *out)
{
	cleanup_close int fd = -1;
	int r = agent_vsock_connect_start(port, &fd);
	if (r == 0)
		r = agent_vsock_connect_finish(fd);
	if (r == 0)
		*out = take_fd(&fd);
	return r;
}

int agent_vsock_listen(unsigned port, int *out)
{
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return -errno;
	*out = take_fd(&fd);
	return 0;
}
