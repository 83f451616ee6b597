#define _GNU_SOURCE
#include "handlers/health.h"

#include <stdio.h>

#include "engine/diskspace.h"
#include "engine/proc.h"
#include "engine/proc_metrics.h"
#include "lib/ts.h"

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

double health_uptime(void)
{
	return (double)(ts_mono_ms() - started_mono) / 1000.0;
}

enum MHD_Result health_get(struct http_req *r)
{
	struct proc_stats st;
	proc_stats(&st);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", "ok");
	cJSON_AddStringToObject(j, "version", SPAWND_VERSION);
	cJSON_AddNumberToObject(j, "uptime", health_uptime());
	cJSON_AddNumberToObject(j, "running", (double)st.running);
	cJSON_AddNumberToObject(j, "queued", (double)st.queued);
	/* The server answers even when the store cannot take writes: say so,
	 * rather than fail the liveness check (new processes would fail). */
	cJSON_AddBoolToObject(j, "store_writable", proc_metrics_store_check() == 0);
	/* Below the reserve, new processes get 507: say so here too. */
	uint64_t free_bytes, reserve;
	int disk = diskspace_check(&free_bytes, &reserve);
	cJSON_AddBoolToObject(j, "disk_ok", disk == 0);
	if (free_bytes != UINT64_MAX)
		cJSON_AddNumberToObject(j, "disk_free_bytes", (double)free_bytes);
	return http_reply_json(r, 200, j);
}

enum MHD_Result openapi_get(struct http_req *r)
{
	return http_reply_buffer(r, 200, "application/yaml", spawnd_openapi_yaml,
				 (size_t)(spawnd_openapi_yaml_end - spawnd_openapi_yaml), true);
}
