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

#define MAX_SECRETS 64
#define MASK "********"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static sluice_log_level log_threshold = SLUICE_LOG_INFO;
static sluice_log_format log_format = SLUICE_LOG_FORMAT_AUTO;
static char *log_secrets[MAX_SECRETS];
static size_t log_secret_count;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

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

void sluice_log_add_secret(const char *value)
{
    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_secret_count; i++) {
        if (strcmp(log_secrets[i], value) == 0)
            goto out;
    }
    if (log_secret_count < MAX_SECRETS) {
        char *copy = strdup(value);
        if (copy)
            log_secrets[log_secret_count++] = copy;
    }
out:
    pthread_mutex_unlock(&log_lock);
}

/* Mask with the lock held. */
static char *mask_locked(const char *text, char *buf, size_t buflen)
{
    size_t used = 0;
    const char *p = text;

    if (buflen == 0)
        return buf;
    while (*p && used + 1 < buflen) {
        size_t matched = 0;
        for (size_t i = 0; i < log_secret_count; i++) {
            size_t len = strlen(log_secrets[i]);
            if (strncmp(p, log_secrets[i], len) == 0) {
                matched = len;
                break;
            }
        }
        if (matched) {
            size_t mlen = strlen(MASK);
            if (used + mlen >= buflen)
                break;
            memcpy(buf + used, MASK, mlen);
            used += mlen;
            p += matched;
        } else {
            buf[used++] = *p++;
        }
    }
    buf[used] = '\0';
    return buf;
}

char *sluice_log_mask(const char *text, char *buf, size_t buflen)
{
    pthread_mutex_lock(&log_lock);
    mask_locked(text ? text : "", buf, buflen);
    pthread_mutex_unlock(&log_lock);
    return buf;
}

void sluice_log_vwrite(const char *pipeline, const char *stage, sluice_log_level level,
                       const char *fmt, va_list ap)
{
    char raw[4096];
    char masked[4096];
    char when[40];
    struct timespec now;
    struct tm tm;
    int json;

    if (level > log_threshold)
        return;
    vsnprintf(raw, sizeof(raw), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    mask_locked(raw, masked, sizeof(masked));
    json = log_format == SLUICE_LOG_FORMAT_JSON ||
           (log_format == SLUICE_LOG_FORMAT_AUTO && !isatty(STDERR_FILENO));
    if (json) {
        json_t *line = json_pack("{s:s+, s:s, s:s?, s:s?, s:i, s:s}",
                                 "ts", when, "Z", "level", level_names[level],
                                 "pipeline", pipeline, "stage", stage,
                                 "pid", (int)getpid(), "msg", masked);
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
                stage ? stage : "", pipeline || stage ? ": " : "", masked);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void sluice_log_write(const char *pipeline, const char *stage, sluice_log_level level,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sluice_log_vwrite(pipeline, stage, level, fmt, ap);
    va_end(ap);
}
