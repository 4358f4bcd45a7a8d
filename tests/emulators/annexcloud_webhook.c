/* annexcloud_webhook.c: the emulator's webhook sender: one thread, change order, signed, retried with backoff. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "annexcloud_emu.h"

typedef struct pending {
    char *body;
    char *label;
    struct pending *next;
} pending;

struct annex_webhook {
    char *url, *secret, *header, *basic;
    long max_attempts, backoff_min_ms, backoff_max_ms;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;       /* queue grew, went idle, or stop was asked */
    pending *head, *tail;
    bool busy;                    /* the thread holds an item it has not finished */
    bool stopping;
    json_int_t sent, delivered, failed, attempts;
};

/* Absolute CLOCK_REALTIME deadline ms from now. */
static struct timespec deadline_after(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static size_t discard_body(char *data, size_t size, size_t nmemb, void *user)
{
    (void)data;
    (void)user;
    return size * nmemb;
}

/* "sha256=<lowercase hex HMAC-SHA256(secret, body)>" into out (>= 72 bytes). */
static void signature_value(const char *secret, const char *body, char *out, size_t out_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t used = (size_t)snprintf(out, out_len, "sha256=");
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac, &mac_len);
    for (unsigned int i = 0; i < mac_len && used + 3 <= out_len; i++)
        used += (size_t)snprintf(out + used, out_len - used, "%02x", mac[i]);
}

/* One POST. Returns the HTTP status, or 0 on a connection error (message in err). */
static long post_once(annex_webhook *hook, CURL *curl, const char *body, char *err, size_t err_len)
{
    struct curl_slist *headers = NULL;
    char signature_header[512];
    long status = 0;
    char curl_error[CURL_ERROR_SIZE] = "";

    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (hook->secret) {
        char signature[160];
        signature_value(hook->secret, body, signature, sizeof signature);
        snprintf(signature_header, sizeof signature_header, "%s: %s", hook->header, signature);
        headers = curl_slist_append(headers, signature_header);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, hook->url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (hook->basic) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, hook->basic);
    }
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, err_len, "%s", curl_error[0] ? curl_error : curl_easy_strerror(code));
    curl_slist_free_all(headers);
    return status;
}

/* Deliver one item: retries with doubling backoff until 2xx, max_attempts, or stop.
 * Returns true when delivered. Called without the lock. */
static bool deliver(annex_webhook *hook, CURL *curl, const pending *item)
{
    long delay_ms = hook->backoff_min_ms;
    for (long attempt = 1; attempt <= hook->max_attempts; attempt++) {
        char err[CURL_ERROR_SIZE + 32] = "";
        long status = post_once(hook, curl, item->body, err, sizeof err);
        pthread_mutex_lock(&hook->lock);
        hook->attempts++;
        bool stopping = hook->stopping;
        pthread_mutex_unlock(&hook->lock);
        if (status >= 200 && status < 300) {
            fprintf(stderr, "annexcloud-emu: webhook %s attempt %ld: HTTP %ld, delivered\n", item->label,
                    attempt, status);
            return true;
        }
        if (status)
            snprintf(err, sizeof err, "HTTP %ld", status);
        if (attempt == hook->max_attempts || stopping) {
            fprintf(stderr, "annexcloud-emu: webhook %s attempt %ld: %s, giving up\n", item->label, attempt, err);
            return false;
        }
        fprintf(stderr, "annexcloud-emu: webhook %s attempt %ld: %s, retry in %ld ms\n", item->label, attempt,
                err, delay_ms);
        pthread_mutex_lock(&hook->lock);
        struct timespec until = deadline_after(delay_ms);
        while (!hook->stopping && pthread_cond_timedwait(&hook->changed, &hook->lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&hook->lock);
        delay_ms = delay_ms * 2 > hook->backoff_max_ms ? hook->backoff_max_ms : delay_ms * 2;
    }
    return false;
}

static void *sender_main(void *arg)
{
    annex_webhook *hook = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&hook->lock);
    while (!hook->stopping) {
        pending *item = hook->head;
        if (!item) {
            pthread_cond_wait(&hook->changed, &hook->lock);
            continue;
        }
        hook->busy = true;
        pthread_mutex_unlock(&hook->lock);
        bool ok = curl && deliver(hook, curl, item);
        pthread_mutex_lock(&hook->lock);
        if (ok)
            hook->delivered++;
        else
            hook->failed++;
        hook->head = item->next;
        if (!hook->head)
            hook->tail = NULL;
        hook->busy = false;
        free(item->body);
        free(item->label);
        free(item);
        pthread_cond_broadcast(&hook->changed);
    }
    pthread_mutex_unlock(&hook->lock);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

annex_webhook *annex_webhook_start(const annex_webhook_options *options, char *err, size_t err_len)
{
    annex_webhook *hook = calloc(1, sizeof *hook);
    if (!hook) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    hook->url = strdup(options->url);
    hook->secret = options->secret ? strdup(options->secret) : NULL;
    hook->header = strdup(options->header ? options->header : "X-AnnexCloud-Signature");
    hook->basic = options->basic ? strdup(options->basic) : NULL;
    hook->max_attempts = options->max_attempts > 0 ? options->max_attempts : 20;
    hook->backoff_min_ms = options->backoff_min_ms > 0 ? options->backoff_min_ms : 100;
    hook->backoff_max_ms = options->backoff_max_ms > 0 ? options->backoff_max_ms : 5000;
    pthread_mutex_init(&hook->lock, NULL);
    pthread_cond_init(&hook->changed, NULL);
    int rc = pthread_create(&hook->thread, NULL, sender_main, hook);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the webhook thread: %s", strerror(rc));
        annex_webhook_stop(&hook);
        return NULL;
    }
    hook->thread_started = true;
    return hook;
}

void annex_webhook_enqueue(annex_webhook *hook, char *body, const char *label)
{
    pending *item = calloc(1, sizeof *item);
    if (!item) {
        free(body);
        return;
    }
    item->body = body;
    item->label = strdup(label ? label : "-");
    pthread_mutex_lock(&hook->lock);
    if (hook->tail)
        hook->tail->next = item;
    else
        hook->head = item;
    hook->tail = item;
    hook->sent++;
    pthread_cond_broadcast(&hook->changed);
    pthread_mutex_unlock(&hook->lock);
}

int annex_webhook_wait_idle(annex_webhook *hook, long timeout_ms)
{
    int result = 0;
    struct timespec until = deadline_after(timeout_ms);
    pthread_mutex_lock(&hook->lock);
    while ((hook->head || hook->busy) && result == 0)
        if (pthread_cond_timedwait(&hook->changed, &hook->lock, &until) == ETIMEDOUT)
            result = (hook->head || hook->busy) ? -1 : 0;
    pthread_mutex_unlock(&hook->lock);
    return result;
}

void annex_webhook_counters(annex_webhook *hook, json_int_t *sent, json_int_t *delivered,
                            json_int_t *failed, json_int_t *attempts)
{
    pthread_mutex_lock(&hook->lock);
    *sent = hook->sent;
    *delivered = hook->delivered;
    *failed = hook->failed;
    *attempts = hook->attempts;
    pthread_mutex_unlock(&hook->lock);
}

void annex_webhook_stop(annex_webhook **hook_p)
{
    annex_webhook *hook = hook_p ? *hook_p : NULL;
    if (!hook)
        return;
    if (hook->thread_started) {
        pthread_mutex_lock(&hook->lock);
        hook->stopping = true;
        pthread_cond_broadcast(&hook->changed);
        pthread_mutex_unlock(&hook->lock);
        pthread_join(hook->thread, NULL);
    }
    for (pending *item = hook->head, *next; item; item = next) {
        next = item->next;
        free(item->body);
        free(item->label);
        free(item);
    }
    pthread_mutex_destroy(&hook->lock);
    pthread_cond_destroy(&hook->changed);
    free(hook->url);
    free(hook->secret);
    free(hook->header);
    free(hook->basic);
    free(hook);
    *hook_p = NULL;
}
