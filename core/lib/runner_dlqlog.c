/* runner_dlqlog.c: what a stage parks in the dead-letter queue, told at
 * warn: the first DLQ_LOG_LINES parkings of a DLQ_LOG_WINDOW_MS window one
 * line each (pipeline and stage in the line's fields, the entry and reason
 * in its text), the rest counted by reason and told in one summary line
 * when the window ends ("stage 'map' parked 130 record(s) in the
 * dead-letter queue in the last 10 s (5 logged one by one): REASON (120),
 * REASON (10)"), reasons counted with their numbers as '#'. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "util/clock.h"

/* Room for the summary line's list of reasons. */
#define SUMMARY_MAX 2048

/* `reason` with each run of digits as one '#' (record numbers, FILE:LINE,
 * sizes), cut to fit `out` (`len` bytes): the key parkings are counted by. */
static void reason_key(const char *reason, char *out, size_t len)
{
    size_t used = 0;

    for (const char *c = reason; *c && used + 1 < len; c++) {
        if (*c >= '0' && *c <= '9') {
            if (used == 0 || out[used - 1] != '#')
                out[used++] = '#';
            continue;
        }
        out[used++] = *c;
    }
    out[used] = '\0';
}

/* Count one parking for `reason` in the window's table (a reason that
 * finds the table full is counted as "other"). */
static void count_reason(runner_dlq_log *log, const char *reason)
{
    char key[sizeof(log->reasons[0].text)];
    size_t i;

    reason_key(reason, key, sizeof(key));
    reason = key;
    for (i = 0; i < log->reason_count; i++) {
        if (strcmp(log->reasons[i].text, reason) == 0) {
            log->reasons[i].count++;
            return;
        }
    }
    if (log->reason_count < DLQ_LOG_REASONS) {
        snprintf(log->reasons[i].text, sizeof(log->reasons[i].text), "%s", reason);
        log->reasons[i].count = 1;
        log->reason_count++;
        return;
    }
    log->other_count++;
}

/* Order reasons by count, most first (qsort). */
static int by_count(const void *a, const void *b)
{
    const runner_dlq_reason *x = a, *y = b;

    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

void runner_dlq_log_flush(runner *r, int force)
{
    runner_dlq_log *log = &r->dlq_log;
    int64_t now = sluice_clock_ms();
    char list[SUMMARY_MAX];
    size_t used = 0;

    if (!log->window_start || (!force && now - log->window_start < DLQ_LOG_WINDOW_MS))
        return;
    if (log->parked > log->logged) {
        qsort(log->reasons, log->reason_count, sizeof(log->reasons[0]), by_count);
        list[0] = '\0';
        for (size_t i = 0; i < log->reason_count && used < sizeof(list); i++) {
            int n = snprintf(list + used, sizeof(list) - used, "%s%s (%lu)", i ? ", " : "",
                             log->reasons[i].text, log->reasons[i].count);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        if (log->other_count && used < sizeof(list))
            snprintf(list + used, sizeof(list) - used, ", other reasons (%lu)", log->other_count);
        RLOG(r, SLUICE_LOG_WARN, "stage '%s' parked %lu record(s) in the dead-letter queue in "
             "the last %.0f s (%lu logged one by one): %s", r->label, log->parked,
             (double)(now - log->window_start) / 1000.0, log->logged, list);
    }
    memset(log, 0, sizeof(*log));
}

int64_t runner_dlq_log_due(const runner *r)
{
    const runner_dlq_log *log = &r->dlq_log;

    if (!log->window_start || log->parked <= log->logged)
        return 0;
    return log->window_start + DLQ_LOG_WINDOW_MS;
}

void runner_dlq_log_parked(runner *r, const sluice_batch *batch, size_t i, const char *by,
                           const char *reason, int64_t dlq_id)
{
    runner_dlq_log *log = &r->dlq_log;

    runner_dlq_log_flush(r, 0); /* a window that ended: its summary first */
    if (!log->window_start)
        log->window_start = sluice_clock_ms();
    log->parked++;
    count_reason(log, reason);
    if (log->logged >= DLQ_LOG_LINES) {
        if (log->parked == DLQ_LOG_LINES + 1)
            RLOG(r, SLUICE_LOG_WARN, "more records parked in the dead-letter queue: counted "
                 "in one summary line at most every %d s", DLQ_LOG_WINDOW_MS / 1000);
        return;
    }
    log->logged++;
    if (strcmp(by, r->stage->name) == 0)
        RLOG(r, SLUICE_LOG_WARN, "record %zu of batch %" PRIu64 "/%" PRIu64 " parked in the "
             "dead-letter queue (entry %" PRId64 "): %s", i, batch->epoch, batch->id, dlq_id,
             reason);
    else
        RLOG(r, SLUICE_LOG_WARN, "record %zu of batch %" PRIu64 "/%" PRIu64 " parked in the "
             "dead-letter queue (entry %" PRId64 "), rejected by stage '%s': %s", i,
             batch->epoch, batch->id, dlq_id, by, reason);
}
