/* api_fds — a spawn that cannot be made for lack of fds (issue 9) is
 * "failed" with reason spawn_error and the cause in "error", logged, and the
 * server carries on; it is never answered "running" with a pid that then
 * ends as killed.
 *
 * The fd limit is lowered on the live processes with prlimit(2), to the
 * lowest free fd, so the next fd either of them opens fails with EMFILE:
 * spawnd (the worker's pipes cannot be received from the fork server) or the
 * fork server (its pipe2 fails). Requests reuse the harness's keep-alive
 * connection, so spawnd needs no new fd to serve them.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static const char targets[] =
	"{\"targets\": [{\"name\": \"true\", \"description\": \"/bin/true\", \"program\": \"/bin/true\"}]}";

static struct server *srv;

/* The lowest fd number pid does not have open (-1 on error). */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	bool used[4096] = { false };
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
			used[fd] = true;
	}
	closedir(d);
	for (int fd = 0; fd < 4096; fd++)
		if (!used[fd])
			return fd;
	return -1;
}

/* Sets pid's soft RLIMIT_NOFILE to its lowest free fd; the old limit in *old. */
static bool starve(pid_t pid, struct rlimit *old)
{
	int fd = lowest_free_fd(pid);
	if (fd < 0 || prlimit(pid, RLIMIT_NOFILE, NULL, old) < 0)
		return false;
	struct rlimit low = { (rlim_t)fd, old->rlim_max };
	return prlimit(pid, RLIMIT_NOFILE, &low, NULL) == 0;
}

/* The fork server: spawnd's child named spawnd-fork. */
static pid_t fork_server(pid_t spawnd)
{
	pid_t pids[64];
	int n = proc_descendants(spawnd, pids, 64, NULL);
	for (int i = 0; i < n && i < 64; i++)
		if (proc_parent(pids[i]) == spawnd)
			return pids[i];
	return -1;
}

/* The record r is failed/spawn_error, never started, and its error names cause. */
static void check_spawn_error(const struct resp *r, const char *cause)
{
	CHECK_STATUS(r, 201);
	CHECK_MSG(jstr(r->json, "state") && !strcmp(jstr(r->json, "state"), "failed") && jstr(r->json, "reason") &&
		  !strcmp(jstr(r->json, "reason"), "spawn_error"), "not failed/spawn_error: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jis_false(r->json, "alive") && jis_null(r->json, "pid") && jis_null(r->json, "exitcode"),
		  "a spawn error with a pid or an exit code: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jstr(r->json, "error") && strstr(jstr(r->json, "error"), cause), "error does not say \"%s\": " RESP_FMT,
		  cause, RESP_ARGS(r));
}

/* After the limit is back: it serves, spawns, and says why in its log. */
static void check_recovered(const char *logged)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	resp_free(r);
	CHECK(server_healthy(srv));
	char *log = server_log(srv);
	bool found = log && strstr(log, "process failed") && strstr(log, logged);
	CHECK_MSG(found, "the log does not say \"%s\": %.2000s", logged, log ? log : "");
	free(log);
}

/* spawnd at its limit: the fork server's reply carries the worker's fds,
 * which the kernel cannot install. Before, the record said running with a
 * pid and then ended as -9 (reason signal). */
static void test_spawnd_out_of_fds(void)
{
	static const char *const bodies[] = {
		"{\"target\": \"sleep\", \"args\": [30]}",                     /* the spare worker */
		"{\"target\": \"cat\", \"stdin_open\": true}",                 /* four fds */
		"{\"target\": \"true\"}",                                       /* forked on demand */
	};
	pid_t pid = server_pid(srv);
	struct rlimit old;
	struct resp *r[3];

	CHECK(server_healthy(srv));             /* the keep-alive connection is open */
	CHECK_MSG(starve(pid, &old), "cannot lower spawnd's fd limit");
	for (int i = 0; i < 3; i++)
		r[i] = spawn(srv, bodies[i], 5);
	CHECK_MSG(prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0, "cannot restore spawnd's fd limit");
	for (int i = 0; i < 3; i++) {
		check_spawn_error(r[i], "Too many open files");
		resp_free(r[i]);
		if (check_failure[0])
			return;
	}
	/* No worker is left running: the fork server has at most its spare. */
	pid_t fs = fork_server(pid), kids[8];
	double end = now_s() + 5;
	int n;
	while ((n = proc_descendants(fs, kids, 8, NULL)) > 1 && now_s() < end)
		sleep_s(0.05);
	CHECK_MSG(n <= 1, "the fork server has %d children after the failed spawns", n);
	check_recovered("cannot receive the worker's pipes: Too many open files");
}

/* The fork server at its limit: its pipe2 fails (the spare, forked ahead
 * with its pipes, may still serve one builtin spawn). */
static void test_fork_server_out_of_fds(void)
{
	pid_t fs = fork_server(server_pid(srv));
	struct rlimit old;
	struct resp *r;

	CHECK_MSG(fs > 0, "no fork server");
	CHECK_MSG(starve(fs, &old), "cannot lower the fork server's fd limit");
	r = spawn(srv, "{\"target\": \"true\"}", 5);
	struct resp *w[2] = { spawn(srv, "{\"target\": \"worker\"}", 5), spawn(srv, "{\"target\": \"worker\"}", 5) };
	CHECK_MSG(prlimit(fs, RLIMIT_NOFILE, &old, NULL) == 0, "cannot restore the fork server's fd limit");
	check_spawn_error(r, "pipe2: Too many open files");
	resp_free(r);
	/* A builtin either ran (on the spare) or failed the same way; never killed. */
	for (int i = 0; i < 2; i++) {
		const char *state = jstr(w[i]->json, "state");
		bool ran = state && !strcmp(state, "exited") && jint(w[i]->json, "exitcode", -1) == 0;
		if (!ran)
			check_spawn_error(w[i], "pipe2: Too many open files");
		resp_free(w[i]);
		if (check_failure[0])
			return;
	}
	check_recovered("pipe2: Too many open files");
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start_targets(targets, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_spawnd_out_of_fds);
	RUN(test_fork_server_out_of_fds);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
