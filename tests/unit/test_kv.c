/* test_kv.c: unit tests of kv.c over a real SQLite store: staged writes
 * are visible newest first, commit applies batches in order up to an id,
 * discard forgets old epochs, foreach merges staged and committed. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kv.h"
#include "support/unit_support.h"

static char state_dir[256];
static sluice_store *store;
static sluice_kv *kv;

static void setup(void)
{
    char err[512] = "";
    snprintf(state_dir, sizeof(state_dir), "/tmp/sluice-test-kv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_msg(store != NULL, "%s", err);
    kv = sluice_kv_new(store, "deriver");
    ck_assert_ptr_nonnull(kv);
}

static void teardown(void)
{
    sluice_kv_destroy(&kv);
    sluice_store_close(&store);
    unit_remove_tree(state_dir);
}

/* Stage an integer value (or delete with value < 0). */
static void stage_int(uint64_t epoch, uint64_t id, const char *key, int value)
{
    json_t *json = value < 0 ? NULL : json_integer(value);
    ck_assert_int_eq(sluice_kv_stage(kv, epoch, id, key, json), 0);
    json_decref(json);
}

/* Current integer value of key through kv, -1 when absent. */
static json_int_t get_int(const char *key)
{
    json_t *value = sluice_kv_get(kv, key);
    json_int_t result = value ? json_integer_value(value) : -1;
    json_decref(value);
    return result;
}

/* Committed integer value of key in the store, -1 when absent. */
static json_int_t committed_int(const char *key)
{
    json_t *value = NULL;
    ck_assert_int_eq(sluice_store_kv_get(store, "deriver", key, &value), 0);
    json_int_t result = value ? json_integer_value(value) : -1;
    json_decref(value);
    return result;
}

START_TEST(test_staged_visibility)
{
    ck_assert_int_eq(get_int("a"), -1);
    stage_int(1, 1, "a", 10);
    stage_int(1, 2, "a", 20);
    ck_assert_int_eq(get_int("a"), 20); /* newest batch wins */
    ck_assert_int_eq(committed_int("a"), -1); /* nothing durable yet */
    stage_int(1, 3, "a", -1);
    ck_assert_int_eq(get_int("a"), -1); /* staged delete hides it */
    /* a late write into an older batch does not hide newer ones */
    stage_int(1, 1, "b", 1);
    stage_int(1, 2, "b", 2);
    stage_int(1, 1, "b", 3);
    ck_assert_int_eq(get_int("b"), 2);
}
END_TEST

START_TEST(test_commit_order)
{
    stage_int(1, 1, "a", 1);
    stage_int(1, 1, "b", 1);
    stage_int(1, 2, "a", 2);
    stage_int(1, 3, "a", 3);
    stage_int(1, 3, "c", 3);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 2), 0);
    ck_assert_int_eq(committed_int("a"), 2); /* batch 2 overrode batch 1 */
    ck_assert_int_eq(committed_int("b"), 1);
    ck_assert_int_eq(committed_int("c"), -1); /* batch 3 not acknowledged */
    ck_assert_int_eq(get_int("a"), 3);         /* still sees staged batch 3 */
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 3), 0);
    ck_assert_int_eq(committed_int("a"), 3);
    ck_assert_int_eq(committed_int("c"), 3);
    /* a staged delete commits as a delete */
    stage_int(1, 4, "b", -1);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 4), 0);
    ck_assert_int_eq(committed_int("b"), -1);
    ck_assert_int_eq(get_int("b"), -1);
    /* nothing staged: commit is a no-op */
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 99), 0);
}
END_TEST

START_TEST(test_discard_before)
{
    stage_int(1, 1, "a", 1);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 1), 0);
    stage_int(1, 2, "a", 2);
    stage_int(1, 3, "b", 2);
    /* rewind: epoch 2 replays batch 2 and 3 with other values */
    sluice_kv_discard_before(kv, 2);
    ck_assert_int_eq(get_int("a"), 1); /* back to committed */
    ck_assert_int_eq(get_int("b"), -1);
    stage_int(2, 1, "a", 5);
    ck_assert_int_eq(get_int("a"), 5);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 3), 0); /* stale ack: nothing left */
    ck_assert_int_eq(committed_int("a"), 1);
    ck_assert_int_eq(sluice_kv_commit(kv, 2, 1), 0);
    ck_assert_int_eq(committed_int("a"), 5);
}
END_TEST

START_TEST(test_unstage)
{
    stage_int(1, 1, "a", 1);
    json_t *now = json_integer(7);
    json_t *writes = json_pack("{s:O}", "a", now);
    ck_assert_int_eq(sluice_store_kv_apply(store, "deriver", writes), 0);
    sluice_kv_unstage(kv, "a");
    ck_assert_int_eq(get_int("a"), 7);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 1), 0);
    ck_assert_int_eq(committed_int("a"), 7); /* the old staged write is gone */
    json_decref(writes);
    json_decref(now);
}
END_TEST

/* Appends "key=value;" to the buffer in user. */
/* sluice_kv_stage_new keeps the very value it was given (no copy), sees
 * it newest first like sluice_kv_stage, commits it, and a rewind discards
 * it; a NULL value deletes. */
START_TEST(test_stage_new_takes_ownership)
{
    json_t *state = json_pack("{s:s, s:i}", "tier", "Gold", "points", 120);
    ck_assert_ptr_nonnull(state);
    json_incref(state); /* our reference, to check identity below */
    ck_assert_int_eq(sluice_kv_stage_new(kv, 1, 1, "m/1", state), 0);
    json_t *seen = sluice_kv_get(kv, "m/1");
    ck_assert_ptr_eq(seen, state); /* the same object: nothing was copied */
    json_decref(seen);
    ck_assert_int_eq(sluice_kv_stage_new(kv, 1, 2, "m/2", json_integer(7)), 0);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 1), 0);
    json_t *committed = NULL;
    ck_assert_int_eq(sluice_store_kv_get(store, "deriver", "m/1", &committed), 0);
    ck_assert(json_equal(committed, state));
    json_decref(committed);
    ck_assert_int_eq(get_int("m/2"), 7);
    sluice_kv_discard_before(kv, 2); /* batch (1, 2) is rewound away */
    ck_assert_int_eq(get_int("m/2"), -1);
    ck_assert_int_eq(sluice_kv_stage_new(kv, 2, 1, "m/1", NULL), 0);
    ck_assert_ptr_null(sluice_kv_get(kv, "m/1")); /* staged delete */
    ck_assert_int_eq(sluice_kv_stage_new(NULL, 2, 1, "x", json_integer(1)), -1);
    json_decref(state);
}
END_TEST

static int list_keys(const char *key, const json_t *value, void *user)
{
    char *buf = user;
    size_t used = strlen(buf);
    snprintf(buf + used, 512 - used, "%s=%lld;", key, (long long)json_integer_value(value));
    return 0;
}

/* Stops at the first key. */
static int stop_at_first(const char *key, const json_t *value, void *user)
{
    return 42;
}

START_TEST(test_foreach_merges)
{
    char listed[512] = "";
    stage_int(1, 1, "m:1", 1);
    stage_int(1, 1, "m:2", 2);
    stage_int(1, 1, "x:1", 9);
    ck_assert_int_eq(sluice_kv_commit(kv, 1, 1), 0);
    stage_int(1, 2, "m:2", -1); /* deleted, not yet committed */
    stage_int(1, 2, "m:3", 3);  /* new, not yet committed */
    stage_int(1, 2, "m:1", 10); /* changed */
    ck_assert_int_eq(sluice_kv_foreach(kv, "m:", list_keys, listed), 0);
    ck_assert_str_eq(listed, "m:1=10;m:3=3;");
    ck_assert_int_eq(sluice_kv_foreach(kv, "", stop_at_first, NULL), 42);
}
END_TEST

static Suite *kv_suite(void)
{
    Suite *suite = suite_create("kv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_staged_visibility);
    tcase_add_test(tc, test_commit_order);
    tcase_add_test(tc, test_discard_before);
    tcase_add_test(tc, test_unstage);
    tcase_add_test(tc, test_foreach_merges);
    tcase_add_test(tc, test_stage_new_takes_ownership);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(kv_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
