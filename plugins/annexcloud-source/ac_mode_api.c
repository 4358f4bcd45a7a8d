/* ac_mode_api.c: annexcloud-source api mode: a full sync through the REST
 * API. Members are enumerated with POST /users/search over opt-in date
 * windows (split while a window comes back full, the endpoint caps results
 * at 50), then fetched in parallel (profile, points, tiers, rewards,
 * activity) under the stage's rate limit. The position {"sync","next",
 * "complete"} lets a restart resume a sync instead of starting over. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_convert.h"
#include "ac_source.h"

#define MAX_CONCURRENCY 32

typedef struct api_mode {
    json_t *ids;            /* enumerated member ids of the running sync, or NULL */
    json_t *segments;       /* member id -> [segment names] for this sync, or NULL */
    size_t next;            /* index of the next member to fetch */
    json_int_t sync;        /* number of the running (or last) sync */
    int complete;           /* the last sync ran to the end */
    int synced_this_run;    /* a sync completed since this process started */
    time_t last_sync_end;
    time_t since;
    int concurrency;
    long interval_s;
} api_mode;

/* One parallel fetch: members ids[first .. first+count). */
typedef struct fetch_job {
    ac_source *src;
    api_mode *mode;
    size_t first, count;
    json_t **members;       /* per slot: canonical record or NULL */
    ac_result *results;
    char (*errors)[256];
    size_t next_slot;       /* guarded by lock */
    pthread_mutex_t lock;
    char as_of[21];
} fetch_job;

static void *fetch_worker(void *arg)
{
    fetch_job *job = arg;

    for (;;) {
        size_t slot;
        const char *id;

        pthread_mutex_lock(&job->lock);
        slot = job->next_slot++;
        pthread_mutex_unlock(&job->lock);
        if (slot >= job->count || sluice_stopping(job->src->ctx))
            break;
        id = json_string_value(json_array_get(job->mode->ids, job->first + slot));
        job->results[slot] = ac_fetch_member(&job->src->client, id, job->mode->segments, job->as_of,
                                             &job->members[slot], job->errors[slot],
                                             sizeof(job->errors[slot]));
    }
    return NULL;
}

static ac_result search_adapter(void *user, time_t start, time_t end, json_t **users, char *err,
                                size_t errlen)
{
    return ac_search_window(user, start, end, users, err, errlen);
}

/* Enumerate members and read segments for a new or resumed sync. */
static sluice_status begin_sync(ac_source *src, api_mode *mode)
{
    char err[512];
    size_t searches = 0;
    time_t to = time(NULL) + 86400; /* clocks differ: look a day ahead */
    ac_result result;

    mode->ids = json_array();
    result = ac_enumerate(search_adapter, &src->client, mode->since, to, mode->ids, &searches, err,
                          sizeof(err));
    if (result == AC_OK && ac_opt_bool(src, "fetch_segments"))
        result = ac_fetch_segments(&src->client, &mode->segments, err, sizeof(err));
    if (result != AC_OK) {
        json_decref(mode->ids);
        mode->ids = NULL;
        json_decref(mode->segments);
        mode->segments = NULL;
        if (result == AC_FATAL)
            return SLUICE_FATAL;
        if (result == AC_RETRY) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "member enumeration failed, will retry: %s", err);
            return SLUICE_RETRY;
        }
        sluice_fail(src->ctx, "member enumeration refused: %s", err);
        return SLUICE_FATAL;
    }
    if (mode->next > json_array_size(mode->ids))
        mode->next = 0;
    sluice_log(src->ctx, SLUICE_LOG_INFO, "sync %" JSON_INTEGER_FORMAT ": %zu members (%zu searches)%s",
               mode->sync, json_array_size(mode->ids), searches,
               mode->next ? ", resuming" : "");
    return SLUICE_OK;
}

static sluice_status api_start(ac_source *src, const json_t *checkpoint, void **state)
{
    api_mode *mode = calloc(1, sizeof(*mode));
    const char *since = ac_opt_string(src, "since");
    int64_t since_epoch;

    if (!mode)
        return SLUICE_FATAL;
    *state = mode;
    if (!since || ac_time_epoch(since, &since_epoch) != 0) {
        sluice_fail(src->ctx, "since '%s' is not a time like 2020-01-01T00:00:00Z", since ? since : "");
        return SLUICE_FATAL;
    }
    mode->since = (time_t)since_epoch;
    mode->concurrency = (int)ac_opt_int(src, "concurrency");
    if (mode->concurrency < 1 || mode->concurrency > MAX_CONCURRENCY) {
        sluice_fail(src->ctx, "concurrency %d is not in 1..%d", mode->concurrency, MAX_CONCURRENCY);
        return SLUICE_FATAL;
    }
    mode->interval_s = (long)ac_opt_int(src, "interval_s");
    mode->sync = json_integer_value(json_object_get(checkpoint, "sync"));
    mode->next = (size_t)json_integer_value(json_object_get(checkpoint, "next"));
    mode->complete = !checkpoint || json_is_true(json_object_get(checkpoint, "complete"));
    return SLUICE_OK;
}

static json_t *position_of(const api_mode *mode)
{
    return json_pack("{s:I, s:I, s:b}", "sync", mode->sync, "next", (json_int_t)mode->next,
                     "complete", mode->complete);
}

static sluice_status api_poll(ac_source *src, void *state, sluice_batch *out, json_t **position)
{
    api_mode *mode = state;
    size_t room = ac_room(src, out), remaining, count;
    pthread_t workers[MAX_CONCURRENCY];
    int started = 0;
    fetch_job job;
    sluice_status status = SLUICE_OK;

    if (!mode->ids) {
        if (mode->complete) {
            if (mode->synced_this_run) {
                if (sluice_run_once(src->ctx) || mode->interval_s <= 0)
                    return sluice_run_once(src->ctx) ? SLUICE_EOF : SLUICE_AGAIN;
                if (time(NULL) < mode->last_sync_end + mode->interval_s) {
                    /* next to webhook mode the runner sleeps on the
                     * webhooks' wake fd: the next sync is due then */
                    sluice_retry_after(src->ctx, (double)(mode->last_sync_end + mode->interval_s -
                                                          time(NULL)));
                    return SLUICE_AGAIN;
                }
            }
            mode->sync++;
            mode->next = 0;
            mode->complete = 0;
        }
        status = begin_sync(src, mode);
        if (status != SLUICE_OK)
            return status;
    }
    remaining = json_array_size(mode->ids) - mode->next;
    count = remaining < room ? remaining : room;

    memset(&job, 0, sizeof(job));
    job.src = src;
    job.mode = mode;
    job.first = mode->next;
    job.count = count;
    job.members = calloc(count ? count : 1, sizeof(*job.members));
    job.results = calloc(count ? count : 1, sizeof(*job.results));
    job.errors = calloc(count ? count : 1, sizeof(*job.errors));
    ac_now_canonical(job.as_of);
    if (!job.members || !job.results || !job.errors || pthread_mutex_init(&job.lock, NULL) != 0) {
        status = SLUICE_RETRY;
        goto out;
    }
    for (int i = 0; i < mode->concurrency && (size_t)i < count; i++) {
        if (pthread_create(&workers[started], NULL, fetch_worker, &job) == 0)
            started++;
    }
    if (started == 0 && count > 0)
        fetch_worker(&job);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    pthread_mutex_destroy(&job.lock);

    /* Any transient failure: emit nothing of this chunk, try it again. */
    for (size_t i = 0; i < count; i++) {
        if (job.results[i] == AC_FATAL) {
            status = SLUICE_FATAL;
            goto out;
        }
        if (job.results[i] == AC_RETRY || (!job.members[i] && job.results[i] == AC_OK)) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "member %s: %s; retrying",
                       json_string_value(json_array_get(mode->ids, job.first + i)), job.errors[i]);
            status = SLUICE_RETRY;
            goto out;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const char *id = json_string_value(json_array_get(mode->ids, job.first + i));
        if (job.results[i] == AC_OK) {
            if (ac_emit_member(src, out, job.members[i]))
                sluice_metric_add(src->ctx, "members_emitted", 1);
            job.members[i] = NULL;
        } else if (job.results[i] == AC_NOT_FOUND) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "member %s disappeared during the sync: %s", id,
                       job.errors[i]);
        } else {
            sluice_log(src->ctx, SLUICE_LOG_ERROR, "member %s could not be read: %s", id, job.errors[i]);
            sluice_metric_add(src->ctx, "members_unreadable", 1);
        }
    }
    mode->next += count;
    if (mode->next >= json_array_size(mode->ids)) {
        sluice_log(src->ctx, SLUICE_LOG_INFO, "sync %" JSON_INTEGER_FORMAT " complete: %zu members read",
                   mode->sync, json_array_size(mode->ids));
        json_decref(mode->ids);
        mode->ids = NULL;
        json_decref(mode->segments);
        mode->segments = NULL;
        mode->complete = 1;
        mode->synced_this_run = 1;
        mode->last_sync_end = time(NULL);
    }
    *position = position_of(mode);
out:
    for (size_t i = 0; job.members && i < count; i++)
        json_decref(job.members[i]);
    free(job.members);
    free(job.results);
    free(job.errors);
    return status;
}

static void api_stop(ac_source *src, void *state)
{
    api_mode *mode = state;

    (void)src;
    if (!mode)
        return;
    json_decref(mode->ids);
    json_decref(mode->segments);
    free(mode);
}

const ac_mode_ops ac_mode_api = {
    .name = "api",
    .start = api_start,
    .poll = api_poll,
    .committed = NULL,
    .stop = api_stop,
};
