/* pool_worker — spawnd's side of a persistent pool worker (the worker's side,
 * and the line protocol, are in forkserver/pool_worker.c).
 *
 * A pool of a C target (builtin or plugin) keeps one long-lived worker
 * process per slot, started when there is work. Its stdin is a socket
 * (FORKSERVER_POOL_WORKER), whose other end the pool thread takes
 * (proc_take_channel()) and watches in its own epoll set: task lines go out
 * on it, one result line per task line comes back, in order. So results
 * never pass through the worker's captured stdout (its output cap, its
 * store), which stays what the tasks print.
 *
 * A chunk goes out as one write: every line of it at once, and the next
 * chunk of the same job once half of the lines out are answered, so the
 * worker never waits for the pool thread between two tasks. Result lines
 * are parsed from one buffer per read, no copy per line. An initializer
 * line is sent alone (its failure must stop the tasks behind it).
 *
 * A worker that ends (killed, crashed, its function called exit()) fails the
 * task it ran, with the reason its record gives (signal, exit code); the
 * lines sent after that one never started and are run again, one by one
 * (retries, not attempts), so only the task that killed its worker fails.
 * The slot starts a new worker (with its initializer) for the next task.
 * After maxtasksperchild tasks, and when its pool is closed and has no work
 * left, a worker's socket is shut for writing, and it exits 0.
 */
#define _GNU_SOURCE
#include "lib/number.h"
#include "engine/pool_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES ((1 << 20) + 4096)       /* a result line: 1 MiB of output, quoted */
#define READ_CHUNK 65536
#define CHUNK_LINES_MAX 65536                   /* task lines of one write */

/* Grows *buf (capacity *cap) to hold need bytes. false: out of memory. */
static bool reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : READ_CHUNK;
	while (n < need)
		n *= 2;
	char *grown = realloc(*buf, n);
	if (!grown)
		return false;
	*buf = grown;
	*cap = n;
	return true;
}

static void close_channel(struct pool_slot *s)
{
	if (s->channel >= 0)
		close(s->channel);      /* also leaves the epoll set */
	s->channel = -1;
	s->channel_eof = s->readable = s->wants_out = false;
	s->rlen = s->wlen = s->woff = 0;
}

void pool_worker_release(struct pool_slot *s)
{
	if (s->pool)
		close_channel(s);
	free(s->flight);
	free(s->rbuf);
	free(s->wbuf);
}

/* Writes what is queued; EPOLLOUT is watched while some is left. */
static void flush(struct pool_slot *s)
{
	while (s->channel >= 0 && s->woff < s->wlen) {
		ssize_t n = send(s->channel, s->wbuf + s->woff, s->wlen - s->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				s->woff = s->wlen;      /* the worker is gone: its end says the rest */
			break;
		}
		s->woff += (size_t)n;
	}
	bool left = s->woff < s->wlen;
	if (!left)
		s->woff = s->wlen = 0;
	if (s->channel >= 0 && !s->channel_eof && left != s->wants_out) {
		s->wants_out = left;
		pool_run_watch(s, EPOLL_CTL_MOD, EPOLLIN | (left ? EPOLLOUT : 0));
	}
}

static void retire(struct pool_slot *s)
{
	s->retire = false;
	s->retiring = true;
	if (s->channel >= 0)
		shutdown(s->channel, SHUT_WR);
}

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

static int flight_pop(struct pool_slot *s)
{
	int item = s->flight[s->flight_head++];
	if (--s->flight_len == 0)
		s->flight_head = 0;
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

static void on_line(struct pool_slot *s, const char *text, size_t len)
{
	cJSON *quick = !s->init_pending && s->flight_len > 0 ? quick_result(s, text, len) : NULL;
	if (quick) {
		s->item = flight_pop(s);
		pool_task_done(s, NULL, quick);
		if (s->retire)
			retire(s);
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
			retire(s);
	} else if (s->flight_len > 0) {
		s->item = flight_pop(s);
		pool_task_done(s, failure, failure ? NULL : task_result(s, line));
		if (s->retire)
			retire(s);
	} else {
		cJSON_Delete(failure);  /* nothing was asked: ignored */
	}
	cJSON_Delete(line);
}

/* Reads what the worker sent and hands each complete line to on_line(),
 * until the socket has nothing more (or its end). A line over the limit
 * kills the worker (it broke the protocol). */
static void read_lines(struct pool_slot *s)
{
	while (s->channel >= 0 && !s->channel_eof) {
		if (!reserve(&s->rbuf, &s->rcap, s->rlen + READ_CHUNK))
			return;
		ssize_t n = read(s->channel, s->rbuf + s->rlen, READ_CHUNK);
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

/* The worker has ended: what it was running fails with its record's reason. */
static void worker_gone(struct pool_slot *s)
{
	cJSON *raw = proc_get_json(s->proc_id, 0);
	cJSON *rec = raw ? cJSON_Parse(raw->valuestring) : NULL;
	cJSON *failure = rec ? pool_failure_of(rec) : NULL;
	cJSON_Delete(raw);
	cJSON_Delete(rec);
	if (!failure && (s->init_pending || s->flight_len))
		failure = pool_error_json("lost", "its worker exited while it ran", NULL);
	close_channel(s);
	s->busy = s->retiring = s->retire = false;
	s->initialized = s->named = false;      /* the next worker is a new one */
	if (s->init_pending) {
		s->init_pending = false;
		pool_initializer_ended(s, failure);
	} else if (s->flight_len > 0) {
		/* The oldest line was running; the ones behind it never started. */
		struct pool_job *j = s->task_job;
		s->item = flight_pop(s);
		while (s->flight_len > 0) {
			j->retry[j->retry_len++] = flight_pop(s);
			j->running--;
		}
		pool_task_done(s, failure, NULL);
	} else {
		cJSON_Delete(failure);
	}
}

void pool_worker_event(struct pool_slot *s)
{
	if (s->readable || atomic_load(&s->ended))
		read_lines(s);
	s->readable = false;
	flush(s);
	if (atomic_exchange(&s->ended, false))
		worker_gone(s);
}

/* Takes the new worker's socket, once it has started. */
static void take_channel(struct pool_slot *s)
{
	int fd = proc_take_channel(s->proc_id);
	if (fd == -EAGAIN)
		return;                 /* not started yet: the next pass looks again */
	if (fd < 0) {
		s->channel_eof = true;  /* it ended before: its end is reported */
		return;
	}
	s->channel = fd;
	if (pool_run_watch(s, EPOLL_CTL_ADD, EPOLLIN) < 0)
		proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);     /* it could never be answered */
}

static int start_worker(struct pool_slot *s)
{
	pool_name_worker(s);
	s->channel = -1;
	s->channel_eof = false;
	int r = pool_spawn_in(s, s->pool->target, NULL, s->worker_name);
	if (r == 0)
		take_channel(s);
	return r;
}

/* Queues text (len bytes) to be written. false: out of memory. */
static bool queue(struct pool_slot *s, const char *text, size_t len)
{
	if (!reserve(&s->wbuf, &s->wcap, s->wlen + len))
		return false;
	memcpy(s->wbuf + s->wlen, text, len);
	s->wlen += len;
	return true;
}

/* Sends msg (consumed) as one line. 0 or -errno. */
static int send_line(struct pool_slot *s, cJSON *msg)
{
	char *text = msg ? number_print_json(msg) : NULL;
	cJSON_Delete(msg);
	bool ok = text && queue(s, text, strlen(text)) && queue(s, "\n", 1);
	free(text);
	if (!ok)
		return -ENOMEM;
	flush(s);
	return 0;
}

/* How many more task lines s may have out: what is left of
 * maxtasksperchild for this worker, at most CHUNK_LINES_MAX. */
static int room(const struct pool_slot *s)
{
	int n = CHUNK_LINES_MAX;
	long max = s->pool->maxtasksperchild;
	if (max > 0 && max - s->tasks - s->flight_len < n)
		n = (int)(max - s->tasks - s->flight_len);
	return n;
}

/* The next item for s while lines of job j are out: of j only (lines are
 * answered in order, for one job at a time). NULL: none now. */
static struct pool_job *next_of(struct pool_slot *s, struct pool_job *j, int *item)
{
	if (s->job == j && j->state == JOB_RUNNING && s->cur < s->hi)
		return pool_next_item(s, item);
	for (struct pool_job *first = s->pool->jobs; first; first = first->next)
		if (first->state == JOB_RUNNING && (first->retry_len || first->next_index < first->total))
			return first == j && !first->retry_len ? pool_next_item(s, item) : NULL;
	return NULL;
}

/* An arg name JSON needs no escape for. */
static bool plain_key(const char *k)
{
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

/* The usual map item, an object of integers, printed by hand into buf:
 * its length, 0: it is not one. */
static size_t quick_args(const cJSON *args, char *buf, size_t cap)
{
	size_t len = 0;
	if (!cJSON_IsObject(args))
		return 0;
	buf[len++] = '{';
	for (const cJSON *c = args->child; c; c = c->next) {
		int64_t i;
		size_t klen = strlen(c->string);
		if (!cJSON_IsNumber(c) || !number_int64(c->valuedouble, &i) || len + klen + 32 > cap || !plain_key(c->string))
			return 0;
		if (c != args->child)
			buf[len++] = ',';
		buf[len++] = '"';
		memcpy(buf + len, c->string, klen);
		len += klen;
		buf[len++] = '"';
		buf[len++] = ':';
		len += number_int64_text(buf + len, i);
	}
	buf[len++] = '}';
	return len;
}

/* An integer item's line, {"args":{"<key>":<n>}}, written straight into
 * the write buffer (the map's usual line: one reserve, no copy). 1: done,
 * 0: its key needs escapes, -1: out of memory. */
static int queue_int_item(struct pool_slot *s, const struct pool_job *j, int item)
{
	size_t klen = strlen(j->int_key);
	if (klen > 128 || !plain_key(j->int_key))
		return 0;
	if (!reserve(&s->wbuf, &s->wcap, s->wlen + klen + 48))
		return -1;
	char *p = s->wbuf + s->wlen;
	memcpy(p, "{\"args\":{\"", 10);
	memcpy(p + 10, j->int_key, klen);
	memcpy(p + 10 + klen, "\":", 2);
	size_t n = 12 + klen + number_int64_text(p + 12 + klen, j->ints[item]);
	memcpy(p + n, "}}\n", 3);
	s->wlen += n + 3;
	return 1;
}

/* Appends "{"args":<item>}\n" to the write buffer. false: out of memory. */
static bool queue_item(struct pool_slot *s, const struct pool_job *j, int item)
{
	char quick[256];
	const cJSON *args = j->item_at ? j->item_at[item] : NULL;
	int done = args ? 0 : queue_int_item(s, j, item);
	if (done)
		return done > 0;
	size_t qlen = args ? quick_args(args, quick, sizeof quick) : 0;
	if (qlen)
		return queue(s, "{\"args\":", 8) && queue(s, quick, qlen) && queue(s, "}\n", 2);
	cJSON *made = args ? NULL : pool_job_item(j, item);     /* an integer item whose key JSON escapes */
	char *text = args || made ? number_print_json(args ? args : made) : NULL;
	bool ok = text && queue(s, "{\"args\":", 8) && queue(s, text, strlen(text)) && queue(s, "}\n", 2);
	cJSON_Delete(made);
	free(text);
	return ok;
}

static bool flight_room(struct pool_slot *s, int more)
{
	if (s->flight_head > 0) {
		memmove(s->flight, s->flight + s->flight_head, (size_t)s->flight_len * sizeof *s->flight);
		s->flight_head = 0;
	}
	if (s->flight_len + more <= s->flight_cap)
		return true;
	int *grown = realloc(s->flight, (size_t)(s->flight_len + more) * sizeof *grown);
	if (!grown)
		return false;
	s->flight = grown;
	s->flight_cap = s->flight_len + more;
	return true;
}

/* Sends the rest of s's chunk as one write (a retry alone), and the next
 * chunk of the same job once half of the lines out are answered. */
static void send_tasks(struct pool_slot *s)
{
	if (s->flight_len && s->flight_len * 2 > s->batch)
		return;
	struct pool_job *j = s->flight_len ? s->task_job : NULL;
	int want = room(s), n = 0, item;
	if (want <= 0 || !flight_room(s, want))
		return;
	while (n < want) {
		struct pool_job *got = j ? next_of(s, j, &item) : pool_next_item(s, &item);
		if (!got)
			break;
		j = got;
		if (!queue_item(s, j, item)) {
			j->retry[j->retry_len++] = item;
			break;
		}
		s->flight[s->flight_len++] = item;
		n++;
		if (s->cur >= s->hi || s->job != j)
			break;          /* a retry, or the chunk's end */
	}
	if (n == 0)
		return;
	s->task_job = j;
	s->batch = n;
	j->running += n;
	flush(s);
}

bool pool_worker_feed(struct pool_slot *s)
{
	struct pool *p = s->pool;
	if (s->busy && s->channel < 0 && !s->channel_eof)
		take_channel(s);
	if (s->busy && (s->channel < 0 || s->init_pending || s->retiring))
		return !(s->channel < 0 && !s->channel_eof);    /* not started yet: look again soon */
	bool work = p->state != POOL_TERMINATED && !p->error && pool_has_work(s);
	if (!work) {
		if (s->busy && !s->flight_len && (p->state != POOL_RUNNING || p->error))
			retire(s);      /* close(): an idle worker ends once the work is done */
		return true;
	}
	if (!s->busy) {
		int r = start_worker(s);
		if (r < 0)
			return r != -EAGAIN && r != -EBUSY;
		if (s->channel < 0)
			return s->channel_eof;
	}
	if (p->initializer && !s->initialized) {
		if (s->flight_len)
			return true;
		cJSON *msg = cJSON_CreateObject();
		cJSON_AddStringToObject(msg, "init", p->initializer->name);
		cJSON_AddItemToObject(msg, "args", p->initargs ? cJSON_Duplicate(p->initargs, true) : cJSON_CreateObject());
		if (send_line(s, msg) < 0)
			return false;
		s->init_pending = true;
		return true;
	}
	send_tasks(s);
	return true;
}
