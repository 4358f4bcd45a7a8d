/* pipeline.h: a pipeline definition as read from a libconfig file and
 * validated against the plugins' option tables (implemented in config.c). */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "sluice/plugin.h"
#include "registry.h"

/* Exit code for a configuration error (sysexits EX_CONFIG). */
#define SLUICE_EXIT_CONFIG 78

/* Human-readable errors, each "FILE:LINE: stage 'x' (plugin y): message".
 * `text` is the first; `all` every one found, a line each (a loader that
 * can go on after an error reports the rest too: `sluice check` shows them
 * all at once), `count` how many (0: none). Errors past the room in `all`
 * are counted, not shown. */
typedef struct sluice_error {
    char text[1024];
    size_t count;
    char all[16384];
} sluice_error;

/* Empty `err` (no error). */
void sluice_error_clear(sluice_error *err);

/* Add one error line (printf-style) to `err`: the first one also goes to
 * err->text. */
void sluice_error_add(sluice_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print every error of `err` to `out`, one a line, each after `prefix`
 * (may be ""), registered secrets masked (log.h), then "(N more errors not
 * shown)" when `all` ran out of room. Prints nothing when there is none. */
void sluice_error_print(const sluice_error *err, FILE *out, const char *prefix);

/* Most processes one stage may run as (the stage key `instances`). */
#define SLUICE_INSTANCES_MAX 64

/* Options every stage accepts besides its plugin's own table. */
typedef struct sluice_stage_common {
    char *group;               /* placement group: stages with the same group
                                  run as threads of one process (inproc://);
                                  NULL = a process of their own */
    char *endpoint;            /* input endpoint override (ipc:// or tcp://);
                                  NULL = ipc://<runtime_dir>/<stage>.data */
    int instances;             /* processes running the stage at once (1 by
                                  default; > 1 only for a transform whose
                                  plugin is SLUICE_PLUGIN_STATELESS, not
                                  grouped, external or given an endpoint) */
    int hwm;                   /* ZeroMQ high-water mark, in batches */
    double rate_limit;         /* requests/s for the default HTTP bucket; 0 = none */
    double burst;              /* token-bucket size */
    long http_timeout_ms;
    int http_max_attempts;     /* 0 = retry until stopping */
    long retry_max_backoff_ms;
    char *ca_file;             /* NULL = system CAs */
    int tls_verify;            /* 1 by default */
    int external;              /* added by AREA=runtime: stage key `external`
                                  (bool, default false; to be parsed by
                                  config.c): the stage runs elsewhere with
                                  `sluice run --stage NAME`, so `sluice run`
                                  does not start it (same as --except NAME) */
    /* Link security and limits (config_link.c, curve.h). */
    char *curve_public_key;    /* the stage's CURVE public key (Z85): the
                                  server key of its tcp input, its client
                                  key towards a tcp downstream; NULL = none */
    char *curve_secret_key_file; /* absolute path of its secret key file,
                                  read only where the stage runs */
    json_t *curve_clients;     /* array of Z85 keys its input admits besides
                                  its upstream stage's (owned; NULL = none) */
    int insecure_tcp;          /* a tcp endpoint off loopback without keys is
                                  accepted (warned at every start) */
    long long max_frame_bytes; /* largest frame its input takes; 0 = default
                                  (sluice_link_frame_max) */
} sluice_stage_common;

typedef struct sluice_stage_def {
    char *name;                /* unique within the pipeline */
    char *plugin_name;
    const sluice_plugin *plugin; /* borrowed from the registry */
    json_t *config;            /* validated plugin options, defaults filled,
                                  ${ENV}/@file: resolved (owned) */
    json_t *secret_values;     /* array of strings to mask in output (owned) */
    sluice_stage_common common;
    char *file;                /* where the stage is defined */
    int line;
} sluice_stage_def;

typedef struct sluice_pipeline_def {
    char *name;
    char *file;                /* path of the pipeline file */
    char *state_dir;           /* SQLite state, DLQ, spools */
    char *runtime_dir;         /* ipc:// sockets; default <state_dir>/run */
    size_t batch_size;         /* records per batch (default 500) */
    long batch_linger_ms;      /* max wait to fill a batch (default 200) */
    int window;                /* max unacknowledged batches (default 8) */
    long ack_timeout_ms;       /* rewind when the oldest batch waits longer */
    int restart_max;           /* crashes tolerated within restart_window_s */
    long restart_window_s;
    long restart_backoff_ms;   /* first restart delay, doubled per crash */
    sluice_stage_def *stages;  /* in pipeline order: source first, sink last */
    size_t stage_count;
} sluice_pipeline_def;

/* The instance numbers a stage runs as: 1..instances for a stage run as
 * several processes, else just 0 (first == last == 0). */
static inline unsigned sluice_stage_first_instance(const sluice_stage_def *stage)
{
    return stage->common.instances > 1 ? 1u : 0u;
}

static inline unsigned sluice_stage_last_instance(const sluice_stage_def *stage)
{
    return stage->common.instances > 1 ? (unsigned)stage->common.instances : 0u;
}

/* Read, interpolate and validate the pipeline at `path`: pipeline keys,
 * stage keys and every plugin option against its table (type, range,
 * choices, kind), the stages' order, endpoints and links, then each
 * plugin's check() over the stages that loaded cleanly. Plugins are looked
 * up in `reg` (they must be loaded already). On success returns 0 and sets
 * *out (caller owns; sluice_pipeline_free). On error returns -1 and fills
 * *err with every error found, each "FILE:LINE: ..." naming what is wrong
 * (the loader goes on past an error wherever what follows does not depend
 * on it); nothing is started. */
int sluice_pipeline_load(const char *path, sluice_registry *reg,
                         sluice_pipeline_def **out, sluice_error *err);

/* sluice_pipeline_load_flags: for commands that need a pipeline's
 * state_dir and stages, not its plugins' settings (`sluice dlq`). A plugin
 * option declared secret, or given as @file:, is not resolved (no
 * variable is looked up, no file read), nor is one that cannot be (e.g.
 * its ${VAR} is unset): each holds "********"; a stage's CURVE secret key
 * file is not opened. Everything else is resolved and checked as usual
 * (checks of option values, kinds and plugins' check() must not judge the
 * options left so). A definition loaded so must not run. */
#define SLUICE_LOAD_NO_SECRETS 1u

/* sluice_pipeline_load with `flags` (SLUICE_LOAD_*, 0 for none). */
int sluice_pipeline_load_flags(const char *path, sluice_registry *reg, unsigned flags,
                               sluice_pipeline_def **out, sluice_error *err);

/* Free a definition and NULL the caller's pointer. */
void sluice_pipeline_free(sluice_pipeline_def **def_p);

/* Write the pipeline as libconfig text with secrets shown as ********
 * (for `sluice check --print`). Returns 0 or -1. */
int sluice_pipeline_print(const sluice_pipeline_def *def, FILE *out);

/* Look up a stage by name; NULL if absent. Borrowed. */
const sluice_stage_def *sluice_pipeline_stage(const sluice_pipeline_def *def,
                                              const char *name);
#endif
