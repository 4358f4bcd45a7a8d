/* admin_gather.c: the admin endpoint's model of the pipelines, read from
 * the files they already write: each stage process's statistics file
 * (runner_stats.c: <runtime_dir>/<label>.stats), each supervisor's
 * <runtime_dir>/supervisor.status (supervisor.c), and /proc for a
 * process's CPU and RSS. Nothing here runs per record; a gather costs a
 * few small file reads per process. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"

/* Sum the number `key` of `from` into `into` (created at 0). */
static void add_number(json_t *into, const char *key, const json_t *from)
{
    double v = json_number_value(json_object_get(from, key));

    json_object_set_new(into, key, json_real(json_number_value(json_object_get(into, key)) + v));
}

/* Sum every number member of object `from` into object `into`. */
static void add_object(json_t *into, const json_t *from)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)from, key, value) {
        if (json_is_number(value))
            add_number(into, key, from);
    }
}

/* Keep in `into`'s "last_error" the newer of its own and `error` (an
 * {"at", "message"} object, or NULL), with `where` noted. */
static void keep_newer_error(json_t *into, const json_t *error, const char *where)
{
    const json_t *mine = json_object_get(into, "last_error");

    if (!json_is_object(error) || !json_string_value(json_object_get(error, "message")))
        return;
    if (mine && json_number_value(json_object_get(mine, "at")) >=
                    json_number_value(json_object_get(error, "at")))
        return;
    json_object_set_new(into, "last_error",
                        json_pack("{s:f, s:s, s:s?}", "at",
                                  json_number_value(json_object_get(error, "at")), "message",
                                  json_string_value(json_object_get(error, "message")), "where",
                                  where));
}

/* CPU seconds (user+sys) and resident bytes of process `pid` from /proc.
 * Returns 0, or -1 if it does not run (or /proc cannot tell). */
static int process_usage(long pid, double *cpu_s, double *rss_bytes)
{
    char path[64], buf[1024];
    FILE *f;
    size_t len;
    const char *p;
    unsigned long utime = 0, stime = 0;
    long pages = 0, resident = 0;
    int result = -1;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                     &stime) != 2)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    *cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    *rss_bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
    result = 0;
    return result;
}

/* The stage entry named `name` in array `stages`, created (with its
 * role and index from `stats`) when absent. NULL on allocation failure. */
static json_t *stage_entry(json_t *stages, const char *name, const json_t *stats)
{
    size_t i;
    json_t *stage;
    const char *role;

    json_array_foreach(stages, i, stage) {
        if (strcmp(json_string_value(json_object_get(stage, "name")), name) == 0)
            return stage;
    }
    role = json_string_value(json_object_get(stats, "role"));
    stage = json_pack("{s:s, s:s, s:I, s:[], s:f, s:f, s:f, s:f, s:f, s:f, s:{}, s:{}, s:{}}",
                      "name", name, "role", role ? role : "stage", "index",
                      (json_int_t)json_integer_value(json_object_get(stats, "index")),
                      "processes", "received", 0.0, "sent", 0.0, "rejected", 0.0,
                      "batches", 0.0, "in_flight", 0.0, "last_commit", 0.0, "dlq",
                      "counters", "ack_latency");
    if (!stage || json_array_append_new(stages, stage) != 0)
        return NULL;
    return stage;
}

/* Add the latency histogram `from` ({"counts": [...], "sum", "count"})
 * into `into`. */
static void add_latency(json_t *into, const json_t *from)
{
    json_t *counts = json_object_get(into, "counts");
    const json_t *theirs = json_object_get(from, "counts");

    if (!json_is_array(theirs))
        return;
    if (!counts) {
        counts = json_array();
        if (!counts || json_object_set_new(into, "counts", counts) != 0)
            return;
    }
    for (size_t b = 0; b < json_array_size(theirs); b++) {
        double v = json_number_value(json_array_get(theirs, b));
        if (b < json_array_size(counts))
            json_array_set_new(counts, b, json_real(json_number_value(json_array_get(counts, b)) + v));
        else
            json_array_append_new(counts, json_real(v));
    }
    add_number(into, "sum", from);
    add_number(into, "count", from);
}

/* A source's report of its read position and spool (sluice_source_progress,
 * sluice_source_spool) from `stats` into its stage entry: "position"
 * {"read", "end"} and "spool" {"depth", "oldest_at"}, the figures summed
 * and the oldest time kept over the stage's processes. */
static void fold_source_report(json_t *stage, const json_t *stats)
{
    const json_t *position = json_object_get(stats, "position");
    const json_t *spool = json_object_get(stats, "spool");

    if (json_is_object(position)) {
        json_t *mine = json_object_get(stage, "position");

        if (!mine && json_object_set_new(stage, "position", json_object()) == 0)
            mine = json_object_get(stage, "position");
        if (mine) {
            add_number(mine, "read", position);
            add_number(mine, "end", position);
        }
    }
    if (json_is_object(spool)) {
        json_t *mine = json_object_get(stage, "spool");
        double oldest = json_number_value(json_object_get(spool, "oldest_at"));
        double known;

        if (!mine && json_object_set_new(stage, "spool", json_object()) == 0)
            mine = json_object_get(stage, "spool");
        if (!mine)
            return;
        add_number(mine, "depth", spool);
        known = json_number_value(json_object_get(mine, "oldest_at"));
        if (oldest > 0 && (known <= 0 || oldest < known))
            json_object_set_new(mine, "oldest_at", json_real(oldest));
        else if (!json_object_get(mine, "oldest_at"))
            json_object_set_new(mine, "oldest_at", json_real(0));
    }
}

/* Fold one statistics file `stats` (of process `label`) into the stage
 * entries of `pipeline`. */
static void fold_stats(json_t *pipeline, const json_t *stats, const char *label, int procfs)
{
    const char *name = json_string_value(json_object_get(stats, "stage"));
    json_t *stage;
    json_t *process;
    long pid = (long)json_integer_value(json_object_get(stats, "pid"));
    double cpu = 0, rss = 0;
    int alive;

    if (!name)
        return;
    stage = stage_entry(json_object_get(pipeline, "stages"), name, stats);
    if (!stage)
        return;
    alive = pid > 0 && kill((pid_t)pid, 0) == 0;
    if (alive && procfs && process_usage(pid, &cpu, &rss) != 0)
        alive = 0;
    process = json_pack("{s:s, s:I, s:b}", "label", label, "pid", (json_int_t)pid, "alive", alive);
    if (process && alive && procfs) {
        json_object_set_new(process, "cpu_seconds", json_real(cpu));
        json_object_set_new(process, "rss_bytes", json_real(rss));
    }
    if (process)
        json_array_append_new(json_object_get(stage, "processes"), process);
    add_number(stage, "received", stats);
    add_number(stage, "sent", stats);
    add_number(stage, "rejected", stats);
    add_number(stage, "batches", stats);
    add_number(stage, "in_flight", stats);
    add_object(json_object_get(stage, "dlq"), json_object_get(stats, "dlq"));
    add_object(json_object_get(stage, "counters"), json_object_get(stats, "counters"));
    add_latency(json_object_get(stage, "ack_latency"), json_object_get(stats, "ack_latency"));
    if (json_number_value(json_object_get(stats, "last_commit")) >
        json_number_value(json_object_get(stage, "last_commit")))
        json_object_set_new(stage, "last_commit",
                            json_real(json_number_value(json_object_get(stats, "last_commit"))));
    keep_newer_error(stage, json_object_get(stats, "last_error"), label);
    fold_source_report(stage, stats);
}

/* Read every <runtime_dir>/<label>.stats into `pipeline`'s stages. */
static void read_stats_files(json_t *pipeline, const char *runtime_dir, int procfs)
{
    DIR *dir = opendir(runtime_dir);
    struct dirent *e;

    if (!dir)
        return;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[2048], label[512];
        json_t *stats;

        if (len <= 6 || strcmp(e->d_name + len - 6, ".stats") != 0 || len - 6 >= sizeof(label))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", runtime_dir, e->d_name) >= (int)sizeof(path))
            continue;
        memcpy(label, e->d_name, len - 6);
        label[len - 6] = '\0';
        stats = json_load_file(path, 0, NULL);
        if (!stats)
            continue;
        fold_stats(pipeline, stats, label, procfs);
        json_decref(stats);
    }
    closedir(dir);
}

/* qsort order of stage entries: by index. */
static int by_index(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "index"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "index"));

    return x < y ? -1 : x > y;
}

/* Sort `pipeline`'s stages by their index in the pipeline. */
static void sort_stages(json_t *pipeline)
{
    json_t *stages = json_object_get(pipeline, "stages");
    size_t n = json_array_size(stages);
    json_t **items = n ? calloc(n, sizeof(*items)) : NULL;

    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(stages, i));
    qsort(items, n, sizeof(*items), by_index);
    json_array_clear(stages);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(stages, items[i]);
    free(items);
}

/* The pipeline's state from what its caller and supervisor said. */
static const char *state_of(const sluice_admin_pipeline *p, const json_t *status)
{
    size_t i;
    json_t *u;
    const char *phase;

    if (p->exit_code >= 0)
        return p->exit_code == 0 ? "stopped" : "failed";
    if (!status)
        return "starting";
    phase = json_string_value(json_object_get(status, "phase"));
    if (phase && strcmp(phase, "running") != 0)
        return phase;
    json_array_foreach(json_object_get(status, "units"), i, u) {
        if (json_is_true(json_object_get(u, "restarting")) ||
            json_integer_value(json_object_get(u, "pid")) <= 0)
            return "restarting";
    }
    return "running";
}

/* The totals of one pipeline: records in (source) and out (sink),
 * backlog, last commit, DLQ, restarts, last error. */
static void add_totals(json_t *pipeline, const json_t *status)
{
    json_t *stages = json_object_get(pipeline, "stages");
    json_t *by_stage = json_object();
    double parked = 0, restarts = 0;
    size_t i;
    json_t *stage, *u;

    json_array_foreach(stages, i, stage) {
        const char *role = json_string_value(json_object_get(stage, "role"));

        if (role && strcmp(role, "source") == 0) {
            json_object_set_new(pipeline, "records_in", json_real(json_number_value(json_object_get(stage, "received"))));
            json_object_set_new(pipeline, "backlog_batches", json_real(json_number_value(json_object_get(stage, "in_flight"))));
            json_object_set_new(pipeline, "last_commit", json_real(json_number_value(json_object_get(stage, "last_commit"))));
            if (json_object_get(stage, "position"))
                json_object_set(pipeline, "position", json_object_get(stage, "position"));
            if (json_object_get(stage, "spool"))
                json_object_set(pipeline, "spool", json_object_get(stage, "spool"));
        }
        if (role && strcmp(role, "sink") == 0)
            json_object_set_new(pipeline, "records_out", json_real(json_number_value(json_object_get(pipeline, "records_out")) +
                                                                   json_number_value(json_object_get(stage, "sent"))));
        parked += json_number_value(json_object_get(stage, "rejected"));
        if (by_stage)
            json_object_set(by_stage, json_string_value(json_object_get(stage, "name")),
                            json_object_get(stage, "dlq"));
        keep_newer_error(pipeline, json_object_get(stage, "last_error"),
                         json_string_value(json_object_get(stage, "name")));
    }
    json_array_foreach(json_object_get(status, "units"), i, u)
        restarts += json_number_value(json_object_get(u, "restarts"));
    keep_newer_error(pipeline, json_object_get(status, "last_error"), "supervisor");
    json_object_set_new(pipeline, "restarts", json_real(restarts));
    json_object_set_new(pipeline, "dlq", json_pack("{s:I, s:f, s:o*}", "at_start",
                                                   json_integer_value(json_object_get(status, "dlq_at_start")),
                                                   "parked", parked, "by_stage", by_stage));
}

/* The model entry of one pipeline. NULL on allocation failure. */
static json_t *gather_one(const sluice_admin_pipeline *p, int procfs)
{
    char path[1100];
    json_t *status = NULL;
    json_t *pipeline;

    if (snprintf(path, sizeof(path), "%s/supervisor.status", p->runtime_dir) < (int)sizeof(path))
        status = json_load_file(path, 0, NULL);
    if (status && json_integer_value(json_object_get(status, "pid")) != p->supervisor_pid) {
        json_decref(status); /* a previous run's */
        status = NULL;
    }
    pipeline = json_pack("{s:s, s:s, s:s, s:I, s:i, s:[], s:f, s:f, s:f, s:f}", "name", p->name,
                         "file", p->file, "state", state_of(p, status), "supervisor_pid",
                         (json_int_t)p->supervisor_pid, "exit_code", p->exit_code, "stages",
                         "records_in", 0.0, "records_out", 0.0, "backlog_batches", 0.0,
                         "last_commit", 0.0);
    if (!pipeline)
        goto out;
    if (status) {
        json_object_set(pipeline, "units", json_object_get(status, "units"));
        json_object_set(pipeline, "outcome", json_object_get(status, "outcome"));
    }
    read_stats_files(pipeline, p->runtime_dir, procfs);
    sort_stages(pipeline);
    add_totals(pipeline, status);
    if (p->error[0])
        json_object_set_new(pipeline, "error", json_string(p->error));
    json_object_set_new(pipeline, "started_at", json_real(p->started_at));
    json_object_set_new(pipeline, "reloads", json_integer((json_int_t)p->reloads));
out:
    json_decref(status);
    return pipeline;
}

json_t *sluice_admin_gather(const sluice_admin_pipeline *list, size_t n, double now, int procfs)
{
    json_t *pipelines = json_array();
    json_t *model = NULL;

    if (!pipelines)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *one = gather_one(&list[i], procfs);
        if (!one || json_array_append_new(pipelines, one) != 0) {
            json_decref(pipelines);
            return NULL;
        }
    }
    model = json_pack("{s:f, s:o}", "generated", now, "pipelines", pipelines);
    return model;
}
