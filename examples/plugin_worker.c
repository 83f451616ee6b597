/* plugin_worker — an example spawnd plugin: the seed's importable worker, in C.
 *
 * Python's multiprocessing lets a target live in a module of its own:
 *
 *     # worker.py                       # main.py
 *     def worker(num):                  p = multiprocessing.Process(target=worker.worker, args=(i,))
 *         print('Worker:', num)
 *
 * A spawnd plugin is the same idea for C: a shared library in the --plugins
 * folder whose targets a client runs by name,
 *
 *     curl -s -X POST 'localhost:8080/processes?wait=5' \
 *          -d '{"target": "plugin_worker", "args": [3]}'
 *
 * Build (make does it): cc -shared -fPIC -I include -o plugin_worker.so plugin_worker.c
 *
 * Targets:
 *   plugin_worker  num integer, optional    prints "Worker: <num>" or "Worker"
 *   plugin_greet   name string (required), greeting one of hello/hi/welcome,
 *                  excited boolean          prints "<greeting>, <name>. I am <process name>
 *                                           (id <id>, pid <pid>)" ('!' when excited)
 *   plugin_sum     values number, variadic  prints the sum of its values
 */
#include <stdio.h>

#include "spawnd_target.h"

/* The worker's stdout is a pipe: stdio buffers it and spawnd flushes it when
 * the run function returns. Reporting a failed write is still the target's job. */
static int finish(void)
{
	return fflush(stdout) == 0 ? 0 : 1;
}

static int run_worker(const struct spawnd_args *args, const struct spawnd_process *self)
{
	if (spawnd_arg_has(args, "num"))
		printf("Worker: %lld\n", spawnd_arg_int(args, "num", 0));
	else
		printf("Worker\n");
	return finish();
}

static int run_greet(const struct spawnd_args *args, const struct spawnd_process *self)
{
	printf("%s, %s%s I am %s (id %s, pid %ld)\n", spawnd_arg_string(args, "greeting", "hello"),
	       spawnd_arg_string(args, "name", "world"), spawnd_arg_bool(args, "excited", false) ? "!" : ".",
	       self->name, self->id, (long)self->pid);
	return finish();
}

static int run_sum(const struct spawnd_args *args, const struct spawnd_process *self)
{
	size_t count = spawnd_arg_count(args, "values");
	double sum = 0;

	for (size_t i = 0; i < count; i++)
		sum += spawnd_arg_at(args, "values", i)->number;
	printf("%.15g\n", sum);
	return finish();
}

static const struct spawnd_arg_spec worker_args[] = {
	{ .name = "num", .type = SPAWND_ARG_INTEGER },
};

static const char *const greetings[] = { "hello", "hi", "welcome", NULL };
static const struct spawnd_arg_spec greet_args[] = {
	{ .name = "name", .type = SPAWND_ARG_STRING, .required = true,
	  .pattern = "[A-Za-z][A-Za-z .'-]*", .max_length = 64 },
	{ .name = "greeting", .type = SPAWND_ARG_STRING, .enum_values = greetings },
	{ .name = "excited", .type = SPAWND_ARG_BOOLEAN },
};

static const struct spawnd_arg_spec sum_args[] = {
	{ .name = "values", .type = SPAWND_ARG_NUMBER, .variadic = true,
	  .has_min = true, .min = -1e9, .has_max = true, .max = 1e9 },
};

#define ARGS(a) .args = (a), .nargs = sizeof(a) / sizeof((a)[0])

static const struct spawnd_target targets[] = {
	{ .name = "plugin_worker", .run = run_worker, ARGS(worker_args),
	  .description = "Prints \"Worker\", or \"Worker: <num>\" when num is given (the seed's importable worker, as a plugin)." },
	{ .name = "plugin_greet", .run = run_greet, ARGS(greet_args), .timeout = 10,
	  .description = "Greets name, then says which process it is (current_process: name, id, pid)." },
	{ .name = "plugin_sum", .run = run_sum, ARGS(sum_args), .timeout = 10,
	  .description = "Prints the sum of its values (any number of numbers from -1e9 to 1e9)." },
};

static const struct spawnd_plugin plugin = {
	.abi = SPAWND_TARGET_ABI,
	.name = "plugin_worker",
	.targets = targets,
	.ntargets = sizeof targets / sizeof targets[0],
};

const struct spawnd_plugin *spawnd_plugin_init(void)
{
	return &plugin;
}
