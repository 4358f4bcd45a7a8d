/* supervisor_restart.c: the restart policy of a pipeline's supervisor:
 * crash accounting and backoff, waiting out a full disk without counting
 * it as a crash, and what the end of a stage process means (restart it,
 * stop the pipeline, give up). The process plumbing is in supervisor.c. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "log.h"
#include "stage.h"
#include "supervisor.h"
#include "supervisor_internal.h"
#include "util/clock.h"

size_t sluice_crash_note(sluice_crash_log *log, int64_t now_ms, int64_t window_ms)
{
    size_t recent = 0;

    if (log->count == SLUICE_CRASH_LOG_MAX) {
        log->start = (log->start + 1) % SLUICE_CRASH_LOG_MAX;
        log->count--;
    }
    log->times_ms[(log->start + log->count) % SLUICE_CRASH_LOG_MAX] = now_ms;
    log->count++;
    for (size_t i = 0; i < log->count; i++) {
        if (now_ms - log->times_ms[(log->start + i) % SLUICE_CRASH_LOG_MAX] < window_ms)
            recent++;
    }
    return recent;
}

long sluice_restart_delay_ms(long base_ms, size_t crashes)
{
    long delay = base_ms > 0 ? base_ms : 0;

    for (size_t i = 1; i < crashes && delay < SLUICE_RESTART_DELAY_CAP_MS; i++)
        delay *= 2;
    return delay > SLUICE_RESTART_DELAY_CAP_MS ? SLUICE_RESTART_DELAY_CAP_MS : delay;
}

long sluice_nospace_note(sluice_nospace_wait *wait, int64_t now_ms, int *log)
{
    long delay = SLUICE_NOSPACE_DELAY_MS;

    if (wait->failures++ == 0)
        wait->since_ms = now_ms;
    /* once a minute, also across spells that end and start again */
    *log = wait->logged_ms == 0 || now_ms - wait->logged_ms >= SLUICE_NOSPACE_LOG_EVERY_MS;
    if (*log)
        wait->logged_ms = now_ms ? now_ms : 1;
    for (unsigned i = 1; i < wait->failures && delay < SLUICE_NOSPACE_DELAY_CAP_MS; i++)
        delay *= 2;
    return delay > SLUICE_NOSPACE_DELAY_CAP_MS ? SLUICE_NOSPACE_DELAY_CAP_MS : delay;
}

/* Describe how a child ended, e.g. "killed by signal 9". */
static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* Unit `u` exited because the state store's disk is full: schedule the
 * next attempt, not counted as a crash (an ENOSPC used the crash budget
 * and stopped the pipeline, webhook listener and all, in seconds). */
static void unit_out_of_space(pipeline_sup *s, unit *u)
{
    int64_t now = sluice_clock_ms();
    int log;
    long delay = sluice_nospace_note(&u->nospace, now, &log);

    if (log && u->nospace.failures == 1)
        SLOG(s, SLUICE_LOG_ERROR, "stage '%s' stopped: no space left for the state store in "
             "%s; not counted as a crash: retrying in %.0f s, then at most every %.0f s, "
             "until there is space", u->label, s->def->state_dir, (double)delay / 1000.0,
             (double)SLUICE_NOSPACE_DELAY_CAP_MS / 1000.0);
    else if (log)
        SLOG(s, SLUICE_LOG_ERROR, "stage '%s': still no space left for the state store in "
             "%s after %u attempts in %.0f s; retrying every %.0f s", u->label,
             s->def->state_dir, u->nospace.failures,
             (double)(now - u->nospace.since_ms) / 1000.0, (double)delay / 1000.0);
    u->restart_at = now + delay;
}

/* Units that exited on a full disk and have now run for a while: the
 * disk has space again; say so once. */
void sup_note_space_back(pipeline_sup *s)
{
    int64_t now = sluice_clock_ms();

    for (size_t i = 0; i < s->unit_count; i++) {
        unit *u = &s->units[i];
        if (!u->nospace.failures || u->pid <= 0 ||
            now - u->started_ms < SUP_SPACE_BACK_MS)
            continue;
        SLOG(s, SLUICE_LOG_INFO, "stage '%s' runs again: the state store had no space for "
             "%.0f s (%u attempts)", u->label,
             (double)(u->started_ms - u->nospace.since_ms) / 1000.0, u->nospace.failures);
        u->nospace.failures = 0;
    }
}

/* React to the end of unit `u`'s process. */
void sup_unit_ended(pipeline_sup *s, unit *u, int status)
{
    const sluice_pipeline_def *def = s->def;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    char how[64];
    size_t crashes;
    long delay;

    u->pid = 0;
    sup_write_pid_files(s->def, u->stages, u->count, u->instance, 0);
    describe_status(status, how, sizeof(how));
    snprintf(u->last_exit, sizeof(u->last_exit), "%s", how);
    s->changes++;
    if (s->phase == PHASE_STOPPING) {
        SLOG(s, SLUICE_LOG_DEBUG, "stage '%s' %s", u->label, how);
        return;
    }
    if (code == SLUICE_STAGE_EXIT_FATAL) {
        SLOG(s, SLUICE_LOG_ERROR, "pipeline stopped: stage '%s' failed fatally", u->label);
        s->outcome = SLUICE_EXIT_FATAL;
        sup_begin_stopping(s, SUP_FATAL_GRACE_MS, 1);
        return;
    }
    if (s->phase == PHASE_DRAINING && u->holds_source) {
        /* a stopping source is not restarted: what it held is replayed */
        if (code != 0)
            SLOG(s, SLUICE_LOG_WARN, "stage '%s' %s while draining", u->label, how);
        sup_begin_stopping(s, SUP_STOP_GRACE_MS, 0);
        return;
    }
    if (code == SLUICE_STAGE_EXIT_NOSPACE) {
        unit_out_of_space(s, u);
        return;
    }
    u->nospace.failures = 0;
    if (code == 0 && u->holds_source) {
        /* --once finished, or a graceful stop drained */
        SLOG(s, SLUICE_LOG_DEBUG, "source finished; stopping the other stages");
        sup_begin_stopping(s, SUP_STOP_GRACE_MS, 0);
        return;
    }
    if (code == 0)
        snprintf(how, sizeof(how), "exited while the pipeline was running");
    crashes = sluice_crash_note(&u->crashes, sluice_clock_ms(), (int64_t)def->restart_window_s * 1000);
    if ((long)crashes > (long)def->restart_max) {
        SLOG(s, SLUICE_LOG_ERROR, "giving up: stage '%s' %s, crash %zu in %ld s exceeds "
             "restart.max = %d", u->label, how, crashes, def->restart_window_s,
             def->restart_max);
        s->outcome = SLUICE_EXIT_FAILED;
        sup_begin_stopping(s, SUP_FATAL_GRACE_MS, 1);
        return;
    }
    delay = sluice_restart_delay_ms(def->restart_backoff_ms, crashes);
    SLOG(s, SLUICE_LOG_WARN, "stage '%s' %s, restarting in %ld ms (crash %zu of %d in %ld s)",
         u->label, how, delay, crashes, def->restart_max, def->restart_window_s);
    u->restart_at = sluice_clock_ms() + delay;
    if (u->restart_at == 0)
        u->restart_at = 1;
}
