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

#include "lib/ts.h"
#include "lib/utf8.h"
#include "server/stream.h"

#define CHUNK (64 * 1024)               /* data of one NDJSON/SSE event, at most */
#define RAW_CHUNK (1024 * 1024)         /* raw bytes handed on at once */

struct output_stream {
	struct stream s;        /* first: the stream hooks get this pointer */
	char id[PROC_ID_MAX];
	bool raw;
	bool want[2];
	uint64_t offset[2];
	bool exit_sent, gone;
	size_t held[2];         /* bytes of an unfinished character, not sent yet */
	size_t buf_size;
	char buf[];             /* CHUNK, or RAW_CHUNK for raw output */
};

static const char *const stream_names[] = { "stdout", "stderr" };

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
	static const char *const keys[2] = { "stdout_bytes", "stderr_bytes" };
	cJSON *exit_line = proc_exit_json(o->id);
	*drained = true;
	for (int s = 0; exit_line && s < 2; s++)
		if (o->want[s] && o->offset[s] < (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(exit_line, keys[s])))
			*drained = false;
	return exit_line;
}

static bool next_item(struct stream *st)
{
	struct output_stream *o = (struct output_stream *)st;
	for (int s = 0; s < 2; s++) {
		if (!o->want[s])
			continue;
		uint64_t total;
		bool ended;
		int64_t captured_ms = 0;
		ssize_t n = proc_read_output(o->id, (enum proc_stream)s, o->offset[s], o->buf, o->buf_size, &total, &ended,
					     &captured_ms);
		if (n == -ENOENT)
			o->gone = true;
		if (n > 0 && emit_chunk(o, s, (size_t)n, ended, captured_ms))
			return true;
	}
	if (o->exit_sent || o->gone || o->raw)
		return false;
	bool drained;
	cJSON *exit_line = exit_line_if_ended(o, &drained);
	if (!exit_line)
		return false;   /* still running */
	if (!drained) {         /* output arrived since the reads above: it comes first */
		cJSON_Delete(exit_line);
		return next_item(st);
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
	struct output_stream *o = (struct output_stream *)st;
	if (o->raw && !o->gone) {
		bool drained;
		cJSON *exit_line = exit_line_if_ended(o, &drained);
		cJSON_Delete(exit_line);
		return exit_line && drained;
	}
	return o->exit_sent || o->gone;
}

static int wait_more(struct stream *st, double timeout_s)
{
	struct output_stream *o = (struct output_stream *)st;
	uint64_t offsets[2] = { o->want[0] ? o->offset[0] + o->held[0] : UINT64_MAX,
				o->want[1] ? o->offset[1] + o->held[1] : UINT64_MAX };
	int r = proc_wait_output(o->id, offsets, timeout_s, &o->s.waiter, stream_waiter_fired);
	if (r == -ENOENT)
		o->gone = true;
	return r;
}

static void release(struct stream *st)
{
	free(st);
}

/* An absent offset parameter leaves *out as it is. */
static bool parse_u64_param(const char *v, uint64_t *out)
{
	return !v || http_parse_u64(v, out);
}

enum MHD_Result output_get(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT);
	const char *stream = http_query(r, "stream"), *follow = http_query(r, "follow");
	bool raw = accept && strstr(accept, "application/octet-stream");
	bool sse = !raw && accept && strstr(accept, "text/event-stream");
	size_t buf_size = raw ? RAW_CHUNK : CHUNK;
	struct output_stream *o = calloc(1, sizeof *o + buf_size);
	if (!o)
		return MHD_NO;
	o->buf_size = buf_size;
	snprintf(o->id, sizeof o->id, "%s", r->params[0]);
	o->raw = raw;

	const char *field = NULL, *problem = NULL;
	if (!stream)
		stream = raw ? "stdout" : "both";
	o->want[0] = strcmp(stream, "stdout") == 0 || strcmp(stream, "both") == 0;
	o->want[1] = strcmp(stream, "stderr") == 0 || strcmp(stream, "both") == 0;
	if (!o->want[0] && !o->want[1])
		field = "stream", problem = "must be stdout, stderr or both";
	else if (raw && o->want[0] && o->want[1])
		field = "stream", problem = "raw output (application/octet-stream) is one stream: stdout or stderr";
	else if (follow && strcmp(follow, "true") != 0 && strcmp(follow, "false") != 0)
		field = "follow", problem = "must be true or false";
	else if (!parse_u64_param(http_query(r, "offset"), &o->offset[o->want[0] ? 0 : 1]))
		field = "offset", problem = "must be a byte offset (integer >= 0)";
	else if (!parse_u64_param(http_query(r, "stdout_offset"), &o->offset[0]))
		field = "stdout_offset", problem = "must be a byte offset (integer >= 0)";
	else if (!parse_u64_param(http_query(r, "stderr_offset"), &o->offset[1]))
		field = "stderr_offset", problem = "must be a byte offset (integer >= 0)";
	/* SSE resume: Last-Event-ID is "<stdout offset>-<stderr offset>", with
	 * "-exit" after it for the exit event (then nothing is left to send). */
	const char *last = sse ? http_header(r, "Last-Event-ID") : NULL;
	int used = 0;
	if (!problem && last &&
	    (sscanf(last, "%" SCNu64 "-%" SCNu64 "%n", &o->offset[0], &o->offset[1], &used) != 2 ||
	     (last[used] && strcmp(last + used, "-exit") != 0)))
		field = "Last-Event-ID", problem = "must be an event id this server sent (\"<stdout offset>-<stderr offset>\")";
	else if (last && last[used]) {
		/* The client saw the exit event: nothing follows it. 204 is what tells
		 * an EventSource to stop reconnecting (the SSE specification). */
		free(o);
		return http_reply_buffer(r, 204, "text/event-stream", "", 0, true);
	}
	if (problem) {
		free(o);
		return http_reply_invalid(r, field, problem);
	}
	cJSON *rec = proc_get_json(o->id, 0);
	if (!rec) {
		free(o);
		return http_reply_error(r, 404, "not_found", NULL, "no process with id %s", r->params[0]);
	}
	cJSON_Delete(rec);

	stream_init(&o->s, r, follow && strcmp(follow, "true") == 0, sse);
	o->s.heartbeats = !raw;
	o->s.block_size = buf_size;
	o->s.next = next_item;
	o->s.finished = finished;
	o->s.wait = wait_more;
	o->s.release = release;
	struct MHD_Response *resp = stream_response(&o->s, raw ? "application/octet-stream" :
						    sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}
