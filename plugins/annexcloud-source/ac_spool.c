/* ac_spool.c: the webhook spool on connections of its own (WAL, shared
 * with the engine's connections through the database file only): the
 * reading side used by poll()/committed(), and the group-commit writer the
 * listener submits to (see ac_spool.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "ac_spool.h"

/* The reading side waits this long for the write lock (prune). */
#define READER_BUSY_MS 10000

struct ac_spool {
    sqlite3 *db;
    char *stage;
    pthread_mutex_t lock;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS annexcloud_spool ("
    " stage TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL,"
    " received_at INTEGER NOT NULL, PRIMARY KEY (stage, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS annexcloud_seen ("
    " stage TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " received_at INTEGER NOT NULL, PRIMARY KEY (stage, event_id)) WITHOUT ROWID;";

/* Open <state_dir>/state.db into *db: WAL, synchronous=FULL (every commit
 * is synced before it returns: an answered webhook survives a power loss,
 * not only a crash of the process), a busy timeout of `busy_ms`, and the
 * spool tables. Returns 0, or -1 with errbuf (*db is then closed, NULL). */
static int open_database(const char *state_dir, int busy_ms, sqlite3 **db, char *errbuf, size_t errlen)
{
    char path[4096];
    char *error = NULL;
    int result = -1;

    *db = NULL;
    if (snprintf(path, sizeof(path), "%s/state.db", state_dir) >= (int)sizeof(path)) {
        snprintf(errbuf, errlen, "state_dir is too long");
        goto out;
    }
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(*db, busy_ms);
    if (sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &error) != SQLITE_OK ||
        sqlite3_exec(*db, schema, NULL, NULL, &error) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, error ? error : sqlite3_errmsg(*db));
        goto out;
    }
    result = 0;
out:
    sqlite3_free(error);
    if (result != 0 && *db) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return result;
}

ac_spool *ac_spool_open(const char *state_dir, const char *stage, char *errbuf, size_t errlen)
{
    ac_spool *spool = calloc(1, sizeof(*spool));

    if (!spool) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&spool->lock, NULL);
    spool->stage = strdup(stage);
    if (!spool->stage) {
        snprintf(errbuf, errlen, "out of memory");
        ac_spool_close(&spool);
        return NULL;
    }
    if (open_database(state_dir, READER_BUSY_MS, &spool->db, errbuf, errlen) != 0)
        ac_spool_close(&spool);
    return spool;
}

int ac_spool_take(ac_spool *spool, unsigned long long after, size_t limit, json_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int count = 0, rc;

    pthread_mutex_lock(&spool->lock);
    if (sqlite3_prepare_v2(spool->db,
                           "SELECT seq, payload FROM annexcloud_spool WHERE stage = ?1 AND seq > ?2"
                           " ORDER BY seq LIMIT ?3",
                           -1, &stmt, NULL) != SQLITE_OK) {
        count = -1;
        goto out;
    }
    sqlite3_bind_text(stmt, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_error_t error;
        const char *text = (const char *)sqlite3_column_text(stmt, 1);
        json_t *payload = json_loadb(text ? text : "", (size_t)sqlite3_column_bytes(stmt, 1), 0, &error);
        json_array_append_new(out, json_pack("[I, o]", (json_int_t)sqlite3_column_int64(stmt, 0),
                                             payload ? payload : json_null()));
        count++;
    }
    if (rc != SQLITE_DONE)
        count = -1;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&spool->lock);
    return count;
}

int ac_spool_depth(ac_spool *spool, double *depth, double *oldest_at)
{
    sqlite3_stmt *stmt = NULL;
    int result = -1;

    *depth = 0;
    *oldest_at = 0;
    pthread_mutex_lock(&spool->lock);
    if (sqlite3_prepare_v2(spool->db,
                           "SELECT COUNT(*), MIN(received_at) FROM annexcloud_spool WHERE stage = ?1",
                           -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(stmt, 1, spool->stage, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        goto out;
    *depth = (double)sqlite3_column_int64(stmt, 0);
    *oldest_at = (double)sqlite3_column_int64(stmt, 1);
    result = 0;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&spool->lock);
    return result;
}

int ac_spool_oldest(ac_spool *spool, double *oldest_at)
{
    sqlite3_stmt *stmt = NULL;
    int result = -1, rc;

    *oldest_at = 0;
    pthread_mutex_lock(&spool->lock);
    if (sqlite3_prepare_v2(spool->db,
                           "SELECT received_at FROM annexcloud_spool WHERE stage = ?1 ORDER BY seq LIMIT 1",
                           -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(stmt, 1, spool->stage, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *oldest_at = (double)sqlite3_column_int64(stmt, 0);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        result = 0;
out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&spool->lock);
    return result;
}

int ac_spool_prune(ac_spool *spool, unsigned long long upto, int seen_days,
                   unsigned long long *deleted)
{
    sqlite3_stmt *spooled = NULL, *seen = NULL;
    int result = -1;

    pthread_mutex_lock(&spool->lock);
    if (sqlite3_prepare_v2(spool->db, "DELETE FROM annexcloud_spool WHERE stage = ?1 AND seq <= ?2", -1,
                           &spooled, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(spool->db,
                           "DELETE FROM annexcloud_seen WHERE stage = ?1 AND received_at < ?2 AND seq < ?3",
                           -1, &seen, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(spooled, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(spooled, 2, (sqlite3_int64)upto);
    sqlite3_bind_text(seen, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(seen, 2, (sqlite3_int64)time(NULL) - (sqlite3_int64)seen_days * 86400);
    /* Keep the newest mark: it carries the numbering on. */
    sqlite3_bind_int64(seen, 3, (sqlite3_int64)upto);
    if (deleted)
        *deleted = 0;
    if (sqlite3_step(spooled) != SQLITE_DONE)
        goto out;
    if (deleted)
        *deleted = (unsigned long long)sqlite3_changes(spool->db);
    if (sqlite3_step(seen) == SQLITE_DONE)
        result = 0;
out:
    sqlite3_finalize(spooled);
    sqlite3_finalize(seen);
    pthread_mutex_unlock(&spool->lock);
    return result;
}

void ac_spool_close(ac_spool **spool_p)
{
    ac_spool *spool = spool_p ? *spool_p : NULL;

    if (!spool)
        return;
    if (spool->db)
        sqlite3_close(spool->db);
    pthread_mutex_destroy(&spool->lock);
    free(spool->stage);
    free(spool);
    *spool_p = NULL;
}

/* ------------------------------------------------------------------ */
/* The group-commit writer.                                           */
/* ------------------------------------------------------------------ */

/* The writer waits this long for the write lock at a time, then looks at
 * the queue again (answered items leave it) and tries once more. */
#define WRITER_BUSY_MS 100
/* Most items in one transaction. */
#define GROUP_MAX 512
/* Most callbacks the deadline thread collects before calling them. */
#define EXPIRED_CHUNK 64

typedef struct spool_item {
    struct spool_item *next;
    char *event_id;
    char *payload;
    size_t len;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    ac_spool_done_fn done;
    void *arg;
    int answered;             /* under the writer's lock */
    ac_spool_outcome outcome; /* set by the writer for its group */
} spool_item;

/* A callback to make once the lock is released. */
typedef struct pending_answer {
    ac_spool_done_fn done;
    void *arg;
} pending_answer;

struct ac_spool_writer {
    sqlite3 *db;              /* used by the writer thread only */
    sqlite3_stmt *seen, *next_seq, *insert, *mark;
    char *stage;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* writer: items queued, or stopping */
    pthread_cond_t timer;     /* deadline thread: new item, or stopping */
    spool_item *queue_head, *queue_tail; /* submitted, not yet in a group */
    spool_item *group;        /* the items of the transaction being written */
    int stopping;
    pthread_t writer_thread, deadline_thread;
    int writer_started, deadline_started;
    ac_spool_writer_stats stats;
};

const char *ac_spool_outcome_name(ac_spool_outcome outcome)
{
    switch (outcome) {
    case AC_SPOOL_STORED:
        return "stored";
    case AC_SPOOL_DUPLICATE:
        return "duplicate";
    case AC_SPOOL_BUSY:
        return "busy";
    case AC_SPOOL_FULL:
        return "full";
    case AC_SPOOL_FAILED:
        return "failed";
    }
    return "unknown";
}

/* Free an item and what it owns. Safe on NULL. */
static void item_free(spool_item *item)
{
    if (!item)
        return;
    free(item->event_id);
    free(item->payload);
    free(item);
}

/* 1 if monotonic time `a` is at or after `b`. */
static int time_reached(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* Count an answer in the stats (under the lock). */
static void count_answer(ac_spool_writer *writer, ac_spool_outcome outcome)
{
    switch (outcome) {
    case AC_SPOOL_STORED:
        writer->stats.stored++;
        break;
    case AC_SPOOL_DUPLICATE:
        writer->stats.duplicates++;
        break;
    case AC_SPOOL_BUSY:
        writer->stats.busy++;
        break;
    default:
        writer->stats.failed++;
        break;
    }
}

/* The outcome a failed SQLite call on `db` (result code rc) stands for. */
static ac_spool_outcome outcome_of_error(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return AC_SPOOL_FULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return AC_SPOOL_BUSY;
    case SQLITE_IOERR:
        /* ENOSPC while growing the WAL comes back as an I/O error. */
        return sqlite3_system_errno(db) == ENOSPC ? AC_SPOOL_FULL : AC_SPOOL_FAILED;
    default:
        return AC_SPOOL_FAILED;
    }
}

/* Answer every item of the list `items` not answered yet with `outcome`
 * (an item's own outcome when `outcome` < 0), then free the list. Takes
 * the lock itself; the callbacks run without it. */
static void answer_and_free(ac_spool_writer *writer, spool_item *items, int outcome, const char *detail)
{
    spool_item *item, *next;

    pthread_mutex_lock(&writer->lock);
    for (item = items; item; item = item->next) {
        if (item->answered) {
            item->done = NULL;
            continue;
        }
        item->answered = 1;
        if (outcome >= 0)
            item->outcome = (ac_spool_outcome)outcome;
        count_answer(writer, item->outcome);
    }
    pthread_mutex_unlock(&writer->lock);
    for (item = items; item; item = next) {
        next = item->next;
        if (item->done)
            item->done(item->arg,
                       item->outcome, item->outcome == AC_SPOOL_STORED || item->outcome == AC_SPOOL_DUPLICATE
                                          ? ""
                                          : detail);
        item_free(item);
    }
}

/* Write the items of writer->group in the open transaction: each one's
 * outcome is STORED or DUPLICATE. Returns SQLITE_OK or the error code of
 * the statement that failed. */
static int write_group(ac_spool_writer *writer, spool_item *group)
{
    sqlite3_int64 seq = 1, now = (sqlite3_int64)time(NULL);
    int rc;

    /* Numbering continues after the seen marks, which outlive the spool rows. */
    sqlite3_reset(writer->next_seq);
    rc = sqlite3_step(writer->next_seq);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(writer->next_seq, 0) != SQLITE_NULL)
            seq = sqlite3_column_int64(writer->next_seq, 0) + 1;
    } else if (rc != SQLITE_DONE) {
        return rc;
    }
    sqlite3_reset(writer->next_seq);
    for (spool_item *item = group; item; item = item->next) {
        sqlite3_reset(writer->seen);
        sqlite3_bind_text(writer->seen, 2, item->event_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(writer->seen);
        sqlite3_reset(writer->seen);
        if (rc == SQLITE_ROW) {
            item->outcome = AC_SPOOL_DUPLICATE;
            continue;
        }
        if (rc != SQLITE_DONE)
            return rc;
        sqlite3_reset(writer->insert);
        sqlite3_bind_int64(writer->insert, 2, seq);
        sqlite3_bind_text(writer->insert, 3, item->payload, (int)item->len, SQLITE_STATIC);
        sqlite3_bind_int64(writer->insert, 4, now);
        rc = sqlite3_step(writer->insert);
        sqlite3_reset(writer->insert);
        if (rc != SQLITE_DONE)
            return rc;
        sqlite3_reset(writer->mark);
        sqlite3_bind_text(writer->mark, 2, item->event_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(writer->mark, 3, seq);
        sqlite3_bind_int64(writer->mark, 4, now);
        rc = sqlite3_step(writer->mark);
        sqlite3_reset(writer->mark);
        if (rc != SQLITE_DONE)
            return rc;
        item->outcome = AC_SPOOL_STORED;
        seq++;
    }
    return SQLITE_OK;
}

/* Move the unanswered queued items (at most GROUP_MAX) into a new group
 * (under the lock); answered ones are freed. Returns the group, or NULL
 * when nothing is left to write. */
static spool_item *take_group(ac_spool_writer *writer)
{
    spool_item *group = NULL, **tail = &group, *item, *answered = NULL;
    size_t count = 0;

    pthread_mutex_lock(&writer->lock);
    while ((item = writer->queue_head) && count < GROUP_MAX) {
        writer->queue_head = item->next;
        item->next = NULL;
        if (item->answered) {
            item->next = answered;
            answered = item;
            continue;
        }
        *tail = item;
        tail = &item->next;
        count++;
    }
    if (!writer->queue_head)
        writer->queue_tail = NULL;
    writer->group = group;
    if (count > writer->stats.largest)
        writer->stats.largest = count;
    pthread_mutex_unlock(&writer->lock);
    while (answered) {
        item = answered->next;
        item_free(answered);
        answered = item;
    }
    return group;
}

/* Drop the queued items already answered (their wait ran out while the
 * database was locked), so they are never written. */
static void drop_answered(ac_spool_writer *writer)
{
    spool_item *kept = NULL, **tail = &kept, *item, *next, *dropped = NULL;

    pthread_mutex_lock(&writer->lock);
    for (item = writer->queue_head; item; item = next) {
        next = item->next;
        item->next = NULL;
        if (item->answered) {
            item->next = dropped;
            dropped = item;
        } else {
            *tail = item;
            tail = &item->next;
        }
    }
    writer->queue_head = kept;
    writer->queue_tail = NULL;
    for (item = kept; item; item = item->next)
        writer->queue_tail = item;
    pthread_mutex_unlock(&writer->lock);
    while (dropped) {
        next = dropped->next;
        item_free(dropped);
        dropped = next;
    }
}

/* One round of the writer: take the write lock, put everything queued in
 * one transaction, commit (one sync), answer. */
static void writer_round(ac_spool_writer *writer)
{
    spool_item *group;
    int rc = sqlite3_exec(writer->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    char detail[256];

    if (rc != SQLITE_OK) {
        /* Locked (sluice dlq, the engine's commit) or failing: the items
         * keep waiting until their deadline answers them BUSY. */
        snprintf(detail, sizeof(detail), "%s", sqlite3_errmsg(writer->db));
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
            group = take_group(writer);
            pthread_mutex_lock(&writer->lock);
            writer->group = NULL;
            pthread_mutex_unlock(&writer->lock);
            answer_and_free(writer, group, (int)outcome_of_error(writer->db, rc), detail);
        } else {
            drop_answered(writer);
        }
        return;
    }
    group = take_group(writer);
    if (!group) {
        sqlite3_exec(writer->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    rc = write_group(writer, group);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(writer->db, "COMMIT", NULL, NULL, NULL);
    snprintf(detail, sizeof(detail), "%s", rc == SQLITE_OK ? "" : sqlite3_errmsg(writer->db));
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(writer->db))
        sqlite3_exec(writer->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&writer->lock);
    writer->group = NULL;
    if (rc == SQLITE_OK)
        writer->stats.groups++;
    pthread_mutex_unlock(&writer->lock);
    answer_and_free(writer, group, rc == SQLITE_OK ? -1 : (int)outcome_of_error(writer->db, rc), detail);
}

/* The writer thread: a round per batch of queued items until stopped;
 * once stopping, what is still queued is answered FAILED, not written. */
static void *writer_main(void *arg)
{
    ac_spool_writer *writer = arg;

    for (;;) {
        pthread_mutex_lock(&writer->lock);
        while (!writer->queue_head && !writer->stopping)
            pthread_cond_wait(&writer->work, &writer->lock);
        if (!writer->queue_head && writer->stopping) {
            pthread_mutex_unlock(&writer->lock);
            break;
        }
        if (writer->stopping) {
            /* Stopping: what is still queued is answered, not written. */
            spool_item *rest = writer->queue_head;
            writer->queue_head = writer->queue_tail = NULL;
            pthread_mutex_unlock(&writer->lock);
            answer_and_free(writer, rest, AC_SPOOL_FAILED, "the webhook spool writer is stopping");
            continue;
        }
        pthread_mutex_unlock(&writer->lock);
        writer_round(writer);
    }
    return NULL;
}

/* Collect into `out` (at most EXPIRED_CHUNK) the callbacks of unanswered
 * items in `list` whose deadline is at or before `now`, marking them
 * answered; track the earliest deadline still ahead in *next. Under the
 * lock. Returns the number collected. */
static size_t collect_expired(ac_spool_writer *writer, spool_item *list, const struct timespec *now,
                              pending_answer *out, size_t have, struct timespec *next, int *has_next)
{
    for (spool_item *item = list; item && have < EXPIRED_CHUNK; item = item->next) {
        if (item->answered)
            continue;
        if (time_reached(now, &item->deadline)) {
            item->answered = 1;
            count_answer(writer, AC_SPOOL_BUSY);
            out[have].done = item->done;
            out[have].arg = item->arg;
            have++;
        } else if (!*has_next || time_reached(next, &item->deadline)) {
            *next = item->deadline;
            *has_next = 1;
        }
    }
    return have;
}

/* The deadline thread: answers BUSY for every item whose wait ran out,
 * whatever the writer thread is blocked on. */
static void *deadline_main(void *arg)
{
    ac_spool_writer *writer = arg;
    pending_answer expired[EXPIRED_CHUNK];

    pthread_mutex_lock(&writer->lock);
    while (!writer->stopping) {
        struct timespec now, next;
        int has_next = 0;
        size_t count;

        clock_gettime(CLOCK_MONOTONIC, &now);
        count = collect_expired(writer, writer->queue_head, &now, expired, 0, &next, &has_next);
        count = collect_expired(writer, writer->group, &now, expired, count, &next, &has_next);
        if (count > 0) {
            pthread_mutex_unlock(&writer->lock);
            for (size_t i = 0; i < count; i++)
                expired[i].done(expired[i].arg, AC_SPOOL_BUSY, "not committed within spool_wait_ms");
            pthread_mutex_lock(&writer->lock);
            continue;
        }
        if (has_next)
            pthread_cond_timedwait(&writer->timer, &writer->lock, &next);
        else
            pthread_cond_wait(&writer->timer, &writer->lock);
    }
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

/* Prepare the writer's statements with the stage bound. Returns 0 or -1. */
static int prepare_statements(ac_spool_writer *writer)
{
    if (sqlite3_prepare_v2(writer->db, "SELECT 1 FROM annexcloud_seen WHERE stage = ?1 AND event_id = ?2", -1,
                           &writer->seen, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(writer->db,
                           "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM annexcloud_spool WHERE stage = ?1"
                           " UNION ALL SELECT MAX(seq) FROM annexcloud_seen WHERE stage = ?1)",
                           -1, &writer->next_seq, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(writer->db, "INSERT INTO annexcloud_spool VALUES (?1, ?2, ?3, ?4)", -1,
                           &writer->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(writer->db, "INSERT INTO annexcloud_seen VALUES (?1, ?2, ?3, ?4)", -1, &writer->mark,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(writer->seen, 1, writer->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(writer->next_seq, 1, writer->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(writer->insert, 1, writer->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(writer->mark, 1, writer->stage, -1, SQLITE_STATIC);
    return 0;
}

/* The synchronous level of the connection as SQLite reports it, or -1. */
static int read_synchronous(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    int level = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        level = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return level;
}

ac_spool_writer *ac_spool_writer_start(const char *state_dir, const char *stage, char *errbuf,
                                       size_t errlen)
{
    ac_spool_writer *writer = calloc(1, sizeof(*writer));
    pthread_condattr_t attr;
    ac_spool_writer *result = NULL;

    if (!writer) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&writer->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&writer->work, NULL);
    pthread_cond_init(&writer->timer, &attr);
    pthread_condattr_destroy(&attr);
    writer->stage = strdup(stage);
    if (!writer->stage) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    if (open_database(state_dir, WRITER_BUSY_MS, &writer->db, errbuf, errlen) != 0)
        goto out;
    if (prepare_statements(writer) != 0) {
        snprintf(errbuf, errlen, "spool statements: %s", sqlite3_errmsg(writer->db));
        goto out;
    }
    writer->stats.synchronous = read_synchronous(writer->db);
    if (writer->stats.synchronous < 2) {
        snprintf(errbuf, errlen, "the spool connection refused synchronous=FULL (it reads %d)",
                 writer->stats.synchronous);
        goto out;
    }
    if (pthread_create(&writer->writer_thread, NULL, writer_main, writer) != 0) {
        snprintf(errbuf, errlen, "cannot start the spool writer thread");
        goto out;
    }
    writer->writer_started = 1;
    if (pthread_create(&writer->deadline_thread, NULL, deadline_main, writer) != 0) {
        snprintf(errbuf, errlen, "cannot start the spool deadline thread");
        goto out;
    }
    writer->deadline_started = 1;
    result = writer;
out:
    if (!result)
        ac_spool_writer_stop(&writer);
    return result;
}

int ac_spool_writer_submit(ac_spool_writer *writer, const char *event_id, char *payload, size_t len,
                           long wait_ms, ac_spool_done_fn done, void *arg)
{
    spool_item *item = calloc(1, sizeof(*item));
    int result = -1;

    if (!item || !writer || !done) {
        free(payload);
        free(item);
        return -1;
    }
    item->payload = payload;
    item->len = len;
    item->event_id = strdup(event_id ? event_id : "");
    item->done = done;
    item->arg = arg;
    if (!item->event_id)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &item->deadline);
    if (wait_ms < 1)
        wait_ms = 1;
    item->deadline.tv_sec += wait_ms / 1000;
    item->deadline.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (item->deadline.tv_nsec >= 1000000000L) {
        item->deadline.tv_sec++;
        item->deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&writer->lock);
    if (!writer->stopping) {
        if (writer->queue_tail)
            writer->queue_tail->next = item;
        else
            writer->queue_head = item;
        writer->queue_tail = item;
        pthread_cond_signal(&writer->work);
        pthread_cond_signal(&writer->timer);
        result = 0;
    }
    pthread_mutex_unlock(&writer->lock);
out:
    if (result != 0)
        item_free(item);
    return result;
}

void ac_spool_writer_stats_get(ac_spool_writer *writer, ac_spool_writer_stats *stats)
{
    pthread_mutex_lock(&writer->lock);
    *stats = writer->stats;
    pthread_mutex_unlock(&writer->lock);
}

void ac_spool_writer_stop(ac_spool_writer **writer_p)
{
    ac_spool_writer *writer = writer_p ? *writer_p : NULL;

    if (!writer)
        return;
    pthread_mutex_lock(&writer->lock);
    writer->stopping = 1;
    pthread_cond_broadcast(&writer->work);
    pthread_cond_broadcast(&writer->timer);
    pthread_mutex_unlock(&writer->lock);
    if (writer->writer_started)
        pthread_join(writer->writer_thread, NULL);
    if (writer->deadline_started)
        pthread_join(writer->deadline_thread, NULL);
    /* Without a writer thread nothing can have been queued. */
    sqlite3_finalize(writer->seen);
    sqlite3_finalize(writer->next_seq);
    sqlite3_finalize(writer->insert);
    sqlite3_finalize(writer->mark);
    if (writer->db)
        sqlite3_close(writer->db);
    pthread_cond_destroy(&writer->work);
    pthread_cond_destroy(&writer->timer);
    pthread_mutex_destroy(&writer->lock);
    free(writer->stage);
    free(writer);
    *writer_p = NULL;
}
