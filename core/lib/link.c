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

#include "curve.h"
#include "kv.h"
#include "runner.h"
#include "util/clock.h"
#include "wake.h"

/* How one end of a link is secured and bounded (open_socket). */
typedef struct link_guard {
    long long max_message;    /* ZMQ_MAXMSGSIZE of what it receives; 0: none */
    const char *zap_domain;   /* CURVE server: the ZAP domain (the stage name) */
    const char *secret;       /* own secret key (Z85): CURVE server or client;
                                 NULL: a plain link */
    const char *public_key;   /* CURVE client: own public key (Z85) */
    const char *server_key;   /* CURVE client: the server's public key (Z85) */
} link_guard;

/* Apply `guard` to `sock` (before it binds or connects). Returns 0 or -1
 * (errno from ZeroMQ). */
static int guard_socket(void *sock, const link_guard *guard)
{
    int server = 1;

    if (guard->max_message > 0) {
        int64_t limit = guard->max_message;
        if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &limit, sizeof(limit)) != 0)
            return -1;
    }
    if (!guard->secret)
        return 0;
    if (guard->server_key) {
        return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, guard->server_key, 41) != 0 ||
                       zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, guard->public_key, 41) != 0 ||
                       zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, guard->secret, 41) != 0
                   ? -1 : 0;
    }
    return zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, guard->zap_domain,
                          strlen(guard->zap_domain)) != 0 ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &server, sizeof(server)) != 0 ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, guard->secret, 41) != 0
               ? -1 : 0;
}

/* Create a socket of `type`, set its high-water mark (and ZMQ_IMMEDIATE if
 * `immediate`: queue only to peers that are connected) and its `guard`,
 * then bind or connect it to `endpoint`. Returns the socket or NULL after
 * logging why. */
static void *open_socket(runner *r, int type, int hwm, int immediate, const char *endpoint,
                         int bind, const link_guard *guard)
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
    if (guard_socket(sock, guard) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot secure the socket for %s: %s", endpoint,
             zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
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

/* Read this stage's secret key (curve_secret_key_file) into `secret` and
 * check its public half against curve_public_key. Returns 0, or -1 after
 * logging why (with the stage's FILE:LINE: a configuration error). */
static int load_own_key(runner *r, char secret[41])
{
    const sluice_stage_common *common = &r->stage->common;
    char public_key[41], err[512];

    if (!common->curve_secret_key_file || !common->curve_public_key) {
        RLOG(r, SLUICE_LOG_ERROR, "%s:%d: stage '%s' has a tcp link with keys but no key pair "
             "of its own (curve_public_key, curve_secret_key_file)", r->stage->file,
             r->stage->line, r->stage->name);
        return -1;
    }
    if (sluice_curve_read_secret(common->curve_secret_key_file, secret, public_key, err,
                                 sizeof(err)) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "%s:%d: stage '%s': curve_secret_key_file: %s",
             r->stage->file, r->stage->line, r->stage->name, err);
        return -1;
    }
    if (strcmp(public_key, common->curve_public_key) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "%s:%d: stage '%s': curve_secret_key_file %s is not the "
             "secret half of curve_public_key", r->stage->file, r->stage->line,
             r->stage->name, common->curve_secret_key_file);
        explicit_bzero(secret, 41);
        return -1;
    }
    return 0;
}

/* Warn (at every start) about a tcp link off loopback without keys. */
static void warn_insecure(runner *r, size_t into, const char *endpoint)
{
    RLOG(r, SLUICE_LOG_WARN, "the link into stage '%s' (%s and the next port) has no keys "
         "(insecure_tcp = true): anyone who can reach it can inject records, make real ones "
         "vanish, steal acks and read everything that passes",
         r->pipeline->stages[into].name, endpoint);
}

/* Open the runner's input: data PULL and ack PUSH, bound. 0 or -1. */
static int open_input(runner *r, const char *secret)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
    int hwm = r->stage->common.hwm > 0 ? r->stage->common.hwm : 4;
    sluice_link_kind kind = sluice_link_kind_of(r->pipeline, r->index);
    link_guard data_guard = {0}, ack_guard = {0};

    if (sluice_stage_endpoints(r->pipeline, r->index, r->instance, r->inproc_in, data,
                               sizeof(data), ack, sizeof(ack), err, sizeof(err)) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "%s", err);
        return -1;
    }
    if (!r->inproc_in) {
        /* a frame over the limit drops its connection before it is buffered */
        data_guard.max_message = sluice_link_frame_max(r->pipeline, r->index);
        ack_guard.max_message = SLUICE_ACK_FRAME_MAX_BYTES; /* a PUSH takes nothing */
        if (kind == SLUICE_LINK_CURVE) {
            data_guard.zap_domain = ack_guard.zap_domain = r->stage->name;
            data_guard.secret = ack_guard.secret = secret;
        } else if (kind == SLUICE_LINK_INSECURE) {
            warn_insecure(r, r->index, data);
        }
    }
    r->data_in = open_socket(r, ZMQ_PULL, hwm, 0, data, 1, &data_guard);
    r->ack_out = r->data_in ? open_socket(r, ZMQ_PUSH, ACK_HWM, 0, ack, 1, &ack_guard) : NULL;
    return r->ack_out ? 0 : -1;
}

/* Open the runner's link downstream: data PUSH and ack PULL, connected to
 * every process of the next stage. 0 or -1. */
static int open_output(runner *r, const char *secret)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
    size_t next_index = r->index + 1;
    const sluice_stage_def *next = &r->pipeline->stages[next_index];
    int hwm = next->common.hwm > 0 ? next->common.hwm : 4;
    unsigned instances = sluice_stage_last_instance(next);
    sluice_link_kind kind = sluice_link_kind_of(r->pipeline, next_index);
    link_guard data_guard = {0}, ack_guard = {0};

    if (!r->inproc_out) {
        r->frame_max_out = sluice_link_frame_max(r->pipeline, next_index);
        ack_guard.max_message = SLUICE_ACK_FRAME_MAX_BYTES;
        data_guard.max_message = SLUICE_ACK_FRAME_MAX_BYTES; /* a PUSH takes nothing */
        if (kind == SLUICE_LINK_CURVE) {
            data_guard.secret = ack_guard.secret = secret;
            data_guard.public_key = ack_guard.public_key = r->stage->common.curve_public_key;
            data_guard.server_key = ack_guard.server_key = next->common.curve_public_key;
        } else if (kind == SLUICE_LINK_INSECURE) {
            warn_insecure(r, next_index, next->common.endpoint);
        }
    }
    for (unsigned k = sluice_stage_first_instance(next); k <= instances; k++) {
        if (sluice_stage_endpoints(r->pipeline, next_index, k, r->inproc_out, data,
                                   sizeof(data), ack, sizeof(ack), err, sizeof(err)) != 0) {
            RLOG(r, SLUICE_LOG_ERROR, "%s", err);
            return -1;
        }
        if (k <= 1) {
            r->data_out = open_socket(r, ZMQ_PUSH, hwm, instances > 0, data, 0, &data_guard);
            r->ack_in = r->data_out ? open_socket(r, ZMQ_PULL, ACK_HWM, 0, ack, 0, &ack_guard)
                                    : NULL;
            if (!r->ack_in)
                return -1;
        } else if (connect_more(r, r->data_out, data) != 0 ||
                   connect_more(r, r->ack_in, ack) != 0) {
            return -1;
        }
    }
    return 0;
}

int link_open(runner *r)
{
    int has_input = r->index > 0;
    int has_output = r->index + 1 < r->pipeline->stage_count;
    int curve_in = has_input && !r->inproc_in &&
                   sluice_link_kind_of(r->pipeline, r->index) == SLUICE_LINK_CURVE;
    int curve_out = has_output && !r->inproc_out &&
                    sluice_link_kind_of(r->pipeline, r->index + 1) == SLUICE_LINK_CURVE;
    char secret[41] = "";
    int result = -1;

    if ((curve_in || curve_out) && load_own_key(r, secret) != 0) {
        r->setup_fatal = 1; /* a restart cannot fix a key file */
        goto out;
    }
    if (has_input && open_input(r, secret) != 0)
        goto out;
    if (has_output && open_output(r, secret) != 0)
        goto out;
    result = 0;
out:
    explicit_bzero(secret, sizeof(secret)); /* libzmq keeps its own copy */
    return result;
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

/* Bytes slot `i` adds to a frame: its record line, and its origin line
 * when it travels unverified. */
static size_t slot_frame_bytes(const sluice_batch_slot *slot)
{
    size_t bytes = 1;
    size_t origin_len = 0;

    if (slot->record)
        bytes += json_dumpb(slot->record, NULL, 0, JSON_COMPACT);
    else
        bytes += slot->text_len;
    if (slot->unverified && !slot->record && slot->text) {
        sluice_slot_origin(slot, &origin_len);
        bytes += origin_len + 1;
    }
    return bytes;
}

/* A frame of `len` bytes is over what the next stage takes: reject the
 * batch's largest records (parked in the dead-letter queue with the
 * reason) and compact it, until about `len - frame_max_out` bytes are
 * gone. Returns 0, or -1 when nothing is left to take out or the store
 * failed (logged). */
static int shrink_batch(runner *r, sluice_batch *batch, size_t len)
{
    size_t excess = len - (size_t)r->frame_max_out;
    const char *next = r->pipeline->stages[r->index + 1].name;

    while (excess > 0) {
        size_t largest = 0, largest_bytes = 0;
        char reason[320];

        for (size_t i = 0; i < batch->count; i++) {
            const sluice_batch_slot *slot = &batch->slots[i];
            size_t bytes;
            if (slot->dropped || !sluice_slot_has_record(slot) ||
                slot->outcome == SLUICE_RECORD_REJECTED)
                continue;
            bytes = slot_frame_bytes(slot);
            if (bytes > largest_bytes) {
                largest = i;
                largest_bytes = bytes;
            }
        }
        if (largest_bytes == 0) {
            RLOG(r, SLUICE_LOG_ERROR, "batch %" PRIu64 "/%" PRIu64 " does not fit in a frame "
                 "of max_frame_bytes = %lld (stage '%s') even without records", batch->epoch,
                 batch->id, r->frame_max_out, next);
            return -1;
        }
        snprintf(reason, sizeof(reason), "record of %zu bytes: its batch's frame of %zu "
                 "bytes is over max_frame_bytes = %lld of stage '%s' (raise it to pass such "
                 "records, then sluice dlq replay)", largest_bytes - 1, len, r->frame_max_out,
                 next);
        sluice_batch_reject(batch, largest, reason);
        excess = largest_bytes >= excess ? 0 : excess - largest_bytes;
    }
    if (runner_park_rejected(r, batch) != 0)
        return -1;
    sluice_batch_compact(batch);
    return 0;
}

/* Encode `batch` for the wire within the next stage's max_frame_bytes
 * (shrink_batch as needed). Returns the frame (caller frees) and its
 * length in *len, or NULL after logging why. */
static char *encode_to_fit(runner *r, sluice_batch *batch, size_t *len)
{
    for (;;) {
        char *frame = sluice_wire_encode(batch, len);
        if (!frame) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot encode batch %" PRIu64 "/%" PRIu64,
                 batch->epoch, batch->id);
            return NULL;
        }
        if (r->frame_max_out <= 0 || *len <= (size_t)r->frame_max_out)
            return frame;
        free(frame);
        RLOG(r, SLUICE_LOG_WARN, "batch %" PRIu64 "/%" PRIu64 " makes a frame of %zu bytes, "
             "over max_frame_bytes = %lld of stage '%s': its largest records go to the "
             "dead-letter queue", batch->epoch, batch->id, *len, r->frame_max_out,
             r->pipeline->stages[r->index + 1].name);
        if (shrink_batch(r, batch, *len) != 0)
            return NULL;
    }
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
        char *frame = encode_to_fit(r, batch, &len);
        if (!frame)
            goto out;
        if (zmq_msg_init_data(&msg, frame, len, free_frame, NULL) != 0) {
            free(frame);
            goto out;
        }
        sluice_batch_destroy(&batch); /* the frame is all that travels */
    }
    msg_ready = 1;
    for (;;) {
        zmq_pollitem_t items[3];
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
            items[nitems++] = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
            if (r->pending_count) /* acks waiting for upstream to (re)connect */
                items[nitems++] = (zmq_pollitem_t){.socket = r->ack_out, .events = ZMQ_POLLOUT};
        }
        /* room downstream, an ack or a wake-up (a flag changed) ends it */
        if (link_poll(r, items, nitems, -1) > 0 && nitems >= 2) {
            if (items[1].revents & ZMQ_POLLIN)
                link_forward_acks(r);
            else
                link_flush_acks(r);
        }
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

/* How often a sink tells upstream it is alive while it works or waits
 * (link_sink_heartbeat): every HEARTBEAT_MS, or per quarter ack_timeout_ms
 * if that is shorter. */
static long heartbeat_every(const runner *r)
{
    long every = HEARTBEAT_MS;

    if (r->pipeline->ack_timeout_ms > 0 && r->pipeline->ack_timeout_ms / 4 < every)
        every = r->pipeline->ack_timeout_ms / 4;
    return every > 0 ? every : 1;
}

void link_sink_heartbeat(sluice_ctx *ctx)
{
    runner *r = (runner *)((char *)ctx - offsetof(runner, ctx));
    int64_t now = sluice_clock_ms();

    /* well inside the source's patience, whatever ack_timeout_ms is */
    if (!r->epoch || now - r->heartbeat_ms < heartbeat_every(r))
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
        r->m.last_commit = sluice_wall_seconds();
        link_send_ack(r, epoch, id);
    }
    runner_stats_save(r, 0);
}

int link_poll(runner *r, zmq_pollitem_t *items, int n, long timeout_ms)
{
    zmq_pollitem_t all[LINK_POLL_MAX];
    int total = n, ready, result = 0;

    if (n < 0 || n >= LINK_POLL_MAX)
        return -1;
    if (n > 0)
        memcpy(all, items, (size_t)n * sizeof(*items));
    if (r->wake_fd >= 0)
        all[total++] = (zmq_pollitem_t){.fd = r->wake_fd, .events = ZMQ_POLLIN};
    ready = zmq_poll(all, total, timeout_ms);
    if (ready < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        items[i].revents = all[i].revents;
        if (all[i].revents)
            result++;
    }
    if (total > n && all[n].revents)
        sluice_wake_drain(r->wake_fd);
    return result;
}

long link_timeout(int64_t deadline)
{
    int64_t left;

    if (deadline == 0)
        return -1;
    left = deadline - sluice_clock_ms();
    return left > 0 ? (long)left : 0;
}

int link_wait(runner *r, long ms)
{
    int64_t deadline = sluice_clock_ms() + ms;

    for (;;) {
        int64_t now = sluice_clock_ms();
        long left = (long)(deadline - now);
        zmq_pollitem_t items[2];
        int n = 0;

        if (runner_must_quit(r))
            return -1;
        if (left <= 0)
            return 0;
        if (r->ctx.progress) {
            r->ctx.progress(&r->ctx); /* paces itself (link_sink_heartbeat) */
            if (left > heartbeat_every(r))
                left = heartbeat_every(r);
        }
        if (r->index > 0 && r->ack_in) {
            items[n++] = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
            if (r->pending_count)
                items[n++] = (zmq_pollitem_t){.socket = r->ack_out, .events = ZMQ_POLLOUT};
        }
        if (link_poll(r, items, n, left) > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                link_forward_acks(r);
            else
                link_flush_acks(r);
        }
    }
}
