/* worker_socket — see worker_socket.h.
 *
 * A file at the path may be a socket left by a server that was killed, or the
 * socket of a server that still runs on the same state folder. connect()
 * tells them apart: refused means nobody listens and the file can go; a
 * connection means it is someone's, and this server goes on without a socket
 * (its workers use SPAWND_URL) rather than steal the other's workers.
 */
#define _GNU_SOURCE
#include "server/worker_socket.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKET_NAME "spawnd.sock"

static char socket_path[sizeof ((struct sockaddr_un *)0)->sun_path];

static bool someone_listens(const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
	if (fd >= 0)
		close(fd);
	return live;
}

int worker_socket_open(const char *state_dir, const char **path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int n = snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", state_dir, SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof a.sun_path) {
		snprintf(err, errlen, "%s/%s: longer than a socket address allows (%zu bytes)", state_dir,
			 SOCKET_NAME, sizeof a.sun_path - 1);
		return -ENAMETOOLONG;
	}
	if (someone_listens(&a)) {
		snprintf(err, errlen, "%s: another server listens there", a.sun_path);
		return -EADDRINUSE;
	}
	unlink(a.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* The state folder is 0700 already; chmod makes the file itself private too. */
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || chmod(a.sun_path, 0600) < 0 ||
	    listen(fd, 1024) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", a.sun_path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	memcpy(socket_path, a.sun_path, sizeof socket_path);
	*path = socket_path;
	return fd;
}

void worker_socket_close(void)
{
	if (socket_path[0])
		unlink(socket_path);
	socket_path[0] = '\0';
}
