/* supervisor_internal.h: what the parts of `sluice run`'s process
 * management lend each other: a pipeline supervisor's bookkeeping (its
 * placement units and stop phase, supervisor.c), the restart policy
 * (supervisor_restart.c), the stage process setup, signal wait and run
 * directory files (supervisor_process.c) and the --once summary
 * (run_summary.c). Internal to core/lib. */
#ifndef SLUICE_SUPERVISOR_INTERNAL_H
#define SLUICE_SUPERVISOR_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include "log.h"
#include "pipeline.h"
#include "stage.h"
#include "supervisor.h"

/* Stop phases allow this long beyond the source's own drain bound. */
#define SUP_STOP_GRACE_MS 5000L
/* After a fatal stage, the others get this long to leave. */
#define SUP_FATAL_GRACE_MS 3000L
/* A unit that exited on a full disk and has run this long since its
 * restart found space again (sup_note_space_back). */
#define SUP_SPACE_BACK_MS (SLUICE_NOSPACE_DELAY_MS * 5)

/* One placement unit: the stages one process runs. */
typedef struct unit {
    size_t stages[64];      /* indexes into def->stages */
    size_t count;
    unsigned instance;      /* k of a stage run as several processes, else 0 */
    char label[256];        /* stage names joined by '+' */
    int holds_source;
    pid_t pid;              /* 0 when not running */
    int64_t restart_at;     /* restart scheduled at this time (0: none) */
    sluice_crash_log crashes;
    long peak_rss_kb;       /* largest peak RSS of its processes that ended */
    double cpu_s;           /* user+sys CPU seconds of its processes that ended */
    int64_t started_ms;     /* when its process was started */
    sluice_nospace_wait nospace; /* its exits on a full disk */
    unsigned restarts;      /* times it was restarted (status file) */
    char last_exit[64];     /* how its last process ended ("" if none did) */
} unit;

typedef enum { PHASE_RUNNING, PHASE_DRAINING, PHASE_STOPPING } phase;

/* The supervisor of one pipeline (a process of its own). */
typedef struct pipeline_sup {
    const sluice_pipeline_def *def;
    const sluice_run_options *opts;
    unit *units;
    size_t unit_count;
    phase phase;
    int64_t deadline;       /* of the current stop phase (0: none) */
    int outcome;            /* exit code decided so far */
    unsigned changes;       /* bumped at each start, end and phase change:
                               the status file is rewritten when it moved */
    int64_t dlq_at_start;   /* DLQ entries when the run started */
} pipeline_sup;

#define SLOG(s, level, ...) sluice_log_write((s)->def->name, NULL, (level), __VA_ARGS__)

/* supervisor.c: enter the stopping phase: ask every running unit to leave
 * (SIGTERM, or SIGUSR2 "no drain" when `failed`: nothing downstream would
 * ack), give them `grace_ms`, cancel pending restarts. */
void sup_begin_stopping(pipeline_sup *s, long grace_ms, int failed);

/* supervisor.c: the supervisor of one pipeline, run in its own process
 * (a child of `sluice run`, leader of its process group): starts the
 * stage processes, restarts them, stops on SIGTERM/SIGINT/SIGHUP. Returns
 * the pipeline's exit code (0, SLUICE_EXIT_*, 128+signal). */
int sup_supervise(const sluice_pipeline_def *def, const sluice_run_options *opts);

/* supervisor_restart.c: react to the end of unit `u`'s process (exit
 * `status` from wait): schedule its restart, or stop the pipeline (fatal
 * stage, source finished, restart.max exceeded) and set s->outcome. */
void sup_unit_ended(pipeline_sup *s, unit *u, int status);

/* supervisor_restart.c: units that exited on a full disk and have now run
 * for a while: the disk has space again; say so once. */
void sup_note_space_back(pipeline_sup *s);

/* supervisor_process.c: the signals the supervisors and the top process
 * take synchronously (blocked, then sigtimedwait): SIGCHLD, SIGTERM,
 * SIGINT, SIGHUP. */
void sup_signal_set(sigset_t *set);

/* Wait up to `ms` for one of sup_signal_set's signals; `ms` < 0 waits
 * until one comes (no timer: an idle supervisor makes no system call).
 * Returns the signal, or 0 on timeout. */
int sup_wait_signal(long ms);

/* In a stage process: handlers that set the flags sup_unit_signals()
 * points at (SIGTERM/SIGINT stop, SIGUSR1 rewind, SIGUSR2 stop without
 * drain), SIGPIPE ignored, every signal unblocked again. */
void sup_install_stage_signals(void);

/* The flags the handlers of sup_install_stage_signals() set, as the stage
 * runners read them (pointers to static storage). */
sluice_unit_signals sup_unit_signals(void);

/* Allocator policy of a stage process (no glibc fastbins). */
void sup_tune_allocator(void);

/* Ask the kernel to send `signo` when our parent dies, and leave at once
 * (_exit) if `parent` already died. */
void sup_follow_parent(int signo, pid_t parent);

/* Write (pid > 0) or remove (pid == 0) <runtime_dir>/<label>.pid for each
 * of the `n` stages of a unit (label: the stage name, "#k" added for
 * instance k). Failures are ignored (the files are for operators). */
void sup_write_pid_files(const sluice_pipeline_def *def, const size_t *stages, size_t n,
                         unsigned instance, pid_t pid);

/* Write <runtime_dir>/supervisor.status (JSON, atomically): the phase
 * ("stopped" once `finished`), each process with its pid, restarts and
 * recent crashes (wall clock), the outcome once decided, the supervisor's
 * last error line, the DLQ size at the start. The admin endpoint
 * (admin_gather.c) and the fleet's snapshot read it; a failed write only
 * costs them their view. */
void sup_publish_status(const pipeline_sup *s, int finished);

/* The name of that file in the runtime directory. */
#define SUP_STATUS_FILE "supervisor.status"

/* run_summary.c: a struct timeval as seconds. */
double sup_seconds_of(const struct timeval *tv);

/* Remove the statistics files a previous run of `def` left. */
void sup_clear_counts(const sluice_pipeline_def *def);

/* Number of DLQ entries of `def` before the run, waiting while the state
 * store's disk is full (logged at error once per interval, not given up
 * on). Returns the count, or -1 after another store error (logged) or a
 * stop signal (*stop_signal set to it). */
int64_t sup_dlq_count_when_space(const sluice_pipeline_def *def, int *stop_signal);

/* Print the --once summary of `s` (counts line, CPU line) on stdout;
 * `started_ms` is when the pipeline started, `dlq_before` its DLQ entries
 * then. Returns `result`, or SLUICE_EXIT_REJECTED when `result` is 0 and
 * records were parked during the run. */
int sup_summary_print(const pipeline_sup *s, int64_t started_ms, int64_t dlq_before, int result);
#endif
