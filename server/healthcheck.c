/* healthcheck — see healthcheck.h.
 *
 * Why a socket by hand rather than libcurl: the runtime image carries only
 * what spawnd itself links (libcurl is the client's and the tests' library),
 * and the exchange is one fixed HTTP/1.0 request whose answer needs only its
 * status line read. HTTP/1.0 makes the server close the connection after
 * the answer, so the end of the body is EOF.
 *
 * Why "Host: localhost": the server refuses a Host that names neither itself
 * nor a loopback name (server/origin.c), and this connection always reaches
 * it on a loopback or the listen address itself.
 *
 * One deadline bounds everything (connect, send, answer), so a server that
 * accepts and never answers fails the check instead of hanging it: the
 * container runtime would otherwise kill the check without a reason.
 */
#define _GNU_SOURCE
#include "server/healthcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ts.h"

#define ANSWER_MAX 8192

static int fail(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* "HOST:PORT" into host (brackets of [v6] removed, a wildcard made its
 * loopback) and port. 0, or -1 when it is not HOST:PORT. */
static int split_listen(const char *listen, char *host, size_t cap, char *port, size_t port_cap)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : 0;
	if (!colon || !colon[1] || n >= cap || strlen(colon + 1) >= port_cap)
		return -1;
	memcpy(host, listen, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (!host[0] || strcmp(host, "0.0.0.0") == 0)
		snprintf(host, cap, "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, cap, "::1");
	snprintf(port, port_cap, "%s", colon + 1);
	return 0;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - ts_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r;
	}
}

/* A connected socket to host:port, or -1 with out set. */
static int connect_to(const char *host, const char *port, int64_t deadline, char *out, size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g)
		return fail(out, cap, "%s:%s: %s", host, port, gai_strerror(g));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e = 0;
	if (fd < 0)
		e = errno;
	else if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS)
		e = errno;
	else if (wait_fd(fd, POLLOUT, deadline) <= 0)
		e = ETIMEDOUT;
	else {
		socklen_t len = sizeof e;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
	}
	freeaddrinfo(res);
	if (e) {
		if (fd >= 0)
			close(fd);
		return fail(out, cap, "connect %s:%s: %s", host, port, strerror(e));
	}
	return fd;
}

/* Reads the whole answer (until EOF) into buf; its length, or -1 with out set. */
static ssize_t read_answer(int fd, char *buf, size_t cap, int64_t deadline, char *out, size_t out_cap)
{
	size_t len = 0;
	while (len + 1 < cap) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w == 0)
			return fail(out, out_cap, "no answer within the timeout");
		if (w < 0)
			return fail(out, out_cap, "poll: %s", strerror(errno));
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return fail(out, out_cap, "read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

int healthcheck_run(const char *listen, int timeout_ms, char *out, size_t cap)
{
	char host[256], port[16], answer[ANSWER_MAX];
	static const char request[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
	int64_t deadline = ts_mono_ms() + timeout_ms;

	if (split_listen(listen, host, sizeof host, port, sizeof port) < 0)
		return fail(out, cap, "--listen %s: expected HOST:PORT", listen);
	int fd = connect_to(host, port, deadline, out, cap);
	if (fd < 0)
		return -1;
	ssize_t len = -1;
	if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
		fail(out, cap, "send: %s", strerror(errno));
	else
		len = read_answer(fd, answer, sizeof answer, deadline, out, cap);
	close(fd);
	if (len < 0)
		return -1;
	int status = 0;
	if (sscanf(answer, "HTTP/1.%*1[01] %3d ", &status) != 1)
		return fail(out, cap, "not an HTTP answer from %s:%s", host, port);
	if (status != 200)
		return fail(out, cap, "GET /healthz at %s:%s answered %d", host, port, status);
	const char *body = strstr(answer, "\r\n\r\n");
	body = body ? body + 4 : "";
	snprintf(out, cap, "%.*s", (int)strcspn(body, "\r\n"), body);   /* /healthz is one line */
	return 0;
}
