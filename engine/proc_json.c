/* proc_json — a record as API.md's Process object, as JSON text. Called with
 * engine.lock held. */
#include "engine/proc_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ts.h"
#include "lib/utf8.h"
#include "lib/signame.h"

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

/* The record is printed straight to text: it is rendered for every event
 * (three per process) and every read, and cJSON's tree and its number
 * printing (sprintf, then sscanf to check) cost more than the rest of a
 * run-and-wait's bookkeeping together (bench/ANALYSIS.md). */
struct text {
	char *s;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 512;
		while (t->len + n + 1 > cap)
			cap *= 2;
		char *grown = realloc(t->s, cap);
		if (!grown) {
			t->failed = true;
			return;
		}
		t->s = grown;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void put_lit(struct text *t, const char *s) { put(t, s, strlen(s)); }

static void put_fmt(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct text *t, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Any text as a JSON string: invalid UTF-8 as U+FFFD, controls escaped. */
static void put_string(struct text *t, const char *s, size_t len)
{
	char *q = utf8_json_string(s, len);
	if (!q) {
		t->failed = true;
		return;
	}
	put_lit(t, q);
	free(q);
}

static void put_string_or_null(struct text *t, const char *s)
{
	if (s)
		put_string(t, s, strlen(s));
	else
		put_lit(t, "null");
}

static void put_time(struct text *t, int64_t ms)
{
	char buf[TS_RFC3339_LEN];
	if (!ms) {
		put_lit(t, "null");
		return;
	}
	ts_format(ms, buf);
	put_fmt(t, "\"%s\"", buf);
}

/* ms as seconds, the shortest exact decimal (1500 -> 1.5). */
static void put_seconds(struct text *t, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)-ms : (uint64_t)ms;
	unsigned frac = (unsigned)(a % 1000);
	put_fmt(t, "%s%" PRIu64, ms < 0 ? "-" : "", a / 1000);
	if (frac) {
		char digits[8];
		int n = snprintf(digits, sizeof digits, ".%03u", frac);
		while (n > 1 && digits[n - 1] == '0')
			n--;
		put(t, digits, (size_t)n);
	}
}

/* The first 64 KiB of a stream as valid UTF-8 (cut on a character boundary). */
static void put_inline_output(struct text *t, const struct outbuf *ob)
{
	size_t len = ob->mem_len < PROC_INLINE_OUTPUT ? ob->mem_len : PROC_INLINE_OUTPUT;
	if (len == PROC_INLINE_OUTPUT)
		len = utf8_boundary(ob->mem, len);
	put_string(t, ob->mem ? ob->mem : "", len);
}

char *proc_render_text(const struct proc *p, unsigned flags)
{
	struct text t = { 0 };
	/* multiprocessing: alive from start() until the end, queued included. */
	bool alive = p->state == PROC_QUEUED || p->state == PROC_RUNNING || p->state == PROC_STARTING;
	bool done = p->state == PROC_EXITED || p->state == PROC_FAILED || p->state == PROC_LOST;

	put_lit(&t, "{\"id\":");
	put_string_or_null(&t, p->entry.id);
	put_lit(&t, ",\"name\":");
	put_string_or_null(&t, p->name);
	put_lit(&t, ",\"target\":");
	put_string_or_null(&t, p->target_name);
	put_lit(&t, ",\"args\":");
	put_lit(&t, p->args_text);
	put_fmt(&t, ",\"daemon\":%s,\"state\":\"%s\",\"alive\":%s", p->daemon ? "true" : "false",
		proc_state_name(p->state), alive ? "true" : "false");
	if (p->pid > 0)
		put_fmt(&t, ",\"pid\":%d", (int)p->pid);
	else
		put_lit(&t, ",\"pid\":null");
	if (p->state == PROC_EXITED)
		put_fmt(&t, ",\"exitcode\":%d", p->exitcode);
	else
		put_lit(&t, ",\"exitcode\":null");
	put_lit(&t, ",\"signal\":");
	put_string_or_null(&t, done && p->term_signal ? signame_name(p->term_signal) : NULL);
	put_lit(&t, ",\"reason\":");
	put_string_or_null(&t, done ? proc_reason_name(p->reason) : NULL);
	put_lit(&t, ",\"error\":");
	put_string_or_null(&t, p->error);
	put_lit(&t, ",\"created_at\":");
	put_time(&t, p->created_ms);
	put_lit(&t, ",\"started_at\":");
	put_time(&t, p->started_ms);
	put_lit(&t, ",\"ended_at\":");
	put_time(&t, done ? p->ended_ms : 0);
	put_lit(&t, ",\"duration\":");
	if (p->started_ms && done)
		put_seconds(&t, p->ended_ms - p->started_ms);
	else
		put_lit(&t, "null");
	if (flags & PROC_JSON_OUTPUT) {
		put_lit(&t, ",\"stdout\":");
		put_inline_output(&t, &p->out[PROC_STDOUT]);
		put_lit(&t, ",\"stderr\":");
		put_inline_output(&t, &p->out[PROC_STDERR]);
	}
	put_fmt(&t, ",\"stdout_bytes\":%" PRIu64 ",\"stderr_bytes\":%" PRIu64, p->out[PROC_STDOUT].total,
		p->out[PROC_STDERR].total);
	put_fmt(&t, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s}",
		p->out[PROC_STDOUT].total > PROC_INLINE_OUTPUT ? "true" : "false",
		p->out[PROC_STDERR].total > PROC_INLINE_OUTPUT ? "true" : "false");
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

cJSON *proc_render(const struct proc *p, unsigned flags)
{
	char *text = proc_render_text(p, flags);
	cJSON *j = text ? cJSON_CreateRaw(text) : NULL;
	free(text);
	return j;
}
