/* test_throttle.c: unit tests of the named token buckets (core/lib/throttle.c):
 * burst, pacing, pause, interruption by stopping. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "throttle.h"

static volatile sig_atomic_t stop_flag;

START_TEST(burst_is_immediate_then_rate_paces)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started, burst_done, elapsed;

    ck_assert_ptr_nonnull(throttle);
    ck_assert_int_eq(sluice_throttle_configure(throttle, "push", 5, 4), 0);
    started = sluice_monotonic_seconds();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", NULL), 0);
    burst_done = sluice_monotonic_seconds() - started;
    /* Without the burst, 4 tokens at 5/s would take at least 0.6 s. */
    ck_assert_msg(burst_done < 0.3, "burst of 4 took %.3f s", burst_done);
    /* 3 more at 5/s: about 0.6 s. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", NULL), 0);
    elapsed = sluice_monotonic_seconds() - started;
    ck_assert_msg(elapsed >= 0.55 && elapsed < 1.6, "7 tokens at 5/s burst 4: %.3f s",
                  elapsed);
    sluice_throttle_destroy(&throttle);
    ck_assert_ptr_null(throttle);
}
END_TEST

START_TEST(unknown_bucket_is_unlimited_and_separate)
{
    sluice_throttle *throttle = sluice_throttle_new();
    double started;

    sluice_throttle_configure(throttle, "slow", 1, 1);
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "slow", NULL), 0);
    started = sluice_monotonic_seconds();
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(sluice_throttle_acquire(throttle, "other", NULL), 0);
    ck_assert(sluice_monotonic_seconds() - started < 0.5);
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
    ck_assert_msg(waited >= 0.5 && waited < 1.5, "paused acquire waited %.3f s", waited);
    sluice_throttle_destroy(&throttle);
}
END_TEST

static void *stop_soon(void *arg)
{
    (void)arg;
    usleep(200000);
    stop_flag = 1;
    return NULL;
}

START_TEST(stopping_interrupts_a_wait)
{
    sluice_throttle *throttle = sluice_throttle_new();
    pthread_t stopper;
    double started, waited;

    stop_flag = 0;
    sluice_throttle_pause(throttle, "push", 30);
    ck_assert_int_eq(pthread_create(&stopper, NULL, stop_soon, NULL), 0);
    started = sluice_monotonic_seconds();
    ck_assert_int_eq(sluice_throttle_acquire(throttle, "push", &stop_flag), -1);
    waited = sluice_monotonic_seconds() - started;
    pthread_join(stopper, NULL);
    ck_assert_msg(waited >= 0.15 && waited < 1.5, "interrupted after %.3f s", waited);
    ck_assert_int_eq(sluice_sleep_interruptible(5, &stop_flag), -1);
    sluice_throttle_destroy(&throttle);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *suite = suite_create("throttle");
    TCase *tc = tcase_create("buckets");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, burst_is_immediate_then_rate_paces);
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
