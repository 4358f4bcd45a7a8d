/* tests/emulators/emu_common.h: the shared HTTP emulator framework (libmicrohttpd + jansson).
 *
 * An emulator is a small program that pretends to be a remote API (Ometria,
 * Infobip, Annex Cloud) on 127.0.0.1 so tests can drive real HTTP clients
 * against it. This library does everything that is not API-specific:
 *
 *  - common command line flags (emu_parse_args):
 *      --port N            0 = any free port; the first stdout line is always
 *                          "listening on 127.0.0.1:PORT" (flushed)
 *      --seed N            seed of the deterministic fault PRNG (default 1)
 *      --log FILE          request log, one line per request:
 *                          "METHOD PATH STATUS REQUEST_BYTES"
 *      --fail-rate F       fraction of requests answered 500/502/503
 *      --rate429 F         fraction answered 429 with Retry-After
 *      --rate429-noretry F fraction answered 429 without Retry-After
 *      --retry-after S     Retry-After seconds (for --rate429 and for the
 *                          emulators' own rate limiters; default: none,
 *                          injected 429s then say 1)
 *      --latency-ms N      delay before answering each request
 *      --reset-rate F      fraction of requests whose connection is dropped
 *                          without a response (client sees reset/empty reply)
 *      --reject-auth       every credential is rejected (emu_reject_auth)
 *      --help
 *    plus emulator-specific flags through a callback.
 *  - an MHD daemon on 127.0.0.1, one thread per connection, request bodies
 *    collected up to EMU_MAX_BODY bytes (413 beyond);
 *  - routing of METHOD + path pattern ("{}" matches one path segment) to
 *    handler callbacks;
 *  - deterministic fault injection: request number n (counted from start or
 *    the last POST /_emu/reset, /_emu/ paths excluded) draws
 *    u = splitmix64(seed ^ n) / 2^64 and gets, in this order of bands,
 *    5xx if u < fail_rate, 429+Retry-After if u < fail_rate + rate429,
 *    429 bare if below + rate429_noretry, a dropped connection if below
 *    + reset_rate; otherwise it reaches the handler. The same seed and the
 *    same request sequence give the same faults;
 *  - built-in endpoints (never faulted):
 *      GET  /_emu/state   the emulator's state (emu_hooks.state) plus "stats"
 *      POST /_emu/reset   empty the state (emu_hooks.reset), stats and the
 *                         fault sequence counter; fault settings are kept
 *      GET  /_emu/faults  the current fault settings as JSON
 *      POST /_emu/faults  change some of them: {"fail_rate":0.1,...}; keys as
 *                         in GET; unknown keys or bad values answer 400
 *      GET  /_emu/stats   request counts by status, injected faults, counters
 *  - one state mutex (emu_lock/emu_unlock) for the emulator's own data;
 *  - clean stop on SIGTERM/SIGINT (emu_run returns).
 *
 * Handlers run on MHD's connection threads, concurrently: they must take
 * emu_lock() around any access to shared emulator state.
 */
#ifndef SLUICE_EMU_COMMON_H
#define SLUICE_EMU_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest request body accepted; beyond it the answer is 413. */
#define EMU_MAX_BODY (16u * 1024u * 1024u)
/* Most path captures ("{}") one route may have. */
#define EMU_MAX_PARAMS 4

typedef struct emu_server emu_server;

/* Fault settings; all fractions are in [0,1] and their sum must be <= 1. */
typedef struct emu_faults {
    double fail_rate;        /* answered 500/502/503 */
    double rate429;          /* answered 429 with Retry-After */
    double rate429_noretry;  /* answered 429 without Retry-After */
    double reset_rate;       /* connection dropped */
    int retry_after;         /* seconds; -1 = not given */
    int latency_ms;          /* added before every non-/_emu answer */
    bool reject_auth;        /* emulators reject every credential */
} emu_faults;

/* Settings from the command line (emu_parse_args). */
typedef struct emu_config {
    int port;                /* 0 = any */
    uint64_t seed;
    const char *log_path;    /* NULL = no request log; points into argv */
    emu_faults faults;
} emu_config;

/* One received request. Everything is owned by the framework and valid only
 * during the handler call. */
typedef struct emu_request {
    const char *method;              /* "GET", "POST", ... */
    const char *path;                /* URL path, percent-decoded, no query */
    const char *body;                /* NUL-terminated; "" when none */
    size_t body_len;
    const char *params[EMU_MAX_PARAMS]; /* captures of "{}" in route order */
    uint64_t seq;                    /* fault sequence number (0 for /_emu/ paths) */
    void *connection;                /* struct MHD_Connection *, for helpers */
} emu_request;

/* The answer a handler builds. Default: 500 with an empty body, which
 * signals a handler bug. */
typedef struct emu_response emu_response;

/* Handler for a route. user is the pointer given to emu_server_new. */
typedef void (*emu_handler_fn)(emu_server *srv, const emu_request *req,
                               emu_response *resp, void *user);

/* Emulator-wide callbacks; all optional (NULL). They run under emu_lock(). */
typedef struct emu_hooks {
    /* Returns a new JSON object describing the whole state (caller owns);
     * the framework adds "stats" to it for GET /_emu/state and serialises
     * it before releasing the lock, so the object may reference live state
     * (json_pack "O") instead of copying it. */
    json_t *(*state)(void *user);
    /* Empties the state (POST /_emu/reset). */
    void (*reset)(void *user);
    /* Fills resp for an injected 429 (API-specific body and headers). The
     * framework adds Retry-After afterwards when the fault asks for it.
     * NULL: a generic JSON body. */
    void (*too_many)(emu_server *srv, emu_response *resp, void *user);
} emu_hooks;

/* Extra flag callback for emu_parse_args: flag is argv[i] (e.g. "--api-key"),
 * value is argv[i+1] or NULL. Returns the number of argv entries consumed
 * (1 for a bare flag, 2 with its value) or -1 if the flag is unknown or its
 * value is bad (after printing why to stderr). */
typedef int (*emu_extra_flag_fn)(void *user, const char *flag, const char *value);

/* Parses a requests/s rate in [0, 1000000] for `flag` from value into
 * *out. Returns 0, or -1 after printing why to stderr (value NULL too). */
int emu_parse_rate(const char *flag, const char *value, double *out);

/* Parses the common flags into cfg (defaults first), passing unknown flags to
 * extra (may be NULL). usage is printed for --help and after errors.
 * Returns 0 to go on, 1 when --help was printed (exit 0), -1 on a bad
 * command line (message already on stderr; exit 2). */
int emu_parse_args(int argc, char **argv, emu_config *cfg, const char *usage,
                   emu_extra_flag_fn extra, void *user);

/* Sets up memory for an emulator: jansson allocates through a per-thread
 * cache of small blocks (blocks stay ordinary malloc blocks), and malloc
 * uses one arena that grows in 16 MB steps (see emu_common.c). Call first
 * thing in main, before any thread or jansson value exists. Never fails. */
void emu_memory_setup(void);

/* Creates a server (not yet listening). name is used in messages. Returns
 * NULL on allocation failure. Caller owns it; free with emu_server_free. */
emu_server *emu_server_new(const char *name, const emu_config *cfg,
                           const emu_hooks *hooks, void *user);

/* Adds a route. method NULL matches any method. pattern is an absolute path
 * whose segments are literal or "{}" (one non-empty segment, captured into
 * req->params). The first matching route wins. Returns 0, -1 if the table
 * is full or the pattern has too many captures. */
int emu_route(emu_server *srv, const char *method, const char *pattern,
              emu_handler_fn handler);

/* Starts listening, prints "listening on 127.0.0.1:PORT", blocks until
 * SIGTERM or SIGINT, then stops the daemon. Returns 0 on a clean stop, -1
 * if the daemon or the log file could not be started (message on stderr). */
int emu_run(emu_server *srv);

/* Frees the server and NULLs *srv_p. Accepts NULL and *srv_p == NULL. */
void emu_server_free(emu_server **srv_p);

/* The state mutex for the emulator's own data. */
void emu_lock(emu_server *srv);
void emu_unlock(emu_server *srv);

/* Current fault settings (a copy, taken under the fault lock). */
emu_faults emu_get_faults(emu_server *srv);
/* True when --reject-auth or POST /_emu/faults {"reject_auth":true} is on. */
bool emu_reject_auth(emu_server *srv);
/* The seed given with --seed. */
uint64_t emu_seed(const emu_server *srv);

/* Adds delta to the named counter shown in stats.counters. Thread-safe. */
void emu_count(emu_server *srv, const char *name, long long delta);

/* Request helpers. Return NULL when absent; strings owned by MHD. */
const char *emu_header(const emu_request *req, const char *name);
const char *emu_query(const emu_request *req, const char *name);

/* Response helpers. emu_respond_json steals the body reference (NULL body
 * means an empty body) and sets Content-Type: application/json. */
void emu_respond_json(emu_response *resp, int status, json_t *body);
/* Like emu_respond_json with json_pack(fmt, ...); a pack failure gives a
 * 500 naming the bug. */
void emu_respond_pack(emu_response *resp, int status, const char *fmt, ...);
/* Plain text body (copied). */
void emu_respond_text(emu_response *resp, int status, const char *text);
/* Adds a response header (both strings copied). Returns 0, -1 if full. */
int emu_respond_header(emu_response *resp, const char *name, const char *value);

/* Validation helpers shared by the emulators. */
/* True for "YYYY-MM-DD" naming a real calendar date. */
bool emu_valid_date(const char *s);
/* Parses ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|+HHMM|-..)" into Unix
 * seconds in *epoch (may be NULL). require_offset: a zone designator (Z or
 * an offset) must be present, else one is optional (UTC assumed). Returns
 * true when well formed and a real date/time. */
bool emu_parse_timestamp(const char *s, bool require_offset, int64_t *epoch);

/* PRNG step used for faults; exposed so emulators derive deterministic ids. */
uint64_t emu_splitmix64(uint64_t x);
/* Writes a uuid-like id ("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx", 36 chars +
 * NUL) derived from seed and n into out (>= 37 bytes). */
void emu_uuid(uint64_t seed, uint64_t n, char out[37]);

/* A token bucket: rate tokens/s, burst = max(rate, 1). Not thread-safe by itself:
 * call under emu_lock(). */
typedef struct emu_bucket {
    double tokens;
    double last;     /* monotonic seconds of the last refill; 0 = fresh */
} emu_bucket;

/* Takes one token. Returns true when allowed (rate <= 0 means unlimited). */
bool emu_bucket_take(emu_bucket *bucket, double rate);
/* Tokens left after the last take (floored), for X-*-Remaining headers. */
long emu_bucket_left(const emu_bucket *bucket);

#endif /* SLUICE_EMU_COMMON_H */
