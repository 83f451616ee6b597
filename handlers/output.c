/* output — see output.h.
 *
 * The response is a stream (server/stream.h): items are read from the
 * record's buffers under the engine lock, one chunk at a time, so a 10 MB
 * output is never copied whole and a record removed mid-response just ends
 * the stream. With follow=true the stream waits for more output (suspended,
 * no thread blocked) until the exit line.
 *
 * `data` is valid UTF-8: chunks are cut on character boundaries and invalid
 * bytes become U+FFFD, while offsets count raw bytes. The SSE id of an event
 * is "<stdout offset>-<stderr offset>" after it, so a client that sends it
 * back as Last-Event-ID resumes exactly after that event.
 */
#define _GNU_SOURCE
#include "handlers/output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proc.h"
#include "lib/container.h"
#include "lib/ts.h"
#include "lib/utf8.h"
#include "server/stream.h"

#define CHUNK (64 * 1024)               /* data of one NDJSON/SSE event, at most */
#define RAW_CHUNK (1024 * 1024)         /* raw bytes handed on at once */

struct output_stream {
	struct stream s;                /* the stream hooks get &s */
	struct proc_waiter waiter;      /* armed by wait_more(), cancelled at the end */
	char id[PROC_ID_MAX];
	bool raw;
	bool want[2];
	uint64_t offset[2];
	bool exit_sent, gone;
	uint64_t gap_sent[2];   /* dropped bytes already told of in gap lines */
	size_t held[2];         /* bytes of an unfinished character, not sent yet */
	size_t buf_size;
	char buf[];             /* CHUNK, or RAW_CHUNK for raw output */
};

static struct output_stream *output_of(struct stream *st)
{
	return container_of(st, struct output_stream, s);
}

static const char *const stream_names[] = { "stdout", "stderr" };
static const char *const total_keys[] = { "stdout_bytes", "stderr_bytes" };   /* in the exit line */

static void sse_id(const struct output_stream *o, char id[64])
{
	snprintf(id, 64, "%" PRIu64 "-%" PRIu64, o->offset[0], o->offset[1]);
}

/* captured_ms: when the chunk's first byte was captured, its line's ts. */
static bool emit_chunk(struct output_stream *o, int s, size_t n, bool ended, int64_t captured_ms)
{
	if (o->raw) {
		char *bytes = malloc(n);
		if (!bytes)
			return false;
		memcpy(bytes, o->buf, n);
		o->offset[s] += n;
		stream_emit_raw(&o->s, bytes, n);
		return true;
	}
	/* A character the worker has not finished writing waits for its last
	 * bytes (a running process may still write them); once it has ended,
	 * what is there is all there is. */
	if (!ended) {
		size_t cut = utf8_boundary(o->buf, n);
		if (cut == 0) {
			o->held[s] = n;
			return false;
		}
		n = cut;
	}
	o->held[s] = 0;
	char ts[TS_RFC3339_LEN], id[64];
	ts_format(captured_ms ? captured_ms : ts_wall_ms(), ts);
	char *data = utf8_json_string(o->buf, n);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "stream", stream_names[s]);
	cJSON_AddNumberToObject(j, "offset", (double)o->offset[s]);
	cJSON_AddRawToObject(j, "data", data ? data : "\"\"");
	cJSON_AddStringToObject(j, "ts", ts);
	free(data);
	o->offset[s] += n;
	sse_id(o, id);
	stream_emit(&o->s, j, "output", id);
	return true;
}

/* The exit line once the process has ended (else NULL); *drained says whether
 * every wanted byte has been read (the totals are final once it has ended). */
static cJSON *exit_line_if_ended(struct output_stream *o, bool *drained)
{
	cJSON *exit_line = proc_exit_json(o->id);
	*drained = true;
	for (int s = 0; exit_line && s < 2; s++)
		if (o->want[s] && o->offset[s] < (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(exit_line, total_keys[s])))
			*drained = false;
	return exit_line;
}

/* A gap line: the bytes dropped at the end of stream s since the last one
 * (a stream drops everything from its first dropped byte on, outbuf.h, so
 * a follower may get more than one, at the same offset; they add up). */
static void emit_gap(struct output_stream *o, int s, uint64_t total, uint64_t dropped)
{
	char id[64];
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "event", "gap");
	cJSON_AddStringToObject(j, "stream", stream_names[s]);
	cJSON_AddNumberToObject(j, "offset", (double)total);
	cJSON_AddNumberToObject(j, "dropped_bytes", (double)(dropped - o->gap_sent[s]));
	o->gap_sent[s] = dropped;
	sse_id(o, id);
	stream_emit(&o->s, j, "gap", id);
}

/* The next output chunk or gap line of a wanted stream; false: none now. */
static bool emit_next(struct output_stream *o)
{
	for (int s = 0; s < 2; s++) {
		if (!o->want[s])
			continue;
		uint64_t total, dropped = 0;
		bool ended;
		int64_t captured_ms = 0;
		ssize_t n = proc_read_output(o->id, (enum proc_stream)s, o->offset[s], o->buf, o->buf_size, &total, &ended,
					     &captured_ms, &dropped);
		if (n == -ENOENT)
			o->gone = true;
		/* A stream that drops will not finish a character it began. */
		if (n > 0 && emit_chunk(o, s, (size_t)n, ended || dropped, captured_ms))
			return true;
		if (n == 0 && !o->raw && dropped > o->gap_sent[s] && o->offset[s] >= total) {
			emit_gap(o, s, total, dropped);
			return true;
		}
	}
	return false;
}

static bool next_item(struct stream *st)
{
	struct output_stream *o = output_of(st);
	if (emit_next(o))
		return true;
	if (o->exit_sent || o->gone || o->raw)
		return false;
	bool drained;
	cJSON *exit_line = exit_line_if_ended(o, &drained);
	if (!exit_line)
		return false;   /* still running */
	if (!drained || emit_next(o)) {     /* output (or a gap) came before the end: it goes first */
		cJSON_Delete(exit_line);
		return !drained ? next_item(st) : true;
	}
	/* Its id names each stream's final length, never more: a follow that
	 * waited past the end of a stream that stopped short does not echo the
	 * client's offset back as if those bytes had been sent. */
	for (int s = 0; s < 2; s++) {
		uint64_t total = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(exit_line, total_keys[s]));
		if (o->offset[s] > total)
			o->offset[s] = total;
	}
	char id[64];
	sse_id(o, id);
	strcat(id, "-exit");    /* resuming after it gives nothing more */
	o->exit_sent = true;
	stream_emit(&o->s, exit_line, "exit", id);
	return true;
}

static bool finished(struct stream *st)
{
	struct output_stream *o = output_of(st);
	if (o->raw && !o->gone) {
		bool drained;
		cJSON *exit_line = exit_line_if_ended(o, &drained);
		cJSON_Delete(exit_line);
		return exit_line && drained;
	}
	return o->exit_sent || o->gone;
}

static void waiter_fired(struct proc_waiter *w)
{
	stream_wake(&container_of(w, struct output_stream, waiter)->s);
}

static int wait_more(struct stream *st, double timeout_s)
{
	struct output_stream *o = output_of(st);
	uint64_t offsets[2] = { o->want[0] ? o->offset[0] + o->held[0] : UINT64_MAX,
				o->want[1] ? o->offset[1] + o->held[1] : UINT64_MAX };
	int r = proc_wait_output(o->id, offsets, timeout_s, &o->waiter, waiter_fired);
	if (r == -ENOENT)
		o->gone = true;
	return r;
}

static void cancel(struct stream *st)
{
	proc_wait_cancel(&output_of(st)->waiter);
}

static void release(struct stream *st)
{
	free(output_of(st));
}

/* An absent offset parameter leaves *out as it is; a given one records
 * where it came from (the field a 400 names). */
static bool parse_offset(struct http_req *r, const char *key, uint64_t *out, const char **source)
{
	const char *v = http_query(r, key);
	if (v)
		*source = key;
	return !v || http_parse_u64(v, out);
}

/* The query's problem (NULL if none) and the field it is in. */
static const char *parse_params(struct output_stream *o, struct http_req *r, const char *sources[2],
				const char **field)
{
	const char *stream = http_query(r, "stream"), *follow = http_query(r, "follow");
	if (!stream)
		stream = o->raw ? "stdout" : "both";
	o->want[0] = strcmp(stream, "stdout") == 0 || strcmp(stream, "both") == 0;
	o->want[1] = strcmp(stream, "stderr") == 0 || strcmp(stream, "both") == 0;
	int first = o->want[0] ? 0 : 1;
	if (!o->want[0] && !o->want[1])
		return *field = "stream", "must be stdout, stderr or both";
	if (o->raw && o->want[0] && o->want[1])
		return *field = "stream", "raw output (application/octet-stream) is one stream: stdout or stderr";
	if (follow && strcmp(follow, "true") != 0 && strcmp(follow, "false") != 0)
		return *field = "follow", "must be true or false";
	if (!parse_offset(r, "offset", &o->offset[first], &sources[first]))
		return *field = "offset", "must be a byte offset (integer >= 0)";
	if (!parse_offset(r, "stdout_offset", &o->offset[0], &sources[0]))
		return *field = "stdout_offset", "must be a byte offset (integer >= 0)";
	if (!parse_offset(r, "stderr_offset", &o->offset[1], &sources[1]))
		return *field = "stderr_offset", "must be a byte offset (integer >= 0)";
	return NULL;
}

/* SSE resume: Last-Event-ID is "<stdout offset>-<stderr offset>", with
 * "-exit" after it for the exit event. 0: none or resumable, 1: after the
 * exit event, -EINVAL: not an id this server sends. */
static int parse_last_event_id(struct output_stream *o, const char *last, const char *sources[2])
{
	int used = 0;
	if (!last)
		return 0;
	if (sscanf(last, "%" SCNu64 "-%" SCNu64 "%n", &o->offset[0], &o->offset[1], &used) != 2 ||
	    (last[used] && strcmp(last + used, "-exit") != 0))
		return -EINVAL;
	sources[0] = sources[1] = "Last-Event-ID";
	return last[used] ? 1 : 0;
}

/* An offset the client gave may not lie past the end of its stream: an
 * ended process's lengths are final, and without follow a running one's
 * bytes so far are all there is to send. With follow the stream waits for
 * them. Returns false with the message in msg. */
static bool offsets_in_range(const struct output_stream *o, const char *const sources[2], bool follow,
			     const char **field, char *msg, size_t cap)
{
	for (int s = 0; s < 2; s++) {
		uint64_t total;
		bool ended;
		if (!sources[s] || proc_read_output(o->id, (enum proc_stream)s, 0, NULL, 0, &total, &ended, NULL, NULL) < 0)
			continue;
		if (o->offset[s] <= total || (follow && !ended))
			continue;
		*field = sources[s];
		snprintf(msg, cap, "%s offset %" PRIu64 " is past its end: %" PRIu64 " bytes%s", stream_names[s],
			 o->offset[s], total, ended ? ", and the process has ended" :
			 " so far (follow=true waits for more)");
		return false;
	}
	return true;
}

static enum MHD_Result reply_output_invalid(struct http_req *r, struct output_stream *o, const char *field,
					    const char *problem)
{
	free(o);
	return http_reply_invalid(r, field, problem);
}

enum MHD_Result output_get(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT), *follow_v = http_query(r, "follow");
	bool raw = accept && strstr(accept, "application/octet-stream");
	bool sse = !raw && accept && strstr(accept, "text/event-stream");
	bool follow = follow_v && strcmp(follow_v, "true") == 0;
	size_t buf_size = raw ? RAW_CHUNK : CHUNK;
	struct output_stream *o = calloc(1, sizeof *o + buf_size);
	if (!o)
		return MHD_NO;
	o->buf_size = buf_size;
	snprintf(o->id, sizeof o->id, "%s", r->params[0]);
	o->raw = raw;

	const char *field = NULL, *sources[2] = { NULL, NULL };
	const char *problem = parse_params(o, r, sources, &field);
	if (problem)
		return reply_output_invalid(r, o, field, problem);
	int after_exit = parse_last_event_id(o, sse ? http_header(r, "Last-Event-ID") : NULL, sources);
	if (after_exit < 0)
		return reply_output_invalid(r, o, "Last-Event-ID",
			"must be an event id this server sent (\"<stdout offset>-<stderr offset>\")");
	cJSON *rec = proc_get_json(o->id, 0);
	if (!rec) {
		free(o);
		return http_reply_error(r, 404, "not_found", NULL, "no process with id %s", r->params[0]);
	}
	cJSON_Delete(rec);
	char msg[160];
	if (!offsets_in_range(o, sources, follow, &field, msg, sizeof msg))
		return reply_output_invalid(r, o, field, msg);
	if (after_exit) {
		/* The client saw the exit event: nothing follows it. 204 is what tells
		 * an EventSource to stop reconnecting (the SSE specification). */
		free(o);
		return http_reply_buffer(r, 204, "text/event-stream", "", 0, true);
	}

	stream_init(&o->s, r, follow, sse);
	o->s.heartbeats = !raw;
	o->s.block_size = buf_size;
	o->s.next = next_item;
	o->s.finished = finished;
	o->s.wait = wait_more;
	o->s.cancel = cancel;
	o->s.release = release;
	struct MHD_Response *resp = stream_response(&o->s, raw ? "application/octet-stream" :
						    sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}
