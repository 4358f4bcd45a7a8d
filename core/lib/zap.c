/* zap.c: the ZAP handler of a ZeroMQ context: admits CURVE clients whose
 * public key is allowed on the domain (stage) they connect to, refuses
 * everything else and logs refusals, rate-limited. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "util/clock.h"
#include "zap.h"

/* A request has 6 frames and the mechanism's credentials (1 for CURVE). */
#define ZAP_FRAMES_MAX 8
#define ZAP_FRAME_TEXT_MAX 256
/* How often the thread looks at its stop flag. */
#define ZAP_POLL_MS 100

/* One allowed client key on one domain. */
typedef struct zap_entry {
    char *domain;
    uint8_t key[SLUICE_CURVE_KEY_BYTES];
} zap_entry;

struct sluice_zap {
    char *pipeline;
    zap_entry *entries;
    size_t count, allocated;
    void *socket;             /* REP bound at SLUICE_ZAP_ENDPOINT; the thread's */
    pthread_t thread;
    int running;              /* the thread was started (join owed) */
    volatile int stop;
    pthread_mutex_t lock;     /* guards the counters below */
    unsigned long refusals;
    unsigned long unlogged;   /* refusals since the last line logged */
    int64_t logged_ms;        /* when the last refusal line was logged */
};

sluice_zap *sluice_zap_new(const char *pipeline)
{
    sluice_zap *zap = calloc(1, sizeof(*zap));

    if (!zap)
        return NULL;
    zap->pipeline = strdup(pipeline ? pipeline : "");
    if (!zap->pipeline) {
        free(zap);
        return NULL;
    }
    pthread_mutex_init(&zap->lock, NULL);
    return zap;
}

int sluice_zap_allow(sluice_zap *zap, const char *domain, const char *public_z85)
{
    zap_entry *entry;

    if (!sluice_curve_key_valid(public_z85))
        return -1;
    if (zap->count == zap->allocated) {
        size_t more = zap->allocated ? zap->allocated * 2 : 4;
        zap_entry *grown = realloc(zap->entries, more * sizeof(*grown));
        if (!grown)
            return -1;
        zap->entries = grown;
        zap->allocated = more;
    }
    entry = &zap->entries[zap->count];
    entry->domain = strdup(domain);
    if (!entry->domain || !zmq_z85_decode(entry->key, public_z85)) {
        free(entry->domain);
        return -1;
    }
    zap->count++;
    return 0;
}

/* Write `key_len` bytes of `key` as Z85 into `out` (41 bytes), or "?" when
 * it is not a 32-byte key. */
static void key_text(const uint8_t *key, size_t key_len, char out[41])
{
    if (key_len != SLUICE_CURVE_KEY_BYTES || !zmq_z85_encode(out, key, key_len))
        snprintf(out, 41, "?");
}

int sluice_zap_decide(const sluice_zap *zap, const char *domain, const char *mechanism,
                      const uint8_t *key, size_t key_len, char *reason, size_t len)
{
    int governed = 0;
    char client[41];

    for (size_t i = 0; i < zap->count; i++) {
        if (strcmp(zap->entries[i].domain, domain) != 0)
            continue;
        governed = 1;
        if (strcmp(mechanism, "CURVE") == 0 && key_len == SLUICE_CURVE_KEY_BYTES &&
            memcmp(zap->entries[i].key, key, SLUICE_CURVE_KEY_BYTES) == 0)
            return SLUICE_ZAP_ALLOW;
    }
    if (!governed && strcmp(mechanism, "NULL") == 0)
        return SLUICE_ZAP_ALLOW;
    if (!governed)
        snprintf(reason, len, "mechanism %.16s on a link sluice does not secure",
                 mechanism);
    else if (strcmp(mechanism, "CURVE") != 0)
        snprintf(reason, len, "mechanism %.16s instead of CURVE", mechanism);
    else {
        key_text(key, key_len, client);
        snprintf(reason, len, "client key %s is not allowed", client);
    }
    return SLUICE_ZAP_DENY;
}

/* Note one refusal and log it unless a line was logged within
 * SLUICE_ZAP_LOG_EVERY_MS (then it is only counted for the next line). */
static void note_refusal(sluice_zap *zap, const char *domain, const char *address,
                         const char *reason)
{
    int64_t now = sluice_clock_ms();
    unsigned long unlogged = 0;
    int log_now = 0;

    pthread_mutex_lock(&zap->lock);
    zap->refusals++;
    if (zap->logged_ms == 0 || now - zap->logged_ms >= SLUICE_ZAP_LOG_EVERY_MS) {
        log_now = 1;
        unlogged = zap->unlogged;
        zap->unlogged = 0;
        zap->logged_ms = now;
    } else {
        zap->unlogged++;
    }
    pthread_mutex_unlock(&zap->lock);
    if (!log_now)
        return;
    if (unlogged)
        sluice_log_write(zap->pipeline, domain, SLUICE_LOG_WARN, "refused a connection from "
                         "%s: %s (and %lu more refusal(s) since the last such line)",
                         address, reason, unlogged);
    else
        sluice_log_write(zap->pipeline, domain, SLUICE_LOG_WARN, "refused a connection from "
                         "%s: %s", address, reason);
}

/* Receive one multipart request into `frames` (at most `max`; the caller
 * closes them). Returns the
 * number of frames, or -1 if none could be read (EAGAIN, ETERM). */
static int recv_request(void *socket, zmq_msg_t *frames, int max)
{
    int count = 0;
    int more = 1;

    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, socket, count ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (count < max)
            frames[count++] = part; /* moved */
        else
            zmq_msg_close(&part);
    }
    return count ? count : -1;
}

/* Copy frame `i` as a C string (truncated) into `out`. */
static void frame_text(zmq_msg_t *frames, int count, int i, char *out, size_t len)
{
    size_t n = i < count ? zmq_msg_size(&frames[i]) : 0;

    if (n >= len)
        n = len - 1;
    if (n)
        memcpy(out, zmq_msg_data(&frames[i]), n);
    out[n] = '\0';
}

/* Answer one request waiting on the socket. */
static void serve_one(sluice_zap *zap)
{
    zmq_msg_t frames[ZAP_FRAMES_MAX];
    int count = recv_request(zap->socket, frames, ZAP_FRAMES_MAX);
    char version[16], domain[ZAP_FRAME_TEXT_MAX], address[ZAP_FRAME_TEXT_MAX];
    char mechanism[32], reason[256] = "malformed request";
    const uint8_t *key = NULL;
    size_t key_len = 0;
    int status = SLUICE_ZAP_DENY;
    char code[8];

    if (count < 0)
        return;
    frame_text(frames, count, 0, version, sizeof(version));
    frame_text(frames, count, 2, domain, sizeof(domain));
    frame_text(frames, count, 3, address, sizeof(address));
    frame_text(frames, count, 5, mechanism, sizeof(mechanism));
    if (count > 6) {
        key = zmq_msg_data(&frames[6]);
        key_len = zmq_msg_size(&frames[6]);
    }
    if (count >= 6 && strcmp(version, "1.0") == 0)
        status = sluice_zap_decide(zap, domain, mechanism, key, key_len, reason,
                                   sizeof(reason));
    if (status != SLUICE_ZAP_ALLOW)
        note_refusal(zap, domain[0] ? domain : NULL, address[0] ? address : "?", reason);
    snprintf(code, sizeof(code), "%d", status);
    /* version, request id (echoed), status code, status text, user id, metadata */
    zmq_send(zap->socket, "1.0", 3, ZMQ_SNDMORE);
    if (count > 1)
        zmq_send(zap->socket, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), ZMQ_SNDMORE);
    else
        zmq_send(zap->socket, "", 0, ZMQ_SNDMORE);
    zmq_send(zap->socket, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(zap->socket, status == SLUICE_ZAP_ALLOW ? "OK" : "refused",
             status == SLUICE_ZAP_ALLOW ? 2 : 7, ZMQ_SNDMORE);
    zmq_send(zap->socket, "", 0, ZMQ_SNDMORE);
    zmq_send(zap->socket, "", 0, 0);
    for (int i = 0; i < count; i++)
        zmq_msg_close(&frames[i]);
}

/* The handler thread: answer requests until asked to stop. */
static void *zap_thread(void *arg)
{
    sluice_zap *zap = arg;

    while (!zap->stop) {
        zmq_pollitem_t item = {.socket = zap->socket, .events = ZMQ_POLLIN};
        int ready = zmq_poll(&item, 1, ZAP_POLL_MS);

        if (ready < 0 && errno == ETERM)
            break;
        if (ready > 0)
            serve_one(zap);
    }
    return NULL;
}

int sluice_zap_start(sluice_zap *zap, void *zctx, char *errbuf, size_t errlen)
{
    int linger = 0;

    zap->socket = zmq_socket(zctx, ZMQ_REP);
    if (!zap->socket) {
        snprintf(errbuf, errlen, "cannot create the ZAP socket: %s", zmq_strerror(errno));
        return -1;
    }
    zmq_setsockopt(zap->socket, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(zap->socket, SLUICE_ZAP_ENDPOINT) != 0) {
        snprintf(errbuf, errlen, "cannot bind the ZAP handler at %s: %s", SLUICE_ZAP_ENDPOINT,
                 zmq_strerror(errno));
        goto fail;
    }
    if (pthread_create(&zap->thread, NULL, zap_thread, zap) != 0) {
        snprintf(errbuf, errlen, "cannot start the ZAP handler's thread");
        goto fail;
    }
    zap->running = 1;
    return 0;
fail:
    zmq_close(zap->socket);
    zap->socket = NULL;
    return -1;
}

unsigned long sluice_zap_refusals(sluice_zap *zap)
{
    unsigned long refusals;

    pthread_mutex_lock(&zap->lock);
    refusals = zap->refusals;
    pthread_mutex_unlock(&zap->lock);
    return refusals;
}

void sluice_zap_destroy(sluice_zap **zap_p)
{
    sluice_zap *zap;

    if (!zap_p || !*zap_p)
        return;
    zap = *zap_p;
    if (zap->running) {
        zap->stop = 1;
        pthread_join(zap->thread, NULL);
    }
    if (zap->socket)
        zmq_close(zap->socket);
    for (size_t i = 0; i < zap->count; i++)
        free(zap->entries[i].domain);
    free(zap->entries);
    pthread_mutex_destroy(&zap->lock);
    free(zap->pipeline);
    free(zap);
    *zap_p = NULL;
}
