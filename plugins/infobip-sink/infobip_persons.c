/* infobip_persons.c: the persons of a write() to Infobip People: their
 * upserts (`PATCH /people/3/persons/upsert`) in chunks of max_persons,
 * sent in waves that keep each person's requests in order, the per-index
 * answer of each upsert, the bisection of a refused request, and the
 * planning of the tag removals (`DELETE /people/2/tags/{tag}/persons`)
 * that take away the managed tags a person's record no longer lists. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "infobip.h"

#define TAG_REQUEST_MAX 1000

/* infobip_list_has: see infobip.h. */
int infobip_list_has(const json_t *list, const char *name)
{
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)list, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), name) == 0)
            return 1;
    }
    return 0;
}

/* The tag removals of one wave, planned before any is sent: request k
 * takes tag tags[k] (borrowed from sink->managed_tags) away from the
 * persons whose last records are the batch indices in owners[k] (a JSON
 * array of integers, owned). */
typedef struct removal_plan {
    infobip_request *requests;
    json_t **owners;
    const char **tags;
    size_t count;
    size_t cap;
} removal_plan;

static void removal_plan_free(removal_plan *plan)
{
    infobip_requests_free(plan->requests, plan->count);
    for (size_t i = 0; i < plan->count; i++)
        json_decref(plan->owners[i]);
    free(plan->owners);
    free(plan->tags);
    memset(plan, 0, sizeof(*plan));
}

/* Add one DELETE /people/2/tags/{tag}/persons request for the externalIds
 * `ids` (array, borrowed) whose records are `owners` (stolen). Returns 0,
 * or -1 on ENOMEM (owners freed). */
static int removal_plan_add(removal_plan *plan, const char *tag, const json_t *ids, json_t *owners)
{
    infobip_request *request;
    json_t *people = json_array(), *payload;
    char *escaped;
    size_t i;
    json_t *id;

    if (plan->count == plan->cap) {
        size_t cap = plan->cap ? plan->cap * 2 : 8;
        infobip_request *requests = realloc(plan->requests, cap * sizeof(*requests));
        json_t **owner_lists;
        const char **tags;
        if (requests)
            plan->requests = requests;
        owner_lists = requests ? realloc(plan->owners, cap * sizeof(*owner_lists)) : NULL;
        if (owner_lists)
            plan->owners = owner_lists;
        tags = owner_lists ? realloc(plan->tags, cap * sizeof(*tags)) : NULL;
        if (!tags) {
            json_decref(people);
            json_decref(owners);
            return -1;
        }
        plan->tags = tags;
        plan->cap = cap;
    }
    escaped = curl_easy_escape(NULL, tag, 0);
    json_array_foreach((json_t *)ids, i, id)
        json_array_append_new(people, json_pack("{s:{s:s, s:O}}", "query", "type", "EXTERNAL_ID",
                                                "identifier", id));
    payload = json_pack("{s:o}", "people", people);
    request = &plan->requests[plan->count];
    memset(request, 0, sizeof(*request));
    request->body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!escaped || !request->body) {
        curl_free(escaped);
        free(request->body);
        json_decref(owners);
        return -1;
    }
    request->body_len = strlen(request->body);
    request->method = "DELETE";
    request->bucket = INFOBIP_BUCKET_TAGS;
    snprintf(request->path, sizeof(request->path), "/people/2/tags/%s/persons", escaped);
    curl_free(escaped);
    plan->owners[plan->count] = owners;
    plan->tags[plan->count] = tag;
    plan->count++;
    return 0;
}

/* The "tags" array of record i (new reference, or NULL): parsed from the
 * array's text alone when nothing parsed the record (the rest of the record
 * stays text), else taken from the parsed record. */
static json_t *record_tags(sluice_batch *batch, size_t i)
{
    size_t len = 0;
    const char *text = sluice_batch_peek_text(batch, i, &len);
    infobip_record_facts facts;
    json_error_t error;

    if (text && infobip_scan_record(text, len, &facts) == 0 && facts.tags_text)
        return json_loadb(facts.tags_text, facts.tags_len, 0, &error);
    return json_incref(json_object_get(sluice_batch_get(batch, i), "tags"));
}

/* Plan the tag removals after persons[start .. start + n) (one upsert) were
 * sent:
 * for each managed tag a person's record does not list, one removal.
 * PATCH only ever adds tags, and removing a tag a person does not carry
 * changes nothing, so sending the removal for every managed tag a record
 * lacks is right whatever happened before (replays, restarts): no
 * remembered state can disagree with Infobip. The one exception is a
 * person this very upsert created (created[i], Infobip's per-index status
 * CREATED): it carries exactly the tags just sent, so it needs no removal
 * (a first sync of a program sends none). Only persons now DONE count, and
 * of a person listed several times (an opt-out, then an opt-in) only the
 * last record says what the person carries now. Only the records that need
 * a removal are parsed. Returns 0 or -1 (ENOMEM). */
static int plan_tag_removals(infobip_sink *sink, sluice_batch *batch,
                             const infobip_person_list *persons, size_t start, size_t n,
                             removal_plan *plan)
{
    json_t *last_of = json_object();  /* externalId -> its last index into persons */
    json_t *tags = NULL;              /* the tags of the record at hand */
    json_t *removals = json_object(); /* tag -> [externalId] */
    json_t *owners = json_object();   /* tag -> [batch index] */
    const char *external_id, *tag;
    json_t *at, *ids;
    int rc = 0;

    if (!last_of || !removals || !owners) {
        rc = -1;
        goto out;
    }
    for (size_t i = start; i < start + n; i++) {
        if (sluice_batch_outcome(batch, persons->index[i]) == SLUICE_RECORD_DONE &&
            persons->has_tags[i])
            json_object_set_new_nocheck(last_of, persons->id[i], json_integer((json_int_t)i));
    }
    json_object_foreach(last_of, external_id, at) {
        size_t position = (size_t)json_integer_value(at);
        size_t j;
        json_t *managed;
        if (persons->created[position])
            continue;
        json_decref(tags);
        tags = record_tags(batch, persons->index[position]);
        if (!json_is_array(tags)) {
            /* it had a tags array when write() began: out of memory */
            rc = -1;
            goto out;
        }
        json_array_foreach(sink->managed_tags, j, managed) {
            const char *name = json_string_value(managed);
            json_t *list, *owner_list;
            if (infobip_list_has(tags, name))
                continue;
            list = json_object_get(removals, name);
            owner_list = json_object_get(owners, name);
            if (!list) {
                list = json_array();
                owner_list = json_array();
                json_object_set_new(removals, name, list);
                json_object_set_new(owners, name, owner_list);
            }
            json_array_append_new(list, json_string(external_id));
            json_array_append_new(owner_list, json_integer((json_int_t)persons->index[position]));
        }
    }
    /* One request per tag and up to TAG_REQUEST_MAX persons (a chunk holds
     * at most 1000 persons, so one per tag in practice). */
    json_object_foreach(removals, tag, ids) {
        const json_t *owner_list = json_object_get(owners, tag);
        const char *managed_name = NULL;
        size_t j;
        json_t *managed;
        json_array_foreach(sink->managed_tags, j, managed) {
            if (strcmp(json_string_value(managed), tag) == 0)
                managed_name = json_string_value(managed);
        }
        for (size_t from = 0; from < json_array_size(ids) && rc == 0; from += TAG_REQUEST_MAX) {
            json_t *part = json_array(), *part_owners = json_array();
            for (size_t k = from; k < json_array_size(ids) && k < from + TAG_REQUEST_MAX; k++) {
                json_array_append(part, json_array_get(ids, k));
                json_array_append(part_owners, json_array_get(owner_list, k));
            }
            rc = removal_plan_add(plan, managed_name, part, part_owners);
            json_decref(part);
        }
        if (rc != 0)
            break;
    }
out:
    json_decref(tags);
    json_decref(last_of);
    json_decref(removals);
    json_decref(owners);
    return rc;
}

/* Read the answers of the planned removals (all sent): a failure, or a 2xx
 * that is not Infobip's, turns the affected persons back to RETRY or
 * REJECTED. Returns SLUICE_OK, or SLUICE_FATAL after sluice_fail() when
 * Infobip refused the API key, cannot be reached as configured, or keeps
 * answering what cannot be read. */
static sluice_status apply_tag_removals(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                        const removal_plan *plan)
{
    sluice_status status = SLUICE_OK;

    for (size_t k = 0; k < plan->count; k++) {
        const infobip_request *request = &plan->requests[k];
        const infobip_reply *reply = &request->reply;
        sluice_outcome outcome = SLUICE_RECORD_REJECTED;
        char reason[700];
        size_t j;
        json_t *at;

        if (status != SLUICE_OK)
            break;
        if (reply->cls == SLUICE_HTTP_SUCCESS) {
            sluice_status read = infobip_answer(ctx, sink, request->method, request->path, reply,
                                                reply->unreadable[0] ? reply->unreadable : NULL);
            if (read == SLUICE_OK)
                continue;
            if (read == SLUICE_FATAL) {
                status = SLUICE_FATAL;
                continue;
            }
            outcome = SLUICE_RECORD_RETRY;
            snprintf(reason, sizeof(reason), "could not remove tag '%s': Infobip's answer "
                     "(HTTP %ld) could not be read", plan->tags[k], reply->status);
        } else if (reply->cls == SLUICE_HTTP_AUTH) {
            sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply->status,
                        reply->message);
            status = SLUICE_FATAL;
            continue;
        } else if (reply->cls == SLUICE_HTTP_CONFIG) {
            status = infobip_config_failure(ctx, sink, request->method, request->path, reply);
            continue;
        } else {
            if (reply->cls == SLUICE_HTTP_RETRYABLE)
                outcome = SLUICE_RECORD_RETRY;
            snprintf(reason, sizeof(reason), "could not remove tag '%s' (HTTP %ld): %s",
                     plan->tags[k], reply->status, reply->message);
        }
        json_array_foreach(plan->owners[k], j, at)
            sluice_batch_set_outcome(batch, (size_t)json_integer_value(at), outcome, reason);
    }
    return status;
}

/* The upsert body for persons idx[0..n): {"persons":[...]} built from the
 * records' texts. Returns 0, or -1 (ENOMEM; body freed). */
static int persons_body(sluice_batch *batch, const size_t *idx, size_t n, infobip_request *request)
{
    if (infobip_records_body(batch, idx, n, "{\"persons\":[", "]}", request) != 0)
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
 * person it does not name is left RETRY (sent again, never assumed), and
 * so is a person refused for a contact identifier another person owns:
 * conflicts[i] (n entries, zeroed by the caller) is then its error item
 * (borrowed from reply), for infobip_resolve_conflicts. Writes
 * to why[0..why_len) what makes the answer unreadable (not that shape, or
 * persons missing), "" when it names all n. Returns SLUICE_OK, or
 * SLUICE_RETRY when out of memory (all n left RETRY). */
static sluice_status read_upsert_answer(sluice_ctx *ctx, sluice_batch *batch, const size_t *idx,
                                        unsigned char *created, size_t n,
                                        const infobip_reply *reply, const json_t **conflicts,
                                        char *why, size_t why_len)
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
        seen[at] = 1;
        named++;
        if (infobip_contact_conflict(item)) {
            conflicts[at] = item;
            continue;
        }
        snprintf(reason, sizeof(reason), "Infobip refused the person: %s",
                 infobip_error_text(item, text, sizeof(text)));
        sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_REJECTED, reason);
        sluice_metric_add(ctx, "records_rejected", 1);
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
 * such answers; persons refused for a shared phone or e-mail are upserted
 * again without it, infobip_resolve_conflicts), a refused request is bisected (sent again in halves, one
 * at a time, until the refused person stands alone). created[i] (n
 * entries, zeroed by the caller) is set for each person Infobip says it
 * CREATED. Returns SLUICE_OK or SLUICE_FATAL. */
static sluice_status apply_upsert(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, unsigned char *created, size_t n,
                                  const infobip_request *request)
{
    const infobip_reply *reply = &request->reply;
    sluice_status status = SLUICE_OK;
    const json_t **conflicts = NULL;
    char reason[700];
    char why[200];
    size_t i;

    switch (reply->cls) {
    case SLUICE_HTTP_SUCCESS:
        conflicts = calloc(n ? n : 1, sizeof(*conflicts));
        if (!conflicts || read_upsert_answer(ctx, batch, idx, created, n, reply, conflicts, why,
                                             sizeof(why)) != SLUICE_OK) {
            for (i = 0; !conflicts && i < n; i++)
                sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
            break;
        }
        status = infobip_answer(ctx, sink, request->method, request->path, reply,
                                why[0] ? why : NULL);
        if (status == SLUICE_RETRY)
            status = SLUICE_OK; /* the persons it did not name are RETRY */
        if (status == SLUICE_OK)
            status = infobip_resolve_conflicts(ctx, sink, batch, idx, created, n, conflicts);
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
    free(conflicts);
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
 * no person in two of them: every upsert at once, then every tag removal
 * they need at once. Returns SLUICE_OK, SLUICE_RETRY (ENOMEM) or
 * SLUICE_FATAL. */
static sluice_status send_wave(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                               const infobip_person_list *persons, size_t first, size_t end)
{
    size_t nchunks = end - first;
    infobip_request *upserts = calloc(nchunks, sizeof(*upserts));
    removal_plan plan = {0};
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
        if (plan_tag_removals(sink, batch, persons, start, n, &plan) != 0) {
            status = SLUICE_RETRY;
            goto out;
        }
    }
    infobip_send_all(ctx, sink, plan.requests, plan.count);
    status = apply_tag_removals(ctx, sink, batch, &plan);
out:
    infobip_requests_free(upserts, nchunks);
    removal_plan_free(&plan);
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
