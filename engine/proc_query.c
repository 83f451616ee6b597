/* proc_query — reading records: one by id, a page of them, their output,
 * their exit line, the counters (proc.h).
 *
 * A page is chosen by the store (filters, cursor, limit); each record of it
 * is then rendered from the live record when there is one, so the byte
 * counts of a running process are current, and from the store's copy when
 * there is none (a durable store's records of an earlier run).
 */
#include "engine/proc.h"

#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/proc_json.h"
#include "engine/proc_table.h"
#include "lib/signame.h"

cJSON *proc_get_json(const char *id, unsigned flags)
{
	engine_lock();
	struct proc *p = proc_table_find(id);
	cJSON *j = p ? proc_render(&p->rec, p->out, flags) : NULL;
	engine_unlock();
	return j;
}

static int render_page(const struct store_page *page, cJSON *list)
{
	for (int i = 0; i < page->count; i++) {
		struct proc *p = proc_table_find(page->records[i].id);
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
	engine_lock();
	struct store *s = proc_table_store();
	int r = s->ops->list(s, &q, &page);
	if (r == 0)
		r = render_page(&page, list);
	engine_unlock();
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

ssize_t proc_read_output(const char *id, enum proc_stream stream, uint64_t offset, void *buf,
			 size_t len, uint64_t *total, bool *is_ended, int64_t *captured_ms)
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
	}
	engine_unlock();
	return n;
}

static void add_string_or_null(cJSON *j, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(j, key, value);
	else
		cJSON_AddNullToObject(j, key);
}

static cJSON *exit_line(const struct proc *p)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "event", "exit");
	cJSON_AddStringToObject(j, "state", store_state_name(p->rec.state));
	if (p->rec.state == STORE_EXITED)
		cJSON_AddNumberToObject(j, "exitcode", p->rec.exitcode);
	else
		cJSON_AddNullToObject(j, "exitcode");
	add_string_or_null(j, "signal", p->rec.signal ? signame_name(p->rec.signal) : NULL);
	cJSON_AddStringToObject(j, "reason", proc_reason_name((enum proc_reason)p->rec.reason));
	cJSON_AddNumberToObject(j, "stdout_bytes", (double)p->out[0].total);
	cJSON_AddNumberToObject(j, "stderr_bytes", (double)p->out[1].total);
	return j;
}

cJSON *proc_exit_json(const char *id)
{
	engine_lock();
	struct proc *p = proc_table_find(id);
	cJSON *j = p && proc_ended(p) ? exit_line(p) : NULL;
	engine_unlock();
	return j;
}

void proc_stats(struct proc_stats *st)
{
	engine_lock();
	proc_table_stats(st);
	engine_unlock();
}
