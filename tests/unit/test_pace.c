/* test_pace.c: unit tests of the request pacer (core/lib/pace.c) on a
 * made-up clock, so every step is deterministic and nothing sleeps: no
 * pacing without a 429; the first 429 sets the pace a little under the
 * rate achieved; a paced client starts no faster than the pace and never
 * in a burst; one cut per slot, none for answers to the old pace; paused
 * time left out of the rate; growth while the pace holds requests back,
 * none while it does not; and a whole simulated client against a server's
 * token bucket (the emulator's: burst = rate), where after the discovery
 * under 1 % of requests are refused and at least 90 % of the limit used. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "pace.h"

/* Start `count` requests at `rate` per second from *now (each asks the
 * pacer first; a wait moves the clock), answer each `rtt` later with
 * `refused`, in order. Returns how many cuts the answers made. */
static int send_at(sluice_pace *pace, double *now, double rate, int count, double rtt,
                   int refused)
{
    int cuts = 0;

    for (int i = 0; i < count; i++) {
        double wait;

        while ((wait = sluice_pace_take(pace, *now)) > 0)
            *now += wait;
        cuts += sluice_pace_answer(pace, *now + rtt, *now, refused, NULL);
        *now += 1.0 / rate;
    }
    return cuts;
}

/* A client that starts requests as fast as the pace lets for `seconds`
 * from *now, each answered at once. Returns how many started. */
static long demand(sluice_pace *pace, double *now, double seconds)
{
    long started = 0;

    for (double end = *now + seconds; *now < end;) {
        double wait = sluice_pace_take(pace, *now);

        if (wait > 0) {
            *now += wait;
            continue;
        }
        started++;
        sluice_pace_answer(pace, *now, *now, 0, NULL);
        *now += 1e-4; /* the client's own time per request */
    }
    return started;
}

START_TEST(no_pacing_without_a_429)
{
    sluice_pace pace;
    double now = 100;

    sluice_pace_init(&pace);
    for (int i = 0; i < 10000; i++) {
        ck_assert(sluice_pace_take(&pace, now) == 0);
        ck_assert_int_eq(sluice_pace_answer(&pace, now + 0.1, now, 0, NULL), 0);
        now += 0.001;
    }
    ck_assert(pace.rate == 0);
    ck_assert(pace.cut_at == 0);
}
END_TEST

START_TEST(first_429_paces_under_the_rate_achieved)
{
    sluice_pace pace;
    double now = 100, old = -1;

    sluice_pace_init(&pace);
    /* 2 s at 400/s, every answer fine: a window of 0.5-1 s at 400/s */
    send_at(&pace, &now, 400, 800, 0, 0);
    ck_assert_int_eq(sluice_pace_answer(&pace, now, now - 0.1, 1, &old), 1);
    ck_assert(old == 0);
    ck_assert_double_eq_tol(pace.learned, 400, 4);
    ck_assert_double_eq_tol(pace.rate, SLUICE_PACE_RATIO * 400, 4);
}
END_TEST

START_TEST(paced_starts_are_spread_at_the_pace)
{
    sluice_pace pace;
    double now = 100, last = 0;
    int started = 0;

    sluice_pace_init(&pace);
    send_at(&pace, &now, 200, 400, 0, 0);
    sluice_pace_answer(&pace, now, now, 1, NULL);
    ck_assert_double_eq_tol(pace.rate, 190, 2);
    /* a client that wants 1,000/s for 3 s gets the pace's */
    for (double end = now + 3; now < end;) {
        double wait = sluice_pace_take(&pace, now);

        if (wait > 0) {
            now += wait;
            continue;
        }
        if (started > 0)
            ck_assert(now - last >= 1 / pace.rate - 1e-9); /* never two at once */
        last = now;
        started++;
        sluice_pace_answer(&pace, now, now, 0, NULL);
        now += 0.001;
    }
    /* 190/s growing 1 %/s while it binds: 3 s bring about 3 % more */
    ck_assert_int_ge(started, 3 * 190 - 2);
    ck_assert_int_le(started, 3 * 190 * 1.04);
}
END_TEST

START_TEST(one_cut_per_slot_and_none_for_the_old_pace)
{
    sluice_pace pace;
    double now = 100, rate;

    sluice_pace_init(&pace);
    send_at(&pace, &now, 400, 800, 0, 0);
    ck_assert_int_eq(sluice_pace_answer(&pace, now, now - 0.1, 1, NULL), 1);
    rate = pace.rate;
    /* answers to requests sent before the cut: no second cut */
    ck_assert_int_eq(sluice_pace_answer(&pace, now + 0.6, now - 0.05, 1, NULL), 0);
    /* a request sent after the cut, answered within the slot: none */
    ck_assert_int_eq(sluice_pace_answer(&pace, now + 0.2, now + 0.1, 1, NULL), 0);
    ck_assert(pace.rate == rate);
    /* a slot later: cut again, at least 5 % (the rate achieved is what the
     * pace let through), at most half */
    ck_assert_int_eq(sluice_pace_answer(&pace, now + 0.6, now + 0.3, 1, NULL), 1);
    ck_assert(pace.rate <= SLUICE_PACE_RATIO * rate);
    ck_assert(pace.rate >= SLUICE_PACE_CUT_FLOOR * rate);
}
END_TEST

START_TEST(paused_time_is_not_the_servers_rate)
{
    sluice_pace pace;
    double now = 100;

    sluice_pace_init(&pace);
    /* 0.4 s at 400/s, then a 0.4 s pause (a 429's Retry-After) */
    send_at(&pace, &now, 400, 160, 0, 0);
    sluice_pace_pause(&pace, now, 0.4);
    now += 0.4;
    send_at(&pace, &now, 400, 40, 0, 0);
    /* 200 answers in 0.9 s of which 0.4 s paused: 400/s achieved, not 222 */
    ck_assert_int_eq(sluice_pace_answer(&pace, now, now, 1, NULL), 1);
    ck_assert_double_eq_tol(pace.learned, 400, 8);
}
END_TEST

START_TEST(grows_while_binding_and_faster_the_longer_no_429)
{
    sluice_pace pace;
    double now = 100, cut, rate;

    sluice_pace_init(&pace);
    send_at(&pace, &now, 100, 200, 0, 0);
    sluice_pace_answer(&pace, now, now, 1, NULL);
    cut = pace.rate;
    ck_assert_double_eq_tol(cut, 95, 3);
    /* a client that sends only 20/s for 3 s: the pace holds nothing back
     * and stays (after the slot that still measured 100/s) */
    send_at(&pace, &now, 20, 20, 0, 0);
    rate = pace.rate;
    ck_assert_double_le(rate, cut * 1.01);
    send_at(&pace, &now, 20, 40, 0, 0);
    ck_assert(pace.rate == rate);
    /* one that wants more for 10 s (3-13 s after the cut): 1 %/s, 2 %/s
     * from 10 s on: about 13 % (not in the first slot, which did not bind) */
    demand(&pace, &now, 10);
    ck_assert_double_ge(pace.rate, rate * 1.11);
    ck_assert_double_le(pace.rate, rate * 1.15);
    /* ... and a minute after the cut it has more than doubled */
    demand(&pace, &now, 47);
    ck_assert_double_ge(pace.rate, 2 * rate);
}
END_TEST

/* A server's token bucket: `rate` per second, at most `rate` stored (as
 * annexcloud-emu's --rate-limit). Returns 1 when the request is refused. */
typedef struct server_bucket {
    double rate, tokens, at;
} server_bucket;

static int server_refuses(server_bucket *bucket, double now)
{
    bucket->tokens += (now - bucket->at) * bucket->rate;
    if (bucket->tokens > bucket->rate)
        bucket->tokens = bucket->rate;
    bucket->at = now;
    if (bucket->tokens < 1)
        return 1;
    bucket->tokens -= 1;
    return 0;
}

#define SIM_RTT 0.1
#define SIM_IN_FLIGHT 128
#define SIM_PAUSE 0.2 /* http.c pauses everyone about the backoff at a 429 */

/* Counts of a simulated run from `from` s on. */
typedef struct sim_counts {
    long sent, refused;
} sim_counts;

/* A client that keeps SIM_IN_FLIGHT requests in flight (as many as the
 * pacer and the 429 pauses let start) against `bucket` for `seconds` from
 * *now; answers come SIM_RTT after the start, refused or not as the server
 * decided on arrival. Counts what starts after `count_from`. */
static sim_counts simulate(sluice_pace *pace, server_bucket *bucket, double *now, double seconds,
                           double count_from)
{
    static double answer_at[SIM_IN_FLIGHT], sent_at[SIM_IN_FLIGHT];
    static int refused[SIM_IN_FLIGHT];
    int head = 0, in_flight = 0;
    double end = *now + seconds, paused_until = 0;
    sim_counts counts = {0, 0};

    while (*now < end) {
        double next_send = *now;

        /* answers that are due */
        while (in_flight > 0 && answer_at[head] <= *now) {
            sluice_pace_answer(pace, answer_at[head], sent_at[head], refused[head], NULL);
            if (refused[head]) {
                paused_until = answer_at[head] + SIM_PAUSE;
                sluice_pace_pause(pace, answer_at[head], SIM_PAUSE);
            }
            head = (head + 1) % SIM_IN_FLIGHT;
            in_flight--;
        }
        if (in_flight < SIM_IN_FLIGHT && *now >= paused_until) {
            double wait = sluice_pace_take(pace, *now);

            if (wait <= 0) {
                int slot = (head + in_flight) % SIM_IN_FLIGHT;

                sent_at[slot] = *now;
                answer_at[slot] = *now + SIM_RTT;
                refused[slot] = server_refuses(bucket, *now);
                in_flight++;
                if (*now >= count_from) {
                    counts.sent++;
                    counts.refused += refused[slot];
                }
                continue;
            }
            next_send = *now + wait;
        } else if (in_flight < SIM_IN_FLIGHT) {
            next_send = paused_until;
        } else {
            next_send = end;
        }
        /* the next event: a send, an answer, or the end */
        if (in_flight > 0 && answer_at[head] < next_send)
            next_send = answer_at[head];
        *now = next_send > *now ? next_send : *now + 1e-6;
    }
    return counts;
}

START_TEST(stays_under_a_servers_limit)
{
    sluice_pace pace;
    server_bucket bucket = {200, 200, 100};
    double now = 100;
    sim_counts settled;

    sluice_pace_init(&pace);
    /* discovery: 128 in flight at 0.1 s is 1,280/s, the bucket's 200 go
     * in a fraction of a second; then 200 s */
    simulate(&pace, &bucket, &now, 20, 1e9);
    settled = simulate(&pace, &bucket, &now, 200, 0);
    ck_assert_double_ge(pace.rate, 0.85 * 200);
    /* at least 90 % of the limit used, under 1 % refused */
    ck_assert_int_ge(settled.sent - settled.refused, (long)(0.9 * 200 * 200));
    ck_assert_int_lt(settled.refused * 100, settled.sent);
}
END_TEST

START_TEST(finds_a_limit_that_rose)
{
    sluice_pace pace;
    server_bucket bucket = {200, 200, 100};
    double now = 100;
    sim_counts later;

    sluice_pace_init(&pace);
    simulate(&pace, &bucket, &now, 30, 1e9);
    ck_assert_double_le(pace.rate, 210);
    /* the server allows 400/s from now: within 90 s the pace is near it */
    bucket.rate = 400;
    simulate(&pace, &bucket, &now, 90, 1e9);
    later = simulate(&pace, &bucket, &now, 30, 0);
    ck_assert_int_ge(later.sent - later.refused, (long)(0.8 * 400 * 30));
}
END_TEST

static Suite *pace_suite(void)
{
    Suite *suite = suite_create("pace");
    TCase *tc = tcase_create("pacer");

    tcase_add_test(tc, no_pacing_without_a_429);
    tcase_add_test(tc, first_429_paces_under_the_rate_achieved);
    tcase_add_test(tc, paced_starts_are_spread_at_the_pace);
    tcase_add_test(tc, one_cut_per_slot_and_none_for_the_old_pace);
    tcase_add_test(tc, paused_time_is_not_the_servers_rate);
    tcase_add_test(tc, grows_while_binding_and_faster_the_longer_no_429);
    tcase_add_test(tc, stays_under_a_servers_limit);
    tcase_add_test(tc, finds_a_limit_that_rose);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(pace_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
