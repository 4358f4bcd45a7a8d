/* ac_webhook_auth.h: the webhook listener's credential checks, as pure
 * functions over header values and the body: HTTP basic auth parsed here
 * (RFC 7617: scheme in any case, the decoded bytes compared whole, in
 * constant time) and the HMAC-SHA256 signature header. libmicrohttpd's own
 * basic-auth helper hands back C strings, so "user:pass\0anything" would
 * compare equal to "user:pass"; nothing here stops at a NUL. */
#ifndef AC_WEBHOOK_AUTH_H
#define AC_WEBHOOK_AUTH_H

#include <stddef.h>

/* 1 if `header` (an Authorization header value, NULL = absent) is the
 * Basic scheme, in any letter case, followed by spaces/tabs and the
 * standard base64 of exactly the `expected_len` bytes of `expected`
 * ("user:password"); padding may be left out, surrounding whitespace is
 * ignored. Anything else (another scheme, bad base64, a decoded value of
 * another length or with other bytes, NULs included) gives 0. The bytes
 * are compared with CRYPTO_memcmp. */
int ac_basic_auth_matches(const char *header, const char *expected, size_t expected_len);

/* 1 if `header` (a signature header value, NULL = absent) has the shape of
 * a signature: optional "sha256=" (any case) and 64 hex digits (any case),
 * surrounding whitespace ignored. The listener checks this on the header
 * pass, before it reads a body. */
int ac_signature_wellformed(const char *header);

/* 1 if `header` is a well-formed signature equal to the hex HMAC-SHA256
 * of the `len` bytes of `body` keyed by `secret` (constant-time compare),
 * else 0. */
int ac_signature_matches(const char *header, const char *secret, const char *body, size_t len);
#endif
