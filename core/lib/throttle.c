/* throttle.c: named token buckets with pause (a 429 stops every request on
 * the bucket, not just the one that got it). A mutex guards the buckets;
 * waiters sleep outside it in slices of <= 100 ms so stopping is noticed. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "throttle.h"

#define SLICE_SECONDS 0.1

typedef struct bucket {
    char *name;
    double rate;         /* tokens per second; <= 0: unlimited */
    double burst;        /* capacity, >= 1 */
    double tokens;
    double refilled_at;  /* monotonic seconds of the last refill */
    double paused_until; /* monotonic seconds; 0 = not paused */
    int configured;      /* 0 until sluice_throttle_configure() */
    struct bucket *next;
} bucket;

struct sluice_throttle {
    pthread_mutex_t lock;
    bucket *buckets;
};

int sluice_sleep_interruptible(double seconds, const volatile sig_atomic_t *stopping)
{
    double end = sluice_monotonic_seconds() + seconds;

    for (;;) {
        double left;
        struct timespec slice;

        if (stopping && *stopping)
            return -1;
        left = end - sluice_monotonic_seconds();
        if (left <= 0)
            return 0;
        if (left > SLICE_SECONDS)
            left = SLICE_SECONDS;
        slice.tv_sec = 0;
        slice.tv_nsec = (long)(left * 1e9);
        while (nanosleep(&slice, &slice) != 0 && errno == EINTR) {
            if (stopping && *stopping)
                return -1;
        }
    }
}

sluice_throttle *sluice_throttle_new(void)
{
    sluice_throttle *throttle = calloc(1, sizeof(*throttle));

    if (!throttle)
        return NULL;
    if (pthread_mutex_init(&throttle->lock, NULL) != 0) {
        free(throttle);
        return NULL;
    }
    return throttle;
}

void sluice_throttle_destroy(sluice_throttle **throttle_p)
{
    sluice_throttle *throttle;
    bucket *b;

    if (!throttle_p || !*throttle_p)
        return;
    throttle = *throttle_p;
    b = throttle->buckets;
    while (b) {
        bucket *next = b->next;
        free(b->name);
        free(b);
        b = next;
    }
    pthread_mutex_destroy(&throttle->lock);
    free(throttle);
    *throttle_p = NULL;
}

/* Find or create bucket `name` (unlimited, full) with the lock held.
 * Returns it or NULL on allocation failure. */
static bucket *bucket_locked(sluice_throttle *throttle, const char *name)
{
    bucket *b;

    for (b = throttle->buckets; b; b = b->next) {
        if (strcmp(b->name, name) == 0)
            return b;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->name = strdup(name);
    if (!b->name) {
        free(b);
        return NULL;
    }
    b->rate = 0;
    b->burst = 1;
    b->tokens = 1;
    b->refilled_at = sluice_monotonic_seconds();
    b->next = throttle->buckets;
    throttle->buckets = b;
    return b;
}

/* Add the tokens earned since the last refill, up to the burst. */
static void refill(bucket *b, double now)
{
    if (now > b->refilled_at && b->rate > 0) {
        b->tokens += (now - b->refilled_at) * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
    }
    if (now > b->refilled_at)
        b->refilled_at = now;
}

int sluice_throttle_configure(sluice_throttle *throttle, const char *name,
                              double rate, double burst)
{
    bucket *b;
    int result = -1;

    if (!throttle || !name)
        return -1;
    pthread_mutex_lock(&throttle->lock);
    b = bucket_locked(throttle, name);
    if (!b)
        goto out;
    refill(b, sluice_monotonic_seconds());
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst >= 1 ? burst : 1;
    /* A reconfigured bucket keeps what it had, up to the new size; a new
     * one starts full so the first requests are not delayed. */
    if (!b->configured || b->tokens > b->burst)
        b->tokens = b->burst;
    b->configured = 1;
    result = 0;
out:
    pthread_mutex_unlock(&throttle->lock);
    return result;
}

int sluice_throttle_acquire(sluice_throttle *throttle, const char *name,
                            const volatile sig_atomic_t *stopping)
{
    return sluice_throttle_acquire_ticking(throttle, name, stopping, NULL, NULL);
}

int sluice_throttle_acquire_ticking(sluice_throttle *throttle, const char *name,
                                    const volatile sig_atomic_t *stopping,
                                    void (*tick)(void *), void *tick_arg)
{
    for (;;) {
        double wait = 0;
        double now;
        bucket *b;

        if (stopping && *stopping)
            return -1;
        pthread_mutex_lock(&throttle->lock);
        b = bucket_locked(throttle, name);
        if (!b) {
            pthread_mutex_unlock(&throttle->lock);
            return -1;
        }
        now = sluice_monotonic_seconds();
        if (b->paused_until > now) {
            wait = b->paused_until - now;
        } else if (b->rate <= 0) {
            pthread_mutex_unlock(&throttle->lock);
            return 0;
        } else {
            refill(b, now);
            if (b->tokens >= 1) {
                b->tokens -= 1;
                pthread_mutex_unlock(&throttle->lock);
                return 0;
            }
            wait = (1 - b->tokens) / b->rate;
        }
        pthread_mutex_unlock(&throttle->lock);
        /* Re-check under the lock after each slice: another waiter may
         * have taken the token, or a 429 may have paused the bucket. */
        if (sluice_sleep_interruptible(fmin(wait, SLICE_SECONDS), stopping) != 0)
            return -1;
        if (tick)
            tick(tick_arg);
    }
}

int sluice_throttle_pause(sluice_throttle *throttle, const char *name, double seconds)
{
    bucket *b;
    double until;
    int result = -1;

    if (!throttle || !name)
        return -1;
    pthread_mutex_lock(&throttle->lock);
    b = bucket_locked(throttle, name);
    if (!b)
        goto out;
    until = sluice_monotonic_seconds() + (seconds > 0 ? seconds : 0);
    if (until > b->paused_until) {
        b->paused_until = until;
        /* Resume with one token at the pause end, then the normal rate. */
        b->tokens = 1;
        b->refilled_at = until;
    }
    result = 0;
out:
    pthread_mutex_unlock(&throttle->lock);
    return result;
}
