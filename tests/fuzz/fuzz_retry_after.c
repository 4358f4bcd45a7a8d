/* fuzz_retry_after.c: libFuzzer harness of the HTTP client's header
 * reading (core/lib/http.c): the input is a response's header block as
 * libcurl collects it. retry_after_seconds (static in http.c, included
 * below to reach it) must give -1 (absent or unreadable) or a finite
 * number of seconds >= 0, and for a header of plain digits exactly that
 * number; sluice_http_header_get must give a value with no blank at
 * either end and no line break. The input is also tried as the value of
 * a Retry-After line, to reach the value parser with every mutation. */
#include "../../core/lib/http.c"

#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_retry_after";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* The properties for one header block. */
static void check_block(const char *block)
{
    sluice_http_response resp;
    char *value, *end = NULL;
    double seconds = retry_after_seconds(block);
    unsigned long long digits;

    memset(&resp, 0, sizeof(resp));
    resp.headers = (char *)block;
    value = sluice_http_header_get(&resp, "Retry-After");
    if (!value) {
        if (seconds != -1)
            fuzz_fail("Retry-After absent but %g seconds", seconds);
        return;
    }
    if (value[0] && (isspace((unsigned char)value[0]) ||
                     isspace((unsigned char)value[strlen(value) - 1])))
        fuzz_fail("header value '%s' keeps blanks at an end", value);
    if (strpbrk(value, "\r\n"))
        fuzz_fail("header value spans lines");
    if (!(seconds == -1 || (seconds >= 0 && isfinite(seconds))))
        fuzz_fail("Retry-After '%s' gave %g seconds", value, seconds);
    if (value[0] && strspn(value, "0123456789") == strlen(value) && strlen(value) < 19) {
        digits = strtoull(value, &end, 10);
        if (seconds != (double)digits)
            fuzz_fail("Retry-After '%s' gave %g seconds", value, seconds);
    }
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *block = fuzz_text(data, size);
    size_t line_len = strcspn(block, "\r\n");
    size_t len = line_len + 64;
    char *line_block = malloc(len);

    if (!line_block)
        abort();
    check_block(block);
    snprintf(line_block, len, "HTTP/1.1 429 Too Many\r\nRetry-After: %.*s\r\n\r\n",
             (int)line_len, block);
    check_block(line_block);
    free(line_block);
    free(block);
    return 0;
}
