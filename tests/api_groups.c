/* api_groups — signals reach the worker's whole process group, and nothing a
 * worker forks outlives a DELETE or stays a zombie.
 *
 * Fixtures (exec targets): `tree` forks three children, one ignoring SIGTERM,
 * and prints their pids; `doublefork` orphans a short-lived grandchild.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;


/* Waits up to 5 s for the tree worker's line of child pids. */
static bool tree_pids(const char *id, pid_t kids[3])
{
	double deadline = now_s() + 5;

	do {
		struct resp *r = output_raw(srv, id, "stdout");
		int a, b, c;
		bool ok = r->status == 200 && strchr(r->body, '\n') && sscanf(r->body, "%d %d %d", &a, &b, &c) == 3;
		resp_free(r);
		if (ok) {
			kids[0] = a;
			kids[1] = b;
			kids[2] = c;
			return true;
		}
		sleep_s(0.02);
	} while (now_s() < deadline);
	return false;
}

/* Starts a tree worker; its id into id and its children into kids. */
#define START_TREE(id, kids) do { \
		struct resp *r_ = spawn(srv, "{\"target\": \"tree\", \"args\": [15]}", -1); \
		CHECK_STATUS(r_, 201); \
		CHECK(take_id(r_, id)); \
		resp_free(r_); \
		CHECK_MSG(tree_pids(id, kids), "tree did not print its children's pids within 5 s"); \
		for (int k_ = 0; k_ < 3; k_++) \
			CHECK_MSG(pid_alive(kids[k_]), "child %d of tree not running", (int)kids[k_]); \
	} while (0)

/* No zombie among spawnd's descendants within 2 s. */
#define CHECK_NO_ZOMBIES() do { \
		double deadline_ = now_s() + 2; \
		int z_; \
		while ((z_ = zombie_count(server_pid(srv))) != 0 && now_s() < deadline_) \
			sleep_s(0.05); \
		CHECK_MSG(z_ == 0, "%d zombie descendants of spawnd after 2 s", z_); \
	} while (0)

static void kill_leftovers(const pid_t *kids, int n)
{
	for (int i = 0; i < n; i++) {
		if (pid_alive(kids[i]))
			kill(kids[i], SIGKILL);
	}
}

static void test_terminate_reaches_grandchildren(void)
{
	char id[ID_CAP];
	pid_t kids[3], obedient[2];
	struct resp *r;
	bool gone;

	START_TREE(id, kids);
	r = postf(srv, NULL, "/processes/%s/terminate", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	obedient[0] = kids[0];
	obedient[1] = kids[2];
	gone = pids_gone(obedient, 2, 1.0);
	/* A grandchild holding the output pipe must not keep the record running. */
	r = join(srv, id, 10);
	kill_leftovers(kids, 3);
	CHECK_MSG(gone, "SIGTERM did not reach the worker's children within 1 s");
	CHECK_MSG(r->status == 200 && jis_false(r->json, "alive") && jint(r->json, "exitcode", 0) == -15,
		  "not ended by terminate (a child holds its stdout): " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_NO_ZOMBIES();
}

static void test_kill_reaches_all_grandchildren(void)
{
	char id[ID_CAP];
	pid_t kids[3];
	struct resp *r;
	bool gone;

	START_TREE(id, kids);
	r = postf(srv, NULL, "/processes/%s/kill", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	gone = pids_gone(kids, 3, 1.0);
	kill_leftovers(kids, 3);
	CHECK_MSG(gone, "SIGKILL did not reach all of the worker's children within 1 s");
	r = join(srv, id, 10);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jis_false(r->json, "alive") && jint(r->json, "exitcode", 0) == -9, RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_NO_ZOMBIES();
}

static void test_delete_grace_leaves_no_survivor(void)
{
	char id[ID_CAP];
	pid_t kids[3];
	struct resp *r;
	double start;
	bool gone;

	START_TREE(id, kids);
	start = now_s();
	r = del(srv, "/processes/%s?grace=1", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jis_false(r->json, "alive"), "final record alive: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(r->seconds < 5, "DELETE with grace=1 took %.1f s", r->seconds);
	resp_free(r);
	/* grace + 1 s from the request, the SIGTERM-ignoring child included. */
	gone = pids_gone(kids, 3, start + 2.0 - now_s());
	kill_leftovers(kids, 3);
	CHECK_MSG(gone, "a child of the worker survived DELETE?grace=1 for more than 2 s");
	r = get(srv, "/processes/%s", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	CHECK_NO_ZOMBIES();
}

static void test_delete_default_grace_kills_group(void)
{
	char id[ID_CAP];
	pid_t kids[3];
	struct resp *r;
	bool gone;

	double start;

	START_TREE(id, kids);
	start = now_s();
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	/* The default grace is 5 s: nothing may survive 6 s. */
	gone = pids_gone(kids, 3, start + 6.0 - now_s());
	kill_leftovers(kids, 3);
	CHECK_MSG(gone, "a child of the worker survived DELETE (default grace 5 s) for more than 6 s");
	CHECK_NO_ZOMBIES();
}

static void test_double_fork_leaves_no_zombie(void)
{
	enum { N = 20 };
	pid_t grandchildren[N];
	double deadline;
	int zombies;

	for (int i = 0; i < N; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"doublefork\", \"args\": [300]}", 10);
		char id[ID_CAP];
		CHECK_STATUS(r, 201);
		CHECK_MSG(jis_false(r->json, "alive") && jint(r->json, "exitcode", -1) == 0,
			  "doublefork did not exit 0 promptly: " RESP_FMT, RESP_ARGS(r));
		CHECK(take_id(r, id));
		resp_free(r);
		r = output_raw(srv, id, "stdout");
		grandchildren[i] = (pid_t)atoi(r->body);
		CHECK_MSG(grandchildren[i] > 0, "doublefork output: %s", r->body);
		resp_free(r);
	}
	/* The grandchildren live 0.3 s; 2 s later nothing may be left. */
	CHECK_MSG(pids_gone(grandchildren, N, 5), "double-forked grandchildren still running after 5 s");
	deadline = now_s() + 2;
	while ((zombies = zombie_count(server_pid(srv))) != 0 && now_s() < deadline)
		sleep_s(0.05);
	CHECK_MSG(zombies == 0, "%d zombie descendants of spawnd 2 s after double-forked grandchildren exited", zombies);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	char *tree = fixture_path("tree"), *doublefork = fixture_path("doublefork");
	char *targets = NULL;

	if (!fixture_exists("tree") || !fixture_exists("doublefork")) {
		printf("FAIL fixtures: %s or %s missing (set SPAWND_FIXTURES)\n", tree, doublefork);
		return 1;
	}
	if (asprintf(&targets,
		     "{\"targets\": ["
		     "{\"name\": \"tree\", \"description\": \"Forks three children, one ignoring SIGTERM.\","
		     " \"program\": \"%s\", \"argv\": [\"{seconds}\"],"
		     " \"args\": [{\"name\": \"seconds\", \"type\": \"integer\", \"required\": false, \"min\": 1, \"max\": 600}]},"
		     "{\"name\": \"doublefork\", \"description\": \"Orphans a short-lived grandchild.\","
		     " \"program\": \"%s\", \"argv\": [\"{ms}\"],"
		     " \"args\": [{\"name\": \"ms\", \"type\": \"integer\", \"required\": false, \"min\": 0, \"max\": 10000}]}"
		     "]}", tree, doublefork) < 0)
		return 1;
	free(tree);
	free(doublefork);
	srv = server_start_targets(targets, NULL);
	free(targets);
	if (!srv) {
		printf("FAIL server_start: spawnd with the fixture targets did not start (see stderr)\n");
		return 1;
	}
	RUN(test_terminate_reaches_grandchildren);
	RUN(test_kill_reaches_all_grandchildren);
	RUN(test_delete_grace_leaves_no_survivor);
	RUN(test_delete_default_grace_kills_group);
	RUN(test_double_fork_leaves_no_zombie);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
