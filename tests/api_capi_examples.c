/* api_capi_examples — the chapter's communication examples
 * (examples/plugin_chapter_queues.c, examples/plugin_chapter_sync.c) run end
 * to end, as README.md's curl commands run them, each output compared with
 * what PyMOTW's example prints: exactly where the Python output is fixed, as a
 * set of lines where it depends on which process runs first (the consumers'
 * share of the tasks, the order results arrive, who is active when).
 *
 * Where the Python parent sleeps so that workers are waiting before it acts
 * (the condition's stage 1, the event), this test waits until the object
 * shows them waiting instead: no timing is asserted.
 *
 * Environment: SPAWND_EXAMPLE_PLUGINS, where the example plugins are built
 * (default build/examples).
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* Starts target (name and args JSON may be NULL); its id, or "". */
static void start(const char *target, const char *name, const char *args, char id[ID_CAP])
{
	char body[512];
	snprintf(body, sizeof body, "{\"target\": \"%s\"%s%s%s%s%s}", target, name ? ", \"name\": \"" : "",
		 name ? name : "", name ? "\"" : "", args ? ", \"args\": " : "", args ? args : "");
	struct resp *r = spawn(srv, body, -1);
	if (!take_id(r, id))
		id[0] = '\0';
	resp_free(r);
}

/* Joins id (60 s at most) and returns its stdout (caller frees); its exit code in *code. */
static char *finish(const char *id, long long *code)
{
	struct resp *r = join(srv, id, 60);
	*code = jint(r->json, "exitcode", -1000);
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	char *out = strdup(r->body ? r->body : "");
	resp_free(r);
	return out;
}

#define CHECK_OUTPUT(id, want) do { long long code_; char *o_ = finish(id, &code_); \
		bool same_ = strcmp(o_, (want)) == 0 && code_ == 0; \
		if (!same_) check_record(__FILE__, __LINE__, "%s exited %lld, stdout:\n%s\nwanted:\n%s", \
					 (id), code_, o_, (want)); \
		free(o_); \
		if (!same_) return; \
	} while (0)

/* Waits up to 20 s for GET path's field to reach n. */
static bool field_reaches(const char *path, const char *field, long long n)
{
	for (double end = now_s() + 20; now_s() < end; sleep_s(0.02)) {
		struct resp *r = get(srv, "%s", path);
		long long v = jint(r->json, field, -1);
		resp_free(r);
		if (v == n)
			return true;
	}
	return false;
}

/* Removes a line equal to line from the set of lines in text; false when absent. */
static bool take_line(char *text, const char *line)
{
	size_t n = strlen(line);
	for (char *at = text; (at = strstr(at, line)); at++) {
		if ((at == text || at[-1] == '\n') && at[n] == '\n') {
			memmove(at, at + n + 1, strlen(at + n + 1) + 1);
			return true;
		}
	}
	return false;
}

/* multiprocessing_queue.py */
static void test_queue_of_jobs(void)
{
	char id[ID_CAP], want[256];
	struct resp *r = http(srv, "PUT", "/queues/fancy", "application/json", "{}", NULL);
	CHECK_STATUS(r, 201);
	resp_free(r);
	start("fancy_worker", NULL, NULL, id);
	CHECK(id[0]);
	r = post_json(srv, "/queues/fancy/put", "{\"item\": \"Fancy Dan\"}");
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	snprintf(want, sizeof want, "Doing something fancy in %s for Fancy Dan!\n", jstr(r->json, "name"));
	resp_free(r);
	CHECK_OUTPUT(id, want);
}

/* multiprocessing_producer_consumer.py, with 2 consumers and 10 jobs: each
 * task is done by one consumer, each consumer ends on its pill, every result
 * comes back (in any order, as in Python). */
static void test_producer_consumer(void)
{
	char consumers[2][ID_CAP], main_id[ID_CAP], line[128], all[2048] = "";
	long long code;
	start("consumer", "Consumer-1", NULL, consumers[0]);
	start("consumer", "Consumer-2", NULL, consumers[1]);
	start("producer_consumer", NULL, "{\"consumers\": 2, \"jobs\": 10}", main_id);
	CHECK(consumers[0][0] && consumers[1][0] && main_id[0]);
	char *out = finish(main_id, &code);
	CHECK_MSG(code == 0 && strncmp(out, "Creating 2 consumers\n", 21) == 0, "main exited %lld: %s", code, out);
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof line, "Result: %d * %d = %d", i, i, i * i);
		CHECK_MSG(take_line(out + 21, line), "no \"%s\" in:\n%s", line, out);
	}
	CHECK_MSG(out[21] == '\0', "more lines than the results: %s", out);
	free(out);
	for (int c = 0; c < 2; c++) {
		char *o = finish(consumers[c], &code), exiting[64];
		snprintf(exiting, sizeof exiting, "Consumer-%d: Exiting\n", c + 1);
		size_t n = strlen(o), e = strlen(exiting);
		CHECK_MSG(code == 0 && n >= e && strcmp(o + n - e, exiting) == 0, "consumer %d (%lld): %s", c + 1, code, o);
		o[n - e] = '\0';
		for (char *l = o; *l; ) {        /* "Consumer-k: i * i" with the name cut off */
			char *colon = strstr(l, ": "), *nl = strchr(l, '\n');
			CHECK_MSG(colon && nl && colon < nl, "consumer %d line: %s", c + 1, l);
			strncat(all, colon + 2, (size_t)(nl - colon - 1));
			l = nl + 1;
		}
		free(o);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof line, "%d * %d", i, i);
		CHECK_MSG(take_line(all, line), "task \"%s\" not done exactly once: %s", line, all);
	}
	CHECK_MSG(all[0] == '\0', "tasks done twice: %s", all);
}

/* multiprocessing_event.py: block waits until main sets the event; nonblock's
 * 2 s run out before main's 3 s. */
static void test_event(void)
{
	char block[ID_CAP], nonblock[ID_CAP], main_id[ID_CAP];
	start("wait_for_event", "block", NULL, block);
	start("wait_for_event_timeout", "nonblock", "{\"timeout\": 2}", nonblock);
	CHECK(block[0] && nonblock[0]);
	CHECK_MSG(field_reaches("/sync/events/e", "waiters", 2), "the workers never waited");
	start("event_main", NULL, "{\"delay\": 3}", main_id);
	CHECK(main_id[0]);
	CHECK_OUTPUT(main_id, "main: waiting before calling Event.set()\nmain: event is set\n");
	CHECK_OUTPUT(block, "wait_for_event: starting\nwait_for_event: e.is_set()-> True\n");
	CHECK_OUTPUT(nonblock, "wait_for_event_timeout: starting\nwait_for_event_timeout: e.is_set()-> False\n");
}

/* multiprocessing_lock.py */
static void test_lock(void)
{
	char with[ID_CAP], no_with[ID_CAP];
	start("worker_with", NULL, NULL, with);
	start("worker_no_with", NULL, NULL, no_with);
	CHECK(with[0] && no_with[0]);
	CHECK_OUTPUT(with, "Lock acquired via with\n");
	CHECK_OUTPUT(no_with, "Lock acquired directly\n");
	struct resp *r = get(srv, "/sync/locks/lock");
	CHECK_MSG(jis_false(r->json, "locked") && jint(r->json, "fence", 0) == 2, "lock after both: %s", r->body);
	resp_free(r);
}

/* multiprocessing_condition.py: both stage 2 workers wait before s1 starts. */
static void test_condition(void)
{
	char s2[2][ID_CAP], s1[ID_CAP];
	start("stage_2", "stage_2[1]", NULL, s2[0]);
	start("stage_2", "stage_2[2]", NULL, s2[1]);
	CHECK(s2[0][0] && s2[1][0]);
	CHECK_MSG(field_reaches("/sync/conditions/cond", "waiters", 2), "the stage 2 workers never waited");
	start("stage_1", "s1", NULL, s1);
	CHECK(s1[0]);
	CHECK_OUTPUT(s1, "Starting s1\ns1 done and ready for stage 2\n");
	CHECK_OUTPUT(s2[0], "Starting stage_2[1]\nstage_2[1] running\n");
	CHECK_OUTPUT(s2[1], "Starting stage_2[2]\nstage_2[2] running\n");
}

/* Names in a printed list "['0', '1']" (up to the line's end): their count, or -1 when it is not one. */
static int list_count(const char *list)
{
	int n = 0;
	if (strncmp(list, "[", 1) != 0)
		return -1;
	for (const char *c = list; *c && *c != '\n'; c++)
		n += *c == '\'';
	return n % 2 ? -1 : n / 2;
}

/* multiprocessing_semaphore.py: 10 workers, at most 3 active at once. */
static void test_semaphore(void)
{
	char workers[10][ID_CAP], main_id[ID_CAP], name[8], want[64];
	long long code;
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "%d", i);
		start("semaphore_worker", name, NULL, workers[i]);
		CHECK(workers[i][0]);
	}
	start("semaphore_main", NULL, "{\"workers\": 10}", main_id);
	CHECK(main_id[0]);
	for (int i = 0; i < 10; i++) {
		char *o = finish(workers[i], &code);
		snprintf(want, sizeof want, "Activating %d now running [", i);
		snprintf(name, sizeof name, "'%d'", i);
		const char *list = o + strlen(want) - 1;
		int n = strncmp(o, want, strlen(want)) == 0 ? list_count(list) : -1;
		bool ok = code == 0 && n >= 1 && n <= 3 && strstr(list, name) && !strchr(o, '\n')[1];
		CHECK_MSG(ok, "worker %d (exit %lld): %s", i, code, o);
		free(o);
	}
	char *o = finish(main_id, &code);
	bool ok = code == 0 && strlen(o) >= 15 && strcmp(o + strlen(o) - 15, "Now running []\n") == 0;
	for (char *l = o; ok && *l; l = strchr(l, '\n') + 1) {
		int n = strncmp(l, "Now running [", 13) == 0 ? list_count(l + 12) : -1;
		ok = n >= 0 && n <= 3;
	}
	CHECK_MSG(ok, "main (exit %lld): %s", code, o);
	free(o);
}

/* multiprocessing_manager_dict.py */
static void test_manager_dict(void)
{
	char id[ID_CAP], args[64];
	long long code;
	for (int i = 0; i < 10; i++) {
		snprintf(args, sizeof args, "{\"key\": %d, \"value\": %d}", i, i * 2);
		start("dict_worker", NULL, args, id);
		CHECK(id[0]);
		free(finish(id, &code));
		CHECK_INT(code, 0);
	}
	start("dict_main", NULL, NULL, id);
	CHECK_OUTPUT(id, "Results: {0: 0, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12, 7: 14, 8: 16, 9: 18}\n");
}

/* multiprocessing_namespaces.py: the consumer reads before the producer runs. */
static void test_namespace(void)
{
	char consumer[ID_CAP], producer[ID_CAP];
	start("ns_consumer", NULL, NULL, consumer);
	CHECK(consumer[0]);
	CHECK_MSG(field_reaches("/sync/events/ns_ready", "waiters", 1), "the consumer never waited");
	start("ns_producer", NULL, NULL, producer);
	CHECK(producer[0]);
	CHECK_OUTPUT(producer, "");
	CHECK_OUTPUT(consumer, "Before event, error: 'Namespace' object has no attribute 'value'\n"
			       "After event: This is the value\n");
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	char args[4096];
	const char *dir = getenv("SPAWND_EXAMPLE_PLUGINS") ? getenv("SPAWND_EXAMPLE_PLUGINS") : "build/examples";
	snprintf(args, sizeof args, "--plugins %s", dir);
	srv = server_start(args);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start with the example plugins of %s\n", dir);
		return 1;
	}
	RUN(test_queue_of_jobs);
	RUN(test_producer_consumer);
	RUN(test_event);
	RUN(test_lock);
	RUN(test_condition);
	RUN(test_semaphore);
	RUN(test_manager_dict);
	RUN(test_namespace);
	RUN(check_stops);
	return CHECK_EXIT();
}
