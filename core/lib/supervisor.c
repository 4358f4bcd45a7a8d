/* supervisor.c: `sluice run` process management: a supervisor process per
 * pipeline forks one child per placement unit, restarts crashed children
 * with backoff (asking the source to rewind), stops gracefully on
 * SIGTERM/SIGINT and prints the --once summary. Signals are taken
 * synchronously with sigtimedwait(), so no handler races the bookkeeping. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <jansson.h>

#include "admin.h"
#include "log.h"
#include "stage.h"
#include "store.h"
#include "supervisor.h"
#include "util/clock.h"
#include "util/private_dir.h"

/* Stop phases allow this long beyond the source's own drain bound. */
#define STOP_GRACE_MS 5000L
/* After a fatal stage, the others get this long to leave. */
#define FATAL_GRACE_MS 3000L
/* The supervisor wakes at least this often. */
#define TICK_MS 1000L

/* ------------------------------------------------------------------ */
/* Unit-tested helpers.                                               */
/* ------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------ */
/* Process plumbing.                                                  */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t child_term;
static volatile sig_atomic_t child_rewind;
static volatile sig_atomic_t child_hard;

static void on_child_term(int signo)
{
    (void)signo;
    child_term = 1;
}

static void on_child_rewind(int signo)
{
    (void)signo;
    child_rewind = 1;
}

static void on_child_hard(int signo)
{
    (void)signo;
    child_term = 1;
    child_hard = 1;
}

/* The signals the supervisor and the top process take synchronously. */
static void supervised_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* In a stage process: handlers that set the flags the runners read, and
 * every signal unblocked again. */
static void install_stage_signals(void)
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

/* Allocator policy of a stage process. Stages free thousands of small
 * jansson nodes per batch and then allocate a large wire frame, which makes
 * glibc consolidate its fastbins on every batch; without fastbins (the
 * per-thread tcache still serves small sizes) that work disappears, about
 * 10% of a stage's CPU. */
static void tune_allocator(void)
{
#ifdef M_MXFAST
    mallopt(M_MXFAST, 0);
#endif
}

/* Ask the kernel to send `signo` when our parent dies, and leave at once
 * if it already died. */
static void follow_parent(int signo, pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, signo);
#endif
    if (getppid() != parent)
        _exit(signo == SIGKILL ? 1 : 0);
}

/* Wait up to `ms` for one of the supervised signals. Returns the signal,
 * or 0 on timeout. */
static int wait_signal(long ms)
{
    sigset_t set;
    struct timespec ts;
    int signo;

    supervised_signals(&set);
    if (ms < 0)
        ms = 0;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    do {
        signo = sigtimedwait(&set, NULL, &ts);
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

/* ------------------------------------------------------------------ */
/* One pipeline.                                                      */
/* ------------------------------------------------------------------ */

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

/* Write (pid > 0) or remove (pid == 0) <runtime_dir>/<label>.pid for each
 * stage of a unit (label: the stage name, "#k" added for instance k), so
 * operators and tests can find a stage's process. */
static void write_pid_files(const sluice_pipeline_def *def, const size_t *stages, size_t n,
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
        sluice_unit_signals signals = {.term = &child_term, .rewind = &child_rewind, .hard = &child_hard};
        int code;

        install_stage_signals();
        follow_parent(SIGKILL, parent);
        tune_allocator();
        sluice_log_set_origin(s->def->name, u->label);
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
    write_pid_files(s->def, u->stages, u->count, u->instance, pid);
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
static void begin_stopping(pipeline_sup *s, long grace_ms, int failed)
{
    s->phase = PHASE_STOPPING;
    s->changes++;
    s->deadline = sluice_clock_ms() + grace_ms;
    for (size_t i = 0; i < s->unit_count; i++)
        s->units[i].restart_at = 0;
    signal_units(s, failed ? SIGUSR2 : SIGTERM, NULL);
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
static void note_space_back(pipeline_sup *s)
{
    int64_t now = sluice_clock_ms();

    for (size_t i = 0; i < s->unit_count; i++) {
        unit *u = &s->units[i];
        if (!u->nospace.failures || u->pid <= 0 ||
            now - u->started_ms < SLUICE_NOSPACE_DELAY_MS * 5)
            continue;
        SLOG(s, SLUICE_LOG_INFO, "stage '%s' runs again: the state store had no space for "
             "%.0f s (%u attempts)", u->label,
             (double)(u->started_ms - u->nospace.since_ms) / 1000.0, u->nospace.failures);
        u->nospace.failures = 0;
    }
}

/* React to the end of unit `u`'s process. */
static void unit_ended(pipeline_sup *s, unit *u, int status)
{
    const sluice_pipeline_def *def = s->def;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    char how[64];
    size_t crashes;
    long delay;

    u->pid = 0;
    write_pid_files(s->def, u->stages, u->count, u->instance, 0);
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
        begin_stopping(s, FATAL_GRACE_MS, 1);
        return;
    }
    if (s->phase == PHASE_DRAINING && u->holds_source) {
        /* a stopping source is not restarted: what it held is replayed */
        if (code != 0)
            SLOG(s, SLUICE_LOG_WARN, "stage '%s' %s while draining", u->label, how);
        begin_stopping(s, STOP_GRACE_MS, 0);
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
        begin_stopping(s, STOP_GRACE_MS, 0);
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
        begin_stopping(s, FATAL_GRACE_MS, 1);
        return;
    }
    delay = sluice_restart_delay_ms(def->restart_backoff_ms, crashes);
    SLOG(s, SLUICE_LOG_WARN, "stage '%s' %s, restarting in %ld ms (crash %zu of %d in %ld s)",
         u->label, how, delay, crashes, def->restart_max, def->restart_window_s);
    u->restart_at = sluice_clock_ms() + delay;
    if (u->restart_at == 0)
        u->restart_at = 1;
}

/* A struct timeval as seconds. */
static double seconds_of(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
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
                s->units[i].cpu_s += seconds_of(&usage.ru_utime) + seconds_of(&usage.ru_stime);
                unit_ended(s, &s->units[i], status);
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
            begin_stopping(s, FATAL_GRACE_MS, 1);
            return;
        }
        if (!u->holds_source && src && src->pid > 0)
            kill(src->pid, SIGUSR1);
    }
}

/* Milliseconds until the next restart or deadline, at most TICK_MS. */
static long next_wakeup(const pipeline_sup *s)
{
    int64_t now = sluice_clock_ms();
    int64_t wake = now + TICK_MS;

    for (size_t i = 0; i < s->unit_count; i++) {
        if (s->units[i].restart_at && s->units[i].restart_at < wake)
            wake = s->units[i].restart_at;
    }
    if (s->deadline && s->deadline < wake)
        wake = s->deadline;
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

/* Peak RSS of the pipeline in MB: the supervisor's own plus each unit's
 * largest (from wait4's rusage). Processes rarely peak at the same moment,
 * so this sum is an upper bound of what the pipeline held at once; it costs
 * nothing to measure (no sampling). */
static double peak_rss_mb(const pipeline_sup *s)
{
    struct rusage self;
    long kb = 0;

    if (getrusage(RUSAGE_SELF, &self) == 0)
        kb += self.ru_maxrss;
    for (size_t i = 0; i < s->unit_count; i++)
        kb += s->units[i].peak_rss_kb;
    return (double)kb / 1024.0;
}

/* Print the --once summary's second line: the CPU each unit's processes
 * used (user+sys, every restart included), then the supervisor's own, so
 * the stage that bounds a pipeline's throughput shows: a unit is one
 * process, and no number of cores runs it faster than its CPU time. */
static void print_cpu_by_unit(const pipeline_sup *s)
{
    struct rusage self;
    double own = 0;

    if (getrusage(RUSAGE_SELF, &self) == 0)
        own = seconds_of(&self.ru_utime) + seconds_of(&self.ru_stime);
    printf("pipeline %s: CPU", s->def->name);
    for (size_t i = 0; i < s->unit_count; i++)
        printf(" %s %.2fs,", s->units[i].label, s->units[i].cpu_s);
    printf(" supervisor %.2fs\n", own);
}

/* Counts for the --once summary, read from the stage statistics files. */
typedef struct run_counts {
    double records_in, delivered, events;
} run_counts;

/* The statistics file of stage `index`'s instance `instance` (0: a stage
 * run as one process) in `path`. Returns 0 or -1 if it does not fit. */
static int stats_file(const sluice_pipeline_def *def, size_t index, unsigned instance,
                      char *path, size_t len)
{
    char label[SLUICE_ENDPOINT_MAX];

    if (sluice_stage_label(def, index, instance, label, sizeof(label)) != 0)
        return -1;
    return sluice_stage_stats_path(def, label, path, len);
}

static void read_counts(const sluice_pipeline_def *def, run_counts *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];

        for (unsigned k = sluice_stage_first_instance(stage);
             k <= sluice_stage_last_instance(stage); k++) {
            char path[SLUICE_ENDPOINT_MAX];
            json_t *doc;

            if (stats_file(def, i, k, path, sizeof(path)) != 0)
                continue;
            doc = json_load_file(path, 0, NULL);
            if (!doc)
                continue;
            if (i == 0)
                c->records_in = json_number_value(json_object_get(doc, "records_in"));
            if (i + 1 == def->stage_count)
                c->delivered = json_number_value(json_object_get(doc, "delivered"));
            c->events += json_number_value(json_object_get(doc, "events_derived"));
            json_decref(doc);
        }
    }
}

/* Remove the statistics files of a previous run. */
static void clear_counts(const sluice_pipeline_def *def)
{
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];

        for (unsigned k = sluice_stage_first_instance(stage);
             k <= sluice_stage_last_instance(stage); k++) {
            char path[SLUICE_ENDPOINT_MAX];
            if (stats_file(def, i, k, path, sizeof(path)) == 0)
                unlink(path);
        }
    }
}

/* Number of DLQ entries, or -1 if the store cannot be read (logged
 * unless `quiet`). */
static int64_t dlq_count(const sluice_pipeline_def *def, int quiet)
{
    char err[512] = "";
    sluice_store *store = sluice_store_open(def->state_dir, err, sizeof(err));
    int64_t count;

    if (!store) {
        if (!quiet)
            sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR,
                             "cannot open the state store: %s", err);
        return -1;
    }
    count = sluice_store_dlq_count(store);
    sluice_store_close(&store);
    return count;
}

/* Number of DLQ entries before the run, waiting while the state store's
 * disk is full (as for a stage: logged at error once per interval, not
 * given up on). Returns the count, or -1 after another store error
 * (logged) or a stop signal (*stop_signal set). */
static int64_t dlq_count_when_space(const sluice_pipeline_def *def, int *stop_signal)
{
    sluice_nospace_wait wait;
    int64_t count;

    memset(&wait, 0, sizeof(wait));
    *stop_signal = 0;
    while ((count = dlq_count(def, wait.failures > 0)) < 0 && sluice_store_out_of_space()) {
        int log;
        int signo;
        long delay = sluice_nospace_note(&wait, sluice_clock_ms(), &log);

        if (log)
            sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR, "cannot start: no space left "
                             "for the state store in %s; retrying every %.0f s at most until "
                             "there is space (attempt %u)", def->state_dir,
                             (double)SLUICE_NOSPACE_DELAY_CAP_MS / 1000.0, wait.failures);
        signo = wait_signal(delay);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            *stop_signal = signo;
            return -1;
        }
    }
    if (count >= 0 && wait.failures > 0)
        sluice_log_write(def->name, NULL, SLUICE_LOG_INFO, "the state store has space again "
                         "after %u attempts; starting", wait.failures);
    return count;
}

/* Write <runtime_dir>/supervisor.status (JSON, atomically): the phase,
 * each process with its pid, restarts and recent crashes (wall clock), the
 * outcome once decided, the supervisor's last error line, the DLQ size at
 * the start. The admin endpoint reads it (admin_gather.c); a failed write
 * only costs the admin endpoint its view. */
static void publish_status(const pipeline_sup *s, int finished)
{
    static const char *const phases[] = {"running", "draining", "stopping"};
    char path[SLUICE_ENDPOINT_MAX], tmp[SLUICE_ENDPOINT_MAX + 8], error[400];
    double wall = sluice_wall_seconds(), error_at = sluice_log_last_error(error, sizeof(error));
    int64_t now = sluice_clock_ms();
    json_t *units = json_array();
    json_t *doc = NULL;

    if (!units || snprintf(path, sizeof(path), "%s/supervisor.status", s->def->runtime_dir) >=
                      (int)sizeof(path) || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >=
                      (int)sizeof(tmp))
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

/* The supervisor of one pipeline, run in its own process. Returns the
 * pipeline's exit code. */
static int supervise(const sluice_pipeline_def *def, const sluice_run_options *opts)
{
    pipeline_sup s;
    int64_t started = sluice_clock_ms();
    int64_t dlq_before, dlq_after;
    int result;
    int stop_signal;
    unsigned published;

    sluice_log_set_origin(def->name, NULL);
    memset(&s, 0, sizeof(s));
    s.def = def;
    s.opts = opts;
    s.outcome = 0;
    clear_counts(def);
    dlq_before = dlq_count_when_space(def, &stop_signal); /* before any fork */
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
            begin_stopping(&s, FATAL_GRACE_MS, 1);
            break;
        }
    }
    published = s.changes - 1;
    while (units_alive(&s)) {
        int signo;

        if (s.changes != published) {
            publish_status(&s, 0);
            published = s.changes;
        }
        signo = wait_signal(next_wakeup(&s));

        if (signo == SIGCHLD)
            reap_children(&s);
        if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP) {
            unit *src = source_unit(&s);
            if (s.phase == PHASE_RUNNING && src && src->pid > 0) {
                SLOG(&s, SLUICE_LOG_INFO, "stopping: letting in-flight batches drain");
                s.phase = PHASE_DRAINING;
                s.deadline = sluice_clock_ms() + SLUICE_DRAIN_TIMEOUT_MS + STOP_GRACE_MS;
                kill(src->pid, SIGTERM);
            } else if (s.phase == PHASE_RUNNING) {
                begin_stopping(&s, STOP_GRACE_MS, 0);
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
                begin_stopping(&s, STOP_GRACE_MS, 0);
            } else {
                signal_units(&s, SIGKILL, NULL);
                s.deadline = 0;
            }
        }
        if (s.phase != PHASE_STOPPING) {
            restart_due(&s);
            note_space_back(&s);
        }
    }
    result = s.outcome;
    publish_status(&s, 1);
    if (opts->once) {
        run_counts c;
        dlq_after = dlq_count(def, 0);
        read_counts(def, &c);
        printf("pipeline %s: %.0f records in, %.0f delivered, %lld rejected, %.0f events "
               "derived, elapsed %.2fs, peak RSS %.1f MB\n", def->name, c.records_in,
               c.delivered, (long long)(dlq_after >= dlq_before ? dlq_after - dlq_before : 0),
               c.events, (double)(sluice_clock_ms() - started) / 1000.0, peak_rss_mb(&s));
        print_cpu_by_unit(&s);
        fflush(stdout);
        if (result == 0 && dlq_after != dlq_before)
            result = SLUICE_EXIT_REJECTED;
    }
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

    if (!pids || !codes || (opts->admin && !view)) {
        sluice_admin_view_free(&view);
        free(pids);
        free(codes);
        sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "out of memory");
        return SLUICE_EXIT_FAILED;
    }
    supervised_signals(&set);
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
            follow_parent(SIGTERM, self);
            sluice_admin_forget_in_child(opts->admin);
            free(pids); /* the parent's bookkeeping: not this child's */
            free(codes);
            code = supervise(defs[p], opts);
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
        int signo = wait_signal(TICK_MS);
        pid_t pid;
        int status;

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
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(pids);
    free(codes);
    sluice_admin_stop(opts->admin); /* its list reads the view */
    sluice_admin_view_free(&view);
    return result;
}

int sluice_run_stage(const sluice_pipeline_def *def, const char *stage, int once)
{
    sluice_unit_signals signals = {.term = &child_term, .rewind = &child_rewind, .hard = &child_hard};

    for (size_t i = 0; i < def->stage_count; i++) {
        if (strcmp(def->stages[i].name, stage) == 0) {
            int code;
            if (def->stages[i].common.instances > 1) {
                sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR, "%s: stage '%s' runs as %d "
                                 "instances, which only `sluice run` starts", def->file, stage,
                                 def->stages[i].common.instances);
                return SLUICE_STAGE_EXIT_FATAL;
            }
            install_stage_signals();
            tune_allocator();
            sluice_log_set_origin(def->name, stage);
            write_pid_files(def, &i, 1, 0, getpid());
            code = sluice_unit_run(def, &i, 1, 0, once, &signals);
            write_pid_files(def, &i, 1, 0, 0);
            return code;
        }
    }
    sluice_log_write(def->name, NULL, SLUICE_LOG_ERROR, "%s: no stage named '%s'", def->file,
                     stage);
    return SLUICE_STAGE_EXIT_ERROR;
}
