/* Unit tests of the engine's pure modules: utf8, outbuf, store, ts (more of the store in unit_store.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/outbuf.h"
#include "engine/store.h"
#include "lib/ts.h"
#include "lib/utf8.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static void utf8_keeps_valid_text(void)
{
	const char *s = "Worker: 3\n h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80";
	size_t n;
	char *out = utf8_sanitize(s, strlen(s), &n);
	CHECK_STR(out, s);
	CHECK_INT(n, strlen(s));
	free(out);
}

static void utf8_replaces_each_invalid_byte(void)
{
	/* a lone continuation, an overlong '/', a surrogate, > U+10FFFF, 0xFE, 0xFF */
	static const struct { const char *in; size_t len; const char *want; } cases[] = {
		{ "a\x80" "b", 3, "a\xEF\xBF\xBD" "b" },
		{ "\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "\xFEx", 2, "\xEF\xBF\xBDx" },
		{ "\xFF", 1, "\xEF\xBF\xBD" },
		{ "\xE2\x82", 2, "\xEF\xBF\xBD\xEF\xBF\xBD" },   /* truncated sequence at the end */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = utf8_sanitize(cases[i].in, cases[i].len, NULL);
		CHECK_MSG(out && strcmp(out, cases[i].want) == 0, "case %zu", i);
		free(out);
	}
}

static void utf8_every_byte_gives_valid_utf8(void)
{
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	size_t n, again_n;
	char *out = utf8_sanitize(all, sizeof all, &n);
	CHECK(out != NULL);
	/* NUL is valid UTF-8 and kept; sanitising the result again changes nothing. */
	CHECK(out[0] == '\0');
	char *again = utf8_sanitize(out, n, &again_n);
	CHECK_INT(again_n, n);
	CHECK(memcmp(again, out, n) == 0);
	/* 128 ASCII bytes kept, 128 invalid bytes as 3-byte U+FFFD. */
	CHECK_INT(n, 128 + 128 * 3);
	free(out);
	free(again);
}

static void utf8_json_string_escapes_controls_and_nul(void)
{
	char *s = utf8_json_string("a\0b\"\\\n\x01\xff", 8);
	CHECK_STR(s, "\"a\\u0000b\\\"\\\\\\n\\u0001\xEF\xBF\xBD\"");
	free(s);
	/* What it makes is JSON that cJSON reads back (up to the NUL it cannot hold). */
	char *t = utf8_json_string("tab\there", 8);
	cJSON *j = cJSON_Parse(t);
	CHECK(j && cJSON_IsString(j));
	CHECK_STR(j->valuestring, "tab\there");
	cJSON_Delete(j);
	free(t);
}

static void utf8_boundary_never_splits_a_character(void)
{
	const char *euro = "ab\xE2\x82\xAC";        /* 2 ASCII + 3-byte character */
	CHECK_INT(utf8_boundary(euro, 5), 5);
	CHECK_INT(utf8_boundary(euro, 4), 2);
	CHECK_INT(utf8_boundary(euro, 3), 2);
	CHECK_INT(utf8_boundary(euro, 2), 2);
	CHECK_INT(utf8_boundary("\xF0\x9F\x98", 3), 0);
	CHECK_INT(utf8_boundary("abc", 3), 3);
}

static char *temp_path(const char *name)
{
	char *dir = strdup("/tmp/unit_engine.XXXXXX"), *path;
	if (!mkdtemp(dir) || asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	free(dir);
	return path;
}

static void outbuf_spills_past_the_cap_byte_exact(void)
{
	struct outbuf ob;
	char *path = temp_path("x.stdout");
	CHECK_INT(outbuf_init(&ob, 1000, path), 0);
	/* 10,007 bytes in odd-sized writes: byte i is '0' + i % 10. */
	size_t total = 0;
	char chunk[333];
	while (total < 10007) {
		size_t n = sizeof chunk;
		if (n > 10007 - total)
			n = 10007 - total;
		for (size_t i = 0; i < n; i++)
			chunk[i] = (char)('0' + (total + i) % 10);
		CHECK_INT(outbuf_append(&ob, chunk, n, 1000), 0);
		total += n;
	}
	outbuf_seal(&ob);
	CHECK_INT(ob.total, 10007);
	CHECK_INT(ob.mem_len, 0);               /* in its file now: no memory held */
	CHECK(access(path, F_OK) == 0);
	/* Read back across the memory/file boundary from several offsets. */
	for (uint64_t off = 0; off < 10007; off += 997) {
		char buf[2500];
		ssize_t n = outbuf_read(&ob, off, buf, sizeof buf);
		CHECK(n > 0);
		for (ssize_t i = 0; i < n; i++)
			CHECK_MSG(buf[i] == (char)('0' + (off + (uint64_t)i) % 10), "offset %llu", (unsigned long long)(off + (uint64_t)i));
	}
	char b;
	CHECK_INT(outbuf_read(&ob, 10007, &b, 1), 0);
	outbuf_unlink(&ob);
	CHECK(access(path, F_OK) != 0);
	free(path);
}

/* Each byte keeps the time it was captured, however many appends there were:
 * past OUTBUF_MARKS_MAX marks, older ones thin out but a byte's time is never
 * later than its capture, and times never go back along the stream. */
static void outbuf_keeps_capture_times(void)
{
	struct outbuf ob;
	char *path = temp_path("t.stdout");
	CHECK_INT(outbuf_init(&ob, 1 << 20, path), 0);
	CHECK_INT(outbuf_captured_at(&ob, 0), 0);
	CHECK_INT(outbuf_append(&ob, "ab", 2, 5000), 0);
	CHECK_INT(outbuf_append(&ob, "cd", 2, 5000), 0);        /* same ms: no new mark */
	CHECK_INT(outbuf_append(&ob, "ef", 2, 7000), 0);
	CHECK_INT(ob.nmarks, 2);
	CHECK_INT(outbuf_captured_at(&ob, 0), 5000);
	CHECK_INT(outbuf_captured_at(&ob, 3), 5000);
	CHECK_INT(outbuf_captured_at(&ob, 4), 7000);
	CHECK_INT(outbuf_captured_at(&ob, 5), 7000);
	CHECK_INT(outbuf_captured_at(&ob, 6), 0);                /* not captured yet */
	/* Byte 6 + i is appended at 8000 + i ms, one byte per append. */
	for (int i = 0; i < 3 * OUTBUF_MARKS_MAX; i++)
		CHECK_INT(outbuf_append(&ob, "x", 1, 8000 + i), 0);
	CHECK(ob.nmarks <= OUTBUF_MARKS_MAX);
	CHECK_INT(outbuf_captured_at(&ob, 1), 5000);
	int64_t prev = 5000;
	for (int i = 0; i < 3 * OUTBUF_MARKS_MAX; i++) {
		int64_t t = outbuf_captured_at(&ob, 6 + (uint64_t)i);
		CHECK_MSG(t <= 8000 + i && t >= prev, "byte %d: %lld after %lld", 6 + i, (long long)t, (long long)prev);
		prev = t;
	}
	CHECK_INT(outbuf_captured_at(&ob, 5 + 3 * OUTBUF_MARKS_MAX), 8000 + 3 * OUTBUF_MARKS_MAX - 1);
	outbuf_unlink(&ob);
	free(path);
}

/* The global cap: three streams of 40 KiB under a 100 KiB cap; the one that
 * would pass it moves to its file (its memory freed), nothing is lost, and
 * the memory held never passes the cap. */
static void outbuf_global_cap_moves_the_growing_stream_to_its_file(void)
{
	struct outbuf ob[3];
	char *paths[3] = { temp_path("g0.stdout"), temp_path("g1.stdout"), temp_path("g2.stdout") };
	char chunk[1024];
	outbuf_set_memory_cap(100 * 1024);
	for (int i = 0; i < 3; i++)
		CHECK_INT(outbuf_init(&ob[i], 1 << 20, paths[i]), 0);
	for (int k = 0; k < 40; k++)
		for (int i = 0; i < 3; i++) {
			memset(chunk, 'a' + i, sizeof chunk);
			chunk[0] = (char)k;
			CHECK_INT(outbuf_append(&ob[i], chunk, sizeof chunk, 1000), 0);
			CHECK_MSG(outbuf_memory_held() <= 100 * 1024, "%zu bytes held", outbuf_memory_held());
		}
	int in_files = 0;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(ob[i].total, 40 * 1024);
		in_files += !outbuf_in_memory_only(&ob[i]);
		for (int k = 0; k < 40; k++) {
			char got[1024];
			CHECK_INT(outbuf_read(&ob[i], (uint64_t)k * 1024, got, sizeof got), 1024);
			CHECK_MSG(got[0] == (char)k && got[1023] == 'a' + i, "stream %d, KiB %d", i, k);
		}
	}
	CHECK_MSG(in_files >= 1, "no stream moved to its file at the cap");
	for (int i = 0; i < 3; i++) {
		outbuf_unlink(&ob[i]);
		free(paths[i]);
	}
	CHECK_INT(outbuf_memory_held(), 0);
	outbuf_set_memory_cap(0);
}

/* Past its limit a stream keeps nothing more: the rest is counted as dropped. */
static void outbuf_limit_drops_the_rest(void)
{
	struct outbuf ob;
	char *path = temp_path("l.stdout");
	CHECK_INT(outbuf_init(&ob, 1 << 20, path), 0);
	ob.limit = 10;
	CHECK_INT(outbuf_append(&ob, "0123456", 7, 1000), 0);
	CHECK_INT(outbuf_append(&ob, "789abc", 6, 1000), 0);
	CHECK_INT(outbuf_append(&ob, "def", 3, 1000), 0);
	CHECK_INT(ob.total, 10);
	CHECK_INT(ob.dropped, 6);
	CHECK(ob.dropping);
	char got[16];
	CHECK_INT(outbuf_read(&ob, 0, got, sizeof got), 10);
	CHECK(memcmp(got, "0123456789", 10) == 0);
	outbuf_unlink(&ob);
	free(path);
}

/* Encoded marks (what a store keeps) give the times the buffer gives. */
static void outbuf_marks_round_trip(void)
{
	struct outbuf ob;
	char *path = temp_path("m.stdout");
	unsigned char enc[OUTBUF_MARKS_MAX * OUTBUF_MARK_BYTES];
	CHECK_INT(outbuf_init(&ob, 1 << 20, path), 0);
	CHECK_INT(outbuf_marks_size(&ob), 0);
	CHECK_INT(outbuf_marks_lookup(enc, 0, 0), 0);
	for (int i = 0; i < 100; i++)
		CHECK_INT(outbuf_append(&ob, "abc", 3, 1700000000000LL + i * 7), 0);
	CHECK_INT(outbuf_marks_size(&ob), ob.nmarks * OUTBUF_MARK_BYTES);
	outbuf_marks_encode(&ob, enc);
	for (uint64_t off = 0; off < 300; off++)
		CHECK_INT(outbuf_marks_lookup(enc, outbuf_marks_size(&ob), off), outbuf_captured_at(&ob, off));
	outbuf_unlink(&ob);
	free(path);
}

static void outbuf_small_output_stays_in_memory(void)
{
	struct outbuf ob;
	char *path = temp_path("y.stdout");
	CHECK_INT(outbuf_init(&ob, 1 << 20, path), 0);
	CHECK_INT(outbuf_append(&ob, "Worker\n", 7, 1000), 0);
	CHECK_INT(ob.total, 7);
	CHECK(ob.mem_alloc <= 256);             /* a line costs a line, not the cap */
	CHECK(access(path, F_OK) != 0);         /* no spill file */
	char buf[16];
	CHECK_INT(outbuf_read(&ob, 3, buf, sizeof buf), 4);
	CHECK(memcmp(buf, "ker\n", 4) == 0);
	outbuf_unlink(&ob);
	free(path);
}

/* The newest record after cursor (NULL: from the newest), its id in id; 0 or -errno. */
static int first_after(struct store *st, const char *cursor, char id[STORE_ID_MAX])
{
	struct store_query q = { .state = -1, .alive = -1, .after = cursor, .limit = 1 };
	struct store_page page;
	int r = store_mem_ops.list(st, &q, &page);
	if (r == 0 && page.count == 1)
		snprintf(id, STORE_ID_MAX, "%s", page.records[0].id);
	else if (r == 0)
		r = -ENOENT;
	store_page_release(&page);
	return r;
}

static void store_finds_lists_and_pages(void)
{
	static char ids[3000][STORE_ID_MAX];
	static char name[] = "n", target[] = "t", args[] = "[]";
	char id[STORE_ID_MAX];
	struct store *st;
	struct store_record got;
	CHECK_INT(store_mem_ops.open("/tmp", &st), 0);
	for (int i = 0; i < 3000; i++) {
		struct store_record r = { .name = name, .target = target, .args_text = args };
		store_id_new(ids[i], 1795000000000LL + i / 7);
		memcpy(r.id, ids[i], sizeof r.id);
		r.pid = i;
		CHECK_INT(store_mem_ops.insert(st, &r), 0);
	}
	CHECK_INT(store_mem_ops.get(st, ids[1234], &got), 0);
	CHECK_INT(got.pid, 1234);
	store_record_release(&got);
	CHECK_INT(store_mem_ops.get(st, "nope", &got), -ENOENT);
	CHECK_INT(first_after(st, NULL, id), 0);
	CHECK_STR(id, ids[2999]);
	CHECK_INT(first_after(st, ids[0], id), -ENOENT);
	CHECK_INT(first_after(st, ids[1], id), 0);
	CHECK_STR(id, ids[0]);
	CHECK_INT(first_after(st, ids[1499], id), 0);
	CHECK_STR(id, ids[1498]);
	CHECK_INT(store_mem_ops.remove(st, ids[1498]), 0);
	CHECK_INT(store_mem_ops.get(st, ids[1498], &got), -ENOENT);
	CHECK_INT(first_after(st, ids[1499], id), 0);
	CHECK_STR(id, ids[1497]);
	/* Every record is still found after the table grew and one was removed. */
	for (int i = 0; i < 3000; i++) {
		if (i == 1498)
			continue;
		CHECK_MSG(store_mem_ops.get(st, ids[i], &got) == 0 && got.pid == i, "%s", ids[i]);
		store_record_release(&got);
	}
	store_mem_ops.close(st);
}

static void ts_formats_rfc3339_with_millis(void)
{
	char buf[TS_RFC3339_LEN];
	ts_format(1795000462123LL, buf);
	CHECK_STR(buf, "2026-11-18T11:14:22.123Z");
	ts_format(0, buf);
	CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
}

int main(void)
{
	RUN(utf8_keeps_valid_text);
	RUN(utf8_replaces_each_invalid_byte);
	RUN(utf8_every_byte_gives_valid_utf8);
	RUN(utf8_json_string_escapes_controls_and_nul);
	RUN(utf8_boundary_never_splits_a_character);
	RUN(outbuf_spills_past_the_cap_byte_exact);
	RUN(outbuf_small_output_stays_in_memory);
	RUN(outbuf_keeps_capture_times);
	RUN(outbuf_global_cap_moves_the_growing_stream_to_its_file);
	RUN(outbuf_limit_drops_the_rest);
	RUN(outbuf_marks_round_trip);
	RUN(store_finds_lists_and_pages);
	RUN(ts_formats_rfc3339_with_millis);
	return CHECK_EXIT();
}
