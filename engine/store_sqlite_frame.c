/* store_sqlite_frame — the journal's frames (store_sqlite_journal.c): one
 * op's image, every field whatever its kind (a few bytes more, one
 * decoder), behind payload length (u32), magic (u32) and FNV-1a 64 of the
 * payload (u64), in this machine's byte order: the journal never leaves the
 * state folder. Why a checksum and not only the length: a write cut short
 * leaves a frame whose length runs past the file's end, but the bytes after
 * a failed write may be anything.
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_MAGIC 0x314a5053u       /* "SPJ1" */
#define FRAME_HEAD 16
#define NONE UINT32_MAX                 /* a NULL string or blob */

static uint64_t fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037u;
	while (n--)
		h = (h ^ *p++) * 1099511628211u;
	return h;
}

static void put(struct frame_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_u64(struct frame_buf *b, uint64_t v) { put(b, &v, sizeof v); }

static void put_bytes(struct frame_buf *b, const void *p, size_t n)
{
	uint32_t len = p ? (uint32_t)n : NONE;
	put(b, &len, sizeof len);
	if (p)
		put(b, p, n);
}

static void put_str(struct frame_buf *b, const char *s) { put_bytes(b, s, s ? strlen(s) : 0); }

static void put_op(struct frame_buf *b, const struct op *o)
{
	const struct store_record *r = &o->rec;
	uint64_t flags = (uint64_t)o->has_fields | (uint64_t)o->has_output[0] << 1 | (uint64_t)o->has_output[1] << 2 |
			 (uint64_t)r->daemon << 3;
	double timeout = r->timeout;
	uint64_t timeout_bits;
	memcpy(&timeout_bits, &timeout, sizeof timeout_bits);
	const uint64_t numbers[] = {
		(uint64_t)o->kind, o->seq, flags, (uint64_t)o->names, timeout_bits, (uint64_t)r->created_ms,
		(uint64_t)r->state, (uint64_t)(int64_t)r->pid, (uint64_t)(int64_t)r->exitcode,
		(uint64_t)(int64_t)r->signal, (uint64_t)(int64_t)r->reason, (uint64_t)r->started_ms,
		(uint64_t)r->ended_ms, r->stdout_bytes, r->stderr_bytes, r->start_ticks, r->stdout_dropped,
		r->stderr_dropped,
	};
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
		put_u64(b, numbers[i]);
	const char *const strings[] = { r->id, r->name, r->target, r->args_text, r->error, r->timeline_text,
					r->launch_text, r->pool, o->obj_kind, o->obj_name, o->obj_key, o->obj_value };
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		put_str(b, strings[i]);
	for (int s = 0; s < 2; s++) {
		put_bytes(b, o->data[s], o->len[s]);
		put_bytes(b, o->marks[s], o->marks_len[s]);
	}
}

/* Reading an image back: a cursor that fails (and stays failed) at the end. */
struct cursor { const unsigned char *p, *end; bool failed, nomem; };

static uint64_t get_u64(struct cursor *c)
{
	uint64_t v = 0;
	if (c->failed || (size_t)(c->end - c->p) < sizeof v) {
		c->failed = true;
		return 0;
	}
	memcpy(&v, c->p, sizeof v);
	c->p += sizeof v;
	return v;
}

/* A malloc'd copy (NUL-terminated, as text or blob), NULL for NONE. */
static void *get_bytes(struct cursor *c, size_t *len)
{
	uint32_t n;
	if (c->failed || (size_t)(c->end - c->p) < sizeof n) {
		c->failed = true;
		return NULL;
	}
	memcpy(&n, c->p, sizeof n);
	c->p += sizeof n;
	if (n == NONE)
		return NULL;
	if ((size_t)(c->end - c->p) < n) {
		c->failed = true;
		return NULL;
	}
	char *d = malloc((size_t)n + 1);
	if (!d) {
		c->failed = c->nomem = true;
		return NULL;
	}
	memcpy(d, c->p, n);
	d[n] = '\0';
	c->p += n;
	if (len)
		*len = n;
	return d;
}

static struct op *get_op(struct cursor *c)
{
	struct op *o = calloc(1, sizeof *o);
	if (!o) {
		c->nomem = true;
		return NULL;
	}
	struct store_record *r = &o->rec;
	uint64_t n[18];
	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
		n[i] = get_u64(c);
	o->kind = n[0] < OP_KINDS ? (enum op_kind)n[0] : OP_KINDS;
	o->seq = n[1];
	o->has_fields = n[2] & 1;
	o->has_output[0] = n[2] >> 1 & 1;
	o->has_output[1] = n[2] >> 2 & 1;
	r->daemon = n[2] >> 3 & 1;
	o->names = (long)n[3];
	memcpy(&r->timeout, &n[4], sizeof r->timeout);
	r->created_ms = (int64_t)n[5];
	r->state = (enum store_state)n[6];
	r->pid = (int)(int64_t)n[7];
	r->exitcode = (int)(int64_t)n[8];
	r->signal = (int)(int64_t)n[9];
	r->reason = (int)(int64_t)n[10];
	r->started_ms = (int64_t)n[11];
	r->ended_ms = (int64_t)n[12];
	r->stdout_bytes = n[13];
	r->stderr_bytes = n[14];
	r->start_ticks = n[15];
	r->stdout_dropped = n[16];
	r->stderr_dropped = n[17];
	r->pidfd = -1;
	char *id = get_bytes(c, NULL);
	snprintf(r->id, sizeof r->id, "%s", id ? id : "");
	free(id);
	char **const strings[] = { &r->name, &r->target, &r->args_text, &r->error, &r->timeline_text,
				   &r->launch_text, &r->pool, &o->obj_kind, &o->obj_name, &o->obj_key, &o->obj_value };
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		*strings[i] = get_bytes(c, NULL);
	for (int s = 0; s < 2; s++) {
		o->data[s] = get_bytes(c, &o->len[s]);
		o->marks[s] = get_bytes(c, &o->marks_len[s]);
	}
	if (c->failed || o->kind == OP_KINDS || o->kind == OP_NAMES || n[6] >= STORE_STATES || c->p != c->end) {
		store_sqlite_free_ops(o);
		return NULL;
	}
	return o;
}

void store_sqlite_frame_put(struct frame_buf *b, const struct op *o)
{
	size_t at = b->len;
	uint32_t head[2] = { 0, JOURNAL_MAGIC };
	uint64_t sum = 0;
	put(b, head, sizeof head);
	put_u64(b, sum);
	put_op(b, o);
	if (b->failed)
		return;
	head[0] = (uint32_t)(b->len - at - FRAME_HEAD);
	sum = fnv64((unsigned char *)b->data + at + FRAME_HEAD, head[0]);
	memcpy(b->data + at, head, sizeof head);
	memcpy(b->data + at + sizeof head, &sum, sizeof sum);
}

int store_sqlite_frame_get(const unsigned char *d, size_t len, size_t *at, struct op **out)
{
	uint32_t head[2];
	uint64_t sum;
	*out = NULL;
	if (len < FRAME_HEAD || *at > len - FRAME_HEAD)
		return FRAME_END;
	memcpy(head, d + *at, sizeof head);
	memcpy(&sum, d + *at + sizeof head, sizeof sum);
	if (head[1] != JOURNAL_MAGIC || head[0] > len - *at - FRAME_HEAD || fnv64(d + *at + FRAME_HEAD, head[0]) != sum)
		return FRAME_END;
	struct cursor c = { d + *at + FRAME_HEAD, d + *at + FRAME_HEAD + head[0], false, false };
	*at += FRAME_HEAD + head[0];
	*out = get_op(&c);
	return *out ? FRAME_OK : c.nomem ? FRAME_NOMEM : FRAME_BAD;
}
