/* argv — expanding an exec target's argv template.
 *
 * Two passes over the template: one counts the elements, one fills them, so
 * the vector is allocated once. Every allocation failure fails the whole
 * build, and the fill must produce exactly the counted elements: a command
 * line missing a word would run a different command, so nothing shorter is
 * ever returned. No shell is involved and values are never split or
 * interpolated inside a word.
 */
#include "targets/argv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"
#include "lib/strv.h"

void target_free_argv(char **argv)
{
	strv_free(argv);
}

/* The text of one canonical value: strings as they are, integers in decimal,
 * numbers in their shortest exact form, booleans as true/false. NULL on
 * ENOMEM or for a value of no such type. */
static char *value_text(const cJSON *v)
{
	char buf[64];

	if (cJSON_IsString(v) && v->valuestring)
		return strdup(v->valuestring);
	if (cJSON_IsBool(v))
		return strdup(cJSON_IsTrue(v) ? "true" : "false");
	if (!cJSON_IsNumber(v))
		return NULL;
	number_format(buf, sizeof buf, v->valuedouble);
	return strdup(buf);
}

/* How many argv elements the placeholder for spec expands to. */
static size_t value_count(const struct arg_spec *spec, const cJSON *canonical)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(canonical, spec->name);

	if (!v || cJSON_IsNull(v))
		return 0;
	return spec->variadic ? (size_t)cJSON_GetArraySize(v) : 1;
}

/* A group is kept when every placeholder in it has a value. */
static bool word_kept(const struct target *t, const cJSON *canonical, const struct exec_word *w)
{
	const struct exec_spec *spec = t->exec;

	if (w->group == 0)
		return true;
	for (size_t i = 0; i < spec->nwords; i++)
		if (spec->words[i].group == w->group && !spec->words[i].text &&
		    value_count(&t->args[spec->words[i].arg], canonical) == 0)
			return false;
	return true;
}

/* The elements word w adds (0 when it is left out). */
static size_t word_count(const struct target *t, const cJSON *canonical, const struct exec_word *w)
{
	if (!word_kept(t, canonical, w))
		return 0;
	return w->text ? 1 : value_count(&t->args[w->arg], canonical);
}

/* Appends the elements of w at argv[*used], never past argv[n - 1].
 * 0, -ENOMEM, or -EINVAL when they would not fit the count. */
static int fill_word(const struct target *t, const cJSON *canonical, const struct exec_word *w,
		     char **argv, size_t n, size_t *used)
{
	const struct arg_spec *arg;
	const cJSON *v, *element;

	if (word_count(t, canonical, w) == 0)
		return 0;
	if (*used >= n)
		return -EINVAL;
	if (w->text)
		return (argv[(*used)++] = strdup(w->text)) ? 0 : -ENOMEM;
	arg = &t->args[w->arg];
	v = cJSON_GetObjectItemCaseSensitive(canonical, arg->name);
	if (!arg->variadic)
		return (argv[(*used)++] = value_text(v)) ? 0 : -ENOMEM;
	cJSON_ArrayForEach(element, v) {
		if (*used >= n)
			return -EINVAL;
		if (!(argv[(*used)++] = value_text(element)))
			return -ENOMEM;
	}
	return 0;
}

int target_build_argv(const struct target *t, const cJSON *canonical, char ***argv_out)
{
	const struct exec_spec *spec = t ? t->exec : NULL;
	size_t n = 1, used = 0;
	char **argv;
	int rc = 0;

	if (!spec)
		return -EINVAL;
	for (size_t i = 0; i < spec->nwords; i++)
		n += word_count(t, canonical, &spec->words[i]);
	argv = calloc(n + 1, sizeof *argv);
	if (!argv)
		return -ENOMEM;
	if (!(argv[used++] = strdup(spec->program)))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < spec->nwords; i++)
		rc = fill_word(t, canonical, &spec->words[i], argv, n, &used);
	if (rc == 0 && used != n)
		rc = -EINVAL;
	if (rc < 0) {
		target_free_argv(argv);
		return rc;
	}
	*argv_out = argv;
	return 0;
}
