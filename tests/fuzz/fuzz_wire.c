/* fuzz_wire.c: libFuzzer harness of the wire format (core/lib/wire.c,
 * batch.c). The input is a frame as a stage receives it off ZeroMQ.
 * Properties: a refused frame says why; an accepted one re-encodes
 * untouched into a frame that decodes to the same batch, records byte
 * for byte; after a stage's work (parse, peek, drop, reject, outcomes)
 * the re-encoded frame decodes to exactly the live records, equal as JSON
 * and in order, unverified text still marked with its origin; an ack
 * decodes to what encodes back to it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_wire";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* Decode `frame` (made by sluice_wire_encode, so it must decode) or fail
 * with the reason, naming `what` it was. Returns the batch (caller owns). */
static sluice_batch *decode_own_frame(const char *frame, size_t len, const char *what)
{
    char err[512] = "";
    sluice_batch *batch = sluice_wire_decode(frame, len, err, sizeof(err));

    if (!batch)
        fuzz_fail("%s does not decode: %s\nframe: %.*s", what, err, (int)(len > 2000 ? 2000 : len),
                  frame);
    return batch;
}

/* 1 when a and b hold the same bytes (NULL equals NULL only). */
static int same_bytes(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (!a || !b)
        return a == b;
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* 1 when two strings are equal or both absent. */
static int same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The batch `copy` (decoded from an untouched re-encode of `batch`) must
 * be `batch`: header fields, records as the same text, the same
 * unverified marks, origins and stages. */
static void expect_same_batch(const sluice_batch *batch, const sluice_batch *copy)
{
    if (copy->epoch != batch->epoch || copy->id != batch->id ||
        copy->capacity != batch->capacity)
        fuzz_fail("epoch/id/cap changed: %llu/%llu/%zu -> %llu/%llu/%zu",
                  (unsigned long long)batch->epoch, (unsigned long long)batch->id,
                  batch->capacity, (unsigned long long)copy->epoch,
                  (unsigned long long)copy->id, copy->capacity);
    if (!(batch->checkpoint ? copy->checkpoint && json_equal(batch->checkpoint, copy->checkpoint)
                            : !copy->checkpoint))
        fuzz_fail("the checkpoint changed in a round trip");
    if (copy->count != batch->count)
        fuzz_fail("%zu records became %zu in a round trip", batch->count, copy->count);
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *a = &batch->slots[i], *b = &copy->slots[i];
        size_t a_len = 0, b_len = 0;
        const char *a_origin = sluice_slot_origin(a, &a_len);
        const char *b_origin = sluice_slot_origin(b, &b_len);
        if (!same_bytes(a->text, a->text_len, b->text, b->text_len))
            fuzz_fail("record %zu changed in an untouched round trip: %.*s -> %.*s", i + 1,
                      (int)a->text_len, a->text ? a->text : "", (int)b->text_len,
                      b->text ? b->text : "");
        if (a->unverified != b->unverified || !same_string(a->appended_by, b->appended_by) ||
            !same_bytes(a_origin, a_len, b_origin, b_len))
            fuzz_fail("record %zu: unverified mark, stage or origin changed in a round trip",
                      i + 1);
    }
}

/* What a stage does to a record. */
typedef enum stage_action {
    ACTION_NONE, ACTION_GET, ACTION_PEEK, ACTION_DROP, ACTION_REJECT, ACTION_DONE,
    ACTION_COUNT
} stage_action;

/* The action for record i, chosen by the input's bytes (size > 0). */
static stage_action action_for(const uint8_t *data, size_t size, size_t i)
{
    return (stage_action)((data[(i * 7 + 3) % size] + i) % ACTION_COUNT);
}

/* Apply action_for to every record of `batch`, as a transform would. */
static void work_on(sluice_batch *batch, const uint8_t *data, size_t size)
{
    size_t len;

    batch->current_stage = "fuzz";
    for (size_t i = 0; i < batch->count; i++) {
        switch (action_for(data, size, i)) {
        case ACTION_GET:
            sluice_batch_get(batch, i);
            break;
        case ACTION_PEEK:
            sluice_batch_peek_text(batch, i, &len);
            break;
        case ACTION_DROP:
            sluice_batch_drop(batch, i);
            break;
        case ACTION_REJECT:
            sluice_batch_reject(batch, i, "fuzz rejects it");
            break;
        case ACTION_DONE:
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
            break;
        default:
            break;
        }
    }
}

/* The JSON value of record text[0..len) or NULL when it is not an object
 * (new reference). */
static json_t *object_of_text(const char *text, size_t len)
{
    json_t *value = json_loadb(text, len, 0, NULL);

    if (!json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

/* After work_on, `batch` went out as `frame`: its live records, in order,
 * must be what decodes. `original` holds every record as received (its
 * text, or NULL when the frame did not carry it as text). */
static void expect_live_records(sluice_batch *batch, const sluice_batch *original,
                                const char *frame, size_t len)
{
    sluice_batch *out = decode_own_frame(frame, len, "a re-encoded batch after a stage's work");
    size_t next = 0;

    if (out->count != sluice_batch_live(batch))
        fuzz_fail("%zu live records went out as %zu", sluice_batch_live(batch), out->count);
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        const sluice_batch_slot *was = &original->slots[i];
        if (slot->dropped || slot->outcome == SLUICE_RECORD_REJECTED || !sluice_slot_has_record(slot))
            continue;
        sluice_batch_slot *got = &out->slots[next++];
        json_t *expected = object_of_text(was->text, was->text_len);
        json_t *received = got->record ? json_incref(got->record)
                                       : object_of_text(got->text, got->text_len);
        /* A record that is not a JSON object travels as text until a stage
         * reads it; it must still be the same text. */
        if (!expected) {
            if (received || !same_bytes(was->text, was->text_len, got->text, got->text_len))
                fuzz_fail("record %zu (not an object) changed on the way", i + 1);
        } else if (!received || !json_equal(expected, received)) {
            fuzz_fail("record %zu changed on the way", i + 1);
        }
        if (got->unverified != slot->unverified)
            fuzz_fail("record %zu: unverified mark lost or invented", i + 1);
        json_decref(expected);
        json_decref(received);
    }
    sluice_batch_destroy(&out);
}

/* An acknowledgement frame decodes to what encodes back the same. */
static void check_ack(const uint8_t *data, size_t size)
{
    uint64_t epoch = 0, id = 0, epoch2 = 0, id2 = 0;
    size_t len = 0;
    char *ack;

    if (sluice_wire_decode_ack((const char *)data, size, &epoch, &id) != 0)
        return;
    ack = sluice_wire_encode_ack(epoch, id, &len);
    if (!ack)
        fuzz_fail("an ack does not encode");
    if (sluice_wire_decode_ack(ack, len, &epoch2, &id2) != 0 || epoch2 != epoch || id2 != id)
        fuzz_fail("ack %llu/%llu does not round trip", (unsigned long long)epoch,
                  (unsigned long long)id);
    free(ack);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    sluice_batch *batch, *original = NULL, *copy = NULL;
    char *frame = NULL;
    size_t len = 0;

    check_ack(data, size);
    batch = sluice_wire_decode((const char *)data, size, err, sizeof(err));
    if (!batch) {
        if (!err[0])
            fuzz_fail("a frame was refused without a reason");
        return 0;
    }
    /* Untouched: out as it came in. */
    frame = sluice_wire_encode(batch, &len);
    if (!frame)
        fuzz_fail("an accepted frame does not encode again");
    copy = decode_own_frame(frame, len, "an untouched re-encoded frame");
    expect_same_batch(batch, copy);
    free(frame);
    sluice_batch_destroy(&copy);

    /* A stage's work, then out again; `original` keeps the text as it came. */
    original = decode_own_frame((const char *)data, size, "the input frame, decoded twice,");
    work_on(batch, data, size);
    sluice_batch_prepare_for_wire(batch);
    frame = sluice_wire_encode(batch, &len);
    if (!frame)
        fuzz_fail("a batch does not encode after a stage's work");
    expect_live_records(batch, original, frame, len);
    free(frame);

    sluice_batch_compact(batch);
    if (batch->count != sluice_batch_live(batch))
        fuzz_fail("compact kept %zu of %zu live records", batch->count, sluice_batch_live(batch));
    sluice_batch_destroy(&original);
    sluice_batch_destroy(&batch);
    return 0;
}
