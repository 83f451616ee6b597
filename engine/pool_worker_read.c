/* pool_worker_read — the answers of a persistent pool worker (see
 * pool_worker.c), as they come on its socket: one line per answer, or one
 * line {"exit":0,"results":[V,...]} for a run of plain ones (the protocol is
 * in forkserver/pool_worker.c), each value taken in order as the result of
 * the oldest task out; and the worker's progress page, passed with its first
 * line.
 *
 * Why runs and a quick integer path: the usual map answers 100,000 integers;
 * a cJSON parse per answer, then a node per result, was most of the pool
 * thread's time. An integer value is read by hand into a number node of the
 * job's own array; anything else goes through cJSON.
 */
#define _GNU_SOURCE
#include "engine/pool_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES ((1 << 20) + 4096)       /* a result line: 1 MiB of output, quoted */
#define READ_CHUNK 65536

/* A task's result from its line: the returned value, or its stdout (as JSON
 * when the target returns JSON, else as text). */
static cJSON *task_result(struct pool_slot *s, cJSON *line)
{
	cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(line, "result");
	if (v)
		return v;
	const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "out"));
	if (!out)
		return pool_error_json("lost", "its worker sent a result line without a result", NULL);
	if (!s->pool->target->returns_json)
		return cJSON_CreateString(out);
	v = cJSON_Parse(out);
	return v ? v : pool_error_json("bad_result", "its target returns JSON, and its stdout is not JSON", NULL);
}

int pool_worker_flight_pop(struct pool_slot *s)
{
	int item = s->flight[s->flight_head++];
	if (--s->flight_len == 0)
		s->flight_head = 0;
	s->answered++;
	return item;
}

/* An integer of at most 15 digits in [v, end), or false. */
static bool quick_int(const char *v, const char *end, int64_t *out)
{
	bool neg = v < end && *v == '-';
	v += neg;
	if (end - v < 1 || end - v > 15)
		return false;
	int64_t n = 0;
	for (; v < end; v++) {
		if (*v < '0' || *v > '9')
			return false;
		n = n * 10 + (*v - '0');
	}
	*out = neg ? -n : n;
	return true;
}

/* The usual map line, a task that returned 0 with an integer (as a value,
 * or printed by a target that returns JSON), read without a parser: its
 * result, else NULL (the line is parsed). */
static cJSON *quick_result(struct pool_slot *s, const char *text, size_t len)
{
	static const char value[] = "{\"exit\":0,\"result\":", printed[] = "{\"exit\":0,\"out\":\"";
	const char *end = text + len;
	int64_t n;
	if (len < sizeof printed + 2 || end[-1] != '}')
		return NULL;
	if (!memcmp(text, value, sizeof value - 1)) {
		text += sizeof value - 1;
		end--;
	} else if (s->pool->target->returns_json && !memcmp(text, printed, sizeof printed - 1) && end[-2] == '"') {
		text += sizeof printed - 1;
		end -= 2;
		if (end - text >= 2 && end[-2] == '\\' && end[-1] == 'n')
			end -= 2;       /* the line it printed */
	} else {
		return NULL;
	}
	return quick_int(text, end, &n) ? pool_job_number(s->task_job, (double)n) : NULL;
}

#define INTS_BATCH 256

/* A run of plain answers (the values between its brackets, [p, end)): one
 * result per value, in order; integers stored by batches (pool_job_ints()),
 * unless the pool counts tasks per worker (maxtasksperchild: one by one). A
 * value that is not JSON breaks the protocol: the worker is killed (its end
 * fails the task it ran, reruns the rest). */
static void on_results(struct pool_slot *s, const char *p, const char *end)
{
	int items[INTS_BATCH], n = 0;
	int64_t values[INTS_BATCH];
	bool batch = s->pool->maxtasksperchild == 0;
	while (p < end && s->flight_len > 0) {
		const char *e = p + (*p == '-');
		cJSON *v = NULL;
		while (e < end && *e >= '0' && *e <= '9')
			e++;
		if ((e == end || *e == ',') && quick_int(p, e, &values[n])) {
			if (batch) {
				items[n++] = pool_worker_flight_pop(s);
				if (n == INTS_BATCH) {
					pool_tasks_ints(s, items, values, n);
					n = 0;
				}
				p = e < end ? e + 1 : end;
				continue;
			}
			v = pool_job_number(s->task_job, (double)values[n]);
		} else {
			const char *after = NULL;
			v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &after, false);
			e = after;
		}
		if (n) {
			pool_tasks_ints(s, items, values, n);   /* in order, before this one */
			n = 0;
		}
		if (!v || (e < end && *e != ',')) {
			pool_result_free(s->task_job, v);
			proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);
			return;
		}
		s->item = pool_worker_flight_pop(s);
		pool_task_done(s, NULL, v);
		if (s->retire)
			pool_worker_retire(s);
		p = e < end ? e + 1 : end;
	}
	if (n)
		pool_tasks_ints(s, items, values, n);
}

static void on_line(struct pool_slot *s, const char *text, size_t len)
{
	static const char hello[] = "{\"progress\":1}", run[] = "{\"exit\":0,\"results\":[";
	if (len == sizeof hello - 1 && !memcmp(text, hello, len))
		return;                 /* its page came with it (take_progress()) */
	if (!s->init_pending && len >= sizeof run + 1 && !memcmp(text, run, sizeof run - 1) && !memcmp(text + len - 2, "]}", 2)) {
		on_results(s, text + sizeof run - 1, text + len - 2);
		return;
	}
	cJSON *quick = !s->init_pending && s->flight_len > 0 ? quick_result(s, text, len) : NULL;
	if (quick) {
		s->item = pool_worker_flight_pop(s);
		pool_task_done(s, NULL, quick);
		if (s->retire)
			pool_worker_retire(s);
		return;
	}
	cJSON *line = cJSON_ParseWithLength(text, len), *code = cJSON_GetObjectItemCaseSensitive(line, "exit");
	int exitcode = cJSON_IsNumber(code) ? code->valueint : 127;
	char why[96];
	snprintf(why, sizeof why, "%s returned %d", s->init_pending ? "its initializer" : "the task", exitcode);
	cJSON *failure = exitcode ? pool_error_json("exit", why, cJSON_IsNumber(code) ? code : NULL) : NULL;
	if (s->init_pending) {
		s->init_pending = false;
		pool_initializer_ended(s, failure);
		if (failure)
			pool_worker_retire(s);
	} else if (s->flight_len > 0) {
		s->item = pool_worker_flight_pop(s);
		pool_task_done(s, failure, failure ? NULL : task_result(s, line));
		if (s->retire)
			pool_worker_retire(s);
	} else {
		cJSON_Delete(failure);  /* nothing was asked: ignored */
	}
	cJSON_Delete(line);
}

/* Maps the progress page the worker passed (SCM_RIGHTS) and closes every
 * fd that came. */
static void take_progress(struct pool_slot *s, struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
			void *page = s->progress ? MAP_FAILED : mmap(NULL, POOL_PROGRESS_PAGE, PROT_READ, MAP_SHARED, fd, 0);
			if (page != MAP_FAILED)
				s->progress = page;
			close(fd);
		}
	}
}

/* Reads what the worker sent and hands each complete line to on_line(),
 * until the socket has nothing more (or its end). A line over the limit
 * kills the worker (it broke the protocol). */
void pool_worker_read(struct pool_slot *s)
{
	while (s->channel >= 0 && !s->channel_eof) {
		if (!pool_worker_reserve(&s->rbuf, &s->rcap, s->rlen + READ_CHUNK))
			return;
		union { char buf[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
		struct iovec iov = { .iov_base = s->rbuf + s->rlen, .iov_len = READ_CHUNK };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				    .msg_controllen = sizeof control.buf };
		ssize_t n = recvmsg(s->channel, &m, MSG_CMSG_CLOEXEC);
		if (n > 0 && m.msg_controllen)
			take_progress(s, &m);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				s->channel_eof = true;  /* its end (s->ended) follows */
				pool_run_watch(s, EPOLL_CTL_DEL, 0);
			}
			return;
		}
		s->rlen += (size_t)n;
		char *start = s->rbuf, *nl;
		while ((nl = memchr(start, '\n', s->rlen - (size_t)(start - s->rbuf)))) {
			on_line(s, start, (size_t)(nl - start));
			start = nl + 1;
		}
		s->rlen -= (size_t)(start - s->rbuf);
		memmove(s->rbuf, start, s->rlen);
		if (s->rlen > LINE_MAX_BYTES) {
			proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);
			s->rlen = 0;
			return;
		}
	}
}

