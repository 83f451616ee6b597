/* common — what every spawnctl command shares: its options (--url,
 * --token-file, -o, --help), connecting, messages and exit codes.
 *
 * Exit codes (as a shell and docker give them): a process's own exit code;
 * 128+N when a signal N ended it; 124 when `wait --timeout` ran out with the
 * process still alive; 126 when it failed to start; 125 for spawnctl's own
 * failures (bad usage, spawnd unreachable, an HTTP error, a lost process).
 */
#ifndef SPAWNCTL_COMMON_H
#define SPAWNCTL_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#define SPAWNCTL_VERSION "0.1.0"
#define DEFAULT_URL "http://127.0.0.1:8080"

#define EXIT_CLI 125            /* spawnctl itself failed */
#define EXIT_STILL_ALIVE 124    /* wait --timeout ran out */
#define EXIT_NOT_STARTED 126    /* the process failed to start */

struct command;

struct cli {
	const char *url;        /* --url, else $SPAWND_URL, else DEFAULT_URL */
	const char *token_file; /* --token-file */
	bool json;              /* -o json */
	bool tty;               /* stdout is a terminal */
	bool color;             /* tty and NO_COLOR unset or empty */
	const struct command *cmd;
};

/* The long options every command takes; put it last in a command's table
 * (before the terminating zero entry). Short ones: "o:h". */
enum { OPT_URL = 0x100, OPT_TOKEN_FILE, OPT_OWN };
#define CLI_COMMON_OPTIONS \
	{ "url", required_argument, NULL, OPT_URL }, \
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE }, \
	{ "output", required_argument, NULL, 'o' }, \
	{ "help", no_argument, NULL, 'h' }

/* getopt_long over a command's argv (argv[0] is the command's name), with
 * the common options handled here: returns the next option of the command's
 * own, or -1 at the end (then optind is the first operand). --help prints
 * the command's help and exits 0; an unknown option or a bad -o exits 125. */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
/* Handles one common option c (as getopt returned it); false if c is none. */
bool cli_common_option(struct cli *cli, int c, const char *arg);

/* Resolves the URL and the token ($SPAWND_TOKEN, else the first line of
 * --token-file or $SPAWND_TOKEN_FILE) and initialises http. 0, or 125 after
 * saying why. */
int cli_connect(const struct cli *cli);

/* "spawnctl: ..." on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "spawnctl CMD: ...", then a pointer to the help; returns EXIT_CLI. */
int cli_usage(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The shell-style exit code of an ended process record or exit line; -1
 * when it has not ended (alive, or no state). */
int cli_exit_code(const cJSON *record);

/* Non-negative finite seconds ("2", "0.5"); false if s is not one. */
bool cli_parse_seconds(const char *s, double *out);
/* A whole number >= 0; false otherwise. */
bool cli_parse_count(const char *s, long long *out);
/* Prints j on stdout as one line of JSON. */
void cli_print_json(const cJSON *j);

#endif
