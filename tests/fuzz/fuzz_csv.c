/* fuzz_csv.c: libFuzzer harness of the Data Feed CSV reader
 * (plugins/annexcloud-source/ac_csv.c, rules in ac_csv.h). The input is a
 * feed file. It is read straight through, then resumed from the end of
 * every row (end_offset, end_line + 1: what feed mode checkpoints and
 * reopens a file at): the rows a resume reads must be exactly the rows the
 * straight read gave after that point (cells byte for byte, raw text,
 * lines, offsets, errors). Also, on the straight read: rows follow each
 * other inside the file; between them lie only blank lines (and a BOM at
 * offset 0); a row's raw text is the file's bytes where it starts; a
 * malformed row has no cells; reading never fails with an I/O error.
 * fuzz_csv_tiny.c builds the same on the reader with 5-byte reads and
 * 64-byte rows. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/annexcloud-source/ac_csv.h"
#include "fuzz.h"

#ifndef FUZZ_CSV_NAME
#define FUZZ_CSV_NAME "fuzz_csv"
#endif
const char fuzz_harness_name[] = FUZZ_CSV_NAME;

/* Rows a straight read may give before the harness stops comparing (the
 * inputs are a few KB; this bounds a pathological one). */
#define MAX_ROWS 4096
/* Row ends resumed from: every one up to this many rows, else spread. */
#define MAX_RESUMES 128

/* One row as read, copied out of the reader. */
typedef struct csv_row_copy {
    char **fields;
    size_t *lengths;
    size_t count;
    char *raw;
    size_t raw_len;
    int raw_truncated;
    long line, end_line, start_offset, end_offset;
    const char *error; /* the reader's text: copied too, it may be per row */
    char *error_copy;
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

/* Free rows[0..count) and the array. */
static void rows_free(csv_row_copy *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < rows[i].count; k++)
            free(rows[i].fields[k]);
        free(rows[i].fields);
        free(rows[i].lengths);
        free(rows[i].raw);
        free(rows[i].error_copy);
    }
    free(rows);
}

/* Copy of data[0..len) with a NUL after it; aborts on ENOMEM. */
static char *copy_bytes(const char *data, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    return copy;
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
        copy->lengths = calloc(row.count ? row.count : 1, sizeof(size_t));
        if (!copy->fields || !copy->lengths)
            abort();
        for (size_t k = 0; k < row.count; k++) {
            copy->fields[k] = copy_bytes(row.fields[k], row.lengths[k]);
            copy->lengths[k] = row.lengths[k];
        }
        copy->count = row.count;
        copy->raw = copy_bytes(row.raw ? row.raw : "", row.raw ? row.raw_len : 0);
        copy->raw_len = row.raw ? row.raw_len : 0;
        copy->raw_truncated = row.raw_truncated;
        copy->line = row.line;
        copy->end_line = row.end_line;
        copy->start_offset = row.start_offset;
        copy->end_offset = row.end_offset;
        copy->error_copy = row.error ? copy_bytes(row.error, strlen(row.error)) : NULL;
        copy->error = copy->error_copy;
    }
    if (got < 0)
        fuzz_fail("reading from offset %ld failed: %s", offset, err);
    ac_csv_close(&reader);
    return rows;
}

/* Describe a row for a failure message into buf (cells cut at a NUL).
 * Returns buf. */
static const char *row_text(const csv_row_copy *row, char *buf, size_t len)
{
    size_t used;

    if (!row) {
        snprintf(buf, len, "(none)");
        return buf;
    }
    snprintf(buf, len, "lines %ld-%ld, bytes [%ld, %ld), %zu cells%s%s:", row->line,
             row->end_line, row->start_offset, row->end_offset, row->count,
             row->error ? ", error: " : "", row->error ? row->error : "");
    for (size_t k = 0; k < row->count && (used = strlen(buf)) + 8 < len; k++)
        snprintf(buf + used, len - used, " [%s]", row->fields[k]);
    return buf;
}

/* 1 when two rows are the same row. */
static int same_row(const csv_row_copy *a, const csv_row_copy *b)
{
    if (a->count != b->count || a->line != b->line || a->end_line != b->end_line ||
        a->start_offset != b->start_offset || a->end_offset != b->end_offset ||
        a->raw_len != b->raw_len || a->raw_truncated != b->raw_truncated ||
        memcmp(a->raw, b->raw, a->raw_len) != 0 || (a->error == NULL) != (b->error == NULL) ||
        (a->error && strcmp(a->error, b->error) != 0))
        return 0;
    for (size_t k = 0; k < a->count; k++)
        if (a->lengths[k] != b->lengths[k] ||
            memcmp(a->fields[k], b->fields[k], a->lengths[k]) != 0)
            return 0;
    return 1;
}

/* 1 when data[from..to) holds only line breaks, spaces and tabs (and a
 * UTF-8 BOM when from is 0): what may lie between two rows. */
static int only_blank(const uint8_t *data, long from, long to)
{
    if (from == 0 && to >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        from = 3;
    for (long i = from; i < to; i++)
        if (data[i] != '\r' && data[i] != '\n' && data[i] != ' ' && data[i] != '\t')
            return 0;
    return 1;
}

/* The straight read's own invariants over the file data[0..size). */
static void check_straight(const csv_row_copy *rows, size_t count, const uint8_t *data,
                           size_t size)
{
    long previous_end = 0, previous_line = 0;

    for (size_t i = 0; i < count; i++) {
        const csv_row_copy *row = &rows[i];
        if (row->start_offset < previous_end || row->end_offset <= row->start_offset ||
            row->end_offset > (long)size)
            fuzz_fail("row %zu spans [%ld, %ld) after %ld in a file of %zu bytes", i + 1,
                      row->start_offset, row->end_offset, previous_end, size);
        if (!only_blank(data, previous_end, row->start_offset))
            fuzz_fail("bytes [%ld, %ld) before row %zu are in no row", previous_end,
                      row->start_offset, i + 1);
        if (row->line <= previous_line || row->end_line < row->line)
            fuzz_fail("row %zu: lines %ld-%ld after line %ld", i + 1, row->line, row->end_line,
                      previous_line);
        if (row->raw_len > (size_t)(row->end_offset - row->start_offset) ||
            memcmp(row->raw, data + row->start_offset, row->raw_len) != 0)
            fuzz_fail("row %zu: its raw text is not the file's bytes at %ld", i + 1,
                      row->start_offset);
        if (row->error && row->count != 0)
            fuzz_fail("malformed row %zu has %zu cells", i + 1, row->count);
        previous_end = row->end_offset;
        previous_line = row->end_line;
    }
    if (count < MAX_ROWS && !only_blank(data, previous_end, (long)size))
        fuzz_fail("bytes [%ld, %zu) after the last row are in no row", previous_end, size);
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
    check_straight(rows, count, data, size);
    if (count < MAX_ROWS) {
        step = count > MAX_RESUMES ? count / MAX_RESUMES : 1;
        for (size_t after = 0; after < count; after += step)
            check_resume(rows, count, after);
    }
    rows_free(rows, count);
    return 0;
}
