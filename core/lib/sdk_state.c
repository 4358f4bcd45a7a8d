/* sdk_state.c: the SDK's state functions (sluice_state_*, and
 * sluice_checkpoint_get) over the stage's kv view and store in its ctx. */
#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "log.h"
#include "store.h"

/* The stage's name for store rows, or NULL when ctx is incomplete. */
static const char *ctx_stage(const sluice_ctx *ctx)
{
    return ctx && ctx->stage ? ctx->stage->name : NULL;
}

/* Log that the ctx lacks what `what` needs (a runner bug, not user error). */
static void report_missing(sluice_ctx *ctx, const char *what)
{
    sluice_log_write(ctx && ctx->pipeline ? ctx->pipeline->name : NULL, ctx_stage(ctx),
                     SLUICE_LOG_ERROR, "%s: the stage has no state store", what);
}

json_t *sluice_state_get(sluice_ctx *ctx, const char *key)
{
    if (!ctx || !ctx->kv) {
        report_missing(ctx, "sluice_state_get");
        return NULL;
    }
    return sluice_kv_get(ctx->kv, key);
}

int sluice_state_put(sluice_ctx *ctx, sluice_batch *batch, const char *key,
                     const json_t *value)
{
    if (!ctx || !ctx->kv) {
        report_missing(ctx, "sluice_state_put");
        return -1;
    }
    if (!batch || !key)
        return -1;
    return sluice_kv_stage(ctx->kv, batch->epoch, batch->id, key, value);
}

int sluice_state_put_new(sluice_ctx *ctx, sluice_batch *batch, const char *key, json_t *value)
{
    if (!ctx || !ctx->kv) {
        report_missing(ctx, "sluice_state_put_new");
        json_decref(value);
        return -1;
    }
    if (!batch || !key) {
        json_decref(value);
        return -1;
    }
    return sluice_kv_stage_new(ctx->kv, batch->epoch, batch->id, key, value);
}

int sluice_state_foreach(sluice_ctx *ctx, const char *prefix,
                         int (*fn)(const char *key, const json_t *value, void *user),
                         void *user)
{
    if (!ctx || !ctx->kv) {
        report_missing(ctx, "sluice_state_foreach");
        return -1;
    }
    return sluice_kv_foreach(ctx->kv, prefix, fn, user);
}

int sluice_state_put_now(sluice_ctx *ctx, const char *key, const json_t *value)
{
    int result = -1;
    json_t *writes = NULL;
    const char *stage = ctx_stage(ctx);
    if (!ctx || !ctx->store || !stage) {
        report_missing(ctx, "sluice_state_put_now");
        goto out;
    }
    if (!key || !(writes = json_object()))
        goto out;
    if (json_object_set_new(writes, key, value ? json_deep_copy(value) : json_null()) != 0)
        goto out;
    if (sluice_store_kv_apply(ctx->store, stage, writes) != 0)
        goto out;
    /* The write-through is now the newest value: older staged writes of the
     * key must not hide it. */
    sluice_kv_unstage(ctx->kv, key);
    result = 0;
out:
    json_decref(writes);
    return result;
}

json_t *sluice_checkpoint_get(sluice_ctx *ctx)
{
    json_t *checkpoint = NULL;
    const char *stage = ctx_stage(ctx);
    if (!ctx || !ctx->store || !stage) {
        report_missing(ctx, "sluice_checkpoint_get");
        return NULL;
    }
    if (sluice_store_checkpoint_get(ctx->store, stage, &checkpoint) != 0)
        return NULL;
    return checkpoint;
}
