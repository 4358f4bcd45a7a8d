/* test_infobip_errors.c: unit tests of how infobip-sink reads Infobip's
 * error bodies: infobip_error_text over the People API's 429
 * (requestError TOO_MANY_REQUESTS), the E429 shape of other products, a
 * 207 item with property details and the problem details of a refused
 * events batch; infobip_contact_conflict telling a contact identifier
 * owned by another person from other refusals. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../plugins/infobip-sink/infobip.h"

/* infobip_error_text of the JSON text `body` into buf. */
static const char *text_of(const char *body, char *buf, size_t len)
{
    json_error_t error;
    json_t *parsed = json_loads(body, 0, &error);

    ck_assert_msg(parsed != NULL, "test body does not parse: %s", error.text);
    infobip_error_text(parsed, buf, len);
    json_decref(parsed);
    return buf;
}

START_TEST(too_many_requests_both_shapes)
{
    char buf[300];

    ck_assert_str_eq(text_of("{\"requestError\":{\"serviceException\":{\"messageId\":"
                             "\"TOO_MANY_REQUESTS\",\"text\":\"Too many requests\"}}}",
                             buf, sizeof(buf)),
                     "TOO_MANY_REQUESTS: Too many requests");
    ck_assert_str_eq(text_of("{\"errorCode\":\"E429\",\"description\":\"Too many requests sent.\","
                             "\"action\":null,\"violations\":[],\"resources\":[]}",
                             buf, sizeof(buf)),
                     "E429: Too many requests sent.");
}
END_TEST

START_TEST(problem_details_name_the_first_item)
{
    char buf[300];

    ck_assert_str_eq(text_of("{\"type\":\"t\",\"title\":\"Bad Request\",\"status\":400,"
                             "\"traceId\":\"x\",\"errors\":[{\"index\":3,\"code\":\"400505\","
                             "\"message\":\"Person with such identifier doesn't exist\","
                             "\"details\":[{\"property\":\"[3]\",\"message\":\"not found\"}]},"
                             "{\"index\":7,\"code\":\"400504\",\"message\":\"bad\"}]}",
                             buf, sizeof(buf)),
                     "400505: Person with such identifier doesn't exist ([3]: not found) "
                     "(and 1 more)");
    /* a buffer too small is cut, never overrun */
    ck_assert_uint_lt(strlen(text_of("{\"errors\":[{\"code\":\"400504\",\"message\":\"a long "
                                     "message\"},{\"code\":\"1\"}]}", buf, 12)), 12);
}
END_TEST

START_TEST(contact_conflict_or_not)
{
    json_t *shared = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "code", "400100", "message",
                               "Invalid person", "details", "property", "contactInformation",
                               "message", "PHONE 447700900001 belongs to another person",
                               "index", 1);
    json_t *birth = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "code", "400100", "message",
                              "Invalid person", "details", "property", "birthDate", "message",
                              "belongs to another person", "index", 0);
    json_t *format = json_pack("{s:s, s:[{s:s, s:s}]}", "code", "400100", "details", "property",
                               "contactInformation[0]", "message", "not a valid e-mail address");
    char buf[300];

    ck_assert_int_eq(infobip_contact_conflict(shared), 1);
    ck_assert_str_eq(infobip_error_text(shared, buf, sizeof(buf)),
                     "400100: Invalid person (contactInformation: PHONE 447700900001 belongs to "
                     "another person)");
    ck_assert_int_eq(infobip_contact_conflict(birth), 0);
    ck_assert_int_eq(infobip_contact_conflict(format), 0);
    ck_assert_int_eq(infobip_contact_conflict(NULL), 0);
    json_decref(shared);
    json_decref(birth);
    json_decref(format);
}
END_TEST

/* The suite. */
static Suite *errors_suite(void)
{
    Suite *suite = suite_create("infobip_errors");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, too_many_requests_both_shapes);
    tcase_add_test(tc, problem_details_name_the_first_item);
    tcase_add_test(tc, contact_conflict_or_not);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(errors_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
