/* test_http_answer.c: unit tests of what answers mean to the SDK HTTP
 * client (core/lib/http_answer.c): the Retry-After parser in both forms and
 * on hostile input, the transport errors that are configuration (a bad
 * ca_file against a real loopback listener, a malformed URL: classified
 * SLUICE_HTTP_CONFIG after one attempt, with a message naming the host and
 * the fix), and sluice_http_answer's budget of 2xx answers a sink cannot
 * read. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "support/unit_support.h"

static volatile sig_atomic_t stop_flag;
static sluice_pipeline_def pipeline_def;
static sluice_stage_def stage_def;
static sluice_ctx ctx;

static void setup(void)
{
    unit_stage_setup(&pipeline_def, &stage_def, &ctx, &stop_flag, "test-stage", "demo-sink", 0, 200);
    sluice_metrics_reset();
}

static void teardown(void)
{
    sluice_http_client_free(&ctx.http);
}

/* The HTTP-date `ahead` seconds after `now`, IMF-fixdate. */
static void http_date(time_t now, long ahead, char *out, size_t len)
{
    time_t when = now + ahead;
    struct tm tm;

    gmtime_r(&when, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

START_TEST(retry_after_delta_seconds)
{
    double seconds = -1;

    ck_assert_int_eq(sluice_retry_after_parse("120", 0, &seconds), 0);
    ck_assert(seconds == 120);
    ck_assert_int_eq(sluice_retry_after_parse("0", 0, &seconds), 0);
    ck_assert(seconds == 0);
    ck_assert_int_eq(sluice_retry_after_parse(" \t7 ", 0, &seconds), 0);
    ck_assert(seconds == 7);
    /* Far too long to wait, but a valid number: saturates. */
    ck_assert_int_eq(sluice_retry_after_parse("99999999999999999999999999", 0, &seconds), 0);
    ck_assert(seconds == SLUICE_RETRY_AFTER_PARSE_MAX);
}
END_TEST

START_TEST(retry_after_http_date)
{
    time_t now = 1796000000; /* a fixed instant: the parser takes "now" */
    char date[64];
    double seconds = -1;

    http_date(now, 90, date, sizeof(date));
    ck_assert_int_eq(sluice_retry_after_parse(date, now, &seconds), 0);
    ck_assert_msg(seconds == 90, "%s gave %.1f s", date, seconds);
    /* A date in the past means now. */
    http_date(now, -3600, date, sizeof(date));
    ck_assert_int_eq(sluice_retry_after_parse(date, now, &seconds), 0);
    ck_assert(seconds == 0);
    /* The obsolete RFC 850 and asctime forms are still HTTP-dates. */
    ck_assert_int_eq(sluice_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", 784111700,
                                              &seconds), 0);
    ck_assert(seconds == 77);
    ck_assert_int_eq(sluice_retry_after_parse("Sun Nov  6 08:49:37 1994", 784111700, &seconds),
                     0);
    ck_assert(seconds == 77);
    /* A date in a far year saturates as long digits do (a fuzzer find:
     * the asctime form read a year of 1994994913). */
    ck_assert_int_eq(sluice_retry_after_parse("Sun Nov  6 08:37 1994994913", now, &seconds), 0);
    ck_assert(seconds == SLUICE_RETRY_AFTER_PARSE_MAX);
}
END_TEST

START_TEST(retry_after_garbage_is_refused)
{
    static const char *const bad[] = {"", "   ", "1.5", "-3", "+3", "120 s", "12a", "soon",
                                      "0x10", "\x01\x02", "Mon, 99 Foo 2026 99:99:99 GMT"};
    char longer[400];
    double seconds = 42;

    ck_assert_int_eq(sluice_retry_after_parse(NULL, 0, &seconds), -1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(sluice_retry_after_parse(bad[i], 0, &seconds) == -1,
                      "\"%s\" was taken as a Retry-After", bad[i]);
        ck_assert(seconds == 42);
    }
    memset(longer, 'A', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    ck_assert_int_eq(sluice_retry_after_parse(longer, 0, &seconds), -1);
}
END_TEST

START_TEST(certificate_errors_are_configuration)
{
    char error[CURL_ERROR_SIZE];

    ck_assert(sluice_http_config_error(CURLE_PEER_FAILED_VERIFICATION));
    ck_assert(sluice_http_config_error(CURLE_SSL_CACERT));
    ck_assert(sluice_http_config_error(CURLE_SSL_CACERT_BADFILE));
    ck_assert(sluice_http_config_error(CURLE_URL_MALFORMAT));
    /* What a struggling or unreachable server gives stays retryable. */
    ck_assert(!sluice_http_config_error(CURLE_OK));
    ck_assert(!sluice_http_config_error(CURLE_COULDNT_CONNECT));
    ck_assert(!sluice_http_config_error(CURLE_OPERATION_TIMEDOUT));
    ck_assert(!sluice_http_config_error(CURLE_SSL_CONNECT_ERROR));
    ck_assert(!sluice_http_config_error(CURLE_RECV_ERROR));

    snprintf(error, sizeof(error), "SSL certificate problem: self-signed certificate");
    sluice_http_config_error_text(CURLE_PEER_FAILED_VERIFICATION,
                                  "https://user:pw@127.0.0.1:8443/v2/push?x=1", error,
                                  sizeof(error));
    ck_assert_str_eq(error, "certificate verify failed for 127.0.0.1:8443: self-signed "
                            "certificate; set ca_file or fix the server");
    error[0] = '\0';
    sluice_http_config_error_text(CURLE_SSL_CACERT_BADFILE, "https://api.example.com/x", error,
                                  sizeof(error));
    ck_assert_ptr_nonnull(strstr(error, "api.example.com"));
    ck_assert_ptr_nonnull(strstr(error, "ca_file"));
}
END_TEST

START_TEST(unusable_ca_file_is_config_after_one_attempt)
{
    char url[128], ca_path[] = "/tmp/sluice-test-ca.XXXXXX";
    sluice_http_request req = {.method = "GET"};
    sluice_http_response resp;
    unsigned short port;
    /* a listener that never accepts: the kernel completes the connection,
     * so curl gets as far as setting up TLS */
    int listener = unit_loopback_socket(8, &port);
    int ca_fd = mkstemp(ca_path);

    ck_assert_int_ge(ca_fd, 0);
    ck_assert_int_eq(write(ca_fd, "not a certificate\n", 18), 18);
    close(ca_fd);
    stage_def.common.ca_file = ca_path;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/x", (unsigned)port);
    req.url = url;
    /* Until stopping: a configuration error must end it anyway. */
    ck_assert_int_eq(sluice_http(&ctx, &req, &resp), SLUICE_HTTP_CONFIG);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_int_eq(resp.status, 0);
    ck_assert_msg(strstr(resp.error, "127.0.0.1") && strstr(resp.error, "ca_file"),
                  "error: %s", resp.error);
    sluice_http_response_clear(&resp);
    stage_def.common.ca_file = NULL;
    unlink(ca_path);
    close(listener);
}
END_TEST

START_TEST(malformed_url_is_config)
{
    sluice_http_request req = {.method = "GET", .url = "http://[::1/x"};
    sluice_http_response resp;

    ck_assert_int_eq(sluice_http(&ctx, &req, &resp), SLUICE_HTTP_CONFIG);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_ptr_nonnull(strstr(resp.error, "URL"));
    sluice_http_response_clear(&resp);
}
END_TEST

/* A response as sluice_http fills it (owned strings). */
static void fake_response(sluice_http_response *resp, long status, const char *type,
                          const char *body)
{
    char headers[256];

    memset(resp, 0, sizeof(*resp));
    resp->status = status;
    resp->body = strdup(body);
    resp->body_len = strlen(body);
    snprintf(headers, sizeof(headers), "HTTP/1.1 %ld OK\r\nContent-Type: %s\r\n\r\n", status,
             type);
    resp->headers = strdup(headers);
}

START_TEST(unreadable_answers_retry_then_fail_within_the_budget)
{
    sluice_http_response page;
    const char *url = "http://127.0.0.1:9/v2/push";

    stage_def.common.http_max_attempts = 3;
    fake_response(&page, 200, "text/html", "<html>\n<title>Welcome to nginx!</title>\n</html>");
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, "not the push result"),
                     SLUICE_RETRY);
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, "not the push result"),
                     SLUICE_RETRY);
    /* A readable answer in between starts the count again. */
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, NULL), SLUICE_OK);
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, "not the push result"),
                     SLUICE_RETRY);
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, "not the push result"),
                     SLUICE_RETRY);
    ctx.fail_message[0] = '\0';
    ck_assert_int_eq(sluice_http_answer(&ctx, "POST", url, &page, "not the push result"),
                     SLUICE_FATAL);
    ck_assert_msg(strstr(ctx.fail_message, "demo-sink") && strstr(ctx.fail_message, url) &&
                      strstr(ctx.fail_message, "HTTP 200") &&
                      strstr(ctx.fail_message, "text/html") &&
                      strstr(ctx.fail_message, "Welcome to nginx!") &&
                      strstr(ctx.fail_message, "not the push result"),
                  "fail message: %s", ctx.fail_message);
    ck_assert(sluice_metrics_get("test-pipeline", "test-stage", "sluice_http_unreadable_total") ==
              5);
    sluice_http_response_clear(&page);
}
END_TEST

START_TEST(unreadable_budget_defaults_to_five)
{
    sluice_http_response empty;

    fake_response(&empty, 204, "application/json", "");
    for (int i = 1; i < 5; i++)
        ck_assert_int_eq(sluice_http_answer(&ctx, "PATCH", "http://h/x", &empty, "no results"),
                         SLUICE_RETRY);
    ck_assert_int_eq(sluice_http_answer(&ctx, "PATCH", "http://h/x", &empty, "no results"),
                     SLUICE_FATAL);
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "empty body"));
    sluice_http_response_clear(&empty);
}
END_TEST

static Suite *answer_suite(void)
{
    Suite *suite = suite_create("http_answer");
    TCase *tc = tcase_create("answers");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, retry_after_delta_seconds);
    tcase_add_test(tc, retry_after_http_date);
    tcase_add_test(tc, retry_after_garbage_is_refused);
    tcase_add_test(tc, certificate_errors_are_configuration);
    tcase_add_test(tc, unusable_ca_file_is_config_after_one_attempt);
    tcase_add_test(tc, malformed_url_is_config);
    tcase_add_test(tc, unreadable_answers_retry_then_fail_within_the_budget);
    tcase_add_test(tc, unreadable_budget_defaults_to_five);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(answer_suite());
    int failed;

    sluice_log_setup(SLUICE_LOG_ERROR, SLUICE_LOG_FORMAT_TEXT);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
