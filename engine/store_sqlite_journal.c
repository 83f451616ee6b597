/* store_sqlite_journal — what a sync() of the SQLite store writes: the
 * images of the queued writes, appended to STATE_DIR/spawnd.journal.GEN, so
 * that an answer waits for one write(2) instead of a commit (bench S). The
 * writer thread still commits the queue in batches (store_sqlite_write.c);
 * each batch's commit also stores, in the meta table, where the journal
 * stood when the batch was taken (journal_gen, journal_off) and the batch's
 * last sequence number (journal_seq). An open applies what the journal
 * holds past that position, so a write a client was answered about
 * survives a kill of spawnd as a commit did: both sit in the page cache, no
 * fsync (synchronous=NORMAL; README "Durability").
 *
 * Why the position is exact: images are written and batches taken under
 * queue_lock, and a batch takes the whole queue, so everything in the
 * journal before a batch's position is an image of an op of that batch or
 * of an earlier one, and nothing after it is. Replayed images are applied
 * in the order written; an op written twice (merged in between) is written
 * whole each time, so its last image wins. An insert is replayed as
 * INSERT OR REPLACE: its first image may be there already.
 *
 * A file is one frame after the other: payload length (u32), magic (u32),
 * FNV-1a 64 of the payload (u64), payload, in this machine's byte order (the
 * journal never leaves the state folder). A frame cut short by a kill, or
 * left by a failed write, ends the replay of its file: it was never
 * answered about. After a failed write nothing more goes into that file: the
 * queued ops are written again into a new one (without one, syncs commit
 * until a file can be made, tried once a second). Within the file the meta
 * names, frames of ops of the committed batch or older (seq <= journal_seq)
 * are skipped. What runs under queue_lock: building the frames (copies of
 * the ops, at most the in-memory output of each, and a running worker's
 * start time from /proc); the write and a new file's creation drop it.
 *
 * Why files rotate (JOURNAL_ROTATE_BYTES) instead of being truncated per
 * batch: making or truncating a file costs the disk measured about half a
 * millisecond; a batch takes the journal's position in memory only, a new
 * file comes once per 8 MiB of images, and an older one goes once a batch
 * that names the new one has committed.
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/histogram.h"
#include "lib/log.h"
#include "lib/procstat.h"

#define JOURNAL_MAGIC 0x314a5053u       /* "SPJ1" */
#define FRAME_HEAD 16
#define NONE UINT32_MAX                 /* a NULL string or blob */

static uint64_t fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037u;
	while (n--)
		h = (h ^ *p++) * 1099511628211u;
	return h;
}

/* ---- images --------------------------------------------------------------- */

struct buf { char *data; size_t len, cap; bool failed; };

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_u64(struct buf *b, uint64_t v) { put(b, &v, sizeof v); }

static void put_bytes(struct buf *b, const void *p, size_t n)
{
	uint32_t len = p ? (uint32_t)n : NONE;
	put(b, &len, sizeof len);
	if (p)
		put(b, p, n);
}

static void put_str(struct buf *b, const char *s) { put_bytes(b, s, s ? strlen(s) : 0); }

/* One op's image: every field, whatever its kind (a few bytes more, one
 * decoder). */
static void put_op(struct buf *b, const struct op *o)
{
	const struct store_record *r = &o->rec;
	uint64_t flags = (uint64_t)o->has_fields | (uint64_t)o->has_output[0] << 1 | (uint64_t)o->has_output[1] << 2 |
			 (uint64_t)r->daemon << 3;
	double timeout = r->timeout;
	uint64_t timeout_bits;
	memcpy(&timeout_bits, &timeout, sizeof timeout_bits);
	const uint64_t numbers[] = {
		(uint64_t)o->kind, o->seq, flags, (uint64_t)o->names, timeout_bits, (uint64_t)r->created_ms,
		(uint64_t)r->state, (uint64_t)(int64_t)r->pid, (uint64_t)(int64_t)r->exitcode,
		(uint64_t)(int64_t)r->signal, (uint64_t)(int64_t)r->reason, (uint64_t)r->started_ms,
		(uint64_t)r->ended_ms, r->stdout_bytes, r->stderr_bytes, r->start_ticks, r->stdout_dropped,
		r->stderr_dropped,
	};
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
		put_u64(b, numbers[i]);
	const char *const strings[] = { r->id, r->name, r->target, r->args_text, r->error, r->timeline_text,
					r->launch_text, r->pool, o->obj_kind, o->obj_name, o->obj_key, o->obj_value };
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		put_str(b, strings[i]);
	for (int s = 0; s < 2; s++) {
		put_bytes(b, o->data[s], o->len[s]);
		put_bytes(b, o->marks[s], o->marks_len[s]);
	}
}

/* Reading an image back: a cursor that fails (and stays failed) at the end. */
struct cursor { const unsigned char *p, *end; bool failed, nomem; };

static uint64_t get_u64(struct cursor *c)
{
	uint64_t v = 0;
	if (c->failed || (size_t)(c->end - c->p) < sizeof v) {
		c->failed = true;
		return 0;
	}
	memcpy(&v, c->p, sizeof v);
	c->p += sizeof v;
	return v;
}

/* A malloc'd copy (NUL-terminated, as text or blob), NULL for NONE. */
static void *get_bytes(struct cursor *c, size_t *len)
{
	uint32_t n;
	if (c->failed || (size_t)(c->end - c->p) < sizeof n) {
		c->failed = true;
		return NULL;
	}
	memcpy(&n, c->p, sizeof n);
	c->p += sizeof n;
	if (n == NONE)
		return NULL;
	if ((size_t)(c->end - c->p) < n) {
		c->failed = true;
		return NULL;
	}
	char *d = malloc((size_t)n + 1);
	if (!d) {
		c->failed = c->nomem = true;
		return NULL;
	}
	memcpy(d, c->p, n);
	d[n] = '\0';
	c->p += n;
	if (len)
		*len = n;
	return d;
}

static struct op *get_op(struct cursor *c)
{
	struct op *o = calloc(1, sizeof *o);
	if (!o) {
		c->nomem = true;
		return NULL;
	}
	struct store_record *r = &o->rec;
	uint64_t n[18];
	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
		n[i] = get_u64(c);
	o->kind = n[0] < OP_KINDS ? (enum op_kind)n[0] : OP_KINDS;
	o->seq = n[1];
	o->has_fields = n[2] & 1;
	o->has_output[0] = n[2] >> 1 & 1;
	o->has_output[1] = n[2] >> 2 & 1;
	r->daemon = n[2] >> 3 & 1;
	o->names = (long)n[3];
	memcpy(&r->timeout, &n[4], sizeof r->timeout);
	r->created_ms = (int64_t)n[5];
	r->state = (enum store_state)n[6];
	r->pid = (int)(int64_t)n[7];
	r->exitcode = (int)(int64_t)n[8];
	r->signal = (int)(int64_t)n[9];
	r->reason = (int)(int64_t)n[10];
	r->started_ms = (int64_t)n[11];
	r->ended_ms = (int64_t)n[12];
	r->stdout_bytes = n[13];
	r->stderr_bytes = n[14];
	r->start_ticks = n[15];
	r->stdout_dropped = n[16];
	r->stderr_dropped = n[17];
	r->pidfd = -1;
	char *id = get_bytes(c, NULL);
	snprintf(r->id, sizeof r->id, "%s", id ? id : "");
	free(id);
	char **const strings[] = { &r->name, &r->target, &r->args_text, &r->error, &r->timeline_text,
				   &r->launch_text, &r->pool, &o->obj_kind, &o->obj_name, &o->obj_key, &o->obj_value };
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		*strings[i] = get_bytes(c, NULL);
	for (int s = 0; s < 2; s++) {
		o->data[s] = get_bytes(c, &o->len[s]);
		o->marks[s] = get_bytes(c, &o->marks_len[s]);
	}
	if (c->failed || o->kind == OP_KINDS || o->kind == OP_NAMES || n[6] >= STORE_STATES || c->p != c->end) {
		store_sqlite_free_ops(o);
		return NULL;
	}
	return o;
}

/* ---- writing --------------------------------------------------------------- */

static void journal_path(const struct sql_store *m, uint64_t gen, char *path, size_t len)
{
	snprintf(path, len, "%s/spawnd.journal.%" PRIu64, m->state_dir, gen);
}

/* A new, empty file gen (no lock: the caller writes the journal alone). */
static int create_file(const struct sql_store *m, uint64_t gen)
{
	char path[4096];
	journal_path(m, gen, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		log_event(LOG_ERROR, "cannot make the store's journal", "path=\"%s\" error=\"%s\"", path, strerror(e));
		return -e;
	}
	return fd;
}

static void use_file(struct sql_store *m, int fd, uint64_t gen)
{
	if (m->jfd >= 0)
		close(m->jfd);
	m->jfd = fd;
	m->jgen = gen;
	m->joff = 0;
}

static int write_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -ENOSPC;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* The frames of every queued op not yet journaled, into m->jbuf (marked
 * journaled: the write that follows is theirs); its length, or -ENOMEM. */
static long frame_queue(struct sql_store *m)
{
	struct buf b = { .data = m->jbuf, .cap = m->jcap };
	for (struct op *o = m->head; o && !b.failed; o = o->next) {
		if (o->journaled)
			continue;
		/* A running row's start time, read now: after a crash, recovery
		 * knows the pid is this worker's (store.h, store_record.pidfd). */
		store_sqlite_fill_start_ticks(o);
		size_t at = b.len;
		uint32_t head[2] = { 0, JOURNAL_MAGIC };
		uint64_t sum = 0;
		put(&b, head, sizeof head);
		put_u64(&b, sum);
		put_op(&b, o);
		if (b.failed)
			break;
		head[0] = (uint32_t)(b.len - at - FRAME_HEAD);
		sum = fnv64((unsigned char *)b.data + at + FRAME_HEAD, head[0]);
		memcpy(b.data + at, head, sizeof head);
		memcpy(b.data + at + sizeof head, &sum, sizeof sum);
	}
	m->jbuf = b.data;
	m->jcap = b.cap;
	if (b.failed)
		return -ENOMEM;
	for (struct op *o = m->head; o; o = o->next)
		o->journaled = true;
	return (long)b.len;
}

/* Why a failed write makes a new file: what reached this one may be half a
 * frame, and a batch taken meanwhile has a position past it; a replay
 * stops at the first bad frame, so nothing may follow it in this file. The
 * queued ops are written again in the new one. */
static void write_failed(struct sql_store *m, int r)
{
	if (!m->journal_failed)
		log_event(LOG_ERROR, "store journal write failed", "error=\"%s\"", strerror(-r));
	m->journal_failed = true;
	m->jrotate = true;
	for (struct op *o = m->head; o; o = o->next)
		o->journaled = false;
}

/* A new file (queue_lock dropped while it is made); false: none could be
 * made. After a failed write without one there is no journal (jfd -1):
 * syncs commit instead, and try for a file again once a second. */
static bool rotate(struct sql_store *m)
{
	uint64_t gen = m->jgen + 1;
	pthread_mutex_unlock(&m->queue_lock);
	int fd = create_file(m, gen);
	pthread_mutex_lock(&m->queue_lock);
	if (fd >= 0) {
		use_file(m, fd, gen);
		m->jrotate = false;
		return true;
	}
	if (m->jrotate && m->jfd >= 0) {
		close(m->jfd);
		m->jfd = -1;
	}
	m->jretry_ns = histogram_now_ns() + 1000000000u;
	return false;
}

int store_sqlite_journal_usable(struct sql_store *m)
{
	if (m->jfd < 0 && !m->jwriting && histogram_now_ns() >= m->jretry_ns) {
		m->jwriting = true;
		rotate(m);
		m->jwriting = false;
		pthread_cond_broadcast(&m->journal_cond);
	}
	return m->jfd >= 0;
}

void store_sqlite_journal_step(struct sql_store *m)
{
	m->jwriting = true;
	/* Past its size, a file that cannot be replaced is written on. */
	if (m->jrotate || (m->joff >= JOURNAL_ROTATE_BYTES && histogram_now_ns() >= m->jretry_ns)) {
		rotate(m);
	} else {
		/* What this write makes durable: everything queued now, but a
		 * batch being committed holds writes that were never journaled
		 * (on disk once it commits, not before). */
		uint64_t lo = m->writing ? m->taken_seq : 0, hi = m->queued_seq, epoch = m->jepoch;
		uint64_t at = m->joff;
		long len = frame_queue(m);
		int r = len < 0 ? (int)len : 0;
		if (len > 0) {
			m->joff += (uint64_t)len;       /* a batch taken meanwhile is past it */
			pthread_mutex_unlock(&m->queue_lock);
			r = write_all(m->jfd, m->jbuf, (size_t)len, at);
			pthread_mutex_lock(&m->queue_lock);
		}
		if (r < 0)
			write_failed(m, r);
		else if (epoch == m->jepoch) {
			m->journal_failed = false;
			m->j_lo = lo;
			m->j_hi = hi;
		}
	}
	m->jwriting = false;
	pthread_cond_broadcast(&m->journal_cond);
}

void store_sqlite_journal_requeued(struct sql_store *m)
{
	m->jepoch++;
	for (struct op *o = m->head; o; o = o->next)
		o->journaled = false;
}

static void remove_older(struct sql_store *m, uint64_t gen)
{
	DIR *d = opendir(m->state_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		uint64_t g;
		char tail;
		if (sscanf(e->d_name, "spawnd.journal.%" SCNu64 "%c", &g, &tail) == 1 && g < gen) {
			char path[4096];
			journal_path(m, g, path, sizeof path);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
}

void store_sqlite_journal_prune(struct sql_store *m, uint64_t gen)
{
	remove_older(m, gen);
}

/* ---- replay ----------------------------------------------------------------- */

static int64_t meta_value(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?1", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The whole of file gen (NULL: none or unreadable, *len 0). */
static unsigned char *read_file(const struct sql_store *m, uint64_t gen, size_t *len)
{
	char path[4096];
	journal_path(m, gen, path, sizeof path);
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	unsigned char *d = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (d && got < (size_t)st.st_size) {
		ssize_t r = read(fd, d + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(d);
			d = NULL;
		}
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return d;
}

/* Applies file gen's frames from off (those of seq <= skip_seq skipped);
 * the count applied, or -errno when one could not be. */
static long replay_file(struct sql_store *m, uint64_t gen, uint64_t off, uint64_t skip_seq)
{
	size_t len;
	unsigned char *d = read_file(m, gen, &len);
	long applied = 0;
	int rc = 0;
	if (!d) {
		log_event(LOG_ERROR, "cannot read the store's journal", "gen=%" PRIu64, gen);
		return -EIO;            /* not skipped: the open would remove it */
	}
	for (size_t at = off; d && !rc && len >= FRAME_HEAD && at <= len - FRAME_HEAD;) {
		uint32_t head[2];
		uint64_t sum;
		memcpy(head, d + at, sizeof head);
		memcpy(&sum, d + at + sizeof head, sizeof sum);
		if (head[1] != JOURNAL_MAGIC || head[0] > len - at - FRAME_HEAD ||
		    fnv64(d + at + FRAME_HEAD, head[0]) != sum)
			break;                  /* cut short, or a failed write's leftovers */
		struct cursor c = { d + at + FRAME_HEAD, d + at + FRAME_HEAD + head[0], false, false };
		struct op *o = get_op(&c);
		at += FRAME_HEAD + head[0];
		/* A frame whose checksum holds but which cannot be taken in (no
		 * memory, or a kind or state this build lacks) is not the
		 * journal's end: the open fails and keeps the file. */
		if (!o) {
			rc = c.nomem ? SQLITE_NOMEM : SQLITE_CORRUPT;
			break;
		}
		if (o->seq > skip_seq) {
			rc = store_sqlite_apply(m, o);
			/* A write that fails alone (a constraint) is logged and
			 * skipped, as it was live; any other error ends the open. */
			if (store_sqlite_fails_alone(m, rc))
				rc = 0;
			applied += !rc;
		}
		store_sqlite_free_ops(o);
	}
	free(d);
	return rc ? -EIO : applied;
}

/* The journal generations in the state folder, ascending (count in *n). */
static uint64_t *list_gens(const struct sql_store *m, size_t *n, bool *failed)
{
	uint64_t *gens = NULL;
	size_t cap = 0;
	*n = 0;
	DIR *d = opendir(m->state_dir);
	struct dirent *e;
	*failed = !d;
	while (d && (e = readdir(d))) {
		uint64_t g;
		char tail;
		if (sscanf(e->d_name, "spawnd.journal.%" SCNu64 "%c", &g, &tail) != 1)
			continue;
		if (*n == cap) {
			uint64_t *more = realloc(gens, (cap = cap ? cap * 2 : 8) * sizeof *gens);
			if (!more) {
				*failed = true;
				break;
			}
			gens = more;
		}
		size_t i = (*n)++;
		for (; i > 0 && gens[i - 1] > g; i--)
			gens[i] = gens[i - 1];
		gens[i] = g;
	}
	if (d)
		closedir(d);
	return gens;
}

int store_sqlite_journal_open(struct sql_store *m)
{
	uint64_t gen = (uint64_t)meta_value(m->writer, "journal_gen");
	uint64_t off = (uint64_t)meta_value(m->writer, "journal_off");
	uint64_t skip = (uint64_t)meta_value(m->writer, "journal_seq");
	size_t n;
	bool failed;
	uint64_t *gens = list_gens(m, &n, &failed);
	uint64_t next = gen + 1;
	long applied = 0;
	int r = !failed && sqlite3_exec(m->writer, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
	sqlite3_stmt *insert = m->op_stmt[OP_INSERT];
	m->op_stmt[OP_INSERT] = m->replace_stmt;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (gens[i] >= next)
			next = gens[i] + 1;
		if (gens[i] < gen)
			continue;               /* all in the database */
		long k = replay_file(m, gens[i], gens[i] == gen ? off : 0, gens[i] == gen ? skip : 0);
		if (k < 0)
			r = (int)k;
		else
			applied += k;
	}
	m->op_stmt[OP_INSERT] = insert;
	/* The new file first: the meta that names it commits after. */
	int fd = r == 0 ? create_file(m, next) : -1;
	if (fd < 0 && r == 0)
		r = fd;
	if (r == 0) {
		use_file(m, fd, next);
		m->batch_gen = next;
		m->batch_off = 0;
		sqlite3_stmt *st = m->journal_stmt;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)next);
		sqlite3_bind_int64(st, 2, 0);
		sqlite3_bind_int64(st, 3, 0);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = -EIO;
		sqlite3_reset(st);
	}
	if (r == 0 && sqlite3_exec(m->writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = -EIO;
	if (r < 0) {
		log_event(LOG_ERROR, "cannot replay the store's journal", "error=\"%s\"", sqlite3_errmsg(m->writer));
		if (!sqlite3_get_autocommit(m->writer))
			sqlite3_exec(m->writer, "ROLLBACK", NULL, NULL, NULL);
	} else {
		if (applied)
			log_event(LOG_INFO, "store journal replayed", "writes=%ld", applied);
		m->committed_gen = next;
		remove_older(m, next);
	}
	free(gens);
	return r;
}

void store_sqlite_journal_close(struct sql_store *m)
{
	free(m->jbuf);
	m->jbuf = NULL;
	if (m->jfd < 0)
		return;
	close(m->jfd);
	m->jfd = -1;
	/* All of it committed (the writer's last batch named its end): the
	 * next open has nothing to read in it. */
	if (!m->head && !m->fold_failed && !m->dropped && m->committed_gen == m->jgen && m->batch_off == m->joff) {
		char path[4096];
		journal_path(m, m->jgen, path, sizeof path);
		unlink(path);
	}
}
