/* fuzz_csv_tiny.c: fuzz_csv.c again, on a CSV reader built here with a
 * 5-byte read buffer and rows of at most 64 bytes (as
 * tests/unit/test_annexcloud_csv_tiny.c builds it). The reader must take
 * every decision at points the file's bytes define, never where a read
 * buffer ends, and a few-hundred-byte input reaches its "row too long"
 * path. Linked without the plugin's library (its ac_csv.c is included
 * here). */
#define AC_CSV_READ_CHUNK 5
#define AC_CSV_MAX_ROW 64L
#define FUZZ_CSV_NAME "fuzz_csv_tiny"

#include "../../plugins/annexcloud-source/ac_csv.c"

#include "fuzz_csv.c"
