/* kv.h: a stage's view of its key/value state: committed rows in the
 * store plus writes staged per in-flight batch, committed in batch order
 * when the batch is acknowledged and discarded on rewind. Implemented in
 * kv.c; used by the SDK's sluice_state_* functions. */
#ifndef SLUICE_KV_H
#define SLUICE_KV_H

#include <stdint.h>
#include <jansson.h>
#include "store.h"

typedef struct sluice_kv sluice_kv;

/* New view for `stage` over `store` (borrowed). Caller owns. */
sluice_kv *sluice_kv_new(sluice_store *store, const char *stage);
void sluice_kv_destroy(sluice_kv **kv_p);

/* Newest value: staged (newest batch first) then committed. New ref or NULL. */
json_t *sluice_kv_get(sluice_kv *kv, const char *key);

/* Stage key=value (copied; NULL deletes) under batch (epoch, id). 0 or -1. */
int sluice_kv_stage(sluice_kv *kv, uint64_t epoch, uint64_t batch_id, const char *key,
                    const json_t *value);

/* Stage key=value like sluice_kv_stage, taking ownership of `value`
 * (stolen, also on error; NULL deletes) instead of copying it: the caller
 * must not change it afterwards (the kv keeps and later serialises it, and
 * sluice_kv_get hands out references to it). 0 or -1. */
int sluice_kv_stage_new(sluice_kv *kv, uint64_t epoch, uint64_t batch_id, const char *key,
                        json_t *value);

/* Commit, in one transaction, every staged batch of `epoch` with id <=
 * batch_id. Returns 0 or -1. */
int sluice_kv_commit(sluice_kv *kv, uint64_t epoch, uint64_t batch_id);

/* Forget staged writes of epochs older than `epoch` (a rewind began). */
void sluice_kv_discard_before(sluice_kv *kv, uint64_t epoch);

/* Iterate committed+staged keys with `prefix` (deleted ones skipped). */
int sluice_kv_foreach(sluice_kv *kv, const char *prefix,
                      int (*fn)(const char *key, const json_t *value, void *user), void *user);

/* Remove `key` from every staged batch (added by AREA=state): used after a
 * write-through (sluice_state_put_now) so the committed value is seen. */
void sluice_kv_unstage(sluice_kv *kv, const char *key);
#endif
