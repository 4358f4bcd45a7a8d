/* metrics.c: process-local counters keyed by (pipeline, stage, name); a
 * mutex-protected list, small enough that a linear scan is the right tool
 * (a few dozen counters per process). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

typedef struct metric {
    char *pipeline; /* NULL = engine-wide */
    char *stage;    /* NULL = engine-wide */
    char *name;
    double value;
    struct metric *next;
} metric;

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static metric *metrics_head;
static metric *metrics_tail;

/* NULL-safe string equality. */
static int same_text(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* strdup that maps NULL to NULL; sets *failed on allocation failure. */
static char *dup_or_null(const char *text, int *failed)
{
    char *copy;

    if (!text)
        return NULL;
    copy = strdup(text);
    if (!copy)
        *failed = 1;
    return copy;
}

/* Find a counter; caller holds metrics_lock. Returns it or NULL. */
static metric *find_locked(const char *pipeline, const char *stage, const char *name)
{
    for (metric *m = metrics_head; m; m = m->next) {
        if (same_text(m->name, name) && same_text(m->stage, stage) &&
            same_text(m->pipeline, pipeline))
            return m;
    }
    return NULL;
}

void sluice_metrics_add(const char *pipeline, const char *stage, const char *name,
                        double delta)
{
    metric *m;
    int failed = 0;

    if (!name)
        return;
    pthread_mutex_lock(&metrics_lock);
    m = find_locked(pipeline, stage, name);
    if (!m) {
        m = calloc(1, sizeof(*m));
        if (!m)
            goto out;
        m->pipeline = dup_or_null(pipeline, &failed);
        m->stage = dup_or_null(stage, &failed);
        m->name = dup_or_null(name, &failed);
        if (failed) {
            free(m->pipeline);
            free(m->stage);
            free(m->name);
            free(m);
            m = NULL;
            goto out;
        }
        if (metrics_tail)
            metrics_tail->next = m;
        else
            metrics_head = m;
        metrics_tail = m;
    }
    m->value += delta;
out:
    pthread_mutex_unlock(&metrics_lock);
}

double sluice_metrics_get(const char *pipeline, const char *stage, const char *name)
{
    metric *m;
    double value = 0;

    pthread_mutex_lock(&metrics_lock);
    m = find_locked(pipeline, stage, name);
    if (m)
        value = m->value;
    pthread_mutex_unlock(&metrics_lock);
    return value;
}

json_t *sluice_metrics_snapshot(void)
{
    json_t *all = json_array();

    if (!all)
        return NULL;
    pthread_mutex_lock(&metrics_lock);
    for (metric *m = metrics_head; m; m = m->next) {
        json_t *row = json_pack("{s:s, s:s?, s:s?, s:f}", "name", m->name,
                                "pipeline", m->pipeline, "stage", m->stage,
                                "value", m->value);
        if (!row || json_array_append_new(all, row) != 0) {
            json_decref(all);
            all = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    return all;
}

void sluice_metrics_reset(void)
{
    metric *m;

    pthread_mutex_lock(&metrics_lock);
    m = metrics_head;
    while (m) {
        metric *next = m->next;
        free(m->pipeline);
        free(m->stage);
        free(m->name);
        free(m);
        m = next;
    }
    metrics_head = NULL;
    metrics_tail = NULL;
    pthread_mutex_unlock(&metrics_lock);
}
