/* common — options, connection set-up, messages and exit codes shared by
 * every command.
 *
 * Design: each command owns its getopt table and merges CLI_COMMON_OPTIONS
 * into it, so `spawnctl ps --url X` and `spawnctl --url X ps` both work and
 * no command can forget --help. Parsing errors end the program here (125):
 * spawnctl is a short-lived tool and nothing has been started yet.
 *
 * The token is never taken from a flag value (it would show in `ps`), only
 * from $SPAWND_TOKEN or a file, as the server's own tokens are.
 */
#define _GNU_SOURCE
#include "cli/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"

void cli_msg(const char *fmt, ...)
{
	va_list ap;
	fputs("spawnctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const struct cli *cli, const char *fmt, ...)
{
	const char *name = cli->cmd ? cli->cmd->name : NULL;
	va_list ap;
	fprintf(stderr, "spawnctl%s%s: ", name ? " " : "", name ? name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'spawnctl help%s%s'.\n", name ? " " : "", name ? name : "");
	return EXIT_CLI;
}

bool cli_common_option(struct cli *cli, int c, const char *arg)
{
	switch (c) {
	case OPT_URL:
		cli->url = arg;
		return true;
	case OPT_TOKEN_FILE:
		cli->token_file = arg;
		return true;
	case 'o':
		if (strcmp(arg, "json") == 0)
			cli->json = true;
		else if (strcmp(arg, "text") == 0)
			cli->json = false;
		else
			exit(cli_usage(cli, "-o %s: the output formats are json and text", arg));
		return true;
	default:
		return false;
	}
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (c == 'h') {
			fputs(cli->cmd->help, stdout);
			exit(0);
		}
		if (c == '?' || c == ':')
			exit(cli_usage(cli, "bad usage"));
		if (!cli_common_option(cli, c, optarg))
			return c;
	}
}

/* The first line of path, without its newline, malloc'ed; NULL after saying why. */
static char *read_token_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		cli_msg("token file %s: %s", path, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n <= 0) {
		cli_msg("token file %s: no token on its first line", path);
		free(line);
		return NULL;
	}
	return line;
}

int cli_connect(const struct cli *cli)
{
	const char *url = cli->url ? cli->url : getenv("SPAWND_URL");
	const char *env_token = getenv("SPAWND_TOKEN"), *file = cli->token_file;
	char *token = NULL;
	int r;

	if (!url || !url[0])
		url = DEFAULT_URL;
	if (!file && !(env_token && env_token[0]))
		file = getenv("SPAWND_TOKEN_FILE");
	if (file && file[0]) {
		if (!(token = read_token_file(file)))
			return EXIT_CLI;
	} else if (env_token && env_token[0] && !(token = strdup(env_token))) {
		return EXIT_CLI;
	}
	r = http_init(url, token);
	free(token);
	if (r == -EINVAL)
		cli_msg("the token holds control characters: it cannot be sent in a header");
	else if (r < 0)
		cli_msg("could not set up HTTP: %s", strerror(-r));
	return r < 0 ? EXIT_CLI : 0;
}

int cli_exit_code(const cJSON *record)
{
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "state"));
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(record, "exitcode");

	if (!state || strcmp(state, "queued") == 0 || strcmp(state, "running") == 0)
		return -1;
	if (strcmp(state, "failed") == 0)
		return EXIT_NOT_STARTED;
	if (strcmp(state, "exited") != 0 || !cJSON_IsNumber(code))
		return EXIT_CLI;                /* lost: the server stopped while it ran */
	if (code->valuedouble < 0)
		return 128 + (int)-code->valuedouble;   /* -S: signal S, as a shell says 128+S */
	return (int)code->valuedouble & 0xff;
}

bool cli_parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v < 0)
		return false;
	*out = v;
	return true;
}

bool cli_parse_count(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < 0 || s[0] == '+' || s[0] == ' ')
		return false;
	*out = v;
	return true;
}

void cli_print_json(const cJSON *j)
{
	char *text = cJSON_PrintUnformatted(j);
	if (text)
		puts(text);
	free(text);
}
