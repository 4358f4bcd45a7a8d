/* ac_csv_text.h: the text of Data Feed CSV cells: checked as UTF-8, or
 * transcoded to UTF-8 from ISO-8859-1 or Windows-1252 with iconv (the feed
 * mode's `encoding` option); and an exact, printable escape of bytes that
 * are not UTF-8, for dead-letter records. */
#ifndef AC_CSV_TEXT_H
#define AC_CSV_TEXT_H

#include <stddef.h>

typedef struct ac_text_decoder ac_text_decoder;

/* A decoder for `encoding`: "utf-8", "iso-8859-1" or "windows-1252", in
 * any case (NULL or "" = utf-8). Returns it (caller owns;
 * ac_text_decoder_free) or NULL with the reason in errbuf (an unknown
 * name, or iconv cannot convert from it). */
ac_text_decoder *ac_text_decoder_new(const char *encoding, char *errbuf, size_t errlen);

/* Free and NULL the caller's pointer. NULL is allowed. */
void ac_text_decoder_free(ac_text_decoder **decoder_p);

/* Decode `len` bytes of a cell into a new NUL-terminated UTF-8 string in
 * *out (caller frees). Returns 0; 1 when the cell cannot be taken, *out
 * NULL and `why` saying what and where (1-based byte position in the
 * cell): "contains a NUL byte (byte 3)", "is not UTF-8 (byte 0xE9 at byte
 * 4)", "is not Windows-1252 (byte 0x81 at byte 2)"; -1 when out of memory. */
int ac_text_decode(ac_text_decoder *decoder, const char *in, size_t len, char **out, char *why, size_t whylen);

/* 1 when the `len` bytes are UTF-8 as JSON takes it (no overlong forms,
 * surrogates, nor code points past U+10FFFF; NUL is allowed), else 0 with
 * the offset of the first byte that is not in *bad_at (may be NULL). */
int ac_text_is_utf8(const char *text, size_t len, size_t *bad_at);

/* The bytes as a new NUL-terminated UTF-8 string without NUL inside
 * (caller frees; NULL when out of memory): valid UTF-8 as it is, a
 * backslash doubled, a NUL and every byte not part of valid UTF-8 as \xHH
 * (lower-case hex). Printable, and exact: the bytes can be read back. */
char *ac_text_escape(const char *text, size_t len);
#endif
