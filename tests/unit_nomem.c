/* unit_nomem — out of memory while a request is turned into a command line
 * and an environment fails the whole build, never yields a shorter one.
 *
 * This binary is linked with -Wl,--wrap=malloc,calloc,strdup (see the
 * Makefile) and routes cJSON's allocations through the same counter
 * (cJSON_InitHooks), so a case can make exactly the k-th allocation fail.
 * Each case runs its call for k = 1, 2, ... until a run makes no allocation
 * fail: every run in which one failed must report -ENOMEM (or, for a request
 * that is refused anyway, a refusal) and leave its outputs untouched; the
 * last run must give the full result.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "targets/args.h"
#include "targets/argv.h"
#include "targets/env.h"
#include "targets/exec_load.h"
#include "targets/registry.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

#define RUNS_MAX 2000   /* far more allocations than any case makes */

static long alloc_calls, alloc_fail_at;  /* fail_at 0: never */
static bool alloc_failed;

static bool alloc_should_fail(void)
{
	if (alloc_fail_at == 0 || ++alloc_calls != alloc_fail_at)
		return false;
	alloc_failed = true;
	return true;
}

/* Arms the k-th allocation from now to fail. */
static void fail_allocation(long k)
{
	alloc_calls = 0;
	alloc_fail_at = k;
	alloc_failed = false;
}

/* Disarms; true when the armed allocation failed. */
static bool allocation_failed(void)
{
	alloc_fail_at = 0;
	return alloc_failed;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
char *__wrap_strdup(const char *s);

void *__wrap_malloc(size_t size)
{
	return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

char *__wrap_strdup(const char *s)
{
	return alloc_should_fail() ? NULL : __real_strdup(s);
}

static void *hook_malloc(size_t size)
{
	return malloc(size);    /* wrapped: counted */
}

static void hook_free(void *p)
{
	free(p);
}

/* "a|b|c" of a vector, or "(none)"; for messages and comparisons. */
static char joined[4096];
static const char *join(char **v)
{
	size_t used = 0;

	if (!v)
		return "(none)";
	joined[0] = '\0';
	for (size_t i = 0; v[i]; i++)
		used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", i ? "|" : "", v[i]);
	return joined;
}

static char dir[64], path[128];

/* An exec target with a literal, a variadic placeholder, an optional group,
 * a fixed env and an allowed request key. */
static const char targets_file[] =
	"{\"targets\": [{\"name\": \"words\", \"program\": \"/bin/echo\","
	" \"argv\": [\"first\", \"{words}\", [\"--mode\", \"{mode}\"]],"
	" \"args\": [{\"name\": \"mode\", \"type\": \"string\"},"
	"          {\"name\": \"words\", \"type\": \"string\", \"variadic\": true}],"
	" \"env\": {\"allow\": [\"LANG\"], \"set\": {\"MODE\": \"test\"}}}]}";

/* The target of targets_file, loaded the first time. */
static const struct target *words_target(void)
{
	struct exec_file *f = NULL;
	char err[512];
	FILE *out;

	if (target_find("words"))
		return target_find("words");
	if (!(out = fopen(path, "w")))
		return NULL;
	fputs(targets_file, out);
	fclose(out);
	if (exec_load_file(path, &f, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	targets_set_exec(f);
	return target_find("words");
}

/* Validation: a value it cannot copy is -ENOMEM, not an argument left out. */
static void validate_fails_whole(void)
{
	const struct target *t = target_find("echo");
	cJSON *args = cJSON_Parse("[\"a\", \"b\", \"c\"]");
	long k;

	CHECK(t && args);
	for (k = 1; k < RUNS_MAX; k++) {
		cJSON *canonical = NULL, *details = NULL;
		fail_allocation(k);
		int rc = target_validate(t, args, &canonical, &details);
		if (!allocation_failed()) {
			char *text = cJSON_PrintUnformatted(canonical);
			bool same = text && strcmp(text, "{\"words\":[\"a\",\"b\",\"c\"]}") == 0;
			free(text);
			cJSON_Delete(canonical);
			cJSON_Delete(args);
			CHECK_INT(rc, 0);
			CHECK_MSG(same, "the canonical arguments differ");
			return;
		}
		cJSON_Delete(canonical);
		cJSON_Delete(details);
		if (rc != -ENOMEM || canonical || details) {
			cJSON_Delete(args);
			CHECK_FAIL("allocation %ld failed: rc %d, canonical %s, details %s", k, rc,
				   canonical ? "set" : "untouched", details ? "set" : "untouched");
		}
	}
	cJSON_Delete(args);
	CHECK_FAIL("never ran without an allocation failing");
}

/* Validation: a refusal it cannot record is -ENOMEM, never a pass. */
static void validate_refusal_is_never_lost(void)
{
	const struct target *t = target_find("exit");
	cJSON *args = cJSON_Parse("{\"code\": 3, \"bogus\": 1}");
	long k;

	CHECK(t && args);
	for (k = 1; k < RUNS_MAX; k++) {
		cJSON *canonical = NULL, *details = NULL;
		fail_allocation(k);
		int rc = target_validate(t, args, &canonical, &details);
		bool failed = allocation_failed();
		cJSON_Delete(canonical);
		cJSON_Delete(details);
		if (rc != -EINVAL && rc != -ENOMEM) {
			cJSON_Delete(args);
			CHECK_FAIL("allocation %ld failed: rc %d, the unknown argument passed", k, rc);
		}
		if (!failed)
			break;
	}
	cJSON_Delete(args);
	CHECK(k < RUNS_MAX);
}

static void argv_fails_whole(void)
{
	const struct target *t = words_target();
	cJSON *args = cJSON_Parse("{\"words\": [\"a\", \"b\"], \"mode\": \"m\"}"), *canonical = NULL, *details = NULL;
	long k;

	CHECK(t && args);
	CHECK_INT(target_validate(t, args, &canonical, &details), 0);
	cJSON_Delete(args);
	for (k = 1; k < RUNS_MAX; k++) {
		char **argv = NULL;
		fail_allocation(k);
		int rc = target_build_argv(t, canonical, &argv);
		if (!allocation_failed()) {
			cJSON_Delete(canonical);
			CHECK_INT(rc, 0);
			CHECK_STR(join(argv), "/bin/echo|first|a|b|--mode|m");
			target_free_argv(argv);
			return;
		}
		if (rc != -ENOMEM || argv) {
			cJSON_Delete(canonical);
			CHECK_FAIL("allocation %ld failed: rc %d, argv %s", k, rc, join(argv));
		}
	}
	cJSON_Delete(canonical);
	CHECK_FAIL("never ran without an allocation failing");
}

static void env_fails_whole(void)
{
	const struct target *t = words_target();
	cJSON *request = cJSON_Parse("{\"LANG\": \"C\"}");
	struct target_ctx ctx = { .id = "", .name = "" };
	long k;

	CHECK(t && request);
	for (k = 1; k < RUNS_MAX; k++) {
		char **envp = NULL;
		cJSON *details = NULL;
		fail_allocation(k);
		int rc = target_build_env(t, request, &ctx, &envp, &details);
		if (!allocation_failed()) {
			cJSON_Delete(request);
			CHECK_INT(rc, 0);
			CHECK_STR(join(envp), "PATH=/usr/local/bin:/usr/bin:/bin|MODE=test|LANG=C|"
				  "SPAWND_PROCESS_ID=|SPAWND_PROCESS_NAME=");
			target_free_argv(envp);
			return;
		}
		if (rc != -ENOMEM || envp || details) {
			cJSON_Delete(details);
			cJSON_Delete(request);
			CHECK_FAIL("allocation %ld failed: rc %d, envp %s", k, rc, join(envp));
		}
	}
	cJSON_Delete(request);
	CHECK_FAIL("never ran without an allocation failing");
}

/* A key the target does not allow never reaches the environment. */
static void env_refusal_is_never_lost(void)
{
	const struct target *t = words_target();
	cJSON *request = cJSON_Parse("{\"PATH\": \"/evil\"}");
	long k;

	CHECK(t && request);
	for (k = 1; k < RUNS_MAX; k++) {
		char **envp = NULL;
		cJSON *details = NULL;
		fail_allocation(k);
		int rc = target_build_env(t, request, NULL, &envp, &details);
		bool failed = allocation_failed();
		cJSON_Delete(details);
		if (rc != -EINVAL && rc != -ENOMEM) {
			cJSON_Delete(request);
			CHECK_FAIL("allocation %ld failed: rc %d, envp %s", k, rc, join(envp));
		}
		if (!failed)
			break;
	}
	cJSON_Delete(request);
	CHECK(k < RUNS_MAX);
}

/* The engine's step: the real identity in place of the empty one. */
static void finish_env_fails_whole(void)
{
	char path_entry[] = "PATH=/bin", lang[] = "LANG=C", id[] = "SPAWND_PROCESS_ID=", name[] = "SPAWND_PROCESS_NAME=";
	char *given[] = { path_entry, lang, id, name, NULL };
	long k;

	for (k = 1; k < RUNS_MAX; k++) {
		fail_allocation(k);
		char **env = target_finish_env(given, "0123", "Process-1");
		if (!allocation_failed()) {
			CHECK_STR(join(env), "PATH=/bin|LANG=C|SPAWND_PROCESS_ID=0123|SPAWND_PROCESS_NAME=Process-1");
			target_free_argv(env);
			return;
		}
		CHECK_MSG(!env, "allocation %ld failed, yet an environment came back: %s", k, join(env));
	}
	CHECK_FAIL("never ran without an allocation failing");
}

int main(void)
{
	cJSON_Hooks hooks = { .malloc_fn = hook_malloc, .free_fn = hook_free };

	cJSON_InitHooks(&hooks);
	snprintf(dir, sizeof dir, "/tmp/unit_nomem.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/targets.json", dir);
	RUN(validate_fails_whole);
	RUN(validate_refusal_is_never_lost);
	RUN(argv_fails_whole);
	RUN(env_fails_whole);
	RUN(env_refusal_is_never_lost);
	RUN(finish_env_fails_whole);
	targets_release();
	unlink(path);
	rmdir(dir);
	return CHECK_EXIT();
}
