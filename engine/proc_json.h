/* proc_json — a record as API.md's Process object (see proc_json.c). */
#ifndef SPAWND_PROC_JSON_H
#define SPAWND_PROC_JSON_H

#include <cjson/cJSON.h>

#include "engine/outbuf.h"
#include "engine/proc.h"
#include "engine/store.h"

/* out: the record's two live output buffers, or NULL (the store's counts).
 * malloc'd text; NULL: no memory. */
char *proc_render_text(const struct store_record *r, const struct outbuf *out, unsigned flags);
cJSON *proc_render(const struct store_record *r, const struct outbuf *out, unsigned flags);  /* raw item */
const char *proc_reason_name(enum proc_reason r);

#endif
