/* harness — the real spawnd over real HTTP, for the API tests.
 *
 * Servers run as children of the test binary (fork + exec, async-signal-safe
 * calls only in between). The first stdout line tells the port; the rest of stdout
 * is read and dropped by a detached thread so the server never blocks on a
 * full pipe. Every server and response is kept on a list until it is freed, and
 * an atexit handler kills what is left: a case that stops at a failed CHECK
 * must not leave a spawnd running or fail the next binary.
 *
 * One libcurl easy handle per server keeps its connection alive across
 * requests (the 1,000-worker and 256-exit-code cases make thousands of them).
 * The harness is meant for a single test thread.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

extern char **environ;

#define START_DEADLINE_S 10.0
#define STOP_DEADLINE_S 10.0
#define HTTP_TIMEOUT_S 60L
#define BODY_CAP ((size_t)256 << 20)
#define LISTEN_PREFIX "spawnd listening on "

struct server {
	pid_t pid;
	bool reaped;
	char root[PATH_MAX];
	char url[128];
	CURL *curl;
	struct server *next;
	char *targets, *extra;          /* as started: server_restart() starts it so again */
};

/* A response plus its place on the list of live responses. */
struct tracked_resp {
	struct resp r;
	size_t body_cap;
	char *headers;          /* the response header lines, for the recording */
	size_t headers_len, headers_cap;
	struct tracked_resp *prev, *next;
};

static bool live_grow(char **buf, size_t *cap, size_t need);
static void record_response(const char *method, const char *full_path, long status, const char *content_type,
			    const char *headers, const cJSON *json, const char *body, size_t len, bool complete);

static struct tracked_resp *tracked(struct resp *r)
{
	return (struct tracked_resp *)((char *)r - offsetof(struct tracked_resp, r));
}

static struct server *live_servers;
static struct tracked_resp *live_resps;
static bool initialized;

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *root)
{
	if (getenv("SPAWND_KEEP")) {
		fprintf(stderr, "harness: kept %s\n", root);
		return;
	}
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void unlink_server(struct server *srv)
{
	for (struct server **p = &live_servers; *p; p = &(*p)->next) {
		if (*p == srv) {
			*p = srv->next;
			return;
		}
	}
}

static void harness_exit(void)
{
	while (live_resps)
		resp_free(&live_resps->r);
	while (live_servers) {
		struct server *srv = live_servers;
		if (!srv->reaped) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, NULL, 0);
		}
		fprintf(stderr, "harness: killed leftover server, kept %s\n", srv->root);
		unlink_server(srv);
		curl_easy_cleanup(srv->curl);
		free(srv);
	}
	curl_global_cleanup();
}

static void harness_init(void)
{
	if (initialized)
		return;
	initialized = true;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atexit(harness_exit);
}

/* ---- starting and stopping ---- */

static void *drain_stdout(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		break;
	}
	close(fd);
	return NULL;
}

char *server_log(const struct server *srv)
{
	char path[PATH_MAX + 16];
	FILE *f;
	char *text = NULL;
	size_t len = 0;

	snprintf(path, sizeof path, "%s/spawnd.log", srv->root);
	f = fopen(path, "re");
	if (!f)
		return strdup("");
	for (;;) {
		char buf[8192];
		size_t n = fread(buf, 1, sizeof buf, f);
		char *grown;
		if (n == 0)
			break;
		grown = realloc(text, len + n + 1);
		if (!grown)
			break;
		text = grown;
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(f);
	if (!text)
		return strdup("");
	text[len] = '\0';
	return text;
}

static void print_log_tail(const struct server *srv)
{
	char *log = server_log(srv);
	size_t len = strlen(log);
	const char *tail = len > 6000 ? log + len - 6000 : log;

	fprintf(stderr, "---- %s/spawnd.log (tail) ----\n%s---- end of log ----\n", srv->root, tail);
	free(log);
}

/* Reads the first stdout line within the deadline. 0, or -1 with why. */
static int read_first_line(int fd, char *line, size_t cap, char *why, size_t why_len)
{
	double deadline = now_s() + START_DEADLINE_S;
	size_t used = 0;

	while (used + 1 < cap) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left_ms = (int)((deadline - now_s()) * 1000);
		ssize_t n;

		if (left_ms <= 0) {
			snprintf(why, why_len, "no listening line within %.0f s", START_DEADLINE_S);
			return -1;
		}
		if (poll(&pfd, 1, left_ms) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, why_len, "poll: %s", strerror(errno));
			return -1;
		}
		if (!pfd.revents)
			continue;
		/* One byte at a time: what follows the line belongs to the drain thread. */
		n = read(fd, line + used, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, why_len, "stdout closed before the listening line");
			return -1;
		}
		if (line[used] == '\n') {
			line[used] = '\0';
			return 0;
		}
		used++;
	}
	snprintf(why, why_len, "first stdout line too long");
	return -1;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		rc = -EIO;
	if (fclose(f) != 0)
		rc = -EIO;
	return rc;
}

/* server_start_bare(): no --listen, --state-dir or --log-level of the harness's own. */
static bool bare_argv;

static char **build_argv(const char *root, const char *targets, const char *extra, char **extra_copy)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char state[PATH_MAX + 16];
	size_t n = 0, cap = 16;
	char **argv;

	snprintf(state, sizeof state, "%s/state", root);
	*extra_copy = extra ? strdup(extra) : NULL;
	if (*extra_copy) {
		for (const char *p = *extra_copy; *p; p++)
			cap += *p == ' ';
	}
	argv = calloc(cap, sizeof *argv);
	if (!argv)
		return NULL;
	argv[n++] = strdup(bin);
	if (!bare_argv) {
		argv[n++] = strdup("--listen");
		argv[n++] = strdup("127.0.0.1:0");
		argv[n++] = strdup("--state-dir");
		argv[n++] = strdup(state);
		argv[n++] = strdup("--log-level");
		argv[n++] = strdup("warn");
	}
	if (targets) {
		argv[n++] = strdup("--targets");
		argv[n++] = strdup(targets);
	}
	if (*extra_copy) {
		char *save = NULL;
		for (char *word = strtok_r(*extra_copy, " ", &save); word; word = strtok_r(NULL, " ", &save))
			argv[n++] = strdup(word);
	}
	return argv;
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* fork + exec rather than posix_spawn: glibc's posix_spawn sets its internal
 * signals (32, 33) to SIG_IGN in the child of a threaded parent, and spawnd
 * (and its workers) would inherit that. The child only makes async-signal-safe
 * calls: it resets every disposition and the mask, wires fds 0-2 and execs. */
static pid_t spawn_server(char **argv, int out_fd, int log_fd)
{
	static const char exec_failed[] = "harness: cannot exec the spawnd binary (build it, or set SPAWND_BIN)\n";
	struct sigaction dfl;
	sigset_t none;
	pid_t pid;

	if (access(argv[0], X_OK) != 0) {
		fprintf(stderr, "harness: cannot run %s: %s (build it with make, or set SPAWND_BIN)\n",
			argv[0], strerror(errno));
		return -1;
	}
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&none);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		execve(argv[0], argv, environ);
		if (write(2, exec_failed, sizeof exec_failed - 1) < 0)
			_exit(127);
		_exit(127);
	}
	return pid;
}

/* Starts spawnd in srv->root (its log appended to) and reads its URL. 0, or
 * -1 with why printed (srv is then off the live list, not freed). */
static int launch(struct server *srv, const char *targets, const char *extra_args)
{
	char path[PATH_MAX + 16], line[512], why[256];
	char **argv = NULL, *extra_copy = NULL;
	int out[2] = { -1, -1 }, log_fd = -1;
	pthread_t thread;
	pthread_attr_t tattr;

	snprintf(path, sizeof path, "%s/spawnd.log", srv->root);
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0 || pipe2(out, O_CLOEXEC) != 0) {
		fprintf(stderr, "harness: log or pipe: %s\n", strerror(errno));
		goto fail;
	}
	argv = build_argv(srv->root, targets, extra_args, &extra_copy);
	if (!argv)
		goto fail;
	srv->reaped = false;
	srv->pid = spawn_server(argv, out[1], log_fd);
	close(out[1]);
	out[1] = -1;
	close(log_fd);
	log_fd = -1;
	if (srv->pid < 0)
		goto fail;
	srv->next = live_servers;
	live_servers = srv;
	srv->curl = curl_easy_init();
	if (read_first_line(out[0], line, sizeof line, why, sizeof why) != 0) {
		fprintf(stderr, "harness: spawnd did not start: %s\n", why);
		goto fail_running;
	}
	if ((strncmp(line, LISTEN_PREFIX "http://127.0.0.1:", strlen(LISTEN_PREFIX "http://127.0.0.1:")) != 0 &&
	     strncmp(line, LISTEN_PREFIX "https://127.0.0.1:", strlen(LISTEN_PREFIX "https://127.0.0.1:")) != 0) ||
	    strlen(line) >= sizeof srv->url + strlen(LISTEN_PREFIX)) {
		fprintf(stderr, "harness: unexpected first stdout line \"%s\"\n", line);
		goto fail_running;
	}
	snprintf(srv->url, sizeof srv->url, "%.100s", line + strlen(LISTEN_PREFIX));
	pthread_attr_init(&tattr);
	pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &tattr, drain_stdout, (void *)(intptr_t)out[0]) != 0)
		close(out[0]);
	pthread_attr_destroy(&tattr);
	free_argv(argv);
	free(extra_copy);
	return 0;

fail_running:
	print_log_tail(srv);
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, NULL, 0);
	srv->reaped = true;
	unlink_server(srv);
	curl_easy_cleanup(srv->curl);
	srv->curl = NULL;
fail:
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (log_fd >= 0)
		close(log_fd);
	free_argv(argv);
	free(extra_copy);
	return -1;
}

static void free_server(struct server *srv)
{
	free(srv->targets);
	free(srv->extra);
	free(srv);
}

struct server *server_start_targets(const char *targets_json, const char *extra_args)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char targets[PATH_MAX + 16], path[PATH_MAX + 16];
	struct server *srv;

	harness_init();
	srv = calloc(1, sizeof *srv);
	if (!srv)
		return NULL;
	snprintf(srv->root, sizeof srv->root, "%s/spawnd-test.XXXXXX", tmp);
	if (!mkdtemp(srv->root)) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", srv->root, strerror(errno));
		free(srv);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/state", srv->root);
	mkdir(path, 0700);
	snprintf(targets, sizeof targets, "%s/targets.json", srv->root);
	if (targets_json && write_file(targets, targets_json) != 0) {
		fprintf(stderr, "harness: cannot write %s\n", targets);
		goto fail;
	}
	srv->targets = targets_json ? strdup(targets) : NULL;
	srv->extra = extra_args ? strdup(extra_args) : NULL;
	if (launch(srv, srv->targets, srv->extra) == 0)
		return srv;
fail:
	fprintf(stderr, "harness: kept %s\n", srv->root);
	free_server(srv);
	return NULL;
}

int server_restart(struct server *srv, int sig)
{
	int status;
	kill(srv->pid, sig);
	while (waitpid(srv->pid, &status, 0) < 0 && errno == EINTR)
		;
	srv->reaped = true;
	unlink_server(srv);
	curl_easy_cleanup(srv->curl);
	srv->curl = NULL;
	return launch(srv, srv->targets, srv->extra);
}

struct server *server_start(const char *extra_args)
{
	return server_start_targets(NULL, extra_args);
}

struct server *server_start_bare(const char *args)
{
	bare_argv = true;
	struct server *srv = server_start_targets(NULL, args);
	bare_argv = false;
	return srv;
}

static bool log_has_sanitizer_report(const struct server *srv)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
		"WARNING: ThreadSanitizer", "ERROR: MemorySanitizer",
	};
	char *log = server_log(srv);
	bool found = false;

	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
		found = found || strstr(log, marks[i]) != NULL;
	free(log);
	return found;
}

int server_stop(struct server *srv, char *why, size_t why_len)
{
	pid_t before[4096];
	int nbefore, status = 0, rc = 0;
	double deadline;
	char scratch[16];

	if (!why || why_len == 0) {
		why = scratch;
		why_len = sizeof scratch;
	}
	why[0] = '\0';
	if (!srv) {
		snprintf(why, why_len, "no server");
		return -1;
	}
	nbefore = proc_descendants(srv->pid, before, (int)(sizeof before / sizeof before[0]), NULL);
	if (nbefore > (int)(sizeof before / sizeof before[0]))
		nbefore = (int)(sizeof before / sizeof before[0]);
	kill(srv->pid, SIGTERM);
	deadline = now_s() + STOP_DEADLINE_S;
	for (;;) {
		pid_t w = waitpid(srv->pid, &status, WNOHANG);
		if (w == srv->pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(why, why_len, "waitpid: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (now_s() > deadline) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, &status, 0);
			snprintf(why, why_len, "spawnd did not exit within %.0f s of SIGTERM", STOP_DEADLINE_S);
			rc = -1;
			break;
		}
		sleep_s(0.01);
	}
	srv->reaped = true;
	if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		snprintf(why, why_len, "spawnd exited with status %d after SIGTERM", WEXITSTATUS(status));
		rc = -1;
	} else if (rc == 0 && WIFSIGNALED(status)) {
		snprintf(why, why_len, "spawnd died of signal %d after SIGTERM", WTERMSIG(status));
		rc = -1;
	}
	if (rc == 0 && log_has_sanitizer_report(srv)) {
		snprintf(why, why_len, "sanitizer report in %s/spawnd.log", srv->root);
		rc = -1;
	}
	/* Whatever spawnd ran must not outlive it (daemon or not). */
	if (!pids_gone(before, nbefore, 3.0)) {
		int left = 0;
		for (int i = 0; i < nbefore; i++) {
			if (pid_alive(before[i])) {
				left++;
				kill(before[i], SIGKILL);
			}
		}
		if (rc == 0)
			snprintf(why, why_len, "%d of spawnd's processes still running 3 s after it exited", left);
		rc = -1;
	}
	if (rc != 0) {
		fprintf(stderr, "harness: server_stop: %s\n", why);
		print_log_tail(srv);
		fprintf(stderr, "harness: kept %s\n", srv->root);
	} else {
		remove_tree(srv->root);
	}
	unlink_server(srv);
	curl_easy_cleanup(srv->curl);
	free_server(srv);
	return rc;
}

pid_t server_pid(const struct server *srv)
{
	return srv->pid;
}

const char *server_url(const struct server *srv)
{
	return srv->url;
}

const char *server_root(const struct server *srv)
{
	return srv->root;
}

/* ---- HTTP ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct resp *r = userdata;
	struct tracked_resp *t = tracked(r);
	size_t n = size * nmemb;

	if (r->len + n + 1 > BODY_CAP)
		return 0;
	/* Doubling: a 10 MB body must not be copied once per chunk. */
	if (r->len + n + 1 > t->body_cap) {
		size_t cap = t->body_cap ? t->body_cap : 16384;
		char *grown;
		while (cap < r->len + n + 1)
			cap *= 2;
		grown = realloc(r->body, cap);
		if (!grown)
			return 0;
		r->body = grown;
		t->body_cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copies the value of header line "Name: value" into dst when the name matches. */
static void take_header(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

static void keep_header_line(struct tracked_resp *t, const char *data, size_t n)
{
	if (!live_grow(&t->headers, &t->headers_cap, t->headers_len + n + 1))
		return;
	memcpy(t->headers + t->headers_len, data, n);
	t->headers_len += n;
	t->headers[t->headers_len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct resp *r = userdata;
	size_t n = size * nmemb;

	/* A new status line (after a 100 Continue) starts a new set of headers. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->content_type[0] = r->allow[0] = r->location[0] = r->retry_after[0] = '\0';
		tracked(r)->headers_len = 0;
		return n;
	}
	keep_header_line(tracked(r), data, n);
	take_header(data, n, "Content-Type", r->content_type, sizeof r->content_type);
	take_header(data, n, "Allow", r->allow, sizeof r->allow);
	take_header(data, n, "Location", r->location, sizeof r->location);
	take_header(data, n, "Retry-After", r->retry_after, sizeof r->retry_after);
	return n;
}

static struct resp *resp_new(const char *method, const char *path)
{
	struct tracked_resp *t = calloc(1, sizeof *t);

	if (!t) {
		fprintf(stderr, "harness: out of memory\n");
		abort();
	}
	t->next = live_resps;
	if (live_resps)
		live_resps->prev = t;
	live_resps = t;
	snprintf(t->r.method, sizeof t->r.method, "%s", method);
	snprintf(t->r.path, sizeof t->r.path, "%s", path);
	return &t->r;
}

void resp_free(struct resp *r)
{
	struct tracked_resp *t;

	if (!r)
		return;
	t = tracked(r);
	if (t->prev)
		t->prev->next = t->next;
	else
		live_resps = t->next;
	if (t->next)
		t->next->prev = t->prev;
	cJSON_Delete(r->json);
	free(r->body);
	free(t->headers);
	free(t);
}

struct resp *http_len(struct server *srv, const char *method, const char *path,
		      const char *content_type, const char *body, size_t len, const char *accept)
{
	struct resp *r = resp_new(method, path);
	struct curl_slist *headers = NULL;
	char url[sizeof srv->url + 4096], header[256];
	CURL *c = srv->curl;
	CURLcode rc;
	double start;

	snprintf(url, sizeof url, "%s%s", srv->url, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	headers = curl_slist_append(headers, "Expect:");
	if (content_type) {
		snprintf(header, sizeof header, "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, header);
	} else {
		headers = curl_slist_append(headers, "Content-Type:");
	}
	if (accept) {
		snprintf(header, sizeof header, "Accept: %s", accept);
		headers = curl_slist_append(headers, header);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	start = now_s();
	rc = curl_easy_perform(c);
	r->seconds = now_s() - start;
	curl_slist_free_all(headers);
	if (rc != CURLE_OK)
		snprintf(r->error, sizeof r->error, "(curl: %s)", curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (!r->body)
		r->body = calloc(1, 1);
	if (strncasecmp(r->content_type, "application/json", 16) == 0)
		r->json = cJSON_ParseWithLength(r->body, r->len);
	record_response(r->method, r->path, r->status, r->content_type, tracked(r)->headers, r->json,
			r->body, r->len, true);
	return r;
}

struct resp *http(struct server *srv, const char *method, const char *path,
		  const char *content_type, const char *body, const char *accept)
{
	return http_len(srv, method, path, content_type, body, body ? strlen(body) : 0, accept);
}

struct resp *get(struct server *srv, const char *path_fmt, ...)
{
	char path[4096];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof path, path_fmt, ap);
	va_end(ap);
	return http(srv, "GET", path, NULL, NULL, NULL);
}

struct resp *del(struct server *srv, const char *path_fmt, ...)
{
	char path[4096];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof path, path_fmt, ap);
	va_end(ap);
	return http(srv, "DELETE", path, NULL, NULL, NULL);
}

struct resp *post_json(struct server *srv, const char *path, const char *body)
{
	return http(srv, "POST", path, "application/json", body, NULL);
}

struct resp *postf(struct server *srv, const char *body, const char *path_fmt, ...)
{
	char path[4096];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof path, path_fmt, ap);
	va_end(ap);
	return post_json(srv, path, body);
}

struct resp *spawn(struct server *srv, const char *json_body, double wait_s)
{
	char path[64];

	if (wait_s >= 0)
		snprintf(path, sizeof path, "/processes?wait=%g", wait_s);
	else
		snprintf(path, sizeof path, "/processes");
	return post_json(srv, path, json_body);
}

struct resp *join(struct server *srv, const char *id, double timeout_s)
{
	char path[512];

	if (timeout_s >= 0)
		snprintf(path, sizeof path, "/processes/%s/join?timeout=%g", id ? id : "(null)", timeout_s);
	else
		snprintf(path, sizeof path, "/processes/%s/join", id ? id : "(null)");
	return post_json(srv, path, NULL);
}

struct resp *output_raw(struct server *srv, const char *id, const char *stream)
{
	char path[512];

	snprintf(path, sizeof path, "/processes/%s/output?stream=%s", id ? id : "(null)", stream);
	return http(srv, "GET", path, NULL, NULL, "application/octet-stream");
}

int (process_count)(struct server *srv)
{
	struct resp *r = get(srv, "/processes?limit=1000");
	cJSON *list = cJSON_GetObjectItemCaseSensitive(r->json, "processes");
	int n = r->status == 200 && cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;

	resp_free(r);
	return n;
}

bool server_healthy(struct server *srv)
{
	struct resp *r = get(srv, "/healthz");
	bool ok = r->status == 200 && jstr(r->json, "status") && strcmp(jstr(r->json, "status"), "ok") == 0;

	resp_free(r);
	return ok;
}

/* ---- JSON ---- */

const char *jstr(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

long long jint(const cJSON *obj, const char *key, long long fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v) || !(v->valuedouble > -9e18 && v->valuedouble < 9e18) ||
	    v->valuedouble != (double)(long long)v->valuedouble)
		return fallback;
	return (long long)v->valuedouble;
}

double jnum(const cJSON *obj, const char *key, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

bool jis_null(const cJSON *obj, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key));
}

bool jis_true(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

bool jis_false(const cJSON *obj, const char *key)
{
	return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static const cJSON *err_obj(const struct resp *r)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");

	return cJSON_IsObject(e) ? e : NULL;
}

const char *err_code(const struct resp *r)
{
	return jstr(err_obj(r), "code");
}

const char *err_message(const struct resp *r)
{
	return jstr(err_obj(r), "message");
}

static bool details_match(const struct resp *r, const char *text, bool prefix)
{
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(err_obj(r), "details");
	const cJSON *d;

	cJSON_ArrayForEach(d, details) {
		const char *field = jstr(d, "field");
		if (!field)
			continue;
		if (prefix ? strncmp(field, text, strlen(text)) == 0 : strcmp(field, text) == 0)
			return true;
	}
	return false;
}

bool err_has_field(const struct resp *r, const char *field)
{
	return details_match(r, field, false);
}

bool err_has_field_prefix(const struct resp *r, const char *prefix)
{
	return details_match(r, prefix, true);
}

char *url_escape(const char *s)
{
	char *escaped = curl_easy_escape(NULL, s, 0);
	char *copy = escaped ? strdup(escaped) : NULL;

	curl_free(escaped);
	return copy;
}

bool id_valid(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	}
	return true;
}

bool rfc3339_ms(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (!s || strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	}
	return true;
}

int ndjson_parse(const char *body, size_t len, cJSON ***lines)
{
	size_t cap = 16;
	int n = 0;
	const char *p = body, *end = body + len;

	*lines = calloc(cap, sizeof **lines);
	while (*lines && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		cJSON *item;

		if (stop > p) {
			item = cJSON_ParseWithLength(p, (size_t)(stop - p));
			if (!cJSON_IsObject(item)) {
				cJSON_Delete(item);
				ndjson_free(*lines, n);
				*lines = NULL;
				return -1;
			}
			if ((size_t)n + 1 >= cap) {
				cJSON **grown = realloc(*lines, cap * 2 * sizeof **lines);
				if (!grown) {
					cJSON_Delete(item);
					break;
				}
				*lines = grown;
				cap *= 2;
			}
			(*lines)[n++] = item;
		}
		p = stop + 1;
	}
	return *lines ? n : -1;
}

void ndjson_free(cJSON **lines, int n)
{
	if (!lines)
		return;
	for (int i = 0; i < n; i++)
		cJSON_Delete(lines[i]);
	free(lines);
}

/* ---- /proc ---- */

struct proc_entry {
	pid_t pid, ppid;
	char state;
};

const char *proc_stat_fields(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	const char *close_paren = strrchr(buf, ')');    /* comm may hold spaces and ')' */
	return close_paren ? close_paren + 1 : NULL;
}

pid_t proc_parent(pid_t pid)
{
	char buf[1024];
	const char *f = proc_stat_fields(pid, buf, sizeof buf);
	int ppid;
	return f && sscanf(f, " %*c %d", &ppid) == 1 ? ppid : -1;
}

/* Reads "pid (comm) S ppid" from /proc/PID/stat. */
static int read_stat(pid_t pid, struct proc_entry *e)
{
	char buf[1024];
	const char *f = proc_stat_fields(pid, buf, sizeof buf);
	int ppid;

	if (!f || sscanf(f, " %c %d", &e->state, &ppid) != 2)
		return -1;
	e->pid = pid;
	e->ppid = ppid;
	return 0;
}

int proc_descendants(pid_t root, pid_t *pids, int max, int *zombies)
{
	struct proc_entry *all = NULL;
	bool *in_tree = NULL;
	size_t n = 0, cap = 0;
	int count = 0, zombie_total = 0;
	DIR *dir = opendir("/proc");
	struct dirent *de;
	bool grew;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		struct proc_entry e;
		if (!isdigit((unsigned char)de->d_name[0]) || read_stat(atoi(de->d_name), &e) != 0)
			continue;
		if (n == cap) {
			struct proc_entry *grown = realloc(all, (cap ? cap * 2 : 256) * sizeof *all);
			if (!grown)
				break;
			all = grown;
			cap = cap ? cap * 2 : 256;
		}
		all[n++] = e;
	}
	closedir(dir);
	in_tree = calloc(n ? n : 1, sizeof *in_tree);
	/* Add children of the tree until nothing changes (the tree is shallow). */
	do {
		grew = false;
		for (size_t i = 0; in_tree && i < n; i++) {
			bool parent_in = all[i].ppid == root;
			if (in_tree[i])
				continue;
			for (size_t j = 0; !parent_in && j < n; j++)
				parent_in = in_tree[j] && all[j].pid == all[i].ppid;
			if (parent_in) {
				in_tree[i] = true;
				grew = true;
				if (pids && count < max)
					pids[count] = all[i].pid;
				count++;
				zombie_total += all[i].state == 'Z';
			}
		}
	} while (grew);
	free(in_tree);
	free(all);
	if (zombies)
		*zombies = zombie_total;
	return count;
}

int zombie_count(pid_t root)
{
	int zombies = 0;

	if (proc_descendants(root, NULL, 0, &zombies) < 0)
		return -1;
	return zombies;
}

bool pid_alive(pid_t pid)
{
	struct proc_entry e;

	if (pid <= 0 || read_stat(pid, &e) != 0)
		return false;
	return e.state != 'Z' && e.state != 'X' && e.state != 'x';
}

bool pids_gone(const pid_t *pids, int n, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	for (;;) {
		bool any = false;
		for (int i = 0; i < n && !any; i++)
			any = pid_alive(pids[i]);
		if (!any)
			return true;
		if (now_s() > deadline)
			return false;
		sleep_s(0.02);
	}
}

/* ---- fixtures ---- */

char *fixture_path(const char *name)
{
	const char *dir = getenv("SPAWND_FIXTURES") ? getenv("SPAWND_FIXTURES") : "build/tests/fixtures";
	char real[PATH_MAX], *path;

	if (!realpath(dir, real))
		snprintf(real, sizeof real, "%s", dir);
	if (asprintf(&path, "%s/%s", real, name) < 0)
		return NULL;
	return path;
}

bool fixture_exists(const char *name)
{
	char *path = fixture_path(name);
	bool ok = path && access(path, X_OK) == 0;

	free(path);
	return ok;
}

struct server *server_with_fixture_plugin(const char *so_name, const char *extra)
{
	char dir[] = "/tmp/spawnd-plugin.XXXXXX", link[PATH_MAX], args[PATH_MAX + 64];
	char *so = fixture_path(so_name);
	struct server *s = NULL;
	if (so && mkdtemp(dir)) {
		snprintf(link, sizeof link, "%s/%s", dir, so_name);
		snprintf(args, sizeof args, "--plugins %s%s%s", dir, extra ? " " : "", extra ? extra : "");
		if (symlink(so, link) == 0) {
			s = server_start(args);
			unlink(link);
		}
		rmdir(dir);
	}
	free(so);
	return s;
}

/* ---- live responses ---- */

#define LIVE_SLOW_RCVBUF 4096

struct live_full {
	struct live l;
	CURL *easy;
	struct curl_slist *req_headers;
	char *req_body;
	size_t body_cap, headers_len, headers_cap, arrivals_cap;
	bool slow;
	struct live_full *prev, *next;
};

static CURLM *live_multi;
static struct live_full *live_list;

double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void live_exit(void)
{
	while (live_list)
		live_close(&live_list->l);
	if (live_multi)
		curl_multi_cleanup(live_multi);
	live_multi = NULL;
}

/* Grows *buf (capacity *cap) to hold need bytes; false when out of memory or over the cap. */
static bool live_grow(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 16384;
	char *grown;

	if (need > BODY_CAP)
		return false;
	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	grown = realloc(*buf, c);
	if (!grown)
		return false;
	*buf = grown;
	*cap = c;
	return true;
}

static size_t live_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct live_full *f = userdata;
	size_t n = size * nmemb;

	if (!live_grow(&f->l.body, &f->body_cap, f->l.len + n + 1))
		return 0;
	memcpy(f->l.body + f->l.len, data, n);
	f->l.len += n;
	f->l.body[f->l.len] = '\0';
	if (f->l.narrivals == f->arrivals_cap) {
		size_t cap = f->arrivals_cap ? f->arrivals_cap * 2 : 256;
		struct live_arrival *grown = realloc(f->l.arrivals, cap * sizeof *grown);
		if (!grown)
			return 0;
		f->l.arrivals = grown;
		f->arrivals_cap = cap;
	}
	f->l.arrivals[f->l.narrivals++] = (struct live_arrival){ .end = f->l.len, .wall_ms = wall_ms() };
	return n;
}

static size_t live_on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct live_full *f = userdata;
	size_t n = size * nmemb;

	/* A new status line (after a 100 Continue) starts a new set of headers. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', n);
		f->headers_len = 0;
		f->l.content_type[0] = '\0';
		if (sp)
			f->l.status = strtol(sp + 1, NULL, 10);
	}
	if (!live_grow(&f->l.headers, &f->headers_cap, f->headers_len + n + 1))
		return 0;
	memcpy(f->l.headers + f->headers_len, data, n);
	f->headers_len += n;
	f->l.headers[f->headers_len] = '\0';
	take_header(data, n, "Content-Type", f->l.content_type, sizeof f->l.content_type);
	return n;
}

static int live_small_rcvbuf(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	int size = LIVE_SLOW_RCVBUF;

	(void)clientp;
	if (purpose == CURLSOCKTYPE_IPCXN)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	return CURL_SOCKOPT_OK;
}

struct live *live_request(struct server *srv, const char *method, const char *path,
			  const char *const *headers, const char *body, size_t body_len,
			  long max_recv_bytes_per_s)
{
	static bool exit_registered;
	struct live_full *f = calloc(1, sizeof *f);
	char url[sizeof srv->url + 4096];

	if (!f) {
		fprintf(stderr, "harness: out of memory\n");
		abort();
	}
	harness_init();
	if (!exit_registered) {
		/* Registered after harness_exit, so it runs first (before curl_global_cleanup). */
		atexit(live_exit);
		exit_registered = true;
	}
	if (!live_multi)
		live_multi = curl_multi_init();
	f->next = live_list;
	if (live_list)
		live_list->prev = f;
	live_list = f;
	snprintf(f->l.method, sizeof f->l.method, "%s", method);
	snprintf(f->l.path, sizeof f->l.path, "%s", path);
	f->l.body = calloc(1, 1);
	f->l.headers = calloc(1, 1);
	f->easy = curl_easy_init();
	if (!f->easy || !live_multi || !f->l.body || !f->l.headers) {
		f->l.done = true;
		snprintf(f->l.error, sizeof f->l.error, "(harness: cannot set up the request)");
		return &f->l;
	}
	snprintf(url, sizeof url, "%s%s", srv->url, path);
	curl_easy_setopt(f->easy, CURLOPT_URL, url);
	curl_easy_setopt(f->easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	/* Its own connection, closed at the end: closing it is a client going away. */
	curl_easy_setopt(f->easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(f->easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, live_on_body);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, live_on_header);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	f->req_headers = curl_slist_append(NULL, "Expect:");
	for (size_t i = 0; headers && headers[i]; i++)
		f->req_headers = curl_slist_append(f->req_headers, headers[i]);
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->req_headers);
	if (body || strcmp(method, "POST") == 0) {
		f->req_body = malloc(body_len + 1);
		if (f->req_body && body_len)
			memcpy(f->req_body, body, body_len);
		curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->req_body ? f->req_body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(f->easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, method);
	}
	if (max_recv_bytes_per_s > 0) {
		f->slow = true;
		curl_easy_setopt(f->easy, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)max_recv_bytes_per_s);
		curl_easy_setopt(f->easy, CURLOPT_BUFFERSIZE, 1024L);
		curl_easy_setopt(f->easy, CURLOPT_SOCKOPTFUNCTION, live_small_rcvbuf);
	}
	if (curl_multi_add_handle(live_multi, f->easy) != CURLM_OK) {
		f->l.done = true;
		snprintf(f->l.error, sizeof f->l.error, "(harness: curl_multi_add_handle failed)");
	}
	return &f->l;
}

struct live *live_open(struct server *srv, const char *path, const char *accept)
{
	char header[256];
	const char *headers[] = { header, NULL };

	if (!accept)
		return live_request(srv, "GET", path, NULL, NULL, 0, 0);
	snprintf(header, sizeof header, "Accept: %s", accept);
	return live_request(srv, "GET", path, headers, NULL, 0, 0);
}

/* Marks the transfers that ended. */
static void live_collect(void)
{
	int left = 0;
	CURLMsg *msg;

	while ((msg = curl_multi_info_read(live_multi, &left))) {
		struct live_full *f = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		if (!f)
			continue;
		f->l.done = true;
		if (msg->data.result != CURLE_OK)
			snprintf(f->l.error, sizeof f->l.error, "(curl: %s)", curl_easy_strerror(msg->data.result));
	}
}

/* One step: moves every transfer forward, waiting at most max_ms for activity. */
static void live_step(int max_ms)
{
	int running = 0;

	if (!live_multi || !live_list) {
		sleep_s(max_ms / 1000.0);
		return;
	}
	curl_multi_perform(live_multi, &running);
	live_collect();
	if (max_ms > 0) {
		curl_multi_poll(live_multi, NULL, 0, max_ms, NULL);
		curl_multi_perform(live_multi, &running);
		live_collect();
	}
}

void live_pump(double seconds)
{
	double deadline = now_s() + seconds;

	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			break;
		live_step(left > 0.05 ? 50 : (int)(left * 1000) + 1);
	}
	live_step(0);
}

bool live_wait_until(bool (*cond)(void *arg), void *arg, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	live_step(0);
	while (!cond(arg)) {
		if (now_s() > deadline)
			return false;
		live_step(20);
	}
	return true;
}

bool live_wait_for(struct live *l, const char *needle, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	size_t nlen = strlen(needle), from = 0;

	live_step(0);
	for (;;) {
		bool ended = l->done;
		if (l->len >= from + nlen && memmem(l->body + from, l->len - from, needle, nlen))
			return true;
		if (l->len >= nlen)
			from = l->len - nlen + 1;
		if (ended || now_s() > deadline)
			return false;
		live_step(20);
	}
}

bool live_wait_len(struct live *l, size_t len, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	live_step(0);
	while (l->len < len) {
		if (l->done || now_s() > deadline)
			return false;
		live_step(20);
	}
	return true;
}

bool live_wait_done(struct live *l, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	live_step(0);
	while (!l->done) {
		if (now_s() > deadline)
			return false;
		live_step(20);
	}
	return true;
}

double live_arrival_ms(const struct live *l, size_t offset)
{
	size_t lo = 0, hi = l->narrivals;

	/* The first arrival whose end is past offset. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->arrivals[mid].end > offset)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < l->narrivals ? l->arrivals[lo].wall_ms : -1;
}

bool live_header(const struct live *l, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);

	for (const char *line = l->headers; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			out[0] = '\0';
			take_header(line, len, name, out, cap);
			return true;
		}
		line = eol ? eol + 1 : NULL;
	}
	return false;
}

void live_close(struct live *l)
{
	struct live_full *f;

	if (!l)
		return;
	f = (struct live_full *)((char *)l - offsetof(struct live_full, l));
	/* What a stream sent before it was closed is recorded too (its complete lines). */
	record_response(l->method, l->path, l->status, l->content_type, l->headers, NULL, l->body, l->len,
			l->done && !l->error[0]);
	if (f->easy) {
		curl_multi_remove_handle(live_multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->req_headers);
	if (f->prev)
		f->prev->next = f->next;
	else
		live_list = f->next;
	if (f->next)
		f->next->prev = f->prev;
	free(f->req_body);
	free(f->l.body);
	free(f->l.headers);
	free(f->l.arrivals);
	free(f);
}

double metric_value(struct server *srv, const char *name)
{
	struct resp *r = get(srv, "/metrics");
	size_t nlen = strlen(name);
	double value = -1;

	for (const char *line = r->status == 200 ? r->body : ""; line && *line;) {
		const char *eol = strchr(line, '\n');
		if (strncmp(line, name, nlen) == 0 && (line[nlen] == ' ' || line[nlen] == '{')) {
			const char *v = line[nlen] == '{' ? strchr(line, '}') : line + nlen;
			if (v) {
				value = strtod(v + (*v == '}'), NULL);
				break;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	resp_free(r);
	return value;
}

bool take_id(const struct resp *r, char *id)
{
	const char *s = jstr(r->json, "id");

	if (!s || strlen(s) >= ID_CAP)
		return false;
	strcpy(id, s);
	return true;
}

bool post_created(struct server *srv, const char *path, const char *body, char *id)
{
	struct resp *r = post_json(srv, path, body);
	bool ok = r->status == 201 && take_id(r, id);
	if (!ok)
		fprintf(stderr, "POST %s %s -> " RESP_FMT "\n", path, body, RESP_ARGS(r));
	resp_free(r);
	return ok;
}

int fd_count(pid_t pid)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

pid_t pool_worker_pid(struct server *srv, const char *pool)
{
	struct resp *r = get(srv, "/pools/%s", pool);
	const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "workers"), 0);
	char proc[ID_CAP] = "";
	if (cJSON_IsString(w))
		snprintf(proc, sizeof proc, "%s", w->valuestring);
	resp_free(r);
	if (!proc[0])
		return -1;
	r = get(srv, "/processes/%s", proc);
	pid_t pid = (pid_t)jint(r->json, "pid", -1);
	resp_free(r);
	return pid;
}

/* Runs spawnd with extra arguments (NULL-terminated) until it exits (10 s at
 * most). Returns its wait status (-1 if it did not exit: it is killed) and its
 * stderr in log (NUL-terminated). */
int server_run_refused(const char *const *extra, const char *root, char *log, size_t cap, bool *listened)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char state[PATH_MAX + 8], log_path[PATH_MAX + 16], out_path[PATH_MAX + 16];
	const char *words[16] = { bin, "--listen", "127.0.0.1:0", "--state-dir", state, "--log-level", "warn" };
	char *argv[16] = { NULL };
	int argc = 7, status = -1;
	pid_t pid;

	snprintf(state, sizeof state, "%s/state", root);
	snprintf(log_path, sizeof log_path, "%s/stderr", root);
	snprintf(out_path, sizeof out_path, "%s/stdout", root);
	for (; *extra && argc < 15; extra++)
		words[argc++] = *extra;
	for (int i = 0; i < argc; i++)
		argv[i] = strdup(words[i]);    /* copies made before fork: execve wants char * */
	log[0] = '\0';
	*listened = false;
	pid = fork();
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		execve(bin, argv, environ);
		_exit(127);
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	if (pid < 0)
		return -1;
	for (double deadline = now_s() + 10; now_s() < deadline; sleep_s(0.02))
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		else
			status = -1;
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	FILE *f = fopen(log_path, "r");
	if (f) {
		size_t n = fread(log, 1, cap - 1, f);
		log[n] = '\0';
		fclose(f);
	}
	f = fopen(out_path, "r");
	if (f) {
		*listened = fgetc(f) != EOF;
		fclose(f);
	}
	return status;
}

void check_server_stops(struct server **srv)
{
	char why[256];

	CHECK(server_healthy(*srv));
	CHECK_MSG(server_stop(*srv, why, sizeof why) == 0, "%s", why);
	*srv = NULL;
}

/* ---- the recording for the OpenAPI validator ($SPAWND_RECORD) ----
 *
 * One NDJSON line per response, http() and live ones alike:
 *   {"method","path","status","content_type","headers":{name: value},"body"}
 * body is the parsed JSON of a JSON response (a string when it does not
 * parse, so the validator fails it), the text of an NDJSON or SSE stream (its
 * complete lines or events, at most RECORD_BODY_CAP bytes), and absent for
 * other media types, whose schemas say nothing but "a string". A response cut
 * short that is not a stream is left out: there is nothing whole to check.
 */
#define RECORD_BODY_CAP ((size_t)64 * 1024)

static bool media_is(const char *content_type, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(content_type, type, n) == 0 && (content_type[n] == '\0' || content_type[n] == ';' ||
							   content_type[n] == ' ');
}

/* The header lines as {name: value}; the first of a repeated name is kept. */
static cJSON *headers_object(const char *headers)
{
	cJSON *obj = cJSON_CreateObject();

	for (const char *line = headers; obj && line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *colon = memchr(line, ':', len);
		char name[128], value[2048];

		if (colon && colon > line && (size_t)(colon - line) < sizeof name) {
			memcpy(name, line, (size_t)(colon - line));
			name[colon - line] = '\0';
			value[0] = '\0';
			take_header(line, len, name, value, sizeof value);
			if (!cJSON_GetObjectItem(obj, name))    /* case-insensitive */
				cJSON_AddStringToObject(obj, name, value);
		}
		line = eol ? eol + 1 : NULL;
	}
	return obj;
}

/* How much of a stream's text to record: all of a complete one under the cap,
 * else up to its last complete line (NDJSON) or event (SSE). */
static size_t stream_record_len(bool sse, const char *body, size_t len, bool complete)
{
	const char *unit = sse ? "\n\n" : "\n";
	size_t ulen = strlen(unit);

	if (complete && len <= RECORD_BODY_CAP)
		return len;
	if (len > RECORD_BODY_CAP)
		len = RECORD_BODY_CAP;
	while (len >= ulen && memcmp(body + len - ulen, unit, ulen) != 0)
		len--;
	return len < ulen ? 0 : len;
}

/* The body member of a record (NULL: none), or *skip when the response is not recordable. */
static cJSON *record_body(const char *type, const cJSON *json, const char *body, size_t len, bool complete,
			  bool *skip)
{
	bool sse = media_is(type, "text/event-stream");
	char *text;
	cJSON *item;

	*skip = false;
	if (sse || media_is(type, "application/x-ndjson")) {
		len = body ? stream_record_len(sse, body, len, complete) : 0;
	} else if (media_is(type, "application/json")) {
		*skip = !complete;
		if (!complete)
			return NULL;
		if (json)
			return cJSON_Duplicate(json, true);
		if ((item = cJSON_ParseWithLength(body ? body : "", len)))
			return item;
		/* Not JSON: recorded as its text, which the validator then fails. */
	} else {
		*skip = !complete;
		return NULL;
	}
	text = malloc(len + 1);
	if (!text)
		return NULL;
	if (len)
		memcpy(text, body, len);
	text[len] = '\0';
	item = cJSON_CreateString(text);
	free(text);
	return item;
}

static void record_response(const char *method, const char *full_path, long status, const char *content_type,
			    const char *headers, const cJSON *json, const char *body, size_t len, bool complete)
{
	const char *file = getenv("SPAWND_RECORD");
	cJSON *line, *item;
	bool skip;
	char *text;
	int fd;

	if (!file || !*file || status == 0)
		return;
	item = record_body(content_type, json, body, len, complete, &skip);
	if (skip) {
		cJSON_Delete(item);
		return;
	}
	line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "method", method);
	cJSON_AddStringToObject(line, "path", full_path);
	cJSON_AddNumberToObject(line, "status", (double)status);
	if (content_type[0])
		cJSON_AddStringToObject(line, "content_type", content_type);
	cJSON_AddItemToObject(line, "headers", headers_object(headers));
	if (item)
		cJSON_AddItemToObject(line, "body", item);
	text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (!text)
		return;
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t n = strlen(text);
		text[n] = '\n';     /* over the NUL: the line is written by length */
		if (write(fd, text, n + 1) != (ssize_t)(n + 1))
			fprintf(stderr, "harness: short write to %s\n", file);
		close(fd);
	}
	cJSON_free(text);
}
