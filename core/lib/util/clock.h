/* clock.h: the engine's one monotonic clock. Implemented in util/clock.c. */
#ifndef SLUICE_UTIL_CLOCK_H
#define SLUICE_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (not wall time: for deadlines and
 * intervals only). Never fails. */
int64_t sluice_clock_ms(void);

/* Seconds on CLOCK_MONOTONIC, with sub-microsecond resolution. Never
 * fails. */
double sluice_monotonic_seconds(void);
/* Wall-clock time (CLOCK_REALTIME) in seconds since the epoch: for
 * times shown to people and compared across processes (statistics files). */
double sluice_wall_seconds(void);
#endif
