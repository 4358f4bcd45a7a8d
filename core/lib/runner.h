/* runner.h: one stage runner (a plugin instance driven over ZeroMQ with
 * the ack protocol of docs/architecture.md), shared by the files that
 * implement it: runner.c (steps every role shares), runner_replay.c
 * (replay batches), runner_dlqlog.c (parkings told at warn), runner_stats.c (the statistics file), link.c
 * (sockets, batches, acks, heartbeats), run_source.c, run_transform.c,
 * run_sink.c (one loop per role) and unit.c (a placement unit's threads).
 * Internal to core/lib. */
#ifndef SLUICE_RUNNER_H
#define SLUICE_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <zmq.h>

#include "batch.h"
#include "ctx.h"
#include "log.h"
#include "reorder.h"
#include "stage.h"

/* Backoff of whole-call retries (poll/process/write returned RETRY). */
#define RETRY_BASE_MS 200L
/* Source pacing after SLUICE_AGAIN (the shortest pause before poll() again
 * also when the plugin gave a wake fd) and (without --once) SLUICE_EOF. */
#define AGAIN_IDLE_MS 10L
#define EOF_IDLE_MS 200L
/* Acks are tiny; their queues must never be what blocks a stage. */
#define ACK_HWM 100000
/* Linger on a graceful close, so the last acks reach their peer. */
#define GRACEFUL_LINGER_MS 1000
/* Acks waiting for an upstream peer (e.g. one that is restarting). */
#define PENDING_ACKS_MAX 4096
/* The statistics file is rewritten at most this often (and at exit). */
#define STATS_INTERVAL_MS 250
/* A sink busy in one long write() tells upstream it is alive this often
 * (or every ack_timeout_ms / 4 if that is shorter). */
#define HEARTBEAT_MS 1000

/* DLQ parkings logged one by one per window (runner_dlqlog.c); the rest of
 * the window's are summed up in one line when it ends. */
#define DLQ_LOG_LINES 5
#define DLQ_LOG_WINDOW_MS 10000
/* Distinct reasons a summary counts apart (the others as "other reasons"). */
#define DLQ_LOG_REASONS 8

typedef struct runner_dlq_reason {
    char text[160];                   /* the reason, cut at 159 bytes */
    unsigned long count;
} runner_dlq_reason;

typedef struct runner_dlq_log {
    int64_t window_start;             /* first parking of the window; 0: none */
    unsigned long parked, logged;     /* parkings in the window, lines for them */
    runner_dlq_reason reasons[DLQ_LOG_REASONS];
    size_t reason_count;
    unsigned long other_count;        /* parkings whose reason found no slot */
} runner_dlq_log;

/* What a runner counts for the admin endpoint (docs/operations.md,
 * "Metrics, health, status"), written to its statistics file with the
 * --once counts. Counters only: no work per record beyond an increment. */
#define RUNNER_LATENCY_BUCKETS 13      /* + the +Inf bucket */
#define RUNNER_DLQ_CLASSES 6
extern const double runner_latency_bounds[RUNNER_LATENCY_BUCKETS];
extern const char *const runner_dlq_class_names[RUNNER_DLQ_CLASSES];
typedef struct runner_metrics {
    uint64_t received;                /* records taken in: polled (source), in
                                         the batches handled (others) */
    uint64_t sent;                    /* records passed downstream; a sink's
                                         are `delivered` */
    uint64_t rejected;                /* records this stage parked in the DLQ */
    uint64_t dlq[RUNNER_DLQ_CLASSES]; /* ... by reason class */
    uint64_t batches;                 /* batches handled (sent, for a source) */
    uint64_t latency[RUNNER_LATENCY_BUCKETS + 1]; /* source: send-to-ack
                                         latency of its batches, per bucket
                                         (not cumulative), last = +Inf */
    double latency_sum;
    uint64_t latency_count;
    uint64_t in_flight;               /* source: batches sent, not committed */
    double last_commit;               /* wall clock (s) of the last commit
                                         (source) or acked batch (others);
                                         0: none */
} runner_metrics;

typedef struct runner {
    const sluice_pipeline_def *pipeline;
    const sluice_stage_def *stage;
    size_t index;
    unsigned instance;                /* k of a stage run as several processes
                                         (1..instances), else 0 */
    char label[SLUICE_ENDPOINT_MAX];  /* stage name, "#k" added for instance k:
                                         logs, statistics file */
    int parallel;                     /* one of several instances: sees some of
                                         the batches, in any order */
    sluice_reorder reorder;           /* downstream of a parallel stage: batches
                                         that came before their predecessors */
    int once;
    void *zctx;                       /* borrowed: the unit's context */
    int inproc_in;                    /* upstream is a thread of this unit */
    int inproc_out;                   /* downstream is a thread of this unit */
    const sluice_unit_signals *signals;
    volatile int *unit_stop;          /* set when the unit must wind down */
    int unit_has_source;

    sluice_ctx ctx;
    void *plugin_state;
    int plugin_ready;                 /* init() succeeded, fini() owed */

    int setup_fatal;                  /* setup failed in a way a restart cannot
                                         fix (a key file): exit FATAL */
    long long frame_max_out;          /* largest frame downstream takes (its
                                         max_frame_bytes); 0 on inproc */
    void *data_in;                    /* PULL, bound: batches from upstream */
    void *ack_out;                    /* PUSH, bound: acks to upstream */
    void *data_out;                   /* PUSH, connected: batches downstream */
    void *ack_in;                     /* PULL, connected: acks from downstream */

    uint64_t pending_acks[PENDING_ACKS_MAX][2]; /* (epoch, id) not yet sent */
    size_t pending_head, pending_count;

    uint64_t epoch;                   /* current source incarnation */
    uint64_t last_id;                 /* non-source: last batch of `epoch` this
                                         process handled (they run 1..last_id) */
    int epoch_broken;                 /* non-source: a batch of `epoch` is missing
                                         here; wait for the source's rewind */
    int source_store;                 /* the source allocates its epochs in this
                                         runner's store (SLUICE_UNIT_SOURCE_STORE) */
    uint64_t source_epoch;            /* newest epoch the source was seen to have
                                         allocated there (a cache) */
    int64_t refusal_logged_ms;        /* epoch refusals: last line logged */
    unsigned long refusals_unlogged;  /* ... and those counted since */
    uint64_t rng;                     /* xorshift state for jitter */

    /* statistics for the --once summary (see sluice_stage_stats_path) */
    char stats_path[SLUICE_ENDPOINT_MAX];
    double base_in, base_delivered, base_events;
    uint64_t records_in;              /* source: records of committed batches */
    uint64_t delivered;               /* sink: records DONE */
    int64_t stats_written_ms;
    runner_metrics m;                 /* for the admin endpoint (see above) */
    double stats_written_sig;         /* what the file last written counted
                                         (a file unchanged is not rewritten) */
    int64_t heartbeat_ms;             /* sink: last heartbeat sent upstream */
    int result;                       /* exit code when run as a thread */
    runner_dlq_log dlq_log;           /* parkings told at warn (runner_dlqlog.c) */
    int wake_fd;                      /* eventfd sluice_unit_wake() writes (wake.h):
                                         a flag changed; -1 if none */
    int store_watch_fd;               /* source: inotify on the state directory (a
                                         `sluice dlq replay` writes the store);
                                         -1 if none */
} runner;

#define RLOG(r, level, ...) \
    sluice_log_write((r)->pipeline->name, (r)->label, (level), __VA_ARGS__)


/* ------------------------------------------------------------------ */
/* Steps every role shares (runner.c).                                */
/* ------------------------------------------------------------------ */

/* Uniform double in [0, 1) from the runner's xorshift64* generator (jitter). */
double runner_random(runner *r);

/* 1 when the runner must leave now: the unit winds down, or (outside a
 * unit holding the source) the process was asked to stop. */
int runner_must_quit(const runner *r);

/* Log the plugin's fatal message the way a person reads it. */
void runner_log_fatal(runner *r, const char *callback);

/* Call the plugin's init(). Returns SLUICE_STAGE_EXIT_OK, _ERROR or _FATAL. */
int runner_plugin_init(runner *r);

/* Call fini() if init() succeeded. */
void runner_plugin_fini(runner *r);

/* Park every rejected record of `batch` in the dead-letter queue, with the
 * name of the stage that rejected it. Returns 0, or -1 if the store failed
 * (the batch must then not go further: it will be replayed). */
int runner_park_rejected(runner *r, sluice_batch *batch);

/* Batches of an epoch more than this far ahead of a stage's own are
 * refused: the source allocates one epoch per start or rewind, so even a
 * rewind every 100 ms takes 13 years to get there. */
#define SLUICE_EPOCH_AHEAD_MAX (1ULL << 32)

/* Outcomes of runner_epoch_check. */
#define RUNNER_EPOCH_OK 0
#define RUNNER_EPOCH_ABSURD 1      /* more than SLUICE_EPOCH_AHEAD_MAX ahead */
#define RUNNER_EPOCH_UNALLOCATED 2 /* newer than the source ever allocated */

/* The epoch rule for a batch of epoch `offered`, newer than the stage's
 * `current` one (docs/architecture.md, "Epochs"): refused when it is more
 * than SLUICE_EPOCH_AHEAD_MAX ahead, or, for a stage that `shares_store`
 * with the source, when it is newer than `source_newest`, the newest epoch
 * the source allocated there (0: none). Returns RUNNER_EPOCH_OK or the
 * refusal (RUNNER_EPOCH_ABSURD, RUNNER_EPOCH_UNALLOCATED). */
int runner_epoch_check(uint64_t current, uint64_t offered, int shares_store,
                       uint64_t source_newest);

/* The earlier of two deadlines (sluice_clock_ms), 0 standing for none. */
int64_t runner_earliest(int64_t a, int64_t b);

/* Decide whether a non-source stage handles `batch`. A batch of a newer
 * epoch than the stage's must pass runner_epoch_check first (refusals are
 * logged at warn, at most every 10 s). An instance of a
 * stage run as several processes takes any batch not older than its
 * epoch (it keeps no state). Any other stage's state must be built from
 * an unbroken run of batches: it adopts an epoch only at its
 * first batch (id 1, the source's announcement of the epoch) and then
 * takes ids in sequence. A batch of an older
 * epoch, a duplicate, or a batch whose predecessors this process never saw
 * (it was restarted, or a batch was lost) is destroyed unhandled: no ack
 * flows for it and the source's rewind (SIGUSR1 from the supervisor, or its
 * ack timeout) replays it under a new epoch. Returns 1 if the batch is to
 * be handled, 0 if it was destroyed. */
int runner_adopt_epoch(runner *r, sluice_batch **batch_p);

/* Hand `batch` (stolen) to `handle` (transform_batch or sink_batch) in id
 * order. Behind a stage run as one process batches arrive in order and go
 * straight through. Behind a parallel stage a batch that came before a
 * predecessor is held, and after each batch handled the held one that is
 * next goes too; a rewind's new epoch drops the held ones it replaced. A
 * batch that finds the buffer full is dropped (logged): it is lost as if
 * its instance died, and the source's ack timeout replays it. Returns the
 * exit code of the last handle() call (SLUICE_STAGE_EXIT_OK if none). */
int runner_handle_in_order(runner *r, sluice_batch *batch,
                           int (*handle)(runner *, sluice_batch *));

/* ------------------------------------------------------------------ */
/* Parkings told at warn (runner_dlqlog.c).                           */
/* ------------------------------------------------------------------ */

/* Tell that record `i` of `batch`, rejected by stage `by` for `reason`,
 * was parked as DLQ entry `dlq_id`: one warn line each for the first
 * DLQ_LOG_LINES of a DLQ_LOG_WINDOW_MS window, counted by reason after
 * that (runner_park_rejected calls it; replayed records are told by
 * runner_log_reparked instead). */
void runner_dlq_log_parked(runner *r, const sluice_batch *batch, size_t i, const char *by,
                           const char *reason, int64_t dlq_id);

/* When the current window's summary is due (sluice_clock_ms), or 0 when
 * no parking waits to be summed up: a deadline for the runner's wait. */
int64_t runner_dlq_log_due(const runner *r);

/* Log the window's summary line if the window ended (or `force`, at the
 * runner's end) and records were counted without a line; start over. */
void runner_dlq_log_flush(runner *r, int force);

/* ------------------------------------------------------------------ */
/* Replay batches: `sluice dlq replay` (runner_replay.c).             */
/* ------------------------------------------------------------------ */

/* 1 when `batch` is a replay batch whose records re-enter at a stage
 * after this one: this stage passes it on untouched (no process(), no
 * state staged), taking part only in its sequence and its ack. 0 for any
 * other batch, and when the stage named is unknown here. */
int runner_passes_replay(const runner *r, const sluice_batch *batch);

/* Log at warn that the replayed record in `slot` was parked again by
 * stage `by` for `reason`, as DLQ entry `dlq_id`, with the reasons it was
 * parked for before (its history). runner_park_rejected calls it for each
 * replayed record it parks, after storing the entry with that history. */
void runner_log_reparked(runner *r, const sluice_batch_slot *slot, const char *by,
                         const char *reason, int64_t dlq_id);

/* After process() or write() (and runner_park_rejected): log at info
 * what became of each record of `batch` that `sluice dlq replay` sent
 * back, unless it was parked again (runner_log_reparked said so):
 * dropped by this stage, with the plugin's reason if it gave one, or, at
 * the sink, delivered; each line with the reasons it was parked for. */
void runner_log_replayed(runner *r, const sluice_batch *batch);

/* ------------------------------------------------------------------ */
/* Statistics file (runner_stats.c).                                  */
/* ------------------------------------------------------------------ */

/* Read the counters a previous incarnation of this stage left in its
 * statistics file (the supervisor removes the files when a run starts),
 * then write the file (so the stage and its pid show at once). */
void runner_stats_load(runner *r);

/* Write the statistics file (atomically: temp file + rename), at most
 * every STATS_INTERVAL_MS unless `force`: the --once counts, r->m, the
 * process's counters for this stage (sluice_metrics: HTTP requests,
 * retries, status classes, throttle wait, the plugin's own), the last
 * error logged in this process and when. Failures only cost the summary
 * and the metrics. */
void runner_stats_save(runner *r, int force);

/* When the statistics file must be written again (sluice_clock_ms): the
 * end of the STATS_INTERVAL_MS after the last write when the counters
 * changed since, else 0 (nothing due). A deadline for the runner's wait,
 * which has no tick to call runner_stats_save(r, 0) by. */
int64_t runner_stats_due(runner *r);

/* Index into runner_dlq_class_names of the class of a DLQ `reason` (NULL
 * allowed): "too_large", "missing_field", "invalid", "refused" (the
 * destination said no), "stale", else "other". */
size_t runner_dlq_class(const char *reason);

/* Count one record parked with `reason` (runner_park_rejected). */
void runner_stats_parked(runner *r, const char *reason);

/* Count one batch acknowledged `seconds` after it was sent (source). */
void runner_stats_ack_latency(runner *r, double seconds);

/* ------------------------------------------------------------------ */
/* Links: sockets, batches, acks (link.c).                            */
/* ------------------------------------------------------------------ */

/* Open the runner's sockets: its own input (bound) unless it is the source,
 * and the link to its downstream (connected) unless it is the sink. A
 * downstream stage run as N instances gets one connection per instance on
 * both sockets: PUSH deals batches out round-robin among the instances that
 * are up (ZMQ_IMMEDIATE: none queue for a dead one), PULL takes their acks
 * fairly. Between processes every socket bounds what it receives
 * (ZMQ_MAXMSGSIZE: the input's max_frame_bytes, acks 1 KiB); a tcp link
 * with keys is CURVE, the bound side a server whose clients the context's
 * ZAP handler admits (zap.h; domain = the stage name), the connecting side
 * a client with the stage's key pair; a tcp link off loopback without
 * keys is warned about. Returns 0 or -1 (logged; r->setup_fatal set when
 * the stage's key file is missing or wrong). */
int link_open(runner *r);

/* Close every socket. Batches still queued on an inproc link are freed
 * when ZeroMQ closes their messages (link.c, batch_box), so a stop leaks
 * nothing whichever stage of a unit closes first. */
void link_close(runner *r, int graceful);

/* Send a batch downstream (stolen, also on failure): its pointer on an
 * inproc link, its wire encoding (zero-copy) otherwise. A frame over the
 * next stage's max_frame_bytes (which would cost its connection, and
 * again at every replay) first has its largest records rejected and parked
 * in the dead-letter queue until the rest fits. Blocks while the
 * downstream queue is full (backpressure), serving acks meanwhile (non-
 * source stages), until runner_must_quit(). Returns 0, or -1 (batch
 * dropped: it will be replayed). */
int link_send_batch(runner *r, sluice_batch *batch);

/* Receive one batch if one is waiting. Returns the batch (caller owns), or
 * NULL when none is waiting or the frame was corrupt (logged, dropped). */
sluice_batch *link_recv_batch(runner *r);

/* Send the acks waiting in the runner's queue upstream, oldest first,
 * without blocking: a bound PUSH has no peer while the upstream stage is
 * (re)connecting, so what cannot go now stays queued for the next call. */
void link_flush_acks(runner *r);

/* Queue the ack of batch (epoch, id) for upstream and send what can go.
 * Never blocks. When the queue is full the oldest ack is dropped (the
 * source's ack timeout then replays its batch). */
void link_send_ack(runner *r, uint64_t epoch, uint64_t id);

/* The sink's ctx->progress hook: while write() works through a long batch
 * (hundreds of rate-limited requests), send upstream at most one heartbeat
 * a second (or per quarter ack_timeout_ms): an ack frame with id 0 for the
 * batch's epoch. Transforms pass it on without committing; the source takes any ack as a sign of life and
 * does not rewind a sink that is slow but working. */
void link_sink_heartbeat(sluice_ctx *ctx);

/* Transforms: take every ack waiting from downstream, commit the stage's
 * staged state up to that batch, THEN pass the ack upstream, so state is
 * committed downstream-first and the source's checkpoint last. */
void link_forward_acks(runner *r);

/* Wait in zmq_poll on `items` (`n` of them, at most LINK_POLL_MAX - 1) and
 * the runner's wake fd until one is ready or `timeout_ms` passed (-1: no
 * timeout; nothing but a wake-up, a socket or an fd of `items` ends it).
 * A wake-up is consumed here: the caller looks at its flags after any
 * return. Returns how many of `items` are ready (their revents set), 0
 * after a timeout or a wake-up alone, -1 on an error (EINTR). */
#define LINK_POLL_MAX 8
int link_poll(runner *r, zmq_pollitem_t *items, int n, long timeout_ms);

/* Milliseconds from now to `deadline` (sluice_clock_ms), at least 0; -1
 * when `deadline` is 0 (none): the timeout for link_poll. */
long link_timeout(int64_t deadline);

/* Wait up to `ms`, serving acks (transforms), sending a sink's heartbeat
 * (its ctx.progress hook: a backoff between two write() calls, stretched
 * by a Retry-After hint, may outlast ack_timeout_ms) and watching the quit
 * flags. Returns 0 after the full wait, -1 as soon as runner_must_quit(). */
int link_wait(runner *r, long ms);

/* ------------------------------------------------------------------ */
/* One loop per role (run_source.c, run_transform.c, run_sink.c).     */
/* ------------------------------------------------------------------ */

/* The source runner's loop. Returns an exit code. */
int run_source(runner *r);

/* The transform runner's loop. Returns an exit code. */
int run_transform(runner *r);

/* The sink runner's loop. Returns an exit code. */
int run_sink(runner *r);
#endif
