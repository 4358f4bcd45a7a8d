/* ac_csv_text.c: cell text of Data Feed CSV files: UTF-8 checked by hand
 * (the rules jansson applies, so a checked cell always becomes a JSON
 * string), ISO-8859-1 and Windows-1252 transcoded with iconv, and the
 * \xHH escape of bytes that are not UTF-8 for dead-letter records. */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ac_csv_text.h"

/* The encodings the feed mode accepts: the option's name, the name in
 * messages, and iconv's name (NULL: UTF-8, checked without iconv). */
static const struct {
    const char *name;
    const char *label;
    const char *iconv_name;
} known_encodings[] = {
    {"utf-8", "UTF-8", NULL},
    {"iso-8859-1", "ISO-8859-1", "ISO-8859-1"},
    {"windows-1252", "Windows-1252", "WINDOWS-1252"},
};
#define ENCODING_COUNT (sizeof(known_encodings) / sizeof(known_encodings[0]))

/* A UTF-8 character of a single-byte encoding is at most 3 bytes (the
 * euro sign of Windows-1252 is E2 82 AC). */
#define MAX_UTF8_PER_BYTE 3

struct ac_text_decoder {
    const char *label;
    iconv_t converter; /* (iconv_t)-1 for UTF-8 */
};

/* Length of the valid UTF-8 sequence at the start of the `len` (> 0)
 * bytes, or 0 when they do not start with one. */
static size_t utf8_sequence(const unsigned char *bytes, size_t len)
{
    unsigned char lead = bytes[0];
    size_t need;
    uint32_t code_point, smallest;

    if (lead < 0x80)
        return 1;
    if (lead < 0xC2)
        return 0; /* a continuation byte, or an overlong 2-byte form */
    if (lead < 0xE0) {
        need = 2, code_point = lead & 0x1F, smallest = 0x80;
    } else if (lead < 0xF0) {
        need = 3, code_point = lead & 0x0F, smallest = 0x800;
    } else if (lead < 0xF5) {
        need = 4, code_point = lead & 0x07, smallest = 0x10000;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((bytes[i] & 0xC0) != 0x80)
            return 0;
        code_point = (code_point << 6) | (bytes[i] & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF))
        return 0;
    return need;
}

int ac_text_is_utf8(const char *text, size_t len, size_t *bad_at)
{
    const unsigned char *bytes = (const unsigned char *)text;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(bytes + i, len - i);
        if (n == 0) {
            if (bad_at)
                *bad_at = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

ac_text_decoder *ac_text_decoder_new(const char *encoding, char *errbuf, size_t errlen)
{
    ac_text_decoder *decoder = NULL;
    size_t i;

    if (!encoding || !*encoding)
        encoding = "utf-8";
    for (i = 0; i < ENCODING_COUNT; i++) {
        if (strcasecmp(encoding, known_encodings[i].name) == 0)
            break;
    }
    if (i == ENCODING_COUNT) {
        snprintf(errbuf, errlen, "encoding '%s' is not one of utf-8, iso-8859-1, windows-1252", encoding);
        goto out;
    }
    decoder = calloc(1, sizeof(*decoder));
    if (!decoder) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    decoder->label = known_encodings[i].label;
    decoder->converter = (iconv_t)-1;
    if (known_encodings[i].iconv_name) {
        decoder->converter = iconv_open("UTF-8", known_encodings[i].iconv_name);
        if (decoder->converter == (iconv_t)-1) {
            snprintf(errbuf, errlen, "encoding '%s': iconv cannot convert it to UTF-8: %s", encoding, strerror(errno));
            ac_text_decoder_free(&decoder);
        }
    }
out:
    return decoder;
}

void ac_text_decoder_free(ac_text_decoder **decoder_p)
{
    ac_text_decoder *decoder = decoder_p ? *decoder_p : NULL;

    if (!decoder)
        return;
    if (decoder->converter != (iconv_t)-1)
        iconv_close(decoder->converter);
    free(decoder);
    *decoder_p = NULL;
}

int ac_text_decode(ac_text_decoder *decoder, const char *in, size_t len, char **out, char *why, size_t whylen)
{
    const char *nul = memchr(in, '\0', len);
    char *text = NULL, *in_at = (char *)in, *out_at;
    size_t bad_at, in_left = len, out_left;
    int result = 1;

    *out = NULL;
    if (nul) {
        snprintf(why, whylen, "contains a NUL byte (byte %zu)", (size_t)(nul - in) + 1);
        goto out;
    }
    if (decoder->converter == (iconv_t)-1 && !ac_text_is_utf8(in, len, &bad_at)) {
        snprintf(why, whylen, "is not UTF-8 (byte 0x%02X at byte %zu)", (unsigned char)in[bad_at], bad_at + 1);
        goto out;
    }
    result = -1;
    text = malloc(len * MAX_UTF8_PER_BYTE + 1);
    if (!text)
        goto out;
    if (decoder->converter == (iconv_t)-1) {
        memcpy(text, in, len);
        text[len] = '\0';
        result = 0;
        goto out;
    }
    out_at = text;
    out_left = len * MAX_UTF8_PER_BYTE;
    iconv(decoder->converter, NULL, NULL, NULL, NULL); /* no state from an earlier cell */
    if (iconv(decoder->converter, &in_at, &in_left, &out_at, &out_left) == (size_t)-1) {
        if (errno == EILSEQ) {
            snprintf(why, whylen, "is not %s (byte 0x%02X at byte %zu)", decoder->label, (unsigned char)*in_at,
                     (size_t)(in_at - in) + 1);
            result = 1;
        } else {
            snprintf(why, whylen, "cannot be converted from %s: %s", decoder->label, strerror(errno));
            result = 1;
        }
        goto out;
    }
    *out_at = '\0';
    result = 0;
out:
    if (result == 0)
        *out = text;
    else
        free(text);
    return result;
}

char *ac_text_escape(const char *text, size_t len)
{
    const unsigned char *bytes = (const unsigned char *)text;
    char *escaped = malloc(len * 4 + 1);
    size_t used = 0;

    if (!escaped)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(bytes + i, len - i);
        if (n == 1 && bytes[i] == '\\') {
            escaped[used++] = '\\';
            escaped[used++] = '\\';
        } else if (n > 0 && bytes[i] != '\0') {
            memcpy(escaped + used, bytes + i, n);
            used += n;
        } else {
            snprintf(escaped + used, 5, "\\x%02x", bytes[i]);
            used += 4;
            n = 1;
        }
        i += n;
    }
    escaped[used] = '\0';
    return escaped;
}
