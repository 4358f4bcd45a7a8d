/* config_load.h: what the parts of the pipeline loader share (config.c
 * the pipeline, config_stage.c a stage, config_read.c the file,
 * config_error.c the errors); private to core/lib. */
#ifndef SLUICE_CONFIG_LOAD_H
#define SLUICE_CONFIG_LOAD_H

#include <stddef.h>
#include <libconfig.h>
#include "pipeline.h"
#include "registry.h"

/* What an option left unresolved (SLUICE_LOAD_NO_SECRETS) holds. */
#define MASK "********"

/* What the loader is working on, for error messages. */
typedef struct load_ctx {
    const char *path;     /* pipeline file as given */
    char *base_dir;       /* absolute directory of the pipeline file */
    sluice_error *err;
    const char *stage;    /* current stage name, or NULL */
    const char *plugin;   /* current plugin name, or NULL */
    int stage_index;      /* 1-based, 0 outside stages */
    json_t *secrets;      /* where @file: / secret values go, or NULL */
    int leave_secrets;    /* SLUICE_LOAD_NO_SECRETS: plugin options that hold
                             secrets (or cannot be resolved) are left as
                             MASK, and no CURVE secret key file is read;
                             checks of option values must skip them */
    const char *include_dir; /* where its @include names resolve (include_path.h) */
    int stage_line;       /* line of the stage being read in the pipeline file
                             (0: none), where an error in a value from an
                             included file finds the @include that brought it */
} load_ctx;

/* Where a setting that overrides an included one was written (a hook on
 * it and on what it holds; libconfig keeps no line for settings added
 * after the parse). */
typedef struct cfgload_origin {
    int line;
} cfgload_origin;

/* The line `where` was defined on (its origin hook's when it has one). */
int cfgload_line(const config_setting_t *where);

/* Where `where` was defined: libconfig names @include'd files as written,
 * so a relative one is shown under the include directory. Writes into buf
 * (len bytes) and returns it. */
const char *cfgload_source_file(const load_ctx *lc, const config_setting_t *where, char *buf,
                                size_t len);

/* Add to lc->err "FILE:LINE: [stage 'x' (plugin y): ]message" where
 * FILE:LINE is where `where` was defined (the pipeline file if NULL). */
void cfgload_fail_at(load_ctx *lc, const config_setting_t *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report an unknown key, suggesting the closest of `names` (NULL-
 * terminated) or of the option table `options` (may be NULL). */
void cfgload_fail_unknown(load_ctx *lc, const config_setting_t *setting, const char *what,
                          const char *const *names, const sluice_option *options);

/* Name of a libconfig type as users know it ("int", "string", ...). */
const char *cfgload_type_name(const config_setting_t *setting);

/* The string value of group member `key`: NULL if absent (*missing = 1),
 * else a new interpolated string. On error returns NULL with *missing 0
 * (error reported). */
char *cfgload_get_string(load_ctx *lc, const config_setting_t *group, const char *key,
                         int *missing);

/* 1 if `text` is non-empty and only [A-Za-z0-9_.-]. */
int cfgload_identifier_valid(const char *text);

/* `path` made absolute against lc->base_dir. New string or NULL (OOM). */
char *cfgload_absolute_path(const load_ctx *lc, const char *path);

/* Load one stage from list element `group` into `stage`, reporting every
 * error: its name and plugin, its stage keys, its plugin options.
 * *options_ok is 1 when its plugin options were read without an error
 * (its plugin's check() may run). Returns 0, or -1 when any error was
 * reported. */
int cfgload_stage(load_ctx *lc, sluice_registry *reg, const config_setting_t *group,
                  sluice_stage_def *stage, int *options_ok);

/* Read `path` with libconfig into *cfg (initialised here; caller destroys
 * it), its @include names resolved in the directory of the include search
 * path that holds them (include_path.h), written into include_dir
 * (PATH_MAX bytes). Returns 0 or -1 with the error added to err. */
int cfgload_read(const char *path, const char *base_dir, char *include_dir, config_t *cfg,
                 sluice_error *err);

/* Absolute directory of `path` (new string) or NULL with errno. */
char *cfgload_directory_of(const char *path);
#endif
