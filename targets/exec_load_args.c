/* exec_load_args — a target's "args" (argument specs) and "argv" (the
 * template): see exec_load.h for the format.
 *
 * A spec's constraints must fit its type (a pattern on an integer is an
 * error, not ignored), and its enum values must pass its other constraints,
 * or they could never be used. Every argument must appear in argv, and every
 * optional group must hold a placeholder to depend on.
 */
#include "targets/exec_load_internal.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "targets/pattern.h"
#include "targets/registry.h"

#define MAX_LENGTH_MAX (1 << 20)

/* --- args --- */

static const char *const arg_keys[] = {
	"name", "type", "required", "variadic", "enum", "pattern", "min", "max", "max_length", "allow_dash", "root", NULL
};
static const char *const type_keys[] = { "string", "integer", "number", "boolean", "path", NULL };

static int load_enum(struct loader *l, const cJSON *list, struct arg_spec *spec, const char *prefix)
{
	char field[200];
	size_t n = (size_t)cJSON_GetArraySize(list), i = 0;
	char **values;
	const cJSON *v;

	snprintf(field, sizeof field, "%senum", prefix);
	if (spec->type != ARG_STRING)
		return exec_load_fail(l, field, "applies to string arguments only");
	if (!cJSON_IsArray(list) || n == 0)
		return exec_load_fail(l, field, "must be a non-empty array of strings");
	values = exec_file_calloc(l->f, n + 1, sizeof *values);
	if (!values)
		return exec_load_nomem(l);
	cJSON_ArrayForEach(v, list) {
		snprintf(field, sizeof field, "%senum[%zu]", prefix, i);
		if (!cJSON_IsString(v))
			return exec_load_fail(l, field, "must be a string");
		for (size_t j = 0; j < i; j++)
			if (strcmp(values[j], v->valuestring) == 0)
				return exec_load_fail(l, field, "is listed twice");
		if (!(values[i++] = exec_file_strdup(l->f, v->valuestring)))
			return exec_load_nomem(l);
	}
	spec->enum_values = (const char *const *)values;
	return 0;
}

/* Enum values must themselves pass the arg's other constraints, or they
 * could never be used. */
static int check_enum_values(struct loader *l, const struct arg_spec *spec, const char *prefix)
{
	char field[200];
	regex_t re;
	bool have_re = spec->pattern && regcomp(&re, spec->pattern, REG_EXTENDED) == 0;
	int rc = 0;

	for (size_t i = 0; spec->enum_values && spec->enum_values[i] && rc == 0; i++) {
		const char *v = spec->enum_values[i];
		snprintf(field, sizeof field, "%senum[%zu]", prefix, i);
		if (spec->max_length > 0 && strlen(v) > (size_t)spec->max_length)
			rc = exec_load_fail(l, field, "is longer than max_length");
		else if (v[0] == '-' && !spec->allow_dash)
			rc = exec_load_fail(l, field, "starts with \"-\", which is refused unless allow_dash is true");
		else if (have_re && !pattern_full_match(&re, v))
			rc = exec_load_fail(l, field, "does not match pattern");
	}
	if (have_re)
		regfree(&re);
	return rc;
}

/* A path argument's root: required for it, refused for other types. Kept
 * resolved, since requests' paths are compared once resolved. */
static int load_root(struct loader *l, const cJSON *obj, struct arg_spec *spec, const char *prefix)
{
	char field[200], resolved[PATH_MAX];
	const char *root = NULL;
	struct stat st;
	int rc;

	snprintf(field, sizeof field, "%sroot", prefix);
	if ((rc = exec_load_string(l, obj, "root", field, &root)) < 0)
		return rc;
	if (spec->type != ARG_PATH)
		return rc > 0 ? exec_load_fail(l, field, "applies to path arguments only") : 0;
	if (rc == 0)
		return exec_load_fail(l, field, "is required for a path argument: the folder its values must stay in");
	if (root[0] != '/')
		return exec_load_fail(l, field, "must be an absolute path");
	if (!realpath(root, resolved) || stat(resolved, &st) != 0)
		return exec_load_fail(l, field, "%s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return exec_load_fail(l, field, "%s: is not a directory", root);
	spec->root = exec_file_strdup(l->f, resolved);
	return spec->root ? 0 : exec_load_nomem(l);
}

/* The arg's name, unique among the earlier ones; *prefix becomes "args.<name>.". */
static int load_arg_name(struct loader *l, const cJSON *obj, size_t index, struct arg_spec *spec,
			 const struct arg_spec *earlier, char *prefix, size_t prefix_len)
{
	char field[200];
	int rc;

	snprintf(prefix, prefix_len, "args[%zu]", index);
	if (!cJSON_IsObject(obj))
		return exec_load_fail(l, prefix, "must be an object");
	snprintf(field, sizeof field, "%s.name", prefix);
	if ((rc = exec_load_string(l, obj, "name", field, &spec->name)) < 0)
		return rc;
	if (rc == 0)
		return exec_load_fail(l, field, "is required");
	if (!target_identifier(spec->name, TARGET_ARG_NAME_MAX))
		return exec_load_fail(l, field, "must be 1-%d characters of [A-Za-z0-9_], not starting with a digit", TARGET_ARG_NAME_MAX);
	for (size_t i = 0; i < index; i++)
		if (strcmp(earlier[i].name, spec->name) == 0)
			return exec_load_fail(l, field, "\"%s\" is declared twice", spec->name);
	snprintf(prefix, prefix_len, "args.%s.", spec->name);
	return exec_load_check_keys(l, obj, arg_keys, prefix);
}

/* type, required, variadic, allow_dash. */
static int load_arg_kind(struct loader *l, const cJSON *obj, bool last, struct arg_spec *spec, const char *prefix)
{
	char field[200];
	const char *type = NULL;
	int rc;

	snprintf(field, sizeof field, "%stype", prefix);
	if ((rc = exec_load_string(l, obj, "type", field, &type)) < 0)
		return rc;
	if (rc == 0)
		return exec_load_fail(l, field, "is required");
	for (spec->type = 0; type_keys[spec->type] && strcmp(type_keys[spec->type], type) != 0; spec->type++)
		;
	if (!type_keys[spec->type])
		return exec_load_fail(l, field, "must be one of: string, integer, number, boolean, path");

	snprintf(field, sizeof field, "%srequired", prefix);
	if ((rc = exec_load_bool(l, obj, "required", field, &spec->required)) < 0)
		return rc;
	snprintf(field, sizeof field, "%svariadic", prefix);
	if ((rc = exec_load_bool(l, obj, "variadic", field, &spec->variadic)) < 0)
		return rc;
	if (spec->variadic && !last)
		return exec_load_fail(l, field, "only the last argument may be variadic");
	snprintf(field, sizeof field, "%sallow_dash", prefix);
	if ((rc = exec_load_bool(l, obj, "allow_dash", field, &spec->allow_dash)) < 0)
		return rc;
	if (rc > 0 && (spec->type == ARG_BOOLEAN || spec->type == ARG_PATH))
		return exec_load_fail(l, field, "applies to string, integer and number arguments only");
	return 0;
}

/* pattern and max_length: string arguments only. */
static int load_arg_text(struct loader *l, const cJSON *obj, struct arg_spec *spec, const char *prefix)
{
	char field[200];
	double d;
	int rc;

	snprintf(field, sizeof field, "%spattern", prefix);
	if ((rc = exec_load_string(l, obj, "pattern", field, &spec->pattern)) < 0)
		return rc;
	if (rc > 0) {
		regex_t re;
		int code;
		if (spec->type != ARG_STRING)
			return exec_load_fail(l, field, "applies to string arguments only");
		if ((code = regcomp(&re, spec->pattern, REG_EXTENDED)) != 0) {
			char why[120];
			regerror(code, &re, why, sizeof why);
			return exec_load_fail(l, field, "does not compile as a POSIX extended regular expression: %s", why);
		}
		regfree(&re);
	}

	snprintf(field, sizeof field, "%smax_length", prefix);
	if ((rc = exec_load_number(l, obj, "max_length", field, true, 1, MAX_LENGTH_MAX, &d)) < 0)
		return rc;
	if (rc > 0 && spec->type != ARG_STRING)
		return exec_load_fail(l, field, "applies to string arguments only");
	spec->max_length = rc > 0 ? (long)d : 0;
	return 0;
}

/* min and max: integer and number arguments only. */
static int load_arg_bounds(struct loader *l, const cJSON *obj, struct arg_spec *spec, const char *prefix)
{
	static const char *const bound_keys[] = { "min", "max" };
	bool integral = spec->type == ARG_INTEGER;
	double lowest = integral ? -9223372036854775808.0 : -1.7976931348623157e308;
	double highest = integral ? 9223372036854774784.0 : 1.7976931348623157e308;
	char field[200];
	double d;
	int rc;

	for (int b = 0; b < 2; b++) {
		snprintf(field, sizeof field, "%s%s", prefix, bound_keys[b]);
		if ((rc = exec_load_number(l, obj, bound_keys[b], field, integral, lowest, highest, &d)) < 0)
			return rc;
		if (rc > 0 && spec->type != ARG_INTEGER && spec->type != ARG_NUMBER)
			return exec_load_fail(l, field, "applies to integer and number arguments only");
		if (rc > 0 && b == 0) {
			spec->has_min = true;
			spec->min = d;
		} else if (rc > 0) {
			spec->has_max = true;
			spec->max = d;
		}
	}
	if (spec->has_min && spec->has_max && spec->min > spec->max)
		return exec_load_fail(l, field, "must not be less than min");
	return 0;
}

static int load_arg(struct loader *l, const cJSON *obj, size_t index, bool last, struct arg_spec *spec,
		    const struct arg_spec *earlier)
{
	char prefix[100];
	const cJSON *list;
	int rc;

	if ((rc = load_arg_name(l, obj, index, spec, earlier, prefix, sizeof prefix)) < 0 ||
	    (rc = load_arg_kind(l, obj, last, spec, prefix)) < 0 ||
	    (rc = load_arg_text(l, obj, spec, prefix)) < 0 ||
	    (rc = load_arg_bounds(l, obj, spec, prefix)) < 0)
		return rc;
	list = cJSON_GetObjectItemCaseSensitive(obj, "enum");
	if (list && !cJSON_IsNull(list) && (rc = load_enum(l, list, spec, prefix)) < 0)
		return rc;
	if ((rc = load_root(l, obj, spec, prefix)) < 0)
		return rc;
	return check_enum_values(l, spec, prefix);
}

int exec_load_args(struct loader *l, const cJSON *obj, struct target *t)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "args"), *item;
	struct arg_spec *specs;
	size_t n, i = 0;
	int rc;

	if (!list || cJSON_IsNull(list))
		return 0;
	n = (size_t)cJSON_GetArraySize(list);
	if (!cJSON_IsArray(list))
		return exec_load_fail(l, "args", "must be an array of argument specs");
	if (n > EXEC_ARGS_MAX)
		return exec_load_fail(l, "args", "must declare at most %d arguments", EXEC_ARGS_MAX);
	specs = exec_file_calloc(l->f, n, sizeof *specs);
	if (!specs)
		return exec_load_nomem(l);
	cJSON_ArrayForEach(item, list) {
		/* A python target's values never reach an option parser (they come
		 * after "-c CODE"): a leading "-" is allowed unless the file says not. */
		specs[i].allow_dash = cJSON_GetObjectItemCaseSensitive(obj, "python") != NULL;
		if ((rc = load_arg(l, item, i, i + 1 == n, &specs[i], specs)) < 0)
			return rc;
		i++;
	}
	t->args = specs;
	t->nargs = n;
	return 0;
}

/* --- argv template --- */

/* 1 and *arg when word is a placeholder of a declared arg, 0 for a literal,
 * <0 for a word that looks like a placeholder but names no argument. */
static int parse_word(struct loader *l, const struct target *t, const char *word, const char *field, size_t *arg)
{
	size_t len = strlen(word);
	char name[TARGET_ARG_NAME_MAX + 1];

	if (len < 2 || word[0] != '{' || word[len - 1] != '}')
		return 0;
	if (len - 2 > TARGET_ARG_NAME_MAX)
		return exec_load_fail(l, field, "placeholder %.80s names no declared argument", word);
	memcpy(name, word + 1, len - 2);
	name[len - 2] = '\0';
	for (*arg = 0; *arg < t->nargs; (*arg)++)
		if (strcmp(t->args[*arg].name, name) == 0)
			return 1;
	return exec_load_fail(l, field, "placeholder %.80s names no declared argument", word);
}

static int add_word(struct loader *l, struct target *t, struct exec_word *w, const cJSON *item,
		    const char *field, int group, bool *used)
{
	int rc;

	if (!cJSON_IsString(item))
		return exec_load_fail(l, field, group ? "must be a string" : "must be a string or an array of strings (an optional group)");
	rc = parse_word(l, t, item->valuestring, field, &w->arg);
	if (rc < 0)
		return rc;
	w->group = group;
	if (rc > 0) {
		used[w->arg] = true;
		return 1;
	}
	w->text = exec_file_strdup(l->f, item->valuestring);
	return w->text ? 0 : exec_load_nomem(l);
}

int exec_load_argv(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "argv"), *item;
	struct exec_word *words;
	bool used[EXEC_ARGS_MAX] = { false };
	size_t n = 0, i = 0;
	int group = 0, rc;
	char field[100];

	if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
		return exec_load_fail(l, "argv", "must be an array of words");
	cJSON_ArrayForEach(item, list)
		n += cJSON_IsArray(item) ? (size_t)cJSON_GetArraySize(item) : 1;
	if (n > EXEC_WORDS_MAX)
		return exec_load_fail(l, "argv", "must have at most %d words", EXEC_WORDS_MAX);
	words = exec_file_calloc(l->f, n, sizeof *words);
	if (!words)
		return exec_load_nomem(l);
	cJSON_ArrayForEach(item, list) {
		const cJSON *member;
		size_t k = 0;
		int placeholders = 0;

		snprintf(field, sizeof field, "argv[%zu]", i++);
		if (!cJSON_IsArray(item)) {
			if ((rc = add_word(l, t, &words[spec->nwords++], item, field, 0, used)) < 0)
				return rc;
			continue;
		}
		group++;
		if (cJSON_GetArraySize(item) == 0)
			return exec_load_fail(l, field, "an optional group must not be empty");
		cJSON_ArrayForEach(member, item) {
			char member_field[140];
			snprintf(member_field, sizeof member_field, "%s[%zu]", field, k++);
			if ((rc = add_word(l, t, &words[spec->nwords++], member, member_field, group, used)) < 0)
				return rc;
			placeholders += rc;
		}
		if (placeholders == 0)
			return exec_load_fail(l, field, "an optional group needs a placeholder to depend on");
	}
	spec->words = words;
	for (size_t a = 0; a < t->nargs; a++) {
		if (!used[a]) {
			snprintf(field, sizeof field, "args.%s", t->args[a].name);
			return exec_load_fail(l, field, "is not used in argv (add \"{%s}\")", t->args[a].name);
		}
	}
	return 0;
}

