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
 * Why the position is exact: a write's frames are built, and its place in
 * the file reserved, under queue_lock, where batches are taken, and a batch
 * takes the whole queue, so everything in the journal before a batch's
 * position is an image of an op of that batch or of an earlier one, and
 * nothing after it is (the write itself runs with the lock dropped). Replayed images are applied
 * in the order written; an op written twice (merged in between) is written
 * whole each time, so its last image wins. An insert is replayed as
 * INSERT OR REPLACE: its first image may be there already.
 *
 * A file is one frame after the other (store_sqlite_frame.c). A frame cut
 * short by a kill, or
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
	struct frame_buf b = { .data = m->jbuf, .cap = m->jcap };
	for (struct op *o = m->head; o && !b.failed; o = o->next) {
		if (o->journaled)
			continue;
		/* A running row's start time, read now: after a crash, recovery
		 * knows the pid is this worker's (store.h, store_record.pidfd). */
		store_sqlite_fill_start_ticks(o);
		store_sqlite_frame_put(&b, o);
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
	for (size_t at = off; !rc;) {
		struct op *o;
		int got = store_sqlite_frame_get(d, len, &at, &o);
		if (got == FRAME_END)
			break;                  /* cut short, or a failed write's leftovers */
		/* A frame whose checksum holds but which cannot be taken in (no
		 * memory, or a kind or state this build lacks) is not the
		 * journal's end: the open fails and keeps the file. */
		if (got != FRAME_OK) {
			rc = got == FRAME_NOMEM ? SQLITE_NOMEM : SQLITE_CORRUPT;
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

void store_sqlite_journal_prune(struct sql_store *m, uint64_t gen)
{
	size_t n;
	bool failed;
	uint64_t *gens = list_gens(m, &n, &failed);
	for (size_t i = 0; i < n && gens[i] < gen; i++) {
		char path[4096];
		journal_path(m, gens[i], path, sizeof path);
		unlink(path);
	}
	free(gens);
}

int store_sqlite_journal_mark(struct sql_store *m, uint64_t gen, uint64_t off, uint64_t seq)
{
	sqlite3_stmt *st = m->journal_stmt;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)gen);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)off);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
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
		if (store_sqlite_journal_mark(m, next, 0, 0) != 0)
			r = -EIO;
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
		store_sqlite_journal_prune(m, next);
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
