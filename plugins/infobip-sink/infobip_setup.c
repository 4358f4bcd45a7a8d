/* infobip_setup.c: what the infobip-sink creates in Infobip before its
 * first upsert (option setup): the custom attributes of the mapping (an
 * existing one must have the same type), the event definitions and the
 * tags it owns. An attribute, definition or tag that already exists (409)
 * is fine; a 2xx that is not Infobip's answer (a wrong base_url reaching
 * some web server) is not. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "infobip.h"

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

/* Send one setup request on the schema bucket and settle its answer: a
 * 2xx that is not Infobip's (not JSON; for the attribute list, no list in
 * it) is sent again until the stage's budget for such answers is spent
 * (infobip_answer). Returns SLUICE_OK with *reply filled (caller clears;
 * any class, so a 409 can be told apart), or SLUICE_FATAL after
 * sluice_fail() with *reply cleared. */
static sluice_status setup_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                                const char *path, const json_t *payload, infobip_reply *reply)
{
    for (;;) {
        const char *why;
        sluice_status status;

        infobip_call(ctx, sink, method, path, payload, INFOBIP_BUCKET_SCHEMA, reply);
        if (reply->cls != SLUICE_HTTP_SUCCESS)
            return SLUICE_OK;
        why = reply->unreadable[0] ? reply->unreadable : NULL;
        if (!why && strcmp(method, "GET") == 0 && !attribute_list(reply->body))
            why = "it holds no list of custom attributes";
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

static sluice_status setup_attributes(sluice_ctx *ctx, infobip_sink *sink)
{
    infobip_reply list, reply;
    const json_t *items;
    const char *name;
    json_t *type;
    sluice_status status = SLUICE_OK;

    if (!json_is_object(sink->attributes) || json_object_size(sink->attributes) == 0)
        return SLUICE_OK;
    if (setup_call(ctx, sink, "GET", "/people/2/customAttributes?limit=1000", NULL, &list) !=
        SLUICE_OK)
        return SLUICE_FATAL;
    if (list.cls != SLUICE_HTTP_SUCCESS) {
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
        status = setup_call(ctx, sink, "POST", "/people/2/customAttributes", payload, &reply);
        json_decref(payload);
        if (status != SLUICE_OK)
            break;
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
        status = setup_call(ctx, sink, "POST", "/peopleevents/2/definitions", payload, &reply);
        json_decref(payload);
        if (status != SLUICE_OK)
            return status;
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

        status = setup_call(ctx, sink, "POST", "/people/2/tags", payload, &reply);
        json_decref(payload);
        if (status != SLUICE_OK)
            return status;
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

sluice_status infobip_setup(sluice_ctx *ctx, infobip_sink *sink)
{
    sluice_status status = setup_attributes(ctx, sink);

    if (status == SLUICE_OK)
        status = setup_definitions(ctx, sink);
    if (status == SLUICE_OK)
        status = setup_tags(ctx, sink);
    return status;
}
