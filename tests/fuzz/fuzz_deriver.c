/* fuzz_deriver.c: libFuzzer harness of the tier-event-deriver's rules
 * (plugins/tier-event-deriver/deriver_*.c) and its anniversary index
 * (anniv_index.c), driven the way tier_event_deriver.c drives them. The
 * input is JSON [STATE, RECORD, RECORD, ...]: STATE (an object, or null
 * for none) is a member's stored state (kept under its loyalty_id, when
 * it is one the deriver could have written: state_plausible); the
 * records go through validate, the clock sweep of due anniversaries
 * and step, with two ladders: the shipped one (pipelines/acme-ometria-
 * webhook.cfg, stage "derive", loaded through the real loader) and one
 * with a percentage close-to-upgrade threshold. Properties: a refused
 * record says why; step never changes the state it is given; step on a
 * raw record equals validate + step_record; every event is a canonical
 * derived event of that member with a 32-hex id; the new state carries
 * the record's as_of; the same record applied again to the state it
 * produced derives nothing more (a replay must not repeat events). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anniv_index.h"
#include "deriver_rules.h"
#include "fuzz.h"
#include "loytime.h"

const char fuzz_harness_name[] = "fuzz_deriver";

/* Records of one input the harness goes through at most. */
#define MAX_RECORDS 64

static deriver_config ladders[2];
static const char *const ladder_names[2] = {"shipped ladder", "percent ladder"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char percent_ladder[] =
        "{\"tier_ladder\":[{\"name\":\"Silver\",\"points\":0},{\"name\":\"Gold\",\"points\":5000},"
        "{\"name\":\"Platinum\",\"points\":10000}],\"close_threshold\":\"10%\"}";
    char err[512] = "";
    json_t *options;

    (void)argc;
    (void)argv;
    fuzz_setup();
    options = fuzz_stage_options("acme-ometria-webhook.cfg", "derive");
    if (deriver_config_parse(options, &ladders[0], err, sizeof(err)) != 0)
        fuzz_fail("the shipped ladder does not parse: %s", err);
    json_decref(options);
    options = json_loads(percent_ladder, 0, NULL);
    if (!options || deriver_config_parse(options, &ladders[1], err, sizeof(err)) != 0)
        fuzz_fail("the percent ladder does not parse: %s", err);
    json_decref(options);
    return 0;
}

/* Free the ladders when the process ends. */
__attribute__((destructor)) static void free_ladders(void)
{
    deriver_config_clear(&ladders[0]);
    deriver_config_clear(&ladders[1]);
}

/* events[first..] must be derived events of member `id`. */
static void check_events(const json_t *events, size_t first, const char *id, const char *ladder)
{
    for (size_t i = first; i < json_array_size(events); i++) {
        const json_t *event = json_array_get(events, i);
        const char *kind = json_string_value(json_object_get(event, "kind"));
        const char *loyalty_id = json_string_value(json_object_get(event, "loyalty_id"));
        if (!kind || strcmp(kind, "event") != 0 ||
            !json_is_string(json_object_get(event, "event_type")) ||
            !json_is_string(json_object_get(event, "occurred_at")) ||
            !fuzz_is_event_id(json_string_value(json_object_get(event, "event_id"))))
            fuzz_fail("%s: event %zu is not a canonical event with a 32-hex id", ladder, i + 1);
        if (!loyalty_id || strcmp(loyalty_id, id) != 0)
            fuzz_fail("%s: an event of member '%s' names '%s'", ladder, id,
                      loyalty_id ? loyalty_id : "(none)");
    }
}

/* One ladder's run over the input: the plugin's loop for member records. */
typedef struct deriver_run {
    const deriver_config *cfg;
    const char *name;
    json_t *members;          /* loyalty_id -> state */
    anniv_index *index;
    int64_t clock_day;
} deriver_run;

/* Fire the anniversaries due on or before `day` (the plugin's sweep). */
static void sweep(deriver_run *run, int64_t day)
{
    json_t *events = json_array();
    const char *id;

    if (!events)
        abort();
    while ((id = anniv_index_pop_due(run->index, day))) {
        char *id_copy = strdup(id);
        json_t *state = json_incref(json_object_get(run->members, id_copy));
        json_t *updated = NULL;
        size_t before = json_array_size(events);
        if (!id_copy)
            abort();
        if (deriver_anniversaries(state, day, events, &updated) > 0) {
            check_events(events, before, id_copy, run->name);
            json_object_set(run->members, id_copy, updated);
            anniv_index_set(run->index, id_copy, deriver_next_anniversary(updated));
        } else {
            anniv_index_set(run->index, id_copy, state ? deriver_next_anniversary(state) : INT64_MAX);
        }
        json_decref(updated);
        json_decref(state);
        free(id_copy);
    }
    json_decref(events);
}

/* Step `record` onto `state` both ways (raw, and validated first); they
 * must agree. Returns the outcome, the events in *events and the new
 * state in *new_state (caller owns both). */
static deriver_outcome step_both_ways(deriver_run *run, const json_t *state,
                                      const deriver_record *checked, const json_t *record,
                                      json_t **events, json_t **new_state)
{
    char reason[512] = "", reason_raw[512] = "";
    json_t *events_raw = json_array(), *state_raw = NULL;
    json_t *before = state ? json_deep_copy(state) : NULL;
    deriver_outcome outcome, outcome_raw;

    *events = json_array();
    if (!*events || !events_raw || (state && !before))
        abort();
    outcome = deriver_step_record(run->cfg, state, checked, run->clock_day, *events, new_state,
                                  reason, sizeof(reason));
    if (state && !json_equal(before, state))
        fuzz_fail("%s: step changed the state it was given", run->name);
    outcome_raw = deriver_step(run->cfg, state, record, run->clock_day, events_raw, &state_raw,
                               reason_raw, sizeof(reason_raw));
    if (outcome != outcome_raw || !json_equal(*events, events_raw) ||
        (*new_state ? !state_raw || !json_equal(*new_state, state_raw) : state_raw != NULL))
        fuzz_fail("%s: deriver_step and validate + deriver_step_record disagree", run->name);
    if ((outcome == DERIVER_OK) != (*new_state != NULL))
        fuzz_fail("%s: outcome %d with%s a new state", run->name, (int)outcome,
                  *new_state ? "" : "out");
    json_decref(before);
    json_decref(events_raw);
    json_decref(state_raw);
    return outcome;
}

/* Handle one member record (the plugin's handle_member). */
static void handle_record(deriver_run *run, const json_t *record)
{
    char reason[512] = "";
    deriver_record checked;
    json_t *state, *events = NULL, *new_state = NULL, *again = NULL, *again_state = NULL;
    const char *id;

    if (deriver_validate_record(run->cfg, record, &checked, reason, sizeof(reason)) != 0) {
        if (!reason[0])
            fuzz_fail("%s: a record was refused without a reason", run->name);
        return;
    }
    id = json_string_value(checked.loyalty_id);
    state = json_object_get(run->members, id);
    if (state && json_is_integer(json_object_get(state, "as_of")) &&
        checked.as_of < json_integer_value(json_object_get(state, "as_of")))
        return; /* stale: dropped by the plugin */
    if (loytime_day_of(checked.as_of) > run->clock_day) {
        sweep(run, loytime_day_of(checked.as_of));
        run->clock_day = loytime_day_of(checked.as_of);
        state = json_object_get(run->members, id);
    }
    json_incref(state);
    if (step_both_ways(run, state, &checked, record, &events, &new_state) == DERIVER_OK) {
        check_events(events, 0, id, run->name);
        if (json_integer_value(json_object_get(new_state, "as_of")) != checked.as_of)
            fuzz_fail("%s: the new state's as_of is not the record's", run->name);
        /* A replay of the record onto what it produced derives nothing. */
        if (step_both_ways(run, new_state, &checked, record, &again, &again_state) == DERIVER_OK &&
            json_array_size(again) > 0)
            fuzz_fail("%s: the same record applied twice derived %s again", run->name,
                      json_string_value(json_object_get(json_array_get(again, 0), "event_type")));
        json_object_set(run->members, id, new_state);
        anniv_index_set(run->index, id, deriver_next_anniversary(new_state));
    }
    json_decref(state);
    json_decref(events);
    json_decref(new_state);
    json_decref(again);
    json_decref(again_state);
}

/* 1 when state could be one the deriver stored: it writes validated
 * points (non-negative integers) and an anniversary count of years passed
 * (0..10000). Another is not taken: the rules trust their own state (an
 * anniversary count of INT64_MAX overflows, a negative one loops for
 * ever), and the store holds only what they wrote. */
static int state_plausible(const json_t *state)
{
    static const char *const counters[] = {"earned_points", "used_points", "anniversaries"};

    if (!json_is_object(state) || !json_is_string(json_object_get(state, "loyalty_id")))
        return 0;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        const json_t *value = json_object_get(state, counters[i]);
        if (value && (!json_is_integer(value) || json_integer_value(value) < 0))
            return 0;
    }
    return json_integer_value(json_object_get(state, "anniversaries")) <= 10000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *input = json_loadb((const char *)data, size, 0, NULL);
    const json_t *state;
    size_t count;

    if (!json_is_array(input) || json_array_size(input) < 2)
        goto out;
    state = json_array_get(input, 0);
    count = json_array_size(input) - 1;
    if (count > MAX_RECORDS)
        count = MAX_RECORDS;
    for (size_t l = 0; l < 2; l++) {
        deriver_run run = {&ladders[l], ladder_names[l], json_object(), anniv_index_new(),
                           INT64_MIN};
        /* The store keeps a state under its member's id. */
        const char *state_id = json_string_value(json_object_get(state, "loyalty_id"));
        if (!run.members || !run.index)
            abort();
        if (state_plausible(state)) {
            json_object_set(run.members, state_id, (json_t *)state);
            anniv_index_set(run.index, state_id, deriver_next_anniversary(state));
        }
        for (size_t i = 1; i <= count; i++)
            handle_record(&run, json_array_get(input, i));
        json_decref(run.members);
        anniv_index_destroy(&run.index);
    }
out:
    json_decref(input);
    return 0;
}
