/* ac_csv.c: RFC 4180 rows with their end offsets, on libcsv. Lines are
 * fed to libcsv one physical line at a time, so the moment it reports the
 * end of a row we know the byte offset after it (quoted fields may span
 * several lines). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <csv.h>

#include "ac_csv.h"

struct ac_csv_reader {
    FILE *file;
    struct csv_parser parser;
    char *line;              /* getline buffer */
    size_t line_cap;
    long offset;             /* bytes consumed so far */
    long next_line;          /* number of the next physical line */
    char **fields;           /* the row being assembled */
    size_t count, cap;
    int row_done;            /* libcsv reported the end of a row */
    int alloc_failed;
    int at_start;            /* nothing read yet from offset 0 (BOM check) */
};

static void on_field(void *data, size_t len, void *user)
{
    ac_csv_reader *reader = user;
    char *copy;

    if (reader->count == reader->cap) {
        size_t cap = reader->cap ? reader->cap * 2 : 32;
        char **grown = realloc(reader->fields, cap * sizeof(*grown));
        if (!grown) {
            reader->alloc_failed = 1;
            return;
        }
        reader->fields = grown;
        reader->cap = cap;
    }
    copy = malloc(len + 1);
    if (!copy) {
        reader->alloc_failed = 1;
        return;
    }
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    reader->fields[reader->count++] = copy;
}

static void on_row(int terminator, void *user)
{
    ac_csv_reader *reader = user;

    (void)terminator;
    reader->row_done = 1;
}

static void clear_fields(ac_csv_reader *reader)
{
    for (size_t i = 0; i < reader->count; i++)
        free(reader->fields[i]);
    reader->count = 0;
}

ac_csv_reader *ac_csv_open(const char *path, long offset, long line, char *errbuf, size_t errlen)
{
    ac_csv_reader *reader = calloc(1, sizeof(*reader));

    if (!reader) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    reader->file = fopen(path, "rb");
    if (!reader->file) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        free(reader);
        return NULL;
    }
    if (offset > 0 && fseek(reader->file, offset, SEEK_SET) != 0) {
        snprintf(errbuf, errlen, "%s: cannot seek to %ld: %s", path, offset, strerror(errno));
        fclose(reader->file);
        free(reader);
        return NULL;
    }
    if (csv_init(&reader->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        snprintf(errbuf, errlen, "cannot start the CSV parser");
        fclose(reader->file);
        free(reader);
        return NULL;
    }
    reader->offset = offset > 0 ? offset : 0;
    reader->next_line = line > 0 ? line : 1;
    reader->at_start = reader->offset == 0;
    return reader;
}

/* Restart the parser after a malformed row. */
static void reset_parser(ac_csv_reader *reader)
{
    csv_free(&reader->parser);
    csv_init(&reader->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
    reader->row_done = 0;
}

int ac_csv_next(ac_csv_reader *reader, ac_csv_row *row, char *errbuf, size_t errlen)
{
    ssize_t len;
    long start_line = reader->next_line;
    int started = 0;

    clear_fields(reader);
    memset(row, 0, sizeof(*row));
    reader->row_done = 0;
    while ((len = getline(&reader->line, &reader->line_cap, reader->file)) > 0) {
        const char *data = reader->line;
        size_t size = (size_t)len, parsed;

        reader->offset += len;
        reader->next_line++;
        if (reader->at_start) {
            reader->at_start = 0;
            if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
                data += 3;
                size -= 3;
            }
        }
        /* Blank lines between rows carry no record. */
        if (!started && (strcmp(data, "\n") == 0 || strcmp(data, "\r\n") == 0)) {
            start_line = reader->next_line;
            continue;
        }
        started = 1;
        parsed = csv_parse(&reader->parser, data, size, on_field, on_row, reader);
        if (reader->alloc_failed) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
        if (parsed < size) {
            int code = csv_error(&reader->parser);
            /* libcsv's own text for a strict-mode error names its option,
             * not the problem in the file. */
            row->error = code == CSV_EPARSE
                             ? "bad quoting: a quote inside an unquoted field, or text after a closing quote"
                             : csv_strerror(code);
            reset_parser(reader);
            goto row_out;
        }
        if (reader->row_done)
            goto row_out;
    }
    if (ferror(reader->file)) {
        snprintf(errbuf, errlen, "read error: %s", strerror(errno));
        return -1;
    }
    if (!started)
        return 0;
    /* End of file inside a row: a last line without newline, or an
     * unterminated quoted field. */
    if (csv_fini(&reader->parser, on_field, on_row, reader) != 0) {
        row->error = "unterminated quoted field at end of file";
        reset_parser(reader);
    }
row_out:
    row->fields = reader->fields;
    row->count = reader->count;
    row->line = start_line;
    row->end_offset = reader->offset;
    row->end_line = reader->next_line - 1;
    return 1;
}

void ac_csv_close(ac_csv_reader **reader_p)
{
    ac_csv_reader *reader = reader_p ? *reader_p : NULL;

    if (!reader)
        return;
    clear_fields(reader);
    free(reader->fields);
    free(reader->line);
    csv_free(&reader->parser);
    if (reader->file)
        fclose(reader->file);
    free(reader);
    *reader_p = NULL;
}
