/* api_follow — live output (issue 3): following a running worker in NDJSON,
 * SSE and raw bytes; lines arriving before the next one is printed; resuming
 * at every offset and after every SSE event id with no duplicate and no gap;
 * late clients; heartbeats; bytes 0x00-0xFF; a slow reader that holds back
 * neither the worker nor a fast reader; 200 idle streams costing little CPU;
 * and a vanished client's stream freed within heartbeat + 1 s.
 *
 * One server (heartbeat 0.5 s, exec targets from tests/fixtures) is shared by
 * the cases; every stream is read with the harness's live responses, which
 * stamp each arrival with the wall clock.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define HEARTBEAT_S 0.5
#define HEARTBEAT_ARG "--heartbeat 0.5"
/* How late a ticker line may arrive after the next one was printed (see the ticker case). */
#define LIVE_MARGIN_MS 100.0
#define BURST_BYTES 10000000
#define SLOW_RATE (64 * 1024)

static const char *const NDJSON = "application/x-ndjson";
static const char *const SSE = "text/event-stream";
static const char *const RAW = "application/octet-stream";

/* ---- parsing NDJSON and SSE output streams ---- */

enum kind { K_OUTPUT, K_EXIT, K_HEARTBEAT, K_GAP, K_OTHER };

struct item {
	enum kind kind;
	int stream;             /* 0 stdout, 1 stderr (output lines) */
	long long offset;
	char *data;             /* "data" decoded from the JSON text (may hold NUL bytes) */
	size_t data_len;
	cJSON *json;            /* NULL for a heartbeat comment */
	char sse_event[32];
	char sse_id[64];
	bool has_id;
};

struct items {
	struct item *v;
	int n;
	char err[512];
};

static void items_free(struct items *it)
{
	for (int i = 0; i < it->n; i++) {
		free(it->v[i].data);
		cJSON_Delete(it->v[i].json);
	}
	free(it->v);
	memset(it, 0, sizeof *it);
}

static struct item *items_add(struct items *it)
{
	struct item *grown = realloc(it->v, (size_t)(it->n + 1) * sizeof *grown);

	if (!grown)
		abort();
	it->v = grown;
	memset(&it->v[it->n], 0, sizeof it->v[0]);
	return &it->v[it->n++];
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4, cp = c & 0x07;
		else
			return false;
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static bool hex4(const char *p, const char *end, unsigned *cp)
{
	*cp = 0;
	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return false;
		*cp = *cp * 16 + (unsigned)h;
	}
	return true;
}

/* Decodes the JSON string value of "key" in the object text [p, end) into a
 * malloc'd byte buffer (cJSON stops at an escaped NUL; this does not). */
static bool json_string_bytes(const char *p, const char *end, const char *key, char **out, size_t *out_len)
{
	char pat[64];
	const char *s;
	char *buf, *o;

	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	s = memmem(p, (size_t)(end - p), pat, strlen(pat));
	if (!s)
		return false;
	s += strlen(pat);
	buf = malloc((size_t)(end - s) + 1);
	if (!buf)
		abort();
	o = buf;
	while (s < end && *s != '"') {
		unsigned cp, lo;
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		if (s + 1 >= end)
			break;
		switch (s[1]) {
		case '"': *o++ = '"'; s += 2; continue;
		case '\\': *o++ = '\\'; s += 2; continue;
		case '/': *o++ = '/'; s += 2; continue;
		case 'b': *o++ = '\b'; s += 2; continue;
		case 'f': *o++ = '\f'; s += 2; continue;
		case 'n': *o++ = '\n'; s += 2; continue;
		case 'r': *o++ = '\r'; s += 2; continue;
		case 't': *o++ = '\t'; s += 2; continue;
		case 'u':
			if (!hex4(s + 2, end, &cp))
				goto bad;
			s += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
			    hex4(s + 2, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				s += 6;
			}
			o += put_utf8(cp, o);
			continue;
		default:
			goto bad;
		}
	}
	if (s >= end)
		goto bad;
	*out = buf;
	*out_len = (size_t)(o - buf);
	return true;
bad:
	free(buf);
	return false;
}

/* Fills it from one JSON object text (an NDJSON line or an SSE data field). */
static bool item_from_json(struct items *it, const char *text, size_t len, const char *sse_event,
			   const char *sse_id)
{
	struct item *x;
	cJSON *j;
	const char *event;

	if (!utf8_valid((const unsigned char *)text, len)) {
		snprintf(it->err, sizeof it->err, "item %d is not valid UTF-8: %.200s", it->n, text);
		return false;
	}
	j = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(it->err, sizeof it->err, "item %d is not a JSON object: %.*s", it->n,
			 (int)(len < 300 ? len : 300), text);
		return false;
	}
	x = items_add(it);
	x->json = j;
	if (sse_event)
		snprintf(x->sse_event, sizeof x->sse_event, "%s", sse_event);
	if (sse_id) {
		snprintf(x->sse_id, sizeof x->sse_id, "%s", sse_id);
		x->has_id = true;
	}
	event = jstr(j, "event");
	if (event) {
		x->kind = !strcmp(event, "exit") ? K_EXIT : !strcmp(event, "heartbeat") ? K_HEARTBEAT :
			  !strcmp(event, "gap") ? K_GAP : K_OTHER;
		return true;
	}
	const char *stream = jstr(j, "stream");
	x->kind = K_OUTPUT;
	x->stream = stream && !strcmp(stream, "stdout") ? 0 : stream && !strcmp(stream, "stderr") ? 1 : -1;
	x->offset = jint(j, "offset", -1);
	if (x->stream < 0 || x->offset < 0 || !rfc3339_ms(jstr(j, "ts")) ||
	    !json_string_bytes(text, text + len, "data", &x->data, &x->data_len)) {
		snprintf(it->err, sizeof it->err, "output item %d lacks stream, offset, data or ts: %.300s", it->n - 1,
			 text);
		return false;
	}
	/* Where cJSON can tell (no NUL inside), it must agree with the decoder. */
	const char *cj = jstr(j, "data");
	if (!memchr(x->data, '\0', x->data_len) &&
	    (!cj || strlen(cj) != x->data_len || memcmp(cj, x->data, x->data_len) != 0)) {
		snprintf(it->err, sizeof it->err, "output item %d: data decodes differently: %.300s", it->n - 1, text);
		return false;
	}
	return true;
}

/* Parses the complete NDJSON lines of body. */
static bool parse_ndjson_items(const char *body, size_t len, struct items *it)
{
	const char *p = body, *end = body + len;

	memset(it, 0, sizeof *it);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;          /* an incomplete last line: not in yet */
		if (nl == p) {
			snprintf(it->err, sizeof it->err, "empty NDJSON line after item %d", it->n);
			return false;
		}
		if (!item_from_json(it, p, (size_t)(nl - p), NULL, NULL))
			return false;
		p = nl + 1;
	}
	return true;
}

/* Parses the complete SSE events (and heartbeat comments) of body. */
static bool parse_sse_items(const char *body, size_t len, struct items *it)
{
	const char *p = body, *end = body + len;

	memset(it, 0, sizeof *it);
	while (p < end) {
		const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
		char event[32] = "message", id[64] = "";
		bool has_id = false, comment_only = true, heartbeat = false;
		char *data = NULL;
		size_t data_len = 0;

		if (!stop)
			break;
		for (const char *line = p; line < stop;) {
			const char *eol = memchr(line, '\n', (size_t)(stop - line));
			size_t n = eol ? (size_t)(eol - line) : (size_t)(stop - line);
			const char *colon = memchr(line, ':', n);
			size_t name_len = colon ? (size_t)(colon - line) : n;
			const char *value = colon ? colon + 1 : line + n;
			size_t vlen = (size_t)(line + n - value);
			if (vlen && *value == ' ')
				value++, vlen--;
			if (name_len == 0) {
				heartbeat = heartbeat || (vlen == 9 && !memcmp(value, "heartbeat", 9));
			} else {
				comment_only = false;
				if (name_len == 5 && !memcmp(line, "event", 5))
					snprintf(event, sizeof event, "%.*s", (int)vlen, value);
				else if (name_len == 2 && !memcmp(line, "id", 2)) {
					snprintf(id, sizeof id, "%.*s", (int)vlen, value);
					has_id = true;
				} else if (name_len == 4 && !memcmp(line, "data", 4)) {
					char *grown = realloc(data, data_len + vlen + 2);
					if (!grown)
						abort();
					data = grown;
					if (data_len)
						data[data_len++] = '\n';
					memcpy(data + data_len, value, vlen);
					data_len += vlen;
				} else {
					snprintf(it->err, sizeof it->err, "unknown SSE field \"%.*s\" after item %d",
						 (int)name_len, line, it->n);
					free(data);
					return false;
				}
			}
			line += n + 1;
		}
		if (comment_only) {
			if (heartbeat)
				items_add(it)->kind = K_HEARTBEAT;
		} else {
			bool ok = data && item_from_json(it, data, data_len, event, has_id ? id : NULL);
			if (!data)
				snprintf(it->err, sizeof it->err, "SSE event %d without data", it->n);
			free(data);
			if (!ok)
				return false;
			if (strcmp(it->v[it->n - 1].sse_event, it->v[it->n - 1].kind == K_OUTPUT ? "output" :
				   it->v[it->n - 1].kind == K_EXIT ? "exit" : "?") != 0) {
				snprintf(it->err, sizeof it->err, "SSE event %d is named \"%s\"", it->n - 1,
					 it->v[it->n - 1].sse_event);
				return false;
			}
		}
		p = stop + 2;
	}
	return true;
}

static bool parse_items(const char *accept, const char *body, size_t len, struct items *it)
{
	return accept == SSE ? parse_sse_items(body, len, it) : parse_ndjson_items(body, len, it);
}

/* What a complete output looks like from given offsets: each stream's data,
 * contiguous from its offset, byte-exact with raw; the exit line once, last,
 * with the totals; SSE ids "<stdout>-<stderr>" after each event. */
struct expect {
	const char *raw[2];
	size_t raw_len[2];
	bool want[2];
	uint64_t from[2];
	bool sse;
};

static bool check_complete(const struct items *it, const struct expect *e, char *why, size_t why_len)
{
	uint64_t at[2] = { e->from[0], e->from[1] };
	bool exit_seen = false;

	for (int i = 0; i < it->n; i++) {
		const struct item *x = &it->v[i];
		if (x->kind == K_HEARTBEAT)
			continue;
		if (exit_seen) {
			snprintf(why, why_len, "item %d comes after the exit line", i);
			return false;
		}
		if (x->kind == K_OUTPUT) {
			int s = x->stream;
			if (!e->want[s]) {
				snprintf(why, why_len, "item %d is from a stream not asked for", i);
				return false;
			}
			if ((uint64_t)x->offset != at[s]) {
				snprintf(why, why_len, "item %d: %s offset %lld, expected %llu (%s)", i,
					 s ? "stderr" : "stdout", x->offset, (unsigned long long)at[s],
					 (uint64_t)x->offset > at[s] ? "gap" : "duplicate");
				return false;
			}
			if (x->data_len == 0 || at[s] + x->data_len > e->raw_len[s] ||
			    memcmp(e->raw[s] + at[s], x->data, x->data_len) != 0) {
				snprintf(why, why_len, "item %d: %zu data bytes at %s offset %llu differ from the raw output",
					 i, x->data_len, s ? "stderr" : "stdout", (unsigned long long)at[s]);
				return false;
			}
			at[s] += x->data_len;
		} else if (x->kind == K_EXIT) {
			exit_seen = true;
			if (jint(x->json, "stdout_bytes", -1) != (long long)e->raw_len[0] ||
			    jint(x->json, "stderr_bytes", -1) != (long long)e->raw_len[1]) {
				snprintf(why, why_len, "exit line totals %lld/%lld, expected %zu/%zu",
					 jint(x->json, "stdout_bytes", -1), jint(x->json, "stderr_bytes", -1),
					 e->raw_len[0], e->raw_len[1]);
				return false;
			}
		} else {
			char *text = cJSON_PrintUnformatted(x->json);
			snprintf(why, why_len, "item %d is unexpected: %.200s", i, text ? text : "?");
			free(text);
			return false;
		}
		if (e->sse) {
			/* Output: "<stdout offset>-<stderr offset>" after it; exit: the same plus "-exit". */
			char id[64];
			snprintf(id, sizeof id, "%llu-%llu%s", (unsigned long long)(e->want[0] ? at[0] : e->from[0]),
				 (unsigned long long)(e->want[1] ? at[1] : e->from[1]), x->kind == K_EXIT ? "-exit" : "");
			if (!x->has_id || (e->want[0] && e->want[1] && strcmp(x->sse_id, id) != 0)) {
				snprintf(why, why_len, "SSE item %d has id \"%s\", expected \"%s\"", i,
					 x->has_id ? x->sse_id : "(none)", id);
				return false;
			}
		}
	}
	for (int s = 0; s < 2; s++) {
		if (e->want[s] && at[s] != e->raw_len[s]) {
			snprintf(why, why_len, "%s ends at offset %llu of %zu", s ? "stderr" : "stdout",
				 (unsigned long long)at[s], e->raw_len[s]);
			return false;
		}
	}
	if (!exit_seen) {
		snprintf(why, why_len, "no exit line");
		return false;
	}
	return true;
}

/* ---- helpers ---- */

/* Spawns body (no wait) and copies the id. */
static bool spawn_id(const char *body, char *id, char *why, size_t why_len)
{
	struct resp *r = spawn(srv, body, -1);
	bool ok = r->status == 201 && take_id(r, id);

	if (!ok)
		snprintf(why, why_len, "spawn: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	return ok;
}

/* Joins id (up to timeout_s) and checks it exited with code 0. */
static bool joined_ok(const char *id, double timeout_s, char *why, size_t why_len)
{
	struct resp *r = join(srv, id, timeout_s);
	bool ok = r->status == 200 && jis_false(r->json, "alive") && jint(r->json, "exitcode", -1) == 0;

	if (!ok)
		snprintf(why, why_len, "join: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	return ok;
}

/* The raw bytes of one stream of a process (malloc'd, *len). */
static char *raw_output(const char *id, const char *stream, size_t *len)
{
	struct resp *r = output_raw(srv, id, stream);
	char *copy = NULL;

	if (r->status == 200) {
		copy = malloc(r->len + 1);
		if (!copy)
			abort();
		memcpy(copy, r->body, r->len + 1);
		*len = r->len;
	}
	resp_free(r);
	return copy;
}

static bool streams_open_is(void *arg)
{
	return metric_value(srv, "spawnd_streams_open") == *(double *)arg;
}

static bool live_has_status(void *arg)
{
	struct live **ls = arg;

	for (int i = 0; ls[i]; i++)
		if (!ls[i]->status && !ls[i]->done)
			return false;
	return true;
}

static struct resp *terminate(const char *id)
{
	return postf(srv, NULL, "/processes/%s/terminate", id);
}

/* ---- cases ---- */

static char ticker_id[ID_CAP];
static char *ticker_raw;
static size_t ticker_len;

/* The fixture prints "tick N T" (T: its wall clock in ms when it wrote the line)
 * every 100 ms; line i must reach a following client before line i+1 is
 * written (plus a margin for a noisy machine: still far below the 500 ms a
 * heartbeat-paced or end-buffered stream would take). NDJSON and SSE follow at
 * once; the first tick comes 300 ms after the start, when both are in. */
static void test_ticker_lines_arrive_before_next_is_printed(void)
{
	const char *accepts[2] = { NDJSON, SSE };
	struct live *ls[3] = { NULL, NULL, NULL };
	char path[256], why[512];
	long long printed[11] = { 0 };
	struct items it[2];

	CHECK_MSG(spawn_id("{\"target\": \"clock_ticker\", \"args\": [10, 100, 300]}", ticker_id, why, sizeof why), "%s", why);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", ticker_id);
	for (int k = 0; k < 2; k++)
		ls[k] = live_open(srv, path, accepts[k]);
	CHECK_MSG(live_wait_done(ls[0], 20) && live_wait_done(ls[1], 5), "the follows did not end within 20 s");
	for (int k = 0; k < 2; k++) {
		CHECK_MSG(ls[k]->status == 200 && !ls[k]->error[0], "%s follow: status %ld %s", accepts[k],
			  ls[k]->status, ls[k]->error);
		CHECK_MSG(strncmp(ls[k]->content_type, accepts[k], strlen(accepts[k])) == 0, "content type %s for %s",
			  ls[k]->content_type, accepts[k]);
	}
	ticker_raw = raw_output(ticker_id, "stdout", &ticker_len);
	CHECK_MSG(ticker_raw, "no raw output");
	for (int k = 0; k < 2; k++) {
		struct expect e = { .raw = { ticker_raw, "" }, .raw_len = { ticker_len, 0 }, .want = { true, false },
				    .sse = accepts[k] == SSE };
		bool ok = parse_items(accepts[k], ls[k]->body, ls[k]->len, &it[k]);
		CHECK_MSG(ok, "%s: %s", accepts[k], it[k].err);
		ok = check_complete(&it[k], &e, why, sizeof why);
		if (!ok)
			items_free(&it[k]);
		CHECK_MSG(ok, "%s follow: %s", accepts[k], why);
		items_free(&it[k]);
	}
	/* Print times from the raw output. */
	{
		int n = 0;
		for (const char *p = ticker_raw; p && *p && n < 10;) {
			int num;
			long long t;
			if (sscanf(p, "tick %d %lld", &num, &t) != 2 || num != n + 1)
				CHECK_FAIL("raw output line %d: %.40s", n + 1, p);
			printed[++n] = t;
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
		CHECK_MSG(n == 10, "%d tick lines in %s", n, ticker_raw);
	}
	/* Receive time of each tick: the arrival of the byte in the body that ends its line. */
	for (int k = 0; k < 2; k++) {
		const struct live *l = ls[k];
		for (int i = 1; i < 10; i++) {
			char needle[32];
			const char *at, *eol;
			double recv;
			snprintf(needle, sizeof needle, "tick %d ", i);
			at = memmem(l->body, l->len, needle, strlen(needle));
			CHECK_MSG(at, "%s: tick %d not in the stream", accepts[k], i);
			eol = memchr(at, '\n', l->len - (size_t)(at - l->body));
			CHECK(eol);
			recv = live_arrival_ms(l, (size_t)(eol - l->body));
			CHECK_MSG(recv > 0, "no arrival time for tick %d", i);
			CHECK_MSG(recv < (double)printed[i + 1] + LIVE_MARGIN_MS,
				  "%s: tick %d arrived %.0f ms after it was printed, %.0f ms after tick %d was printed "
				  "(allowed: %.0f ms)", accepts[k], i, recv - (double)printed[i],
				  recv - (double)printed[i + 1], i + 1, LIVE_MARGIN_MS);
		}
	}
	live_close(ls[0]);
	live_close(ls[1]);
}

/* A finished process followed from every offset 0..len gives exactly the
 * raw bytes from there, then the exit line; past the end is a 400. */
static void test_resume_at_every_offset(void)
{
	char path[256], why[512];

	CHECK_MSG(ticker_raw && ticker_len > 100, "needs the ticker case's output");
	for (size_t k = 0; k <= ticker_len + 1; k++) {
		struct items it;
		struct expect e = { .raw = { ticker_raw, "" }, .raw_len = { ticker_len, 0 }, .want = { true, false },
				    .from = { k > ticker_len ? ticker_len : k, 0 } };
		struct resp *r;
		bool ok;
		snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout&offset=%zu", ticker_id,
			 k + (k > ticker_len ? 10 : 0));
		r = http(srv, "GET", path, NULL, NULL, NDJSON);
		if (k > ticker_len) {
			CHECK_ERROR(r, 400, "invalid_argument");
			CHECK_FIELD(r, "offset");
			resp_free(r);
			continue;
		}
		CHECK_STATUS(r, 200);
		ok = parse_ndjson_items(r->body, r->len, &it);
		CHECK_MSG(ok, "offset %zu: %s", k, it.err);
		ok = check_complete(&it, &e, why, sizeof why);
		items_free(&it);
		CHECK_MSG(ok, "offset %zu: %s; body: %.300s", k, why, r->body);
		resp_free(r);
	}
}

/* Interleaved stdout and stderr, written apart so that they are separate events. */
#define CHUNKS_BOTH "{\"target\": \"chunks\", \"args\": [\"o:out one\\\\n\", \"+40\", \"e:err one\\\\n\", \"+40\", " \
	"\"o:out two\\\\n\", \"+40\", \"o:out three\\\\n\", \"+40\", \"e:err two\\\\n\", \"+40\", \"e:err three\\\\n\", " \
	"\"+40\", \"o:caf\\\\xc3\\\\xa9 \\\\xe2\\\\x82\\\\xac\\\\n\"]}"
static char both_id[ID_CAP];
static char *both_raw[2];
static size_t both_len[2];

static void test_both_streams_every_offset_pair(void)
{
	char path[256], why[512];

	CHECK_MSG(spawn_id(CHUNKS_BOTH, both_id, why, sizeof why), "%s", why);
	CHECK_MSG(joined_ok(both_id, 20, why, sizeof why), "%s", why);
	both_raw[0] = raw_output(both_id, "stdout", &both_len[0]);
	both_raw[1] = raw_output(both_id, "stderr", &both_len[1]);
	CHECK_MSG(both_raw[0] && both_raw[1], "no raw output");
	CHECK_STR(both_raw[0], "out one\nout two\nout three\ncaf\xc3\xa9 \xe2\x82\xac\n");
	CHECK_STR(both_raw[1], "err one\nerr two\nerr three\n");
	/* Offsets on character boundaries only: inside a character the data cannot be byte-exact. */
	for (size_t a = 0; a <= both_len[0]; a++) {
		if (a < both_len[0] && (both_raw[0][a] & 0xC0) == 0x80)
			continue;
		for (size_t b = 0; b <= both_len[1]; b++) {
			struct items it;
			struct expect e = { .raw = { both_raw[0], both_raw[1] }, .raw_len = { both_len[0], both_len[1] },
					    .want = { true, true }, .from = { a, b } };
			struct resp *r;
			bool ok;
			snprintf(path, sizeof path, "/processes/%s/output?follow=%s&stream=both&stdout_offset=%zu&stderr_offset=%zu",
				 both_id, (a + b) % 2 ? "true" : "false", a, b);
			r = http(srv, "GET", path, NULL, NULL, NDJSON);
			CHECK_STATUS(r, 200);
			ok = parse_ndjson_items(r->body, r->len, &it);
			CHECK_MSG(ok, "%s: %s", path, it.err);
			ok = check_complete(&it, &e, why, sizeof why);
			items_free(&it);
			CHECK_MSG(ok, "%s: %s; body: %.300s", path, why, r->body);
			resp_free(r);
		}
	}
}

/* An SSE follow of a running process, then a resume with Last-Event-ID after
 * each event it got: every resume holds exactly the rest, ids included. */
static void test_sse_last_event_id_resume_after_each_event(void)
{
	char path[256], why[512], id[ID_CAP];
	struct live *l;
	struct items all;
	bool ok;

	CHECK_MSG(spawn_id(CHUNKS_BOTH, id, why, sizeof why), "%s", why);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=both", id);
	l = live_open(srv, path, SSE);
	CHECK_MSG(live_wait_done(l, 20), "the SSE follow did not end");
	CHECK_MSG(l->status == 200 && !l->error[0], "SSE follow: %ld %s", l->status, l->error);
	{
		char *raw[2];
		size_t len[2];
		raw[0] = raw_output(id, "stdout", &len[0]);
		raw[1] = raw_output(id, "stderr", &len[1]);
		ok = raw[0] && raw[1] && len[0] == both_len[0] && len[1] == both_len[1] &&
		     !memcmp(raw[0], both_raw[0], len[0]) && !memcmp(raw[1], both_raw[1], len[1]);
		free(raw[0]);
		free(raw[1]);
		CHECK_MSG(ok, "the second run of chunks printed something else");
	}
	ok = parse_sse_items(l->body, l->len, &all);
	CHECK_MSG(ok, "%s", all.err);
	{
		struct expect e = { .raw = { both_raw[0], both_raw[1] }, .raw_len = { both_len[0], both_len[1] },
				    .want = { true, true }, .sse = true };
		ok = check_complete(&all, &e, why, sizeof why);
		if (!ok)
			items_free(&all);
		CHECK_MSG(ok, "live SSE follow: %s; body: %.400s", why, l->body);
	}
	live_close(l);
	/* Resume after every output event (the exit event: next case). */
	for (int i = 0; i < all.n; i++) {
		const struct item *x = &all.v[i];
		unsigned long long a, b;
		char header[128];
		const char *headers[] = { "Accept: text/event-stream", header, NULL };
		struct items rest;
		struct live *r;
		if (x->kind != K_OUTPUT)
			continue;
		ok = sscanf(x->sse_id, "%llu-%llu", &a, &b) == 2;
		if (!ok)
			items_free(&all);
		CHECK_MSG(ok, "SSE id \"%s\"", x->sse_id);
		snprintf(header, sizeof header, "Last-Event-ID: %s", x->sse_id);
		r = live_request(srv, "GET", path, headers, NULL, 0, 0);
		ok = live_wait_done(r, 10) && r->status == 200;
		if (!ok)
			items_free(&all);
		CHECK_MSG(ok, "resume after %s: status %ld %s", x->sse_id, r->status, r->error);
		ok = parse_sse_items(r->body, r->len, &rest);
		if (ok) {
			struct expect e = { .raw = { both_raw[0], both_raw[1] }, .raw_len = { both_len[0], both_len[1] },
					    .want = { true, true }, .from = { a, b }, .sse = true };
			ok = check_complete(&rest, &e, why, sizeof why);
		} else {
			snprintf(why, sizeof why, "%s", rest.err);
		}
		items_free(&rest);
		if (!ok)
			items_free(&all);
		CHECK_MSG(ok, "Last-Event-ID %s: %s; body: %.400s", x->sse_id, why, r->body);
		live_close(r);
	}
	items_free(&all);
}

/* Resuming after the last event (the exit event) must not repeat it: the
 * client has seen everything. (A browser EventSource reconnects when a stream
 * ends and sends that id.) */
static void test_sse_resume_after_exit_event_repeats_nothing(void)
{
	char path[256], header[128], exit_id[64] = "";
	const char *headers[] = { "Accept: text/event-stream", header, NULL };
	struct items it;
	struct live *l;
	int exits = 0, outputs = 0;
	bool ok;

	CHECK_MSG(both_id[0] && both_raw[0], "needs the both-streams case");
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=both", both_id);
	/* The exit event's id, as sent. */
	l = live_open(srv, path, SSE);
	CHECK_MSG(live_wait_done(l, 10), "the SSE follow of an ended process did not end");
	ok = parse_sse_items(l->body, l->len, &it);
	CHECK_MSG(ok, "%s", it.err);
	for (int i = 0; i < it.n; i++)
		if (it.v[i].kind == K_EXIT && it.v[i].has_id)
			snprintf(exit_id, sizeof exit_id, "%s", it.v[i].sse_id);
	items_free(&it);
	live_close(l);
	CHECK_MSG(exit_id[0], "no exit event with an id");
	snprintf(header, sizeof header, "Last-Event-ID: %s", exit_id);
	l = live_request(srv, "GET", path, headers, NULL, 0, 0);
	CHECK_MSG(live_wait_done(l, 10), "the resume after the exit event did not end");
	ok = parse_sse_items(l->body, l->len, &it);
	CHECK_MSG(ok, "%s", it.err);
	for (int i = 0; i < it.n; i++) {
		exits += it.v[i].kind == K_EXIT;
		outputs += it.v[i].kind == K_OUTPUT;
	}
	items_free(&it);
	/* 204: what stops an EventSource from reconnecting forever to an ended process. */
	CHECK_MSG(l->status == 204, "GET %s with %s -> %ld (expected 204): %.300s", path, header, l->status, l->body);
	CHECK_MSG(outputs == 0, "output events after the last id: %.300s", l->body);
	CHECK_MSG(exits == 0, "GET %s with %s (the id of the exit event already received) -> %ld, "
		  "the exit event again (a duplicate): %.300s", path, header, l->status, l->body);
	live_close(l);
}

/* A browser's story: follow a running ticker over SSE, lose the connection after
 * three events, reconnect with the last id, and get the rest: together byte-exact. */
static void test_sse_reconnect_while_running(void)
{
	char path[256], why[512], id[ID_CAP], header[128];
	const char *headers[] = { "Accept: text/event-stream", header, NULL };
	struct items first, second;
	struct live *l;
	char last_id[64] = "";
	size_t got = 0;
	char *raw;
	size_t raw_len;
	bool ok;

	CHECK_MSG(spawn_id("{\"target\": \"clock_ticker\", \"args\": [8, 100, 200]}", id, why, sizeof why), "%s", why);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", id);
	l = live_open(srv, path, SSE);
	CHECK_MSG(live_wait_for(l, "tick 3 ", 10), "tick 3 did not arrive: %s", l->body);
	/* Drop the connection at an event boundary (what the client has fully seen). */
	live_pump(0.01);
	ok = parse_sse_items(l->body, l->len, &first);
	CHECK_MSG(ok, "%s", first.err);
	for (int i = 0; i < first.n; i++) {
		if (first.v[i].kind == K_OUTPUT) {
			snprintf(last_id, sizeof last_id, "%s", first.v[i].sse_id);
			got = (size_t)first.v[i].offset + first.v[i].data_len;
		}
	}
	items_free(&first);
	live_close(l);
	CHECK_MSG(last_id[0], "no output event before the reconnect");
	snprintf(header, sizeof header, "Last-Event-ID: %s", last_id);
	l = live_request(srv, "GET", path, headers, NULL, 0, 0);
	CHECK_MSG(live_wait_done(l, 20), "the resumed follow did not end");
	CHECK_MSG(joined_ok(id, 10, why, sizeof why), "%s", why);
	raw = raw_output(id, "stdout", &raw_len);
	CHECK_MSG(raw && raw_len > got, "raw output of %zu bytes, %zu seen before the reconnect", raw_len, got);
	ok = parse_sse_items(l->body, l->len, &second);
	if (ok) {
		struct expect e = { .raw = { raw, "" }, .raw_len = { raw_len, 0 }, .want = { true, false },
				    .from = { got, 0 }, .sse = true };
		ok = check_complete(&second, &e, why, sizeof why);
	} else {
		snprintf(why, sizeof why, "%s", second.err);
	}
	items_free(&second);
	free(raw);
	CHECK_MSG(ok, "after Last-Event-ID %s: %s; body %.300s", last_id, why, l->body);
	live_close(l);
}

/* A process that ended before anyone asked: a follow gets everything, then
 * the exit line, and ends (NDJSON, SSE, raw). */
static void test_late_client_gets_everything(void)
{
	const char *accepts[3] = { NDJSON, SSE, RAW };
	char path[256], why[512];

	CHECK_MSG(both_id[0] && both_raw[0], "needs the both-streams case");
	for (int k = 0; k < 3; k++) {
		struct items it;
		struct live *l;
		bool ok;
		snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=%s", both_id,
			 accepts[k] == RAW ? "stderr" : "both");
		l = live_open(srv, path, accepts[k]);
		CHECK_MSG(live_wait_done(l, 10), "%s follow of an ended process did not end", accepts[k]);
		CHECK_MSG(l->status == 200 && !l->error[0], "%s: %ld %s", accepts[k], l->status, l->error);
		if (accepts[k] == RAW) {
			CHECK_MSG(l->len == both_len[1] && !memcmp(l->body, both_raw[1], both_len[1]),
				  "raw follow: %zu bytes \"%s\"", l->len, l->body);
		} else {
			struct expect e = { .raw = { both_raw[0], both_raw[1] },
					    .raw_len = { both_len[0], both_len[1] }, .want = { true, true },
					    .sse = accepts[k] == SSE };
			ok = parse_items(accepts[k], l->body, l->len, &it);
			CHECK_MSG(ok, "%s: %s", accepts[k], it.err);
			ok = check_complete(&it, &e, why, sizeof why);
			items_free(&it);
			CHECK_MSG(ok, "%s: %s; body %.300s", accepts[k], why, l->body);
		}
		live_close(l);
	}
}

/* Heartbeats on an idle follow (sleep target), at least every heartbeat
 * interval; the raw form stays silent. Terminating the worker ends them all
 * with the exit line. */
static void test_heartbeats_on_idle_follow(void)
{
	const char *accepts[3] = { NDJSON, SSE, RAW };
	struct live *ls[3];
	char path[256], why[512], id[ID_CAP];
	struct resp *r;

	CHECK_MSG(spawn_id("{\"target\": \"sleep\", \"args\": [30]}", id, why, sizeof why), "%s", why);
	for (int k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=%s", id,
			 accepts[k] == RAW ? "stdout" : "both");
		ls[k] = live_open(srv, path, accepts[k]);
	}
	live_pump(4 * HEARTBEAT_S + 0.2);
	for (int k = 0; k < 2; k++) {
		struct items it;
		int beats = 0;
		double prev;
		bool ok = parse_items(accepts[k], ls[k]->body, ls[k]->len, &it);
		CHECK_MSG(ok, "%s: %s", accepts[k], it.err);
		for (int i = 0; i < it.n; i++)
			beats += it.v[i].kind == K_HEARTBEAT;
		ok = beats == it.n;
		items_free(&it);
		CHECK_MSG(ok, "%s: an idle follow sent more than heartbeats: %.300s", accepts[k], ls[k]->body);
		CHECK_MSG(beats >= 3, "%s: %d heartbeats in %.1f s at --heartbeat %.1f: %.300s", accepts[k], beats,
			  4 * HEARTBEAT_S + 0.2, HEARTBEAT_S, ls[k]->body);
		/* At least every interval (each arrival holds one heartbeat or more). */
		prev = ls[k]->narrivals ? ls[k]->arrivals[0].wall_ms : 0;
		for (size_t i = 1; i < ls[k]->narrivals; i++) {
			double gap = ls[k]->arrivals[i].wall_ms - prev;
			CHECK_MSG(gap < HEARTBEAT_S * 1000 + 400, "%s: %.0f ms between heartbeats at --heartbeat %.1f",
				  accepts[k], gap, HEARTBEAT_S);
			prev = ls[k]->arrivals[i].wall_ms;
		}
	}
	CHECK_MSG(ls[2]->len == 0 && !ls[2]->done, "raw follow of an idle worker: %zu bytes, done %d",
		  ls[2]->len, ls[2]->done);
	r = terminate(id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	for (int k = 0; k < 3; k++) {
		CHECK_MSG(live_wait_done(ls[k], 10), "%s follow did not end after the worker was terminated", accepts[k]);
		CHECK_MSG(!ls[k]->error[0], "%s: %s", accepts[k], ls[k]->error);
	}
	for (int k = 0; k < 2; k++) {
		struct items it;
		const struct item *last;
		bool ok = parse_items(accepts[k], ls[k]->body, ls[k]->len, &it);
		CHECK_MSG(ok, "%s: %s", accepts[k], it.err);
		last = it.n ? &it.v[it.n - 1] : NULL;
		ok = last && last->kind == K_EXIT && jstr(last->json, "reason") &&
		     !strcmp(jstr(last->json, "reason"), "terminate") && jstr(last->json, "signal") &&
		     !strcmp(jstr(last->json, "signal"), "SIGTERM") && jint(last->json, "exitcode", 0) == -15;
		items_free(&it);
		CHECK_MSG(ok, "%s: no terminate exit line at the end: %.400s", accepts[k], ls[k]->body);
	}
	for (int k = 0; k < 3; k++)
		live_close(ls[k]);
}

/* The expected `data` of raw bytes: valid UTF-8 kept, every other byte U+FFFD. */
static char *sanitized(const unsigned char *raw, size_t len, size_t *out_len)
{
	char *out = malloc(len * 3 + 1);
	size_t o = 0;

	if (!out)
		abort();
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		for (size_t k = 1; k <= 4 && i + k <= len && !n; k++)
			n = utf8_valid(raw + i, k) ? k : 0;
		if (n) {
			memcpy(out + o, raw + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	*out_len = o;
	return out;
}

/* Bytes 0x00-0xFF: every NDJSON line and SSE event is valid JSON (and UTF-8),
 * data is the bytes with each invalid one as U+FFFD (0x00 included, as
 * \u0000), offsets count raw bytes; the raw form is byte-exact. */
static void test_bytes_00_ff_json_and_raw(void)
{
	static const char *const variants[][2] = {
		{ "application/x-ndjson", "false" }, { "application/x-ndjson", "true" },
		{ "text/event-stream", "true" }, { "application/octet-stream", "false" },
		{ "application/octet-stream", "true" },
	};
	unsigned char raw[1024];
	char path[256], why[512], id[ID_CAP];
	char *want;
	size_t want_len;

	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)(i % 256);
	CHECK_MSG(spawn_id("{\"target\": \"allbytes\", \"args\": [4]}", id, why, sizeof why), "%s", why);
	CHECK_MSG(joined_ok(id, 10, why, sizeof why), "%s", why);
	want = sanitized(raw, sizeof raw, &want_len);
	for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
		const char *accept = variants[v][0];
		struct resp *r;
		snprintf(path, sizeof path, "/processes/%s/output?stream=stdout&follow=%s", id, variants[v][1]);
		r = http(srv, "GET", path, NULL, NULL, accept);
		if (r->status != 200)
			free(want);
		CHECK_STATUS(r, 200);
		if (!strcmp(accept, RAW)) {
			bool ok = r->len == sizeof raw && !memcmp(r->body, raw, sizeof raw);
			if (!ok)
				free(want);
			CHECK_MSG(ok, "raw (follow=%s): %zu bytes, not byte-exact", variants[v][1], r->len);
		} else {
			struct items it = { 0 };
			char *got = malloc(want_len * 2 + 1);
			size_t got_len = 0;
			long long at = 0;
			bool ok = got && (!strcmp(accept, SSE) ? parse_sse_items(r->body, r->len, &it)
							      : parse_ndjson_items(r->body, r->len, &it));
			snprintf(why, sizeof why, "%s", it.err);
			for (int i = 0; ok && i < it.n; i++) {
				const struct item *x = &it.v[i];
				if (x->kind == K_HEARTBEAT)
					continue;
				if (x->kind == K_EXIT) {
					ok = i == it.n - 1 && jint(x->json, "stdout_bytes", -1) == (long long)sizeof raw;
					snprintf(why, sizeof why, "exit line %d of %d", i, it.n);
					continue;
				}
				/* Offsets are raw bytes: the next offset minus this one is this line's raw length. */
				ok = x->kind == K_OUTPUT && x->offset == at && got_len + x->data_len <= want_len * 2;
				if (!ok) {
					snprintf(why, sizeof why, "item %d: offset %lld, expected %lld", i, x->offset, at);
					break;
				}
				memcpy(got + got_len, x->data, x->data_len);
				got_len += x->data_len;
				{
					size_t raw_n;
					char *check;
					long long next = (long long)sizeof raw;
					for (int k = i + 1; k < it.n; k++) {
						if (it.v[k].kind == K_OUTPUT) {
							next = it.v[k].offset;
							break;
						}
					}
					raw_n = (size_t)(next - at);
					check = sanitized(raw + at, raw_n, &raw_n);
					ok = raw_n == x->data_len && !memcmp(check, x->data, raw_n);
					if (!ok) {
						size_t d = 0;
						while (d < raw_n && d < x->data_len && check[d] == x->data[d])
							d++;
						snprintf(why, sizeof why,
							 "item %d (raw bytes %lld..%lld): data is not those bytes with U+FFFD "
							 "for invalid ones: it differs at data byte %zu (0x%02x, expected 0x%02x); "
							 "line: %.160s",
							 i, at, next, d, d < x->data_len ? (unsigned char)x->data[d] : 0,
							 d < raw_n ? (unsigned char)check[d] : 0, r->body);
					}
					free(check);
					at = next;
				}
			}
			if (ok && (got_len != want_len || memcmp(got, want, want_len) != 0)) {
				ok = false;
				snprintf(why, sizeof why, "data holds %zu bytes, not the %zu expected", got_len, want_len);
			}
			items_free(&it);
			free(got);
			if (!ok)
				free(want);
			CHECK_MSG(ok, "%s (follow=%s): %s", accept, variants[v][1], why);
		}
		resp_free(r);
	}
	free(want);
}

/* A character split across two writes 400 ms apart, followed live: the data
 * is the character, not two U+FFFD (the bytes are valid UTF-8). */
static void test_split_utf8_character_live(void)
{
	char path[256], why[512], id[ID_CAP];
	struct items it;
	struct live *l;
	char text[64];
	size_t n = 0;
	bool ok;

	CHECK_MSG(spawn_id("{\"target\": \"chunks\", \"args\": [\"+200\", \"o:caf\\\\xc3\", \"+400\", \"o:\\\\xa9!\\\\n\"]}",
			   id, why, sizeof why), "%s", why);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", id);
	l = live_open(srv, path, NDJSON);
	CHECK_MSG(live_wait_done(l, 10), "the follow did not end");
	ok = parse_ndjson_items(l->body, l->len, &it);
	CHECK_MSG(ok, "%s", it.err);
	for (int i = 0; i < it.n; i++) {
		if (it.v[i].kind == K_OUTPUT && n + it.v[i].data_len < sizeof text) {
			memcpy(text + n, it.v[i].data, it.v[i].data_len);
			n += it.v[i].data_len;
		}
	}
	items_free(&it);
	text[n] = '\0';
	CHECK_MSG(n == 7 && !memcmp(text, "caf\xc3\xa9!\n", 7),
		  "worker wrote \"caf\\xc3\", then 400 ms later \"\\xa9!\\n\" (valid UTF-8 \"café!\"); "
		  "GET %s (NDJSON) gave data \"%s\": %.300s", path, text, l->body);
	live_close(l);
}

/* Parses "wrote N bytes in MS ms" from gatedburst's stderr; -1 if absent. */
static double burst_write_ms(const char *id)
{
	size_t len = 0;
	char *err = raw_output(id, "stderr", &len);
	long long bytes = 0;
	double ms = -1;

	if (err && sscanf(err, "wrote %lld bytes in %lf ms", &bytes, &ms) == 2 && bytes == BURST_BYTES) {
		free(err);
		return ms;
	}
	free(err);
	return -1;
}

static size_t pattern_mismatch(const char *buf, size_t len, size_t start)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != (char)('0' + (start + i) % 10))
			return i;
	}
	return len;
}

struct burst_watch {
	const char *id;
	struct live *fast;
	bool ended;
};

static bool burst_ended(void *arg)
{
	struct burst_watch *w = arg;

	if (!w->ended) {
		struct resp *r = get(srv, "/processes/%s", w->id);
		w->ended = r->status == 200 && jis_false(r->json, "alive");
		resp_free(r);
	}
	return w->ended && w->fast->done;
}

/* 10 MB written while one client reads 64 KiB/s (through a small receive
 * buffer) and another follows at full speed: the worker writes in about its
 * unobstructed time and ends while the slow client is still connected, the
 * fast client gets all 10 MB byte-exact (raw and NDJSON) before the slow one
 * is dropped. */
static void test_slow_reader_holds_back_neither_worker_nor_fast_reader(void)
{
	char path[256], why[512], id[ID_CAP], base_id[ID_CAP];
	struct live *slow, *fast, *fast_json;
	struct live *all[4];
	struct burst_watch w = { 0 };
	double base_ms, ms, t0, base_streams;
	struct resp *r;
	size_t bad;

	/* Unobstructed: no reader at all. */
	CHECK_MSG(spawn_id("{\"target\": \"gatedburst\", \"args\": [10000000], \"stdin\": \"\"}", base_id, why,
			   sizeof why), "%s", why);
	CHECK_MSG(joined_ok(base_id, 30, why, sizeof why), "%s", why);
	base_ms = burst_write_ms(base_id);
	CHECK_MSG(base_ms >= 0, "no write time from the unobstructed run");
	base_streams = 0;
	CHECK_MSG(live_wait_until(streams_open_is, &base_streams, HEARTBEAT_S + 1),
		  "spawnd_streams_open %.0f with no client connected (earlier cases' clients are gone)",
		  metric_value(srv, "spawnd_streams_open"));

	CHECK_MSG(spawn_id("{\"target\": \"gatedburst\", \"args\": [10000000], \"stdin_open\": true}", id, why,
			   sizeof why), "%s", why);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", id);
	{
		const char *raw_accept[] = { "Accept: application/octet-stream", NULL };
		slow = live_request(srv, "GET", path, raw_accept, NULL, 0, SLOW_RATE);
	}
	fast = live_open(srv, path, RAW);
	fast_json = live_open(srv, path, NDJSON);
	all[0] = slow, all[1] = fast, all[2] = fast_json, all[3] = NULL;
	CHECK_MSG(live_wait_until(live_has_status, all, 10), "the followers got no response headers");
	CHECK_MSG(slow->status == 200 && fast->status == 200 && fast_json->status == 200, "statuses %ld %ld %ld",
		  slow->status, fast->status, fast_json->status);
	live_pump(0.2);
	/* Open the gate. */
	r = postf(srv, "", "/processes/%s/stdin?eof=true", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	t0 = now_s();
	w.id = id;
	w.fast = fast;
	CHECK_MSG(live_wait_until(burst_ended, &w, 30),
		  "after 30 s: worker ended %d, fast client done %d with %zu bytes; slow client %zu bytes", w.ended,
		  fast->done, fast->len, slow->len);
	CHECK_MSG(live_wait_done(fast_json, 30), "the fast NDJSON follower did not end");
	CHECK_MSG(!slow->done, "the slow client's stream ended early (%s)", slow->error);
	CHECK_MSG(slow->len < (size_t)(now_s() - t0 + 1) * SLOW_RATE * 2 + 4 * 1024 * 1024,
		  "the slow client was not slow: %zu bytes in %.1f s", slow->len, now_s() - t0);
	ms = burst_write_ms(id);
	CHECK_MSG(ms >= 0, "no write time from the run with readers");
	CHECK_MSG(ms <= 2 * base_ms + 1000, "10 MB took the worker %.0f ms with a slow reader, %.0f ms without", ms,
		  base_ms);
	CHECK_MSG(fast->status == 200 && !fast->error[0], "fast raw follower: %s", fast->error);
	CHECK_INT(fast->len, BURST_BYTES);
	bad = pattern_mismatch(fast->body, fast->len, 0);
	CHECK_MSG(bad == fast->len, "fast raw follower: byte %zu is 0x%02x", bad, (unsigned char)fast->body[bad]);
	{
		struct items it;
		long long at = 0;
		bool ok = parse_ndjson_items(fast_json->body, fast_json->len, &it);
		CHECK_MSG(ok, "fast NDJSON follower: %s", it.err);
		for (int i = 0; ok && i < it.n; i++) {
			const struct item *x = &it.v[i];
			if (x->kind == K_HEARTBEAT)
				continue;
			if (x->kind == K_EXIT) {
				ok = i == it.n - 1 && jint(x->json, "stdout_bytes", -1) == BURST_BYTES;
				continue;
			}
			ok = x->kind == K_OUTPUT && x->offset == at &&
			     pattern_mismatch(x->data, x->data_len, (size_t)at) == x->data_len;
			at += (long long)x->data_len;
		}
		items_free(&it);
		CHECK_MSG(ok && at == BURST_BYTES, "fast NDJSON follower: %lld bytes, pattern or exit line wrong", at);
	}
	/* The slow client got a correct prefix so far, and keeps reading for a while. */
	live_pump(1.0);
	CHECK_MSG(!slow->done, "the slow client's stream ended early (%s)", slow->error);
	bad = pattern_mismatch(slow->body, slow->len, 0);
	CHECK_MSG(slow->len > 0 && bad == slow->len, "slow client: %zu bytes, byte %zu breaks the pattern", slow->len,
		  bad);
	live_close(slow);
	live_close(fast);
	live_close(fast_json);
	CHECK_MSG(live_wait_until(streams_open_is, &base_streams, HEARTBEAT_S + 1.0),
		  "spawnd_streams_open is %.0f, expected %.0f, %.1f s after the slow client left",
		  metric_value(srv, "spawnd_streams_open"), base_streams, HEARTBEAT_S + 1.0);
}

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
	char buf[2048];
	const char *p = proc_stat_fields(pid, buf, sizeof buf);
	unsigned long long ut = 0, st = 0;

	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#define IDLE_WORKERS 20
#define IDLE_STREAMS 200
#define CPU_WINDOW_S 5.0

/* 200 idle follow streams (NDJSON and SSE) on 20 sleeping workers: all counted
 * in spawnd_streams_open, all getting heartbeats, and spawnd's CPU time over
 * 5 s under 5 % of the wall time. */
static void test_200_idle_streams_cost_little_cpu(void)
{
	char ids[IDLE_WORKERS][ID_CAP], path[256], why[512];
	struct live *ls[IDLE_STREAMS + 1] = { NULL };
	double base, cpu0, cpu1, t0, t1, want;
	size_t before[IDLE_STREAMS];
	int min_beats = 1 << 30;

	base = 0;
	CHECK_MSG(live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1),
		  "spawnd_streams_open %.0f with no client connected (earlier cases' clients are gone)",
		  metric_value(srv, "spawnd_streams_open"));
	for (int i = 0; i < IDLE_WORKERS; i++)
		CHECK_MSG(spawn_id("{\"target\": \"sleep\", \"args\": [60]}", ids[i], why, sizeof why), "%s", why);
	for (int i = 0; i < IDLE_STREAMS; i++) {
		snprintf(path, sizeof path, "/processes/%s/output?follow=true", ids[i % IDLE_WORKERS]);
		ls[i] = live_open(srv, path, i % 2 ? SSE : NDJSON);
	}
	CHECK_MSG(live_wait_until(live_has_status, ls, 20), "not every stream got its response headers");
	for (int i = 0; i < IDLE_STREAMS; i++)
		CHECK_MSG(ls[i]->status == 200, "stream %d: %ld %s", i, ls[i]->status, ls[i]->error);
	want = base + IDLE_STREAMS;
	CHECK_MSG(live_wait_until(streams_open_is, &want, 5), "spawnd_streams_open %.0f with %d streams open, expected %.0f",
		  metric_value(srv, "spawnd_streams_open"), IDLE_STREAMS, want);
	live_pump(HEARTBEAT_S);
	for (int i = 0; i < IDLE_STREAMS; i++)
		before[i] = ls[i]->len;
	cpu0 = cpu_seconds(server_pid(srv));
	t0 = now_s();
	live_pump(CPU_WINDOW_S);
	cpu1 = cpu_seconds(server_pid(srv));
	t1 = now_s();
	CHECK_MSG(cpu0 >= 0 && cpu1 >= 0, "cannot read /proc/%d/stat", (int)server_pid(srv));
	for (int i = 0; i < IDLE_STREAMS; i++) {
		const char *hb = i % 2 ? ": heartbeat\n\n" : "{\"event\":\"heartbeat\"}\n";
		size_t hlen = strlen(hb);
		int beats = 0;
		CHECK_MSG(!ls[i]->done, "stream %d ended: %s", i, ls[i]->error);
		for (const char *p = ls[i]->body + before[i]; (p = memmem(p, ls[i]->len - (size_t)(p - ls[i]->body), hb,
								   hlen)); p += hlen)
			beats++;
		CHECK_MSG((size_t)beats * hlen == ls[i]->len - before[i], "stream %d got more than heartbeats: %.200s", i,
			  ls[i]->body + before[i]);
		if (beats < min_beats)
			min_beats = beats;
	}
	CHECK_MSG(min_beats >= (int)(CPU_WINDOW_S / HEARTBEAT_S) - 3,
		  "a stream got only %d heartbeats in %.0f s at --heartbeat %.1f", min_beats, CPU_WINDOW_S, HEARTBEAT_S);
	CHECK_MSG(cpu1 - cpu0 < 0.05 * (t1 - t0),
		  "spawnd used %.2f s CPU in %.1f s (%.1f %%) with %d idle streams (heartbeat %.1f s)", cpu1 - cpu0,
		  t1 - t0, 100 * (cpu1 - cpu0) / (t1 - t0), IDLE_STREAMS, HEARTBEAT_S);
	printf("# 200 idle streams: spawnd CPU %.2f %% of %.1f s, min %d heartbeats per stream\n",
	       100 * (cpu1 - cpu0) / (t1 - t0), t1 - t0, min_beats);
	for (int i = 0; i < IDLE_STREAMS; i++) {
		live_close(ls[i]);
		ls[i] = NULL;
	}
	CHECK_MSG(live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1.0),
		  "spawnd_streams_open %.0f, expected %.0f, %.1f s after 200 clients left",
		  metric_value(srv, "spawnd_streams_open"), base, HEARTBEAT_S + 1.0);
	for (int i = 0; i < IDLE_WORKERS; i++) {
		struct resp *r = del(srv, "/processes/%s?grace=0", ids[i]);
		CHECK_STATUS(r, 200);
		resp_free(r);
	}
}

/* A following client that closes its connection: its stream is freed within
 * heartbeat + 1 s, for each format. */
static void test_vanished_client_stream_freed(void)
{
	const char *accepts[3] = { NDJSON, SSE, RAW };
	char path[256], why[512], id[ID_CAP];
	struct resp *r;
	double base, want;

	CHECK_MSG(spawn_id("{\"target\": \"sleep\", \"args\": [30]}", id, why, sizeof why), "%s", why);
	base = 0;
	CHECK_MSG(live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1),
		  "spawnd_streams_open %.0f with no client connected (earlier cases' clients are gone)",
		  metric_value(srv, "spawnd_streams_open"));
	for (int k = 0; k < 3; k++) {
		struct live *l;
		double t0;
		snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", id);
		l = live_open(srv, path, accepts[k]);
		want = base + 1;
		CHECK_MSG(live_wait_until(streams_open_is, &want, 5), "%s: spawnd_streams_open %.0f, expected %.0f",
			  accepts[k], metric_value(srv, "spawnd_streams_open"), want);
		live_pump(HEARTBEAT_S / 2);
		live_close(l);
		t0 = now_s();
		if (!live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1.0)) {
			double still = metric_value(srv, "spawnd_streams_open");
			bool later = live_wait_until(streams_open_is, &base, 2);
			/* Does it go when the worker ends? */
			r = del(srv, "/processes/%s?grace=0", id);
			resp_free(r);
			bool at_end = later || live_wait_until(streams_open_is, &base, 2);
			CHECK_FAIL("GET %s (Accept: %s) on a running worker, client closed the connection: "
				   "spawnd_streams_open still %.0f (expected %.0f) %.1f s later (heartbeat %.1f s); %s",
				   path, accepts[k], still, base, HEARTBEAT_S + 1.0, HEARTBEAT_S,
				   later ? "freed within 2 s more" : at_end ? "freed only once the worker was deleted"
									    : "not freed even after the worker was deleted");
		}
		printf("# %s: vanished client's stream freed after %.2f s\n", accepts[k], now_s() - t0);
	}
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* Bad parameters of a follow get 400 naming the field; an unknown id 404. */
static void test_follow_bad_parameters(void)
{
	static const struct {
		const char *query, *accept, *header, *field;
	} cases[] = {
		{ "follow=yes", NULL, NULL, "follow" },
		{ "follow=true&offset=-1", NULL, NULL, "offset" },
		{ "follow=true&offset=abc", NULL, NULL, "offset" },
		{ "follow=true&stdout_offset=1x", NULL, NULL, "stdout_offset" },
		{ "follow=true&stderr_offset=", NULL, NULL, "stderr_offset" },
		{ "follow=true&stream=all", NULL, NULL, "stream" },
		{ "follow=true&stream=both", "application/octet-stream", NULL, "stream" },
		{ "follow=true", "text/event-stream", "Last-Event-ID: banana", "Last-Event-ID" },
		{ "follow=true", "text/event-stream", "Last-Event-ID: 3-", "Last-Event-ID" },
		{ "follow=true", "text/event-stream", "Last-Event-ID: 1-2-3", "Last-Event-ID" },
	};
	char path[512];

	CHECK_MSG(both_id[0], "needs the both-streams case");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char accept[128];
		const char *headers[3] = { accept, cases[i].header, NULL };
		struct live *l;
		cJSON *j;
		bool named = false;
		snprintf(accept, sizeof accept, "Accept: %s", cases[i].accept ? cases[i].accept : NDJSON);
		snprintf(path, sizeof path, "/processes/%s/output?%s", both_id, cases[i].query);
		l = live_request(srv, "GET", path, headers, NULL, 0, 0);
		CHECK_MSG(live_wait_done(l, 10), "%s: no answer", path);
		j = cJSON_Parse(l->body);
		{
			const cJSON *d, *details = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "details");
			cJSON_ArrayForEach(d, details)
				named = named || (jstr(d, "field") && !strcmp(jstr(d, "field"), cases[i].field));
		}
		cJSON_Delete(j);
		CHECK_MSG(l->status == 400 && named, "GET %s (%s%s%s) -> %ld, expected 400 naming %s: %.300s", path,
			  accept, cases[i].header ? ", " : "", cases[i].header ? cases[i].header : "", l->status,
			  cases[i].field, l->body);
		live_close(l);
	}
	{
		struct live *l = live_open(srv, "/processes/nosuchprocess/output?follow=true", NDJSON);
		CHECK_MSG(live_wait_done(l, 10) && l->status == 404, "unknown id: %ld %s", l->status, l->body);
		live_close(l);
	}
}

/* SIGTERM while a client follows a running (daemon) worker: the stream gets
 * the worker's exit line and ends cleanly, and spawnd exits 0 (QUALITY 19).
 * Three rounds: the failure seen was intermittent. */
static void test_shutdown_with_open_follow_streams(void)
{
	for (int round = 0; round < 3; round++) {
		struct server *s = server_start(HEARTBEAT_ARG);
		struct live *ls[2];
		char path[256], why[256], id[ID_CAP];
		struct resp *r;
		int rc;
		CHECK_MSG(s, "server did not start");
		/* A daemon worker is terminated at once at shutdown (no 3 s join). */
		r = spawn(s, "{\"target\": \"sleep\", \"args\": [30], \"daemon\": true}", -1);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
		ls[0] = live_open(s, path, NDJSON);
		ls[1] = live_open(s, path, SSE);
		live_pump(HEARTBEAT_S + 0.2);
		CHECK_MSG(ls[0]->status == 200 && ls[1]->status == 200, "follow statuses %ld %ld", ls[0]->status,
			  ls[1]->status);
		/* server_stop() blocks: the streams are read afterwards from the socket buffers. */
		rc = server_stop(s, why, sizeof why);
		live_wait_done(ls[0], 2);
		live_wait_done(ls[1], 2);
		CHECK_MSG(rc == 0, "round %d: SIGTERM with two follow streams (NDJSON, SSE) of a running worker open: %s",
			  round + 1, why);
		for (int k = 0; k < 2; k++) {
			bool exit_line = strstr(ls[k]->body, "\"event\":\"exit\"") != NULL;
			CHECK_MSG(ls[k]->done && exit_line && !ls[k]->error[0],
				  "round %d: %s stream at shutdown: done %d, exit line %d, %s: %.300s", round + 1,
				  k ? "SSE" : "NDJSON", ls[k]->done, exit_line, ls[k]->error[0] ? ls[k]->error : "no error",
				  ls[k]->body);
			live_close(ls[k]);
		}
	}
}

static char *targets_json;

/* After a case: if spawnd died (or stopped answering), say so as a failure of
 * its own, with the reason, and start a new one so that the next cases test
 * something (cases that need an earlier case's process then say so). */
static void check_server_survived(const char *name)
{
	char why[256] = "";

	if (!srv || server_healthy(srv))
		return;
	server_stop(srv, why, sizeof why);
	check_failed_cases++;
	printf("FAIL %s_left_spawnd_alive: spawnd stopped answering during %s (%s; log tail on stderr)\n", name, name,
	       why);
	fflush(stdout);
	srv = server_start_targets(targets_json, HEARTBEAT_ARG);
}

#define RUN_CASE(fn) do { RUN(fn); check_server_survived(#fn); } while (0)

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	static const char *const fixtures[] = { "ticker", "chunks", "allbytes", "gatedburst" };
	char *path[4], *targets = NULL;

	for (int i = 0; i < 4; i++) {
		path[i] = fixture_path(fixtures[i]);
		if (!fixture_exists(fixtures[i])) {
			printf("FAIL fixtures: %s missing (make %s, or set SPAWND_FIXTURES)\n", path[i], path[i]);
			return 1;
		}
	}
	if (asprintf(&targets,
		     "{\"targets\": ["
		     "{\"name\": \"clock_ticker\", \"description\": \"Prints tick lines with their wall clock.\", \"program\": \"%s\","
		     " \"argv\": [\"{count}\", \"{interval_ms}\", \"{delay_ms}\"],"
		     " \"args\": [{\"name\": \"count\", \"type\": \"integer\", \"required\": true},"
		     " {\"name\": \"interval_ms\", \"type\": \"integer\", \"required\": true},"
		     " {\"name\": \"delay_ms\", \"type\": \"integer\", \"required\": true}]},"
		     "{\"name\": \"chunks\", \"description\": \"Writes and sleeps as told.\", \"program\": \"%s\","
		     " \"argv\": [\"{actions}\"],"
		     " \"args\": [{\"name\": \"actions\", \"type\": \"string\", \"variadic\": true}]},"
		     "{\"name\": \"allbytes\", \"description\": \"Writes bytes 0x00-0xFF.\", \"program\": \"%s\","
		     " \"argv\": [\"{repeat}\"], \"args\": [{\"name\": \"repeat\", \"type\": \"integer\", \"required\": true}]},"
		     "{\"name\": \"gatedburst\", \"description\": \"Bursts after stdin EOF.\", \"program\": \"%s\","
		     " \"argv\": [\"{bytes}\"], \"args\": [{\"name\": \"bytes\", \"type\": \"integer\", \"required\": true}]}"
		     "]}", path[0], path[1], path[2], path[3]) < 0)
		return 1;
	for (int i = 0; i < 4; i++)
		free(path[i]);
	targets_json = targets;
	srv = server_start_targets(targets, HEARTBEAT_ARG);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN_CASE(test_ticker_lines_arrive_before_next_is_printed);
	RUN_CASE(test_resume_at_every_offset);
	RUN_CASE(test_both_streams_every_offset_pair);
	RUN_CASE(test_sse_last_event_id_resume_after_each_event);
	RUN_CASE(test_sse_resume_after_exit_event_repeats_nothing);
	RUN_CASE(test_sse_reconnect_while_running);
	RUN_CASE(test_late_client_gets_everything);
	RUN_CASE(test_heartbeats_on_idle_follow);
	RUN_CASE(test_bytes_00_ff_json_and_raw);
	RUN_CASE(test_split_utf8_character_live);
	RUN_CASE(test_slow_reader_holds_back_neither_worker_nor_fast_reader);
	RUN_CASE(test_200_idle_streams_cost_little_cpu);
	RUN_CASE(test_vanished_client_stream_freed);
	RUN_CASE(test_follow_bad_parameters);
	RUN(test_shared_server_shutdown);
	RUN(test_shutdown_with_open_follow_streams);
	free(targets_json);
	free(ticker_raw);
	free(both_raw[0]);
	free(both_raw[1]);
	return CHECK_EXIT();
}
