/* proc_json — a record as API.md's Process object, as JSON text, from its
 * durable fields and, for a live record, its output buffers (the byte counts
 * move between transitions; the store's copy has them as of the last one).
 * Called with the engine lock held when the buffers are live. */
#include "engine/proc_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ts.h"
#include "lib/utf8.h"
#include "lib/signame.h"

static const char *const reason_names[] = {
	[PROC_REASON_NONE] = NULL, [PROC_REASON_EXIT] = "exit", [PROC_REASON_SIGNAL] = "signal",
	[PROC_REASON_TERMINATE] = "terminate", [PROC_REASON_KILL] = "kill", [PROC_REASON_TIMEOUT] = "timeout",
	[PROC_REASON_SPAWN_ERROR] = "spawn_error", [PROC_REASON_LOST] = "lost",
};

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
	if (!ob) {              /* not live: the store keeps no output (yet) */
		put_lit(t, "\"\"");
		return;
	}
	if (ob->has_file) {     /* a stream in its file holds no memory: read its start */
		char *head = malloc(PROC_INLINE_OUTPUT);
		ssize_t n = head ? outbuf_read(ob, 0, head, PROC_INLINE_OUTPUT) : -ENOMEM;
		size_t len = n > 0 ? (size_t)n : 0;
		if (len == PROC_INLINE_OUTPUT)
			len = utf8_boundary(head, len);
		put_string(t, head ? head : "", len);
		free(head);
		return;
	}
	size_t len = ob->mem_len < PROC_INLINE_OUTPUT ? ob->mem_len : PROC_INLINE_OUTPUT;
	if (len == PROC_INLINE_OUTPUT)
		len = utf8_boundary(ob->mem, len);
	put_string(t, ob->mem ? ob->mem : "", len);
}

static void put_times(struct text *t, const struct store_record *r, bool done)
{
	put_lit(t, ",\"created_at\":");
	put_time(t, r->created_ms);
	put_lit(t, ",\"started_at\":");
	put_time(t, r->started_ms);
	put_lit(t, ",\"ended_at\":");
	put_time(t, done ? r->ended_ms : 0);
	put_lit(t, ",\"duration\":");
	if (r->started_ms && done)
		put_seconds(t, r->ended_ms - r->started_ms);
	else
		put_lit(t, "null");
}

static void put_output(struct text *t, const struct store_record *r, const struct outbuf *out, unsigned flags)
{
	uint64_t bytes[2] = { out ? out[PROC_STDOUT].total : r->stdout_bytes,
			      out ? out[PROC_STDERR].total : r->stderr_bytes };
	if (flags & PROC_JSON_OUTPUT) {
		put_lit(t, ",\"stdout\":");
		put_inline_output(t, out ? &out[PROC_STDOUT] : NULL);
		put_lit(t, ",\"stderr\":");
		put_inline_output(t, out ? &out[PROC_STDERR] : NULL);
	}
	put_fmt(t, ",\"stdout_bytes\":%" PRIu64 ",\"stderr_bytes\":%" PRIu64, bytes[0], bytes[1]);
	put_fmt(t, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s}",
		bytes[0] > PROC_INLINE_OUTPUT ? "true" : "false", bytes[1] > PROC_INLINE_OUTPUT ? "true" : "false");
}

char *proc_render_text(const struct store_record *r, const struct outbuf *out, unsigned flags)
{
	struct text t = { 0 };
	/* multiprocessing: alive from start() until the end, queued included. */
	bool alive = store_state_alive(r->state), done = !alive;

	put_lit(&t, "{\"id\":");
	put_string_or_null(&t, r->id);
	put_lit(&t, ",\"name\":");
	put_string_or_null(&t, r->name);
	put_lit(&t, ",\"target\":");
	put_string_or_null(&t, r->target);
	put_lit(&t, ",\"args\":");
	put_lit(&t, r->args_text);
	put_fmt(&t, ",\"daemon\":%s,\"state\":\"%s\",\"alive\":%s", r->daemon ? "true" : "false",
		store_state_name(r->state), alive ? "true" : "false");
	if (r->pid > 0)
		put_fmt(&t, ",\"pid\":%d", r->pid);
	else
		put_lit(&t, ",\"pid\":null");
	if (r->state == STORE_EXITED)
		put_fmt(&t, ",\"exitcode\":%d", r->exitcode);
	else
		put_lit(&t, ",\"exitcode\":null");
	put_lit(&t, ",\"signal\":");
	put_string_or_null(&t, done && r->signal ? signame_name(r->signal) : NULL);
	put_lit(&t, ",\"reason\":");
	put_string_or_null(&t, done ? proc_reason_name((enum proc_reason)r->reason) : NULL);
	put_lit(&t, ",\"error\":");
	put_string_or_null(&t, r->error);
	put_lit(&t, ",\"pool\":");
	put_string_or_null(&t, r->pool);
	put_times(&t, r, done);
	put_output(&t, r, out, flags);
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

cJSON *proc_render(const struct store_record *r, const struct outbuf *out, unsigned flags)
{
	char *text = proc_render_text(r, out, flags);
	cJSON *j = text ? cJSON_CreateRaw(text) : NULL;
	free(text);
	return j;
}
