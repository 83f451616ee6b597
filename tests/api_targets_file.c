/* Exec targets from a targets file, as an operator uses them (issue 4):
 * reload by SIGHUP and POST /targets/reload without touching running workers,
 * a broken file refused precisely (at startup and on reload), rlimits visible
 * in the worker, the target's timeout, and the target's max_running; an exec
 * target with rlimits whose setup or exec fails in its child reports why. */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

static const char *const first_set =
	"{\"targets\": ["
	" {\"name\": \"nap\", \"description\": \"sleep(1)\", \"program\": \"/bin/sleep\", \"argv\": [\"{seconds}\"],"
	"  \"args\": [{\"name\": \"seconds\", \"type\": \"number\", \"required\": true, \"min\": 0, \"max\": 60}]},"
	" {\"name\": \"limits\", \"description\": \"Shows its limits.\", \"program\": \"/bin/cat\","
	"  \"argv\": [\"/proc/self/limits\"], \"rlimits\": {\"cpu\": 7, \"as\": 1073741824, \"nofile\": 77, \"nproc\": 555}},"
	" {\"name\": \"slow\", \"description\": \"Outlives its timeout.\", \"program\": \"/bin/sleep\","
	"  \"argv\": [\"30\"], \"timeout\": 0.5},"
	" {\"name\": \"single\", \"description\": \"One at a time.\", \"program\": \"/bin/sleep\","
	"  \"argv\": [\"30\"], \"max_running\": 1},"
	" {\"name\": \"as_nobody\", \"description\": \"id(1) as nobody.\", \"program\": \"/usr/bin/id\","
	"  \"user\": \"nobody\", \"group\": \"nogroup\"}"
	"]}";

static const char *const second_set =
	"{\"targets\": ["
	" {\"name\": \"hello\", \"description\": \"echo(1)\", \"program\": \"/bin/echo\", \"argv\": [\"hello\"]}"
	"]}";

static struct server *srv;

static char *targets_path(void)
{
	char *path;
	if (asprintf(&path, "%s/targets.json", server_root(srv)) < 0)
		abort();
	return path;
}

static int rewrite_targets(const char *text)
{
	char *path = targets_path(), *tmp;
	if (asprintf(&tmp, "%s.new", path) < 0)
		abort();
	FILE *f = fopen(tmp, "w");
	int r = f && fputs(text, f) >= 0 && fclose(f) == 0 ? rename(tmp, path) : -1;
	free(tmp);
	free(path);
	return r;
}

static char *spawned_id(struct resp *r)
{
	return strdup(jstr(r->json, "id") ? jstr(r->json, "id") : "");
}

static void test_exec_targets_listed_with_source(void)
{
	struct resp *r = get(srv, "/targets/nap");
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "kind"), "exec");
	const char *source = jstr(r->json, "source");
	CHECK_MSG(source && strncmp(source, "file:", 5) == 0 && strstr(source, "targets.json"),
		  "source %s", source ? source : "(none)");
	resp_free(r);
}

static void test_rlimits_visible_in_worker(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"limits\"}", 10);
	CHECK_STATUS(r, 201);
	const char *out = jstr(r->json, "stdout");
	CHECK(out != NULL);
	static const char *const want[][2] = {
		{ "Max cpu time", "7" }, { "Max open files", "77" },
		{ "Max address space", "1073741824" }, { "Max processes", "555" },
	};
	for (size_t i = 0; i < 4; i++) {
		const char *line = strstr(out, want[i][0]);
		CHECK_MSG(line, "no \"%s\" in /proc/self/limits: %s", want[i][0], out);
		char soft[32], hard[32];
		CHECK_MSG(sscanf(line + strlen(want[i][0]), " %31s %31s", soft, hard) == 2, "line %.60s", line);
		CHECK_MSG(strcmp(soft, want[i][1]) == 0 && strcmp(hard, want[i][1]) == 0,
			  "%s: %s %s, expected %s", want[i][0], soft, hard, want[i][1]);
	}
	resp_free(r);
}

/* As root, the worker runs as the declared user and group, with no other
 * groups; otherwise the declaration cannot apply and the worker is us. */
static void test_user_and_group_applied_as_root(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"as_nobody\"}", 10);
	CHECK_STATUS(r, 201);
	const char *out = jstr(r->json, "stdout");
	CHECK(out != NULL);
	char want[128];
	if (getuid() == 0)
		snprintf(want, sizeof want, "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n");
	else
		snprintf(want, sizeof want, "uid=%d(", (int)getuid());
	CHECK_MSG(strncmp(out, want, strlen(want)) == 0, "id printed %s, expected %s", out, want);
	resp_free(r);
}

static void test_target_timeout_ends_with_reason_timeout(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"slow\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK_STR(jstr(r->json, "state"), "exited");
	CHECK_STR(jstr(r->json, "reason"), "timeout");
	CHECK_INT(jint(r->json, "exitcode", 0), -15);
	CHECK_MSG(jnum(r->json, "duration", 99) < 5, "duration %g", jnum(r->json, "duration", 99));
	resp_free(r);
}

/* Issue 9.6: a request's timeout replaced the target's, so "slow" (capped at
 * 0.5 s) ran 30 s when asked for 100. A request may shorten the limit only. */
static void test_request_timeout_cannot_lengthen_target_timeout(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"slow\", \"timeout\": 100}", 10);
	CHECK_STATUS(r, 201);
	CHECK_STR(jstr(r->json, "state"), "exited");
	CHECK_STR(jstr(r->json, "reason"), "timeout");
	CHECK_MSG(jnum(r->json, "duration", 99) < 5, "duration %g", jnum(r->json, "duration", 99));
	resp_free(r);
	/* Shorter than the target's own limit is honoured. */
	r = spawn(srv, "{\"target\": \"nap\", \"args\": [30], \"timeout\": 0.2}", 10);
	CHECK_STATUS(r, 201);
	CHECK_STR(jstr(r->json, "reason"), "timeout");
	CHECK_MSG(jnum(r->json, "duration", 99) < 5, "duration %g", jnum(r->json, "duration", 99));
	resp_free(r);
}

static void test_max_running_refuses_with_429(void)
{
	struct resp *a = spawn(srv, "{\"target\": \"single\"}", -1);
	CHECK_STATUS(a, 201);
	char *id = spawned_id(a);
	resp_free(a);
	struct resp *b = spawn(srv, "{\"target\": \"single\"}", -1);
	bool refused = b->status == 429 && err_code(b) && strcmp(err_code(b), "too_many_processes") == 0 &&
		       b->retry_after[0];
	resp_free(b);
	struct resp *k = postf(srv, NULL, "/processes/%s/kill", id);
	resp_free(k);
	struct resp *j = join(srv, id, 10);
	resp_free(j);
	free(id);
	CHECK_MSG(refused, "a second process of a max_running=1 target was not refused with 429 and Retry-After");
	struct resp *c = spawn(srv, "{\"target\": \"single\"}", -1);
	CHECK_STATUS(c, 201);
	char *cid = spawned_id(c);
	resp_free(c);
	struct resp *k2 = postf(srv, NULL, "/processes/%s/kill", cid);
	resp_free(k2);
	struct resp *j2 = join(srv, cid, 10);
	resp_free(j2);
	free(cid);
}

/* A reload swaps the set; a worker started from the old set runs on. */
static void test_reload_by_sighup_keeps_running_worker(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"nap\", \"args\": [30]}", -1);
	CHECK_STATUS(r, 201);
	char *id = spawned_id(r);
	pid_t pid = (pid_t)jint(r->json, "pid", 0);
	resp_free(r);
	CHECK_INT(rewrite_targets(second_set), 0);
	CHECK_INT(kill(server_pid(srv), SIGHUP), 0);
	bool swapped = false;
	for (int i = 0; i < 100 && !swapped; i++) {
		struct resp *t = get(srv, "/targets/hello");
		swapped = t->status == 200;
		resp_free(t);
		if (!swapped)
			sleep_s(0.05);
	}
	struct resp *old = get(srv, "/targets/nap");
	long old_status = old->status;
	resp_free(old);
	struct resp *p = get(srv, "/processes/%s", id);
	bool alive = jis_true(p->json, "alive") && pid_alive(pid);
	resp_free(p);
	struct resp *hello = spawn(srv, "{\"target\": \"hello\"}", 10);
	bool hello_ok = hello->status == 201 && jstr(hello->json, "stdout") &&
			strcmp(jstr(hello->json, "stdout"), "hello\n") == 0;
	resp_free(hello);
	struct resp *t = postf(srv, NULL, "/processes/%s/terminate", id);
	resp_free(t);
	struct resp *j = join(srv, id, 10);
	long long code = jint(j->json, "exitcode", 0);
	resp_free(j);
	free(id);
	CHECK_MSG(swapped, "after SIGHUP the new target is not listed");
	CHECK_INT(old_status, 404);
	CHECK_MSG(alive, "the running worker did not survive the reload");
	CHECK_MSG(hello_ok, "the new target does not run");
	CHECK_INT(code, -15);
}

static void test_reload_of_broken_file_keeps_current_set(void)
{
	CHECK_INT(rewrite_targets("{\"targets\": [{\"name\": \"bad\", \"description\": \"x\", \"program\": \"relative/path\"}]}"), 0);
	struct resp *r = post_json(srv, "/targets/reload", "");
	CHECK_ERROR(r, 409, "conflict");
	const char *msg = err_message(r);
	CHECK_MSG(msg && strstr(msg, "targets.json") && strstr(msg, "\"bad\"") && strstr(msg, "program"),
		  "message does not name file, target and field: %s", msg ? msg : "(none)");
	resp_free(r);
	struct resp *t = get(srv, "/targets/hello");
	CHECK_STATUS(t, 200);           /* the set from before stays */
	resp_free(t);
	CHECK_INT(rewrite_targets(first_set), 0);
	struct resp *ok = post_json(srv, "/targets/reload", "");
	CHECK_STATUS(ok, 200);
	resp_free(ok);
	struct resp *nap = get(srv, "/targets/nap");
	CHECK_STATUS(nap, 200);
	resp_free(nap);
}

/* Runs spawnd with a targets file that is broken; returns its exit status and stderr. */
static int run_with_targets(const char *text, char *err, size_t errlen)
{
	char dir[] = "/tmp/spawnd-broken.XXXXXX", *file, *cmd;
	if (!mkdtemp(dir) || asprintf(&file, "%s/targets.json", dir) < 0)
		abort();
	FILE *f = fopen(file, "w");
	fputs(text, f);
	fclose(f);
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	if (asprintf(&cmd, "%s --listen 127.0.0.1:0 --state-dir %s/state --targets %s 2>&1 >/dev/null", bin, dir, file) < 0)
		abort();
	FILE *p = popen(cmd, "r");
	size_t n = fread(err, 1, errlen - 1, p);
	err[n] = '\0';
	int status = pclose(p);
	char *rm;
	if (asprintf(&rm, "rm -rf %s", dir) >= 0 && system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(rm);
	free(cmd);
	free(file);
	return status;
}

static void test_broken_file_refuses_to_start(void)
{
	char err[2048];
	int status = run_with_targets(
		"{\"targets\": [{\"name\": \"date\", \"description\": \"d\", \"program\": \"/bin/date\","
		" \"argv\": [\"{fmt}\"], \"args\": [{\"name\": \"fmt\", \"type\": \"string\", \"max_length\": -3}]}]}",
		err, sizeof err);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0, "spawnd started with a broken targets file");
	CHECK_MSG(strstr(err, "targets.json") && strstr(err, "\"date\"") && strstr(err, "max_length"),
		  "startup error does not name file, target and field: %s", err);
	status = run_with_targets("{\"targets\": [", err, sizeof err);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0, "spawnd started with invalid JSON");
	CHECK_MSG(strstr(err, "targets.json"), "startup error does not name the file: %s", err);
}

/* The example file's ls target (make run) keeps callers inside /usr/share:
 * its argument is a path with root /usr/share, so "..", absolute paths and
 * symbolic links cannot lead out, whatever a pattern would have let through. */
static void test_example_ls_stays_in_usr_share(void)
{
	char *file = realpath("examples/targets.json", NULL), extra[PATH_MAX + 16];
	CHECK_MSG(file, "examples/targets.json not found from %s (run from the repository root)", getenv("PWD"));
	snprintf(extra, sizeof extra, "--targets %s", file);
	free(file);
	struct server *ex = server_start(extra);
	CHECK_MSG(ex, "spawnd did not start with examples/targets.json");
	struct resp *r = get(ex, "/targets/ls");
	CHECK_STATUS(r, 200);
	const cJSON *spec = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "args"), 0);
	CHECK_MSG(jstr(spec, "type") && !strcmp(jstr(spec, "type"), "path") && jstr(spec, "root") &&
		  !strcmp(jstr(spec, "root"), "/usr/share"), "ls's argument: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	static const char *const outside[] = { "/usr/share/../../etc", "../../etc", "/etc", "/", "/usr/sharex" };
	for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
		char body[200];
		snprintf(body, sizeof body, "{\"target\": \"ls\", \"args\": {\"path\": \"%s\"}}", outside[i]);
		r = spawn(ex, body, 10);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, "args.path");
		resp_free(r);
	}
	r = spawn(ex, "{\"target\": \"ls\", \"args\": [\"/usr/share/../share\"]}", 10);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	resp_free(r);
	char why[512];
	CHECK_MSG(server_stop(ex, why, sizeof why) == 0, "%s", why);
}

/* The soft limit on line `name` of a /proc/self/limits text, or "". */
static void limit_of(const char *limits, const char *name, char *soft, size_t len)
{
	const char *line = limits ? strstr(limits, name) : NULL;
	char fmt[16];
	snprintf(fmt, sizeof fmt, " %%%zus", len - 1);
	if (!line || sscanf(line + strlen(name), fmt, soft) != 1)
		snprintf(soft, len, "%s", "");
}

/* One spawn of target that must fail in its child: spawn_error, with the
 * errno's message in the error text. */
static void check_fails_with(struct server *s, const char *target, int err)
{
	char body[128];
	snprintf(body, sizeof body, "{\"target\": \"%s\"}", target);
	struct resp *r = spawn(s, body, 10);
	CHECK_STATUS(r, 201);
	CHECK_MSG(jstr(r->json, "state") && !strcmp(jstr(r->json, "state"), "failed"),
		  "%s did not fail: " RESP_FMT, target, RESP_ARGS(r));
	CHECK_STR(jstr(r->json, "reason"), "spawn_error");
	const char *error = jstr(r->json, "error");
	CHECK_MSG(error && strstr(error, strerror(err)) && strstr(error, "cannot start"),
		  "%s: error %s, expected \"cannot start ...: %s\"", target, error ? error : "(none)", strerror(err));
	resp_free(r);
}

/* The exec child applies the rlimits, then fails: at its exec (the program
 * lost its x bit) or at its chdir (the cwd was removed). The reason comes
 * back from the child (it shares the fork server's memory until it execs),
 * and the limits it set stay its own: the next worker has the usual ones. */
static void test_failing_exec_with_rlimits_reports_errno(void)
{
	char dir[] = "/tmp/spawnd-rlimit-XXXXXX", program[64], cwd[64], *targets = NULL, why[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(program, sizeof program, "%s/true", dir);
	snprintf(cwd, sizeof cwd, "%s/cwd", dir);
	FILE *f = fopen(program, "w");
	CHECK(f && fputs("#!/bin/sh\nexit 0\n", f) >= 0 && fclose(f) == 0);
	CHECK(chmod(program, 0755) == 0 && mkdir(cwd, 0755) == 0);
	const char *limits = "\"rlimits\": {\"cpu\": 7, \"as\": 1073741824, \"nofile\": 71, \"nproc\": 555}";
	CHECK(asprintf(&targets, "{\"targets\": ["
		       " {\"name\": \"noexec\", \"description\": \"x bit lost\", \"program\": \"%s\", %s},"
		       " {\"name\": \"nocwd\", \"description\": \"cwd gone\", \"program\": \"/bin/true\","
		       "  \"cwd\": \"%s\", %s},"
		       " {\"name\": \"plain\", \"description\": \"limits\", \"program\": \"/bin/cat\","
		       "  \"argv\": [\"/proc/self/limits\"]}]}", program, limits, cwd, limits) >= 0);
	struct server *s = server_start_targets(targets, NULL);
	free(targets);
	CHECK_MSG(s, "spawnd refused the targets file (see stderr)");
	bool changed = chmod(program, 0644) == 0 && rmdir(cwd) == 0;
	if (changed) {
		check_fails_with(s, "noexec", EACCES);
		if (!check_failure[0])
			check_fails_with(s, "nocwd", ENOENT);
	}
	struct resp *r = check_failure[0] ? NULL : spawn(s, "{\"target\": \"plain\"}", 10);
	char soft[32] = "";
	if (r)
		limit_of(jstr(r->json, "stdout"), "Max open files", soft, sizeof soft);
	resp_free(r);
	unlink(program);
	rmdir(dir);
	int stopped = server_stop(s, why, sizeof why);
	CHECK_MSG(changed, "cannot chmod %s or remove %s", program, cwd);
	if (check_failure[0])
		return;
	CHECK_MSG(soft[0] && strcmp(soft, "71") != 0, "the next worker's open files limit is %s", soft);
	CHECK_MSG(stopped == 0, "%s", why);
}

static void test_shared_server_shutdown(void)
{
	char why[512];
	int r = server_stop(srv, why, sizeof why);
	srv = NULL;
	CHECK_MSG(r == 0, "%s", why);
}

int main(void)
{
	srv = server_start_targets(first_set, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd with the targets file did not start\n");
		return 1;
	}
	RUN(test_exec_targets_listed_with_source);
	RUN(test_rlimits_visible_in_worker);
	RUN(test_failing_exec_with_rlimits_reports_errno);
	RUN(test_user_and_group_applied_as_root);
	RUN(test_target_timeout_ends_with_reason_timeout);
	RUN(test_request_timeout_cannot_lengthen_target_timeout);
	RUN(test_max_running_refuses_with_429);
	RUN(test_reload_by_sighup_keeps_running_worker);
	RUN(test_reload_of_broken_file_keeps_current_set);
	RUN(test_broken_file_refuses_to_start);
	RUN(test_example_ls_stays_in_usr_share);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
