/* arc.c: the adaptive request concurrency controller (arc.h): observation
 * windows of one baseline RTT; at each window's end, halve on back
 * pressure, cut by 10 % when the window's mean RTT rose past the baseline,
 * else grow when the limit was in use (double in slow start, then +1; +1
 * every 4th window near the limit where back pressure came last). */
#include "config.h"

#include <math.h>
#include <stddef.h>

#include "arc.h"

void sluice_arc_init(sluice_arc *arc, int max, double rate_limit)
{
    *arc = (sluice_arc){0};
    arc->max = max < 1 ? 1 : max > SLUICE_ARC_MAX ? SLUICE_ARC_MAX : max;
    arc->rate_limit = rate_limit > 0 ? rate_limit : 0;
    arc->limit = 1;
    arc->slow_start = 1;
}

int sluice_arc_acquire(sluice_arc *arc)
{
    if (arc->in_flight >= arc->limit)
        return 0;
    arc->in_flight++;
    if (arc->in_flight >= arc->limit)
        arc->window_full = 1;
    return 1;
}

/* The most in flight the rate limit lets do any good: rate x RTT + 1
 * (more would only wait on the token bucket), within 1..max. */
static int rate_cap(const sluice_arc *arc)
{
    double cap;

    if (arc->rate_limit <= 0 || arc->baseline <= 0)
        return arc->max;
    cap = ceil(arc->rate_limit * arc->baseline) + 1;
    return cap >= arc->max ? arc->max : cap < 1 ? 1 : (int)cap;
}

/* Close the window: adjust the limit, fold the window into the baseline,
 * open the next one at `now`. Returns why the limit changed. */
static sluice_arc_reason close_window(sluice_arc *arc, double now)
{
    sluice_arc_reason reason = SLUICE_ARC_SAME;
    double current = arc->window_answers ? arc->window_rtt_sum / arc->window_answers : 0;
    int limit = arc->limit;
    int cap;

    if (arc->baseline <= 0 && arc->window_answers)
        arc->baseline = current; /* the first window sets the baseline */
    if (arc->window_pressure) {
        arc->pressure_limit = limit;
        arc->probe_windows = 0;
        limit = (int)floor(limit * SLUICE_ARC_BACKOFF_RATIO);
        arc->slow_start = 0;
        reason = SLUICE_ARC_PRESSURE;
    } else if (arc->window_answers && current > arc->baseline * (1 + SLUICE_ARC_RTT_RISE)) {
        limit = (int)floor(limit * SLUICE_ARC_RISE_RATIO);
        arc->slow_start = 0;
        reason = SLUICE_ARC_SLOWER;
    } else if (arc->window_full && arc->window_answers) {
        if (arc->slow_start)
            limit *= 2;
        else if (arc->pressure_limit == 0 || limit < arc->pressure_limit * SLUICE_ARC_PROBE_SHARE)
            limit++;
        else if (++arc->probe_windows >= SLUICE_ARC_PROBE_WINDOWS) {
            limit++; /* near where the server refused: probe slowly */
            arc->probe_windows = 0;
        }
        if (limit > arc->pressure_limit)
            arc->pressure_limit = 0; /* past it without back pressure */
        reason = SLUICE_ARC_GREW;
    }
    if (arc->window_answers)
        arc->baseline += SLUICE_ARC_EWMA_ALPHA * (current - arc->baseline);
    cap = rate_cap(arc);
    if (limit > cap) {
        limit = cap;
        if (reason == SLUICE_ARC_GREW || reason == SLUICE_ARC_SAME)
            reason = SLUICE_ARC_CAPPED;
    }
    if (limit < 1)
        limit = 1;
    if (limit < arc->limit)
        arc->cut_at = now;
    if (limit == arc->limit)
        reason = SLUICE_ARC_SAME;
    arc->limit = limit;
    arc->window_end = now + fmax(arc->baseline, SLUICE_ARC_WINDOW_MIN);
    arc->window_rtt_sum = 0;
    arc->window_answers = 0;
    arc->window_full = arc->in_flight >= arc->limit;
    arc->window_pressure = 0;
    return reason;
}

sluice_arc_reason sluice_arc_release(sluice_arc *arc, double now, double rtt,
                                     sluice_arc_outcome outcome, int *old_limit)
{
    if (old_limit)
        *old_limit = arc->limit;
    if (arc->in_flight > 0)
        arc->in_flight--;
    if (outcome == SLUICE_ARC_BACK_PRESSURE) {
        if (now - rtt >= arc->cut_at)
            arc->window_pressure = 1;
    } else {
        arc->window_rtt_sum += rtt > 0 ? rtt : 0;
        arc->window_answers++;
    }
    if (now < arc->window_end)
        return SLUICE_ARC_SAME;
    return close_window(arc, now);
}

const char *sluice_arc_reason_text(sluice_arc_reason reason)
{
    switch (reason) {
    case SLUICE_ARC_SAME: return "unchanged";
    case SLUICE_ARC_GREW: return "in use, response times near the baseline";
    case SLUICE_ARC_PRESSURE: return "back pressure (429, 5xx or no answer)";
    case SLUICE_ARC_SLOWER: return "response times rose past the baseline";
    case SLUICE_ARC_CAPPED: return "the stage's rate_limit";
    }
    return "?";
}
