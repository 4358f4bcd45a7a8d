/* store_dlq.c: the dead-letter queue and the replay queue of the state
 * store (tables dlq and replay of <state_dir>/state.db): parking records
 * with their reason, listing them, and re-driving them with `sluice dlq
 * replay`. The handle and its helpers are store.c's (store_internal.h).
 * See docs/state-store.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include "log.h"
#include "store_internal.h"

/* This file's statements, cached per handle (store_cached_stmt). */
enum dlq_stmt_id {
    DS_DLQ_INSERT,
    DS_DLQ_FIND,
    DS_DLQ_GET,
    DS_DLQ_DEL_ONE,
    DS_DLQ_DEL_ALL,
    DS_DLQ_COUNT,
    DS_REPLAY_FROM_DLQ,
    DS_REPLAY_ALL_FROM_DLQ,
    DS_REPLAY_ANY,
    DS_REPLAY_PICK,
    DS_REPLAY_MARK,
    DS_REPLAY_ACK,
    DS_REPLAY_COUNT,
    DS_COUNT
};

static const char *const DLQ_SQL[DS_COUNT] = {
    [DS_DLQ_INSERT] = "INSERT OR IGNORE INTO dlq(stage, epoch, batch_id, reason, record, "
                      "record_sha256, parked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                      "strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
    [DS_DLQ_FIND] = "SELECT id FROM dlq WHERE stage = ?1 AND record_sha256 = ?2 AND reason = ?3",
    [DS_DLQ_GET] = "SELECT id, stage, epoch, batch_id, reason, record, parked_at "
                   "FROM dlq WHERE id = ?1",
    [DS_DLQ_DEL_ONE] = "DELETE FROM dlq WHERE id = ?1",
    [DS_DLQ_DEL_ALL] = "DELETE FROM dlq",
    [DS_DLQ_COUNT] = "SELECT count(*) FROM dlq",
    [DS_REPLAY_FROM_DLQ] = "INSERT INTO replay(dlq_id, stage, reason, record, queued_at) "
                           "SELECT id, stage, reason, record, "
                           "strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM dlq WHERE id = ?1",
    [DS_REPLAY_ALL_FROM_DLQ] = "INSERT INTO replay(dlq_id, stage, reason, record, queued_at) "
                               "SELECT id, stage, reason, record, "
                               "strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM dlq ORDER BY id",
    [DS_REPLAY_ANY] = "SELECT 1 FROM replay "
                      "WHERE taken_epoch IS NULL OR taken_epoch < ?1 LIMIT 1",
    [DS_REPLAY_PICK] = "SELECT id, record FROM replay "
                       "WHERE taken_epoch IS NULL OR taken_epoch < ?1 ORDER BY id LIMIT ?2",
    [DS_REPLAY_MARK] = "UPDATE replay SET taken_epoch = ?2, taken_batch = ?3 WHERE id = ?1",
    [DS_REPLAY_ACK] = "DELETE FROM replay WHERE taken_epoch = ?1 AND taken_batch <= ?2",
    [DS_REPLAY_COUNT] = "SELECT count(*) FROM replay",
};

_Static_assert(DS_COUNT <= STORE_DLQ_STMTS, "store_internal.h: raise STORE_DLQ_STMTS");

/* Cached statement `id`, reset; NULL on error (logged). */
static sqlite3_stmt *dlq_stmt(sluice_store *store, enum dlq_stmt_id id)
{
    return store_cached_stmt(store, (unsigned)id, DLQ_SQL[id]);
}

/* SHA-256 of the record's compact JSON with sorted keys, as 64 hex chars
 * in hex (65 bytes). 0 or -1. */
static int record_digest(const json_t *record, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int result = -1;
    char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        goto out;
    if (EVP_Digest(text, strlen(text), digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        digest_len != 32)
        goto out;
    for (unsigned int i = 0; i < digest_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    result = 0;
out:
    free(text);
    return result;
}

int64_t sluice_store_dlq_add(sluice_store *store, const char *stage, uint64_t epoch,
                             uint64_t batch_id, const json_t *record, const char *reason)
{
    int64_t result = -1;
    char hex[65];
    sqlite3_stmt *stmt = NULL;
    if (!store || !stage || !record)
        return -1;
    if (!reason)
        reason = "rejected";
    if (record_digest(record, hex) != 0 || sluice_store_begin(store) != 0)
        return -1;
    if (!(stmt = dlq_stmt(store, DS_DLQ_INSERT)) || store_bind_text(stmt, 1, stage) != 0 ||
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
        store_bind_text(stmt, 4, reason) != 0 || store_bind_json(stmt, 5, record) != 0 ||
        store_bind_text(stmt, 6, hex) != 0 || store_step_done(store, stmt, "dlq insert") != 0)
        goto out;
    if (sqlite3_changes(store_db(store)) == 1) {
        result = sqlite3_last_insert_rowid(store_db(store));
        goto out;
    }
    /* Already parked by an earlier run of the same batch: reuse its id. */
    if (!(stmt = dlq_stmt(store, DS_DLQ_FIND)) || store_bind_text(stmt, 1, stage) != 0 ||
        store_bind_text(stmt, 2, hex) != 0 || store_bind_text(stmt, 3, reason) != 0)
        goto out;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        result = sqlite3_column_int64(stmt, 0);
    else
        store_log_error(store, "dlq lookup");
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (sluice_store_end(store, result > 0) != 0)
        result = -1;
    return result;
}

/* Build the entry object of the current dlq row (columns as DS_DLQ_GET).
 * Returns a new reference or NULL. */
static json_t *dlq_row_entry(sqlite3_stmt *stmt)
{
    const char *record_text = (const char *)sqlite3_column_text(stmt, 5);
    json_t *record = record_text ? json_loadb(record_text, (size_t)sqlite3_column_bytes(stmt, 5),
                                              JSON_DECODE_ANY, NULL)
                                 : NULL;
    if (!record) /* keep the bytes visible even if they are not JSON */
        record = json_string(record_text ? record_text : "");
    return json_pack("{s:I,s:s,s:I,s:I,s:s,s:o,s:s}",
                     "id", (json_int_t)sqlite3_column_int64(stmt, 0),
                     "stage", (const char *)sqlite3_column_text(stmt, 1),
                     "epoch", (json_int_t)sqlite3_column_int64(stmt, 2),
                     "batch", (json_int_t)sqlite3_column_int64(stmt, 3),
                     "reason", (const char *)sqlite3_column_text(stmt, 4),
                     "record", record,
                     "parked_at", (const char *)sqlite3_column_text(stmt, 6));
}

int sluice_store_dlq_foreach(sluice_store *store, const char *stage, sluice_dlq_fn fn,
                             void *user)
{
    int result = -1;
    sqlite3_stmt *stmt = NULL;
    if (!store || !fn)
        return -1;
    if (sqlite3_prepare_v2(store_db(store),
                           "SELECT id, stage, epoch, batch_id, reason, record, parked_at "
                           "FROM dlq WHERE ?1 IS NULL OR stage = ?1 ORDER BY id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        store_log_error(store, "dlq scan");
        goto out;
    }
    if (stage && store_bind_text(stmt, 1, stage) != 0)
        goto out;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            store_log_error(store, "dlq scan");
            goto out;
        }
        json_t *entry = dlq_row_entry(stmt);
        if (!entry)
            goto out;
        int stop = fn(entry, user);
        json_decref(entry);
        if (stop) {
            result = stop;
            goto out;
        }
    }
    result = 0;
out:
    sqlite3_finalize(stmt);
    return result;
}

int sluice_store_dlq_get(sluice_store *store, int64_t id, json_t **out)
{
    int result = -1;
    sqlite3_stmt *stmt;
    if (!store || !out)
        return -1;
    *out = NULL;
    if (!(stmt = dlq_stmt(store, DS_DLQ_GET)) ||
        sqlite3_bind_int64(stmt, 1, id) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = dlq_row_entry(stmt);
        result = *out ? 0 : -1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        store_log_error(store, "dlq read");
    }
    sqlite3_reset(stmt);
    return result;
}

int64_t sluice_store_dlq_delete(sluice_store *store, int64_t id)
{
    sqlite3_stmt *stmt;
    if (!store || id < 0)
        return -1;
    if (id > 0) {
        if (!(stmt = dlq_stmt(store, DS_DLQ_DEL_ONE)) ||
            sqlite3_bind_int64(stmt, 1, id) != SQLITE_OK)
            return -1;
    } else if (!(stmt = dlq_stmt(store, DS_DLQ_DEL_ALL))) {
        return -1;
    }
    if (store_step_done(store, stmt, "dlq delete") != 0)
        return -1;
    return sqlite3_changes(store_db(store));
}

/* Run a cached count(*) statement. Count or -1. */
static int64_t count_rows(sluice_store *store, enum dlq_stmt_id id)
{
    int64_t result = -1;
    sqlite3_stmt *stmt = dlq_stmt(store, id);
    if (!stmt)
        return -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        result = sqlite3_column_int64(stmt, 0);
    else
        store_log_error(store, "count");
    sqlite3_reset(stmt);
    return result;
}

int64_t sluice_store_dlq_count(sluice_store *store)
{
    return store ? count_rows(store, DS_DLQ_COUNT) : -1;
}

/* ---- replay queue ---- */

int64_t sluice_store_replay_add(sluice_store *store, int64_t dlq_id)
{
    int64_t result = -1;
    int64_t moved = 0;
    sqlite3_stmt *stmt;
    if (!store || dlq_id < 0 || sluice_store_begin(store) != 0)
        return -1;
    if (dlq_id > 0) {
        if (!(stmt = dlq_stmt(store, DS_REPLAY_FROM_DLQ)) ||
            sqlite3_bind_int64(stmt, 1, dlq_id) != SQLITE_OK)
            goto out;
    } else if (!(stmt = dlq_stmt(store, DS_REPLAY_ALL_FROM_DLQ))) {
        goto out;
    }
    if (store_step_done(store, stmt, "replay queue") != 0)
        goto out;
    moved = sqlite3_changes(store_db(store));
    if (moved > 0 && sluice_store_dlq_delete(store, dlq_id) != moved)
        goto out;
    result = moved;
out:
    if (sluice_store_end(store, result >= 0) != 0)
        result = -1;
    return result;
}

int sluice_store_replay_take(sluice_store *store, uint64_t epoch, uint64_t batch_id,
                             size_t max, json_t **records)
{
    int result = -1;
    int in_transaction = 0;
    json_t *picked = NULL;
    json_t *ids = NULL;
    sqlite3_stmt *stmt = NULL;
    if (!store || !records)
        return -1;
    *records = NULL;
    if (!(picked = json_array()) || !(ids = json_array()))
        goto out;
    if (max > 0) {
        /* A plain read first: the write lock is only taken when there is
         * something to hand out (the common case is an empty queue). */
        if (!(stmt = dlq_stmt(store, DS_REPLAY_ANY)) ||
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK)
            goto out;
        int rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE) {
            max = 0;
        } else if (rc != SQLITE_ROW) {
            store_log_error(store, "replay read");
            goto out;
        }
    }
    if (max > 0) {
        if (sluice_store_begin(store) != 0)
            goto out;
        in_transaction = 1;
        if (!(stmt = dlq_stmt(store, DS_REPLAY_PICK)) ||
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 2, (sqlite3_int64)max) != SQLITE_OK)
            goto out;
        for (;;) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_ROW) {
                store_log_error(store, "replay read");
                goto out;
            }
            const char *text = (const char *)sqlite3_column_text(stmt, 1);
            json_t *record = text ? json_loadb(text, (size_t)sqlite3_column_bytes(stmt, 1), 0,
                                               NULL)
                                  : NULL;
            if (!json_is_object(record)) {
                /* keep it travelling, visibly, rather than losing it */
                json_decref(record);
                record = json_pack("{s:s?}", "raw", text);
            }
            if (json_array_append_new(picked, record) != 0 ||
                json_array_append_new(ids, json_integer(sqlite3_column_int64(stmt, 0))) != 0)
                goto out;
        }
        sqlite3_reset(stmt);
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
            if (!(stmt = dlq_stmt(store, DS_REPLAY_MARK)) ||
                sqlite3_bind_int64(stmt, 1, json_integer_value(id)) != SQLITE_OK ||
                sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
                sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
                store_step_done(store, stmt, "replay mark") != 0)
                goto out;
        }
    }
    result = (int)json_array_size(picked);
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (in_transaction && sluice_store_end(store, result >= 0) != 0)
        result = -1;
    if (result >= 0) {
        *records = picked;
        picked = NULL;
    }
    json_decref(picked);
    json_decref(ids);
    return result;
}

int64_t sluice_store_replay_ack(sluice_store *store, uint64_t epoch, uint64_t batch_id)
{
    sqlite3_stmt *stmt;
    if (!store)
        return -1;
    if (!(stmt = dlq_stmt(store, DS_REPLAY_ACK)) ||
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)batch_id) != SQLITE_OK ||
        store_step_done(store, stmt, "replay ack") != 0)
        return -1;
    return sqlite3_changes(store_db(store));
}

int64_t sluice_store_replay_count(sluice_store *store)
{
    return store ? count_rows(store, DS_REPLAY_COUNT) : -1;
}
