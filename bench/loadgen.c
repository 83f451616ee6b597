/* loadgen — the HTTP load generator of spawnd's benchmarks (issue 5).
 *
 * Design: one libcurl multi handle drives C easy handles, one per simulated
 * client. Each client has exactly one request in flight; when it completes the
 * easy handle is removed and re-added, so its connection goes back to the
 * multi handle's cache and is reused (keep-alive): after the warm-up round the
 * measured phase opens no new connections (the "connects" figure says so).
 * Latency is measured per request from the moment it is added to the multi
 * handle to the moment libcurl reports it done, with CLOCK_MONOTONIC. The run
 * stops issuing requests after -n requests or -t seconds, whichever comes
 * first, and waits for the ones in flight (each bounded by -T seconds).
 *
 * Output: one JSON line on stdout, e.g.
 *   {"requests":N,"errors":E,"seconds":S,"rate":R,"p50_ms":…,"p99_ms":…,…}
 * With -o, the "id" member of every measured response body is written to a
 * file, one per line (P6 collects the ids of its live workers that way).
 * With -i, the URL's "{id}" is replaced by the ids of a file in turn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define MAX_CLIENTS 1024
#define MAX_HEADERS 16
#define BODY_KEEP (1024 * 1024)  /* bytes of a response body kept for -o and errors */

struct options {
	const char *url;
	const char *method;
	const char *body;
	const char *headers[MAX_HEADERS];
	int nheaders;
	int clients;
	long max_requests;
	double max_seconds;
	double request_timeout;
	long expect_status;
	bool warmup;
	bool verify_burst;
	const char *ids_in;
	const char *ids_out;
	const char *latencies_out;
	const char *cafile;            /* -C: CA file for https:// */
};

struct client {
	CURL *easy;
	double started;
	bool measured;           /* false during the warm-up round */
	char *body;              /* first BODY_KEEP bytes of the response */
	size_t body_len;
	uint64_t bytes;          /* all bytes of the response body */
	bool verify;             /* -V */
	bool pattern_bad;
	char url[2048];
};

struct run {
	struct options opt;
	CURLM *multi;
	struct curl_slist *headers;
	struct client clients[MAX_CLIENTS];
	char **ids;              /* -i */
	size_t nids, next_id;
	FILE *ids_out;           /* -o */
	double *latencies;       /* measured requests, in seconds */
	long nlatencies, issued, errors, connects;
	uint64_t bytes;
	char first_error[640];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen [-m GET|POST] [-d BODY] [-H HEADER]... [-c CLIENTS] [-n MAX_REQUESTS]\n"
		"               [-t MAX_SECONDS] [-T REQUEST_TIMEOUT] [-s STATUS] [-W] [-V]\n"
		"               [-i IDS_FILE] [-o IDS_FILE] [-L LATENCY_FILE] [-C CAFILE] URL\n"
		"  -W  no warm-up round (by default each client makes one unmeasured request first)\n"
		"  -V  verify that each response body is the burst pattern ('0' + i %% 10)\n"
		"  -i  replace \"{id}\" in URL by the ids of IDS_FILE in turn (one request per id)\n"
		"  -o  write the \"id\" of each measured JSON response to IDS_FILE\n"
		"  -L  write each measured request's latency in microseconds, in completion order\n"
		"  -C  trust the certificate(s) of CAFILE for an https:// URL (the TLS figures)\n");
	exit(2);
}

static void parse_options(struct options *o, int argc, char **argv)
{
	int c;

	*o = (struct options){ .method = "GET", .clients = 1, .max_requests = 1000000,
		.max_seconds = 10, .request_timeout = 60, .expect_status = 0, .warmup = true };
	while ((c = getopt(argc, argv, "m:d:H:c:n:t:T:s:WVi:o:L:C:")) != -1) {
		switch (c) {
		case 'm': o->method = optarg; break;
		case 'd': o->body = optarg; break;
		case 'H':
			if (o->nheaders == MAX_HEADERS)
				usage();
			o->headers[o->nheaders++] = optarg;
			break;
		case 'c': o->clients = atoi(optarg); break;
		case 'n': o->max_requests = atol(optarg); break;
		case 't': o->max_seconds = atof(optarg); break;
		case 'T': o->request_timeout = atof(optarg); break;
		case 's': o->expect_status = atol(optarg); break;
		case 'W': o->warmup = false; break;
		case 'V': o->verify_burst = true; break;
		case 'i': o->ids_in = optarg; break;
		case 'o': o->ids_out = optarg; break;
		case 'L': o->latencies_out = optarg; break;
		case 'C': o->cafile = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || o->clients < 1 || o->clients > MAX_CLIENTS || o->max_requests < 1
	    || o->max_seconds <= 0 || o->max_seconds > 600 || o->request_timeout <= 0)
		usage();
	o->url = argv[optind];
	if (!o->expect_status)
		o->expect_status = strcmp(o->method, "POST") == 0 ? 201 : 200;
}

/* Reads one id a line; returns 0 or a negative errno. */
static int read_ids(struct run *r, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t cap = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (r->nids == cap) {
			char **grown;
			cap = cap ? cap * 2 : 1024;
			grown = realloc(r->ids, cap * sizeof *grown);
			if (!grown) {
				fclose(f);
				return -ENOMEM;
			}
			r->ids = grown;
		}
		if (!(r->ids[r->nids++] = strdup(line))) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	return r->nids ? 0 : -ENOENT;
}

/* Whether data, found at offset `offset` of a body, is the burst pattern
 * (byte i is '0' + i % 10). Compared against a ready-made copy: memcmp runs at
 * memory speed, so -V does not slow a 1 GiB transfer down noticeably. */
static bool is_burst_pattern(const char *data, size_t len, uint64_t offset)
{
	enum { CHUNK = 64 * 1024 };
	static char pattern[CHUNK + 10];

	if (!pattern[0])
		for (size_t i = 0; i < sizeof pattern; i++)
			pattern[i] = (char)('0' + i % 10);
	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;
		if (memcmp(data, pattern + offset % 10, n) != 0)
			return false;
		data += n;
		offset += n;
		len -= n;
	}
	return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct client *cl = userdata;
	size_t len = size * nmemb;

	if (cl->body_len < BODY_KEEP) {
		size_t keep = len < BODY_KEEP - cl->body_len ? len : BODY_KEEP - cl->body_len;
		memcpy(cl->body + cl->body_len, data, keep);
		cl->body_len += keep;
	}
	if (cl->verify && !cl->pattern_bad)
		cl->pattern_bad = !is_burst_pattern(data, len, cl->bytes);
	cl->bytes += len;
	return len;
}

/* Picks the URL of the next request; false when -i ids are used up. */
static bool next_url(struct run *r, struct client *cl)
{
	const char *mark;

	if (!r->nids) {
		snprintf(cl->url, sizeof cl->url, "%s", r->opt.url);
		return true;
	}
	if (r->next_id == r->nids)
		return false;
	mark = strstr(r->opt.url, "{id}");
	snprintf(cl->url, sizeof cl->url, "%.*s%s%s", (int)(mark - r->opt.url), r->opt.url,
		 r->ids[r->next_id++], mark + 4);
	return true;
}

static bool start_request(struct run *r, struct client *cl, bool measured)
{
	if (!next_url(r, cl))
		return false;
	curl_easy_setopt(cl->easy, CURLOPT_URL, cl->url);
	cl->body_len = 0;
	cl->bytes = 0;
	cl->pattern_bad = false;
	cl->measured = measured;
	cl->started = now();
	if (measured)
		r->issued++;
	curl_multi_add_handle(r->multi, cl->easy);
	return true;
}

static int setup_client(struct run *r, struct client *cl)
{
	const struct options *o = &r->opt;

	if (!(cl->easy = curl_easy_init()) || !(cl->body = malloc(BODY_KEEP)))
		return -ENOMEM;
	curl_easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cl->easy, CURLOPT_WRITEDATA, cl);
	curl_easy_setopt(cl->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(cl->easy, CURLOPT_TIMEOUT_MS, (long)(o->request_timeout * 1000));
	curl_easy_setopt(cl->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cl->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(cl->easy, CURLOPT_NOPROXY, "*");  /* loopback only, whatever the environment */
	if (o->cafile)
		curl_easy_setopt(cl->easy, CURLOPT_CAINFO, o->cafile);
	if (strcmp(o->method, "POST") == 0) {
		curl_easy_setopt(cl->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(cl->easy, CURLOPT_POSTFIELDS, o->body ? o->body : "");
	} else if (strcmp(o->method, "GET") != 0) {
		curl_easy_setopt(cl->easy, CURLOPT_CUSTOMREQUEST, o->method);
	}
	cl->verify = o->verify_burst;
	return 0;
}

static void record_error(struct run *r, struct client *cl, const char *what)
{
	r->errors++;
	if (!r->first_error[0]) {
		int shown = (int)(cl->body_len < 200 ? cl->body_len : 200);
		snprintf(r->first_error, sizeof r->first_error, "%s (%.200s): %.*s", what, cl->url, shown,
			 cl->body);
	}
}

static void write_id(struct run *r, struct client *cl)
{
	cJSON *doc = cJSON_ParseWithLength(cl->body, cl->body_len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");

	if (cJSON_IsString(id))
		fprintf(r->ids_out, "%s\n", id->valuestring);
	else
		record_error(r, cl, "response without an id");
	cJSON_Delete(doc);
}

/* Records one finished transfer (when measured) and detaches its handle. */
static void finish_request(struct run *r, struct client *cl, CURLcode result, double done)
{
	long status = 0, connects = 0;

	curl_easy_getinfo(cl->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(cl->easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_multi_remove_handle(r->multi, cl->easy);
	if (!cl->measured)
		return;
	r->connects += connects;
	r->bytes += cl->bytes;
	r->latencies[r->nlatencies++] = done - cl->started;
	if (result != CURLE_OK) {
		cl->body_len = 0;
		record_error(r, cl, curl_easy_strerror(result));
	} else if (status != r->opt.expect_status) {
		char what[64];
		snprintf(what, sizeof what, "status %ld", status);
		record_error(r, cl, what);
	} else if (r->opt.verify_burst && cl->pattern_bad) {
		record_error(r, cl, "body is not the burst pattern");
	} else if (r->ids_out) {
		write_id(r, cl);
	}
}

/* Drives the transfers until none is running. In the measured phase each
 * finished request is followed by the client's next one while the request
 * and time budgets last. */
static void drive(struct run *r, bool measured, double deadline)
{
	int running = 1;

	while (running) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(r->multi, &running);
		while ((msg = curl_multi_info_read(r->multi, &left))) {
			struct client *cl = NULL;
			double done = now();

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&cl);
			finish_request(r, cl, msg->data.result, done);
			if (measured && r->issued < r->opt.max_requests && done < deadline
			    && start_request(r, cl, true))
				running = 1;
		}
		if (running)
			curl_multi_poll(r->multi, NULL, 0, 100, NULL);
	}
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)n + 0.999999) - 1;  /* nearest rank */
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

static void report(struct run *r, double elapsed)
{
	double *l = r->latencies;
	long n = r->nlatencies;
	cJSON *out = cJSON_CreateObject();
	char *text;

	if (r->opt.latencies_out) {
		FILE *f = fopen(r->opt.latencies_out, "we");
		for (long i = 0; f && i < n; i++)
			fprintf(f, "%.1f\n", l[i] * 1e6);
		if (f)
			fclose(f);
	}
	qsort(l, (size_t)n, sizeof *l, compare_double);
	cJSON_AddNumberToObject(out, "requests", (double)n);
	cJSON_AddNumberToObject(out, "errors", (double)r->errors);
	cJSON_AddNumberToObject(out, "clients", r->opt.clients);
	cJSON_AddNumberToObject(out, "seconds", elapsed);
	cJSON_AddNumberToObject(out, "rate", elapsed > 0 ? (double)(n - r->errors) / elapsed : 0);
	cJSON_AddNumberToObject(out, "p50_ms", percentile(l, n, 0.50) * 1e3);
	cJSON_AddNumberToObject(out, "p90_ms", percentile(l, n, 0.90) * 1e3);
	cJSON_AddNumberToObject(out, "p99_ms", percentile(l, n, 0.99) * 1e3);
	cJSON_AddNumberToObject(out, "max_ms", n ? l[n - 1] * 1e3 : 0);
	cJSON_AddNumberToObject(out, "bytes", (double)r->bytes);
	cJSON_AddNumberToObject(out, "connects", (double)r->connects);
	if (r->first_error[0])
		cJSON_AddStringToObject(out, "first_error", r->first_error);
	text = cJSON_PrintUnformatted(out);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(out);
}

int main(int argc, char **argv)
{
	static struct run r;
	double start, deadline;
	long cap;
	int rc = 0;

	parse_options(&r.opt, argc, argv);
	if (r.opt.ids_in && (!strstr(r.opt.url, "{id}") || (rc = read_ids(&r, r.opt.ids_in)) < 0)) {
		fprintf(stderr, "loadgen: %s: %s\n", r.opt.ids_in, rc ? strerror(-rc) : "URL has no {id}");
		return 2;
	}
	if (r.opt.ids_out && !(r.ids_out = fopen(r.opt.ids_out, "we"))) {
		fprintf(stderr, "loadgen: %s: %s\n", r.opt.ids_out, strerror(errno));
		return 2;
	}
	cap = r.nids ? (long)r.nids : r.opt.max_requests;
	if (r.nids && r.opt.max_requests > cap)
		r.opt.max_requests = cap;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(r.multi = curl_multi_init())
	    || !(r.latencies = malloc((size_t)(cap + 1) * sizeof *r.latencies))) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 2;
	}
	curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, (long)r.opt.clients);
	r.headers = curl_slist_append(NULL, "Expect:");
	for (int i = 0; i < r.opt.nheaders; i++)
		r.headers = curl_slist_append(r.headers, r.opt.headers[i]);
	for (int i = 0; i < r.opt.clients; i++) {
		if (setup_client(&r, &r.clients[i]) < 0) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 2;
		}
		curl_easy_setopt(r.clients[i].easy, CURLOPT_PRIVATE, (char *)&r.clients[i]);
	}
	/* Warm-up: one unmeasured request per client opens every connection. */
	if (r.opt.warmup && !r.nids) {
		for (int i = 0; i < r.opt.clients; i++)
			start_request(&r, &r.clients[i], false);
		drive(&r, false, 0);
	}
	start = now();
	deadline = start + r.opt.max_seconds;
	for (int i = 0; i < r.opt.clients && r.issued < r.opt.max_requests; i++)
		if (!start_request(&r, &r.clients[i], true))
			break;
	drive(&r, true, deadline);
	report(&r, now() - start);
	if (r.ids_out)
		fclose(r.ids_out);
	for (int i = 0; i < r.opt.clients; i++) {
		curl_easy_cleanup(r.clients[i].easy);
		free(r.clients[i].body);
	}
	curl_multi_cleanup(r.multi);
	curl_slist_free_all(r.headers);
	curl_global_cleanup();
	return r.errors ? 1 : 0;
}
