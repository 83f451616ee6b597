/* worker_http — see worker_http.h.
 *
 * Design: a small HTTP/1.1 client written for exactly one peer, spawnd, whose
 * answers to these routes always carry Content-Length (never chunked: the
 * object routes reply from a buffer). Not libcurl: the worker is forked from
 * the fork server, kept small on purpose (its image is what every fork copies,
 * the start path of P1), and libcurl would bring TLS, HTTP/2 and their
 * libraries into it for one request shape. cJSON, already there for the
 * arguments, reads the answers.
 *
 * A kept-alive connection may have been closed by the server (idle timeout)
 * since the last call. Such a request fails before any byte of an answer
 * arrives; it is sent once more on a fresh connection. A request on a fresh
 * connection is never resent: the server may have acted on it.
 *
 * Writes use MSG_NOSIGNAL: a worker has SIGPIPE's default disposition, and a
 * closed connection must be an error code, not the worker's death.
 */
#define _GNU_SOURCE
#include "targets/worker_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define BODY_MAX (64 << 20)

static __thread int conn_fd = -1;
static __thread pid_t conn_pid;

void worker_http_close(void)
{
	if (conn_fd >= 0)
		close(conn_fd);
	conn_fd = -1;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		/* No file there is nobody listening, not a missing object. */
		int e = errno == ENOENT ? -ECONNREFUSED : -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* "http://HOST:PORT" (HOST a name, an IPv4 address or [IPv6]) as spawnd prints it. */
static int connect_url(const char *url)
{
	char host[256];
	if (strncmp(url, "http://", 7) != 0)
		return -ENOTCONN;
	const char *h = url + 7, *colon = strrchr(h, ':');
	if (!colon || colon == h || (size_t)(colon - h) >= sizeof host)
		return -ENOTCONN;
	size_t n = (size_t)(colon - h);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']')
		h++, n -= 2;
	memcpy(host, h, n);
	host[n] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -ENOTCONN;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), e = 0;
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		e = -errno;
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(res);
	return e ? e : fd;
}

/* This thread's connection: 0 when it was open already, 1 when just made, or -errno. */
static int ensure_connected(void)
{
	if (conn_fd >= 0 && conn_pid == getpid())
		return 0;
	if (conn_fd >= 0)
		worker_http_close();    /* the parent's, inherited through fork() */
	const char *sock = getenv("SPAWND_SOCKET"), *url = getenv("SPAWND_URL");
	int fd = sock && *sock ? connect_unix(sock) : url && *url ? connect_url(url) : -ENOTCONN;
	if (fd < 0)
		return fd;
	conn_fd = fd;
	conn_pid = getpid();
	return 1;
}

static int send_all(struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(conn_fd, &m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int send_request(const char *method, const char *path, const char *body, size_t len)
{
	char head[1024];
	const char *token = getenv("SPAWND_TOKEN");
	int n = snprintf(head, sizeof head,
		"%s %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sContent-Length: %zu\r\n%s\r\n", method, path,
		token && *token ? "Authorization: Bearer " : "", token && *token ? token : "",
		token && *token ? "\r\n" : "", len, body ? "Content-Type: application/json\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof head)
		return -ENAMETOOLONG;
	struct iovec iov[2] = { { head, (size_t)n }, { (void *)(uintptr_t)body, body ? len : 0 } };
	return send_all(iov, body && len ? 2 : 1);
}

static ssize_t read_some(char *buf, size_t cap)
{
	for (;;) {
		ssize_t r = read(conn_fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

/* The value of header name in the head block (NUL-terminated), or NULL. */
static const char *header_value(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':')
			return line + 3 + n + strspn(line + 3 + n, " \t");
	}
	return NULL;
}

struct answer {
	char head[HEAD_MAX + 1];
	size_t have;            /* bytes in head, the body's first bytes included */
	size_t head_len;        /* through the blank line */
};

/* Reads until the blank line. 0, -ECONNRESET (closed before or within it), -EPROTO. */
static int read_head(struct answer *a)
{
	a->have = 0;
	for (;;) {
		ssize_t r = read_some(a->head + a->have, HEAD_MAX - a->have);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return a->have ? -EPROTO : -ECONNRESET;
		a->have += (size_t)r;
		a->head[a->have] = '\0';
		char *end = strstr(a->head, "\r\n\r\n");
		if (end) {
			a->head_len = (size_t)(end - a->head) + 4;
			return 0;
		}
		if (a->have == HEAD_MAX)
			return -EPROTO;
	}
}

static int read_body(struct answer *a, size_t len, char **out)
{
	size_t got = a->have - a->head_len;
	char *b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	if (got > len)
		got = len;
	memcpy(b, a->head + a->head_len, got);
	while (got < len) {
		ssize_t r = read_some(b + got, len - got);
		if (r <= 0) {
			free(b);
			return r < 0 ? (int)r : -EPROTO;
		}
		got += (size_t)r;
	}
	b[len] = '\0';
	*out = b;
	return 0;
}

static void parse_reply(char *body, struct worker_reply *out)
{
	out->json = cJSON_Parse(body);
	out->code[0] = '\0';
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out->json, "error"), "code");
	if (cJSON_IsString(code))
		snprintf(out->code, sizeof out->code, "%s", code->valuestring);
}

/* Reads one answer on the open connection (closed after it when the server says so). */
static int read_reply(struct worker_reply *out)
{
	struct answer *a = malloc(sizeof *a);
	char *body = NULL, *end;
	int r = a ? read_head(a) : -ENOMEM;
	if (r == 0) {
		const char *cl = header_value(a->head, "Content-Length");
		const char *conn = header_value(a->head, "Connection");
		unsigned long long len = cl ? strtoull(cl, &end, 10) : 0;
		if (strncmp(a->head, "HTTP/1.1 ", 9) != 0 || !cl || len > BODY_MAX)
			r = -EPROTO;
		else
			r = read_body(a, (size_t)len, &body);
		if (r == 0) {
			out->status = atoi(a->head + 9);
			parse_reply(body, out);
			if (conn && strncasecmp(conn, "close", 5) == 0)
				worker_http_close();
		}
	}
	free(body);
	free(a);
	return r;
}

int worker_http_call(const char *method, const char *path, const char *body, size_t len,
		     struct worker_reply *out)
{
	memset(out, 0, sizeof *out);
	for (int attempt = 0; attempt < 2; attempt++) {
		int fresh = ensure_connected();
		if (fresh < 0)
			return fresh;
		int r = send_request(method, path, body, len);
		if (r == 0)
			r = read_reply(out);
		if (r == 0)
			return 0;
		worker_http_close();
		/* Only a kept connection the server had closed is worth one more try. */
		if (fresh || (r != -ECONNRESET && r != -EPIPE))
			return r;
	}
	return -ECONNRESET;
}
