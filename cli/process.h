/* process — requests about one process record that several commands make:
 * its paths, joining it, and reporting how it ended.
 */
#ifndef SPAWNCTL_PROCESS_H
#define SPAWNCTL_PROCESS_H

#include <cjson/cJSON.h>

/* "/processes/ID" + suffix (e.g. "/join?timeout=5"), id percent-encoded;
 * caller frees. NULL on no memory. */
char *process_path(const char *id, const char *suffix);

/* Joins process id: until it ends (timeout_s < 0) or timeout_s passes. On
 * success *record is the last answer (caller frees: alive may still be true
 * after a timeout) and 0 is returned; else 125 after saying why. */
int process_join(const char *id, double timeout_s, cJSON **record);

/* The exit code for an ended record (common.h), saying on stderr why a
 * process that failed to start or was lost has no code of its own. */
int process_exit_code(const cJSON *record);

#endif
