/* ac_webhook_listener.h: the HTTP(S) listener of annexcloud-source's
 * webhook mode, over libmicrohttpd, built to stay up against strangers:
 *
 * - epoll and a pool of `threads` threads (no FD_SETSIZE ceiling), at most
 *   `max_connections` connections and `max_per_ip` from one address;
 * - a whole-request deadline: a connection must deliver a complete request
 *   within `request_timeout_ms` of its accept (or of its previous answer);
 *   a byte now and then does not extend it (slowloris);
 * - what can be decided on the headers is, before any body is read: 405
 *   for another method, 401 for missing/wrong basic auth or a missing or
 *   malformed signature header, 413 for a Content-Length over `max_body`;
 * - bodies are buffered within a budget shared by all connections
 *   (`body_budget` bytes): past it a request is answered 503;
 * - the spool write happens off the connection threads: the request is
 *   suspended, handed to the group-commit writer (ac_spool.h) and answered
 *   200 only once its group is committed and synced, 503 when that did not
 *   happen within `spool_wait_ms` or failed (disk full, store error); every
 *   503 is counted and logged (rate-limited);
 * - libmicrohttpd's own messages go to the JSON log, rate-limited.
 * Counters (sluice_metric_add, exported as sluice_plugin_<name>_total):
 * webhooks_accepted, webhooks_duplicate, webhooks_unauthorized,
 * webhooks_malformed, webhooks_too_large, webhooks_unavailable,
 * webhooks_spool_full, webhook_connections_timed_out. */
#ifndef AC_WEBHOOK_LISTENER_H
#define AC_WEBHOOK_LISTENER_H

#include <stddef.h>
#include <netinet/in.h>
#include "sluice/plugin.h"
#include "ac_spool.h"

typedef struct ac_listener_config {
    struct sockaddr_in addr;
    const char *basic_auth;       /* "user:password", or NULL */
    const char *secret;           /* HMAC secret, or NULL */
    const char *signature_header; /* header carrying the HMAC */
    const char *tls_cert;         /* PEM contents, or NULL (plain HTTP) */
    const char *tls_key;
    size_t max_body;
    size_t body_budget;
    unsigned int max_connections;
    unsigned int max_per_ip;      /* 0: no per-address limit */
    unsigned int threads;
    long request_timeout_ms;
    long spool_wait_ms;
    int can_enrich;               /* thin payloads can be completed by the API */
    const json_t *erase_types;    /* erase_event_types (borrowed): such a payload
                                     needs its member id only (ac_erase.h) */
    int wake_fd;                  /* eventfd written once a webhook is spooled
                                     (the source's wake fd), or -1 */
    void (*spooled)(void *arg);   /* called (writer's thread) once a webhook
                                     is stored, or NULL */
    void *spooled_arg;
} ac_listener_config;

typedef struct ac_listener ac_listener;

/* Start listening with `config` (strings copied), spooling into `writer`
 * (borrowed: it must outlive the listener), logging and counting through
 * `ctx`. Returns the listener (caller owns; ac_listener_stop) or NULL with
 * errbuf. */
ac_listener *ac_listener_start(sluice_ctx *ctx, const ac_listener_config *config, ac_spool_writer *writer,
                               char *errbuf, size_t errlen);

/* The bound port (useful when the configured port was 0). */
unsigned int ac_listener_port(const ac_listener *listener);

/* Seconds (monotonic) since the last request that reached the handler. */
double ac_listener_idle_seconds(ac_listener *listener);

/* Stop accepting, answer what waits for the spool, close every connection,
 * stop the threads, free and NULL *listener_p. The writer must still be
 * running: requests it holds are answered before the daemon stops. Safe
 * on NULL. */
void ac_listener_stop(ac_listener **listener_p);
#endif
