/* stream — see stream.h. */
#define _GNU_SOURCE
#include "lib/number.h"
#include "server/stream.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ts.h"

static int64_t heartbeat_ms = 15000;
static atomic_long open_streams;

void stream_set_heartbeat(double seconds)
{
	heartbeat_ms = (int64_t)(seconds * 1000.0);
	if (heartbeat_ms < 10)
		heartbeat_ms = 10;
}

double stream_heartbeat(void) { return (double)heartbeat_ms / 1000.0; }

long stream_count(void) { return atomic_load(&open_streams); }

void stream_init(struct stream *s, struct http_req *r, bool follow, bool sse)
{
	suspender_init(&s->susp, r->conn);
	s->follow = follow;
	s->sse = sse;
	s->heartbeats = true;
	s->block_size = 64 * 1024;
	/* A live stream with nothing to send yet sends a heartbeat at once: its
	 * headers go out with it, so a client (an EventSource) sees it open. */
	s->next_heartbeat_ms = follow ? ts_mono_ms() : ts_mono_ms() + heartbeat_ms;
}

static void set_pending(struct stream *s, char *text, size_t len)
{
	free(s->pending);
	s->pending = text;
	s->pending_len = len;
	s->pending_off = 0;
}

void stream_emit_raw(struct stream *s, char *bytes, size_t len)
{
	set_pending(s, bytes, len);
}

void stream_emit(struct stream *s, cJSON *item, const char *sse_event, const char *sse_id)
{
	char *json = number_print_json(item);
	cJSON_Delete(item);
	if (json)
		stream_emit_text(s, json, sse_event, sse_id);
}

void stream_emit_text(struct stream *s, char *json, const char *sse_event, const char *sse_id)
{
	char *text = NULL;
	int len;
	if (s->sse)
		len = asprintf(&text, "event: %s\n%s%s%sdata: %s\n\n", sse_event, sse_id ? "id: " : "",
			       sse_id ? sse_id : "", sse_id ? "\n" : "", json);
	else
		len = asprintf(&text, "%s\n", json);
	free(json);
	if (len >= 0)
		set_pending(s, text, (size_t)len);
}

static void emit_heartbeat(struct stream *s)
{
	const char *hb = s->sse ? ": heartbeat\n\n" : "{\"event\":\"heartbeat\"}\n";
	set_pending(s, strdup(hb), strlen(hb));
}

void stream_wake(struct stream *s)
{
	suspender_wake(&s->susp);
}

/* Nothing would tell libmicrohttpd that the client has hung up while the
 * connection is suspended or has nothing to write (raw output sends no
 * heartbeats): so ask the socket. */
bool stream_peer_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *s = cls;
	/* libmicrohttpd may call the reader again in the same pass, before it
	 * has acted on the suspension: the waiter is armed already, and arming
	 * it twice (or suspending twice) would lose the wake-up. Nothing to give
	 * until it fires. */
	pthread_mutex_lock(&s->susp.lock);
	bool waiting = s->susp.suspended;
	pthread_mutex_unlock(&s->susp.lock);
	if (waiting)
		return 0;
	for (;;) {
		if (s->pending && s->pending_off < s->pending_len) {
			size_t n = s->pending_len - s->pending_off;
			if (n > max)
				n = max;
			memcpy(out, s->pending + s->pending_off, n);
			s->pending_off += n;
			return (ssize_t)n;
		}
		if (s->next(s))
			continue;
		if (!s->follow || s->finished(s))
			return MHD_CONTENT_READER_END_OF_STREAM;
		int64_t now = ts_mono_ms();
		if (!s->heartbeats)
			s->next_heartbeat_ms = now + heartbeat_ms;     /* only a wake-up */
		else if (now >= s->next_heartbeat_ms) {
			emit_heartbeat(s);
			s->next_heartbeat_ms = now + heartbeat_ms;
			continue;
		}
		if (stream_peer_gone(s->susp.conn))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		pthread_mutex_lock(&s->susp.lock);
		if (s->susp.woken) {
			s->susp.woken = false;
			pthread_mutex_unlock(&s->susp.lock);
			continue;
		}
		int r = s->wait(s, (double)(s->next_heartbeat_ms - now) / 1000.0);
		if (r == 0) {
			suspender_suspend_locked(&s->susp);
			pthread_mutex_unlock(&s->susp.lock);
			return 0;       /* allowed: the connection is suspended */
		}
		pthread_mutex_unlock(&s->susp.lock);
		if (r < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void free_stream(void *cls)
{
	struct stream *s = cls;
	s->cancel(s);           /* no wake may touch s->susp after this */
	suspender_release(&s->susp);
	free(s->pending);
	atomic_fetch_sub(&open_streams, 1);
	s->release(s);
}

struct MHD_Response *stream_response(struct stream *s, const char *content_type)
{
	atomic_fetch_add(&open_streams, 1);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, s->block_size, read_stream, s,
								      free_stream);
	if (!resp) {
		free_stream(s);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (s->sse)
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return resp;
}
