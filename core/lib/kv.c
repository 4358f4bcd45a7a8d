/* kv.c: a stage's key/value state: committed rows in the store plus
 * writes staged per in-flight batch, with a hash map of the newest staged
 * value per key so a read costs one lookup (plus one SQLite read on a
 * miss), whatever the number of batches in flight. */
#include <stdlib.h>
#include <string.h>
#include "kv.h"

/* Writes of one in-flight batch: key -> value, JSON null = delete. */
typedef struct staged_batch {
    uint64_t epoch;
    uint64_t id;
    json_t *writes;
} staged_batch;

struct sluice_kv {
    sluice_store *store; /* borrowed */
    char *stage;
    staged_batch *batches; /* ascending (epoch, id) */
    size_t batch_count;
    size_t batch_allocated;
    json_t *newest; /* key -> newest staged value (JSON null = deleted) */
};

sluice_kv *sluice_kv_new(sluice_store *store, const char *stage)
{
    sluice_kv *kv = calloc(1, sizeof(*kv));
    if (!kv)
        return NULL;
    kv->store = store;
    kv->stage = strdup(stage ? stage : "");
    kv->newest = json_object();
    if (!kv->stage || !kv->newest)
        sluice_kv_destroy(&kv);
    return kv;
}

void sluice_kv_destroy(sluice_kv **kv_p)
{
    if (!kv_p || !*kv_p)
        return;
    sluice_kv *kv = *kv_p;
    for (size_t i = 0; i < kv->batch_count; i++)
        json_decref(kv->batches[i].writes);
    free(kv->batches);
    json_decref(kv->newest);
    free(kv->stage);
    free(kv);
    *kv_p = NULL;
}

/* -1, 0, 1 as (epoch, id) of a is before, equal to, after (epoch, id). */
static int batch_order(const staged_batch *a, uint64_t epoch, uint64_t id)
{
    if (a->epoch != epoch)
        return a->epoch < epoch ? -1 : 1;
    if (a->id != id)
        return a->id < id ? -1 : 1;
    return 0;
}

/* The staged batch (epoch, id), created in order if missing; *is_newest
 * tells whether it is the last one. NULL on ENOMEM. */
static staged_batch *batch_find_or_add(sluice_kv *kv, uint64_t epoch, uint64_t id,
                                       int *is_newest)
{
    size_t pos = kv->batch_count;
    /* Batches nearly always arrive in order: search from the end. */
    while (pos > 0 && batch_order(&kv->batches[pos - 1], epoch, id) > 0)
        pos--;
    if (pos > 0 && batch_order(&kv->batches[pos - 1], epoch, id) == 0) {
        *is_newest = (pos == kv->batch_count);
        return &kv->batches[pos - 1];
    }
    if (kv->batch_count == kv->batch_allocated) {
        size_t grown = kv->batch_allocated ? kv->batch_allocated * 2 : 8;
        staged_batch *batches = realloc(kv->batches, grown * sizeof(*batches));
        if (!batches)
            return NULL;
        kv->batches = batches;
        kv->batch_allocated = grown;
    }
    json_t *writes = json_object();
    if (!writes)
        return NULL;
    memmove(&kv->batches[pos + 1], &kv->batches[pos],
            (kv->batch_count - pos) * sizeof(*kv->batches));
    kv->batches[pos] = (staged_batch){ epoch, id, writes };
    kv->batch_count++;
    *is_newest = (pos == kv->batch_count - 1);
    return &kv->batches[pos];
}

/* Recompute newest[key] from the staged batches, newest first. */
static void newest_refresh(sluice_kv *kv, const char *key)
{
    for (size_t i = kv->batch_count; i > 0; i--) {
        json_t *value = json_object_get(kv->batches[i - 1].writes, key);
        if (value) {
            json_object_set(kv->newest, key, value);
            return;
        }
    }
    json_object_del(kv->newest, key);
}

/* Remove staged batches [from, to) and refresh the keys they wrote. */
static void batches_remove(sluice_kv *kv, size_t from, size_t to)
{
    json_t *touched = json_object();
    for (size_t i = from; i < to; i++) {
        if (touched)
            json_object_update(touched, kv->batches[i].writes);
    }
    for (size_t i = from; i < to; i++)
        json_decref(kv->batches[i].writes);
    memmove(&kv->batches[from], &kv->batches[to],
            (kv->batch_count - to) * sizeof(*kv->batches));
    kv->batch_count -= to - from;
    if (!touched) {
        /* No memory for the key list: rebuild the whole map. */
        json_object_clear(kv->newest);
        for (size_t i = 0; i < kv->batch_count; i++)
            json_object_update(kv->newest, kv->batches[i].writes);
        return;
    }
    const char *key;
    json_t *ignored;
    json_object_foreach(touched, key, ignored)
        newest_refresh(kv, key);
    json_decref(touched);
}

json_t *sluice_kv_get(sluice_kv *kv, const char *key)
{
    json_t *value = NULL;
    if (!kv || !key)
        return NULL;
    json_t *staged = json_object_get(kv->newest, key);
    if (staged)
        return json_is_null(staged) ? NULL : json_incref(staged);
    if (kv->store && sluice_store_kv_get(kv->store, kv->stage, key, &value) != 0)
        return NULL;
    return value;
}

int sluice_kv_stage(sluice_kv *kv, uint64_t epoch, uint64_t batch_id, const char *key,
                    const json_t *value)
{
    if (!kv || !key)
        return -1;
    json_t *copy = value ? json_deep_copy(value) : json_null();
    if (!copy)
        return -1;
    return sluice_kv_stage_new(kv, epoch, batch_id, key, copy);
}

int sluice_kv_stage_new(sluice_kv *kv, uint64_t epoch, uint64_t batch_id, const char *key,
                        json_t *value)
{
    int is_newest = 0;
    if (!value)
        value = json_null();
    if (!kv || !key || !value) {
        json_decref(value);
        return -1;
    }
    staged_batch *batch = batch_find_or_add(kv, epoch, batch_id, &is_newest);
    /* json_object_set_new steals value even when it fails. */
    if (!batch || json_object_set_new(batch->writes, key, value) != 0) {
        if (!batch)
            json_decref(value);
        return -1;
    }
    if (is_newest) {
        if (json_object_set(kv->newest, key, value) != 0)
            return -1;
    } else {
        newest_refresh(kv, key);
    }
    return 0;
}

int sluice_kv_commit(sluice_kv *kv, uint64_t epoch, uint64_t batch_id)
{
    int result = -1;
    size_t first = kv ? kv->batch_count : 0;
    size_t last = 0;
    json_t *merged = json_object();
    if (!kv || !merged)
        goto out;
    for (size_t i = 0; i < kv->batch_count; i++) {
        staged_batch *batch = &kv->batches[i];
        if (batch->epoch != epoch || batch->id > batch_id)
            continue;
        if (first == kv->batch_count)
            first = i;
        last = i + 1;
        /* In order, so later batches override earlier ones. */
        if (json_object_update(merged, batch->writes) != 0)
            goto out;
    }
    if (first == kv->batch_count) {
        result = 0; /* nothing staged for these batches */
        goto out;
    }
    if (!kv->store || sluice_store_kv_apply(kv->store, kv->stage, merged) != 0)
        goto out;
    /* Batches of one epoch are contiguous in the sorted list. */
    batches_remove(kv, first, last);
    result = 0;
out:
    json_decref(merged);
    return result;
}

void sluice_kv_discard_before(sluice_kv *kv, uint64_t epoch)
{
    size_t stale = 0;
    if (!kv)
        return;
    while (stale < kv->batch_count && kv->batches[stale].epoch < epoch)
        stale++;
    if (stale)
        batches_remove(kv, 0, stale);
}

/* Remove a key from every staged batch and from the newest map (after a
 * write-through made the committed value authoritative). */
void sluice_kv_unstage(sluice_kv *kv, const char *key)
{
    if (!kv || !key)
        return;
    for (size_t i = 0; i < kv->batch_count; i++)
        json_object_del(kv->batches[i].writes, key);
    json_object_del(kv->newest, key);
}

/* Collects committed values into an object (callback of store foreach). */
static int collect_committed(const char *key, const json_t *value, void *user)
{
    return json_object_set((json_t *)user, key, (json_t *)value) == 0 ? 0 : -1;
}

/* qsort comparator of C strings. */
static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sluice_kv_foreach(sluice_kv *kv, const char *prefix,
                      int (*fn)(const char *key, const json_t *value, void *user), void *user)
{
    int result = -1;
    const char **keys = NULL;
    json_t *merged = json_object();
    size_t prefix_len = prefix ? strlen(prefix) : 0;
    if (!kv || !fn || !merged)
        goto out;
    if (kv->store && sluice_store_kv_foreach(kv->store, kv->stage, prefix, collect_committed,
                                             merged) != 0)
        goto out;
    const char *key;
    json_t *value;
    json_object_foreach(kv->newest, key, value) {
        if (prefix_len && strncmp(key, prefix, prefix_len) != 0)
            continue;
        if (json_is_null(value))
            json_object_del(merged, key);
        else if (json_object_set(merged, key, value) != 0)
            goto out;
    }
    size_t count = json_object_size(merged);
    keys = calloc(count ? count : 1, sizeof(*keys));
    if (!keys)
        goto out;
    size_t n = 0;
    json_object_foreach(merged, key, value)
        keys[n++] = key;
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (size_t i = 0; i < n; i++) {
        int stop = fn(keys[i], json_object_get(merged, keys[i]), user);
        if (stop) {
            result = stop;
            goto out;
        }
    }
    result = 0;
out:
    free(keys);
    json_decref(merged);
    return result;
}
