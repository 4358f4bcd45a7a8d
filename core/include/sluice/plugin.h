/* sluice/plugin.h: the plugin SDK, the only header a sluice plugin needs.
 *
 * A plugin is a shared object (libtool module) that exports exactly one
 * symbol, `sluice_plugin`, a const struct sluice_plugin. The engine loads it
 * with libltdl, checks abi_version and struct_size, validates the pipeline's
 * options for the stage against the plugin's option table, and then drives
 * the lifecycle callbacks from one thread per stage instance.
 *
 * Records are jansson objects (json_t *). Between stages they travel in
 * batches; a batch has an id that the core uses to acknowledge delivery end
 * to end (see docs/architecture.md). Plugins never see ZeroMQ, SQLite or
 * retry loops: they call the services declared below, which live in
 * libsluice (link with `pkg-config --libs sluice`).
 *
 * Ownership conventions (as in CZMQ): "borrowed" means the caller must not
 * free it and must not keep it past the call; "new reference" means the
 * caller owns it and must json_decref()/free() it; a function that "steals"
 * an argument takes ownership of it even when it fails.
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to the structs or functions below.
 * ABI 2 widened sluice_option (range, choices, kind) and added check();
 * the core still loads plugins built for ABI 1 (their options read as
 * having no range, choices or kind). */
#define SLUICE_ABI_VERSION 2u

/* The name of the one symbol every plugin exports. */
#define SLUICE_PLUGIN_SYMBOL "sluice_plugin"

/* ------------------------------------------------------------------ */
/* Status codes shared by every callback and service.                 */
/* ------------------------------------------------------------------ */
typedef enum sluice_status {
    SLUICE_OK = 0,      /* done */
    SLUICE_AGAIN = 1,   /* source: nothing available right now, poll later */
    SLUICE_EOF = 2,     /* source: everything available now was emitted;
                           `sluice run --once` ends when every stage drained */
    SLUICE_RETRY = 3,   /* transient failure of the whole call: the core
                           retries it with backoff (see sluice_retry_after) */
    SLUICE_FATAL = -1   /* unrecoverable (bad credentials, broken config):
                           the pipeline stops with the message given to
                           sluice_fail() */
} sluice_status;

typedef enum sluice_role {
    SLUICE_ROLE_SOURCE = 1,
    SLUICE_ROLE_TRANSFORM = 2,
    SLUICE_ROLE_SINK = 3
} sluice_role;

/* ------------------------------------------------------------------ */
/* Option table: declared by the plugin, enforced by the core.         */
/* ------------------------------------------------------------------ */
typedef enum sluice_opt_type {
    SLUICE_OPT_STRING = 1,
    SLUICE_OPT_INT,     /* 64-bit integer */
    SLUICE_OPT_BOOL,
    SLUICE_OPT_DOUBLE,  /* integers are accepted too */
    SLUICE_OPT_LIST,    /* libconfig list or array, any element types */
    SLUICE_OPT_GROUP    /* libconfig group: free-form, validated by the plugin */
} sluice_opt_type;

/* What a string option's value means, beyond being a string: the core
 * checks it under `sluice check` and before anything runs. */
typedef enum sluice_opt_kind {
    SLUICE_KIND_ANY = 0,   /* any string */
    SLUICE_KIND_URL,       /* http:// or https:// URL with a host */
    SLUICE_KIND_PATH,      /* a file system path (not checked for existence) */
    SLUICE_KIND_REGEX,     /* a POSIX extended regular expression that compiles */
    SLUICE_KIND_DURATION,  /* a duration: a number with ms, s, m, h or d ("15m") */
    SLUICE_KIND_HOSTPORT   /* HOST:PORT, PORT 1..65535 ("0.0.0.0:8080", "[::1]:80") */
} sluice_opt_kind;

typedef struct sluice_option {
    const char *name;          /* key in the stage's libconfig group */
    sluice_opt_type type;
    const char *default_value; /* textual default ("4", "true", "a.b"), or NULL */
    int required;              /* 1: the pipeline must set it */
    int secret;                /* 1: value masked as ******** everywhere */
    const char *help;          /* one line, shown by `sluice plugins NAME` */
    /* ABI 2. Rows may set these by name after the positional fields:
     *   {"workers", SLUICE_OPT_INT, "4", 0, 0, "parallel requests",
     *    .range = "1..32"},                                              */
    const char *range;         /* INT or DOUBLE: "MIN..MAX", "MIN.." or "..MAX",
                                  inclusive; NULL: any value */
    const char *choices;       /* STRING, or each string of a LIST: the allowed
                                  values, "skip|dlq"; NULL: any value */
    sluice_opt_kind kind;      /* STRING: what the value must be */
} sluice_option;

/* Terminates an option table. */
#define SLUICE_OPTION_END { NULL, (sluice_opt_type)0, NULL, 0, 0, NULL, NULL, NULL, SLUICE_KIND_ANY }

/* ------------------------------------------------------------------ */
/* Opaque handles owned by the core.                                  */
/* ------------------------------------------------------------------ */
typedef struct sluice_ctx sluice_ctx;     /* one stage instance */
typedef struct sluice_check sluice_check; /* a configuration check under way */
typedef struct sluice_batch sluice_batch; /* records travelling together */

/* Per-record outcome, set by sinks (and by any stage through reject). */
typedef enum sluice_outcome {
    SLUICE_RECORD_PENDING = 0, /* not yet handled */
    SLUICE_RECORD_DONE = 1,    /* delivered (sink) */
    SLUICE_RECORD_RETRY = 2,   /* transient: the core calls write() again */
    SLUICE_RECORD_REJECTED = 3 /* permanent: parked in the dead-letter queue */
} sluice_outcome;

/* ------------------------------------------------------------------ */
/* The descriptor.                                                    */
/* ------------------------------------------------------------------ */
typedef struct sluice_plugin {
    uint32_t abi_version;  /* SLUICE_ABI_VERSION the plugin was built with */
    uint32_t struct_size;  /* sizeof(struct sluice_plugin) at build time */
    const char *name;      /* unique, e.g. "ometria-sink" */
    sluice_role role;
    const char *version;   /* plugin version string */
    const char *description;
    const sluice_option *options; /* terminated by SLUICE_OPTION_END */

    /* Create one stage instance. `config` is the validated option object
     * (defaults filled in, ${ENV} and @file: resolved; borrowed, valid
     * until fini). Store the instance in *state.
     * Returns SLUICE_OK, or SLUICE_FATAL after sluice_fail(). */
    sluice_status (*init)(sluice_ctx *ctx, const json_t *config, void **state);

    /* Release the instance. May be NULL. Called once, also after failures. */
    void (*fini)(sluice_ctx *ctx, void *state);

    /* Source only. Append up to sluice_batch_capacity(out) records to `out`
     * and attach the checkpoint that, once committed, means "everything up
     * to here was emitted" (sluice_batch_set_checkpoint). Returns SLUICE_OK
     * when records were appended, SLUICE_AGAIN when none are available now,
     * SLUICE_EOF when the source is exhausted for now, SLUICE_RETRY or
     * SLUICE_FATAL. */
    sluice_status (*poll)(sluice_ctx *ctx, void *state, sluice_batch *out);

    /* Source only, may be NULL. Restart emission right after `checkpoint`
     * (borrowed; NULL means from the very beginning). Called after a
     * downstream failure so un-acknowledged batches are emitted again.
     * If NULL, the core calls fini() and init() instead. */
    sluice_status (*rewind)(sluice_ctx *ctx, void *state, const json_t *checkpoint);

    /* Source only, may be NULL. `checkpoint` (borrowed) and everything
     * before it is acknowledged end to end and durably recorded by the
     * core: the source may now forget it (delete spool rows, etc.). */
    void (*committed)(sluice_ctx *ctx, void *state, const json_t *checkpoint);

    /* Transform only. Change `batch` in place: modify records, append new
     * ones, drop (sluice_batch_drop) or reject (sluice_batch_reject) them.
     * Returns SLUICE_OK, SLUICE_RETRY or SLUICE_FATAL. */
    sluice_status (*process)(sluice_ctx *ctx, void *state, sluice_batch *batch);

    /* Sink only. Deliver every record whose outcome is PENDING or RETRY
     * and set each one's outcome (sluice_batch_set_outcome). The core calls
     * write() again, with backoff, while records remain RETRY; it
     * acknowledges the batch once every record is DONE or REJECTED.
     * Returns SLUICE_OK, SLUICE_RETRY (whole call failed transiently) or
     * SLUICE_FATAL. */
    sluice_status (*write)(sluice_ctx *ctx, void *state, sluice_batch *batch);

    /* SLUICE_PLUGIN_* capability bits (0: none). Added after the first
     * release of ABI 1: a descriptor built before it is shorter
     * (struct_size == SLUICE_PLUGIN_SIZE_V1) and reads as 0. */
    uint32_t flags;

    /* ABI 2, may be NULL. Check what the option table cannot: rules
     * across options (a tier ladder in order) or across stages (tags a
     * mapper makes that the sink must manage). `config` is the stage's
     * options as init() would get them (borrowed), already checked against
     * the table; secrets may be unresolved placeholders. Report each
     * problem with sluice_check_error(); report them all, do not stop at
     * the first. Runs under `sluice check` and before `sluice run` starts
     * any process; it must not touch the network or the state store. */
    void (*check)(sluice_check *check, const json_t *config);
} sluice_plugin;

/* Transform only: process() depends on nothing but the batch it is given
 * (no sluice_state_* calls, no memory carried from one batch to the next),
 * so the core may run the stage as several processes at once (the stage
 * key `instances`), each seeing some of the batches, in any order. */
#define SLUICE_PLUGIN_STATELESS 0x1u

/* Transform: process() waits on remote servers through sluice_http(). A
 * transform sends no heartbeat upstream while it waits (a sink does), so
 * the stage can be silent for one request (http_timeout_ms) plus one
 * backoff (retry_max_backoff_ms); `sluice check` holds the pipeline's
 * ack_timeout_ms above that, so the source does not take the wait for a
 * lost batch. A sink may set it too; it changes nothing there. */
#define SLUICE_PLUGIN_HTTP 0x2u

/* Size of an ABI 1 descriptor built before `flags` existed. */
#define SLUICE_PLUGIN_SIZE_V1 offsetof(struct sluice_plugin, flags)

/* Size of an ABI 1 descriptor with `flags` (the last ABI 1 layout). */
#define SLUICE_PLUGIN_SIZE_ABI1 offsetof(struct sluice_plugin, check)

/* Convenience initialiser for the two header fields. */
#define SLUICE_PLUGIN_HEADER \
    .abi_version = SLUICE_ABI_VERSION, .struct_size = sizeof(struct sluice_plugin)

/* Define the plugin's descriptor, the one symbol a plugin exports:
 *
 *     SLUICE_PLUGIN_DEFINE = { SLUICE_PLUGIN_HEADER, .name = "x", ... };
 *
 * The typedef `sluice_plugin` owns the plain identifier in C, so the
 * variable gets its exported name, SLUICE_PLUGIN_SYMBOL, through an asm
 * label (GCC and Clang). */
#define SLUICE_PLUGIN_DEFINE \
    const struct sluice_plugin sluice_plugin_descriptor_ __asm__(SLUICE_PLUGIN_SYMBOL)

/* ------------------------------------------------------------------ */
/* Configuration checks (the descriptor's check()).                   */
/* ------------------------------------------------------------------ */

/* Report a configuration error of the stage being checked, about option
 * `option` (its FILE:LINE is reported; NULL: the stage as a whole). The
 * check goes on; the pipeline is refused (exit 78) once all are reported. */
void sluice_check_error(sluice_check *check, const char *option, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The options of the stage `offset` places from the one being checked in
 * its pipeline (-1: the one before it, 1: the one after), as check() gets
 * its own, or NULL past either end. *plugin (if not NULL) gets that
 * stage's plugin name. Borrowed, valid during check(). */
const json_t *sluice_check_stage(sluice_check *check, int offset, const char **plugin);

/* ------------------------------------------------------------------ */
/* Batches.                                                           */
/* ------------------------------------------------------------------ */

/* Number of records (including dropped and rejected ones). */
size_t sluice_batch_count(const sluice_batch *batch);

/* Most records a source may append to this batch. */
size_t sluice_batch_capacity(const sluice_batch *batch);

/* The batch id, unique within the pipeline run. */
uint64_t sluice_batch_id(const sluice_batch *batch);

/* Record i (borrowed; modify it in place), or NULL if i is out of range or
 * the record was dropped or rejected. */
json_t *sluice_batch_get(sluice_batch *batch, size_t i);

/* Record i as one line of JSON text (borrowed, not NUL-terminated; length
 * in *len) when it travels as text and nothing has parsed it since (it
 * came from another process, or a source appended it as text), else NULL
 * (then use sluice_batch_get). The text is a JSON object equal to the
 * record, on one line, starting with '{' and ending with '}'; it is the
 * text as encoded upstream (json_dumpb compact form) or as the source read
 * it, so its spacing need not be compact. Appended text not checked yet is
 * parsed here once: if it is not a JSON object the record is rejected (as
 * by sluice_batch_get) and NULL returned. Lets a sink that writes JSON skip
 * a parse and a dump; valid until the batch is changed. */
const char *sluice_batch_peek_text(sluice_batch *batch, size_t i, size_t *len);

/* Append a record (stolen). Returns 0, or -1 (record freed) on bad args. */
int sluice_batch_append(sluice_batch *batch, json_t *record);

/* Append a record given as JSON text (`len` bytes, copied; need not be NUL-
 * terminated), for sources that read JSON: the text is not parsed here but
 * when a stage first asks for the record, in this process or another (one
 * line from '{' to '}' crosses processes as it is; other text is parsed
 * before it leaves this one), so a record costs one parse however many
 * stages it crosses. Text that is not one JSON object is rejected to the
 * dead-letter queue then, as {"raw": text}, as this stage's, with the
 * reason "ORIGIN: invalid
 * JSON at column C: ..." (or "ORIGIN: not a JSON object"); `origin` (copied,
 * may be NULL) names where the text came from, e.g. "orders.jsonl:42".
 * Returns 0, or -1 on bad args or ENOMEM. */
int sluice_batch_append_text(sluice_batch *batch, const char *text, size_t len,
                             const char *origin);

/* Drop record i: filtered on purpose, not an error, not sent further. */
void sluice_batch_drop(sluice_batch *batch, size_t i);

/* sluice_batch_drop, saying why (`reason` copied, may be NULL), e.g.
 * "stale: as_of 2026-11-07 is older than the member's state". The core
 * logs it when the record is one `sluice dlq replay` sent back, so an
 * operator sees what became of it; other drops stay silent. */
void sluice_batch_drop_because(sluice_batch *batch, size_t i, const char *reason);

/* Reject record i: it goes to the dead-letter queue with `reason` (copied)
 * and the stage name; it is not sent further. */
void sluice_batch_reject(sluice_batch *batch, size_t i, const char *reason);

/* Sinks: set record i's outcome; `reason` (copied, may be NULL) is stored
 * with REJECTED records in the dead-letter queue. */
void sluice_batch_set_outcome(sluice_batch *batch, size_t i,
                              sluice_outcome outcome, const char *reason);

/* Current outcome of record i. */
sluice_outcome sluice_batch_outcome(const sluice_batch *batch, size_t i);

/* Sources: attach the checkpoint reached after this batch (stolen). */
void sluice_batch_set_checkpoint(sluice_batch *batch, json_t *checkpoint);

/* ------------------------------------------------------------------ */
/* Stage context services.                                            */
/* ------------------------------------------------------------------ */
typedef enum sluice_log_level {
    SLUICE_LOG_ERROR = 0,
    SLUICE_LOG_WARN = 1,
    SLUICE_LOG_INFO = 2,
    SLUICE_LOG_DEBUG = 3
} sluice_log_level;

/* Log a line tagged with pipeline and stage names. Secret option values
 * are masked in the output. */
void sluice_log(sluice_ctx *ctx, sluice_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the message a person sees when the stage returns SLUICE_FATAL,
 * e.g. "API key rejected by Ometria (HTTP 401)". The core prefixes it with
 * the stage name. */
void sluice_fail(sluice_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ask the core to wait at least `seconds` before the next retry (a
 * Retry-After hint); it still applies its own backoff and jitter. */
void sluice_retry_after(sluice_ctx *ctx, double seconds);

/* Names. Borrowed, valid for the stage's lifetime. */
const char *sluice_stage_name(const sluice_ctx *ctx);
const char *sluice_pipeline_name(const sluice_ctx *ctx);

/* The pipeline's state directory (for plugin files such as spools). */
const char *sluice_state_dir(const sluice_ctx *ctx);

/* 1 when running `sluice run --once`, else 0. */
int sluice_run_once(const sluice_ctx *ctx);

/* 1 once the core asked the pipeline to stop: sources should return
 * SLUICE_EOF soon. */
int sluice_stopping(const sluice_ctx *ctx);

/* Sources, from init(): `fd` (a file descriptor the plugin owns, e.g. an
 * eventfd or a pipe's read end) turns readable when poll() has something
 * new. After poll() returned SLUICE_AGAIN the core then sleeps until `fd`
 * is readable (or acks, a replay, a stop come) instead of calling poll()
 * again every few milliseconds: an idle pipeline costs no CPU. poll()
 * must make `fd` unreadable again (read the eventfd) before it looks for
 * new data, or the core calls it again at its old pace; the core only
 * waits on it, never reads or closes it, and keeps pacing poll() under
 * `sluice run --once`. A plugin that also has work on a clock (a periodic
 * sync) says when with sluice_retry_after(ctx, seconds) before it returns
 * SLUICE_AGAIN: the core calls poll() then at the latest. The descriptor
 * is unchanged (no ABI bump); a plugin
 * calling this does not load into a core older than the call.
 * Returns 0, or -1 when `ctx` is not a source's or `fd` is negative. */
int sluice_source_wake_fd(sluice_ctx *ctx, int fd);

/* Sources: how far a full read has got, for the `sluice run --once`
 * progress line and the admin endpoint (sluice_source_position and
 * sluice_source_position_end): `position` items read of `end` (end <= 0:
 * not known yet). An item is the source's unit: a record where it can
 * count them (annexcloud-source's api mode: members read of the members
 * its searches listed), else a byte (a feed file read of its size). Call
 * it from init() or poll() whenever the figures move; it only stores
 * them (the stage's statistics file takes them with its next write).
 * Adding it changed no descriptor (no ABI bump); a plugin calling it
 * does not load into a core older than the call. Returns 0, or -1 when
 * `ctx` is not a source's. */
int sluice_source_progress(sluice_ctx *ctx, double position, double end);

/* Sources that keep a spool (events accepted, e.g. by a webhook
 * listener, and not acknowledged end to end yet): `depth` entries wait,
 * the oldest received at `oldest_at` (Unix time in seconds; 0 when the
 * spool is empty). Exported by the admin endpoint as
 * sluice_source_spool_depth and sluice_source_spool_oldest_age_seconds.
 * Unlike the other calls it may come from any thread of the plugin (a
 * listener's, when it stored an event), so the figures move while the
 * source waits for acknowledgements; the statistics file takes them when
 * the stage next wakes. No ABI bump, as for sluice_source_progress.
 * Returns 0, or -1 when `ctx` is not a source's. */
int sluice_source_spool(sluice_ctx *ctx, double depth, double oldest_at);

/* Sinks, from init() or write(): have write() called within `seconds`
 * even when no batch comes, with a batch of no records (its count 0; state
 * written with sluice_state_put under it is never committed: use
 * sluice_state_put_now), for work the sink does on a clock (a queue of
 * requests paced by the destination, statuses to poll). The earliest time
 * asked for wins; it is forgotten once write() is called with an empty
 * batch, so ask again from there while work remains. A batch that comes
 * first is written as usual (the empty call still follows when due). The
 * descriptor is unchanged (no ABI bump); a plugin calling this does not
 * load into a core older than the call. Returns 0, or -1 when `ctx` is not
 * a sink's or seconds is negative. */
int sluice_sink_call_after(sluice_ctx *ctx, double seconds);

/* Sources: the last committed checkpoint (new reference) or NULL. */
json_t *sluice_checkpoint_get(sluice_ctx *ctx);

/* Add `delta` to a named counter exported as a metric
 * (sluice_plugin_<name>_total{pipeline,stage}). */
void sluice_metric_add(sluice_ctx *ctx, const char *name, double delta);

/* ------------------------------------------------------------------ */
/* State store: per stage, key/value, committed with acknowledgements. */
/* ------------------------------------------------------------------ */

/* Value for `key` (new reference) or NULL. Sees writes staged by batches
 * that are not yet acknowledged, newest first. */
json_t *sluice_state_get(sluice_ctx *ctx, const char *key);

/* Stage `value` (borrowed; copied) for `key` under `batch`. It becomes
 * durable when the batch is acknowledged end to end, and is discarded if
 * the batch is replayed. value NULL deletes the key. Returns 0 or -1. */
int sluice_state_put(sluice_ctx *ctx, sluice_batch *batch, const char *key,
                     const json_t *value);

/* Stage `value` for `key` under `batch` like sluice_state_put, but take
 * over the caller's reference (stolen, also on error) instead of copying
 * it. The caller must not change value, or anything in it, afterwards: the
 * store keeps it until the batch is acknowledged (and serialises it then),
 * and sluice_state_get returns it. value NULL deletes the key. Returns 0
 * or -1. */
int sluice_state_put_new(sluice_ctx *ctx, sluice_batch *batch, const char *key, json_t *value);

/* Call fn(key, value, user) for every key starting with `prefix` (staged
 * writes included, deleted keys skipped). Stops early and returns fn's
 * result if fn returns non-zero; returns 0 or -1 on a store error. */
int sluice_state_foreach(sluice_ctx *ctx, const char *prefix,
                         int (*fn)(const char *key, const json_t *value, void *user),
                         void *user);

/* Durable immediate write outside batch accounting, for spools and
 * sources' own bookkeeping (e.g. a webhook event accepted before 2xx).
 * Returns 0 or -1. */
int sluice_state_put_now(sluice_ctx *ctx, const char *key, const json_t *value);

/* ------------------------------------------------------------------ */
/* HTTP client with the core's failure policy.                        */
/* ------------------------------------------------------------------ */
typedef struct sluice_http_header {
    const char *name;
    const char *value;
} sluice_http_header;

typedef struct sluice_http_request {
    const char *method;          /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *url;
    const sluice_http_header *headers; /* array, may be NULL */
    size_t header_count;
    const char *body;            /* may be NULL */
    size_t body_len;
    long timeout_ms;             /* 0: the stage's http_timeout option */
    int max_attempts;            /* 0: the stage's http_max_attempts (0 = until stopping) */
    const char *throttle;        /* token-bucket name; NULL: "default".
                                    Sinks with per-endpoint limits use one
                                    bucket per endpoint. */
} sluice_http_request;

typedef struct sluice_http_response {
    long status;       /* final HTTP status, 0 if no response */
    char *body;        /* NUL-terminated, owned: sluice_http_response_clear */
    size_t body_len;
    char *headers;     /* raw header block, owned */
    int attempts;      /* how many requests were made */
    char error[256];   /* transport error text when status == 0 */
} sluice_http_response;

/* Classification of a final response. */
typedef enum sluice_http_class {
    SLUICE_HTTP_SUCCESS = 0,   /* 2xx */
    SLUICE_HTTP_RETRYABLE = 1, /* transport error, 408, 429, 5xx */
    SLUICE_HTTP_REJECTED = 2,  /* other 4xx: the request itself is bad */
    SLUICE_HTTP_AUTH = 3,      /* 401, 403: credentials; stop the pipeline */
    SLUICE_HTTP_CONFIG = 4     /* no answer, and none will come as configured:
                                  the server's TLS certificate failed
                                  verification (self-signed, unknown CA,
                                  wrong host name), ca_file cannot be
                                  loaded, or the URL is unusable. Never
                                  retried (status 0); resp->error names the
                                  host, the reason and the fix. Stop the
                                  pipeline like AUTH (sluice_fail, then
                                  SLUICE_FATAL). */
} sluice_http_class;

/* Perform `req`, waiting on the named token bucket before each attempt and
 * retrying retryable answers with exponential backoff and jitter, honouring
 * Retry-After (seconds or HTTP date); a 429 pauses the whole bucket, so
 * every request of the stage on that bucket waits. Stops retrying after
 * max_attempts or when the pipeline is stopping. When it returns
 * RETRYABLE with the server's Retry-After, that wait is recorded as the
 * stage's retry hint (as sluice_retry_after would), so the core's retry of
 * the batch honours it too. In a sink, the core hears that the stage is
 * alive during attempts and waits, however long they take. Fills *resp
 * (always; free with sluice_http_response_clear) and returns its
 * classification. */
sluice_http_class sluice_http(sluice_ctx *ctx, const sluice_http_request *req,
                              sluice_http_response *resp);

/* Report how a sink read a 2xx answer (resp, to `method` `url`) that it
 * counts deliveries from. A 2xx says nothing by itself: a wrong base_url
 * reaching some web server's default page answers 200 too. why NULL: the
 * answer was the destination's and says what happened to every record
 * sent; returns SLUICE_OK. Otherwise `why` says what was wrong (e.g. "the
 * body is not JSON", "it counts 0 of 10 records") and nothing it carried
 * may be counted delivered: the core logs it (warn: status, Content-Type
 * and the start of the body) and counts it (sluice_http_unreadable_total).
 * Returns SLUICE_RETRY while fewer such answers than the stage's budget
 * (its http_max_attempts, else 5) came in a row: set the records it
 * carried to RETRY. Once the budget is spent it calls sluice_fail() with a
 * message naming the plugin, the URL and what came back, and returns
 * SLUICE_FATAL: return that from write(). A readable answer (why NULL)
 * starts the count again. Call it on the write() thread (it may call
 * sluice_fail). */
sluice_status sluice_http_answer(sluice_ctx *ctx, const char *method, const char *url,
                                 const sluice_http_response *resp, const char *why);

/* Classify a status code (0 = transport error) per the policy above. */
sluice_http_class sluice_http_classify(long status);

/* Value of response header `name` (case-insensitive) as a new string
 * (free()), or NULL. */
char *sluice_http_header_get(const sluice_http_response *resp, const char *name);

/* Free what *resp owns and zero it. */
void sluice_http_response_clear(sluice_http_response *resp);

/* Configure (or reconfigure) a named token bucket: `rate` requests per
 * second, `burst` tokens. rate <= 0 disables throttling for it. */
void sluice_http_throttle(sluice_ctx *ctx, const char *bucket, double rate, double burst);

/* Limit how many of this stage's sluice_http attempts are in flight at
 * once, across all the plugin's threads: at most `max_in_flight`
 * (1..1024). With `adaptive` 1 the core adapts the limit below that (ARC:
 * it starts at 1, grows while response times stay near their observed
 * baseline, halves on 429, 408, 5xx or no answer, cuts by 10 % when
 * response times rise past the baseline, and stays within what the
 * stage's rate_limit can use) and, once the server answered 429, paces
 * the attempts' starts to a little under the rate it let through
 * (learned again at each 429, probed upward while none comes; the gauge
 * sluice_http_paced_rate); with 0 the limit is max_in_flight. A plugin
 * runs at least max_in_flight threads calling sluice_http for the limit to
 * matter; those beyond the limit wait in sluice_http (a waiting sink is
 * reported alive). The limit is the stage's counter
 * sluice_http_concurrency_limit (a gauge, exported by the admin endpoint)
 * and each change is logged at debug. Call it once, from init() (or
 * before the threads start); a second call changes nothing. The
 * descriptor is unchanged (no ABI bump); a plugin calling this does not
 * load into a core older than the call. Returns 0, or -1 when
 * max_in_flight is out of range, it was called already, or out of
 * memory. */
int sluice_http_concurrency(sluice_ctx *ctx, int max_in_flight, int adaptive);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_PLUGIN_H */
