/* window.c: a source's in-flight window: a ring of the batches sent and
 * not yet committed, popped in order as their acks arrive. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "window.h"

int sluice_window_init(sluice_window *w, size_t capacity)
{
    memset(w, 0, sizeof(*w));
    if (capacity == 0)
        return -1;
    w->entries = calloc(capacity, sizeof(*w->entries));
    if (!w->entries)
        return -1;
    w->capacity = capacity;
    return 0;
}

void sluice_window_clear(sluice_window *w, int release)
{
    for (size_t i = 0; i < w->count; i++) {
        sluice_window_entry *e = &w->entries[(w->head + i) % w->capacity];
        json_decref(e->checkpoint);
        e->checkpoint = NULL;
    }
    w->head = 0;
    w->count = 0;
    if (release) {
        free(w->entries);
        w->entries = NULL;
        w->capacity = 0;
    }
}

int sluice_window_push(sluice_window *w, uint64_t id, json_t *checkpoint, size_t records,
                       int64_t sent_ms)
{
    sluice_window_entry *e;

    if (w->count == w->capacity)
        goto refuse;
    if (w->count > 0 && w->entries[(w->head + w->count - 1) % w->capacity].id >= id)
        goto refuse;
    e = &w->entries[(w->head + w->count) % w->capacity];
    e->id = id;
    e->checkpoint = checkpoint;
    e->records = records;
    e->sent_ms = sent_ms;
    e->done = 0;
    w->count++;
    return 0;
refuse:
    json_decref(checkpoint);
    return -1;
}

int sluice_window_ack(sluice_window *w, uint64_t id)
{
    for (size_t i = 0; i < w->count; i++) {
        sluice_window_entry *e = &w->entries[(w->head + i) % w->capacity];
        if (e->id == id) {
            if (e->done)
                return 1;
            e->done = 1;
            return 0;
        }
    }
    return 1;
}

size_t sluice_window_pop_done(sluice_window *w, uint64_t *last_id, json_t **checkpoint,
                              size_t *records)
{
    size_t popped = 0;
    size_t record_sum = 0;
    json_t *newest = NULL;

    while (w->count > 0 && w->entries[w->head].done) {
        sluice_window_entry *e = &w->entries[w->head];
        *last_id = e->id;
        record_sum += e->records;
        if (e->checkpoint) {
            json_decref(newest);
            newest = e->checkpoint;
        }
        e->checkpoint = NULL;
        w->head = (w->head + 1) % w->capacity;
        w->count--;
        popped++;
    }
    if (records)
        *records = record_sum;
    if (checkpoint)
        *checkpoint = newest;
    else
        json_decref(newest);
    return popped;
}

int64_t sluice_window_sent_ms(const sluice_window *w, uint64_t id)
{
    for (size_t k = 0; k < w->count; k++) {
        const sluice_window_entry *e = &w->entries[(w->head + k) % w->capacity];
        if (e->id == id)
            return e->done ? -1 : e->sent_ms;
    }
    return -1;
}

int64_t sluice_window_oldest_sent(const sluice_window *w)
{
    return w->count ? w->entries[w->head].sent_ms : -1;
}
