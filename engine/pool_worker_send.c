/* pool_worker_send — the tasks a persistent pool worker (see pool_worker.c)
 * is sent: a chunk in one write, queued in the slot's write buffer and
 * written as the socket takes it (EPOLLOUT watched while some is left).
 *
 * Why the usual map's chunk is one binary message (the protocol is in
 * forkserver/pool_worker.c): its integers were printed one line each, a
 * third of the pool thread's time; now they are copied as they are, and
 * the worker reads them without a parse. Any other item goes as its line,
 * {"args": <canonical args>}, objects of integers printed by hand.
 */
#define _GNU_SOURCE
#include "lib/number.h"
#include "engine/pool_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define CHUNK_LINES_MAX 65536                   /* tasks of one write (the worker's INTS_MAX) */

/* Grows *buf (capacity *cap) to hold need bytes. false: out of memory. */
bool pool_worker_reserve(char **buf, size_t *cap, size_t need)
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

/* Writes what is queued; EPOLLOUT is watched while some is left. */
void pool_worker_flush(struct pool_slot *s)
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

/* Queues text (len bytes) to be written. false: out of memory. */
static bool queue(struct pool_slot *s, const char *text, size_t len)
{
	if (!pool_worker_reserve(&s->wbuf, &s->wcap, s->wlen + len))
		return false;
	memcpy(s->wbuf + s->wlen, text, len);
	s->wlen += len;
	return true;
}

/* Sends msg (consumed) as one line. 0 or -errno. */
int pool_worker_send_line(struct pool_slot *s, cJSON *msg)
{
	char *text = msg ? number_print_json(msg) : NULL;
	cJSON_Delete(msg);
	bool ok = text && queue(s, text, strlen(text)) && queue(s, "\n", 1);
	free(text);
	if (!ok)
		return -ENOMEM;
	pool_worker_flush(s);
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
	for (struct pool_job *first = pool_open_jobs(s->pool); first; first = first->next)
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

/* The tasks items (n of them) of j, an integer job whose key needs no
 * escape, as one message: its head line, then the values as they are.
 * 1: done, 0: not such a job, -1: out of memory. */
static int queue_ints(struct pool_slot *s, const struct pool_job *j, const int *items, int n)
{
	char head[192];
	if (j->item_at || strlen(j->int_key) > 128 || !plain_key(j->int_key))
		return 0;
	size_t hlen = (size_t)snprintf(head, sizeof head, "{\"ints\":\"%s\",\"n\":%d}\n", j->int_key, n);
	if (!pool_worker_reserve(&s->wbuf, &s->wcap, s->wlen + hlen + (size_t)n * sizeof *j->ints))
		return -1;
	memcpy(s->wbuf + s->wlen, head, hlen);
	s->wlen += hlen;
	for (int i = 0; i < n; i++, s->wlen += sizeof *j->ints)
		memcpy(s->wbuf + s->wlen, &j->ints[items[i]], sizeof *j->ints);
	return 1;
}

/* Appends "{"args":<item>}\n" to the write buffer. false: out of memory. */
static bool queue_item(struct pool_slot *s, const struct pool_job *j, int item)
{
	char quick[256];
	const cJSON *args = j->item_at ? j->item_at[item] : NULL;
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

/* The tasks items (n of them) of j, queued: false, out of memory (nothing queued). */
static bool queue_tasks(struct pool_slot *s, const struct pool_job *j, const int *items, int n)
{
	size_t mark = s->wlen;
	int done = queue_ints(s, j, items, n);
	for (int i = 0; !done && i < n; i++)
		if (!queue_item(s, j, items[i]))
			done = -1;
	if (done < 0)
		s->wlen = mark;
	return done >= 0;
}

/* Sends the rest of s's chunk as one write (a retry alone), and the next
 * chunk of the same job once half of the tasks out are answered. */
void pool_worker_send_tasks(struct pool_slot *s)
{
	if (s->flight_len && s->flight_len * 2 > s->batch)
		return;
	struct pool_job *j = s->flight_len ? s->task_job : NULL;
	int want = room(s), n = 0, item;
	if (want <= 0 || !flight_room(s, want))
		return;
	int first = s->flight_len;
	while (n < want) {
		struct pool_job *got = j ? next_of(s, j, &item) : pool_next_item(s, &item);
		if (!got)
			break;
		j = got;
		s->flight[s->flight_len++] = item;
		n++;
		if (s->cur >= s->hi || s->job != j)
			break;          /* a retry, or the chunk's end */
	}
	if (n == 0)
		return;
	if (!queue_tasks(s, j, s->flight + first, n)) {
		while (s->flight_len > first)      /* out of memory: they wait for a later pass */
			j->retry[j->retry_len++] = s->flight[--s->flight_len];
		return;
	}
	s->task_job = j;
	s->batch = n;
	j->running += n;
	pool_worker_flush(s);
}
