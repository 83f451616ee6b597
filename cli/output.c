/* output — tables, colour and the text forms of record fields.
 *
 * Design: a table is collected whole, then printed, because column widths
 * need every row. On a terminal it is aligned under a header and the chosen
 * cell is painted (ANSI SGR, only when NO_COLOR is unset); anywhere else it
 * is one tab-separated line per row with no header, no padding and no escape
 * codes, the shape `cut`, `awk -F'\t'` and `while read` expect. Widths count
 * UTF-8 characters, not bytes, so a name with accents does not shift columns.
 */
#define _GNU_SOURCE
#include "cli/output.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct row {
	char **cells;
	int color_col;
	enum color color;
};

struct table {
	const struct cli *cli;
	const char *const *headers;
	size_t ncols, nrows, cap;
	struct row *rows;
};

static const char *const sgr[] = {
	[COLOR_NONE] = "", [COLOR_RED] = "\033[31m", [COLOR_GREEN] = "\033[32m",
	[COLOR_YELLOW] = "\033[33m", [COLOR_BLUE] = "\033[34m", [COLOR_MAGENTA] = "\033[35m",
	[COLOR_DIM] = "\033[2m",
};

struct table *table_new(const struct cli *cli, const char *const *headers, size_t ncols)
{
	struct table *t = calloc(1, sizeof *t);
	if (t)
		*t = (struct table){ .cli = cli, .headers = headers, .ncols = ncols };
	return t;
}

int table_add(struct table *t, const char *const *cells, int color_col, enum color color)
{
	struct row row = { .color_col = color_col, .color = color };

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct row *grown = realloc(t->rows, cap * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		t->rows = grown;
		t->cap = cap;
	}
	if (!(row.cells = calloc(t->ncols, sizeof *row.cells)))
		return -ENOMEM;
	for (size_t i = 0; i < t->ncols; i++) {
		/* A tab or newline inside a cell would break the line format. */
		char *cell = strdup(cells[i] ? cells[i] : "-");
		if (!cell) {
			while (i--)
				free(row.cells[i]);
			free(row.cells);
			return -ENOMEM;
		}
		for (char *p = cell; *p; p++)
			if (*p == '\t' || *p == '\n' || *p == '\r')
				*p = ' ';
		row.cells[i] = cell;
	}
	t->rows[t->nrows++] = row;
	return 0;
}

static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void print_cell(const struct table *t, const char *text, size_t width, bool last, enum color color)
{
	bool paint = t->cli->color && color != COLOR_NONE;
	printf("%s%s%s", paint ? sgr[color] : "", text, paint ? "\033[0m" : "");
	if (!last)
		printf("%*s", (int)(width - text_width(text) + 2), "");
}

void table_print(const struct table *t)
{
	size_t *width = calloc(t->ncols, sizeof *width);

	if (!t->cli->tty || !width) {
		for (size_t r = 0; r < t->nrows; r++)
			for (size_t c = 0; c < t->ncols; c++)
				printf("%s%c", t->rows[r].cells[c], c + 1 < t->ncols ? '\t' : '\n');
		free(width);
		return;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = text_width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++)
			if (text_width(t->rows[r].cells[c]) > width[c])
				width[c] = text_width(t->rows[r].cells[c]);
	}
	for (size_t c = 0; c < t->ncols; c++)
		print_cell(t, t->headers[c], width[c], c + 1 == t->ncols, COLOR_NONE);
	putchar('\n');
	for (size_t r = 0; r < t->nrows; r++) {
		const struct row *row = &t->rows[r];
		for (size_t c = 0; c < t->ncols; c++)
			print_cell(t, row->cells[c], width[c], c + 1 == t->ncols,
				   (int)c == row->color_col ? row->color : COLOR_NONE);
		putchar('\n');
	}
	free(width);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[r].cells[c]);
		free(t->rows[r].cells);
	}
	free(t->rows);
	free(t);
}

enum color state_color(const char *state, const cJSON *exitcode)
{
	if (!state)
		return COLOR_NONE;
	if (strcmp(state, "running") == 0)
		return COLOR_GREEN;
	if (strcmp(state, "queued") == 0)
		return COLOR_YELLOW;
	if (strcmp(state, "failed") == 0)
		return COLOR_RED;
	if (strcmp(state, "lost") == 0)
		return COLOR_MAGENTA;
	return cJSON_IsNumber(exitcode) && exitcode->valuedouble != 0 ? COLOR_RED : COLOR_NONE;
}

const char *jstring(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

const char *fmt_int(const cJSON *obj, const char *key, char *buf, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v))
		return "-";
	snprintf(buf, cap, "%.0f", v->valuedouble);
	return buf;
}

const char *fmt_time(const struct cli *cli, const char *rfc3339, char *buf, size_t cap)
{
	struct tm tm = { 0 };
	const char *rest;
	time_t t;

	if (!rfc3339)
		return "-";
	if (!cli->tty || !(rest = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)))
		return rfc3339;
	t = timegm(&tm);
	if (!localtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return rfc3339;
	return buf;
}

const char *fmt_duration(const struct cli *cli, const cJSON *seconds, char *buf, size_t cap)
{
	double s;

	if (!cJSON_IsNumber(seconds))
		return "-";
	s = seconds->valuedouble;
	if (!cli->tty)
		snprintf(buf, cap, "%.3f", s);
	else if (s < 1)
		snprintf(buf, cap, "%.0fms", s * 1000);
	else if (s < 60)
		snprintf(buf, cap, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	return buf;
}
