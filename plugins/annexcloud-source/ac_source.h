/* ac_source.h: the annexcloud-source instance and the interface each mode
 * (api, webhook, feed) implements. Modes can be combined in one stage: the
 * plugin polls them in turn, and a batch's checkpoint holds every mode's
 * position ({"api":{..},"webhook":{..},"feed":{..}}), so committing it
 * commits all of them. */
#ifndef AC_SOURCE_H
#define AC_SOURCE_H

#include <pthread.h>
#include <jansson.h>
#include "sluice/plugin.h"
#include "ac_api.h"

typedef struct ac_source ac_source;

typedef struct ac_mode_ops {
    const char *name;  /* "api", "webhook", "feed": also its checkpoint key */
    /* Start from `checkpoint` (this mode's part, borrowed, NULL = from the
     * beginning). Returns SLUICE_OK with *state set, or SLUICE_FATAL after
     * sluice_fail (*state is then NULL or a state stop() can free). */
    sluice_status (*start)(ac_source *src, const json_t *checkpoint, void **state);
    /* Append records to `out` (at most its remaining capacity) and set
     * *position (new reference) to this mode's position after them.
     * Returns SLUICE_OK (records or a new position), SLUICE_AGAIN (nothing
     * now), SLUICE_EOF (nothing more for --once), SLUICE_RETRY/FATAL. */
    sluice_status (*poll)(ac_source *src, void *state, sluice_batch *out, json_t **position);
    /* Emit again from right after `checkpoint` (this mode's part,
     * borrowed, NULL = from the beginning), keeping what the mode serves
     * (the webhook listener) running. Returns SLUICE_OK or SLUICE_FATAL
     * after sluice_fail. May be NULL: the mode is then stopped and started
     * again from the checkpoint. */
    sluice_status (*rewind)(ac_source *src, void *state, const json_t *checkpoint);
    /* `position` (borrowed) and everything before it is committed. May be NULL. */
    void (*committed)(ac_source *src, void *state, const json_t *position);
    /* Stop and free. */
    void (*stop)(ac_source *src, void *state);
} ac_mode_ops;

extern const ac_mode_ops ac_mode_api;
extern const ac_mode_ops ac_mode_webhook;
extern const ac_mode_ops ac_mode_feed;

#define AC_MAX_MODES 3

struct ac_source {
    sluice_ctx *ctx;              /* borrowed */
    const json_t *config;         /* validated options (borrowed) */
    ac_client client;             /* API client (api mode, webhook enrichment) */
    const ac_mode_ops *modes[AC_MAX_MODES];
    void *mode_state[AC_MAX_MODES];
    int mode_done[AC_MAX_MODES];  /* returned EOF since the last rewind */
    size_t mode_count;
    size_t next_mode;             /* round robin */
    json_t *positions;            /* mode name -> latest emitted position */
    int emit_unchanged;
    size_t poll_start;            /* records `out` held when ac_poll began */
    /* The webhook listener's threads use the state store too: every
     * sluice_state_* call of this plugin is made under this lock. */
    pthread_mutex_t state_lock;
};

/* Emit `member` (stolen) into `out` unless its content hash equals the
 * last acknowledged emission for that member (change detection); the new
 * hash is staged with the batch. Returns 1 if appended, 0 if skipped. */
int ac_emit_member(ac_source *src, sluice_batch *out, json_t *member);

/* How many more records a mode's poll may append to `out`: the batch's
 * capacity (the room it had when ac_poll began, as the SDK defines it)
 * less what this ac_poll appended already. */
size_t ac_room(const ac_source *src, const sluice_batch *out);

/* Option helpers over src->config. */
const char *ac_opt_string(const ac_source *src, const char *name);
json_int_t ac_opt_int(const ac_source *src, const char *name);
int ac_opt_bool(const ac_source *src, const char *name);
/* 1 when the list option `name` holds the string `word`, else 0. */
int ac_opt_listed(const ac_source *src, const char *name, const char *word);
#endif
