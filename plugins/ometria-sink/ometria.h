/* ometria.h: internals of the ometria-sink plugin shared between the record
 * planning/answer parsing (ometria_plan.c, pure functions, unit-tested) and
 * the plugin glue that talks HTTP (ometria_sink.c). */
#ifndef SLUICE_OMETRIA_H
#define SLUICE_OMETRIA_H

#include <stddef.h>
#include <jansson.h>
#include "sluice/plugin.h"

/* Ometria's documented limits. */
#define OM_MAX_RECORDS_PER_REQUEST 100
#define OM_MAX_RECORD_BYTES 61440 /* 60 KB */

typedef struct ometria_sink {
    char *push_url;    /* {base}/v2/push */
    char *errors_url;  /* {base}/v2/push/_errors */
    char *api_key;
    char *collection;
    size_t max_records;
    size_t max_record_bytes;
    struct om_erase *erase; /* erasures (ometria_erase.c), NULL until init */
} ometria_sink;

/* Record kinds the sink sends; one kind per request. */
typedef enum om_type {
    OM_TYPE_CONTACT = 0,
    OM_TYPE_EVENT = 1,
    OM_TYPE_COUNT = 2
} om_type;

/* "contacts"/"events", for log lines. */
const char *om_type_plural(om_type type);

/* Check that `record` is an Ometria contact or custom_event and complete it
 * in place: on contacts, sets "@collection" = collection when lacking,
 * "@merge": true always (fields not sent are kept) and removes any
 * "@force_optin" (never sent, docs/mappings.md "Consent"). Its
 * compact JSON must be at most max_bytes. Returns 0 and sets *type, or -1
 * with the reason written to reason[reason_len] (e.g. "record too large:
 * 70000 bytes > 61440", "unsupported record: ..."). */
int om_prepare_record(json_t *record, const char *collection, size_t max_bytes,
                      om_type *type, char *reason, size_t reason_len);

/* The request body for records[0..count): a compact JSON array. Returns a
 * malloc'd string (caller frees) and its length in *len, or NULL on
 * allocation failure. Records are borrowed. */
char *om_body(json_t *const *records, size_t count, size_t *len);

/* Largest count om_parse_push_result takes (far above a request's 100). */
#define OM_COUNT_MAX 1000000

/* Parse a 2xx answer of POST /v2/push:
 * {"status":"OK","accepted":N,"rejected":M}. Returns 0 and sets *accepted
 * and *rejected (0 when absent), or -1 when the body is not such an object
 * or "accepted" is missing, or either is not an integer in
 * 0..OM_COUNT_MAX. Whether the counts add up to what was sent is the
 * caller's check. */
int om_parse_push_result(const char *body, long *accepted, long *rejected);

/* The message explaining why `record` was refused, from a GET
 * /v2/push/_errors answer (`errors`: array, oldest first, of
 * {"error_message","error_path"[,"record_id"]}; borrowed). Newest first, it
 * takes the error naming the record's id when the answer carries ids, else
 * the newest whose error_path ends with a field the record has. Returns a
 * new string "MESSAGE (PATH)" (caller frees) or NULL when none matches. */
char *om_match_error(const json_t *errors, const json_t *record);

/* A short human message from an error answer body (JSON "message",
 * "error", "detail" or "error_message", else the text itself), at most
 * out_len - 1 bytes, with every occurrence of `secret` (may be NULL)
 * replaced by ********. Returns out. */
char *om_error_text(const char *body, const char *secret, char *out, size_t out_len);

/* ---- erasure (ometria_erase.c, docs/erasure.md) ---- */

/* Set up erasure for the sink: its options (erase_requests_per_minute,
 * erase_poll_s, erase_lists, erase_enrolment_field), the GDPR endpoint
 * URLs under `base_url`, the erasure list from the state, and a call of
 * write() when queued requests wait. Returns 0, or -1 after sluice_fail(). */
int om_erase_init(sluice_ctx *ctx, ometria_sink *sink, const json_t *config,
                  const char *base_url);

/* Free sink->erase. Safe when NULL. */
void om_erase_fini(ometria_sink *sink);

/* Take the batch's erase records into the durable queue (the record is
 * done once queued: the request itself goes out paced, see om_erase_pump),
 * removing the member from the managed static segments first, then drop
 * the records of erased members (sink_erase.h). Returns SLUICE_OK,
 * SLUICE_RETRY (a store error: the whole call again) or SLUICE_FATAL. */
sluice_status om_erase_screen(sluice_ctx *ctx, ometria_sink *sink, sluice_batch *batch);

/* Send the queued deletion requests the pace allows (POST
 * /data-deletion-requests, at most erase_requests_per_minute) and poll
 * the status of sent ones that are due (GET /data-deletion-requests/{id})
 * until Ometria says they are complete; asks for the next call
 * (sluice_sink_call_after) while work remains. Returns SLUICE_OK or
 * SLUICE_FATAL (the API key refused). */
sluice_status om_erase_pump(sluice_ctx *ctx, ometria_sink *sink);
#endif
