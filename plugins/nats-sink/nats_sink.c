/* nats_sink.c: the nats-sink plugin: publishes each record, as its JSON
 * text, to a NATS JetStream subject made from a template
 * ("sluice.{client}.members"), with the header Nats-Msg-Id = the record's
 * id so the stream drops a record published twice within its duplicate
 * window. Publishing is asynchronous, at most max_pending acks outstanding;
 * a record is DONE only once the stream's PubAck for it came back; a
 * publish error or a PubAck not back within ack_timeout_ms makes it RETRY.
 * See docs/nats.md. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sluice/plugin.h>

#include "nats_conn.h"
#include "nats_subject.h"

/* Longest subject a record may be published to. */
#define SUBJECT_MAX 512

/* What came back for one published record. */
typedef enum pub_answer {
    PUB_WAITING = 0, /* published, no answer yet (or not published) */
    PUB_ACKED,       /* PubAck: stored by the stream (maybe as a duplicate) */
    PUB_FAILED       /* an error or no PubAck in time */
} pub_answer;

typedef struct nats_sink {
    natsConnection *nc;
    jsCtx *js;
    char *subject_tmpl;   /* subject template, checked */
    char *client;         /* the client option, or NULL */
    char *id_field;       /* record field for Nats-Msg-Id; NULL: no header */
    char *stream;         /* the stream the subjects must land in */
    int64_t ack_timeout_ms;
    int template_reads_record; /* the template names a record field */
    const json_t *config; /* borrowed, valid until fini */
    /* The write() under way: published[i] is the message record i went
     * out as until its answer came (then NULL); answers[i] what came. The
     * ack handler runs on a library thread: both under `lock`. */
    pthread_mutex_t lock;
    natsMsg **published;
    unsigned char *answers;
    size_t slots;         /* allocated entries of both */
    size_t count;         /* entries in use by this write() */
    size_t hint;          /* where the next answer is looked for first */
    natsStatus first_error;   /* of this write(): the first failure's status */
    char first_error_text[256];
} nats_sink;

static const sluice_option nats_sink_options[] = {
    NATS_CONN_OPTIONS,
    { "subject", SLUICE_OPT_STRING, NULL, 1, 0,
      "subject template: {client} is the client option, {FIELD} a record field" },
    { "client", SLUICE_OPT_STRING, NULL, 0, 0, "value of {client} (else the record's \"client\")" },
    { "id_field", SLUICE_OPT_STRING, "id", 0, 0,
      "record field sent as Nats-Msg-Id (stream de-duplication); \"\": none" },
    { "max_pending", SLUICE_OPT_INT, "256", 0, 0, "most PubAcks outstanding at once",
      .range = "1..65536" },
    { "ack_timeout_ms", SLUICE_OPT_INT, "10000", 0, 0,
      "wait this long for a PubAck before the record is retried", .range = "100..600000" },
    SLUICE_OPTION_END
};

/* Free the instance (NULL is ignored): close the connection first, so no
 * ack handler runs on it afterwards. */
static void nats_sink_fini(sluice_ctx *ctx, void *state)
{
    nats_sink *sink = state;
    (void)ctx;
    if (!sink)
        return;
    nats_conn_close(sink->nc, sink->js);
    pthread_mutex_destroy(&sink->lock);
    free(sink->subject_tmpl);
    free(sink->client);
    free(sink->id_field);
    free(sink->stream);
    free(sink->published);
    free(sink->answers);
    free(sink);
}

/* The library's answer for one published message (a library thread): note
 * it against the record it carried, then free the message (ours now). A
 * message no write() waits for any more (it gave up on it) is only freed. */
static void on_pub_answer(jsCtx *js, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error,
                          void *closure)
{
    nats_sink *sink = closure;
    (void)js;
    pthread_mutex_lock(&sink->lock);
    for (size_t n = 0; n < sink->count; n++) {
        size_t i = (sink->hint + n) % sink->count;
        if (sink->published[i] != msg)
            continue;
        sink->published[i] = NULL;
        sink->answers[i] = ack ? PUB_ACKED : PUB_FAILED;
        if (!ack && sink->first_error == NATS_OK) {
            sink->first_error = error ? error->Err : NATS_ERR;
            snprintf(sink->first_error_text, sizeof(sink->first_error_text), "%s%s%s",
                     error ? natsStatus_GetText(error->Err) : "no answer",
                     error && error->ErrText ? ": " : "",
                     error && error->ErrText ? error->ErrText : "");
        }
        sink->hint = i + 1 < sink->count ? i + 1 : 0;
        break;
    }
    pthread_mutex_unlock(&sink->lock);
    natsMsg_Destroy(msg);
}

/* A copy of string option `name`, NULL when unset or empty; *failed set
 * when the copy could not be made. */
static char *option_copy(const json_t *config, const char *name, int *failed)
{
    const char *value = json_string_value(json_object_get(config, name));
    char *copy;
    if (!value || !*value)
        return NULL;
    if (!(copy = strdup(value)))
        *failed = 1;
    return copy;
}

/* Check the options, connect, and make sure the stream exists (or create
 * it with create_stream). Returns SLUICE_OK with the instance in *state
 * (nats_sink_fini frees it), or SLUICE_FATAL after sluice_fail(). */
static sluice_status nats_sink_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    sluice_status status = SLUICE_FATAL;
    nats_sink *sink = calloc(1, sizeof(*sink));
    char pattern[SUBJECT_MAX];
    char why[256];
    int failed = 0;
    jsOptions jo;

    if (!sink) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    pthread_mutex_init(&sink->lock, NULL);
    sink->config = config;
    sink->subject_tmpl = option_copy(config, "subject", &failed);
    sink->client = option_copy(config, "client", &failed);
    sink->id_field = option_copy(config, "id_field", &failed);
    sink->stream = option_copy(config, "stream", &failed);
    sink->ack_timeout_ms = json_integer_value(json_object_get(config, "ack_timeout_ms"));
    if (sink->ack_timeout_ms <= 0)
        sink->ack_timeout_ms = 10000;
    if (failed) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    if (!sink->subject_tmpl || nats_subject_check(sink->subject_tmpl, why, sizeof(why)) != 0) {
        sluice_fail(ctx, "option 'subject': %s", sink->subject_tmpl ? why : "it is empty");
        goto out;
    }
    /* Only {client} with the client option set leaves the record unread. */
    for (const char *p = strchr(sink->subject_tmpl, '{'); p; p = strchr(p + 1, '{'))
        if (strncmp(p, "{client}", 8) != 0 || !sink->client)
            sink->template_reads_record = 1;
    if (nats_subject_pattern(sink->subject_tmpl, pattern, sizeof(pattern)) != 0) {
        sluice_fail(ctx, "option 'subject': longer than %d bytes", SUBJECT_MAX - 1);
        goto out;
    }
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = json_integer_value(json_object_get(config, "max_pending"));
    if (jo.PublishAsync.MaxPending <= 0)
        jo.PublishAsync.MaxPending = 256;
    jo.PublishAsync.AckHandler = on_pub_answer;
    jo.PublishAsync.AckHandlerClosure = sink;
    jo.PublishAsync.StallWait = sink->ack_timeout_ms;
    if (nats_conn_open(ctx, config, &jo, &sink->nc, &sink->js) != SLUICE_OK)
        goto out;
    if (nats_conn_check_stream(ctx, sink->js, config, pattern) != SLUICE_OK)
        goto out;
    *state = sink;
    sink = NULL;
    status = SLUICE_OK;
out:
    nats_sink_fini(ctx, sink);
    return status;
}

/* Room for `count` records in the per-write tables, emptied. Returns 0 or
 * -1 (out of memory). Called with no publish outstanding. */
static int reset_tables(nats_sink *sink, size_t count)
{
    int result = -1;
    pthread_mutex_lock(&sink->lock);
    if (count > sink->slots) {
        natsMsg **published = realloc(sink->published, count * sizeof(*published));
        if (published)
            sink->published = published;
        unsigned char *answers = realloc(sink->answers, count);
        if (answers)
            sink->answers = answers;
        if (!published || !answers)
            goto out;
        sink->slots = count;
    }
    if (count > 0) {
        memset(sink->published, 0, count * sizeof(*sink->published));
        memset(sink->answers, PUB_WAITING, count);
    }
    sink->count = count;
    sink->hint = 0;
    sink->first_error = NATS_OK;
    sink->first_error_text[0] = '\0';
    result = 0;
out:
    pthread_mutex_unlock(&sink->lock);
    return result;
}

/* The record's id as text for Nats-Msg-Id into buf, or NULL when it has
 * none (then it goes without: the stream cannot de-duplicate it). */
static const char *record_id(const nats_sink *sink, const json_t *record, char *buf,
                             size_t size)
{
    const json_t *id = sink->id_field ? json_object_get(record, sink->id_field) : NULL;
    if (json_is_string(id) && *json_string_value(id))
        return json_string_value(id);
    if (json_is_integer(id)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(id));
        return buf;
    }
    return NULL;
}

/* How publishing record i went when it could not even be handed to the
 * library: the record's own fault (REJECTED) or the connection's (RETRY). */
typedef enum publish_result { PUBLISH_SENT, PUBLISH_RETRY, PUBLISH_REJECTED } publish_result;

/* Publish record i of batch asynchronously. On PUBLISH_REJECTED `why`
 * holds the reason; on PUBLISH_RETRY *status the library's status. */
static publish_result publish_record(nats_sink *sink, sluice_batch *batch, size_t i,
                                     jsPubOptions *po, natsStatus *status, char *why,
                                     size_t why_size)
{
    publish_result result = PUBLISH_RETRY;
    char subject[SUBJECT_MAX];
    char id_buf[32];
    const char *id = NULL;
    const char *text;
    size_t len = 0;
    char *dumped = NULL;
    json_t *record = NULL;
    natsMsg *msg = NULL;

    *status = NATS_OK;
    text = sluice_batch_peek_text(batch, i, &len);
    if (!text || sink->template_reads_record || sink->id_field) {
        if (!(record = sluice_batch_get(batch, i))) {
            result = PUBLISH_SENT; /* dropped or rejected meanwhile: nothing to send */
            goto out;
        }
        /* (sluice_batch_get may parse the text: peek again, it stays valid) */
        text = sluice_batch_peek_text(batch, i, &len);
    }
    if (!text) {
        if (!(dumped = json_dumps(record, JSON_COMPACT))) {
            snprintf(why, why_size, "nats-sink: the record cannot be encoded as JSON");
            result = PUBLISH_REJECTED;
            goto out;
        }
        text = dumped;
        len = strlen(dumped);
    }
    if (nats_subject_expand(sink->subject_tmpl, record, sink->client, subject, sizeof(subject),
                            why, why_size) != 0) {
        result = PUBLISH_REJECTED;
        goto out;
    }
    id = record_id(sink, record, id_buf, sizeof(id_buf));
    if ((*status = natsMsg_Create(&msg, subject, NULL, text, (int)len)) != NATS_OK)
        goto out;
    if (id && (*status = natsMsgHeader_Set(msg, "Nats-Msg-Id", id)) != NATS_OK)
        goto out;
    /* Noted before publishing: the answer may come before the call returns. */
    pthread_mutex_lock(&sink->lock);
    sink->published[i] = msg;
    pthread_mutex_unlock(&sink->lock);
    *status = js_PublishMsgAsync(sink->js, &msg, po);
    if (*status != NATS_OK) {
        pthread_mutex_lock(&sink->lock);
        sink->published[i] = NULL;
        pthread_mutex_unlock(&sink->lock);
        if (*status == NATS_MAX_PAYLOAD) {
            snprintf(why, why_size, "nats-sink: the record (%zu bytes) is larger than the "
                     "server's max_payload", len);
            result = PUBLISH_REJECTED;
        }
        goto out;
    }
    result = PUBLISH_SENT;
out:
    natsMsg_Destroy(msg); /* NULL once the library took it */
    free(dumped);
    return result;
}

/* Stop waiting for the answers still missing: take their messages back
 * from the library (their answers, should they come, are dropped) and
 * free them; their records stay unanswered (RETRY). */
static void give_up_waiting(nats_sink *sink)
{
    natsMsgList pending = { NULL, 0 };
    if (js_PublishAsyncGetPendingList(&pending, sink->js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    pthread_mutex_lock(&sink->lock);
    for (size_t i = 0; i < sink->count; i++)
        sink->published[i] = NULL;
    if (sink->first_error == NATS_OK) {
        sink->first_error = NATS_TIMEOUT;
        snprintf(sink->first_error_text, sizeof(sink->first_error_text),
                 "no PubAck within %lld ms", (long long)sink->ack_timeout_ms);
    }
    pthread_mutex_unlock(&sink->lock);
}

/* Publish every PENDING or RETRY record of the batch and wait for the
 * answers: DONE on its PubAck, RETRY on an error or no PubAck within
 * ack_timeout_ms, REJECTED when the record cannot be published (subject
 * fields, size). Returns SLUICE_OK (outcomes set), SLUICE_RETRY (out of
 * memory), or SLUICE_FATAL when the stream was deleted. */
static sluice_status nats_sink_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    nats_sink *sink = state;
    size_t count = sluice_batch_count(batch);
    size_t sent = 0, retry = 0, publish_failed = 0;
    natsStatus publish_status = NATS_OK;
    jsPubOptions po;
    char why[320];

    if (count == 0)
        return SLUICE_OK;
    if (reset_tables(sink, count) != 0) {
        sluice_log(ctx, SLUICE_LOG_WARN, "out of memory for a batch of %zu (will retry)", count);
        return SLUICE_RETRY;
    }
    jsPubOptions_Init(&po);
    po.MaxWait = sink->ack_timeout_ms;
    po.ExpectStream = sink->stream;
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        natsStatus status;

        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        if (publish_failed) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, NULL);
            continue;
        }
        switch (publish_record(sink, batch, i, &po, &status, why, sizeof(why))) {
        case PUBLISH_SENT:
            sent++;
            break;
        case PUBLISH_REJECTED:
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED, why);
            break;
        case PUBLISH_RETRY:
            /* the connection refuses more (closed, or max_pending stalled for
             * ack_timeout_ms): the rest of the batch waits for the retry */
            publish_failed = 1;
            publish_status = status;
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, NULL);
            break;
        }
    }
    if (sent > 0 && js_PublishAsyncComplete(sink->js, &po) != NATS_OK)
        give_up_waiting(sink);
    pthread_mutex_lock(&sink->lock);
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        if (sink->answers[i] == PUB_ACKED)
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
        else if (sluice_batch_peek_text(batch, i, NULL) || sluice_batch_get(batch, i)) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, NULL);
            retry++;
        }
    }
    natsStatus answer_status = sink->first_error;
    snprintf(why, sizeof(why), "%s", sink->first_error_text);
    sink->count = 0;
    pthread_mutex_unlock(&sink->lock);
    if (retry == 0)
        return SLUICE_OK;
    if (publish_failed && answer_status == NATS_OK)
        snprintf(why, sizeof(why), "publish refused: %s (%s)", natsStatus_GetText(publish_status),
                 nats_GetLastError(NULL));
    sluice_metric_add(ctx, "nats_publish_retries", (double)retry);
    /* No responders: nothing listens on the subject, so the stream may be
     * gone; a stream deleted under a running pipeline stops it clearly. */
    if (answer_status == NATS_NO_RESPONDERS &&
        nats_conn_check_stream(ctx, sink->js, sink->config, NULL) != SLUICE_OK)
        return SLUICE_FATAL;
    sluice_log(ctx, SLUICE_LOG_WARN, "%zu of %zu records not acknowledged by stream %s: %s "
               "(will retry)", retry, count, sink->stream, why);
    return SLUICE_OK;
}

/* `sluice check`: the connection options and the subject template (no
 * network). Reports each problem with sluice_check_error. */
static void nats_sink_check(sluice_check *check, const json_t *config)
{
    const char *subject = json_string_value(json_object_get(config, "subject"));
    char why[256];

    nats_conn_check_options(check, config);
    if (subject && nats_subject_check(subject, why, sizeof(why)) != 0)
        sluice_check_error(check, "subject", "%s", why);
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "nats-sink",
    .role = SLUICE_ROLE_SINK,
    .version = "0.1.0",
    .description = "records published to a NATS JetStream stream, done on its PubAck",
    .options = nats_sink_options,
    .init = nats_sink_init,
    .fini = nats_sink_fini,
    .write = nats_sink_write,
    .check = nats_sink_check,
};
