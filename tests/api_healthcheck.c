/* api_healthcheck — `spawnd healthcheck`, the container image's HEALTHCHECK
 * (docker/Dockerfile): it exits 0 only when the server at the listen address
 * answers GET /healthz with 200, reads that address as the server would
 * (flag, SPAWND_LISTEN), reaches a wildcard listen address through loopback,
 * and exits 1 with a reason when nothing listens, when the answer is not
 * 200, or when no answer comes (it must not hang the container runtime). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

struct run {
	int status;          /* exit status, or -1 when it did not exit normally */
	char out[4096];      /* stdout then stderr */
	double seconds;
};

/* Runs $SPAWND_BIN healthcheck ARGS... (NULL-terminated) with SPAWND_LISTEN
 * set to env_listen (NULL: unset), waiting 30 s at most. */
static void run_healthcheck(struct run *r, const char *env_listen, const char *const *args)
{
	const char *bin = getenv("SPAWND_BIN") ? getenv("SPAWND_BIN") : "build/spawnd";
	char *argv[16] = { strdup(bin), strdup("healthcheck") };
	int fds[2], n = 2;
	for (; args && *args && n < 15; args++)
		argv[n++] = strdup(*args);
	argv[n] = NULL;
	memset(r, 0, sizeof *r);
	r->status = -1;
	if (pipe(fds) < 0)
		return;
	double start = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (env_listen)
			setenv("SPAWND_LISTEN", env_listen, 1);
		else
			unsetenv("SPAWND_LISTEN");
		execv(bin, argv);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t got;
	alarm(30);
	while (len + 1 < sizeof r->out && (got = read(fds[0], r->out + len, sizeof r->out - 1 - len)) > 0)
		len += (size_t)got;
	close(fds[0]);
	int ws;
	if (pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
		r->status = WEXITSTATUS(ws);
	alarm(0);
	r->seconds = now_s() - start;
	for (int i = 0; i < n; i++)
		free(argv[i]);
}

static const char *port_of(struct server *s)
{
	return strrchr(server_url(s), ':') + 1;
}

static void test_healthy_server(void)
{
	char why[256], listen[64], wildcard[64];
	struct run r;
	struct server *s = server_start(NULL);
	CHECK_MSG(s, "server did not start");
	snprintf(listen, sizeof listen, "127.0.0.1:%s", port_of(s));
	snprintf(wildcard, sizeof wildcard, "0.0.0.0:%s", port_of(s));

	run_healthcheck(&r, NULL, (const char *[]){ "--listen", listen, NULL });
	CHECK_MSG(r.status == 0 && strstr(r.out, "\"status\":\"ok\""), "--listen %s: %d %s", listen, r.status, r.out);
	/* The image sets SPAWND_LISTEN=0.0.0.0:8080: the check reads it, and a wildcard means loopback. */
	run_healthcheck(&r, wildcard, NULL);
	CHECK_MSG(r.status == 0, "SPAWND_LISTEN=%s: %d %s", wildcard, r.status, r.out);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_nothing_listens(void)
{
	struct run r;
	/* A port just bound and closed again: nothing listens there. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%u", ntohs(a.sin_port));
	close(fd);
	run_healthcheck(&r, NULL, (const char *[]){ "--listen", listen, NULL });
	CHECK_MSG(r.status == 1 && strstr(r.out, "Connection refused"), "%d %s", r.status, r.out);
	run_healthcheck(&r, NULL, (const char *[]){ "--listen", "nonsense", NULL });
	CHECK_MSG(r.status == 1 && strstr(r.out, "HOST:PORT"), "--listen nonsense: %d %s", r.status, r.out);
}

/* A listener on loopback; a child accepts one connection and writes answer
 * (NULL: answers nothing and holds it open). Its address goes to addr. */
static pid_t fake_server(const char *answer, char *addr, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	snprintf(addr, cap, "127.0.0.1:%u", ntohs(a.sin_port));
	pid_t pid = fork();
	if (pid == 0) {
		char buf[1024];
		int c = accept(fd, NULL, NULL);
		if (c >= 0 && read(c, buf, sizeof buf) > 0 && answer)
			(void)!write(c, answer, strlen(answer));
		if (!answer)
			pause();
		_exit(0);
	}
	close(fd);
	return pid;
}

static void test_bad_answers(void)
{
	char listen[64];
	struct run r;
	pid_t pid = fake_server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", listen, sizeof listen);
	CHECK(pid > 0);
	run_healthcheck(&r, NULL, (const char *[]){ "--listen", listen, NULL });
	kill(pid, SIGKILL);     /* it has written its answer if it was asked at all */
	waitpid(pid, NULL, 0);
	CHECK_MSG(r.status == 1 && strstr(r.out, "answered 503"), "503: %d %s", r.status, r.out);

	pid = fake_server(NULL, listen, sizeof listen);
	CHECK(pid > 0);
	run_healthcheck(&r, NULL, (const char *[]){ "--listen", listen, NULL });
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* It gives up on its own (after its 5 s timeout), well before run_healthcheck's 30 s. */
	CHECK_MSG(r.status == 1 && strstr(r.out, "no answer"), "silent server: %d %s", r.status, r.out);
	CHECK_MSG(r.seconds >= 4.5, "gave up after %.1f s, before its 5 s timeout", r.seconds);
}

int main(void)
{
	RUN(test_healthy_server);
	RUN(test_nothing_listens);
	RUN(test_bad_answers);
	return CHECK_EXIT();
}
