/* test_link.c: trust on stage links, over real ZeroMQ sockets and a real
 * SQLite store: the ZAP handler's decisions and its CURVE servers
 * (stranger refused, the upstream's key admitted), the epoch rule (a
 * forged far-ahead epoch, an epoch the source never allocated),
 * max_frame_bytes (an oversized frame costs only its connection), key
 * files and the check of a pipeline's tcp links. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <zmq.h>

#include "sluice/plugin.h"
#include "batch.h"
#include "curve.h"
#include "pipeline.h"
#include "runner.h"
#include "stage.h"
#include "store.h"
#include "support/unit_support.h"
#include "zap.h"

/* ------------------------------------------------------------------ */
/* A sink that notes the "n" of every record it gets.                  */
/* ------------------------------------------------------------------ */

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static long seen[64];
static size_t seen_count;

static sluice_status note_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    (void)ctx;
    (void)state;
    for (size_t i = 0; i < sluice_batch_count(batch); i++) {
        json_t *rec = sluice_batch_get(batch, i);
        pthread_mutex_lock(&seen_lock);
        if (rec && seen_count < sizeof(seen) / sizeof(seen[0]))
            seen[seen_count++] = (long)json_integer_value(json_object_get(rec, "n"));
        pthread_mutex_unlock(&seen_lock);
        sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
    }
    return SLUICE_OK;
}

static sluice_status idle_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    (void)ctx;
    (void)state;
    (void)out;
    return SLUICE_EOF;
}

static const sluice_option no_options[] = {SLUICE_OPTION_END};
static const sluice_plugin idle_source = {
    SLUICE_PLUGIN_HEADER, .name = "test-idle", .role = SLUICE_ROLE_SOURCE, .version = "1",
    .description = "never runs here", .options = no_options, .poll = idle_poll,
};
static const sluice_plugin note_sink = {
    SLUICE_PLUGIN_HEADER, .name = "test-note", .role = SLUICE_ROLE_SINK, .version = "1",
    .description = "notes n", .options = no_options, .write = note_write,
};

/* ------------------------------------------------------------------ */
/* Fixture: a two-stage pipeline whose sink runs in a thread.          */
/* ------------------------------------------------------------------ */

static char tmpdir[256], state_dir[300], runtime_dir[320];
static sluice_stage_def stage_defs[2];
static sluice_pipeline_def pipe_def;
static volatile sig_atomic_t flag_term, flag_rewind, flag_hard;
static sluice_unit_signals signals = {&flag_term, &flag_rewind, &flag_hard};
static void *zctx, *push, *pull;
static pthread_t sink_thread;
static int sink_flags, sink_result;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-link-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
    snprintf(runtime_dir, sizeof(runtime_dir), "%s/state/run", tmpdir);
    mkdir(state_dir, 0700);
    mkdir(runtime_dir, 0700);
    seen_count = 0;
    flag_term = flag_rewind = flag_hard = 0;
    memset(stage_defs, 0, sizeof(stage_defs));
    stage_defs[0].name = (char *)"src";
    stage_defs[0].plugin = &idle_source;
    stage_defs[1].name = (char *)"out";
    stage_defs[1].plugin = &note_sink;
    for (int i = 0; i < 2; i++) {
        stage_defs[i].plugin_name = (char *)stage_defs[i].plugin->name;
        stage_defs[i].config = json_object();
        stage_defs[i].common.hwm = 4;
        stage_defs[i].common.retry_max_backoff_ms = 1000;
        stage_defs[i].file = (char *)"test.cfg";
        stage_defs[i].line = i + 1;
    }
    memset(&pipe_def, 0, sizeof(pipe_def));
    pipe_def.name = (char *)"link";
    pipe_def.file = (char *)"test.cfg";
    pipe_def.state_dir = state_dir;
    pipe_def.runtime_dir = runtime_dir;
    pipe_def.batch_size = 10;
    pipe_def.window = 4;
    pipe_def.ack_timeout_ms = 10000;
    pipe_def.stages = stage_defs;
    pipe_def.stage_count = 2;
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        json_decref(stage_defs[i].config);
    unit_remove_tree(tmpdir);
}

static void *sink_main(void *arg)
{
    size_t index = 1;

    (void)arg;
    sink_result = sluice_unit_run(&pipe_def, &index, 1, 0, sink_flags, &signals);
    return NULL;
}

/* Start the sink (unit flags `flags`) and connect a PUSH to its input and
 * a PULL to its acks, as its upstream would. */
static void start_sink(int flags)
{
    sink_flags = flags;
    zctx = zmq_ctx_new();
    unit_feed_connect(&pipe_def, 1, zctx, &push, &pull);
    ck_assert_int_eq(pthread_create(&sink_thread, NULL, sink_main, NULL), 0);
}

static void stop_sink(void)
{
    int linger = 0;

    flag_term = 1;
    sluice_unit_wake(); /* runners wait without a timeout */
    pthread_join(sink_thread, NULL);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(zctx);
    ck_assert_int_eq(sink_result, SLUICE_STAGE_EXIT_OK);
}

/* Wait (about 3 s at most) for the ack of (epoch, id). Returns 1 if it
 * came; acks of other batches in between are skipped. */
static int got_ack(uint64_t epoch, uint64_t id)
{
    for (int waited = 0; waited < 10; waited++) {
        char buf[128];
        uint64_t e = 0, i = 0;
        int len = zmq_recv(pull, buf, sizeof(buf), 0);
        if (len > 0 && len < (int)sizeof(buf) &&
            sluice_wire_decode_ack(buf, (size_t)len, &e, &i) == 0 && e == epoch && i == id)
            return 1;
    }
    return 0;
}

/* 1 if no ack at all comes within about 1 s. */
static int no_ack(void)
{
    char buf[128];
    int quiet = 1;

    for (int waited = 0; waited < 3; waited++)
        quiet &= zmq_recv(pull, buf, sizeof(buf), 0) < 0;
    return quiet;
}

/* ------------------------------------------------------------------ */
/* The epoch rule.                                                     */
/* ------------------------------------------------------------------ */

START_TEST(epoch_rule_refuses_the_absurd_and_the_unallocated)
{
    /* a stage that shares no store with its source: only far ahead is absurd */
    ck_assert_int_eq(runner_epoch_check(0, 1, 0, 0), RUNNER_EPOCH_OK);
    ck_assert_int_eq(runner_epoch_check(0, SLUICE_EPOCH_AHEAD_MAX, 0, 0), RUNNER_EPOCH_OK);
    ck_assert_int_eq(runner_epoch_check(0, SLUICE_EPOCH_AHEAD_MAX + 1, 0, 0),
                     RUNNER_EPOCH_ABSURD);
    ck_assert_int_eq(runner_epoch_check(7, 9000000000000000000ULL, 0, 0),
                     RUNNER_EPOCH_ABSURD);
    ck_assert_int_eq(runner_epoch_check(1ULL << 40, (1ULL << 40) + 5000, 0, 0),
                     RUNNER_EPOCH_OK);
    /* sharing the store: nothing newer than the source allocated */
    ck_assert_int_eq(runner_epoch_check(2, 3, 1, 3), RUNNER_EPOCH_OK);
    ck_assert_int_eq(runner_epoch_check(2, 4, 1, 3), RUNNER_EPOCH_UNALLOCATED);
    ck_assert_int_eq(runner_epoch_check(0, 1, 1, 0), RUNNER_EPOCH_UNALLOCATED);
    ck_assert_int_eq(runner_epoch_check(0, 9000000000000000000ULL, 1, 5), RUNNER_EPOCH_ABSURD);
}
END_TEST

/* Review 1b: one forged frame (9e18, 1) made every stage drop every real
 * batch as "older" until the whole pipeline restarted. Now it is refused
 * and the source's real epoch keeps flowing (a stage on another host,
 * with no store shared with its source). */
START_TEST(a_forged_far_ahead_epoch_does_not_wedge_a_remote_stage)
{
    start_sink(0);
    unit_feed_send(push, 9000000000000000000ULL, 1, 666);
    ck_assert(no_ack());
    unit_feed_send(push, 1, 1, 1);
    ck_assert(got_ack(1, 1));
    unit_feed_send(push, 1, 2, 2);
    ck_assert(got_ack(1, 2));
    /* nor can a forged batch in mid-epoch move the stage there */
    unit_feed_send(push, 9000000000000000000ULL, 7, 667);
    unit_feed_send(push, 1, 3, 3);
    ck_assert(got_ack(1, 3));
    stop_sink();
    ck_assert_uint_eq(seen_count, 3);
    ck_assert_int_eq(seen[0], 1);
    ck_assert_int_eq(seen[1], 2);
    ck_assert_int_eq(seen[2], 3);
}
END_TEST

/* A stage whose source runs under the same supervisor reads the source's
 * newest epoch from their store: an epoch it never allocated is refused,
 * however close; once the source allocates it (a rewind), it is taken. */
START_TEST(a_stage_sharing_the_store_takes_only_epochs_the_source_allocated)
{
    char err[256];
    sluice_store *store = sluice_store_open(state_dir, err, sizeof(err));
    uint64_t epoch = 0;

    ck_assert_msg(store != NULL, "%s", err);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0);
    ck_assert_uint_eq(epoch, 3);
    start_sink(SLUICE_UNIT_SOURCE_STORE);
    unit_feed_send(push, 4, 1, 400);
    ck_assert(no_ack());
    unit_feed_send(push, 3, 1, 300);
    ck_assert(got_ack(3, 1));
    ck_assert_int_eq(sluice_store_next_epoch(store, "src", &epoch), 0); /* a rewind: 4 */
    unit_feed_send(push, 4, 1, 401);
    ck_assert(got_ack(4, 1));
    stop_sink();
    sluice_store_close(&store);
    ck_assert_uint_eq(seen_count, 2);
    ck_assert_int_eq(seen[0], 300);
    ck_assert_int_eq(seen[1], 401);
}
END_TEST

/* ------------------------------------------------------------------ */
/* max_frame_bytes.                                                    */
/* ------------------------------------------------------------------ */

/* Review 1d: one 1.5 GB frame was buffered whole. A frame over the
 * input's max_frame_bytes now drops only the connection it came on, before
 * it is buffered; the stage goes on taking frames from its upstream. */
START_TEST(an_oversized_frame_costs_only_its_connection)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
    size_t big = 1024 * 1024;
    char *frame = malloc(big);
    void *stranger;

    stage_defs[1].common.max_frame_bytes = SLUICE_FRAME_MIN_BYTES;
    ck_assert_int_eq(sluice_link_frame_max(&pipe_def, 1), SLUICE_FRAME_MIN_BYTES);
    start_sink(0);
    ck_assert_int_eq(sluice_stage_endpoints(&pipe_def, 1, 0, 0, data, sizeof(data), ack,
                                            sizeof(ack), err, sizeof(err)), 0);
    stranger = zmq_socket(zctx, ZMQ_PUSH);
    ck_assert_int_eq(zmq_connect(stranger, data), 0);
    ck_assert_ptr_nonnull(frame);
    memset(frame, ' ', big);
    memcpy(frame, "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1}\n{", 33);
    frame[big - 1] = '}';
    ck_assert_int_eq(zmq_send(stranger, frame, big, 0), (int)big);
    free(frame);
    ck_assert(no_ack());
    unit_feed_send(push, 1, 1, 1);
    ck_assert(got_ack(1, 1));
    zmq_close(stranger);
    stop_sink();
    ck_assert_uint_eq(seen_count, 1);
    ck_assert_int_eq(seen[0], 1);
}
END_TEST

START_TEST(frame_limit_defaults_to_the_batch_size)
{
    pipe_def.batch_size = 500;
    ck_assert_int_eq(sluice_link_frame_max(&pipe_def, 1),
                     SLUICE_FRAME_BASE_BYTES + 500 * SLUICE_FRAME_RECORD_BYTES);
    stage_defs[1].common.max_frame_bytes = 1 << 20;
    ck_assert_int_eq(sluice_link_frame_max(&pipe_def, 1), 1 << 20);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The ZAP handler.                                                    */
/* ------------------------------------------------------------------ */

static char allowed_public[41];

/* Fill allowed_public with a fresh public key. Returns 0, or -1 when this
 * libzmq has no CURVE (the test then has nothing to check). */
static int fresh_key(void)
{
    char secret[41];

    return sluice_curve_available() && zmq_curve_keypair(allowed_public, secret) == 0 ? 0 : -1;
}

START_TEST(zap_admits_only_allowed_curve_keys_on_governed_domains)
{
    sluice_zap *zap = sluice_zap_new("p");
    uint8_t key[32], other[32];
    char reason[256] = "";

    ck_assert_ptr_nonnull(zap);
    if (fresh_key() != 0) {
        sluice_zap_destroy(&zap);
        return;
    }
    ck_assert_int_eq(sluice_zap_allow(zap, "remote", allowed_public), 0);
    ck_assert_int_ne(sluice_zap_allow(zap, "remote", "not a key"), 0);
    ck_assert_ptr_nonnull(zmq_z85_decode(key, allowed_public));
    memcpy(other, key, sizeof(other));
    other[31] ^= 1;
    ck_assert_int_eq(sluice_zap_decide(zap, "remote", "CURVE", key, 32, reason,
                                       sizeof(reason)), SLUICE_ZAP_ALLOW);
    ck_assert_int_eq(sluice_zap_decide(zap, "remote", "CURVE", other, 32, reason,
                                       sizeof(reason)), SLUICE_ZAP_DENY);
    ck_assert_msg(strstr(reason, "is not allowed"), "%s", reason);
    /* the allowed key, but for another stage's input */
    ck_assert_int_eq(sluice_zap_decide(zap, "out", "CURVE", key, 32, reason, sizeof(reason)),
                     SLUICE_ZAP_DENY);
    ck_assert_int_eq(sluice_zap_decide(zap, "remote", "CURVE", key, 31, reason,
                                       sizeof(reason)), SLUICE_ZAP_DENY);
    ck_assert_int_eq(sluice_zap_decide(zap, "remote", "NULL", NULL, 0, reason,
                                       sizeof(reason)), SLUICE_ZAP_DENY);
    ck_assert_int_eq(sluice_zap_decide(zap, "remote", "PLAIN", key, 32, reason,
                                       sizeof(reason)), SLUICE_ZAP_DENY);
    /* a plain link the handler does not govern keeps working */
    ck_assert_int_eq(sluice_zap_decide(zap, "", "NULL", NULL, 0, reason, sizeof(reason)),
                     SLUICE_ZAP_ALLOW);
    sluice_zap_destroy(&zap);
    ck_assert_ptr_null(zap);
}
END_TEST

/* Receive one frame on `sock` within about 1 s. Returns its length or -1. */
static int recv_within(void *sock, char *buf, size_t len)
{
    int timeout = 1000;

    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    return zmq_recv(sock, buf, len, 0);
}

/* A CURVE client PUSH connected to `endpoint` with its own key pair. */
static void *curve_client(void *ctx, const char *endpoint, const char *server_public,
                          const char *public_key, const char *secret)
{
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 0;

    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public, 41), 0);
    ck_assert_int_eq(zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_key, 41), 0);
    ck_assert_int_eq(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, 41), 0);
    ck_assert_int_eq(zmq_connect(sock, endpoint), 0);
    return sock;
}

/* Review 1a/1c over a real tcp port: a CURVE server whose context has the
 * handler takes frames from the allowed client only; a stranger with its
 * own key pair, and a plain (NULL) peer, get nothing through. */
START_TEST(zap_guards_a_real_curve_server)
{
    void *ctx = zmq_ctx_new();
    sluice_zap *zap = sluice_zap_new("p");
    char server_pub[41], server_sec[41], client_pub[41], client_sec[41];
    char stranger_pub[41], stranger_sec[41], endpoint[128], err[256], buf[64];
    size_t endpoint_len = sizeof(endpoint);
    void *server, *client, *stranger, *plain;
    int yes = 1, linger = 0;

    if (!sluice_curve_available())
        return; /* nothing to guard */
    ck_assert_int_eq(zmq_curve_keypair(server_pub, server_sec), 0);
    ck_assert_int_eq(zmq_curve_keypair(client_pub, client_sec), 0);
    ck_assert_int_eq(zmq_curve_keypair(stranger_pub, stranger_sec), 0);
    ck_assert_int_eq(sluice_zap_allow(zap, "remote", client_pub), 0);
    ck_assert_msg(sluice_zap_start(zap, ctx, err, sizeof(err)) == 0, "%s", err);

    server = zmq_socket(ctx, ZMQ_PULL);
    zmq_setsockopt(server, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, "remote", 6), 0);
    ck_assert_int_eq(zmq_setsockopt(server, ZMQ_CURVE_SERVER, &yes, sizeof(yes)), 0);
    ck_assert_int_eq(zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, server_sec, 41), 0);
    ck_assert_int_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len), 0);

    stranger = curve_client(ctx, endpoint, server_pub, stranger_pub, stranger_sec);
    plain = zmq_socket(ctx, ZMQ_PUSH);
    zmq_setsockopt(plain, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_connect(plain, endpoint), 0);
    zmq_send(stranger, "forged", 6, ZMQ_DONTWAIT);
    zmq_send(plain, "forged", 6, ZMQ_DONTWAIT);
    ck_assert_int_lt(recv_within(server, buf, sizeof(buf)), 0);
    ck_assert_uint_ge(sluice_zap_refusals(zap), 1);

    client = curve_client(ctx, endpoint, server_pub, client_pub, client_sec);
    ck_assert_int_eq(zmq_send(client, "real", 4, 0), 4);
    ck_assert_int_eq(recv_within(server, buf, sizeof(buf)), 4);
    ck_assert(memcmp(buf, "real", 4) == 0);
    ck_assert_int_lt(recv_within(server, buf, sizeof(buf)), 0); /* still nothing forged */

    zmq_close(client);
    zmq_close(stranger);
    zmq_close(plain);
    zmq_close(server);
    sluice_zap_destroy(&zap);
    zmq_ctx_term(ctx);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keys and the check of a pipeline's links.                           */
/* ------------------------------------------------------------------ */

START_TEST(keygen_writes_a_private_secret_and_its_public_half)
{
    char prefix[320], path[340], public_key[41], secret[41], derived[41], err[512];
    struct stat st;
    FILE *f;

    if (!sluice_curve_available())
        return;
    snprintf(prefix, sizeof(prefix), "%s/stage", tmpdir);
    ck_assert_msg(sluice_curve_keygen(prefix, 0, public_key, err, sizeof(err)) == 0, "%s", err);
    ck_assert(sluice_curve_key_valid(public_key));
    ck_assert_ptr_null(strchr(public_key, '$'));
    snprintf(path, sizeof(path), "%s.key", prefix);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_msg(sluice_curve_read_secret(path, secret, derived, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_str_eq(derived, public_key);
    /* never over an existing key without --force */
    ck_assert_int_ne(sluice_curve_keygen(prefix, 0, public_key, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "already exists"), "%s", err);
    /* a secret key others can read is refused */
    chmod(path, 0640);
    ck_assert_int_eq(sluice_curve_read_secret(path, secret, derived, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "chmod 600"), "%s", err);
    snprintf(path, sizeof(path), "%s/garbage.key", tmpdir);
    f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    chmod(path, 0600);
    ck_assert_int_eq(sluice_curve_read_secret(path, secret, derived, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/absent.key", tmpdir);
    ck_assert_int_eq(sluice_curve_read_secret(path, secret, derived, err, sizeof(err)),
                     SLUICE_CURVE_NO_FILE);
}
END_TEST

START_TEST(keys_and_loopback_hosts_are_recognised)
{
    char bad[41];

    ck_assert(!sluice_curve_key_valid("short"));
    if (fresh_key() == 0) {
        ck_assert(sluice_curve_key_valid(allowed_public));
        memcpy(bad, allowed_public, sizeof(bad));
        bad[39] = '"'; /* not Z85 */
        ck_assert(!sluice_curve_key_valid(bad));
        memcpy(bad, "#####", 5); /* 85^5 - 1 does not fit 32 bits */
        ck_assert(!sluice_curve_key_valid(bad));
    }
    ck_assert(sluice_endpoint_is_loopback("tcp://127.0.0.1:5555"));
    ck_assert(sluice_endpoint_is_loopback("tcp://127.0.0.2:5555"));
    ck_assert(sluice_endpoint_is_loopback("tcp://localhost:5555"));
    ck_assert(sluice_endpoint_is_loopback("tcp://[::1]:5555"));
    ck_assert(!sluice_endpoint_is_loopback("tcp://10.0.0.7:5555"));
    ck_assert(!sluice_endpoint_is_loopback("tcp://*:5555"));
    ck_assert(!sluice_endpoint_is_loopback("tcp://0.0.0.0:5555"));
    ck_assert(!sluice_endpoint_is_loopback("tcp://127.0.0.1.example.com:5555"));
    ck_assert(!sluice_endpoint_is_loopback("ipc:///tmp/x"));
}
END_TEST

/* The link check on a 2-stage pipeline; returns the key it blames or "". */
static const char *blamed_key(char *why, size_t len)
{
    size_t stage = 99;
    const char *key = NULL;

    if (sluice_pipeline_check_links(&pipe_def, &stage, &key, why, len) == 0)
        return "";
    ck_assert_uint_eq(stage, 1);
    return key;
}

START_TEST(a_tcp_link_off_loopback_needs_keys_on_both_ends)
{
    char why[768];
    sluice_stage_common *src = &stage_defs[0].common, *out = &stage_defs[1].common;

    out->endpoint = (char *)"tcp://127.0.0.1:5555";
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "");
    ck_assert_int_eq(sluice_link_kind_of(&pipe_def, 1), SLUICE_LINK_LOOPBACK);
    out->endpoint = (char *)"tcp://10.0.0.7:5555";
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "endpoint");
    ck_assert_msg(strstr(why, "insecure_tcp"), "%s", why);
    out->insecure_tcp = 1;
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "");
    ck_assert_int_eq(sluice_link_kind_of(&pipe_def, 1), SLUICE_LINK_INSECURE);
    if (fresh_key() != 0)
        return;
    out->curve_public_key = allowed_public;
    out->curve_secret_key_file = (char *)"/elsewhere/out.key";
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "insecure_tcp"); /* keys and insecure */
    out->insecure_tcp = 0;
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "curve_public_key"); /* src has none */
    ck_assert_msg(strstr(why, "'src'"), "%s", why);
    src->curve_public_key = allowed_public;
    src->curve_secret_key_file = (char *)"/elsewhere/src.key";
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "");
    ck_assert_int_eq(sluice_link_kind_of(&pipe_def, 1), SLUICE_LINK_CURVE);
    out->curve_secret_key_file = NULL;
    ck_assert_str_eq(blamed_key(why, sizeof(why)), "curve_public_key");
    memset(src, 0, sizeof(*src));
    memset(out, 0, sizeof(*out));
}
END_TEST

static Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *epochs = tcase_create("epochs");
    TCase *frames = tcase_create("frames");
    TCase *zap = tcase_create("zap");
    TCase *keys = tcase_create("keys");

    tcase_add_checked_fixture(epochs, setup, teardown);
    tcase_add_test(epochs, epoch_rule_refuses_the_absurd_and_the_unallocated);
    tcase_add_test(epochs, a_forged_far_ahead_epoch_does_not_wedge_a_remote_stage);
    tcase_add_test(epochs, a_stage_sharing_the_store_takes_only_epochs_the_source_allocated);
    tcase_set_timeout(epochs, 30);
    tcase_add_checked_fixture(frames, setup, teardown);
    tcase_add_test(frames, an_oversized_frame_costs_only_its_connection);
    tcase_add_test(frames, frame_limit_defaults_to_the_batch_size);
    tcase_set_timeout(frames, 30);
    tcase_add_test(zap, zap_admits_only_allowed_curve_keys_on_governed_domains);
    tcase_add_test(zap, zap_guards_a_real_curve_server);
    tcase_set_timeout(zap, 30);
    tcase_add_checked_fixture(keys, setup, teardown);
    tcase_add_test(keys, keygen_writes_a_private_secret_and_its_public_half);
    tcase_add_test(keys, keys_and_loopback_hosts_are_recognised);
    tcase_add_test(keys, a_tcp_link_off_loopback_needs_keys_on_both_ends);
    suite_add_tcase(s, epochs);
    suite_add_tcase(s, frames);
    suite_add_tcase(s, zap);
    suite_add_tcase(s, keys);
    return s;
}

int main(void)
{
    SRunner *suite_runner = srunner_create(link_suite());
    int failed;

    srunner_run_all(suite_runner, CK_NORMAL);
    failed = srunner_ntests_failed(suite_runner);
    srunner_free(suite_runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
