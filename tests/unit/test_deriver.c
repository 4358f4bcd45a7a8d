/* test_deriver.c: unit tests (Check) of the tier-event-deriver's rules
 * (plugins/tier-event-deriver/deriver_rules.c) and its anniversary index:
 * one test per derivation rule of docs/loyalty-schema.md, event ids
 * against SHA-256 values computed with sha256sum. */
#include <config.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "deriver_rules.h"
#include "anniv_index.h"
#include "loytime.h"

static deriver_config rules;

static void setup_rules(const char *options_text)
{
    char err[256] = "";
    json_t *options = json_loads(options_text, 0, NULL);
    ck_assert(options != NULL);
    ck_assert_msg(deriver_config_parse(options, &rules, err, sizeof(err)) == 0, "%s", err);
    json_decref(options);
}

static void setup_default(void)
{
    setup_rules("{\"tier_ladder\":[\"Bronze\",\"Silver\",\"Gold\",\"Platinum\"],"
                "\"close_threshold\":\"100\"}");
}

static void teardown_rules(void)
{
    deriver_config_clear(&rules);
}

/* A member's evolving state and the deriver clock, as the plugin keeps them. */
typedef struct member {
    json_t *state;
    int64_t clock_day;
} member;

static int64_t day_of_text(const char *date)
{
    int64_t days;
    ck_assert(loytime_parse_date(date, &days) == 0);
    return days;
}

/* Feed record text; expect DERIVER_OK; return the derived events (caller
 * decrefs). */
static json_t *feed(member *m, const char *record_text)
{
    char reason[256] = "";
    json_t *record = json_loads(record_text, 0, NULL), *events = json_array(), *next = NULL;
    int64_t as_of;
    ck_assert_msg(record != NULL, "bad test record %s", record_text);
    ck_assert_msg(deriver_validate(&rules, record, &as_of, reason, sizeof(reason)) == 0, "%s", reason);
    if (loytime_day_of(as_of) > m->clock_day)
        m->clock_day = loytime_day_of(as_of);
    ck_assert_int_eq(deriver_step(&rules, m->state, record, m->clock_day, events, &next, reason,
                                  sizeof(reason)), DERIVER_OK);
    json_decref(m->state);
    m->state = next;
    json_decref(record);
    return events;
}

static const char *event_type(const json_t *events, size_t i)
{
    return json_string_value(json_object_get(json_array_get(events, i), "event_type"));
}

static const char *event_field(const json_t *events, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(events, i), key));
}

static json_int_t event_property_int(const json_t *events, size_t i, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(json_array_get(events, i), "properties"), key));
}

static const char *event_property(const json_t *events, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_object_get(json_array_get(events, i), "properties"), key));
}

START_TEST(test_event_id_matches_sha256sum)
{
    char id[33];
    /* printf '%s' 'L1|tier_upgrade|Silver:Gold:2026-02-14' | sha256sum | cut -c1-32 */
    deriver_event_id("L1", "tier_upgrade", "Silver:Gold:2026-02-14", id);
    ck_assert_str_eq(id, "c88e15f61375f753648e26691106ab65");
    /* printf '%s' 'L1|point_accrual|earned:100:250' | sha256sum | cut -c1-32 */
    deriver_event_id("L1", "point_accrual", "earned:100:250", id);
    ck_assert_str_eq(id, "b68e2623298af7dfeb728111ddbe3801");
}
END_TEST

START_TEST(test_first_sight)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"opt_in_status\":\"yes\",\"opt_in_date\":\"2026-01-10T09:00:00Z\","
                              "\"earned_points\":100,\"used_points\":0,\"current_tier\":\"Silver\","
                              "\"tier_achieve_date\":\"2026-01-01\",\"points_req_for_next_tier\":900,"
                              "\"next_tier\":\"Gold\"}");
    /* Only the opt-in: no tier or point events on first sight. */
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "opt_in");
    /* printf '%s' 'L1|opt_in|2026-01-10T09:00:00Z' | sha256sum | cut -c1-32 */
    ck_assert_str_eq(event_field(events, 0, "event_id"), "7fae9438c89b506ff2c4ef4612479d25");
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-01-10T09:00:00Z");
    ck_assert_str_eq(event_field(events, 0, "origin"), "derived");
    ck_assert_str_eq(event_field(events, 0, "kind"), "event");
    ck_assert_str_eq(event_property(events, 0, "opt_in_date"), "2026-01-10T09:00:00Z");
    json_decref(events);
    json_decref(m.state);

    /* Opted out and within the threshold on first sight: close-to only. */
    m.state = NULL;
    events = feed(&m, "{\"loyalty_id\":\"L2\",\"as_of\":\"2026-01-10T09:00:00Z\","
                      "\"opt_in_status\":\"no\",\"current_tier\":\"Silver\","
                      "\"points_req_for_next_tier\":40,\"next_tier\":\"Gold\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "close_to_tier_upgrade");
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_points_accrual_and_redemption)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"earned_points\":100,\"used_points\":50}");
    ck_assert_int_eq(json_array_size(events), 0);
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-11T10:00:00Z\","
                      "\"earned_points\":250,\"used_points\":80,\"available_points\":170,"
                      "\"email\":\"a@example.com\"}");
    ck_assert_int_eq(json_array_size(events), 2);
    ck_assert_str_eq(event_type(events, 0), "point_accrual");
    ck_assert_str_eq(event_field(events, 0, "event_id"), "b68e2623298af7dfeb728111ddbe3801");
    ck_assert_int_eq(event_property_int(events, 0, "points"), 150);
    ck_assert_int_eq(event_property_int(events, 0, "earned_points"), 250);
    ck_assert_int_eq(event_property_int(events, 0, "available_points"), 170);
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-01-11T10:00:00Z");
    ck_assert_str_eq(event_field(events, 0, "email"), "a@example.com");
    ck_assert_str_eq(event_type(events, 1), "point_redemption");
    ck_assert_int_eq(event_property_int(events, 1, "points"), 30);
    json_decref(events);
    /* Decreases derive nothing. */
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-12T10:00:00Z\","
                      "\"earned_points\":200,\"used_points\":80}");
    ck_assert_int_eq(json_array_size(events), 0);
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_opt_out_and_back_in)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"opt_in_status\":\"yes\",\"opt_in_date\":\"2026-01-10T09:00:00Z\"}");
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-03-05T22:00:00Z\",\"opt_in_status\":\"no\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "opt_out");
    /* No opt_out_date: the as_of date. */
    ck_assert_str_eq(event_property(events, 0, "opt_out_date"), "2026-03-05");
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-03-05T00:00:00Z");
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-04-01T08:00:00Z\","
                      "\"opt_in_status\":\"yes\",\"opt_in_date\":\"2026-04-01T07:59:00Z\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "opt_in");
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-04-01T07:59:00Z");
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_skipping_two_tiers_is_one_upgrade)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"current_tier\":\"Bronze\",\"tier_achieve_date\":\"2025-01-01\"}");
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-14T09:00:00Z\","
                      "\"current_tier\":\"Platinum\",\"tier_achieve_date\":\"2026-02-14\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "tier_upgrade");
    ck_assert_str_eq(event_property(events, 0, "from_tier"), "Bronze");
    ck_assert_str_eq(event_property(events, 0, "to_tier"), "Platinum");
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-02-14T00:00:00Z");
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_downgrade_then_upgrade)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"current_tier\":\"Gold\",\"tier_achieve_date\":\"2025-06-01\"}");
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-20T09:00:00Z\","
                      "\"current_tier\":\"Silver\",\"tier_achieve_date\":\"2026-01-20\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "tier_downgrade");
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-14T11:00:00Z\","
                      "\"current_tier\":\"Gold\",\"tier_achieve_date\":\"2026-02-14\"}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "tier_upgrade");
    /* printf '%s' 'L1|tier_upgrade|Silver:Gold:2026-02-14' | sha256sum | cut -c1-32 */
    ck_assert_str_eq(event_field(events, 0, "event_id"), "c88e15f61375f753648e26691106ab65");
    ck_assert_str_eq(event_property(events, 0, "tier_achieve_date"), "2026-02-14");
    /* The anniversary clock restarts from the new achieve date. */
    ck_assert_int_eq(deriver_next_anniversary(m.state), day_of_text("2027-02-14"));
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_close_threshold_fires_once_per_approach)
{
    static const int values[] = { 500, 80, 60, 30, 300, 90, 100 };
    static const int fires[] = { 0, 1, 0, 0, 0, 1, 0 };
    member m = { NULL, INT64_MIN };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char record[512];
        json_t *events;
        snprintf(record, sizeof(record),
                 "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-%02zuT12:00:00Z\","
                 "\"current_tier\":\"Silver\",\"next_tier\":\"Gold\","
                 "\"points_req_for_next_tier\":%d}", i + 1, values[i]);
        events = feed(&m, record);
        ck_assert_msg((int)json_array_size(events) == fires[i], "value %d: %zu events", values[i],
                      json_array_size(events));
        if (fires[i]) {
            ck_assert_str_eq(event_type(events, 0), "close_to_tier_upgrade");
            ck_assert_int_eq(event_property_int(events, 0, "points_req_for_next_tier"), values[i]);
        }
        json_decref(events);
    }
    json_decref(m.state);
}
END_TEST

START_TEST(test_close_threshold_percent_and_top_tier)
{
    member m = { NULL, INT64_MIN };
    json_t *events;
    teardown_rules();
    setup_rules("{\"tier_ladder\":[{\"name\":\"Silver\",\"points\":0},{\"name\":\"Gold\",\"points\":5000},"
                "{\"name\":\"Platinum\",\"points\":10000}],\"close_threshold\":\"10%\"}");
    /* 10% of Gold's 5000 = 500: 501 is armed, 500 fires. */
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-01T00:00:00Z\",\"current_tier\":\"Silver\","
                      "\"next_tier\":\"Gold\",\"points_req_for_next_tier\":501}");
    ck_assert_int_eq(json_array_size(events), 0);
    json_decref(events);
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-02T00:00:00Z\",\"points_req_for_next_tier\":500}");
    ck_assert_int_eq(json_array_size(events), 1);
    json_decref(events);
    /* At the top tier (next_tier null, 0 required) nothing fires. */
    events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-03T00:00:00Z\",\"current_tier\":\"Platinum\","
                      "\"tier_achieve_date\":\"2026-02-03\",\"next_tier\":null,\"points_req_for_next_tier\":0}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_type(events, 0), "tier_upgrade");
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_timezone_offset_near_midnight)
{
    member m = { NULL, INT64_MIN };
    /* 00:30 in Paris is 23:30 UTC the day before: the UTC date counts. */
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-02-14T00:30:00+01:00\","
                              "\"current_tier\":\"Silver\",\"next_tier\":\"Gold\","
                              "\"points_req_for_next_tier\":50}");
    ck_assert_int_eq(json_array_size(events), 1);
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-02-13T23:30:00Z");
    /* printf '%s' 'L1|close_to_tier_upgrade|Silver:Gold:2026-02-13' | sha256sum | cut -c1-32 */
    ck_assert_str_eq(event_field(events, 0, "event_id"), "6d052fc351246a88a8439ac1902c13a1");
    ck_assert_int_eq(m.clock_day, day_of_text("2026-02-13"));
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_anniversary_29_february)
{
    json_t *state = json_pack("{s:s, s:s, s:s, s:i, s:s}", "loyalty_id", "L1", "current_tier", "Gold",
                              "tier_achieve_date", "2024-02-29", "anniversaries", 0, "email", "a@example.com");
    json_t *events = json_array(), *next = NULL, *later = NULL;
    ck_assert_int_eq(deriver_next_anniversary(state), day_of_text("2025-02-28"));
    ck_assert_int_eq(deriver_anniversaries(state, day_of_text("2025-02-27"), events, &next), 0);
    ck_assert(next == NULL);
    ck_assert_int_eq(deriver_anniversaries(state, day_of_text("2025-02-28"), events, &next), 1);
    ck_assert_str_eq(event_type(events, 0), "tier_anniversary");
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2025-02-28T00:00:00Z");
    /* printf '%s' 'L1|tier_anniversary|Gold:2024-02-29:1' | sha256sum | cut -c1-32 */
    ck_assert_str_eq(event_field(events, 0, "event_id"), "66f72fa3586724165048335b31c4844e");
    ck_assert_int_eq(event_property_int(events, 0, "years"), 1);
    ck_assert_str_eq(event_property(events, 0, "tier"), "Gold");
    ck_assert_str_eq(event_field(events, 0, "email"), "a@example.com");
    /* Three years later: the 2nd and 3rd on 28 Feb, the 4th on 29 Feb 2028. */
    json_array_clear(events);
    ck_assert_int_eq(deriver_anniversaries(next, day_of_text("2028-02-29"), events, &later), 3);
    ck_assert_str_eq(event_field(events, 0, "occurred_at"), "2026-02-28T00:00:00Z");
    ck_assert_str_eq(event_field(events, 1, "occurred_at"), "2027-02-28T00:00:00Z");
    ck_assert_str_eq(event_field(events, 2, "occurred_at"), "2028-02-29T00:00:00Z");
    ck_assert_int_eq(event_property_int(events, 2, "years"), 4);
    ck_assert_int_eq(deriver_next_anniversary(later), day_of_text("2029-02-28"));
    json_decref(later);
    json_decref(next);
    json_decref(events);
    json_decref(state);
}
END_TEST

START_TEST(test_first_sight_counts_passed_anniversaries_as_done)
{
    member m = { NULL, INT64_MIN };
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"current_tier\":\"Gold\",\"tier_achieve_date\":\"2020-03-01\"}");
    ck_assert_int_eq(json_array_size(events), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(m.state, "anniversaries")), 5);
    ck_assert_int_eq(deriver_next_anniversary(m.state), day_of_text("2026-03-01"));
    json_decref(events);
    json_decref(m.state);
}
END_TEST

START_TEST(test_stale_record_derives_nothing)
{
    member m = { NULL, INT64_MIN };
    char reason[256];
    json_t *events = feed(&m, "{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                              "\"earned_points\":100,\"current_tier\":\"Gold\"}");
    json_t *old = json_loads("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-09T09:00:00Z\","
                             "\"earned_points\":500,\"current_tier\":\"Silver\"}", 0, NULL);
    json_t *next = NULL;
    json_decref(events);
    events = json_array();
    ck_assert_int_eq(deriver_step(&rules, m.state, old, m.clock_day, events, &next, reason,
                                  sizeof(reason)), DERIVER_STALE);
    ck_assert_int_eq(json_array_size(events), 0);
    ck_assert(next == NULL);
    json_decref(old);
    json_decref(events);
    json_decref(m.state);
}
END_TEST

static const char *rejection(const char *record_text)
{
    static char reason[256];
    json_t *record = json_loads(record_text, 0, NULL);
    int64_t as_of;
    ck_assert(record != NULL);
    reason[0] = '\0';
    ck_assert_int_eq(deriver_validate(&rules, record, &as_of, reason, sizeof(reason)), -1);
    json_decref(record);
    return reason;
}

START_TEST(test_bad_fields_rejected_with_their_name)
{
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"earned_points\":-5}"),
                     "field 'earned_points': not a non-negative integer: '-5'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"hold_points\":1.5}"),
                     "field 'hold_points': not a non-negative integer: '1.5'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                               "\"tier_achieve_date\":\"2026-02-30\"}"),
                     "field 'tier_achieve_date': not a date: '2026-02-30'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"birthday\":\"1990-13-45\"}"),
                     "field 'birthday': not a date: '1990-13-45'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10 25:00:00\"}"),
                     "field 'as_of': not a timestamp: '2026-01-10 25:00:00'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\",\"current_tier\":\"Diamond\"}"),
                     "field 'current_tier': \"Diamond\" is not on the tier ladder");
    /* A local time without a zone is ambiguous. */
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                               "\"opt_in_date\":\"2026-01-02 10:11:12\"}"),
                     "field 'opt_in_date': not a timestamp: '2026-01-02 10:11:12'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                               "\"active_status\":\"ACTIVE\"}"),
                     "field 'active_status': not \"active\" or \"inactive\"");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                               "\"segments\":[\"vip\",3]}"),
                     "field 'segments': item 1 is not a string");
    /* The first invalid field in the schema's order is the one named. */
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\",\"as_of\":\"2026-01-10T09:00:00Z\","
                               "\"used_points\":-1,\"birthday\":\"14/02/2026\"}"),
                     "field 'birthday': not a date: '14/02/2026'");
    ck_assert_str_eq(rejection("{\"loyalty_id\":\"L1\"}"), "missing required field as_of");
    ck_assert_str_eq(rejection("{\"as_of\":\"2026-01-10T09:00:00Z\"}"), "missing required field loyalty_id");
}
END_TEST

START_TEST(test_config_errors)
{
    deriver_config bad;
    char err[256];
    json_t *options = json_loads("{\"tier_ladder\":[\"Silver\",\"Gold\"],\"close_threshold\":\"10%\"}", 0, NULL);
    ck_assert_int_eq(deriver_config_parse(options, &bad, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "'Gold' has none") != NULL, "%s", err);
    json_decref(options);
    options = json_loads("{\"tier_ladder\":[\"Silver\",\"Gold\"],\"close_threshold\":\"lots\"}", 0, NULL);
    ck_assert_int_eq(deriver_config_parse(options, &bad, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "close_threshold") != NULL, "%s", err);
    json_decref(options);
    options = json_loads("{\"tier_ladder\":[]}", 0, NULL);
    ck_assert_int_eq(deriver_config_parse(options, &bad, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "tier_ladder") != NULL, "%s", err);
    json_decref(options);
    /* Out of order: Gold listed above Silver with fewer points. Accepted,
     * it called a move from Silver to Gold a downgrade. */
    options = json_loads("{\"tier_ladder\":[{\"name\":\"Bronze\",\"points\":0},"
                         "{\"name\":\"Silver\",\"points\":5000},"
                         "{\"name\":\"Gold\",\"points\":1000}]}", 0, NULL);
    ck_assert_int_eq(deriver_config_parse(options, &bad, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "tier_ladder[2]: 'Gold' (1000 points) is listed above 'Silver' "
                          "(5000 points) but does not need more points: list the tiers lowest "
                          "first");
    json_decref(options);
}
END_TEST

START_TEST(test_anniversary_index_pops_in_day_order)
{
    anniv_index *index = anniv_index_new();
    char id[32];
    const char *due;
    int64_t last = INT64_MIN;
    int popped = 0;
    ck_assert(index != NULL);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "L%d", i);
        ck_assert_int_eq(anniv_index_set(index, id, (i * 7919) % 1000), 0);
    }
    /* Move one member later and one to "never": only the new days count. */
    ck_assert_int_eq(anniv_index_set(index, "L0", 5000), 0);
    ck_assert_int_eq(anniv_index_set(index, "L1", INT64_MAX), 0);
    ck_assert_uint_eq(anniv_index_size(index), 5000);
    while ((due = anniv_index_pop_due(index, 999))) {
        ck_assert_str_ne(due, "L0");
        ck_assert_str_ne(due, "L1");
        popped++;
    }
    ck_assert_int_eq(popped, 4998);
    ck_assert_str_eq(anniv_index_pop_due(index, 5000), "L0");
    ck_assert(anniv_index_pop_due(index, INT64_MAX - 1) == NULL);
    (void)last;
    anniv_index_destroy(&index);
    ck_assert(index == NULL);
}
END_TEST

static Suite *deriver_suite(void)
{
    Suite *s = suite_create("deriver");
    TCase *tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, setup_default, teardown_rules);
    tcase_add_test(tc, test_event_id_matches_sha256sum);
    tcase_add_test(tc, test_first_sight);
    tcase_add_test(tc, test_points_accrual_and_redemption);
    tcase_add_test(tc, test_opt_out_and_back_in);
    tcase_add_test(tc, test_skipping_two_tiers_is_one_upgrade);
    tcase_add_test(tc, test_downgrade_then_upgrade);
    tcase_add_test(tc, test_close_threshold_fires_once_per_approach);
    tcase_add_test(tc, test_close_threshold_percent_and_top_tier);
    tcase_add_test(tc, test_timezone_offset_near_midnight);
    tcase_add_test(tc, test_anniversary_29_february);
    tcase_add_test(tc, test_first_sight_counts_passed_anniversaries_as_done);
    tcase_add_test(tc, test_stale_record_derives_nothing);
    tcase_add_test(tc, test_bad_fields_rejected_with_their_name);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_anniversary_index_pops_in_day_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(deriver_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
