/* tests/emulators/emu_load.c: a bounded loopback load tool that measures ometria-emu push and infobip-emu upsert throughput.
 *
 * usage: emu-load --url http://127.0.0.1:PORT/v2/push --api-key KEY
 *                 [--requests N] [--seconds S] [--concurrency C]
 *                 [--records R] [--contacts K] [--minimal]
 *        emu-load --infobip-upsert --url http://127.0.0.1:PORT --api-key KEY [same options]
 * Sends POST requests of R contact records each (default 100) over C
 * keep-alive connections (libcurl multi, default 8) until N requests
 * (default 20000) are answered or S seconds (default 30) have passed, and
 * prints one line:
 *   "<requests/s> requests/s (<ok> ok, <failed> failed, <records> records each, <bytes> bytes each)"
 * Records are contacts with 4 fields and 3 properties (~260 bytes), or with
 * --minimal just @type, @collection, id and email (~90 bytes).
 * Contact ids cycle over K distinct members (default 10000) so the
 * emulator's state stays bounded.
 * --infobip-upsert: --url is the emulator's base URL; first defines the 25
 * custom attributes of the acme Infobip mapping (POST
 * /people/2/customAttributes, 201 or 409 both fine), then sends
 * PATCH /people/3/persons/upsert with R persons each (default 1000) in the
 * mapping's shape: externalId, names, birthDate, contactInformation EMAIL
 * and PHONE, tags, 25 customAttributes; emails and phones are distinct per
 * member and the points change with each of the 16 body variants, so
 * repeated members are UPDATED. A request counts as ok only when it is
 * answered 207 with no per-person error.
 * Exits 0 when every request succeeded, 1 when some did not, 2 on a bad
 * command line. Loopback URLs only.
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
#define ANSWER_PREFIX 256   /* bytes of each answer kept to check it */

typedef struct load_options {
    const char *url;
    const char *api_key;
    long requests, seconds, concurrency, records, contacts;
    bool minimal;          /* records of @type, @collection, id, email only */
    bool infobip;          /* --infobip-upsert: PATCH persons to infobip-emu */
} load_options;

typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

/* The start of one connection's current answer. */
typedef struct answer {
    char text[ANSWER_PREFIX + 1];
    size_t len;
} answer;

/* The custom attributes of the acme Infobip mapping
 * (pipelines/mappings/infobip-schema.cfg) with their data types. */
static const char *const infobip_attributes[][2] = {
    {"annexLoyaltyId", "STRING"}, {"annexActiveStatus", "STRING"},
    {"annexOptInStatus", "STRING"}, {"annexOptInDate", "DATE"},
    {"annexOptOutDate", "DATE"}, {"annexAnniversaryDate", "DATE"},
    {"annexAvailablePoints", "INTEGER"}, {"annexEarnedPoints", "INTEGER"},
    {"annexUsedPoints", "INTEGER"}, {"annexHoldPoints", "INTEGER"},
    {"annexNextExpiringPoints", "INTEGER"}, {"annexPointsExpirationDate", "DATE"},
    {"annexExpiredPoints", "INTEGER"}, {"annexCurrentTier", "STRING"},
    {"annexNextTier", "STRING"}, {"annexPointsReqForNextTier", "INTEGER"},
    {"annexTierAchieveDate", "DATE"}, {"annexAvailableRewards", "STRING"},
    {"annexPointsReqForNextReward", "INTEGER"}, {"annexHighestAvailableReward", "STRING"},
    {"annexFirstActivityDate", "DATE"}, {"annexLastActivityDate", "DATE"},
    {"annexFirstPurchaseDate", "DATE"}, {"annexLastPurchaseDate", "DATE"},
    {"annexZipCode", "STRING"},
};
#define N_INFOBIP_ATTRIBUTES (sizeof(infobip_attributes) / sizeof(infobip_attributes[0]))

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

/* Appends one Ometria contact record for member (preceded by a comma unless
 * first). Returns 0, -1 on allocation failure. */
static int append_contact(const load_options *o, buffer *buf, long member, bool first)
{
    if (o->minimal)
        return buffer_printf(buf,
                             "%s{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\","
                             "\"id\":\"LID-%06ld\",\"email\":\"member%ld@example.com\"}",
                             first ? "" : ",", member, member);
    return buffer_printf(buf,
                         "%s{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\","
                         "\"id\":\"LID-%06ld\",\"customer_id\":\"LID-%06ld\","
                         "\"email\":\"member%ld@example.com\",\"firstname\":\"Ada\","
                         "\"lastname\":\"Member%ld\",\"properties\":{\"annex_current_tier\":\"Gold\","
                         "\"annex_available_points\":\"%ld\",\"annex_used_points\":%ld}}",
                         first ? "" : ",", member, member, member, member, member * 7 % 5000,
                         member % 300);
}

/* Appends one Infobip person for member in the acme mapping's shape; the
 * points depend on variant so a member sent again in another variant is
 * an update. Returns 0, -1 on allocation failure. */
static int append_person(buffer *buf, long member, int variant, bool first)
{
    static const char *const tiers[] = {"Bronze", "Silver", "Gold", "Platinum"};
    const char *tier = tiers[member % 4], *next = tiers[(member + 1) % 4];
    long points = member * 7 % 5000 + variant;
    int month = (int)(member % 12) + 1, day = (int)(member % 28) + 1;
    return buffer_printf(
        buf,
        "%s{\"externalId\":\"LID-%06ld\",\"firstName\":\"Zo\\u00eb\",\"lastName\":\"Member%ld\","
        "\"birthDate\":\"19%02ld-%02d-%02d\","
        "\"contactInformation\":[{\"type\":\"EMAIL\",\"identifier\":\"member%ld@example.com\","
        "\"primary\":true},{\"type\":\"PHONE\",\"identifier\":\"447700%06ld\",\"primary\":true}],"
        "\"tags\":[\"Loyalty\",\"%s\"],"
        "\"customAttributes\":{\"annexLoyaltyId\":\"LID-%06ld\",\"annexActiveStatus\":\"Active\","
        "\"annexOptInStatus\":\"Yes\",\"annexOptInDate\":\"2024-%02d-%02d\","
        "\"annexOptOutDate\":null,\"annexAnniversaryDate\":\"2025-%02d-%02d\","
        "\"annexAvailablePoints\":%ld,\"annexEarnedPoints\":%ld,\"annexUsedPoints\":%ld,"
        "\"annexHoldPoints\":%ld,\"annexNextExpiringPoints\":%ld,"
        "\"annexPointsExpirationDate\":\"2027-%02d-%02d\",\"annexExpiredPoints\":%ld,"
        "\"annexCurrentTier\":\"%s\",\"annexNextTier\":\"%s\",\"annexPointsReqForNextTier\":%ld,"
        "\"annexTierAchieveDate\":\"2025-%02d-%02d\","
        "\"annexAvailableRewards\":\"5 EUR voucher | Free shipping\","
        "\"annexPointsReqForNextReward\":%ld,\"annexHighestAvailableReward\":\"5 EUR voucher\","
        "\"annexFirstActivityDate\":\"2024-%02d-%02d\",\"annexLastActivityDate\":\"2026-%02d-%02d\","
        "\"annexFirstPurchaseDate\":\"2024-%02d-%02d\",\"annexLastPurchaseDate\":\"2026-%02d-%02d\","
        "\"annexZipCode\":\"%05ld\"}}",
        first ? "" : ",", member, member, 50 + member % 50, month, day, member, member % 1000000,
        tier, member, month, day, month, day, points, points * 2, points, member % 50,
        member % 200, month, day, member % 30, tier, next, 1000 - member % 1000, month, day,
        100 - member % 100, month, day, month, day, month, day, month, day, member % 100000);
}

/* Builds request body number variant: a JSON array of o->records contacts,
 * or with --infobip-upsert {"persons":[...]}. Caller frees buf->data. */
static int build_body(const load_options *o, int variant, buffer *buf)
{
    if (buffer_printf(buf, o->infobip ? "{\"persons\":[" : "[") < 0)
        return -1;
    for (long i = 0; i < o->records; i++) {
        long member = (variant * o->records + i) % o->contacts;
        int rc = o->infobip ? append_person(buf, member, variant, i == 0)
                            : append_contact(o, buf, member, i == 0);
        if (rc < 0)
            return -1;
    }
    return buffer_printf(buf, o->infobip ? "]}" : "]");
}

/* libcurl write callback: keeps the first ANSWER_PREFIX bytes of the
 * answer in the connection's answer (user). */
static size_t keep_prefix(char *ptr, size_t size, size_t nmemb, void *user)
{
    answer *a = user;
    size_t n = size * nmemb, room = ANSWER_PREFIX - a->len;
    size_t take = n < room ? n : room;
    memcpy(a->text + a->len, ptr, take);
    a->len += take;
    a->text[a->len] = '\0';
    return n;
}

/* Whether a finished request succeeded: 200 for Ometria; 207 without any
 * per-person error for Infobip. */
static bool request_ok(const load_options *o, long code, const answer *a)
{
    if (!o->infobip)
        return code == 200;
    return code == 207 && strncmp(a->text, "{\"errors\":[],", 13) == 0;
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
    bool records_given = false;
    *o = (load_options){NULL, NULL, 20000, 30, 8, 100, 10000, false, false};
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
            ok = records_given = parse_long(flag, value, 100000, &o->records);
        else if (strcmp(flag, "--contacts") == 0)
            ok = parse_long(flag, value, 100000000, &o->contacts);
        else if (strcmp(flag, "--minimal") == 0 || strcmp(flag, "--infobip-upsert") == 0) {
            if (flag[2] == 'm')
                o->minimal = true;
            else
                o->infobip = true;
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
        fprintf(stderr, "usage: emu-load [--infobip-upsert] --url URL --api-key KEY [--requests N] "
                        "[--seconds S] [--concurrency C] [--records R] [--contacts K] [--minimal]\n");
        return false;
    }
    if (strncmp(o->url, "http://127.0.0.1:", 17) != 0 && strncmp(o->url, "http://localhost:", 17) != 0) {
        fprintf(stderr, "emu-load: only loopback URLs (http://127.0.0.1:PORT/...) are allowed\n");
        return false;
    }
    if (o->infobip && !records_given)
        o->records = 1000;
    return true;
}

/* Defines the mapping's custom attributes on infobip-emu at base_url with
 * auth_header. Returns 0 when each is created or already exists (201/409),
 * -1 after printing which one failed. */
static int define_infobip_attributes(const char *base_url, struct curl_slist *headers)
{
    int result = -1;
    char url[1024], body[160];
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    snprintf(url, sizeof(url), "%s/people/2/customAttributes", base_url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_prefix);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    for (size_t i = 0; i < N_INFOBIP_ATTRIBUTES; i++) {
        answer a = {{0}, 0};
        long code = 0;
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"dataType\":\"%s\"}",
                 infobip_attributes[i][0], infobip_attributes[i][1]);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || (code != 201 && code != 409)) {
            fprintf(stderr, "emu-load: defining custom attribute %s at %s failed: %s %ld %s\n",
                    infobip_attributes[i][0], url, curl_easy_strerror(rc), code, a.text);
            goto out;
        }
    }
    result = 0;
out:
    curl_easy_cleanup(h);
    return result;
}

/* Queues the next request body on handle h. */
static void queue_request(CURLM *multi, CURL *h, const buffer *b, answer *a)
{
    a->len = 0;
    a->text[0] = '\0';
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b->len);
    curl_multi_add_handle(multi, h);
}

int main(int argc, char **argv)
{
    load_options o;
    buffer bodies[BODY_VARIANTS] = {{0}};
    CURL *handles[MAX_CONCURRENCY] = {0};
    static answer answers[MAX_CONCURRENCY];
    CURLM *multi = NULL;
    struct curl_slist *headers = NULL;
    char auth[512], url[1024];
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
    if (o.infobip)
        snprintf(auth, sizeof(auth), "Authorization: App %s", o.api_key);
    else
        snprintf(auth, sizeof(auth), "X-Ometria-Auth: %s", o.api_key);
    snprintf(url, sizeof(url), "%s%s", o.url, o.infobip ? "/people/3/persons/upsert" : "");
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    multi = curl_multi_init();
    if (!multi || !headers)
        goto out;
    status = 1;
    if (o.infobip && define_infobip_attributes(o.url, headers) < 0)
        goto out;

    double start = now_seconds(), deadline = start + (double)o.seconds;
    for (long c = 0; c < o.concurrency && started < o.requests; c++) {
        handles[c] = curl_easy_init();
        if (!handles[c])
            goto out;
        CURL *h = handles[c];
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_prefix);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &answers[c]);
        curl_easy_setopt(h, CURLOPT_PRIVATE, &answers[c]);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (o.infobip)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
        queue_request(multi, h, &bodies[started % BODY_VARIANTS], &answers[c]);
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
            char *priv = NULL;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
            answer *a = (answer *)priv;
            if (msg->data.result == CURLE_OK && request_ok(&o, code, a)) {
                ok++;
            } else {
                if (failed == 0)
                    fprintf(stderr, "emu-load: first failure: %s, HTTP %ld: %.200s\n",
                            curl_easy_strerror(msg->data.result), code, a->text);
                failed++;
            }
            curl_multi_remove_handle(multi, h);
            if (started < o.requests && now_seconds() < deadline) {
                queue_request(multi, h, &bodies[started % BODY_VARIANTS], a);
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
