/* include_path.c: the include search path of pipeline files. A client's
 * pipeline in /etc/sluice/pipelines.d can `@include "mappings/ometria.cfg"`
 * and get the shared mapping installed in $(pkgdatadir), while a pipeline
 * next to its own fragments keeps getting those. libconfig 1.5 has a
 * single include directory and no include hook, so the directory is
 * chosen here, before libconfig reads the file: the first of the search
 * path that holds every file the pipeline includes. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "include_path.h"

/* libconfig refuses deeper nesting itself ("include file nesting too deep"). */
#define INCLUDE_DEPTH_MAX 10

/* If `line` is an include directive (blanks, `@include`, blanks, then a
 * double-quoted name), copy the name into name (len bytes) and return 1;
 * else 0. libconfig wants each @include on a line of its own, and one
 * inside a comment does not start its line with @include. */
static int include_name_of(const char *line, char *name, size_t len)
{
    static const char directive[] = "@include";
    const char *start;
    const char *end;

    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, directive, sizeof(directive) - 1) != 0)
        return 0;
    line += sizeof(directive) - 1;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line != '"')
        return 0;
    start = line + 1;
    end = strchr(start, '"');
    if (!end || end == start || (size_t)(end - start) >= len)
        return 0;
    memcpy(name, start, (size_t)(end - start));
    name[end - start] = '\0';
    return 1;
}

/* 1 if dir/name is a regular file (the target is what matters, so a
 * symlink to a file counts), with the joined path in path; else 0. */
static int found_in(const char *dir, const char *name, char *path, size_t len)
{
    struct stat st;
    int written = snprintf(path, len, "%s/%s", dir, name);

    return written > 0 && (size_t)written < len && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* 1 if every @include of `file`, and of the files they include (down to
 * INCLUDE_DEPTH_MAX), names a file under `dir`, as libconfig 1.5 resolves
 * them all there; else 0. A file that is not a regular file is not read
 * (a FIFO would block): libconfig and the caller report it. */
static int all_found(const char *dir, const char *file, int depth)
{
    int result = 1;
    FILE *in;
    char *text = NULL;
    size_t size = 0;
    char name[PATH_MAX];
    char target[PATH_MAX];
    struct stat st;

    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return 1;
    in = fopen(file, "r");
    if (!in)
        return 1;
    while (result && getline(&text, &size, in) != -1) {
        if (!include_name_of(text, name, sizeof(name)))
            continue;
        if (!found_in(dir, name, target, sizeof(target)))
            result = 0;
        else if (depth < INCLUDE_DEPTH_MAX)
            result = all_found(dir, target, depth + 1);
    }
    free(text);
    fclose(in);
    return result;
}

int sluice_include_dir(const char *path, const char *base_dir, char *dir, size_t dir_len)
{
    int result = -1;
    const char *chosen = base_dir;
    const char *env = getenv("SLUICE_INCLUDE_PATH");
    char *env_copy = env ? strdup(env) : NULL;
    char *entry = env_copy;

    if (env && !env_copy)
        goto out;
    if (!all_found(base_dir, path, 1)) {
        while (entry) {
            char *next = strchr(entry, ':');
            if (next)
                *next++ = '\0';
            if (*entry && all_found(entry, path, 1)) {
                chosen = entry;
                break;
            }
            entry = next;
        }
#ifdef SLUICE_PKGDATADIR
        if (!entry && all_found(SLUICE_PKGDATADIR, path, 1))
            chosen = SLUICE_PKGDATADIR;
#endif
    }
    if ((size_t)snprintf(dir, dir_len, "%s", chosen) >= dir_len) {
        errno = ENAMETOOLONG;
        goto out;
    }
    result = 0;
out:
    free(env_copy);
    return result;
}
