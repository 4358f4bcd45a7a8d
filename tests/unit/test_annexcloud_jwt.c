/* test_annexcloud_jwt.c: Check tests of the annexcloud-source request
 * signing (ac_jwt.c) against the fixed vector of the Annex Cloud reference
 * (shared/reference/annexcloud-api.md §1.2) and openssl-computed HMACs. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "../../plugins/annexcloud-source/ac_jwt.h"

/* The reference's GET /users/jacklee2023 token, byte for byte. */
START_TEST(test_get_token_matches_reference_vector)
{
    static const char expected[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJteXNpdGUiLCJleHAiOjE3MzU2ODk2MDAsInNpdGVfaWQiOiIyOTIzNTQ4MCIsImhtYWMiOiJ6S3ZN"
        "bW11WnN2NnliVkEvSDR3R0Z4ZnpyZlE2a2IraUVTQzRtc2s4V0M4PSJ9."
        "dyz2Gyz5Qm8wq7XZdNMmMOiPALtnLxpYpHL40LM42rk";
    char *payload = ac_jwt_get_payload("jacklee2023");
    char *token;

    ck_assert_ptr_nonnull(payload);
    ck_assert_str_eq(payload, "\"jacklee2023\"");
    token = ac_jwt_build("testsecret", "29235480", "mysite", 1735689600LL, payload, strlen(payload));
    ck_assert_ptr_nonnull(token);
    ck_assert_str_eq(token, expected);
    free(token);
    free(payload);
}
END_TEST

START_TEST(test_get_hmac_matches_reference)
{
    char *hmac = ac_jwt_hmac("testsecret", "\"jacklee2023\"", 13);

    ck_assert_str_eq(hmac, "zKvMmmuZsv6ybVA/H4wGFxfzrfQ6kb+iESC4msk8WC8=");
    free(hmac);
}
END_TEST

/* POST /users/search signs the raw body, not a re-serialisation of it. */
START_TEST(test_post_hmac_matches_reference)
{
    static const char body[] = "{\"dataSearch\":{\"email\":\"jacklee2023@gmail.com\"}}";
    char *hmac = ac_jwt_hmac("testsecret", body, strlen(body));

    ck_assert_str_eq(hmac, "pPLk/kGjHTHfYs231RddfcNTueZu26vDB+WrDWnt82I=");
    free(hmac);
}
END_TEST

/* Ids with quotes or backslashes become a valid JSON string literal. */
START_TEST(test_get_payload_escapes_json)
{
    char *payload = ac_jwt_get_payload("a\"b\\c@x.com");

    ck_assert_str_eq(payload, "\"a\\\"b\\\\c@x.com\"");
    free(payload);
}
END_TEST

/* Webhook signature helper against:
 *   printf '%s' '{"eventId":"e1"}' | openssl dgst -sha256 -hmac whsecret */
START_TEST(test_hmac_hex_matches_openssl)
{
    static const char body[] = "{\"eventId\":\"e1\"}";
    char hex[65];

    ac_hmac_sha256_hex("whsecret", body, strlen(body), hex);
    ck_assert_str_eq(hex, "f66c6481f4436044a919992bef6256a59caaac2283bbe54466b853ff642ca319");
}
END_TEST

/* A different secret must give a different token (the signature is keyed). */
START_TEST(test_secret_changes_token)
{
    char *a = ac_jwt_build("testsecret", "29235480", "mysite", 1735689600LL, "\"x\"", 3);
    char *b = ac_jwt_build("othersecret", "29235480", "mysite", 1735689600LL, "\"x\"", 3);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_jwt");
    TCase *tc = tcase_create("jwt");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, test_get_token_matches_reference_vector);
    tcase_add_test(tc, test_get_hmac_matches_reference);
    tcase_add_test(tc, test_post_hmac_matches_reference);
    tcase_add_test(tc, test_get_payload_escapes_json);
    tcase_add_test(tc, test_hmac_hex_matches_openssl);
    tcase_add_test(tc, test_secret_changes_token);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
