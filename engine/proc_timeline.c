/* proc_timeline — see proc_timeline.h.
 *
 * Why a JSON text in the record rather than a table of its own: the events
 * of a process are few (a handful, a few more per signal sent), always read
 * whole and only with their record, and must go wherever the record goes
 * (the store's update, retention's removal, a durable store's restart), so
 * riding on the record costs no new store operation. A timeline is capped
 * (TIMELINE_MAX_EVENTS): a client that signals a worker in a loop cannot
 * grow a record without bound (later events are dropped).
 */
#define _GNU_SOURCE
#include "lib/number.h"
#include "engine/proc_timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proc_json.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"
#include "engine/engine.h"
#include "lib/signame.h"
#include "lib/ts.h"

#define TIMELINE_MAX_EVENTS 200

static void describe(cJSON *e, const struct store_record *r, const char *event, int sig, enum proc_reason why)
{
	if (strcmp(event, "started") == 0) {
		cJSON_AddNumberToObject(e, "pid", r->pid);
	} else if (strcmp(event, "signal") == 0) {
		const char *name = signame_name(sig);
		if (name)
			cJSON_AddStringToObject(e, "signal", name);
		else
			cJSON_AddNumberToObject(e, "signal", sig);
		if (why != PROC_REASON_NONE)
			cJSON_AddStringToObject(e, "reason", proc_reason_name(why));
	} else if (strcmp(event, "exited") == 0 || strcmp(event, "lost") == 0) {
		cJSON_AddNumberToObject(e, "exitcode", r->exitcode);
		if (r->signal && signame_name(r->signal))
			cJSON_AddStringToObject(e, "signal", signame_name(r->signal));
		cJSON_AddStringToObject(e, "reason", proc_reason_name((enum proc_reason)r->reason));
	} else if (strcmp(event, "failed") == 0 && r->error) {
		cJSON_AddStringToObject(e, "error", r->error);
	}
}

void proc_timeline_add(struct store_record *r, const char *event, int sig, enum proc_reason why)
{
	char ts[TS_RFC3339_LEN];
	cJSON *list = r->timeline_text ? cJSON_Parse(r->timeline_text) : cJSON_CreateArray();
	cJSON *e = cJSON_CreateObject();

	if (!list || !e || !cJSON_IsArray(list) || cJSON_GetArraySize(list) >= TIMELINE_MAX_EVENTS) {
		cJSON_Delete(list);
		cJSON_Delete(e);
		return;
	}
	ts_format(ts_wall_ms(), ts);
	cJSON_AddStringToObject(e, "ts", ts);
	cJSON_AddStringToObject(e, "event", event);
	describe(e, r, event, sig, why);
	cJSON_AddItemToArray(list, e);
	char *text = number_print_json(list);
	cJSON_Delete(list);
	if (text) {
		free(r->timeline_text);
		r->timeline_text = text;
	}
}

int proc_timeline_signal(struct proc *p, int sig)
{
	int r = proc_send_group(p, sig);
	if (r == 0 && sig != 0) {
		proc_timeline_add(&p->rec, "signal", sig, p->sent_reason);
		proc_table_update(p);
	}
	return r;
}

const char *proc_timeline_event(enum proc_state was, enum proc_state s)
{
	switch (s) {
	case PROC_QUEUED: return "queued";
	case PROC_RUNNING: return "started";
	case PROC_LINGERING: return "exited";
	case PROC_EXITED: return was == PROC_LINGERING ? NULL : "exited";
	case PROC_FAILED: return "failed";
	default: return NULL;
	}
}

static cJSON *parse_or_empty(const char *text)
{
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	return cJSON_IsArray(j) ? j : (cJSON_Delete(j), cJSON_CreateArray());
}

cJSON *proc_timeline_json(const char *id)
{
	struct store_record stored;
	engine_lock();
	struct proc *p = proc_table_find(id);
	cJSON *j = p ? parse_or_empty(p->rec.timeline_text) : NULL;
	uint64_t seq = p ? p->store_seq : 0;
	engine_unlock();
	store_sync(proc_table_store(), seq);    /* what it tells survives a crash, as proc_get_json() */
	if (p || proc_stored_get(id, &stored) < 0)
		return j;
	j = parse_or_empty(stored.timeline_text);
	store_record_release(&stored);
	return j;
}
