/* ac_convert.h: Annex Cloud API shapes to the canonical loyalty member
 * record of docs/loyalty-schema.md. Tolerant of the documented variants:
 * users wrapped in "Data" or flat, numbers or numeric strings,
 * "CREDIT"/"Credit", dates with or without time and offset. A value that
 * cannot be converted is passed on as the original string, so the
 * transforms downstream reject it with the field's name. */
#ifndef AC_CONVERT_H
#define AC_CONVERT_H

#include <stdint.h>
#include <jansson.h>

/* The parts of one member as fetched (each borrowed, any may be NULL when
 * not fetched: the fields it feeds are then left absent = unknown). */
typedef struct ac_member_parts {
    const json_t *user;      /* GET /users/{id}: {"Data":{...}} or flat */
    const json_t *points;    /* GET /points/{id} */
    const json_t *tiers;     /* GET /users/{id}/tiers */
    const json_t *reward;    /* GET /users/{id}/reward */
    const json_t *activity;  /* array of activity items (all pages), or NULL */
    const json_t *activity_summary; /* webhook "activitySummary", or NULL */
    const json_t *segments;  /* array of segment names, or NULL */
} ac_member_parts;

/* The canonical member record (new reference), with `as_of` (a canonical
 * timestamp, copied). NULL if the user part has no id. */
json_t *ac_member_canonical(const ac_member_parts *parts, const char *as_of);

/* The user object inside a GET /users answer ("Data" wrapper or flat),
 * borrowed from `answer`, or NULL. */
const json_t *ac_user_object(const json_t *answer);

/* UTC epoch seconds of an Annex Cloud date or time: "2024-08-08" (its
 * midnight UTC) or "2024-08-08T07:00:12+0000" ("+00:00", "+00", "Z";
 * fractions dropped; a space may stand for the 'T'; a time without a zone
 * is ambiguous and refused), parsed by loytime. Returns 0 and sets *epoch,
 * or -1 (also when the UTC year falls outside 1800..9999). */
int ac_time_epoch(const char *text, int64_t *epoch);

/* Canonical timestamp ("YYYY-MM-DDTHH:MM:SSZ") of an Annex Cloud date or
 * time (the forms of ac_time_epoch) into out (21 bytes). Returns 0 or -1. */
int ac_timestamp_canonical(const char *text, char out[21]);

/* Canonical date of an Annex date or time ("2024-08-08" or a time whose
 * UTC date is taken) into out (11 bytes). Returns 0 or -1 (as above). */
int ac_date_canonical(const char *text, char out[11]);

/* The canonical event id (docs/loyalty-schema.md): first 32 lowercase hex
 * of SHA-256(loyalty_id "|" event_type "|" discriminator). out: 33 bytes. */
void ac_event_id(const char *loyalty_id, const char *event_type, const char *discriminator,
                 char out[33]);

/* SHA-256 (64 hex) of a canonical member without `as_of`, keys sorted:
 * the change-detection hash. out: 65 bytes. */
void ac_member_hash(const json_t *member, char out[65]);
#endif
