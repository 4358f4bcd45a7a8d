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

/* Forget where a slot's text came from and that it is unverified (once
 * it parsed, or when the text goes). */
static void slot_forget_origin(sluice_batch_slot *slot)
{
    free(slot->origin);
    slot->origin = NULL;
    slot->wire_origin = NULL;
    slot->wire_origin_len = 0;
    slot->unverified = 0;
}

/* Forget a slot's text (after a parse, or when dropped), freeing it if
 * the slot owns it. */
static void slot_forget_text(sluice_batch_slot *slot)
{
    free(slot->own_text);
    slot->own_text = NULL;
    slot->text = NULL;
    slot->text_len = 0;
    slot_forget_origin(slot);
}

/* Free what one slot owns and zero it (wire text belongs to the batch). */
static void slot_clear(sluice_batch_slot *slot)
{
    json_decref(slot->record);
    json_decref(slot->history);
    free(slot->reason);
    free(slot->rejected_by);
    slot_forget_text(slot);
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
    json_decref(batch->wire_header);
    free(batch->text_buf);
    free(batch->enter_at);
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

/* Parse slot's text. Returns the record (new reference) or NULL with the
 * reason the text is not a JSON object in reason[]. */
static json_t *parse_slot_text(const sluice_batch *batch, size_t i,
                               const sluice_batch_slot *slot, char *reason,
                               size_t reason_len)
{
    json_error_t jerr;
    json_t *record = json_loadb(slot->text, slot->text_len, 0, &jerr);
    if (json_is_object(record))
        return record;
    json_decref(record);
    size_t where_len = 0;
    const char *where = sluice_slot_origin(slot, &where_len);
    if (!where) {
        where = "appended text";
        where_len = strlen(where);
    }
    if (slot->unverified)
        snprintf(reason, reason_len, record ? "%.*s: not a JSON object"
                 : "%.*s: invalid JSON at column %d: %s", (int)where_len, where,
                 jerr.column, jerr.text);
    else
        snprintf(reason, reason_len, "record %zu of batch %llu/%llu is not a JSON "
                 "object on the wire: %s", i + 1, (unsigned long long)batch->epoch,
                 (unsigned long long)batch->id, record ? "not an object" : jerr.text);
    return NULL;
}

/* A JSON string holding raw text, with bytes that are not valid UTF-8
 * replaced by '?' so the DLQ can always store it. New reference or NULL. */
static json_t *raw_text_string(const char *text, size_t len)
{
    json_t *string = json_stringn(text, len);
    if (string)
        return string;
    char *clean = malloc(len + 1);
    if (!clean)
        return NULL;
    for (size_t i = 0; i < len; i++)
        clean[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
    string = json_stringn(clean, len);
    free(clean);
    return string;
}

/* Reject slot, whose text did not parse: the DLQ keeps {"raw": text} for
 * a source's text (the line a user must fix), {} for wire text (a bug). */
static void slot_reject_unparsed(sluice_batch *batch, sluice_batch_slot *slot,
                                 const char *reason)
{
    json_t *shown = json_object();
    if (shown && slot->unverified)
        json_object_set_new(shown, "raw", raw_text_string(slot->text, slot->text_len));
    const char *stage = batch->current_stage;
    if (slot->unverified && slot->appended_by)
        batch->current_stage = slot->appended_by; /* the source's input was bad */
    slot_reject(batch, slot, reason);
    batch->current_stage = stage;
    slot_forget_text(slot);
    slot->record = shown;
}

json_t *sluice_batch_slot_record(sluice_batch *batch, size_t i)
{
    if (!batch || i >= batch->count)
        return NULL;
    sluice_batch_slot *slot = &batch->slots[i];
    if (!slot->record && slot->text) {
        char reason[512];
        json_t *record = parse_slot_text(batch, i, slot, reason, sizeof(reason));
        if (record) {
            slot_forget_text(slot);
            slot->record = record;
        } else {
            slot_reject_unparsed(batch, slot, reason);
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

/* 1 when text can travel as one wire line: a single line from '{' to '}'. */
static int text_is_wire_line(const char *text, size_t len)
{
    return len >= 2 && text[0] == '{' && text[len - 1] == '}' && !memchr(text, '\n', len);
}

/* Check an unverified slot's text by parsing it: keep the text (dropping
 * the tree) when it can travel as it is, else keep the tree; reject it
 * when it does not parse. */
static void slot_verify(sluice_batch *batch, size_t i)
{
    sluice_batch_slot *slot = &batch->slots[i];
    char reason[512];
    if (!slot->unverified || slot->record || !slot->text || slot->dropped ||
        slot->outcome == SLUICE_RECORD_REJECTED)
        return;
    json_t *record = parse_slot_text(batch, i, slot, reason, sizeof(reason));
    if (!record) {
        slot_reject_unparsed(batch, slot, reason);
        return;
    }
    if (text_is_wire_line(slot->text, slot->text_len)) {
        json_decref(record);
        slot_forget_origin(slot);
        return;
    }
    slot_forget_text(slot);
    slot->record = record;
}

void sluice_batch_prepare_for_wire(sluice_batch *batch)
{
    if (!batch)
        return;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        /* one line from '{' to '}' travels unverified: the receiver checks */
        if (slot->text && !text_is_wire_line(slot->text, slot->text_len))
            slot_verify(batch, i);
    }
}

const char *sluice_batch_peek_text(sluice_batch *batch, size_t i, size_t *len)
{
    if (!batch || i >= batch->count)
        return NULL;
    slot_verify(batch, i);
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

/* Make room for one more slot. Returns 0 or -1 (ENOMEM). */
static int reserve_slot(sluice_batch *batch)
{
    if (batch->count == batch->allocated) {
        size_t grown = batch->allocated ? batch->allocated * 2 : BATCH_MIN_SLOTS;
        if (grown < batch->capacity && batch->allocated == 0)
            grown = batch->capacity; /* sources: one allocation per batch */
        sluice_batch_slot *slots = realloc(batch->slots, grown * sizeof(*slots));
        if (!slots)
            return -1;
        batch->slots = slots;
        batch->allocated = grown;
    }
    return 0;
}

int sluice_batch_append(sluice_batch *batch, json_t *record)
{
    if (!batch || !record || reserve_slot(batch) != 0) {
        json_decref(record);
        return -1;
    }
    sluice_batch_slot *slot = &batch->slots[batch->count++];
    memset(slot, 0, sizeof(*slot));
    slot->record = record;
    return 0;
}

int sluice_batch_append_text(sluice_batch *batch, const char *text, size_t len,
                             const char *origin)
{
    char *copy = NULL;
    char *origin_copy = NULL;
    if (!batch || (!text && len) || reserve_slot(batch) != 0)
        return -1;
    copy = malloc(len ? len : 1);
    origin_copy = origin ? strdup(origin) : NULL;
    if (!copy || (origin && !origin_copy)) {
        free(copy);
        free(origin_copy);
        return -1;
    }
    if (len)
        memcpy(copy, text, len);
    sluice_batch_slot *slot = &batch->slots[batch->count++];
    memset(slot, 0, sizeof(*slot));
    slot->own_text = copy;
    slot->text = copy;
    slot->text_len = len;
    slot->origin = origin_copy;
    slot->appended_by = batch->current_stage;
    slot->unverified = 1;
    return 0;
}

int sluice_batch_set_enter_at(sluice_batch *batch, const char *stage)
{
    char *copy = stage ? strdup(stage) : NULL;
    if (!batch || !copy) {
        free(copy);
        return -1;
    }
    free(batch->enter_at);
    batch->enter_at = copy;
    return 0;
}

int sluice_batch_append_replayed(sluice_batch *batch, json_t *record, int64_t dlq_id,
                                 json_t *history)
{
    int result = -1;
    if (!batch || dlq_id <= 0 || !json_is_array(history)) {
        json_decref(record);
        goto out;
    }
    if (sluice_batch_append(batch, record) != 0) /* it frees the record */
        goto out;
    batch->slots[batch->count - 1].replay_of = dlq_id;
    batch->slots[batch->count - 1].history = history;
    history = NULL;
    result = 0;
out:
    json_decref(history);
    return result;
}

/* Replace *field with a copy of text (NULL clears it). A failed copy
 * leaves NULL: losing the reason text must not lose the rejection. */
static void set_text(char **field, const char *text)
{
    free(*field);
    *field = text ? strdup(text) : NULL;
}

void sluice_batch_drop(sluice_batch *batch, size_t i)
{
    sluice_batch_drop_because(batch, i, NULL);
}

void sluice_batch_drop_because(sluice_batch *batch, size_t i, const char *reason)
{
    if (!batch || i >= batch->count)
        return;
    sluice_batch_slot *slot = &batch->slots[i];
    json_decref(slot->record);
    slot->record = NULL;
    slot_forget_text(slot);
    slot->dropped = 1;
    set_text(&slot->reason, reason);
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
