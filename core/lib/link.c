/* link.c: a runner's ZeroMQ links: its input (bound PULL for batches,
 * PUSH for acks) and its link downstream (connected PUSH/PULL, one
 * connection per instance of a parallel stage); sending and receiving
 * batches (pointers inproc, wire frames otherwise), the ack queue, the
 * sink's heartbeat and transforms passing acks upstream. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "kv.h"
#include "runner.h"
#include "util/clock.h"

/* Create a socket of `type`, set its high-water mark (and ZMQ_IMMEDIATE if
 * `immediate`: queue only to peers that are connected), then bind or
 * connect it to `endpoint`. Returns the socket or NULL after logging why. */
static void *open_socket(runner *r, int type, int hwm, int immediate, const char *endpoint,
                         int bind)
{
    void *sock = zmq_socket(r->zctx, type);
    int linger = GRACEFUL_LINGER_MS;

    if (!sock) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (immediate)
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate));
    if ((bind ? zmq_bind(sock, endpoint) : zmq_connect(sock, endpoint)) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot %s %s: %s", bind ? "bind" : "connect to", endpoint,
             zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Connect `sock` to one more endpoint. Returns 0 or -1 (logged). */
static int connect_more(runner *r, void *sock, const char *endpoint)
{
    if (zmq_connect(sock, endpoint) == 0)
        return 0;
    RLOG(r, SLUICE_LOG_ERROR, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    return -1;
}

int link_open(runner *r)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];

    if (r->index > 0) {
        int hwm = r->stage->common.hwm > 0 ? r->stage->common.hwm : 4;
        if (sluice_stage_endpoints(r->pipeline, r->index, r->instance, r->inproc_in, data,
                                   sizeof(data), ack, sizeof(ack), err, sizeof(err)) != 0) {
            RLOG(r, SLUICE_LOG_ERROR, "%s", err);
            return -1;
        }
        r->data_in = open_socket(r, ZMQ_PULL, hwm, 0, data, 1);
        r->ack_out = r->data_in ? open_socket(r, ZMQ_PUSH, ACK_HWM, 0, ack, 1) : NULL;
        if (!r->ack_out)
            return -1;
    }
    if (r->index + 1 < r->pipeline->stage_count) {
        const sluice_stage_def *next = &r->pipeline->stages[r->index + 1];
        int hwm = next->common.hwm > 0 ? next->common.hwm : 4;
        unsigned instances = sluice_stage_last_instance(next);

        for (unsigned k = sluice_stage_first_instance(next); k <= instances; k++) {
            if (sluice_stage_endpoints(r->pipeline, r->index + 1, k, r->inproc_out, data,
                                       sizeof(data), ack, sizeof(ack), err,
                                       sizeof(err)) != 0) {
                RLOG(r, SLUICE_LOG_ERROR, "%s", err);
                return -1;
            }
            if (k <= 1) {
                r->data_out = open_socket(r, ZMQ_PUSH, hwm, instances > 0, data, 0);
                r->ack_in = r->data_out ? open_socket(r, ZMQ_PULL, ACK_HWM, 0, ack, 0) : NULL;
                if (!r->ack_in)
                    return -1;
            } else if (connect_more(r, r->data_out, data) != 0 ||
                       connect_more(r, r->ack_in, ack) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Close one socket with the given linger. Safe on NULL. */
static void close_socket(void **sock_p, int linger)
{
    if (!*sock_p)
        return;
    zmq_setsockopt(*sock_p, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_close(*sock_p);
    *sock_p = NULL;
}

void link_close(runner *r, int graceful)
{
    int linger = graceful ? GRACEFUL_LINGER_MS : 0;

    close_socket(&r->data_in, linger);
    close_socket(&r->ack_out, linger);
    close_socket(&r->data_out, linger);
    close_socket(&r->ack_in, linger);
}

/* zmq_msg_init_data deallocator for encoded frames. */
static void free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* A batch crossing an inproc link travels as a zero-copy message whose
 * data is this box. The receiver takes the batch out of the box; a message
 * nobody received (still queued in the link when a stage stops or the unit
 * winds down) is closed by ZeroMQ, and free_batch_box then destroys the
 * batch with it, so no batch is ever stranded in a pipe. */
typedef struct batch_box {
    sluice_batch *batch;  /* owned until a receiver takes it (NULL then) */
} batch_box;

/* zmq_msg_init_data deallocator for a batch_box: frees the box and the
 * batch it still holds. */
static void free_batch_box(void *data, void *hint)
{
    batch_box *box = data;

    (void)hint;
    sluice_batch_destroy(&box->batch);
    free(box);
}


int link_send_batch(runner *r, sluice_batch *batch)
{
    zmq_msg_t msg;
    int msg_ready = 0;
    int result = -1;

    if (r->inproc_out) {
        batch_box *box = malloc(sizeof(*box));
        if (!box)
            goto out;
        box->batch = batch;
        if (zmq_msg_init_data(&msg, box, sizeof(*box), free_batch_box, NULL) != 0) {
            free(box);
            goto out;
        }
        batch = NULL; /* the message owns it now */
    } else {
        size_t len = 0;
        char *frame = sluice_wire_encode(batch, &len);
        if (!frame) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot encode batch %" PRIu64 "/%" PRIu64,
                 batch->epoch, batch->id);
            goto out;
        }
        if (zmq_msg_init_data(&msg, frame, len, free_frame, NULL) != 0) {
            free(frame);
            goto out;
        }
        sluice_batch_destroy(&batch); /* the frame is all that travels */
    }
    msg_ready = 1;
    for (;;) {
        zmq_pollitem_t items[2];
        int nitems = 1;

        if (zmq_msg_send(&msg, r->data_out, ZMQ_DONTWAIT) >= 0) {
            result = 0;
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot send a batch: %s", zmq_strerror(errno));
            break;
        }
        if (runner_must_quit(r))
            break;
        items[0] = (zmq_pollitem_t){.socket = r->data_out, .events = ZMQ_POLLOUT};
        if (r->index > 0 && r->ack_in) {
            items[1] = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
            nitems = 2;
        }
        if (zmq_poll(items, nitems, FLAG_CHECK_MS) > 0 && nitems == 2 &&
            (items[1].revents & ZMQ_POLLIN))
            link_forward_acks(r);
    }
out:
    if (msg_ready)
        zmq_msg_close(&msg);
    sluice_batch_destroy(&batch);
    return result;
}

sluice_batch *link_recv_batch(runner *r)
{
    zmq_msg_t msg;
    sluice_batch *batch = NULL;

    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->data_in, ZMQ_DONTWAIT) < 0)
        goto out;
    if (r->inproc_in) {
        if (zmq_msg_size(&msg) == sizeof(batch_box)) {
            batch_box *box = zmq_msg_data(&msg);
            batch = box->batch;
            box->batch = NULL; /* closing the message now frees only the box */
        }
    } else {
        char err[256] = "";
        batch = sluice_wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), err, sizeof(err));
        if (!batch)
            RLOG(r, SLUICE_LOG_ERROR, "corrupt batch frame of %zu bytes dropped: %s",
                 zmq_msg_size(&msg), err);
    }
out:
    zmq_msg_close(&msg);
    return batch;
}

void link_flush_acks(runner *r)
{
    while (r->pending_count > 0) {
        uint64_t *ack = r->pending_acks[r->pending_head];
        size_t len = 0;
        char *frame = sluice_wire_encode_ack(ack[0], ack[1], &len);
        int sent;

        if (!frame) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot encode the ack of batch %" PRIu64 "/%" PRIu64,
                 ack[0], ack[1]);
            return;
        }
        sent = zmq_send(r->ack_out, frame, len, ZMQ_DONTWAIT);
        free(frame);
        if (sent < 0)
            return;
        r->pending_head = (r->pending_head + 1) % PENDING_ACKS_MAX;
        r->pending_count--;
    }
}

void link_send_ack(runner *r, uint64_t epoch, uint64_t id)
{
    if (r->pending_count == PENDING_ACKS_MAX) {
        uint64_t *old = r->pending_acks[r->pending_head];
        RLOG(r, SLUICE_LOG_WARN, "ack of batch %" PRIu64 "/%" PRIu64 " dropped: upstream "
             "is not reading acks", old[0], old[1]);
        r->pending_head = (r->pending_head + 1) % PENDING_ACKS_MAX;
        r->pending_count--;
    }
    r->pending_acks[(r->pending_head + r->pending_count) % PENDING_ACKS_MAX][0] = epoch;
    r->pending_acks[(r->pending_head + r->pending_count) % PENDING_ACKS_MAX][1] = id;
    r->pending_count++;
    link_flush_acks(r);
}

void link_sink_heartbeat(sluice_ctx *ctx)
{
    runner *r = (runner *)((char *)ctx - offsetof(runner, ctx));
    int64_t now = sluice_clock_ms();
    long every = HEARTBEAT_MS;

    /* well inside the source's patience, whatever ack_timeout_ms is */
    if (r->pipeline->ack_timeout_ms > 0 && r->pipeline->ack_timeout_ms / 4 < every)
        every = r->pipeline->ack_timeout_ms / 4;
    if (!r->epoch || now - r->heartbeat_ms < every)
        return;
    r->heartbeat_ms = now;
    link_send_ack(r, r->epoch, 0);
}

void link_forward_acks(runner *r)
{
    char buf[256];
    int len;

    while ((len = zmq_recv(r->ack_in, buf, sizeof(buf), ZMQ_DONTWAIT)) >= 0) {
        uint64_t epoch = 0, id = 0;

        if ((size_t)len > sizeof(buf) ||
            sluice_wire_decode_ack(buf, (size_t)len, &epoch, &id) != 0) {
            RLOG(r, SLUICE_LOG_ERROR, "corrupt ack frame of %d bytes dropped", len);
            continue;
        }
        /* An ack of an epoch older than ours (this stage moved on after a
         * rewind while the sink drained what was queued) commits nothing
         * here, but is passed on: upstream stages of that epoch may commit
         * (the sink delivered the batch), and the source, which commits
         * only acks of its current epoch, sees downstream is alive and
         * working, so it does not rewind again while the queues drain. */
        if ((epoch < r->epoch && id != 0) || id == 0) {
            link_send_ack(r, epoch, id); /* id 0: a sink's heartbeat (link_sink_heartbeat) */
            continue;
        }
        /* An instance of a stateless stage staged nothing to commit, and
         * downstream hands acks to whichever instance is up: the ack says
         * downstream took the batch, whoever transformed it. */
        if (r->parallel) {
            link_send_ack(r, epoch, id);
            continue;
        }
        /* Only batches this process handled had their state staged here:
         * passing on the ack of one handled by a predecessor that died
         * would let the source commit past state nobody committed. */
        if (epoch != r->epoch || id == 0 || id > r->last_id) {
            RLOG(r, SLUICE_LOG_DEBUG, "ack of batch %" PRIu64 "/%" PRIu64 " not handled "
                 "by this process: not passed on", epoch, id);
            continue;
        }
        if (r->ctx.kv && sluice_kv_commit(r->ctx.kv, epoch, id) != 0) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot commit state of batch %" PRIu64 "/%" PRIu64
                 "; not acknowledging it", epoch, id);
            continue;
        }
        link_send_ack(r, epoch, id);
    }
    runner_stats_save(r, 0);
}

int link_wait(runner *r, long ms)
{
    int64_t deadline = sluice_clock_ms() + ms;

    for (;;) {
        int64_t left = deadline - sluice_clock_ms();
        zmq_pollitem_t item = {.socket = r->ack_in, .events = ZMQ_POLLIN};

        if (runner_must_quit(r))
            return -1;
        if (left <= 0)
            return 0;
        if (left > FLAG_CHECK_MS)
            left = FLAG_CHECK_MS;
        if (r->ctx.progress)
            r->ctx.progress(&r->ctx); /* paces itself (link_sink_heartbeat) */
        if (r->index > 0 && r->ack_in) {
            if (zmq_poll(&item, 1, (long)left) > 0)
                link_forward_acks(r);
        } else {
            zmq_poll(NULL, 0, (long)left);
        }
    }
}
