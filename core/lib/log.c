/* log.c: process-wide logging with stage names, TTY/JSON formats and
 * secret masking. Thread-safe: one mutex serialises lines. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"

#define MASK "********"
/* A message longer than this is cut (after masking, on a UTF-8 boundary). */
#define LINE_MAX_BYTES 4096
/* Secrets shorter than this are not masked (see log.h). */
#define SECRET_MIN_BYTES 4

/* One registered secret. */
typedef struct secret {
    char *text;
    size_t len;
} secret;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static sluice_log_level log_threshold = SLUICE_LOG_INFO;
static sluice_log_format log_format = SLUICE_LOG_FORMAT_AUTO;
/* Every registered secret, sorted by strcmp (bytes as unsigned char): no
 * limit on their number (one `sluice run` over hundreds of client
 * pipelines registers thousands), and the secrets that share their first
 * d bytes with a text are neighbours, which is what the masking scan
 * narrows down byte by byte. */
static secret *log_secrets;
static size_t log_secret_count;
static size_t log_secret_capacity;
/* by_first_byte[b]: index of the first secret whose first byte is >= b
 * (b = 0..256), so the secrets starting with b are [by_first_byte[b],
 * by_first_byte[b + 1]); a text byte that starts none costs one look-up. */
static size_t by_first_byte[257];
/* Where this process's lines come from when a caller names neither a
 * pipeline nor a stage (sluice_log_set_origin); empty: not set. */
static char origin_pipeline[256];
static char origin_stage[512];
/* the last error line of this process (masked), for the admin endpoint */
static char last_error[512];
static double last_error_at;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sluice_log_set_origin(const char *pipeline, const char *stage)
{
    pthread_mutex_lock(&log_lock);
    snprintf(origin_pipeline, sizeof(origin_pipeline), "%s", pipeline ? pipeline : "");
    snprintf(origin_stage, sizeof(origin_stage), "%s", stage ? stage : "");
    pthread_mutex_unlock(&log_lock);
}

void sluice_log_setup(sluice_log_level level, sluice_log_format format)
{
    pthread_mutex_lock(&log_lock);
    log_threshold = level;
    log_format = format;
    pthread_mutex_unlock(&log_lock);
}

int sluice_log_level_parse(const char *text, sluice_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (text && strcasecmp(text, level_names[i]) == 0) {
            *out = (sluice_log_level)i;
            return 0;
        }
    }
    if (text && strcasecmp(text, "warning") == 0) {
        *out = SLUICE_LOG_WARN;
        return 0;
    }
    return -1;
}

/* Index of the first secret not less than `text` (strcmp order), with the
 * lock held. */
static size_t secret_lower_bound(const char *text)
{
    size_t low = 0, high = log_secret_count;

    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (strcmp(log_secrets[mid].text, text) < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

/* First index in [lo, hi) whose secret has byte d >= c (when `after`,
 * > c); every secret in the range is longer than d. Lock held. */
static size_t secret_byte_bound(size_t lo, size_t hi, size_t d, unsigned char c, int after)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        unsigned char b = (unsigned char)log_secrets[mid].text[d];
        if (b < c || (after && b == c))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Rebuild by_first_byte after the secrets changed. Lock held. */
static void index_first_bytes(void)
{
    for (unsigned b = 0; b < 256; b++)
        by_first_byte[b] = secret_byte_bound(0, log_secret_count, 0, (unsigned char)b, 0);
    by_first_byte[256] = log_secret_count;
}

void sluice_log_add_secret(const char *value)
{
    size_t at;
    char *copy = NULL;

    if (!value || strlen(value) < SECRET_MIN_BYTES)
        return;
    pthread_mutex_lock(&log_lock);
    at = secret_lower_bound(value);
    if (at < log_secret_count && strcmp(log_secrets[at].text, value) == 0)
        goto out;
    if (log_secret_count == log_secret_capacity) {
        size_t capacity = log_secret_capacity ? log_secret_capacity * 2 : 64;
        secret *grown = realloc(log_secrets, capacity * sizeof(*grown));
        if (!grown)
            goto out; /* out of memory at load time: nothing useful to add */
        log_secrets = grown;
        log_secret_capacity = capacity;
    }
    copy = strdup(value);
    if (!copy)
        goto out;
    memmove(&log_secrets[at + 1], &log_secrets[at],
            (log_secret_count - at) * sizeof(*log_secrets));
    log_secrets[at].text = copy;
    log_secrets[at].len = strlen(copy);
    log_secret_count++;
    index_first_bytes();
out:
    pthread_mutex_unlock(&log_lock);
}

/* Length of the longest registered secret that `p` (with `left` bytes
 * after it) starts with, or 0. Lock held. The candidates are narrowed one
 * byte at a time: after d bytes they are the range of sorted secrets that
 * share p's first d bytes, in which a secret of exactly d bytes (a match)
 * comes first and the rest are ordered by their byte d. A byte that starts
 * no secret, the common case, costs one table look-up. */
static size_t longest_secret_at(const char *p, size_t left)
{
    unsigned char first = (unsigned char)p[0];
    size_t lo = by_first_byte[first];
    size_t hi = by_first_byte[first + 1];
    size_t longest = 0;

    for (size_t d = 1; lo < hi; d++) {
        if (log_secrets[lo].len == d) {
            longest = d;
            if (++lo == hi)
                break;
        }
        if (hi - lo == 1) { /* one candidate left: compare the rest at once */
            const secret *s = &log_secrets[lo];
            if (s->len <= left && memcmp(s->text + d, p + d, s->len - d) == 0)
                longest = s->len;
            break;
        }
        if (d >= left)
            break;
        lo = secret_byte_bound(lo, hi, d, (unsigned char)p[d], 0);
        hi = secret_byte_bound(lo, hi, d, (unsigned char)p[d], 1);
    }
    return longest;
}

/* `text` with every byte covered by a registered secret replaced: each run
 * of covered bytes becomes one ******** (overlapping secrets, or one that
 * starts inside another, are covered whole). Lock held. Returns a new
 * string (caller frees) or NULL when out of memory. */
static char *mask_locked(const char *text)
{
    size_t len = strlen(text);
    size_t used = 0;
    size_t covered_until = 0; /* bytes before this index are masked */
    /* a masked run is at least SECRET_MIN_BYTES long and becomes
     * strlen(MASK) bytes: the output is at most twice the input */
    char *out = malloc(2 * len + sizeof(MASK));

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        size_t match = log_secret_count ? longest_secret_at(text + i, len - i) : 0;
        if (match && i + match > covered_until) {
            if (i >= covered_until) { /* a new masked run starts here */
                memcpy(out + used, MASK, strlen(MASK));
                used += strlen(MASK);
            }
            covered_until = i + match;
        }
        if (i >= covered_until)
            out[used++] = text[i];
    }
    out[used] = '\0';
    return out;
}

/* Copy `text` into buf (buflen > 0 bytes), cut if needed at a UTF-8
 * character boundary so the result stays valid UTF-8 (JSON lines need
 * it). Always NUL-terminates. */
static void copy_cut(const char *text, char *buf, size_t buflen)
{
    size_t len = strlen(text);

    if (len >= buflen) {
        len = buflen - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
}

char *sluice_log_mask(const char *text, char *buf, size_t buflen)
{
    char *masked;

    if (buflen == 0)
        return buf;
    pthread_mutex_lock(&log_lock);
    masked = mask_locked(text ? text : "");
    pthread_mutex_unlock(&log_lock);
    /* Without memory to mask, print nothing rather than the secret. */
    copy_cut(masked ? masked : "(message lost: out of memory)", buf, buflen);
    free(masked);
    return buf;
}

/* Format `fmt` whole: into `stack` (len bytes) when it fits, else into a
 * new buffer. Returns the text (stack or heap: the caller frees it when it
 * is not `stack`) or NULL when out of memory. */
static char *format_whole(char *stack, size_t len, const char *fmt, va_list ap)
{
    va_list again;
    int need;
    char *heap;

    va_copy(again, ap);
    need = vsnprintf(stack, len, fmt, ap);
    if (need < 0 || (size_t)need < len) {
        va_end(again);
        return need < 0 ? NULL : stack;
    }
    heap = malloc((size_t)need + 1);
    if (heap)
        vsnprintf(heap, (size_t)need + 1, fmt, again);
    va_end(again);
    return heap;
}

void sluice_log_vwrite(const char *pipeline, const char *stage, sluice_log_level level,
                       const char *fmt, va_list ap)
{
    char raw_stack[LINE_MAX_BYTES];
    char message[LINE_MAX_BYTES];
    char *raw;
    char *masked = NULL;
    char when[40];
    struct timespec now;
    struct tm tm;
    int json;

    if (level > log_threshold)
        return;
    /* The whole message is masked before it is cut to LINE_MAX_BYTES, so
     * a secret across the cut is masked too. */
    raw = format_whole(raw_stack, sizeof(raw_stack), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (!pipeline && !stage) {
        /* a shared service (the state store) that does not know its caller */
        pipeline = origin_pipeline[0] ? origin_pipeline : NULL;
        stage = origin_stage[0] ? origin_stage : NULL;
    }
    if (raw)
        masked = mask_locked(raw);
    copy_cut(masked ? masked : "(log message lost: out of memory)", message,
             sizeof(message));
    if (level == SLUICE_LOG_ERROR) {
        copy_cut(message, last_error, sizeof(last_error));
        last_error_at = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    }
    json = log_format == SLUICE_LOG_FORMAT_JSON ||
           (log_format == SLUICE_LOG_FORMAT_AUTO && !isatty(STDERR_FILENO));
    if (json) {
        json_t *line = json_pack("{s:s+, s:s, s:s?, s:s?, s:i, s:s}",
                                 "ts", when, "Z", "level", level_names[level],
                                 "pipeline", pipeline, "stage", stage,
                                 "pid", (int)getpid(), "msg", message);
        if (line) {
            char *text = json_dumps(line, JSON_COMPACT);
            if (text) {
                fprintf(stderr, "%s\n", text);
                free(text);
            }
            json_decref(line);
        }
    } else {
        fprintf(stderr, "%s.%03ldZ %-5s %s%s%s%s%s\n", when, now.tv_nsec / 1000000L,
                level_names[level], pipeline ? pipeline : "", pipeline && stage ? "/" : "",
                stage ? stage : "", pipeline || stage ? ": " : "", message);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(masked);
    if (raw != raw_stack)
        free(raw);
}

void sluice_log_write(const char *pipeline, const char *stage, sluice_log_level level,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sluice_log_vwrite(pipeline, stage, level, fmt, ap);
    va_end(ap);
}

double sluice_log_last_error(char *buf, size_t buflen)
{
    double at;

    pthread_mutex_lock(&log_lock);
    at = last_error_at;
    if (buflen > 0)
        copy_cut(last_error, buf, buflen);
    pthread_mutex_unlock(&log_lock);
    return at;
}
