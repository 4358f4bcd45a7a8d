/* ac_spool.h: the webhook spool: events accepted by the listener, stored
 * durably before the HTTP answer, read in order by poll() and deleted once
 * acknowledged. It lives in the pipeline's state database (tables
 * annexcloud_spool and annexcloud_seen) on connections of its own, so the
 * listener's threads never share the engine's connection.
 *
 * Two halves:
 * - ac_spool: the reading side (take, prune), used by the stage thread.
 *   Every call is serialised by the spool's own lock.
 * - ac_spool_writer: the writing side, a thread that owns its connection
 *   and commits what the listener submits in groups: everything queued
 *   while the previous group was being written goes into the next
 *   transaction, and each transaction is made durable with one fsync
 *   (synchronous=FULL), so concurrent requests share the fsync. An item is
 *   answered (its callback called) only after its group is committed and
 *   synced, or with BUSY once its wait is over: a locked database or a
 *   stalled disk costs each request at most its wait, never the wait of
 *   everything queued before it. */
#ifndef AC_SPOOL_H
#define AC_SPOOL_H

#include <stddef.h>
#include <jansson.h>

typedef struct ac_spool ac_spool;

/* Open <state_dir>/state.db for stage `stage`. Returns the spool (caller
 * owns; ac_spool_close) or NULL with errbuf. */
ac_spool *ac_spool_open(const char *state_dir, const char *stage, char *errbuf, size_t errlen);

/* Append to `out` up to `limit` entries after sequence `after`, oldest
 * first, as [seq, payload] arrays (payload parsed). Returns the number
 * appended, or -1. */
int ac_spool_take(ac_spool *spool, unsigned long long after, size_t limit, json_t *out);

/* Delete entries up to and including `upto`, and seen marks older than
 * `seen_days`; *deleted (if not NULL) is set to the entries deleted.
 * Returns 0 or -1. */
int ac_spool_prune(ac_spool *spool, unsigned long long upto, int seen_days,
                   unsigned long long *deleted);

/* When the oldest entry left for the stage was received (*oldest_at,
 * Unix seconds; 0 when none), by its sequence (one index lookup).
 * Returns 0 or -1. */
int ac_spool_oldest(ac_spool *spool, double *oldest_at);

/* How many entries the spool holds for its stage (*depth) and when the
 * oldest was received (*oldest_at, Unix seconds; 0 when empty): a count
 * of every row, for the start. Returns 0 or -1 on a store error (*depth
 * and *oldest_at then 0). */
int ac_spool_depth(ac_spool *spool, double *depth, double *oldest_at);

/* Close and NULL *spool_p. Safe on NULL. */
void ac_spool_close(ac_spool **spool_p);

/* What became of one submitted payload. */
typedef enum ac_spool_outcome {
    AC_SPOOL_STORED = 0, /* committed and synced to disk */
    AC_SPOOL_DUPLICATE,  /* its event id was stored before: nothing stored */
    AC_SPOOL_BUSY,       /* not committed within its wait (database locked,
                            slow disk, writer behind): maybe stored later */
    AC_SPOOL_FULL,       /* disk or database full: not stored */
    AC_SPOOL_FAILED      /* another store error, or the writer stopped */
} ac_spool_outcome;

/* Called exactly once per submitted item, from one of the writer's
 * threads. `detail` (borrowed, only during the call) says why for the
 * failures ("database is locked", "database or disk is full", ...), else
 * "". Must not block for long: the writer waits for it. */
typedef void (*ac_spool_done_fn)(void *arg, ac_spool_outcome outcome, const char *detail);

typedef struct ac_spool_writer ac_spool_writer;

/* Counters of a writer since its start. */
typedef struct ac_spool_writer_stats {
    unsigned long long groups;     /* committed (and synced) transactions */
    unsigned long long stored;     /* items answered STORED */
    unsigned long long duplicates; /* items answered DUPLICATE */
    unsigned long long busy;       /* items answered BUSY (their wait ran out) */
    unsigned long long failed;     /* items answered FULL or FAILED */
    unsigned long long largest;    /* most items in one group */
    int synchronous;               /* PRAGMA synchronous read back at start:
                                      2 = FULL, 3 = EXTRA */
} ac_spool_writer_stats;

/* Open a connection of its own on <state_dir>/state.db (WAL,
 * synchronous=FULL) for stage `stage` and start the writer's threads.
 * Returns the writer (caller owns; ac_spool_writer_stop) or NULL with
 * errbuf. */
ac_spool_writer *ac_spool_writer_start(const char *state_dir, const char *stage, char *errbuf,
                                       size_t errlen);

/* Queue `payload` (`len` bytes; stolen: freed by the writer, also on
 * failure) for the event `event_id` (copied). Within `wait_ms` `done` is
 * called with the outcome (possibly before this function returns, from
 * another thread). Returns 0, or -1 without calling `done` when the item
 * cannot be queued (out of memory, writer stopping). */
int ac_spool_writer_submit(ac_spool_writer *writer, const char *event_id, char *payload, size_t len,
                           long wait_ms, ac_spool_done_fn done, void *arg);

/* A snapshot of the counters into *stats. */
void ac_spool_writer_stats_get(ac_spool_writer *writer, ac_spool_writer_stats *stats);

/* Short name of an outcome ("stored", "busy", ...), static. */
const char *ac_spool_outcome_name(ac_spool_outcome outcome);

/* Finish the group being written, answer everything still queued FAILED
 * ("writer stopping"), stop the threads, close, and NULL *writer_p. Safe
 * on NULL. */
void ac_spool_writer_stop(ac_spool_writer **writer_p);
#endif
