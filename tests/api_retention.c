/* api_retention — ended records are kept up to --retention-count and for
 * --retention-age, then removed with their output files, oldest first, by a
 * pass every --retention-interval (README "Retention"); queued and running
 * records are never removed; records of an earlier run (only the SQLite store
 * has them) go the same way; the memory store too; each removal is a
 * "removed" event. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

#define WAIT_S 15.0     /* generous: a pass runs every 0.1 s here */

static void spawn_id(struct server *srv, const char *body, double wait_s, char id[ID_CAP])
{
	struct resp *r = spawn(srv, body, wait_s);
	if (r->status != 201 || !take_id(r, id)) {
		fprintf(stderr, "spawn %s: %ld %s\n", body, r->status, r->body);
		id[0] = '\0';
	}
	resp_free(r);
}

static long get_status(struct server *srv, const char *id)
{
	struct resp *r = get(srv, "/processes/%s", id);
	long status = r->status;
	resp_free(r);
	return status;
}

/* Records listed with alive=false (-1 on error). */
static int ended_count(struct server *srv)
{
	struct resp *r = get(srv, "/processes?alive=false&limit=1000");
	cJSON *list = r->status == 200 ? cJSON_GetObjectItem(r->json, "processes") : NULL;
	int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
	resp_free(r);
	return n;
}

static bool wait_ended_count(struct server *srv, int want)
{
	for (double end = now_s() + WAIT_S; now_s() < end; sleep_s(0.05))
		if (ended_count(srv) == want)
			return true;
	return false;
}

static bool output_file(struct server *srv, const char *id)
{
	char path[1024];
	struct stat st;
	snprintf(path, sizeof path, "%s/state/output/%s.stdout", server_root(srv), id);
	return stat(path, &st) == 0;
}

/* Twelve ended workers between a running and a queued one: the five newest
 * stay. With sqlite, their files go too (each writes past the 1 MiB that a
 * record's row holds, so it has an output file), and after a restart the
 * earlier run's records (store only) are removed the same way. */
static void count_case(const char *store)
{
	char args[256], why[256], running[ID_CAP], late[ID_CAP], queued[ID_CAP], w[12][ID_CAP], more[3][ID_CAP];
	bool sqlite = strcmp(store, "sqlite") == 0;
	snprintf(args, sizeof args, "--store %s --retention-count 5 --retention-interval 0.1 --max-running 2", store);
	struct server *s = server_start(args);
	CHECK_MSG(s, "server did not start");
	spawn_id(s, "{\"target\": \"sleep\", \"args\": [30]}", -1, running);
	for (int i = 0; i < 12; i++)
		spawn_id(s, "{\"target\": \"burst\", \"args\": [1200000]}", 10, w[i]);
	spawn_id(s, "{\"target\": \"sleep\", \"args\": [30]}", -1, late);
	spawn_id(s, "{\"target\": \"worker\"}", -1, queued);
	CHECK_MSG(running[0] && late[0] && queued[0] && w[11][0], "a spawn failed");
	CHECK_MSG(wait_ended_count(s, 5), "%s: not 5 ended records after %.0f s (%d)", store, WAIT_S,
		  ended_count(s));
	sleep_s(0.3);   /* a few more passes: they take nothing more */
	CHECK_MSG(ended_count(s) == 5, "%s: %d ended records, not 5", store, ended_count(s));
	for (int i = 0; i < 12; i++) {
		long want = i < 7 ? 404 : 200;
		CHECK_MSG(get_status(s, w[i]) == want, "%s: worker %d: GET %ld, not %ld", store, i, get_status(s, w[i]),
			  want);
		if (sqlite)
			CHECK_MSG(output_file(s, w[i]) == (i >= 7), "%s: worker %d: output file %s", store, i,
				  i >= 7 ? "gone" : "still there");
	}
	CHECK_MSG(get_status(s, running) == 200 && get_status(s, late) == 200 && get_status(s, queued) == 200,
		  "%s: a running or queued record was removed", store);
	if (sqlite) {
		CHECK(server_restart(s, SIGTERM) == 0);
		for (int i = 0; i < 3; i++)
			spawn_id(s, "{\"target\": \"worker\"}", 10, more[i]);
		/* 5 of the last run, the 3 queued or terminated at its end, 3 new: the 5 newest ended stay. */
		CHECK_MSG(wait_ended_count(s, 5), "after the restart: %d ended records, not 5", ended_count(s));
		for (int i = 7; i < 12; i++)
			CHECK_MSG(get_status(s, w[i]) == 404 && !output_file(s, w[i]),
				  "after the restart: worker %d of the last run is still there", i);
		for (int i = 0; i < 3; i++)
			CHECK_MSG(get_status(s, more[i]) == 200, "after the restart: new worker %d is gone", i);
	}
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_count_sqlite(void) { count_case("sqlite"); }
static void test_count_memory(void) { count_case("memory"); }

/* "removed" events in a live /events body so far. */
static int removed_events(const struct live *l)
{
	int n = 0;
	for (const char *p = l->body; p && (p = strstr(p, "\"event\":\"removed\"")); p++)
		n++;
	return n;
}

static bool three_removed(void *arg) { return removed_events(arg) >= 3; }

/* Age: removed once ended longer ago than --retention-age, never sooner;
 * a running record, however old, stays; each removal is an event. */
static void test_age(void)
{
	char why[256], running[ID_CAP], w[3][ID_CAP];
	struct server *s = server_start("--retention-count 0 --retention-age 1 --retention-interval 0.1");
	CHECK_MSG(s, "server did not start");
	struct live *events = live_open(s, "/events?since=0", NULL);
	spawn_id(s, "{\"target\": \"sleep\", \"args\": [30]}", -1, running);
	double ended_at[3];
	for (int i = 0; i < 3; i++) {
		struct resp *r = spawn(s, "{\"target\": \"worker\"}", 10);
		CHECK_MSG(r->status == 201 && take_id(r, w[i]), "spawn: " RESP_FMT, RESP_ARGS(r));
		struct tm tm = { 0 };
		int ms = 0;
		sscanf(jstr(r->json, "ended_at") ? jstr(r->json, "ended_at") : "", "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ",
		       &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		ended_at[i] = (double)timegm(&tm) * 1000.0 + ms;
		resp_free(r);
	}
	for (int i = 0; i < 3; i++) {
		double gone_ms = 0;
		for (double end = now_s() + WAIT_S; now_s() < end && !gone_ms; sleep_s(0.05))
			if (get_status(s, w[i]) == 404) {
				struct timespec t;
				clock_gettime(CLOCK_REALTIME, &t);
				gone_ms = (double)t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
			}
		CHECK_MSG(gone_ms, "worker %d still there %.0f s after its end", i, WAIT_S);
		CHECK_MSG(gone_ms - ended_at[i] >= 1000 - 5, "worker %d removed %.0f ms after its end, before 1 s", i,
			  gone_ms - ended_at[i]);
		CHECK_MSG(!output_file(s, w[i]), "worker %d: its output file is still there", i);
	}
	CHECK_MSG(get_status(s, running) == 200, "the running record was removed");
	live_wait_until(three_removed, events, WAIT_S);
	CHECK_MSG(removed_events(events) == 3, "%d removed events, not 3: %.2000s", removed_events(events), events->body);
	live_close(events);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	RUN(test_count_sqlite);
	RUN(test_count_memory);
	RUN(test_age);
	return CHECK_EXIT();
}
