/* reorder.c: the re-sequencing buffer of a stage behind a parallel one:
 * batches that arrived before their predecessors wait here. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "reorder.h"

int sluice_reorder_init(sluice_reorder *q, size_t capacity)
{
    memset(q, 0, sizeof(*q));
    if (capacity == 0)
        return -1;
    q->held = calloc(capacity, sizeof(*q->held));
    if (!q->held)
        return -1;
    q->capacity = capacity;
    return 0;
}

void sluice_reorder_clear(sluice_reorder *q, int release)
{
    for (size_t i = 0; i < q->count; i++)
        sluice_batch_destroy(&q->held[i]);
    q->count = 0;
    if (release) {
        free(q->held);
        q->held = NULL;
        q->capacity = 0;
    }
}

int sluice_reorder_hold(sluice_reorder *q, sluice_batch *batch)
{
    for (size_t i = 0; i < q->count; i++) {
        if (q->held[i]->epoch == batch->epoch && q->held[i]->id == batch->id)
            goto refuse;
    }
    if (q->count == q->capacity)
        goto refuse;
    q->held[q->count++] = batch;
    return 0;
refuse:
    sluice_batch_destroy(&batch);
    return -1;
}

sluice_batch *sluice_reorder_take(sluice_reorder *q, uint64_t epoch, uint64_t id)
{
    for (size_t i = 0; i < q->count; i++) {
        sluice_batch *batch = q->held[i];
        if (batch->epoch == epoch && batch->id == id) {
            q->held[i] = q->held[--q->count];
            q->held[q->count] = NULL;
            return batch;
        }
    }
    return NULL;
}

size_t sluice_reorder_drop_before(sluice_reorder *q, uint64_t epoch)
{
    size_t dropped = 0;

    for (size_t i = 0; i < q->count;) {
        if (q->held[i]->epoch < epoch) {
            sluice_batch_destroy(&q->held[i]);
            q->held[i] = q->held[--q->count];
            q->held[q->count] = NULL;
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}
