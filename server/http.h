/* http — spawnd's HTTP plumbing on libmicrohttpd: the daemon, one request
 * context per connection, body collection with framing limits, the one JSON
 * and error reply shape, and suspending a request until an event wakes it.
 *
 * Threads: handlers run on libmicrohttpd's threads. http_wake() may be called
 * from any thread.
 * Ownership: a struct http_req lives from the first callback of a request to
 * its completion; the http module frees it. What a handler keeps across a
 * suspension (a waiter, an id, a deadline) is the handler's own state, hung on
 * the request with http_set_state(): the http module knows nothing of it but
 * the release function it calls at completion. Bodies passed to the reply
 * functions are consumed (freed), even on error.
 *
 * This header includes nothing of engine/ or handlers/: handlers include it,
 * and the route table they form is handed to http_start() as a function.
 */
#ifndef SPAWND_HTTP_H
#define SPAWND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>

#include "server/suspender.h"

#define HTTP_MAX_PARAMS 2


struct http_req;
/* A request handler (and the route table's dispatch, and a suspended
 * request's continuation): replies to r, or suspends it, and returns what
 * libmicrohttpd's access handler returns. */
typedef enum MHD_Result http_handler(struct http_req *r);

struct http_req {
	struct MHD_Connection *conn;
	const char *method, *path;
	char *body;
	size_t body_len;
	const char *params[HTTP_MAX_PARAMS];    /* path parameters, e.g. {id} */
	int64_t start_us;
	unsigned status;                        /* for the access log */
	int route;                              /* the route table row + 1, 0: none (http_metrics.h) */
	bool replied;
	int over_limit;                         /* enum connlimit_verdict (server/connlimit.h) */
	struct suspender susp;
	http_handler *resume;                   /* runs when woken */
	void *state;                            /* the handler's (http_set_state()) */
	void (*release_state)(void *state);
};

struct http_config {
	const char *listen;      /* HOST:PORT */
	http_handler *dispatch;  /* every request goes here (the route table) */
	/* Runs once the headers are in, before any body byte is read, and may
	 * refuse the request by replying (Host, Origin, a token); NULL: none. */
	http_handler *admit;
	unsigned threads;
	size_t max_body;
	unsigned connection_limit;
	unsigned connection_limit_per_ip;   /* 0: none (server/connlimit.h) */
	unsigned connection_timeout_s;      /* an idle connection is closed after this */
	const char *cors_origins;   /* comma-separated allowlist, or NULL: CORS off */
	bool tls;                   /* serve HTTPS with server/tls.h's certificate */
};

/* Binds and starts serving. On success *url gets "http://HOST:PORT" ("https://" with tls; static).
 * 0 or -errno with a message in err. */
int http_start(const struct http_config *cfg, const char **url, char *err, size_t errlen);
/* Shutdown has begun: every request from now on gets 503 shutting_down at
 * once (and its connection closed), until http_stop(). */
void http_quiesce(void);
void http_stop(void);

/* Serves the listening unix socket fd (bound by the caller; the daemon owns it
 * from here on, even on error) with the same handlers and limits, after
 * http_start(). 0 or -EIO with a message in err. http_stop_local() stops it. */
int http_start_local(int fd, char *err, size_t errlen);
void http_stop_local(void);

/* Replies. Each returns an MHD result for the access handler to return. */
enum MHD_Result http_reply_json(struct http_req *r, unsigned status, cJSON *body);
enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *code, cJSON *details,
				 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 400 invalid_argument with one details entry: field (a query parameter,
 * a header, a body field) and what is wrong with it. */
enum MHD_Result http_reply_invalid(struct http_req *r, const char *field, const char *message);
/* One {"field","message"} entry for an error's details. */
cJSON *http_detail(const char *field, const char *message);
enum MHD_Result http_reply_buffer(struct http_req *r, unsigned status, const char *content_type,
				  const void *data, size_t len, bool copy);
enum MHD_Result http_reply_response(struct http_req *r, unsigned status, struct MHD_Response *resp);
/* Adds a header to the next reply of r (Location, Allow, Retry-After). */
void http_set_header(struct http_req *r, const char *name, const char *value);

/* True when r comes from an origin on the CORS allowlist (its replies then
 * carry Access-Control-Allow-Origin with that origin, never "*"). */
bool http_cors_allowed(struct http_req *r);

/* The 429 (this address holds its share of connections) or 503 (only the
 * reserve is left) of a request that came in over a limit (r->over_limit),
 * with Retry-After and Connection: close. */
enum MHD_Result http_reply_over_limit(struct http_req *r);

/* Request data. */
const char *http_query(struct http_req *r, const char *key);
const char *http_header(struct http_req *r, const char *name);
/* Parses the query parameter as a number of seconds from 0 to NUMBER_SECONDS_MAX.
 * 1 present (stored), 0 absent, -EINVAL malformed. */
int http_query_seconds(struct http_req *r, const char *key, double *out);

/* Parses a whole decimal integer >= 0 (an offset, a sequence number): true
 * and *out, or false for anything else ("", "-1", "1x", overflow). */
bool http_parse_u64(const char *v, uint64_t *out);

/* Hangs the handler's state on r (once per request). release(state) runs
 * exactly once, when the request completes (replied, or its client gone while
 * it was suspended), before r is freed: it must stop whatever may still call
 * http_wake(r) (cancel a waiter), then free state. */
void http_set_state(struct http_req *r, void *state, void (*release)(void *state));

/* Suspends r until http_wake(); then resume(r) runs on an HTTP thread and
 * must reply (or suspend again). If r was woken already, resume runs now. */
enum MHD_Result http_suspend(struct http_req *r, http_handler *resume);
/* Any thread, until the request's state is released. */
void http_wake(struct http_req *r);

#endif
