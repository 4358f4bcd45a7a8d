/* ac_erase.c: erasure requests in Annex Cloud webhooks and Data Feed
 * deletions files (ac_erase.h). Annex
 * Cloud publishes no webhook event names (shared/reference/annexcloud-
 * api.md §11.2), so the names are an option, USER_DELETE and GDPR_ERASE by
 * default; a member's absence from a listing is never one. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ac_convert.h"
#include "ac_erase.h"
#include "ac_webhook_payload.h"

int ac_erase_is_request(const ac_source *src, const json_t *payload)
{
    return ac_erase_type_listed(json_object_get(src->config, "erase_event_types"), payload);
}

int ac_erase_type_listed(const json_t *names, const json_t *payload)
{
    const char *type = json_is_object(payload) ? ac_webhook_event_type(payload) : NULL;
    size_t i;
    const json_t *name;

    if (!type)
        return 0;
    json_array_foreach(names, i, name) {
        if (json_is_string(name) && strcasecmp(json_string_value(name), type) == 0)
            return 1;
    }
    return 0;
}

/* The member object of the payload (borrowed): "data", "member" or "user"
 * as the member conversion reads them, or NULL. */
static const json_t *payload_member(const json_t *payload)
{
    static const char *const keys[] = {"data", "member", "user"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *data = json_object_get(payload, keys[i]);
        if (json_is_object(data))
            return ac_user_object(data);
    }
    return NULL;
}

json_t *ac_erase_record(const json_t *payload, char *err, size_t errlen)
{
    const json_t *member = payload_member(payload);
    const json_t *id = json_object_get(member, "id");
    const char *email = json_string_value(json_object_get(member, "email"));
    const char *when = json_string_value(json_object_get(payload, "timestamp"));
    char id_text[64], requested[21], lower[320];
    time_t now = time(NULL);
    struct tm tm;
    json_t *record;

    if (json_is_integer(id)) {
        snprintf(id_text, sizeof(id_text), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    } else if (json_is_string(id) && *json_string_value(id) &&
               json_string_length(id) < sizeof(id_text)) {
        snprintf(id_text, sizeof(id_text), "%s", json_string_value(id));
    } else {
        snprintf(err, errlen, "erasure request without a member id (data.id)");
        return NULL;
    }
    if (!when || ac_timestamp_canonical(when, requested) != 0) {
        gmtime_r(&now, &tm);
        strftime(requested, sizeof(requested), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    record = json_pack("{s:s,s:s,s:s,s:s}", "kind", "erase", "loyalty_id", id_text,
                       "requested_at", requested, "via", "webhook");
    if (record && email && *email && strlen(email) < sizeof(lower)) {
        size_t n = strlen(email);
        for (size_t i = 0; i <= n; i++)
            lower[i] = (char)tolower((unsigned char)email[i]);
        json_object_set_new(record, "email", json_string(lower));
    }
    if (!record)
        snprintf(err, errlen, "out of memory");
    return record;
}

json_t *ac_erase_from_row(const json_t *row)
{
    json_t *record = json_pack("{s:s,s:O,s:O,s:s}", "kind", "erase", "loyalty_id",
                               json_object_get(row, "loyalty_id"), "requested_at",
                               json_object_get(row, "as_of"), "via", "feed");
    const json_t *email = json_object_get(row, "email");

    if (record && json_is_string(email) && json_string_length(email) > 0)
        json_object_set(record, "email", (json_t *)email);
    return record;
}
