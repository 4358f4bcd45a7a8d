/* ctx.h: struct sluice_ctx, the per-stage-instance context behind the
 * opaque handle plugins receive. Created by the stage runner (stage.c);
 * services (http.c, store.c, log) read the fields they need. */
#ifndef SLUICE_CTX_H
#define SLUICE_CTX_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include "sluice/plugin.h"
#include "pipeline.h"

struct sluice_store;       /* store.h: SQLite state of the pipeline */
struct sluice_kv;          /* kv.h: staged per-stage key/value state */
struct sluice_http_client; /* http.c: curl handle and token buckets */

struct sluice_ctx {
    const sluice_pipeline_def *pipeline; /* borrowed */
    const sluice_stage_def *stage;       /* borrowed */
    struct sluice_store *store;          /* owned by the stage runner */
    struct sluice_kv *kv;                /* the stage's staged key/value view over
                                            store (kv.h); created and destroyed
                                            by the stage runner (AREA=runtime),
                                            used by sluice_state_* (sdk_state.c) */
    struct sluice_http_client *http;     /* created lazily by http.c, freed by
                                            sluice_http_client_free() */
    volatile sig_atomic_t *stopping;     /* set by the runner on SIGTERM/INT */
    int once;                            /* sluice run --once */
    double retry_after;                  /* seconds hinted by the plugin, 0 = none */
    void (*progress)(struct sluice_ctx *ctx); /* set by a sink's runner: called by
                                            services (http.c, after each finished
                                            request) while write() works on a long
                                            batch, so the runner can tell upstream
                                            it is alive (a heartbeat ack); NULL
                                            elsewhere */
    int wake_fd;                         /* source: readable when poll() has
                                            something new (sluice_source_wake_fd;
                                            borrowed), valid if has_wake_fd */
    int has_wake_fd;
    double read_position, read_end;      /* source: sluice_source_progress() */
    int has_read_position;
    _Atomic double spool_depth;          /* source: sluice_source_spool(), which */
    _Atomic double spool_oldest_at;      /* any thread of the plugin may call */
    atomic_int has_spool;
    int64_t call_at_ms;                  /* sink: when to call write() with no
                                            records (sluice_sink_call_after;
                                            sluice_clock_ms), 0 = none */
    char fail_message[1024];             /* set by sluice_fail() */
};

/* Free the HTTP client of a context (http.c). Safe on NULL. */
void sluice_http_client_free(struct sluice_http_client **client_p);
#endif
