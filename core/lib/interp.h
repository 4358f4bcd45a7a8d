/* interp.h: interpolation of configuration strings: ${VAR}, ${VAR:-default},
 * $$ for a literal $, and a whole value @file:PATH read from a file. */
#ifndef SLUICE_INTERP_H
#define SLUICE_INTERP_H

#include <stddef.h>

/* Expand `raw`. A value starting with "@file:" is replaced by the content
 * of the file (its path expanded first; relative to `base_dir`), with one
 * trailing newline removed; *from_file is then set to 1, else 0.
 * Returns a new string (caller frees) or NULL with a short reason in
 * errbuf (e.g. "environment variable 'X' is not set"). */
char *sluice_interpolate(const char *raw, const char *base_dir, int *from_file,
                         char *errbuf, size_t errlen);
#endif
