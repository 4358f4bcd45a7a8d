/* test_log.c: unit tests of log.c's secret masking on real log lines
 * (stderr redirected to a file): any number of secrets, a secret across
 * the 4,096-byte cut, secrets that overlap or prefix one another, and cuts
 * that keep UTF-8 whole. Each test runs in its own process (Check's fork
 * mode), so secrets registered by one test do not leak into the next. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char log_path[64];

static void setup(void)
{
    int fd;

    snprintf(log_path, sizeof(log_path), "/tmp/sluice-test-log-XXXXXX");
    fd = mkstemp(log_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    sluice_log_setup(SLUICE_LOG_INFO, SLUICE_LOG_FORMAT_TEXT);
}

static void teardown(void)
{
    unlink(log_path);
}

/* Log `message` (as "%s") at error level with stderr sent to log_path;
 * return what was written (static buffer, NUL-terminated). */
static const char *logged(const char *message)
{
    static char text[16384];
    int fd = open(log_path, O_RDWR | O_TRUNC);
    int saved = dup(STDERR_FILENO);
    ssize_t got;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(saved, 0);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    sluice_log_write("p", "s", SLUICE_LOG_ERROR, "%s", message);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    got = read(fd, text, sizeof(text) - 1);
    close(fd);
    ck_assert_int_gt(got, 0);
    text[got] = '\0';
    return text;
}

START_TEST(every_secret_is_masked_however_many)
{
    char secret[64];
    char message[256];
    const char *line;

    /* One `sluice run` over many client pipelines registers hundreds. */
    for (int i = 0; i < 300; i++) {
        snprintf(secret, sizeof(secret), "client-%03d-api-key-Qx7", i);
        sluice_log_add_secret(secret);
    }
    for (int i = 0; i < 300; i += 13) {
        snprintf(message, sizeof(message), "rejected key client-%03d-api-key-Qx7 (HTTP 401)", i);
        line = logged(message);
        ck_assert_msg(strstr(line, "rejected key ******** (HTTP 401)"), "secret %d: %s", i, line);
        ck_assert_msg(!strstr(line, "api-key-Qx7"), "secret %d printed: %s", i, line);
    }
    /* the 65th and the last, which a fixed table of 64 would drop */
    line = logged("a client-064-api-key-Qx7 b client-299-api-key-Qx7 c");
    ck_assert_msg(strstr(line, "a ******** b ******** c"), "got: %s", line);
}
END_TEST

START_TEST(secret_across_the_cut_is_masked)
{
    static char message[8192];
    const char *line;

    sluice_log_add_secret("Zq9-straddling-secret-value");
    /* 4,090 bytes, then the secret: a line cut at 4,095 bytes before
     * masking would print its first five bytes */
    memset(message, 'x', 4090);
    snprintf(message + 4090, sizeof(message) - 4090, "Zq9-straddling-secret-value tail");
    line = logged(message);
    ck_assert_msg(!strstr(line, "Zq9"), "part of the secret printed: ...%s",
                  line + strlen(line) - 20);
    ck_assert_msg(strstr(line, "xxxx****"), "no mask at the cut: ...%s", line + strlen(line) - 20);

    /* a long message with the secret far past the cut is cut, not lost */
    memset(message, 'y', 6000);
    snprintf(message + 6000, sizeof(message) - 6000, "Zq9-straddling-secret-value");
    line = logged(message);
    ck_assert_ptr_null(strstr(line, "Zq9"));
    ck_assert_ptr_nonnull(strstr(line, "yyyy"));
    ck_assert_int_lt(strlen(line), 4096 + 64);
}
END_TEST

START_TEST(overlapping_secrets_are_masked_whole)
{
    const char *line;

    sluice_log_add_secret("abcd1234");
    sluice_log_add_secret("abcd");
    sluice_log_add_secret("1234wxyz");
    /* "abcd1234" first, then "1234wxyz" starting inside it */
    line = logged("key abcd1234wxyz end");
    ck_assert_msg(strstr(line, "key ******** end"), "got: %s", line);
    ck_assert_ptr_null(strstr(line, "wxyz"));
    /* a secret that is a prefix of another does not leave the rest */
    line = logged("k=abcd12345");
    ck_assert_msg(strstr(line, "k=********5"), "got: %s", line);
    line = logged("just abcd here");
    ck_assert_msg(strstr(line, "just ******** here"), "got: %s", line);
}
END_TEST

START_TEST(secrets_sharing_a_prefix)
{
    char secret[64];
    const char *line;

    /* API keys often share a long prefix; only whole secrets match */
    for (int i = 0; i < 500; i++) {
        snprintf(secret, sizeof(secret), "sk_live_0000%03d", i);
        sluice_log_add_secret(secret);
    }
    sluice_log_add_secret("sk_live_");
    line = logged("a=sk_live_0000123 b=sk_live_0000 c=sk_live_00009 d=sk_live_0000499");
    ck_assert_msg(strstr(line, "a=******** b=********0000 c=********00009 d=********"),
                  "got: %s", line);
}
END_TEST

START_TEST(mask_cuts_at_a_utf8_boundary)
{
    char buf[8];

    sluice_log_add_secret("s3cr3t-value");
    /* "é" is two bytes: a cut after 7 bytes falls inside the fourth one */
    sluice_log_mask("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", buf, sizeof(buf));
    ck_assert_str_eq(buf, "\xc3\xa9\xc3\xa9\xc3\xa9");
    sluice_log_mask("s3cr3t-value!", buf, sizeof(buf));
    ck_assert_str_eq(buf, "*******");
}
END_TEST

static Suite *log_suite(void)
{
    Suite *suite = suite_create("log");
    TCase *tc = tcase_create("masking");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_secret_is_masked_however_many);
    tcase_add_test(tc, secret_across_the_cut_is_masked);
    tcase_add_test(tc, overlapping_secrets_are_masked_whole);
    tcase_add_test(tc, secrets_sharing_a_prefix);
    tcase_add_test(tc, mask_cuts_at_a_utf8_boundary);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(log_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
