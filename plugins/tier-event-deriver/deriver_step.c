/* deriver_step.c: one member record applied to the member's state: the
 * derivation rules of docs/loyalty-schema.md, one function per rule
 * ("4/5. Opt-in and opt-out", "6. Points", "7. Tier changes", "8. Close
 * to upgrade"), and the new state built from the record over the old. */
#include <config.h>

#include <string.h>

#include "deriver_internal.h"
#include "loytime.h"
#include "plugin_text.h"

/* What every rule reads: the record, the old state, and the texts of the
 * record's time, computed once per step. */
typedef struct step {
    const deriver_config *cfg;
    const json_t *const *fields;      /* the record's typed fields (borrowed) */
    const json_t *loyalty_id;         /* the record's id (borrowed) */
    const json_t *email;              /* the record's email, else the state's */
    const json_t *old[STATE_KEY_COUNT];
    const char *rec_opt, *rec_tier, *rec_achieved;
    const char *old_opt, *old_tier, *old_achieved;
    char as_of_text[LOYTIME_TS_LEN];  /* as_of as a timestamp */
    char as_of_date[LOYTIME_DATE_LEN];
    int64_t as_of;
    int first;                        /* no state yet: first sight */
} step;

deriver_outcome deriver_step(const deriver_config *cfg, const json_t *state,
                             const json_t *record, int64_t clock_day, json_t *events,
                             json_t **new_state, char *reason, size_t reasonlen)
{
    deriver_record checked;
    *new_state = NULL;
    if (deriver_validate_record(cfg, record, &checked, reason, reasonlen))
        return DERIVER_REJECT;
    return deriver_step_record(cfg, state, &checked, clock_day, events, new_state, reason,
                               reasonlen);
}

/* A points value of a record field or state key: 1 with *out set when it
 * is an integer, else 0. */
static int int_value(const json_t *value, long long *out)
{
    if (!json_is_integer(value))
        return 0;
    *out = json_integer_value(value);
    return 1;
}

/* 4/5. Opt-in and opt-out: an opt-in when the record says yes and the
 * state did not (first sight included), dated by the record's opt-in date
 * when it has one; an opt-out when a known opted-in member says no. */
static void derive_opt(const step *s, json_t *events)
{
    if (!s->cfg->derive_opt || !s->rec_opt)
        return;
    if (strcmp(s->rec_opt, "yes") == 0 && (!s->old_opt || strcmp(s->old_opt, "yes") != 0)) {
        int64_t opt_in;
        char when[LOYTIME_TS_LEN];
        const char *given = json_string_value(s->fields[DERIVER_F_OPT_IN_DATE]);
        json_t *properties;
        if (given && loytime_parse_date_or_timestamp(given, &opt_in) == 0)
            loytime_format_timestamp(opt_in, when, sizeof(when));
        else
            deriver_join(when, sizeof(when), (const char *const[]){ s->as_of_text, NULL });
        properties = json_object();
        if (properties)
            deriver_set_text_field(properties, "opt_in_date", when);
        deriver_add_event(events, "opt_in", s->loyalty_id, s->email, when, when, properties);
    } else if (!s->first && strcmp(s->rec_opt, "no") == 0 && s->old_opt &&
               strcmp(s->old_opt, "yes") == 0) {
        char date[LOYTIME_DATE_LEN + 4], when[LOYTIME_TS_LEN + 8];
        const char *given = json_string_value(s->fields[DERIVER_F_OPT_OUT_DATE]);
        json_t *properties;
        deriver_join(date, sizeof(date), (const char *const[]){ given ? given : s->as_of_date,
                                                                NULL });
        deriver_join(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
        properties = json_object();
        if (properties)
            deriver_set_text_field(properties, "opt_out_date", date);
        deriver_add_event(events, "opt_out", s->loyalty_id, s->email, when, date, properties);
    }
}

/* 6. Points: an accrual when earned points rose, a redemption when used
 * points rose; increases only, never on first sight. */
static void derive_points(const step *s, json_t *events)
{
    static const struct {
        const char *field, *type, *tag;
        state_key key;
        deriver_field record_field;
    } counters[] = {
        { "earned_points", "point_accrual", "earned", STATE_EARNED_POINTS,
          DERIVER_F_EARNED_POINTS },
        { "used_points", "point_redemption", "used", STATE_USED_POINTS,
          DERIVER_F_USED_POINTS } };
    long long old_value, new_value, available;

    if (!s->cfg->derive_points || s->first)
        return;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        char discriminator[96], old_text[24], new_text[24];
        json_t *properties;
        if (!int_value(s->old[counters[i].key], &old_value) ||
            !int_value(s->fields[counters[i].record_field], &new_value) ||
            new_value <= old_value)
            continue;
        properties = json_object();
        if (properties) {
            json_object_set_new_nocheck(properties, "points",
                                        json_integer(new_value - old_value));
            json_object_set_new_nocheck(properties, counters[i].field, json_integer(new_value));
            if (int_value(s->fields[DERIVER_F_AVAILABLE_POINTS], &available))
                json_object_set_new_nocheck(properties, "available_points",
                                            json_integer(available));
        }
        deriver_join(discriminator, sizeof(discriminator),
                     (const char *const[]){ counters[i].tag, ":",
                                            deriver_int_text(old_value, old_text), ":",
                                            deriver_int_text(new_value, new_text), NULL });
        deriver_add_event(events, counters[i].type, s->loyalty_id, s->email, s->as_of_text,
                          discriminator, properties);
    }
}

/* 7. Tier changes: an upgrade or a downgrade (by the ladder's order) when
 * a known member's tier differs from the state's, dated by the record's
 * tier achieve date, else its as_of date. Returns 1 if the tier changed. */
static int derive_tier_change(const step *s, json_t *events)
{
    char date[LOYTIME_DATE_LEN + 4], when[LOYTIME_TS_LEN + 8], discriminator[512];
    const char *type;
    json_t *properties;

    if (s->first || !s->rec_tier || !s->old_tier || strcmp(s->rec_tier, s->old_tier) == 0)
        return 0;
    type = deriver_tier_index(s->cfg, s->rec_tier) > deriver_tier_index(s->cfg, s->old_tier)
               ? "tier_upgrade" : "tier_downgrade";
    deriver_join(date, sizeof(date),
                 (const char *const[]){ s->rec_achieved ? s->rec_achieved : s->as_of_date,
                                        NULL });
    deriver_join(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
    deriver_join(discriminator, sizeof(discriminator),
                 (const char *const[]){ s->old_tier, ":", s->rec_tier, ":", date, NULL });
    properties = json_object();
    if (properties) {
        deriver_set_text_field(properties, "from_tier", s->old_tier);
        deriver_set_text_field(properties, "to_tier", s->rec_tier);
        deriver_set_text_field(properties, "tier_achieve_date", date);
    }
    deriver_add_event(events, type, s->loyalty_id, s->email, when, discriminator, properties);
    return 1;
}

/* The anniversary count restarts at first sight, on a tier change, or when
 * the achieve date changed: anniversaries of the (new) achieve date the
 * clock already passed count as done. Returns the new count (new
 * reference) when it restarts, NULL when it is kept; *oom is set on
 * allocation failure. */
static json_t *restart_anniversaries(const step *s, int tier_changed, int64_t clock_day,
                                     int *oom)
{
    const char *achieved = s->rec_achieved ? s->rec_achieved : s->old_achieved;
    int achieved_changed = s->rec_achieved && (!s->old_achieved ||
                                                strcmp(s->rec_achieved, s->old_achieved) != 0);
    int64_t achieved_day;
    long long passed = 0;
    json_t *count;

    if (!s->first && !tier_changed && !achieved_changed)
        return NULL;
    if (achieved && loytime_parse_date(achieved, &achieved_day) == 0)
        passed = deriver_anniversaries_passed(achieved_day, clock_day);
    count = json_integer(passed);
    if (!count)
        *oom = 1;
    return count;
}

/* 8. Close to upgrade: fires once per approach, when the points needed for
 * the next tier fall to the threshold; re-armed when they rise above it or
 * the tier changes. Returns the new arm flag. */
static int derive_close_to_upgrade(const step *s, int tier_changed, json_t *events)
{
    int armed = s->first || tier_changed || !json_is_false(s->old[STATE_ARMED]);
    const json_t *next = s->fields[DERIVER_F_NEXT_TIER];
    const char *next_tier = json_string_value(next ? next : s->old[STATE_NEXT_TIER]);
    const char *current = s->rec_tier ? s->rec_tier : s->old_tier;
    char discriminator[512];
    long long needed;
    double threshold;
    json_t *properties;

    if (!int_value(s->fields[DERIVER_F_POINTS_REQ_FOR_NEXT_TIER], &needed))
        return armed;
    threshold = deriver_close_threshold(s->cfg, next_tier);
    if (threshold >= 0 && (double)needed > threshold)
        return 1;
    if (threshold < 0 || !armed || needed <= 0 || !next_tier || !current)
        return armed;
    deriver_join(discriminator, sizeof(discriminator),
                 (const char *const[]){ current, ":", next_tier, ":", s->as_of_date, NULL });
    properties = json_object();
    if (properties) {
        deriver_set_text_field(properties, "current_tier", current);
        deriver_set_text_field(properties, "next_tier", next_tier);
        json_object_set_new_nocheck(properties, "points_req_for_next_tier",
                                    json_integer(needed));
    }
    deriver_add_event(events, "close_to_tier_upgrade", s->loyalty_id, s->email, s->as_of_text,
                      discriminator, properties);
    return 0;
}

/* The new state as a new object: `state`'s keys in their order with the
 * values of `updated` (NULL: keep the old value), other keys kept, then
 * the keys `updated` adds, in state_key order. NULL on ENOMEM. */
static json_t *state_build(const json_t *state, json_t *const updated[STATE_KEY_COUNT])
{
    json_t *next = json_object();
    int present[STATE_KEY_COUNT] = { 0 };
    if (!next)
        return NULL;
    for (void *it = json_object_iter((json_t *)state); it;
         it = json_object_iter_next((json_t *)state, it)) {
        const char *key = json_object_iter_key(it);
        json_t *value = json_object_iter_value(it);
        int index = deriver_state_key(key, json_object_iter_key_len(it));
        if (index >= 0) {
            present[index] = 1;
            if (updated[index])
                value = updated[index];
        }
        if (json_object_set_nocheck(next, key, value) != 0)
            goto oom;
    }
    for (int i = 0; i < STATE_KEY_COUNT; i++) {
        if (!present[i] && updated[i] &&
            json_object_set_nocheck(next, deriver_state_key_names[i], updated[i]) != 0)
            goto oom;
    }
    return next;
oom:
    json_decref(next);
    return NULL;
}

/* The member's new state: the record's known fields over the old ones,
 * with the restarted anniversary count (`anniversaries`, borrowed, NULL to
 * keep it) and the arm flag. Returns a new object or NULL on ENOMEM. */
static json_t *state_next(const step *s, const json_t *state, json_t *anniversaries,
                          int armed)
{
    /* Record fields the new state takes (when present; null only counts
     * for next_tier, "known empty" at the top tier). */
    static const struct {
        deriver_field field;
        state_key key;
    } copied[] = { { DERIVER_F_OPT_IN_STATUS, STATE_OPT_IN_STATUS },
                   { DERIVER_F_EARNED_POINTS, STATE_EARNED_POINTS },
                   { DERIVER_F_USED_POINTS, STATE_USED_POINTS },
                   { DERIVER_F_CURRENT_TIER, STATE_CURRENT_TIER },
                   { DERIVER_F_TIER_ACHIEVE_DATE, STATE_TIER_ACHIEVE_DATE },
                   { DERIVER_F_POINTS_REQ_FOR_NEXT_TIER, STATE_POINTS_REQ_FOR_NEXT_TIER },
                   { DERIVER_F_NEXT_TIER, STATE_NEXT_TIER } };
    json_t *updated[STATE_KEY_COUNT] = { NULL };
    json_t *as_of = json_integer(s->as_of);
    json_t *next = NULL;

    if (!as_of)
        return NULL;
    updated[STATE_ANNIVERSARIES] = anniversaries;
    updated[STATE_LOYALTY_ID] = (json_t *)s->loyalty_id;
    updated[STATE_AS_OF] = as_of;
    if (json_is_string(s->email))
        updated[STATE_EMAIL] = (json_t *)s->email;
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        const json_t *value = s->fields[copied[i].field];
        if (value && (!json_is_null(value) || copied[i].key == STATE_NEXT_TIER))
            updated[copied[i].key] = (json_t *)value;
    }
    if (s->rec_opt && strcmp(s->rec_opt, "yes") == 0 &&
        json_is_string(s->fields[DERIVER_F_OPT_IN_DATE]))
        updated[STATE_OPT_IN_DATE] = (json_t *)s->fields[DERIVER_F_OPT_IN_DATE];
    updated[STATE_ARMED] = json_boolean(armed);
    next = state_build(state, updated);
    json_decref(as_of);
    return next;
}

deriver_outcome deriver_step_record(const deriver_config *cfg, const json_t *state,
                                    const deriver_record *record, int64_t clock_day,
                                    json_t *events, json_t **new_state, char *reason,
                                    size_t reasonlen)
{
    step s;
    json_t *anniversaries = NULL;
    int tier_changed, armed, oom = 0;
    deriver_outcome outcome = DERIVER_REJECT;

    *new_state = NULL;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.fields = record->fields;
    s.loyalty_id = record->loyalty_id;
    s.as_of = record->as_of;
    s.first = state == NULL;
    deriver_state_values(state, s.old);
    if (!s.first && json_is_integer(s.old[STATE_AS_OF]) &&
        s.as_of < json_integer_value(s.old[STATE_AS_OF]))
        return DERIVER_STALE;
    s.email = json_is_string(s.fields[DERIVER_F_EMAIL]) ? s.fields[DERIVER_F_EMAIL]
                                                         : s.old[STATE_EMAIL];
    s.rec_opt = json_string_value(s.fields[DERIVER_F_OPT_IN_STATUS]);
    s.rec_tier = json_string_value(s.fields[DERIVER_F_CURRENT_TIER]);
    s.rec_achieved = json_string_value(s.fields[DERIVER_F_TIER_ACHIEVE_DATE]);
    s.old_opt = json_string_value(s.old[STATE_OPT_IN_STATUS]);
    s.old_tier = json_string_value(s.old[STATE_CURRENT_TIER]);
    s.old_achieved = json_string_value(s.old[STATE_TIER_ACHIEVE_DATE]);
    loytime_format_timestamp(s.as_of, s.as_of_text, sizeof(s.as_of_text));
    loytime_format_date(loytime_day_of(s.as_of), s.as_of_date, sizeof(s.as_of_date));

    /* the rules, in the order of the schema's event table */
    derive_opt(&s, events);
    derive_points(&s, events);
    tier_changed = derive_tier_change(&s, events);
    anniversaries = restart_anniversaries(&s, tier_changed, clock_day, &oom);
    if (oom)
        goto out;
    armed = derive_close_to_upgrade(&s, tier_changed, events);

    *new_state = state_next(&s, state, anniversaries, armed);
    if (*new_state)
        outcome = DERIVER_OK;
out:
    if (outcome != DERIVER_OK)
        text_format(reason, reasonlen, "out of memory");
    json_decref(anniversaries);
    return outcome;
}
