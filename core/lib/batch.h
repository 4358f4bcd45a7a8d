/* batch.h: the core's view of struct sluice_batch (plugins see it opaque)
 * and its wire form between processes. Implemented in batch.c / wire.c. */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sluice/plugin.h"

typedef struct sluice_batch_slot {
    json_t *record;          /* owned; NULL once dropped */
    sluice_outcome outcome;
    char *reason;            /* owned; set for REJECTED */
    char *rejected_by;       /* owned; stage name that rejected it */
    int dropped;             /* filtered on purpose */
} sluice_batch_slot;

struct sluice_batch {
    uint64_t epoch;          /* source incarnation: bumps on every rewind/restart */
    uint64_t id;             /* sequence within the epoch, from 1 */
    size_t capacity;         /* for sources: most records to append */
    sluice_batch_slot *slots;
    size_t count;
    size_t allocated;
    json_t *checkpoint;      /* owned; set by the source, travels with the batch */
    const char *current_stage; /* borrowed; who is working on it (for rejections) */
};

/* New empty batch (caller owns; sluice_batch_destroy). NULL on ENOMEM. */
sluice_batch *sluice_batch_new(uint64_t epoch, uint64_t id, size_t capacity);

/* Free and NULL the caller's pointer. Safe on NULL. */
void sluice_batch_destroy(sluice_batch **batch_p);

/* Number of records still travelling (not dropped, not rejected). */
size_t sluice_batch_live(const sluice_batch *batch);

/* Remove dropped and rejected slots after the DLQ took the rejections, so
 * the next stage sees only live records. Records keep their order. */
void sluice_batch_compact(sluice_batch *batch);

/* Encode for a ZeroMQ frame: one header line of JSON
 * {"v":1,"epoch":E,"id":N,"n":COUNT,"checkpoint":...} then one compact JSON
 * record per line (only live records). Returns a malloc'd buffer (caller
 * frees) and its length in *len, or NULL on error. */
char *sluice_wire_encode(const sluice_batch *batch, size_t *len);

/* Decode a frame made by sluice_wire_encode. Returns a new batch (caller
 * owns) or NULL with a reason in errbuf (a corrupt frame is a bug or an
 * attack: the caller logs it and drops the frame). */
sluice_batch *sluice_wire_decode(const char *buf, size_t len, char *errbuf, size_t errlen);

/* Acknowledgement frame: {"v":1,"epoch":E,"id":N}. Same conventions. */
char *sluice_wire_encode_ack(uint64_t epoch, uint64_t id, size_t *len);
int sluice_wire_decode_ack(const char *buf, size_t len, uint64_t *epoch, uint64_t *id);
#endif
