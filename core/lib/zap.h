/* zap.h: a ZAP handler (ZeroMQ RFC 27) for one ZeroMQ context: a thread
 * answering inproc://zeromq.zap.01 that admits a CURVE client only if its
 * public key is allowed on the domain of the socket it connects to (a
 * stage's tcp input: domain = the stage's name), and logs refusals at warn,
 * at most one line per SLUICE_ZAP_LOG_EVERY_MS. Implemented in zap.c. */
#ifndef SLUICE_ZAP_H
#define SLUICE_ZAP_H

#include <stddef.h>
#include <stdint.h>

/* The endpoint every libzmq context asks for authentication. */
#define SLUICE_ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* ZAP status codes. */
#define SLUICE_ZAP_ALLOW 200
#define SLUICE_ZAP_DENY 400
/* Refusals are logged at most this often (the rest are counted). */
#define SLUICE_ZAP_LOG_EVERY_MS 10000

typedef struct sluice_zap sluice_zap;

/* A handler that allows nothing yet, not started; `pipeline` names the
 * pipeline in its log lines (copied). Returns it (caller owns;
 * sluice_zap_destroy) or NULL when out of memory. */
sluice_zap *sluice_zap_new(const char *pipeline);

/* Allow the client whose public key is `public_z85` (40 Z85 characters)
 * on `domain`, which the handler governs from now on (a socket of this
 * domain admits CURVE clients with an allowed key and nothing else).
 * Call before sluice_zap_start. Returns 0, or -1 for a bad key or when
 * out of memory. */
int sluice_zap_allow(sluice_zap *zap, const char *domain, const char *public_z85);

/* The decision for one request: a domain the handler governs admits only
 * mechanism "CURVE" with an allowed client key (`key`, `key_len` bytes);
 * a domain it does not govern admits only "NULL" (a plain link, whose
 * trust is its file permissions or loopback) and refuses the rest.
 * Returns SLUICE_ZAP_ALLOW, or SLUICE_ZAP_DENY with the reason in
 * `reason` (naming the client's key in Z85). */
int sluice_zap_decide(const sluice_zap *zap, const char *domain, const char *mechanism,
                      const uint8_t *key, size_t key_len, char *reason, size_t len);

/* Bind the handler in ZeroMQ context `zctx` (the one its sockets live in)
 * and answer requests in a thread of its own. Must run before any socket
 * it governs binds: libzmq admits every CURVE client of a context with no
 * handler. Returns 0, or -1 with the reason in errbuf (e.g. another
 * handler is bound in the context). */
int sluice_zap_start(sluice_zap *zap, void *zctx, char *errbuf, size_t errlen);

/* How many requests the handler refused so far. */
unsigned long sluice_zap_refusals(sluice_zap *zap);

/* Stop the thread (call it after every socket the handler governs is
 * closed), close its socket and free the handler; NULLs the caller's
 * pointer. Safe on NULL. */
void sluice_zap_destroy(sluice_zap **zap_p);
#endif
