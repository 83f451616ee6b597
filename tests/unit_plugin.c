/* unit_plugin — plugin targets without the server: descriptors are checked and
 * converted to registry targets (plugin_add), refused with a message naming
 * the file, the target and the field; canonical arguments become the values a
 * plugin reads with spawnd_arg_*; each target's trampoline calls its own run
 * function with the worker's identity; plugin_load_dir() reads a folder.
 *
 * The plugin table is global and only grows, so every case uses target names
 * of its own and compares counts before and after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "targets/args.h"
#include "targets/describe.h"
#include "targets/plugin.h"
#include "targets/plugin_args.h"
#include "targets/target.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

/* What the last run function saw. */
static struct {
	const char *which;
	char id[64], name[64];
	pid_t pid;
	long long num;
	bool has_num;
	char text[128];
	double total;
	size_t count;
} seen;

static int run_one(const struct spawnd_args *args, const struct spawnd_process *self)
{
	seen.which = "one";
	snprintf(seen.id, sizeof seen.id, "%s", self->id);
	snprintf(seen.name, sizeof seen.name, "%s", self->name);
	seen.pid = self->pid;
	seen.has_num = spawnd_arg_has(args, "num");
	seen.num = spawnd_arg_int(args, "num", -1);
	snprintf(seen.text, sizeof seen.text, "%s", spawnd_arg_string(args, "color", "none"));
	return 7;
}

static int run_two(const struct spawnd_args *args, const struct spawnd_process *self)
{
	seen.which = "two";
	seen.count = spawnd_arg_count(args, "values");
	seen.total = 0;
	for (size_t i = 0; i < seen.count; i++)
		seen.total += spawnd_arg_at(args, "values", i)->number;
	return 3;
}

static const char *const colors[] = { "red", "green", NULL };
static const struct spawnd_arg_spec one_args[] = {
	{ .name = "num", .type = SPAWND_ARG_INTEGER, .has_min = true, .min = 0, .has_max = true, .max = 10 },
	{ .name = "color", .type = SPAWND_ARG_STRING, .enum_values = colors },
	{ .name = "word", .type = SPAWND_ARG_STRING, .required = true, .pattern = "[a-z]+", .max_length = 5 },
	{ .name = "flag", .type = SPAWND_ARG_BOOLEAN },
};
static const struct spawnd_arg_spec two_args[] = {
	{ .name = "values", .type = SPAWND_ARG_NUMBER, .variadic = true },
};
static const struct spawnd_target good_targets[] = {
	{ .name = "u_one", .description = "One.", .args = one_args, .nargs = 4, .run = run_one,
	  .timeout = 2.5, .max_running = 3 },
	{ .name = "u_two", .args = two_args, .nargs = 1, .run = run_two },
};

static const struct target *find_added(const char *name)
{
	size_t count;
	const struct target *t = plugin_targets(&count);

	for (size_t i = 0; i < count; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static void converts_descriptors(void)
{
	struct spawnd_plugin plugin = { .abi = SPAWND_TARGET_ABI, .name = "u", .targets = good_targets, .ntargets = 2 };
	char err[512] = "";
	size_t before, after;
	const struct target *one, *two;

	plugin_targets(&before);
	CHECK_MSG(plugin_add(&plugin, "u.so", err, sizeof err) == 0, "%s", err);
	plugin_targets(&after);
	CHECK_INT(after, before + 2);
	one = find_added("u_one");
	two = find_added("u_two");
	CHECK(one && two);
	CHECK_INT(one->kind, TARGET_PLUGIN);
	CHECK_STR(one->description, "One.");
	CHECK_STR(two->description, "");
	CHECK_STR(one->source, "plugin:u.so");
	CHECK(one->timeout == 2.5 && one->max_running == 3);
	CHECK(one->fn && two->fn && one->fn != two->fn);
	CHECK(one->exec == NULL);
	CHECK_INT(one->nargs, 4);
	CHECK_STR(one->args[0].name, "num");
	CHECK_INT(one->args[0].type, ARG_INTEGER);
	CHECK(one->args[0].has_min && one->args[0].min == 0 && one->args[0].has_max && one->args[0].max == 10);
	CHECK(one->args[1].enum_values == colors);
	CHECK(one->args[2].required && one->args[2].max_length == 5);
	CHECK_STR(one->args[2].pattern, "[a-z]+");
	CHECK_INT(one->args[3].type, ARG_BOOLEAN);
	CHECK(two->args[0].variadic && two->args[0].type == ARG_NUMBER);

	cJSON *json = target_to_json(one);
	char *text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	bool has_kind = text && strstr(text, "\"kind\":\"plugin\"") && strstr(text, "\"source\":\"plugin:u.so\"") &&
			strstr(text, "\"timeout\":2.5,\"max_running\":3");
	free(text);
	CHECK(has_kind);
}

/* The converted specs validate like any target's. */
static void validates_with_converted_specs(void)
{
	const struct target *one = find_added("u_one");
	static const struct { const char *args; int rc; } cases[] = {
		{ "{\"word\": \"abc\", \"num\": 10, \"color\": \"green\", \"flag\": true}", 0 },
		{ "[0, \"red\", \"abcde\"]", 0 },
		{ "{\"word\": \"abc\", \"num\": 11}", -EINVAL },
		{ "{\"word\": \"abc\", \"color\": \"blue\"}", -EINVAL },
		{ "{\"word\": \"abcdef\"}", -EINVAL },
		{ "{\"word\": \"ABC\"}", -EINVAL },
		{ "{\"word\": \"abc\", \"flag\": 1}", -EINVAL },
		{ "{\"num\": 1}", -EINVAL },
	};

	CHECK_MSG(one, "converts_descriptors must run first");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *args = cJSON_Parse(cases[i].args), *canonical = NULL, *details = NULL;
		int rc = target_validate(one, args, &canonical, &details);
		cJSON_Delete(args);
		cJSON_Delete(canonical);
		cJSON_Delete(details);
		CHECK_MSG(rc == cases[i].rc, "%s: rc %d, expected %d", cases[i].args, rc, cases[i].rc);
	}
	/* A plugin's strings may start with '-': only exec targets refuse that. */
	cJSON *args = cJSON_Parse("{\"values\": [-1]}"), *canonical = NULL, *details = NULL;
	int rc = target_validate(find_added("u_two"), args, &canonical, &details);
	cJSON_Delete(args);
	cJSON_Delete(canonical);
	cJSON_Delete(details);
	CHECK_INT(rc, 0);
}

/* Each trampoline reaches its own run function, with the identity and args. */
static void trampolines_call_their_own_run(void)
{
	const struct target *one = find_added("u_one"), *two = find_added("u_two");
	struct target_ctx ctx = { .id = "abc123", .name = "Process-9" };
	cJSON *args;
	int code;

	CHECK_MSG(one && two, "converts_descriptors must run first");
	memset(&seen, 0, sizeof seen);
	args = cJSON_Parse("{\"num\": 4, \"word\": \"hi\"}");
	code = one->fn(args, &ctx);
	cJSON_Delete(args);
	CHECK_INT(code, 7);
	CHECK_STR(seen.which, "one");
	CHECK_STR(seen.id, "abc123");
	CHECK_STR(seen.name, "Process-9");
	CHECK_INT(seen.pid, getpid());
	CHECK(seen.has_num);
	CHECK_INT(seen.num, 4);
	CHECK_STR(seen.text, "none");

	memset(&seen, 0, sizeof seen);
	args = cJSON_Parse("{\"values\": [1, 2.5, -0.5]}");
	code = two->fn(args, &ctx);
	cJSON_Delete(args);
	CHECK_INT(code, 3);
	CHECK_STR(seen.which, "two");
	CHECK_INT(seen.count, 3);
	CHECK(seen.total == 3.0);

	/* no arguments at all: nothing present, fallbacks */
	memset(&seen, 0, sizeof seen);
	CHECK_INT(one->fn(NULL, &ctx), 7);
	CHECK(!seen.has_num);
	CHECK_INT(seen.num, -1);
}

static void accessors_read_canonical_values(void)
{
	static const struct spawnd_arg_spec specs[] = {
		{ .name = "i", .type = SPAWND_ARG_INTEGER },
		{ .name = "x", .type = SPAWND_ARG_NUMBER },
		{ .name = "s", .type = SPAWND_ARG_STRING },
		{ .name = "b", .type = SPAWND_ARG_BOOLEAN },
		{ .name = "absent", .type = SPAWND_ARG_STRING },
		{ .name = "rest", .type = SPAWND_ARG_STRING, .variadic = true },
	};
	static const struct spawnd_target targets[] = {
		{ .name = "u_accessors", .args = specs, .nargs = 6, .run = run_one },
	};
	struct spawnd_plugin plugin = { .abi = SPAWND_TARGET_ABI, .targets = targets, .ntargets = 1 };
	cJSON *canonical = cJSON_Parse("{\"i\": -42, \"x\": 0.5, \"s\": \"hi\", \"b\": false, \"rest\": [\"a\", \"b\"]}");
	struct spawnd_args *args = NULL;
	char err[512] = "";
	const struct spawnd_value *v;

	CHECK_MSG(plugin_add(&plugin, "acc.so", err, sizeof err) == 0, "%s", err);
	CHECK(plugin_args_from_json(find_added("u_accessors"), canonical, &args) == 0);
	CHECK_INT(spawnd_arg_int(args, "i", 0), -42);
	CHECK(spawnd_arg_number(args, "i", 0) == -42.0);   /* number reads integers too */
	CHECK(spawnd_arg_number(args, "x", 0) == 0.5);
	CHECK_INT(spawnd_arg_int(args, "x", 99), 99);        /* type mismatch: fallback */
	CHECK_STR(spawnd_arg_string(args, "s", NULL), "hi");
	CHECK(spawnd_arg_bool(args, "b", true) == false);
	CHECK(spawnd_arg_has(args, "b"));
	CHECK(!spawnd_arg_has(args, "absent"));
	CHECK_STR(spawnd_arg_string(args, "absent", "fb"), "fb");
	CHECK_STR(spawnd_arg_string(args, "no_such_arg", "fb"), "fb");
	CHECK_INT(spawnd_arg_count(args, "rest"), 2);
	CHECK_INT(spawnd_arg_count(args, "s"), 1);
	CHECK_INT(spawnd_arg_count(args, "absent"), 0);
	v = spawnd_arg_at(args, "rest", 1);
	CHECK(v && v->type == SPAWND_ARG_STRING);
	CHECK_STR(v->string, "b");
	CHECK(spawnd_arg_at(args, "rest", 2) == NULL);
	CHECK_STR(spawnd_arg_string(args, "rest", NULL), "a");   /* a scalar reader reads the first */
	v = spawnd_arg_at(args, "i", 0);
	CHECK(v && v->type == SPAWND_ARG_INTEGER && v->integer == -42 && v->number == -42.0);
	plugin_args_free(args);
	cJSON_Delete(canonical);
	/* NULL args (a plugin calling a reader outside a run) reads as all absent */
	CHECK_INT(spawnd_arg_int(NULL, "i", 5), 5);
	CHECK_INT(spawnd_arg_count(NULL, "i"), 0);
}

/* --- refusals --- */

/* True when message is "bad.so: " + expected; an expected text ending in '*'
 * only needs to start the rest of the message. */
static bool message_is(const char *message, const char *expected)
{
	size_t len = strlen(expected);

	if (strncmp(message, "bad.so: ", 8) != 0)
		return false;
	if (len && expected[len - 1] == '*')
		return strncmp(message + 8, expected, len - 1) == 0;
	return strcmp(message + 8, expected) == 0;
}

/* plugin_add() must refuse plugin with that message and keep nothing. */
#define CHECK_REFUSED(plugin, expected) do { \
		char err_[512] = ""; size_t before_, after_; \
		plugin_targets(&before_); \
		int rc_ = plugin_add((plugin), "bad.so", err_, sizeof err_); \
		plugin_targets(&after_); \
		CHECK_MSG(rc_ < 0, "accepted, expected \"%s\"", (expected)); \
		CHECK_INT(after_, before_); \
		CHECK_MSG(message_is(err_, (expected)), "message \"%s\", expected \"bad.so: %s\"", err_, (expected)); \
	} while (0)

static int run_nothing(const struct spawnd_args *args, const struct spawnd_process *self)
{
	return 0;
}

/* One plugin with a good first target and a second target t. */
#define PLUGIN_WITH(t) (&(struct spawnd_plugin){ .abi = SPAWND_TARGET_ABI, .ntargets = 2, \
	.targets = (const struct spawnd_target[]){ { .name = "u_fine", .run = run_nothing }, t } })
#define TARGET_WITH_ARGS(...) ((struct spawnd_target){ .name = "u_bad", .run = run_nothing, \
	.args = (const struct spawnd_arg_spec[]){ __VA_ARGS__ }, \
	.nargs = sizeof((const struct spawnd_arg_spec[]){ __VA_ARGS__ }) / sizeof(struct spawnd_arg_spec) })

static void refuses_bad_plugins(void)
{
	static const struct spawnd_target one_target[] = { { .name = "u_never", .run = run_nothing } };

	CHECK_REFUSED((&(struct spawnd_plugin){ .abi = 2, .targets = one_target, .ntargets = 1 }),
		      "built for plugin ABI 2, but this spawnd loads ABI 1 "
		      "(rebuild it against this spawnd's include/spawnd_target.h)");
	CHECK_REFUSED((&(struct spawnd_plugin){ .abi = SPAWND_TARGET_ABI, .targets = NULL, .ntargets = 3 }),
		      "targets: must not be NULL when ntargets is 3");
	CHECK(find_added("u_never") == NULL);
}

static void refuses_bad_targets(void)
{
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "worker", .run = run_nothing })),
		      "target \"worker\": name: \"worker\" is already a builtin target");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_fine", .run = run_nothing })),
		      "target \"u_fine\": name: \"u_fine\" is already a target of bad.so");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "../etc", .run = run_nothing })),
		      "targets[1]: name: must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = NULL, .run = run_nothing })),
		      "targets[1]: name: must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "-x", .run = run_nothing })),
		      "targets[1]: name: must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_bad" })),
		      "target \"u_bad\": run: must not be NULL");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_bad", .run = run_nothing, .timeout = -1 })),
		      "target \"u_bad\": timeout: must be 0 (none) to 1e+07 seconds");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_bad", .run = run_nothing, .max_running = -1 })),
		      "target \"u_bad\": max_running: must be 0 (no limit) to 100000");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_bad", .run = run_nothing, .nargs = 1 })),
		      "target \"u_bad\": args: must not be NULL when nargs is 1");
	CHECK_REFUSED(PLUGIN_WITH(((struct spawnd_target){ .name = "u_bad", .run = run_nothing, .nargs = 65,
							  .args = one_args })),
		      "target \"u_bad\": nargs: must be at most 64");
	CHECK(find_added("u_fine") == NULL && find_added("u_bad") == NULL);
}

static const char *const empty_enum[] = { NULL };
static const char *const twice_enum[] = { "a", "b", "a", NULL };
static const char *const long_enum[] = { "abc", "abcdef", NULL };

static void refuses_bad_arg_specs(void)
{
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "1x" })),
		      "target \"u_bad\": args[0].name: must be 1-64 characters of [A-Za-z0-9_], not starting with a digit");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = NULL })),
		      "target \"u_bad\": args[0].name: must be 1-64 characters of [A-Za-z0-9_], not starting with a digit");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a" }, { .name = "a" })),
		      "target \"u_bad\": args.a: is declared twice");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .type = (enum spawnd_arg_type)7 })),
		      "target \"u_bad\": args.a.type: 7 is not a spawnd_arg_type");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .variadic = true }, { .name = "b" })),
		      "target \"u_bad\": args.a.variadic: only the last argument may be variadic");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .type = SPAWND_ARG_INTEGER, .pattern = "[0-9]" })),
		      "target \"u_bad\": args.a: enum, pattern and max_length apply to string arguments only");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .max_length = -1 })),
		      "target \"u_bad\": args.a.max_length: must not be negative");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .pattern = "(" })),
		      "target \"u_bad\": args.a.pattern: does not compile as a POSIX extended regular expression: *");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .enum_values = empty_enum })),
		      "target \"u_bad\": args.a.enum: must list at least one value");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .enum_values = twice_enum })),
		      "target \"u_bad\": args.a.enum[2]: is listed twice");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .enum_values = long_enum, .max_length = 3 })),
		      "target \"u_bad\": args.a.enum[1]: is longer than max_length");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .enum_values = long_enum, .pattern = "abc" })),
		      "target \"u_bad\": args.a.enum[1]: does not match pattern");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .has_min = true })),
		      "target \"u_bad\": args.a.min: applies to integer and number arguments only");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .type = SPAWND_ARG_INTEGER, .has_max = true,
						      .max = 1.5 })),
		      "target \"u_bad\": args.a.max: must be an integer within int64");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .type = SPAWND_ARG_NUMBER, .has_min = true,
						      .min = INFINITY })),
		      "target \"u_bad\": args.a.min: must be a finite number");
	CHECK_REFUSED(PLUGIN_WITH(TARGET_WITH_ARGS({ .name = "a", .type = SPAWND_ARG_NUMBER, .has_min = true,
						      .min = 2, .has_max = true, .max = 1 })),
		      "target \"u_bad\": args.a.max: must not be less than min");
}

/* --- folders --- */

static bool touch(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static void load_dir_errors(void)
{
	char dir[200], err[1024] = "", sub[260], to[260], expected[600];
	const char *fixtures = getenv("SPAWND_FIXTURES") ? getenv("SPAWND_FIXTURES") : "build/tests/fixtures";
	char from[PATH_MAX + 32], real[PATH_MAX];
	size_t before, after;

	snprintf(dir, sizeof dir, "%.150s/spawnd-unit-plugin.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(dir));
	plugin_targets(&before);

	/* no such folder */
	snprintf(sub, sizeof sub, "%s/nope", dir);
	CHECK(plugin_load_dir(sub, err, sizeof err) == -ENOENT);
	snprintf(expected, sizeof expected, "%s: No such file or directory", sub);
	CHECK_STR(err, expected);

	/* empty, or only files that are not plugins: fine, nothing added */
	snprintf(sub, sizeof sub, "%s/README", dir);
	CHECK(touch(sub, "read me\n"));
	snprintf(sub, sizeof sub, "%s/.hidden.so", dir);
	CHECK(touch(sub, ""));
	CHECK_INT(plugin_load_dir(dir, err, sizeof err), 0);
	plugin_targets(&after);
	CHECK_INT(after, before);

	/* a folder named like a plugin */
	snprintf(sub, sizeof sub, "%s/x.so", dir);
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(plugin_load_dir(dir, err, sizeof err) == -EINVAL);
	snprintf(expected, sizeof expected, "%s: not a regular file", sub);
	CHECK_STR(err, expected);
	rmdir(sub);

	/* not a shared library */
	snprintf(sub, sizeof sub, "%s/text.so", dir);
	CHECK(touch(sub, "not ELF\n"));
	CHECK(plugin_load_dir(dir, err, sizeof err) == -EINVAL);
	snprintf(expected, sizeof expected, "%s: cannot load: ", sub);
	CHECK_MSG(strncmp(err, expected, strlen(expected)) == 0, "%s", err);
	unlink(sub);

	/* the fixtures: wrong ABI, no entry point */
	CHECK_MSG(realpath(fixtures, real), "fixtures %s not built", fixtures);
	snprintf(from, sizeof from, "%s/plugin_bad_abi.so", real);
	snprintf(to, sizeof to, "%s/plugin_bad_abi.so", dir);
	CHECK(symlink(from, to) == 0);
	CHECK(plugin_load_dir(dir, err, sizeof err) == -EINVAL);
	snprintf(expected, sizeof expected, "%s: built for plugin ABI 99, but this spawnd loads ABI 1 "
		 "(rebuild it against this spawnd's include/spawnd_target.h)", to);
	CHECK_STR(err, expected);
	unlink(to);
	snprintf(from, sizeof from, "%s/plugin_no_init.so", real);
	snprintf(to, sizeof to, "%s/plugin_no_init.so", dir);
	CHECK(symlink(from, to) == 0);
	CHECK(plugin_load_dir(dir, err, sizeof err) == -EINVAL);
	snprintf(expected, sizeof expected, "%s: not a spawnd plugin: it does not export spawnd_plugin_init()", to);
	CHECK_STR(err, expected);
	unlink(to);

	plugin_targets(&after);
	CHECK_INT(after, before);
	snprintf(sub, sizeof sub, "%s/README", dir);
	unlink(sub);
	snprintf(sub, sizeof sub, "%s/.hidden.so", dir);
	unlink(sub);
	CHECK(rmdir(dir) == 0);
}

static void table_has_a_limit(void)
{
	static struct spawnd_target many[PLUGIN_TARGETS_MAX + 1];
	static char names[PLUGIN_TARGETS_MAX + 1][16];
	struct spawnd_plugin plugin = { .abi = SPAWND_TARGET_ABI, .targets = many, .ntargets = PLUGIN_TARGETS_MAX + 1 };
	char err[512] = "";
	size_t before, after;

	for (size_t i = 0; i < PLUGIN_TARGETS_MAX + 1; i++) {
		snprintf(names[i], sizeof names[i], "u_many%zu", i);
		many[i] = (struct spawnd_target){ .name = names[i], .run = run_nothing };
	}
	plugin_targets(&before);
	CHECK_INT(plugin_add(&plugin, "many.so", err, sizeof err), -ENOSPC);
	CHECK_STR(err, "many.so: 257 targets would make more than 256 plugin targets in all");
	plugin_targets(&after);
	CHECK_INT(after, before);
	/* Exactly up to the limit is fine, and the last slot's trampoline works. */
	plugin.ntargets = PLUGIN_TARGETS_MAX - before;
	CHECK_MSG(plugin_add(&plugin, "many.so", err, sizeof err) == 0, "%s", err);
	const struct target *last = find_added(names[PLUGIN_TARGETS_MAX - before - 1]);
	CHECK(last && last->fn && last->fn(NULL, NULL) == 0);
}

int main(void)
{
	RUN(converts_descriptors);
	RUN(validates_with_converted_specs);
	RUN(trampolines_call_their_own_run);
	RUN(accessors_read_canonical_values);
	RUN(refuses_bad_plugins);
	RUN(refuses_bad_targets);
	RUN(refuses_bad_arg_specs);
	RUN(load_dir_errors);
	RUN(table_has_a_limit);
	return CHECK_EXIT();
}
