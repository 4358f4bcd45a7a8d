/* anniv_index.c: members by next anniversary day (see anniv_index.h).
 * Open-addressing hash (FNV-1a) over an entry array, plus a binary
 * min-heap of (day, entry) pairs; stale heap pairs are skipped on pop. */
#include <config.h>
#include <stdlib.h>
#include <string.h>
#include "anniv_index.h"

typedef struct anniv_entry {
    char *id;
    int64_t day;
} anniv_entry;

typedef struct anniv_slot {
    int64_t day;
    size_t entry;
} anniv_slot;

struct anniv_index {
    anniv_entry *entries;
    size_t count, capacity;
    size_t *table;          /* entry index + 1; 0 = empty */
    size_t table_size;      /* power of two */
    anniv_slot *heap;
    size_t heap_count, heap_capacity;
};

static uint64_t hash_id(const char *id)
{
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return hash;
}

anniv_index *anniv_index_new(void)
{
    anniv_index *index = calloc(1, sizeof(*index));
    if (!index)
        return NULL;
    index->table_size = 1024;
    index->table = calloc(index->table_size, sizeof(size_t));
    if (!index->table) {
        free(index);
        return NULL;
    }
    return index;
}

void anniv_index_clear(anniv_index *index)
{
    for (size_t i = 0; i < index->count; i++)
        free(index->entries[i].id);
    index->count = 0;
    index->heap_count = 0;
    memset(index->table, 0, index->table_size * sizeof(size_t));
}

void anniv_index_destroy(anniv_index **index_p)
{
    anniv_index *index;
    if (!index_p || !*index_p)
        return;
    index = *index_p;
    anniv_index_clear(index);
    free(index->entries);
    free(index->table);
    free(index->heap);
    free(index);
    *index_p = NULL;
}

size_t anniv_index_size(const anniv_index *index)
{
    return index->count;
}

/* Slot of `id` in the table: its entry, or the empty slot to use. */
static size_t table_find(const anniv_index *index, const char *id)
{
    size_t mask = index->table_size - 1;
    size_t slot = (size_t)hash_id(id) & mask;
    while (index->table[slot] &&
           strcmp(index->entries[index->table[slot] - 1].id, id) != 0)
        slot = (slot + 1) & mask;
    return slot;
}

static int table_grow(anniv_index *index)
{
    size_t new_size = index->table_size * 2;
    size_t *table = calloc(new_size, sizeof(size_t));
    if (!table)
        return -1;
    free(index->table);
    index->table = table;
    index->table_size = new_size;
    for (size_t i = 0; i < index->count; i++)
        index->table[table_find(index, index->entries[i].id)] = i + 1;
    return 0;
}

static int heap_push(anniv_index *index, int64_t day, size_t entry)
{
    size_t i;
    if (index->heap_count == index->heap_capacity) {
        size_t capacity = index->heap_capacity ? index->heap_capacity * 2 : 1024;
        anniv_slot *heap = realloc(index->heap, capacity * sizeof(*heap));
        if (!heap)
            return -1;
        index->heap = heap;
        index->heap_capacity = capacity;
    }
    i = index->heap_count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (index->heap[parent].day <= day)
            break;
        index->heap[i] = index->heap[parent];
        i = parent;
    }
    index->heap[i].day = day;
    index->heap[i].entry = entry;
    return 0;
}

static void heap_pop(anniv_index *index)
{
    anniv_slot last = index->heap[--index->heap_count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= index->heap_count)
            break;
        if (child + 1 < index->heap_count &&
            index->heap[child + 1].day < index->heap[child].day)
            child++;
        if (index->heap[child].day >= last.day)
            break;
        index->heap[i] = index->heap[child];
        i = child;
    }
    if (index->heap_count > 0)
        index->heap[i] = last;
}

int anniv_index_set(anniv_index *index, const char *id, int64_t day)
{
    size_t slot, entry;
    if ((index->count + 1) * 2 > index->table_size && table_grow(index))
        return -1;
    slot = table_find(index, id);
    if (index->table[slot]) {
        entry = index->table[slot] - 1;
        if (index->entries[entry].day == day)
            return 0;
    } else {
        size_t len = strlen(id);
        if (index->count == index->capacity) {
            size_t capacity = index->capacity ? index->capacity * 2 : 1024;
            anniv_entry *entries = realloc(index->entries, capacity * sizeof(*entries));
            if (!entries)
                return -1;
            index->entries = entries;
            index->capacity = capacity;
        }
        entry = index->count;
        index->entries[entry].id = malloc(len + 1);
        if (!index->entries[entry].id)
            return -1;
        memcpy(index->entries[entry].id, id, len + 1);
        index->count++;
        index->table[slot] = entry + 1;
    }
    index->entries[entry].day = day;
    if (day == INT64_MAX)
        return 0;
    return heap_push(index, day, entry);
}

const char *anniv_index_pop_due(anniv_index *index, int64_t day)
{
    while (index->heap_count > 0 && index->heap[0].day <= day) {
        anniv_slot top = index->heap[0];
        heap_pop(index);
        if (index->entries[top.entry].day == top.day) {
            /* Mark it as taken so a duplicate heap pair is skipped. */
            index->entries[top.entry].day = INT64_MAX;
            return index->entries[top.entry].id;
        }
    }
    return NULL;
}
