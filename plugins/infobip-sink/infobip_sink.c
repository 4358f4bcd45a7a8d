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
     "Infobip account base URL, e.g. https://xxxxx.api.infobip.com (${INFOBIP_BASE_URL})"},
    {"api_key", SLUICE_OPT_STRING, NULL, 1, 1, "API key with people:manage scope (${INFOBIP_API_KEY})"},
    {"attributes", SLUICE_OPT_GROUP, NULL, 0, 0,
     "custom attributes to create before the first upsert: name = \"STRING|INTEGER|DECIMAL|BOOLEAN|DATE|DATE_TIME\""},
    {"event_definitions", SLUICE_OPT_GROUP, NULL, 0, 0,
     "event definitions to create and validate against: DefinitionId = { property = \"String|Numeric|Decimal|Boolean|DateTime|List\"; }"},
    {"tags", SLUICE_OPT_LIST, NULL, 0, 0,
     "tags this pipeline owns (default [\"Loyalty\"]): created at start, and removed from a person whose record no longer lists them"},
    {"max_persons_per_request", SLUICE_OPT_INT, "1000", 0, 0, "persons per upsert request (1..1000)"},
    {"max_events_per_request", SLUICE_OPT_INT, "5000", 0, 0, "events per request (1..5000)"},
    {"requests_per_second", SLUICE_OPT_DOUBLE, "5", 0, 0,
     "request rate per endpoint family (persons, tags, events), Infobip's default limit is 5"},
    {"max_event_age_days", SLUICE_OPT_INT, "30", 0, 0,
     "Infobip refuses events older than this many days (0: no check)"},
    {"too_old_events", SLUICE_OPT_STRING, "skip", 0, 0,
     "what to do with events Infobip would refuse for age: skip (counted in events_too_old) or dlq"},
    {"setup", SLUICE_OPT_BOOL, "true", 0, 0,
     "create missing custom attributes, event definitions and tags at start"},
    SLUICE_OPTION_END};

/* ------------------------------------------------------------------ */
/* Setup: attributes, definitions, tags.                              */
/* ------------------------------------------------------------------ */

/* The array of attribute objects in a list answer, whatever the wrapper. */
static const json_t *attribute_list(const json_t *body)
{
    static const char *const keys[] = {"customAttributes", "results", "data", "attributes"};
    if (json_is_array(body))
        return body;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *list = json_object_get(body, keys[i]);
        if (json_is_array(list))
            return list;
    }
    return NULL;
}

/* Type of an existing attribute `name` in a list answer, or NULL. */
static const char *existing_type(const json_t *list, const char *name)
{
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)list, i, item) {
        const char *have = json_string_value(json_object_get(item, "name"));
        if (have && strcasecmp(have, name) == 0)
            return json_string_value(json_object_get(item, "dataType"));
    }
    return NULL;
}

/* Map a failed setup call to FATAL (auth or refused) or RETRY. */
static sluice_status setup_failure(sluice_ctx *ctx, const infobip_reply *reply, const char *what)
{
    if (reply->cls == SLUICE_HTTP_AUTH) {
        sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply->status, reply->message);
        return SLUICE_FATAL;
    }
    if (reply->cls == SLUICE_HTTP_REJECTED) {
        sluice_fail(ctx, "Infobip refused %s (HTTP %ld): %s", what, reply->status, reply->message);
        return SLUICE_FATAL;
    }
    sluice_fail(ctx, "could not reach Infobip for %s: %s", what, reply->message);
    return SLUICE_FATAL;
}

static sluice_status setup_attributes(sluice_ctx *ctx, infobip_sink *sink)
{
    infobip_reply list, reply;
    const json_t *items;
    const char *name;
    json_t *type;
    sluice_status status = SLUICE_OK;

    if (!json_is_object(sink->attributes) || json_object_size(sink->attributes) == 0)
        return SLUICE_OK;
    if (infobip_call(ctx, sink, "GET", "/people/2/customAttributes?limit=1000", NULL,
                     INFOBIP_BUCKET_SCHEMA, &list) != SLUICE_HTTP_SUCCESS) {
        status = setup_failure(ctx, &list, "the custom attribute list");
        infobip_reply_clear(&list);
        return status;
    }
    items = attribute_list(list.body);
    json_object_foreach(sink->attributes, name, type) {
        const char *want = json_string_value(type);
        const char *have = items ? existing_type(items, name) : NULL;
        json_t *payload;
        char what[300];

        if (have) {
            if (strcasecmp(have, want) != 0) {
                sluice_fail(ctx, "custom attribute '%s' exists in Infobip as %s, the mapping needs %s",
                            name, have, want);
                status = SLUICE_FATAL;
                break;
            }
            continue;
        }
        payload = json_pack("{s:s, s:s}", "name", name, "dataType", want);
        infobip_call(ctx, sink, "POST", "/people/2/customAttributes", payload,
                     INFOBIP_BUCKET_SCHEMA, &reply);
        json_decref(payload);
        /* 409: someone created it meanwhile; the next start checks its type. */
        if (reply.cls != SLUICE_HTTP_SUCCESS && reply.status != 409) {
            snprintf(what, sizeof(what), "custom attribute '%s' (%s)", name, want);
            status = setup_failure(ctx, &reply, what);
            infobip_reply_clear(&reply);
            break;
        }
        sluice_log(ctx, SLUICE_LOG_INFO, "created custom attribute %s (%s)", name, want);
        infobip_reply_clear(&reply);
    }
    infobip_reply_clear(&list);
    return status;
}

static sluice_status setup_definitions(sluice_ctx *ctx, infobip_sink *sink)
{
    const char *id;
    json_t *schema;

    if (!json_is_object(sink->definitions))
        return SLUICE_OK;
    json_object_foreach(sink->definitions, id, schema) {
        json_t *properties = json_array(), *payload;
        const char *pname;
        json_t *ptype;
        infobip_reply reply;
        sluice_status status = SLUICE_OK;
        char what[200];

        json_object_foreach(schema, pname, ptype)
            json_array_append_new(properties, json_pack("{s:s, s:O}", "name", pname, "type", ptype));
        payload = json_pack("{s:s, s:o}", "definitionId", id, "properties", properties);
        infobip_call(ctx, sink, "POST", "/peopleevents/2/definitions", payload,
                     INFOBIP_BUCKET_SCHEMA, &reply);
        json_decref(payload);
        if (reply.cls != SLUICE_HTTP_SUCCESS && reply.status != 409) {
            snprintf(what, sizeof(what), "event definition '%s'", id);
            status = setup_failure(ctx, &reply, what);
        }
        infobip_reply_clear(&reply);
        if (status != SLUICE_OK)
            return status;
    }
    return SLUICE_OK;
}

static sluice_status setup_tags(sluice_ctx *ctx, infobip_sink *sink)
{
    size_t i;
    json_t *tag;

    json_array_foreach(sink->managed_tags, i, tag) {
        json_t *payload = json_pack("{s:O}", "name", tag);
        infobip_reply reply;
        sluice_status status = SLUICE_OK;
        char what[200];

        infobip_call(ctx, sink, "POST", "/people/2/tags", payload, INFOBIP_BUCKET_SCHEMA, &reply);
        json_decref(payload);
        if (reply.cls != SLUICE_HTTP_SUCCESS && reply.status != 409) {
            snprintf(what, sizeof(what), "tag '%s'", json_string_value(tag));
            status = setup_failure(ctx, &reply, what);
        }
        infobip_reply_clear(&reply);
        if (status != SLUICE_OK)
            return status;
    }
    return SLUICE_OK;
}

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
    free(sink);
}

/* Validate a group of name -> string against allowed values. */
static int check_types(sluice_ctx *ctx, const json_t *group, const char *option,
                       const char *const *allowed, size_t nallowed)
{
    const char *name;
    json_t *value;

    json_object_foreach((json_t *)group, name, value) {
        const char *type = json_string_value(value);
        size_t i;
        for (i = 0; type && i < nallowed; i++) {
            if (strcmp(type, allowed[i]) == 0)
                break;
        }
        if (!type || i == nallowed) {
            sluice_fail(ctx, "option %s: '%s' has type '%s', not one Infobip knows", option, name,
                        type ? type : "(not a string)");
            return -1;
        }
    }
    return 0;
}

static sluice_status infobip_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    static const char *const attribute_types[] = {"STRING", "INTEGER", "DECIMAL", "BOOLEAN", "DATE", "DATE_TIME"};
    static const char *const property_types[] = {"String", "Numeric", "Decimal", "Boolean", "DateTime", "List"};
    infobip_sink *sink = calloc(1, sizeof(*sink));
    const char *base = json_string_value(json_object_get(config, "base_url"));
    const char *key = json_string_value(json_object_get(config, "api_key"));
    json_int_t max_persons = json_integer_value(json_object_get(config, "max_persons_per_request"));
    json_int_t max_events = json_integer_value(json_object_get(config, "max_events_per_request"));
    double rate = json_number_value(json_object_get(config, "requests_per_second"));
    const json_t *tags = json_object_get(config, "tags");
    const char *id;
    json_t *schema;
    size_t len, i;
    json_t *tag;

    if (!sink)
        return SLUICE_FATAL;
    *state = sink;
    if (!base || strncmp(base, "http", 4) != 0) {
        sluice_fail(ctx, "base_url '%s' is not an http(s) URL", base ? base : "");
        return SLUICE_FATAL;
    }
    if (!key || !*key) {
        sluice_fail(ctx, "api_key is empty");
        return SLUICE_FATAL;
    }
    if (max_persons < 1 || max_persons > 1000 || max_events < 1 || max_events > 5000) {
        sluice_fail(ctx, "max_persons_per_request must be 1..1000 and max_events_per_request 1..5000");
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
    {
        const char *too_old = json_string_value(json_object_get(config, "too_old_events"));
        if (!too_old || (strcmp(too_old, "skip") != 0 && strcmp(too_old, "dlq") != 0)) {
            sluice_fail(ctx, "too_old_events must be skip or dlq, not '%s'", too_old ? too_old : "");
            return SLUICE_FATAL;
        }
        sink->too_old_to_dlq = strcmp(too_old, "dlq") == 0;
    }
    sink->max_events = (size_t)max_events;
    if (json_is_array(tags) && json_array_size(tags) > 0)
        sink->managed_tags = json_incref((json_t *)tags);
    else
        sink->managed_tags = json_pack("[s]", "Loyalty");
    json_array_foreach(sink->managed_tags, i, tag) {
        if (!json_is_string(tag)) {
            sluice_fail(ctx, "option tags: element %zu is not a string", i);
            return SLUICE_FATAL;
        }
    }
    if (sink->attributes && check_types(ctx, sink->attributes, "attributes", attribute_types, 6) != 0)
        return SLUICE_FATAL;
    json_object_foreach((json_t *)sink->definitions, id, schema) {
        if (!json_is_object(schema)) {
            sluice_fail(ctx, "event_definitions: '%s' must be a group of property = type", id);
            return SLUICE_FATAL;
        }
        if (check_types(ctx, schema, "event_definitions", property_types, 6) != 0)
            return SLUICE_FATAL;
    }
    sluice_http_throttle(ctx, INFOBIP_BUCKET_PERSONS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_TAGS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_EVENTS, rate, rate > 1 ? rate : 1);
    sluice_http_throttle(ctx, INFOBIP_BUCKET_SCHEMA, rate, rate > 1 ? rate : 1);

    if (json_is_true(json_object_get(config, "setup"))) {
        sluice_status status = setup_attributes(ctx, sink);
        if (status == SLUICE_OK)
            status = setup_definitions(ctx, sink);
        if (status == SLUICE_OK)
            status = setup_tags(ctx, sink);
        if (status != SLUICE_OK)
            return status;
    }
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

/* Remove `tag` from the persons whose externalIds are in `ids` (array),
 * in requests of at most 1000. Returns the reply class of the worst call;
 * on failure the message is left in *failure. */
static sluice_http_class remove_tag(sluice_ctx *ctx, infobip_sink *sink, const char *tag,
                                    const json_t *ids, infobip_reply *failure)
{
    char *escaped = curl_easy_escape(NULL, tag, 0);
    char path[600];
    size_t total = json_array_size(ids);
    sluice_http_class cls = SLUICE_HTTP_SUCCESS;

    if (!escaped)
        return SLUICE_HTTP_RETRYABLE;
    snprintf(path, sizeof(path), "/people/2/tags/%s/persons", escaped);
    curl_free(escaped);
    for (size_t start = 0; start < total && cls == SLUICE_HTTP_SUCCESS; start += TAG_REQUEST_MAX) {
        json_t *people = json_array();
        json_t *payload;
        infobip_reply reply;
        for (size_t i = start; i < total && i < start + TAG_REQUEST_MAX; i++)
            json_array_append_new(people, json_pack("{s:{s:s, s:O}}", "query", "type", "EXTERNAL_ID",
                                                    "identifier", json_array_get(ids, i)));
        payload = json_pack("{s:o}", "people", people);
        cls = infobip_call(ctx, sink, "DELETE", path, payload, INFOBIP_BUCKET_TAGS, &reply);
        json_decref(payload);
        if (cls != SLUICE_HTTP_SUCCESS) {
            infobip_reply_clear(failure);
            *failure = reply;
        } else {
            infobip_reply_clear(&reply);
        }
    }
    return cls;
}

/* After persons idx[0..n) were upserted (outcome DONE), take away every
 * managed tag a person's record does not list. PATCH only ever adds tags,
 * and removing a tag a person does not carry changes nothing, so sending
 * the removal for every managed tag a record lacks is right whatever
 * happened before (replays, restarts): no remembered state can disagree
 * with Infobip. The one exception is a person this very upsert created
 * (created[i], Infobip's per-index status CREATED): it carries exactly the
 * tags just sent, so it needs no removal (a first sync of a program sends
 * none). A failure turns the affected persons back to RETRY or REJECTED. */
static sluice_status reconcile_tags(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                    const size_t *idx, const unsigned char *created, size_t n)
{
    json_t *removals = json_object(); /* tag -> [externalId] */
    json_t *owners = json_object();   /* externalId -> batch index */
    json_t *last_of = json_object();  /* externalId -> its last index into idx[] */
    sluice_status status = SLUICE_OK;
    const char *tag;
    json_t *ids;

    /* A person can appear several times in a chunk (an opt-out, then an
     * opt-in): only the last record says what the person carries now. */
    for (size_t i = 0; i < n; i++) {
        json_t *person = sluice_batch_get(batch, idx[i]);
        const char *external_id = json_string_value(json_object_get(person, "externalId"));
        if (sluice_batch_outcome(batch, idx[i]) == SLUICE_RECORD_DONE && external_id &&
            json_is_array(json_object_get(person, "tags")))
            json_object_set_new(last_of, external_id, json_integer((json_int_t)i));
    }
    {
        const char *external_id;
        json_t *at;
        json_object_foreach(last_of, external_id, at) {
            size_t index = idx[json_integer_value(at)];
            const json_t *tags = json_object_get(sluice_batch_get(batch, index), "tags");
            size_t j;
            json_t *managed;
            if (created[json_integer_value(at)])
                continue;
            json_array_foreach(sink->managed_tags, j, managed) {
                const char *name = json_string_value(managed);
                json_t *list;
                if (list_has(tags, name))
                    continue;
                list = json_object_get(removals, name);
                if (!list) {
                    list = json_array();
                    json_object_set_new(removals, name, list);
                }
                json_array_append_new(list, json_string(external_id));
            }
            json_object_set_new(owners, external_id, json_integer((json_int_t)index));
        }
    }

    json_object_foreach(removals, tag, ids) {
        infobip_reply failure;
        sluice_http_class cls;
        size_t j;
        json_t *id;
        char reason[700];

        memset(&failure, 0, sizeof(failure));
        cls = remove_tag(ctx, sink, tag, ids, &failure);
        if (cls == SLUICE_HTTP_AUTH) {
            sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", failure.status, failure.message);
            status = SLUICE_FATAL;
        } else if (cls != SLUICE_HTTP_SUCCESS) {
            snprintf(reason, sizeof(reason), "could not remove tag '%s' (HTTP %ld): %s", tag,
                     failure.status, failure.message);
            json_array_foreach(ids, j, id) {
                json_t *at = json_object_get(owners, json_string_value(id));
                sluice_batch_set_outcome(batch, (size_t)json_integer_value(at),
                                         cls == SLUICE_HTTP_RETRYABLE ? SLUICE_RECORD_RETRY
                                                                      : SLUICE_RECORD_REJECTED,
                                         reason);
            }
        }
        infobip_reply_clear(&failure);
        if (status != SLUICE_OK)
            break;
    }
    json_decref(removals);
    json_decref(owners);
    json_decref(last_of);
    return status;
}

/* Upsert persons idx[0..n) in one PATCH; a 207 gives per-index outcomes,
 * a refused request is bisected. created[i] (n entries, zeroed by the
 * caller) is set for each person Infobip says it CREATED. */
static sluice_status send_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, unsigned char *created, size_t n)
{
    json_t *persons = json_array(), *payload, *errors, *results, *item;
    infobip_reply reply;
    sluice_status status = SLUICE_OK;
    char reason[700];
    size_t i;
    unsigned char *seen = calloc(n, 1);

    if (!persons || !seen) {
        json_decref(persons);
        free(seen);
        return SLUICE_RETRY;
    }
    for (i = 0; i < n; i++)
        json_array_append(persons, sluice_batch_get(batch, idx[i]));
    payload = json_pack("{s:o}", "persons", persons);
    infobip_call(ctx, sink, "PATCH", "/people/3/persons/upsert", payload, INFOBIP_BUCKET_PERSONS, &reply);
    json_decref(payload);

    switch (reply.cls) {
    case SLUICE_HTTP_SUCCESS:
        errors = json_object_get(reply.body, "errors");
        results = json_object_get(reply.body, "results");
        json_array_foreach(errors, i, item) {
            json_int_t at = json_integer_value(json_object_get(item, "index"));
            char text[512];
            if (at < 0 || (size_t)at >= n || !json_is_integer(json_object_get(item, "index")))
                continue;
            snprintf(reason, sizeof(reason), "Infobip refused the person: %s",
                     infobip_error_text(item, text, sizeof(text)));
            sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
            seen[at] = 1;
        }
        json_array_foreach(results, i, item) {
            json_int_t at = json_integer_value(json_object_get(item, "index"));
            if (at < 0 || (size_t)at >= n || seen[at])
                continue;
            sluice_batch_set_outcome(batch, idx[at], SLUICE_RECORD_DONE, NULL);
            seen[at] = 1;
            created[at] = strcmp(json_string_value(json_object_get(item, "status")) ?
                                 json_string_value(json_object_get(item, "status")) : "",
                                 "CREATED") == 0;
        }
        /* An index Infobip did not answer for is sent again, not assumed. */
        for (i = 0; i < n; i++) {
            if (!seen[i]) {
                sluice_log(ctx, SLUICE_LOG_WARN, "Infobip gave no result for person %zu of %zu: resending", i, n);
                sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
            }
        }
        sluice_metric_add(ctx, "persons_sent", (double)json_array_size(results));
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(ctx, "API key rejected by Infobip (HTTP %ld): %s", reply.status, reply.message);
        status = SLUICE_FATAL;
        break;
    case SLUICE_HTTP_RETRYABLE:
        for (i = 0; i < n; i++)
            sluice_batch_set_outcome(batch, idx[i], SLUICE_RECORD_RETRY, NULL);
        break;
    case SLUICE_HTTP_REJECTED:
        if (n == 1) {
            snprintf(reason, sizeof(reason), "Infobip refused the person (HTTP %ld): %s", reply.status,
                     reply.message);
            sluice_batch_set_outcome(batch, idx[0], SLUICE_RECORD_REJECTED, reason);
            sluice_metric_add(ctx, "records_rejected", 1);
        } else {
            status = send_persons(ctx, sink, batch, idx, created, n / 2);
            if (status == SLUICE_OK)
                status = send_persons(ctx, sink, batch, idx + n / 2, created + n / 2, n - n / 2);
        }
        break;
    }
    infobip_reply_clear(&reply);
    free(seen);
    return status;
}

/* ------------------------------------------------------------------ */
/* write()                                                            */
/* ------------------------------------------------------------------ */

static sluice_status infobip_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    infobip_sink *sink = state;
    size_t count = sluice_batch_count(batch);
    size_t *persons = calloc(count ? count : 1, sizeof(size_t));
    size_t *events = calloc(count ? count : 1, sizeof(size_t));
    unsigned char *created = calloc(count ? count : 1, 1);
    size_t npersons = 0, nevents = 0;
    sluice_status status = SLUICE_OK;

    if (!persons || !events || !created) {
        status = SLUICE_RETRY;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        json_t *record = sluice_batch_get(batch, i);
        if (!record || (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY))
            continue;
        if (json_object_get(record, "definitionId"))
            events[nevents++] = i;
        else if (json_is_string(json_object_get(record, "externalId")))
            persons[npersons++] = i;
        else
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED,
                                     "not an Infobip person (externalId) or event (definitionId)");
    }
    /* Persons first: an event for a person created in this batch needs it. */
    for (size_t start = 0; start < npersons && status == SLUICE_OK; start += sink->max_persons) {
        size_t n = npersons - start < sink->max_persons ? npersons - start : sink->max_persons;
        status = send_persons(ctx, sink, batch, persons + start, created + start, n);
        if (status == SLUICE_OK)
            status = reconcile_tags(ctx, sink, batch, persons + start, created + start, n);
    }
    if (status == SLUICE_OK)
        status = infobip_send_events(ctx, sink, batch, events, nevents);
out:
    free(persons);
    free(events);
    free(created);
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
};
