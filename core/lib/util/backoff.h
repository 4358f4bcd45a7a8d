/* backoff.h: exponential backoff with full jitter. Implemented in
 * util/backoff.c. */
#ifndef SLUICE_UTIL_BACKOFF_H
#define SLUICE_UTIL_BACKOFF_H

/* Exponential backoff with full jitter for retry number `attempt` (0 for
 * the first retry): a delay in [0, min(cap_ms, base_ms * 2^attempt)]
 * picked with `random01` in [0, 1), but at least `hint_s` seconds (a
 * plugin's Retry-After hint) when that is > 0. */
long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01);
#endif
