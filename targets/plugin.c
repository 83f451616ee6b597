/* plugin — loads plugin targets and runs them in the worker.
 *
 * A plugin describes its targets with the public types of
 * include/spawnd_target.h, which know nothing of spawnd's registry or of cJSON.
 * Loading checks every descriptor as strictly as the targets file is checked
 * (a bad spec refuses to start the server rather than misbehave on a request)
 * and converts it to a struct target of kind TARGET_PLUGIN.
 *
 * The registry calls a target as fn(canonical_args, ctx): nothing tells the
 * function which target it is. A plugin target's fn therefore cannot be one
 * shared function; each slot of the table gets its own tiny trampoline that
 * knows its index, converts the canonical cJSON arguments to the opaque
 * struct spawnd_args and calls the plugin's run function. That fixes the
 * number of plugin targets at PLUGIN_TARGETS_MAX.
 *
 * The table is static, filled once at startup before any thread exists and
 * never changed afterwards, so the fork server and its workers see the same
 * table and the request threads read it without locks.
 */
#define _GNU_SOURCE
#include "targets/plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/number.h"
#include "targets/builtin.h"
#include "targets/pattern.h"
#include "targets/plugin_args.h"
#include "targets/registry.h"

#define ARGS_MAX 64
#define TIMEOUT_MAX 1e7              /* seconds, as for exec targets */
#define MAX_RUNNING_MAX 100000
#define ENUM_MAX 4096

/* What the table owns for each plugin target, next to its struct target. */
struct plugin_slot {
	spawnd_run_fn run;
	struct arg_spec *args;
	char *source;                /* "plugin:<file>" */
};

static struct target table[PLUGIN_TARGETS_MAX];
static struct plugin_slot slots[PLUGIN_TARGETS_MAX];
static size_t table_count;

/* --- the worker side: one trampoline per slot --- */

/* Runs table[slot] in the worker. */
static int plugin_run(size_t slot, const cJSON *canonical, const struct target_ctx *ctx)
{
	static const char no_args[] = "spawnd: cannot prepare the plugin target's arguments\n";
	struct spawnd_process self = {
		.id = ctx && ctx->id ? ctx->id : "",
		.name = ctx && ctx->name ? ctx->name : "",
		.pid = getpid(),
	};
	struct spawnd_args *args;
	int code;

	if (slot >= table_count || plugin_args_from_json(&table[slot], canonical, &args) < 0) {
		ssize_t unused = write(STDERR_FILENO, no_args, sizeof no_args - 1);
		(void)unused;
		return 70;
	}
	code = slots[slot].run(args, &self);
	plugin_args_free(args);
	return code;
}

/* One trampoline per slot: trampoline_3f runs slot 0x3f. */
#define TRAMPOLINE(hi, lo) \
	static int trampoline_##hi##lo(const cJSON *args, const struct target_ctx *ctx) \
	{ \
		return plugin_run(0x##hi##lo, args, ctx); \
	}
#define TRAMPOLINE_ENTRY(hi, lo) trampoline_##hi##lo,
#define SIXTEEN(X, hi) X(hi, 0) X(hi, 1) X(hi, 2) X(hi, 3) X(hi, 4) X(hi, 5) X(hi, 6) X(hi, 7) \
	X(hi, 8) X(hi, 9) X(hi, a) X(hi, b) X(hi, c) X(hi, d) X(hi, e) X(hi, f)
#define ALL_SLOTS(X) SIXTEEN(X, 0) SIXTEEN(X, 1) SIXTEEN(X, 2) SIXTEEN(X, 3) SIXTEEN(X, 4) \
	SIXTEEN(X, 5) SIXTEEN(X, 6) SIXTEEN(X, 7) SIXTEEN(X, 8) SIXTEEN(X, 9) SIXTEEN(X, a) \
	SIXTEEN(X, b) SIXTEEN(X, c) SIXTEEN(X, d) SIXTEEN(X, e) SIXTEEN(X, f)

ALL_SLOTS(TRAMPOLINE)
static const target_fn trampolines[] = { ALL_SLOTS(TRAMPOLINE_ENTRY) };
_Static_assert(sizeof trampolines / sizeof trampolines[0] == PLUGIN_TARGETS_MAX,
	       "one trampoline per plugin target slot");

/* --- checking and converting descriptors --- */

struct checker {
	const char *file;
	char *err;
	size_t errlen;
	char label[300];    /* "target \"greet\"" or "targets[2]" */
};

static int fail(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct checker *c, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s%s%s", c->file, c->label, c->label[0] ? ": " : "", message);
	return -EINVAL;
}

static int check_enum(struct checker *c, const struct spawnd_arg_spec *spec, const char *field)
{
	regex_t re;
	bool have_re = spec->pattern && regcomp(&re, spec->pattern, REG_EXTENDED) == 0;
	int rc = 0;
	size_t i;

	for (i = 0; rc == 0 && spec->enum_values[i]; i++) {
		const char *v = spec->enum_values[i];
		if (i == ENUM_MAX)
			rc = fail(c, "%s.enum: must list at most %d values (is it NULL-terminated?)", field, ENUM_MAX);
		else if (spec->max_length > 0 && strlen(v) > (size_t)spec->max_length)
			rc = fail(c, "%s.enum[%zu]: is longer than max_length", field, i);
		else if (have_re && !pattern_full_match(&re, v))
			rc = fail(c, "%s.enum[%zu]: does not match pattern", field, i);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(spec->enum_values[j], v) == 0)
				rc = fail(c, "%s.enum[%zu]: is listed twice", field, i);
	}
	if (rc == 0 && i == 0)
		rc = fail(c, "%s.enum: must list at least one value", field);
	if (have_re)
		regfree(&re);
	return rc;
}

static int check_bounds(struct checker *c, const struct spawnd_arg_spec *spec, const char *field)
{
	static const char *const names[] = { "min", "max" };
	const bool has[] = { spec->has_min, spec->has_max };
	const double value[] = { spec->min, spec->max };

	for (int b = 0; b < 2; b++) {
		if (!has[b])
			continue;
		if (spec->type != SPAWND_ARG_INTEGER && spec->type != SPAWND_ARG_NUMBER)
			return fail(c, "%s.%s: applies to integer and number arguments only", field, names[b]);
		if (!isfinite(value[b]))
			return fail(c, "%s.%s: must be a finite number", field, names[b]);
		int64_t integer;
		if (spec->type == SPAWND_ARG_INTEGER && !number_int64(value[b], &integer))
			return fail(c, "%s.%s: must be an integer within int64", field, names[b]);
	}
	if (spec->has_min && spec->has_max && spec->min > spec->max)
		return fail(c, "%s.max: must not be less than min", field);
	return 0;
}

static int check_arg(struct checker *c, const struct spawnd_target *t, size_t j)
{
	const struct spawnd_arg_spec *spec = &t->args[j];
	char field[100];
	regex_t re;
	int code;

	if (!target_identifier(spec->name, TARGET_ARG_NAME_MAX))
		return fail(c, "args[%zu].name: must be 1-%d characters of [A-Za-z0-9_], not starting with a digit",
			    j, TARGET_ARG_NAME_MAX);
	snprintf(field, sizeof field, "args.%s", spec->name);
	for (size_t i = 0; i < j; i++)
		if (strcmp(t->args[i].name, spec->name) == 0)
			return fail(c, "%s: is declared twice", field);
	if ((unsigned)spec->type > SPAWND_ARG_BOOLEAN)
		return fail(c, "%s.type: %d is not a spawnd_arg_type", field, (int)spec->type);
	if (spec->variadic && j + 1 != t->nargs)
		return fail(c, "%s.variadic: only the last argument may be variadic", field);
	if (spec->type != SPAWND_ARG_STRING && (spec->enum_values || spec->pattern || spec->max_length))
		return fail(c, "%s: enum, pattern and max_length apply to string arguments only", field);
	if (spec->max_length < 0)
		return fail(c, "%s.max_length: must not be negative", field);
	if (spec->pattern && (code = regcomp(&re, spec->pattern, REG_EXTENDED)) != 0) {
		char why[120];
		regerror(code, &re, why, sizeof why);
		return fail(c, "%s.pattern: does not compile as a POSIX extended regular expression: %s", field, why);
	}
	if (spec->pattern)
		regfree(&re);
	if (spec->enum_values && check_enum(c, spec, field) < 0)
		return -EINVAL;
	return check_bounds(c, spec, field);
}

/* The name must be free among the builtins and the plugin targets added so far
 * (this plugin's earlier ones included). */
static int check_name(struct checker *c, const struct spawnd_target *t)
{
	size_t count;
	const struct target *builtins = builtin_targets(&count);

	if (!target_name_declarable(t->name))
		return fail(c, "name: " TARGET_NAME_RULE);
	snprintf(c->label, sizeof c->label, "target \"%s\"", t->name);
	for (size_t i = 0; i < count; i++)
		if (strcmp(builtins[i].name, t->name) == 0)
			return fail(c, "name: \"%s\" is already a builtin target", t->name);
	for (size_t i = 0; i < table_count; i++)
		if (strcmp(table[i].name, t->name) == 0)
			return fail(c, "name: \"%s\" is already a target of %s", t->name,
				    slots[i].source + strlen("plugin:"));
	return 0;
}

static int check_target(struct checker *c, const struct spawnd_target *t)
{
	int rc;

	if ((rc = check_name(c, t)) < 0)
		return rc;
	if (!t->run)
		return fail(c, "run: must not be NULL");
	if (!(t->timeout >= 0 && t->timeout <= TIMEOUT_MAX))
		return fail(c, "timeout: must be 0 (none) to %g seconds", TIMEOUT_MAX);
	if (t->max_running < 0 || t->max_running > MAX_RUNNING_MAX)
		return fail(c, "max_running: must be 0 (no limit) to %d", MAX_RUNNING_MAX);
	if (t->nargs > ARGS_MAX)
		return fail(c, "nargs: must be at most %d", ARGS_MAX);
	if (t->nargs && !t->args)
		return fail(c, "args: must not be NULL when nargs is %zu", t->nargs);
	for (size_t j = 0; j < t->nargs; j++)
		if ((rc = check_arg(c, t, j)) < 0)
			return rc;
	return 0;
}

static const enum arg_type internal_types[] = {
	[SPAWND_ARG_STRING] = ARG_STRING, [SPAWND_ARG_INTEGER] = ARG_INTEGER,
	[SPAWND_ARG_NUMBER] = ARG_NUMBER, [SPAWND_ARG_BOOLEAN] = ARG_BOOLEAN,
};

/* Fills table[index] from a checked descriptor. */
static int convert_target(const struct spawnd_target *t, const char *file, size_t index)
{
	struct plugin_slot *slot = &slots[index];

	slot->run = t->run;
	slot->args = calloc(t->nargs ? t->nargs : 1, sizeof *slot->args);
	if (!slot->args || asprintf(&slot->source, "plugin:%s", file) < 0) {
		free(slot->args);
		memset(slot, 0, sizeof *slot);
		return -ENOMEM;
	}
	for (size_t j = 0; j < t->nargs; j++) {
		const struct spawnd_arg_spec *from = &t->args[j];
		slot->args[j] = (struct arg_spec){
			.name = from->name,
			.type = internal_types[from->type],
			.required = from->required,
			.variadic = from->variadic,
			.enum_values = from->enum_values,
			.pattern = from->pattern,
			.has_min = from->has_min, .has_max = from->has_max,
			.min = from->min, .max = from->max,
			.max_length = from->max_length,
		};
	}
	table[index] = (struct target){
		.name = t->name,
		.kind = TARGET_PLUGIN,
		.description = t->description ? t->description : "",
		.args = slot->args,
		.nargs = t->nargs,
		.fn = trampolines[index],
		.timeout = t->timeout,
		.max_running = t->max_running,
		.source = slot->source,
	};
	return 0;
}

/* Forgets the targets from index `keep` on. */
static void truncate_table(size_t keep)
{
	for (size_t i = keep; i < table_count; i++) {
		free(slots[i].args);
		free(slots[i].source);
		memset(&slots[i], 0, sizeof slots[i]);
		memset(&table[i], 0, sizeof table[i]);
	}
	table_count = keep < table_count ? keep : table_count;
}

int plugin_add(const struct spawnd_plugin *plugin, const char *file, char *err, size_t errlen)
{
	struct checker c = { .file = file, .err = err, .errlen = errlen };
	size_t start = table_count;
	int rc;

	if (plugin->abi != SPAWND_TARGET_ABI)
		return fail(&c, "built for plugin ABI %d, but this spawnd loads ABI %d "
			    "(rebuild it against this spawnd's include/spawnd_target.h)", plugin->abi, SPAWND_TARGET_ABI);
	if (plugin->ntargets && !plugin->targets)
		return fail(&c, "targets: must not be NULL when ntargets is %zu", plugin->ntargets);
	if (plugin->ntargets > PLUGIN_TARGETS_MAX - table_count) {
		snprintf(err, errlen, "%s: %zu targets would make more than %d plugin targets in all", file,
			 plugin->ntargets, PLUGIN_TARGETS_MAX);
		return -ENOSPC;
	}
	for (size_t i = 0; i < plugin->ntargets; i++) {
		snprintf(c.label, sizeof c.label, "targets[%zu]", i);
		if ((rc = check_target(&c, &plugin->targets[i])) < 0)
			goto fail;
		if ((rc = convert_target(&plugin->targets[i], file, table_count)) < 0) {
			snprintf(err, errlen, "%s: out of memory", file);
			goto fail;
		}
		table_count++;
	}
	return 0;
fail:
	truncate_table(start);
	return rc;
}

const struct target *plugin_targets(size_t *count)
{
	*count = table_count;
	return table;
}

/* --- loading a folder --- */

static int is_plugin_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 3 && strcmp(d->d_name + len - 3, ".so") == 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Opens dir/name and adds its targets. On failure *handle may still be set
 * (the caller closes it) and err says why, naming the file. */
static int load_one(const char *dir, const char *name, void **handle, char *err, size_t errlen)
{
	const struct spawnd_plugin *(*init)(void);
	const struct spawnd_plugin *plugin;
	char path[4096], why[1024];
	const char *dl_why;
	struct stat st;
	int rc;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
		snprintf(err, errlen, "%s/%s: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*handle) {
		dl_why = dlerror();
		dl_why = dl_why ? dl_why : "unknown error";
		if (strncmp(dl_why, path, strlen(path)) == 0 && strncmp(dl_why + strlen(path), ": ", 2) == 0)
			dl_why += strlen(path) + 2;
		snprintf(err, errlen, "%s: cannot load: %s", path, dl_why);
		return -EINVAL;
	}
	init = (const struct spawnd_plugin *(*)(void))dlsym(*handle, "spawnd_plugin_init");
	if (!init) {
		snprintf(err, errlen, "%s: not a spawnd plugin: it does not export spawnd_plugin_init()", path);
		return -EINVAL;
	}
	plugin = init();
	if (!plugin) {
		snprintf(err, errlen, "%s: spawnd_plugin_init() returned NULL (the plugin refused to load)", path);
		return -EINVAL;
	}
	if ((rc = plugin_add(plugin, name, why, sizeof why)) < 0)
		snprintf(err, errlen, "%s/%s", dir, why);
	return rc;
}

int plugin_load_dir(const char *dir, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	void **handles = NULL;
	size_t start = table_count;
	int n, i, rc = 0;

	n = scandir(dir, &names, is_plugin_file, by_name);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	handles = calloc((size_t)n + 1, sizeof *handles);
	if (!handles) {
		snprintf(err, errlen, "%s: out of memory", dir);
		rc = -ENOMEM;
	}
	for (i = 0; rc == 0 && i < n; i++)
		rc = load_one(dir, names[i]->d_name, &handles[i], err, errlen);
	if (rc < 0) {
		truncate_table(start);
		for (int j = n - 1; handles && j >= 0; j--)
			if (handles[j])
				dlclose(handles[j]);
	} else {
		targets_set_plugins(table, table_count);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(handles);
	return rc;
}
