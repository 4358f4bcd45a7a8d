/* run_sink.c: the sink runner: takes batches in order, calls the plugin's
 * write() until every record is delivered or rejected (backoff between
 * calls), parks rejections, commits state and acknowledges the batch. */
#include "config.h"

#include <inttypes.h>
#include <unistd.h>
#include <zmq.h>

#include "kv.h"
#include "runner.h"
#include "util/backoff.h"
#include "util/clock.h"

/* ------------------------------------------------------------------ */

/* Number of records write() still has to handle. */
static size_t sink_pending(const sluice_batch *batch)
{
    size_t pending = 0;

    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        if (!slot->dropped && sluice_slot_has_record(slot) &&
            (slot->outcome == SLUICE_RECORD_PENDING || slot->outcome == SLUICE_RECORD_RETRY))
            pending++;
    }
    return pending;
}

/* Deliver one batch: write() until no record is PENDING/RETRY, with
 * backoff and jitter between calls; park rejections; log what became of
 * the records `sluice dlq replay` sent back; commit state; ack.
 * Returns an exit code (OK also when abandoned on quit: it is replayed). */
static int sink_batch(runner *r, sluice_batch *batch)
{
    unsigned attempt = 0;
    int result = SLUICE_STAGE_EXIT_OK;
    size_t pending;

    if (!runner_adopt_epoch(r, &batch))
        return SLUICE_STAGE_EXIT_OK;
    r->m.received += batch->count;
    r->m.batches++;
    while ((pending = sink_pending(batch)) > 0) {
        sluice_status st;
        long delay;

        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->write(&r->ctx, r->plugin_state, batch);
        if (st == SLUICE_FATAL) {
            runner_log_fatal(r, "write");
            result = SLUICE_STAGE_EXIT_FATAL;
            goto out;
        }
        pending = sink_pending(batch);
        if (pending == 0)
            break;
        delay = sluice_backoff_ms(attempt++, RETRY_BASE_MS,
                                  r->stage->common.retry_max_backoff_ms, r->ctx.retry_after,
                                  runner_random(r));
        /* named by sink and plugin (the platform); an outage that lasts is
         * told at warn from the third retry of a batch on */
        RLOG(r, st == SLUICE_RETRY && attempt <= 2 ? SLUICE_LOG_INFO : SLUICE_LOG_WARN,
             "sink '%s' (%s): batch %" PRIu64 "/%" PRIu64 ": %zu record(s) not delivered "
             "yet%s, retry %u in %.2f s", r->label, r->stage->plugin_name, batch->epoch,
             batch->id, pending,
             st == SLUICE_RETRY ? "" : " (write() returned without an outcome)", attempt,
             (double)delay / 1000.0);
        if (link_wait(r, delay) != 0)
            goto out;
    }
    if (runner_park_rejected(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    if (batch->enter_at)
        runner_log_replayed(r, batch);
    for (size_t i = 0; i < batch->count; i++) {
        if (!batch->slots[i].dropped && batch->slots[i].outcome == SLUICE_RECORD_DONE) {
            r->delivered++;
            r->m.sent++;
        }
    }
    if (r->ctx.kv && sluice_kv_commit(r->ctx.kv, batch->epoch, batch->id) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot commit state of batch %" PRIu64 "/%" PRIu64,
             batch->epoch, batch->id);
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    link_send_ack(r, batch->epoch, batch->id);
    r->m.last_commit = sluice_wall_seconds();
    runner_stats_save(r, 0);
out:
    sluice_batch_destroy(&batch);
    return result;
}

/* write() with no records, when the plugin asked for it by now
 * (sluice_sink_call_after): the call is forgotten first, so the plugin asks
 * again from write() while it has work on a clock. Nothing is committed or
 * acknowledged. Returns an exit code. */
static int sink_call_due(runner *r)
{
    sluice_batch *empty;
    sluice_status st;

    if (r->ctx.call_at_ms == 0 || sluice_clock_ms() < r->ctx.call_at_ms)
        return SLUICE_STAGE_EXIT_OK;
    r->ctx.call_at_ms = 0;
    if (!(empty = sluice_batch_new(r->epoch, 0, 0)))
        return SLUICE_STAGE_EXIT_OK; /* asked again from the next write() */
    r->ctx.fail_message[0] = '\0';
    r->ctx.retry_after = 0;
    st = r->stage->plugin->write(&r->ctx, r->plugin_state, empty);
    sluice_batch_destroy(&empty);
    if (st == SLUICE_FATAL) {
        runner_log_fatal(r, "write");
        return SLUICE_STAGE_EXIT_FATAL;
    }
    return SLUICE_STAGE_EXIT_OK;
}

int run_sink(runner *r)
{
    int result = runner_plugin_init(r);

    if (result == SLUICE_STAGE_EXIT_OK)
        RLOG(r, SLUICE_LOG_INFO, "sink started (process %ld)", (long)getpid());
    while (result == SLUICE_STAGE_EXIT_OK && !runner_must_quit(r)) {
        zmq_pollitem_t items[2] = {
            {.socket = r->data_in, .events = ZMQ_POLLIN},
            {.socket = r->ack_out, .events = ZMQ_POLLOUT},
        };
        sluice_batch *batch;

        link_flush_acks(r);
        runner_stats_save(r, 0); /* only when something changed */
        /* nothing is due here without a batch, room for the acks that wait
         * for upstream to (re)connect, a wake-up (a flag), the summary of
         * DLQ parkings or a statistics file to bring up to date */
        int ready = link_poll(r, items, r->pending_count ? 2 : 1,
                              link_timeout(runner_earliest(
                                  runner_earliest(runner_dlq_log_due(r), runner_stats_due(r)),
                                  r->ctx.call_at_ms)));

        runner_dlq_log_flush(r, 0);
        result = sink_call_due(r);
        if (result != SLUICE_STAGE_EXIT_OK || ready <= 0 || !(items[0].revents & ZMQ_POLLIN))
            continue;
        batch = link_recv_batch(r);
        if (batch)
            result = runner_handle_in_order(r, batch, sink_batch);
    }
    runner_stats_save(r, 1);
    return result;
}
