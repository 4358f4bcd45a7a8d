/* annexcloud_source.c: the annexcloud-source plugin: loyalty members and
 * events out of Annex Cloud as canonical records (docs/loyalty-schema.md),
 * from the REST API (full/periodic sync), webhooks and Data Feed files.
 * This file is the plugin glue: options, mode dispatch, checkpoints and
 * change detection; each mode lives in ac_mode_<name>.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_convert.h"
#include "ac_csv_text.h"
#include "ac_source.h"

#define HASH_STATE_PREFIX "hash/"

static const sluice_option ac_options[] = {
    {"mode", SLUICE_OPT_STRING, "api", 0, 0,
     "api, webhook, feed, or a comma-separated combination such as \"api,webhook\""},
    {"base_url", SLUICE_OPT_STRING, NULL, 0, 0,
     "Annex Cloud API base, e.g. https://s15.socialannex.net/api/3.0 (${ANNEXCLOUD_BASE_URL}); api mode and webhook enrichment", .kind = SLUICE_KIND_URL},
    {"site_id", SLUICE_OPT_STRING, NULL, 0, 0, "Annex Cloud site id (${ANNEXCLOUD_SITE_ID})"},
    {"secret", SLUICE_OPT_STRING, NULL, 0, 1, "API shared secret for the request JWTs (${ANNEXCLOUD_SECRET})"},
    {"jwt_sub", SLUICE_OPT_STRING, "sluice", 0, 0, "JWT sub claim (site name or client id)"},
    {"jwt_ttl_s", SLUICE_OPT_INT, "300", 0, 0, "lifetime of each request JWT, seconds", .range = "10..86400"},
    {"since", SLUICE_OPT_STRING, "2000-01-01T00:00:00Z", 0, 0,
     "api: earliest opt-in time to enumerate members from"},
    {"max_concurrency", SLUICE_OPT_INT, "128", 0, 0,
     "api: most requests in flight; the core adapts the limit below it to response times and 429s",
     .range = "1..256"},
    {"concurrency", SLUICE_OPT_INT, NULL, 0, 0,
     "api: a fixed number of requests in flight instead of the adaptive limit", .range = "1..256"},
    {"interval_s", SLUICE_OPT_INT, "0", 0, 0,
     "api: seconds from the start of a full sync to the start of the next when running "
     "continuously (0: one sync, then idle); a longer sync is followed at once", .range = "0.."},
    {"resources", SLUICE_OPT_LIST, "[\"points\", \"tiers\", \"reward\", \"activity\"]", 0, 0,
     "api/enrichment: member resources read besides the profile, one request each per member",
     .choices = "points|tiers|reward|activity"},
    {"activity_pages", SLUICE_OPT_STRING, "ends", 0, 0,
     "api/enrichment: activity pages read: ends (only as far as the first/last activity and "
     "purchase dates need) or all", .choices = "ends|all"},
    {"fetch_activity", SLUICE_OPT_BOOL, "true", 0, 0,
     "api: read the activity ledger for first/last activity and purchase dates (false: as if "
     "resources had no \"activity\")"},
    {"fetch_segments", SLUICE_OPT_BOOL, "true", 0, 0, "api: read segment membership"},
    {"as_of", SLUICE_OPT_STRING, "server", 0, 0,
     "api/enrichment: stamp records with the server's Date (server) or this machine's clock (local)", .choices = "server|local"},
    {"emit_unchanged", SLUICE_OPT_BOOL, "false", 0, 0,
     "emit members whose data did not change since the last acknowledged emission"},
    {"listen", SLUICE_OPT_STRING, "127.0.0.1:8088", 0, 0, "webhook: address:port to listen on", .kind = SLUICE_KIND_HOSTPORT},
    {"webhook_secret", SLUICE_OPT_STRING, NULL, 0, 1,
     "webhook: shared secret of the HMAC-SHA256 signature header"},
    {"signature_header", SLUICE_OPT_STRING, "X-AnnexCloud-Signature", 0, 0,
     "webhook: header carrying sha256=<hex HMAC of the body>"},
    {"basic_auth", SLUICE_OPT_STRING, NULL, 0, 1, "webhook: user:password required as HTTP basic auth"},
    {"max_body", SLUICE_OPT_INT, "1048576", 0, 0,
     "webhook: largest accepted body, bytes (413 beyond, decided on the Content-Length header when there is one)", .range = "1..1073741824"},
    {"body_budget", SLUICE_OPT_INT, "33554432", 0, 0,
     "webhook: bytes of request bodies buffered at once over all connections (503 beyond)", .range = "1..1099511627776"},
    {"max_connections", SLUICE_OPT_INT, "4096", 0, 0,
     "webhook: open connections at most (lowered to fit the open-file limit)", .range = "1..1000000"},
    {"max_connections_per_ip", SLUICE_OPT_INT, "128", 0, 0,
     "webhook: open connections from one address at most (0: no limit; behind a proxy, raise it)", .range = "0..1000000"},
    {"request_timeout_ms", SLUICE_OPT_INT, "10000", 0, 0,
     "webhook: a connection must deliver a whole request within this of its accept or its previous answer", .range = "100..3600000"},
    {"spool_wait_ms", SLUICE_OPT_INT, "1000", 0, 0,
     "webhook: longest a request waits for its synced spool commit before it is answered 503", .range = "10..600000"},
    {"listen_threads", SLUICE_OPT_INT, "2", 0, 0, "webhook: listener threads (epoll, one event loop each)", .range = "1..64"},
    {"idle_ms", SLUICE_OPT_INT, "2000", 0, 0,
     "webhook with --once: end when the spool is drained and nothing arrived for this long", .range = "0..86400000"},
    {"tls_cert", SLUICE_OPT_STRING, NULL, 0, 0, "webhook: PEM certificate file (HTTPS)", .kind = SLUICE_KIND_PATH},
    {"tls_key", SLUICE_OPT_STRING, NULL, 0, 0, "webhook: PEM private key file (HTTPS)", .kind = SLUICE_KIND_PATH},
    {"erase_event_types", SLUICE_OPT_LIST, "[\"USER_DELETE\", \"GDPR_ERASE\"]", 0, 0,
     "webhook: event types that ask to erase the member (Annex Cloud does not publish its names): they become erase records"},
    {"enrich", SLUICE_OPT_BOOL, "true", 0, 0,
     "webhook: fetch the member through the API when the payload lacks fields"},
    {"feed_dir", SLUICE_OPT_STRING, NULL, 0, 0, "feed: local directory of Data Feed export files", .kind = SLUICE_KIND_PATH},
    {"feed_location", SLUICE_OPT_STRING, NULL, 0, 0,
     "feed: where the export files are instead of feed_dir: a local directory, sftp://USER@HOST[:PORT]/PATH/ or s3://BUCKET/PREFIX/"},
    {"feed_ssh_key", SLUICE_OPT_STRING, NULL, 0, 0, "feed sftp: private key file (public-key auth)", .kind = SLUICE_KIND_PATH},
    {"feed_ssh_passphrase", SLUICE_OPT_STRING, NULL, 0, 1, "feed sftp: passphrase of feed_ssh_key"},
    {"feed_known_hosts", SLUICE_OPT_STRING, NULL, 0, 0,
     "feed sftp: known_hosts file the server's host key must be in (default ~/.ssh/known_hosts; unknown hosts are refused)", .kind = SLUICE_KIND_PATH},
    {"feed_password", SLUICE_OPT_STRING, NULL, 0, 1, "feed sftp: password, when no feed_ssh_key"},
    {"feed_s3_region", SLUICE_OPT_STRING, "us-east-1", 0, 0, "feed s3: bucket region (SigV4 scope)"},
    {"feed_s3_endpoint", SLUICE_OPT_STRING, NULL, 0, 0,
     "feed s3: endpoint URL of an S3-compatible server, path-style requests (default https://BUCKET.s3.REGION.amazonaws.com)", .kind = SLUICE_KIND_URL},
    {"feed_s3_access_key_id", SLUICE_OPT_STRING, NULL, 0, 0, "feed s3: access key id (${AWS_ACCESS_KEY_ID})"},
    {"feed_s3_secret_access_key", SLUICE_OPT_STRING, NULL, 0, 1, "feed s3: secret access key (${AWS_SECRET_ACCESS_KEY})"},
    {"feed_s3_session_token", SLUICE_OPT_STRING, NULL, 0, 1, "feed s3: session token of temporary credentials (optional)"},
    {"feed_list_interval_s", SLUICE_OPT_INT, "60", 0, 0,
     "feed sftp/s3: seconds between listings of the location when running continuously (--once lists once)", .range = "0.."},
    {"feed_timeout_s", SLUICE_OPT_INT, "30", 0, 0,
     "feed sftp/s3: connect timeout, and a transfer stalled this long is abandoned and retried", .range = "1..86400"},
    {"feed_pattern", SLUICE_OPT_STRING, "*.csv", 0, 0, "feed: file name pattern (fnmatch)"},
    {"feed_deletions_pattern", SLUICE_OPT_STRING, NULL, 0, 0,
     "feed: files (among feed_pattern's) that list members to erase, one Loyalty Id a row (fnmatch, e.g. \"deletions*.csv\"); unset: none"},
    {"encoding", SLUICE_OPT_STRING, "utf-8", 0, 0,
     "feed: encoding of the export files: utf-8 (a cell that is not UTF-8 parks its row), iso-8859-1 or windows-1252 (transcoded)"},
    {"columns", SLUICE_OPT_GROUP, NULL, 0, 0,
     "feed: canonical field = \"CSV header\" overrides of the default column map"},
    SLUICE_OPTION_END};

size_t ac_room(const ac_source *src, const sluice_batch *out)
{
    size_t capacity = sluice_batch_capacity(out);
    size_t appended = sluice_batch_count(out) - src->poll_start;

    return appended < capacity ? capacity - appended : 0;
}

const char *ac_opt_string(const ac_source *src, const char *name)
{
    return json_string_value(json_object_get(src->config, name));
}

json_int_t ac_opt_int(const ac_source *src, const char *name)
{
    return json_integer_value(json_object_get(src->config, name));
}

int ac_opt_bool(const ac_source *src, const char *name)
{
    return json_is_true(json_object_get(src->config, name));
}

int ac_opt_listed(const ac_source *src, const char *name, const char *word)
{
    size_t i;
    json_t *item;

    json_array_foreach(json_object_get(src->config, name), i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), word) == 0)
            return 1;
    }
    return 0;
}

int ac_emit_member(ac_source *src, sluice_batch *out, json_t *member)
{
    const char *id = json_string_value(json_object_get(member, "loyalty_id"));
    char key[512], hash[65];
    json_t *before, *now;
    int same;

    if (!id) {
        sluice_batch_append(out, member);
        return 1;
    }
    ac_member_hash(member, hash);
    snprintf(key, sizeof(key), "%s%s", HASH_STATE_PREFIX, id);
    pthread_mutex_lock(&src->state_lock);
    before = sluice_state_get(src->ctx, key);
    same = json_is_string(before) && strcmp(json_string_value(before), hash) == 0;
    json_decref(before);
    if (same && !src->emit_unchanged) {
        pthread_mutex_unlock(&src->state_lock);
        json_decref(member);
        return 0;
    }
    now = json_string(hash);
    sluice_state_put(src->ctx, out, key, now);
    pthread_mutex_unlock(&src->state_lock);
    json_decref(now);
    sluice_batch_append(out, member);
    return 1;
}

/* Parse the mode list `text` ("api", "webhook,feed", ...) into modes[]
 * (AC_MAX_MODES entries) and *count. Returns 0, or -1 with the reason in
 * err. */
static int parse_modes(const char *text, const ac_mode_ops **modes, size_t *count, char *err,
                       size_t errlen)
{
    static const ac_mode_ops *const known[] = {&ac_mode_api, &ac_mode_webhook, &ac_mode_feed};
    const char *p = text;

    *count = 0;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p), i;
        while (len > 0 && (*p == ' '))
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strlen(known[i]->name) == len && strncmp(known[i]->name, p, len) == 0)
                break;
        }
        if (i == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errlen, "mode '%.*s' is not one of api, webhook, feed", (int)len, p);
            return -1;
        }
        for (size_t j = 0; j < *count; j++) {
            if (modes[j] == known[i]) {
                snprintf(err, errlen, "mode '%s' is listed twice", known[i]->name);
                return -1;
            }
        }
        modes[(*count)++] = known[i];
        p = end ? end + 1 : NULL;
    }
    if (*count == 0) {
        snprintf(err, errlen, "mode is empty: use api, webhook and/or feed");
        return -1;
    }
    return 0;
}

/* 1 if the string option `name` of `config` is set and not empty. */
static int option_set(const json_t *config, const char *name)
{
    const char *value = json_string_value(json_object_get(config, name));

    return value && *value;
}

/* check(): what each mode needs of the other options, and api mode's
 * since a time, beyond what the option table checks (types, ranges,
 * kinds). */
static void ac_check(sluice_check *check, const json_t *config)
{
    const ac_mode_ops *modes[AC_MAX_MODES];
    size_t count = 0;
    char err[256];
    int api = 0, webhook = 0, feed = 0;

    if (parse_modes(json_string_value(json_object_get(config, "mode")), modes, &count, err,
                    sizeof(err)) != 0) {
        sluice_check_error(check, "mode", "%s", err);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        api |= modes[i] == &ac_mode_api;
        webhook |= modes[i] == &ac_mode_webhook;
        feed |= modes[i] == &ac_mode_feed;
    }
    if (api) {
        static const char *const needed[] = {"base_url", "site_id", "secret"};
        const char *since = json_string_value(json_object_get(config, "since"));
        int64_t since_epoch;
        for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
            if (!option_set(config, needed[i]))
                sluice_check_error(check, NULL, "api mode needs %s", needed[i]);
        }
        if (since && ac_time_epoch(since, &since_epoch) != 0)
            sluice_check_error(check, "since", "'%s' is not a time like 2020-01-01T00:00:00Z "
                               "(a zone is required)", since);
    }
    if (webhook) {
        const char *basic = json_string_value(json_object_get(config, "basic_auth"));
        if (!option_set(config, "webhook_secret") && !option_set(config, "basic_auth"))
            sluice_check_error(check, NULL, "webhook mode needs webhook_secret and/or "
                               "basic_auth: an open endpoint would accept anyone's data");
        if (basic && *basic && !strchr(basic, ':'))
            sluice_check_error(check, "basic_auth", "basic_auth must be user:password");
        if (json_integer_value(json_object_get(config, "body_budget")) <
            json_integer_value(json_object_get(config, "max_body")))
            sluice_check_error(check, "body_budget", "body_budget must be at least max_body");
        if (option_set(config, "tls_cert") != option_set(config, "tls_key"))
            sluice_check_error(check, option_set(config, "tls_cert") ? "tls_cert" : "tls_key",
                               "HTTPS needs both tls_cert and tls_key");
    }
    if (feed) {
        ac_text_decoder *decoder;
        if (option_set(config, "feed_dir") == option_set(config, "feed_location"))
            sluice_check_error(check, NULL, "feed mode needs feed_dir or feed_location "
                               "(one of them, not both)");
        decoder = ac_text_decoder_new(json_string_value(json_object_get(config, "encoding")),
                                      err, sizeof(err));
        if (!decoder)
            sluice_check_error(check, "encoding", "%s", err);
        ac_text_decoder_free(&decoder);
    }
}

/* Start every mode from its part of `checkpoint` (borrowed, may be NULL). */
static sluice_status start_modes(ac_source *src, const json_t *checkpoint)
{
    json_decref(src->positions);
    src->positions = checkpoint ? json_deep_copy(checkpoint) : json_object();
    if (!src->positions)
        return SLUICE_FATAL;
    for (size_t i = 0; i < src->mode_count; i++) {
        const json_t *part = json_object_get(checkpoint, src->modes[i]->name);
        sluice_status status = src->modes[i]->start(src, part, &src->mode_state[i]);
        src->mode_done[i] = 0;
        if (status != SLUICE_OK)
            return status;
    }
    return SLUICE_OK;
}

static void stop_modes(ac_source *src)
{
    for (size_t i = 0; i < src->mode_count; i++) {
        if (src->mode_state[i])
            src->modes[i]->stop(src, src->mode_state[i]);
        src->mode_state[i] = NULL;
    }
}

static void ac_fini(sluice_ctx *ctx, void *state)
{
    ac_source *src = state;

    (void)ctx;
    if (!src)
        return;
    stop_modes(src);
    json_decref(src->positions);
    pthread_mutex_destroy(&src->state_lock);
    free(src->client.base_url);
    free(src->client.site_id);
    free(src->client.secret);
    free(src->client.sub);
    free(src);
}

static sluice_status ac_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    ac_source *src = calloc(1, sizeof(*src));
    const char *base, *site, *secret;
    json_t *checkpoint = NULL;
    sluice_status status;
    int needs_api = 0;

    if (!src)
        return SLUICE_FATAL;
    *state = src;
    src->ctx = ctx;
    src->config = config;
    pthread_mutex_init(&src->state_lock, NULL);
    src->emit_unchanged = ac_opt_bool(src, "emit_unchanged");
    {
        char err[256];
        if (parse_modes(ac_opt_string(src, "mode"), src->modes, &src->mode_count, err,
                        sizeof(err)) != 0) {
            sluice_fail(ctx, "%s", err);
            return SLUICE_FATAL;
        }
    }
    for (size_t i = 0; i < src->mode_count; i++)
        needs_api |= src->modes[i] == &ac_mode_api;
    base = ac_opt_string(src, "base_url");
    site = ac_opt_string(src, "site_id");
    secret = ac_opt_string(src, "secret");
    if (needs_api && (!base || !site || !secret || !*base || !*site || !*secret)) {
        sluice_fail(ctx, "api mode needs base_url, site_id and secret");
        return SLUICE_FATAL;
    }
    if (base) {
        size_t len = strlen(base);
        while (len > 0 && base[len - 1] == '/')
            len--;
        src->client.base_url = strndup(base, len);
    }
    src->client.ctx = ctx;
    src->client.site_id = site ? strdup(site) : NULL;
    src->client.secret = secret ? strdup(secret) : NULL;
    src->client.sub = strdup(ac_opt_string(src, "jwt_sub") ? ac_opt_string(src, "jwt_sub") : "sluice");
    src->client.jwt_ttl_s = (long)ac_opt_int(src, "jwt_ttl_s");
    src->client.fetch_activity =
        ac_opt_bool(src, "fetch_activity") && ac_opt_listed(src, "resources", "activity");
    src->client.read_points = ac_opt_listed(src, "resources", "points");
    src->client.read_tiers = ac_opt_listed(src, "resources", "tiers");
    src->client.read_reward = ac_opt_listed(src, "resources", "reward");
    /* activity_pages is "ends" or "all": the option table's choices */
    src->client.activity_all = strcmp(ac_opt_string(src, "activity_pages"), "all") == 0;
    /* as_of is "server" or "local": the option table's choices */
    src->client.server_time = strcmp(ac_opt_string(src, "as_of"), "server") == 0;
    if (src->client.jwt_ttl_s <= 0)
        src->client.jwt_ttl_s = 300;

    checkpoint = sluice_checkpoint_get(ctx);
    status = start_modes(src, checkpoint);
    json_decref(checkpoint);
    return status;
}

static sluice_status ac_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    ac_source *src = state;
    int all_done = 1, progressed = 0;

    (void)ctx;
    src->poll_start = sluice_batch_count(out);
    /* One mode per call, in turn, so a busy webhook does not starve a sync. */
    for (size_t tried = 0; tried < src->mode_count; tried++) {
        size_t i = src->next_mode;
        json_t *position = NULL;
        sluice_status status;

        src->next_mode = (src->next_mode + 1) % src->mode_count;
        if (src->mode_done[i] && sluice_run_once(src->ctx))
            continue;
        status = src->modes[i]->poll(src, src->mode_state[i], out, &position);
        if (position) {
            json_object_set_new(src->positions, src->modes[i]->name, position);
            progressed = 1;
        }
        if (status == SLUICE_FATAL || status == SLUICE_RETRY)
            return status;
        if (status == SLUICE_EOF)
            src->mode_done[i] = 1;
        else
            all_done = 0;
        if (status == SLUICE_OK && (sluice_batch_count(out) > 0 || progressed))
            break;
    }
    if (progressed)
        sluice_batch_set_checkpoint(out, json_deep_copy(src->positions));
    /* OK only for what this call added: the runner calls poll() again at
     * once after OK, so OK for the records of earlier calls kept it
     * polling (the spool, the API) for the whole batch_linger_ms */
    if (sluice_batch_count(out) > src->poll_start || progressed)
        return SLUICE_OK;
    for (size_t i = 0; i < src->mode_count; i++)
        all_done &= src->mode_done[i];
    return all_done ? SLUICE_EOF : SLUICE_AGAIN;
}

/* Rewind every mode to its part of `checkpoint`: a mode that can rewind
 * in place does (webhook: only the spool read position moves, the listener
 * keeps its connections); the others are stopped and started again. */
static sluice_status ac_rewind(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    ac_source *src = state;

    (void)ctx;
    json_decref(src->positions);
    src->positions = checkpoint ? json_deep_copy(checkpoint) : json_object();
    if (!src->positions)
        return SLUICE_FATAL;
    for (size_t i = 0; i < src->mode_count; i++) {
        const json_t *part = json_object_get(checkpoint, src->modes[i]->name);
        sluice_status status;

        src->mode_done[i] = 0;
        if (src->modes[i]->rewind && src->mode_state[i]) {
            status = src->modes[i]->rewind(src, src->mode_state[i], part);
        } else {
            if (src->mode_state[i])
                src->modes[i]->stop(src, src->mode_state[i]);
            src->mode_state[i] = NULL;
            status = src->modes[i]->start(src, part, &src->mode_state[i]);
        }
        if (status != SLUICE_OK)
            return status;
    }
    return SLUICE_OK;
}

static void ac_committed(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    ac_source *src = state;

    (void)ctx;
    for (size_t i = 0; i < src->mode_count; i++) {
        const json_t *part = json_object_get(checkpoint, src->modes[i]->name);
        if (part && src->modes[i]->committed)
            src->modes[i]->committed(src, src->mode_state[i], part);
    }
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "annexcloud-source",
    .role = SLUICE_ROLE_SOURCE,
    .version = PACKAGE_VERSION,
    .description = "loyalty members and events from Annex Cloud (API sync, webhooks, Data Feed files)",
    .options = ac_options,
    .init = ac_init,
    .fini = ac_fini,
    .poll = ac_poll,
    .rewind = ac_rewind,
    .committed = ac_committed,
    .check = ac_check,
};
