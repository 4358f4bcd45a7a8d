/* test_annexcloud_feed_remote.c: feed mode's remote locations without a
 * network: the ListObjectsV2 scanner (keys with XML entities, pages,
 * errors) and the checks ac_feed_remote_open makes before any transfer
 * (URL shapes, credentials, key and known_hosts files). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/annexcloud-source/ac_feed_remote.h"

START_TEST(test_listing_keys_and_token)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
        "<Prefix>exports/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>exports/a&amp;b.csv</Key><Size>1</Size></Contents>"
        "<Contents><Key>exports/&lt;x&gt; &quot;q&quot; &apos;s&apos;.csv</Key></Contents>"
        "<Contents><Key>exports/caf&#xE9;&#233;&#x1F600;.csv</Key></Contents>"
        "<NextContinuationToken>tok&amp;en/1</NextContinuationToken></ListBucketResult>";
    char **keys = NULL, *token = NULL;
    size_t count = 0;
    int truncated = 0;

    ck_assert_int_eq(ac_s3_parse_listing(xml, &keys, &count, &truncated, &token), 0);
    ck_assert_uint_eq(count, 3);
    ck_assert_str_eq(keys[0], "exports/a&b.csv");
    ck_assert_str_eq(keys[1], "exports/<x> \"q\" 's'.csv");
    ck_assert_str_eq(keys[2], "exports/caf\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80.csv");
    ck_assert_int_eq(truncated, 1);
    ck_assert_str_eq(token, "tok&en/1");
    ac_feed_names_free(keys, count);
    free(token);
}
END_TEST

/* The last page: not truncated, no token; an empty bucket: no keys. */
START_TEST(test_listing_last_page_and_empty)
{
    char **keys = NULL, *token = NULL;
    size_t count = 0;
    int truncated = 1;

    ck_assert_int_eq(ac_s3_parse_listing("<ListBucketResult><Contents><Key>k</Key></Contents>"
                                         "<IsTruncated>false</IsTruncated></ListBucketResult>",
                                         &keys, &count, &truncated, &token), 0);
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(truncated, 0);
    ck_assert_ptr_null(token);
    ac_feed_names_free(keys, count);
    keys = NULL;
    count = 0;
    ck_assert_int_eq(ac_s3_parse_listing("<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                                         "</ListBucketResult>", &keys, &count, &truncated, &token), 0);
    ck_assert_uint_eq(count, 0);
}
END_TEST

/* Not a listing (an error document), a cut-off document, a bare '&'. */
START_TEST(test_listing_malformed)
{
    char **keys = NULL, *token = NULL;
    size_t count = 0;
    int truncated = 0;

    ck_assert_int_eq(ac_s3_parse_listing("<Error><Code>AccessDenied</Code></Error>", &keys, &count, &truncated, &token), -1);
    ck_assert_int_eq(ac_s3_parse_listing("<ListBucketResult><Contents><Key>abc", &keys, &count, &truncated, &token), -1);
    ac_feed_names_free(keys, count);
    keys = NULL;
    count = 0;
    ck_assert_int_eq(ac_s3_parse_listing("<ListBucketResult><Contents><Key>a & b</Key></Contents></ListBucketResult>",
                                         &keys, &count, &truncated, &token), -1);
    ac_feed_names_free(keys, count);
}
END_TEST

/* open_error: the message ac_feed_remote_open gives for options, or "" if it accepts them. */
static void open_error(const ac_feed_remote_options *options, char *err, size_t errlen)
{
    ac_feed_remote *remote = ac_feed_remote_open(options, err, errlen);

    if (remote) {
        err[0] = '\0';
        ac_feed_remote_close(&remote);
        ck_assert_ptr_null(remote);
    }
}

START_TEST(test_open_checks)
{
    char dir[] = "/tmp/feed-remote-unit.XXXXXX", key[64], known_hosts[64], err[512];
    ac_feed_remote_options sftp = {0}, s3 = {0};
    ac_feed_remote *remote;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/key", dir);
    snprintf(known_hosts, sizeof(known_hosts), "%s/known_hosts", dir);
    f = fopen(key, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    f = fopen(known_hosts, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);

    sftp.location = "sftp://127.0.0.1:2222/exports/";
    sftp.ssh_key = key;
    sftp.known_hosts = known_hosts;
    open_error(&sftp, err, sizeof(err));
    ck_assert_msg(strstr(err, "no user") != NULL, "sftp without a user: '%s'", err);

    sftp.location = "sftp://feed@127.0.0.1:2222/exports";
    sftp.ssh_key = NULL;
    open_error(&sftp, err, sizeof(err));
    ck_assert_msg(strstr(err, "sftp://feed@127.0.0.1:2222/exports/: set feed_ssh_key") != NULL, "no auth: '%s'", err);

    sftp.ssh_key = "/nonexistent/key";
    open_error(&sftp, err, sizeof(err));
    ck_assert_msg(strstr(err, "feed_ssh_key '/nonexistent/key' cannot be read") != NULL, "bad key: '%s'", err);

    sftp.ssh_key = key;
    sftp.known_hosts = "/nonexistent/known_hosts";
    open_error(&sftp, err, sizeof(err));
    ck_assert_msg(strstr(err, "known_hosts file '/nonexistent/known_hosts' cannot be read") != NULL, "bad known_hosts: '%s'", err);

    /* A password written into the URL is not in the location's name. */
    sftp.location = "sftp://feed:hunter2@127.0.0.1:2222/exports/";
    sftp.ssh_key = NULL;
    sftp.known_hosts = known_hosts;
    remote = ac_feed_remote_open(&sftp, err, sizeof(err));
    ck_assert_msg(remote != NULL, "password URL refused: %s", err);
    ck_assert_str_eq(ac_feed_remote_name(remote), "sftp://feed@127.0.0.1:2222/exports/");
    ac_feed_remote_close(&remote);

    s3.location = "s3:///exports/";
    open_error(&s3, err, sizeof(err));
    ck_assert_msg(strstr(err, "no bucket") != NULL, "s3 without a bucket: '%s'", err);
    s3.location = "s3://bucket/exports/";
    s3.s3_access_key_id = "AKID";
    open_error(&s3, err, sizeof(err));
    ck_assert_msg(strstr(err, "s3://bucket/exports/: set feed_s3_access_key_id and feed_s3_secret_access_key") != NULL,
                  "s3 without a secret: '%s'", err);
    s3.s3_secret_access_key = "secret";
    s3.s3_endpoint = "ftp://127.0.0.1:9000";
    open_error(&s3, err, sizeof(err));
    ck_assert_msg(strstr(err, "is not an http:// or https:// URL") != NULL, "bad endpoint: '%s'", err);
    ck_assert_msg(strstr(err, "secret") == NULL, "secret in a message: '%s'", err);
    s3.s3_endpoint = NULL;
    open_error(&s3, err, sizeof(err));
    ck_assert_str_eq(err, "");

    ck_assert_int_eq(ac_feed_is_remote("/srv/exports"), 0);
    ck_assert_int_eq(ac_feed_is_remote("s3://b/"), 1);
    ck_assert_int_eq(ac_feed_is_remote("sftp://u@h/p/"), 1);
    unlink(key);
    unlink(known_hosts);
    rmdir(dir);
}
END_TEST

static Suite *feed_remote_suite(void)
{
    Suite *suite = suite_create("annexcloud_feed_remote");
    TCase *tc = tcase_create("feed_remote");

    tcase_add_test(tc, test_listing_keys_and_token);
    tcase_add_test(tc, test_listing_last_page_and_empty);
    tcase_add_test(tc, test_listing_malformed);
    tcase_add_test(tc, test_open_checks);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(feed_remote_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
