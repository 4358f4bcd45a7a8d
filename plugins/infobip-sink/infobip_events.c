/* infobip_events.c: loyalty events to Infobip (`POST /people/3/events`).
 * Infobip refuses a whole batch when one item is invalid, so every event is
 * checked against its definition before sending. A refused batch names its
 * failing items (problem details, `errors[{index, code, message}]`): those
 * go to the dead-letter queue with Infobip's message and the rest is sent
 * again in one request. Only an answer that names no item (index -1, or no
 * list) is bisected until the failing items stand alone. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "infobip.h"
#include "loytime.h"

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
 * "+00:00" or "Z": the zone is required), or -1 if it is not one. Parsed
 * by the one ISO 8601 parser the plugins share (loytime). */
static time_t occurred_epoch(const char *text)
{
    int64_t epoch;

    if (!text || loytime_parse_timestamp(text, &epoch) != 0)
        return -1;
    return (time_t)epoch;
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

/* Read which of events idx[0..n) a refusal names: `body`'s "errors" list
 * (problem details) with an index 0..n-1 for each item. Sets refused[i]
 * (n entries, zeroed by the caller) for each named event. Returns how many
 * it names, or 0 when the answer does not name items one by one (no list,
 * an index of -1 for the whole request, an index out of range or named
 * twice): then the caller bisects. */
static size_t named_refusals(const json_t *body, size_t n, unsigned char *refused)
{
    const json_t *errors = json_object_get(body, "errors");
    size_t i, named = 0;
    json_t *item;

    if (!json_is_array(errors))
        return 0;
    json_array_foreach(errors, i, item) {
        const json_t *index = json_object_get(item, "index");
        json_int_t at = json_integer_value(index);
        if (!json_is_integer(index) || at < 0 || (size_t)at >= n || refused[at]) {
            memset(refused, 0, n);
            return 0;
        }
        refused[at] = 1;
        named++;
    }
    return named;
}

/* Dead-letter the events of idx[0..n) that the refusal `reply` names, each
 * with Infobip's message about it, and send the rest again in one request
 * (send_range). Returns SLUICE_OK or SLUICE_FATAL, or SLUICE_RETRY when the
 * answer names no item (nothing changed: the caller bisects) or memory
 * runs out (all n left RETRY). */
static sluice_status drop_named(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                const size_t *idx, size_t n, const infobip_reply *reply)
{
    const json_t *errors = json_object_get(reply->body, "errors");
    unsigned char *refused = calloc(n ? n : 1, 1);
    size_t *rest = calloc(n ? n : 1, sizeof(*rest));
    size_t named, nrest = 0, i;
    sluice_status status = SLUICE_RETRY;
    json_t *item;

    if (!refused || !rest) {
        mark_all(batch, idx, n, SLUICE_RECORD_RETRY, NULL);
        status = SLUICE_OK;
        goto out;
    }
    named = named_refusals(reply->body, n, refused);
    if (named == 0)
        goto out;
    json_array_foreach(errors, i, item) {
        char text[512], reason[700];
        size_t at = (size_t)json_integer_value(json_object_get(item, "index"));
        snprintf(reason, sizeof(reason), "Infobip refused the event (HTTP %ld): %s",
                 reply->status, infobip_error_text(item, text, sizeof(text)));
        sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_REJECTED, reason);
    }
    sluice_metric_add(ctx, "records_rejected", (double)named);
    for (i = 0; i < n; i++) {
        if (!refused[i])
            rest[nrest++] = idx[i];
    }
    sluice_log(ctx, SLUICE_LOG_INFO,
               "Infobip refused a batch of %zu events naming %zu: sending the other %zu again",
               n, named, nrest);
    status = nrest > 0 ? send_range(ctx, sink, batch, rest, nrest) : SLUICE_OK;
out:
    free(refused);
    free(rest);
    return status;
}

/* Set the outcomes of events idx[0..n) from the answer to their request;
 * a 2xx that is not Infobip's (a web page) delivers nothing and counts
 * against the stage's budget of such answers; a refused request that names
 * its failing items loses exactly those (drop_named), one that does not is
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
        status = drop_named(ctx, sink, batch, idx, n, reply);
        if (status != SLUICE_RETRY)
            break;
        status = SLUICE_OK;
        if (n == 1) {
            snprintf(reason, sizeof(reason), "Infobip refused the event (HTTP %ld): %s",
                     reply->status, reply->message);
            sluice_batch_set_outcome(batch, idx[0], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
        } else {
            sluice_log(ctx, SLUICE_LOG_INFO,
                       "Infobip refused a batch of %zu events (%s) without naming them: "
                       "isolating the failing ones by halves", n, reply->message);
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

/* Whether Infobip holds the person with externalId `id`: 1 yes, 0 no
 * (404), -1 not known now (no answer: ask again later). One
 * `GET /people/2/persons?identifier=&type=EXTERNAL_ID` on the persons
 * bucket. */
static int person_exists(sluice_ctx *ctx, infobip_sink *sink, const char *id)
{
    char path[600];
    char *escaped = curl_easy_escape(NULL, id, 0);
    infobip_reply reply;
    int result = -1;

    if (!escaped)
        return -1;
    snprintf(path, sizeof(path), "/people/2/persons?identifier=%s&type=EXTERNAL_ID", escaped);
    curl_free(escaped);
    infobip_call(ctx, sink, "GET", path, NULL, INFOBIP_BUCKET_PERSONS, &reply);
    if (reply.cls == SLUICE_HTTP_SUCCESS && json_is_object(reply.body))
        result = 1;
    else if (reply.status == 404)
        result = 0;
    infobip_reply_clear(&reply);
    return result;
}

size_t infobip_hold_orphan_events(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const infobip_person_list *persons, size_t *idx, size_t n)
{
    json_t *last = json_object();  /* externalId -> batch index of its last record */
    json_t *known = json_object(); /* externalId -> person_exists() of a refused member */
    size_t kept = 0, held = 0;

    if (!last || !known) {
        json_decref(last);
        json_decref(known);
        return n; /* nothing held: Infobip still answers for each event */
    }
    for (size_t i = 0; i < persons->count; i++)
        json_object_set_new_nocheck(last, persons->id[i], json_integer((json_int_t)persons->index[i]));
    for (size_t i = 0; i < n; i++) {
        json_t *event = sluice_batch_get(batch, idx[i]);
        const json_t *identifier = json_object_get(event, "identifier");
        const char *type = json_string_value(json_object_get(identifier, "type"));
        const char *id = json_string_value(json_object_get(identifier, "id"));
        const json_t *at = type && id && strcmp(type, "EXTERNAL_ID") == 0
                               ? json_object_get(last, id) : NULL;
        sluice_outcome person = at ? sluice_batch_outcome(batch, (size_t)json_integer_value(at))
                                   : SLUICE_RECORD_DONE;
        int exists = 1;
        if (person == SLUICE_RECORD_REJECTED) {
            /* a refused update of a member Infobip holds: its events go */
            const json_t *cached = json_object_get(known, id);
            exists = cached ? (int)json_integer_value(cached) : person_exists(ctx, sink, id);
            json_object_set_new(known, id, json_integer(exists));
        }
        if (person == SLUICE_RECORD_DONE || person == SLUICE_RECORD_PENDING || exists == 1) {
            idx[kept++] = idx[i];
            continue;
        }
        held++;
        if (person == SLUICE_RECORD_RETRY || exists < 0)
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
        else
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_REJECTED,
                                     "the member's profile was refused by Infobip, which does not "
                                     "hold the member: the event is not sent (it would create a "
                                     "bare profile)");
    }
    if (held > 0)
        sluice_log(ctx, SLUICE_LOG_INFO,
                   "%zu event(s) held back: their member's upsert in this batch did not succeed",
                   held);
    json_decref(last);
    json_decref(known);
    return kept;
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
