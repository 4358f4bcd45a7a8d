/* wire.c: the ZeroMQ frame format of a batch and of an acknowledgement
 * (see batch.h): a JSON header line, then one compact JSON record a line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "util/dynbuf.h"

#define WIRE_VERSION 1
/* First guess of one record's encoded size, to size the buffer once per
 * batch; later frames of the same thread use what the previous one
 * measured (record_guess). */
#define WIRE_RECORD_GUESS 1024

/* Mean encoded record size of this thread's previous frame plus 1/8: a
 * stage's records are alike from batch to batch, so the buffer is sized
 * once instead of doubled (a realloc copying megabytes, and fresh pages
 * faulted in) when its records are larger than the first guess. Only a
 * hint: a wrong one costs a realloc. */
static _Thread_local size_t record_guess = WIRE_RECORD_GUESS;


/* 1 when slot travels in a frame (live: not dropped, not rejected). */
static int slot_travels(const sluice_batch_slot *slot)
{
    return !slot->dropped && sluice_slot_has_record(slot) &&
           slot->outcome != SLUICE_RECORD_REJECTED;
}

/* 1 when slot is a source's text not known to parse yet. */
static int slot_unverified(const sluice_batch_slot *slot)
{
    return slot->unverified && !slot->record && slot->text;
}

/* The header's "unverified" list: [STAGE, FIRST, COUNT] for each run of
 * record lines (counted from 0) that one stage appended unverified.
 * Returns 0 (list set to a new array, or NULL when there is none) or -1
 * (ENOMEM). */
static int unverified_list(const sluice_batch *batch, json_t **list)
{
    size_t line = 0, first = 0, count = 0;
    const char *stage = NULL;
    *list = NULL;
    for (size_t i = 0; i <= batch->count; i++) {
        const sluice_batch_slot *slot = i < batch->count ? &batch->slots[i] : NULL;
        if (slot && !slot_travels(slot))
            continue;
        int marked = slot && slot_unverified(slot);
        const char *by = marked && slot->appended_by ? slot->appended_by : "";
        if (count && (!marked || strcmp(by, stage) != 0)) {
            /* the run ends here */
            if ((!*list && !(*list = json_array())) ||
                json_array_append_new(*list, json_pack("[s,I,I]", stage, (json_int_t)first,
                                                       (json_int_t)count)) != 0)
                return -1;
            count = 0;
        }
        if (marked) {
            if (count == 0) {
                first = line;
                stage = by;
            }
            count++;
        }
        line++;
    }
    return 0;
}

/* Append the origins of the unverified record lines, one line each in
 * record order: an origin's newlines become spaces, none is an empty
 * line. Returns 0 or -1 (ENOMEM). */
static int append_origins(dynbuf *buf, const sluice_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        if (!slot_travels(slot) || !slot_unverified(slot))
            continue;
        size_t len = 0;
        const char *origin = sluice_slot_origin(slot, &len);
        if (dynbuf_reserve(buf, len + 1) != 0)
            return -1;
        for (size_t k = 0; k < len; k++)
            buf->data[buf->len + k] = origin[k] == '\n' ? ' ' : origin[k];
        buf->len += len;
        buf->data[buf->len++] = '\n';
        buf->data[buf->len] = '\0'; /* dynbuf's invariant: room was reserved for it */
    }
    return 0;
}

/* The header's "replay" list: [LINE, DLQ_ID, HISTORY] for each record
 * line (counted from 0) that is a record `sluice dlq replay` re-drives.
 * Returns 0 (list set to a new array, or NULL when there is none) or -1
 * (ENOMEM). */
static int replay_list(const sluice_batch *batch, json_t **list)
{
    size_t line = 0;
    *list = NULL;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        if (!slot_travels(slot))
            continue;
        if (slot->replay_of > 0 &&
            ((!*list && !(*list = json_array())) ||
             json_array_append_new(*list, json_pack("[I,I,O]", (json_int_t)line,
                                                    (json_int_t)slot->replay_of,
                                                    slot->history)) != 0))
            return -1;
        line++;
    }
    return 0;
}

/* Add a replay batch's "enter_at" and "replay" to `header`. 0 or -1. */
static int add_replay(json_t *header, const sluice_batch *batch)
{
    json_t *list = NULL;
    int result = -1;
    if (!batch->enter_at)
        return 0; /* only a replay batch carries replayed records */
    if (json_object_set_new(header, "enter_at", json_string(batch->enter_at)) != 0 ||
        replay_list(batch, &list) != 0 ||
        (list && json_object_set(header, "replay", list) != 0))
        goto out;
    result = 0;
out:
    json_decref(list);
    return result;
}

char *sluice_wire_encode(const sluice_batch *batch, size_t *len)
{
    dynbuf buf;
    json_t *header = NULL, *unverified = NULL;
    char *result = NULL;
    dynbuf_init(&buf, 0);
    if (!batch || !len)
        goto out;
    size_t live = sluice_batch_live(batch);
    header = json_pack("{s:i,s:I,s:I,s:I,s:O?}", "v", WIRE_VERSION,
                       "epoch", (json_int_t)batch->epoch, "id", (json_int_t)batch->id,
                       "n", (json_int_t)live, "checkpoint", batch->checkpoint);
    if (!header)
        goto out;
    if (batch->capacity && json_object_set_new(header, "cap",
                                               json_integer((json_int_t)batch->capacity)) != 0)
        goto out;
    if (unverified_list(batch, &unverified) != 0)
        goto out;
    if (unverified && json_object_set(header, "unverified", unverified) != 0)
        goto out;
    if (add_replay(header, batch) != 0)
        goto out;
    /* the first reservation is the whole frame's estimate; growing doubles */
    if (dynbuf_reserve(&buf, 256 + live * record_guess) != 0)
        goto out;
    if (dynbuf_append_json(&buf, header, JSON_COMPACT) != 0 ||
        dynbuf_append(&buf, "\n", 1) != 0)
        goto out;
    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];
        if (!slot_travels(slot))
            continue;
        if (!slot->record) {
            /* never parsed here: the text that came in goes out */
            if (dynbuf_append(&buf, slot->text, slot->text_len) != 0 ||
                dynbuf_append(&buf, "\n", 1) != 0)
                goto out;
            continue;
        }
        /* Compact JSON escapes control characters, so a record never
         * contains a raw newline and lines delimit records. */
        if (dynbuf_append_json(&buf, slot->record, JSON_COMPACT) != 0 ||
            dynbuf_append(&buf, "\n", 1) != 0)
            goto out;
    }
    if (unverified && append_origins(&buf, batch) != 0)
        goto out;
    if (live > 0)
        record_guess = buf.len / live + buf.len / live / 8 + 16;
    *len = buf.len;
    result = dynbuf_steal(&buf);
out:
    dynbuf_free(&buf);
    json_decref(header);
    json_decref(unverified);
    return result;
}

/* Read a non-negative integer member of obj into *out. Returns 0 or -1. */
static int get_uint(const json_t *obj, const char *name, uint64_t *out)
{
    const json_t *value = json_object_get(obj, name);
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(value);
    return 0;
}

/* Check the header's "unverified" list against the frame's count of
 * records: runs [STAGE, FIRST, COUNT] in record order, inside the records,
 * not overlapping. Sets *lines to the number of origin lines that follow
 * the records. Returns 0, or -1 with the reason in errbuf. */
static int check_unverified(const json_t *list, uint64_t count, uint64_t *lines,
                            char *errbuf, size_t errlen)
{
    size_t i;
    const json_t *run;
    uint64_t next_free = 0;
    *lines = 0;
    if (!list)
        return 0;
    if (!json_is_array(list)) {
        snprintf(errbuf, errlen, "bad frame header: unverified must be an array");
        return -1;
    }
    json_array_foreach(list, i, run) {
        const json_t *first = json_array_get(run, 1), *n = json_array_get(run, 2);
        if (json_array_size(run) != 3 || !json_is_string(json_array_get(run, 0)) ||
            !json_is_integer(first) || !json_is_integer(n) ||
            json_integer_value(first) < 0 || json_integer_value(n) < 1 ||
            (uint64_t)json_integer_value(first) > count ||
            (uint64_t)json_integer_value(first) < next_free ||
            (uint64_t)json_integer_value(n) > count - (uint64_t)json_integer_value(first)) {
            snprintf(errbuf, errlen, "bad frame header: unverified run %zu is not "
                     "[stage, first, count] in order within the %" PRIu64 " records", i + 1,
                     count);
            return -1;
        }
        next_free = (uint64_t)json_integer_value(first) + (uint64_t)json_integer_value(n);
        *lines += (uint64_t)json_integer_value(n);
    }
    return 0;
}

/* Mark the record lines of each run of the "unverified" list (checked) as
 * a source's text not known to parse, with their origins (the lines after
 * the records, at origin_starts/origin_lens in the batch's text; an empty
 * one is none): the first stage that reads one checks it. appended_by
 * points into the header, which the batch keeps. */
static void mark_unverified(sluice_batch *batch, const json_t *list, const size_t *origin_starts,
                            const size_t *origin_lens)
{
    size_t i, next = 0;
    const json_t *run;
    json_array_foreach(list, i, run) {
        const char *stage = json_string_value(json_array_get(run, 0));
        size_t first = (size_t)json_integer_value(json_array_get(run, 1));
        size_t n = (size_t)json_integer_value(json_array_get(run, 2));
        for (size_t k = first; k < first + n; k++, next++) {
            sluice_batch_slot *slot = &batch->slots[k];
            slot->appended_by = stage;
            slot->unverified = 1;
            if (origin_lens[next] > 0) {
                slot->wire_origin = batch->text_buf + origin_starts[next];
                slot->wire_origin_len = origin_lens[next];
            }
        }
    }
}

/* Check a replay batch's "enter_at" (a non-empty stage name) and its
 * "replay" list against the frame's count of records: [LINE, DLQ_ID,
 * HISTORY] with lines in order within the records, DLQ_ID > 0 and
 * HISTORY an array; a list needs an enter_at. Returns 0, or -1 with the
 * reason in errbuf. */
static int check_replay(const json_t *enter_at, const json_t *list, uint64_t count,
                        char *errbuf, size_t errlen)
{
    size_t i;
    const json_t *item;
    uint64_t next_free = 0;
    if (enter_at && (!json_is_string(enter_at) || json_string_length(enter_at) == 0)) {
        snprintf(errbuf, errlen, "bad frame header: enter_at must be a stage name");
        return -1;
    }
    if (!list)
        return 0;
    if (!enter_at || !json_is_array(list)) {
        snprintf(errbuf, errlen, "bad frame header: replay must be an array, with enter_at");
        return -1;
    }
    json_array_foreach(list, i, item) {
        const json_t *line = json_array_get(item, 0), *id = json_array_get(item, 1);
        if (json_array_size(item) != 3 || !json_is_integer(line) || !json_is_integer(id) ||
            !json_is_array(json_array_get(item, 2)) || json_integer_value(line) < 0 ||
            (uint64_t)json_integer_value(line) < next_free ||
            (uint64_t)json_integer_value(line) >= count || json_integer_value(id) < 1) {
            snprintf(errbuf, errlen, "bad frame header: replay item %zu is not [line, dlq id, "
                     "history] in order within the %" PRIu64 " records", i + 1, count);
            return -1;
        }
        next_free = (uint64_t)json_integer_value(line) + 1;
    }
    return 0;
}

/* Give a decoded batch its replay marks (checked by check_replay): the
 * stage to enter at and, per replayed record line, its DLQ id and
 * history. Returns 0 or -1 (ENOMEM). */
static int mark_replay(sluice_batch *batch, const json_t *enter_at, const json_t *list)
{
    size_t i;
    const json_t *item;
    if (!enter_at)
        return 0;
    if (sluice_batch_set_enter_at(batch, json_string_value(enter_at)) != 0)
        return -1;
    json_array_foreach(list, i, item) {
        sluice_batch_slot *slot = &batch->slots[json_integer_value(json_array_get(item, 0))];
        slot->replay_of = (int64_t)json_integer_value(json_array_get(item, 1));
        slot->history = json_incref(json_array_get(item, 2));
    }
    return 0;
}

sluice_batch *sluice_wire_decode(const char *buf, size_t len, char *errbuf, size_t errlen)
{
    sluice_batch *batch = NULL;
    sluice_batch *result = NULL;
    json_t *header = NULL;
    json_error_t jerr;
    uint64_t version = 0, epoch = 0, id = 0, count = 0, capacity = 0;
    char *text = NULL;
    size_t *starts = NULL, *lens = NULL;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!buf || len == 0) {
        snprintf(errbuf, errlen, "empty frame");
        goto out;
    }
    const char *end = buf + len;
    const char *eol = memchr(buf, '\n', len);
    const char *header_end = eol ? eol : end;
    header = json_loadb(buf, (size_t)(header_end - buf), 0, &jerr);
    if (!json_is_object(header)) {
        snprintf(errbuf, errlen, "bad frame header: %s",
                 header ? "not an object" : jerr.text);
        goto out;
    }
    if (get_uint(header, "v", &version) != 0 || version != WIRE_VERSION) {
        snprintf(errbuf, errlen, "bad frame header: unsupported version");
        goto out;
    }
    if (get_uint(header, "epoch", &epoch) != 0 || get_uint(header, "id", &id) != 0 ||
        get_uint(header, "n", &count) != 0) {
        snprintf(errbuf, errlen, "bad frame header: epoch, id and n must be integers >= 0");
        goto out;
    }
    if (json_object_get(header, "cap") && get_uint(header, "cap", &capacity) != 0) {
        snprintf(errbuf, errlen, "bad frame header: cap must be an integer >= 0");
        goto out;
    }
    /* A record takes at least "{}\n": a header claiming more is corrupt, and
     * checking it first keeps a bogus n from causing a huge allocation. */
    if (count > (uint64_t)(end - header_end) / 3 + 1) {
        snprintf(errbuf, errlen, "bad frame: header says %" PRIu64 " records, frame too short",
                 count);
        goto out;
    }
    batch = sluice_batch_new(epoch, id, capacity);
    if (!batch) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    json_t *checkpoint = json_object_get(header, "checkpoint");
    if (checkpoint && !json_is_null(checkpoint))
        sluice_batch_set_checkpoint(batch, json_incref(checkpoint));
    const json_t *unverified = json_object_get(header, "unverified");
    uint64_t origins = 0;
    if (check_unverified(unverified, count, &origins, errbuf, errlen) != 0)
        goto out;
    const json_t *enter_at = json_object_get(header, "enter_at");
    const json_t *replayed = json_object_get(header, "replay");
    if (check_replay(enter_at, replayed, count, errbuf, errlen) != 0)
        goto out;
    const char *body = eol ? eol + 1 : end;
    size_t body_len = (size_t)(end - body);
    if (count) {
        starts = malloc((size_t)(count + origins) * sizeof(*starts));
        lens = malloc((size_t)(count + origins) * sizeof(*lens));
        text = malloc(body_len ? body_len : 1);
        if (!starts || !lens || !text) {
            snprintf(errbuf, errlen, "out of memory");
            goto out;
        }
        memcpy(text, body, body_len);
    }
    /* Split the lines: the records, each of which must look like one
     * object (parsing waits until a stage asks for the record,
     * sluice_batch_slot_record), then the origins of the unverified ones. */
    uint64_t seen = 0;
    size_t pos = 0;
    while (pos < body_len) {
        const char *line = body + pos;
        const char *line_end = memchr(line, '\n', body_len - pos);
        size_t line_len = line_end ? (size_t)(line_end - line) : body_len - pos;
        if (seen == count + origins) {
            if (origins)
                snprintf(errbuf, errlen, "bad frame: more than the %" PRIu64 " records and %"
                         PRIu64 " origins announced", count, origins);
            else
                snprintf(errbuf, errlen, "bad frame: more than the %" PRIu64
                         " records announced", count);
            goto out;
        }
        if (seen < count && (line_len < 2 || line[0] != '{' || line[line_len - 1] != '}')) {
            snprintf(errbuf, errlen, "bad frame: record %" PRIu64 ": not a JSON object",
                     seen + 1);
            goto out;
        }
        starts[seen] = pos;
        lens[seen] = line_len;
        seen++;
        pos += line_len + 1;
    }
    if (seen != count + origins) {
        if (origins)
            snprintf(errbuf, errlen, "bad frame: header says %" PRIu64 " records and %" PRIu64
                     " origins, found %" PRIu64 " lines", count, origins, seen);
        else
            snprintf(errbuf, errlen, "bad frame: header says %" PRIu64 " records, found %"
                     PRIu64, count, seen);
        goto out;
    }
    if (count && sluice_batch_adopt_text(batch, text, starts, lens, (size_t)count) != 0) {
        text = NULL; /* freed by adopt */
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    text = NULL;
    batch->wire_header = json_incref(header);
    if (origins)
        mark_unverified(batch, unverified, starts + count, lens + count);
    if (mark_replay(batch, enter_at, replayed) != 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    result = batch;
    batch = NULL;
out:
    sluice_batch_destroy(&batch);
    json_decref(header);
    free(text);
    free(starts);
    free(lens);
    return result;
}

char *sluice_wire_encode_ack(uint64_t epoch, uint64_t id, size_t *len)
{
    char *text = NULL;
    json_t *ack = json_pack("{s:i,s:I,s:I}", "v", WIRE_VERSION, "epoch", (json_int_t)epoch,
                            "id", (json_int_t)id);
    if (!ack || !len)
        goto out;
    text = json_dumps(ack, JSON_COMPACT);
    if (text)
        *len = strlen(text);
out:
    json_decref(ack);
    return text;
}

int sluice_wire_decode_ack(const char *buf, size_t len, uint64_t *epoch, uint64_t *id)
{
    int result = -1;
    uint64_t version = 0;
    json_t *ack = buf ? json_loadb(buf, len, 0, NULL) : NULL;
    if (!json_is_object(ack) || get_uint(ack, "v", &version) != 0 ||
        version != WIRE_VERSION)
        goto out;
    if (get_uint(ack, "epoch", epoch) != 0 || get_uint(ack, "id", id) != 0)
        goto out;
    result = 0;
out:
    json_decref(ack);
    return result;
}
