/* admin.h: the admin HTTP endpoint of `sluice run` (--admin-listen):
 * GET /metrics (Prometheus text format 0.0.4), /health, /status (JSON)
 * and / (a self-contained status page), served by a libmicrohttpd thread
 * in the `sluice run` process. It gathers, per request, from the files the
 * pipelines already write (each stage process's <runtime_dir>/<label>.stats,
 * each pipeline supervisor's <runtime_dir>/supervisor.status) and from
 * what the caller knows of its pipelines (a list callback), so it costs
 * nothing per record. Implemented in admin.c (server, history), 
 * admin_gather.c (files -> one JSON model), admin_health.c (rules),
 * admin_prom.c (exposition) and admin_page.c (the page); see
 * docs/operations.md, "Metrics, health, status". */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stddef.h>
#include <jansson.h>

/* Default listen address of the endpoint. */
#define SLUICE_ADMIN_DEFAULT_LISTEN "127.0.0.1:9180"

/* One pipeline as the caller (the top `sluice run` process, later the
 * fleet supervisor) knows it. Plain fields: the list is copied out. */
typedef struct sluice_admin_pipeline {
    char name[256];
    char file[1024];          /* its configuration file */
    char runtime_dir[1024];   /* where its stats and status files are */
    long supervisor_pid;      /* its supervisor process; 0 if none runs */
    int exit_code;            /* how its supervisor ended; -1 while it runs */
    char error[512];          /* what the caller knows went wrong (e.g. a
                                 refused reload), "" if nothing */
    double started_at;        /* wall clock (s) its supervisor started; 0:
                                 unknown (the stall rule's start when
                                 nothing was committed yet) */
    unsigned reloads;         /* times a reload (re)started it (--dir) */
} sluice_admin_pipeline;

/* The caller's list of pipelines: sets *out to a malloc'd array (the
 * admin frees it with free()) and returns its length; 0 with *out NULL
 * when there are none or memory ran out. Called from the admin's threads:
 * it must lock what it reads. */
typedef size_t (*sluice_admin_list_fn)(void *cls, sluice_admin_pipeline **out);

/* Health thresholds (sluice run --health-*). */
typedef struct sluice_admin_health {
    unsigned crash_loop_crashes;  /* a process crashing this often ... */
    double crash_loop_window_s;   /* ... within this window is a crash loop */
    double stall_s;               /* nothing committed for this long while
                                     batches wait: stalled */
    unsigned dlq_growth;          /* more records parked than this ... */
    double dlq_window_s;          /* ... within this window */
} sluice_admin_health;

/* Defaults of the thresholds. */
#define SLUICE_ADMIN_CRASH_LOOP_CRASHES 3
#define SLUICE_ADMIN_CRASH_LOOP_WINDOW_S 300.0
#define SLUICE_ADMIN_STALL_S 600.0
#define SLUICE_ADMIN_DLQ_GROWTH 1000
#define SLUICE_ADMIN_DLQ_WINDOW_S 300.0

typedef struct sluice_admin_options {
    const char *listen;           /* "ADDR:PORT" (IPv4 or [IPv6]); "off" or
                                     NULL: no endpoint */
    const char *basic_auth;       /* "user:password" every request must
                                     carry, or NULL */
    const char *tls_cert;         /* PEM contents (not a path), or NULL */
    const char *tls_key;          /* PEM contents, with tls_cert */
    sluice_admin_health health;
} sluice_admin_options;

typedef struct sluice_admin sluice_admin;

/* Fill `h` with the default thresholds. */
void sluice_admin_health_defaults(sluice_admin_health *h);

/* Bind the endpoint's socket (so a busy port is an error before anything
 * starts) without serving yet. Returns the admin (caller owns: 
 * sluice_admin_close), or NULL with a message in errbuf (bad address,
 * address in use, bad TLS pair). With listen "off" returns NULL and
 * errbuf "" : no endpoint. */
sluice_admin *sluice_admin_open(const sluice_admin_options *opts, char *errbuf, size_t errlen);

/* Start serving, with `list(cls, ...)` as the source of the pipeline list
 * (the threads are created with the caller's signal mask: block the
 * process's signals first). Returns 0 or -1 (logged). NULL admin: 0. */
int sluice_admin_start(sluice_admin *admin, sluice_admin_list_fn list, void *cls);

/* In a child forked from a process with an admin endpoint: close the
 * descriptors it inherited (the listening socket and open connections),
 * so a child never holds the port. Safe after fork (no locks, no
 * allocation). NULL admin: nothing. */
void sluice_admin_forget_in_child(sluice_admin *admin);

/* Stop serving (the list callback is not called any more once it
 * returns); the socket is closed. NULL admin: nothing. */
void sluice_admin_stop(sluice_admin *admin);

/* Stop serving and free everything; *admin_p is set to NULL. */
void sluice_admin_close(sluice_admin **admin_p);

/* The port the endpoint listens on (useful with port 0), 0 if none. */
unsigned sluice_admin_port(const sluice_admin *admin);

/* The pipelines of a plain `sluice run FILE...` for the admin endpoint
 * (admin_view.c): their definitions, and the supervisor pid and exit
 * code of each, which the run loop sets as it learns them. */
struct sluice_pipeline_def;
typedef struct sluice_admin_view sluice_admin_view;

/* A view of the `n` pipelines `defs` (borrowed: they must outlive it), none
 * started yet. NULL on allocation failure. */
sluice_admin_view *sluice_admin_view_new(struct sluice_pipeline_def *const *defs, size_t n);

/* Pipeline `i`'s supervisor started as `pid`, or ended with `exit_code`. */
void sluice_admin_view_started(sluice_admin_view *view, size_t i, long pid);
void sluice_admin_view_ended(sluice_admin_view *view, size_t i, int exit_code);

/* The sluice_admin_list_fn of a view (cls: the view). */
size_t sluice_admin_view_list(void *cls, sluice_admin_pipeline **out);

/* Free a view (after sluice_admin_close); *view_p is set to NULL. */
void sluice_admin_view_free(sluice_admin_view **view_p);

/* ------------------------------------------------------------------ */
/* Internal to the admin files (and their tests).                     */
/* ------------------------------------------------------------------ */

/* Samples of one pipeline's totals, taken as requests come (at most one
 * per SLUICE_ADMIN_SAMPLE_MS; none while nobody asks), for rates, the
 * page's chart and the DLQ growth rule. */
#define SLUICE_ADMIN_HISTORY 150          /* 5 minutes or more at one per 2 s */
#define SLUICE_ADMIN_SAMPLE_MS 2000
typedef struct sluice_admin_history {
    char name[256];
    size_t count, head;                   /* ring of `count` samples */
    double at[SLUICE_ADMIN_HISTORY];      /* wall clock seconds */
    double out[SLUICE_ADMIN_HISTORY];     /* records out of the sink(s) */
    double parked[SLUICE_ADMIN_HISTORY];  /* records parked in the DLQ */
} sluice_admin_history;

/* The model every answer is made from: {"generated": T, "pipelines": [
 * {"name", "file", "state", "supervisor_pid", "exit_code", "stages": [...],
 * ...}]} (the /status document without history and health; see
 * admin_gather.c). `now` is the wall clock. Returns a new reference, or
 * NULL on allocation failure. Reads /proc for CPU and RSS when `procfs`. */
json_t *sluice_admin_gather(const sluice_admin_pipeline *list, size_t n, double now, int procfs);

/* Add to each pipeline of `model` its rates and chart from `history`
 * (matched by name; n entries) and its health ({"ok", "reasons": [...]})
 * by the rules of `health`. Returns the number of unhealthy pipelines. */
size_t sluice_admin_assess(json_t *model, const sluice_admin_history *history, size_t n,
                           const sluice_admin_health *health, double now);

/* Note `model`'s totals in `history` (entries matched by name; new ones
 * taken from the free ones; *n is updated, at most `max`). */
void sluice_admin_sample(const json_t *model, sluice_admin_history *history, size_t *n,
                         size_t max, double now);

/* The Prometheus text exposition (format 0.0.4) of `model` (assessed).
 * Returns a malloc'd string (caller frees), or NULL on allocation failure. */
char *sluice_admin_prometheus(const json_t *model);

/* The status page: one self-contained HTML document (static). */
const char *sluice_admin_page(void);
#endif
