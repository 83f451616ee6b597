/* api_tls — HTTPS (QUALITY.md 7, issue 12 point 4): with --tls-cert and
 * --tls-key a TLS 1.0 or 1.1 handshake fails and TLS 1.2 and 1.3 complete
 * (gnutls-cli, each version offered alone); a request with a token works over
 * TLS (401 without it); SIGHUP serves a new certificate at once (a client
 * trusting only the new one is refused before and served after) and a broken
 * file at the reload keeps the current one; a missing, broken or mismatched
 * certificate or key refuses to start, naming the flag and the file.
 *
 * Certificates and keys are made here with certtool (gnutls-bin, installed by
 * scripts/install-deps.sh test), in a temporary folder: none is committed.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define TOKEN "admin-token-tls-4d2c9b7e1a"

static char dir[64];
static struct server *srv;

static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

/* DIR/NAME.key and DIR/NAME.pem, a self-signed certificate for 127.0.0.1 with CN=cn. */
static bool make_cert(const char *name, const char *cn)
{
	return sh("cd %s && printf 'cn = %s\\nip_address = 127.0.0.1\\ndns_name = localhost\\n"
		  "expiration_days = 2\\ntls_www_server\\nsigning_key\\nencryption_key\\n' > %s.tmpl && "
		  "certtool --generate-privkey --key-type ecdsa --outfile %s.key >/dev/null 2>&1 && "
		  "certtool --generate-self-signed --load-privkey %s.key --template %s.tmpl --outfile %s.pem "
		  ">/dev/null 2>&1", dir, cn, name, name, name, name, name);
}

static void test_setup(void)
{
	CHECK(mkdtemp(strcpy(dir, "/tmp/spawnd-tls.XXXXXX")));
	CHECK_MSG(make_cert("a", "spawnd-a") && make_cert("b", "spawnd-b"), "certtool failed (gnutls-bin installed?)");
	CHECK(sh("cd %s && cp a.pem cert.pem && cp a.key key.pem && printf 'admin %s\\n' > tokens && chmod 600 tokens",
		 dir, TOKEN));
	char args[512];
	snprintf(args, sizeof args, "--tls-cert %s/cert.pem --tls-key %s/key.pem --tokens-file %s/tokens", dir, dir, dir);
	srv = server_start(args);
	CHECK(srv);
	CHECK_MSG(strncmp(server_url(srv), "https://", 8) == 0, "url %s", server_url(srv));
}

static int port(void)
{
	return atoi(strrchr(server_url(srv), ':') + 1);
}

/* gnutls-cli offering only TLS version v ("1.0" ... "1.3"): true when the handshake completed. */
static bool handshake(const char *v, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "timeout 10 gnutls-cli --insecure --priority NORMAL:-VERS-ALL:+VERS-TLS%s "
		 "-p %d 127.0.0.1 </dev/null 2>&1", v, port());
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, cap - 1, p) : 0;
	out[n] = '\0';
	int st = p ? pclose(p) : -1;
	return st == 0 && strstr(out, "Handshake was completed");
}

static void test_versions(void)
{
	char out[8192], want[32];
	CHECK(srv);
	CHECK_MSG(!handshake("1.0", out, sizeof out), "TLS 1.0 completed: %.600s", out);
	CHECK_MSG(!handshake("1.1", out, sizeof out), "TLS 1.1 completed: %.600s", out);
	CHECK_MSG(handshake("1.2", out, sizeof out), "TLS 1.2 failed: %.600s", out);
	CHECK_MSG(strstr(out, "(TLS1.2-"), "not TLS 1.2: %.600s", out);
	CHECK_MSG(handshake("1.3", out, sizeof out), "TLS 1.3 failed: %.600s", out);
	snprintf(want, sizeof want, "(TLS1.3-");
	CHECK_MSG(strstr(out, want), "not TLS 1.3: %.600s", out);
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), add = size * n;
	if (have + add < 4096) {
		memcpy(buf + have, data, add);
		buf[have + add] = '\0';
	}
	return size * n;
}

/* One HTTPS request trusting only DIR/ca (a file name); the status, 0 when
 * the connection or the handshake failed (curl's error in body). */
static long request(const char *ca, const char *method, const char *path, const char *token, const char *data,
		    char *body)
{
	char url[256], cafile[128], auth[128];
	struct curl_slist *h = NULL;
	long status = 0;
	CURL *c = curl_easy_init();
	body[0] = '\0';
	snprintf(url, sizeof url, "%s%s", server_url(srv), path);
	snprintf(cafile, sizeof cafile, "%s/%s", dir, ca);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (data) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(body, 4096, "curl: %s", curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static void test_token_over_tls(void)
{
	char body[4096];
	CHECK(srv);
	long st = request("a.pem", "GET", "/processes", NULL, NULL, body);
	CHECK_MSG(st == 401, "no token: %ld %s", st, body);
	st = request("a.pem", "GET", "/processes", TOKEN, NULL, body);
	CHECK_MSG(st == 200, "token: %ld %s", st, body);
	st = request("a.pem", "POST", "/processes?wait=10", TOKEN, "{\"target\": \"worker\", \"args\": [7]}", body);
	CHECK_MSG(st == 201 && strstr(body, "Worker: 7"), "run over TLS: %ld %s", st, body);
	st = request("a.pem", "GET", "/healthz", NULL, NULL, body);
	CHECK_MSG(st == 200, "/healthz: %ld %s", st, body);
}

static void test_sighup_reload(void)
{
	char body[4096];
	CHECK(srv);
	/* Before: certificate a; a client trusting only b is refused. */
	long st = request("b.pem", "GET", "/healthz", NULL, NULL, body);
	CHECK_MSG(st == 0, "b trusted before the reload: %ld %s", st, body);
	CHECK(sh("cd %s && cp b.pem cert.new && cp b.key key.new && mv cert.new cert.pem && mv key.new key.pem", dir));
	CHECK(kill(server_pid(srv), SIGHUP) == 0);
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.05))
		if ((st = request("b.pem", "GET", "/healthz", NULL, NULL, body)) == 200)
			break;
	CHECK_MSG(st == 200, "b not served after SIGHUP: %ld %s", st, body);
	st = request("a.pem", "GET", "/healthz", NULL, NULL, body);
	CHECK_MSG(st == 0, "a still served after SIGHUP: %ld %s", st, body);
	/* A broken file at the reload: b stays, and the log says why. */
	CHECK(sh("cd %s && echo broken > cert.new && mv cert.new cert.pem", dir));
	CHECK(kill(server_pid(srv), SIGHUP) == 0);
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.05)) {
		char *log = server_log(srv);
		bool seen = log && strstr(log, "TLS certificate reload failed");
		free(log);
		if (seen)
			break;
	}
	char *log = server_log(srv);
	CHECK_MSG(log && strstr(log, "TLS certificate reload failed") && strstr(log, "not a PEM certificate"),
		  "no reload error in the log: %s", log ? log : "");
	free(log);
	st = request("b.pem", "GET", "/healthz", NULL, NULL, body);
	CHECK_MSG(st == 200, "b not served after a failed reload: %ld %s", st, body);
}

/* spawnd with args must refuse to start with exit 2 and a message holding want. */
static void refuses(const char *const *args, const char *want)
{
	char root[64], log[4096];
	bool listened = false;
	CHECK(mkdtemp(strcpy(root, "/tmp/spawnd-tls-run.XXXXXX")));
	int status = server_run_refused(args, root, log, sizeof log, &listened);
	sh("rm -rf %s", root);
	CHECK_MSG(!listened && WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: started or status %d: %s",
		  args[1], status, log);
	CHECK_MSG(strstr(log, want), "%s: expected \"%s\" in: %s", args[1], want, log);
}

static void test_bad_files_refuse_to_start(void)
{
	char a_pem[96], a_key[96], b_key[96], junk[96], missing[96], want[320];
	snprintf(a_pem, sizeof a_pem, "%s/a.pem", dir);
	snprintf(a_key, sizeof a_key, "%s/a.key", dir);
	snprintf(b_key, sizeof b_key, "%s/b.key", dir);
	snprintf(junk, sizeof junk, "%s/tokens", dir);
	snprintf(missing, sizeof missing, "%s/none.pem", dir);

	snprintf(want, sizeof want, "--tls-cert %s: No such file or directory", missing);
	refuses((const char *const[]){ "--tls-cert", missing, "--tls-key", a_key, NULL }, want);
	refuses((const char *const[]){ "--tls-cert", a_pem, NULL }, "--tls-cert needs --tls-key");
	snprintf(want, sizeof want, "--tls-cert %s: not a PEM certificate", junk);
	refuses((const char *const[]){ "--tls-cert", junk, "--tls-key", a_key, NULL }, want);
	snprintf(want, sizeof want, "--tls-key %s: not an unencrypted PEM private key", a_pem);
	refuses((const char *const[]){ "--tls-cert", a_pem, "--tls-key", a_pem, NULL }, want);
	snprintf(want, sizeof want, "--tls-key %s does not belong to the certificate of --tls-cert %s", b_key, a_pem);
	refuses((const char *const[]){ "--tls-cert", a_pem, "--tls-key", b_key, NULL }, want);
}

static void test_stop(void)
{
	char why[256];
	int r = server_stop(srv, why, sizeof why);
	srv = NULL;
	CHECK_MSG(r == 0, "stop: %s", why);
	CHECK(sh("rm -rf %s", dir));
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	RUN(test_setup);
	RUN(test_versions);
	RUN(test_token_over_tls);
	RUN(test_sighup_reload);
	RUN(test_bad_files_refuse_to_start);
	RUN(test_stop);
	return CHECK_EXIT();
}
