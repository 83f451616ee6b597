/* forkserver/pool_worker — the worker side of a pool's C targets: one process
 * that runs one task after another, without a fork per task.
 *
 * The design: a pool worker is an ordinary spawnd process of the pool's target
 * started with FORKSERVER_POOL_WORKER, whose stdin is one end of a socketpair
 * (serve.c); spawnd's pool thread holds the other end (engine/pool_worker.c).
 * Instead of calling the function once it loops:
 *   read task lines from the socket: {"args": {...}} (canonical args), or
 *     {"init": "<target>", "args": {...}} for the pool's initializer;
 *   call the function with its stdout going to a memfd;
 *   answer each with one result line on the socket: {"exit": code, "out":
 *     "<that stdout>"} or, when the function called spawnd_return_json(),
 *     {"exit": code, "result": <value>}.
 * EOF on the socket ends it (exit 0).
 *
 * Why chunks of integers come as binary: the usual map (one integer arg)
 * sends a chunk as ONE message, a line {"ints": "<key>", "n": N} followed
 * by N native int64 values, so neither side prints or parses an integer per
 * task on the way in. And answers go back as runs: at each write, every run
 * of two or more plain answers ({"exit":0,"result":V}) becomes one line
 * {"exit":0,"results":[V,...]} (values are JSON printed unformatted, so
 * they hold no newline); any other answer (a failure, a stdout result)
 * stays a line of its own, in its place. spawnd takes one result per value,
 * in order, as it takes one per line.
 *
 * Why a progress page: answers wait in a buffer until the write, so a
 * worker that dies mid-chunk has lost the answers of tasks that did finish.
 * At start it passes spawnd (SCM_RIGHTS, with the line {"progress":1}) a
 * memfd page whose first word counts the tasks whose function returned;
 * spawnd compares it with the answers it got and knows exactly which task
 * was running when the worker died: that one fails, the finished ones and
 * the ones behind it run again (QUALITY 25).
 *
 * Why batches: spawnd sends a chunk's lines in one write, so one read brings
 * many; the worker runs every complete line it has and answers them in one
 * write before it reads again (one line per syscall made 100,000 squares
 * take 1.5 s), or sooner when tasks are slow (FLUSH_US). A single apply
 * still gets its answer at once: the buffer then holds one line.
 *
 * Why a socket of its own rather than stdout: results on the captured
 * stdout counted as the process's output (and hit its cap), and a target's
 * own prints could be taken for a frame. Now the worker's stdout is what its
 * tasks print besides their result: a task that returns a value with
 * spawnd_return_json() has its prints copied to the real stdout; a task
 * that returns none has its stdout as its result. What the initializer
 * prints goes to the worker's stderr, where "Starting ..." can be read. The
 * function's stdin is /dev/null, so it cannot read the next task. A function
 * that exits or crashes ends the worker: spawnd fails that task, reruns the
 * lines it had sent after it, and starts another worker.
 *
 * Why the task's stdout is watched rather than measured: see
 * pool_worker_capture.c.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"
#include "forkserver/pool_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "lib/fdio.h"
#include "lib/utf8.h"
#include "targets/registry.h"
#include "targets/returns.h"

/* Answers are written at the end of what one read brought, or sooner once
 * this much is waiting, or once the first waits this long (a slow task's
 * answer must not wait for the rest of its chunk: imap streams it, and a
 * dying worker loses only unanswered lines). */
#define FLUSH_BYTES (256 << 10)
#define FLUSH_US 2000
#define INTS_MAX 65536                  /* values of one ints message (spawnd sends at most CHUNK_LINES_MAX) */

static void append(struct worker *w, const char *s, size_t len)
{
	if (w->out_len + len > w->out_cap) {
		size_t cap = w->out_cap ? w->out_cap : READ_SIZE;
		while (cap < w->out_len + len)
			cap *= 2;
		char *grown = realloc(w->out, cap);
		if (!grown)
			_exit(124);     /* the task cannot be answered */
		w->out = grown;
		w->out_cap = cap;
	}
	memcpy(w->out + w->out_len, s, len);
	w->out_len += len;
}

/* The coarse clock (a few ms of resolution, read from memory): the precise
 * one, read after every task, was 4% of a square's task. A slow task is then
 * answered once it has taken FLUSH_US plus at most one tick. */
static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char plain_head[] = "{\"exit\":0,\"result\":", runs_head[] = "{\"exit\":0,\"results\":[";

/* The answer line at p (before end, which every line in out ends before
 * with its newline): its length in *len, and its value's length when it is
 * a plain answer, else 0. */
static size_t plain_value(const char *p, const char *end, size_t *len)
{
	const size_t plen = sizeof plain_head - 1;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	*len = (size_t)(nl - p);
	return *len > plen + 1 && !memcmp(p, plain_head, plen) && p[*len - 1] == '}' ? *len - plen - 1 : 0;
}

/* out with every run of two or more plain answers joined into one line
 * (the design note), into w->runs: its length. */
static size_t join_runs(struct worker *w)
{
	const size_t plen = sizeof plain_head - 1, hlen = sizeof runs_head - 1;
	if (w->runs_cap < w->out_len + hlen) {  /* a run's head is its first line's prefix and 3 bytes */
		free(w->runs);
		w->runs_cap = w->out_len + hlen;
		if (!(w->runs = malloc(w->runs_cap)))
			_exit(124);
	}
	const char *p = w->out, *end = w->out + w->out_len;
	size_t n = 0, len = 0, next_len = 0, value = p < end ? plain_value(p, end, &len) : 0;
	bool in_run = false;
	for (; p < end; p += len + 1, len = next_len) {
		const char *next = p + len + 1;
		size_t next_value = next < end ? plain_value(next, end, &next_len) : 0;
		if (value && (in_run || next_value)) {
			memcpy(w->runs + n, in_run ? "," : runs_head, in_run ? 1 : hlen);
			n += in_run ? 1 : hlen;
			memcpy(w->runs + n, p + plen, value);
			n += value;
			in_run = next_value != 0;
			if (!in_run) {
				memcpy(w->runs + n, "]}\n", 3);
				n += 3;
			}
		} else {
			memcpy(w->runs + n, p, len + 1);
			n += len + 1;
		}
		value = next_value;
	}
	return n;
}

static void flush_results(struct worker *w)
{
	size_t n = w->out_len ? join_runs(w) : 0;
	if (n && fdio_write_all(w->channel, w->runs, n) < 0)
		_exit(124);     /* spawnd is gone */
	w->out_len = 0;
	w->flushed_us = now_us();
}

/* Appends the result line of a task that returned code. */
static void add_result(struct worker *w, int code, bool init)
{
	size_t len, value_len = 0;
	const char *value = target_return_take(&value_len);
	char *output = capture_take(w, &len, value && !init), head[32], *made = NULL;
	if (len && (init || value)) {   /* prints beside a value: the worker's own output */
		fdio_write_all(init ? STDERR_FILENO : w->real_stdout, output, len);
		len = 0;
	}
	const char *text = value ? value : (made = utf8_json_string(output ? output : "", len));
	if (!text)
		_exit(124);
	int n = 0, c = code & 0xff;
	memcpy(head, "{\"exit\":", 8);    /* by hand: snprintf was a fifth of a square's task */
	n = 8;
	if (c >= 100)
		head[n++] = (char)('0' + c / 100);
	if (c >= 10)
		head[n++] = (char)('0' + c / 10 % 10);
	head[n++] = (char)('0' + c % 10);
	append(w, head, (size_t)n);
	append(w, value ? ",\"result\":" : ",\"out\":", value ? 10 : 7);
	append(w, text, value ? value_len : strlen(text));
	append(w, "}\n", 2);
	free(made);
	free(output);
}

/* The usual map line, {"args":{"<key>":<integer>}} as spawnd prints it,
 * read without a parse per task: w->quick with the new value, else NULL. */
static const cJSON *quick_args(struct worker *w, const char *line, size_t len)
{
	static const char head[] = "{\"args\":{\"";
	const char *end = line + len, *key = line + sizeof head - 1, *colon;
	if (len < sizeof head + 4 || memcmp(line, head, sizeof head - 1) || memcmp(end - 2, "}}", 2) ||
	    !(colon = memchr(key, '"', (size_t)(end - key))) || colon[1] != ':')
		return NULL;
	const char *v = colon + 2, *d = v + (*v == '-');
	long long n = 0;
	if (end - 2 - d < 1 || end - 2 - d > 15)
		return NULL;
	for (const char *c = d; c < end - 2; c++) {
		if (*c < '0' || *c > '9')
			return NULL;
		n = n * 10 + (*c - '0');
	}
	const char *old = w->quick && w->quick->child ? w->quick->child->string : NULL;
	if (!old || strlen(old) != (size_t)(colon - key) || memcmp(old, key, (size_t)(colon - key))) {
		cJSON_Delete(w->quick);
		w->quick = cJSON_ParseWithLength(line + 8, len - 9);   /* the first of its shape */
		if (!w->quick || !cJSON_IsNumber(w->quick->child))
			return NULL;
	}
	cJSON_SetNumberValue(w->quick->child, (double)(*v == '-' ? -n : n));
	return w->quick;
}

static void task_returned(struct worker *w)
{
	if (w->progress)
		(*w->progress)++;
}

/* Runs one task line. */
static void run_line(struct worker *w, const char *line, size_t len)
{
	const cJSON *quick = quick_args(w, line, len);
	if (quick) {
		int code = w->t->fn(quick, &w->ctx);
		if (__fpending(stdout))         /* an empty fflush() was 2% of a square's task */
			fflush(stdout);
		task_returned(w);
		add_result(w, code, false);
		return;
	}
	cJSON *msg = cJSON_ParseWithLength(line, len);
	const char *init = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "init"));
	const struct target *fn = init ? target_find(init) : w->t;
	int code = 127;
	if (msg && fn && fn->fn) {
		code = fn->fn(cJSON_GetObjectItemCaseSensitive(msg, "args"), &w->ctx);
		fflush(stdout);
	}
	if (!init)
		task_returned(w);
	add_result(w, code, init != NULL);
	cJSON_Delete(msg);
}

static void maybe_flush(struct worker *w)
{
	if (w->out_len >= FLUSH_BYTES || now_us() - w->flushed_us >= FLUSH_US)
		flush_results(w);       /* slow tasks: each answer as it comes */
}

/* When line is the head of an ints message, {"ints":"<key>","n":N}: N, its
 * key (not NUL-terminated) in *key, *klen. Else 0. */
static long ints_head(const char *line, size_t len, const char **key, size_t *klen)
{
	static const char head[] = "{\"ints\":\"";
	const char *end = line + len, *k = line + sizeof head - 1, *q;
	if (len < sizeof head + 8 || memcmp(line, head, sizeof head - 1) || !(q = memchr(k, '"', (size_t)(end - k))) ||
	    q - k > 128 || end - q < 7 || memcmp(q, "\",\"n\":", 6) || end[-1] != '}')
		return 0;
	long n = 0;
	for (const char *d = q + 6; d < end - 1; d++) {
		if (*d < '0' || *d > '9' || n > INTS_MAX)
			return 0;
		n = n * 10 + (*d - '0');
	}
	*key = k;
	*klen = (size_t)(q - k);
	return n <= INTS_MAX ? n : 0;
}

/* Runs the n integer tasks of an ints message: the target's function with
 * {"<key>": value} for each value (native int64s, maybe unaligned). */
static void run_ints(struct worker *w, const char *key, size_t klen, const char *values, long n)
{
	const char *old = w->quick && w->quick->child ? w->quick->child->string : NULL;
	if (!old || strlen(old) != klen || memcmp(old, key, klen)) {
		char name[132];
		memcpy(name, key, klen);
		name[klen] = '\0';
		cJSON_Delete(w->quick);
		w->quick = cJSON_CreateObject();
		if (!w->quick || !cJSON_AddNumberToObject(w->quick, name, 0))
			_exit(126);
	}
	for (long i = 0; i < n; i++) {
		int64_t v;
		memcpy(&v, values + i * (long)sizeof v, sizeof v);
		cJSON_SetNumberValue(w->quick->child, (double)v);
		int code = w->t->fn(w->quick, &w->ctx);
		if (__fpending(stdout))
			fflush(stdout);
		task_returned(w);
		add_result(w, code, false);
		maybe_flush(w);
	}
}

/* Runs the message at start (a line, or an ints message's head and values)
 * if all of it is in [start, end): the bytes it took, else 0 (*need: how
 * many it needs). */
static size_t run_message(struct worker *w, const char *start, const char *end, size_t *need)
{
	const char *nl = memchr(start, '\n', (size_t)(end - start)), *key;
	size_t klen, line = nl ? (size_t)(nl - start) : 0;
	if (!nl) {
		*need = (size_t)(end - start) + 1;
		return 0;
	}
	long n = ints_head(start, line, &key, &klen);
	size_t total = line + 1 + (size_t)n * sizeof(int64_t);
	if ((size_t)(end - start) < total) {
		*need = total;
		return 0;
	}
	if (n)
		run_ints(w, key, klen, nl + 1, n);
	else
		run_line(w, start, line);
	return total;
}

/* Runs every complete message read, answering them in one write per read. */
static void serve(struct worker *w)
{
	size_t cap = READ_SIZE, len = 0, need = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			_exit(126);
		ssize_t n = read(w->channel, buf + len, cap - len);
		if (n <= 0)
			break;          /* EOF: spawnd closed its end (retired), or is gone */
		len += (size_t)n;
		w->flushed_us = now_us();       /* nothing waits before this read's answers */
		char *start = buf;
		size_t used;
		while ((used = run_message(w, start, buf + len, &need))) {
			start += used;
			maybe_flush(w);
		}
		capture_check(w);
		flush_results(w);
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		while (need > cap || len == cap)        /* a long message: room for the rest of it */
			buf = realloc(buf, cap *= 2);
	}
}

/* Shares the progress page with spawnd (the design note). Without one,
 * spawnd takes the oldest unanswered task for the one that was running. */
static void share_progress(struct worker *w)
{
	static const char hello[] = "{\"progress\":1}\n";
	int fd = memfd_create("pool-progress", MFD_CLOEXEC);
	void *page = fd >= 0 && ftruncate(fd, 4096) == 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
							  : MAP_FAILED;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)hello, .iov_len = sizeof hello - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			    .msg_controllen = sizeof control.buf };
	if (page != MAP_FAILED) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
		if (sendmsg(w->channel, &m, MSG_NOSIGNAL) < 0)
			_exit(124);     /* spawnd is gone */
		w->progress = page;
	}
	if (fd >= 0)
		close(fd);
}

void fs_pool_worker(const struct parsed_request *p, const struct target *t)
{
	struct worker w = { .t = t, .ctx = { .id = p->id, .name = p->name } };
	w.channel = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	w.real_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), capture = capture_open(&w);
	if (w.channel < 0 || w.real_stdout < 0 || devnull < 0 || capture < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
	    dup2(capture, STDOUT_FILENO) < 0)
		_exit(126);
	void *map = mmap(NULL, CAPTURE_MAP, PROT_READ, MAP_SHARED, capture, 0);
	w.map = map == MAP_FAILED ? NULL : map;         /* none: pread */
	close(devnull);
	close(capture);
	target_return_capture(true);
	share_progress(&w);
	serve(&w);
	_exit(0);
}
