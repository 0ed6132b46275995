#include "agent/vsock.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "util/cleanup.h"
#include "util/vsock_ports.h"

int agent_vsock_connect(unsigned port, int *out)
{
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Without a timeout a host that never answers would stall PID 1. */
	struct timeval tv = { .tv_sec = AGENT_VSOCK_CONNECT_TIMEOUT_S };
	(void)setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = LCVM_HOST_CID, .svm_port = port };
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	*out = take_fd(&fd);
	return 0;
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
