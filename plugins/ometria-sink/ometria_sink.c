/* ometria_sink.c: the ometria-sink plugin: Ometria-shaped contacts and
 * custom events (from field-mapper's ometria mapping) pushed to Ometria's
 * Data API, POST {base_url}/v2/push, one @type and at most 100 records per
 * request. Records Ometria refuses are isolated by bisection and
 * dead-lettered with Ometria's reason; the rest are delivered, and only
 * when Ometria's answer counts every record sent (a 2xx it cannot read is
 * sent again, and stops the stage when it keeps coming). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ometria.h"
#include "sink_erase.h"

/* A chunk of n records halves at most log2(100) + 1 times. */
#define OM_MAX_BISECT_DEPTH 8
#define OM_DEFAULT_RATE 4.0
#define OM_ERRORS_MAX_ATTEMPTS 3

static const sluice_option ometria_options[] = {
    {"base_url", SLUICE_OPT_STRING, NULL, 1, 0,
     "Ometria API base URL, e.g. https://api.ometria.com (${OMETRIA_BASE_URL})", .kind = SLUICE_KIND_URL},
    {"api_key", SLUICE_OPT_STRING, NULL, 1, 1, "Ometria API key, sent as X-Ometria-Auth"},
    {"collection", SLUICE_OPT_STRING, "annex_loyalty", 0, 0,
     "@collection set on contacts that lack one"},
    {"max_records_per_request", SLUICE_OPT_INT, "100", 0, 0,
     "records per push request (Ometria's limit is 100)", .range = "1..100"},
    {"max_record_bytes", SLUICE_OPT_INT, "61440", 0, 0,
     "largest record in compact JSON; larger ones are dead-lettered before sending", .range = "1..61440"},
    {"erase_requests_per_minute", SLUICE_OPT_DOUBLE, "6", 0, 0,
     "pace of Ometria's GDPR API (deletion requests and status reads), its documented limit is 6/min",
     .range = "0.1..60000"},
    {"erase_poll_s", SLUICE_OPT_INT, "3600", 0, 0,
     "seconds between two status reads of one sent deletion request (Ometria completes within 14 days)",
     .range = "1..86400"},
    {"erase_lists", SLUICE_OPT_LIST, NULL, 0, 0,
     "static segment ids this pipeline manages: an erased member is removed from them first"},
    {"erase_enrolment_field", SLUICE_OPT_STRING, "properties.annex_opt_in_date", 0, 0,
     "where a contact carries its enrolment date: an erased member's records are sent again once it is after the erasure"},
    SLUICE_OPTION_END};

/* What happened to one chunk, for the write() summary. */
typedef struct push_tally {
    size_t sent;
    size_t rejected;
    size_t retry;
    size_t requests;
} push_tally;

/* malloc'd "{base}{suffix}" without a doubled slash, or NULL. */
static char *join_url(const char *base, const char *suffix)
{
    size_t base_len = strlen(base);
    size_t len;
    char *url;

    while (base_len > 0 && base[base_len - 1] == '/')
        base_len--;
    len = base_len + strlen(suffix) + 1;
    url = malloc(len);
    if (url)
        snprintf(url, len, "%.*s%s", (int)base_len, base, suffix);
    return url;
}

/* 1 when `text` holds a control character (never valid in a header). */
static int has_control_char(const char *text)
{
    for (; *text; text++) {
        if ((unsigned char)*text < 0x20 || *text == 0x7f)
            return 1;
    }
    return 0;
}

static void ometria_fini(sluice_ctx *ctx, void *state)
{
    ometria_sink *sink = state;

    (void)ctx;
    if (!sink)
        return;
    free(sink->push_url);
    free(sink->errors_url);
    free(sink->api_key);
    free(sink->collection);
    om_erase_fini(sink);
    free(sink);
}

static sluice_status ometria_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    ometria_sink *sink = calloc(1, sizeof(*sink));
    const char *base_url = json_string_value(json_object_get(config, "base_url"));
    const char *api_key = json_string_value(json_object_get(config, "api_key"));
    const char *collection = json_string_value(json_object_get(config, "collection"));
    json_int_t max_records = json_integer_value(json_object_get(config, "max_records_per_request"));
    json_int_t max_bytes = json_integer_value(json_object_get(config, "max_record_bytes"));
    sluice_status result = SLUICE_FATAL;

    *state = NULL;
    if (!sink) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    /* base_url (an http(s) URL) and the two ranges were checked by the
     * core against the option table, with FILE:LINE, before anything ran
     * (sluice check, sluice run); the secret api_key is checked here, where
     * its value is known. */
    if (!api_key || !*api_key) {
        sluice_fail(ctx, "option api_key: empty (set it, e.g. api_key = \"${OMETRIA_API_KEY}\")");
        goto out;
    }
    if (has_control_char(api_key)) {
        /* Typically a trailing newline from a key file. */
        sluice_fail(ctx, "option api_key: holds a line break or control character");
        goto out;
    }
    /* The table's range keeps it in 1..OM_MAX_RECORDS_PER_REQUEST; the
     * bound holds here too because send_records' array depends on it. */
    if (max_records < 1 || max_records > OM_MAX_RECORDS_PER_REQUEST)
        max_records = OM_MAX_RECORDS_PER_REQUEST;
    sink->push_url = join_url(base_url, "/v2/push");
    sink->errors_url = join_url(base_url, "/v2/push/_errors");
    sink->api_key = strdup(api_key);
    sink->collection = strdup(collection && *collection ? collection : "annex_loyalty");
    if (!sink->push_url || !sink->errors_url || !sink->api_key || !sink->collection) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    sink->max_records = (size_t)max_records;
    sink->max_record_bytes = (size_t)max_bytes;
    /* Ometria's documented push limit; the stage's rate_limit wins. */
    sluice_http_throttle(ctx, "default", OM_DEFAULT_RATE, OM_DEFAULT_RATE);
    if (om_erase_init(ctx, sink, config, base_url) != 0)
        goto out;
    *state = sink;
    sink = NULL;
    result = SLUICE_OK;
out:
    ometria_fini(ctx, sink);
    return result;
}

/* The recent validation errors (new reference), or NULL when they cannot
 * be read (the caller then uses a generic reason). */
static json_t *fetch_errors(sluice_ctx *ctx, ometria_sink *sink)
{
    sluice_http_header headers[] = {{"X-Ometria-Auth", sink->api_key},
                                    {"Accept", "application/json"}};
    sluice_http_request req = {.method = "GET", .url = sink->errors_url,
                               .headers = headers, .header_count = 2,
                               .max_attempts = OM_ERRORS_MAX_ATTEMPTS};
    sluice_http_response resp;
    json_t *errors = NULL;

    if (sluice_http(ctx, &req, &resp) == SLUICE_HTTP_SUCCESS)
        errors = json_loads(resp.body, 0, NULL);
    if (errors && !json_is_array(errors)) {
        json_decref(errors);
        errors = NULL;
    }
    if (!errors)
        sluice_log(ctx, SLUICE_LOG_WARN, "GET %s: HTTP %ld, no error details for rejected records",
                   sink->errors_url, resp.status);
    sluice_http_response_clear(&resp);
    return errors;
}

/* Dead-letter every record of a chunk that Ometria refused, each with the
 * matching /_errors entry when one is found. */
static void reject_chunk(sluice_ctx *ctx, ometria_sink *sink, sluice_batch *batch,
                         const size_t *idx, size_t n, push_tally *tally)
{
    json_t *errors = fetch_errors(ctx, sink);

    for (size_t i = 0; i < n; i++) {
        char reason[512];
        char *matched = om_match_error(errors, sluice_batch_get(batch, idx[i]));

        if (matched)
            snprintf(reason, sizeof(reason), "rejected by Ometria: %s", matched);
        else
            snprintf(reason, sizeof(reason), "rejected by Ometria");
        free(matched);
        sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_REJECTED, reason);
        tally->rejected++;
    }
    sluice_metric_add(ctx, "records_rejected", (double)n);
    json_decref(errors);
}

/* Mark a chunk delivered and count it. */
static void mark_delivered(sluice_ctx *ctx, sluice_batch *batch, om_type type,
                           const size_t *idx, size_t n, push_tally *tally)
{
    for (size_t i = 0; i < n; i++)
        sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_DONE, NULL);
    tally->sent += n;
    sluice_metric_add(ctx, type == OM_TYPE_CONTACT ? "contacts_sent" : "events_sent",
                      (double)n);
}

/* Mark a chunk for another write() call with `reason`. (The server's
 * Retry-After reaches the core's retry through sluice_http.) */
static void retry_chunk(sluice_batch *batch, const size_t *idx, size_t n, const char *reason,
                        push_tally *tally)
{
    for (size_t i = 0; i < n; i++)
        sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, reason);
    tally->retry += n;
}

/* One top-level request's worth of records being pushed. */
typedef struct push_job {
    sluice_ctx *ctx;
    ometria_sink *sink;
    sluice_batch *batch;
    om_type type;
    const size_t *top; /* the whole chunk: what precedes a part of it */
    push_tally *tally;
} push_job;

/* 1 when a record of idx[0..n) has the same id as a record before it in
 * the job's chunk (which may have been re-sent after the chunk's first
 * request). */
static int id_seen_before(const push_job *job, const size_t *idx, size_t n)
{
    size_t before = (size_t)(idx - job->top);

    for (size_t i = 0; i < n; i++) {
        json_t *id = json_object_get(sluice_batch_get(job->batch, idx[i]), "id");
        for (size_t j = 0; j < before; j++) {
            if (json_equal(id, json_object_get(sluice_batch_get(job->batch, job->top[j]), "id")))
                return 1;
        }
    }
    return 0;
}

/* Send idx[0..n) once. Returns the classification; for a 2xx sets
 * *rejected from the answer and writes to why[0..why_len) what makes the
 * answer unreadable (not Ometria's push result, or counts that do not add
 * up to the n records sent), or "" when it accounts for all of them. Fills
 * *resp (caller clears). SLUICE_HTTP_RETRYABLE with status 0 and an error
 * text when the body cannot be built. */
static sluice_http_class send_records(push_job *job, const size_t *idx, size_t n,
                                      long *rejected, char *why, size_t why_len,
                                      sluice_http_response *resp)
{
    ometria_sink *sink = job->sink;
    json_t *records[OM_MAX_RECORDS_PER_REQUEST];
    sluice_http_header headers[] = {{"X-Ometria-Auth", sink->api_key},
                                    {"Content-Type", "application/json"},
                                    {"Accept", "application/json"}};
    sluice_http_request req = {.method = "POST", .url = sink->push_url,
                               .headers = headers, .header_count = 3};
    sluice_http_class cls;
    long accepted = 0;
    char *body;

    memset(resp, 0, sizeof(*resp));
    *rejected = 0;
    why[0] = '\0';
    for (size_t i = 0; i < n; i++)
        records[i] = sluice_batch_get(job->batch, idx[i]);
    body = om_body(records, n, &req.body_len);
    if (!body) {
        snprintf(resp->error, sizeof(resp->error), "out of memory building a request");
        return SLUICE_HTTP_RETRYABLE;
    }
    req.body = body;
    cls = sluice_http(job->ctx, &req, resp);
    job->tally->requests++;
    if (cls == SLUICE_HTTP_SUCCESS) {
        /* Any web server answers 200: only Ometria's counts of what became
         * of these n records make them delivered or refused. */
        if (om_parse_push_result(resp->body, &accepted, rejected) != 0)
            snprintf(why, why_len, "the body is not Ometria's push result "
                     "{\"status\":\"OK\",\"accepted\":N,\"rejected\":M}");
        else if ((unsigned long)accepted + (unsigned long)*rejected != n)
            snprintf(why, why_len, "it counts %ld accepted + %ld rejected of the %zu %s sent",
                     accepted, *rejected, n, om_type_plural(job->type));
        if (why[0])
            *rejected = 0;
    }
    free(body);
    return cls;
}

/* Push records idx[0..n) of the job and set their outcomes, halving the
 * chunk while Ometria refuses part of it. `known_rejected` is how many of
 * them Ometria refused in an earlier request (-1: unknown): with 0 they
 * were all accepted then, with n all refused, and in between the chunk is
 * split without sending it again. Bounded: n halves at every level.
 * Returns SLUICE_OK, or SLUICE_FATAL (after sluice_fail) on bad credentials,
 * a wrong URL, a certificate that fails verification, or 2xx answers that
 * cannot be read coming again and again. */
static sluice_status push_chunk(push_job *job, const size_t *idx, size_t n, int depth,
                                long known_rejected)
{
    sluice_ctx *ctx = job->ctx;
    ometria_sink *sink = job->sink;
    sluice_http_response resp;
    sluice_http_class cls = SLUICE_HTTP_SUCCESS;
    sluice_status result = SLUICE_OK;
    long rejected = known_rejected;
    char text[320];
    char why[200] = "";
    int bisect = 0;
    int sent = 0;

    memset(&resp, 0, sizeof(resp));
    /* A newer version of a record must be the last one Ometria sees, so
     * "accepted earlier" only counts when nothing before it was re-sent
     * with the same id. */
    if (known_rejected == 0 && id_seen_before(job, idx, n))
        known_rejected = -1;
    if (known_rejected == 0) {
        mark_delivered(ctx, job->batch, job->type, idx, n, job->tally);
        return SLUICE_OK;
    }
    if (known_rejected > 0 && (size_t)known_rejected >= n) {
        reject_chunk(ctx, sink, job->batch, idx, n, job->tally);
        return SLUICE_OK;
    }
    if (known_rejected < 0) {
        cls = send_records(job, idx, n, &rejected, why, sizeof(why), &resp);
        sent = 1;
    }

    switch (cls) {
    case SLUICE_HTTP_SUCCESS:
        result = sent ? sluice_http_answer(ctx, "POST", sink->push_url, &resp,
                                           why[0] ? why : NULL)
                      : SLUICE_OK;
        if (result == SLUICE_FATAL)
            break;
        if (result == SLUICE_RETRY) {
            /* Not a delivery: the same records go again. */
            result = SLUICE_OK;
            snprintf(text, sizeof(text), "Ometria's answer (HTTP %ld) could not be read: %s",
                     resp.status, why);
            retry_chunk(job->batch, idx, n, text, job->tally);
        } else if (rejected == 0) {
            mark_delivered(ctx, job->batch, job->type, idx, n, job->tally);
        } else if ((size_t)rejected >= n || n == 1 || depth >= OM_MAX_BISECT_DEPTH) {
            /* Nothing of it was accepted (or it cannot be split): each record
             * is refused on its own merits, no need to re-send. */
            reject_chunk(ctx, sink, job->batch, idx, n, job->tally);
        } else {
            bisect = 1;
        }
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(ctx, "API key rejected by Ometria (HTTP %ld): %s; check the "
                         "ometria-sink api_key option", resp.status,
                    om_error_text(resp.body, sink->api_key, text, sizeof(text)));
        result = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_CONFIG:
        sluice_fail(ctx, "ometria-sink cannot send to Ometria: POST %s: %s", sink->push_url,
                    resp.error);
        result = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_REJECTED:
        rejected = -1;
        if (resp.status == 0) {
            /* Refused before sending: the request cannot be made at all. */
            sluice_fail(ctx, "cannot send to Ometria: %s", resp.error);
            result = SLUICE_FATAL;
        } else if (resp.status == 404 || resp.status == 405) {
            sluice_fail(ctx, "POST %s: HTTP %ld: is base_url right?", sink->push_url,
                        resp.status);
            result = SLUICE_FATAL;
        } else if (n > 1 && depth < OM_MAX_BISECT_DEPTH) {
            /* 400/413 on a multi-record request: find the culprits. */
            bisect = 1;
        } else {
            char reason[400];
            snprintf(reason, sizeof(reason), "rejected by Ometria (HTTP %ld): %s", resp.status,
                     om_error_text(resp.body, sink->api_key, text, sizeof(text)));
            for (size_t i = 0; i < n; i++)
                sluice_batch_set_outcome(job->batch, idx[i], SLUICE_RECORD_REJECTED, reason);
            job->tally->rejected += n;
            sluice_metric_add(ctx, "records_rejected", (double)n);
        }
        break;
    case SLUICE_HTTP_RETRYABLE:
    default:
        if (resp.status == 0)
            snprintf(text, sizeof(text), "Ometria unreachable: %s", resp.error);
        else
            snprintf(text, sizeof(text), "Ometria answered HTTP %ld", resp.status);
        retry_chunk(job->batch, idx, n, text, job->tally);
        break;
    }
    sluice_http_response_clear(&resp);

    if (bisect) {
        size_t half = n / 2;
        size_t rejected_before = job->tally->rejected;
        size_t retry_before = job->tally->retry;
        long right_rejected = -1;

        sluice_log(ctx, SLUICE_LOG_DEBUG, "Ometria refused %ld of %zu %s: splitting %zu + %zu",
                   rejected, n, om_type_plural(job->type), half, n - half);
        result = push_chunk(job, idx, half, depth + 1, -1);
        /* The right half's share of the refusals is what the left half did
         * not account for (known only from a counted answer, and only when
         * the left half settled without transient failures). */
        if (rejected > 0 && job->tally->retry == retry_before &&
            (long)(job->tally->rejected - rejected_before) <= rejected)
            right_rejected = rejected - (long)(job->tally->rejected - rejected_before);
        if (result == SLUICE_OK)
            result = push_chunk(job, idx + half, n - half, depth + 1, right_rejected);
    }
    return result;
}

static sluice_status ometria_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    ometria_sink *sink = state;
    size_t count = sluice_batch_count(batch);
    size_t *plan[OM_TYPE_COUNT] = {NULL, NULL};
    size_t planned[OM_TYPE_COUNT] = {0, 0};
    push_tally tally = {0, 0, 0, 0};
    size_t rejected_before = 0;
    sluice_status result = SLUICE_OK;

    /* a call with no records: the erasure queue's clock */
    if (count == 0)
        return om_erase_pump(ctx, sink);
    if ((result = om_erase_screen(ctx, sink, batch)) != SLUICE_OK)
        return result;
    for (int t = 0; t < OM_TYPE_COUNT; t++) {
        plan[t] = malloc((count ? count : 1) * sizeof(size_t));
        if (!plan[t]) {
            sluice_fail(ctx, "out of memory planning a batch of %zu records", count);
            result = SLUICE_FATAL;
            goto out;
        }
    }
    /* Check every record first; those Ometria would refuse as a whole
     * request (too large, wrong shape) never reach it. */
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        json_t *record;
        om_type type;
        char reason[256];

        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        record = sluice_batch_get(batch, i);
        if (!record || erase_record_is(record))
            continue; /* erase records: om_erase_screen's */
        if (om_prepare_record(record, sink->collection, sink->max_record_bytes, &type,
                              reason, sizeof(reason)) != 0) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
            rejected_before++;
            continue;
        }
        plan[type][planned[type]++] = i;
    }
    /* Contacts first: events may name contacts by email. */
    for (int t = 0; t < OM_TYPE_COUNT && result == SLUICE_OK; t++) {
        for (size_t start = 0; start < planned[t] && result == SLUICE_OK;
             start += sink->max_records) {
            size_t n = planned[t] - start;
            if (n > sink->max_records)
                n = sink->max_records;
            push_job job = {ctx, sink, batch, (om_type)t, plan[t] + start, &tally};
            result = push_chunk(&job, plan[t] + start, n, 0, -1);
        }
    }
    if (result == SLUICE_OK)
        sluice_log(ctx, tally.rejected || rejected_before || tally.retry ? SLUICE_LOG_INFO
                                                                        : SLUICE_LOG_DEBUG,
                   "batch %llu: %zu delivered, %zu rejected by Ometria, %zu refused before "
                   "sending, %zu to retry (%zu requests)",
                   (unsigned long long)sluice_batch_id(batch), tally.sent, tally.rejected,
                   rejected_before, tally.retry, tally.requests);
    if (result == SLUICE_OK)
        result = om_erase_pump(ctx, sink);
    /* Records left to retry: the core calls write() again after its backoff. */
    for (size_t i = 0; result == SLUICE_OK && i < count; i++) {
        if (sluice_batch_outcome(batch, i) == SLUICE_RECORD_RETRY)
            result = SLUICE_RETRY;
    }
out:
    free(plan[OM_TYPE_CONTACT]);
    free(plan[OM_TYPE_EVENT]);
    return result;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "ometria-sink",
    .role = SLUICE_ROLE_SINK,
    .version = PACKAGE_VERSION,
    .description = "loyalty contacts and custom events to Ometria's Data API (/v2/push)",
    .options = ometria_options,
    .init = ometria_init,
    .fini = ometria_fini,
    .write = ometria_write,
};
