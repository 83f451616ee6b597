/* pool_results — a pool job's results as spawnctl prints them (cmd_pool.c):
 * one at a time from the job's follow stream, or one from apply's answer.
 */
#ifndef SPAWNCTL_POOL_RESULTS_H
#define SPAWNCTL_POOL_RESULTS_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "cli/common.h"

#define EXIT_TASK_FAILED 1      /* a task failed (spawnctl itself did not) */

/* "/pools/ID" + suffix (NULL: none), ID percent-encoded; malloc'ed, NULL on no memory. */
char *pool_path(const char *id, const char *suffix);
/* A task's error object when result is one ({"error": {"code", "message", ...}}), else NULL. */
const cJSON *task_error(const cJSON *result);
/* Prints one result: -o json the line, else a string as it is (one newline
 * at its end) and other values as JSON; a failure goes to stderr instead.
 * True if it was a failure. */
bool print_result(const struct cli *cli, const cJSON *line, const cJSON *result, int index);
/* Follows GET /pools/POOL/jobs/JOB/results to its total-th result, printing
 * each, resuming after the ones seen when the stream breaks. 0, 1 if a task
 * failed, 125 after saying why. */
int follow_results(const struct cli *cli, const char *pool, const char *job, int total);

#endif
