/* api_shutdown — SIGTERM/SIGINT as multiprocessing's exit (README "Shutdown"):
 * while workers are given --shutdown-timeout to end, new processes get 503
 * shutting_down (the socket still accepts); a follow stream of a worker
 * terminated at shutdown ends with its exit line, an /events stream ends;
 * the store is flushed (no WAL left) and spawnd exits 0. Queued records stay
 * queued across a graceful restart and run after it. As PID 1 (in a PID
 * namespace of its own) spawnd reaps what is reparented to it. */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

static void spawn_id(struct server *srv, const char *body, char id[ID_CAP])
{
	struct resp *r = spawn(srv, body, -1);
	if (r->status != 201 || !take_id(r, id)) {
		fprintf(stderr, "spawn %s: %ld %s\n", body, r->status, r->body);
		id[0] = '\0';
	}
	resp_free(r);
}

/* The last NDJSON line of a body, parsed (NULL: none). */
static cJSON *last_line(const struct live *l)
{
	cJSON **lines;
	int n = ndjson_parse(l->body, l->len, &lines);
	cJSON *last = n > 0 ? cJSON_Duplicate(lines[n - 1], true) : NULL;
	if (n >= 0)
		ndjson_free(lines, n);
	return last;
}

static bool exited(const struct server *s)
{
	char buf[256];
	const char *f = proc_stat_fields(server_pid(s), buf, sizeof buf);
	return !f || f[strspn(f, " ")] == 'Z';
}

static bool both_done(void *arg)
{
	struct live **l = arg;
	return l[0]->done && l[1]->done;
}

static void test_drain_refuses_and_ends_streams(void)
{
	char why[256], id[ID_CAP], path[256], wal[PATH_MAX];
	struct server *s = server_start("--shutdown-timeout 3");
	CHECK_MSG(s, "server did not start");
	spawn_id(s, "{\"target\": \"sleep\", \"args\": [30]}", id);
	CHECK(id[0]);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
	struct live *l[2] = { live_open(s, path, NULL), live_open(s, "/events", NULL) };
	live_pump(0.3);
	CHECK(kill(server_pid(s), SIGTERM) == 0);
	/* Requests sent before the signal is taken may still start a process. */
	struct resp *r = NULL;
	for (double end = now_s() + 2.5; now_s() < end; sleep_s(0.05)) {
		resp_free(r);
		r = spawn(s, "{\"target\": \"worker\"}", -1);
		if (r->status != 201)
			break;
	}
	CHECK_ERROR(r, 503, "shutting_down");
	resp_free(r);
	CHECK_MSG(live_wait_until(both_done, l, 20), "the streams did not end within 20 s of SIGTERM");
	cJSON *exit_line = last_line(l[0]);
	CHECK_MSG(exit_line && jstr(exit_line, "event") && strcmp(jstr(exit_line, "event"), "exit") == 0 &&
		  jint(exit_line, "exitcode", 0) == -15,
		  "the follow stream did not end with the exit line (exitcode -15): %.500s", l[0]->body);
	cJSON_Delete(exit_line);
	CHECK_MSG(l[1]->status == 200 && !l[1]->error[0], "/events did not end cleanly: %s", l[1]->error);
	live_close(l[0]);
	live_close(l[1]);
	for (double end = now_s() + 20; now_s() < end && !exited(s); sleep_s(0.05))
		;
	CHECK_MSG(exited(s), "spawnd did not exit within 20 s of SIGTERM");
	/* The last connection's close checkpoints the WAL into the database and removes it. */
	struct stat st;
	snprintf(wal, sizeof wal, "%s/state/spawnd.db-wal", server_root(s));
	CHECK_MSG(stat(wal, &st) < 0 || st.st_size == 0, "the WAL was left with %lld bytes", (long long)st.st_size);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* A queued record is still queued after a graceful stop, and runs after the
 * restart; a join waiting on it is answered at the stop, with it queued. */
static void test_queued_survive_restart(void)
{
	char why[256], busy[ID_CAP], queued[ID_CAP], path[256];
	struct server *s = server_start("--max-running 1 --shutdown-timeout 0.5");
	CHECK_MSG(s, "server did not start");
	spawn_id(s, "{\"target\": \"sleep\", \"args\": [30]}", busy);
	spawn_id(s, "{\"target\": \"worker\", \"args\": [7]}", queued);
	CHECK(busy[0] && queued[0]);
	snprintf(path, sizeof path, "/processes/%s/join", queued);
	struct live *j = live_request(s, "POST", path, NULL, "", 0, 0);
	live_pump(0.3);
	CHECK(kill(server_pid(s), SIGTERM) == 0);
	CHECK_MSG(live_wait_done(j, 20), "the join of the queued record was not answered at shutdown");
	cJSON *rec = cJSON_Parse(j->body);
	CHECK_MSG(j->status == 200 && rec && jstr(rec, "state") && strcmp(jstr(rec, "state"), "queued") == 0 &&
		  jis_true(rec, "alive"), "the join answered %ld %.300s, not the queued record", j->status, j->body);
	cJSON_Delete(rec);
	live_close(j);
	CHECK(server_restart(s, SIGTERM) == 0);
	struct resp *r = join(s, queued, 20);
	CHECK_EXITED(r, 0);
	resp_free(r);
	r = output_raw(s, queued, "stdout");
	CHECK_MSG(r->status == 200 && strcmp(r->body, "Worker: 7\n") == 0, "output: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(s, "/processes/%s", busy);
	CHECK_MSG(jstr(r->json, "reason") && strcmp(jstr(r->json, "reason"), "terminate") == 0,
		  "the busy worker: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* spawnd's direct children named comm (its fork server is "spawnd-fork"). */
static pid_t child_named(pid_t parent, const char *comm, int *zombies)
{
	pid_t pids[256], found = 0;
	int n = proc_descendants(parent, pids, 256, NULL);
	*zombies = 0;
	for (int i = 0; i < n && i < 256; i++) {
		char path[64], name[64] = "", buf[256];
		if (proc_parent(pids[i]) != parent)
			continue;
		const char *f = proc_stat_fields(pids[i], buf, sizeof buf);
		*zombies += f && f[strspn(f, " ")] == 'Z';
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
		FILE *c = fopen(path, "re");
		if (c && fgets(name, sizeof name, c) && strncmp(name, comm, strlen(comm)) == 0)
			found = pids[i];
		if (c)
			fclose(c);
	}
	return found;
}

static void test_pid1_reaps_orphans(void)
{
	char why[256], wrapper[PATH_MAX], real[PATH_MAX], cmd[PATH_MAX + 128];
	/* The real binary even in the valgrind run (SPAWND_BIN is then its wrapper
	 * script): PID 1 must be spawnd itself, not valgrind's tool process. */
	const char *bin = getenv("SPAWND_VALGRIND_BIN") ? getenv("SPAWND_VALGRIND_BIN")
			: getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	if (getuid() != 0 || system("unshare --pid --fork true 2>/dev/null") != 0) {
		printf("SKIP test_pid1_reaps_orphans: needs root and unshare(1)\n");
		return;
	}
	CHECK(realpath(bin, real));
	snprintf(wrapper, sizeof wrapper, "%s/spawnd-pid1.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int fd = mkstemp(wrapper);
	CHECK(fd >= 0);
	dprintf(fd, "#!/bin/sh\nexec unshare --pid --fork --kill-child=SIGKILL %s \"$@\"\n", real);
	fchmod(fd, 0700);
	close(fd);
	char *saved = getenv("SPAWND_BIN") ? strdup(getenv("SPAWND_BIN")) : NULL;
	setenv("SPAWND_BIN", wrapper, 1);
	struct server *s = server_start(NULL);
	if (saved)
		setenv("SPAWND_BIN", saved, 1);
	else
		unsetenv("SPAWND_BIN");
	free(saved);
	unlink(wrapper);
	CHECK_MSG(s, "server did not start under unshare");
	int zombies;
	pid_t spawnd = child_named(server_pid(s), "spawnd", &zombies);
	CHECK_MSG(spawnd > 0, "no spawnd under unshare %d", (int)server_pid(s));
	/* A shell in spawnd's namespace leaves a job behind: it is reparented to PID 1, spawnd. */
	snprintf(cmd, sizeof cmd, "nsenter -t %d -p -- /bin/sh -c 'sleep 0.5 & exit 0'", (int)spawnd);
	CHECK(system(cmd) == 0);
	pid_t orphan = 0;
	for (double end = now_s() + 5; now_s() < end && !orphan; sleep_s(0.02))
		orphan = child_named(spawnd, "sleep", &zombies);
	CHECK_MSG(orphan, "the orphan was not reparented to spawnd");
	for (double end = now_s() + 10; now_s() < end && pid_alive(orphan); sleep_s(0.05))
		;
	sleep_s(0.3);
	child_named(spawnd, "sleep", &zombies);
	CHECK_MSG(zombies == 0, "spawnd left %d zombie child(ren) unreaped", zombies);
	CHECK_MSG(server_healthy(s), "spawnd does not answer after reaping");
	/* unshare(1) does not pass SIGTERM on: stop spawnd itself; unshare exits with its status. */
	CHECK(kill(spawnd, SIGTERM) == 0);
	for (double end = now_s() + 20; now_s() < end && !exited(s); sleep_s(0.05))
		;
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	RUN(test_drain_refuses_and_ends_streams);
	RUN(test_queued_survive_restart);
	RUN(test_pid1_reaps_orphans);
	return CHECK_EXIT();
}
