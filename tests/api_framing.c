/* api_framing — hostile framing over a raw socket (QUALITY.md 8) and the
 * Host and Origin checks that keep a web page from driving a loopback
 * spawnd (issue 12, point 5). Each request is written byte for byte, as no
 * HTTP client library would send it: duplicate Content-Length, Transfer-
 * Encoding with Content-Length (a smuggled second request must never run),
 * transfer codings other than chunked (answered at once, not after the
 * 120 s idle timeout), duplicate or missing Host, a Host that is not this
 * server's (DNS rebinding: 421), and a write from a foreign Origin (a
 * cross-site form POST: 403).
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ANSWER_WITHIN_S 10.0    /* generous: the bug was 120 s of silence */

static struct server *srv, *named;
static int port, named_port;

struct raw {
	int status;
	char text[8192];        /* the whole answer, NUL-terminated */
	cJSON *json;            /* the body, when it parses */
	double seconds;
};

static int port_of(const struct server *s)
{
	const char *colon = strrchr(server_url(s), ':');
	return colon ? atoi(colon + 1) : 0;
}

/* Sends request as it is and reads until the server closes (or the deadline). */
static void raw_send(int to_port, const char *request, struct raw *out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)to_port) };
	size_t len = 0;
	double start = now_s();

	memset(out, 0, sizeof *out);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left_ms = (int)((start + ANSWER_WITHIN_S - now_s()) * 1000);
		if (left_ms <= 0 || poll(&p, 1, left_ms) <= 0)
			break;
		ssize_t n = read(fd, out->text + len, sizeof out->text - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof out->text - 1)
			break;
	}
	close(fd);
	out->seconds = now_s() - start;
	out->text[len] = '\0';
	sscanf(out->text, "HTTP/1.%*c %d", &out->status);
	const char *body = strstr(out->text, "\r\n\r\n");
	if (body)
		out->json = cJSON_Parse(body + 4);
}

static const char *raw_code(const struct raw *r)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
	return jstr(e, "code");
}

/* true when field is NULL or error.details names it. */
static bool raw_names_field(const struct raw *r, const char *field)
{
	char want[96];
	snprintf(want, sizeof want, "\"field\":\"%s\"", field ? field : "");
	return !field || strstr(r->text, want);
}

/* The answer is status with error code (NULL: any body) and a details entry for field (NULL: none needed). */
#define CHECK_RAW(r, want, code, field) do { \
		CHECK_MSG((r).status == (want), "expected %d, got: %.300s", (want), (r).text); \
		CHECK_MSG(!(code) || (raw_code(&(r)) && strcmp(raw_code(&(r)), (const char *)(code) ? (const char *)(code) : "") == 0), \
			  "expected error.code %s: %.400s", (const char *)(code) ? (const char *)(code) : "", (r).text); \
		CHECK_MSG(raw_names_field(&(r), (field)), "no details for %s: %.400s", (const char *)(field), (r).text); \
		CHECK_MSG((r).seconds < ANSWER_WITHIN_S, "no answer within %g s", ANSWER_WITHIN_S); \
	} while (0)

static void raw_free(struct raw *r)
{
	cJSON_Delete(r->json);
	r->json = NULL;
}

static void test_setup(void)
{
	srv = server_start("--cors-origins http://dash.example:3000");
	CHECK_MSG(srv, "spawnd did not start");
	port = port_of(srv);
	named = server_start("--allowed-hosts spawnd.internal,Build-Box");
	CHECK_MSG(named, "spawnd did not start with --allowed-hosts");
	named_port = port_of(named);
}

/* The body a proxy would see (the last Content-Length, or Content-Length
 * over chunked) hides a second request; spawnd refuses the whole and runs nothing. */
static void test_smuggling_refused(void)
{
	static const char *const requests[] = {
		"POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Content-Length: 22\r\nContent-Length: 0\r\n\r\n{\"target\": \"worker\"}\r\n",
		"POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Content-Length: 5\r\nContent-Length: 5\r\n\r\n{\"a\":",
		"POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n16\r\n{\"target\": \"worker\"}\r\n\r\n0\r\n\r\n",
		"POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n16\r\n{\"target\": \"worker\"}\r\n\r\n0\r\n\r\n",
		"POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
	};
	static const char *const fields[] = { "Content-Length", "Content-Length", "Transfer-Encoding",
					      "Transfer-Encoding", "Transfer-Encoding" };
	CHECK_MSG(srv, "no server");
	int before = process_count(srv);
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		struct raw r;
		char field_in[64];
		raw_send(port, requests[i], &r);
		snprintf(field_in, sizeof field_in, "\"field\":\"%s\"", fields[i]);
		bool named_field = strstr(r.text, field_in) != NULL;
		CHECK_RAW(r, 400, "invalid_argument", NULL);
		raw_free(&r);
		CHECK_MSG(named_field, "case %zu: the details do not name %s: %.300s", i, fields[i], r.text);
	}
	sleep_s(0.2);
	CHECK_INT(process_count(srv), before);
}

/* Codings other than chunked: answered at once (was: 120 s of silence). */
static void test_other_transfer_codings_answered_at_once(void)
{
	static const char *const codings[] = { "gzip", "chunked, gzip", "gzip, chunked", "identity", "Chunked2" };
	CHECK_MSG(srv, "no server");
	for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
		char req[512];
		struct raw r;
		snprintf(req, sizeof req, "POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Transfer-Encoding: %s\r\n\r\n{}", codings[i]);
		raw_send(port, req, &r);
		CHECK_RAW(r, 400, "invalid_argument", "Transfer-Encoding");
		raw_free(&r);
	}
	/* chunked itself, in any case, still works. */
	struct raw r;
	raw_send(port, "POST /processes?wait=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\n\r\n"
		 "14\r\n{\"target\": \"worker\"}\r\n0\r\n\r\n", &r);
	CHECK_RAW(r, 201, NULL, NULL);
	raw_free(&r);
}

static void host_status(int to_port, const char *host_line, int want, const char *code)
{
	char req[512];
	struct raw r;
	snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\n%sConnection: close\r\n\r\n", host_line);
	raw_send(to_port, req, &r);
	CHECK_RAW(r, want, code, NULL);
	raw_free(&r);
}

/* DNS rebinding sends the attacker's name as Host: 421. This server's names pass. */
static void test_host(void)
{
	char line[128];
	CHECK_MSG(srv && named, "no server");
	static const char *const ours[] = { "127.0.0.1", "localhost", "LOCALHOST", "[::1]" };
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
		snprintf(line, sizeof line, "Host: %s:%d\r\n", ours[i], port);
		host_status(port, line, 200, NULL);
		if (check_failure[0])
			return;
		snprintf(line, sizeof line, "Host: %s\r\n", ours[i]);
		host_status(port, line, 200, NULL);
		if (check_failure[0])
			return;
	}
	host_status(port, "Host: attacker.example\r\n", 421, "misdirected_request");
	if (check_failure[0])
		return;
	snprintf(line, sizeof line, "Host: attacker.example:%d\r\n", port);
	host_status(port, line, 421, "misdirected_request");
	if (check_failure[0])
		return;
	host_status(port, "Host: 10.11.12.13\r\n", 421, "misdirected_request");       /* not our address */
	if (check_failure[0])
		return;
	host_status(port, "Host: localhost.attacker.example\r\n", 421, "misdirected_request");
	if (check_failure[0])
		return;
	host_status(port, "Host: spawnd.internal\r\n", 421, "misdirected_request");   /* not configured here */
	if (check_failure[0])
		return;
	snprintf(line, sizeof line, "Host: spawnd.internal:%d\r\n", named_port);
	host_status(named_port, line, 200, NULL);
	if (check_failure[0])
		return;
	host_status(named_port, "Host: build-box\r\n", 200, NULL);
	if (check_failure[0])
		return;
	host_status(named_port, "Host: other.internal\r\n", 421, "misdirected_request");
	if (check_failure[0])
		return;
	/* Framing of Host itself: twice, or missing in HTTP/1.1, is 400. HTTP/1.0 may omit it. */
	host_status(port, "Host: 127.0.0.1\r\nHost: attacker.example\r\n", 400, "invalid_argument");
	if (check_failure[0])
		return;
	host_status(port, "", 400, "invalid_argument");
	struct raw r;
	raw_send(port, "GET /healthz HTTP/1.0\r\n\r\n", &r);
	CHECK_RAW(r, 200, NULL, NULL);
	raw_free(&r);
}

static void post_with_origin(const char *origin_line, const char *content_type, int want, const char *code)
{
	char req[1024];
	const char *body = "{\"target\": \"worker\"}";
	struct raw r;
	snprintf(req, sizeof req, "POST /processes HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
		 "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s", port, origin_line, content_type, strlen(body), body);
	raw_send(port, req, &r);
	CHECK_RAW(r, want, code, NULL);
	raw_free(&r);
}

/* A cross-site form POST needs no preflight: a foreign Origin on a write is
 * 403 and nothing runs. The server's own origin and --cors-origins pass;
 * reads from anywhere are left to the browser's same-origin policy. */
static void test_origin(void)
{
	char own[128];
	CHECK_MSG(srv, "no server");
	int before = process_count(srv);
	post_with_origin("Origin: http://attacker.example\r\n", "application/x-www-form-urlencoded", 403, "forbidden");
	if (check_failure[0])
		return;
	post_with_origin("Origin: null\r\n", "text/plain", 403, "forbidden");
	if (check_failure[0])
		return;
	post_with_origin("Origin: http://dash.example:3000.attacker.example\r\n", "application/json", 403, "forbidden");
	if (check_failure[0])
		return;
	sleep_s(0.2);
	CHECK_INT(process_count(srv), before);
	post_with_origin("Origin: http://dash.example:3000\r\n", "application/json", 201, NULL);
	if (check_failure[0])
		return;
	snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d\r\n", port);
	post_with_origin(own, "application/json", 201, NULL);
	if (check_failure[0])
		return;
	post_with_origin("", "application/json", 201, NULL);
	if (check_failure[0])
		return;
	struct raw r;
	char req[256];
	snprintf(req, sizeof req, "GET /targets HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://attacker.example\r\n"
		 "Connection: close\r\n\r\n", port);
	raw_send(port, req, &r);
	bool no_acao = !strcasestr(r.text, "Access-Control-Allow-Origin");
	CHECK_RAW(r, 200, NULL, NULL);
	raw_free(&r);
	CHECK_MSG(no_acao, "a foreign origin got Access-Control-Allow-Origin");
}

static void test_stop(void)
{
	check_server_stops(&named);
	if (check_failure[0])
		return;
	check_server_stops(&srv);
}

int main(void)
{
	RUN(test_setup);
	RUN(test_smuggling_refused);
	RUN(test_other_transfer_codings_answered_at_once);
	RUN(test_host);
	RUN(test_origin);
	RUN(test_stop);
	return check_failed_cases ? 1 : 0;
}
