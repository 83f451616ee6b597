/* cmd_ns — `spawnctl ns OP NAME [KEY [VALUE]]`: a namespace's keys from a
 * shell (API.md "Namespaces"; Manager().Namespace() and dict() are ones).
 *
 * Design: one request per operation, as cmd_sync's table does it. A value
 * is a shell word read as JSON when it parses as exactly that, else sent as
 * the string it is (as `queue put`); `get` prints a string bare and other
 * values as JSON, so `ns get cfg mode` reads back what `ns set cfg mode fast`
 * wrote. `ls` prints one "KEY<TAB>VALUE" line per key, sorted as the server
 * keeps them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/output.h"

const char help_ns[] =
	"Usage: spawnctl ns OP NAME [KEY [VALUE]] [-o json]\n"
	"\n"
	"  create NAME           make the namespace\n"
	"  ls NAME               print its keys and values, one KEY<TAB>VALUE a line\n"
	"  get NAME KEY          print a key's value (a string bare, others as JSON)\n"
	"  set NAME KEY VALUE    set a key (VALUE is JSON; a word that is not goes as a string)\n"
	"  del NAME KEY          delete a key\n"
	"  rm NAME               remove the namespace\n"
	"-o json prints the server's answer.\n";

struct ns_op {
	const char *op, *method;
	int words;              /* operands after the op: NAME, KEY, VALUE */
	bool key_path;          /* /namespaces/NAME/keys/KEY */
};

static const struct ns_op ops[] = {
	{ "create", "PUT", 1, false }, { "ls", "GET", 1, false }, { "get", "GET", 2, true },
	{ "set", "PUT", 3, true }, { "del", "DELETE", 2, true }, { "rm", "DELETE", 1, false },
	{ NULL, NULL, 0, false },
};

static void print_value(const cJSON *v, const char *prefix)
{
	char *text = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
	printf("%s%s\n", prefix, cJSON_IsString(v) ? v->valuestring : text ? text : "null");
	free(text);
}

static char *ns_path(char **words, bool key_path)
{
	char *name = http_escape(words[0]), *key = key_path ? http_escape(words[1]) : NULL, *path = NULL;
	if (name && (!key_path || key) &&
	    asprintf(&path, "/namespaces/%s%s%s", name, key_path ? "/keys/" : "", key_path ? key : "") < 0)
		path = NULL;
	free(name);
	free(key);
	return path;
}

static void print_answer(const struct ns_op *op, const cJSON *answer)
{
	const cJSON *kv;
	if (strcmp(op->op, "get") == 0)
		print_value(cJSON_GetObjectItemCaseSensitive(answer, "value"), "");
	if (strcmp(op->op, "ls") != 0)
		return;
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(answer, "values")) {
		char *prefix = NULL;
		if (asprintf(&prefix, "%s\t", kv->string) >= 0)
			print_value(kv, prefix);
		free(prefix);
	}
}

int cmd_ns(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS, { 0 } };
	const struct ns_op *op = ops;
	struct http_resp r = { 0 };
	int c, rc = 0;

	while ((c = cli_getopt(cli, argc, argv, "o:h", options)) != -1)
		return cli_usage(cli, "bad option");
	if (optind >= argc)
		return cli_usage(cli, "which operation?");
	while (op->op && strcmp(op->op, argv[optind]) != 0)
		op++;
	if (!op->op)
		return cli_usage(cli, "no operation \"%s\"", argv[optind]);
	if (argc - optind - 1 != op->words)
		return cli_usage(cli, "%s takes %d operand(s)", op->op, op->words);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	char **words = argv + optind + 1, *path = ns_path(words, op->key_path);
	cJSON *body = op->words == 3 ? cJSON_ParseWithOpts(words[2], NULL, true) : NULL;
	if (op->words == 3 && !body)
		body = cJSON_CreateString(words[2]);
	if (!body && strcmp(op->method, "PUT") == 0)
		body = cJSON_CreateObject();
	if (!path)
		return EXIT_CLI;
	http_json(op->method, path, body, &r);
	if (r.status < 200 || r.status >= 300)
		rc = http_fail(&r, words[0]);
	else if (cli->json)
		cli_print_json(r.json);
	else
		print_answer(op, r.json);
	http_resp_release(&r);
	cJSON_Delete(body);
	free(path);
	return rc;
}
