/* infobip_tags.c: the tags of the persons of a write(), set only through
 * Infobip's tag endpoints, never in the upsert body: after a chunk's
 * upsert, `PATCH /people/2/tags/{tag}/persons` adds each tag a person's
 * record lists and `DELETE` on the same path takes away each managed tag
 * it no longer lists, one request per tag and up to 1000 persons. A tag
 * someone set by hand that the pipeline does not own is never touched,
 * whatever Infobip's upsert does with a "tags" member. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "infobip.h"

/* Infobip's limit of persons per tag request. */
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

/* infobip_tag_plan_free: see infobip.h. */
void infobip_tag_plan_free(infobip_tag_plan *plan)
{
    infobip_requests_free(plan->requests, plan->count);
    for (size_t i = 0; i < plan->count; i++) {
        json_decref(plan->owners[i]);
        free(plan->tags[i]);
    }
    free(plan->owners);
    free(plan->tags);
    memset(plan, 0, sizeof(*plan));
}

/* Make room in `plan` for one more request. Returns 0 or -1 (ENOMEM). */
static int plan_grow(infobip_tag_plan *plan)
{
    size_t cap = plan->cap ? plan->cap * 2 : 8;
    infobip_request *requests;
    json_t **owner_lists;
    char **tags;

    if (plan->count < plan->cap)
        return 0;
    requests = realloc(plan->requests, cap * sizeof(*requests));
    if (!requests)
        return -1;
    plan->requests = requests;
    owner_lists = realloc(plan->owners, cap * sizeof(*owner_lists));
    if (!owner_lists)
        return -1;
    plan->owners = owner_lists;
    tags = realloc(plan->tags, cap * sizeof(*tags));
    if (!tags)
        return -1;
    plan->tags = tags;
    plan->cap = cap;
    return 0;
}

/* Add one `method` (PATCH adds, DELETE removes) request of tag `tag` for
 * the externalIds `ids` (array, borrowed) whose records are `owners`
 * (stolen). Returns 0, or -1 on ENOMEM (owners freed). */
static int plan_add(infobip_tag_plan *plan, const char *method, const char *tag, const json_t *ids,
                    json_t *owners)
{
    infobip_request *request;
    json_t *people = json_array(), *payload;
    char *escaped = NULL, *name = NULL;
    size_t i;
    json_t *id;
    int rc = -1;

    if (!people || plan_grow(plan) != 0)
        goto out;
    json_array_foreach((json_t *)ids, i, id)
        json_array_append_new(people, json_pack("{s:{s:s, s:O}}", "query", "type", "EXTERNAL_ID",
                                                "identifier", id));
    payload = json_pack("{s:O}", "people", people);
    request = &plan->requests[plan->count];
    memset(request, 0, sizeof(*request));
    request->body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    escaped = curl_easy_escape(NULL, tag, 0);
    name = strdup(tag);
    if (!escaped || !name || !request->body) {
        free(request->body);
        goto out;
    }
    request->body_len = strlen(request->body);
    request->method = method;
    request->bucket = INFOBIP_BUCKET_TAGS;
    snprintf(request->path, sizeof(request->path), "/people/2/tags/%s/persons", escaped);
    plan->owners[plan->count] = owners;
    plan->tags[plan->count] = name;
    plan->count++;
    owners = NULL;
    name = NULL;
    rc = 0;
out:
    curl_free(escaped);
    free(name);
    json_decref(people);
    json_decref(owners);
    return rc;
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

/* Note that person `external_id` (its last record at batch index `index`)
 * needs a change of tag `tag`: appended to ids[tag] and owners[tag].
 * Returns 0 or -1 (ENOMEM). */
static int note_change(json_t *ids, json_t *owners, const char *tag, const char *external_id,
                       size_t index)
{
    json_t *list = json_object_get(ids, tag), *owner_list = json_object_get(owners, tag);

    if (!list) {
        list = json_array();
        owner_list = json_array();
        if (json_object_set_new(ids, tag, list) != 0 ||
            json_object_set_new(owners, tag, owner_list) != 0)
            return -1;
    }
    if (json_array_append_new(list, json_string(external_id)) != 0 ||
        json_array_append_new(owner_list, json_integer((json_int_t)index)) != 0)
        return -1;
    return 0;
}

/* Turn the changes noted in ids/owners (tag -> arrays, borrowed) into
 * `method` requests of up to TAG_REQUEST_MAX persons. Returns 0 or -1. */
static int plan_changes(infobip_tag_plan *plan, const char *method, const json_t *ids,
                        const json_t *owners)
{
    const char *tag;
    json_t *list;

    json_object_foreach((json_t *)ids, tag, list) {
        const json_t *owner_list = json_object_get(owners, tag);
        for (size_t from = 0; from < json_array_size(list); from += TAG_REQUEST_MAX) {
            json_t *part = json_array(), *part_owners = json_array();
            int rc;
            for (size_t k = from; k < json_array_size(list) && k < from + TAG_REQUEST_MAX; k++) {
                json_array_append(part, json_array_get(list, k));
                json_array_append(part_owners, json_array_get(owner_list, k));
            }
            rc = part ? plan_add(plan, method, tag, part, part_owners) : -1;
            json_decref(part);
            if (!part)
                json_decref(part_owners);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

/* infobip_tags_plan: see infobip.h. Adding a tag a person carries, or
 * taking away one it does not, changes nothing, so sending the changes
 * for every person is right whatever happened before (replays, restarts):
 * no remembered state can disagree with Infobip. Only the records whose
 * persons are DONE count, and of a person listed several times (an
 * opt-out, then an opt-in) only the last record says what it carries
 * now. */
int infobip_tags_plan(infobip_sink *sink, sluice_batch *batch, const infobip_person_list *persons,
                      size_t start, size_t n, infobip_tag_plan *plan)
{
    json_t *last_of = json_object();     /* externalId -> its last index into persons */
    json_t *tags = NULL;                 /* the tags of the record at hand */
    json_t *adds = json_object(), *add_owners = json_object();
    json_t *removals = json_object(), *removal_owners = json_object();
    const char *external_id;
    json_t *at;
    int rc = -1;

    if (!last_of || !adds || !add_owners || !removals || !removal_owners)
        goto out;
    for (size_t i = start; i < start + n; i++) {
        if (sluice_batch_outcome(batch, persons->index[i]) == SLUICE_RECORD_DONE &&
            persons->has_tags[i])
            json_object_set_new_nocheck(last_of, persons->id[i], json_integer((json_int_t)i));
    }
    json_object_foreach(last_of, external_id, at) {
        size_t position = (size_t)json_integer_value(at), index = persons->index[position];
        size_t j;
        json_t *tag;

        json_decref(tags);
        tags = record_tags(batch, index);
        if (!json_is_array(tags))
            goto out; /* it had a tags array when write() began: out of memory */
        json_array_foreach(tags, j, tag) {
            const char *name = json_string_value(tag);
            int repeated = 0;
            for (size_t k = 0; name && k < j && !repeated; k++)
                repeated = json_equal(json_array_get(tags, k), tag);
            if (name && *name && !repeated &&
                note_change(adds, add_owners, name, external_id, index) != 0)
                goto out;
        }
        if (persons->created[position])
            continue; /* a person just created carries no tag to take away */
        json_array_foreach(sink->managed_tags, j, tag) {
            const char *name = json_string_value(tag);
            if (!infobip_list_has(tags, name) &&
                note_change(removals, removal_owners, name, external_id, index) != 0)
                goto out;
        }
    }
    if (plan_changes(plan, "PATCH", adds, add_owners) != 0 ||
        plan_changes(plan, "DELETE", removals, removal_owners) != 0)
        goto out;
    rc = 0;
out:
    json_decref(tags);
    json_decref(last_of);
    json_decref(adds);
    json_decref(add_owners);
    json_decref(removals);
    json_decref(removal_owners);
    return rc;
}

/* The persons of a 2xx PATCH answer that Infobip says it did not find
 * (an answer {"results":[{"index","status":"NOT_FOUND"}]}): each is set
 * RETRY, as its tag was not added; an answer without such results names
 * none. */
static void retry_not_found(sluice_batch *batch, const infobip_tag_plan *plan, size_t k)
{
    const json_t *results = json_object_get(plan->requests[k].reply.body, "results");
    size_t i;
    json_t *item;
    char reason[400];

    json_array_foreach((json_t *)results, i, item) {
        const json_t *index = json_object_get(item, "index");
        const char *state = json_string_value(json_object_get(item, "status"));
        const json_t *owner = json_array_get(plan->owners[k], (size_t)json_integer_value(index));
        if (!json_is_integer(index) || !owner || !state || strcmp(state, "NOT_FOUND") != 0)
            continue;
        snprintf(reason, sizeof(reason), "could not add tag '%s': Infobip did not find the "
                 "person yet", plan->tags[k]);
        sluice_batch_set_outcome(batch, (size_t)json_integer_value(owner), SLUICE_RECORD_RETRY,
                                 reason);
    }
}

/* infobip_tags_apply: see infobip.h. A DELETE answered 404 (the tag no
 * longer exists in Infobip) is done: nobody carries it. */
sluice_status infobip_tags_apply(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                 const infobip_tag_plan *plan)
{
    sluice_status status = SLUICE_OK;

    for (size_t k = 0; k < plan->count && status == SLUICE_OK; k++) {
        const infobip_request *request = &plan->requests[k];
        const infobip_reply *reply = &request->reply;
        int adding = strcmp(request->method, "PATCH") == 0;
        const char *verb = adding ? "add" : "remove";
        sluice_outcome outcome = SLUICE_RECORD_REJECTED;
        char reason[700];
        size_t j;
        json_t *at;

        if (reply->cls == SLUICE_HTTP_SUCCESS) {
            sluice_status read = infobip_answer(ctx, sink, request->method, request->path, reply,
                                                reply->unreadable[0] ? reply->unreadable : NULL);
            if (read == SLUICE_OK) {
                if (adding)
                    retry_not_found(batch, plan, k);
                continue;
            }
            if (read == SLUICE_FATAL) {
                status = SLUICE_FATAL;
                continue;
            }
            outcome = SLUICE_RECORD_RETRY;
            snprintf(reason, sizeof(reason), "could not %s tag '%s': Infobip's answer "
                     "(HTTP %ld) could not be read", verb, plan->tags[k], reply->status);
        } else if (reply->cls == SLUICE_HTTP_AUTH) {
            sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply->status,
                        reply->message);
            status = SLUICE_FATAL;
            continue;
        } else if (reply->cls == SLUICE_HTTP_CONFIG) {
            status = infobip_config_failure(ctx, sink, request->method, request->path, reply);
            continue;
        } else if (!adding && reply->status == 404) {
            continue;
        } else {
            if (reply->cls == SLUICE_HTTP_RETRYABLE)
                outcome = SLUICE_RECORD_RETRY;
            snprintf(reason, sizeof(reason), "could not %s tag '%s' (HTTP %ld): %s%s", verb,
                     plan->tags[k], reply->status, reply->message,
                     adding && reply->status == 404
                         ? " (a tag Infobip does not have: add it to the sink's tags, which "
                           "are created at start)"
                         : "");
        }
        json_array_foreach(plan->owners[k], j, at)
            sluice_batch_set_outcome(batch, (size_t)json_integer_value(at), outcome, reason);
    }
    return status;
}
