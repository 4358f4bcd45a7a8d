/* test_util.c: unit tests of the small utilities in core/lib/util/: the
 * growable buffer (limits, NULs, steal/reset/free), the monotonic clock
 * and the retry backoff. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"
#include "util/clock.h"
#include "util/dynbuf.h"

START_TEST(dynbuf_appends_text_and_bytes_and_stays_terminated)
{
    dynbuf b;

    dynbuf_init(&b, 0);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(dynbuf_append_str(&b, "abc"), 0);
    ck_assert_int_eq(dynbuf_append(&b, "d\0e", 3), 0);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_int_eq(memcmp(b.data, "abcd\0e", 6), 0);
    ck_assert_int_eq(b.data[6], '\0');
    ck_assert_int_eq(dynbuf_printf(&b, "-%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data + 6, "-42-x");
    /* many small appends: contents stay right across reallocations */
    dynbuf_reset(&b);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(dynbuf_append(&b, "0123456789" + i % 10, 1), 0);
    ck_assert_uint_eq(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b.data[i], '0' + i % 10);
    ck_assert_uint_ge(b.cap, b.len + 1);
    /* truncate keeps a prefix, terminated; never lengthens */
    dynbuf_truncate(&b, 20000);
    ck_assert_uint_eq(b.len, 10000);
    dynbuf_truncate(&b, 3);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_str_eq(b.data, "012");
    dynbuf_truncate(&b, 0);
    ck_assert_str_eq(b.data, "");
    dynbuf_free(&b);
    dynbuf_truncate(&b, 0); /* empty, nothing allocated */
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    dynbuf_free(&b); /* twice is safe */
}
END_TEST

START_TEST(dynbuf_refuses_to_grow_past_its_limit)
{
    dynbuf b;

    dynbuf_init(&b, 8);
    ck_assert_int_eq(dynbuf_append_str(&b, "12345678"), 0);
    ck_assert_int_eq(b.overflow, 0);
    ck_assert_int_eq(dynbuf_append_str(&b, "9"), -1);
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_str_eq(b.data, "12345678"); /* what was there stays */
    ck_assert_int_eq(dynbuf_printf(&b, "%s", "x"), -1);
    ck_assert_uint_le(b.cap, 9);
    dynbuf_reset(&b);
    ck_assert_int_eq(b.overflow, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(dynbuf_append(&b, "x", SIZE_MAX), -1); /* no wrap-around */
    dynbuf_free(&b);
    ck_assert_uint_eq(b.limit, 8); /* free keeps the limit */
}
END_TEST

START_TEST(dynbuf_steal_hands_the_data_over)
{
    dynbuf b;
    char *text;

    dynbuf_init(&b, 100);
    text = dynbuf_steal(&b);
    ck_assert_str_eq(text, ""); /* never NULL for an empty buffer */
    free(text);
    dynbuf_append_str(&b, "kept");
    text = dynbuf_steal(&b);
    ck_assert_str_eq(text, "kept");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.limit, 100);
    free(text);
}
END_TEST

START_TEST(clock_never_goes_back)
{
    int64_t a = sluice_clock_ms();
    double s = sluice_monotonic_seconds();

    for (int i = 0; i < 1000; i++) {
        int64_t b = sluice_clock_ms();
        ck_assert_int_ge(b, a);
        a = b;
    }
    ck_assert(sluice_monotonic_seconds() >= s);
    ck_assert_int_le(a - (int64_t)(s * 1000.0), 1000); /* one clock, two units */
}
END_TEST

START_TEST(backoff_is_capped_jittered_and_honours_hints)
{
    ck_assert_int_eq(sluice_backoff_ms(0, 200, 60000, 0, 0.0), 50);    /* the floor */
    ck_assert_int_eq(sluice_backoff_ms(0, 200, 60000, 0, 0.5), 125);   /* 50 + 150 / 2 */
    ck_assert_int_eq(sluice_backoff_ms(3, 200, 60000, 0, 0.5), 825);   /* 50 + 1550 / 2 */
    ck_assert_int_eq(sluice_backoff_ms(40, 200, 5000, 0, 0.5), 2525); /* capped at 5 s */
    ck_assert_int_eq(sluice_backoff_ms(0, 20, 20, 0, 0.5), 20);       /* floor above the cap */
    ck_assert_int_le(sluice_backoff_ms(40, 200, 5000, 0, 0.9999), 5000);
    ck_assert_int_eq(sluice_backoff_ms(0, 200, 5000, 2.0, 0.1), 2000); /* Retry-After */
    ck_assert_int_le(sluice_backoff_ms(1000000, 200, 60000, 0, 0.9999), 60000);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");

    tcase_add_test(tc, dynbuf_appends_text_and_bytes_and_stays_terminated);
    tcase_add_test(tc, dynbuf_refuses_to_grow_past_its_limit);
    tcase_add_test(tc, dynbuf_steal_hands_the_data_over);
    tcase_add_test(tc, clock_never_goes_back);
    tcase_add_test(tc, backoff_is_capped_jittered_and_honours_hints);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
