/* proc_recover — see proc_recover.h.
 *
 * Design (README "Restart and recovery"):
 * - A worker's pid alone cannot name it after a restart: the pid may have
 *   been recycled. So each record keeps its worker's start time (field 22 of
 *   /proc/PID/stat, read while spawnd holds the worker's pidfd and checked
 *   through it, lib/procstat.h); a group is killed at recovery only when the
 *   pid still has that start time. The durable store reads it only when it
 *   commits a running row (store.h, store_record.pidfd): a process that ended
 *   before its first commit is never looked for, and costs no read.
 * - The fork server already ends every worker group it still has when spawnd
 *   goes away (forkserver/serve.c): what recovery kills is only what escaped
 *   that (the fork server itself killed with SIGKILL).
 * - A record that was running cannot be taken up again (its pipes are gone
 *   with the old spawnd): it becomes lost, with the output its files hold.
 * - A queued record never ran: it is queued again, in its old order, from
 *   the launch text the store kept of it, and starts when a slot is free.
 *   What the store cannot run again (its target is gone) fails, saying why.
 */
#define _GNU_SOURCE
#include "lib/number.h"
#include "engine/proc_recover.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/proc_fsm.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"
#include "engine/proc_timeline.h"
#include "lib/log.h"
#include "lib/procstat.h"
#include "lib/ts.h"
#include "targets/registry.h"

static cJSON *strings_json(char *const *v)
{
	if (!v)
		return cJSON_CreateNull();
	cJSON *a = cJSON_CreateArray();
	for (; a && *v; v++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(*v))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

char *proc_launch_text(const struct proc *p)
{
	cJSON *j = cJSON_CreateObject();
	char *text = NULL;
	if (j && cJSON_AddItemToObject(j, "args", cJSON_CreateRaw(p->args_json)) &&
	    cJSON_AddItemToObject(j, "env", strings_json(p->envp)) &&
	    cJSON_AddItemToObject(j, "argv", strings_json(p->argv)) &&
	    (p->stdin_data ? cJSON_AddStringToObject(j, "stdin", p->stdin_data) : cJSON_AddNullToObject(j, "stdin")) &&
	    cJSON_AddBoolToObject(j, "stdin_open", p->stdin_open))
		text = number_print_json(j);
	cJSON_Delete(j);
	return text;
}

/* ---- recovery ---------------------------------------------------------------- */

static void end_lost_group(const struct store_record *r)
{
	if (r->pid <= 0 || !r->start_ticks || procstat_start_ticks(r->pid) != r->start_ticks)
		return;         /* gone, unknown, or the pid is another process's now */
	if (kill(-r->pid, SIGKILL) < 0)
		kill(r->pid, SIGKILL);  /* not a group leader yet: it blocks signals until it is */
	log_event(LOG_WARN, "killed a worker of an earlier run", "id=%s pid=%d", r->id, r->pid);
}

static void mark_lost(struct store *s, struct store_record *r)
{
	end_lost_group(r);
	r->state = STORE_LOST;
	r->reason = PROC_REASON_LOST;
	r->signal = 0;
	r->ended_ms = ts_wall_ms();
	r->stdout_bytes = proc_stored_file_size(r->id, PROC_STDOUT);
	r->stderr_bytes = proc_stored_file_size(r->id, PROC_STDERR);
	proc_timeline_add(r, "lost", 0, PROC_REASON_NONE);
	s->ops->update(s, r);
	log_event(LOG_WARN, "process lost", "id=%s name=\"%s\" pid=%d", r->id, r->name, r->pid);
}

static void mark_failed(struct store *s, struct store_record *r, const char *why)
{
	r->state = STORE_FAILED;
	r->reason = PROC_REASON_SPAWN_ERROR;
	r->ended_ms = ts_wall_ms();
	free(r->error);
	r->error = strdup(why);
	s->ops->update(s, r);
	log_event(LOG_WARN, "process failed", "id=%s name=\"%s\" error=\"%s\"", r->id, r->name, why);
}

/* A NULL-terminated vector of a JSON array's strings (borrowed), or NULL. */
static char **strings_of(const cJSON *a)
{
	if (!cJSON_IsArray(a))
		return NULL;
	char **v = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *v);
	size_t n = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, a)
		if (v && cJSON_IsString(item))
			v[n++] = item->valuestring;
	return v;
}

/* A queued record as a live one again. NULL with why set if it cannot be. */
static struct proc *restore(const struct store_record *r, const struct target *t, const cJSON *launch)
{
	const struct proc_config *cfg = proc_table_config();
	char **envp = strings_of(cJSON_GetObjectItemCaseSensitive(launch, "env"));
	char **argv = strings_of(cJSON_GetObjectItemCaseSensitive(launch, "argv"));
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(launch, "stdin");
	struct proc_spawn s = {
		.target = t,
		.canonical = cJSON_GetObjectItemCaseSensitive(launch, "args"),
		.name = r->name,
		.daemon = r->daemon,
		.timeout = r->timeout,
		.envp = envp,
		.argv = argv,
		.stdin_data = cJSON_IsString(in) ? in->valuestring : NULL,
		.stdin_open = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(launch, "stdin_open")),
	};
	struct proc_new_args a = { proc_table_next_key(), 0, proc_table_output_dir(), cfg->output_mem_cap,
				   true, r };
	struct proc *p = envp && (t->kind != TARGET_EXEC || argv) ? proc_new(&s, &a) : NULL;
	free(envp);
	free(argv);
	return p;
}

static void requeue(struct store *s, struct store_record *r)
{
	const struct target *t = target_find(r->target);
	cJSON *launch = r->launch_text ? cJSON_Parse(r->launch_text) : NULL;
	char why[256];
	struct proc *p = NULL;
	if (!t)
		snprintf(why, sizeof why, "it was queued when spawnd stopped, and target %s is gone since", r->target);
	else if (!launch || !(p = restore(r, t, launch)))
		snprintf(why, sizeof why, "it was queued when spawnd stopped, and cannot be started again");
	cJSON_Delete(launch);
	if (!p) {
		mark_failed(s, r, why);
		return;
	}
	proc_table_index(p);
	proc_fsm(p, PROC_EV_CREATE, NULL);
	if (p->state == PROC_STARTING)
		proc_table_push_start(p);
	log_event(LOG_INFO, "process queued again", "id=%s name=\"%s\"", r->id, r->name);
}

/* Every alive record of the store, newest first, into *page. */
static int alive_records(struct store *s, struct store_page *all)
{
	struct store_query q = { .state = -1, .alive = 1, .limit = 1 << 20 };
	return s->ops->list(s, &q, all);
}

int proc_recover(void)
{
	struct store *s = proc_table_store();
	struct store_page all;
	if (!(s->ops->flags & STORE_DURABLE))
		return 0;
	store_sync_all(s);
	engine_lock();
	int r = alive_records(s, &all);
	for (int i = all.count - 1; r == 0 && i >= 0; i--) {   /* oldest first: the queue keeps its order */
		if (all.records[i].state == STORE_QUEUED)
			requeue(s, &all.records[i]);
		else
			mark_lost(s, &all.records[i]);
	}
	engine_unlock();
	store_page_release(&all);
	store_sync_all(s);
	return r;
}
