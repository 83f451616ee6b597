/* http — spawnctl's one way to talk to spawnd: libcurl, a base URL and an
 * optional bearer token.
 *
 * Every request gets its own easy handle, so a second thread (the stdin pump)
 * may send requests while the main thread follows output; http_init() must
 * run before any thread starts.
 *
 * Ownership: a struct http_resp is filled by the call and released with
 * http_resp_release(); it is never left half-filled (status 0 and error set
 * when the request failed below HTTP).
 */
#ifndef SPAWNCTL_HTTP_H
#define SPAWNCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct http_resp {
	long status;            /* 0: no HTTP answer (error says why) */
	char *body;             /* NUL-terminated (len excludes it); the error body with a sink */
	size_t len;
	cJSON *json;            /* body parsed, when it is JSON */
	char error[256];
};

/* Where a successful (2xx) body goes, as it arrives, instead of into body.
 * data returns 0 to go on, 1 to stop the transfer (not an error). idle_s > 0
 * ends the transfer once no byte has come for that long (not an error either:
 * *idled tells). */
struct http_sink {
	int (*data)(const char *buf, size_t len, void *arg);
	void *arg;
	double idle_s;
	bool idled;
};

/* url: "http://host:port" (a trailing slash is dropped); token: NULL for none.
 * 0, or -EINVAL (a token with control characters) or -ENOMEM. Copies both. */
int http_init(const char *url, const char *token);
void http_cleanup(void);
const char *http_base_url(void);

/* METHOD path (with the query), an optional body of len bytes with
 * content_type, Accept: accept (NULL: application/json). With sink, a 2xx
 * body goes to it. Returns r->status (0 on a transport failure). */
long http_request(const char *method, const char *path, const char *body, size_t len,
		  const char *content_type, const char *accept, struct http_sink *sink,
		  struct http_resp *r);
/* Shorthands: a JSON body (NULL: none), the answer collected. */
long http_json(const char *method, const char *path, const cJSON *body, struct http_resp *r);

/* Runs several GETs at once (the two raw output streams of a process), each
 * with its own sink and response. Returns when all have ended. */
void http_get_many(const char *const *paths, const char *accept, struct http_sink *sinks,
		   struct http_resp *resps, int n);

void http_resp_release(struct http_resp *r);

/* Percent-encodes s for a path segment or query value; caller frees with free(). */
char *http_escape(const char *s);

/* Prints why r failed on stderr ("spawnctl: what: <server message>" and one
 * line per error detail, or the transport error) and returns 125. */
int http_fail(const struct http_resp *r, const char *what);

#endif
