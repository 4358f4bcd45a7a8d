/* infobip_persons.c: the persons of a write() to Infobip People: their
 * upserts (`PATCH /people/3/persons/upsert`, the records without their
 * "tags") in chunks of max_persons, sent in waves that keep each person's
 * requests in order, the per-index answer of each upsert, the bisection of
 * a refused request; the tag changes after each wave's upserts are
 * planned and read in infobip_tags.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infobip.h"
#include "util/dynbuf.h"

/* Append record i of batch to `body` as compact JSON without its "tags"
 * member (the tags go through the tag endpoints): its travelling text less
 * the member's bytes when the walk can find them (infobip_scan_record), no
 * parse and no dump; else the dump of a shallow copy of the parsed record
 * less "tags". Returns 0, or -1 (ENOMEM, or a record that cannot be
 * read). */
static int body_add_person(dynbuf *body, sluice_batch *batch, size_t i)
{
    size_t len = 0;
    const char *text = sluice_batch_peek_text(batch, i, &len);
    infobip_record_facts facts;
    json_t *record, *copy;
    int rc;

    if (text && infobip_scan_record(text, len, &facts) == 0) {
        if (facts.tags_cut_len == 0)
            return dynbuf_append(body, text, len);
        return dynbuf_append(body, text, facts.tags_cut_at) != 0 ||
                       dynbuf_append(body, text + facts.tags_cut_at + facts.tags_cut_len,
                                     len - facts.tags_cut_at - facts.tags_cut_len) != 0
                   ? -1
                   : 0;
    }
    record = sluice_batch_get(batch, i);
    copy = record ? json_copy(record) : NULL;
    if (!copy)
        return -1;
    json_object_del(copy, "tags");
    rc = dynbuf_append_json(body, copy, JSON_COMPACT);
    json_decref(copy);
    return rc;
}

/* The upsert body for persons idx[0..n): {"persons":[...]} built from the
 * records less their "tags" (body_add_person). Returns 0, or -1 (ENOMEM;
 * nothing left in request). */
static int persons_body(sluice_batch *batch, const size_t *idx, size_t n, infobip_request *request)
{
    dynbuf body;
    int failed;

    dynbuf_init(&body, 0);
    failed = dynbuf_append_str(&body, "{\"persons\":[") != 0;
    for (size_t i = 0; i < n && !failed; i++)
        failed = (i > 0 && dynbuf_append(&body, ",", 1) != 0) ||
                 body_add_person(&body, batch, idx[i]) != 0;
    if (failed || dynbuf_append_str(&body, "]}") != 0) {
        dynbuf_free(&body);
        return -1;
    }
    request->body_len = body.len;
    request->body = dynbuf_steal(&body);
    if (!request->body)
        return -1;
    request->method = "PATCH";
    request->bucket = INFOBIP_BUCKET_PERSONS;
    snprintf(request->path, sizeof(request->path), "/people/3/persons/upsert");
    return 0;
}

static sluice_status send_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, unsigned char *created, size_t n);

/* The per-index answer of a 2xx upsert: outcomes of the persons it names
 * ({"errors":[{..,"index"}], "results":[{..,"index","status"}]}); every
 * person it does not name is left RETRY (sent again, never assumed). Writes
 * to why[0..why_len) what makes the answer unreadable (not that shape, or
 * persons missing), "" when it names all n. Returns SLUICE_OK, or
 * SLUICE_RETRY when out of memory (all n left RETRY). */
static sluice_status read_upsert_answer(sluice_ctx *ctx, sluice_batch *batch, const size_t *idx,
                                        unsigned char *created, size_t n,
                                        const infobip_reply *reply, char *why, size_t why_len)
{
    const json_t *errors = json_object_get(reply->body, "errors");
    const json_t *results = json_object_get(reply->body, "results");
    unsigned char *seen = calloc(n ? n : 1, 1);
    size_t i, named = 0;
    json_t *item;
    char reason[700];

    why[0] = '\0';
    for (i = 0; i < n; i++)
        sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
    if (!seen)
        return SLUICE_RETRY;
    if (reply->unreadable[0]) {
        snprintf(why, why_len, "%s", reply->unreadable);
        free(seen);
        return SLUICE_OK;
    }
    if (!json_is_object(reply->body) || (!json_is_array(errors) && !json_is_array(results))) {
        snprintf(why, why_len, "the body is not Infobip's upsert result "
                 "{\"results\":[...],\"errors\":[...]}");
        free(seen);
        return SLUICE_OK;
    }
    json_array_foreach(errors, i, item) {
        const json_t *index = json_object_get(item, "index");
        json_int_t at = json_integer_value(index);
        char text[512];
        if (!json_is_integer(index) || at < 0 || (size_t)at >= n || seen[at])
            continue;
        snprintf(reason, sizeof(reason), "Infobip refused the person: %s",
                 infobip_error_text(item, text, sizeof(text)));
        sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_REJECTED, reason);
        sluice_metric_add(ctx, "records_rejected", 1);
        seen[at] = 1;
        named++;
    }
    json_array_foreach(results, i, item) {
        const json_t *index = json_object_get(item, "index");
        json_int_t at = json_integer_value(index);
        const char *state = json_string_value(json_object_get(item, "status"));
        if (!json_is_integer(index) || at < 0 || (size_t)at >= n || seen[at])
            continue;
        sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_DONE, NULL);
        seen[at] = 1;
        named++;
        created[at] = state && strcmp(state, "CREATED") == 0;
        sluice_metric_add(ctx, "persons_sent", 1);
    }
    if (named < n)
        snprintf(why, why_len, "it names %zu of the %zu persons sent", named, n);
    free(seen);
    return SLUICE_OK;
}

/* Set the outcomes of persons idx[0..n) from the answer to their upsert:
 * a 2xx gives per-index outcomes (read_upsert_answer; one that is not
 * Infobip's, or leaves persons out, counts against the stage's budget of
 * such answers), a refused request is bisected (sent again in halves, one
 * at a time, until the refused person stands alone). created[i] (n
 * entries, zeroed by the caller) is set for each person Infobip says it
 * CREATED. Returns SLUICE_OK or SLUICE_FATAL. */
static sluice_status apply_upsert(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, unsigned char *created, size_t n,
                                  const infobip_request *request)
{
    const infobip_reply *reply = &request->reply;
    sluice_status status = SLUICE_OK;
    char reason[700];
    char why[200];
    size_t i;

    switch (reply->cls) {
    case SLUICE_HTTP_SUCCESS:
        if (read_upsert_answer(ctx, batch, idx, created, n, reply, why, sizeof(why)) != SLUICE_OK)
            break;
        status = infobip_answer(ctx, sink, request->method, request->path, reply,
                                why[0] ? why : NULL);
        if (status == SLUICE_RETRY)
            status = SLUICE_OK; /* the persons it did not name are RETRY */
        break;
    case SLUICE_HTTP_CONFIG:
        status = infobip_config_failure(ctx, sink, request->method, request->path, reply);
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply->status, reply->message);
        status = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_RETRYABLE:
        for (i = 0; i < n; i++)
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
        break;
    case SLUICE_HTTP_REJECTED:
        if (n == 1) {
            snprintf(reason, sizeof(reason), "Infobip refused the person (HTTP %ld): %s", reply->status,
                     reply->message);
            sluice_batch_set_outcome(batch, idx[0], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
        } else {
            status = send_persons(ctx, sink, batch, idx, created, n / 2);
            if (status == SLUICE_OK)
                status = send_persons(ctx, sink, batch, idx + n / 2, created + n / 2, n - n / 2);
        }
        break;
    }
    return status;
}

/* Upsert persons idx[0..n) in one PATCH on this thread (the bisection of a
 * refused request) and set their outcomes (apply_upsert). */
static sluice_status send_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, unsigned char *created, size_t n)
{
    infobip_request request;
    sluice_status status;

    memset(&request, 0, sizeof(request));
    if (persons_body(batch, idx, n, &request) != 0) {
        for (size_t i = 0; i < n; i++)
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
        return SLUICE_OK;
    }
    infobip_send_all(ctx, sink, &request, 1);
    status = apply_upsert(ctx, sink, batch, idx, created, n, &request);
    free(request.body);
    infobip_reply_clear(&request.reply);
    return status;
}

/* The persons of chunks first..end-1 (chunk c: persons[c * max_persons ..]),
 * no person in two of them: every upsert at once, then every tag change
 * they need at once. Returns SLUICE_OK, SLUICE_RETRY (ENOMEM) or
 * SLUICE_FATAL. */
static sluice_status send_wave(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                               const infobip_person_list *persons, size_t first, size_t end)
{
    size_t nchunks = end - first;
    infobip_request *upserts = calloc(nchunks, sizeof(*upserts));
    infobip_tag_plan plan = {0};
    sluice_status status = SLUICE_OK;

    if (!upserts)
        return SLUICE_RETRY;
    for (size_t c = 0; c < nchunks; c++) {
        size_t start = (first + c) * sink->max_persons;
        size_t n = persons->count - start < sink->max_persons ? persons->count - start : sink->max_persons;
        if (persons_body(batch, persons->index + start, n, &upserts[c]) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
    }
    infobip_send_all(ctx, sink, upserts, nchunks);
    for (size_t c = 0; c < nchunks; c++) {
        size_t start = (first + c) * sink->max_persons;
        size_t n = persons->count - start < sink->max_persons ? persons->count - start : sink->max_persons;
        sluice_status chunk_status = apply_upsert(ctx, sink, batch, persons->index + start,
                                                  persons->created + start, n, &upserts[c]);
        if (chunk_status != SLUICE_OK) {
            status = chunk_status;
            goto out;
        }
        if (infobip_tags_plan(sink, batch, persons, start, n, &plan) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
    }
    infobip_send_all(ctx, sink, plan.requests, plan.count);
    status = infobip_tags_apply(ctx, sink, batch, &plan);
out:
    infobip_requests_free(upserts, nchunks);
    infobip_tag_plan_free(&plan);
    return status;
}

/* infobip_send_persons: see infobip.h. */
sluice_status infobip_send_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                   const infobip_person_list *persons)
{
    size_t nchunks = (persons->count + sink->max_persons - 1) / sink->max_persons;
    size_t wave_first = 0;
    json_t *in_wave = json_object(); /* externalIds of the wave's chunks */
    sluice_status status = SLUICE_OK;

    if (!in_wave)
        return SLUICE_RETRY;
    for (size_t c = 0; c < nchunks && status == SLUICE_OK; c++) {
        size_t start = c * sink->max_persons;
        size_t end = persons->count - start < sink->max_persons ? persons->count
                                                                 : start + sink->max_persons;
        int shared = 0;
        for (size_t i = start; i < end && !shared && c > wave_first; i++)
            shared = json_object_get(in_wave, persons->id[i]) != NULL;
        if (shared) {
            status = send_wave(ctx, sink, batch, persons, wave_first, c);
            json_object_clear(in_wave);
            wave_first = c;
        }
        for (size_t i = start; i < end; i++)
            json_object_set_new_nocheck(in_wave, persons->id[i], json_true());
    }
    if (status == SLUICE_OK && wave_first < nchunks)
        status = send_wave(ctx, sink, batch, persons, wave_first, nchunks);
    json_decref(in_wave);
    return status;
}
