/* ac_csv.h: a row reader over libcsv that knows where each row ends (byte
 * offset and line), so the feed mode can checkpoint between rows and
 * resume mid-file, and report bad rows as FILE:LINE. */
#ifndef AC_CSV_H
#define AC_CSV_H

#include <stddef.h>

typedef struct ac_csv_reader ac_csv_reader;

typedef struct ac_csv_row {
    char **fields;        /* owned by the reader, valid until the next call */
    size_t count;
    long line;            /* physical line the row starts on (1-based) */
    long end_offset;      /* byte offset just after the row */
    long end_line;        /* physical line the row ends on */
    const char *error;    /* non-NULL: the row is malformed (why) */
} ac_csv_row;

/* Open `path` and position at byte `offset`, which starts physical line
 * `line` (pass 0, 1 for the start). A UTF-8 BOM at offset 0 is skipped.
 * Returns the reader (caller owns; ac_csv_close) or NULL with errbuf. */
ac_csv_reader *ac_csv_open(const char *path, long offset, long line, char *errbuf, size_t errlen);

/* Next row into *row: 1 = a row (maybe malformed, see row->error),
 * 0 = end of file, -1 = I/O error (errbuf). Empty lines are skipped. */
int ac_csv_next(ac_csv_reader *reader, ac_csv_row *row, char *errbuf, size_t errlen);

/* Close and NULL the caller's pointer. */
void ac_csv_close(ac_csv_reader **reader_p);
#endif
