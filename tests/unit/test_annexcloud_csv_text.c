/* test_annexcloud_csv_text.c: Check tests of the feed mode's cell text
 * (ac_csv_text.c): UTF-8 cells taken as they are and others refused with
 * the byte and its position, a NUL refused in every encoding, ISO-8859-1
 * and Windows-1252 transcoded by iconv, unknown encodings refused by
 * name, the UTF-8 check agreeing with jansson's on random bytes, and the
 * dead-letter escape printable and exact on random bytes. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <jansson.h>

#include "../../plugins/annexcloud-source/ac_csv_text.h"

/* ck_assert_msg reports every passed check to the parent process; the
 * random loops below report only a failure. */
#define REQUIRE(expr, ...) \
    do { \
        if (!(expr)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

static ac_text_decoder *decoder_for(const char *encoding)
{
    char err[256] = "";
    ac_text_decoder *decoder = ac_text_decoder_new(encoding, err, sizeof(err));

    ck_assert_msg(decoder != NULL, "no decoder for %s: %s", encoding ? encoding : "(default)", err);
    return decoder;
}

/* Decode `len` bytes, which must succeed, and compare with `want`. */
static void expect_text(ac_text_decoder *decoder, const char *in, size_t len, const char *want)
{
    char *text = NULL, why[200] = "";
    int rc = ac_text_decode(decoder, in, len, &text, why, sizeof(why));

    ck_assert_msg(rc == 0, "decode failed (%d): %s", rc, why);
    ck_assert_str_eq(text, want);
    free(text);
}

/* Decode `len` bytes, which must be refused with `want` as the reason. */
static void expect_refused(ac_text_decoder *decoder, const char *in, size_t len, const char *want)
{
    char *text = (char *)"unset", why[200] = "";
    int rc = ac_text_decode(decoder, in, len, &text, why, sizeof(why));

    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_null(text);
    ck_assert_str_eq(why, want);
}

#define TEXT(decoder, literal, want) expect_text(decoder, literal, sizeof(literal) - 1, want)
#define REFUSED(decoder, literal, want) expect_refused(decoder, literal, sizeof(literal) - 1, want)

START_TEST(test_utf8_cells)
{
    ac_text_decoder *decoder = decoder_for(NULL);

    TEXT(decoder, "", "");
    TEXT(decoder, "Zo\xC3\xAB \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80",
         "Zo\xC3\xAB \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80");
    /* The review's repro: a Latin-1 cell in a UTF-8 feed. */
    REFUSED(decoder, "Jos\xe9", "is not UTF-8 (byte 0xE9 at byte 4)");
    REFUSED(decoder, "Garc\xed" "a", "is not UTF-8 (byte 0xED at byte 5)");
    REFUSED(decoder, "Nu\0ll", "contains a NUL byte (byte 3)");
    REFUSED(decoder, "a\xC0\xAF", "is not UTF-8 (byte 0xC0 at byte 2)");     /* overlong '/' */
    REFUSED(decoder, "\xED\xA0\x80", "is not UTF-8 (byte 0xED at byte 1)");   /* a surrogate */
    REFUSED(decoder, "\xF4\x90\x80\x80", "is not UTF-8 (byte 0xF4 at byte 1)"); /* past U+10FFFF */
    REFUSED(decoder, "ab\xE6\x9D", "is not UTF-8 (byte 0xE6 at byte 3)");     /* cut short */
    ac_text_decoder_free(&decoder);
    ck_assert_ptr_null(decoder);
}
END_TEST

START_TEST(test_latin1_and_windows_1252_cells)
{
    ac_text_decoder *latin1 = decoder_for("ISO-8859-1");
    ac_text_decoder *windows = decoder_for("windows-1252");
    char all[255], *text = NULL, why[200];

    TEXT(latin1, "Jos\xe9", "Jos\xC3\xA9");
    TEXT(latin1, "Garc\xed" "a", "Garc\xC3\xAD" "a");
    TEXT(latin1, "\x80\xff", "\xC2\x80\xC3\xBF");
    REFUSED(latin1, "Nu\0ll", "contains a NUL byte (byte 3)");
    /* Every byte but NUL is a Latin-1 character. */
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    ck_assert_int_eq(ac_text_decode(latin1, all, sizeof(all), &text, why, sizeof(why)), 0);
    ck_assert_uint_eq(strlen(text), 127 + 2 * 128);
    free(text);
    TEXT(windows, "Jos\xe9", "Jos\xC3\xA9");
    TEXT(windows, "\x80 \x93quoted\x94", "\xE2\x82\xAC \xE2\x80\x9Cquoted\xE2\x80\x9D");
    REFUSED(windows, "ab\x81", "is not Windows-1252 (byte 0x81 at byte 3)");
    /* The same decoder again after a refusal: no state carried over. */
    TEXT(windows, "\x80", "\xE2\x82\xAC");
    ac_text_decoder_free(&latin1);
    ac_text_decoder_free(&windows);
}
END_TEST

START_TEST(test_unknown_encoding_is_named)
{
    char err[256] = "";
    ac_text_decoder *decoder = ac_text_decoder_new("utf-16", err, sizeof(err));

    ck_assert_ptr_null(decoder);
    ck_assert_str_eq(err, "encoding 'utf-16' is not one of utf-8, iso-8859-1, windows-1252");
    decoder = decoder_for("UTF-8");
    ac_text_decoder_free(&decoder);
    decoder = decoder_for("");
    ac_text_decoder_free(&decoder);
    ac_text_decoder_free(&decoder); /* NULL is fine */
}
END_TEST

START_TEST(test_escape)
{
    char *escaped = ac_text_escape("a\\b Jos\xe9 \xC3\xA9 N\0!", 15);

    ck_assert_str_eq(escaped, "a\\\\b Jos\\xe9 \xC3\xA9 N\\x00!");
    free(escaped);
    escaped = ac_text_escape("", 0);
    ck_assert_str_eq(escaped, "");
    free(escaped);
}
END_TEST

/* Read an escaped string back into bytes (the inverse the escape promises);
 * returns the byte count. */
static size_t unescape(const char *escaped, char *out)
{
    size_t len = 0;

    for (const char *p = escaped; *p;) {
        if (p[0] == '\\' && p[1] == '\\') {
            out[len++] = '\\';
            p += 2;
        } else if (p[0] == '\\' && p[1] == 'x') {
            char hex[3] = {p[2], p[3], '\0'};
            out[len++] = (char)strtol(hex, NULL, 16);
            p += 4;
        } else {
            out[len++] = *p++;
        }
    }
    return len;
}

/* Random byte strings (fixed seed): the UTF-8 check says what jansson
 * says, and the escape is UTF-8 without NUL and reads back exactly. */
START_TEST(test_random_bytes_agree_with_jansson_and_escape_exactly)
{
    uint32_t state = 1252;
    char bytes[24], back[24 * 4];

    for (int round = 0; round < 20000; round++) {
        size_t len, bad_at = 0;
        json_t *string;
        char *escaped;
        int ours;

        state = state * 1103515245u + 12345u;
        len = (state >> 16) % sizeof(bytes);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            /* Mostly bytes of UTF-8 sequences, so valid ones come up too. */
            bytes[i] = (char)((state >> 16) % 3 == 0 ? (state >> 20) % 128 : 0x80 + (state >> 20) % 128);
        }
        ours = ac_text_is_utf8(bytes, len, &bad_at);
        string = json_stringn(bytes, len);
        REQUIRE(ours == (string != NULL), "round %d: ours says %d, jansson %s", round, ours,
                string ? "valid" : "invalid");
        json_decref(string);
        escaped = ac_text_escape(bytes, len);
        REQUIRE(escaped != NULL, "out of memory");
        REQUIRE(ac_text_is_utf8(escaped, strlen(escaped), NULL), "round %d: escape is not UTF-8", round);
        REQUIRE(unescape(escaped, back) == len && memcmp(back, bytes, len) == 0, "round %d: escape %s is not exact",
                round, escaped);
        free(escaped);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_csv_text");
    TCase *tc = tcase_create("text");
    SRunner *runner;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_utf8_cells);
    tcase_add_test(tc, test_latin1_and_windows_1252_cells);
    tcase_add_test(tc, test_unknown_encoding_is_named);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_random_bytes_agree_with_jansson_and_escape_exactly);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
