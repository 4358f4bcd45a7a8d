/* infobip.h: internals shared by the infobip-sink plugin's files: the
 * instance, the request helper and the event validator. */
#ifndef SLUICE_INFOBIP_H
#define SLUICE_INFOBIP_H

#include <stddef.h>
#include <jansson.h>
#include "sluice/plugin.h"

/* Token buckets, one per Infobip endpoint family (each has its own limit). */
#define INFOBIP_BUCKET_PERSONS "persons"
#define INFOBIP_BUCKET_TAGS "tags"
#define INFOBIP_BUCKET_EVENTS "events"
#define INFOBIP_BUCKET_SCHEMA "schema"

typedef struct infobip_sink {
    char *base_url;          /* without trailing slash */
    char *auth_header;       /* "Authorization: App <key>" value part */
    json_t *attributes;      /* name -> dataType (borrowed from config) */
    json_t *definitions;     /* definitionId -> {property: type} (borrowed) */
    json_t *managed_tags;    /* array of tag names this pipeline owns (borrowed) */
    size_t max_persons;
    size_t max_events;
    long max_event_age_s;    /* Infobip refuses older events; 0 = no check */
    int too_old_to_dlq;      /* 1: park them; 0: skip them (counted) */
} infobip_sink;

/* The outcome of one Infobip call, reduced to what the sink decides on. */
typedef struct infobip_reply {
    sluice_http_class cls;
    long status;
    json_t *body;            /* parsed JSON body or NULL (owned) */
    char message[512];       /* Infobip's error text, or a transport error */
} infobip_reply;

/* Send METHOD path with `payload` (borrowed; NULL = no body) on `bucket`.
 * Fills *reply (free with infobip_reply_clear). Returns reply->cls. */
sluice_http_class infobip_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                               const char *path, const json_t *payload, const char *bucket,
                               infobip_reply *reply);

void infobip_reply_clear(infobip_reply *reply);

/* Describe an Infobip error object (207 item, requestError, E429 shape)
 * into buf. Returns buf. */
char *infobip_error_text(const json_t *error, char *buf, size_t buflen);

/* Check an event against its definition (types of properties, id format,
 * definition known). Returns NULL if valid, else a static-lifetime or
 * buf-held reason. */
const char *infobip_event_invalid(const infobip_sink *sink, const json_t *event,
                                  char *buf, size_t buflen);

/* Set record outcomes for events idx[0..n) by sending them in requests of
 * at most sink->max_events, isolating failing items by bisection when
 * Infobip refuses a whole batch. Returns SLUICE_OK or SLUICE_FATAL. */
sluice_status infobip_send_events(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, size_t n);
#endif
