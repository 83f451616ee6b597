/* worker_auth — a worker's own token (SPAWND_TOKEN, engine/worker.h) on a
 * request, and who the caller of a request is.
 *
 * A bearer token of a worker's shape ("spw_…") is checked here whether or not
 * the server has a tokens file: a worker's token is how a worker is known as
 * the owner of what it holds. It may reach the shared objects (/sync/…,
 * /queues/…, /namespaces/…) and GET its own record and output, nothing else
 * (403); once its process has ended it is refused (401). QUALITY 26.
 *
 * Threads: any HTTP thread.
 */
#ifndef SPAWND_WORKER_AUTH_H
#define SPAWND_WORKER_AUTH_H

#include <stdbool.h>

#include "server/http.h"

#define CALLER_ID_MAX 32

/* Who sent a request: a worker (by its process id) or an outside client
 * (a tokens-file token, or anyone when there are none). */
struct caller {
	bool worker;
	char id[CALLER_ID_MAX];         /* the worker's process id, "" for a client */
};

/* True when r carries a worker-shaped bearer token (auth_check hands it here). */
bool worker_auth_presented(struct http_req *r);
/* Replies 401 (not a live worker's) or 403 (out of its scope), else does
 * nothing, as auth_check() does. */
enum MHD_Result worker_auth_check(struct http_req *r, bool is_public);
/* r's caller (after admission: a worker token is a live one's). */
void worker_auth_caller(struct http_req *r, struct caller *c);

#endif
