/* exec_file — one parsed set of exec targets (what targets/exec_load.h makes
 * of the targets file), held in memory by the registry.
 *
 * Ownership: the set owns its targets and every string and table they point
 * to; exec_file_free() frees all of them at once. Once handed to
 * targets_set_exec() the registry owns the set. Not thread-safe while being
 * filled (only the loader fills it); read-only, so shareable, afterwards.
 */
#ifndef SPAWND_EXEC_FILE_H
#define SPAWND_EXEC_FILE_H

#include <stddef.h>
#include "targets/target.h"

struct exec_file;

/* A set of count zeroed targets for the loader to fill; NULL on ENOMEM. */
struct exec_file *exec_file_new(size_t count);
void exec_file_free(struct exec_file *f);      /* NULL is fine */

size_t exec_file_count(const struct exec_file *f);                          /* 0 for NULL */
const struct target *exec_file_target(const struct exec_file *f, size_t i); /* NULL past the end */
/* By exact name; NULL for none (or for a NULL set). */
const struct target *exec_file_find(const struct exec_file *f, const char *name);

/* For the loader: target i to fill in. */
struct target *exec_file_at(struct exec_file *f, size_t i);
/* Allocations the set owns (freed by exec_file_free()): calloc of n (at least
 * 1) elements, strdup. NULL on ENOMEM. */
void *exec_file_calloc(struct exec_file *f, size_t n, size_t size);
char *exec_file_strdup(struct exec_file *f, const char *s);

#endif
