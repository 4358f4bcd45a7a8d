/* backoff.c: exponential backoff with full jitter, the one delay policy
 * of every retry in the engine. */
#include "config.h"

#include "util/backoff.h"

long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01)
{
    double ceiling = (double)base_ms;
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
    delay = ceiling * random01;
    if (hint_s > 0.0 && delay < hint_s * 1000.0)
        delay = hint_s * 1000.0;
    return (long)delay;
}
