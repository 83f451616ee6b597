/* dashboard — see dashboard.h.
 *
 * Why these headers: the page runs with the operator's credentials (a
 * session cookie), so it must not run anything but its own files. The CSP
 * allows scripts, styles, images and connections from this origin only, no
 * inline script or style, no framing (clickjacking of the kill button), no
 * form posts elsewhere, no <base>. nosniff keeps a browser from running a
 * file as a type it was not served as. The files are public (the login page
 * is one of them) and hold no data: everything shown comes from the API,
 * which checks the token or the session.
 *
 * Caching: "no-cache" means "revalidate", so a new binary's page is seen at
 * the next load, and an unchanged one costs a 304 without a body.
 */
#include "handlers/dashboard.h"

#include <string.h>

#include "handlers/dash_assets.h"

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

static const struct dash_asset *find(const char *name)
{
	for (size_t i = 0; i < dash_assets_count; i++)
		if (strcmp(dash_assets[i].name, name) == 0)
			return &dash_assets[i];
	return NULL;
}

/* If-None-Match holds a as one of its validators (or "*"). */
static bool not_modified(struct http_req *r, const struct dash_asset *a)
{
	const char *inm = http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	return inm && (strstr(inm, a->etag) || strcmp(inm, "*") == 0);
}

static enum MHD_Result serve(struct http_req *r, const struct dash_asset *a)
{
	bool fresh = not_modified(r, a);
	struct MHD_Response *resp = MHD_create_response_from_buffer(fresh ? 0 : a->len,
		(void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (!fresh)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	return http_reply_response(r, fresh ? 304 : 200, resp);
}

enum MHD_Result dashboard_index(struct http_req *r)
{
	const struct dash_asset *a = find("index.html");
	if (!a)
		return http_reply_error(r, 404, "not_found", NULL, "this build has no dashboard");
	return serve(r, a);
}

enum MHD_Result dashboard_asset(struct http_req *r)
{
	const struct dash_asset *a = find(r->params[0]);
	if (!a || strcmp(a->name, "index.html") == 0)
		return http_reply_error(r, 404, "not_found", NULL, "no such asset: %s", r->params[0]);
	return serve(r, a);
}
