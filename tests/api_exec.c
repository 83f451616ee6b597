/* api_exec — exec targets never pass through a shell: every argument reaches
 * the program as one literal argv element, a leading "-" is refused unless the
 * argument allows it, arguments are validated against the declared schema
 * before anything runs, and the worker starts clean (environment allowlist,
 * fds 0-2 only, empty signal mask, default dispositions, its own session).
 *
 * Fixtures: `printargv` prints its argv as a JSON array; `selfcheck` prints its
 * fds, SigBlk/SigIgn, pid, pgid and sid. The server runs with a secret in its
 * own environment that no worker may see.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;
static char *printargv_copy; /* an executable copy of printargv, made unexecutable later */

#define SECRET_NAME "SPAWND_TEST_SERVER_SECRET"
#define SECRET_VALUE "hunter2-must-not-leak"

/* {"target": target, "args": [words...]} */
static char *argv_body(const char *target, const char *const *words, int n)
{
	cJSON *body = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(body, "target", target);
	cJSON_AddItemToObject(body, "args", cJSON_CreateStringArray(words, n));
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	return text;
}

static void test_exec_targets_listed(void)
{
	struct resp *r = get(srv, "/targets/printargv");
	const cJSON *spec;

	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "kind"), "exec");
	spec = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "args"), 0);
	CHECK_MSG(jstr(spec, "name") && !strcmp(jstr(spec, "name"), "words") && jis_true(spec, "variadic"),
		  "printargv args: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(srv, "/targets");
	CHECK_STATUS(r, 200);
	const cJSON *t;
	int execs = 0;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r->json, "targets"))
		execs += jstr(t, "kind") && !strcmp(jstr(t, "kind"), "exec");
	CHECK_MSG(execs >= 4, "%d exec targets listed: " RESP_FMT, execs, RESP_ARGS(r));
	resp_free(r);
}

static void test_hostile_args_reach_program_literally(void)
{
	static const char *const words[] = {
		"; rm -rf /tmp/nothing", "$(id)", "`id`", "'single' \"double\"", "a b  c", "line1\nline2",
		"tab\there", "*", "~", "$HOME", "\\", "|", "&&", ">out", "", "h\xc3\xa9llo \xe2\x9c\x93",
		"x=-1", "not-a--flag", "{words}", "{}",
	};
	enum { N = sizeof words / sizeof words[0] };
	char *body = argv_body("printargv", words, N);
	char id[ID_CAP];
	struct resp *r = spawn(srv, body, 10);
	cJSON *got, *want;
	bool same;

	free(body);
	CHECK_STATUS(r, 201);
	CHECK_MSG(jint(r->json, "exitcode", -1) == 0, "printargv: " RESP_FMT, RESP_ARGS(r));
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STATUS(r, 200);
	got = cJSON_Parse(r->body);
	want = cJSON_CreateArray();
	cJSON_AddItemToArray(want, cJSON_CreateString("fixed word"));
	for (int i = 0; i < N; i++)
		cJSON_AddItemToArray(want, cJSON_CreateString(words[i]));
	same = cJSON_Compare(got, want, true);
	cJSON_Delete(got);
	cJSON_Delete(want);
	CHECK_MSG(same, "argv differs: %.600s", r->body);
	resp_free(r);
}

static void test_leading_dash_refused(void)
{
	static const char *const dashes[] = { "-rf", "--help", "-", "--" };
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof dashes / sizeof dashes[0]; i++) {
		const char *words[2] = { "fine", dashes[i] };
		char *body = argv_body("printargv", words, 2);
		struct resp *r = spawn(srv, body, -1);
		free(body);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_MSG(err_has_field(r, "args[1]") || err_has_field(r, "args.words"),
			  "no details entry naming the argument: " RESP_FMT, RESP_ARGS(r));
		resp_free(r);
	}
	{
		struct resp *r = spawn(srv, "{\"target\": \"printargv\", \"args\": {\"words\": [\"-x\"]}}", -1);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_MSG(err_has_field_prefix(r, "args"), "no args field: " RESP_FMT, RESP_ARGS(r));
		resp_free(r);
	}
	CHECK_INT(process_count(srv), before);
}

static void test_allow_dash_passes_literally(void)
{
	static const char *const words[] = { "-n", "--long=value", "-" };
	char *body = argv_body("printargv_dash", words, 3);
	struct resp *r = spawn(srv, body, 10);
	char id[ID_CAP];

	free(body);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STR(r->body, "[\"-n\",\"--long=value\",\"-\"]\n");
	resp_free(r);
}

static void test_schema_validation(void)
{
	static const struct {
		const char *args, *field;
	} bad[] = {
		{ "{}", "args.mode" },
		{ "{\"mode\": \"medium\"}", "args.mode" },
		{ "{\"mode\": \"fast\", \"count\": 0}", "args.count" },
		{ "{\"mode\": \"fast\", \"count\": 11}", "args.count" },
		{ "{\"mode\": \"fast\", \"count\": \"3\"}", "args.count" },
		{ "{\"mode\": \"fast\", \"label\": \"ABC\"}", "args.label" },
		{ "{\"mode\": \"fast\", \"label\": \"abc1\"}", "args.label" },
		{ "{\"mode\": \"fast\", \"label\": \"abcdefghi\"}", "args.label" },
		{ "{\"mode\": \"fast\", \"extra\": 1}", "args.extra" },
		{ "[\"fast\", 3, \"abc\", \"more\"]", "args[3]" },
	};
	int before = process_count(srv);
	char body[256], id[ID_CAP];
	struct resp *r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(body, sizeof body, "{\"target\": \"constrained\", \"args\": %s}", bad[i].args);
		r = spawn(srv, body, -1);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, bad[i].field);
		resp_free(r);
	}
	/* Several at once: one entry each. */
	r = spawn(srv, "{\"target\": \"constrained\", \"args\": {\"mode\": \"x\", \"count\": 99, \"label\": \"UP\"}}", -1);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "args.mode");
	CHECK_FIELD(r, "args.count");
	CHECK_FIELD(r, "args.label");
	resp_free(r);
	CHECK_INT(process_count(srv), before);

	r = spawn(srv, "{\"target\": \"constrained\", \"args\": {\"mode\": \"slow\", \"count\": 3, \"label\": \"abcdefgh\"}}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STR(r->body, "[\"slow\",\"3\",\"abcdefgh\"]\n");
	resp_free(r);
	/* Optional arguments left out add no argv element. */
	r = spawn(srv, "{\"target\": \"constrained\", \"args\": [\"fast\"]}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STR(r->body, "[\"fast\"]\n");
	resp_free(r);
}

static void test_clean_environment(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"env\", \"name\": \"env check\"}", 10);
	char id[ID_CAP], want[512];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STATUS(r, 200);
	CHECK_MSG(!strstr(r->body, SECRET_VALUE) && !strstr(r->body, SECRET_NAME),
		  "the server's environment leaked into the worker: %s", r->body);
	/* Exactly these six, in any order (SPAWND_URL and SPAWND_TOKEN: api_worker_tokens;
	 * SPAWND_SOCKET: api_capi). */
	snprintf(want, sizeof want, "SPAWND_PROCESS_ID=%s\n", id);
	CHECK_MSG(strstr(r->body, "PATH=/usr/local/bin:/usr/bin:/bin\n") && strstr(r->body, want) &&
		  strstr(r->body, "SPAWND_PROCESS_NAME=env check\n"), "worker env: %s", r->body);
	snprintf(want, sizeof want, "SPAWND_URL=%s\n", server_url(srv));
	CHECK_MSG(strstr(r->body, want) && strstr(r->body, "SPAWND_TOKEN=spw_"), "worker env: %s", r->body);
	snprintf(want, sizeof want, "SPAWND_SOCKET=%s/state/spawnd.sock\n", server_root(srv));
	CHECK_MSG(strstr(r->body, want), "worker env: %s", r->body);
	int lines = 0;
	for (const char *p = r->body; (p = strchr(p, '\n')); p++)
		lines++;
	CHECK_MSG(lines == 6, "worker env has %d variables, expected 6: %s", lines, r->body);
	resp_free(r);
	r = spawn(srv, "{\"target\": \"env\", \"env\": {\"HOME\": \"/root\"}}", -1);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "env.HOME");
	resp_free(r);
}

static void test_fds_signals_session(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"selfcheck\"}", 10);
	char id[ID_CAP];
	long long pid;
	cJSON *me, *want_fds;
	bool fds_ok;

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	pid = jint(r->json, "pid", -1);
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	me = cJSON_Parse(r->body);
	CHECK_MSG(me, "selfcheck output: %s", r->body);
	want_fds = cJSON_Parse("[0,1,2]");
	fds_ok = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(me, "fds"), want_fds, true);
	cJSON_Delete(want_fds);
	CHECK_MSG(fds_ok, "worker inherited more than fds 0-2: %s", r->body);
	CHECK_MSG(jstr(me, "sigblk") && !strcmp(jstr(me, "sigblk"), "0000000000000000"),
		  "signal mask not empty: %s", r->body);
	CHECK_MSG(jstr(me, "sigign") && !strcmp(jstr(me, "sigign"), "0000000000000000"),
		  "ignored signals inherited: %s", r->body);
	CHECK_MSG(jint(me, "pid", 0) == pid, "record pid %lld, worker says: %s", pid, r->body);
	CHECK_MSG(jint(me, "pgid", 0) == pid && jint(me, "sid", 0) == pid,
		  "worker is not the leader of its own session and group: %s", r->body);
	cJSON_Delete(me);
	resp_free(r);
}

static void test_exec_failure_reported(void)
{
	struct resp *r;
	char id[ID_CAP];
	const char *state;

	CHECK(chmod(printargv_copy, 0644) == 0);
	r = spawn(srv, "{\"target\": \"broken\"}", 10);
	chmod(printargv_copy, 0755);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	state = jstr(r->json, "state");
	CHECK_MSG(state && !strcmp(state, "failed") && jis_false(r->json, "alive"),
		  "exec failure not reported as failed: " RESP_FMT, RESP_ARGS(r));
	CHECK_STR(jstr(r->json, "reason"), "spawn_error");
	CHECK_MSG(jstr(r->json, "error") && jstr(r->json, "error")[0], "no error text: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(r->seconds < 5, "exec failure took %.1f s", r->seconds);
	resp_free(r);
	r = join(srv, id, 5);
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "state"), "failed");
	resp_free(r);
}

/* env allow/set from the targets file: its own server, so a disagreement about
 * the file format fails this case only. */
static void test_env_allow_and_set(void)
{
	char *targets = NULL, why[256], id[ID_CAP], want[256];
	struct server *s;
	struct resp *r;

	if (asprintf(&targets,
		     "{\"targets\": [{\"name\": \"env\", \"description\": \"env(1)\", \"program\": \"/usr/bin/env\","
		     " \"env\": {\"allow\": [\"TZ\"], \"set\": {\"LANG\": \"C\"}}}]}") < 0)
		CHECK_FAIL("asprintf");
	s = server_start_targets(targets, NULL);
	free(targets);
	CHECK_MSG(s, "spawnd refused a targets file with \"env\": {\"allow\", \"set\"} (see stderr)");
	r = spawn(s, "{\"target\": \"env\", \"env\": {\"TZ\": \"UTC\"}}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(s, id, "stdout");
	snprintf(want, sizeof want, "SPAWND_PROCESS_ID=%s\n", id);
	CHECK_MSG(strstr(r->body, "TZ=UTC\n") && strstr(r->body, "LANG=C\n") && strstr(r->body, want) &&
		  strstr(r->body, "PATH=") && !strstr(r->body, SECRET_VALUE), "worker env: %s", r->body);
	resp_free(r);
	r = spawn(s, "{\"target\": \"env\", \"env\": {\"TZ\": \"UTC\", \"LANG\": \"fr_FR\", \"LD_PRELOAD\": \"/x.so\"}}", -1);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "env.LANG");
	CHECK_FIELD(r, "env.LD_PRELOAD");
	CHECK_MSG(!strstr(r->body, "/x.so") && !strstr(r->body, "fr_FR"), "env values in the error: %s", r->body);
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

/* Copies the printargv fixture to a temporary executable file. */
static char *copy_executable(const char *from)
{
	char *to = strdup("/tmp/spawnd-test-broken.XXXXXX");
	int in = open(from, O_RDONLY | O_CLOEXEC), out = to ? mkstemp(to) : -1;
	char buf[65536];
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) {
		if (write(out, buf, (size_t)n) != n)
			break;
	}
	if (in >= 0)
		close(in);
	if (out < 0 || fchmod(out, 0755) != 0 || close(out) != 0) {
		free(to);
		return NULL;
	}
	return to;
}

int main(void)
{
	char *printargv = fixture_path("printargv"), *selfcheck = fixture_path("selfcheck");
	char *targets = NULL;
	int rc;

	if (!fixture_exists("printargv") || !fixture_exists("selfcheck")) {
		printf("FAIL fixtures: %s or %s missing (set SPAWND_FIXTURES)\n", printargv, selfcheck);
		return 1;
	}
	printargv_copy = copy_executable(printargv);
	if (!printargv_copy ||
	    asprintf(&targets,
		     "{\"targets\": ["
		     "{\"name\": \"printargv\", \"description\": \"Prints its argv.\", \"program\": \"%s\","
		     " \"argv\": [\"fixed word\", \"{words}\"],"
		     " \"args\": [{\"name\": \"words\", \"type\": \"string\", \"required\": false, \"variadic\": true}]},"
		     "{\"name\": \"printargv_dash\", \"description\": \"Prints its argv; dashes allowed.\","
		     " \"program\": \"%s\", \"argv\": [\"{words}\"],"
		     " \"args\": [{\"name\": \"words\", \"type\": \"string\", \"variadic\": true, \"allow_dash\": true}]},"
		     "{\"name\": \"constrained\", \"description\": \"Prints its validated argv.\", \"program\": \"%s\","
		     " \"argv\": [\"{mode}\", \"{count}\", \"{label}\"],"
		     " \"args\": [{\"name\": \"mode\", \"type\": \"string\", \"required\": true, \"enum\": [\"fast\", \"slow\"]},"
		     " {\"name\": \"count\", \"type\": \"integer\", \"required\": false, \"min\": 1, \"max\": 10},"
		     " {\"name\": \"label\", \"type\": \"string\", \"required\": false, \"pattern\": \"[a-z]+\", \"max_length\": 8}]},"
		     "{\"name\": \"selfcheck\", \"description\": \"Reports fds and signals.\", \"program\": \"%s\"},"
		     "{\"name\": \"env\", \"description\": \"env(1)\", \"program\": \"/usr/bin/env\"},"
		     "{\"name\": \"broken\", \"description\": \"Becomes unexecutable.\", \"program\": \"%s\"}"
		     "]}", printargv, printargv, printargv, selfcheck, printargv_copy) < 0) {
		printf("FAIL setup: cannot prepare the targets file\n");
		return 1;
	}
	free(printargv);
	free(selfcheck);
	setenv(SECRET_NAME, SECRET_VALUE, 1);
	srv = server_start_targets(targets, NULL);
	free(targets);
	if (!srv) {
		unlink(printargv_copy);
		printf("FAIL server_start: spawnd with the exec targets did not start (see stderr)\n");
		return 1;
	}
	RUN(test_exec_targets_listed);
	RUN(test_hostile_args_reach_program_literally);
	RUN(test_leading_dash_refused);
	RUN(test_allow_dash_passes_literally);
	RUN(test_schema_validation);
	RUN(test_clean_environment);
	RUN(test_fds_signals_session);
	RUN(test_exec_failure_reported);
	RUN(test_env_allow_and_set);
	RUN(test_shared_server_shutdown);
	unlink(printargv_copy);
	free(printargv_copy);
	rc = CHECK_EXIT();
	return rc;
}
