/* http — see http.h.
 *
 * libmicrohttpd runs a small pool of threads on epoll. A request that must
 * wait (join, ?wait=, DELETE) is suspended with MHD_suspend_connection()
 * instead of blocking its thread; the engine wakes it with http_wake() (from
 * the callback of a waiter the handler owns), which resumes the connection,
 * and libmicrohttpd calls the access handler again, where r->resume replies.
 * Requests go to the dispatch function main.c hands over (the route table of
 * handlers/routes.c): this module knows no handler and no engine type.
 *
 * The suspend/wake race (server/suspender.h): a wake that comes before the
 * handler has suspended only marks the request woken, and http_suspend() then
 * runs the continuation at once instead of suspending.
 */
#define _GNU_SOURCE
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/utf8.h"
#include "lib/log.h"
#include "lib/number.h"
#include "server/connlimit.h"
#include "server/framing.h"
#include "server/http_metrics.h"
#include "server/tls.h"

#define MAX_PENDING_HEADERS 4

static struct MHD_Daemon *daemon_handle;
static struct http_config config;
static char url_buf[300];
static atomic_bool stopping;

/* Headers to add to a request's reply; kept beside the request. */
struct pending_headers {
	int n;
	char *name[MAX_PENDING_HEADERS], *value[MAX_PENDING_HEADERS];
};

struct http_req_full {
	struct http_req r;
	struct pending_headers headers;
	bool body_too_large;
};

static int64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ---- replies ------------------------------------------------------------- */

void http_set_header(struct http_req *r, const char *name, const char *value)
{
	struct pending_headers *h = &((struct http_req_full *)r)->headers;
	if (h->n == MAX_PENDING_HEADERS)
		return;
	h->name[h->n] = strdup(name);
	h->value[h->n] = strdup(value);
	h->n++;
}

bool http_cors_allowed(struct http_req *r)
{
	const char *origin = http_header(r, "Origin");
	const char *list = config.cors_origins;
	if (!origin || !list || !*origin)
		return false;
	size_t len = strlen(origin);
	while (*list) {
		size_t n = strcspn(list, ",");
		if (n == len && strncmp(list, origin, n) == 0)
			return true;
		list += n + (list[n] == ',');
	}
	return false;
}

static void add_cors_headers(struct http_req *r, struct MHD_Response *resp)
{
	/* With CORS on, every answer depends on Origin: say so to caches. */
	if (config.cors_origins)
		MHD_add_response_header(resp, "Vary", "Origin");
	if (!http_cors_allowed(r))
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", http_header(r, "Origin"));
	MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Authorization, Last-Event-ID");
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location, Retry-After");
	MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
}

enum MHD_Result http_reply_response(struct http_req *r, unsigned status, struct MHD_Response *resp)
{
	struct pending_headers *h = &((struct http_req_full *)r)->headers;
	if (!resp)
		return MHD_NO;
	add_cors_headers(r, resp);
	for (int i = 0; i < h->n; i++)
		if (h->name[i] && h->value[i])
			MHD_add_response_header(resp, h->name[i], h->value[i]);
	enum MHD_Result res = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->replied = true;
	return res;
}

enum MHD_Result http_reply_buffer(struct http_req *r, unsigned status, const char *content_type,
				  const void *data, size_t len, bool copy)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data,
		copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		if (!copy)
			free((void *)(uintptr_t)data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return http_reply_response(r, status, resp);
}

enum MHD_Result http_reply_json(struct http_req *r, unsigned status, cJSON *body)
{
	char *text = body ? number_print_json(body) : NULL;
	cJSON_Delete(body);
	/* cJSON prints string bytes as they are: a message quoting a request's
	 * text (a percent-decoded path, a name cut at 128 bytes) could carry
	 * invalid UTF-8, which strict JSON readers refuse. JSON's syntax is
	 * ASCII, so replacing bad bytes by U+FFFD keeps the text valid JSON. */
	if (text && !utf8_valid(text, strlen(text))) {
		char *clean = utf8_sanitize(text, strlen(text), NULL);
		free(text);
		text = clean;
	}
	if (!text)
		return http_reply_buffer(r, 500, "application/json",
			"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n", 57, true);
	size_t len = strlen(text);
	char *withnl = realloc(text, len + 2);
	if (!withnl) {
		free(text);
		return MHD_NO;
	}
	withnl[len] = '\n';
	withnl[len + 1] = '\0';
	return http_reply_buffer(r, status, "application/json", withnl, len + 1, false);
}

cJSON *http_detail(const char *field, const char *message)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "field", field);
	cJSON_AddStringToObject(d, "message", message);
	return d;
}

enum MHD_Result http_reply_invalid(struct http_req *r, const char *field, const char *message)
{
	cJSON *d = cJSON_CreateArray();
	cJSON_AddItemToArray(d, http_detail(field, message));
	return http_reply_error(r, 400, "invalid_argument", d, "%s: %s", field, message);
}

enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *code, cJSON *details,
				 const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	cJSON *body = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(body, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	if (details)
		cJSON_AddItemToObject(e, "details", details);
	return http_reply_json(r, status, body);
}

enum MHD_Result http_reply_over_limit(struct http_req *r)
{
	http_set_header(r, "Retry-After", "1");
	http_set_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->over_limit == CONNLIMIT_IP_FULL)
		return http_reply_error(r, 429, "too_many_connections", NULL,
					"this address holds as many connections as it may; retry when one has ended");
	return http_reply_error(r, 503, "server_busy", NULL,
				"every connection slot is taken but those kept for /healthz and operators; retry later");
}

/* ---- request data -------------------------------------------------------- */

const char *http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int http_query_seconds(struct http_req *r, const char *key, double *out)
{
	const char *v = http_query(r, key);
	char *end;
	if (!v)
		return 0;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > NUMBER_SECONDS_MAX)
		return -EINVAL;
	*out = d;
	return 1;
}

bool http_parse_u64(const char *v, uint64_t *out)
{
	char *end;
	if (!*v || *v < '0' || *v > '9')
		return false;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

/* ---- suspension ---------------------------------------------------------- */

enum MHD_Result http_suspend(struct http_req *r, http_handler *resume)
{
	pthread_mutex_lock(&r->susp.lock);
	if (r->susp.woken) {
		r->susp.woken = false;
		pthread_mutex_unlock(&r->susp.lock);
		return resume(r);
	}
	r->resume = resume;
	suspender_suspend_locked(&r->susp);
	pthread_mutex_unlock(&r->susp.lock);
	return MHD_YES;
}

void http_wake(struct http_req *r)
{
	suspender_wake(&r->susp);
}

void http_set_state(struct http_req *r, void *state, void (*release)(void *state))
{
	r->state = state;
	r->release_state = release;
}

/* ---- libmicrohttpd callbacks --------------------------------------------- */

static bool method_has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_req_full *f = *con_cls;
	if (!f) {
		f = calloc(1, sizeof *f);
		if (!f)
			return MHD_NO;
		suspender_init(&f->r.susp, conn);
		f->r.conn = conn;
		f->r.method = method;
		f->r.path = url;
		f->r.start_us = now_us();
		*con_cls = f;
		f->r.over_limit = (int)connlimit_request_started(conn);
		if (atomic_load(&stopping)) {
			http_set_header(&f->r, MHD_HTTP_HEADER_CONNECTION, "close");
			return http_reply_error(&f->r, 503, "shutting_down", NULL, "the server is shutting down");
		}
		/* Framing, before any body byte is read. */
		const char *field, *why = framing_problem(conn, version, &field);
		if (why)
			return http_reply_invalid(&f->r, field, why);
		const char *cl = http_header(&f->r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && method_has_body(method)) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (!errno && !*end && n > config.max_body)
				return http_reply_error(&f->r, 413, "payload_too_large", NULL,
					"request body of %llu bytes exceeds the limit of %zu bytes", n, config.max_body);
		}
		return config.admit ? config.admit(&f->r) : MHD_YES;
	}
	struct http_req *r = &f->r;
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->replied || f->body_too_large)
			return MHD_YES;
		if (r->body_len + n > config.max_body) {
			f->body_too_large = true;
			return MHD_YES;
		}
		char *b = realloc(r->body, r->body_len + n + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + r->body_len, upload_data, n);
		r->body = b;
		r->body_len += n;
		r->body[r->body_len] = '\0';
		return MHD_YES;
	}
	if (r->replied)
		return MHD_YES;
	if (f->body_too_large)
		return http_reply_error(r, 413, "payload_too_large", NULL,
			"request body exceeds the limit of %zu bytes", config.max_body);
	if (r->resume) {
		http_handler *resume = r->resume;
		r->resume = NULL;
		return resume(r);
	}
	return config.dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_req_full *f = *con_cls;
	if (!f)
		return;
	struct http_req *r = &f->r;
	connlimit_request_ended(conn);
	/* First: the handler's release stops whatever may still wake r (its
	 * waiter), so nothing touches r->susp once it is destroyed below. */
	if (r->release_state)
		r->release_state(r->state);
	http_metrics_count(r->route, r->status, (uint64_t)(now_us() - r->start_us) * 1000);
	if (log_enabled(LOG_INFO) || r->status >= 500)
		log_event(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request",
			  "method=%s path=\"%s\" status=%u ms=%.3f%s", r->method, r->path, r->status,
			  (double)(now_us() - r->start_us) / 1000.0,
			  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
	for (int i = 0; i < f->headers.n; i++) {
		free(f->headers.name[i]);
		free(f->headers.value[i]);
	}
	free(r->body);
	suspender_release(&r->susp);
	free(f);
	*con_cls = NULL;
}

/* Percent-decoding of the path and query. A decoded %00 would cut the C
 * string short ("/targets/worker%00x" would read as "/targets/worker"), so
 * text holding one is left as it is; '%' then never matches a name. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	for (char *c = msg; *c; c++)
		if (*c == '"')
			*c = '\'';
	log_event(LOG_DEBUG, "libmicrohttpd", "detail=\"%s\"", msg);
}

/* ---- start and stop ------------------------------------------------------ */

static int bind_listen(const char *listen_addr, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen_addr, ':');
	if (!colon || colon == listen_addr || !colon[1] || (size_t)(colon - listen_addr) >= sizeof host) {
		snprintf(err, errlen, "--listen %s: expected HOST:PORT, e.g. 127.0.0.1:8080", listen_addr);
		return -EINVAL;
	}
	memcpy(host, listen_addr, (size_t)(colon - listen_addr));
	host[colon - listen_addr] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {          /* [::1]:8080 */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	int g = getaddrinfo(host, colon + 1, &hints, &res);
	if (g) {
		snprintf(err, errlen, "--listen %s: %s", listen_addr, gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		snprintf(err, errlen, "--listen %s: %s", listen_addr, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN];
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
		snprintf(url_buf, sizeof url_buf, "%s://[%s]:%u", config.tls ? "https" : "http", addr, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
		snprintf(url_buf, sizeof url_buf, "%s://%s:%u", config.tls ? "https" : "http", addr, ntohs(a->sin_port));
	}
	return fd;
}

int http_start(const struct http_config *cfg, const char **url, char *err, size_t errlen)
{
	config = *cfg;
	connlimit_init(cfg->connection_limit, cfg->connection_limit_per_ip);
	int fd = bind_listen(cfg->listen, err, errlen);
	if (fd < 0)
		return fd;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG | (cfg->tls ? MHD_USE_TLS : 0);
	/* libmicrohttpd complains of TLS options without TLS: given only with it.
	 * Without the priority string GnuTLS's NORMAL would offer TLS 1.0 and 1.1. */
	struct MHD_OptionItem tls_options[] = {
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)TLS_PRIORITIES },
		{ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, tls_cert_callback() },
		{ MHD_OPTION_END, 0, NULL },
	};
	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_ARRAY, cfg->tls ? tls_options : tls_options + 2,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
		MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, connlimit_notify, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
		MHD_OPTION_END);
	if (!daemon_handle) {
		snprintf(err, errlen, "libmicrohttpd could not start on %s", cfg->listen);
		close(fd);
		return -EIO;
	}
	*url = url_buf;
	return 0;
}

void http_quiesce(void)
{
	/* Not MHD_quiesce_daemon(): a client connecting after it would wait in
	 * the listening socket's backlog, unanswered, until http_stop(). */
	atomic_store(&stopping, true);
}

void http_stop(void)
{
	if (daemon_handle) {
		MHD_stop_daemon(daemon_handle);
		daemon_handle = NULL;
	}
}

/* ---- the workers' unix socket -------------------------------------------- */

static struct MHD_Daemon *local_handle;

/* A second daemon on a unix socket, with the same callbacks: a request there
 * is admitted and routed like any other (its token decides what it may do).
 * Plain HTTP even when the TCP listener speaks TLS: the socket file's mode
 * (0600, in the 0700 state folder) keeps other users out. */
int http_start_local(int fd, char *err, size_t errlen)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	local_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, 1,
		MHD_OPTION_CONNECTION_LIMIT, config.connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, config.connection_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
		MHD_OPTION_END);
	if (!local_handle) {
		snprintf(err, errlen, "libmicrohttpd could not serve the workers' socket");
		close(fd);
		return -EIO;
	}
	return 0;
}

void http_stop_local(void)
{
	if (local_handle) {
		MHD_stop_daemon(local_handle);
		local_handle = NULL;
	}
}
