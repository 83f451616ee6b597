/* unit_targets — the target registry, argument validation and the builtin
 * functions (each run in a forked child whose stdout/stderr are pipes). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/number.h"
#include "targets/args.h"
#include "targets/describe.h"
#include "targets/registry.h"
#include "targets/target.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

/* Validates args_json (NULL for none) against t. Returns the printed canonical
 * object on success or the printed details on failure (caller frees); *rc gets
 * target_validate()'s result. */
static char *validate_with(const struct target *t, const char *args_json, int *rc)
{
	cJSON *args = args_json ? cJSON_Parse(args_json) : NULL;
	cJSON *canonical = NULL, *details = NULL;
	char *text;

	if (args_json && !args) {
		*rc = 999;
		return strdup("unparsable test input");
	}
	*rc = target_validate(t, args, &canonical, &details);
	text = number_print_json(*rc == 0 ? canonical : details);
	if ((*rc == 0 && details) || (*rc != 0 && canonical)) {
		free(text);
		text = strdup("target_validate stored both canonical and details");
	}
	cJSON_Delete(canonical);
	cJSON_Delete(details);
	cJSON_Delete(args);
	return text;
}

static char *validate(const char *name, const char *args_json, int *rc)
{
	const struct target *t = target_find(name);

	if (!t) {
		*rc = 998;
		return strdup("no such target");
	}
	return validate_with(t, args_json, rc);
}

static const char *text_or_none(const char *s)
{
	return s ? s : "(none)";
}

/* Keeps the last string a check looks at until the next one (or the end), so a
 * failing CHECK that returns early leaks nothing. */
static char *held;
static const char *hold(char *s)
{
	free(held);
	held = s;
	return s ? s : "(null)";
}

/* Accepted, with this canonical form. */
#define CHECK_OK(name, args, canonical) do { int rc_; const char *got_ = hold(validate(name, args, &rc_)); \
		CHECK_MSG(rc_ == 0, "%s %s: rc %d, %s", name, text_or_none(args), rc_, got_); \
		CHECK_STR(got_, canonical); } while (0)
/* Refused, with exactly these details. */
#define CHECK_BAD(name, args, expected) do { int rc_; const char *got_ = hold(validate(name, args, &rc_)); \
		CHECK_MSG(rc_ == -EINVAL, "%s %s: rc %d, %s", name, text_or_none(args), rc_, got_); \
		CHECK_STR(got_, expected); } while (0)
#define D(field, message) "{\"field\":\"" field "\",\"message\":\"" message "\"}"

/* --- lookup --- */

static void find_builtins(void)
{
	static const char *const names[] = { "worker", "sleep", "exit", "echo", "cat", "burst", "whoami", "ticker",
					     "square", "do_calculation", "wordcount_map", "wordcount_reduce", "start_process" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const struct target *t = target_find(names[i]);
		CHECK_MSG(t != NULL, "%s not found", names[i]);
		CHECK_STR(t->name, names[i]);
		CHECK_INT(t->kind, TARGET_BUILTIN);
		CHECK(t->fn != NULL);
		CHECK(t->description && strlen(t->description) > 10);
		CHECK(t->exec == NULL);
	}
}

static void find_refuses_implausible_names(void)
{
	char name[301];

	CHECK(target_find("../worker") == NULL);
	CHECK(target_find("worker/..") == NULL);
	CHECK(target_find("%2e%2e") == NULL);
	CHECK(target_find("") == NULL);
	CHECK(target_find(NULL) == NULL);
	CHECK(target_find("WORKER") == NULL);
	CHECK(target_find("worker ") == NULL);
	CHECK(target_find("worker\n") == NULL);
	CHECK(target_find("nosuch") == NULL);
	memset(name, 'a', 300);
	name[300] = '\0';
	CHECK(target_find(name) == NULL);
	CHECK(!target_name_valid(name));
	name[128] = '\0';
	CHECK(target_name_valid(name));       /* 128: plausible, just not there */
	CHECK(target_find(name) == NULL);
	name[128] = 'a';
	name[129] = '\0';
	CHECK(!target_name_valid(name));      /* 129: too long */
	CHECK(target_name_valid("a.b-c_D9"));
	CHECK(!target_name_valid("a b"));
	CHECK(!target_name_valid("é"));
}

static void find_len_refuses_nul(void)
{
	CHECK(target_find_len("worker\0x", 8) == NULL);
	CHECK(target_find_len("worker\0", 7) == NULL);
	CHECK(target_find_len("workerXYZ", 6) == target_find("worker"));
	CHECK(target_find_len("worker", 0) == NULL);
}

/* --- validation: shapes --- */

static void worker_args(void)
{
	CHECK_OK("worker", NULL, "{}");
	CHECK_OK("worker", "null", "{}");
	CHECK_OK("worker", "[]", "{}");
	CHECK_OK("worker", "{}", "{}");
	CHECK_OK("worker", "[3]", "{\"num\":3}");
	CHECK_OK("worker", "{\"num\":3}", "{\"num\":3}");
	CHECK_OK("worker", "[null]", "{}");
	CHECK_OK("worker", "{\"num\":null}", "{}");
	CHECK_OK("worker", "[-7]", "{\"num\":-7}");
	CHECK_OK("worker", "[2.0]", "{\"num\":2}");
	CHECK_OK("worker", "[1e3]", "{\"num\":1000}");
	CHECK_OK("worker", "[-0]", "{\"num\":0}");
}

/* Integers are exact only within +-(2^53 - 1) once read into a double. */
#define SAFE_RANGE "must be an integer from -9007199254740991 to 9007199254740991"

static void integer_range_and_type(void)
{
	/* Printed exactly (number_print_json, as the engine does), not as cJSON's 9.00719925474099e+15. */
	CHECK_OK("worker", "[9007199254740991]", "{\"num\":9007199254740991}");
	CHECK_OK("worker", "[-9007199254740991]", "{\"num\":-9007199254740991}");
	CHECK_OK("worker", "[4503599627370501]", "{\"num\":4503599627370501}");
	{
		cJSON *canonical = NULL, *details = NULL;
		cJSON *one = cJSON_Parse("[9007199254740991]");
		int rc = target_validate(target_find("worker"), one, &canonical, &details);
		long long got = target_arg_int(canonical, "num", 0);
		cJSON_Delete(one);
		cJSON_Delete(canonical);
		cJSON_Delete(details);
		CHECK_INT(rc, 0);
		CHECK_INT(got, 9007199254740991LL);
	}
	/* 2^53 itself is refused: 9007199254740993 reads as 2^53 and would run as it. */
	CHECK_BAD("worker", "[9007199254740992]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[9007199254740993]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[-9007199254740992]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[123456789012345678]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[9223372036854775808]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[-9223372036854777856]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[1.5]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[1e300]", "[" D("args[0]", SAFE_RANGE) "]");
	CHECK_BAD("worker", "{\"num\":0.1}", "[" D("args.num", SAFE_RANGE) "]");
	CHECK_BAD("worker", "[\"3\"]", "[" D("args[0]", "must be an integer") "]");
	CHECK_BAD("worker", "[true]", "[" D("args[0]", "must be an integer") "]");
	CHECK_BAD("worker", "[[3]]", "[" D("args[0]", "must be an integer") "]");
	CHECK_BAD("worker", "[{}]", "[" D("args[0]", "must be an integer") "]");
}

static void exit_code_bounds(void)
{
	CHECK_OK("exit", "[0]", "{\"code\":0}");
	CHECK_OK("exit", "[255]", "{\"code\":255}");
	CHECK_BAD("exit", "[-1]", "[" D("args[0]", "must be at least 0") "]");
	CHECK_BAD("exit", "[256]", "[" D("args[0]", "must be at most 255") "]");
	CHECK_BAD("exit", "{\"code\":256}", "[" D("args.code", "must be at most 255") "]");
	CHECK_BAD("exit", "[]", "[" D("args.code", "is required") "]");
	CHECK_BAD("exit", NULL, "[" D("args.code", "is required") "]");
	CHECK_BAD("exit", "{\"code\":null}", "[" D("args.code", "is required") "]");
	CHECK_BAD("exit", "[null]", "[" D("args.code", "is required") "]");
	CHECK_BAD("exit", "[\"7\"]", "[" D("args[0]", "must be an integer") "]");
}

static void sleep_number_bounds(void)
{
	CHECK_OK("sleep", "[0]", "{\"seconds\":0}");
	CHECK_OK("sleep", "[-0.0]", "{\"seconds\":0}");
	CHECK_OK("sleep", "[0.25]", "{\"seconds\":0.25}");
	CHECK_OK("sleep", "[1000000]", "{\"seconds\":1000000}");
	CHECK_BAD("sleep", "[-0.001]", "[" D("args[0]", "must be at least 0") "]");
	CHECK_BAD("sleep", "[1000000.001]", "[" D("args[0]", "must be at most 1000000") "]");
	CHECK_BAD("sleep", "[true]", "[" D("args[0]", "must be a number") "]");
	CHECK_BAD("sleep", "[\"1\"]", "[" D("args[0]", "must be a number") "]");
	CHECK_BAD("sleep", "[1e309]", "[" D("args[0]", "must be a number") "]"); /* cJSON reads inf */
}

static void burst_bounds_and_enum(void)
{
	CHECK_OK("burst", "[0]", "{\"bytes\":0}");
	CHECK_OK("burst", "[1099511627776, \"stderr\"]", "{\"bytes\":1099511627776,\"stream\":\"stderr\"}");
	CHECK_OK("burst", "{\"stream\":\"stdout\",\"bytes\":5}", "{\"bytes\":5,\"stream\":\"stdout\"}");
	CHECK_BAD("burst", "[1099511627777]", "[" D("args[0]", "must be at most 1099511627776") "]");
	CHECK_BAD("burst", "[-1]", "[" D("args[0]", "must be at least 0") "]");
	CHECK_BAD("burst", "[5, \"stdin\"]", "[" D("args[1]", "must be one of: stdout, stderr") "]");
	CHECK_BAD("burst", "[5, \"STDOUT\"]", "[" D("args[1]", "must be one of: stdout, stderr") "]");
	CHECK_BAD("burst", "[5, 1]", "[" D("args[1]", "must be a string") "]");
	CHECK_BAD("burst", "{\"stream\":\"stdout\"}", "[" D("args.bytes", "is required") "]");
}

static void too_many_and_unknown(void)
{
	CHECK_BAD("worker", "[1, 2, 3]", "[" D("args[1]", "is one argument too many: worker takes at most 1") ","
		  D("args[2]", "is one argument too many: worker takes at most 1") "]");
	CHECK_BAD("cat", "[\"x\"]", "[" D("args[0]", "is one argument too many: cat takes at most 0") "]");
	CHECK_BAD("worker", "{\"nums\":1}", "[" D("args.nums", "is not an argument of worker") "]");
	CHECK_BAD("worker", "{\"Num\":1}", "[" D("args.Num", "is not an argument of worker") "]");
	CHECK_BAD("worker", "{\"num\":1,\"num\":2}", "[" D("args.num", "is given more than once") "]");
	CHECK_BAD("worker", "5", "[" D("args", "must be an array of values, an object of named values, or null") "]");
	CHECK_BAD("worker", "\"3\"", "[" D("args", "must be an array of values, an object of named values, or null") "]");
}

static void one_detail_per_bad_argument(void)
{
	CHECK_BAD("burst", "[-1, \"x\"]", "[" D("args[0]", "must be at least 0") ","
		  D("args[1]", "must be one of: stdout, stderr") "]");
	CHECK_BAD("burst", "{\"stream\":2,\"extra\":true}", "[" D("args.stream", "must be a string") ","
		  D("args.extra", "is not an argument of burst") "," D("args.bytes", "is required") "]");
}

static void echo_variadic(void)
{
	int rc_ok, rc_long;
	const char *long_details;

	CHECK_OK("echo", "[]", "{}");
	CHECK_OK("echo", "[\"a\"]", "{\"words\":[\"a\"]}");
	CHECK_OK("echo", "[\"a\", \"b c\", \"\"]", "{\"words\":[\"a\",\"b c\",\"\"]}");
	CHECK_OK("echo", "{\"words\":[\"a\",\"b\"]}", "{\"words\":[\"a\",\"b\"]}");
	CHECK_OK("echo", "{\"words\":[]}", "{}");
	CHECK_OK("echo", "{\"words\":null}", "{}");
	CHECK_OK("echo", "[\"-n\"]", "{\"words\":[\"-n\"]}");   /* builtins take dashes */
	CHECK_BAD("echo", "[\"a\", 1, null]", "[" D("args[1]", "must be a string") "," D("args[2]", "must be a string") "]");
	CHECK_BAD("echo", "{\"words\":\"a\"}", "[" D("args.words", "must be an array (it takes any number of values)") "]");
	CHECK_BAD("echo", "{\"words\":[\"a\",false]}", "[" D("args.words[1]", "must be a string") "]");
	{
		/* max_length 65536: the boundary passes, one byte more is refused */
		size_t n = 65536;
		char *json = malloc(n + 16);
		CHECK(json != NULL);
		memcpy(json, "[\"", 2);
		memset(json + 2, 'x', n);
		memcpy(json + 2 + n, "\"]", 3);
		free(validate("echo", json, &rc_ok));
		memcpy(json, "[\"y\",\"", 6);
		memset(json + 6, 'x', n + 1);
		memcpy(json + 6 + n + 1, "\"]", 3);
		long_details = hold(validate("echo", json, &rc_long));
		free(json);
	}
	CHECK_INT(rc_ok, 0);
	CHECK_INT(rc_long, -EINVAL);
	CHECK_STR(long_details, "[" D("args[1]", "must be at most 65536 bytes long") "]");
}

/* A made-up target with every string constraint and a boolean. */
static const char *const colors[] = { "red", "green", NULL };
static const struct arg_spec test_specs[] = {
	{ .name = "word", .type = ARG_STRING, .required = true, .pattern = "[a-z]+", .max_length = 5 },
	{ .name = "color", .type = ARG_STRING, .enum_values = colors },
	{ .name = "flag", .type = ARG_BOOLEAN },
	{ .name = "tricky", .type = ARG_STRING, .pattern = "a)|b" },
	{ .name = "alt", .type = ARG_STRING, .pattern = "a|ab" },
	{ .name = "dash", .type = ARG_STRING, .allow_dash = true },
	{ .name = "n", .type = ARG_NUMBER, .has_min = true, .min = -1.5, .has_max = true, .max = 2.5 },
};
static const struct target test_target = {
	.name = "test", .kind = TARGET_BUILTIN, .description = "test",
	.args = test_specs, .nargs = sizeof test_specs / sizeof test_specs[0],
};
static const struct target test_exec = {
	.name = "test-exec", .kind = TARGET_EXEC, .description = "test",
	.args = test_specs, .nargs = sizeof test_specs / sizeof test_specs[0],
};

#define CHECK_WITH(t, args, rc_expected, expected) do { int rc_; const char *got_ = hold(validate_with(t, args, &rc_)); \
		CHECK_MSG(rc_ == (rc_expected), "%s: rc %d, %s", text_or_none(args), rc_, got_); \
		CHECK_STR(got_, expected); } while (0)

static void string_constraints(void)
{
	const struct target *t = &test_target;
	CHECK_WITH(t, "[\"abcde\"]", 0, "{\"word\":\"abcde\"}");
	CHECK_WITH(t, "[\"a\"]", 0, "{\"word\":\"a\"}");
	CHECK_WITH(t, "[\"abcdef\"]", -EINVAL, "[" D("args[0]", "must be at most 5 bytes long") "]");
	CHECK_WITH(t, "[\"\"]", -EINVAL, "[" D("args[0]", "must match the pattern [a-z]+") "]");
	CHECK_WITH(t, "[\"ab1\"]", -EINVAL, "[" D("args[0]", "must match the pattern [a-z]+") "]");
	CHECK_WITH(t, "[\"1ab\"]", -EINVAL, "[" D("args[0]", "must match the pattern [a-z]+") "]");
	CHECK_WITH(t, "[\"a\\nb\"]", -EINVAL, "[" D("args[0]", "must match the pattern [a-z]+") "]");
	CHECK_WITH(t, "[\"ab\", \"green\"]", 0, "{\"word\":\"ab\",\"color\":\"green\"}");
	CHECK_WITH(t, "[\"ab\", \"blue\"]", -EINVAL, "[" D("args[1]", "must be one of: red, green") "]");
	CHECK_WITH(t, "[\"ab\", \"gree\"]", -EINVAL, "[" D("args[1]", "must be one of: red, green") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"flag\":true}", 0, "{\"word\":\"x\",\"flag\":true}");
	CHECK_WITH(t, "{\"word\":\"x\",\"flag\":false}", 0, "{\"word\":\"x\",\"flag\":false}");
	CHECK_WITH(t, "{\"word\":\"x\",\"flag\":1}", -EINVAL, "[" D("args.flag", "must be true or false") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"flag\":\"true\"}", -EINVAL, "[" D("args.flag", "must be true or false") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":-1.5}", 0, "{\"word\":\"x\",\"n\":-1.5}");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":2.5}", 0, "{\"word\":\"x\",\"n\":2.5}");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":-1.5000001}", -EINVAL, "[" D("args.n", "must be at least -1.5") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":2.5000001}", -EINVAL, "[" D("args.n", "must be at most 2.5") "]");
}

/* The pattern must match the whole value, even one with an unbalanced ')'. */
static void pattern_full_match(void)
{
	const struct target *t = &test_target;
	CHECK_WITH(t, "{\"word\":\"x\",\"tricky\":\"b\"}", 0, "{\"word\":\"x\",\"tricky\":\"b\"}");
	CHECK_WITH(t, "{\"word\":\"x\",\"tricky\":\"a)\"}", 0, "{\"word\":\"x\",\"tricky\":\"a)\"}");
	CHECK_WITH(t, "{\"word\":\"x\",\"tricky\":\"abc\"}", -EINVAL, "[" D("args.tricky", "must match the pattern a)|b") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"tricky\":\"bb\"}", -EINVAL, "[" D("args.tricky", "must match the pattern a)|b") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"alt\":\"ab\"}", 0, "{\"word\":\"x\",\"alt\":\"ab\"}");
	CHECK_WITH(t, "{\"word\":\"x\",\"alt\":\"abab\"}", -EINVAL, "[" D("args.alt", "must match the pattern a|ab") "]");
}

static void exec_refuses_leading_dash(void)
{
	const struct target *t = &test_exec;
	CHECK_WITH(t, "[\"-rf\"]", -EINVAL, "[" D("args[0]", "must not start with \\\"-\\\"") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"dash\":\"-v\"}", 0, "{\"word\":\"x\",\"dash\":\"-v\"}");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":-1}", -EINVAL,
		   "[" D("args.n", "must not be negative (its text would start with \\\"-\\\")") "]");
	CHECK_WITH(t, "{\"word\":\"x\",\"n\":-0.0}", 0, "{\"word\":\"x\",\"n\":0}");
	CHECK_WITH(&test_target, "{\"word\":\"x\",\"n\":-1}", 0, "{\"word\":\"x\",\"n\":-1}");
}

/* --- description --- */

static void describe_exit(void)
{
	cJSON *j = target_to_json(target_find("exit"));
	const char *text = hold(cJSON_PrintUnformatted(j));

	cJSON_Delete(j);
	CHECK_STR(text, "{\"name\":\"exit\",\"kind\":\"builtin\",\"description\":\"Exits at once with the given exit code.\","
		  "\"args\":[{\"name\":\"code\",\"type\":\"integer\",\"required\":true,\"min\":0,\"max\":255}],"
		  "\"timeout\":null,\"max_running\":null,\"returns\":\"text\",\"source\":\"builtin\"}");
	/* A pool example declares its stdout JSON. */
	j = target_to_json(target_find("square"));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "returns")), "json");
	cJSON_Delete(j);
}

static void describe_constraints(void)
{
	cJSON *j = target_to_json(&test_target);
	const char *text = hold(cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "args")));

	cJSON_Delete(j);
	CHECK_STR(text, "[{\"name\":\"word\",\"type\":\"string\",\"required\":true,\"pattern\":\"[a-z]+\",\"max_length\":5},"
		  "{\"name\":\"color\",\"type\":\"string\",\"required\":false,\"enum\":[\"red\",\"green\"]},"
		  "{\"name\":\"flag\",\"type\":\"boolean\",\"required\":false},"
		  "{\"name\":\"tricky\",\"type\":\"string\",\"required\":false,\"pattern\":\"a)|b\"},"
		  "{\"name\":\"alt\",\"type\":\"string\",\"required\":false,\"pattern\":\"a|ab\"},"
		  "{\"name\":\"dash\",\"type\":\"string\",\"required\":false},"
		  "{\"name\":\"n\",\"type\":\"number\",\"required\":false,\"min\":-1.5,\"max\":2.5}]");
	j = target_to_json(target_find("echo"));
	text = hold(cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "args")));
	cJSON_Delete(j);
	CHECK_STR(text, "[{\"name\":\"words\",\"type\":\"string\",\"required\":false,\"max_length\":65536,\"variadic\":true}]");
}

static void list_in_registry_order(void)
{
	static const char *const names[] = { "worker", "sleep", "exit", "echo", "cat", "burst", "whoami", "ticker",
					     "square", "do_calculation", "wordcount_map", "wordcount_reduce", "start_process" };
	cJSON *list = targets_list_json();
	cJSON *targets = cJSON_GetObjectItem(list, "targets");
	int n = cJSON_GetArraySize(targets);

	if (n != 13)
		cJSON_Delete(list);
	CHECK_INT(n, 13);
	for (int i = 0; i < n; i++) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(targets, i), "name"));
		if (!name || strcmp(name, names[i]) != 0) {
			cJSON_Delete(list);
			CHECK_FAIL("targets[%d] is %s, expected %s", i, name ? name : "(null)", names[i]);
		}
	}
	cJSON_Delete(list);
}

static void arg_helpers(void)
{
	cJSON *args = cJSON_Parse("{\"i\":-42,\"x\":0.5,\"s\":\"hi\",\"b\":true}");
	long long i = target_arg_int(args, "i", 0), missing = target_arg_int(args, "nope", 9);
	double x = target_arg_number(args, "x", 0);
	const char *s = target_arg_string(args, "s", NULL), *fallback = target_arg_string(args, "i", "fb");
	char copy[16];

	snprintf(copy, sizeof copy, "%s", s ? s : "");
	cJSON_Delete(args);
	CHECK_INT(i, -42);
	CHECK_INT(missing, 9);
	CHECK(x == 0.5);
	CHECK_STR(copy, "hi");
	CHECK_STR(fallback, "fb");
}

/* --- the builtin functions, run in a child --- */

struct run_result {
	int status;         /* waitpid status */
	char *out, *err;    /* malloc'd, NUL-terminated */
	size_t out_len, err_len;
	pid_t pid;
};

static void drain(int fd, char **buf, size_t *len)
{
	size_t cap = 4096;
	*buf = malloc(cap);
	*len = 0;
	for (;;) {
		ssize_t n;
		if (*len + 1 >= cap)
			*buf = realloc(*buf, cap *= 2);
		n = read(fd, *buf + *len, cap - *len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
}

/* Runs target name with args in a child; stdin from a temporary file holding
 * input (or /dev/null). Reads stdout then stderr (the child's output to stderr
 * must fit a pipe buffer unless stdout is empty). */
static int run_builtin(const char *name, const char *args_json, const char *input, struct run_result *r)
{
	const struct target *t = target_find(name);
	cJSON *args = args_json ? cJSON_Parse(args_json) : NULL, *canonical = NULL, *details = NULL;
	int out[2], err[2], in;
	struct target_ctx ctx = { .id = "p-1", .name = "Process-1" };

	memset(r, 0, sizeof *r);
	if (!t || target_validate(t, args, &canonical, &details) != 0) {
		cJSON_Delete(details);
		return -1;
	}
	cJSON_Delete(args);
	if (input) {
		FILE *f = tmpfile();
		fputs(input, f);
		fflush(f);
		in = dup(fileno(f));
		fclose(f);
		lseek(in, 0, SEEK_SET);
	} else {
		in = open("/dev/null", O_RDONLY);
	}
	if (pipe(out) != 0 || pipe(err) != 0)
		return -1;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(in, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(in); close(out[0]); close(out[1]); close(err[0]); close(err[1]);
		signal(SIGPIPE, SIG_DFL);
		_exit(t->fn(canonical, &ctx));
	}
	cJSON_Delete(canonical);
	close(in);
	close(out[1]);
	close(err[1]);
	drain(out[0], &r->out, &r->out_len);
	drain(err[0], &r->err, &r->err_len);
	close(out[0]);
	close(err[0]);
	while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static void run_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
}

#define CHECK_RUN(name, args, input, exit_code, expected_out) do { struct run_result r_; \
		CHECK_MSG(run_builtin(name, args, input, &r_) == 0, "could not run %s", name); \
		int st_ = r_.status; size_t len_ = r_.out_len; \
		free(r_.err); const char *got_ = hold(r_.out); \
		CHECK_MSG(WIFEXITED(st_), "%s did not exit (status %d)", name, st_); \
		CHECK_INT(WEXITSTATUS(st_), exit_code); \
		CHECK_INT(len_, strlen(expected_out)); \
		CHECK_STR(got_, expected_out); } while (0)

static void run_worker(void)
{
	CHECK_RUN("worker", NULL, NULL, 0, "Worker\n");
	CHECK_RUN("worker", "[3]", NULL, 0, "Worker: 3\n");
	CHECK_RUN("worker", "{\"num\":-12}", NULL, 0, "Worker: -12\n");
}

static void run_echo(void)
{
	CHECK_RUN("echo", "[\"hello\", \"big world\", \"$(x)\"]", NULL, 0, "hello big world $(x)\n");
	CHECK_RUN("echo", "[]", NULL, 0, "\n");
	CHECK_RUN("echo", "[\"\", \"\"]", NULL, 0, " \n");
}

static void run_exit(void)
{
	CHECK_RUN("exit", "[7]", NULL, 7, "");
	CHECK_RUN("exit", "[0]", NULL, 0, "");
	CHECK_RUN("exit", "[255]", NULL, 255, "");
}

static void run_sleep(void)
{
	CHECK_RUN("sleep", "[0.01]", NULL, 0, "");
	CHECK_RUN("sleep", "[0]", NULL, 0, "");
}

static void run_burst(void)
{
	struct run_result r;
	size_t len;
	int bad = -1, status;

	CHECK_RUN("burst", "[25]", NULL, 0, "0123456789012345678901234");
	CHECK_RUN("burst", "[0]", NULL, 0, "");
	CHECK(run_builtin("burst", "{\"bytes\":1000003}", NULL, &r) == 0);
	len = r.out_len;
	status = r.status;
	for (size_t i = 0; i < len && bad < 0; i++)
		if (r.out[i] != (char)('0' + i % 10))
			bad = (int)i;
	run_free(&r);
	CHECK_INT(status, 0);
	CHECK_INT(len, 1000003);
	CHECK_INT(bad, -1);
	CHECK(run_builtin("burst", "[12, \"stderr\"]", NULL, &r) == 0);
	len = r.out_len;
	free(r.out);
	const char *err = hold(r.err);
	CHECK_INT(len, 0);
	CHECK_STR(err, "012345678901");
}

/* Static, so the forked child (which _exits) still reaches it under valgrind. */
static char *cat_input;

static void run_cat(void)
{
	struct run_result r;
	size_t n = 300000;
	int same, status;

	CHECK_RUN("cat", NULL, "line one\nline two\n", 0, "line one\nline two\n");
	CHECK_RUN("cat", NULL, NULL, 0, "");
	cat_input = malloc(n + 1);
	CHECK(cat_input != NULL);
	for (size_t i = 0; i < n; i++)
		cat_input[i] = (char)('a' + i % 26);
	cat_input[n] = '\0';
	if (run_builtin("cat", NULL, cat_input, &r) != 0)
		r.status = -1;
	same = r.out_len == n && memcmp(r.out, cat_input, n) == 0;
	status = r.status;
	run_free(&r);
	free(cat_input);
	cat_input = NULL;
	CHECK_INT(status, 0);
	CHECK(same);
}

static void run_whoami(void)
{
	struct run_result r;
	char expected[128];

	CHECK(run_builtin("whoami", NULL, NULL, &r) == 0);
	snprintf(expected, sizeof expected, "{\"id\":\"p-1\",\"name\":\"Process-1\",\"pid\":%d}\n", (int)r.pid);
	int status = r.status;
	free(r.err);
	const char *got = hold(r.out);
	CHECK_INT(status, 0);
	CHECK_STR(got, expected);
}

int main(void)
{
	RUN(find_builtins);
	RUN(find_refuses_implausible_names);
	RUN(find_len_refuses_nul);
	RUN(worker_args);
	RUN(integer_range_and_type);
	RUN(exit_code_bounds);
	RUN(sleep_number_bounds);
	RUN(burst_bounds_and_enum);
	RUN(too_many_and_unknown);
	RUN(one_detail_per_bad_argument);
	RUN(echo_variadic);
	RUN(string_constraints);
	RUN(pattern_full_match);
	RUN(exec_refuses_leading_dash);
	RUN(describe_exit);
	RUN(describe_constraints);
	RUN(list_in_registry_order);
	RUN(arg_helpers);
	RUN(run_worker);
	RUN(run_echo);
	RUN(run_exit);
	RUN(run_sleep);
	RUN(run_burst);
	RUN(run_cat);
	RUN(run_whoami);
	hold(NULL);
	return CHECK_EXIT();
}
