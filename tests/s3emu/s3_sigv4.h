/* tests/s3emu/s3_sigv4.h: AWS Signature Version 4 for S3, as a verifier
 * computes it: canonical request (method, URI, sorted query, signed
 * headers, payload hash), string to sign, HMAC-SHA256 key chain. Used by
 * the S3 emulator to check every request and by the unit test against
 * AWS's published examples. */
#ifndef S3_SIGV4_H
#define S3_SIGV4_H

#include <stddef.h>

/* A growing NUL-terminated string; `failed` sticks after an allocation
 * failure so callers check once at the end. Zero-initialise; free data. */
typedef struct s3_text {
    char *data;
    size_t len, cap;
    int failed;
} s3_text;

/* Append len bytes of text (or set failed). */
void s3_text_append(s3_text *buf, const char *text, size_t len);

/* Append a NUL-terminated string (or set failed). */
void s3_text_add(s3_text *buf, const char *text);

/* SHA-256 of the empty string, hex: the payload hash of a GET. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One query parameter, percent-decoded (value NULL = "name" without '='). */
typedef struct s3_query_param {
    const char *name;
    const char *value;
} s3_query_param;

/* Looks up request header `name` (lower case); returns its value or NULL. */
typedef const char *(*s3_header_fn)(void *user, const char *name);

/* What the canonical request is built from. */
typedef struct s3_sigv4_input {
    const char *method;           /* "GET" */
    const char *path;             /* decoded URI path, "/bucket/key" */
    const s3_query_param *query;  /* decoded parameters, any order */
    size_t query_count;
    const char *signed_headers;   /* "host;range;x-amz-date" as sent */
    s3_header_fn header;          /* header values by lower-case name */
    void *header_user;
    const char *payload_hash;     /* x-amz-content-sha256 value (hex) */
} s3_sigv4_input;

/* URI-encode `in` per SigV4 (unreserved A-Z a-z 0-9 - _ . ~ kept, every
 * other byte %XX upper case; '/' kept when keep_slash) into out (NUL
 * terminated). Returns the length, or -1 if out is too small. */
long s3_uri_encode(const char *in, int keep_slash, char *out, size_t outlen);

/* The canonical request for `in`. Returns a new string (caller frees) or
 * NULL when a signed header is missing (why in err) or memory ran out. */
char *s3_canonical_request(const s3_sigv4_input *in, char *err, size_t errlen);

/* Signature (64 hex chars + NUL into sig_hex) of canonical_request under
 * secret_key for amz_date ("20130524T000000Z") and the scope
 * date/region/service/aws4_request (date = the first 8 chars of amz_date).
 * Returns 0, or -1 on a crypto failure or a malformed amz_date. */
int s3_sigv4_signature(const char *secret_key, const char *amz_date, const char *region,
                       const char *service, const char *canonical_request, char sig_hex[65]);

/* Lower-case hex SHA-256 of data into hex (65 bytes). Returns 0 or -1. */
int s3_sha256_hex(const void *data, size_t len, char hex[65]);
#endif
