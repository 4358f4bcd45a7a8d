/* test_store.c: unit tests of store.c on real SQLite files: epochs,
 * checkpoints, kv rows, DLQ CRUD and de-duplication, the replay queue,
 * and two processes writing the same database at once. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "store.h"

static char state_dir[256];

/* nftw callback removing one entry. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void setup(void)
{
    snprintf(state_dir, sizeof(state_dir), "/tmp/sluice-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
}

static void teardown(void)
{
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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

START_TEST(test_replay_queue)
{
    json_t *records = NULL;
    sluice_store *store = open_store();
    json_t *r1 = json_pack("{s:i}", "n", 1), *r2 = json_pack("{s:i}", "n", 2),
           *r3 = json_pack("{s:i}", "n", 3);
    int64_t id1 = sluice_store_dlq_add(store, "sink", 1, 1, r1, "bad");
    sluice_store_dlq_add(store, "sink", 1, 1, r2, "bad");
    sluice_store_dlq_add(store, "sink", 1, 2, r3, "bad");
    ck_assert_int_eq(sluice_store_replay_add(store, 9999), 0);
    ck_assert_int_eq(sluice_store_replay_add(store, id1), 1);
    ck_assert_int_eq(sluice_store_dlq_count(store), 2);
    ck_assert_int_eq(sluice_store_replay_add(store, 0), 2);
    ck_assert_int_eq(sluice_store_dlq_count(store), 0);
    ck_assert_int_eq(sluice_store_replay_count(store), 3);

    /* epoch 5: batch 1 takes two, batch 2 the last one, then nothing */
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 1, 2, &records), 2);
    ck_assert(json_equal(json_array_get(records, 0), r1));
    ck_assert(json_equal(json_array_get(records, 1), r2));
    json_decref(records);
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 2, 10, &records), 1);
    ck_assert(json_equal(json_array_get(records, 0), r3));
    json_decref(records);
    ck_assert_int_eq(sluice_store_replay_take(store, 5, 3, 10, &records), 0);
    json_decref(records);

    /* batch 1 acknowledged; batch 2 lost: a rewind (epoch 6) gets r3 again */
    ck_assert_int_eq(sluice_store_replay_ack(store, 5, 1), 2);
    ck_assert_int_eq(sluice_store_replay_take(store, 6, 1, 10, &records), 1);
    ck_assert(json_equal(json_array_get(records, 0), r3));
    json_decref(records);
    ck_assert_int_eq(sluice_store_replay_ack(store, 5, 2), 0); /* stale ack: no effect */
    ck_assert_int_eq(sluice_store_replay_ack(store, 6, 1), 1);
    ck_assert_int_eq(sluice_store_replay_count(store), 0);
    json_decref(r1);
    json_decref(r2);
    json_decref(r3);
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
    tcase_add_test(tc, test_nested_transaction_rollback);
    tcase_add_test(tc, test_two_processes_write_at_once);
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
