/* router — see router.h. */
#include "server/router.h"

#include <string.h>

#define MAX_PARAM_LEN 128

static bool param_ok(const char *s, size_t len)
{
	if (len == 0 || len > MAX_PARAM_LEN || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Matches path against pattern; on success stores parameters (pointing into
 * storage, NUL-terminated) in r->params. */
static bool match(const char *pattern, const char *path, struct http_req *r, char storage[][MAX_PARAM_LEN + 1])
{
	int nparams = 0;
	while (*pattern && *path) {
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		size_t plen = strcspn(pattern, "/"), slen = strcspn(path, "/");
		if (pattern[0] == '{') {
			if (!param_ok(path, slen) || nparams == HTTP_MAX_PARAMS)
				return false;
			memcpy(storage[nparams], path, slen);
			storage[nparams][slen] = '\0';
			r->params[nparams] = storage[nparams];
			nparams++;
		} else if (plen != slen || memcmp(pattern, path, plen) != 0)
			return false;
		pattern += plen;
		path += slen;
	}
	return !*pattern && !*path;
}

const struct route *router_find(const struct route *routes, size_t n, struct http_req *r)
{
	static __thread char storage[HTTP_MAX_PARAMS][MAX_PARAM_LEN + 1];
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;

	for (size_t i = 0; i < n; i++)
		if (strcmp(routes[i].method, method) == 0 && match(routes[i].pattern, r->path, r, storage)) {
			r->route = (int)i + 1;
			return &routes[i];
		}
	return NULL;
}

enum MHD_Result router_dispatch(const struct route *routes, size_t n, struct http_req *r)
{
	static __thread char storage[HTTP_MAX_PARAMS][MAX_PARAM_LEN + 1];
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	char allow[128] = "";
	bool path_known = false;

	for (size_t i = 0; i < n; i++) {
		if (!match(routes[i].pattern, r->path, r, storage))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			r->route = (int)i + 1;  /* counted by its template (http_metrics.h) */
			return routes[i].handler(r);
		}
		path_known = true;
		if (allow[0])
			strcat(allow, ", ");
		strcat(allow, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			strcat(allow, ", HEAD");
	}
	if (path_known && strcmp(r->method, "OPTIONS") == 0) {
		/* A CORS preflight (or a plain question): what this path allows. */
		http_set_header(r, "Allow", allow);
		if (http_cors_allowed(r))
			http_set_header(r, "Access-Control-Allow-Methods", allow);
		return http_reply_buffer(r, 204, "text/plain", "", 0, true);
	}
	if (path_known) {
		http_set_header(r, "Allow", allow);
		return http_reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s (allowed: %s)",
					r->method, r->path, allow);
	}
	return http_reply_error(r, 404, "not_found", NULL, "no such resource: %s", r->path);
}
