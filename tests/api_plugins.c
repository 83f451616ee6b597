/* api_plugins — plugin targets as a client and an operator see them: the
 * example plugin (examples/plugin_worker.c) loaded with --plugins runs through
 * the API with its exact output and exit code, is listed by GET /targets with
 * kind "plugin", its schema and its source, has its arguments validated before
 * anything runs, and knows its own identity (current_process). A plugin folder
 * with a broken library stops the server at startup with a message naming it.
 *
 * Environment (set by make test):
 *   SPAWND_EXAMPLE_PLUGINS  where the example plugins are built (default build/examples)
 *   SPAWND_FIXTURES         holds the broken test plugins plugin_*.so
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

extern char **environ;

#define EXAMPLE_FILE "plugin_worker.so"

static struct server *srv;
static char examples[PATH_MAX];

static const char targets_json[] =
	"{\"targets\": [{\"name\": \"hello_exec\", \"program\": \"/bin/echo\", \"argv\": [\"hello\"],"
	" \"description\": \"An exec target next to the plugins.\"}]}";

static const cJSON *find_target(const cJSON *list, const char *name)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, list) {
		if (jstr(t, "name") && !strcmp(jstr(t, "name"), name))
			return t;
	}
	return NULL;
}

static int index_of(const cJSON *list, const char *name)
{
	int i = 0;
	const cJSON *t;

	cJSON_ArrayForEach(t, list) {
		if (jstr(t, "name") && !strcmp(jstr(t, "name"), name))
			return i;
		i++;
	}
	return -1;
}

/* --- listing --- */

static void test_plugins_listed_with_kind_and_source(void)
{
	static const char *const names[] = { "plugin_worker", "plugin_greet", "plugin_sum" };
	struct resp *r = get(srv, "/targets");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->json, "targets");
	char want_source[PATH_MAX + 8];
	const char *source;

	CHECK_STATUS(r, 200);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const cJSON *t = find_target(list, names[i]);
		CHECK_MSG(t, "%s not listed: " RESP_FMT, names[i], RESP_ARGS(r));
		CHECK_STR(jstr(t, "kind"), "plugin");
		CHECK_STR(jstr(t, "source"), "plugin:" EXAMPLE_FILE);
		CHECK_MSG(jstr(t, "description") && jstr(t, "description")[0], "%s has no description", names[i]);
	}
	/* Registry order: builtins, then plugins (in the plugin's order), then exec targets. */
	CHECK_MSG(index_of(list, "whoami") < index_of(list, "plugin_worker") &&
		  index_of(list, "plugin_worker") < index_of(list, "plugin_greet") &&
		  index_of(list, "plugin_greet") < index_of(list, "plugin_sum") &&
		  index_of(list, "plugin_sum") < index_of(list, "hello_exec"),
		  "targets not in registry order: " RESP_FMT, RESP_ARGS(r));
	CHECK_STR(jstr(find_target(list, "worker"), "source"), "builtin");
	CHECK_STR(jstr(find_target(list, "hello_exec"), "kind"), "exec");
	snprintf(want_source, sizeof want_source, "file:%s/targets.json", server_root(srv));
	source = jstr(find_target(list, "hello_exec"), "source");
	CHECK_MSG(source && strcmp(source, want_source) == 0, "hello_exec source \"%.300s\", expected \"%.300s\"",
		  source ? source : "(none)", want_source);
	resp_free(r);
}

static void test_plugin_schema(void)
{
	struct resp *r = get(srv, "/targets/plugin_greet");
	cJSON *want = cJSON_Parse(
		"[{\"name\": \"name\", \"type\": \"string\", \"required\": true,"
		"  \"pattern\": \"[A-Za-z][A-Za-z .'-]*\", \"max_length\": 64},"
		" {\"name\": \"greeting\", \"type\": \"string\", \"required\": false,"
		"  \"enum\": [\"hello\", \"hi\", \"welcome\"]},"
		" {\"name\": \"excited\", \"type\": \"boolean\", \"required\": false}]");
	bool same;

	CHECK_STATUS(r, 200);
	same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r->json, "args"), want, true);
	cJSON_Delete(want);
	CHECK_MSG(same, "plugin_greet args: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jnum(r->json, "timeout", -1) == 10, "timeout: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jis_null(r->json, "max_running"), "max_running: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	r = get(srv, "/targets/plugin_sum");
	CHECK_STATUS(r, 200);
	const cJSON *values = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "args"), 0);
	CHECK_MSG(jstr(values, "type") && !strcmp(jstr(values, "type"), "number") && jis_true(values, "variadic") &&
		  jnum(values, "min", 0) == -1e9 && jnum(values, "max", 0) == 1e9,
		  "plugin_sum args: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
}

static void test_list_and_item_agree(void)
{
	struct resp *list = get(srv, "/targets");
	struct resp *one = get(srv, "/targets/plugin_worker");

	CHECK_STATUS(list, 200);
	CHECK_STATUS(one, 200);
	CHECK_MSG(cJSON_Compare(find_target(cJSON_GetObjectItemCaseSensitive(list->json, "targets"), "plugin_worker"),
				one->json, true), "GET /targets/plugin_worker differs from its entry in GET /targets");
	resp_free(list);
	resp_free(one);
}

/* --- running --- */

/* Runs body to the end; checks state exited, the exit code and the exact stdout. */
static void expect_run(const char *body, int exitcode, const char *stdout_text, char *why, size_t cap)
{
	struct resp *r = spawn(srv, body, 10);

	why[0] = '\0';
	if (r->status != 201)
		snprintf(why, cap, "%s: expected 201, got " RESP_FMT, body, RESP_ARGS(r));
	else if (!jstr(r->json, "state") || strcmp(jstr(r->json, "state"), "exited") != 0 ||
		 jint(r->json, "exitcode", -999) != exitcode)
		snprintf(why, cap, "%s: expected exited with %d: " RESP_FMT, body, exitcode, RESP_ARGS(r));
	else if (!jstr(r->json, "stdout") || strcmp(jstr(r->json, "stdout"), stdout_text) != 0)
		snprintf(why, cap, "%s: stdout \"%s\", expected \"%s\"", body,
			 jstr(r->json, "stdout") ? jstr(r->json, "stdout") : "(none)", stdout_text);
	resp_free(r);
}

static void test_example_worker_runs(void)
{
	char body[128], want[64], why[1024];

	/* The seed scenario, through the plugin: five workers print "Worker: i". */
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof body, "{\"target\": \"plugin_worker\", \"args\": [%d]}", i);
		snprintf(want, sizeof want, "Worker: %d\n", i);
		expect_run(body, 0, want, why, sizeof why);
		CHECK_MSG(!why[0], "%.900s", why);
	}
	expect_run("{\"target\": \"plugin_worker\"}", 0, "Worker\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
	expect_run("{\"target\": \"plugin_worker\", \"args\": {\"num\": -2147483649}}", 0,
		   "Worker: -2147483649\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
	expect_run("{\"target\": \"plugin_worker\", \"args\": [null]}", 0, "Worker\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
}

static void test_variadic_and_types_reach_plugin(void)
{
	char why[1024];

	expect_run("{\"target\": \"plugin_sum\", \"args\": [1, 2.5, -3]}", 0, "0.5\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
	expect_run("{\"target\": \"plugin_sum\", \"args\": {\"values\": [1000000000, 1000000000, 0.25]}}", 0,
		   "2000000000.25\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
	expect_run("{\"target\": \"plugin_sum\", \"args\": []}", 0, "0\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
}

/* The worker knows itself: the id, name and pid in its output are the record's. */
static void test_identity_matches_record(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"plugin_greet\", \"name\": \"greeter-1\","
			       " \"args\": {\"name\": \"Ada Lovelace\", \"greeting\": \"welcome\", \"excited\": true}}", 10);
	char id[ID_CAP], want[512];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_STR(jstr(r->json, "name"), "greeter-1");
	CHECK_MSG(jint(r->json, "pid", 0) > 0 && jint(r->json, "exitcode", -1) == 0, RESP_FMT, RESP_ARGS(r));
	snprintf(want, sizeof want, "welcome, Ada Lovelace! I am greeter-1 (id %s, pid %lld)\n", id,
		 jint(r->json, "pid", 0));
	CHECK_STR(jstr(r->json, "stdout"), want);
	resp_free(r);

	/* Default name and defaults of the optional arguments. */
	r = spawn(srv, "{\"target\": \"plugin_greet\", \"args\": [\"Grace\"]}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_MSG(jstr(r->json, "name") && !strncmp(jstr(r->json, "name"), "Process-", 8), RESP_FMT, RESP_ARGS(r));
	snprintf(want, sizeof want, "hello, Grace. I am %s (id %s, pid %lld)\n", jstr(r->json, "name"), id,
		 jint(r->json, "pid", 0));
	CHECK_STR(jstr(r->json, "stdout"), want);
	resp_free(r);
}

/* --- validation --- */

struct bad_call {
	const char *body;
	const char *field;
};

static void test_args_validated(void)
{
	static const struct bad_call bad[] = {
		{ "{\"target\": \"plugin_worker\", \"args\": [\"3\"]}", "args[0]" },
		{ "{\"target\": \"plugin_worker\", \"args\": {\"num\": 1.5}}", "args.num" },
		{ "{\"target\": \"plugin_worker\", \"args\": [1, 2]}", "args[1]" },
		{ "{\"target\": \"plugin_worker\", \"args\": {\"count\": 1}}", "args.count" },
		{ "{\"target\": \"plugin_greet\"}", "args.name" },
		{ "{\"target\": \"plugin_greet\", \"args\": {\"name\": \"Ada\", \"greeting\": \"yo\"}}", "args.greeting" },
		{ "{\"target\": \"plugin_greet\", \"args\": {\"name\": \"1Ada\"}}", "args.name" },
		{ "{\"target\": \"plugin_greet\", \"args\": {\"name\": \"Ada; rm -rf /\"}}", "args.name" },
		{ "{\"target\": \"plugin_greet\", \"args\": {\"name\": \"Ada\", \"excited\": \"yes\"}}", "args.excited" },
		{ "{\"target\": \"plugin_greet\", \"args\": {\"name\": "
		  "\"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}", "args.name" },  /* 65 bytes */
		{ "{\"target\": \"plugin_sum\", \"args\": [1, 1000000001]}", "args[1]" },
		{ "{\"target\": \"plugin_sum\", \"args\": [-1000000000.5]}", "args[0]" },
		{ "{\"target\": \"plugin_sum\", \"args\": {\"values\": 3}}", "args.values" },
	};
	int before = process_count(srv);

	CHECK(before >= 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct resp *r = spawn(srv, bad[i].body, -1);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_MSG(err_has_field(r, bad[i].field), "%s: no details entry for %s: " RESP_FMT, bad[i].body,
			  bad[i].field, RESP_ARGS(r));
		resp_free(r);
	}
	CHECK_INT(process_count(srv), before);
}

static void test_boundaries_accepted(void)
{
	static const char name64[] = "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	char body[256], want[256], id[ID_CAP], why[1024];
	struct resp *r;

	/* max_length 64: the boundary runs (65 bytes are refused above). */
	CHECK_INT(strlen(name64), 64);
	snprintf(body, sizeof body, "{\"target\": \"plugin_greet\", \"name\": \"b\","
		 " \"args\": {\"name\": \"%s\", \"greeting\": \"hi\", \"excited\": false}}", name64);
	r = spawn(srv, body, 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	snprintf(want, sizeof want, "hi, %s. I am b (id %s, pid %lld)\n", name64, id, jint(r->json, "pid", 0));
	CHECK_STR(jstr(r->json, "stdout"), want);
	resp_free(r);
	expect_run("{\"target\": \"plugin_sum\", \"args\": [1000000000, -1000000000]}", 0, "0\n", why, sizeof why);
	CHECK_MSG(!why[0], "%.900s", why);
}

static void test_unknown_plugin_like_names_404(void)
{
	static const char *const names[] = { "plugin_worker.so", "plugin_Worker", "spawnd_plugin_init",
					     "..%2Fplugin_worker", "plugin_worker%00" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct resp *r = get(srv, "/targets/%s", names[i]);
		CHECK_MSG(r->status == 404 || r->status == 400, "GET /targets/%s: " RESP_FMT, names[i], RESP_ARGS(r));
		resp_free(r);
	}
}

/* --- refusing to start --- */

/* A temporary folder with a state folder and an empty plugins folder; caller
 * removes it with remove_root(). */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_root(const char *root)
{
	if (!getenv("SPAWND_KEEP"))
		nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool make_root(char *root, size_t cap)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[PATH_MAX + 16];

	snprintf(root, cap, "%s/spawnd-plugins.XXXXXX", tmp);
	if (!mkdtemp(root))
		return false;
	snprintf(path, sizeof path, "%s/state", root);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/plugins", root);
	return mkdir(path, 0700) == 0;
}

/* Links a built library into root/plugins under name. */
static bool add_plugin(const char *root, const char *from, const char *name)
{
	char to[PATH_MAX + 64];

	snprintf(to, sizeof to, "%s/plugins/%s", root, name);
	return symlink(from, to) == 0;
}

static void test_broken_plugins_refuse_start(void)
{
	static const struct { const char *fixture, *reason; } cases[] = {
		{ "plugin_bad_abi.so", "built for plugin ABI 99, but this spawnd loads ABI 1" },
		{ "plugin_no_init.so", "does not export spawnd_plugin_init()" },
		{ "plugin_clash.so", "target \"worker\": name: \"worker\" is already a builtin target" },
	};
	char example[PATH_MAX + 32];

	snprintf(example, sizeof example, "%s/" EXAMPLE_FILE, examples);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char root[PATH_MAX], plugins[PATH_MAX + 16], want[PATH_MAX + 64], log[8192];
		char *fixture = fixture_path(cases[i].fixture);
		bool listened, linked;
		int status;

		CHECK_MSG(fixture && fixture_exists(cases[i].fixture), "fixture %s not built", cases[i].fixture);
		CHECK(make_root(root, sizeof root));
		/* A good plugin next to the bad one does not make it pass. */
		linked = add_plugin(root, example, "a_" EXAMPLE_FILE) && add_plugin(root, fixture, cases[i].fixture);
		free(fixture);
		CHECK_MSG(linked, "symlink in %.300s: %.100s", root, strerror(errno));
		snprintf(plugins, sizeof plugins, "%s/plugins", root);
		status = server_run_refused((const char *const[]){ "--plugins", plugins, NULL }, root, log, sizeof log, &listened);
		CHECK_MSG(status != -1, "%s: spawnd did not exit within 10 s", cases[i].fixture);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0, "%s: spawnd exit status %d, stderr: %.600s",
			  cases[i].fixture, status, log);
		CHECK_MSG(!listened, "%s: spawnd printed its address before refusing", cases[i].fixture);
		snprintf(want, sizeof want, "%s/%s: ", plugins, cases[i].fixture);
		CHECK_MSG(strstr(log, want), "%s: stderr does not name \"%.200s\": %.500s", cases[i].fixture, want, log);
		CHECK_MSG(strstr(log, cases[i].reason), "%s: stderr does not say \"%s\": %.600s", cases[i].fixture,
			  cases[i].reason, log);
		CHECK_MSG(!strstr(log, "Sanitizer"), "%s: sanitizer report: %.700s", cases[i].fixture, log);
		remove_root(root);
	}
}

static void test_missing_folder_refuses_start(void)
{
	char root[PATH_MAX], missing[PATH_MAX + 16], log[4096];
	bool listened;
	int status;

	CHECK(make_root(root, sizeof root));
	snprintf(missing, sizeof missing, "%s/nope", root);
	status = server_run_refused((const char *const[]){ "--plugins", missing, NULL }, root, log, sizeof log, &listened);
	CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && !listened,
		  "spawnd started with a missing plugins folder (status %d): %.700s", status, log);
	CHECK_MSG(strstr(log, missing) && strstr(log, "No such file or directory"), "stderr: %.800s", log);
	remove_root(root);
}

/* Exec targets may not take a plugin target's name. */
static void test_exec_target_cannot_take_plugin_name(void)
{
	char root[PATH_MAX], targets[PATH_MAX + 16], log[4096];
	bool listened;
	int status;
	FILE *f;

	CHECK(make_root(root, sizeof root));
	snprintf(targets, sizeof targets, "%s/targets.json", root);
	f = fopen(targets, "w");
	CHECK(f);
	fputs("{\"targets\": [{\"name\": \"plugin_worker\", \"program\": \"/bin/true\"}]}", f);
	fclose(f);
	status = server_run_refused((const char *const[]){ "--plugins", examples, "--targets", targets, NULL }, root, log,
			     sizeof log, &listened);
	CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && !listened,
		  "spawnd started (status %d): %.800s", status, log);
	CHECK_MSG(strstr(log, targets) && strstr(log, "\"plugin_worker\" is already a builtin or plugin target"),
		  "stderr: %.800s", log);
	remove_root(root);
}

static void test_empty_folder_starts(void)
{
	char root[PATH_MAX], extra[PATH_MAX + 32], why[256];
	struct server *empty;
	struct resp *r;

	CHECK(make_root(root, sizeof root));
	snprintf(extra, sizeof extra, "--plugins %s/plugins", root);
	empty = server_start(extra);
	CHECK_MSG(empty, "spawnd did not start with an empty plugins folder");
	r = get(empty, "/targets/plugin_worker");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	CHECK_MSG(server_stop(empty, why, sizeof why) == 0, "%s", why);
	remove_root(root);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	const char *dir = getenv("SPAWND_EXAMPLE_PLUGINS") ? getenv("SPAWND_EXAMPLE_PLUGINS") : "build/examples";
	char extra[PATH_MAX + 16];

	if (!realpath(dir, examples)) {
		printf("FAIL setup: example plugins folder %s: %s (build it with make)\n", dir, strerror(errno));
		return 1;
	}
	snprintf(extra, sizeof extra, "--plugins %s", examples);
	srv = server_start_targets(targets_json, extra);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start with --plugins %s (see stderr)\n", examples);
		return 1;
	}
	RUN(test_plugins_listed_with_kind_and_source);
	RUN(test_plugin_schema);
	RUN(test_list_and_item_agree);
	RUN(test_example_worker_runs);
	RUN(test_variadic_and_types_reach_plugin);
	RUN(test_identity_matches_record);
	RUN(test_args_validated);
	RUN(test_boundaries_accepted);
	RUN(test_unknown_plugin_like_names_404);
	RUN(test_broken_plugins_refuse_start);
	RUN(test_missing_folder_refuses_start);
	RUN(test_exec_target_cannot_take_plugin_name);
	RUN(test_empty_folder_starts);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
