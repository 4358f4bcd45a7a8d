/* arc.h: adaptive request concurrency (ARC), the controller behind
 * sluice_http_concurrency(): how many HTTP requests of a stage may be in
 * flight at once, grown additively while response times stay near their
 * observed baseline and cut multiplicatively on back pressure (429, 5xx,
 * timeouts) or on response times rising past the baseline, as Vector's
 * adaptive request concurrency does. Pure arithmetic on the samples it is
 * fed (no clock, no lock, no I/O): http.c holds the lock and the clock,
 * unit tests feed it RTTs and outcomes directly. See docs/http-client.md. */
#ifndef SLUICE_ARC_H
#define SLUICE_ARC_H

/* Largest max_concurrency a stage may ask for. */
#define SLUICE_ARC_MAX 1024
/* Weight of a new window's mean RTT in the baseline (EWMA): the baseline
 * follows a lasting change of response times within about 5 windows. */
#define SLUICE_ARC_EWMA_ALPHA 0.2
/* A window's mean RTT is "rising" when it exceeds the baseline by more than
 * this share of the baseline (noise on a busy machine stays below it). */
#define SLUICE_ARC_RTT_RISE 0.5
/* Factor on back pressure (429, 5xx, no answer) and on rising RTT. */
#define SLUICE_ARC_BACKOFF_RATIO 0.5
#define SLUICE_ARC_RISE_RATIO 0.9
/* After back pressure at limit P, growth above P x 3/4 is one step every
 * SLUICE_ARC_PROBE_WINDOWS windows instead of every window: a server's
 * token bucket drains slowly near the rate it allows, and a slow approach
 * to where it refused last time costs fewer 429s (TCP CUBIC's idea). */
#define SLUICE_ARC_PROBE_SHARE 0.75
#define SLUICE_ARC_PROBE_WINDOWS 4
/* Shortest observation window, seconds (a loopback RTT is microseconds). */
#define SLUICE_ARC_WINDOW_MIN 0.005

/* What an attempt came to, for the controller. */
typedef enum sluice_arc_outcome {
    SLUICE_ARC_ANSWERED = 0, /* an answer that is no back pressure (2xx, 4xx but 429) */
    SLUICE_ARC_BACK_PRESSURE /* 429, 408, 5xx, or no answer (timeout, reset) */
} sluice_arc_outcome;

/* Why the limit changed at a window's end (for the debug line). */
typedef enum sluice_arc_reason {
    SLUICE_ARC_SAME = 0,
    SLUICE_ARC_GREW,      /* in use to the limit, RTT near the baseline */
    SLUICE_ARC_PRESSURE,  /* back pressure in the window: halved */
    SLUICE_ARC_SLOWER,    /* RTT rose past the baseline: cut by 10 % */
    SLUICE_ARC_CAPPED     /* the rate limit allows no more in flight */
} sluice_arc_reason;

typedef struct sluice_arc {
    int max;               /* upper bound, 1..SLUICE_ARC_MAX */
    double rate_limit;     /* requests/s the stage's bucket allows; 0 = none */
    int limit;             /* current limit, 1..max */
    int in_flight;         /* slots taken */
    int slow_start;        /* doubling (not +1) until the first cut */
    double baseline;       /* EWMA of windows' mean RTT, seconds; 0 = none yet */
    double window_end;     /* when the current window closes; 0 = at the first answer */
    double window_rtt_sum; /* RTTs of answers (not back pressure) in the window */
    unsigned window_answers;
    int window_full;       /* the limit was reached in the window */
    int window_pressure;   /* back pressure in the window */
    int pressure_limit;    /* the limit at the last back pressure; 0 = none
                              (or grown past it since) */
    int probe_windows;     /* windows in use since the last probing step */
    double cut_at;         /* when the limit was last cut: back pressure on
                              attempts started before then was answered to
                              the old limit and is not counted again */
} sluice_arc;

/* Set up `arc` for at most `max` in flight (clamped to 1..SLUICE_ARC_MAX),
 * starting at 1 in slow start, and bounded by `rate_limit` requests/s
 * (<= 0: none) once an RTT is known: never more in flight than the rate
 * times the baseline RTT, plus one. */
void sluice_arc_init(sluice_arc *arc, int max, double rate_limit);

/* Take a slot when fewer than the limit are in flight: returns 1 (taken)
 * or 0 (full: wait for a release). */
int sluice_arc_acquire(sluice_arc *arc);

/* Give back a slot taken by sluice_arc_acquire and account the attempt
 * that held it: `rtt` seconds from its start to its answer, `outcome`.
 * `now` is a monotonic time in seconds. At a window's end (a window lasts
 * one baseline RTT) the limit is adjusted. Returns the reason of a change
 * (SLUICE_ARC_SAME when the limit stayed; *old_limit gets the limit
 * before, may be NULL). */
sluice_arc_reason sluice_arc_release(sluice_arc *arc, double now, double rtt,
                                     sluice_arc_outcome outcome, int *old_limit);

/* A word for `reason` ("grew", "back pressure", ...). */
const char *sluice_arc_reason_text(sluice_arc_reason reason);
#endif
