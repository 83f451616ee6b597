/* cmd_objects — `spawnctl objects [KIND [NAME]]`: the shared objects of
 * every kind, of one kind, or one object described.
 *
 * Design: the kinds are a table of {word, path, summary fields}: the list
 * shows each object as one row of KIND, NAME and its few telling fields
 * ("size=2 maxsize=0 unfinished=2"), which is what a user scanning for a
 * stuck queue or a held lock needs; one object shows every field the server
 * sends, one "key: value" line each. The same table gives `queue`, `event`
 * and `lock` (cmd_sync.c) their paths.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/objects.h"
#include "cli/output.h"

const char help_objects[] =
	"Usage: spawnctl objects [KIND [NAME]] [-o json]\n"
	"\n"
	"Without KIND: every shared object of every kind, one per row (KIND, NAME, STATE).\n"
	"KIND is one of queues, events, locks, semaphores, conditions, barriers,\n"
	"namespaces (the singular works too): only those. With NAME: that object's\n"
	"fields, one \"key: value\" line each (holders, waiters, sizes).\n"
	"Piped, rows are tab-separated with no header. -o json prints the server's answers\n"
	"(for all kinds, one line per kind).\n";

static const struct obj_kind kinds[] = {
	{ "queues", "/queues", { "size", "maxsize", "unfinished", "getters", NULL } },
	{ "events", "/sync/events", { "set", NULL } },
	{ "locks", "/sync/locks", { "locked", "waiters", "fence", NULL } },
	{ "semaphores", "/sync/semaphores", { "value", "bounded", "waiters", NULL } },
	{ "conditions", "/sync/conditions", { "lock", "waiters", NULL } },
	{ "barriers", "/sync/barriers", { "parties", "waiting", "broken", NULL } },
	{ "namespaces", "/namespaces", { "version", NULL } },
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

const struct obj_kind *obj_kind_find(const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i].word, word) == 0 ||
		    (n + 1 == strlen(kinds[i].word) && strncmp(kinds[i].word, word, n) == 0))
			return &kinds[i];
	return NULL;
}

char *obj_path(const struct obj_kind *kind, const char *name, const char *suffix)
{
	char *esc = http_escape(name), *path = NULL;
	if (esc && asprintf(&path, "%s/%s%s", kind->path, esc, suffix ? suffix : "") < 0)
		path = NULL;
	free(esc);
	if (!path)
		cli_msg("out of memory");
	return path;
}

/* A field as text: strings bare, the rest as compact JSON. Caller frees. */
static char *field_text(const cJSON *v)
{
	return cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
}

/* "size=2 maxsize=0" from the kind's summary fields of obj, into buf. */
static const char *summary(const struct obj_kind *kind, const cJSON *obj, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const char *const *f = kind->fields; *f && used < cap; f++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, *f);
		char *text = v ? field_text(v) : NULL;
		int n = text ? snprintf(buf + used, cap - used, "%s%s=%s", used ? " " : "", *f, text) : 0;
		free(text);
		if (n > 0)
			used += (size_t)n < cap - used ? (size_t)n : cap - used;
	}
	return buf;
}

/* The rows of one kind into t; 0 or the exit code of a failed request. */
static int list_kind(const struct cli *cli, const struct obj_kind *kind, struct table *t)
{
	struct http_resp r = { 0 };
	const cJSON *obj;
	int rc = 0;

	http_json("GET", kind->path, NULL, &r);
	if (r.status != 200 || !cJSON_IsObject(r.json)) {
		rc = http_fail(&r, kind->word);
	} else if (cli->json) {
		cli_print_json(r.json);
	} else {
		cJSON_ArrayForEach(obj, cJSON_GetObjectItemCaseSensitive(r.json, kind->word)) {
			char state[256];
			const char *cells[] = { kind->word, jstring(obj, "name"), summary(kind, obj, state, sizeof state) };
			if (t && table_add(t, cells, -1, COLOR_NONE) != 0)
				break;
		}
	}
	http_resp_release(&r);
	return rc;
}

static int describe(const struct cli *cli, const struct obj_kind *kind, const char *name)
{
	struct http_resp r = { 0 };
	char *path = obj_path(kind, name, NULL);
	const cJSON *v;
	int rc = 0;

	if (!path)
		return EXIT_CLI;
	http_json("GET", path, NULL, &r);
	if (r.status != 200 || !cJSON_IsObject(r.json)) {
		rc = http_fail(&r, name);
	} else if (cli->json) {
		cli_print_json(r.json);
	} else {
		cJSON_ArrayForEach(v, r.json) {
			char *text = field_text(v);
			printf("%s: %s\n", v->string, text ? text : "?");
			free(text);
		}
	}
	http_resp_release(&r);
	free(path);
	return rc;
}

int cmd_objects(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS, { 0 } };
	static const char *const headers[] = { "KIND", "NAME", "STATE" };
	const struct obj_kind *kind = NULL;
	struct table *t;
	int rc;

	if (cli_getopt(cli, argc, argv, "o:h", options) != -1)
		return cli_usage(cli, "bad usage");
	if (argc - optind > 2)
		return cli_usage(cli, "a kind and a name at most");
	if (optind < argc && !(kind = obj_kind_find(argv[optind])))
		return cli_usage(cli, "no kind \"%s\"", argv[optind]);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (argc - optind == 2)
		return describe(cli, kind, argv[optind + 1]);
	t = cli->json ? NULL : table_new(cli, headers, 3);
	for (size_t i = 0; i < NKINDS && rc == 0; i++)
		if (!kind || kind == &kinds[i])
			rc = list_kind(cli, &kinds[i], t);
	if (t && rc == 0)
		table_print(t);
	table_free(t);
	return rc;
}
