/* store_dlq.c: the dead-letter queue and the replay queue of the state
 * store (tables dlq and replay of <state_dir>/state.db): parking records
 * with their reason and the history of earlier parkings, listing them, and
 * re-driving them with `sluice dlq replay` into the stage that parked
 * them. The handle and its helpers are store.c's (store_internal.h).
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
    DS_REPLAY_INSERT,
    DS_REPLAY_NEXT_STAGE,
    DS_REPLAY_PICK,
    DS_REPLAY_MARK,
    DS_REPLAY_ACK,
    DS_REPLAY_GET,
    DS_REPLAY_DEL_ONE,
    DS_REPLAY_COUNT,
    DS_COUNT
};

/* The columns of a DLQ entry, in the order dlq_row_entry reads them. */
#define DLQ_COLUMNS "id, stage, epoch, batch_id, reason, record, parked_at, history"
/* The columns of a replay row, in the order replay_row_object reads them. */
#define REPLAY_COLUMNS "id, dlq_id, stage, reason, record, history"
#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

static const char *const DLQ_SQL[DS_COUNT] = {
    [DS_DLQ_INSERT] = "INSERT OR IGNORE INTO dlq(stage, epoch, batch_id, reason, record, "
                      "record_sha256, parked_at, history) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                      NOW_SQL ", ?7)",
    [DS_DLQ_FIND] = "SELECT id FROM dlq WHERE stage = ?1 AND record_sha256 = ?2 AND reason = ?3",
    [DS_DLQ_GET] = "SELECT " DLQ_COLUMNS " FROM dlq WHERE id = ?1",
    [DS_DLQ_DEL_ONE] = "DELETE FROM dlq WHERE id = ?1",
    [DS_DLQ_DEL_ALL] = "DELETE FROM dlq",
    [DS_DLQ_COUNT] = "SELECT count(*) FROM dlq",
    [DS_REPLAY_INSERT] = "INSERT INTO replay(dlq_id, stage, reason, record, queued_at, history) "
                         "VALUES(?1, ?2, ?3, ?4, " NOW_SQL ", ?5)",
    [DS_REPLAY_NEXT_STAGE] = "SELECT stage FROM replay "
                             "WHERE taken_epoch IS NULL OR taken_epoch < ?1 ORDER BY id LIMIT 1",
    [DS_REPLAY_PICK] = "SELECT " REPLAY_COLUMNS " FROM replay "
                       "WHERE (taken_epoch IS NULL OR taken_epoch < ?1) AND stage = ?2 "
                       "ORDER BY id LIMIT ?3",
    [DS_REPLAY_MARK] = "UPDATE replay SET taken_epoch = ?2, taken_batch = ?3 WHERE id = ?1",
    [DS_REPLAY_ACK] = "DELETE FROM replay WHERE taken_epoch = ?1 AND taken_batch <= ?2",
    [DS_REPLAY_GET] = "SELECT " REPLAY_COLUMNS " FROM replay WHERE id = ?1",
    [DS_REPLAY_DEL_ONE] = "DELETE FROM replay WHERE id = ?1",
    [DS_REPLAY_COUNT] = "SELECT count(*) FROM replay",
};

_Static_assert(DS_COUNT <= STORE_DLQ_STMTS, "store_internal.h: raise STORE_DLQ_STMTS");

/* Cached statement `id`, reset; NULL on error (logged). */
static sqlite3_stmt *dlq_stmt(sluice_store *store, enum dlq_stmt_id id)
{
    return store_cached_stmt(store, (unsigned)id, DLQ_SQL[id]);
}

/* 1 if `table` has a column `column`, 0 if not, -1 on error (logged). */
static int table_has_column(sluice_store *store, const char *table, const char *column)
{
    sqlite3_stmt *stmt = NULL;
    int result = -1;
    if (sqlite3_prepare_v2(store_db(store), "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2",
                           -1, &stmt, NULL) != SQLITE_OK ||
        store_bind_text(stmt, 1, table) != 0 || store_bind_text(stmt, 2, column) != 0) {
        store_log_error(store, "schema read");
        goto out;
    }
    switch (sqlite3_step(stmt)) {
    case SQLITE_ROW:
        result = 1;
        break;
    case SQLITE_DONE:
        result = 0;
        break;
    default:
        store_log_error(store, "schema read");
    }
out:
    sqlite3_finalize(stmt);
    return result;
}

int store_dlq_migrate(sluice_store *store, char *errbuf, size_t errlen)
{
    static const char *const tables[] = {"dlq", "replay"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[96];
        int has = table_has_column(store, tables[i], "history");
        if (has < 0) {
            snprintf(errbuf, errlen, "cannot read the columns of table %s: %s", tables[i],
                     sqlite3_errmsg(store_db(store)));
            return -1;
        }
        if (has)
            continue;
        /* a state.db from before the history column: NULL means none */
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN history TEXT", tables[i]);
        if (sqlite3_exec(store_db(store), sql, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(errbuf, errlen, "cannot add the history column to table %s: %s",
                     tables[i], sqlite3_errmsg(store_db(store)));
            return -1;
        }
    }
    return 0;
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

/* Bind `history` at index: its compact JSON, or NULL when it is NULL or
 * empty (no earlier parking). 0 or -1. */
static int bind_history(sqlite3_stmt *stmt, int index, const json_t *history)
{
    if (!history || json_array_size(history) == 0)
        return sqlite3_bind_null(stmt, index) == SQLITE_OK ? 0 : -1;
    return store_bind_json(stmt, index, history);
}

int64_t sluice_store_dlq_add(sluice_store *store, const char *stage, uint64_t epoch,
                             uint64_t batch_id, const json_t *record, const char *reason)
{
    return sluice_store_dlq_add_history(store, stage, epoch, batch_id, record, reason, NULL);
}

int64_t sluice_store_dlq_add_history(sluice_store *store, const char *stage, uint64_t epoch,
                                     uint64_t batch_id, const json_t *record,
                                     const char *reason, const json_t *history)
{
    int64_t result = -1;
    char hex[65];
    sqlite3_stmt *stmt = NULL;
    if (!store || !stage || !record || (history && !json_is_array(history)))
        return -1;
    if (!reason)
        reason = "rejected";
    if (record_digest(record, hex) != 0 || sluice_store_begin(store) != 0)
        return -1;
    if (!(stmt = dlq_stmt(store, DS_DLQ_INSERT)) || store_bind_text(stmt, 1, stage) != 0 ||
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
        store_bind_text(stmt, 4, reason) != 0 || store_bind_json(stmt, 5, record) != 0 ||
        store_bind_text(stmt, 6, hex) != 0 || bind_history(stmt, 7, history) != 0 ||
        store_step_done(store, stmt, "dlq insert") != 0)
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

/* Column `col` of the current row parsed as JSON (new reference). Text
 * that is not JSON is kept visible as a JSON string rather than lost; SQL
 * NULL gives `fallback` (new reference, or NULL). NULL only on ENOMEM. */
static json_t *column_json(sqlite3_stmt *stmt, int col, json_t *fallback)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    json_t *value;
    if (!text)
        return fallback;
    json_decref(fallback);
    value = json_loadb(text, (size_t)sqlite3_column_bytes(stmt, col), JSON_DECODE_ANY, NULL);
    return value ? value : json_string(text);
}

/* Column `col` of the current row as a history array: NULL (none yet) is
 * []; text that is not a JSON array (written by hand?) is kept as the one
 * earlier reason known. New reference or NULL (ENOMEM). */
static json_t *column_history(sqlite3_stmt *stmt, int col)
{
    json_t *history = column_json(stmt, col, json_array());
    if (!history || json_is_array(history))
        return history;
    return json_pack("[{s:o}]", "reason", history);
}

/* Build the entry object of the current dlq row (columns DLQ_COLUMNS).
 * Returns a new reference or NULL. */
static json_t *dlq_row_entry(sqlite3_stmt *stmt)
{
    json_t *record = column_json(stmt, 5, json_string(""));
    json_t *history = column_history(stmt, 7);
    if (!record || !history) {
        json_decref(record);
        json_decref(history);
        return NULL;
    }
    return json_pack("{s:I,s:s,s:I,s:I,s:s,s:o,s:s,s:o}",
                     "id", (json_int_t)sqlite3_column_int64(stmt, 0),
                     "stage", (const char *)sqlite3_column_text(stmt, 1),
                     "epoch", (json_int_t)sqlite3_column_int64(stmt, 2),
                     "batch", (json_int_t)sqlite3_column_int64(stmt, 3),
                     "reason", (const char *)sqlite3_column_text(stmt, 4),
                     "record", record,
                     "parked_at", (const char *)sqlite3_column_text(stmt, 6),
                     "history", history);
}

int sluice_store_dlq_foreach(sluice_store *store, const char *stage, sluice_dlq_fn fn,
                             void *user)
{
    int result = -1;
    sqlite3_stmt *stmt = NULL;
    if (!store || !fn)
        return -1;
    if (sqlite3_prepare_v2(store_db(store),
                           "SELECT " DLQ_COLUMNS " FROM dlq WHERE ?1 IS NULL OR stage = ?1 "
                           "ORDER BY id",
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

/* Append one parking {stage, reason, parked_at} (parked_at may be NULL)
 * to `history`, keeping at most SLUICE_DLQ_HISTORY_MAX entries: the first
 * (the original reason) and the newest. 0 or -1 (ENOMEM). */
static int history_append(json_t *history, const char *stage, const char *reason,
                          const char *parked_at)
{
    json_t *entry = json_pack("{s:s?,s:s?,s:s?}", "stage", stage, "reason", reason,
                              "parked_at", parked_at);
    if (!entry || json_array_append_new(history, entry) != 0)
        return -1;
    while (json_array_size(history) > SLUICE_DLQ_HISTORY_MAX)
        json_array_remove(history, 1);
    return 0;
}

/* Queue the current row of a dlq scan (columns DLQ_COLUMNS) for replay:
 * its history gains this parking. 0 or -1. */
static int replay_queue_row(sluice_store *store, sqlite3_stmt *row)
{
    int result = -1;
    sqlite3_stmt *stmt;
    const char *stage = (const char *)sqlite3_column_text(row, 1);
    const char *reason = (const char *)sqlite3_column_text(row, 4);
    json_t *history = column_history(row, 7);
    if (!history ||
        history_append(history, stage, reason, (const char *)sqlite3_column_text(row, 6)) != 0)
        goto out;
    if (!(stmt = dlq_stmt(store, DS_REPLAY_INSERT)) ||
        sqlite3_bind_int64(stmt, 1, sqlite3_column_int64(row, 0)) != SQLITE_OK ||
        store_bind_text(stmt, 2, stage) != 0 || store_bind_text(stmt, 3, reason) != 0 ||
        sqlite3_bind_text(stmt, 4, (const char *)sqlite3_column_text(row, 5), -1,
                          SQLITE_TRANSIENT) != SQLITE_OK ||
        store_bind_json(stmt, 5, history) != 0 ||
        store_step_done(store, stmt, "replay queue") != 0)
        goto out;
    result = 0;
out:
    json_decref(history);
    return result;
}

int64_t sluice_store_replay_add(sluice_store *store, int64_t dlq_id)
{
    int64_t result = -1;
    int64_t moved = 0;
    sqlite3_stmt *scan = NULL;
    if (!store || dlq_id < 0 || sluice_store_begin(store) != 0)
        return -1;
    /* A statement of its own: the inserts use the cached ones meanwhile. */
    if (sqlite3_prepare_v2(store_db(store),
                           "SELECT " DLQ_COLUMNS " FROM dlq WHERE ?1 = 0 OR id = ?1 "
                           "ORDER BY id", -1, &scan, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(scan, 1, dlq_id) != SQLITE_OK) {
        store_log_error(store, "replay queue");
        goto out;
    }
    for (;;) {
        int rc = sqlite3_step(scan);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            store_log_error(store, "replay queue");
            goto out;
        }
        if (replay_queue_row(store, scan) != 0)
            goto out;
        moved++;
    }
    /* the write lock is ours since begin: no entry came in meanwhile */
    if (moved > 0 && sluice_store_dlq_delete(store, dlq_id) != moved)
        goto out;
    result = moved;
out:
    sqlite3_finalize(scan);
    if (sluice_store_end(store, result >= 0) != 0)
        result = -1;
    return result;
}

/* The current replay row (columns REPLAY_COLUMNS) as {"id", "dlq_id",
 * "record", "history"}: a record that is not a JSON object travels as
 * {"raw": text} rather than being lost; a row queued before the history
 * column existed gets its own parking as history. New reference or NULL. */
static json_t *replay_row_object(sqlite3_stmt *stmt)
{
    const char *text = (const char *)sqlite3_column_text(stmt, 4);
    json_t *record = text ? json_loadb(text, (size_t)sqlite3_column_bytes(stmt, 4), 0, NULL)
                          : NULL;
    json_t *history = column_history(stmt, 5);
    if (!json_is_object(record)) {
        json_decref(record);
        record = json_pack("{s:s?}", "raw", text);
    }
    if (history && json_array_size(history) == 0 &&
        history_append(history, (const char *)sqlite3_column_text(stmt, 2),
                       (const char *)sqlite3_column_text(stmt, 3), NULL) != 0) {
        json_decref(history);
        history = NULL;
    }
    if (!record || !history) {
        json_decref(record);
        json_decref(history);
        return NULL;
    }
    return json_pack("{s:I,s:I,s:o,s:o}", "id", (json_int_t)sqlite3_column_int64(stmt, 0),
                     "dlq_id", (json_int_t)sqlite3_column_int64(stmt, 1), "record", record,
                     "history", history);
}

/* The stage of the oldest row not taken in `epoch` or later: *stage gets
 * a new string, or NULL when there is none. A plain read (no write lock).
 * 0 or -1. */
static int replay_next_stage(sluice_store *store, uint64_t epoch, char **stage)
{
    sqlite3_stmt *stmt = dlq_stmt(store, DS_REPLAY_NEXT_STAGE);
    int rc, result = -1;
    *stage = NULL;
    if (!stmt || sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(stmt, 0);
        *stage = strdup(text ? text : "");
        result = *stage ? 0 : -1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        store_log_error(store, "replay read");
    }
    sqlite3_reset(stmt);
    return result;
}

/* Mark the replay rows (objects with "id") of `rows` taken by batch
 * (epoch, batch_id). 0 or -1. */
static int replay_mark(sluice_store *store, const json_t *rows, uint64_t epoch,
                       uint64_t batch_id)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        sqlite3_stmt *stmt = dlq_stmt(store, DS_REPLAY_MARK);
        if (!stmt ||
            sqlite3_bind_int64(stmt, 1, json_integer_value(json_object_get(row, "id"))) !=
                SQLITE_OK ||
            sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
            store_step_done(store, stmt, "replay mark") != 0)
            return -1;
    }
    return 0;
}

int sluice_store_replay_take(sluice_store *store, uint64_t epoch, uint64_t batch_id,
                             size_t max, char **enter_at, json_t **rows)
{
    int result = -1;
    int in_transaction = 0;
    char *stage = NULL;
    json_t *picked = NULL;
    sqlite3_stmt *stmt = NULL;
    if (!store || !enter_at || !rows)
        return -1;
    *enter_at = NULL;
    *rows = NULL;
    if (!(picked = json_array()))
        goto out;
    /* A plain read first: the write lock is only taken when there is
     * something to hand out (the common case is an empty queue). */
    if (max > 0 && replay_next_stage(store, epoch, &stage) != 0)
        goto out;
    if (stage) {
        if (sluice_store_begin(store) != 0)
            goto out;
        in_transaction = 1;
        if (!(stmt = dlq_stmt(store, DS_REPLAY_PICK)) ||
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK ||
            store_bind_text(stmt, 2, stage) != 0 ||
            sqlite3_bind_int64(stmt, 3, (sqlite3_int64)max) != SQLITE_OK)
            goto out;
        for (;;) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_ROW) {
                store_log_error(store, "replay read");
                goto out;
            }
            if (json_array_append_new(picked, replay_row_object(stmt)) != 0)
                goto out;
        }
        sqlite3_reset(stmt);
        stmt = NULL;
        if (replay_mark(store, picked, epoch, batch_id) != 0)
            goto out;
    }
    result = (int)json_array_size(picked);
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (in_transaction && sluice_store_end(store, result >= 0) != 0)
        result = -1;
    if (result > 0) {
        *enter_at = stage;
        stage = NULL;
    }
    if (result >= 0) {
        *rows = picked;
        picked = NULL;
    }
    free(stage);
    json_decref(picked);
    return result;
}

int64_t sluice_store_replay_return(sluice_store *store, int64_t replay_id, uint64_t epoch,
                                   uint64_t batch_id, const char *reason)
{
    int64_t result = -1;
    sqlite3_stmt *stmt = NULL;
    json_t *row = NULL;
    char *stage = NULL;
    if (!store || replay_id <= 0 || !reason || sluice_store_begin(store) != 0)
        return -1;
    if (!(stmt = dlq_stmt(store, DS_REPLAY_GET)) ||
        sqlite3_bind_int64(stmt, 1, replay_id) != SQLITE_OK)
        goto out;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        result = 0;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        store_log_error(store, "replay read");
        goto out;
    }
    row = replay_row_object(stmt);
    stage = strdup((const char *)sqlite3_column_text(stmt, 2));
    sqlite3_reset(stmt);
    stmt = NULL;
    if (!row || !stage)
        goto out;
    result = sluice_store_dlq_add_history(store, stage, epoch, batch_id,
                                          json_object_get(row, "record"), reason,
                                          json_object_get(row, "history"));
    if (result <= 0)
        goto out;
    if (!(stmt = dlq_stmt(store, DS_REPLAY_DEL_ONE)) ||
        sqlite3_bind_int64(stmt, 1, replay_id) != SQLITE_OK ||
        store_step_done(store, stmt, "replay delete") != 0)
        result = -1;
    stmt = NULL;
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (sluice_store_end(store, result >= 0) != 0)
        result = -1;
    json_decref(row);
    free(stage);
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

int64_t sluice_store_replay_inject(sluice_store *store, const char *stage, const json_t *record,
                                   const char *reason)
{
    int64_t result = -1;
    sqlite3_stmt *stmt;
    json_t *history = json_array();
    if (!store || !stage || !json_is_object(record) || !reason || !history)
        goto out;
    /* dlq_id 0: no entry of the dead-letter queue; the history is this
     * queueing alone (replay_row_object adds it from stage and reason) */
    if (!(stmt = dlq_stmt(store, DS_REPLAY_INSERT)) ||
        sqlite3_bind_int64(stmt, 1, 0) != SQLITE_OK || store_bind_text(stmt, 2, stage) != 0 ||
        store_bind_text(stmt, 3, reason) != 0 || store_bind_json(stmt, 4, record) != 0 ||
        store_bind_json(stmt, 5, history) != 0 ||
        store_step_done(store, stmt, "replay queue") != 0)
        goto out;
    result = (int64_t)sqlite3_last_insert_rowid(store_db(store));
out:
    json_decref(history);
    return result;
}
