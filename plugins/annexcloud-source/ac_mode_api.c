/* ac_mode_api.c: annexcloud-source api mode: a full sync through the REST
 * API. Members are enumerated with POST /users/search over opt-in date
 * windows (split while a window comes back full, the endpoint caps results
 * at 50; the windows searched in parallel), then fetched in parallel (profile and the listed resources) by
 * max_concurrency threads whose requests the core's HTTP service lets
 * through under its adaptive concurrency limit and the stage's rate limit.
 * The position {"sync","next","complete"} lets a restart resume a sync
 * instead of starting over. Each sync ends with its sizing line (members,
 * requests, members/s, the time the program takes at that pace) and a
 * warning when it outlasted interval_s; syncs never overlap. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ac_convert.h"
#include "ac_source.h"

/* Seconds between two progress lines of a running sync. */
#define PROGRESS_INTERVAL_S 60.0

typedef struct api_mode {
    json_t *ids;            /* enumerated member ids of the running sync, or NULL */
    json_t *segments;       /* member id -> [segment names] for this sync, or NULL */
    size_t next;            /* index of the next member to fetch */
    json_int_t sync;        /* number of the running (or last) sync */
    int complete;           /* the last sync ran to the end */
    int synced_this_run;    /* a sync completed since this process started */
    time_t last_sync_start; /* when the last sync began (wall clock) */
    time_t since;
    int workers;            /* fetch threads: max_concurrency, or concurrency when fixed */
    long interval_s;
    /* this process's part of the running sync, for its sizing line */
    double sync_began;      /* monotonic seconds */
    size_t first_fetched;   /* mode->next when this process began the sync */
    unsigned long requests_before;
    double progress_at;     /* monotonic seconds of the last progress line */
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

/* Seconds on the monotonic clock. */
static double monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* "1 h 05 min", "12 min 30 s" or "42 s" for `seconds` into buf. */
static const char *duration_text(double seconds, char *buf, size_t len)
{
    long s = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;

    if (s >= 3600)
        snprintf(buf, len, "%ld h %02ld min", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        snprintf(buf, len, "%ld min %02ld s", s / 60, s % 60);
    else
        snprintf(buf, len, "%ld s", s);
    return buf;
}

/* Log how far the running sync is and what the whole program takes at
 * the pace of this process's part of it: at info, when `done` (the sync's
 * sizing line, plus a warning when it outlasted interval_s), else at most
 * every PROGRESS_INTERVAL_S. */
static void log_sizing(ac_source *src, api_mode *mode, int done)
{
    double now = monotonic_seconds(), elapsed = now - mode->sync_began;
    size_t total = json_array_size(mode->ids);
    size_t read = mode->next - mode->first_fetched;
    unsigned long requests = atomic_load(&src->client.requests) - mode->requests_before;
    double rate = elapsed > 0 ? (double)read / elapsed : 0;
    char took[32], whole[32], left[32];

    if (!done && now - mode->progress_at < PROGRESS_INTERVAL_S)
        return;
    mode->progress_at = now;
    duration_text(elapsed, took, sizeof(took));
    duration_text(rate > 0 ? (double)total / rate : 0, whole, sizeof(whole));
    if (!done) {
        sluice_log(src->ctx, SLUICE_LOG_INFO,
                   "sync %" JSON_INTEGER_FORMAT ": %zu of %zu members in %s, %.1f members/s, "
                   "%.2f requests/member; about %s to go", mode->sync, mode->next, total, took,
                   rate, read ? (double)requests / (double)read : 0.0,
                   duration_text(rate > 0 ? (double)(total - mode->next) / rate : 0, left,
                                 sizeof(left)));
        return;
    }
    sluice_log(src->ctx, SLUICE_LOG_INFO,
               "sync %" JSON_INTEGER_FORMAT " complete: %zu members read%s in %s, %lu requests "
               "(%.2f/member), %.1f members/s: the program of %zu members takes %s at this pace",
               mode->sync, read, mode->first_fetched ? " (resumed)" : "", took, requests,
               read ? (double)requests / (double)read : 0.0, rate, total, whole);
    if (mode->interval_s > 0 && elapsed > (double)mode->interval_s)
        sluice_log(src->ctx, SLUICE_LOG_WARN,
                   "sync %" JSON_INTEGER_FORMAT " took %s, longer than interval_s = %ld: the next "
                   "sync starts now, right after it (syncs never overlap); for a program this "
                   "size raise interval_s, or use webhooks with a Data Feed for the full state "
                   "(pipelines/README.md)", mode->sync, took, mode->interval_s);
}

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

    mode->last_sync_start = time(NULL);
    mode->sync_began = monotonic_seconds();
    mode->progress_at = mode->sync_began;
    mode->requests_before = atomic_load(&src->client.requests);
    mode->ids = json_array();
    result = ac_enumerate_parallel(search_adapter, &src->client, mode->since, to, mode->workers,
                                   mode->ids, &searches, err, sizeof(err));
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
    mode->first_fetched = mode->next;
    /* members read of members listed: the --once progress line, /metrics */
    sluice_source_progress(src->ctx, (double)mode->next, (double)json_array_size(mode->ids));
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
    int fixed;

    if (!mode)
        return SLUICE_FATAL;
    *state = mode;
    if (!since || ac_time_epoch(since, &since_epoch) != 0) {
        sluice_fail(src->ctx, "since '%s' is not a time like 2020-01-01T00:00:00Z", since ? since : "");
        return SLUICE_FATAL;
    }
    mode->since = (time_t)since_epoch;
    /* ranges are the option table's (1..256), checked before init */
    fixed = (int)ac_opt_int(src, "concurrency");
    mode->workers = fixed > 0 ? fixed : (int)ac_opt_int(src, "max_concurrency");
    /* a restart of the mode (a rewind) finds the gate of its first start */
    if (sluice_http_concurrency(src->ctx, mode->workers, fixed == 0) != 0)
        sluice_log(src->ctx, SLUICE_LOG_DEBUG, "HTTP concurrency gate kept from the first start");
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
    pthread_t *workers = NULL;
    int started = 0;
    fetch_job job;
    sluice_status status = SLUICE_OK;

    if (!mode->ids) {
        if (mode->complete) {
            if (mode->synced_this_run) {
                if (sluice_run_once(src->ctx) || mode->interval_s <= 0)
                    return sluice_run_once(src->ctx) ? SLUICE_EOF : SLUICE_AGAIN;
                /* interval_s runs from start to start; a sync that took
                 * longer is followed at once (log_sizing warned) */
                if (time(NULL) < mode->last_sync_start + mode->interval_s) {
                    /* next to webhook mode the runner sleeps on the
                     * webhooks' wake fd: the next sync is due then */
                    sluice_retry_after(src->ctx, (double)(mode->last_sync_start +
                                                          mode->interval_s - time(NULL)));
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
    workers = calloc((size_t)mode->workers, sizeof(*workers));
    if (!job.members || !job.results || !job.errors || !workers ||
        pthread_mutex_init(&job.lock, NULL) != 0) {
        status = SLUICE_RETRY;
        goto out;
    }
    for (int i = 0; i < mode->workers && (size_t)i < count; i++) {
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
    log_sizing(src, mode, mode->next >= json_array_size(mode->ids));
    sluice_source_progress(src->ctx, (double)mode->next, (double)json_array_size(mode->ids));
    if (mode->next >= json_array_size(mode->ids)) {
        json_decref(mode->ids);
        mode->ids = NULL;
        json_decref(mode->segments);
        mode->segments = NULL;
        mode->complete = 1;
        mode->synced_this_run = 1;
    }
    *position = position_of(mode);
out:
    for (size_t i = 0; job.members && i < count; i++)
        json_decref(job.members[i]);
    free(job.members);
    free(job.results);
    free(job.errors);
    free(workers);
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
