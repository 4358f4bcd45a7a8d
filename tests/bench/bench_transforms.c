/* bench_transforms.c: in-process benchmark of the field-mapper and
 * tier-event-deriver plugins. Loads a real pipeline file with the real
 * loader (so the options are exactly what init() gets at run time), loads
 * the plugins with the real registry, gives each stage a real SQLite
 * store, and times the process() callback (thread CPU time) over generated
 * batches; state commits, which the runtime does on acknowledgement, are
 * timed apart (wall time, they fsync). Linked with the sluice executable's
 * allocator (jemalloc when available, see tests/unit/transforms.mk).
 *
 * usage: bench_transforms PIPELINE.cfg SAMPLE.json RECORDS
 * prints: field-mapper: N records/s
 *         tier-event-deriver: N records/s (M events derived, commits X s)
 * exit 0, or 1 with a message on stderr. */
#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"
#include "loytime.h"

#define BATCH_RECORDS 500

/* CPU time of this thread: the figure is "records/s on one core", and the
 * machine running it may be shared, so wall time would measure the
 * neighbours. Commits (fsync) are measured in wall time. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const sluice_stage_def *find_stage(const sluice_pipeline_def *def, const char *plugin)
{
    for (size_t i = 0; i < def->stage_count; i++) {
        if (strcmp(def->stages[i].plugin_name, plugin) == 0)
            return &def->stages[i];
    }
    return NULL;
}

/* Member record `i` of `members` on pass `pass` (0 first sight, 1 later):
 * ids, dates and points vary so the deriver has real work to do. */
static json_t *make_member(const json_t *sample, size_t i, size_t members, int pass)
{
    static const char *const tiers[] = { "Bronze", "Silver", "Gold", "Platinum" };
    json_t *record = json_deep_copy(sample);
    char id[32], as_of[LOYTIME_TS_LEN], achieved[LOYTIME_DATE_LEN];
    /* Spread the members over 365 days per pass, in stream order. */
    int64_t day = loytime_days_from_civil(2025, 1, 1) + pass * 365 + (int64_t)(i * 365 / members);
    size_t tier = (i + (size_t)pass * (i % 3 == 0)) % 4;
    snprintf(id, sizeof(id), "LID-%09zu", i);
    json_object_set_new(record, "kind", json_string("member"));
    json_object_set_new(record, "loyalty_id", json_string(id));
    json_object_set_new(record, "as_of",
                        json_string(loytime_format_timestamp(day * 86400 + 3600, as_of, sizeof(as_of))));
    json_object_set_new(record, "earned_points", json_integer(1000 + (json_int_t)(i % 500) * pass * 7));
    json_object_set_new(record, "used_points", json_integer(500 + (json_int_t)(i % 7) * pass));
    json_object_set_new(record, "current_tier", json_string(tiers[tier]));
    json_object_set_new(record, "next_tier", tier == 3 ? json_null() : json_string(tiers[tier + 1]));
    json_object_set_new(record, "points_req_for_next_tier",
                        json_integer(tier == 3 ? 0 : (json_int_t)((i * 37 + (size_t)pass * 211) % 900)));
    json_object_set_new(record, "tier_achieve_date",
                        json_string(loytime_format_date(day - 300 - (int64_t)(i % 400), achieved,
                                                        sizeof(achieved))));
    json_object_set_new(record, "opt_in_status", json_string((i + (size_t)pass) % 5 ? "yes" : "no"));
    return record;
}

/* Run `plugin` of `stage` over the records; returns records/s. */
static double run_stage(const sluice_pipeline_def *def, const sluice_stage_def *stage,
                        sluice_store *store, json_t *records, size_t *derived,
                        double *commit_seconds)
{
    struct sluice_ctx ctx;
    void *state = NULL;
    double busy = 0, start;
    size_t total = json_array_size(records), batch_id = 0;

    memset(&ctx, 0, sizeof(ctx));
    ctx.pipeline = def;
    ctx.stage = stage;
    ctx.store = store;
    ctx.kv = sluice_kv_new(store, stage->name);
    if (!ctx.kv || stage->plugin->init(&ctx, stage->config, &state) != SLUICE_OK) {
        fprintf(stderr, "%s: init failed: %s\n", stage->name, ctx.fail_message);
        exit(1);
    }
    *derived = 0;
    *commit_seconds = 0;
    for (size_t first = 0; first < total; first += BATCH_RECORDS) {
        sluice_batch *batch = sluice_batch_new(1, ++batch_id, BATCH_RECORDS);
        size_t n = total - first < BATCH_RECORDS ? total - first : BATCH_RECORDS;
        for (size_t i = 0; i < n; i++)
            sluice_batch_append(batch, json_deep_copy(json_array_get(records, first + i)));
        start = cpu_seconds();
        if (stage->plugin->process(&ctx, state, batch) != SLUICE_OK) {
            fprintf(stderr, "%s: process failed: %s\n", stage->name, ctx.fail_message);
            exit(1);
        }
        busy += cpu_seconds() - start;
        *derived += sluice_batch_count(batch) - n;
        start = now_seconds();
        if (sluice_kv_commit(ctx.kv, 1, batch_id) != 0) {
            fprintf(stderr, "%s: commit failed\n", stage->name);
            exit(1);
        }
        *commit_seconds += now_seconds() - start;
        sluice_batch_destroy(&batch);
    }
    if (stage->plugin->fini)
        stage->plugin->fini(&ctx, state);
    sluice_kv_destroy(&ctx.kv);
    return (double)total / busy;
}

int main(int argc, char **argv)
{
    char err[1024];
    sluice_error error;
    sluice_registry *reg;
    sluice_pipeline_def *def = NULL;
    const sluice_stage_def *mapper_stage, *deriver_stage;
    sluice_store *store;
    json_t *sample, *records;
    json_error_t jerr;
    size_t count, derived;
    double rate, commits;
    static const char *const needed[] = { "file-source", "file-sink", "field-mapper",
                                           "tier-event-deriver", NULL };

    if (argc != 4) {
        fprintf(stderr, "usage: %s PIPELINE.cfg SAMPLE.json RECORDS\n", argv[0]);
        return 1;
    }
    count = (size_t)strtoul(argv[3], NULL, 10);
    sample = json_load_file(argv[2], 0, &jerr);
    reg = sluice_registry_new();
    if (!sample || !reg || count == 0) {
        fprintf(stderr, "cannot read %s: %s\n", argv[2], sample ? "bad count" : jerr.text);
        return 1;
    }
    for (size_t i = 0; needed[i]; i++) {
        if (!sluice_registry_require(reg, needed[i], err, sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    if (sluice_pipeline_load(argv[1], reg, &def, &error) != 0) {
        fprintf(stderr, "%s\n", error.text);
        return 1;
    }
    mapper_stage = find_stage(def, "field-mapper");
    deriver_stage = find_stage(def, "tier-event-deriver");
    store = sluice_store_open(def->state_dir, err, sizeof(err));
    if (!mapper_stage || !deriver_stage || !store) {
        fprintf(stderr, "pipeline needs field-mapper and tier-event-deriver stages (%s)\n",
                store ? "" : err);
        return 1;
    }

    /* field-mapper: the Ometria member mapping over the sample record. */
    records = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(records, make_member(sample, i, count, 0));
    rate = run_stage(def, mapper_stage, store, records, &derived, &commits);
    printf("field-mapper: %.0f records/s\n", rate);
    json_decref(records);

    /* tier-event-deriver: count/2 members seen twice, a year apart. */
    records = json_array();
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < count / 2; i++)
            json_array_append_new(records, make_member(sample, i, count / 2, pass));
    }
    rate = run_stage(def, deriver_stage, store, records, &derived, &commits);
    printf("tier-event-deriver: %.0f records/s (%zu events derived; state commits %.2f s apart)\n",
           rate, derived, commits);
    json_decref(records);

    sluice_store_close(&store);
    sluice_pipeline_free(&def);
    sluice_registry_destroy(&reg);
    json_decref(sample);
    return 0;
}
