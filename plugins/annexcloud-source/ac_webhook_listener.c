/* ac_webhook_listener.c: the webhook listener of annexcloud-source (see
 * ac_webhook_listener.h for what it guarantees). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "ac_webhook_auth.h"
#include "ac_erase.h"
#include "ac_webhook_listener.h"
#include "ac_webhook_payload.h"
#include "util/dynbuf.h"

/* Log lines of one kind allowed per window; the rest are counted and the
 * next allowed line says how many were left out. */
#define LOG_WINDOW_S 10
#define LOG_LINES_PER_WINDOW 5
/* Retry-After of a 503, seconds. */
#define RETRY_AFTER_S "5"

/* A log line kind with its own allowance. */
typedef struct log_limit {
    time_t window_start;
    unsigned int lines;
    unsigned long long suppressed;
} log_limit;

/* One open connection, from accept to close (registry entry). */
typedef struct conn_entry {
    struct conn_entry *prev, *next;
    int fd;
    struct timespec deadline; /* monotonic: the request must be complete by then */
    int suspended;            /* waiting for the spool: not reaped */
    int reaped;               /* already shut down by the reaper */
} conn_entry;

struct ac_listener {
    sluice_ctx *ctx;
    ac_listener_config config; /* strings below owned */
    size_t basic_auth_len;
    ac_spool_writer *writer;   /* borrowed */
    struct MHD_Daemon *daemon;
    unsigned int port;

    pthread_mutex_t lock;      /* registry, budget, log limits, idle time */
    pthread_cond_t changed;    /* reaper wake-up; a suspended request answered */
    conn_entry *head, *tail;
    unsigned int suspended;    /* requests waiting for the spool */
    size_t budget_used;
    unsigned long long unavailable;  /* 503s answered */
    log_limit mhd_log, refused_log, unavailable_log, reaped_log;
    struct timespec last_request;
    int stopping;
    pthread_t reaper;
    int reaper_started;
};

/* One request as it arrives. */
typedef struct webhook_request {
    ac_listener *listener;
    struct MHD_Connection *connection;
    conn_entry *entry;         /* the connection's registry entry, or NULL */
    dynbuf body;               /* the body so far (limit max_body) */
    size_t reserved;           /* bytes of the body budget held: the body's
                                  room (its capacity but the NUL) */
    int too_large;             /* over max_body: the rest is discarded */
    int over_budget;           /* the body budget ran out */
    int spooling;              /* suspended, handed to the writer */
    int spooled;               /* the writer answered: outcome below */
    ac_spool_outcome outcome;
    char detail[160];
} webhook_request;

/* Monotonic now + ms into *out. */
static void deadline_in(long ms, struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

/* 1 if monotonic `now` is at or past `deadline`. */
static int past(const struct timespec *now, const struct timespec *deadline)
{
    return now->tv_sec > deadline->tv_sec || (now->tv_sec == deadline->tv_sec && now->tv_nsec >= deadline->tv_nsec);
}

/* Whether a line of kind `limit` may be logged now (under listener->lock).
 * Returns 1 and sets *suppressed to the lines left out since the last one
 * logged, or 0 (the line is counted as left out). */
static int log_allowed(log_limit *limit, unsigned long long *suppressed)
{
    time_t now = time(NULL);

    if (now - limit->window_start >= LOG_WINDOW_S) {
        limit->window_start = now;
        limit->lines = 0;
    }
    if (limit->lines >= LOG_LINES_PER_WINDOW) {
        limit->suppressed++;
        return 0;
    }
    limit->lines++;
    *suppressed = limit->suppressed;
    limit->suppressed = 0;
    return 1;
}

/* Log a warning of kind `limit` unless its allowance is used up. */
static void warn_limited(ac_listener *listener, log_limit *limit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_limited(ac_listener *listener, log_limit *limit, const char *fmt, ...)
{
    unsigned long long suppressed = 0;
    char line[1024];
    va_list ap;
    int allowed;

    pthread_mutex_lock(&listener->lock);
    allowed = log_allowed(limit, &suppressed);
    pthread_mutex_unlock(&listener->lock);
    if (!allowed)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (suppressed)
        sluice_log(listener->ctx, SLUICE_LOG_WARN, "%s (%llu similar lines left out)", line, suppressed);
    else
        sluice_log(listener->ctx, SLUICE_LOG_WARN, "%s", line);
}

/* libmicrohttpd's messages (refused connections, limits reached, TLS
 * errors) into the JSON log, rate-limited. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    ac_listener *listener = cls;
    char message[512];
    size_t len;

    vsnprintf(message, sizeof(message), fmt, ap);
    len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r' || message[len - 1] == ' '))
        message[--len] = '\0';
    warn_limited(listener, &listener->mhd_log, "webhook listener (libmicrohttpd): %s", message);
}

/* Queue a JSON answer {"status"|"error": what}. Returns MHD_YES/MHD_NO. */
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
    if (status == 503)
        MHD_add_response_header(response, "Retry-After", RETRY_AFTER_S);
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/* Take `bytes` from the shared body budget. Returns 1, or 0 if that would
 * pass body_budget (nothing taken). */
static int budget_take(ac_listener *listener, size_t bytes)
{
    int ok;

    pthread_mutex_lock(&listener->lock);
    ok = bytes <= listener->config.body_budget - listener->budget_used;
    if (ok)
        listener->budget_used += bytes;
    pthread_mutex_unlock(&listener->lock);
    return ok;
}

/* Give `bytes` back to the shared body budget. */
static void budget_give(ac_listener *listener, size_t bytes)
{
    pthread_mutex_lock(&listener->lock);
    listener->budget_used -= bytes < listener->budget_used ? bytes : listener->budget_used;
    pthread_mutex_unlock(&listener->lock);
}

/* Answer 503 for `why`, counted and logged (rate-limited). */
static enum MHD_Result reply_unavailable(webhook_request *request, const char *why)
{
    ac_listener *listener = request->listener;
    unsigned long long total;

    pthread_mutex_lock(&listener->lock);
    total = ++listener->unavailable;
    pthread_mutex_unlock(&listener->lock);
    sluice_metric_add(listener->ctx, "webhooks_unavailable", 1);
    warn_limited(listener, &listener->unavailable_log, "webhook answered 503 (the sender retries): %s (%llu so far)",
                 why, total);
    return reply(request->connection, 503, why);
}

/* Answer 401, counted and logged (rate-limited). */
static enum MHD_Result reply_unauthorized(webhook_request *request, const char *why)
{
    ac_listener *listener = request->listener;

    sluice_metric_add(listener->ctx, "webhooks_unauthorized", 1);
    warn_limited(listener, &listener->refused_log, "webhook refused (401): %s", why);
    return reply(request->connection, 401, "bad signature or credentials");
}

/* The header pass: decide what can be decided before a body is read, and
 * reserve the body's room. Returns MHD_YES to go on reading (no answer
 * queued), or the result of queueing the answer. */
static enum MHD_Result on_headers(webhook_request *request, const char *method)
{
    ac_listener *listener = request->listener;
    struct MHD_Connection *connection = request->connection;
    const char *length_text;

    if (strcmp(method, "POST") != 0)
        return reply(connection, 405, "only POST is accepted");
    if (listener->config.basic_auth &&
        !ac_basic_auth_matches(MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                               listener->config.basic_auth, listener->basic_auth_len))
        return reply_unauthorized(request, "basic auth missing or wrong");
    if (listener->config.secret &&
        !ac_signature_wellformed(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                             listener->config.signature_header)))
        return reply_unauthorized(request, "signature header missing or malformed");
    length_text = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length_text) {
        char *end = NULL;
        unsigned long long length;

        errno = 0;
        length = strtoull(length_text, &end, 10);
        if (errno || !end || end == length_text || *end || length > listener->config.max_body) {
            sluice_metric_add(listener->ctx, "webhooks_too_large", 1);
            return reply(connection, 413, "body larger than max_body");
        }
        if (!budget_take(listener, (size_t)length))
            return reply_unavailable(request, "too many bodies being received at once (body_budget)");
        request->reserved = (size_t)length;
        if (dynbuf_reserve(&request->body, (size_t)length) != 0)
            return reply_unavailable(request, "out of memory");
    }
    return MHD_YES;
}

/* Take `size` more body bytes (from a chunked or a declared body). */
static void on_body_data(webhook_request *request, const char *data, size_t size)
{
    ac_listener *listener = request->listener;

    if (request->too_large || request->over_budget)
        return;
    if (request->body.len + size > listener->config.max_body) {
        request->too_large = 1;
        return;
    }
    if (request->body.len + size > request->reserved) {
        size_t want = request->reserved ? request->reserved * 2 : 4096;

        if (want < request->body.len + size)
            want = request->body.len + size;
        if (want > listener->config.max_body)
            want = listener->config.max_body;
        if (!budget_take(listener, want - request->reserved)) {
            request->over_budget = 1;
            return;
        }
        request->reserved = want;
        /* the room the budget now covers, so the append below cannot fail */
        if (dynbuf_reserve(&request->body, want - request->body.len) != 0) {
            request->over_budget = 1;
            return;
        }
    }
    dynbuf_append(&request->body, data, size);
}

/* The writer's answer for a suspended request (writer's threads). */
static void on_spooled(void *arg, ac_spool_outcome outcome, const char *detail)
{
    webhook_request *request = arg;
    ac_listener *listener = request->listener;
    struct MHD_Connection *connection = request->connection;

    request->outcome = outcome;
    snprintf(request->detail, sizeof(request->detail), "%s", detail ? detail : "");
    if (outcome == AC_SPOOL_STORED && listener->config.spooled)
        listener->config.spooled(listener->config.spooled_arg);
    if (outcome == AC_SPOOL_STORED && listener->config.wake_fd >= 0) {
        /* committed: the source's poll() finds it now (EAGAIN: the counter
         * is full, the fd readable anyway) */
        const uint64_t one = 1;
        if (write(listener->config.wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            sluice_log(listener->ctx, SLUICE_LOG_DEBUG, "cannot wake the source: %s",
                       strerror(errno));
    }
    request->spooled = 1;
    pthread_mutex_lock(&listener->lock);
    if (request->entry)
        request->entry->suspended = 0;
    listener->suspended--;
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
    /* Last: from here on the connection's thread owns the request again. */
    MHD_resume_connection(connection);
}

/* The answer once the writer has spoken. */
static enum MHD_Result on_spool_outcome(webhook_request *request)
{
    ac_listener *listener = request->listener;
    char why[256];

    switch (request->outcome) {
    case AC_SPOOL_STORED:
        sluice_metric_add(listener->ctx, "webhooks_accepted", 1);
        return reply(request->connection, 200, "accepted");
    case AC_SPOOL_DUPLICATE:
        sluice_metric_add(listener->ctx, "webhooks_duplicate", 1);
        return reply(request->connection, 200, "duplicate delivery: already accepted");
    case AC_SPOOL_FULL:
        sluice_metric_add(listener->ctx, "webhooks_spool_full", 1);
        snprintf(why, sizeof(why), "cannot write the spool: disk full (%s)", request->detail);
        return reply_unavailable(request, why);
    case AC_SPOOL_BUSY:
        snprintf(why, sizeof(why), "spool busy: not committed within spool_wait_ms = %ld (%s)",
                 listener->config.spool_wait_ms, request->detail);
        return reply_unavailable(request, why);
    default:
        snprintf(why, sizeof(why), "cannot write the spool (%s)", request->detail);
        return reply_unavailable(request, why);
    }
}

/* The body is complete: authenticate it, validate it, hand it to the
 * writer (the connection waits suspended) or answer. */
static enum MHD_Result on_complete_body(webhook_request *request)
{
    ac_listener *listener = request->listener;
    json_error_t error;
    json_t *payload = NULL;
    const char *refusal;
    char reason[300], *body;
    size_t body_len;
    enum MHD_Result result = MHD_YES;

    if (request->too_large) {
        sluice_metric_add(listener->ctx, "webhooks_too_large", 1);
        return reply(request->connection, 413, "body larger than max_body");
    }
    if (request->over_budget)
        return reply_unavailable(request, "too many bodies being received at once (body_budget)");
    if (listener->config.secret &&
        !ac_signature_matches(MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                          listener->config.signature_header),
                              listener->config.secret, request->body.data, request->body.len))
        return reply_unauthorized(request, "bad signature");
    payload = json_loadb(request->body.data ? request->body.data : "", request->body.len, 0, &error);
    /* an erasure needs no loyalty data: only the member id */
    refusal = ac_webhook_refusal(payload, listener->config.can_enrich ||
                                              ac_erase_type_listed(listener->config.erase_types,
                                                                   payload));
    if (refusal) {
        if (!payload)
            snprintf(reason, sizeof(reason), "body is not a JSON object: %s", error.text);
        else
            snprintf(reason, sizeof(reason), "%s", refusal);
        sluice_metric_add(listener->ctx, "webhooks_malformed", 1);
        warn_limited(listener, &listener->refused_log, "webhook refused (400): %s", reason);
        result = reply(request->connection, 400, reason);
        goto out;
    }
    pthread_mutex_lock(&listener->lock);
    clock_gettime(CLOCK_MONOTONIC, &listener->last_request);
    if (request->entry)
        request->entry->suspended = 1;
    listener->suspended++;
    pthread_mutex_unlock(&listener->lock);
    request->spooling = 1;
    body_len = request->body.len;
    body = dynbuf_steal(&request->body);
    MHD_suspend_connection(request->connection);
    if (ac_spool_writer_submit(listener->writer, ac_webhook_event_id(payload), body, body_len,
                               listener->config.spool_wait_ms, on_spooled, request) != 0)
        on_spooled(request, AC_SPOOL_FAILED, "cannot queue the spool write");
out:
    json_decref(payload);
    return result;
}

/* libmicrohttpd's access handler: the header pass on the first call, body
 * data on the next ones, the judgement once the body is complete, and the
 * answer after the writer resumed the connection. Returns MHD_YES, or
 * MHD_NO to have libmicrohttpd close the connection (out of memory). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ac_listener *listener = cls;
    webhook_request *request = *con_cls;

    (void)url;
    (void)version;
    if (!request) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        request = calloc(1, sizeof(*request));
        if (!request)
            return MHD_NO;
        *con_cls = request;
        request->listener = listener;
        request->connection = connection;
        dynbuf_init(&request->body, listener->config.max_body);
        request->entry = info ? info->socket_context : NULL;
        pthread_mutex_lock(&listener->lock);
        clock_gettime(CLOCK_MONOTONIC, &listener->last_request);
        pthread_mutex_unlock(&listener->lock);
        return on_headers(request, method);
    }
    if (request->spooled)
        return on_spool_outcome(request);
    if (request->spooling)
        return MHD_YES;
    if (*upload_data_size > 0) {
        on_body_data(request, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return on_complete_body(request);
}

/* A request ended (answered, or the connection went away): free it and
 * give its connection a fresh deadline for the next request. */
static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    ac_listener *listener = cls;
    webhook_request *request = *con_cls;

    (void)connection;
    (void)code;
    if (!request)
        return;
    pthread_mutex_lock(&listener->lock);
    if (request->entry)
        deadline_in(listener->config.request_timeout_ms, &request->entry->deadline);
    pthread_mutex_unlock(&listener->lock);
    budget_give(listener, request->reserved);
    dynbuf_free(&request->body);
    free(request);
    *con_cls = NULL;
}

/* Connections into and out of the registry the reaper walks. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ac_listener *listener = cls;
    conn_entry *entry = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        entry = calloc(1, sizeof(*entry));
        if (!entry)
            return; /* not reaped: MHD's idle timeout still applies */
        entry->fd = info ? info->connect_fd : -1;
        deadline_in(listener->config.request_timeout_ms, &entry->deadline);
        pthread_mutex_lock(&listener->lock);
        entry->prev = listener->tail;
        if (listener->tail)
            listener->tail->next = entry;
        else
            listener->head = entry;
        listener->tail = entry;
        /* the reaper may wait with no deadline; later entries' deadlines
         * come after the ones it waits for */
        pthread_cond_broadcast(&listener->changed);
        pthread_mutex_unlock(&listener->lock);
        *socket_context = entry;
        return;
    }
    if (!entry)
        return;
    /* Closed: MHD closes the socket only after this returns, so the reaper
     * (which shuts sockets down under the lock) never touches a reused fd. */
    pthread_mutex_lock(&listener->lock);
    if (entry->prev)
        entry->prev->next = entry->next;
    else
        listener->head = entry->next;
    if (entry->next)
        entry->next->prev = entry->prev;
    else
        listener->tail = entry->prev;
    pthread_mutex_unlock(&listener->lock);
    free(entry);
    *socket_context = NULL;
}

/* The reaper: shuts down the sockets of connections that did not deliver
 * a whole request in time (libmicrohttpd's timeout is an idle timeout that
 * every byte resets). libmicrohttpd then sees the end of the stream and
 * closes the connection in its own thread. */
static void *reaper_main(void *arg)
{
    ac_listener *listener = arg;
    unsigned long long reaped_total = 0;

    pthread_mutex_lock(&listener->lock);
    while (!listener->stopping) {
        struct timespec now, wake;
        unsigned int reaped = 0;

        int has_next = 0;

        clock_gettime(CLOCK_MONOTONIC, &now);
        for (conn_entry *entry = listener->head; entry; entry = entry->next) {
            if (entry->suspended || entry->reaped || entry->fd < 0)
                continue;
            if (!past(&now, &entry->deadline)) {
                if (!has_next || past(&wake, &entry->deadline))
                    wake = entry->deadline;
                has_next = 1;
                continue;
            }
            shutdown(entry->fd, SHUT_RDWR);
            entry->reaped = 1;
            reaped++;
        }
        if (reaped) {
            reaped_total += reaped;
            pthread_mutex_unlock(&listener->lock);
            sluice_metric_add(listener->ctx, "webhook_connections_timed_out", reaped);
            warn_limited(listener, &listener->reaped_log,
                         "webhook listener closed %u connection(s) that did not send a whole request within "
                         "request_timeout_ms = %ld (%llu so far)",
                         reaped, listener->config.request_timeout_ms, reaped_total);
            pthread_mutex_lock(&listener->lock);
            continue;
        }
        /* Until the earliest deadline; with none (no connection, or all
         * waiting for the spool), until a connection comes or resumes. */
        if (has_next)
            pthread_cond_timedwait(&listener->changed, &listener->lock, &wake);
        else
            pthread_cond_wait(&listener->changed, &listener->lock);
    }
    pthread_mutex_unlock(&listener->lock);
    return NULL;
}

/* Copy a string option (NULL stays NULL). Returns 0, or -1 on allocation
 * failure. */
static int copy_string(const char **field, const char *value)
{
    if (!value) {
        *field = NULL;
        return 0;
    }
    *field = strdup(value);
    return *field ? 0 : -1;
}

ac_listener *ac_listener_start(sluice_ctx *ctx, const ac_listener_config *config, ac_spool_writer *writer,
                               char *errbuf, size_t errlen)
{
    ac_listener *listener = calloc(1, sizeof(*listener));
    ac_listener *result = NULL;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
    pthread_condattr_t attr;
    const union MHD_DaemonInfo *info;

    if (!listener) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    listener->ctx = ctx;
    listener->writer = writer;
    listener->config = *config;
    pthread_mutex_init(&listener->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&listener->changed, &attr);
    pthread_condattr_destroy(&attr);
    clock_gettime(CLOCK_MONOTONIC, &listener->last_request);
    if (copy_string(&listener->config.basic_auth, config->basic_auth) != 0 ||
        copy_string(&listener->config.secret, config->secret) != 0 ||
        copy_string(&listener->config.signature_header, config->signature_header) != 0 ||
        copy_string(&listener->config.tls_cert, config->tls_cert) != 0 ||
        copy_string(&listener->config.tls_key, config->tls_key) != 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    listener->basic_auth_len = config->basic_auth ? strlen(config->basic_auth) : 0;
    if (listener->config.threads < 1)
        listener->config.threads = 1;
    if (pthread_create(&listener->reaper, NULL, reaper_main, listener) != 0) {
        snprintf(errbuf, errlen, "cannot start the listener's reaper thread");
        goto out;
    }
    listener->reaper_started = 1;
    if (listener->config.tls_cert)
        flags |= MHD_USE_TLS;
    listener->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, listener, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, listener,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&listener->config.addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, listener, MHD_OPTION_NOTIFY_CONNECTION, on_connection, listener,
        MHD_OPTION_THREAD_POOL_SIZE, listener->config.threads, MHD_OPTION_CONNECTION_LIMIT,
        listener->config.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, listener->config.max_per_ip,
        /* The idle timeout stays as a backstop; the reaper enforces the deadline. */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)((listener->config.request_timeout_ms + 999) / 1000),
        listener->config.tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, listener->config.tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, listener->config.tls_key, MHD_OPTION_END);
    if (!listener->daemon) {
        snprintf(errbuf, errlen, "cannot listen (address in use?)");
        goto out;
    }
    info = MHD_get_daemon_info(listener->daemon, MHD_DAEMON_INFO_BIND_PORT);
    listener->port = info ? info->port : ntohs(config->addr.sin_port);
    result = listener;
out:
    if (!result)
        ac_listener_stop(&listener);
    return result;
}

unsigned int ac_listener_port(const ac_listener *listener)
{
    return listener->port;
}

double ac_listener_idle_seconds(ac_listener *listener)
{
    struct timespec now, then;

    pthread_mutex_lock(&listener->lock);
    then = listener->last_request;
    pthread_mutex_unlock(&listener->lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - then.tv_sec) + (double)(now.tv_nsec - then.tv_nsec) / 1e9;
}

void ac_listener_stop(ac_listener **listener_p)
{
    ac_listener *listener = listener_p ? *listener_p : NULL;

    if (!listener)
        return;
    if (listener->daemon) {
        struct timespec give_up;

        /* libmicrohttpd must not be stopped with a connection suspended:
         * wait for the writer to answer them (it does within their wait). */
        MHD_socket listen_fd = MHD_quiesce_daemon(listener->daemon);

        if (listen_fd != MHD_INVALID_SOCKET)
            close(listen_fd);
        deadline_in(listener->config.spool_wait_ms + 5000, &give_up);
        pthread_mutex_lock(&listener->lock);
        while (listener->suspended > 0 &&
               pthread_cond_timedwait(&listener->changed, &listener->lock, &give_up) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&listener->lock);
        MHD_stop_daemon(listener->daemon);
    }
    pthread_mutex_lock(&listener->lock);
    listener->stopping = 1;
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
    if (listener->reaper_started)
        pthread_join(listener->reaper, NULL);
    pthread_cond_destroy(&listener->changed);
    pthread_mutex_destroy(&listener->lock);
    free((char *)listener->config.basic_auth);
    free((char *)listener->config.secret);
    free((char *)listener->config.signature_header);
    free((char *)listener->config.tls_cert);
    free((char *)listener->config.tls_key);
    free(listener);
    *listener_p = NULL;
}
