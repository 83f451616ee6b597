/* output — see output.h.
 *
 * The response is produced by a libmicrohttpd content reader, one chunk at a
 * time, reading the record's buffers under the engine lock per chunk: a 10 MB
 * output is never copied whole, and a record removed mid-response just ends
 * the stream. Without follow, the snapshot ends at what was captured when the
 * reader reached the end, plus the exit line if the process has ended.
 *
 * Events carry `data` as valid UTF-8: chunks are cut on character boundaries
 * and invalid bytes become U+FFFD, while offsets count the raw bytes. The SSE
 * id of an event is "<stdout offset>-<stderr offset>" after it, so a client
 * that sends it back as Last-Event-ID resumes exactly after that event.
 */
#define _GNU_SOURCE
#include "handlers/output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ts.h"
#include "engine/utf8.h"

#define CHUNK (64 * 1024)

enum format { FORMAT_NDJSON, FORMAT_SSE, FORMAT_RAW };

struct output_stream {
	char id[PROC_ID_MAX];
	enum format format;
	bool want[2];
	uint64_t offset[2];
	bool done[2];
	bool exit_sent;
	char *pending;          /* a rendered event not yet fully handed out */
	size_t pending_len, pending_off;
	char buf[CHUNK];
};

static const char *const stream_names[] = { "stdout", "stderr" };

static void set_pending(struct output_stream *o, char *text, size_t len)
{
	free(o->pending);
	o->pending = text;
	o->pending_len = len;
	o->pending_off = 0;
}

/* Renders one event (JSON object j, consumed) in the response's format. */
static void render_event(struct output_stream *o, cJSON *j, const char *sse_event)
{
	char *json = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!json)
		return;
	char *text = NULL;
	int len;
	if (o->format == FORMAT_SSE)
		len = asprintf(&text, "event: %s\nid: %" PRIu64 "-%" PRIu64 "\ndata: %s\n\n", sse_event,
			       o->offset[0], o->offset[1], json);
	else
		len = asprintf(&text, "%s\n", json);
	free(json);
	if (len >= 0)
		set_pending(o, text, (size_t)len);
}

/* Produces the next event into o->pending. Returns false at the end. */
static bool next_event(struct output_stream *o)
{
	for (int s = 0; s < 2; s++) {
		if (!o->want[s] || o->done[s])
			continue;
		uint64_t total;
		bool ended;
		ssize_t n = proc_read_output(o->id, (enum proc_stream)s, o->offset[s], o->buf, CHUNK, &total, &ended);
		if (n <= 0) {
			o->done[s] = true;
			continue;
		}
		size_t take = (size_t)n;
		/* Do not split a character between events, unless it is the last byte we have. */
		if (o->offset[s] + take < total) {
			size_t cut = utf8_boundary(o->buf, take);
			if (cut)
				take = cut;
		}
		char ts[TS_RFC3339_LEN];
		ts_format(ts_wall_ms(), ts);
		char *data = utf8_sanitize(o->buf, take, NULL);
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "stream", stream_names[s]);
		cJSON_AddNumberToObject(j, "offset", (double)o->offset[s]);
		cJSON_AddStringToObject(j, "data", data ? data : "");
		cJSON_AddStringToObject(j, "ts", ts);
		free(data);
		o->offset[s] += take;
		render_event(o, j, "output");
		return true;
	}
	if (!o->exit_sent) {
		o->exit_sent = true;
		cJSON *exit_line = proc_exit_json(o->id);
		if (exit_line) {
			render_event(o, exit_line, "exit");
			return true;
		}
	}
	return false;
}

static ssize_t read_events(void *cls, uint64_t pos, char *out, size_t max)
{
	struct output_stream *o = cls;
	while (!o->pending || o->pending_off == o->pending_len) {
		if (!next_event(o))
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = o->pending_len - o->pending_off;
	if (n > max)
		n = max;
	memcpy(out, o->pending + o->pending_off, n);
	o->pending_off += n;
	return (ssize_t)n;
}

static ssize_t read_raw(void *cls, uint64_t pos, char *out, size_t max)
{
	struct output_stream *o = cls;
	int s = o->want[0] ? 0 : 1;
	uint64_t total;
	bool ended;
	ssize_t n = proc_read_output(o->id, (enum proc_stream)s, o->offset[s], out, max, &total, &ended);
	if (n <= 0)
		return n == 0 || n == -ENOENT ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
	o->offset[s] += (uint64_t)n;
	return n;
}

static void free_stream(void *cls)
{
	struct output_stream *o = cls;
	free(o->pending);
	free(o);
}

static enum MHD_Result bad(struct http_req *r, const char *field, const char *msg)
{
	cJSON *d = cJSON_CreateArray();
	cJSON_AddItemToArray(d, http_detail(field, msg));
	return http_reply_error(r, 400, "invalid_argument", d, "query parameter %s: %s", field, msg);
}

/* Parses an offset parameter; false if malformed. */
static bool parse_offset(const char *v, uint64_t *out)
{
	char *end;
	if (!v)
		return true;
	if (!*v || *v == '-')
		return false;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

enum MHD_Result output_get(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT);
	const char *stream = http_query(r, "stream"), *follow = http_query(r, "follow");
	struct output_stream *o = calloc(1, sizeof *o);
	if (!o)
		return MHD_NO;
	snprintf(o->id, sizeof o->id, "%s", r->params[0]);
	o->format = accept && strstr(accept, "application/octet-stream") ? FORMAT_RAW :
		    accept && strstr(accept, "text/event-stream") ? FORMAT_SSE : FORMAT_NDJSON;

	enum MHD_Result res;
	const char *problem_field = NULL, *problem = NULL;
	if (!stream)
		stream = o->format == FORMAT_RAW ? "stdout" : "both";
	o->want[0] = strcmp(stream, "stdout") == 0 || strcmp(stream, "both") == 0;
	o->want[1] = strcmp(stream, "stderr") == 0 || strcmp(stream, "both") == 0;
	if (!o->want[0] && !o->want[1])
		problem_field = "stream", problem = "must be stdout, stderr or both";
	else if (o->format == FORMAT_RAW && o->want[0] && o->want[1])
		problem_field = "stream", problem = "raw output (application/octet-stream) is one stream: stdout or stderr";
	else if (follow && strcmp(follow, "false") != 0)
		problem_field = "follow", problem = "following live output is not supported by this server yet; omit follow";
	else if (!parse_offset(http_query(r, "offset"), &o->offset[o->want[0] ? 0 : 1]))
		problem_field = "offset", problem = "must be a byte offset (integer >= 0)";
	else if (!parse_offset(http_query(r, "stdout_offset"), &o->offset[0]))
		problem_field = "stdout_offset", problem = "must be a byte offset (integer >= 0)";
	else if (!parse_offset(http_query(r, "stderr_offset"), &o->offset[1]))
		problem_field = "stderr_offset", problem = "must be a byte offset (integer >= 0)";
	if (problem) {
		free(o);
		return bad(r, problem_field, problem);
	}
	/* SSE resume: Last-Event-ID is "<stdout offset>-<stderr offset>". */
	const char *last = http_header(r, "Last-Event-ID");
	if (last && o->format == FORMAT_SSE &&
	    sscanf(last, "%" SCNu64 "-%" SCNu64, &o->offset[0], &o->offset[1]) != 2) {
		free(o);
		return bad(r, "Last-Event-ID", "must be an id this server sent");
	}
	cJSON *rec = proc_get_json(o->id, 0);
	if (!rec) {
		res = http_reply_error(r, 404, "not_found", NULL, "no process with id %s", o->id);
		free(o);
		return res;
	}
	cJSON_Delete(rec);

	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK,
		o->format == FORMAT_RAW ? read_raw : read_events, o, free_stream);
	if (!resp) {
		free_stream(o);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		o->format == FORMAT_RAW ? "application/octet-stream" :
		o->format == FORMAT_SSE ? "text/event-stream" : "application/x-ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return http_reply_response(r, 200, resp);
}
