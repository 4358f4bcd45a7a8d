/* http_gate.c: the concurrency gate of a stage's HTTP client: at most
 * `limit` attempts of sluice_http in flight at once, the limit fixed or
 * adapted by the ARC controller (arc.c) from each attempt's RTT and
 * outcome; an adaptive gate also paces starts to the rate the server
 * allows once it answered 429 (pace.c). Changes of the limit and of the
 * pace go to the log at debug and to the gauges
 * sluice_http_concurrency_limit and sluice_http_paced_rate in the stage's
 * counters (the statistics file the admin endpoint exports). See
 * docs/http-client.md. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "arc.h"
#include "ctx.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pace.h"
#include "util/clock.h"

/* Longest wait on the condition before the gate looks at `stopping` and
 * reports progress again. */
#define GATE_WAIT_SLICE_NS 100000000L

/* The pace is logged (and its gauge set) when it grew by this share since
 * it was last logged; every cut is. */
#define PACE_LOG_GROWTH 0.1

struct sluice_http_gate {
    pthread_mutex_t lock;  /* guards arc, pace and the fields below */
    pthread_cond_t room;   /* signalled when a slot may be free */
    pthread_cond_t paced;  /* signalled when a pace token was taken */
    sluice_arc arc;
    sluice_pace pace;      /* only used when adaptive */
    int adaptive;          /* 0: arc.limit stays at max, no pacing */
    int pace_timer;        /* a thread waits for the pace's next token */
    double pace_shown;     /* the pace last logged and in the gauge */
};

/* The gauges' names in the stage's counters. */
#define LIMIT_METRIC "sluice_http_concurrency_limit"
#define PACE_METRIC "sluice_http_paced_rate"

sluice_http_gate *sluice_http_gate_new(int max_in_flight, double rate_limit, int adaptive)
{
    sluice_http_gate *gate = calloc(1, sizeof(*gate));

    if (!gate)
        return NULL;
    if (pthread_mutex_init(&gate->lock, NULL) != 0) {
        free(gate);
        return NULL;
    }
    if (pthread_cond_init(&gate->room, NULL) != 0) {
        pthread_mutex_destroy(&gate->lock);
        free(gate);
        return NULL;
    }
    if (pthread_cond_init(&gate->paced, NULL) != 0) {
        pthread_cond_destroy(&gate->room);
        pthread_mutex_destroy(&gate->lock);
        free(gate);
        return NULL;
    }
    sluice_pace_init(&gate->pace);
    sluice_arc_init(&gate->arc, max_in_flight, rate_limit);
    gate->adaptive = adaptive;
    if (!adaptive) {
        gate->arc.limit = gate->arc.max;
        gate->arc.slow_start = 0;
    }
    return gate;
}

void sluice_http_gate_destroy(sluice_http_gate **gate_p)
{
    if (!gate_p || !*gate_p)
        return;
    pthread_cond_destroy(&(*gate_p)->room);
    pthread_cond_destroy(&(*gate_p)->paced);
    pthread_mutex_destroy(&(*gate_p)->lock);
    free(*gate_p);
    *gate_p = NULL;
}

int sluice_http_gate_limit(sluice_http_gate *gate)
{
    int limit;

    pthread_mutex_lock(&gate->lock);
    limit = gate->arc.limit;
    pthread_mutex_unlock(&gate->lock);
    return limit;
}

/* Wait on `cond` (gate->lock held) at most `seconds` (capped at one
 * slice). Returns pthread_cond_timedwait's result (ETIMEDOUT, 0, ...). */
static int wait_slice(sluice_http_gate *gate, pthread_cond_t *cond, double seconds)
{
    struct timespec until;
    long wait_ns = seconds > 0 && seconds * 1e9 < GATE_WAIT_SLICE_NS ? (long)(seconds * 1e9) + 1
                   : GATE_WAIT_SLICE_NS;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += wait_ns;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cond, &gate->lock, &until);
}

int sluice_http_gate_enter(sluice_http_gate *gate, sluice_ctx *ctx, void (*tick)(void *),
                           void *tick_arg)
{
    int result = 0;
    int held = 0;

    pthread_mutex_lock(&gate->lock);
    for (;;) {
        pthread_cond_t *cond = &gate->room;
        double wait = 0;
        int timer = 0;

        if (ctx->stopping && *ctx->stopping) {
            result = -1;
            break;
        }
        if (!held)
            held = sluice_arc_acquire(&gate->arc);
        if (held) {
            /* a slot is ours: now the pace's token (none when not pacing) */
            double pace_wait = gate->adaptive
                                   ? sluice_pace_take(&gate->pace, sluice_monotonic_seconds())
                                   : 0;

            if (pace_wait <= 0)
                break;
            /* one thread sleeps until the next token, the others until it
             * took it (no herd waking for every token) */
            cond = &gate->paced;
            if (!gate->pace_timer) {
                gate->pace_timer = timer = 1;
                wait = pace_wait;
            }
        }
        if (wait_slice(gate, cond, wait) == ETIMEDOUT && tick && !timer) {
            pthread_mutex_unlock(&gate->lock);
            tick(tick_arg);
            pthread_mutex_lock(&gate->lock);
        }
        if (timer)
            gate->pace_timer = 0;
    }
    if (result != 0 && held) {
        if (gate->arc.in_flight > 0)
            gate->arc.in_flight--;
        pthread_cond_broadcast(&gate->room);
    }
    if (result == 0 && gate->adaptive && gate->pace.rate > 0)
        pthread_cond_signal(&gate->paced); /* the next waiter times the next token */
    pthread_mutex_unlock(&gate->lock);
    return result;
}

void sluice_http_gate_cancel(sluice_http_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    if (gate->arc.in_flight > 0)
        gate->arc.in_flight--;
    pthread_cond_broadcast(&gate->room);
    pthread_mutex_unlock(&gate->lock);
}

/* Show a change of the pace (gate->lock held by the caller, who logs
 * after unlocking): returns 1 and fills *shown_before when the pace was
 * cut or grew by PACE_LOG_GROWTH since it was last shown. */
static int pace_to_show(sluice_http_gate *gate, int cut, double *shown_before)
{
    double rate = gate->pace.rate;

    if (!cut && rate < gate->pace_shown * (1 + PACE_LOG_GROWTH))
        return 0;
    *shown_before = gate->pace_shown;
    gate->pace_shown = rate;
    return 1;
}

void sluice_http_gate_leave(sluice_http_gate *gate, sluice_ctx *ctx, double rtt, long status)
{
    sluice_arc_outcome outcome = status == 0 || status == 408 || status == 429 || status >= 500
                                     ? SLUICE_ARC_BACK_PRESSURE : SLUICE_ARC_ANSWERED;
    sluice_arc_reason reason = SLUICE_ARC_SAME;
    const char *pipeline = ctx->pipeline ? ctx->pipeline->name : NULL;
    const char *stage = ctx->stage ? ctx->stage->name : NULL;
    int old_limit = 0, limit;
    int cut = 0, pace_shown = 0;
    double baseline, now = sluice_monotonic_seconds();
    double old_pace = 0, pace = 0, learned = 0, quiet = 0;

    pthread_mutex_lock(&gate->lock);
    if (gate->adaptive) {
        reason = sluice_arc_release(&gate->arc, now, rtt, outcome, &old_limit);
        cut = sluice_pace_answer(&gate->pace, now, now - rtt, status == 429, NULL);
        pace_shown = pace_to_show(gate, cut, &old_pace);
        pace = gate->pace.rate;
        learned = gate->pace.learned;
        quiet = now - gate->pace.cut_at;
    } else if (gate->arc.in_flight > 0) {
        gate->arc.in_flight--;
    }
    limit = gate->arc.limit;
    baseline = gate->arc.baseline;
    pthread_cond_broadcast(&gate->room);
    pthread_mutex_unlock(&gate->lock);
    if (pace_shown) {
        sluice_metrics_add(pipeline, stage, PACE_METRIC, pace - old_pace);
        if (cut)
            sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                             "HTTP pace %.1f -> %.1f requests/s: 429 while %.1f requests/s "
                             "were answered (0: was not pacing)", old_pace, pace, learned);
        else
            sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                             "HTTP pace %.1f -> %.1f requests/s: no 429 for %.1f s", old_pace,
                             pace, quiet);
    }
    if (reason == SLUICE_ARC_SAME)
        return;
    sluice_metrics_add(pipeline, stage, LIMIT_METRIC, (double)(limit - old_limit));
    sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                     "HTTP concurrency limit %d -> %d: %s (baseline RTT %.1f ms)", old_limit,
                     limit, sluice_arc_reason_text(reason), baseline * 1000.0);
}

void sluice_http_gate_pause(sluice_http_gate *gate, double seconds)
{
    pthread_mutex_lock(&gate->lock);
    if (gate->adaptive)
        sluice_pace_pause(&gate->pace, sluice_monotonic_seconds(), seconds);
    pthread_mutex_unlock(&gate->lock);
}

void sluice_http_gate_announce(sluice_http_gate *gate, sluice_ctx *ctx)
{
    const char *pipeline = ctx->pipeline ? ctx->pipeline->name : NULL;
    const char *stage = ctx->stage ? ctx->stage->name : NULL;
    int limit = sluice_http_gate_limit(gate);

    /* the gauge starts from whatever an earlier gate of this process left */
    sluice_metrics_add(pipeline, stage, LIMIT_METRIC,
                       limit - sluice_metrics_get(pipeline, stage, LIMIT_METRIC));
    sluice_metrics_add(pipeline, stage, PACE_METRIC, -sluice_metrics_get(pipeline, stage,
                                                                          PACE_METRIC));
    sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                     "HTTP concurrency: %s, at most %d in flight%s", gate->adaptive
                     ? "adaptive" : "fixed", gate->arc.max,
                     gate->arc.rate_limit > 0 ? ", and no more than the rate_limit uses" : "");
}
