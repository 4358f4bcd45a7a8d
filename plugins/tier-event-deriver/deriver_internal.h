/* deriver_internal.h: what the files of the tier-event-deriver's rules
 * share (deriver_config.c, deriver_id.c, deriver_validate.c,
 * deriver_events.c, deriver_step.c): the keys of the member state and the
 * event helpers. The rules' API is deriver_rules.h. */
#ifndef SLUICE_DERIVER_INTERNAL_H
#define SLUICE_DERIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "deriver_rules.h"

/* The keys of the member state, in the order the step first adds them
 * to a new state (so a rebuilt state keeps the key order it always had). */
typedef enum state_key {
    STATE_ANNIVERSARIES, STATE_LOYALTY_ID, STATE_AS_OF, STATE_EMAIL, STATE_OPT_IN_STATUS,
    STATE_EARNED_POINTS, STATE_USED_POINTS, STATE_CURRENT_TIER, STATE_TIER_ACHIEVE_DATE,
    STATE_POINTS_REQ_FOR_NEXT_TIER, STATE_NEXT_TIER, STATE_OPT_IN_DATE, STATE_ARMED,
    STATE_KEY_COUNT
} state_key;

/* The state keys' names, indexed by state_key. */
extern const char *const deriver_state_key_names[STATE_KEY_COUNT];

/* Index of state key `key` (len bytes), or -1 when it is not one. */
int deriver_state_key(const char *key, size_t len);

/* The values of `state`'s known keys (borrowed; NULL when absent). */
void deriver_state_values(const json_t *state, const json_t *values[STATE_KEY_COUNT]);

/* Concatenation of `parts` (a NULL-terminated list) into out (len > 0
 * bytes), truncated like snprintf. Returns out. Event ids and times are
 * built several times per record: printf's format parsing was ~4% of
 * process(). */
char *deriver_join(char *out, size_t len, const char *const *parts);

/* Decimal text of v into out[24]. Returns the start of the text. */
const char *deriver_int_text(long long v, char out[24]);

/* Set obj[key] (key an ASCII literal) to a new string holding text. */
void deriver_set_text_field(json_t *obj, const char *key, const char *text);

/* Append one derived event (properties stolen) to `events`: kind "event",
 * its type, the deterministic event_id of (loyalty_id, type,
 * discriminator), loyalty_id (the id's JSON string: the event takes a
 * reference), email when a string, occurred_at, origin "derived". */
void deriver_add_event(json_t *events, const char *type, const json_t *loyalty_id,
                       const json_t *email, const char *occurred_at,
                       const char *discriminator, json_t *properties);

/* Number of anniversaries of `achieved` (day) on or before `day`. */
long long deriver_anniversaries_passed(int64_t achieved, int64_t day);

/* The close-to-upgrade threshold for the member's next tier, or -1 when
 * it cannot be computed (percentage without the next tier's points). */
double deriver_close_threshold(const deriver_config *cfg, const char *next_tier);
#endif
