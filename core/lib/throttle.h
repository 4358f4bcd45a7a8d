/* throttle.h: named token buckets with pause, shared by every request of a
 * stage's HTTP client (http.c). Thread-safe. */
#ifndef SLUICE_THROTTLE_H
#define SLUICE_THROTTLE_H

#include <signal.h>

#include "util/clock.h"

typedef struct sluice_throttle sluice_throttle;

/* A new, empty set of buckets (caller owns; sluice_throttle_destroy), or
 * NULL on allocation failure. */
sluice_throttle *sluice_throttle_new(void);

/* Free the set and NULL the caller's pointer. Safe on NULL. No thread may
 * be waiting on it. */
void sluice_throttle_destroy(sluice_throttle **throttle_p);

/* Configure (or reconfigure) bucket `name`: `rate` tokens per second, at
 * most `burst` stored (values below 1 count as 1). rate <= 0 means no rate
 * limit (pauses still apply). A new bucket starts full. Returns 0, or -1 on
 * allocation failure. */
int sluice_throttle_configure(sluice_throttle *throttle, const char *name,
                              double rate, double burst);

/* Wait until bucket `name` (created unlimited if unknown) is not paused and
 * holds a token, then take it. Waits in slices of at most 100 ms and gives
 * up when *stopping becomes non-zero (stopping may be NULL). Returns 0 when
 * a token was taken, -1 when interrupted by stopping or out of memory. */
int sluice_throttle_acquire(sluice_throttle *throttle, const char *name,
                            const volatile sig_atomic_t *stopping);

/* sluice_throttle_acquire that calls tick(tick_arg) after each slice it
 * sleeps (tick may be NULL), so a caller can show it is alive while it
 * waits (http.c: a sink's heartbeat through a long 429 pause). tick runs
 * on the waiting thread without the throttle's lock held. Same returns. */
int sluice_throttle_acquire_ticking(sluice_throttle *throttle, const char *name,
                                    const volatile sig_atomic_t *stopping,
                                    void (*tick)(void *), void *tick_arg);

/* Pause bucket `name` for `seconds` from now: every acquire waits until
 * then (an earlier pause end is extended, never shortened). After the pause
 * the bucket holds one token, so requests resume at the configured rate
 * instead of in a burst. Returns 0, or -1 on allocation failure. */
int sluice_throttle_pause(sluice_throttle *throttle, const char *name, double seconds);

/* Sleep `seconds`, in slices of at most 100 ms, returning early when
 * *stopping becomes non-zero (stopping may be NULL). Returns 0 after the
 * full sleep, -1 when interrupted. */
int sluice_sleep_interruptible(double seconds, const volatile sig_atomic_t *stopping);
#endif
