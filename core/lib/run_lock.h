/* run_lock.h: one `sluice run` per pipeline (and per fleet): an exclusive
 * flock(2) on a lock file that holds the holder's pid. A pipeline's lock
 * is <state_dir>/sluice.lock, taken by `sluice run` before it forks
 * anything, so a second run of the same pipeline leaves at once (exit
 * SLUICE_EXIT_BUSY) instead of taking over the first one's sockets. The
 * lock goes with the last process holding the file open, so a crash never
 * leaves it stale. Implemented in run_lock.c; see docs/operations.md. */
#ifndef SLUICE_RUN_LOCK_H
#define SLUICE_RUN_LOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "pipeline.h"

/* Exit status of a `sluice run` whose pipeline (or fleet) already runs
 * (sysexits EX_TEMPFAIL). */
#define SLUICE_EXIT_BUSY 75

/* The name of a pipeline's lock file inside its state_dir. */
#define SLUICE_LOCK_FILE "sluice.lock"

/* Take the lock on `path` without waiting (the file is created 0600 if
 * absent) and write the calling process's pid into it. Returns the open
 * descriptor (close-on-exec; the lock is held while it, or a copy a fork
 * inherited, stays open), or -1 with errno set: EWOULDBLOCK when another
 * process holds the lock, *holder then set to the pid it wrote (0 if the
 * file holds none); any other errno from open/flock. */
int sluice_lock_take(const char *path, pid_t *holder);

/* Take the lock of pipeline `def` (<state_dir>/sluice.lock; the directory
 * must exist). Returns the descriptor, registered so that
 * sluice_lock_keep_only() knows it; or -1 with a message in errbuf:
 * "pipeline NAME is already running (pid N)", *busy = 1 and *holder = N
 * (0 if unknown), or a failure to open or lock the file naming it and
 * *busy = 0. `holder` may be NULL. */
int sluice_pipeline_lock(const sluice_pipeline_def *def, int *busy, pid_t *holder,
                         char *errbuf, size_t errlen);

/* Release a lock taken by sluice_pipeline_lock (this process's copy: a
 * child that inherited it keeps it until it closes it or exits). Sets
 * *fd_p to -1; a negative *fd_p is ignored. */
void sluice_pipeline_unlock(int *fd_p);

/* In a child just forked: close every pipeline lock descriptor this
 * process registered except `keep` (-1: close them all), so a pipeline's
 * processes do not hold the locks of the others (a stopped pipeline's lock
 * is released when its own processes end). */
void sluice_lock_keep_only(int keep);
#endif
