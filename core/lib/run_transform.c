/* run_transform.c: the transform runner: takes batches in order, runs the
 * plugin's process() on each (retrying with backoff), parks rejections and
 * sends the batch on; acks travel back through it (link_forward_acks). A
 * replay batch for a later stage goes on untouched (runner_replay.c). */
#include "config.h"

#include <inttypes.h>
#include <unistd.h>
#include <zmq.h>

#include "runner.h"
#include "util/backoff.h"

/* Run process() on one batch (retrying SLUICE_RETRY with backoff), park
 * its rejections, log what became of its replayed records, compact it and
 * send it on; a replay batch whose records re-enter at a later stage is
 * sent on untouched. Returns an exit code; SLUICE_STAGE_EXIT_OK also when
 * the batch was abandoned on quit. */
static int transform_batch(runner *r, sluice_batch *batch)
{
    unsigned attempt = 0;
    sluice_status st;

    if (!runner_adopt_epoch(r, &batch))
        return SLUICE_STAGE_EXIT_OK;
    if (runner_passes_replay(r, batch)) {
        link_send_batch(r, batch); /* a batch lost on quit is replayed */
        return SLUICE_STAGE_EXIT_OK;
    }
    r->m.received += batch->count;
    r->m.batches++;
    for (;;) {
        long delay;

        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->process(&r->ctx, r->plugin_state, batch);
        if (st != SLUICE_RETRY)
            break;
        delay = sluice_backoff_ms(attempt++, RETRY_BASE_MS,
                                  r->stage->common.retry_max_backoff_ms, r->ctx.retry_after,
                                  runner_random(r));
        RLOG(r, SLUICE_LOG_INFO, "process() of batch %" PRIu64 "/%" PRIu64
             " asked for a retry, retry %u in %.2f s", batch->epoch, batch->id, attempt,
             (double)delay / 1000.0);
        if (link_wait(r, delay) != 0) {
            sluice_batch_destroy(&batch);
            return SLUICE_STAGE_EXIT_OK;
        }
    }
    if (st == SLUICE_FATAL) {
        runner_log_fatal(r, "process");
        sluice_batch_destroy(&batch);
        return SLUICE_STAGE_EXIT_FATAL;
    }
    if (st != SLUICE_OK)
        RLOG(r, SLUICE_LOG_WARN, "process() returned unexpected status %d; treated as OK",
             (int)st);
    if (!r->inproc_out)
        sluice_batch_prepare_for_wire(batch); /* a source's text it passed on unread */
    if (runner_park_rejected(r, batch) != 0) {
        sluice_batch_destroy(&batch);
        return SLUICE_STAGE_EXIT_ERROR;
    }
    if (batch->enter_at)
        runner_log_replayed(r, batch);
    sluice_batch_compact(batch);
    r->m.sent += batch->count;
    link_send_batch(r, batch); /* a batch lost on quit is replayed */
    return SLUICE_STAGE_EXIT_OK;
}

int run_transform(runner *r)
{
    int result = runner_plugin_init(r);

    if (result == SLUICE_STAGE_EXIT_OK)
        RLOG(r, SLUICE_LOG_INFO, "transform started (process %ld)", (long)getpid());
    while (result == SLUICE_STAGE_EXIT_OK && !runner_must_quit(r)) {
        zmq_pollitem_t items[3] = {
            {.socket = r->data_in, .events = ZMQ_POLLIN},
            {.socket = r->ack_in, .events = ZMQ_POLLIN},
            {.socket = r->ack_out, .events = ZMQ_POLLOUT},
        };
        link_flush_acks(r);
        runner_stats_save(r, 0); /* only when something changed */
        /* nothing is due here without a batch, an ack, room for the acks
         * that wait for upstream to (re)connect, a wake-up (a flag), the
         * summary of DLQ parkings or a statistics file to bring up to date */
        int ready = link_poll(r, items, r->pending_count ? 3 : 2,
                              link_timeout(runner_earliest(runner_dlq_log_due(r),
                                                           runner_stats_due(r))));

        runner_dlq_log_flush(r, 0);
        if (ready <= 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            link_forward_acks(r);
        if (items[0].revents & ZMQ_POLLIN) {
            sluice_batch *batch = link_recv_batch(r);
            if (batch)
                result = runner_handle_in_order(r, batch, transform_batch);
        }
    }
    runner_stats_save(r, 1);
    return result;
}
