/* ac_spool.c: the webhook spool on its own SQLite connection (WAL, shared
 * with the engine's connections through the database file only). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "ac_spool.h"

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

ac_spool *ac_spool_open(const char *state_dir, const char *stage, char *errbuf, size_t errlen)
{
    ac_spool *spool = calloc(1, sizeof(*spool));
    char path[4096];
    char *error = NULL;

    if (!spool) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/state.db", state_dir);
    pthread_mutex_init(&spool->lock, NULL);
    spool->stage = strdup(stage);
    if (!spool->stage || sqlite3_open_v2(path, &spool->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                               SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, spool->db ? sqlite3_errmsg(spool->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(spool->db, 10000);
    if (sqlite3_exec(spool->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &error) != SQLITE_OK ||
        sqlite3_exec(spool->db, schema, NULL, NULL, &error) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, error ? error : "schema");
        sqlite3_free(error);
        goto fail;
    }
    return spool;
fail:
    ac_spool_close(&spool);
    return NULL;
}

int ac_spool_add(ac_spool *spool, const char *event_id, const char *payload, size_t len,
                 int *duplicate)
{
    sqlite3_stmt *seen = NULL, *next = NULL, *insert = NULL, *mark = NULL;
    sqlite3_int64 seq = 1, now = (sqlite3_int64)time(NULL);
    int result = -1, began = 0;

    *duplicate = 0;
    pthread_mutex_lock(&spool->lock);
    if (sqlite3_exec(spool->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    began = 1;
    if (sqlite3_prepare_v2(spool->db, "SELECT 1 FROM annexcloud_seen WHERE stage = ?1 AND event_id = ?2",
                           -1, &seen, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(seen, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(seen, 2, event_id, -1, SQLITE_STATIC);
    if (sqlite3_step(seen) == SQLITE_ROW) {
        *duplicate = 1;
        result = 0;
        goto out;
    }
    /* Numbering continues after the seen marks, which outlive the spool rows. */
    if (sqlite3_prepare_v2(spool->db,
                           "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM annexcloud_spool WHERE stage = ?1"
                           " UNION ALL SELECT MAX(seq) FROM annexcloud_seen WHERE stage = ?1)",
                           -1, &next, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(next, 1, spool->stage, -1, SQLITE_STATIC);
    if (sqlite3_step(next) == SQLITE_ROW && sqlite3_column_type(next, 0) != SQLITE_NULL)
        seq = sqlite3_column_int64(next, 0) + 1;
    if (sqlite3_prepare_v2(spool->db, "INSERT INTO annexcloud_spool VALUES (?1, ?2, ?3, ?4)", -1, &insert,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(spool->db, "INSERT INTO annexcloud_seen VALUES (?1, ?2, ?3, ?4)", -1, &mark,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(insert, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, seq);
    sqlite3_bind_text(insert, 3, payload, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, now);
    sqlite3_bind_text(mark, 1, spool->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(mark, 2, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(mark, 3, seq);
    sqlite3_bind_int64(mark, 4, now);
    if (sqlite3_step(insert) != SQLITE_DONE || sqlite3_step(mark) != SQLITE_DONE)
        goto out;
    if (sqlite3_exec(spool->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    began = 0;
    result = 0;
out:
    sqlite3_finalize(seen);
    sqlite3_finalize(next);
    sqlite3_finalize(insert);
    sqlite3_finalize(mark);
    if (began)
        sqlite3_exec(spool->db, result == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&spool->lock);
    return result;
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

int ac_spool_prune(ac_spool *spool, unsigned long long upto, int seen_days)
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
    if (sqlite3_step(spooled) == SQLITE_DONE && sqlite3_step(seen) == SQLITE_DONE)
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
