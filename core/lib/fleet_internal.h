/* fleet_internal.h: what fleet.c publishes for fleet_state.c to copy out
 * (sluice_fleet_snapshot_get). Internal to core/lib. */
#ifndef SLUICE_FLEET_INTERNAL_H
#define SLUICE_FLEET_INTERNAL_H

#include "fleet.h"

/* One pipeline as published: its public part, and where the snapshot
 * finds its stage pids and its supervisor's status. */
typedef struct fleet_published {
    sluice_fleet_pipeline info;      /* stages[].label filled, pids and
                                        restarts read at snapshot time */
    char runtime_dir[1024];          /* "" when no version was loaded */
} fleet_published;

/* The admin endpoint's list of pipelines (sluice_admin_list_fn, admin.h)
 * from what the fleet published last; `cls` unused. Thread-safe. */
struct sluice_admin_pipeline;
size_t fleet_admin_list(void *cls, struct sluice_admin_pipeline **out);

/* Replace what sluice_fleet_snapshot_get() reads by `items` (`n` of them;
 * ownership passes to fleet_state.c, NULL/0 for none) and the fleet-wide
 * figures. Thread-safe. */
void fleet_state_publish(const char *dir, unsigned reloads, int64_t last_reload_at_ms,
                         unsigned last_reload_refused, fleet_published *items, size_t n);
#endif
