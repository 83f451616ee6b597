/* pool_worker — spawnd's side of a persistent pool worker (the worker's side,
 * and the line protocol, are in forkserver/pool_worker.c).
 *
 * A pool of a C target (builtin or plugin) keeps one long-lived worker
 * process per slot, started when there is work, and feeds it one line at a
 * time through its stdin (proc_write_stdin()): the initializer's, then a
 * task's. Its stdout holds one result line per line sent; the slot's engine
 * waiter (proc_wait_output() from out_off) fires on new output or the
 * worker's end, and the pool thread reads the complete lines past out_off.
 * Lines are pipelined: up to POOL_FLIGHT_MAX task lines of the worker's
 * current chunk are out at once, answered in order, so the worker never
 * waits for the pool thread between two tasks; a worker whose chunk is done
 * pulls the next chunk, as a task process would. An initializer line is sent
 * alone (its failure must stop the tasks behind it).
 *
 * A worker that ends (killed, crashed, its function called exit()) fails the
 * task it ran, with the reason its record gives (signal, exit code); the
 * slot starts a new worker (with its initializer) for the next task. After
 * maxtasksperchild tasks, and when its pool is closed and has no work left,
 * a worker's stdin is closed, and it exits 0.
 */
#include "lib/number.h"
#include "engine/pool_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES ((1 << 20) + 4096)       /* a result line: 1 MiB of output, quoted */
#define READ_CHUNK 65536

static void arm(struct pool_slot *s)
{
	uint64_t offsets[2] = { s->out_off, UINT64_MAX };
	if (proc_wait_output(s->proc_id, offsets, -1, &s->waiter, pool_slot_woken) != 0) {
		atomic_store(&s->ended, true);  /* output already, or it has ended: look again */
		pool_kick();
	}
}

/* Reads what the worker wrote past out_off and hands each complete result
 * line to fn (out_off moves past it); returns how many there were, and
 * *ended when the worker has ended (its output is final). Lines are taken
 * from one read of many at once: reading line by line copied a whole chunk
 * per line. A line over the limit kills the worker (it broke the protocol). */
static int read_lines(struct pool_slot *s, bool *ended, void (*fn)(struct pool_slot *, const char *))
{
	char *buf = NULL;
	size_t len = 0;
	uint64_t total;
	int lines = 0;
	for (;;) {
		char *grown = realloc(buf, len + READ_CHUNK + 1);
		if (!grown)
			break;
		buf = grown;
		ssize_t n = proc_read_output(s->proc_id, PROC_STDOUT, s->out_off + len, buf + len, READ_CHUNK,
					     &total, ended, NULL, NULL);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
			*nl = '\0';
			fn(s, start);
			lines++;
			start = nl + 1;
		}
		size_t used = (size_t)(start - buf);
		s->out_off += used;
		memmove(buf, start, len - used);
		len -= used;
		if (len > LINE_MAX_BYTES) {
			proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);
			break;
		}
	}
	free(buf);
	return lines;
}

static void retire(struct pool_slot *s)
{
	s->retire = false;
	s->retiring = true;
	proc_write_stdin(s->proc_id, "", 0, true);
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

static void on_line(struct pool_slot *s, const char *text)
{
	cJSON *line = cJSON_Parse(text), *code = cJSON_GetObjectItemCaseSensitive(line, "exit");
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
		s->item = s->flight[s->flight_head];
		s->flight_head = (s->flight_head + 1) % POOL_FLIGHT_MAX;
		s->flight_len--;
		pool_task_done(s, failure, failure ? NULL : task_result(s, line));
		if (s->retire)
			retire(s);
	} else {
		cJSON_Delete(failure);  /* nothing was asked: ignored */
	}
	cJSON_Delete(line);
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
	s->busy = s->retiring = s->retire = false;
	s->initialized = s->named = false;      /* the next worker is a new one */
	if (s->init_pending) {
		s->init_pending = false;
		pool_initializer_ended(s, failure);
	} else if (s->flight_len > 0) {
		/* The oldest line was running; the ones behind it never started. */
		struct pool_job *j = s->task_job;
		s->item = s->flight[s->flight_head];
		for (int k = 1; k < s->flight_len; k++) {
			j->retry[j->retry_len++] = s->flight[(s->flight_head + k) % POOL_FLIGHT_MAX];
			j->running--;
		}
		s->flight_len = 0;
		pool_task_done(s, failure, NULL);
	} else {
		cJSON_Delete(failure);
	}
}

void pool_worker_event(struct pool_slot *s)
{
	bool ended = false;
	read_lines(s, &ended, on_line);
	if (ended)
		worker_gone(s);
	else
		arm(s);
}

/* Sends msg (consumed) as one line. 0 or -errno. */
static int send_line(struct pool_slot *s, cJSON *msg)
{
	char *text = msg ? number_print_json(msg) : NULL;
	cJSON_Delete(msg);
	if (!text)
		return -ENOMEM;
	size_t len = strlen(text);
	text[len] = '\n';       /* over the NUL: the length is passed */
	ssize_t n = proc_write_stdin(s->proc_id, text, len + 1, false);
	free(text);
	return n < 0 ? (int)n : 0;
}

static int start_worker(struct pool_slot *s)
{
	pool_name_worker(s);
	s->out_off = 0;
	int r = pool_spawn_in(s, s->pool->target, NULL, s->worker_name);
	if (r == 0)
		arm(s);
	return r;
}

/* How many more task lines s may have out: its flight's room, and what is
 * left of maxtasksperchild for this worker. */
static int room(const struct pool_slot *s)
{
	int n = POOL_FLIGHT_MAX - s->flight_len;
	long max = s->pool->maxtasksperchild;
	if (max > 0 && max - s->tasks - s->flight_len < n)
		n = (int)(max - s->tasks - s->flight_len);
	return n;
}

/* Sends task lines: a new batch when none is out, else more of the same
 * chunk once half the flight is answered. false: they could not be written
 * now (try later). */
static bool send_tasks(struct pool_slot *s)
{
	if (s->flight_len > POOL_FLIGHT_MAX / 2)
		return true;
	char *text = NULL;
	size_t len = 0;
	int items[POOL_FLIGHT_MAX], n = 0, want = room(s);
	struct pool_job *j = s->flight_len ? s->task_job : NULL;
	while (n < want) {
		if (j && !(s->job == j && j->state == JOB_RUNNING && s->cur < s->hi))
			break;          /* one job at a time; no new chunk while lines are out */
		int item;
		struct pool_job *got = pool_next_item(s, &item);
		if (!got)
			break;
		j = got;
		char *args = number_print_json(j->item_at[item]);
		size_t alen = args ? strlen(args) : 0;
		char *grown = args ? realloc(text, len + alen + 12) : NULL;
		if (!grown) {
			free(args);
			j->retry[j->retry_len++] = item;
			break;
		}
		text = grown;
		len += (size_t)sprintf(text + len, "{\"args\":%s}\n", args);
		free(args);
		items[n++] = item;
		if (s->cur >= s->hi || s->job != j)
			break;          /* a retry, or the chunk's end */
	}
	if (n == 0)
		return true;
	ssize_t w = proc_write_stdin(s->proc_id, text, len, false);
	free(text);
	if (w < 0) {
		for (int k = 0; k < n; k++)
			j->retry[j->retry_len++] = items[k];    /* not their fault: not an attempt */
		return false;
	}
	s->task_job = j;
	for (int k = 0; k < n; k++)
		s->flight[(s->flight_head + s->flight_len++) % POOL_FLIGHT_MAX] = items[k];
	j->running += n;
	return true;
}

bool pool_worker_feed(struct pool_slot *s)
{
	struct pool *p = s->pool;
	if (s->busy && (s->init_pending || s->retiring))
		return true;
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
	return send_tasks(s);
}
