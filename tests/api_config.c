/* api_config — the settings as a user gives them to the real binary: a
 * --config file (JSON, every key of --help), overridden by SPAWND_* variables,
 * overridden by flags; a file with an unknown or mistyped key stops spawnd
 * naming it; examples/spawnd.conf loads; and the open-file limit is checked
 * at startup (README "Configuration").
 *
 * max_running is observed the way a user sees it: with N slots, N daemon
 * sleeps run and the next one is queued.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define EXAMPLE "examples/spawnd.conf"
#define SLEEPER "{\"target\": \"sleep\", \"args\": [30], \"daemon\": true}"

/* A temporary folder of this test's own (for config files and state folders). */
static bool make_root(char *root, size_t cap)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(root, cap, "%s/spawnd-config.XXXXXX", tmp);
	return mkdtemp(root) != NULL;
}

static void remove_root(const char *root)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

static bool write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) != EOF;
	return fclose(f) == 0 && ok;
}

/* A port nobody listens on now (the kernel's pick for port 0). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* With slots free slots, slots daemon sleeps run and one more is queued. */
static void expect_slots(struct server *s, long slots)
{
	for (long i = 0; i <= slots; i++) {
		struct resp *r = spawn(s, SLEEPER, -1);
		const char *want = i < slots ? "running" : "queued";
		CHECK_STATUS(r, 201);
		CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), want) == 0,
			  "spawn %ld of %ld slots: expected %s: " RESP_FMT, i + 1, slots, want, RESP_ARGS(r));
		resp_free(r);
	}
}

static void stop(struct server *s)
{
	char why[256];
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* listen, state_dir and max_running from the file alone (no flag of the harness's). */
static void test_file_settings_are_honoured(void)
{
	char root[PATH_MAX], conf[PATH_MAX + 16], state[PATH_MAX + 16], text[2 * PATH_MAX], args[PATH_MAX + 32];
	char port_suffix[16];
	struct stat st;
	int port = free_port();

	CHECK(port > 0 && make_root(root, sizeof root));
	snprintf(conf, sizeof conf, "%s/spawnd.conf", root);
	snprintf(state, sizeof state, "%s/from-config", root);
	snprintf(text, sizeof text, "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"%s\", \"max_running\": 2,\n"
		 " \"log_level\": \"warn\"}\n", port, state);
	CHECK(write_text(conf, text));
	snprintf(args, sizeof args, "--config %s", conf);
	struct server *s = server_start_bare(args);
	CHECK_MSG(s, "spawnd did not start with %s", text);
	snprintf(port_suffix, sizeof port_suffix, ":%d", port);
	const char *url = server_url(s);
	CHECK_MSG(strlen(url) > strlen(port_suffix) && !strcmp(url + strlen(url) - strlen(port_suffix), port_suffix),
		  "listening on %s, not on the file's port %d", url, port);
	CHECK_MSG(stat(state, &st) == 0 && S_ISDIR(st.st_mode), "the file's state_dir %s was not made", state);
	expect_slots(s, 2);
	stop(s);
	remove_root(root);
}

/* A flag beats the file: --max-running 1 over the file's 2, and the
 * harness's --state-dir over the file's (which is never made). */
static void test_flag_overrides_file(void)
{
	char root[PATH_MAX], conf[PATH_MAX + 16], unused[PATH_MAX + 16], text[2 * PATH_MAX], args[PATH_MAX + 64];

	CHECK(make_root(root, sizeof root));
	snprintf(conf, sizeof conf, "%s/spawnd.conf", root);
	snprintf(unused, sizeof unused, "%s/not-this-one", root);
	snprintf(text, sizeof text, "{\"max_running\": 2, \"state_dir\": \"%s\"}", unused);
	CHECK(write_text(conf, text));
	snprintf(args, sizeof args, "--config %s --max-running 1", conf);
	struct server *s = server_start(args);
	CHECK_MSG(s, "spawnd did not start with %s", args);
	expect_slots(s, 1);
	CHECK_MSG(access(unused, F_OK) != 0, "the file's state_dir was used despite --state-dir");
	stop(s);
	remove_root(root);
}

/* SPAWND_MAX_RUNNING beats the file; SPAWND_CONFIG names the file. */
static void test_env_overrides_file(void)
{
	char root[PATH_MAX], conf[PATH_MAX + 16];

	CHECK(make_root(root, sizeof root));
	snprintf(conf, sizeof conf, "%s/spawnd.conf", root);
	CHECK(write_text(conf, "{\"max_running\": 3, \"max_queued\": 1}"));
	setenv("SPAWND_CONFIG", conf, 1);
	setenv("SPAWND_MAX_RUNNING", "2", 1);
	struct server *s = server_start(NULL);
	unsetenv("SPAWND_CONFIG");
	unsetenv("SPAWND_MAX_RUNNING");
	CHECK_MSG(s, "spawnd did not start with SPAWND_CONFIG=%s", conf);
	expect_slots(s, 2);
	/* The file's max_queued (1) still holds: the queue is full. */
	struct resp *r = spawn(s, SLEEPER, -1);
	CHECK_ERROR(r, 429, "too_many_processes");
	resp_free(r);
	stop(s);
	remove_root(root);
}

/* Refused at startup: exits non-zero, never listens, and stderr holds want. */
static void expect_refused(const char *text, const char *want1, const char *want2)
{
	char root[PATH_MAX], conf[PATH_MAX + 16], log[4096];
	bool listened;

	CHECK(make_root(root, sizeof root));
	snprintf(conf, sizeof conf, "%s/spawnd.conf", root);
	CHECK(write_text(conf, text));
	int status = server_run_refused((const char *const[]){ "--config", conf, NULL }, root, log, sizeof log,
					&listened);
	CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && !listened,
		  "spawnd started with %s (status %d): %.300s", text, status, log);
	CHECK_MSG(strstr(log, conf) && strstr(log, want1) && strstr(log, want2),
		  "%s: stderr does not name the file, \"%s\" and \"%s\": %.500s", text, want1, want2, log);
	remove_root(root);
}

static void test_bad_file_refuses_start(void)
{
	expect_refused("{\"max_running\": 2, \"max_runing\": 3}", "unknown key \"max_runing\"", "known: ");
	expect_refused("{\"max_running\": \"2\"}", "max_running", "expected an integer from 1 to 1000000");
	expect_refused("{\"heartbeat\": 60}", "heartbeat", "expected seconds from 0.05 to 15");
	expect_refused("{\"log_level\": 1, \"log_level\": 2}", "log_level", "duplicate key");
	expect_refused("{\"cors_origins\": [\"*\"]}", "cors_origins", "never allowed");
}

/* Runs spawnd with args (NULL-terminated) and collects its stdout; exit status returned. */
static int run_capture(const char *const *args, char *out, size_t cap)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char *argv[8] = { strdup(bin) };
	int fds[2], status = -1, n = 1;
	size_t len = 0;

	for (; *args && n < 7; args++)
		argv[n++] = strdup(*args);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (ssize_t got; len + 1 < cap && (got = read(fds[0], out + len, cap - 1 - len)) > 0;)
		len += (size_t)got;
	out[len] = '\0';
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	for (int i = 0; i < n; i++)
		free(argv[i]);
	return status;
}

/* key's flag (--max-running) and variable (SPAWND_MAX_RUNNING), by the table's naming rule. */
static void names_of(const char *key, char *flag, char *env, size_t cap)
{
	snprintf(flag, cap, "--%s", key);
	snprintf(env, cap, "SPAWND_%s", key);
	for (char *p = flag; *p; p++)
		*p = *p == '_' ? '-' : *p;
	for (char *p = env; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

/* Every key of examples/spawnd.conf is in --help, with its flag, its
 * variable and, as its default, the example's value. */
static void test_help_lists_every_setting(void)
{
	static char help[32768];
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(EXAMPLE, "r");

	CHECK_MSG(f, "cannot open " EXAMPLE);
	CHECK(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	cJSON *example = cJSON_Parse(text);
	free(text);
	CHECK_MSG(cJSON_IsObject(example) && cJSON_GetArraySize(example) >= 11, EXAMPLE " is not an object of settings");
	int status = run_capture((const char *const[]){ "--help", NULL }, help, sizeof help);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--help exit status %d", status);
	CHECK_MSG(strstr(help, "--config FILE") && strstr(help, "SPAWND_CONFIG"), "--help does not describe --config");
	for (const cJSON *v = example->child; v; v = v->next) {
		char flag[64], env[64], key[96], dflt[160], head[80];
		names_of(v->string, flag, env, sizeof flag);
		snprintf(head, sizeof head, "\n  %s ", flag);
		snprintf(key, sizeof key, "env %s, key \"%s\"", env, v->string);
		if (cJSON_IsNumber(v))
			snprintf(dflt, sizeof dflt, ", default %g\n", v->valuedouble);
		else if (cJSON_IsString(v))
			snprintf(dflt, sizeof dflt, ", default %s\n", v->valuestring);
		else if (cJSON_IsBool(v))
			snprintf(dflt, sizeof dflt, ", default %s\n", cJSON_IsTrue(v) ? "true" : "false");
		else
			snprintf(dflt, sizeof dflt, ", default none\n");
		const char *block = strstr(help, head), *next = block ? strstr(block + 1, "\n  --") : NULL;
		const char *names = block ? strstr(block, key) : NULL, *value = names ? strstr(names, dflt) : NULL;
		CHECK_MSG(block && names && value && (!next || value < next),
			  "--help lacks %s with \"%s\" and \"%s\": %.2000s", flag, key, dflt, help);
	}
	cJSON_Delete(example);
}

/* The example loads as it is (the harness's flags override its listen and state_dir). */
static void test_example_file_loads(void)
{
	struct server *s = server_start("--config " EXAMPLE);
	CHECK_MSG(s, "spawnd did not start with --config " EXAMPLE);
	CHECK(server_healthy(s));
	stop(s);
}

/* SPAWND_BIN for a while: a script that runs the real one under ulimit -n limit. */
static bool limit_wrapper(const char *root, int limit, char *old_bin, size_t cap)
{
	char script[PATH_MAX + 16], real[PATH_MAX], text[2 * PATH_MAX + 64];
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";

	snprintf(old_bin, cap, "%s", bin);
	if (!realpath(bin, real))
		return false;
	snprintf(script, sizeof script, "%s/limited.sh", root);
	snprintf(text, sizeof text, "#!/bin/sh\nulimit -n %d || exit 125\nexec '%s' \"$@\"\n", limit, real);
	if (!write_text(script, text) || chmod(script, 0700) < 0)
		return false;
	setenv("SPAWND_BIN", script, 1);
	return true;
}

/* A max_running the open-file limit cannot hold is refused, with the
 * numbers and what to raise. */
static void test_fd_budget_refuses_given_setting(void)
{
	char root[PATH_MAX], old_bin[PATH_MAX], log[4096];
	bool listened;

	CHECK(make_root(root, sizeof root));
	CHECK(limit_wrapper(root, 256, old_bin, sizeof old_bin));
	int status = server_run_refused((const char *const[]){ "--max-running", "100", NULL }, root, log, sizeof log,
					&listened);
	setenv("SPAWND_BIN", old_bin, 1);
	CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2 && !listened,
		  "spawnd started with --max-running 100 under ulimit -n 256 (status %d): %.300s", status, log);
	CHECK_MSG(strstr(log, "open-file limit") && strstr(log, "max_running=100") && strstr(log, "raise the hard limit")
		  && strstr(log, "--max-running"), "the refusal does not say what to change: %.600s", log);
	remove_root(root);
}

/* Left at their defaults, max_running and max_connections are lowered to fit,
 * with a warning naming the numbers, and the lowered max_running holds. */
static void test_fd_budget_lowers_defaults(void)
{
	char root[PATH_MAX], old_bin[PATH_MAX];

	CHECK(make_root(root, sizeof root));
	CHECK(limit_wrapper(root, 160, old_bin, sizeof old_bin));
	struct server *s = server_start(NULL);
	setenv("SPAWND_BIN", old_bin, 1);
	CHECK_MSG(s, "spawnd did not start under ulimit -n 160 with the defaults");
	char *log = server_log(s);
	const char *used = log ? strstr(log, "max_running_used=") : NULL;
	long slots = used ? atol(used + strlen("max_running_used=")) : -1;
	bool named = log && strstr(log, "fd budget") && strstr(log, "max_running=1024") && strstr(log, "raise");
	char shown[600];
	snprintf(shown, sizeof shown, "%.590s", log ? log : "");
	free(log);
	CHECK_MSG(named && slots >= 1 && slots < 1024, "no warning with the numbers: %s", shown);
	expect_slots(s, slots);
	stop(s);
	remove_root(root);
}

int main(void)
{
	RUN(test_file_settings_are_honoured);
	RUN(test_flag_overrides_file);
	RUN(test_env_overrides_file);
	RUN(test_bad_file_refuses_start);
	RUN(test_help_lists_every_setting);
	RUN(test_example_file_loads);
	RUN(test_fd_budget_refuses_given_setting);
	RUN(test_fd_budget_lowers_defaults);
	return CHECK_EXIT();
}
