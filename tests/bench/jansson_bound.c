/* jansson_bound.c: the per-core ceiling for any stage that parses and
 * dumps each record: a plain jansson json_loadb + json_dumpb loop over a
 * JSON-lines file, then a json_loadb-only loop over the same records (the
 * cost of a stage that only checks its input parses). Prints
 * "RECORDS SECONDS PARSE_DUMP_PER_S PARSE_ONLY_PER_S". `make bench`
 * reports it next to the pipeline figures. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

/* Seconds since an arbitrary point, monotonic. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char *out = NULL;
    size_t out_cap = 1 << 16;
    long records = 0, limit = -1;
    double started, elapsed;
    int status = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: jansson_bound FILE.jsonl [MAX_RECORDS]\n");
        return 64;
    }
    if (argc > 2) {
        char *end = NULL;
        limit = strtol(argv[2], &end, 10);
        if (!end || *end || limit <= 0) {
            fprintf(stderr, "jansson_bound: bad record count '%s'\n", argv[2]);
            return 64;
        }
    }
    in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        goto out;
    }
    out = malloc(out_cap);
    if (!out)
        goto out;
    started = now_seconds();
    while ((limit < 0 || records < limit) && (len = getline(&line, &cap, in)) > 0) {
        json_error_t error;
        json_t *record = json_loadb(line, (size_t)len, 0, &error);
        size_t dumped;
        if (!record) {
            fprintf(stderr, "%s:%ld: %s\n", argv[1], records + 1, error.text);
            goto out;
        }
        dumped = json_dumpb(record, out, out_cap, JSON_COMPACT);
        json_decref(record);
        if (dumped == 0 || dumped > out_cap) {
            fprintf(stderr, "%s:%ld: record does not fit the dump buffer\n", argv[1], records + 1);
            goto out;
        }
        records++;
    }
    elapsed = now_seconds() - started;
    if (fseek(in, 0, SEEK_SET) != 0) {
        perror(argv[1]);
        goto out;
    }
    long parsed = 0;
    double parse_started = now_seconds();
    while (parsed < records && (len = getline(&line, &cap, in)) > 0) {
        json_t *record = json_loadb(line, (size_t)len, 0, NULL);
        if (!record)
            goto out;
        json_decref(record);
        parsed++;
    }
    double parse_elapsed = now_seconds() - parse_started;
    printf("%ld %.3f %.0f %.0f\n", records, elapsed, elapsed > 0 ? (double)records / elapsed : 0.0,
           parse_elapsed > 0 ? (double)parsed / parse_elapsed : 0.0);
    status = 0;
out:
    free(line);
    free(out);
    if (in)
        fclose(in);
    return status;
}
