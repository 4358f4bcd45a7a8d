/* test_annexcloud_webhook_payload.c: Check tests of the webhook payload
 * rules (ac_webhook_payload.c): what the listener refuses at intake (400)
 * is exactly what the conversion could never turn into a member record,
 * so nothing answered 200 is dead-lettered for its shape. The review's
 * case: an email-only payload was answered 200, then always parked. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <jansson.h>

#include "../../plugins/annexcloud-source/ac_webhook_payload.h"

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *payload = json_loads(text, 0, &error);

    ck_assert_msg(payload != NULL, "%s: %s", text, error.text);
    return payload;
}

/* The refusal of `text` (NULL = accepted). */
static const char *refusal_of(const char *text, int can_enrich)
{
    json_t *payload = parse(text);
    const char *why = ac_webhook_refusal(payload, can_enrich);

    json_decref(payload);
    return why;
}

START_TEST(test_email_only_refused_with_reason)
{
    const char *why = refusal_of("{\"eventId\":\"a17\",\"eventType\":\"X\",\"data\":{\"email\":\"e@x.com\",\"points\":{}}}", 1);

    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "email") && strstr(why, "member id"), "reason: %s", why);
    /* Also without enrichment, and as a thin payload. */
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"a18\",\"eventType\":\"X\",\"data\":{\"email\":\"e@x.com\"}}", 0));
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"a19\",\"eventType\":\"X\",\"data\":{\"email\":\"e@x.com\"}}", 1));
}
END_TEST

/* A payload with only the id needs the API: refused when it cannot be used. */
START_TEST(test_thin_payload_needs_enrichment)
{
    static const char thin[] = "{\"eventId\":\"t1\",\"eventType\":\"USER_UPDATE\",\"data\":{\"id\":\"M-1\"}}";

    ck_assert_ptr_null(refusal_of(thin, 1));
    ck_assert_ptr_nonnull(refusal_of(thin, 0));
    ck_assert_msg(strstr(refusal_of(thin, 0), "enrich") != NULL, "reason: %s", refusal_of(thin, 0));
}
END_TEST

START_TEST(test_envelope_fields_required)
{
    ck_assert_ptr_nonnull(refusal_of("{\"eventType\":\"X\",\"data\":{\"id\":\"M\",\"points\":{}}}", 1));
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"e\",\"data\":{\"id\":\"M\",\"points\":{}}}", 1));
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"e\",\"eventType\":\"X\"}", 1));
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"e\",\"eventType\":\"X\",\"data\":[1]}", 1));
    ck_assert_ptr_nonnull(refusal_of("{\"eventId\":\"e\",\"eventType\":\"X\",\"data\":{\"id\":\"\",\"points\":{}}}", 1));
    ck_assert_ptr_nonnull(refusal_of("[1,2]", 1));
    ck_assert_ptr_nonnull(ac_webhook_refusal(NULL, 1));
}
END_TEST

/* Everything accepted (with loyalty data in the payload) converts. */
START_TEST(test_accepted_payloads_convert)
{
    static const char *const accepted[] = {
        "{\"eventId\":\"e1\",\"eventType\":\"USER_UPDATE\",\"data\":{\"id\":\"M-1\",\"email\":\"A@x.com\","
        "\"points\":{\"availablePoints\":5}}}",
        "{\"event_id\":\"e2\",\"type\":\"X\",\"member\":{\"id\":\"M-2\",\"tiers\":{\"currentTier\":\"Gold\"}}}",
        "{\"eventId\":\"e3\",\"eventType\":\"X\",\"data\":{\"id\":12345,\"points\":{}}}",
        "{\"eventId\":\"e4\",\"eventType\":\"X\",\"data\":{\"Data\":{\"id\":\"M-4\"},\"points\":{}}}",
        NULL};

    for (size_t i = 0; accepted[i]; i++) {
        json_t *payload = parse(accepted[i]), *member = NULL;
        char err[512] = "";
        ac_result result;

        ck_assert_msg(ac_webhook_refusal(payload, 0) == NULL, "%s refused: %s", accepted[i],
                      ac_webhook_refusal(payload, 0));
        result = ac_webhook_member(payload, NULL, &member, err, sizeof(err));
        ck_assert_msg(result == AC_OK && member, "%s: not converted: %s", accepted[i], err);
        ck_assert_ptr_nonnull(json_object_get(member, "loyalty_id"));
        json_decref(member);
        json_decref(payload);
    }
}
END_TEST

START_TEST(test_member_as_of_from_timestamp)
{
    json_t *payload = parse("{\"eventId\":\"e\",\"eventType\":\"X\",\"timestamp\":\"2026-01-01T00:00:05+0000\","
                            "\"data\":{\"id\":\"M\",\"email\":\"Man@Example.com\",\"points\":{\"availablePoints\":\"5\"}}}");
    json_t *member = NULL;
    char err[256];

    ck_assert_int_eq(ac_webhook_member(payload, NULL, &member, err, sizeof(err)), AC_OK);
    ck_assert_str_eq(json_string_value(json_object_get(member, "as_of")), "2026-01-01T00:00:05Z");
    ck_assert_str_eq(json_string_value(json_object_get(member, "email")), "man@example.com");
    ck_assert_int_eq(json_integer_value(json_object_get(member, "available_points")), 5);
    json_decref(member);
    json_decref(payload);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_webhook_payload");
    TCase *tc = tcase_create("payload");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, test_email_only_refused_with_reason);
    tcase_add_test(tc, test_thin_payload_needs_enrichment);
    tcase_add_test(tc, test_envelope_fields_required);
    tcase_add_test(tc, test_accepted_payloads_convert);
    tcase_add_test(tc, test_member_as_of_from_timestamp);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
