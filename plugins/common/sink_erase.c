/* sink_erase.c: the sinks' erasure list and suppression (sink_erase.h,
 * docs/erasure.md): entries "erase/<loyalty id>" in the sink's own state,
 * a copy of the suppressed ones in memory so a record costs one hash
 * look-up, and the re-enrolment rule that lifts a suppression. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loytime.h"
#include "sink_erase.h"

/* sluice_state_foreach callback: keep the entries not lifted. */
static int load_entry(const char *key, const json_t *value, void *user)
{
    erase_list *list = user;
    const char *id = key + strlen(ERASE_KEY_PREFIX);

    if (!json_is_object(value) || json_object_get(value, "lifted_at") || !*id)
        return 0;
    return json_object_set(list->suppressed, id, (json_t *)value) == 0 ? 0 : -1;
}

int erase_list_load(sluice_ctx *ctx, erase_list *list, const char *destination,
                    const char *enrolment_path)
{
    memset(list, 0, sizeof(*list));
    list->destination = destination;
    list->suppressed = json_object();
    if (enrolment_path && *enrolment_path && !(list->enrolment_path = strdup(enrolment_path)))
        goto oom;
    if (!list->suppressed)
        goto oom;
    if (sluice_state_foreach(ctx, ERASE_KEY_PREFIX, load_entry, list) != 0) {
        sluice_fail(ctx, "cannot read the erasure list from the state store");
        return -1;
    }
    if (json_object_size(list->suppressed) > 0)
        sluice_log(ctx, SLUICE_LOG_INFO, "%zu erased member(s): their records are dropped "
                   "until they enrol again", json_object_size(list->suppressed));
    return 0;
oom:
    sluice_fail(ctx, "out of memory loading the erasure list");
    return -1;
}

void erase_list_clear(erase_list *list)
{
    if (!list)
        return;
    json_decref(list->suppressed);
    free(list->enrolment_path);
    memset(list, 0, sizeof(*list));
}

int erase_record_is(const json_t *record)
{
    const char *kind = json_string_value(json_object_get(record, "kind"));
    const char *id = json_string_value(json_object_get(record, "loyalty_id"));

    return kind && strcmp(kind, "erase") == 0 && id && *id;
}

char *erase_now(char *buf, size_t len)
{
    return loytime_format_timestamp((int64_t)time(NULL), buf, len);
}

/* The state key of member `id` into buf. Returns buf, or NULL when the id
 * does not fit. */
static char *entry_key(const char *id, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s", ERASE_KEY_PREFIX, id);
    return n > 0 && (size_t)n < len ? buf : NULL;
}

/* Write `entry` (stolen) as member id's entry: under batch, or at once
 * when batch is NULL. 0 or -1. */
static int entry_put(sluice_ctx *ctx, sluice_batch *batch, const char *id, json_t *entry)
{
    char key[600];
    int result = -1;

    if (entry && entry_key(id, key, sizeof(key)))
        result = batch ? sluice_state_put(ctx, batch, key, entry)
                       : sluice_state_put_now(ctx, key, entry);
    json_decref(entry);
    return result;
}

/* The UTC instant of a timestamp member `name` of obj, or `fallback`. */
static int64_t entry_time(const json_t *obj, const char *name, int64_t fallback)
{
    const char *text = json_string_value(json_object_get(obj, name));
    int64_t at;

    return text && loytime_parse_date_or_timestamp(text, &at) == 0 ? at : fallback;
}

const json_t *erase_list_take(sluice_ctx *ctx, erase_list *list, sluice_batch *batch,
                              const json_t *record, const json_t *extra, int *fresh)
{
    const char *id = json_string_value(json_object_get(record, "loyalty_id"));
    const char *via = json_string_value(json_object_get(record, "via"));
    const char *requested = json_string_value(json_object_get(record, "requested_at"));
    const json_t *known = json_object_get(list->suppressed, id);
    char now[32], key[600];
    json_t *entry = NULL;

    *fresh = 0;
    if (!id || !entry_key(id, key, sizeof(key)))
        return NULL;
    if (!requested || entry_time(record, "requested_at", -1) < 0)
        requested = erase_now(now, sizeof(now));
    else
        erase_now(now, sizeof(now));
    /* the same erasure again (a batch replayed, a request sent twice) */
    if (known && entry_time(known, "requested_at", 0) >= entry_time(record, "requested_at", 0))
        return known;
    entry = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "loyalty_id", id, "requested_at", requested,
                      "via", via ? via : "unknown", "destination", list->destination, "state",
                      ERASE_QUEUED, "updated_at", now);
    if (!entry || (extra && json_object_update(entry, (json_t *)extra) != 0) ||
        sluice_state_put(ctx, batch, key, entry) != 0 ||
        json_object_set(list->suppressed, id, entry) != 0) {
        json_decref(entry);
        return NULL;
    }
    json_decref(entry);
    *fresh = 1;
    return json_object_get(list->suppressed, id);
}

const json_t *erase_list_find(const erase_list *list, const char *loyalty_id)
{
    return loyalty_id ? json_object_get(list->suppressed, loyalty_id) : NULL;
}

int erase_list_update(sluice_ctx *ctx, erase_list *list, sluice_batch *batch,
                      const char *loyalty_id, const char *state, const char *reason,
                      const json_t *set)
{
    const json_t *known = erase_list_find(list, loyalty_id);
    json_t *entry;
    const char *name;
    json_t *value;
    char now[32];

    if (!known || !(entry = json_deep_copy(known)))
        return -1;
    json_object_set_new(entry, "state", json_string(state));
    json_object_set_new(entry, "updated_at", json_string(erase_now(now, sizeof(now))));
    if (reason)
        json_object_set_new(entry, "reason", json_string(reason));
    else
        json_object_del(entry, "reason");
    json_object_foreach((json_t *)set, name, value) {
        if (json_is_null(value))
            json_object_del(entry, name);
        else
            json_object_set(entry, name, value);
    }
    if (json_object_set(list->suppressed, loyalty_id, entry) != 0) {
        json_decref(entry);
        return -1;
    }
    return entry_put(ctx, batch, loyalty_id, entry);
}

/* The value at dotted `path` in record (borrowed) or NULL. */
static const json_t *path_value(const json_t *record, const char *path)
{
    const json_t *at = record;
    const char *part = path;

    while (at && part && *part) {
        const char *dot = strchr(part, '.');
        size_t len = dot ? (size_t)(dot - part) : strlen(part);
        at = json_object_getn(at, part, len);
        part = dot ? dot + 1 : NULL;
    }
    return at;
}

/* 1 when record's enrolment value is after the erasure `entry`: a date
 * (YYYY-MM-DD) on a later UTC day, a timestamp at a later instant. */
static int enrolled_after(const erase_list *list, const json_t *record, const json_t *entry)
{
    const char *text = list->enrolment_path
                           ? json_string_value(path_value(record, list->enrolment_path))
                           : NULL;
    int64_t erased = entry_time(entry, "requested_at", INT64_MAX), enrolled;

    if (!text || loytime_parse_date_or_timestamp(text, &enrolled) != 0)
        return 0;
    if (strlen(text) == 10)
        return loytime_day_of(enrolled) > loytime_day_of(erased);
    return enrolled > erased;
}

int erase_list_filter(sluice_ctx *ctx, erase_list *list, sluice_batch *batch, size_t i,
                      const json_t *record, const char *loyalty_id)
{
    const json_t *entry = erase_list_find(list, loyalty_id);
    char reason[640], now[32];
    json_t *lifted;

    if (!entry)
        return 0;
    if (enrolled_after(list, record, entry)) {
        lifted = json_deep_copy(entry);
        if (!lifted ||
            json_object_set_new(lifted, "lifted_at",
                                json_string(erase_now(now, sizeof(now)))) != 0) {
            json_decref(lifted);
            return -1;
        }
        sluice_log(ctx, SLUICE_LOG_INFO, "member %s enrolled again after its erasure of %s: "
                   "its records are sent again", loyalty_id,
                   json_string_value(json_object_get(entry, "requested_at")));
        json_object_del(list->suppressed, loyalty_id);
        return entry_put(ctx, batch, loyalty_id, lifted);
    }
    snprintf(reason, sizeof(reason), "member %s was erased (%s): its records are not sent "
             "until it enrols again", loyalty_id,
             json_string_value(json_object_get(entry, "requested_at")));
    sluice_batch_drop_because(batch, i, reason);
    list->dropped++;
    return 1;
}

void erase_list_summary(sluice_ctx *ctx, erase_list *list, sluice_batch *batch)
{
    if (list->dropped <= 0)
        return;
    sluice_metric_add(ctx, "erased_records_dropped", list->dropped);
    sluice_log(ctx, SLUICE_LOG_INFO, "batch %llu: %.0f record(s) of erased members dropped",
               (unsigned long long)sluice_batch_id(batch), list->dropped);
    list->dropped = 0;
}
