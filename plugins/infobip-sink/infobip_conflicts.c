/* infobip_conflicts.c: members whose phone number or e-mail address
 * Infobip already holds for another person (households share them).
 * Infobip refuses such a person as a whole ("400100: Invalid person
 * (contactInformation: PHONE ... belongs to another person)"); the sink
 * upserts the member again without the identifiers named, so that its
 * externalId and everything else still arrive, and reports the conflict:
 * a warning naming the loyalty id only, the metric contact_conflicts, and
 * one entry per member under the stage's state key "conflict/<loyalty id>"
 * ({"loyalty_id", "dropped": ["PHONE"|"EMAIL"], "at"}) that an operator
 * lists (docs/infobip-sink.md). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infobip.h"

/* Rounds of re-upserts: each drops at least one identifier, and a person
 * sent by the sink carries one EMAIL and one PHONE at most in practice. */
#define CONFLICT_ROUNDS 4
#define CONFLICT_TEXT "belongs to another person"

/* The "details" message of `error` that names a contact identifier owned
 * by another person (borrowed), or NULL. */
static const char *conflict_detail(const json_t *error)
{
    const json_t *details = json_object_get(error, "details");
    size_t i;
    json_t *detail;

    json_array_foreach(details, i, detail) {
        const char *property = json_string_value(json_object_get(detail, "property"));
        const char *message = json_string_value(json_object_get(detail, "message"));
        if (property && message && strncmp(property, "contactInformation", 18) == 0 &&
            strstr(message, CONFLICT_TEXT))
            return message;
    }
    return NULL;
}

int infobip_contact_conflict(const json_t *error)
{
    return conflict_detail(error) != NULL;
}

/* 1 when `message` holds `word` standing alone (between the text's ends,
 * spaces, quotes, parentheses, commas or colons), so that one phone number
 * is not found inside a longer one. */
static int names_word(const char *message, const char *word)
{
    size_t len = strlen(word);
    const char *at;

    if (len == 0)
        return 0;
    for (at = strstr(message, word); at; at = strstr(at + 1, word)) {
        char before = at == message ? ' ' : at[-1], after = at[len] ? at[len] : ' ';
        if (strchr(" '\"(),:", before) && strchr(" '\"(),:", after))
            return 1;
    }
    return 0;
}

/* Take out of person's contactInformation the identifiers the refusal
 * `error` names (every contact whose identifier the message quotes; when
 * it quotes none, every contact of the type it names, else all of them),
 * adding their types to `dropped` (a JSON array of unique strings). Returns
 * how many were taken out (0: nothing left to take). */
static size_t drop_named_contacts(json_t *person, const json_t *error, json_t *dropped)
{
    json_t *contacts = json_object_get(person, "contactInformation");
    const char *message = conflict_detail(error);
    size_t removed = 0, i, pass;

    if (!message || !json_is_array(contacts))
        return 0;
    /* pass 0: by identifier; 1: by type; 2: all */
    for (pass = 0; pass < 3 && removed == 0; pass++) {
        for (i = json_array_size(contacts); i-- > 0;) {
            json_t *contact = json_array_get(contacts, i);
            const char *type = json_string_value(json_object_get(contact, "type"));
            const char *identifier = json_string_value(json_object_get(contact, "identifier"));
            int named = pass == 2 ||
                        (pass == 0 && identifier && names_word(message, identifier)) ||
                        (pass == 1 && type && names_word(message, type));
            if (!named)
                continue;
            if (type && !infobip_list_has(dropped, type))
                json_array_append_new(dropped, json_string(type));
            json_array_remove(contacts, i);
            removed++;
        }
    }
    if (json_array_size(contacts) == 0)
        json_object_del(person, "contactInformation");
    return removed;
}

/* One member upserted again: where it is and what is sent. */
typedef struct conflicted {
    size_t at;               /* index into idx[] */
    json_t *person;          /* the record without the dropped identifiers (owned) */
    json_t *error;           /* the refusal to act on (owned copy) */
    json_t *dropped;         /* types taken out so far (owned array) */
} conflicted;

/* Report member `person` delivered without `dropped`: warn (loyalty id
 * only), count, and stage its "conflict/<loyalty id>" entry under batch. */
static void report_conflict(sluice_ctx *ctx, sluice_batch *batch, const json_t *person,
                            const json_t *dropped)
{
    const char *loyalty_id = json_string_value(json_object_get(person, "externalId"));
    char key[400], when[32], types[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    size_t i;
    json_t *type;

    json_array_foreach(dropped, i, type) {
        size_t used = strlen(types);
        snprintf(types + used, sizeof(types) - used, "%s%s", i ? ", " : "", json_string_value(type));
    }
    sluice_log(ctx, SLUICE_LOG_WARN,
               "member %s: its %s belongs to another person in Infobip; upserted without it",
               loyalty_id ? loyalty_id : "(no externalId)", types);
    sluice_metric_add(ctx, "contact_conflicts", 1);
    if (!loyalty_id)
        return;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(key, sizeof(key), "conflict/%s", loyalty_id);
    if (sluice_state_put_new(ctx, batch, key,
                             json_pack("{s:s, s:O, s:s}", "loyalty_id", loyalty_id, "dropped",
                                       dropped, "at", when)) != 0)
        sluice_log(ctx, SLUICE_LOG_WARN, "member %s: the contact conflict could not be recorded",
                   loyalty_id);
}

/* Set the outcomes of list[0..count) from the answer to their re-upsert
 * (sent in that order); a refusal that names identifiers again stays in
 * the list (its error replaced) for the next round, the others leave it.
 * Returns the number still to send. */
static size_t read_round(sluice_ctx *ctx, sluice_batch *batch, const size_t *idx,
                         unsigned char *created, conflicted *list, size_t count,
                         const infobip_reply *reply)
{
    const json_t *errors = json_object_get(reply->body, "errors");
    const json_t *results = json_object_get(reply->body, "results");
    unsigned char *done = calloc(count ? count : 1, 1);
    size_t i, kept = 0;
    json_t *item;
    char text[512], reason[700];

    if (!done)
        return count; /* tried again next round; left RETRY after the last */
    json_array_foreach(results, i, item) {
        json_int_t at = json_integer_value(json_object_get(item, "index"));
        const char *state = json_string_value(json_object_get(item, "status"));
        if (at < 0 || (size_t)at >= count || done[at])
            continue;
        done[at] = 1;
        sluice_batch_set_outcome(batch, idx[list[at].at], SLUICE_RECORD_DONE, NULL);
        created[list[at].at] = state && strcmp(state, "CREATED") == 0;
        sluice_metric_add(ctx, "persons_sent", 1);
        report_conflict(ctx, batch, list[at].person, list[at].dropped);
    }
    json_array_foreach(errors, i, item) {
        json_int_t at = json_integer_value(json_object_get(item, "index"));
        if (at < 0 || (size_t)at >= count || done[at])
            continue;
        if (infobip_contact_conflict(item)) {
            json_decref(list[at].error);
            list[at].error = json_deep_copy(item);
            continue;
        }
        done[at] = 1;
        snprintf(reason, sizeof(reason), "Infobip refused the person: %s",
                 infobip_error_text(item, text, sizeof(text)));
        sluice_batch_set_outcome(batch, idx[list[at].at], SLUICE_RECORD_REJECTED, reason);
        sluice_metric_add(ctx, "records_rejected", 1);
    }
    for (i = 0; i < count; i++) {
        if (done[i]) {
            json_decref(list[i].person);
            json_decref(list[i].error);
            json_decref(list[i].dropped);
        } else {
            list[kept++] = list[i];
        }
    }
    free(done);
    return kept;
}

sluice_status infobip_resolve_conflicts(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                        const size_t *idx, unsigned char *created, size_t n,
                                        const json_t *const *conflicts)
{
    conflicted *list = calloc(n ? n : 1, sizeof(*list));
    size_t count = 0, i, round;
    sluice_status status = SLUICE_OK;
    int settled = 0;         /* 1: the persons left have their outcomes */
    char reason[700], text[512];

    if (!list)
        return SLUICE_OK; /* the conflicted persons stay RETRY */
    for (i = 0; i < n; i++) {
        json_t *record = conflicts[i] ? sluice_batch_get(batch, idx[i]) : NULL;
        if (!record)
            continue;
        list[count].at = i;
        list[count].person = json_deep_copy(record);
        if (list[count].person) /* tags go through the tag endpoints only */
            json_object_del(list[count].person, "tags");
        list[count].error = json_deep_copy(conflicts[i]);
        list[count].dropped = json_array();
        if (!list[count].person || !list[count].error || !list[count].dropped) {
            json_decref(list[count].person);
            json_decref(list[count].error);
            json_decref(list[count].dropped);
            continue; /* stays RETRY */
        }
        count++;
    }
    for (round = 0; round < CONFLICT_ROUNDS && count > 0 && status == SLUICE_OK && !settled;
         round++) {
        json_t *persons = json_array(), *payload;
        infobip_reply reply;
        size_t sent = 0;

        for (i = 0; i < count; i++) {
            if (drop_named_contacts(list[i].person, list[i].error, list[i].dropped) == 0) {
                /* nothing Infobip names is left to take out */
                snprintf(reason, sizeof(reason), "Infobip refused the person: %s",
                         infobip_error_text(list[i].error, text, sizeof(text)));
                sluice_batch_set_outcome(batch, idx[list[i].at], SLUICE_RECORD_REJECTED, reason);
                sluice_metric_add(ctx, "records_rejected", 1);
                json_decref(list[i].person);
                json_decref(list[i].error);
                json_decref(list[i].dropped);
                continue;
            }
            json_array_append(persons, list[i].person);
            list[sent++] = list[i];
        }
        count = sent;
        payload = json_pack("{s:o}", "persons", persons);
        if (count == 0 || !payload) {
            settled = count > 0; /* out of memory: they stay RETRY */
            json_decref(payload);
            break;
        }
        infobip_call(ctx, sink, "PATCH", "/people/3/persons/upsert", payload,
                     INFOBIP_BUCKET_PERSONS, &reply);
        json_decref(payload);
        if (reply.cls == SLUICE_HTTP_SUCCESS && !reply.unreadable[0] && json_is_object(reply.body)) {
            count = read_round(ctx, batch, idx, created, list, count, &reply);
        } else if (reply.cls == SLUICE_HTTP_AUTH) {
            sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply.status,
                        reply.message);
            status = SLUICE_FATAL;
        } else if (reply.cls == SLUICE_HTTP_CONFIG) {
            status = infobip_config_failure(ctx, sink, "PATCH", "/people/3/persons/upsert", &reply);
        } else if (reply.cls == SLUICE_HTTP_REJECTED) {
            snprintf(reason, sizeof(reason), "Infobip refused the person sent without its "
                     "shared contact identifiers (HTTP %ld): %s", reply.status, reply.message);
            for (i = 0; i < count; i++)
                sluice_batch_set_outcome(batch, idx[list[i].at], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", (double)count);
            settled = 1;
        } else {
            settled = 1; /* not answered: they stay RETRY, sent again later */
        }
        infobip_reply_clear(&reply);
    }
    for (i = 0; i < count; i++) {
        if (!settled && status == SLUICE_OK) {
            snprintf(reason, sizeof(reason), "Infobip still refused the person after %d "
                     "re-upserts without shared identifiers: %s", CONFLICT_ROUNDS,
                     infobip_error_text(list[i].error, text, sizeof(text)));
            sluice_batch_set_outcome(batch, idx[list[i].at], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
        }
        json_decref(list[i].person);
        json_decref(list[i].error);
        json_decref(list[i].dropped);
    }
    free(list);
    return status;
}
