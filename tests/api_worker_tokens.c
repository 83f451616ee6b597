/* api_worker_tokens — every worker gets SPAWND_URL (the address spawnd
 * listens on) and a SPAWND_TOKEN of its own (QUALITY 26): with it a worker
 * reaches the shared objects and GETs its own record and output, and nothing
 * else (403: no spawning, no other record, no listing, no reload, no signals);
 * the moment its process ends the token is refused (401). The same holds on a
 * server without a tokens file: a worker token is how a worker is known.
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define ADMIN "admin-token-7e1f0c2b9d4a6e83"

static char tokens_dir[64], tokens_path[128];

/* Starts an agent that sleeps, and reads its credentials. */
static bool start_agent(struct server *s, const char *admin, char *id, char *token, char *url)
{
	struct call *c = call(s, "POST", "/processes", admin, "{\"target\": \"agent\", \"args\": [\"exec sleep 60\"]}");
	bool ok = c->status == 201 && jstr(c->json, "id");
	if (ok)
		snprintf(id, ID_CAP, "%s", jstr(c->json, "id"));
	call_free(c);
	return ok && agent_credentials(s, admin, id, token, 128, url, 128);
}

static long status_of(struct server *s, const char *method, const char *path, const char *token, const char *body)
{
	struct call *c = call(s, method, path, token, body);
	long st = c->status;
	call_free(c);
	return st;
}

/* The scope of a live worker's token, then its end. */
static void check_token_life(struct server *s, const char *admin)
{
	char id[ID_CAP], other[ID_CAP], token[128], url[128], path[256];
	CHECK_MSG(start_agent(s, admin, id, token, url), "the agent did not print its credentials");
	CHECK_MSG(strncmp(token, "spw_", 4) == 0 && strlen(token) == 68, "SPAWND_TOKEN=\"%s\"", token);
	CHECK_STR(url, server_url(s));
	CHECK_MSG(start_agent(s, admin, other, path, url), "a second agent did not start");
	CHECK_MSG(strcmp(path, token) != 0, "two workers got the same token");

	snprintf(path, sizeof path, "/processes/%s", id);
	CHECK_INT(status_of(s, "GET", path, token, NULL), 200);
	snprintf(path, sizeof path, "/processes/%s/output", id);
	CHECK_INT(status_of(s, "GET", path, token, NULL), 200);
	CHECK_INT(status_of(s, "GET", "/healthz", token, NULL), 200);
	CHECK_INT(status_of(s, "GET", "/sync/events", token, NULL), 200);
	CHECK_INT(status_of(s, "PUT", "/sync/events/from-worker", token, NULL), 201);
	CHECK_INT(status_of(s, "POST", "/sync/events/from-worker/set", token, NULL), 200);

	const char *refused[][2] = { { "GET", "/processes" }, { "POST", "/processes" }, { "POST", "/targets/reload" },
				     { "GET", "/targets" }, { "GET", "/metrics" }, { "GET", "/events" } };
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		long st = status_of(s, refused[i][0], refused[i][1], token,
				    strcmp(refused[i][0], "POST") == 0 ? "{\"target\": \"worker\"}" : NULL);
		CHECK_MSG(st == 403, "%s %s with a worker token: %ld, expected 403", refused[i][0], refused[i][1], st);
	}
	snprintf(path, sizeof path, "/processes/%s", other);
	CHECK_INT(status_of(s, "GET", path, token, NULL), 403);
	snprintf(path, sizeof path, "/processes/%s/kill", id);
	CHECK_INT(status_of(s, "POST", path, token, NULL), 403);
	CHECK_INT(status_of(s, "POST", path, admin, NULL), 202);
	snprintf(path, sizeof path, "/processes/%s/join", id);
	CHECK_INT(status_of(s, "POST", path, admin, NULL), 200);

	/* Ended: refused at once, for everything it could use before. */
	snprintf(path, sizeof path, "/processes/%s", id);
	CHECK_INT(status_of(s, "GET", path, token, NULL), 401);
	CHECK_INT(status_of(s, "GET", "/sync/events", token, NULL), 401);
	CHECK_INT(status_of(s, "GET", "/healthz", token, NULL), 200);
	snprintf(path, sizeof path, "/processes/%s/kill", other);
	CHECK_INT(status_of(s, "POST", path, admin, NULL), 202);
}

static void test_worker_token_with_tokens_file(void)
{
	char args[200];
	snprintf(args, sizeof args, "--tokens-file %s", tokens_path);
	struct server *s = server_start_targets(AGENT_TARGETS, args);
	CHECK_MSG(s, "spawnd did not start with a tokens file");
	check_token_life(s, ADMIN);
	if (check_failure[0])
		return;
	/* A worker-shaped token that no worker has is refused, not taken for a client. */
	CHECK_INT(status_of(s, "GET", "/sync/events", "spw_0000000000000000000000000000000000000000000000000000000000000000",
			    NULL), 401);
	check_server_stops(&s);
}

static void test_worker_token_without_tokens_file(void)
{
	struct server *s = server_start_targets(AGENT_TARGETS, NULL);
	CHECK_MSG(s, "spawnd did not start");
	check_token_life(s, NULL);
	if (check_failure[0])
		return;
	CHECK_INT(status_of(s, "GET", "/processes", "spw_not-a-live-one", NULL), 401);
	check_server_stops(&s);
}

int main(void)
{
	snprintf(tokens_dir, sizeof tokens_dir, "/tmp/spawnd-wtok-XXXXXX");
	if (!mkdtemp(tokens_dir))
		return 1;
	snprintf(tokens_path, sizeof tokens_path, "%s/tokens", tokens_dir);
	FILE *f = fopen(tokens_path, "w");
	if (!f)
		return 1;
	fprintf(f, "admin %s\n", ADMIN);
	fclose(f);
	chmod(tokens_path, 0600);
	RUN(test_worker_token_with_tokens_file);
	RUN(test_worker_token_without_tokens_file);
	unlink(tokens_path);
	rmdir(tokens_dir);
	return CHECK_EXIT();
}
