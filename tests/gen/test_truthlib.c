/* test_truthlib.c: Check unit tests of the ground-truth library: calendar rules, strict formats, JSON writing, record round trip. */
#include "truthlib.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int64_t day_of(const char *s)
{
    int64_t d = 0;
    ck_assert_msg(tl_parse_date(s, &d), "%s should parse", s);
    return d;
}

START_TEST(test_leap_day_anniversaries)
{
    char out[11];
    int64_t leap = day_of("2024-02-29");
    tl_fmt_date(tl_add_years(leap, 1), out);
    ck_assert_str_eq(out, "2025-02-28");
    tl_fmt_date(tl_add_years(leap, 3), out);
    ck_assert_str_eq(out, "2027-02-28");
    tl_fmt_date(tl_add_years(leap, 4), out);
    ck_assert_str_eq(out, "2028-02-29");
    tl_fmt_date(tl_add_years(day_of("2025-03-01"), 1), out);
    ck_assert_str_eq(out, "2026-03-01");
    /* 1900 is not a leap year, 2000 is */
    ck_assert(!tl_parse_date("1900-02-29", &leap));
    ck_assert(tl_parse_date("2000-02-29", &leap));
}
END_TEST

START_TEST(test_strict_formats)
{
    int64_t v;
    const char *bad_dates[] = {"2026-02-30", "14/02/2026", "2026-13-01", "2026-1-5", "2026-01-01T00:00:00Z", "", "2026-00-10"};
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(*bad_dates); i++)
        ck_assert_msg(!tl_parse_date(bad_dates[i], &v), "date \"%s\" accepted", bad_dates[i]);
    const char *bad_ts[] = {"2026-01-02 10:11:12", "2026-01-02T10:11:12", "2026-01-02T24:00:00Z",
                            "2026-01-02T10:11:12+0000", "2026-01-02T10:11:12.000Z", "2026-02-29T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(*bad_ts); i++)
        ck_assert_msg(!tl_parse_ts(bad_ts[i], &v), "timestamp \"%s\" accepted", bad_ts[i]);
    char out[21];
    ck_assert(tl_parse_ts("2026-11-20T10:11:12Z", &v));
    tl_fmt_ts(v, out);
    ck_assert_str_eq(out, "2026-11-20T10:11:12Z");
    ck_assert(tl_parse_ts("1969-12-31T23:59:59Z", &v));
    ck_assert_int_eq(v, -1);
    tl_fmt_ts(v, out);
    ck_assert_str_eq(out, "1969-12-31T23:59:59Z");
}
END_TEST

START_TEST(test_json_string_escaping)
{
    jw_t w = {0};
    jw_str(&w, "Zoë \"Q\" \\ \n\t\x01 李");
    jw_char(&w, 0);
    ck_assert_str_eq(w.buf, "\"Zoë \\\"Q\\\" \\\\ \\n\\t\\u0001 李\"");
    jw_reset(&w);
    jw_int(&w, -9223372036854775807LL - 1);
    jw_char(&w, 0);
    ck_assert_str_eq(w.buf, "-9223372036854775808");
    jw_free(&w);
}
END_TEST

/* The byte-at-a-time escaping jw_str must match: "\"" + escaped + "\"". */
static void escape_reference(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            *o++ = '\\';
            *o++ = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = 0;
}

/* jw_str copies 8-byte runs without escapes in one go: a character that needs escaping must be
 * found at every offset and length, next to bytes that look alike (0x20, 0x7f, UTF-8 bytes). */
START_TEST(test_json_string_escaping_every_offset)
{
    const char specials[] = {'"', '\\', '\n', '\r', '\t', 0x01, 0x1f, ' ', 0x7f, '!', '#', '[', ']', (char)0xc3, (char)0xa9};
    char in[40], want[256];
    jw_t w = {0};
    for (size_t len = 1; len < 25; len++)
        for (size_t pos = 0; pos < len; pos++)
            for (size_t k = 0; k < sizeof(specials); k++) {
                memset(in, 'a', len);
                in[len] = 0;
                in[pos] = specials[k];
                if (pos + 2 < len)
                    in[pos + 2] = '"'; /* a second escape in the same word */
                escape_reference(in, want);
                jw_reset(&w);
                jw_str(&w, in);
                jw_char(&w, 0);
                ck_assert_msg(strcmp(w.buf, want) == 0, "len %zu pos %zu char 0x%02x: got %s want %s", len, pos,
                              (unsigned char)specials[k], w.buf, want);
            }
    jw_free(&w);
}
END_TEST

/* long_strings follows every setter: the engine skips its size checks only when it is 0 */
START_TEST(test_long_string_bits)
{
    static char longname[TL_LONG_STRING + 1];
    memset(longname, 'A', TL_LONG_STRING);
    canon_t r;
    canon_init(&r);
    canon_set_str(&r, CF_FIRST_NAME, "Zoë");
    ck_assert_uint_eq(r.long_strings, 0);
    canon_set_str(&r, CF_FIRST_NAME, longname);
    canon_set_str(&r, CF_EMAIL, longname);
    ck_assert_uint_eq(r.long_strings, (1u << CF_FIRST_NAME) | (1u << CF_EMAIL));
    longname[TL_LONG_STRING - 1] = 0; /* one byte shorter: short */
    canon_set_str(&r, CF_FIRST_NAME, longname);
    ck_assert_uint_eq(r.long_strings, 1u << CF_EMAIL);
    canon_unset(&r, CF_EMAIL);
    ck_assert_uint_eq(r.long_strings, 0);
    longname[TL_LONG_STRING - 1] = 'A';
    canon_set_str(&r, CF_ZIP_CODE, longname);
    canon_set_null(&r, CF_ZIP_CODE);
    ck_assert_uint_eq(r.long_strings, 0);
    canon_set_str(&r, CF_ZIP_CODE, longname);
    canon_set_num(&r, CF_ZIP_CODE, 3);
    ck_assert_uint_eq(r.long_strings, 0);
}
END_TEST

START_TEST(test_record_round_trip_and_bad_fields)
{
    const char *line =
        "{\"kind\":\"member\",\"loyalty_id\":\"LID-1\",\"as_of\":\"2026-01-02T03:04:05Z\",\"first_name\":\"Łukasz\","
        "\"opt_out_date\":null,\"available_points\":5,\"available_rewards\":[\"$5 Reward\",\"$10 Reward\"],"
        "\"segments\":[\"vip\"]}";
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    canon_t r;
    char msg[128];
    jw_t w = {0};
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(canon_from_json(&r, j, msg, sizeof(msg)), 0);
    ck_assert_int_eq(r.bad_field, -1);
    canon_write(&w, &r);
    jw_char(&w, 0);
    ck_assert_str_eq(w.buf, line);
    json_decref(j);

    /* a malformed date, a non-integer and a string where a number belongs: the first in table order wins,
     * and the record is written back with the malformed value verbatim */
    j = json_loads("{\"loyalty_id\":\"LID-2\",\"as_of\":\"2026-01-02T03:04:05Z\",\"birthday\":\"2026-02-30\","
                   "\"earned_points\":1.5,\"zip_code\":12345}",
                   0, &err);
    ck_assert_int_eq(canon_from_json(&r, j, msg, sizeof(msg)), 0);
    ck_assert_str_eq(tl_fields[r.bad_field].name, "birthday");
    jw_reset(&w);
    canon_write(&w, &r);
    jw_char(&w, 0);
    ck_assert_ptr_nonnull(strstr(w.buf, "\"birthday\":\"2026-02-30\""));
    json_decref(j);
    j = json_string("not an object");
    ck_assert_int_eq(canon_from_json(&r, j, msg, sizeof(msg)), -1);
    ck_assert_ptr_nonnull(strstr(msg, "not a JSON object"));
    json_decref(j);
    jw_free(&w);
}
END_TEST

static Suite *truthlib_suite(void)
{
    Suite *s = suite_create("truthlib");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_leap_day_anniversaries);
    tcase_add_test(tc, test_strict_formats);
    tcase_add_test(tc, test_json_string_escaping);
    tcase_add_test(tc, test_json_string_escaping_every_offset);
    tcase_add_test(tc, test_long_string_bits);
    tcase_add_test(tc, test_record_round_trip_and_bad_fields);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(truthlib_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tl_arena_free();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
