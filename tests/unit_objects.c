/* unit_objects — the shared objects' registry without HTTP (objects/objects.h):
 * fences never go back across a restart, also past the reserved high-water
 * mark (written again only when passed); a worker's grant is released by the
 * engine's end hook and reported "abandoned" to the next holder, whose waiter
 * fires exactly once; a waiter whose client has gone takes nothing.
 */
#include "objects/objects.h"
#include "engine/store.h"
#include "engine/worker.h"
#include "lib/container.h"
#include "tests/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int check_failed_cases;
char check_failure[1024];

static struct store *st;
static const struct obj_owner client = { false, "" };

static void start(void)
{
	struct objects_config cfg = { .store = st, .heartbeat_s = 15 };
	objects_init(&cfg);
}

static void stop(void)
{
	objects_shutdown();
	objects_release();
}

/* One operation with body (NULL: none), answered at once: its "fence", or -1. */
static long long op(const struct obj_owner *who, const char *folder, const char *name, const char *what,
		    const char *body, char *owner_out)
{
	cJSON *b = body ? cJSON_Parse(body) : NULL;
	struct obj_call c = { .caller = who, .body = b, .timeout_s = 0 };
	int r = objects_call(folder, name, what, &c);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(c.result, "fence");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(c.result, "owner");
	long long fence = r == 0 && cJSON_IsNumber(f) ? (long long)f->valuedouble : r == 0 ? 0 : -1;
	if (owner_out)
		snprintf(owner_out, OBJ_OWNER_MAX, "%s", cJSON_IsString(o) ? o->valuestring : "");
	cJSON_Delete(c.result);
	cJSON_Delete(b);
	return fence;
}

static void create(const char *folder, const char *name)
{
	struct obj_call c = { .caller = &client };
	objects_create(folder, name, NULL, &c);
	cJSON_Delete(c.result);
}

static void fences_never_go_back(void)
{
	char owner[OBJ_OWNER_MAX], body[128];
	long long last = 0;
	start();
	create("sync/locks", "f");
	for (int i = 0; i < 1500; i++) {       /* past the first reserved mark (1024) */
		long long fence = op(&client, "sync/locks", "f", "acquire", "{\"lease\": 10}", owner);
		CHECK_MSG(fence == last + 1, "fence %lld after %lld", fence, last);
		last = fence;
		snprintf(body, sizeof body, "{\"owner\": \"%s\"}", owner);
		CHECK(op(&client, "sync/locks", "f", "release", body, NULL) == 0);
	}
	stop();
	start();                                /* the same store: a restart */
	long long fence = op(&client, "sync/locks", "f", "acquire", "{\"lease\": 10}", NULL);
	CHECK_MSG(fence > last, "fence %lld after a restart, %lld before", fence, last);
	stop();
}

struct waiting {
	struct obj_waiter w;
	int fired;
	bool there;
};

static bool is_there(struct obj_waiter *w) { return container_of(w, struct waiting, w)->there; }
static void fired(struct obj_waiter *w) { container_of(w, struct waiting, w)->fired++; }

static void ended_worker_releases(void)
{
	uint8_t digest[WORKER_DIGEST_LEN] = { 1, 2, 3 };
	struct obj_owner worker = { true, "w-unit-1" };
	struct waiting next = { .there = true }, ghost = { .there = true };
	start();
	create("sync/locks", "w");
	CHECK(worker_token_add(digest, worker.id) == 0);
	CHECK_MSG(op(&worker, "sync/locks", "w", "acquire", NULL, NULL) > 0, "the worker's acquire");
	objects_waiter_init(&ghost.w, is_there, fired);
	objects_waiter_init(&next.w, is_there, fired);
	cJSON *lease = cJSON_Parse("{\"lease\": 10}");
	struct obj_call c1 = { .caller = &client, .body = lease, .timeout_s = 30, .waiter = &ghost.w };
	struct obj_call c2 = { .caller = &client, .body = lease, .timeout_s = 30, .waiter = &next.w };
	CHECK_INT(objects_call("sync/locks", "w", "acquire", &c1), 1);
	CHECK_INT(objects_call("sync/locks", "w", "acquire", &c2), 1);
	ghost.there = false;                    /* its client hung up */
	worker_token_drop(digest);
	objects_owner_ended(worker.id);
	CHECK_INT(ghost.fired, 1);
	CHECK_MSG(ghost.w.outcome == OBJ_GONE && ghost.w.fence == 0, "the vanished waiter took a grant");
	CHECK_INT(next.fired, 1);
	CHECK_INT(next.w.outcome, OBJ_DONE);
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(next.w.result, "abandoned");
	CHECK_MSG(cJSON_IsTrue(ab), "the next holder is not told the grant was abandoned");
	objects_waiter_release(&ghost.w);
	objects_waiter_release(&next.w);        /* undelivered: given back */
	CHECK_MSG(op(&client, "sync/locks", "w", "acquire", "{\"lease\": 10}", NULL) > 0,
		  "an undelivered grant was not given back");
	cJSON_Delete(lease);
	stop();
}

int main(void)
{
	if (store_mem_ops.open("/nonexistent", &st) < 0)
		return 1;
	RUN(fences_never_go_back);
	RUN(ended_worker_releases);
	store_mem_ops.close(st);
	return CHECK_EXIT();
}
