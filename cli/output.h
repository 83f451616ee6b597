/* output — how records are shown: aligned tables with colour on a terminal,
 * tab-separated lines (no header, no colour) when stdout is not one.
 *
 * Ownership: a struct table copies every cell it is given and is freed by
 * table_free(), which table_print() does not do.
 */
#ifndef SPAWNCTL_OUTPUT_H
#define SPAWNCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "cli/common.h"

enum color { COLOR_NONE, COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE, COLOR_MAGENTA, COLOR_DIM };

struct table;

/* A table of ncols columns named by headers (shown on a terminal only). NULL on no memory. */
struct table *table_new(const struct cli *cli, const char *const *headers, size_t ncols);
/* Adds a row of ncols cells (NULL shows as "-"), the cell color_col (or -1)
 * painted color. 0 or -ENOMEM. */
int table_add(struct table *t, const char *const *cells, int color_col, enum color color);
void table_print(const struct table *t);
void table_free(struct table *t);

/* The colour a process state is shown in (exited 0 plain, non-zero red, ...). */
enum color state_color(const char *state, const cJSON *exitcode);

/* Text forms of record fields, written to buf (cap bytes), returned:
 *  - a number (pid, exitcode) or NULL: "-" when it is null or absent;
 *  - a time: local "YYYY-MM-DD HH:MM:SS" on a terminal, the server's RFC 3339 otherwise;
 *  - a duration: "850ms", "12.3s", "4m05s", "2h03m" on a terminal, seconds otherwise. */
const char *fmt_int(const cJSON *obj, const char *key, char *buf, size_t cap);
const char *fmt_time(const struct cli *cli, const char *rfc3339, char *buf, size_t cap);
const char *fmt_duration(const struct cli *cli, const cJSON *seconds, char *buf, size_t cap);

/* obj[key] as a string, or NULL. */
const char *jstring(const cJSON *obj, const char *key);

#endif
