/* run_source.c: the source runner: polls the plugin into batches, keeps
 * them in the in-flight window until acknowledged, commits checkpoint and
 * state for the acknowledged prefix, and rewinds to the last commit when
 * acks stop or a downstream stage restarted. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <jansson.h>
#include <zmq.h>

#include "kv.h"
#include "runner.h"
#include "store.h"
#include "util/backoff.h"
#include "util/clock.h"
#include "window.h"

typedef struct source_run {
    sluice_window window;
    uint64_t next_id;
    json_t *committed_cp;   /* last durably committed checkpoint (owned) */
    json_t *sent_cp;        /* checkpoint of the last batch sent (owned) */
    int eof;                /* poll() said EOF (for --once: stop polling) */
    int64_t idle_until;     /* no poll() before this time */
    int awaiting;           /* poll() said AGAIN and the plugin has a wake fd:
                               no poll() before it (or the store) is readable */
    int64_t awaiting_since; /* when `awaiting` was set */
    int64_t awaiting_until; /* poll() again at the latest then (the plugin's
                               sluice_retry_after hint with AGAIN); 0: none */
    int64_t last_ack_ms;    /* when downstream last acknowledged a batch of this epoch */
    unsigned retries;       /* consecutive poll() RETRY answers */
} source_run;

/* Without a watch on the state directory, an idle source that waits for
 * its plugin's wake fd looks for records `sluice dlq replay` queued this
 * often. */
#define REPLAY_CHECK_MS 1000L

/* Watch the pipeline's state directory (inotify): `sluice dlq replay`
 * queues records by writing the store there (state.db and its WAL), which
 * wakes a source that sleeps until its plugin has something. Other
 * writes (commits, the webhook spool) wake it too, at the cost of one
 * poll(). Sets r->store_watch_fd, or leaves it -1 (logged at debug: the
 * source then looks every REPLAY_CHECK_MS while it sleeps). */
static void store_watch_open(runner *r)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd >= 0 && inotify_add_watch(fd, r->pipeline->state_dir,
                                     IN_MODIFY | IN_CREATE | IN_MOVED_TO) >= 0) {
        r->store_watch_fd = fd;
        return;
    }
    RLOG(r, SLUICE_LOG_DEBUG, "cannot watch %s (%s): replays are looked for every %ld ms "
         "while idle", r->pipeline->state_dir, strerror(errno), REPLAY_CHECK_MS);
    if (fd >= 0)
        close(fd);
}

/* Read the events waiting on the store watch, so it blocks again. */
static void store_watch_drain(runner *r)
{
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    while (read(r->store_watch_fd, events, sizeof(events)) > 0)
        continue;
}

/* Close the store watch, if any. */
static void store_watch_close(runner *r)
{
    if (r->store_watch_fd >= 0)
        close(r->store_watch_fd);
    r->store_watch_fd = -1;
}

/* Take the acks waiting from downstream and mark their batches done. */
static void source_take_acks(runner *r, source_run *s)
{
    char buf[256];
    int len;

    while ((len = zmq_recv(r->ack_in, buf, sizeof(buf), ZMQ_DONTWAIT)) >= 0) {
        uint64_t epoch = 0, id = 0;
        int64_t sent_ms;

        if ((size_t)len > sizeof(buf) ||
            sluice_wire_decode_ack(buf, (size_t)len, &epoch, &id) != 0) {
            RLOG(r, SLUICE_LOG_ERROR, "corrupt ack frame of %d bytes dropped", len);
            continue;
        }
        /* any ack shows downstream alive and working (see run_source) */
        s->last_ack_ms = sluice_clock_ms();
        if (epoch != r->epoch || id == 0)
            continue; /* forgotten by a rewind, or a sink's heartbeat */
        sent_ms = sluice_window_sent_ms(&s->window, id);
        if (sent_ms >= 0)
            runner_stats_ack_latency(r, (double)(s->last_ack_ms - sent_ms) / 1000.0);
        if (sluice_window_ack(&s->window, id) != 0)
            RLOG(r, SLUICE_LOG_DEBUG, "ack of unknown batch %" PRIu64 "/%" PRIu64, epoch, id);
    }
}

/* Commit the acknowledged batches at the old end of the window: staged
 * state, then the checkpoint, then tell the plugin. Returns 0 or -1 on a
 * store failure (the runner exits and is restarted). */
static int source_commit(runner *r, source_run *s)
{
    uint64_t last_id = 0;
    json_t *cp = NULL;
    size_t records = 0;
    const char *failed = NULL;
    int in_transaction = 0;

    if (sluice_window_pop_done(&s->window, &last_id, &cp, &records) == 0)
        return 0;
    /* replay rows, staged state and checkpoint move together or not at all */
    if (sluice_store_begin(r->ctx.store) != 0) {
        failed = "start a store transaction";
        goto out;
    }
    in_transaction = 1;
    if (sluice_store_replay_ack(r->ctx.store, r->epoch, last_id) < 0) {
        failed = "delete the replayed records";
        goto out;
    }
    if (r->ctx.kv && sluice_kv_commit(r->ctx.kv, r->epoch, last_id) != 0) {
        failed = "commit the staged state";
        goto out;
    }
    if (cp && sluice_store_checkpoint_set(r->ctx.store, r->stage->name, cp) != 0) {
        failed = "store the checkpoint";
        goto out;
    }
    in_transaction = 0;
    if (sluice_store_end(r->ctx.store, 1) != 0) {
        failed = "commit the store transaction";
        goto out;
    }
    if (cp) {
        json_decref(s->committed_cp);
        s->committed_cp = json_incref(cp);
        if (r->stage->plugin->committed)
            r->stage->plugin->committed(&r->ctx, r->plugin_state, cp);
    }
    r->records_in += records;
    r->m.last_commit = sluice_wall_seconds();
    r->m.in_flight = s->window.count;
    runner_stats_save(r, 1); /* exact: a restarted source continues from here */
out:
    if (in_transaction)
        sluice_store_end(r->ctx.store, 0);
    if (failed)
        RLOG(r, SLUICE_LOG_ERROR, "cannot %s for batches up to %" PRIu64 "/%" PRIu64, failed,
             r->epoch, last_id);
    json_decref(cp);
    return failed ? -1 : 0;
}

/* Forget everything in flight and restart emission after the last
 * committed checkpoint, under a new epoch. Returns SLUICE_STAGE_EXIT_OK or
 * the exit code to leave with. */
static int source_rewind(runner *r, source_run *s, const char *why)
{
    uint64_t epoch = 0;
    sluice_status st;

    if (sluice_store_next_epoch(r->ctx.store, r->stage->name, &epoch) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot allocate a new epoch for a rewind");
        return SLUICE_STAGE_EXIT_ERROR;
    }
    RLOG(r, SLUICE_LOG_WARN, "rewinding %zu batch(es) in flight to the last committed "
         "checkpoint, epoch %" PRIu64 ": %s", s->window.count, epoch, why);
    r->epoch = epoch;
    if (r->ctx.kv)
        sluice_kv_discard_before(r->ctx.kv, epoch);
    sluice_window_clear(&s->window, 0);
    r->m.in_flight = 0;
    s->next_id = 1;
    s->eof = 0;
    s->idle_until = 0;
    s->awaiting = 0;
    s->last_ack_ms = 0;
    json_decref(s->sent_cp);
    s->sent_cp = s->committed_cp ? json_deep_copy(s->committed_cp) : NULL;
    r->ctx.fail_message[0] = '\0';
    if (r->stage->plugin->rewind) {
        st = r->stage->plugin->rewind(&r->ctx, r->plugin_state, s->committed_cp);
        if (st == SLUICE_OK)
            return SLUICE_STAGE_EXIT_OK;
        if (st == SLUICE_FATAL) {
            runner_log_fatal(r, "rewind");
            return SLUICE_STAGE_EXIT_FATAL;
        }
        RLOG(r, SLUICE_LOG_ERROR, "rewind() failed (status %d)", (int)st);
        return SLUICE_STAGE_EXIT_ERROR;
    }
    runner_plugin_fini(r);
    return runner_plugin_init(r);
}

/* Put the replay rows `rows` (sluice_store_replay_take) back into the
 * dead-letter queue: the stage they must re-enter at, `enter_at`, is not
 * in the pipeline any more. Returns 0 or -1 on a store error (logged). */
static int replay_refuse(runner *r, uint64_t batch_id, const char *enter_at, const json_t *rows)
{
    char reason[512];
    size_t i;
    json_t *row;

    snprintf(reason, sizeof(reason), "cannot replay: pipeline '%s' has no stage '%s' any more "
             "(it parked the record; restore the stage to replay it, or purge it)",
             r->pipeline->name, enter_at);
    json_array_foreach(rows, i, row) {
        if (sluice_store_replay_return(r->ctx.store,
                                       json_integer_value(json_object_get(row, "id")), r->epoch,
                                       batch_id, reason) < 0) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot put a replayed record back into the dead-letter "
                 "queue");
            return -1;
        }
    }
    RLOG(r, SLUICE_LOG_WARN, "%zu replayed record(s) went back to the dead-letter queue: %s",
         json_array_size(rows), reason);
    return 0;
}

/* Fill `batch` (empty, id not sent yet) with records `sluice dlq replay`
 * (or `sluice erase`, with no DLQ entry behind them)
 * queued, if any: the oldest rows that re-enter at one stage, the one
 * that parked them, each with its DLQ id and history; the batch carries
 * no checkpoint and the rows leave the queue when it is committed. Rows
 * for a stage the pipeline no longer has go back to the dead-letter queue
 * (replay_refuse) and the batch stays empty. Returns 0 or -1 on a store
 * error (logged). */
static int replay_fill(runner *r, sluice_batch *batch)
{
    json_t *rows = NULL;
    char *enter_at = NULL;
    size_t i;
    json_t *row;
    int taken, injected = 0;
    int result = -1;

    /* a plain read first: taking rows needs the store's write lock */
    if (sluice_store_replay_count(r->ctx.store) == 0)
        return 0;
    taken = sluice_store_replay_take(r->ctx.store, batch->epoch, batch->id, batch->capacity,
                                     &enter_at, &rows);
    if (taken < 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot read the replay queue");
        goto out;
    }
    if (taken > 0 && !sluice_pipeline_stage(r->pipeline, enter_at)) {
        result = replay_refuse(r, batch->id, enter_at, rows);
        goto out;
    }
    if (taken > 0 && sluice_batch_set_enter_at(batch, enter_at) != 0)
        goto oom;
    json_array_foreach(rows, i, row) {
        json_int_t dlq_id = json_integer_value(json_object_get(row, "dlq_id"));
        json_t *record = json_incref(json_object_get(row, "record"));
        /* DLQ id 0: queued by `sluice erase` (sluice_store_replay_inject),
         * never parked: a plain record with no history to tell */
        if (dlq_id <= 0 ? sluice_batch_append(batch, record) != 0
                        : sluice_batch_append_replayed(batch, record, dlq_id,
                                                       json_incref(json_object_get(row, "history"))) != 0)
            goto oom;
        if (dlq_id <= 0)
            injected++;
    }
    if (taken > injected)
        RLOG(r, SLUICE_LOG_INFO, "replaying %d record(s) from the dead-letter queue into "
             "stage '%s', which parked them", taken - injected, enter_at);
    if (injected > 0)
        RLOG(r, SLUICE_LOG_INFO, "sending %d record(s) queued by sluice erase into stage '%s'",
             injected, enter_at);
    result = 0;
    goto out;
oom:
    RLOG(r, SLUICE_LOG_ERROR, "out of memory for a replay batch");
out:
    free(enter_at);
    json_decref(rows);
    return result;
}

/* Send the next batch: records `sluice dlq replay` queued, as a replay
 * batch of their own (replay_fill), else poll the plugin into a new batch
 * until it is full, batch_linger_ms passed or the plugin has nothing more
 * now, park source-side rejections, and send the batch if it has records
 * or moves the checkpoint. Returns SLUICE_STAGE_EXIT_OK or the exit code
 * to leave with. */
static int source_fill(runner *r, source_run *s)
{
    const sluice_pipeline_def *p = r->pipeline;
    size_t size = p->batch_size > 0 ? p->batch_size : 500;
    sluice_batch *batch = sluice_batch_new(r->epoch, s->next_id, size);
    int64_t started = sluice_clock_ms();
    sluice_status st = SLUICE_OK;
    size_t polled;
    int result = SLUICE_STAGE_EXIT_OK;

    if (!batch) {
        RLOG(r, SLUICE_LOG_ERROR, "out of memory for a batch");
        return SLUICE_STAGE_EXIT_ERROR;
    }
    batch->current_stage = r->stage->name;
    if (replay_fill(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    if (batch->enter_at) {
        /* a replay batch of its own: no poll, no checkpoint */
        polled = batch->count;
        goto send;
    }
    while (batch->count < size) {
        /* capacity is what poll() may still append to this batch */
        batch->capacity = size - batch->count;
        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->poll(&r->ctx, r->plugin_state, batch);
        if (st != SLUICE_OK || *r->signals->term || sluice_clock_ms() - started >= p->batch_linger_ms)
            break;
    }
    if (st == SLUICE_FATAL) {
        runner_log_fatal(r, "poll");
        result = SLUICE_STAGE_EXIT_FATAL;
        goto out;
    }
    if (st == SLUICE_RETRY) {
        long delay = sluice_backoff_ms(s->retries++, RETRY_BASE_MS,
                                       r->stage->common.retry_max_backoff_ms,
                                       r->ctx.retry_after, runner_random(r));
        RLOG(r, SLUICE_LOG_INFO, "poll() asked for a retry, retry %u in %.2f s", s->retries,
             (double)delay / 1000.0);
        s->idle_until = sluice_clock_ms() + delay;
    } else {
        s->retries = 0;
        if (st == SLUICE_AGAIN) {
            s->idle_until = sluice_clock_ms() + AGAIN_IDLE_MS;
            /* --once paces poll(): the plugin's EOF may come from the clock */
            s->awaiting = r->ctx.has_wake_fd && !r->once;
            s->awaiting_since = sluice_clock_ms();
            s->awaiting_until = r->ctx.retry_after > 0
                                    ? s->awaiting_since + (int64_t)(r->ctx.retry_after * 1000.0)
                                    : 0;
        }
        else if (st == SLUICE_EOF) {
            s->eof = 1;
            s->idle_until = sluice_clock_ms() + EOF_IDLE_MS;
        }
    }
    batch->capacity = size;
    polled = batch->count;
    if (!r->inproc_out)
        sluice_batch_prepare_for_wire(batch); /* lines travel unparsed, checked by the reader */
    if (runner_park_rejected(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    sluice_batch_compact(batch);
    if (batch->count == 0 && (!batch->checkpoint || (s->sent_cp &&
                                                     json_equal(batch->checkpoint, s->sent_cp))))
        goto out;
send:
    {
        json_t *cp = batch->checkpoint ? json_deep_copy(batch->checkpoint) : NULL;
        json_t *cp_entry = cp ? json_incref(cp) : NULL;
        uint64_t id = s->next_id++;

        if (sluice_window_push(&s->window, id, cp_entry, polled, sluice_clock_ms()) != 0) {
            json_decref(cp);
            RLOG(r, SLUICE_LOG_ERROR, "in-flight window overflow (bug)");
            result = SLUICE_STAGE_EXIT_ERROR;
            goto out;
        }
        if (cp) {
            json_decref(s->sent_cp);
            s->sent_cp = cp;
        }
        r->m.received += polled;
        r->m.sent += batch->count;
        r->m.batches++;
        r->m.in_flight = s->window.count;
        RLOG(r, SLUICE_LOG_DEBUG, "sending batch %" PRIu64 "/%" PRIu64 " of %zu records",
             r->epoch, id, batch->count);
        link_send_batch(r, batch); /* a batch lost here is replayed by the ack timeout */
        batch = NULL;
    }
out:
    sluice_batch_destroy(&batch);
    return result;
}

int run_source(runner *r)
{
    const sluice_pipeline_def *p = r->pipeline;
    source_run s;
    int result = SLUICE_STAGE_EXIT_OK;
    int stopping = 0;
    int64_t drain_deadline = 0;

    memset(&s, 0, sizeof(s));
    s.next_id = 1;
    if (sluice_window_init(&s.window, p->window > 0 ? (size_t)p->window : 8) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "out of memory for the in-flight window");
        return SLUICE_STAGE_EXIT_ERROR;
    }
    if (sluice_store_next_epoch(r->ctx.store, r->stage->name, &r->epoch) != 0 ||
        sluice_store_checkpoint_get(r->ctx.store, r->stage->name, &s.committed_cp) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot read the source's epoch and checkpoint");
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    s.sent_cp = s.committed_cp ? json_deep_copy(s.committed_cp) : NULL;
    result = runner_plugin_init(r);
    if (result == SLUICE_STAGE_EXIT_OK && r->ctx.has_wake_fd)
        store_watch_open(r);
    if (result != SLUICE_STAGE_EXIT_OK)
        goto out;
    RLOG(r, SLUICE_LOG_INFO, "source started (process %ld, epoch %" PRIu64 ")",
         (long)getpid(), r->epoch);

    for (;;) {
        int64_t now, oldest, deadline = 0; /* 0: nothing due but what wakes the poll */
        zmq_pollitem_t items[3];
        int nitems = 0, plugin_item = -1, store_item = -1;

        source_take_acks(r, &s);
        if (source_commit(r, &s) != 0) {
            result = SLUICE_STAGE_EXIT_ERROR;
            break;
        }
        if (*r->unit_stop || *r->signals->hard) /* a stage failed: no drain */
            break;
        now = sluice_clock_ms();
        if (*r->signals->term && !stopping) {
            stopping = 1;
            drain_deadline = now + SLUICE_DRAIN_TIMEOUT_MS;
            RLOG(r, SLUICE_LOG_INFO, "stopping: draining %zu batch(es) in flight",
                 s.window.count);
        }
        /* A lost batch stops the acks (stages take batches in sequence),
         * a slow sink only spaces them out: rewind when no ack at all came
         * for ack_timeout_ms while batches are in flight, not when the
         * oldest is merely old. Acks of older epochs count: after a rewind
         * the sink first drains the batches queued before it. (Rewinding
         * a slow, rate-limited sink's window threw its work away again and
         * again.) */
        oldest = sluice_window_oldest_sent(&s.window);
        if (*r->signals->rewind) {
            *r->signals->rewind = 0;
            result = source_rewind(r, &s, "a downstream stage restarted");
        } else if (oldest >= 0 && p->ack_timeout_ms > 0 &&
                   now - (oldest > s.last_ack_ms ? oldest : s.last_ack_ms) > p->ack_timeout_ms) {
            char why[160];
            snprintf(why, sizeof(why), "no batch acknowledged for %ld ms with %zu in flight",
                     p->ack_timeout_ms, s.window.count);
            result = source_rewind(r, &s, why);
        }
        if (result != SLUICE_STAGE_EXIT_OK)
            break;
        /* What is due next: each wait below ends at the earliest deadline
         * or when a socket or fd is ready, never on a tick. */
        oldest = sluice_window_oldest_sent(&s.window);
        if (oldest >= 0 && p->ack_timeout_ms > 0)
            deadline = (oldest > s.last_ack_ms ? oldest : s.last_ack_ms) + p->ack_timeout_ms + 1;
        runner_dlq_log_flush(r, 0);
        deadline = runner_earliest(deadline, runner_dlq_log_due(r));
        if (stopping) {
            if (s.window.count == 0)
                break;
            if (now >= drain_deadline) {
                RLOG(r, SLUICE_LOG_WARN, "%zu batch(es) still unacknowledged after %ld ms; "
                     "they will be replayed", s.window.count, SLUICE_DRAIN_TIMEOUT_MS);
                break;
            }
            deadline = runner_earliest(deadline, drain_deadline);
        } else if (s.eof && r->once) {
            if (s.window.count == 0)
                break; /* --once: everything emitted and acknowledged */
        } else if (s.window.count < s.window.capacity) {
            if (now >= s.idle_until && !s.awaiting) {
                result = source_fill(r, &s);
                if (result != SLUICE_STAGE_EXIT_OK)
                    break;
                continue;
            }
            if (now < s.idle_until) {
                deadline = runner_earliest(deadline, s.idle_until);
            } else {
                /* the plugin's wake fd says when poll() has something, the
                 * store's directory when `sluice dlq replay` queued records */
                plugin_item = nitems;
                items[nitems++] = (zmq_pollitem_t){.fd = r->ctx.wake_fd, .events = ZMQ_POLLIN};
                deadline = runner_earliest(deadline, s.awaiting_until);
                if (r->store_watch_fd >= 0) {
                    store_item = nitems;
                    items[nitems++] =
                        (zmq_pollitem_t){.fd = r->store_watch_fd, .events = ZMQ_POLLIN};
                } else {
                    deadline = runner_earliest(deadline, s.awaiting_since + REPLAY_CHECK_MS);
                }
            }
        }
        runner_stats_save(r, 0); /* only when something changed (in flight, counters) */
        deadline = runner_earliest(deadline, runner_stats_due(r));
        items[nitems++] = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
        link_poll(r, items, nitems, link_timeout(deadline));
        if (plugin_item >= 0) {
            int woken = items[plugin_item].revents != 0;
            if (store_item >= 0 && items[store_item].revents) {
                store_watch_drain(r);
                woken = 1;
            }
            if (store_item < 0 && sluice_clock_ms() >= s.awaiting_since + REPLAY_CHECK_MS)
                woken = 1;
            if (s.awaiting_until && sluice_clock_ms() >= s.awaiting_until)
                woken = 1; /* the plugin's own clock (e.g. a periodic sync) */
            if (woken)
                s.awaiting = 0;
        }
    }
out:
    store_watch_close(r);
    runner_stats_save(r, 1);
    sluice_window_clear(&s.window, 1);
    json_decref(s.committed_cp);
    json_decref(s.sent_cp);
    return result;
}
