/* backoff.h: exponential backoff with full jitter. Implemented in
 * util/backoff.c. */
#ifndef SLUICE_UTIL_BACKOFF_H
#define SLUICE_UTIL_BACKOFF_H

/* The shortest delay before any retry (unless the ceiling is lower). */
#define SLUICE_BACKOFF_FLOOR_MS 50

/* Exponential backoff with full jitter for retry number `attempt` (0 for
 * the first retry): a delay in [floor, min(cap_ms, base_ms * 2^attempt)]
 * picked with `random01` in [0, 1), floor being SLUICE_BACKOFF_FLOOR_MS
 * (or the ceiling when that is lower), but at least `hint_s` seconds (a
 * Retry-After hint) when that is > 0. The HTTP client's retries of one
 * request and the runners' retries of a whole call both use it. */
long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01);
#endif
