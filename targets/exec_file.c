/* exec_file — a set of exec targets and everything they point to.
 *
 * Every allocation of a set goes into its `owned` list, so exec_file_free()
 * is one loop whatever the shape of the file, and a half-parsed set (the
 * loader failed midway) is freed the same way. The fork server links this
 * file only because the registry's lookup reads a set; no set is ever
 * installed there.
 */
#include "targets/exec_file.h"

#include <stdlib.h>
#include <string.h>

struct exec_file {
	struct target *targets;
	size_t count;
	void **owned;
	size_t nowned, owned_cap;
};

/* Takes p into f's list; on failure frees it. */
static void *own(struct exec_file *f, void *p)
{
	if (!p)
		return NULL;
	if (f->nowned == f->owned_cap) {
		size_t cap = f->owned_cap ? f->owned_cap * 2 : 64;
		void **grown = realloc(f->owned, cap * sizeof *grown);
		if (!grown) {
			free(p);
			return NULL;
		}
		f->owned = grown;
		f->owned_cap = cap;
	}
	f->owned[f->nowned++] = p;
	return p;
}

void *exec_file_calloc(struct exec_file *f, size_t n, size_t size)
{
	return own(f, calloc(n ? n : 1, size));
}

char *exec_file_strdup(struct exec_file *f, const char *s)
{
	return own(f, strdup(s));
}

struct exec_file *exec_file_new(size_t count)
{
	struct exec_file *f = calloc(1, sizeof *f);

	if (!f)
		return NULL;
	f->targets = exec_file_calloc(f, count, sizeof *f->targets);
	if (!f->targets) {
		exec_file_free(f);
		return NULL;
	}
	f->count = count;
	return f;
}

void exec_file_free(struct exec_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nowned; i++)
		free(f->owned[i]);
	free(f->owned);
	free(f);
}

size_t exec_file_count(const struct exec_file *f)
{
	return f ? f->count : 0;
}

const struct target *exec_file_target(const struct exec_file *f, size_t i)
{
	return f && i < f->count ? &f->targets[i] : NULL;
}

struct target *exec_file_at(struct exec_file *f, size_t i)
{
	return f && i < f->count ? &f->targets[i] : NULL;
}

const struct target *exec_file_find(const struct exec_file *f, const char *name)
{
	for (size_t i = 0; f && name && i < f->count; i++)
		if (f->targets[i].name && strcmp(f->targets[i].name, name) == 0)
			return &f->targets[i];
	return NULL;
}
