/* outbuf — see outbuf.h. The memory part grows by doubling (a worker that
 * prints one line costs a few bytes, not the cap); the file is written with
 * plain write(2) from the engine thread, which the page cache absorbs. Why
 * the growing stream is the one spilled at the global cap, and not the
 * largest: it is found in O(1) with no list of streams, and a stream that
 * grows is the one that would have outgrown memory anyway. */
#include "engine/outbuf.h"
#include "lib/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t memory_cap, memory_held;   /* every stream's memory (engine lock) */

void outbuf_set_memory_cap(size_t cap) { memory_cap = cap; }
size_t outbuf_memory_held(void) { return memory_held; }

int outbuf_init(struct outbuf *ob, size_t cap, const char *spill_path)
{
	memset(ob, 0, sizeof *ob);
	ob->cap = cap;
	ob->spill_fd = -1;
	ob->spill_path = strdup(spill_path);
	return ob->spill_path ? 0 : -ENOMEM;
}

static void free_memory(struct outbuf *ob)
{
	memory_held -= ob->mem_alloc;
	free(ob->mem);
	ob->mem = NULL;
	ob->mem_len = ob->mem_alloc = 0;
}

/* The allocation that holds need bytes, or 0 when that would pass the
 * stream's cap or the global one (then the stream goes to its file). */
static size_t memory_for(const struct outbuf *ob, size_t need)
{
	size_t alloc = ob->mem_alloc ? ob->mem_alloc : 256;
	if (need > ob->cap)
		return 0;
	while (alloc < need)
		alloc *= 2;
	if (alloc > ob->cap)
		alloc = ob->cap;
	if (memory_cap && memory_held - ob->mem_alloc + alloc > memory_cap)
		return 0;
	return alloc;
}

/* Grows memory to hold need bytes; -ENOBUFS: not in memory (see memory_for). */
static int grow_memory(struct outbuf *ob, size_t need)
{
	size_t alloc = memory_for(ob, need);
	if (!alloc)
		return -ENOBUFS;
	char *mem = realloc(ob->mem, alloc);
	if (!mem)
		return -ENOBUFS;        /* the file takes it: nothing is lost */
	memory_held += alloc - ob->mem_alloc;
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

size_t outbuf_marks_size(const struct outbuf *ob)
{
	return ob->nmarks * OUTBUF_MARK_BYTES;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void outbuf_marks_encode(const struct outbuf *ob, unsigned char *buf)
{
	for (size_t i = 0; i < ob->nmarks; i++) {
		put_le64(buf + i * OUTBUF_MARK_BYTES, ob->marks[i].offset);
		put_le64(buf + i * OUTBUF_MARK_BYTES + 8, (uint64_t)ob->marks[i].ms);
	}
}

int64_t outbuf_marks_lookup(const unsigned char *marks, size_t len, uint64_t offset)
{
	size_t lo = 0, hi = len / OUTBUF_MARK_BYTES;    /* the last mark at or before offset */
	if (!hi || get_le64(marks) > offset)
		return 0;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (get_le64(marks + mid * OUTBUF_MARK_BYTES) <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return (int64_t)get_le64(marks + lo * OUTBUF_MARK_BYTES + 8);
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

void outbuf_drop(struct outbuf *ob, size_t len)
{
	ob->dropping = true;
	ob->dropped += len;
}

size_t outbuf_file_bytes(const struct outbuf *ob, size_t len)
{
	size_t need = ob->mem_len + len;
	if (ob->has_file)
		return len;
	if (need <= ob->mem_alloc || memory_for(ob, need))
		return 0;
	return need;            /* the memory part moves too */
}

/* Moves the stream to its file: what memory holds is written first, at
 * file offset 0, and the memory is freed. */
static int make_file(struct outbuf *ob)
{
	ob->spill_fd = open(ob->spill_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ob->spill_fd < 0)
		return -errno;
	ob->has_file = true;
	int r = fdio_write_all(ob->spill_fd, ob->mem, ob->mem_len);
	free_memory(ob);
	return r;
}

/* What a failed write left: the stream is what reached the file. */
static void file_failed(struct outbuf *ob, size_t len)
{
	off_t at = ob->spill_fd >= 0 ? lseek(ob->spill_fd, 0, SEEK_END) : 0;
	uint64_t kept = at > 0 ? (uint64_t)at : 0;
	if (kept > ob->total + len)
		kept = ob->total + len;
	if (kept < ob->total)           /* the memory part did not all make it */
		kept = ob->total;       /* (a short file reads as a shorter stream) */
	outbuf_drop(ob, (size_t)(ob->total + len - kept));
	ob->total = kept;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t len, int64_t captured_ms)
{
	int r = 0;
	if (ob->dropping) {
		outbuf_drop(ob, len);
		return 0;
	}
	if (ob->limit && ob->total + len > ob->limit) {
		size_t keep = ob->total < ob->limit ? (size_t)(ob->limit - ob->total) : 0;
		outbuf_append(ob, data, keep, captured_ms);
		outbuf_drop(ob, len - keep);
		return 0;
	}
	if (!len)
		return 0;
	add_mark(ob, captured_ms);
	if (!ob->has_file && ob->mem_len + len > ob->mem_alloc && grow_memory(ob, ob->mem_len + len) < 0)
		r = make_file(ob);
	if (r == 0 && !ob->has_file) {
		memcpy(ob->mem + ob->mem_len, data, len);
		ob->mem_len += len;
		ob->total += len;
		return 0;
	}
	if (r == 0 && ob->spill_fd >= 0)
		r = fdio_write_all(ob->spill_fd, data, len);
	else if (r == 0)
		r = -EBADF;             /* sealed: writing is over */
	if (r < 0) {
		file_failed(ob, len);
		return r;
	}
	ob->total += len;
	return 0;
}

bool outbuf_in_memory_only(const struct outbuf *ob)
{
	return !ob->has_file;
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
	if (offset >= ob->total || !len)
		return 0;
	if (len > ob->total - offset)
		len = (size_t)(ob->total - offset);
	if (!ob->has_file) {
		memcpy(buf, ob->mem + offset, len);
		return (ssize_t)len;
	}
	int fd = open(ob->spill_path, O_RDONLY | O_CLOEXEC);
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

void outbuf_release(struct outbuf *ob)
{
	outbuf_seal(ob);
	free_memory(ob);
	free(ob->spill_path);
	free(ob->marks);
	memset(ob, 0, sizeof *ob);
	ob->spill_fd = -1;
}

void outbuf_unlink(struct outbuf *ob)
{
	if (ob->spill_path && ob->has_file)
		unlink(ob->spill_path);
	outbuf_release(ob);
}
