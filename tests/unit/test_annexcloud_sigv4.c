/* test_annexcloud_sigv4.c: the S3 emulator's SigV4 verifier (which checks
 * the feed mode's libcurl-signed S3 requests) against AWS's published
 * examples, so the plugin is tested against a verifier known to be right. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "s3_sigv4.h"

#define EXAMPLE_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_DATE "20130524T000000Z"

typedef struct header_table {
    const char *names[8];
    const char *values[8];
} header_table;

static const char *table_header(void *user, const char *name)
{
    const header_table *table = user;

    for (size_t i = 0; i < 8 && table->names[i]; i++) {
        if (strcmp(table->names[i], name) == 0)
            return table->values[i];
    }
    return NULL;
}

static const header_table get_object_headers = {
    {"host", "range", "x-amz-content-sha256", "x-amz-date"},
    {"examplebucket.s3.amazonaws.com", "bytes=0-9", S3_EMPTY_SHA256, EXAMPLE_DATE},
};

static s3_sigv4_input get_object_input(void)
{
    s3_sigv4_input in = {
        .method = "GET",
        .path = "/test.txt",
        .query = NULL,
        .query_count = 0,
        .signed_headers = "host;range;x-amz-content-sha256;x-amz-date",
        .header = table_header,
        .header_user = (void *)&get_object_headers,
        .payload_hash = S3_EMPTY_SHA256,
    };
    return in;
}

/* AWS "Signature Calculations for the Authorization Header", GET Object. */
START_TEST(test_get_object_example)
{
    s3_sigv4_input in = get_object_input();
    char err[200] = "", sig[65];
    char *canonical = s3_canonical_request(&in, err, sizeof(err));

    ck_assert_msg(canonical != NULL, "no canonical request: %s", err);
    ck_assert_str_eq(canonical, "GET\n/test.txt\n\n"
                                "host:examplebucket.s3.amazonaws.com\n"
                                "range:bytes=0-9\n"
                                "x-amz-content-sha256:" S3_EMPTY_SHA256 "\n"
                                "x-amz-date:" EXAMPLE_DATE "\n\n"
                                "host;range;x-amz-content-sha256;x-amz-date\n" S3_EMPTY_SHA256);
    ck_assert_int_eq(s3_sigv4_signature(EXAMPLE_SECRET, EXAMPLE_DATE, "us-east-1", "s3", canonical, sig), 0);
    ck_assert_str_eq(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    free(canonical);
}
END_TEST

/* The same document's GET Bucket (List Objects) example: query sorted. */
START_TEST(test_list_objects_example)
{
    static const header_table headers = {
        {"host", "x-amz-content-sha256", "x-amz-date"},
        {"examplebucket.s3.amazonaws.com", S3_EMPTY_SHA256, EXAMPLE_DATE},
    };
    const s3_query_param query[] = {{"prefix", "J"}, {"max-keys", "2"}};
    s3_sigv4_input in = {
        .method = "GET",
        .path = "/",
        .query = query,
        .query_count = 2,
        .signed_headers = "host;x-amz-content-sha256;x-amz-date",
        .header = table_header,
        .header_user = (void *)&headers,
        .payload_hash = S3_EMPTY_SHA256,
    };
    char err[200] = "", sig[65];
    char *canonical = s3_canonical_request(&in, err, sizeof(err));

    ck_assert_msg(canonical != NULL, "no canonical request: %s", err);
    ck_assert_msg(strstr(canonical, "\n/\nmax-keys=2&prefix=J\n") != NULL, "query not sorted: %s", canonical);
    ck_assert_int_eq(s3_sigv4_signature(EXAMPLE_SECRET, EXAMPLE_DATE, "us-east-1", "s3", canonical, sig), 0);
    ck_assert_str_eq(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(canonical);
}
END_TEST

/* A wrong secret or a changed header gives another signature. */
START_TEST(test_signature_depends_on_secret_and_headers)
{
    static const header_table other_range = {
        {"host", "range", "x-amz-content-sha256", "x-amz-date"},
        {"examplebucket.s3.amazonaws.com", "bytes=0-10", S3_EMPTY_SHA256, EXAMPLE_DATE},
    };
    s3_sigv4_input in = get_object_input();
    char err[200] = "", good[65], wrong_secret[65], wrong_range[65];
    char *canonical = s3_canonical_request(&in, err, sizeof(err)), *changed;

    ck_assert_ptr_nonnull(canonical);
    ck_assert_int_eq(s3_sigv4_signature(EXAMPLE_SECRET, EXAMPLE_DATE, "us-east-1", "s3", canonical, good), 0);
    ck_assert_int_eq(s3_sigv4_signature("not-the-secret", EXAMPLE_DATE, "us-east-1", "s3", canonical, wrong_secret), 0);
    ck_assert_str_ne(good, wrong_secret);
    in.header_user = (void *)&other_range;
    changed = s3_canonical_request(&in, err, sizeof(err));
    ck_assert_ptr_nonnull(changed);
    ck_assert_int_eq(s3_sigv4_signature(EXAMPLE_SECRET, EXAMPLE_DATE, "us-east-1", "s3", changed, wrong_range), 0);
    ck_assert_str_ne(good, wrong_range);
    free(canonical);
    free(changed);
}
END_TEST

/* A header named in SignedHeaders but absent is an error naming it. */
START_TEST(test_missing_signed_header)
{
    s3_sigv4_input in = get_object_input();
    char err[200] = "";
    char *canonical;

    in.signed_headers = "host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token";
    canonical = s3_canonical_request(&in, err, sizeof(err));
    ck_assert_ptr_null(canonical);
    ck_assert_msg(strstr(err, "x-amz-security-token") != NULL, "error does not name the header: %s", err);
}
END_TEST

/* Keys and query values are encoded the SigV4 way: '/' kept in paths only,
 * space as %20 (never '+'), unreserved characters as they are. */
START_TEST(test_uri_encoding)
{
    char out[128];

    ck_assert_int_eq(s3_uri_encode("exports/a b+c~d.csv", 1, out, sizeof(out)), 23);
    ck_assert_str_eq(out, "exports/a%20b%2Bc~d.csv");
    ck_assert_int_ge(s3_uri_encode("a/b=c&d", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a%2Fb%3Dc%26d");
    ck_assert_int_ge(s3_uri_encode("\xc3\xa9", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "%C3%A9");
    ck_assert_int_eq(s3_uri_encode("abc/def", 1, out, 4), -1);
}
END_TEST

/* Parameters with a common prefix sort by name first ("a" before "a-b"),
 * and a parameter without '=' is signed as "name=". */
START_TEST(test_query_order)
{
    static const header_table headers = {{"host"}, {"h"}};
    const s3_query_param query[] = {{"list-type", "2"}, {"continuation-token", "k/1 2"}, {"list", NULL}};
    s3_sigv4_input in = {
        .method = "GET", .path = "/bucket", .query = query, .query_count = 3,
        .signed_headers = "host", .header = table_header, .header_user = (void *)&headers,
        .payload_hash = S3_EMPTY_SHA256,
    };
    char err[200] = "";
    char *canonical = s3_canonical_request(&in, err, sizeof(err));

    ck_assert_ptr_nonnull(canonical);
    ck_assert_msg(strstr(canonical, "\ncontinuation-token=k%2F1%202&list=&list-type=2\n") != NULL,
                  "query: %s", canonical);
    free(canonical);
}
END_TEST

static Suite *sigv4_suite(void)
{
    Suite *suite = suite_create("annexcloud_sigv4");
    TCase *tc = tcase_create("sigv4");

    tcase_add_test(tc, test_get_object_example);
    tcase_add_test(tc, test_list_objects_example);
    tcase_add_test(tc, test_signature_depends_on_secret_and_headers);
    tcase_add_test(tc, test_missing_signed_header);
    tcase_add_test(tc, test_uri_encoding);
    tcase_add_test(tc, test_query_order);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(sigv4_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
