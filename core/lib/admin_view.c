/* admin_view.c: what the top `sluice run` process knows of its pipelines
 * (their files and directories, each supervisor's pid and how it ended),
 * as the admin endpoint's pipeline list (admin.h). The run loop writes
 * it, the admin threads read it: one mutex. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin.h"
#include "pipeline.h"
#include "util/clock.h"

struct sluice_admin_view {
    pthread_mutex_t lock;
    sluice_pipeline_def *const *defs;
    size_t n;
    long *pids;      /* supervisor pid, 0 before it started */
    int *codes;      /* exit code, -1 while it runs */
    double *started; /* wall clock (s) its supervisor started */
};

sluice_admin_view *sluice_admin_view_new(sluice_pipeline_def *const *defs, size_t n)
{
    sluice_admin_view *view = calloc(1, sizeof(*view));

    if (!view)
        return NULL;
    view->pids = calloc(n ? n : 1, sizeof(*view->pids));
    view->codes = calloc(n ? n : 1, sizeof(*view->codes));
    view->started = calloc(n ? n : 1, sizeof(*view->started));
    if (!view->pids || !view->codes || !view->started) {
        sluice_admin_view_free(&view);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        view->codes[i] = -1;
    view->defs = defs;
    view->n = n;
    pthread_mutex_init(&view->lock, NULL);
    return view;
}

void sluice_admin_view_started(sluice_admin_view *view, size_t i, long pid)
{
    if (!view || i >= view->n)
        return;
    pthread_mutex_lock(&view->lock);
    view->pids[i] = pid;
    view->codes[i] = -1;
    view->started[i] = sluice_wall_seconds();
    pthread_mutex_unlock(&view->lock);
}

void sluice_admin_view_ended(sluice_admin_view *view, size_t i, int exit_code)
{
    if (!view || i >= view->n)
        return;
    pthread_mutex_lock(&view->lock);
    view->codes[i] = exit_code < 0 ? 1 : exit_code;
    pthread_mutex_unlock(&view->lock);
}

size_t sluice_admin_view_list(void *cls, sluice_admin_pipeline **out)
{
    sluice_admin_view *view = cls;
    sluice_admin_pipeline *list;

    *out = NULL;
    if (!view->n || !(list = calloc(view->n, sizeof(*list))))
        return 0;
    pthread_mutex_lock(&view->lock);
    for (size_t i = 0; i < view->n; i++) {
        const sluice_pipeline_def *def = view->defs[i];

        snprintf(list[i].name, sizeof(list[i].name), "%s", def->name);
        snprintf(list[i].file, sizeof(list[i].file), "%s", def->file ? def->file : "");
        snprintf(list[i].runtime_dir, sizeof(list[i].runtime_dir), "%s", def->runtime_dir);
        list[i].supervisor_pid = view->pids[i];
        list[i].exit_code = view->pids[i] ? view->codes[i] : -1;
        list[i].started_at = view->started[i];
    }
    pthread_mutex_unlock(&view->lock);
    *out = list;
    return view->n;
}

void sluice_admin_view_free(sluice_admin_view **view_p)
{
    sluice_admin_view *view = view_p ? *view_p : NULL;

    if (!view)
        return;
    if (view->pids && view->codes && view->started)
        pthread_mutex_destroy(&view->lock);
    free(view->pids);
    free(view->codes);
    free(view->started);
    free(view);
    *view_p = NULL;
}
