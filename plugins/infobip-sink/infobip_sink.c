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

#include "infobip.h"

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
     "requests sent at once: the upserts of a batch, then their tag changes, then its event requests; 1 sends one after another", .range = "1..16"},
    {"setup", SLUICE_OPT_BOOL, "true", 0, 0,
     "list custom attributes, event definitions and tags at start (one request each) and create what is missing"},
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
            if (*base && !infobip_list_has(tags, base))
                sluice_check_error(check, "tags", "the field-mapper %d stage(s) up gives persons "
                                   "the tag '%s', which is not in this sink's tags: add it, or "
                                   "it is never created and never taken away", -offset, base);
        }
        json_object_foreach(json_object_get(mapper, "tags"), segment, name) {
            if (json_is_string(name) && !infobip_list_has(tags, json_string_value(name)))
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
    infobip_person_list persons = {
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
        status = infobip_send_persons(ctx, sink, batch, &persons);
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
