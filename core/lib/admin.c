/* admin.c: the admin endpoint's server: the listening socket (bound
 * before anything starts, so a busy port is a clear error), a
 * libmicrohttpd daemon thread answering /metrics, /health, /status and /,
 * optional basic auth and TLS as on the webhook listener, and a few
 * minutes of each pipeline's totals for rates, the page's chart and the
 * DLQ growth rule, sampled as requests come (no thread of its own wakes
 * while nobody asks). See admin.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "admin.h"
#include "fleet.h"
#include "log.h"

#define CONNECTIONS_MAX 64
#define CONNECTION_TIMEOUT_S 10
#define HISTORY_PIPELINES_MAX 4096

struct sluice_admin {
    int listen_fd;
    unsigned port;
    char *auth_header;            /* "Basic <base64(user:password)>", or NULL */
    char *tls_cert, *tls_key;
    sluice_admin_health health;
    struct MHD_Daemon *daemon;
    sluice_admin_list_fn list;
    void *list_cls;
    atomic_int conn_fds[CONNECTIONS_MAX]; /* open connections (-1: free), for
                                             sluice_admin_forget_in_child */
    pthread_mutex_t lock;         /* history */
    sluice_admin_history *history;
    size_t history_count;
    double sampled_at;            /* wall clock of the last sample (0: none) */
};

void sluice_admin_health_defaults(sluice_admin_health *h)
{
    h->crash_loop_crashes = SLUICE_ADMIN_CRASH_LOOP_CRASHES;
    h->crash_loop_window_s = SLUICE_ADMIN_CRASH_LOOP_WINDOW_S;
    h->stall_s = SLUICE_ADMIN_STALL_S;
    h->dlq_growth = SLUICE_ADMIN_DLQ_GROWTH;
    h->dlq_window_s = SLUICE_ADMIN_DLQ_WINDOW_S;
}

/* Wall clock in seconds. */
static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "Basic " + base64(`text`), malloc'd; NULL on allocation failure. */
static char *basic_header(const char *text)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(text);
    char *out = malloc(6 + (len + 2) / 3 * 4 + 1);
    char *o = out;

    if (!out)
        return NULL;
    memcpy(o, "Basic ", 6);
    o += 6;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)(unsigned char)text[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)(unsigned char)text[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)text[i + 2];
        *o++ = digits[(v >> 18) & 63];
        *o++ = digits[(v >> 12) & 63];
        *o++ = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? digits[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* 1 if `given` equals `expected`, in time independent of where they differ. */
static int same_secret(const char *given, const char *expected)
{
    size_t n = strlen(expected);
    unsigned char diff = 0;

    if (!given || strlen(given) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(given[i] ^ expected[i]);
    return diff == 0;
}

/* Parse "HOST:PORT" or "[HOST6]:PORT" into `addr`. Returns 0 or -1. */
static int parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[256];
    const char *colon;
    char *end;
    long port;

    memset(addr, 0, sizeof(*addr));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    if (text[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a4->sin_addr) == 1 ? 0 : -1;
}

sluice_admin *sluice_admin_open(const sluice_admin_options *opts, char *errbuf, size_t errlen)
{
    sluice_admin *admin = NULL;
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    int one = 1;

    errbuf[0] = '\0';
    if (!opts->listen || strcmp(opts->listen, "off") == 0)
        return NULL;
    if (parse_listen(opts->listen, &addr, &addr_len) != 0) {
        snprintf(errbuf, errlen, "--admin-listen: expected ADDR:PORT (e.g. %s), [ADDR6]:PORT "
                 "or off, got '%s'", SLUICE_ADMIN_DEFAULT_LISTEN, opts->listen);
        return NULL;
    }
    if ((opts->tls_cert != NULL) != (opts->tls_key != NULL) ||
        (opts->tls_cert && (!strstr(opts->tls_cert, "BEGIN CERTIFICATE") ||
                            !strstr(opts->tls_key, "PRIVATE KEY")))) {
        snprintf(errbuf, errlen, "--admin-tls-cert and --admin-tls-key: both are needed, a "
                 "PEM certificate and a PEM private key");
        return NULL;
    }
    admin = calloc(1, sizeof(*admin));
    if (!admin) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    admin->listen_fd = -1;
    for (size_t i = 0; i < CONNECTIONS_MAX; i++)
        atomic_init(&admin->conn_fds[i], -1);
    pthread_mutex_init(&admin->lock, NULL);
    admin->health = opts->health;
    if ((opts->basic_auth && !(admin->auth_header = basic_header(opts->basic_auth))) ||
        (opts->tls_cert && (!(admin->tls_cert = strdup(opts->tls_cert)) ||
                            !(admin->tls_key = strdup(opts->tls_key))))) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    admin->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (admin->listen_fd < 0 ||
        setsockopt(admin->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(admin->listen_fd, (struct sockaddr *)&addr, addr_len) != 0 ||
        listen(admin->listen_fd, CONNECTIONS_MAX) != 0) {
        snprintf(errbuf, errlen, "--admin-listen %s: cannot listen: %s%s", opts->listen,
                 strerror(errno), errno == EADDRINUSE ? " (another sluice run? use "
                 "--admin-listen ADDR:PORT or off)" : "");
        goto fail;
    }
    if (getsockname(admin->listen_fd, (struct sockaddr *)&addr, &addr_len) == 0)
        admin->port = ntohs(addr.ss_family == AF_INET6
                                ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                : ((struct sockaddr_in *)&addr)->sin_port);
    return admin;
fail:
    sluice_admin_close(&admin);
    return NULL;
}

unsigned sluice_admin_port(const sluice_admin *admin)
{
    return admin ? admin->port : 0;
}

/* The current model, assessed against the history (admin->lock taken
 * here). The history is sampled here too, at most once per
 * SLUICE_ADMIN_SAMPLE_MS: the requests themselves (a scraper, the page's
 * refresh, `sluice status --watch`, a health check) are the sampler, so
 * an endpoint nobody asks costs no wake-up at all. NULL on allocation
 * failure. */
static json_t *current_model(sluice_admin *admin, int procfs)
{
    sluice_admin_pipeline *list = NULL;
    size_t n = admin->list(admin->list_cls, &list);
    double now = wall_now();
    json_t *model = sluice_admin_gather(list, n, now, procfs);
    unsigned reloads, refused;
    int64_t reload_at_ms;

    free(list);
    if (!model)
        return NULL;
    if (sluice_fleet_reloads(&reloads, &reload_at_ms, &refused))
        json_object_set_new(model, "reloads",
                            json_pack("{s:I, s:f, s:I}", "total", (json_int_t)reloads,
                                      "last_at", (double)reload_at_ms / 1000.0,
                                      "last_refused", (json_int_t)refused));
    pthread_mutex_lock(&admin->lock);
    /* assessed before this sample joins: a rate needs an older one */
    sluice_admin_assess(model, admin->history, admin->history_count, &admin->health, now);
    if (now - admin->sampled_at >= SLUICE_ADMIN_SAMPLE_MS / 1000.0 || now < admin->sampled_at) {
        sluice_admin_sample(model, admin->history, &admin->history_count,
                            HISTORY_PIPELINES_MAX, now);
        admin->sampled_at = now;
    }
    pthread_mutex_unlock(&admin->lock);
    return model;
}

/* Queue an answer of `status` with `body` (taken: freed by libmicrohttpd). */
static enum MHD_Result answer(struct MHD_Connection *connection, unsigned status,
                              const char *type, char *body)
{
    struct MHD_Response *response;
    enum MHD_Result result;

    if (!body)
        return MHD_NO;
    response = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", type);
    MHD_add_response_header(response, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(response, "WWW-Authenticate", "Basic realm=\"sluice\"");
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/* A JSON error body {"error": what}. */
static char *error_body(const char *what)
{
    json_t *doc = json_pack("{s:s}", "error", what);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    return text;
}

/* Keep only pipeline `name` in the model (GET /status?pipeline=NAME).
 * Returns 0, or -1 when it has no such pipeline. */
static int only_pipeline(json_t *model, const char *name)
{
    json_t *pipelines = json_object_get(model, "pipelines");

    for (size_t i = 0; i < json_array_size(pipelines);) {
        if (strcmp(json_string_value(json_object_get(json_array_get(pipelines, i), "name")),
                   name) != 0)
            json_array_remove(pipelines, i);
        else
            i++;
    }
    return json_array_size(pipelines) ? 0 : -1;
}

/* GET /health: 200 or 503 with {"healthy", "unhealthy": [{"pipeline",
 * "reasons"}], "pipelines": N}. */
static char *health_body(const json_t *model, unsigned *status)
{
    json_t *unhealthy = json_array();
    json_t *doc;
    char *text;
    size_t i;
    const json_t *p;

    json_array_foreach(json_object_get(model, "pipelines"), i, p) {
        const json_t *h = json_object_get(p, "health");
        if (!json_is_true(json_object_get(h, "ok")))
            json_array_append_new(unhealthy, json_pack("{s:O, s:O, s:O}", "pipeline",
                                                       json_object_get(p, "name"), "state",
                                                       json_object_get(p, "state"), "reasons",
                                                       json_object_get(h, "reasons")));
    }
    *status = json_array_size(unhealthy) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
    doc = json_pack("{s:b, s:I, s:o}", "healthy", json_array_size(unhealthy) == 0, "pipelines",
                    (json_int_t)json_array_size(json_object_get(model, "pipelines")),
                    "unhealthy", unhealthy);
    text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    return text;
}

/* Remember or forget an open connection's socket (for forget_in_child). */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sluice_admin *admin = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = info ? (int)info->connect_fd : -1;

    (void)socket_context;
    if (fd < 0)
        return;
    for (size_t i = 0; i < CONNECTIONS_MAX; i++) {
        int expected = code == MHD_CONNECTION_NOTIFY_STARTED ? -1 : fd;
        if (atomic_compare_exchange_strong(&admin->conn_fds[i], &expected,
                                           code == MHD_CONNECTION_NOTIFY_STARTED ? fd : -1))
            return;
    }
}

/* Route one request. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    sluice_admin *admin = cls;
    json_t *model;
    enum MHD_Result result;
    unsigned status = MHD_HTTP_OK;
    const char *only;

    (void)version;
    (void)upload_data;
    if (!*con_cls) { /* headers only so far */
        *con_cls = admin;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is not wanted: ignored */
        return MHD_YES;
    }
    if (admin->auth_header &&
        !same_secret(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_AUTHORIZATION),
                     admin->auth_header))
        return answer(connection, MHD_HTTP_UNAUTHORIZED, "application/json",
                      error_body("basic auth missing or wrong"));
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
                      error_body("only GET is accepted"));
    if (strcmp(url, "/") == 0)
        return answer(connection, MHD_HTTP_OK, "text/html; charset=utf-8",
                      strdup(sluice_admin_page()));
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/health") != 0 &&
        strcmp(url, "/status") != 0)
        return answer(connection, MHD_HTTP_NOT_FOUND, "application/json",
                      error_body("not found: try /metrics, /health, /status or /"));
    model = current_model(admin, strcmp(url, "/health") != 0);
    if (!model)
        return answer(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                      error_body("out of memory"));
    if (strcmp(url, "/metrics") == 0) {
        result = answer(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                        sluice_admin_prometheus(model));
    } else if (strcmp(url, "/health") == 0) {
        char *body = health_body(model, &status);
        result = answer(connection, status, "application/json", body);
    } else {
        only = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "pipeline");
        if (only && only_pipeline(model, only) != 0)
            result = answer(connection, MHD_HTTP_NOT_FOUND, "application/json",
                            error_body("no such pipeline"));
        else
            result = answer(connection, MHD_HTTP_OK, "application/json",
                            json_dumps(model, JSON_INDENT(1)));
    }
    json_decref(model);
    return result;
}

/* libmicrohttpd's own messages, into the log. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    sluice_log_write(NULL, "admin", SLUICE_LOG_DEBUG, "libmicrohttpd: %s", line);
}

int sluice_admin_start(sluice_admin *admin, sluice_admin_list_fn list, void *cls)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    if (!admin)
        return 0;
    admin->list = list;
    admin->list_cls = cls;
    admin->history = calloc(HISTORY_PIPELINES_MAX, sizeof(*admin->history));
    if (!admin->history) {
        sluice_log_write(NULL, "admin", SLUICE_LOG_ERROR, "admin endpoint: out of memory");
        return -1;
    }
    if (admin->tls_cert)
        flags |= MHD_USE_TLS;
    admin->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, admin, MHD_OPTION_LISTEN_SOCKET, admin->listen_fd,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, admin, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, admin, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        admin->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, admin->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, admin->tls_key, MHD_OPTION_END);
    if (!admin->daemon) {
        sluice_log_write(NULL, "admin", SLUICE_LOG_ERROR, "admin endpoint: cannot serve on "
                         "port %u%s", admin->port, admin->tls_cert ? " (bad TLS certificate "
                         "or key?)" : "");
        return -1;
    }
    sluice_log_write(NULL, "admin", SLUICE_LOG_INFO, "admin endpoint on port %u: /metrics, "
                     "/health, /status, /", admin->port);
    return 0;
}

void sluice_admin_forget_in_child(sluice_admin *admin)
{
    if (!admin)
        return;
    if (admin->listen_fd >= 0)
        close(admin->listen_fd);
    for (size_t i = 0; i < CONNECTIONS_MAX; i++) {
        int fd = atomic_load(&admin->conn_fds[i]);
        if (fd >= 0)
            close(fd);
    }
}

void sluice_admin_stop(sluice_admin *admin)
{
    if (!admin)
        return;
    if (admin->daemon) {
        MHD_stop_daemon(admin->daemon); /* closes the listening socket it was given */
        admin->daemon = NULL;
        admin->listen_fd = -1;
    }
}

void sluice_admin_close(sluice_admin **admin_p)
{
    sluice_admin *admin = admin_p ? *admin_p : NULL;

    if (!admin)
        return;
    sluice_admin_stop(admin);
    if (admin->listen_fd >= 0)
        close(admin->listen_fd);
    pthread_mutex_destroy(&admin->lock);
    free(admin->history);
    free(admin->auth_header);
    free(admin->tls_cert);
    free(admin->tls_key);
    free(admin);
    *admin_p = NULL;
}
