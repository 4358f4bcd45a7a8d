/* test_http.c: unit tests of the SDK HTTP client (core/lib/http.c) against
 * a real libmicrohttpd server on 127.0.0.1, scripted per test: statuses,
 * Retry-After in both forms (and as the stage's hint once the client gives
 * up), 429 pausing a bucket, auth/reject without retry, transport errors,
 * token-bucket pacing, header lookup, stopping, and the progress hook (a
 * sink's heartbeat) while an answer, a backoff or a paused bucket takes
 * seconds. No test fails because the machine is busy: the delays the
 * client chose are read from its log ("retry N in S s"), waits are for
 * conditions, and measured times are asserted as lower bounds, or as upper
 * bounds far beyond any stall (60 s) where the wrong behaviour would wait
 * minutes. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "ctx.h"
#include "log.h"
#include "metrics.h"
#include "throttle.h"
#include "support/unit_httpd.h"
#include "support/unit_support.h"

#define MAX_REPLIES 8
#define MAX_ROUTES 4
#define MAX_SEEN 64

/* One scripted answer. header_value "DATE+N" means an HTTP-date N seconds
 * after the request. */
typedef struct reply {
    unsigned status;
    const char *header_name;
    const char *header_value;
    const char *body;
} reply;

/* Answers for one path, in order; the last one repeats. The first one is
 * given after first_delay_ms. */
typedef struct route {
    const char *path;
    reply replies[MAX_REPLIES];
    size_t reply_count;
    size_t served;
    unsigned first_delay_ms;
} route;

/* What the server saw of one request. */
typedef struct seen_request {
    char path[64];
    char method[16];
    char test_header[64];
    char body[256];
    double at; /* monotonic seconds when it arrived */
    double answered_at; /* monotonic seconds when its answer was queued */
} seen_request;

typedef struct test_server {
    struct MHD_Daemon *daemon;
    unsigned short port;
    pthread_mutex_t lock;
    route routes[MAX_ROUTES];
    size_t route_count;
    seen_request seen[MAX_SEEN];
    size_t seen_count;
} test_server;

/* Per-connection upload state. */
typedef struct upload {
    size_t index; /* into seen[] */
} upload;

static test_server server;
static volatile sig_atomic_t stop_flag;
static sluice_pipeline_def pipeline_def;
static sluice_stage_def stage_def;
static sluice_ctx ctx;

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    test_server *srv = cls;
    upload *up = *con_cls;
    reply chosen = {404, NULL, NULL, "no route"};
    unsigned delay_ms = 0;
    struct MHD_Response *response;
    enum MHD_Result ret;
    char date[64];

    (void)version;
    if (!up) {
        const char *test_header;
        up = calloc(1, sizeof(*up));
        if (!up)
            return MHD_NO;
        pthread_mutex_lock(&srv->lock);
        up->index = srv->seen_count < MAX_SEEN ? srv->seen_count++ : MAX_SEEN - 1;
        seen_request *seen = &srv->seen[up->index];
        memset(seen, 0, sizeof(*seen));
        snprintf(seen->path, sizeof(seen->path), "%s", url);
        snprintf(seen->method, sizeof(seen->method), "%s", method);
        test_header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Test");
        snprintf(seen->test_header, sizeof(seen->test_header), "%s",
                 test_header ? test_header : "");
        seen->at = sluice_monotonic_seconds();
        pthread_mutex_unlock(&srv->lock);
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        pthread_mutex_lock(&srv->lock);
        seen_request *seen = &srv->seen[up->index];
        size_t have = strlen(seen->body);
        size_t room = sizeof(seen->body) - 1 - have;
        size_t take = *upload_data_size < room ? *upload_data_size : room;
        memcpy(seen->body + have, upload_data, take);
        seen->body[have + take] = '\0';
        pthread_mutex_unlock(&srv->lock);
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->route_count; i++) {
        route *r = &srv->routes[i];
        if (strcmp(r->path, url) == 0) {
            size_t k = r->served < r->reply_count ? r->served : r->reply_count - 1;
            chosen = r->replies[k];
            delay_ms = r->served == 0 ? r->first_delay_ms : 0;
            r->served++;
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (delay_ms > 0)
        usleep(delay_ms * 1000u); /* a thread per connection: only this one waits */
    response = MHD_create_response_from_buffer(strlen(chosen.body), (void *)chosen.body,
                                               MHD_RESPMEM_PERSISTENT);
    if (chosen.header_name) {
        const char *value = chosen.header_value;
        char *end = NULL;
        long ahead = strncmp(value, "DATE+", 5) == 0 ? strtol(value + 5, &end, 10) : 0;
        if (end && *end == '\0' && ahead > 0) {
            time_t when = time(NULL) + ahead;
            struct tm tm;
            gmtime_r(&when, &tm);
            strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
            value = date;
        }
        MHD_add_response_header(response, chosen.header_name, value);
    }
    pthread_mutex_lock(&srv->lock);
    srv->seen[up->index].answered_at = sluice_monotonic_seconds();
    pthread_mutex_unlock(&srv->lock);
    ret = MHD_queue_response(connection, chosen.status, response);
    MHD_destroy_response(response);
    return ret;
}

static void request_done(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)connection;
    (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

/* Start the server on 127.0.0.1, port chosen by the kernel. */
static void server_start(void)
{
    server.daemon = unit_httpd_start(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                     answer, &server, request_done, &server.port);
}

/* Add a route with its scripted replies (terminated by status 0). */
static void server_route(const char *path, const reply *replies)
{
    route *r = &server.routes[server.route_count++];

    r->path = path;
    for (r->reply_count = 0; replies[r->reply_count].status != 0; r->reply_count++)
        r->replies[r->reply_count] = replies[r->reply_count];
}

/* server_route whose first answer is held delay_ms. */
static void server_route_delayed(const char *path, const reply *replies, unsigned delay_ms)
{
    server_route(path, replies);
    server.routes[server.route_count - 1].first_delay_ms = delay_ms;
}

static size_t server_seen_count(void)
{
    size_t count;

    pthread_mutex_lock(&server.lock);
    count = server.seen_count;
    pthread_mutex_unlock(&server.lock);
    return count;
}

static void url_for(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%u%s", (unsigned)server.port, path);
}

static void setup(void)
{
    memset(&server, 0, sizeof(server));
    pthread_mutex_init(&server.lock, NULL);
    server_start();
    unit_stage_setup(&pipeline_def, &stage_def, &ctx, &stop_flag, "test-stage", "none", 5, 2000);
    sluice_metrics_reset();
}

static void teardown(void)
{
    sluice_http_client_free(&ctx.http);
    if (server.daemon)
        MHD_stop_daemon(server.daemon);
    server.daemon = NULL;
    pthread_mutex_destroy(&server.lock);
}

/* A POST of a small JSON body with an X-Test header to `path`. */
static sluice_http_class post(const char *path, sluice_http_response *resp)
{
    char url[128];
    static const sluice_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"X-Test", "marker-123"},
    };
    sluice_http_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .header_count = 2,
        .body = "[{\"id\":1}]",
        .body_len = 10,
    };

    url_for(url, sizeof(url), path);
    return sluice_http(&ctx, &req, resp);
}

static double metric(const char *name)
{
    return sluice_metrics_get("test-pipeline", "test-stage", name);
}

/* stderr (where the client logs its retries) while captured, and the
 * real one to put back. */
static FILE *captured_stderr;
static int real_stderr = -1;

/* Send stderr to a temporary file until capture_stderr_end. */
static void capture_stderr_begin(void)
{
    fflush(stderr);
    captured_stderr = tmpfile();
    ck_assert_ptr_nonnull(captured_stderr);
    real_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(real_stderr, 0);
    ck_assert_int_ge(dup2(fileno(captured_stderr), STDERR_FILENO), 0);
}

/* Put stderr back; returns what was written meanwhile (a static buffer,
 * valid until the next call), copied to the real stderr as well. */
static const char *capture_stderr_end(void)
{
    static char text[8192];
    size_t n;

    fflush(stderr);
    dup2(real_stderr, STDERR_FILENO);
    close(real_stderr);
    real_stderr = -1;
    rewind(captured_stderr);
    n = fread(text, 1, sizeof(text) - 1, captured_stderr);
    text[n] = '\0';
    fclose(captured_stderr);
    captured_stderr = NULL;
    fputs(text, stderr);
    return text;
}

/* The delay the client logged for retry number `retry` ("retry N in S s"),
 * or -1 when it logged none. */
static double logged_delay(const char *log, int retry)
{
    char marker[32];
    const char *at;
    char *end = NULL;
    double seconds;

    snprintf(marker, sizeof(marker), "retry %d in ", retry);
    at = strstr(log, marker);
    if (!at)
        return -1;
    seconds = strtod(at + strlen(marker), &end);
    return end && end != at + strlen(marker) ? seconds : -1;
}

/* Sleep 10 ms: the poll interval of the waits below. */
static void poll_pause(void)
{
    struct timespec slice = {0, 10 * 1000000L};
    nanosleep(&slice, NULL);
}

START_TEST(ok_200_delivers_body_and_headers)
{
    static const reply script[] = {{200, "X-Reply", "yes", "{\"status\":\"OK\"}"}, {0}};
    sluice_http_response resp;

    server_route("/v2/push", script);
    ck_assert_int_eq(post("/v2/push", &resp), SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_str_eq(resp.body, "{\"status\":\"OK\"}");
    ck_assert_uint_eq(resp.body_len, strlen("{\"status\":\"OK\"}"));
    ck_assert_uint_eq(server_seen_count(), 1);
    ck_assert_str_eq(server.seen[0].method, "POST");
    ck_assert_str_eq(server.seen[0].test_header, "marker-123");
    ck_assert_str_eq(server.seen[0].body, "[{\"id\":1}]");
    ck_assert(metric("sluice_http_requests_total") == 1);
    ck_assert(metric("sluice_http_retries_total") == 0);
    sluice_http_response_clear(&resp);
    ck_assert_ptr_null(resp.body);
}
END_TEST

START_TEST(retries_503_with_backoff_then_succeeds)
{
    static const reply script[] = {{503, NULL, NULL, "busy"}, {503, NULL, NULL, "busy"},
                                   {200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;
    sluice_http_class result;
    double first_gap, second_gap, first_delay, second_delay;
    const char *log;

    server_route("/x", script);
    capture_stderr_begin();
    result = post("/x", &resp);
    log = capture_stderr_end();
    ck_assert_int_eq(result, SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(resp.attempts, 3);
    ck_assert_uint_eq(server_seen_count(), 3);
    /* Full jitter with a 50 ms floor: retry 1 within [0.05, 0.2] s, retry 2
     * within [0.05, 0.4] s, as logged (to 0.01 s)... */
    first_delay = logged_delay(log, 1);
    second_delay = logged_delay(log, 2);
    ck_assert_msg(first_delay >= 0.05 && first_delay <= 0.2, "retry 1 delay %.2f", first_delay);
    ck_assert_msg(second_delay >= 0.05 && second_delay <= 0.4, "retry 2 delay %.2f", second_delay);
    /* ... and waited for. */
    first_gap = server.seen[1].at - server.seen[0].at;
    second_gap = server.seen[2].at - server.seen[1].at;
    ck_assert_msg(first_gap >= first_delay - 0.006 && first_gap < 60, "first gap %.3f", first_gap);
    ck_assert_msg(second_gap >= second_delay - 0.006 && second_gap < 60, "second gap %.3f",
                  second_gap);
    ck_assert(metric("sluice_http_requests_total") == 3);
    ck_assert(metric("sluice_http_retries_total") == 2);
    sluice_http_response_clear(&resp);
}
END_TEST

/* The runner's progress hook (a sink's heartbeat upstream) is called after
 * every finished attempt, failed ones included (a sink retrying through a
 * long batch is alive), and while it waits. The tests count the calls made
 * inside a wait (between two moments the server saw), not the longest gap
 * between calls: a busy machine stretches gaps, it cannot move a call out
 * of the wait it was made in. */
#define PROGRESS_MAX 4096
static int progress_calls;
static double progress_times[PROGRESS_MAX]; /* monotonic seconds of each call */

static void count_progress(sluice_ctx *c)
{
    ck_assert_ptr_eq(c, &ctx);
    if (progress_calls < PROGRESS_MAX)
        progress_times[progress_calls] = sluice_monotonic_seconds();
    progress_calls++;
}

/* Record progress calls from now on. */
static void progress_start(void)
{
    progress_calls = 0;
    ctx.progress = count_progress;
}

static void progress_stop(void)
{
    ctx.progress = NULL;
}

/* How many recorded progress calls fall strictly between `from` and `to`
 * (monotonic seconds). */
static int progress_between(double from, double to)
{
    int count = 0;

    for (int i = 0; i < progress_calls && i < PROGRESS_MAX; i++)
        count += progress_times[i] > from && progress_times[i] < to;
    return count;
}

START_TEST(progress_hook_runs_after_each_attempt)
{
    static const reply script[] = {{503, NULL, NULL, "busy"}, {200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;

    server_route("/x", script);
    progress_start();
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_SUCCESS);
    progress_stop();
    ck_assert_int_eq(resp.attempts, 2);
    ck_assert_int_ge(progress_calls, 2);
    sluice_http_response_clear(&resp);
}
END_TEST

/* A server that keeps silent for 3.5 s: the hook still runs during the
 * attempt (curl's progress callback, about once a second), so a sink is
 * not taken for dead by a source whose ack timeout is shorter than one
 * attempt. (Before, it ran only once the attempt was over: no call while
 * the server held the answer.) */
START_TEST(progress_hook_runs_while_an_answer_takes_seconds)
{
    static const reply script[] = {{200, NULL, NULL, "late"}, {0}};
    sluice_http_response resp;
    int held;

    server_route_delayed("/x", script, 3500);
    progress_start();
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_SUCCESS);
    progress_stop();
    ck_assert_str_eq(resp.body, "late");
    held = progress_between(server.seen[0].at, server.seen[0].answered_at);
    ck_assert_msg(held >= 1, "no progress call in the %.2f s the answer was held (%d calls in all)",
                  server.seen[0].answered_at - server.seen[0].at, progress_calls);
    sluice_http_response_clear(&resp);
}
END_TEST

/* The waits between attempts report progress too: a backoff stretched by
 * Retry-After, and a bucket paused by a 429. */
START_TEST(progress_hook_runs_during_backoff_and_pause)
{
    static const reply down[] = {{503, "Retry-After", "2", "down"}, {200, NULL, NULL, "ok"}, {0}};
    static const reply limited[] = {{429, "Retry-After", "2", "slow"}, {200, NULL, NULL, "ok"},
                                    {0}};
    sluice_http_response resp;
    int waiting;

    /* Between an answer and the next attempt the client calls the hook once
     * after the attempt, and then while it waits: more than once in all
     * (before, exactly once). */
    server_route("/down", down);
    server_route("/limited", limited);
    progress_start();
    ck_assert_int_eq(post("/down", &resp), SLUICE_HTTP_SUCCESS);
    progress_stop();
    ck_assert_int_eq(resp.attempts, 2);
    ck_assert_uint_eq(server_seen_count(), 2);
    waiting = progress_between(server.seen[0].answered_at, server.seen[1].at);
    ck_assert_msg(waiting >= 2, "%d progress calls in a %.2f s backoff", waiting,
                  server.seen[1].at - server.seen[0].answered_at);
    sluice_http_response_clear(&resp);
    progress_start();
    ck_assert_int_eq(post("/limited", &resp), SLUICE_HTTP_SUCCESS);
    progress_stop();
    ck_assert_int_eq(resp.attempts, 2);
    ck_assert_uint_eq(server_seen_count(), 4);
    waiting = progress_between(server.seen[2].answered_at, server.seen[3].at);
    ck_assert_msg(waiting >= 2, "%d progress calls in a %.2f s pause", waiting,
                  server.seen[3].at - server.seen[2].answered_at);
    sluice_http_response_clear(&resp);
}
END_TEST

/* When the client gives up on a retryable answer, the server's Retry-After
 * (either form) becomes the stage's retry hint, so the core's retry of the
 * batch waits too; without one, no hint. */
START_TEST(retry_after_becomes_the_hint_when_giving_up)
{
    static const reply seconds[] = {{503, "Retry-After", "4", "down"}, {0}};
    /* ten minutes ahead: the hint is the date less the time the answer
     * took to be read, which a busy machine stretches by seconds */
    static const reply date[] = {{429, "Retry-After", "DATE+600", "slow"}, {0}};
    static const reply plain[] = {{503, NULL, NULL, "down"}, {0}};
    sluice_http_response resp;

    server_route("/seconds", seconds);
    server_route("/date", date);
    server_route("/plain", plain);
    stage_def.common.http_max_attempts = 1;
    ck_assert_int_eq(post("/plain", &resp), SLUICE_HTTP_RETRYABLE);
    ck_assert(ctx.retry_after == 0);
    sluice_http_response_clear(&resp);
    ck_assert_int_eq(post("/seconds", &resp), SLUICE_HTTP_RETRYABLE);
    ck_assert_msg(ctx.retry_after == 4.0, "hint %.2f", ctx.retry_after);
    sluice_http_response_clear(&resp);
    ctx.retry_after = 0;
    ck_assert_int_eq(post("/date", &resp), SLUICE_HTTP_RETRYABLE);
    ck_assert_msg(ctx.retry_after >= 540.0 && ctx.retry_after <= 600.0, "hint %.2f",
                  ctx.retry_after);
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(retry_after_seconds_is_honoured)
{
    static const reply script[] = {{429, "Retry-After", "1", "slow down"},
                                   {200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;
    sluice_http_class result;
    double gap, delay;
    const char *log;

    server_route("/x", script);
    capture_stderr_begin();
    result = post("/x", &resp);
    log = capture_stderr_end();
    ck_assert_int_eq(result, SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(resp.attempts, 2);
    /* the hint, not more (the backoff of retry 1 is at most 0.2 s) */
    delay = logged_delay(log, 1);
    ck_assert_msg(delay == 1.0, "chose %.2f s for Retry-After: 1", delay);
    gap = server.seen[1].at - server.seen[0].at;
    ck_assert_msg(gap >= 1.0 && gap < 60, "waited %.3f s for Retry-After: 1", gap);
    ck_assert(metric("sluice_http_429_total") == 1);
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(retry_after_http_date_is_honoured)
{
    /* HTTP dates have 1 s resolution: "now + 2 s" is at least 1 s away. */
    static const reply script[] = {{503, "Retry-After", "DATE+2", "maintenance"},
                                   {200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;
    sluice_http_class result;
    double gap, delay;
    const char *log;

    server_route("/x", script);
    capture_stderr_begin();
    result = post("/x", &resp);
    log = capture_stderr_end();
    ck_assert_int_eq(result, SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(resp.attempts, 2);
    /* until the date, not longer: at most 2 s after the answer was made */
    delay = logged_delay(log, 1);
    ck_assert_msg(delay >= 0 && delay <= 2.0, "chose %.2f s for a date 2 s ahead", delay);
    /* the date lies more than 1 s after the first request arrived */
    gap = server.seen[1].at - server.seen[0].at;
    ck_assert_msg(gap >= 1.0 && gap < 60, "waited %.3f s for a date 2 s ahead", gap);
    sluice_http_response_clear(&resp);
}
END_TEST

typedef struct async_post {
    const char *path;
    sluice_http_response resp;
    sluice_http_class result;
    pid_t tid; /* the posting thread, once it runs (else 0) */
} async_post;

static void *post_thread(void *arg)
{
    async_post *job = arg;

    __atomic_store_n(&job->tid, unit_thread_id(), __ATOMIC_RELEASE);
    job->result = post(job->path, &job->resp);
    return NULL;
}

START_TEST(a_429_pauses_the_whole_bucket)
{
    static const reply limited[] = {{429, "Retry-After", "1", "too many"},
                                    {200, NULL, NULL, "ok"}, {0}};
    static const reply free_path[] = {{200, NULL, NULL, "ok"}, {0}};
    async_post first = {.path = "/limited"};
    sluice_http_response second;
    pthread_t thread;
    double deadline = sluice_monotonic_seconds() + 60;
    double paused_at;
    size_t second_index;
    long switches;

    server_route("/limited", limited);
    server_route("/free", free_path);
    ck_assert_int_eq(pthread_create(&thread, NULL, post_thread, &first), 0);
    /* Wait until the 429 is back and the bucket paused: the client counts
     * the retry, pauses the bucket, then sleeps in the bucket's wait; so
     * once the retry is counted, the thread's next sleep is in that wait. */
    while (metric("sluice_http_retries_total") < 1 && sluice_monotonic_seconds() < deadline)
        poll_pause();
    ck_assert_msg(metric("sluice_http_retries_total") == 1, "the 429 was not retried in 60 s");
    switches = unit_voluntary_switches(__atomic_load_n(&first.tid, __ATOMIC_ACQUIRE));
    ck_assert_int_ge(switches, 0);
    while (unit_voluntary_switches(first.tid) == switches && sluice_monotonic_seconds() < deadline)
        poll_pause();
    ck_assert_msg(unit_voluntary_switches(first.tid) > switches, "the retry never waited");
    ck_assert_uint_eq(server_seen_count(), 1);
    paused_at = server.seen[0].at;
    /* Same bucket ("default"), another path that would answer 200 at once:
     * it must still wait for the pause. */
    ck_assert_int_eq(post("/free", &second), SLUICE_HTTP_SUCCESS);
    pthread_join(thread, NULL);
    ck_assert_int_eq(first.result, SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(first.resp.attempts, 2);
    ck_assert_int_eq(second.attempts, 1);
    ck_assert_uint_eq(server_seen_count(), 3);
    second_index = strcmp(server.seen[1].path, "/free") == 0 ? 1 : 2;
    ck_assert_str_eq(server.seen[second_index].path, "/free");
    ck_assert_msg(server.seen[second_index].at - paused_at >= 0.95,
                  "second request went out %.3f s after the 429",
                  server.seen[second_index].at - paused_at);
    sluice_http_response_clear(&first.resp);
    sluice_http_response_clear(&second);
}
END_TEST

START_TEST(bad_request_is_rejected_without_retry)
{
    static const reply script[] = {{400, NULL, NULL, "{\"error\":\"bad field\"}"}, {0}};
    sluice_http_response resp;

    server_route("/x", script);
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_REJECTED);
    ck_assert_int_eq(resp.status, 400);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_uint_eq(server_seen_count(), 1);
    ck_assert_str_eq(resp.body, "{\"error\":\"bad field\"}");
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(unauthorized_is_auth_without_retry)
{
    static const reply script[] = {{401, NULL, NULL, "bad key"}, {0}};
    static const reply forbidden[] = {{403, NULL, NULL, "not allowed"}, {0}};
    sluice_http_response resp;

    server_route("/x", script);
    server_route("/y", forbidden);
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_AUTH);
    ck_assert_int_eq(resp.status, 401);
    ck_assert_int_eq(resp.attempts, 1);
    sluice_http_response_clear(&resp);
    ck_assert_int_eq(post("/y", &resp), SLUICE_HTTP_AUTH);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_uint_eq(server_seen_count(), 2);
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(connection_refused_is_retried_until_max_attempts)
{
    sluice_http_response resp;
    sluice_http_request req = {.method = "GET"};
    char url[128];
    double started;

    /* Stop the server: its port is now closed. */
    MHD_stop_daemon(server.daemon);
    server.daemon = NULL;
    url_for(url, sizeof(url), "/gone");
    req.url = url;
    req.max_attempts = 3;
    started = sluice_monotonic_seconds();
    ck_assert_int_eq(sluice_http(&ctx, &req, &resp), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(resp.status, 0);
    ck_assert_int_eq(resp.attempts, 3);
    ck_assert_msg(resp.error[0] != '\0', "a transport error says what failed");
    ck_assert(sluice_monotonic_seconds() - started < 60);
    ck_assert(metric("sluice_http_requests_total") == 3);
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(token_bucket_paces_requests)
{
    static const reply script[] = {{200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;
    double started, elapsed;

    server_route("/x", script);
    /* 7 requests at 10/s with a burst of 2: about (7 - 2) / 10 = 0.5 s. */
    sluice_http_throttle(&ctx, "default", 10, 2);
    started = sluice_monotonic_seconds();
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_SUCCESS);
        sluice_http_response_clear(&resp);
    }
    elapsed = sluice_monotonic_seconds() - started;
    ck_assert_msg(elapsed >= 0.4 && elapsed < 60, "7 requests took %.3f s", elapsed);
}
END_TEST

START_TEST(stage_rate_limit_beats_plugin_default)
{
    static const reply script[] = {{200, NULL, NULL, "ok"}, {0}};
    sluice_http_response resp;
    double started, elapsed;

    server_route("/x", script);
    stage_def.common.rate_limit = 100;
    stage_def.common.burst = 5;
    /* A plugin asking for one request per 10 minutes must not slow down a
     * stage set to 100/s (its rate would hold the 2nd request 10 minutes). */
    sluice_http_throttle(&ctx, "default", 1.0 / 600, 1);
    started = sluice_monotonic_seconds();
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_SUCCESS);
        sluice_http_response_clear(&resp);
    }
    elapsed = sluice_monotonic_seconds() - started;
    ck_assert_msg(elapsed < 60, "5 requests took %.3f s", elapsed);
}
END_TEST

START_TEST(header_lookup_is_case_insensitive)
{
    static const reply script[] = {{200, "X-Custom-Thing", "Value 1", "ok"}, {0}};
    sluice_http_response resp;
    char *value;

    server_route("/x", script);
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_SUCCESS);
    value = sluice_http_header_get(&resp, "x-custom-thing");
    ck_assert_ptr_nonnull(value);
    ck_assert_str_eq(value, "Value 1");
    free(value);
    value = sluice_http_header_get(&resp, "X-CUSTOM-THING");
    ck_assert_ptr_nonnull(value);
    ck_assert_str_eq(value, "Value 1");
    free(value);
    ck_assert_ptr_null(sluice_http_header_get(&resp, "X-Custom"));
    ck_assert_ptr_null(sluice_http_header_get(&resp, "Missing"));
    sluice_http_response_clear(&resp);
}
END_TEST

/* Raise stop_flag once the server has seen the request (a fixed delay
 * could fire before a descheduled client even sent it). */
static void *stop_after_the_request(void *arg)
{
    double deadline = sluice_monotonic_seconds() + 60;

    (void)arg;
    while (server_seen_count() < 1 && sluice_monotonic_seconds() < deadline)
        poll_pause();
    stop_flag = 1;
    return NULL;
}

START_TEST(stopping_interrupts_endless_retries)
{
    /* an hour's wait (the longest Retry-After honoured): only stopping can
     * end it within the test */
    static const reply script[] = {{503, "Retry-After", "3600", "down"}, {0}};
    sluice_http_response resp;
    pthread_t stopper;
    double started, elapsed;

    server_route("/x", script);
    stage_def.common.http_max_attempts = 0; /* until stopping */
    ck_assert_int_eq(pthread_create(&stopper, NULL, stop_after_the_request, NULL), 0);
    started = sluice_monotonic_seconds();
    ck_assert_int_eq(post("/x", &resp), SLUICE_HTTP_RETRYABLE);
    elapsed = sluice_monotonic_seconds() - started;
    pthread_join(stopper, NULL);
    ck_assert_int_eq(resp.status, 503);
    ck_assert_int_eq(resp.attempts, 1);
    ck_assert_msg(elapsed < 60, "stopping took %.3f s to interrupt an hour's wait", elapsed);
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(header_with_a_line_break_is_refused_unsent)
{
    static const reply script[] = {{200, NULL, NULL, "ok"}, {0}};
    static const sluice_http_header headers[] = {{"X-Api-Key", "secret-value\r\nX-Evil: 1"}};
    sluice_http_response resp;
    sluice_http_request req = {.method = "GET", .headers = headers, .header_count = 1};
    char url[128];

    server_route("/x", script);
    url_for(url, sizeof(url), "/x");
    req.url = url;
    ck_assert_int_eq(sluice_http(&ctx, &req, &resp), SLUICE_HTTP_REJECTED);
    ck_assert_int_eq(resp.attempts, 0);
    ck_assert_int_eq(resp.status, 0);
    ck_assert_uint_eq(server_seen_count(), 0);
    ck_assert_ptr_nonnull(strstr(resp.error, "X-Api-Key"));
    ck_assert_ptr_null(strstr(resp.error, "secret-value"));
    sluice_http_response_clear(&resp);
}
END_TEST

START_TEST(classification_follows_the_policy)
{
    ck_assert_int_eq(sluice_http_classify(200), SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(sluice_http_classify(204), SLUICE_HTTP_SUCCESS);
    ck_assert_int_eq(sluice_http_classify(0), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(sluice_http_classify(408), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(sluice_http_classify(429), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(sluice_http_classify(500), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(sluice_http_classify(503), SLUICE_HTTP_RETRYABLE);
    ck_assert_int_eq(sluice_http_classify(401), SLUICE_HTTP_AUTH);
    ck_assert_int_eq(sluice_http_classify(403), SLUICE_HTTP_AUTH);
    ck_assert_int_eq(sluice_http_classify(400), SLUICE_HTTP_REJECTED);
    ck_assert_int_eq(sluice_http_classify(404), SLUICE_HTTP_REJECTED);
    ck_assert_int_eq(sluice_http_classify(413), SLUICE_HTTP_REJECTED);
}
END_TEST

START_TEST(sdk_accessors_read_the_context)
{
    json_t *snapshot;

    ck_assert_str_eq(sluice_stage_name(&ctx), "test-stage");
    ck_assert_str_eq(sluice_pipeline_name(&ctx), "test-pipeline");
    ck_assert_str_eq(sluice_state_dir(&ctx), "/tmp");
    ck_assert_int_eq(sluice_run_once(&ctx), 0);
    ctx.once = 1;
    ck_assert_int_eq(sluice_run_once(&ctx), 1);
    ck_assert_int_eq(sluice_stopping(&ctx), 0);
    stop_flag = 1;
    ck_assert_int_eq(sluice_stopping(&ctx), 1);
    sluice_fail(&ctx, "API key rejected (HTTP %d)", 401);
    ck_assert_str_eq(ctx.fail_message, "API key rejected (HTTP 401)");
    sluice_retry_after(&ctx, 2.5);
    sluice_retry_after(&ctx, 1.0);
    ck_assert(ctx.retry_after == 2.5);
    sluice_metric_add(&ctx, "contacts_sent", 3);
    sluice_metric_add(&ctx, "contacts_sent", 2);
    ck_assert(metric("sluice_plugin_contacts_sent_total") == 5);
    snapshot = sluice_metrics_snapshot();
    ck_assert_ptr_nonnull(snapshot);
    ck_assert_uint_eq(json_array_size(snapshot), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(snapshot, 0), "stage")),
                     "test-stage");
    json_decref(snapshot);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *suite = suite_create("http");
    TCase *tc = tcase_create("client");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, ok_200_delivers_body_and_headers);
    tcase_add_test(tc, retries_503_with_backoff_then_succeeds);
    tcase_add_test(tc, progress_hook_runs_after_each_attempt);
    tcase_add_test(tc, progress_hook_runs_while_an_answer_takes_seconds);
    tcase_add_test(tc, progress_hook_runs_during_backoff_and_pause);
    tcase_add_test(tc, retry_after_becomes_the_hint_when_giving_up);
    tcase_add_test(tc, retry_after_seconds_is_honoured);
    tcase_add_test(tc, retry_after_http_date_is_honoured);
    tcase_add_test(tc, a_429_pauses_the_whole_bucket);
    tcase_add_test(tc, bad_request_is_rejected_without_retry);
    tcase_add_test(tc, unauthorized_is_auth_without_retry);
    tcase_add_test(tc, connection_refused_is_retried_until_max_attempts);
    tcase_add_test(tc, token_bucket_paces_requests);
    tcase_add_test(tc, stage_rate_limit_beats_plugin_default);
    tcase_add_test(tc, header_lookup_is_case_insensitive);
    tcase_add_test(tc, stopping_interrupts_endless_retries);
    tcase_add_test(tc, header_with_a_line_break_is_refused_unsent);
    tcase_add_test(tc, classification_follows_the_policy);
    tcase_add_test(tc, sdk_accessors_read_the_context);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(http_suite());
    int failed;

    sluice_log_setup(SLUICE_LOG_INFO, SLUICE_LOG_FORMAT_TEXT);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
