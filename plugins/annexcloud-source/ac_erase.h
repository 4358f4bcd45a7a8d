/* ac_erase.h: erasure requests annexcloud-source receives from Annex Cloud
 * (docs/erasure.md): a webhook whose event type is one of the option
 * erase_event_types, or a row of a Data Feed deletions file
 * (feed_deletions_pattern), becomes an erase record, `kind: "erase"`,
 * which the transforms pass on and every sink carries out. */
#ifndef AC_ERASE_H
#define AC_ERASE_H

#include <jansson.h>

#include "ac_source.h"

/* 1 when the webhook `payload` (borrowed) is an erasure request: its event
 * type is listed (case-insensitively) in the source's erase_event_types;
 * else 0. */
int ac_erase_is_request(const ac_source *src, const json_t *payload);

/* The same test against the list `names` (borrowed JSON array of strings,
 * may be NULL: none), for the listener, which has no ac_source. */
int ac_erase_type_listed(const json_t *names, const json_t *payload);

/* The erase record (new reference) of an erasure request `payload`:
 * {"kind":"erase","loyalty_id","requested_at","via":"webhook"[,"email"]},
 * requested_at the payload's timestamp (else now), email lower-cased when
 * the payload has one. NULL with the reason in err when the payload names
 * no member id. */
json_t *ac_erase_record(const json_t *payload, char *err, size_t errlen);
/* The erase record (new reference, NULL on ENOMEM) of a deletions file's
 * row, read like a member row into `row` (borrowed; its loyalty_id set):
 * {"kind":"erase","loyalty_id","requested_at": its as_of,"via":"feed"
 * [,"email"]}. */
json_t *ac_erase_from_row(const json_t *row);
#endif
