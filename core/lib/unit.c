/* unit.c: a placement unit: the stages one process runs, one thread
 * each (the calling thread runs the last), linked inproc:// between
 * neighbours of the unit; sets each runner up and tears it down, and
 * runs the ZAP handler of the unit's ZeroMQ context when a stage of it
 * has a CURVE input. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "kv.h"
#include "runner.h"
#include "store.h"
#include "util/clock.h"
#include "wake.h"
#include "zap.h"

/* ------------------------------------------------------------------ */

/* Open the pipeline's store. Several stages opening a store that does not
 * exist yet can meet in SQLite's switch to WAL, which answers "database is
 * locked" without waiting; that race is retried for a few seconds.
 * Returns the store or NULL with the last error in errbuf. */
static sluice_store *open_store(const sluice_pipeline_def *pipeline, char *errbuf,
                                size_t errlen)
{
    sluice_store *store = NULL;

    for (int attempt = 0; attempt < 20 && !store; attempt++) {
        if (attempt > 0)
            zmq_poll(NULL, 0, 50L * attempt < 500 ? 50L * attempt : 500L);
        store = sluice_store_open(pipeline->state_dir, errbuf, errlen);
        if (!store && !strstr(errbuf, "locked") && !strstr(errbuf, "busy"))
            break;
    }
    return store;
}

/* Open the store and state of the runner's stage and fill its context.
 * Returns 0 or -1 (logged). */
static int runner_setup(runner *r)
{
    char err[512] = "";

    r->ctx.pipeline = r->pipeline;
    r->ctx.stage = r->stage;
    r->ctx.stopping = r->signals->term;
    r->ctx.once = r->once;
    r->rng = (uint64_t)sluice_clock_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
    if (r->rng == 0)
        r->rng = 0x9e3779b97f4a7c15ULL;
    r->wake_fd = sluice_wake_open();
    if (r->wake_fd < 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot create the runner's wake-up eventfd: %s",
             strerror(errno));
        return -1;
    }
    r->ctx.store = open_store(r->pipeline, err, sizeof(err));
    if (!r->ctx.store) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot open the state store: %s", err);
        return -1;
    }
    /* an instance of a stateless stage has no state (sluice_state_* fail) */
    r->ctx.kv = r->parallel ? NULL : sluice_kv_new(r->ctx.store, r->stage->name);
    if (!r->ctx.kv && !r->parallel) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot create the stage's key/value state");
        return -1;
    }
    if (!r->parallel && r->index > 0 &&
        r->pipeline->stages[r->index - 1].common.instances > 1 &&
        sluice_reorder_init(&r->reorder, (size_t)(r->pipeline->window > 0 ? r->pipeline->window
                                                                           : 8) * 2 + 16) != 0) {
        RLOG(r, SLUICE_LOG_ERROR, "cannot allocate the re-sequencing buffer");
        return -1;
    }
    if (r->stage->plugin->role == SLUICE_ROLE_SINK)
        r->ctx.progress = link_sink_heartbeat;
    runner_stats_load(r);
    return link_open(r);
}

/* Release everything runner_setup() and the run created. */
static void runner_teardown(runner *r, int graceful)
{
    runner_plugin_fini(r);
    sluice_reorder_clear(&r->reorder, 1);
    link_close(r, graceful);
    sluice_http_client_free(&r->ctx.http);
    sluice_kv_destroy(&r->ctx.kv);
    sluice_store_close(&r->ctx.store);
    sluice_wake_close(r->wake_fd);
    r->wake_fd = -1;
}

/* Run a prepared runner to its end. Returns its exit code. */
static int runner_run(runner *r)
{
    int result;

    if (runner_setup(r) != 0) {
        result = r->setup_fatal ? SLUICE_STAGE_EXIT_FATAL : SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    switch (r->stage->plugin->role) {
    case SLUICE_ROLE_SOURCE:
        result = run_source(r);
        break;
    case SLUICE_ROLE_TRANSFORM:
        result = run_transform(r);
        break;
    case SLUICE_ROLE_SINK:
        result = run_sink(r);
        break;
    default:
        RLOG(r, SLUICE_LOG_ERROR, "plugin '%s' has an unknown role", r->stage->plugin_name);
        result = SLUICE_STAGE_EXIT_ERROR;
        break;
    }
    runner_dlq_log_flush(r, 1); /* what the last window counted */
out:
    runner_teardown(r, result == SLUICE_STAGE_EXIT_OK);
    /* the source's end (or any failure) winds the whole unit down */
    if (r->index == 0 || result != SLUICE_STAGE_EXIT_OK) {
        *r->unit_stop = 1;
        sluice_unit_wake(); /* the unit's other runners wait without a timeout */
    }
    return result;
}

/* pthread entry point. */
static void *runner_thread(void *arg)
{
    runner *r = arg;

    r->result = runner_run(r);
    return NULL;
}

/* 1 if stage `index` is one of the unit's stages. */
static int unit_holds(const size_t *stages, size_t n, size_t index)
{
    for (size_t i = 0; i < n; i++) {
        if (stages[i] == index)
            return 1;
    }
    return 0;
}

/* Allow the clients of stage `index`'s CURVE input on its ZAP domain: its
 * upstream stage's key and its curve_clients. Returns 0 or -1. */
static int allow_clients(const sluice_pipeline_def *pipeline, size_t index, sluice_zap *zap)
{
    const sluice_stage_def *stage = &pipeline->stages[index];
    const char *upstream = pipeline->stages[index - 1].common.curve_public_key;
    size_t i;
    json_t *key;

    if (!upstream || sluice_zap_allow(zap, stage->name, upstream) != 0)
        return -1;
    json_array_foreach(stage->common.curve_clients, i, key) {
        if (sluice_zap_allow(zap, stage->name, json_string_value(key)) != 0)
            return -1;
    }
    return 0;
}

/* Start the unit's ZAP handler in `zctx` if one of its stages has a CURVE
 * input (before any of them binds: without a handler libzmq admits every
 * client). Returns 0 (*zap_p NULL when none is needed) or -1 (logged). */
static int start_zap(const sluice_pipeline_def *pipeline, const runner *runners, size_t n,
                     void *zctx, sluice_zap **zap_p)
{
    char err[256] = "out of memory";
    sluice_zap *zap = NULL;

    *zap_p = NULL;
    for (size_t i = 0; i < n; i++) {
        if (runners[i].index == 0 || runners[i].inproc_in ||
            sluice_link_kind_of(pipeline, runners[i].index) != SLUICE_LINK_CURVE)
            continue;
        if (!zap && !(zap = sluice_zap_new(pipeline->name)))
            goto fail;
        if (allow_clients(pipeline, runners[i].index, zap) != 0) {
            snprintf(err, sizeof(err), "stage '%s': its CURVE clients' keys are not usable",
                     runners[i].stage->name);
            goto fail;
        }
    }
    if (zap && sluice_zap_start(zap, zctx, err, sizeof(err)) != 0)
        goto fail;
    *zap_p = zap;
    return 0;
fail:
    sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR, "cannot start the ZAP handler: %s",
                     err);
    sluice_zap_destroy(&zap);
    return -1;
}

int sluice_unit_run(const sluice_pipeline_def *pipeline, const size_t *stages, size_t n,
                    unsigned instance, int flags, const sluice_unit_signals *signals)
{
    runner *runners = NULL;
    pthread_t *threads = NULL;
    size_t started = 0;
    volatile int unit_stop = 0;
    int has_source = unit_holds(stages, n, 0);
    int result = SLUICE_STAGE_EXIT_OK;
    void *zctx = NULL;
    sluice_zap *zap = NULL;
    sigset_t old_mask;
    int signals_taken = 0;

    if (n == 0)
        return SLUICE_STAGE_EXIT_OK;
    /* First: stop, rewind and hard-stop signals wake the runners (wake.h)
     * only if no thread of the unit takes them itself, and every thread
     * the unit starts (the ZAP handler's, the runners', the plugins')
     * inherits this mask. */
    signals_taken = sluice_wake_signals_begin(&old_mask) == 0;
    runners = calloc(n, sizeof(*runners));
    threads = calloc(n, sizeof(*threads));
    zctx = zmq_ctx_new();
    if (!runners || !threads || !zctx) {
        sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                         "cannot start stages: out of memory");
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        runner *r = &runners[i];
        r->pipeline = pipeline;
        r->index = stages[i];
        r->stage = &pipeline->stages[stages[i]];
        r->parallel = r->stage->common.instances > 1;
        r->instance = r->parallel ? instance : 0;
        if (sluice_stage_label(pipeline, r->index, r->instance, r->label, sizeof(r->label)) != 0)
            snprintf(r->label, sizeof(r->label), "%s", r->stage->name);
        r->once = (flags & SLUICE_UNIT_ONCE) != 0;
        r->source_store = (flags & SLUICE_UNIT_SOURCE_STORE) != 0;
        r->zctx = zctx;
        r->signals = signals;
        r->unit_stop = &unit_stop;
        r->unit_has_source = has_source;
        r->inproc_in = n > 1 && r->index > 0 && unit_holds(stages, n, r->index - 1);
        r->inproc_out = n > 1 && unit_holds(stages, n, r->index + 1);
        r->wake_fd = -1;
        r->store_watch_fd = -1;
    }
    if (start_zap(pipeline, runners, n, zctx, &zap) != 0) {
        result = SLUICE_STAGE_EXIT_ERROR;
        goto out;
    }
    {
        /* create the store before the threads race to */
        char err[512] = "";
        sluice_store *store = open_store(pipeline, err, sizeof(err));
        if (!store) {
            sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                             "cannot open the state store: %s", err);
            result = SLUICE_STAGE_EXIT_ERROR;
            goto out;
        }
        sluice_store_close(&store);
    }
    /* every stage but the last in its own thread; the last in this one */
    for (; started + 1 < n; started++) {
        if (pthread_create(&threads[started], NULL, runner_thread, &runners[started]) != 0) {
            sluice_log_write(pipeline->name, NULL, SLUICE_LOG_ERROR,
                             "cannot start a thread for stage '%s'",
                             runners[started].stage->name);
            unit_stop = 1;
            result = SLUICE_STAGE_EXIT_ERROR;
            break;
        }
    }
    if (result == SLUICE_STAGE_EXIT_OK)
        runners[n - 1].result = runner_run(&runners[n - 1]);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n && i <= started; i++) {
        int code = runners[i].result;
        if (code == SLUICE_STAGE_EXIT_FATAL ||
            (code == SLUICE_STAGE_EXIT_ERROR && result == SLUICE_STAGE_EXIT_OK))
            result = code;
    }
out:
    sluice_zap_destroy(&zap); /* every socket it guarded is closed by now */
    /* a failure on a full disk is waited out, not counted as a crash */
    if (result == SLUICE_STAGE_EXIT_ERROR && sluice_store_out_of_space())
        result = SLUICE_STAGE_EXIT_NOSPACE;
    if (zctx)
        zmq_ctx_term(zctx);
    if (signals_taken)
        sluice_wake_signals_end(&old_mask);
    free(threads);
    free(runners);
    return result;
}
