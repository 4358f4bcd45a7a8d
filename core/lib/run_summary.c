/* run_summary.c: the --once summary of a pipeline: records in, delivered
 * and rejected (DLQ entries added during the run), events derived, elapsed
 * time, peak RSS and the CPU of each stage process, read from the stages'
 * statistics files, wait4's rusage and the state store. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "stage.h"
#include "store.h"
#include "supervisor.h"
#include "supervisor_internal.h"
#include "util/clock.h"

/* A struct timeval as seconds. */
double sup_seconds_of(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
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
        own = sup_seconds_of(&self.ru_utime) + sup_seconds_of(&self.ru_stime);
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

/* Fill *c from the statistics files of every stage process of `def`
 * (records in at the source, delivered at the sink, events derived
 * anywhere); a file missing or unreadable counts 0. */
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
void sup_clear_counts(const sluice_pipeline_def *def)
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
int64_t sup_dlq_count_when_space(const sluice_pipeline_def *def, int *stop_signal)
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
        signo = sup_wait_signal(delay);
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

/* Print the --once summary of `s`: the counts line, then the CPU line.
 * `started_ms` is when the pipeline started, `dlq_before` its DLQ entries
 * then. Returns `result`, or SLUICE_EXIT_REJECTED when `result` is 0 and
 * records were parked during the run. */
int sup_summary_print(const pipeline_sup *s, int64_t started_ms, int64_t dlq_before, int result)
{
    const sluice_pipeline_def *def = s->def;
    int64_t dlq_after = dlq_count(def, 0);
    run_counts c;

    read_counts(def, &c);
    printf("pipeline %s: %.0f records in, %.0f delivered, %lld rejected, %.0f events "
           "derived, elapsed %.2fs, peak RSS %.1f MB\n", def->name, c.records_in,
           c.delivered, (long long)(dlq_after >= dlq_before ? dlq_after - dlq_before : 0),
           c.events, (double)(sluice_clock_ms() - started_ms) / 1000.0, peak_rss_mb(s));
    print_cpu_by_unit(s);
    fflush(stdout);
    if (result == 0 && dlq_after != dlq_before)
        result = SLUICE_EXIT_REJECTED;
    return result;
}
