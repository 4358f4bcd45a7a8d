/* tests/emulators/ometria_gdpr.h: the GDPR anonymisation API of the
 * ometria emulator (ometria_gdpr.c): deletion requests by email, a
 * requests-per-minute window, and their completion after a delay, which
 * anonymises the contacts with that email. Not thread-safe: call under
 * emu_lock(). */
#ifndef OMETRIA_GDPR_H
#define OMETRIA_GDPR_H

#include <stdbool.h>
#include <jansson.h>

typedef struct om_gdpr om_gdpr;

/* A new GDPR state: at most `per_minute` requests in any 60 s (0: no
 * limit), each completing `delay_s` seconds after it was accepted. NULL on
 * ENOMEM. */
om_gdpr *om_gdpr_new(long per_minute, double delay_s);

/* Free and NULL. Safe on NULL. */
void om_gdpr_free(om_gdpr **gdpr_p);

/* Forget every request and the window (/_emu/reset). */
void om_gdpr_reset(om_gdpr *gdpr);

/* Count one GDPR API call in the window: true when within the limit. */
bool om_gdpr_admit(om_gdpr *gdpr);

/* Accept a deletion request for `email`: returns its new id (borrowed,
 * valid while the state lives). */
const char *om_gdpr_request(om_gdpr *gdpr, const char *email);

/* The public view of request `id`, {"id","status":"pending"|"completed",
 * "created_at","completed_at"?} (new reference), or NULL if unknown. */
json_t *om_gdpr_status(om_gdpr *gdpr, const char *id);

/* Complete the requests whose delay passed: every contact (collection/id
 * -> record) with the request's email keeps only "id" and "@collection"
 * and gets "@anonymised": true; it leaves every segment (segment ->
 * {contact id: true}); events naming the email lose identity_email. */
void om_gdpr_settle(om_gdpr *gdpr, json_t *contacts, json_t *segments, json_t *events);

/* {"requests": {id: {"status",..}}, "anonymised": N} for /_emu/state (new
 * reference; no email in it). */
json_t *om_gdpr_dump(om_gdpr *gdpr);
#endif
