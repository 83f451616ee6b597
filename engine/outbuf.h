/* outbuf — one captured output stream of a worker (stdout or stderr).
 *
 * A stream starts in memory. It moves to its file in the state folder (the
 * whole stream from byte 0, at file offset = stream offset) when it outgrows
 * its own cap (cap, per stream) or when growing it would take the memory of
 * all streams past the global cap (outbuf_set_memory_cap()): at the global
 * cap, the stream that needs more memory is the one spilled: its bytes are
 * written to its file and its memory freed, and the append goes on there.
 * Nothing is lost by the cap; memory held for output is at most the global
 * cap plus one stream's growth step. A stream with a file holds no memory
 * (reads come from the file, through the page cache). A stream that fits in
 * memory makes no file on the engine thread (outbuf_in_memory_only(); the
 * owner has it written at the end, e.g. in the store's row).
 *
 * Dropped bytes: past limit (set by the owner: the per-process output
 * cap) or when the disk refuses (a failed write, or the caller's free-space
 * reserve: outbuf_drop()), bytes are not kept and are counted in dropped;
 * from the first drop on, the stream keeps nothing more, so its one gap is at
 * its end: offset total, dropped bytes. Offsets count kept bytes only.
 *
 * Each append also records when its bytes were captured (a mark: the offset
 * of its first byte and the wall clock), so a reader can tell the capture
 * time of any byte. Marks are bounded (OUTBUF_MARKS_MAX): when full, every
 * other one is dropped, and the bytes it began share the previous mark's time
 * (earlier, never later than the truth).
 *
 * Not thread-safe: the engine serialises access (engine lock), the global
 * memory count included.
 * Ownership: outbuf_release() frees the memory and closes the spill fd;
 * outbuf_unlink() also removes the file.
 */
#ifndef SPAWND_OUTBUF_H
#define SPAWND_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OUTBUF_MARKS_MAX 1024

struct outbuf_mark {
	uint64_t offset;        /* first byte captured at ms */
	int64_t ms;             /* wall clock, ms */
};

struct outbuf {
	char *mem;
	size_t mem_len, mem_alloc;
	size_t cap;             /* bytes kept in memory at most */
	uint64_t total;         /* bytes captured so far */
	bool whole_file;        /* a durable store: the owner keeps a memory-only stream (row) */
	bool has_file;          /* the stream is in its file (memory freed) */
	bool dropping;          /* bytes are dropped from now on */
	uint64_t dropped;       /* bytes not kept (the gap at offset total) */
	uint64_t limit;         /* total kept at most (0: no limit) */
	int spill_fd;           /* -1 until the file is made, and once sealed */
	char *spill_path;       /* set by outbuf_init; file created on demand */
	struct outbuf_mark *marks;      /* ascending offsets */
	size_t nmarks, marks_alloc;
};

/* spill_path is copied. cap is the stream's memory cap in bytes. */
int outbuf_init(struct outbuf *ob, size_t cap, const char *spill_path);
/* The global cap on the memory of every stream (0: none), and what they hold. */
void outbuf_set_memory_cap(size_t cap);
size_t outbuf_memory_held(void);
/* Appends len bytes captured at captured_ms (wall clock). 0 or -errno (on a
 * write error the bytes that did not reach the file are dropped, counted in
 * dropped, and the error is returned so the caller can log it). */
int outbuf_append(struct outbuf *ob, const void *data, size_t len, int64_t captured_ms);
/* Drops len bytes (counted in dropped; the stream keeps nothing more). */
void outbuf_drop(struct outbuf *ob, size_t len);
/* The bytes the next append would write to the file (0: it stays in memory),
 * for a caller that watches the disk's free space. */
size_t outbuf_file_bytes(const struct outbuf *ob, size_t len);
/* When the byte at offset was captured (wall clock ms); 0 if not captured. */
int64_t outbuf_captured_at(const struct outbuf *ob, uint64_t offset);
/* The marks as bytes, for a store to keep (OUTBUF_MARK_BYTES each,
 * little-endian offset then ms): writes outbuf_marks_size() bytes to buf. */
#define OUTBUF_MARK_BYTES 16
size_t outbuf_marks_size(const struct outbuf *ob);
void outbuf_marks_encode(const struct outbuf *ob, unsigned char *buf);
/* outbuf_captured_at() over encoded marks (len bytes); 0 if none applies. */
int64_t outbuf_marks_lookup(const unsigned char *marks, size_t len, uint64_t offset);
/* The whole stream is in memory and no file was made for it (nothing was
 * written to disk yet; an empty stream counts too). */
bool outbuf_in_memory_only(const struct outbuf *ob);
/* Closes the spill fd (writing is over); reads still work. */
void outbuf_seal(struct outbuf *ob);
/* Copies up to len bytes from offset into buf. Returns the count (0 at the
 * end) or -errno. */
ssize_t outbuf_read(const struct outbuf *ob, uint64_t offset, void *buf, size_t len);
void outbuf_release(struct outbuf *ob);
void outbuf_unlink(struct outbuf *ob);

#endif
