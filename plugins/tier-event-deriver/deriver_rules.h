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

/* The typed fields of the canonical member record, in the schema's table
 * order (validation names the first invalid one in this order). */
typedef enum deriver_field {
    DERIVER_F_FIRST_NAME, DERIVER_F_LAST_NAME, DERIVER_F_EMAIL, DERIVER_F_ACTIVE_STATUS,
    DERIVER_F_BIRTHDAY, DERIVER_F_ANNIVERSARY_DATE, DERIVER_F_PHONE, DERIVER_F_ZIP_CODE,
    DERIVER_F_OPT_IN_STATUS, DERIVER_F_OPT_IN_DATE, DERIVER_F_OPT_OUT_DATE,
    DERIVER_F_AVAILABLE_POINTS, DERIVER_F_EARNED_POINTS, DERIVER_F_USED_POINTS,
    DERIVER_F_HOLD_POINTS, DERIVER_F_NEXT_EXPIRING_POINTS, DERIVER_F_POINTS_EXPIRATION_DATE,
    DERIVER_F_EXPIRED_POINTS, DERIVER_F_CURRENT_TIER, DERIVER_F_NEXT_TIER,
    DERIVER_F_POINTS_REQ_FOR_NEXT_TIER, DERIVER_F_TIER_ACHIEVE_DATE,
    DERIVER_F_AVAILABLE_REWARDS, DERIVER_F_POINTS_REQ_FOR_NEXT_REWARD,
    DERIVER_F_HIGHEST_AVAILABLE_REWARD, DERIVER_F_FIRST_ACTIVITY_DATE,
    DERIVER_F_LAST_ACTIVITY_DATE, DERIVER_F_FIRST_PURCHASE_DATE,
    DERIVER_F_LAST_PURCHASE_DATE, DERIVER_F_SEGMENTS,
    DERIVER_FIELD_COUNT
} deriver_field;

/* A member record deriver_validate_record() accepted: its values looked up
 * once (all borrowed from the record, which must outlive this). */
typedef struct deriver_record {
    const json_t *loyalty_id;                   /* a non-empty string */
    int64_t as_of;                              /* epoch seconds, UTC */
    const json_t *fields[DERIVER_FIELD_COUNT];  /* NULL: absent (JSON null kept) */
} deriver_record;

/* Validate member `record` (every typed field, in the schema's table
 * order). Returns 0 with *out filled (borrowing from record), or -1 with a
 * reason naming the first invalid field. */
int deriver_validate_record(const deriver_config *cfg, const json_t *record,
                            deriver_record *out, char *reason, size_t reasonlen);

/* deriver_validate_record returning only as_of (epoch seconds). */
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

/* deriver_step for a record deriver_validate_record() accepted (the
 * plugin validates first, so it validates and looks fields up only once).
 * Same outcomes and ownership as deriver_step; never DERIVER_REJECT
 * except when out of memory. *new_state is a new object: `state` is never
 * changed, and *new_state shares values with state and the record (so
 * neither may be changed in place afterwards). */
deriver_outcome deriver_step_record(const deriver_config *cfg, const json_t *state,
                                    const deriver_record *record, int64_t clock_day,
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
