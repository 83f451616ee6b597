/* strv — NULL-terminated vectors of strings (argv, envp).
 *
 * Ownership: a vector from strv_copy() owns its strings; strv_free() frees
 * both (NULL is fine). All or nothing: strv_copy() never returns a vector that
 * is missing an element (an argv cut short by a failed allocation would run a
 * different command).
 */
#ifndef SPAWND_STRV_H
#define SPAWND_STRV_H

#include <stddef.h>

size_t strv_len(char *const *v);                 /* 0 for NULL */
/* A deep copy of v, NULL on allocation failure (nothing leaks). */
char **strv_copy(char *const *v);
void strv_free(char **v);

#endif
