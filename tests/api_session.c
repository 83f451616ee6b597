/* api_session — browser sessions (API.md "Authentication", issue 12 point 2):
 * POST /session trades a valid token for an HttpOnly, SameSite=Strict cookie
 * holding a random id (never the token), with an expiry; the cookie then
 * authenticates reads, and writes only with X-Spawnd-CSRF or the server's own
 * Origin; a read token's session may not write; a forged cookie, a logged-out
 * one and one whose token was revoked (SIGHUP reload) are refused; with tokens
 * off, GET and POST /session say so and set no cookie. Bad bodies are 400.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ADMIN "admin-token-0123456789abcdef"
#define READ "read-token-0123456789abcdef"

static struct server *srv;
static char dir[64], tokens_path[128];

static bool write_tokens(const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", tokens_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	fputs(text, f);
	fclose(f);
	chmod(tmp, 0600);
	return rename(tmp, tokens_path) == 0;
}

/* One request with up to three header lines; waits for its end. */
static struct live *request(const char *method, const char *path, const char *body, const char *h1,
			    const char *h2, const char *h3)
{
	const char *headers[5] = { NULL };
	int n = 0;
	for (const char *h[] = { h1, h2, h3 }, **p = h; p < h + 3; p++)
		if (*p)
			headers[n++] = *p;
	if (body)
		headers[n++] = "Content-Type: application/json";
	struct live *l = live_request(srv, method, path, headers, body, body ? strlen(body) : 0, 0);
	live_wait_done(l, 30);
	return l;
}

static bool has(const struct live *l, const char *needle)
{
	return l->body && memmem(l->body, l->len, needle, strlen(needle)) != NULL;
}

/* Logs in with token; the "Cookie: ..." header line for the session in out. */
static bool login(const char *token, char *out, size_t cap)
{
	char body[128], set[512];
	snprintf(body, sizeof body, "{\"token\": \"%s\"}", token);
	struct live *l = request("POST", "/session", body, NULL, NULL, NULL);
	bool ok = l->status == 200 && live_header(l, "Set-Cookie", set, sizeof set);
	live_close(l);
	if (!ok || strncmp(set, "spawnd_session=", 15) != 0)
		return false;
	snprintf(out, cap, "Cookie: %.*s", (int)strcspn(set, ";"), set);
	return true;
}

static void test_setup(void)
{
	char args[256];
	CHECK(mkdtemp(strcpy(dir, "/tmp/spawnd-session.XXXXXX")));
	snprintf(tokens_path, sizeof tokens_path, "%s/tokens", dir);
	CHECK(write_tokens("admin " ADMIN "\nread " READ "\n"));
	snprintf(args, sizeof args, "--tokens-file %s", tokens_path);
	CHECK((srv = server_start(args)));
}

static void test_login_sets_a_cookie_that_is_not_the_token(void)
{
	char set[512];
	CHECK(srv);
	struct live *l = request("POST", "/session", "{\"token\": \"" ADMIN "\"}", NULL, NULL, NULL);
	CHECK_MSG(l->status == 200, "login: %ld %s", l->status, l->body);
	CHECK(live_header(l, "Set-Cookie", set, sizeof set));
	size_t id_len = strcspn(set + 15, ";");
	CHECK_MSG(strncmp(set, "spawnd_session=", 15) == 0 && id_len == 64, "Set-Cookie: %s", set);
	CHECK_MSG(strstr(set, "; HttpOnly") && strstr(set, "; SameSite=Strict") && strstr(set, "; Path=/") &&
		  strstr(set, "; Max-Age=43200"), "Set-Cookie: %s", set);
	CHECK_MSG(!strstr(set, ADMIN) && !has(l, ADMIN), "the token is echoed");
	CHECK_MSG(has(l, "\"role\":\"admin\"") && has(l, "\"tokens\":true") && has(l, "\"expires_at\":\"20"),
		  "body: %s", l->body);
	live_close(l);
	l = request("POST", "/session", "{\"token\": \"not-a-valid-token-at-all\"}", NULL, NULL, NULL);
	CHECK_MSG(l->status == 401 && !live_header(l, "Set-Cookie", set, sizeof set), "a wrong token: %ld", l->status);
	live_close(l);
	static const char *const bad[] = { "{}", "{\"token\": 5}", "{\"token\": \"\"}", "[]",
					   "{\"token\": \"" ADMIN "\", \"x\": 1}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		l = request("POST", "/session", bad[i], NULL, NULL, NULL);
		CHECK_MSG(l->status == 400 && has(l, "invalid_argument"), "%s: %ld %s", bad[i], l->status, l->body);
		live_close(l);
	}
}

static void test_cookie_reads_and_writes_with_csrf_only(void)
{
	char cookie[256], origin[256];
	CHECK(srv);
	CHECK(login(ADMIN, cookie, sizeof cookie));
	struct live *l = request("GET", "/processes", NULL, cookie, NULL, NULL);
	CHECK_MSG(l->status == 200, "GET with the cookie: %ld", l->status);
	live_close(l);
	l = request("GET", "/session", NULL, cookie, NULL, NULL);
	CHECK_MSG(l->status == 200 && has(l, "\"role\":\"admin\""), "GET /session: %s", l->body);
	live_close(l);
	const char *body = "{\"target\": \"worker\"}";
	l = request("POST", "/processes", body, cookie, NULL, NULL);
	CHECK_MSG(l->status == 403 && has(l, "X-Spawnd-CSRF"), "a write without CSRF proof: %ld %s", l->status, l->body);
	live_close(l);
	l = request("POST", "/processes", body, cookie, "X-Spawnd-CSRF: 1", NULL);
	CHECK_MSG(l->status == 201, "with the CSRF header: %ld %s", l->status, l->body);
	live_close(l);
	snprintf(origin, sizeof origin, "Origin: %s", server_url(srv));
	l = request("POST", "/processes", body, cookie, origin, NULL);
	CHECK_MSG(l->status == 201, "with its own Origin: %ld %s", l->status, l->body);
	live_close(l);
	l = request("POST", "/processes", body, cookie, "Origin: http://evil.example", "X-Spawnd-CSRF: 1");
	CHECK_MSG(l->status == 403, "from another Origin: %ld", l->status);
	live_close(l);
	/* A bearer token, when sent, is what counts: a wrong one is refused, cookie or not. */
	l = request("GET", "/processes", NULL, cookie, "Authorization: Bearer wrong-token-0123456789", NULL);
	CHECK_MSG(l->status == 401, "a wrong bearer token with a good cookie: %ld", l->status);
	live_close(l);
}

static void test_read_session_may_only_read(void)
{
	char cookie[256];
	CHECK(srv);
	CHECK(login(READ, cookie, sizeof cookie));
	struct live *l = request("GET", "/session", NULL, cookie, NULL, NULL);
	CHECK_MSG(has(l, "\"role\":\"read\""), "GET /session: %s", l->body);
	live_close(l);
	l = request("GET", "/processes", NULL, cookie, NULL, NULL);
	CHECK_MSG(l->status == 200, "read: %ld", l->status);
	live_close(l);
	l = request("POST", "/processes", "{\"target\": \"worker\"}", cookie, "X-Spawnd-CSRF: 1", NULL);
	CHECK_MSG(l->status == 403 && has(l, "read token"), "a read session writing: %ld %s", l->status, l->body);
	live_close(l);
}

static void test_forged_logged_out_and_revoked_cookies_fail(void)
{
	char cookie[256], other[256];
	CHECK(srv);
	struct live *l = request("GET", "/processes", NULL,
		"Cookie: spawnd_session=00000000000000000000000000000000000000000000000000000000000000aa", NULL, NULL);
	CHECK_MSG(l->status == 401, "a forged cookie: %ld", l->status);
	live_close(l);
	CHECK(login(ADMIN, cookie, sizeof cookie));
	CHECK(login(ADMIN, other, sizeof other));
	l = request("DELETE", "/session", NULL, cookie, NULL, NULL);
	char set[256];
	CHECK_MSG(l->status == 204 && live_header(l, "Set-Cookie", set, sizeof set) && strstr(set, "Max-Age=0"),
		  "logout: %ld", l->status);
	live_close(l);
	l = request("GET", "/processes", NULL, cookie, NULL, NULL);
	CHECK_MSG(l->status == 401, "after logout: %ld", l->status);
	live_close(l);
	l = request("GET", "/processes", NULL, other, NULL, NULL);
	CHECK_MSG(l->status == 200, "another session after that logout: %ld", l->status);
	live_close(l);
	/* The admin token leaves the file: its sessions end with the reload. */
	CHECK(write_tokens("read " READ "\n"));
	kill(server_pid(srv), SIGHUP);
	bool refused = false;
	for (double end = now_s() + 10; !refused && now_s() < end; sleep_s(0.05)) {
		l = request("GET", "/processes", NULL, other, NULL, NULL);
		refused = l->status == 401;
		live_close(l);
	}
	CHECK_MSG(refused, "a session of a revoked token still works");
}

static void test_tokens_off(void)
{
	char why[256], set[256];
	struct server *open = server_start(NULL), *keep = srv;
	CHECK(open);
	srv = open;
	struct live *l = request("GET", "/session", NULL, NULL, NULL, NULL);
	bool ok = l->status == 200 && has(l, "\"tokens\":false") && has(l, "\"role\":\"admin\"");
	live_close(l);
	l = request("POST", "/session", "{\"token\": \"anything\"}", NULL, NULL, NULL);
	ok = ok && l->status == 200 && !live_header(l, "Set-Cookie", set, sizeof set);
	live_close(l);
	srv = keep;
	CHECK_MSG(server_stop(open, why, sizeof why) == 0, "%s", why);
	CHECK_MSG(ok, "with tokens off, /session should say so and set no cookie");
}

static void test_stop(void)
{
	check_server_stops(&srv);
	unlink(tokens_path);
	rmdir(dir);
}

int main(void)
{
	RUN(test_setup);
	RUN(test_login_sets_a_cookie_that_is_not_the_token);
	RUN(test_cookie_reads_and_writes_with_csrf_only);
	RUN(test_read_session_may_only_read);
	RUN(test_forged_logged_out_and_revoked_cookies_fail);
	RUN(test_tokens_off);
	RUN(test_stop);
	return CHECK_EXIT();
}
