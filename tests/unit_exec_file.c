/* unit_exec_file — the targets file: a good file, one broken file per rule
 * (with the exact message), argv and env building, and a real exec showing
 * that shell-looking arguments reach the program literally. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "targets/args.h"
#include "targets/argv.h"
#include "targets/builtin.h"
#include "targets/describe.h"
#include "targets/env.h"
#include "targets/exec_file.h"
#include "targets/exec_load.h"
#include "targets/registry.h"
#include "targets/target.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static char dir[64];      /* a fresh temporary directory */
static char path[128];    /* dir/targets.json */

/* Keeps the last string a check looks at (see unit_targets.c). */
static char *held;
static const char *hold(char *s)
{
	free(held);
	held = s;
	return s ? s : "(null)";
}

static int write_file(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Loads text as the targets file; returns the rc, *f the set (or NULL) and
 * the message in a held string. */
static int load_text(const char *text, struct exec_file **f, const char **message)
{
	char err[512] = "(untouched)";
	int rc;

	*f = NULL;
	if (write_file(path, text) != 0)
		return 999;
	rc = exec_load_file(path, f, err, sizeof err);
	*message = hold(strdup(err));
	return rc;
}

/* The file is refused with -EINVAL and this message after "<path>: ".
 * A message ending in '*' only needs to start with what comes before. */
#define CHECK_BROKEN(text, expected) do { struct exec_file *f_; const char *m_; \
		int rc_ = load_text(text, &f_, &m_); \
		exec_file_free(f_); \
		CHECK_MSG(rc_ == -EINVAL, "rc %d (%s) for %s", rc_, m_, text); \
		CHECK_MSG(f_ == NULL, "a set was stored for %s", text); \
		CHECK_MSG(strncmp(m_, path, strlen(path)) == 0 && strncmp(m_ + strlen(path), ": ", 2) == 0, \
			  "message does not start with the path: %s", m_); \
		const char *tail_ = m_ + strlen(path) + 2, *exp_ = (expected); size_t explen_ = strlen(exp_); \
		if (explen_ && exp_[explen_ - 1] == '*') \
			CHECK_MSG(strncmp(tail_, exp_, explen_ - 1) == 0, "message \"%s\", expected \"%s\"", tail_, exp_); \
		else \
			CHECK_STR(tail_, exp_); \
	} while (0)

/* A target object with the given fields after name and program. */
#define T(fields) "{\"targets\": [{\"name\": \"d\", \"program\": \"/bin/date\"" fields "}]}"

static const char good_file[] =
	"{\"version\": 1, \"targets\": [\n"
	" {\"name\": \"date\", \"description\": \"Prints the date in UTC.\", \"program\": \"/bin/date\",\n"
	"  \"argv\": [\"-u\", [\"--date\", \"{when}\"], \"+{not a placeholder}\"],\n"
	"  \"args\": [{\"name\": \"when\", \"type\": \"string\", \"pattern\": \"@[0-9]+\", \"max_length\": 20}],\n"
	"  \"timeout\": 5, \"max_running\": 2},\n"
	" {\"name\": \"show-args\", \"program\": \"/usr/bin/printf\",\n"
	"  \"argv\": [\"[%s]\\\\n\", \"{first}\", [\"--count\", \"{count}\"], \"{ratio}\", \"{flag}\", \"{dash}\", \"{rest}\"],\n"
	"  \"args\": [\n"
	"   {\"name\": \"first\", \"type\": \"string\", \"required\": true},\n"
	"   {\"name\": \"count\", \"type\": \"integer\", \"min\": 0, \"max\": 10},\n"
	"   {\"name\": \"ratio\", \"type\": \"number\", \"min\": -1.5, \"max\": 1e6},\n"
	"   {\"name\": \"flag\", \"type\": \"boolean\"},\n"
	"   {\"name\": \"dash\", \"type\": \"string\", \"allow_dash\": true, \"enum\": [\"-a\", \"-b\", \"c\"]},\n"
	"   {\"name\": \"rest\", \"type\": \"string\", \"variadic\": true, \"max_length\": 100}],\n"
	"  \"env\": {\"allow\": [\"LANG\", \"TZ\"], \"set\": {\"PATH\": \"/bin\", \"MODE\": \"test\"}},\n"
	"  \"cwd\": \"/\", \"rlimits\": {\"cpu\": 10, \"as\": 268435456, \"nofile\": 64, \"nproc\": 32},\n"
	"  \"user\": \"nobody\", \"group\": \"nogroup\"},\n"
	" {\"name\": \"env\", \"program\": \"/usr/bin/env\", \"env\": {\"allow\": [\"LANG\"]}, \"user\": \"0\"}\n"
	"]}\n";

static void good_file_loads(void)
{
	struct exec_file *f;
	const char *m;
	int rc = load_text(good_file, &f, &m);
	const struct target *date, *show;
	const struct exec_spec *spec;

	CHECK_MSG(rc == 0, "rc %d: %s", rc, m);
	CHECK_STR(m, "");
	CHECK_INT(exec_file_count(f), 3);
	date = exec_file_find(f, "date");
	show = exec_file_find(f, "show-args");
	if (!date || !show || exec_file_find(f, "nosuch") || exec_file_target(f, 3)) {
		exec_file_free(f);
		CHECK_FAIL("lookup in the set is wrong");
	}
	CHECK(exec_file_target(f, 1) == show);
	CHECK_INT(date->kind, TARGET_EXEC);
	CHECK_STR(date->description, "Prints the date in UTC.");
	CHECK(date->timeout == 5);
	CHECK_INT(date->max_running, 2);
	CHECK(date->fn == NULL);
	CHECK_STR(date->exec->program, "/bin/date");
	CHECK_INT(date->exec->nwords, 4);
	CHECK_INT(date->exec->rlimits.cpu, -1);
	CHECK(!date->exec->has_user && !date->exec->has_group && date->exec->cwd == NULL);
	CHECK_STR(date->args[0].pattern, "@[0-9]+");
	CHECK_INT(date->args[0].max_length, 20);

	spec = show->exec;
	CHECK_INT(show->nargs, 6);
	CHECK_STR(show->description, "");
	CHECK(show->timeout == 0 && show->max_running == 0);
	CHECK(show->args[0].required && show->args[0].type == ARG_STRING);
	CHECK(show->args[1].type == ARG_INTEGER && show->args[1].has_min && show->args[1].min == 0 &&
	      show->args[1].has_max && show->args[1].max == 10);
	CHECK(show->args[2].type == ARG_NUMBER && show->args[2].min == -1.5 && show->args[2].max == 1e6);
	CHECK(show->args[3].type == ARG_BOOLEAN);
	CHECK(show->args[4].allow_dash && show->args[4].enum_values && !show->args[4].enum_values[3]);
	CHECK_STR(show->args[4].enum_values[1], "-b");
	CHECK(show->args[5].variadic && show->args[5].max_length == 100);
	CHECK_STR(spec->env_allow[0], "LANG");
	CHECK_STR(spec->env_allow[1], "TZ");
	CHECK(spec->env_allow[2] == NULL);
	CHECK_INT(spec->nenv_set, 2);
	CHECK_STR(spec->env_set[1].name, "MODE");
	CHECK_STR(spec->env_set[1].value, "test");
	CHECK_STR(spec->cwd, "/");
	CHECK_INT(spec->rlimits.cpu, 10);
	CHECK_INT(spec->rlimits.as, 268435456);
	CHECK_INT(spec->rlimits.nofile, 64);
	CHECK_INT(spec->rlimits.nproc, 32);
	CHECK(spec->has_user && spec->uid == 65534 && spec->has_group && spec->gid == 65534);
	CHECK_STR(spec->user, "nobody");
	spec = exec_file_find(f, "env")->exec;
	CHECK(spec->has_user && spec->uid == 0 && !spec->has_group);
	exec_file_free(f);
}

static void registry_lists_and_finds_exec_targets(void)
{
	struct exec_file *f;
	const char *m;
	const struct target *date, *old_date;
	cJSON *list, *json;
	char *text, want[1024];
	size_t builtins;
	int n;

	builtin_targets(&builtins);
	CHECK_INT(load_text(good_file, &f, &m), 0);
	targets_set_exec(f);
	date = target_find("date");
	CHECK(date && date->kind == TARGET_EXEC);
	CHECK(target_find("show-args") != NULL);
	CHECK(target_find("worker") && target_find("worker")->kind == TARGET_BUILTIN);
	list = targets_list_json();
	n = cJSON_GetArraySize(cJSON_GetObjectItem(list, "targets"));
	text = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(list, "targets"), (int)builtins)); /* after the builtins */
	cJSON_Delete(list);
	hold(text);
	CHECK_INT(n, (int)builtins + 3);
	snprintf(want, sizeof want, "{\"name\":\"date\",\"kind\":\"exec\",\"description\":\"Prints the date in UTC.\","
		 "\"args\":[{\"name\":\"when\",\"type\":\"string\",\"required\":false,\"pattern\":\"@[0-9]+\",\"max_length\":20}],"
		 "\"timeout\":5,\"max_running\":2,\"returns\":\"text\",\"source\":\"file:%s\"}", path);
	CHECK_STR(text, want);
	json = target_to_json(target_find("show-args"));
	text = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "args"), 4));
	cJSON_Delete(json);
	CHECK_STR(hold(text), "{\"name\":\"dash\",\"type\":\"string\",\"required\":false,\"enum\":[\"-a\",\"-b\",\"c\"]}");

	/* a reload swaps the set; pointers into the old one stay valid */
	old_date = date;
	CHECK_INT(load_text("{\"targets\": [{\"name\": \"uname\", \"program\": \"/usr/bin/uname\"}]}", &f, &m), 0);
	targets_set_exec(f);
	CHECK(target_find("date") == NULL);
	CHECK(target_find("uname") != NULL);
	CHECK_STR(old_date->exec->program, "/bin/date");
	targets_set_exec(NULL);
	CHECK(target_find("uname") == NULL);
	list = targets_list_json();
	n = cJSON_GetArraySize(cJSON_GetObjectItem(list, "targets"));
	cJSON_Delete(list);
	CHECK_INT(n, (int)builtins);
	targets_release();
}

static void file_level_errors(void)
{
	char err[256];
	struct exec_file *f = NULL;
	char missing[160];

	snprintf(missing, sizeof missing, "%s/nosuch.json", dir);
	CHECK_INT(exec_load_file(missing, &f, err, sizeof err), -ENOENT);
	CHECK(f == NULL);
	char expected[256];
	snprintf(expected, sizeof expected, "%s: No such file or directory", missing);
	CHECK_STR(err, expected);
	CHECK_INT(exec_load_file(dir, &f, err, sizeof err), -EINVAL);
	snprintf(expected, sizeof expected, "%s: must be a regular file of at most 4194304 bytes", dir);
	CHECK_STR(err, expected);

	{
		FILE *file = fopen(path, "w");
		CHECK(file != NULL);
		fwrite("{\"targets\": []}\0x", 1, 17, file);
		fclose(file);
		CHECK_INT(exec_load_file(path, &f, err, sizeof err), -EINVAL);
		snprintf(expected, sizeof expected, "%s: contains a NUL byte", path);
		CHECK_STR(err, expected);
	}
	CHECK_BROKEN("{\"targets\": [\n{\"name\": \"x\",,}]}", "line 2: not valid JSON");
	CHECK_BROKEN("", "line 1: not valid JSON");
	CHECK_BROKEN("{\"targets\": []} trailing", "line 1: not valid JSON");
	CHECK_BROKEN("[]", "must be a JSON object {\"targets\": [...]}");
	CHECK_BROKEN("{}", "field \"targets\": is required");
	CHECK_BROKEN("{\"targets\": {}}", "field \"targets\": must be an array");
	CHECK_BROKEN("{\"targets\": [], \"extra\": 1}", "field \"extra\": is not a known field");
	CHECK_BROKEN("{\"targets\": [], \"targets\": []}", "field \"targets\": is given more than once");
	CHECK_BROKEN("{\"version\": 2, \"targets\": []}", "field \"version\": must be between 1 and 1");
	CHECK_BROKEN("{\"targets\": [5]}", "targets[0]: must be an object");
}

static void name_errors(void)
{
	char long_name[300], text[512];

	CHECK_BROKEN("{\"targets\": [{\"program\": \"/bin/date\"}]}", "targets[0]: field \"name\": is required");
	CHECK_BROKEN("{\"targets\": [{\"name\": 5}]}", "targets[0]: field \"name\": must be a string");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"../x\"}]}",
		     "targets[0]: field \"name\": must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"-x\"}]}",
		     "targets[0]: field \"name\": must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	memset(long_name, 'n', 129);
	long_name[129] = '\0';
	snprintf(text, sizeof text, "{\"targets\": [{\"name\": \"%s\"}]}", long_name);
	CHECK_BROKEN(text, "targets[0]: field \"name\": must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"worker\", \"program\": \"/bin/date\"}]}",
		     "targets[0]: field \"name\": \"worker\" is already a builtin or plugin target");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"d\", \"program\": \"/bin/date\"}, {\"name\": \"d\", \"program\": \"/bin/date\"}]}",
		     "targets[1]: field \"name\": \"d\" is declared twice");
	CHECK_BROKEN(T(", \"progam\": \"/bin/date\""), "target \"d\": field \"progam\": is not a known field");
	CHECK_BROKEN(T(", \"program\": \"/bin/date\""), "target \"d\": field \"program\": is given more than once");
	CHECK_BROKEN(T(", \"description\": 5"), "target \"d\": field \"description\": must be a string");
}

static void program_errors(void)
{
	char text[512], file[160], expected[300];

	CHECK_BROKEN("{\"targets\": [{\"name\": \"d\"}]}", "target \"d\": field \"program\": is required");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"d\", \"program\": \"date\"}]}",
		     "target \"d\": field \"program\": must be an absolute path");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"d\", \"program\": \"/nonexistent/date\"}]}",
		     "target \"d\": field \"program\": /nonexistent/date: No such file or directory");
	CHECK_BROKEN("{\"targets\": [{\"name\": \"d\", \"program\": \"/tmp\"}]}",
		     "target \"d\": field \"program\": /tmp: is not an executable file");
	snprintf(file, sizeof file, "%s/not-executable", dir);
	CHECK(write_file(file, "#!/bin/sh\n") == 0 && chmod(file, 0644) == 0);
	snprintf(text, sizeof text, "{\"targets\": [{\"name\": \"d\", \"program\": \"%s\"}]}", file);
	snprintf(expected, sizeof expected, "target \"d\": field \"program\": %s: is not an executable file", file);
	CHECK_BROKEN(text, expected);
}

static void argv_errors(void)
{
	CHECK_BROKEN(T(", \"argv\": \"-u\""), "target \"d\": field \"argv\": must be an array of words");
	CHECK_BROKEN(T(", \"argv\": [\"-u\", \"{x}\"]"),
		     "target \"d\": field \"argv[1]\": placeholder {x} names no declared argument");
	CHECK_BROKEN(T(", \"argv\": [\"{}\"]"), "target \"d\": field \"argv[0]\": placeholder {} names no declared argument");
	CHECK_BROKEN(T(", \"argv\": [[\"-n\", \"{X}\"]], \"args\": [{\"name\": \"x\", \"type\": \"string\"}]"),
		     "target \"d\": field \"argv[0][1]\": placeholder {X} names no declared argument");
	CHECK_BROKEN(T(", \"argv\": [5]"),
		     "target \"d\": field \"argv[0]\": must be a string or an array of strings (an optional group)");
	CHECK_BROKEN(T(", \"argv\": [[\"-n\", [\"x\"]]]"), "target \"d\": field \"argv[0][1]\": must be a string");
	CHECK_BROKEN(T(", \"argv\": [[]]"), "target \"d\": field \"argv[0]\": an optional group must not be empty");
	CHECK_BROKEN(T(", \"argv\": [\"a\", [\"-n\", \"5\"]]"),
		     "target \"d\": field \"argv[1]\": an optional group needs a placeholder to depend on");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"x\", \"type\": \"string\"}]"),
		     "target \"d\": field \"args.x\": is not used in argv (add \"{x}\")");
}

static void arg_errors(void)
{
	CHECK_BROKEN(T(", \"args\": {}"), "target \"d\": field \"args\": must be an array of argument specs");
	CHECK_BROKEN(T(", \"args\": [5]"), "target \"d\": field \"args[0]\": must be an object");
	CHECK_BROKEN(T(", \"args\": [{\"type\": \"string\"}]"), "target \"d\": field \"args[0].name\": is required");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a-b\", \"type\": \"string\"}]"),
		     "target \"d\": field \"args[0].name\": must be 1-64 characters of [A-Za-z0-9_], not starting with a digit");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"string\"}, {\"name\": \"a\", \"type\": \"string\"}]"),
		     "target \"d\": field \"args[1].name\": \"a\" is declared twice");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"string\", \"max_lenght\": 5}]"),
		     "target \"d\": field \"args.a.max_lenght\": is not a known field");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\"}]"), "target \"d\": field \"args.a.type\": is required");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"int\"}]"),
		     "target \"d\": field \"args.a.type\": must be one of: string, integer, number, boolean, path");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"string\", \"required\": \"yes\"}]"),
		     "target \"d\": field \"args.a.required\": must be true or false");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"string\", \"variadic\": true}, {\"name\": \"b\", \"type\": \"string\"}]"),
		     "target \"d\": field \"args.a.variadic\": only the last argument may be variadic");
	CHECK_BROKEN(T(", \"args\": [{\"name\": \"a\", \"type\": \"boolean\", \"allow_dash\": true}]"),
		     "target \"d\": field \"args.a.allow_dash\": applies to string, integer and number arguments only");
}

static void constraint_errors(void)
{
#define A(spec) T(", \"args\": [{\"name\": \"a\", " spec "}], \"argv\": [\"{a}\"]")
	CHECK_BROKEN(A("\"type\": \"integer\", \"pattern\": \"[0-9]+\""),
		     "target \"d\": field \"args.a.pattern\": applies to string arguments only");
	CHECK_BROKEN(A("\"type\": \"string\", \"pattern\": \"(\""),
		     "target \"d\": field \"args.a.pattern\": does not compile as a POSIX extended regular expression: *");
	CHECK_BROKEN(A("\"type\": \"string\", \"pattern\": 5"), "target \"d\": field \"args.a.pattern\": must be a string");
	CHECK_BROKEN(A("\"type\": \"string\", \"min\": 1"),
		     "target \"d\": field \"args.a.min\": applies to integer and number arguments only");
	CHECK_BROKEN(A("\"type\": \"boolean\", \"max\": 1"),
		     "target \"d\": field \"args.a.max\": applies to integer and number arguments only");
	CHECK_BROKEN(A("\"type\": \"integer\", \"min\": 5, \"max\": 4"), "target \"d\": field \"args.a.max\": must not be less than min");
	CHECK_BROKEN(A("\"type\": \"number\", \"min\": 0.5, \"max\": 0.25"), "target \"d\": field \"args.a.max\": must not be less than min");
	CHECK_BROKEN(A("\"type\": \"integer\", \"min\": 1.5"), "target \"d\": field \"args.a.min\": must be an integer");
	CHECK_BROKEN(A("\"type\": \"integer\", \"max\": 9223372036854775808"),
		     "target \"d\": field \"args.a.max\": must be an integer");
	CHECK_BROKEN(A("\"type\": \"number\", \"max\": \"5\""), "target \"d\": field \"args.a.max\": must be a number");
	CHECK_BROKEN(A("\"type\": \"string\", \"max_length\": 0"),
		     "target \"d\": field \"args.a.max_length\": must be between 1 and 1048576");
	CHECK_BROKEN(A("\"type\": \"string\", \"max_length\": 1048577"),
		     "target \"d\": field \"args.a.max_length\": must be between 1 and 1048576");
	CHECK_BROKEN(A("\"type\": \"string\", \"max_length\": 2.5"), "target \"d\": field \"args.a.max_length\": must be an integer");
	CHECK_BROKEN(A("\"type\": \"integer\", \"max_length\": 5"),
		     "target \"d\": field \"args.a.max_length\": applies to string arguments only");
	CHECK_BROKEN(A("\"type\": \"integer\", \"enum\": [\"1\"]"), "target \"d\": field \"args.a.enum\": applies to string arguments only");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": []"), "target \"d\": field \"args.a.enum\": must be a non-empty array of strings");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": \"x\""), "target \"d\": field \"args.a.enum\": must be a non-empty array of strings");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": [\"x\", 1]"), "target \"d\": field \"args.a.enum[1]\": must be a string");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": [\"x\", \"x\"]"), "target \"d\": field \"args.a.enum[1]\": is listed twice");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": [\"ab\", \"abc\"], \"max_length\": 2"),
		     "target \"d\": field \"args.a.enum[1]\": is longer than max_length");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": [\"ab\", \"a1\"], \"pattern\": \"[a-z]+\""),
		     "target \"d\": field \"args.a.enum[1]\": does not match pattern");
	CHECK_BROKEN(A("\"type\": \"string\", \"enum\": [\"-l\"]"),
		     "target \"d\": field \"args.a.enum[0]\": starts with \"-\", which is refused unless allow_dash is true");
#undef A
}

static void env_and_limit_errors(void)
{
	CHECK_BROKEN(T(", \"returns\": \"xml\""), "target \"d\": field \"returns\": must be \"json\" or \"text\"");
	CHECK_BROKEN(T(", \"env\": []"), "target \"d\": field \"env\": must be an object {\"allow\": [...], \"set\": {...}}");
	CHECK_BROKEN(T(", \"env\": {\"allowed\": []}"), "target \"d\": field \"env.allowed\": is not a known field");
	CHECK_BROKEN(T(", \"env\": {\"allow\": \"LANG\"}"), "target \"d\": field \"env.allow\": must be an array of variable names");
	CHECK_BROKEN(T(", \"env\": {\"allow\": [1]}"), "target \"d\": field \"env.allow[0]\": must be a string");
	CHECK_BROKEN(T(", \"env\": {\"allow\": [\"A-B\"]}"),
		     "target \"d\": field \"env.allow[0]\": must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)");
	CHECK_BROKEN(T(", \"env\": {\"allow\": [\"LANG\", \"SPAWND_PROCESS_ID\"]}"),
		     "target \"d\": field \"env.allow[1]\": SPAWND_* variables are set by spawnd itself");
	CHECK_BROKEN(T(", \"env\": {\"allow\": [\"TZ\", \"TZ\"]}"), "target \"d\": field \"env.allow[1]\": is listed twice");
	CHECK_BROKEN(T(", \"env\": {\"set\": []}"), "target \"d\": field \"env.set\": must be an object of strings");
	CHECK_BROKEN(T(", \"env\": {\"set\": {\"A\": 1}}"), "target \"d\": field \"env.set.A\": must be a string");
	CHECK_BROKEN(T(", \"env\": {\"set\": {\"A=B\": \"x\"}}"),
		     "target \"d\": field \"env.set.A=B\": must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)");
	CHECK_BROKEN(T(", \"env\": {\"set\": {\"SPAWND_PROCESS_NAME\": \"x\"}}"),
		     "target \"d\": field \"env.set.SPAWND_PROCESS_NAME\": SPAWND_* variables are set by spawnd itself");
	CHECK_BROKEN(T(", \"env\": {\"set\": {\"A\": \"x\", \"A\": \"y\"}}"), "target \"d\": field \"env.set.A\": is given more than once");
	CHECK_BROKEN(T(", \"env_allow\": [\"TZ\"]"), "target \"d\": field \"env_allow\": is not a known field");
	CHECK_BROKEN(T(", \"cwd\": \"tmp\""), "target \"d\": field \"cwd\": must be an absolute path");
	CHECK_BROKEN(T(", \"cwd\": \"/nonexistent\""), "target \"d\": field \"cwd\": /nonexistent: No such file or directory");
	CHECK_BROKEN(T(", \"cwd\": \"/bin/date\""), "target \"d\": field \"cwd\": /bin/date: is not a directory");
	CHECK_BROKEN(T(", \"timeout\": 0"), "target \"d\": field \"timeout\": must be between 0.001 and 10000000");
	CHECK_BROKEN(T(", \"timeout\": 10000001"), "target \"d\": field \"timeout\": must be between 0.001 and 10000000");
	CHECK_BROKEN(T(", \"timeout\": \"5\""), "target \"d\": field \"timeout\": must be a number");
	CHECK_BROKEN(T(", \"max_running\": 0"), "target \"d\": field \"max_running\": must be between 1 and 100000");
	CHECK_BROKEN(T(", \"max_running\": 1.5"), "target \"d\": field \"max_running\": must be an integer");
	CHECK_BROKEN(T(", \"rlimits\": 5"), "target \"d\": field \"rlimits\": must be an object (cpu, as, nofile, nproc)");
	CHECK_BROKEN(T(", \"rlimits\": {\"core\": 0}"), "target \"d\": field \"rlimits.core\": is not a known field");
	CHECK_BROKEN(T(", \"rlimits\": {\"nofile\": 3}"),
		     "target \"d\": field \"rlimits.nofile\": must be between 4 and 4.61168601842739e+18");
	CHECK_BROKEN(T(", \"rlimits\": {\"cpu\": 0}"),
		     "target \"d\": field \"rlimits.cpu\": must be between 1 and 4.61168601842739e+18");
	CHECK_BROKEN(T(", \"rlimits\": {\"as\": 1048576.5}"), "target \"d\": field \"rlimits.as\": must be an integer");
	CHECK_BROKEN(T(", \"user\": \"no-such-user-here\""), "target \"d\": field \"user\": no such user: no-such-user-here");
	CHECK_BROKEN(T(", \"group\": \"no-such-group-here\""), "target \"d\": field \"group\": no such group: no-such-group-here");
	CHECK_BROKEN(T(", \"user\": 0"), "target \"d\": field \"user\": must be a string");
}

/* --- building argv and env --- */

/* Validates args_json for target name (in the installed set) and builds argv,
 * joined with '|' into a held string; or "error: <details>". */
static const char *argv_of(const char *name, const char *args_json)
{
	const struct target *t = target_find(name);
	cJSON *args = cJSON_Parse(args_json), *canonical = NULL, *details = NULL;
	char **argv = NULL, *out;
	size_t len = 1;

	if (!t || target_validate(t, args, &canonical, &details) != 0) {
		char *text = details ? cJSON_PrintUnformatted(details) : strdup("no target");
		size_t n = strlen(text) + 8;
		out = malloc(n);
		snprintf(out, n, "error: %s", text);
		free(text);
		cJSON_Delete(details);
		cJSON_Delete(args);
		return hold(out);
	}
	cJSON_Delete(args);
	if (target_build_argv(t, canonical, &argv) != 0) {
		cJSON_Delete(canonical);
		return hold(strdup("build failed"));
	}
	cJSON_Delete(canonical);
	for (char **p = argv; *p; p++)
		len += strlen(*p) + 1;
	out = calloc(1, len);
	for (char **p = argv; *p; p++) {
		if (p != argv)
			strcat(out, "|");
		strcat(out, *p);
	}
	target_free_argv(argv);
	return hold(out);
}

static void argv_building(void)
{
	struct exec_file *f;
	const char *m;

	CHECK_INT(load_text(good_file, &f, &m), 0);
	targets_set_exec(f);
	CHECK_STR(argv_of("date", "[]"), "/bin/date|-u|+{not a placeholder}");
	CHECK_STR(argv_of("date", "[\"@86400\"]"), "/bin/date|-u|--date|@86400|+{not a placeholder}");
	CHECK_STR(argv_of("date", "{\"when\": \"@0\"}"), "/bin/date|-u|--date|@0|+{not a placeholder}");
	CHECK_STR(argv_of("show-args", "[\"a\"]"), "/usr/bin/printf|[%s]\\n|a");
	CHECK_STR(argv_of("show-args", "[\"a\", 3, 0.5, true, \"-b\", \"x\", \"y\"]"),
		  "/usr/bin/printf|[%s]\\n|a|--count|3|0.5|true|-b|x|y");
	CHECK_STR(argv_of("show-args", "{\"first\": \"a\", \"count\": 0, \"ratio\": 1e-7, \"flag\": false}"),
		  "/usr/bin/printf|[%s]\\n|a|--count|0|1e-07|false");
	/* a negative number is refused unless allow_dash, like a string */
	CHECK_STR(argv_of("show-args", "{\"first\": \"a\", \"ratio\": -1}"),
		  "error: [{\"field\":\"args.ratio\",\"message\":\"must not be negative (its text would start with \\\"-\\\")\"}]");
	CHECK_STR(argv_of("show-args", "[\"-rf\"]"),
		  "error: [{\"field\":\"args[0]\",\"message\":\"must not start with \\\"-\\\"\"}]");
	CHECK_STR(argv_of("show-args", "{\"first\": \"a\", \"rest\": [\"ok\", \"--help\"]}"),
		  "error: [{\"field\":\"args.rest[1]\",\"message\":\"must not start with \\\"-\\\"\"}]");
	CHECK_STR(argv_of("show-args", "{\"first\": \"a\", \"count\": 11}"),
		  "error: [{\"field\":\"args.count\",\"message\":\"must be at most 10\"}]");
	CHECK_STR(argv_of("date", "[\"@1; rm -rf /\"]"),
		  "error: [{\"field\":\"args[0]\",\"message\":\"must match the pattern @[0-9]+\"}]");
	/* not an exec target */
	char **argv = NULL;
	CHECK_INT(target_build_argv(target_find("worker"), NULL, &argv), -EINVAL);
	CHECK(argv == NULL);
	targets_release();
}

static void path_constraint_errors(void)
{
#define A(spec) T(", \"args\": [{\"name\": \"a\", " spec "}], \"argv\": [\"{a}\"]")
	CHECK_BROKEN(A("\"type\": \"path\""),
		     "target \"d\": field \"args.a.root\": is required for a path argument: the folder its values must stay in");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": \"usr\""), "target \"d\": field \"args.a.root\": must be an absolute path");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": \"/nonexistent\""),
		     "target \"d\": field \"args.a.root\": /nonexistent: No such file or directory");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": \"/bin/date\""),
		     "target \"d\": field \"args.a.root\": /bin/date: is not a directory");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": 5"), "target \"d\": field \"args.a.root\": must be a string");
	CHECK_BROKEN(A("\"type\": \"string\", \"root\": \"/tmp\""),
		     "target \"d\": field \"args.a.root\": applies to path arguments only");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": \"/tmp\", \"pattern\": \"/tmp/.*\""),
		     "target \"d\": field \"args.a.pattern\": applies to string arguments only");
	CHECK_BROKEN(A("\"type\": \"path\", \"root\": \"/tmp\", \"allow_dash\": true"),
		     "target \"d\": field \"args.a.allow_dash\": applies to string, integer and number arguments only");
	CHECK_BROKEN(A("\"type\": \"file\""),
		     "target \"d\": field \"args.a.type\": must be one of: string, integer, number, boolean, path");
#undef A
}

/* A tree under dir: root/inner/file, outside/secret, rootx/file (a sibling
 * whose name starts with root's), root/escape -> ../outside (a symbolic link
 * out) and root/alias -> inner (one that stays in). */
static int make_path_tree(char *real, size_t cap)
{
	static const char *const dirs[] = { "root", "root/inner", "outside", "rootx" };
	static const char *const files[] = { "root/inner/file", "outside/secret", "rootx/file" };
	char p[256];

	if (cap < PATH_MAX || !realpath(dir, real) || strlen(real) > 128)
		return -1;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", real, dirs[i]);
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", real, files[i]);
		if (write_file(p, "x\n") != 0)
			return -1;
	}
	snprintf(p, sizeof p, "%s/root/escape", real);
	if (symlink("../outside", p) != 0 && errno != EEXIST)
		return -1;
	snprintf(p, sizeof p, "%s/root/alias", real);
	return symlink("inner", p) != 0 && errno != EEXIST ? -1 : 0;
}

static void remove_path_tree(void)
{
	static const char *const entries[] = {
		"root/escape", "root/alias", "root/inner/file", "outside/secret", "rootx/file",
		"root/inner", "root", "outside", "rootx",
	};
	char p[256];

	for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, entries[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
}

/* A path argument reaches argv resolved, and only when it stays in its root. */
static void path_arguments(void)
{
	char real[PATH_MAX], file[PATH_MAX + 512], v[PATH_MAX + 64], want[PATH_MAX + 256];
	struct exec_file *f;
	const char *m;

	CHECK_MSG(make_path_tree(real, sizeof real) == 0, "cannot build the tree under %s: %s", dir, strerror(errno));
	snprintf(file, sizeof file, "{\"targets\": [{\"name\": \"p\", \"program\": \"/bin/ls\", \"argv\": [\"--\", \"{p}\"],"
		 " \"args\": [{\"name\": \"p\", \"type\": \"path\", \"root\": \"%s/root/inner/..\", \"variadic\": true}]}]}", real);
	CHECK_MSG(load_text(file, &f, &m) == 0, "%s", m);
	targets_set_exec(f);
	{
		cJSON *j = target_to_json(target_find("p"));
		char *text = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "args"), 0));
		snprintf(want, sizeof want, "{\"name\":\"p\",\"type\":\"path\",\"required\":false,\"variadic\":true,"
			 "\"root\":\"%s/root\"}", real);
		cJSON_Delete(j);
		CHECK_STR(hold(text), want);
	}
	static const struct { const char *value, *resolved; } good[] = {
		{ "inner/file", "/root/inner/file" },        /* relative: from the root */
		{ "@/root/inner/file", "/root/inner/file" }, /* '@': the tree's absolute path */
		{ "alias/file", "/root/inner/file" },        /* a link that stays inside */
		{ "./inner/../inner/", "/root/inner" },
		{ ".", "/root" },                            /* the root itself */
		{ "@/root", "/root" },
		{ "-rf/..", NULL },                          /* no such folder "-rf" */
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(v, sizeof v, "[\"%s%s\"]", good[i].value[0] == '@' ? real : "", good[i].value + (good[i].value[0] == '@'));
		if (good[i].resolved)
			snprintf(want, sizeof want, "/bin/ls|--|%s%s", real, good[i].resolved);
		else
			snprintf(want, sizeof want, "error: [{\"field\":\"args[0]\",\"message\":\"must be an existing file or "
				 "folder inside %s/root (after following symbolic links and \\\"..\\\")\"}]", real);
		CHECK_MSG(strcmp(argv_of("p", v), want) == 0, "%s: %s, expected %s", v, held, want);
	}
	static const char *const bad[] = {
		"../outside/secret", "inner/../../outside/secret", "escape/secret", "escape", "@/outside/secret",
		"@/rootx/file", "@/root/../rootx/file", "/etc/passwd", "/", "..", "missing", "inner/file/",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(v, sizeof v, "{\"p\": [\"inner\", \"%s%s\"]}", bad[i][0] == '@' ? real : "", bad[i] + (bad[i][0] == '@'));
		snprintf(want, sizeof want, "error: [{\"field\":\"args.p[1]\",\"message\":\"must be an existing file or "
			 "folder inside %s/root (after following symbolic links and \\\"..\\\")\"}]", real);
		CHECK_MSG(strcmp(argv_of("p", v), want) == 0, "%s: %s, expected %s", v, held, want);
	}
	CHECK_STR(argv_of("p", "[\"\"]"), "error: [{\"field\":\"args[0]\",\"message\":\"must not be empty\"}]");
	CHECK_STR(argv_of("p", "[5]"), "error: [{\"field\":\"args[0]\",\"message\":\"must be a string (a path)\"}]");
	targets_release();
}

/* Runs argv with envp and returns its stdout (held). */
static const char *run_program(char **argv, char **envp, int *status)
{
	int out[2];
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	pid_t pid;

	if (!buf || pipe(out) != 0)
		return "pipe failed";
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(out[1]);
	for (;;) {
		ssize_t n = read(out[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(out[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return hold(buf);
}

/* Shell metacharacters reach the program literally, one argv element each. */
static void arguments_reach_the_program_literally(void)
{
	struct exec_file *f;
	const struct target *t;
	cJSON *parsed, *canonical = NULL, *details = NULL;
	char **argv = NULL, **envp = NULL;
	const char *m, *output;
	int status = -1, rc;

	CHECK_INT(load_text(good_file, &f, &m), 0);
	targets_set_exec(f);
	t = target_find("show-args");
	parsed = cJSON_Parse("{\"first\": \";\", \"rest\": [\"$(id)\", \"`id`\", \"'q'\", \"\\\"dq\\\"\", \"a b\", "
			     "\"line1\\nline2\", \"*\", \"~\", \"$HOME\", \"|\", \"&&\", \">out\", \"\", \"x\\\\y\"]}");
	rc = target_validate(t, parsed, &canonical, &details);
	cJSON_Delete(parsed);
	cJSON_Delete(details);
	if (rc == 0)
		rc = target_build_argv(t, canonical, &argv);
	if (rc == 0)
		rc = target_build_env(t, NULL, NULL, &envp, &details);
	cJSON_Delete(canonical);
	if (rc != 0) {
		target_free_argv(argv);
		targets_release();
		CHECK_FAIL("could not build argv/env: %d", rc);
	}
	output = run_program(argv, envp, &status);
	target_free_argv(argv);
	target_free_argv(envp);
	targets_release();
	CHECK_INT(status, 0);
	CHECK_STR(output, "[;]\n[$(id)]\n[`id`]\n['q']\n[\"dq\"]\n[a b]\n[line1\nline2]\n[*]\n[~]\n[$HOME]\n"
		  "[|]\n[&&]\n[>out]\n[]\n[x\\y]\n");
}

static const char *env_of(const char *name, const char *request_json, const struct target_ctx *ctx, int *rc)
{
	cJSON *request = request_json ? cJSON_Parse(request_json) : NULL, *details = NULL;
	char **envp = NULL, *out;
	size_t len = 1;

	*rc = target_build_env(target_find(name), request, ctx, &envp, &details);
	cJSON_Delete(request);
	if (*rc != 0) {
		out = details ? cJSON_PrintUnformatted(details) : strdup("no details");
		cJSON_Delete(details);
		return hold(out);
	}
	for (char **p = envp; *p; p++)
		len += strlen(*p) + 1;
	out = calloc(1, len);
	for (char **p = envp; *p; p++) {
		strcat(out, *p);
		strcat(out, "\n");
	}
	target_free_argv(envp);
	return hold(out);
}

static void env_building(void)
{
	struct target_ctx ctx = { .id = "abc123", .name = "Process-7" };
	struct exec_file *f;
	const char *m, *env;
	int rc;

	CHECK_INT(load_text(good_file, &f, &m), 0);
	targets_set_exec(f);
	setenv("SPAWND_SECRET_TOKEN", "hunter2", 1);   /* the server's own env never leaks */

	env = env_of("show-args", NULL, &ctx, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(env, "PATH=/bin\nMODE=test\nSPAWND_PROCESS_ID=abc123\nSPAWND_PROCESS_NAME=Process-7\n");
	env = env_of("show-args", "{\"TZ\": \"UTC\", \"LANG\": \"C.UTF-8\"}", &ctx, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(env, "PATH=/bin\nMODE=test\nTZ=UTC\nLANG=C.UTF-8\nSPAWND_PROCESS_ID=abc123\nSPAWND_PROCESS_NAME=Process-7\n");
	env = env_of("date", "{}", NULL, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(env, "PATH=/usr/local/bin:/usr/bin:/bin\n");
	env = env_of("worker", NULL, &ctx, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(env, "PATH=/usr/local/bin:/usr/bin:/bin\nSPAWND_PROCESS_ID=abc123\nSPAWND_PROCESS_NAME=Process-7\n");

	/* refused keys: one detail each, never the value */
	env = env_of("show-args", "{\"TZ\": 5, \"PATH\": \"/evil\", \"SECRET\": \"hunter2\", \"LANG\": \"C\", \"LANG\": \"C\"}", &ctx, &rc);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(env, "[{\"field\":\"env.TZ\",\"message\":\"must be a string\"},"
		  "{\"field\":\"env.PATH\",\"message\":\"is not an environment variable this target allows\"},"
		  "{\"field\":\"env.SECRET\",\"message\":\"is not an environment variable this target allows\"},"
		  "{\"field\":\"env.LANG\",\"message\":\"is given more than once\"}]");
	CHECK(strstr(env, "hunter2") == NULL && strstr(env, "/evil") == NULL);
	env = env_of("worker", "{\"LANG\": \"C\"}", &ctx, &rc);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(env, "[{\"field\":\"env.LANG\",\"message\":\"is not an environment variable this target allows\"}]");
	env = env_of("worker", "[\"LANG=C\"]", &ctx, &rc);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(env, "[{\"field\":\"env\",\"message\":\"must be an object of strings\"}]");
	unsetenv("SPAWND_SECRET_TOKEN");
	targets_release();
}

/* The environment a real program sees is exactly the built one. */
static void program_sees_only_the_built_env(void)
{
	struct target_ctx ctx = { .id = "id-1", .name = "Process-1" };
	struct exec_file *f;
	const struct target *t;
	cJSON *request = cJSON_Parse("{\"LANG\": \"C\"}"), *details = NULL, *canonical = NULL;
	char **argv = NULL, **envp = NULL;
	const char *m, *output;
	int status = -1, rc;

	setenv("SPAWND_SECRET_TOKEN", "hunter2", 1);
	CHECK_INT(load_text(good_file, &f, &m), 0);
	targets_set_exec(f);
	t = target_find("env");
	rc = target_validate(t, NULL, &canonical, &details);
	if (rc == 0)
		rc = target_build_argv(t, canonical, &argv);
	if (rc == 0)
		rc = target_build_env(t, request, &ctx, &envp, &details);
	cJSON_Delete(request);
	cJSON_Delete(canonical);
	cJSON_Delete(details);
	if (rc != 0) {
		target_free_argv(argv);
		targets_release();
		CHECK_FAIL("could not build argv/env: %d", rc);
	}
	output = run_program(argv, envp, &status);
	target_free_argv(argv);
	target_free_argv(envp);
	targets_release();
	unsetenv("SPAWND_SECRET_TOKEN");
	CHECK_INT(status, 0);
	CHECK_STR(output, "PATH=/usr/local/bin:/usr/bin:/bin\nLANG=C\nSPAWND_PROCESS_ID=id-1\nSPAWND_PROCESS_NAME=Process-1\n");
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/unit_exec_file.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/targets.json", dir);
	RUN(good_file_loads);
	RUN(registry_lists_and_finds_exec_targets);
	RUN(file_level_errors);
	RUN(name_errors);
	RUN(program_errors);
	RUN(argv_errors);
	RUN(arg_errors);
	RUN(constraint_errors);
	RUN(env_and_limit_errors);
	RUN(argv_building);
	RUN(path_constraint_errors);
	RUN(path_arguments);
	RUN(arguments_reach_the_program_literally);
	RUN(env_building);
	RUN(program_sees_only_the_built_env);
	hold(NULL);
	targets_release();
	{
		char file[160];
		snprintf(file, sizeof file, "%s/not-executable", dir);
		unlink(file);
		unlink(path);
		remove_path_tree();
		rmdir(dir);
	}
	return CHECK_EXIT();
}
