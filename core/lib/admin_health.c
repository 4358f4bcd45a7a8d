/* admin_health.c: what the admin endpoint concludes from its model: the
 * health rules of /health (crash loop, stopped for good, destination
 * refused the credentials, nothing committed while batches wait, DLQ
 * growth; docs/operations.md "Health rules"), and the rates and chart
 * computed from the history the requests sample (admin.c). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "admin.h"

/* Seconds the records/s rate is measured over (at least). */
#define RATE_SPAN_S 10.0
/* Points of the page's chart. */
#define CHART_POINTS 60

/* The history entry of pipeline `name`, or NULL. */
static const sluice_admin_history *history_of(const sluice_admin_history *h, size_t n,
                                              const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].name, name) == 0)
            return &h[i];
    }
    return NULL;
}

/* Sample k (0 = oldest) of a history ring. */
static size_t ring_at(const sluice_admin_history *h, size_t k)
{
    return (h->head + SLUICE_ADMIN_HISTORY - h->count + k) % SLUICE_ADMIN_HISTORY;
}

/* Append a health reason to `reasons`. */
static void add_reason(json_t *reasons, const char *rule, const char *stage, const char *text)
{
    json_array_append_new(reasons, json_pack("{s:s, s:s?, s:s}", "rule", rule, "stage", stage,
                                             "message", text));
}

/* 1 if `message` says a destination refused the credentials. */
static int says_auth(const char *message)
{
    static const char *const words[] = {"HTTP 401", "HTTP 403", "key rejected", "unauthorized",
                                        "credential", "token rejected", "forbidden"};

    for (size_t i = 0; message && i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasestr(message, words[i]))
            return 1;
    }
    return 0;
}

/* The rule for a pipeline whose supervisor ended with a non-zero code. */
static void rule_stopped(const json_t *p, json_t *reasons)
{
    const json_t *stage_entry;
    const json_t *best = NULL;
    const char *stage = NULL;
    size_t i;
    char text[768];
    const char *message;
    int code = (int)json_integer_value(json_object_get(p, "exit_code"));

    json_array_foreach(json_object_get(p, "stages"), i, stage_entry) {
        const json_t *e = json_object_get(stage_entry, "last_error");
        if (e && (!best || json_number_value(json_object_get(e, "at")) >
                               json_number_value(json_object_get(best, "at")))) {
            best = e;
            stage = json_string_value(json_object_get(stage_entry, "name"));
        }
    }
    if (!best)
        best = json_object_get(p, "last_error");
    message = best ? json_string_value(json_object_get(best, "message")) : NULL;
    if (code == 3 && says_auth(message)) {
        snprintf(text, sizeof(text), "destination refused the credentials: stage '%s' stopped "
                 "for good (exit 3): %s", stage ? stage : "?", message);
        add_reason(reasons, "destination_auth", stage, text);
        return;
    }
    snprintf(text, sizeof(text), "pipeline stopped (exit %d)%s%s", code, message ? ": " : "",
             message ? message : "");
    add_reason(reasons, code == 3 ? "fatal" : "stopped", stage, text);
}

/* Crash loop: a process that crashed crash_loop_crashes times within the
 * window. */
static void rule_crash_loop(const json_t *p, const sluice_admin_health *h, double now,
                            json_t *reasons)
{
    size_t i, k;
    const json_t *u, *t;

    json_array_foreach(json_object_get(p, "units"), i, u) {
        unsigned recent = 0;
        json_array_foreach(json_object_get(u, "crashes"), k, t) {
            if (json_number_value(t) >= now - h->crash_loop_window_s)
                recent++;
        }
        if (h->crash_loop_crashes > 0 && recent >= h->crash_loop_crashes) {
            char text[512];
            const char *label = json_string_value(json_object_get(u, "label"));
            snprintf(text, sizeof(text), "stage '%s' crash loop: %u crashes in the last %.0f s "
                     "(last: %s)", label, recent, h->crash_loop_window_s,
                     json_string_value(json_object_get(u, "last_exit")));
            add_reason(reasons, "crash_loop", label, text);
        }
    }
}

/* Rates and chart of `p` from its history; the stall and DLQ growth rules. */
static void rules_over_time(json_t *p, const sluice_admin_history *hist,
                            const sluice_admin_health *h, double now, json_t *reasons)
{
    double out = json_number_value(json_object_get(p, "records_out"));
    double parked = json_number_value(json_object_get(json_object_get(p, "dlq"), "parked"));
    double last_commit = json_number_value(json_object_get(p, "last_commit"));
    /* nothing committed yet: since the pipeline (re)started */
    double since = last_commit > 0 ? last_commit
                                   : json_number_value(json_object_get(p, "started_at"));
    double rate = 0;
    json_t *chart = json_array();
    char text[512];

    if (hist && hist->count > 0) {
        size_t k = hist->count;
        double parked_then = -1, then = now, growth;

        /* records/s: from the newest sample at least RATE_SPAN_S old */
        while (k > 0 && now - hist->at[ring_at(hist, k - 1)] < RATE_SPAN_S)
            k--;
        if (k == 0)
            k = 1;
        if (now - hist->at[ring_at(hist, k - 1)] > 0.5)
            rate = (out - hist->out[ring_at(hist, k - 1)]) / (now - hist->at[ring_at(hist, k - 1)]);
        for (size_t j = hist->count > CHART_POINTS ? hist->count - CHART_POINTS : 0;
             chart && j + 1 < hist->count; j++) {
            size_t a = ring_at(hist, j), b = ring_at(hist, j + 1);
            double span = hist->at[b] - hist->at[a];
            json_array_append_new(chart, json_real(span > 0 ? (hist->out[b] - hist->out[a]) / span : 0));
        }
        /* the oldest sample within the window; when requests come more
         * rarely than the window, the newest before it, its growth scaled
         * down to the window */
        for (size_t j = 0; j < hist->count; j++) {
            size_t at = ring_at(hist, j);

            parked_then = hist->parked[at];
            then = hist->at[at];
            if (then >= now - h->dlq_window_s)
                break;
        }
        growth = parked - parked_then;
        if (now - then > h->dlq_window_s)
            growth = growth * h->dlq_window_s / (now - then);
        if (since <= 0)
            since = hist->at[ring_at(hist, 0)];
        if (parked_then >= 0 && h->dlq_growth > 0 && growth > h->dlq_growth) {
            double span = now - then < h->dlq_window_s ? h->dlq_window_s : now - then;

            snprintf(text, sizeof(text), "%.0f records parked in the dead-letter queue in the "
                     "last %.0f s (threshold %u per %.0f s)", parked - parked_then, span,
                     h->dlq_growth, h->dlq_window_s);
            add_reason(reasons, "dlq_growth", NULL, text);
        }
    }
    if (rate < 0)
        rate = 0;
    json_object_set_new(p, "records_per_second", json_real(rate));
    if (chart)
        json_object_set_new(p, "rate_chart", chart);
    if (json_number_value(json_object_get(p, "backlog_batches")) > 0 && since > 0 &&
        h->stall_s > 0 && now - since > h->stall_s) {
        snprintf(text, sizeof(text), "nothing committed for %.0f s while %.0f batch(es) wait "
                 "(threshold %.0f s)", now - since,
                 json_number_value(json_object_get(p, "backlog_batches")), h->stall_s);
        add_reason(reasons, "stalled", NULL, text);
    }
}

size_t sluice_admin_assess(json_t *model, const sluice_admin_history *history, size_t n,
                           const sluice_admin_health *health, double now)
{
    size_t unhealthy = 0;
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        json_t *reasons = json_array();
        const char *state = json_string_value(json_object_get(p, "state"));
        int ok;

        if (!reasons)
            continue;
        if (state && strcmp(state, "failed") == 0)
            rule_stopped(p, reasons);
        rule_crash_loop(p, health, now, reasons);
        rules_over_time(p, history_of(history, n, json_string_value(json_object_get(p, "name"))),
                        health, now, reasons);
        ok = json_array_size(reasons) == 0;
        if (!ok)
            unhealthy++;
        json_object_set_new(p, "health", json_pack("{s:b, s:o}", "ok", ok, "reasons", reasons));
    }
    json_object_set_new(model, "healthy", json_boolean(unhealthy == 0));
    return unhealthy;
}

void sluice_admin_sample(const json_t *model, sluice_admin_history *history, size_t *n,
                         size_t max, double now)
{
    size_t i;
    const json_t *p;

    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        sluice_admin_history *h = NULL;

        for (size_t k = 0; k < *n && !h; k++) {
            if (strcmp(history[k].name, name) == 0)
                h = &history[k];
        }
        if (!h && *n < max) {
            h = &history[(*n)++];
            memset(h, 0, sizeof(*h));
            snprintf(h->name, sizeof(h->name), "%s", name);
        }
        if (!h)
            continue;
        h->at[h->head] = now;
        h->out[h->head] = json_number_value(json_object_get(p, "records_out"));
        h->parked[h->head] = json_number_value(json_object_get(json_object_get(p, "dlq"), "parked"));
        h->head = (h->head + 1) % SLUICE_ADMIN_HISTORY;
        if (h->count < SLUICE_ADMIN_HISTORY)
            h->count++;
    }
}
