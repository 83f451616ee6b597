/* kind — what a kind of shared object provides to the registry (objects.h),
 * and what the registry gives every kind: named objects, holders with
 * fences and leases, waiter queues, persistence.
 *
 * A kind is a static const struct obj_kind, listed in objects_kinds[]
 * (objects/kinds.c). Every op runs with the objects lock held; none may
 * block or take the engine lock itself (obj_save()/obj_entry_*() do that).
 *
 * Holders ("grants"): obj_grant_new() gives one to an owner with the next
 * fence (fences grow for ever: a reserved high-water mark is stored ahead and
 * written again only when passed), its lease, and "abandoned" when the last
 * grant of this object was lost by its holder's death or lapse. The registry
 * takes grants back by itself when a worker ends, a lease lapses (checked
 * before every op, so before every grant, and by the timer) or a grant could
 * not be delivered: each time it calls kind->grant_lost() (give the permit
 * back), then kind->serve() (grant what the waiters can now have).
 *
 * Waiters: obj_wait() arms the call's waiter on one of the object's queues
 * (FIFO); obj_grant_waiter()/obj_finish() answer one; obj_peek_alive() gives
 * the oldest waiter of a queue whose client is still there, dropping the
 * vanished ones first, so a grant never goes to a client that has gone.
 */
#ifndef SPAWND_OBJECTS_KIND_H
#define SPAWND_OBJECTS_KIND_H

#include "objects/objects.h"

#define OBJ_QUEUES 3             /* a queue's getters, putters and joiners */

struct obj_grant {
	struct obj_grant *next;
	struct obj_owner owner;
	uint64_t fence;
	int64_t expires_ms;             /* wall clock; 0: a worker's (no lease) */
	double lease_s;
	long count;                     /* reentrant depth, or permits */
	bool abandoned;                 /* reported to this holder */
};

struct obj {
	const struct obj_kind *kind;
	char name[OBJ_NAME_MAX];
	struct obj *next;               /* the registry's list */
	cJSON *options;                 /* as created */
	struct obj_grant *grants;
	uint64_t fence, fence_reserved;
	bool abandoned;                 /* the next grant is told so */
	bool removed;                   /* deleted; freed with its last reference */
	bool in_memory;                 /* never stored (a queue created "durable": false): gone at a restart */
	struct obj *persist_as;         /* an object inside another (a condition's own lock): saved as that one */
	int refs;
	struct waitq queues[OBJ_QUEUES];
	void *state;                    /* the kind's (kind->state_size bytes, zeroed) */
};

struct obj_op {
	const char *name;               /* the URL's last segment */
	/* 0 answered (c->result), 1 waiting (obj_wait()), -1 error in c. */
	int (*fn)(struct obj *o, struct obj_call *c);
};

struct obj_kind {
	const char *folder;             /* URL folder and store kind: "sync/locks" */
	const char *list_key;           /* GET /folder answers {list_key: [...]} */
	size_t state_size;
	/* Checks options (NULL: {}) and sets o up: 0, or -1 with a 400 in c. */
	int (*create)(struct obj *o, const cJSON *options, struct obj_call *c);
	/* 0 when o may be removed, else -1 with the error in c (a condition bound to a lock). */
	int (*can_remove)(struct obj *o, struct obj_call *c);
	void (*describe)(const struct obj *o, cJSON *into);
	void (*release)(struct obj *o);         /* frees the kind's state's contents (optional) */
	cJSON *(*save)(const struct obj *o);    /* its durable state (optional) */
	void (*load)(struct obj *o, const cJSON *state);
	void (*load_entry)(struct obj *o, const char *key, const cJSON *value);   /* key order */
	void (*grant_lost)(struct obj *o, struct obj_grant *g);  /* before g is freed */
	void (*serve)(struct obj *o);
	/* A waiter leaves without a grant (deadline passed; NULL: answered with
	 * timeout_result). */
	void (*timed_out)(struct obj *o, struct obj_waiter *w);
	cJSON *(*timeout_result)(void);
	/* serve() is called again after the timer dropped or timed out a waiter
	 * (a blocked putter at a queue's head leaving lets the next one in). */
	bool serve_after_tick;
	/* An object inside o that is not in the registry (a condition's own
	 * lock): its leases, deadlines and dead holders are looked after too. */
	struct obj *(*inner)(struct obj *o);
	const struct obj_op *ops;       /* ends with { NULL, NULL } */
};

extern const struct obj_kind *const objects_kinds[];

/* Drops a reference (freed with the last: kind->release, grants, state). */
void obj_unref(struct obj *o);
/* The object of folder/name (not removed), or NULL. */
struct obj *obj_find(const char *folder, const char *name);

/* Grants. */
struct obj_grant *obj_grant_new(struct obj *o, const struct obj_owner *owner, double lease_s, long count);
struct obj_grant *obj_grant_of(struct obj *o, const struct obj_owner *owner);
/* {"owner", "fence", "expires_at", "abandoned"} added to into. */
void obj_grant_json(const struct obj_grant *g, cJSON *into);
cJSON *obj_holders_json(const struct obj *o);
/* Gives g back (a release): kind->grant_lost(), freed, kind->serve(). */
void obj_grant_release(struct obj *o, struct obj_grant *g);
/* The owner a call names: its body's "owner" for a client, the worker itself. */
bool obj_call_owner(const struct obj_call *c, struct obj_owner *out);
/* Reads a call's "lease" (required for a client of a granting op): 0, or -1 with the 400 in c. */
int obj_call_lease(struct obj_call *c, double *lease_s);

/* Waiters. */
/* Arms c's waiter on o's queue: 1; or, for a timeout of 0, c->result is the
 * false outcome: 0. */
int obj_wait(struct obj *o, int queue, struct obj_call *c);
struct obj_waiter *obj_peek_alive(struct obj *o, int queue);
/* Gives w a grant of o (count permits, w's owner and lease) and answers it:
 * result (consumed) gets the grant's fields. */
void obj_grant_waiter(struct obj *o, struct obj_waiter *w, long count, cJSON *result);
/* A new owner id for an outside client ("c-" and 16 hex digits). */
void obj_client_owner(struct obj_owner *out);
/* The owner an acquiring call is for: the worker itself, a client's own
 * "owner" (re-entering a reentrant lock it holds), or a new client owner. */
void obj_acquirer(const struct obj_call *c, struct obj_owner *out);
/* Answers w with result (consumed): off its queue, onto the batch. */
void obj_finish(struct obj_waiter *w, enum obj_outcome outcome, cJSON *result);
size_t obj_waiting(const struct obj *o, int queue);

/* 0 when every key of options (NULL: none) is one of known (NULL-terminated),
 * else -1 with a 400 naming the first other one. */
int obj_options_known(const cJSON *options, const char *const *known, struct obj_call *c);
/* Errors of a call: returns -1. */
int obj_fail(struct obj_call *c, int status, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Persistence: o's row (or o->persist_as's) (options, fence mark, kind->save()) is written again. */
void obj_save(struct obj *o);
void obj_entry_put(struct obj *o, const char *key, const char *value);
void obj_entry_remove(struct obj *o, const char *key);

#endif
