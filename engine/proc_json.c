/* proc_json — a record as API.md's Process object. Called with engine.lock held. */
#include "engine/proc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "engine/ts.h"
#include "engine/utf8.h"

static const char *const state_names[] = {
	[PROC_QUEUED] = "queued", [PROC_STARTING] = "running", [PROC_RUNNING] = "running",
	[PROC_EXITED] = "exited", [PROC_FAILED] = "failed", [PROC_LOST] = "lost",
};

static const char *const reason_names[] = {
	[PROC_REASON_NONE] = NULL, [PROC_REASON_EXIT] = "exit", [PROC_REASON_SIGNAL] = "signal",
	[PROC_REASON_TERMINATE] = "terminate", [PROC_REASON_KILL] = "kill", [PROC_REASON_TIMEOUT] = "timeout",
	[PROC_REASON_SPAWN_ERROR] = "spawn_error", [PROC_REASON_LOST] = "lost",
};

const char *proc_state_name(enum proc_state s) { return state_names[s]; }
const char *proc_reason_name(enum proc_reason r) { return reason_names[r]; }

static void add_time(cJSON *j, const char *key, int64_t ms)
{
	char buf[TS_RFC3339_LEN];
	if (!ms) {
		cJSON_AddNullToObject(j, key);
		return;
	}
	ts_format(ms, buf);
	cJSON_AddStringToObject(j, key, buf);
}

static void add_string_or_null(cJSON *j, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(j, key, s);
	else
		cJSON_AddNullToObject(j, key);
}

/* The first 64 KiB of a stream as valid UTF-8 (cut on a character boundary). */
static void add_inline_output(cJSON *j, const char *key, const struct outbuf *ob)
{
	size_t len = ob->mem_len < PROC_INLINE_OUTPUT ? ob->mem_len : PROC_INLINE_OUTPUT;
	if (len == PROC_INLINE_OUTPUT)
		len = utf8_boundary(ob->mem, len);
	char *text = utf8_json_string(ob->mem ? ob->mem : "", len);
	cJSON_AddRawToObject(j, key, text ? text : "\"\"");
	free(text);
}

cJSON *proc_render(const struct proc *p, unsigned flags)
{
	cJSON *j = cJSON_CreateObject();
	bool alive = p->state == PROC_RUNNING || p->state == PROC_STARTING;
	bool done = p->state == PROC_EXITED || p->state == PROC_FAILED || p->state == PROC_LOST;

	cJSON_AddStringToObject(j, "id", p->entry.id);
	cJSON_AddStringToObject(j, "name", p->name);
	cJSON_AddStringToObject(j, "target", p->target_name);
	cJSON_AddItemToObject(j, "args", cJSON_Duplicate(p->args_sent, 1));
	cJSON_AddBoolToObject(j, "daemon", p->daemon);
	cJSON_AddStringToObject(j, "state", proc_state_name(p->state));
	cJSON_AddBoolToObject(j, "alive", alive);
	if (p->pid > 0)
		cJSON_AddNumberToObject(j, "pid", p->pid);
	else
		cJSON_AddNullToObject(j, "pid");
	if (p->state == PROC_EXITED)
		cJSON_AddNumberToObject(j, "exitcode", p->exitcode);
	else
		cJSON_AddNullToObject(j, "exitcode");
	add_string_or_null(j, "signal", done && p->term_signal ? proc_signal_name(p->term_signal) : NULL);
	add_string_or_null(j, "reason", done ? proc_reason_name(p->reason) : NULL);
	add_string_or_null(j, "error", p->error);
	add_time(j, "created_at", p->created_ms);
	add_time(j, "started_at", p->started_ms);
	add_time(j, "ended_at", done ? p->ended_ms : 0);
	if (p->started_ms && done)
		cJSON_AddNumberToObject(j, "duration", (double)(p->ended_ms - p->started_ms) / 1000.0);
	else
		cJSON_AddNullToObject(j, "duration");
	if (flags & PROC_JSON_OUTPUT) {
		add_inline_output(j, "stdout", &p->out[PROC_STDOUT]);
		add_inline_output(j, "stderr", &p->out[PROC_STDERR]);
	}
	cJSON_AddNumberToObject(j, "stdout_bytes", (double)p->out[PROC_STDOUT].total);
	cJSON_AddNumberToObject(j, "stderr_bytes", (double)p->out[PROC_STDERR].total);
	cJSON_AddBoolToObject(j, "stdout_truncated", p->out[PROC_STDOUT].total > PROC_INLINE_OUTPUT);
	cJSON_AddBoolToObject(j, "stderr_truncated", p->out[PROC_STDERR].total > PROC_INLINE_OUTPUT);
	return j;
}
