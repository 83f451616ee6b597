#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/ts.h"

static enum log_level current = LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level) { current = level; }
int log_enabled(enum log_level level) { return level <= current; }

int log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void log_event(enum log_level level, const char *msg, const char *fields, ...)
{
	char line[2048], ts[TS_RFC3339_LEN];
	if (level > current)
		return;
	ts_format(ts_wall_ms(), ts);
	int n = snprintf(line, sizeof line, "ts=%s level=%s msg=\"%s\"", ts, names[level], msg);
	if (fields && n > 0 && (size_t)n < sizeof line - 1) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fields);
		int m = vsnprintf(line + n, sizeof line - (size_t)n, fields, ap);
		va_end(ap);
		n = m < 0 ? n - 1 : n + m;
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	ssize_t unused = write(2, line, (size_t)n);
	(void)unused;
}
