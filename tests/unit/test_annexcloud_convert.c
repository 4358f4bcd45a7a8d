/* test_annexcloud_convert.c: Check tests of the Annex Cloud -> canonical
 * conversion of annexcloud-source (ac_convert.c): user shapes, numbers,
 * timestamps and dates, tiers, rewards, the activity ledger, bad values
 * passed on, event ids and the change-detection hash. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <jansson.h>

#include "../../plugins/annexcloud-source/ac_convert.h"

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, 0, &error);

    ck_assert_msg(value != NULL, "bad test JSON: %s", error.text);
    return value;
}

static const char USER_FIELDS[] =
    "\"siteId\":\"29235480\",\"id\":\"LID-000001\",\"email\":\"Anna.Smith@Example.COM\","
    "\"firstName\":\"Anna\",\"lastName\":\"Smith\",\"zipCode\":51750,\"optInStatus\":\"YES\","
    "\"optInDate\":\"2024-08-08T07:00:12+0000\",\"status\":\"ACTIVE\",\"phone\":\"+441234567890\","
    "\"birthDate\":\"1990-02-03\",\"anniversaryDate\":\"2024-08-08\"";

static void assert_string_field(const json_t *record, const char *key, const char *expected)
{
    const json_t *value = json_object_get(record, key);

    ck_assert_msg(json_is_string(value), "%s is not a string", key);
    ck_assert_msg(strcmp(json_string_value(value), expected) == 0, "%s: got '%s', want '%s'", key,
                  json_string_value(value), expected);
}

static void assert_int_field(const json_t *record, const char *key, json_int_t expected)
{
    const json_t *value = json_object_get(record, key);

    ck_assert_msg(json_is_integer(value), "%s is not an integer", key);
    ck_assert_msg(json_integer_value(value) == expected, "%s: got %lld, want %lld", key,
                  (long long)json_integer_value(value), (long long)expected);
}

static void assert_null_field(const json_t *record, const char *key)
{
    ck_assert_msg(json_is_null(json_object_get(record, key)), "%s should be null", key);
}

/* The member of a user-only fetch. */
static json_t *member_of_user(const char *user_json)
{
    json_t *user = parse(user_json);
    ac_member_parts parts = {.user = user};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");

    json_decref(user);
    ck_assert_ptr_nonnull(member);
    return member;
}

static void assert_profile(const json_t *member)
{
    assert_string_field(member, "kind", "member");
    assert_string_field(member, "loyalty_id", "LID-000001");
    assert_string_field(member, "as_of", "2026-11-20T10:11:12Z");
    assert_string_field(member, "email", "anna.smith@example.com");
    assert_string_field(member, "first_name", "Anna");
    assert_string_field(member, "last_name", "Smith");
    assert_string_field(member, "zip_code", "51750");
    assert_string_field(member, "opt_in_status", "yes");
    assert_string_field(member, "opt_in_date", "2024-08-08T07:00:12Z");
    assert_string_field(member, "active_status", "active");
    assert_string_field(member, "phone", "+441234567890");
    assert_string_field(member, "birthday", "1990-02-03");
    assert_string_field(member, "anniversary_date", "2024-08-08");
    /* Parts not fetched stay absent (unknown), not null. */
    ck_assert_ptr_null(json_object_get(member, "available_points"));
    ck_assert_ptr_null(json_object_get(member, "current_tier"));
    ck_assert_ptr_null(json_object_get(member, "segments"));
}

START_TEST(test_data_wrapped_user)
{
    char text[1024];
    json_t *member;

    snprintf(text, sizeof(text), "{\"Data\":{%s}}", USER_FIELDS);
    member = member_of_user(text);
    assert_profile(member);
    json_decref(member);
}
END_TEST

START_TEST(test_flat_user_gives_the_same_record)
{
    char wrapped[1024], flat[1024];
    json_t *a, *b;

    snprintf(wrapped, sizeof(wrapped), "{\"Data\":{%s}}", USER_FIELDS);
    snprintf(flat, sizeof(flat), "{%s}", USER_FIELDS);
    a = member_of_user(wrapped);
    b = member_of_user(flat);
    assert_profile(b);
    ck_assert(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}
END_TEST

/* Emails are lower-cased whatever their length (RFC 5321 allows 254). */
START_TEST(test_long_email_lower_cased)
{
    json_t *member = member_of_user("{\"id\":\"LID-2\",\"email\":"
                                    "\"Firstname.Middlename.Lastname.Department@Subdomain.Example-Company.COM\","
                                    "\"status\":\"INACTIVE\"}");

    assert_string_field(member, "email", "firstname.middlename.lastname.department@subdomain.example-company.com");
    assert_string_field(member, "active_status", "inactive");
    json_decref(member);
}
END_TEST

START_TEST(test_user_without_id_is_refused)
{
    json_t *user = parse("{\"Data\":{\"email\":\"x@y.z\"}}");
    ac_member_parts parts = {.user = user};

    ck_assert_ptr_null(ac_member_canonical(&parts, "2026-11-20T10:11:12Z"));
    json_decref(user);
}
END_TEST

START_TEST(test_timestamps_to_z)
{
    char out[21];

    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12+0000", out), 0);
    ck_assert_str_eq(out, "2024-08-08T07:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12+00:00", out), 0);
    ck_assert_str_eq(out, "2024-08-08T07:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12Z", out), 0);
    ck_assert_str_eq(out, "2024-08-08T07:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12+0530", out), 0);
    ck_assert_str_eq(out, "2024-08-08T01:30:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-12-31T23:30:00-01:00", out), 0);
    ck_assert_str_eq(out, "2025-01-01T00:30:00Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12.250+0000", out), 0);
    ck_assert_str_eq(out, "2024-08-08T07:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("yesterday", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("2024-02-30T00:00:00Z", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T25:00:00Z", out), -1);
    /* loytime's forms: an hour-only offset, a space for the 'T' (with a
     * zone), a date alone; never a time without a zone. */
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12+00", out), 0);
    ck_assert_str_eq(out, "2024-08-08T07:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08 07:00:12+0200", out), 0);
    ck_assert_str_eq(out, "2024-08-08T05:00:12Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08", out), 0);
    ck_assert_str_eq(out, "2024-08-08T00:00:00Z");
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08 07:00:12", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("2024-08-08T07:00:12+0", out), -1);
    /* The UTC year stays in 1800..9999. */
    ck_assert_int_eq(ac_timestamp_canonical("1800-01-01T00:30:00+01:00", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("1800-01-01T00:30:00Z", out), 0);
    ck_assert_str_eq(out, "1800-01-01T00:30:00Z");
    ck_assert_int_eq(ac_timestamp_canonical("9999-12-31T23:30:00-01:00", out), -1);
    ck_assert_int_eq(ac_timestamp_canonical("1799-12-31T23:00:00Z", out), -1);
}
END_TEST

START_TEST(test_dates)
{
    char out[11];

    ck_assert_int_eq(ac_date_canonical("2024-02-29", out), 0);
    ck_assert_str_eq(out, "2024-02-29");
    ck_assert_int_eq(ac_date_canonical("2024-08-08T23:30:00-0200", out), 0);
    ck_assert_str_eq(out, "2024-08-09");
    ck_assert_int_eq(ac_date_canonical("2023-02-29", out), -1);
    ck_assert_int_eq(ac_date_canonical("08/08/2024", out), -1);
}
END_TEST

/* Points as numeric strings, tiers with an empty nextTier at the top. */
START_TEST(test_points_and_tiers)
{
    json_t *user = parse("{\"id\":\"LID-7\"}");
    json_t *points = parse("{\"availablePoints\":\"6620\",\"lifetimePoints\":9000,\"usedPoints\":\"2380\","
                           "\"holdPoints\":\"0\",\"pointsToExpire\":\"150\","
                           "\"pointsToExpireDate\":\"2027-01-31T00:00:00+0000\",\"expiredPoints\":\"12.0\"}");
    json_t *tiers = parse("{\"currentTier\":\"Gold\",\"nextTier\":\"\",\"pointsToNextTier\":\"0\","
                          "\"tierAchieveDate\":\"2026-02-14\"}");
    ac_member_parts parts = {.user = user, .points = points, .tiers = tiers};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");

    ck_assert_ptr_nonnull(member);
    assert_int_field(member, "available_points", 6620);
    assert_int_field(member, "earned_points", 9000);
    assert_int_field(member, "used_points", 2380);
    assert_int_field(member, "hold_points", 0);
    assert_int_field(member, "next_expiring_points", 150);
    assert_string_field(member, "points_expiration_date", "2027-01-31");
    assert_int_field(member, "expired_points", 12);
    assert_string_field(member, "current_tier", "Gold");
    assert_null_field(member, "next_tier");
    assert_int_field(member, "points_req_for_next_tier", 0);
    assert_string_field(member, "tier_achieve_date", "2026-02-14");
    json_decref(member);
    json_decref(user);
    json_decref(points);
    json_decref(tiers);
}
END_TEST

/* Values that cannot be converted are passed on as the original text, so
 * the transforms reject them naming the field. */
START_TEST(test_bad_values_passed_as_strings)
{
    json_t *user = parse("{\"id\":\"LID-8\",\"birthDate\":\"31/12/1990\",\"optInDate\":\"soon\","
                         "\"zipCode\":\"\"}");
    json_t *points = parse("{\"availablePoints\":\"12.5\",\"lifetimePoints\":\"lots\",\"usedPoints\":7.25}");
    ac_member_parts parts = {.user = user, .points = points};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");

    ck_assert_ptr_nonnull(member);
    assert_string_field(member, "birthday", "31/12/1990");
    assert_string_field(member, "opt_in_date", "soon");
    assert_string_field(member, "available_points", "12.5");
    assert_string_field(member, "earned_points", "lots");
    ck_assert(!json_is_integer(json_object_get(member, "used_points")));
    json_decref(member);
    json_decref(user);
    json_decref(points);
}
END_TEST

START_TEST(test_rewards)
{
    json_t *user = parse("{\"id\":\"LID-9\"}");
    json_t *points = parse("{\"availablePoints\":\"700\"}");
    json_t *reward = parse("{\"rewardDetail\":["
                           "{\"displayText\":\"$20 Reward\",\"creditRequired\":\"2000\",\"eligible\":\"NO\"},"
                           "{\"displayText\":\"$10 Reward\",\"creditRequired\":\"500\",\"eligible\":\"YES\"},"
                           "{\"displayText\":\"$15 Reward\",\"creditRequired\":1000,\"eligible\":\"NO\"},"
                           "{\"displayText\":\"$5 Reward\",\"creditRequired\":250,\"eligible\":\"YES\"}]}");
    ac_member_parts parts = {.user = user, .points = points, .reward = reward};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");
    json_t *expected = parse("[\"$5 Reward\",\"$10 Reward\"]");

    ck_assert(json_equal(json_object_get(member, "available_rewards"), expected));
    assert_string_field(member, "highest_available_reward", "$10 Reward");
    assert_int_field(member, "points_req_for_next_reward", 300);
    json_decref(expected);
    json_decref(member);
    json_decref(reward);
    /* Nothing eligible and nothing above the balance: empty, null, 0. */
    reward = parse("{\"rewardDetail\":[{\"displayText\":\"$5 Reward\",\"creditRequired\":250,"
                   "\"eligible\":\"NO\"}]}");
    json_decref(points);
    points = parse("{\"availablePoints\":900}");
    parts.points = points;
    parts.reward = reward;
    member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");
    ck_assert_uint_eq(json_array_size(json_object_get(member, "available_rewards")), 0);
    assert_null_field(member, "highest_available_reward");
    assert_int_field(member, "points_req_for_next_reward", 0);
    json_decref(member);
    json_decref(reward);
    json_decref(points);
    json_decref(user);
}
END_TEST

/* Ledger newest first (as the API serves it), purchases are actionId 109
 * (number or string). */
START_TEST(test_activity_ledger_dates)
{
    json_t *user = parse("{\"id\":\"LID-10\"}");
    json_t *activity = parse("["
        "{\"actionId\":100,\"createDate\":\"2026-06-01T12:00:00+0000\"},"
        "{\"actionId\":\"109\",\"createDate\":\"2026-05-03T23:30:00-0200\"},"
        "{\"actionId\":109,\"createDate\":\"2025-03-10T12:00:00Z\"},"
        "{\"actionId\":101,\"createDate\":\"2025-01-02T12:00:00+0000\"},"
        "{\"actionId\":109,\"createDate\":\"garbage\"}]");
    ac_member_parts parts = {.user = user, .activity = activity};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");

    assert_string_field(member, "first_activity_date", "2025-01-02");
    assert_string_field(member, "last_activity_date", "2026-06-01");
    assert_string_field(member, "first_purchase_date", "2025-03-10");
    assert_string_field(member, "last_purchase_date", "2026-05-04");
    json_decref(member);
    json_decref(activity);
    /* An empty ledger: known to be empty. */
    activity = parse("[]");
    parts.activity = activity;
    member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");
    assert_null_field(member, "first_activity_date");
    assert_null_field(member, "last_purchase_date");
    json_decref(member);
    json_decref(activity);
    json_decref(user);
}
END_TEST

START_TEST(test_segments_copied)
{
    json_t *user = parse("{\"id\":\"LID-11\"}");
    json_t *segments = parse("[\"VIP\",\"Newsletter\"]");
    ac_member_parts parts = {.user = user, .segments = segments};
    json_t *member = ac_member_canonical(&parts, "2026-11-20T10:11:12Z");

    ck_assert(json_equal(json_object_get(member, "segments"), segments));
    json_decref(member);
    json_decref(segments);
    json_decref(user);
}
END_TEST

/* Expected values:
 *   printf '%s' 'LID-000123|tier_upgrade|Silver:Gold:2026-02-14' | sha256sum | cut -c1-32
 *   printf '%s' 'LID-000001|opt_in|2026-01-05T10:11:12Z' | sha256sum | cut -c1-32
 *   printf '%s' 'zoë@example.com|point_accrual|earned:100:250' | sha256sum | cut -c1-32 */
START_TEST(test_event_ids_match_sha256sum)
{
    char id[33];

    ac_event_id("LID-000123", "tier_upgrade", "Silver:Gold:2026-02-14", id);
    ck_assert_str_eq(id, "bb2d736cee6c3b28fc4496f4bd9b7077");
    ac_event_id("LID-000001", "opt_in", "2026-01-05T10:11:12Z", id);
    ck_assert_str_eq(id, "f3994ce25df11b5f68aa626881ddf2e9");
    ac_event_id("zo\xC3\xAB@example.com", "point_accrual", "earned:100:250", id);
    ck_assert_str_eq(id, "a9fb640bad6391d5ca67165e44589191");
}
END_TEST

/* The hash ignores as_of and key order, and sees every other change. */
START_TEST(test_member_hash)
{
    json_t *a = parse("{\"kind\":\"member\",\"loyalty_id\":\"L\",\"as_of\":\"2026-01-01T00:00:00Z\",\"x\":1,\"y\":2}");
    json_t *b = parse("{\"y\":2,\"x\":1,\"as_of\":\"2026-02-01T00:00:00Z\",\"loyalty_id\":\"L\",\"kind\":\"member\"}");
    json_t *c = parse("{\"kind\":\"member\",\"loyalty_id\":\"L\",\"as_of\":\"2026-01-01T00:00:00Z\",\"x\":1,\"y\":3}");
    char ha[65], hb[65], hc[65];

    ac_member_hash(a, ha);
    ac_member_hash(b, hb);
    ac_member_hash(c, hc);
    ck_assert_uint_eq(strlen(ha), 64);
    ck_assert_str_eq(ha, hb);
    ck_assert_str_ne(ha, hc);
    ck_assert_ptr_nonnull(json_object_get(a, "as_of")); /* the input is left alone */
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_convert");
    TCase *tc = tcase_create("convert");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, test_data_wrapped_user);
    tcase_add_test(tc, test_flat_user_gives_the_same_record);
    tcase_add_test(tc, test_user_without_id_is_refused);
    tcase_add_test(tc, test_long_email_lower_cased);
    tcase_add_test(tc, test_timestamps_to_z);
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_points_and_tiers);
    tcase_add_test(tc, test_bad_values_passed_as_strings);
    tcase_add_test(tc, test_rewards);
    tcase_add_test(tc, test_activity_ledger_dates);
    tcase_add_test(tc, test_segments_copied);
    tcase_add_test(tc, test_event_ids_match_sha256sum);
    tcase_add_test(tc, test_member_hash);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
