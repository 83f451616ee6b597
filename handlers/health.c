#define _GNU_SOURCE
#include "handlers/health.h"

#include <stdio.h>

#include "engine/proc.h"
#include "lib/ts.h"
#include "server/stream.h"

static int64_t started_mono;

/* openapi/openapi.yaml, linked in as bytes (see the Makefile's dependency). */
__asm__(".section .rodata\n"
	".global spawnd_openapi_yaml\n"
	"spawnd_openapi_yaml:\n"
	".incbin \"openapi/openapi.yaml\"\n"
	".global spawnd_openapi_yaml_end\n"
	"spawnd_openapi_yaml_end:\n"
	".byte 0\n"
	".previous\n");
extern const char spawnd_openapi_yaml[], spawnd_openapi_yaml_end[];

void health_init(void)
{
	started_mono = ts_mono_ms();
}

enum MHD_Result health_get(struct http_req *r)
{
	struct proc_stats st;
	proc_stats(&st);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", "ok");
	cJSON_AddStringToObject(j, "version", SPAWND_VERSION);
	cJSON_AddNumberToObject(j, "uptime", (double)(ts_mono_ms() - started_mono) / 1000.0);
	cJSON_AddNumberToObject(j, "running", (double)st.running);
	cJSON_AddNumberToObject(j, "queued", (double)st.queued);
	return http_reply_json(r, 200, j);
}

enum MHD_Result metrics_get(struct http_req *r)
{
	struct proc_stats st;
	char *text = NULL;
	proc_stats(&st);
	int len = asprintf(&text,
		"# HELP spawnd_processes_running Worker processes running now.\n"
		"# TYPE spawnd_processes_running gauge\n"
		"spawnd_processes_running %ld\n"
		"# HELP spawnd_processes_queued Processes waiting for a free slot.\n"
		"# TYPE spawnd_processes_queued gauge\n"
		"spawnd_processes_queued %ld\n"
		"# HELP spawnd_processes_started_total Worker processes started.\n"
		"# TYPE spawnd_processes_started_total counter\n"
		"spawnd_processes_started_total %ld\n"
		"# HELP spawnd_processes_failed_total Processes that could not start.\n"
		"# TYPE spawnd_processes_failed_total counter\n"
		"spawnd_processes_failed_total %ld\n"
		"# HELP spawnd_streams_open Live output and event streams open now.\n"
		"# TYPE spawnd_streams_open gauge\n"
		"spawnd_streams_open %ld\n"
		"# HELP spawnd_uptime_seconds Seconds since the server started.\n"
		"# TYPE spawnd_uptime_seconds gauge\n"
		"spawnd_uptime_seconds %.3f\n",
		st.running, st.queued, st.total_started, st.total_failed, stream_count(),
		(double)(ts_mono_ms() - started_mono) / 1000.0);
	if (len < 0)
		return MHD_NO;
	return http_reply_buffer(r, 200, "text/plain; version=0.0.4", text, (size_t)len, false);
}

enum MHD_Result openapi_get(struct http_req *r)
{
	return http_reply_buffer(r, 200, "application/yaml", spawnd_openapi_yaml,
				 (size_t)(spawnd_openapi_yaml_end - spawnd_openapi_yaml), true);
}
