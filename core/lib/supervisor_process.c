/* supervisor_process.c: what makes a forked child a stage process
 * (signal handlers setting the runners' flags, allocator policy, dying
 * with its parent), the synchronous signal wait of the supervisors, the
 * files under a pipeline's run directory (state and runtime dirs, one pid
 * file per stage), and `sluice run --stage` (one stage in the foreground). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "log.h"
#include "stage.h"
#include "supervisor.h"
#include "supervisor_internal.h"
#include "util/clock.h"
#include "util/private_dir.h"
#include "util/proctitle.h"

static volatile sig_atomic_t child_term;
static volatile sig_atomic_t child_rewind;
static volatile sig_atomic_t child_hard;

/* SIGTERM/SIGINT in a stage process: stop (after draining). */
static void on_child_term(int signo)
{
    (void)signo;
    child_term = 1;
}

/* SIGUSR1 in a stage process: the source rewinds to its checkpoint. */
static void on_child_rewind(int signo)
{
    (void)signo;
    child_rewind = 1;
}

/* SIGUSR2 in a stage process: stop without draining. */
static void on_child_hard(int signo)
{
    (void)signo;
    child_term = 1;
    child_hard = 1;
}

/* The signals the supervisor and the top process take synchronously. */
void sup_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* In a stage process: handlers that set the flags the runners read, and
 * every signal unblocked again. */
void sup_install_stage_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_child_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child_rewind;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_child_hard;
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The flags the handlers of sup_install_stage_signals() set, as the stage
 * runners read them. */
sluice_unit_signals sup_unit_signals(void)
{
    sluice_unit_signals signals = {.term = &child_term, .rewind = &child_rewind,
                                   .hard = &child_hard};

    return signals;
}

/* Allocator policy of a stage process. Stages free thousands of small
 * jansson nodes per batch and then allocate a large wire frame, which makes
 * glibc consolidate its fastbins on every batch; without fastbins (the
 * per-thread tcache still serves small sizes) that work disappears, about
 * 10% of a stage's CPU. */
void sup_tune_allocator(void)
{
#ifdef M_MXFAST
    mallopt(M_MXFAST, 0);
#endif
}

/* Ask the kernel to send `signo` when our parent dies, and leave at once
 * if it already died. */
void sup_follow_parent(int signo, pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, signo);
#endif
    if (getppid() != parent)
        _exit(signo == SIGKILL ? 1 : 0);
}

/* Wait up to `ms` for one of the supervised signals (`ms` < 0: until one
 * comes, with no timer at all). Returns the signal, or 0 on timeout. */
int sup_wait_signal(long ms)
{
    sigset_t set;
    struct timespec ts;
    int signo;

    sup_signal_set(&set);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    do {
        signo = ms < 0 ? sigwaitinfo(&set, NULL) : sigtimedwait(&set, NULL, &ts);
    } while (signo < 0 && errno == EINTR);
    return signo < 0 ? 0 : signo;
}

int sluice_run_prepare(sluice_pipeline_def *const *defs, size_t n, char *errbuf,
                       size_t errlen)
{
    for (size_t p = 0; p < n; p++) {
        const sluice_pipeline_def *def = defs[p];
        struct sockaddr_un addr;

        if (sluice_make_private_dirs(def->state_dir) != 0) {
            snprintf(errbuf, errlen, "%s: cannot create state_dir %s: %s", def->file,
                     def->state_dir, strerror(errno));
            return -1;
        }
        if (sluice_make_private_dirs(def->runtime_dir) != 0) {
            snprintf(errbuf, errlen, "%s: cannot create runtime_dir %s: %s", def->file,
                     def->runtime_dir, strerror(errno));
            return -1;
        }
        for (size_t i = 1; i < def->stage_count; i++) {
            char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
            /* the last instance has the longest name */
            unsigned last = sluice_stage_last_instance(&def->stages[i]);

            if (sluice_stage_endpoints(def, i, last, 0, data, sizeof(data), ack, sizeof(ack),
                                       err, sizeof(err)) != 0) {
                snprintf(errbuf, errlen, "%s: %s", def->file, err);
                return -1;
            }
            if (strncmp(ack, "ipc://", 6) == 0 && strlen(ack) - 6 >= sizeof(addr.sun_path)) {
                snprintf(errbuf, errlen, "%s: stage '%s': ipc socket path %s is longer than "
                         "the %zu bytes the OS allows; set a shorter runtime_dir",
                         def->file, def->stages[i].name, ack + 6,
                         sizeof(addr.sun_path) - 1);
                return -1;
            }
        }
    }
    return 0;
}

/* Write (pid > 0) or remove (pid == 0) <runtime_dir>/<label>.pid for each
 * stage of a unit (label: the stage name, "#k" added for instance k), so
 * operators and tests can find a stage's process. */
void sup_write_pid_files(const sluice_pipeline_def *def, const size_t *stages, size_t n,
                            unsigned instance, pid_t pid)
{
    for (size_t i = 0; i < n; i++) {
        char label[SLUICE_ENDPOINT_MAX], path[SLUICE_ENDPOINT_MAX];
        FILE *f;

        if (sluice_stage_label(def, stages[i], instance, label, sizeof(label)) != 0 ||
            snprintf(path, sizeof(path), "%s/%s.pid", def->runtime_dir, label) >=
                (int)sizeof(path))
            continue;
        if (pid == 0) {
            unlink(path);
            continue;
        }
        f = fopen(path, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)pid);
            fclose(f);
        }
    }
}

int sluice_run_stage(const sluice_pipeline_def *def, const char *stage, int once)
{
    sluice_unit_signals signals = sup_unit_signals();

    for (size_t i = 0; i < def->stage_count; i++) {
        if (strcmp(def->stages[i].name, stage) == 0) {
            int code;
            if (def->stages[i].common.instances > 1) {
                sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR, "%s: stage '%s' runs as %d "
                                 "instances, which only `sluice run` starts", def->file, stage,
                                 def->stages[i].common.instances);
                return SLUICE_STAGE_EXIT_FATAL;
            }
            sup_install_stage_signals();
            sup_tune_allocator();
            sluice_log_set_origin(def->name, stage);
            sluice_proctitle_set("sluice: %s/%s", def->name, stage);
            sup_write_pid_files(def, &i, 1, 0, getpid());
            code = sluice_unit_run(def, &i, 1, 0, once, &signals);
            sup_write_pid_files(def, &i, 1, 0, 0);
            return code;
        }
    }
    sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR, "%s: no stage named '%s'", def->file,
                     stage);
    return SLUICE_STAGE_EXIT_ERROR;
}

void sup_publish_status(const pipeline_sup *s, int finished)
{
    static const char *const phases[] = {"running", "draining", "stopping"};
    char path[SLUICE_ENDPOINT_MAX], tmp[SLUICE_ENDPOINT_MAX + 8], error[400];
    double wall = sluice_wall_seconds(), error_at = sluice_log_last_error(error, sizeof(error));
    int64_t now = sluice_clock_ms();
    json_t *units = json_array();
    json_t *doc = NULL;

    if (!units || snprintf(path, sizeof(path), "%s/%s", s->def->runtime_dir,
                           SUP_STATUS_FILE) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        goto out;
    for (size_t i = 0; i < s->unit_count; i++) {
        const unit *u = &s->units[i];
        json_t *crashes = json_array();
        json_t *stages = json_array();

        for (size_t c = 0; crashes && c < u->crashes.count; c++) {
            int64_t t = u->crashes.times_ms[(u->crashes.start + c) % SLUICE_CRASH_LOG_MAX];
            json_array_append_new(crashes, json_real(wall - (double)(now - t) / 1000.0));
        }
        for (size_t k = 0; stages && k < u->count; k++)
            json_array_append_new(stages, json_string(s->def->stages[u->stages[k]].name));
        json_array_append_new(units, json_pack("{s:s, s:o*, s:I, s:I, s:b, s:o*, s:s}",
                                               "label", u->label, "stages", stages,
                                               "pid", (json_int_t)u->pid,
                                               "restarts", (json_int_t)u->restarts,
                                               "restarting", u->restart_at != 0,
                                               "crashes", crashes, "last_exit", u->last_exit));
    }
    doc = json_pack("{s:I, s:s, s:b, s:i, s:f, s:I, s:o}", "pid", (json_int_t)getpid(),
                    "phase", finished ? "stopped" : phases[s->phase], "finished", finished,
                    "outcome", s->outcome, "updated", wall, "dlq_at_start",
                    (json_int_t)s->dlq_at_start, "units", units);
    units = NULL;
    if (!doc)
        goto out;
    if (error_at > 0)
        json_object_set_new(doc, "last_error", json_pack("{s:f, s:s}", "at", error_at,
                                                         "message", error));
    if (json_dump_file(doc, tmp, JSON_COMPACT) == 0 && rename(tmp, path) != 0)
        unlink(tmp);
out:
    json_decref(units);
    json_decref(doc);
}
