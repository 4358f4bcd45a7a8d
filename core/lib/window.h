/* window.h: a source's in-flight window: the batches it sent and has not
 * committed yet, in id order. Implemented in window.c. */
#ifndef SLUICE_WINDOW_H
#define SLUICE_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

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

/* Send time of batch `id` if it is in flight and not acknowledged yet,
 * else -1 (the ack latency histogram of the admin endpoint). */
int64_t sluice_window_sent_ms(const sluice_window *w, uint64_t id);

/* Send time of the oldest batch in flight, or -1 when the window is empty. */
int64_t sluice_window_oldest_sent(const sluice_window *w);
#endif
