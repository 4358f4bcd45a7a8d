/* ac_mode_api_enum.c: api mode's member enumeration with searches in
 * parallel. The windows are those of ac_enumerate (ac_api.c): [from, to)
 * split in halves while a search comes back full (50); here up to
 * `threads` searches run at once (the core's HTTP concurrency gate bounds
 * what really goes out), so a program of 20,000 members is listed in about
 * as many round trips as the split is deep instead of one per search (about
 * 1,300). The ids come out in the order ac_enumerate gives (windows by
 * start, each window's users as the server answered them), so a checkpoint
 * taken with one resumes with the other. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_api.h"
#include "ac_convert.h"

#define AC_TIME_FORMAT "%Y-%m-%d %H:%M:%S"
/* Most threads searching at once. */
#define ENUM_THREADS_MAX 256

typedef struct enum_window {
    time_t start, end;
} enum_window;

/* A window that came back with fewer than AC_SEARCH_LIMIT users. */
typedef struct enum_leaf {
    time_t start;
    json_t *users; /* owned */
} enum_leaf;

typedef struct enum_job {
    ac_search_fn search;
    void *user;
    pthread_mutex_t lock;    /* guards everything below */
    pthread_cond_t changed;  /* a window was pushed or a search ended */
    enum_window *pending;
    size_t pending_count, pending_cap;
    enum_leaf *leaves;
    size_t leaf_count, leaf_cap;
    int busy;                /* searches running */
    size_t searches;
    ac_result result;        /* the first failure, or AC_OK */
    char err[512];
} enum_job;

/* Grow *items (of `size` bytes each) to hold one more. Returns 0 or -1. */
static int room_for_one(void **items, size_t count, size_t *cap, size_t size)
{
    void *grown;
    size_t want;

    if (count < *cap)
        return 0;
    want = *cap ? *cap * 2 : 64;
    grown = realloc(*items, want * size);
    if (!grown)
        return -1;
    *items = grown;
    *cap = want;
    return 0;
}

/* Record the first failure (under lock). */
static void job_fail(enum_job *job, ac_result result, const char *err)
{
    if (job->result != AC_OK)
        return;
    job->result = result;
    snprintf(job->err, sizeof(job->err), "%s", err);
}

/* Account one finished search of `w` (under lock): a failure, a full
 * window split in two pending halves, or a leaf. Takes `users`. */
static void search_done(enum_job *job, enum_window w, ac_result result, json_t *users,
                        const char *err)
{
    job->searches++;
    if (result != AC_OK) {
        job_fail(job, result, err);
        json_decref(users);
        return;
    }
    if (json_array_size(users) >= AC_SEARCH_LIMIT) {
        time_t middle = w.start + (w.end - w.start) / 2;

        json_decref(users);
        if (w.end - w.start <= 1) {
            char when[32], text[400];
            struct tm tm;
            gmtime_r(&w.start, &tm);
            strftime(when, sizeof(when), AC_TIME_FORMAT, &tm);
            snprintf(text, sizeof(text),
                     "%d or more members opted in within the second %s: POST /users/search "
                     "cannot list them (50-result cap); use feed mode for this program",
                     AC_SEARCH_LIMIT, when);
            job_fail(job, AC_REJECTED, text);
            return;
        }
        if (room_for_one((void **)&job->pending, job->pending_count, &job->pending_cap,
                         sizeof(*job->pending)) != 0 ||
            room_for_one((void **)&job->pending, job->pending_count + 1, &job->pending_cap,
                         sizeof(*job->pending)) != 0) {
            job_fail(job, AC_RETRY, "out of memory for the search windows");
            return;
        }
        job->pending[job->pending_count++] = (enum_window){middle, w.end};
        job->pending[job->pending_count++] = (enum_window){w.start, middle};
        return;
    }
    if (room_for_one((void **)&job->leaves, job->leaf_count, &job->leaf_cap,
                     sizeof(*job->leaves)) != 0) {
        job_fail(job, AC_RETRY, "out of memory for the search results");
        json_decref(users);
        return;
    }
    job->leaves[job->leaf_count++] = (enum_leaf){w.start, users};
}

/* Thread body: take pending windows until none is left and no search
 * runs (one could still split), or something failed. */
static void *enum_worker(void *arg)
{
    enum_job *job = arg;

    pthread_mutex_lock(&job->lock);
    for (;;) {
        enum_window w;
        json_t *users = NULL;
        char err[512] = "";
        ac_result result;

        while (job->pending_count == 0 && job->busy > 0 && job->result == AC_OK)
            pthread_cond_wait(&job->changed, &job->lock);
        if (job->result != AC_OK || job->pending_count == 0)
            break;
        w = job->pending[--job->pending_count];
        job->busy++;
        pthread_mutex_unlock(&job->lock);
        result = job->search(job->user, w.start, w.end, &users, err, sizeof(err));
        pthread_mutex_lock(&job->lock);
        job->busy--;
        search_done(job, w, result, users, err);
        pthread_cond_broadcast(&job->changed);
    }
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

/* qsort order of leaves: by window start (windows never overlap). */
static int leaf_order(const void *a, const void *b)
{
    const enum_leaf *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

ac_result ac_enumerate_parallel(ac_search_fn search, void *user, time_t from, time_t to,
                                int threads, json_t *ids, size_t *searches, char *err,
                                size_t errlen)
{
    enum_job job;
    pthread_t workers[ENUM_THREADS_MAX];
    int started = 0;
    ac_result result = AC_RETRY;

    *searches = 0;
    if (to <= from)
        return AC_OK;
    memset(&job, 0, sizeof(job));
    job.search = search;
    job.user = user;
    if (pthread_mutex_init(&job.lock, NULL) != 0) {
        snprintf(err, errlen, "cannot start the member enumeration");
        return AC_RETRY;
    }
    if (pthread_cond_init(&job.changed, NULL) != 0) {
        pthread_mutex_destroy(&job.lock);
        snprintf(err, errlen, "cannot start the member enumeration");
        return AC_RETRY;
    }
    if (room_for_one((void **)&job.pending, 0, &job.pending_cap, sizeof(*job.pending)) != 0) {
        snprintf(err, errlen, "out of memory for the search windows");
        goto out;
    }
    job.pending[job.pending_count++] = (enum_window){from, to};
    threads = threads < 1 ? 1 : threads > ENUM_THREADS_MAX ? ENUM_THREADS_MAX : threads;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&workers[started], NULL, enum_worker, &job) == 0)
            started++;
    }
    enum_worker(&job); /* this thread searches too */
    for (int i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    *searches = job.searches;
    result = job.result;
    if (result != AC_OK) {
        snprintf(err, errlen, "%s", job.err);
        goto out;
    }
    qsort(job.leaves, job.leaf_count, sizeof(*job.leaves), leaf_order);
    for (size_t i = 0; i < job.leaf_count; i++) {
        size_t k;
        json_t *one;
        json_array_foreach(job.leaves[i].users, k, one) {
            const json_t *id = json_object_get(ac_user_object(one), "id");
            if (json_is_string(id))
                json_array_append(ids, (json_t *)id);
        }
    }
out:
    for (size_t i = 0; i < job.leaf_count; i++)
        json_decref(job.leaves[i].users);
    free(job.leaves);
    free(job.pending);
    pthread_cond_destroy(&job.changed);
    pthread_mutex_destroy(&job.lock);
    return result;
}
