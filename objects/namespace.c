/* namespace — /namespaces (multiprocessing's Manager().Namespace(), dict()
 * and Value): named JSON values under keys, with versions.
 *
 * Versions: the namespace's version counts its changes (a put or a delete of
 * a key, one each); a key's version is the namespace's version of its last
 * change, so a key deleted and made again never reuses a version, and an
 * If-Match on an old one fails (412) instead of matching by chance.
 *
 * Waiters ("wait": a version above N) are answered by the change that makes
 * it, all of them at once (a change is news to every one), or at their
 * deadline with "changed": false. Followers of the change stream wait the
 * same way, then read the changes one by one ("change", after their last
 * version) from a ring of the last RING changes; one that fell further
 * behind is told to start over from a snapshot ("resync").
 *
 * Persistence: each key is an entry {"value", "version"}; the object's state
 * is {"version"}, written on a delete (the version a put reaches is its
 * key's, so a put writes its entry only). After a restart the version is
 * the highest of both: values and versions are the same as before.
 */
#define _GNU_SOURCE
#include "objects/namespace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"

#define RING 256
#define KEY_MAX 128

struct key {
	struct key *next;               /* in key order */
	char name[KEY_MAX + 1];
	uint64_t version;
	cJSON *value;
};

struct change {
	uint64_t version;               /* 0: none */
	char *key;
	cJSON *value;                   /* NULL: deleted */
};

struct namespace {
	uint64_t version;
	struct key *keys;
	struct change ring[RING];       /* the change of version v at v % RING */
};

static struct namespace *ns(const struct obj *o) { return o->state; }

static struct key *find(const struct obj *o, const char *name)
{
	for (struct key *k = ns(o)->keys; k; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* The key of name, made (in order) if absent; NULL when out of memory. */
static struct key *find_or_add(struct obj *o, const char *name)
{
	struct key **pp = &ns(o)->keys, *k;
	while (*pp && strcmp((*pp)->name, name) < 0)
		pp = &(*pp)->next;
	if (*pp && strcmp((*pp)->name, name) == 0)
		return *pp;
	if (!(k = calloc(1, sizeof *k)))
		return NULL;
	snprintf(k->name, sizeof k->name, "%s", name);
	k->next = *pp;
	*pp = k;
	return k;
}

static void remove_key(struct obj *o, struct key *gone)
{
	for (struct key **pp = &ns(o)->keys; *pp; pp = &(*pp)->next)
		if (*pp == gone) {
			*pp = gone->next;
			break;
		}
	cJSON_Delete(gone->value);
	free(gone);
}

static cJSON *values_json(const struct obj *o)
{
	cJSON *v = cJSON_CreateObject();
	for (const struct key *k = ns(o)->keys; k; k = k->next)
		cJSON_AddItemToObject(v, k->name, cJSON_Duplicate(k->value, true));
	return v;
}

/* ---- create, describe, persistence ----------------------------------------- */

static int ns_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { NULL };
	if (obj_options_known(options, known, c) < 0)
		return -1;
	o->options = cJSON_CreateObject();
	return 0;
}

static void ns_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddNumberToObject(into, "version", (double)ns(o)->version);
	cJSON_AddItemToObject(into, "values", values_json(o));
	cJSON_AddNumberToObject(into, "waiters", (double)obj_waiting(o, 0));
}

static void ns_release(struct obj *o)
{
	while (ns(o)->keys)
		remove_key(o, ns(o)->keys);
	for (int i = 0; i < RING; i++) {
		free(ns(o)->ring[i].key);
		cJSON_Delete(ns(o)->ring[i].value);
	}
}

static cJSON *ns_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "version", (double)ns(o)->version);
	return j;
}

static uint64_t version_of(const cJSON *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= NUMBER_SAFE_MAX ? (uint64_t)v->valuedouble : 0;
}

static void ns_load(struct obj *o, const cJSON *state)
{
	ns(o)->version = version_of(state);
}

static void ns_load_entry(struct obj *o, const char *name, const cJSON *value)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(value, "value");
	struct key *k = v && strlen(name) <= KEY_MAX ? find_or_add(o, name) : NULL;
	if (!k)
		return;
	cJSON_Delete(k->value);
	k->value = cJSON_Duplicate(v, true);
	k->version = version_of(value);
	if (k->version > ns(o)->version)
		ns(o)->version = k->version;
}

static void entry_write(struct obj *o, const struct key *k)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "value", cJSON_Duplicate(k->value, true));
	cJSON_AddNumberToObject(j, "version", (double)k->version);
	char *text = number_print_json(j);
	cJSON_Delete(j);
	if (text)
		obj_entry_put(o, k->name, text);
	free(text);
}

/* ---- changes and their waiters ---------------------------------------------- */

static cJSON *state_answer(const struct obj *o, bool changed)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", o->name);
	cJSON_AddNumberToObject(j, "version", (double)ns(o)->version);
	cJSON_AddItemToObject(j, "values", values_json(o));
	cJSON_AddBoolToObject(j, "changed", changed);
	return j;
}

/* A new version: the ring keeps it, every waiter is answered. */
static void changed(struct obj *o, const char *key, const cJSON *value)
{
	struct change *ch = &ns(o)->ring[ns(o)->version % RING];
	cJSON_Delete(ch->value);
	free(ch->key);
	ch->version = ns(o)->version;
	ch->key = strdup(key);
	ch->value = value ? cJSON_Duplicate(value, true) : NULL;
	if (!ch->key)
		ch->version = 0;        /* out of memory: a follower resyncs */
	struct obj_waiter *w;
	while ((w = obj_peek_alive(o, 0)))
		obj_finish(w, OBJ_DONE, state_answer(o, true));
}

static void ns_serve(struct obj *o) { (void)o; }

static void ns_timed_out(struct obj *o, struct obj_waiter *w)
{
	obj_finish(w, OBJ_DONE, state_answer(o, false));
}

static cJSON *ns_timeout_result(void)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddFalseToObject(j, "changed");
	return j;
}

/* ---- operations --------------------------------------------------------------- */

/* The body's "key" (checked by the handler too), or NULL with a 400. */
static const char *key_arg(struct obj_call *c)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(c->body, "key");
	if (!cJSON_IsString(k) || !k->valuestring[0] || strlen(k->valuestring) > KEY_MAX) {
		obj_fail(c, 400, "invalid_argument", "key", "key must be 1 to 128 characters");
		return NULL;
	}
	return k->valuestring;
}

/* If-Match / If-None-Match (the body's "if_match", "if_none_match": the
 * headers' text) against k (NULL: absent): 0, or -1 with a 412. */
static int preconditions(const struct obj *o, const char *key, const struct key *k, struct obj_call *c)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(c->body, "if_match");
	const cJSON *none = cJSON_GetObjectItemCaseSensitive(c->body, "if_none_match");
	if (cJSON_IsString(none) && strcmp(none->valuestring, "*") == 0 && k)
		return obj_fail(c, 412, "precondition_failed", NULL, "%s of %s exists (If-None-Match: *)", key, o->name);
	if (!cJSON_IsString(m))
		return 0;
	const char *v = m->valuestring;
	if (strcmp(v, "*") == 0) {
		if (!k)
			return obj_fail(c, 412, "precondition_failed", NULL, "%s of %s does not exist (If-Match: *)", key,
					o->name);
		return 0;
	}
	if (strncmp(v, "W/", 2) == 0)
		v += 2;
	char *end;
	uint64_t want = strtoull(v + (*v == '"'), &end, 10);
	bool parsed = end != v + (*v == '"') && (*v == '"' ? end[0] == '"' && end[1] == '\0' : *end == '\0');
	if (!k || !parsed || want != k->version)
		return obj_fail(c, 412, "precondition_failed", NULL,
				"%s of %s is at version %" PRIu64 ", not %.40s (If-Match)", key, o->name,
				k ? k->version : 0, m->valuestring);
	return 0;
}

static cJSON *key_answer(const struct obj *o, const struct key *k)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "key", k->name);
	cJSON_AddItemToObject(j, "value", cJSON_Duplicate(k->value, true));
	cJSON_AddNumberToObject(j, "version", (double)k->version);
	cJSON_AddNumberToObject(j, "namespace_version", (double)ns(o)->version);
	return j;
}

static int op_key_get(struct obj *o, struct obj_call *c)
{
	const char *key = key_arg(c);
	if (!key)
		return -1;
	struct key *k = find(o, key);
	if (!k)
		return obj_fail(c, 404, "not_found", NULL, "%s has no key %s", o->name, key);
	c->result = key_answer(o, k);
	return 0;
}

static int op_key_put(struct obj *o, struct obj_call *c)
{
	const char *key = key_arg(c);
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(c->body, "value");
	if (!key)
		return -1;
	if (!value)
		return obj_fail(c, 400, "invalid_argument", "body", "the body is the key's JSON value");
	struct key *k = find(o, key);
	if (preconditions(o, key, k, c) < 0)
		return -1;
	if (!k && !(k = find_or_add(o, key)))
		return obj_fail(c, 500, "internal", NULL, "out of memory");
	cJSON_Delete(k->value);
	k->value = cJSON_Duplicate(value, true);
	k->version = ++ns(o)->version;
	entry_write(o, k);
	changed(o, k->name, k->value);
	c->result = key_answer(o, k);
	return 0;
}

static int op_key_delete(struct obj *o, struct obj_call *c)
{
	const char *key = key_arg(c);
	if (!key)
		return -1;
	struct key *k = find(o, key);
	if (preconditions(o, key, k, c) < 0)
		return -1;
	if (!k)
		return obj_fail(c, 404, "not_found", NULL, "%s has no key %s", o->name, key);
	c->result = key_answer(o, k);
	cJSON_AddTrueToObject(c->result, "deleted");
	obj_entry_remove(o, k->name);
	ns(o)->version++;
	obj_save(o);
	changed(o, key, NULL);
	remove_key(o, k);
	cJSON_ReplaceItemInObject(c->result, "namespace_version", cJSON_CreateNumber((double)ns(o)->version));
	return 0;
}

/* The body's "after" / "wait_version" (a version), or -1 with a 400. */
static int version_arg(struct obj_call *c, const char *field, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->body, field);
	int64_t n;
	if (!cJSON_IsNumber(v) || !number_int64(v->valuedouble, &n) || n < 0)
		return obj_fail(c, 400, "invalid_argument", field, "%s must be a version (an integer >= 0)", field);
	*out = (uint64_t)n;
	return 0;
}

static int op_wait(struct obj *o, struct obj_call *c)
{
	uint64_t after;
	if (version_arg(c, "wait_version", &after) < 0)
		return -1;
	if (ns(o)->version > after || c->timeout_s <= 0 || !c->waiter) {
		c->result = state_answer(o, ns(o)->version > after);
		return 0;
	}
	return obj_wait(o, 0, c);
}

/* The change after version "after": {"version", "key", "value" | "deleted"},
 * {"version", "caught_up": true}, or a snapshot with "resync": true. */
static int op_change(struct obj *o, struct obj_call *c)
{
	uint64_t after;
	if (version_arg(c, "after", &after) < 0)
		return -1;
	if (after >= ns(o)->version) {
		c->result = cJSON_CreateObject();
		cJSON_AddNumberToObject(c->result, "version", (double)ns(o)->version);
		cJSON_AddTrueToObject(c->result, "caught_up");
		return 0;
	}
	const struct change *ch = &ns(o)->ring[(after + 1) % RING];
	if (ch->version != after + 1) {         /* older than the ring, or before a restart */
		c->result = state_answer(o, true);
		cJSON_AddTrueToObject(c->result, "resync");
		return 0;
	}
	c->result = cJSON_CreateObject();
	cJSON_AddNumberToObject(c->result, "version", (double)ch->version);
	cJSON_AddStringToObject(c->result, "key", ch->key);
	if (ch->value)
		cJSON_AddItemToObject(c->result, "value", cJSON_Duplicate(ch->value, true));
	else
		cJSON_AddTrueToObject(c->result, "deleted");
	return 0;
}

static const struct obj_op ns_ops[] = {
	{ "key_get", op_key_get }, { "key_put", op_key_put }, { "key_delete", op_key_delete },
	{ "wait", op_wait }, { "change", op_change }, { NULL, NULL },
};

const struct obj_kind namespace_kind = {
	.folder = "namespaces", .list_key = "namespaces", .state_size = sizeof(struct namespace),
	.create = ns_create, .describe = ns_describe, .release = ns_release,
	.save = ns_save, .load = ns_load, .load_entry = ns_load_entry,
	.serve = ns_serve, .timed_out = ns_timed_out, .timeout_result = ns_timeout_result, .ops = ns_ops,
};
