/* objects — the shared-object kinds spawnctl knows (cmd_objects.c), for
 * `objects` and the `queue`, `event` and `lock` commands (cmd_sync.c).
 */
#ifndef SPAWNCTL_OBJECTS_H
#define SPAWNCTL_OBJECTS_H

struct obj_kind {
	const char *word;               /* "queues": the CLI's word and the list's key */
	const char *path;               /* "/queues" */
	const char *fields[5];          /* shown in a list row, NULL-terminated */
};

/* The kind named word ("queues", or "queue"), or NULL. */
const struct obj_kind *obj_kind_find(const char *word);
/* "PATH/NAME" + suffix (NULL: none), name percent-encoded; malloc'ed, caller
 * frees; NULL (said why) on no memory. */
char *obj_path(const struct obj_kind *kind, const char *name, const char *suffix);

#endif
