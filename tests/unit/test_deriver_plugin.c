/* test_deriver_plugin.c: unit tests (Check) of the tier-event-deriver
 * plugin glue through its real callbacks: the module loaded by the real
 * registry, state in a real SQLite store with staged writes committed or
 * discarded the way the runtime does on acks and rewinds. Covers what the
 * pure rule tests cannot: source events not derived twice, stale drop and
 * pass, the anniversary sweep across batches, the member cache and index
 * brought back after a rewind discarded staged writes, rejections reaching
 * the batch. */
#include <config.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"

typedef struct harness {
    char dir[64];
    sluice_registry *reg;
    const sluice_plugin *plugin;
    sluice_pipeline_def pipeline;
    sluice_stage_def stage;
    sluice_store *store;
    struct sluice_ctx ctx;
    void *state;
} harness;

static harness h;

/* Start the deriver with `options` (JSON text) over a fresh store. */
static void start(const char *options)
{
    char err[512];
    memset(&h, 0, sizeof(h));
    snprintf(h.dir, sizeof(h.dir), "/tmp/test_deriver_plugin.XXXXXX");
    ck_assert(mkdtemp(h.dir) != NULL);
    h.reg = sluice_registry_new();
    h.plugin = sluice_registry_require(h.reg, "tier-event-deriver", err, sizeof(err));
    ck_assert_msg(h.plugin != NULL, "%s (SLUICE_PLUGIN_PATH=%s)", err, getenv("SLUICE_PLUGIN_PATH"));
    h.pipeline.name = "test";
    h.pipeline.state_dir = h.dir;
    h.stage.name = "derive";
    h.stage.plugin_name = "tier-event-deriver";
    h.stage.plugin = h.plugin;
    h.stage.config = json_loads(options, 0, NULL);
    ck_assert(h.stage.config != NULL);
    h.store = sluice_store_open(h.dir, err, sizeof(err));
    ck_assert_msg(h.store != NULL, "%s", err);
    h.ctx.pipeline = &h.pipeline;
    h.ctx.stage = &h.stage;
    h.ctx.store = h.store;
    h.ctx.kv = sluice_kv_new(h.store, "derive");
    ck_assert(h.ctx.kv != NULL);
    ck_assert_int_eq(h.plugin->init(&h.ctx, h.stage.config, &h.state), SLUICE_OK);
}

static void stop(void)
{
    char command[128];
    h.plugin->fini(&h.ctx, h.state);
    sluice_kv_destroy(&h.ctx.kv);
    sluice_store_close(&h.store);
    json_decref(h.stage.config);
    sluice_registry_destroy(&h.reg);
    snprintf(command, sizeof(command), "rm -rf '%s'", h.dir);
    ck_assert_int_eq(system(command), 0);
}

static void start_default(void)
{
    start("{\"tier_ladder\":[\"Bronze\",\"Silver\",\"Gold\"],\"close_threshold\":\"100\","
          "\"stale\":\"drop\",\"clock\":\"event\",\"state_prefix\":\"\"}");
}

/* Run one batch of `records` (JSON array text) under (epoch, id). */
static sluice_batch *run_batch(uint64_t epoch, uint64_t id, const char *records)
{
    json_t *list = json_loads(records, 0, NULL), *record;
    sluice_batch *batch = sluice_batch_new(epoch, id, 500);
    size_t i;
    ck_assert(list != NULL && batch != NULL);
    json_array_foreach(list, i, record)
        sluice_batch_append(batch, json_incref(record));
    json_decref(list);
    ck_assert_int_eq(h.plugin->process(&h.ctx, h.state, batch), SLUICE_OK);
    return batch;
}

/* Number of live event records of `type` in the batch. */
static int count_events(sluice_batch *batch, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *record = sluice_batch_get(batch, i);
        const char *kind = json_string_value(json_object_get(record, "kind"));
        const char *event_type = json_string_value(json_object_get(record, "event_type"));
        if (kind && !strcmp(kind, "event") && event_type && !strcmp(event_type, type))
            n++;
    }
    return n;
}

START_TEST(test_source_event_not_derived_again)
{
    /* The opt_in id of L1 at 2026-01-10T09:00:00Z, as a source delivered it. */
    sluice_batch *batch;
    start_default();
    batch = run_batch(1, 1,
        "[{\"kind\":\"event\",\"event_type\":\"opt_in\",\"event_id\":\"7fae9438c89b506ff2c4ef4612479d25\","
        "\"loyalty_id\":\"L1\",\"occurred_at\":\"2026-01-10T09:00:00Z\",\"origin\":\"source\",\"properties\":{}},"
        "{\"kind\":\"member\",\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"opt_in_status\":\"yes\","
        "\"opt_in_date\":\"2026-01-10T09:00:00Z\"},"
        "{\"kind\":\"member\",\"loyalty_id\":\"L2\",\"as_of\":\"2026-01-10T09:00:00Z\",\"opt_in_status\":\"yes\","
        "\"opt_in_date\":\"2026-01-10T09:00:00Z\"}]");
    /* L1's opt_in came from the source; only L2's is derived. */
    ck_assert_uint_eq(sluice_batch_count(batch), 4);
    ck_assert_int_eq(count_events(batch, "opt_in"), 2);
    ck_assert_str_eq(json_string_value(json_object_get(sluice_batch_get(batch, 3), "loyalty_id")), "L2");
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

START_TEST(test_stale_drop_and_pass)
{
    sluice_batch *batch;
    start_default();
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"earned_points\":100}]");
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 1), 0);
    sluice_batch_destroy(&batch);
    batch = run_batch(1, 2, "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-09T09:00:00Z\",\"earned_points\":500}]");
    ck_assert(sluice_batch_get(batch, 0) == NULL); /* dropped */
    ck_assert_uint_eq(sluice_batch_count(batch), 1);
    sluice_batch_destroy(&batch);
    stop();

    start("{\"tier_ladder\":[\"Bronze\"],\"stale\":\"pass\"}");
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"earned_points\":100},"
                            "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-09T09:00:00Z\",\"earned_points\":500}]");
    ck_assert(sluice_batch_get(batch, 1) != NULL); /* passed on, unchanged */
    ck_assert_int_eq(count_events(batch, "point_accrual"), 0);
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

START_TEST(test_bad_record_rejected_rest_goes_on)
{
    sluice_batch *batch;
    start_default();
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"used_points\":-3},"
                            "{\"loyalty_id\":\"L2\",\"as_of\":\"2026-01-10T09:00:00Z\",\"opt_in_status\":\"yes\"}]");
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_REJECTED);
    ck_assert_str_eq(batch->slots[0].reason, "field 'used_points': not a non-negative integer: '-3'");
    ck_assert(sluice_batch_get(batch, 1) != NULL);
    ck_assert_int_eq(count_events(batch, "opt_in"), 1);
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

START_TEST(test_sweep_across_batches_and_after_rewind)
{
    sluice_batch *batch;
    start_default();
    /* B reached Gold on 2025-03-01: its first anniversary is 2026-03-01. */
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"B\",\"as_of\":\"2026-01-10T09:00:00Z\",\"email\":\"b@example.com\","
                            "\"current_tier\":\"Gold\",\"tier_achieve_date\":\"2025-03-01\"}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 0);
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 1), 0);
    sluice_batch_destroy(&batch);

    /* Another member's record moves the clock to 2026-02-28: not yet. */
    batch = run_batch(1, 2, "[{\"loyalty_id\":\"C\",\"as_of\":\"2026-02-28T23:59:59Z\"}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 0);
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 2), 0);
    sluice_batch_destroy(&batch);

    /* ... then to 2026-03-02: B's anniversary is appended, once. */
    batch = run_batch(1, 3, "[{\"loyalty_id\":\"C\",\"as_of\":\"2026-03-02T08:00:00Z\"}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(sluice_batch_get(batch, 1), "occurred_at")),
                     "2026-03-01T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(sluice_batch_get(batch, 1), "email")), "b@example.com");
    sluice_batch_destroy(&batch);

    /* The batch is never acknowledged: a rewind discards its staged state
     * and the source sends it again under a new epoch. The anniversary is
     * derived again, with the same id (the index was rebuilt). */
    sluice_kv_discard_before(h.ctx.kv, 2);
    batch = run_batch(2, 1, "[{\"loyalty_id\":\"C\",\"as_of\":\"2026-03-02T08:00:00Z\"}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 1);
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 2, 1), 0);
    sluice_batch_destroy(&batch);

    /* Acknowledged now: later records do not fire it again. */
    batch = run_batch(2, 2, "[{\"loyalty_id\":\"C\",\"as_of\":\"2026-03-05T08:00:00Z\"}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 0);
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

/* "type:event_id " of every event in the batch, in order (caller frees). */
static char *event_list(sluice_batch *batch)
{
    size_t used = 0, size = 4096;
    char *text = calloc(1, size);
    ck_assert(text != NULL);
    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *record = sluice_batch_get(batch, i);
        const char *kind = json_string_value(json_object_get(record, "kind"));
        int n;
        if (!kind || strcmp(kind, "event") != 0)
            continue;
        n = snprintf(text + used, size - used, "%s:%s ",
                     json_string_value(json_object_get(record, "event_type")),
                     json_string_value(json_object_get(record, "event_id")));
        ck_assert(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    return text;
}

/* A rewind discards two unacknowledged batches that changed a known member
 * (tier, points) and introduced a new one: the replayed batches derive the
 * very same events again, i.e. the plugin's in-memory member states went
 * back to the committed ones (a member cache ahead of the store would see
 * no upgrade, no accrual and no first-sight opt-in). */
START_TEST(test_replay_after_rewind_derives_the_same)
{
    static const char *const second =
        "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-11T09:00:00Z\",\"current_tier\":\"Silver\","
        "\"tier_achieve_date\":\"2026-01-11\",\"earned_points\":1500},"
        "{\"loyalty_id\":\"L2\",\"as_of\":\"2026-01-11T10:00:00Z\",\"opt_in_status\":\"yes\"}]";
    static const char *const third =
        "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-12T09:00:00Z\",\"earned_points\":1600}]";
    sluice_batch *batch;
    char *first_second, *first_third, *again;
    start_default();
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                            "\"current_tier\":\"Bronze\",\"tier_achieve_date\":\"2025-06-01\","
                            "\"earned_points\":100}]");
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 1), 0);
    sluice_batch_destroy(&batch);

    batch = run_batch(1, 2, second);
    first_second = event_list(batch);
    ck_assert_int_eq(count_events(batch, "tier_upgrade"), 1);
    ck_assert_int_eq(count_events(batch, "point_accrual"), 1);
    ck_assert_int_eq(count_events(batch, "opt_in"), 1);
    sluice_batch_destroy(&batch);
    batch = run_batch(1, 3, third);
    first_third = event_list(batch);
    ck_assert_int_eq(count_events(batch, "point_accrual"), 1);
    sluice_batch_destroy(&batch);

    /* Neither batch is acknowledged: the rewind discards both. */
    sluice_kv_discard_before(h.ctx.kv, 2);
    batch = run_batch(2, 1, second);
    again = event_list(batch);
    ck_assert_str_eq(again, first_second);
    free(again);
    sluice_batch_destroy(&batch);
    batch = run_batch(2, 2, third);
    again = event_list(batch);
    ck_assert_str_eq(again, first_third);
    free(again);
    sluice_batch_destroy(&batch);
    free(first_second);
    free(first_third);
    stop();
}
END_TEST

START_TEST(test_restart_keeps_committed_state)
{
    sluice_batch *batch;
    start_default();
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"B\",\"as_of\":\"2026-01-10T09:00:00Z\","
                            "\"current_tier\":\"Gold\",\"tier_achieve_date\":\"2025-03-01\",\"earned_points\":10}]");
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 1), 0);
    sluice_batch_destroy(&batch);
    /* A new instance (a restarted process) over the same store. */
    h.plugin->fini(&h.ctx, h.state);
    sluice_kv_destroy(&h.ctx.kv);
    h.ctx.kv = sluice_kv_new(h.store, "derive");
    ck_assert_int_eq(h.plugin->init(&h.ctx, h.stage.config, &h.state), SLUICE_OK);
    batch = run_batch(2, 1, "[{\"loyalty_id\":\"B\",\"as_of\":\"2026-03-01T09:00:00Z\",\"earned_points\":40}]");
    ck_assert_int_eq(count_events(batch, "tier_anniversary"), 1);
    ck_assert_int_eq(count_events(batch, "point_accrual"), 1);
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

/* An erase record (docs/erasure.md) gets the member's last email when it
 * has none, passes on, and the member's state is forgotten with the
 * batch: the next sight of the member is a first sight (opt_in again),
 * also after a restart. */
START_TEST(test_erase_forgets_the_member)
{
    sluice_batch *batch;
    json_t *erase;
    start_default();
    batch = run_batch(1, 1, "[{\"loyalty_id\":\"E\",\"as_of\":\"2026-01-10T09:00:00Z\","
                            "\"email\":\"e@example.com\",\"opt_in_status\":\"yes\","
                            "\"opt_in_date\":\"2026-01-10T09:00:00Z\"}]");
    ck_assert_int_eq(count_events(batch, "opt_in"), 1);
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 1), 0);
    sluice_batch_destroy(&batch);
    batch = run_batch(1, 2, "[{\"kind\":\"erase\",\"loyalty_id\":\"E\","
                            "\"requested_at\":\"2026-01-11T00:00:00Z\",\"via\":\"cli\"}]");
    ck_assert_uint_eq(sluice_batch_count(batch), 1);
    erase = sluice_batch_get(batch, 0);
    ck_assert_ptr_nonnull(erase);
    ck_assert_str_eq(json_string_value(json_object_get(erase, "email")), "e@example.com");
    ck_assert_int_eq(sluice_kv_commit(h.ctx.kv, 1, 2), 0);
    sluice_batch_destroy(&batch);
    /* a restarted process over the same store knows nothing of E */
    h.plugin->fini(&h.ctx, h.state);
    sluice_kv_destroy(&h.ctx.kv);
    h.ctx.kv = sluice_kv_new(h.store, "derive");
    ck_assert_int_eq(h.plugin->init(&h.ctx, h.stage.config, &h.state), SLUICE_OK);
    batch = run_batch(2, 1, "[{\"loyalty_id\":\"E\",\"as_of\":\"2026-01-12T09:00:00Z\","
                            "\"opt_in_status\":\"yes\",\"opt_in_date\":\"2026-01-12T09:00:00Z\"}]");
    ck_assert_int_eq(count_events(batch, "opt_in"), 1);
    sluice_batch_destroy(&batch);
    stop();
}
END_TEST

static Suite *deriver_plugin_suite(void)
{
    Suite *s = suite_create("deriver-plugin");
    TCase *tc = tcase_create("glue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_source_event_not_derived_again);
    tcase_add_test(tc, test_stale_drop_and_pass);
    tcase_add_test(tc, test_bad_record_rejected_rest_goes_on);
    tcase_add_test(tc, test_sweep_across_batches_and_after_rewind);
    tcase_add_test(tc, test_replay_after_rewind_derives_the_same);
    tcase_add_test(tc, test_restart_keeps_committed_state);
    tcase_add_test(tc, test_erase_forgets_the_member);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(deriver_plugin_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
