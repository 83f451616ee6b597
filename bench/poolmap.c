/* poolmap — PL1's client (bench/pool.py): Pool.map of square over N integers
 * through POST /pools/{id}/map?wait=, timed from the items to checked values.
 *
 * Why a C client: a Python client's json.dumps/json.loads of 100,000 ints
 * alone cost about 40 ms, as much as Python's whole Pool.map; the figure
 * would measure the client. This one stays honest: inside the timer it builds
 * the request body from the items, posts it (libcurl, keep-alive off: one
 * request), reads the answer's results into integers (strtoll) and checks
 * that every one is the square of its item, in order, and parses the rest of
 * the answer with cJSON (the job's state). The body's integers are printed,
 * and the results read, by hand because cJSON prints every number through
 * "%1.15g" and parses each into a node with strtod (that would again be the
 * client's cost, not the server's).
 *
 *   poolmap URL N     prints {"seconds": S, "items": N} or exits 1 naming what was wrong
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

struct buf {
	char *data;
	size_t len, cap;
};

static bool grow(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		return false;
	b->data = d;
	b->cap = cap;
	return true;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	if (!grow(b, size * n + 1))
		return 0;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* {"items":[0,1,...,n-1]}, the integers printed by hand. */
static bool build_body(struct buf *b, const long *items, long n)
{
	if (!grow(b, (size_t)n * 21 + 32))
		return false;
	b->len = (size_t)sprintf(b->data, "{\"items\":[");
	for (long i = 0; i < n; i++) {
		char digits[24];
		int k = 0;
		unsigned long v = (unsigned long)(items[i] < 0 ? -items[i] : items[i]);
		do
			digits[k++] = (char)('0' + v % 10);
		while ((v /= 10));
		if (i)
			b->data[b->len++] = ',';
		if (items[i] < 0)
			b->data[b->len++] = '-';
		while (k)
			b->data[b->len++] = digits[--k];
	}
	memcpy(b->data + b->len, "]}", 3);
	b->len += 2;
	return true;
}

/* The results array's numbers, read with strtoll into got (n of them): the
 * answer's integers in order. Its end (past ']'), or NULL: not that shape.
 * By hand because cJSON_Parse of 100,000 numbers (a node and a strtod each)
 * took 20 ms, more than the server's whole map would be allowed. */
static const char *read_results(const char *at, long long *got, long n, long *count)
{
	*count = 0;
	if (*at++ != '[')
		return NULL;
	if (*at == ']')
		return at + 1;
	for (;;) {
		char *end;
		long long v = strtoll(at, &end, 10);
		if (end == at || *count >= n || *end == '.' || *end == 'e' || *end == 'E')
			return NULL;    /* not an integer, or one too many */
		got[(*count)++] = v;
		if (*end == ']')
			return end + 1;
		if (*end != ',')
			return NULL;
		at = end + 1;
	}
}

/* Every result the square of its item, in order, and the job done. NULL or
 * what is wrong. The rest of the answer (without the results) goes through
 * cJSON. */
static const char *check(struct buf *answer, const long *items, long n)
{
	static const char key[] = "\"results\":";
	char *at = answer->data ? strstr(answer->data, key) : NULL;
	long long *got = malloc((size_t)(n > 0 ? n : 1) * sizeof *got);
	long count = 0;
	const char *end = at && got ? read_results(at + sizeof key - 1, got, n, &count) : NULL;
	if (!end) {
		free(got);
		return "the answer has no array of integer results";
	}
	memmove(at + sizeof key + 1, end, strlen(end) + 1);    /* "results":[] */
	at[sizeof key - 1] = '[';
	at[sizeof key] = ']';
	cJSON *j = cJSON_Parse(answer->data);
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
	const char *why = !j ? "the answer is not JSON"
			: !cJSON_IsString(state) || strcmp(state->valuestring, "done") != 0 ? "the job is not done"
			: count != n ? "not one result per item" : NULL;
	for (long i = 0; !why && i < n; i++)
		if (got[i] != (long long)items[i] * items[i])
			why = "a result is not its item's square";
	cJSON_Delete(j);
	free(got);
	return why;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: poolmap URL N\n");
		return 2;
	}
	long n = atol(argv[2]);
	long *items = malloc((size_t)(n > 0 ? n : 1) * sizeof *items);
	struct buf body = { 0 }, answer = { 0 };
	for (long i = 0; i < n; i++)
		items[i] = i;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, argv[1]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
	double t0 = now_s();
	if (!build_body(&body, items, n)) {
		fprintf(stderr, "poolmap: out of memory\n");
		return 1;
	}
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	const char *why = rc != CURLE_OK ? curl_easy_strerror(rc) : status != 200 ? "the status is not 200"
	                                                                    : check(&answer, items, n);
	double t1 = now_s();
	if (why) {
		fprintf(stderr, "poolmap: %s (status %ld): %.200s\n", why, status, answer.data ? answer.data : "");
		return 1;
	}
	printf("{\"seconds\": %.6f, \"items\": %ld}\n", t1 - t0, n);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(body.data);
	free(answer.data);
	free(items);
	return 0;
}
