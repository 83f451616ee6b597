/* exec_load — exec targets declared by the operator in a targets file (--targets).
 *
 * The file is JSON:
 *   {"version": 1,                                   (optional; 1 is the only one)
 *    "targets": [{
 *      "name": "date",                               required, [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *      "description": "Prints the date.",            optional
 *      "program": "/bin/date",                       required, absolute, executable
 *      "argv": ["-u", "{format}", ["-d", "{when}"]], optional; argv[0] is always the program
 *      "args": [{"name": "format", "type": "string", "required": false,
 *                "enum": [..], "pattern": "ERE", "min": n, "max": n,
 *                "max_length": n, "variadic": false, "allow_dash": false}],
 *      "env": {"allow": ["LANG", "TZ"],              request env keys the caller may set
 *              "set": {"PATH": "/usr/bin:/bin"}},    fixed environment (SPAWND_* is spawnd's)
 *      "cwd": "/tmp",                                absolute existing directory
 *      "timeout": 30, "max_running": 4,              seconds / processes
 *      "rlimits": {"cpu": 10, "as": 268435456, "nofile": 64, "nproc": 64},
 *      "user": "nobody", "group": "nogroup"}]}       applied only when spawnd runs as root
 *
 * Instead of program and argv, a target may name a Python function:
 *      "python": {"module": "workers", "function": "worker", "path": ["python"],
 *                 "interpreter": "/usr/bin/python3", "returns": "json"}
 * (targets/exec_load_python.c says how it is run and what it prints).
 *
 * argv words: a string that is exactly "{name}" is a placeholder for the
 * declared argument `name` and becomes one argv element per value (none when
 * an optional argument is absent, one per value for a variadic one). Any other
 * string is a literal word. A nested array is an optional group: its words are
 * emitted only when every placeholder in it has a value (["-n", "{count}"]).
 * No shell is ever involved and values are never split or interpolated inside
 * a word (targets/argv.h builds the argv). Every declared argument must be
 * used in argv.
 *
 * Unknown or duplicate keys anywhere in the file are errors, so a typo never
 * silently drops a constraint.
 */
#ifndef SPAWND_EXEC_LOAD_H
#define SPAWND_EXEC_LOAD_H

#include <stddef.h>
#include "targets/exec_file.h"

/* Parses and checks the targets file at path. On success returns 0 and stores a
 * new set in *out (free with exec_file_free(), or hand it to targets_set_exec()).
 * On failure returns -errno (-EINVAL for a bad file), stores nothing in *out and
 * writes one message to err naming the file, the target (by name, else as
 * targets[i]) and the field, e.g.
 *   targets.json: target "date": field "program": must be an absolute path
 * Names of builtin and plugin targets are taken: register plugins first.
 * Reads the file and the user and group databases; touches no global state. */
int exec_load_file(const char *path, struct exec_file **out, char *err, size_t errlen);

#endif
