/* test_nats_subject.c: unit tests of plugins/nats-sink/nats_subject, the
 * nats-sink's subject template: what a template may be, expanding it for a
 * record ({client} from the option or the record, other fields from the
 * record, integers as text), what a record cannot give (a missing field, a
 * value that is not one subject token, a subject too long), and the
 * stream-subject pattern a template publishes under. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "nats_subject.h"

/* 1 when `tmpl` passes nats_subject_check. */
static int valid(const char *tmpl)
{
    char err[200];
    return nats_subject_check(tmpl, err, sizeof(err)) == 0;
}

START_TEST(templates_checked)
{
    ck_assert(valid("sluice.{client}.members"));
    ck_assert(valid("members"));
    ck_assert(valid("a.{region}-{client}.b"));
    ck_assert(!valid(""));
    ck_assert(!valid("sluice..members"));
    ck_assert(!valid(".members"));
    ck_assert(!valid("members."));
    ck_assert(!valid("sluice.*.members"));
    ck_assert(!valid("sluice.>"));
    ck_assert(!valid("sluice.{client.members"));
    ck_assert(!valid("sluice.{}.members"));
    ck_assert(!valid("sluice.{a.b}.members"));
    ck_assert(!valid("sluice members"));
}
END_TEST

START_TEST(expanded_for_records)
{
    char out[64], err[200];
    json_t *record = json_pack("{s:s,s:i,s:s}", "client", "acme", "id", 42, "region", "eu");

    ck_assert_int_eq(nats_subject_expand("sluice.{client}.members", record, NULL, out,
                                         sizeof(out), err, sizeof(err)), 0);
    ck_assert_str_eq(out, "sluice.acme.members");
    /* the option wins over the record's field */
    ck_assert_int_eq(nats_subject_expand("sluice.{client}.members", record, "beta", out,
                                         sizeof(out), err, sizeof(err)), 0);
    ck_assert_str_eq(out, "sluice.beta.members");
    ck_assert_int_eq(nats_subject_expand("m.{region}-{id}", record, NULL, out, sizeof(out),
                                         err, sizeof(err)), 0);
    ck_assert_str_eq(out, "m.eu-42");
    ck_assert_int_eq(nats_subject_expand("plain", NULL, NULL, out, sizeof(out), err,
                                         sizeof(err)), 0);
    ck_assert_str_eq(out, "plain");
    json_decref(record);
}
END_TEST

START_TEST(record_faults)
{
    char out[24], err[200];
    json_t *record = json_pack("{s:s,s:s,s:s,s:b,s:s}", "dotted", "a.b", "empty", "",
                               "star", "x*", "flag", 1, "long", "abcdefghijklmnopqrstuvwxyz");

    ck_assert_int_eq(nats_subject_expand("s.{client}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "\"client\""));
    ck_assert_int_eq(nats_subject_expand("s.{dotted}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "\"dotted\""));
    ck_assert_int_eq(nats_subject_expand("s.{empty}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_int_eq(nats_subject_expand("s.{star}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_int_eq(nats_subject_expand("s.{flag}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_int_eq(nats_subject_expand("s.{long}", record, NULL, out, sizeof(out), err,
                                         sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "longer than 23"));
    json_decref(record);
}
END_TEST

START_TEST(stream_pattern)
{
    char out[64];

    ck_assert_int_eq(nats_subject_pattern("sluice.{client}.members", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "sluice.*.members");
    ck_assert_int_eq(nats_subject_pattern("a.{region}-{client}.b", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a.*.b");
    ck_assert_int_eq(nats_subject_pattern("members", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "members");
    ck_assert_int_eq(nats_subject_pattern("sluice.{client}.members", out, 8), -1);
}
END_TEST

static Suite *nats_subject_suite(void)
{
    Suite *suite = suite_create("nats_subject");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, templates_checked);
    tcase_add_test(tc, expanded_for_records);
    tcase_add_test(tc, record_faults);
    tcase_add_test(tc, stream_pattern);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(nats_subject_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
