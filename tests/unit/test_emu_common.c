/* tests/unit/test_emu_common.c: Check tests of the emulator framework's helpers (dates, timestamps, PRNG, ids, token bucket, flags, memory setup). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu_common.h"

START_TEST(dates_are_calendar_checked)
{
    ck_assert(emu_valid_date("2024-02-29"));
    ck_assert(emu_valid_date("2000-02-29"));
    ck_assert(!emu_valid_date("1900-02-29"));
    ck_assert(!emu_valid_date("2023-02-29"));
    ck_assert(!emu_valid_date("2023-04-31"));
    ck_assert(!emu_valid_date("2023-13-01"));
    ck_assert(!emu_valid_date("2023-1-01"));
    ck_assert(!emu_valid_date("2023-01-01T00:00:00Z"));
    ck_assert(!emu_valid_date(""));
    ck_assert(!emu_valid_date(NULL));
}
END_TEST

START_TEST(timestamps_parse_offsets_to_epoch)
{
    int64_t t = 0;
    ck_assert(emu_parse_timestamp("1970-01-01T00:00:00Z", true, &t));
    ck_assert_int_eq(t, 0);
    ck_assert(emu_parse_timestamp("2025-05-25T15:32:52+00:00", true, &t));
    ck_assert_int_eq(t, 1748187172);
    /* Infobip's form: milliseconds and an offset without a colon */
    ck_assert(emu_parse_timestamp("2025-05-25T15:32:52.000+0000", true, &t));
    ck_assert_int_eq(t, 1748187172);
    ck_assert(emu_parse_timestamp("2025-05-25T17:32:52+02:00", true, &t));
    ck_assert_int_eq(t, 1748187172);
    ck_assert(emu_parse_timestamp("2025-05-25T10:32:52-0500", true, &t));
    ck_assert_int_eq(t, 1748187172);
    ck_assert(!emu_parse_timestamp("2025-05-25T15:32:52", true, &t));
    ck_assert(emu_parse_timestamp("2025-05-25T15:32:52", false, &t));
    ck_assert_int_eq(t, 1748187172);
    ck_assert(!emu_parse_timestamp("2025-05-25 15:32:52Z", false, NULL));
    ck_assert(!emu_parse_timestamp("2025-02-30T00:00:00Z", false, NULL));
    ck_assert(!emu_parse_timestamp("2025-05-25T24:00:00Z", false, NULL));
    ck_assert(!emu_parse_timestamp("2025-05-25T15:32:52Zjunk", false, NULL));
    ck_assert(!emu_parse_timestamp("2025-05-25T15:32:52.Z", false, NULL));
    ck_assert(!emu_parse_timestamp("2025-05-25T15:32:52+5", false, NULL));
}
END_TEST

START_TEST(uuid_is_deterministic_and_well_formed)
{
    char a[37], b[37], c[37];
    emu_uuid(42, 7, a);
    emu_uuid(42, 7, b);
    emu_uuid(42, 8, c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_uint_eq(strlen(a), 36);
    ck_assert(a[8] == '-' && a[13] == '-' && a[14] == '4' && a[18] == '-' && a[19] == '8' &&
              a[23] == '-');
    ck_assert(emu_splitmix64(1) != emu_splitmix64(2));
    ck_assert(emu_splitmix64(1) == emu_splitmix64(1));
}
END_TEST

/* Seconds on the monotonic clock, the one the buckets read. */
static double monotonic_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

START_TEST(bucket_bursts_then_refuses)
{
    /* At 5/s a fresh bucket gives a burst of 5, then refuses the 6th unless
     * 0.2 s passed meanwhile. A busy machine may stall this thread that
     * long: such an attempt tells nothing and is made again. */
    double deadline = monotonic_now() + 60;
    int decided = 0;
    while (!decided && monotonic_now() < deadline) {
        emu_bucket bucket = {0};
        double started = monotonic_now();
        int burst = 0;
        for (int i = 0; i < 5; i++)
            burst += emu_bucket_take(&bucket, 5);
        bool sixth = emu_bucket_take(&bucket, 5);
        long left = emu_bucket_left(&bucket);
        double took = monotonic_now() - started;
        ck_assert_int_eq(burst, 5);
        if (took < 0.2) {
            ck_assert(!sixth);
            ck_assert_int_eq(left, 0);
            decided = 1;
        }
    }
    ck_assert_msg(decided, "no attempt ran within 0.2 s in a minute");

    emu_bucket bucket = {0};
    for (int i = 0; i < 5; i++)
        ck_assert(emu_bucket_take(&bucket, 5));
    struct timespec pause = {0, 250 * 1000000L};
    nanosleep(&pause, NULL); /* 0.25 s (or more) at 5/s refills a token */
    ck_assert(emu_bucket_take(&bucket, 5));

    emu_bucket slow = {0};
    ck_assert(emu_bucket_take(&slow, 0.001)); /* under 1/s still allows one */
    ck_assert(!emu_bucket_take(&slow, 0.001)); /* and the next in 1000 s */

    emu_bucket off = {0};
    for (int i = 0; i < 1000; i++)
        ck_assert(emu_bucket_take(&off, 0));
}
END_TEST

static int extra_seen;
static int take_extra(void *user, const char *flag, const char *value)
{
    if (strcmp(flag, "--api-key") == 0 && value) {
        extra_seen++;
        return 2;
    }
    return -1;
}

START_TEST(flags_parse_and_reject)
{
    emu_config cfg;
    char *good[] = {"emu", "--port", "0", "--seed", "9", "--fail-rate", "0.25", "--rate429", "0.1",
                    "--retry-after", "3", "--latency-ms", "5", "--reject-auth", "--api-key", "k",
                    NULL};
    extra_seen = 0;
    ck_assert_int_eq(emu_parse_args(16, good, &cfg, "", take_extra, NULL), 0);
    ck_assert_int_eq(cfg.port, 0);
    ck_assert_uint_eq(cfg.seed, 9);
    ck_assert(cfg.faults.fail_rate == 0.25 && cfg.faults.rate429 == 0.1);
    ck_assert_int_eq(cfg.faults.retry_after, 3);
    ck_assert_int_eq(cfg.faults.latency_ms, 5);
    ck_assert(cfg.faults.reject_auth);
    ck_assert_int_eq(extra_seen, 1);

    char *bad_rate[] = {"emu", "--fail-rate", "1.5", NULL};
    ck_assert_int_eq(emu_parse_args(3, bad_rate, &cfg, "", NULL, NULL), -1);
    char *bad_port[] = {"emu", "--port", "70000", NULL};
    ck_assert_int_eq(emu_parse_args(3, bad_port, &cfg, "", NULL, NULL), -1);
    char *too_much[] = {"emu", "--fail-rate", "0.6", "--reset-rate", "0.6", NULL};
    ck_assert_int_eq(emu_parse_args(5, too_much, &cfg, "", NULL, NULL), -1);
    char *unknown[] = {"emu", "--bogus", NULL};
    ck_assert_int_eq(emu_parse_args(2, unknown, &cfg, "", take_extra, NULL), -1);
    char *missing[] = {"emu", "--seed", NULL};
    ck_assert_int_eq(emu_parse_args(2, missing, &cfg, "", NULL, NULL), -1);
}
END_TEST

/* A JSON text parsed on a thread of its own (parse_on_thread). */
typedef struct parse_job {
    const char *text;
    json_t *value;
} parse_job;

/* Thread body: parses job->text into job->value; the thread then exits,
 * which hands its cached blocks back to malloc. */
static void *parse_on_thread(void *arg)
{
    parse_job *job = arg;
    job->value = json_loads(job->text, 0, NULL);
    return NULL;
}

/* A compact JSON document of n persons, as json_dumps writes it (caller
 * frees). */
static char *persons_text(int n)
{
    size_t cap = (size_t)n * 96 + 32, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text + len, cap - len, "{\"persons\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s{\"id\":%d,\"name\":\"person %d\",\"tags\":[\"Loyalty\",\"Gold\"]}",
                                i ? "," : "", i, i);
    snprintf(text + len, cap - len, "]}");
    return text;
}

START_TEST(memory_setup_keeps_values_across_threads)
{
    emu_memory_setup();
    char *text = persons_text(3000);
    for (int round = 0; round < 4; round++) {
        /* parsed on a thread that then exits, dumped and freed on this one */
        parse_job job = {text, NULL};
        pthread_t thread;
        ck_assert_int_eq(pthread_create(&thread, NULL, parse_on_thread, &job), 0);
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_ptr_nonnull(job.value);
        char *dump = json_dumps(job.value, JSON_COMPACT);
        ck_assert_ptr_nonnull(dump);
        ck_assert_str_eq(dump, text);
        free(dump); /* a jansson result stays a plain malloc block */
        json_decref(job.value);
        /* the blocks just freed here serve the next parse on this thread */
        json_t *again = json_loads(text, 0, NULL);
        ck_assert_ptr_nonnull(again);
        ck_assert_int_eq(json_array_size(json_object_get(again, "persons")), 3000);
        dump = json_dumps(again, JSON_COMPACT);
        ck_assert_str_eq(dump, text);
        free(dump);
        json_decref(again);
    }
    free(text);
}
END_TEST

static Suite *emu_common_suite(void)
{
    Suite *suite = suite_create("emu_common");
    TCase *tc = tcase_create("helpers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dates_are_calendar_checked);
    tcase_add_test(tc, timestamps_parse_offsets_to_epoch);
    tcase_add_test(tc, uuid_is_deterministic_and_well_formed);
    tcase_add_test(tc, bucket_bursts_then_refuses);
    tcase_add_test(tc, flags_parse_and_reject);
    tcase_add_test(tc, memory_setup_keeps_values_across_threads);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(emu_common_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
