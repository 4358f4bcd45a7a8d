/* tests/emulators/emu_load.c: a bounded loopback load tool that measures ometria-emu push throughput.
 *
 * usage: emu-load --url http://127.0.0.1:PORT/v2/push --api-key KEY
 *                 [--requests N] [--seconds S] [--concurrency C]
 *                 [--records R] [--contacts K] [--minimal]
 * Sends POST requests of R contact records each (default 100) over C
 * keep-alive connections (libcurl multi, default 8) until N requests
 * (default 20000) are answered or S seconds (default 30) have passed, and
 * prints one line:
 *   "<requests/s> requests/s (<ok> ok, <failed> failed, <records> records each, <bytes> bytes each)"
 * Records are contacts with 4 fields and 3 properties (~260 bytes), or with
 * --minimal just @type, @collection, id and email (~90 bytes).
 * Contact ids cycle over K distinct members (default 10000) so the
 * emulator's state stays bounded. Exits 0 when every request got 200, 1 when
 * some did not, 2 on a bad command line. Loopback URLs only.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONCURRENCY 64
#define BODY_VARIANTS 16

typedef struct load_options {
    const char *url;
    const char *api_key;
    long requests, seconds, concurrency, records, contacts;
    bool minimal;          /* records of @type, @collection, id, email only */
} load_options;

typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

/* Appends printf output to buf. Returns 0, -1 on allocation failure. */
static int buffer_printf(buffer *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buffer_printf(buffer *buf, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = buf->cap - buf->len;
        va_start(ap, fmt);
        int n = vsnprintf(buf->data ? buf->data + buf->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            buf->len += (size_t)n;
            return 0;
        }
        size_t cap = buf->cap ? buf->cap * 2 : 4096;
        while (cap - buf->len <= (size_t)n)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (!grown)
            return -1;
        buf->data = grown;
        buf->cap = cap;
    }
}

/* Builds request body number variant: a JSON array of records contacts.
 * Caller frees buf->data. */
static int build_body(const load_options *o, int variant, buffer *buf)
{
    if (buffer_printf(buf, "[") < 0)
        return -1;
    for (long i = 0; i < o->records; i++) {
        long member = (variant * o->records + i) % o->contacts;
        if (o->minimal) {
            if (buffer_printf(buf,
                              "%s{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\","
                              "\"id\":\"LID-%06ld\",\"email\":\"member%ld@example.com\"}",
                              i ? "," : "", member, member) < 0)
                return -1;
            continue;
        }
        if (buffer_printf(buf,
                          "%s{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\","
                          "\"id\":\"LID-%06ld\",\"customer_id\":\"LID-%06ld\","
                          "\"email\":\"member%ld@example.com\",\"firstname\":\"Ada\","
                          "\"lastname\":\"Member%ld\",\"properties\":{\"annex_current_tier\":\"Gold\","
                          "\"annex_available_points\":\"%ld\",\"annex_used_points\":%ld}}",
                          i ? "," : "", member, member, member, member, member * 7 % 5000,
                          member % 300) < 0)
            return -1;
    }
    return buffer_printf(buf, "]");
}

/* libcurl write callback: answers are not needed. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *user)
{
    return size * nmemb;
}

/* Parses a positive long flag value within [1, max]. */
static bool parse_long(const char *flag, const char *s, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "emu-load: %s needs an integer between 1 and %ld\n", flag, max);
        return false;
    }
    *out = v;
    return true;
}

/* Seconds on the monotonic clock. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses argv into o. Returns false (message printed) on a bad command line. */
static bool parse_options(int argc, char **argv, load_options *o)
{
    *o = (load_options){NULL, NULL, 20000, 30, 8, 100, 10000, false};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(flag, "--url") == 0)
            o->url = value, ok = value != NULL;
        else if (strcmp(flag, "--api-key") == 0)
            o->api_key = value, ok = value != NULL;
        else if (strcmp(flag, "--requests") == 0)
            ok = parse_long(flag, value, 100000000, &o->requests);
        else if (strcmp(flag, "--seconds") == 0)
            ok = parse_long(flag, value, 3600, &o->seconds);
        else if (strcmp(flag, "--concurrency") == 0)
            ok = parse_long(flag, value, MAX_CONCURRENCY, &o->concurrency);
        else if (strcmp(flag, "--records") == 0)
            ok = parse_long(flag, value, 100000, &o->records);
        else if (strcmp(flag, "--contacts") == 0)
            ok = parse_long(flag, value, 100000000, &o->contacts);
        else if (strcmp(flag, "--minimal") == 0) {
            o->minimal = true;
            continue; /* no value */
        } else {
            fprintf(stderr, "emu-load: unknown option '%s'\n", flag);
            return false;
        }
        if (!ok) {
            fprintf(stderr, "emu-load: bad or missing value for %s\n", flag);
            return false;
        }
        i++;
    }
    if (!o->url || !o->api_key) {
        fprintf(stderr, "usage: emu-load --url URL --api-key KEY [--requests N] [--seconds S] "
                        "[--concurrency C] [--records R] [--contacts K] [--minimal]\n");
        return false;
    }
    if (strncmp(o->url, "http://127.0.0.1:", 17) != 0 && strncmp(o->url, "http://localhost:", 17) != 0) {
        fprintf(stderr, "emu-load: only loopback URLs (http://127.0.0.1:PORT/...) are allowed\n");
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    load_options o;
    buffer bodies[BODY_VARIANTS] = {{0}};
    CURL *handles[MAX_CONCURRENCY] = {0};
    CURLM *multi = NULL;
    struct curl_slist *headers = NULL;
    char auth[512];
    int status = 2;
    long started = 0, ok = 0, failed = 0;

    if (!parse_options(argc, argv, &o))
        return 2;
    for (int v = 0; v < BODY_VARIANTS; v++)
        if (build_body(&o, v, &bodies[v]) < 0) {
            fprintf(stderr, "emu-load: out of memory\n");
            goto out;
        }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(auth, sizeof(auth), "X-Ometria-Auth: %s", o.api_key);
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    multi = curl_multi_init();
    if (!multi || !headers)
        goto out;

    double start = now_seconds(), deadline = start + (double)o.seconds;
    for (long c = 0; c < o.concurrency && started < o.requests; c++) {
        handles[c] = curl_easy_init();
        if (!handles[c])
            goto out;
        CURL *h = handles[c];
        curl_easy_setopt(h, CURLOPT_URL, o.url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        buffer *b = &bodies[started % BODY_VARIANTS];
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b->len);
        curl_multi_add_handle(multi, h);
        started++;
    }
    int running = 1;
    while (running > 0) {
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && code == 200)
                ok++;
            else
                failed++;
            curl_multi_remove_handle(multi, h);
            if (started < o.requests && now_seconds() < deadline) {
                buffer *b = &bodies[started % BODY_VARIANTS];
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->data);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b->len);
                curl_multi_add_handle(multi, h);
                started++;
                running++;
            }
        }
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double elapsed = now_seconds() - start;
    printf("%.0f requests/s (%ld ok, %ld failed, %ld records each, %zu bytes each)\n",
           (double)(ok + failed) / (elapsed > 0 ? elapsed : 1e-9), ok, failed, o.records,
           bodies[0].len);
    status = failed == 0 && ok > 0 ? 0 : 1;
out:
    for (long c = 0; c < MAX_CONCURRENCY; c++)
        if (handles[c]) {
            if (multi)
                curl_multi_remove_handle(multi, handles[c]);
            curl_easy_cleanup(handles[c]);
        }
    if (multi)
        curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    for (int v = 0; v < BODY_VARIANTS; v++)
        free(bodies[v].data);
    curl_global_cleanup();
    return status;
}
