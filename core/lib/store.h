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
 * timeout. Creates state_dir if missing. Returns the store (caller owns;
 * sluice_store_close) or NULL with a message in errbuf. */
sluice_store *sluice_store_open(const char *state_dir, char *errbuf, size_t errlen);

/* Close and NULL the caller's pointer. Safe on NULL. */
void sluice_store_close(sluice_store **store_p);

/* Allocate the next source epoch for `stage` (durably incremented, starts
 * at 1). Returns 0 or -1. */
int sluice_store_next_epoch(sluice_store *store, const char *stage, uint64_t *epoch);

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

/* Park a record (borrowed) with its reason. Returns the DLQ id (> 0) or -1. */
int64_t sluice_store_dlq_add(sluice_store *store, const char *stage, uint64_t epoch,
                             uint64_t batch_id, const json_t *record, const char *reason);

/* One DLQ entry: {"id":..,"stage":..,"reason":..,"record":{..},"parked_at":"..","batch":..}. */
typedef int (*sluice_dlq_fn)(const json_t *entry, void *user);

/* Iterate entries (optionally only `stage`; NULL = all) in id order. */
int sluice_store_dlq_foreach(sluice_store *store, const char *stage, sluice_dlq_fn fn, void *user);

/* Entry by id (new reference in *out, NULL if absent). 0 or -1. */
int sluice_store_dlq_get(sluice_store *store, int64_t id, json_t **out);

/* Delete one entry (id > 0) or all (id == 0). Returns rows deleted or -1. */
int64_t sluice_store_dlq_delete(sluice_store *store, int64_t id);

/* Number of entries. */
int64_t sluice_store_dlq_count(sluice_store *store);
#endif
