/* config — the settings table and its three sources (flags, environment, file).
 *
 * Design: one static table says everything about a setting, and everything
 * else is read from it: the flag parser, the environment lookup, the file's
 * keys, the --help text and the checks. A value, wherever it comes from, is
 * checked by one function (store_value) against its type's rule, so a flag,
 * its variable and its key can never accept different things; only the way
 * the value is spelled differs (text for flags and variables, a typed JSON
 * value in the file: a number for a count, an array of strings for a list).
 * Defaults are written as a flag would give them and parsed the same way, so
 * what --help prints as the default is what is used.
 *
 * The file is strict JSON by server/body.c's rules (no duplicate keys,
 * UTF-8, no trailing data), so a typo cannot be silently ignored: an unknown
 * key is an error, never a setting that does nothing.
 */
#define _GNU_SOURCE
#include "server/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "server/body.h"

/* A config file larger than this is surely not one. */
#define CONFIG_FILE_MAX (1 << 20)

enum setting_type {
	TYPE_TEXT,      /* any string */
	TYPE_CHOICE,    /* one of choices */
	TYPE_LIST,      /* comma-separated as text, an array of strings in the file */
	TYPE_COUNT,     /* an integer from min to max */
	TYPE_SECONDS,   /* a number of seconds from min to max */
	TYPE_SWITCH,    /* true or false; its flag alone means true (--insecure) */
};

struct setting {
	const char *key, *flag, *env, *metavar;
	enum setting_type type;
	const char *fallback;                     /* the default as a flag gives it; NULL: unset */
	double min, max;                          /* TYPE_COUNT, TYPE_SECONDS */
	const char *choices;                      /* TYPE_CHOICE: "a|b|c" */
	const char *(*check)(const char *value);  /* a further rule: why value breaks it, or NULL */
	const char *help;
	size_t offset;                            /* of the field in struct config */
};

static const char *no_wildcard(const char *value)
{
	return strchr(value, '*') ? "list the origins; \"*\" is never allowed" : NULL;
}

/* ---- sizes (output and disk limits) ---- */

int config_parse_size(const char *text, bool percent_ok, uint64_t *bytes, double *percent)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	*bytes = 0;
	*percent = 0;
	if (end == text || errno || !isfinite(v) || v < 0)
		return -1;
	if (percent_ok && strcmp(end, "%") == 0) {
		*percent = v;
		return v <= 100 ? 0 : -1;
	}
	static const char units[] = "KMGT";
	double scale = 1;
	if (*end) {
		const char *u = strchr(units, *end);
		if (!u || (end[1] && strcmp(end + 1, "iB") != 0))
			return -1;
		for (const char *k = units; k <= u; k++)
			scale *= 1024;
	}
	if (v * scale > 9.0e18 || floor(v * scale) != v * scale)
		return -1;
	*bytes = (uint64_t)(v * scale);
	return 0;
}

static const char *a_size(const char *value)
{
	uint64_t b;
	double p;
	return config_parse_size(value, false, &b, &p) < 0 ? "expected bytes, with an optional K, M, G or T "
		"(binary: 1K = 1024), e.g. 64M" : NULL;
}

static const char *a_size_or_percent(const char *value)
{
	uint64_t b;
	double p;
	return config_parse_size(value, true, &b, &p) < 0 ? "expected bytes (e.g. 256M) or a percentage of "
		"the file system (e.g. 5%)" : NULL;
}

#define AT(field) .offset = offsetof(struct config, field)
#define COUNT(lo, hi) .type = TYPE_COUNT, .min = (lo), .max = (hi)
#define SECONDS(lo, hi) .type = TYPE_SECONDS, .min = (lo), .max = (hi)
#define CHOICE(list) .type = TYPE_CHOICE, .choices = (list)

static const struct setting settings[] = {
	{ "listen", "--listen", "SPAWND_LISTEN", "HOST:PORT", .fallback = "127.0.0.1:8080", AT(listen),
	  .help = "address to serve; port 0 picks a free port" },
	{ "state_dir", "--state-dir", "SPAWND_STATE_DIR", "DIR", .fallback = "./var", AT(state_dir),
	  .help = "where records and spilled output live (made if missing)" },
	{ "store", "--store", "SPAWND_STORE", "KIND", CHOICE("sqlite|memory"), .fallback = "sqlite", AT(store),
	  .help = "sqlite: records in STATE_DIR/spawnd.db, output in STATE_DIR/output,\n"
		  "kept across restarts; memory: nothing survives a restart" },
	{ "targets", "--targets", "SPAWND_TARGETS", "FILE", AT(targets),
	  .help = "exec targets declared in a JSON file (reloaded on SIGHUP)" },
	{ "plugins", "--plugins", "SPAWND_PLUGINS", "DIR", AT(plugins),
	  .help = "C plugin targets: every *.so in DIR (see include/spawnd_target.h)" },
	{ "log_level", "--log-level", "SPAWND_LOG_LEVEL", "LEVEL", CHOICE("error|warn|info|debug"),
	  .fallback = "info", AT(log_level), .help = "what is logged (one logfmt line an event, on stderr)" },
	{ "max_running", "--max-running", "SPAWND_MAX_RUNNING", "N", COUNT(1, 1000000), .fallback = "1024",
	  AT(max_running), .help = "workers running at once before new ones queue" },
	{ "max_queued", "--max-queued", "SPAWND_MAX_QUEUED", "N", COUNT(0, 1000000), .fallback = "4096",
	  AT(max_queued), .help = "processes waiting for a slot before new ones get 429 (0: no queue)" },
	{ "max_connections", "--max-connections", "SPAWND_MAX_CONNECTIONS", "N", COUNT(1, 1000000),
	  .fallback = "4096", AT(max_connections), .help = "HTTP connections open at once (each holds an fd)" },
	{ "cors_origins", "--cors-origins", "SPAWND_CORS_ORIGINS", "ORIGIN,...", .type = TYPE_LIST,
	  .check = no_wildcard, AT(cors_origins),
	  .help = "origins allowed to call the API from a browser (e.g. http://localhost:3000);\n"
		  "CORS is off without it; in the file an array of strings" },
	{ "heartbeat", "--heartbeat", "SPAWND_HEARTBEAT", "SECONDS", SECONDS(0.05, 15), .fallback = "15",
	  AT(heartbeat), .help = "heartbeat interval of live streams" },
	{ "tokens_file", "--tokens-file", "SPAWND_TOKENS_FILE", "FILE", AT(tokens_file),
	  .help = "bearer tokens, one \"ROLE TOKEN\" a line (ROLE admin or read); every endpoint\n"
		  "but /healthz then needs one (reloaded on SIGHUP)" },
	{ "allowed_hosts", "--allowed-hosts", "SPAWND_ALLOWED_HOSTS", "NAME,...", .type = TYPE_LIST,
	  AT(allowed_hosts), .help = "Host names this server answers to besides loopback names and its\n"
				     "own addresses (others get 421); in the file an array of strings" },
	{ "insecure", "--insecure", "SPAWND_INSECURE", "", .type = TYPE_SWITCH, .fallback = "false", AT(insecure),
	  .help = "allow a non-loopback --listen without --tokens-file (anyone reaching it can run processes)" },
	{ "retention_count", "--retention-count", "SPAWND_RETENTION_COUNT", "N", COUNT(0, 1000000000),
	  .fallback = "100000", AT(retention_count),
	  .help = "ended records kept, newest first; older ones are removed with their output\n"
		  "(0: no count limit)" },
	{ "retention_age", "--retention-age", "SPAWND_RETENTION_AGE", "SECONDS", SECONDS(0, 3153600000.0),
	  .fallback = "604800", AT(retention_age),
	  .help = "ended records are removed this long after their end (604800: 7 days;\n"
		  "0: no age limit)" },
	{ "retention_interval", "--retention-interval", "SPAWND_RETENTION_INTERVAL", "SECONDS",
	  SECONDS(0.05, 86400), .fallback = "60", AT(retention_interval),
	  .help = "how often records past retention_count or retention_age are looked for" },
	{ "shutdown_timeout", "--shutdown-timeout", "SPAWND_SHUTDOWN_TIMEOUT", "SECONDS", SECONDS(0, 86400),
	  .fallback = "5", AT(shutdown_timeout),
	  .help = "at SIGTERM/SIGINT, how long non-daemon workers may finish before they are\n"
		  "terminated (SIGKILL 2 s later); 5 + 2 fits Docker's default 10 s stop" },
	/* Shared objects (objects/). */
	{ "object_timeout", "--object-timeout", "SPAWND_OBJECT_TIMEOUT", "SECONDS", SECONDS(0, 86400),
	  .fallback = "300", AT(object_timeout),
	  .help = "the default and longest ?timeout= of a shared object's wait (a client loops to wait longer)" },
	/* Hostile connections (server/connlimit.h) */
	{ "max_connections_per_ip", "--max-connections-per-ip", "SPAWND_MAX_CONNECTIONS_PER_IP", "N",
	  COUNT(0, 1000000), .fallback = "256", AT(max_connections_per_ip),
	  .help = "HTTP connections one client address may hold (0: no limit); over it its\n"
		  "oldest idle one is closed, or the newcomer gets 429" },
	{ "idle_timeout", "--idle-timeout", "SPAWND_IDLE_TIMEOUT", "SECONDS", SECONDS(1, 86400), .fallback = "60",
	  AT(idle_timeout), .help = "an HTTP connection that sends and receives nothing this long is closed\n"
				    "(a live stream's heartbeats keep it open; must exceed --heartbeat)" },
	/* TLS (server/tls.h) */
	{ "tls_cert", "--tls-cert", "SPAWND_TLS_CERT", "FILE", AT(tls_cert),
	  .help = "serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate chain (needs --tls-key;\n"
		  "both re-read on SIGHUP)" },
	{ "tls_key", "--tls-key", "SPAWND_TLS_KEY", "FILE", AT(tls_key),
	  .help = "the PEM private key of --tls-cert (unencrypted; keep it mode 0600)" },
	/* Memory and disk bounds (engine/outbuf.h, engine/diskspace.h). */
	{ "output_memory_cap", "--output-memory-cap", "SPAWND_OUTPUT_MEMORY_CAP", "BYTES", .type = TYPE_TEXT,
	  .check = a_size, .fallback = "64M", AT(output_memory_cap),
	  .help = "memory held for all workers' output together; past it, a stream that grows\n"
		  "moves to its file in STATE_DIR/output (nothing is lost; 0: no cap)" },
	{ "output_cap_per_process", "--output-cap-per-process", "SPAWND_OUTPUT_CAP_PER_PROCESS", "BYTES",
	  .type = TYPE_TEXT, .check = a_size, .fallback = "1G", AT(output_cap_per_process),
	  .help = "output kept per process (stdout and stderr together); bytes past it are\n"
		  "dropped and a gap line says how many (0: no cap)" },
	{ "min_free_space", "--min-free-space", "SPAWND_MIN_FREE_SPACE", "BYTES|N%", .type = TYPE_TEXT,
	  .check = a_size_or_percent, .fallback = "256M", AT(min_free_space),
	  .help = "free space kept in the state folder's file system: below it new processes\n"
		  "get 507 and output that would go to a file is dropped with a gap (0: not watched)" },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])
_Static_assert(NSETTINGS <= sizeof ((struct config *)0)->source, "struct config: source[] is too small");

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* What a value of s must be: "an integer from 1 to 1000000", "error, warn, info or debug". */
static void expected(const struct setting *s, bool in_file, char *buf, size_t cap)
{
	size_t used = 0;

	if (s->type == TYPE_COUNT || s->type == TYPE_SECONDS) {
		snprintf(buf, cap, "%s from %.10g to %.10g", s->type == TYPE_COUNT ? "an integer" : "seconds",
			 s->min, s->max);
		return;
	}
	if (s->type == TYPE_LIST) {
		snprintf(buf, cap, "%s", in_file ? "an array of strings" : "a comma-separated list");
		return;
	}
	if (s->type == TYPE_TEXT) {
		snprintf(buf, cap, "a string");
		return;
	}
	if (s->type == TYPE_SWITCH) {
		snprintf(buf, cap, "true or false");
		return;
	}
	buf[0] = '\0';
	for (const char *c = s->choices; *c && used + 1 < cap;) {
		size_t n = strcspn(c, "|");
		const char *sep = !c[n] ? "" : strchr(c + n + 1, '|') ? ", " : " or ";
		used += (size_t)snprintf(buf + used, cap - used, "%.*s%s", (int)n, c, sep);
		c += n + (c[n] == '|');
	}
}

static bool is_choice(const char *choices, const char *value)
{
	size_t len = strlen(value);
	for (const char *c = choices; *c;) {
		size_t n = strcspn(c, "|");
		if (n == len && strncmp(c, value, n) == 0)
			return true;
		c += n + (c[n] == '|');
	}
	return false;
}

/* Checks and stores one value of s: text (NULL: unset) for the text types,
 * number for the numeric ones. label names it in messages ("--max-queued x",
 * "SPAWND_MAX_QUEUED=x", "FILE: max_queued -1"). */
static int store_value(struct config *c, const struct setting *s, const char *text, double number,
		       bool in_file, const char *label, char *err, size_t cap)
{
	char want[128];
	void *field = (char *)c + s->offset;

	expected(s, in_file, want, sizeof want);
	if (s->type == TYPE_COUNT || s->type == TYPE_SECONDS) {
		if (!isfinite(number) || number < s->min || number > s->max ||
		    (s->type == TYPE_COUNT && number != floor(number)))
			return fail(err, cap, "%s: expected %s", label, want);
		if (s->type == TYPE_COUNT)
			*(long *)field = (long)number;
		else
			*(double *)field = number;
		return 0;
	}
	if (s->type == TYPE_SWITCH) {
		if (!text || !is_choice("true|false", text))
			return fail(err, cap, "%s: expected %s", label, want);
		*(bool *)field = strcmp(text, "true") == 0;
		return 0;
	}
	if (text && s->type == TYPE_CHOICE && !is_choice(s->choices, text))
		return fail(err, cap, "%s: expected %s", label, want);
	const char *why = text && s->check ? s->check(text) : NULL;
	if (why)
		return fail(err, cap, "%s: %s", label, why);
	char *copy = text ? strdup(text) : NULL;
	if (text && !copy)
		return fail(err, cap, "%s: out of memory", label);
	free(*(char **)field);
	*(char **)field = copy;
	return 0;
}

/* A flag's, a variable's or a default's text: numbers must be whole. */
static int store_text(struct config *c, size_t i, const char *text, enum config_source source, char *err,
		      size_t cap)
{
	const struct setting *s = &settings[i];
	char label[256];
	double number = NAN;

	if (source == CONFIG_ENV)
		snprintf(label, sizeof label, "%s=%.200s", s->env, text);
	else
		snprintf(label, sizeof label, "%s %.200s", s->flag, text);
	if (s->type == TYPE_COUNT || s->type == TYPE_SECONDS) {
		char *end;
		errno = 0;
		number = s->type == TYPE_COUNT ? (double)strtol(text, &end, 10) : strtod(text, &end);
		if (!*text || *end || errno)
			number = NAN;
	}
	c->source[i] = (unsigned char)source;
	return store_value(c, s, text, number, false, label, err, cap);
}

/* An array of strings joined with commas; NULL when it is something else
 * (*bad) or empty. Caller frees. */
static char *join_list(const cJSON *array, bool *bad)
{
	size_t len = 1;
	const cJSON *e;

	*bad = !cJSON_IsArray(array);
	cJSON_ArrayForEach(e, array) {
		if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, ','))
			*bad = true;
		else
			len += strlen(e->valuestring) + 1;
	}
	if (*bad || !array->child)
		return NULL;
	char *joined = calloc(1, len);
	if (!joined) {
		*bad = true;
		return NULL;
	}
	cJSON_ArrayForEach(e, array) {
		if (joined[0])
			strcat(joined, ",");
		strcat(joined, e->valuestring);
	}
	return joined;
}

/* A file's value: numbers for the numeric types, strings (an array for a
 * list), null for a setting whose default is unset. */
static int store_json(struct config *c, size_t i, const cJSON *v, const char *file, char *err, size_t cap)
{
	const struct setting *s = &settings[i];
	char label[512], want[128];
	char *shown = cJSON_PrintUnformatted(v), *joined = NULL;
	bool numeric = s->type == TYPE_COUNT || s->type == TYPE_SECONDS, bad = false;
	int r;

	snprintf(label, sizeof label, "%.300s: %s %.100s%s", file, s->key, shown ? shown : "",
		 shown && strlen(shown) > 100 ? "..." : "");
	free(shown);
	if (s->type == TYPE_LIST && !cJSON_IsNull(v))
		joined = join_list(v, &bad);
	if (s->type == TYPE_SWITCH ? !cJSON_IsBool(v)
		    : numeric ? !cJSON_IsNumber(v)
		    : cJSON_IsNull(v) ? s->fallback != NULL
		    : s->type == TYPE_LIST ? bad : !cJSON_IsString(v)) {
		expected(s, true, want, sizeof want);
		free(joined);
		return fail(err, cap, "%s: expected %s%s", label, want,
			    !numeric && !s->fallback ? " (or null)" : "");
	}
	c->source[i] = CONFIG_FILE;
	r = store_value(c, s, s->type == TYPE_LIST ? joined : cJSON_IsString(v) ? v->valuestring
			   : cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "true" : "false") : NULL,
			numeric ? v->valuedouble : NAN, true, label, err, cap);
	free(joined);
	return r;
}

static const struct setting *find_key(const char *key, size_t *index)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0) {
			*index = i;
			return &settings[i];
		}
	return NULL;
}

int config_apply_json(struct config *c, const char *text, size_t len, const char *file, char *err, size_t cap)
{
	char why[512];
	cJSON *root = body_parse_text(text, len, why, sizeof why), *v;
	int r = 0;

	if (!root)
		return fail(err, cap, "%s: %s", file, why);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fail(err, cap, "%s: expected a JSON object of settings, e.g. {\"max_running\": 8}", file);
	}
	cJSON_ArrayForEach(v, root) {
		size_t i;
		if (!find_key(v->string, &i)) {
			char known[512] = "";
			for (size_t k = 0; k < NSETTINGS; k++)
				snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
					 settings[k].key);
			r = fail(err, cap, "%s: unknown key \"%.100s\" (known: %s)", file, v->string, known);
			break;
		}
		if ((r = store_json(c, i, v, file, err, cap)) < 0)
			break;
	}
	cJSON_Delete(root);
	return r;
}

/* Reads the whole file (at most CONFIG_FILE_MAX bytes; a pipe such as
 * --config <(...) is fine) and applies it. */
static int apply_file(struct config *c, const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!f)
		return fail(err, cap, "--config %s: %s", path, strerror(errno));
	if (!(text = malloc(CONFIG_FILE_MAX + 1))) {
		fclose(f);
		return fail(err, cap, "--config %s: out of memory", path);
	}
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f))
		r = fail(err, cap, "--config %s: %s", path, strerror(errno));
	else if (len > CONFIG_FILE_MAX)
		r = fail(err, cap, "--config %s: larger than 1 MiB", path);
	else {
		text[len] = '\0';
		r = config_apply_json(c, text, len, path, err, cap);
	}
	if (r == 0 && !(c->config = strdup(path)))
		r = fail(err, cap, "--config %s: out of memory", path);
	free(text);
	fclose(f);
	return r;
}

int config_defaults(struct config *c, char *err, size_t cap)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].fallback && store_text(c, i, settings[i].fallback, CONFIG_DEFAULT, err, cap) < 0) {
			config_release(c);
			return -1;
		}
	return 0;
}

/* Sorts argv into given[] (the flags' texts, the last one winning) and
 * *file (--config); HELP / VERSION as soon as they are met. */
static enum config_result read_flags(int argc, char *const *argv, const char **given, const char **file,
				     char *err, size_t cap)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return CONFIG_HELP;
		if (strcmp(a, "--version") == 0)
			return CONFIG_VERSION;
		size_t flag_len = strcspn(a, "=");
		if (a[flag_len] == '=')
			value = a + flag_len + 1;
		else if (i + 1 < argc)
			value = argv[i + 1];
		const char **slot = NULL;
		if (flag_len == strlen("--config") && strncmp(a, "--config", flag_len) == 0)
			slot = file;
		for (size_t f = 0; f < NSETTINGS && !slot; f++)
			if (strlen(settings[f].flag) == flag_len && strncmp(a, settings[f].flag, flag_len) == 0)
				slot = &given[f];
		if (!slot)
			return (enum config_result)fail(err, cap, "unknown option %s (see --help)", a);
		if (slot != file && settings[slot - given].type == TYPE_SWITCH && a[flag_len] != '=') {
			*slot = "true";         /* a switch takes no value: --insecure */
			continue;
		}
		if (!value)
			return (enum config_result)fail(err, cap, "%.*s needs a value (see --help)", (int)flag_len, a);
		*slot = value;
		if (a[flag_len] != '=')
			i++;
	}
	return CONFIG_OK;
}

enum config_result config_load(struct config *c, int argc, char *const *argv, char *err, size_t cap)
{
	const char *given[NSETTINGS] = { NULL }, *file = getenv("SPAWND_CONFIG");
	enum config_result r;

	memset(c, 0, sizeof *c);
	if ((r = read_flags(argc, argv, given, &file, err, cap)) != CONFIG_OK)
		return r;
	if (config_defaults(c, err, cap) < 0)
		return CONFIG_ERROR;
	if (file && apply_file(c, file, err, cap) < 0)
		goto fail;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *env = getenv(settings[i].env);
		if (given[i] && store_text(c, i, given[i], CONFIG_FLAG, err, cap) < 0)
			goto fail;
		if (!given[i] && env && store_text(c, i, env, CONFIG_ENV, err, cap) < 0)
			goto fail;
	}
	return CONFIG_OK;
fail:
	config_release(c);
	return CONFIG_ERROR;
}

enum config_source config_source_of(const struct config *c, const char *key)
{
	size_t i;
	return find_key(key, &i) ? (enum config_source)c->source[i] : CONFIG_DEFAULT;
}

void config_release(struct config *c)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		enum setting_type t = settings[i].type;
		if (t == TYPE_TEXT || t == TYPE_CHOICE || t == TYPE_LIST) {
			char **field = (char **)((char *)c + settings[i].offset);
			free(*field);
			*field = NULL;
		}
	}
	free(c->config);
	c->config = NULL;
}

size_t config_count(void)
{
	return NSETTINGS;
}

void config_describe(size_t i, const char **key, const char **flag, const char **env, const char **fallback)
{
	*key = settings[i].key;
	*flag = settings[i].flag;
	*env = settings[i].env;
	*fallback = settings[i].fallback;
}

void config_usage(FILE *to)
{
	fprintf(to,
		"usage: spawnd [--config FILE] [--SETTING VALUE | --SETTING=VALUE]... [--help] [--version]\n"
		"\n"
		"Runs registered targets as OS processes over HTTP (Python's multiprocessing, as a service).\n"
		"\n"
		"Each setting is taken from, strongest first: its flag, its environment variable,\n"
		"its key in the config file (a JSON object; examples/spawnd.conf shows every key),\n"
		"or its default. An unknown key, a wrong type or a value out of range stops spawnd.\n"
		"max_running and max_connections must fit the open-file limit (see the README):\n"
		"defaults are lowered to fit, with a warning; values you give are refused.\n"
		"  --config FILE              the config file (env SPAWND_CONFIG; default none)\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		char head[64], want[128];
		snprintf(head, sizeof head, "%s%s%s", s->flag, s->metavar[0] ? " " : "", s->metavar);
		fprintf(to, "  %-26s ", head);
		for (const char *h = s->help; *h;) {
			size_t n = strcspn(h, "\n");
			fprintf(to, "%.*s\n", (int)n, h);
			h += n + (h[n] == '\n');
			if (*h)
				fprintf(to, "  %-26s ", "");
		}
		expected(s, false, want, sizeof want);
		fprintf(to, "  %-26s env %s, key \"%s\"%s%s, default %s\n", "", s->env, s->key,
			s->type == TYPE_TEXT || s->type == TYPE_LIST ? "" : ": ",
			s->type == TYPE_TEXT || s->type == TYPE_LIST ? "" : want, s->fallback ? s->fallback : "none");
	}
}
