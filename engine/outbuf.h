/* outbuf — one captured output stream of a worker (stdout or stderr).
 *
 * Bytes are kept in memory up to a cap; everything past the cap goes to a
 * spill file in the state folder, so a worker that writes gigabytes costs the
 * server only the cap in memory and nothing is lost. Offsets are byte offsets
 * of the stream from its first byte. Memory: [0, mem_len); file: [cap, total)
 * at file offset (offset - cap).
 *
 * With whole_file set (a durable store: the output must outlive spawnd), a
 * stream that outgrows the cap has a file holding the whole stream from byte
 * 0, at file offset = stream offset (the memory part is written first, when
 * the file is made), and memory is a cache of its first cap bytes. A stream
 * that fits the cap is in memory only: no file is made on the engine thread
 * for it (outbuf_in_memory_only(); the owner has it written at the end).
 *
 * Each append also records when its bytes were captured (a mark: the offset
 * of its first byte and the wall clock), so a reader can tell the capture
 * time of any byte. Marks are bounded (OUTBUF_MARKS_MAX): when full, every
 * other one is dropped, and the bytes it began share the previous mark's time
 * (earlier, never later than the truth).
 *
 * Not thread-safe: the engine serialises access (engine lock).
 * Ownership: outbuf_release() frees the memory and closes the spill fd;
 * outbuf_unlink() also removes the spill file.
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
	bool whole_file;        /* every byte goes to the file (set after outbuf_init) */
	int spill_fd;           /* -1 until the first byte written to the file */
	char *spill_path;       /* set by outbuf_init; file created on demand */
	struct outbuf_mark *marks;      /* ascending offsets */
	size_t nmarks, marks_alloc;
};

/* spill_path is copied. cap is the memory cap in bytes. */
int outbuf_init(struct outbuf *ob, size_t cap, const char *spill_path);
/* Appends len bytes captured at captured_ms (wall clock). 0 or -errno (on a
 * spill write error the bytes are lost and the error is returned, so the
 * caller can report a gap). */
int outbuf_append(struct outbuf *ob, const void *data, size_t len, int64_t captured_ms);
/* When the byte at offset was captured (wall clock ms); 0 if not captured. */
int64_t outbuf_captured_at(const struct outbuf *ob, uint64_t offset);
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
