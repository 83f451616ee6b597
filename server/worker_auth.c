/* worker_auth — see worker_auth.h. The scope is written as the few paths a
 * worker may use, so a route added later is closed to workers until it is
 * named here. The token is never put in a reply or a log line.
 */
#define _GNU_SOURCE
#include "server/worker_auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/worker.h"

/* The token of r's Authorization: Bearer header, or NULL. */
static const char *bearer(struct http_req *r)
{
	const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	return h + 7 + strspn(h + 7, " ");
}

bool worker_auth_presented(struct http_req *r)
{
	const char *t = bearer(r);
	return t && worker_token_shaped(t);
}

static bool under(const char *path, const char *folder)
{
	size_t n = strlen(folder);
	return strncmp(path, folder, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Its own record, or its own output, by GET (or HEAD). */
static bool own_record(struct http_req *r, const char *id)
{
	char own[CALLER_ID_MAX + 32];
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return false;
	snprintf(own, sizeof own, "/processes/%s", id);
	size_t n = strlen(own);
	return strncmp(r->path, own, n) == 0 && (r->path[n] == '\0' || strcmp(r->path + n, "/output") == 0);
}

enum MHD_Result worker_auth_check(struct http_req *r, bool is_public)
{
	char id[WORKER_ID_MAX];
	if (is_public)
		return MHD_YES;         /* /healthz needs no token, so a stale one does not matter */
	if (!worker_token_find(bearer(r), id)) {
		http_set_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"spawnd\", error=\"invalid_token\"");
		return http_reply_error(r, 401, "unauthorized", NULL,
					"this worker token is not valid (its process has ended)");
	}
	if (strcmp(r->method, "OPTIONS") == 0 || under(r->path, "/sync") ||
	    under(r->path, "/queues") || under(r->path, "/namespaces") || own_record(r, id))
		return MHD_YES;
	return http_reply_error(r, 403, "forbidden", NULL,
				"a worker token may use the shared objects and read its own record only");
}

void worker_auth_caller(struct http_req *r, struct caller *c)
{
	const char *t = bearer(r);
	c->worker = t && worker_token_shaped(t) && worker_token_find(t, c->id);
	if (!c->worker)
		c->id[0] = '\0';
}
