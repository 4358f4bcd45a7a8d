/* test_stage.c: unit tests of the stage runtime: the in-flight window and
 * delay arithmetic on their own, then whole pipelines driven by small
 * plugins defined here, over real ZeroMQ sockets (inproc and ipc), a real
 * SQLite store and, for the supervisor, real forked processes. A busy
 * machine only makes them slower: waits are for conditions with generous
 * deadlines, and where an ack timeout must not fire it exceeds any stall
 * by seconds. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>
#include <zmq.h>

#include "sluice/plugin.h"
#include "batch.h"
#include "ctx.h"
#include "pipeline.h"
#include "reorder.h"
#include "stage.h"
#include "store.h"
#include "supervisor.h"
#include "util/clock.h"
#include "support/unit_support.h"
#include "window.h"

/* ------------------------------------------------------------------ */
/* Test plugins.                                                       */
/* ------------------------------------------------------------------ */

/* Knobs the tests set before a run (read by the plugins). */
static struct {
    long count;              /* records the source emits */
    long per_poll;           /* most records per poll() call */
    long reject_every;       /* transform rejects n % reject_every == 0 */
    int first_write_waits_rewind;/* first write() returns once the source rewound */
    long sink_retry_first;   /* first write() of every batch: all RETRY */
    double retry_hint_s;     /* with it: sluice_retry_after(hint) */
    int sink_fatal;          /* write() returns FATAL */
    long rewind_after;       /* sink raises the rewind flag after this many */
    volatile sig_atomic_t *rewind_flag;
    const char *out_path;    /* sink appends "n\n" here (process tests) */
    const char *crash_marker;/* sink aborts once when this file is absent */
    long slow_write_ms;      /* every write() sleeps this long */
    long long_first_write_ms;/* the first write() works this long, reporting progress */
} knobs;

/* What the sink collected (thread tests). */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static long *seen;
static size_t seen_count, seen_alloc;
static long write_calls;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char state_dir[300];

/* The source's current epoch as the store holds it, or 0 when it has none
 * yet or on error. Read with SQLite directly: the store's own call
 * (sluice_store_next_epoch) allocates a new epoch. */
static long stored_epoch(void)
{
    char path[400];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    long epoch = 0;

    snprintf(path, sizeof(path), "%s/state.db", state_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_prepare_v2(db, "SELECT epoch FROM epochs WHERE stage = 'src'", -1, &stmt,
                           NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        epoch = (long)sqlite3_column_int64(stmt, 0);
out:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return epoch;
}

typedef struct gen_state {
    long next;
} gen_state;

static sluice_status gen_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    gen_state *g = calloc(1, sizeof(*g));
    json_t *cp = sluice_checkpoint_get(ctx);

    if (!g)
        return SLUICE_FATAL;
    g->next = cp ? (long)json_integer_value(json_object_get(cp, "offset")) : 0;
    json_decref(cp);
    *state = g;
    return SLUICE_OK;
}

static void gen_fini(sluice_ctx *ctx, void *state)
{
    free(state);
}

static sluice_status gen_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    gen_state *g = state;
    long room = (long)sluice_batch_capacity(out);
    long appended = 0;

    if (sluice_stopping(ctx) || g->next >= knobs.count)
        return SLUICE_EOF;
    while (appended < room && appended < knobs.per_poll && g->next < knobs.count) {
        sluice_batch_append(out, json_pack("{s:I, s:s}", "n", (json_int_t)g->next, "pad",
                                           "some payload to make the record non-trivial"));
        g->next++;
        appended++;
    }
    sluice_batch_set_checkpoint(out, json_pack("{s:I}", "offset", (json_int_t)g->next));
    return SLUICE_OK;
}

static sluice_status gen_rewind(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    gen_state *g = state;
    g->next = checkpoint ? (long)json_integer_value(json_object_get(checkpoint, "offset")) : 0;
    return SLUICE_OK;
}

static const sluice_option no_options[] = {SLUICE_OPTION_END};

static const sluice_plugin gen_plugin = {
    SLUICE_PLUGIN_HEADER,
    .name = "test-gen", .role = SLUICE_ROLE_SOURCE, .version = "1",
    .description = "numbers 0..count-1", .options = no_options,
    .init = gen_init, .fini = gen_fini, .poll = gen_poll, .rewind = gen_rewind,
};

static sluice_status tag_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    *state = NULL;
    return SLUICE_OK;
}

static sluice_status tag_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    json_t *last = NULL;

    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *rec = sluice_batch_get(batch, i);
        long n;
        if (!rec)
            continue;
        n = (long)json_integer_value(json_object_get(rec, "n"));
        if (knobs.reject_every && n % knobs.reject_every == 0) {
            sluice_batch_reject(batch, i, "multiple of reject_every");
            continue;
        }
        json_object_set_new(rec, "tag", json_string("x"));
        json_decref(last);
        last = json_integer(n);
    }
    if (last) {
        sluice_state_put(ctx, batch, "last", last);
        json_decref(last);
    }
    return SLUICE_OK;
}

static const sluice_plugin tag_plugin = {
    SLUICE_PLUGIN_HEADER,
    .name = "test-tag", .role = SLUICE_ROLE_TRANSFORM, .version = "1",
    .description = "sets tag", .options = no_options,
    .init = tag_init, .process = tag_process,
};

/* A stateless transform whose batches take uneven time (0..7 ms by id), so
 * that instances of it finish batches out of order. */
static sluice_status uneven_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    (void)ctx;
    (void)state;
    sleep_ms((long)((sluice_batch_id(batch) * 5) % 8));
    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *rec = sluice_batch_get(batch, i);
        if (rec)
            json_object_set_new(rec, "tag", json_string("x"));
    }
    return SLUICE_OK;
}

static const sluice_plugin uneven_plugin = {
    SLUICE_PLUGIN_HEADER,
    .name = "test-uneven", .role = SLUICE_ROLE_TRANSFORM, .version = "1",
    .description = "sets tag, slowly for some batches", .options = no_options,
    .init = tag_init, .process = uneven_process, .flags = SLUICE_PLUGIN_STATELESS,
};

typedef struct collect_state {
    FILE *out;
    uint64_t retried_batch; /* id+1 of the last batch answered RETRY */
} collect_state;

static sluice_status collect_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    collect_state *c = calloc(1, sizeof(*c));

    if (!c)
        return SLUICE_FATAL;
    if (knobs.out_path) {
        c->out = fopen(knobs.out_path, "a");
        if (!c->out) {
            free(c);
            sluice_fail(ctx, "cannot open %s", knobs.out_path);
            return SLUICE_FATAL;
        }
    }
    *state = c;
    return SLUICE_OK;
}

static void collect_fini(sluice_ctx *ctx, void *state)
{
    collect_state *c = state;
    if (c && c->out)
        fclose(c->out);
    free(c);
}

static sluice_status collect_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    collect_state *c = state;
    long calls;

    pthread_mutex_lock(&seen_lock);
    calls = ++write_calls;
    pthread_mutex_unlock(&seen_lock);
    if (knobs.sink_fatal) {
        sluice_fail(ctx, "credentials rejected (HTTP 401)");
        return SLUICE_FATAL;
    }
    /* hold the first batch (no ack, no heartbeat) until the source gave up
     * waiting and rewound: a condition, not a delay a busy machine could
     * outlast or fall short of (two minutes bound a source that never
     * rewinds, which the test then reports) */
    for (int waited = 0; calls == 1 && knobs.first_write_waits_rewind && waited < 6000 &&
                         stored_epoch() < 2;
         waited++)
        sleep_ms(20);
    if (knobs.slow_write_ms)
        sleep_ms(knobs.slow_write_ms);
    /* a long write() made of many small steps, each reporting progress as
     * http.c does after every request */
    for (long t = 0; calls == 1 && t < knobs.long_first_write_ms; t += 100) {
        sleep_ms(100);
        if (ctx->progress)
            ctx->progress(ctx);
    }
    if (knobs.crash_marker && access(knobs.crash_marker, F_OK) != 0 && calls > 3) {
        FILE *m = fopen(knobs.crash_marker, "w");
        if (m)
            fclose(m);
        abort();
    }
    if (knobs.sink_retry_first && c->retried_batch != sluice_batch_id(batch) + 1) {
        c->retried_batch = sluice_batch_id(batch) + 1;
        for (size_t i = 0; i < sluice_batch_count(batch); i++)
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_RETRY, NULL);
        if (knobs.retry_hint_s > 0)
            sluice_retry_after(ctx, knobs.retry_hint_s);
        return SLUICE_RETRY;
    }
    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *rec = sluice_batch_get(batch, i);
        long n;
        if (!rec)
            continue;
        n = (long)json_integer_value(json_object_get(rec, "n"));
        if (c->out) {
            fprintf(c->out, "%ld %s\n", n, json_string_value(json_object_get(rec, "tag")));
        } else {
            pthread_mutex_lock(&seen_lock);
            if (seen_count == seen_alloc) {
                seen_alloc = seen_alloc ? seen_alloc * 2 : 1024;
                seen = realloc(seen, seen_alloc * sizeof(*seen));
            }
            seen[seen_count++] = n;
            pthread_mutex_unlock(&seen_lock);
        }
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
    }
    if (c->out) {
        fflush(c->out);
    }
    if (knobs.rewind_after && knobs.rewind_flag && (long)seen_count >= knobs.rewind_after) {
        *knobs.rewind_flag = 1;
        sluice_unit_wake(); /* as the stage's signal watcher does after SIGUSR1 */
        knobs.rewind_after = 0;
    }
    return SLUICE_OK;
}

static const sluice_plugin collect_plugin = {
    SLUICE_PLUGIN_HEADER,
    .name = "test-collect", .role = SLUICE_ROLE_SINK, .version = "1",
    .description = "collects n", .options = no_options,
    .init = collect_init, .fini = collect_fini, .write = collect_write,
};

/* ------------------------------------------------------------------ */
/* Fixture: a temp dir and a hand-built 3-stage pipeline.              */
/* ------------------------------------------------------------------ */

static char tmpdir[256];
static char runtime_dir[320];
static sluice_stage_def stage_defs[3];
static sluice_pipeline_def pipe_def;
static volatile sig_atomic_t flag_term, flag_rewind, flag_hard;
static sluice_unit_signals signals = {&flag_term, &flag_rewind, &flag_hard};

static void setup(void)
{
    static const sluice_plugin *const plugins[3] = {&gen_plugin, &tag_plugin, &collect_plugin};
    static const char *const names[3] = {"src", "tag", "out"};

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-stage-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
    snprintf(runtime_dir, sizeof(runtime_dir), "%s/state/run", tmpdir);
    mkdir(state_dir, 0700);
    mkdir(runtime_dir, 0700);
    memset(&knobs, 0, sizeof(knobs));
    knobs.count = 2000;
    knobs.per_poll = 37;
    seen_count = 0;
    write_calls = 0;
    flag_term = 0;
    flag_rewind = 0;
    flag_hard = 0;
    memset(stage_defs, 0, sizeof(stage_defs));
    for (int i = 0; i < 3; i++) {
        stage_defs[i].name = (char *)names[i];
        stage_defs[i].plugin_name = (char *)plugins[i]->name;
        stage_defs[i].plugin = plugins[i];
        stage_defs[i].config = json_object();
        stage_defs[i].common.hwm = 4;
        stage_defs[i].common.retry_max_backoff_ms = 1000;
        stage_defs[i].file = (char *)"test.cfg";
        stage_defs[i].line = i + 1;
    }
    memset(&pipe_def, 0, sizeof(pipe_def));
    pipe_def.name = (char *)"unit";
    pipe_def.file = (char *)"test.cfg";
    pipe_def.state_dir = state_dir;
    pipe_def.runtime_dir = runtime_dir;
    pipe_def.batch_size = 100;
    pipe_def.batch_linger_ms = 50;
    pipe_def.window = 4;
    /* no rewind unless a test asks for one: a stalled machine must not
     * replay batches into tests that count deliveries */
    pipe_def.ack_timeout_ms = 600000;
    pipe_def.restart_max = 5;
    pipe_def.restart_window_s = 60;
    pipe_def.restart_backoff_ms = 50;
    pipe_def.stages = stage_defs;
    pipe_def.stage_count = 3;
}

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        json_decref(stage_defs[i].config);
    unit_remove_tree(tmpdir);
}

/* Every n in [0, count) except multiples of `skip_every` (0: none) was
 * seen at least once; returns how many extra (duplicate) deliveries. */
static long check_all_seen(long count, long skip_every)
{
    char *hit = calloc((size_t)count, 1);
    long dups = 0;

    ck_assert_ptr_nonnull(hit);
    for (size_t i = 0; i < seen_count; i++) {
        ck_assert_int_ge(seen[i], 0);
        ck_assert_int_lt(seen[i], count);
        if (hit[seen[i]])
            dups++;
        hit[seen[i]] = 1;
    }
    for (long n = 0; n < count; n++) {
        if (skip_every && n % skip_every == 0)
            ck_assert_msg(!hit[n], "rejected record %ld was delivered", n);
        else
            ck_assert_msg(hit[n], "record %ld was never delivered", n);
    }
    free(hit);
    return dups;
}

/* The committed checkpoint offset of the source, or -1. */
static long committed_offset(void)
{
    char err[256];
    sluice_store *store = sluice_store_open(state_dir, err, sizeof(err));
    json_t *cp = NULL;
    long offset = -1;

    ck_assert_msg(store != NULL, "%s", err);
    ck_assert_int_eq(sluice_store_checkpoint_get(store, "src", &cp), 0);
    if (cp)
        offset = (long)json_integer_value(json_object_get(cp, "offset"));
    json_decref(cp);
    sluice_store_close(&store);
    return offset;
}

typedef struct unit_thread {
    size_t stage;
    int once;
    int result;
    unsigned instance;  /* k of a stage with instances > 1, else 0 */
} unit_thread;

static void *unit_main(void *arg)
{
    unit_thread *u = arg;
    u->result = sluice_unit_run(&pipe_def, &u->stage, 1, u->instance, u->once, &signals);
    return NULL;
}

/* Run the pipeline with every stage in its own unit (ipc:// links), as
 * threads of this process. Returns the source unit's exit code; the
 * others' codes land in *others (worst). */
static int run_ipc(int *others)
{
    pthread_t threads[3];
    unit_thread units[3];

    for (size_t i = 0; i < 3; i++) {
        units[i] = (unit_thread){.stage = i, .once = 1, .result = -1};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, unit_main, &units[i]), 0);
    }
    pthread_join(threads[0], NULL);
    flag_term = 1; /* the source is done: the others may leave */
    sluice_unit_wake();
    pthread_join(threads[1], NULL);
    pthread_join(threads[2], NULL);
    *others = units[1].result > units[2].result ? units[1].result : units[2].result;
    return units[0].result;
}

/* ------------------------------------------------------------------ */
/* Window and delays.                                                  */
/* ------------------------------------------------------------------ */

/* Three instances of a stateless transform, as threads with units of
 * their own (ipc://), finishing batches out of order: the sink still sees
 * every record once and in the source's order, and the source commits all.
 * The ack timeout is far beyond the test's time limit, so a batch dropped
 * at the sink instead of held (a rewind would be its only cure) fails the
 * test by timeout. */
START_TEST(instances_deal_batches_out_and_the_sink_gets_them_in_order)
{
    pthread_t threads[5];
    unit_thread units[5];

    stage_defs[1].plugin = &uneven_plugin;
    stage_defs[1].plugin_name = (char *)uneven_plugin.name;
    stage_defs[1].common.instances = 3;
    pipe_def.ack_timeout_ms = 600000;
    pipe_def.batch_size = 20;
    pipe_def.window = 8;
    knobs.count = 3000;
    knobs.per_poll = 20;
    units[0] = (unit_thread){.stage = 0, .once = 1, .result = -1};
    units[1] = (unit_thread){.stage = 2, .once = 1, .result = -1};
    for (unsigned k = 1; k <= 3; k++)
        units[1 + k] = (unit_thread){.stage = 1, .once = 1, .result = -1, .instance = k};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, unit_main, &units[i]), 0);
    pthread_join(threads[0], NULL);
    flag_term = 1;
    sluice_unit_wake(); /* runners wait without a timeout */
    for (int i = 1; i < 5; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(units[i].result, SLUICE_STAGE_EXIT_OK);
    ck_assert_uint_eq(seen_count, (size_t)knobs.count);
    for (long n = 0; n < knobs.count; n++)
        ck_assert_msg(seen[n] == n, "position %ld holds record %ld", n, seen[n]);
    ck_assert_int_eq(committed_offset(), knobs.count);
}
END_TEST

START_TEST(window_commits_only_the_acknowledged_prefix)
{
    sluice_window w;
    uint64_t last = 0;
    json_t *cp = NULL;
    size_t records = 0;

    ck_assert_int_eq(sluice_window_init(&w, 3), 0);
    ck_assert_int_eq(sluice_window_push(&w, 1, json_integer(10), 5, 100), 0);
    ck_assert_int_eq(sluice_window_push(&w, 2, json_integer(20), 6, 200), 0);
    ck_assert_int_eq(sluice_window_push(&w, 3, NULL, 7, 300), 0);
    /* full, and ids must increase */
    ck_assert_int_eq(sluice_window_push(&w, 4, json_integer(40), 1, 400), -1);
    ck_assert_int_eq(sluice_window_oldest_sent(&w), 100);

    /* ack 2 and 3 first: nothing can be committed before 1 */
    ck_assert_int_eq(sluice_window_ack(&w, 2), 0);
    ck_assert_int_eq(sluice_window_ack(&w, 3), 0);
    ck_assert_uint_eq(sluice_window_pop_done(&w, &last, &cp, &records), 0);
    ck_assert_ptr_null(cp);
    ck_assert_int_eq(sluice_window_ack(&w, 3), 1); /* duplicate */
    ck_assert_int_eq(sluice_window_ack(&w, 9), 1); /* unknown */

    /* ack 1: all three commit, with the newest checkpoint carried (20) */
    ck_assert_int_eq(sluice_window_ack(&w, 1), 0);
    ck_assert_uint_eq(sluice_window_pop_done(&w, &last, &cp, &records), 3);
    ck_assert_uint_eq(last, 3);
    ck_assert_uint_eq(records, 18);
    ck_assert_int_eq(json_integer_value(cp), 20);
    json_decref(cp);
    ck_assert_int_eq(sluice_window_oldest_sent(&w), -1);

    /* the ring wraps */
    for (uint64_t id = 4; id < 10; id++) {
        ck_assert_int_eq(sluice_window_push(&w, id, json_integer((json_int_t)id), 1, 0), 0);
        ck_assert_int_eq(sluice_window_ack(&w, id), 0);
        ck_assert_uint_eq(sluice_window_pop_done(&w, &last, &cp, NULL), 1);
        ck_assert_int_eq(json_integer_value(cp), (json_int_t)id);
        json_decref(cp);
    }
    ck_assert_int_eq(sluice_window_push(&w, 10, json_integer(1), 1, 0), 0);
    sluice_window_clear(&w, 1);
}
END_TEST

/* The buffer behind a parallel stage gives back exactly the batch asked
 * for, refuses duplicates and overflow (destroying what it refuses: the
 * run under ASan/valgrind checks nothing leaks), and a rewind's new epoch
 * drops what it replaced. */
START_TEST(reorder_holds_until_asked_and_drops_replaced_epochs)
{
    sluice_reorder q;
    sluice_batch *b;

    ck_assert_int_eq(sluice_reorder_init(&q, 3), 0);
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(1, 3, 1)), 0);
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(1, 2, 1)), 0);
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(1, 2, 1)), -1); /* duplicate */
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(2, 5, 1)), 0);
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(2, 6, 1)), -1); /* full */
    ck_assert_uint_eq(q.count, 3);
    ck_assert_ptr_null(sluice_reorder_take(&q, 1, 1));
    ck_assert_ptr_null(sluice_reorder_take(&q, 2, 3)); /* same id, other epoch */
    b = sluice_reorder_take(&q, 1, 2);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->epoch, 1);
    ck_assert_uint_eq(b->id, 2);
    sluice_batch_destroy(&b);
    ck_assert_ptr_null(sluice_reorder_take(&q, 1, 2)); /* taken once */
    ck_assert_uint_eq(sluice_reorder_drop_before(&q, 2), 1); /* 1/3 replaced */
    ck_assert_ptr_null(sluice_reorder_take(&q, 1, 3));
    b = sluice_reorder_take(&q, 2, 5);
    ck_assert_ptr_nonnull(b);
    sluice_batch_destroy(&b);
    ck_assert_uint_eq(q.count, 0);
    ck_assert_int_eq(sluice_reorder_hold(&q, sluice_batch_new(3, 9, 1)), 0);
    sluice_reorder_clear(&q, 1); /* destroys what is still held */
    ck_assert_ptr_null(q.held);
}
END_TEST

START_TEST(restart_delay_doubles_up_to_its_cap)
{
    ck_assert_int_eq(sluice_restart_delay_ms(200, 1), 200);
    ck_assert_int_eq(sluice_restart_delay_ms(200, 2), 400);
    ck_assert_int_eq(sluice_restart_delay_ms(200, 5), 3200);
    ck_assert_int_eq(sluice_restart_delay_ms(200, 30), SLUICE_RESTART_DELAY_CAP_MS);
}
END_TEST

START_TEST(crash_log_counts_only_the_window)
{
    sluice_crash_log log;

    memset(&log, 0, sizeof(log));
    ck_assert_uint_eq(sluice_crash_note(&log, 1000, 60000), 1);
    ck_assert_uint_eq(sluice_crash_note(&log, 2000, 60000), 2);
    ck_assert_uint_eq(sluice_crash_note(&log, 30000, 60000), 3);
    ck_assert_uint_eq(sluice_crash_note(&log, 61500, 60000), 3); /* 1000 expired */
    ck_assert_uint_eq(sluice_crash_note(&log, 90001, 60000), 2); /* and 2000, 30000 */
    for (int i = 0; i < 200; i++)
        sluice_crash_note(&log, 100000 + i, 60000);
    ck_assert_uint_eq(sluice_crash_note(&log, 100500, 60000), SLUICE_CRASH_LOG_MAX);
}
END_TEST

/* Exits on a full disk: retried 1 s, 2 s, 4 s ... up to 30 s apart for as
 * long as it lasts, logged the first time and then once a minute. */
START_TEST(nospace_waits_longer_and_logs_once_a_minute)
{
    sluice_nospace_wait wait;
    int log = -1;

    memset(&wait, 0, sizeof(wait));
    ck_assert_int_eq(sluice_nospace_note(&wait, 5000, &log), 1000);
    ck_assert_int_eq(log, 1);
    ck_assert_int_eq(sluice_nospace_note(&wait, 6000, &log), 2000);
    ck_assert_int_eq(log, 0);
    ck_assert_int_eq(sluice_nospace_note(&wait, 8000, &log), 4000);
    ck_assert_int_eq(log, 0);
    for (int i = 0; i < 40; i++)
        sluice_nospace_note(&wait, 9000, &log);
    ck_assert_int_eq(sluice_nospace_note(&wait, 64999, &log), SLUICE_NOSPACE_DELAY_CAP_MS);
    ck_assert_int_eq(log, 0);
    ck_assert_int_eq(sluice_nospace_note(&wait, 65000, &log), SLUICE_NOSPACE_DELAY_CAP_MS);
    ck_assert_int_eq(log, 1); /* a minute after the first line */
    ck_assert_int_eq(sluice_nospace_note(&wait, 70000, &log), SLUICE_NOSPACE_DELAY_CAP_MS);
    ck_assert_int_eq(log, 0);
    ck_assert_uint_eq(wait.failures, 46);
    ck_assert_int_eq(wait.since_ms, 5000);
    /* the stage ran again, then the disk filled at once: a new spell
     * starts from 1 s but is not logged again within the minute */
    wait.failures = 0;
    ck_assert_int_eq(sluice_nospace_note(&wait, 80000, &log), 1000);
    ck_assert_int_eq(log, 0);
    ck_assert_int_eq(wait.since_ms, 80000);
    ck_assert_int_eq(sluice_nospace_note(&wait, 125000, &log), 2000);
    ck_assert_int_eq(log, 1);
}
END_TEST

START_TEST(endpoints_follow_the_stage_options)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
    char expect[400];

    ck_assert_int_eq(sluice_stage_endpoints(&pipe_def, 1, 0, 0, data, sizeof(data), ack,
                                            sizeof(ack), err, sizeof(err)), 0);
    snprintf(expect, sizeof(expect), "ipc://%s/tag.data", runtime_dir);
    ck_assert_str_eq(data, expect);
    snprintf(expect, sizeof(expect), "ipc://%s/tag.ack", runtime_dir);
    ck_assert_str_eq(ack, expect);
    ck_assert_int_eq(sluice_stage_endpoints(&pipe_def, 1, 0, 1, data, sizeof(data), ack,
                                            sizeof(ack), err, sizeof(err)), 0);
    ck_assert_str_eq(data, "inproc://tag.data");
    stage_defs[1].common.endpoint = (char *)"tcp://127.0.0.1:7000";
    ck_assert_int_eq(sluice_stage_endpoints(&pipe_def, 1, 0, 0, data, sizeof(data), ack,
                                            sizeof(ack), err, sizeof(err)), 0);
    ck_assert_str_eq(data, "tcp://127.0.0.1:7000");
    ck_assert_str_eq(ack, "tcp://127.0.0.1:7001");
    stage_defs[1].common.endpoint = (char *)"tcp://127.0.0.1:65535";
    ck_assert_int_eq(sluice_stage_endpoints(&pipe_def, 1, 0, 0, data, sizeof(data), ack,
                                            sizeof(ack), err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "port+1"));
    stage_defs[1].common.endpoint = NULL;
}
END_TEST

/* ------------------------------------------------------------------ */
/* Pipelines in one process.                                           */
/* ------------------------------------------------------------------ */

START_TEST(grouped_unit_delivers_everything_in_order_and_commits)
{
    size_t all[3] = {0, 1, 2};
    char err[256];
    sluice_store *store;
    json_t *last = NULL;

    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_OK);
    ck_assert_uint_eq(seen_count, (size_t)knobs.count);
    for (size_t i = 0; i < seen_count; i++)
        ck_assert_int_eq(seen[i], (long)i);
    ck_assert_int_eq(committed_offset(), knobs.count);
    /* the transform's state committed with the acks */
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(sluice_store_kv_get(store, "tag", "last", &last), 0);
    ck_assert_ptr_nonnull(last);
    ck_assert_int_eq(json_integer_value(last), knobs.count - 1);
    json_decref(last);
    sluice_store_close(&store);
}
END_TEST

START_TEST(ipc_units_deliver_everything_and_resume_from_the_checkpoint)
{
    int others = -1;
    char path[400];
    json_t *stats;

    ck_assert_int_eq(run_ipc(&others), SLUICE_STAGE_EXIT_OK);
    ck_assert_int_eq(others, SLUICE_STAGE_EXIT_OK);
    ck_assert_int_eq(check_all_seen(knobs.count, 0), 0);
    ck_assert_int_eq(committed_offset(), knobs.count);
    /* statistics for the --once summary */
    snprintf(path, sizeof(path), "%s/src.stats", runtime_dir);
    stats = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(stats);
    ck_assert_int_eq((long)json_number_value(json_object_get(stats, "records_in")), knobs.count);
    json_decref(stats);
    snprintf(path, sizeof(path), "%s/out.stats", runtime_dir);
    stats = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(stats);
    ck_assert_int_eq((long)json_number_value(json_object_get(stats, "delivered")), knobs.count);
    json_decref(stats);

    /* a second run starts after the committed checkpoint: nothing new */
    seen_count = 0;
    flag_term = 0;
    ck_assert_int_eq(run_ipc(&others), SLUICE_STAGE_EXIT_OK);
    ck_assert_uint_eq(seen_count, 0);
    /* more input appears: only the new records flow */
    knobs.count = 2500;
    flag_term = 0;
    ck_assert_int_eq(run_ipc(&others), SLUICE_STAGE_EXIT_OK);
    ck_assert_uint_eq(seen_count, 500);
    ck_assert_int_eq(seen[0], 2000);
    ck_assert_int_eq(committed_offset(), 2500);
}
END_TEST

START_TEST(rejections_are_parked_in_the_dlq_and_the_rest_delivered)
{
    size_t all[3] = {0, 1, 2};
    char err[256];
    sluice_store *store;

    knobs.reject_every = 10;
    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_OK);
    ck_assert_int_eq(check_all_seen(knobs.count, 10), 0);
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(sluice_store_dlq_count(store), knobs.count / 10);
    sluice_store_close(&store);
}
END_TEST

START_TEST(dlq_replay_records_travel_first_and_leave_the_queue_on_commit)
{
    size_t all[3] = {0, 1, 2};
    char err[256];
    sluice_store *store = sluice_store_open(state_dir, err, sizeof(err));
    json_t *parked = json_pack("{s:i}", "n", 7);
    int64_t id;

    ck_assert_ptr_nonnull(store);
    id = sluice_store_dlq_add(store, "tag", 1, 1, parked, "bad once, fixed since");
    json_decref(parked);
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(sluice_store_replay_add(store, id), 1);
    ck_assert_int_eq(sluice_store_replay_count(store), 1);
    sluice_store_close(&store);

    knobs.count = 300;
    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_OK);
    /* the replayed record came first, then the source's own records */
    ck_assert_uint_eq(seen_count, 301);
    ck_assert_int_eq(seen[0], 7);
    ck_assert_int_eq(seen[1], 0);
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(sluice_store_replay_count(store), 0);
    sluice_store_close(&store);
}
END_TEST

START_TEST(sink_retries_with_backoff_honouring_the_hint)
{
    size_t all[3] = {0, 1, 2};
    struct timespec a, b;
    double elapsed;

    knobs.count = 300;
    knobs.sink_retry_first = 1;
    knobs.retry_hint_s = 0.1;
    pipe_def.batch_size = 100;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    elapsed = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    ck_assert_int_eq(check_all_seen(knobs.count, 0), 0);
    /* every batch was answered RETRY once, and each wait >= the 0.1 s hint */
    ck_assert_int_ge(write_calls, 2 * 3);
    ck_assert_msg(elapsed >= 0.3, "3 retried batches took only %.3f s", elapsed);
}
END_TEST

START_TEST(fatal_sink_stops_the_unit_with_exit_3)
{
    size_t all[3] = {0, 1, 2};

    knobs.sink_fatal = 1;
    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_FATAL);
    ck_assert_int_eq(committed_offset(), -1); /* nothing was committed */
}
END_TEST

START_TEST(rewind_signal_replays_what_was_in_flight)
{
    size_t all[3] = {0, 1, 2};
    char err[256];
    sluice_store *store;
    uint64_t epoch = 0;

    knobs.rewind_after = 500;
    knobs.rewind_flag = &flag_rewind;
    ck_assert_int_eq(sluice_unit_run(&pipe_def, all, 3, 0, 1, &signals), SLUICE_STAGE_EXIT_OK);
    check_all_seen(knobs.count, 0); /* duplicates allowed, nothing missing */
    ck_assert_int_eq(committed_offset(), knobs.count);
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    ck_assert_uint_eq(epoch, 3); /* 1 at start, 2 at the rewind */
    sluice_store_close(&store);
}
END_TEST

/* Receive up to `want` acks, waiting at most `seconds` (the socket's
 * receive timeout is 300 ms). Returns how many. */
static int recv_test_acks(void *pull, uint64_t (*out)[2], int want, double seconds)
{
    double deadline = sluice_monotonic_seconds() + seconds;
    int got = 0;

    while (got < want && sluice_monotonic_seconds() < deadline) {
        char buf[128];
        int len = zmq_recv(pull, buf, sizeof(buf), 0);
        if (len > 0 && len < (int)sizeof(buf) &&
            sluice_wire_decode_ack(buf, (size_t)len, &out[got][0], &out[got][1]) == 0)
            got++;
    }
    return got;
}

START_TEST(stages_take_batches_only_in_sequence_and_ack_only_their_own)
{
    void *zctx = zmq_ctx_new();
    void *push, *pull;
    pthread_t threads[2];
    unit_thread units[2] = {{.stage = 1, .once = 1}, {.stage = 2, .once = 1}};
    uint64_t acked[8][2];
    int acks = 0;

    unit_feed_connect(&pipe_def, 1, zctx, &push, &pull);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, unit_main, &units[i]), 0);

    /* as a restarted stage would see it: the middle of epoch 5 first */
    unit_feed_send(push, 5, 3, 103);
    unit_feed_send(push, 6, 1, 201);
    unit_feed_send(push, 6, 2, 202);
    acks += recv_test_acks(pull, acked + acks, 2, 120);
    unit_feed_send(push, 6, 4, 204); /* 3 is missing: the epoch is broken */
    unit_feed_send(push, 6, 5, 205);
    /* nothing comes (an ack that came late anyway would be taken below in
     * place of 7/1's and fail the test) */
    acks += recv_test_acks(pull, acked + acks, 1, 1);
    unit_feed_send(push, 7, 1, 301); /* the rewind's new epoch */
    acks += recv_test_acks(pull, acked + acks, 1, 120);
    flag_term = 1;
    sluice_unit_wake(); /* runners wait without a timeout */
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(zctx);

    ck_assert_int_eq(acks, 3);
    ck_assert(acked[0][0] == 6 && acked[0][1] == 1);
    ck_assert(acked[1][0] == 6 && acked[1][1] == 2);
    ck_assert(acked[2][0] == 7 && acked[2][1] == 1);
    ck_assert_uint_eq(seen_count, 3);
    ck_assert_int_eq(seen[0], 201);
    ck_assert_int_eq(seen[1], 202);
    ck_assert_int_eq(seen[2], 301);
}
END_TEST

/* Run the pipeline over ipc:// (run_ipc), check every record arrived and
 * the checkpoint reached the end; returns the source's next epoch (2 when
 * the run never rewound, one more per rewind). */
static uint64_t run_ipc_all_delivered(void)
{
    int others = -1;
    char err[256];
    sluice_store *store;
    uint64_t epoch = 0;

    ck_assert_int_eq(run_ipc(&others), SLUICE_STAGE_EXIT_OK);
    check_all_seen(knobs.count, 0);
    ck_assert_int_eq(committed_offset(), knobs.count);
    store = sluice_store_open(state_dir, err, sizeof(err));
    ck_assert_ptr_nonnull(store);
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    sluice_store_close(&store);
    return epoch;
}

/* A sink that answers nothing for longer than ack_timeout_ms makes the
 * source rewind: its first write() holds the batch until the rewind is in
 * the store. The timeout is 2 s, not less: the run after the rewind must
 * get its acks in time, however busy the machine. */
START_TEST(ack_timeout_rewinds_and_nothing_is_lost)
{
    uint64_t epoch;

    knobs.count = 1000;
    knobs.first_write_waits_rewind = 1;
    pipe_def.ack_timeout_ms = 2000;
    epoch = run_ipc_all_delivered();
    ck_assert_uint_ge(epoch, 3); /* at least one rewind happened */
}
END_TEST

/* A slow sink that keeps acknowledging is not rewound, even though the
 * oldest batch of a full window waits longer than ack_timeout_ms: each
 * write() takes 600 ms, the window holds 8 batches (~4.8 s of work) and
 * the timeout is 2.5 s. Rewinding on the oldest batch's age threw the
 * window's work away again and again (seen with a rate-limited sink under
 * faults: the run never ended). Between two acks 1.9 s are to spare for a
 * busy machine's stalls. At most one rewind is allowed, at start,
 * where the first ack also waits for the ipc links to connect; after it
 * the acks of the drained old epoch keep the source from rewinding again. */
START_TEST(slow_sink_with_progress_is_not_rewound)
{
    uint64_t epoch;

    knobs.count = 1000;
    knobs.slow_write_ms = 600;
    pipe_def.window = 8;
    pipe_def.ack_timeout_ms = 2500;
    epoch = run_ipc_all_delivered();
    ck_assert_uint_le(epoch, 3); /* the run's epoch 1, at most the start-up rewind */
}
END_TEST

/* One write() that takes 5 s, twice the 2.5 s ack timeout, but reports
 * progress (as http.c does after each request): the sink's heartbeats (one
 * per quarter timeout) travel up through the transform and the source does
 * not rewind. Without them it rewound mid-write (a 27,000-record Ometria
 * batch at 4 requests/s never got through). The start (links connecting
 * before the first heartbeat) and each heartbeat have seconds to spare
 * for a busy machine's stalls. */
START_TEST(long_write_with_progress_is_not_rewound)
{
    uint64_t epoch;

    knobs.count = 400;
    knobs.long_first_write_ms = 5000;
    pipe_def.ack_timeout_ms = 2500;
    epoch = run_ipc_all_delivered();
    ck_assert_uint_eq(epoch, 2); /* the run's epoch 1, no rewind */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Supervisor: real processes.                                         */
/* ------------------------------------------------------------------ */

/* Count lines of the sink's output file (values below `count`); checks
 * that every n below the number of distinct values was seen. */
static long output_lines(const char *path, long count, long *dups)
{
    FILE *f = fopen(path, "r");
    char line[128];
    long lines = 0;
    char *hit = calloc((size_t)count, 1);

    ck_assert_ptr_nonnull(hit);
    *dups = 0;
    if (f) {
        while (fgets(line, sizeof(line), f)) {
            char *end = NULL;
            long n = strtol(line, &end, 10);
            ck_assert_msg(end != line && n >= 0 && n < count, "bad output line %s", line);
            ck_assert_msg(strstr(line, " x") != NULL, "record %ld not tagged", n);
            if (hit[n])
                (*dups)++;
            hit[n] = 1;
            lines++;
        }
        fclose(f);
    }
    for (long n = 0; n < lines - *dups; n++)
        ck_assert_msg(hit[n], "record %ld missing from the output", n);
    free(hit);
    return lines;
}

/* Run sluice_run_pipelines in a child with stdout to `stdout_path`;
 * returns the child's pid. */
static pid_t spawn_run(int once, const char *stdout_path)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sluice_pipeline_def *defs[1] = {&pipe_def};
        sluice_run_options opts = {.once = once};
        if (!freopen(stdout_path, "w", stdout))
            _exit(99);
        _exit(sluice_run_pipelines(defs, 1, &opts));
    }
    return pid;
}

/* Wait for `pid` at most `seconds` (a bound on a failure: give minutes);
 * returns its exit status or -1. */
static int wait_exit(pid_t pid, int seconds)
{
    int status = 0;

    for (int i = 0; i < seconds * 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_ms(50);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[4096];
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(supervisor_restarts_a_crashed_sink_and_loses_nothing)
{
    char out[400], marker[400], summary[400];
    long dups = 0;
    const char *text;

    snprintf(out, sizeof(out), "%s/out.txt", tmpdir);
    snprintf(marker, sizeof(marker), "%s/crashed", tmpdir);
    snprintf(summary, sizeof(summary), "%s/stdout", tmpdir);
    knobs.out_path = out;
    knobs.crash_marker = marker; /* the sink aborts on its 4th write, once */
    ck_assert_int_eq(wait_exit(spawn_run(1, summary), 300), 0);
    ck_assert_int_eq(access(marker, F_OK), 0); /* it did crash */
    ck_assert_int_ge(output_lines(out, knobs.count, &dups), knobs.count);
    ck_assert_int_eq(committed_offset(), knobs.count);
    text = read_file(summary);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "pipeline unit: 2000 records in, ") != NULL, "summary: %s", text);
    ck_assert_msg(strstr(text, " 0 rejected, 0 events derived, elapsed ") != NULL, "summary: %s",
                  text);
}
END_TEST

START_TEST(supervisor_once_exits_2_when_records_were_rejected)
{
    char out[400], summary[400];
    const char *text;

    snprintf(out, sizeof(out), "%s/out.txt", tmpdir);
    snprintf(summary, sizeof(summary), "%s/stdout", tmpdir);
    knobs.out_path = out;
    knobs.reject_every = 100;
    ck_assert_int_eq(wait_exit(spawn_run(1, summary), 300), SLUICE_EXIT_REJECTED);
    text = read_file(summary);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "2000 records in, 1980 delivered, 20 rejected") != NULL,
                  "summary: %s", text);
}
END_TEST

START_TEST(supervisor_stops_on_a_fatal_stage_with_exit_3)
{
    char summary[400];

    snprintf(summary, sizeof(summary), "%s/stdout", tmpdir);
    knobs.sink_fatal = 1;
    ck_assert_int_eq(wait_exit(spawn_run(1, summary), 300), SLUICE_EXIT_FATAL);
}
END_TEST

START_TEST(sigterm_drains_and_commits_exactly_what_was_delivered)
{
    char out[400], summary[400];
    long dups = 0, lines;
    pid_t pid;

    snprintf(out, sizeof(out), "%s/out.txt", tmpdir);
    snprintf(summary, sizeof(summary), "%s/stdout", tmpdir);
    knobs.out_path = out;
    knobs.count = 1000000;     /* far more than fits in the time */
    knobs.slow_write_ms = 20;
    pid = spawn_run(0, summary);
    /* stop it mid-stream: once records arrive (a wait bounded by minutes),
     * and a little later (pacing, not waiting for anything) */
    for (double deadline = sluice_monotonic_seconds() + 300;
         sluice_monotonic_seconds() < deadline;) {
        struct stat st;
        if (stat(out, &st) == 0 && st.st_size > 0)
            break;
        sleep_ms(50);
    }
    sleep_ms(300);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid, 300), 0);
    lines = output_lines(out, knobs.count, &dups);
    ck_assert_int_gt(lines, 0);
    ck_assert_int_eq(dups, 0);
    /* everything delivered was committed, nothing more */
    ck_assert_int_eq(committed_offset(), lines);
}
END_TEST

static Suite *stage_suite(void)
{
    Suite *s = suite_create("stage");
    TCase *logic = tcase_create("logic");
    TCase *runs = tcase_create("runs");
    TCase *procs = tcase_create("processes");

    tcase_add_checked_fixture(logic, setup, teardown);
    tcase_set_timeout(logic, 120);
    tcase_add_test(logic, window_commits_only_the_acknowledged_prefix);
    tcase_add_test(logic, reorder_holds_until_asked_and_drops_replaced_epochs);
    tcase_add_test(logic, restart_delay_doubles_up_to_its_cap);
    tcase_add_test(logic, crash_log_counts_only_the_window);
    tcase_add_test(logic, nospace_waits_longer_and_logs_once_a_minute);
    tcase_add_test(logic, endpoints_follow_the_stage_options);
    suite_add_tcase(s, logic);

    tcase_add_checked_fixture(runs, setup, teardown);
    tcase_set_timeout(runs, 300);
    tcase_add_test(runs, grouped_unit_delivers_everything_in_order_and_commits);
    tcase_add_test(runs, ipc_units_deliver_everything_and_resume_from_the_checkpoint);
    tcase_add_test(runs, rejections_are_parked_in_the_dlq_and_the_rest_delivered);
    tcase_add_test(runs, dlq_replay_records_travel_first_and_leave_the_queue_on_commit);
    tcase_add_test(runs, sink_retries_with_backoff_honouring_the_hint);
    tcase_add_test(runs, fatal_sink_stops_the_unit_with_exit_3);
    tcase_add_test(runs, rewind_signal_replays_what_was_in_flight);
    tcase_add_test(runs, ack_timeout_rewinds_and_nothing_is_lost);
    tcase_add_test(runs, slow_sink_with_progress_is_not_rewound);
    tcase_add_test(runs, long_write_with_progress_is_not_rewound);
    tcase_add_test(runs, stages_take_batches_only_in_sequence_and_ack_only_their_own);
    tcase_add_test(runs, instances_deal_batches_out_and_the_sink_gets_them_in_order);
    suite_add_tcase(s, runs);

    tcase_add_checked_fixture(procs, setup, teardown);
    tcase_set_timeout(procs, 600);
    tcase_add_test(procs, supervisor_restarts_a_crashed_sink_and_loses_nothing);
    tcase_add_test(procs, supervisor_once_exits_2_when_records_were_rejected);
    tcase_add_test(procs, supervisor_stops_on_a_fatal_stage_with_exit_3);
    tcase_add_test(procs, sigterm_drains_and_commits_exactly_what_was_delivered);
    suite_add_tcase(s, procs);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stage_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
