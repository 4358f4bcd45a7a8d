/* tier_event_deriver.c: the tier-event-deriver transform plugin: per-member
 * state in the SDK state store (staged with the batch, committed on ack),
 * the anniversary clock sweep over an in-memory index, and the pure rules
 * of deriver_rules.c. See docs/tier-event-deriver.md. */
#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sluice/plugin.h>
#include "deriver_rules.h"
#include "anniv_index.h"
#include "loytime.h"

static const sluice_option deriver_options[] = {
    { "tier_ladder", SLUICE_OPT_LIST, NULL, 1, 0,
      "tier names, lowest first, or groups { name = \"Gold\"; points = 5000; }" },
    { "close_threshold", SLUICE_OPT_STRING, "100", 0, 0,
      "close-to-upgrade threshold: points (\"100\") or a percentage of the next tier's "
      "entry points (\"10%\")" },
    { "derive_points", SLUICE_OPT_BOOL, "true", 0, 0, "derive point_accrual/point_redemption" },
    { "derive_opt", SLUICE_OPT_BOOL, "true", 0, 0, "derive opt_in/opt_out" },
    { "stale", SLUICE_OPT_STRING, "drop", 0, 0,
      "records older than the member's stored as_of: drop or pass (unchanged, nothing derived)", .choices = "drop|pass"},
    { "clock", SLUICE_OPT_STRING, "event", 0, 0,
      "anniversary clock: event (largest as_of seen) or wall (today, UTC)", .choices = "event|wall"},
    { "state_prefix", SLUICE_OPT_STRING, "", 0, 0, "prefix of this stage's state keys" },
    SLUICE_OPTION_END
};

/* Batches whose member writes are remembered for a rewind: far more than
 * a pipeline window keeps unacknowledged. */
#define JOURNAL_BATCHES 256

/* One member put by batch `seq` (see deriver.journal). */
typedef struct journal_entry {
    long long seq;
    char *id;
} journal_entry;

typedef struct deriver {
    deriver_config rules;
    int stale_pass;
    int wall_clock;
    char *prefix;           /* state_prefix */
    char *member_prefix;    /* prefix + "m/" */
    char *clock_key;        /* prefix + "clock" */
    char *seq_key;          /* prefix + "seq" */
    long long seq;          /* last sequence number staged by this process */
    anniv_index *index;
    /* Member id -> state: the store's view (committed + staged) of every
     * member, loaded whole with the index and updated on every put, so a
     * record costs no SQLite read or JSON parse. Rebuilt with the index
     * whenever staged writes were discarded (see deriver_process). */
    json_t *members;
    /* Event ids already in the batch being processed (an object used as a
     * set), kept across batches and emptied, so its table is not grown
     * again for every batch. */
    json_t *seen_ids;
    /* The members each recent batch put, oldest first (entries[start..
     * count)): after a rewind only the members of the discarded batches
     * are reloaded from the store, instead of every member. Every batch
     * with seq >= journal_floor is complete in it. */
    journal_entry *journal;
    size_t journal_start, journal_count, journal_allocated;
    long long journal_floor;
} deriver;

/* Forget the journal entries of batches before `seq`. */
static void journal_prune(deriver *self, long long seq)
{
    while (self->journal_start < self->journal_count &&
           self->journal[self->journal_start].seq < seq) {
        free(self->journal[self->journal_start].id);
        self->journal_start++;
    }
    if (seq > self->journal_floor)
        self->journal_floor = seq;
    if (self->journal_start == self->journal_count) {
        self->journal_start = self->journal_count = 0;
    } else if (self->journal_start > self->journal_allocated / 2) {
        memmove(self->journal, self->journal + self->journal_start,
                (self->journal_count - self->journal_start) * sizeof(*self->journal));
        self->journal_count -= self->journal_start;
        self->journal_start = 0;
    }
}

/* Forget the whole journal: it covers batches from `next_seq` on. */
static void journal_reset(deriver *self, long long next_seq)
{
    for (size_t i = self->journal_start; i < self->journal_count; i++)
        free(self->journal[i].id);
    self->journal_start = self->journal_count = 0;
    self->journal_floor = next_seq;
}

/* Remember that batch `seq` put member `id`. 0, or -1 on ENOMEM. */
static int journal_add(deriver *self, long long seq, const char *id)
{
    size_t len = strlen(id);
    char *copy;
    if (self->journal_count == self->journal_allocated) {
        size_t grown = self->journal_allocated ? self->journal_allocated * 2 : 4096;
        journal_entry *entries = realloc(self->journal, grown * sizeof(*entries));
        if (!entries)
            return -1;
        self->journal = entries;
        self->journal_allocated = grown;
    }
    copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, id, len + 1);
    self->journal[self->journal_count].seq = seq;
    self->journal[self->journal_count].id = copy;
    self->journal_count++;
    return 0;
}

/* prefix + suffix as a new string, NULL on ENOMEM. */
static char *join_key(const char *prefix, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *key = malloc(a + b + 1);
    if (key) {
        memcpy(key, prefix, a);
        memcpy(key + a, suffix, b + 1);
    }
    return key;
}

static int load_member(const char *key, const json_t *value, void *user)
{
    deriver *self = user;
    const char *id = key + strlen(self->member_prefix);
    if (json_object_set(self->members, id, (json_t *)value) != 0)
        return 1;
    return anniv_index_set(self->index, id, deriver_next_anniversary(value)) ? 1 : 0;
}

/* Reload the member cache and the anniversary index from the store
 * (committed + staged). 0, or -1 after sluice_fail. */
static int rebuild_index(sluice_ctx *ctx, deriver *self)
{
    anniv_index_clear(self->index);
    json_object_clear(self->members);
    if (sluice_state_foreach(ctx, self->member_prefix, load_member, self) != 0) {
        anniv_index_clear(self->index);
        json_object_clear(self->members);
        sluice_fail(ctx, "cannot read member state to index anniversaries");
        return -1;
    }
    sluice_log(ctx, SLUICE_LOG_DEBUG, "anniversary index: %zu members",
               anniv_index_size(self->index));
    return 0;
}

static long long state_int(sluice_ctx *ctx, const char *key, long long fallback)
{
    json_t *value = sluice_state_get(ctx, key);
    long long result = json_is_integer(value) ? json_integer_value(value) : fallback;
    json_decref(value);
    return result;
}

static void deriver_fini(sluice_ctx *ctx, void *state)
{
    deriver *self = state;
    if (!self)
        return;
    deriver_config_clear(&self->rules);
    anniv_index_destroy(&self->index);
    journal_reset(self, 0);
    free(self->journal);
    json_decref(self->members);
    json_decref(self->seen_ids);
    free(self->prefix);
    free(self->member_prefix);
    free(self->clock_key);
    free(self->seq_key);
    free(self);
}

static sluice_status deriver_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    deriver *self = calloc(1, sizeof(*self));
    const char *text;
    char err[512] = "";
    sluice_status status = SLUICE_FATAL;

    if (!self) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    if (deriver_config_parse(config, &self->rules, err, sizeof(err))) {
        sluice_fail(ctx, "%s", err);
        goto out;
    }
    text = json_string_value(json_object_get(config, "stale"));
    if (text && strcmp(text, "drop") != 0 && strcmp(text, "pass") != 0) {
        sluice_fail(ctx, "stale: expected \"drop\" or \"pass\", got \"%s\"", text);
        goto out;
    }
    self->stale_pass = text && strcmp(text, "pass") == 0;
    text = json_string_value(json_object_get(config, "clock"));
    if (text && strcmp(text, "event") != 0 && strcmp(text, "wall") != 0) {
        sluice_fail(ctx, "clock: expected \"event\" or \"wall\", got \"%s\"", text);
        goto out;
    }
    self->wall_clock = text && strcmp(text, "wall") == 0;
    text = json_string_value(json_object_get(config, "state_prefix"));
    self->prefix = join_key(text ? text : "", "");
    self->index = anniv_index_new();
    self->members = json_object();
    self->seen_ids = json_object();
    if (!self->prefix || !self->index || !self->members || !self->seen_ids)
        goto oom;
    self->member_prefix = join_key(self->prefix, "m/");
    self->clock_key = join_key(self->prefix, "clock");
    self->seq_key = join_key(self->prefix, "seq");
    if (!self->member_prefix || !self->clock_key || !self->seq_key)
        goto oom;
    self->seq = state_int(ctx, self->seq_key, 0);
    if (rebuild_index(ctx, self))
        goto out;
    journal_reset(self, self->seq + 1);
    *state = self;
    self = NULL;
    status = SLUICE_OK;
    goto out;
oom:
    sluice_fail(ctx, "out of memory");
out:
    deriver_fini(ctx, self);
    return status;
}

/* Per-batch work area. */
typedef struct batch_run {
    sluice_ctx *ctx;
    deriver *self;
    sluice_batch *batch;
    json_t *seen_ids;   /* event ids already in the batch (object as a set) */
    double derived;
    long long clock_day;
} batch_run;

/* Append derived events not already in the batch. */
static void emit_events(batch_run *run, json_t *events)
{
    size_t i;
    json_t *event;
    json_array_foreach(events, i, event) {
        const char *id = json_string_value(json_object_get(event, "event_id"));
        if (!id || json_object_get(run->seen_ids, id))
            continue;
        /* id is a JSON string's value, so valid UTF-8: no check needed. */
        json_object_set_new_nocheck(run->seen_ids, id, json_true());
        if (sluice_batch_append(run->batch, json_incref(event)) == 0)
            run->derived++;
    }
}

/* A swept event with its sort keys, looked up once instead of in every
 * comparison. */
typedef struct sweep_item {
    const char *occurred_at;
    const char *loyalty_id;
    json_t *event; /* borrowed from the sweep's array */
} sweep_item;

/* qsort order of swept events: occurred_at, then loyalty_id (unique per
 * event: a member has one anniversary a day). */
static int compare_sweep_items(const void *a, const void *b)
{
    const sweep_item *x = a, *y = b;
    int order = strcmp(x->occurred_at, y->occurred_at);
    if (order == 0)
        order = strcmp(x->loyalty_id, y->loyalty_id);
    return order;
}

/* Stage `value` (borrowed; the cache keeps a reference, so it must not
 * be changed afterwards) for member `id` and keep the cache and the index
 * in step. 0 or -1. */
static int put_member(batch_run *run, const char *id, json_t *value)
{
    deriver *self = run->self;
    size_t prefix_len = strlen(self->member_prefix), id_len = strlen(id);
    char small[256];
    char *key = prefix_len + id_len < sizeof(small) ? small : malloc(prefix_len + id_len + 1);
    int result = -1;
    if (!key)
        return -1;
    memcpy(key, self->member_prefix, prefix_len);
    memcpy(key + prefix_len, id, id_len + 1);
    /* The store's staging takes its own reference instead of a copy: the
     * cache shares the object and never changes it. */
    if (sluice_state_put_new(run->ctx, run->batch, key, json_incref(value)) == 0 &&
        journal_add(self, self->seq + 1, id) == 0 &&
        json_object_set(self->members, id, value) == 0 &&
        anniv_index_set(self->index, id, deriver_next_anniversary(value)) == 0)
        result = 0;
    if (key != small)
        free(key);
    return result;
}

/* The clock moved to `day`: fire every anniversary due on or before it,
 * in (date, member) order. 0 or -1 (store error). */
static int sweep(batch_run *run, int64_t day)
{
    json_t *events = json_array(), *sorted = NULL;
    const char *id;
    int result = -1;
    sweep_item *items = NULL;
    size_t count;

    if (!events)
        return -1;
    while ((id = anniv_index_pop_due(run->self->index, day))) {
        /* The index may move its strings when it grows: keep a copy. */
        char *id_copy = join_key(id, "");
        json_t *state = json_incref(json_object_get(run->self->members, id));
        json_t *updated = NULL;
        if (!id_copy) {
            json_decref(state);
            goto out;
        }
        if (deriver_anniversaries(state, day, events, &updated) > 0) {
            if (put_member(run, id_copy, updated)) {
                json_decref(updated);
                json_decref(state);
                free(id_copy);
                goto out;
            }
        } else {
            anniv_index_set(run->self->index, id_copy,
                            state ? deriver_next_anniversary(state) : INT64_MAX);
        }
        json_decref(updated);
        json_decref(state);
        free(id_copy);
    }
    count = json_array_size(events);
    items = calloc(count + 1, sizeof(*items));
    sorted = json_array();
    if (!items || !sorted)
        goto out;
    for (size_t i = 0; i < count; i++) {
        json_t *event = json_array_get(events, i);
        items[i].event = event;
        items[i].occurred_at = json_string_value(json_object_get(event, "occurred_at"));
        items[i].loyalty_id = json_string_value(json_object_get(event, "loyalty_id"));
    }
    qsort(items, count, sizeof(*items), compare_sweep_items);
    for (size_t i = 0; i < count; i++)
        json_array_append(sorted, items[i].event);
    emit_events(run, sorted);
    result = 0;
out:
    free(items);
    json_decref(sorted);
    json_decref(events);
    return result;
}

/* Move the clock to `day` if it is later, sweeping first. 0 or -1. */
static int advance_clock(batch_run *run, int64_t day)
{
    json_t *value;
    if (day <= run->clock_day)
        return 0;
    if (sweep(run, day))
        return -1;
    run->clock_day = day;
    value = json_integer(day);
    return value ? sluice_state_put_new(run->ctx, run->batch, run->self->clock_key, value) : -1;
}

/* Drop member record i, older (`as_of`) than the member's state
 * (`state_as_of`), saying so: the core logs the reason when the record is
 * one `sluice dlq replay` sent back. */
static void drop_stale(batch_run *run, size_t i, int64_t as_of, int64_t state_as_of)
{
    char reason[160], record_at[LOYTIME_TS_LEN], state_at[LOYTIME_TS_LEN];

    snprintf(reason, sizeof(reason), "stale: as_of %s is older than the member's state "
             "(as_of %s); stale = \"drop\"",
             loytime_format_timestamp(as_of, record_at, sizeof(record_at)),
             loytime_format_timestamp(state_as_of, state_at, sizeof(state_at)));
    sluice_batch_drop_because(run->batch, i, reason);
}

/* Handle member record i. 0, or -1 on a store error (whole call fails). */
static int handle_member(batch_run *run, size_t i, json_t *record)
{
    deriver *self = run->self;
    char reason[512];
    deriver_record checked;
    int64_t as_of;
    const char *id;
    json_t *state = NULL, *updated = NULL, *events = NULL;
    int result = -1;

    if (deriver_validate_record(&self->rules, record, &checked, reason, sizeof(reason))) {
        sluice_batch_reject(run->batch, i, reason);
        return 0;
    }
    as_of = checked.as_of;
    id = json_string_value(checked.loyalty_id);
    state = json_incref(json_object_get(self->members, id));
    if (state && json_is_integer(json_object_get(state, "as_of")) &&
        as_of < json_integer_value(json_object_get(state, "as_of"))) {
        if (!self->stale_pass)
            drop_stale(run, i, as_of, json_integer_value(json_object_get(state, "as_of")));
        sluice_metric_add(run->ctx, "records_stale", 1);
        result = 0;
        goto out;
    }
    if (!self->wall_clock && loytime_day_of(as_of) > run->clock_day) {
        if (advance_clock(run, loytime_day_of(as_of)))
            goto out;
        json_decref(state); /* the sweep may have updated this member */
        state = json_incref(json_object_get(self->members, id));
    }
    events = json_array();
    if (!events)
        goto out;
    switch (deriver_step_record(&self->rules, state, &checked, run->clock_day, events,
                                &updated, reason, sizeof(reason))) {
    case DERIVER_REJECT:
        sluice_batch_reject(run->batch, i, reason);
        result = 0;
        goto out;
    case DERIVER_STALE: /* the same test as above, after the sweep */
        if (!self->stale_pass)
            drop_stale(run, i, as_of, json_integer_value(json_object_get(state, "as_of")));
        result = 0;
        goto out;
    case DERIVER_OK:
        break;
    }
    if (put_member(run, id, updated))
        goto out;
    emit_events(run, events);
    result = 0;
out:
    json_decref(events);
    json_decref(updated);
    json_decref(state);
    return result;
}

/* Erase record `record` (kind "erase"): complete it with the member's
 * last known email when it has none (Ometria erases by email; the sink
 * needs it), then forget the member (state deleted under the batch, cache
 * and index emptied), so the deriver keeps nothing of it and a later
 * enrolment is a first sight (docs/erasure.md). The record goes on. 0, or
 * -1 on a store error. */
static int forget_member(batch_run *run, json_t *record)
{
    deriver *self = run->self;
    const char *id = json_string_value(json_object_get(record, "loyalty_id"));
    const json_t *state;
    char *key;
    int result = -1;

    if (!id || !*id)
        return 0; /* not an erasure the sinks can act on: they say so */
    state = json_object_get(self->members, id);
    if (state && !json_is_string(json_object_get(record, "email")) &&
        json_is_string(json_object_get(state, "email")))
        json_object_set(record, "email", json_object_get(state, "email"));
    if (!(key = join_key(self->member_prefix, id)))
        return -1;
    if (sluice_state_put(run->ctx, run->batch, key, NULL) == 0 &&
        journal_add(self, self->seq + 1, id) == 0 &&
        anniv_index_set(self->index, id, INT64_MAX) == 0) {
        json_object_del(self->members, id);
        result = 0;
    }
    free(key);
    return result;
}

/* Reload member `id` from the store view into the cache and the index.
 * 0, or -1 on ENOMEM. */
static int reload_member(sluice_ctx *ctx, deriver *self, const char *id)
{
    size_t prefix_len = strlen(self->member_prefix), id_len = strlen(id);
    char *key = malloc(prefix_len + id_len + 1);
    json_t *value;
    int result = -1;
    if (!key)
        return -1;
    memcpy(key, self->member_prefix, prefix_len);
    memcpy(key + prefix_len, id, id_len + 1);
    value = sluice_state_get(ctx, key);
    if (value) {
        if (json_object_set(self->members, id, value) == 0 &&
            anniv_index_set(self->index, id, deriver_next_anniversary(value)) == 0)
            result = 0;
    } else {
        json_object_del(self->members, id);
        result = anniv_index_set(self->index, id, INT64_MAX);
    }
    json_decref(value);
    free(key);
    return result;
}

/* The store's view went back to batch `view_seq` (its staged writes after
 * that were discarded by a rewind): bring the cache and the index back in
 * step with it. When the journal covers every discarded batch only their
 * members are reloaded; otherwise (a store error left our own staging
 * unknown, or the journal was pruned) everything is. 0, or -1 after
 * sluice_fail. */
static int follow_rewind(sluice_ctx *ctx, deriver *self, long long view_seq)
{
    size_t reloaded = 0;
    if (self->seq >= 0 && view_seq < self->seq && view_seq + 1 >= self->journal_floor) {
        for (size_t i = self->journal_start; i < self->journal_count; i++) {
            if (self->journal[i].seq <= view_seq)
                continue;
            if (reload_member(ctx, self, self->journal[i].id)) {
                sluice_log(ctx, SLUICE_LOG_WARN, "out of memory reloading member state: "
                           "rebuilding the anniversary index");
                goto full;
            }
            reloaded++;
        }
        /* Batches up to view_seq are committed: no rewind can drop them. */
        journal_reset(self, view_seq + 1);
        self->seq = view_seq;
        sluice_log(ctx, SLUICE_LOG_INFO, "state was rewound to batch %lld: %zu member "
                   "state(s) of the discarded batches reloaded", view_seq, reloaded);
        return 0;
    }
full:
    sluice_log(ctx, SLUICE_LOG_INFO, "state was rewound: rebuilding the anniversary index");
    self->seq = view_seq;
    journal_reset(self, view_seq + 1);
    return rebuild_index(ctx, self);
}

static sluice_status deriver_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    deriver *self = state;
    size_t count = sluice_batch_count(batch);
    batch_run run = { ctx, self, batch, self->seen_ids, 0, 0 };
    sluice_status status = SLUICE_RETRY;
    json_t *next_seq;
    long long view_seq;

    if (!run.seen_ids)
        goto out;
    /* Our staged writes were discarded (a replay): cache and index are
     * ahead of the store. */
    view_seq = state_int(ctx, self->seq_key, 0);
    if (view_seq != self->seq && follow_rewind(ctx, self, view_seq)) {
        status = SLUICE_FATAL;
        goto out;
    }
    journal_prune(self, self->seq + 1 - JOURNAL_BATCHES);
    run.clock_day = state_int(ctx, self->clock_key, INT64_MIN);
    /* Events the source delivered are never derived again in this batch. */
    for (size_t i = 0; i < count; i++) {
        json_t *record = sluice_batch_get(batch, i);
        const char *kind = json_string_value(json_object_get(record, "kind"));
        const char *id = json_string_value(json_object_get(record, "event_id"));
        if (kind && strcmp(kind, "event") == 0 && id)
            json_object_set_new_nocheck(run.seen_ids, id, json_true()); /* a JSON string */
    }
    if (self->wall_clock && advance_clock(&run, loytime_day_of((int64_t)time(NULL))))
        goto store_error;
    for (size_t i = 0; i < count; i++) {
        json_t *record = sluice_batch_get(batch, i);
        const char *kind;
        if (!record)
            continue;
        kind = json_string_value(json_object_get(record, "kind"));
        if (kind && strcmp(kind, "erase") == 0) {
            if (forget_member(&run, record))
                goto store_error;
            continue;
        }
        if (kind && strcmp(kind, "member") != 0)
            continue; /* events and other kinds pass through */
        if (handle_member(&run, i, record))
            goto store_error;
    }
    /* sluice_state_put_new owns next_seq, also when it fails. */
    next_seq = json_integer(self->seq + 1);
    if (!next_seq || sluice_state_put_new(ctx, batch, self->seq_key, next_seq))
        goto store_error;
    self->seq++;
    if (run.derived > 0)
        sluice_metric_add(ctx, "events_derived", run.derived);
    status = SLUICE_OK;
    goto out;
store_error:
    sluice_log(ctx, SLUICE_LOG_WARN, "state store error: the batch will be retried");
    /* Whatever we staged is unknown now: force an index rebuild. */
    self->seq = -1;
out:
    json_object_clear(self->seen_ids);
    return status;
}

/* The descriptor: the one exported symbol. */
/* check(): the ladder and the threshold are parsed as init() parses them,
 * so a ladder out of order or a threshold that is not points or a
 * percentage is refused by `sluice check`, before anything runs. */
static void deriver_check(sluice_check *check, const json_t *config)
{
    deriver_config rules;
    char err[512] = "";

    if (deriver_config_parse(config, &rules, err, sizeof(err)) == 0) {
        deriver_config_clear(&rules);
        return;
    }
    sluice_check_error(check, strncmp(err, "close_threshold", 15) == 0 ? "close_threshold"
                                                                        : "tier_ladder",
                       "%s", err);
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "tier-event-deriver",
    .role = SLUICE_ROLE_TRANSFORM,
    .version = "1.0.0",
    .description = "derives loyalty events (opt-in/out, points, tier changes, anniversaries, "
                   "close to upgrade) from member state changes",
    .options = deriver_options,
    .init = deriver_init,
    .fini = deriver_fini,
    .process = deriver_process,
    .check = deriver_check,
};
