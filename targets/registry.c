/* registry — lookup over the builtin table, the plugin table and the current
 * exec set; the name rules.
 *
 * A name that could not be a target name is refused before any lookup, and no
 * name ever becomes a path.
 *
 * The exec set is swapped on reload while request threads look targets up, so
 * the current set is an atomic pointer: readers load it once (acquire) and
 * use that set throughout. Old sets are retired, never freed while the server
 * runs: a request being validated or a running process may still point into
 * them, and a reload is rare and small. exec_lock orders writers only.
 */
#include "targets/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "targets/builtin.h"

#define TARGET_NAME_MAX 128

static const struct target *plugin_targets;  /* set once before threads start */
static size_t plugin_count;

static struct exec_file *exec_current;  /* atomic: __atomic_load_n / __atomic_store_n */
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct exec_file **exec_retired;  /* under exec_lock */
static size_t exec_retired_count;

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool target_name_valid(const char *name)
{
	size_t len = 0;

	if (!name)
		return false;
	for (const char *p = name; *p; p++, len++) {
		char c = *p;
		if (len >= TARGET_NAME_MAX)
			return false;
		if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return len > 0;
}

bool target_name_declarable(const char *name)
{
	return target_name_valid(name) && name[0] != '.' && name[0] != '-';
}

bool target_identifier(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !(is_alpha(*s) || *s == '_'))
		return false;
	for (; *s; s++, n++)
		if (!(is_alpha(*s) || is_digit(*s) || *s == '_'))
			return false;
	return n <= max;
}

const struct target *target_find_static(const char *name)
{
	size_t count;
	const struct target *builtins = builtin_targets(&count);

	if (!target_name_valid(name))
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	for (size_t i = 0; i < plugin_count; i++)
		if (strcmp(plugin_targets[i].name, name) == 0)
			return &plugin_targets[i];
	return NULL;
}

const struct target *target_find(const char *name)
{
	const struct target *t = target_find_static(name);

	if (t || !target_name_valid(name))
		return t;
	return exec_file_find(__atomic_load_n(&exec_current, __ATOMIC_ACQUIRE), name);
}

const struct target *target_find_len(const char *name, size_t len)
{
	char copy[TARGET_NAME_MAX + 1];

	if (!name || len == 0 || len > TARGET_NAME_MAX || memchr(name, '\0', len))
		return NULL;
	memcpy(copy, name, len);
	copy[len] = '\0';
	return target_find(copy);
}

void targets_for_each(void (*visit)(const struct target *t, void *data), void *data)
{
	const struct exec_file *f = __atomic_load_n(&exec_current, __ATOMIC_ACQUIRE);
	size_t count;
	const struct target *builtins = builtin_targets(&count);

	for (size_t i = 0; i < count; i++)
		visit(&builtins[i], data);
	for (size_t i = 0; i < plugin_count; i++)
		visit(&plugin_targets[i], data);
	for (size_t i = 0; i < exec_file_count(f); i++)
		visit(exec_file_target(f, i), data);
}

void targets_set_plugins(const struct target *targets, size_t count)
{
	plugin_targets = targets;
	plugin_count = targets ? count : 0;
}

void targets_set_exec(struct exec_file *f)
{
	struct exec_file *old;

	pthread_mutex_lock(&exec_lock);
	old = __atomic_exchange_n(&exec_current, f, __ATOMIC_ACQ_REL);
	if (old) {
		struct exec_file **grown = realloc(exec_retired, (exec_retired_count + 1) * sizeof *grown);
		if (grown) {
			exec_retired = grown;
			exec_retired[exec_retired_count++] = old;
		}
		/* else: leak it; freeing a set still in use would be worse */
	}
	pthread_mutex_unlock(&exec_lock);
}

void targets_release(void)
{
	pthread_mutex_lock(&exec_lock);
	exec_file_free(__atomic_exchange_n(&exec_current, NULL, __ATOMIC_ACQ_REL));
	for (size_t i = 0; i < exec_retired_count; i++)
		exec_file_free(exec_retired[i]);
	free(exec_retired);
	exec_retired = NULL;
	exec_retired_count = 0;
	pthread_mutex_unlock(&exec_lock);
}
