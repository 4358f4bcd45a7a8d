/* sink_erase.h: what the sinks share for erasure (docs/erasure.md): the
 * erase record (`kind: "erase"`), the sink's erasure list in its own state
 * (one key "erase/<loyalty id>" per member: the suppression list and the
 * audit trail `sluice erase --status` reads), and the suppression of an
 * erased member's later records until a re-enrolment dated after the
 * erasure. Implemented in sink_erase.c, linked into the sinks through
 * libplugin-common.la. */
#ifndef SLUICE_SINK_ERASE_H
#define SLUICE_SINK_ERASE_H

#include <stddef.h>
#include <jansson.h>
#include "sluice/plugin.h"

/* Prefix of the state keys of the erasure list (one per member). */
#define ERASE_KEY_PREFIX "erase/"

/* The states an erasure goes through at one destination. */
#define ERASE_QUEUED "queued"       /* recorded, not sent yet */
#define ERASE_SENT "sent"           /* the destination accepted the request */
#define ERASE_CONFIRMED "confirmed" /* the destination says it is done */
#define ERASE_FAILED "failed"       /* refused for good: see "reason" */

typedef struct erase_list {
    json_t *suppressed;      /* loyalty id -> its entry (new refs): members whose
                                records are dropped */
    char *enrolment_path;    /* dotted path of the mapped enrolment date
                                ("properties.annex_opt_in_date"), or NULL */
    const char *destination; /* "ometria", "infobip" (static) */
    double dropped;          /* records dropped since the last batch summary */
} erase_list;

/* Load the erasure list of the stage (every "erase/" key) into *list.
 * `enrolment_path` (copied, may be NULL: nothing lifts a suppression) is
 * where a mapped member record carries its enrolment (opt-in) date.
 * Returns 0, or -1 after sluice_fail() (state store unreadable, ENOMEM). */
int erase_list_load(sluice_ctx *ctx, erase_list *list, const char *destination,
                    const char *enrolment_path);

/* Free what *list owns. Safe on a zeroed list. */
void erase_list_clear(erase_list *list);

/* 1 when `record` is an erase record: "kind" is "erase" and it has a
 * non-empty string "loyalty_id"; else 0. */
int erase_record_is(const json_t *record);

/* Take erase record `record` (borrowed) into the list: a new entry
 * {"loyalty_id","requested_at","via","destination","state":"queued",
 * "updated_at"} staged under `batch` (durable when the batch is
 * acknowledged), plus the members of `extra` (borrowed, may be NULL; e.g.
 * the email a queue needs until the request is sent). The member is
 * suppressed from now on. When the list already holds an erasure of the
 * member as recent as this one (the same record delivered again), nothing
 * changes and *fresh is 0. Returns the entry (borrowed, valid until the
 * next call on the list) or NULL on a store error or ENOMEM. */
const json_t *erase_list_take(sluice_ctx *ctx, erase_list *list, sluice_batch *batch,
                              const json_t *record, const json_t *extra, int *fresh);

/* Set the state of member `loyalty_id`'s entry to `state` with `reason`
 * (may be NULL) and the members of `set` (borrowed, may be NULL; a JSON
 * null value removes that member), writing it under `batch`, or at once
 * (sluice_state_put_now) when batch is NULL. Returns 0, or -1 (no such
 * entry, store error). */
int erase_list_update(sluice_ctx *ctx, erase_list *list, sluice_batch *batch,
                      const char *loyalty_id, const char *state, const char *reason,
                      const json_t *set);

/* The entry of `loyalty_id` (borrowed) when the member is suppressed, else
 * NULL. */
const json_t *erase_list_find(const erase_list *list, const char *loyalty_id);

/* Apply the suppression to record i of batch (`record` borrowed, parsed;
 * `loyalty_id` its member id in the destination's shape): when the member
 * is erased, the record is dropped with a reason naming the loyalty id
 * only (no PII), counted in the metric erased_records_dropped and returns
 * 1; unless it is a member record whose enrolment date (list's
 * enrolment_path) is after the erasure (a date: a later day; a timestamp:
 * a later instant): then the suppression is lifted (the entry gets
 * "lifted_at", staged under batch), logged, and it returns 0 like for a
 * member who was never erased. Returns -1 on a store error. */
int erase_list_filter(sluice_ctx *ctx, erase_list *list, sluice_batch *batch, size_t i,
                      const json_t *record, const char *loyalty_id);

/* Log the batch's count of suppressed records (if any) and reset it. */
void erase_list_summary(sluice_ctx *ctx, erase_list *list, sluice_batch *batch);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes).
 * Returns buf. */
char *erase_now(char *buf, size_t len);
#endif
