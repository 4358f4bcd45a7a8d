/* stage.h: the stage runners (source, transform, sink) that drive one
 * plugin instance over ZeroMQ with the ack protocol, placement units (the
 * stages one process runs as threads), and the small pieces of their logic
 * that are tested on their own (in-flight window, backoff). Implemented in
 * stage.c; the protocol is described in docs/architecture.md. */
#ifndef SLUICE_STAGE_H
#define SLUICE_STAGE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "pipeline.h"

/* Exit codes of a stage runner, a placement unit and its process. */
#define SLUICE_STAGE_EXIT_OK 0     /* finished or stopped gracefully */
#define SLUICE_STAGE_EXIT_ERROR 1  /* failed: the supervisor restarts it */
#define SLUICE_STAGE_EXIT_FATAL 3  /* SLUICE_FATAL: do not restart */

/* Drain bound on graceful stop: in-flight batches get this long to be
 * acknowledged before the source gives up waiting (replay covers them). */
#define SLUICE_DRAIN_TIMEOUT_MS 30000L

/* Longest endpoint string (ipc paths are further limited by the OS). */
#define SLUICE_ENDPOINT_MAX 512

/* ------------------------------------------------------------------ */
/* In-flight window of a source: batches sent and not yet committed.  */
/* ------------------------------------------------------------------ */
typedef struct sluice_window_entry {
    uint64_t id;          /* batch id within the current epoch */
    json_t *checkpoint;   /* owned; NULL if the batch carried none */
    size_t records;       /* records the source polled into the batch */
    int64_t sent_ms;      /* monotonic time it was sent */
    int done;             /* acknowledged end to end */
} sluice_window_entry;

typedef struct sluice_window {
    sluice_window_entry *entries; /* ring of `capacity` entries */
    size_t capacity;
    size_t head;          /* index of the oldest entry */
    size_t count;
} sluice_window;

/* Prepare an empty window for up to `capacity` (>= 1) batches. Returns 0,
 * or -1 on allocation failure. Release with sluice_window_clear(w, 1). */
int sluice_window_init(sluice_window *w, size_t capacity);

/* Forget every entry (their checkpoints are freed); with `release` also
 * free the ring itself. */
void sluice_window_clear(sluice_window *w, int release);

/* Append a sent batch. Ids must increase. `checkpoint` is stolen (may be
 * NULL). Returns 0, or -1 when the window is full or the id is not newer
 * than the last one (the checkpoint is freed in both cases). */
int sluice_window_push(sluice_window *w, uint64_t id, json_t *checkpoint,
                       size_t records, int64_t sent_ms);

/* Mark batch `id` acknowledged. Returns 0, or 1 when no such batch is in
 * flight (a duplicate or stale ack: harmless). */
int sluice_window_ack(sluice_window *w, uint64_t id);

/* Remove the acknowledged batches at the old end of the window, in order,
 * stopping at the first one not yet acknowledged. Returns how many were
 * removed. *last_id gets the id of the last one removed, *checkpoint (if
 * not NULL) the newest non-NULL checkpoint among them (new reference, or
 * NULL when none carried one), *records the sum of their records. */
size_t sluice_window_pop_done(sluice_window *w, uint64_t *last_id, json_t **checkpoint,
                              size_t *records);

/* Send time of the oldest batch in flight, or -1 when the window is empty. */
int64_t sluice_window_oldest_sent(const sluice_window *w);

/* ------------------------------------------------------------------ */
/* Re-sequencing after a parallel stage.                              */
/* ------------------------------------------------------------------ */

/* Batches that reached the stage after a parallel one (instances > 1)
 * before a batch with a lower id of their epoch: held until it comes, so
 * the stage still takes each epoch's ids in order. A plain array scanned
 * linearly: it holds at most a window of batches. */
typedef struct sluice_reorder {
    sluice_batch **held;   /* `count` batches (owned), in no order */
    size_t capacity;
    size_t count;
} sluice_reorder;

/* Prepare an empty buffer for up to `capacity` (>= 1) batches. Returns 0
 * or -1 on allocation failure. Release with sluice_reorder_clear(q, 1). */
int sluice_reorder_init(sluice_reorder *q, size_t capacity);

/* Destroy every held batch; with `release` also free the array. */
void sluice_reorder_clear(sluice_reorder *q, int release);

/* Hold `batch` (stolen). Returns 0, or -1 when the buffer is full or holds
 * a batch with the same epoch and id already (`batch` destroyed). */
int sluice_reorder_hold(sluice_reorder *q, sluice_batch *batch);

/* Take out the held batch (epoch, id): returns it (caller owns) or NULL. */
sluice_batch *sluice_reorder_take(sluice_reorder *q, uint64_t epoch, uint64_t id);

/* Destroy the held batches of epochs before `epoch` (a rewind replaced
 * them). Returns how many. */
size_t sluice_reorder_drop_before(sluice_reorder *q, uint64_t epoch);

/* ------------------------------------------------------------------ */
/* Delays.                                                            */
/* ------------------------------------------------------------------ */

/* Exponential backoff with full jitter for retry number `attempt` (0 for
 * the first retry): a delay in [0, min(cap_ms, base_ms * 2^attempt)]
 * picked with `random01` in [0, 1), but at least `hint_s` seconds (a
 * plugin's Retry-After hint) when that is > 0. */
long sluice_backoff_ms(unsigned attempt, long base_ms, long cap_ms, double hint_s,
                       double random01);

/* ------------------------------------------------------------------ */
/* Endpoints.                                                         */
/* ------------------------------------------------------------------ */

/* Input endpoints of stage `index`: where its data PULL and its ack PUSH
 * bind, and where its upstream connects. `inproc` selects the in-process
 * form used between threads of one unit. Otherwise: the stage's
 * `endpoint` option (tcp://host:P binds data at P and acks at P+1;
 * ipc://PATH uses PATH and PATH.ack), else ipc://<runtime_dir>/<stage>.data
 * and .ack; for `instance` k > 0 of a stage run as several processes
 * ipc://<runtime_dir>/<stage>#k.data and .ack (pass 0 otherwise).
 * Returns 0, or -1 with a message in errbuf (endpoint too long, bad tcp
 * port). */
int sluice_stage_endpoints(const sluice_pipeline_def *pipeline, size_t index,
                           unsigned instance, int inproc, char *data, size_t data_len,
                           char *ack, size_t ack_len, char *errbuf, size_t errlen);

/* The name a process of stage `index` goes by in logs, statistics and pid
 * files: the stage name, with "#k" for instance k > 0. Returns 0, or -1 if
 * it does not fit in `len`. */
int sluice_stage_label(const sluice_pipeline_def *pipeline, size_t index, unsigned instance,
                       char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Placement units.                                                   */
/* ------------------------------------------------------------------ */

/* Process-wide flags a unit's signal handlers set (see supervisor.c). */
typedef struct sluice_unit_signals {
    volatile sig_atomic_t *term;   /* graceful stop asked (SIGTERM/SIGINT) */
    volatile sig_atomic_t *rewind; /* the source must rewind (SIGUSR1) */
    volatile sig_atomic_t *hard;   /* stop now, without draining (SIGUSR2) */
} sluice_unit_signals;

/* Run the stages listed in `stages` (indexes into pipeline->stages, `n` of
 * them) in the calling process: one thread per stage (the calling thread
 * runs the last one), linked by inproc:// where two neighbours are both in
 * the unit and by their endpoints otherwise. `instance` is k (1..instances)
 * when the unit is instance k of a stage run as several processes (then
 * `n` is 1), else 0. All plugins must be loaded already. `once` is sluice
 * run --once. A unit that holds the source finishes when the source
 * finishes (stopping its other stages); any other unit finishes when
 * *signals->term is set. Returns the worst exit code of its stages:
 * SLUICE_STAGE_EXIT_OK, _ERROR or _FATAL. */
int sluice_unit_run(const sluice_pipeline_def *pipeline, const size_t *stages, size_t n,
                    unsigned instance, int once, const sluice_unit_signals *signals);

/* Name of the per-process statistics file (JSON, written by the runners,
 * read by the supervisor for the --once summary):
 * <runtime_dir>/<label>.stats, `label` from sluice_stage_label. Returns 0
 * or -1 if it does not fit. */
int sluice_stage_stats_path(const sluice_pipeline_def *pipeline, const char *label,
                            char *buf, size_t len);

/* Name of the plugin metric counting derived events, summed in the
 * --once summary. */
#define SLUICE_METRIC_EVENTS_DERIVED "sluice_plugin_events_derived_total"
#endif
