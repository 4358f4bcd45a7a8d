/* ac_csv.c: RFC 4180 rows with their exact start and end offsets, on
 * libcsv. The file is fed to libcsv one line at a time, a line ending at
 * LF, CRLF or a bare CR: libcsv can end a row only at such a byte, so
 * after each line we know whether the row ended there and the byte offset
 * after it. What a row is, what a malformed one covers and where reading
 * goes on after it are the rules in ac_csv.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <csv.h>

#include "ac_csv.h"
#include "util/dynbuf.h"

/* Bytes read at a time. A test build (test_annexcloud_csv_tiny.c) sets it
 * to a few bytes so that every decision meets the end of a buffer. */
#ifndef AC_CSV_READ_CHUNK
#define AC_CSV_READ_CHUNK 65536
#endif
#define READ_CHUNK ((size_t)AC_CSV_READ_CHUNK)
#define CELL_BLOCK 65536
#define PARSER_OPTIONS (CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL)

struct ac_csv_reader {
    FILE *file;
    struct csv_parser parser;
    int parser_ready;         /* parser is initialised (csv_init succeeded) */
    unsigned char *buf;       /* READ_CHUNK bytes; unread ones are [buf_pos, buf_len) */
    size_t buf_pos, buf_len;
    int at_eof;               /* fread has reached the end of the file */
    long offset;              /* file offset of buf[buf_pos] */
    long next_line;           /* number of the line `offset` is on */
    int at_start;             /* at offset 0 before anything was read (BOM check) */
    /* The row being assembled: cell bytes back to back (each NUL-ended) in
     * `cells`, cell i at cell_at[i]; `fields` is built when the row is done
     * because `cells` may move as it grows. */
    dynbuf cells;
    size_t *cell_at, *lengths;
    char **fields;
    size_t count, cap;
    dynbuf raw;               /* the row's bytes as read, at most AC_CSV_MAX_ROW */
    int row_done;             /* libcsv reported the end of the row */
    int alloc_failed;
    char error_text[128];
};

/* Make room for cell number `count` (0-based) in the row's three arrays.
 * Returns 0, or -1 when out of memory (the arrays keep what they held). */
static int grow_cells(ac_csv_reader *reader, size_t count)
{
    size_t cap = reader->cap ? reader->cap * 2 : 32;
    size_t *cell_at, *lengths;
    char **fields;

    if (count < reader->cap)
        return 0;
    cell_at = realloc(reader->cell_at, cap * sizeof(*cell_at));
    if (cell_at)
        reader->cell_at = cell_at;
    lengths = realloc(reader->lengths, cap * sizeof(*lengths));
    if (lengths)
        reader->lengths = lengths;
    fields = realloc(reader->fields, cap * sizeof(*fields));
    if (fields)
        reader->fields = fields;
    if (!cell_at || !lengths || !fields)
        return -1;
    reader->cap = cap;
    return 0;
}

/* libcsv's field callback: append the cell and the NUL that ends it to
 * the row (alloc_failed set when out of memory). */
static void on_field(void *data, size_t len, void *user)
{
    ac_csv_reader *reader = user;
    size_t at = reader->cells.len;

    /* Room for both appends first, so that neither can fail alone. */
    if (dynbuf_reserve(&reader->cells, len + 1) != 0 || grow_cells(reader, reader->count) != 0) {
        reader->alloc_failed = 1;
        return;
    }
    dynbuf_append(&reader->cells, data, len);
    dynbuf_append(&reader->cells, "", 1);
    reader->cell_at[reader->count] = at;
    reader->lengths[reader->count] = len;
    reader->count++;
}

/* libcsv's row callback: the row ended (at a line break, or at csv_fini). */
static void on_row(int terminator, void *user)
{
    ac_csv_reader *reader = user;

    (void)terminator;
    reader->row_done = 1;
}

/* Start libcsv afresh (after a malformed row, whose state it still holds).
 * Returns 0, or -1 when out of memory. */
static int restart_parser(ac_csv_reader *reader)
{
    if (reader->parser_ready)
        csv_free(&reader->parser);
    reader->parser_ready = csv_init(&reader->parser, PARSER_OPTIONS) == 0;
    /* libcsv grows a cell's buffer by this many bytes at a time (128 by
     * default: a 1 MiB cell took 8,192 reallocs, each a copy under ASan). */
    if (reader->parser_ready)
        csv_set_blk_size(&reader->parser, CELL_BLOCK);
    return reader->parser_ready ? 0 : -1;
}

/* Make at least `want` (<= READ_CHUNK) unread bytes available when the
 * file has that many. Returns the number available (fewer only at the end
 * of the file), or -1 on a read error (errno). */
static long fill(ac_csv_reader *reader, size_t want)
{
    size_t have = reader->buf_len - reader->buf_pos;

    while (have < want && !reader->at_eof) {
        size_t got;
        if (reader->buf_pos == 0 && reader->buf_len == READ_CHUNK)
            break; /* full: the caller asked for more than a buffer */
        if (reader->buf_pos > 0) {
            memmove(reader->buf, reader->buf + reader->buf_pos, have);
            reader->buf_pos = 0;
            reader->buf_len = have;
        }
        got = fread(reader->buf + reader->buf_len, 1, READ_CHUNK - reader->buf_len, reader->file);
        if (got == 0) {
            if (ferror(reader->file))
                return -1;
            reader->at_eof = 1;
        }
        reader->buf_len += got;
        have += got;
    }
    return (long)have;
}

/* Mark `len` unread bytes as read. */
static void consume(ac_csv_reader *reader, size_t len)
{
    reader->buf_pos += len;
    reader->offset += (long)len;
}

/* Move the read position back to `offset` (not before the current row).
 * Returns 0, or -1 when the file cannot seek (errno). */
static int seek_to(ac_csv_reader *reader, long offset)
{
    long buffered_from = reader->offset - (long)reader->buf_pos;

    if (offset >= buffered_from && offset <= reader->offset) {
        reader->buf_pos = (size_t)(offset - buffered_from);
        reader->offset = offset;
        return 0;
    }
    if (fseek(reader->file, offset, SEEK_SET) != 0)
        return -1;
    reader->buf_pos = reader->buf_len = 0;
    reader->at_eof = 0;
    reader->offset = offset;
    return 0;
}

/* Length of the line break at unread byte `at` (a CR or LF): 2 for CRLF,
 * else 1. Reads one byte ahead for a CR. Returns -1 on a read error. */
static int line_break_len(ac_csv_reader *reader, size_t at)
{
    long have;

    if (reader->buf[reader->buf_pos + at] == '\n')
        return 1;
    have = fill(reader, at + 2);
    if (have < 0)
        return -1;
    return (size_t)have >= at + 2 && reader->buf[reader->buf_pos + at + 1] == '\n' ? 2 : 1;
}

/* Skip spaces, tabs and line breaks before a row, counting the lines.
 * libcsv ignores them there too. Returns 1 when a row starts at the read
 * position, 0 at the end of the file, -1 on a read error. */
static int skip_blank_lines(ac_csv_reader *reader)
{
    for (;;) {
        long have = fill(reader, 1);
        unsigned char c;
        int len;

        if (have <= 0)
            return (int)have;
        c = reader->buf[reader->buf_pos];
        if (c == ' ' || c == '\t') {
            consume(reader, 1);
            continue;
        }
        if (c != '\r' && c != '\n')
            return 1;
        len = line_break_len(reader, 0);
        if (len < 0)
            return -1;
        consume(reader, (size_t)len);
        reader->next_line++;
    }
}

/* Keep the row's text, up to AC_CSV_MAX_ROW bytes (the rest is cut off).
 * Returns 0, or -1 when out of memory. */
static int keep_raw(ac_csv_reader *reader, const unsigned char *data, size_t len)
{
    size_t room = (size_t)AC_CSV_MAX_ROW - reader->raw.len;

    if (len > room)
        len = room;
    return dynbuf_append(&reader->raw, data, len);
}

ac_csv_reader *ac_csv_open(const char *path, long offset, long line, char *errbuf, size_t errlen)
{
    ac_csv_reader *reader = calloc(1, sizeof(*reader));

    if (reader) {
        dynbuf_init(&reader->cells, 0);
        dynbuf_init(&reader->raw, (size_t)AC_CSV_MAX_ROW);
    }
    /* raw holds "" from the start: a row's text is never NULL */
    if (!reader || !(reader->buf = malloc(READ_CHUNK)) || dynbuf_append(&reader->raw, "", 0) != 0 ||
        restart_parser(reader) != 0) {
        snprintf(errbuf, errlen, "out of memory");
        ac_csv_close(&reader);
        return NULL;
    }
    reader->file = fopen(path, "rb");
    if (!reader->file) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        ac_csv_close(&reader);
        return NULL;
    }
    if (offset > 0 && fseek(reader->file, offset, SEEK_SET) != 0) {
        snprintf(errbuf, errlen, "%s: cannot seek to %ld: %s", path, offset, strerror(errno));
        ac_csv_close(&reader);
        return NULL;
    }
    reader->offset = offset > 0 ? offset : 0;
    reader->next_line = line > 0 ? line : 1;
    reader->at_start = reader->offset == 0;
    return reader;
}

/* Index of the first CR or LF among the `have` unread bytes, or `have`. */
static size_t find_line_break(const ac_csv_reader *reader, size_t have)
{
    const unsigned char *data = reader->buf + reader->buf_pos;

    for (size_t i = 0; i < have; i++) {
        if (data[i] == '\n' || data[i] == '\r')
            return i;
    }
    return have;
}

/* Fill *row from the reader's row state; the row spans [start_offset,
 * end_offset) and lines [line, end_line], its last `break_len` bytes are
 * the line break ending it. A malformed row (`error`) loses its cells and
 * restarts the parser. Returns 1, or -1 with errbuf when out of memory. */
static int finish_row(ac_csv_reader *reader, ac_csv_row *row, const char *error, long end_offset, long end_line,
                      size_t break_len, char *errbuf, size_t errlen)
{
    size_t content_len = (size_t)(end_offset - row->start_offset) - break_len;

    if (error) {
        reader->count = 0;
        if (restart_parser(reader) != 0) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < reader->count; i++)
        reader->fields[i] = reader->cells.data + reader->cell_at[i];
    dynbuf_truncate(&reader->raw, content_len);
    row->fields = reader->fields;
    row->lengths = reader->lengths;
    row->count = reader->count;
    row->raw = reader->raw.data;
    row->raw_len = reader->raw.len;
    row->raw_truncated = reader->raw.len < content_len;
    row->end_offset = end_offset;
    row->end_line = end_line;
    row->error = error;
    return 1;
}

/* The row starting at row->start_offset runs on over a line break inside
 * quotes and does not end well (open at the end of the file, quoting that
 * breaks on a later line, over AC_CSV_MAX_ROW bytes): taken as a quote
 * never closed. Only the row's first line is the malformed row (`why`);
 * reading goes on at the line after it
 * (first_break_end, first_break_len; first_break_end -1: the row has no
 * line break and runs to the end of the file). Returns finish_row's
 * result, or -1 with errbuf when the file cannot seek back. */
static int park_first_line(ac_csv_reader *reader, ac_csv_row *row, const char *why, long first_break_end,
                           size_t first_break_len, char *errbuf, size_t errlen)
{
    if (first_break_end < 0)
        return finish_row(reader, row, why, reader->offset, reader->next_line, 0, errbuf, errlen);
    if (seek_to(reader, first_break_end) != 0) {
        snprintf(errbuf, errlen, "cannot seek back to %ld: %s", first_break_end, strerror(errno));
        return -1;
    }
    reader->next_line = row->line + 1;
    return finish_row(reader, row, why, first_break_end, row->line, first_break_len, errbuf, errlen);
}

/* Skip a UTF-8 BOM at the start of the file. Returns 0, or -1 on a read
 * error. */
static int skip_bom(ac_csv_reader *reader)
{
    long have = fill(reader, 3);

    reader->at_start = 0;
    if (have >= 3 && memcmp(reader->buf + reader->buf_pos, "\xEF\xBB\xBF", 3) == 0)
        consume(reader, 3);
    return have < 0 ? -1 : 0;
}

/* Where the reader decides about a row depends only on the file's bytes,
 * never on where a buffer happens to end (so a read resumed at a row end
 * decides exactly as the straight read did): libcsv is fed up to a line
 * break, or up to the byte that makes the line longer than AC_CSV_MAX_ROW,
 * and the checks run there. */
int ac_csv_next(ac_csv_reader *reader, ac_csv_row *row, char *errbuf, size_t errlen)
{
    const char *error = NULL;  /* set: the row is malformed, the rest of its line is not parsed */
    long first_break_end = -1; /* offset after the row's first line break */
    size_t first_break_len = 0;
    long line_start;           /* offset where the current line began */
    int result;

    memset(row, 0, sizeof(*row));
    reader->count = 0;
    dynbuf_reset(&reader->cells);
    dynbuf_reset(&reader->raw);
    reader->row_done = 0;
    if (reader->at_start && skip_bom(reader) != 0)
        goto read_error;
    result = skip_blank_lines(reader);
    if (result < 0)
        goto read_error;
    if (result == 0)
        goto out;
    row->start_offset = line_start = reader->offset;
    row->line = reader->next_line;
    for (;;) {
        long have = fill(reader, 1);
        size_t scan, chunk;
        int break_len = 0;

        if (have < 0)
            goto read_error;
        if (have == 0)
            break;
        scan = find_line_break(reader, (size_t)have);
        chunk = scan;
        if (!error && (long)scan >= line_start + AC_CSV_MAX_ROW + 1 - reader->offset) {
            /* Stop at the byte that makes the line too long. */
            chunk = (size_t)(line_start + AC_CSV_MAX_ROW + 1 - reader->offset);
        } else if (scan > 0 && scan == (size_t)have - 1 && reader->buf[reader->buf_pos + scan] == '\r' &&
                   !reader->at_eof) {
            /* A CR at the end of the buffer: feed what is before it, so
             * the next round has room to look for an LF after it. */
        } else if (scan < (size_t)have) {
            break_len = line_break_len(reader, scan);
            if (break_len < 0)
                goto read_error;
            chunk = scan + (size_t)break_len;
        }
        if (keep_raw(reader, reader->buf + reader->buf_pos, chunk) != 0)
            goto no_memory;
        if (!error) {
            size_t parsed = csv_parse(&reader->parser, reader->buf + reader->buf_pos, chunk, on_field, on_row, reader);
            if (reader->alloc_failed || (parsed < chunk && csv_error(&reader->parser) != CSV_EPARSE))
                goto no_memory;
            if (parsed < chunk && first_break_end >= 0) {
                /* Quoted text ran on over a line break and then broke:
                 * most likely a quote never closed, paired with a later
                 * one. Taken as such, it costs one line, not all between. */
                snprintf(reader->error_text, sizeof(reader->error_text),
                         "unterminated quoted field: quoted text runs on to line %ld and the quoting breaks there",
                         reader->next_line);
                result = park_first_line(reader, row, reader->error_text, first_break_end, first_break_len, errbuf,
                                         errlen);
                goto out;
            }
            /* libcsv's own text for a strict-mode error names its option,
             * not the problem in the file. */
            if (parsed < chunk)
                error = "bad quoting: a quote inside an unquoted field, or text after a closing quote";
        }
        consume(reader, chunk);
        if (break_len) {
            reader->next_line++;
            if (first_break_end < 0) {
                first_break_end = reader->offset;
                first_break_len = (size_t)break_len;
            } else if (!error && reader->offset - (long)break_len - row->start_offset > AC_CSV_MAX_ROW) {
                /* Line after line inside quotes: take it as a lost quote. */
                snprintf(reader->error_text, sizeof(reader->error_text),
                         "unterminated quoted field: the row runs over %ld bytes", AC_CSV_MAX_ROW);
                result = park_first_line(reader, row, reader->error_text, first_break_end, first_break_len, errbuf,
                                         errlen);
                goto out;
            }
            if (error || reader->row_done) {
                result = finish_row(reader, row, error, reader->offset, reader->next_line - 1, (size_t)break_len,
                                    errbuf, errlen);
                goto out;
            }
            line_start = reader->offset;
        } else if (!error && reader->offset - line_start > AC_CSV_MAX_ROW && first_break_end >= 0) {
            /* A later line of a row open across lines: as above. */
            snprintf(reader->error_text, sizeof(reader->error_text),
                     "unterminated quoted field: the row runs over %ld bytes", AC_CSV_MAX_ROW);
            result = park_first_line(reader, row, reader->error_text, first_break_end, first_break_len, errbuf,
                                     errlen);
            goto out;
        } else if (!error && reader->offset - line_start > AC_CSV_MAX_ROW) {
            snprintf(reader->error_text, sizeof(reader->error_text), "line longer than %ld bytes", AC_CSV_MAX_ROW);
            error = reader->error_text; /* the rest of the line goes with it */
        }
    }
    /* The end of the file inside the row: a last line without a line
     * break, or a quoted field never closed. */
    if (!error && csv_fini(&reader->parser, on_field, on_row, reader) != 0) {
        result = park_first_line(reader, row, "unterminated quoted field: no closing quote before the end of the file",
                                 first_break_end, first_break_len, errbuf, errlen);
        goto out;
    }
    if (reader->alloc_failed)
        goto no_memory;
    if (!error && !reader->row_done) {
        result = 0; /* nothing libcsv takes for a row */
        goto out;
    }
    result = finish_row(reader, row, error, reader->offset, reader->next_line, 0, errbuf, errlen);
    goto out;
read_error:
    snprintf(errbuf, errlen, "read error: %s", strerror(errno));
    result = -1;
    goto out;
no_memory:
    snprintf(errbuf, errlen, "out of memory");
    result = -1;
out:
    return result;
}

void ac_csv_close(ac_csv_reader **reader_p)
{
    ac_csv_reader *reader = reader_p ? *reader_p : NULL;

    if (!reader)
        return;
    if (reader->parser_ready)
        csv_free(&reader->parser);
    if (reader->file)
        fclose(reader->file);
    free(reader->buf);
    dynbuf_free(&reader->raw);
    dynbuf_free(&reader->cells);
    free(reader->cell_at);
    free(reader->lengths);
    free(reader->fields);
    free(reader);
    *reader_p = NULL;
}
