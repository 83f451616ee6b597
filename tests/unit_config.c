/* unit_config — the settings table (server/config.c) and the fd budget
 * (server/fdbudget.c): types, ranges, unknown and duplicate keys, the
 * precedence flag > env > file > default, the --help text and
 * examples/spawnd.conf against the table.
 */
#define _GNU_SOURCE
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "server/fdbudget.h"

CHECK_MAIN_STATE;

#define EXAMPLE "examples/spawnd.conf"

/* Applies text over the defaults; the result of config_apply_json(). */
static int apply(struct config *c, const char *text, char *err, size_t cap)
{
	if (config_defaults(c, err, cap) < 0)
		return -2;
	int r = config_apply_json(c, text, strlen(text), "test.conf", err, cap);
	return r;
}

/* text must be refused with a message holding every one of want (NULL-terminated). */
#define CHECK_REFUSED(text, ...) do { \
		struct config c_; char err_[1024] = ""; \
		int r_ = apply(&c_, (text), err_, sizeof err_); \
		config_release(&c_); \
		CHECK_MSG(r_ == -1, "accepted: %s", (text)); \
		for (const char *const *w_ = (const char *const[]){ __VA_ARGS__, NULL }; *w_; w_++) \
			CHECK_MSG(strstr(err_, *w_), "%s: the message does not say \"%s\": %s", (text), *w_, err_); \
	} while (0)

static void test_defaults(void)
{
	struct config c;
	char err[256];

	CHECK(config_defaults(&c, err, sizeof err) == 0);
	CHECK_STR(c.listen, "127.0.0.1:8080");
	CHECK_STR(c.state_dir, "./var");
	CHECK_STR(c.store, "sqlite");
	CHECK_STR(c.log_level, "info");
	CHECK(c.targets == NULL && c.plugins == NULL && c.cors_origins == NULL && c.config == NULL);
	CHECK_INT(c.max_running, 1024);
	CHECK_INT(c.max_queued, 4096);
	CHECK_INT(c.max_connections, 4096);
	CHECK(c.heartbeat == 15.0);
	CHECK_INT(config_source_of(&c, "max_running"), CONFIG_DEFAULT);
	config_release(&c);
}

static void test_types(void)
{
	struct config c;
	char err[512];

	CHECK_MSG(apply(&c, "{\"listen\": \"0.0.0.0:9\", \"max_running\": 8, \"heartbeat\": 0.5, \"targets\": \"t.json\","
			" \"plugins\": null, \"cors_origins\": [\"http://a\", \"http://b\"], \"store\": \"memory\"}",
			err, sizeof err) == 0, "%s", err);
	CHECK_STR(c.listen, "0.0.0.0:9");
	CHECK_INT(c.max_running, 8);
	CHECK(c.heartbeat == 0.5);
	CHECK_STR(c.targets, "t.json");
	CHECK(c.plugins == NULL);
	CHECK_STR(c.cors_origins, "http://a,http://b");
	CHECK_STR(c.store, "memory");
	CHECK_INT(config_source_of(&c, "max_running"), CONFIG_FILE);
	CHECK_INT(config_source_of(&c, "max_queued"), CONFIG_DEFAULT);
	config_release(&c);
	CHECK(apply(&c, "{\"cors_origins\": []}", err, sizeof err) == 0);
	CHECK(c.cors_origins == NULL);
	config_release(&c);

	CHECK_REFUSED("{\"max_running\": \"8\"}", "test.conf", "max_running", "expected an integer from 1 to 1000000");
	CHECK_REFUSED("{\"max_running\": 2.5}", "max_running", "an integer");
	CHECK_REFUSED("{\"listen\": 8080}", "listen", "expected a string");
	CHECK_REFUSED("{\"listen\": null}", "listen", "expected a string");
	CHECK_REFUSED("{\"targets\": true}", "targets", "expected a string (or null)");
	CHECK_REFUSED("{\"heartbeat\": \"15\"}", "heartbeat", "expected seconds from 0.05 to 15");
	CHECK_REFUSED("{\"log_level\": \"loud\"}", "log_level", "expected error, warn, info or debug");
	CHECK_REFUSED("{\"store\": \"disk\"}", "store", "expected sqlite or memory");
	CHECK_REFUSED("{\"cors_origins\": \"http://a\"}", "cors_origins", "an array of strings");
	CHECK_REFUSED("{\"cors_origins\": [\"http://a\", 3]}", "cors_origins", "an array of strings");
	CHECK_REFUSED("{\"cors_origins\": [\"http://a,http://b\"]}", "cors_origins", "an array of strings");
	CHECK_REFUSED("{\"cors_origins\": [\"*\"]}", "cors_origins", "\"*\" is never allowed");
}

static void test_ranges(void)
{
	struct config c;
	char err[512];

	CHECK_REFUSED("{\"max_running\": 0}", "max_running 0", "from 1 to 1000000");
	CHECK_REFUSED("{\"max_running\": 1000001}", "max_running 1000001");
	CHECK_REFUSED("{\"max_queued\": -1}", "max_queued -1", "from 0 to 1000000");
	CHECK_REFUSED("{\"max_connections\": 0}", "max_connections 0");
	CHECK_REFUSED("{\"heartbeat\": 0.01}", "heartbeat 0.01", "from 0.05 to 15");
	CHECK_REFUSED("{\"heartbeat\": 15.5}", "heartbeat 15.5");
	CHECK_REFUSED("{\"max_running\": 1e300}", "max_running");
	/* The ends of each range are in it. */
	CHECK_MSG(apply(&c, "{\"max_running\": 1000000, \"max_queued\": 0, \"heartbeat\": 0.05}", err,
			sizeof err) == 0, "%s", err);
	CHECK_INT(c.max_running, 1000000);
	CHECK_INT(c.max_queued, 0);
	config_release(&c);
}

static void test_unknown_duplicate_and_malformed(void)
{
	CHECK_REFUSED("{\"max_runing\": 8}", "test.conf", "unknown key \"max_runing\"", "max_running");
	CHECK_REFUSED("{\"max_running\": 8, \"max_running\": 9}", "test.conf", "max_running", "duplicate key");
	CHECK_REFUSED("{\"max_running\": 8,\n \"listen\": }", "test.conf", "not valid JSON at line 2");
	CHECK_REFUSED("{\"max_running\": 8} {}", "not valid JSON");
	CHECK_REFUSED("[{\"max_running\": 8}]", "expected a JSON object");
	CHECK_REFUSED("", "not valid JSON");
}

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/unit_config.XXXXXX");
	int fd = path ? mkstemp(path) : -1;
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

/* config_load() of words (NULL-terminated), from copies: argv is char *. */
static enum config_result load(struct config *c, const char *const *words, char *err, size_t cap)
{
	char *argv[16] = { NULL };
	int argc = 0;
	while (words[argc] && argc < 15) {
		argv[argc] = strdup(words[argc]);
		argc++;
	}
	enum config_result r = config_load(c, argc, argv, err, cap);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}

/* flag > env > file > default, setting by setting. */
static void test_precedence(void)
{
	char *file = write_temp("{\"max_running\": 2, \"max_queued\": 3, \"max_connections\": 4, \"heartbeat\": 5}");
	struct config c;
	char err[512];
	enum config_result r;

	CHECK(file);
	setenv("SPAWND_MAX_RUNNING", "20", 1);
	setenv("SPAWND_MAX_QUEUED", "30", 1);
	r = load(&c, (const char *const[]){ "spawnd", "--config", file, "--max-running", "200", NULL }, err, sizeof err);
	unsetenv("SPAWND_MAX_RUNNING");
	unsetenv("SPAWND_MAX_QUEUED");
	unlink(file);
	CHECK_MSG(r == CONFIG_OK, "%s", err);
	CHECK_INT(c.max_running, 200);          /* flag over env and file */
	CHECK_INT(c.max_queued, 30);            /* env over file */
	CHECK_INT(c.max_connections, 4);        /* file over default */
	CHECK(c.heartbeat == 5);
	CHECK_INT(c.max_running, 200);
	CHECK_STR(c.listen, "127.0.0.1:8080");  /* default */
	CHECK_STR(c.config, file);
	CHECK_INT(config_source_of(&c, "max_running"), CONFIG_FLAG);
	CHECK_INT(config_source_of(&c, "max_queued"), CONFIG_ENV);
	CHECK_INT(config_source_of(&c, "max_connections"), CONFIG_FILE);
	CHECK_INT(config_source_of(&c, "listen"), CONFIG_DEFAULT);
	config_release(&c);
	free(file);
}

/* SPAWND_CONFIG names the file; a flag's variable is not read when the flag
 * is given (as before the table: a bad variable under a good flag starts). */
static void test_config_from_env_and_unread_env(void)
{
	char *file = write_temp("{\"listen\": \"127.0.0.1:9\"}");
	struct config c;
	char err[512];
	enum config_result r;

	CHECK(file);
	setenv("SPAWND_CONFIG", file, 1);
	setenv("SPAWND_MAX_QUEUED", "x", 1);
	r = load(&c, (const char *const[]){ "spawnd", "--max-queued=7", NULL }, err, sizeof err);
	unsetenv("SPAWND_CONFIG");
	unsetenv("SPAWND_MAX_QUEUED");
	unlink(file);
	free(file);
	CHECK_MSG(r == CONFIG_OK, "%s", err);
	CHECK_STR(c.listen, "127.0.0.1:9");
	CHECK_INT(c.max_queued, 7);
	config_release(&c);
}

static void test_flag_errors(void)
{
	struct config c;
	char err[512];

	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--bogus", NULL }, err, sizeof err), CONFIG_ERROR);
	CHECK_MSG(strstr(err, "unknown option --bogus"), "%s", err);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--listen", NULL }, err, sizeof err), CONFIG_ERROR);
	CHECK_MSG(strstr(err, "--listen needs a value"), "%s", err);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--max-queued", "x", NULL }, err, sizeof err), CONFIG_ERROR);
	CHECK_MSG(strstr(err, "--max-queued x: expected an integer from 0 to 1000000"), "%s", err);
	setenv("SPAWND_HEARTBEAT", "20", 1);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", NULL }, err, sizeof err), CONFIG_ERROR);
	unsetenv("SPAWND_HEARTBEAT");
	CHECK_MSG(strstr(err, "SPAWND_HEARTBEAT=20: expected seconds"), "%s", err);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--config", "/nonexistent/spawnd.conf", NULL }, err, sizeof err),
		  CONFIG_ERROR);
	CHECK_MSG(strstr(err, "/nonexistent/spawnd.conf") && strstr(err, "No such file"), "%s", err);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--max-queued", "x", "--help", NULL }, err, sizeof err), CONFIG_HELP);
	CHECK_INT(load(&c, (const char *const[]){ "spawnd", "--version", NULL }, err, sizeof err), CONFIG_VERSION);
}

/* --help has one block per setting: its flag, then its variable, key and default. */
static void test_help_lists_every_setting(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f);
	config_usage(f);
	fclose(f);
	CHECK(config_count() >= 11);
	for (size_t i = 0; i < config_count(); i++) {
		const char *key, *flag, *env, *fallback;
		char head[128], tail[256];
		config_describe(i, &key, &flag, &env, &fallback);
		snprintf(head, sizeof head, "\n  %s ", flag);
		snprintf(tail, sizeof tail, "env %s, key \"%s\"", env, key);
		const char *block = strstr(text, head), *next = block ? strstr(block + 1, "\n  --") : NULL;
		const char *at = block ? strstr(block, tail) : NULL, *dflt = at ? strstr(at, ", default ") : NULL;
		CHECK_MSG(block && at && (!next || at < next), "--help has no block for %s: %s", flag, text);
		CHECK_MSG(dflt && strncmp(dflt + 10, fallback ? fallback : "none", strlen(fallback ? fallback : "none")) == 0,
			  "--help: %s does not show its default %s", flag, fallback ? fallback : "none");
	}
	free(text);
}

/* examples/spawnd.conf names every setting, each at its default. */
static void test_example_file_shows_every_default(void)
{
	struct config c, d;
	char err[512];

	enum config_result r = load(&c, (const char *const[]){ "spawnd", "--config", EXAMPLE, NULL }, err, sizeof err);
	CHECK_MSG(r == CONFIG_OK, "%s", err);
	CHECK(config_defaults(&d, err, sizeof err) == 0);
	for (size_t i = 0; i < config_count(); i++) {
		const char *key, *flag, *env, *fallback;
		config_describe(i, &key, &flag, &env, &fallback);
		CHECK_MSG(config_source_of(&c, key) == CONFIG_FILE, EXAMPLE " does not set \"%s\"", key);
	}
	CHECK_STR(c.listen, d.listen);
	CHECK_STR(c.state_dir, d.state_dir);
	CHECK_STR(c.store, d.store);
	CHECK_STR(c.log_level, d.log_level);
	CHECK(c.targets == d.targets && c.plugins == d.plugins && c.cors_origins == d.cors_origins);
	CHECK(c.max_running == d.max_running && c.max_queued == d.max_queued &&
	      c.max_connections == d.max_connections && c.heartbeat == d.heartbeat);
	config_release(&c);
	config_release(&d);
}

static void test_fd_budget(void)
{
	char msg[1024];
	long need = fd_budget_need(1024, 4096);

	CHECK_INT(need, FD_BUDGET_FIXED + 1 + 4096 + FD_BUDGET_PER_WORKER * 1024);
	/* Enough: nothing changes. */
	struct fd_budget b = { .open_files = need, .max_running = 1024, .max_connections = 4096 };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), 0);
	CHECK_INT(b.max_running, 1024);
	/* Defaults on a small limit: both lowered, to what fits, with the numbers. */
	b = (struct fd_budget){ .open_files = 1024, .max_running = 1024, .max_connections = 4096 };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), 1);
	CHECK_MSG(b.max_running >= 1 && b.max_connections >= FD_BUDGET_MIN_CONNECTIONS &&
		  fd_budget_need(b.max_running, b.max_connections) <= 1024, "fitted to %ld running, %ld connections",
		  b.max_running, b.max_connections);
	CHECK_MSG(strstr(msg, "open_files=1024") && strstr(msg, "max_running=1024") &&
		  strstr(msg, "max_running_used=") && strstr(msg, "raise"), "%s", msg);
	/* A given max_running is kept; the defaulted connections take the rest. */
	b = (struct fd_budget){ .open_files = 1024, .max_running = 100, .max_connections = 4096, .running_given = true };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), 1);
	CHECK_INT(b.max_running, 100);
	CHECK_INT(b.max_connections, 1024 - FD_BUDGET_FIXED - 1 - FD_BUDGET_PER_WORKER * 100);
	/* A given max_running that cannot fit is refused, saying what to raise. */
	b = (struct fd_budget){ .open_files = 1024, .max_running = 200, .max_connections = 4096, .running_given = true };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), -1);
	CHECK_MSG(strstr(msg, "is 1024") && strstr(msg, "max_running=200") && strstr(msg, "raise the hard limit"),
		  "%s", msg);
	/* Both given and too many: refused. */
	b = (struct fd_budget){ .open_files = 4096, .max_running = 8, .max_connections = 4096, .running_given = true,
				.connections_given = true };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), -1);
	/* A limit too small for even one worker: refused. */
	b = (struct fd_budget){ .open_files = 70, .max_running = 1024, .max_connections = 4096 };
	CHECK_INT(fd_budget_fit(&b, msg, sizeof msg), -1);
}

/* Sizes: bytes with a binary suffix, or a share of the file system where allowed. */
static void test_sizes(void)
{
	uint64_t b;
	double pct;
	CHECK_INT(config_parse_size("64M", false, &b, &pct), 0);
	CHECK_INT(b, 64 << 20);
	CHECK_INT(config_parse_size("1.5KiB", false, &b, &pct), 0);
	CHECK_INT(b, 1536);
	CHECK_INT(config_parse_size("0", false, &b, &pct), 0);
	CHECK_INT(b, 0);
	CHECK_INT(config_parse_size("5%", true, &b, &pct), 0);
	CHECK(pct == 5 && b == 0);
	CHECK_INT(config_parse_size("5%", false, &b, &pct), -1);
	CHECK_INT(config_parse_size("101%", true, &b, &pct), -1);
	CHECK_INT(config_parse_size("1.3", false, &b, &pct), -1);      /* not whole bytes */
	CHECK_INT(config_parse_size("12X", false, &b, &pct), -1);
	CHECK_INT(config_parse_size("-1M", false, &b, &pct), -1);
	CHECK_INT(config_parse_size("", false, &b, &pct), -1);
	struct config c;
	char err[512];
	const char *const words[] = { "spawnd", "--output-memory-cap", "lots", NULL };
	CHECK_INT(load(&c, words, err, sizeof err), CONFIG_ERROR);
	CHECK_MSG(strstr(err, "--output-memory-cap lots"), "%s", err);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_types);
	RUN(test_ranges);
	RUN(test_unknown_duplicate_and_malformed);
	RUN(test_precedence);
	RUN(test_config_from_env_and_unread_env);
	RUN(test_flag_errors);
	RUN(test_help_lists_every_setting);
	RUN(test_example_file_shows_every_default);
	RUN(test_fd_budget);
	RUN(test_sizes);
	return CHECK_EXIT();
}
