/* fuzz_acconvert.c: libFuzzer harness of the Annex Cloud -> canonical
 * conversion on webhook payloads: the payload rules and conversion
 * (plugins/annexcloud-source/ac_webhook_payload.c) over ac_convert.c. The
 * input is a webhook body. Properties: a payload the listener accepts
 * (ac_webhook_refusal NULL, without enrichment) converts (ac_webhook_member
 * AC_OK); a member is a "member" with the data's id as loyalty_id and the
 * payload's timestamp as as_of; it dumps as JSON; its change hash ignores
 * as_of; an event made from it (opt-in, opt-out) is that member's, with a
 * 32-hex id; every date and timestamp the converter accepts converts to
 * itself. The same data is also converted with its activity ledger instead
 * of the summary, as API mode does. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/annexcloud-source/ac_convert.h"
#include "../../plugins/annexcloud-source/ac_webhook_payload.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_acconvert";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
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

/* An event made from `member` is that member's canonical event. */
static void check_event(const json_t *payload, const json_t *member)
{
    json_t *event = ac_webhook_event(ac_webhook_event_type(payload), member);

    if (!event)
        return;
    if (strcmp(text_of(json_object_get(event, "kind")), "event") != 0 ||
        !fuzz_is_event_id(json_string_value(json_object_get(event, "event_id"))) ||
        !json_equal(json_object_get(event, "loyalty_id"), json_object_get(member, "loyalty_id")))
        fuzz_fail("the payload's event is not a canonical event of its member");
    json_decref(event);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *payload = json_loadb((const char *)data, size, 0, NULL);
    json_t *member = NULL;
    const json_t *member_data, *user, *when;
    char as_of[21], err[512] = "";
    ac_member_parts parts;
    ac_result result;

    if (!json_is_object(payload))
        goto out;
    check_strings(payload, 0);
    /* Without a client a thin payload is refused at intake and rejected
     * by the conversion: only payloads with loyalty data convert. */
    result = ac_webhook_member(payload, NULL, &member, err, sizeof(err));
    if (!ac_webhook_refusal(payload, 0) && result != AC_OK)
        fuzz_fail("the listener accepts a payload the conversion rejects: %s", err);
    if (result != AC_OK) {
        if (member || !err[0])
            fuzz_fail("a rejected payload %s", member ? "still has a member" : "has no reason");
        goto out;
    }
    member_data = json_object_get(payload, "data");
    if (!json_is_object(member_data))
        member_data = json_object_get(payload, "member");
    if (!json_is_object(member_data))
        member_data = json_object_get(payload, "user");
    user = ac_user_object(member_data);
    /* as_of is the payload's timestamp when it converts (else the clock's). */
    when = json_object_get(payload, "timestamp");
    if (json_is_string(when) && ac_timestamp_canonical(json_string_value(when), as_of) == 0 &&
        strcmp(text_of(json_object_get(member, "as_of")), as_of) != 0)
        fuzz_fail("the member's as_of is not the payload's timestamp %s", as_of);
    snprintf(as_of, sizeof(as_of), "%s", text_of(json_object_get(member, "as_of")));
    check_member(member, user, as_of);
    check_event(payload, member);
    /* The same data with the activity ledger instead of the summary (API mode). */
    json_decref(member);
    memset(&parts, 0, sizeof(parts));
    parts.user = member_data;
    parts.points = json_object_get(member_data, "points");
    parts.tiers = json_object_get(member_data, "tiers");
    parts.reward = json_object_get(member_data, "rewards");
    parts.activity = json_object_get(member_data, "activity");
    parts.segments = json_object_get(member_data, "segments");
    member = ac_member_canonical(&parts, as_of);
    if (!member)
        fuzz_fail("the data converts with its summary but not with its ledger");
    check_member(member, user, as_of);
out:
    json_decref(member);
    json_decref(payload);
    return 0;
}
