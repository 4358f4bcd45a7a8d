/* fuzz_csv.c: libFuzzer harness of the Data Feed CSV reader
 * (plugins/annexcloud-source/ac_csv.c). The input is a feed file. It is
 * read straight through, then resumed from the end of every row (the
 * offset and line feed mode checkpoints, as ac_mode_feed.c reopens a
 * file): the rows a resume reads must be exactly the rows the straight
 * read gave after that point (fields, line numbers, end offsets,
 * errors). Also: offsets only grow and stay inside the file, a row ends
 * on or after the line it starts on, and reading never fails with an
 * I/O error. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/annexcloud-source/ac_csv.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_csv";

/* Rows a straight read may give before the harness stops comparing (the
 * inputs are a few KB; this bounds a pathological one). */
#define MAX_ROWS 4096
/* Row ends resumed from: every one up to this many rows, else spread. */
#define MAX_RESUMES 128

/* One row as read, copied out of the reader. */
typedef struct csv_row_copy {
    char **fields;
    size_t count;
    long line, end_offset, end_line;
    const char *error; /* static strings of ac_csv.c */
} csv_row_copy;

static char feed_path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    int fd;

    (void)argc;
    (void)argv;
    fuzz_setup();
    snprintf(feed_path, sizeof(feed_path), "%s/sluice-fuzz-csv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    fd = mkstemp(feed_path);
    if (fd < 0)
        fuzz_fail("cannot create a file in %s", tmp && *tmp ? tmp : "/tmp");
    close(fd);
    return 0;
}

/* Remove the feed file when the process ends. */
__attribute__((destructor)) static void remove_feed_file(void)
{
    if (feed_path[0])
        unlink(feed_path);
}

static void rows_free(csv_row_copy *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < rows[i].count; k++)
            free(rows[i].fields[k]);
        free(rows[i].fields);
    }
    free(rows);
}

/* Read every row from `offset` (which starts line `line`) to the end into
 * a new array (caller frees with rows_free); its length in *count. */
static csv_row_copy *read_rows(long offset, long line, size_t *count)
{
    char err[512] = "";
    ac_csv_reader *reader = ac_csv_open(feed_path, offset, line, err, sizeof(err));
    csv_row_copy *rows = calloc(MAX_ROWS, sizeof(*rows));
    ac_csv_row row;
    int got = 0;

    if (!reader)
        fuzz_fail("cannot open the feed at %ld: %s", offset, err);
    if (!rows)
        abort();
    *count = 0;
    while (*count < MAX_ROWS && (got = ac_csv_next(reader, &row, err, sizeof(err))) == 1) {
        csv_row_copy *copy = &rows[(*count)++];
        copy->fields = calloc(row.count ? row.count : 1, sizeof(char *));
        if (!copy->fields)
            abort();
        for (size_t k = 0; k < row.count; k++) {
            copy->fields[k] = strdup(row.fields[k]);
            if (!copy->fields[k])
                abort();
        }
        copy->count = row.count;
        copy->line = row.line;
        copy->end_offset = row.end_offset;
        copy->end_line = row.end_line;
        copy->error = row.error;
    }
    if (got < 0)
        fuzz_fail("reading from offset %ld failed: %s", offset, err);
    ac_csv_close(&reader);
    return rows;
}

/* Describe a row for a failure message into buf. Returns buf. */
static const char *row_text(const csv_row_copy *row, char *buf, size_t len)
{
    size_t used;

    if (!row) {
        snprintf(buf, len, "(none)");
        return buf;
    }
    snprintf(buf, len, "lines %ld-%ld, end %ld, %zu fields%s%s:", row->line, row->end_line,
             row->end_offset, row->count, row->error ? ", error: " : "",
             row->error ? row->error : "");
    for (size_t k = 0; k < row->count && (used = strlen(buf)) + 8 < len; k++)
        snprintf(buf + used, len - used, " [%s]", row->fields[k]);
    return buf;
}

/* 1 when two rows are the same row. */
static int same_row(const csv_row_copy *a, const csv_row_copy *b)
{
    if (a->count != b->count || a->line != b->line || a->end_offset != b->end_offset ||
        a->end_line != b->end_line || (a->error == NULL) != (b->error == NULL) ||
        (a->error && strcmp(a->error, b->error) != 0))
        return 0;
    for (size_t k = 0; k < a->count; k++)
        if (strcmp(a->fields[k], b->fields[k]) != 0)
            return 0;
    return 1;
}

/* The straight read's own invariants. */
static void check_straight(const csv_row_copy *rows, size_t count, size_t size)
{
    long previous_end = 0, previous_line = 0;

    for (size_t i = 0; i < count; i++) {
        if (rows[i].end_offset <= previous_end || rows[i].end_offset > (long)size)
            fuzz_fail("row %zu ends at %ld (previous %ld, file %zu bytes)", i + 1,
                      rows[i].end_offset, previous_end, size);
        if (rows[i].line <= previous_line || rows[i].end_line < rows[i].line)
            fuzz_fail("row %zu: lines %ld-%ld after line %ld", i + 1, rows[i].line,
                      rows[i].end_line, previous_line);
        previous_end = rows[i].end_offset;
        previous_line = rows[i].end_line;
    }
}

/* Resume after row `after` (0-based) and compare with the straight read. */
static void check_resume(const csv_row_copy *rows, size_t count, size_t after)
{
    size_t resumed_count = 0;
    csv_row_copy *resumed = read_rows(rows[after].end_offset, rows[after].end_line + 1,
                                      &resumed_count);
    size_t expected = count - after - 1;

    for (size_t k = 0; k < expected || k < resumed_count; k++) {
        const csv_row_copy *want = k < expected ? &rows[after + 1 + k] : NULL;
        const csv_row_copy *got = k < resumed_count ? &resumed[k] : NULL;
        if (!want || !got || !same_row(want, got)) {
            char a[1024], b[1024];
            fuzz_fail("resume after row %zu (offset %ld, line %ld): row %zu differs\n"
                      "  straight: %s\n  resumed:  %s", after + 1, rows[after].end_offset,
                      rows[after].end_line + 1, after + 2 + k, row_text(want, a, sizeof(a)),
                      row_text(got, b, sizeof(b)));
        }
    }
    rows_free(resumed, resumed_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *file = fopen(feed_path, "wb");
    csv_row_copy *rows;
    size_t count = 0, step;

    if (!file || (size && fwrite(data, 1, size, file) != size) || fclose(file) != 0)
        fuzz_fail("cannot write %s", feed_path);
    rows = read_rows(0, 1, &count);
    check_straight(rows, count, size);
    if (count < MAX_ROWS) {
        step = count > MAX_RESUMES ? count / MAX_RESUMES : 1;
        for (size_t after = 0; after < count; after += step)
            check_resume(rows, count, after);
    }
    rows_free(rows, count);
    return 0;
}
