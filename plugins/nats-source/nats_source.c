/* nats_source.c: the nats-source plugin: reads a NATS JetStream stream
 * through a durable pull consumer (explicit acks) and emits each message's
 * data as a record. A batch's checkpoint is the highest stream sequence
 * emitted through it; its messages are acked only in committed(), once
 * the batch is acknowledged end to end; rewind() makes the consumer again
 * from the committed checkpoint on, so JetStream delivers what was not
 * committed again, first and in stream order. A message delivered
 * max_deliver times to one consumer goes to the dead-letter queue. A plugin
 * thread fetches (natsSubscription_Fetch with a long timeout) and wakes
 * the core through an eventfd, so an idle source costs no CPU.
 * See docs/nats.md. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <sluice/plugin.h>

#include "nats_conn.h"

/* A message emitted and not committed yet. */
typedef struct held_msg {
    natsMsg *msg;
    uint64_t seq;      /* its stream sequence */
    uint64_t emit_no;  /* the emission (batch) it went out with */
} held_msg;

typedef struct nats_source {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    char *stream;
    char *consumer;
    int64_t max_deliver;
    int64_t fetch_wait_ms;
    int fetch_batch;
    uint64_t run_id;        /* tells this process's checkpoints from older ones */
    uint64_t emit_no;       /* emissions so far */
    uint64_t committed_seq; /* stream sequence of the last committed checkpoint */
    uint64_t emitted_seq;   /* highest stream sequence emitted */
    held_msg *held;         /* emitted, not committed, in emission order */
    size_t held_count, held_cap;
    int wake_fd;            /* eventfd: readable when `ready` has messages */
    /* Shared with the fetcher thread, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t drained; /* signalled when `ready` empties, or on stop */
    natsMsg **ready;        /* fetched, not emitted yet */
    size_t ready_count, ready_cap;
    uint64_t generation;    /* bumped by rewind: fetches started before are NAKed */
    int idle;               /* the last fetch found nothing */
    int stop;
    int fetcher_running;
    pthread_t fetcher;
    char fetch_error[256];  /* the last fetch failure, for a warning */
    const json_t *config;   /* the stage's options (borrowed, valid until fini) */
} nats_source;

static const sluice_option nats_source_options[] = {
    NATS_CONN_OPTIONS,
    { "consumer", SLUICE_OPT_STRING, NULL, 1, 0,
      "durable consumer name (created when missing; no '.', '*', '>')" },
    { "filter_subject", SLUICE_OPT_STRING, NULL, 0, 0,
      "only messages on this subject (wildcards allowed), when the consumer is created" },
    { "ack_wait_ms", SLUICE_OPT_INT, "300000", 0, 0,
      "AckWait: longer than the pipeline's worst time from fetch to commit",
      .range = "1000..86400000" },
    { "max_deliver", SLUICE_OPT_INT, "10", 0, 0,
      "a message delivered this many times goes to the dead-letter queue", .range = "2..1000" },
    { "fetch_batch", SLUICE_OPT_INT, "256", 0, 0, "most messages one fetch asks for",
      .range = "1..10000" },
    { "fetch_wait_ms", SLUICE_OPT_INT, "30000", 0, 0,
      "how long one fetch waits for messages (an idle source wakes this often)",
      .range = "100..600000" },
    SLUICE_OPTION_END
};

/* NAK every message of msgs[0..count) (so JetStream delivers it again) and
 * free it; entries become NULL. */
static void nak_all(natsMsg **msgs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!msgs[i])
            continue;
        natsMsg_Nak(msgs[i], NULL);
        natsMsg_Destroy(msgs[i]);
        msgs[i] = NULL;
    }
}

/* The stream sequence of a JetStream message (0 when it has no metadata)
 * and, in *delivered, how many times it was delivered. */
static uint64_t msg_sequence(natsMsg *msg, uint64_t *delivered)
{
    jsMsgMetaData *meta = NULL;
    uint64_t seq = 0;
    *delivered = 0;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        seq = meta->Sequence.Stream;
        *delivered = meta->NumDelivered;
    }
    jsMsgMetaData_Destroy(meta);
    return seq;
}

/* Wait up to `ms` on src->drained (lock held). */
static void wait_drained(nats_source *src, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&src->drained, &src->lock, &until);
}

/* Append the fetched messages to `ready` (lock held); the list's entries
 * taken become NULL. Returns how many were taken. */
static size_t take_fetched(nats_source *src, natsMsgList *list)
{
    size_t want = src->ready_count + (size_t)list->Count;
    size_t taken = 0;
    if (want > src->ready_cap) {
        natsMsg **grown = realloc(src->ready, want * sizeof(*grown));
        if (!grown)
            return 0; /* the list's messages are NAKed: they come again */
        src->ready = grown;
        src->ready_cap = want;
    }
    for (int i = 0; i < list->Count; i++) {
        src->ready[src->ready_count++] = list->Msgs[i];
        list->Msgs[i] = NULL;
        taken++;
    }
    return taken;
}

/* A number that changes whenever the connection to NATS was lost: the
 * client's reconnect count, or UINT64_MAX while it is not connected. */
static uint64_t connection_epoch(natsConnection *nc)
{
    natsStatistics *stats = NULL;
    uint64_t reconnects = UINT64_MAX;
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED &&
        natsStatistics_Create(&stats) == NATS_OK &&
        natsConnection_GetStats(nc, stats) == NATS_OK &&
        natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, &reconnects) != NATS_OK)
        reconnects = UINT64_MAX;
    natsStatistics_Destroy(stats);
    return reconnects;
}

/* The fetcher thread: while `ready` is empty, fetch a batch (waiting up to
 * fetch_wait_ms for one) and wake the core through wake_fd. A fetch that
 * began before a rewind() is NAKed whole (generation). */
static void *fetcher_main(void *arg)
{
    nats_source *src = arg;
    pthread_mutex_lock(&src->lock);
    while (!src->stop) {
        natsMsgList list = { NULL, 0 };
        jsErrCode jerr = 0;
        natsStatus s;
        uint64_t generation, epoch;
        int connected;

        if (src->ready_count > 0) {
            pthread_cond_wait(&src->drained, &src->lock);
            continue;
        }
        generation = src->generation;
        pthread_mutex_unlock(&src->lock);
        epoch = connection_epoch(src->nc);
        s = natsSubscription_Fetch(&list, src->sub, src->fetch_batch, src->fetch_wait_ms, &jerr);
        /* a fetch that found nothing says the stream is drained only when
         * the connection held all through it */
        connected = epoch != UINT64_MAX && epoch == connection_epoch(src->nc);
        pthread_mutex_lock(&src->lock);
        if (s == NATS_OK && list.Count > 0) {
            uint64_t one = 1;
            if (generation == src->generation && take_fetched(src, &list) > 0 &&
                write(src->wake_fd, &one, sizeof(one)) < 0) {
                /* the counter cannot overflow at 1 a fetch: nothing to do */
            }
            src->idle = 0;
            nak_all(list.Msgs, (size_t)list.Count);
        } else if (s == NATS_OK || s == NATS_TIMEOUT) {
            src->idle = connected;
        } else if (!src->stop) {
            /* disconnected, or the consumer went away: say so, wait, retry
             * (the client reconnects by itself) */
            snprintf(src->fetch_error, sizeof(src->fetch_error), "%s (JetStream error %d)",
                     natsStatus_GetText(s), (int)jerr);
            src->idle = 0; /* not known to be empty: --once goes on waiting */
            wait_drained(src, 500);
        }
        natsMsgList_Destroy(&list);
    }
    pthread_mutex_unlock(&src->lock);
    return NULL;
}

/* Stop the fetcher, then free the instance (NULL is ignored). Closing the
 * connection first ends a fetch under way at once. Messages held and not
 * committed are left unacked: JetStream delivers them again (after a
 * restart, init() rewinds the consumer to the checkpoint). */
static void nats_source_fini(sluice_ctx *ctx, void *state)
{
    nats_source *src = state;
    (void)ctx;
    if (!src)
        return;
    pthread_mutex_lock(&src->lock);
    src->stop = 1;
    pthread_cond_broadcast(&src->drained);
    pthread_mutex_unlock(&src->lock);
    if (src->nc)
        natsConnection_Close(src->nc);
    if (src->fetcher_running)
        pthread_join(src->fetcher, NULL);
    for (size_t i = 0; i < src->ready_count; i++)
        natsMsg_Destroy(src->ready[i]);
    for (size_t i = 0; i < src->held_count; i++)
        natsMsg_Destroy(src->held[i].msg);
    natsSubscription_Destroy(src->sub);
    nats_conn_close(src->nc, src->js);
    if (src->wake_fd >= 0)
        close(src->wake_fd);
    pthread_cond_destroy(&src->drained);
    pthread_mutex_destroy(&src->lock);
    free(src->ready);
    free(src->held);
    free(src->stream);
    free(src->consumer);
    free(src);
}

/* Create the durable consumer, delivering from stream sequence start_seq
 * (0: from the first message). Returns SLUICE_OK or SLUICE_FATAL after
 * sluice_fail(). */
static sluice_status create_consumer(sluice_ctx *ctx, nats_source *src, const json_t *config,
                                     uint64_t start_seq)
{
    const char *filter = json_string_value(json_object_get(config, "filter_subject"));
    int64_t ack_wait_ms = json_integer_value(json_object_get(config, "ack_wait_ms"));
    jsConsumerConfig cc;
    jsConsumerInfo *info = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    jsConsumerConfig_Init(&cc);
    cc.Durable = src->consumer;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = (ack_wait_ms > 0 ? ack_wait_ms : 300000) * 1000000LL; /* nanoseconds */
    /* The server delivers for ever; the plugin parks a message in the
     * dead-letter queue at max_deliver and acks it: the server giving up
     * on its own would leave it in neither place. */
    cc.MaxDeliver = -1;
    if (filter && *filter)
        cc.FilterSubject = filter;
    if (start_seq > 0) {
        cc.DeliverPolicy = js_DeliverByStartSequence;
        cc.OptStartSeq = start_seq;
    } else {
        cc.DeliverPolicy = js_DeliverAll;
    }
    s = js_AddConsumer(&info, src->js, src->stream, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(info);
    if (s != NATS_OK) {
        sluice_fail(ctx, "cannot create consumer %s on stream %s: %s (JetStream error %d)",
                    src->consumer, src->stream, nats_GetLastError(NULL), (int)jerr);
        return SLUICE_FATAL;
    }
    return SLUICE_OK;
}

/* Bind to the durable consumer, creating it when missing. When it handed
 * messages past the committed checkpoint to an earlier run (they are
 * pending there until their AckWait, and would come after newer ones), it
 * is made again from the checkpoint on, so they come first and in stream
 * order. Returns SLUICE_OK or SLUICE_FATAL after sluice_fail(). */
static sluice_status bind_consumer(sluice_ctx *ctx, nats_source *src, const json_t *config)
{
    sluice_status status = SLUICE_FATAL;
    jsConsumerInfo *info = NULL;
    jsErrCode jerr = 0;
    jsSubOptions so;
    natsStatus s;

    s = js_GetConsumerInfo(&info, src->js, src->stream, src->consumer, NULL, &jerr);
    if (s == NATS_OK && info->Delivered.Stream > src->committed_seq) {
        sluice_log(ctx, SLUICE_LOG_INFO, "consumer %s delivered up to stream sequence %llu to "
                   "an earlier run, committed up to %llu: recreating it from %llu",
                   src->consumer, (unsigned long long)info->Delivered.Stream,
                   (unsigned long long)src->committed_seq,
                   (unsigned long long)src->committed_seq + 1);
        if (js_DeleteConsumer(src->js, src->stream, src->consumer, NULL, &jerr) != NATS_OK) {
            sluice_fail(ctx, "cannot recreate consumer %s: %s", src->consumer,
                        nats_GetLastError(NULL));
            goto out;
        }
        s = NATS_NOT_FOUND;
    }
    if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
        if (create_consumer(ctx, src, config, src->committed_seq + 1) != SLUICE_OK)
            goto out;
    } else if (s != NATS_OK) {
        sluice_fail(ctx, "cannot look up consumer %s on stream %s: %s (JetStream error %d)",
                    src->consumer, src->stream, nats_GetLastError(NULL), (int)jerr);
        goto out;
    }
    jsSubOptions_Init(&so);
    so.Stream = src->stream;
    so.Consumer = src->consumer;
    s = js_PullSubscribe(&src->sub, src->js, NULL, src->consumer, NULL, &so, &jerr);
    if (s != NATS_OK) {
        sluice_fail(ctx, "cannot bind to consumer %s on stream %s: %s (JetStream error %d)",
                    src->consumer, src->stream, nats_GetLastError(NULL), (int)jerr);
        goto out;
    }
    status = SLUICE_OK;
out:
    jsConsumerInfo_Destroy(info);
    return status;
}

/* 1 when `name` may be a durable consumer's name. */
static int consumer_name_ok(const char *name)
{
    return name && *name && !strpbrk(name, ".*> \t");
}

/* The stream sequence a checkpoint holds ({"seq":N,...}), 0 for NULL or a
 * checkpoint without one. */
static uint64_t checkpoint_seq(const json_t *checkpoint)
{
    json_int_t seq = json_integer_value(json_object_get(checkpoint, "seq"));
    return seq > 0 ? (uint64_t)seq : 0;
}

/* Check the options, connect, check the stream, bind to (or create, or
 * recreate from the checkpoint) the durable consumer, start the fetcher
 * and register its eventfd. Returns SLUICE_OK with the instance in *state
 * (nats_source_fini frees it), or SLUICE_FATAL after sluice_fail(). */
static sluice_status nats_source_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    sluice_status status = SLUICE_FATAL;
    nats_source *src = calloc(1, sizeof(*src));
    json_t *checkpoint = NULL;
    const char *stream = json_string_value(json_object_get(config, "stream"));
    const char *consumer = json_string_value(json_object_get(config, "consumer"));
    struct timespec now;

    if (!src) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    src->wake_fd = -1;
    src->config = config;
    pthread_mutex_init(&src->lock, NULL);
    pthread_cond_init(&src->drained, NULL);
    if (!consumer_name_ok(consumer)) {
        sluice_fail(ctx, "option 'consumer': a durable name without '.', '*', '>' or spaces");
        goto out;
    }
    src->stream = strdup(stream ? stream : "");
    src->consumer = strdup(consumer);
    if (!src->stream || !src->consumer) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    src->max_deliver = json_integer_value(json_object_get(config, "max_deliver"));
    src->fetch_wait_ms = json_integer_value(json_object_get(config, "fetch_wait_ms"));
    src->fetch_batch = (int)json_integer_value(json_object_get(config, "fetch_batch"));
    if (src->max_deliver < 2)
        src->max_deliver = 10;
    if (src->fetch_wait_ms <= 0)
        src->fetch_wait_ms = 30000;
    if (sluice_run_once(ctx) && src->fetch_wait_ms > 1000)
        src->fetch_wait_ms = 1000; /* --once ends after one empty fetch */
    if (src->fetch_batch <= 0)
        src->fetch_batch = 256;
    clock_gettime(CLOCK_REALTIME, &now);
    src->run_id = ((uint64_t)now.tv_sec << 20 ^ (uint64_t)now.tv_nsec ^ (uint64_t)getpid()) &
                  0x1fffffffffffffULL; /* exact as a JSON number */
    checkpoint = sluice_checkpoint_get(ctx);
    src->committed_seq = checkpoint_seq(checkpoint);
    src->emitted_seq = src->committed_seq;
    if ((src->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        sluice_fail(ctx, "eventfd: %s", strerror(errno));
        goto out;
    }
    if (nats_conn_open(ctx, config, NULL, &src->nc, &src->js) != SLUICE_OK ||
        nats_conn_check_stream(ctx, src->js, config, NULL) != SLUICE_OK ||
        bind_consumer(ctx, src, config) != SLUICE_OK)
        goto out;
    if (pthread_create(&src->fetcher, NULL, fetcher_main, src) != 0) {
        sluice_fail(ctx, "cannot start the fetch thread");
        goto out;
    }
    src->fetcher_running = 1;
    sluice_source_wake_fd(ctx, src->wake_fd);
    *state = src;
    src = NULL;
    status = SLUICE_OK;
out:
    json_decref(checkpoint);
    nats_source_fini(ctx, src);
    return status;
}

/* A message with its stream sequence, for sorting. */
typedef struct seq_msg {
    uint64_t seq;
    natsMsg *msg;
} seq_msg;

/* Order for qsort: by stream sequence. */
static int by_sequence(const void *a, const void *b)
{
    uint64_t sa = ((const seq_msg *)a)->seq, sb = ((const seq_msg *)b)->seq;
    return sa < sb ? -1 : sa > sb;
}

/* Put msgs[0..count) in stream order (each one's metadata read once).
 * Out of memory it leaves them as they are: delivery order, which is
 * stream order unless redeliveries came in between. */
static void sort_by_sequence(natsMsg **msgs, size_t count)
{
    seq_msg *pairs;
    uint64_t delivered;
    if (count < 2 || !(pairs = malloc(count * sizeof(*pairs))))
        return;
    for (size_t i = 0; i < count; i++)
        pairs[i] = (seq_msg){ msg_sequence(msgs[i], &delivered), msgs[i] };
    qsort(pairs, count, sizeof(*pairs), by_sequence);
    for (size_t i = 0; i < count; i++)
        msgs[i] = pairs[i].msg;
    free(pairs);
}

/* 1 when stream sequence `seq` is held already (emitted, not committed). */
static int is_held(const nats_source *src, uint64_t seq)
{
    for (size_t i = src->held_count; i > 0; i--)
        if (src->held[i - 1].seq == seq)
            return 1;
    return 0;
}

/* Move up to `room` messages from `ready` into out[] (in stream order),
 * waking the fetcher when `ready` empties. Returns how many. */
static size_t take_ready(nats_source *src, natsMsg **out, size_t room)
{
    size_t n;
    pthread_mutex_lock(&src->lock);
    sort_by_sequence(src->ready, src->ready_count);
    n = src->ready_count < room ? src->ready_count : room;
    memcpy(out, src->ready, n * sizeof(*out));
    memmove(src->ready, src->ready + n, (src->ready_count - n) * sizeof(*src->ready));
    src->ready_count -= n;
    if (src->ready_count == 0)
        pthread_cond_signal(&src->drained);
    pthread_mutex_unlock(&src->lock);
    return n;
}

/* Emit one fetched message into `out` and hold it (ours now). Already
 * committed: acked and dropped; held already (delivered again): dropped;
 * delivered max_deliver times: appended and rejected to the dead-letter
 * queue. Returns 1 when appended, 0 when not, -1 out of memory. */
static int emit_message(nats_source *src, sluice_batch *out, natsMsg *msg)
{
    uint64_t delivered;
    uint64_t seq = msg_sequence(msg, &delivered);
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    char origin[300];

    if (seq <= src->committed_seq) {
        natsMsg_Ack(msg, NULL); /* its ack was lost: ack again */
        natsMsg_Destroy(msg);
        return 0;
    }
    if (is_held(src, seq)) {
        natsMsg_Destroy(msg);
        return 0;
    }
    if (src->held_count == src->held_cap) {
        size_t cap = src->held_cap ? src->held_cap * 2 : 256;
        held_msg *grown = realloc(src->held, cap * sizeof(*grown));
        if (!grown) {
            natsMsg_Nak(msg, NULL);
            natsMsg_Destroy(msg);
            return -1;
        }
        src->held = grown;
        src->held_cap = cap;
    }
    snprintf(origin, sizeof(origin), "%s#%llu", src->stream, (unsigned long long)seq);
    if (sluice_batch_append_text(out, data ? data : "", len > 0 ? (size_t)len : 0, origin) != 0) {
        natsMsg_Nak(msg, NULL);
        natsMsg_Destroy(msg);
        return -1;
    }
    if ((int64_t)delivered >= src->max_deliver) {
        char reason[400];
        snprintf(reason, sizeof(reason), "nats-source: %s delivered %llu times (max_deliver %lld)",
                 origin, (unsigned long long)delivered, (long long)src->max_deliver);
        sluice_batch_reject(out, sluice_batch_count(out) - 1, reason);
    }
    src->held[src->held_count++] = (held_msg){ msg, seq, src->emit_no + 1 };
    if (seq > src->emitted_seq)
        src->emitted_seq = seq;
    return 1;
}

/* Emit what the fetcher fetched, up to the batch's capacity, in stream
 * order, with the checkpoint {"seq","run","n"}. Returns SLUICE_OK when
 * records (or rejections) were appended, SLUICE_AGAIN when nothing waits,
 * SLUICE_EOF when the stream is drained under run --once or stopping, or
 * SLUICE_FATAL out of memory. */
static sluice_status nats_source_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    nats_source *src = state;
    size_t capacity = sluice_batch_capacity(out);
    size_t appended = 0, taken;
    natsMsg *msgs[512];
    uint64_t drain;
    int idle;

    if (read(src->wake_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN) {
        /* an eventfd read fails only as EAGAIN: nothing else to handle */
    }
    if (capacity == 0 || capacity > sizeof(msgs) / sizeof(msgs[0]))
        capacity = sizeof(msgs) / sizeof(msgs[0]);
    taken = take_ready(src, msgs, capacity);
    for (size_t i = 0; i < taken; i++) {
        int emitted = emit_message(src, out, msgs[i]);
        if (emitted < 0) {
            nak_all(msgs + i + 1, taken - i - 1);
            sluice_fail(ctx, "out of memory");
            return SLUICE_FATAL;
        }
        appended += (size_t)emitted;
    }
    pthread_mutex_lock(&src->lock);
    idle = src->idle && src->ready_count == 0;
    if (src->fetch_error[0]) {
        sluice_log(ctx, SLUICE_LOG_WARN, "fetch from consumer %s failed: %s (retrying)",
                   src->consumer, src->fetch_error);
        src->fetch_error[0] = '\0';
    }
    pthread_mutex_unlock(&src->lock);
    if (appended == 0)
        return idle && (sluice_run_once(ctx) || sluice_stopping(ctx)) ? SLUICE_EOF
                                                                      : SLUICE_AGAIN;
    src->emit_no++;
    sluice_batch_set_checkpoint(out, json_pack("{s:I,s:I,s:I}", "seq",
                                               (json_int_t)src->emitted_seq, "run",
                                               (json_int_t)src->run_id, "n",
                                               (json_int_t)src->emit_no));
    return SLUICE_OK;
}

/* Ack the messages of every batch up to `checkpoint` (borrowed): of this
 * run, by the emission count "n"; of another, by stream sequence. */
static void nats_source_committed(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    nats_source *src = state;
    uint64_t seq = checkpoint_seq(checkpoint);
    json_int_t run = json_integer_value(json_object_get(checkpoint, "run"));
    json_int_t upto = json_integer_value(json_object_get(checkpoint, "n"));
    size_t acked = 0;
    (void)ctx;

    /* This run's checkpoint names its emission; another's only a sequence. */
    while (acked < src->held_count &&
           ((uint64_t)run == src->run_id ? src->held[acked].emit_no <= (uint64_t)upto
                                          : src->held[acked].seq <= seq)) {
        natsMsg_Ack(src->held[acked].msg, NULL);
        natsMsg_Destroy(src->held[acked].msg);
        acked++;
    }
    memmove(src->held, src->held + acked, (src->held_count - acked) * sizeof(*src->held));
    src->held_count -= acked;
    if (seq > src->committed_seq)
        src->committed_seq = seq;
}

/* Stop the fetcher thread: unsubscribing ends a fetch under way. */
static void stop_fetcher(nats_source *src)
{
    pthread_mutex_lock(&src->lock);
    src->stop = 1;
    pthread_cond_broadcast(&src->drained);
    pthread_mutex_unlock(&src->lock);
    if (src->sub)
        natsSubscription_Unsubscribe(src->sub);
    if (src->fetcher_running)
        pthread_join(src->fetcher, NULL);
    src->fetcher_running = 0;
}

/* Start emission again right after `checkpoint` (borrowed, may be NULL).
 * NAKs would not do: JetStream may serve the next fetch before it has
 * processed them, and newer messages emitted and committed first would
 * make the NAKed ones look committed when they come. So the fetcher is
 * stopped, what is held or fetched is dropped unacked, and the consumer
 * is made again from the checkpoint on (as init() does after a crash):
 * everything after it comes again, first and in stream order. Returns
 * SLUICE_OK, or SLUICE_FATAL after sluice_fail(). */
static sluice_status nats_source_rewind(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    nats_source *src = state;
    uint64_t seq = checkpoint_seq(checkpoint);

    stop_fetcher(src);
    for (size_t i = 0; i < src->held_count; i++)
        natsMsg_Destroy(src->held[i].msg);
    src->held_count = 0;
    for (size_t i = 0; i < src->ready_count; i++)
        natsMsg_Destroy(src->ready[i]);
    src->ready_count = 0;
    natsSubscription_Destroy(src->sub);
    src->sub = NULL;
    if (seq > src->committed_seq)
        src->committed_seq = seq;
    src->emitted_seq = src->committed_seq;
    if (bind_consumer(ctx, src, src->config) != SLUICE_OK)
        return SLUICE_FATAL;
    src->generation++;
    src->idle = 0;
    src->stop = 0;
    if (pthread_create(&src->fetcher, NULL, fetcher_main, src) != 0) {
        sluice_fail(ctx, "cannot restart the fetch thread");
        return SLUICE_FATAL;
    }
    src->fetcher_running = 1;
    return SLUICE_OK;
}

/* `sluice check`: the connection options and the consumer's name (no
 * network). Reports each problem with sluice_check_error. */
static void nats_source_check(sluice_check *check, const json_t *config)
{
    nats_conn_check_options(check, config);
    if (!consumer_name_ok(json_string_value(json_object_get(config, "consumer"))))
        sluice_check_error(check, "consumer", "a durable name without '.', '*', '>' or spaces");
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "nats-source",
    .role = SLUICE_ROLE_SOURCE,
    .version = "0.1.0",
    .description = "a NATS JetStream durable pull consumer, acked when sluice commits",
    .options = nats_source_options,
    .init = nats_source_init,
    .fini = nats_source_fini,
    .poll = nats_source_poll,
    .rewind = nats_source_rewind,
    .committed = nats_source_committed,
    .check = nats_source_check,
};
