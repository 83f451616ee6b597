/* http — spawnd's HTTP plumbing on libmicrohttpd: the daemon, one request
 * context per connection, body collection with framing limits, the one JSON
 * and error reply shape, and suspending a request until an event wakes it.
 *
 * Threads: handlers run on libmicrohttpd's threads. http_wake() may be called
 * from any thread.
 * Ownership: a struct http_req lives from the first callback of a request to
 * its completion; the http module frees it. Bodies passed to the reply
 * functions are consumed (freed), even on error.
 */
#ifndef SPAWND_HTTP_H
#define SPAWND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>

#include "engine/proc.h"

#define HTTP_MAX_PARAMS 2

/* A connection that can be suspended until an event wakes it: a request in
 * its access handler, or a streaming response in its content reader (the two
 * places libmicrohttpd allows MHD_suspend_connection()). lock orders a wake
 * against the suspension: a wake that comes first only sets woken. */
struct http_suspender {
	pthread_mutex_t lock;
	struct MHD_Connection *conn;
	bool suspended, woken;
};

void http_suspender_init(struct http_suspender *s, struct MHD_Connection *conn);
void http_suspender_release(struct http_suspender *s);
/* With s->lock held: suspends the connection (the caller then unlocks). */
void http_suspender_suspend_locked(struct http_suspender *s);
/* Any thread: resumes the connection if suspended, else marks s woken. */
void http_suspender_wake(struct http_suspender *s);

struct http_req {
	struct MHD_Connection *conn;
	const char *method, *path;
	char *body;
	size_t body_len;
	const char *params[HTTP_MAX_PARAMS];    /* path parameters, e.g. {id} */
	int64_t start_us;
	unsigned status;                        /* for the access log */
	bool replied;
	struct http_suspender susp;
	int (*resume)(struct http_req *r);      /* runs when woken */
	struct proc_waiter waiter;              /* for handlers that wait on a process */
	double number;                          /* a handler's value kept across a suspension */
	char id[PROC_ID_MAX];
};

struct http_config {
	const char *listen;      /* HOST:PORT */
	unsigned threads;
	size_t max_body;
	unsigned connection_limit;
	unsigned connection_timeout_s;
	const char *cors_origins;   /* comma-separated allowlist, or NULL: CORS off */
};

/* Binds and starts serving. On success *url gets "http://HOST:PORT" (static).
 * 0 or -errno with a message in err. */
int http_start(const struct http_config *cfg, const char **url, char *err, size_t errlen);
/* Stops accepting new connections (shutdown has begun). */
void http_quiesce(void);
void http_stop(void);

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

/* Request data. */
const char *http_query(struct http_req *r, const char *key);
const char *http_header(struct http_req *r, const char *name);
/* Parses the query parameter as a number of seconds from 0 to NUMBER_SECONDS_MAX.
 * 1 present (stored), 0 absent, -EINVAL malformed. */
int http_query_seconds(struct http_req *r, const char *key, double *out);

/* Parses a whole decimal integer >= 0 (an offset, a sequence number): true
 * and *out, or false for anything else ("", "-1", "1x", overflow). */
bool http_parse_u64(const char *v, uint64_t *out);

/* Suspends r until http_wake(); then resume(r) runs on an HTTP thread and
 * must reply (or suspend again). If r was woken already, resume runs now. */
enum MHD_Result http_suspend(struct http_req *r, int (*resume)(struct http_req *r));
void http_wake(struct http_req *r);
/* A proc_waiter callback that wakes the request the waiter is embedded in. */
void http_wake_waiter(struct proc_waiter *w);

#endif
