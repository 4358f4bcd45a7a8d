/* test_ometria_sink.c: the ometria-sink's write() driven directly (hand-built
 * context and batches) against a real libmicrohttpd server on 127.0.0.1
 * whose answers depend on the request body, for the paths the emulator
 * cannot produce: 400 on a multi-record request (bisection), a count-only
 * refusal with Ometria's documented /_errors shape (no record ids), 404, a
 * 2xx with an unexpected body or with counts that do not add up (never a
 * delivery; fatal once the budget is spent), 503 after the client's
 * retries, 401 with the key echoed back, chunking per @type, bad options
 * (the option table's refusals, the api_key init() checks). */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "log.h"
#include "options.h"
#include "support/unit_httpd.h"
#include "support/unit_support.h"
#include "store.h"
#include "util/clock.h"

/* The plugin's descriptor, linked in from plugins/ometria-sink. */
extern const struct sluice_plugin plugin_under_test __asm__(SLUICE_PLUGIN_SYMBOL);

#define KEY "om-unit-secret-42"
#define MAX_SEEN 128

typedef enum server_mode {
    MODE_POISON_400,   /* 400 when a record contains POISON, else all accepted */
    MODE_COUNT_REJECT, /* 200 counting POISON records as rejected */
    MODE_NOT_FOUND,    /* 404 */
    MODE_WEIRD_OK,     /* 200 with an HTML body */
    MODE_ZERO_COUNTS,  /* 200 {"status":"OK","accepted":0,"rejected":0} */
    MODE_DOWN,         /* 503 with Retry-After: 2 */
    MODE_AUTH          /* 401 echoing the key */
} server_mode;

/* One push request as the server saw it. */
typedef struct seen_push {
    size_t records;
    char type[32];  /* "@type" shared by all records, "mixed" otherwise */
} seen_push;

static struct {
    struct MHD_Daemon *daemon;
    unsigned short port;
    pthread_mutex_t lock;
    server_mode mode;
    seen_push pushes[MAX_SEEN];
    size_t push_count;
    size_t error_gets;
    size_t gdpr_posts;     /* POST /data-deletion-requests */
    size_t gdpr_gets;      /* GET /data-deletion-requests/{id} */
    int gdpr_done_after;   /* status reads answered "pending" before "completed" */
} server;

typedef struct upload {
    char *data;
    size_t len;
} upload;

static volatile sig_atomic_t stop_flag;
static sluice_pipeline_def pipeline_def;
static sluice_stage_def stage_def;
static sluice_ctx ctx;
/* the stage's state (the sink keeps its erasure list there): a real store
 * in a fresh directory per test */
static char state_dir[64];
static sluice_store *store;
static sluice_kv *kv;

/* Build the answer for one POST /v2/push body. Returns the status and
 * sets *body (static or malloc'd in *owned). */
static unsigned answer_push(const char *data, size_t len, const char **body, char **owned)
{
    json_t *records = json_loadb(data, len, 0, NULL);
    size_t poisoned = 0, count = json_array_size(records);
    seen_push seen = {count, ""};
    char *text;

    for (size_t i = 0; i < count; i++) {
        json_t *rec = json_array_get(records, i);
        const char *type = json_string_value(json_object_get(rec, "@type"));
        if (i == 0)
            snprintf(seen.type, sizeof(seen.type), "%s", type ? type : "");
        else if (!type || strcmp(type, seen.type) != 0)
            snprintf(seen.type, sizeof(seen.type), "mixed");
        text = json_dumps(rec, JSON_COMPACT);
        if (text && strstr(text, "POISON"))
            poisoned++;
        free(text);
    }
    json_decref(records);
    pthread_mutex_lock(&server.lock);
    if (server.push_count < MAX_SEEN)
        server.pushes[server.push_count++] = seen;
    pthread_mutex_unlock(&server.lock);

    switch (server.mode) {
    case MODE_NOT_FOUND:
        *body = "{\"message\":\"no such endpoint\"}";
        return 404;
    case MODE_WEIRD_OK:
        *body = "<html>thanks</html>";
        return 200;
    case MODE_ZERO_COUNTS:
        *body = "{\"status\":\"OK\",\"accepted\":0,\"rejected\":0}";
        return 200;
    case MODE_DOWN:
        *body = "{\"message\":\"maintenance\"}";
        return 503;
    case MODE_AUTH:
        *body = "{\"message\":\"API key " KEY " is not authorised to access this resource\"}";
        return 401;
    case MODE_POISON_400:
        if (poisoned) {
            *body = "{\"status\":\"error\",\"message\":\"Payload invalid: bad thing\"}";
            return 400;
        }
        poisoned = 0;
        break;
    case MODE_COUNT_REJECT:
        break;
    }
    *owned = malloc(128);
    snprintf(*owned, 128, "{\"status\":\"OK\",\"request_id\":\"r\",\"accepted\":%zu,\"rejected\":%zu}",
             count - poisoned, poisoned);
    *body = *owned;
    return 200;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
    upload *up = *con_cls;
    const char *body = "{}";
    char *owned = NULL;
    unsigned status;
    struct MHD_Response *response;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (!up) {
        *con_cls = calloc(1, sizeof(upload));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        char *grown = realloc(up->data, up->len + *upload_data_size + 1);
        if (!grown)
            return MHD_NO;
        up->data = grown;
        memcpy(up->data + up->len, upload_data, *upload_data_size);
        up->len += *upload_data_size;
        up->data[up->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/v2/push/_errors") == 0) {
        pthread_mutex_lock(&server.lock);
        server.error_gets++;
        pthread_mutex_unlock(&server.lock);
        /* Ometria's documented shape: no record ids. */
        body = "[{\"error_message\":\"other\",\"error_path\":\"root > email\"},"
               "{\"error_message\":\"not a valid value\",\"error_path\":\"root > lastname\"}]";
        status = 200;
    } else if (strcmp(method, "POST") == 0 && strcmp(url, "/data-deletion-requests") == 0) {
        /* Ometria's GDPR API: a request id per deletion (ometria_erase.c) */
        pthread_mutex_lock(&server.lock);
        server.gdpr_posts++;
        owned = malloc(64);
        if (owned)
            snprintf(owned, 64, "{\"id\":\"req-%zu\",\"status\":\"pending\"}", server.gdpr_posts);
        pthread_mutex_unlock(&server.lock);
        body = owned ? owned : "{}";
        status = 202;
    } else if (strcmp(method, "GET") == 0 && strncmp(url, "/data-deletion-requests/", 24) == 0) {
        pthread_mutex_lock(&server.lock);
        server.gdpr_gets++;
        body = (int)server.gdpr_gets > server.gdpr_done_after ? "{\"status\":\"completed\"}"
                                                               : "{\"status\":\"pending\"}";
        pthread_mutex_unlock(&server.lock);
        status = 200;
    } else if (strcmp(method, "POST") == 0 && strcmp(url, "/v2/push") == 0) {
        const char *key = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                      "X-Ometria-Auth");
        if (!key || strcmp(key, KEY) != 0) {
            body = "{\"message\":\"missing key\"}";
            status = 401;
        } else {
            status = answer_push(up->data ? up->data : "", up->len, &body, &owned);
        }
    } else {
        body = "{\"message\":\"not found\"}";
        status = 404;
    }
    response = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                               MHD_RESPMEM_MUST_COPY);
    if (status == 503)
        MHD_add_response_header(response, "Retry-After", "2");
    ret = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    free(owned);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
    upload *up = *con_cls;

    (void)cls;
    (void)connection;
    (void)code;
    if (up) {
        free(up->data);
        free(up);
    }
    *con_cls = NULL;
}

static void setup(void)
{
    char errbuf[256];

    memset(&server, 0, sizeof(server));
    pthread_mutex_init(&server.lock, NULL);
    server.daemon = unit_httpd_start(MHD_USE_INTERNAL_POLLING_THREAD, handle, NULL, completed,
                                     &server.port);
    unit_stage_setup(&pipeline_def, &stage_def, &ctx, &stop_flag, "ometria", "ometria-sink", 2, 100);
    stage_def.common.rate_limit = 1000; /* a unit test, not a rate test */
    stage_def.common.burst = 1000;
    snprintf(state_dir, sizeof(state_dir), "/tmp/test_ometria_sink.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
    store = sluice_store_open(state_dir, errbuf, sizeof(errbuf));
    ck_assert_msg(store != NULL, "%s", errbuf);
    kv = sluice_kv_new(store, stage_def.name);
    ck_assert_ptr_nonnull(kv);
    ctx.store = store;
    ctx.kv = kv;
}

static void teardown(void)
{
    sluice_kv_destroy(&kv);
    sluice_store_close(&store);
    unit_remove_tree(state_dir);
    sluice_http_client_free(&ctx.http);
    MHD_stop_daemon(server.daemon);
    pthread_mutex_destroy(&server.lock);
}

/* Options as the core would hand them over (defaults filled in). */
static json_t *options(const char *key, long long max_records)
{
    char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%u/", (unsigned)server.port);
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "base_url", base, "api_key", key,
                     "collection", "annex_loyalty", "max_records_per_request",
                     (json_int_t)max_records, "max_record_bytes", (json_int_t)61440);
}

/* n contacts LID-1..n; those listed in `poison` (1-based, 0-terminated)
 * carry lastname POISON. */
static sluice_batch *contacts(size_t n, const int *poison)
{
    sluice_batch *batch = sluice_batch_new(1, 1, n);

    for (size_t i = 1; i <= n; i++) {
        int bad = 0;
        char id[32];
        for (const int *p = poison; p && *p; p++)
            bad |= (size_t)*p == i;
        snprintf(id, sizeof(id), "LID-%zu", i);
        sluice_batch_append(batch, json_pack("{s:s, s:s, s:s}", "@type", "contact", "id", id,
                                             "lastname", bad ? "POISON" : "Smith"));
    }
    return batch;
}

/* Run init + write + fini; returns write's status. */
static sluice_status run_sink(sluice_batch *batch, const char *key)
{
    json_t *config = options(key, 100);
    void *state = NULL;
    sluice_status status;

    ck_assert_int_eq(plugin_under_test.init(&ctx, config, &state), SLUICE_OK);
    status = plugin_under_test.write(&ctx, state, batch);
    plugin_under_test.fini(&ctx, state);
    json_decref(config);
    return status;
}

START_TEST(bad_request_is_bisected_down_to_the_culprits)
{
    static const int poison[] = {3, 7, 0};
    sluice_batch *batch = contacts(10, poison);

    server.mode = MODE_POISON_400;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_OK);
    for (size_t i = 0; i < 10; i++) {
        sluice_outcome want = (i == 2 || i == 6) ? SLUICE_RECORD_REJECTED : SLUICE_RECORD_DONE;
        ck_assert_msg(sluice_batch_outcome(batch, i) == want, "record %zu outcome %d", i + 1,
                      sluice_batch_outcome(batch, i));
    }
    ck_assert_ptr_nonnull(strstr(batch->slots[2].reason, "HTTP 400"));
    ck_assert_ptr_nonnull(strstr(batch->slots[2].reason, "Payload invalid: bad thing"));
    /* Bounded: never more than 2n - 1 requests for n records. */
    ck_assert_uint_le(server.push_count, 19);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(counted_refusal_uses_the_documented_errors_shape)
{
    static const int poison[] = {5, 0};
    sluice_batch *batch = contacts(10, poison);

    server.mode = MODE_COUNT_REJECT;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_OK);
    for (size_t i = 0; i < 10; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i),
                         i == 4 ? SLUICE_RECORD_REJECTED : SLUICE_RECORD_DONE);
    ck_assert_str_eq(batch->slots[4].reason,
                     "rejected by Ometria: not a valid value (root > lastname)");
    /* 10 -> 5 -> 2/3 -> 1: the halves whose share is known are not re-sent. */
    ck_assert_uint_le(server.push_count, 6);
    ck_assert_uint_eq(server.error_gets, 1);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(wrong_url_is_fatal)
{
    sluice_batch *batch = contacts(3, NULL);

    server.mode = MODE_NOT_FOUND;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_FATAL);
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "HTTP 404"));
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "base_url"));
    ck_assert_uint_eq(server.push_count, 1);
    sluice_batch_destroy(&batch);
}
END_TEST

/* A 2xx that is not Ometria's push result (any web server's page) is not
 * a delivery: the records are left to retry, and once the stage's budget
 * of such answers in a row (its http_max_attempts, 2 here) is spent the
 * sink fails with what came back. */
START_TEST(unexpected_2xx_body_is_retried_then_fatal)
{
    sluice_batch *batch = contacts(4, NULL);

    server.mode = MODE_WEIRD_OK;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_RETRY);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i), SLUICE_RECORD_RETRY);
    ck_assert_ptr_nonnull(strstr(batch->slots[0].reason, "could not be read"));
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_FATAL);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_ne(sluice_batch_outcome(batch, i), SLUICE_RECORD_DONE);
    ck_assert_msg(strstr(ctx.fail_message, "ometria-sink") &&
                      strstr(ctx.fail_message, "<html>thanks</html>") &&
                      strstr(ctx.fail_message, "/v2/push"),
                  "fail message: %s", ctx.fail_message);
    ck_assert_uint_eq(server.push_count, 2);
    sluice_batch_destroy(&batch);
}
END_TEST

/* {"status":"OK","accepted":0,"rejected":0} for 4 records accounts for
 * none of them: not 4 delivered. */
START_TEST(counts_that_do_not_add_up_are_not_a_delivery)
{
    sluice_batch *batch = contacts(4, NULL);

    server.mode = MODE_ZERO_COUNTS;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_RETRY);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i), SLUICE_RECORD_RETRY);
    ck_assert_ptr_nonnull(strstr(batch->slots[0].reason, "0 accepted + 0 rejected of the 4"));
    /* Once the destination counts them, they are delivered. */
    server.mode = MODE_POISON_400;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i), SLUICE_RECORD_DONE);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(outage_leaves_records_to_retry_with_the_hint)
{
    sluice_batch *batch = contacts(4, NULL);

    server.mode = MODE_DOWN;
    stage_def.common.http_max_attempts = 1;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_RETRY);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i), SLUICE_RECORD_RETRY);
    ck_assert(ctx.retry_after >= 2.0);
    ck_assert_uint_eq(server.push_count, 1);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(rejected_key_is_fatal_and_never_shown)
{
    sluice_batch *batch = contacts(2, NULL);

    server.mode = MODE_AUTH;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_FATAL);
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "API key rejected by Ometria (HTTP 401)"));
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "ometria-sink"));
    ck_assert_ptr_null(strstr(ctx.fail_message, KEY));
    ck_assert_uint_eq(server.push_count, 1);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(one_type_and_at_most_100_records_per_request)
{
    sluice_batch *batch = sluice_batch_new(1, 1, 300);
    char id[32];

    /* Interleaved types: requests must still be one @type each. */
    for (int i = 1; i <= 280; i++) {
        snprintf(id, sizeof(id), "%d", i);
        if (i % 10 == 0)
            sluice_batch_append(batch, json_pack("{s:s, s:s, s:s}", "@type", "custom_event",
                                                 "id", id, "event_type", "annex_loy_opt_in"));
        else
            sluice_batch_append(batch, json_pack("{s:s, s:s}", "@type", "contact", "id", id));
    }
    sluice_batch_append(batch, json_pack("{s:s, s:s}", "@type", "order", "id", "o-1"));
    server.mode = MODE_POISON_400;
    ck_assert_int_eq(run_sink(batch, KEY), SLUICE_OK);
    /* 252 contacts: 100 + 100 + 52, then 28 events. */
    ck_assert_uint_eq(server.push_count, 4);
    ck_assert_uint_eq(server.pushes[0].records, 100);
    ck_assert_uint_eq(server.pushes[1].records, 100);
    ck_assert_uint_eq(server.pushes[2].records, 52);
    ck_assert_uint_eq(server.pushes[3].records, 28);
    ck_assert_str_eq(server.pushes[0].type, "contact");
    ck_assert_str_eq(server.pushes[2].type, "contact");
    ck_assert_str_eq(server.pushes[3].type, "custom_event");
    ck_assert_int_eq(sluice_batch_outcome(batch, 280), SLUICE_RECORD_REJECTED);
    ck_assert_ptr_nonnull(strstr(batch->slots[280].reason, "\"order\""));
    for (size_t i = 0; i < 280; i++)
        ck_assert_int_eq(sluice_batch_outcome(batch, i), SLUICE_RECORD_DONE);
    sluice_batch_destroy(&batch);
}
END_TEST

/* The option table refuses what init() no longer checks: the core applies
 * it (sluice check, and sluice run before anything starts) with FILE:LINE. */
START_TEST(bad_options_are_refused_by_the_table)
{
    static const struct {
        const char *option;
        const char *value; /* JSON */
        const char *message;
    } bad[] = {
        {"max_records_per_request", "101", "option 'max_records_per_request' must be in 1..100, got 101"},
        {"max_records_per_request", "0", "option 'max_records_per_request' must be in 1..100, got 0"},
        {"max_record_bytes", "0", "option 'max_record_bytes' must be in 1..61440, got 0"},
        {"max_record_bytes", "61441", "option 'max_record_bytes' must be in 1..61440, got 61441"},
        {"base_url", "\"ftp://example.com\"", "option 'base_url' must be an http:// or https:// URL"},
        {"base_url", "\"api.ometria.com\"", "option 'base_url' must be an http:// or https:// URL"},
    };
    char err[256];

    ck_assert_int_eq(sluice_options_check_table(plugin_under_test.options, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const sluice_option *opt = sluice_options_find(plugin_under_test.options, bad[i].option);
        json_t *value = json_loads(bad[i].value, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(opt);
        err[0] = '\0';
        ck_assert_int_eq(sluice_option_check_value(opt, value, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, bad[i].message) != NULL, "%s = %s: '%s'", bad[i].option,
                      bad[i].value, err);
        json_decref(value);
    }
    /* The limits themselves are accepted. */
    {
        const sluice_option *opt = sluice_options_find(plugin_under_test.options, "max_records_per_request");
        json_t *value = json_integer(100);
        ck_assert_int_eq(sluice_option_check_value(opt, value, err, sizeof(err)), 0);
        json_decref(value);
    }
}
END_TEST

/* The secret is checked at init, where its value is known. */
START_TEST(bad_api_key_is_refused_at_init)
{
    json_t *config = options(KEY "\n", 100);
    void *state = NULL;

    /* A key read from a file with its newline would break the header. */
    ck_assert_int_eq(plugin_under_test.init(&ctx, config, &state), SLUICE_FATAL);
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "api_key"));
    ck_assert_ptr_null(strstr(ctx.fail_message, KEY));
    ck_assert_ptr_null(state);
    json_decref(config);
    config = options("", 100);
    ck_assert_int_eq(plugin_under_test.init(&ctx, config, &state), SLUICE_FATAL);
    ck_assert_ptr_nonnull(strstr(ctx.fail_message, "api_key"));
    json_decref(config);
}
END_TEST

/* Erase records with emails (docs/erasure.md). */
static sluice_batch *erasures(size_t n)
{
    sluice_batch *batch = sluice_batch_new(1, 1, n);

    for (size_t i = 1; i <= n; i++) {
        char id[32], email[64];
        snprintf(id, sizeof(id), "LID-%zu", i);
        snprintf(email, sizeof(email), "m%zu@example.com", i);
        sluice_batch_append(batch, json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "erase",
                                             "loyalty_id", id, "email", email, "requested_at",
                                             "2026-12-07T10:00:00Z", "via", "cli"));
    }
    return batch;
}

/* The state of member id's erasure entry ("" when none). */
static const char *entry_state(const char *id, char *buf, size_t len)
{
    char key[64];
    json_t *entry;

    snprintf(key, sizeof(key), "erase/%s", id);
    entry = sluice_state_get(&ctx, key);
    snprintf(buf, len, "%s", entry ? json_string_value(json_object_get(entry, "state")) : "");
    json_decref(entry);
    return buf;
}

/* Ometria's GDPR API takes 6 requests a minute: of two erasures queued
 * together one request goes out, the other waits its turn 10 s later
 * (the sink asks to be called then); an empty write() before that sends
 * nothing; the sent entry no longer holds the email. */
START_TEST(erasures_are_paced_at_six_a_minute)
{
    json_t *config = options(KEY, 100), *entry;
    sluice_batch *batch = erasures(2), *empty = sluice_batch_new(1, 0, 0);
    void *state = NULL;
    char buf[32];
    int64_t wait_ms;

    stage_def.plugin = &plugin_under_test;
    json_object_set_new(config, "erase_requests_per_minute", json_real(6));
    json_object_set_new(config, "erase_poll_s", json_integer(3600));
    ck_assert_int_eq(plugin_under_test.init(&ctx, config, &state), SLUICE_OK);
    ck_assert_int_eq(plugin_under_test.write(&ctx, state, batch), SLUICE_OK);
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_DONE);
    ck_assert_int_eq(sluice_batch_outcome(batch, 1), SLUICE_RECORD_DONE);
    ck_assert_uint_eq(server.gdpr_posts, 1);
    ck_assert_str_eq(entry_state("LID-1", buf, sizeof(buf)), "sent");
    ck_assert_str_eq(entry_state("LID-2", buf, sizeof(buf)), "queued");
    entry = sluice_state_get(&ctx, "erase/LID-1");
    ck_assert_ptr_null(json_object_get(entry, "email"));
    json_decref(entry);
    /* init asked for a call at once (requests left by a previous run):
     * the core makes it, with no records, and forgets the time asked */
    ck_assert(ctx.call_at_ms > 0 && ctx.call_at_ms <= sluice_clock_ms());
    ctx.call_at_ms = 0;
    ck_assert_int_eq(plugin_under_test.write(&ctx, state, empty), SLUICE_OK);
    ck_assert_uint_eq(server.gdpr_posts, 1);
    wait_ms = ctx.call_at_ms - sluice_clock_ms();
    ck_assert_msg(wait_ms > 8000 && wait_ms <= 10000, "next call in %lld ms, want about 10 s",
                  (long long)wait_ms);
    plugin_under_test.fini(&ctx, state);
    sluice_batch_destroy(&batch);
    sluice_batch_destroy(&empty);
    json_decref(config);
}
END_TEST

/* A sent request is read on the sink's own clock (empty write() calls
 * when it asked for them) until Ometria says completed: then confirmed,
 * and the sink asks for no more calls. */
START_TEST(erasure_status_is_polled_until_complete)
{
    json_t *config = options(KEY, 100);
    sluice_batch *batch = erasures(1);
    void *state = NULL;
    char buf[32];
    int64_t deadline = sluice_clock_ms() + 60000;

    stage_def.plugin = &plugin_under_test;
    server.gdpr_done_after = 2;
    json_object_set_new(config, "erase_requests_per_minute", json_real(6000));
    json_object_set_new(config, "erase_poll_s", json_integer(1));
    ck_assert_int_eq(plugin_under_test.init(&ctx, config, &state), SLUICE_OK);
    ck_assert_int_eq(plugin_under_test.write(&ctx, state, batch), SLUICE_OK);
    ck_assert_uint_eq(server.gdpr_posts, 1);
    while (strcmp(entry_state("LID-1", buf, sizeof(buf)), "confirmed") != 0 &&
           sluice_clock_ms() < deadline) {
        sluice_batch *empty = sluice_batch_new(1, 0, 0);
        int64_t left;
        ck_assert_msg(ctx.call_at_ms > 0, "the sink asked for no call while its request is %s", buf);
        /* wait for the time the sink asked to be called at, as the core does */
        while ((left = ctx.call_at_ms - sluice_clock_ms()) > 0) {
            struct timespec pause = {left / 1000, (left % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
        ctx.call_at_ms = 0;
        ck_assert_int_eq(plugin_under_test.write(&ctx, state, empty), SLUICE_OK);
        sluice_batch_destroy(&empty);
    }
    ck_assert_str_eq(buf, "confirmed");
    ck_assert_uint_eq(server.gdpr_gets, 3);
    ck_assert_int_eq(ctx.call_at_ms, 0);
    plugin_under_test.fini(&ctx, state);
    sluice_batch_destroy(&batch);
    json_decref(config);
}
END_TEST

static Suite *sink_suite(void)
{
    Suite *suite = suite_create("ometria_sink");
    TCase *tc = tcase_create("write");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_request_is_bisected_down_to_the_culprits);
    tcase_add_test(tc, counted_refusal_uses_the_documented_errors_shape);
    tcase_add_test(tc, wrong_url_is_fatal);
    tcase_add_test(tc, unexpected_2xx_body_is_retried_then_fatal);
    tcase_add_test(tc, counts_that_do_not_add_up_are_not_a_delivery);
    tcase_add_test(tc, outage_leaves_records_to_retry_with_the_hint);
    tcase_add_test(tc, rejected_key_is_fatal_and_never_shown);
    tcase_add_test(tc, one_type_and_at_most_100_records_per_request);
    tcase_add_test(tc, bad_options_are_refused_by_the_table);
    tcase_add_test(tc, bad_api_key_is_refused_at_init);
    tcase_add_test(tc, erasures_are_paced_at_six_a_minute);
    tcase_add_test(tc, erasure_status_is_polled_until_complete);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(sink_suite());
    int failed;

    sluice_log_setup(SLUICE_LOG_WARN, SLUICE_LOG_FORMAT_TEXT);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
