/* auth — see auth.h.
 *
 * Design: a token set is an array of {role, SHA-256 digest}, built whole
 * from the file and swapped in under a rwlock, so a request sees either the
 * old set or the new one, never a mix, and a revoked token fails from the
 * first request checked after the reload. Hashing first gives every
 * comparison the same length (32 bytes) whatever the token's length, and
 * nettle's memeql_sec() compares without an early exit; every entry is
 * compared, so the time does not depend on which one matched either. The
 * crypto is Debian's libnettle (GnuTLS's own), not written here.
 *
 * The file's text is wiped (explicit_bzero) once parsed: only the digests
 * stay in memory.
 */
#define _GNU_SOURCE
#include "server/auth.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "lib/log.h"
#include "server/worker_auth.h"
#include "server/session.h"

#define TOKENS_FILE_MAX (1 << 20)
#define TOKEN_MIN_LEN 16
#define TOKEN_MAX_LEN 4096

enum role { ROLE_NONE, ROLE_READ, ROLE_ADMIN };

struct token {
	enum role role;
	uint8_t digest[SHA256_DIGEST_SIZE];
};

struct token_set {
	size_t n;
	struct token tokens[];
};

static pthread_rwlock_t set_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct token_set *current;     /* NULL: no tokens configured */
static char *tokens_path;

static void digest_of(const char *token, size_t len, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)token);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* RFC 6750's b64token: what an Authorization: Bearer header can carry. */
static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._~+/=", c) != NULL;
}

/* One line "ROLE TOKEN" (spaces or tabs between, around). Never quotes the
 * line: it holds a token. NULL, or why the line is refused. */
static const char *parse_line(char *line, struct token *t)
{
	char *p = line + strspn(line, " \t"), *role = p;
	size_t role_len = strcspn(p, " \t");

	p += role_len;
	p += strspn(p, " \t");
	char *token = p;
	size_t token_len = strcspn(p, " \t");
	if (p[token_len + strspn(p + token_len, " \t")] != '\0' || token_len == 0)
		return "expected ROLE TOKEN (ROLE admin or read), two fields";
	if (role_len == 5 && strncmp(role, "admin", 5) == 0)
		t->role = ROLE_ADMIN;
	else if (role_len == 4 && strncmp(role, "read", 4) == 0)
		t->role = ROLE_READ;
	else
		return "the role must be admin or read";
	if (token_len < TOKEN_MIN_LEN || token_len > TOKEN_MAX_LEN)
		return "a token must be 16 to 4096 characters long";
	for (size_t i = 0; i < token_len; i++)
		if (!token_char(token[i]))
			return "a token may hold only A-Z a-z 0-9 - . _ ~ + / =";
	digest_of(token, token_len, t->digest);
	return NULL;
}

/* Parses text (NUL-terminated, modified) into a new set; NULL with err. */
static struct token_set *parse(char *text, const char *file, char *err, size_t cap)
{
	size_t lines = 1, line_no = 0;
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	struct token_set *set = calloc(1, sizeof *set + lines * sizeof set->tokens[0]);
	if (!set) {
		snprintf(err, cap, "%s: out of memory", file);
		return NULL;
	}
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line_no++;
		line[strcspn(line, "\r")] = '\0';
		const char *start = line + strspn(line, " \t");
		if (!*start || *start == '#')
			continue;
		const char *why = parse_line(line, &set->tokens[set->n]);
		if (why) {
			snprintf(err, cap, "%s:%zu: %s", file, line_no, why);
			free(set);
			return NULL;
		}
		set->n++;
	}
	if (set->n == 0) {
		snprintf(err, cap, "%s: no tokens (one \"ROLE TOKEN\" a line, ROLE admin or read)", file);
		free(set);
		return NULL;
	}
	return set;
}

static struct token_set *load(const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	if (!f) {
		snprintf(err, cap, "--tokens-file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_event(LOG_WARN, "the tokens file is readable by others: chmod 600 it", "file=\"%s\"", path);
	char *text = malloc(TOKENS_FILE_MAX + 1);
	struct token_set *set = NULL;
	size_t len = text ? fread(text, 1, TOKENS_FILE_MAX + 1, f) : 0;
	if (!text)
		snprintf(err, cap, "--tokens-file %s: out of memory", path);
	else if (ferror(f))
		snprintf(err, cap, "--tokens-file %s: %s", path, strerror(errno));
	else if (len > TOKENS_FILE_MAX)
		snprintf(err, cap, "--tokens-file %s: larger than 1 MiB", path);
	else {
		text[len] = '\0';
		set = parse(text, path, err, cap);
	}
	if (text)
		explicit_bzero(text, len);
	free(text);
	fclose(f);
	return set;
}

/* The listen address's host resolves to loopback addresses only. A host
 * that does not resolve is left to the bind, which names the error. */
static bool listen_is_loopback(const char *listen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	bool loopback = true;

	if (n >= sizeof host)
		return true;
	memcpy(host, listen, n);
	host[n] = '\0';
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return true;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET)
			loopback &= (ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
		else if (a->ai_family == AF_INET6)
			loopback &= IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr) != 0;
		else
			loopback = false;
	}
	freeaddrinfo(res);
	return loopback;
}

int auth_init(const char *tokens_file, const char *listen, bool insecure, char *err, size_t cap)
{
	if (!tokens_file) {
		if (!insecure && !listen_is_loopback(listen)) {
			snprintf(err, cap, "--listen %s is not a loopback address and no --tokens-file is given: "
				 "anyone who can reach it could run processes; give --tokens-file FILE "
				 "(or --insecure to serve it without authentication anyway)", listen);
			return -1;
		}
		if (!listen_is_loopback(listen))
			log_event(LOG_WARN, "serving a non-loopback address without authentication (--insecure)",
				  "listen=%s", listen);
		return 0;
	}
	if (!(current = load(tokens_file, err, cap)))
		return -1;
	if (!(tokens_path = strdup(tokens_file))) {
		snprintf(err, cap, "--tokens-file %s: out of memory", tokens_file);
		return -1;
	}
	log_event(LOG_INFO, "tokens loaded", "file=\"%s\" tokens=%zu", tokens_path, current->n);
	return 0;
}

void auth_reload(void)
{
	char err[1024];
	if (!tokens_path)
		return;
	struct token_set *set = load(tokens_path, err, sizeof err), *old;
	if (!set) {
		log_event(LOG_ERROR, "tokens reload failed, keeping the current set", "error=\"%s\"", err);
		return;
	}
	pthread_rwlock_wrlock(&set_lock);
	old = current;
	current = set;
	pthread_rwlock_unlock(&set_lock);
	free(old);
	log_event(LOG_INFO, "tokens loaded", "file=\"%s\" tokens=%zu", tokens_path, set->n);
}

void auth_release(void)
{
	free(current);
	current = NULL;
	free(tokens_path);
	tokens_path = NULL;
}

static enum role role_of_digest(const uint8_t digest[SHA256_DIGEST_SIZE])
{
	enum role role = ROLE_NONE;
	pthread_rwlock_rdlock(&set_lock);
	for (size_t i = 0; current && i < current->n; i++) {
		/* No early exit: every entry costs the same. */
		bool same = memeql_sec(digest, current->tokens[i].digest, SHA256_DIGEST_SIZE) != 0;
		if (same && current->tokens[i].role > role)
			role = current->tokens[i].role;
	}
	pthread_rwlock_unlock(&set_lock);
	return role;
}

/* The role of the request's bearer token: ROLE_NONE when there is none or
 * it matches no entry. *presented tells the two apart (for the 401's text). */
static enum role role_of(struct http_req *r, bool *presented)
{
	const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	uint8_t digest[SHA256_DIGEST_SIZE];

	*presented = h && strncasecmp(h, "Bearer ", 7) == 0;
	if (!*presented)
		return ROLE_NONE;
	const char *token = h + 7 + strspn(h + 7, " ");
	digest_of(token, strlen(token), digest);
	return role_of_digest(digest);
}

static bool is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* ---- browser sessions (server/session.h) ---------------------------------- */

/* The role of r's session cookie, from its token's role now (a revoked
 * token ends its sessions); ROLE_NONE without a live session. */
static enum role session_role(struct http_req *r)
{
	uint8_t digest[SESSION_DIGEST];
	int64_t expires;
	return session_lookup(r, digest, &expires) == 0 ? role_of_digest(digest) : ROLE_NONE;
}

bool auth_enabled(void)
{
	return tokens_path != NULL;
}

int auth_token_role(const char *token, uint8_t digest[SHA256_DIGEST_SIZE])
{
	digest_of(token, strlen(token), digest);
	return (int)role_of_digest(digest);
}

int auth_request_role(struct http_req *r)
{
	bool presented;
	if (!tokens_path)
		return AUTH_ROLE_ADMIN;
	enum role role = role_of(r, &presented);
	return (int)(presented ? role : session_role(r));
}

enum MHD_Result auth_check(struct http_req *r, bool is_public)
{
	bool presented, by_session = false;

	if (worker_auth_presented(r))   /* a worker's own token: its scope, tokens file or not */
		return worker_auth_check(r, is_public);
	if (!tokens_path || is_public || strcmp(r->method, "OPTIONS") == 0)
		return MHD_YES;
	enum role role = role_of(r, &presented);
	if (!presented && (role = session_role(r)) != ROLE_NONE)
		by_session = true;
	if (by_session && !is_read(r->method) && !session_write_allowed(r))
		return http_reply_error(r, 403, "forbidden", NULL,
			"a write made with a session cookie needs the " SESSION_CSRF_HEADER
			" header or an Origin of this server");
	if (role == ROLE_NONE) {
		http_set_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				presented ? "Bearer realm=\"spawnd\", error=\"invalid_token\"" : "Bearer realm=\"spawnd\"");
		return http_reply_error(r, 401, "unauthorized", NULL, "%s",
			presented ? "the bearer token is not valid"
				  : "this endpoint needs a token: send Authorization: Bearer TOKEN");
	}
	if (role == ROLE_READ && !is_read(r->method))
		return http_reply_error(r, 403, "forbidden", NULL,
					"a read token may only GET; %s needs an admin token", r->method);
	return MHD_YES;
}

bool auth_is_admin(struct http_req *r)
{
	bool presented;
	return tokens_path && role_of(r, &presented) == ROLE_ADMIN;
}
