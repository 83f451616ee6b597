/* api_spawnctl — the command-line client against the real server (issue 17,
 * part 1): every command, exit codes propagated (0, 3, 255, 128+N for a
 * signal, 124 for a wait that timed out, 125 for spawnctl's own failures),
 * output followed live, -o json parsed, tables and colour only on a
 * terminal (run under a pseudo-terminal from forkpty), and the bearer token
 * sent when one is configured; the shared-object commands (objects, queue,
 * event, lock), their 124 at a timeout, and waits past the server's cap;
 * the pool and ns commands (a temporary pool for a target, removed after;
 * results in order or as they complete; a failed task's exit 1); spawnctl
 * run by a worker with the worker's own SPAWND_URL/SPAWND_TOKEN.
 *
 * spawnctl is $SPAWND_CTL (default build/spawnctl); each run gets SPAWND_URL
 * set to the test server's URL and no SPAWND_TOKEN*, NO_COLOR from outside.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;
#define OBJECT_TIMEOUT_S 1.0    /* the server's --object-timeout */
static const char *ctl_path;

/* A spawnctl run: started by bg_start(), its output read as it comes. */
struct bg {
	pid_t pid;
	int fds[2];             /* its stdout, stderr (-1 once at EOF) */
	char *buf[2];
	size_t len[2];
	int status;             /* exit code; 128+N if a signal N ended it; -1: did not end in time */
};

#define MAX_BG 16
static pid_t live_pids[MAX_BG];

static void kill_leftovers(void)
{
	for (int i = 0; i < MAX_BG; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
}

static void track(pid_t pid, pid_t replace)
{
	for (int i = 0; i < MAX_BG; i++)
		if (live_pids[i] == replace) {
			live_pids[i] = pid;
			return;
		}
}

/* In the child: the environment every run gets, then env ("K=V" sets, "K" unsets). */
static void child_env(const char *const *env)
{
	setenv("SPAWND_URL", server_url(srv), 1);
	unsetenv("SPAWND_TOKEN");
	unsetenv("SPAWND_TOKEN_FILE");
	unsetenv("NO_COLOR");
	for (; env && *env; env++) {
		const char *eq = strchr(*env, '=');
		if (eq) {
			char *key = strndup(*env, (size_t)(eq - *env));
			setenv(key, eq + 1, 1);
			free(key);
		} else {
			unsetenv(*env);
		}
	}
}

static void child_exec(const char *const *args)
{
	char *argv[32] = { strdup(ctl_path) };
	for (int i = 0; args[i] && i < 30; i++)
		argv[i + 1] = strdup(args[i]);
	execv(ctl_path, argv);
	_exit(127);
}

/* Starts spawnctl ARGS... with input (NULL: /dev/null) on its stdin. */
static struct bg *bg_start(const char *input, const char *const *env, const char *const *args)
{
	struct bg *b = calloc(1, sizeof *b);
	int out[2], err[2], in[2];

	if (!b || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC))
		abort();
	b->pid = fork();
	if (b->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		child_env(env);
		child_exec(args);
	}
	track(b->pid, 0);
	close(out[1]);
	close(err[1]);
	close(in[0]);
	if (input && write(in[1], input, strlen(input)) != (ssize_t)strlen(input))
		abort();
	close(in[1]);
	b->fds[0] = out[0];
	b->fds[1] = err[0];
	b->status = -1;
	return b;
}

/* Reads what is there for up to seconds; false once both streams are at EOF. */
static bool bg_pump(struct bg *b, double seconds)
{
	struct pollfd p[2] = { { .fd = b->fds[0], .events = POLLIN }, { .fd = b->fds[1], .events = POLLIN } };
	char chunk[4096];

	if (b->fds[0] < 0 && b->fds[1] < 0)
		return false;
	if (poll(p, 2, (int)(seconds * 1000)) <= 0)
		return true;
	for (int i = 0; i < 2; i++) {
		if (b->fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(b->fds[i], chunk, sizeof chunk);
		if (n <= 0) {
			close(b->fds[i]);
			b->fds[i] = -1;
			continue;
		}
		b->buf[i] = realloc(b->buf[i], b->len[i] + (size_t)n + 1);
		memcpy(b->buf[i] + b->len[i], chunk, (size_t)n);
		b->len[i] += (size_t)n;
		b->buf[i][b->len[i]] = '\0';
	}
	return true;
}

/* Reads until stdout holds needle (true) or timeout_s passes or it ends. */
static bool bg_wait_stdout(struct bg *b, const char *needle, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	while (!(b->buf[0] && strstr(b->buf[0], needle)))
		if (!bg_pump(b, 0.1) || now_s() > deadline)
			return b->buf[0] && strstr(b->buf[0], needle);
	return true;
}

/* Reads to the end and reaps it (killed after timeout_s); b->status is set. */
static void bg_finish(struct bg *b, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	int status;

	while (bg_pump(b, 0.1) && now_s() < deadline)
		;
	if (b->fds[0] >= 0 || b->fds[1] >= 0)
		kill(b->pid, SIGKILL);
	waitpid(b->pid, &status, 0);
	track(0, b->pid);
	if (now_s() < deadline)
		b->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	for (int i = 0; i < 2; i++) {
		if (b->fds[i] >= 0)
			close(b->fds[i]);
		if (!b->buf[i])
			b->buf[i] = strdup("");
	}
}

static void bg_free(struct bg *b)
{
	if (!b)
		return;
	free(b->buf[0]);
	free(b->buf[1]);
	free(b);
}

/* Runs spawnctl to its end (60 s at most). */
static struct bg *ctl_env(const char *input, const char *const *env, const char *const *args)
{
	struct bg *b = bg_start(input, env, args);
	bg_finish(b, 60);
	return b;
}
#define CTL(...) ctl_env(NULL, NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define OUT(b) ((b)->buf[0])
#define ERR(b) ((b)->buf[1])
#define CTL_FMT "exit %d, stdout \"%.300s\", stderr \"%.300s\""
#define CTL_ARGS(b) (b)->status, OUT(b), ERR(b)
#define CHECK_RC(b, code) CHECK_MSG((b)->status == (code), "expected exit %d, got " CTL_FMT, (code), CTL_ARGS(b))

/* Runs spawnctl under a pseudo-terminal (stdout and stderr both on it). */
static struct bg *ctl_pty(const char *const *env, const char *const *args)
{
	struct bg *b = calloc(1, sizeof *b);
	int master, status;

	b->pid = forkpty(&master, NULL, NULL, NULL);
	if (b->pid == 0) {
		child_env(env);
		child_exec(args);
	}
	track(b->pid, 0);
	b->fds[0] = master;
	b->fds[1] = -1;
	b->status = -1;
	double deadline = now_s() + 30;
	while (bg_pump(b, 0.1) && now_s() < deadline)
		;                       /* EIO once the child has gone ends the pty */
	if (b->fds[0] >= 0)
		close(b->fds[0]);
	if (now_s() >= deadline)
		kill(b->pid, SIGKILL);
	waitpid(b->pid, &status, 0);
	track(0, b->pid);
	b->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	b->buf[0] = b->buf[0] ? b->buf[0] : strdup("");
	b->buf[1] = strdup("");
	return b;
}

/* The id a detached `spawnctl run` printed (its one stdout line). */
static bool ctl_id(struct bg *b, char *id)
{
	size_t n = strcspn(OUT(b), "\n");
	if (b->status != 0 || n == 0 || n >= ID_CAP || OUT(b)[n] != '\n' || OUT(b)[n + 1])
		return false;
	memcpy(id, OUT(b), n);
	id[n] = '\0';
	return id_valid(id);
}

#define START(id, ...) do { \
		struct bg *s_ = CTL("run", __VA_ARGS__); \
		bool ok_ = ctl_id(s_, id); \
		if (!ok_) fprintf(stderr, "spawnctl run: " CTL_FMT "\n", CTL_ARGS(s_)); \
		bg_free(s_); \
		CHECK_MSG(ok_, "spawnctl run did not print one id"); \
	} while (0)

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- usage, help, connection ---------------------------------------------- */

static void test_usage_errors_exit_125(void)
{
	static const char *const bad[][5] = {
		{ "bogus" }, { "run" }, { "ps", "--limit", "x" }, { "ps", "-o", "yaml" }, { "logs" },
		{ "run", "exit", "--timeout", "soon" }, { "ps", "--no-such-flag" }, { "wait" },
		{ "signal", "SIGTERM" }, { "run", "--env", "NOEQUALS", "worker" },
	};
	struct bg *b = ctl_env(NULL, NULL, (const char *const[]){ NULL });
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "Usage: spawnctl"), "no command: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = ctl_env(NULL, NULL, bad[i]);
		bool ok = b->status == 125 && ERR(b)[0] && !OUT(b)[0];
		if (!ok)
			fprintf(stderr, "spawnctl %s %s: " CTL_FMT "\n", bad[i][0], bad[i][1] ? bad[i][1] : "", CTL_ARGS(b));
		bg_free(b);
		CHECK_MSG(ok, "spawnctl %s %s did not exit 125 with a message on stderr only", bad[i][0],
			  bad[i][1] ? bad[i][1] : "");
	}
}

static void test_help_for_every_command(void)
{
	static const char *const commands[] = { "run", "ps", "logs", "wait", "terminate", "kill", "rm",
						"signal", "targets", "events", "objects", "queue", "event", "lock",
						"pool", "ns" };
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		char usage[64];
		snprintf(usage, sizeof usage, "Usage: spawnctl %s", commands[i]);
		struct bg *a = CTL("help", commands[i]), *b = CTL(commands[i], "--help");
		bool ok = a->status == 0 && b->status == 0 && strstr(OUT(a), usage) && strcmp(OUT(a), OUT(b)) == 0;
		bg_free(a);
		bg_free(b);
		CHECK_MSG(ok, "help %s and %s --help differ or lack \"%s\"", commands[i], commands[i], usage);
	}
	struct bg *b = CTL("--help");
	CHECK_MSG(b->status == 0 && strstr(OUT(b), "Commands:"), "--help: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("help", "nope");
	CHECK_RC(b, 125);
	bg_free(b);
}

static void test_unreachable_server_125(void)
{
	struct bg *b = CTL("--url", "http://127.0.0.1:1", "ps");
	CHECK_RC(b, 125);
	CHECK_MSG(strstr(ERR(b), "cannot reach spawnd at http://127.0.0.1:1"), "stderr: %s", ERR(b));
	bg_free(b);
	/* The flag wins over SPAWND_URL, after the command too. */
	b = CTL("ps", "--url", "http://127.0.0.1:1");
	CHECK_RC(b, 125);
	bg_free(b);
}

/* ---- run ------------------------------------------------------------------ */

static void test_run_detached_prints_id(void)
{
	char id[ID_CAP];
	START(id, "sleep", "0", "--name", "detached-one", "--daemon");
	struct resp *r = get(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "name"), "detached-one");
	CHECK(jis_true(r->json, "daemon"));
	resp_free(r);
}

static void test_run_exit_codes_propagate(void)
{
	static const char *const codes[] = { "0", "3", "255" };
	for (size_t i = 0; i < 3; i++) {
		for (int mode = 0; mode < 2; mode++) {
			struct bg *b = CTL("run", "exit", codes[i], mode ? "-f" : "-w");
			int got = b->status;
			bg_free(b);
			CHECK_MSG(got == atoi(codes[i]), "run exit %s %s: exited %d", codes[i], mode ? "-f" : "-w", got);
		}
	}
	/* named form, typed by the schema */
	struct bg *b = CTL("run", "exit", "code=3", "-w");
	CHECK_RC(b, 3);
	bg_free(b);
}

static void test_run_killed_exits_128_plus_signal(void)
{
	struct bg *run = bg_start(NULL, NULL, (const char *const[]){ "run", "sleep", "60", "-w", "--name", "victim", NULL });
	char id[ID_CAP] = "";
	double deadline = now_s() + 20;
	while (!id[0] && now_s() < deadline) {
		struct resp *r = get(srv, "/processes?name=victim&alive=true");
		const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "processes"), 0);
		if (jstr(first, "id") && jint(first, "pid", 0) > 0)
			snprintf(id, sizeof id, "%s", jstr(first, "id"));
		resp_free(r);
		if (!id[0])
			sleep_s(0.05);
	}
	CHECK_MSG(id[0], "the process of `spawnctl run sleep 60 -w` never showed up running");
	struct bg *k = CTL("kill", id);
	CHECK_RC(k, 0);
	CHECK_MSG(strncmp(OUT(k), id, strlen(id)) == 0, "kill printed \"%s\"", OUT(k));
	bg_free(k);
	bg_finish(run, 30);
	CHECK_MSG(run->status == 137, "run -w of a killed process: " CTL_FMT, CTL_ARGS(run));
	bg_free(run);
}

static void test_run_wait_prints_output(void)
{
	struct bg *b = CTL("run", "worker", "3", "-w");
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "Worker: 3\n");
	bg_free(b);
	/* echo's words are strings: 007 stays "007", an argument with spaces stays one */
	b = CTL("run", "echo", "a", "007", "b c", "-w");
	CHECK_STR(OUT(b), "a 007 b c\n");
	bg_free(b);
	b = CTL("run", "burst", "bytes=12", "stream=stderr", "-w");
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "");
	CHECK_STR(ERR(b), "012345678901");
	bg_free(b);
	b = CTL("run", "echo", "-w", "--", "-n", "x");
	CHECK_STR(OUT(b), "-n x\n");
	bg_free(b);
}

static void test_run_bad_args_and_target_125(void)
{
	struct bg *b = CTL("run", "exit", "abc", "-w");
	CHECK_RC(b, 125);
	CHECK_MSG(strstr(ERR(b), "args[0]") && strstr(ERR(b), "integer"), "stderr: %s", ERR(b));
	bg_free(b);
	b = CTL("run", "no_such_target");
	CHECK_RC(b, 125);
	CHECK_MSG(strstr(ERR(b), "404"), "stderr: %s", ERR(b));
	bg_free(b);
	b = CTL("run", "exit", "code=1", "code=2");
	CHECK_RC(b, 125);
	bg_free(b);
}

static void test_run_stdin_file_and_pipe(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/input.txt", server_root(srv));
	FILE *f = fopen(path, "w");
	CHECK(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	struct bg *b = CTL("run", "cat", "--stdin", path, "-w");
	CHECK_RC(b, 0);
	CHECK_INT(count_lines(OUT(b)), 20000);
	CHECK(strstr(OUT(b), "line 19999\n"));
	bg_free(b);
	b = ctl_env("hello\nworld\n", NULL, (const char *const[]){ "run", "cat", "--stdin", "-", "-f", NULL });
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "hello\nworld\n");
	bg_free(b);
}

static void test_run_timeout_is_signal_exit(void)
{
	struct bg *b = CTL("run", "sleep", "30", "--timeout", "0.3", "-w", "-o", "json");
	CHECK_RC(b, 143);
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(j, "not JSON: %s", OUT(b));
	bool ok = jstr(j, "reason") && strcmp(jstr(j, "reason"), "timeout") == 0 && jint(j, "exitcode", 0) == -15;
	cJSON_Delete(j);
	CHECK_MSG(ok, "record: %s", OUT(b));
	bg_free(b);
}

static void test_run_follow_is_live(void)
{
	/* 4 ticks a second apart: tick 1 must arrive while the process still runs. */
	struct bg *b = bg_start(NULL, NULL, (const char *const[]){ "run", "ticker", "count=4", "interval=1", "-f",
							 "--name", "live-run", NULL });
	CHECK_MSG(bg_wait_stdout(b, "tick 1\n", 20), "no tick 1: %s", b->buf[0] ? b->buf[0] : "");
	struct resp *r = get(srv, "/processes?name=live-run");
	const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "processes"), 0);
	bool alive = jis_true(p, "alive");
	resp_free(r);
	CHECK_MSG(alive, "tick 1 came only after the process had ended");
	bg_finish(b, 30);
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "tick 1\ntick 2\ntick 3\ntick 4\n");
	bg_free(b);
}

static void test_run_json_follow_ndjson(void)
{
	struct bg *b = CTL("run", "ticker", "count=2", "interval=0", "-f", "-o", "json");
	CHECK_RC(b, 0);
	cJSON **lines;
	int n = ndjson_parse(OUT(b), strlen(OUT(b)), &lines);
	CHECK_MSG(n >= 2, "NDJSON lines: %d in %s", n, OUT(b));
	bool ok = jstr(lines[n - 1], "event") && strcmp(jstr(lines[n - 1], "event"), "exit") == 0 &&
		  jstr(lines[0], "stream") && strcmp(jstr(lines[0], "stream"), "stdout") == 0;
	ndjson_free(lines, n);
	CHECK_MSG(ok, "not output lines then an exit line: %s", OUT(b));
	bg_free(b);
}

/* ---- ps ------------------------------------------------------------------- */

/* The line of a piped `ps` listing id, split at tabs into fields (8). */
static bool ps_line(const char *out, const char *id, char fields[8][128])
{
	const char *line = strstr(out, id);
	if (!line || (line != out && line[-1] != '\n'))
		return false;
	for (int f = 0; f < 8; f++) {
		size_t n = strcspn(line, f < 7 ? "\t\n" : "\n");
		if (n >= 128 || (f < 7 && line[n] != '\t'))
			return false;
		memcpy(fields[f], line, n);
		fields[f][n] = '\0';
		line += n + 1;
	}
	return true;
}

static void test_ps_filters_and_plain_lines(void)
{
	char sleeper[ID_CAP], done[ID_CAP], f[8][128];
	START(sleeper, "sleep", "30", "--name", "ps-sleeper");
	struct bg *b = CTL("run", "worker", "--name", "ps-done", "-w");
	bg_free(b);
	struct resp *r = get(srv, "/processes?name=ps-done");
	snprintf(done, sizeof done, "%s", jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "processes"), 0), "id") ?: "");
	resp_free(r);

	b = CTL("ps");
	CHECK_RC(b, 0);
	CHECK_MSG(ps_line(OUT(b), sleeper, f), "no tab-separated line for %s in: %s", sleeper, OUT(b));
	CHECK_STR(f[1], "ps-sleeper");
	CHECK_STR(f[2], "sleep");
	CHECK_STR(f[3], "running");
	CHECK_MSG(atoi(f[4]) > 0, "pid field \"%s\"", f[4]);
	CHECK_STR(f[5], "-");
	CHECK_MSG(rfc3339_ms(f[6]), "started field \"%s\"", f[6]);
	CHECK_MSG(!strstr(OUT(b), done) && !strstr(OUT(b), "ID\tNAME") && !strchr(OUT(b), '\033'),
		  "ps without -a: ended process, header or colour in: %s", OUT(b));
	bg_free(b);

	b = CTL("ps", "-a", "--target", "worker");
	CHECK_MSG(ps_line(OUT(b), done, f) && !strstr(OUT(b), sleeper), "ps -a --target worker: %s", OUT(b));
	CHECK_STR(f[3], "exited");
	CHECK_STR(f[5], "0");
	bg_free(b);
	b = CTL("ps", "--state", "exited", "--name", "ps-done", "--limit", "5");
	CHECK_MSG(ps_line(OUT(b), done, f) && count_lines(OUT(b)) == 1, "ps --state exited --name: %s", OUT(b));
	bg_free(b);

	b = CTL("ps", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "processes");
	bool found = false;
	const cJSON *p;
	cJSON_ArrayForEach(p, list)
		found |= jstr(p, "id") && strcmp(jstr(p, "id"), sleeper) == 0 && jis_true(p, "alive");
	bool ok = cJSON_IsArray(list) && found && jis_null(j, "next");
	cJSON_Delete(j);
	CHECK_MSG(ok, "ps -o json: %s", OUT(b));
	bg_free(b);
	bg_free(CTL("kill", sleeper));
}

static void test_ps_table_and_colour_only_on_a_tty(void)
{
	char id[ID_CAP];
	START(id, "sleep", "30", "--name", "tty-sleeper");
	struct bg *b = ctl_pty(NULL, (const char *const[]){ "ps", NULL });
	CHECK_RC(b, 0);
	CHECK_MSG(strstr(OUT(b), "ID") && strstr(OUT(b), "NAME") && strstr(OUT(b), "TARGET") &&
		  strstr(OUT(b), "STATE") && strstr(OUT(b), "DURATION"), "no table header on a tty: %s", OUT(b));
	CHECK_MSG(strstr(OUT(b), "tty-sleeper  ") && !strchr(OUT(b), '\t'), "not an aligned table: %s", OUT(b));
	CHECK_MSG(strstr(OUT(b), "\033[32mrunning\033[0m"), "running not green on a tty: %s", OUT(b));
	bg_free(b);
	b = ctl_pty((const char *const[]){ "NO_COLOR=1", NULL }, (const char *const[]){ "ps", NULL });
	CHECK_MSG(strstr(OUT(b), "STATE") && !strchr(OUT(b), '\033'), "NO_COLOR=1 still colours: %s", OUT(b));
	bg_free(b);
	b = ctl_pty(NULL, (const char *const[]){ "ps", "-o", "json", NULL });
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "processes")), "-o json on a tty: %s", OUT(b));
	cJSON_Delete(j);
	bg_free(b);
	bg_free(CTL("kill", id));
}

/* ---- logs ----------------------------------------------------------------- */

static void test_logs_streams_tail_since_json(void)
{
	char id[ID_CAP];
	START(id, "ticker", "count=5", "interval=0");
	bg_free(CTL("wait", id));
	struct bg *b = CTL("logs", id);
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
	bg_free(b);
	b = CTL("logs", "--tail", "2", id);
	CHECK_STR(OUT(b), "tick 4\ntick 5\n");
	bg_free(b);
	b = CTL("logs", "--since", "28", id);      /* 4 lines of 7 bytes */
	CHECK_STR(OUT(b), "tick 5\n");
	bg_free(b);
	b = CTL("logs", "--stderr", id);
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "");
	CHECK_STR(ERR(b), "");
	bg_free(b);
	b = CTL("logs", "-o", "json", id);
	cJSON **lines;
	int n = ndjson_parse(OUT(b), strlen(OUT(b)), &lines);
	CHECK_MSG(n >= 2, "logs -o json: %s", OUT(b));
	bool ok = jint(lines[n - 1], "stdout_bytes", -1) == 35 && jint(lines[0], "offset", -1) == 0;
	ndjson_free(lines, n);
	CHECK_MSG(ok, "logs -o json: %s", OUT(b));
	bg_free(b);
	b = CTL("logs", "-o", "json", "--tail", "1", id);
	CHECK_RC(b, 125);
	bg_free(b);
	b = CTL("logs", "no-such-id");
	CHECK_RC(b, 125);
	CHECK_MSG(strstr(ERR(b), "404"), "stderr: %s", ERR(b));
	bg_free(b);
	b = CTL("run", "burst", "bytes=5", "stream=stderr", "-w");
	bg_free(b);
}

static void test_logs_follow_is_live(void)
{
	char id[ID_CAP];
	START(id, "ticker", "count=4", "interval=1");
	struct bg *b = bg_start(NULL, NULL, (const char *const[]){ "logs", "-f", id, NULL });
	CHECK_MSG(bg_wait_stdout(b, "tick 1\n", 20), "no tick 1 from logs -f: %s", b->buf[0] ? b->buf[0] : "");
	struct resp *r = get(srv, "/processes/%s", id);
	bool alive = jis_true(r->json, "alive");
	resp_free(r);
	CHECK_MSG(alive, "logs -f printed tick 1 only after the process ended");
	bg_finish(b, 30);
	CHECK_RC(b, 0);
	CHECK_STR(OUT(b), "tick 1\ntick 2\ntick 3\ntick 4\n");
	bg_free(b);
	/* --tail then follow: the last line so far, then the rest, nothing twice */
	START(id, "ticker", "count=3", "interval=1");
	b = bg_start(NULL, NULL, (const char *const[]){ "logs", "-f", "--tail", "1", id, NULL });
	bg_finish(b, 30);
	CHECK_RC(b, 0);
	CHECK_MSG(strstr(OUT(b), "tick 3\n") && count_lines(OUT(b)) <= 3 && !strstr(strstr(OUT(b), "tick 3") + 1, "tick"),
		  "logs -f --tail 1: %s", OUT(b));
	bg_free(b);
}

/* ---- wait, terminate, kill, signal, rm -------------------------------------- */

static void test_wait_codes(void)
{
	char id[ID_CAP];
	START(id, "sleep", "30");
	struct bg *b = CTL("wait", "--timeout", "0.2", id);
	CHECK_RC(b, 124);
	CHECK_MSG(strstr(ERR(b), "still alive"), "stderr: %s", ERR(b));
	bg_free(b);
	b = CTL("terminate", id);
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("wait", id, "-o", "json");
	CHECK_RC(b, 143);
	cJSON *j = cJSON_Parse(OUT(b));
	bool ok = j && jstr(j, "signal") && strcmp(jstr(j, "signal"), "SIGTERM") == 0;
	cJSON_Delete(j);
	CHECK_MSG(ok, "wait -o json: %s", OUT(b));
	bg_free(b);
	START(id, "exit", "3");
	b = CTL("wait", id);
	CHECK_RC(b, 3);
	bg_free(b);
}

static void test_signal_rm_and_errors(void)
{
	char a[ID_CAP], c[ID_CAP];
	START(a, "sleep", "30");
	START(c, "sleep", "30");
	struct bg *b = CTL("signal", "USR1", a);
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("wait", a);
	CHECK_RC(b, 128 + SIGUSR1);
	bg_free(b);
	b = CTL("signal", "SIGUSR1", a);               /* ended: 409 not_running */
	CHECK_RC(b, 125);
	CHECK_MSG(strstr(ERR(b), "not_running"), "stderr: %s", ERR(b));
	bg_free(b);
	b = CTL("rm", "--grace", "1", a, c, "no-such-id");
	CHECK_RC(b, 125);                              /* one of three failed */
	CHECK_MSG(strstr(OUT(b), a) && strstr(OUT(b), c), "rm printed: %s", OUT(b));
	bg_free(b);
	struct resp *r = get(srv, "/processes/%s", c);
	CHECK_STATUS(r, 404);
	resp_free(r);
}

/* ---- targets, events -------------------------------------------------------- */

static void test_targets(void)
{
	struct bg *b = CTL("targets");
	CHECK_RC(b, 0);
	CHECK_MSG(strstr(OUT(b), "ticker\tbuiltin\tcount:integer? interval:number?\t"), "targets: %s", OUT(b));
	bg_free(b);
	b = CTL("targets", "exit");
	CHECK_MSG(strstr(OUT(b), "code\tinteger\tyes\tmin 0, max 255"), "targets exit: %s", OUT(b));
	bg_free(b);
	b = CTL("targets", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "targets")) >= 8, "targets -o json: %s", OUT(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("targets", "nope");
	CHECK_RC(b, 125);
	bg_free(b);
}

static void test_events(void)
{
	char id[ID_CAP];
	START(id, "worker");
	bg_free(CTL("wait", id));
	struct bg *b = CTL("events", "-o", "json");
	CHECK_RC(b, 0);
	cJSON **lines;
	int n = ndjson_parse(OUT(b), strlen(OUT(b)), &lines), mine = 0;
	for (int i = 0; i < n; i++) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(lines[i], "process");
		mine += jstr(p, "id") && strcmp(jstr(p, "id"), id) == 0;
	}
	ndjson_free(lines, n);
	CHECK_MSG(n > 0 && mine >= 3, "events -o json: %d lines, %d of %s: %s", n, mine, id, OUT(b));
	bg_free(b);

	b = bg_start(NULL, NULL, (const char *const[]){ "events", "-f", NULL });
	sleep_s(0.5);                   /* -f shows events from its start on */
	START(id, "worker");
	char needle[ID_CAP + 16];
	snprintf(needle, sizeof needle, "exited\t%s\t", id);
	bool seen = bg_wait_stdout(b, needle, 20);
	kill(b->pid, SIGTERM);
	bg_finish(b, 10);
	CHECK_MSG(seen, "events -f never showed \"%s\": %s", needle, OUT(b));
	bg_free(b);
}

/* ---- the token ------------------------------------------------------------ */

/* Accepts one request on fd, answers an empty process list, returns the request head. */
static char *serve_one(int listener)
{
	static const char body[] = "{\"processes\":[],\"next\":null}";
	char answer[256];
	int alen = snprintf(answer, sizeof answer, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
	char *head = calloc(1, 8192);
	size_t len = 0;
	struct pollfd p = { .fd = listener, .events = POLLIN };
	if (poll(&p, 1, 20000) != 1)
		return head;
	int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	while (c >= 0 && len < 8191 && !strstr(head, "\r\n\r\n")) {
		ssize_t n = read(c, head + len, 8191 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (c >= 0 && write(c, answer, (size_t)alen) < 0)
		len = 0;
	if (c >= 0)
		close(c);
	return head;
}

static void test_token_sent_as_bearer(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof addr;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(l, 4) == 0 &&
	      getsockname(l, (struct sockaddr *)&addr, &alen) == 0);
	char url[64], env_url[80], file[256], env_file[300];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(addr.sin_port));
	snprintf(env_url, sizeof env_url, "SPAWND_URL=%s", url);
	snprintf(file, sizeof file, "%s/token", server_root(srv));
	snprintf(env_file, sizeof env_file, "SPAWND_TOKEN_FILE=%s", file);
	FILE *f = fopen(file, "w");
	CHECK(f);
	fputs("from-file\n", f);
	fclose(f);

	struct bg *b = bg_start(NULL, (const char *const[]){ env_url, "SPAWND_TOKEN=s3cret", NULL },
				(const char *const[]){ "ps", NULL });
	char *head = serve_one(l);
	bg_finish(b, 20);
	bool ok = strstr(head, "\r\nAuthorization: Bearer s3cret\r\n") && b->status == 0;
	free(head);
	bg_free(b);
	CHECK_MSG(ok, "SPAWND_TOKEN not sent as a bearer token");

	b = bg_start(NULL, (const char *const[]){ env_url, env_file, NULL }, (const char *const[]){ "ps", NULL });
	head = serve_one(l);
	bg_finish(b, 20);
	ok = strstr(head, "\r\nAuthorization: Bearer from-file\r\n") != NULL;
	free(head);
	bg_free(b);
	CHECK_MSG(ok, "SPAWND_TOKEN_FILE not sent as a bearer token");

	b = bg_start(NULL, (const char *const[]){ env_url, "SPAWND_TOKEN=env", NULL },
		     (const char *const[]){ "ps", "--token-file", file, NULL });
	head = serve_one(l);
	bg_finish(b, 20);
	ok = strstr(head, "\r\nAuthorization: Bearer from-file\r\n") != NULL;
	free(head);
	bg_free(b);
	close(l);
	CHECK_MSG(ok, "--token-file did not override SPAWND_TOKEN");

	b = ctl_env(NULL, (const char *const[]){ "SPAWND_TOKEN=bad\r\nX-Injected: 1", NULL },
		    (const char *const[]){ "ps", NULL });
	CHECK_RC(b, 125);
	bg_free(b);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

/* ---- shared objects (the server's longest wait is OBJECT_TIMEOUT_S) ---------- */

static void test_queue_put_get_join(void)
{
	struct bg *b = CTL("queue", "create", "ctl-jobs");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("queue", "put", "ctl-jobs", "job 1", "3", "{\"a\": [1]}");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("queue", "get", "ctl-jobs");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "job 1\n") == 0, "a word that is not JSON: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("queue", "get", "ctl-jobs");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "3\n") == 0, "a number: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("queue", "get", "ctl-jobs", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	char *item = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "item"));
	CHECK_MSG(b->status == 0 && item && strcmp(item, "{\"a\":[1]}") == 0, "-o json: " CTL_FMT, CTL_ARGS(b));
	free(item);
	cJSON_Delete(j);
	bg_free(b);
	/* Past the server's longest wait: spawnctl asks again until its own timeout. */
	double started = now_s();
	b = CTL("queue", "get", "ctl-jobs", "--timeout", "1.6");
	CHECK_MSG(b->status == 124 && strstr(ERR(b), "timed out") && now_s() - started >= 1.6,
		  "empty after %.2f s: " CTL_FMT, now_s() - started, CTL_ARGS(b));
	bg_free(b);
	b = CTL("queue", "join", "ctl-jobs", "--timeout", "0.2");
	CHECK_RC(b, 124);       /* three got, none done */
	bg_free(b);
	for (int i = 0; i < 3; i++)
		bg_free(CTL("queue", "task_done", "ctl-jobs"));
	b = CTL("queue", "join", "ctl-jobs");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("queue", "task_done", "ctl-jobs");
	CHECK_RC(b, 125);       /* 409: more task_done than items */
	bg_free(b);
}

static void test_queue_full_objects_and_rm(void)
{
	bg_free(CTL("queue", "create", "ctl-small", "--maxsize", "1"));
	bg_free(CTL("queue", "put", "ctl-small", "x"));
	struct bg *b = CTL("queue", "put", "ctl-small", "y", "--timeout", "0.2");
	CHECK_RC(b, 124);
	bg_free(b);
	b = CTL("objects");
	CHECK_MSG(b->status == 0 && strstr(OUT(b), "queues\tctl-small\tsize=1 maxsize=1 unfinished=1"),
		  "objects: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("objects", "queue", "ctl-small");
	CHECK_MSG(b->status == 0 && strstr(OUT(b), "name: ctl-small\n") && strstr(OUT(b), "\nsize: 1\n"),
		  "objects queue NAME: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("objects", "queues", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(b->status == 0 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "queues")), "-o json: %s", OUT(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("objects", "nope");
	CHECK_RC(b, 125);
	bg_free(b);
	b = CTL("queue", "rm", "ctl-small");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("queue", "get", "ctl-small", "--timeout", "0");
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "not_found"), "removed: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("queue", "put", "ctl-small");
	CHECK_RC(b, 125);       /* put what? */
	bg_free(b);
}

static void test_event_set_wait(void)
{
	bg_free(CTL("event", "create", "ctl-ready"));
	struct bg *b = CTL("event", "wait", "ctl-ready", "--timeout", "0.3");
	CHECK_RC(b, 124);
	bg_free(b);
	/* A waiter with no timeout, past the server's longest wait, returns when set. */
	struct bg *w = bg_start(NULL, NULL, (const char *const[]){ "event", "wait", "ctl-ready", NULL });
	double until = now_s() + OBJECT_TIMEOUT_S + 0.5;
	while (now_s() < until && bg_pump(w, 0.1))
		;
	bool early = w->fds[0] >= 0 && w->fds[1] >= 0;     /* not at EOF: still waiting */
	b = CTL("event", "set", "ctl-ready");
	CHECK_RC(b, 0);
	bg_free(b);
	bg_finish(w, 20);
	CHECK_MSG(early && w->status == 0, "waiter: still waiting before set %d, " CTL_FMT, early, CTL_ARGS(w));
	bg_free(w);
	bg_free(CTL("event", "clear", "ctl-ready"));
	b = CTL("objects", "event", "ctl-ready");
	CHECK_MSG(strstr(OUT(b), "set: false\n"), "cleared: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
}

static void test_lock_acquire_release(void)
{
	char owner[128];
	bg_free(CTL("lock", "create", "ctl-lock"));
	struct bg *b = CTL("lock", "acquire", "ctl-lock", "--lease", "30");
	size_t n = strcspn(OUT(b), "\n");
	CHECK_MSG(b->status == 0 && strncmp(OUT(b), "c-", 2) == 0 && n < sizeof owner, "acquire: " CTL_FMT, CTL_ARGS(b));
	memcpy(owner, OUT(b), n);
	owner[n] = '\0';
	bg_free(b);
	b = CTL("lock", "acquire", "ctl-lock", "--timeout", "0.2");
	CHECK_RC(b, 124);
	bg_free(b);
	b = CTL("lock", "renew", "ctl-lock", "--owner", owner, "--lease", "30");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("lock", "release", "ctl-lock");
	CHECK_RC(b, 125);       /* whose? an outside caller names its owner */
	bg_free(b);
	b = CTL("lock", "release", "ctl-lock", "--owner", owner);
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("lock", "release", "ctl-lock", "--owner", owner);
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "not_owner"), "released twice: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("lock", "acquire", "ctl-lock", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(b->status == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "acquired")), "-o json: %s", OUT(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("lock", "grab", "ctl-lock");
	CHECK_RC(b, 125);
	bg_free(b);
}

/* ---- pools and namespaces -------------------------------------------------- */

/* The pools the server has now, as `pool ls -o json` counts them. */
static int pool_count(void)
{
	struct bg *b = CTL("pool", "ls", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	int n = b->status == 0 ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "pools")) : -1;
	cJSON_Delete(j);
	bg_free(b);
	return n;
}

static void test_pool_map_on_a_target(void)
{
	int before = pool_count();
	struct bg *b = CTL("pool", "map", "square", "1", "2", "3", "-n", "2");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "1\n4\n9\n") == 0, "map: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	CHECK_MSG(pool_count() == before, "the temporary pool stayed: %d pools, %d before", pool_count(), before);
	b = CTL("pool", "map", "square", "--unordered", "-o", "json", "4", "{\"x\": 5}", "[6]");
	int seen = 0, sum = 0;
	for (char *line = OUT(b); line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		cJSON *j = cJSON_Parse(line);
		seen += j && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "index"));
		sum += (int)jint(j, "result", 0);
		cJSON_Delete(j);
	}
	CHECK_MSG(b->status == 0 && seen == 3 && sum == 16 + 25 + 36, "unordered json: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	/* A failed task: reported on stderr, the others printed, exit 1. */
	b = CTL("pool", "map", "exit", "0", "3", "0");
	CHECK_MSG(b->status == 1 && strcmp(OUT(b), "\n\n") == 0 && strstr(ERR(b), "item 1 failed") &&
		  strstr(ERR(b), "(exit)"), "a failed task: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "map", "square", "nine");
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "items[0][0]"), "a bad item: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "map", "square");
	CHECK_RC(b, 125);       /* map what? */
	bg_free(b);
	b = CTL("pool", "apply", "do_calculation", "21");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "42\n") == 0, "apply: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "apply", "exit", "4");
	CHECK_MSG(b->status == 1 && strstr(ERR(b), "failed"), "apply failed: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	CHECK_MSG(pool_count() == before, "temporary pools stayed");
}

static void test_pool_lifecycle(void)
{
	char items[256], id[ID_CAP];
	snprintf(items, sizeof items, "%s/items", server_root(srv));
	FILE *f = fopen(items, "w");
	CHECK(f);
	fputs("6\n\n{\"x\": 7}\n", f);
	fclose(f);
	struct bg *b = CTL("pool", "create", "square", "-n", "2", "--initializer", "sleep", "--initargs", "[0]",
			   "--maxtasksperchild", "3", "--name", "ctl-squares");
	bool ok = ctl_id(b, id);
	CHECK_MSG(ok, "create: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	if (!ok)
		return;
	b = CTL("pool", "ls");
	char want[256];
	snprintf(want, sizeof want, "%s\tctl-squares\tsquare\trunning\t2\t", id);
	CHECK_MSG(b->status == 0 && strstr(OUT(b), want), "ls: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "map", id, "--items-file", items, "2", "--chunksize", "2");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "4\n36\n49\n") == 0, "map on the pool: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = ctl_env("3\n", NULL, (const char *const[]){ "pool", "map", id, "--items-file", "-", NULL });
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "9\n") == 0, "items from stdin: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "apply", id, "x=8", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(b->status == 0 && jint(j, "result", 0) == 64, "apply -o json: " CTL_FMT, CTL_ARGS(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("pool", "join", id, "--timeout", "0.2");
	CHECK_RC(b, 125);       /* 409: a running pool is not joined */
	bg_free(b);
	bg_free(CTL("pool", "close", id));
	b = CTL("pool", "map", id, "1");
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "409"), "map on a closed pool: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "join", id, "--timeout", "30");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("pool", "terminate", id);
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("pool", "rm", id, "-o", "json");
	j = cJSON_Parse(OUT(b));
	CHECK_MSG(b->status == 0 && jstr(j, "state") && strcmp(jstr(j, "state"), "terminated") == 0,
		  "rm: " CTL_FMT, CTL_ARGS(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("pool", "rm", id);
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "not_found"), "rm twice: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("pool", "grow", id);
	CHECK_RC(b, 125);
	bg_free(b);
}

static void test_ns_keys(void)
{
	struct bg *b = CTL("ns", "create", "ctl-cfg");
	CHECK_RC(b, 0);
	bg_free(b);
	bg_free(CTL("ns", "set", "ctl-cfg", "mode", "fast"));
	bg_free(CTL("ns", "set", "ctl-cfg", "n", "3"));
	bg_free(CTL("ns", "set", "ctl-cfg", "list", "[1, \"a\"]"));
	b = CTL("ns", "get", "ctl-cfg", "mode");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "fast\n") == 0, "get a string: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("ns", "get", "ctl-cfg", "n", "-o", "json");
	cJSON *j = cJSON_Parse(OUT(b));
	CHECK_MSG(b->status == 0 && jint(j, "value", 0) == 3 && jint(j, "version", 0) >= 1, "get -o json: " CTL_FMT,
		  CTL_ARGS(b));
	cJSON_Delete(j);
	bg_free(b);
	b = CTL("ns", "ls", "ctl-cfg");
	CHECK_MSG(b->status == 0 && strstr(OUT(b), "mode\tfast\n") && strstr(OUT(b), "n\t3\n") &&
		  strstr(OUT(b), "list\t[1,\"a\"]\n") && count_lines(OUT(b)) == 3, "ls: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("ns", "del", "ctl-cfg", "n");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("ns", "get", "ctl-cfg", "n");
	CHECK_MSG(b->status == 125 && strstr(ERR(b), "not_found"), "deleted: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	b = CTL("ns", "set", "ctl-cfg", "k");
	CHECK_RC(b, 125);       /* set to what? */
	bg_free(b);
	b = CTL("ns", "rm", "ctl-cfg");
	CHECK_RC(b, 0);
	bg_free(b);
	b = CTL("ns", "ls", "ctl-cfg");
	CHECK_RC(b, 125);
	bg_free(b);
}

/* ---- inside a worker: its own SPAWND_URL and SPAWND_TOKEN ----------------- */

/* The targets file: spawnctl itself as exec targets, so a worker runs it with
 * the environment spawnd gives every worker (and nothing from this test). */
static char *worker_targets(void)
{
	char *abs = realpath(ctl_path, NULL), *json = NULL;
	if (!abs || asprintf(&json, "{\"version\": 1, \"targets\": ["
			     "{\"name\": \"ctl_put\", \"program\": \"%s\", \"argv\": [\"queue\", \"put\", \"{queue}\", \"{item}\"],"
			     " \"args\": [{\"name\": \"queue\", \"type\": \"string\", \"required\": true},"
			     "            {\"name\": \"item\", \"type\": \"string\", \"required\": true}]},"
			     "{\"name\": \"ctl_ps\", \"program\": \"%s\", \"argv\": [\"ps\"]}]}", abs, abs) < 0)
		json = NULL;
	free(abs);
	return json;
}

static void test_inside_a_worker(void)
{
	struct bg *b = CTL("queue", "create", "ctl-from-worker");
	CHECK_RC(b, 0);
	bg_free(b);
	struct resp *r = spawn(srv, "{\"target\": \"ctl_put\", \"args\": [\"ctl-from-worker\", \"made inside\"]}", 30);
	CHECK_MSG(jint(r->json, "exitcode", -1) == 0, "worker: %.600s", r->body);
	resp_free(r);
	b = CTL("queue", "get", "ctl-from-worker", "--timeout", "5");
	CHECK_MSG(b->status == 0 && strcmp(OUT(b), "made inside\n") == 0, "the worker's put: " CTL_FMT, CTL_ARGS(b));
	bg_free(b);
	/* A worker token may not list the processes: spawnctl's own failure code and the 403. */
	r = spawn(srv, "{\"target\": \"ctl_ps\"}", 30);
	const char *err = jstr(r->json, "stderr");
	CHECK_MSG(jint(r->json, "exitcode", -1) == 125 && err && strstr(err, "403") && strstr(err, "forbidden"),
		  "ps in a worker: %.600s", r->body);
	resp_free(r);
}

static void run_cases(void)
{
	RUN(test_usage_errors_exit_125);
	RUN(test_help_for_every_command);
	RUN(test_unreachable_server_125);
	RUN(test_run_detached_prints_id);
	RUN(test_run_exit_codes_propagate);
	RUN(test_run_killed_exits_128_plus_signal);
	RUN(test_run_wait_prints_output);
	RUN(test_run_bad_args_and_target_125);
	RUN(test_run_stdin_file_and_pipe);
	RUN(test_run_timeout_is_signal_exit);
	RUN(test_run_follow_is_live);
	RUN(test_run_json_follow_ndjson);
	RUN(test_ps_filters_and_plain_lines);
	RUN(test_ps_table_and_colour_only_on_a_tty);
	RUN(test_logs_streams_tail_since_json);
	RUN(test_logs_follow_is_live);
	RUN(test_wait_codes);
	RUN(test_signal_rm_and_errors);
	RUN(test_targets);
	RUN(test_events);
	RUN(test_token_sent_as_bearer);
	RUN(test_queue_put_get_join);
	RUN(test_queue_full_objects_and_rm);
	RUN(test_event_set_wait);
	RUN(test_lock_acquire_release);
	RUN(test_pool_map_on_a_target);
	RUN(test_pool_lifecycle);
	RUN(test_ns_keys);
	RUN(test_inside_a_worker);
}

int main(void)
{
	ctl_path = getenv("SPAWND_CTL") ? getenv("SPAWND_CTL") : "build/spawnctl";
	if (access(ctl_path, X_OK) != 0) {
		printf("FAIL setup: %s is not an executable (build it: make %s)\n", ctl_path, ctl_path);
		return 1;
	}
	atexit(kill_leftovers);
	char *targets = worker_targets();
	srv = targets ? server_start_targets(targets, "--heartbeat 0.5 --object-timeout 1") : NULL;
	free(targets);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	run_cases();
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
