/* dynbuf.c: the growable byte buffer (util/dynbuf.h). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dynbuf.h"

/* Smallest allocation: a first append of a few bytes should not lead to a
 * string of reallocs. */
#define DYNBUF_MIN_CAP 64

void dynbuf_init(dynbuf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit ? limit : SIZE_MAX / 2;
}

int dynbuf_reserve(dynbuf *b, size_t more)
{
    size_t need, cap;
    char *data;

    if (b->limit == 0)
        b->limit = SIZE_MAX / 2; /* a zeroed buffer that skipped init */
    if (more > b->limit || b->len > b->limit - more) {
        b->overflow = 1;
        return -1;
    }
    need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    /* the first reservation is taken as asked (it is often the whole
     * size); growing doubles */
    cap = b->cap ? b->cap * 2 : need;
    if (cap < DYNBUF_MIN_CAP)
        cap = DYNBUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > b->limit + 1)
        cap = b->limit + 1;
    data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int dynbuf_append(dynbuf *b, const void *bytes, size_t len)
{
    if (dynbuf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int dynbuf_append_json(dynbuf *b, const json_t *json, size_t flags)
{
    size_t room, need;

    if (dynbuf_reserve(b, 0) != 0)
        return -1;
    room = b->cap - b->len - 1; /* keep the NUL's byte */
    need = json_dumpb(json, b->data + b->len, room, flags);
    if (need == 0)
        return -1;
    if (need > room) {
        /* what json_dumpb wrote is cut short: grow to fit, encode again */
        if (dynbuf_reserve(b, need) != 0)
            return -1;
        need = json_dumpb(json, b->data + b->len, need, flags);
        if (need == 0)
            return -1;
    }
    b->len += need;
    b->data[b->len] = '\0';
    return 0;
}

int dynbuf_append_str(dynbuf *b, const char *text)
{
    return dynbuf_append(b, text, strlen(text));
}

int dynbuf_printf(dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || dynbuf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void dynbuf_reset(dynbuf *b)
{
    b->len = 0;
    b->overflow = 0;
    if (b->data)
        b->data[0] = '\0';
}

void dynbuf_truncate(dynbuf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

char *dynbuf_steal(dynbuf *b)
{
    char *data = b->data ? b->data : strdup("");
    size_t limit = b->limit;

    dynbuf_init(b, limit);
    return data;
}

void dynbuf_free(dynbuf *b)
{
    size_t limit = b->limit;

    free(b->data);
    dynbuf_init(b, limit);
}
