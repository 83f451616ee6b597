/* mapreduce — PyMOTW's SimpleMapReduce as a job (POST /mapreduce): a pool of
 * the map target runs once per input and returns [key, value] pairs; the
 * pairs are grouped by key (sorted: numbers, then strings); a pool of the
 * reduce target runs once per key with the positional args [key, value...]
 * (declare its values argument variadic); the job's results are
 * [[key, reduced]...] in key order.
 *
 * Its two pools are ordinary pools (listed, named "<job>-map" and
 * "<job>-reduce"), closed once the job has ended. An input whose map task
 * fails, or returns something other than a list of pairs, is counted in
 * map.failed and left out; a reduce task that fails leaves its error in its
 * key's place.
 * Threads and waiters as in pool.h.
 */
#ifndef SPAWND_MAPREDUCE_H
#define SPAWND_MAPREDUCE_H

#include "engine/pool.h"

struct mapreduce_config {
	const struct target *map, *reduce;
	cJSON *inputs;                  /* canonical args of map, one per input: taken over */
	int processes, chunksize;       /* chunksize 0: the heuristic */
};

/* 0 and the job's id, -ENOMEM, -ESHUTDOWN, -EAGAIN (too many items waiting). */
int mapreduce_start(struct mapreduce_config *c, char id[POOL_ID_MAX]);
/* {"job", "state", "phase", "map": progress, "reduce": progress|null, "results"?, "error"}; NULL: none. */
cJSON *mapreduce_json(const char *id);
/* Arms w until the job has ended or timeout_s passes: 1 ended (nothing armed), 0 armed, -ENOENT. */
int mapreduce_wait(const char *id, double timeout_s, struct waitq_entry *w, void (*fn)(struct waitq_entry *w));

#endif
