/* api_capi — the shared-object functions of include/spawnd_target.h, called
 * by a real plugin target in real workers (tests/fixtures/plugin_capi.c: one
 * step per argument, one printed line per step), against the real server:
 * every function's outcome, its values and its errors, waits that block in
 * one worker until another worker (or an outside client) acts, grants owned
 * by the worker (released when it ends, "abandoned" and a larger fence for the
 * next holder), and the transport: the unix socket in the state folder (mode
 * 0600, replaced after a crash), SPAWND_URL without it, a connection per
 * thread, tokens on.
 *
 * Environment: SPAWND_FIXTURES holds plugin_capi.so (the folder also holds the
 * broken test plugins, so it is linked alone into a plugins folder of its own).
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;
static char plugins[PATH_MAX];

/* A folder holding only plugin_capi.so; "" on failure. */
static void make_plugins_folder(void)
{
	char *so = fixture_path("plugin_capi.so"), link_path[PATH_MAX + 32];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(plugins, sizeof plugins, "%s/spawnd-capi.XXXXXX", tmp);
	snprintf(link_path, sizeof link_path, "%s/plugin_capi.so", plugins);
	if (!mkdtemp(plugins) || (snprintf(link_path, sizeof link_path, "%s/plugin_capi.so", plugins),
				  symlink(so, link_path) < 0))
		plugins[0] = '\0';
	free(so);
}

static void remove_plugins_folder(void)
{
	char link_path[PATH_MAX + 32];
	snprintf(link_path, sizeof link_path, "%s/plugin_capi.so", plugins);
	unlink(link_path);
	snprintf(link_path, sizeof link_path, "%s/tokens", plugins);
	unlink(link_path);
	rmdir(plugins);
}

/* {"target": "capi", "args": [steps...]} */
static char *capi_body(const char *const *steps)
{
	cJSON *b = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(b, "args");
	cJSON_AddStringToObject(b, "target", "capi");
	for (int i = 0; steps[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(steps[i]));
	char *text = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return text;
}

/* Starts a worker with these steps (NULL-terminated); its id in id, or "". */
static void start_on(struct server *s, const char *const *steps, char id[ID_CAP])
{
	char *body = capi_body(steps);
	struct resp *r = spawn(s, body, -1);
	if (!take_id(r, id))
		id[0] = '\0';
	resp_free(r);
	free(body);
}

/* Joins worker id (30 s at most) and returns its stdout (caller frees). */
static char *finish_on(struct server *s, const char *id)
{
	resp_free(join(s, id, 30));
	struct resp *r = output_raw(s, id, "stdout");
	char *out = strdup(r->body ? r->body : "");
	resp_free(r);
	return out;
}

static char *run_on(struct server *s, const char *const *steps)
{
	char id[ID_CAP];
	start_on(s, steps, id);
	return id[0] ? finish_on(s, id) : strdup("(did not start)");
}

#define STEPS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CHECK_OUT(out, want) do { char *o_ = (out); \
		bool same_ = strcmp(o_, (want)) == 0; \
		if (!same_) check_record(__FILE__, __LINE__, "stdout:\n%s\nwanted:\n%s", o_, (want)); \
		free(o_); \
		if (!same_) return; \
	} while (0)

/* Waits up to 10 s for GET path's field to reach n. */
static bool field_reaches(const char *path, const char *field, long long n)
{
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.02)) {
		struct resp *r = get(srv, "%s", path);
		long long v = jint(r->json, field, -1);
		resp_free(r);
		if (v == n)
			return true;
	}
	return false;
}

static void test_queue_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|queue|q1", "create|queue|q1|{}", "create|queue|q1|{\"maxsize\": 3}",
		"put|q1|42", "put|q1|{\"a\": [1, 2.5, \"x y\"], \"n\": null}", "put|q1|1e3",
		"get|q1", "get|q1|1", "get|q1|0", "get|q1|0.2",
		"task_done|q1", "join|q1|0.2", "task_done|q1", "task_done|q1", "join|q1|0", "task_done|q1",
		"put|q1|{bad", "put|q1|1 2", "get|nosuch|0", "put|no/such|1|0")),
		"create -> 1\ncreate -> 0\ncreate -> -EEXIST\n"
		"put -> 1\nput -> 1\nput -> 1\n"
		"get -> 1 42\nget -> 1 {\"a\":[1,2.5,\"x y\"],\"n\":null}\nget -> 1 1000\nget -> 0\n"
		"task_done -> 0\njoin -> 0\ntask_done -> 0\ntask_done -> 0\njoin -> 1\ntask_done -> -EOVERFLOW\n"
		"put -> -EINVAL\nput -> -EINVAL\nget -> -ENOENT\nput -> -EINVAL\n");
	/* maxsize: a put into a full queue waits, then answers 0 */
	CHECK_OUT(run_on(srv, STEPS("create|queue|q2|{\"maxsize\": 1}", "put|q2|1|0", "put|q2|2|0.2", "get|q2|0")),
		  "create -> 1\nput -> 1\nput -> 0\nget -> 1 1\n");
	/* spawnd_queue_get_many(): up to max items at once, in order */
	CHECK_OUT(run_on(srv, STEPS("create|queue|q4", "put|q4|[1, 2, 3]", "put|q4|4", "gets|q4|3", "gets|q4|3|0",
		"gets|q4|3|0.2", "gets|q4|0|0")),
		  "create -> 1\nput -> 1\nput -> 1\ngets -> 1 [[1,2,3],4]\ngets -> 0\ngets -> 0\ngets -> -EINVAL\n");
}

/* A get with no timeout blocks in the worker until someone puts. */
static void test_queue_get_blocks_until_put(void)
{
	char id[ID_CAP];
	struct call *c = call(srv, "PUT", "/queues/q3", NULL, "{}");
	CHECK_INT(c->status, 201);
	call_free(c);
	start_on(srv, STEPS("get|q3"), id);
	CHECK(id[0]);
	CHECK_MSG(field_reaches("/queues/q3", "getters", 1), "the worker's get never waited");
	c = call(srv, "POST", "/queues/q3/put", NULL, "{\"item\": \"from outside\"}");
	CHECK_INT(c->status, 200);
	call_free(c);
	CHECK_OUT(finish_on(srv, id), "get -> 1 \"from outside\"\n");
}

static void test_event_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|event|e1", "ewait|e1|0.1", "eset|e1", "ewait|e1", "ewait|e1|0",
		"eclear|e1", "ewait|e1|0", "eset|nosuch")),
		"create -> 1\newait -> 0\neset -> 0\newait -> 1\newait -> 1\neclear -> 0\newait -> 0\neset -> -ENOENT\n");
	/* one worker waits (no timeout) until another sets it */
	char waiter[ID_CAP];
	start_on(srv, STEPS("ewait|e1"), waiter);
	CHECK(waiter[0]);
	CHECK_MSG(field_reaches("/sync/events/e1", "waiters", 1), "the worker's wait never waited");
	CHECK_OUT(run_on(srv, STEPS("eset|e1")), "eset -> 0\n");
	CHECK_OUT(finish_on(srv, waiter), "ewait -> 1\n");
}

/* A lock is the worker's: held in its name, released when it ends, and the
 * next holder is told it was abandoned, with a larger fence. */
static void test_lock_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|lock|l1", "lacq|l1|0", "lrel|l1", "lrel|l1", "lacq|nosuch|0")),
		  "create -> 1\nlacq -> 1 fence=1 abandoned=0\nlrel -> 0\nlrel -> -EPERM\nlacq -> -ENOENT\n");
	char holder[ID_CAP];
	start_on(srv, STEPS("lacq|l1", "sleep|30"), holder);
	CHECK(holder[0]);
	CHECK_MSG(field_reaches("/sync/locks/l1", "fence", 2), "the holder never acquired");
	struct resp *r = get(srv, "/sync/locks/l1");
	const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "holders"), 0);
	bool own = h && jstr(h, "owner") && strcmp(jstr(h, "owner"), holder) == 0;
	resp_free(r);
	CHECK_MSG(own, "the lock's holder is not the worker %s", holder);
	CHECK_OUT(run_on(srv, STEPS("lacq|l1|0.2", "lrel|l1")), "lacq -> 0\nlrel -> -EPERM\n");
	resp_free(postf(srv, NULL, "/processes/%s/kill", holder));
	CHECK_OUT(run_on(srv, STEPS("lacq|l1|10", "lrel|l1")), "lacq -> 1 fence=3 abandoned=1\nlrel -> 0\n");
}

/* The second permit of one worker is counted on its one grant (objects/
 * sync_semaphore.c: one grant per owner), so its fence does not move. */
static void test_semaphore_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|semaphore|s1|{\"value\": 2, \"bounded\": true}", "sacq|s1|0", "sacq|s1|0",
		"sacq|s1|0.1", "srel|s1", "srel|s1", "srel|s1")),
		"create -> 1\nsacq -> 1 fence=1 abandoned=0\nsacq -> 1 fence=1 abandoned=0\nsacq -> 0\n"
		"srel -> 0\nsrel -> 0\nsrel -> -EOVERFLOW\n");
}

static void test_condition_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|condition|c1", "cwait|c1|0", "cnotify|c1|1", "cacq|c1|0",
		"cwait|c1|0.1", "cnotify|c1|1", "cnotify_all|c1", "crel|c1", "crel|c1")),
		"create -> 1\ncwait -> -EPERM\ncnotify -> 0\ncacq -> 1 fence=1 abandoned=0\n"
		"cwait -> 0\ncnotify -> 0\ncnotify_all -> 0\ncrel -> 0\ncrel -> -EPERM\n");
	/* a waiter in one worker, notified by another (fences: 1 and 2 above, the
	 * timed-out wait took the lock again; 3 the waiter's, 4 the notifier's) */
	char waiter[ID_CAP];
	start_on(srv, STEPS("cacq|c1", "cwait|c1", "crel|c1"), waiter);
	CHECK(waiter[0]);
	CHECK_MSG(field_reaches("/sync/conditions/c1", "waiters", 1), "the worker never waited");
	CHECK_OUT(run_on(srv, STEPS("cacq|c1|10", "cnotify|c1|1", "crel|c1")),
		  "cacq -> 1 fence=4 abandoned=0\ncnotify -> 1\ncrel -> 0\n");
	CHECK_OUT(finish_on(srv, waiter), "cacq -> 1 fence=3 abandoned=0\ncwait -> 1\ncrel -> 0\n");
}

static void test_barrier_functions(void)
{
	char a[ID_CAP], b[ID_CAP];
	CHECK_OUT(run_on(srv, STEPS("create|barrier|b1|{\"parties\": 2}")), "create -> 1\n");
	start_on(srv, STEPS("bwait|b1|20"), a);
	start_on(srv, STEPS("bwait|b1|20"), b);
	CHECK(a[0] && b[0]);
	char *oa = finish_on(srv, a), *ob = finish_on(srv, b);
	bool both = (strcmp(oa, "bwait -> 0\n") == 0 && strcmp(ob, "bwait -> 1\n") == 0) ||
		    (strcmp(oa, "bwait -> 1\n") == 0 && strcmp(ob, "bwait -> 0\n") == 0);
	CHECK_MSG(both, "indexes not 0 and 1: %s / %s", oa, ob);
	free(oa);
	free(ob);
	CHECK_OUT(run_on(srv, STEPS("bwait|b1|0.1", "bwait|b1|0")), "bwait -> -EPIPE\nbwait -> -EPIPE\n");
}

static void test_namespace_functions(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|namespace|n1", "nget|n1|k", "nset|n1|k|[1, 2]", "nget|n1|k",
		"nset|n1|k|{\"x\": \"y\"}", "nget|n1|k", "nset|n1|k|nope", "nget|nosuch|k", "nset|n1||1")),
		"create -> 1\nnget -> -ENOENT\nnset -> 0\nnget -> 0 [1,2]\n"
		"nset -> 0\nnget -> 0 {\"x\":\"y\"}\nnset -> -EINVAL\nnget -> -ENOENT\nnset -> -EINVAL\n");
	struct resp *r = get(srv, "/namespaces/n1/keys/k");
	CHECK_STATUS(r, 200);
	CHECK_INT(jint(r->json, "version", -1), 2);
	resp_free(r);
}

/* The socket is in the state folder, private to spawnd's user. */
static void test_socket_in_state_folder(void)
{
	char path[PATH_MAX + 32];
	struct stat st;
	snprintf(path, sizeof path, "%s/state/spawnd.sock", server_root(srv));
	CHECK_MSG(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "%s is not a socket", path);
	CHECK_MSG((st.st_mode & 0777) == 0600, "%s has mode %o", path, (unsigned)(st.st_mode & 0777));
}

/* Each thread has its own connection: a thread blocked in a wait does not
 * hold up the main thread's set (one shared connection would: the set would
 * queue behind the wait it is meant to end). */
static void test_threads_have_their_own_connection(void)
{
	char id[ID_CAP];
	start_on(srv, STEPS("create|event|th1", "thread_wait|th1", "sleep|0.2", "eset|th1", "join_thread"), id);
	CHECK(id[0]);
	CHECK_OUT(finish_on(srv, id), "create -> 1\nthread_wait -> 0\nsleep -> 0\neset -> 0\njoin_thread -> 1\n");
}

/* SPAWND_SOCKET comes first (a dead SPAWND_URL does not matter), SPAWND_URL
 * without it, and neither is -ENOTCONN. */
static void test_transport_choice(void)
{
	CHECK_OUT(run_on(srv, STEPS("create|event|e2", "setenv|SPAWND_URL|http://127.0.0.1:1", "eset|e2")),
		  "create -> 1\nsetenv -> 0\neset -> 0\n");
	CHECK_OUT(run_on(srv, STEPS("unsetenv|SPAWND_SOCKET", "eclear|e2", "ewait|e2|0")),
		  "unsetenv -> 0\neclear -> 0\newait -> 0\n");
	CHECK_OUT(run_on(srv, STEPS("setenv|SPAWND_SOCKET|/nonexistent/spawnd.sock", "eset|e2")),
		  "setenv -> 0\neset -> -ECONNREFUSED\n");
	CHECK_OUT(run_on(srv, STEPS("unsetenv|SPAWND_SOCKET", "setenv|SPAWND_URL|https://127.0.0.1:1", "eset|e2")),
		  "unsetenv -> 0\nsetenv -> 0\neset -> -ENOTCONN\n");
	CHECK_OUT(run_on(srv, STEPS("unsetenv|SPAWND_SOCKET", "unsetenv|SPAWND_URL", "eset|e2")),
		  "unsetenv -> 0\nunsetenv -> 0\neset -> -ENOTCONN\n");
}

/* A server killed with SIGKILL leaves its socket file; the next one on the
 * same state folder replaces it and its workers reach it. */
static void test_stale_socket_replaced(void)
{
	CHECK_INT(server_restart(srv, SIGKILL), 0);
	test_socket_in_state_folder();
	/* through the socket only: SPAWND_URL leads nowhere */
	CHECK_OUT(run_on(srv, STEPS("setenv|SPAWND_URL|http://127.0.0.1:1", "create|event|e3", "eset|e3", "ewait|e3|0")),
		  "setenv -> 0\ncreate -> 1\neset -> 0\newait -> 1\n");
}

#define ADMIN "capi-admin-token-0123456789"

/* With a tokens file every outside request needs a token; a worker's calls
 * carry its own SPAWND_TOKEN and need nothing more. A token that is no live
 * worker's is refused: -EACCES. */
static void test_with_tokens_file(void)
{
	char tokens[PATH_MAX + 16], args[2 * PATH_MAX + 64];
	snprintf(tokens, sizeof tokens, "%s/tokens", plugins);
	FILE *f = fopen(tokens, "w");
	CHECK(f);
	fprintf(f, "admin %s\n", ADMIN);
	fclose(f);
	chmod(tokens, 0600);
	snprintf(args, sizeof args, "--plugins %s --tokens-file %s", plugins, tokens);
	struct server *s = server_start(args);
	CHECK_MSG(s, "spawnd did not start with a tokens file");
	char *body = capi_body(STEPS("create|event|t1", "eset|t1", "ewait|t1|0",
		"setenv|SPAWND_TOKEN|spw_0000000000000000000000000000000000000000000000000000000000000000", "eset|t1"));
	struct call *c = call(s, "POST", "/processes?wait=20", ADMIN, body);
	free(body);
	const char *out = jstr(c->json, "stdout");
	bool ok = c->status == 201 && out &&
		  strcmp(out, "create -> 1\neset -> 0\newait -> 1\nsetenv -> 0\neset -> -EACCES\n") == 0;
	if (!ok)
		check_record(__FILE__, __LINE__, "%ld: %.600s", c->status, c->body);
	call_free(c);
	if (!ok)
		return;
	check_server_stops(&s);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	char args[PATH_MAX + 32];
	make_plugins_folder();
	snprintf(args, sizeof args, "--plugins %s", plugins);
	srv = plugins[0] ? server_start(args) : NULL;
	if (!srv) {
		printf("FAIL server_start: spawnd did not start with plugin_capi.so (see stderr)\n");
		remove_plugins_folder();
		return 1;
	}
	RUN(test_queue_functions);
	RUN(test_queue_get_blocks_until_put);
	RUN(test_event_functions);
	RUN(test_lock_functions);
	RUN(test_semaphore_functions);
	RUN(test_condition_functions);
	RUN(test_barrier_functions);
	RUN(test_namespace_functions);
	RUN(test_socket_in_state_folder);
	RUN(test_threads_have_their_own_connection);
	RUN(test_transport_choice);
	RUN(test_stale_socket_replaced);
	RUN(test_with_tokens_file);
	RUN(check_stops);
	remove_plugins_folder();
	return CHECK_EXIT();
}
