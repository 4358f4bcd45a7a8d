/* annexcloud_jwt.c: annexcloud-jwt, a test helper printing an Annex Cloud request JWT (HS256 with the hmac claim). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <jansson.h>

#include "annexcloud_emu.h"

static const char USAGE[] =
    "usage: annexcloud-jwt --secret S --site ID (--payload TEXT | --body-file FILE) [--exp UNIX] [--sub NAME]\n"
    "Prints the JWT for one request: claims {sub, exp, site_id, hmac} where\n"
    "hmac = Base64(HMAC-SHA256(secret, Base64(payload))); for a GET the payload is the\n"
    "path id as a JSON string literal (\"jacklee2023\" with the quotes), for a POST the raw body.\n";

/* base64url (no padding) of len bytes into a malloc'd string. */
static char *base64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* Whole file into a malloc'd buffer; length in *len. NULL on error. */
static char *read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;
    *len = 0;
    if (!file)
        return NULL;
    for (;;) {
        if (*len + 4096 > cap) {
            char *grown = realloc(data, cap + 65536);
            if (!grown) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
            cap += 65536;
        }
        size_t got = fread(data + *len, 1, cap - *len, file);
        *len += got;
        if (got == 0)
            break;
    }
    fclose(file);
    return data;
}

int main(int argc, char **argv)
{
    const char *secret = NULL, *site = NULL, *payload = NULL, *body_file = NULL, *sub = "sluice-test";
    long long exp = 4102444800LL; /* 2100-01-01 */
    char *file_data = NULL, *payload_b64 = NULL, *hmac = NULL, *claims_text = NULL;
    char *header_b64 = NULL, *claims_b64 = NULL, *signature_b64 = NULL, *signing_input = NULL;
    json_t *claims = NULL;
    int exit_code = 2;
    size_t payload_len = 0;

    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            fprintf(stderr, "annexcloud-jwt: %s needs a value\n%s", argv[i], USAGE);
            goto out;
        }
        if (!strcmp(argv[i], "--secret")) secret = value;
        else if (!strcmp(argv[i], "--site")) site = value;
        else if (!strcmp(argv[i], "--payload")) payload = value;
        else if (!strcmp(argv[i], "--body-file")) body_file = value;
        else if (!strcmp(argv[i], "--sub")) sub = value;
        else if (!strcmp(argv[i], "--exp")) {
            char *end = NULL;
            errno = 0;
            exp = strtoll(value, &end, 10);
            if (errno || end == value || *end) {
                fprintf(stderr, "annexcloud-jwt: --exp must be an integer, not '%s'\n", value);
                goto out;
            }
        } else {
            fprintf(stderr, "annexcloud-jwt: unknown flag %s\n%s", argv[i], USAGE);
            goto out;
        }
        i++;
    }
    if (!secret || !site || (!payload == !body_file)) {
        fprintf(stderr, "%s", USAGE);
        goto out;
    }
    if (body_file) {
        file_data = read_file(body_file, &payload_len);
        if (!file_data) {
            fprintf(stderr, "annexcloud-jwt: cannot read %s\n", body_file);
            goto out;
        }
        payload = file_data;
    } else {
        payload_len = strlen(payload);
    }
    exit_code = 1;
    payload_b64 = malloc(4 * ((payload_len + 2) / 3) + 1);
    if (!payload_b64)
        goto out;
    EVP_EncodeBlock((unsigned char *)payload_b64, (const unsigned char *)payload, (int)payload_len);
    hmac = annex_hmac_sha256_b64(secret, payload_b64, strlen(payload_b64));
    claims = json_pack("{s:s,s:I,s:s,s:s}", "sub", sub, "exp", (json_int_t)exp, "site_id", site, "hmac",
                       hmac ? hmac : "");
    claims_text = claims ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!hmac || !claims_text)
        goto out;
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    header_b64 = base64url((const unsigned char *)header, strlen(header));
    claims_b64 = base64url((const unsigned char *)claims_text, strlen(claims_text));
    size_t input_len = strlen(header_b64) + 1 + strlen(claims_b64);
    signing_input = malloc(input_len + 1);
    if (!signing_input)
        goto out;
    snprintf(signing_input, input_len + 1, "%s.%s", header_b64, claims_b64);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing_input, input_len, mac, &mac_len);
    signature_b64 = base64url(mac, mac_len);
    if (!signature_b64)
        goto out;
    printf("%s.%s\n", signing_input, signature_b64);
    exit_code = 0;
out:
    free(file_data);
    free(payload_b64);
    free(hmac);
    free(claims_text);
    free(header_b64);
    free(claims_b64);
    free(signature_b64);
    free(signing_input);
    json_decref(claims);
    return exit_code;
}
