/* http.c: the SDK's HTTP client (sluice/plugin.h) on libcurl, with the
 * core's failure policy: classification, retries with exponential backoff
 * and jitter, Retry-After (also handed to the batch's retry as the stage's
 * hint), per-bucket throttling where a 429 pauses the whole bucket, and a
 * sink's heartbeat while it waits on a request, a backoff or a bucket, and
 * the concurrency gate a plugin opts into (sluice_http_concurrency: a fixed
 * or adaptive limit of attempts in flight, http_gate.c and arc.c). One
 * client per stage context; easy handles are pooled so connections are
 * kept alive and concurrent callers never share one. What answers mean
 * (Retry-After values, transport errors that are configuration, 2xx
 * answers a sink cannot read) is in http_answer.c. */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

#include "arc.h"
#include "ctx.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "throttle.h"
#include "util/backoff.h"
#include "util/dynbuf.h"

#define BACKOFF_BASE_MS 200L
#define RETRY_AFTER_MAX_SECONDS 3600.0
#define CONNECT_TIMEOUT_MS 10000L
/* As many as the gate lets run at once (annexcloud-source allows 256). */
#define IDLE_HANDLES_MAX 256
#define BODY_LIMIT (64u * 1024u * 1024u)
#define HEADERS_LIMIT (256u * 1024u)
#define DEBUG_BODY_MAX 512
#define WAIT_SLICE_SECONDS 0.1
/* Least time between two ctx->progress calls made while waiting (during an
 * attempt, a backoff or a throttle wait); the hook itself decides how often
 * a heartbeat really goes out (stage.c: once a second or per quarter of
 * ack_timeout_ms). */
#define PROGRESS_MIN_INTERVAL_SECONDS 0.1

struct sluice_http_client {
    pthread_mutex_t lock;             /* guards idle[], rng, unreadable_in_a_row
                                         and ctx->retry_after */
    CURL *idle[IDLE_HANDLES_MAX];     /* handles with live connections */
    size_t idle_count;
    sluice_throttle *throttle;        /* named buckets */
    uint64_t rng;                     /* xorshift64* state for jitter */
    unsigned unreadable_in_a_row;     /* sluice_http_answer's count */
    pthread_mutex_t progress_lock;    /* one ctx->progress call at a time;
                                         guards progress_at */
    double progress_at;               /* monotonic seconds of the last call */
    sluice_http_gate *gate;           /* attempts in flight; NULL = no limit
                                         (set once by sluice_http_concurrency,
                                         under lock) */
};

/* The counter of `status`'s class: sluice_http_responses_<N>xx_total, or
 * sluice_http_responses_error_total for no answer (status 0); the admin
 * endpoint exports them as sluice_http_responses_total{status_class}. */
static const char *status_class_metric(long status)
{
    static const char *const names[] = {
        "sluice_http_responses_error_total", "sluice_http_responses_1xx_total",
        "sluice_http_responses_2xx_total", "sluice_http_responses_3xx_total",
        "sluice_http_responses_4xx_total", "sluice_http_responses_5xx_total"};

    if (status < 100 || status > 599)
        return names[0];
    return names[status / 100];
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static pthread_mutex_t client_create_lock = PTHREAD_MUTEX_INITIALIZER;

static void curl_global_setup(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *pipeline_of(const sluice_ctx *ctx)
{
    return ctx->pipeline ? ctx->pipeline->name : NULL;
}

static const char *stage_of(const sluice_ctx *ctx)
{
    return ctx->stage ? ctx->stage->name : NULL;
}

/* The plugin the stage runs (its destination's name, e.g. "ometria-sink"),
 * or "?" for a context without a stage. */
static const char *plugin_of(const sluice_ctx *ctx)
{
    return ctx->stage && ctx->stage->plugin_name ? ctx->stage->plugin_name : "?";
}

/* Retries of one request up to this many are told at info; later ones
 * (an outage rather than a blip) at warn. */
#define RETRY_QUIET_ATTEMPTS 2

/* The stage's common options, or NULL for a context without a stage. */
static const sluice_stage_common *common_of(const sluice_ctx *ctx)
{
    return ctx->stage ? &ctx->stage->common : NULL;
}

/* Create ctx->http if needed. Returns it, or NULL on failure. */
static struct sluice_http_client *client_get(sluice_ctx *ctx)
{
    struct sluice_http_client *client = NULL;
    const sluice_stage_common *common = common_of(ctx);
    struct timespec now;

    pthread_once(&curl_once, curl_global_setup);
    if (curl_init_result != CURLE_OK)
        return NULL;
    pthread_mutex_lock(&client_create_lock);
    if (ctx->http) {
        client = ctx->http;
        goto out;
    }
    client = calloc(1, sizeof(*client));
    if (!client)
        goto out;
    client->throttle = sluice_throttle_new();
    if (!client->throttle || pthread_mutex_init(&client->lock, NULL) != 0) {
        sluice_throttle_destroy(&client->throttle);
        free(client);
        client = NULL;
        goto out;
    }
    if (pthread_mutex_init(&client->progress_lock, NULL) != 0) {
        pthread_mutex_destroy(&client->lock);
        sluice_throttle_destroy(&client->throttle);
        free(client);
        client = NULL;
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    client->rng = ((uint64_t)now.tv_sec << 32) ^ (uint64_t)now.tv_nsec ^
                  (uint64_t)(uintptr_t)client;
    if (client->rng == 0)
        client->rng = 0x9e3779b97f4a7c15ULL;
    if (common && common->rate_limit > 0)
        sluice_throttle_configure(client->throttle, "default", common->rate_limit,
                                  common->burst > 0 ? common->burst
                                                    : fmax(1, common->rate_limit));
    ctx->http = client;
out:
    pthread_mutex_unlock(&client_create_lock);
    return client;
}

void sluice_http_client_free(struct sluice_http_client **client_p)
{
    struct sluice_http_client *client;

    if (!client_p || !*client_p)
        return;
    client = *client_p;
    for (size_t i = 0; i < client->idle_count; i++)
        curl_easy_cleanup(client->idle[i]);
    sluice_throttle_destroy(&client->throttle);
    sluice_http_gate_destroy(&client->gate);
    pthread_mutex_destroy(&client->lock);
    pthread_mutex_destroy(&client->progress_lock);
    free(client);
    *client_p = NULL;
}

/* A uniform random number in [0, 1). */
static double client_random(struct sluice_http_client *client)
{
    uint64_t x;

    pthread_mutex_lock(&client->lock);
    x = client->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    client->rng = x;
    pthread_mutex_unlock(&client->lock);
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* An easy handle from the pool (reset, connections kept) or a new one. */
static CURL *handle_acquire(struct sluice_http_client *client)
{
    CURL *curl = NULL;

    pthread_mutex_lock(&client->lock);
    if (client->idle_count > 0)
        curl = client->idle[--client->idle_count];
    pthread_mutex_unlock(&client->lock);
    if (curl)
        curl_easy_reset(curl);
    else
        curl = curl_easy_init();
    return curl;
}

/* Give a handle back to the pool (or free it when the pool is full). */
static void handle_release(struct sluice_http_client *client, CURL *curl)
{
    if (!curl)
        return;
    /* Drop pointers to the caller's buffers before the handle idles. */
    curl_easy_reset(curl);
    pthread_mutex_lock(&client->lock);
    if (client->idle_count < IDLE_HANDLES_MAX) {
        client->idle[client->idle_count++] = curl;
        curl = NULL;
    }
    pthread_mutex_unlock(&client->lock);
    if (curl)
        curl_easy_cleanup(curl);
}

/* Call the stage's progress hook (a sink's heartbeat upstream; NULL
 * elsewhere). The hook sends on the stage's ZeroMQ socket, which is not
 * thread-safe, and a sink may call sluice_http from several threads at once
 * inside write() (infobip-sink's max_in_flight) while the runner's thread
 * waits in write(), so the calls are serialised by progress_lock, whose
 * barriers let the socket pass between threads as ZeroMQ requires. With
 * `always` 0 (calls made while waiting, many a second) it is skipped when
 * another thread is calling it right now or it ran less than
 * PROGRESS_MIN_INTERVAL_SECONDS ago. */
static void report_progress(sluice_ctx *ctx, struct sluice_http_client *client, int always)
{
    double now;

    if (!ctx->progress)
        return;
    if (always)
        pthread_mutex_lock(&client->progress_lock);
    else if (pthread_mutex_trylock(&client->progress_lock) != 0)
        return;
    now = sluice_monotonic_seconds();
    if (always || now - client->progress_at >= PROGRESS_MIN_INTERVAL_SECONDS) {
        client->progress_at = now;
        ctx->progress(ctx);
    }
    pthread_mutex_unlock(&client->progress_lock);
}

/* Who is waiting, for the callbacks that report progress while it waits. */
typedef struct waiter {
    sluice_ctx *ctx;
    struct sluice_http_client *client;
} waiter;

/* Throttle wait tick (sluice_throttle_acquire_ticking): still alive. */
static void waiter_tick(void *arg)
{
    waiter *w = arg;

    report_progress(w->ctx, w->client, 0);
}

/* curl's progress callback during an attempt: libcurl calls it often while
 * data moves and about once a second while the server keeps silent, so a
 * destination that hangs longer than the source's ack_timeout_ms does not
 * make the source rewind a sink that is still trying. Returns 0 (go on). */
static int on_transfer_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                                curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    waiter_tick(arg);
    return 0;
}

/* Sleep `seconds` in slices, reporting progress after each. Returns 0
 * after the full sleep, -1 as soon as the pipeline is stopping. */
static int wait_alive(sluice_ctx *ctx, struct sluice_http_client *client, double seconds)
{
    double end = sluice_monotonic_seconds() + seconds;

    for (;;) {
        double left = end - sluice_monotonic_seconds();

        if (left <= 0)
            return 0;
        if (sluice_sleep_interruptible(fmin(left, WAIT_SLICE_SECONDS), ctx->stopping) != 0)
            return -1;
        report_progress(ctx, client, 0);
    }
}

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    dynbuf *buf = user;
    size_t len = size * count;

    return dynbuf_append(buf, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t count, void *user)
{
    dynbuf *buf = user;
    size_t len = size * count;

    /* A new status line starts a new block (after 100 Continue): keep only
     * the final response's headers. */
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        dynbuf_reset(buf);
    return dynbuf_append(buf, data, len) == 0 ? len : 0;
}

/* 1 when a header name or value is missing or holds a line break or
 * other control character (the error names the header, never its value). */
static int invalid_header(const sluice_http_request *req, char *error, size_t error_len)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const sluice_http_header *h = &req->headers[i];
        const char *bad = NULL;

        if (!h->name || !*h->name || !h->value) {
            snprintf(error, error_len, "HTTP header %zu has no name or value", i + 1);
            return 1;
        }
        for (const char *p = h->name; *p && !bad; p++) {
            if (iscntrl((unsigned char)*p) || *p == ':' || *p == ' ')
                bad = "name";
        }
        for (const char *p = h->value; *p && !bad; p++) {
            if (iscntrl((unsigned char)*p) && *p != '\t')
                bad = "value";
        }
        if (bad) {
            snprintf(error, error_len,
                     "HTTP header \"%.64s\": the %s holds a line break or control character",
                     bad[0] == 'v' ? h->name : "?", bad);
            return 1;
        }
    }
    return 0;
}

/* The request's headers as a curl list, plus "Expect:" (no 100-continue
 * round trip). Returns the list (caller frees) or NULL on failure. */
static struct curl_slist *build_headers(const sluice_http_request *req)
{
    struct curl_slist *list = NULL;
    struct curl_slist *grown;

    for (size_t i = 0; i < req->header_count; i++) {
        const sluice_http_header *h = &req->headers[i];
        size_t len = strlen(h->name) + strlen(h->value) + 3;
        char *line = malloc(len);
        if (!line)
            goto fail;
        snprintf(line, len, "%s: %s", h->name, h->value);
        grown = curl_slist_append(list, line);
        free(line);
        if (!grown)
            goto fail;
        list = grown;
    }
    grown = curl_slist_append(list, "Expect:");
    if (!grown)
        goto fail;
    return grown;
fail:
    curl_slist_free_all(list);
    return NULL;
}

/* Everything one request needs across its attempts. */
typedef struct http_call {
    const sluice_http_request *req;
    struct curl_slist *headers;
    long timeout_ms;
    int tls_verify;
    const char *ca_file;
    waiter who;                   /* for progress while an attempt runs */
    CURLcode code;                /* the last attempt's transport result */
    dynbuf body;
    dynbuf head;
    char error[CURL_ERROR_SIZE];
} http_call;

/* Make one attempt. Returns the HTTP status, or 0 on a transport error
 * (call->error says what, call->code is curl's code). */
static long attempt_once(struct sluice_http_client *client, http_call *call)
{
    const sluice_http_request *req = call->req;
    CURL *curl = handle_acquire(client);
    CURLcode rc;
    long status = 0;

    dynbuf_reset(&call->body);
    dynbuf_reset(&call->head);
    call->error[0] = '\0';
    call->code = CURLE_OK;
    if (!curl) {
        call->code = CURLE_OUT_OF_MEMORY;
        snprintf(call->error, sizeof(call->error), "cannot create a curl handle");
        return 0;
    }
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     call->timeout_ms < CONNECT_TIMEOUT_MS ? call->timeout_ms
                                                           : CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, call->tls_verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, call->tls_verify ? 2L : 0L);
    if (call->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, call->ca_file);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &call->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &call->head);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, call->error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice/" PACKAGE_VERSION);
    if (call->who.ctx->progress) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_transfer_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &call->who);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body || strcmp(req->method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
    }

    rc = curl_easy_perform(curl);
    call->code = rc;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    } else {
        if (!call->error[0])
            snprintf(call->error, sizeof(call->error), "%s", curl_easy_strerror(rc));
        if (call->body.overflow)
            snprintf(call->error, sizeof(call->error), "response body over %u bytes",
                     BODY_LIMIT);
        else if (sluice_http_config_error(rc))
            sluice_http_config_error_text(rc, req->url, call->error, sizeof(call->error));
    }
    handle_release(client, curl);
    return status;
}

/* Header lookup in a raw header block; see sluice_http_header_get. */
static char *header_find(const char *block, const char *name)
{
    size_t name_len = strlen(name);
    const char *line = block;

    while (line && *line) {
        const char *end = strpbrk(line, "\r\n");
        size_t line_len = end ? (size_t)(end - line) : strlen(line);

        if (line_len > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *value = line + name_len + 1;
            const char *value_end = line + line_len;
            while (value < value_end && isspace((unsigned char)*value))
                value++;
            while (value_end > value && isspace((unsigned char)value_end[-1]))
                value_end--;
            return strndup(value, (size_t)(value_end - value));
        }
        line = end;
        while (line && (*line == '\r' || *line == '\n'))
            line++;
    }
    return NULL;
}

/* Seconds asked by the Retry-After header in a raw header block (see
 * sluice_retry_after_parse), or a negative number when absent or
 * unparseable. */
static double retry_after_seconds(const char *headers)
{
    char *value = headers ? header_find(headers, "Retry-After") : NULL;
    double seconds = -1;

    if (value && sluice_retry_after_parse(value, time(NULL), &seconds) != 0)
        seconds = -1;
    free(value);
    return seconds;
}

/* Keep `seconds` as the stage's retry hint as sluice_retry_after() does
 * (the longest since the core last consumed it), under the client's lock:
 * sluice_http runs on several threads of one write() at once. */
static void record_retry_hint(sluice_ctx *ctx, struct sluice_http_client *client,
                              double seconds)
{
    pthread_mutex_lock(&client->lock);
    if (seconds > ctx->retry_after)
        ctx->retry_after = seconds;
    pthread_mutex_unlock(&client->lock);
}

sluice_http_class sluice_http_classify(long status)
{
    if (status >= 200 && status < 300)
        return SLUICE_HTTP_SUCCESS;
    if (status == 0 || status == 408 || status == 429 || status >= 500)
        return SLUICE_HTTP_RETRYABLE;
    if (status == 401 || status == 403)
        return SLUICE_HTTP_AUTH;
    if (status >= 400 && status < 500)
        return SLUICE_HTTP_REJECTED;
    /* 1xx/3xx as a final answer: we do not follow redirects, so the
     * request as configured cannot succeed. */
    return SLUICE_HTTP_REJECTED;
}

/* Log the start of a non-2xx body at debug level (bodies may hold data). */
static void log_body_debug(sluice_ctx *ctx, const sluice_http_request *req,
                           long status, const dynbuf *body)
{
    if (body->len == 0)
        return;
    sluice_log_write(pipeline_of(ctx), stage_of(ctx), SLUICE_LOG_DEBUG,
                     "%s %s: HTTP %ld body: %.*s%s", req->method, req->url, status,
                     (int)(body->len > DEBUG_BODY_MAX ? DEBUG_BODY_MAX : body->len),
                     body->data, body->len > DEBUG_BODY_MAX ? "..." : "");
}

/* Move the final attempt's results into *resp. */
static void fill_response(http_call *call, long status, int attempts,
                          sluice_http_response *resp)
{
    resp->status = status;
    resp->attempts = attempts;
    resp->body_len = call->body.len;
    resp->body = dynbuf_steal(&call->body);
    resp->headers = dynbuf_steal(&call->head);
    snprintf(resp->error, sizeof(resp->error), "%s", status == 0 ? call->error : "");
}

sluice_http_class sluice_http(sluice_ctx *ctx, const sluice_http_request *req,
                              sluice_http_response *resp)
{
    struct sluice_http_client *client;
    const sluice_stage_common *common;
    const char *bucket;
    http_call call;
    long status = 0;
    int attempts = 0;
    int max_attempts;
    double cap;
    sluice_http_class result = SLUICE_HTTP_RETRYABLE;
    sluice_http_gate *gate;

    memset(resp, 0, sizeof(*resp));
    memset(&call, 0, sizeof(call));
    if (!ctx || !req || !req->url || !req->method) {
        snprintf(resp->error, sizeof(resp->error), "invalid HTTP request");
        return SLUICE_HTTP_REJECTED;
    }
    call.req = req;
    dynbuf_init(&call.body, BODY_LIMIT);
    dynbuf_init(&call.head, HEADERS_LIMIT);
    if (invalid_header(req, call.error, sizeof(call.error))) {
        /* Sending it would split the header (or inject another one): the
         * request itself is wrong, retrying cannot help. */
        result = SLUICE_HTTP_REJECTED;
        goto out;
    }
    client = client_get(ctx);
    call.headers = build_headers(req);
    if (!client || !call.headers) {
        snprintf(call.error, sizeof(call.error), "out of memory for an HTTP request");
        goto out;
    }
    call.who.ctx = ctx;
    call.who.client = client;
    common = common_of(ctx);
    call.timeout_ms = req->timeout_ms > 0 ? req->timeout_ms
                      : common && common->http_timeout_ms > 0 ? common->http_timeout_ms
                      : SLUICE_DEFAULT_HTTP_TIMEOUT_MS;
    call.tls_verify = common ? common->tls_verify : 1;
    call.ca_file = common ? common->ca_file : NULL;
    max_attempts = req->max_attempts > 0 ? req->max_attempts
                   : common ? common->http_max_attempts : 0;
    cap = (common && common->retry_max_backoff_ms > 0 ? common->retry_max_backoff_ms
                                                      : SLUICE_DEFAULT_RETRY_MAX_BACKOFF_MS) / 1000.0;
    bucket = req->throttle ? req->throttle : "default";
    pthread_mutex_lock(&client->lock);
    gate = client->gate;
    pthread_mutex_unlock(&client->lock);

    for (;;) {
        double delay;
        double hinted;
        double waited_from = sluice_monotonic_seconds();
        double sent_at;
        int throttled = gate ? sluice_http_gate_enter(gate, ctx, waiter_tick, &call.who) : 0;
        int gated = gate && throttled == 0;

        /* the bucket's token is taken inside the gate: a request that waits
         * for a slot does not hold one */
        if (throttled == 0)
            throttled = sluice_throttle_acquire_ticking(client->throttle, bucket, ctx->stopping,
                                                        waiter_tick, &call.who);

        sluice_metrics_add(pipeline_of(ctx), stage_of(ctx), "sluice_throttle_wait_seconds_total",
                           sluice_monotonic_seconds() - waited_from);
        if (throttled != 0) {
            if (gated)
                sluice_http_gate_cancel(gate);
            if (attempts == 0)
                snprintf(call.error, sizeof(call.error), "stopping before the request");
            break;
        }
        sent_at = sluice_monotonic_seconds();
        status = attempt_once(client, &call);
        if (gate)
            sluice_http_gate_leave(gate, ctx, sluice_monotonic_seconds() - sent_at, status);
        attempts++;
        /* A sink working through a long batch is alive. */
        report_progress(ctx, client, 1);
        sluice_metrics_add(pipeline_of(ctx), stage_of(ctx), "sluice_http_requests_total", 1);
        sluice_metrics_add(pipeline_of(ctx), stage_of(ctx), status_class_metric(status), 1);
        result = status == 0 && sluice_http_config_error(call.code) ? SLUICE_HTTP_CONFIG
                                                                    : sluice_http_classify(status);
        if (status == 429)
            sluice_metrics_add(pipeline_of(ctx), stage_of(ctx), "sluice_http_429_total", 1);
        if (result != SLUICE_HTTP_SUCCESS && status != 0)
            log_body_debug(ctx, req, status, &call.body);
        hinted = result == SLUICE_HTTP_RETRYABLE && status != 0
                     ? retry_after_seconds(call.head.data) : -1;
        if (hinted >= 0)
            hinted = fmin(hinted, RETRY_AFTER_MAX_SECONDS);
        if (result != SLUICE_HTTP_RETRYABLE)
            break;
        if ((max_attempts > 0 && attempts >= max_attempts) || sluice_stopping(ctx)) {
            /* Given up on a retryable answer: whoever retries next (the
             * core, for a sink's records left RETRY) waits what the server
             * asked too. */
            if (hinted > 0)
                record_retry_hint(ctx, client, hinted);
            break;
        }

        delay = (double)sluice_backoff_ms((unsigned)attempts - 1, BACKOFF_BASE_MS,
                                          (long)(cap * 1000.0), 0, client_random(client)) /
                1000.0;
        /* At least what the server asked (a date in the past must not turn
         * into a tight loop, so never less than our own backoff). */
        if (hinted >= 0)
            delay = fmax(delay, hinted);
        /* named by stage and plugin: the operator reads which destination */
        if (status == 0)
            sluice_log_write(pipeline_of(ctx), stage_of(ctx),
                             attempts > RETRY_QUIET_ATTEMPTS ? SLUICE_LOG_WARN : SLUICE_LOG_INFO,
                             "stage '%s' (%s): %s %s: %s, retry %d in %.2f s",
                             stage_of(ctx) ? stage_of(ctx) : "?", plugin_of(ctx), req->method,
                             req->url, call.error, attempts, delay);
        else
            sluice_log_write(pipeline_of(ctx), stage_of(ctx),
                             attempts > RETRY_QUIET_ATTEMPTS ? SLUICE_LOG_WARN : SLUICE_LOG_INFO,
                             "stage '%s' (%s): %s %s: HTTP %ld, retry %d in %.2f s%s",
                             stage_of(ctx) ? stage_of(ctx) : "?", plugin_of(ctx), req->method,
                             req->url, status, attempts, delay,
                             status == 429 ? " (bucket paused)" : "");
        sluice_metrics_add(pipeline_of(ctx), stage_of(ctx), "sluice_http_retries_total", 1);
        if (status == 429) {
            /* Everyone on this bucket waits, including this request's retry
             * (the next acquire sleeps until the pause ends). */
            sluice_throttle_pause(client->throttle, bucket, delay);
            if (gate)
                sluice_http_gate_pause(gate, delay);
        } else if (wait_alive(ctx, client, delay) != 0) {
            break;
        }
    }
out:
    fill_response(&call, status, attempts, resp);
    dynbuf_free(&call.body);
    dynbuf_free(&call.head);
    curl_slist_free_all(call.headers);
    if (status == 0 && attempts == 0 && !resp->error[0])
        snprintf(resp->error, sizeof(resp->error), "no request was made");
    if (result == SLUICE_HTTP_REJECTED && attempts == 0)
        return SLUICE_HTTP_REJECTED;
    if (result == SLUICE_HTTP_CONFIG)
        return SLUICE_HTTP_CONFIG;
    return status == 0 ? SLUICE_HTTP_RETRYABLE : result;
}

unsigned sluice_http_unreadable_count(sluice_ctx *ctx, int readable)
{
    struct sluice_http_client *client = ctx ? client_get(ctx) : NULL;
    unsigned count;

    /* Without a client (out of memory) every answer counts as the first. */
    if (!client)
        return readable ? 0 : 1;
    pthread_mutex_lock(&client->lock);
    if (readable)
        client->unreadable_in_a_row = 0;
    else if (client->unreadable_in_a_row < UINT_MAX)
        client->unreadable_in_a_row++;
    count = client->unreadable_in_a_row;
    pthread_mutex_unlock(&client->lock);
    return count;
}

char *sluice_http_header_get(const sluice_http_response *resp, const char *name)
{
    if (!resp || !resp->headers || !name || !*name)
        return NULL;
    return header_find(resp->headers, name);
}

void sluice_http_response_clear(sluice_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof(*resp));
}

void sluice_http_throttle(sluice_ctx *ctx, const char *bucket, double rate, double burst)
{
    struct sluice_http_client *client;
    const sluice_stage_common *common;
    const char *name = bucket ? bucket : "default";

    if (!ctx)
        return;
    client = client_get(ctx);
    if (!client)
        return;
    common = common_of(ctx);
    /* The pipeline's explicit rate_limit for the stage beats a plugin's
     * built-in default for the same bucket. */
    if (strcmp(name, "default") == 0 && common && common->rate_limit > 0) {
        sluice_log_write(pipeline_of(ctx), stage_of(ctx), SLUICE_LOG_DEBUG,
                         "default HTTP bucket kept at the stage's rate_limit %.3g/s",
                         common->rate_limit);
        return;
    }
    sluice_throttle_configure(client->throttle, name, rate, burst);
}

int sluice_http_concurrency(sluice_ctx *ctx, int max_in_flight, int adaptive)
{
    struct sluice_http_client *client;
    const sluice_stage_common *common;
    sluice_http_gate *gate = NULL;
    int result = -1;

    if (!ctx || max_in_flight < 1 || max_in_flight > SLUICE_ARC_MAX)
        goto out;
    client = client_get(ctx);
    if (!client)
        goto out;
    common = common_of(ctx);
    gate = sluice_http_gate_new(max_in_flight, common ? common->rate_limit : 0, adaptive);
    if (!gate)
        goto out;
    pthread_mutex_lock(&client->lock);
    if (!client->gate) {
        client->gate = gate;
        gate = NULL;
        result = 0;
    }
    pthread_mutex_unlock(&client->lock);
    if (result == 0)
        sluice_http_gate_announce(client->gate, ctx);
out:
    sluice_http_gate_destroy(&gate);
    return result;
}
