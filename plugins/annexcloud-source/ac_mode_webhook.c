/* ac_mode_webhook.c: annexcloud-source webhook mode: Annex Cloud's
 * near-real-time pushes, taken by the listener (ac_webhook_listener.c),
 * committed and synced to the spool by the group-commit writer
 * (ac_spool.c) BEFORE they are answered 200, so an accepted event survives
 * a crash of the process or of the machine. A redelivered eventId is
 * answered 200 and not spooled twice. poll() emits spooled events in order
 * as canonical member records (plus canonical events where the payload
 * carries the whole transition, ac_webhook_payload.c); committed() deletes
 * spool entries once acknowledged end to end; a rewind only moves the read
 * position back: the listener and its connections are left alone. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <pthread.h>
#include <time.h>

#include "ac_api.h"
#include "ac_source.h"
#include "ac_spool.h"
#include "ac_webhook_listener.h"
#include "ac_erase.h"
#include "ac_webhook_payload.h"

#define SEEN_RETENTION_DAYS 7
/* File descriptors kept for everything but the listener's connections
 * (the state database, ZeroMQ sockets, the API client, logs). */
#define FD_RESERVE 256

typedef struct webhook_mode {
    ac_source *src;
    int enrich;
    long idle_ms;
    ac_spool *spool;               /* reading side (stage thread) */
    ac_spool_writer *writer;       /* writing side (listener) */
    ac_listener *listener;
    unsigned long long emitted;    /* last sequence handed to poll() */
    int wake_fd;                   /* eventfd the listener writes once a webhook
                                      is spooled; read by poll() (-1: none) */
    pthread_mutex_t depth_lock;    /* depth, oldest_at: the listener's writer
                                      thread adds, the stage thread prunes */
    double depth;                  /* webhooks in the spool (told to the core,
                                      sluice_source_spool: /metrics) */
    double oldest_at;              /* when the oldest was received (0: none) */
} webhook_mode;

/* Tell the core the spool's depth and oldest time (depth_lock held). */
static void tell_depth_locked(webhook_mode *mode)
{
    if (mode->depth < 0)
        mode->depth = 0; /* a row pruned before its writer's answer came */
    sluice_source_spool(mode->src->ctx, mode->depth, mode->depth > 0 ? mode->oldest_at : 0);
}

/* The listener stored a webhook (writer's thread): one more waits. */
static void on_webhook_spooled(void *arg)
{
    webhook_mode *mode = arg;

    pthread_mutex_lock(&mode->depth_lock);
    if (mode->depth <= 0 || mode->oldest_at <= 0)
        mode->oldest_at = (double)time(NULL);
    mode->depth += 1;
    tell_depth_locked(mode);
    pthread_mutex_unlock(&mode->depth_lock);
}

/* `deleted` webhooks were pruned (committed): fewer wait, and the oldest
 * is the first left (stage thread). */
static void note_pruned(webhook_mode *mode, unsigned long long deleted)
{
    double oldest_at = 0;
    int known = ac_spool_oldest(mode->spool, &oldest_at) == 0;

    pthread_mutex_lock(&mode->depth_lock);
    mode->depth -= (double)deleted;
    if (known)
        mode->oldest_at = oldest_at;
    tell_depth_locked(mode);
    pthread_mutex_unlock(&mode->depth_lock);
}

/* Whole file into a malloc'd string, or NULL. */
static char *read_text_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (!file)
        return NULL;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text && fread(text, 1, (size_t)size, file) == (size_t)size)
            text[size] = '\0';
        else {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

/* Parse `listen` ("A.B.C.D:PORT") into *addr. Returns 0 or -1. */
static int parse_listen(const char *listen, struct sockaddr_in *addr)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char host[64], *end = NULL;
    long port;

    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return -1;
    addr->sin_port = htons((uint16_t)port);
    return 0;
}

/* Make room for `connections` sockets: raise the soft RLIMIT_NOFILE
 * towards the hard one if needed. Returns how many connections fit. */
static unsigned int fit_connections(ac_source *src, unsigned int connections)
{
    struct rlimit limit;
    rlim_t want = (rlim_t)connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return connections;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= want ? want : limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
        unsigned int fit = limit.rlim_cur > 2 * FD_RESERVE ? (unsigned int)(limit.rlim_cur - FD_RESERVE) : 16;
        sluice_log(src->ctx, SLUICE_LOG_WARN,
                   "webhook max_connections %u lowered to %u: the open-file limit (ulimit -n) is %llu", connections,
                   fit, (unsigned long long)limit.rlim_cur);
        return fit;
    }
    return connections;
}

/* The listener's settings from the options (strings borrowed from the
 * config; the TLS files read into *cert and *key, caller frees). The core
 * checked every value against the option table and ac_check (what webhook
 * mode needs, basic_auth's form, body_budget >= max_body) before anything
 * ran. Returns 0, or -1 after sluice_fail. */
static int listener_settings(ac_source *src, ac_listener_config *config, char **cert, char **key)
{
    const char *listen = ac_opt_string(src, "listen");
    const char *secret = ac_opt_string(src, "webhook_secret");
    const char *basic = ac_opt_string(src, "basic_auth");
    const char *cert_path = ac_opt_string(src, "tls_cert"), *key_path = ac_opt_string(src, "tls_key");

    memset(config, 0, sizeof(*config));
    config->wake_fd = -1;
    if (parse_listen(listen, &config->addr) != 0) {
        sluice_fail(src->ctx, "listen '%s' is not an IPv4 address:port", listen ? listen : "");
        return -1;
    }
    config->secret = secret && *secret ? secret : NULL;
    config->basic_auth = basic && *basic ? basic : NULL;
    config->signature_header = ac_opt_string(src, "signature_header");
    config->max_body = (size_t)ac_opt_int(src, "max_body");
    config->body_budget = (size_t)ac_opt_int(src, "body_budget");
    config->max_connections = (unsigned int)ac_opt_int(src, "max_connections");
    config->max_per_ip = (unsigned int)ac_opt_int(src, "max_connections_per_ip");
    config->threads = (unsigned int)ac_opt_int(src, "listen_threads");
    config->request_timeout_ms = (long)ac_opt_int(src, "request_timeout_ms");
    config->spool_wait_ms = (long)ac_opt_int(src, "spool_wait_ms");
    config->can_enrich = ac_opt_bool(src, "enrich") && src->client.base_url != NULL;
    config->erase_types = json_object_get(src->config, "erase_event_types");
    if (cert_path || key_path) {
        *cert = cert_path ? read_text_file(cert_path) : NULL;
        *key = key_path ? read_text_file(key_path) : NULL;
        if (!*cert || !*key) {
            sluice_fail(src->ctx, "cannot read tls_cert '%s' and tls_key '%s'", cert_path ? cert_path : "",
                        key_path ? key_path : "");
            return -1;
        }
        config->tls_cert = *cert;
        config->tls_key = *key;
    }
    config->max_connections = fit_connections(src, config->max_connections);
    return 0;
}

static void webhook_stop(ac_source *src, void *state);

/* 1 if `ops` is one of the source's modes. */
static int has_mode(const ac_source *src, const ac_mode_ops *ops)
{
    for (size_t i = 0; i < src->mode_count; i++) {
        if (src->modes[i] == ops)
            return 1;
    }
    return 0;
}

/* Mode start (ac_source.h): the spool's reading side, its writer, then
 * the listener. On failure everything started is stopped again and
 * *state is NULL. */
static sluice_status webhook_start(ac_source *src, const json_t *checkpoint, void **state)
{
    webhook_mode *mode = calloc(1, sizeof(*mode));
    ac_listener_config config;
    ac_spool_writer_stats stats;
    char *cert = NULL, *key = NULL, err[512];
    sluice_status result = SLUICE_FATAL;

    if (!mode) {
        sluice_fail(src->ctx, "out of memory starting webhook mode");
        return SLUICE_FATAL;
    }
    mode->src = src;
    mode->wake_fd = -1;
    pthread_mutex_init(&mode->depth_lock, NULL);
    mode->enrich = ac_opt_bool(src, "enrich");
    mode->idle_ms = (long)ac_opt_int(src, "idle_ms");
    mode->emitted = (unsigned long long)json_integer_value(json_object_get(checkpoint, "seq"));
    if (listener_settings(src, &config, &cert, &key) != 0)
        goto out;
    mode->spool = ac_spool_open(sluice_state_dir(src->ctx), sluice_stage_name(src->ctx), err, sizeof(err));
    if (!mode->spool) {
        sluice_fail(src->ctx, "cannot open the webhook spool: %s", err);
        goto out;
    }
    /* what a previous run left waiting: counted once, then kept up to date */
    if (ac_spool_depth(mode->spool, &mode->depth, &mode->oldest_at) == 0)
        tell_depth_locked(mode); /* no other thread yet */
    config.spooled = on_webhook_spooled;
    config.spooled_arg = mode;
    mode->writer = ac_spool_writer_start(sluice_state_dir(src->ctx), sluice_stage_name(src->ctx), err, sizeof(err));
    if (!mode->writer) {
        sluice_fail(src->ctx, "cannot start the webhook spool writer: %s", err);
        goto out;
    }
    /* This mode has nothing to do until a webhook is spooled: the runner
     * sleeps until the listener writes the eventfd, alone or next to api
     * mode, which says when its next sync is due (sluice_retry_after).
     * Next to feed mode, which looks for files on no clock it can tell,
     * poll() stays paced. */
    if (!has_mode(src, &ac_mode_feed)) {
        mode->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (mode->wake_fd < 0 || sluice_source_wake_fd(src->ctx, mode->wake_fd) != 0)
            sluice_log(src->ctx, SLUICE_LOG_WARN, "webhook mode polls the spool every few "
                       "milliseconds: no wake-up eventfd (%s)", strerror(errno));
        config.wake_fd = mode->wake_fd;
    }
    mode->listener = ac_listener_start(src->ctx, &config, mode->writer, err, sizeof(err));
    if (!mode->listener) {
        sluice_fail(src->ctx, "cannot listen on %s for webhooks: %s", ac_opt_string(src, "listen"), err);
        goto out;
    }
    ac_spool_writer_stats_get(mode->writer, &stats);
    sluice_log(src->ctx, SLUICE_LOG_INFO,
               "webhook listening on %s:%u%s (%u threads, max_connections %u, per IP %u, request_timeout_ms %ld; "
               "spool synchronous=%d, group commit)",
               inet_ntoa(config.addr.sin_addr), ac_listener_port(mode->listener), config.tls_cert ? " (https)" : "",
               config.threads, config.max_connections, config.max_per_ip, config.request_timeout_ms,
               stats.synchronous);
    result = SLUICE_OK;
out:
    free(cert);
    free(key);
    if (result != SLUICE_OK) {
        webhook_stop(src, mode);
        mode = NULL;
    }
    *state = mode;
    return result;
}

/* 1 when `record` is an erase record (ac_erase_record). */
static int erase_record_kind(const json_t *record)
{
    const char *kind = json_string_value(json_object_get(record, "kind"));
    return kind && strcmp(kind, "erase") == 0;
}

/* Mode poll (ac_source.h): the next spooled payloads after `emitted` as
 * member (and event) records; one that cannot be converted is rejected
 * into the dead-letter queue with why; an enrichment that failed for now
 * stops the batch there (RETRY when it is the first). */
static sluice_status webhook_poll(ac_source *src, void *state, sluice_batch *out, json_t **position)
{
    webhook_mode *mode = state;
    size_t room = ac_room(src, out), i;
    json_t *entries = json_array(), *entry;
    double idle = ac_listener_idle_seconds(mode->listener);
    sluice_status status = SLUICE_OK;
    uint64_t woken;

    /* First: a webhook spooled from here on wakes the runner again. */
    if (mode->wake_fd >= 0 && read(mode->wake_fd, &woken, sizeof(woken)) < 0 && errno != EAGAIN)
        sluice_log(src->ctx, SLUICE_LOG_DEBUG, "cannot read the wake-up eventfd: %s", strerror(errno));

    /* Each payload can make two records (member and event). */
    if (ac_spool_take(mode->spool, mode->emitted, room / 2 ? room / 2 : 1, entries) < 0) {
        json_decref(entries);
        sluice_log(src->ctx, SLUICE_LOG_WARN, "cannot read the webhook spool; retrying");
        return SLUICE_RETRY;
    }
    json_array_foreach(entries, i, entry) {
        unsigned long long seq = (unsigned long long)json_integer_value(json_array_get(entry, 0));
        const json_t *payload = json_array_get(entry, 1);
        json_t *member = NULL, *event;
        char err[512];
        ac_result result;

        if (ac_erase_is_request(src, payload)) {
            /* an erasure: no member to fetch; the sinks carry it out */
            member = ac_erase_record(payload, err, sizeof(err));
            result = member ? AC_OK : AC_REJECTED;
        } else {
            result = ac_webhook_member(payload, mode->enrich ? &src->client : NULL, &member, err,
                                       sizeof(err));
        }

        if (result == AC_RETRY) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "webhook %llu: enrichment failed, will retry: %s", seq, err);
            status = i == 0 ? SLUICE_RETRY : SLUICE_OK;
            break;
        }
        if (result == AC_FATAL) {
            status = SLUICE_FATAL;
            break;
        }
        if (result != AC_OK) {
            /* Keep the payload: it goes to the dead-letter queue with why. */
            const char *event_id = ac_webhook_event_id(payload);
            char reason[700];
            sluice_batch_append(out, json_deep_copy(payload));
            snprintf(reason, sizeof(reason), "webhook %s: %s", event_id ? event_id : "?", err);
            sluice_batch_reject(out, sluice_batch_count(out) - 1, reason);
        } else {
            event = erase_record_kind(member) ? NULL
                                              : ac_webhook_event(ac_webhook_event_type(payload), member);
            /* Webhooks carry every change: no change detection here. */
            sluice_batch_append(out, member);
            if (event)
                sluice_batch_append(out, event);
        }
        mode->emitted = seq;
        json_decref(*position);
        *position = json_pack("{s:I}", "seq", (json_int_t)mode->emitted);
    }
    json_decref(entries);
    /* OK when this call took something from the spool (*position moved) */
    if (status != SLUICE_OK || *position)
        return status;
    if (sluice_run_once(src->ctx) && idle * 1000.0 >= (double)mode->idle_ms)
        return SLUICE_EOF;
    return SLUICE_AGAIN;
}

/* Emission restarts right after `checkpoint`'s sequence: the spool still
 * holds everything after it (rows are deleted only once committed). The
 * listener is not touched: a rewind (an ack timeout, a restarted
 * downstream stage) must not reset the connections of senders. */
static sluice_status webhook_rewind(ac_source *src, void *state, const json_t *checkpoint)
{
    webhook_mode *mode = state;

    (void)src;
    mode->emitted = (unsigned long long)json_integer_value(json_object_get(checkpoint, "seq"));
    return SLUICE_OK;
}

/* Mode committed (ac_source.h): delete spooled payloads up to the
 * committed sequence (kept for the next commit if that fails). */
static void webhook_committed(ac_source *src, void *state, const json_t *position)
{
    webhook_mode *mode = state;
    unsigned long long upto = (unsigned long long)json_integer_value(json_object_get(position, "seq"));
    unsigned long long deleted = 0;

    if (ac_spool_prune(mode->spool, upto, SEEN_RETENTION_DAYS, &deleted) != 0)
        sluice_log(src->ctx, SLUICE_LOG_WARN, "cannot prune the webhook spool (kept for the next commit)");
    if (deleted > 0)
        note_pruned(mode, deleted);
}

/* Mode stop (ac_source.h): the listener (it waits for the writer's
 * answers), the writer, the spool; logs the writer's totals. */
static void webhook_stop(ac_source *src, void *state)
{
    webhook_mode *mode = state;
    ac_spool_writer_stats stats;

    if (!mode)
        return;
    /* The listener first: it waits for the writer's answers. */
    ac_listener_stop(&mode->listener);
    if (mode->writer) {
        ac_spool_writer_stats_get(mode->writer, &stats);
        sluice_log(src->ctx, SLUICE_LOG_INFO,
                   "webhook spool: %llu stored in %llu synced commits (largest group %llu), %llu duplicates, "
                   "%llu answered busy, %llu failed",
                   stats.stored, stats.groups, stats.largest, stats.duplicates, stats.busy, stats.failed);
    }
    ac_spool_writer_stop(&mode->writer);
    ac_spool_close(&mode->spool);
    if (mode->wake_fd >= 0)
        close(mode->wake_fd);
    pthread_mutex_destroy(&mode->depth_lock);
    free(mode);
}

const ac_mode_ops ac_mode_webhook = {
    .name = "webhook",
    .start = webhook_start,
    .poll = webhook_poll,
    .rewind = webhook_rewind,
    .committed = webhook_committed,
    .stop = webhook_stop,
};
