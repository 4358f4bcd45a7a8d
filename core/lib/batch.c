/* batch.c: struct sluice_batch, the records travelling together between
 * stages, and the SDK's sluice_batch_* functions that plugins call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"

/* Smallest slot array a batch grows to; avoids a storm of tiny reallocs. */
#define BATCH_MIN_SLOTS 16

sluice_batch *sluice_batch_new(uint64_t epoch, uint64_t id, size_t capacity)
{
    sluice_batch *batch = calloc(1, sizeof(*batch));
    if (!batch)
        return NULL;
    batch->epoch = epoch;
    batch->id = id;
    batch->capacity = capacity;
    return batch;
}

/* Free what one slot owns and zero it (its text belongs to the batch). */
static void slot_clear(sluice_batch_slot *slot)
{
    json_decref(slot->record);
    free(slot->reason);
    free(slot->rejected_by);
    memset(slot, 0, sizeof(*slot));
}

void sluice_batch_destroy(sluice_batch **batch_p)
{
    if (!batch_p || !*batch_p)
        return;
    sluice_batch *batch = *batch_p;
    for (size_t i = 0; i < batch->count; i++)
        slot_clear(&batch->slots[i]);
    free(batch->slots);
    json_decref(batch->checkpoint);
    free(batch->text_buf);
    free(batch);
    *batch_p = NULL;
}

/* 1 when slot still travels to the next stage. */
static int slot_is_live(const sluice_batch_slot *slot)
{
    return !slot->dropped && slot->outcome != SLUICE_RECORD_REJECTED &&
           sluice_slot_has_record(slot);
}

size_t sluice_batch_live(const sluice_batch *batch)
{
    size_t live = 0;
    if (!batch)
        return 0;
    for (size_t i = 0; i < batch->count; i++)
        live += slot_is_live(&batch->slots[i]) ? 1 : 0;
    return live;
}

void sluice_batch_compact(sluice_batch *batch)
{
    size_t kept = 0;
    if (!batch)
        return;
    for (size_t i = 0; i < batch->count; i++) {
        sluice_batch_slot *slot = &batch->slots[i];
        if (!slot_is_live(slot)) {
            slot_clear(slot);
            continue;
        }
        if (kept != i) {
            batch->slots[kept] = *slot;
            memset(slot, 0, sizeof(*slot));
        }
        kept++;
    }
    batch->count = kept;
}

size_t sluice_batch_count(const sluice_batch *batch)
{
    return batch ? batch->count : 0;
}

size_t sluice_batch_capacity(const sluice_batch *batch)
{
    return batch ? batch->capacity : 0;
}

uint64_t sluice_batch_id(const sluice_batch *batch)
{
    return batch ? batch->id : 0;
}

/* Reject slot by the batch's current stage with `reason`. */
static void slot_reject(sluice_batch *batch, sluice_batch_slot *slot, const char *reason);

json_t *sluice_batch_slot_record(sluice_batch *batch, size_t i)
{
    if (!batch || i >= batch->count)
        return NULL;
    sluice_batch_slot *slot = &batch->slots[i];
    if (!slot->record && slot->text) {
        json_error_t jerr;
        char reason[256];
        json_t *record = json_loadb(slot->text, slot->text_len, 0, &jerr);

        slot->text = NULL;
        if (json_is_object(record)) {
            slot->record = record;
        } else {
            json_decref(record);
            snprintf(reason, sizeof(reason), "record %zu of batch %llu/%llu is not a JSON "
                     "object on the wire: %s", i + 1, (unsigned long long)batch->epoch,
                     (unsigned long long)batch->id, record ? "not an object" : jerr.text);
            slot->record = json_object(); /* the DLQ keeps something to show */
            slot_reject(batch, slot, reason);
        }
    }
    return slot->record;
}

json_t *sluice_batch_get(sluice_batch *batch, size_t i)
{
    if (!batch || i >= batch->count || !slot_is_live(&batch->slots[i]))
        return NULL;
    json_t *record = sluice_batch_slot_record(batch, i);
    return slot_is_live(&batch->slots[i]) ? record : NULL;
}

const char *sluice_batch_peek_text(const sluice_batch *batch, size_t i, size_t *len)
{
    if (!batch || i >= batch->count)
        return NULL;
    const sluice_batch_slot *slot = &batch->slots[i];
    if (!slot_is_live(slot) || slot->record || !slot->text)
        return NULL;
    if (len)
        *len = slot->text_len;
    return slot->text;
}

int sluice_batch_adopt_text(sluice_batch *batch, char *text, const size_t *starts,
                            const size_t *lens, size_t count)
{
    if (!batch || (count && (!text || !starts || !lens))) {
        free(text);
        return -1;
    }
    if (batch->allocated - batch->count < count) {
        sluice_batch_slot *slots = realloc(batch->slots,
                                           (batch->count + count) * sizeof(*slots));
        if (!slots) {
            free(text);
            return -1;
        }
        batch->slots = slots;
        batch->allocated = batch->count + count;
    }
    free(batch->text_buf); /* only ever one frame per batch */
    batch->text_buf = text;
    for (size_t i = 0; i < count; i++) {
        sluice_batch_slot *slot = &batch->slots[batch->count++];
        memset(slot, 0, sizeof(*slot));
        slot->text = text + starts[i];
        slot->text_len = lens[i];
    }
    return 0;
}

int sluice_batch_append(sluice_batch *batch, json_t *record)
{
    if (!batch || !record) {
        json_decref(record);
        return -1;
    }
    if (batch->count == batch->allocated) {
        size_t grown = batch->allocated ? batch->allocated * 2 : BATCH_MIN_SLOTS;
        if (grown < batch->capacity && batch->allocated == 0)
            grown = batch->capacity; /* sources: one allocation per batch */
        sluice_batch_slot *slots = realloc(batch->slots, grown * sizeof(*slots));
        if (!slots) {
            json_decref(record);
            return -1;
        }
        batch->slots = slots;
        batch->allocated = grown;
    }
    sluice_batch_slot *slot = &batch->slots[batch->count++];
    memset(slot, 0, sizeof(*slot));
    slot->record = record;
    return 0;
}

void sluice_batch_drop(sluice_batch *batch, size_t i)
{
    if (!batch || i >= batch->count)
        return;
    sluice_batch_slot *slot = &batch->slots[i];
    json_decref(slot->record);
    slot->record = NULL;
    slot->text = NULL;
    slot->dropped = 1;
}

/* Replace *field with a copy of text (NULL clears it). A failed copy
 * leaves NULL: losing the reason text must not lose the rejection. */
static void set_text(char **field, const char *text)
{
    free(*field);
    *field = text ? strdup(text) : NULL;
}

static void slot_reject(sluice_batch *batch, sluice_batch_slot *slot, const char *reason)
{
    slot->outcome = SLUICE_RECORD_REJECTED;
    set_text(&slot->reason, reason ? reason : "rejected");
    set_text(&slot->rejected_by, batch->current_stage ? batch->current_stage : "unknown");
}

void sluice_batch_reject(sluice_batch *batch, size_t i, const char *reason)
{
    if (!batch || i >= batch->count)
        return;
    sluice_batch_slot *slot = &batch->slots[i];
    if (slot->dropped)
        return;
    slot_reject(batch, slot, reason);
}

void sluice_batch_set_outcome(sluice_batch *batch, size_t i, sluice_outcome outcome,
                              const char *reason)
{
    if (!batch || i >= batch->count)
        return;
    sluice_batch_slot *slot = &batch->slots[i];
    if (slot->dropped)
        return;
    if (outcome == SLUICE_RECORD_REJECTED) {
        slot_reject(batch, slot, reason);
        return;
    }
    slot->outcome = outcome;
    if (reason)
        set_text(&slot->reason, reason);
}

sluice_outcome sluice_batch_outcome(const sluice_batch *batch, size_t i)
{
    if (!batch || i >= batch->count)
        return SLUICE_RECORD_PENDING;
    return batch->slots[i].outcome;
}

void sluice_batch_set_checkpoint(sluice_batch *batch, json_t *checkpoint)
{
    if (!batch) {
        json_decref(checkpoint);
        return;
    }
    json_decref(batch->checkpoint);
    batch->checkpoint = checkpoint;
}
