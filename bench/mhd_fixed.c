/* mhd_fixed — the P4 baseline: a minimal libmicrohttpd server that answers
 * every request with a fixed body of a given size (issue 5).
 *
 *   mhd_fixed [-b BYTES] [-p POOL_THREADS]
 *
 * It prints "mhd_fixed listening on http://127.0.0.1:PORT" on a free port and
 * serves until SIGTERM. It starts libmicrohttpd with the same daemon flags,
 * thread pool, connection limit and timeout as spawnd's server/http.c (keep
 * them in step), so the P4 ratio is what spawnd's routing, record lookup and
 * JSON encoding cost on top of the HTTP library.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static char *fixed_body;
static size_t fixed_body_len;

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	static int request_seen;
	struct MHD_Response *response;
	enum MHD_Result ret;

	/* libmicrohttpd 0.9.75 closes the connection (no keep-alive) when a
	 * response is queued in the first call for a request: answer in the
	 * second one, as every correct MHD handler does. */
	if (!*con_cls) {
		*con_cls = &request_seen;
		return MHD_YES;
	}
	response = MHD_create_response_from_buffer(fixed_body_len, fixed_body, MHD_RESPMEM_PERSISTENT);
	if (!response)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

/* Serves the fixed body until SIGTERM or SIGINT. */
static int serve(size_t body_len, unsigned pool)
{
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;
	sigset_t stop;
	int sig;

	fixed_body_len = body_len;
	if (!(fixed_body = malloc(fixed_body_len + 1)))
		return 1;
	memset(fixed_body, 'x', fixed_body_len);
	if (fixed_body_len >= 2) {
		fixed_body[0] = '"';
		fixed_body[fixed_body_len - 1] = '"';
	}
	/* Block the stop signals before MHD starts its threads, which inherit the
	 * mask; this thread then waits for them with sigwait(). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0,
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		/* As server/http.c: the same flags, pool, limits and timeout. */
		unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
				 | MHD_USE_ITC | MHD_USE_ERROR_LOG;
		daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
					  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
					  MHD_OPTION_THREAD_POOL_SIZE, pool,
					  MHD_OPTION_CONNECTION_LIMIT, 4096U,
					  MHD_OPTION_CONNECTION_TIMEOUT, 120U,
					  MHD_OPTION_END);
	}
	if (!daemon || !(info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT))) {
		fprintf(stderr, "mhd_fixed: cannot start libmicrohttpd\n");
		return 1;
	}
	printf("mhd_fixed listening on http://127.0.0.1:%u\n", (unsigned)info->port);
	fflush(stdout);
	while (sigwait(&stop, &sig) != 0)
		;
	MHD_stop_daemon(daemon);
	free(fixed_body);
	return 0;
}

int main(int argc, char **argv)
{
	long bytes = 512, pool = 2;
	int c;

	while ((c = getopt(argc, argv, "b:p:")) != -1) {
		switch (c) {
		case 'b': bytes = atol(optarg); break;
		case 'p': pool = atol(optarg); break;
		default:
			fprintf(stderr, "usage: mhd_fixed [-b BYTES] [-p POOL_THREADS]\n");
			return 2;
		}
	}
	if (bytes < 1 || bytes > (1L << 24) || pool < 0 || pool > 64) {
		fprintf(stderr, "mhd_fixed: bad -b or -p\n");
		return 2;
	}
	return serve((size_t)bytes, (unsigned)pool);
}
