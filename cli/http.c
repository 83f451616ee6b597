/* http — libcurl under spawnctl.
 *
 * Design: one easy handle per request (created, used, cleaned up), so there is
 * no shared handle to lock when the stdin pump thread sends while the main
 * thread reads a stream; the module's only state is the base URL and the
 * Authorization header, both written once by http_init() before any thread.
 *
 * A 2xx body can go to a sink as it arrives (live output, events); any other
 * status is an error whose JSON body the caller prints, so the write callback
 * looks at the status once the first body bytes come, and collects error
 * bodies whatever the sink. Streams may stay quiet for long (a follow waits
 * for output), so there is no overall timeout, only a connect timeout; an
 * idle limit, when asked, is checked from the progress callback.
 */
#define _GNU_SOURCE
#include "cli/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "cli/common.h"

static char *base_url;
static char *auth_header;

struct transfer {
	CURL *curl;
	struct curl_slist *headers;
	struct http_sink *sink;
	struct http_resp *resp;
	double last_data;
	int status_known;       /* 1: 2xx and sink gets the body; 2: collect */
	char curl_error[CURL_ERROR_SIZE];
};

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int http_init(const char *url, const char *token)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -ENOMEM;
	base_url = strdup(url);
	if (!base_url)
		return -ENOMEM;
	for (size_t n = strlen(base_url); n > 0 && base_url[n - 1] == '/'; n--)
		base_url[n - 1] = '\0';
	if (token) {
		/* A header line must not be split or smuggled by the token. */
		for (const char *p = token; *p; p++)
			if (iscntrl((unsigned char)*p))
				return -EINVAL;
		if (asprintf(&auth_header, "Authorization: Bearer %s", token) < 0)
			return auth_header = NULL, -ENOMEM;
	}
	return 0;
}

void http_cleanup(void)
{
	free(base_url);
	free(auth_header);
	base_url = auth_header = NULL;
	curl_global_cleanup();
}

const char *http_base_url(void)
{
	return base_url ? base_url : "";
}

static int append(struct http_resp *r, const char *buf, size_t len)
{
	char *grown = realloc(r->body, r->len + len + 1);
	if (!grown)
		return -1;
	memcpy(grown + r->len, buf, len);
	r->body = grown;
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * nmemb;

	t->last_data = monotonic_s();
	if (!t->status_known) {
		long status = 0;
		curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
		t->status_known = t->sink && status >= 200 && status < 300 ? 1 : 2;
	}
	if (t->status_known == 1)
		return t->sink->data(buf, len, t->sink->arg) == 0 ? len : 0;
	return append(t->resp, buf, len) == 0 ? len : 0;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = arg;
	if (t->sink && t->sink->idle_s > 0 && monotonic_s() - t->last_data > t->sink->idle_s) {
		t->sink->idled = true;
		return 1;
	}
	return 0;
}

/* Sets up t for METHOD path; the body (if any) must outlive the transfer. */
static int transfer_setup(struct transfer *t, const char *method, const char *path, const char *body,
			  size_t len, const char *content_type, const char *accept)
{
	char *url = NULL, line[256];

	t->curl = curl_easy_init();
	if (!t->curl || asprintf(&url, "%s%s", base_url, path) < 0)
		return -ENOMEM;
	snprintf(line, sizeof line, "Accept: %s", accept ? accept : "application/json");
	t->headers = curl_slist_append(t->headers, line);
	if (content_type) {
		snprintf(line, sizeof line, "Content-Type: %s", content_type);
		t->headers = curl_slist_append(t->headers, line);
	}
	if (auth_header)
		t->headers = curl_slist_append(t->headers, auth_header);
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(t->curl, CURLOPT_CUSTOMREQUEST, method);
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	}
	curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->curl, CURLOPT_USERAGENT, "spawnctl/" SPAWNCTL_VERSION);
	curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(t->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->curl_error);
	if (t->sink && t->sink->idle_s > 0) {
		curl_easy_setopt(t->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(t->curl, CURLOPT_XFERINFODATA, t);
		curl_easy_setopt(t->curl, CURLOPT_NOPROGRESS, 0L);
	}
	t->last_data = monotonic_s();
	return 0;
}

/* Records how the transfer ended in its response and frees the handle. */
static void transfer_finish(struct transfer *t, CURLcode rc)
{
	struct http_resp *r = t->resp;
	bool stopped = rc == CURLE_WRITE_ERROR && t->status_known == 1;   /* the sink said stop */
	bool idled = rc == CURLE_ABORTED_BY_CALLBACK && t->sink && t->sink->idled;

	if (t->curl)
		curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK && !stopped && !idled) {
		snprintf(r->error, sizeof r->error, "%s", t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
		r->status = 0;
	}
	if (r->body)
		r->json = cJSON_ParseWithLength(r->body, r->len);
	curl_slist_free_all(t->headers);
	if (t->curl)
		curl_easy_cleanup(t->curl);
}

long http_request(const char *method, const char *path, const char *body, size_t len,
		  const char *content_type, const char *accept, struct http_sink *sink,
		  struct http_resp *r)
{
	struct transfer t = { .sink = sink, .resp = r };
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	memset(r, 0, sizeof *r);
	if (transfer_setup(&t, method, path, body, len, content_type, accept) == 0)
		rc = curl_easy_perform(t.curl);
	transfer_finish(&t, rc);
	return r->status;
}

long http_json(const char *method, const char *path, const cJSON *body, struct http_resp *r)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	long status;

	if (body && !text) {
		memset(r, 0, sizeof *r);
		snprintf(r->error, sizeof r->error, "out of memory");
		return 0;
	}
	status = http_request(method, path, text, text ? strlen(text) : 0,
			      text ? "application/json" : NULL, "application/json", NULL, r);
	free(text);
	return status;
}

void http_get_many(const char *const *paths, const char *accept, struct http_sink *sinks,
		   struct http_resp *resps, int n)
{
	struct transfer t[2] = { 0 };
	CURLcode rc[2] = { CURLE_OUT_OF_MEMORY, CURLE_OUT_OF_MEMORY };
	CURLM *multi = curl_multi_init();
	int running = 0;

	n = n > 2 ? 2 : n;
	for (int i = 0; i < n; i++) {
		memset(&resps[i], 0, sizeof resps[i]);
		t[i] = (struct transfer){ .sink = &sinks[i], .resp = &resps[i] };
		if (multi && transfer_setup(&t[i], "GET", paths[i], NULL, 0, NULL, accept) == 0)
			curl_multi_add_handle(multi, t[i].curl);
	}
	do {
		if (!multi || curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left)))
			for (int i = 0; i < n; i++)
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == t[i].curl)
					rc[i] = msg->data.result;
		if (running)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	} while (running);
	for (int i = 0; i < n; i++) {
		if (multi && t[i].curl)
			curl_multi_remove_handle(multi, t[i].curl);
		transfer_finish(&t[i], rc[i]);
	}
	curl_multi_cleanup(multi);
}

void http_resp_release(struct http_resp *r)
{
	cJSON_Delete(r->json);
	free(r->body);
	memset(r, 0, sizeof *r);
}

char *http_escape(const char *s)
{
	char *escaped = curl_easy_escape(NULL, s, 0);
	char *copy = escaped ? strdup(escaped) : NULL;
	curl_free(escaped);
	return copy;
}

int http_fail(const struct http_resp *r, const char *what)
{
	const cJSON *error = cJSON_GetObjectItemCaseSensitive(r->json, "error");
	const char *message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(error, "message"));
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(error, "code"));
	const cJSON *detail;

	if (r->status == 0) {
		cli_msg("%s: cannot reach spawnd at %s: %s", what, http_base_url(), r->error);
		return EXIT_CLI;
	}
	if (message)
		cli_msg("%s: %s (HTTP %ld %s)", what, message, r->status, code ? code : "");
	else
		cli_msg("%s: HTTP %ld: %.200s", what, r->status, r->body ? r->body : "");
	cJSON_ArrayForEach(detail, cJSON_GetObjectItemCaseSensitive(error, "details")) {
		const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(detail, "field"));
		const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(detail, "message"));
		fprintf(stderr, "  %s: %s\n", field ? field : "?", text ? text : "?");
	}
	return EXIT_CLI;
}
