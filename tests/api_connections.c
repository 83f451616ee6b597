/* api_connections — hostile connections (issue 12 point 6, QUALITY.md 17
 * and 18): 500 slowloris connections against a 100-connection server while
 * /healthz stays fast (its p99 is printed; the bound is generous); under
 * `ulimit -n 128` 43 idle connections do not lock /healthz out, a burst of
 * joins gets clean 503s beyond what fits, and the fd count returns to its
 * baseline; one address is held to --max-connections-per-ip (its oldest
 * idle connections are closed, a busy excess gets 429) while /healthz and an
 * admin token still get in; --idle-timeout closes a silent connection but
 * not a live stream; during shutdown a new request gets 503 at once.
 *
 * The clients here are raw sockets: a slowloris never finishes its headers,
 * which no HTTP client library would do on purpose.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ADMIN "admin-token-conn-7e3b91c4d2"
#define READ "read-token-conn-5a8f20e6b1"
#define MAX_SOCKS 600

static int port_of(struct server *srv)
{
	return atoi(strrchr(server_url(srv), ':') + 1);
}

/* A connected TCP socket to srv, -1 on failure. */
static int connect_to(struct server *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(srv)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool send_text(int fd, const char *text)
{
	return send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text);
}

/* Reads what fd answers within timeout_s into buf: >0 bytes read (the
 * server closed or the answer is in), 0 the server closed with nothing,
 * -1 nothing within the time (still open), -2 a reset. */
static int read_answer(int fd, char *buf, size_t cap, double timeout_s)
{
	size_t len = 0;
	buf[0] = '\0';
	for (double end = now_s() + timeout_s; now_s() < end;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 20) <= 0)
			continue;
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0)
			return errno == ECONNRESET ? (len ? (int)len : -2) : -1;
		if (n == 0)
			return (int)len;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") && (strstr(buf, "\n}") || strstr(buf, "}\n") || len == cap - 1))
			return (int)len;
	}
	return len ? (int)len : -1;
}

static long status_of(const char *answer)
{
	return strncmp(answer, "HTTP/1.1 ", 9) == 0 ? atol(answer + 9) : 0;
}

/* GET /healthz on a new connection: its status (0: none) and its time. */
static long healthz(struct server *srv, double *seconds)
{
	char buf[2048];
	double t0 = now_s();
	int fd = connect_to(srv);
	long st = 0;
	if (fd >= 0 && send_text(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") &&
	    read_answer(fd, buf, sizeof buf, 10) > 0)
		st = status_of(buf);
	if (fd >= 0)
		close(fd);
	if (seconds)
		*seconds = now_s() - t0;
	return st;
}

/* Waits up to 30 s for srv's fd count to come back to baseline (or below). */
static int fds_settle(struct server *srv, int baseline)
{
	int n = fd_count(server_pid(srv));
	for (double end = now_s() + 30; n > baseline && now_s() < end; sleep_s(0.05))
		n = fd_count(server_pid(srv));
	return n;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void test_slowloris(void)
{
	static int socks[500];
	double lat[200];
	struct server *srv = server_start("--max-connections 100");
	CHECK(srv);
	int baseline = fd_count(server_pid(srv));
	for (int i = 0; i < 500; i++) {
		socks[i] = connect_to(srv);
		CHECK_MSG(socks[i] >= 0, "connect %d: %s", i, strerror(errno));
		send_text(socks[i], "GET /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
	}
	for (int i = 0; i < 200; i++) {
		if (i % 20 == 0)             /* the slow ones trickle on */
			for (int k = 0; k < 500; k++)
				send(socks[k], "a", 1, MSG_NOSIGNAL);
		long st = healthz(srv, &lat[i]);
		CHECK_MSG(st == 200, "healthz %d under 500 slowloris: status %ld after %.3f s", i, st, lat[i]);
	}
	qsort(lat, 200, sizeof lat[0], cmp_double);
	printf("# healthz under 500 slowloris connections (max_connections 100): p50 %.1f ms, p99 %.1f ms\n",
	       lat[100] * 1000, lat[197] * 1000);
	CHECK_MSG(lat[197] < 0.5, "healthz p99 %.3f s under 500 slowloris (the issue asks < 500 ms)", lat[197]);
	close_all(socks, 500);
	int n = fds_settle(srv, baseline);
	CHECK_MSG(n <= baseline, "fds %d, baseline %d", n, baseline);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);
}

/* Starts spawnd under `ulimit -n 128` (a wrapper script around $SPAWND_BIN). */
static struct server *start_fd_starved(char *wrapper, size_t cap)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char real[PATH_MAX], *saved = getenv("SPAWND_BIN") ? strdup(getenv("SPAWND_BIN")) : NULL;
	snprintf(wrapper, cap, "/tmp/spawnd-ulimit.%d.sh", (int)getpid());
	FILE *f = realpath(bin, real) ? fopen(wrapper, "w") : NULL;
	if (!f)
		return NULL;
	fprintf(f, "#!/bin/sh\nulimit -n 128 || exit 1\nexec %s \"$@\"\n", real);
	fclose(f);
	chmod(wrapper, 0700);
	setenv("SPAWND_BIN", wrapper, 1);
	struct server *srv = server_start(NULL);
	if (saved)
		setenv("SPAWND_BIN", saved, 1);
	else
		unsetenv("SPAWND_BIN");
	free(saved);
	return srv;
}

static void test_fd_exhaustion(void)
{
	static int idle[43], joins[60];
	char wrapper[128], id[ID_CAP], req[256], buf[4096];
	struct server *srv = start_fd_starved(wrapper, sizeof wrapper);
	unlink(wrapper);
	CHECK(srv);
	CHECK(server_healthy(srv));      /* the harness's keep-alive connection is in the baseline */
	int baseline = fd_count(server_pid(srv));
	for (int i = 0; i < 43; i++) {
		idle[i] = connect_to(srv);
		CHECK(idle[i] >= 0);
	}
	sleep_s(0.5);                    /* idle for real: older than a request on its way */
	CHECK_MSG(healthz(srv, NULL) == 200, "healthz with 43 idle connections under ulimit -n 128");
	/* A burst of joins on a 5 s worker: what fits waits, the rest gets 503 at once. */
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [5]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(req, sizeof req, "POST /processes/%s/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", id);
	int answered = 0, waiting = 0, unanswered = 0;
	for (int i = 0; i < 60; i++) {
		if ((joins[i] = connect_to(srv)) >= 0)
			send_text(joins[i], req);
		sleep_s(0.02);           /* a burst, not a flood past every slot (those get no answer) */
	}
	sleep_s(1);                      /* the 503s are sent at once; the rest wait for the worker */
	for (int i = 0; i < 60; i++) {
		int n = joins[i] < 0 ? 0 : read_answer(joins[i], buf, sizeof buf, 0.01);
		if (n > 0) {
			CHECK_MSG(status_of(buf) == 503 && strstr(buf, "server_busy") && strcasestr(buf, "Retry-After: 1"),
				  "join %d: %.600s", i, buf);
			answered++;
		} else if (n == -1)
			waiting++;
		else
			unanswered++;
	}
	CHECK_MSG(unanswered == 0, "joins: %d closed without an answer (%d 503, %d waiting)", unanswered, answered,
		  waiting);
	CHECK_MSG(answered > 0 && waiting > 0, "joins: %d answered 503, %d waiting", answered, waiting);
	CHECK_MSG(healthz(srv, NULL) == 200, "healthz with every ordinary slot busy");
	close_all(idle, 43);
	close_all(joins, 60);
	/* A suspended join notices its client gone when it wakes: at the worker's
	 * end; until then the slots stay taken, and a join gets 503 too. */
	r = join(srv, id, 20);
	for (double end = now_s() + 20; r->status == 503 && now_s() < end; r = join(srv, id, 20)) {
		resp_free(r);
		sleep_s(0.2);
	}
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	resp_free(r);
	int n = fds_settle(srv, baseline);
	CHECK_MSG(n <= baseline, "fds %d, baseline %d", n, baseline);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);
}

/* Request text with an optional bearer token. */
static void request_text(char *out, size_t cap, const char *method, const char *path, const char *token)
{
	snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Length: 0\r\n\r\n", method, path,
		 token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
}

static void test_per_ip(void)
{
	static int idle[20], busy[8];
	char args[256], dir[64], id[ID_CAP], req[512], buf[4096];
	CHECK(mkdtemp(strcpy(dir, "/tmp/spawnd-conn.XXXXXX")));
	snprintf(req, sizeof req, "printf 'admin %s\\nread %s\\n' > %s/tokens && chmod 600 %s/tokens", ADMIN, READ, dir,
		 dir);
	CHECK(system(req) == 0);
	snprintf(args, sizeof args, "--max-connections-per-ip 8 --tokens-file %s/tokens", dir);
	struct server *srv = server_start(args);
	CHECK(srv);
	/* 20 idle connections from one address, each made idle by one answered
	 * request before the next is opened (so the server's accept order is the
	 * client's): the 12 oldest are closed. The pause after each answer: the
	 * pool thread that sent it marks the connection idle only after the
	 * write (on_completed); a thread starved on a loaded machine did so after
	 * the next connections came, so the oldest was still busy and spared. */
	for (int i = 0; i < 20; i++) {
		CHECK((idle[i] = connect_to(srv)) >= 0);
		CHECK(send_text(idle[i], "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
		int n = read_answer(idle[i], buf, sizeof buf, 10);
		CHECK_MSG(n > 0 && status_of(buf) == 200, "idle %d: healthz answered %d bytes: %.60s", i, n, buf);
		sleep_s(0.05);
	}
	int closed = 0, first_open = -1;
	for (int i = 0; i < 20; i++) {
		int n = read_answer(idle[i], buf, sizeof buf, i < 12 ? 5 : 0.2);
		if (n == 0 || n == -2)
			closed++;
		else if (first_open < 0)
			first_open = i;
	}
	CHECK_MSG(closed == 12 && first_open == 12, "%d of 20 idle closed, first open %d", closed, first_open);
	close_all(idle, 20);
	/* 8 busy ones (follows of a running worker), then a 9th: 429. */
	{
		const char *body = "{\"target\": \"sleep\", \"args\": [60]}";
		int fd = connect_to(srv);
		CHECK(fd >= 0);
		char post[512];
		snprintf(post, sizeof post, "POST /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 ADMIN, strlen(body), body);
		CHECK(send_text(fd, post) && read_answer(fd, buf, sizeof buf, 10) > 0);
		close(fd);
		char *at = strstr(buf, "{\"id\":\"");
		CHECK_MSG(status_of(buf) == 201 && at, "spawn: %.400s", buf);
		snprintf(id, sizeof id, "%.*s", (int)strcspn(at + 7, "\""), at + 7);
	}
	char path[256];
	snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
	request_text(req, sizeof req, "GET", path, READ);
	for (int i = 0; i < 8; i++) {
		CHECK((busy[i] = connect_to(srv)) >= 0 && send_text(busy[i], req));
		CHECK_MSG(read_answer(busy[i], buf, sizeof buf, 0.5) != 0, "follow %d closed", i);
	}
	int extra = connect_to(srv);
	CHECK(extra >= 0 && send_text(extra, req));
	CHECK_MSG(read_answer(extra, buf, sizeof buf, 5) > 0 && status_of(buf) == 429 &&
		  strstr(buf, "too_many_connections") && strcasestr(buf, "Retry-After: 1"), "9th follow: %.600s", buf);
	close(extra);
	CHECK_MSG(healthz(srv, NULL) == 200, "healthz over the per-IP limit");
	extra = connect_to(srv);
	request_text(req, sizeof req, "GET", "/processes?limit=1", ADMIN);
	CHECK(extra >= 0 && send_text(extra, req));
	CHECK_MSG(read_answer(extra, buf, sizeof buf, 5) > 0 && status_of(buf) == 200, "admin over the limit: %.600s",
		  buf);
	close(extra);
	close_all(busy, 8);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);
	snprintf(req, sizeof req, "rm -rf %s", dir);
	CHECK(system(req) == 0);
}

static void test_idle_timeout(void)
{
	char buf[4096];
	struct server *srv = server_start("--idle-timeout 2 --heartbeat 0.5");
	CHECK(srv);
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [6]}", -1);
	char id[ID_CAP], path[256];
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
	struct live *l = live_open(srv, path, NULL);
	int fd = connect_to(srv);
	CHECK(fd >= 0);
	double t0 = now_s();
	int n = read_answer(fd, buf, sizeof buf, 15);
	double waited = now_s() - t0;
	close(fd);
	CHECK_MSG((n == 0 || n == -2) && waited >= 1.0 && waited < 10, "silent connection: %d after %.2f s", n, waited);
	/* The quiet stream (heartbeats only) outlived the 2 s and ends with its exit line. */
	CHECK_MSG(live_wait_done(l, 20) && l->status == 200 && strstr(l->body, "\"exitcode\":0"),
		  "follow: %ld %s %.300s", l->status, l->error, l->body ? l->body : "");
	live_close(l);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);

	char log[4096], root[64];
	bool listened;
	CHECK(mkdtemp(strcpy(root, "/tmp/spawnd-conn-run.XXXXXX")));
	int st = server_run_refused((const char *const[]){ "--idle-timeout", "2", "--heartbeat", "5", NULL }, root, log,
				    sizeof log, &listened);
	rmdir(root);
	CHECK_MSG(!listened && WIFEXITED(st) && WEXITSTATUS(st) == 2 && strstr(log, "--idle-timeout 2 must exceed"),
		  "idle timeout under the heartbeat: %d %s", st, log);
}

/* Between the engine's end and the HTTP server's (streams get up to 2 s to
 * send their last lines: here one whose client reads nothing), a new request
 * is answered 503 shutting_down at once, never left in the backlog. */
static void test_shutdown_answers_503(void)
{
	char id[ID_CAP], req[256], buf[4096];
	struct server *srv = server_start(NULL);
	CHECK(srv);
	struct resp *r = spawn(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 4000000}}", 20);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	int small = 4096, stuck = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(srv)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(connect(stuck, (struct sockaddr *)&a, sizeof a) == 0);
	snprintf(req, sizeof req, "GET /processes/%s/output?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id);
	CHECK(send_text(stuck, req));
	sleep_s(0.5);
	CHECK(kill(server_pid(srv), SIGTERM) == 0);
	int shutting = 0, unanswered = 0, other = 0;
	for (double end = now_s() + 1.5; now_s() < end;) {
		int fd = connect_to(srv);
		if (fd < 0)
			break;           /* the listening socket is closed: refused at once */
		send_text(fd, "GET /processes HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
		int n = read_answer(fd, buf, sizeof buf, 1.0);
		close(fd);
		if (n > 0 && status_of(buf) == 503 && strstr(buf, "shutting_down"))
			shutting++;
		else if (n > 0 && status_of(buf) == 200)
			other++;
		else if (n == -1)
			unanswered++;
		sleep_s(0.02);
	}
	close(stuck);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);
	CHECK_MSG(unanswered == 0 && shutting > 0, "during shutdown: %d unanswered for 1 s, %d 503, %d 200", unanswered,
		  shutting, other);
}

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;   /* 500 sockets and the harness's */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	RUN(test_slowloris);
	RUN(test_fd_exhaustion);
	RUN(test_per_ip);
	RUN(test_idle_timeout);
	RUN(test_shutdown_answers_503);
	return CHECK_EXIT();
}
