/* dynbuf.h: the growable byte buffer, the one every part of sluice that
 * appends bytes uses (the core in core/lib/util/dynbuf.c, the plugins
 * through libplugin-common.la, built from the same file). Like curl's
 * dynbuf, a buffer has a limit it never grows past, so a peer cannot make
 * it take all memory; the data is always NUL-terminated after an append,
 * so text can be read as a C string. */
#ifndef SLUICE_UTIL_DYNBUF_H
#define SLUICE_UTIL_DYNBUF_H

#include <stddef.h>
#include <jansson.h>

typedef struct dynbuf {
    char *data;     /* owned; NULL until the first append or reserve */
    size_t len;     /* bytes held, not counting the NUL after them */
    size_t cap;     /* bytes allocated */
    size_t limit;   /* most bytes it may hold (set by dynbuf_init) */
    int overflow;   /* 1 once an append was refused because of the limit */
} dynbuf;

/* Prepare an empty buffer that refuses to hold more than `limit` bytes
 * (0: no limit but memory). Allocates nothing. */
void dynbuf_init(dynbuf *b, size_t limit);

/* Make room for `more` bytes after len (and the NUL). Growth doubles the
 * capacity from the first size asked. Returns 0, or -1 when the limit
 * would be passed (overflow set) or memory ran out; the contents stay. */
int dynbuf_reserve(dynbuf *b, size_t more);

/* Append `len` bytes (may contain NULs). Returns 0, or -1 as
 * dynbuf_reserve (nothing appended). */
int dynbuf_append(dynbuf *b, const void *bytes, size_t len);

/* Append `json` as jansson's json_dumpb writes it with `flags` (e.g.
 * JSON_COMPACT), encoded straight into the buffer's free space (grown and
 * encoded again when it did not fit). Returns 0, or -1 when it cannot be
 * encoded or as dynbuf_reserve (nothing appended). */
int dynbuf_append_json(dynbuf *b, const json_t *json, size_t flags);

/* Append a C string, without its NUL. Returns 0 or -1. */
int dynbuf_append_str(dynbuf *b, const char *text);

/* Append printf-formatted text. Returns 0 or -1 (nothing appended). */
int dynbuf_printf(dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget the contents (len 0, an empty string), keeping the memory and
 * the limit; clears overflow. */
void dynbuf_reset(dynbuf *b);

/* Keep only the first `len` bytes (nothing changes when it holds no more),
 * still NUL-terminated; the memory stays. */
void dynbuf_truncate(dynbuf *b, size_t len);

/* Hand the data over: returns it (caller frees; "" when nothing was
 * appended, NULL on allocation failure) and leaves the buffer empty, as
 * after dynbuf_init with the same limit. */
char *dynbuf_steal(dynbuf *b);

/* Free the data and leave the buffer empty. Safe to call twice. */
void dynbuf_free(dynbuf *b);
#endif
