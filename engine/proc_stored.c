/* proc_stored — see proc_stored.h.
 *
 * Why without a struct proc: a durable store may hold a million ended
 * records; only live ones (queued, running, and ended ones until the store
 * has committed their end: proc_table_evict()) are kept in memory. An ended
 * record has nothing that changes, so its stored value, its row's output
 * and its output files are all there is to it.
 */
#define _GNU_SOURCE
#include "engine/proc_stored.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/proc_json.h"
#include "engine/proc_table.h"
#include "lib/log.h"

static const char *const suffix[2] = { "stdout", "stderr" };

static void output_path(const char *id, enum proc_stream s, char *path, size_t len)
{
	snprintf(path, len, "%s/%s.%s", proc_table_output_dir(), id, suffix[s]);
}

int proc_stored_get(const char *id, struct store_record *out)
{
	struct store *st = proc_table_store();
	store_sync_all(st);
	if (st->ops->flags & STORE_SHARED_READS)
		return st->ops->get(st, id, out);
	engine_lock();
	int r = st->ops->get(st, id, out);
	engine_unlock();
	return r;
}

int proc_stored_list(const struct store_query *q, struct store_page *out)
{
	struct store *st = proc_table_store();
	store_sync_all(st);
	if (st->ops->flags & STORE_SHARED_READS)
		return st->ops->list(st, q, out);
	engine_lock();
	int r = st->ops->list(st, q, out);
	engine_unlock();
	return r;
}

ssize_t proc_stored_read(const struct store_record *r, enum proc_stream s, uint64_t offset, void *buf, size_t len)
{
	uint64_t total = s == PROC_STDOUT ? r->stdout_bytes : r->stderr_bytes;
	struct store *st = proc_table_store();
	char path[4096];
	if (offset >= total || !len)
		return 0;
	if (len > total - offset)
		len = (size_t)(total - offset);
	if (st->ops->read_output) {     /* output that fit in memory is in the row */
		long n = st->ops->read_output(st, r->id, s, offset, buf, len);
		if (n != -ENOENT)
			return n;
	}
	output_path(r->id, s, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = pread(fd, buf, len, (off_t)offset);
	while (n < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	return n < 0 ? -saved : n;
}

uint64_t proc_stored_file_size(const char *id, enum proc_stream s)
{
	char path[4096];
	struct stat st;
	output_path(id, s, path, sizeof path);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

cJSON *proc_stored_render(const struct store_record *r, unsigned flags)
{
	struct outbuf out[2] = { { .total = r->stdout_bytes }, { .total = r->stderr_bytes } };
	cJSON *j = NULL;
	for (int s = 0; s < 2 && (flags & PROC_JSON_OUTPUT); s++) {
		size_t want = out[s].total < PROC_INLINE_OUTPUT ? (size_t)out[s].total : PROC_INLINE_OUTPUT;
		if (!want)
			continue;
		if (!(out[s].mem = malloc(want)))
			goto out;
		ssize_t n = proc_stored_read(r, (enum proc_stream)s, 0, out[s].mem, want);
		out[s].mem_len = n > 0 ? (size_t)n : 0;     /* a lost file reads as empty */
	}
	j = proc_render(r, out, flags);
out:
	free(out[0].mem);
	free(out[1].mem);
	return j;
}

void proc_stored_unlink_output(const char *id)
{
	char path[4096];
	for (int s = 0; s < 2; s++) {
		output_path(id, (enum proc_stream)s, path, sizeof path);
		unlink(path);
	}
}

void proc_stored_remove(const struct store_record *r)
{
	struct store *st = proc_table_store();
	engine_lock();
	st->ops->remove(st, r->id);
	engine_unlock();
	proc_stored_unlink_output(r->id);
	store_sync_all(st);
	log_event(LOG_INFO, "process removed", "id=%s name=\"%s\"", r->id, r->name);
}
