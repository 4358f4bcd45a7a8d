/* interp.c: ${VAR} / ${VAR:-default} / $$ expansion and @file: values for
 * configuration strings (see docs/configuration.md, "Interpolation"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp.h"
#include "util/dynbuf.h"

#define FILE_PREFIX "@file:"
#define MAX_FILE_VALUE (1024 * 1024)

/* 1 if name[0..len) is a valid environment variable name. */
static int var_name_valid(const char *name, size_t len)
{
    if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Expand ${...} and $$ in `raw`. New string or NULL with errbuf set. */
static char *expand_vars(const char *raw, char *errbuf, size_t errlen)
{
    dynbuf buf;
    const char *p = raw;

    dynbuf_init(&buf, 0);
    if (dynbuf_append(&buf, "", 0) != 0)
        goto oom;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (dynbuf_append(&buf, p, strlen(p)) != 0)
                goto oom;
            break;
        }
        if (dynbuf_append(&buf, p, (size_t)(dollar - p)) != 0)
            goto oom;
        if (dollar[1] == '$') {
            if (dynbuf_append(&buf, "$", 1) != 0)
                goto oom;
            p = dollar + 2;
        } else if (dollar[1] == '{') {
            const char *start = dollar + 2;
            const char *close = strchr(start, '}');
            const char *fallback = NULL;
            size_t name_len;
            char name[256];
            const char *value;

            /* The errors below name the place, never the value: it may be
             * a secret written inline (api_key = "live-KEY...${X"), and
             * it is not registered with the log masks when it fails. */
            if (!close) {
                snprintf(errbuf, errlen, "unterminated '${' at byte %zu of the value (value "
                         "not shown; write $$ for a literal $)", (size_t)(dollar - raw) + 1);
                goto fail;
            }
            name_len = (size_t)(close - start);
            for (const char *q = start; q + 1 < close; q++) {
                if (q[0] == ':' && q[1] == '-') {
                    fallback = q + 2;
                    name_len = (size_t)(q - start);
                    break;
                }
            }
            if (!var_name_valid(start, name_len) || name_len >= sizeof(name)) {
                snprintf(errbuf, errlen, "invalid variable name in the '${...}' at byte %zu of "
                         "the value (value not shown; names are [A-Za-z_][A-Za-z0-9_]*, "
                         "write $$ for a literal $)", (size_t)(dollar - raw) + 1);
                goto fail;
            }
            memcpy(name, start, name_len);
            name[name_len] = '\0';
            value = getenv(name);
            if (fallback) {
                /* ${VAR:-default}: as in sh, unset or empty takes the default. */
                if (!value || !*value) {
                    if (dynbuf_append(&buf, fallback, (size_t)(close - fallback)) != 0)
                        goto oom;
                    value = NULL;
                }
            } else if (!value) {
                snprintf(errbuf, errlen, "environment variable '%s' is not set", name);
                goto fail;
            }
            if (value && dynbuf_append(&buf, value, strlen(value)) != 0)
                goto oom;
            p = close + 1;
        } else {
            /* A lone '$' is literal. */
            if (dynbuf_append(&buf, "$", 1) != 0)
                goto oom;
            p = dollar + 1;
        }
    }
    return dynbuf_steal(&buf);
oom:
    snprintf(errbuf, errlen, "out of memory");
fail:
    dynbuf_free(&buf);
    return NULL;
}

/* Open `path` for reading if it is a regular file. Opened without
 * blocking, so a FIFO (which would wait for a writer forever) or a device
 * is refused, not read. Returns the stream or NULL with errbuf set. */
static FILE *open_regular(const char *path, char *errbuf, size_t errlen)
{
    struct stat st;
    FILE *file = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errbuf, errlen, "cannot read @file:%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "cannot read @file:%s: %s, not a file", path,
                 S_ISDIR(st.st_mode) ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a FIFO"
                 : S_ISSOCK(st.st_mode) ? "is a socket" : "is a device");
        goto out;
    }
    file = fdopen(fd, "rb");
    if (!file)
        snprintf(errbuf, errlen, "cannot read @file:%s: %s", path, strerror(errno));
    else
        fd = -1; /* the stream owns it */
out:
    if (fd >= 0)
        close(fd);
    return file;
}

/* Read the whole regular file at `path` minus one trailing newline. New
 * string or NULL with errbuf set. */
static char *read_value_file(const char *path, char *errbuf, size_t errlen)
{
    dynbuf buf;
    FILE *file = open_regular(path, errbuf, errlen);
    char chunk[4096];
    size_t got;
    char *result = NULL;

    dynbuf_init(&buf, MAX_FILE_VALUE);
    if (!file)
        goto out;
    if (dynbuf_append(&buf, "", 0) != 0)
        goto oom;
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        if (dynbuf_append(&buf, chunk, got) != 0) {
            if (!buf.overflow)
                goto oom;
            snprintf(errbuf, errlen, "@file:%s is larger than %d bytes", path, MAX_FILE_VALUE);
            goto out;
        }
    }
    if (ferror(file)) {
        snprintf(errbuf, errlen, "cannot read @file:%s: %s", path, strerror(errno));
        goto out;
    }
    if (strlen(buf.data) != buf.len) {
        snprintf(errbuf, errlen, "@file:%s contains a NUL byte", path);
        goto out;
    }
    if (buf.len > 0 && buf.data[buf.len - 1] == '\n') {
        buf.data[--buf.len] = '\0';
        if (buf.len > 0 && buf.data[buf.len - 1] == '\r')
            buf.data[--buf.len] = '\0';
    }
    result = dynbuf_steal(&buf);
    goto out;
oom:
    snprintf(errbuf, errlen, "out of memory");
out:
    if (file)
        fclose(file);
    dynbuf_free(&buf);
    return result;
}

char *sluice_interpolate(const char *raw, const char *base_dir, int *from_file,
                         char *errbuf, size_t errlen)
{
    char *expanded = NULL;
    char *result = NULL;
    char path[4096];

    *from_file = 0;
    if (strncmp(raw, FILE_PREFIX, strlen(FILE_PREFIX)) != 0)
        return expand_vars(raw, errbuf, errlen);
    expanded = expand_vars(raw + strlen(FILE_PREFIX), errbuf, errlen);
    if (!expanded)
        goto out;
    if (!*expanded) {
        snprintf(errbuf, errlen, "@file: needs a path");
        goto out;
    }
    if (expanded[0] == '/' || !base_dir) {
        if ((size_t)snprintf(path, sizeof(path), "%s", expanded) >= sizeof(path))
            goto too_long;
    } else if ((size_t)snprintf(path, sizeof(path), "%s/%s", base_dir, expanded) >=
               sizeof(path)) {
        goto too_long;
    }
    result = read_value_file(path, errbuf, errlen);
    if (result)
        *from_file = 1;
    goto out;
too_long:
    snprintf(errbuf, errlen, "@file: path too long");
out:
    free(expanded);
    return result;
}
