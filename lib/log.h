/* log — one structured line per event on stderr (logfmt: ts=… level=… msg="…" key=value…),
 * like multiprocessing's log_to_stderr(). Thread-safe: each line is one write(2).
 * Never log a secret (a token, an env value). */
#ifndef SPAWND_LOG_H
#define SPAWND_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Parses "error" | "warn" | "info" | "debug"; -1 if none of them. */
int log_parse_level(const char *name);
int log_enabled(enum log_level level);
/* msg is the event's name; fields is a printf format of further key=value pairs (or NULL). */
void log_event(enum log_level level, const char *msg, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));

#endif
