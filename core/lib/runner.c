/* runner.c: the steps every stage runner shares, whatever its role: the
 * plugin's init and fini, parking rejected records in the dead-letter
 * queue, deciding which batches a stage takes (epochs, sequence) and
 * handing them over in order behind a parallel stage. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>

#include "kv.h"
#include "runner.h"
#include "store.h"
#include "util/clock.h"

/* Epoch refusals are logged at most this often (the others counted). */
#define EPOCH_REFUSAL_LOG_MS 10000

double runner_random(runner *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

int runner_must_quit(const runner *r)
{
    if (*r->unit_stop || *r->signals->hard)
        return 1;
    if (r->index == 0 || r->unit_has_source)
        return 0;
    return *r->signals->term != 0;
}

void runner_log_fatal(runner *r, const char *callback)
{
    if (r->ctx.fail_message[0])
        RLOG(r, SLUICE_LOG_ERROR, "%s: %s", r->stage->name, r->ctx.fail_message);
    else
        RLOG(r, SLUICE_LOG_ERROR, "%s: %s() returned SLUICE_FATAL without a message",
             r->stage->name, callback);
}

int runner_plugin_init(runner *r)
{
    sluice_status st;

    r->ctx.fail_message[0] = '\0';
    r->ctx.has_wake_fd = 0; /* init() gives it again (sluice_source_wake_fd) */
    st = r->stage->plugin->init
             ? r->stage->plugin->init(&r->ctx, r->stage->config, &r->plugin_state)
             : SLUICE_OK;
    if (st == SLUICE_OK) {
        r->plugin_ready = 1;
        return SLUICE_STAGE_EXIT_OK;
    }
    if (r->stage->plugin->fini)
        r->stage->plugin->fini(&r->ctx, r->plugin_state);
    r->plugin_state = NULL;
    if (st == SLUICE_FATAL) {
        runner_log_fatal(r, "init");
        return SLUICE_STAGE_EXIT_FATAL;
    }
    RLOG(r, SLUICE_LOG_ERROR, "init() failed (status %d)%s%s", (int)st,
         r->ctx.fail_message[0] ? ": " : "", r->ctx.fail_message);
    return SLUICE_STAGE_EXIT_ERROR;
}

void runner_plugin_fini(runner *r)
{
    if (r->plugin_ready && r->stage->plugin->fini)
        r->stage->plugin->fini(&r->ctx, r->plugin_state);
    r->plugin_ready = 0;
    r->plugin_state = NULL;
}

int runner_park_rejected(runner *r, sluice_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        sluice_batch_slot *slot = &batch->slots[i];
        const char *by = slot->rejected_by ? slot->rejected_by : r->stage->name;
        const char *reason = slot->reason ? slot->reason : "rejected";

        json_t *record;
        int64_t dlq_id;

        if (slot->dropped || slot->outcome != SLUICE_RECORD_REJECTED)
            continue;
        record = sluice_batch_slot_record(batch, i); /* rejected unparsed: parse now */
        if (!record)
            continue;
        dlq_id = sluice_store_dlq_add_history(r->ctx.store, by, batch->epoch, batch->id,
                                              record, reason, slot->history);
        if (dlq_id < 0) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot park a rejected record of batch %" PRIu64
                 "/%" PRIu64 " in the dead-letter queue", batch->epoch, batch->id);
            return -1;
        }
        runner_stats_parked(r, reason);
        if (slot->replay_of > 0)
            runner_log_reparked(r, slot, by, reason, dlq_id);
        else
            runner_dlq_log_parked(r, batch, i, by, reason, dlq_id);
    }
    return 0;
}

int64_t runner_earliest(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

int runner_epoch_check(uint64_t current, uint64_t offered, int shares_store,
                       uint64_t source_newest)
{
    if (offered > current && offered - current > SLUICE_EPOCH_AHEAD_MAX)
        return RUNNER_EPOCH_ABSURD;
    if (shares_store && offered > source_newest)
        return RUNNER_EPOCH_UNALLOCATED;
    return RUNNER_EPOCH_OK;
}

/* Apply the epoch rule to `batch`, of an epoch newer than the runner's.
 * Returns 1 if it may be taken, 0 if it is refused (logged at warn, at
 * most every EPOCH_REFUSAL_LOG_MS, the others counted). */
static int epoch_admitted(runner *r, const sluice_batch *batch)
{
    const char *source = r->pipeline->stages[0].name;
    char why[256];
    int64_t now;
    int verdict;

    /* one read per new epoch: the source allocates it before sending */
    if (r->source_store && batch->epoch > r->source_epoch &&
        sluice_store_epoch_get(r->ctx.store, source, &r->source_epoch) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot read the source's epoch from the store; batch %"
             PRIu64 "/%" PRIu64 " waits for the replay", batch->epoch, batch->id);
        return 0;
    }
    verdict = runner_epoch_check(r->epoch, batch->epoch, r->source_store, r->source_epoch);
    if (verdict == RUNNER_EPOCH_OK)
        return 1;
    now = sluice_clock_ms();
    if (r->refusal_logged_ms && now - r->refusal_logged_ms < EPOCH_REFUSAL_LOG_MS) {
        r->refusals_unlogged++;
        return 0;
    }
    if (verdict == RUNNER_EPOCH_ABSURD)
        snprintf(why, sizeof(why), "its epoch is more than 2^32 ahead of this stage's (%"
                 PRIu64 ")", r->epoch);
    else
        snprintf(why, sizeof(why), "source '%s' never allocated that epoch (its newest is %"
                 PRIu64 ")", source, r->source_epoch);
    if (r->refusals_unlogged)
        RLOG(r, SLUICE_LOG_WARN, "batch %" PRIu64 "/%" PRIu64 " refused: %s; a forged or "
             "corrupt frame (and %lu more refused since the last such line)", batch->epoch,
             batch->id, why, r->refusals_unlogged);
    else
        RLOG(r, SLUICE_LOG_WARN, "batch %" PRIu64 "/%" PRIu64 " refused: %s; a forged or "
             "corrupt frame", batch->epoch, batch->id, why);
    r->refusal_logged_ms = now;
    r->refusals_unlogged = 0;
    return 0;
}

int runner_adopt_epoch(runner *r, sluice_batch **batch_p)
{
    sluice_batch *batch = *batch_p;

    if (batch->epoch > r->epoch && !epoch_admitted(r, batch)) {
        sluice_batch_destroy(batch_p);
        return 0;
    }
    if (r->parallel) {
        /* an instance of a stateless stage sees some ids of an epoch, in
         * any order: only batches a rewind replaced are left alone */
        if (batch->epoch < r->epoch) {
            RLOG(r, SLUICE_LOG_DEBUG, "batch %" PRIu64 "/%" PRIu64 " discarded (epoch %"
                 PRIu64 " replaced it)", batch->epoch, batch->id, r->epoch);
            sluice_batch_destroy(batch_p);
            return 0;
        }
        r->epoch = batch->epoch;
        r->last_id = batch->id;
    } else if (batch->epoch == r->epoch && !r->epoch_broken && batch->id == r->last_id + 1) {
        r->last_id = batch->id;
    } else if (batch->epoch > r->epoch && batch->id == 1) {
        if (r->ctx.kv)
            sluice_kv_discard_before(r->ctx.kv, batch->epoch);
        r->epoch = batch->epoch;
        r->last_id = 1;
        r->epoch_broken = 0;
    } else {
        if (batch->epoch > r->epoch || (batch->epoch == r->epoch && batch->id > r->last_id &&
                                        !r->epoch_broken)) {
            if (batch->epoch > r->epoch && r->ctx.kv)
                sluice_kv_discard_before(r->ctx.kv, batch->epoch);
            if (batch->epoch > r->epoch)
                r->last_id = 0;
            r->epoch = batch->epoch;
            r->epoch_broken = 1;
            RLOG(r, SLUICE_LOG_INFO, "batch %" PRIu64 "/%" PRIu64 " arrived without its "
                 "predecessors (this stage restarted?); batches of epoch %" PRIu64
                 " are dropped until the source rewinds", batch->epoch, batch->id,
                 batch->epoch);
        } else {
            RLOG(r, SLUICE_LOG_DEBUG, "batch %" PRIu64 "/%" PRIu64 " discarded (stage at "
                 "%" PRIu64 "/%" PRIu64 ")", batch->epoch, batch->id, r->epoch, r->last_id);
        }
        sluice_batch_destroy(batch_p);
        return 0;
    }
    batch->current_stage = r->stage->name;
    return 1;
}

/* 1 if a stage downstream of a parallel one must take `batch` now: the next
 * id of its epoch, the first of a newer epoch, or one it will discard
 * (older, or a duplicate); 0 if it came before a predecessor and waits. */
static int batch_is_due(const runner *r, const sluice_batch *batch)
{
    if (batch->epoch < r->epoch)
        return 1;
    if (batch->epoch == r->epoch)
        return batch->id <= r->last_id + 1;
    return batch->id == 1;
}

int runner_handle_in_order(runner *r, sluice_batch *batch,
                           int (*handle)(runner *, sluice_batch *))
{
    int result;

    if (!r->reorder.held)
        return handle(r, batch);
    if (!batch_is_due(r, batch)) {
        uint64_t epoch = batch->epoch, id = batch->id;
        if (sluice_reorder_hold(&r->reorder, batch) != 0)
            RLOG(r, SLUICE_LOG_WARN, "batch %" PRIu64 "/%" PRIu64 " dropped: %zu batches "
                 "already wait for %" PRIu64 "/%" PRIu64 "; the source replays it", epoch, id,
                 r->reorder.count, r->epoch, r->last_id + 1);
        return SLUICE_STAGE_EXIT_OK;
    }
    result = handle(r, batch);
    sluice_reorder_drop_before(&r->reorder, r->epoch);
    while (result == SLUICE_STAGE_EXIT_OK && !runner_must_quit(r) &&
           (batch = sluice_reorder_take(&r->reorder, r->epoch, r->last_id + 1)) != NULL)
        result = handle(r, batch);
    return result;
}
