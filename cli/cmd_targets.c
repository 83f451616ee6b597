/* cmd_targets — `spawnctl targets [NAME]`: what can be run, and how to call it.
 *
 * Design: the list shows each target's arguments in a call-like shorthand
 * (`count:integer?`, `words:string...`) because that is what a user needs to
 * write a `spawnctl run` line; one target shows every constraint the server
 * declares, one argument per row.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/output.h"

const char help_targets[] =
	"Usage: spawnctl targets [NAME] [-o json]\n"
	"\n"
	"Without NAME: every target, one per row (NAME, KIND, ARGS, DESCRIPTION); ARGS\n"
	"reads name:type, with ? for an optional argument and ... for a variadic one.\n"
	"With NAME: its description, then one row per argument (NAME, TYPE, REQUIRED,\n"
	"CONSTRAINTS), then its timeout and max_running.\n"
	"Piped, rows are tab-separated with no header. -o json prints the server's answer.\n";

/* "name:type?" for each argument, space-separated, into buf. */
static const char *args_shorthand(const cJSON *args, char *buf, size_t cap)
{
	size_t used = 0;
	const cJSON *a;

	buf[0] = '\0';
	cJSON_ArrayForEach(a, args) {
		bool required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "required"));
		bool variadic = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "variadic"));
		int n = snprintf(buf + used, cap - used, "%s%s:%s%s", used ? " " : "", jstring(a, "name"),
				 jstring(a, "type") ? jstring(a, "type") : "?", variadic ? "..." : required ? "" : "?");
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	return used ? buf : "-";
}

static void append(char *buf, size_t cap, const char *fmt, const char *value)
{
	size_t used = strlen(buf);
	if (used + 2 < cap)
		snprintf(buf + used, cap - used, fmt, used ? ", " : "", value);
}

/* "min 1, max 10, enum a|b, ..." for one argument, into buf. */
static const char *constraints(const cJSON *a, char *buf, size_t cap)
{
	static const char *const numeric[] = { "min", "max", "max_length" };
	const cJSON *v;
	char num[64], list[256] = "";

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
		v = cJSON_GetObjectItemCaseSensitive(a, numeric[i]);
		if (cJSON_IsNumber(v)) {
			snprintf(num, sizeof num, "%s %.17g", numeric[i], v->valuedouble);
			append(buf, cap, "%s%s", num);
		}
	}
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(a, "enum"))
		if (cJSON_IsString(v) && strlen(list) + strlen(v->valuestring) + 2 < sizeof list)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? "|" : "", v->valuestring);
	if (list[0])
		append(buf, cap, "%senum %s", list);
	if (jstring(a, "pattern"))
		append(buf, cap, "%spattern %s", jstring(a, "pattern"));
	if (jstring(a, "root"))
		append(buf, cap, "%sroot %s", jstring(a, "root"));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "variadic")))
		append(buf, cap, "%s%svariadic", "");
	return buf[0] ? buf : "-";
}

static void print_list(const struct cli *cli, const cJSON *targets)
{
	static const char *const headers[] = { "NAME", "KIND", "ARGS", "DESCRIPTION" };
	struct table *t = table_new(cli, headers, 4);
	const cJSON *target;

	cJSON_ArrayForEach(target, targets) {
		char args[512];
		const char *cells[] = { jstring(target, "name"), jstring(target, "kind"),
					args_shorthand(cJSON_GetObjectItemCaseSensitive(target, "args"), args, sizeof args),
					jstring(target, "description") };
		if (t && table_add(t, cells, -1, COLOR_NONE) != 0)
			break;
	}
	if (t)
		table_print(t);
	table_free(t);
}

static void print_one(const struct cli *cli, const cJSON *target)
{
	static const char *const headers[] = { "ARG", "TYPE", "REQUIRED", "CONSTRAINTS" };
	struct table *t = table_new(cli, headers, 4);
	const cJSON *a;
	char timeout[32], max_running[32];

	printf("%s (%s): %s\n", jstring(target, "name"), jstring(target, "kind") ? jstring(target, "kind") : "?",
	       jstring(target, "description") ? jstring(target, "description") : "");
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(target, "args")) {
		char text[512];
		bool required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "required"));
		const char *cells[] = { jstring(a, "name"), jstring(a, "type"), required ? "yes" : "no",
					constraints(a, text, sizeof text) };
		if (t && table_add(t, cells, -1, COLOR_NONE) != 0)
			break;
	}
	if (t)
		table_print(t);
	table_free(t);
	printf("timeout: %s\nmax_running: %s\n", fmt_int(target, "timeout", timeout, sizeof timeout),
	       fmt_int(target, "max_running", max_running, sizeof max_running));
}

int cmd_targets(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS, { 0 } };
	char *path = NULL, *esc = NULL;
	struct http_resp r = { 0 };
	int rc;

	if (cli_getopt(cli, argc, argv, "o:h", options) != -1)
		return cli_usage(cli, "bad usage");
	if (argc - optind > 1)
		return cli_usage(cli, "one target name at most");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (optind < argc && (!(esc = http_escape(argv[optind])) || asprintf(&path, "/targets/%s", esc) < 0))
		path = NULL;
	free(esc);
	if (optind < argc && !path)
		return EXIT_CLI;
	http_json("GET", path ? path : "/targets", NULL, &r);
	if (r.status != 200 || !cJSON_IsObject(r.json))
		rc = http_fail(&r, path ? argv[optind] : "targets");
	else if (cli->json)
		cli_print_json(r.json);
	else if (path)
		print_one(cli, r.json);
	else
		print_list(cli, cJSON_GetObjectItemCaseSensitive(r.json, "targets"));
	http_resp_release(&r);
	free(path);
	return rc;
}
