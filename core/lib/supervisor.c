/* supervisor.c: `sluice run` process management: a supervisor process per
 * pipeline forks one child per placement unit, restarts crashed children
 * (the policy is supervisor_restart.c's; a restarted stage makes the
 * source rewind) and stops gracefully on SIGTERM/SIGINT. Signals are taken
 * synchronously with sigtimedwait(), so no handler races the bookkeeping.
 * The --once summary is run_summary.c's; stage process setup and run
 * directory files are supervisor_process.c's. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"
#include "run_lock.h"
#include "run_progress.h"
#include "stage.h"
#include "supervisor.h"
#include "supervisor_internal.h"
#include "util/clock.h"
#include "util/proctitle.h"

/* 1 if `stage` runs elsewhere: `external = true` or --except NAME. */
static int is_external(const sluice_run_options *opts, const sluice_stage_def *stage)
{
    if (stage->common.external)
        return 1;
    for (size_t i = 0; i < opts->except_count; i++) {
        if (strcmp(opts->except[i], stage->name) == 0)
            return 1;
    }
    return 0;
}

/* Group the pipeline's local stages into placement units: stages sharing
 * a `group` form one unit, a stage with `instances` = N makes N units (its
 * instances 1..N), every other stage a unit of its own. Returns 0 or -1
 * (logged: out of memory, or --except names a stage run as instances). */
static int plan_units(pipeline_sup *s)
{
    const sluice_pipeline_def *def = s->def;
    size_t most = 0;

    for (size_t i = 0; i < def->stage_count; i++) /* processes per stage */
        most += sluice_stage_last_instance(&def->stages[i]) -
                sluice_stage_first_instance(&def->stages[i]) + 1;
    s->units = calloc(most ? most : 1, sizeof(*s->units));
    if (!s->units) {
        SLOG(s, SLUICE_LOG_ERROR, "cannot plan the stage processes: out of memory");
        return -1;
    }
    for (size_t i = 0; i < def->stage_count; i++) {
        const char *group = def->stages[i].common.group;
        unit *u = NULL;
        size_t used;

        if (def->stages[i].common.instances > 1) {
            if (is_external(s->opts, &def->stages[i])) {
                SLOG(s, SLUICE_LOG_ERROR, "stage '%s' runs as %d instances; they cannot be "
                     "started elsewhere (--except)", def->stages[i].name,
                     def->stages[i].common.instances);
                return -1;
            }
            for (int k = 1; k <= def->stages[i].common.instances; k++) {
                u = &s->units[s->unit_count++];
                u->stages[u->count++] = i;
                u->instance = (unsigned)k;
                sluice_stage_label(def, i, u->instance, u->label, sizeof(u->label));
            }
            continue;
        }
        if (is_external(s->opts, &def->stages[i]))
            continue;
        for (size_t k = 0; group && k < s->unit_count; k++) {
            const char *other = def->stages[s->units[k].stages[0]].common.group;
            if (other && strcmp(other, group) == 0 &&
                s->units[k].count < sizeof(s->units[k].stages) / sizeof(size_t))
                u = &s->units[k];
        }
        if (!u)
            u = &s->units[s->unit_count++];
        used = strlen(u->label);
        snprintf(u->label + used, sizeof(u->label) - used, "%s%s", u->count ? "+" : "",
                 def->stages[i].name);
        u->stages[u->count++] = i;
        if (i == 0)
            u->holds_source = 1;
    }
    return 0;
}

/* The unit holding the source, or NULL when it runs elsewhere. */
static unit *source_unit(pipeline_sup *s)
{
    for (size_t i = 0; i < s->unit_count; i++) {
        if (s->units[i].holds_source)
            return &s->units[i];
    }
    return NULL;
}

/* Fork the process of unit `u`. Returns 0 or -1 (logged). */
static int start_unit(pipeline_sup *s, unit *u)
{
    pid_t parent = getpid();
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        SLOG(s, SLUICE_LOG_ERROR, "cannot fork stage '%s': %s", u->label, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sluice_unit_signals signals = sup_unit_signals();
        int code;

        sup_install_stage_signals();
        sup_follow_parent(SIGKILL, parent);
        sup_tune_allocator();
        sluice_log_set_origin(s->def->name, u->label);
        sluice_proctitle_set("sluice: %s/%s", s->def->name, u->label);
        /* the source shares this host's store unless it runs elsewhere */
        code = sluice_unit_run(s->def, u->stages, u->count, u->instance,
                               (s->opts->once ? SLUICE_UNIT_ONCE : 0) |
                                   (source_unit(s) ? SLUICE_UNIT_SOURCE_STORE : 0),
                               &signals);
        fflush(NULL);
        _exit(code);
    }
    if (u->started_ms)
        u->restarts++;
    u->pid = pid;
    u->restart_at = 0;
    u->started_ms = sluice_clock_ms();
    s->changes++;
    sup_write_pid_files(s->def, u->stages, u->count, u->instance, pid);
    SLOG(s, SLUICE_LOG_DEBUG, "stage '%s' started as process %ld", u->label, (long)pid);
    return 0;
}

/* Send `signo` to every running unit (except `skip`). */
static void signal_units(pipeline_sup *s, int signo, const unit *skip)
{
    for (size_t i = 0; i < s->unit_count; i++) {
        if (s->units[i].pid > 0 && &s->units[i] != skip)
            kill(s->units[i].pid, signo);
    }
}

/* Enter the stopping phase: ask every running unit to leave (SIGTERM, or
 * SIGUSR2 "no drain" after a failure: nothing downstream would ack), give
 * them `grace_ms`, cancel pending restarts. */
void sup_begin_stopping(pipeline_sup *s, long grace_ms, int failed)
{
    s->phase = PHASE_STOPPING;
    s->changes++;
    s->deadline = sluice_clock_ms() + grace_ms;
    for (size_t i = 0; i < s->unit_count; i++)
        s->units[i].restart_at = 0;
    signal_units(s, failed ? SIGUSR2 : SIGTERM, NULL);
}

/* Reap every child that ended. */
static void reap_children(pipeline_sup *s)
{
    pid_t pid;
    int status;

    struct rusage usage;

    while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
        for (size_t i = 0; i < s->unit_count; i++) {
            if (s->units[i].pid == pid) {
                if (usage.ru_maxrss > s->units[i].peak_rss_kb)
                    s->units[i].peak_rss_kb = usage.ru_maxrss;
                s->units[i].cpu_s += sup_seconds_of(&usage.ru_utime) + sup_seconds_of(&usage.ru_stime);
                sup_unit_ended(s, &s->units[i], status);
                break;
            }
        }
    }
}

/* Restart the units whose backoff passed. A restarted non-source unit
 * lost the batches it held, so the source rewinds (SIGUSR1). */
static void restart_due(pipeline_sup *s)
{
    int64_t now = sluice_clock_ms();
    unit *src = source_unit(s);

    for (size_t i = 0; i < s->unit_count; i++) {
        unit *u = &s->units[i];
        if (!u->restart_at || u->restart_at > now || u->pid > 0)
            continue;
        if (start_unit(s, u) != 0) {
            s->outcome = SLUICE_EXIT_FAILED;
            sup_begin_stopping(s, SUP_FATAL_GRACE_MS, 1);
            return;
        }
        if (!u->holds_source && src && src->pid > 0)
            kill(src->pid, SIGUSR1);
    }
}

/* Milliseconds until the next thing due: a restart whose backoff ends,
 * the stop phase's deadline, or the moment a unit that exited on a full
 * disk has run long enough to say the disk has space again
 * (sup_note_space_back). -1 when nothing is due: the supervisor then
 * sleeps until a signal (a child ending, a stop), with no timer. */
static long next_wakeup(const pipeline_sup *s)
{
    int64_t now = sluice_clock_ms();
    int64_t wake = INT64_MAX;

    for (size_t i = 0; i < s->unit_count; i++) {
        const unit *u = &s->units[i];

        if (u->restart_at && u->restart_at < wake)
            wake = u->restart_at;
        if (u->nospace.failures && u->pid > 0 &&
            u->started_ms + SUP_SPACE_BACK_MS < wake)
            wake = u->started_ms + SUP_SPACE_BACK_MS;
    }
    if (s->deadline && s->deadline < wake)
        wake = s->deadline;
    if (wake == INT64_MAX)
        return -1;
    return wake > now ? (long)(wake - now) : 0;
}

/* 1 while a unit runs or waits for a restart. */
static int units_alive(const pipeline_sup *s)
{
    for (size_t i = 0; i < s->unit_count; i++) {
        if (s->units[i].pid > 0 || s->units[i].restart_at)
            return 1;
    }
    return 0;
}

/* Counts for the --once summary, read from the stage statistics files. */
typedef struct run_counts {
    double records_in, delivered, events;
} run_counts;

int sup_supervise(const sluice_pipeline_def *def, const sluice_run_options *opts)
{
    pipeline_sup s;
    int64_t started = sluice_clock_ms();
    int64_t dlq_before;
    int result;
    int stop_signal;
    unsigned published;

    sluice_log_set_origin(def->name, NULL);
    sluice_proctitle_set("sluice: %s (supervisor)", def->name);
    memset(&s, 0, sizeof(s));
    s.def = def;
    s.opts = opts;
    s.outcome = 0;
    sup_clear_counts(def);
    dlq_before = sup_dlq_count_when_space(def, &stop_signal); /* before any fork */
    if (stop_signal)
        return 128 + stop_signal;
    s.dlq_at_start = dlq_before;
    if (dlq_before < 0 || plan_units(&s) != 0) {
        free(s.units);
        return SLUICE_EXIT_FAILED;
    }
    sluice_log_write(def->name, NULL, SLUICE_LOG_INFO, "starting %zu stage(s) in %zu "
                     "process(es)", def->stage_count, s.unit_count);
    for (size_t i = 0; i < s.unit_count; i++) {
        if (start_unit(&s, &s.units[i]) != 0) {
            s.outcome = SLUICE_EXIT_FAILED;
            sup_begin_stopping(&s, SUP_FATAL_GRACE_MS, 1);
            break;
        }
    }
    published = s.changes - 1;
    while (units_alive(&s)) {
        int signo;

        if (s.changes != published) {
            sup_publish_status(&s, 0);
            published = s.changes;
        }
        signo = sup_wait_signal(next_wakeup(&s));

        if (signo == SIGCHLD)
            reap_children(&s);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            unit *src = source_unit(&s);
            if (s.phase == PHASE_RUNNING && src && src->pid > 0) {
                SLOG(&s, SLUICE_LOG_INFO, "stopping: letting in-flight batches drain");
                s.phase = PHASE_DRAINING;
                s.deadline = sluice_clock_ms() + SLUICE_DRAIN_TIMEOUT_MS + SUP_STOP_GRACE_MS;
                kill(src->pid, SIGTERM);
            } else if (s.phase == PHASE_RUNNING) {
                sup_begin_stopping(&s, SUP_STOP_GRACE_MS, 0);
            } else {
                SLOG(&s, SLUICE_LOG_WARN, "second stop signal: killing every stage now");
                signal_units(&s, SIGKILL, NULL);
                while (waitpid(-1, NULL, 0) > 0)
                    ;
                free(s.units);
                return 128 + signo;
            }
        }
        if (s.deadline && sluice_clock_ms() >= s.deadline) {
            SLOG(&s, SLUICE_LOG_WARN, "stages did not stop in time; killing them");
            if (s.phase == PHASE_DRAINING) {
                signal_units(&s, SIGKILL, NULL);
                sup_begin_stopping(&s, SUP_STOP_GRACE_MS, 0);
            } else {
                signal_units(&s, SIGKILL, NULL);
                s.deadline = 0;
            }
        }
        if (s.phase != PHASE_STOPPING) {
            restart_due(&s);
            sup_note_space_back(&s);
        }
    }
    result = s.outcome;
    sup_publish_status(&s, 1);
    if (opts->once)
        result = sup_summary_print(&s, started, dlq_before, result);
    free(s.units);
    return result;
}

/* ------------------------------------------------------------------ */
/* All pipelines.                                                     */
/* ------------------------------------------------------------------ */

int sluice_run_pipelines(sluice_pipeline_def *const *defs, size_t n,
                         const sluice_run_options *opts)
{
    pid_t *pids = calloc(n ? n : 1, sizeof(pid_t));
    int *codes = calloc(n ? n : 1, sizeof(int));
    sigset_t set, old;
    size_t running = 0;
    int stop_signals = 0;
    int result = 0;
    pid_t self = getpid();
    sluice_admin_view *view = opts->admin ? sluice_admin_view_new(defs, n) : NULL;
    sluice_progress *progress = opts->once && opts->progress_fd > 0
                                    ? sluice_progress_new(defs, n, opts->progress_fd) : NULL;

    if (!pids || !codes || (opts->admin && !view)) {
        sluice_progress_finish(&progress);
        sluice_admin_view_free(&view);
        free(pids);
        free(codes);
        sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "out of memory");
        return SLUICE_EXIT_FAILED;
    }
    sup_signal_set(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (size_t p = 0; p < n; p++) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            sluice_log_write(defs[p]->name, NULL, SLUICE_LOG_ERROR, "cannot fork: %s",
                             strerror(errno));
            codes[p] = SLUICE_EXIT_FAILED;
            continue;
        }
        if (pid == 0) {
            int code;
            setpgid(0, 0);
            sup_follow_parent(SIGTERM, self);
            sluice_lock_keep_only(opts->locks ? opts->locks[p] : -1);
            sluice_admin_forget_in_child(opts->admin);
            free(pids); /* the parent's bookkeeping: not this child's */
            free(codes);
            code = sup_supervise(defs[p], opts);
            fflush(NULL);
            _exit(code);
        }
        setpgid(pid, pid);
        pids[p] = pid;
        sluice_admin_view_started(view, p, (long)pid);
        running++;
    }
    sluice_admin_start(opts->admin, sluice_admin_view_list, view); /* signals blocked */
    while (running > 0) {
        /* nothing on a clock here but the progress line (--once, a TTY) */
        int signo = sup_wait_signal(sluice_progress_due_ms(progress));
        pid_t pid;
        int status;

        sluice_progress_tick(progress);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            stop_signals++;
            for (size_t p = 0; p < n; p++) {
                if (pids[p] > 0)
                    kill(stop_signals == 1 ? pids[p] : -pids[p],
                         stop_signals == 1 ? SIGTERM : SIGKILL);
            }
            if (stop_signals > 1) {
                while (waitpid(-1, NULL, 0) > 0)
                    ;
                result = 128 + signo;
                goto out;
            }
        }
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (size_t p = 0; p < n; p++) {
                if (pids[p] != pid)
                    continue;
                codes[p] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                pids[p] = 0;
                sluice_admin_view_ended(view, p, codes[p]);
                running--;
                /* not silent when the others run on */
                if (codes[p] != 0 && !stop_signals && !opts->once && running > 0)
                    sluice_log_write(defs[p]->name, NULL, SLUICE_LOG_ERROR, "pipeline stopped "
                                     "for good (exit %d); the other pipelines run on",
                                     codes[p]);
            }
        }
    }
    for (size_t p = 0; p < n; p++) {
        if (codes[p] != 0) {
            result = codes[p];
            break;
        }
    }
out:
    sluice_progress_finish(&progress); /* the final figures */
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(pids);
    free(codes);
    sluice_admin_stop(opts->admin); /* its list reads the view */
    sluice_admin_view_free(&view);
    return result;
}


