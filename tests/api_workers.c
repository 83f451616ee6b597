/* api_workers — what a builtin or plugin worker starts with, whichever way the
 * fork server made it: handed a spare forked ahead of the request (the
 * default), or forked on demand (SPAWND_SPARE=0, and whenever no spare is
 * ready). Both must give the same worker: fds 0-2 only, no blocked, ignored
 * or caught signal, its own session and group, the fork server as parent, no
 * parent-death signal, and only its own environment (the server runs with a
 * secret in its environment that no worker may see). Also: a spare is used
 * when one is ready, a spare killed from outside is replaced and costs no
 * request, a signal sent right after the spawn is never lost, and no spare
 * outlives the server. SPAWND_SPARE takes 0 or 1, nothing else. The fork
 * server's own channels are close-on-exec, and where close_range(2) is
 * refused (a third pass, under the fixture no_close_range) workers still
 * start with fds 0-2 only.
 *
 * The worker is the fixture plugin tests/fixtures/plugin_inspect.c
 * (SPAWND_FIXTURES holds plugin_inspect.so).
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define SECRET_NAME "SPAWND_TEST_WORKERS_SECRET"
#define SECRET_VALUE "swordfish-must-not-leak"
#define MAX_KIDS 64

static struct server *srv;      /* the server of the current pass */
static bool spares;             /* whether it keeps a spare */
static char plugins[PATH_MAX];  /* a folder with plugin_inspect.so only */

/* The fork server: spawnd's child named spawnd-fork. */
static pid_t fork_server(void)
{
	pid_t kids[MAX_KIDS];
	int n = proc_descendants(server_pid(srv), kids, MAX_KIDS, NULL);
	for (int i = 0; i < n && i < MAX_KIDS; i++) {
		char path[64], comm[32] = "";
		snprintf(path, sizeof path, "/proc/%d/comm", (int)kids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		if (proc_parent(kids[i]) == server_pid(srv) && strcmp(comm, "spawnd-fork") == 0)
			return kids[i];
	}
	return -1;
}

/* The fork server's children (no worker is alive when this is called, so
 * they are spares). */
static int idle_children(pid_t fs, pid_t *out, int max)
{
	pid_t all[MAX_KIDS];
	int n = proc_descendants(fs, all, MAX_KIDS, NULL), k = 0;
	for (int i = 0; i < n && i < MAX_KIDS; i++)
		if (proc_parent(all[i]) == fs && k < max)
			out[k++] = all[i];
	return k;
}

/* Waits up to 5 s for the fork server to have exactly `want` idle children. */
static int wait_idle_children(pid_t fs, int want, pid_t *out, int max)
{
	double deadline = now_s() + 5;
	int n;
	while ((n = idle_children(fs, out, max)) != want && now_s() < deadline)
		sleep_s(0.005);
	return n;
}

static bool has_string(const cJSON *arr, const char *s)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
		if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
			return true;
	return false;
}

/* Checks one ended inspect record (r: its JSON) against the worker rules. */
static void check_worker(const struct resp *r, pid_t fs)
{
	char want[256];
	const char *out = jstr(r->json, "stdout");
	CHECK_MSG(out, "no stdout: " RESP_FMT, RESP_ARGS(r));
	cJSON *j = cJSON_Parse(out);
	CHECK_MSG(j, "inspect printed no JSON: %s", out);
	const cJSON *fds = cJSON_GetObjectItem(j, "fds"), *env = cJSON_GetObjectItem(j, "env");
	char *fds_text = cJSON_PrintUnformatted(fds);
	bool fds_ok = fds_text && strcmp(fds_text, "[0,1,2]") == 0;
	free(fds_text);
	long long pid = jint(r->json, "pid", -1);
	bool ok = fds_ok && jint(j, "pid", -2) == pid && jint(j, "pgid", -2) == pid && jint(j, "sid", -2) == pid &&
		  jint(j, "ppid", -2) == fs && jint(j, "pdeathsig", -2) == 0 &&
		  strcmp(jstr(j, "sigblk") ? jstr(j, "sigblk") : "", "0000000000000000") == 0 &&
		  strcmp(jstr(j, "sigign") ? jstr(j, "sigign") : "", "0000000000000000") == 0 &&
		  strcmp(jstr(j, "sigcgt") ? jstr(j, "sigcgt") : "", "0000000000000000") == 0;
	snprintf(want, sizeof want, "SPAWND_PROCESS_ID=%s", jstr(r->json, "id") ? jstr(r->json, "id") : "?");
	ok = ok && has_string(env, want);
	snprintf(want, sizeof want, "SPAWND_PROCESS_NAME=%s", jstr(r->json, "name") ? jstr(r->json, "name") : "?");
	ok = ok && has_string(env, want) && !strstr(out, SECRET_NAME) && !strstr(out, SECRET_VALUE);
	cJSON_Delete(j);
	CHECK_MSG(ok, "worker pid %lld (fork server %d, spares %s) did not start clean: %s", pid, (int)fs,
		  spares ? "on" : "off", out);
	CHECK_EXITED(r, 0);
}

static void test_sequential_workers_start_clean(void)
{
	pid_t fs = fork_server(), spare[2];
	CHECK_MSG(fs > 0, "no fork server among spawnd's children");
	for (int i = 0; i < 20; i++) {
		/* Between requests the fork server's only children are spares:
		 * one when they are on (forked once the last worker ended), else none. */
		int n = wait_idle_children(fs, spares ? 1 : 0, spare, 2);
		CHECK_MSG(n == (spares ? 1 : 0), "attempt %d: the fork server has %d idle children (spares %s)",
			  i + 1, n, spares ? "on" : "off");
		struct resp *r = spawn(srv, "{\"target\": \"inspect\"}", 10);
		CHECK_STATUS(r, 201);
		check_worker(r, fs);
		if (check_failure[0]) {
			resp_free(r);
			return;
		}
		long long pid = jint(r->json, "pid", -1);
		resp_free(r);
		if (spares)
			CHECK_MSG(pid == spare[0], "attempt %d: the worker is pid %lld, not the ready spare %d",
				  i + 1, pid, (int)spare[0]);
	}
}

/* Back to back without waiting: spares and forks on demand mixed. */
static void test_burst_workers_start_clean(void)
{
	char ids[30][ID_CAP];
	pid_t fs = fork_server();
	CHECK(fs > 0);
	for (int i = 0; i < 30; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"inspect\"}", -1);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, ids[i]));
		resp_free(r);
	}
	for (int i = 0; i < 30; i++) {
		struct resp *r = join(srv, ids[i], 10);
		check_worker(r, fs);
		resp_free(r);
		if (check_failure[0])
			return;
	}
}

static void test_terminate_at_once_not_lost(void)
{
	for (int i = 0; i < 30; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"inspect\", \"args\": {\"sleep\": 30}}", -1);
		char id[ID_CAP];
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		r = postf(srv, NULL, "/processes/%s/terminate", id);
		CHECK_STATUS(r, 202);
		resp_free(r);
		r = join(srv, id, 5);
		if (jis_true(r->json, "alive")) {
			resp_free(postf(srv, NULL, "/processes/%s/kill", id));
			CHECK_FAIL("attempt %d (spares %s): terminated right after the spawn, still alive: " RESP_FMT,
				   i + 1, spares ? "on" : "off", RESP_ARGS(r));
		}
		CHECK_EXITED(r, -15);
		resp_free(r);
	}
}

/* A spare killed from outside (it is an ordinary process anyone with the
 * rights can signal) is reaped and replaced. A request racing the kill may get
 * the dying spare: it then ends as killed (-9), never hangs, never fails; once
 * the spare is replaced, workers start clean from the new one. */
static void test_killed_spare_replaced(void)
{
	pid_t fs = fork_server(), spare[2], next[2];
	CHECK(fs > 0);
	if (!spares) {
		CHECK_INT(wait_idle_children(fs, 0, spare, 2), 0);
		return;
	}
	CHECK_INT(wait_idle_children(fs, 1, spare, 2), 1);
	CHECK(kill(spare[0], SIGKILL) == 0);
	struct resp *r = spawn(srv, "{\"target\": \"inspect\"}", 10);
	CHECK_STATUS(r, 201);
	long long code = jint(r->json, "exitcode", -1000);
	if (code == 0)
		check_worker(r, fs);
	else
		CHECK_MSG(code == -9 && jis_false(r->json, "alive"),
			  "a request racing the spare's kill neither ran nor ended killed: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	if (check_failure[0])
		return;
	/* next[] is written only for the children found: unset, it must not match. */
	double deadline = now_s() + 5;
	int found = 0;
	next[0] = next[1] = -1;
	while (((found = wait_idle_children(fs, 1, next, 2)) != 1 || next[0] == spare[0]) && now_s() < deadline)
		sleep_s(0.01);
	CHECK_MSG(found == 1 && next[0] != spare[0] && pid_alive(next[0]),
		  "the killed spare %d was not replaced (%d idle children)", (int)spare[0], found);
	r = spawn(srv, "{\"target\": \"inspect\"}", 10);
	CHECK_STATUS(r, 201);
	check_worker(r, fs);
	long long pid = jint(r->json, "pid", -1);
	resp_free(r);
	if (check_failure[0])
		return;
	CHECK_MSG(pid == next[0], "the worker is pid %lld, not the new spare %d", pid, (int)next[0]);
	CHECK_INT(zombie_count(server_pid(srv)), 0);
}

/* Its channels, fds 3 and 4, reach it through spawnd's dup2, which clears
 * close-on-exec: the fork server sets it again, so no exec'd worker can
 * inherit them even if closing them in the child failed. */
static void test_fork_server_channels_close_on_exec(void)
{
	pid_t fs = fork_server();
	CHECK(fs > 0);
	for (int fd = 3; fd <= 4; fd++) {
		char path[64], line[128];
		unsigned long flags = 0;
		bool found = false;
		snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)fs, fd);
		FILE *f = fopen(path, "r");
		CHECK_MSG(f, "%s: %s", path, strerror(errno));
		while (!found && fgets(line, sizeof line, f))
			found = sscanf(line, "flags: %lo", &flags) == 1;
		fclose(f);
		CHECK_MSG(found, "no flags in %s", path);
		CHECK_MSG(flags & O_CLOEXEC, "fd %d of the fork server is not close-on-exec (flags 0%lo)", fd, flags);
	}
}

/* SPAWND_SPARE takes 0 or 1; anything else stops spawnd at startup, saying so. */
static void test_bad_spare_setting_refuses_start(void)
{
	static const char *const bad[] = { "2", "yes", "", " 1" };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char root[PATH_MAX], state[PATH_MAX + 8], log[4096];
	bool listened;

	snprintf(root, sizeof root, "%s/spawnd-spare.XXXXXX", tmp);
	CHECK(mkdtemp(root));
	snprintf(state, sizeof state, "%s/state", root);
	CHECK(mkdir(state, 0700) == 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		setenv("SPAWND_SPARE", bad[i], 1);
		int status = server_run_refused((const char *const[]){ NULL }, root, log, sizeof log, &listened);
		unsetenv("SPAWND_SPARE");
		CHECK_MSG(status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !listened,
			  "spawnd started with SPAWND_SPARE=\"%s\" (status %d): %.300s", bad[i], status, log);
		CHECK_MSG(strstr(log, "SPAWND_SPARE must be 0 or 1"),
			  "SPAWND_SPARE=\"%s\": the refusal does not say what to fix: %.300s", bad[i], log);
	}
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/stderr", root);
	unlink(path);
	snprintf(path, sizeof path, "%s/stdout", root);
	unlink(path);
	rmdir(state);
	rmdir(root);
}

static bool make_plugins_folder(void)
{
	const char *fixtures = getenv("SPAWND_FIXTURES") ? getenv("SPAWND_FIXTURES") : "build/tests/fixtures";
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char from[PATH_MAX + 32], rel[PATH_MAX + 32], to[PATH_MAX + 32];

	snprintf(plugins, sizeof plugins, "%s/spawnd-workers.XXXXXX", tmp);
	if (!mkdtemp(plugins))
		return false;
	snprintf(rel, sizeof rel, "%s/plugin_inspect.so", fixtures);
	snprintf(to, sizeof to, "%s/plugin_inspect.so", plugins);
	return realpath(rel, from) && symlink(from, to) == 0;
}

static void remove_plugins_folder(void)
{
	char to[PATH_MAX + 32];
	snprintf(to, sizeof to, "%s/plugin_inspect.so", plugins);
	unlink(to);
	rmdir(plugins);
}

/* RUN() under another name, for a case run again in another pass. */
static void run_named(void (*fn)(void), const char *name)
{
	check_failure[0] = '\0';
	fn();
	if (check_failure[0]) {
		printf("FAIL %s: %s\n", name, check_failure);
		check_failed_cases++;
	} else
		printf("PASS %s\n", name);
	fflush(stdout);
}

/* One pass of every case against a server with spares on or off; ends by
 * stopping it and checking that none of its processes outlives it. */
static void run_pass(bool with_spares)
{
	char extra[PATH_MAX + 16], why[256];
	pid_t left[MAX_KIDS];

	spares = with_spares;
	if (!with_spares)
		setenv("SPAWND_SPARE", "0", 1);
	snprintf(extra, sizeof extra, "--plugins %s", plugins);
	srv = server_start(extra);
	unsetenv("SPAWND_SPARE");
	if (!srv) {
		printf("FAIL server_start_spares_%s: spawnd did not start (see stderr)\n", with_spares ? "on" : "off");
		check_failed_cases++;
		return;
	}
	if (with_spares) {
		RUN(test_sequential_workers_start_clean);
		RUN(test_burst_workers_start_clean);
		RUN(test_terminate_at_once_not_lost);
		RUN(test_killed_spare_replaced);
		RUN(test_fork_server_channels_close_on_exec);
	} else {
		/* The same cases, named for the pass. */
		void (*cases[])(void) = { test_sequential_workers_start_clean, test_burst_workers_start_clean,
					  test_terminate_at_once_not_lost, test_killed_spare_replaced };
		const char *names[] = { "test_sequential_workers_start_clean_without_spare",
					"test_burst_workers_start_clean_without_spare",
					"test_terminate_at_once_not_lost_without_spare",
					"test_no_spare_when_off" };
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			run_named(cases[i], names[i]);
	}
	int n = proc_descendants(server_pid(srv), left, MAX_KIDS, NULL);
	if (server_stop(srv, why, sizeof why) < 0) {
		printf("FAIL server_stop_spares_%s: %s\n", with_spares ? "on" : "off", why);
		check_failed_cases++;
	} else if (!pids_gone(left, n < MAX_KIDS ? n : MAX_KIDS, 5)) {
		printf("FAIL nothing_outlives_the_server_spares_%s: a spawnd descendant is alive 5 s after it stopped\n",
		       with_spares ? "on" : "off");
		check_failed_cases++;
	} else
		printf("PASS nothing_outlives_the_server_spares_%s\n", with_spares ? "on" : "off");
	srv = NULL;
}

/* The fork server with close_range(2) refused (ENOSYS): every worker's fds
 * are closed by the fallback (lib/fdclose.c), spare or forked on demand. */
static void run_close_range_refused_pass(void)
{
	char extra[PATH_MAX + 16], why[256], rel[PATH_MAX + 32], wrapper[PATH_MAX];
	const char *fixtures = getenv("SPAWND_FIXTURES") ? getenv("SPAWND_FIXTURES") : "build/tests/fixtures";

	snprintf(rel, sizeof rel, "%s/no_close_range", fixtures);
	if (!realpath(rel, wrapper)) {
		printf("FAIL close_range_refused_setup: %s: %s (build it with make)\n", rel, strerror(errno));
		check_failed_cases++;
		return;
	}
	spares = true;
	setenv("SPAWND_FORKSERVER", wrapper, 1);
	snprintf(extra, sizeof extra, "--plugins %s", plugins);
	srv = server_start(extra);
	unsetenv("SPAWND_FORKSERVER");
	if (!srv) {
		printf("FAIL server_start_close_range_refused: spawnd did not start (see stderr)\n");
		check_failed_cases++;
		return;
	}
	run_named(test_sequential_workers_start_clean, "test_sequential_workers_start_clean_close_range_refused");
	run_named(test_burst_workers_start_clean, "test_burst_workers_start_clean_close_range_refused");
	if (server_stop(srv, why, sizeof why) < 0) {
		printf("FAIL server_stop_close_range_refused: %s\n", why);
		check_failed_cases++;
	}
	srv = NULL;
}

int main(void)
{
	if (!make_plugins_folder()) {
		printf("FAIL setup: cannot link plugin_inspect.so into %s: %s (build it with make)\n", plugins,
		       strerror(errno));
		return 1;
	}
	setenv(SECRET_NAME, SECRET_VALUE, 1);
	run_pass(true);
	run_pass(false);
	run_close_range_refused_pass();
	RUN(test_bad_spare_setting_refuses_start);
	remove_plugins_folder();
	return CHECK_EXIT();
}
