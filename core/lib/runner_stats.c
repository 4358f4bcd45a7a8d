/* runner_stats.c: the per-process statistics file a runner keeps
 * (<runtime_dir>/<label>.stats), which a restarted process continues and
 * the supervisor sums for the --once summary. */
#include "config.h"

#include <stdio.h>
#include <unistd.h>
#include <jansson.h>

#include "metrics.h"
#include "runner.h"
#include "util/clock.h"

void runner_stats_load(runner *r)
{
    json_t *doc;

    if (sluice_stage_stats_path(r->pipeline, r->label, r->stats_path,
                                sizeof(r->stats_path)) != 0) {
        r->stats_path[0] = '\0';
        return;
    }
    doc = json_load_file(r->stats_path, 0, NULL);
    if (!doc)
        return;
    r->base_in = json_number_value(json_object_get(doc, "records_in"));
    r->base_delivered = json_number_value(json_object_get(doc, "delivered"));
    r->base_events = json_number_value(json_object_get(doc, "events_derived"));
    json_decref(doc);
}

void runner_stats_save(runner *r, int force)
{
    char tmp[SLUICE_ENDPOINT_MAX + 8];
    json_t *doc = NULL;
    int64_t now = sluice_clock_ms();
    double events;

    if (!r->stats_path[0] || (!force && now - r->stats_written_ms < STATS_INTERVAL_MS))
        return;
    r->stats_written_ms = now;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->stats_path) >= (int)sizeof(tmp))
        return;
    events = sluice_metrics_get(r->pipeline->name, r->stage->name,
                                SLUICE_METRIC_EVENTS_DERIVED);
    doc = json_pack("{s:f, s:f, s:f}", "records_in", r->base_in + (double)r->records_in,
                    "delivered", r->base_delivered + (double)r->delivered,
                    "events_derived", r->base_events + events);
    if (!doc)
        return;
    if (json_dump_file(doc, tmp, JSON_COMPACT) == 0 && rename(tmp, r->stats_path) != 0)
        unlink(tmp);
    json_decref(doc);
}
