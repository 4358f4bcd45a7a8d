/* test_store.c: unit tests of store.c and store_dlq.c on real SQLite
 * files: epochs, checkpoints, kv rows, DLQ CRUD and de-duplication, the
 * replay queue (one stage per take, the history of parkings, rows sent
 * back), a state.db from before the history column, and two processes
 * writing the same database at once. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>
#include "log.h"
#include "store.h"
#include "support/unit_support.h"

static char state_dir[256];

static void setup(void)
{
    snprintf(state_dir, sizeof(state_dir), "/tmp/sluice-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
}

static void teardown(void)
{
    unit_remove_tree(state_dir);
}

/* Open the store in a subdirectory that does not exist yet. */
static sluice_store *open_store(void)
{
    char dir[512], err[512] = "";
    snprintf(dir, sizeof(dir), "%s/state/sub", state_dir);
    sluice_store *store = sluice_store_open(dir, err, sizeof(err));
    ck_assert_msg(store != NULL, "open: %s", err);
    return store;
}

START_TEST(test_open_errors)
{
    char err[512] = "";
    ck_assert_ptr_null(sluice_store_open("/proc/no/such/place", err, sizeof(err)));
    ck_assert_msg(strstr(err, "/proc/no/such/place") != NULL, "error names the dir: %s", err);
    ck_assert_ptr_null(sluice_store_open("", err, sizeof(err)));
}
END_TEST

START_TEST(test_epochs_and_checkpoints)
{
    uint64_t epoch = 0;
    json_t *cp = NULL;
    sluice_store *store = open_store();
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    ck_assert_uint_eq(epoch, 1);
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    ck_assert_uint_eq(epoch, 2);
    ck_assert_int_eq(sluice_store_next_epoch(store, "other", &epoch), 0);
    ck_assert_uint_eq(epoch, 1);
    ck_assert_int_eq(sluice_store_checkpoint_get(store, "src", &cp), 0);
    ck_assert_ptr_null(cp);
    json_t *set = json_pack("{s:i,s:s}", "offset", 1234, "file", "a.jsonl");
    ck_assert_int_eq(sluice_store_checkpoint_set(store, "src", set), 0);
    sluice_store_close(&store);
    ck_assert_ptr_null(store);

    /* durable across a reopen */
    store = open_store();
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    ck_assert_uint_eq(epoch, 3);
    ck_assert_int_eq(sluice_store_checkpoint_get(store, "src", &cp), 0);
    ck_assert(json_equal(cp, set));
    json_decref(cp);
    json_decref(set);
    sluice_store_close(&store);
}
END_TEST

/* Appends "key=value" for every visited key to the string buffer. */
static int list_keys(const char *key, const json_t *value, void *user)
{
    char *buf = user;
    size_t used = strlen(buf);
    char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf + used, 1024 - used, "%s=%s;", key, text);
    free(text);
    return 0;
}

START_TEST(test_kv_rows)
{
    char listed[1024] = "";
    json_t *value = NULL;
    sluice_store *store = open_store();
    json_t *writes = json_pack("{s:i,s:s,s:[i],s:i}", "m:1", 10, "m:2", "gold", "m:3", 7,
                               "n:1", 5);
    ck_assert_int_eq(sluice_store_kv_apply(store, "deriver", writes), 0);
    json_decref(writes);
    ck_assert_int_eq(sluice_store_kv_get(store, "deriver", "m:2", &value), 0);
    ck_assert_str_eq(json_string_value(value), "gold");
    json_decref(value);
    /* another stage's rows are separate */
    ck_assert_int_eq(sluice_store_kv_get(store, "mapper", "m:2", &value), 0);
    ck_assert_ptr_null(value);
    /* null deletes */
    writes = json_pack("{s:n,s:i}", "m:2", "m:1", 11);
    ck_assert_int_eq(sluice_store_kv_apply(store, "deriver", writes), 0);
    json_decref(writes);
    ck_assert_int_eq(sluice_store_kv_foreach(store, "deriver", "m:", list_keys, listed), 0);
    ck_assert_str_eq(listed, "m:1=11;m:3=[7];");
    listed[0] = '\0';
    ck_assert_int_eq(sluice_store_kv_foreach(store, "deriver", NULL, list_keys, listed), 0);
    ck_assert_str_eq(listed, "m:1=11;m:3=[7];n:1=5;");
    sluice_store_close(&store);
}
END_TEST

/* Counts DLQ entries and checks they carry every field. */
static int count_entries(const json_t *entry, void *user)
{
    ck_assert(json_is_integer(json_object_get(entry, "id")));
    ck_assert(json_is_string(json_object_get(entry, "parked_at")));
    ck_assert(json_is_object(json_object_get(entry, "record")));
    (*(int *)user)++;
    return 0;
}

START_TEST(test_dlq_crud_and_dedup)
{
    json_t *entry = NULL;
    int seen = 0;
    sluice_store *store = open_store();
    json_t *record = json_pack("{s:s,s:i}", "email", "a@example.com", "points", 5);
    /* same content, other key order: the same record */
    json_t *same = json_pack("{s:i,s:s}", "points", 5, "email", "a@example.com");
    json_t *other = json_pack("{s:s}", "email", "b@example.com");
    int64_t id1 = sluice_store_dlq_add(store, "ometria", 1, 3, record, "HTTP 400: bad email");
    ck_assert_int_gt(id1, 0);
    ck_assert_int_eq(sluice_store_dlq_add(store, "ometria", 2, 1, same, "HTTP 400: bad email"),
                     id1);
    int64_t id2 = sluice_store_dlq_add(store, "ometria", 1, 3, record, "other reason");
    int64_t id3 = sluice_store_dlq_add(store, "mapper", 1, 3, other, "no email");
    ck_assert_int_gt(id2, id1);
    ck_assert_int_gt(id3, id2);
    ck_assert_int_eq(sluice_store_dlq_count(store), 3);

    ck_assert_int_eq(sluice_store_dlq_get(store, id1, &entry), 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "stage")), "ometria");
    ck_assert_str_eq(json_string_value(json_object_get(entry, "reason")), "HTTP 400: bad email");
    ck_assert_int_eq(json_integer_value(json_object_get(entry, "batch")), 3);
    ck_assert(json_equal(json_object_get(entry, "record"), record));
    json_decref(entry);
    ck_assert_int_eq(sluice_store_dlq_get(store, 9999, &entry), 0);
    ck_assert_ptr_null(entry);

    ck_assert_int_eq(sluice_store_dlq_foreach(store, NULL, count_entries, &seen), 0);
    ck_assert_int_eq(seen, 3);
    seen = 0;
    ck_assert_int_eq(sluice_store_dlq_foreach(store, "mapper", count_entries, &seen), 0);
    ck_assert_int_eq(seen, 1);

    ck_assert_int_eq(sluice_store_dlq_delete(store, id2), 1);
    ck_assert_int_eq(sluice_store_dlq_delete(store, id2), 0);
    ck_assert_int_eq(sluice_store_dlq_count(store), 2);
    ck_assert_int_eq(sluice_store_dlq_delete(store, 0), 2);
    ck_assert_int_eq(sluice_store_dlq_count(store), 0);
    json_decref(record);
    json_decref(same);
    json_decref(other);
    sluice_store_close(&store);
}
END_TEST

/* The record of replay row i of `rows` (sluice_store_replay_take). */
static json_t *row_record(const json_t *rows, size_t i)
{
    return json_object_get(json_array_get(rows, i), "record");
}

START_TEST(test_replay_queue)
{
    json_t *rows = NULL;
    char *enter_at = NULL;
    sluice_store *store = open_store();
    json_t *r1 = json_pack("{s:i}", "n", 1), *r2 = json_pack("{s:i}", "n", 2),
           *r3 = json_pack("{s:i}", "n", 3);
    int64_t id1 = sluice_store_dlq_add(store, "sink", 1, 1, r1, "bad");
    int64_t id2 = sluice_store_dlq_add(store, "sink", 1, 1, r2, "bad");
    sluice_store_dlq_add(store, "sink", 1, 2, r3, "bad");
    ck_assert_int_eq(sluice_store_replay_add(store, 9999), 0);
    ck_assert_int_eq(sluice_store_replay_add(store, id1), 1);
    ck_assert_int_eq(sluice_store_dlq_count(store), 2);
    ck_assert_int_eq(sluice_store_replay_add(store, 0), 2);
    ck_assert_int_eq(sluice_store_dlq_count(store), 0);
    ck_assert_int_eq(sluice_store_replay_count(store), 3);

    /* epoch 5: batch 1 takes two, batch 2 the last one, then nothing; each
     * goes back into "sink", the stage that parked it */
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 1, 2, &enter_at, &rows), 2);
    ck_assert_str_eq(enter_at, "sink");
    ck_assert(json_equal(row_record(rows, 0), r1));
    ck_assert(json_equal(row_record(rows, 1), r2));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rows, 0), "dlq_id")), id1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rows, 1), "dlq_id")), id2);
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 2, 10, &enter_at, &rows), 1);
    ck_assert(json_equal(row_record(rows, 0), r3));
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 3, 10, &enter_at, &rows), 0);
    ck_assert_ptr_null(enter_at);
    ck_assert_int_eq(json_array_size(rows), 0);
    json_decref(rows);

    /* batch 1 acknowledged; batch 2 lost: a rewind (epoch 6) gets r3 again */
    ck_assert_int_eq(sluice_store_replay_ack(store, 5, 1), 2);
    ck_assert_int_eq(sluice_store_replay_take(store, 6, 1, 10, &enter_at, &rows), 1);
    ck_assert(json_equal(row_record(rows, 0), r3));
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_ack(store, 5, 2), 0); /* stale ack: no effect */
    ck_assert_int_eq(sluice_store_replay_ack(store, 6, 1), 1);
    ck_assert_int_eq(sluice_store_replay_count(store), 0);
    json_decref(r1);
    json_decref(r2);
    json_decref(r3);
    sluice_store_close(&store);
}
END_TEST

START_TEST(test_replay_one_stage_per_take)
{
    json_t *rows = NULL;
    char *enter_at = NULL;
    sluice_store *store = open_store();
    const char *stages[5] = { "derive", "ometria", "derive", "ometria", "ometria" };
    for (int i = 0; i < 5; i++) {
        json_t *record = json_pack("{s:i}", "n", i);
        ck_assert_int_gt(sluice_store_dlq_add(store, stages[i], 1, 1, record, "bad"), 0);
        json_decref(record);
    }
    ck_assert_int_eq(sluice_store_replay_add(store, 0), 5);
    /* the oldest row's stage first, all of its rows (up to max) and no
     * other stage's in the same batch; then the next stage */
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 1, 10, &enter_at, &rows), 2);
    ck_assert_str_eq(enter_at, "derive");
    ck_assert_int_eq(json_integer_value(json_object_get(row_record(rows, 0), "n")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(row_record(rows, 1), "n")), 2);
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 2, 2, &enter_at, &rows), 2);
    ck_assert_str_eq(enter_at, "ometria");
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 3, 10, &enter_at, &rows), 1);
    ck_assert_str_eq(enter_at, "ometria");
    ck_assert_int_eq(json_integer_value(json_object_get(row_record(rows, 0), "n")), 4);
    free(enter_at);
    json_decref(rows);
    sluice_store_close(&store);
}
END_TEST

/* The parking `i` of a history: stage and reason, and parked_at set. */
static void check_parking(const json_t *history, size_t i, const char *stage,
                          const char *reason)
{
    const json_t *parking = json_array_get(history, i);
    ck_assert_msg(parking != NULL, "no parking %zu in a history of %zu", i,
                  json_array_size(history));
    ck_assert_str_eq(json_string_value(json_object_get(parking, "stage")), stage);
    ck_assert_str_eq(json_string_value(json_object_get(parking, "reason")), reason);
    ck_assert(json_is_string(json_object_get(parking, "parked_at")));
}

START_TEST(test_replay_keeps_history)
{
    json_t *rows = NULL, *entry = NULL;
    char *enter_at = NULL;
    char reason[64];
    sluice_store *store = open_store();
    json_t *record = json_pack("{s:s}", "@type", "contact");
    int64_t id = sluice_store_dlq_add(store, "ometria", 1, 1, record, "too large: 900 > 600");

    /* a record parked once has an empty history */
    ck_assert_int_eq(sluice_store_dlq_get(store, id, &entry), 0);
    ck_assert_int_eq(json_array_size(json_object_get(entry, "history")), 0);
    json_decref(entry);

    /* replayed: the row carries the parking; parked again by the same
     * stage for another reason: the new entry keeps the first one */
    ck_assert_int_eq(sluice_store_replay_add(store, id), 1);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 1, 10, &enter_at, &rows), 1);
    ck_assert_str_eq(enter_at, "ometria");
    check_parking(json_object_get(json_array_get(rows, 0), "history"), 0, "ometria",
                  "too large: 900 > 600");
    id = sluice_store_dlq_add_history(store, "ometria", 2, 1, record, "too large: 900 > 500",
                                      json_object_get(json_array_get(rows, 0), "history"));
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(sluice_store_replay_ack(store, 2, 1), 1);
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_dlq_get(store, id, &entry), 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "reason")), "too large: 900 > 500");
    ck_assert_int_eq(json_array_size(json_object_get(entry, "history")), 1);
    check_parking(json_object_get(entry, "history"), 0, "ometria", "too large: 900 > 600");
    json_decref(entry);

    /* round after round, the history keeps the first parking and the
     * newest ones, at most SLUICE_DLQ_HISTORY_MAX */
    for (int round = 0; round < SLUICE_DLQ_HISTORY_MAX + 4; round++) {
        ck_assert_int_eq(sluice_store_replay_add(store, id), 1);
        ck_assert_int_eq(sluice_store_replay_take(store, 3 + (uint64_t)round, 1, 10, &enter_at,
                                                  &rows), 1);
        snprintf(reason, sizeof(reason), "round %d", round);
        id = sluice_store_dlq_add_history(store, "ometria", 3 + (uint64_t)round, 1, record,
                                          reason,
                                          json_object_get(json_array_get(rows, 0), "history"));
        ck_assert_int_gt(id, 0);
        ck_assert_int_eq(sluice_store_replay_ack(store, 3 + (uint64_t)round, 1), 1);
        free(enter_at);
        json_decref(rows);
    }
    ck_assert_int_eq(sluice_store_dlq_get(store, id, &entry), 0);
    json_t *history = json_object_get(entry, "history");
    ck_assert_int_eq(json_array_size(history), SLUICE_DLQ_HISTORY_MAX);
    check_parking(history, 0, "ometria", "too large: 900 > 600");
    snprintf(reason, sizeof(reason), "round %d", SLUICE_DLQ_HISTORY_MAX + 2);
    check_parking(history, SLUICE_DLQ_HISTORY_MAX - 1, "ometria", reason);
    json_decref(entry);
    json_decref(record);
    sluice_store_close(&store);
}
END_TEST

START_TEST(test_replay_return)
{
    json_t *rows = NULL, *entry = NULL;
    char *enter_at = NULL;
    sluice_store *store = open_store();
    json_t *record = json_pack("{s:i}", "n", 7);
    int64_t id = sluice_store_dlq_add(store, "old-stage", 1, 1, record, "bad");
    ck_assert_int_eq(sluice_store_replay_add(store, id), 1);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 1, 10, &enter_at, &rows), 1);
    int64_t row = json_integer_value(json_object_get(json_array_get(rows, 0), "id"));
    /* the stage is gone: back into the DLQ with the reason and history */
    id = sluice_store_replay_return(store, row, 2, 1, "no stage 'old-stage' any more");
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(sluice_store_replay_count(store), 0);
    ck_assert_int_eq(sluice_store_replay_return(store, row, 2, 1, "again"), 0);
    ck_assert_int_eq(sluice_store_dlq_get(store, id, &entry), 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "stage")), "old-stage");
    ck_assert_str_eq(json_string_value(json_object_get(entry, "reason")),
                     "no stage 'old-stage' any more");
    ck_assert(json_equal(json_object_get(entry, "record"), record));
    check_parking(json_object_get(entry, "history"), 0, "old-stage", "bad");
    json_decref(entry);
    free(enter_at);
    json_decref(rows);
    json_decref(record);
    sluice_store_close(&store);
}
END_TEST

/* Run `sql` on a new database at `path` with sqlite3 itself. */
static void write_database(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *errmsg = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &errmsg) == SQLITE_OK, "sql: %s", errmsg);
    sqlite3_close(db);
}

START_TEST(test_state_db_before_history)
{
    char dir[512], path[600], err[512] = "";
    json_t *entry = NULL, *rows = NULL;
    char *enter_at = NULL;
    /* the dlq and replay tables as sluice wrote them before the history
     * column, with one entry parked and one queued for replay */
    snprintf(dir, sizeof(dir), "%s/old", state_dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/state.db", dir);
    write_database(path,
        "CREATE TABLE dlq(id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL,"
        "  epoch INTEGER NOT NULL, batch_id INTEGER NOT NULL, reason TEXT NOT NULL,"
        "  record TEXT NOT NULL, record_sha256 TEXT NOT NULL, parked_at TEXT NOT NULL);"
        "CREATE UNIQUE INDEX dlq_dedup ON dlq(stage, record_sha256, reason);"
        "CREATE TABLE replay(id INTEGER PRIMARY KEY AUTOINCREMENT, dlq_id INTEGER,"
        "  stage TEXT NOT NULL, reason TEXT NOT NULL, record TEXT NOT NULL,"
        "  queued_at TEXT NOT NULL, taken_epoch INTEGER, taken_batch INTEGER);"
        "INSERT INTO dlq(stage, epoch, batch_id, reason, record, record_sha256, parked_at)"
        "  VALUES('ometria', 1, 1, 'too large', '{\"a\":1}', 'x', '2026-12-01T00:00:00Z');"
        "INSERT INTO replay(dlq_id, stage, reason, record, queued_at)"
        "  VALUES(9, 'derive', 'stale?', '{\"b\":2}', '2026-12-01T00:00:00Z');");
    for (int open_count = 0; open_count < 2; open_count++) { /* migrated once, then as is */
        sluice_store *store = sluice_store_open(dir, err, sizeof(err));
        ck_assert_msg(store != NULL, "open of an older state.db: %s", err);
        sluice_store_close(&store);
    }
    sluice_store *store = sluice_store_open(dir, err, sizeof(err));
    ck_assert_int_eq(sluice_store_dlq_get(store, 1, &entry), 0);
    ck_assert_ptr_nonnull(entry);
    ck_assert_int_eq(json_array_size(json_object_get(entry, "history")), 0);
    json_decref(entry);
    /* the row queued before: its own parking is its history */
    ck_assert_int_eq(sluice_store_replay_take(store, 1, 1, 10, &enter_at, &rows), 1);
    ck_assert_str_eq(enter_at, "derive");
    json_t *parking = json_array_get(json_object_get(json_array_get(rows, 0), "history"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(parking, "stage")), "derive");
    ck_assert_str_eq(json_string_value(json_object_get(parking, "reason")), "stale?");
    free(enter_at);
    json_decref(rows);
    /* and the old entry replays with its parking as history (after the
     * row of the older batch, taken again in the new epoch) */
    ck_assert_int_eq(sluice_store_replay_add(store, 1), 1);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 1, 10, &enter_at, &rows), 1);
    ck_assert_str_eq(enter_at, "derive");
    free(enter_at);
    json_decref(rows);
    ck_assert_int_eq(sluice_store_replay_take(store, 2, 2, 10, &enter_at, &rows), 1);
    ck_assert_str_eq(enter_at, "ometria");
    check_parking(json_object_get(json_array_get(rows, 0), "history"), 0, "ometria",
                  "too large");
    free(enter_at);
    json_decref(rows);
    sluice_store_close(&store);
}
END_TEST

START_TEST(test_nested_transaction_rollback)
{
    json_t *value = NULL;
    sluice_store *store = open_store();
    json_t *writes = json_pack("{s:i}", "k", 1);
    ck_assert_int_eq(sluice_store_begin(store), 0);
    ck_assert_int_eq(sluice_store_kv_apply(store, "s", writes), 0);
    ck_assert_int_eq(sluice_store_checkpoint_set(store, "s", writes), 0);
    ck_assert_int_eq(sluice_store_end(store, 0), -1); /* rolled back */
    ck_assert_int_eq(sluice_store_kv_get(store, "s", "k", &value), 0);
    ck_assert_ptr_null(value);
    ck_assert_int_eq(sluice_store_checkpoint_get(store, "s", &value), 0);
    ck_assert_ptr_null(value);
    json_decref(writes);
    sluice_store_close(&store);
}
END_TEST

enum { WRITES_PER_PROCESS = 300 };

/* Child body: open its own handle and hammer the store. Exit status 0 on
 * success. */
static void writer_process(const char *stage)
{
    char dir[512], err[512];
    snprintf(dir, sizeof(dir), "%s/state/sub", state_dir);
    sluice_store *store = sluice_store_open(dir, err, sizeof(err));
    if (!store)
        _exit(10);
    for (int i = 0; i < WRITES_PER_PROCESS; i++) {
        char key[64];
        uint64_t epoch;
        snprintf(key, sizeof(key), "key:%04d", i);
        json_t *writes = json_pack("{s:i}", key, i);
        json_t *record = json_pack("{s:s,s:i}", "stage", stage, "i", i);
        if (sluice_store_kv_apply(store, stage, writes) != 0 ||
            sluice_store_dlq_add(store, stage, 1, (uint64_t)i, record, "test") <= 0 ||
            sluice_store_next_epoch(store, "shared", &epoch) != 0)
            _exit(11);
        json_decref(writes);
        json_decref(record);
    }
    sluice_store_close(&store);
    _exit(0);
}

/* Counts callback invocations. */
static int count_keys(const char *key, const json_t *value, void *user)
{
    (*(int *)user)++;
    return 0;
}

START_TEST(test_two_processes_write_at_once)
{
    sluice_store *store = open_store(); /* creates the schema */
    pid_t children[2];
    const char *stages[2] = { "alpha", "beta" };
    for (int c = 0; c < 2; c++) {
        children[c] = fork();
        ck_assert_int_ge(children[c], 0);
        if (children[c] == 0)
            writer_process(stages[c]);
    }
    for (int c = 0; c < 2; c++) {
        int status = 0;
        ck_assert_int_eq(waitpid(children[c], &status, 0), children[c]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %s failed (status %d)", stages[c], status);
    }
    uint64_t epoch = 0;
    int keys = 0;
    ck_assert_int_eq(sluice_store_next_epoch(store, "shared", &epoch), 0);
    ck_assert_uint_eq(epoch, 2 * WRITES_PER_PROCESS + 1); /* no lost increment */
    ck_assert_int_eq(sluice_store_dlq_count(store), 2 * WRITES_PER_PROCESS);
    ck_assert_int_eq(sluice_store_kv_foreach(store, "alpha", "key:", count_keys, &keys), 0);
    ck_assert_int_eq(sluice_store_kv_foreach(store, "beta", "key:", count_keys, &keys), 0);
    ck_assert_int_eq(keys, 2 * WRITES_PER_PROCESS);
    sluice_store_close(&store);
}
END_TEST

/* The store logs its errors without knowing its caller: the lines must
 * still name the pipeline and stage of the process (they were null). */
START_TEST(test_errors_name_the_pipeline)
{
    sluice_store *store = open_store();
    char db_path[600], log_path[600], logged[4096];
    sqlite3 *db = NULL;
    json_t *cp = json_pack("{s:i}", "offset", 1);
    int fd, saved;
    ssize_t got;

    /* a table gone behind the store's back makes its next write fail */
    snprintf(db_path, sizeof(db_path), "%s/state/sub/state.db", state_dir);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE checkpoints", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    snprintf(log_path, sizeof(log_path), "%s/log.txt", state_dir);
    fd = open(log_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    sluice_log_setup(SLUICE_LOG_INFO, SLUICE_LOG_FORMAT_JSON);
    sluice_log_set_origin("acme", "src");
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    ck_assert_int_ne(sluice_store_checkpoint_set(store, "src", cp), 0);
    /* a caller that names its pipeline keeps it */
    sluice_log_write("other", NULL, SLUICE_LOG_INFO, "named");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    got = read(fd, logged, sizeof(logged) - 1);
    close(fd);
    ck_assert_int_gt(got, 0);
    logged[got] = '\0';
    ck_assert_msg(strstr(logged, "\"pipeline\":\"acme\",\"stage\":\"src\"") &&
                  strstr(logged, "no such table: checkpoints"), "logged: %s", logged);
    ck_assert_msg(strstr(logged, "\"pipeline\":\"other\",\"stage\":null"), "logged: %s", logged);
    json_decref(cp);
    sluice_store_close(&store);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *suite = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_epochs_and_checkpoints);
    tcase_add_test(tc, test_kv_rows);
    tcase_add_test(tc, test_dlq_crud_and_dedup);
    tcase_add_test(tc, test_replay_queue);
    tcase_add_test(tc, test_replay_one_stage_per_take);
    tcase_add_test(tc, test_replay_keeps_history);
    tcase_add_test(tc, test_replay_return);
    tcase_add_test(tc, test_state_db_before_history);
    tcase_add_test(tc, test_nested_transaction_rollback);
    tcase_add_test(tc, test_two_processes_write_at_once);
    tcase_add_test(tc, test_errors_name_the_pipeline);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(store_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
