/* stage.c: the stage runners (source, transform, sink) that drive one plugin
 * instance over ZeroMQ with the ack protocol of docs/architecture.md, and
 * placement units that run several stages as threads of one process. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <zmq.h>

#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "stage.h"
#include "store.h"

/* Backoff of whole-call retries (poll/process/write returned RETRY). */
#define RETRY_BASE_MS 200L
/* How long a runner blocks in zmq_poll before looking at its flags. */
#define FLAG_CHECK_MS 100L
/* Source pacing after SLUICE_AGAIN and (without --once) SLUICE_EOF. */
#define AGAIN_IDLE_MS 10L
#define EOF_IDLE_MS 200L
/* Acks are tiny; their queues must never be what blocks a stage. */
#define ACK_HWM 100000
/* Linger on a graceful close, so the last acks reach their peer. */
#define GRACEFUL_LINGER_MS 1000
/* Acks waiting for an upstream peer (e.g. one that is restarting). */
#define PENDING_ACKS_MAX 4096
/* The statistics file is rewritten at most this often (and at exit). */
#define STATS_INTERVAL_MS 250
/* A sink busy in one long write() tells upstream it is alive this often
 * (or every ack_timeout_ms / 4 if that is shorter). */
#define HEARTBEAT_MS 1000

typedef struct runner {
    const sluice_pipeline_def *pipeline;
    const sluice_stage_def *stage;
    size_t index;
    unsigned instance;                /* k of a stage run as several processes
                                         (1..instances), else 0 */
    char label[SLUICE_ENDPOINT_MAX];  /* stage name, "#k" added for instance k:
                                         logs, statistics file */
    int parallel;                     /* one of several instances: sees some of
                                         the batches, in any order */
    sluice_reorder reorder;           /* downstream of a parallel stage: batches
                                         that came before their predecessors */
    int once;
    void *zctx;                       /* borrowed: the unit's context */
    int inproc_in;                    /* upstream is a thread of this unit */
    int inproc_out;                   /* downstream is a thread of this unit */
    const sluice_unit_signals *signals;
    volatile int *unit_stop;          /* set when the unit must wind down */
    int unit_has_source;

    sluice_ctx ctx;
    void *plugin_state;
    int plugin_ready;                 /* init() succeeded, fini() owed */

    void *data_in;                    /* PULL, bound: batches from upstream */
    void *ack_out;                    /* PUSH, bound: acks to upstream */
    void *data_out;                   /* PUSH, connected: batches downstream */
    void *ack_in;                     /* PULL, connected: acks from downstream */

    uint64_t pending_acks[PENDING_ACKS_MAX][2]; /* (epoch, id) not yet sent */
    size_t pending_head, pending_count;

    uint64_t epoch;                   /* current source incarnation */
    uint64_t last_id;                 /* non-source: last batch of `epoch` this
                                         process handled (they run 1..last_id) */
    int epoch_broken;                 /* non-source: a batch of `epoch` is missing
                                         here; wait for the source's rewind */
    uint64_t rng;                     /* xorshift state for jitter */

    /* statistics for the --once summary (see sluice_stage_stats_path) */
    char stats_path[SLUICE_ENDPOINT_MAX];
    double base_in, base_delivered, base_events;
    uint64_t records_in;              /* source: records of committed batches */
    uint64_t delivered;               /* sink: records DONE */
    int64_t stats_written_ms;
    int64_t heartbeat_ms;             /* sink: last heartbeat sent upstream */
    int result;                       /* exit code when run as a thread */
} runner;

#define RLOG(r, level, ...) \
    sluice_log_write((r)->pipeline->name, (r)->label, (level), __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Small helpers.                                                     */
/* ------------------------------------------------------------------ */

/* Monotonic clock in milliseconds. */
static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Uniform double in [0, 1) from the runner's xorshift64* generator. */
static double next_random(runner *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* 1 when the runner must leave now: the unit winds down, or (outside a
 * unit holding the source) the process was asked to stop. */
static int must_quit(const runner *r)
{
    if (*r->unit_stop || *r->signals->hard)
        return 1;
    if (r->index == 0 || r->unit_has_source)
        return 0;
    return *r->signals->term != 0;
}

/* ------------------------------------------------------------------ */
/* In-flight window.                                                  */
/* ------------------------------------------------------------------ */

int sluice_window_init(sluice_window *w, size_t capacity)
{
    memset(w, 0, sizeof(*w));
    if (capacity == 0)
        return -1;
    w->entries = calloc(capacity, sizeof(*w->entries));
    if (!w->entries)
        return -1;
    w->capacity = capacity;
    return 0;
}

void sluice_window_clear(sluice_window *w, int release)
{
    for (size_t i = 0; i < w->count; i++) {
        sluice_window_entry *e = &w->entries[(w->head + i) % w->capacity];
        json_decref(e->checkpoint);
        e->checkpoint = NULL;
    }
    w->head = 0;
    w->count = 0;
    if (release) {
        free(w->entries);
        w->entries = NULL;
        w->capacity = 0;
    }
}

int sluice_window_push(sluice_window *w, uint64_t id, json_t *checkpoint, size_t records,
                       int64_t sent_ms)
{
    sluice_window_entry *e;

    if (w->count == w->capacity)
        goto refuse;
    if (w->count > 0 && w->entries[(w->head + w->count - 1) % w->capacity].id >= id)
        goto refuse;
    e = &w->entries[(w->head + w->count) % w->capacity];
    e->id = id;
    e->checkpoint = checkpoint;
    e->records = records;
    e->sent_ms = sent_ms;
    e->done = 0;
    w->count++;
    return 0;
refuse:
    json_decref(checkpoint);
    return -1;
}

int sluice_window_ack(sluice_window *w, uint64_t id)
{
    for (size_t i = 0; i < w->count; i++) {
        sluice_window_entry *e = &w->entries[(w->head + i) % w->capacity];
        if (e->id == id) {
            if (e->done)
                return 1;
            e->done = 1;
            return 0;
        }
    }
    return 1;
}

size_t sluice_window_pop_done(sluice_window *w, uint64_t *last_id, json_t **checkpoint,
                              size_t *records)
{
    size_t popped = 0;
    size_t record_sum = 0;
    json_t *newest = NULL;

    while (w->count > 0 && w->entries[w->head].done) {
        sluice_window_entry *e = &w->entries[w->head];
        *last_id = e->id;
        record_sum += e->records;
        if (e->checkpoint) {
            json_decref(newest);
            newest = e->checkpoint;
        }
        e->checkpoint = NULL;
        w->head = (w->head + 1) % w->capacity;
        w->count--;
        popped++;
    }
    if (records)
        *records = record_sum;
    if (checkpoint)
        *checkpoint = newest;
    else
        json_decref(newest);
    return popped;
}

int64_t sluice_window_oldest_sent(const sluice_window *w)
{
    return w->count ? w->entries[w->head].sent_ms : -1;
}

/* ------------------------------------------------------------------ */
/* Re-sequencing buffer.                                              */
/* ------------------------------------------------------------------ */

int sluice_reorder_init(sluice_reorder *q, size_t capacity)
{
    memset(q, 0, sizeof(*q));
    if (capacity == 0)
        return -1;
    q->held = calloc(capacity, sizeof(*q->held));
    if (!q->held)
        return -1;
    q->capacity = capacity;
    return 0;
}

void sluice_reorder_clear(sluice_reorder *q, int release)
{
    for (size_t i = 0; i < q->count; i++)
        sluice_batch_destroy(&q->held[i]);
    q->count = 0;
    if (release) {
        free(q->held);
        q->held = NULL;
        q->capacity = 0;
    }
}

int sluice_reorder_hold(sluice_reorder *q, sluice_batch *batch)
{
    for (size_t i = 0; i < q->count; i++) {
        if (q->held[i]->epoch == batch->epoch && q->held[i]->id == batch->id)
            goto refuse;
    }
    if (q->count == q->capacity)
        goto refuse;
    q->held[q->count++] = batch;
    return 0;
refuse:
    sluice_batch_destroy(&batch);
    return -1;
}

sluice_batch *sluice_reorder_take(sluice_reorder *q, uint64_t epoch, uint64_t id)
{
    for (size_t i = 0; i < q->count; i++) {
        sluice_batch *batch = q->held[i];
        if (batch->epoch == epoch && batch->id == id) {
            q->held[i] = q->held[--q->count];
            q->held[q->count] = NULL;
            return batch;
        }
    }
    return NULL;
}

size_t sluice_reorder_drop_before(sluice_reorder *q, uint64_t epoch)
{
    size_t dropped = 0;

    for (size_t i = 0; i < q->count;) {
        if (q->held[i]->epoch < epoch) {
            sluice_batch_destroy(&q->held[i]);
            q->held[i] = q->held[--q->count];
            q->held[q->count] = NULL;
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}

long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01)
{
    double ceiling = (double)base_ms;
    double delay;

    if (cap_ms < base_ms)
        cap_ms = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < (double)cap_ms; i++)
        ceiling *= 2.0;
    if (ceiling > (double)cap_ms)
        ceiling = (double)cap_ms;
    if (random01 < 0.0)
        random01 = 0.0;
    if (random01 >= 1.0)
        random01 = 0.999999;
    delay = ceiling * random01;
    if (hint_s > 0.0 && delay < hint_s * 1000.0)
        delay = hint_s * 1000.0;
    return (long)delay;
}

/* ------------------------------------------------------------------ */
/* Endpoints and statistics files.                                    */
/* ------------------------------------------------------------------ */

int sluice_stage_endpoints(const sluice_pipeline_def *pipeline, size_t index,
                           unsigned instance, int inproc, char *data, size_t data_len,
                           char *ack, size_t ack_len, char *errbuf, size_t errlen)
{
    const sluice_stage_def *stage = &pipeline->stages[index];
    const char *endpoint = stage->common.endpoint;
    int n1, n2;

    if (inproc) {
        n1 = snprintf(data, data_len, "inproc://%s.data", stage->name);
        n2 = snprintf(ack, ack_len, "inproc://%s.ack", stage->name);
    } else if (endpoint && strncmp(endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr(endpoint + 6, ':');
        char *end = NULL;
        long port;

        if (!colon) {
            snprintf(errbuf, errlen, "stage '%s': endpoint '%s' has no port", stage->name,
                     endpoint);
            return -1;
        }
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65534) {
            snprintf(errbuf, errlen,
                     "stage '%s': endpoint '%s' needs a port in 1..65534 (acks use port+1)",
                     stage->name, endpoint);
            return -1;
        }
        n1 = snprintf(data, data_len, "%s", endpoint);
        n2 = snprintf(ack, ack_len, "%.*s:%ld", (int)(colon - endpoint), endpoint, port + 1);
    } else if (endpoint) {
        n1 = snprintf(data, data_len, "%s", endpoint);
        n2 = snprintf(ack, ack_len, "%s.ack", endpoint);
    } else if (instance > 0) {
        n1 = snprintf(data, data_len, "ipc://%s/%s#%u.data", pipeline->runtime_dir,
                      stage->name, instance);
        n2 = snprintf(ack, ack_len, "ipc://%s/%s#%u.ack", pipeline->runtime_dir, stage->name,
                      instance);
    } else {
        n1 = snprintf(data, data_len, "ipc://%s/%s.data", pipeline->runtime_dir, stage->name);
        n2 = snprintf(ack, ack_len, "ipc://%s/%s.ack", pipeline->runtime_dir, stage->name);
    }
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= data_len || (size_t)n2 >= ack_len) {
        snprintf(errbuf, errlen, "stage '%s': endpoint name too long", stage->name);
        return -1;
    }
    return 0;
}

int sluice_stage_label(const sluice_pipeline_def *pipeline, size_t index, unsigned instance,
                       char *buf, size_t len)
{
    int n = instance > 0 ? snprintf(buf, len, "%s#%u", pipeline->stages[index].name, instance)
                         : snprintf(buf, len, "%s", pipeline->stages[index].name);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int sluice_stage_stats_path(const sluice_pipeline_def *pipeline, const char *label,
                            char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s.stats", pipeline->runtime_dir, label);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Read the counters a previous incarnation of this stage left in its
 * statistics file (the supervisor removes the files when a run starts). */
static void stats_load(runner *r)
{
    json_t *doc;

    if (sluice_stage_stats_path(r->pipeline, r->label, r->stats_path,
                                sizeof(r->stats_path)) != 0) {
        r->stats_path[0] = '\0';
        return;
    }
    doc = json_load_file(r->stats_path, 0, NULL);
    if (!doc)
        return;
    r->base_in = json_number_value(json_object_get(doc, "records_in"));
    r->base_delivered = json_number_value(json_object_get(doc, "delivered"));
    r->base_events = json_number_value(json_object_get(doc, "events_derived"));
    json_decref(doc);
}

/* Write the statistics file (atomically: temp file + rename), at most
 * every STATS_INTERVAL_MS unless `force`. Failures only cost the summary. */
static void stats_save(runner *r, int force)
{
    char tmp[SLUICE_ENDPOINT_MAX + 8];
    json_t *doc = NULL;
    int64_t now = now_ms();
    double events;

    if (!r->stats_path[0] || (!force && now - r->stats_written_ms < STATS_INTERVAL_MS))
        return;
    r->stats_written_ms = now;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->stats_path) >= (int)sizeof(tmp))
        return;
    events = sluice_metrics_get(r->pipeline->name, r->stage->name,
                                SLUICE_METRIC_EVENTS_DERIVED);
    doc = json_pack("{s:f, s:f, s:f}", "records_in", r->base_in + (double)r->records_in,
                    "delivered", r->base_delivered + (double)r->delivered,
                    "events_derived", r->base_events + events);
    if (!doc)
        return;
    if (json_dump_file(doc, tmp, JSON_COMPACT) == 0 && rename(tmp, r->stats_path) != 0)
        unlink(tmp);
    json_decref(doc);
}

/* ------------------------------------------------------------------ */
/* Sockets.                                                           */
/* ------------------------------------------------------------------ */

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

/* Open the runner's sockets: its own input (bound) unless it is the source,
 * and the link to its downstream (connected) unless it is the sink. A
 * downstream stage run as N instances gets one connection per instance on
 * both sockets: PUSH deals batches out round-robin among the instances that
 * are up (ZMQ_IMMEDIATE: none queue for a dead one), PULL takes their acks
 * fairly. Returns 0 or -1 (logged). */
static int open_links(runner *r)
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

/* Close every socket; batch pointers still queued on an inproc input are
 * freed so a graceful stop leaks nothing. */
static void close_links(runner *r, int graceful)
{
    int linger = graceful ? GRACEFUL_LINGER_MS : 0;

    if (r->data_in && r->inproc_in) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        while (zmq_msg_recv(&msg, r->data_in, ZMQ_DONTWAIT) >= 0) {
            sluice_batch *batch = NULL;
            if (zmq_msg_size(&msg) == sizeof(batch)) {
                memcpy(&batch, zmq_msg_data(&msg), sizeof(batch));
                sluice_batch_destroy(&batch);
            }
        }
        zmq_msg_close(&msg);
    }
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

static void forward_acks(runner *r);

/* Send a batch downstream (stolen, also on failure): its pointer on an
 * inproc link, its wire encoding (zero-copy) otherwise. Blocks while the
 * downstream queue is full (backpressure), serving acks meanwhile (non-
 * source stages), until must_quit(). Returns 0, or -1 (batch dropped: it
 * will be replayed). */
static int send_batch(runner *r, sluice_batch *batch)
{
    zmq_msg_t msg;
    int msg_ready = 0;
    int result = -1;

    if (r->inproc_out) {
        if (zmq_msg_init_size(&msg, sizeof(batch)) != 0)
            goto out;
        memcpy(zmq_msg_data(&msg), &batch, sizeof(batch));
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
            batch = NULL; /* inproc: the receiver owns it now */
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot send a batch: %s", zmq_strerror(errno));
            break;
        }
        if (must_quit(r))
            break;
        items[0] = (zmq_pollitem_t){.socket = r->data_out, .events = ZMQ_POLLOUT};
        if (r->index > 0 && r->ack_in) {
            items[1] = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
            nitems = 2;
        }
        if (zmq_poll(items, nitems, FLAG_CHECK_MS) > 0 && nitems == 2 &&
            (items[1].revents & ZMQ_POLLIN))
            forward_acks(r);
    }
out:
    if (msg_ready)
        zmq_msg_close(&msg);
    sluice_batch_destroy(&batch);
    return result;
}

/* Receive one batch if one is waiting. Returns the batch (caller owns), or
 * NULL when none is waiting or the frame was corrupt (logged, dropped). */
static sluice_batch *recv_batch(runner *r)
{
    zmq_msg_t msg;
    sluice_batch *batch = NULL;

    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->data_in, ZMQ_DONTWAIT) < 0)
        goto out;
    if (r->inproc_in) {
        if (zmq_msg_size(&msg) == sizeof(batch))
            memcpy(&batch, zmq_msg_data(&msg), sizeof(batch));
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

/* Send the acks waiting in the runner's queue upstream, oldest first,
 * without blocking: a bound PUSH has no peer while the upstream stage is
 * (re)connecting, so what cannot go now stays queued for the next call. */
static void flush_acks(runner *r)
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

/* Queue the ack of batch (epoch, id) for upstream and send what can go.
 * Never blocks. When the queue is full the oldest ack is dropped (the
 * source's ack timeout then replays its batch). */
static void send_ack(runner *r, uint64_t epoch, uint64_t id)
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
    flush_acks(r);
}

/* The sink's ctx->progress hook: while write() works through a long batch
 * (hundreds of rate-limited requests), send upstream at most one heartbeat
 * a second (or per quarter ack_timeout_ms): an ack frame with id 0 for the
 * batch's epoch. Transforms pass
 * it on without committing; the source takes any ack as a sign of life and
 * does not rewind a sink that is slow but working. */
static void sink_heartbeat(sluice_ctx *ctx)
{
    runner *r = (runner *)((char *)ctx - offsetof(runner, ctx));
    int64_t now = now_ms();
    long every = HEARTBEAT_MS;

    /* well inside the source's patience, whatever ack_timeout_ms is */
    if (r->pipeline->ack_timeout_ms > 0 && r->pipeline->ack_timeout_ms / 4 < every)
        every = r->pipeline->ack_timeout_ms / 4;
    if (!r->epoch || now - r->heartbeat_ms < every)
        return;
    r->heartbeat_ms = now;
    send_ack(r, r->epoch, 0);
}

/* Transforms: take every ack waiting from downstream, commit the stage's
 * staged state up to that batch, THEN pass the ack upstream, so state is
 * committed downstream-first and the source's checkpoint last. */
static void forward_acks(runner *r)
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
            send_ack(r, epoch, id); /* id 0: a sink's heartbeat (sink_heartbeat) */
            continue;
        }
        /* An instance of a stateless stage staged nothing to commit, and
         * downstream hands acks to whichever instance is up: the ack says
         * downstream took the batch, whoever transformed it. */
        if (r->parallel) {
            send_ack(r, epoch, id);
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
        send_ack(r, epoch, id);
    }
    stats_save(r, 0);
}

/* Wait up to `ms`, serving acks (transforms) and watching the quit flags.
 * Returns 0 after the full wait, -1 as soon as must_quit(). */
static int runner_wait(runner *r, long ms)
{
    int64_t deadline = now_ms() + ms;

    for (;;) {
        int64_t left = deadline - now_ms();
        zmq_pollitem_t item = {.socket = r->ack_in, .events = ZMQ_POLLIN};

        if (must_quit(r))
            return -1;
        if (left <= 0)
            return 0;
        if (left > FLAG_CHECK_MS)
            left = FLAG_CHECK_MS;
        if (r->index > 0 && r->ack_in) {
            if (zmq_poll(&item, 1, (long)left) > 0)
                forward_acks(r);
        } else {
            zmq_poll(NULL, 0, (long)left);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Shared stage steps.                                                */
/* ------------------------------------------------------------------ */

/* Log the plugin's fatal message the way a person reads it. */
static void log_fatal(runner *r, const char *callback)
{
    if (r->ctx.fail_message[0])
        RLOG(r, SLUICE_LOG_ERROR, "%s: %s", r->stage->name, r->ctx.fail_message);
    else
        RLOG(r, SLUICE_LOG_ERROR, "%s: %s() returned SLUICE_FATAL without a message",
             r->stage->name, callback);
}

/* Call the plugin's init(). Returns SLUICE_STAGE_EXIT_OK, _ERROR or _FATAL. */
static int plugin_init(runner *r)
{
    sluice_status st;

    r->ctx.fail_message[0] = '\0';
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
        log_fatal(r, "init");
        return SLUICE_STAGE_EXIT_FATAL;
    }
    RLOG(r, SLUICE_LOG_ERROR, "init() failed (status %d)%s%s", (int)st,
         r->ctx.fail_message[0] ? ": " : "", r->ctx.fail_message);
    return SLUICE_STAGE_EXIT_ERROR;
}

/* Call fini() if init() succeeded. */
static void plugin_fini(runner *r)
{
    if (r->plugin_ready && r->stage->plugin->fini)
        r->stage->plugin->fini(&r->ctx, r->plugin_state);
    r->plugin_ready = 0;
    r->plugin_state = NULL;
}

/* Park every rejected record of `batch` in the dead-letter queue, with the
 * name of the stage that rejected it. Returns 0, or -1 if the store failed
 * (the batch must then not go further: it will be replayed). */
static int park_rejected(runner *r, sluice_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        sluice_batch_slot *slot = &batch->slots[i];
        const char *by = slot->rejected_by ? slot->rejected_by : r->stage->name;
        const char *reason = slot->reason ? slot->reason : "rejected";

        json_t *record;

        if (slot->dropped || slot->outcome != SLUICE_RECORD_REJECTED)
            continue;
        record = sluice_batch_slot_record(batch, i); /* rejected unparsed: parse now */
        if (!record)
            continue;
        if (sluice_store_dlq_add(r->ctx.store, by, batch->epoch, batch->id, record,
                                 reason) < 0) {
            RLOG(r, SLUICE_LOG_ERROR, "cannot park a rejected record of batch %" PRIu64
                 "/%" PRIu64 " in the dead-letter queue", batch->epoch, batch->id);
            return -1;
        }
        RLOG(r, SLUICE_LOG_DEBUG, "record %zu of batch %" PRIu64 "/%" PRIu64
             " rejected by %s: %s", i, batch->epoch, batch->id, by, reason);
    }
    return 0;
}

/* Decide whether a non-source stage handles `batch`. An instance of a
 * stage run as several processes takes any batch not older than its
 * epoch (it keeps no state). Any other stage's state must be built from
 * an unbroken run of batches: it adopts an epoch only at its
 * first batch (id 1) and then takes ids in sequence. A batch of an older
 * epoch, a duplicate, or a batch whose predecessors this process never saw
 * (it was restarted, or a batch was lost) is destroyed unhandled: no ack
 * flows for it and the source's rewind (SIGUSR1 from the supervisor, or its
 * ack timeout) replays it under a new epoch. Returns 1 if the batch is to
 * be handled, 0 if it was destroyed. */
static int adopt_epoch(runner *r, sluice_batch **batch_p)
{
    sluice_batch *batch = *batch_p;

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

/* Hand `batch` (stolen) to `handle` (transform_batch or sink_batch) in id
 * order. Behind a stage run as one process batches arrive in order and go
 * straight through. Behind a parallel stage a batch that came before a
 * predecessor is held, and after each batch handled the held one that is
 * next goes too; a rewind's new epoch drops the held ones it replaced. A
 * batch that finds the buffer full is dropped (logged): it is lost as if
 * its instance died, and the source's ack timeout replays it. Returns the
 * exit code of the last handle() call (SLUICE_STAGE_EXIT_OK if none). */
static int handle_in_order(runner *r, sluice_batch *batch,
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
    while (result == SLUICE_STAGE_EXIT_OK && !must_quit(r) &&
           (batch = sluice_reorder_take(&r->reorder, r->epoch, r->last_id + 1)) != NULL)
        result = handle(r, batch);
    return result;
}

/* ------------------------------------------------------------------ */
/* Source runner.                                                     */
/* ------------------------------------------------------------------ */

typedef struct source_run {
    sluice_window window;
    uint64_t next_id;
    json_t *committed_cp;   /* last durably committed checkpoint (owned) */
    json_t *sent_cp;        /* checkpoint of the last batch sent (owned) */
    int eof;                /* poll() said EOF (for --once: stop polling) */
    int64_t idle_until;     /* no poll() before this time */
    int64_t last_ack_ms;    /* when downstream last acknowledged a batch of this epoch */
    unsigned retries;       /* consecutive poll() RETRY answers */
} source_run;

/* Take the acks waiting from downstream and mark their batches done. */
static void source_take_acks(runner *r, source_run *s)
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
        /* any ack shows downstream alive and working (see run_source) */
        s->last_ack_ms = now_ms();
        if (epoch != r->epoch || id == 0)
            continue; /* forgotten by a rewind, or a sink's heartbeat */
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
    stats_save(r, 1); /* exact: a restarted source continues from here */
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
    s->next_id = 1;
    s->eof = 0;
    s->idle_until = 0;
    s->last_ack_ms = 0;
    json_decref(s->sent_cp);
    s->sent_cp = s->committed_cp ? json_deep_copy(s->committed_cp) : NULL;
    r->ctx.fail_message[0] = '\0';
    if (r->stage->plugin->rewind) {
        st = r->stage->plugin->rewind(&r->ctx, r->plugin_state, s->committed_cp);
        if (st == SLUICE_OK)
            return SLUICE_STAGE_EXIT_OK;
        if (st == SLUICE_FATAL) {
            log_fatal(r, "rewind");
            return SLUICE_STAGE_EXIT_FATAL;
        }
        RLOG(r, SLUICE_LOG_ERROR, "rewind() failed (status %d)", (int)st);
        return SLUICE_STAGE_EXIT_ERROR;
    }
    plugin_fini(r);
    return plugin_init(r);
}

/* Put records queued by `sluice dlq replay` at the head of a new batch;
 * they are deleted from the queue when the batch is committed. Returns 0
 * or -1 on a store error (logged). */
static int replay_into(runner *r, sluice_batch *batch)
{
    json_t *records = NULL;
    size_t i;
    json_t *record;
    int taken;

    /* a plain read first: taking rows needs the store's write lock */
    if (sluice_store_replay_count(r->ctx.store) == 0)
        return 0;
    taken = sluice_store_replay_take(r->ctx.store, batch->epoch, batch->id, batch->capacity,
                                     &records);
    if (taken < 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot read the replay queue");
        return -1;
    }
    json_array_foreach(records, i, record) {
        sluice_batch_append(batch, json_incref(record));
    }
    if (taken > 0)
        RLOG(r, SLUICE_LOG_INFO, "replaying %d record(s) from the dead-letter queue", taken);
    json_decref(records);
    return 0;
}

/* Poll the plugin into a new batch until it is full, batch_linger_ms passed
 * or the plugin has nothing more now; park source-side rejections; send the
 * batch if it has records or moves the checkpoint. Returns
 * SLUICE_STAGE_EXIT_OK or the exit code to leave with. */
static int source_fill(runner *r, source_run *s)
{
    const sluice_pipeline_def *p = r->pipeline;
    size_t size = p->batch_size > 0 ? p->batch_size : 500;
    sluice_batch *batch = sluice_batch_new(r->epoch, s->next_id, size);
    int64_t started = now_ms();
    sluice_status st = SLUICE_OK;
    size_t polled;
    int result = SLUICE_STAGE_EXIT_OK;

    if (!batch) {
        RLOG(r, SLUICE_LOG_ERROR, "out of memory for a batch");
        return SLUICE_STAGE_EXIT_ERROR;
    }
    batch->current_stage = r->stage->name;
    if (replay_into(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    while (batch->count < size) {
        /* capacity is what poll() may still append to this batch */
        batch->capacity = size - batch->count;
        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->poll(&r->ctx, r->plugin_state, batch);
        if (st != SLUICE_OK || *r->signals->term || now_ms() - started >= p->batch_linger_ms)
            break;
    }
    if (st == SLUICE_FATAL) {
        log_fatal(r, "poll");
        result = SLUICE_STAGE_EXIT_FATAL;
        goto out;
    }
    if (st == SLUICE_RETRY) {
        long delay = sluice_backoff_ms(s->retries++, RETRY_BASE_MS,
                                       r->stage->common.retry_max_backoff_ms,
                                       r->ctx.retry_after, next_random(r));
        RLOG(r, SLUICE_LOG_INFO, "poll() asked for a retry, retry %u in %.2f s", s->retries,
             (double)delay / 1000.0);
        s->idle_until = now_ms() + delay;
    } else {
        s->retries = 0;
        if (st == SLUICE_AGAIN)
            s->idle_until = now_ms() + AGAIN_IDLE_MS;
        else if (st == SLUICE_EOF) {
            s->eof = 1;
            s->idle_until = now_ms() + EOF_IDLE_MS;
        }
    }
    batch->capacity = size;
    polled = batch->count;
    if (!r->inproc_out)
        sluice_batch_prepare_for_wire(batch); /* lines travel unparsed, checked by the reader */
    if (park_rejected(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    sluice_batch_compact(batch);
    if (batch->count == 0 && (!batch->checkpoint || (s->sent_cp &&
                                                     json_equal(batch->checkpoint, s->sent_cp))))
        goto out;
    {
        json_t *cp = batch->checkpoint ? json_deep_copy(batch->checkpoint) : NULL;
        json_t *cp_entry = cp ? json_incref(cp) : NULL;
        uint64_t id = s->next_id++;

        if (sluice_window_push(&s->window, id, cp_entry, polled, now_ms()) != 0) {
            json_decref(cp);
            RLOG(r, SLUICE_LOG_ERROR, "in-flight window overflow (bug)");
            result = SLUICE_STAGE_EXIT_ERROR;
            goto out;
        }
        if (cp) {
            json_decref(s->sent_cp);
            s->sent_cp = cp;
        }
        RLOG(r, SLUICE_LOG_DEBUG, "sending batch %" PRIu64 "/%" PRIu64 " of %zu records",
             r->epoch, id, batch->count);
        send_batch(r, batch); /* a batch lost here is replayed by the ack timeout */
        batch = NULL;
    }
out:
    sluice_batch_destroy(&batch);
    return result;
}

/* The source runner's loop. Returns an exit code. */
static int run_source(runner *r)
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
    result = plugin_init(r);
    if (result != SLUICE_STAGE_EXIT_OK)
        goto out;
    RLOG(r, SLUICE_LOG_INFO, "source started (process %ld, epoch %" PRIu64 ")",
         (long)getpid(), r->epoch);

    for (;;) {
        int64_t now, oldest, wait_ms = FLAG_CHECK_MS;
        zmq_pollitem_t item;

        source_take_acks(r, &s);
        if (source_commit(r, &s) != 0) {
            result = SLUICE_STAGE_EXIT_ERROR;
            break;
        }
        if (*r->unit_stop || *r->signals->hard) /* a stage failed: no drain */
            break;
        now = now_ms();
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
        if (stopping) {
            if (s.window.count == 0)
                break;
            if (now >= drain_deadline) {
                RLOG(r, SLUICE_LOG_WARN, "%zu batch(es) still unacknowledged after %ld ms; "
                     "they will be replayed", s.window.count, SLUICE_DRAIN_TIMEOUT_MS);
                break;
            }
        } else if (s.eof && r->once) {
            if (s.window.count == 0)
                break; /* --once: everything emitted and acknowledged */
        } else if (s.window.count < s.window.capacity && now >= s.idle_until) {
            result = source_fill(r, &s);
            if (result != SLUICE_STAGE_EXIT_OK)
                break;
            continue;
        } else if (s.idle_until > now && s.idle_until - now < wait_ms) {
            wait_ms = s.idle_until - now;
        }
        item = (zmq_pollitem_t){.socket = r->ack_in, .events = ZMQ_POLLIN};
        zmq_poll(&item, 1, (long)wait_ms);
    }
out:
    stats_save(r, 1);
    sluice_window_clear(&s.window, 1);
    json_decref(s.committed_cp);
    json_decref(s.sent_cp);
    return result;
}

/* ------------------------------------------------------------------ */
/* Transform runner.                                                  */
/* ------------------------------------------------------------------ */

/* Run process() on one batch (retrying SLUICE_RETRY with backoff), park
 * its rejections, compact it and send it on. Returns an exit code;
 * SLUICE_STAGE_EXIT_OK also when the batch was abandoned on quit. */
static int transform_batch(runner *r, sluice_batch *batch)
{
    unsigned attempt = 0;
    sluice_status st;

    if (!adopt_epoch(r, &batch))
        return SLUICE_STAGE_EXIT_OK;
    for (;;) {
        long delay;

        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->process(&r->ctx, r->plugin_state, batch);
        if (st != SLUICE_RETRY)
            break;
        delay = sluice_backoff_ms(attempt++, RETRY_BASE_MS,
                                  r->stage->common.retry_max_backoff_ms, r->ctx.retry_after,
                                  next_random(r));
        RLOG(r, SLUICE_LOG_INFO, "process() of batch %" PRIu64 "/%" PRIu64
             " asked for a retry, retry %u in %.2f s", batch->epoch, batch->id, attempt,
             (double)delay / 1000.0);
        if (runner_wait(r, delay) != 0) {
            sluice_batch_destroy(&batch);
            return SLUICE_STAGE_EXIT_OK;
        }
    }
    if (st == SLUICE_FATAL) {
        log_fatal(r, "process");
        sluice_batch_destroy(&batch);
        return SLUICE_STAGE_EXIT_FATAL;
    }
    if (st != SLUICE_OK)
        RLOG(r, SLUICE_LOG_WARN, "process() returned unexpected status %d; treated as OK",
             (int)st);
    if (!r->inproc_out)
        sluice_batch_prepare_for_wire(batch); /* a source's text it passed on unread */
    if (park_rejected(r, batch) != 0) {
        sluice_batch_destroy(&batch);
        return SLUICE_STAGE_EXIT_ERROR;
    }
    sluice_batch_compact(batch);
    send_batch(r, batch); /* a batch lost on quit is replayed */
    return SLUICE_STAGE_EXIT_OK;
}

/* The transform runner's loop. Returns an exit code. */
static int run_transform(runner *r)
{
    int result = plugin_init(r);

    if (result == SLUICE_STAGE_EXIT_OK)
        RLOG(r, SLUICE_LOG_INFO, "transform started (process %ld)", (long)getpid());
    while (result == SLUICE_STAGE_EXIT_OK && !must_quit(r)) {
        zmq_pollitem_t items[2] = {
            {.socket = r->data_in, .events = ZMQ_POLLIN},
            {.socket = r->ack_in, .events = ZMQ_POLLIN},
        };
        flush_acks(r);
        if (zmq_poll(items, 2, r->pending_count ? 10 : FLAG_CHECK_MS) <= 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            forward_acks(r);
        if (items[0].revents & ZMQ_POLLIN) {
            sluice_batch *batch = recv_batch(r);
            if (batch)
                result = handle_in_order(r, batch, transform_batch);
        }
    }
    stats_save(r, 1);
    return result;
}

/* ------------------------------------------------------------------ */
/* Sink runner.                                                       */
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
 * backoff and jitter between calls; park rejections; commit state; ack.
 * Returns an exit code (OK also when abandoned on quit: it is replayed). */
static int sink_batch(runner *r, sluice_batch *batch)
{
    unsigned attempt = 0;
    int result = SLUICE_STAGE_EXIT_OK;
    size_t pending;

    if (!adopt_epoch(r, &batch))
        return SLUICE_STAGE_EXIT_OK;
    while ((pending = sink_pending(batch)) > 0) {
        sluice_status st;
        long delay;

        r->ctx.fail_message[0] = '\0';
        r->ctx.retry_after = 0;
        st = r->stage->plugin->write(&r->ctx, r->plugin_state, batch);
        if (st == SLUICE_FATAL) {
            log_fatal(r, "write");
            result = SLUICE_STAGE_EXIT_FATAL;
            goto out;
        }
        pending = sink_pending(batch);
        if (pending == 0)
            break;
        delay = sluice_backoff_ms(attempt++, RETRY_BASE_MS,
                                  r->stage->common.retry_max_backoff_ms, r->ctx.retry_after,
                                  next_random(r));
        RLOG(r, st == SLUICE_RETRY ? SLUICE_LOG_INFO : SLUICE_LOG_WARN,
             "batch %" PRIu64 "/%" PRIu64 ": %zu record(s) not delivered yet%s, retry %u in "
             "%.2f s", batch->epoch, batch->id, pending,
             st == SLUICE_RETRY ? "" : " (write() returned without an outcome)", attempt,
             (double)delay / 1000.0);
        if (runner_wait(r, delay) != 0)
            goto out;
    }
    if (park_rejected(r, batch) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    for (size_t i = 0; i < batch->count; i++) {
        if (!batch->slots[i].dropped && batch->slots[i].outcome == SLUICE_RECORD_DONE)
            r->delivered++;
    }
    if (r->ctx.kv && sluice_kv_commit(r->ctx.kv, batch->epoch, batch->id) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot commit state of batch %" PRIu64 "/%" PRIu64,
             batch->epoch, batch->id);
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    send_ack(r, batch->epoch, batch->id);
    stats_save(r, 0);
out:
    sluice_batch_destroy(&batch);
    return result;
}

/* The sink runner's loop. Returns an exit code. */
static int run_sink(runner *r)
{
    int result = plugin_init(r);

    if (result == SLUICE_STAGE_EXIT_OK)
        RLOG(r, SLUICE_LOG_INFO, "sink started (process %ld)", (long)getpid());
    while (result == SLUICE_STAGE_EXIT_OK && !must_quit(r)) {
        zmq_pollitem_t item = {.socket = r->data_in, .events = ZMQ_POLLIN};
        sluice_batch *batch;

        flush_acks(r);
        if (zmq_poll(&item, 1, r->pending_count ? 10 : FLAG_CHECK_MS) <= 0)
            continue;
        batch = recv_batch(r);
        if (batch)
            result = handle_in_order(r, batch, sink_batch);
    }
    stats_save(r, 1);
    return result;
}

/* ------------------------------------------------------------------ */
/* One stage, and a unit of stages.                                   */
/* ------------------------------------------------------------------ */

/* Open the pipeline's store. Several stages opening a store that does not
 * exist yet can meet in SQLite's switch to WAL, which answers "database is
 * locked" without waiting; that race is retried for a few seconds.
 * Returns the store or NULL with the last error in errbuf. */
static sluice_store *open_store(const sluice_pipeline_def *pipeline, char *errbuf,
                                size_t errlen)
{
    sluice_store *store = NULL;

    for (int attempt = 0; attempt < 20 && !store; attempt++) {
        if (attempt > 0)
            zmq_poll(NULL, 0, 50L * attempt < 500 ? 50L * attempt : 500L);
        store = sluice_store_open(pipeline->state_dir, errbuf, errlen);
        if (!store && !strstr(errbuf, "locked") && !strstr(errbuf, "busy"))
            break;
    }
    return store;
}

/* Open the store and state of the runner's stage and fill its context.
 * Returns 0 or -1 (logged). */
static int runner_setup(runner *r)
{
    char err[512] = "";

    r->ctx.pipeline = r->pipeline;
    r->ctx.stage = r->stage;
    r->ctx.stopping = r->signals->term;
    r->ctx.once = r->once;
    r->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
    if (r->rng == 0)
        r->rng = 0x9e3779b97f4a7c15ULL;
    r->ctx.store = open_store(r->pipeline, err, sizeof(err));
    if (!r->ctx.store) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot open the state store: %s", err);
        return -1;
    }
    /* an instance of a stateless stage has no state (sluice_state_* fail) */
    r->ctx.kv = r->parallel ? NULL : sluice_kv_new(r->ctx.store, r->stage->name);
    if (!r->ctx.kv && !r->parallel) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot create the stage's key/value state");
        return -1;
    }
    if (!r->parallel && r->index > 0 &&
        r->pipeline->stages[r->index - 1].common.instances > 1 &&
        sluice_reorder_init(&r->reorder, (size_t)(r->pipeline->window > 0 ? r->pipeline->window
                                                                           : 8) * 2 + 16) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot allocate the re-sequencing buffer");
        return -1;
    }
    if (r->stage->plugin->role == SLUICE_ROLE_SINK)
        r->ctx.progress = sink_heartbeat;
    stats_load(r);
    return open_links(r);
}

/* Release everything runner_setup() and the run created. */
static void runner_teardown(runner *r, int graceful)
{
    plugin_fini(r);
    sluice_reorder_clear(&r->reorder, 1);
    close_links(r, graceful);
    sluice_http_client_free(&r->ctx.http);
    sluice_kv_destroy(&r->ctx.kv);
    sluice_store_close(&r->ctx.store);
}

/* Run a prepared runner to its end. Returns its exit code. */
static int runner_run(runner *r)
{
    int result;

    if (runner_setup(r) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    switch (r->stage->plugin->role) {
    case SLUICE_ROLE_SOURCE:
        result = run_source(r);
        break;
    case SLUICE_ROLE_TRANSFORM:
        result = run_transform(r);
        break;
    case SLUICE_ROLE_SINK:
        result = run_sink(r);
        break;
    default:
        RLOG(r, SLUICE_LOG_ERROR, "plugin '%s' has an unknown role", r->stage->plugin_name);
        result = SLUICE_STAGE_EXIT_ERROR;
        break;
    }
out:
    runner_teardown(r, result == SLUICE_STAGE_EXIT_OK);
    /* the source's end (or any failure) winds the whole unit down */
    if (r->index == 0 || result != SLUICE_STAGE_EXIT_OK)
        *r->unit_stop = 1;
    return result;
}

/* pthread entry point. */
static void *runner_thread(void *arg)
{
    runner *r = arg;

    r->result = runner_run(r);
    return NULL;
}

/* 1 if stage `index` is one of the unit's stages. */
static int unit_holds(const size_t *stages, size_t n, size_t index)
{
    for (size_t i = 0; i < n; i++) {
        if (stages[i] == index)
            return 1;
    }
    return 0;
}

int sluice_unit_run(const sluice_pipeline_def *pipeline, const size_t *stages, size_t n,
                    unsigned instance, int once, const sluice_unit_signals *signals)
{
    runner *runners = NULL;
    pthread_t *threads = NULL;
    size_t started = 0;
    volatile int unit_stop = 0;
    int has_source = unit_holds(stages, n, 0);
    int result = SLUICE_STAGE_EXIT_OK;
    void *zctx = NULL;

    if (n == 0)
        return SLUICE_STAGE_EXIT_OK;
    runners = calloc(n, sizeof(*runners));
    threads = calloc(n, sizeof(*threads));
    zctx = zmq_ctx_new();
    if (!runners || !threads || !zctx) {
        sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                         "cannot start stages: out of memory");
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        runner *r = &runners[i];
        r->pipeline = pipeline;
        r->index = stages[i];
        r->stage = &pipeline->stages[stages[i]];
        r->parallel = r->stage->common.instances > 1;
        r->instance = r->parallel ? instance : 0;
        if (sluice_stage_label(pipeline, r->index, r->instance, r->label, sizeof(r->label)) != 0)
            snprintf(r->label, sizeof(r->label), "%s", r->stage->name);
        r->once = once;
        r->zctx = zctx;
        r->signals = signals;
        r->unit_stop = &unit_stop;
        r->unit_has_source = has_source;
        r->inproc_in = n > 1 && r->index > 0 && unit_holds(stages, n, r->index - 1);
        r->inproc_out = n > 1 && unit_holds(stages, n, r->index + 1);
    }
    {
        /* create the store before the threads race to */
        char err[512] = "";
        sluice_store *store = open_store(pipeline, err, sizeof(err));
        if (!store) {
            sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                             "cannot open the state store: %s", err);
            result = SLUICE_STAGE_EXIT_ERROR;
            goto out;
        }
        sluice_store_close(&store);
    }
    /* every stage but the last in its own thread; the last in this one */
    for (; started + 1 < n; started++) {
        if (pthread_create(&threads[started], NULL, runner_thread, &runners[started]) != 0) {
            sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                             "cannot start a thread for stage '%s'",
                             runners[started].stage->name);
            unit_stop = 1;
            result = SLUICE_STAGE_EXIT_ERROR;
            break;
        }
    }
    if (result == SLUICE_STAGE_EXIT_OK)
        runners[n - 1].result = runner_run(&runners[n - 1]);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n && i <= started; i++) {
        int code = runners[i].result;
        if (code == SLUICE_STAGE_EXIT_FATAL ||
            (code == SLUICE_STAGE_EXIT_ERROR && result == SLUICE_STAGE_EXIT_OK))
            result = code;
    }
out:
    if (zctx)
        zmq_ctx_term(zctx);
    free(threads);
    free(runners);
    return result;
}
