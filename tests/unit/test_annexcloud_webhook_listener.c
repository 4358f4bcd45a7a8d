/* test_annexcloud_webhook_listener.c: annexcloud-source's webhook mode
 * loaded as the real module ($SLUICE_PLUGIN_PATH) and driven through its
 * callbacks with a stage context over a real SQLite store, its listener
 * spoken to over loopback sockets: a 503 while another connection holds
 * the state database's write lock is counted in the plugin's metric
 * (sluice_plugin_webhooks_unavailable_total), and a rewind neither resets
 * a connection in the middle of its request nor loses the read position
 * it goes back to. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sqlite3.h>

#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "metrics.h"
#include "options.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"
#include "support/unit_support.h"
#include "../../plugins/annexcloud-source/ac_jwt.h"

#define SECRET "unit-secret"

static char tmp_dir[256];
static sluice_registry *registry;
static sluice_pipeline_def pipeline;
static sluice_stage_def stage;
static struct sluice_ctx ctx;
static const sluice_plugin *source;
static json_t *config;
static void *state;
static int port;

/* A loopback port nothing listens on now. */
static int free_port(void)
{
    unsigned short found;

    close(unit_loopback_socket(0, &found));
    return found;
}

/* The module's options with their defaults, then `overrides` on top. */
static json_t *webhook_config(const char *overrides_text)
{
    json_t *result = json_object(), *overrides = json_loads(overrides_text, 0, NULL);
    char err[256];

    ck_assert_ptr_nonnull(overrides);
    for (const sluice_option *opt = source->options; opt->name; opt++) {
        if (opt->default_value) {
            json_t *value = sluice_option_default_json(opt, err, sizeof(err));
            ck_assert_msg(value != NULL, "%s: %s", opt->name, err);
            json_object_set_new(result, opt->name, value);
        }
    }
    json_object_update(result, overrides);
    json_decref(overrides);
    return result;
}

static void setup(void)
{
    char err[1024] = "", overrides[512];

    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/sluice-test-webhook-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    registry = sluice_registry_new();
    ck_assert_ptr_nonnull(registry);
    source = sluice_registry_require(registry, "annexcloud-source", err, sizeof(err));
    ck_assert_msg(source != NULL, "cannot load annexcloud-source (SLUICE_PLUGIN_PATH=%s): %s",
                  getenv("SLUICE_PLUGIN_PATH"), err);
    memset(&pipeline, 0, sizeof(pipeline));
    memset(&stage, 0, sizeof(stage));
    memset(&ctx, 0, sizeof(ctx));
    pipeline.name = "unit";
    pipeline.state_dir = tmp_dir;
    stage.name = "src";
    ctx.pipeline = &pipeline;
    ctx.stage = &stage;
    ctx.store = sluice_store_open(tmp_dir, err, sizeof(err));
    ck_assert_msg(ctx.store != NULL, "%s", err);
    ctx.kv = sluice_kv_new(ctx.store, stage.name);
    ck_assert_ptr_nonnull(ctx.kv);
    port = free_port();
    snprintf(overrides, sizeof(overrides),
             "{\"mode\":\"webhook\",\"listen\":\"127.0.0.1:%d\",\"webhook_secret\":\"" SECRET "\","
             "\"enrich\":false,\"spool_wait_ms\":300}",
             port);
    config = webhook_config(overrides);
    state = NULL;
    ck_assert_int_eq(source->init(&ctx, config, &state), SLUICE_OK);
}

static void teardown(void)
{
    source->fini(&ctx, state);
    json_decref(config);
    sluice_kv_destroy(&ctx.kv);
    sluice_store_close(&ctx.store);
    sluice_registry_destroy(&registry);
    unit_remove_tree(tmp_dir);
}

/* A webhook for member `id`. Static buffer. */
static const char *body_for(const char *id)
{
    static char body[512];

    snprintf(body, sizeof(body),
             "{\"eventId\":\"%s\",\"eventType\":\"USER_UPDATE\",\"timestamp\":\"2026-01-01T00:00:05+0000\","
             "\"data\":{\"id\":\"%s\",\"points\":{\"availablePoints\":5},\"tiers\":{\"currentTier\":\"Bronze\"}}}",
             id, id);
    return body;
}

/* A connected socket to the listener (30 s receive timeout). */
static int connect_listener(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval timeout = {.tv_sec = 30};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
}

/* The signed request head for `body` into buf. */
static void request_head(const char *body, char *buf, size_t len)
{
    char hex[65];

    ac_hmac_sha256_hex(SECRET, body, strlen(body), hex);
    snprintf(buf, len,
             "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "X-AnnexCloud-Signature: sha256=%s\r\nConnection: close\r\n\r\n",
             strlen(body), hex);
}

/* The status of the answer on fd, or -1 (reset, closed, timeout). */
static int read_status(int fd)
{
    char answer[512];
    ssize_t n = recv(fd, answer, sizeof(answer) - 1, 0);
    int status = -1;

    if (n > 12) {
        answer[n] = '\0';
        if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1)
            status = -1;
    }
    return status;
}

static int post(const char *body)
{
    char head[512];
    int fd = connect_listener(), status;

    request_head(body, head, sizeof(head));
    ck_assert_int_eq(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
    ck_assert_int_eq(send(fd, body, strlen(body), 0), (ssize_t)strlen(body));
    status = read_status(fd);
    close(fd);
    return status;
}

static double metric(const char *name)
{
    char full[128];

    snprintf(full, sizeof(full), "sluice_plugin_%s_total", name);
    return sluice_metrics_get(pipeline.name, stage.name, full);
}

/* Poll until a batch with records comes (60 s at most). */
static sluice_batch *poll_records(void)
{
    for (int i = 0; i < 600; i++) {
        sluice_batch *batch = sluice_batch_new(1, (uint64_t)i + 1, 50);
        sluice_status status;

        ck_assert_ptr_nonnull(batch);
        batch->current_stage = stage.name;
        status = source->poll(&ctx, state, batch);
        if (status == SLUICE_OK && sluice_batch_count(batch) > 0)
            return batch;
        sluice_batch_destroy(&batch);
        nanosleep(&(struct timespec){0, 100000000L}, NULL); /* usleep is not in POSIX 2008 */
    }
    ck_abort_msg("no records polled within 60 s");
    return NULL;
}

static const char *loyalty_id(sluice_batch *batch, size_t i)
{
    return json_string_value(json_object_get(sluice_batch_get(batch, i), "loyalty_id"));
}

START_TEST(test_503_counted_while_the_write_lock_is_held)
{
    char path[512];
    sqlite3 *holder = NULL;
    sluice_batch *batch;

    ck_assert_int_eq(post(body_for("OK-1")), 200);
    ck_assert(metric("webhooks_accepted") == 1);
    snprintf(path, sizeof(path), "%s/state.db", tmp_dir);
    ck_assert_int_eq(sqlite3_open(path, &holder), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(post(body_for("LOCKED-1")), 503);
    ck_assert_int_eq(post(body_for("LOCKED-2")), 503);
    ck_assert_msg(metric("webhooks_unavailable") == 2, "webhooks_unavailable = %g", metric("webhooks_unavailable"));
    sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(holder);
    ck_assert_int_eq(post(body_for("OK-2")), 200);
    ck_assert(metric("webhooks_accepted") == 2);
    batch = poll_records();
    ck_assert_uint_eq(sluice_batch_count(batch), 2);
    ck_assert_str_eq(loyalty_id(batch, 0), "OK-1");
    ck_assert_str_eq(loyalty_id(batch, 1), "OK-2");
    sluice_batch_destroy(&batch);
}
END_TEST

/* The review's finding: every rewind stopped and rebound the listener. */
START_TEST(test_rewind_keeps_an_open_request_and_reads_again)
{
    const char *body = body_for("SPLIT-1");
    size_t half = strlen(body) / 2;
    char head[512];
    json_t *checkpoint;
    sluice_batch *batch;
    int fd = connect_listener();

    request_head(body, head, sizeof(head));
    ck_assert_int_eq(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
    ck_assert_int_eq(send(fd, body, half, 0), (ssize_t)half);
    /* Whether the listener has read the headers yet or the connection
     * still waits in the backlog, stopping the daemon would reset it. */
    ck_assert_int_eq(source->rewind(&ctx, state, NULL), SLUICE_OK);
    ck_assert_int_eq(send(fd, body + half, strlen(body) - half, MSG_NOSIGNAL), (ssize_t)(strlen(body) - half));
    ck_assert_int_eq(read_status(fd), 200);
    close(fd);

    batch = poll_records();
    ck_assert_str_eq(loyalty_id(batch, 0), "SPLIT-1");
    sluice_batch_destroy(&batch);
    /* Back to the beginning: the same payload comes again from the spool. */
    checkpoint = json_pack("{s:{s:i}}", "webhook", "seq", 0);
    ck_assert_int_eq(source->rewind(&ctx, state, checkpoint), SLUICE_OK);
    json_decref(checkpoint);
    batch = poll_records();
    ck_assert_str_eq(loyalty_id(batch, 0), "SPLIT-1");
    sluice_batch_destroy(&batch);
    ck_assert_int_eq(post(body_for("AFTER-REWIND")), 200);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_webhook_listener");
    TCase *tc = tcase_create("listener");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_503_counted_while_the_write_lock_is_held);
    tcase_add_test(tc, test_rewind_keeps_an_open_request_and_reads_again);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
