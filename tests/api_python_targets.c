/* Python target functions (issue 17, part 3): the "python" form of an exec
 * target in the targets file runs a function of a module folder in a fresh
 * python3, with the request's validated arguments as typed positional or
 * keyword arguments, multiprocessing's exit codes, and with "returns": "json"
 * the return value as the whole of stdout. A broken "python" section stops
 * the server with a message naming the file, the target and the field.
 *
 * The module folder is written by the test into its own temporary folder,
 * beside the targets file, and named relatively ("mods"), as an operator would. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

static const char module_text[] =
	"import sys, time\n"
	"def worker(num=None):\n"
	"    print('Worker' if num is None else 'Worker: %d' % num)\n"
	"def show(*args, **kwargs):\n"
	"    print(repr(args), repr(sorted(kwargs.items())))\n"
	"def echo(value):\n"
	"    print('printed, so on stderr')\n"
	"    return {'value': value, 'list': [1, 2.5, None]}\n"
	"def nothing():\n"
	"    return None\n"
	"def not_json():\n"
	"    return object()\n"
	"def raises():\n"
	"    raise RuntimeError('There was an error!')\n"
	"def exits(code):\n"
	"    sys.exit(code)\n"
	"def naps():\n"
	"    print('napping', flush=True)\n"
	"    time.sleep(60)\n";

#define PY(fn) "\"python\": {\"module\": \"pyt\", \"function\": \"" fn "\", \"path\": \"mods\"}"
#define PY_JSON(fn) "\"python\": {\"module\": \"pyt\", \"function\": \"" fn "\", \"path\": [\"mods\"], \"returns\": \"json\"}"

static const char targets_text[] =
	"{\"targets\": ["
	" {\"name\": \"py_worker\", \"description\": \"Worker: N\", " PY("worker") ","
	"  \"args\": [{\"name\": \"num\", \"type\": \"integer\", \"min\": 0, \"max\": 1000}]},"
	" {\"name\": \"py_show\", " PY("show") ", \"args\": ["
	"  {\"name\": \"a\", \"type\": \"integer\", \"required\": true}, {\"name\": \"b\", \"type\": \"string\"},"
	"  {\"name\": \"c\", \"type\": \"boolean\"}, {\"name\": \"d\", \"type\": \"number\"}]},"
	" {\"name\": \"py_words\", " PY("show") ", \"args\": ["
	"  {\"name\": \"first\", \"type\": \"string\", \"required\": true},"
	"  {\"name\": \"rest\", \"type\": \"string\", \"variadic\": true, \"pattern\": \"[a-z]+\"}]},"
	" {\"name\": \"py_echo\", " PY_JSON("echo") ", \"args\": [{\"name\": \"value\", \"type\": \"string\", \"required\": true}]},"
	" {\"name\": \"py_nothing\", " PY_JSON("nothing") "},"
	" {\"name\": \"py_not_json\", " PY_JSON("not_json") "},"
	" {\"name\": \"py_raises\", " PY("raises") "},"
	" {\"name\": \"py_exits\", " PY("exits") ", \"args\": [{\"name\": \"code\", \"type\": \"integer\", \"required\": true}]},"
	" {\"name\": \"py_naps\", " PY("naps") "}"
	"]}";

static struct server *srv;
static char root[PATH_MAX];

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	return f && fputs(text, f) >= 0 && fclose(f) == 0 ? 0 : -1;
}

/* ROOT/mods/pyt.py and ROOT/targets.json (the given text). */
static int make_root(const char *targets)
{
	char mods[PATH_MAX + 8];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(root, sizeof root, "%s/spawnd-python.XXXXXX", tmp);
	if (!mkdtemp(root))
		return -1;
	snprintf(mods, sizeof mods, "%s/mods", root);
	if (mkdir(mods, 0700) != 0 || write_file(mods, "pyt.py", module_text) != 0)
		return -1;
	return write_file(root, "targets.json", targets);
}

static void remove_root(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

/* Runs target with args (JSON) to its end; the record (caller frees). */
static struct resp *run(const char *target, const char *args)
{
	char body[1024];
	snprintf(body, sizeof body, "{\"target\": \"%s\", \"args\": %s}", target, args ? args : "[]");
	return spawn(srv, body, 20);
}

#define CHECK_OUT(r, code, out) do { \
		CHECK_STATUS(r, 201); \
		CHECK_EXITED(r, code); \
		CHECK_MSG(jstr((r)->json, "stdout") && strcmp(jstr((r)->json, "stdout"), (out)) == 0, \
			  "stdout not \"%s\": " RESP_FMT, (out), RESP_ARGS(r)); \
	} while (0)

static void test_listed_as_exec_with_schema(void)
{
	struct resp *r = get(srv, "/targets/py_worker");
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "kind"), "exec");
	const cJSON *arg = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "args"), 0);
	CHECK_STR(jstr(arg, "name"), "num");
	CHECK_STR(jstr(arg, "type"), "integer");
	resp_free(r);
}

/* The chapter's worker(num), with and without its argument, positional and named. */
static void test_worker_runs(void)
{
	struct resp *r = run("py_worker", "[3]");
	CHECK_OUT(r, 0, "Worker: 3\n");
	CHECK_STR(jstr(r->json, "stderr"), "");
	resp_free(r);
	r = run("py_worker", "{\"num\": 4}");
	CHECK_OUT(r, 0, "Worker: 4\n");
	resp_free(r);
	r = run("py_worker", NULL);
	CHECK_OUT(r, 0, "Worker\n");
	resp_free(r);
}

/* Values arrive typed; positional up to the first absent optional one, then by keyword. */
static void test_positional_then_keyword(void)
{
	struct resp *r = run("py_show", "[1, \"-x\", false, 2.5]");
	CHECK_OUT(r, 0, "(1, '-x', False, 2.5) []\n");
	resp_free(r);
	r = run("py_show", "{\"a\": -7, \"c\": true, \"d\": 3}");
	CHECK_OUT(r, 0, "(-7,) [('c', True), ('d', 3.0)]\n");
	resp_free(r);
	r = run("py_show", "[9007199254740991]");
	CHECK_OUT(r, 0, "(9007199254740991,) []\n");
	resp_free(r);
	r = run("py_words", "[\"one\", \"two\", \"three\"]");
	CHECK_OUT(r, 0, "('one', 'two', 'three') []\n");
	resp_free(r);
	r = run("py_words", "[\"one\"]");
	CHECK_OUT(r, 0, "('one',) []\n");
	resp_free(r);
}

/* The schema is checked before anything runs, with the bad field named. */
static void test_args_validated_before_running(void)
{
	static const struct { const char *target, *args, *field; } bad[] = {
		{ "py_worker", "[\"3\"]", "args[0]" },
		{ "py_worker", "{\"num\": 1001}", "args.num" },
		{ "py_worker", "{\"count\": 1}", "args.count" },
		{ "py_show", "{}", "args.a" },
		{ "py_show", "[1, 2]", "args[1]" },
		{ "py_words", "[\"one\", \"Two\"]", "args[1]" },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct resp *r = run(bad[i].target, bad[i].args);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, bad[i].field);
		resp_free(r);
	}
	CHECK_INT(process_count(srv), before);
}

/* Shell and option syntax reach the function literally (no shell, no option parsing). */
static void test_values_reach_the_function_literally(void)
{
	struct resp *r = run("py_echo", "[\"-c x; $(id) `id` 'q' \\\"d\\\" \\n end\"]");
	CHECK_OUT(r, 0, "{\"value\": \"-c x; $(id) `id` 'q' \\\"d\\\" \\n end\", \"list\": [1, 2.5, null]}\n");
	resp_free(r);
}

/* "returns": "json": stdout is the return value alone, what the function prints goes to stderr. */
static void test_return_value_is_the_stdout(void)
{
	struct resp *r = run("py_echo", "[\"hi\"]");
	CHECK_OUT(r, 0, "{\"value\": \"hi\", \"list\": [1, 2.5, null]}\n");
	CHECK_STR(jstr(r->json, "stderr"), "printed, so on stderr\n");
	resp_free(r);
	r = run("py_nothing", NULL);
	CHECK_OUT(r, 0, "null\n");
	resp_free(r);
	r = run("py_not_json", NULL);
	CHECK_OUT(r, 1, "");
	CHECK_MSG(strstr(jstr(r->json, "stderr"), "not JSON"), "stderr: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
}

/* multiprocessing's exit codes: exception 1 (with "Process NAME:" and the traceback), sys.exit(N), a signal. */
static void test_exit_codes(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"py_raises\", \"name\": \"raises\"}", 20);
	CHECK_OUT(r, 1, "");
	const char *err = jstr(r->json, "stderr");
	CHECK_MSG(err && strncmp(err, "Process raises:\nTraceback", 25) == 0 &&
		  strstr(err, "RuntimeError: There was an error!\n"), "stderr: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = run("py_exits", "[7]");
	CHECK_OUT(r, 7, "");
	resp_free(r);
	r = run("py_exits", "[0]");
	CHECK_OUT(r, 0, "");
	resp_free(r);
	char id[ID_CAP];
	r = spawn(srv, "{\"target\": \"py_naps\"}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	for (double end = now_s() + 20; now_s() < end; sleep_s(0.05)) {   /* until it printed: it is in python */
		r = get(srv, "/processes/%s", id);
		bool napping = jstr(r->json, "stdout") && strcmp(jstr(r->json, "stdout"), "napping\n") == 0;
		resp_free(r);
		if (napping)
			break;
	}
	resp_free(postf(srv, NULL, "/processes/%s/terminate", id));
	r = join(srv, id, 20);
	CHECK_INT(jint(r->json, "exitcode", 0), -15);
	CHECK_STR(jstr(r->json, "stdout"), "napping\n");
	resp_free(r);
}

/* Each broken "python" section stops the server, naming file, target and field. */
static void test_load_errors_named(void)
{
	static const struct { const char *target_text, *field, *message; } bad[] = {
		{ "\"python\": {\"module\": \"os;x\", \"function\": \"f\"}", "python.module", "Python identifier" },
		{ "\"python\": {\"module\": \"pkg..mod\", \"function\": \"f\"}", "python.module", "Python identifier" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"pyt.worker\"}", "python.function", "Python identifier" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"1st\"}", "python.function", "Python identifier" },
		{ "\"python\": {\"module\": \"pyt\"}", "python.function", "is required" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\", \"path\": \"nowhere\"}", "python.path", "No such file" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\", \"path\": [\"mods\", \"mods/pyt.py\"]}",
		  "python.path[1]", "is not a directory" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\", \"interpreter\": \"python3\"}",
		  "python.interpreter", "absolute" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\", \"returns\": \"text\"}", "python.returns", "json" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\", \"modul\": \"x\"}", "python.modul", "not a known field" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\"}, \"program\": \"/bin/true\"", "python", "replaces" },
		{ "\"python\": \"pyt.f\"", "python", "must be an object" },
		{ "\"python\": {\"module\": \"pyt\", \"function\": \"f\"}, \"args\": [{\"name\": \"a\", \"type\": \"string\"},"
		  " {\"name\": \"b\", \"type\": \"string\", \"variadic\": true}]", "args.b", "variadic" },
	};
	char log[4096], text[1024], expect[128];
	bool listened;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "{\"targets\": [{\"name\": \"broken\", %s}]}", bad[i].target_text);
		CHECK(write_file(root, "targets.json", text) == 0);
		char file[PATH_MAX + 16];
		snprintf(file, sizeof file, "%s/targets.json", root);
		int status = server_run_refused((const char *const[]){ "--targets", file, NULL }, root, log, sizeof log, &listened);
		CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && !listened,
			  "started with %s", text);
		snprintf(expect, sizeof expect, "field \"%s\": ", bad[i].field);
		CHECK_MSG(strstr(log, "targets.json: target \"broken\": ") && strstr(log, expect) &&
			  strstr(log, bad[i].message), "%s: message does not name %s (%s): %s",
			  text, bad[i].field, bad[i].message, log);
	}
}

static void test_server_stops(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	char extra[PATH_MAX + 32];

	if (make_root(targets_text) != 0) {
		perror("spawnd-python temporary folder");
		return 1;
	}
	snprintf(extra, sizeof extra, "--targets %s/targets.json", root);
	srv = server_start(extra);
	if (!srv) {
		printf("FAIL api_python_targets: spawnd did not start with the python targets\n");
		remove_root();
		return 1;
	}
	RUN(test_listed_as_exec_with_schema);
	RUN(test_worker_runs);
	RUN(test_positional_then_keyword);
	RUN(test_args_validated_before_running);
	RUN(test_values_reach_the_function_literally);
	RUN(test_return_value_is_the_stdout);
	RUN(test_exit_codes);
	RUN(test_load_errors_named);
	RUN(test_server_stops);
	remove_root();
	return CHECK_EXIT();
}
