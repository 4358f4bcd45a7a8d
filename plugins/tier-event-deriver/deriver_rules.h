/* deriver_rules.h: the tier-event-deriver's derivation rules
 * (docs/loyalty-schema.md "Derivation rules") as pure functions over JSON
 * member state, with no SDK dependency, so they are unit-testable alone.
 *
 * Member state (what the plugin stores per member) is a JSON object:
 * {"loyalty_id", "as_of" (epoch seconds), "email", "opt_in_status",
 *  "opt_in_date", "earned_points", "used_points", "current_tier",
 *  "tier_achieve_date", "points_req_for_next_tier", "next_tier",
 *  "armed" (close-to-upgrade arm flag), "anniversaries" (count passed)}.
 * An absent key means "never seen". */
#ifndef SLUICE_DERIVER_RULES_H
#define SLUICE_DERIVER_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* "No anniversary pending" for deriver_next_anniversary. */
#define DERIVER_NO_DAY INT64_MAX

typedef struct deriver_tier {
    char *name;
    long long points;   /* entry points, when has_points */
    int has_points;
} deriver_tier;

typedef struct deriver_config {
    deriver_tier *ladder;       /* lowest first */
    size_t ladder_count;
    int threshold_is_percent;
    long long threshold_points; /* absolute threshold */
    double threshold_percent;   /* percent of the next tier's entry points */
    int derive_points;          /* point_accrual / point_redemption */
    int derive_opt;             /* opt_in / opt_out */
} deriver_config;

typedef enum deriver_outcome {
    DERIVER_OK = 0,     /* *new_state set, events appended */
    DERIVER_STALE = 1,  /* as_of older than the stored one: nothing derived */
    DERIVER_REJECT = 2  /* bad record: reason names the field */
} deriver_outcome;

/* Fill *cfg from the options object (keys tier_ladder, close_threshold,
 * derive_points, derive_opt; others ignored). Returns 0, or -1 with a
 * message in err; cfg owns memory freed by deriver_config_clear. */
int deriver_config_parse(const json_t *options, deriver_config *cfg, char *err, size_t errlen);
void deriver_config_clear(deriver_config *cfg);

/* Position of `tier` on the ladder, or -1. */
int deriver_tier_index(const deriver_config *cfg, const char *tier);

/* event_id: the first 32 lowercase hex digits of SHA-256(loyalty_id "|"
 * event_type "|" discriminator), written NUL-terminated into out[33]. */
void deriver_event_id(const char *loyalty_id, const char *event_type,
                      const char *discriminator, char out[33]);

/* Validate the fields of member `record` the deriver reads. Returns 0 and
 * sets *as_of (epoch seconds), or -1 with a reason naming the field. */
int deriver_validate(const deriver_config *cfg, const json_t *record, int64_t *as_of,
                     char *reason, size_t reasonlen);

/* Apply a validated member record to the member's `state` (borrowed; NULL
 * on first sight). `clock_day` is the deriver clock's UTC day after this
 * record (anniversaries on or before it count as passed at first sight).
 * Derived events (new objects) are appended to `events` in the order of
 * the schema's event table. On DERIVER_OK *new_state is a new reference
 * the caller owns. */
deriver_outcome deriver_step(const deriver_config *cfg, const json_t *state,
                             const json_t *record, int64_t clock_day, json_t *events,
                             json_t **new_state, char *reason, size_t reasonlen);

/* deriver_step for a record deriver_validate() accepted, with the as_of
 * it returned (the plugin validates first, so it validates only once).
 * Same outcomes and ownership as deriver_step; never DERIVER_REJECT
 * except when out of memory. */
deriver_outcome deriver_step_validated(const deriver_config *cfg, const json_t *state,
                                       const json_t *record, int64_t as_of, int64_t clock_day,
                                       json_t *events, json_t **new_state, char *reason,
                                       size_t reasonlen);

/* Fire the tier anniversaries of `state` due on or before `day` into
 * `events`. Returns how many fired; when > 0, *new_state is a new
 * reference with the updated count (else NULL). */
int deriver_anniversaries(const json_t *state, int64_t day, json_t *events,
                          json_t **new_state);

/* Day of the next tier anniversary of `state`, or DERIVER_NO_DAY. */
int64_t deriver_next_anniversary(const json_t *state);
#endif
