/* annexcloud_emu.h: internal interfaces of the Annex Cloud Loyalty API v3 emulator (tests only).
 *
 * The emulator is split into:
 *   annexcloud_auth.c     JWT (HS256) + hmac claim verification, §1.2 of the reference
 *   annexcloud_model.c    the program (members, changes, ledger, segments) and the
 *                         canonical -> Annex Cloud response shapes
 *   annexcloud_webhook.c  the webhook sender thread (signed, ordered, retried)
 *   annexcloud_envelope.c the body and signature of one change's webhook (also used by
 *                         webhook-load, the soak test's load generator)
 *   annexcloud_feed.c     the Data Feed CSV export writer
 *   annexcloud_emu.c      CLI, HTTP routing (on emu_common), /_emu/ control endpoints
 * Nothing here is thread-safe unless said so: annexcloud_emu.c serialises access
 * to the model with one mutex.
 */
#ifndef ANNEXCLOUD_EMU_H
#define ANNEXCLOUD_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

/* ---------------------------------------------------------------- time */

/* Parse "YYYY-MM-DDTHH:MM:SSZ", "...+0000"/"+00:00" (any offset), "YYYY-MM-DD HH:MM:SS"
 * (UTC) or "YYYY-MM-DD" (midnight UTC) into *out. Returns 0, or -1 if malformed. */
int annex_time_parse(const char *text, time_t *out);

/* Format t as "%Y-%m-%dT%H:%M:%S+0000" (the Annex Cloud form) into buf. Returns buf. */
char *annex_time_format(time_t t, char *buf, size_t len);

/* ---------------------------------------------------------------- auth */

/* Base64 (standard alphabet, padded) of HMAC-SHA256(key, msg).
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL on OOM. */
char *annex_hmac_sha256_b64(const char *key, const void *msg, size_t msg_len);

/* Verify one request as §1.2 of the reference says:
 *   authorization  the Authorization header value ("Bearer <jwt>"), may be NULL
 *   site_header    the X-AnnexCloud-Site header value, may be NULL
 *   payload        the bytes the hmac claim covers: raw body for POST/PATCH/PUT, the
 *                  URL-decoded path id as a JSON string literal (quotes included) for GET
 *   now            the emulator clock (exp must be later)
 * Returns 0 when authorised; -1 otherwise with a short reason in why (never NULL-terminated
 * beyond why_len). */
int annex_auth_verify(const char *secret, const char *site_id, const char *authorization,
                      const char *site_header, const void *payload, size_t payload_len,
                      time_t now, char *why, size_t why_len);

/* ---------------------------------------------------------------- model */

typedef struct annex_model annex_model;

typedef struct annex_model_options {
    const char *site_id;      /* served as siteId */
    const char *program_dir;  /* DIR with program.json and annex/{members,changes}.jsonl, or NULL */
} annex_model_options;

/* Load the program. Returns a new model (caller frees with annex_model_destroy), or NULL
 * with a message naming the file and line in err. An absent program_dir gives an empty
 * program whose clock is the wall clock. */
annex_model *annex_model_load(const annex_model_options *options, char *err, size_t err_len);

/* Free the model and NULL the pointer. */
void annex_model_destroy(annex_model **model_p);

/* The emulator clock. */
time_t annex_model_clock(const annex_model *model);
void annex_model_set_clock(annex_model *model, time_t clock);

/* Number of changes applied / total loaded. */
size_t annex_model_changes_applied(const annex_model *model);
size_t annex_model_changes_total(const annex_model *model);
/* Change activity items left out because the member record contradicts them (see the ledger
 * rules in docs/testing.md). */
unsigned long annex_model_ledger_items_dropped(const annex_model *model);

/* Callback receiving each applied change: the change line (borrowed) and the member
 * after it (borrowed). */
typedef void (*annex_change_cb)(void *user, const json_t *change, const char *member_id);

/* Apply every pending change whose "at" is <= until, in file order, calling cb after each
 * one; then set the clock to until (never backwards). Returns the number applied. */
size_t annex_model_advance(annex_model *model, time_t until, annex_change_cb cb, void *user);

/* Response bodies (new references; NULL when the member/segment is unknown). */
json_t *annex_model_user(const annex_model *model, const char *id, bool wrap_data);
json_t *annex_model_points(const annex_model *model, const char *id);
json_t *annex_model_tiers(const annex_model *model, const char *id);
json_t *annex_model_rewards(const annex_model *model, const char *id);
json_t *annex_model_activity(const annex_model *model, const char *id, long page);
json_t *annex_model_segment_names(const annex_model *model, const char *id);
json_t *annex_model_segment_list(const annex_model *model, const char *status);
json_t *annex_model_eligible_segment(const annex_model *model, const char *segment_id);
json_t *annex_model_segment(const annex_model *model, const char *segment_id);

/* The webhook "data" object of a member: "full" (GET /users keys flat + points, tiers,
 * rewards, segments, activitySummary) or minimal ({"id","email"}). New reference or NULL. */
json_t *annex_model_webhook_data(const annex_model *model, const char *id, bool full);

/* POST /users/search. dataSearch is the request's "dataSearch" object (borrowed).
 * Returns a new array of at most 50 user objects (flat), or NULL with an error message in
 * err when a filter value is malformed (caller answers 400 AC1004). */
json_t *annex_model_search(const annex_model *model, const json_t *data_search,
                           char *err, size_t err_len);

/* {id: canonical record} of every member (new reference). */
json_t *annex_model_members(const annex_model *model);

/* Visit every member whose last change sequence number is > since_seq (0 = all), in id
 * order of loading. Returns the current sequence number (pass it back next time). */
typedef int (*annex_member_visit)(void *user, const json_t *record);
unsigned long long annex_model_visit_changed(const annex_model *model,
                                             unsigned long long since_seq,
                                             annex_member_visit visit, void *user, int *rc);

/* ---------------------------------------------------------------- deltas */

/* --webhook-payload delta (annexcloud_delta.c). The starting announced
 * state: {member id: GET /users object} of every member. New reference, or
 * NULL when out of memory. */
json_t *annex_delta_start(const annex_model *model);

/* The webhook data of a member as a delta: the full data (loyalty parts in
 * full) without the profile keys whose value equals the one in announced
 * (id, siteId and email always kept). With remember, announced (borrowed,
 * updated) takes the member's current profile: pass false for a change the
 * service does not keep. New reference, or NULL (unknown member, memory). */
json_t *annex_delta_data(json_t *announced, const annex_model *model, const char *member_id,
                         bool remember);

/* ---------------------------------------------------------------- feed */

/* Write a Data Feed export of the members changed since *since_seq (all when 0) into dir as
 * loyalty_export_<YYYYMMDD_HHMMSS>.csv (emulator clock; one second later while the name is
 * taken), via a temporary name and rename(2). Updates *since_seq. Returns 0 with the file
 * path in path_out and the row count in *rows, or -1 with a message in err. */
int annex_feed_write(const annex_model *model, const char *dir, unsigned long long *since_seq,
                     char *path_out, size_t path_len, size_t *rows, char *err, size_t err_len);

/* ---------------------------------------------------------------- webhooks */

/* The body Annex Cloud posts for one applied change (annexcloud_envelope.c):
 *   {"eventId","eventType" (the change's type, USER_UPDATE when absent),"siteId",
 *    "timestamp" (the change's "at" as "...+0000"),"data" (annex_model_webhook_data)}
 * member_id names the member the change applied to (its state in the model is the one
 * posted). Returns a malloc'd compact JSON string the caller frees, or NULL when the member
 * is unknown or on allocation failure. */
char *annex_webhook_body(const annex_model *model, const json_t *change, const char *member_id,
                         const char *site_id, bool full, const char *event_id);

/* The same body around a data object the caller built (data is taken: freed here, also
 * when it is NULL or on failure). Returns a malloc'd string or NULL. */
char *annex_webhook_wrap(const json_t *change, const char *site_id, const char *event_id,
                         json_t *data);

/* "sha256=<lowercase hex HMAC-SHA256(secret, body)>" into out (72 bytes hold it; a shorter
 * buffer gets a truncated, NUL-terminated value). */
void annex_webhook_signature(const char *secret, const char *body, size_t body_len, char *out,
                             size_t out_len);

typedef struct annex_webhook annex_webhook;

typedef struct annex_webhook_options {
    const char *url;          /* required */
    const char *secret;       /* HMAC key for the signature header, or NULL: no signature */
    const char *header;       /* signature header name (default X-AnnexCloud-Signature) */
    const char *basic;        /* "user:pass" for basic auth, or NULL */
    long max_attempts;        /* per webhook, >= 1 */
    long backoff_min_ms;      /* first retry delay (100) */
    long backoff_max_ms;      /* cap (5000) */
} annex_webhook_options;

/* Start the sender thread. Returns NULL on failure (message in err). */
annex_webhook *annex_webhook_start(const annex_webhook_options *options, char *err, size_t err_len);

/* Queue one body for delivery (steals body, a malloc'd NUL-terminated string); label (copied)
 * names it in the log, e.g. the eventId. */
void annex_webhook_enqueue(annex_webhook *hook, char *body, const char *label);

/* Block until every queued webhook was delivered or failed for good, or timeout_ms passed.
 * Returns 0 when idle, -1 on timeout. */
int annex_webhook_wait_idle(annex_webhook *hook, long timeout_ms);

/* Counters: sent (queued), delivered (2xx), failed (gave up), attempts (HTTP tries). */
void annex_webhook_counters(annex_webhook *hook, json_int_t *sent, json_int_t *delivered,
                            json_int_t *failed, json_int_t *attempts);

/* Stop the thread (pending webhooks are dropped), free, NULL the pointer. */
void annex_webhook_stop(annex_webhook **hook_p);

#endif
