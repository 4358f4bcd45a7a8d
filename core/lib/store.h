/* store.h: the pipeline's durable state in one SQLite database (WAL) under
 * the state directory: epochs, source checkpoints, per-stage key/value
 * state with writes staged per batch, the dead-letter queue and plugin
 * spools. Every process of a pipeline opens the same file; each stage
 * writes only its own rows. Implemented in store.c. */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdint.h>
#include <jansson.h>

typedef struct sluice_store sluice_store;

/* Open (creating if needed) <state_dir>/state.db, with WAL and a busy
 * timeout. Creates state_dir if missing (0700). state.db, -wal and -shm
 * left readable by others (by an older sluice) are made owner-only
 * (logged). Returns the store (caller owns; sluice_store_close) or NULL
 * with a message in errbuf. */
sluice_store *sluice_store_open(const char *state_dir, char *errbuf, size_t errlen);

/* 1 if the last failure of a store call in this process (opening a store
 * included) was a full disk or quota (SQLite's "database or disk is
 * full", or ENOSPC/EDQUOT) and no transaction has committed since; else
 * 0. A stage that fails on it exits SLUICE_STAGE_EXIT_NOSPACE, which the
 * supervisor retries without counting it as a crash. Thread-safe. */
int sluice_store_out_of_space(void);

/* Close and NULL the caller's pointer. Safe on NULL. */
void sluice_store_close(sluice_store **store_p);

/* Allocate the next source epoch for `stage` (durably incremented, starts
 * at 1). Returns 0 or -1. */
int sluice_store_next_epoch(sluice_store *store, const char *stage, uint64_t *epoch);

/* The newest epoch source `stage` allocated (0 if it never did), without
 * allocating one. Returns 0 or -1. */
int sluice_store_epoch_get(sluice_store *store, const char *stage, uint64_t *epoch);

/* Last committed checkpoint of a source stage (new reference in *out, or
 * NULL if none). Returns 0 or -1. */
int sluice_store_checkpoint_get(sluice_store *store, const char *stage, json_t **out);

/* Durably record a source checkpoint. Returns 0 or -1. */
int sluice_store_checkpoint_set(sluice_store *store, const char *stage, const json_t *cp);

/* ---- per-stage key/value state, committed with acknowledgements ---- */

/* Committed value (new reference in *out, NULL if absent). 0 or -1. */
int sluice_store_kv_get(sluice_store *store, const char *stage, const char *key, json_t **out);

/* Apply a set of writes atomically: `writes` is an object key -> value,
 * where JSON null deletes the key. Returns 0 or -1. */
int sluice_store_kv_apply(sluice_store *store, const char *stage, const json_t *writes);

/* Iterate committed keys with `prefix` in key order. fn returning
 * non-zero stops and that value is returned; -1 on store error. */
int sluice_store_kv_foreach(sluice_store *store, const char *stage, const char *prefix,
                            int (*fn)(const char *key, const json_t *value, void *user),
                            void *user);

/* ---- dead-letter queue ---- */

/* Most parkings a DLQ entry's history keeps: the first (the original
 * reason) and the newest ones. */
#define SLUICE_DLQ_HISTORY_MAX 16

/* Park a record (borrowed) with its reason. Returns the DLQ id (> 0) or -1.
 * The same record (compared by SHA-256 of its compact JSON with sorted
 * keys) parked again by the same stage for the same reason, as happens
 * when a batch is replayed after a crash, is not duplicated: the existing
 * entry's id is returned. */
int64_t sluice_store_dlq_add(sluice_store *store, const char *stage, uint64_t epoch,
                             uint64_t batch_id, const json_t *record, const char *reason);

/* sluice_store_dlq_add for a record that was parked before and came back
 * with `sluice dlq replay`: `history` (borrowed; NULL or an array of
 * {"stage","reason","parked_at"}, oldest first) is kept with the entry, so
 * the reason it was first parked for is not lost. Same returns. */
int64_t sluice_store_dlq_add_history(sluice_store *store, const char *stage, uint64_t epoch,
                                     uint64_t batch_id, const json_t *record,
                                     const char *reason, const json_t *history);

/* One DLQ entry: {"id":..,"stage":..,"reason":..,"record":{..},"parked_at":"..",
 * "batch":..,"epoch":..,"history":[{"stage":..,"reason":..,"parked_at":..},...]}:
 * history holds the earlier parkings of a replayed record, oldest first
 * ([] for a record parked once). */
typedef int (*sluice_dlq_fn)(const json_t *entry, void *user);

/* Iterate entries (optionally only `stage`; NULL = all) in id order. */
int sluice_store_dlq_foreach(sluice_store *store, const char *stage, sluice_dlq_fn fn, void *user);

/* Entry by id (new reference in *out, NULL if absent). 0 or -1. */
int sluice_store_dlq_get(sluice_store *store, int64_t id, json_t **out);

/* Delete one entry (id > 0) or all (id == 0). Returns rows deleted or -1. */
int64_t sluice_store_dlq_delete(sluice_store *store, int64_t id);

/* Number of entries. */
int64_t sluice_store_dlq_count(sluice_store *store);
/* ---- transactions (added by AREA=state) ---- */

/* Group several store calls into one atomic, durable step (e.g. the
 * runner's "checkpoint + kv commit" on an acknowledgement). Calls nest:
 * only the outermost begin/end touch SQLite, and an inner end(store, 0)
 * makes the outermost end roll back. begin takes the write lock at once
 * (BEGIN IMMEDIATE, waiting up to busy_timeout for other processes).
 * Both return 0 or -1; end(store, 1) returns -1 when the transaction was
 * rolled back instead of committed. */
int sluice_store_begin(sluice_store *store);
int sluice_store_end(sluice_store *store, int commit);

/* ---- replay queue: `sluice dlq replay` re-drives parked records ---- *
 *
 * A queued record re-enters the pipeline at the stage that parked it (the
 * DLQ entry's stage), carrying the history of its parkings. Contract for
 * the source runner: before polling its plugin, a source runner calls
 * sluice_store_replay_take() with the epoch and id of the batch it is
 * filling; when it gets records it sends them as a batch of their own,
 * without a checkpoint, marked to enter at the stage named (stages before
 * it pass the batch on untouched), and, when that batch is acknowledged
 * end to end, calls sluice_store_replay_ack() with the same (epoch, id).
 * Rows taken in an older epoch and never acknowledged are handed out
 * again after a rewind or restart, so a replay is at-least-once like
 * everything else. */

/* Move DLQ entry `dlq_id` (or every entry when dlq_id == 0) into the
 * replay queue, in one transaction; each row keeps the entry's stage (to
 * re-enter at), record and history, to which this parking is added.
 * Returns the number of entries moved (0: no such entry) or -1. */
int64_t sluice_store_replay_add(sluice_store *store, int64_t dlq_id);

/* Hand out up to `max` queued records not yet taken in `epoch` or later
 * that re-enter at one stage: the stage of the oldest such row, whose name
 * goes to *enter_at (a new string the caller frees; NULL when nothing was
 * handed out). They are marked taken by batch (epoch, batch_id). *rows
 * gets a new JSON array (possibly empty; caller owns), oldest first, of
 * {"id": REPLAY_ROW, "dlq_id": ENTRY, "record": {...}, "history": [...]}
 * (history: every parking so far, the newest last; a record that is not
 * a JSON object comes as {"raw": text}). Returns the number of records or
 * -1. Cheap when nothing is pending: one read, no write lock. */
int sluice_store_replay_take(sluice_store *store, uint64_t epoch, uint64_t batch_id,
                             size_t max, char **enter_at, json_t **rows);

/* Put replay row `replay_id` back into the dead-letter queue, with its
 * stage, record and history and the new `reason` (e.g. the stage it must
 * re-enter at is gone), as batch (epoch, batch_id)'s, in one transaction.
 * Returns the DLQ id (> 0), 0 if there is no such row, or -1. */
int64_t sluice_store_replay_return(sluice_store *store, int64_t replay_id, uint64_t epoch,
                                   uint64_t batch_id, const char *reason);

/* Batch (epoch, batch_id) and every earlier batch of that epoch are
 * acknowledged: delete the replay rows they carried. Returns rows deleted
 * or -1. */
int64_t sluice_store_replay_ack(sluice_store *store, uint64_t epoch, uint64_t batch_id);

/* Number of records waiting in (or travelling from) the replay queue. */
int64_t sluice_store_replay_count(sluice_store *store);

/* Queue `record` (borrowed; a JSON object) to enter the pipeline at stage
 * `stage` like a replayed record, though it never was in the dead-letter
 * queue (its DLQ id is 0): `sluice erase` sends erasure records this way,
 * and the running pipeline takes them as it takes `dlq replay`'s. `reason`
 * is the row's history ("queued by sluice erase"). Returns the replay
 * row's id (> 0) or -1. */
int64_t sluice_store_replay_inject(sluice_store *store, const char *stage, const json_t *record,
                                   const char *reason);
#endif
