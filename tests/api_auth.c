/* api_auth — bearer tokens with roles (API.md "Authentication", QUALITY.md 5
 * and 6): every operation of openapi/openapi.yaml, read from the document
 * itself so a new route cannot be left out, answers 401 without a token and
 * with a wrong one, 403 to a read token on a write, and is served with the
 * right token (/healthz needs none); streams are checked at their start;
 * SIGHUP revokes a token at once and an invalid file keeps the old set; a bad
 * tokens file, or a non-loopback --listen without tokens, refuses to start
 * (naming the line, never the token); and no token shows in the log, an
 * error or /metrics.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ADMIN "admin-token-5b0c7e1d9a2f4c68"
#define READ "read-token-83d1f0a6c2e94b7d"
#define WRONG "wrong-token-0f9e8d7c6b5a4321"
#define OPENAPI "openapi/openapi.yaml"
#define MAX_OPS 512

static struct server *srv;
static char dir[64] = "";         /* holds the tokens file */
static char tokens_path[128];

struct op {
	char method[16];
	char path[128];
};

static bool write_tokens(const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.new", tokens_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	fputs(text, f);
	fclose(f);
	chmod(tmp, 0600);
	return rename(tmp, tokens_path) == 0;   /* whole, as an operator's editor would */
}

/* One request; Authorization: Bearer token (NULL: none). A stream is waited
 * for until its status line only. Never NULL. */
static struct live *request(const char *method, const char *path, const char *token, const char *body, bool stream)
{
	char auth[160];
	const char *headers[3] = { NULL };
	int n = 0;

	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	if (body)
		headers[n++] = "Content-Type: application/json";
	struct live *l = live_request(srv, method, path, headers, body, body ? strlen(body) : 0, 0);
	if (stream)
		for (double deadline = now_s() + 20; !l->status && !l->done && now_s() < deadline;)
			live_pump(0.02);
	else
		live_wait_done(l, 30);
	return l;
}

static bool body_has(const struct live *l, const char *needle)
{
	return l->body && memmem(l->body, l->len, needle, strlen(needle)) != NULL;
}

/* The operations of the OpenAPI document: "  /path:" lines under "paths:",
 * then "    get:" (post, put, delete, patch) lines under each. */
static int read_operations(struct op *ops, int max)
{
	FILE *f = fopen(OPENAPI, "r");
	char line[512], path[128] = "";
	bool in_paths = false;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f) && n < max) {
		char method[16];
		if (strcmp(line, "paths:\n") == 0) {
			in_paths = true;
			continue;
		}
		if (!in_paths || line[0] == '\n' || line[0] == '#')
			continue;
		if (line[0] != ' ')
			break;                        /* the next top-level key */
		if (strncmp(line, "  /", 3) == 0 && line[2 + strcspn(line + 2, ":")] == ':')
			snprintf(path, sizeof path, "%.*s", (int)strcspn(line + 2, ":"), line + 2);
		else if (sscanf(line, "    %15[a-z]:", method) == 1 && line[4] != ' ' &&
			 (!strcmp(method, "get") || !strcmp(method, "post") || !strcmp(method, "put") ||
			  !strcmp(method, "delete") || !strcmp(method, "patch"))) {
			for (char *c = method; *c; c++)
				*c = (char)(*c - 'a' + 'A');
			snprintf(ops[n].method, sizeof ops[n].method, "%s", method);
			snprintf(ops[n].path, sizeof ops[n].path, "%s", path);
			n++;
		}
	}
	fclose(f);
	return n;
}

/* The template with {id} and {name} filled in; false for another parameter. */
static bool fill(const char *tmpl, const char *id, char *out, size_t cap)
{
	size_t used = 0;
	for (const char *p = tmpl; *p && used + 1 < cap;) {
		const char *value = NULL;
		if (strncmp(p, "{id}", 4) == 0 || strncmp(p, "{job}", 5) == 0)
			value = id;     /* a process id where a pool or job id goes: refused before it is looked up */
		else if (strncmp(p, "{name}", 6) == 0)
			value = "worker";
		else if (strncmp(p, "{key}", 5) == 0)
			value = "k";
		else if (*p == '{')
			return false;
		if (value) {
			used += (size_t)snprintf(out + used, cap - used, "%s", value);
			p = strchr(p, '}') + 1;
		} else
			out[used++] = *p++;
	}
	out[used] = '\0';
	return true;
}

static void test_setup(void)
{
	char args[256];
	CHECK(mkdtemp(strcpy(dir, "/tmp/spawnd-auth.XXXXXX")));
	snprintf(tokens_path, sizeof tokens_path, "%s/tokens", dir);
	CHECK(write_tokens("# who may do what\n\nadmin " ADMIN "\n  read\t" READ "  \n"));
	snprintf(args, sizeof args, "--tokens-file %s --log-level debug", tokens_path);
	srv = server_start(args);
	CHECK_MSG(srv, "spawnd did not start with a tokens file");
}

static void check_refused(const char *method, const char *path, const char *token, bool stream, long want)
{
	struct live *l = request(method, path, token, strcmp(method, "GET") ? "{}" : NULL, stream);
	char www[128] = "";
	long got = l->status;
	bool json = strncmp(l->content_type, "application/json", 16) == 0;
	bool has_www = live_header(l, "WWW-Authenticate", www, sizeof www);
	bool leaked = body_has(l, WRONG) || body_has(l, ADMIN) || body_has(l, READ);
	live_close(l);
	CHECK_MSG(got == want, "%s %s with %s: expected %ld, got %ld", method, path, token ? token : "no token",
		  want, got);
	CHECK_MSG(json && !leaked, "%s %s: not a JSON error, or it quotes a token", method, path);
	if (want == 401)
		CHECK_MSG(has_www && strncasecmp(www, "Bearer", 6) == 0, "%s %s: 401 without WWW-Authenticate: Bearer",
			  method, path);
}

/* Every operation of the document, four ways. */
static void test_every_operation(void)
{
	struct op ops[MAX_OPS];
	char id[ID_CAP], path[256];
	int n = read_operations(ops, MAX_OPS);
	CHECK_MSG(srv, "no server");
	CHECK_MSG(n >= 15, OPENAPI ": only %d operations found", n);
	CHECK_MSG(n < MAX_OPS, OPENAPI ": %d operations or more: raise MAX_OPS, or some go unchecked", MAX_OPS);
	struct live *l = request("POST", "/processes?wait=5", ADMIN, "{\"target\": \"worker\"}", false);
	bool created = l->status == 201;
	cJSON *j = cJSON_Parse(l->body);
	snprintf(id, sizeof id, "%s", jstr(j, "id") ? jstr(j, "id") : "");
	cJSON_Delete(j);
	live_close(l);
	CHECK_MSG(created && id[0], "admin POST /processes did not give 201 with an id");
	for (int i = 0; i < n; i++) {
		const char *m = ops[i].method;
		bool write = strcmp(m, "GET") != 0, stream = strcmp(ops[i].path, "/events") == 0;
		CHECK_MSG(fill(ops[i].path, id, path, sizeof path), "%s: a path parameter this test cannot fill in",
			  ops[i].path);
		if (strcmp(ops[i].path, "/healthz") == 0) {
			l = request(m, path, NULL, NULL, false);
			CHECK_MSG(l->status == 200, "/healthz without a token: %ld", l->status);
			live_close(l);
			continue;
		}
		/* The dashboard's files are public too (its login page is one), and
		 * /session is how a browser logs in: it checks the token itself. */
		if (strcmp(ops[i].path, "/") == 0 || strcmp(ops[i].path, "/assets/{name}") == 0 ||
		    strcmp(ops[i].path, "/session") == 0) {
			l = request(m, path, NULL, write ? "{}" : NULL, false);
			CHECK_MSG(l->status >= 200 && l->status < 500 && l->status != 401 && l->status != 403,
				  "%s %s without a token: %ld", m, path, l->status);
			live_close(l);
			continue;
		}
		check_refused(m, path, NULL, stream, 401);
		if (check_failure[0])
			return;
		check_refused(m, path, WRONG, stream, 401);
		if (check_failure[0])
			return;
		if (write) {
			check_refused(m, path, READ, stream, 403);
			if (check_failure[0])
				return;
		}
		for (int role = write ? 1 : 0; role < 2; role++) {
			l = request(m, path, role ? ADMIN : READ, write ? "{}" : NULL, stream);
			long got = l->status;
			live_close(l);
			CHECK_MSG(got >= 200 && got < 500 && got != 401 && got != 403, "%s %s with the %s token: %ld", m,
				  path, role ? "admin" : "read", got);
		}
	}
}

/* A followed output stream is checked once, at its start. */
static void test_streams(void)
{
	CHECK_MSG(srv, "no server");
	struct live *l = request("POST", "/processes", ADMIN, "{\"target\": \"ticker\", \"args\": {\"count\": 2}}", false);
	cJSON *j = cJSON_Parse(l->body);
	char path[256];
	snprintf(path, sizeof path, "/processes/%s/output?follow=true", jstr(j, "id") ? jstr(j, "id") : "x");
	cJSON_Delete(j);
	live_close(l);
	check_refused("GET", path, NULL, true, 401);
	if (check_failure[0])
		return;
	check_refused("GET", "/events?follow=true", WRONG, true, 401);
	if (check_failure[0])
		return;
	l = request("GET", path, READ, NULL, false);
	bool ok = l->status == 200 && body_has(l, "tick 2");
	live_close(l);
	CHECK_MSG(ok, "a read token could not follow the output to its end");
}

/* CORS preflights carry no credentials: OPTIONS passes. */
static void test_preflight(void)
{
	CHECK_MSG(srv, "no server");
	struct live *l = request("OPTIONS", "/processes", NULL, NULL, false);
	long options = l->status;
	live_close(l);
	CHECK_INT(options, 204);
}

/* The 401s are counted under their route; no token is in /metrics or the log. */
static void test_no_token_in_log_or_metrics(void)
{
	CHECK_MSG(srv, "no server");
	struct live *l = request("GET", "/metrics", ADMIN, NULL, false);
	bool ok = l->status == 200, leaked = body_has(l, ADMIN) || body_has(l, READ) || body_has(l, WRONG);
	bool counted = body_has(l, "spawnd_http_requests_total{method=\"GET\",route=\"/processes\",code=\"401\"} ") &&
		       !body_has(l, "spawnd_http_requests_total{method=\"GET\",route=\"/processes\",code=\"401\"} 0\n");
	live_close(l);
	CHECK_MSG(ok && !leaked, "GET /metrics: not 200, or a token in it");
	CHECK_MSG(counted, "the 401s of GET /processes are not counted under their route");
	char *log = server_log(srv);
	CHECK(log);
	bool in_log = strstr(log, ADMIN) || strstr(log, READ) || strstr(log, WRONG);
	bool debug = strstr(log, "status=401") != NULL;
	free(log);
	CHECK_MSG(debug, "the log has no request lines: the check below would prove nothing");
	CHECK_MSG(!in_log, "a token is in the server log");
}

static long status_with(const char *token)
{
	struct live *l = request("GET", "/processes?limit=1", token, NULL, false);
	long s = l->status;
	live_close(l);
	return s;
}

/* SIGHUP re-reads the file: a removed token is refused at once, a new one
 * works; an invalid file keeps the set and the log says why (by line). */
static void test_sighup_revokes(void)
{
	CHECK_MSG(srv, "no server");
	CHECK_INT(status_with(ADMIN), 200);
	CHECK(write_tokens("admin new-admin-token-77aa88bb99cc\n"));
	CHECK(kill(server_pid(srv), SIGHUP) == 0);
	double deadline = now_s() + 20;
	while (status_with(ADMIN) != 401 && now_s() < deadline)
		sleep_s(0.05);
	CHECK_MSG(status_with(ADMIN) == 401, "the removed admin token still works after SIGHUP");
	CHECK_INT(status_with(READ), 401);
	CHECK_INT(status_with("new-admin-token-77aa88bb99cc"), 200);

	CHECK(write_tokens("admin new-admin-token-77aa88bb99cc\nroot " ADMIN "\n"));
	CHECK(kill(server_pid(srv), SIGHUP) == 0);
	char *log = NULL;
	for (deadline = now_s() + 20; now_s() < deadline; sleep_s(0.05)) {
		free(log);
		log = server_log(srv);
		if (log && strstr(log, "tokens reload failed"))
			break;
	}
	bool failed = log && strstr(log, "tokens reload failed") && strstr(log, "tokens:2:");
	bool leaked = log && strstr(log, ADMIN);
	free(log);
	CHECK_MSG(failed, "no \"tokens reload failed\" line naming tokens:2");
	CHECK_MSG(!leaked, "the invalid line's token is in the log");
	CHECK_INT(status_with("new-admin-token-77aa88bb99cc"), 200);
	CHECK_INT(status_with(ADMIN), 401);
}

/* Runs spawnd with args that must make it refuse to start; its stderr in log. */
static int refused(const char *const *args, char *log, size_t cap, bool *listened)
{
	char root[64];
	if (!mkdtemp(strcpy(root, "/tmp/spawnd-auth-run.XXXXXX")))
		return -2;
	int status = server_run_refused(args, root, log, cap, listened);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return status;
}

static void test_bad_files_refuse_to_start(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "admin " ADMIN "\nsuperuser " WRONG "\n", "tokens:2: the role must be admin or read" },
		{ "# one\nadmin " ADMIN " extra\n", "tokens:2: expected ROLE TOKEN" },
		{ WRONG "\n", "tokens:1: expected ROLE TOKEN" },
		{ "read short-token\n", "tokens:1: a token must be 16" },
		{ "admin " ADMIN "\nread bad\"token-0123456789\n", "tokens:2: a token may hold only" },
		{ "# nothing\n\n", "no tokens" },
	};
	char log[4096];
	bool listened;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(write_tokens(cases[i].text));
		int st = refused((const char *const[]){ "--tokens-file", tokens_path, NULL }, log, sizeof log, &listened);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 0 && !listened, "case %zu: started (status %d)", i, st);
		CHECK_MSG(strstr(log, cases[i].want) && strstr(log, tokens_path), "case %zu: stderr lacks \"%s\": %s", i,
			  cases[i].want, log);
		CHECK_MSG(!strstr(log, ADMIN) && !strstr(log, WRONG) && !strstr(log, "token-0123456789"),
			  "case %zu: stderr quotes a token: %s", i, log);
	}
	int st = refused((const char *const[]){ "--tokens-file", "/nonexistent/tokens", NULL }, log, sizeof log,
			 &listened);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 0 && strstr(log, "/nonexistent/tokens"), "missing file: %s", log);
}

/* Anything but loopback without tokens refuses to start, unless --insecure. */
static void test_non_loopback_needs_tokens(void)
{
	char log[4096];
	bool listened;
	int st = refused((const char *const[]){ "--listen", "0.0.0.0:0", NULL }, log, sizeof log, &listened);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 0 && !listened, "0.0.0.0 without tokens started");
	CHECK_MSG(strstr(log, "0.0.0.0:0") && strstr(log, "--tokens-file") && strstr(log, "--insecure"),
		  "the refusal does not say what to do: %s", log);
	/* Loopback names other than 127.0.0.1 are loopback too (the refusal above is not "any other name"). */
	st = refused((const char *const[]){ "--listen", "localhost:0", "--tokens-file", "/nonexistent/x", NULL }, log,
		     sizeof log, &listened);
	CHECK_MSG(strstr(log, "/nonexistent/x"), "localhost: %s", log);
	/* --insecure starts it (it is killed after its 10 s: it serves until then). */
	st = refused((const char *const[]){ "--listen", "0.0.0.0:0", "--insecure", NULL }, log, sizeof log, &listened);
	CHECK_MSG(listened, "--insecure on 0.0.0.0 did not start: %s", log);
	CHECK_MSG(strstr(log, "without authentication"), "no warning about serving without authentication: %s", log);
}

static void test_stop(void)
{
	check_server_stops(&srv);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(test_setup);
	RUN(test_every_operation);
	RUN(test_streams);
	RUN(test_preflight);
	RUN(test_no_token_in_log_or_metrics);
	RUN(test_sighup_revokes);
	RUN(test_bad_files_refuse_to_start);
	RUN(test_non_loopback_needs_tokens);
	RUN(test_stop);
	return check_failed_cases ? 1 : 0;
}
