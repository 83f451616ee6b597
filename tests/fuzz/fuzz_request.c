/* fuzz_request — libFuzzer over request routing and query parsing: the
 * input is "METHOD PATH[?QUERY]" (up to the first newline). The path goes
 * through libmicrohttpd's percent-decoding with spawnd's NUL rule (as
 * server/http.c's unescape callback does) and router_find() over the real
 * route table; every query value through the parsers the handlers use
 * (http_parse_u64, the seconds rule of http_query_seconds). Checks what must
 * always hold: a matched route's method is the request's (HEAD as GET), and
 * its path parameters are non-empty, at most 128 bytes, of [A-Za-z0-9_.-],
 * never "." or "..".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/routes.h"
#include "server/router.h"
#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_param(const char *p)
{
	size_t len = strlen(p);
	if (len == 0 || len > 128 || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 ||
	    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != len)
		abort();
}

static void query_values(char *query)
{
	for (char *pair = strtok(query, "&"); pair; pair = strtok(NULL, "&")) {
		char *eq = strchr(pair, '=');
		if (!eq)
			continue;
		if (!strstr(eq + 1, "%00"))
			MHD_http_unescape(eq + 1);
		uint64_t n;
		if (http_parse_u64(eq + 1, &n) && eq[1] == '-')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	if (!text)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	char *space = strchr(text, ' ');
	if (!space) {
		free(text);
		return 0;
	}
	*space = '\0';
	char *path = space + 1, *query = strchr(path, '?');
	if (query)
		*query++ = '\0';
	if (!strstr(path, "%00"))           /* server/http.c leaves such text undecoded */
		MHD_http_unescape(path);
	struct http_req r = { .method = text, .path = path };
	size_t n;
	const struct route *routes = routes_table(&n);
	const struct route *row = router_find(routes, n, &r);
	if (row) {
		const char *want = strcmp(text, "HEAD") == 0 ? "GET" : text;
		if (strcmp(row->method, want) != 0)
			abort();
		for (int i = 0; i < HTTP_MAX_PARAMS && r.params[i]; i++)
			check_param(r.params[i]);
	}
	if (query)
		query_values(query);
	free(text);
	return 0;
}
