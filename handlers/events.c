#define _GNU_SOURCE
#include "handlers/events.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "server/stream.h"

struct events_stream {
	struct stream s;        /* first: the stream hooks get this pointer */
	uint64_t after;         /* sequence number of the last event sent */
	bool ended;
};

static bool next_item(struct stream *st)
{
	struct events_stream *e = (struct events_stream *)st;
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
	return ((struct events_stream *)st)->ended;
}

static int wait_more(struct stream *st, double timeout_s)
{
	struct events_stream *e = (struct events_stream *)st;
	int r = events_wait(e->after, timeout_s, &st->waiter, stream_waiter_fired);
	if (r < 0)
		e->ended = true;
	return r;
}

static void release(struct stream *st)
{
	free(st);
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
	e->s.release = release;
	struct MHD_Response *resp = stream_response(&e->s, sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}
