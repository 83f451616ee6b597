/* plugin — plugin targets: C shared libraries in the operator's --plugins DIR
 * that describe their targets through include/spawnd_target.h.
 *
 * Lifecycle: plugin_load_dir() runs once in main(), while spawnd is still
 * single-threaded and before forkserver_start(), so the fork server (and every
 * worker it forks) inherits the loaded code. Loaded libraries are never
 * unloaded; the plugin targets live as long as the process. Exec targets must
 * be loaded after plugins (their names may not take a plugin's).
 *
 * Only names from the operator's directory listing are ever opened: no path is
 * built from request text.
 */
#ifndef SPAWND_PLUGIN_H
#define SPAWND_PLUGIN_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "include/spawnd_target.h"
#include "targets/target.h"

/* Plugin targets in all, over every plugin (each needs one trampoline). */
#define PLUGIN_TARGETS_MAX 256

/* dlopen()s every regular file named *.so (not starting with '.') in dir, in
 * strcmp order, with RTLD_NOW | RTLD_LOCAL; calls its spawnd_plugin_init(),
 * checks and converts its targets (plugin_add()) and, when every file loaded,
 * registers all of them with targets_set_plugins().
 * Returns 0, or a negative errno with one message in err naming the file (or
 * dir) and the reason: unreadable folder, dlopen error, no entry point, NULL
 * description, wrong ABI, a bad target or arg spec, a name already taken (by a
 * builtin or another plugin target), too many targets. On error nothing is
 * registered and the libraries this call opened are closed again. */
int plugin_load_dir(const char *dir, char *err, size_t errlen);

/* Checks the targets plugin describes and appends them, converted to kind
 * TARGET_PLUGIN with source "plugin:<file>", to the set plugin_targets()
 * returns (not yet registered). file names the library in messages (its name
 * in the folder). Returns 0, or -EINVAL / -ENOSPC / -ENOMEM with a message in
 * err ("<file>: target \"x\": args[1] (\"y\"): <reason>"); on error nothing
 * of this plugin is kept. The plugin's description must outlive the set. */
int plugin_add(const struct spawnd_plugin *plugin, const char *file, char *err, size_t errlen);

/* The targets added so far, in order; *count receives their number. */
const struct target *plugin_targets(size_t *count);

#endif
