/* infobip_client.c: Infobip People API calls through the core's HTTP
 * client (retry, backoff, Retry-After and per-endpoint token buckets are
 * the core's), with Infobip's error shapes reduced to one message and 2xx
 * answers checked before anything counts as delivered: one call, or a
 * group of independent calls kept in flight together by a few threads, and
 * the text buffer request bodies are built in. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infobip.h"
#include "util/dynbuf.h"

/* Infobip's published limit per endpoint family, requests/s (People
 * specification, x-throttling-info): person endpoints (the upsert, the
 * delete of an erasure) 5, tags 5, custom attributes 5, the batch events
 * endpoint 5. Event definitions publish none: they share the custom
 * attributes' bucket (schema). The families the sink does not call (person
 * create 10/s, single events 250/s) have no bucket. */
static const struct {
    const char *bucket;
    double rate;
} family_limits[] = {
    {INFOBIP_BUCKET_PERSONS, 5.0},
    {INFOBIP_BUCKET_TAGS, 5.0},
    {INFOBIP_BUCKET_EVENTS, 5.0},
    {INFOBIP_BUCKET_SCHEMA, 5.0},
};

void infobip_throttle_families(sluice_ctx *ctx, double rate)
{
    for (size_t i = 0; i < sizeof(family_limits) / sizeof(family_limits[0]); i++) {
        double limit = rate > 0 ? rate : family_limits[i].rate;
        sluice_http_throttle(ctx, family_limits[i].bucket, limit, limit > 1 ? limit : 1);
    }
}

char *infobip_error_text(const json_t *error, char *buf, size_t buflen)
{
    const json_t *exception, *details, *items;
    const char *code = NULL, *text = NULL;
    size_t used;

    buf[0] = '\0';
    if (!json_is_object(error))
        return buf;
    /* Problem details (events): the first item says what is wrong. */
    items = json_object_get(error, "errors");
    if (!json_object_get(error, "code") && json_is_array(items) && json_array_size(items) > 0 &&
        json_is_object(json_array_get(items, 0))) {
        infobip_error_text(json_array_get(items, 0), buf, buflen);
        used = strlen(buf);
        if (json_array_size(items) > 1 && used + 1 < buflen)
            snprintf(buf + used, buflen - used, " (and %zu more)", json_array_size(items) - 1);
        return buf;
    }
    exception = json_object_get(json_object_get(error, "requestError"), "serviceException");
    if (json_is_object(exception)) {
        code = json_string_value(json_object_get(exception, "messageId"));
        text = json_string_value(json_object_get(exception, "text"));
    } else {
        code = json_string_value(json_object_get(error, "code"));
        if (!code)
            code = json_string_value(json_object_get(error, "errorCode"));
        text = json_string_value(json_object_get(error, "message"));
        if (!text)
            text = json_string_value(json_object_get(error, "description"));
    }
    snprintf(buf, buflen, "%s%s%s", code ? code : "", code && text ? ": " : "", text ? text : "");
    /* Per-property details say which field was wrong. */
    details = json_object_get(error, "details");
    if (json_is_array(details)) {
        size_t i;
        json_t *detail;
        json_array_foreach(details, i, detail) {
            const char *property = json_string_value(json_object_get(detail, "property"));
            const char *message = json_string_value(json_object_get(detail, "message"));
            used = strlen(buf);
            if (used + 4 >= buflen)
                break;
            snprintf(buf + used, buflen - used, " (%s%s%s)", property ? property : "",
                     property && message ? ": " : "", message ? message : "");
        }
    }
    if (buf[0] == '\0')
        snprintf(buf, buflen, "no error text in the answer");
    return buf;
}

void infobip_reply_clear(infobip_reply *reply)
{
    json_decref(reply->body);
    sluice_http_response_clear(&reply->raw);
    memset(reply, 0, sizeof(*reply));
}

sluice_status infobip_answer(sluice_ctx *ctx, const infobip_sink *sink, const char *method,
                             const char *path, const infobip_reply *reply, const char *why)
{
    char url[2048];

    snprintf(url, sizeof(url), "%s%s", sink->base_url, path);
    return sluice_http_answer(ctx, method, url, &reply->raw, why);
}

sluice_status infobip_config_failure(sluice_ctx *ctx, const infobip_sink *sink,
                                     const char *method, const char *path,
                                     const infobip_reply *reply)
{
    sluice_fail(ctx, "infobip-sink cannot send to Infobip: %s %s%s: %s", method, sink->base_url,
                path, reply->message);
    return SLUICE_FATAL;
}

/* Send METHOD path with `body` (body_len bytes, borrowed, may be NULL).
 * Fills *reply. Safe on any thread: touches only its arguments and
 * sluice_http (thread-safe, see docs/http-client.md). Returns reply->cls. */
static sluice_http_class call_text(sluice_ctx *ctx, const infobip_sink *sink, const char *method,
                                   const char *path, const char *body, size_t body_len,
                                   const char *bucket, infobip_reply *reply)
{
    char url[2048];
    sluice_http_header headers[3] = {
        {"Authorization", sink->auth_header},
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
    };
    sluice_http_request req;
    sluice_http_response resp;
    json_error_t error;

    memset(reply, 0, sizeof(*reply));
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "%s%s", sink->base_url, path);
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.header_count = body ? 3 : 1;
    req.body = body;
    req.body_len = body ? body_len : 0;
    req.throttle = bucket;

    reply->cls = sluice_http(ctx, &req, &resp);
    reply->status = resp.status;
    if (resp.body && resp.body_len > 0)
        reply->body = json_loadb(resp.body, resp.body_len, 0, &error);
    if (reply->cls == SLUICE_HTTP_SUCCESS) {
        /* Infobip answers JSON or nothing; a web page is someone else's
         * server saying 200 (a wrong base_url): not a delivery. */
        if (resp.body_len > 0 && !reply->body)
            snprintf(reply->unreadable, sizeof(reply->unreadable),
                     "the body is not JSON (%.80s)", error.text);
        reply->raw = resp;
        return reply->cls;
    }
    if (resp.status == 0)
        snprintf(reply->message, sizeof(reply->message), "%s", resp.error);
    else if (reply->body)
        infobip_error_text(reply->body, reply->message, sizeof(reply->message));
    else
        snprintf(reply->message, sizeof(reply->message), "HTTP %ld", resp.status);
    sluice_http_response_clear(&resp);
    return reply->cls;
}

sluice_http_class infobip_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                               const char *path, const json_t *payload, const char *bucket,
                               infobip_reply *reply)
{
    char *body = NULL;

    if (payload) {
        body = json_dumps(payload, JSON_COMPACT);
        if (!body) {
            memset(reply, 0, sizeof(*reply));
            reply->cls = SLUICE_HTTP_REJECTED;
            snprintf(reply->message, sizeof(reply->message), "cannot encode the request body");
            return reply->cls;
        }
    }
    call_text(ctx, sink, method, path, body, body ? strlen(body) : 0, bucket, reply);
    free(body);
    return reply->cls;
}

/* What the threads of one infobip_send_all share. */
typedef struct send_group {
    sluice_ctx *ctx;
    const infobip_sink *sink;
    infobip_request *requests;
    size_t count;
    pthread_mutex_t lock;    /* guards next and refused */
    size_t next;             /* first request nobody took yet */
    int refused;             /* 1 once an answer was AUTH or CONFIG: send no more */
} send_group;

/* Take and send requests until none is left. Runs on the caller's thread
 * and on each worker. Returns NULL (a pthread start routine). */
static void *send_group_work(void *arg)
{
    send_group *group = arg;

    for (;;) {
        infobip_request *request;
        int refused;

        pthread_mutex_lock(&group->lock);
        if (group->next >= group->count) {
            pthread_mutex_unlock(&group->lock);
            break;
        }
        request = &group->requests[group->next++];
        refused = group->refused;
        pthread_mutex_unlock(&group->lock);
        if (refused) {
            memset(&request->reply, 0, sizeof(request->reply));
            request->reply.cls = SLUICE_HTTP_RETRYABLE;
            snprintf(request->reply.message, sizeof(request->reply.message),
                     "not sent: an earlier request of the group cannot reach Infobip as configured");
            continue;
        }
        sluice_http_class cls = call_text(group->ctx, group->sink, request->method,
                                          request->path, request->body, request->body_len,
                                          request->bucket, &request->reply);
        if (cls == SLUICE_HTTP_AUTH || cls == SLUICE_HTTP_CONFIG) {
            pthread_mutex_lock(&group->lock);
            group->refused = 1;
            pthread_mutex_unlock(&group->lock);
        }
    }
    return NULL;
}

void infobip_send_all(sluice_ctx *ctx, infobip_sink *sink, infobip_request *requests, size_t n)
{
    send_group group;
    pthread_t workers[INFOBIP_MAX_IN_FLIGHT];
    size_t started = 0, wanted;

    memset(&group, 0, sizeof(group));
    group.ctx = ctx;
    group.sink = sink;
    group.requests = requests;
    group.count = n;
    wanted = sink->max_in_flight < n ? sink->max_in_flight : n;
    if (wanted > INFOBIP_MAX_IN_FLIGHT)
        wanted = INFOBIP_MAX_IN_FLIGHT;
    if (pthread_mutex_init(&group.lock, NULL) != 0) {
        /* No lock, no workers: one at a time on this thread. */
        for (size_t i = 0; i < n; i++)
            call_text(ctx, sink, requests[i].method, requests[i].path, requests[i].body,
                      requests[i].body_len, requests[i].bucket, &requests[i].reply);
        return;
    }
    /* The caller is one of the `wanted` senders; a worker that cannot be
     * started only means fewer requests at once. */
    while (started + 1 < wanted &&
           pthread_create(&workers[started], NULL, send_group_work, &group) == 0)
        started++;
    send_group_work(&group);
    for (size_t i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    pthread_mutex_destroy(&group.lock);
}

void infobip_requests_free(infobip_request *requests, size_t n)
{
    if (!requests)
        return;
    for (size_t i = 0; i < n; i++) {
        free(requests[i].body);
        infobip_reply_clear(&requests[i].reply);
    }
    free(requests);
}

/* Append record i of batch as compact JSON: its travelling text when it
 * still has one, else a dump of the parsed record. Returns 0 or -1. */
static int text_add_record(dynbuf *text, sluice_batch *batch, size_t i)
{
    size_t len = 0;
    const char *raw = sluice_batch_peek_text(batch, i, &len);
    json_t *record;

    if (raw)
        return dynbuf_append(text, raw, len);
    record = sluice_batch_get(batch, i);
    return record ? dynbuf_append_json(text, record, JSON_COMPACT) : -1;
}

int infobip_records_body(sluice_batch *batch, const size_t *idx, size_t n, const char *open,
                         const char *close, infobip_request *request)
{
    dynbuf text;
    int failed;

    dynbuf_init(&text, 0);
    failed = dynbuf_append_str(&text, open) != 0;
    for (size_t i = 0; i < n && !failed; i++)
        failed = (i > 0 && dynbuf_append(&text, ",", 1) != 0) ||
                 text_add_record(&text, batch, idx[i]) != 0;
    if (failed || dynbuf_append_str(&text, close) != 0) {
        dynbuf_free(&text);
        return -1;
    }
    request->body_len = text.len;
    request->body = dynbuf_steal(&text);
    return request->body ? 0 : -1;
}
