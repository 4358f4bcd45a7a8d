/* bench_records.c: writes N copies of a one-record JSON sample (the
 * shared bench member) as JSON lines, each with a distinct loyalty_id and
 * email, for the benchmarks. usage: bench_records SAMPLE N > OUT */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

int main(int argc, char **argv)
{
    json_error_t error;
    json_t *sample = NULL;
    char *text = NULL, *id_at, *email_at;
    char *end = NULL;
    long count, i;
    int status = 1;
    const char *id_key = "\"loyalty_id\":\"LID-000000000\"";
    const char *email_key = "\"email\":\"member000000000@example.com\"";

    if (argc != 3) {
        fprintf(stderr, "usage: bench_records SAMPLE.json N\n");
        return 64;
    }
    count = strtol(argv[2], &end, 10);
    if (!end || *end || count <= 0 || count > 999999999) {
        fprintf(stderr, "bench_records: bad count '%s'\n", argv[2]);
        return 64;
    }
    sample = json_load_file(argv[1], 0, &error);
    if (!sample || !json_is_object(sample)) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], error.line, sample ? "not an object" : error.text);
        goto out;
    }
    /* Fixed-width placeholders let every line be patched in place. */
    json_object_set_new(sample, "loyalty_id", json_string("LID-000000000"));
    json_object_set_new(sample, "email", json_string("member000000000@example.com"));
    text = json_dumps(sample, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto out;
    id_at = strstr(text, id_key);
    email_at = strstr(text, email_key);
    if (!id_at || !email_at)
        goto out;
    id_at += strlen("\"loyalty_id\":\"LID-");
    email_at += strlen("\"email\":\"member");
    for (i = 1; i <= count; i++) {
        char digits[16];
        snprintf(digits, sizeof(digits), "%09ld", i);
        memcpy(id_at, digits, 9);
        memcpy(email_at, digits, 9);
        fputs(text, stdout);
        fputc('\n', stdout);
    }
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    free(text);
    json_decref(sample);
    return status;
}
