/* test_ometria_plan.c: unit tests of the ometria-sink's pure logic
 * (plugins/ometria-sink/ometria_plan.c): record checks, the 60 KB limit,
 * request bodies, push answers, error matching and safe error texts. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ometria-sink/ometria.h"

START_TEST(contact_gets_default_collection)
{
    json_t *record = json_pack("{s:s, s:s, s:s}", "@type", "contact", "id", "LID-1",
                               "email", "a@example.com");
    om_type type = OM_TYPE_EVENT;
    char reason[256] = "";

    ck_assert_int_eq(om_prepare_record(record, "annex_loyalty", OM_MAX_RECORD_BYTES, &type,
                                       reason, sizeof(reason)), 0);
    ck_assert_int_eq(type, OM_TYPE_CONTACT);
    ck_assert_str_eq(json_string_value(json_object_get(record, "@collection")),
                     "annex_loyalty");
    json_decref(record);

    /* A contact with its own collection keeps it. */
    record = json_pack("{s:s, s:s, s:s}", "@type", "contact", "id", "LID-2", "@collection",
                       "shop_a");
    ck_assert_int_eq(om_prepare_record(record, "annex_loyalty", OM_MAX_RECORD_BYTES, &type,
                                       reason, sizeof(reason)), 0);
    ck_assert_str_eq(json_string_value(json_object_get(record, "@collection")), "shop_a");
    json_decref(record);
}
END_TEST

START_TEST(contact_is_merged_and_never_forces_optin)
{
    /* A partial contact (a webhook delta) must not blank what it lacks:
     * every contact carries "@merge": true, even one whose mapping said
     * false, and no contact carries @force_optin. */
    json_t *record = json_pack("{s:s, s:s, s:b, s:b}", "@type", "contact", "id", "LID-3",
                               "@merge", 0, "@force_optin", 1);
    om_type type = OM_TYPE_EVENT;
    char reason[256] = "";

    ck_assert_int_eq(om_prepare_record(record, "annex_loyalty", OM_MAX_RECORD_BYTES, &type,
                                       reason, sizeof(reason)), 0);
    ck_assert(json_is_true(json_object_get(record, "@merge")));
    ck_assert_ptr_null(json_object_get(record, "@force_optin"));
    json_decref(record);

    /* Events are not contacts: no @merge on them. */
    record = json_pack("{s:s, s:s}", "@type", "custom_event", "id", "ev-2");
    ck_assert_int_eq(om_prepare_record(record, "annex_loyalty", OM_MAX_RECORD_BYTES, &type,
                                       reason, sizeof(reason)), 0);
    ck_assert_ptr_null(json_object_get(record, "@merge"));
    json_decref(record);
}
END_TEST

START_TEST(event_is_recognised_and_left_alone)
{
    json_t *record = json_pack("{s:s, s:s, s:s}", "@type", "custom_event", "id", "ev-1",
                               "event_type", "annex_loy_opt_in");
    om_type type = OM_TYPE_CONTACT;
    char reason[256];

    ck_assert_int_eq(om_prepare_record(record, "annex_loyalty", OM_MAX_RECORD_BYTES, &type,
                                       reason, sizeof(reason)), 0);
    ck_assert_int_eq(type, OM_TYPE_EVENT);
    ck_assert_ptr_null(json_object_get(record, "@collection"));
    json_decref(record);
}
END_TEST

START_TEST(other_shapes_are_refused_with_a_reason)
{
    json_t *no_type = json_pack("{s:s}", "loyalty_id", "LID-1");
    json_t *order = json_pack("{s:s, s:s}", "@type", "order", "id", "o1");
    json_t *no_id = json_pack("{s:s}", "@type", "contact");
    json_t *not_object = json_pack("[i]", 1);
    om_type type;
    char reason[256];

    ck_assert_int_eq(om_prepare_record(no_type, NULL, OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    ck_assert_ptr_nonnull(strstr(reason, "@type"));
    ck_assert_int_eq(om_prepare_record(order, NULL, OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    ck_assert_ptr_nonnull(strstr(reason, "\"order\""));
    ck_assert_int_eq(om_prepare_record(no_id, NULL, OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    ck_assert_ptr_nonnull(strstr(reason, "id"));
    ck_assert_int_eq(om_prepare_record(not_object, NULL, OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    ck_assert_ptr_nonnull(strstr(reason, "JSON object"));
    json_decref(no_type);
    json_decref(order);
    json_decref(no_id);
    json_decref(not_object);
}
END_TEST

START_TEST(record_over_60kb_is_refused_with_its_size)
{
    size_t big_len = 70000;
    char *big = malloc(big_len + 1);
    json_t *record;
    om_type type;
    char reason[256];
    char expected[160];
    size_t size;

    memset(big, 'x', big_len);
    big[big_len] = '\0';
    record = json_pack("{s:s, s:s, s:s, s:{s:s}}", "@type", "contact", "id", "LID-9",
                       "@collection", "c", "properties", "annex_note", big);
    ck_assert_int_eq(om_prepare_record(record, "c", OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    size = json_dumpb(record, NULL, 0, JSON_COMPACT); /* as sent: "@merge" included */
    snprintf(expected, sizeof(expected),
             "record too large: %zu bytes > 61440 (largest field: properties.annex_note, 70002 bytes)",
             size);
    ck_assert_str_eq(reason, expected);
    json_decref(record);

    /* Exactly at the limit as sent ("@merge" included) is fine; one byte
     * over is not. */
    record = json_pack("{s:s, s:s, s:s, s:b, s:s}", "@type", "contact", "id", "L", "@collection",
                       "c", "@merge", 1, "pad", "");
    size = json_dumpb(record, NULL, 0, JSON_COMPACT);
    big[OM_MAX_RECORD_BYTES - size] = '\0';
    json_object_set_new(record, "pad", json_string(big));
    ck_assert_uint_eq(json_dumpb(record, NULL, 0, JSON_COMPACT), OM_MAX_RECORD_BYTES);
    ck_assert_int_eq(om_prepare_record(record, "c", OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), 0);
    big[OM_MAX_RECORD_BYTES - size] = 'x';
    big[OM_MAX_RECORD_BYTES - size + 1] = '\0';
    json_object_set_new(record, "pad", json_string(big));
    ck_assert_int_eq(om_prepare_record(record, "c", OM_MAX_RECORD_BYTES, &type, reason,
                                       sizeof(reason)), -1);
    ck_assert_ptr_nonnull(strstr(reason, "record too large: 61441 bytes > 61440 (largest field: pad,"));
    json_decref(record);
    free(big);
}
END_TEST

START_TEST(body_is_a_compact_array_in_order)
{
    json_t *records[3];
    size_t len = 0;
    char *body;

    records[0] = json_pack("{s:i}", "id", 1);
    records[1] = json_pack("{s:i}", "id", 2);
    records[2] = json_pack("{s:i}", "id", 3);
    body = om_body(records, 3, &len);
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body, "[{\"id\":1},{\"id\":2},{\"id\":3}]");
    ck_assert_uint_eq(len, strlen(body));
    /* The records are borrowed: still ours, unchanged. */
    ck_assert_int_eq(records[0]->refcount, 1);
    free(body);
    for (int i = 0; i < 3; i++)
        json_decref(records[i]);
}
END_TEST

START_TEST(push_answer_is_parsed)
{
    long accepted = -1, rejected = -1;

    ck_assert_int_eq(om_parse_push_result(
                         "{\"status\":\"OK\",\"request_id\":\"r1\",\"accepted\":98,\"rejected\":2}",
                         &accepted, &rejected), 0);
    ck_assert_int_eq(accepted, 98);
    ck_assert_int_eq(rejected, 2);
    ck_assert_int_eq(om_parse_push_result("{\"status\":\"OK\",\"accepted\":3}", &accepted,
                                          &rejected), 0);
    ck_assert_int_eq(accepted, 3);
    ck_assert_int_eq(rejected, 0);
    /* Without a count of what was accepted nothing can be counted delivered. */
    ck_assert_int_eq(om_parse_push_result("{\"status\":\"OK\"}", &accepted, &rejected), -1);
    ck_assert_int_eq(om_parse_push_result("{\"accepted\":\"10\",\"rejected\":0}", &accepted,
                                          &rejected), -1);
    ck_assert_int_eq(om_parse_push_result("{\"accepted\":-1,\"rejected\":0}", &accepted,
                                          &rejected), -1);
    ck_assert_int_eq(om_parse_push_result("{\"accepted\":1,\"rejected\":null}", &accepted,
                                          &rejected), -1);
    ck_assert_int_eq(om_parse_push_result("<html>oops</html>", &accepted, &rejected), -1);
    ck_assert_int_eq(om_parse_push_result("[]", &accepted, &rejected), -1);
    ck_assert_int_eq(om_parse_push_result(NULL, &accepted, &rejected), -1);
}
END_TEST

START_TEST(errors_are_matched_by_record_id_first)
{
    json_t *errors = json_loads(
        "[{\"error_message\":\"not a valid value\",\"error_path\":\"root > date_of_birth\","
        "\"record_id\":\"LID-7\"},"
        "{\"error_message\":\"invalid email\",\"error_path\":\"root > email\","
        "\"record_id\":\"LID-8\"}]", 0, NULL);
    json_t *seven = json_pack("{s:s, s:s}", "id", "LID-7", "email", "x@example.com");
    json_t *nine = json_pack("{s:s, s:s}", "id", "LID-9", "email", "bad");
    char *text;

    ck_assert_ptr_nonnull(errors);
    text = om_match_error(errors, seven);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "not a valid value (root > date_of_birth)");
    free(text);
    /* Ids present but none is ours: no guess from field names. */
    ck_assert_ptr_null(om_match_error(errors, nine));
    json_decref(errors);
    json_decref(seven);
    json_decref(nine);
}
END_TEST

START_TEST(errors_without_ids_are_matched_by_field)
{
    /* Ometria's documented shape: no record id. */
    json_t *errors = json_loads(
        "[{\"error_message\":\"not a valid value\",\"error_path\":\"root > lastname\"},"
        "{\"error_message\":\"bad date\",\"error_path\":\"root > date_of_birth\"},"
        "{\"error_message\":\"too long\",\"error_path\":\"root > properties > annex_x\"}]",
        0, NULL);
    json_t *has_dob = json_pack("{s:s, s:s}", "id", "A", "date_of_birth", "1990-13-45");
    json_t *has_prop = json_pack("{s:s, s:{s:s}}", "id", "B", "properties", "annex_x", "y");
    json_t *unrelated = json_pack("{s:s}", "id", "C");
    char *text;

    text = om_match_error(errors, has_dob);
    ck_assert_str_eq(text, "bad date (root > date_of_birth)");
    free(text);
    text = om_match_error(errors, has_prop);
    ck_assert_str_eq(text, "too long (root > properties > annex_x)");
    free(text);
    ck_assert_ptr_null(om_match_error(errors, unrelated));
    ck_assert_ptr_null(om_match_error(NULL, unrelated));
    json_decref(errors);
    json_decref(has_dob);
    json_decref(has_prop);
    json_decref(unrelated);
}
END_TEST

START_TEST(error_text_never_shows_the_key)
{
    char out[300];

    om_error_text("{\"message\":\"API key sk-123456 is not authorised\"}", "sk-123456", out,
                  sizeof(out));
    ck_assert_str_eq(out, "API key ******** is not authorised");
    om_error_text("plain text\nwith sk-123456 inside", "sk-123456", out, sizeof(out));
    ck_assert_str_eq(out, "plain text with ******** inside");
    om_error_text("", "k", out, sizeof(out));
    ck_assert_str_eq(out, "no details");
    om_error_text("{\"error\":\"Unauthorized\"}", NULL, out, 8);
    ck_assert_str_eq(out, "Unautho");
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *suite = suite_create("ometria_plan");
    TCase *tc = tcase_create("plan");

    tcase_add_test(tc, contact_gets_default_collection);
    tcase_add_test(tc, contact_is_merged_and_never_forces_optin);
    tcase_add_test(tc, event_is_recognised_and_left_alone);
    tcase_add_test(tc, other_shapes_are_refused_with_a_reason);
    tcase_add_test(tc, record_over_60kb_is_refused_with_its_size);
    tcase_add_test(tc, body_is_a_compact_array_in_order);
    tcase_add_test(tc, push_answer_is_parsed);
    tcase_add_test(tc, errors_are_matched_by_record_id_first);
    tcase_add_test(tc, errors_without_ids_are_matched_by_field);
    tcase_add_test(tc, error_text_never_shows_the_key);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(plan_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
