/* batch.h: the core's view of struct sluice_batch (plugins see it opaque)
 * and its wire form between processes. Implemented in batch.c / wire.c. */
#ifndef SLUICE_BATCH_H
#define SLUICE_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>
#include "sluice/plugin.h"

typedef struct sluice_batch_slot {
    json_t *record;          /* owned; NULL once dropped, or while only `text` holds it */
    const char *text;        /* the record as one line of JSON text, not parsed yet:
                              * as it came off the wire (points into the batch's
                              * text_buf) or as a source appended it (own_text);
                              * NULL once parsed: a record that no stage of this
                              * process looked at travels on without a parse+dump */
    size_t text_len;
    char *own_text;          /* owned; the copy `text` points to for appended text */
    char *origin;            /* owned; where appended text came from ("file:line"), for
                              * the rejection reason if it does not parse */
    const char *wire_origin; /* the same for unverified text off the wire: borrowed
                              * from the batch's text_buf, wire_origin_len bytes */
    size_t wire_origin_len;
    const char *appended_by; /* borrowed stage name (the running stage's, or the batch's
                              * wire_header's); who appended unverified text */
    int unverified;          /* text appended by a source, not yet known to parse
                              * (it may have crossed processes so) */
    sluice_outcome outcome;
    char *reason;            /* owned; set for REJECTED */
    char *rejected_by;       /* owned; stage name that rejected it */
    int dropped;             /* filtered on purpose (`reason` says why, if the
                              * plugin said: sluice_batch_drop_because) */
    int64_t replay_of;       /* a record `sluice dlq replay` re-drives: the DLQ entry
                              * it was (> 0); 0 for every other record */
    json_t *history;         /* owned; with replay_of: its parkings so far, oldest
                              * first ({"stage","reason","parked_at"}) */
} sluice_batch_slot;

struct sluice_batch {
    uint64_t epoch;          /* source incarnation: bumps on every rewind/restart */
    uint64_t id;             /* sequence within the epoch, from 1 */
    size_t capacity;         /* for sources: most records to append */
    sluice_batch_slot *slots;
    size_t count;
    size_t allocated;
    json_t *checkpoint;      /* owned; set by the source, travels with the batch */
    char *text_buf;          /* owned; the record lines of a decoded frame */
    const char *current_stage; /* borrowed; who is working on it (for rejections) */
    json_t *wire_header;     /* owned; a decoded frame's header (appended_by points
                              * into its "unverified" list) */
    char *enter_at;          /* owned; a replay batch (`sluice dlq replay`): the stage
                              * its records re-enter at, the one that parked them;
                              * stages before it pass it on untouched. NULL for
                              * every other batch */
};

/* New empty batch (caller owns; sluice_batch_destroy). NULL on ENOMEM. */
sluice_batch *sluice_batch_new(uint64_t epoch, uint64_t id, size_t capacity);

/* Free and NULL the caller's pointer. Safe on NULL. */
void sluice_batch_destroy(sluice_batch **batch_p);

/* Make `batch` a replay batch entering at `stage` (copied). Returns 0 or
 * -1 (ENOMEM). */
int sluice_batch_set_enter_at(sluice_batch *batch, const char *stage);

/* Append a record `sluice dlq replay` re-drives (stolen): it was DLQ entry
 * `dlq_id` (> 0), parked as `history` says (stolen; an array, oldest
 * first). Returns 0, or -1 (both freed) on bad args or ENOMEM. */
int sluice_batch_append_replayed(sluice_batch *batch, json_t *record, int64_t dlq_id,
                                 json_t *history);

/* Number of records still travelling (not dropped, not rejected). */
size_t sluice_batch_live(const sluice_batch *batch);

/* Remove dropped and rejected slots after the DLQ took the rejections, so
 * the next stage sees only live records. Records keep their order. */
void sluice_batch_compact(sluice_batch *batch);

/* 1 when the slot holds a record, parsed or not. */
static inline int sluice_slot_has_record(const sluice_batch_slot *slot)
{
    return slot->record != NULL || slot->text != NULL;
}

/* Where a slot's unverified text came from ("file:line"): its own origin
 * or the one that came with it off the wire; NULL (len 0) when none. */
static inline const char *sluice_slot_origin(const sluice_batch_slot *slot, size_t *len)
{
    *len = slot->origin ? strlen(slot->origin) : slot->wire_origin ? slot->wire_origin_len : 0;
    return slot->origin ? slot->origin : slot->wire_origin;
}

/* Record i as a tree, parsing its wire text first if no one has yet
 * (borrowed; NULL when the slot has no record, e.g. dropped). Unlike
 * sluice_batch_get it also serves rejected records (the DLQ stores them).
 * Text that does not parse rejects the record with the parser's reason
 * and returns NULL. */
json_t *sluice_batch_slot_record(sluice_batch *batch, size_t i);

/* Make a source's appended text (sluice_batch_append_text) ready to cross
 * a process boundary without parsing it twice: text that is one line from
 * '{' to '}' travels as it is, still unverified (the frame names its
 * origin and the stage that appended it, so the receiving stage's first
 * read checks it and a bad one is rejected with the same reason and stage
 * as here); other text is parsed now, keeping the tree to be dumped, or
 * rejected with its origin when it does not parse. Called before a batch
 * is encoded for another process; within one process the next stage's
 * first get does the check. */
void sluice_batch_prepare_for_wire(sluice_batch *batch);

/* Give the batch the record lines of a decoded frame: `text` (stolen) holds
 * `count` records, each `lens[i]` bytes at `starts[i]` (offsets into text).
 * Returns 0, or -1 on ENOMEM (text freed). */
int sluice_batch_adopt_text(sluice_batch *batch, char *text, const size_t *starts,
                            const size_t *lens, size_t count);

/* Encode for a ZeroMQ frame: one header line of JSON
 * {"v":1,"epoch":E,"id":N,"n":COUNT,"checkpoint":...} then one compact JSON
 * record per line (only live records). A replay batch's header adds
 * "enter_at":STAGE and "replay":[[LINE, DLQ_ID, HISTORY], ...] for the
 * record lines (counted from 0, in order) that are replayed records. Unverified text travels as its line:
 * the header's "unverified": [[STAGE, FIRST, COUNT], ...] names the runs of
 * record lines (counted from 0) a stage appended unverified, and after the
 * records come their origins, one line each, in order (empty when it has
 * none), so a batch of a source's lines costs its header a few bytes, not
 * a JSON value per record (see sluice_batch_prepare_for_wire, which must
 * have run: other appended text cannot travel as a line). Returns a
 * malloc'd buffer (caller frees) and its length in *len, or NULL on error. */
char *sluice_wire_encode(const sluice_batch *batch, size_t *len);

/* Decode a frame made by sluice_wire_encode. Returns a new batch (caller
 * owns) or NULL with a reason in errbuf (a corrupt frame is a bug or an
 * attack: the caller logs it and drops the frame). Records are not parsed
 * here: each line must look like one JSON object ({ ... }) and is parsed
 * when a stage first asks for it (sluice_batch_get), so a stage that only
 * passes records on, or a sink that writes JSON text, never pays for a
 * parse and a dump. */
sluice_batch *sluice_wire_decode(const char *buf, size_t len, char *errbuf, size_t errlen);

/* Acknowledgement frame: {"v":1,"epoch":E,"id":N}. Same conventions. */
char *sluice_wire_encode_ack(uint64_t epoch, uint64_t id, size_t *len);
int sluice_wire_decode_ack(const char *buf, size_t len, uint64_t *epoch, uint64_t *id);
#endif
