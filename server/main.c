/* main — spawnd's startup and shutdown.
 *
 * Order matters: settings (server/config.c), targets (and plugins) are loaded and the fork server
 * is forked while the process is still single-threaded; only then do threads
 * start (the engine loop, libmicrohttpd). Signals are blocked in every thread
 * and taken here with sigwaitinfo(): SIGTERM/SIGINT shut down gracefully,
 * SIGHUP reloads the targets file, the tokens file and the TLS certificate, SIGCHLD reaps. Only startup may exit on an
 * error.
 *
 * PID 1: spawnd's only child of its own is the fork server, itself a
 * subreaper of every worker's descendants. In a container spawnd is PID 1,
 * and what dies under other parents there (a `docker exec` shell's
 * background jobs, the fork server's children if it died) is reparented to
 * it: SIGCHLD reaps every child, so no zombie piles up; the fork server's
 * end is told to forkserver.c. No signal is forwarded: workers are signalled
 * by the engine only (SIGTERM/SIGINT start the shutdown below).
 *
 * Shutdown: the engine refuses new processes (503 shutting_down) while the
 * workers end, and the HTTP server keeps accepting meanwhile, so a client
 * gets that 503 (and can still read records and follow streams); only then
 * is the listening socket closed, the streams given a moment to send their
 * last lines (the exit line of each follow), and the store flushed and
 * closed (proc_release(): SQLite commits what is queued, checkpoints the WAL).
 *
 * `spawnd healthcheck [--SETTING VALUE]...` is the container's HEALTHCHECK:
 * it reads the settings as the server does (so SPAWND_LISTEN, --config, a
 * flag all name the same address), asks that address's /healthz, and exits
 * 0 or 1 (server/healthcheck.h); it starts nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "engine/forkserver.h"
#include "engine/pool.h"
#include "engine/proc.h"
#include "engine/store.h"
#include "engine/diskspace.h"
#include "handlers/health.h"
#include "handlers/objects.h"
#include "objects/objects.h"
#include "handlers/routes.h"
#include "handlers/targets.h"
#include "server/auth.h"
#include "engine/worker.h"
#include "server/config.h"
#include "server/fdbudget.h"
#include "server/healthcheck.h"
#include "server/http.h"
#include "server/origin.h"
#include "server/tls.h"
#include "lib/log.h"
#include "server/stream.h"
#include "server/worker_socket.h"
#include "targets/plugin.h"
#include "targets/registry.h"

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

/* fds 0-2 must be open, so no pipe or socket ever lands there. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			fatal("cannot open /dev/null for fd %d", fd);
}

/* The soft open-file limit raised to the hard one (a worker's fds are many:
 * the soft default of 1024 is far too few), then the settings fitted to it
 * (server/fdbudget.h): defaults lowered with a warning, given ones refused. */
static void fit_fd_budget(struct config *c)
{
	struct rlimit rl;
	char msg[1024];

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		fatal("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = { rl.rlim_max, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	struct fd_budget b = {
		.open_files = rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur,
		.max_running = c->max_running,
		.max_connections = c->max_connections,
		.running_given = config_source_of(c, "max_running") != CONFIG_DEFAULT,
		.connections_given = config_source_of(c, "max_connections") != CONFIG_DEFAULT,
	};
	int r = fd_budget_fit(&b, msg, sizeof msg);
	if (r < 0)
		fatal("%s", msg);
	if (r > 0)
		log_event(LOG_WARN, "fd budget: defaults lowered to fit the open-file limit", "%s", msg);
	c->max_running = b.max_running;
	c->max_connections = b.max_connections;
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

/* SPAWND_SOCKET (server/worker_socket.h): without it workers still reach the
 * objects through SPAWND_URL, so a socket that cannot be made is a warning. */
static void start_worker_socket(const char *state_dir)
{
	char err[1024];
	const char *path;
	int fd = worker_socket_open(state_dir, &path, err, sizeof err);
	if (fd >= 0 && http_start_local(fd, err, sizeof err) == 0) {
		worker_set_socket(path);
		return;
	}
	worker_socket_close();
	log_event(LOG_WARN, "workers reach the shared objects through SPAWND_URL only", "reason=\"%s\"", err);
}

/* The engine's thread, then libmicrohttpd's: requests go to the handlers'
 * route table from here on. */
static void start_serving(const struct config *c, const char **url)
{
	char err[1024];
	int r;
	uint64_t memory_cap, output_cap, min_free;
	double unused, min_free_percent;
	/* The texts were checked when the settings were read. */
	config_parse_size(c->output_memory_cap, false, &memory_cap, &unused);
	config_parse_size(c->output_cap_per_process, false, &output_cap, &unused);
	config_parse_size(c->min_free_space, true, &min_free, &min_free_percent);
	if (diskspace_init(c->state_dir, min_free, min_free_percent) < 0)
		fatal("out of memory");
	struct proc_config pc = {
		.state_dir = c->state_dir,
		.store = strcmp(c->store, "memory") == 0 ? &store_mem_ops : &store_sqlite_ops,
		.output_mem_cap = 1 << 20,
		.output_memory_cap = (size_t)memory_cap,
		.output_cap = output_cap,
		.max_running = (int)c->max_running,
		.max_queued = (int)c->max_queued,
		.drain_ms = 1000,
		.shutdown_ms = (int)(c->shutdown_timeout * 1000.0),
		.retention_count = c->retention_count,
		.retention_age_ms = (int64_t)(c->retention_age * 1000.0),
		.retention_interval_ms = (int64_t)(c->retention_interval * 1000.0),
	};
	if ((r = proc_init(&pc)) < 0)
		fatal("cannot start the process engine in %s: %s", c->state_dir, strerror(-r));
	if ((r = pool_init()) < 0)
		fatal("cannot start the pool thread: %s", strerror(-r));
	health_init();
	stream_set_heartbeat(c->heartbeat);
	struct objects_config oc = { .store = proc_store(), .heartbeat_s = c->heartbeat };
	if ((r = objects_init(&oc)) < 0)
		fatal("cannot take up the shared objects in %s: %s", c->state_dir, strerror(-r));
	objects_handlers_init(c->object_timeout);
	struct http_config hc = {
		.listen = c->listen,
		.dispatch = routes_dispatch,
		.admit = routes_admit,
		.threads = 2,
		.max_body = 1 << 20,
		.connection_limit = (unsigned)c->max_connections,
		.connection_limit_per_ip = (unsigned)c->max_connections_per_ip,
		.connection_timeout_s = (unsigned)(c->idle_timeout + 0.999),   /* whole seconds, rounded up */
		.cors_origins = c->cors_origins,
		.tls = tls_enabled(),
	};
	if (http_start(&hc, url, err, sizeof err) < 0)
		fatal("%s", err);
	worker_set_url(*url);   /* SPAWND_URL: the address actually bound */
	start_worker_socket(c->state_dir);
}

/* Reaps every child that has ended (SIGCHLD), retrying EINTR. */
static void reap_children(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (pid == forkserver_pid()) {
			forkserver_reaped();
			log_event(LOG_ERROR, "fork server exited", "pid=%d status=%d", (int)pid, status);
		} else
			log_event(LOG_DEBUG, "reaped an orphan", "pid=%d status=%d", (int)pid, status);
	}
}

/* `spawnd healthcheck ...`: argv[0] is the word healthcheck, then flags. */
static int healthcheck_main(int argc, char **argv)
{
	struct config c;
	char out[8192];

	switch (config_load(&c, argc, argv, out, sizeof out)) {
	case CONFIG_HELP:
	case CONFIG_VERSION:
		puts("usage: spawnd healthcheck [--SETTING VALUE]...\n"
		     "GET /healthz at the listen address the settings give (as the server reads them:\n"
		     "flags, SPAWND_* variables, --config file); exit 0 when it answers 200, else 1");
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "spawnd healthcheck: %s\n", out);
		return 1;
	case CONFIG_OK:
		break;
	}
	int r = healthcheck_run(c.listen, 5000, out, sizeof out);
	fprintf(r == 0 ? stdout : stderr, r == 0 ? "%s\n" : "spawnd healthcheck: %s\n", out);
	config_release(&c);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct config c;
	sigset_t sigs;
	char err[1024];
	const char *url;

	if (argc > 1 && strcmp(argv[1], "healthcheck") == 0)
		return healthcheck_main(argc - 1, argv + 1);
	switch (config_load(&c, argc, argv, err, sizeof err)) {
	case CONFIG_HELP:
		config_usage(stdout);
		puts("\nspawnd healthcheck [--SETTING VALUE]...: GET /healthz at the listen address these\n"
		     "settings give; exit 0 when it answers 200, else 1 (the container's HEALTHCHECK)");
		return 0;
	case CONFIG_VERSION:
		printf("spawnd %s\n", SPAWND_VERSION);
		return 0;
	case CONFIG_ERROR:
		fatal("%s", err);
	case CONFIG_OK:
		break;
	}
	log_set_level((enum log_level)log_parse_level(c.log_level));   /* one of the four: config checked it */
	ensure_std_fds();
	if (auth_init(c.tokens_file, c.listen, c.insecure, err, sizeof err) < 0 ||
	    origin_init(c.listen, c.allowed_hosts, err, sizeof err) < 0 ||
	    tls_init(c.tls_cert, c.tls_key, err, sizeof err) < 0)
		fatal("%s", err);
	if (c.idle_timeout <= c.heartbeat)
		fatal("--idle-timeout %g must exceed --heartbeat %g: a quiet live stream would be cut", c.idle_timeout,
		      c.heartbeat);
	make_dir(c.state_dir);
	fit_fd_budget(&c);
	if (c.plugins)
		load_plugins(c.plugins);     /* before the targets file: exec targets may not take their names */
	targets_file_init(c.targets);
	if (c.targets && targets_file_reload(err, sizeof err) < 0)
		fatal("%s", err);

	/* Still single-threaded: the fork server is a faithful copy of this process. */
	signal(SIGPIPE, SIG_IGN);
	int r = forkserver_start(c.plugins, err, sizeof err);
	if (r < 0)
		fatal("%s", err);

	/* From here on signals are events for this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	start_serving(&c, &url);
	printf("spawnd listening on %s\n", url);
	fflush(stdout);
	log_event(LOG_INFO, "started",
		  "version=%s listen=%s state_dir=\"%s\" store=%s max_running=%ld max_connections=%ld%s%s%s",
		  SPAWND_VERSION, url, c.state_dir, c.store, c.max_running, c.max_connections,
		  c.config ? " config=\"" : "", c.config ? c.config : "", c.config ? "\"" : "");

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&sigs, &si);
		if (sig == SIGHUP) {
			targets_file_reload(err, sizeof err);  /* logs; keeps the set on error */
			auth_reload();                          /* the same */
			tls_reload();                           /* the same */
			continue;
		}
		if (sig == SIGCHLD) {
			reap_children();
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_event(LOG_INFO, "shutting down", NULL);
	pool_shutdown();
	proc_shutdown();
	http_quiesce();
	objects_shutdown();     /* waiting requests are answered 503 */
	/* Every process has ended and every stream was woken to send its last
	 * lines: give them a moment to go out before connections are closed. */
	for (int i = 0; i < 200 && stream_count() > 0; i++)
		usleep(10 * 1000);
	http_stop_local();
	http_stop();
	worker_socket_close();
	tls_release();
	reap_children();        /* orphans that ended during the shutdown */
	forkserver_stop();
	pool_release();
	objects_release();
	proc_release();
	targets_release();
	config_release(&c);
	log_event(LOG_INFO, "stopped", NULL);
	return 0;
}
