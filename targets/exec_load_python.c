/* exec_load_python — the "python" form of an exec target: a function in a
 * folder of Python modules, run in a fresh interpreter (multiprocessing's
 * "importable target functions", for Python users).
 *
 *   {"name": "py_worker", "args": [{"name": "num", "type": "integer"}],
 *    "python": {"module": "workers", "function": "worker",
 *               "path": ["python"],                   folders put first on sys.path;
 *                                                     relative ones from the targets file's folder
 *               "interpreter": "/usr/bin/python3",   optional, absolute, executable
 *               "returns": "json"}}                  optional, see below
 *
 * It becomes an ordinary exec target, so everything else (schema validation,
 * env, cwd, rlimits, timeout, user, the clone in the fork server) is shared:
 *   INTERPRETER -I -c RUNNER RETURNS NPATH PATH... MODULE FUNCTION [MARK VALUE]...
 * The runner is the fixed program below; nothing from the file or a request is
 * ever part of code. Module and function names are checked as (dotted) Python
 * identifiers here and imported by importlib. Each argument is a pair of argv
 * words in an optional group (left out when the argument is absent): a literal
 * mark "INDEX:TYPE:NAME" ("*INDEX:TYPE:NAME" for a variadic one, whose values
 * are all the words that follow) and the value, so the runner rebuilds typed
 * values and sees which optional ones are missing. Values follow "-c", where
 * python stops reading options, so a leading "-" is harmless: allow_dash
 * defaults to true here (exec_load_args.c).
 *
 * The call: arguments are passed positionally in declared order up to the first
 * absent optional one, the later ones by keyword; a variadic argument's values
 * are passed positionally (*values), so it may only follow required arguments.
 * The exit code is multiprocessing's: 0 on return, sys.exit(N)'s N, 1 with
 * "Process NAME:" and the traceback on stderr for an exception. The return
 * value is ignored, as Process ignores it, unless "returns" is "json": then
 * stdout carries nothing but the return value as one JSON line (None as null;
 * not JSON-encodable: exit 1), and whatever the function writes to fd 1 goes to
 * stderr instead, so the whole of stdout parses as JSON (the API's
 * "returns": "json" contract for pool tasks).
 *
 * When spawnd's Python client is on the path (clients/python), its
 * spawnd._worker.prepare() sees the call first: arguments that name shared
 * objects ("spawnd:Queue:NAME") become handles on them, as multiprocessing
 * passes a Queue to its child, and a Process subclass sent by the client runs
 * its own run(). Without the client, values arrive as they are.
 */
#include "targets/exec_load_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "targets/registry.h"

#define PYTHON_DEFAULT "/usr/bin/python3"
#define PYTHON_PATH_MAX 16
#define PYTHON_NAME_MAX 200

/* sys.argv[1:] = RETURNS NPATH PATH... MODULE FUNCTION [MARK VALUE]... */
static const char runner[] =
	"import importlib, json, os, sys, traceback\n"
	"def value(kind, text):\n"
	"    if kind == 'integer': return int(text)\n"
	"    if kind == 'number': return float(text)\n"
	"    if kind == 'boolean': return text == 'true'\n"
	"    return text\n"
	"def call(argv):\n"
	"    npath = int(argv[1])\n"
	"    sys.path[:0] = argv[2:2 + npath]\n"
	"    module, function = argv[2 + npath:4 + npath]\n"
	"    words, args, kwargs, i = argv[4 + npath:], [], {}, 0\n"
	"    while i < len(words):\n"
	"        index, kind, name = words[i].split(':', 2)\n"
	"        if index.startswith('*'):\n"
	"            args.extend(value(kind, w) for w in words[i + 1:])\n"
	"            break\n"
	"        if not kwargs and int(index) == len(args): args.append(value(kind, words[i + 1]))\n"
	"        else: kwargs[name] = value(kind, words[i + 1])\n"
	"        i += 2\n"
	"    fn = getattr(importlib.import_module(module), function)\n"
	"    try: from spawnd._worker import prepare\n"
	"    except ImportError: prepare = None\n"
	"    if prepare: fn, args, kwargs = prepare(fn, args, kwargs)\n"
	"    return fn(*args, **kwargs)\n"
	"def main(argv):\n"
	"    out = None\n"
	"    if argv[0] == 'json':\n"
	"        out = os.dup(1)\n"
	"        os.dup2(2, 1)\n"
	"    try:\n"
	"        result, code = call(argv), 0\n"
	"    except SystemExit as e:\n"
	"        out, code = None, 0 if e.code is None else e.code\n"
	"        if not isinstance(code, int):\n"
	"            sys.stderr.write('%s\\n' % code)\n"
	"            code = 1\n"
	"    except BaseException:\n"
	"        out, code = None, 1\n"
	"        sys.stderr.write('Process %s:\\n' % os.environ.get('SPAWND_PROCESS_NAME', ''))\n"
	"        traceback.print_exc()\n"
	"    sys.stdout.flush()\n"
	"    if out is not None:\n"
	"        try: text = json.dumps(result, allow_nan=False) + '\\n'\n"
	"        except (TypeError, ValueError) as e:\n"
	"            sys.stderr.write('spawnd: the return value is not JSON: %s\\n' % e)\n"
	"            return 1\n"
	"        os.write(out, text.encode())\n"
	"    return code\n"
	"sys.exit(main(sys.argv[1:]))\n";

static const char *const python_keys[] = { "module", "function", "path", "interpreter", "returns", NULL };
static const char *const type_names[] = {
	[ARG_STRING] = "string", [ARG_INTEGER] = "integer", [ARG_NUMBER] = "number",
	[ARG_BOOLEAN] = "boolean", [ARG_PATH] = "path",
};

/* An ASCII Python identifier; dotted: "pkg.mod" (for modules). */
static bool python_name(const char *s, bool dotted)
{
	bool start = true;

	if (strlen(s) > PYTHON_NAME_MAX)
		return false;
	for (; *s; s++) {
		bool letter = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_';
		if (dotted && *s == '.' && !start) {
			start = true;
		} else if (letter || (!start && *s >= '0' && *s <= '9')) {
			start = false;
		} else {
			return false;
		}
	}
	return !start;
}

static int load_name(struct loader *l, const cJSON *py, const char *key, bool dotted, const char **out)
{
	char field[40];
	int rc;

	snprintf(field, sizeof field, "python.%s", key);
	if ((rc = exec_load_string(l, py, key, field, out)) < 0)
		return rc;
	if (rc == 0)
		return exec_load_fail(l, field, "is required");
	if (!python_name(*out, dotted))
		return exec_load_fail(l, field, "must be a Python identifier%s (ASCII, at most %d bytes)",
				      dotted ? " or a dotted name like pkg.module" : "", PYTHON_NAME_MAX);
	return 0;
}

/* One folder of python.path: relative ones are taken from the folder of the
 * targets file; kept resolved, since the worker's cwd is not spawnd's. */
static int resolve_folder(struct loader *l, const char *dir, const char *field, const char **out)
{
	char joined[PATH_MAX], resolved[PATH_MAX];
	const char *slash = strrchr(l->path, '/');
	struct stat st;
	int n;

	if (dir[0] == '/' || !slash)
		n = snprintf(joined, sizeof joined, "%s", dir);
	else
		n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - l->path), l->path, dir);
	if (n < 0 || (size_t)n >= sizeof joined)
		return exec_load_fail(l, field, "is too long");
	if (!realpath(joined, resolved) || stat(resolved, &st) != 0)
		return exec_load_fail(l, field, "%s: %s", joined, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return exec_load_fail(l, field, "%s: is not a directory", joined);
	*out = exec_file_strdup(l->f, resolved);
	return *out ? 0 : exec_load_nomem(l);
}

/* python.path: a string or an array of strings; *paths gets the resolved folders. */
static int load_path(struct loader *l, const cJSON *py, const char **paths, size_t *npaths)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(py, "path"), *item;
	char field[40];
	int rc;

	*npaths = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v))
		return (rc = resolve_folder(l, v->valuestring, "python.path", &paths[0])) < 0 ? rc : (*npaths = 1, 0);
	if (!cJSON_IsArray(v))
		return exec_load_fail(l, "python.path", "must be a folder or an array of folders");
	if (cJSON_GetArraySize(v) > PYTHON_PATH_MAX)
		return exec_load_fail(l, "python.path", "must list at most %d folders", PYTHON_PATH_MAX);
	cJSON_ArrayForEach(item, v) {
		snprintf(field, sizeof field, "python.path[%zu]", *npaths);
		if (!cJSON_IsString(item))
			return exec_load_fail(l, field, "must be a string");
		if ((rc = resolve_folder(l, item->valuestring, field, &paths[*npaths])) < 0)
			return rc;
		(*npaths)++;
	}
	return 0;
}

static int load_interpreter(struct loader *l, const cJSON *py, struct exec_spec *spec)
{
	struct stat st;
	int rc = exec_load_string(l, py, "interpreter", "python.interpreter", &spec->program);

	if (rc < 0)
		return rc;
	if (rc == 0)
		spec->program = PYTHON_DEFAULT;
	if (spec->program[0] != '/')
		return exec_load_fail(l, "python.interpreter", "must be an absolute path");
	if (stat(spec->program, &st) != 0)
		return exec_load_fail(l, "python.interpreter", "%s: %s", spec->program, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(spec->program, X_OK) != 0)
		return exec_load_fail(l, "python.interpreter", "%s: is not an executable file", spec->program);
	return 0;
}

static int load_returns(struct loader *l, const cJSON *py, const char **returns)
{
	int rc = exec_load_string(l, py, "returns", "python.returns", returns);

	if (rc == 0)
		*returns = "none";
	if (rc > 0 && strcmp(*returns, "json") != 0)
		return exec_load_fail(l, "python.returns", "must be \"json\" (or left out: the return value is ignored)");
	return rc < 0 ? rc : 0;
}

/* Appends a literal word; text must outlive the set (static or set-owned). */
static int add_text(struct loader *l, struct exec_spec *spec, struct exec_word *words, const char *text, int group)
{
	words[spec->nwords].text = exec_file_strdup(l->f, text);
	words[spec->nwords++].group = group;
	return words[spec->nwords - 1].text ? 0 : exec_load_nomem(l);
}

/* The mark and value pair of every argument; see the design note. */
static int add_arguments(struct loader *l, struct target *t, struct exec_spec *spec, struct exec_word *words)
{
	const struct arg_spec *args = t->args;
	char mark[TARGET_ARG_NAME_MAX + 40];
	int rc;

	for (size_t i = 0; i < t->nargs; i++) {
		if (args[i].variadic && i > 0 && !args[i - 1].required) {
			snprintf(mark, sizeof mark, "args.%s", args[i].name);
			return exec_load_fail(l, mark, "a variadic argument of a python target may only follow required ones "
					      "(its values are passed positionally)");
		}
		snprintf(mark, sizeof mark, "%s%zu:%s:%s", args[i].variadic ? "*" : "", i,
			 type_names[args[i].type], args[i].name);
		if ((rc = add_text(l, spec, words, mark, (int)i + 1)) < 0)
			return rc;
		words[spec->nwords].arg = i;
		words[spec->nwords++].group = (int)i + 1;
	}
	return 0;
}

static int build_words(struct loader *l, struct target *t, struct exec_spec *spec, const char *const *paths,
		       size_t npaths, const char *const *names)
{
	struct exec_word *words = exec_file_calloc(l->f, 6 + npaths + 2 + 2 * t->nargs, sizeof *words);
	char count[24];
	int rc = 0;

	if (!words)
		return exec_load_nomem(l);
	snprintf(count, sizeof count, "%zu", npaths);
	const char *fixed[] = { "-I", "-c", runner, names[2], count };
	for (size_t i = 0; i < 5 && rc == 0; i++)
		rc = add_text(l, spec, words, fixed[i], 0);
	for (size_t i = 0; i < npaths && rc == 0; i++)
		rc = add_text(l, spec, words, paths[i], 0);
	for (size_t i = 0; i < 2 && rc == 0; i++)
		rc = add_text(l, spec, words, names[i], 0);
	spec->words = words;
	return rc < 0 ? rc : add_arguments(l, t, spec, words);
}

int exec_load_python(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec)
{
	const cJSON *py = cJSON_GetObjectItemCaseSensitive(obj, "python");
	const char *paths[PYTHON_PATH_MAX], *names[3] = { NULL, NULL, NULL };
	size_t npaths = 0;
	int rc;

	if (cJSON_GetObjectItemCaseSensitive(obj, "program") || cJSON_GetObjectItemCaseSensitive(obj, "argv"))
		return exec_load_fail(l, "python", "replaces \"program\" and \"argv\": give one form or the other");
	if (!cJSON_IsObject(py))
		return exec_load_fail(l, "python", "must be an object {\"module\": ..., \"function\": ...}");
	if ((rc = exec_load_check_keys(l, py, python_keys, "python.")) < 0 ||
	    (rc = load_name(l, py, "module", true, &names[0])) < 0 ||
	    (rc = load_name(l, py, "function", false, &names[1])) < 0 ||
	    (rc = load_path(l, py, paths, &npaths)) < 0 ||
	    (rc = load_interpreter(l, py, spec)) < 0 ||
	    (rc = load_returns(l, py, &names[2])) < 0)
		return rc;
	t->returns_json = strcmp(names[2], "json") == 0;       /* a pool task's result is that value */
	return build_words(l, t, spec, paths, npaths, names);
}
