/* commands — the table of spawnctl's commands (defined in cli/main.c) and
 * the entry point of each. An entry point gets the command's argv (argv[0] is
 * the command's name) and returns the exit code.
 */
#ifndef SPAWNCTL_COMMANDS_H
#define SPAWNCTL_COMMANDS_H

#include "cli/common.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;    /* one line for `spawnctl help` */
	const char *help;       /* the whole of `spawnctl help NAME` */
};

int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_wait(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);    /* terminate, kill, rm */
int cmd_signal(struct cli *cli, int argc, char **argv);
int cmd_targets(struct cli *cli, int argc, char **argv);
int cmd_events(struct cli *cli, int argc, char **argv);
int cmd_objects(struct cli *cli, int argc, char **argv);     /* cmd_objects.c */
int cmd_queue(struct cli *cli, int argc, char **argv);       /* cmd_sync.c */
int cmd_event(struct cli *cli, int argc, char **argv);
int cmd_lock(struct cli *cli, int argc, char **argv);
int cmd_ns(struct cli *cli, int argc, char **argv);         /* cmd_ns.c */
int cmd_pool(struct cli *cli, int argc, char **argv);       /* cmd_pool.c */

extern const char help_run[], help_ps[], help_logs[], help_wait[], help_terminate[], help_kill[],
	help_rm[], help_signal[], help_targets[], help_events[];
extern const char help_objects[], help_queue[], help_event[], help_lock[], help_ns[], help_pool[];

#endif
