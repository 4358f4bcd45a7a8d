/* webhook_load.c: webhook-load, a signed-webhook load generator that records the answer to every request (the webhook soak test and the intake benchmark).
 *
 * usage: webhook-load --url http://127.0.0.1:PORT/PATH --secret S --program DIR
 *                     [--connections C] [--limit N] [--rate R] [--barrier day|none]
 *                     [--log FILE] [--deadline S] [--retry-max-ms MS] [--timeout-ms MS]
 *                     [--site-id ID] [--header NAME]
 *
 * Builds the webhooks annexcloud-emu would post for a loyaltygen program
 * (DIR/program.json, DIR/annex/{members,changes}.jsonl): one per change that
 * is not silent, in change order, with the emulator's own bodies and
 * signatures (annexcloud_envelope.c); only the first N with --limit.
 *
 * Sends them from C senders at once (default 16; libcurl multi, keep-alive
 * connections). All webhooks of a member go through one sender (a hash of
 * its id), one at a time, in change order: the next is sent only once the
 * previous was answered 2xx. A request answered 5xx, 408 or 429, or that got
 * no answer (connection refused or reset, timed out after --timeout-ms,
 * default 30000), is sent again as Annex Cloud's sender does (same body,
 * after 100 ms doubling to --retry-max-ms, default 2000) until --deadline
 * seconds (default 600) have passed since the start; any other status is
 * refused for good (recorded, never sent again). With --barrier day (the
 * default) no webhook of a later UTC day (of the change's "at") is sent
 * before every webhook of the earlier days was answered, so a receiver that
 * keeps arrival order sees the program's days in order; --barrier none sends
 * as fast as the senders go. --rate R caps the sends (attempts) at R per
 * second in all (default 0: no cap).
 *
 * --log FILE gets one tab-separated line per attempt, written as it ends:
 *   index event_id member sender attempt status verdict sent_ms latency_ms detail
 * index: the webhook's position in change order (0-based); status: the HTTP
 * status, 0 when no answer came; verdict: 2xx; retry (answered, sent again);
 * error (no answer, sent again); refused (not 2xx and not retried); gave-up
 * (in flight when the deadline passed); sent_ms: Unix time in ms when it was
 * sent; latency_ms: until the answer (or the error); detail: the answer's
 * "status" or "error" text, or libcurl's error. The log is flushed at least
 * every 100 ms, so it can be followed while the load runs.
 *
 * Prints one line on stdout when done:
 *   webhook-load: webhooks=N accepted=A duplicates=D refused=R gave_up=G
 *   attempts=T retried=E seconds=S rate=X p50_ms=P p99_ms=Q max_ms=M senders=C
 *   body_bytes=B
 * accepted: webhooks answered 2xx, of which duplicates were answered as a
 * duplicate delivery (an earlier attempt had been taken but its answer was
 * lost); rate: accepted per second from the first send to the last 2xx;
 * p50/p99/max: latency of the 2xx answers (nearest rank); body_bytes: the
 * webhooks' mean body size.
 * Exits 0 when every webhook was answered 2xx, 1 when some were not, 2 on a
 * bad command line or program. Loopback URLs only.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "annexcloud_emu.h"

#define MAX_SENDERS 256
#define ANSWER_PREFIX 240  /* bytes of each answer kept for the log */
#define SIGNATURE_LEN 80
#define FIRST_RETRY_MS 100
#define LOG_FLUSH_S 0.1

typedef struct load_options {
    const char *url, *secret, *program_dir, *log_path, *site_id, *header;
    long senders, limit, deadline_s, retry_max_ms, timeout_ms;
    double rate;
    bool day_barrier;
} load_options;

/* One webhook to deliver. */
typedef struct webhook {
    char *body;
    size_t body_len;
    char *event_id, *member;
    char signature[SIGNATURE_LEN];
    long day;          /* UTC day number of the change's "at" */
} webhook;

/* The webhooks of a program, in change order (built by collect_webhook). */
typedef struct webhook_list {
    webhook *items;
    size_t count, capacity, limit;
    const load_options *options;
    const annex_model *model; /* the program, while the list is built */
    bool failed;       /* out of memory while building */
} webhook_list;

/* One sender: a queue of webhooks (indices, change order) sent one at a time. */
typedef struct sender {
    int number;
    CURL *handle;
    size_t *queue;
    size_t queue_len, next; /* queue[next] is the webhook in flight or due */
    bool busy;
    long attempt;
    double retry_at;        /* monotonic seconds; the next attempt not before */
    double sent_wall_ms;
    struct curl_slist *headers;
    char answer[ANSWER_PREFIX + 1];
    size_t answer_len;
    char error[CURL_ERROR_SIZE];
} sender;

/* Counters and the latency sample. */
typedef struct tally {
    size_t accepted, duplicates, refused, attempts, retried, done;
    double *latencies_ms;   /* of the 2xx answers */
    double first_send, last_accept;
} tally;

/* Seconds on the monotonic clock. */
static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Unix time in milliseconds. */
static double now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Parses flag's value s as an integer within [min, max] into *out. Returns
 * false after printing what is wrong. */
static bool parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "webhook-load: %s needs an integer between %ld and %ld\n", flag, min, max);
        return false;
    }
    *out = v;
    return true;
}

/* Parses argv into o. Returns false (message printed) on a bad command line. */
static bool parse_options(int argc, char **argv, load_options *o)
{
    *o = (load_options){.site_id = "29235480", .header = "X-AnnexCloud-Signature", .senders = 16,
                        .limit = 0, .deadline_s = 600, .retry_max_ms = 2000, .timeout_ms = 30000,
                        .rate = 0, .day_barrier = true};
    for (int i = 1; i < argc; i += 2) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        long number = 0;
        bool ok = value != NULL;
        if (!ok) {
            fprintf(stderr, "webhook-load: %s needs a value\n", flag);
            return false;
        }
        if (strcmp(flag, "--url") == 0)
            o->url = value;
        else if (strcmp(flag, "--secret") == 0)
            o->secret = value;
        else if (strcmp(flag, "--program") == 0)
            o->program_dir = value;
        else if (strcmp(flag, "--log") == 0)
            o->log_path = value;
        else if (strcmp(flag, "--site-id") == 0)
            o->site_id = value;
        else if (strcmp(flag, "--header") == 0)
            o->header = value;
        else if (strcmp(flag, "--connections") == 0)
            ok = parse_long(flag, value, 1, MAX_SENDERS, &o->senders);
        else if (strcmp(flag, "--limit") == 0)
            ok = parse_long(flag, value, 1, 100000000, &o->limit);
        else if (strcmp(flag, "--deadline") == 0)
            ok = parse_long(flag, value, 1, 86400, &o->deadline_s);
        else if (strcmp(flag, "--retry-max-ms") == 0)
            ok = parse_long(flag, value, FIRST_RETRY_MS, 600000, &o->retry_max_ms);
        else if (strcmp(flag, "--timeout-ms") == 0)
            ok = parse_long(flag, value, 100, 600000, &o->timeout_ms);
        else if (strcmp(flag, "--rate") == 0) {
            ok = parse_long(flag, value, 0, 1000000, &number);
            o->rate = (double)number;
        } else if (strcmp(flag, "--barrier") == 0) {
            ok = strcmp(value, "day") == 0 || strcmp(value, "none") == 0;
            o->day_barrier = strcmp(value, "day") == 0;
            if (!ok)
                fprintf(stderr, "webhook-load: --barrier is day or none, not '%s'\n", value);
        } else {
            fprintf(stderr, "webhook-load: unknown option '%s'\n", flag);
            return false;
        }
        if (!ok)
            return false;
    }
    if (!o->url || !o->secret || !o->program_dir) {
        fprintf(stderr, "usage: webhook-load --url URL --secret S --program DIR [--connections C] "
                        "[--limit N] [--rate R] [--barrier day|none] [--log FILE] [--deadline S] "
                        "[--retry-max-ms MS] [--timeout-ms MS] [--site-id ID] [--header NAME]\n");
        return false;
    }
    if (strncmp(o->url, "http://127.0.0.1:", 17) != 0 && strncmp(o->url, "http://localhost:", 17) != 0) {
        fprintf(stderr, "webhook-load: only loopback URLs (http://127.0.0.1:PORT/...) are allowed\n");
        return false;
    }
    return true;
}

/* Model callback (annex_change_cb): appends the webhook of one applied
 * change to the webhook_list (user) until its limit; sets list->failed on
 * an allocation failure. */
static void collect_webhook(void *user, const json_t *change, const char *member_id)
{
    webhook_list *list = user;
    const load_options *o = list->options;
    const char *event_id = json_string_value(json_object_get(change, "event_id"));
    char generated_id[48];
    time_t at = 0;

    if (list->failed || (list->limit && list->count >= list->limit))
        return;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 4096;
        webhook *grown = realloc(list->items, capacity * sizeof(*grown));
        if (!grown) {
            list->failed = true;
            return;
        }
        list->items = grown;
        list->capacity = capacity;
    }
    if (!event_id) {
        snprintf(generated_id, sizeof(generated_id), "load-evt-%zu", list->count + 1);
        event_id = generated_id;
    }
    annex_time_parse(json_string_value(json_object_get(change, "at")), &at);
    webhook *w = &list->items[list->count];
    memset(w, 0, sizeof(*w));
    w->body = annex_webhook_body(list->model, change, member_id, o->site_id, true, event_id);
    w->event_id = strdup(event_id);
    w->member = strdup(member_id);
    w->day = (long)(at / 86400);
    if (!w->body || !w->event_id || !w->member) {
        free(w->body);
        free(w->event_id);
        free(w->member);
        list->failed = true;
        return;
    }
    w->body_len = strlen(w->body);
    annex_webhook_signature(o->secret, w->body, w->body_len, w->signature, sizeof(w->signature));
    list->count++;
}

/* Builds the program's webhooks into list (caller frees with
 * free_webhooks). Returns 0, or -1 after printing why (the program does not
 * load, memory, or with the day barrier changes out of time order). */
static int build_webhooks(const load_options *o, webhook_list *list)
{
    char err[512] = "";
    annex_model_options model_options = {o->site_id, o->program_dir};
    annex_model *model = annex_model_load(&model_options, err, sizeof(err));
    int result = -1;

    memset(list, 0, sizeof(*list));
    list->options = o;
    list->limit = o->limit > 0 ? (size_t)o->limit : 0;
    if (!model) {
        fprintf(stderr, "webhook-load: %s\n", err);
        return -1;
    }
    list->model = model;
    annex_model_advance(model, (time_t)INT32_MAX * 2, collect_webhook, list);
    list->model = NULL;
    if (list->failed) {
        fprintf(stderr, "webhook-load: out of memory building webhook %zu\n", list->count + 1);
        goto out;
    }
    if (list->count == 0) {
        fprintf(stderr, "webhook-load: %s has no changes to post\n", o->program_dir);
        goto out;
    }
    for (size_t i = 1; o->day_barrier && i < list->count; i++) {
        if (list->items[i].day < list->items[i - 1].day) {
            fprintf(stderr, "webhook-load: change %zu (%s) is a day earlier than the one before it: "
                            "--barrier day needs changes in time order\n", i + 1, list->items[i].event_id);
            goto out;
        }
    }
    result = 0;
out:
    annex_model_destroy(&model);
    return result;
}

/* Frees the list's webhooks and array. */
static void free_webhooks(webhook_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].body);
        free(list->items[i].event_id);
        free(list->items[i].member);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* FNV-1a of a member id: which sender carries its webhooks. */
static uint32_t member_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

/* libcurl write callback: keeps the first ANSWER_PREFIX bytes of the answer
 * in the sender (user). */
static size_t keep_answer(char *data, size_t size, size_t nmemb, void *user)
{
    sender *s = user;
    size_t n = size * nmemb, room = ANSWER_PREFIX - s->answer_len;
    size_t take = n < room ? n : room;
    memcpy(s->answer + s->answer_len, data, take);
    s->answer_len += take;
    s->answer[s->answer_len] = '\0';
    return n;
}

/* The "status" (or "error") text of a JSON answer into out, else the
 * answer's start with tabs and newlines made spaces. */
static void answer_detail(const sender *s, char *out, size_t out_len)
{
    json_t *answer = json_loadb(s->answer, s->answer_len, 0, NULL);
    const char *text = json_string_value(json_object_get(answer, "status"));
    if (!text)
        text = json_string_value(json_object_get(answer, "error"));
    snprintf(out, out_len, "%s", text ? text : s->answer);
    for (char *c = out; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
    json_decref(answer);
}

/* Sets up the senders: one curl handle each and the queues (webhooks by
 * member hash, change order). Returns 0, -1 on allocation failure. */
static int make_senders(const load_options *o, const webhook_list *list, sender *senders)
{
    size_t *counts = calloc((size_t)o->senders, sizeof(size_t));
    int result = -1;

    if (!counts)
        return -1;
    for (size_t i = 0; i < list->count; i++)
        counts[member_hash(list->items[i].member) % (uint32_t)o->senders]++;
    for (long c = 0; c < o->senders; c++) {
        sender *s = &senders[c];
        s->number = (int)c;
        s->queue = malloc((counts[c] ? counts[c] : 1) * sizeof(size_t));
        s->handle = curl_easy_init();
        if (!s->queue || !s->handle)
            goto out;
        curl_easy_setopt(s->handle, CURLOPT_URL, o->url);
        curl_easy_setopt(s->handle, CURLOPT_POST, 1L);
        curl_easy_setopt(s->handle, CURLOPT_WRITEFUNCTION, keep_answer);
        curl_easy_setopt(s->handle, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->handle, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->handle, CURLOPT_ERRORBUFFER, s->error);
        curl_easy_setopt(s->handle, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(s->handle, CURLOPT_TIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(s->handle, CURLOPT_NOSIGNAL, 1L);
    }
    for (size_t i = 0; i < list->count; i++) {
        sender *s = &senders[member_hash(list->items[i].member) % (uint32_t)o->senders];
        s->queue[s->queue_len++] = i;
    }
    result = 0;
out:
    free(counts);
    return result;
}

/* Starts the next attempt of sender s's current webhook w on multi.
 * Returns 0, -1 on allocation failure. */
static int start_attempt(const load_options *o, CURLM *multi, sender *s, const webhook *w)
{
    char signature_header[SIGNATURE_LEN + 128];

    snprintf(signature_header, sizeof(signature_header), "%s: %s", o->header, w->signature);
    curl_slist_free_all(s->headers);
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->headers)
        s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue round trip */
    if (s->headers)
        s->headers = curl_slist_append(s->headers, signature_header);
    if (!s->headers)
        return -1;
    s->answer_len = 0;
    s->answer[0] = '\0';
    s->error[0] = '\0';
    s->attempt++;
    s->busy = true;
    s->sent_wall_ms = now_wall_ms();
    curl_easy_setopt(s->handle, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->handle, CURLOPT_POSTFIELDS, w->body);
    curl_easy_setopt(s->handle, CURLOPT_POSTFIELDSIZE, (long)w->body_len);
    return curl_multi_add_handle(multi, s->handle) == CURLM_OK ? 0 : -1;
}

/* Writes one attempt's log line (when a log is kept). */
static void log_attempt(FILE *log, const webhook_list *list, const sender *s, long status,
                        const char *verdict, double latency_ms, const char *detail)
{
    size_t index = s->queue[s->next];
    if (!log)
        return;
    fprintf(log, "%zu\t%s\t%s\t%d\t%ld\t%ld\t%s\t%.0f\t%.3f\t%s\n", index, list->items[index].event_id,
            list->items[index].member, s->number, s->attempt, status, verdict, s->sent_wall_ms,
            latency_ms, detail);
}

/* Whether an answer with this status is worth sending again (as a sender
 * retries a server's temporary trouble). */
static bool worth_retrying(long status)
{
    return status == 0 || status == 408 || status == 429 || status >= 500;
}

/* Books the end of sender s's attempt (result: libcurl's outcome): logs it,
 * counts it, and moves s to its next webhook or schedules a retry. Returns
 * true when the webhook is finished (2xx or refused). */
static bool finish_attempt(const load_options *o, const webhook_list *list, sender *s, CURLcode result,
                           FILE *log, tally *t)
{
    long status = 0;
    curl_off_t total_us = 0;
    char detail[ANSWER_PREFIX + CURL_ERROR_SIZE];
    const char *verdict;
    bool finished = false;

    if (result == CURLE_OK)
        curl_easy_getinfo(s->handle, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->handle, CURLINFO_TOTAL_TIME_T, &total_us);
    double latency_ms = (double)total_us / 1000.0;
    if (result != CURLE_OK)
        snprintf(detail, sizeof(detail), "%s", s->error[0] ? s->error : curl_easy_strerror(result));
    else
        answer_detail(s, detail, sizeof(detail));
    t->attempts++;
    s->busy = false;
    if (status >= 200 && status < 300) {
        verdict = "2xx";
        t->latencies_ms[t->accepted++] = latency_ms;
        if (strncmp(detail, "duplicate", 9) == 0)
            t->duplicates++;
        t->last_accept = now_mono();
        finished = true;
    } else if (worth_retrying(status)) {
        verdict = status ? "retry" : "error";
        t->retried++;
        long delay_ms = o->retry_max_ms;
        if (s->attempt < 16 && (FIRST_RETRY_MS << (s->attempt - 1)) < o->retry_max_ms)
            delay_ms = FIRST_RETRY_MS << (s->attempt - 1);
        s->retry_at = now_mono() + (double)delay_ms / 1000.0;
    } else {
        verdict = "refused";
        t->refused++;
        finished = true;
    }
    log_attempt(log, list, s, status, verdict, latency_ms, detail);
    if (finished) {
        s->next++;
        s->attempt = 0;
        s->retry_at = 0;
        t->done++;
    }
    return finished;
}

/* Nearest-rank percentile p (0..100) of the sorted values v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    return v[rank ? rank - 1 : 0];
}

/* qsort comparison of two doubles, ascending. */
static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sends every webhook of list as the header comment says; fills t.
 * Returns 0 when the run ended (all finished or the deadline passed), -1
 * on a libcurl or allocation failure (printed). */
static int run_load(const load_options *o, const webhook_list *list, sender *senders, FILE *log, tally *t)
{
    CURLM *multi = curl_multi_init();
    double start = now_mono(), deadline = start + (double)o->deadline_s, last_flush = start;
    double next_send = start;
    size_t day_pos = 0;        /* webhooks before it are all finished (barrier) */
    bool *finished = NULL;     /* by index: 2xx or refused */
    int result = -1;

    if (!multi)
        return -1;
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, o->senders);
    /* Webhooks finish out of change order across senders: the barrier
     * looks for the first unfinished one. */
    finished = calloc(list->count, sizeof(bool));
    if (!finished)
        goto out;
    while (t->done < list->count && now_mono() < deadline) {
        double now = now_mono();
        while (day_pos < list->count && finished[day_pos])
            day_pos++;
        long open_day = day_pos < list->count ? list->items[day_pos].day : 0;
        for (long c = 0; c < o->senders; c++) {
            sender *s = &senders[c];
            if (s->busy || s->next >= s->queue_len || s->retry_at > now)
                continue;
            const webhook *w = &list->items[s->queue[s->next]];
            if (o->day_barrier && w->day > open_day)
                continue;
            if (o->rate > 0 && now < next_send)
                break;
            if (start_attempt(o, multi, s, w) != 0) {
                fprintf(stderr, "webhook-load: cannot start a request: out of memory\n");
                goto out;
            }
            if (t->first_send == 0)
                t->first_send = now;
            if (o->rate > 0)
                next_send = (next_send < now - 0.1 ? now - 0.1 : next_send) + 1.0 / o->rate;
        }
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            fprintf(stderr, "webhook-load: curl_multi_perform failed\n");
            goto out;
        }
        CURLMsg *msg;
        int left;
        bool answered = false;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            sender *s = (sender *)priv;
            CURLcode done_result = msg->data.result;
            size_t index = s->queue[s->next];
            curl_multi_remove_handle(multi, msg->easy_handle);
            if (finish_attempt(o, list, s, done_result, log, t))
                finished[index] = true;
            answered = true;
        }
        if (log && now - last_flush >= LOG_FLUSH_S) {
            fflush(log);
            last_flush = now;
        }
        /* After an answer its sender goes on at once; otherwise wait for
         * the network, a retry's time or the next rate slot (10 ms steps). */
        if (!answered)
            curl_multi_poll(multi, NULL, 0, 10, NULL);
    }
    for (long c = 0; c < o->senders; c++) {
        sender *s = &senders[c];
        if (!s->busy)
            continue;
        curl_multi_remove_handle(multi, s->handle);
        log_attempt(log, list, s, 0, "gave-up", now_wall_ms() - s->sent_wall_ms, "deadline passed");
        s->busy = false;
    }
    result = 0;
out:
    free(finished);
    curl_multi_cleanup(multi);
    return result;
}

int main(int argc, char **argv)
{
    load_options o;
    webhook_list list = {0};
    sender *senders = NULL;
    FILE *log = NULL;
    tally t = {0};
    int status = 2;

    if (!parse_options(argc, argv, &o))
        return 2;
    if (build_webhooks(&o, &list) != 0)
        goto out;
    if (o.log_path && !(log = fopen(o.log_path, "w"))) {
        fprintf(stderr, "webhook-load: %s: %s\n", o.log_path, strerror(errno));
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    senders = calloc((size_t)o.senders, sizeof(*senders));
    t.latencies_ms = calloc(list.count, sizeof(double));
    if (!senders || !t.latencies_ms || make_senders(&o, &list, senders) != 0) {
        fprintf(stderr, "webhook-load: out of memory\n");
        goto out;
    }
    fprintf(stderr, "webhook-load: sending %zu webhooks from %ld senders to %s\n", list.count, o.senders,
            o.url);
    if (run_load(&o, &list, senders, log, &t) != 0)
        goto out;
    qsort(t.latencies_ms, t.accepted, sizeof(double), compare_doubles);
    double body_bytes = 0;
    for (size_t i = 0; i < list.count; i++)
        body_bytes += (double)list.items[i].body_len / (double)list.count;
    double seconds = t.last_accept > t.first_send ? t.last_accept - t.first_send : 0;
    printf("webhook-load: webhooks=%zu accepted=%zu duplicates=%zu refused=%zu gave_up=%zu attempts=%zu "
           "retried=%zu seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f senders=%ld "
           "body_bytes=%.0f\n",
           list.count, t.accepted, t.duplicates, t.refused, list.count - t.accepted - t.refused,
           t.attempts, t.retried, seconds, seconds > 0 ? (double)t.accepted / seconds : 0,
           percentile(t.latencies_ms, t.accepted, 50), percentile(t.latencies_ms, t.accepted, 99),
           t.accepted ? t.latencies_ms[t.accepted - 1] : 0, o.senders, body_bytes);
    status = t.accepted == list.count ? 0 : 1;
out:
    if (log && fclose(log) != 0 && status == 0) {
        fprintf(stderr, "webhook-load: writing %s: %s\n", o.log_path, strerror(errno));
        status = 1;
    }
    for (long c = 0; senders && c < o.senders; c++) {
        curl_slist_free_all(senders[c].headers);
        if (senders[c].handle)
            curl_easy_cleanup(senders[c].handle);
        free(senders[c].queue);
    }
    free(senders);
    free(t.latencies_ms);
    free_webhooks(&list);
    curl_global_cleanup();
    return status;
}
