/* infobip_events.c: loyalty events to Infobip (`POST /people/3/events`).
 * Infobip refuses a whole batch when one item is invalid, so every event is
 * checked against its definition before sending, and a refused batch is
 * bisected until the failing items stand alone: they go to the dead-letter
 * queue with Infobip's message, the rest is delivered. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infobip.h"

#define EVENT_ITEM_MAX_BYTES 512000u
#define EVENT_BATCH_MAX_BYTES 15728640u

/* 1 if s matches ^[A-Za-z0-9_-]{min,max}$ (underscore/hyphen if `extra`). */
static int id_valid(const char *s, size_t min, size_t max, int extra)
{
    size_t len = 0;

    if (!s)
        return 0;
    for (; s[len]; len++) {
        char c = s[len];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (extra && (c == '_' || c == '-'));
        if (!ok)
            return 0;
    }
    return len >= min && len <= max;
}

/* 1 if `value` fits the Infobip property type name. */
static int type_matches(const char *type, const json_t *value)
{
    if (json_is_null(value))
        return 1;
    if (strcmp(type, "String") == 0 || strcmp(type, "DateTime") == 0)
        return json_is_string(value);
    if (strcmp(type, "Numeric") == 0 || strcmp(type, "Decimal") == 0)
        return json_is_number(value);
    if (strcmp(type, "Boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(type, "List") == 0)
        return json_is_array(value);
    return 0;
}

const char *infobip_event_invalid(const infobip_sink *sink, const json_t *event,
                                  char *buf, size_t buflen)
{
    const char *definition_id = json_string_value(json_object_get(event, "definitionId"));
    const json_t *identifier = json_object_get(event, "identifier");
    const json_t *properties = json_object_get(event, "properties");
    const json_t *schema;
    const char *name;
    json_t *value;

    if (!id_valid(definition_id, 1, 36, 0))
        return "definitionId missing or not alphanumeric (max 36)";
    if (!id_valid(json_string_value(json_object_get(event, "eventId")), 1, 36, 1))
        return "eventId missing or not 1-36 of [A-Za-z0-9_-]";
    if (!json_is_object(identifier) || !json_is_string(json_object_get(identifier, "id")) ||
        !json_is_string(json_object_get(identifier, "type")))
        return "identifier {id, type} missing";
    if (!json_is_string(json_object_get(event, "occurredTime")))
        return "occurredTime missing";
    if (properties && !json_is_object(properties))
        return "properties is not an object";
    if (!sink->definitions)
        return NULL;
    schema = json_object_get(sink->definitions, definition_id);
    if (!json_is_object(schema)) {
        snprintf(buf, buflen, "event definition '%s' is not configured in event_definitions",
                 definition_id);
        return buf;
    }
    json_object_foreach((json_t *)properties, name, value) {
        const char *type = json_string_value(json_object_get(schema, name));
        if (!type) {
            snprintf(buf, buflen, "property '%s' is not in definition '%s'", name, definition_id);
            return buf;
        }
        if (!type_matches(type, value)) {
            snprintf(buf, buflen, "property '%s' of '%s' is not a %s", name, definition_id, type);
            return buf;
        }
    }
    return NULL;
}

/* Epoch seconds of an occurredTime ("2025-05-25T15:32:52.000+0000", also
 * "+00:00" or "Z"), or -1 if it is not one. */
static time_t occurred_epoch(const char *text)
{
    struct tm tm;
    const char *rest;
    long offset = 0;

    if (!text)
        return -1;
    memset(&tm, 0, sizeof(tm));
    rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') {
        rest++;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (*rest == '+' || *rest == '-') {
        int sign = *rest == '-' ? -1 : 1, hours, minutes;
        if (sscanf(rest + 1, "%2d%*[:]%2d", &hours, &minutes) != 2 &&
            sscanf(rest + 1, "%2d%2d", &hours, &minutes) != 2)
            return -1;
        offset = sign * (hours * 3600L + minutes * 60L);
    } else if (*rest != 'Z' && *rest != '\0') {
        return -1;
    }
    return timegm(&tm) - offset;
}

/* Set the outcome of every event idx[0..n). */
static void mark_all(sluice_batch *batch, const size_t *idx, size_t n, sluice_outcome outcome,
                     const char *reason)
{
    for (size_t i = 0; i < n; i++)
        sluice_batch_set_outcome(batch, idx[i], outcome, reason);
}

/* The body of one events request: the JSON array of events idx[0..n).
 * Returns 0, or -1 (ENOMEM). */
static int events_body(sluice_batch *batch, const size_t *idx, size_t n, infobip_request *request)
{
    if (infobip_records_body(batch, idx, n, "[", "]", request) != 0)
        return -1;
    request->method = "POST";
    request->bucket = INFOBIP_BUCKET_EVENTS;
    snprintf(request->path, sizeof(request->path), "/people/3/events");
    return 0;
}

static sluice_status send_range(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                const size_t *idx, size_t n);

/* Set the outcomes of events idx[0..n) from the answer to their request;
 * a 2xx that is not Infobip's (a web page) delivers nothing and counts
 * against the stage's budget of such answers; a refused request is
 * bisected (send_range on this thread) until the failing items stand
 * alone. Returns SLUICE_OK or SLUICE_FATAL. */
static sluice_status apply_range(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                 const size_t *idx, size_t n, const infobip_request *request)
{
    const infobip_reply *reply = &request->reply;
    sluice_status status = SLUICE_OK;
    char reason[700];

    switch (reply->cls) {
    case SLUICE_HTTP_SUCCESS:
        status = infobip_answer(ctx, sink, request->method, request->path, reply,
                                reply->unreadable[0] ? reply->unreadable : NULL);
        if (status == SLUICE_OK) {
            mark_all(batch, idx, n, SLUICE_RECORD_DONE, NULL);
            sluice_metric_add(ctx, "events_sent", (double)n);
        } else if (status == SLUICE_RETRY) {
            mark_all(batch, idx, n, SLUICE_RECORD_RETRY, NULL);
            status = SLUICE_OK;
        }
        break;
    case SLUICE_HTTP_CONFIG:
        status = infobip_config_failure(ctx, sink, request->method, request->path, reply);
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply->status, reply->message);
        status = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_RETRYABLE:
        mark_all(batch, idx, n, SLUICE_RECORD_RETRY, NULL);
        break;
    case SLUICE_HTTP_REJECTED:
        if (n == 1) {
            snprintf(reason, sizeof(reason), "Infobip refused the event (HTTP %ld): %s",
                     reply->status, reply->message);
            sluice_batch_set_outcome(batch, idx[0], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
        } else {
            sluice_log(ctx, SLUICE_LOG_INFO,
                       "Infobip refused a batch of %zu events (%s): isolating the failing ones",
                       n, reply->message);
            status = send_range(ctx, sink, batch, idx, n / 2);
            if (status == SLUICE_OK)
                status = send_range(ctx, sink, batch, idx + n / 2, n - n / 2);
        }
        break;
    }
    return status;
}

/* Send events idx[0..n) in one request on this thread and set their
 * outcomes (apply_range). Returns SLUICE_OK or SLUICE_FATAL. */
static sluice_status send_range(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                const size_t *idx, size_t n)
{
    infobip_request request;
    sluice_status status;

    memset(&request, 0, sizeof(request));
    if (events_body(batch, idx, n, &request) != 0) {
        mark_all(batch, idx, n, SLUICE_RECORD_RETRY, NULL);
        return SLUICE_OK;
    }
    infobip_send_all(ctx, sink, &request, 1);
    status = apply_range(ctx, sink, batch, idx, n, &request);
    free(request.body);
    infobip_reply_clear(&request.reply);
    return status;
}

/* Send the event requests valid[starts[k] .. starts[k + 1]) for k < nranges
 * (starts has nranges + 1 entries) up to sink->max_in_flight at once, then
 * set outcomes in order. Events are independent of each other (each has
 * its own eventId), so their requests may overlap. Returns SLUICE_OK,
 * SLUICE_RETRY (ENOMEM) or SLUICE_FATAL. */
static sluice_status send_ranges(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                 const size_t *valid, const size_t *starts, size_t nranges)
{
    infobip_request *requests = calloc(nranges ? nranges : 1, sizeof(*requests));
    sluice_status status = SLUICE_OK;

    if (!requests)
        return SLUICE_RETRY;
    for (size_t k = 0; k < nranges; k++) {
        if (events_body(batch, valid + starts[k], starts[k + 1] - starts[k], &requests[k]) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
    }
    infobip_send_all(ctx, sink, requests, nranges);
    for (size_t k = 0; k < nranges && status == SLUICE_OK; k++)
        status = apply_range(ctx, sink, batch, valid + starts[k], starts[k + 1] - starts[k],
                             &requests[k]);
out:
    infobip_requests_free(requests, nranges);
    return status;
}

sluice_status infobip_send_events(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, size_t n)
{
    size_t *valid = NULL, *starts = NULL, nvalid = 0, nranges = 0, bytes = 0, too_old = 0;
    sluice_status status = SLUICE_OK;
    time_t oldest = sink->max_event_age_s > 0 ? time(NULL) - sink->max_event_age_s : 0;
    char buf[300];

    if (n == 0)
        return SLUICE_OK;
    valid = calloc(n, sizeof(*valid));
    starts = calloc(n + 1, sizeof(*starts)); /* starts[k]: first of request k in valid[] */
    if (!valid || !starts) {
        status = SLUICE_RETRY;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *event = sluice_batch_get(batch, idx[i]);
        const char *invalid = infobip_event_invalid(sink, event, buf, sizeof(buf));
        size_t size = json_dumpb(event, NULL, 0, JSON_COMPACT);
        if (!invalid && size > EVENT_ITEM_MAX_BYTES)
            invalid = "event larger than Infobip's 512,000 bytes per item";
        if (!invalid && oldest > 0) {
            time_t when = occurred_epoch(json_string_value(json_object_get(event, "occurredTime")));
            if (when < 0) {
                invalid = "occurredTime is not a time like 2025-05-25T15:32:52.000+0000";
            } else if (when < oldest) {
                /* Infobip refuses events older than its window, so sending
                 * could never succeed: skip (counted) or park, as configured. */
                too_old++;
                if (sink->too_old_to_dlq) {
                    snprintf(buf, sizeof(buf), "event older than %ld days: Infobip refuses it",
                             sink->max_event_age_s / 86400);
                    sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_REJECTED, buf);
                } else {
                    sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_DONE, NULL);
                }
                continue;
            }
        }
        if (invalid) {
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_REJECTED, invalid);
            sluice_metric_add(ctx, "records_rejected", 1);
            continue;
        }
        /* Cut a request when it would pass the item or byte limit. */
        if (nvalid > starts[nranges] && (nvalid - starts[nranges] >= sink->max_events ||
                                         bytes + size + 1 > EVENT_BATCH_MAX_BYTES)) {
            starts[++nranges] = nvalid;
            bytes = 0;
        }
        valid[nvalid++] = idx[i];
        bytes += size + 1;
    }
    if (nvalid > starts[nranges])
        starts[++nranges] = nvalid;
    status = send_ranges(ctx, sink, batch, valid, starts, nranges);
    if (too_old) {
        sluice_metric_add(ctx, "events_too_old", (double)too_old);
        sluice_log(ctx, SLUICE_LOG_INFO, "%zu event(s) older than %ld days %s (Infobip refuses them)",
                   too_old, sink->max_event_age_s / 86400, sink->too_old_to_dlq ? "parked" : "skipped");
    }
out:
    free(valid);
    free(starts);
    return status;
}
