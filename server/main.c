/* main — spawnd's startup and shutdown.
 *
 * Order matters: flags, targets (and plugins) are loaded and the fork server
 * is forked while the process is still single-threaded; only then do threads
 * start (the engine loop, libmicrohttpd). Signals are blocked in every thread
 * and taken here with sigwaitinfo(): SIGTERM/SIGINT shut down gracefully,
 * SIGHUP reloads the targets file. Only startup may exit on an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "engine/forkserver.h"
#include "engine/proc.h"
#include "engine/store.h"
#include "handlers/health.h"
#include "handlers/routes.h"
#include "handlers/targets.h"
#include "server/http.h"
#include "lib/log.h"
#include "server/stream.h"
#include "targets/plugin.h"
#include "targets/registry.h"

struct options {
	const char *listen, *state_dir, *targets, *plugins, *config, *log_level, *cors, *heartbeat;
	const char *max_running_text, *max_queued_text, *store;
	long max_running, max_queued;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: spawnd [--listen HOST:PORT] [--state-dir DIR] [--targets FILE] [--plugins DIR]\n"
		"              [--config FILE] [--log-level error|warn|info|debug] [--max-running N]\n"
		"              [--max-queued N] [--cors-origins ORIGIN,...] [--heartbeat SECONDS]\n"
		"              [--store sqlite|memory]\n"
		"              [--help] [--version]\n"
		"\n"
		"Runs registered targets as OS processes over HTTP (Python's multiprocessing, as a service).\n"
		"  --listen HOST:PORT   address to serve (default 127.0.0.1:8080; port 0 picks a free port)\n"
		"  --state-dir DIR      where records and spilled output live (default ./var)\n"
		"  --targets FILE       exec targets declared in a JSON file (reloaded on SIGHUP)\n"
		"  --plugins DIR        C plugin targets: every *.so in DIR (see include/spawnd_target.h)\n"
		"  --config FILE        further settings\n"
		"  --log-level LEVEL    error, warn, info (default) or debug; logs go to stderr\n"
		"  --max-running N      workers running at once before new ones queue (default 1024)\n"
		"  --max-queued N       processes waiting for a slot before new ones get 429 (default 4096)\n"
		"  --cors-origins LIST  origins allowed to call the API from a browser, comma-separated\n"
		"                       (e.g. http://localhost:3000); CORS is off without it\n"
		"  --heartbeat SECONDS  heartbeat interval of live streams (default 15)\n"
		"  --store KIND         sqlite (default: records in DIR/spawnd.db, output in DIR/output,\n"
		"                       kept across restarts) or memory (nothing survives a restart)\n"
		"Each flag has an environment form: SPAWND_LISTEN, SPAWND_STATE_DIR, SPAWND_TARGETS,\n"
		"SPAWND_PLUGINS, SPAWND_CONFIG, SPAWND_LOG_LEVEL, SPAWND_MAX_RUNNING, SPAWND_MAX_QUEUED,\n"
		"SPAWND_CORS_ORIGINS, SPAWND_HEARTBEAT, SPAWND_STORE.\n");
}

static void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("spawnd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* A count flag's value from min to 1000000; fallback when text is NULL. */
static long parse_count(const char *flag, const char *text, long min, long fallback)
{
	char *end;
	long n;

	if (!text)
		return fallback;
	n = strtol(text, &end, 10);
	if (!*text || *end || n < min || n > 1000000)
		fatal("%s %s: expected a number from %ld to 1000000", flag, text, min);
	return n;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct { const char *flag, *env; size_t offset; } string_flags[] = {
		{ "--listen", "SPAWND_LISTEN", offsetof(struct options, listen) },
		{ "--state-dir", "SPAWND_STATE_DIR", offsetof(struct options, state_dir) },
		{ "--targets", "SPAWND_TARGETS", offsetof(struct options, targets) },
		{ "--plugins", "SPAWND_PLUGINS", offsetof(struct options, plugins) },
		{ "--config", "SPAWND_CONFIG", offsetof(struct options, config) },
		{ "--log-level", "SPAWND_LOG_LEVEL", offsetof(struct options, log_level) },
		{ "--cors-origins", "SPAWND_CORS_ORIGINS", offsetof(struct options, cors) },
		{ "--heartbeat", "SPAWND_HEARTBEAT", offsetof(struct options, heartbeat) },
		{ "--max-running", "SPAWND_MAX_RUNNING", offsetof(struct options, max_running_text) },
		{ "--max-queued", "SPAWND_MAX_QUEUED", offsetof(struct options, max_queued_text) },
		{ "--store", "SPAWND_STORE", offsetof(struct options, store) },
	};
	const size_t nflags = sizeof string_flags / sizeof string_flags[0];

	for (size_t i = 0; i < nflags; i++)
		*(const char **)((char *)o + string_flags[i].offset) = getenv(string_flags[i].env);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			printf("spawnd %s\n", SPAWND_VERSION);
			exit(0);
		}
		size_t flag_len = strcspn(a, "=");
		if (a[flag_len] == '=')
			value = a + flag_len + 1;
		else if (i + 1 < argc)
			value = argv[i + 1];
		bool known = false;
		for (size_t f = 0; f < nflags && !known; f++)
			if (strlen(string_flags[f].flag) == flag_len && strncmp(a, string_flags[f].flag, flag_len) == 0) {
				if (!value)
					fatal("%s needs a value (see --help)", string_flags[f].flag);
				*(const char **)((char *)o + string_flags[f].offset) = value;
				known = true;
			}
		if (!known)
			fatal("unknown option %s (see --help)", a);
		if (a[flag_len] != '=')
			i++;
	}
	if (!o->listen)
		o->listen = "127.0.0.1:8080";
	if (!o->state_dir)
		o->state_dir = "./var";
	if (!o->log_level)
		o->log_level = "info";
	o->max_running = parse_count("--max-running", o->max_running_text, 1, 1024);
	o->max_queued = parse_count("--max-queued", o->max_queued_text, 0, 4096);
	if (!o->store)
		o->store = "sqlite";
	if (strcmp(o->store, "sqlite") != 0 && strcmp(o->store, "memory") != 0)
		fatal("--store %s: expected sqlite or memory", o->store);
}

/* fds 0-2 must be open, so no pipe or socket ever lands there. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			fatal("cannot open /dev/null for fd %d", fd);
}

/* Each running worker costs up to 4 fds (stdout, stderr, stdin, pidfd). */
static long fd_budget(long max_running)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	/* Kept for connections, spill files and libraries: a quarter of the
	 * limit, between 32 and 1024. */
	long limit = (long)rl.rlim_cur, reserve = limit / 4;
	reserve = reserve < 32 ? 32 : reserve > 1024 ? 1024 : reserve;
	long fit = (limit - reserve) / 4;
	if (fit < 1)
		fatal("the open-file limit (%ld) is too low to run any worker; raise ulimit -n", (long)rl.rlim_cur);
	if (fit < max_running) {
		log_event(LOG_WARN, "fd budget", "max_running=%ld open_files=%ld reduced_to=%ld", max_running,
			  limit, fit);
		return fit;
	}
	return max_running;
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		fatal("--state-dir %s: %s", path, strerror(errno));
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		fatal("--state-dir %s: not a directory", path);
}

/* dlopen()s the plugins while single-threaded: the fork server inherits them. */
static void load_plugins(const char *dir)
{
	char err[1024];
	size_t count;
	int r = plugin_load_dir(dir, err, sizeof err);
	if (r < 0)
		fatal("--plugins %s", err);
	plugin_targets(&count);
	log_event(LOG_INFO, "plugins loaded", "dir=\"%s\" targets=%zu", dir, count);
}

/* The engine's thread, then libmicrohttpd's: requests go to the handlers'
 * route table from here on. */
static void start_serving(const struct options *o, long max_running, const char **url)
{
	char err[1024];
	int r;
	struct proc_config pc = {
		.state_dir = o->state_dir,
		.store = strcmp(o->store, "memory") == 0 ? &store_mem_ops : &store_sqlite_ops,
		.output_mem_cap = 1 << 20,
		.max_running = (int)max_running,
		.max_queued = (int)o->max_queued,
		.drain_ms = 1000,
		.shutdown_ms = 3000,
	};
	if ((r = proc_init(&pc)) < 0)
		fatal("cannot start the process engine in %s: %s", o->state_dir, strerror(-r));
	health_init();
	if (o->heartbeat) {
		char *end;
		double hb = strtod(o->heartbeat, &end);
		if (!*o->heartbeat || *end || !(hb >= 0.05 && hb <= 15))
			fatal("--heartbeat %s: expected seconds from 0.05 to 15", o->heartbeat);
		stream_set_heartbeat(hb);
	}
	if (o->cors && strchr(o->cors, '*'))
		fatal("--cors-origins %s: list the origins; \"*\" is never allowed", o->cors);
	struct http_config hc = {
		.listen = o->listen,
		.dispatch = routes_dispatch,
		.threads = 2,
		.max_body = 1 << 20,
		.connection_limit = 4096,
		.connection_timeout_s = 120,
		.cors_origins = o->cors,
	};
	if (http_start(&hc, url, err, sizeof err) < 0)
		fatal("%s", err);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	sigset_t sigs;
	char err[1024];
	const char *url;

	parse_options(argc, argv, &o);
	int level = log_parse_level(o.log_level);
	if (level < 0)
		fatal("--log-level %s: expected error, warn, info or debug", o.log_level);
	log_set_level((enum log_level)level);
	if (o.config)
		fatal("--config: a configuration file is not supported by this build yet");
	ensure_std_fds();
	make_dir(o.state_dir);
	long max_running = fd_budget(o.max_running);
	if (o.plugins)
		load_plugins(o.plugins);     /* before the targets file: exec targets may not take their names */
	targets_file_init(o.targets);
	if (o.targets && targets_file_reload(err, sizeof err) < 0)
		fatal("%s", err);

	/* Still single-threaded: the fork server is a faithful copy of this process. */
	signal(SIGPIPE, SIG_IGN);
	int r = forkserver_start(o.plugins, err, sizeof err);
	if (r < 0)
		fatal("%s", err);

	/* From here on signals are events for this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	start_serving(&o, max_running, &url);
	printf("spawnd listening on %s\n", url);
	fflush(stdout);
	log_event(LOG_INFO, "started", "version=%s listen=%s state_dir=\"%s\" store=%s max_running=%ld",
		  SPAWND_VERSION, url, o.state_dir, o.store, max_running);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&sigs, &si);
		if (sig == SIGHUP) {
			targets_file_reload(err, sizeof err);  /* logs; keeps the set on error */
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_event(LOG_INFO, "shutting down", NULL);
	http_quiesce();
	proc_shutdown();
	/* Every process has ended and every stream was woken to send its last
	 * lines: give them a moment to go out before connections are closed. */
	for (int i = 0; i < 200 && stream_count() > 0; i++)
		usleep(10 * 1000);
	http_stop();
	forkserver_stop();
	proc_release();
	targets_release();
	log_event(LOG_INFO, "stopped", NULL);
	return 0;
}
