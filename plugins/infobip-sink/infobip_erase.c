/* infobip_erase.c: erasure at Infobip (docs/erasure.md): an erase record
 * deletes the person by external id (DELETE /people/2/persons?identifier=
 * LID&type=EXTERNAL_ID; its tags go with it) and enters the sink's erasure
 * list, which then drops the member's later persons and events until it
 * enrols again after the erasure. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "infobip.h"

/* Where a mapped Infobip person carries its enrolment (opt-in) date. */
#define INFOBIP_ENROLMENT_PATH "customAttributes.annexOptInDate"

int infobip_erase_init(sluice_ctx *ctx, infobip_sink *sink, const json_t *config)
{
    const char *path = json_string_value(json_object_get(config, "erase_enrolment_field"));

    return erase_list_load(ctx, &sink->erased, "infobip", path ? path : INFOBIP_ENROLMENT_PATH);
}

/* DELETE the person whose external id is `id`: the entry's new state and
 * reason into *state/reason (confirmed: gone, 404 included; failed: refused
 * for good). Returns SLUICE_OK, SLUICE_RETRY (transient: send again later)
 * or SLUICE_FATAL after sluice_fail(). */
static sluice_status delete_person(sluice_ctx *ctx, infobip_sink *sink, const char *id,
                                   const char **state, char *reason, size_t reason_len)
{
    char path[700];
    char *escaped = curl_easy_escape(NULL, id, 0);
    infobip_reply reply;
    sluice_status status = SLUICE_OK;

    if (!escaped)
        return SLUICE_RETRY;
    snprintf(path, sizeof(path), "/people/2/persons?identifier=%s&type=EXTERNAL_ID", escaped);
    curl_free(escaped);
    switch (infobip_call(ctx, sink, "DELETE", path, NULL, INFOBIP_BUCKET_PERSONS, &reply)) {
    case SLUICE_HTTP_SUCCESS:
        *state = ERASE_CONFIRMED;
        break;
    case SLUICE_HTTP_REJECTED:
        if (reply.status == 404) { /* never synced, or deleted already */
            *state = ERASE_CONFIRMED;
            snprintf(reason, reason_len, "no such person at Infobip");
        } else {
            *state = ERASE_FAILED;
            snprintf(reason, reason_len, "Infobip refused the deletion: HTTP %ld: %s",
                     reply.status, reply.message);
        }
        break;
    case SLUICE_HTTP_RETRYABLE:
        sluice_log(ctx, SLUICE_LOG_INFO, "deletion of member %s not done yet: %s", id,
                   reply.message);
        status = SLUICE_RETRY;
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld) deleting a person: %s",
                    reply.status, reply.message);
        status = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_CONFIG:
        status = infobip_config_failure(ctx, sink, "DELETE", path, &reply);
        break;
    }
    infobip_reply_clear(&reply);
    return status;
}

/* Handle erase record i (`record` borrowed): into the list, then the
 * deletion unless this erasure was done already. Sets the record's
 * outcome. Returns SLUICE_OK or SLUICE_FATAL. */
static sluice_status erase_one(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                               size_t i, const json_t *record)
{
    const char *id = json_string_value(json_object_get(record, "loyalty_id"));
    const char *state = NULL, *known;
    char reason[700] = "";
    int fresh;
    const json_t *entry = erase_list_take(ctx, &sink->erased, batch, record, NULL, &fresh);
    sluice_status status;

    if (!entry) {
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "state store error");
        return SLUICE_OK;
    }
    known = json_string_value(json_object_get(entry, "state"));
    if (!fresh && known && strcmp(known, ERASE_QUEUED) != 0) {
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
        return SLUICE_OK; /* this erasure was carried out before */
    }
    status = delete_person(ctx, sink, id, &state, reason, sizeof(reason));
    if (status == SLUICE_FATAL)
        return status;
    if (status == SLUICE_RETRY) {
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "Infobip did not answer");
        return SLUICE_OK;
    }
    if (erase_list_update(ctx, &sink->erased, batch, id, state, reason[0] ? reason : NULL,
                          NULL) != 0) {
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, "state store error");
        return SLUICE_OK;
    }
    sluice_log(ctx, strcmp(state, ERASE_FAILED) == 0 ? SLUICE_LOG_WARN : SLUICE_LOG_INFO,
               "erasure of member %s at Infobip: %s%s%s", id, state, reason[0] ? ": " : "",
               reason);
    sluice_metric_add(ctx, strcmp(state, ERASE_FAILED) == 0 ? "erasures_failed"
                                                             : "erasures_confirmed", 1);
    /* a refused erasure waits in the DLQ for `dlq replay` once fixed; the
     * member stays suppressed meanwhile */
    if (strcmp(state, ERASE_FAILED) == 0)
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED, reason);
    else
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
    return SLUICE_OK;
}

sluice_status infobip_erase_batch(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch)
{
    size_t count = sluice_batch_count(batch);

    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        size_t len = 0;
        const char *text;
        json_t *record;

        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        /* an erase record's text says so near its start; persons and
         * events are not parsed for it */
        text = sluice_batch_peek_text(batch, i, &len);
        if (text && !memmem(text, len, "\"erase\"", 7))
            continue;
        record = sluice_batch_get(batch, i);
        if (record && erase_record_is(record) &&
            erase_one(ctx, sink, batch, i, record) == SLUICE_FATAL)
            return SLUICE_FATAL;
    }
    return SLUICE_OK;
}

int infobip_erase_screen(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch, size_t i,
                         const infobip_record_facts *facts)
{
    char id[600];
    const char *member = NULL;
    json_t *record;

    if (json_object_size(sink->erased.suppressed) == 0)
        return 0;
    if (facts->external_id && !facts->is_event) {
        if (facts->external_id_len >= sizeof(id))
            return 0;
        memcpy(id, facts->external_id, facts->external_id_len);
        id[facts->external_id_len] = '\0';
        if (!erase_list_find(&sink->erased, id))
            return 0;
        member = id;
    }
    record = sluice_batch_get(batch, i);
    if (!record)
        return 0;
    if (!member)
        member = json_string_value(json_object_get(json_object_get(record, "identifier"), "id"));
    if (!member)
        return 0;
    return erase_list_filter(ctx, &sink->erased, batch, i, record, member);
}
