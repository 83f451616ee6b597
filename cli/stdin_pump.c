/* stdin_pump — a thread that feeds a process's stdin.
 *
 * Design: the input is sent in pieces as it is read (a pipe or a terminal
 * gives what it has, so typed lines reach the worker at once), never read
 * whole into memory. The server keeps at most 1 MiB pending per process and
 * answers 409 beyond it; the pump then waits and sends the same piece again,
 * which is the back-pressure. A 409 "not running" of a process still queued
 * is waited out the same way; of one that ended, or a stdin the worker
 * closed, it ends the pump quietly: the process wants no more input.
 *
 * The thread polls its fd with a short timeout so that stdin_pump_stop()
 * ends it even while a terminal has nothing to read.
 */
#define _GNU_SOURCE
#include "cli/stdin_pump.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/common.h"
#include "cli/http.h"

#define PIECE (256 * 1024)

struct stdin_pump {
	pthread_t thread;
	int fd;
	char *id_escaped;
	atomic_bool stop;
	int result;
	char buf[PIECE];
};

enum send_outcome { SENT, RETRY, DONE, FAILED };

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool still_queued(struct stdin_pump *p)
{
	struct http_resp r;
	char path[512];
	const char *state;
	bool queued;

	snprintf(path, sizeof path, "/processes/%s", p->id_escaped);
	http_json("GET", path, NULL, &r);
	state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.json, "state"));
	queued = r.status == 200 && state && strcmp(state, "queued") == 0;
	http_resp_release(&r);
	return queued;
}

static enum send_outcome send_piece(struct stdin_pump *p, size_t len, bool eof)
{
	struct http_resp r;
	char path[512];
	enum send_outcome out = SENT;
	const char *code, *message;

	snprintf(path, sizeof path, "/processes/%s/stdin%s", p->id_escaped, eof ? "?eof=true" : "");
	http_request("POST", path, p->buf, len, "application/octet-stream", NULL, NULL, &r);
	if (r.status == 202) {
		http_resp_release(&r);
		return SENT;
	}
	code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r.json, "error"), "code"));
	message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r.json, "error"), "message"));
	if (r.status == 409 && code && strcmp(code, "conflict") == 0)
		out = message && strstr(message, "pending") ? RETRY : DONE;
	else if (r.status == 409 && code && strcmp(code, "not_running") == 0)
		out = still_queued(p) ? RETRY : DONE;
	else
		out = (http_fail(&r, "stdin"), FAILED);
	http_resp_release(&r);
	return out;
}

/* Sends len bytes (or the end of input), retrying while the server asks to. */
static enum send_outcome send_retrying(struct stdin_pump *p, size_t len, bool eof)
{
	enum send_outcome out;
	while ((out = send_piece(p, len, eof)) == RETRY) {
		if (atomic_load(&p->stop))
			return DONE;
		pause_ms(50);
	}
	return out;
}

static void *pump_main(void *arg)
{
	struct stdin_pump *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	while (!atomic_load(&p->stop)) {
		int ready = poll(&pfd, 1, 200);
		if (ready < 0 && errno != EINTR)
			break;
		if (ready <= 0)
			continue;
		ssize_t n = read(p->fd, p->buf, sizeof p->buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_msg("stdin: read: %s", strerror(errno));
			p->result = -1;
			n = 0;          /* still close the worker's stdin */
		}
		enum send_outcome out = send_retrying(p, (size_t)n, n == 0);
		if (out == FAILED)
			p->result = -1;
		if (n == 0 || out != SENT)
			break;
	}
	return NULL;
}

int stdin_pump_start(const char *id, int fd, struct stdin_pump **out)
{
	struct stdin_pump *p = calloc(1, sizeof *p);
	int r;

	if (!p || !(p->id_escaped = http_escape(id))) {
		free(p);
		return -ENOMEM;
	}
	p->fd = fd;
	atomic_init(&p->stop, false);
	if ((r = pthread_create(&p->thread, NULL, pump_main, p)) != 0) {
		free(p->id_escaped);
		free(p);
		return -r;
	}
	*out = p;
	return 0;
}

int stdin_pump_join(struct stdin_pump *p)
{
	int result;
	if (!p)
		return 0;
	pthread_join(p->thread, NULL);
	result = p->result;
	free(p->id_escaped);
	free(p);
	return result;
}

void stdin_pump_stop(struct stdin_pump *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	stdin_pump_join(p);
}
