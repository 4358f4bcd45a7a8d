/* reorder.h: the re-sequencing buffer of a stage behind a parallel one
 * (instances > 1). Implemented in reorder.c. */
#ifndef SLUICE_REORDER_H
#define SLUICE_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

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
#endif
