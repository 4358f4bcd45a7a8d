/* stage.h: what the supervisor and the CLI need of the stage runners:
 * exit codes, the endpoints and labels of stage processes (endpoint.c),
 * and placement units, the stages one process runs as threads (unit.c;
 * the runners themselves are behind runner.h). The protocol is described
 * in docs/architecture.md. */
#ifndef SLUICE_STAGE_H
#define SLUICE_STAGE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "pipeline.h"

/* Exit codes of a stage runner, a placement unit and its process. */
#define SLUICE_STAGE_EXIT_OK 0     /* finished or stopped gracefully */
#define SLUICE_STAGE_EXIT_ERROR 1  /* failed: the supervisor restarts it */
#define SLUICE_STAGE_EXIT_FATAL 3  /* SLUICE_FATAL: do not restart */
/* failed because the state store's disk is full (sluice_store_out_of_space):
 * restarted after a backoff until space returns, not counted as a crash
 * (sysexits EX_TEMPFAIL) */
#define SLUICE_STAGE_EXIT_NOSPACE 75

/* Drain bound on graceful stop: in-flight batches get this long to be
 * acknowledged before the source gives up waiting (replay covers them). */
#define SLUICE_DRAIN_TIMEOUT_MS 30000L

/* Longest endpoint string (ipc paths are further limited by the OS). */
#define SLUICE_ENDPOINT_MAX 512

/* ------------------------------------------------------------------ */
/* Endpoints.                                                         */
/* ------------------------------------------------------------------ */

/* Input endpoints of stage `index`: where its data PULL and its ack PUSH
 * bind, and where its upstream connects. `inproc` selects the in-process
 * form used between threads of one unit. Otherwise: the stage's
 * `endpoint` option (tcp://host:P binds data at P and acks at P+1;
 * ipc://PATH uses PATH and PATH.ack), else ipc://<runtime_dir>/<stage>.data
 * and .ack; for `instance` k > 0 of a stage run as several processes
 * ipc://<runtime_dir>/<stage>#k.data and .ack (pass 0 otherwise).
 * Returns 0, or -1 with a message in errbuf (endpoint too long, bad tcp
 * port). */
int sluice_stage_endpoints(const sluice_pipeline_def *pipeline, size_t index,
                           unsigned instance, int inproc, char *data, size_t data_len,
                           char *ack, size_t ack_len, char *errbuf, size_t errlen);

/* The name a process of stage `index` goes by in logs, statistics and pid
 * files: the stage name, with "#k" for instance k > 0. Returns 0, or -1 if
 * it does not fit in `len`. */
int sluice_stage_label(const sluice_pipeline_def *pipeline, size_t index, unsigned instance,
                       char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Placement units.                                                   */
/* ------------------------------------------------------------------ */

/* Process-wide flags a unit's signal handlers set (see supervisor_process.c). */
typedef struct sluice_unit_signals {
    volatile sig_atomic_t *term;   /* graceful stop asked (SIGTERM/SIGINT) */
    volatile sig_atomic_t *rewind; /* the source must rewind (SIGUSR1) */
    volatile sig_atomic_t *hard;   /* stop now, without draining (SIGUSR2) */
} sluice_unit_signals;

/* Wake every stage runner of this process out of its wait, so it looks at
 * its flags again: runners wait without a timeout when nothing is due, so
 * whoever sets a flag of sluice_unit_signals outside a signal handler
 * (signals are taken care of: wake.h) calls this after. Thread-safe; not
 * async-signal-safe. */
void sluice_unit_wake(void);

/* Flags of sluice_unit_run (0 or 1 is just `--once`). */
#define SLUICE_UNIT_ONCE 1         /* sluice run --once */
#define SLUICE_UNIT_SOURCE_STORE 2 /* the pipeline's source runs on this host
                                      under the same supervisor, so it
                                      allocates its epochs in the store the
                                      unit opens: a stage refuses a batch of
                                      an epoch the source never allocated */

/* Run the stages listed in `stages` (indexes into pipeline->stages, `n` of
 * them) in the calling process: one thread per stage (the calling thread
 * runs the last one), linked by inproc:// where two neighbours are both in
 * the unit and by their endpoints otherwise; with a ZAP handler in the
 * unit's ZeroMQ context when one of its stages has a CURVE input. `instance`
 * is k (1..instances) when the unit is instance k of a stage run as
 * several processes (then `n` is 1), else 0. All plugins must be loaded
 * already. `flags`: SLUICE_UNIT_ONCE, SLUICE_UNIT_SOURCE_STORE. A unit that
 * holds the source finishes when the source finishes (stopping its other
 * stages); any other unit finishes when *signals->term is set. Returns the
 * worst exit code of its stages: SLUICE_STAGE_EXIT_OK, _ERROR, _FATAL, or
 * _NOSPACE when a stage failed because the state store's disk is full. */
int sluice_unit_run(const sluice_pipeline_def *pipeline, const size_t *stages, size_t n,
                    unsigned instance, int flags, const sluice_unit_signals *signals);

/* Name of the per-process statistics file (JSON, written by the runners,
 * read by the supervisor for the --once summary):
 * <runtime_dir>/<label>.stats, `label` from sluice_stage_label. Returns 0
 * or -1 if it does not fit. */
int sluice_stage_stats_path(const sluice_pipeline_def *pipeline, const char *label,
                            char *buf, size_t len);

/* Name of the plugin metric counting derived events, summed in the
 * --once summary. */
#define SLUICE_METRIC_EVENTS_DERIVED "sluice_plugin_events_derived_total"
#endif
