/* test_loytime.c: unit tests of plugins/common/loytime, the plugins' one
 * date and timestamp parser and formatter: the strict ISO 8601 forms and
 * zones, what is refused (no zone, impossible dates and times), the extra
 * forms a source asks for (a date alone, a space for the 'T'), and that
 * formatting gives back what parsing read. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "loytime.h"

/* The epoch of `text` under `forms`, or -1 when refused (no test below
 * uses a time of 1969-12-31T23:59:59Z). */
static int64_t epoch_of(const char *text, unsigned forms)
{
    int64_t epoch = 0;

    return loytime_parse_time(text, forms, &epoch) == 0 ? epoch : -1;
}

START_TEST(strict_timestamps)
{
    ck_assert_int_eq(epoch_of("1970-01-01T00:00:00Z", 0), 0);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12Z", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12+0000", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12+00:00", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12+00", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12.250Z", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T12:30:12+0530", 0), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T05:00:12-02:00", 0), 1723100412);
    /* The wrappers are the flags they name. */
    {
        int64_t epoch = 0;
        ck_assert_int_eq(loytime_parse_timestamp("2024-08-08T07:00:12Z", &epoch), 0);
        ck_assert_int_eq(epoch, 1723100412);
        ck_assert_int_eq(loytime_parse_timestamp("2024-08-08", &epoch), -1);
        ck_assert_int_eq(loytime_parse_date_or_timestamp("2024-08-08", &epoch), 0);
        ck_assert_int_eq(epoch, 1723075200);
    }
}
END_TEST

START_TEST(refused)
{
    static const char *const bad[] = {
        NULL, "", "yesterday", "2024-08-08T07:00:12", /* no zone: ambiguous */
        "2024-08-08T07:00:12 UTC", "2024-08-08T07:00:12Europe/Paris",
        "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-08-08T24:00:00Z", "2024-08-08T07:60:00Z", "2024-08-08T07:00:61Z",
        "2024-08-08T07:00:12+2400", "2024-08-08T07:00:12+0060", "2024-08-08T07:00:12+0",
        "2024-08-08T07:00:12.Z", "2024-08-08T07:00:12Zjunk", "2024-8-8T07:00:12Z",
        "2024-08-08t07:00:12Z", "2024-08-08 07:00:12Z", /* a space only when asked */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(epoch_of(bad[i], 0) == -1, "accepted '%s'", bad[i] ? bad[i] : "(null)");
    /* A date alone only when asked. */
    ck_assert_int_eq(epoch_of("2024-08-08", 0), -1);
}
END_TEST

START_TEST(date_alone)
{
    ck_assert_int_eq(epoch_of("2024-08-08", LOYTIME_DATE_ALONE), 1723075200);
    ck_assert_int_eq(epoch_of("1969-12-30", LOYTIME_DATE_ALONE), -2 * 86400);
    ck_assert_int_eq(epoch_of("2024-02-29", LOYTIME_DATE_ALONE), 1709164800);
    ck_assert_int_eq(epoch_of("2023-02-29", LOYTIME_DATE_ALONE), -1);
    ck_assert_int_eq(epoch_of("08/08/2024", LOYTIME_DATE_ALONE), -1);
    ck_assert_int_eq(epoch_of("2024-08-8", LOYTIME_DATE_ALONE), -1);
    /* Timestamps still parse under the flag. */
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12Z", LOYTIME_DATE_ALONE), 1723100412);
}
END_TEST

START_TEST(space_separator)
{
    unsigned forms = LOYTIME_SPACE_SEPARATOR;

    ck_assert_int_eq(epoch_of("2024-08-08 07:00:12+0000", forms), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08 07:00:12Z", forms), 1723100412);
    ck_assert_int_eq(epoch_of("2024-08-08T07:00:12Z", forms), 1723100412);
    /* The zone is still required, and one space only. */
    ck_assert_int_eq(epoch_of("2024-08-08 07:00:12", forms), -1);
    ck_assert_int_eq(epoch_of("2024-08-08  07:00:12Z", forms), -1);
    ck_assert_int_eq(epoch_of("2024-08-08", forms), -1);
    ck_assert_int_eq(epoch_of("2024-08-08", forms | LOYTIME_DATE_ALONE), 1723075200);
}
END_TEST

START_TEST(format_round_trip)
{
    char ts[LOYTIME_TS_LEN], date[LOYTIME_DATE_LEN];
    int64_t epoch = 0, days = 0;

    ck_assert_str_eq(loytime_format_timestamp(1723100412, ts, sizeof(ts)), "2024-08-08T07:00:12Z");
    ck_assert_str_eq(loytime_format_timestamp(-1, ts, sizeof(ts)), "1969-12-31T23:59:59Z");
    ck_assert_str_eq(loytime_format_date(loytime_day_of(-1), date, sizeof(date)), "1969-12-31");
    /* Exactly the canonical length fits (ac_convert's 21 and 11 bytes). */
    ck_assert_str_eq(loytime_format_timestamp(253402300799, ts, 21), "9999-12-31T23:59:59Z");
    ck_assert_str_eq(loytime_format_date(loytime_day_of(253402300799), date, 11), "9999-12-31");
    for (int64_t t = -4102444800; t < 4102444800; t += 86400 * 37 + 3671) {
        loytime_format_timestamp(t, ts, sizeof(ts));
        ck_assert_int_eq(loytime_parse_timestamp(ts, &epoch), 0);
        ck_assert_int_eq(epoch, t);
        loytime_format_date(loytime_day_of(t), date, sizeof(date));
        ck_assert_int_eq(loytime_parse_date(date, &days), 0);
        ck_assert_int_eq(days, loytime_day_of(t));
    }
}
END_TEST

START_TEST(calendar)
{
    int64_t days = 0;

    ck_assert_int_eq(loytime_parse_date("2024-02-29", &days), 0);
    ck_assert_str_eq(loytime_format_date(loytime_add_years(days, 1), (char[LOYTIME_DATE_LEN]){0},
                                         LOYTIME_DATE_LEN),
                     "2025-02-28");
    ck_assert_str_eq(loytime_format_date(loytime_add_years(days, 4), (char[LOYTIME_DATE_LEN]){0},
                                         LOYTIME_DATE_LEN),
                     "2028-02-29");
    ck_assert(loytime_is_leap(2000));
    ck_assert(!loytime_is_leap(1900));
    ck_assert_int_eq(loytime_day_of(-86400), -1);
    ck_assert_int_eq(loytime_day_of(-86401), -2);
}
END_TEST

static Suite *loytime_suite(void)
{
    Suite *suite = suite_create("loytime");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, strict_timestamps);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, date_alone);
    tcase_add_test(tc, space_separator);
    tcase_add_test(tc, format_round_trip);
    tcase_add_test(tc, calendar);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(loytime_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
