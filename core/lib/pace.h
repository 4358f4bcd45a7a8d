/* pace.h: the request pacer of a stage's HTTP gate (http_gate.c): learns
 * the rate a server allows from its 429s and lets requests start no faster
 * than a little under it, as the AWS SDKs' client-side rate limiter
 * (adaptive retry mode) does. Off until the first 429: a stage that never
 * sees one is never paced. At a 429 the rate achieved (starts per second
 * not paused times the share of answers that were not 429, over the last
 * 0.5-1 s) is noted and the
 * pace set to SLUICE_PACE_RATIO of it; while no 429 comes, the pace grows
 * by 1 % a second, the growth doubling every 10 s without one (a server
 * whose limit rose is found again within a minute or so). Pure arithmetic
 * on the times it is given (no clock, no lock, no I/O): http_gate.c holds
 * the lock and the clock, unit tests a made-up clock. See
 * docs/http-client.md. */
#ifndef SLUICE_PACE_H
#define SLUICE_PACE_H

/* Measuring slot, seconds: the rate achieved is measured over the last
 * complete slot and the current one. At most one cut per slot. */
#define SLUICE_PACE_SLOT 0.5
/* The pace after a 429, as a share of the rate achieved. */
#define SLUICE_PACE_RATIO 0.95
/* One cut never goes below this share of the pace before it (the rate
 * achieved is low while the server answers 429 for reasons other than a
 * rate, or when few answers came). */
#define SLUICE_PACE_CUT_FLOOR 0.5
/* Growth of the pace per second without a 429, as a share of the pace. */
#define SLUICE_PACE_PROBE 0.01
/* The growth doubles every SLUICE_PACE_PROBE_DOUBLING s without a 429, at
 * most SLUICE_PACE_PROBE_DOUBLINGS times. */
#define SLUICE_PACE_PROBE_DOUBLING 10.0
#define SLUICE_PACE_PROBE_DOUBLINGS 6
/* The pace grows only while it holds requests back: the last slot started
 * at least this share of the pace (more would teach nothing, and a pace
 * far above what is sent would let a burst through later). */
#define SLUICE_PACE_BINDING 0.8
/* Never slower than this, requests/s. */
#define SLUICE_PACE_MIN 1.0

typedef struct sluice_pace {
    double rate;          /* requests/s allowed to start; 0 = not pacing */
    double learned;       /* the rate achieved at the last cut, requests/s */
    double tokens;        /* the pacing bucket, 0..1 (no bursts) */
    double refilled_at;   /* when tokens were last refilled */
    double cut_at;        /* when the last 429 set the pace; 0 = never */
    double grown_at;      /* when growth was last applied */
    double slot_start;    /* the current measuring slot; 0 = none yet */
    double window_start;  /* the previous slot's start (the window's) */
    unsigned slot_sent, prev_sent;         /* starts let through */
    unsigned slot_admitted, prev_admitted; /* answers that were not 429 */
    unsigned slot_refused, prev_refused;   /* 429s */
    double slot_paused_mark;   /* paused seconds (below) at slot_start */
    double window_paused_mark; /* at window_start */
    double pause_from;    /* the last pause (a 429's wait): [from, until) */
    double paused_until;
    double paused_before; /* paused seconds of the pauses before it */
} sluice_pace;

/* Set up `pace`: not pacing, nothing measured. */
void sluice_pace_init(sluice_pace *pace);

/* A request wants to start at `now` (monotonic seconds): returns 0 when it
 * may (its start is counted), else the seconds to wait before asking again
 * (the pace's next token). Never waits when not pacing. */
double sluice_pace_take(sluice_pace *pace, double now);

/* An answer came at `now` to a request started at `sent_at`; `refused` is
 * non-zero for a 429. Returns 1 when it set the pace (the first 429, or a
 * 429 to a request started after the last cut, at most once per slot), 0
 * otherwise. *old_rate (may be NULL) gets the pace before (0: none). */
int sluice_pace_answer(sluice_pace *pace, double now, double sent_at, int refused,
                       double *old_rate);

/* Every request waits `seconds` from `now` (a 429's Retry-After or backoff,
 * installed by http.c): that time is left out of the rate achieved (a
 * pause is not the server's rate). */
void sluice_pace_pause(sluice_pace *pace, double now, double seconds);
#endif
