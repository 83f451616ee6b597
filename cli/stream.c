/* stream — printing and following a process's output.
 *
 * Design: text mode follows the two raw streams at once (two GETs with
 * follow=true on one curl multi handle) rather than the NDJSON of both: raw
 * bytes are exact (NDJSON data is text, with U+FFFD for invalid bytes and a
 * NUL cutting a C string short), and each stream keeps its own order, as a
 * local process's stdout and stderr do. Each raw follow ends when the process
 * has ended and its pipes are drained, so the output is complete when they
 * return; the exit code comes from the record afterwards.
 *
 * --tail needs the end of what exists, so the captured bytes are fetched
 * once, their last lines printed, and a follow (if asked) resumes at the
 * byte after them: nothing is printed twice or missed in between.
 *
 * JSON mode relays the server's NDJSON lines, which carry offsets, exit code
 * and gaps; heartbeats are left out since they tell a pipe nothing.
 */
#define _GNU_SOURCE
#include "cli/stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/common.h"
#include "cli/http.h"
#include "lib/fdio.h"

static const char *const stream_names[2] = { "stdout", "stderr" };

int line_splitter_data(const char *data, size_t len, void *arg)
{
	struct line_splitter *s = arg;
	size_t start = 0;

	if (s->len + len + 1 > s->cap) {
		size_t cap = (s->len + len + 1) * 2;
		char *grown = realloc(s->buf, cap);
		if (!grown)
			return 1;
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	for (size_t i = 0; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		s->buf[i] = '\0';
		if (s->fn(s->buf + start, i - start, s->arg) != 0)
			return 1;
		start = i + 1;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	return 0;
}

int line_splitter_finish(struct line_splitter *s)
{
	int r = 0;
	if (s->len > 0) {
		s->buf[s->len] = '\0';
		r = s->fn(s->buf, s->len, s->arg);
	}
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
	return r;
}

/* ---- text: raw bytes ---------------------------------------------------- */

static int write_fd1(const char *buf, size_t len, void *arg)
{
	return fdio_write_all(STDOUT_FILENO, buf, len) == 0 ? 0 : 1;
}

static int write_fd2(const char *buf, size_t len, void *arg)
{
	return fdio_write_all(STDERR_FILENO, buf, len) == 0 ? 0 : 1;
}

static char *output_path(const char *id, int stream, uint64_t offset, bool follow)
{
	char *esc = http_escape(id), *path = NULL;
	if (esc && asprintf(&path, "/processes/%s/output?stream=%s&offset=%" PRIu64 "%s", esc,
			    stream_names[stream], offset, follow ? "&follow=true" : "") < 0)
		path = NULL;
	free(esc);
	return path;
}

/* Where the last n lines of buf start (a final newline ends the last line, it
 * does not start an empty one). */
static size_t tail_start(const char *buf, size_t len, long long n)
{
	size_t i = len;
	if (n == 0)
		return len;
	if (i > 0 && buf[i - 1] == '\n')
		i--;
	while (i > 0) {
		if (buf[i - 1] == '\n' && --n == 0)
			return i;
		i--;
	}
	return 0;
}

/* Prints the last req->tail lines of each wanted stream; offsets[] end up
 * after what exists now. */
static int print_tails(const struct output_request *req, uint64_t offsets[2])
{
	for (int s = 0; s < 2; s++) {
		struct http_resp r;
		char *path;
		if (!(req->want & (1u << s)))
			continue;
		if (!(path = output_path(req->id, s, offsets[s], false)))
			return EXIT_CLI;
		http_request("GET", path, NULL, 0, NULL, "application/octet-stream", NULL, &r);
		free(path);
		if (r.status != 200 && r.status != 204) {
			int rc = http_fail(&r, "logs");
			http_resp_release(&r);
			return rc;
		}
		size_t start = tail_start(r.body ? r.body : "", r.len, req->tail);
		if (fdio_write_all(s == 0 ? STDOUT_FILENO : STDERR_FILENO, r.body + start, r.len - start) != 0) {
			http_resp_release(&r);
			return EXIT_CLI;
		}
		offsets[s] += r.len;
		http_resp_release(&r);
	}
	return 0;
}

static int show_raw(const struct output_request *req)
{
	uint64_t offsets[2] = { req->offset[0], req->offset[1] };
	struct http_sink sinks[2] = { { .data = write_fd1 }, { .data = write_fd2 } }, used[2];
	struct http_resp resps[2] = { 0 };
	char *paths[2] = { NULL, NULL };
	int n = 0, rc = 0;

	if (req->tail >= 0 && (rc = print_tails(req, offsets)) != 0)
		return rc;
	if (req->tail >= 0 && !req->follow)
		return 0;
	for (int s = 0; s < 2; s++) {
		if (!(req->want & (1u << s)))
			continue;
		used[n] = sinks[s];
		if (!(paths[n++] = output_path(req->id, s, offsets[s], req->follow)))
			rc = EXIT_CLI;
	}
	if (rc == 0)
		http_get_many((const char *const *)paths, "application/octet-stream", used, resps, n);
	for (int i = 0; i < n; i++) {
		if (rc == 0 && resps[i].status != 200 && resps[i].status != 204)
			rc = http_fail(&resps[i], "output");
		http_resp_release(&resps[i]);
		free(paths[i]);
	}
	return rc;
}

/* ---- json: the server's NDJSON ------------------------------------------ */

struct json_relay {
	cJSON *exit_line;
};

static int relay_line(const char *line, size_t len, void *arg)
{
	struct json_relay *relay = arg;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const char *event = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "event"));

	if (!event || strcmp(event, "heartbeat") != 0) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		fflush(stdout);
	}
	if (event && strcmp(event, "exit") == 0 && !relay->exit_line) {
		relay->exit_line = j;
		return 0;
	}
	cJSON_Delete(j);
	return 0;
}

/* The NDJSON output path: one stream takes offset=, both the per-stream pair. */
static char *json_path(const struct output_request *req)
{
	const char *follow = req->follow ? "&follow=true" : "";
	char *esc = http_escape(req->id), *path = NULL;
	int n = -1;

	if (!esc)
		return NULL;
	if (req->want == (WANT_STDOUT | WANT_STDERR))
		n = asprintf(&path, "/processes/%s/output?stream=both&stdout_offset=%" PRIu64
			     "&stderr_offset=%" PRIu64 "%s", esc, req->offset[0], req->offset[1], follow);
	else
		n = asprintf(&path, "/processes/%s/output?stream=%s&offset=%" PRIu64 "%s", esc,
			     req->want == WANT_STDOUT ? "stdout" : "stderr",
			     req->offset[req->want == WANT_STDOUT ? 0 : 1], follow);
	free(esc);
	return n < 0 ? NULL : path;
}

static int show_json(const struct output_request *req, cJSON **exit_line)
{
	struct json_relay relay = { 0 };
	struct line_splitter split = { .fn = relay_line, .arg = &relay };
	struct http_sink sink = { .data = line_splitter_data, .arg = &split };
	char *path = json_path(req);
	struct http_resp r;
	int rc = 0;

	if (!path)
		return EXIT_CLI;
	http_request("GET", path, NULL, 0, NULL, "application/x-ndjson", &sink, &r);
	line_splitter_finish(&split);
	free(path);
	if (r.status != 200 && r.status != 204)
		rc = http_fail(&r, "output");
	http_resp_release(&r);
	if (exit_line)
		*exit_line = relay.exit_line;
	else
		cJSON_Delete(relay.exit_line);
	return rc;
}

int output_show(const struct output_request *req, cJSON **exit_line)
{
	if (exit_line)
		*exit_line = NULL;
	return req->json ? show_json(req, exit_line) : show_raw(req);
}
