/* cmd_logs — `spawnctl logs ID`: a process's captured output, or followed.
 *
 * Design: --since is a byte offset, not a time, because that is what the
 * server's output API resumes at exactly (offset, stdout_offset,
 * stderr_offset): `--since OUT-ERR` takes the same form as an SSE event id
 * and the exit line's stdout_bytes/stderr_bytes, so a reader can pick up
 * where it stopped without a byte twice or missed. A time filter would be
 * approximate (ts is per captured chunk, not per line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/stream.h"

const char help_logs[] =
	"Usage: spawnctl logs ID [-f] [--stdout|--stderr] [--tail N] [--since OFFSET] [-o json]\n"
	"\n"
	"Prints the output of process ID captured so far (stdout to stdout, stderr to\n"
	"stderr, byte for byte), or with -f follows it until the process ends.\n"
	"\n"
	"  -f, --follow      keep printing output as it is produced, until the process ends\n"
	"  --stdout          only its stdout\n"
	"  --stderr          only its stderr\n"
	"  --tail N          only the last N lines of each stream (then -f goes on from there)\n"
	"  --since OFFSET    start at a byte offset: OUT-ERR for stdout and stderr (the\n"
	"                    form of an SSE event id; the exit line's stdout_bytes and\n"
	"                    stderr_bytes resume after the end), or N for the one stream\n"
	"                    shown (stdout when both are: N is N-0)\n"
	"  -o json           the server's NDJSON lines ({\"stream\",\"offset\",\"data\",\"ts\"},\n"
	"                    gaps and the exit line; heartbeats left out); not with --tail\n"
	"\n"
	"Exits 0, or 125 if spawnctl failed (no such process: 404).\n";

static bool parse_offset(const char *s, uint64_t *out, const char **rest)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	*out = strtoull(s, &end, 10);
	*rest = end;
	return errno == 0;
}

/* "OUT-ERR" into offset[0..1]; "N" into *single (which stream it is for
 * depends on --stdout/--stderr, known after every option). */
static bool parse_since(const char *s, uint64_t offset[2], uint64_t *single, bool *has_single)
{
	const char *rest;
	if (!parse_offset(s, &offset[0], &rest))
		return false;
	*has_single = !*rest;
	if (!*rest) {
		*single = offset[0];
		offset[0] = 0;
		return true;
	}
	return *rest == '-' && parse_offset(rest + 1, &offset[1], &rest) && !*rest;
}

static int parse_logs(struct cli *cli, int argc, char **argv, struct output_request *req)
{
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' }, { "stdout", no_argument, NULL, '1' },
		{ "stderr", no_argument, NULL, '2' }, { "tail", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 's' }, CLI_COMMON_OPTIONS, { 0 },
	};
	unsigned only = 0;
	uint64_t single = 0;
	bool has_single = false;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "fo:h", options)) != -1) {
		switch (c) {
		case 'f': req->follow = true; break;
		case '1': only |= WANT_STDOUT; break;
		case '2': only |= WANT_STDERR; break;
		case 'n':
			if (!cli_parse_count(optarg, &req->tail))
				return cli_usage(cli, "--tail %s: a number of lines", optarg);
			break;
		case 's':
			if (!parse_since(optarg, req->offset, &single, &has_single))
				return cli_usage(cli, "--since %s: a byte offset N, or OUT-ERR", optarg);
			break;
		default:
			return cli_usage(cli, "bad usage");
		}
	}
	if (only)
		req->want = only;
	if (has_single)
		req->offset[req->want == WANT_STDERR ? 1 : 0] = single;
	if (optind + 1 != argc)
		return cli_usage(cli, optind < argc ? "one process id only" : "which process? (an id from spawnctl ps)");
	if (cli->json && req->tail >= 0)
		return cli_usage(cli, "--tail counts lines of text: it does not go with -o json");
	req->id = argv[optind];
	return 0;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	struct output_request req = { .want = WANT_STDOUT | WANT_STDERR, .tail = -1 };
	int rc;

	if ((rc = parse_logs(cli, argc, argv, &req)) != 0 || (rc = cli_connect(cli)) != 0)
		return rc;
	req.json = cli->json;
	return output_show(&req, NULL);
}
