/* worker_http — the worker side of the shared objects' transport: one HTTP/1.1
 * request at a time to the server that started this worker, with the worker's
 * own token (SPAWND_TOKEN). Used by the C API of include/spawnd_target.h
 * (targets/worker_api.c); runs in workers only, never in the server.
 *
 * Where: SPAWND_SOCKET (the server's unix socket in its state folder,
 * server/worker_socket.h) when the environment has it, else SPAWND_URL
 * (http:// only: a worker has no TLS library).
 *
 * Connections: one per thread, made on the thread's first call and kept
 * (keep-alive), so a worker that never calls costs nothing and one that does
 * pays the connect once. A child forked by the worker does not share its
 * parent's connection: it notices the pid changed and connects anew.
 *
 * Threads: any thread; each has its own connection and buffers.
 */
#ifndef SPAWND_WORKER_HTTP_H
#define SPAWND_WORKER_HTTP_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct worker_reply {
	int status;             /* the HTTP status */
	cJSON *json;            /* the body parsed, NULL when it is not JSON; caller frees */
	char code[48];          /* error.code of an error body, "" otherwise */
};

/* Sends METHOD path (already percent-encoded, with its query) with body
 * (JSON text of len bytes, NULL: none) and reads the whole answer into *out.
 * 0, or -errno when no answer came: -ENOTCONN (neither SPAWND_SOCKET nor an
 * http:// SPAWND_URL), -ECONNREFUSED, -ECONNRESET (the server closed the
 * connection), -EPROTO (an answer that is not HTTP/1.1 with a length), -ENOMEM. */
int worker_http_call(const char *method, const char *path, const char *body, size_t len,
		     struct worker_reply *out);

/* Closes this thread's connection (the next call connects again). */
void worker_http_close(void);

#endif
