/* proc_query — reading records: one by id, a page of them, their output,
 * their exit line, the counters (proc.h).
 *
 * A page is chosen by the store (filters, cursor, limit); each record of it
 * is then rendered from the live record when there is one, so the byte
 * counts of a running process are current, and from the store's copy when
 * there is none (a durable store's records of an earlier run).
 *
 * A record that only the store has is read through proc_stored.h, outside
 * the engine lock. An answer about an ended record waits until the store
 * has it on disk (store_sync_all: a wait on the writer's commit, no disk I/O
 * here), so what a client was told survives a crash. It waits for that
 * record's last write only (its store_seq), not for every write queued since:
 * under load the writer is always behind on someone.
 */
#include "engine/proc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/proc_json.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"
#include "lib/signame.h"

cJSON *proc_get_json(const char *id, unsigned flags)
{
	struct store_record stored;
	engine_lock();
	struct proc *p = proc_table_find(id);
	cJSON *j = p ? proc_render(&p->rec, p->out, flags) : NULL;
	uint64_t seq = p ? p->store_seq : 0;
	engine_unlock();
	store_sync(proc_table_store(), seq);
	if (p || proc_stored_get(id, &stored) < 0)
		return j;
	j = proc_stored_render(&stored, flags);
	store_record_release(&stored);
	return j;
}

/* Renders the page into list; *seq: the newest store write of the live
 * records rendered (their state may be newer than what the list read). */
static int render_page(const struct store_page *page, cJSON *list, uint64_t *seq)
{
	for (int i = 0; i < page->count; i++) {
		struct proc *p = proc_table_find(page->records[i].id);
		if (p && p->store_seq > *seq)
			*seq = p->store_seq;
		cJSON *item = p ? proc_render(&p->rec, p->out, 0) : proc_render(&page->records[i], NULL, 0);
		if (!item || !cJSON_AddItemToArray(list, item)) {
			cJSON_Delete(item);
			return -ENOMEM;
		}
	}
	return 0;
}

cJSON *proc_list_json(const struct proc_filter *f, int *err)
{
	struct store_query q = { -1, f->alive, f->target, f->name, f->after, f->limit };
	struct store_page page;
	if (f->state && (q.state = store_state_parse(f->state)) < 0) {
		*err = -EINVAL;
		return NULL;
	}
	cJSON *out = cJSON_CreateObject(), *list = out ? cJSON_AddArrayToObject(out, "processes") : NULL;
	if (!list) {
		cJSON_Delete(out);
		*err = -ENOMEM;
		return NULL;
	}
	int r = proc_stored_list(&q, &page);
	uint64_t seq = 0;
	if (r == 0) {
		engine_lock();
		r = render_page(&page, list, &seq);
		engine_unlock();
		store_sync(proc_table_store(), seq);    /* a record that ended meanwhile: on disk before it is told */
	}
	if (r == 0 && !(page.next[0] ? cJSON_AddStringToObject(out, "next", page.next) : cJSON_AddNullToObject(out, "next")))
		r = -ENOMEM;
	store_page_release(&page);      /* the store leaves it empty on error */
	if (r < 0) {
		cJSON_Delete(out);
		*err = r;
		return NULL;
	}
	return out;
}

/* When the byte at offset of a stored stream was captured: from the marks
 * kept with it, else (a record of a store made before they were kept) its
 * end, the latest it can be. */
static int64_t stored_captured_at(const struct store_record *r, enum proc_stream stream, uint64_t offset)
{
	struct store *st = proc_table_store();
	size_t cap = OUTBUF_MARKS_MAX * OUTBUF_MARK_BYTES;
	unsigned char *marks = st->ops->read_marks ? malloc(cap) : NULL;
	long n = marks ? st->ops->read_marks(st, r->id, stream, marks, cap) : -ENOENT;
	int64_t ms = n > 0 ? outbuf_marks_lookup(marks, (size_t)n, offset) : 0;
	free(marks);
	return ms ? ms : r->ended_ms;
}

static ssize_t read_stored_output(const char *id, enum proc_stream stream, uint64_t offset, void *buf,
				  size_t len, uint64_t *total, bool *is_ended, int64_t *captured_ms, uint64_t *dropped)
{
	struct store_record r;
	if (proc_stored_get(id, &r) < 0)
		return -ENOENT;
	ssize_t n = proc_stored_read(&r, stream, offset, buf, len);
	*total = stream == PROC_STDOUT ? r.stdout_bytes : r.stderr_bytes;
	*is_ended = true;
	if (captured_ms)
		*captured_ms = stored_captured_at(&r, stream, offset);
	if (dropped)
		*dropped = stream == PROC_STDOUT ? r.stdout_dropped : r.stderr_dropped;
	store_record_release(&r);
	return n;
}

ssize_t proc_read_output(const char *id, enum proc_stream stream, uint64_t offset, void *buf,
			 size_t len, uint64_t *total, bool *is_ended, int64_t *captured_ms, uint64_t *dropped)
{
	ssize_t n;
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p)
		n = -ENOENT;
	else {
		n = outbuf_read(&p->out[stream], offset, buf, len);
		*total = p->out[stream].total;
		*is_ended = proc_ended(p);
		if (captured_ms)
			*captured_ms = outbuf_captured_at(&p->out[stream], offset);
		if (dropped)
			*dropped = p->out[stream].dropped;
	}
	engine_unlock();
	if (!p)
		return read_stored_output(id, stream, offset, buf, len, total, is_ended, captured_ms, dropped);
	return n;
}

static void add_string_or_null(cJSON *j, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(j, key, value);
	else
		cJSON_AddNullToObject(j, key);
}

/* r's exit line; bytes: its final byte counts. */
static cJSON *exit_line(const struct store_record *r, const uint64_t bytes[2])
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "event", "exit");
	cJSON_AddStringToObject(j, "state", store_state_name(r->state));
	if (r->state == STORE_EXITED)
		cJSON_AddNumberToObject(j, "exitcode", r->exitcode);
	else
		cJSON_AddNullToObject(j, "exitcode");
	add_string_or_null(j, "signal", r->signal ? signame_name(r->signal) : NULL);
	cJSON_AddStringToObject(j, "reason", proc_reason_name((enum proc_reason)r->reason));
	cJSON_AddNumberToObject(j, "stdout_bytes", (double)bytes[0]);
	cJSON_AddNumberToObject(j, "stderr_bytes", (double)bytes[1]);
	return j;
}

cJSON *proc_exit_json(const char *id)
{
	struct store_record stored;
	engine_lock();
	struct proc *p = proc_table_find(id);
	cJSON *j = NULL;
	uint64_t seq = 0;
	if (p && proc_ended(p)) {
		j = exit_line(&p->rec, (const uint64_t[2]){ p->out[0].total, p->out[1].total });
		seq = p->store_seq;
	}
	engine_unlock();
	store_sync(proc_table_store(), seq);
	if (p || proc_stored_get(id, &stored) < 0)
		return j;
	if (!store_state_alive(stored.state))
		j = exit_line(&stored, (const uint64_t[2]){ stored.stdout_bytes, stored.stderr_bytes });
	store_record_release(&stored);
	return j;
}

void proc_stats(struct proc_stats *st)
{
	engine_lock();
	proc_table_stats(st);
	engine_unlock();
}

struct store *proc_store(void)
{
	return proc_table_store();
}
