/* framing — see framing.h. Every header line is visited once
 * (MHD_get_connection_values), so duplicates are seen, which a lookup by
 * name (the first match) would hide. */
#include "server/framing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct framing_counts {
	unsigned content_length, transfer_encoding, host;
	bool chunked_only;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing_counts *c = cls;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		c->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		c->host++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		c->transfer_encoding++;
		c->chunked_only = value && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

const char *framing_problem(struct MHD_Connection *conn, const char *version, const char **field)
{
	struct framing_counts c = { 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &c);
	*field = MHD_HTTP_HEADER_CONTENT_LENGTH;
	if (c.content_length > 1)
		return "given more than once";
	*field = MHD_HTTP_HEADER_TRANSFER_ENCODING;
	if (c.transfer_encoding > 1)
		return "given more than once";
	if (c.transfer_encoding && c.content_length)
		return "not allowed together with Content-Length";
	if (c.transfer_encoding && !c.chunked_only)
		return "only chunked is supported";
	*field = MHD_HTTP_HEADER_HOST;
	if (c.host > 1)
		return "given more than once";
	if (!c.host && version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		return "missing (HTTP/1.1 requires it)";
	return NULL;
}
