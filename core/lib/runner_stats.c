/* runner_stats.c: the per-process statistics file a runner keeps
 * (<runtime_dir>/<label>.stats), which a restarted process continues, the
 * supervisor sums for the --once summary and the admin endpoint reads
 * for its metrics, health and status (admin_gather.c). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "metrics.h"
#include "runner.h"
#include "util/clock.h"

/* Upper bounds (seconds) of the ack latency histogram's buckets. */
const double runner_latency_bounds[RUNNER_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

const char *const runner_dlq_class_names[RUNNER_DLQ_CLASSES] = {
    "too_large", "missing_field", "invalid", "refused", "stale", "other"};

/* 1 if `needle` (lower case) occurs in `text` ignoring case. */
static int contains_nocase(const char *text, const char *needle)
{
    size_t n = strlen(needle);

    for (; *text; text++) {
        size_t i = 0;
        while (i < n && text[i] && tolower((unsigned char)text[i]) == needle[i])
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

size_t runner_dlq_class(const char *reason)
{
    static const struct {
        const char *word;
        size_t cls;
    } rules[] = {
        {"too large", 0}, {"too big", 0},
        {"missing", 1}, {"required", 1},
        {"http 4", 3}, {"refused", 3}, {"rejected by", 3}, {"not accepted", 3},
        {"stale", 4}, {"older than", 4}, {"too old", 4},
        {"invalid", 2}, {"not a ", 2}, {"expects", 2}, {"malformed", 2}, {"cannot parse", 2},
        {"not valid", 2}, {"bad ", 2}, {"unknown", 2}, {"not json", 2}, {"out of range", 2},
    };

    if (!reason)
        return RUNNER_DLQ_CLASSES - 1;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (contains_nocase(reason, rules[i].word))
            return rules[i].cls;
    }
    return RUNNER_DLQ_CLASSES - 1;
}

void runner_stats_parked(runner *r, const char *reason)
{
    r->m.rejected++;
    r->m.dlq[runner_dlq_class(reason)]++;
}

void runner_stats_ack_latency(runner *r, double seconds)
{
    size_t b = 0;

    if (seconds < 0)
        seconds = 0;
    while (b < RUNNER_LATENCY_BUCKETS && seconds > runner_latency_bounds[b])
        b++;
    r->m.latency[b]++;
    r->m.latency_sum += seconds;
    r->m.latency_count++;
}

/* Number `key` of object `doc` as an unsigned count (0 if absent). */
static uint64_t count_of(const json_t *doc, const char *key)
{
    double v = json_number_value(json_object_get(doc, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* Continue the counters r->m from a previous incarnation's file `doc`,
 * and its process counters (re-added to this process's sluice_metrics, so
 * they count on from there). */
static void load_metrics(runner *r, const json_t *doc)
{
    const json_t *dlq = json_object_get(doc, "dlq");
    const json_t *lat = json_object_get(doc, "ack_latency");
    const json_t *counters = json_object_get(doc, "counters");
    const char *name;
    json_t *value;

    r->m.received = count_of(doc, "received");
    r->m.sent = count_of(doc, "sent");
    r->m.rejected = count_of(doc, "rejected");
    r->m.batches = count_of(doc, "batches");
    r->m.last_commit = json_number_value(json_object_get(doc, "last_commit"));
    for (size_t c = 0; c < RUNNER_DLQ_CLASSES; c++)
        r->m.dlq[c] = count_of(dlq, runner_dlq_class_names[c]);
    if (json_array_size(json_object_get(lat, "counts")) == RUNNER_LATENCY_BUCKETS + 1) {
        for (size_t b = 0; b <= RUNNER_LATENCY_BUCKETS; b++) {
            double v = json_number_value(json_array_get(json_object_get(lat, "counts"), b));
            r->m.latency[b] = v > 0 ? (uint64_t)v : 0;
        }
        r->m.latency_sum = json_number_value(json_object_get(lat, "sum"));
        r->m.latency_count = count_of(lat, "count");
    }
    json_object_foreach((json_t *)counters, name, value) {
        /* events are kept in base_events; a gauge (the HTTP concurrency
         * limit, the HTTP pace) is this process's own, not a sum over
         * incarnations */
        if (strcmp(name, SLUICE_METRIC_EVENTS_DERIVED) != 0 &&
            strcmp(name, "sluice_http_concurrency_limit") != 0 &&
            strcmp(name, "sluice_http_paced_rate") != 0)
            sluice_metrics_add(r->pipeline->name, r->stage->name, name,
                               json_number_value(value));
    }
}

void runner_stats_load(runner *r)
{
    json_t *doc;

    if (sluice_stage_stats_path(r->pipeline, r->label, r->stats_path,
                                sizeof(r->stats_path)) != 0) {
        r->stats_path[0] = '\0';
        return;
    }
    doc = json_load_file(r->stats_path, 0, NULL);
    if (doc) {
        r->base_in = json_number_value(json_object_get(doc, "records_in"));
        r->base_delivered = json_number_value(json_object_get(doc, "delivered"));
        r->base_events = json_number_value(json_object_get(doc, "events_derived"));
        load_metrics(r, doc);
        json_decref(doc);
    }
    runner_stats_save(r, 1); /* the stage shows (with its pid) before any batch */
}

/* The role of the runner's stage, as the admin endpoint names it. */
static const char *role_of(const runner *r)
{
    if (r->index == 0)
        return "source";
    return r->index + 1 == r->pipeline->stage_count ? "sink" : "transform";
}

/* This process's counters of the runner's stage as an object name ->
 * value (new reference; NULL on allocation failure). */
static json_t *stage_counters(const runner *r)
{
    json_t *all = sluice_metrics_snapshot();
    json_t *mine = json_object();
    size_t i;
    json_t *row;

    if (!all || !mine) {
        json_decref(all);
        json_decref(mine);
        return NULL;
    }
    json_array_foreach(all, i, row) {
        const char *pipeline = json_string_value(json_object_get(row, "pipeline"));
        const char *stage = json_string_value(json_object_get(row, "stage"));
        const char *name = json_string_value(json_object_get(row, "name"));

        if (pipeline && stage && name && strcmp(pipeline, r->pipeline->name) == 0 &&
            strcmp(stage, r->stage->name) == 0)
            json_object_set_new(mine, name, json_real(json_number_value(json_object_get(row, "value"))));
    }
    json_decref(all);
    return mine;
}

/* r->m (and the last error) as members of `doc`. Returns 0 or -1 on
 * allocation failure. */
static int add_metrics(const runner *r, json_t *doc)
{
    json_t *dlq = json_object();
    json_t *counts = json_array();
    json_t *counters = stage_counters(r);
    char error[400];
    double error_at = sluice_log_last_error(error, sizeof(error));
    int result = -1;

    if (!dlq || !counts || !counters)
        goto out;
    if (json_object_get(counters, SLUICE_METRIC_EVENTS_DERIVED)) /* + earlier incarnations */
        json_object_set_new(counters, SLUICE_METRIC_EVENTS_DERIVED,
                            json_real(r->base_events + json_number_value(json_object_get(
                                          counters, SLUICE_METRIC_EVENTS_DERIVED))));
    for (size_t c = 0; c < RUNNER_DLQ_CLASSES; c++)
        json_object_set_new(dlq, runner_dlq_class_names[c], json_integer((json_int_t)r->m.dlq[c]));
    for (size_t b = 0; b <= RUNNER_LATENCY_BUCKETS; b++)
        json_array_append_new(counts, json_integer((json_int_t)r->m.latency[b]));
    if (json_object_set_new(doc, "role", json_string(role_of(r))) != 0 ||
        json_object_set_new(doc, "stage", json_string(r->stage->name)) != 0 ||
        json_object_set_new(doc, "index", json_integer((json_int_t)r->index)) != 0 ||
        json_object_set_new(doc, "label", json_string(r->label)) != 0 ||
        json_object_set_new(doc, "pid", json_integer((json_int_t)getpid())) != 0 ||
        json_object_set_new(doc, "received", json_integer((json_int_t)r->m.received)) != 0 ||
        json_object_set_new(doc, "sent", json_integer((json_int_t)r->m.sent)) != 0 ||
        json_object_set_new(doc, "rejected", json_integer((json_int_t)r->m.rejected)) != 0 ||
        json_object_set_new(doc, "batches", json_integer((json_int_t)r->m.batches)) != 0 ||
        json_object_set_new(doc, "in_flight", json_integer((json_int_t)r->m.in_flight)) != 0 ||
        json_object_set_new(doc, "last_commit", json_real(r->m.last_commit)) != 0 ||
        json_object_set_new(doc, "updated", json_real(sluice_wall_seconds())) != 0 ||
        json_object_set_new(doc, "dlq", dlq) != 0)
        goto out;
    dlq = NULL;
    if (json_object_set_new(doc, "ack_latency",
                            json_pack("{s:o, s:f, s:I}", "counts", counts, "sum",
                                      r->m.latency_sum, "count",
                                      (json_int_t)r->m.latency_count)) != 0) {
        counts = NULL;
        goto out;
    }
    counts = NULL;
    if (json_object_set_new(doc, "counters", counters) != 0) {
        counters = NULL;
        goto out;
    }
    counters = NULL;
    if (r->ctx.has_read_position &&
        json_object_set_new(doc, "position", json_pack("{s:f, s:f}", "read",
                                                       r->ctx.read_position, "end",
                                                       r->ctx.read_end)) != 0)
        goto out;
    if (atomic_load(&r->ctx.has_spool) &&
        json_object_set_new(doc, "spool", json_pack("{s:f, s:f}", "depth",
                                                    atomic_load(&r->ctx.spool_depth), "oldest_at",
                                                    atomic_load(&r->ctx.spool_oldest_at))) != 0)
        goto out;
    if (error_at > 0 &&
        json_object_set_new(doc, "last_error", json_pack("{s:f, s:s}", "at", error_at,
                                                         "message", error)) != 0)
        goto out;
    result = 0;
out:
    json_decref(dlq);
    json_decref(counts);
    json_decref(counters);
    return result;
}

/* A number that changes whenever something the file shows changes (an
 * idle stage does not rewrite its file every STATS_INTERVAL_MS). */
static double changes_signature(const runner *r)
{
    char error[8];

    return (double)(r->m.received + r->m.sent + r->m.rejected + r->m.batches +
                    r->m.latency_count + r->m.in_flight * 7919 + r->records_in + r->delivered) +
           r->m.last_commit + sluice_log_last_error(error, sizeof(error)) +
           r->ctx.read_position * 3 + r->ctx.read_end * 5 +
           atomic_load(&r->ctx.spool_depth) * 11 + atomic_load(&r->ctx.spool_oldest_at) +
           sluice_metrics_get(r->pipeline->name, r->stage->name, "sluice_http_requests_total");
}

void runner_stats_save(runner *r, int force)
{
    char tmp[SLUICE_ENDPOINT_MAX + 8];
    json_t *doc = NULL;
    int64_t now = sluice_clock_ms();
    double events, sig;

    if (!r->stats_path[0] || (!force && now - r->stats_written_ms < STATS_INTERVAL_MS))
        return;
    sig = changes_signature(r);
    if (!force && sig == r->stats_written_sig)
        return;
    r->stats_written_sig = sig;
    r->stats_written_ms = now;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->stats_path) >= (int)sizeof(tmp))
        return;
    events = sluice_metrics_get(r->pipeline->name, r->stage->name,
                                SLUICE_METRIC_EVENTS_DERIVED);
    doc = json_pack("{s:f, s:f, s:f}", "records_in", r->base_in + (double)r->records_in,
                    "delivered", r->base_delivered + (double)r->delivered,
                    "events_derived", r->base_events + events);
    if (!doc || add_metrics(r, doc) != 0)
        goto out;
    if (json_dump_file(doc, tmp, JSON_COMPACT) == 0 && rename(tmp, r->stats_path) != 0)
        unlink(tmp);
out:
    json_decref(doc);
}

int64_t runner_stats_due(runner *r)
{
    if (!r->stats_path[0] || changes_signature(r) == r->stats_written_sig)
        return 0;
    return r->stats_written_ms + STATS_INTERVAL_MS;
}
