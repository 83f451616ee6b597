/* outbuf — see outbuf.h. The memory part grows by doubling (a worker that
 * prints one line costs a few bytes, not the cap); the spill file is written
 * with plain write(2) from the engine thread, which the page cache absorbs. */
#include "engine/outbuf.h"
#include "lib/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int outbuf_init(struct outbuf *ob, size_t cap, const char *spill_path)
{
	memset(ob, 0, sizeof *ob);
	ob->cap = cap;
	ob->spill_fd = -1;
	ob->spill_path = strdup(spill_path);
	return ob->spill_path ? 0 : -ENOMEM;
}

static int grow_memory(struct outbuf *ob, size_t need)
{
	size_t alloc = ob->mem_alloc ? ob->mem_alloc : 256;
	while (alloc < need)
		alloc *= 2;
	if (alloc > ob->cap)
		alloc = ob->cap;
	char *mem = realloc(ob->mem, alloc);
	if (!mem)
		return -ENOMEM;
	ob->mem = mem;
	ob->mem_alloc = alloc;
	return 0;
}

/* Records that the bytes from ob->total on were captured at ms. A failed
 * allocation only costs precision: those bytes get the previous mark's time. */
static void add_mark(struct outbuf *ob, int64_t ms)
{
	if (ob->nmarks && ob->marks[ob->nmarks - 1].ms == ms)
		return;
	if (ob->nmarks == OUTBUF_MARKS_MAX) {
		size_t kept = 0;        /* every other one, the first (offset 0) kept */
		for (size_t i = 0; i < ob->nmarks; i += 2)
			ob->marks[kept++] = ob->marks[i];
		ob->nmarks = kept;
	}
	if (ob->nmarks == ob->marks_alloc) {
		size_t alloc = ob->marks_alloc ? ob->marks_alloc * 2 : 4;
		struct outbuf_mark *m = realloc(ob->marks, alloc * sizeof *m);
		if (!m)
			return;
		ob->marks = m;
		ob->marks_alloc = alloc;
	}
	ob->marks[ob->nmarks++] = (struct outbuf_mark){ ob->total, ms };
}

int64_t outbuf_captured_at(const struct outbuf *ob, uint64_t offset)
{
	size_t lo = 0, hi = ob->nmarks;     /* the last mark with offset <= the given one */
	if (offset >= ob->total || !ob->nmarks)
		return 0;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (ob->marks[mid].offset <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return ob->marks[lo].ms;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t len, int64_t captured_ms)
{
	const char *to_file = data;
	size_t file_len = len;
	int r;

	if (len)
		add_mark(ob, captured_ms);
	if (ob->mem_len < ob->cap) {
		size_t take = ob->cap - ob->mem_len;
		if (take > len)
			take = len;
		if (ob->mem_len + take > ob->mem_alloc && (r = grow_memory(ob, ob->mem_len + take)) < 0)
			return r;
		memcpy(ob->mem + ob->mem_len, data, take);
		ob->mem_len += take;
		to_file += take;
		file_len -= take;
	}
	/* Count the bytes even when the disk failed: offsets stay those of the
	 * stream, and the reader sees a short file as a gap, not shifted data. */
	ob->total += len;
	if (!file_len)
		return 0;
	if (ob->spill_fd < 0) {
		ob->spill_fd = open(ob->spill_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (ob->spill_fd < 0)
			return -errno;
		/* The whole stream from byte 0: first the cap bytes memory holds. */
		if (ob->whole_file && (r = fdio_write_all(ob->spill_fd, ob->mem, ob->mem_len)) < 0)
			return r;
	}
	return fdio_write_all(ob->spill_fd, to_file, file_len);
}

bool outbuf_in_memory_only(const struct outbuf *ob)
{
	return ob->total <= ob->cap && ob->total == ob->mem_len;
}

void outbuf_seal(struct outbuf *ob)
{
	if (ob->spill_fd >= 0) {
		close(ob->spill_fd);
		ob->spill_fd = -1;
	}
}

ssize_t outbuf_read(const struct outbuf *ob, uint64_t offset, void *buf, size_t len)
{
	size_t done = 0;
	if (offset >= ob->total || !len)
		return 0;
	if (len > ob->total - offset)
		len = (size_t)(ob->total - offset);
	if (offset < ob->mem_len) {
		done = ob->mem_len - (size_t)offset;
		if (done > len)
			done = len;
		memcpy(buf, ob->mem + offset, done);
		if (done == len)
			return (ssize_t)done;
		offset += done;
	}
	/* The rest from the spill file (a read may span memory and file). */
	int fd = open(ob->spill_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return done ? (ssize_t)done : -errno;
	ssize_t n;
	do
		n = pread(fd, (char *)buf + done, len - done, (off_t)(ob->whole_file ? offset : offset - ob->cap));
	while (n < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (n < 0)
		return done ? (ssize_t)done : -saved;
	return (ssize_t)(done + (size_t)n);
}

void outbuf_release(struct outbuf *ob)
{
	outbuf_seal(ob);
	free(ob->mem);
	free(ob->spill_path);
	free(ob->marks);
	memset(ob, 0, sizeof *ob);
	ob->spill_fd = -1;
}

void outbuf_unlink(struct outbuf *ob)
{
	if (ob->spill_path && ob->total > ob->cap)
		unlink(ob->spill_path);
	outbuf_release(ob);
}
