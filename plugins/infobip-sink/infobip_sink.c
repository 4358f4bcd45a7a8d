/* infobip_sink.c: the infobip-sink plugin: loyalty members to Infobip
 * People (persons upserted by externalId, custom attributes, the Loyalty
 * and segment tags) and loyalty events to Infobip (People events). Input
 * records are already in Infobip shape (field-mapper with the Infobip
 * mapping): a record with `definitionId` is an event, one with
 * `externalId` a person. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "infobip.h"

#define TAG_REQUEST_MAX 1000

static const sluice_option infobip_options[] = {
    {"base_url", SLUICE_OPT_STRING, NULL, 1, 0,
     "Infobip account base URL, e.g. https://xxxxx.api.infobip.com (${INFOBIP_BASE_URL})", .kind = SLUICE_KIND_URL},
    {"api_key", SLUICE_OPT_STRING, NULL, 1, 1, "API key with people:manage scope (${INFOBIP_API_KEY})"},
    {"attributes", SLUICE_OPT_GROUP, NULL, 0, 0,
     "custom attributes to create before the first upsert: name = \"STRING|INTEGER|DECIMAL|BOOLEAN|DATE|DATE_TIME\""},
    {"event_definitions", SLUICE_OPT_GROUP, NULL, 0, 0,
     "event definitions to create and validate against: DefinitionId = { property = \"String|Numeric|Decimal|Boolean|DateTime|List\"; }"},
    {"tags", SLUICE_OPT_LIST, NULL, 0, 0,
     "tags this pipeline owns (default [\"Loyalty\"]): created at start, and removed from a person whose record no longer lists them"},
    {"max_persons_per_request", SLUICE_OPT_INT, "1000", 0, 0, "persons per upsert request", .range = "1..1000"},
    {"max_events_per_request", SLUICE_OPT_INT, "5000", 0, 0, "events per request", .range = "1..5000"},
    {"requests_per_second", SLUICE_OPT_DOUBLE, "5", 0, 0,
     "request rate per endpoint family (persons, tags, events), Infobip's default limit is 5", .range = "0.01..1000"},
    {"max_event_age_days", SLUICE_OPT_INT, "30", 0, 0,
     "Infobip refuses events older than this many days (0: no check)", .range = "0..3650"},
    {"too_old_events", SLUICE_OPT_STRING, "skip", 0, 0,
     "events Infobip would refuse for age: skipped (counted in events_too_old) or parked in the DLQ", .choices = "skip|dlq"},
    {"max_in_flight", SLUICE_OPT_INT, "4", 0, 0,
     "requests sent at once: the upserts of a batch, then their tag removals, then its event requests; 1 sends one after another", .range = "1..16"},
    {"setup", SLUICE_OPT_BOOL, "true", 0, 0,
     "create missing custom attributes, event definitions and tags at start"},
    {"erase_enrolment_field", SLUICE_OPT_STRING, "customAttributes.annexOptInDate", 0, 0,
     "where a person carries its enrolment date: an erased member's records are sent again once it is after the erasure"},
    SLUICE_OPTION_END};

/* ------------------------------------------------------------------ */
/* Lifecycle.                                                         */
/* ------------------------------------------------------------------ */

static void infobip_fini(sluice_ctx *ctx, void *state)
{
    infobip_sink *sink = state;

    (void)ctx;
    if (!sink)
        return;
    free(sink->base_url);
    free(sink->auth_header);
    json_decref(sink->managed_tags);
    erase_list_clear(&sink->erased);
    free(sink);
}

/* Report each member of `group` (name -> type) whose type is not one of
 * `allowed` (a NULL-terminated list) as a problem of `option`. */
static void check_types(sluice_check *check, const json_t *group, const char *option,
                        const char *const *allowed)
{
    const char *name;
    json_t *value;

    json_object_foreach((json_t *)group, name, value) {
        const char *type = json_string_value(value);
        size_t i;
        for (i = 0; type && allowed[i]; i++) {
            if (strcmp(type, allowed[i]) == 0)
                break;
        }
        if (!type || !allowed[i])
            sluice_check_error(check, option, "'%s' has type '%s', not one Infobip knows", name,
                               type ? type : "(not a string)");
    }
}

/* 1 if `tag` is one of the strings of `tags`. */
static int tag_listed(const json_t *tags, const char *tag)
{
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)tags, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), tag) == 0)
            return 1;
    }
    return 0;
}

/* Report the tags a field-mapper stage upstream can give a person (the
 * base of its `tags` fields and the names its `tags` group maps segments
 * to) that are not in this sink's `tags`: such a tag is never created at
 * start, so Infobip refuses the persons that carry it, and it is never
 * taken away again. (A segment with no name in the group keeps its own
 * name, which no configuration can know in advance.) */
static void check_mapper_tags(sluice_check *check, const json_t *tags)
{
    const char *plugin = NULL;
    const json_t *mapper;

    for (int offset = -1; (mapper = sluice_check_stage(check, offset, &plugin)); offset--) {
        const json_t *fields = json_object_get(json_object_get(mapper, "member"), "fields");
        const char *segment;
        json_t *field, *name;
        size_t i;

        if (!plugin || strcmp(plugin, "field-mapper") != 0)
            continue;
        json_array_foreach((json_t *)fields, i, field) {
            const char *base = json_string_value(json_object_get(field, "base"));
            if (!json_is_string(json_object_get(field, "type")) ||
                strcmp(json_string_value(json_object_get(field, "type")), "tags") != 0)
                continue;
            if (!base)
                base = "Loyalty";
            if (*base && !tag_listed(tags, base))
                sluice_check_error(check, "tags", "the field-mapper %d stage(s) up gives persons "
                                   "the tag '%s', which is not in this sink's tags: add it, or "
                                   "it is never created and never taken away", -offset, base);
        }
        json_object_foreach(json_object_get(mapper, "tags"), segment, name) {
            if (json_is_string(name) && !tag_listed(tags, json_string_value(name)))
                sluice_check_error(check, "tags", "the field-mapper %d stage(s) up maps segment "
                                   "'%s' to the tag '%s', which is not in this sink's tags: add "
                                   "it, or it is never created and never taken away", -offset,
                                   segment, json_string_value(name));
        }
    }
}

/* check(): the tags, the attribute and event property types, and the tags
 * the mappers upstream make, which this sink must own. The option table
 * checks the rest (URL, ranges, choices). */
static void infobip_check(sluice_check *check, const json_t *config)
{
    static const char *const attribute_types[] = {"STRING", "INTEGER", "DECIMAL", "BOOLEAN",
                                                  "DATE", "DATE_TIME", NULL};
    static const char *const property_types[] = {"String", "Numeric", "Decimal", "Boolean",
                                                 "DateTime", "List", NULL};
    const json_t *tags = json_object_get(config, "tags");
    json_t *default_tags = NULL;
    const char *id;
    json_t *item, *schema;
    size_t i;

    if (!json_is_array(tags) || json_array_size(tags) == 0)
        tags = default_tags = json_pack("[s]", "Loyalty");
    json_array_foreach((json_t *)tags, i, item) {
        if (!json_is_string(item) || !*json_string_value(item))
            sluice_check_error(check, "tags", "element %zu is not a tag name", i);
    }
    check_types(check, json_object_get(config, "attributes"), "attributes", attribute_types);
    json_object_foreach(json_object_get(config, "event_definitions"), id, schema) {
        if (!json_is_object(schema))
            sluice_check_error(check, "event_definitions",
                               "'%s' must be a group of property = type", id);
        else
            check_types(check, schema, "event_definitions", property_types);
    }
    if (tags)
        check_mapper_tags(check, tags);
    json_decref(default_tags);
}

static sluice_status infobip_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    infobip_sink *sink = calloc(1, sizeof(*sink));
    const char *base = json_string_value(json_object_get(config, "base_url"));
    const char *key = json_string_value(json_object_get(config, "api_key"));
    json_int_t max_persons = json_integer_value(json_object_get(config, "max_persons_per_request"));
    json_int_t max_events = json_integer_value(json_object_get(config, "max_events_per_request"));
    json_int_t max_in_flight = json_integer_value(json_object_get(config, "max_in_flight"));
    double rate = json_number_value(json_object_get(config, "requests_per_second"));
    const json_t *tags = json_object_get(config, "tags");
    size_t len;

    if (!sink)
        return SLUICE_FATAL;
    *state = sink;
    /* base_url, the ranges, too_old_events, tags and the types were
     * checked by the core against the option table and infobip_check() */
    if (!key || !*key) {
        sluice_fail(ctx, "api_key is empty");
        return SLUICE_FATAL;
    }
    len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    sink->base_url = strndup(base, len);
    len = strlen(key) + 5;
    sink->auth_header = malloc(len);
    if (!sink->base_url || !sink->auth_header)
        return SLUICE_FATAL;
    snprintf(sink->auth_header, len, "App %s", key);
    sink->attributes = json_object_get(config, "attributes");
    sink->definitions = json_object_get(config, "event_definitions");
    sink->max_persons = (size_t)max_persons;
    sink->max_event_age_s = (long)json_integer_value(json_object_get(config, "max_event_age_days")) * 86400L;
    sink->too_old_to_dlq =
        strcmp(json_string_value(json_object_get(config, "too_old_events")), "dlq") == 0;
    sink->max_events = (size_t)max_events;
    sink->max_in_flight = (size_t)max_in_flight;
    if (json_is_array(tags) && json_array_size(tags) > 0)
        sink->managed_tags = json_incref((json_t *)tags);
    else
        sink->managed_tags = json_pack("[s]", "Loyalty");
    if (!sink->managed_tags)
        return SLUICE_FATAL;
    sluice_http_throttle(ctx, INFOBIP_BUCKET_PERSONS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_TAGS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_EVENTS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_SCHEMA, rate, rate > 1 ? rate : 1);
    if (infobip_erase_init(ctx, sink, config) != 0)
        return SLUICE_FATAL;

    if (json_is_true(json_object_get(config, "setup")))
        return infobip_setup(ctx, sink);
    return SLUICE_OK;
}

/* ------------------------------------------------------------------ */
/* Persons and tags.                                                  */
/* ------------------------------------------------------------------ */

/* 1 if the JSON array `list` holds the string `name`. */
static int list_has(const json_t *list, const char *name)
{
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)list, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), name) == 0)
            return 1;
    }
    return 0;
}

/* The persons of one write(), in batch order. */
typedef struct person_list {
    size_t *index;           /* batch index of each */
    char **id;               /* its externalId (owned) */
    unsigned char *has_tags; /* 1: its record has a "tags" array */
    unsigned char *created;  /* 1: its upsert was answered CREATED */
    size_t count;
} person_list;

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
static int plan_tag_removals(infobip_sink *sink, sluice_batch *batch, const person_list *persons,
                             size_t start, size_t n, removal_plan *plan)
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
            if (list_has(tags, name))
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
 * no person in two of them: every upsert at once, then every tag removal
 * they need at once. Returns SLUICE_OK, SLUICE_RETRY (ENOMEM) or
 * SLUICE_FATAL. */
static sluice_status send_wave(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                               const person_list *persons, size_t first, size_t end)
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

/* Upsert the persons in chunks of sink->max_persons, keeping up to
 * sink->max_in_flight requests in flight. A person's requests stay in
 * order: consecutive chunks that share no person form a wave sent at once
 * (upserts, then their tag removals); a chunk holding a person of an
 * earlier chunk of the wave starts the next wave. Within a chunk Infobip
 * applies the persons in order. Returns SLUICE_OK, SLUICE_RETRY or
 * SLUICE_FATAL. */
static sluice_status send_all_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                      const person_list *persons)
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

/* The facts of record i: read from its text when no stage parsed it (no
 * parse, so its text can go out as it is), else from the parsed record.
 * Returns 0, or -1 when the record is gone (dropped or rejected). */
static int record_facts_of(sluice_batch *batch, size_t i, infobip_record_facts *facts)
{
    size_t len = 0;
    const char *text = sluice_batch_peek_text(batch, i, &len);
    json_t *record, *external_id;

    if (text && infobip_scan_record(text, len, facts) == 0)
        return 0;
    record = sluice_batch_get(batch, i);
    if (!record)
        return -1;
    memset(facts, 0, sizeof(*facts));
    external_id = json_object_get(record, "externalId");
    if (json_is_string(external_id)) {
        facts->external_id = json_string_value(external_id);
        facts->external_id_len = json_string_length(external_id);
    }
    facts->is_event = json_object_get(record, "definitionId") != NULL;
    facts->has_tags = json_is_array(json_object_get(record, "tags"));
    return 0;
}

/* ------------------------------------------------------------------ */
/* write()                                                            */
/* ------------------------------------------------------------------ */

static sluice_status infobip_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    infobip_sink *sink = state;
    size_t count = sluice_batch_count(batch), slots = count ? count : 1;
    person_list persons = {
        .index = calloc(slots, sizeof(size_t)),
        .id = calloc(slots, sizeof(char *)),
        .has_tags = calloc(slots, 1),
        .created = calloc(slots, 1),
        .count = 0,
    };
    size_t *events = calloc(slots, sizeof(size_t));
    size_t nevents = 0;
    sluice_status status = SLUICE_OK;

    if (!persons.index || !persons.id || !persons.has_tags || !persons.created || !events) {
        status = SLUICE_RETRY;
        goto out;
    }
    /* Erasures first: nothing of an erased member goes out after them. */
    if (infobip_erase_batch(ctx, sink, batch) == SLUICE_FATAL) {
        status = SLUICE_FATAL;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        infobip_record_facts facts;
        int screened;
        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        if (record_facts_of(batch, i, &facts) != 0)
            continue;
        if ((screened = infobip_erase_screen(ctx, sink, batch, i, &facts)) != 0) {
            if (screened < 0) {
                status = SLUICE_RETRY;
                goto out;
            }
            continue;
        }
        if (facts.is_event) {
            events[nevents++] = i;
        } else if (facts.external_id) {
            char *id = strndup(facts.external_id, facts.external_id_len);
            if (!id) {
                status = SLUICE_RETRY;
                goto out;
            }
            persons.id[persons.count] = id;
            persons.has_tags[persons.count] = (unsigned char)facts.has_tags;
            persons.index[persons.count++] = i;
        } else if (!erase_record_is(sluice_batch_get(batch, i))) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED,
                                     "not an Infobip person (externalId) or event (definitionId)");
        }
    }
    /* Persons first: an event for a person created in this batch needs it. */
    if (persons.count > 0)
        status = send_all_persons(ctx, sink, batch, &persons);
    if (status == SLUICE_OK)
        status = infobip_send_events(ctx, sink, batch, events, nevents);
    /* Records left to retry: the core calls write() again after its backoff. */
    for (size_t i = 0; status == SLUICE_OK && i < count; i++) {
        if (sluice_batch_outcome(batch, i) == SLUICE_RECORD_RETRY)
            status = SLUICE_RETRY;
    }
    erase_list_summary(ctx, &sink->erased, batch);
out:
    for (size_t i = 0; persons.id && i < persons.count; i++)
        free(persons.id[i]);
    free(persons.id);
    free(persons.index);
    free(persons.has_tags);
    free(persons.created);
    free(events);
    return status;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "infobip-sink",
    .role = SLUICE_ROLE_SINK,
    .version = PACKAGE_VERSION,
    .description = "loyalty members, tags and events to Infobip People",
    .options = infobip_options,
    .init = infobip_init,
    .fini = infobip_fini,
    .write = infobip_write,
    .check = infobip_check,
};
