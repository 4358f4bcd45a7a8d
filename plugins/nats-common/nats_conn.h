/* nats_conn.h: what nats-sink and nats-source share: the connection
 * options (servers, credentials, TLS), connecting with reconnects, and the
 * JetStream stream check. Compiled into each plugin (nothing exported). */
#ifndef SLUICE_NATS_CONN_H
#define SLUICE_NATS_CONN_H

#include <nats/nats.h>
#include <sluice/plugin.h>

/* The option table rows both plugins carry (servers, credentials_file,
 * nkey, nkey_seed_file, token, tls_ca_file, stream, create_stream), in one
 * macro so the two tables cannot drift apart. */
#define NATS_CONN_OPTIONS \
    { "servers", SLUICE_OPT_LIST, NULL, 1, 0, \
      "NATS server URLs, e.g. (\"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\")" }, \
    { "credentials_file", SLUICE_OPT_STRING, NULL, 0, 0, \
      "a .creds file (user JWT and nkey seed) to authenticate with", .kind = SLUICE_KIND_PATH }, \
    { "nkey", SLUICE_OPT_STRING, NULL, 0, 0, \
      "the user's public nkey (U...), with nkey_seed_file" }, \
    { "nkey_seed_file", SLUICE_OPT_STRING, NULL, 0, 0, \
      "file holding the user's nkey seed (SU...), with nkey", .kind = SLUICE_KIND_PATH }, \
    { "token", SLUICE_OPT_STRING, NULL, 0, 1, "authentication token" }, \
    { "tls_ca_file", SLUICE_OPT_STRING, NULL, 0, 0, \
      "PEM file of the CA that signed the servers' certificates (turns TLS on)", \
      .kind = SLUICE_KIND_PATH }, \
    { "stream", SLUICE_OPT_STRING, NULL, 1, 0, "the JetStream stream's name" }, \
    { "create_stream", SLUICE_OPT_BOOL, "false", 0, 0, \
      "create the stream (file storage, subjects stream_subjects) when it does not exist" }, \
    { "stream_subjects", SLUICE_OPT_LIST, NULL, 0, 0, \
      "subjects of a stream create_stream makes (default: the sink's subject, each {..} as *)" }

/* Connect to the servers `config` names, with its credentials and TLS
 * options; once connected the client reconnects for ever (buffering what
 * is published meanwhile). On success *nc and *js are the caller's
 * (nats_conn_close). Returns SLUICE_OK, or SLUICE_FATAL after
 * sluice_fail() naming what was wrong (a bad option, no server reachable,
 * authentication refused). `jo` (may be NULL) is passed to
 * natsConnection_JetStream. */
sluice_status nats_conn_open(sluice_ctx *ctx, const json_t *config, jsOptions *jo,
                             natsConnection **nc, jsCtx **js);

/* Make sure the stream config's "stream" names exists; with create_stream
 * true, create it (file storage, one replica, the subjects
 * stream_subjects lists, else `default_subject` if not NULL). Returns
 * SLUICE_OK, or SLUICE_FATAL after sluice_fail() (the stream is missing:
 * the message says how to create it). */
sluice_status nats_conn_check_stream(sluice_ctx *ctx, jsCtx *js, const json_t *config,
                                     const char *default_subject);

/* The descriptor's check() part both plugins share: report (with
 * sluice_check_error) a servers list that is empty or holds a
 * non-string, nkey without nkey_seed_file or the other way round, and
 * credentials_file with nkey. Touches no network. */
void nats_conn_check_options(sluice_check *check, const json_t *config);

/* Destroy what nats_conn_open made (NULLs are ignored). */
void nats_conn_close(natsConnection *nc, jsCtx *js);

#endif /* SLUICE_NATS_CONN_H */
