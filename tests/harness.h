/* harness — runs the real spawnd binary and talks to it over real HTTP (libcurl).
 *
 * A test binary starts one or more servers with server_start(), sends requests
 * with http() and its shorthands, and checks the answers with check.h plus the
 * CHECK_STATUS / CHECK_ERROR macros below, which name the request and quote the
 * response when they fail.
 *
 * Ownership: a struct server is freed by server_stop(). A struct resp is freed
 * by resp_free(). Both are also tracked by the harness, which frees responses
 * and kills servers still alive when the test binary exits, so a case that
 * returns early on a failed CHECK leaves no spawnd (or temporary folder) behind.
 *
 * Environment:
 *   SPAWND_BIN       the server binary (default build/spawnd)
 *   SPAWND_FIXTURES  where the fixtures (tests/fixtures) are built (default build/tests/fixtures)
 *   SPAWND_RECORD    if set, every response (http() ones, and live ones when
 *                    closed) is appended to this file as one NDJSON line
 *                    {"method","path","status","content_type","headers","body"}
 *                    for the OpenAPI response validator (tests/validate_responses.mjs)
 *   SPAWND_KEEP      if set, temporary folders are kept (their path is printed)
 */
#ifndef SPAWND_HARNESS_H
#define SPAWND_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "tests/check.h"

struct server;

/* Creates a temporary folder ROOT with ROOT/state, starts
 *   $SPAWND_BIN --listen 127.0.0.1:0 --state-dir ROOT/state --log-level warn EXTRA...
 * (extra_args split on spaces; may be NULL), with stderr going to ROOT/spawnd.log,
 * and waits up to 10 s for "spawnd listening on http://127.0.0.1:PORT" (or https:// with --tls-cert).
 * Returns NULL on failure after printing why (and the server's log) to stderr. */
struct server *server_start(const char *extra_args);

/* Like server_start(), but first writes targets_json to ROOT/targets.json and
 * adds --targets ROOT/targets.json. */
struct server *server_start_targets(const char *targets_json, const char *extra_args);

/* Like server_start(), but spawnd gets args only (split on spaces), without
 * the harness's --listen, --state-dir and --log-level: for settings that come
 * from elsewhere (a --config file, the environment). It must still listen on
 * 127.0.0.1. ROOT is made as usual; ROOT/state is not named to spawnd. */
struct server *server_start_bare(const char *args);

/* Sends SIGTERM and waits up to 10 s for the server to exit (then SIGKILL).
 * Returns 0 when it exited with status 0 and its log holds no sanitizer report;
 * otherwise -1, with the reason in why (and the log's tail on stderr).
 * Removes the temporary folder (kept on failure). NULL is fine (returns -1). */
int server_stop(struct server *srv, char *why, size_t why_len);

/* Runs $SPAWND_BIN --listen 127.0.0.1:0 --state-dir ROOT/state --log-level warn
 * EXTRA... (NULL-terminated) until it exits (10 s at most), for servers that
 * must refuse to start. Returns its wait status (-1 if it did not exit: it is
 * killed), its stderr in log (NUL-terminated, cap bytes), and in *listened
 * whether it printed anything on stdout (its "listening" line). */
/* The last case of a test binary that shares one server: it still answers,
 * then stops cleanly (exit 0, no sanitizer report in its log); *srv becomes
 * NULL. Call it from a case function (it uses CHECK). */
void check_server_stops(struct server **srv);

int server_run_refused(const char *const *extra, const char *root, char *log, size_t cap, bool *listened);

/* Ends srv's spawnd with sig (SIGTERM: a stop; SIGKILL: a crash), waits for
 * it, and starts a new one on the same folder (state, targets, flags). 0, or
 * -1 (printed why; srv must still be given to server_stop(), which then
 * reports it as failed). Its log keeps every run's lines. */
int server_restart(struct server *srv, int sig);

pid_t server_pid(const struct server *srv);
const char *server_url(const struct server *srv);   /* "http://127.0.0.1:PORT" */
const char *server_root(const struct server *srv);  /* the temporary folder */
/* The server log (stderr) so far, NUL-terminated; caller frees. */
char *server_log(const struct server *srv);

/* One HTTP response. body is NUL-terminated (len excludes the NUL); json is
 * body parsed when the content type is application/json (else NULL). status is
 * 0 when the request failed at the transport level (error says why). */
struct resp {
	long status;
	char *body;
	size_t len;
	cJSON *json;
	char content_type[128];
	char allow[128];
	char location[256];
	char retry_after[32];
	double seconds;       /* wall time of the round trip */
	char method[16];
	char path[512];
	char error[256];
};

/* Sends METHOD path (path includes the query) with an optional body.
 * content_type NULL sends no Content-Type header; accept NULL sends curl's
 * default (Accept: star-slash-star). Timeout 60 s. Never NULL. */
struct resp *http(struct server *srv, const char *method, const char *path,
		  const char *content_type, const char *body, const char *accept);
/* Same, with a body of explicit length (may hold NUL bytes). */
struct resp *http_len(struct server *srv, const char *method, const char *path,
		      const char *content_type, const char *body, size_t len, const char *accept);
/* printf-style path. */
struct resp *get(struct server *srv, const char *path_fmt, ...) __attribute__((format(printf, 2, 3)));
struct resp *del(struct server *srv, const char *path_fmt, ...) __attribute__((format(printf, 2, 3)));
/* POST with Content-Type application/json (body NULL: empty body). */
struct resp *post_json(struct server *srv, const char *path, const char *body);
/* post_json() with a printf-style path. */
struct resp *postf(struct server *srv, const char *body, const char *path_fmt, ...)
	__attribute__((format(printf, 3, 4)));
void resp_free(struct resp *r);

/* POST /processes[?wait=wait_s] with body (wait_s < 0: no wait). */
struct resp *spawn(struct server *srv, const char *json_body, double wait_s);
/* POST /processes/{id}/join[?timeout=timeout_s] (timeout_s < 0: no timeout). */
struct resp *join(struct server *srv, const char *id, double timeout_s);
/* GET /processes/{id}/output?stream=STREAM with Accept: application/octet-stream. */
struct resp *output_raw(struct server *srv, const char *id, const char *stream);
/* Number of records in GET /processes?limit=1000 (-1 on error). */
int process_count(struct server *srv);
/* In a case, process_count() is this macro: a failed listing fails the case
 * (and returns from it, as CHECK does) instead of yielding -1, which would
 * compare equal to another failed count. */
#define process_count(srv) __extension__ ({ \
		int count_ = (process_count)(srv); \
		CHECK_MSG(count_ >= 0, "GET /processes?limit=1000 failed: no process count"); \
		count_; \
	})
/* true when GET /healthz answers 200 {"status":"ok"}. */
bool server_healthy(struct server *srv);

/* JSON accessors: NULL / fallback when absent or of another type. */
const char *jstr(const cJSON *obj, const char *key);
long long jint(const cJSON *obj, const char *key, long long fallback);
double jnum(const cJSON *obj, const char *key, double fallback);
bool jis_null(const cJSON *obj, const char *key);
bool jis_true(const cJSON *obj, const char *key);
bool jis_false(const cJSON *obj, const char *key);
/* error.code / error.message of an error response, or NULL. */
const char *err_code(const struct resp *r);
const char *err_message(const struct resp *r);
/* true when error.details has an entry with exactly this field. */
bool err_has_field(const struct resp *r, const char *field);
/* true when error.details has an entry whose field starts with prefix. */
bool err_has_field_prefix(const struct resp *r, const char *prefix);

/* Percent-encodes s for a query value; caller frees with free(). */
char *url_escape(const char *s);
/* true when s matches ^[A-Za-z0-9_-]+$ (the id alphabet). */
bool id_valid(const char *s);
/* true when s is RFC 3339 UTC with milliseconds: 2026-11-22T02:34:22.123Z */
bool rfc3339_ms(const char *s);

/* Parses an NDJSON body into *lines (count returned; -1 if any line is not a
 * JSON object). Free with ndjson_free(). */
int ndjson_parse(const char *body, size_t len, cJSON ***lines);
void ndjson_free(cJSON **lines, int n);

/* Process tree under /proc. Stores up to max descendants of root (children,
 * grandchildren, ...) in pids; returns their total number, and in *zombies (may
 * be NULL) how many of them are zombies. */
/* The fields of /proc/PID/stat after "pid (comm)", state first, read into
 * buf; NULL if there is no such process. */
const char *proc_stat_fields(pid_t pid, char *buf, size_t cap);
/* PID's parent, or -1. */
pid_t proc_parent(pid_t pid);
int proc_descendants(pid_t root, pid_t *pids, int max, int *zombies);
int zombie_count(pid_t root);
/* true when pid exists and is neither a zombie nor dead. */
bool pid_alive(pid_t pid);
/* Waits up to timeout_s for every pid in pids to be gone; true if all are. */
bool pids_gone(const pid_t *pids, int n, double timeout_s);

/* Absolute path of fixture NAME (in $SPAWND_FIXTURES), malloc'ed: caller frees. */
char *fixture_path(const char *name);
bool fixture_exists(const char *name);
/* A server whose --plugins folder holds only fixture so_name (a temporary
 * folder, removed once the server has loaded it), plus extra arguments
 * (NULL: none). NULL when it did not start. */
struct server *server_with_fixture_plugin(const char *so_name, const char *extra);

/* Monotonic seconds. */
double now_s(void);
void sleep_s(double seconds);

/* A response's request and body, quoted for failure messages. */
#define RESP_FMT "%.15s %.160s -> %ld %.80s: %.300s"
#define RESP_ARGS(r) (r)->method, (r)->path, (r)->status, (r)->error, \
	((r)->body ? (r)->body : "")

#define CHECK_STATUS(r, code) \
	CHECK_MSG((r)->status == (code), "expected %d, got " RESP_FMT, (int)(code), RESP_ARGS(r))

/* The ended-record fields every normally exited process has. */
#define CHECK_EXITED(r, code) do { \
		CHECK_MSG(jis_false((r)->json, "alive"), "alive not false: " RESP_FMT, RESP_ARGS(r)); \
		CHECK_MSG(jstr((r)->json, "state") && strcmp(jstr((r)->json, "state"), "exited") == 0, \
			  "state not exited: " RESP_FMT, RESP_ARGS(r)); \
		CHECK_MSG(jint((r)->json, "exitcode", -1000) == (code), \
			  "exitcode not %d: " RESP_FMT, (int)(code), RESP_ARGS(r)); \
	} while (0)

#define ID_CAP 128
/* Copies r's "id" into id (ID_CAP bytes); false when there is none. */
bool take_id(const struct resp *r, char *id);
/* POST body to path: true when it answers 201 with an id, copied into id
 * (ID_CAP); otherwise the answer is printed to stderr. */
bool post_created(struct server *srv, const char *path, const char *body, char *id);
/* The pid of pool's first worker (GET /pools/{id}, then its record), -1: none yet. */
pid_t pool_worker_pid(struct server *srv, const char *pool);
/* How many fds process pid has open (/proc/PID/fd), -1 if unreadable. */
int fd_count(pid_t pid);

/* Status, error.code, non-empty error.message, JSON content type. */
#define CHECK_ERROR(r, code, errcode) do { \
		CHECK_STATUS(r, code); \
		CHECK_MSG(err_code(r) && strcmp(err_code(r), (errcode)) == 0, \
			  "expected error.code %s, got " RESP_FMT, (errcode), RESP_ARGS(r)); \
		CHECK_MSG(err_message(r) && err_message(r)[0], \
			  "error.message missing or empty: " RESP_FMT, RESP_ARGS(r)); \
		CHECK_MSG(strncmp((r)->content_type, "application/json", 16) == 0, \
			  "error content type \"%s\": " RESP_FMT, (r)->content_type, RESP_ARGS(r)); \
	} while (0)

#define CHECK_FIELD(r, field) \
	CHECK_MSG(err_has_field(r, field), "no details entry for field \"%s\": " RESP_FMT, \
		  (field), RESP_ARGS(r))


/* ---- live responses: streams read while they arrive ----
 *
 * A struct live is one request whose response is read as it comes (a followed
 * output, GET /events), on its own connection, driven together with every
 * other open one by live_pump() and the live_wait_*() helpers (all open
 * responses move forward while any of them is waited for). Each arrival of
 * body bytes is stamped with the wall clock (CLOCK_REALTIME, ms), so a test can
 * tell when a byte came in. live_close() closes the connection, finished or
 * not (the way a client vanishes), and frees the struct; responses still open
 * when the test binary exits are closed then.
 */
struct live_arrival {
	size_t end;          /* body length after this arrival */
	double wall_ms;      /* CLOCK_REALTIME when it arrived */
};

struct live {
	long status;         /* 0 until the status line is in */
	char *body;          /* everything received so far, NUL-terminated (may hold NULs) */
	size_t len;
	char *headers;       /* the response header lines as received, NUL-terminated */
	char content_type[128];
	bool done;           /* the response ended; error says why when it failed */
	char error[256];
	struct live_arrival *arrivals;
	size_t narrivals;
	char method[16];
	char path[512];
};

/* Starts METHOD path with the request header lines in headers ("Name: value",
 * NULL-terminated; may be NULL) and an optional body. max_recv_bytes_per_s > 0
 * makes a slow reader: curl reads at most that many bytes a second, through a
 * small socket receive buffer. Never NULL (a failed start is done with error). */
struct live *live_request(struct server *srv, const char *method, const char *path,
			  const char *const *headers, const char *body, size_t body_len,
			  long max_recv_bytes_per_s);
/* GET path with Accept: accept (NULL: curl's default). */
struct live *live_open(struct server *srv, const char *path, const char *accept);
/* Drives every open live response for about seconds. */
void live_pump(double seconds);
/* Drive them until l's body holds needle (true), or timeout_s passes or l ends without it (false). */
bool live_wait_for(struct live *l, const char *needle, double timeout_s);
/* ... until l's body holds at least len bytes. */
bool live_wait_len(struct live *l, size_t len, double timeout_s);
/* ... until l's response has ended. */
bool live_wait_done(struct live *l, double timeout_s);
/* ... until cond(arg) is true (checked after each step). */
bool live_wait_until(bool (*cond)(void *arg), void *arg, double timeout_s);
/* Wall clock (ms) when body byte offset arrived; -1 if it has not. */
double live_arrival_ms(const struct live *l, size_t offset);
/* Copies the value of response header name (first one) into out; false if absent. */
bool live_header(const struct live *l, const char *name, char *out, size_t cap);
/* Closes the connection (if still open) and frees l. NULL is fine. */
void live_close(struct live *l);
/* Wall clock (CLOCK_REALTIME) in ms. */
double wall_ms(void);

/* The value of the first sample of metric name in GET /metrics (a line
 * "name VALUE" or "name{...} VALUE"); -1 when absent or on error. */
double metric_value(struct server *srv, const char *name);

#endif
