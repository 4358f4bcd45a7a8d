/* http_gate.c: the concurrency gate of a stage's HTTP client: at most
 * `limit` attempts of sluice_http in flight at once, the limit fixed or
 * adapted by the ARC controller (arc.c) from each attempt's RTT and
 * outcome. Changes of the limit go to the log at debug and to the gauge
 * sluice_http_concurrency_limit in the stage's counters (the statistics
 * file the admin endpoint exports). See docs/http-client.md. */
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
#include "util/clock.h"

/* Longest wait on the condition before the gate looks at `stopping` and
 * reports progress again. */
#define GATE_WAIT_SLICE_NS 100000000L

struct sluice_http_gate {
    pthread_mutex_t lock;  /* guards arc */
    pthread_cond_t room;   /* signalled when a slot may be free */
    sluice_arc arc;
    int adaptive;          /* 0: arc.limit stays at max */
};

/* The gauge's name in the stage's counters. */
#define LIMIT_METRIC "sluice_http_concurrency_limit"

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

int sluice_http_gate_enter(sluice_http_gate *gate, sluice_ctx *ctx, void (*tick)(void *),
                           void *tick_arg)
{
    int result = 0;

    pthread_mutex_lock(&gate->lock);
    while (!sluice_arc_acquire(&gate->arc)) {
        struct timespec until;

        if (ctx->stopping && *ctx->stopping) {
            result = -1;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += GATE_WAIT_SLICE_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&gate->room, &gate->lock, &until) == ETIMEDOUT && tick) {
            pthread_mutex_unlock(&gate->lock);
            tick(tick_arg);
            pthread_mutex_lock(&gate->lock);
        }
    }
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

void sluice_http_gate_leave(sluice_http_gate *gate, sluice_ctx *ctx, double rtt, long status)
{
    sluice_arc_outcome outcome = status == 0 || status == 408 || status == 429 || status >= 500
                                     ? SLUICE_ARC_BACK_PRESSURE : SLUICE_ARC_ANSWERED;
    sluice_arc_reason reason = SLUICE_ARC_SAME;
    const char *pipeline = ctx->pipeline ? ctx->pipeline->name : NULL;
    const char *stage = ctx->stage ? ctx->stage->name : NULL;
    int old_limit = 0, limit;
    double baseline;

    pthread_mutex_lock(&gate->lock);
    if (gate->adaptive)
        reason = sluice_arc_release(&gate->arc, sluice_monotonic_seconds(), rtt, outcome,
                                    &old_limit);
    else if (gate->arc.in_flight > 0)
        gate->arc.in_flight--;
    limit = gate->arc.limit;
    baseline = gate->arc.baseline;
    pthread_cond_broadcast(&gate->room);
    pthread_mutex_unlock(&gate->lock);
    if (reason == SLUICE_ARC_SAME)
        return;
    sluice_metrics_add(pipeline, stage, LIMIT_METRIC, (double)(limit - old_limit));
    sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                     "HTTP concurrency limit %d -> %d: %s (baseline RTT %.1f ms)", old_limit,
                     limit, sluice_arc_reason_text(reason), baseline * 1000.0);
}

void sluice_http_gate_announce(sluice_http_gate *gate, sluice_ctx *ctx)
{
    const char *pipeline = ctx->pipeline ? ctx->pipeline->name : NULL;
    const char *stage = ctx->stage ? ctx->stage->name : NULL;
    int limit = sluice_http_gate_limit(gate);

    /* the gauge starts from whatever an earlier gate of this process left */
    sluice_metrics_add(pipeline, stage, LIMIT_METRIC,
                       limit - sluice_metrics_get(pipeline, stage, LIMIT_METRIC));
    sluice_log_write(pipeline, stage, SLUICE_LOG_DEBUG,
                     "HTTP concurrency: %s, at most %d in flight%s", gate->adaptive
                     ? "adaptive" : "fixed", gate->arc.max,
                     gate->arc.rate_limit > 0 ? ", and no more than the rate_limit uses" : "");
}
