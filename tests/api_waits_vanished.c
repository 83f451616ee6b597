/* api_waits_vanished — suspended waits whose client went away (issue 9): a join
 * without timeout, a POST ?wait= and a DELETE waiting on a process that
 * ignores SIGTERM each hold a connection; once their clients reset, spawnd
 * lets the connections go within a heartbeat (as it does for vanished stream
 * clients), not when the process ends. Measured as spawnd's open fds.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define HEARTBEAT_S 0.5
#define JOINS 20
#define POST_WAITS 15
#define DELETES 15
#define WAITS (JOINS + POST_WAITS + DELETES)

/* A shell that ignores SIGTERM (so does its sleep): a DELETE with a long
 * grace waits on it. Until the shell has run its trap, a SIGTERM still kills
 * it, so it says "ready" once the trap is set. */
static const char targets[] =
	"{\"targets\": [{\"name\": \"stubborn\", \"description\": \"ignores SIGTERM\", \"program\": \"/bin/sh\","
	" \"argv\": [\"-c\", \"trap '' TERM; echo ready; exec sleep 60\"]}]}";

/* Waits up to timeout_s for cond on spawnd's fd count; the last count. */
static int wait_fds(pid_t pid, bool (*cond)(int n, int want), int want, double timeout_s)
{
	double end = now_s() + timeout_s;
	int n;
	while (!cond(n = fd_count(pid), want) && now_s() < end)
		sleep_s(0.02);
	return n;
}

static bool at_least(int n, int want) { return n >= want; }
static bool at_most(int n, int want) { return n >= 0 && n <= want; }

/* A raw connection that sends request and never reads the answer. */
static int send_raw(struct server *s, const char *request)
{
	int port = atoi(strrchr(server_url(s), ':') + 1);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Closes with an RST, the way a killed client vanishes. */
static void reset(int fd)
{
	struct linger l = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

static bool start(struct server *s, const char *body, char id[ID_CAP])
{
	struct resp *r = spawn(s, body, -1);
	bool ok = r->status == 201 && take_id(r, id);
	resp_free(r);
	return ok;
}

/* Waits up to 10 s until process id has written "ready" to its stdout. */
static bool wait_ready(struct server *s, const char *id)
{
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.02)) {
		struct resp *r = get(s, "/processes/%s", id);
		bool ready = jstr(r->json, "stdout") && !strcmp(jstr(r->json, "stdout"), "ready\n");
		resp_free(r);
		if (ready)
			return true;
	}
	return false;
}

static void test_vanished_waiters_freed_within_a_heartbeat(void)
{
	struct server *s = server_start_targets(targets, "--heartbeat 0.5 --max-running 2");
	char sleeper[ID_CAP], stubborn[ID_CAP], req[512], why[256];
	int fds[WAITS], nfds = 0;
	static const char post_body[] = "{\"target\": \"worker\"}";

	CHECK_MSG(s, "server did not start");
	pid_t pid = server_pid(s);
	/* Both slots taken: the ?wait= workers stay queued, so they add no fds. */
	CHECK(start(s, "{\"target\": \"sleep\", \"args\": [60]}", sleeper));
	CHECK(start(s, "{\"target\": \"stubborn\"}", stubborn));
	/* Else the DELETEs' SIGTERM may end it before its trap: then the DELETEs
	 * answer at once, a slot frees, the ?wait= workers run, and the counts
	 * below miss its record and its 3 fds (pidfd, stdout, stderr). */
	CHECK_MSG(wait_ready(s, stubborn), "the stubborn process %s did not report ready", stubborn);
	CHECK(server_healthy(s));
	int baseline = fd_count(pid);
	CHECK_MSG(baseline > 0, "cannot read /proc/%d/fd", (int)pid);

	for (int i = 0; i < WAITS; i++) {
		if (i < JOINS)
			snprintf(req, sizeof req, "POST /processes/%s/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
				 sleeper);
		else if (i < JOINS + POST_WAITS)
			snprintf(req, sizeof req, "POST /processes?wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(post_body), post_body);
		else
			snprintf(req, sizeof req, "DELETE /processes/%s?grace=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", stubborn);
		int fd = send_raw(s, req);
		CHECK_MSG(fd >= 0, "connection %d failed", i);
		fds[nfds++] = fd;
	}
	int held = wait_fds(pid, at_least, baseline + WAITS, 10);
	CHECK_MSG(held >= baseline + WAITS, "spawnd holds %d fds with %d waits, baseline %d", held, WAITS, baseline);
	/* Every ?wait= request has made its (queued) record: all are suspended. */
	double end = now_s() + 10;
	while (process_count(s) < 2 + POST_WAITS && now_s() < end)
		sleep_s(0.05);
	CHECK_INT(process_count(s), 2 + POST_WAITS);
	sleep_s(HEARTBEAT_S);

	for (int i = 0; i < nfds; i++)
		reset(fds[i]);
	double reset_at = now_s();
	/* Within a heartbeat and a second; the bound is generous for a loaded machine. */
	int after = wait_fds(pid, at_most, baseline, HEARTBEAT_S + 5);
	CHECK_MSG(after <= baseline, "%.1f s after %d clients reset spawnd holds %d fds (baseline %d)",
		  now_s() - reset_at, WAITS, after, baseline);

	/* The server is fine, and the processes are as they were. */
	CHECK(server_healthy(s));
	struct resp *r = get(s, "/processes/%s", sleeper);
	CHECK_MSG(jstr(r->json, "state") && !strcmp(jstr(r->json, "state"), "running"), RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = postf(s, NULL, "/processes/%s/kill", stubborn);
	resp_free(r);
	r = postf(s, NULL, "/processes/%s/kill", sleeper);
	resp_free(r);
	r = join(s, stubborn, 10);
	CHECK_MSG(jint(r->json, "exitcode", 0) == -9, RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	RUN(test_vanished_waiters_freed_within_a_heartbeat);
	return CHECK_EXIT();
}
