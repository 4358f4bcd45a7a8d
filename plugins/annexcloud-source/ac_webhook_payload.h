/* ac_webhook_payload.h: what annexcloud-source makes of one webhook
 * payload: whether it can ever become a member record (decided at intake,
 * so the sender hears "400" instead of a 200 for something that would
 * always be dead-lettered), and the conversion itself when poll() takes it
 * out of the spool. One set of rules serves both, so the listener accepts
 * exactly what the conversion can use.
 *
 * Payload (names configurable only through these key lists, the envelope
 * of the reference §11.3):
 *   {"eventId":"..","eventType":"TIER_UPGRADE","timestamp":"..",
 *    "data":{<GET /users keys>, "points":{..}, "tiers":{..}, "rewards":{..},
 *            "segments":[..], "activitySummary":{..}}}
 * A payload whose data has only a member id is enriched through the API. */
#ifndef AC_WEBHOOK_PAYLOAD_H
#define AC_WEBHOOK_PAYLOAD_H

#include <stddef.h>
#include <jansson.h>

#include "ac_api.h"

/* The payload's event id / event type (borrowed from payload), or NULL. */
const char *ac_webhook_event_id(const json_t *payload);
const char *ac_webhook_event_type(const json_t *payload);

/* NULL if `payload` (a parsed body) can be converted into a member record,
 * else the reason it never can (a static string, for the 400 answer).
 * `can_enrich` is 1 when a payload without loyalty data (no points and no
 * tiers) can be completed through the API (enrich on and a base_url). An
 * email without a member id is refused: the API's member calls take the
 * id, and POST /users/search by email answers a list whose shape the
 * reference could not capture (docs/annexcloud-source.md). */
const char *ac_webhook_refusal(const json_t *payload, int can_enrich);

/* The canonical member (new reference in *member) of a spooled payload,
 * its as_of the payload's timestamp (else now). A payload without loyalty
 * data is fetched through `client` when `client` is not NULL. Returns
 * AC_OK, AC_REJECTED with err (the payload cannot be converted: it goes to
 * the dead-letter queue), or what ac_fetch_member returned (AC_RETRY,
 * AC_FATAL, AC_NOT_FOUND). */
ac_result ac_webhook_member(const json_t *payload, ac_client *client, json_t **member, char *err,
                            size_t errlen);

/* A canonical event record (new reference) for event types whose
 * transition the payload fully describes (opt-in, opt-out); NULL for the
 * others, which tier-event-deriver derives from the state change. */
json_t *ac_webhook_event(const char *event_type, const json_t *member);
#endif
