/* infobip_setup.c: what the infobip-sink makes ready in Infobip before
 * its first upsert (option setup): the custom attributes of the mapping,
 * the event definitions and the tags it owns. Each kind is listed once
 * (GET) and only what is missing is created, so a start against a ready
 * account costs three requests. An attribute whose type, or a definition
 * whose property types, differ from the configuration stop the start with
 * a message naming both. A create answered 409 (made meanwhile, or not in
 * a list that pages) is fine; a 2xx that is not Infobip's answer (a wrong
 * base_url reaching some web server) is not. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "infobip.h"

/* The array of items in a list answer `body` (borrowed): the body itself
 * when it is an array, else the first array under one of `keys` (a
 * NULL-terminated list of wrappers). Returns NULL when there is none. */
static const json_t *item_list(const json_t *body, const char *const *keys)
{
    if (json_is_array(body))
        return body;
    for (size_t i = 0; keys[i]; i++) {
        const json_t *list = json_object_get(body, keys[i]);
        if (json_is_array(list))
            return list;
    }
    return NULL;
}

static const char *const attribute_keys[] = {"customAttributes", "results", "data", "attributes",
                                             NULL};
static const char *const definition_keys[] = {"definitions", "results", "data", NULL};
static const char *const tag_keys[] = {"tags", "results", "data", NULL};

/* The item of `list` (borrowed, may be NULL) whose `key` member is `name`
 * (compared without case when `nocase`), or NULL. A list of plain strings
 * (tags) matches the string itself; such an item is returned as is. */
static const json_t *find_item(const json_t *list, const char *key, const char *name, int nocase)
{
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)list, i, item) {
        const char *have = json_is_string(item) ? json_string_value(item)
                                                : json_string_value(json_object_get(item, key));
        if (have && (nocase ? strcasecmp(have, name) : strcmp(have, name)) == 0)
            return item;
    }
    return NULL;
}

/* Send one setup request on the schema bucket and settle its answer: a
 * 2xx that is not Infobip's (not JSON; for a list, `list_keys` non-NULL,
 * no list in it) is sent again until the stage's budget for such answers
 * is spent (infobip_answer). Returns SLUICE_OK with *reply filled (caller
 * clears; any class, so a 409 can be told apart), or SLUICE_FATAL after
 * sluice_fail() with *reply cleared. */
static sluice_status setup_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                                const char *path, const json_t *payload,
                                const char *const *list_keys, infobip_reply *reply)
{
    for (;;) {
        const char *why;
        sluice_status status;

        infobip_call(ctx, sink, method, path, payload, INFOBIP_BUCKET_SCHEMA, reply);
        if (reply->cls != SLUICE_HTTP_SUCCESS)
            return SLUICE_OK;
        why = reply->unreadable[0] ? reply->unreadable : NULL;
        if (!why && list_keys && !item_list(reply->body, list_keys))
            why = "it holds no list";
        status = infobip_answer(ctx, sink, method, path, reply, why);
        if (status == SLUICE_OK)
            return SLUICE_OK;
        infobip_reply_clear(reply);
        if (status == SLUICE_FATAL)
            return SLUICE_FATAL;
    }
}

/* sluice_fail() for a setup call that did not succeed (`what` names it).
 * Returns SLUICE_FATAL: after the core's retries, nothing can start. */
static sluice_status setup_failure(sluice_ctx *ctx, const infobip_reply *reply, const char *what)
{
    if (reply->cls == SLUICE_HTTP_CONFIG) {
        sluice_fail(ctx, "infobip-sink cannot reach Infobip for %s: %s", what, reply->message);
        return SLUICE_FATAL;
    }
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

/* GET the list at `path` into *list (caller clears; its items are
 * item_list(list->body, keys)). `what` names the list in messages.
 * Returns SLUICE_OK or SLUICE_FATAL after sluice_fail() (*list cleared). */
static sluice_status setup_list(sluice_ctx *ctx, infobip_sink *sink, const char *path,
                                const char *const *keys, const char *what, infobip_reply *list)
{
    sluice_status status;

    if (setup_call(ctx, sink, "GET", path, NULL, keys, list) != SLUICE_OK)
        return SLUICE_FATAL;
    if (list->cls == SLUICE_HTTP_SUCCESS)
        return SLUICE_OK;
    status = setup_failure(ctx, list, what);
    infobip_reply_clear(list);
    return status;
}

/* POST `payload` (borrowed) to `path` to create what `what` names; a 409
 * (it exists: made meanwhile, or beyond the page listed) is fine. Returns
 * SLUICE_OK or SLUICE_FATAL after sluice_fail(). */
static sluice_status setup_create(sluice_ctx *ctx, infobip_sink *sink, const char *path,
                                  const json_t *payload, const char *what)
{
    infobip_reply reply;
    sluice_status status;

    if (!payload) {
        sluice_fail(ctx, "out of memory creating %s", what);
        return SLUICE_FATAL;
    }
    status = setup_call(ctx, sink, "POST", path, payload, NULL, &reply);
    if (status != SLUICE_OK)
        return status;
    if (reply.cls != SLUICE_HTTP_SUCCESS && reply.status != 409)
        status = setup_failure(ctx, &reply, what);
    else if (reply.cls == SLUICE_HTTP_SUCCESS)
        sluice_log(ctx, SLUICE_LOG_INFO, "created %s", what);
    infobip_reply_clear(&reply);
    return status;
}

/* The custom attributes of option attributes: one GET of the list, a POST
 * for each missing one; one that exists with another type stops the start
 * (Infobip cannot change a type). Returns SLUICE_OK or SLUICE_FATAL after
 * sluice_fail(). */
static sluice_status setup_attributes(sluice_ctx *ctx, infobip_sink *sink)
{
    infobip_reply list;
    const json_t *items;
    const char *name;
    json_t *type;
    sluice_status status = SLUICE_OK;

    if (!json_is_object(sink->attributes) || json_object_size(sink->attributes) == 0)
        return SLUICE_OK;
    if (setup_list(ctx, sink, "/people/2/customAttributes?limit=1000", attribute_keys,
                   "the custom attribute list", &list) != SLUICE_OK)
        return SLUICE_FATAL;
    items = item_list(list.body, attribute_keys);
    json_object_foreach(sink->attributes, name, type) {
        const char *want = json_string_value(type);
        const json_t *item = find_item(items, "name", name, 1);
        const char *have = json_string_value(json_object_get(item, "dataType"));
        json_t *payload;
        char what[300];

        if (item) {
            if (!have || strcasecmp(have, want) != 0) {
                sluice_fail(ctx, "custom attribute '%s' exists in Infobip as %s, the mapping needs %s",
                            name, have ? have : "(no dataType)", want);
                status = SLUICE_FATAL;
                break;
            }
            continue;
        }
        payload = json_pack("{s:s, s:s}", "name", name, "dataType", want);
        snprintf(what, sizeof(what), "custom attribute '%s' (%s)", name, want);
        status = setup_create(ctx, sink, "/people/2/customAttributes", payload, what);
        json_decref(payload);
        if (status != SLUICE_OK)
            break;
    }
    infobip_reply_clear(&list);
    return status;
}

/* The type of property `name` in an existing definition `def` (borrowed;
 * its properties an array of {name, type} or an object name -> type), or
 * NULL when it has none. */
static const char *existing_property_type(const json_t *def, const char *name)
{
    const json_t *properties = json_object_get(def, "properties");

    if (!properties)
        properties = json_object_get(def, "fields");
    if (json_is_object(properties))
        return json_string_value(json_object_get(properties, name));
    return json_string_value(json_object_get(find_item(properties, "name", name, 0), "type"));
}

/* Check an existing definition `def` against the configured `schema`
 * (property -> type): every configured property must be there with the
 * same type (names exact, types without case); properties the
 * configuration does not use are fine. Returns 0, or -1 after
 * sluice_fail() naming the first difference. */
static int definition_conflicts(sluice_ctx *ctx, const char *id, const json_t *def,
                                const json_t *schema)
{
    const char *pname;
    json_t *ptype;

    json_object_foreach((json_t *)schema, pname, ptype) {
        const char *want = json_string_value(ptype);
        const char *have = existing_property_type(def, pname);
        if (!have) {
            sluice_fail(ctx, "event definition '%s' exists in Infobip without the property '%s' "
                        "(%s) the configuration needs; Infobip would refuse the events",
                        id, pname, want);
            return -1;
        }
        if (strcasecmp(have, want) != 0) {
            sluice_fail(ctx, "event definition '%s' exists in Infobip with property '%s' as %s, "
                        "the configuration needs %s", id, pname, have, want);
            return -1;
        }
    }
    return 0;
}

/* The event definitions of option event_definitions: one GET of the list,
 * a POST for each missing one; one that exists with different property
 * types stops the start. Returns SLUICE_OK or SLUICE_FATAL after
 * sluice_fail(). */
static sluice_status setup_definitions(sluice_ctx *ctx, infobip_sink *sink)
{
    infobip_reply list;
    const json_t *items;
    const char *id;
    json_t *schema;
    sluice_status status = SLUICE_OK;

    if (!json_is_object(sink->definitions) || json_object_size(sink->definitions) == 0)
        return SLUICE_OK;
    if (setup_list(ctx, sink, "/peopleevents/2/definitions", definition_keys,
                   "the event definition list", &list) != SLUICE_OK)
        return SLUICE_FATAL;
    items = item_list(list.body, definition_keys);
    json_object_foreach(sink->definitions, id, schema) {
        const json_t *existing = find_item(items, "definitionId", id, 0);
        json_t *properties, *payload;
        const char *pname;
        json_t *ptype;
        char what[200];

        if (existing) {
            if (definition_conflicts(ctx, id, existing, schema) != 0) {
                status = SLUICE_FATAL;
                break;
            }
            continue;
        }
        properties = json_array();
        json_object_foreach(schema, pname, ptype)
            json_array_append_new(properties, json_pack("{s:s, s:O}", "name", pname, "type", ptype));
        payload = properties ? json_pack("{s:s, s:o}", "definitionId", id, "properties", properties)
                             : NULL;
        snprintf(what, sizeof(what), "event definition '%s'", id);
        status = setup_create(ctx, sink, "/peopleevents/2/definitions", payload, what);
        json_decref(payload);
        if (status != SLUICE_OK)
            break;
    }
    infobip_reply_clear(&list);
    return status;
}

/* The tags of option tags: one GET of the list, a POST for each missing
 * one. Returns SLUICE_OK or SLUICE_FATAL after sluice_fail(). */
static sluice_status setup_tags(sluice_ctx *ctx, infobip_sink *sink)
{
    infobip_reply list;
    const json_t *items;
    sluice_status status = SLUICE_OK;
    size_t i;
    json_t *tag;

    if (json_array_size(sink->managed_tags) == 0)
        return SLUICE_OK;
    if (setup_list(ctx, sink, "/people/2/tags", tag_keys, "the tag list", &list) != SLUICE_OK)
        return SLUICE_FATAL;
    items = item_list(list.body, tag_keys);
    json_array_foreach(sink->managed_tags, i, tag) {
        json_t *payload;
        char what[300];

        if (find_item(items, "name", json_string_value(tag), 0))
            continue;
        payload = json_pack("{s:O}", "name", tag);
        snprintf(what, sizeof(what), "tag '%s'", json_string_value(tag));
        status = setup_create(ctx, sink, "/people/2/tags", payload, what);
        json_decref(payload);
        if (status != SLUICE_OK)
            break;
    }
    infobip_reply_clear(&list);
    return status;
}

/* infobip_setup: see infobip.h. */
sluice_status infobip_setup(sluice_ctx *ctx, infobip_sink *sink)
{
    sluice_status status = setup_attributes(ctx, sink);

    if (status == SLUICE_OK)
        status = setup_definitions(ctx, sink);
    if (status == SLUICE_OK)
        status = setup_tags(ctx, sink);
    return status;
}
