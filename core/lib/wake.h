/* wake.h: waking the stage runners of this process out of their blocking
 * waits (wake.c). Each runner owns an eventfd registered here and waits on
 * it next to its ZeroMQ sockets, with no timeout when nothing is due; a
 * change of the flags the runners read (sluice_unit_signals, the unit's
 * stop flag) is followed by sluice_unit_wake() (stage.h), which writes to
 * every registered eventfd. While units run, the stop, rewind and hard-stop
 * signals whose handler is a function are taken by a watcher thread
 * (signalfd): it calls the handler, which sets the flags, then wakes the
 * runners. Internal to core/lib. */
#ifndef SLUICE_WAKE_H
#define SLUICE_WAKE_H

#include <signal.h>

/* A new eventfd (non-blocking, close-on-exec) registered for
 * sluice_unit_wake(). Returns the fd (caller releases it with
 * sluice_wake_close), or -1 (errno set). */
int sluice_wake_open(void);

/* Unregister and close a fd from sluice_wake_open. Safe on -1. */
void sluice_wake_close(int fd);

/* Read what woke `fd` so it blocks again. */
void sluice_wake_drain(int fd);

/* Called by a unit before it starts its threads: block SIGTERM, SIGINT,
 * SIGUSR1 and SIGUSR2 (those whose handler is a plain function) in the
 * calling thread, which the unit's threads inherit, and start the
 * process's watcher thread unless it runs already (counted: the last
 * sluice_wake_signals_end stops it). The signal mask before is saved in
 * *old for sluice_wake_signals_end. Returns 0, or -1 when no watcher
 * could start (the mask is then left as it was: signals reach their
 * handlers, and runners see the flags only when something else wakes them). */
int sluice_wake_signals_begin(sigset_t *old);

/* After the unit's threads ended: stop the watcher if this was its last
 * user, then restore the calling thread's mask to *old (signals that came
 * meanwhile and were not taken reach their handlers then). */
void sluice_wake_signals_end(const sigset_t *old);
#endif
