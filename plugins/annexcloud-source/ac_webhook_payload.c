/* ac_webhook_payload.c: webhook payload rules and conversion (see
 * ac_webhook_payload.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ac_convert.h"
#include "ac_webhook_payload.h"

static const char *const event_id_keys[] = {"eventId", "event_id", "id", NULL};
static const char *const event_type_keys[] = {"eventType", "event_type", "event", "type", NULL};
static const char *const data_keys[] = {"data", "member", "user", NULL};
static const char *const time_keys[] = {"timestamp", "createdAt", "time", NULL};

/* First non-empty string among `keys` in object (borrowed), or NULL. */
static const char *first_string(const json_t *object, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *value = json_string_value(json_object_get(object, *keys));
        if (value && *value)
            return value;
    }
    return NULL;
}

/* The member part of a payload (borrowed), or NULL. */
static const json_t *payload_data(const json_t *payload)
{
    for (const char *const *key = data_keys; *key; key++) {
        const json_t *data = json_object_get(payload, *key);
        if (json_is_object(data))
            return data;
    }
    return NULL;
}

/* The member id of the data (borrowed): a non-empty string or an integer,
 * read where ac_member_canonical reads it; NULL if there is none. */
static const json_t *member_id(const json_t *data)
{
    const json_t *id = json_object_get(ac_user_object(data), "id");

    if (json_is_integer(id) || (json_is_string(id) && *json_string_value(id)))
        return id;
    return NULL;
}

/* 1 if the data carries loyalty data of its own (no API call needed). */
static int has_loyalty_data(const json_t *data)
{
    return json_object_get(data, "points") != NULL || json_object_get(data, "tiers") != NULL;
}

const char *ac_webhook_event_id(const json_t *payload)
{
    return first_string(payload, event_id_keys);
}

const char *ac_webhook_event_type(const json_t *payload)
{
    return first_string(payload, event_type_keys);
}

const char *ac_webhook_refusal(const json_t *payload, int can_enrich)
{
    const json_t *data;

    if (!json_is_object(payload))
        return "body is not a JSON object";
    if (!ac_webhook_event_id(payload))
        return "payload needs an eventId";
    if (!ac_webhook_event_type(payload))
        return "payload needs an eventType";
    data = payload_data(payload);
    if (!data)
        return "payload needs data (an object with the member)";
    if (!member_id(data)) {
        if (json_object_get(ac_user_object(data), "email"))
            return "data has an email but no member id: a member is identified by its Annex Cloud id, "
                   "an email alone cannot be converted";
        return "data has no member id";
    }
    if (!has_loyalty_data(data) && !can_enrich)
        return "data has no loyalty data (points/tiers) and cannot be enriched through the API "
               "(enrich is off or base_url is not set)";
    return NULL;
}

ac_result ac_webhook_member(const json_t *payload, ac_client *client, json_t **member, char *err,
                            size_t errlen)
{
    const json_t *data = payload_data(payload), *id = member_id(data);
    const char *when = first_string(payload, time_keys);
    char as_of[21], id_text[32];
    ac_member_parts parts;

    *member = NULL;
    if (!when || ac_timestamp_canonical(when, as_of) != 0)
        ac_now_canonical(as_of);
    if (!id) {
        snprintf(err, errlen, "payload data has no member id");
        return AC_REJECTED;
    }
    if (!has_loyalty_data(data)) {
        const char *text = json_string_value(id);
        if (!client || !client->base_url) {
            snprintf(err, errlen, "payload has no loyalty data and enrichment is %s",
                     client ? "impossible (no base_url)" : "off");
            return AC_REJECTED;
        }
        if (!text) {
            snprintf(id_text, sizeof(id_text), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            text = id_text;
        }
        return ac_fetch_member(client, text, NULL, as_of, member, err, errlen);
    }
    memset(&parts, 0, sizeof(parts));
    parts.user = data;
    parts.points = json_object_get(data, "points");
    parts.tiers = json_object_get(data, "tiers");
    parts.reward = json_object_get(data, "rewards");
    if (!parts.reward)
        parts.reward = json_object_get(data, "reward");
    parts.activity_summary = json_object_get(data, "activitySummary");
    parts.segments = json_object_get(data, "segments");
    *member = ac_member_canonical(&parts, as_of);
    if (!*member) {
        snprintf(err, errlen, "payload data has no member id");
        return AC_REJECTED;
    }
    return AC_OK;
}

/* Tier events are not built here on purpose: the API's `previousTier` is
 * the tier below the current one on the ladder (reference §6), not the
 * tier the member came from, so a payload does not say what a downgrade
 * went down from. */
json_t *ac_webhook_event(const char *event_type, const json_t *member)
{
    const char *id = json_string_value(json_object_get(member, "loyalty_id"));
    const char *type = NULL;
    char discriminator[300], occurred[32], event_id[33];
    json_t *properties = NULL;

    if (!id || !event_type)
        return NULL;
    if (!strcasecmp(event_type, "OPT_IN") || !strcasecmp(event_type, "USER_CREATE")) {
        const char *date = json_string_value(json_object_get(member, "opt_in_date"));
        const char *status = json_string_value(json_object_get(member, "opt_in_status"));
        if (!date || !status || strcmp(status, "yes") != 0)
            return NULL;
        type = "opt_in";
        snprintf(discriminator, sizeof(discriminator), "%s", date);
        snprintf(occurred, sizeof(occurred), "%s", date);
        properties = json_pack("{s:s}", "opt_in_date", date);
    } else if (!strcasecmp(event_type, "OPT_OUT")) {
        const char *date = json_string_value(json_object_get(member, "opt_out_date"));
        if (!date)
            return NULL;
        type = "opt_out";
        snprintf(discriminator, sizeof(discriminator), "%s", date);
        snprintf(occurred, sizeof(occurred), "%sT00:00:00Z", date);
        properties = json_pack("{s:s}", "opt_out_date", date);
    } else {
        return NULL;
    }
    ac_event_id(id, type, discriminator, event_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:O?, s:s, s:s, s:o}", "kind", "event", "event_type", type,
                     "event_id", event_id, "loyalty_id", id, "email", json_object_get(member, "email"),
                     "occurred_at", occurred, "origin", "source", "properties", properties);
}
