/* test_annexcloud_csv_tiny.c: test_annexcloud_csv.c again, on a CSV
 * reader built here with a 5-byte read buffer and rows of at most 64
 * bytes. The reader must take every decision (row end, bad quoting, lost
 * quote, line too long) at points the file's bytes define, never where a
 * read buffer ends; with a real 64 KiB buffer the short test inputs never
 * cross one, with 5 bytes they cross one everywhere, and a read resumed at
 * a row end meets them at other places than the straight read. Linked
 * without the plugin's library (its ac_csv.c is included here). */
#define AC_CSV_READ_CHUNK 5
#define AC_CSV_MAX_ROW 64L
#define RANDOM_INPUT_MAX 100

#include "../../plugins/annexcloud-source/ac_csv.c"

#include "test_annexcloud_csv.c"
