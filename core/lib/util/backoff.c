/* backoff.c: exponential backoff with full jitter above a small floor, the
 * one delay policy of every retry in the engine (util/backoff.h). */
#include "config.h"

#include "util/backoff.h"

long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01)
{
    double ceiling = (double)base_ms;
    double floor_ms = SLUICE_BACKOFF_FLOOR_MS;
    double delay;

    if (cap_ms < base_ms)
        cap_ms = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < (double)cap_ms; i++)
        ceiling *= 2.0;
    if (ceiling > (double)cap_ms)
        ceiling = (double)cap_ms;
    if (random01 < 0.0)
        random01 = 0.0;
    if (random01 >= 1.0)
        random01 = 0.999999;
    /* a retry never comes back at once: a tight loop against a peer that
     * is down helps nobody */
    if (floor_ms > ceiling)
        floor_ms = ceiling;
    delay = floor_ms + (ceiling - floor_ms) * random01;
    if (hint_s > 0.0 && delay < hint_s * 1000.0)
        delay = hint_s * 1000.0;
    return (long)delay;
}
