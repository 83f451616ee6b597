/* pools — the /pools resource (multiprocessing.Pool over HTTP): create, list,
 * get, close, terminate, join, delete (pools.c); map, apply, a job's progress
 * and its results as a follow stream (pools_jobs.c).
 *
 * A request that waits (join, DELETE, ?wait=) hangs a struct pool_req_wait on
 * itself (http_set_state()); its waiter is armed on the pool engine and its
 * callback wakes the request. It is released with the request, which cancels
 * the waiter first, so the waiter never fires into a freed request.
 */
#ifndef SPAWND_HANDLERS_POOLS_H
#define SPAWND_HANDLERS_POOLS_H

#include "engine/pool.h"
#include "server/http.h"

struct pool_req_wait {
	struct waitq_entry entry;
	struct http_req *r;
	char pool[POOL_ID_MAX], job[POOL_ID_MAX];
	double deadline;                /* monotonic seconds, < 0: none */
};

/* r's wait (NULL: out of memory), with the deadline timeout_s from now (< 0: none). */
struct pool_req_wait *pool_req_wait_attach(struct http_req *r, const char *pool, const char *job, double timeout_s);
void pool_req_wait_fired(struct waitq_entry *e);
/* Seconds left (< 0: no deadline, else >= 0), cut to the heartbeat. */
double pool_req_wait_slice(const struct pool_req_wait *w, bool *expired);

enum MHD_Result pools_create(struct http_req *r);
enum MHD_Result pools_list(struct http_req *r);
enum MHD_Result pools_get(struct http_req *r);
enum MHD_Result pools_close(struct http_req *r);
enum MHD_Result pools_terminate(struct http_req *r);
enum MHD_Result pools_join(struct http_req *r);
enum MHD_Result pools_delete(struct http_req *r);

/* pools_items.c: the usual map body, {"items": [integers], ...}, read
 * without a cJSON node per item. */
struct pools_items {
	int64_t *ints;                  /* the items (malloc'd), n of them */
	int n;
	char *rest;                     /* the body with "items": [] (malloc'd, NUL-terminated) */
	size_t rest_len;
};
/* true: body's top-level "items" is an array of 1 to max JSON integers of
 * at most 15 digits, read into out (the caller frees ints and rest). false:
 * it is not that (or out of memory): nothing to free, parse the body whole. */
bool pools_items_slice(const char *body, size_t len, int max, struct pools_items *out);

enum MHD_Result pools_map(struct http_req *r);
enum MHD_Result pools_apply(struct http_req *r);
enum MHD_Result pools_job_list(struct http_req *r);
enum MHD_Result pools_job_get(struct http_req *r);
enum MHD_Result pools_job_results(struct http_req *r);

#endif
