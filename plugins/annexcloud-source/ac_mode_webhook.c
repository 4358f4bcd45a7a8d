/* ac_mode_webhook.c: annexcloud-source webhook mode: a libmicrohttpd
 * listener for Annex Cloud's near-real-time pushes. Each request is
 * authenticated (HMAC-SHA256 signature header and/or basic auth, compared
 * in constant time), bounded in size, parsed, and written durably to the
 * spool in the state store BEFORE it is answered 2xx, so an accepted event
 * survives a crash. A redelivered eventId is answered 200 and not spooled
 * twice. The spool (ac_spool.c) has its own database connection: the
 * listener's threads never touch the engine's. poll() emits spooled events
 * in order as canonical member records
 * (plus canonical events where the payload carries the whole transition);
 * committed() deletes spool entries once acknowledged end to end.
 *
 * Payload (configurable names, the envelope of the reference §11.3):
 *   {"eventId":"..","eventType":"TIER_UPGRADE","timestamp":"..",
 *    "data":{<GET /users keys>, "points":{..}, "tiers":{..}, "rewards":{..},
 *            "segments":[..], "activitySummary":{..}}}
 * A payload with only an id or email is enriched through the API. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "ac_api.h"
#include "ac_convert.h"
#include "ac_jwt.h"
#include "ac_source.h"
#include "ac_spool.h"

#define SEEN_RETENTION_DAYS 7

typedef struct webhook_mode {
    ac_source *src;
    struct MHD_Daemon *daemon;
    char *secret;            /* HMAC secret, or NULL */
    char *signature_header;
    char *basic_auth;        /* "user:password", or NULL */
    size_t max_body;
    long idle_ms;
    int enrich;
    ac_spool *spool;
    unsigned long long emitted;    /* last sequence handed to poll() */
    pthread_mutex_t time_lock;
    struct timespec last_request;  /* monotonic, under time_lock */
    char *tls_cert, *tls_key;      /* PEM contents, kept alive for MHD */
} webhook_mode;

/* One request's body as it arrives. */
typedef struct request_body {
    char *data;
    size_t len;
    int too_large;
} request_body;

static double seconds_since(const struct timespec *then)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

static enum MHD_Result reply(struct MHD_Connection *connection, unsigned int status, const char *what)
{
    json_t *body = json_pack("{s:s}", status < 300 ? "status" : "error", what);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct MHD_Response *response;
    enum MHD_Result result;

    json_decref(body);
    response = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *)"",
                                               text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", "application/json");
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/* 1 if the request carries valid credentials. */
static int authenticated(webhook_mode *mode, struct MHD_Connection *connection, const request_body *body)
{
    if (mode->basic_auth) {
        char *password = NULL;
        char *user = MHD_basic_auth_get_username_password(connection, &password);
        int ok = 0;
        if (user && password) {
            size_t want = strlen(mode->basic_auth), ulen = strlen(user), plen = strlen(password);
            char *given = malloc(ulen + plen + 2);
            if (given) {
                snprintf(given, ulen + plen + 2, "%s:%s", user, password);
                ok = strlen(given) == want && CRYPTO_memcmp(given, mode->basic_auth, want) == 0;
                free(given);
            }
        }
        MHD_free(user);
        MHD_free(password);
        if (!ok)
            return 0;
    }
    if (mode->secret) {
        const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, mode->signature_header);
        char expected[65], given[64];
        if (!header)
            return 0;
        if (strncasecmp(header, "sha256=", 7) == 0)
            header += 7;
        if (strlen(header) != 64)
            return 0;
        /* Hex digits in either case are the same signature. */
        for (size_t i = 0; i < 64; i++)
            given[i] = (char)tolower((unsigned char)header[i]);
        ac_hmac_sha256_hex(mode->secret, body->data ? body->data : "", body->len, expected);
        if (CRYPTO_memcmp(given, expected, 64) != 0)
            return 0;
    }
    return 1;
}

/* First string among `keys` in object, or NULL. */
static const char *first_string(const json_t *object, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *value = json_string_value(json_object_get(object, *keys));
        if (value && *value)
            return value;
    }
    return NULL;
}

static const char *const event_id_keys[] = {"eventId", "event_id", "id", NULL};
static const char *const event_type_keys[] = {"eventType", "event_type", "event", "type", NULL};
static const char *const data_keys[] = {"data", "member", "user", NULL};

static const json_t *payload_data(const json_t *payload)
{
    for (const char *const *key = data_keys; *key; key++) {
        const json_t *data = json_object_get(payload, *key);
        if (json_is_object(data))
            return data;
    }
    return NULL;
}

/* Validate and spool one payload. Returns the HTTP status to answer and
 * sets *why. */
static unsigned int accept_payload(webhook_mode *mode, const request_body *body, const char **why,
                                   char *reason, size_t reason_len)
{
    json_error_t error;
    json_t *payload = json_loadb(body->data ? body->data : "", body->len, 0, &error);
    const json_t *data;
    const char *event_id, *member;
    unsigned int status = 200;
    int duplicate = 0;

    pthread_mutex_lock(&mode->time_lock);
    clock_gettime(CLOCK_MONOTONIC, &mode->last_request);
    pthread_mutex_unlock(&mode->time_lock);
    if (!json_is_object(payload)) {
        snprintf(reason, reason_len, "body is not a JSON object%s%s", payload ? "" : ": ",
                 payload ? "" : error.text);
        *why = reason;
        json_decref(payload);
        return 400;
    }
    event_id = first_string(payload, event_id_keys);
    data = payload_data(payload);
    member = data ? json_string_value(json_object_get(data, "id")) : NULL;
    if (!member && data)
        member = json_string_value(json_object_get(data, "email"));
    if (!event_id || !first_string(payload, event_type_keys) || !member) {
        *why = "payload needs an eventId, an eventType and data with a member id or email";
        json_decref(payload);
        return 400;
    }
    /* Durable before the answer: the spool row and the seen mark, together. */
    if (ac_spool_add(mode->spool, event_id, body->data, body->len, &duplicate) != 0) {
        *why = "cannot write the spool";
        status = 503;
    } else {
        *why = duplicate ? "duplicate delivery: already accepted" : "accepted";
    }
    json_decref(payload);
    return status;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    webhook_mode *mode = cls;
    request_body *body = *con_cls;
    const char *why = NULL;
    char reason[300];
    unsigned int status;

    (void)url;
    (void)version;
    if (!body) {
        body = calloc(1, sizeof(*body));
        if (!body)
            return MHD_NO;
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!body->too_large) {
            if (body->len + *upload_data_size > mode->max_body) {
                body->too_large = 1;
                free(body->data);
                body->data = NULL;
            } else {
                char *grown = realloc(body->data, body->len + *upload_data_size + 1);
                if (!grown)
                    return MHD_NO;
                memcpy(grown + body->len, upload_data, *upload_data_size);
                body->data = grown;
                body->len += *upload_data_size;
                body->data[body->len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return reply(connection, 405, "only POST is accepted");
    if (body->too_large)
        return reply(connection, 413, "body larger than max_body");
    if (!authenticated(mode, connection, body)) {
        sluice_log(mode->src->ctx, SLUICE_LOG_WARN, "webhook refused: bad signature or credentials");
        sluice_metric_add(mode->src->ctx, "webhooks_unauthorized", 1);
        return reply(connection, 401, "bad signature or credentials");
    }
    status = accept_payload(mode, body, &why, reason, sizeof(reason));
    if (status == 400) {
        sluice_log(mode->src->ctx, SLUICE_LOG_WARN, "webhook refused (400): %s", why);
        sluice_metric_add(mode->src->ctx, "webhooks_malformed", 1);
    } else if (status == 200) {
        sluice_metric_add(mode->src->ctx, "webhooks_accepted", 1);
    }
    return reply(connection, status, why);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    request_body *body = *con_cls;

    (void)cls;
    (void)connection;
    (void)code;
    if (body) {
        free(body->data);
        free(body);
        *con_cls = NULL;
    }
}

/* Whole file into a malloc'd string, or NULL. */
static char *read_text_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (!file)
        return NULL;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text && fread(text, 1, (size_t)size, file) == (size_t)size)
            text[size] = '\0';
        else {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

static sluice_status webhook_start(ac_source *src, const json_t *checkpoint, void **state)
{
    webhook_mode *mode = calloc(1, sizeof(*mode));
    const char *listen = ac_opt_string(src, "listen");
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    const char *secret = ac_opt_string(src, "webhook_secret");
    const char *basic = ac_opt_string(src, "basic_auth");
    const char *cert = ac_opt_string(src, "tls_cert"), *key = ac_opt_string(src, "tls_key");
    struct sockaddr_in addr;
    char host[64];
    long port;
    char *end = NULL;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    if (!mode)
        return SLUICE_FATAL;
    *state = mode;
    mode->src = src;
    if ((!secret || !*secret) && (!basic || !*basic)) {
        sluice_fail(src->ctx, "webhook mode needs webhook_secret and/or basic_auth: an open endpoint would accept anyone's data");
        return SLUICE_FATAL;
    }
    if (basic && !strchr(basic, ':')) {
        sluice_fail(src->ctx, "basic_auth must be user:password");
        return SLUICE_FATAL;
    }
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        sluice_fail(src->ctx, "listen '%s' is not address:port", listen ? listen : "");
        return SLUICE_FATAL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    if (errno || !end || *end || port < 0 || port > 65535 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        sluice_fail(src->ctx, "listen '%s' is not an IPv4 address:port", listen);
        return SLUICE_FATAL;
    }
    addr.sin_port = htons((uint16_t)port);
    mode->secret = secret && *secret ? strdup(secret) : NULL;
    mode->basic_auth = basic && *basic ? strdup(basic) : NULL;
    mode->signature_header = strdup(ac_opt_string(src, "signature_header"));
    mode->max_body = (size_t)ac_opt_int(src, "max_body");
    mode->idle_ms = (long)ac_opt_int(src, "idle_ms");
    mode->enrich = ac_opt_bool(src, "enrich");
    clock_gettime(CLOCK_MONOTONIC, &mode->last_request);

    {
        char err[512];
        mode->spool = ac_spool_open(sluice_state_dir(src->ctx), sluice_stage_name(src->ctx), err, sizeof(err));
        if (!mode->spool) {
            sluice_fail(src->ctx, "cannot open the webhook spool: %s", err);
            return SLUICE_FATAL;
        }
    }
    pthread_mutex_init(&mode->time_lock, NULL);
    mode->emitted = (unsigned long long)json_integer_value(json_object_get(checkpoint, "seq"));

    if (cert || key) {
        mode->tls_cert = cert ? read_text_file(cert) : NULL;
        mode->tls_key = key ? read_text_file(key) : NULL;
        if (!mode->tls_cert || !mode->tls_key) {
            sluice_fail(src->ctx, "cannot read tls_cert '%s' and tls_key '%s'", cert ? cert : "",
                        key ? key : "");
            return SLUICE_FATAL;
        }
        flags |= MHD_USE_TLS;
    }
    mode->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, mode,
                                    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                    MHD_OPTION_NOTIFY_COMPLETED, on_completed, mode,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                                    mode->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
                                    mode->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, mode->tls_key,
                                    MHD_OPTION_END);
    if (!mode->daemon) {
        sluice_fail(src->ctx, "cannot listen on %s for webhooks (address in use?)", listen);
        return SLUICE_FATAL;
    }
    info = MHD_get_daemon_info(mode->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sluice_log(src->ctx, SLUICE_LOG_INFO, "webhook listening on %s:%u%s", host,
               info ? info->port : (unsigned)port, mode->tls_cert ? " (https)" : "");
    return SLUICE_OK;
}

/* Canonical member (new ref) from a spooled payload, enriching through
 * the API when the payload lacks the loyalty data. */
static ac_result payload_member(webhook_mode *mode, const json_t *payload, json_t **member,
                                char *err, size_t errlen)
{
    const json_t *data = payload_data(payload);
    const char *when = first_string(payload, (const char *const[]){"timestamp", "createdAt", "time", NULL});
    char as_of[21];
    ac_member_parts parts;

    *member = NULL;
    if (!when || ac_timestamp_canonical(when, as_of) != 0)
        ac_now_canonical(as_of);
    if (!json_object_get(data, "points") && !json_object_get(data, "tiers")) {
        const char *id = json_string_value(json_object_get(data, "id"));
        if (!mode->enrich || !mode->src->client.base_url || !id) {
            snprintf(err, errlen, "payload has no loyalty data and enrichment is %s",
                     mode->enrich ? "impossible (no base_url or member id)" : "off");
            return AC_REJECTED;
        }
        return ac_fetch_member(&mode->src->client, id, NULL, as_of, member, err, errlen);
    }
    memset(&parts, 0, sizeof(parts));
    parts.user = data;
    parts.points = json_object_get(data, "points");
    parts.tiers = json_object_get(data, "tiers");
    parts.reward = json_object_get(data, "rewards");
    if (!parts.reward)
        parts.reward = json_object_get(data, "reward");
    parts.activity_summary = json_object_get(data, "activitySummary");
    parts.segments = json_object_get(data, "segments");
    *member = ac_member_canonical(&parts, as_of);
    if (!*member) {
        snprintf(err, errlen, "payload data has no member id");
        return AC_REJECTED;
    }
    return AC_OK;
}

/* A canonical event record (new ref) for event types whose transition the
 * payload fully describes (opt-in, opt-out); NULL for the others, which
 * tier-event-deriver derives from the state change. Tier events are not
 * built here on purpose: the API's `previousTier` is the tier below the
 * current one on the ladder (reference §6), not the tier the member came
 * from, so a payload does not say what a downgrade went down from. */
static json_t *payload_event(const char *event_type, const json_t *member)
{
    const char *id = json_string_value(json_object_get(member, "loyalty_id"));
    const char *type = NULL;
    char discriminator[300], occurred[32], event_id[33];
    json_t *properties = NULL;

    if (!id)
        return NULL;
    if (!strcasecmp(event_type, "OPT_IN") || !strcasecmp(event_type, "USER_CREATE")) {
        const char *date = json_string_value(json_object_get(member, "opt_in_date"));
        const char *status = json_string_value(json_object_get(member, "opt_in_status"));
        if (!date || !status || strcmp(status, "yes") != 0)
            return NULL;
        type = "opt_in";
        snprintf(discriminator, sizeof(discriminator), "%s", date);
        snprintf(occurred, sizeof(occurred), "%s", date);
        properties = json_pack("{s:s}", "opt_in_date", date);
    } else if (!strcasecmp(event_type, "OPT_OUT")) {
        const char *date = json_string_value(json_object_get(member, "opt_out_date"));
        if (!date)
            return NULL;
        type = "opt_out";
        snprintf(discriminator, sizeof(discriminator), "%s", date);
        snprintf(occurred, sizeof(occurred), "%sT00:00:00Z", date);
        properties = json_pack("{s:s}", "opt_out_date", date);
    } else {
        return NULL;
    }
    ac_event_id(id, type, discriminator, event_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:O?, s:s, s:s, s:o}", "kind", "event", "event_type", type,
                     "event_id", event_id, "loyalty_id", id, "email", json_object_get(member, "email"),
                     "occurred_at", occurred, "origin", "source", "properties", properties);
}

static sluice_status webhook_poll(ac_source *src, void *state, sluice_batch *out, json_t **position)
{
    webhook_mode *mode = state;
    size_t room = sluice_batch_capacity(out) - sluice_batch_count(out), i;
    json_t *entries = json_array(), *entry;
    double idle;
    sluice_status status = SLUICE_OK;

    /* Each payload can make two records (member and event). */
    pthread_mutex_lock(&mode->time_lock);
    idle = seconds_since(&mode->last_request);
    pthread_mutex_unlock(&mode->time_lock);
    if (ac_spool_take(mode->spool, mode->emitted, room / 2 ? room / 2 : 1, entries) < 0) {
        json_decref(entries);
        sluice_log(src->ctx, SLUICE_LOG_WARN, "cannot read the webhook spool; retrying");
        return SLUICE_RETRY;
    }
    json_array_foreach(entries, i, entry) {
        unsigned long long seq = (unsigned long long)json_integer_value(json_array_get(entry, 0));
        const json_t *payload = json_array_get(entry, 1);
        const char *event_type = first_string(payload, event_type_keys);
        json_t *member = NULL, *event;
        char err[512];
        ac_result result = payload_member(mode, payload, &member, err, sizeof(err));

        if (result == AC_RETRY) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "webhook %llu: enrichment failed, will retry: %s", seq, err);
            status = i == 0 ? SLUICE_RETRY : SLUICE_OK;
            break;
        }
        if (result == AC_FATAL) {
            status = SLUICE_FATAL;
            break;
        }
        if (result != AC_OK) {
            /* Keep the payload: it goes to the dead-letter queue with why. */
            char reason[700];
            sluice_batch_append(out, json_deep_copy(payload));
            const char *event_id = first_string(payload, event_id_keys);
            snprintf(reason, sizeof(reason), "webhook %s: %s", event_id ? event_id : "?", err);
            sluice_batch_reject(out, sluice_batch_count(out) - 1, reason);
        } else {
            event = event_type ? payload_event(event_type, member) : NULL;
            /* Webhooks carry every change: no change detection here. */
            sluice_batch_append(out, member);
            if (event)
                sluice_batch_append(out, event);
        }
        mode->emitted = seq;
        *position = json_pack("{s:I}", "seq", (json_int_t)mode->emitted);
    }
    json_decref(entries);
    if (status != SLUICE_OK || sluice_batch_count(out) > 0 || *position)
        return status;
    if (sluice_run_once(src->ctx) && idle * 1000.0 >= (double)mode->idle_ms)
        return SLUICE_EOF;
    return SLUICE_AGAIN;
}

static void webhook_committed(ac_source *src, void *state, const json_t *position)
{
    webhook_mode *mode = state;
    unsigned long long upto = (unsigned long long)json_integer_value(json_object_get(position, "seq"));

    if (ac_spool_prune(mode->spool, upto, SEEN_RETENTION_DAYS) != 0)
        sluice_log(src->ctx, SLUICE_LOG_WARN, "cannot prune the webhook spool (kept for the next commit)");
}

static void webhook_stop(ac_source *src, void *state)
{
    webhook_mode *mode = state;

    (void)src;
    if (!mode)
        return;
    if (mode->daemon)
        MHD_stop_daemon(mode->daemon);
    ac_spool_close(&mode->spool);
    pthread_mutex_destroy(&mode->time_lock);
    free(mode->secret);
    free(mode->basic_auth);
    free(mode->signature_header);
    free(mode->tls_cert);
    free(mode->tls_key);
    free(mode);
}

const ac_mode_ops ac_mode_webhook = {
    .name = "webhook",
    .start = webhook_start,
    .poll = webhook_poll,
    .committed = webhook_committed,
    .stop = webhook_stop,
};
