/* ac_api.h: the Annex Cloud Loyalty API v3 client of annexcloud-source:
 * signed requests, the member enumerator that works around the 50-result
 * cap of POST /users/search, and the per-member fetch. */
#ifndef AC_API_H
#define AC_API_H

#include <stdatomic.h>
#include <time.h>
#include <jansson.h>
#include "sluice/plugin.h"

#define AC_SEARCH_LIMIT 50

typedef struct ac_client {
    sluice_ctx *ctx;       /* borrowed */
    char *base_url;        /* without trailing slash (owned) */
    char *site_id;         /* owned */
    char *secret;          /* owned */
    char *sub;             /* owned */
    long jwt_ttl_s;
    int fetch_activity;    /* read the activity ledger (resources has "activity") */
    int read_points;       /* GET /points/{id} (resources has "points") */
    int read_tiers;        /* GET /users/{id}/tiers */
    int read_reward;       /* GET /users/{id}/reward */
    int activity_all;      /* every activity page, not only as far as the dates need */
    int server_time;       /* stamp as_of with the server's Date header */
    atomic_ulong requests; /* HTTP attempts made by ac_call (all threads) */
} ac_client;

/* What a call came to. */
typedef enum ac_result {
    AC_OK = 0,
    AC_NOT_FOUND,  /* 404/400 AC1005: no such member / no data */
    AC_REJECTED,   /* other 4xx: the request was refused (message set) */
    AC_RETRY,      /* transient failure after the core's retries */
    AC_FATAL       /* credentials refused: sluice_fail() was called */
} ac_result;

/* Perform one signed call. `hmac_payload` is the GET identifier (JSON
 * string literal) or NULL to sign `body`. On AC_OK *answer is the parsed
 * JSON body (new reference). err gets the reason otherwise. If
 * `server_date` is not NULL it receives the answer's Date header as a
 * canonical timestamp (21 bytes), or "" when there is none. */
ac_result ac_call(ac_client *client, const char *method, const char *path, const char *body,
                  const char *hmac_payload, json_t **answer, char *err, size_t errlen,
                  char *server_date);

/* One POST /users/search over the opt-in window [start, end): the user
 * objects found (new array), at most AC_SEARCH_LIMIT. */
ac_result ac_search_window(ac_client *client, time_t start, time_t end, json_t **users,
                           char *err, size_t errlen);

/* A search function, so the enumerator can be tested on its own. */
typedef ac_result (*ac_search_fn)(void *user, time_t start, time_t end, json_t **users,
                                  char *err, size_t errlen);

/* Every member id that opted in within [from, to), in opt-in order,
 * appended to `ids` (array of strings). A window that comes back full (50)
 * is split in halves until each part has fewer; a one-second window that
 * is still full cannot be enumerated this way: AC_REJECTED with a message
 * naming the second. *searches counts the calls made. */
ac_result ac_enumerate(ac_search_fn search, void *user, time_t from, time_t to, json_t *ids,
                       size_t *searches, char *err, size_t errlen);

/* ac_enumerate with up to `threads` (1..256) searches at once
 * (ac_mode_api_enum.c): the same ids in the same order, the same errors
 * (the first failure's), in about as many round trips as the split is
 * deep. `search` must be safe to call from several threads at once. */
ac_result ac_enumerate_parallel(ac_search_fn search, void *user, time_t from, time_t to,
                                int threads, json_t *ids, size_t *searches, char *err,
                                size_t errlen);

/* Fetch member `id`: the profile and the resources the client reads
 * (points, tiers, rewards, activity: client->read_*, fetch_activity) and
 * build the canonical record (new reference in *member). Activity pages
 * are read from both ends only as far as the first/last activity and
 * purchase dates need (every page with client->activity_all).
 * Its as_of is the server's Date of the profile answer when
 * client->server_time is set and the server sent one, else `as_of`.
 * `segments` (borrowed, may be NULL) maps member id -> array of segment
 * names. */
ac_result ac_fetch_member(ac_client *client, const char *id, const json_t *segments,
                          const char *as_of, json_t **member, char *err, size_t errlen);

/* Segment membership: member id -> [segment names] (new object), from
 * GET /segmentlist/all and GET /eligiblesegment/{id}. */
ac_result ac_fetch_segments(ac_client *client, json_t **by_member, char *err, size_t errlen);

/* Current UTC time as a canonical timestamp into out (21 bytes). */
void ac_now_canonical(char out[21]);
#endif
