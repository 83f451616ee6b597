/* api_mapreduce — POST /mapreduce and GET /mapreduce/{id} (API.md "Pools and
 * map/reduce"): the chapter's word count over the text files shipped in
 * examples/texts equals a count made here, independently, by the same rules
 * (PyMOTW's file_to_words); progress and errors.
 */
#include "tests/harness.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

struct word { char w[64]; long n; };
static struct word words[20000];
static int nwords;

static bool stop_word(const char *w)
{
	static const char *const stop[] = { "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it",
		"of", "or", "py", "rst", "that", "the", "to", "with" };
	for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
		if (strcmp(stop[i], w) == 0)
			return true;
	return false;
}

static void count(const char *w)
{
	for (int i = 0; i < nwords; i++)
		if (strcmp(words[i].w, w) == 0) {
			words[i].n++;
			return;
		}
	if (nwords < 20000 && strlen(w) < 64) {
		snprintf(words[nwords].w, 64, "%s", w);
		words[nwords++].n = 1;
	}
}

/* One line, character by character: a word is a run of non-space, non-punctuation bytes. */
static void count_line(const char *line)
{
	const char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	if (s[0] == '.' && s[1] == '.')
		return;
	char w[4096];
	size_t len = 0;
	bool letters = true;
	for (const char *p = line;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c && !isspace(c) && !ispunct(c)) {
			if (len < sizeof w - 1)
				w[len++] = (char)tolower(c);
			letters = letters && isalpha(c);
			continue;
		}
		w[len] = '\0';
		if (len && letters && !stop_word(w))
			count(w);
		len = 0;
		letters = true;
		if (!c)
			return;
	}
}

/* Counts every file of examples/texts; their names as a JSON array in names. */
static int count_texts(char *names, size_t cap)
{
	DIR *d = opendir("examples/texts");
	struct dirent *e;
	int files = 0;
	size_t used = (size_t)snprintf(names, cap, "[");
	while (d && (e = readdir(d))) {
		if (!strstr(e->d_name, ".txt"))
			continue;
		char path[512], line[8192];
		snprintf(path, sizeof path, "examples/texts/%s", e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f))
			count_line(line);
		if (f)
			fclose(f);
		used += (size_t)snprintf(names + used, cap - used, "%s\"%s\"", files++ ? "," : "", e->d_name);
	}
	if (d)
		closedir(d);
	snprintf(names + used, cap - used, "]");
	return files;
}

static void test_word_count(void)
{
	char names[4096], body[4300];
	int files = count_texts(names, sizeof names);
	CHECK_MSG(files >= 3 && nwords > 100, "examples/texts: %d files, %d words", files, nwords);
	snprintf(body, sizeof body, "{\"map\": \"wordcount_map\", \"reduce\": \"wordcount_reduce\", \"inputs\": %s,"
		 " \"processes\": 2}", names);
	struct resp *r = post_json(srv, "/mapreduce?wait=120", body);
	CHECK_STATUS(r, 200);
	CHECK_MSG(strcmp(jstr(r->json, "state"), "done") == 0, "%.300s", r->body);
	CHECK(jint(cJSON_GetObjectItemCaseSensitive(r->json, "map"), "done", 0) == files);
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(r->json, "results"), *kv;
	CHECK_MSG(cJSON_GetArraySize(results) == nwords, "%d words counted by spawnd, %d here",
		  cJSON_GetArraySize(results), nwords);
	const char *prev = "";
	cJSON_ArrayForEach(kv, results) {
		const char *w = cJSON_GetStringValue(cJSON_GetArrayItem(kv, 0));
		long n = (long)cJSON_GetArrayItem(kv, 1)->valuedouble;
		CHECK_MSG(w && strcmp(prev, w) < 0, "keys not sorted at %s", w ? w : "(null)");
		prev = w;
		long want = -1;
		for (int i = 0; i < nwords && want < 0; i++)
			if (strcmp(words[i].w, w) == 0)
				want = words[i].n;
		CHECK_MSG(n == want, "\"%s\": %ld counted by spawnd, %ld here", w, n, want);
	}
	char id[ID_CAP];
	snprintf(id, sizeof id, "%s", jstr(r->json, "job"));
	resp_free(r);
	r = get(srv, "/mapreduce/%s?wait=1", id);
	CHECK_STATUS(r, 200);
	CHECK(jint(cJSON_GetObjectItemCaseSensitive(r->json, "reduce"), "total", 0) == nwords);
	resp_free(r);
}

/* The pools listed whose name starts with prefix. */
static int pools_named(const char *prefix)
{
	struct resp *r = get(srv, "/pools");
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->json, "pools")) {
		const char *name = jstr(p, "name");
		n += name && strncmp(name, prefix, strlen(prefix)) == 0;
	}
	resp_free(r);
	return n;
}

/* A mapreduce's two pools (named "<its id>-map", "<its id>-reduce") go
 * once it has ended; the mapreduce still tells its jobs' counts. */
static void test_pools_go_with_the_job(void)
{
	char id[ID_CAP], prefix[ID_CAP + 2];
	struct resp *r = post_json(srv, "/mapreduce", "{\"map\": \"wordcount_map\", \"reduce\": \"wordcount_reduce\","
				   " \"inputs\": [\"MPL-2_0.txt\"], \"processes\": 1}");
	CHECK_STATUS(r, 202);
	snprintf(id, sizeof id, "%s", jstr(r->json, "job"));
	resp_free(r);
	snprintf(prefix, sizeof prefix, "%s-", id);
	r = get(srv, "/mapreduce/%s?wait=60", id);
	CHECK_MSG(r->status == 200 && strcmp(jstr(r->json, "state"), "done") == 0, "%.300s", r->body);
	resp_free(r);
	for (double end = now_s() + 20; pools_named(prefix) > 0 && now_s() < end; sleep_s(0.05))
		;
	CHECK_MSG(pools_named(prefix) == 0, "the pools of %s are still listed", id);
	r = get(srv, "/mapreduce/%s", id);
	CHECK_STATUS(r, 200);
	CHECK(jint(cJSON_GetObjectItemCaseSensitive(r->json, "map"), "done", 0) == 1);
	CHECK(jint(cJSON_GetObjectItemCaseSensitive(r->json, "reduce"), "total", 0) > 10);
	resp_free(r);
}

static void test_errors(void)
{
	struct resp *r = post_json(srv, "/mapreduce", "{\"map\": \"nosuch\", \"reduce\": \"wordcount_reduce\", \"inputs\": []}");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = post_json(srv, "/mapreduce", "{\"map\": \"wordcount_map\", \"reduce\": \"wordcount_reduce\","
				       " \"inputs\": [\"../../etc/passwd\", \"ok.txt\"], \"processes\": 0, \"x\": 1}");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "inputs[0]");
	CHECK_FIELD(r, "processes");
	CHECK_FIELD(r, "x");
	CHECK_MSG(!err_has_field(r, "inputs[1]"), RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = post_json(srv, "/mapreduce", "{\"inputs\": []}");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "map");
	CHECK_FIELD(r, "reduce");
	resp_free(r);
	r = get(srv, "/mapreduce/nosuch");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	/* A missing file fails its map task only: the job still ends, that input left out. */
	r = post_json(srv, "/mapreduce?wait=60", "{\"map\": \"wordcount_map\", \"reduce\": \"wordcount_reduce\","
						" \"inputs\": [\"missing.txt\", \"GPL-3.txt\"]}");
	CHECK_STATUS(r, 200);
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(r->json, "map");
	CHECK_MSG(strcmp(jstr(r->json, "state"), "done") == 0 && jint(map, "failed", 0) == 1, "%.300s", r->body);
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "results")) > 100);
	resp_free(r);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_word_count);
	RUN(test_pools_go_with_the_job);
	RUN(test_errors);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
