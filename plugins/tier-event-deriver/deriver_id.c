/* deriver_id.c: deterministic event ids: SHA-256 (OpenSSL) of the
 * member, the event type and what makes the event unique. */
#include <config.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "deriver_rules.h"

/* SHA-256 fetched once per process: EVP_sha256() would make EVP_Digest
 * look the implementation up in the provider tables on every call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
/* Each thread's digest context, reused for every id (EVP_Digest makes and
 * frees one per call); freed when the thread exits or the module is
 * unloaded. */
static pthread_key_t digest_ctx_key;
static int digest_ctx_key_made;

static void digest_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    digest_ctx_key_made = pthread_key_create(&digest_ctx_key, digest_ctx_free) == 0;
}

/* SHA-256 of input into digest (>= EVP_MAX_MD_SIZE). 1, or 0 on error. */
static int sha256_digest(const char *input, size_t len, unsigned char *digest,
                         unsigned int *digest_len)
{
    const EVP_MD *md;
    EVP_MD_CTX *ctx = NULL;
    pthread_once(&sha256_once, sha256_fetch);
    md = sha256_md ? sha256_md : EVP_sha256();
    if (digest_ctx_key_made && !(ctx = pthread_getspecific(digest_ctx_key))) {
        ctx = EVP_MD_CTX_new();
        if (ctx && pthread_setspecific(digest_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    if (!ctx)
        return EVP_Digest(input, len, digest, digest_len, md, NULL);
    return EVP_DigestInit_ex2(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, input, len) == 1 &&
           EVP_DigestFinal_ex(ctx, digest, digest_len) == 1;
}

void deriver_event_id(const char *loyalty_id, const char *event_type,
                      const char *discriminator, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    size_t a = strlen(loyalty_id), b = strlen(event_type), c = strlen(discriminator);
    char small[512];
    /* Ids are short: the stack buffer nearly always fits. */
    char *input = a + b + c + 3 <= sizeof(small) ? small : malloc(a + b + c + 3);
    out[0] = '\0';
    if (!input)
        return;
    memcpy(input, loyalty_id, a);
    input[a] = '|';
    memcpy(input + a + 1, event_type, b);
    input[a + 1 + b] = '|';
    memcpy(input + a + b + 2, discriminator, c);
    if (sha256_digest(input, a + b + c + 2, digest, &digest_len) && digest_len >= 16) {
        for (int i = 0; i < 16; i++) {
            out[2 * i] = hex[digest[i] >> 4];
            out[2 * i + 1] = hex[digest[i] & 15];
        }
        out[32] = '\0';
    }
    if (input != small)
        free(input);
}

/* Frees the fetched SHA-256 and this thread's context when the module is
 * unloaded: a host that dlcloses the plugin would otherwise lose them
 * (LeakSanitizer reports them). */
__attribute__((destructor)) static void deriver_digest_free(void)
{
    if (digest_ctx_key_made) {
        EVP_MD_CTX_free(pthread_getspecific(digest_ctx_key));
        pthread_setspecific(digest_ctx_key, NULL);
        pthread_key_delete(digest_ctx_key);
        digest_ctx_key_made = 0;
    }
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}
