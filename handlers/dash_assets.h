/* dash_assets — the dashboard's files, built into the binary: the table is
 * generated at build time (scripts/embed_assets.c writes build/gen/dash_assets.c
 * from dashboard/). Read-only, static: no ownership to speak of. */
#ifndef SPAWND_DASH_ASSETS_H
#define SPAWND_DASH_ASSETS_H

#include <stddef.h>

struct dash_asset {
	const char *name;          /* the file's name, e.g. "app.js" */
	const char *type;          /* its Content-Type */
	const char *etag;          /* a quoted strong validator, e.g. "\"0123456789abcdef\"" */
	const unsigned char *data;
	size_t len;
};

extern const struct dash_asset dash_assets[];
extern const size_t dash_assets_count;

#endif
