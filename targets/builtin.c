/* builtin — the builtin targets: one static const table of {name, description,
 * argument spec, function}.
 *
 * Each function runs in a fresh single-threaded worker whose fds 0-2 are the
 * captured pipes, gets the canonical arguments built by target_validate() (so
 * every value it reads has already been type- and range-checked), writes with
 * write(2) and returns the exit code. A write error (the reader went away) ends
 * the function with exit code 1 rather than a partial silent success.
 */
#include "targets/builtin.h"
#include "targets/wordcount.h"
#include "include/spawnd_target.h"
#include "lib/fdio.h"
#include "lib/number.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_str(int fd, const char *s)
{
	return fdio_write_all(fd, s, strlen(s));
}

static int run_worker(const cJSON *args, const struct target_ctx *ctx)
{
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(args, "num");
	char line[64];

	if (cJSON_IsNumber(num))
		snprintf(line, sizeof line, "Worker: %lld\n", target_arg_int(args, "num", 0));
	else
		snprintf(line, sizeof line, "Worker\n");
	return write_str(STDOUT_FILENO, line) == 0 ? 0 : 1;
}

/* Sleeps seconds (a number), resuming after signals. 0, or 1 on a failure. */
static int sleep_seconds(double seconds)
{
	struct timespec left;

	left.tv_sec = (time_t)seconds;
	left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
	if (left.tv_nsec >= 1000000000L)
		left.tv_nsec = 999999999L;
	while (nanosleep(&left, &left) != 0) {
		if (errno != EINTR)
			return 1;
	}
	return 0;
}

static int run_sleep(const cJSON *args, const struct target_ctx *ctx)
{
	return sleep_seconds(target_arg_number(args, "seconds", 0));
}

/* "tick 1" ... "tick COUNT", one line every interval seconds, the first at once:
 * something to follow live (the README's streaming examples). */
static int run_ticker(const cJSON *args, const struct target_ctx *ctx)
{
	long long count = target_arg_int(args, "count", 10);
	double interval = target_arg_number(args, "interval", 1);
	char line[40];

	for (long long i = 1; i <= count; i++) {
		if (i > 1 && sleep_seconds(interval) != 0)
			return 1;
		snprintf(line, sizeof line, "tick %lld\n", i);
		if (write_str(STDOUT_FILENO, line) != 0)
			return 1;
	}
	return 0;
}

static int run_exit(const cJSON *args, const struct target_ctx *ctx)
{
	return (int)target_arg_int(args, "code", 0);
}

static int run_echo(const cJSON *args, const struct target_ctx *ctx)
{
	const cJSON *words = cJSON_GetObjectItemCaseSensitive(args, "words");
	const cJSON *word;
	size_t len = 1, used = 0;
	char *line;
	int rc;

	cJSON_ArrayForEach(word, words)
		len += strlen(cJSON_GetStringValue(word) ? word->valuestring : "") + 1;
	line = malloc(len);
	if (!line)
		return 1;
	cJSON_ArrayForEach(word, words) {
		const char *s = cJSON_GetStringValue(word) ? word->valuestring : "";
		size_t n = strlen(s);
		if (word != words->child)
			line[used++] = ' ';
		memcpy(line + used, s, n);
		used += n;
	}
	line[used++] = '\n';
	rc = fdio_write_all(STDOUT_FILENO, line, used);
	free(line);
	return rc == 0 ? 0 : 1;
}

static int run_cat(const cJSON *args, const struct target_ctx *ctx)
{
	static char buf[65536];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fdio_write_all(STDOUT_FILENO, buf, (size_t)n) != 0)
			return 1;
	}
}

/* Byte i of the output is '0' + i % 10. The buffer holds the pattern with 10
 * bytes to spare, so a chunk can start at any phase and still be a multiple of
 * the period long. */
#define BURST_CHUNK 65530
static int run_burst(const cJSON *args, const struct target_ctx *ctx)
{
	static char pattern[BURST_CHUNK + 10];
	long long total = target_arg_int(args, "bytes", 0);
	const char *stream = target_arg_string(args, "stream", "stdout");
	int fd = strcmp(stream, "stderr") == 0 ? STDERR_FILENO : STDOUT_FILENO;
	unsigned long long done = 0;

	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (char)('0' + i % 10);
	while (done < (unsigned long long)total) {
		unsigned long long left = (unsigned long long)total - done;
		size_t want = left < BURST_CHUNK ? (size_t)left : BURST_CHUNK;
		ssize_t n = write(fd, pattern + done % 10, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		done += (unsigned long long)n;
	}
	return 0;
}

static int run_whoami(const cJSON *args, const struct target_ctx *ctx)
{
	cJSON *obj = cJSON_CreateObject();
	char *text;
	int rc = 1;

	if (!obj)
		return 1;
	if (ctx && ctx->id)
		cJSON_AddStringToObject(obj, "id", ctx->id);
	else
		cJSON_AddNullToObject(obj, "id");
	if (ctx && ctx->name)
		cJSON_AddStringToObject(obj, "name", ctx->name);
	else
		cJSON_AddNullToObject(obj, "name");
	cJSON_AddNumberToObject(obj, "pid", (double)getpid());
	text = number_print_json(obj);
	if (text && write_str(STDOUT_FILENO, text) == 0 && write_str(STDOUT_FILENO, "\n") == 0)
		rc = 0;
	cJSON_free(text);
	cJSON_Delete(obj);
	return rc;
}

/* The pool examples (PyMOTW multiprocessing_pool.py): square and
 * do_calculation return their result (spawnd_return_json(): in a plain run
 * their stdout is that line; in a pool worker it is kept, no write per
 * task), and declare "returns": "json"; start_process is the initializer
 * that says which worker starts. */
static int print_integer(long long v)
{
	char text[NUMBER_INT64_TEXT_MAX + 1];
	number_int64_text(text, v);     /* not snprintf: that was most of a pool task of square */
	return spawnd_return_json(text) == 0 ? 0 : 1;
}

static int run_square(const cJSON *args, const struct target_ctx *ctx)
{
	long long x = target_arg_int(args, "x", 0);
	return print_integer(x * x);
}

static int run_do_calculation(const cJSON *args, const struct target_ctx *ctx)
{
	return print_integer(target_arg_int(args, "data", 0) * 2);
}

static int run_start_process(const cJSON *args, const struct target_ctx *ctx)
{
	char line[320];
	snprintf(line, sizeof line, "Starting %s\n", ctx && ctx->name ? ctx->name : "?");
	return write_str(STDOUT_FILENO, line) == 0 ? 0 : 1;
}

static const struct arg_spec square_args[] = {
	{ .name = "x", .type = ARG_INTEGER, .required = true, .has_min = true, .min = -3037000499.0,
	  .has_max = true, .max = 3037000499.0 },
};
static const struct arg_spec calculation_args[] = {
	{ .name = "data", .type = ARG_INTEGER, .required = true, .has_min = true, .min = -4e18,
	  .has_max = true, .max = 4e18 },
};
static const struct arg_spec wordcount_map_args[] = {
	{ .name = "file", .type = ARG_STRING, .required = true, .pattern = "[A-Za-z0-9_-]{1,128}\\.txt" },
};
static const struct arg_spec wordcount_reduce_args[] = {
	{ .name = "word", .type = ARG_STRING, .required = true, .max_length = 4096 },
	{ .name = "counts", .type = ARG_INTEGER, .variadic = true, .has_min = true, .min = 0,
	  .has_max = true, .max = 1e15 },
};
static const struct arg_spec worker_args[] = {
	{ .name = "num", .type = ARG_INTEGER },
};
static const struct arg_spec sleep_args[] = {
	{ .name = "seconds", .type = ARG_NUMBER, .required = true,
	  .has_min = true, .min = 0, .has_max = true, .max = 1e6 },
};
static const struct arg_spec ticker_args[] = {
	{ .name = "count", .type = ARG_INTEGER, .has_min = true, .min = 1, .has_max = true, .max = 1000000 },
	{ .name = "interval", .type = ARG_NUMBER, .has_min = true, .min = 0, .has_max = true, .max = 3600 },
};
static const struct arg_spec exit_args[] = {
	{ .name = "code", .type = ARG_INTEGER, .required = true,
	  .has_min = true, .min = 0, .has_max = true, .max = 255 },
};
static const struct arg_spec echo_args[] = {
	{ .name = "words", .type = ARG_STRING, .variadic = true, .max_length = 65536 },
};
static const char *const burst_streams[] = { "stdout", "stderr", NULL };
static const struct arg_spec burst_args[] = {
	{ .name = "bytes", .type = ARG_INTEGER, .required = true,
	  .has_min = true, .min = 0, .has_max = true, .max = 1099511627776.0 /* 2^40 */ },
	{ .name = "stream", .type = ARG_STRING, .enum_values = burst_streams },
};

#define ARGS(a) .args = (a), .nargs = sizeof(a) / sizeof((a)[0])

static const struct target builtins[] = {
	{ .name = "worker", .kind = TARGET_BUILTIN, .fn = run_worker, ARGS(worker_args),
	  .description = "Prints \"Worker\", or \"Worker: <num>\" when num is given, and exits 0." },
	{ .name = "sleep", .kind = TARGET_BUILTIN, .fn = run_sleep, ARGS(sleep_args),
	  .description = "Sleeps for the given number of seconds, then exits 0." },
	{ .name = "exit", .kind = TARGET_BUILTIN, .fn = run_exit, ARGS(exit_args),
	  .description = "Exits at once with the given exit code." },
	{ .name = "echo", .kind = TARGET_BUILTIN, .fn = run_echo, ARGS(echo_args),
	  .description = "Prints its words joined by one space and a newline." },
	{ .name = "cat", .kind = TARGET_BUILTIN, .fn = run_cat,
	  .description = "Copies its standard input to its standard output until end of file." },
	{ .name = "burst", .kind = TARGET_BUILTIN, .fn = run_burst, ARGS(burst_args),
	  .description = "Writes the given number of bytes ('0' + i % 10 for byte i) to stdout or stderr as fast as it can." },
	{ .name = "whoami", .kind = TARGET_BUILTIN, .fn = run_whoami,
	  .description = "Prints one JSON line with its process id, name and pid (current_process)." },
	{ .name = "ticker", .kind = TARGET_BUILTIN, .fn = run_ticker, ARGS(ticker_args),
	  .description = "Prints \"tick 1\" ... \"tick <count>\" (default 10), one line every <interval> seconds (default 1), then exits 0." },
	{ .name = "square", .kind = TARGET_BUILTIN, .fn = run_square, ARGS(square_args), .returns_json = true,
	  .description = "Returns x * x (a pool example)." },
	{ .name = "do_calculation", .kind = TARGET_BUILTIN, .fn = run_do_calculation, ARGS(calculation_args),
	  .returns_json = true, .description = "Returns data * 2 (the PyMOTW pool example)." },
	{ .name = "wordcount_map", .kind = TARGET_BUILTIN, .fn = wordcount_map, ARGS(wordcount_map_args),
	  .returns_json = true, .description = "Returns [[word, count]...] for the words of " WORDCOUNT_DIR
	  "/<file> (lowercase, no punctuation, no stop words: the chapter's word count map)." },
	{ .name = "wordcount_reduce", .kind = TARGET_BUILTIN, .fn = wordcount_reduce, ARGS(wordcount_reduce_args),
	  .returns_json = true, .description = "Returns the sum of the counts of a word (the chapter's word count reduce)." },
	{ .name = "start_process", .kind = TARGET_BUILTIN, .fn = run_start_process,
	  .description = "Prints \"Starting <its process name>\" (the PyMOTW pool initializer)." },
};

const struct target *builtin_targets(size_t *count)
{
	*count = sizeof builtins / sizeof builtins[0];
	return builtins;
}
