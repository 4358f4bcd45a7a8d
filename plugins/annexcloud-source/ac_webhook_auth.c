/* ac_webhook_auth.c: basic-auth and signature checks of the webhook
 * listener (see ac_webhook_auth.h). */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ac_jwt.h"
#include "ac_webhook_auth.h"

/* Longest base64 credential accepted: far above any sane user:password. */
#define MAX_CREDENTIAL_B64 4096

/* Bytes a value starts with that are spaces or tabs. */
static size_t blank_prefix(const char *text)
{
    size_t n = 0;

    while (text[n] == ' ' || text[n] == '\t')
        n++;
    return n;
}

/* Length of `text` without trailing spaces and tabs. */
static size_t trimmed_length(const char *text)
{
    size_t len = strlen(text);

    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    return len;
}

/* 1 if c is a character of the standard base64 alphabet (not '='). */
static int is_base64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decode the `len` base64 characters of `text` (padding optional) into a
 * malloc'd buffer, its length in *out_len. Returns the buffer (caller
 * frees) or NULL if the text is not standard base64. */
static unsigned char *base64_decode(const char *text, size_t len, size_t *out_len)
{
    unsigned char *padded = NULL, *decoded = NULL, *result = NULL;
    size_t padded_len = (len + 3) / 4 * 4, pad = 0;
    int n;

    if (len == 0 || len > MAX_CREDENTIAL_B64)
        goto out;
    padded = malloc(padded_len + 1);
    decoded = malloc(padded_len / 4 * 3 + 1);
    if (!padded || !decoded)
        goto out;
    memcpy(padded, text, len);
    memset(padded + len, '=', padded_len - len);
    padded[padded_len] = '\0';
    /* '=' only at the end, at most two of them. */
    for (size_t i = 0; i < padded_len; i++) {
        if (padded[i] == '=') {
            pad++;
        } else if (pad > 0) {
            goto out;
        } else if (!is_base64_char(padded[i])) {
            goto out;
        }
    }
    if (pad > 2)
        goto out;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    n = EVP_DecodeBlock(decoded, padded, (int)padded_len);
    if (n < 0 || (size_t)n < pad)
        goto out;
    *out_len = (size_t)n - pad;
    result = decoded;
    decoded = NULL;
out:
    free(padded);
    free(decoded);
    return result;
}

int ac_basic_auth_matches(const char *header, const char *expected, size_t expected_len)
{
    unsigned char *given = NULL;
    size_t given_len = 0, start, end;
    int result = 0;

    if (!header || !expected)
        goto out;
    start = blank_prefix(header);
    if (strncasecmp(header + start, "basic", 5) != 0)
        goto out;
    start += 5;
    if (header[start] != ' ' && header[start] != '\t')
        goto out;
    start += blank_prefix(header + start);
    end = trimmed_length(header);
    if (end <= start)
        goto out;
    given = base64_decode(header + start, end - start, &given_len);
    if (!given)
        goto out;
    /* The length is not a secret worth hiding; the bytes are. */
    result = given_len == expected_len && CRYPTO_memcmp(given, expected, expected_len) == 0;
out:
    free(given);
    return result;
}

/* The 64 hex digits of a signature value, lower-cased into hex_out (65
 * bytes). Returns 0, or -1 if the value is not a signature. */
static int signature_digits(const char *header, char hex_out[65])
{
    size_t start, end;

    if (!header)
        return -1;
    start = blank_prefix(header);
    if (strncasecmp(header + start, "sha256=", 7) == 0)
        start += 7;
    end = trimmed_length(header);
    if (end < start || end - start != 64)
        return -1;
    for (size_t i = 0; i < 64; i++) {
        unsigned char c = (unsigned char)header[start + i];
        if (!isxdigit(c))
            return -1;
        hex_out[i] = (char)tolower(c);
    }
    hex_out[64] = '\0';
    return 0;
}

int ac_signature_wellformed(const char *header)
{
    char hex[65];

    return signature_digits(header, hex) == 0;
}

int ac_signature_matches(const char *header, const char *secret, const char *body, size_t len)
{
    char given[65], expected[65];

    if (!secret || signature_digits(header, given) != 0)
        return 0;
    ac_hmac_sha256_hex(secret, body ? body : "", len, expected);
    if (strlen(expected) != 64)
        return 0;
    return CRYPTO_memcmp(given, expected, 64) == 0;
}
