/* api_cors — CORS for dashboards on other origins (issue 3, QUALITY 9): off by
 * default (no Access-Control-* header, a preflight is a plain 204); with
 * --cors-origins an allowed Origin gets Access-Control-Allow-Origin equal to
 * itself (never "*") and Vary: Origin on every kind of answer (JSON, errors,
 * preflights, live streams), any other Origin gets nothing; "*" in the list
 * (flag or environment) refuses to start.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ID_CAP 128
#define ALLOWED_A "http://a.example"
#define ALLOWED_B "http://b.example:8443"

/* One request with Origin (NULL: none) and extra header lines; waits for the
 * end (or, for a stream, for the headers). Never NULL. */
static struct live *request(struct server *s, const char *method, const char *path, const char *origin,
			    const char *extra1, const char *extra2, const char *body, bool stream)
{
	char oh[256];
	const char *headers[5] = { NULL };
	int n = 0;
	struct live *l;

	if (origin) {
		snprintf(oh, sizeof oh, "Origin: %s", origin);
		headers[n++] = oh;
	}
	if (extra1)
		headers[n++] = extra1;
	if (extra2)
		headers[n++] = extra2;
	if (body)
		headers[n++] = "Content-Type: application/json";
	l = live_request(s, method, path, headers, body, body ? strlen(body) : 0, 0);
	if (stream) {
		for (double deadline = now_s() + 10; !l->status && !l->done && now_s() < deadline;)
			live_pump(0.02);
	} else {
		live_wait_done(l, 20);
	}
	return l;
}

/* The first response header line whose name starts with "Access-Control-", or NULL. */
static const char *any_acao(const struct live *l)
{
	static char line[256];

	for (const char *p = l->headers; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n >= 15 && strncasecmp(p, "Access-Control-", 15) == 0) {
			snprintf(line, sizeof line, "%.*s", (int)(n && p[n - 1] == '\r' ? n - 1 : n), p);
			return line;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* true when the comma-separated header value holds token (case-insensitive). */
static bool list_has(const char *value, const char *token)
{
	size_t tlen = strlen(token);

	for (const char *p = value; p && *p;) {
		size_t n = strcspn(p, ",");
		const char *a = p, *b = p + n;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == tlen && strncasecmp(a, token, tlen) == 0)
			return true;
		p = p[n] ? p + n + 1 : NULL;
	}
	return false;
}

#define DESCRIBE_FMT "%s %s -> %ld %s; headers:\n%s"
#define DESCRIBE_ARGS(l) (l)->method, (l)->path, (l)->status, (l)->error, (l)->headers
#define DESCRIBE(l) DESCRIBE_FMT, DESCRIBE_ARGS(l)

/* The answer to an allowed origin: ACAO = origin exactly, Vary names Origin. */
#define CHECK_ALLOWED(l, origin) do { \
		char v_[256] = ""; \
		CHECK_MSG(live_header(l, "Access-Control-Allow-Origin", v_, sizeof v_) && strcmp(v_, origin) == 0, \
			  "Origin %s: Access-Control-Allow-Origin \"%s\"; " DESCRIBE_FMT, origin, v_, DESCRIBE_ARGS(l)); \
		CHECK_MSG(live_header(l, "Vary", v_, sizeof v_) && list_has(v_, "Origin"), \
			  "Origin %s: no Vary: Origin; " DESCRIBE_FMT, origin, DESCRIBE_ARGS(l)); \
	} while (0)

#define CHECK_NO_CORS(l, origin) do { \
		const char *h_ = any_acao(l); \
		CHECK_MSG(!h_, "Origin %s: got \"%s\"; " DESCRIBE_FMT, (origin) ? (origin) : "(none)", h_, DESCRIBE_ARGS(l)); \
	} while (0)

static void test_cors_off_by_default(void)
{
	struct server *s = server_start(NULL);
	char why[256], allow[128];
	struct live *l;

	CHECK_MSG(s, "server did not start");
	l = request(s, "GET", "/healthz", ALLOWED_A, NULL, NULL, NULL, false);
	CHECK_MSG(l->status == 200, DESCRIBE(l));
	CHECK_NO_CORS(l, ALLOWED_A);
	live_close(l);
	l = request(s, "GET", "/processes/nosuchprocess", ALLOWED_A, NULL, NULL, NULL, false);
	CHECK_MSG(l->status == 404, DESCRIBE(l));
	CHECK_NO_CORS(l, ALLOWED_A);
	live_close(l);
	/* A preflight is answered as a plain OPTIONS: 204 with Allow, no CORS grant. */
	l = request(s, "OPTIONS", "/processes", ALLOWED_A, "Access-Control-Request-Method: POST",
		    "Access-Control-Request-Headers: content-type", NULL, false);
	CHECK_MSG(l->status == 204, DESCRIBE(l));
	CHECK_MSG(live_header(l, "Allow", allow, sizeof allow) && list_has(allow, "POST") && list_has(allow, "GET"),
		  DESCRIBE(l));
	CHECK_NO_CORS(l, ALLOWED_A);
	live_close(l);
	l = request(s, "GET", "/events", ALLOWED_A, "Accept: text/event-stream", NULL, NULL, true);
	CHECK_MSG(l->status == 200, DESCRIBE(l));
	CHECK_NO_CORS(l, ALLOWED_A);
	live_close(l);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_cors_allowlist(void)
{
	static const char *const allowed[] = { ALLOWED_A, ALLOWED_B };
	static const char *const refused[] = {
		"http://c.example", "http://a.example.evil", "http://a.exampl", "https://a.example",
		"http://a.example:80", "http://b.example", "null", ALLOWED_A "," ALLOWED_B, "http://a.example/",
		"*",
	};
	struct server *s = server_start("--cors-origins " ALLOWED_A "," ALLOWED_B);
	char why[256], v[256], id[ID_CAP] = "", path[256];
	struct live *l;

	CHECK_MSG(s, "server with --cors-origins did not start");
	for (size_t i = 0; i < 2; i++) {
		const char *o = allowed[i];
		l = request(s, "GET", "/healthz", o, NULL, NULL, NULL, false);
		CHECK_MSG(l->status == 200, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		live_close(l);
		/* Errors too: a dashboard must be able to read them. */
		l = request(s, "GET", "/processes/nosuchprocess", o, NULL, NULL, NULL, false);
		CHECK_MSG(l->status == 404, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		live_close(l);
		/* Preflight of a JSON POST, and of the stdin POST. */
		l = request(s, "OPTIONS", "/processes", o, "Access-Control-Request-Method: POST",
			    "Access-Control-Request-Headers: content-type", NULL, false);
		CHECK_MSG(l->status == 204, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		CHECK_MSG(live_header(l, "Access-Control-Allow-Methods", v, sizeof v) && list_has(v, "POST") &&
			  list_has(v, "GET"), DESCRIBE(l));
		CHECK_MSG(live_header(l, "Access-Control-Allow-Headers", v, sizeof v) && list_has(v, "Content-Type") &&
			  list_has(v, "Last-Event-ID") && list_has(v, "Authorization"), DESCRIBE(l));
		live_close(l);
		l = request(s, "OPTIONS", "/processes/someid/stdin", o, "Access-Control-Request-Method: POST", NULL, NULL,
			    false);
		CHECK_MSG(l->status == 204, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		CHECK_MSG(live_header(l, "Access-Control-Allow-Methods", v, sizeof v) && list_has(v, "POST"), DESCRIBE(l));
		live_close(l);
		/* The actual POST: 201 with the grant, Location readable by the page. */
		l = request(s, "POST", "/processes?wait=10", o, NULL, NULL, "{\"target\": \"worker\"}", false);
		CHECK_MSG(l->status == 201, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		CHECK_MSG(live_header(l, "Access-Control-Expose-Headers", v, sizeof v) && list_has(v, "Location"),
			  DESCRIBE(l));
		{
			cJSON *j = cJSON_Parse(l->body);
			if (jstr(j, "id"))
				snprintf(id, sizeof id, "%s", jstr(j, "id"));
			cJSON_Delete(j);
		}
		live_close(l);
		CHECK(id[0]);
		/* Live streams carry it too. */
		l = request(s, "GET", "/events", o, "Accept: text/event-stream", NULL, NULL, true);
		CHECK_MSG(l->status == 200, DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		live_close(l);
		snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
		l = request(s, "GET", path, o, "Accept: text/event-stream", NULL, NULL, false);
		CHECK_MSG(l->status == 200 && strstr(l->body, "event: exit"), DESCRIBE(l));
		CHECK_ALLOWED(l, o);
		live_close(l);
	}
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		const char *o = refused[i];
		l = request(s, "GET", "/healthz", o, NULL, NULL, NULL, false);
		CHECK_MSG(l->status == 200, DESCRIBE(l));
		CHECK_NO_CORS(l, o);
		live_close(l);
		l = request(s, "OPTIONS", "/processes", o, "Access-Control-Request-Method: POST",
			    "Access-Control-Request-Headers: content-type", NULL, false);
		CHECK_MSG(l->status == 204, DESCRIBE(l));
		CHECK_NO_CORS(l, o);
		live_close(l);
		l = request(s, "GET", "/processes/nosuchprocess", o, NULL, NULL, NULL, false);
		CHECK_MSG(l->status == 404, DESCRIBE(l));
		CHECK_NO_CORS(l, o);
		live_close(l);
	}
	/* No Origin at all: a plain (non-browser) request. */
	l = request(s, "GET", "/healthz", NULL, NULL, NULL, NULL, false);
	CHECK_MSG(l->status == 200, DESCRIBE(l));
	CHECK_NO_CORS(l, "(none)");
	live_close(l);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* The environment form, SPAWND_CORS_ORIGINS, works like the flag. */
static void test_cors_from_environment(void)
{
	struct server *s;
	char why[256];
	struct live *l;

	setenv("SPAWND_CORS_ORIGINS", ALLOWED_A, 1);
	s = server_start(NULL);
	unsetenv("SPAWND_CORS_ORIGINS");
	CHECK_MSG(s, "server with SPAWND_CORS_ORIGINS did not start");
	l = request(s, "GET", "/healthz", ALLOWED_A, NULL, NULL, NULL, false);
	CHECK_MSG(l->status == 200, DESCRIBE(l));
	CHECK_ALLOWED(l, ALLOWED_A);
	live_close(l);
	l = request(s, "GET", "/healthz", ALLOWED_B, NULL, NULL, NULL, false);
	CHECK_MSG(l->status == 200, DESCRIBE(l));
	CHECK_NO_CORS(l, ALLOWED_B);
	live_close(l);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* Runs spawnd with args (and optionally one environment variable) and waits
 * up to 10 s: its exit status (-1 if it was still running, then killed), its
 * stdout and stderr in out/err. */
static int run_spawnd(const char *const *args, const char *env_name, const char *env_value, char *out, size_t out_cap,
		      char *err, size_t err_cap)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char state[] = "/tmp/spawnd-cors.XXXXXX", outp[64], errp[64];
	char *argv[16];
	int n = 0, status = 0, fd;
	double deadline;
	pid_t pid;

	if (!mkdtemp(state))
		return -2;
	snprintf(outp, sizeof outp, "%s.out", state);
	snprintf(errp, sizeof errp, "%s.err", state);
	argv[n++] = strdup(bin);
	argv[n++] = strdup("--listen");
	argv[n++] = strdup("127.0.0.1:0");
	argv[n++] = strdup("--state-dir");
	argv[n++] = strdup(state);
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = strdup(args[i]);
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		if (env_name)
			setenv(env_name, env_value, 1);
		execv(bin, argv);
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		free(argv[i]);
	if (pid < 0)
		return -2;
	deadline = now_s() + 10;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() > deadline) {
			kill(pid, SIGTERM);
			sleep_s(0.5);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		sleep_s(0.02);
	}
	out[0] = err[0] = '\0';
	if ((fd = open(outp, O_RDONLY)) >= 0) {
		ssize_t r = read(fd, out, out_cap - 1);
		out[r > 0 ? r : 0] = '\0';
		close(fd);
	}
	if ((fd = open(errp, O_RDONLY)) >= 0) {
		ssize_t r = read(fd, err, err_cap - 1);
		err[r > 0 ? r : 0] = '\0';
		close(fd);
	}
	unlink(outp);
	unlink(errp);
	rmdir(state);
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* "*" is never allowed: the server refuses to start, says why, never listens. */
static void test_cors_wildcard_refuses_to_start(void)
{
	static const char *const lists[] = { "*", ALLOWED_A ",*", "http://*.example" };
	char out[4096], err[4096];

	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		const char *args[] = { "--cors-origins", lists[i], NULL };
		int rc = run_spawnd(args, NULL, NULL, out, sizeof out, err, sizeof err);
		CHECK_MSG(rc > 0 && rc < 128, "spawnd --cors-origins '%s': exit %d (expected a non-zero exit); stderr: %.300s",
			  lists[i], rc, err);
		CHECK_MSG(!strstr(out, "listening"), "spawnd --cors-origins '%s' listened: %s", lists[i], out);
		CHECK_MSG(strcasestr(err, "cors") && strchr(err, '*'), "--cors-origins '%s': stderr does not say why: %.300s",
			  lists[i], err);
	}
	{
		const char *none[] = { NULL };
		int rc = run_spawnd(none, "SPAWND_CORS_ORIGINS", "*", out, sizeof out, err, sizeof err);
		CHECK_MSG(rc > 0 && rc < 128 && !strstr(out, "listening"),
			  "SPAWND_CORS_ORIGINS='*': exit %d, stdout %.100s, stderr %.300s", rc, out, err);
	}
}

int main(void)
{
	RUN(test_cors_off_by_default);
	RUN(test_cors_allowlist);
	RUN(test_cors_from_environment);
	RUN(test_cors_wildcard_refuses_to_start);
	return CHECK_EXIT();
}
