/* stream — a streaming HTTP response that can follow a source live: NDJSON or
 * Server-Sent Events, produced item by item by a libmicrohttpd content reader.
 *
 * When the source has nothing new, the reader has the handler arm its waiter
 * (stream->wait) and suspends the connection instead of returning 0 to
 * libmicrohttpd (which would spin). The waiter fires on new data, at the end,
 * or at the next heartbeat, whose timer is the engine's, and its callback
 * calls stream_wake(): so a suspended stream is woken at least every heartbeat
 * interval, writes a heartbeat, and a client that vanished is noticed by that
 * write and its stream freed. The waiter is the handler's (this module knows
 * no engine type); the handler gets its struct back from the hooks' stream
 * pointer with container_of().
 *
 * Ownership: the stream is allocated by the handler (embedded in its own
 * struct), handed to stream_response(), and freed when libmicrohttpd destroys
 * the response: cancel(s) first, then the stream's own parts, then release(s).
 */
#ifndef SPAWND_STREAM_H
#define SPAWND_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

struct stream {
	struct suspender susp;
	bool follow, sse;
	bool heartbeats;                /* false for raw bytes: nothing can be interleaved */
	size_t block_size;              /* largest piece handed to libmicrohttpd (default 64 KiB) */
	int64_t next_heartbeat_ms;
	char *pending;
	size_t pending_len, pending_off;
	/* Produces the next item with stream_emit(); false if there is none now. */
	bool (*next)(struct stream *s);
	/* True when no item will ever come again (the response ends). */
	bool (*finished)(struct stream *s);
	/* Arms the handler's waiter (whose callback calls stream_wake(s)) until
	 * timeout_s: 0 armed, 1 something is available already, < 0 the source
	 * is gone. */
	int (*wait)(struct stream *s, double timeout_s);
	/* Stops whatever may still call stream_wake(s) (cancels the waiter). */
	void (*cancel)(struct stream *s);
	/* Frees the handler's struct (s with it). */
	void (*release)(struct stream *s);
};

/* Seconds between heartbeats (API.md: at most 15). */
void stream_set_heartbeat(double seconds);
double stream_heartbeat(void);
/* True when the client of conn has hung up (or reset). Suspended requests
 * (join, ?wait=, DELETE) ask it each heartbeat, as streams do. */
bool stream_peer_gone(struct MHD_Connection *conn);
/* Sets up s on r's connection. */
void stream_init(struct stream *s, struct http_req *r, bool follow, bool sse);
/* Queues one item (cJSON consumed) as an NDJSON line, or as an SSE event
 * with the given event name and id (sse_id may be NULL). */
void stream_emit(struct stream *s, cJSON *item, const char *sse_event, const char *sse_id);
/* The same for JSON that is already text (consumed). */
void stream_emit_text(struct stream *s, char *json, const char *sse_event, const char *sse_id);
/* Queues raw bytes (consumed), for application/octet-stream. */
void stream_emit_raw(struct stream *s, char *bytes, size_t len);
/* Any thread, until cancel(s) has returned: the source has something (or
 * the heartbeat is due); resumes the stream if it is suspended. */
void stream_wake(struct stream *s);
/* The response for s (takes ownership of s). NULL on allocation failure (s is freed). */
struct MHD_Response *stream_response(struct stream *s, const char *content_type);
/* Open streams right now (for /metrics). */
long stream_count(void);

#endif
