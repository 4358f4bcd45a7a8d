/* pace.c: the request pacer (pace.h): measuring slots of starts and of
 * answers that were not 429, paused time left out; at a 429 the pace is
 * set a little under the rate achieved, then grows slowly while it holds
 * requests back and no 429 comes; a token bucket of one token lets
 * requests start at the pace, never in a burst. */
#include "config.h"

#include <math.h>
#include <stddef.h>

#include "pace.h"

/* A share of a token that counts as a whole one. */
#define TOKEN_ROUNDING 1e-9

void sluice_pace_init(sluice_pace *pace)
{
    *pace = (sluice_pace){0};
}

/* Seconds paused from the first pause up to `at` (at >= the start of the
 * last pause, or before it: then the pauses before it). */
static double paused_total(const sluice_pace *pace, double at)
{
    double in_last = at - pace->pause_from;
    double last = pace->paused_until - pace->pause_from;

    in_last = in_last < 0 ? 0 : in_last > last ? last : in_last;
    return pace->paused_before + in_last;
}

/* Move the measuring slots on to `now`: a slot older than SLUICE_PACE_SLOT
 * becomes the previous one; after two slots or more without a call both
 * start empty. */
static void roll(sluice_pace *pace, double now)
{
    if (pace->slot_start <= 0) {
        pace->slot_start = pace->window_start = now;
        pace->slot_paused_mark = pace->window_paused_mark = paused_total(pace, now);
        return;
    }
    if (now - pace->slot_start >= 2 * SLUICE_PACE_SLOT) {
        pace->window_start = now - SLUICE_PACE_SLOT;
        pace->window_paused_mark = paused_total(pace, pace->window_start);
        pace->prev_sent = pace->prev_admitted = pace->prev_refused = 0;
        pace->slot_start = now;
    } else if (now - pace->slot_start >= SLUICE_PACE_SLOT) {
        pace->window_start = pace->slot_start;
        pace->window_paused_mark = pace->slot_paused_mark;
        pace->prev_sent = pace->slot_sent;
        pace->prev_admitted = pace->slot_admitted;
        pace->prev_refused = pace->slot_refused;
        pace->slot_start += SLUICE_PACE_SLOT;
    } else {
        return;
    }
    pace->slot_sent = pace->slot_admitted = pace->slot_refused = 0;
    pace->slot_paused_mark = paused_total(pace, pace->slot_start);
}

/* The rate the server let through, from the previous slot's start to
 * `now`: starts per second not paused, times the share of the answers
 * that were not 429 (answers to requests sent before a pause come during
 * it: counting them per second not paused would read high). A window
 * shorter than a quarter slot counts as a quarter slot (few starts must
 * not read as a high rate). */
static double achieved(const sluice_pace *pace, double now)
{
    double active = (now - pace->window_start) -
                    (paused_total(pace, now) - pace->window_paused_mark);
    double admitted = pace->prev_admitted + pace->slot_admitted;
    double answers = admitted + pace->prev_refused + pace->slot_refused;

    if (active < SLUICE_PACE_SLOT / 4)
        active = SLUICE_PACE_SLOT / 4;
    return (pace->prev_sent + pace->slot_sent) / active * (answers > 0 ? admitted / answers : 1);
}

/* Grow the pace for the time since it last grew, when it held requests
 * back in the previous slot (started at least SLUICE_PACE_BINDING of it):
 * by SLUICE_PACE_PROBE a second, doubled per SLUICE_PACE_PROBE_DOUBLING s
 * since the last cut. */
static void grow(sluice_pace *pace, double now)
{
    double elapsed = now - pace->grown_at;
    double prev_active = (pace->slot_start - pace->window_start) -
                         (pace->slot_paused_mark - pace->window_paused_mark);
    double doublings;

    if (pace->rate <= 0 || elapsed <= 0)
        return;
    pace->grown_at = now;
    if (prev_active <= 0 || pace->prev_sent < SLUICE_PACE_BINDING * pace->rate * prev_active)
        return;
    doublings = floor((now - pace->cut_at) / SLUICE_PACE_PROBE_DOUBLING);
    if (doublings > SLUICE_PACE_PROBE_DOUBLINGS)
        doublings = SLUICE_PACE_PROBE_DOUBLINGS;
    pace->rate *= exp(SLUICE_PACE_PROBE * ldexp(1.0, (int)doublings) * elapsed);
}

double sluice_pace_take(sluice_pace *pace, double now)
{
    roll(pace, now);
    if (pace->rate > 0) {
        grow(pace, now);
        if (now > pace->refilled_at) {
            pace->tokens += (now - pace->refilled_at) * pace->rate;
            pace->refilled_at = now;
        }
        /* within rounding of a whole token is one (a wait of 1e-17 s
         * would not move a clock) */
        if (pace->tokens > 1 - TOKEN_ROUNDING)
            pace->tokens = 1;
        if (pace->tokens < 1)
            return (1 - pace->tokens) / pace->rate;
        pace->tokens = 0;
    }
    pace->slot_sent++;
    return 0;
}

int sluice_pace_answer(sluice_pace *pace, double now, double sent_at, int refused,
                       double *old_rate)
{
    double rate;

    if (old_rate)
        *old_rate = pace->rate;
    roll(pace, now);
    if (!refused) {
        pace->slot_admitted++;
        return 0;
    }
    pace->slot_refused++;
    /* answered to the pace before the last cut, or a cut too recent to
     * have been measured yet */
    if (pace->cut_at > 0 && (sent_at < pace->cut_at || now - pace->cut_at < SLUICE_PACE_SLOT))
        return 0;
    pace->learned = achieved(pace, now);
    rate = SLUICE_PACE_RATIO * pace->learned;
    if (pace->rate > 0) {
        rate = fmin(rate, SLUICE_PACE_RATIO * pace->rate);
        rate = fmax(rate, SLUICE_PACE_CUT_FLOOR * pace->rate);
    }
    pace->rate = fmax(rate, SLUICE_PACE_MIN);
    pace->cut_at = pace->grown_at = pace->refilled_at = now;
    pace->tokens = 0;
    return 1;
}

void sluice_pace_pause(sluice_pace *pace, double now, double seconds)
{
    if (seconds <= 0)
        return;
    roll(pace, now);
    if (now < pace->paused_until) {
        pace->paused_until = fmax(pace->paused_until, now + seconds);
        return;
    }
    pace->paused_before += pace->paused_until - pace->pause_from;
    pace->pause_from = now;
    pace->paused_until = now + seconds;
}
