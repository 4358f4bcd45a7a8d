/* test_annexcloud_csv.c: Check tests of the annexcloud-source CSV row
 * reader (ac_csv.c): RFC 4180 quoting, embedded newlines, CRLF, UTF-8 and
 * BOM, a last line without newline, bare CR line breaks, malformed rows
 * and where reading goes on after them (their raw text and line range),
 * cells kept byte for byte (NUL, Latin-1), and the two properties the
 * feed mode's checkpoints rest on, checked from every row end of nasty
 * and of pseudo-random inputs: resuming after a row gives exactly the rows
 * a straight read gives after it, and every byte of the file is in a row
 * or a blank line. Real files in a temp dir. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "../../plugins/annexcloud-source/ac_csv.h"

/* ck_assert_msg reports every passed check to the parent process; the
 * loops below make hundreds of thousands, so they report only
 * a failure. */
#define REQUIRE(expr, ...) \
    do { \
        if (!(expr)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* Longest pseudo-random input + 1. The tiny-buffer build of this file
 * (test_annexcloud_csv_tiny.c) draws longer ones, so that rows there also
 * run over its small AC_CSV_MAX_ROW. */
#ifndef RANDOM_INPUT_MAX
#define RANDOM_INPUT_MAX 48
#endif

static char temp_dir[64];
static char csv_path[128];

static void setup(void)
{
    snprintf(temp_dir, sizeof(temp_dir), "/tmp/test_ac_csv.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
    snprintf(csv_path, sizeof(csv_path), "%s/export.csv", temp_dir);
}

static void teardown(void)
{
    unlink(csv_path);
    rmdir(temp_dir);
}

/* Write `len` bytes of `content` as the test file. */
static void write_file(const char *content, size_t len)
{
    FILE *f = fopen(csv_path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(content, 1, len, f), len);
    fclose(f);
}

#define WRITE_LITERAL(s) write_file((s), sizeof(s) - 1)

static ac_csv_reader *open_at(long offset, long line)
{
    char err[256] = "";
    ac_csv_reader *reader = ac_csv_open(csv_path, offset, line, err, sizeof(err));

    ck_assert_msg(reader != NULL, "open failed: %s", err);
    return reader;
}

/* Next row, which must exist. */
static void next_row(ac_csv_reader *reader, ac_csv_row *row)
{
    char err[256] = "";
    int rc = ac_csv_next(reader, row, err, sizeof(err));

    ck_assert_msg(rc == 1, "expected a row, got %d (%s)", rc, err);
}

static void expect_eof(ac_csv_reader *reader)
{
    char err[256] = "";
    ac_csv_row row;

    ck_assert_int_eq(ac_csv_next(reader, &row, err, sizeof(err)), 0);
}

START_TEST(test_quotes_and_doubled_quotes)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("id,name,note\n"
                  "1,\"Smith, Anna\",\"she said \"\"hi\"\"\"\n"
                  "2,,\"\"\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 3);
    ck_assert_str_eq(row.fields[0], "id");
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 3);
    ck_assert_str_eq(row.fields[1], "Smith, Anna");
    ck_assert_str_eq(row.fields[2], "she said \"hi\"");
    ck_assert_int_eq(row.line, 2);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 3);
    ck_assert_str_eq(row.fields[1], "");
    ck_assert_str_eq(row.fields[2], "");
    ck_assert_int_eq(row.line, 3);
    expect_eof(reader);
    ac_csv_close(&reader);
    ck_assert_ptr_null(reader);
}
END_TEST

START_TEST(test_embedded_newlines_and_crlf)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\r\n"
                  "1,\"two\r\nlines\"\r\n"
                  "2,\"three\nmore\nlines\"\r\n"
                  "3,last\r\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[1], "b");
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[1], "two\r\nlines");
    ck_assert_int_eq(row.line, 2);
    ck_assert_int_eq(row.end_line, 3);
    next_row(reader, &row);
    ck_assert_str_eq(row.fields[1], "three\nmore\nlines");
    ck_assert_int_eq(row.line, 4);
    ck_assert_int_eq(row.end_line, 6);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "3");
    ck_assert_str_eq(row.fields[1], "last");
    ck_assert_int_eq(row.line, 7);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

START_TEST(test_utf8_and_bom)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("\xEF\xBB\xBFLoyalty Id,First Name\n"
                  "LID-1,Zo\xC3\xAB \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    ck_assert_str_eq(row.fields[0], "Loyalty Id");
    next_row(reader, &row);
    ck_assert_str_eq(row.fields[1], "Zo\xC3\xAB \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80");
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

START_TEST(test_last_line_without_newline)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\n1,2\n3,\"x y\"");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "3");
    ck_assert_str_eq(row.fields[1], "x y");
    ck_assert_int_eq(row.line, 3);
    ck_assert_int_eq(row.end_offset, (long)strlen("a,b\n1,2\n3,\"x y\""));
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* A quote never closed costs its line, not the rest of the file: the
 * line is the malformed row (its text kept), reading goes on after it. */
START_TEST(test_unterminated_quote_is_an_error)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\n1,2\n3,\"never closed\n4,5\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_msg(strstr(row.error, "unterminated") != NULL, "unclear reason: %s", row.error);
    ck_assert_int_eq(row.line, 3);
    ck_assert_int_eq(row.end_line, 3);
    ck_assert_uint_eq(row.count, 0);
    ck_assert_str_eq(row.raw, "3,\"never closed");
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "4");
    ck_assert_int_eq(row.line, 4);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* A stray quote inside an unquoted field is a bad row; the rows after it
 * are read normally, with their own line numbers. */
START_TEST(test_malformed_row_then_good_rows)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\n1,\"ok\"junk\n\n2,fine\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    /* The reason says what is wrong in CSV terms, not libcsv's internals. */
    ck_assert_msg(strstr(row.error, "quote") != NULL, "unclear reason: %s", row.error);
    ck_assert_int_eq(row.line, 2);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "2");
    ck_assert_str_eq(row.fields[1], "fine");
    ck_assert_int_eq(row.line, 4);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* The repro: an export with bare CR line breaks only. libcsv ends
 * rows there; so must the reader (it read one 15-cell header, no rows). */
START_TEST(test_cr_only_export)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("Loyalty Id,First Name,Last Name,Email Address,Available Points\r"
                  "D1,Cr,Only,d1@x.com,1\r"
                  "D2,Cr,Only,d2@x.com,2\r");
    reader = open_at(0, 1);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 5);
    ck_assert_str_eq(row.fields[4], "Available Points");
    ck_assert_int_eq(row.line, 1);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 5);
    ck_assert_str_eq(row.fields[0], "D1");
    ck_assert_str_eq(row.fields[4], "1");
    ck_assert_int_eq(row.line, 2);
    ck_assert_str_eq(row.raw, "D1,Cr,Only,d1@x.com,1");
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 5);
    ck_assert_str_eq(row.fields[0], "D2");
    ck_assert_int_eq(row.line, 3);
    ck_assert_int_eq(row.end_offset, 107);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* The repro: a bare CR inside a CRLF file ends a row; the quote
 * opened on line 3 is never closed, so line 3 alone is parked and A3 is
 * read (a straight read lost A3 into a DLQ entry with no cells, while a
 * resume after row 2 emitted it). */
START_TEST(test_bare_cr_in_crlf_file_and_lost_quote)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("Loyalty Id,First Name\r\nA1,x\rA2,\"y\r\nA3,z\r\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    ck_assert_uint_eq(row.count, 2);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "A1");
    ck_assert_str_eq(row.fields[1], "x");
    ck_assert_int_eq(row.line, 2);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_int_eq(row.line, 3);
    ck_assert_int_eq(row.end_line, 3);
    ck_assert_str_eq(row.raw, "A2,\"y");
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.count, 2);
    ck_assert_str_eq(row.fields[0], "A3");
    ck_assert_str_eq(row.fields[1], "z");
    ck_assert_int_eq(row.line, 4);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* The review's a03: an unterminated quote mid-file swallowed every later
 * row into one entry keeping only the cells before the quote. */
START_TEST(test_unterminated_quote_mid_file)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("Loyalty Id,First Name\r\nC1,\"never closed\r\nC2,b\r\nC3,c\r\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_int_eq(row.line, 2);
    ck_assert_int_eq(row.end_line, 2);
    ck_assert_str_eq(row.raw, "C1,\"never closed");
    ck_assert_int_eq(row.start_offset, 23);
    ck_assert_int_eq(row.end_offset, 41);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[0], "C2");
    ck_assert_int_eq(row.line, 3);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[0], "C3");
    ck_assert_int_eq(row.line, 4);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* Two lost quotes pair up as one quoted field running over the rows
 * between them, then the quoting breaks: each costs only its own line. */
START_TEST(test_lost_quotes_do_not_pair_up)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("id,v\nX1,\"lost\nX2,ok\nX3,\"lost\nX4,ok\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_msg(strstr(row.error, "line 4") != NULL, "where the quoting broke is not named: %s", row.error);
    ck_assert_str_eq(row.raw, "X1,\"lost");
    ck_assert_int_eq(row.line, 2);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[0], "X2");
    ck_assert_int_eq(row.line, 3);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_str_eq(row.raw, "X3,\"lost");
    ck_assert_int_eq(row.line, 4);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[0], "X4");
    ck_assert_int_eq(row.line, 5);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* Inside quotes a bare CR is data (and counts as a line break). */
START_TEST(test_bare_cr_inside_quotes_is_data)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\r1,\"x\ry\"\r2,z");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[1], "x\ry");
    ck_assert_int_eq(row.line, 2);
    ck_assert_int_eq(row.end_line, 3);
    next_row(reader, &row);
    ck_assert_str_eq(row.fields[1], "z");
    ck_assert_int_eq(row.line, 4);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* Cells are the file's bytes: a Latin-1 byte and a NUL are kept, with
 * the cell's true length (decoding is the feed mode's job). */
START_TEST(test_cells_keep_nul_and_latin1_bytes)
{
    ac_csv_reader *reader;
    ac_csv_row row;

    WRITE_LITERAL("a,b\nE1,Jos\xe9\nN1,Nu\0ll\n");
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_uint_eq(row.lengths[1], 4);
    ck_assert_str_eq(row.fields[1], "Jos\xe9");
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_uint_eq(row.lengths[1], 5);
    ck_assert_int_eq(memcmp(row.fields[1], "Nu\0ll", 5), 0);
    ck_assert_uint_eq(row.raw_len, 8);
    ck_assert_int_eq(memcmp(row.raw, "N1,Nu\0ll", 8), 0);
    expect_eof(reader);
    ac_csv_close(&reader);
}
END_TEST

/* A quote left open is given up after AC_CSV_MAX_ROW bytes (not read to
 * the end of a big file); a line longer than that is one malformed row
 * whose text is cut. Reading goes on after both. */
START_TEST(test_overlong_rows)
{
    size_t line_count = (size_t)AC_CSV_MAX_ROW / 64 + 100, len = 0;
    size_t cap = line_count * 64 + (size_t)AC_CSV_MAX_ROW + 256;
    char *content = malloc(cap);
    ac_csv_reader *reader;
    ac_csv_row row;

    ck_assert_ptr_nonnull(content);
    len += (size_t)snprintf(content + len, cap - len, "a,b\n1,\"open\n");
    for (size_t i = 0; i < line_count; i++)
        len += (size_t)snprintf(content + len, cap - len, "r%zu,%058zu\n", i % 10, i);
    len += (size_t)snprintf(content + len, cap - len, "2,");
    memset(content + len, 'z', (size_t)AC_CSV_MAX_ROW);
    len += (size_t)AC_CSV_MAX_ROW;
    len += (size_t)snprintf(content + len, cap - len, "\n3,ok\n");
    write_file(content, len);
    reader = open_at(0, 1);
    next_row(reader, &row);
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_msg(strstr(row.error, "unterminated") != NULL, "unclear reason: %s", row.error);
    ck_assert_str_eq(row.raw, "1,\"open");
    ck_assert_int_eq(row.line, 2);
    for (size_t i = 0; i < line_count; i++) {
        char err[256] = "";
        REQUIRE(ac_csv_next(reader, &row, err, sizeof(err)) == 1 && !row.error && row.count == 2 &&
                    row.line == (long)i + 3,
                "row %zu of the lines inside the lost quote is wrong", i);
    }
    next_row(reader, &row);
    ck_assert_ptr_nonnull(row.error);
    ck_assert_msg(strstr(row.error, "longer than") != NULL, "unclear reason: %s", row.error);
    ck_assert_int_eq(row.raw_truncated, 1);
    ck_assert_uint_eq(row.raw_len, (size_t)AC_CSV_MAX_ROW);
    ck_assert_int_eq(row.end_line, row.line);
    next_row(reader, &row);
    ck_assert_ptr_null(row.error);
    ck_assert_str_eq(row.fields[1], "ok");
    ck_assert_int_eq(row.line, (long)line_count + 4);
    expect_eof(reader);
    ac_csv_close(&reader);
    free(content);
}
END_TEST

enum { MAX_ROWS = 64, ROW_TEXT = 1024 };

/* What a read gave for one row, to compare reads and check coverage. */
typedef struct seen_row {
    char text[ROW_TEXT];   /* everything about the row, as one string */
    char raw[ROW_TEXT];    /* first bytes of its raw text */
    size_t raw_len;
    int raw_truncated;
    long line, end_line, start_offset, end_offset;
} seen_row;

/* Append `len` bytes to buf[*used..] with bytes outside printable ASCII
 * as \xHH, cut at buflen. */
static void append_escaped(char *buf, size_t buflen, size_t *used, const char *data, size_t len)
{
    for (size_t i = 0; i < len && *used + 5 < buflen; i++) {
        unsigned char c = (unsigned char)data[i];
        int n = (c >= 0x20 && c < 0x7f && c != '\\') ? snprintf(buf + *used, buflen - *used, "%c", c)
                                                     : snprintf(buf + *used, buflen - *used, "\\x%02x", c);
        *used += n > 0 ? (size_t)n : 0;
    }
}

/* Read the test file from (offset, line) to its end into rows[]. Returns
 * the number of rows. */
static size_t read_rows(long offset, long line, seen_row *rows)
{
    ac_csv_reader *reader = open_at(offset, line);
    char err[256] = "";
    ac_csv_row row;
    size_t total = 0;
    int rc;

    while ((rc = ac_csv_next(reader, &row, err, sizeof(err))) == 1) {
        seen_row *seen = &rows[total];
        size_t used = 0;
        REQUIRE(total < MAX_ROWS, "more than %d rows", MAX_ROWS);
        used = (size_t)snprintf(seen->text, ROW_TEXT, "L%ld-%ld @%ld-%ld %s:", row.line, row.end_line,
                                row.start_offset, row.end_offset, row.error ? row.error : "ok");
        for (size_t i = 0; i < row.count; i++) {
            append_escaped(seen->text, ROW_TEXT, &used, "[", 1);
            append_escaped(seen->text, ROW_TEXT, &used, row.fields[i], row.lengths[i]);
            append_escaped(seen->text, ROW_TEXT, &used, "]", 1);
        }
        append_escaped(seen->text, ROW_TEXT, &used, " raw=", 5);
        append_escaped(seen->text, ROW_TEXT, &used, row.raw, row.raw_len);
        memcpy(seen->raw, row.raw, row.raw_len < ROW_TEXT ? row.raw_len : ROW_TEXT);
        seen->raw_len = row.raw_len;
        seen->raw_truncated = row.raw_truncated;
        seen->line = row.line;
        seen->end_line = row.end_line;
        seen->start_offset = row.start_offset;
        seen->end_offset = row.end_offset;
        total++;
    }
    REQUIRE(rc == 0, "read error: %s", err);
    ac_csv_close(&reader);
    return total;
}

/* Line number of byte `at` of content: 1 + the line breaks (LF, CRLF,
 * bare CR) before it. */
static long line_at(const char *content, size_t len, size_t at)
{
    long line = 1;

    for (size_t i = 0; i < at && i < len; i++) {
        if (content[i] == '\n' || (content[i] == '\r' && (i + 1 >= len || content[i + 1] != '\n')))
            line++;
    }
    return line;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Write `content` as the test file and check the reader's two properties:
 * 1. resuming at every row's (end_offset, end_line + 1) gives exactly the
 *    rows the straight read gave after it (cells, errors, raw text,
 *    lines, offsets);
 * 2. the rows cover the file: in order, apart, only blanks (and a BOM at
 *    offset 0) between them and after the last; each raw text is the
 *    file's bytes at the row's start followed by nothing but one line
 *    break (or the end of the file); the lines are the file's.
 * `name` says which input failed. Returns the straight read's row count. */
static size_t check_properties(const char *content, size_t len, const char *name)
{
    seen_row *straight = calloc(MAX_ROWS, sizeof(*straight));
    seen_row *resumed = calloc(MAX_ROWS, sizeof(*resumed));
    size_t total, covered = 0;

    REQUIRE(straight && resumed, "out of memory");
    write_file(content, len);
    total = read_rows(0, 1, straight);
    for (size_t from = 0; from < total; from++) {
        size_t got = read_rows(straight[from].end_offset, straight[from].end_line + 1, resumed);
        for (size_t k = 0; k < got && from + 1 + k < total; k++)
            REQUIRE(strcmp(resumed[k].text, straight[from + 1 + k].text) == 0,
                    "%s: resume after row %zu: got %s, want %s", name, from, resumed[k].text,
                    straight[from + 1 + k].text);
        REQUIRE(got == total - from - 1, "%s: resume after row %zu gave %zu rows, a straight read %zu", name, from,
                got, total - from - 1);
    }
    if (len >= 3 && memcmp(content, "\xEF\xBB\xBF", 3) == 0)
        covered = 3;
    for (size_t i = 0; i < total; i++) {
        const seen_row *row = &straight[i];
        size_t start = (size_t)row->start_offset, end = (size_t)row->end_offset, tail;
        REQUIRE(start >= covered && end > start && end <= len, "%s: row %zu [%zu, %zu) after byte %zu", name, i,
                start, end, covered);
        for (size_t at = covered; at < start; at++)
            REQUIRE(is_blank(content[at]), "%s: byte %zu (0x%02x) is in no row", name, at,
                    (unsigned char)content[at]);
        REQUIRE(row->line == line_at(content, len, start), "%s: row %zu says line %ld, the file %ld", name, i,
                row->line, line_at(content, len, start));
        REQUIRE(!row->raw_truncated && row->raw_len < ROW_TEXT, "%s: row %zu raw text cut", name, i);
        REQUIRE(memcmp(row->raw, content + start, row->raw_len) == 0, "%s: row %zu raw text is not the file's", name,
                i);
        tail = end - start - row->raw_len;
        REQUIRE((tail == 0 && end == len) || (tail == 1 && (content[end - 1] == '\r' || content[end - 1] == '\n')) ||
                    (tail == 2 && content[end - 2] == '\r' && content[end - 1] == '\n'),
                "%s: row %zu: %zu bytes after its raw text are not its line break", name, i, tail);
        REQUIRE(row->end_line == line_at(content, len, start + row->raw_len),
                "%s: row %zu ends on line %ld, the file says %ld", name, i, row->end_line,
                line_at(content, len, start + row->raw_len));
        covered = end;
    }
    for (size_t at = covered; at < len; at++)
        REQUIRE(is_blank(content[at]), "%s: byte %zu (0x%02x) after the last row is in no row", name, at,
                (unsigned char)content[at]);
    free(straight);
    free(resumed);
    return total;
}

/* One input of the table below: its length from the literal (it may hold
 * NUL bytes), and the rows a straight read must give (0: not checked). */
#define INPUT(name, literal, rows) {name, literal, sizeof(literal) - 1, rows}

/* The properties from every row end of inputs built to break them. */
START_TEST(test_resume_equals_straight_read_nasty_inputs)
{
    static const struct {
        const char *name, *content;
        size_t len;
        size_t rows;
    } inputs[] = {
        INPUT("cr-only export",
              "Loyalty Id,First Name,Last Name,Email Address,Available Points\rD1,Cr,Only,d1@x.com,1\r"
              "D2,Cr,Only,d2@x.com,2\r",
              3),
        INPUT("bare cr in a crlf file", "Loyalty Id,First Name\r\nA1,x\rA2,\"y\r\nA3,z\r\n", 4),
        INPUT("a03", "Loyalty Id,First Name\r\nC1,\"never closed\r\nC2,b\r\nC3,c\r\n", 4),
        /* The libFuzzer input of the reliability review (section 6). */
        INPUT("fuzz", "L,c1@.x.c@xom,m\0\0\0\3ailA 1O\"\r\n.Cc,om,3\r1@.x.\0\0c@xom,m\0\0\0\3ailA 1,\"O\r\nC.com\n", 0),
        INPUT("bom, multi-line cells, blank lines",
              "\xEF\xBB\xBFid,v\r\n1,\"multi\r\nline\"\r\n\r\n2,\"q \"\"x\"\"\"\r\n"
              "3,\xC3\xA9t\xC3\xA9\r\n4,\"a\nb\nc\"\r\n5,end",
              6),
        INPUT("bad quoting over lines", "a,b\n1,\"x\ny\"junk\n2,\"never\n3,ok\n  \t \r\r\n4,\"a\rb\"\r5,\"tail", 0),
        INPUT("lone quotes", "\"\n\"\n\"\n\"\"\"\n,\n\"\r\r\n", 0),
        INPUT("nul and latin-1", "a,b\nE1,Jos\xe9\nN1,Nu\0ll\n \n\t\r", 3),
        INPUT("cr lf split and doubled", "a\r\r\nb\n\r\"c\r\n\"\r\n\r\r,\r", 0),
    };

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t rows = check_properties(inputs[i].content, inputs[i].len, inputs[i].name);
        if (inputs[i].rows)
            REQUIRE(rows == inputs[i].rows, "%s: %zu rows, want %zu", inputs[i].name, rows, inputs[i].rows);
    }
}
END_TEST

/* The properties from every row end of pseudo-random short inputs over
 * the bytes that matter to CSV (fixed seed: a failure names its input). */
START_TEST(test_resume_equals_straight_read_random_inputs)
{
    static const char alphabet[] = "ab,,\"\"\"\r\r\n\n \t\0\xe9";
    uint32_t state = 20261213;
    char content[RANDOM_INPUT_MAX], name[RANDOM_INPUT_MAX * 4 + 64];

    for (int input = 0; input < 2000; input++) {
        size_t len, used = 0;
        state = state * 1103515245u + 12345u;
        len = (state >> 16) % sizeof(content);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            content[i] = alphabet[(state >> 16) % (sizeof(alphabet) - 1)];
        }
        used = (size_t)snprintf(name, sizeof(name), "random input %d <", input);
        append_escaped(name, sizeof(name) - 2, &used, content, len);
        snprintf(name + used, sizeof(name) - used, ">");
        check_properties(content, len, name);
    }
}
END_TEST

START_TEST(test_missing_file_names_it)
{
    char err[256] = "";
    char missing[160];
    ac_csv_reader *reader;

    snprintf(missing, sizeof(missing), "%s/nope.csv", temp_dir);
    reader = ac_csv_open(missing, 0, 1, err, sizeof(err));
    ck_assert_ptr_null(reader);
    ck_assert_ptr_nonnull(strstr(err, "nope.csv"));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_csv");
    TCase *tc = tcase_create("csv");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    /* The property checks open a reader per row end of 2,000 inputs: about
     * a second of CPU, more under the sanitizers on a busy machine. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_quotes_and_doubled_quotes);
    tcase_add_test(tc, test_embedded_newlines_and_crlf);
    tcase_add_test(tc, test_utf8_and_bom);
    tcase_add_test(tc, test_last_line_without_newline);
    tcase_add_test(tc, test_unterminated_quote_is_an_error);
    tcase_add_test(tc, test_malformed_row_then_good_rows);
    tcase_add_test(tc, test_cr_only_export);
    tcase_add_test(tc, test_bare_cr_in_crlf_file_and_lost_quote);
    tcase_add_test(tc, test_unterminated_quote_mid_file);
    tcase_add_test(tc, test_lost_quotes_do_not_pair_up);
    tcase_add_test(tc, test_bare_cr_inside_quotes_is_data);
    tcase_add_test(tc, test_cells_keep_nul_and_latin1_bytes);
    tcase_add_test(tc, test_overlong_rows);
    tcase_add_test(tc, test_resume_equals_straight_read_nasty_inputs);
    tcase_add_test(tc, test_resume_equals_straight_read_random_inputs);
    tcase_add_test(tc, test_missing_file_names_it);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
