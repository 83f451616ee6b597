/* events — see events.h. The response is a stream (server/stream.h) whose
 * items come from the engine's event ring (engine/events.h); this handler
 * owns the stream's waiter, armed with events_wait() when it has caught up. */
#define _GNU_SOURCE
#include "handlers/events.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/proc.h"
#include "lib/container.h"
#include "server/stream.h"

struct events_stream {
	struct stream s;                /* the stream hooks get &s */
	struct proc_waiter waiter;      /* armed by wait_more(), cancelled at the end */
	uint64_t after;                 /* sequence number of the last event sent */
	bool ended;
};

static struct events_stream *events_of(struct stream *st)
{
	return container_of(st, struct events_stream, s);
}

static bool next_item(struct stream *st)
{
	struct events_stream *e = events_of(st);
	uint64_t seq, missed;
	const char *type;
	char *text = events_next(e->after, &seq, &missed, &type);
	if (missed) {
		/* Say how many were lost, then go on from the oldest kept. */
		cJSON *gap = cJSON_CreateObject();
		cJSON_AddStringToObject(gap, "event", "gap");
		cJSON_AddNumberToObject(gap, "dropped_events", (double)missed);
		e->after += missed;
		char id[32];
		snprintf(id, sizeof id, "%" PRIu64, e->after);
		free(text);
		stream_emit(st, gap, "gap", id);
		return true;
	}
	if (!text)
		return false;
	char id[32];
	e->after = seq;
	snprintf(id, sizeof id, "%" PRIu64, seq);
	stream_emit_text(st, text, type, id);
	return true;
}

static bool finished(struct stream *st)
{
	return events_of(st)->ended;
}

static void waiter_fired(struct proc_waiter *w)
{
	stream_wake(&container_of(w, struct events_stream, waiter)->s);
}

static int wait_more(struct stream *st, double timeout_s)
{
	struct events_stream *e = events_of(st);
	int r = events_wait(e->after, timeout_s, &e->waiter, waiter_fired);
	if (r < 0)
		e->ended = true;
	return r;
}

static void cancel(struct stream *st)
{
	proc_wait_cancel(&events_of(st)->waiter);
}

static void release(struct stream *st)
{
	free(events_of(st));
}

enum MHD_Result events_get(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT);
	bool sse = accept && strstr(accept, "text/event-stream");
	const char *since = http_query(r, "since");
	const char *last = sse ? http_header(r, "Last-Event-ID") : NULL;
	struct events_stream *e = calloc(1, sizeof *e);
	if (!e)
		return MHD_NO;
	e->after = events_last();
	const char *field = since ? "since" : "Last-Event-ID", *v = since ? since : last;
	if (v && !http_parse_u64(v, &e->after)) {
		free(e);
		return http_reply_invalid(r, field, "must be an event sequence number (integer >= 0)");
	}
	stream_init(&e->s, r, true, sse);
	e->s.next = next_item;
	e->s.finished = finished;
	e->s.wait = wait_more;
	e->s.cancel = cancel;
	e->s.release = release;
	struct MHD_Response *resp = stream_response(&e->s, sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}
