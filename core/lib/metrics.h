/* metrics.h: process-local counters keyed by (pipeline, stage, name), for
 * the core's own counters (HTTP requests, retries, 429s) and the plugins'
 * sluice_metric_add(). Thread-safe. The runtime exposes snapshots. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <jansson.h>

/* Add `delta` to the counter `name` of (pipeline, stage); the counter is
 * created at 0 on first use. pipeline/stage may be NULL (engine-wide).
 * Names are full metric names, e.g. "sluice_http_requests_total" or
 * "sluice_plugin_contacts_sent_total". Allocation failures drop the update
 * silently (metrics never fail the pipeline). */
void sluice_metrics_add(const char *pipeline, const char *stage, const char *name,
                        double delta);

/* Current value of one counter, 0 if it was never touched. */
double sluice_metrics_get(const char *pipeline, const char *stage, const char *name);

/* Snapshot of every counter as a JSON array (new reference; NULL on
 * allocation failure) of objects
 * {"name": "...", "pipeline": "..."|null, "stage": "..."|null, "value": N},
 * in creation order. */
json_t *sluice_metrics_snapshot(void);

/* Forget every counter (tests, process exit). */
void sluice_metrics_reset(void);
#endif
