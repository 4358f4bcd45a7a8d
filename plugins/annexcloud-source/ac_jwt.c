/* ac_jwt.c: Annex Cloud request JWTs (HS256, hmac claim) and HMAC helpers
 * on OpenSSL libcrypto. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ac_jwt.h"

/* Standard Base64 of len bytes (malloc'd, NUL-terminated). */
static char *base64_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Base64url without padding of len bytes (malloc'd). */
static char *base64url_encode(const unsigned char *data, size_t len)
{
    char *out = base64_encode(data, len);
    size_t n;

    if (!out)
        return NULL;
    n = strlen(out);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

/* HMAC-SHA256 of data with the raw secret into mac (32 bytes). */
static int hmac_sha256(const char *secret, const void *data, size_t len, unsigned char mac[32])
{
    unsigned int mac_len = 0;

    return HMAC(EVP_sha256(), secret, (int)strlen(secret), data, len, mac, &mac_len) && mac_len == 32
               ? 0
               : -1;
}

char *ac_jwt_hmac(const char *secret, const char *payload, size_t payload_len)
{
    char *payload_b64 = base64_encode((const unsigned char *)payload, payload_len);
    unsigned char mac[32];
    char *result = NULL;

    if (payload_b64 && hmac_sha256(secret, payload_b64, strlen(payload_b64), mac) == 0)
        result = base64_encode(mac, sizeof(mac));
    free(payload_b64);
    return result;
}

char *ac_jwt_get_payload(const char *id)
{
    json_t *text = json_string(id);
    char *literal = text ? json_dumps(text, JSON_ENCODE_ANY) : NULL;

    json_decref(text);
    return literal;
}

char *ac_jwt_build(const char *secret, const char *site_id, const char *sub, long long exp,
                   const char *payload, size_t payload_len)
{
    static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *hmac = NULL, *claims_text = NULL, *header_b64 = NULL, *claims_b64 = NULL;
    char *signing_input = NULL, *signature_b64 = NULL, *token = NULL;
    json_t *claims = NULL;
    unsigned char mac[32];
    size_t len;

    hmac = ac_jwt_hmac(secret, payload, payload_len);
    if (!hmac)
        goto out;
    claims = json_pack("{s:s, s:I, s:s, s:s}", "sub", sub, "exp", (json_int_t)exp, "site_id",
                       site_id, "hmac", hmac);
    claims_text = claims ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!claims_text)
        goto out;
    header_b64 = base64url_encode((const unsigned char *)header_json, strlen(header_json));
    claims_b64 = base64url_encode((const unsigned char *)claims_text, strlen(claims_text));
    if (!header_b64 || !claims_b64)
        goto out;
    len = strlen(header_b64) + 1 + strlen(claims_b64) + 1;
    signing_input = malloc(len);
    if (!signing_input)
        goto out;
    snprintf(signing_input, len, "%s.%s", header_b64, claims_b64);
    if (hmac_sha256(secret, signing_input, strlen(signing_input), mac) != 0)
        goto out;
    signature_b64 = base64url_encode(mac, sizeof(mac));
    if (!signature_b64)
        goto out;
    len = strlen(signing_input) + 1 + strlen(signature_b64) + 1;
    token = malloc(len);
    if (token)
        snprintf(token, len, "%s.%s", signing_input, signature_b64);
out:
    free(hmac);
    free(claims_text);
    free(header_b64);
    free(claims_b64);
    free(signing_input);
    free(signature_b64);
    json_decref(claims);
    return token;
}

void ac_hmac_sha256_hex(const char *secret, const char *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];

    out[0] = '\0';
    if (hmac_sha256(secret, data, len, mac) != 0)
        return;
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
}
