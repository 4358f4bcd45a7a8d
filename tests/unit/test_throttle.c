/* test_throttle.c: unit tests of the named token buckets (core/lib/throttle.c):
 * burst, pacing, pause, interruption by stopping; none fails on a busy
 * machine (see unit_voluntary_switches). */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "throttle.h"
#include "support/unit_support.h"

static volatile sig_atomic_t stop_flag;

/* Whether a bucket made a thread wait is told by the thread's voluntary
 * context switches (a sleep adds one; being preempted on a busy machine
 * does not), never by how long it took: a loaded machine makes anything
 * slow. Times are asserted only as lower bounds, and as upper bounds far
 * beyond any stall (60 s) where the wrong behaviour would wait minutes. */

START_TEST(burst_is_taken_without_waiting)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started, elapsed;
    long before, after;
    int results[4];

    ck_assert_ptr_nonnull(throttle);
    /* one token every 10 minutes: only the burst can give 4 at once */
    ck_assert_int_eq(sluice_throttle_configure(throttle, "push", 1.0 / 600, 4), 0);
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "warm-up", NULL), 0);
    started = sluice_monotonic_seconds();
    before = unit_voluntary_switches(unit_thread_id());
    for (int i = 0; i < 4; i++)
        results[i] = sluice_throttle_acquire(throttle, "push", NULL);
    after = unit_voluntary_switches(unit_thread_id());
    elapsed = sluice_monotonic_seconds() - started;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(results[i], 0);
    ck_assert_int_ge(before, 0);
    ck_assert_msg(after == before, "the burst of 4 slept %ld times", after - before);
    ck_assert_msg(elapsed < 60, "burst of 4 took %.3f s", elapsed);
    sluice_throttle_destroy(&throttle);
    ck_assert_ptr_null(throttle);
}
END_TEST

START_TEST(rate_paces_after_the_burst)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started, elapsed;
    long before;

    ck_assert_int_eq(sluice_throttle_configure(throttle, "push", 5, 4), 0);
    started = sluice_monotonic_seconds();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", NULL), 0);
    /* 3 more at 5/s need 0.6 s of refill: this thread must wait for them */
    before = unit_voluntary_switches(unit_thread_id());
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", NULL), 0);
    elapsed = sluice_monotonic_seconds() - started;
    ck_assert_msg(unit_voluntary_switches(unit_thread_id()) > before,
                  "3 tokens past the burst without a wait");
    ck_assert_msg(elapsed >= 0.55 && elapsed < 60, "7 tokens at 5/s burst 4: %.3f s", elapsed);
    sluice_throttle_destroy(&throttle);
}
END_TEST

START_TEST(unknown_bucket_is_unlimited_and_separate)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started, elapsed;
    long before, after;
    int failures = 0;

    /* "slow" holds one token, then one per 10 minutes */
    sluice_throttle_configure(throttle, "slow", 1.0 / 600, 1);
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "slow", NULL), 0);
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "warm-up", NULL), 0);
    started = sluice_monotonic_seconds();
    before = unit_voluntary_switches(unit_thread_id());
    for (int i = 0; i < 100; i++)
        failures += sluice_throttle_acquire(throttle, "other", NULL) != 0;
    after = unit_voluntary_switches(unit_thread_id());
    elapsed = sluice_monotonic_seconds() - started;
    ck_assert_int_eq(failures, 0);
    ck_assert_int_ge(before, 0);
    ck_assert_msg(after == before, "100 tokens of an unknown bucket slept %ld times",
                  after - before);
    ck_assert_msg(elapsed < 60, "100 tokens of an unknown bucket took %.3f s", elapsed);
    sluice_throttle_destroy(&throttle);
}
END_TEST

START_TEST(pause_holds_every_acquire_until_it_ends)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started, waited;

    sluice_throttle_configure(throttle, "push", 100, 10);
    started = sluice_monotonic_seconds();
    ck_assert_int_eq(sluice_throttle_pause(throttle, "push", 0.5), 0);
    /* A shorter pause never shortens the current one. */
    ck_assert_int_eq(sluice_throttle_pause(throttle, "push", 0.1), 0);
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", NULL), 0);
    waited = sluice_monotonic_seconds() - started;
    ck_assert_msg(waited >= 0.5 && waited < 60, "paused acquire waited %.3f s", waited);
    sluice_throttle_destroy(&throttle);
}
END_TEST

/* The thread waiting in acquire, and whether it is about to. */
static pid_t waiter_tid;
static long waiter_switches_before;
static volatile int waiter_ready;

/* Raise stop_flag once the waiter has slept inside acquire (a fixed delay
 * could fire before a descheduled waiter even got there). */
static void *stop_when_waiting(void *arg)
{
    struct timespec slice = {0, 10 * 1000000L};

    (void)arg;
    while (!__atomic_load_n(&waiter_ready, __ATOMIC_ACQUIRE) ||
           unit_voluntary_switches(waiter_tid) <= waiter_switches_before)
        nanosleep(&slice, NULL);
    stop_flag = 1;
    return NULL;
}

START_TEST(stopping_interrupts_a_wait)
{
    sluice_throttle *throttle = sluice_throttle_new();
    pthread_t stopper;
    double started, waited;
    int result;

    stop_flag = 0;
    /* an hour: only stopping can end this wait within the test */
    sluice_throttle_pause(throttle, "push", 3600);
    ck_assert_int_eq(pthread_create(&stopper, NULL, stop_when_waiting, NULL), 0);
    waiter_tid = unit_thread_id();
    waiter_switches_before = unit_voluntary_switches(waiter_tid);
    ck_assert_int_ge(waiter_switches_before, 0);
    started = sluice_monotonic_seconds();
    __atomic_store_n(&waiter_ready, 1, __ATOMIC_RELEASE);
    result = sluice_throttle_acquire(throttle, "push", &stop_flag);
    waited = sluice_monotonic_seconds() - started;
    pthread_join(stopper, NULL);
    ck_assert_int_eq(result, -1);
    /* it slept in acquire (the stopper saw it) and left when stopped,
     * long before the hour */
    ck_assert_msg(waited < 60, "interrupted after %.3f s", waited);
    ck_assert_int_eq(sluice_sleep_interruptible(5, &stop_flag), -1);
    sluice_throttle_destroy(&throttle);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *suite = suite_create("throttle");
    TCase *tc = tcase_create("buckets");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, burst_is_taken_without_waiting);
    tcase_add_test(tc, rate_paces_after_the_burst);
    tcase_add_test(tc, unknown_bucket_is_unlimited_and_separate);
    tcase_add_test(tc, pause_holds_every_acquire_until_it_ends);
    tcase_add_test(tc, stopping_interrupts_a_wait);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(throttle_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
