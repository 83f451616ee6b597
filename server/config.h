/* config — every setting of spawnd, from one table (server/config.c): its
 * config file key, its flag, its SPAWND_* environment variable, its type,
 * default and range, and its help line. A new setting is one line there and
 * one field here.
 *
 * Precedence, strongest first: a flag, its environment variable, the --config
 * file (a JSON object of keys; SPAWND_CONFIG names it too), the default.
 * The file is checked whole (an unknown key, a duplicate key, a wrong type or
 * a value out of range is an error naming the file and the key), even where a
 * flag or the environment overrides it; of a flag and its variable only the
 * one that wins is read, as before.
 *
 * Ownership: every string of a struct config is its own (malloc'ed);
 * config_release() frees them. Nothing here exits: errors come back as text.
 */
#ifndef SPAWND_CONFIG_H
#define SPAWND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	char *listen;            /* HOST:PORT */
	char *state_dir;
	char *store;             /* "sqlite" or "memory" */
	char *targets;           /* NULL: no targets file */
	char *plugins;           /* NULL: no plugins folder */
	char *log_level;         /* error, warn, info or debug */
	long max_running, max_queued, max_connections;
	char *cors_origins;      /* comma-separated, or NULL: CORS off */
	double heartbeat;        /* seconds */
	char *tokens_file;       /* NULL: no tokens (server/auth.h) */
	char *allowed_hosts;     /* comma-separated Host names, or NULL (server/origin.h) */
	bool insecure;           /* serve a non-loopback address without tokens */
	long retention_count;    /* ended records kept (0: no count limit) */
	double retention_age, retention_interval, shutdown_timeout;   /* seconds (age 0: no age limit) */
	double object_timeout;   /* seconds: default and maximum wait on a shared object */
	long max_connections_per_ip;   /* 0: no per-IP limit (server/connlimit.h) */
	double idle_timeout;     /* seconds an idle HTTP connection is kept */
	char *tls_cert, *tls_key;   /* PEM files, or NULL: plain HTTP (server/tls.h) */
	char *config;            /* the file read, or NULL */
	char *output_memory_cap, *output_cap_per_process;     /* sizes (config_parse_size) */
	char *min_free_space;    /* a size or "N%" */
	unsigned char source[32];   /* enum config_source of each setting, by table index */
};

enum config_source { CONFIG_DEFAULT, CONFIG_FILE, CONFIG_ENV, CONFIG_FLAG };

enum config_result {
	CONFIG_OK = 0,
	CONFIG_ERROR = -1,       /* err says what is wrong, naming the flag, variable or file and key */
	CONFIG_HELP = 1,         /* --help or -h was given */
	CONFIG_VERSION = 2,      /* --version was given */
};

/* Fills c from the defaults, the --config file, the environment and argv
 * (argv[0] is the program). On CONFIG_ERROR c is released already. */
enum config_result config_load(struct config *c, int argc, char *const *argv, char *err, size_t cap);

/* Applies a config file's text (len bytes and a NUL) over c, which holds
 * the defaults or more; file names it in messages. 0 or -1 with err. */
int config_apply_json(struct config *c, const char *text, size_t len, const char *file, char *err, size_t cap);

/* A size setting's text: bytes with an optional K, M, G, T (or KiB...)
 * suffix, binary, or with percent_ok "N%" (into *percent; *bytes 0).
 * 0 or -1. */
int config_parse_size(const char *text, bool percent_ok, uint64_t *bytes, double *percent);

/* c with every setting at its default. 0 or -1 (out of memory). */
int config_defaults(struct config *c, char *err, size_t cap);

/* Where the setting of this config key came from (CONFIG_DEFAULT for an unknown key). */
enum config_source config_source_of(const struct config *c, const char *key);

void config_release(struct config *c);

/* The --help text: every setting with its flag, variable, key and default. */
void config_usage(FILE *to);

/* The table, for tests and the help text: key, flag, variable, default as
 * text (NULL: unset) of setting i < config_count(). */
size_t config_count(void);
void config_describe(size_t i, const char **key, const char **flag, const char **env, const char **fallback);

#endif
