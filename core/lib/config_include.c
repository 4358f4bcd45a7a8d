/* config_include.c: the files a pipeline reads through libconfig (the file
 * itself and every @include, nested) are checked before libconfig opens
 * them. libconfig 1.5 (Debian 12) has no include hook: it fopen()s a FIFO
 * and blocks forever, and on a directory its flex scanner calls exit(2),
 * ending `sluice check` with no FILE:LINE and the status that means
 * "records were parked". Here each target must be a readable regular file,
 * else a FILE:LINE error (docs/configuration.md, "Includes"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libconfig.h>

#include "config_check.h"

/* libconfig stops at this nesting depth ("include file nesting too
 * deep"); deeper files are left for it to refuse. */
#define INCLUDE_DEPTH_MAX 10
/* Distinct files checked at most (each is scanned once). */
#define INCLUDE_FILES_MAX 4096

#if LIBCONFIG_VER_MAJOR > 1 || (LIBCONFIG_VER_MAJOR == 1 && LIBCONFIG_VER_MINOR >= 7)
#define INCLUDE_ABSOLUTE_KEPT 1
#else
#define INCLUDE_ABSOLUTE_KEPT 0 /* 1.5 puts the include directory before every name */
#endif

/* The files already scanned (their paths as opened). */
typedef struct seen_files {
    char **paths;
    size_t count;
} seen_files;

/* A growing string (the name inside an @include "..."). */
typedef struct name_buf {
    char text[PATH_MAX];
    size_t len;
    int too_long;
} name_buf;

static int check_file(const char *path, const char *include_dir, int depth, seen_files *seen,
                      sluice_error *err);

/* Add a message to err (cut to fit). */
static void set_error(sluice_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(sluice_error *err, const char *fmt, ...)
{
    char text[sizeof(err->text)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sluice_error_add(err, "%s", text);
}

/* What `st` is, for a message: "a directory", "a FIFO", ... */
static const char *kind_of(const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return "a directory";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    if (S_ISCHR(st->st_mode))
        return "a character device";
    if (S_ISBLK(st->st_mode))
        return "a block device";
    return "not a regular file";
}

/* 0 if `path` is a regular file we can read; else -1 with a short reason
 * in `why` ("is a directory", "No such file or directory"). Never blocks:
 * a FIFO is recognised by stat() without being opened. */
static int readable_regular_file(const char *path, char *why, size_t len)
{
    struct stat st;
    int fd;

    if (stat(path, &st) != 0) {
        snprintf(why, len, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, len, "is %s, not a file", kind_of(&st));
        return -1;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "%s", strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* The path libconfig opens for `@include "name"`. Returns 0 or -1 (too
 * long). */
static int include_target(const char *name, const char *include_dir, char *buf, size_t len)
{
    int n;

    if (!include_dir || (INCLUDE_ABSOLUTE_KEPT && name[0] == '/'))
        n = snprintf(buf, len, "%s", name);
    else
        n = snprintf(buf, len, "%s/%s", include_dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Check the target of `@include "name"` found at `file`:`line`, then the
 * files it includes. Returns 0 or -1 (err set). */
static int check_include(const char *file, int line, const char *name, const char *include_dir,
                         int depth, seen_files *seen, sluice_error *err)
{
    char target[PATH_MAX];
    char why[256];

    if (include_target(name, include_dir, target, sizeof(target)) != 0) {
        set_error(err, "%s:%d: @include path too long", file, line);
        return -1;
    }
    if (readable_regular_file(target, why, sizeof(why)) != 0) {
        if (!INCLUDE_ABSOLUTE_KEPT && name[0] == '/')
            set_error(err, "%s:%d: cannot open include file %s: %s (libconfig %d.%d reads "
                      "every @include relative to the pipeline file's directory %s; absolute "
                      "paths need libconfig 1.7)", file, line, target, why,
                      LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, include_dir);
        else
            set_error(err, "%s:%d: cannot open include file %s: %s", file, line, target, why);
        return -1;
    }
    if (depth + 1 >= INCLUDE_DEPTH_MAX)
        return 0;
    return check_file(target, include_dir, depth + 1, seen, err);
}

/* Read the rest of an @include "..." name from `in` (the opening quote
 * was read) the way libconfig's scanner does: \\ and \" are escapes.
 * Returns 0, or -1 at end of file. */
static int read_include_name(FILE *in, name_buf *name, int *line)
{
    int c;

    name->len = 0;
    name->too_long = 0;
    while ((c = getc(in)) != EOF) {
        if (c == '"')
            break;
        if (c == '\n')
            (*line)++;
        if (c == '\\') {
            int next = getc(in);
            if (next == '\\' || next == '"')
                c = next;
            else if (next != EOF)
                ungetc(next, in);
        }
        if (name->len + 1 < sizeof(name->text))
            name->text[name->len++] = (char)c;
        else
            name->too_long = 1;
    }
    name->text[name->len] = '\0';
    return c == EOF ? -1 : 0;
}

/* At the start of a line: if it is `@include "` (after optional blanks),
 * consume that and return 1. Else return 0 with *c_out set to the first
 * character after the blanks that is not part of an "@include" prefix;
 * the prefix skipped holds no quote, comment or newline, so the scanner
 * loses nothing it tracks. */
static int at_include(FILE *in, int *c_out)
{
    static const char keyword[] = "@include";
    size_t got = 0;
    int c = getc(in);

    while (c == ' ' || c == '\t')
        c = getc(in);
    while (got < sizeof(keyword) - 1 && c == keyword[got]) {
        got++;
        c = getc(in);
    }
    if (got == sizeof(keyword) - 1 && (c == ' ' || c == '\t')) {
        while (c == ' ' || c == '\t')
            c = getc(in);
        if (c == '"')
            return 1;
    }
    *c_out = c;
    return 0;
}

/* Scan `in` (the file `path`) like libconfig's lexer, enough to find
 * every @include outside comments and strings, and check each target.
 * Returns 0 or -1 (err set). */
static int scan_includes(FILE *in, const char *path, const char *include_dir, int depth,
                         seen_files *seen, sluice_error *err)
{
    enum { CODE, STRING, BLOCK_COMMENT, LINE_COMMENT } state = CODE;
    int line = 1;
    int line_start = 1;
    int c;
    name_buf name;

    for (;;) {
        /* libconfig's include rule is anchored at a line start in code */
        int maybe_include = line_start && state == CODE;

        line_start = 0;
        if (maybe_include) {
            int include_line = line;
            if (at_include(in, &c)) {
                if (read_include_name(in, &name, &line) != 0)
                    return 0; /* unterminated: libconfig reports it */
                if (name.too_long) {
                    set_error(err, "%s:%d: @include path too long", path, include_line);
                    return -1;
                }
                if (check_include(path, include_line, name.text, include_dir, depth, seen,
                                  err) != 0)
                    return -1;
                continue;
            }
        } else {
            c = getc(in);
        }
        if (c == EOF)
            return 0;
        if (c == '\n') {
            line++;
            line_start = 1;
            if (state == LINE_COMMENT)
                state = CODE;
            continue;
        }
        switch (state) {
        case CODE:
            if (c == '"') {
                state = STRING;
            } else if (c == '#') {
                state = LINE_COMMENT;
            } else if (c == '/') {
                int next = getc(in);
                if (next == '/')
                    state = LINE_COMMENT;
                else if (next == '*')
                    state = BLOCK_COMMENT;
                else if (next != EOF)
                    ungetc(next, in);
            }
            break;
        case STRING:
            if (c == '\\') {
                int next = getc(in);
                if (next == '\n')
                    line++;
                else if (next == EOF)
                    return 0;
            } else if (c == '"') {
                state = CODE;
            }
            break;
        case BLOCK_COMMENT:
            if (c == '*') {
                int next = getc(in);
                if (next == '/')
                    state = CODE;
                else if (next != EOF)
                    ungetc(next, in);
            }
            break;
        case LINE_COMMENT:
            break;
        }
    }
}

/* Remember `path` as scanned. Returns 1 if it was already, 0 if added,
 * -1 when out of memory or past INCLUDE_FILES_MAX. */
static int seen_before(seen_files *seen, const char *path)
{
    char **grown;
    char *copy;

    for (size_t i = 0; i < seen->count; i++) {
        if (strcmp(seen->paths[i], path) == 0)
            return 1;
    }
    if (seen->count >= INCLUDE_FILES_MAX)
        return -1;
    grown = realloc(seen->paths, (seen->count + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    seen->paths = grown;
    copy = strdup(path);
    if (!copy)
        return -1;
    seen->paths[seen->count++] = copy;
    return 0;
}

/* Scan the regular file `path` for its @includes, once per path. Returns
 * 0 or -1 (err set). */
static int check_file(const char *path, const char *include_dir, int depth, seen_files *seen,
                      sluice_error *err)
{
    int result = -1;
    int known = seen_before(seen, path);
    FILE *in = NULL;

    if (known == 1)
        return 0;
    if (known < 0) {
        set_error(err, "%s: too many @include files (more than %d)", path, INCLUDE_FILES_MAX);
        goto out;
    }
    in = fopen(path, "r");
    if (!in) {
        set_error(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    result = scan_includes(in, path, include_dir, depth, seen, err);
out:
    if (in)
        fclose(in);
    return result;
}

int sluice_config_check_files(const char *path, const char *include_dir, sluice_error *err)
{
    seen_files seen = {NULL, 0};
    char why[256];
    int result = -1;

    if (readable_regular_file(path, why, sizeof(why)) != 0) {
        set_error(err, "%s: cannot read: %s", path, why);
        goto out;
    }
    result = check_file(path, include_dir, 0, &seen, err);
out:
    for (size_t i = 0; i < seen.count; i++)
        free(seen.paths[i]);
    free(seen.paths);
    return result;
}
