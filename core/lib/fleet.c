/* fleet.c: `sluice run --dir DIR` (fleet.h): every *.cfg of DIR is a
 * pipeline with its own supervisor process (process group); SIGHUP
 * re-reads DIR and starts, drains, restarts only what changed. A file's
 * version is its canonical text: sluice_pipeline_print's output (every
 * include and ${VAR} resolved; its FILE:LINE comments left out, so moving
 * lines changes nothing) followed by its secrets' values, kept in memory
 * only. Signals are taken synchronously (sigtimedwait), as in the
 * supervisors. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "admin.h"
#include "config_check.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "log.h"
#include "pipeline.h"
#include "run_lock.h"
#include "stage.h"
#include "supervisor_internal.h"
#include "util/private_dir.h"

/* How often the fleet wakes while a pipeline waits for its lock (the
 * previous version's last processes leaving); otherwise it sleeps until
 * a signal. */
#define WAIT_LOCK_MS 200L
#define IDLE_MS 60000L

typedef struct entry {
    char *file;                 /* path in the directory (owned) */
    sluice_pipeline_def *def;   /* the version running, or to start (owned) */
    char *canon;                /* its canonical text (owned) */
    sluice_pipeline_def *next;  /* a changed version waiting for `def` to drain */
    char *next_canon;
    sluice_fleet_state state;
    pid_t pid;                  /* its supervisor (0: none) */
    int lock_fd;                /* its pipeline lock (-1: not held) */
    int removed;                /* its file is gone: dropped once drained */
    unsigned reloads;
    int64_t started_at_ms;
    char error[1024];
    int refused_reload;
    int exit_code;              /* of its last supervisor; -1 while one runs */
} entry;

typedef struct fleet {
    const sluice_fleet_options *opts;
    sluice_registry *reg;
    entry **entries;
    size_t count, cap;
    int pid_fd;                 /* the locked pid file */
    int stopping;
    unsigned reloads, last_refused;
    int64_t last_reload_at_ms;
    int result;                 /* first non-zero exit of a pipeline */
} fleet;

/* Wall clock in ms since the epoch. */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The canonical text of `def` (see the file comment), or NULL when out of
 * memory. Caller frees. */
static char *canonical_text(const sluice_pipeline_def *def)
{
    char *printed = NULL, *result = NULL, *line, *end;
    size_t printed_len = 0, result_len = 0;
    FILE *in = open_memstream(&printed, &printed_len);
    FILE *out = NULL;

    if (!in)
        goto out;
    if (sluice_pipeline_print(def, in) != 0) {
        fclose(in);
        goto out;
    }
    fclose(in);
    out = open_memstream(&result, &result_len);
    if (!out)
        goto out;
    for (line = printed; *line; line = *end ? end + 1 : end) {
        const char *text = line + strspn(line, " ");

        end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if (*text == '#')
            continue;            /* "# FILE, resolved by sluice" */
        if (strncmp(text, "{   # ", 6) == 0)
            fputs("{\n", out);   /* "{   # FILE:LINE" of a stage */
        else
            fprintf(out, "%.*s\n", (int)(end - line), line);
    }
    for (size_t i = 0; i < def->stage_count; i++) {
        char *secrets = json_dumps(def->stages[i].secret_values, JSON_COMPACT);

        if (secrets)
            fprintf(out, "secrets %zu %s\n", i, secrets);
        free(secrets);
    }
    if (fclose(out) != 0) {
        free(result);
        result = NULL;
    }
out:
    free(printed);
    return result;
}

/* Load the pipeline in `path` (its plugins loaded into the registry
 * first). Returns 0 with *def and *canon set (caller owns both), or -1
 * with the error (FILE:LINE: ...) in err. */
static int load_file(fleet *f, const char *path, sluice_pipeline_def **def, char **canon,
                     sluice_error *err)
{
    int result = -1;

    *def = NULL;
    *canon = NULL;
    if (sluice_pipeline_require_plugins(path, f->reg, err) != 0 ||
        sluice_pipeline_load(path, f->reg, def, err) != 0)
        goto out;
    *canon = canonical_text(*def);
    if (!*canon) {
        snprintf(err->text, sizeof(err->text), "%s: out of memory", path);
        sluice_pipeline_free(def);
        goto out;
    }
    result = 0;
out:
    return result;
}

/* The pipeline name an entry goes by: its definition's, or its file's. */
static const char *entry_name(const entry *e)
{
    const char *slash;

    if (e->def)
        return e->def->name;
    slash = strrchr(e->file, '/');
    return slash ? slash + 1 : e->file;
}

/* Free an entry and everything it owns (its lock released). */
static void entry_free(entry *e)
{
    sluice_pipeline_unlock(&e->lock_fd);
    sluice_pipeline_free(&e->def);
    sluice_pipeline_free(&e->next);
    free(e->canon);
    free(e->next_canon);
    free(e->file);
    free(e);
}

/* Publish the entries for sluice_fleet_snapshot_get() (nothing on out of
 * memory: the previous table stays). */
static void publish(const fleet *f)
{
    fleet_published *items = calloc(f->count ? f->count : 1, sizeof(*items));

    if (!items)
        return;
    for (size_t i = 0; i < f->count; i++) {
        const entry *e = f->entries[i];
        sluice_fleet_pipeline *p = &items[i].info;

        snprintf(p->name, sizeof(p->name), "%s", entry_name(e));
        snprintf(p->file, sizeof(p->file), "%s", e->file);
        p->state = e->state;
        p->supervisor_pid = e->pid;
        snprintf(p->last_error, sizeof(p->last_error), "%s", e->error);
        p->refused_reload = e->refused_reload;
        p->reloads = e->reloads;
        p->started_at_ms = e->started_at_ms;
        p->exit_code = e->pid > 0 ? -1 : e->exit_code;
        if (!e->def)
            continue;
        snprintf(items[i].runtime_dir, sizeof(items[i].runtime_dir), "%s",
                 e->def->runtime_dir);
        if (e->pid <= 0)
            continue;
        for (size_t s = 0; s < e->def->stage_count; s++) {
            const sluice_stage_def *stage = &e->def->stages[s];

            for (unsigned k = sluice_stage_first_instance(stage);
                 k <= sluice_stage_last_instance(stage) &&
                 p->stage_count < SLUICE_FLEET_STAGE_PIDS_MAX; k++)
                sluice_stage_label(e->def, s, k, p->stages[p->stage_count++].label,
                                   sizeof(p->stages[0].label));
        }
    }
    fleet_state_publish(f->opts->dir, f->reloads, f->last_reload_at_ms, f->last_refused,
                        items, f->count);
}

/* Mark `e` failed for good with `text` as its error, logged at error;
 * its lock is released. */
static void entry_fail(entry *e, const char *text)
{
    e->state = SLUICE_FLEET_FAILED;
    snprintf(e->error, sizeof(e->error), "%s", text);
    sluice_pipeline_unlock(&e->lock_fd);
    sluice_log_write(entry_name(e), NULL, SLUICE_LOG_ERROR, "%s; the other pipelines run on",
                     text);
}

/* Start the supervisor of entry `e` (state STARTING): its directories,
 * its lock, then the fork. Returns 0 when started or still waiting for
 * its lock (held by its previous version's last processes), -1 when it
 * failed (entry_fail). */
static int entry_start(fleet *f, entry *e)
{
    char errbuf[1024];
    pid_t self = getpid(), pid, holder;
    int busy;

    if (sluice_run_prepare(&e->def, 1, errbuf, sizeof(errbuf)) != 0) {
        entry_fail(e, errbuf);
        return -1;
    }
    if (e->lock_fd < 0) {
        e->lock_fd = sluice_pipeline_lock(e->def, &busy, &holder, errbuf, sizeof(errbuf));
        /* held by the last processes of its previous version: wait */
        if (e->lock_fd < 0 && busy && holder == self)
            return 0;
        if (e->lock_fd < 0) {
            entry_fail(e, errbuf);
            return -1;
        }
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(errbuf, sizeof(errbuf), "cannot fork the supervisor: %s", strerror(errno));
        entry_fail(e, errbuf);
        return -1;
    }
    if (pid == 0) {
        int code;

        setpgid(0, 0);
        sup_follow_parent(SIGTERM, self);
        sluice_lock_keep_only(e->lock_fd);
        sluice_admin_forget_in_child(f->opts->run.admin);
        close(f->pid_fd);
        code = sup_supervise(e->def, &f->opts->run);
        fflush(NULL);
        _exit(code);
    }
    setpgid(pid, pid);
    e->pid = pid;
    e->state = SLUICE_FLEET_RUNNING;
    e->started_at_ms = wall_ms();
    return 0;
}

/* The entry of `path`, or NULL. */
static entry *find_entry(const fleet *f, const char *path)
{
    for (size_t i = 0; i < f->count; i++) {
        if (strcmp(f->entries[i]->file, path) == 0)
            return f->entries[i];
    }
    return NULL;
}

/* A reason another entry than `self` makes `def` impossible (the same
 * pipeline name, or the same state_dir), in errbuf; 0 if none, else -1. */
static int clash(const fleet *f, const entry *self, const sluice_pipeline_def *def,
                 char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < f->count; i++) {
        const entry *other = f->entries[i];
        const sluice_pipeline_def *o = other->next ? other->next : other->def;

        if (other == self || !o || other->removed)
            continue;
        if (strcmp(o->name, def->name) == 0) {
            snprintf(errbuf, errlen, "%s: pipeline name '%s' is already used by %s",
                     def->file, def->name, other->file);
            return -1;
        }
        if (strcmp(o->state_dir, def->state_dir) == 0) {
            snprintf(errbuf, errlen, "%s: state_dir %s is already used by pipeline '%s' (%s)",
                     def->file, def->state_dir, o->name, other->file);
            return -1;
        }
    }
    return 0;
}

/* Ask the supervisor of `e` to drain and stop (SIGTERM), once: a second
 * SIGTERM would make it kill its stages without draining. */
static void entry_drain(entry *e)
{
    if (e->pid > 0 && e->state != SLUICE_FLEET_DRAINING)
        kill(e->pid, SIGTERM);
    e->state = SLUICE_FLEET_DRAINING;
}

/* One file found by a scan: load it and decide (start, keep, drain to
 * restart, refuse). `reload` is 0 for the first scan. Returns 1 if the
 * file was refused, else 0; -1 when out of memory. */
static int scan_file(fleet *f, const char *path, int reload)
{
    entry *e = find_entry(f, path);
    sluice_pipeline_def *def = NULL;
    char *canon = NULL;
    sluice_error err;
    int loaded = load_file(f, path, &def, &canon, &err) == 0;

    if (loaded && clash(f, e, def, err.text, sizeof(err.text)) != 0) {
        loaded = 0;
        sluice_pipeline_free(&def);
        free(canon);
        canon = NULL;
    }
    if (!e) {
        entry **grown = f->entries;

        if (f->count == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            grown = realloc(f->entries, f->cap * sizeof(*grown));
        }
        e = calloc(1, sizeof(*e));
        if (!grown || !e || !(e->file = strdup(path))) {
            free(e);
            sluice_pipeline_free(&def);
            free(canon);
            return -1;
        }
        f->entries = grown;
        f->entries[f->count++] = e;
        e->lock_fd = -1;
        e->exit_code = -1;
        e->state = SLUICE_FLEET_REFUSED;
        if (reload && loaded)
            sluice_log_write(def->name, NULL, SLUICE_LOG_INFO, "reload: new file %s: starting",
                             path);
    }
    if (!loaded) {
        int runs = e->state == SLUICE_FLEET_RUNNING || e->state == SLUICE_FLEET_DRAINING ||
                   e->state == SLUICE_FLEET_STARTING;

        snprintf(e->error, sizeof(e->error), "%s", err.text);
        e->refused_reload = runs;
        if (!runs)
            e->state = SLUICE_FLEET_REFUSED;
        sluice_log_write(e->def ? e->def->name : NULL, NULL, SLUICE_LOG_ERROR, "%s%s: %s",
                         reload ? "reload: " : "", runs ? "refused; the running version "
                         "keeps running" : "refused", err.text);
        return 1;
    }
    e->refused_reload = 0;
    if (e->state == SLUICE_FLEET_RUNNING || e->state == SLUICE_FLEET_DRAINING) {
        const char *current = e->next_canon ? e->next_canon : e->canon;

        /* removed, then back before it finished draining: restart it */
        if (!e->removed && strcmp(current, canon) == 0) {
            if (e->state == SLUICE_FLEET_RUNNING)
                e->error[0] = '\0';
            sluice_pipeline_free(&def);
            free(canon);
            return 0;
        }
        sluice_pipeline_free(&e->next);
        free(e->next_canon);
        e->next = def;
        e->next_canon = canon;
        e->removed = 0;
        sluice_log_write(def->name, NULL, SLUICE_LOG_INFO, "reload: %s changed: draining "
                         "and restarting with the new version", path);
        entry_drain(e);
        return 0;
    }
    /* not running (new, refused, failed, stopped, waiting to start): the
     * version read now is the one to start */
    if (reload)
        e->reloads++;
    if (e->state == SLUICE_FLEET_FAILED || e->state == SLUICE_FLEET_STOPPED)
        sluice_log_write(def->name, NULL, SLUICE_LOG_INFO, "reload: starting %s again", path);
    sluice_pipeline_free(&e->def);
    free(e->canon);
    e->def = def;
    e->canon = canon;
    e->error[0] = '\0';
    e->state = SLUICE_FLEET_STARTING;
    return 0;
}

/* Compare function for qsort of file names. */
static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the directory: every *.cfg (not hidden) is loaded and compared
 * with what runs (scan_file); entries whose file is gone drain and stop.
 * Returns 0, or -1 if the directory cannot be read (logged; nothing
 * changed). */
static int scan(fleet *f, int reload)
{
    DIR *dir = opendir(f->opts->dir);
    struct dirent *d;
    char **names = NULL;
    size_t n = 0, cap = 0;
    unsigned refused = 0;
    int result = -1;

    if (!dir) {
        sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "%scannot read the pipeline directory "
                         "%s: %s", reload ? "reload: " : "", f->opts->dir, strerror(errno));
        return -1;
    }
    while ((d = readdir(dir)) != NULL) {
        size_t len = strlen(d->d_name);
        char *path;

        if (d->d_name[0] == '.' || len < 5 || strcmp(d->d_name + len - 4, ".cfg") != 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
            if (!grown)
                goto out;
            names = grown;
        }
        if (asprintf(&path, "%s/%s", f->opts->dir, d->d_name) < 0)
            goto out;
        names[n++] = path;
    }
    qsort(names, n, sizeof(*names), by_name);
    /* removals first: a file renamed does not clash with its old name */
    for (size_t i = 0; i < f->count; i++) {
        entry *e = f->entries[i];

        if (e->removed || bsearch(&e->file, names, n, sizeof(*names), by_name))
            continue;
        e->removed = 1;
        sluice_log_write(entry_name(e), NULL, SLUICE_LOG_INFO, "reload: %s removed: %s",
                         e->file, e->pid > 0 ? "draining and stopping" : "forgotten");
        entry_drain(e);
    }
    for (size_t i = 0; i < n; i++) {
        int rc = scan_file(f, names[i], reload);
        if (rc < 0)
            goto out;
        refused += (unsigned)rc;
    }
    f->last_refused = refused;
    result = 0;
out:
    if (result != 0)
        sluice_log_write(NULL, NULL, SLUICE_LOG_ERROR, "reading %s: out of memory",
                         f->opts->dir);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dir);
    return result;
}

/* Why a supervisor's exit `code` ended its pipeline, in words. */
static const char *exit_meaning(int code)
{
    switch (code) {
    case SLUICE_EXIT_FAILED: return "it gave up (restart.max) or its state store failed";
    case SLUICE_EXIT_FATAL: return "a stage failed fatally";
    case SLUICE_EXIT_REJECTED: return "records were rejected";
    default: return code > 128 ? "killed" : "it failed";
    }
}

/* The supervisor `pid` ended with wait status `status`: drop, restart or
 * mark its entry. */
static void supervisor_ended(fleet *f, pid_t pid, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char text[1024];
    entry *e = NULL;

    for (size_t i = 0; i < f->count && !e; i++) {
        if (f->entries[i]->pid == pid)
            e = f->entries[i];
    }
    if (!e)
        return;
    e->pid = 0;
    e->exit_code = code;
    if (e->state == SLUICE_FLEET_DRAINING) {
        /* the lock is taken again at the next start (a new version may
         * name another state_dir); the last stage processes may still
         * hold it for a moment, which entry_start waits out */
        sluice_pipeline_unlock(&e->lock_fd);
        if (e->removed || f->stopping) {
            sluice_log_write(entry_name(e), NULL, SLUICE_LOG_INFO, "stopped (%s)",
                             e->removed ? "its file was removed" : "sluice is stopping");
            e->state = SLUICE_FLEET_STOPPED;
            if (code != 0 && f->result == 0 && !e->removed)
                f->result = code;
            return;
        }
        if (e->next) {
            sluice_pipeline_free(&e->def);
            free(e->canon);
            e->def = e->next;
            e->canon = e->next_canon;
            e->next = NULL;
            e->next_canon = NULL;
            e->reloads++;
        }
        e->state = SLUICE_FLEET_STARTING;
        return;
    }
    if (code == 0) {
        sluice_log_write(entry_name(e), NULL, SLUICE_LOG_INFO, "finished: its source ended");
        e->state = SLUICE_FLEET_STOPPED;
        sluice_pipeline_unlock(&e->lock_fd);
        return;
    }
    snprintf(text, sizeof(text), "pipeline stopped for good: exit %d, %s", code,
             exit_meaning(code));
    entry_fail(e, text);
    if (f->result == 0)
        f->result = code;
}

/* Reap every supervisor that ended. */
static void reap(fleet *f)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        supervisor_ended(f, pid, status);
}

/* Start what waits to start, drop what was removed and has stopped.
 * Returns 1 while an entry still waits for its lock, else 0. */
static int settle(fleet *f)
{
    int waiting = 0;
    size_t kept = 0;

    for (size_t i = 0; i < f->count; i++) {
        entry *e = f->entries[i];

        if (e->removed && e->pid <= 0) {
            entry_free(e);
            continue;
        }
        f->entries[kept++] = e;
        if (f->stopping || e->state != SLUICE_FLEET_STARTING || e->pid > 0)
            continue;
        if (entry_start(f, e) == 0 && e->state == SLUICE_FLEET_STARTING)
            waiting = 1;
    }
    f->count = kept;
    return waiting;
}

/* 1 while a supervisor runs. */
static int any_running(const fleet *f)
{
    for (size_t i = 0; i < f->count; i++) {
        if (f->entries[i]->pid > 0)
            return 1;
    }
    return 0;
}

/* Stop: every supervisor drains (first signal) or every process group is
 * killed (`hard`). */
static void stop_all(fleet *f, int hard)
{
    f->stopping = 1;
    for (size_t i = 0; i < f->count; i++) {
        entry *e = f->entries[i];

        if (e->pid <= 0)
            continue;
        if (hard)
            kill(-e->pid, SIGKILL);
        else
            entry_drain(e);
    }
}

int sluice_fleet_default_pid_file(char *buf, size_t len)
{
    const char *dir = getenv("SLUICE_STATE_DIR");

    if (!dir || !*dir)
        dir = SLUICE_STATEDIR;
    return snprintf(buf, len, "%s/sluice.pid", dir) < (int)len ? 0 : -1;
}

/* Tell the watcher of the fleet, if any, about `event`. */
static void notify(const fleet *f, sluice_fleet_event event)
{
    if (f->opts->notify)
        f->opts->notify(event, f->opts->notify_cls);
}

/* Take the fleet's pid file (its directory created if missing). Returns
 * the descriptor, or -1 after a message on stderr with *code set to the
 * exit status (SLUICE_EXIT_BUSY when another sluice run holds it). */
static int take_pid_file(const char *path, int *code)
{
    char dir[4096];
    char *slash;
    pid_t holder = 0;
    int fd;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (sluice_make_private_dirs(dir) != 0) {
            fprintf(stderr, "sluice run: cannot create %s for the pid file: %s\n", dir,
                    strerror(errno));
            *code = SLUICE_EXIT_FAILED;
            return -1;
        }
    }
    fd = sluice_lock_take(path, &holder);
    if (fd < 0 && errno == EWOULDBLOCK) {
        fprintf(stderr, "sluice run: sluice is already running with the pid file %s "
                "(pid %ld)\n", path, (long)holder);
        *code = SLUICE_EXIT_BUSY;
    } else if (fd < 0) {
        fprintf(stderr, "sluice run: cannot lock the pid file %s: %s\n", path, strerror(errno));
        *code = SLUICE_EXIT_FAILED;
    }
    return fd;
}

int sluice_fleet_run(const sluice_fleet_options *opts, sluice_registry *reg)
{
    fleet f;
    sigset_t set, old;
    int stop_signals = 0, waiting;
    int result = 0;

    memset(&f, 0, sizeof(f));
    f.opts = opts;
    f.reg = reg;
    f.pid_fd = take_pid_file(opts->pid_file, &result);
    if (f.pid_fd < 0)
        return result;
    sup_signal_set(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    sluice_log_write(NULL, NULL, SLUICE_LOG_INFO, "running the pipelines of %s (pid %ld, "
                     "pid file %s)", opts->dir, (long)getpid(), opts->pid_file);
    if (scan(&f, 0) != 0) {
        result = SLUICE_EXIT_FAILED;
        goto out;
    }
    waiting = settle(&f);
    publish(&f);
    notify(&f, SLUICE_FLEET_READY);
    /* its threads inherit the signals blocked above */
    sluice_admin_start(opts->run.admin, fleet_admin_list, NULL);
    while (!f.stopping || any_running(&f)) {
        int signo = sup_wait_signal(waiting ? WAIT_LOCK_MS : IDLE_MS);
        int reloaded = 0;

        if (signo == SIGCHLD)
            reap(&f);
        if (signo == SIGHUP && !f.stopping) {
            notify(&f, SLUICE_FLEET_RELOADING);
            reloaded = 1;
            sluice_log_write(NULL, NULL, SLUICE_LOG_INFO, "reload: reading %s", opts->dir);
            if (scan(&f, 1) == 0) {
                f.reloads++;
                f.last_reload_at_ms = wall_ms();
                sluice_log_write(NULL, NULL, SLUICE_LOG_INFO, "reload %u done: %u file(s) "
                                 "refused", f.reloads, f.last_refused);
            }
        }
        if (signo == SIGTERM || signo == SIGINT) {
            if (++stop_signals == 1) {
                notify(&f, SLUICE_FLEET_STOPPING);
                sluice_log_write(NULL, NULL, SLUICE_LOG_INFO, "stopping every pipeline");
            } else {
                sluice_log_write(NULL, NULL, SLUICE_LOG_WARN, "second stop signal: killing "
                                 "every pipeline now");
                result = 128 + signo;
            }
            stop_all(&f, stop_signals > 1);
            if (stop_signals > 1) {
                while (waitpid(-1, NULL, 0) > 0)
                    ;
                goto out;
            }
        }
        waiting = settle(&f);
        publish(&f);
        notify(&f, reloaded ? SLUICE_FLEET_READY : SLUICE_FLEET_CHANGED);
    }
    result = f.result;
out:
    sluice_admin_stop(opts->run.admin); /* before the table it lists goes */
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < f.count; i++)
        entry_free(f.entries[i]);
    free(f.entries);
    fleet_state_publish("", 0, 0, 0, NULL, 0);
    unlink(opts->pid_file);
    close(f.pid_fd);
    return result;
}
