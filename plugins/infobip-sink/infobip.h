/* infobip.h: internals shared by the infobip-sink plugin's files: the
 * instance, the request helpers (one call, or several in flight at once)
 * and the event validator. */
#ifndef SLUICE_INFOBIP_H
#define SLUICE_INFOBIP_H

#include <stddef.h>
#include <jansson.h>
#include "sluice/plugin.h"
#include "sink_erase.h"

/* Token buckets, one per Infobip endpoint family (each has its own limit). */
#define INFOBIP_BUCKET_PERSONS "persons"
#define INFOBIP_BUCKET_TAGS "tags"
#define INFOBIP_BUCKET_EVENTS "events"
#define INFOBIP_BUCKET_SCHEMA "schema"

/* Most requests infobip_send_all keeps in flight (option max_in_flight). */
#define INFOBIP_MAX_IN_FLIGHT 16

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
    size_t max_in_flight;    /* requests sent at once by infobip_send_all (>= 1) */
    erase_list erased;       /* erased members (infobip_erase.c) */
} infobip_sink;

/* The outcome of one Infobip call, reduced to what the sink decides on. */
typedef struct infobip_reply {
    sluice_http_class cls;
    long status;
    json_t *body;            /* parsed JSON body or NULL (owned) */
    char message[512];       /* Infobip's error text, or a transport error */
    char unreadable[160];    /* a 2xx whose body is not JSON: what is wrong
                                ("" otherwise; see infobip_answer) */
    sluice_http_response raw; /* a 2xx answer as it came (owned), for the
                                 message about one that cannot be read */
} infobip_reply;

/* Send METHOD path with `payload` (borrowed; NULL = no body) on `bucket`.
 * Fills *reply (free with infobip_reply_clear). Returns reply->cls. */
sluice_http_class infobip_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                               const char *path, const json_t *payload, const char *bucket,
                               infobip_reply *reply);

void infobip_reply_clear(infobip_reply *reply);

/* Say whether the 2xx `reply` to METHOD path is Infobip's answer
 * (sluice_http_answer): `why` NULL means it is; otherwise what is wrong
 * with it (reply->unreadable, or the caller's finding such as results
 * missing for some persons). Returns SLUICE_OK (readable), SLUICE_RETRY
 * (not a delivery: the caller sets what it carried to RETRY) or
 * SLUICE_FATAL after sluice_fail() when such answers keep coming. Call on
 * the write() (or init()) thread. */
sluice_status infobip_answer(sluice_ctx *ctx, const infobip_sink *sink, const char *method,
                             const char *path, const infobip_reply *reply, const char *why);

/* sluice_fail() for a request Infobip cannot be reached for as configured
 * (reply->cls SLUICE_HTTP_CONFIG: a certificate that fails verification, an
 * unusable URL), naming the sink, the request and the fix. Returns
 * SLUICE_FATAL. */
sluice_status infobip_config_failure(sluice_ctx *ctx, const infobip_sink *sink,
                                     const char *method, const char *path,
                                     const infobip_reply *reply);

/* One request of a group sent by infobip_send_all: what to send (filled
 * by the caller) and the reply (filled by infobip_send_all). */
typedef struct infobip_request {
    const char *method;      /* static string */
    char path[600];
    char *body;              /* owned, JSON text of body_len bytes, or NULL */
    size_t body_len;
    const char *bucket;      /* static string */
    infobip_reply reply;     /* valid after infobip_send_all */
} infobip_request;

/* Send requests[0..n) with up to sink->max_in_flight of them in flight at
 * once: the calling thread and (max_in_flight - 1) worker threads take the
 * next unsent request until none is left; it returns when every request
 * has its reply. The workers call only sluice_http and jansson on their own
 * data (never the batch, sluice_fail or sluice_log), so the caller reads
 * the replies and sets outcomes on its own thread. Requests must be
 * independent of each other (no ordering between them is kept). After an
 * answer of class AUTH or CONFIG the requests not yet started are not
 * sent: their reply is RETRYABLE with the message "not sent". */
void infobip_send_all(sluice_ctx *ctx, infobip_sink *sink, infobip_request *requests, size_t n);

/* Free the bodies and replies of requests[0..n) and the array. */
void infobip_requests_free(infobip_request *requests, size_t n);

/* Set request->body (owned) to `open`, the records idx[0..n) of batch as
 * compact JSON joined by commas, then `close`: each record's text as it
 * travelled when no stage parsed it (sluice_batch_peek_text, no parse and
 * no dump), else the dump of the parsed record. Returns 0, or -1 (ENOMEM,
 * or a record that cannot be read; request->body untouched). */
int infobip_records_body(sluice_batch *batch, const size_t *idx, size_t n, const char *open,
                         const char *close, infobip_request *request);

/* Describe an Infobip error object (207 item, requestError, E429 shape)
 * into buf. Returns buf. */
char *infobip_error_text(const json_t *error, char *buf, size_t buflen);

/* What the sink needs of a record before sending it. */
typedef struct infobip_record_facts {
    const char *external_id; /* the externalId string (points into the text,
                                not NUL-terminated), or NULL when absent or
                                not a string */
    size_t external_id_len;
    int is_event;            /* it has a definitionId member */
    int has_tags;            /* its "tags" member is an array */
    const char *tags_text;   /* that array's JSON text (points into the text),
                                or NULL */
    size_t tags_len;
    size_t tags_cut_at;      /* the bytes [tags_cut_at, + tags_cut_len) of the
                                text are its "tags" member and one comma next
                                to it: the text without them is the record
                                without "tags" (tags_cut_len 0: no member) */
    size_t tags_cut_len;
} infobip_record_facts;

/* Read *facts from text[0..len), a record's JSON text (one object, valid
 * JSON, as sluice_batch_peek_text gives it), by walking its top-level
 * members without building a tree; of repeated members the last counts, as
 * in jansson. Returns 0, or -1 when the text holds something the walk
 * leaves to the parser (escapes in a member name or in externalId, "tags"
 * twice, or a text that is not one object): then parse the record
 * instead. */
int infobip_scan_record(const char *text, size_t len, infobip_record_facts *facts);

/* Check an event against its definition (types of properties, id format,
 * definition known). Returns NULL if valid, else a static-lifetime or
 * buf-held reason. */
const char *infobip_event_invalid(const infobip_sink *sink, const json_t *event,
                                  char *buf, size_t buflen);

/* Create in Infobip what the sink needs before its first upsert (the
 * custom attributes, event definitions and managed tags of its options).
 * Returns SLUICE_OK, or SLUICE_FATAL after sluice_fail(). */
sluice_status infobip_setup(sluice_ctx *ctx, infobip_sink *sink);

/* 1 if the JSON array `list` (borrowed; anything else counts as empty)
 * holds the string `name`, else 0. */
int infobip_list_has(const json_t *list, const char *name);

/* The persons of one write(), in batch order (filled by write(), which
 * owns and frees the arrays). */
typedef struct infobip_person_list {
    size_t *index;           /* batch index of each */
    char **id;               /* its externalId (owned) */
    unsigned char *has_tags; /* 1: its record has a "tags" array */
    unsigned char *created;  /* 1: its upsert was answered CREATED (zeroed by
                                the caller, set by infobip_send_persons) */
    size_t count;
} infobip_person_list;

/* Upsert `persons` in chunks of sink->max_persons, keeping up to
 * sink->max_in_flight requests in flight, the records without their
 * "tags" (Infobip's v3 upsert does not document what it does with them:
 * it may replace a person's list, tags set by hand included), then set
 * each person's tags through the tag endpoints (infobip_tags.c); set their
 * outcomes. A person's requests stay in order: consecutive chunks that
 * share no person form a wave sent at once (upserts, then their tag
 * changes); a chunk holding a person of an earlier chunk of the wave
 * starts the next wave. Within a chunk Infobip applies the persons in
 * order. Returns SLUICE_OK, SLUICE_RETRY (ENOMEM) or SLUICE_FATAL after
 * sluice_fail(). */
sluice_status infobip_send_persons(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                   const infobip_person_list *persons);

/* The tag changes of one wave, planned before any is sent: request k is
 * `PATCH|DELETE /people/2/tags/{tags[k]}/persons` for up to 1000 persons
 * whose last records are the batch indices in owners[k] (a JSON array of
 * integers). Everything is owned by the plan (infobip_tag_plan_free). */
typedef struct infobip_tag_plan {
    infobip_request *requests;
    json_t **owners;
    char **tags;
    size_t count;
    size_t cap;
} infobip_tag_plan;

/* Add to `plan` the tag changes after persons[start .. start + n) (one
 * upsert) were answered: of each person now DONE whose record has a tags
 * array (the last record of it in the chunk), every tag it lists is added
 * (one PATCH per tag) and, unless the upsert CREATED the person (it has no
 * tags yet), every managed tag it does not list is taken away (one DELETE
 * per tag). Tags the pipeline does not own and the record does not list
 * are never touched. Returns 0 or -1 (ENOMEM). */
int infobip_tags_plan(infobip_sink *sink, sluice_batch *batch, const infobip_person_list *persons,
                      size_t start, size_t n, infobip_tag_plan *plan);

/* Read the answers of the planned tag changes (all sent): a failure, or a
 * 2xx that is not Infobip's, turns the affected persons to RETRY (sent
 * again with their upsert) or REJECTED (parked with the reason). Returns
 * SLUICE_OK, or SLUICE_FATAL after sluice_fail() when Infobip refused the
 * API key, cannot be reached as configured, or keeps answering what cannot
 * be read. */
sluice_status infobip_tags_apply(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                 const infobip_tag_plan *plan);

/* Free what `plan` holds and zero it. */
void infobip_tag_plan_free(infobip_tag_plan *plan);

/* Set record outcomes for events idx[0..n) by sending them in requests of
 * at most sink->max_events, isolating failing items by bisection when
 * Infobip refuses a whole batch. Returns SLUICE_OK or SLUICE_FATAL. */
sluice_status infobip_send_events(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch,
                                  const size_t *idx, size_t n);

/* Load the erasure list (option erase_enrolment_field names where a person
 * carries its enrolment date). Returns 0, or -1 after sluice_fail(). */
int infobip_erase_init(sluice_ctx *ctx, infobip_sink *sink, const json_t *config);

/* Carry out the erase records of batch (kind "erase"): each enters the
 * erasure list and its person is deleted; sets their outcomes (RETRY while
 * Infobip does not answer, REJECTED when it refuses for good). Run before
 * the batch's persons and events, so that none of the erased member's
 * goes out after its deletion. Returns SLUICE_OK or SLUICE_FATAL. */
sluice_status infobip_erase_batch(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch);

/* Drop record i (a person or an event, `facts` its facts) when its member
 * is erased and it does not enrol the member again (erase_list_filter).
 * Returns 1 dropped, 0 to send it, -1 on a store error. */
int infobip_erase_screen(sluice_ctx *ctx, infobip_sink *sink, sluice_batch *batch, size_t i,
                         const infobip_record_facts *facts);
#endif
