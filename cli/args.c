/* args — typing command-line words by a target's argument schema.
 *
 * Design: the schema decides, never the look of a word: `echo 007` keeps the
 * string "007" because echo's words are strings, while `exit 007` sends 7.
 * Integers go out as canonical decimal text (cJSON raw), so one beyond 2^53
 * is not rounded on the way and the server can refuse it by name. Whatever
 * does not read as its declared type goes as a string for the server to
 * refuse: the server is the one place where arguments are validated.
 */
#define _GNU_SOURCE
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/http.h"

static const char *spec_type(const cJSON *spec)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "type"));
}

static bool spec_variadic(const cJSON *spec)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "variadic"));
}

static cJSON *typed_integer(const char *word)
{
	const char *p = word + (word[0] == '-');
	char *end, text[32];
	long long v;

	if (!*p || strspn(p, "0123456789") != strlen(p))
		return NULL;
	errno = 0;
	v = strtoll(word, &end, 10);
	if (errno || *end)
		return NULL;
	snprintf(text, sizeof text, "%lld", v);
	return cJSON_CreateRaw(text);
}

static cJSON *typed_number(const char *word)
{
	char *end;
	double v;

	if (!word[0] || strpbrk(word, "xXnN ") || word[0] == '+')    /* hex, inf, nan: not JSON */
		return NULL;
	errno = 0;
	v = strtod(word, &end);
	if (errno || *end || !isfinite(v))
		return NULL;
	return cJSON_CreateNumber(v);
}

/* word as the JSON value spec asks for (a string when it does not read as one). */
static cJSON *typed(const char *word, const cJSON *spec)
{
	const char *type = spec_type(spec);
	cJSON *v = NULL;

	if (type && strcmp(type, "integer") == 0)
		v = typed_integer(word);
	else if (type && strcmp(type, "number") == 0)
		v = typed_number(word);
	else if (type && strcmp(type, "boolean") == 0 && (strcmp(word, "true") == 0 || strcmp(word, "false") == 0))
		v = cJSON_CreateBool(strcmp(word, "true") == 0);
	return v ? v : cJSON_CreateString(word);
}

/* The spec a word named key=value names, or NULL (then the word is positional). */
static const cJSON *named_spec(const char *word, const cJSON *specs, const char **value)
{
	const char *eq = strchr(word, '=');
	const cJSON *spec;

	if (!eq || eq == word)
		return NULL;
	cJSON_ArrayForEach(spec, specs) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "name"));
		if (name && strlen(name) == (size_t)(eq - word) && strncmp(name, word, (size_t)(eq - word)) == 0) {
			*value = eq + 1;
			return spec;
		}
	}
	return NULL;
}

/* The spec positional word i lands on: its own, the variadic last one, or NULL. */
static const cJSON *positional_spec(const cJSON *specs, int i)
{
	int n = cJSON_GetArraySize(specs);
	const cJSON *last = n > 0 ? cJSON_GetArrayItem(specs, n - 1) : NULL;
	if (i < n)
		return cJSON_GetArrayItem(specs, i);
	return last && spec_variadic(last) ? last : NULL;
}

/* Sets obj[spec's name] to value, appending for a variadic argument. */
static int put_named(cJSON *obj, const cJSON *spec, cJSON *value, char *why, size_t why_len)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "name"));
	cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!spec_variadic(spec)) {
		if (have) {
			snprintf(why, why_len, "argument \"%s\" is given twice", name);
			cJSON_Delete(value);
			return -1;
		}
		cJSON_AddItemToObject(obj, name, value);
		return 0;
	}
	if (!have)
		have = cJSON_AddArrayToObject(obj, name);
	cJSON_AddItemToArray(have, value);
	return 0;
}

static cJSON *build_object(char *const *words, int nwords, const cJSON *specs, char *why, size_t why_len)
{
	cJSON *obj = cJSON_CreateObject();
	int position = 0;

	for (int i = 0; obj && i < nwords; i++) {
		const char *value = words[i];
		const cJSON *spec = named_spec(words[i], specs, &value);
		if (!spec && !(spec = positional_spec(specs, position++))) {
			snprintf(why, why_len, "too many arguments: \"%s\" has no argument to fill", words[i]);
			break;
		}
		if (put_named(obj, spec, typed(value, spec), why, why_len) != 0)
			break;
		if (i + 1 == nwords)
			return obj;
	}
	if (!obj)
		snprintf(why, why_len, "out of memory");
	cJSON_Delete(obj);
	return NULL;
}

cJSON *args_build(char *const *words, int nwords, const cJSON *specs, char *why, size_t why_len)
{
	bool named = false;
	cJSON *array;

	for (int i = 0; i < nwords; i++) {
		const char *value;
		named |= named_spec(words[i], specs, &value) != NULL;
	}
	if (named)
		return build_object(words, nwords, specs, why, why_len);
	if (!(array = cJSON_CreateArray())) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	for (int i = 0; i < nwords; i++)
		cJSON_AddItemToArray(array, typed(words[i], positional_spec(specs, i)));
	return array;
}

cJSON *args_target_specs(const char *target)
{
	char *esc = http_escape(target), *path = NULL;
	struct http_resp r = { 0 };
	cJSON *specs = NULL;

	if (esc && asprintf(&path, "/targets/%s", esc) >= 0) {
		http_json("GET", path, NULL, &r);
		if (r.status == 200)
			specs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r.json, "args"), true);
		else
			http_fail(&r, target);
		if (r.status == 200 && !specs)
			specs = cJSON_CreateArray();
	}
	http_resp_release(&r);
	free(path);
	free(esc);
	return specs;
}
