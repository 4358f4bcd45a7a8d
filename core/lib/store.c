/* store.c: the pipeline's durable state in <state_dir>/state.db (SQLite,
 * WAL): epochs, checkpoints, per-stage key/value rows, the dead-letter
 * queue and the replay queue. See docs/state-store.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include "store.h"
#include "log.h"
#include "util/private_dir.h"

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS epochs("
    "  stage TEXT PRIMARY KEY, epoch INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    "  stage TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kv("
    "  stage TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY(stage, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS dlq("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL,"
    "  epoch INTEGER NOT NULL, batch_id INTEGER NOT NULL, reason TEXT NOT NULL,"
    "  record TEXT NOT NULL, record_sha256 TEXT NOT NULL, parked_at TEXT NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS dlq_dedup ON dlq(stage, record_sha256, reason);"
    "CREATE TABLE IF NOT EXISTS replay("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, dlq_id INTEGER, stage TEXT NOT NULL,"
    "  reason TEXT NOT NULL, record TEXT NOT NULL, queued_at TEXT NOT NULL,"
    "  taken_epoch INTEGER, taken_batch INTEGER);";

/* Statements cached per handle, prepared on first use. */
enum stmt_id {
    ST_EPOCH_BUMP,
    ST_EPOCH_GET,
    ST_CP_GET,
    ST_CP_SET,
    ST_KV_GET,
    ST_KV_PUT,
    ST_KV_DEL,
    ST_DLQ_INSERT,
    ST_DLQ_FIND,
    ST_DLQ_GET,
    ST_DLQ_DEL_ONE,
    ST_DLQ_DEL_ALL,
    ST_DLQ_COUNT,
    ST_REPLAY_FROM_DLQ,
    ST_REPLAY_ALL_FROM_DLQ,
    ST_REPLAY_ANY,
    ST_REPLAY_PICK,
    ST_REPLAY_MARK,
    ST_REPLAY_ACK,
    ST_REPLAY_COUNT,
    ST_COUNT
};

static const char *const STMT_SQL[ST_COUNT] = {
    [ST_EPOCH_BUMP] = "INSERT INTO epochs(stage, epoch) VALUES(?1, 1) "
                      "ON CONFLICT(stage) DO UPDATE SET epoch = epoch + 1",
    [ST_EPOCH_GET] = "SELECT epoch FROM epochs WHERE stage = ?1",
    [ST_CP_GET] = "SELECT value FROM checkpoints WHERE stage = ?1",
    [ST_CP_SET] = "INSERT INTO checkpoints(stage, value, updated_at) "
                  "VALUES(?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ','now')) "
                  "ON CONFLICT(stage) DO UPDATE SET value = excluded.value, "
                  "updated_at = excluded.updated_at",
    [ST_KV_GET] = "SELECT value FROM kv WHERE stage = ?1 AND key = ?2",
    [ST_KV_PUT] = "INSERT INTO kv(stage, key, value) VALUES(?1, ?2, ?3) "
                  "ON CONFLICT(stage, key) DO UPDATE SET value = excluded.value",
    [ST_KV_DEL] = "DELETE FROM kv WHERE stage = ?1 AND key = ?2",
    [ST_DLQ_INSERT] = "INSERT OR IGNORE INTO dlq(stage, epoch, batch_id, reason, record, "
                      "record_sha256, parked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                      "strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
    [ST_DLQ_FIND] = "SELECT id FROM dlq WHERE stage = ?1 AND record_sha256 = ?2 AND reason = ?3",
    [ST_DLQ_GET] = "SELECT id, stage, epoch, batch_id, reason, record, parked_at "
                   "FROM dlq WHERE id = ?1",
    [ST_DLQ_DEL_ONE] = "DELETE FROM dlq WHERE id = ?1",
    [ST_DLQ_DEL_ALL] = "DELETE FROM dlq",
    [ST_DLQ_COUNT] = "SELECT count(*) FROM dlq",
    [ST_REPLAY_FROM_DLQ] = "INSERT INTO replay(dlq_id, stage, reason, record, queued_at) "
                           "SELECT id, stage, reason, record, "
                           "strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM dlq WHERE id = ?1",
    [ST_REPLAY_ALL_FROM_DLQ] = "INSERT INTO replay(dlq_id, stage, reason, record, queued_at) "
                               "SELECT id, stage, reason, record, "
                               "strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM dlq ORDER BY id",
    [ST_REPLAY_ANY] = "SELECT 1 FROM replay "
                      "WHERE taken_epoch IS NULL OR taken_epoch < ?1 LIMIT 1",
    [ST_REPLAY_PICK] = "SELECT id, record FROM replay "
                       "WHERE taken_epoch IS NULL OR taken_epoch < ?1 ORDER BY id LIMIT ?2",
    [ST_REPLAY_MARK] = "UPDATE replay SET taken_epoch = ?2, taken_batch = ?3 WHERE id = ?1",
    [ST_REPLAY_ACK] = "DELETE FROM replay WHERE taken_epoch = ?1 AND taken_batch <= ?2",
    [ST_REPLAY_COUNT] = "SELECT count(*) FROM replay",
};

struct sluice_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[ST_COUNT];
    int tx_depth; /* nesting of sluice_store_begin; only the outermost is real */
    int tx_failed; /* an inner part failed: the outermost end rolls back */
};

/* Log a SQLite failure of `what` on store. */
static void store_error(sluice_store *store, const char *what)
{
    sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "state store %s: %s: %s", store->path,
                     what, sqlite3_errmsg(store->db));
}

/* Cached statement `id`, reset and with bindings cleared; NULL on error. */
static sqlite3_stmt *stmt_get(sluice_store *store, enum stmt_id id)
{
    sqlite3_stmt *stmt = store->stmts[id];
    if (!stmt) {
        if (sqlite3_prepare_v3(store->db, STMT_SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               NULL) != SQLITE_OK) {
            store_error(store, "prepare");
            return NULL;
        }
        store->stmts[id] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

/* Run a statement that returns no rows to completion. 0 or -1. */
static int stmt_done(sluice_store *store, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        store_error(store, what);
        return -1;
    }
    return 0;
}

sluice_store *sluice_store_open(const char *state_dir, char *errbuf, size_t errlen)
{
    sluice_store *store = NULL;
    sluice_store *result = NULL;
    char *errmsg = NULL;
    char path[4096];
    if (!state_dir || !*state_dir) {
        snprintf(errbuf, errlen, "state store: no state directory given");
        goto out;
    }
    if (sluice_make_private_dirs(state_dir) != 0) {
        snprintf(errbuf, errlen, "state store: cannot create directory %s: %s", state_dir,
                 strerror(errno));
        goto out;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/state.db", state_dir) >= sizeof(path)) {
        snprintf(errbuf, errlen, "state store: path too long: %s", state_dir);
        goto out;
    }
    store = calloc(1, sizeof(*store));
    if (!store || !(store->path = strdup(path))) {
        snprintf(errbuf, errlen, "state store: out of memory");
        goto out;
    }
    if (sqlite3_open_v2(path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "state store %s: cannot open: %s", path,
                 store->db ? sqlite3_errmsg(store->db) : "out of memory");
        goto out;
    }
    /* The busy timeout first: switching to WAL and creating the schema
     * can meet another process doing the same. */
    sqlite3_busy_timeout(store->db, 10000);
    if (sqlite3_exec(store->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA busy_timeout=10000; BEGIN IMMEDIATE;",
                     NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(store->db, SCHEMA_SQL, NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(store->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK) {
        snprintf(errbuf, errlen, "state store %s: cannot set up: %s", path,
                 errmsg ? errmsg : sqlite3_errmsg(store->db));
        goto out;
    }
    result = store;
    store = NULL;
out:
    sqlite3_free(errmsg);
    sluice_store_close(&store);
    return result;
}

void sluice_store_close(sluice_store **store_p)
{
    if (!store_p || !*store_p)
        return;
    sluice_store *store = *store_p;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(store->stmts[i]);
    sqlite3_close(store->db);
    free(store->path);
    free(store);
    *store_p = NULL;
}

int sluice_store_begin(sluice_store *store)
{
    if (!store)
        return -1;
    if (store->tx_depth++ > 0)
        return 0;
    store->tx_failed = 0;
    /* IMMEDIATE takes the write lock now, where busy_timeout applies; a
     * deferred transaction upgrading later could fail with SQLITE_BUSY. */
    if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        store_error(store, "begin");
        store->tx_depth = 0;
        return -1;
    }
    return 0;
}

int sluice_store_end(sluice_store *store, int commit)
{
    if (!store || store->tx_depth <= 0)
        return -1;
    if (!commit)
        store->tx_failed = 1;
    if (--store->tx_depth > 0)
        return commit ? 0 : -1;
    if (store->tx_failed) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        store_error(store, "commit");
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* Bind text; SQLITE_TRANSIENT because callers' strings may not outlive
 * the step. */
static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    return sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

int sluice_store_next_epoch(sluice_store *store, const char *stage, uint64_t *epoch)
{
    int result = -1;
    sqlite3_stmt *stmt;
    if (!store || !stage || !epoch || sluice_store_begin(store) != 0)
        return -1;
    if (!(stmt = stmt_get(store, ST_EPOCH_BUMP)) || bind_text(stmt, 1, stage) != 0 ||
        stmt_done(store, stmt, "epoch bump") != 0)
        goto out;
    if (!(stmt = stmt_get(store, ST_EPOCH_GET)) || bind_text(stmt, 1, stage) != 0)
        goto out;
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        store_error(store, "epoch read");
        goto out;
    }
    *epoch = (uint64_t)sqlite3_column_int64(stmt, 0);
    result = 0;
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (sluice_store_end(store, result == 0) != 0)
        result = -1;
    return result;
}

/* Step a statement expected to return at most one row whose column 0 is
 * JSON text; *out gets the parsed value (new ref) or NULL. 0 or -1. */
static int read_json_row(sluice_store *store, sqlite3_stmt *stmt, const char *what,
                         json_t **out)
{
    int result = -1;
    *out = NULL;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        result = 0;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        store_error(store, what);
        goto out;
    }
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    int bytes = sqlite3_column_bytes(stmt, 0);
    json_error_t jerr;
    *out = text ? json_loadb(text, (size_t)bytes, JSON_DECODE_ANY, &jerr) : NULL;
    if (!*out) {
        sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "state store %s: %s: bad JSON: %s",
                         store->path, what, text ? jerr.text : "NULL value");
        goto out;
    }
    result = 0;
out:
    sqlite3_reset(stmt);
    return result;
}

int sluice_store_checkpoint_get(sluice_store *store, const char *stage, json_t **out)
{
    sqlite3_stmt *stmt;
    if (!store || !stage || !out)
        return -1;
    *out = NULL;
    if (!(stmt = stmt_get(store, ST_CP_GET)) || bind_text(stmt, 1, stage) != 0)
        return -1;
    return read_json_row(store, stmt, "checkpoint read", out);
}

/* Bind json (compact text) at index. 0 or -1. */
static int bind_json(sqlite3_stmt *stmt, int index, const json_t *json, size_t flags)
{
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY | flags);
    if (!text)
        return -1;
    return sqlite3_bind_text(stmt, index, text, -1, free) == SQLITE_OK ? 0 : -1;
}

int sluice_store_checkpoint_set(sluice_store *store, const char *stage, const json_t *cp)
{
    sqlite3_stmt *stmt;
    if (!store || !stage || !cp)
        return -1;
    if (!(stmt = stmt_get(store, ST_CP_SET)) || bind_text(stmt, 1, stage) != 0 ||
        bind_json(stmt, 2, cp, 0) != 0)
        return -1;
    return stmt_done(store, stmt, "checkpoint write");
}

int sluice_store_kv_get(sluice_store *store, const char *stage, const char *key, json_t **out)
{
    sqlite3_stmt *stmt;
    if (!store || !stage || !key || !out)
        return -1;
    *out = NULL;
    if (!(stmt = stmt_get(store, ST_KV_GET)) || bind_text(stmt, 1, stage) != 0 ||
        bind_text(stmt, 2, key) != 0)
        return -1;
    return read_json_row(store, stmt, "kv read", out);
}

/* Write or delete (value NULL or JSON null) one key, inside a transaction. */
static int kv_write_one(sluice_store *store, const char *stage, const char *key,
                        const json_t *value)
{
    sqlite3_stmt *stmt;
    if (!value || json_is_null(value)) {
        if (!(stmt = stmt_get(store, ST_KV_DEL)) || bind_text(stmt, 1, stage) != 0 ||
            bind_text(stmt, 2, key) != 0)
            return -1;
        return stmt_done(store, stmt, "kv delete");
    }
    if (!(stmt = stmt_get(store, ST_KV_PUT)) || bind_text(stmt, 1, stage) != 0 ||
        bind_text(stmt, 2, key) != 0 || bind_json(stmt, 3, value, 0) != 0)
        return -1;
    return stmt_done(store, stmt, "kv write");
}

int sluice_store_kv_apply(sluice_store *store, const char *stage, const json_t *writes)
{
    int result = -1;
    const char *key;
    json_t *value;
    if (!store || !stage || !json_is_object(writes))
        return -1;
    if (json_object_size(writes) == 0)
        return 0;
    if (sluice_store_begin(store) != 0)
        return -1;
    json_object_foreach((json_t *)writes, key, value) {
        if (kv_write_one(store, stage, key, value) != 0)
            goto out;
    }
    result = 0;
out:
    if (sluice_store_end(store, result == 0) != 0)
        result = -1;
    return result;
}

int sluice_store_kv_foreach(sluice_store *store, const char *stage, const char *prefix,
                            int (*fn)(const char *key, const json_t *value, void *user),
                            void *user)
{
    int result = -1;
    sqlite3_stmt *stmt = NULL;
    size_t prefix_len = prefix ? strlen(prefix) : 0;
    if (!store || !stage || !fn)
        return -1;
    /* A statement of its own (not cached): fn may use the store. Rows with
     * the prefix are contiguous from `key >= prefix` in key order. */
    if (sqlite3_prepare_v2(store->db,
                           "SELECT key, value FROM kv WHERE stage = ?1 AND key >= ?2 "
                           "ORDER BY key",
                           -1, &stmt, NULL) != SQLITE_OK) {
        store_error(store, "kv scan");
        goto out;
    }
    if (bind_text(stmt, 1, stage) != 0 || bind_text(stmt, 2, prefix ? prefix : "") != 0)
        goto out;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            store_error(store, "kv scan");
            goto out;
        }
        const char *key = (const char *)sqlite3_column_text(stmt, 0);
        if (!key || strncmp(key, prefix ? prefix : "", prefix_len) != 0)
            break;
        const char *text = (const char *)sqlite3_column_text(stmt, 1);
        json_t *value = text ? json_loadb(text, (size_t)sqlite3_column_bytes(stmt, 1),
                                          JSON_DECODE_ANY, NULL) : NULL;
        if (!value) {
            sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR,
                             "state store %s: stage %s key %s: bad JSON value", store->path,
                             stage, key);
            goto out;
        }
        int stop = fn(key, value, user);
        json_decref(value);
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
    if (!(stmt = stmt_get(store, ST_DLQ_INSERT)) || bind_text(stmt, 1, stage) != 0 ||
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
        bind_text(stmt, 4, reason) != 0 || bind_json(stmt, 5, record, 0) != 0 ||
        bind_text(stmt, 6, hex) != 0 || stmt_done(store, stmt, "dlq insert") != 0)
        goto out;
    if (sqlite3_changes(store->db) == 1) {
        result = sqlite3_last_insert_rowid(store->db);
        goto out;
    }
    /* Already parked by an earlier run of the same batch: reuse its id. */
    if (!(stmt = stmt_get(store, ST_DLQ_FIND)) || bind_text(stmt, 1, stage) != 0 ||
        bind_text(stmt, 2, hex) != 0 || bind_text(stmt, 3, reason) != 0)
        goto out;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        result = sqlite3_column_int64(stmt, 0);
    else
        store_error(store, "dlq lookup");
out:
    if (stmt)
        sqlite3_reset(stmt);
    if (sluice_store_end(store, result > 0) != 0)
        result = -1;
    return result;
}

/* Build the entry object of the current dlq row (columns as ST_DLQ_GET).
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
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, stage, epoch, batch_id, reason, record, parked_at "
                           "FROM dlq WHERE ?1 IS NULL OR stage = ?1 ORDER BY id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        store_error(store, "dlq scan");
        goto out;
    }
    if (stage && bind_text(stmt, 1, stage) != 0)
        goto out;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            store_error(store, "dlq scan");
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
    if (!(stmt = stmt_get(store, ST_DLQ_GET)) ||
        sqlite3_bind_int64(stmt, 1, id) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = dlq_row_entry(stmt);
        result = *out ? 0 : -1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        store_error(store, "dlq read");
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
        if (!(stmt = stmt_get(store, ST_DLQ_DEL_ONE)) ||
            sqlite3_bind_int64(stmt, 1, id) != SQLITE_OK)
            return -1;
    } else if (!(stmt = stmt_get(store, ST_DLQ_DEL_ALL))) {
        return -1;
    }
    if (stmt_done(store, stmt, "dlq delete") != 0)
        return -1;
    return sqlite3_changes(store->db);
}

/* Run a cached count(*) statement. Count or -1. */
static int64_t count_rows(sluice_store *store, enum stmt_id id)
{
    int64_t result = -1;
    sqlite3_stmt *stmt = stmt_get(store, id);
    if (!stmt)
        return -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        result = sqlite3_column_int64(stmt, 0);
    else
        store_error(store, "count");
    sqlite3_reset(stmt);
    return result;
}

int64_t sluice_store_dlq_count(sluice_store *store)
{
    return store ? count_rows(store, ST_DLQ_COUNT) : -1;
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
        if (!(stmt = stmt_get(store, ST_REPLAY_FROM_DLQ)) ||
            sqlite3_bind_int64(stmt, 1, dlq_id) != SQLITE_OK)
            goto out;
    } else if (!(stmt = stmt_get(store, ST_REPLAY_ALL_FROM_DLQ))) {
        goto out;
    }
    if (stmt_done(store, stmt, "replay queue") != 0)
        goto out;
    moved = sqlite3_changes(store->db);
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
        if (!(stmt = stmt_get(store, ST_REPLAY_ANY)) ||
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK)
            goto out;
        int rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        if (rc == SQLITE_DONE) {
            max = 0;
        } else if (rc != SQLITE_ROW) {
            store_error(store, "replay read");
            goto out;
        }
    }
    if (max > 0) {
        if (sluice_store_begin(store) != 0)
            goto out;
        in_transaction = 1;
        if (!(stmt = stmt_get(store, ST_REPLAY_PICK)) ||
            sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 2, (sqlite3_int64)max) != SQLITE_OK)
            goto out;
        for (;;) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_ROW) {
                store_error(store, "replay read");
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
            if (!(stmt = stmt_get(store, ST_REPLAY_MARK)) ||
                sqlite3_bind_int64(stmt, 1, json_integer_value(id)) != SQLITE_OK ||
                sqlite3_bind_int64(stmt, 2, (sqlite3_int64)epoch) != SQLITE_OK ||
                sqlite3_bind_int64(stmt, 3, (sqlite3_int64)batch_id) != SQLITE_OK ||
                stmt_done(store, stmt, "replay mark") != 0)
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
    if (!(stmt = stmt_get(store, ST_REPLAY_ACK)) ||
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)epoch) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)batch_id) != SQLITE_OK ||
        stmt_done(store, stmt, "replay ack") != 0)
        return -1;
    return sqlite3_changes(store->db);
}

int64_t sluice_store_replay_count(sluice_store *store)
{
    return store ? count_rows(store, ST_REPLAY_COUNT) : -1;
}
