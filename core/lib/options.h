/* options.h: helpers shared by the plugin loader and the pipeline reader
 * for plugin option tables: stage-common (reserved) keys, type names,
 * textual defaults converted to typed JSON, table validation. */
#ifndef SLUICE_OPTIONS_H
#define SLUICE_OPTIONS_H

#include <stddef.h>
#include <jansson.h>
#include "sluice/plugin.h"

/* Defaults of the stage keys the HTTP client reads, for a context that has
 * no stage definition (the stage-key table shows the same values). */
#define SLUICE_DEFAULT_HTTP_TIMEOUT_MS_VALUE 30000
#define SLUICE_DEFAULT_RETRY_MAX_BACKOFF_MS_VALUE 60000
#define SLUICE_DEFAULT_HTTP_TIMEOUT_MS ((long)SLUICE_DEFAULT_HTTP_TIMEOUT_MS_VALUE)
#define SLUICE_DEFAULT_RETRY_MAX_BACKOFF_MS ((long)SLUICE_DEFAULT_RETRY_MAX_BACKOFF_MS_VALUE)

/* How the core stores a stage key in sluice_stage_common (the row's
 * `offset`): BIND_NONE for the keys read by their own code (name, plugin,
 * group, endpoint, burst, ca_file, the link keys). */
typedef enum sluice_bind {
    SLUICE_BIND_NONE = 0,
    SLUICE_BIND_INT,     /* int */
    SLUICE_BIND_LONG,    /* long */
    SLUICE_BIND_DOUBLE,  /* double */
    SLUICE_BIND_BOOL     /* int 0/1 */
} sluice_bind;

/* A stage key handled by the core for every stage (sluice_stage_common):
 * an option row like a plugin's (type, default, range, kind, help), the
 * only place its default and limits are written, and where it is stored. */
typedef struct sluice_common_key {
    sluice_option option;
    sluice_bind bind;
    size_t offset;        /* into sluice_stage_common when bound */
    const char *shown;    /* default as `sluice plugins NAME` shows it when
                             not a constant (burst, max_frame_bytes); NULL:
                             option.default_value */
} sluice_common_key;

/* The stage-common keys, terminated by a row with option.name NULL.
 * Static data. */
const sluice_common_key *sluice_common_keys(void);

/* 1 if `key` is a stage-common key (name, plugin, group, ...), else 0. */
int sluice_option_is_reserved(const char *key);

/* "string", "int", "bool", "double", "list", "group", or NULL if invalid. */
const char *sluice_opt_type_name(sluice_opt_type type);

/* Convert an option's textual default to JSON of the declared type:
 * STRING as is; INT by strtoll (whole text); DOUBLE by strtod; BOOL from
 * true/false/yes/no/on/off/1/0; LIST and GROUP as JSON text ("[]", "{}").
 * Returns a new reference, or NULL with a short reason in errbuf. */
json_t *sluice_option_default_json(const sluice_option *opt, char *errbuf, size_t errlen);

/* Check a plugin's option table: every row has a name made of
 * [A-Za-z0-9_], a valid type, no duplicate names, no reserved stage key,
 * a well-formed range (numbers only), choices (strings and lists only)
 * and kind (strings only), and a default convertible to its type and
 * inside its range and choices. Returns 0, or -1 with the reason
 * (naming the option) in errbuf. A NULL table is valid (no options). */
int sluice_options_check_table(const sluice_option *options, char *errbuf, size_t errlen);

/* Check a value (of the row's type, as config.c built it) against the
 * row's range, choices and kind. Returns 0, or -1 with a message naming
 * the option, what it must be and the value in errbuf. */
int sluice_option_check_value(const sluice_option *opt, const json_t *value, char *errbuf,
                              size_t errlen);

/* Parse a duration: a non-negative number followed by ms, s, m, h or d
 * ("250ms", "30s", "1.5h"). Returns 0 with *ms set, or -1. */
int sluice_duration_ms(const char *text, long long *ms);

/* The option row named `key`, or NULL. Borrowed from the table. */
const sluice_option *sluice_options_find(const sluice_option *options, const char *key);

/* Levenshtein distance between a and b, capped at 3 (enough to suggest
 * "did you mean" for distances up to 2). */
size_t sluice_edit_distance(const char *a, const char *b);
#endif
