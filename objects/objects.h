/* objects — the registry of shared objects (API.md "Shared objects"): named
 * objects of several kinds (events, locks, semaphores, conditions, barriers;
 * queues and namespaces plug in the same way), each kind an ops table
 * (objects/kind.h). This header is what handlers use; kind authors read kind.h.
 *
 * A request names a kind (its URL folder, "sync/locks"), an object and an
 * operation ("acquire"); objects_call() runs the operation under the objects
 * lock. It either answers at once (0, c->result) or arms the request's waiter
 * (1): the waiter is then finished exactly once, by the operation that
 * satisfies it (granted), its deadline (timed out, 200 with the false
 * outcome), the object's removal (404), its client vanishing (checked every
 * heartbeat and before any grant, through w->alive), or shutdown (503).
 * Finished waiters' callbacks (w->fn) run outside the lock.
 *
 * Locks: one, the objects lock, taken before the engine lock when the store
 * is written (never the other way round: the engine's end hook runs outside
 * its lock). Threads: any HTTP thread, plus the objects timer thread.
 * Ownership: a waiter is embedded in its request's state, which keeps it
 * alive until objects_waiter_release() has returned; results are the
 * caller's to free (c->result, w->result once taken).
 */
#ifndef SPAWND_OBJECTS_H
#define SPAWND_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "engine/waitq.h"

#define OBJ_OWNER_MAX 40
#define OBJ_NAME_MAX 136              /* a target name (128) and its NUL */

struct obj;
struct store;

/* Who holds or asks: a worker (by its process id, released when it ends) or
 * an outside client (an id spawnd made for its lease: "c-" and hex). */
struct obj_owner {
	bool worker;
	char id[OBJ_OWNER_MAX];
};

enum obj_outcome {
	OBJ_WAITING,
	OBJ_DONE,               /* w->result is the answer (granted, or the false outcome at the deadline) */
	OBJ_REMOVED,            /* the object was deleted: 404 */
	OBJ_GONE,               /* its client vanished, or its worker ended: no answer */
	OBJ_SHUTDOWN,           /* 503 */
};

struct obj_waiter {
	struct waitq_entry entry;               /* on one of its object's queues while waiting */
	struct obj_waiter *fire_next;           /* on the batch of finished ones */
	struct obj *obj;                        /* held (a reference) from arming to release */
	struct obj_owner owner;                 /* who waits (a grant goes to it) */
	double lease_s;                         /* the grant's lease (0: a worker's) */
	long n;                                 /* the operation's count (notify n, permits) */
	int op;                                 /* the kind's: what it waits for */
	bool timed_flag;                        /* the kind's: e.g. a condition waiter notified */
	cJSON *payload;                         /* the kind's: what it keeps while waiting (a put's items); freed on release */
	uint64_t fence;                         /* the grant it got (0: none), undone if undelivered */
	struct obj *grant_obj;                  /* the object of that grant (a reference) */
	bool delivered;                         /* the handler has sent w->result */
	enum obj_outcome outcome;
	cJSON *result;
	/* The handler's: its client is still connected (no lock may be taken),
	 * and the wake-up of its request (any thread, no lock held). */
	bool (*alive)(struct obj_waiter *w);
	void (*fn)(struct obj_waiter *w);
};

/* One operation. The handler fills the inputs; the kind fills the outputs. */
struct obj_call {
	const struct obj_owner *caller;         /* worker or client (id "" for a client) */
	const cJSON *body;                      /* the JSON body, or NULL */
	double timeout_s;                       /* ?timeout= (clamped to the maximum) */
	double query_lease_s;                   /* ?lease= (< 0: absent), for a queue's get */
	double query_max;                       /* ?max= (< 0: absent; 0 also for text that is no number), a queue's batch get */
	struct obj_waiter *waiter;              /* armed when the call blocks */
	/* out */
	cJSON *result;                          /* the 200 answer */
	int status;                             /* an error: 400, 404, 409 */
	const char *code;                       /* "invalid_argument", "conflict", "not_owner" */
	char field[64];                         /* 400: the bad field ("" none) */
	char message[256];
};

struct objects_config {
	struct store *store;                    /* where state is kept (its objects ops) */
	double heartbeat_s;                     /* how often waiting clients are looked at */
};

/* Registers the kinds (kind.h), loads the stored objects, starts the timer
 * thread. 0 or -errno. Call after proc_init(), before serving. */
int objects_init(const struct objects_config *cfg);
/* Finishes every waiter (OBJ_SHUTDOWN) and stops the timer: call before the
 * HTTP server stops, so waiting requests are answered 503. */
void objects_shutdown(void);
/* Frees every object (after the HTTP server has stopped). */
void objects_release(void);

/* True when folder ("sync/locks") is a registered kind. */
bool objects_kind_known(const char *folder);

/* PUT: 201 created, 200 the same options, or an error in c (409 conflict,
 * 400). Returns the status. */
int objects_create(const char *folder, const char *name, const cJSON *options, struct obj_call *c);
/* GET of one (c->result, 0) or all of a kind (name NULL); -ENOENT. */
int objects_describe(const char *folder, const char *name, struct obj_call *c);
/* DELETE: removes it, finishing its waiters with OBJ_REMOVED. 0, -ENOENT, or
 * -EBUSY with c's error filled (another object depends on it). */
int objects_remove(const char *folder, const char *name, struct obj_call *c);
/* POST .../op: 0 answered (c->result), 1 waiting (c->waiter armed), -1 an
 * error in c (an unknown object is 404 there). */
int objects_call(const char *folder, const char *name, const char *op, struct obj_call *c);

/* A waiter at rest (before objects_call). */
void objects_waiter_init(struct obj_waiter *w, bool (*alive)(struct obj_waiter *), void (*fn)(struct obj_waiter *));
/* With its request: disarms w if it still waits, gives back a grant it got but
 * could not deliver (w->delivered false), drops its reference, frees its
 * result. Any thread, no lock held. */
void objects_waiter_release(struct obj_waiter *w);

/* Waits until every state change answered so far is on disk (a reply that
 * reports a change is sent after it). 0 or -EIO. No lock held. */
int objects_sync(void);

/* What /metrics shows of one kind: objects, waiting requests and grants held
 * now, and grants ever taken back from a holder that died or let its lease
 * lapse. */
struct objects_kind_stats {
	const char *folder;                     /* "sync/locks" */
	long objects, waiters, grants;
	uint64_t abandoned;
};
/* Calls fn for every kind, in objects_kinds[] order, under the objects lock
 * (fn must not call in here). */
void objects_stats(void (*fn)(const struct objects_kind_stats *s, void *arg), void *arg);

/* The engine's end hook (engine/worker.h): what worker id held is released. */
void objects_owner_ended(const char *id);

#endif
