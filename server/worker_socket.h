/* worker_socket — the unix socket in the state folder through which workers
 * reach the shared objects (SPAWND_SOCKET; the C API of include/spawnd_target.h
 * connects there first, see targets/worker_http.c).
 *
 * Why a unix socket beside the TCP listener: a worker's calls never cross the
 * TCP stack, its connections take none of the TCP listener's per-address
 * slots, and the socket speaks plain HTTP even when the listener speaks TLS
 * (a worker forked from the small fork server has no TLS library). Nothing of
 * it runs on the start path: the path is one more environment entry, and a
 * worker connects only on its first call.
 *
 * Ownership: worker_socket_open() returns a listening fd the caller hands to
 * http_start_local(); worker_socket_close() unlinks the file at shutdown.
 */
#ifndef SPAWND_WORKER_SOCKET_H
#define SPAWND_WORKER_SOCKET_H

#include <stddef.h>

/* Binds and listens on STATE_DIR/spawnd.sock (mode 0600; a stale file left by
 * a server that died is replaced, a live server's is not). Returns the fd, or
 * -errno with a message in err (the path too long for a socket address, the
 * socket in use): the caller then runs without it. *path gets the socket's
 * path (static, valid until worker_socket_close()). */
int worker_socket_open(const char *state_dir, const char **path, char *err, size_t errlen);
/* Removes the socket file (after http_stop_local()). */
void worker_socket_close(void);

#endif
