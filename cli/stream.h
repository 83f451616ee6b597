/* stream — a process's output on spawnctl's stdout and stderr, printed once
 * or followed live (run -f, logs).
 *
 * Text mode reads the raw streams (Accept: application/octet-stream), so the
 * bytes are exact; stdout goes to fd 1 and stderr to fd 2. JSON mode relays
 * the server's NDJSON lines (heartbeats left out) on stdout.
 */
#ifndef SPAWNCTL_STREAM_H
#define SPAWNCTL_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

enum { WANT_STDOUT = 1, WANT_STDERR = 2 };

struct output_request {
	const char *id;
	unsigned want;          /* WANT_STDOUT | WANT_STDERR */
	bool follow;            /* until the process ends */
	uint64_t offset[2];     /* start at these byte offsets of stdout, stderr */
	long long tail;         /* text only: the last N lines of each stream; -1: all */
	bool json;
};

/* Prints the output asked for. In JSON mode, *exit_line (if not NULL) gets
 * the exit line when one came (caller frees; NULL otherwise). Returns 0, or
 * 125 after saying why. */
int output_show(const struct output_request *req, cJSON **exit_line);

/* Splits a body that arrives in pieces into lines ('\n' dropped) for fn,
 * which returns 0 to go on or 1 to stop. For an http_sink: pass
 * line_splitter_data as its data and the splitter as its arg, and call
 * line_splitter_finish() at the end for a last line with no newline. */
struct line_splitter {
	int (*fn)(const char *line, size_t len, void *arg);
	void *arg;
	char *buf;
	size_t len, cap;
};
int line_splitter_data(const char *data, size_t len, void *splitter);
int line_splitter_finish(struct line_splitter *s);

#endif
