/* supervisor.h: process supervision for `sluice run`: one supervisor process
 * per pipeline (its own process group) forks one child per placement unit,
 * restarts crashed children with backoff, stops pipelines gracefully on
 * SIGTERM/SIGINT and prints the --once summary. Implemented in
 * supervisor.c; see docs/architecture.md. */
#ifndef SLUICE_SUPERVISOR_H
#define SLUICE_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include "pipeline.h"

/* Exit codes of `sluice run` besides 0 and SLUICE_EXIT_CONFIG. */
#define SLUICE_EXIT_FAILED 1      /* a pipeline failed (gave up, store error) */
#define SLUICE_EXIT_REJECTED 2    /* --once: records ended in the DLQ */
#define SLUICE_EXIT_FATAL 3       /* a stage returned SLUICE_FATAL */

/* Restart delays never exceed this. */
#define SLUICE_RESTART_DELAY_CAP_MS 10000L

struct sluice_admin;
typedef struct sluice_run_options {
    int once;                    /* --once */
    struct sluice_admin *admin;  /* --admin-listen: bound, served once the
                                    pipelines started (NULL: none) */
    const char *const *except;   /* --except NAME...: stages started elsewhere */
    size_t except_count;
    const int *locks;            /* per pipeline: its lock (run_lock.h), or
                                    NULL: each pipeline's processes keep
                                    only their own */
    int progress_fd;             /* --once: draw the progress line on this
                                    terminal (stderr when it is one and no
                                    --no-progress); 0 or -1: none */
} sluice_run_options;

/* Crash accounting of one child: the times of its recent crashes. */
#define SLUICE_CRASH_LOG_MAX 64
typedef struct sluice_crash_log {
    int64_t times_ms[SLUICE_CRASH_LOG_MAX]; /* ring, oldest first from `start` */
    size_t start;
    size_t count;
} sluice_crash_log;

/* Note a crash at `now_ms` and return how many crashes (this one
 * included) happened within the last `window_ms`. */
size_t sluice_crash_note(sluice_crash_log *log, int64_t now_ms, int64_t window_ms);

/* Delay before restarting a child after its `crashes`-th crash within the
 * window: base_ms doubled per earlier crash, capped at
 * SLUICE_RESTART_DELAY_CAP_MS. */
long sluice_restart_delay_ms(long base_ms, size_t crashes);

/* Waiting out a full disk: a child that exits SLUICE_STAGE_EXIT_NOSPACE
 * (the state store's disk or quota is full) is restarted after a delay
 * that starts at SLUICE_NOSPACE_DELAY_MS and doubles to
 * SLUICE_NOSPACE_DELAY_CAP_MS, for as long as it takes, and is not counted
 * against restart.max; it is logged at error the first time, then at most
 * once per SLUICE_NOSPACE_LOG_EVERY_MS. */
#define SLUICE_NOSPACE_DELAY_MS 1000L
#define SLUICE_NOSPACE_DELAY_CAP_MS 30000L
#define SLUICE_NOSPACE_LOG_EVERY_MS 60000L
typedef struct sluice_nospace_wait {
    unsigned failures;   /* consecutive exits on a full disk (0: none) */
    int64_t since_ms;    /* time of the first of them */
    int64_t logged_ms;   /* time of the last one logged (0: never); kept when
                            a spell ends (failures = 0), so a disk that
                            fills again at once is not logged again */
} sluice_nospace_wait;

/* Note an exit on a full disk at `now_ms`. Returns the delay before the
 * next attempt; *log is set to 1 when this exit is to be logged (none was
 * in the last SLUICE_NOSPACE_LOG_EVERY_MS), else 0. */
long sluice_nospace_note(sluice_nospace_wait *wait, int64_t now_ms, int *log);

/* Create the state and runtime directories of every pipeline and check
 * that their ipc:// endpoints fit the OS limit. Returns 0, or -1 with
 * "FILE: message" in errbuf. */
int sluice_run_prepare(sluice_pipeline_def *const *defs, size_t n, char *errbuf,
                       size_t errlen);

/* Run every pipeline until it ends: one supervisor process per pipeline,
 * each in its own process group. SIGTERM/SIGINT stop them gracefully, a
 * second one kills everything. All plugins must be loaded already (they
 * are inherited by fork). Returns the exit status for `sluice run`: 0 if
 * every pipeline ended well, else the first pipeline's non-zero code
 * (SLUICE_EXIT_*, or 128+signal after a forced stop). */
int sluice_run_pipelines(sluice_pipeline_def *const *defs, size_t n,
                         const sluice_run_options *opts);

/* `sluice run --stage NAME`: run only that stage of `def` in the calling
 * process (no supervisor, no restart), binding and connecting its
 * endpoints as usual. Returns its exit code (SLUICE_STAGE_EXIT_*). */
int sluice_run_stage(const sluice_pipeline_def *def, const char *stage, int once);
#endif
