/* ometria_erase.c: erasure at Ometria (docs/erasure.md). Ometria erases a
 * person through its GDPR anonymisation API: POST /data-deletion-requests
 * by email, at most 6 requests a minute, done within 14 days, its status
 * read with GET /data-deletion-requests/{id} (shared/reference/api-
 * findings-2026-12.md, O5). An erase record is done once its request is in
 * the sink's durable queue (the erasure list, sink_erase.h); the requests
 * go out paced, their status is polled until Ometria says complete, and
 * the queue moves on a clock of its own (sluice_sink_call_after) even
 * when no batch comes. Before queueing, the member leaves the static
 * segments this pipeline manages (erase_lists). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ometria.h"
#include "sink_erase.h"

#define OM_ENROLMENT_PATH "properties.annex_opt_in_date"
#define OM_ERASE_BUCKET "gdpr"
/* a refused answer (429) waits at least this long */
#define OM_ERASE_BACKOFF_S 60.0

struct om_erase {
    erase_list list;
    char *requests_url;  /* {base}/data-deletion-requests */
    double spacing_s;    /* 60 / erase_requests_per_minute */
    double poll_s;       /* between two status reads of one request */
    double next_send;    /* monotonic seconds: no GDPR request before */
    json_t *next_poll;   /* loyalty id -> monotonic seconds of its next read */
    json_t *lists;       /* erase_lists (borrowed from config) */
};

/* Monotonic seconds. */
static double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int om_erase_init(sluice_ctx *ctx, ometria_sink *sink, const json_t *config,
                  const char *base_url)
{
    struct om_erase *erase = calloc(1, sizeof(*erase));
    const char *path = json_string_value(json_object_get(config, "erase_enrolment_field"));
    double per_minute = json_number_value(json_object_get(config, "erase_requests_per_minute"));
    size_t len = strlen(base_url);

    if (!erase) {
        sluice_fail(ctx, "out of memory");
        return -1;
    }
    sink->erase = erase;
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    erase->requests_url = malloc(len + 32);
    erase->next_poll = json_object();
    if (!erase->requests_url || !erase->next_poll) {
        sluice_fail(ctx, "out of memory");
        return -1;
    }
    snprintf(erase->requests_url, len + 32, "%.*s/data-deletion-requests", (int)len, base_url);
    erase->spacing_s = 60.0 / (per_minute > 0 ? per_minute : 6.0);
    erase->poll_s = (double)json_integer_value(json_object_get(config, "erase_poll_s"));
    if (erase->poll_s < 1)
        erase->poll_s = 3600;
    erase->lists = json_object_get(config, "erase_lists");
    /* paced here, one request every spacing_s: the core's bucket is off */
    sluice_http_throttle(ctx, OM_ERASE_BUCKET, 0, 0);
    if (erase_list_load(ctx, &erase->list, "ometria", path ? path : OM_ENROLMENT_PATH) != 0)
        return -1;
    /* requests queued or sent before a restart go on at once */
    sluice_sink_call_after(ctx, 0);
    return 0;
}

void om_erase_fini(ometria_sink *sink)
{
    struct om_erase *erase = sink ? sink->erase : NULL;

    if (!erase)
        return;
    erase_list_clear(&erase->list);
    free(erase->requests_url);
    json_decref(erase->next_poll);
    free(erase);
    sink->erase = NULL;
}

/* Send one GDPR API request (METHOD url, body may be NULL) once, without
 * the core's retries (the pump retries on its own clock). Fills *resp
 * (clear it) and returns the class. */
static sluice_http_class gdpr_call(sluice_ctx *ctx, const ometria_sink *sink, const char *method,
                                   const char *url, const char *body,
                                   sluice_http_response *resp)
{
    sluice_http_header headers[] = {{"X-Ometria-Auth", sink->api_key},
                                    {"Accept", "application/json"},
                                    {"Content-Type", "application/json"}};
    sluice_http_request req = {.method = method, .url = url, .headers = headers,
                               .header_count = body ? 3 : 2, .body = body,
                               .body_len = body ? strlen(body) : 0, .max_attempts = 1,
                               .throttle = OM_ERASE_BUCKET};

    return sluice_http(ctx, &req, resp);
}

/* Take the member out of the static segments the pipeline manages: a
 * contact with its id and @remove_from_lists only (no personal data).
 * Returns SLUICE_OK (also when there are none), SLUICE_RETRY, SLUICE_FATAL. */
static sluice_status leave_lists(sluice_ctx *ctx, ometria_sink *sink, const char *id)
{
    json_t *body = NULL;
    char *text = NULL;
    long accepted = 0, rejected = 0;
    sluice_http_header headers[] = {{"X-Ometria-Auth", sink->api_key},
                                    {"Content-Type", "application/json"},
                                    {"Accept", "application/json"}};
    sluice_http_request req = {.method = "POST", .url = sink->push_url, .headers = headers,
                               .header_count = 3};
    sluice_http_response resp;
    sluice_http_class cls;
    sluice_status status = SLUICE_RETRY;

    if (json_array_size(sink->erase->lists) == 0)
        return SLUICE_OK;
    body = json_pack("[{s:s,s:s,s:s,s:O}]", "@type", "contact", "id", id, "@collection",
                     sink->collection, "@remove_from_lists", sink->erase->lists);
    if (!body || !(text = json_dumps(body, JSON_COMPACT))) {
        json_decref(body);
        return SLUICE_RETRY;
    }
    req.body = text;
    req.body_len = strlen(text);
    cls = sluice_http(ctx, &req, &resp);
    if (cls == SLUICE_HTTP_SUCCESS)
        status = om_parse_push_result(resp.body, &accepted, &rejected) == 0 && accepted == 1
                     ? SLUICE_OK
                     : sluice_http_answer(ctx, "POST", sink->push_url, &resp,
                                          "it does not count the one contact sent accepted");
    else if (cls == SLUICE_HTTP_AUTH || cls == SLUICE_HTTP_CONFIG) {
        sluice_fail(ctx, "ometria-sink: POST %s: HTTP %ld%s%s", sink->push_url, resp.status,
                    resp.status == 0 ? ": " : " (API key rejected)", resp.status == 0 ? resp.error : "");
        status = SLUICE_FATAL;
    } else if (cls == SLUICE_HTTP_REJECTED) {
        sluice_log(ctx, SLUICE_LOG_WARN, "member %s: Ometria refused its removal from the "
                   "managed segments (HTTP %ld); the erasure goes on", id, resp.status);
        status = SLUICE_OK;
    }
    sluice_http_response_clear(&resp);
    free(text);
    json_decref(body);
    return status;
}

/* Queue erase record i (`record`): the entry keeps the email until the
 * request is sent; a member whose email nobody knows fails at once (the
 * suppression still holds). Sets the record's outcome. Returns SLUICE_OK
 * or SLUICE_FATAL. */
static sluice_status queue_one(sluice_ctx *ctx, ometria_sink *sink, sluice_batch *batch,
                               size_t i, const json_t *record)
{
    struct om_erase *erase = sink->erase;
    const char *id = json_string_value(json_object_get(record, "loyalty_id"));
    const char *email = json_string_value(json_object_get(record, "email"));
    json_t *extra = email && *email ? json_pack("{s:s}", "email", email) : NULL;
    int fresh = 0;
    const json_t *entry;
    sluice_status status;

    if ((status = leave_lists(ctx, sink, id)) != SLUICE_OK) {
        json_decref(extra);
        if (status == SLUICE_RETRY)
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "segment removal not done");
        return status == SLUICE_RETRY ? SLUICE_OK : status;
    }
    entry = erase_list_take(ctx, &erase->list, batch, record, extra, &fresh);
    json_decref(extra);
    if (!entry) {
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "state store error");
        return SLUICE_OK;
    }
    if (fresh && !(email && *email)) {
        if (erase_list_update(ctx, &erase->list, batch, id, ERASE_FAILED,
                              "no email known for the member: Ometria erases by email", NULL) != 0) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "state store error");
            return SLUICE_OK;
        }
        sluice_log(ctx, SLUICE_LOG_WARN, "erasure of member %s at Ometria failed: no email "
                   "known for it (its records are dropped all the same)", id);
        sluice_metric_add(ctx, "erasures_failed", 1);
    } else if (fresh) {
        sluice_log(ctx, SLUICE_LOG_INFO, "erasure of member %s at Ometria queued", id);
        sluice_metric_add(ctx, "erasures_queued", 1);
    }
    sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
    return SLUICE_OK;
}

/* The member id a mapped Ometria record names: a contact's "id", an
 * event's "identity_account_id". Borrowed, or NULL. */
static const char *record_member(const json_t *record)
{
    const char *type = json_string_value(json_object_get(record, "@type"));

    if (type && strcmp(type, "custom_event") == 0)
        return json_string_value(json_object_get(record, "identity_account_id"));
    return json_string_value(json_object_get(record, "id"));
}

sluice_status om_erase_screen(sluice_ctx *ctx, ometria_sink *sink, sluice_batch *batch)
{
    struct om_erase *erase = sink->erase;
    size_t count = sluice_batch_count(batch);

    /* erasures first: a member's records before its erasure in the same
     * batch must not go out either */
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        json_t *record;
        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        record = sluice_batch_get(batch, i);
        if (record && erase_record_is(record) &&
            queue_one(ctx, sink, batch, i, record) == SLUICE_FATAL)
            return SLUICE_FATAL;
    }
    if (json_object_size(erase->list.suppressed) == 0)
        return SLUICE_OK;
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        json_t *record;
        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        record = sluice_batch_get(batch, i);
        if (record && !erase_record_is(record) &&
            erase_list_filter(ctx, &erase->list, batch, i, record, record_member(record)) < 0)
            return SLUICE_RETRY;
    }
    erase_list_summary(ctx, &erase->list, batch);
    return SLUICE_OK;
}

/* The deletion request's id in a 2xx answer ("id" or "request_id", a
 * string or an integer) into buf; 0, or -1 when there is none. */
static int answer_request_id(const char *body, char *buf, size_t len)
{
    json_t *answer = body ? json_loads(body, 0, NULL) : NULL;
    const json_t *id = json_object_get(answer, "id");
    int result = -1;

    if (!id)
        id = json_object_get(answer, "request_id");
    if (json_is_string(id) && *json_string_value(id))
        result = snprintf(buf, len, "%s", json_string_value(id)) < (int)len ? 0 : -1;
    else if (json_is_integer(id))
        result = snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(id)) < (int)len
                     ? 0 : -1;
    json_decref(answer);
    return result;
}

/* A refusal `cls` of a GDPR call: wait (429, 5xx, no answer) or stop
 * (credentials). Returns SLUICE_RETRY to try later, SLUICE_FATAL. */
static sluice_status gdpr_refused(sluice_ctx *ctx, struct om_erase *erase, const char *method,
                                  const char *url, sluice_http_class cls,
                                  const sluice_http_response *resp)
{
    if (cls == SLUICE_HTTP_AUTH || cls == SLUICE_HTTP_CONFIG) {
        sluice_fail(ctx, "ometria-sink: %s %s: %s (HTTP %ld)", method, url,
                    cls == SLUICE_HTTP_AUTH ? "API key rejected by Ometria's GDPR API"
                                            : resp->error, resp->status);
        return SLUICE_FATAL;
    }
    erase->next_send = mono_now() + (resp->status == 429 ? OM_ERASE_BACKOFF_S : erase->spacing_s);
    sluice_log(ctx, SLUICE_LOG_INFO, "%s %s: HTTP %ld: the erasure queue waits %.0f s", method,
               url, resp->status, erase->next_send - mono_now());
    return SLUICE_RETRY;
}

/* POST the deletion request of queued member `id` (entry borrowed).
 * Returns SLUICE_OK (sent or failed for good), SLUICE_RETRY, SLUICE_FATAL. */
static sluice_status send_request(sluice_ctx *ctx, ometria_sink *sink, const char *id,
                                  const json_t *entry)
{
    struct om_erase *erase = sink->erase;
    json_t *body = json_pack("{s:O}", "email", json_object_get(entry, "email"));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char request_id[128], reason[300];
    json_t *set = NULL;
    sluice_http_response resp;
    sluice_http_class cls;
    sluice_status status = SLUICE_OK;

    json_decref(body);
    if (!text)
        return SLUICE_RETRY;
    erase->next_send = mono_now() + erase->spacing_s;
    cls = gdpr_call(ctx, sink, "POST", erase->requests_url, text, &resp);
    free(text);
    if (cls == SLUICE_HTTP_SUCCESS) {
        if (answer_request_id(resp.body, request_id, sizeof(request_id)) != 0) {
            status = sluice_http_answer(ctx, "POST", erase->requests_url, &resp,
                                        "it has no request id");
            goto out;
        }
        /* sent: the email is not kept any longer */
        set = json_pack("{s:s,s:n}", "request_id", request_id, "email");
        if (!set || erase_list_update(ctx, &erase->list, NULL, id, ERASE_SENT, NULL, set) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
        json_object_set_new(erase->next_poll, id, json_real(mono_now() + erase->poll_s));
        sluice_log(ctx, SLUICE_LOG_INFO, "erasure of member %s sent to Ometria (request %s)",
                   id, request_id);
        sluice_metric_add(ctx, "erasures_sent", 1);
    } else if (cls == SLUICE_HTTP_REJECTED && resp.status != 429) {
        char text_reason[200];
        snprintf(reason, sizeof(reason), "Ometria refused the deletion request: HTTP %ld: %s",
                 resp.status, om_error_text(resp.body, sink->api_key, text_reason,
                                            sizeof(text_reason)));
        set = json_pack("{s:n}", "email");
        if (!set || erase_list_update(ctx, &erase->list, NULL, id, ERASE_FAILED, reason, set))
            status = SLUICE_RETRY;
        sluice_log(ctx, SLUICE_LOG_WARN, "erasure of member %s: %s", id, reason);
        sluice_metric_add(ctx, "erasures_failed", 1);
    } else {
        status = gdpr_refused(ctx, erase, "POST", erase->requests_url, cls, &resp);
    }
out:
    json_decref(set);
    sluice_http_response_clear(&resp);
    return status;
}

/* 1 when an Ometria status text says the anonymisation is done, -1 when
 * it failed, 0 while it is pending. */
static int status_done(const char *text)
{
    static const char *const done[] = {"completed", "complete", "done", "processed", "anonymised",
                                       "anonymized"};
    static const char *const failed[] = {"failed", "rejected", "error", "cancelled"};

    for (size_t i = 0; text && i < sizeof(done) / sizeof(done[0]); i++) {
        if (strcasecmp(text, done[i]) == 0)
            return 1;
    }
    for (size_t i = 0; text && i < sizeof(failed) / sizeof(failed[0]); i++) {
        if (strcasecmp(text, failed[i]) == 0)
            return -1;
    }
    return 0;
}

/* GET the status of member `id`'s sent request. Returns SLUICE_OK,
 * SLUICE_RETRY, SLUICE_FATAL. */
static sluice_status poll_request(sluice_ctx *ctx, ometria_sink *sink, const char *id,
                                  const json_t *entry)
{
    struct om_erase *erase = sink->erase;
    const char *request_id = json_string_value(json_object_get(entry, "request_id"));
    char url[1024], reason[200];
    sluice_http_response resp;
    sluice_http_class cls;
    sluice_status status = SLUICE_OK;
    json_t *answer = NULL;
    int done;

    if (!request_id)
        return SLUICE_OK;
    snprintf(url, sizeof(url), "%s/%s", erase->requests_url, request_id);
    erase->next_send = mono_now() + erase->spacing_s;
    json_object_set_new(erase->next_poll, id, json_real(mono_now() + erase->poll_s));
    cls = gdpr_call(ctx, sink, "GET", url, NULL, &resp);
    if (cls != SLUICE_HTTP_SUCCESS) {
        status = cls == SLUICE_HTTP_REJECTED && resp.status != 429
                     ? SLUICE_OK /* logged; read again at the next poll */
                     : gdpr_refused(ctx, erase, "GET", url, cls, &resp);
        if (status == SLUICE_OK)
            sluice_log(ctx, SLUICE_LOG_WARN, "GET %s: HTTP %ld", url, resp.status);
        goto out;
    }
    answer = json_loads(resp.body ? resp.body : "", 0, NULL);
    done = status_done(json_string_value(json_object_get(answer, "status")));
    if (done > 0) {
        if (erase_list_update(ctx, &erase->list, NULL, id, ERASE_CONFIRMED, NULL, NULL) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
        json_object_del(erase->next_poll, id);
        sluice_log(ctx, SLUICE_LOG_INFO, "erasure of member %s confirmed by Ometria", id);
        sluice_metric_add(ctx, "erasures_confirmed", 1);
    } else if (done < 0) {
        snprintf(reason, sizeof(reason), "Ometria says the request %s %s", request_id,
                 json_string_value(json_object_get(answer, "status")));
        if (erase_list_update(ctx, &erase->list, NULL, id, ERASE_FAILED, reason, NULL) != 0)
            status = SLUICE_RETRY;
        json_object_del(erase->next_poll, id);
        sluice_log(ctx, SLUICE_LOG_WARN, "erasure of member %s: %s", id, reason);
    }
out:
    json_decref(answer);
    sluice_http_response_clear(&resp);
    return status;
}

sluice_status om_erase_pump(sluice_ctx *ctx, ometria_sink *sink)
{
    struct om_erase *erase = sink->erase;
    json_t *ids = json_array();
    const char *id;
    const json_t *entry;
    double wake = -1, now;
    size_t i;
    json_t *item;
    sluice_status status = SLUICE_OK;

    if (!ids)
        return SLUICE_OK;
    /* the ids first: the pump updates the list as it goes */
    json_object_foreach(erase->list.suppressed, id, entry) {
        const char *state = json_string_value(json_object_get(entry, "state"));
        if (state && (strcmp(state, ERASE_QUEUED) == 0 || strcmp(state, ERASE_SENT) == 0))
            json_array_append_new(ids, json_string(id));
    }
    json_array_foreach(ids, i, item) {
        const char *member = json_string_value(item);
        const char *state;
        double due;
        entry = erase_list_find(&erase->list, member);
        state = json_string_value(json_object_get(entry, "state"));
        if (!state)
            continue;
        now = mono_now();
        due = strcmp(state, ERASE_QUEUED) == 0
                  ? erase->next_send
                  : (json_object_get(erase->next_poll, member)
                         ? json_real_value(json_object_get(erase->next_poll, member))
                         : now);
        if (due < erase->next_send)
            due = erase->next_send;
        if (due > now) {
            wake = wake < 0 || due < wake ? due : wake;
            continue;
        }
        status = strcmp(state, ERASE_QUEUED) == 0 ? send_request(ctx, sink, member, entry)
                                                  : poll_request(ctx, sink, member, entry);
        if (status == SLUICE_FATAL)
            break;
        status = SLUICE_OK; /* a request that waits is asked again on the clock */
        state = json_string_value(json_object_get(erase_list_find(&erase->list, member),
                                                  "state"));
        if (state && (strcmp(state, ERASE_QUEUED) == 0 || strcmp(state, ERASE_SENT) == 0)) {
            due = strcmp(state, ERASE_QUEUED) == 0
                      ? erase->next_send
                      : json_real_value(json_object_get(erase->next_poll, member));
            wake = wake < 0 || due < wake ? due : wake;
        }
    }
    json_decref(ids);
    if (status == SLUICE_OK && wake >= 0) {
        now = mono_now();
        sluice_sink_call_after(ctx, wake > now ? wake - now : 0);
    }
    return status;
}
