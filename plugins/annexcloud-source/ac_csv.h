/* ac_csv.h: a row reader over libcsv that knows where each row starts and
 * ends (byte offset and line), so the feed mode can checkpoint between
 * rows, resume mid-file, and park a bad row with its text and FILE:LINE.
 *
 * Rules (docs/annexcloud-source.md, "Reading the CSV"):
 * - A line break is LF, CRLF or a bare CR; lines are numbered from 1 by
 *   those breaks, inside quoted fields too.
 * - A row ends at a line break outside quotes, as libcsv ends it (a bare
 *   CR included); inside a quoted field a line break is data.
 * - Lines that are empty or only spaces and tabs carry no row.
 * - A malformed row is returned with `error` set, no fields, and its text
 *   in `raw`; reading goes on after it:
 *   - bad quoting (a quote inside an unquoted field, text after a closing
 *     quote) on the row's first line: the row runs to the end of that
 *     line; the next row starts on the line after it;
 *   - a row whose quoted text runs on over a line break and then does not
 *     end well (the file ends inside the quote, the quoting breaks on a
 *     later line, or the row grows past AC_CSV_MAX_ROW bytes) is taken as
 *     a quote never closed: only its first line is the malformed row and
 *     reading starts again on the line after it (a lost quote costs its
 *     line, not the rest of the file, nor the rows up to another quote);
 *   - a line longer than AC_CSV_MAX_ROW bytes is one malformed row (its
 *     raw text cut at AC_CSV_MAX_ROW bytes).
 * - Resuming: ac_csv_open at a row's (end_offset, end_line + 1) gives
 *   exactly the rows a straight read gives after that row. The reader
 *   keeps no other state between rows.
 * - Every byte of the file is in some row's [start_offset, end_offset),
 *   except empty and blank lines and a UTF-8 BOM at offset 0.
 * - Cells are bytes as in the file: not checked for UTF-8, and a NUL byte
 *   is kept (see `lengths`). Decoding them is the caller's business. */
#ifndef AC_CSV_H
#define AC_CSV_H

#include <stddef.h>

/* Most bytes a row may span (1 MiB): past it a row is malformed. (A test
 * build of the reader sets it smaller; nothing else may.) */
#ifndef AC_CSV_MAX_ROW
#define AC_CSV_MAX_ROW (1024L * 1024L)
#endif

typedef struct ac_csv_reader ac_csv_reader;

/* One row. Every pointer is owned by the reader and valid until the next
 * ac_csv_next or ac_csv_close. */
typedef struct ac_csv_row {
    char **fields;        /* cells, each NUL-terminated (but see lengths) */
    const size_t *lengths; /* byte length of each cell (a cell may hold NUL) */
    size_t count;         /* number of cells; 0 for a malformed row */
    const char *raw;      /* the row's text as in the file, without the line
                           * break that ends it; NUL-terminated, may hold NUL */
    size_t raw_len;
    int raw_truncated;    /* raw is only the first AC_CSV_MAX_ROW bytes */
    long line;            /* line the row starts on (1-based) */
    long end_line;        /* line the row ends on */
    long start_offset;    /* byte offset of the row's first byte */
    long end_offset;      /* byte offset just after the row (and its line break) */
    const char *error;    /* non-NULL: the row is malformed (why) */
} ac_csv_row;

/* Open `path` and position at byte `offset`, which starts line `line`
 * (pass 0, 1 for the start; a row's end_offset, end_line + 1 to resume
 * after it). A UTF-8 BOM at offset 0 is skipped. Returns the reader
 * (caller owns; ac_csv_close) or NULL with the reason in errbuf. */
ac_csv_reader *ac_csv_open(const char *path, long offset, long line, char *errbuf, size_t errlen);

/* Next row into *row: 1 = a row (maybe malformed, see row->error),
 * 0 = end of file, -1 = I/O error or out of memory (errbuf; the reader is
 * then unusable: close it and open again at the last row's end). */
int ac_csv_next(ac_csv_reader *reader, ac_csv_row *row, char *errbuf, size_t errlen);

/* Close and NULL the caller's pointer. NULL is allowed. */
void ac_csv_close(ac_csv_reader **reader_p);
#endif
