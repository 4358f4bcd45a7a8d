/* run_progress.c: the one-line progress of `sluice run --once` on a
 * terminal (stderr): items read of the full read (members read of
 * members listed, when the source tells, sluice_source_progress), the
 * rate, the time left, records delivered and parked in the DLQ, redrawn
 * about once a second by the top `sluice run` process from the files the
 * stages already write (the admin endpoint's model, admin_gather.c), and
 * drawn a last time with the final figures when the run ends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "admin.h"
#include "run_progress.h"
#include "util/clock.h"

/* The line is redrawn this often. */
#define PROGRESS_EVERY_MS 1000L
/* The rate is measured over (about) this long. */
#define RATE_WINDOW_MS 10000L
#define RATE_SAMPLES 16

struct sluice_progress {
    sluice_admin_pipeline *list;   /* one per pipeline: where its files are */
    size_t n;
    int fd;                        /* the terminal */
    int64_t started_ms, drawn_ms;
    int64_t sample_ms[RATE_SAMPLES]; /* ring of (time, items read) */
    double sample_read[RATE_SAMPLES];
    size_t samples, head;
};

sluice_progress *sluice_progress_new(sluice_pipeline_def *const *defs, size_t n, int fd)
{
    sluice_progress *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->list = calloc(n ? n : 1, sizeof(*p->list));
    if (!p->list) {
        free(p);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(p->list[i].name, sizeof(p->list[i].name), "%s", defs[i]->name);
        snprintf(p->list[i].runtime_dir, sizeof(p->list[i].runtime_dir), "%s",
                 defs[i]->runtime_dir);
        p->list[i].exit_code = -1;
    }
    p->n = n;
    p->fd = fd;
    p->started_ms = sluice_clock_ms();
    p->drawn_ms = p->started_ms;
    return p;
}

long sluice_progress_due_ms(const sluice_progress *p)
{
    int64_t wait;

    if (!p)
        return -1;
    wait = p->drawn_ms + PROGRESS_EVERY_MS - sluice_clock_ms();
    return wait > 0 ? (long)wait : 0;
}

/* Figures summed over the pipelines. */
typedef struct figures {
    double read, end;       /* of the full read; end 0: not told */
    int told;               /* a source told its position */
    double records_in, delivered, parked;
} figures;

/* Sum the figures of every pipeline from its files. */
static void gather_figures(const sluice_progress *p, figures *f)
{
    json_t *model = sluice_admin_gather(p->list, p->n, sluice_wall_seconds(), 0);
    size_t i;
    json_t *pipeline;

    memset(f, 0, sizeof(*f));
    json_array_foreach(json_object_get(model, "pipelines"), i, pipeline) {
        const json_t *position = json_object_get(pipeline, "position");

        f->records_in += json_number_value(json_object_get(pipeline, "records_in"));
        f->delivered += json_number_value(json_object_get(pipeline, "records_out"));
        f->parked += json_number_value(json_object_get(json_object_get(pipeline, "dlq"),
                                                       "parked"));
        if (position) {
            f->told = 1;
            f->read += json_number_value(json_object_get(position, "read"));
            f->end += json_number_value(json_object_get(position, "end"));
        }
    }
    json_decref(model);
}

/* Write "H:MM:SS" or "M:SS" of `seconds` into `buf`. */
static void format_duration(char *buf, size_t len, double seconds)
{
    long s = seconds > 0 && seconds < 1e7 ? (long)(seconds + 0.5) : 0;

    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

/* Items per second over the last RATE_WINDOW_MS (since the start at
 * first), with the sample (now, read) noted. */
static double note_rate(sluice_progress *p, int64_t now, double read)
{
    size_t oldest = p->samples < RATE_SAMPLES ? 0 : p->head;
    double rate = 0;

    for (size_t k = 0; k < p->samples; k++) {
        size_t at = (oldest + k) % RATE_SAMPLES;

        if (now - p->sample_ms[at] <= RATE_WINDOW_MS || k + 1 == p->samples) {
            if (now > p->sample_ms[at])
                rate = (read - p->sample_read[at]) * 1000.0 / (double)(now - p->sample_ms[at]);
            break;
        }
    }
    if (p->samples == 0 && now > p->started_ms)
        rate = read * 1000.0 / (double)(now - p->started_ms);
    p->sample_ms[p->head] = now;
    p->sample_read[p->head] = read;
    p->head = (p->head + 1) % RATE_SAMPLES;
    if (p->samples < RATE_SAMPLES)
        p->samples++;
    return rate > 0 ? rate : 0;
}

/* Draw the line (`final`: the figures at the end, then a newline). */
static void draw(sluice_progress *p, int final)
{
    int64_t now = sluice_clock_ms();
    figures f;
    char line[512], eta[32], took[32];
    double done, rate;
    size_t used = 0, width = sizeof(line) - 1;
    struct winsize ws;

    gather_figures(p, &f);
    done = f.told ? f.read : f.records_in;
    rate = final ? (now > p->started_ms ? done * 1000.0 / (double)(now - p->started_ms) : 0)
                 : note_rate(p, now, done);
    if (p->n == 1)
        used = (size_t)snprintf(line, sizeof(line), "%s: ", p->list[0].name);
    else
        used = (size_t)snprintf(line, sizeof(line), "%zu pipelines: ", p->n);
    if (f.told && f.end > 0) {
        double pct = f.read >= f.end ? 100.0 : 100.0 * f.read / f.end;
        const int bar = 20;
        int full = (int)(pct / 100.0 * bar + 0.5);

        used += (size_t)snprintf(line + used, sizeof(line) - used, "[%.*s%.*s] %.0f/%.0f read "
                                 "(%.0f%%)", full, "####################", bar - full,
                                 "                    ", f.read, f.end, pct);
    } else {
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%.0f read%s", done,
                                 f.told ? " of ?" : "");
    }
    if (used < sizeof(line))
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", %.0f/s", rate);
    format_duration(took, sizeof(took), (double)(now - p->started_ms) / 1000.0);
    if (used < sizeof(line) && final) {
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", took %s", took);
    } else if (used < sizeof(line) && f.told && f.end > f.read && rate > 0) {
        format_duration(eta, sizeof(eta), (f.end - f.read) / rate);
        used += (size_t)snprintf(line + used, sizeof(line) - used, ", ETA %s", eta);
    }
    if (used < sizeof(line))
        snprintf(line + used, sizeof(line) - used, ", %.0f delivered, %.0f DLQ", f.delivered,
                 f.parked);
    /* never wider than the terminal: a wrapped line would not be redrawn */
    if (ioctl(p->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && (size_t)ws.ws_col - 1 < width)
        width = (size_t)ws.ws_col - 1;
    line[width < strlen(line) ? width : strlen(line)] = '\0';
    /* the cursor is left at the line's start: a log line a stage writes
     * meanwhile overwrites it and the next drawing comes below that */
    dprintf(p->fd, "\r\033[K%s%s", line, final ? "\n" : "\r");
    p->drawn_ms = now;
}

void sluice_progress_tick(sluice_progress *p)
{
    if (p && sluice_clock_ms() >= p->drawn_ms + PROGRESS_EVERY_MS)
        draw(p, 0);
}

void sluice_progress_finish(sluice_progress **p_p)
{
    sluice_progress *p = p_p ? *p_p : NULL;

    if (!p)
        return;
    draw(p, 1);
    free(p->list);
    free(p);
    *p_p = NULL;
}
