/* test_annexcloud_csv.c: Check tests of the annexcloud-source CSV row
 * reader (ac_csv.c): RFC 4180 quoting, embedded newlines, CRLF, UTF-8 and
 * BOM, a last line without newline, malformed rows, line numbers, and
 * resuming exactly from any row's end offset. Real files in a temp dir. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "../../plugins/annexcloud-source/ac_csv.h"

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
    ck_assert_int_eq(row.line, 3);
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

/* Field values and line of a row, as one comparable string. */
static void describe_row(const ac_csv_row *row, char *buf, size_t buflen)
{
    size_t used = 0;
    int n = snprintf(buf, buflen, "L%ld-%ld%s:", row->line, row->end_line, row->error ? "!" : "");

    used = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < row->count && used < buflen; i++) {
        n = snprintf(buf + used, buflen - used, "[%s]", row->fields[i]);
        if (n > 0)
            used += (size_t)n;
    }
}

/* From every row's end_offset/end_line, a fresh reader gives exactly the
 * rows that followed it in one continuous read. */
START_TEST(test_end_offsets_resume_exactly)
{
    static const char content[] = "\xEF\xBB\xBFid,v\r\n"
                                  "1,\"multi\r\nline\"\r\n"
                                  "\r\n"
                                  "2,\"q \"\"x\"\"\"\r\n"
                                  "3,\xC3\xA9t\xC3\xA9\r\n"
                                  "4,\"a\nb\nc\"\r\n"
                                  "5,end";
    enum { MAX_ROWS = 16 };
    char expected[MAX_ROWS][256];
    long offsets[MAX_ROWS], lines[MAX_ROWS];
    size_t total = 0;
    ac_csv_reader *reader;
    ac_csv_row row;
    char err[256];

    write_file(content, sizeof(content) - 1);
    reader = open_at(0, 1);
    while (ac_csv_next(reader, &row, err, sizeof(err)) == 1) {
        ck_assert_uint_lt(total, MAX_ROWS);
        describe_row(&row, expected[total], sizeof(expected[total]));
        offsets[total] = row.end_offset;
        lines[total] = row.end_line + 1;
        total++;
    }
    ac_csv_close(&reader);
    ck_assert_uint_eq(total, 6);
    ck_assert_int_eq(offsets[total - 1], (long)sizeof(content) - 1);
    for (size_t from = 0; from < total; from++) {
        size_t seen = from + 1;
        reader = open_at(offsets[from], lines[from]);
        while (ac_csv_next(reader, &row, err, sizeof(err)) == 1) {
            char got[256];
            ck_assert_uint_lt(seen, total);
            describe_row(&row, got, sizeof(got));
            ck_assert_msg(strcmp(got, expected[seen]) == 0, "resume after row %zu: got %s, want %s",
                          from, got, expected[seen]);
            ck_assert_int_eq(row.end_offset, offsets[seen]);
            seen++;
        }
        ck_assert_uint_eq(seen, total);
        ac_csv_close(&reader);
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
    tcase_add_test(tc, test_quotes_and_doubled_quotes);
    tcase_add_test(tc, test_embedded_newlines_and_crlf);
    tcase_add_test(tc, test_utf8_and_bom);
    tcase_add_test(tc, test_last_line_without_newline);
    tcase_add_test(tc, test_unterminated_quote_is_an_error);
    tcase_add_test(tc, test_malformed_row_then_good_rows);
    tcase_add_test(tc, test_end_offsets_resume_exactly);
    tcase_add_test(tc, test_missing_file_names_it);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
