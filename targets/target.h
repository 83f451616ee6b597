/* targets — the registry of what spawnd may run.
 *
 * A target is a registered unit of work (multiprocessing's "target function"):
 * a builtin C function from a static table, a plugin function (later), or an
 * exec target declared by the operator (later). Names are looked up in tables,
 * never turned into paths.
 *
 * Ownership: targets returned by target_find() live as long as the registry
 * (builtins: forever). cJSON values returned by the *_json functions belong to
 * the caller, who frees them with cJSON_Delete().
 */
#ifndef SPAWND_TARGET_H
#define SPAWND_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum arg_type { ARG_STRING, ARG_INTEGER, ARG_NUMBER, ARG_BOOLEAN };

/* One declared argument. Constraints not set are NULL / false. */
struct arg_spec {
	const char *name;
	enum arg_type type;
	bool required;
	bool variadic;                   /* last spec only: takes all remaining values */
	const char *const *enum_values;  /* NULL-terminated list of allowed strings, or NULL */
	const char *pattern;             /* POSIX ERE that must match the whole string, or NULL */
	bool has_min, has_max;           /* numbers: value range; strings: unused */
	double min, max;
	long max_length;                 /* strings: max length in bytes; 0 = unlimited */
	bool allow_dash;                 /* exec targets: a value may start with '-' (else refused) */
};

/* The worker's identity (multiprocessing's current_process()). */
struct target_ctx {
	const char *id;
	const char *name;
};

/* A builtin or plugin function. Runs in the worker process (a fresh, single
 * threaded child with fds 0-2 only). `args` is the canonical argument object
 * built by target_validate(): {"name": value, ...}, variadic values as an array,
 * optional absent args omitted. Returns the exit code (0-255). */
typedef int (*target_fn)(const cJSON *args, const struct target_ctx *ctx);

struct exec_spec;
struct exec_file;

enum target_kind { TARGET_BUILTIN, TARGET_PLUGIN, TARGET_EXEC };

struct target {
	const char *name;
	enum target_kind kind;
	const char *description;
	const struct arg_spec *args;
	size_t nargs;
	target_fn fn;          /* builtin and plugin targets */
	double timeout;        /* seconds; 0 = none */
	int max_running;       /* 0 = unlimited */
	const struct exec_spec *exec; /* exec targets: what to run (targets/exec_file.h); else NULL */
};

/* Looks up a target by exact name. NULL when there is none (or the name is
 * not a plausible target name). Never builds a path from the name. */
const struct target *target_find(const char *name);

/* The same for a name of len bytes that may hold NUL bytes (a decoded URL path
 * segment): a NUL anywhere makes it no target. */
const struct target *target_find_len(const char *name, size_t len);

/* Like target_find() but only among builtin and plugin targets (the names an
 * exec target may not take). */
const struct target *target_find_static(const char *name);

/* True when name is a plausible target name: 1-128 bytes of [A-Za-z0-9_.-]. */
bool target_name_valid(const char *name);

/* Registers the plugin targets (searched after the builtins, before the exec
 * targets). Call once at startup, before any thread starts; the array must
 * live as long as the process. */
void targets_set_plugins(const struct target *targets, size_t count);

/* Installs f (from exec_file_load(), may be NULL for none) as the current set
 * of exec targets; safe while other threads call target_find(). The registry
 * takes ownership of f. The previous set is NOT freed: callers hold target
 * pointers (requests, running processes) without reference counts, so every
 * set ever installed stays valid until targets_release(). A reload thus costs
 * the memory of one parsed file. */
void targets_set_exec(struct exec_file *f);

/* Frees every exec set installed (at exit, when no thread uses a target). */
void targets_release(void);

/* Validates a request's "args" (a JSON array of positional values, an object of
 * named values, or NULL/absent) against t's argument specs.
 * On success returns 0 and stores the canonical argument object in *canonical
 * (caller frees). On failure returns -EINVAL and stores in *details a JSON
 * array with one {"field": "args.<name>" | "args[<i>]" | "args", "message": "..."}
 * per bad argument (caller frees); nothing is stored in *canonical.
 * Rules: integers must be integral JSON numbers within the int64 range (and the
 * spec's min/max); numbers finite; booleans JSON true/false; strings JSON strings
 * (enum, full-match pattern, max_length); unknown names, too many positional
 * values and missing required args are errors.
 * Positional values map to the specs in order, a variadic last spec taking the
 * rest; in the object form a variadic arg's value is an array. A null value is
 * the same as an absent one (so positional [null, 5] skips an optional first
 * arg). A variadic arg with no values is absent. For exec targets, a value whose
 * text would start with '-' is refused unless its spec sets allow_dash.
 * Fields: "args[<i>]" for positional values, "args.<name>" for named or
 * missing ones, "args.<name>[<j>]" for elements of a named variadic array. */
int target_validate(const struct target *t, const cJSON *args, cJSON **canonical, cJSON **details);

/* {"name","kind","description","args":[{"name","type","required",...}],"timeout","max_running"} */
cJSON *target_to_json(const struct target *t);

/* {"targets": [...]} in registry order (builtins, plugins, then exec targets). */
cJSON *targets_list_json(void);

/* Helpers for target functions reading the canonical args object. */
long long target_arg_int(const cJSON *args, const char *name, long long fallback);
double target_arg_number(const cJSON *args, const char *name, double fallback);
const char *target_arg_string(const cJSON *args, const char *name, const char *fallback);

#endif

/* ==== TEMPORARY NOTE FOR THE TARGETS HELPER (the lead removes this block later) ====
## Project context (shared by everyone on the team)
spawnd is a small C service (repo: /work/main, git, branch main) that puts Python's multiprocessing on HTTP:
clients POST /processes to run a registered *target* as a real OS process, then read/join/terminate it.
The contract is /work/shared/API.md (read it fully, it is short). Quality bar: /work/shared/QUALITY.md.
Code style: /work/shared/STYLE.md (read it: -std=gnu11, small modules with one name prefix, header states
ownership, return 0 or -errno, tables over switch forests, comments say why). Libraries: libmicrohttpd 0.9.75,
cJSON 1.7.15 (<cjson/cJSON.h>), libcurl 7.88 (tests, bench), SQLite — all Debian 12 packages, already installed.
Machine: Debian 12, 2 cores, root, no internet except Debian packages and the npm registry. Never copy code
from elsewhere. Other engineers are editing other folders at the same time: touch ONLY the files you are told
to own, do not run `git commit`, `git add -A`, `git stash`, `git checkout` or `make clean` (the lead commits). You may
run `make`, but the server may not build yet while others work; build your own pieces with direct cc commands
if needed.

Layout: server/ (daemon plumbing: main, http, router, log), handlers/ (one file per resource), engine/ (process
table, fork server, reaper, output capture, store), targets/ (registry, builtins, validation), tests/, bench/,
openapi/, scripts/install-deps.sh, Makefile (top level; `make` builds ./spawnd, `make test` runs tests/run.sh over
build/tests/unit_* and build/tests/api_* binaries; each tests/unit_X.c links with all daemon objects except main;
each tests/api_X.c links with tests/harness.c only; tests/fixtures/X.c are built into build/tests/fixtures/X).
Test protocol: tests/check.h (read it) — every test binary prints PASS/FAIL lines via RUN(), run.sh sums them.

## Decisions already made (the API details API.md leaves open)
- Server flags: `spawnd --listen HOST:PORT --state-dir DIR --targets FILE --log-level error|warn|info|debug`
  (plus --plugins, --config, --help, --version, --max-running N). With port 0 the first stdout line is exactly
  `spawnd listening on http://127.0.0.1:PORT`. SIGTERM shuts down gracefully and exits 0.
- Process.args echoes the request's "args" exactly as sent (array or object); `[]` when absent.
- Error shape {"error":{"code","message","details"?}}; details is an array of {"field": "...", "message": "..."},
  fields named like "target", "args.num", "args[2]", "env.FOO", "timeout", "name", "signal", "limit", "stream".
- Builtin targets allow no env keys: any key in "env" → 400 invalid_argument, field "env.KEY".
- Missing/non-string "target" → 400 (field "target"); unknown target → 404 not_found. Bad JSON → 400 invalid_json;
  body that is not a JSON object → 400 invalid_argument. Content-Type other than application/json (or curl's default
  application/x-www-form-urlencoded, or none) → 415. Unknown path → 404 not_found; known path, wrong method → 405
  method_not_allowed with an Allow header. Unknown process id → 404.
- Query params: wait/timeout/grace are non-negative finite numbers (else 400, field named after the param);
  limit 1..1000 (default 100; else 400 "limit"); `after` is the opaque cursor from a previous `next`.
- `exit` code N → state "exited", exitcode N, reason "exit", signal null. terminate → exitcode -15, signal
  "SIGTERM", reason "terminate"; kill → -9 "SIGKILL" reason "kill"; POST /signal {"signal":"SIGSEGV"} (or 11)
  → -11, "SIGSEGV", reason "signal". Unknown signal name/number → 400 field "signal"; ended → 409 not_running.
- Worker env is exactly: PATH=/usr/local/bin:/usr/bin:/bin, SPAWND_PROCESS_ID, SPAWND_PROCESS_NAME (+ allowed keys).
- `whoami` prints `{"id":"…","name":"…","pid":N}\n`.
- Output endpoint without follow, NDJSON: data lines {"stream","offset","data","ts"} with `data` chunks of at most
  64 KiB (concatenate `data` by stream; offsets are byte offsets of that stream, contiguous), then, when ended,
  the exit line {"event":"exit","state","exitcode","signal","reason","stdout_bytes","stderr_bytes"}. Accept
  application/octet-stream with stream=stdout|stderr gives raw bytes (stream=both with octet-stream → 400 "stream").
- Exec targets (issue 4) come from a JSON targets file: {"targets":[{"name","description","program":"/abs/path",
  "argv":["fixed", "{argname}", ...], "args":[{"name","type","required","enum","pattern","min","max","max_length",
  "variadic"}], "env":{"allow":["TZ"],"set":{"LANG":"C"}}, "cwd", "timeout", "max_running",
  "rlimits":{"cpu","as","nofile","nproc"}, "user","group"}]}. argv elements that are exactly "{name}" of a
  declared arg are replaced by its value (variadic: by all its values); everything else is a fixed word.
- Ids match ^[A-Za-z0-9_-]+$. Default names Process-1, Process-2, ... counting per server start.
==== end of note ==== */
