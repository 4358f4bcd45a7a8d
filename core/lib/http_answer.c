/* http_answer.c: what an answer to the SDK's HTTP client means, beside the
 * client itself (http.c): the Retry-After header in both forms, the
 * transport errors that are configuration (a certificate the server cannot
 * prove, an unusable URL) with the message a person reads, and the 2xx
 * answers a sink cannot read, which are never a delivery
 * (sluice_http_answer). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

#include "ctx.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

/* sluice_http_answer's budget when the stage sets no http_max_attempts. */
#define UNREADABLE_MAX_DEFAULT 5
/* How much of an unreadable body a log line or a fatal message shows. */
#define EXCERPT_MAX 96

/* 1 for the optional white space around a header value (RFC 9110 OWS). */
static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int sluice_retry_after_parse(const char *value, time_t now, double *seconds)
{
    const char *start, *end;
    double delta = 0;
    char date[128];
    time_t when;

    if (!value)
        return -1;
    start = value;
    while (is_ows(*start))
        start++;
    end = start + strlen(start);
    while (end > start && is_ows(end[-1]))
        end--;
    if (end == start)
        return -1;
    if (*start >= '0' && *start <= '9') {
        for (const char *p = start; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            if (delta < SLUICE_RETRY_AFTER_PARSE_MAX)
                delta = delta * 10 + (*p - '0');
        }
        *seconds = delta < SLUICE_RETRY_AFTER_PARSE_MAX ? delta : SLUICE_RETRY_AFTER_PARSE_MAX;
        return 0;
    }
    /* An HTTP-date is 29 characters (IMF-fixdate); anything much longer is
     * not one, and the copy gives curl_getdate its own terminated text. */
    if ((size_t)(end - start) >= sizeof(date))
        return -1;
    memcpy(date, start, (size_t)(end - start));
    date[end - start] = '\0';
    when = curl_getdate(date, NULL);
    if (when == (time_t)-1)
        return -1;
    /* A date billions of years ahead is as meaningless as digits that
     * long: both saturate, which also keeps the wait exact (a double holds
     * every whole second up to the cap). */
    delta = when > now ? difftime(when, now) : 0;
    *seconds = delta < SLUICE_RETRY_AFTER_PARSE_MAX ? delta : SLUICE_RETRY_AFTER_PARSE_MAX;
    return 0;
}

int sluice_http_config_error(CURLcode code)
{
    /* Not CURLE_SSL_CONNECT_ERROR: a handshake cut short is also what a
     * struggling server or a reset connection gives. */
    return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT ||
           code == CURLE_SSL_ISSUER_ERROR || code == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
           code == CURLE_SSL_INVALIDCERTSTATUS || code == CURLE_SSL_CACERT_BADFILE ||
           code == CURLE_SSL_CRL_BADFILE || code == CURLE_SSL_CERTPROBLEM ||
           code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL;
}

/* "host" or "host:port" of url into out (empty when the URL cannot be
 * parsed). Never the user, password, path or query. */
static void url_host(const char *url, char *out, size_t out_len)
{
    CURLU *parsed = curl_url();
    char *host = NULL, *port = NULL;

    out[0] = '\0';
    if (parsed && url && curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(parsed, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(out, out_len, "%s:%s", host, port);
        else
            snprintf(out, out_len, "%s", host);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(parsed);
}

/* curl's message without the prefix that repeats what we say anyway. */
static const char *curl_reason(const char *message)
{
    static const char *const prefixes[] = {"SSL certificate problem: ", "SSL: "};

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t len = strlen(prefixes[i]);
        if (strncasecmp(message, prefixes[i], len) == 0)
            return message + len;
    }
    return message;
}

void sluice_http_config_error_text(CURLcode code, const char *url, char *error,
                                   size_t error_len)
{
    char host[300];
    char reason[CURL_ERROR_SIZE];

    if (!error || error_len == 0)
        return;
    snprintf(reason, sizeof(reason), "%s",
             curl_reason(error[0] ? error : curl_easy_strerror(code)));
    url_host(url, host, sizeof(host));
    if (!host[0])
        snprintf(host, sizeof(host), "the server");
    if (code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CRL_BADFILE ||
        code == CURLE_SSL_CERTPROBLEM)
        snprintf(error, error_len, "cannot use the TLS files for %s: %s; check ca_file", host,
                 reason);
    else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL)
        snprintf(error, error_len, "the URL cannot be used: %s; check the stage's URL option",
                 reason);
    else
        snprintf(error, error_len,
                 "certificate verify failed for %s: %s; set ca_file or fix the server", host,
                 reason);
}

/* What came back, for a person: 'HTTP 200, text/html: "<!DOCTYPE html>..."'
 * (at most EXCERPT_MAX bytes of the body, on one line, printable ASCII). */
static void describe_answer(const sluice_http_response *resp, char *out, size_t out_len)
{
    char *type = resp ? sluice_http_header_get(resp, "Content-Type") : NULL;
    char excerpt[EXCERPT_MAX + 4];
    size_t used = 0;
    int space = 0;

    for (size_t i = 0; resp && resp->body && i < resp->body_len && used < EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char)resp->body[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = used > 0;
            continue;
        }
        if (space)
            excerpt[used++] = ' ';
        space = 0;
        if (used < EXCERPT_MAX)
            excerpt[used++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (resp && resp->body && resp->body_len > 0 && used >= EXCERPT_MAX) {
        memcpy(excerpt + used, "...", 3);
        used += 3;
    }
    excerpt[used] = '\0';
    snprintf(out, out_len, "HTTP %ld, %s: %s%s%s", resp ? resp->status : 0L,
             type && *type ? type : "no Content-Type", used ? "\"" : "",
             used ? excerpt : "empty body", used ? "\"" : "");
    free(type);
}

sluice_status sluice_http_answer(sluice_ctx *ctx, const char *method, const char *url,
                                 const sluice_http_response *resp, const char *why)
{
    const sluice_stage_def *stage = ctx ? ctx->stage : NULL;
    unsigned in_a_row, budget = UNREADABLE_MAX_DEFAULT;
    char answer[EXCERPT_MAX + 160];

    in_a_row = sluice_http_unreadable_count(ctx, why == NULL);
    if (!why)
        return SLUICE_OK;
    if (stage && stage->common.http_max_attempts > 0)
        budget = (unsigned)stage->common.http_max_attempts;
    describe_answer(resp, answer, sizeof(answer));
    sluice_metrics_add(ctx && ctx->pipeline ? ctx->pipeline->name : NULL,
                       stage ? stage->name : NULL, "sluice_http_unreadable_total", 1);
    if (in_a_row >= budget) {
        sluice_fail(ctx, "%s: %s %s answered %s, but %s; %u such answers in a row, nothing "
                         "of them counted delivered: is the URL the destination's API?",
                    stage && stage->plugin_name ? stage->plugin_name : "sink",
                    method ? method : "?", url ? url : "?", answer, why, in_a_row);
        return SLUICE_FATAL;
    }
    sluice_log(ctx, SLUICE_LOG_WARN,
               "%s %s answered %s, but %s: not a delivery, its records go again (%u of %u "
               "such answers in a row before the stage stops)",
               method ? method : "?", url ? url : "?", answer, why, in_a_row, budget);
    return SLUICE_RETRY;
}
