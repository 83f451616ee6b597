/* api_dashboard — the dashboard's files (issue 16, step 1): GET / is the
 * page, GET /assets/{name} its script and style, each with its media type,
 * the bytes of dashboard/ (built into the binary: the test compares them with
 * the files of the tree), an ETag that If-None-Match turns into a 304 without
 * a body, and a Content-Security-Policy that allows nothing from elsewhere
 * and no inline script. Unknown assets are 404; the files need no token
 * (the login page is one of them) while the API still does.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct live *request(struct server *s, const char *path, const char *extra)
{
	const char *headers[2] = { extra, NULL };
	struct live *l = live_request(s, "GET", path, headers, NULL, 0, 0);
	live_wait_done(l, 20);
	return l;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (buf = malloc((size_t)ftell(f) + 1))) {
		*len = (size_t)ftell(f);
		rewind(f);
		if (fread(buf, 1, *len, f) != *len) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* path serves file with type, an ETag, no-cache and the strict CSP; a
 * second GET with that ETag is a 304 with no body. */
static void check_asset(struct server *s, const char *path, const char *file, const char *type)
{
	char etag[128], csp[512], cache[64], nosniff[32], inm[200];
	size_t len = 0;
	char *want = slurp(file, &len);
	struct live *l = request(s, path, NULL);

	CHECK_MSG(want, "cannot read %s (run from the project root)", file);
	CHECK_MSG(l->status == 200, "%s: %ld", path, l->status);
	CHECK_MSG(strncmp(l->content_type, type, strlen(type)) == 0, "%s: type %s", path, l->content_type);
	CHECK_MSG(l->len == len && memcmp(l->body, want, len) == 0, "%s: not the bytes of %s", path, file);
	free(want);
	CHECK_MSG(live_header(l, "ETag", etag, sizeof etag) && etag[0] == '"', "%s: no strong ETag", path);
	CHECK_MSG(live_header(l, "Cache-Control", cache, sizeof cache) && strcmp(cache, "no-cache") == 0,
		  "%s: Cache-Control %s", path, cache);
	CHECK_MSG(live_header(l, "X-Content-Type-Options", nosniff, sizeof nosniff), "%s: no nosniff", path);
	CHECK_MSG(live_header(l, "Content-Security-Policy", csp, sizeof csp), "%s: no CSP", path);
	CHECK_MSG(strstr(csp, "default-src 'none'") && strstr(csp, "script-src 'self'") &&
		  strstr(csp, "frame-ancestors 'none'") && !strstr(csp, "unsafe-inline") &&
		  !strstr(csp, "unsafe-eval") && !strstr(csp, "http"), "%s: CSP %s", path, csp);
	live_close(l);
	snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
	l = request(s, path, inm);
	CHECK_MSG(l->status == 304 && l->len == 0, "%s with If-None-Match: %ld, %zu bytes", path, l->status, l->len);
	live_close(l);
	l = request(s, path, "If-None-Match: \"0000000000000000\"");
	CHECK_MSG(l->status == 200 && l->len > 0, "%s with another ETag: %ld", path, l->status);
	live_close(l);
}

static void test_dashboard_files(void)
{
	struct server *s = server_start(NULL);
	char why[256];
	CHECK(s);
	check_asset(s, "/", "dashboard/index.html", "text/html");
	check_asset(s, "/assets/app.js", "dashboard/app.js", "text/javascript");
	check_asset(s, "/assets/app.css", "dashboard/app.css", "text/css");
	check_asset(s, "/assets/objects.js", "dashboard/objects.js", "text/javascript");
	struct resp *r = get(s, "/assets/nope.js");
	CHECK_STATUS(r, 404);
	CHECK_STR(err_code(r), "not_found");
	r = get(s, "/assets/index.html");       /* the page has one address: / */
	CHECK_STATUS(r, 404);
	r = get(s, "/assets/..");
	CHECK_STATUS(r, 404);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* With tokens, the page loads without one (it is where one logs in), the API does not. */
static void test_dashboard_needs_no_token(void)
{
	char file[4096], args[4200], why[256];
	struct server *probe = server_start(NULL);
	CHECK(probe);
	snprintf(file, sizeof file, "%s/tokens", server_root(probe));
	FILE *f = fopen(file, "w");
	CHECK(f);
	fprintf(f, "admin aaaaaaaaaaaaaaaaaaaaaaaa\n");
	fclose(f);
	chmod(file, 0600);
	snprintf(args, sizeof args, "--tokens-file %s", file);
	struct server *s = server_start(args);
	CHECK(s);
	struct resp *r = get(s, "/");
	CHECK_STATUS(r, 200);
	r = get(s, "/assets/app.js");
	CHECK_STATUS(r, 200);
	r = get(s, "/processes");
	CHECK_STATUS(r, 401);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
	CHECK_MSG(server_stop(probe, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	RUN(test_dashboard_files);
	RUN(test_dashboard_needs_no_token);
	return CHECK_EXIT();
}
