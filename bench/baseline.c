/* baseline — what spawnd's benchmark figures are compared with (issue 5).
 *
 *   baseline fork  [-j LOOPS] [-n MAX] [-t SECONDS]   fork → worker() writes to a pipe → read to EOF → waitpid
 *   baseline spawn [-j LOOPS] [-n MAX] [-t SECONDS]   posix_spawn /usr/bin/printf "Worker: %s\n" 7 → pipe → waitpid
 *   baseline pipe  [-b BYTES]                         a child writes the burst pattern into a plain pipe
 *
 * The loops print one JSON line like loadgen's ({"requests","rate","p50_ms",…});
 * with -j, LOOPS copies of the loop run in parallel processes and "rate" is
 * their sum (latencies are those of the first loop). The P4 baseline, a
 * minimal libmicrohttpd server, is mhd_fixed.c.
 *
 * This program links libc only, like the "plain C fork+wait loop" it stands
 * for: every mapped library makes fork() copy more. These are deliberately the plainest correct way to do each job, with no
 * tuning spawnd could not also do: they say what the kernel and the HTTP
 * library cost, so the ratio says what spawnd adds on top.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct options {
	int loops;
	long max;
	double seconds;
	long long bytes;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: baseline fork|spawn [-j LOOPS] [-n MAX] [-t SECONDS]\n"
			"       baseline pipe [-b BYTES]\n");
	exit(2);
}

/* The builtin `worker` target's job: print "Worker" and a newline. */
static int worker(void)
{
	fputs("Worker\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Reads fd to EOF; returns the byte count or a negative errno. */
static long long drain(int fd)
{
	char buf[64 * 1024];
	long long total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0)
			total += n;
		else if (n == 0)
			return total;
		else if (errno != EINTR)
			return -errno;
	}
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* One run of the fork baseline; returns 0 or a negative errno. */
static int run_fork_once(void)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		/* The baseline process is single-threaded: stdio is safe here. */
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		_exit(worker());
	}
	close(fds[1]);
	if (drain(fds[0]) != 7) {
		close(fds[0]);
		wait_child(pid);
		return -EIO;
	}
	close(fds[0]);
	return wait_child(pid);
}

/* One run of the posix_spawn baseline; returns 0 or a negative errno. */
static int run_spawn_once(void)
{
	/* posix_spawn takes char *const[]: writable copies of the words. */
	static char arg0[] = "printf", arg1[] = "Worker: %s\n", arg2[] = "7";
	static char env0[] = "PATH=/usr/local/bin:/usr/bin:/bin";
	static char *const argv[] = { arg0, arg1, arg2, NULL };
	static char *const envp[] = { env0, NULL };
	posix_spawn_file_actions_t actions;
	int fds[2], rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
	rc = posix_spawn(&pid, "/usr/bin/printf", &actions, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&actions);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return -rc;
	}
	rc = drain(fds[0]) == 10 ? 0 : -EIO;  /* "Worker: 7\n" */
	close(fds[0]);
	return wait_child(pid) < 0 ? -ECHILD : rc;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double p)
{
	long i = (long)(p * (double)n + 0.999999) - 1;

	if (n == 0)
		return 0;
	return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

struct loop_result {
	long count, errors;
	double seconds;
};

/* Runs `once` until max runs or the deadline; latencies (may be NULL) get one
 * entry per run. */
static struct loop_result run_loop(int (*once)(void), long max, double deadline, double *latencies)
{
	struct loop_result res = { 0 };
	double start = now(), t = start;

	while (res.count < max && t < deadline) {
		double t0 = t;
		if (once() < 0)
			res.errors++;
		t = now();
		if (latencies)
			latencies[res.count] = t - t0;
		res.count++;
	}
	res.seconds = t - start;
	return res;
}

/* Runs o->loops loops in parallel processes (the first in this process, so
 * its latencies are kept) and prints the summary line. */
static int cmd_loop(int (*once)(void), const struct options *o)
{
	double *latencies = malloc((size_t)o->max * sizeof *latencies);
	pid_t helpers[64];
	int results[2], go[2];
	struct loop_result total, mine;
	double deadline;
	char go_byte = 'g';

	if (!latencies || o->loops < 1 || o->loops > 64 || pipe2(results, O_CLOEXEC) < 0
	    || pipe2(go, O_CLOEXEC) < 0) {
		fprintf(stderr, "baseline: cannot set up the loops\n");
		return 1;
	}
	for (int i = 1; i < o->loops; i++) {
		helpers[i] = fork();
		if (helpers[i] < 0) {
			perror("baseline: fork");
			return 1;
		}
		if (helpers[i] == 0) {
			struct loop_result r;
			char b;
			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(1);
			r = run_loop(once, o->max, now() + o->seconds, NULL);
			_exit(write(results[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
		}
	}
	/* Start all loops at once: every helper is blocked reading `go`. */
	close(go[0]);
	for (int i = 1; i < o->loops; i++)
		if (write(go[1], &go_byte, 1) != 1)
			return 1;
	deadline = now() + o->seconds;
	mine = run_loop(once, o->max, deadline, latencies);
	total = mine;
	for (int i = 1; i < o->loops; i++) {
		struct loop_result r;
		if (read(results[0], &r, sizeof r) != (ssize_t)sizeof r) {
			fprintf(stderr, "baseline: a loop died\n");
			return 1;
		}
		total.count += r.count;
		total.errors += r.errors;
		if (r.seconds > total.seconds)
			total.seconds = r.seconds;
		wait_child(helpers[i]);
	}
	qsort(latencies, (size_t)mine.count, sizeof *latencies, compare_double);
	printf("{\"requests\":%ld,\"errors\":%ld,\"clients\":%d,\"seconds\":%.6f,\"rate\":%.3f,"
	       "\"p50_ms\":%.6f,\"p90_ms\":%.6f,\"p99_ms\":%.6f,\"max_ms\":%.6f}\n",
	       total.count, total.errors, o->loops, total.seconds,
	       total.seconds > 0 ? (double)(total.count - total.errors) / total.seconds : 0,
	       percentile(latencies, mine.count, 0.50) * 1e3, percentile(latencies, mine.count, 0.90) * 1e3,
	       percentile(latencies, mine.count, 0.99) * 1e3,
	       mine.count ? latencies[mine.count - 1] * 1e3 : 0);
	free(latencies);
	return total.errors ? 1 : 0;
}

/* A child writes o->bytes of the burst pattern into a pipe; we read it all. */
static int cmd_pipe(const struct options *o)
{
	enum { CHUNK = 65530 };  /* a multiple of 10: every chunk starts at '0' */
	static char chunk[CHUNK];
	double start;
	long long got;
	int fds[2];
	pid_t pid;

	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)('0' + i % 10);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return 1;
	start = now();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		long long left = o->bytes;
		close(fds[0]);
		while (left > 0) {
			size_t n = left < CHUNK ? (size_t)left : CHUNK;
			ssize_t w = write(fds[1], chunk, n);
			if (w < 0 && errno != EINTR)
				_exit(1);
			if (w > 0)
				left -= w;
		}
		_exit(0);
	}
	close(fds[1]);
	got = drain(fds[0]);
	close(fds[0]);
	if (wait_child(pid) < 0 || got != o->bytes) {
		fprintf(stderr, "baseline: pipe moved %lld of %lld bytes\n", got, o->bytes);
		return 1;
	}
	{
		double seconds = now() - start;
		printf("{\"requests\":1,\"errors\":0,\"seconds\":%.6f,\"bytes\":%lld,\"mib_per_s\":%.3f}\n",
		       seconds, got, (double)got / (1024.0 * 1024.0) / seconds);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { .loops = 1, .max = 1000000, .seconds = 2, .bytes = 1LL << 30 };
	const char *cmd;
	int c;

	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "j:n:t:b:")) != -1) {
		switch (c) {
		case 'j': o.loops = atoi(optarg); break;
		case 'n': o.max = atol(optarg); break;
		case 't': o.seconds = atof(optarg); break;
		case 'b': o.bytes = atoll(optarg); break;
		default: usage();
		}
	}
	if (o.max < 1 || o.seconds <= 0 || o.seconds > 600 || o.bytes < 1)
		usage();
	if (strcmp(cmd, "fork") == 0)
		return cmd_loop(run_fork_once, &o);
	if (strcmp(cmd, "spawn") == 0)
		return cmd_loop(run_spawn_once, &o);
	if (strcmp(cmd, "pipe") == 0)
		return cmd_pipe(&o);
	usage();
	return 2;
}
