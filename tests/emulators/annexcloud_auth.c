/* annexcloud_auth.c: Annex Cloud JWT (HS256) and hmac-claim verification, plus UTC time helpers. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "annexcloud_emu.h"

/* Read exactly `digits` decimal digits at text; returns the value or -1. */
static int read_fixed_number(const char *text, int digits)
{
    int value = 0;
    for (int i = 0; i < digits; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int annex_time_parse(const char *text, time_t *out)
{
    struct tm tm;
    long offset_seconds = 0;
    const char *rest;

    if (!text || strlen(text) < 10 || text[4] != '-' || text[7] != '-')
        return -1;
    memset(&tm, 0, sizeof tm);
    int year = read_fixed_number(text, 4), month = read_fixed_number(text + 5, 2),
        day = read_fixed_number(text + 8, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    rest = text + 10;
    if (*rest == 'T' || *rest == ' ') {
        if (strlen(rest) < 9 || rest[3] != ':' || rest[6] != ':')
            return -1;
        int hour = read_fixed_number(rest + 1, 2), minute = read_fixed_number(rest + 4, 2),
            second = read_fixed_number(rest + 7, 2);
        if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
            return -1;
        tm.tm_hour = hour;
        tm.tm_min = minute;
        tm.tm_sec = second;
        rest += 9;
        if (*rest == '.') { /* fractional seconds: ignored */
            rest++;
            while (*rest >= '0' && *rest <= '9')
                rest++;
        }
        if (*rest == 'Z') {
            rest++;
        } else if (*rest == '+' || *rest == '-') {
            int sign = *rest == '-' ? -1 : 1;
            int off_hour = read_fixed_number(rest + 1, 2);
            const char *minutes_at = rest + 3;
            if (*minutes_at == ':')
                minutes_at++;
            int off_min = read_fixed_number(minutes_at, 2);
            if (off_hour < 0 || off_min < 0)
                return -1;
            offset_seconds = sign * (off_hour * 3600L + off_min * 60L);
            rest = minutes_at + 2;
        }
    }
    if (*rest != '\0')
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    /* reject days that timegm normalised (e.g. 2026-02-31) */
    struct tm check;
    gmtime_r(&t, &check);
    if (check.tm_mday != day || check.tm_mon != month - 1)
        return -1;
    *out = t - offset_seconds;
    return 0;
}

char *annex_time_format(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%S+0000", &tm) == 0 && len > 0)
        buf[0] = '\0';
    return buf;
}

/* Base64 of len bytes (padded, no newlines). Returns malloc'd string or NULL. */
static char *base64_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Decode base64url (or standard base64), padding optional, into a malloc'd buffer with a
 * NUL after the data. Returns the buffer and its length in *out_len, or NULL if malformed. */
static unsigned char *base64url_decode(const char *text, size_t text_len, size_t *out_len)
{
    unsigned char *result = NULL, *decoded_buf = NULL;
    char *padded = NULL;
    size_t padded_len;

    while (text_len > 0 && text[text_len - 1] == '=')
        text_len--;
    padded_len = (text_len + 3) / 4 * 4;
    if (text_len % 4 == 1)
        goto out;
    padded = malloc(padded_len + 1);
    decoded_buf = malloc(padded_len / 4 * 3 + 1);
    if (!padded || !decoded_buf)
        goto out;
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        padded[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = text_len; i < padded_len; i++)
        padded[i] = '=';
    padded[padded_len] = '\0';
    int decoded = EVP_DecodeBlock(decoded_buf, (unsigned char *)padded, (int)padded_len);
    if (decoded < 0)
        goto out;
    *out_len = (size_t)decoded - (padded_len - text_len); /* DecodeBlock counts padding */
    decoded_buf[*out_len] = '\0';
    result = decoded_buf;
    decoded_buf = NULL;
out:
    free(padded);
    free(decoded_buf);
    return result;
}

char *annex_hmac_sha256_b64(const char *key, const void *msg, size_t msg_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg, msg_len, mac, &mac_len))
        return NULL;
    return base64_encode(mac, mac_len);
}

/* Set why to reason; returns -1 so callers can `return reject(...)`. */
static int reject(char *why, size_t why_len, const char *reason)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", reason);
    return -1;
}

/* exp claim (number, or numeric string) is later than now. */
static bool exp_in_future(const json_t *exp, time_t now)
{
    if (json_is_integer(exp))
        return json_integer_value(exp) > (json_int_t)now;
    if (json_is_real(exp))
        return json_real_value(exp) > (double)now;
    if (json_is_string(exp)) {
        const char *text = json_string_value(exp);
        char *end = NULL;
        double value = strtod(text, &end);
        return end != text && *end == '\0' && value > (double)now;
    }
    return false;
}

int annex_auth_verify(const char *secret, const char *site_id, const char *authorization,
                      const char *site_header, const void *payload, size_t payload_len,
                      time_t now, char *why, size_t why_len)
{
    int result = -1;
    unsigned char *claims_text = NULL, *signature = NULL;
    json_t *claims = NULL;
    char *expected_hmac = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t claims_len = 0, signature_len = 0;

    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
        result = reject(why, why_len, "missing Bearer token");
        goto out;
    }
    const char *jwt = authorization + 7;
    while (*jwt == ' ')
        jwt++;
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        result = reject(why, why_len, "token is not a JWT (header.claims.signature)");
        goto out;
    }
    /* 1. HS256 signature over header.claims with the site secret */
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)jwt,
              (size_t)(dot2 - jwt), mac, &mac_len)) {
        result = reject(why, why_len, "HMAC failed");
        goto out;
    }
    signature = base64url_decode(dot2 + 1, strlen(dot2 + 1), &signature_len);
    if (!signature || signature_len != mac_len || CRYPTO_memcmp(signature, mac, mac_len) != 0) {
        result = reject(why, why_len, "JWT signature does not verify with the site secret");
        goto out;
    }
    claims_text = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims_len);
    claims = claims_text ? json_loadb((const char *)claims_text, claims_len, 0, NULL) : NULL;
    if (!json_is_object(claims)) {
        result = reject(why, why_len, "JWT claims are not a JSON object");
        goto out;
    }
    /* 2. site: claim and header both equal the emulated site */
    const json_t *claim_site = json_object_get(claims, "site_id");
    char site_text[64] = "";
    if (json_is_string(claim_site))
        snprintf(site_text, sizeof site_text, "%s", json_string_value(claim_site));
    else if (json_is_integer(claim_site))
        snprintf(site_text, sizeof site_text, "%" JSON_INTEGER_FORMAT, json_integer_value(claim_site));
    if (strcmp(site_text, site_id) != 0) {
        result = reject(why, why_len, "site_id claim does not match the site");
        goto out;
    }
    if (!site_header || strcmp(site_header, site_text) != 0) {
        result = reject(why, why_len, "X-AnnexCloud-Site header missing or not the JWT site_id");
        goto out;
    }
    /* 3. exp later than the emulator clock (huge values are fine) */
    if (!exp_in_future(json_object_get(claims, "exp"), now)) {
        result = reject(why, why_len, "exp missing or not in the future");
        goto out;
    }
    /* 4. hmac = Base64(HMAC-SHA256(secret, Base64(payload))) */
    const char *claim_hmac = json_string_value(json_object_get(claims, "hmac"));
    char *payload_b64 = base64_encode(payload, payload_len);
    if (payload_b64)
        expected_hmac = annex_hmac_sha256_b64(secret, payload_b64, strlen(payload_b64));
    free(payload_b64);
    if (!claim_hmac || !expected_hmac || strcmp(claim_hmac, expected_hmac) != 0) {
        result = reject(why, why_len, "hmac claim does not match the request payload");
        goto out;
    }
    result = 0;
out:
    free(claims_text);
    free(signature);
    free(expected_hmac);
    json_decref(claims);
    return result;
}
