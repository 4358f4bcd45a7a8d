/* tests/s3emu/s3_sigv4.c: AWS SigV4 signature computation for S3 request
 * verification (see s3_sigv4.h), with OpenSSL's SHA-256 and HMAC. */
#include "s3_sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

void s3_text_append(s3_text *buf, const char *text, size_t len)
{
    if (buf->failed)
        return;
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        char *grown;
        while (cap < buf->len + len + 1)
            cap *= 2;
        grown = realloc(buf->data, cap);
        if (!grown) {
            buf->failed = 1;
            return;
        }
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void s3_text_add(s3_text *buf, const char *text)
{
    s3_text_append(buf, text, strlen(text));
}

long s3_uri_encode(const char *in, int keep_slash, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/');
        if (n + (keep ? 1 : 3) + 1 > outlen)
            return -1;
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n + 1 > outlen)
        return -1;
    out[n] = '\0';
    return (long)n;
}

/* Encoded "name=value" of one parameter, malloc'd; NULL on failure. */
static char *encode_param(const s3_query_param *param)
{
    const char *value = param->value ? param->value : "";
    size_t cap = 3 * (strlen(param->name) + strlen(value)) + 2;
    char *out = malloc(cap);
    long used;

    if (!out)
        return NULL;
    used = s3_uri_encode(param->name, 0, out, cap);
    if (used < 0 || (size_t)used + 1 >= cap) {
        free(out);
        return NULL;
    }
    out[used++] = '=';
    if (s3_uri_encode(value, 0, out + used, cap - (size_t)used) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Encoded pairs sort by name, then value: comparing "name=value" strings
 * would put "a-b=" before "a=" ('-' < '='), so compare the parts. */
static int encoded_param_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xn = strcspn(x, "="), yn = strcspn(y, "=");
    int by_name = strncmp(x, y, xn < yn ? xn : yn);

    if (by_name != 0)
        return by_name;
    if (xn != yn)
        return xn < yn ? -1 : 1;
    return strcmp(x + xn, y + yn);
}

/* Header value trimmed, inner runs of spaces collapsed to one. */
static void append_header_value(s3_text *buf, const char *value)
{
    int pending_space = 0;

    while (*value == ' ' || *value == '\t')
        value++;
    for (; *value; value++) {
        if (*value == ' ' || *value == '\t') {
            pending_space = 1;
            continue;
        }
        if (pending_space)
            s3_text_append(buf, " ", 1);
        pending_space = 0;
        s3_text_append(buf, value, 1);
    }
}

char *s3_canonical_request(const s3_sigv4_input *in, char *err, size_t errlen)
{
    s3_text buf = {0};
    char **params = NULL;
    char *encoded_path = NULL;
    size_t path_cap = 3 * strlen(in->path) + 1;
    const char *name;
    char *result = NULL;

    s3_text_add(&buf, in->method);
    s3_text_add(&buf, "\n");
    encoded_path = malloc(path_cap);
    if (!encoded_path || s3_uri_encode(in->path, 1, encoded_path, path_cap) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s3_text_add(&buf, encoded_path);
    s3_text_add(&buf, "\n");

    params = calloc(in->query_count + 1, sizeof(*params));
    if (!params) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < in->query_count; i++) {
        params[i] = encode_param(&in->query[i]);
        if (!params[i]) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    qsort(params, in->query_count, sizeof(*params), encoded_param_cmp);
    for (size_t i = 0; i < in->query_count; i++) {
        if (i > 0)
            s3_text_add(&buf, "&");
        s3_text_add(&buf, params[i]);
    }
    s3_text_add(&buf, "\n");

    /* Canonical headers, in the order SignedHeaders lists them (a client
     * must list them sorted; a different order simply fails to match). */
    name = in->signed_headers;
    while (*name) {
        size_t len = strcspn(name, ";");
        char lower[128];
        const char *value;

        if (len == 0 || len >= sizeof(lower)) {
            snprintf(err, errlen, "bad SignedHeaders entry in '%s'", in->signed_headers);
            goto out;
        }
        for (size_t i = 0; i < len; i++)
            lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
        lower[len] = '\0';
        value = in->header(in->header_user, lower);
        if (!value) {
            snprintf(err, errlen, "signed header '%s' is not in the request", lower);
            goto out;
        }
        s3_text_add(&buf, lower);
        s3_text_add(&buf, ":");
        append_header_value(&buf, value);
        s3_text_add(&buf, "\n");
        name += len;
        if (*name == ';')
            name++;
    }
    s3_text_add(&buf, "\n");
    s3_text_add(&buf, in->signed_headers);
    s3_text_add(&buf, "\n");
    s3_text_add(&buf, in->payload_hash);
    if (buf.failed) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    result = buf.data;
    buf.data = NULL;
out:
    if (params) {
        for (size_t i = 0; i < in->query_count; i++)
            free(params[i]);
    }
    free(params);
    free(encoded_path);
    free(buf.data);
    return result;
}

static void to_hex(const unsigned char *bytes, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    hex[2 * len] = '\0';
}

int s3_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32)
        return -1;
    to_hex(digest, digest_len, hex);
    return 0;
}

/* out (32 bytes) = HMAC-SHA256(key, text). Returns 0 or -1. */
static int hmac_step(const unsigned char *key, size_t key_len, const char *text, unsigned char out[32])
{
    unsigned int out_len = 0;

    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)text, strlen(text), out, &out_len) ||
        out_len != 32)
        return -1;
    return 0;
}

int s3_sigv4_signature(const char *secret_key, const char *amz_date, const char *region,
                       const char *service, const char *canonical_request, char sig_hex[65])
{
    char date[9], request_hash[65], string_to_sign[512], key_text[256];
    unsigned char date_key[32], region_key[32], service_key[32], signing_key[32], signature[32];
    int written;

    if (strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z')
        return -1;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    if (s3_sha256_hex(canonical_request, strlen(canonical_request), request_hash) != 0)
        return -1;
    written = snprintf(string_to_sign, sizeof(string_to_sign), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                       amz_date, date, region, service, request_hash);
    if (written < 0 || (size_t)written >= sizeof(string_to_sign))
        return -1;
    written = snprintf(key_text, sizeof(key_text), "AWS4%s", secret_key);
    if (written < 0 || (size_t)written >= sizeof(key_text))
        return -1;
    if (hmac_step((const unsigned char *)key_text, (size_t)written, date, date_key) != 0 ||
        hmac_step(date_key, 32, region, region_key) != 0 || hmac_step(region_key, 32, service, service_key) != 0 ||
        hmac_step(service_key, 32, "aws4_request", signing_key) != 0 ||
        hmac_step(signing_key, 32, string_to_sign, signature) != 0)
        return -1;
    to_hex(signature, sizeof(signature), sig_hex);
    return 0;
}
