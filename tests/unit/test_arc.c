/* test_arc.c: unit tests of the adaptive request concurrency controller
 * (core/lib/arc.c), fed RTT samples and outcomes on a made-up clock, so
 * every step is deterministic: slow start, additive increase, halving on
 * back pressure (once per burst), the cut on rising RTT and the recovery,
 * no growth while the limit is not in use, the rate limit's bound. Times
 * are dyadic fractions (0.125 s) so the sums are exact. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "arc.h"

#define RTT 0.125

/* One round trip of `count` attempts (at most the free slots): all are
 * taken at *now, answered `rtt` later with `outcome`. Returns how many
 * were taken. */
static int round_trip(sluice_arc *arc, double *now, double rtt, sluice_arc_outcome outcome,
                      int count)
{
    int taken = 0;

    while (taken < count && sluice_arc_acquire(arc))
        taken++;
    *now += rtt;
    for (int i = 0; i < taken; i++)
        sluice_arc_release(arc, *now, rtt, outcome, NULL);
    return taken;
}

/* Round trips with every slot in use until the limit is `want` or `rounds`
 * are done; returns the rounds it took (rounds + 1 when never). */
static int grow_to(sluice_arc *arc, double *now, double rtt, int want, int rounds)
{
    for (int r = 1; r <= rounds; r++) {
        round_trip(arc, now, rtt, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        if (arc->limit >= want)
            return r;
    }
    return rounds + 1;
}

START_TEST(slow_start_doubles_up_to_max)
{
    sluice_arc arc;
    double now = 64;

    sluice_arc_init(&arc, 64, 0);
    ck_assert_int_eq(arc.limit, 1);
    /* 1, 2, 4, ..., 64: one doubling per window of one RTT */
    ck_assert_int_eq(grow_to(&arc, &now, RTT, 64, 20), 6);
    ck_assert_int_eq(arc.limit, 64);
    for (int r = 0; r < 10; r++)
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
    ck_assert_int_eq(arc.limit, 64); /* never past max */
    ck_assert(arc.baseline == RTT);
}
END_TEST

START_TEST(acquire_stops_at_the_limit)
{
    sluice_arc arc;
    double now = 64;

    sluice_arc_init(&arc, 8, 0);
    ck_assert_int_eq(sluice_arc_acquire(&arc), 1);
    ck_assert_int_eq(sluice_arc_acquire(&arc), 0);
    ck_assert_int_eq(arc.in_flight, 1);
    sluice_arc_release(&arc, now + RTT, RTT, SLUICE_ARC_ANSWERED, NULL);
    ck_assert_int_eq(arc.in_flight, 0);
    ck_assert_int_eq(arc.limit, 2);
    /* max is clamped into 1..SLUICE_ARC_MAX */
    sluice_arc_init(&arc, 0, 0);
    ck_assert_int_eq(arc.max, 1);
    sluice_arc_init(&arc, SLUICE_ARC_MAX + 5, 0);
    ck_assert_int_eq(arc.max, SLUICE_ARC_MAX);
}
END_TEST

START_TEST(back_pressure_halves_once_per_burst_then_adds_one)
{
    sluice_arc arc;
    double now = 64;
    int old = 0;
    sluice_arc_reason reason;

    sluice_arc_init(&arc, 64, 0);
    grow_to(&arc, &now, RTT, 32, 20);
    ck_assert_int_eq(arc.limit, 32);
    /* a burst: every attempt of a full window answered 429 */
    round_trip(&arc, &now, RTT, SLUICE_ARC_BACK_PRESSURE, SLUICE_ARC_MAX);
    ck_assert_int_eq(arc.limit, 16);
    /* 429s of attempts sent before the cut do not cut again */
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(sluice_arc_acquire(&arc), 1);
    now += RTT;
    reason = sluice_arc_release(&arc, now, 2 * RTT, SLUICE_ARC_BACK_PRESSURE, &old);
    ck_assert_int_eq(reason, SLUICE_ARC_SAME);
    for (int i = 1; i < 16; i++)
        sluice_arc_release(&arc, now, RTT, SLUICE_ARC_ANSWERED, NULL);
    ck_assert_int_ge(arc.limit, 16);
    /* out of slow start: +1 per window in use */
    {
        int before = arc.limit;
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        ck_assert_int_eq(arc.limit, before + 1);
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        ck_assert_int_eq(arc.limit, before + 2);
    }
    /* a 5xx or no answer is back pressure too: halved again */
    {
        int before = arc.limit;
        reason = SLUICE_ARC_SAME;
        for (int i = 0; i < before; i++)
            sluice_arc_acquire(&arc);
        now += RTT;
        for (int i = 0; i < before; i++) {
            sluice_arc_reason r = sluice_arc_release(&arc, now, RTT,
                                                     i == 0 ? SLUICE_ARC_BACK_PRESSURE
                                                            : SLUICE_ARC_ANSWERED, &old);
            if (r != SLUICE_ARC_SAME)
                reason = r;
        }
        ck_assert_int_eq(reason, SLUICE_ARC_PRESSURE);
        ck_assert_int_eq(arc.limit, before / 2);
    }
}
END_TEST

START_TEST(growth_slows_near_where_back_pressure_came)
{
    sluice_arc arc;
    double now = 64;
    int rounds = 0;

    sluice_arc_init(&arc, 64, 0);
    grow_to(&arc, &now, RTT, 32, 20);
    round_trip(&arc, &now, RTT, SLUICE_ARC_BACK_PRESSURE, SLUICE_ARC_MAX);
    ck_assert_int_eq(arc.limit, 16);
    round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX); /* the stragglers' window */
    /* +1 a window up to 3/4 of 32 */
    while (arc.limit < 24 && rounds < 100) {
        int before = arc.limit;
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        ck_assert_int_eq(arc.limit, before + 1);
        rounds++;
    }
    ck_assert_int_eq(arc.limit, 24);
    /* then +1 every 4 windows, up to and past 32 (the server took it) */
    for (int step = 0; step < 9; step++) {
        int before = arc.limit;
        for (int r = 0; r < SLUICE_ARC_PROBE_WINDOWS - 1; r++) {
            round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
            ck_assert_int_eq(arc.limit, before);
        }
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        ck_assert_int_eq(arc.limit, before + 1);
    }
    ck_assert_int_eq(arc.limit, 33);
    /* past the old limit: +1 a window again */
    round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
    ck_assert_int_eq(arc.limit, 34);
}
END_TEST

START_TEST(rising_rtt_cuts_and_recovery_grows)
{
    sluice_arc arc;
    double now = 64;
    int low, rounds_cut = 0;

    sluice_arc_init(&arc, 64, 0);
    grow_to(&arc, &now, RTT, 64, 20);
    ck_assert_int_eq(arc.limit, 64);
    /* response times jump to 8 x the baseline: cut by 10 % per window
     * until the baseline has caught up */
    for (int r = 0; r < 10; r++) {
        int before = arc.limit;
        round_trip(&arc, &now, 8 * RTT, SLUICE_ARC_ANSWERED, SLUICE_ARC_MAX);
        if (arc.limit < before)
            rounds_cut++;
    }
    low = arc.limit;
    ck_assert_int_ge(rounds_cut, 2);
    ck_assert_int_lt(low, 64);
    ck_assert_int_ge(low, 64 * 9 / 10 * 9 / 10 * 9 / 10 * 9 / 10 * 9 / 10 / 2);
    /* back to the old response times: it grows again (+1 per window) */
    ck_assert_int_le(grow_to(&arc, &now, RTT, 64, 200), 200);
    ck_assert_int_eq(arc.limit, 64);
}
END_TEST

START_TEST(no_growth_while_the_limit_is_not_in_use)
{
    sluice_arc arc;
    double now = 64;

    sluice_arc_init(&arc, 64, 0);
    grow_to(&arc, &now, RTT, 8, 20);
    ck_assert_int_eq(arc.limit, 8);
    /* a caller with 3 threads never fills 8 slots */
    for (int r = 0; r < 20; r++)
        round_trip(&arc, &now, RTT, SLUICE_ARC_ANSWERED, 3);
    ck_assert_int_eq(arc.limit, 8);
}
END_TEST

START_TEST(rate_limit_bounds_the_limit)
{
    sluice_arc arc;
    double now = 64;

    /* 40 requests/s at 0.125 s each: 5 in flight use the rate, +1 */
    sluice_arc_init(&arc, 64, 40);
    grow_to(&arc, &now, RTT, 64, 30);
    ck_assert_int_eq(arc.limit, 6);
    ck_assert_str_eq(sluice_arc_reason_text(SLUICE_ARC_CAPPED), "the stage's rate_limit");
}
END_TEST

static Suite *arc_suite(void)
{
    Suite *suite = suite_create("arc");
    TCase *tc = tcase_create("controller");

    tcase_add_test(tc, slow_start_doubles_up_to_max);
    tcase_add_test(tc, acquire_stops_at_the_limit);
    tcase_add_test(tc, back_pressure_halves_once_per_burst_then_adds_one);
    tcase_add_test(tc, growth_slows_near_where_back_pressure_came);
    tcase_add_test(tc, rising_rtt_cuts_and_recovery_grows);
    tcase_add_test(tc, no_growth_while_the_limit_is_not_in_use);
    tcase_add_test(tc, rate_limit_bounds_the_limit);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(arc_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
