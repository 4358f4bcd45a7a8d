/* http.h: internals of the SDK HTTP client (http.c, http_answer.c) that
 * its two files share and that unit tests and fuzzers call directly. The
 * SDK itself is declared in sluice/plugin.h. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>
#include <time.h>
#include <curl/curl.h>
#include "sluice/plugin.h"

/* Largest wait sluice_retry_after_parse gives, for delta-seconds or a date
 * (longer waits saturate here, about 31 years; callers cap far lower). */
#define SLUICE_RETRY_AFTER_PARSE_MAX 1e9

/* Parse a Retry-After header value (RFC 9110 10.2.3): delta-seconds, one or
 * more digits ("120"), or an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT",
 * and the obsolete RFC 850 and asctime forms, as curl_getdate reads them),
 * with optional spaces or tabs around it. `now` is the current time, for a
 * date (a date at or before now means 0 s). Returns 0 and sets *seconds
 * (>= 0, at most SLUICE_RETRY_AFTER_PARSE_MAX), or -1 and leaves
 * *seconds alone when value is NULL, empty or neither form ("1.5", "-3",
 * "soon", "120 s"). value: NUL-terminated, any bytes; read only. No
 * allocation, no global state, thread-safe: a fuzzer may call it with any
 * input. */
int sluice_retry_after_parse(const char *value, time_t now, double *seconds);

/* 1 when curl's transport error `code` cannot go away by trying again
 * because of how the request is set up: the server's certificate failed
 * verification (CURLE_PEER_FAILED_VERIFICATION, alias CURLE_SSL_CACERT;
 * issuer, pinned key, certificate status), the local TLS files cannot be
 * used (ca_file, CRL, client certificate), or the URL is malformed or of a
 * protocol we do not speak. sluice_http classifies these as
 * SLUICE_HTTP_CONFIG. Else 0. */
int sluice_http_config_error(CURLcode code);

/* Rewrite error[0..error_len) (curl's message for `code`, may be empty) as
 * the message a person reads for a configuration error of a request to
 * `url`: it names the host (and port), the reason and the fix, e.g.
 * "certificate verify failed for 127.0.0.1:8443: self-signed certificate;
 * set ca_file or fix the server". Always NUL-terminates. */
void sluice_http_config_error_text(CURLcode code, const char *url, char *error,
                                   size_t error_len);

/* Count, for ctx's HTTP client, one more 2xx answer a sink could not read
 * (readable 0) or start again after one it could (readable 1). Returns the
 * number of unreadable answers in a row now (0 after a readable one). */
unsigned sluice_http_unreadable_count(sluice_ctx *ctx, int readable);

/* The concurrency gate of a stage's HTTP client (http_gate.c): at most
 * its limit of attempts in flight; the limit is `max_in_flight` (fixed) or
 * adapted by arc.c below it (adaptive, bounded by `rate_limit` requests/s
 * when > 0). An adaptive gate also paces the starts of attempts to the
 * rate the server allows once it answered 429 (pace.c). Thread-safe. */
typedef struct sluice_http_gate sluice_http_gate;

/* A new gate (caller owns: sluice_http_gate_destroy), or NULL when out of
 * memory. max_in_flight is clamped to 1..SLUICE_ARC_MAX. */
sluice_http_gate *sluice_http_gate_new(int max_in_flight, double rate_limit, int adaptive);

/* Free *gate_p (no attempt may be inside) and set it to NULL. Safe on NULL. */
void sluice_http_gate_destroy(sluice_http_gate **gate_p);

/* Enter: wait until fewer than the limit are in flight and, when pacing,
 * until the pace lets one more start, calling tick(arg) (may be NULL)
 * about every 100 ms while waiting. Returns 0 (entered: call
 * sluice_http_gate_leave or _cancel once) or -1 when ctx is stopping. */
int sluice_http_gate_enter(sluice_http_gate *gate, sluice_ctx *ctx, void (*tick)(void *),
                           void *tick_arg);

/* Leave after an attempt that took `rtt` seconds and got HTTP `status`
 * (0: no answer). 429, 408, 5xx and no answer are back pressure; a 429
 * also sets the pace. When the limit changes: a debug line and the gauge
 * sluice_http_concurrency_limit of ctx's stage; when the pace is cut or
 * grew by 10 %: a debug line and the gauge sluice_http_paced_rate. */
void sluice_http_gate_leave(sluice_http_gate *gate, sluice_ctx *ctx, double rtt, long status);

/* Every request of the stage waits `seconds` from now (a 429's wait, which
 * http.c installs as the bucket's pause): the pace leaves that time out of
 * the rate it measures. */
void sluice_http_gate_pause(sluice_http_gate *gate, double seconds);

/* Leave without an attempt (stopping while waiting on the bucket). */
void sluice_http_gate_cancel(sluice_http_gate *gate);

/* The current limit. */
int sluice_http_gate_limit(sluice_http_gate *gate);

/* Set the stage's gauges to the gate's limit and to 0 (not pacing) and say at debug how the gate
 * works (once, when a plugin turns it on). */
void sluice_http_gate_announce(sluice_http_gate *gate, sluice_ctx *ctx);
#endif
