/* search — see search.h.
 *
 * Design: a search walks the records newest first (the store's own listing,
 * filtered by target, stopped at `since`), reads each one's stdout then
 * stderr in chunks through the engine (proc_read_output(), the same reads as
 * GET .../output, so live and stored output alike), and matches line by line.
 * Nothing is indexed: the point is that the server, not the browser, reads
 * the output, and that one request costs a bounded amount of work. A page
 * ends when it has `limit` matches, or when it has read SEARCH_MAX_BYTES or
 * looked at SEARCH_MAX_PROCESSES records; either way `next` says where the
 * next page starts ("ID.STREAM.OFFSET": a line start in a record), so a
 * client pages through everything without any request doing more than its
 * share. Ids sort by creation and `created_at` is fixed-width RFC 3339, so
 * the time range is a string comparison.
 */
#define _GNU_SOURCE
#include "handlers/search.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proc.h"

#define SEARCH_MAX_BYTES ((uint64_t)32 << 20)   /* read by one request, at most */
#define SEARCH_MAX_PROCESSES 2000               /* looked at by one request */
#define SEARCH_QUERY_MAX 1024
#define SEARCH_LIMIT_DEFAULT 50
#define SEARCH_LIMIT_MAX 500
#define LINE_CAP 4096           /* a longer line is matched in pieces of this size */
#define LINE_SHOWN 1000         /* bytes of a matching line in the answer */
#define CHUNK (256 * 1024)

struct search {
	const char *q, *target, *since, *until;
	size_t qlen;
	bool use_regex;
	regex_t re;
	int limit;
	cJSON *matches;
	int count, processes;
	uint64_t bytes;
	char next[128];
	char *buf, *line;        /* CHUNK + LINE_CAP, LINE_CAP + 1 */
};

static bool line_matches(struct search *s, const char *p, size_t len)
{
	if (!s->use_regex)
		return s->qlen <= len && memmem(p, len, s->q, s->qlen) != NULL;
	memcpy(s->line, p, len);
	for (size_t i = 0; i < len; i++)
		if (s->line[i] == '\0')
			s->line[i] = ' ';
	s->line[len] = '\0';
	return regexec(&s->re, s->line, 0, NULL, 0) == 0;
}

static void add_match(struct search *s, const cJSON *rec, int stream, uint64_t offset, const char *p, size_t len)
{
	char text[LINE_SHOWN + 1];
	size_t n = len < LINE_SHOWN ? len : LINE_SHOWN;
	memcpy(text, p, n);
	text[n] = '\0';
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "id", cJSON_GetObjectItem(rec, "id")->valuestring);
	cJSON_AddStringToObject(m, "name", cJSON_GetObjectItem(rec, "name")->valuestring);
	cJSON_AddStringToObject(m, "target", cJSON_GetObjectItem(rec, "target")->valuestring);
	cJSON_AddStringToObject(m, "created_at", cJSON_GetObjectItem(rec, "created_at")->valuestring);
	cJSON_AddStringToObject(m, "stream", stream ? "stderr" : "stdout");
	cJSON_AddNumberToObject(m, "offset", (double)offset);
	cJSON_AddStringToObject(m, "line", text);
	cJSON_AddBoolToObject(m, "line_truncated", len > LINE_SHOWN);
	cJSON_AddItemToArray(s->matches, m);
	s->count++;
}

static void set_next(struct search *s, const char *id, int stream, uint64_t offset)
{
	snprintf(s->next, sizeof s->next, "%s.%d.%" PRIu64, id, stream, offset);
}

/* Matches the complete lines of buf[0..len) (the last one too when final),
 * the first starting at offset base; returns the bytes consumed (a partial
 * last line is left), or -1 when the page is full (s->next set). */
static ssize_t scan_lines(struct search *s, const cJSON *rec, int stream, uint64_t base, size_t len, bool final)
{
	const char *id = cJSON_GetObjectItem(rec, "id")->valuestring;
	size_t start = 0;
	while (start < len) {
		const char *nl = memchr(s->buf + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - s->buf) : len;
		if (!nl && !final && end - start < LINE_CAP)
			break;
		if (end - start > LINE_CAP)
			end = start + LINE_CAP;
		if (line_matches(s, s->buf + start, end - start))
			add_match(s, rec, stream, base + start, s->buf + start, end - start);
		start = end + (end < len && s->buf[end] == '\n');
		if (s->count == s->limit) {
			set_next(s, id, stream, base + start);
			return -1;
		}
	}
	return (ssize_t)start;
}

/* One stream of one record from offset (a line start). false: stop (s->next set). */
static bool scan_stream(struct search *s, const cJSON *rec, int stream, uint64_t offset)
{
	const char *id = cJSON_GetObjectItem(rec, "id")->valuestring;
	size_t held = 0;                /* bytes of a partial line at the front of buf */
	uint64_t total;
	bool ended;

	for (;;) {
		if (s->bytes >= SEARCH_MAX_BYTES) {
			set_next(s, id, stream, offset);
			return false;
		}
		ssize_t n = proc_read_output(id, (enum proc_stream)stream, offset + held, s->buf + held, CHUNK,
					     &total, &ended, NULL, NULL);
		if (n < 0)
			return true;    /* removed meanwhile: nothing more to read */
		s->bytes += (uint64_t)n;
		ssize_t used = scan_lines(s, rec, stream, offset, held + (size_t)n, n == 0);
		if (used < 0)
			return false;
		if (n == 0)
			return true;
		held = held + (size_t)n - (size_t)used;
		memmove(s->buf, s->buf + used, held);
		offset += (uint64_t)used;
	}
}

/* A record of a listing (or the cursor's) from stream/offset on. false: stop. */
static bool scan_record(struct search *s, const cJSON *rec, int stream, uint64_t offset)
{
	const char *created = cJSON_GetObjectItem(rec, "created_at")->valuestring;
	if (s->until && strcmp(created, s->until) > 0)
		return true;
	if (++s->processes > SEARCH_MAX_PROCESSES) {
		set_next(s, cJSON_GetObjectItem(rec, "id")->valuestring, stream, offset);
		return false;
	}
	for (int st = stream; st < 2; st++, offset = 0)
		if (!scan_stream(s, rec, st, offset))
			return false;
	return true;
}

static bool before_range(const struct search *s, const cJSON *rec)
{
	return s->since && strcmp(cJSON_GetObjectItem(rec, "created_at")->valuestring, s->since) < 0;
}

/* The engine renders records as raw (printed) JSON items: a parsed copy
 * (caller deletes), or NULL. */
static cJSON *parsed_record(const cJSON *item)
{
	cJSON *j = cJSON_IsRaw(item) ? cJSON_Parse(item->valuestring) : cJSON_Duplicate(item, true);
	if (j && cJSON_IsString(cJSON_GetObjectItem(j, "id")) && cJSON_IsString(cJSON_GetObjectItem(j, "name")) &&
	    cJSON_IsString(cJSON_GetObjectItem(j, "target")) && cJSON_IsString(cJSON_GetObjectItem(j, "created_at")))
		return j;
	cJSON_Delete(j);
	return NULL;
}

/* The records older than after (NULL: all), newest first, page by page. */
static int scan_from(struct search *s, const char *after)
{
	char cursor[PROC_ID_MAX + 1];
	snprintf(cursor, sizeof cursor, "%s", after ? after : "");
	for (;;) {
		int err = 0;
		struct proc_filter f = { .target = s->target, .alive = -1, .after = cursor[0] ? cursor : NULL, .limit = 200 };
		cJSON *page = proc_list_json(&f, &err), *rec;
		if (!page)
			return err ? err : -ENOMEM;
		cJSON *list = cJSON_GetObjectItem(page, "processes"), *next = cJSON_GetObjectItem(page, "next");
		bool go_on = true;
		cJSON_ArrayForEach(rec, list) {
			cJSON *parsed = parsed_record(rec);
			bool stop = !parsed || before_range(s, parsed) || !scan_record(s, parsed, 0, 0);
			cJSON_Delete(parsed);
			if (stop) {
				go_on = false;
				break;
			}
		}
		go_on = go_on && cJSON_IsString(next);
		if (go_on)
			snprintf(cursor, sizeof cursor, "%s", next->valuestring);
		cJSON_Delete(page);
		if (!go_on)
			return 0;
	}
}

/* "ID.STREAM.OFFSET" into its parts; false when it is not one. */
static bool parse_cursor(const char *v, char id[PROC_ID_MAX], int *stream, uint64_t *offset)
{
	const char *dot = strchr(v, '.');
	if (!dot || dot == v || (size_t)(dot - v) >= PROC_ID_MAX || (dot[1] != '0' && dot[1] != '1') || dot[2] != '.')
		return false;
	memcpy(id, v, (size_t)(dot - v));
	id[dot - v] = '\0';
	*stream = dot[1] - '0';
	return http_parse_u64(dot + 3, offset);
}

static enum MHD_Result run(struct http_req *r, struct search *s, const char *after)
{
	char id[PROC_ID_MAX];
	int stream = 0, err = 0;
	uint64_t offset = 0;

	if (after) {
		if (!parse_cursor(after, id, &stream, &offset))
			return http_reply_invalid(r, "after", "is not a cursor this server gave out (use the \"next\" of a previous page)");
		cJSON *item = proc_get_json(id, 0), *rec = item ? parsed_record(item) : NULL;
		bool go_on = !rec || scan_record(s, rec, stream, offset);
		cJSON_Delete(rec);
		cJSON_Delete(item);
		if (go_on)
			err = scan_from(s, id);
	} else {
		err = scan_from(s, NULL);
	}
	if (err == -EINVAL)
		return http_reply_invalid(r, "after", "is not a cursor this server gave out (use the \"next\" of a previous page)");
	if (err)
		return http_reply_error(r, 500, "internal", NULL, "the search failed: %s", strerror(-err));
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "matches", s->matches);
	s->matches = NULL;
	if (s->next[0])
		cJSON_AddStringToObject(j, "next", s->next);
	else
		cJSON_AddNullToObject(j, "next");
	cJSON_AddNumberToObject(j, "scanned_processes", s->processes > SEARCH_MAX_PROCESSES ? SEARCH_MAX_PROCESSES : s->processes);
	cJSON_AddNumberToObject(j, "scanned_bytes", (double)s->bytes);
	return http_reply_json(r, 200, j);
}

static bool is_timestamp(const char *v)
{
	/* 2026-11-22T02:34:22.123Z, as created_at is written */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (strlen(v) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != shape[i])
			return false;
	return true;
}

/* Fills s from the query; NULL, or what is wrong and in which field. */
static const char *parse(struct http_req *r, struct search *s, const char **field)
{
	const char *regex = http_query(r, "regex"), *limit = http_query(r, "limit");
	s->q = http_query(r, "q");
	s->target = http_query(r, "target");
	s->since = http_query(r, "since");
	s->until = http_query(r, "until");
	s->limit = SEARCH_LIMIT_DEFAULT;
	if (!s->q || !*s->q)
		return *field = "q", "is required: the text (or with regex=true, the POSIX extended regular expression) to find";
	if ((s->qlen = strlen(s->q)) > SEARCH_QUERY_MAX)
		return *field = "q", "is longer than 1024 bytes";
	if (regex && strcmp(regex, "true") != 0 && strcmp(regex, "false") != 0)
		return *field = "regex", "must be true or false";
	if (s->since && !is_timestamp(s->since))
		return *field = "since", "must be an RFC 3339 UTC time with milliseconds, e.g. 2026-11-22T02:34:22.123Z";
	if (s->until && !is_timestamp(s->until))
		return *field = "until", "must be an RFC 3339 UTC time with milliseconds, e.g. 2026-11-22T02:34:22.123Z";
	if (limit) {
		uint64_t n;
		if (!http_parse_u64(limit, &n) || n < 1 || n > SEARCH_LIMIT_MAX)
			return *field = "limit", "must be an integer from 1 to 500";
		s->limit = (int)n;
	}
	s->use_regex = regex && strcmp(regex, "true") == 0;
	return NULL;
}

enum MHD_Result search_get(struct http_req *r)
{
	struct search s = { 0 };
	const char *field = NULL, *why = parse(r, &s, &field);
	char message[256];
	enum MHD_Result res;

	if (why)
		return http_reply_invalid(r, field, why);
	if (s.use_regex) {
		int rc = regcomp(&s.re, s.q, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			regerror(rc, &s.re, message, sizeof message);
			return http_reply_invalid(r, "q", message);
		}
	}
	s.buf = malloc(CHUNK + LINE_CAP);
	s.line = malloc(LINE_CAP + 1);
	s.matches = cJSON_CreateArray();
	if (!s.buf || !s.line || !s.matches)
		res = http_reply_error(r, 500, "internal", NULL, "out of memory");
	else
		res = run(r, &s, http_query(r, "after"));
	if (s.use_regex)
		regfree(&s.re);
	cJSON_Delete(s.matches);
	free(s.buf);
	free(s.line);
	return res;
}
