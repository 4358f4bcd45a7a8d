/* sdk_ctx.c: the stage-context services of the plugin SDK (sluice/plugin.h)
 * over struct sluice_ctx: logging, failure messages, retry hints, names,
 * run flags, plugin metrics and what a source tells of its progress and
 * spool. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "util/clock.h"
#include "log.h"
#include "metrics.h"

/* Pipeline name of a context, or NULL when it has no definition. */
static const char *ctx_pipeline_name(const sluice_ctx *ctx)
{
    return ctx && ctx->pipeline ? ctx->pipeline->name : NULL;
}

/* Stage name of a context, or NULL when it has no definition. */
static const char *ctx_stage_name(const sluice_ctx *ctx)
{
    return ctx && ctx->stage ? ctx->stage->name : NULL;
}

void sluice_log(sluice_ctx *ctx, sluice_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sluice_log_vwrite(ctx_pipeline_name(ctx), ctx_stage_name(ctx), level, fmt, ap);
    va_end(ap);
}

void sluice_fail(sluice_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (!ctx || !fmt)
        return;
    va_start(ap, fmt);
    vsnprintf(ctx->fail_message, sizeof(ctx->fail_message), fmt, ap);
    va_end(ap);
    /* Through "%s": the message may contain '%' from remote answers. */
    sluice_log_write(ctx_pipeline_name(ctx), ctx_stage_name(ctx), SLUICE_LOG_DEBUG,
                     "fail: %s", ctx->fail_message);
}

void sluice_retry_after(sluice_ctx *ctx, double seconds)
{
    /* Keep the longest hint given since the core last consumed it. */
    if (ctx && seconds > ctx->retry_after)
        ctx->retry_after = seconds;
}

int sluice_sink_call_after(sluice_ctx *ctx, double seconds)
{
    int64_t at;

    if (!ctx || !ctx->stage || !ctx->stage->plugin ||
        ctx->stage->plugin->role != SLUICE_ROLE_SINK || !(seconds >= 0))
        return -1;
    if (seconds > 86400.0 * 365)
        seconds = 86400.0 * 365;
    at = sluice_clock_ms() + (int64_t)(seconds * 1000.0);
    /* the earliest time asked for since the last call wins */
    if (ctx->call_at_ms == 0 || at < ctx->call_at_ms)
        ctx->call_at_ms = at;
    return 0;
}

int sluice_source_wake_fd(sluice_ctx *ctx, int fd)
{
    if (!ctx || !ctx->stage || !ctx->stage->plugin ||
        ctx->stage->plugin->role != SLUICE_ROLE_SOURCE || fd < 0)
        return -1;
    ctx->wake_fd = fd;
    ctx->has_wake_fd = 1;
    return 0;
}

/* 1 if `ctx` is a source stage's context. */
static int is_source(const sluice_ctx *ctx)
{
    return ctx && ctx->stage && ctx->stage->plugin &&
           ctx->stage->plugin->role == SLUICE_ROLE_SOURCE;
}

int sluice_source_progress(sluice_ctx *ctx, double position, double end)
{
    if (!is_source(ctx))
        return -1;
    ctx->read_position = position > 0 ? position : 0;
    ctx->read_end = end > 0 ? end : 0;
    ctx->has_read_position = 1;
    return 0;
}

int sluice_source_spool(sluice_ctx *ctx, double depth, double oldest_at)
{
    if (!is_source(ctx))
        return -1;
    atomic_store(&ctx->spool_depth, depth > 0 ? depth : 0);
    atomic_store(&ctx->spool_oldest_at, depth > 0 && oldest_at > 0 ? oldest_at : 0);
    atomic_store(&ctx->has_spool, 1);
    return 0;
}

const char *sluice_stage_name(const sluice_ctx *ctx)
{
    return ctx_stage_name(ctx);
}

const char *sluice_pipeline_name(const sluice_ctx *ctx)
{
    return ctx_pipeline_name(ctx);
}

const char *sluice_state_dir(const sluice_ctx *ctx)
{
    return ctx && ctx->pipeline ? ctx->pipeline->state_dir : NULL;
}

int sluice_run_once(const sluice_ctx *ctx)
{
    return ctx && ctx->once ? 1 : 0;
}

int sluice_stopping(const sluice_ctx *ctx)
{
    return ctx && ctx->stopping && *ctx->stopping ? 1 : 0;
}

void sluice_metric_add(sluice_ctx *ctx, const char *name, double delta)
{
    char full[256];
    int len;

    if (!name || !*name)
        return;
    len = snprintf(full, sizeof(full), "sluice_plugin_%s_total", name);
    if (len < 0 || (size_t)len >= sizeof(full))
        return;
    sluice_metrics_add(ctx_pipeline_name(ctx), ctx_stage_name(ctx), full, delta);
}
