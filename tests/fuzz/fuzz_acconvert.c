/* fuzz_acconvert.c: libFuzzer harness of the Annex Cloud -> canonical
 * conversion (plugins/annexcloud-source/ac_convert.c) on webhook
 * payloads. The input is a webhook body. It goes the way
 * ac_mode_webhook.c takes it: a JSON object with an event id, an event
 * type and member data ("data", "member" or "user"); a payload carrying
 * loyalty data (points or tiers) is converted with the payload's
 * timestamp as as_of (one without goes to the API instead, which a
 * harness cannot do). That glue is static in ac_mode_webhook.c, so its
 * few lines are repeated below; the conversion itself is the plugin's.
 * Properties: a member comes out exactly when the data has a string or
 * integer id; it is a "member" with that loyalty_id and the as_of given;
 * it dumps as JSON; its change hash ignores as_of and is stable; every
 * date and timestamp the converter accepts converts again to itself. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/annexcloud-source/ac_convert.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_acconvert";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* First non-empty string among `keys` in object, or NULL (as in
 * ac_mode_webhook.c). */
static const char *first_string(const json_t *object, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *value = json_string_value(json_object_get(object, *keys));
        if (value && *value)
            return value;
    }
    return NULL;
}

static const char *const event_id_keys[] = {"eventId", "event_id", "id", NULL};
static const char *const event_type_keys[] = {"eventType", "event_type", "event", "type", NULL};
static const char *const data_keys[] = {"data", "member", "user", NULL};
static const char *const time_keys[] = {"timestamp", "createdAt", "time", NULL};

/* The payload's member data object (as in ac_mode_webhook.c), or NULL. */
static const json_t *payload_data(const json_t *payload)
{
    for (const char *const *key = data_keys; *key; key++) {
        const json_t *data = json_object_get(payload, *key);
        if (json_is_object(data))
            return data;
    }
    return NULL;
}

/* A string the converter accepted as a date or time must be canonical
 * and convert to itself again. */
static void check_time_text(const char *text)
{
    char stamp[21], again[21], date[11], date_again[11];

    if (ac_timestamp_canonical(text, stamp) == 0) {
        if (strlen(stamp) != 20)
            fuzz_fail("timestamp '%s' became '%s', not YYYY-MM-DDTHH:MM:SSZ", text, stamp);
        if (ac_timestamp_canonical(stamp, again) != 0 || strcmp(stamp, again) != 0)
            fuzz_fail("timestamp '%s' -> '%s' does not convert to itself", text, stamp);
    }
    if (ac_date_canonical(text, date) == 0) {
        if (strlen(date) != 10)
            fuzz_fail("date '%s' became '%s', not YYYY-MM-DD", text, date);
        if (ac_date_canonical(date, date_again) != 0 || strcmp(date, date_again) != 0)
            fuzz_fail("date '%s' -> '%s' does not convert to itself", text, date);
    }
}

/* check_time_text on every string inside value (depth-first). */
static void check_strings(const json_t *value, int depth)
{
    const char *key;
    json_t *item;
    size_t i;

    if (depth > 8)
        return;
    if (json_is_string(value)) {
        check_time_text(json_string_value(value));
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, item)
            check_strings(item, depth + 1);
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, item)
            check_strings(item, depth + 1);
    }
}

/* value as a string, or "" when it is not one. */
static const char *text_of(const json_t *value)
{
    const char *text = json_string_value(value);

    return text ? text : "";
}

/* The properties of a converted member (see the file comment). */
static void check_member(const json_t *member, const json_t *user, const char *as_of)
{
    const json_t *id = json_object_get(user, "id");
    char hash[65], hash_again[65];
    json_t *copy;
    char *text;

    if (!json_is_object(member) ||
        strcmp(text_of(json_object_get(member, "kind")), "member") != 0)
        fuzz_fail("the member is not a {\"kind\":\"member\"} object");
    if (!json_is_string(json_object_get(member, "loyalty_id")) ||
        (json_is_string(id) && !json_equal(id, json_object_get(member, "loyalty_id"))))
        fuzz_fail("the member's loyalty_id is not the data's id");
    if (strcmp(text_of(json_object_get(member, "as_of")), as_of) != 0)
        fuzz_fail("the member's as_of is not '%s'", as_of);
    text = json_dumps(member, JSON_COMPACT);
    if (!text)
        fuzz_fail("the member does not dump as JSON");
    free(text);
    ac_member_hash(member, hash);
    copy = json_deep_copy(member);
    if (!copy)
        abort();
    json_object_set_new(copy, "as_of", json_string("1999-12-31T23:59:59Z"));
    ac_member_hash(copy, hash_again);
    if (strlen(hash) != 64 || strcmp(hash, hash_again) != 0)
        fuzz_fail("the change hash depends on as_of or is not 64 hex digits: %s / %s", hash,
                  hash_again);
    json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *payload = json_loadb((const char *)data, size, 0, NULL);
    const json_t *member_data, *user;
    const char *when;
    char as_of[21];
    ac_member_parts parts;
    json_t *member = NULL;

    if (!json_is_object(payload))
        goto out;
    check_strings(payload, 0);
    member_data = payload_data(payload);
    /* What the listener refuses with 400 never reaches the converter. */
    if (!first_string(payload, event_id_keys) || !first_string(payload, event_type_keys) ||
        !member_data ||
        !(json_string_value(json_object_get(member_data, "id")) ||
          json_string_value(json_object_get(member_data, "email"))))
        goto out;
    /* Thin payloads are enriched through the API: not here. */
    if (!json_object_get(member_data, "points") && !json_object_get(member_data, "tiers"))
        goto out;
    when = first_string(payload, time_keys);
    if (!when || ac_timestamp_canonical(when, as_of) != 0)
        snprintf(as_of, sizeof(as_of), "2026-01-01T00:00:00Z");
    memset(&parts, 0, sizeof(parts));
    parts.user = member_data;
    parts.points = json_object_get(member_data, "points");
    parts.tiers = json_object_get(member_data, "tiers");
    parts.reward = json_object_get(member_data, "rewards");
    if (!parts.reward)
        parts.reward = json_object_get(member_data, "reward");
    parts.activity_summary = json_object_get(member_data, "activitySummary");
    parts.segments = json_object_get(member_data, "segments");
    member = ac_member_canonical(&parts, as_of);
    user = ac_user_object(member_data);
    {
        const json_t *id = json_object_get(user, "id");
        int has_id = json_is_string(id) || json_is_integer(id);
        if (has_id != (member != NULL))
            fuzz_fail("a member %s although the data %s an id", member ? "came out" : "is missing",
                      has_id ? "has" : "has no");
    }
    if (member)
        check_member(member, user, as_of);
    /* The same with the activity ledger instead of the summary (API mode). */
    json_decref(member);
    parts.activity_summary = NULL;
    parts.activity = json_object_get(member_data, "activity");
    member = ac_member_canonical(&parts, as_of);
    if (member)
        check_member(member, user, as_of);
out:
    json_decref(member);
    json_decref(payload);
    return 0;
}
