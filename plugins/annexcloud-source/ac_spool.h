/* ac_spool.h: the webhook spool: events accepted by the listener, stored
 * durably before the HTTP answer, read in order by poll() and deleted once
 * acknowledged. It lives in the pipeline's state database (tables
 * annexcloud_spool and annexcloud_seen) but on a connection of its own, so
 * the listener's threads never share the engine's connection. Every call
 * is serialised by the spool's own lock. */
#ifndef AC_SPOOL_H
#define AC_SPOOL_H

#include <stddef.h>
#include <jansson.h>

typedef struct ac_spool ac_spool;

/* Open <state_dir>/state.db for stage `stage`. Returns the spool (caller
 * owns; ac_spool_close) or NULL with errbuf. */
ac_spool *ac_spool_open(const char *state_dir, const char *stage, char *errbuf, size_t errlen);

/* Store `payload` under a new sequence number, in one transaction with the
 * mark that `event_id` was seen. *duplicate = 1 (nothing stored) if the
 * event id was seen before. Returns 0, or -1 on a store error. */
int ac_spool_add(ac_spool *spool, const char *event_id, const char *payload, size_t len,
                 int *duplicate);

/* Append to `out` up to `limit` entries after sequence `after`, oldest
 * first, as [seq, payload] arrays (payload parsed). Returns the number
 * appended, or -1. */
int ac_spool_take(ac_spool *spool, unsigned long long after, size_t limit, json_t *out);

/* Delete entries up to and including `upto`, and seen marks older than
 * `seen_days`. Returns 0 or -1. */
int ac_spool_prune(ac_spool *spool, unsigned long long upto, int seen_days);

void ac_spool_close(ac_spool **spool_p);
#endif
