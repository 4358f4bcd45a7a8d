/* admin_prom.c: GET /metrics: the admin model (admin_gather.c, assessed
 * by admin_health.c) in the Prometheus text exposition format 0.0.4:
 * one HELP and TYPE line per family, its samples together, `pipeline`
 * and `stage` labels, `_total` counters, `_seconds` units. The list with
 * meanings is in docs/operations.md, "Metrics, health, status". */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "runner.h"
#include "util/dynbuf.h"

/* Process counters (runner_stats.c "counters") exported under their own
 * name, with their help text (and type when not a counter); sluice_plugin_*
 * ones go through as they are. */
static const struct {
    const char *name;
    const char *help;
    const char *type;
} known_counters[] = {
    {"sluice_http_requests_total", "HTTP requests sent to the destination or source API."},
    {"sluice_http_retries_total", "HTTP requests retried after a retryable answer."},
    {"sluice_http_429_total", "HTTP 429 (rate limited) answers."},
    {"sluice_throttle_wait_seconds_total", "Time spent waiting on the stage's token bucket "
                                           "(rate limit and 429 pauses)."},
    {"sluice_http_concurrency_limit", "HTTP requests the stage may have in flight now "
                                      "(sluice_http_concurrency, adaptive or fixed).", "gauge"},
    {"sluice_http_paced_rate", "HTTP requests/s the stage lets start, learned from the "
                               "server's 429s (0: not pacing).", "gauge"},
};

/* Append `text` as a label value (escaped: backslash, quote, newline). */
static void put_label_value(dynbuf *b, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\\')
            dynbuf_append_str(b, "\\\\");
        else if (*p == '"')
            dynbuf_append_str(b, "\\\"");
        else if (*p == '\n')
            dynbuf_append_str(b, "\\n");
        else
            dynbuf_append(b, p, 1);
    }
}

/* Append a sample line: NAME{pipeline="..",stage="..",EXTRA} VALUE. `stage`
 * and `extra_name` may be NULL. */
static void put_sample(dynbuf *b, const char *name, const char *pipeline, const char *stage,
                       const char *extra_name, const char *extra_value, double value)
{
    dynbuf_printf(b, "%s{pipeline=\"", name);
    put_label_value(b, pipeline);
    if (stage) {
        dynbuf_append_str(b, "\",stage=\"");
        put_label_value(b, stage);
    }
    if (extra_name) {
        dynbuf_printf(b, "\",%s=\"", extra_name);
        put_label_value(b, extra_value);
    }
    if (isinf(value))
        dynbuf_printf(b, "\"} %s\n", value > 0 ? "+Inf" : "-Inf");
    else
        dynbuf_printf(b, "\"} %.17g\n", value);
}

/* HELP and TYPE lines of a family. */
static void put_family(dynbuf *b, const char *name, const char *type, const char *help)
{
    dynbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Number `key` of object `o`. */
static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* One family with one sample per stage: the stage's number `key`, for
 * stages of `role` (NULL: all). */
static void per_stage(dynbuf *b, const json_t *model, const char *name, const char *type,
                      const char *help, const char *key, const char *role)
{
    size_t i, k;
    const json_t *p, *s;

    put_family(b, name, type, help);
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "stages"), k, s) {
            const char *r = json_string_value(json_object_get(s, "role"));
            if (role && (!r || strcmp(r, role) != 0))
                continue;
            put_sample(b, name, json_string_value(json_object_get(p, "name")),
                       json_string_value(json_object_get(s, "name")), NULL, NULL, num(s, key));
        }
    }
}

/* Pipeline-level families: up, healthy, restarts, DLQ at start. */
static void pipeline_families(dynbuf *b, const json_t *model)
{
    size_t i, k;
    const json_t *p, *u;

    put_family(b, "sluice_pipeline_up", "gauge", "1 while the pipeline's processes run.");
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        const char *state = json_string_value(json_object_get(p, "state"));
        put_sample(b, "sluice_pipeline_up", json_string_value(json_object_get(p, "name")), NULL,
                   NULL, NULL, state && strcmp(state, "running") == 0 ? 1 : 0);
    }
    put_family(b, "sluice_pipeline_healthy", "gauge", "1 when /health finds nothing wrong "
               "with the pipeline.");
    json_array_foreach(json_object_get(model, "pipelines"), i, p)
        put_sample(b, "sluice_pipeline_healthy", json_string_value(json_object_get(p, "name")),
                   NULL, NULL, NULL,
                   json_is_true(json_object_get(json_object_get(p, "health"), "ok")) ? 1 : 0);
    put_family(b, "sluice_last_commit_timestamp_seconds", "gauge", "When the source last "
               "committed its checkpoint (Unix time; 0: not since the start).");
    json_array_foreach(json_object_get(model, "pipelines"), i, p)
        put_sample(b, "sluice_last_commit_timestamp_seconds",
                   json_string_value(json_object_get(p, "name")), NULL, NULL, NULL,
                   num(p, "last_commit"));
    put_family(b, "sluice_dlq_entries_at_start", "gauge", "Entries in the dead-letter queue "
               "when the pipeline started.");
    json_array_foreach(json_object_get(model, "pipelines"), i, p)
        put_sample(b, "sluice_dlq_entries_at_start", json_string_value(json_object_get(p, "name")),
                   NULL, NULL, NULL, num(json_object_get(p, "dlq"), "at_start"));
    put_family(b, "sluice_stage_restarts_total", "counter", "Restarts of a stage process by "
               "the supervisor (label `stage`: the process, stages grouped with '+').");
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "units"), k, u)
            put_sample(b, "sluice_stage_restarts_total", json_string_value(json_object_get(p, "name")),
                       json_string_value(json_object_get(u, "label")), NULL, NULL,
                       num(u, "restarts"));
    }
}

/* sluice_dlq_records_total{reason} per stage and reason class. */
static void dlq_family(dynbuf *b, const json_t *model)
{
    size_t i, k;
    const json_t *p, *s;

    put_family(b, "sluice_dlq_records_total", "counter", "Records parked in the dead-letter "
               "queue by a stage, by reason class (too_large, missing_field, invalid, refused, "
               "stale, other).");
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "stages"), k, s) {
            for (size_t c = 0; c < RUNNER_DLQ_CLASSES; c++)
                put_sample(b, "sluice_dlq_records_total", json_string_value(json_object_get(p, "name")),
                           json_string_value(json_object_get(s, "name")), "reason",
                           runner_dlq_class_names[c],
                           num(json_object_get(s, "dlq"), runner_dlq_class_names[c]));
        }
    }
}

/* The ack latency histogram of the sources. */
static void latency_family(dynbuf *b, const json_t *model)
{
    size_t i, k;
    const json_t *p, *s;
    const char *name = "sluice_ack_latency_seconds";

    put_family(b, name, "histogram", "Time from a batch's sending by the source to its "
               "acknowledgement by the whole pipeline.");
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "stages"), k, s) {
            const json_t *lat = json_object_get(s, "ack_latency");
            const json_t *counts = json_object_get(lat, "counts");
            const char *pipeline = json_string_value(json_object_get(p, "name"));
            const char *stage = json_string_value(json_object_get(s, "name"));
            double cumulative = 0;
            char le[32];

            if (json_array_size(counts) != RUNNER_LATENCY_BUCKETS + 1 ||
                strcmp(json_string_value(json_object_get(s, "role")), "source") != 0)
                continue;
            for (size_t q = 0; q < RUNNER_LATENCY_BUCKETS; q++) {
                cumulative += json_number_value(json_array_get(counts, q));
                snprintf(le, sizeof(le), "%g", runner_latency_bounds[q]);
                put_sample(b, "sluice_ack_latency_seconds_bucket", pipeline, stage, "le", le,
                           cumulative);
            }
            cumulative += json_number_value(json_array_get(counts, RUNNER_LATENCY_BUCKETS));
            put_sample(b, "sluice_ack_latency_seconds_bucket", pipeline, stage, "le", "+Inf",
                       cumulative);
            put_sample(b, "sluice_ack_latency_seconds_sum", pipeline, stage, NULL, NULL,
                       num(lat, "sum"));
            put_sample(b, "sluice_ack_latency_seconds_count", pipeline, stage, NULL, NULL,
                       cumulative);
        }
    }
}

/* One family of a process counter named `name` (of `type`, NULL: counter),
 * over every stage that has it. */
static void counter_family(dynbuf *b, const json_t *model, const char *name, const char *help,
                           const char *type)
{
    size_t i, k;
    const json_t *p, *s;

    put_family(b, name, type ? type : "counter", help);
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "stages"), k, s) {
            const json_t *v = json_object_get(json_object_get(s, "counters"), name);
            if (v)
                put_sample(b, name, json_string_value(json_object_get(p, "name")),
                           json_string_value(json_object_get(s, "name")), NULL, NULL,
                           json_number_value(v));
        }
    }
}

/* The HTTP answers by status class, and the plugins' own counters. */
static void process_counter_families(dynbuf *b, const json_t *model)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
    json_t *plugin_names = json_object();
    size_t i, k;
    const json_t *p, *s;
    const char *name;
    json_t *value;

    for (size_t c = 0; c < sizeof(known_counters) / sizeof(known_counters[0]); c++)
        counter_family(b, model, known_counters[c].name, known_counters[c].help,
                       known_counters[c].type);
    put_family(b, "sluice_http_responses_total", "counter", "HTTP answers by status class "
               "(error: no answer, e.g. a timeout or a refused connection).");
    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_array_foreach(json_object_get(p, "stages"), k, s) {
            const json_t *counters = json_object_get(s, "counters");
            for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
                char key[64];
                snprintf(key, sizeof(key), "sluice_http_responses_%s_total", classes[c]);
                if (json_object_get(counters, key))
                    put_sample(b, "sluice_http_responses_total", json_string_value(json_object_get(p, "name")),
                               json_string_value(json_object_get(s, "name")), "status_class",
                               classes[c], num(counters, key));
            }
            json_object_foreach((json_t *)counters, name, value) {
                if (plugin_names && strncmp(name, "sluice_plugin_", 14) == 0)
                    json_object_set_new(plugin_names, name, json_true());
            }
        }
    }
    json_object_foreach(plugin_names, name, value) {
        int valid = 1;
        for (const char *c = name; *c; c++) {
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == ':'))
                valid = 0;
        }
        if (valid)
            counter_family(b, model, name, "A plugin's own counter (sluice_metric_add).", NULL);
    }
    json_decref(plugin_names);
}

/* CPU and resident memory of each stage process (from /proc). */
static void process_families(dynbuf *b, const json_t *model)
{
    static const struct {
        const char *name, *type, *key, *help;
    } families[] = {
        {"sluice_process_cpu_seconds_total", "counter", "cpu_seconds",
         "User and system CPU time of a stage process (label `process`)."},
        {"sluice_process_resident_memory_bytes", "gauge", "rss_bytes",
         "Resident memory of a stage process (label `process`)."},
    };
    size_t i, k, q;
    const json_t *p, *s, *proc;

    for (size_t f = 0; f < 2; f++) {
        put_family(b, families[f].name, families[f].type, families[f].help);
        json_array_foreach(json_object_get(model, "pipelines"), i, p) {
            json_array_foreach(json_object_get(p, "stages"), k, s) {
                json_array_foreach(json_object_get(s, "processes"), q, proc) {
                    if (!json_object_get(proc, families[f].key))
                        continue;
                    put_sample(b, families[f].name, json_string_value(json_object_get(p, "name")),
                               json_string_value(json_object_get(s, "name")), "process",
                               json_string_value(json_object_get(proc, "label")),
                               num(proc, families[f].key));
                }
            }
        }
    }
}

/* What sources report of their read position and spool (the stages that
 * report them only), and the reloads of a fleet (sluice run --dir). */
static void source_and_reload_families(dynbuf *b, const json_t *model)
{
    static const struct {
        const char *name, *object, *key, *help;
    } families[] = {
        {"sluice_source_position", "position", "read", "Items the source has read of a full "
         "read (records where it counts them, e.g. members read; else bytes)."},
        {"sluice_source_position_end", "position", "end", "Items the full read holds (e.g. "
         "members listed, a feed file's size); 0 while not known."},
        {"sluice_source_lag", "position", NULL, "Items of the full read not read yet "
         "(position_end - position; 0 while the end is not known)."},
        {"sluice_source_spool_depth", "spool", "depth", "Events the source's spool holds "
         "(accepted, e.g. webhooks, and not acknowledged end to end yet)."},
        {"sluice_source_spool_oldest_age_seconds", "spool", NULL, "Age of the oldest event "
         "in the source's spool (0 when it is empty)."},
    };
    double now = num(model, "generated");
    const json_t *reloads = json_object_get(model, "reloads");
    size_t i, k;
    const json_t *p, *s;

    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        put_family(b, families[f].name, "gauge", families[f].help);
        json_array_foreach(json_object_get(model, "pipelines"), i, p) {
            json_array_foreach(json_object_get(p, "stages"), k, s) {
                const json_t *o = json_object_get(s, families[f].object);
                double value;

                if (!o)
                    continue;
                if (families[f].key)
                    value = num(o, families[f].key);
                else if (strcmp(families[f].object, "position") == 0)
                    value = num(o, "end") > num(o, "read") ? num(o, "end") - num(o, "read") : 0;
                else
                    value = num(o, "oldest_at") > 0 && now > num(o, "oldest_at")
                                ? now - num(o, "oldest_at") : 0;
                put_sample(b, families[f].name, json_string_value(json_object_get(p, "name")),
                           json_string_value(json_object_get(s, "name")), NULL, NULL, value);
            }
        }
    }
    put_family(b, "sluice_pipeline_reloads_total", "counter", "Times a reload (SIGHUP, "
               "`sluice reload`) started or restarted the pipeline (sluice run --dir).");
    json_array_foreach(json_object_get(model, "pipelines"), i, p)
        put_sample(b, "sluice_pipeline_reloads_total", json_string_value(json_object_get(p, "name")),
                   NULL, NULL, NULL, num(p, "reloads"));
    if (!reloads)
        return;
    put_family(b, "sluice_reloads_total", "counter", "Reloads of the pipeline directory "
               "done (sluice run --dir).");
    dynbuf_printf(b, "sluice_reloads_total %.17g\n", num(reloads, "total"));
    put_family(b, "sluice_last_reload_timestamp_seconds", "gauge", "When the last reload was "
               "done (Unix time; 0: none since the start).");
    dynbuf_printf(b, "sluice_last_reload_timestamp_seconds %.17g\n", num(reloads, "last_at"));
    put_family(b, "sluice_last_reload_refused_files", "gauge", "Files the last reload "
               "refused (their FILE:LINE errors are in /status and the log).");
    dynbuf_printf(b, "sluice_last_reload_refused_files %.17g\n", num(reloads, "last_refused"));
}

char *sluice_admin_prometheus(const json_t *model)
{
    dynbuf b;

    dynbuf_init(&b, 256u * 1024u * 1024u);
    /* about 6 KB per pipeline: one allocation instead of a dozen regrowths */
    dynbuf_reserve(&b, 65536 + 6144 * json_array_size(json_object_get(model, "pipelines")));
    pipeline_families(&b, model);
    per_stage(&b, model, "sluice_records_in_total", "counter", "Records a stage took in "
              "(the source: polled).", "received", NULL);
    per_stage(&b, model, "sluice_records_out_total", "counter", "Records a stage passed on "
              "(the sink: delivered to the destination).", "sent", NULL);
    per_stage(&b, model, "sluice_records_rejected_total", "counter", "Records a stage "
              "parked in the dead-letter queue.", "rejected", NULL);
    dlq_family(&b, model);
    per_stage(&b, model, "sluice_batches_total", "counter", "Batches a stage handled (the "
              "source: sent).", "batches", NULL);
    per_stage(&b, model, "sluice_batches_in_flight", "gauge", "Batches the source sent "
              "that are not acknowledged and committed yet.", "in_flight", "source");
    per_stage(&b, model, "sluice_stage_last_commit_timestamp_seconds", "gauge", "When the "
              "stage last committed (source: checkpoint; others: an acknowledged batch).",
              "last_commit", NULL);
    latency_family(&b, model);
    process_counter_families(&b, model);
    process_families(&b, model);
    source_and_reload_families(&b, model);
    if (b.overflow) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_steal(&b);
}
