/* pool_results — see pool_results.h. The stream is NDJSON read through an
 * http sink: bytes gather until a line is whole, so a result is printed the
 * moment its line is in, and heartbeats (lines without "index") are skipped.
 * Its position is the count of results seen, which ?after= resumes from.
 */
#define _GNU_SOURCE
#include "cli/pool_results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/http.h"
#include "cli/output.h"

const cJSON *task_error(const cJSON *result)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(result, "error");
	if (cJSON_IsObject(result) && cJSON_GetArraySize(result) == 1 && cJSON_IsObject(e) &&
	    jstring(e, "code") && jstring(e, "message"))
		return e;
	return NULL;
}

bool print_result(const struct cli *cli, const cJSON *line, const cJSON *result, int index)
{
	const cJSON *e = task_error(result);
	if (cli->json) {
		cli_print_json(line);
	} else if (!e && cJSON_IsString(result)) {
		size_t n = strlen(result->valuestring);
		printf("%s%s", result->valuestring, n && result->valuestring[n - 1] == '\n' ? "" : "\n");
	} else if (!e) {
		char *text = cJSON_PrintUnformatted(result);
		printf("%s\n", text ? text : "null");
		free(text);
	}
	if (e)
		cli_msg("item %d failed: %s (%s)", index, jstring(e, "message"), jstring(e, "code"));
	fflush(stdout);
	return e != NULL;
}

struct results {
	const struct cli *cli;
	char *buf;
	size_t len;
	int seen, failed;
};

static int results_data(const char *data, size_t len, void *arg)
{
	struct results *s = arg;
	char *grown = realloc(s->buf, s->len + len + 1), *nl;
	if (!grown)
		return 1;
	s->buf = grown;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	while ((nl = memchr(s->buf, '\n', s->len))) {
		*nl = '\0';
		cJSON *line = cJSON_Parse(s->buf);
		const cJSON *index = cJSON_GetObjectItemCaseSensitive(line, "index");
		if (cJSON_IsNumber(index)) {
			s->seen++;
			s->failed += print_result(s->cli, line, cJSON_GetObjectItemCaseSensitive(line, "result"),
						  index->valueint);
		}
		cJSON_Delete(line);
		s->len -= (size_t)(nl + 1 - s->buf);
		memmove(s->buf, nl + 1, s->len + 1);
	}
	return 0;
}

int follow_results(const struct cli *cli, const char *pool, const char *job, int total)
{
	struct results s = { .cli = cli };
	int tries = 0, rc = 0;
	char *esc = http_escape(job);

	while (s.seen < total && rc == 0) {
		struct http_sink sink = { .data = results_data, .arg = &s };
		struct http_resp r = { 0 };
		char *path = NULL, *suffix = NULL;
		int before = s.seen;
		if (!esc || asprintf(&suffix, "/jobs/%s/results?follow=true&after=%d", esc, s.seen) < 0 ||
		    !(path = pool_path(pool, suffix)))
			rc = EXIT_CLI;
		else if (http_request("GET", path, NULL, 0, NULL, "application/x-ndjson", &sink, &r) != 200)
			rc = http_fail(&r, job);
		else if (s.seen == before && ++tries > 5)
			rc = http_fail(&r, "results stream");
		s.len = 0;
		http_resp_release(&r);
		free(path);
		free(suffix);
	}
	free(s.buf);
	free(esc);
	return rc ? rc : s.failed ? EXIT_TASK_FAILED : 0;
}
