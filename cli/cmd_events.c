/* cmd_events — `spawnctl events [-f]`: the server's lifecycle events.
 *
 * Design: GET /events is always a stream. -f follows it from now on, as
 * `docker events` does. Without -f spawnctl shows the events the server still
 * keeps (?since=0, the last 8192) and stops at the first heartbeat: a live
 * stream sends one as soon as it has nothing more to send, so it marks the
 * end of the backlog exactly. Five quiet seconds end it too, in case a
 * server sends its first heartbeat late. Events print one line
 * each as they come (a table cannot wait for the end of a stream); on a
 * terminal the columns are padded to fixed widths.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/output.h"
#include "cli/stream.h"

#define BACKLOG_QUIET_S 5.0

const char help_events[] =
	"Usage: spawnctl events [-f] [-o json]\n"
	"\n"
	"Prints process lifecycle events (created, started, exited, removed): without -f\n"
	"the ones the server still keeps (up to 8192), then it exits; with -f the new\n"
	"ones as they happen, until interrupted.\n"
	"Each line: TIME, EVENT, ID, NAME, TARGET, STATE, EXIT (tab-separated when piped).\n"
	"  -f, --follow   follow new events\n"
	"  -o json        the server's NDJSON lines (heartbeats left out)\n";

struct events_print {
	const struct cli *cli;
	bool follow;
};

static int print_event(const char *line, size_t len, void *arg)
{
	const struct events_print *ctx = arg;
	const struct cli *cli = ctx->cli;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const char *event = jstring(j, "event");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "process");
	char ts[64], code[32];

	if (!event || strcmp(event, "heartbeat") == 0) {
		cJSON_Delete(j);
		return !ctx->follow && event;   /* a heartbeat: the server had nothing more to send */
	}
	if (cli->json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
	} else if (strcmp(event, "gap") == 0) {
		cli_msg("events: %.0f events were dropped before this point (spawnctl read too slowly)",
			cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "dropped_events")));
	} else {
		const char *fields[] = { fmt_time(cli, jstring(j, "ts"), ts, sizeof ts), event, jstring(p, "id"),
					 jstring(p, "name"), jstring(p, "target"), jstring(p, "state"),
					 fmt_int(p, "exitcode", code, sizeof code) };
		static const int widths[] = { 24, 8, 24, 16, 12, 8, 0 };
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			const char *f = fields[i] ? fields[i] : "-";
			bool last = i + 1 == sizeof fields / sizeof fields[0];
			if (cli->tty)
				printf("%-*s%s", last ? 0 : widths[i], f, last ? "\n" : " ");
			else
				printf("%s%c", f, last ? '\n' : '\t');
		}
	}
	fflush(stdout);
	cJSON_Delete(j);
	return 0;
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = { { "follow", no_argument, NULL, 'f' }, CLI_COMMON_OPTIONS, { 0 } };
	struct events_print ctx = { .cli = cli };
	struct line_splitter split = { .fn = print_event, .arg = &ctx };
	struct http_sink sink = { .data = line_splitter_data, .arg = &split };
	struct http_resp r;
	bool follow = false;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "fo:h", options)) != -1) {
		if (c != 'f')
			return cli_usage(cli, "bad usage");
		follow = true;
	}
	ctx.follow = follow;
	if (optind < argc)
		return cli_usage(cli, "unexpected \"%s\"", argv[optind]);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (!follow)
		sink.idle_s = BACKLOG_QUIET_S;
	http_request("GET", follow ? "/events" : "/events?since=0", NULL, 0, NULL, "application/x-ndjson",
		     &sink, &r);
	line_splitter_finish(&split);
	if (r.status != 200)
		rc = http_fail(&r, "events");
	http_resp_release(&r);
	return rc;
}
