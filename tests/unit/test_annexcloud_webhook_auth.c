/* test_annexcloud_webhook_auth.c: Check tests of the webhook listener's
 * credential checks (ac_webhook_auth.c): basic auth parsed from the raw
 * Authorization header (RFC 7617: the scheme in any case; the decoded
 * bytes compared whole, so a NUL cannot cut the password short) and the
 * signature header's shape and value. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <openssl/evp.h>

#include "../../plugins/annexcloud-source/ac_jwt.h"
#include "../../plugins/annexcloud-source/ac_webhook_auth.h"

static const char expected[] = "hook:pa:ss-word";

/* "SCHEME base64(bytes)" into a static buffer. */
static const char *basic_header(const char *scheme, const char *bytes, size_t len)
{
    static char header[512];
    unsigned char encoded[400];
    int n = EVP_EncodeBlock(encoded, (const unsigned char *)bytes, (int)len);

    ck_assert_int_ge(n, 0);
    snprintf(header, sizeof(header), "%s %s", scheme, (const char *)encoded);
    return header;
}

START_TEST(test_basic_right_credentials_accepted)
{
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", expected, strlen(expected)), expected,
                                           strlen(expected)), 1);
}
END_TEST

/* RFC 7617 (via RFC 7235): the scheme is case-insensitive. */
START_TEST(test_basic_scheme_any_case)
{
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("basic", expected, strlen(expected)), expected,
                                           strlen(expected)), 1);
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("BASIC", expected, strlen(expected)), expected,
                                           strlen(expected)), 1);
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("bAsIc", expected, strlen(expected)), expected,
                                           strlen(expected)), 1);
}
END_TEST

/* The review's repro: base64("hook:pa:ss-word\0anything") was accepted. */
START_TEST(test_basic_nul_in_password_refused)
{
    static const char with_nul[] = "hook:pa:ss-word\0anything";

    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", with_nul, sizeof(with_nul) - 1), expected,
                                           strlen(expected)), 0);
    /* A NUL inside, same length as the right value. */
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", "hook:pa\0ss-word", 15), expected,
                                           strlen(expected)), 0);
}
END_TEST

START_TEST(test_basic_wrong_or_partial_refused)
{
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", "hook:pa:ss-wor", 14), expected,
                                           strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", "hook:pa:ss-word2", 16), expected,
                                           strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", "hook:pa:ss-worD", 15), expected,
                                           strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches(basic_header("Basic", "", 0), expected, strlen(expected)), 0);
}
END_TEST

START_TEST(test_basic_malformed_refused)
{
    const char *right = basic_header("Basic", expected, strlen(expected));
    char copy[512];

    ck_assert_int_eq(ac_basic_auth_matches(NULL, expected, strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches("", expected, strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches("Basic", expected, strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches("Basic ", expected, strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches("Basic !!!!", expected, strlen(expected)), 0);
    ck_assert_int_eq(ac_basic_auth_matches("Basic aG9v=a", expected, strlen(expected)), 0);
    /* Another scheme with the same credentials; no space after the scheme. */
    snprintf(copy, sizeof(copy), "Bearer%s", right + 5);
    ck_assert_int_eq(ac_basic_auth_matches(copy, expected, strlen(expected)), 0);
    snprintf(copy, sizeof(copy), "Basic%s", right + 6);
    ck_assert_int_eq(ac_basic_auth_matches(copy, expected, strlen(expected)), 0);
    /* A character that is not base64 in the middle. */
    snprintf(copy, sizeof(copy), "%s", right);
    copy[10] = '*';
    ck_assert_int_eq(ac_basic_auth_matches(copy, expected, strlen(expected)), 0);
}
END_TEST

START_TEST(test_basic_whitespace_and_padding_tolerated)
{
    const char *right = basic_header("Basic", expected, strlen(expected));
    char copy[512];
    size_t len;

    snprintf(copy, sizeof(copy), "  Basic \t %s  ", right + 6);
    ck_assert_int_eq(ac_basic_auth_matches(copy, expected, strlen(expected)), 1);
    /* Without its '=' padding (15 bytes encode to 20 characters, one '='). */
    snprintf(copy, sizeof(copy), "%s", right);
    len = strlen(copy);
    while (len > 0 && copy[len - 1] == '=')
        copy[--len] = '\0';
    ck_assert_int_eq(ac_basic_auth_matches(copy, expected, strlen(expected)), 1);
}
END_TEST

START_TEST(test_signature_shape)
{
    static const char hex[] = "f66c6481f4436044a919992bef6256a59caaac2283bbe54466b853ff642ca319";
    char header[128];

    snprintf(header, sizeof(header), "sha256=%s", hex);
    ck_assert_int_eq(ac_signature_wellformed(header), 1);
    snprintf(header, sizeof(header), "SHA256=%s", hex);
    ck_assert_int_eq(ac_signature_wellformed(header), 1);
    ck_assert_int_eq(ac_signature_wellformed(hex), 1);
    ck_assert_int_eq(ac_signature_wellformed(NULL), 0);
    ck_assert_int_eq(ac_signature_wellformed(""), 0);
    ck_assert_int_eq(ac_signature_wellformed("sha256="), 0);
    snprintf(header, sizeof(header), "sha256=%.63s", hex);
    ck_assert_int_eq(ac_signature_wellformed(header), 0);
    snprintf(header, sizeof(header), "sha256=%.63sg", hex);
    ck_assert_int_eq(ac_signature_wellformed(header), 0);
}
END_TEST

/* A signature over the exact body with the right secret matches, in
 * either hex case; any other secret or body does not. */
START_TEST(test_signature_value)
{
    static const char body[] = "{\"eventId\":\"e1\"}";
    char hex[65], header[128];

    /* The signature as a sender computes it. */
    ac_hmac_sha256_hex("whsecret", body, strlen(body), hex);
    snprintf(header, sizeof(header), "sha256=%s", hex);
    ck_assert_int_eq(ac_signature_matches(header, "whsecret", body, strlen(body)), 1);
    for (char *p = header; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert_int_eq(ac_signature_matches(header, "whsecret", body, strlen(body)), 1);
    ck_assert_int_eq(ac_signature_matches(header, "other", body, strlen(body)), 0);
    ck_assert_int_eq(ac_signature_matches(header, "whsecret", body, strlen(body) - 1), 0);
    ck_assert_int_eq(ac_signature_matches(NULL, "whsecret", body, strlen(body)), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_webhook_auth");
    TCase *tc = tcase_create("auth");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, test_basic_right_credentials_accepted);
    tcase_add_test(tc, test_basic_scheme_any_case);
    tcase_add_test(tc, test_basic_nul_in_password_refused);
    tcase_add_test(tc, test_basic_wrong_or_partial_refused);
    tcase_add_test(tc, test_basic_malformed_refused);
    tcase_add_test(tc, test_basic_whitespace_and_padding_tolerated);
    tcase_add_test(tc, test_signature_shape);
    tcase_add_test(tc, test_signature_value);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
