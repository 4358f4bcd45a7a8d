/* store.c: the pipeline's durable state in <state_dir>/state.db (SQLite,
 * WAL): the schema, transactions, epochs, checkpoints and per-stage
 * key/value rows; the dead-letter and replay queues are store_dlq.c's,
 * through store_internal.h. See docs/state-store.md. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sqlite3.h>
#include "store.h"
#include "store_internal.h"
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
    "  record TEXT NOT NULL, record_sha256 TEXT NOT NULL, parked_at TEXT NOT NULL,"
    "  history TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS dlq_dedup ON dlq(stage, record_sha256, reason);"
    "CREATE TABLE IF NOT EXISTS replay("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, dlq_id INTEGER, stage TEXT NOT NULL,"
    "  reason TEXT NOT NULL, record TEXT NOT NULL, queued_at TEXT NOT NULL,"
    "  taken_epoch INTEGER, taken_batch INTEGER, history TEXT);";

/* Statements cached per handle, prepared on first use. */
enum stmt_id {
    ST_EPOCH_BUMP,
    ST_EPOCH_GET,
    ST_CP_GET,
    ST_CP_SET,
    ST_KV_GET,
    ST_KV_PUT,
    ST_KV_DEL,
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
};

struct sluice_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[ST_COUNT];
    sqlite3_stmt *dlq_stmts[STORE_DLQ_STMTS]; /* store_dlq.c's (store_cached_stmt) */
    int tx_depth; /* nesting of sluice_store_begin; only the outermost is real */
    int tx_failed; /* an inner part failed: the outermost end rolls back */
};

/* Set while the last failure of a store call in this process was a full
 * disk (or quota) and no commit has succeeded since. */
static atomic_int out_of_space;

/* Note whether the failure SQLite just reported on `db` was a full disk:
 * SQLITE_FULL, or an I/O error whose errno is ENOSPC or EDQUOT (growing
 * the -shm file). */
static void note_failure(sqlite3 *db)
{
    int code = db ? sqlite3_extended_errcode(db) : SQLITE_OK;
    int sys = db ? sqlite3_system_errno(db) : 0;

    if ((code & 0xff) == SQLITE_FULL ||
        ((code & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)))
        atomic_store(&out_of_space, 1);
}

int sluice_store_out_of_space(void)
{
    return atomic_load(&out_of_space);
}

/* Log a SQLite failure of `what` on store. */
static void store_error(sluice_store *store, const char *what)
{
    note_failure(store->db);
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

/* Make the existing file `path` readable by its owner only, if it is not
 * already: state.db, -wal and -shm hold spooled member data and the DLQ,
 * and an older sluice created them 0644. SQLite gives -wal and -shm the
 * database's mode. The change is logged when `tell` (a file that was
 * there before, not one this open created under a loose umask); errors
 * are logged, not fatal. */
static void make_private(const char *path, int tell)
{
    struct stat st;

    if (stat(path, &st) != 0 || (st.st_mode & 077) == 0)
        return;
    if (chmod(path, st.st_mode & 0700) != 0)
        sluice_log_write(NULL, NULL, SLUICE_LOG_WARN, "state store %s is mode %04o and cannot "
                         "be made private: %s", path, (unsigned)(st.st_mode & 07777),
                         strerror(errno));
    else if (tell)
        sluice_log_write(NULL, NULL, SLUICE_LOG_INFO, "state store %s was mode %04o, now %04o",
                         path, (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & 0700));
}

/* make_private() for `db` and its -wal and -shm. */
static void make_store_private(const char *db, int tell)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char path[4096 + 8];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
        make_private(path, tell);
    }
}

sluice_store *sluice_store_open(const char *state_dir, char *errbuf, size_t errlen)
{
    sluice_store *store = NULL;
    sluice_store *result = NULL;
    char *errmsg = NULL;
    char why[512] = "";
    char path[4096];
    struct stat st;
    int existed;
    if (!state_dir || !*state_dir) {
        snprintf(errbuf, errlen, "state store: no state directory given");
        goto out;
    }
    if (sluice_make_private_dirs(state_dir) != 0) {
        if (errno == ENOSPC || errno == EDQUOT)
            atomic_store(&out_of_space, 1);
        snprintf(errbuf, errlen, "state store: cannot create directory %s: %s", state_dir,
                 strerror(errno));
        goto out;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/state.db", state_dir) >= sizeof(path)) {
        snprintf(errbuf, errlen, "state store: path too long: %s", state_dir);
        goto out;
    }
    existed = stat(path, &st) == 0;
    store = calloc(1, sizeof(*store));
    if (!store || !(store->path = strdup(path))) {
        snprintf(errbuf, errlen, "state store: out of memory");
        goto out;
    }
    if (sqlite3_open_v2(path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        note_failure(store->db);
        snprintf(errbuf, errlen, "state store %s: cannot open: %s", path,
                 store->db ? sqlite3_errmsg(store->db) : "out of memory");
        goto out;
    }
    make_store_private(path, existed); /* before the WAL files take its mode */
    /* The busy timeout first: switching to WAL and creating the schema
     * can meet another process doing the same. */
    sqlite3_busy_timeout(store->db, 10000);
    if (sqlite3_exec(store->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA busy_timeout=10000; BEGIN IMMEDIATE;",
                     NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(store->db, SCHEMA_SQL, NULL, NULL, &errmsg) != SQLITE_OK ||
        store_dlq_migrate(store, why, sizeof(why)) != 0 ||
        sqlite3_exec(store->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK) {
        note_failure(store->db);
        snprintf(errbuf, errlen, "state store %s: cannot set up: %s", path,
                 errmsg ? errmsg : why[0] ? why : sqlite3_errmsg(store->db));
        goto out;
    }
    make_store_private(path, existed); /* -wal and -shm left by an older sluice */
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
    for (int i = 0; i < STORE_DLQ_STMTS; i++)
        sqlite3_finalize(store->dlq_stmts[i]);
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
    atomic_store(&out_of_space, 0); /* a write went through: there is space */
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

int sluice_store_epoch_get(sluice_store *store, const char *stage, uint64_t *epoch)
{
    sqlite3_stmt *stmt;
    int rc;

    if (!store || !stage || !epoch || !(stmt = stmt_get(store, ST_EPOCH_GET)) ||
        bind_text(stmt, 1, stage) != 0)
        return -1;
    rc = sqlite3_step(stmt);
    *epoch = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_error(store, "epoch read");
        return -1;
    }
    return 0;
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

/* ---- lent to store_dlq.c (store_internal.h) ---- */

sqlite3 *store_db(sluice_store *store)
{
    return store->db;
}

const char *store_path(sluice_store *store)
{
    return store->path;
}

sqlite3_stmt *store_cached_stmt(sluice_store *store, unsigned slot, const char *sql)
{
    sqlite3_stmt *stmt;
    if (slot >= STORE_DLQ_STMTS)
        return NULL;
    stmt = store->dlq_stmts[slot];
    if (!stmt) {
        if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               NULL) != SQLITE_OK) {
            store_error(store, "prepare");
            return NULL;
        }
        store->dlq_stmts[slot] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

int store_step_done(sluice_store *store, sqlite3_stmt *stmt, const char *what)
{
    return stmt_done(store, stmt, what);
}

void store_log_error(sluice_store *store, const char *what)
{
    store_error(store, what);
}

int store_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    return bind_text(stmt, index, text);
}

int store_bind_json(sqlite3_stmt *stmt, int index, const json_t *json)
{
    return bind_json(stmt, index, json, 0);
}
