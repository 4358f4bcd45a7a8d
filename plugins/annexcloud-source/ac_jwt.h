/* ac_jwt.h: Annex Cloud request signing: the per-request HS256 JWT whose
 * `hmac` claim covers the exact request payload (reference §1.2). */
#ifndef AC_JWT_H
#define AC_JWT_H

#include <stddef.h>

/* The JWT for one request. `payload` is the raw body for POST/PATCH/PUT,
 * or for a GET the request identifier as a JSON string literal, quotes
 * included ("\"jacklee2023\""). Claims, in this order: sub, exp, site_id,
 * hmac, where hmac = Base64(HMAC-SHA256(secret, Base64(payload))) and the
 * signature is HS256 keyed with the same raw secret. Returns a malloc'd
 * token (caller frees) or NULL on allocation failure. */
char *ac_jwt_build(const char *secret, const char *site_id, const char *sub, long long exp,
                   const char *payload, size_t payload_len);

/* The hmac claim alone (malloc'd, caller frees), for tests. */
char *ac_jwt_hmac(const char *secret, const char *payload, size_t payload_len);

/* JSON string literal of `id` (malloc'd, caller frees): the GET payload. */
char *ac_jwt_get_payload(const char *id);

/* Hex HMAC-SHA256(secret, data) into out (65 bytes), for webhook
 * signatures. */
void ac_hmac_sha256_hex(const char *secret, const char *data, size_t len, char out[65]);
#endif
