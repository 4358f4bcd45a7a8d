/* fleet_state.c: the fleet's state as other threads of `sluice run --dir`
 * read it (sluice_fleet_snapshot_get): fleet.c publishes a fresh table
 * after every change, under a mutex; a snapshot copies it out, then reads
 * each running pipeline's stage pid files and its supervisor's status
 * file (supervisor.status: restarts, last error) outside the lock. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "admin.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "supervisor_internal.h"

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static fleet_published *table;
static size_t table_count;
static sluice_fleet_snapshot header; /* dir, reloads; no pipelines */

const char *sluice_fleet_state_name(sluice_fleet_state state)
{
    static const char *const names[] = {"starting", "running", "draining",
                                        "failed", "refused", "stopped"};

    return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

void fleet_state_publish(const char *dir, unsigned reloads, int64_t last_reload_at_ms,
                         unsigned last_reload_refused, fleet_published *items, size_t n)
{
    fleet_published *old;

    pthread_mutex_lock(&state_lock);
    old = table;
    table = items;
    table_count = n;
    snprintf(header.dir, sizeof(header.dir), "%s", dir ? dir : "");
    header.reloads = reloads;
    header.last_reload_at_ms = last_reload_at_ms;
    header.last_reload_refused = last_reload_refused;
    pthread_mutex_unlock(&state_lock);
    free(old);
}

/* The pid in <runtime_dir>/<label>.pid, or 0 if none is readable. */
static pid_t read_stage_pid(const char *runtime_dir, const char *label)
{
    char path[1300];
    long pid = 0;
    FILE *f;

    if (snprintf(path, sizeof(path), "%s/%s.pid", runtime_dir, label) >= (int)sizeof(path))
        return 0;
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Fill restarts and (when none is set yet) last_error of `p` from its
 * supervisor's status file in `runtime_dir`, if readable. */
static void read_supervisor_status(const char *runtime_dir, sluice_fleet_pipeline *p)
{
    char path[1300];
    json_t *doc, *entry;
    const char *error;
    size_t i;

    if (snprintf(path, sizeof(path), "%s/%s", runtime_dir, SUP_STATUS_FILE) >=
        (int)sizeof(path))
        return;
    doc = json_load_file(path, 0, NULL);
    if (!doc)
        return;
    if (json_integer_value(json_object_get(doc, "pid")) == (json_int_t)p->supervisor_pid) {
        p->restarts = 0;
        json_array_foreach(json_object_get(doc, "units"), i, entry)
            p->restarts += (unsigned)json_integer_value(json_object_get(entry, "restarts"));
        error = json_string_value(json_object_get(json_object_get(doc, "last_error"),
                                                  "message"));
        if (error && *error && !p->last_error[0])
            snprintf(p->last_error, sizeof(p->last_error), "%s", error);
    }
    json_decref(doc);
}

int sluice_fleet_snapshot_get(sluice_fleet_snapshot *out)
{
    fleet_published *copy = NULL;
    size_t n;
    int result = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&state_lock);
    n = table_count;
    *out = header;
    out->pipelines = NULL;
    out->count = 0;
    if (n > 0) {
        copy = malloc(n * sizeof(*copy));
        if (copy)
            memcpy(copy, table, n * sizeof(*copy));
    }
    pthread_mutex_unlock(&state_lock);
    if (n > 0 && !copy) {
        result = -1;
        goto out;
    }
    out->pipelines = calloc(n ? n : 1, sizeof(*out->pipelines));
    if (!out->pipelines) {
        result = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sluice_fleet_pipeline *p = &out->pipelines[i];

        *p = copy[i].info;
        if (!copy[i].runtime_dir[0] || p->supervisor_pid <= 0 ||
            p->state == SLUICE_FLEET_FAILED || p->state == SLUICE_FLEET_STOPPED)
            continue;
        for (size_t k = 0; k < p->stage_count; k++)
            p->stages[k].pid = read_stage_pid(copy[i].runtime_dir, p->stages[k].label);
        read_supervisor_status(copy[i].runtime_dir, p);
    }
    out->count = n;
out:
    free(copy);
    return result;
}

int sluice_fleet_reloads(unsigned *reloads, int64_t *last_reload_at_ms, unsigned *refused)
{
    int running;

    pthread_mutex_lock(&state_lock);
    running = header.dir[0] != '\0';
    *reloads = header.reloads;
    *last_reload_at_ms = header.last_reload_at_ms;
    *refused = header.last_reload_refused;
    pthread_mutex_unlock(&state_lock);
    return running;
}

void sluice_fleet_snapshot_free(sluice_fleet_snapshot *snap)
{
    free(snap->pipelines);
    memset(snap, 0, sizeof(*snap));
}

size_t fleet_admin_list(void *cls, sluice_admin_pipeline **out)
{
    sluice_admin_pipeline *list = NULL;
    size_t n;

    (void)cls;
    *out = NULL;
    pthread_mutex_lock(&state_lock);
    n = table_count;
    if (n > 0)
        list = calloc(n, sizeof(*list));
    for (size_t i = 0; list && i < n; i++) {
        const sluice_fleet_pipeline *p = &table[i].info;

        snprintf(list[i].name, sizeof(list[i].name), "%s", p->name);
        snprintf(list[i].file, sizeof(list[i].file), "%s", p->file);
        snprintf(list[i].runtime_dir, sizeof(list[i].runtime_dir), "%s", table[i].runtime_dir);
        list[i].supervisor_pid = p->supervisor_pid;
        list[i].exit_code = p->state == SLUICE_FLEET_REFUSED ? SLUICE_EXIT_CONFIG
                                                             : p->exit_code;
        snprintf(list[i].error, sizeof(list[i].error), "%.*s", (int)sizeof(list[i].error) - 1,
                 p->last_error);
        list[i].started_at = (double)p->started_at_ms / 1000.0;
        list[i].reloads = p->reloads;
    }
    pthread_mutex_unlock(&state_lock);
    *out = list;
    return list ? n : 0;
}
