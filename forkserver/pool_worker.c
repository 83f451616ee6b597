/* forkserver/pool_worker — the worker side of a pool's C targets: one process
 * that runs one task after another, without a fork per task.
 *
 * The design: a pool worker is an ordinary spawnd process of the pool's target
 * (the fork server starts it as any other, with a stdin pipe), started with
 * FORKSERVER_POOL_WORKER. Instead of calling the function once it loops:
 *   read one task line from stdin: {"args": {...}} (canonical args), or
 *     {"init": "<target>", "args": {...}} for the pool's initializer;
 *   call the function with the task's stdout going to a memfd;
 *   write one result line on its stdout: {"exit": code, "out": "<that stdout>"}
 *     or, when the function called spawnd_return_json(), {"exit": code, "result": <value>}.
 * EOF on stdin ends it (exit 0). spawnd (engine/pool_run.c) writes task lines
 * with proc_write_stdin() and reads result lines from the captured stdout
 * with proc_read_output(), so the transport is the engine's own pipes,
 * output capture and waiters: nothing new on spawnd's side of a fork, and
 * the normal start path pays one flag test (fs_run_target()).
 *
 * Why the result line carries the task's stdout rather than letting it
 * through: the process's stdout is the result channel, and a target's own
 * prints (a text result) must not be taken for a frame. The function's stdin
 * is /dev/null, so it cannot read the next task. What the initializer prints
 * goes to the worker's stderr (its record's stderr), where "Starting ..."
 * can be read. A function that exits or crashes ends the worker: spawnd fails
 * that task and starts another worker.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "lib/fdio.h"
#include "lib/utf8.h"
#include "targets/registry.h"
#include "targets/returns.h"

/* What the task wrote on fd 1 (the memfd), which is emptied for the next one. */
static char *take_output(size_t *len)
{
	struct stat st;
	*len = 0;
	if (fstat(STDOUT_FILENO, &st) < 0 || st.st_size <= 0)
		return NULL;
	char *buf = malloc((size_t)st.st_size);
	ssize_t n = buf ? pread(STDOUT_FILENO, buf, (size_t)st.st_size, 0) : -1;
	if (ftruncate(STDOUT_FILENO, 0) < 0 || lseek(STDOUT_FILENO, 0, SEEK_SET) < 0)
		_exit(125);     /* the next task's output would be mixed with this one's */
	*len = n > 0 ? (size_t)n : 0;
	return buf;
}

/* Writes the result line of a task that returned code. */
static void send_result(int out, int code, bool init)
{
	size_t len;
	char *output = take_output(&len), *value = target_return_take(), head[32];
	if (init) {             /* the initializer's prints: the worker's stderr */
		if (len)
			fdio_write_all(STDERR_FILENO, output, len);
		len = 0;
	}
	char *text = value ? value : utf8_json_string(output ? output : "", len);
	snprintf(head, sizeof head, "{\"exit\":%d,\"%s\":", code & 0xff, value ? "result" : "out");
	if (!text || fdio_write_all(out, head, strlen(head)) < 0 || fdio_write_all(out, text, strlen(text)) < 0 ||
	    fdio_write_all(out, "}\n", 2) < 0)
		_exit(124);     /* spawnd is gone, or no memory: the task cannot be answered */
	free(text);
	free(output);
}

/* Runs one task line. */
static void run_line(const char *line, const struct target *t, const struct target_ctx *ctx, int out)
{
	cJSON *msg = cJSON_Parse(line);
	const char *init = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "init"));
	const struct target *fn = init ? target_find(init) : t;
	int code = 127;
	if (msg && fn && fn->fn) {
		fflush(stdout);
		code = fn->fn(cJSON_GetObjectItemCaseSensitive(msg, "args"), ctx);
		fflush(stdout);
	}
	send_result(out, code, init != NULL);
	cJSON_Delete(msg);
}

void fs_pool_worker(const struct parsed_request *p, const struct target *t)
{
	int tasks = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), capture = memfd_create("task-stdout", MFD_CLOEXEC);
	if (tasks < 0 || out < 0 || devnull < 0 || capture < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
	    dup2(capture, STDOUT_FILENO) < 0)
		_exit(126);
	close(devnull);
	close(capture);
	FILE *in = fdopen(tasks, "r");
	if (!in)
		_exit(126);
	target_return_capture(true);
	struct target_ctx ctx = { .id = p->id, .name = p->name };
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, in) > 0)
		run_line(line, t, &ctx, out);
	_exit(0);
}
