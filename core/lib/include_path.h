/* include_path.h: the include search path of pipeline files: where the
 * names of `@include "NAME"` are looked up (docs/configuration.md,
 * "Includes"). Implemented in include_path.c. */
#ifndef SLUICE_INCLUDE_PATH_H
#define SLUICE_INCLUDE_PATH_H

#include <stddef.h>

/* Choose the directory libconfig resolves the @include names of pipeline
 * file `path` against. The search path is, in order: `base_dir` (the
 * pipeline file's directory), each directory of $SLUICE_INCLUDE_PATH
 * (colon-separated), then the installed shared fragments and mappings,
 * $(pkgdatadir). libconfig 1.5 (Debian 12's) resolves every @include of a
 * pipeline, nested ones too, against one directory, so the first
 * directory of the search path that holds every file the pipeline
 * includes is chosen; when none does (or the file has no includes),
 * base_dir, and libconfig names the include it cannot open as before.
 * Writes the directory into dir (dir_len bytes) and returns 0; -1 with
 * errno set when it does not fit (ENAMETOOLONG) or on allocation failure
 * (ENOMEM). Only reads files, never a FIFO or a directory. */
int sluice_include_dir(const char *path, const char *base_dir, char *dir, size_t dir_len);
#endif
