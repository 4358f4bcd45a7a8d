/* fuzz_retry_after.c: libFuzzer harness of Retry-After, which the core's
 * HTTP client reads for every sink: sluice_retry_after_parse
 * (core/lib/http_answer.c, contract in http.h) on the input as a header
 * value, and sluice_http_header_get on the input as a response's header
 * block (then on a block with the input as a Retry-After line). The
 * parser must give -1 leaving *seconds alone, or seconds in
 * [0, SLUICE_RETRY_AFTER_PARSE_MAX]; plain digits exactly (saturating at
 * the cap, as a date far ahead does); for a date, 100 s later on the clock
 * means at most 100 s less to wait. A header value comes back trimmed, on
 * one line. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

const char fuzz_harness_name[] = "fuzz_retry_after";

/* A fixed clock: 2026-11-30T00:00:00Z. */
#define NOW ((time_t)1795996800)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* The seconds plain digits in value ask for (optional spaces or tabs
 * around them), saturated as the parser saturates, or -1 when value is not
 * plain digits. */
static double digits_value(const char *value)
{
    const char *start = value + strspn(value, " \t"), *end = start + strlen(start);
    double delta = 0;

    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == start)
        return -1;
    for (const char *p = start; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (delta < SLUICE_RETRY_AFTER_PARSE_MAX)
            delta = delta * 10 + (*p - '0');
    }
    return delta < SLUICE_RETRY_AFTER_PARSE_MAX ? delta : SLUICE_RETRY_AFTER_PARSE_MAX;
}

/* The properties of sluice_retry_after_parse for one value. */
static void check_value(const char *value)
{
    double seconds = -7, later = -7, digits = digits_value(value);
    int rc = sluice_retry_after_parse(value, NOW, &seconds);

    if (rc != 0) {
        if (seconds != -7)
            fuzz_fail("a refused Retry-After '%s' changed *seconds", value);
        if (digits >= 0)
            fuzz_fail("Retry-After '%s' (digits) refused", value);
        return;
    }
    if (!(seconds >= 0 && seconds <= SLUICE_RETRY_AFTER_PARSE_MAX))
        fuzz_fail("Retry-After '%s' gave %g seconds", value, seconds);
    if (digits >= 0) {
        if (seconds != digits)
            fuzz_fail("Retry-After '%s' gave %g seconds, not %g", value, seconds, digits);
        return;
    }
    if (sluice_retry_after_parse(value, NOW + 100, &later) != 0 || later > seconds ||
        seconds - later > 100)
        fuzz_fail("Retry-After '%s': %g s now, %g s 100 s later", value, seconds, later);
}

/* The Retry-After header of a header block: trimmed, one line; parsed. */
static void check_block(const char *block)
{
    sluice_http_response resp;
    char *value;
    size_t len;

    memset(&resp, 0, sizeof(resp));
    resp.headers = (char *)block;
    value = sluice_http_header_get(&resp, "Retry-After");
    if (!value)
        return;
    len = strlen(value);
    if (len && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[len - 1])))
        fuzz_fail("header value '%s' keeps blanks at an end", value);
    if (strpbrk(value, "\r\n"))
        fuzz_fail("header value spans lines");
    check_value(value);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    size_t line_len = strcspn(text, "\r\n");
    size_t len = line_len + 64;
    char *line_block = malloc(len);

    if (!line_block)
        abort();
    check_value(text);
    check_block(text);
    snprintf(line_block, len, "HTTP/1.1 429 Too Many\r\nRetry-After: %.*s\r\n\r\n",
             (int)line_len, text);
    check_block(line_block);
    free(line_block);
    free(text);
    return 0;
}
