/* api_targets — the registry as clients see it (GET /targets, /targets/{name}),
 * and the server endpoints /healthz and /openapi.yaml.
 */
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* One expected argument spec: name, type, and the constraint the table implies. */
struct want_arg {
	const char *name, *type;
	int required;        /* -1: either, 0: false, 1: true */
	bool variadic;
	const char *enumeration; /* JSON array text or NULL */
	bool has_range;
	double min, max;
};

struct want_target {
	const char *name;
	int nargs;
	struct want_arg args[2];
};

static const struct want_target builtins[] = {
	{ "worker", 1, { { "num", "integer", 0, false, NULL, false, 0, 0 } } },
	{ "sleep", 1, { { "seconds", "number", -1, false, NULL, false, 0, 0 } } },
	{ "exit", 1, { { "code", "integer", -1, false, NULL, true, 0, 255 } } },
	{ "echo", 1, { { "words", "string", -1, true, NULL, false, 0, 0 } } },
	{ "cat", 0, { { NULL } } },
	{ "burst", 2, { { "bytes", "integer", -1, false, NULL, false, 0, 0 },
			{ "stream", "string", 0, false, "[\"stdout\", \"stderr\"]", false, 0, 0 } } },
	{ "whoami", 0, { { NULL } } },
	{ "ticker", 2, { { "count", "integer", 0, false, NULL, true, 1, 1000000 },
			{ "interval", "number", 0, false, NULL, true, 0, 3600 } } },
};

/* Checks one Target object against its expectation; "" when it matches, else why. */
static const char *target_mismatch(const cJSON *t, const struct want_target *w, char *why, size_t cap)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(t, "args");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(t, "timeout");
	const cJSON *max_running = cJSON_GetObjectItemCaseSensitive(t, "max_running");

	why[0] = '\0';
	if (!jstr(t, "name") || strcmp(jstr(t, "name"), w->name) != 0)
		snprintf(why, cap, "name");
	else if (!jstr(t, "kind") || strcmp(jstr(t, "kind"), "builtin") != 0)
		snprintf(why, cap, "kind not builtin");
	else if (!jstr(t, "description") || !jstr(t, "description")[0])
		snprintf(why, cap, "no description");
	else if (!(cJSON_IsNull(timeout) || cJSON_IsNumber(timeout)) ||
		 !(cJSON_IsNull(max_running) || cJSON_IsNumber(max_running)))
		snprintf(why, cap, "timeout / max_running not null or a number");
	else if (!cJSON_IsArray(args) || cJSON_GetArraySize(args) != w->nargs)
		snprintf(why, cap, "args not an array of %d", w->nargs);
	for (int i = 0; !why[0] && i < w->nargs; i++) {
		const struct want_arg *a = &w->args[i];
		const cJSON *spec = cJSON_GetArrayItem(args, i);
		const cJSON *required = cJSON_GetObjectItemCaseSensitive(spec, "required");
		if (!jstr(spec, "name") || strcmp(jstr(spec, "name"), a->name) != 0)
			snprintf(why, cap, "args[%d].name not %s", i, a->name);
		else if (!jstr(spec, "type") || strcmp(jstr(spec, "type"), a->type) != 0)
			snprintf(why, cap, "args.%s.type not %s", a->name, a->type);
		else if (!cJSON_IsBool(required) || (a->required >= 0 && cJSON_IsTrue(required) != a->required))
			snprintf(why, cap, "args.%s.required", a->name);
		else if (a->variadic && !jis_true(spec, "variadic"))
			snprintf(why, cap, "args.%s.variadic not true", a->name);
		else if (a->has_range && (jnum(spec, "min", -1) != a->min || jnum(spec, "max", -1) != a->max))
			snprintf(why, cap, "args.%s min/max not %g/%g", a->name, a->min, a->max);
		if (!why[0] && a->enumeration) {
			cJSON *want = cJSON_Parse(a->enumeration);
			if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(spec, "enum"), want, true))
				snprintf(why, cap, "args.%s.enum not %s", a->name, a->enumeration);
			cJSON_Delete(want);
		}
	}
	return why;
}

static const cJSON *find_target(const cJSON *list, const char *name)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, list) {
		if (jstr(t, "name") && !strcmp(jstr(t, "name"), name))
			return t;
	}
	return NULL;
}

static void test_list_builtins(void)
{
	struct resp *r = get(srv, "/targets");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->json, "targets");
	char why[256];

	CHECK_STATUS(r, 200);
	CHECK_MSG(cJSON_IsArray(list), "no targets array: " RESP_FMT, RESP_ARGS(r));
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		const cJSON *t = find_target(list, builtins[i].name);
		CHECK_MSG(t, "builtin %s not listed", builtins[i].name);
		CHECK_MSG(!target_mismatch(t, &builtins[i], why, sizeof why)[0], "target %s: %s", builtins[i].name, why);
	}
	/* Builtins first, in table order. */
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		const cJSON *t = cJSON_GetArrayItem(list, (int)i);
		CHECK_MSG(t && jstr(t, "name") && !strcmp(jstr(t, "name"), builtins[i].name),
			  "targets[%zu] is not %s", i, builtins[i].name);
	}
	resp_free(r);
}

static void test_get_each_target(void)
{
	char why[256];

	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		struct resp *r = get(srv, "/targets/%s", builtins[i].name);
		CHECK_STATUS(r, 200);
		CHECK_MSG(!target_mismatch(r->json, &builtins[i], why, sizeof why)[0], "/targets/%s: %s",
			  builtins[i].name, why);
		resp_free(r);
	}
}

static void test_list_and_item_agree(void)
{
	struct resp *list = get(srv, "/targets");
	struct resp *one = get(srv, "/targets/worker");

	CHECK_STATUS(list, 200);
	CHECK_STATUS(one, 200);
	CHECK_MSG(cJSON_Compare(find_target(cJSON_GetObjectItemCaseSensitive(list->json, "targets"), "worker"),
				one->json, true), "GET /targets/worker differs from its entry in GET /targets");
	resp_free(list);
	resp_free(one);
}

/* The README's live examples follow a ticker: its lines come at its interval,
 * so the run lasts at least (count - 1) intervals. */
static void test_ticker_prints_at_its_interval(void)
{
	/* Timed by the client: the worker cannot end sooner than 0.5 s after the
	 * request was sent (the record's duration may start late, after the
	 * worker's first line, on a slow machine or under valgrind). */
	double sent = now_s();
	struct resp *r = spawn(srv, "{\"target\": \"ticker\", \"args\": {\"count\": 3, \"interval\": 0.25}}", 10);
	double took = now_s() - sent;

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK_MSG(jstr(r->json, "stdout") && !strcmp(jstr(r->json, "stdout"), "tick 1\ntick 2\ntick 3\n"),
		  "stdout: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(took >= 0.5, "3 ticks 0.25 s apart took %g s", took);
	resp_free(r);
}

static void test_unknown_target_404(void)
{
	static const char *const names[] = { "nope", "Worker", "worker2", "WORKER" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct resp *r = get(srv, "/targets/%s", names[i]);
		CHECK_ERROR(r, 404, "not_found");
		resp_free(r);
	}
}

static void test_healthz(void)
{
	struct resp *r = get(srv, "/healthz");
	char id[128];
	const cJSON *version;

	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "status"), "ok");
	version = cJSON_GetObjectItemCaseSensitive(r->json, "version");
	CHECK_MSG(cJSON_IsString(version) && version->valuestring[0], "version: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jnum(r->json, "uptime", -1) >= 0, "uptime: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jint(r->json, "running", -1) >= 0 && jint(r->json, "queued", -1) >= 0,
		  "running/queued: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", 0.2);
	CHECK_STATUS(r, 201);
	snprintf(id, sizeof id, "%s", jstr(r->json, "id") ? jstr(r->json, "id") : "");
	resp_free(r);
	r = get(srv, "/healthz");
	CHECK_MSG(jint(r->json, "running", -1) >= 1, "a sleep runs but: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = get(srv, "/healthz");
	CHECK_INT(jint(r->json, "running", -1), 0);
	resp_free(r);
}

static void test_openapi_served(void)
{
	struct resp *r = get(srv, "/openapi.yaml");

	CHECK_STATUS(r, 200);
	CHECK_MSG(strncmp(r->body, "openapi: 3.1", 12) == 0, "does not start with \"openapi: 3.1\": %.60s", r->body);
	CHECK_MSG(strstr(r->content_type, "yaml") != NULL, "content type %s", r->content_type);
	CHECK(strstr(r->body, "/processes") != NULL);
	resp_free(r);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_list_builtins);
	RUN(test_get_each_target);
	RUN(test_list_and_item_agree);
	RUN(test_ticker_prints_at_its_interval);
	RUN(test_unknown_target_404);
	RUN(test_healthz);
	RUN(test_openapi_served);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
