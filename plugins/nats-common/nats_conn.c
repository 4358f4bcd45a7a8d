/* nats_conn.c: connecting to NATS for nats-sink and nats-source (see
 * nats_conn.h): servers, credentials, TLS, reconnects, the stream check. */
#include <stdlib.h>
#include <string.h>
#include <sluice/plugin.h>

#include "nats_conn.h"

/* Most servers a stage may list. */
#define NATS_CONN_MAX_SERVERS 32

/* A string option's value, NULL when unset or empty. Borrowed. */
static const char *option_text(const json_t *config, const char *name)
{
    const char *value = json_string_value(json_object_get(config, name));
    return value && *value ? value : NULL;
}

/* Fill `opts` from the stage's options. Returns SLUICE_OK or SLUICE_FATAL
 * after sluice_fail(). */
static sluice_status apply_options(sluice_ctx *ctx, const json_t *config, natsOptions *opts)
{
    const char *servers[NATS_CONN_MAX_SERVERS];
    const json_t *list = json_object_get(config, "servers");
    const char *creds = option_text(config, "credentials_file");
    const char *nkey = option_text(config, "nkey");
    const char *seed = option_text(config, "nkey_seed_file");
    const char *token = option_text(config, "token");
    const char *ca_file = option_text(config, "tls_ca_file");
    size_t count = json_array_size(list);
    natsStatus s;

    if (count == 0 || count > NATS_CONN_MAX_SERVERS) {
        sluice_fail(ctx, "option 'servers': give 1 to %d NATS server URLs, got %zu",
                    NATS_CONN_MAX_SERVERS, count);
        return SLUICE_FATAL;
    }
    for (size_t i = 0; i < count; i++) {
        servers[i] = json_string_value(json_array_get(list, i));
        if (!servers[i] || !*servers[i]) {
            sluice_fail(ctx, "option 'servers': entry %zu is not a URL string", i + 1);
            return SLUICE_FATAL;
        }
    }
    if ((nkey != NULL) != (seed != NULL)) {
        sluice_fail(ctx, "options 'nkey' and 'nkey_seed_file' go together: give both or neither");
        return SLUICE_FATAL;
    }
    if (creds && nkey) {
        sluice_fail(ctx, "options 'credentials_file' and 'nkey' exclude each other: give one");
        return SLUICE_FATAL;
    }
    s = natsOptions_SetServers(opts, servers, (int)count);
    /* Reconnect for ever once connected: while the client is away,
     * publishes are buffered (up to the library's reconnect buffer) or
     * fail, and the sink retries them; nothing is acked meanwhile. */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 500);
    if (s == NATS_OK && creds)
        s = natsOptions_SetUserCredentialsFromFiles(opts, creds, NULL);
    if (s == NATS_OK && nkey)
        s = natsOptions_SetNKeyFromSeed(opts, nkey, seed);
    if (s == NATS_OK && token)
        s = natsOptions_SetToken(opts, token);
    if (s == NATS_OK && ca_file) {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(opts, ca_file);
    }
    if (s != NATS_OK) {
        sluice_fail(ctx, "NATS connection options refused: %s (%s)", natsStatus_GetText(s),
                    nats_GetLastError(NULL));
        return SLUICE_FATAL;
    }
    return SLUICE_OK;
}

sluice_status nats_conn_open(sluice_ctx *ctx, const json_t *config, jsOptions *jo,
                             natsConnection **nc, jsCtx **js)
{
    sluice_status status = SLUICE_FATAL;
    natsOptions *opts = NULL;
    natsStatus s;

    *nc = NULL;
    *js = NULL;
    if (natsOptions_Create(&opts) != NATS_OK) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    if (apply_options(ctx, config, opts) != SLUICE_OK)
        goto out;
    s = natsConnection_Connect(nc, opts);
    if (s != NATS_OK) {
        sluice_fail(ctx, "cannot connect to NATS (%s): %s", json_string_value(json_array_get(
                    json_object_get(config, "servers"), 0)), nats_GetLastError(NULL));
        goto out;
    }
    s = natsConnection_JetStream(js, *nc, jo);
    if (s != NATS_OK) {
        sluice_fail(ctx, "cannot open a JetStream context: %s", natsStatus_GetText(s));
        goto out;
    }
    status = SLUICE_OK;
out:
    if (status != SLUICE_OK) {
        nats_conn_close(*nc, *js);
        *nc = NULL;
        *js = NULL;
    }
    natsOptions_Destroy(opts);
    return status;
}

/* Create `name` with the subjects the config lists, else default_subject.
 * Returns SLUICE_OK or SLUICE_FATAL after sluice_fail(). */
static sluice_status create_stream(sluice_ctx *ctx, jsCtx *js, const char *name,
                                   const json_t *config, const char *default_subject)
{
    const json_t *list = json_object_get(config, "stream_subjects");
    const char *subjects[NATS_CONN_MAX_SERVERS];
    size_t count = json_array_size(list);
    jsStreamConfig cfg;
    jsStreamInfo *info = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    if (count > NATS_CONN_MAX_SERVERS) {
        sluice_fail(ctx, "option 'stream_subjects': at most %d subjects", NATS_CONN_MAX_SERVERS);
        return SLUICE_FATAL;
    }
    for (size_t i = 0; i < count; i++)
        if (!(subjects[i] = json_string_value(json_array_get(list, i)))) {
            sluice_fail(ctx, "option 'stream_subjects': entry %zu is not a string", i + 1);
            return SLUICE_FATAL;
        }
    if (count == 0 && default_subject) {
        subjects[0] = default_subject;
        count = 1;
    }
    if (count == 0) {
        sluice_fail(ctx, "stream %s does not exist and create_stream needs 'stream_subjects'",
                    name);
        return SLUICE_FATAL;
    }
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = (int)count;
    cfg.Storage = js_FileStorage;
    s = js_AddStream(&info, js, &cfg, NULL, &jerr);
    jsStreamInfo_Destroy(info);
    if (s != NATS_OK) {
        sluice_fail(ctx, "cannot create stream %s: %s (JetStream error %d)", name,
                    nats_GetLastError(NULL), (int)jerr);
        return SLUICE_FATAL;
    }
    sluice_log(ctx, SLUICE_LOG_INFO, "created JetStream stream %s (subject %s%s)", name,
               subjects[0], count > 1 ? ", ..." : "");
    return SLUICE_OK;
}

sluice_status nats_conn_check_stream(sluice_ctx *ctx, jsCtx *js, const json_t *config,
                                     const char *default_subject)
{
    const char *name = option_text(config, "stream");
    jsStreamInfo *info = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    if (!name) {
        sluice_fail(ctx, "option 'stream' is empty: the JetStream stream's name");
        return SLUICE_FATAL;
    }
    s = js_GetStreamInfo(&info, js, name, NULL, &jerr);
    jsStreamInfo_Destroy(info);
    if (s == NATS_OK)
        return SLUICE_OK;
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        if (json_is_true(json_object_get(config, "create_stream")))
            return create_stream(ctx, js, name, config, default_subject);
        sluice_fail(ctx, "JetStream stream %s does not exist: create it (nats stream add %s) "
                    "or set create_stream = true", name, name);
        return SLUICE_FATAL;
    }
    sluice_fail(ctx, "cannot look up JetStream stream %s: %s (JetStream error %d; is "
                "JetStream enabled on the server?)", name, nats_GetLastError(NULL), (int)jerr);
    return SLUICE_FATAL;
}

void nats_conn_check_options(sluice_check *check, const json_t *config)
{
    const json_t *list = json_object_get(config, "servers");
    size_t count = json_array_size(list);
    int has_nkey = option_text(config, "nkey") != NULL;
    int has_seed = option_text(config, "nkey_seed_file") != NULL;

    if (count == 0 || count > NATS_CONN_MAX_SERVERS)
        sluice_check_error(check, "servers", "give 1 to %d NATS server URLs, got %zu",
                           NATS_CONN_MAX_SERVERS, count);
    for (size_t i = 0; i < count && i < NATS_CONN_MAX_SERVERS; i++) {
        const char *url = json_string_value(json_array_get(list, i));
        if (!url || !*url)
            sluice_check_error(check, "servers", "entry %zu is not a URL string", i + 1);
    }
    if (has_nkey != has_seed)
        sluice_check_error(check, has_nkey ? "nkey" : "nkey_seed_file",
                           "'nkey' and 'nkey_seed_file' go together: give both or neither");
    if (has_nkey && option_text(config, "credentials_file"))
        sluice_check_error(check, "credentials_file",
                           "'credentials_file' and 'nkey' exclude each other: give one");
}

void nats_conn_close(natsConnection *nc, jsCtx *js)
{
    jsCtx_Destroy(js);
    if (nc) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}
