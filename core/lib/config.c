/* config.c: pipeline definitions. Reads a libconfig file (with @include),
 * interpolates ${ENV} and @file: values, validates pipeline keys, stage
 * placement and each stage's options against its plugin's option table,
 * and turns plugin options into typed JSON (docs/configuration.md). */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libconfig.h>

#include "config_check.h"
#include "config_link.h"
#include "curve.h"
#include "interp.h"
#include "log.h"
#include "include_path.h"
#include "options.h"
#include "pipeline.h"
#include "stage_check.h"

#define MASK "********"
/* An unset ack_timeout_ms covers an HTTP transform's silence by this much. */
#define ACK_TIMEOUT_MARGIN_MS 5000L

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
} load_ctx;

static const char *const pipeline_keys[] = {
    "name", "state_dir", "runtime_dir", "batch_size", "batch_linger_ms", "window",
    "ack_timeout_ms", "restart", "stages", NULL
};
static const char *const restart_keys[] = {"max", "window_s", "backoff_ms", NULL};

/* Where `where` was defined: libconfig names @include'd files as written,
 * so a relative one is shown under the include directory. Writes into buf
 * (len bytes) and returns it. */
static const char *source_file(const load_ctx *lc, const config_setting_t *where, char *buf,
                               size_t len)
{
    const char *file = where ? config_setting_source_file(where) : NULL;
    const char *dir = lc->include_dir ? lc->include_dir : lc->base_dir;

    if (!file || strcmp(file, lc->path) == 0 || file[0] == '/' || !dir)
        snprintf(buf, len, "%s", file ? file : lc->path);
    else
        snprintf(buf, len, "%s/%s", dir, file);
    return buf;
}

void sluice_error_clear(sluice_error *err)
{
    err->text[0] = '\0';
    err->all[0] = '\0';
    err->count = 0;
}

void sluice_error_add(sluice_error *err, const char *fmt, ...)
{
    char line[sizeof(err->text)];
    size_t used = strlen(err->all);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (err->count == 0)
        snprintf(err->text, sizeof(err->text), "%s", line);
    err->count++;
    /* whole lines only: one that does not fit is counted, not shown */
    if (used + strlen(line) + 2 <= sizeof(err->all))
        snprintf(err->all + used, sizeof(err->all) - used, "%s%s", used ? "\n" : "", line);
}

void sluice_error_print(const sluice_error *err, FILE *out, const char *prefix)
{
    const char *line = err->count ? err->all : err->text;
    size_t shown = 0;

    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char text[sizeof(err->text)];
        char masked[2 * sizeof(err->text)];

        snprintf(text, sizeof(text), "%.*s", (int)len, line);
        fprintf(out, "%s%s\n", prefix, sluice_log_mask(text, masked, sizeof(masked)));
        shown++;
        line = end ? end + 1 : line + len;
    }
    if (err->count > shown)
        fprintf(out, "%s(%zu more errors not shown)\n", prefix, err->count - shown);
}

/* Add to lc->err "FILE:LINE: [stage 'x' (plugin y): ]message" where
 * FILE:LINE is where `where` was defined (the pipeline file if NULL). */
static void fail_at(load_ctx *lc, const config_setting_t *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(load_ctx *lc, const config_setting_t *where, const char *fmt, ...)
{
    char file[PATH_MAX];
    char message[sizeof(lc->err->text)];
    char prefix[256] = "";
    unsigned line = where ? config_setting_source_line(where) : 0;
    va_list ap;

    source_file(lc, where, file, sizeof(file));
    if (line == 0)
        line = 1;
    if (lc->stage && lc->plugin)
        snprintf(prefix, sizeof(prefix), "stage '%s' (plugin %s): ", lc->stage, lc->plugin);
    else if (lc->stage)
        snprintf(prefix, sizeof(prefix), "stage '%s': ", lc->stage);
    else if (lc->stage_index > 0)
        snprintf(prefix, sizeof(prefix), "stage #%d: ", lc->stage_index);
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    sluice_error_add(lc->err, "%s:%u: %s%s", file, line, prefix, message);
}

/* Name of a libconfig type as users know it. */
static const char *setting_type_name(const config_setting_t *setting)
{
    switch (config_setting_type(setting)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "int";
    case CONFIG_TYPE_FLOAT: return "double";
    case CONFIG_TYPE_STRING: return "string";
    case CONFIG_TYPE_BOOL: return "bool";
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: return "list";
    case CONFIG_TYPE_GROUP: return "group";
    default: return "nothing";
    }
}

/* Consider `candidate` as a suggestion for `key`. */
static void consider(const char *key, const char *candidate, const char **best,
                     size_t *best_distance)
{
    size_t distance = sluice_edit_distance(key, candidate);
    if (distance <= 2 && distance < *best_distance) {
        *best = candidate;
        *best_distance = distance;
    }
}

/* Report an unknown key, suggesting the closest of `names` (NULL-
 * terminated) or of the option table `options` (may be NULL). */
static void fail_unknown(load_ctx *lc, const config_setting_t *setting, const char *what,
                         const char *const *names, const sluice_option *options)
{
    const char *key = config_setting_name(setting);
    const char *best = NULL;
    size_t best_distance = 3;

    for (size_t i = 0; names && names[i]; i++)
        consider(key, names[i], &best, &best_distance);
    for (size_t i = 0; options && options[i].name; i++)
        consider(key, options[i].name, &best, &best_distance);
    if (best)
        fail_at(lc, setting, "unknown %s '%s' (did you mean '%s'?)", what, key, best);
    else
        fail_at(lc, setting, "unknown %s '%s'", what, key);
}

/* Interpolate a string setting's value. New string or NULL (error set).
 * Values read with @file: are added to lc->secrets and the log masks. */
static char *interpolate_setting(load_ctx *lc, const config_setting_t *setting, int secret)
{
    char reason[512];
    int from_file = 0;
    char *value = sluice_interpolate(config_setting_get_string(setting), lc->base_dir,
                                     &from_file, reason, sizeof(reason));

    if (!value) {
        fail_at(lc, setting, "%s", reason);
        return NULL;
    }
    if (from_file || secret) {
        sluice_log_add_secret(value);
        if (lc->secrets && *value)
            json_array_append_new(lc->secrets, json_string(value));
    }
    return value;
}

/* The string value of group member `key`: NULL if absent (*missing = 1),
 * else a new interpolated string. On error returns NULL with *missing 0. */
static char *get_string(load_ctx *lc, const config_setting_t *group, const char *key,
                        int *missing)
{
    const config_setting_t *setting = config_setting_get_member(group, key);

    *missing = 0;
    if (!setting) {
        *missing = 1;
        return NULL;
    }
    if (config_setting_type(setting) != CONFIG_TYPE_STRING) {
        fail_at(lc, setting, "'%s' expects string, got %s", key, setting_type_name(setting));
        return NULL;
    }
    return interpolate_setting(lc, setting, 0);
}

/* Integer member `key` in [min, max], *out untouched when absent.
 * Returns 0 or -1 (error set). */
static int get_integer(load_ctx *lc, const config_setting_t *group, const char *key,
                       long long min, long long max, long long *out)
{
    const config_setting_t *setting = config_setting_get_member(group, key);
    long long value;

    if (!setting)
        return 0;
    if (config_setting_type(setting) != CONFIG_TYPE_INT &&
        config_setting_type(setting) != CONFIG_TYPE_INT64) {
        fail_at(lc, setting, "'%s' expects int, got %s", key, setting_type_name(setting));
        return -1;
    }
    value = config_setting_get_int64(setting);
    if (value < min || value > max) {
        fail_at(lc, setting, "'%s' must be between %lld and %lld, got %lld", key, min, max,
                value);
        return -1;
    }
    *out = value;
    return 0;
}

/* 1 if `text` is non-empty and only [A-Za-z0-9_.-]. */
static int identifier_valid(const char *text)
{
    if (!text || !*text)
        return 0;
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* 1 if `endpoint` is ipc://PATH or tcp://HOST:PORT (PORT 1..65534: the
 * stage's acks bind PORT+1). */
static int endpoint_valid(const char *endpoint)
{
    const char *host;
    const char *colon;
    char *end = NULL;
    long port;

    if (strncmp(endpoint, "ipc://", 6) == 0)
        return endpoint[6] != '\0';
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return 0;
    host = endpoint + 6;
    colon = strrchr(host, ':');
    if (!colon || colon == host)
        return 0;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return errno == 0 && end != colon + 1 && *end == '\0' && port >= 1 && port <= 65534;
}

/* Make `path` absolute against lc->base_dir. New string or NULL (OOM). */
static char *absolute_path(const load_ctx *lc, const char *path)
{
    size_t len;
    char *joined;

    if (path[0] == '/')
        return strdup(path);
    len = strlen(lc->base_dir) + 1 + strlen(path) + 1;
    joined = malloc(len);
    if (joined)
        snprintf(joined, len, "%s/%s", lc->base_dir, path);
    return joined;
}

/* With SLUICE_LOAD_NO_SECRETS, the value a plugin option's string gets
 * without being resolved: "********" for a secret option or an @file:
 * value (neither is read: no environment variable, no file), and for any
 * other value whose ${VAR} is not set (a dlq command run from a shell
 * without the service's environment). Returns a new string, NULL when the
 * value is to be resolved as usual, or NULL with *failed set (ENOMEM,
 * error set). */
static char *unresolved_value(load_ctx *lc, const config_setting_t *setting, int secret,
                              int *failed)
{
    const char *raw = config_setting_get_string(setting);
    char reason[512];
    int from_file = 0;
    char *value = NULL;

    *failed = 0;
    if (!lc->leave_secrets)
        return NULL;
    if (!secret && strncmp(raw, "@file:", 6) != 0) {
        /* resolved now only to see whether it can be; not kept */
        value = sluice_interpolate(raw, lc->base_dir, &from_file, reason, sizeof(reason));
        if (value) {
            free(value);
            return NULL;
        }
    }
    value = strdup(MASK);
    if (!value) {
        *failed = 1;
        fail_at(lc, setting, "out of memory");
    }
    return value;
}

/* Convert a setting to JSON (strings interpolated; all strings secret when
 * `secret`). New reference or NULL (error set). */
static json_t *setting_to_json(load_ctx *lc, const config_setting_t *setting, int secret)
{
    json_t *value = NULL;

    switch (config_setting_type(setting)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        value = json_integer((json_int_t)config_setting_get_int64(setting));
        break;
    case CONFIG_TYPE_FLOAT:
        value = json_real(config_setting_get_float(setting));
        break;
    case CONFIG_TYPE_BOOL:
        value = json_boolean(config_setting_get_bool(setting));
        break;
    case CONFIG_TYPE_STRING: {
        int failed;
        char *text = unresolved_value(lc, setting, secret, &failed);
        if (!text && !failed)
            text = interpolate_setting(lc, setting, secret);
        if (!text)
            return NULL;
        value = json_string(text);
        free(text);
        break;
    }
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_GROUP: {
        int is_group = config_setting_type(setting) == CONFIG_TYPE_GROUP;
        int count = config_setting_length(setting);
        value = is_group ? json_object() : json_array();
        for (int i = 0; value && i < count; i++) {
            const config_setting_t *element = config_setting_get_elem(setting, (unsigned)i);
            json_t *converted = setting_to_json(lc, element, secret);
            int rc;
            if (!converted) {
                json_decref(value);
                return NULL;
            }
            rc = is_group ? json_object_set_new(value, config_setting_name(element), converted)
                          : json_array_append_new(value, converted);
            if (rc != 0) {
                json_decref(value);
                value = NULL;
            }
        }
        break;
    }
    default:
        break;
    }
    if (!value)
        fail_at(lc, setting, "out of memory");
    return value;
}

/* 1 if the setting's type is acceptable for `opt`. */
static int type_matches(const sluice_option *opt, const config_setting_t *setting)
{
    int type = config_setting_type(setting);

    switch (opt->type) {
    case SLUICE_OPT_STRING: return type == CONFIG_TYPE_STRING;
    case SLUICE_OPT_INT: return type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
    case SLUICE_OPT_BOOL: return type == CONFIG_TYPE_BOOL;
    case SLUICE_OPT_DOUBLE:
        return type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64 || type == CONFIG_TYPE_FLOAT;
    case SLUICE_OPT_LIST: return type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
    case SLUICE_OPT_GROUP: return type == CONFIG_TYPE_GROUP;
    }
    return 0;
}

/* Read the link-security keys of `group` (config_link.c). 0 or -1. */
static int load_link_keys(load_ctx *lc, const config_setting_t *group,
                          sluice_stage_common *common)
{
    const config_setting_t *where = NULL;
    char why[768];

    if (sluice_config_link_load(group, lc->base_dir, !lc->leave_secrets, common, &where, why,
                                sizeof(why)) == 0)
        return 0;
    fail_at(lc, where ? where : group, "%s", why);
    return -1;
}

/* Store JSON `value` (of the row's type) where stage key `key` binds in
 * `common`. */
static void bind_common_key(const sluice_common_key *key, const json_t *value,
                            sluice_stage_common *common)
{
    char *field = (char *)common + key->offset;

    switch (key->bind) {
    case SLUICE_BIND_INT: *(int *)(void *)field = (int)json_integer_value(value); break;
    case SLUICE_BIND_LONG: *(long *)(void *)field = (long)json_integer_value(value); break;
    case SLUICE_BIND_DOUBLE: *(double *)(void *)field = json_number_value(value); break;
    case SLUICE_BIND_BOOL: *(int *)(void *)field = json_is_true(value); break;
    case SLUICE_BIND_NONE: break;
    }
}

/* The JSON value of stage key `key` in `group`: the setting's, checked
 * against the row's type, range and kind, or the row's default when the
 * setting is absent. New reference, or NULL (absent without a default, or
 * an error reported). */
static json_t *stage_key_value(load_ctx *lc, const config_setting_t *group,
                               const sluice_common_key *key)
{
    const sluice_option *opt = &key->option;
    const config_setting_t *setting = config_setting_get_member(group, opt->name);
    char reason[512];
    json_t *value;

    if (!setting)
        return opt->default_value ? sluice_option_default_json(opt, reason, sizeof(reason))
                                  : NULL;
    if (!type_matches(opt, setting)) {
        fail_at(lc, setting, "'%s' expects %s, got %s", opt->name,
                sluice_opt_type_name(opt->type), setting_type_name(setting));
        return NULL;
    }
    value = setting_to_json(lc, setting, 0);
    if (value && sluice_option_check_value(opt, value, reason, sizeof(reason)) != 0) {
        fail_at(lc, setting, "%s", reason);
        json_decref(value);
        value = NULL;
    }
    return value;
}

/* Parse the stage-common keys of `group` into stage->common from the
 * stage-key table (options.c: types, defaults, ranges), reporting every
 * error. 0, or -1 when any was reported. */
static int load_common(load_ctx *lc, const config_setting_t *group, sluice_stage_def *stage)
{
    sluice_stage_common *common = &stage->common;
    size_t errors_before = lc->err->count;
    int missing;
    json_t *burst;

    for (const sluice_common_key *key = sluice_common_keys(); key->option.name; key++) {
        json_t *value;
        if (key->bind == SLUICE_BIND_NONE)
            continue;
        value = stage_key_value(lc, group, key);
        if (value)
            bind_common_key(key, value, common);
        json_decref(value);
    }
    /* burst defaults to what rate_limit allows in one second, at least 1 */
    common->burst = common->rate_limit > 1 ? common->rate_limit : 1;
    for (const sluice_common_key *key = sluice_common_keys(); key->option.name; key++) {
        if (strcmp(key->option.name, "burst") == 0 &&
            (burst = stage_key_value(lc, group, key)) != NULL) {
            common->burst = json_number_value(burst);
            json_decref(burst);
        }
    }

    common->group = get_string(lc, group, "group", &missing);
    if (common->group && !identifier_valid(common->group))
        fail_at(lc, config_setting_get_member(group, "group"),
                "'group' must match [A-Za-z0-9_.-]+, got \"%s\"", common->group);
    common->endpoint = get_string(lc, group, "endpoint", &missing);
    if (common->endpoint && !endpoint_valid(common->endpoint))
        fail_at(lc, config_setting_get_member(group, "endpoint"),
                "'endpoint' must be ipc://PATH or tcp://HOST:PORT with PORT in 1..65534 "
                "(acks use PORT+1), got \"%s\"",
                common->endpoint);
    common->ca_file = get_string(lc, group, "ca_file", &missing);
    if (common->ca_file) {
        char *absolute = absolute_path(lc, common->ca_file);
        free(common->ca_file);
        common->ca_file = absolute;
        if (!absolute)
            fail_at(lc, group, "out of memory");
        else if (access(common->ca_file, R_OK) != 0)
            fail_at(lc, config_setting_get_member(group, "ca_file"), "cannot read ca_file %s: %s",
                    common->ca_file, strerror(errno));
    }
    load_link_keys(lc, group, common);
    return lc->err->count > errors_before ? -1 : 0;
}

/* Validate the plugin options of stage `group` against its plugin's
 * table (type, then range, choices and kind) and build stage->config,
 * reporting every error. Returns 0, or -1 when any was reported. */
static int load_options(load_ctx *lc, const config_setting_t *group, sluice_stage_def *stage)
{
    const sluice_option *options = stage->plugin->options;
    int count = config_setting_length(group);
    size_t errors_before = lc->err->count;
    char reason[512];

    stage->config = json_object();
    if (!stage->config) {
        fail_at(lc, group, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        const config_setting_t *setting = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(setting);
        const sluice_option *opt;
        json_t *value;

        if (sluice_option_is_reserved(key))
            continue;
        opt = sluice_options_find(options, key);
        if (!opt) {
            const char *common_names[24];
            size_t n = 0;
            for (const sluice_common_key *k = sluice_common_keys(); k->option.name && n < 23;
                 k++)
                common_names[n++] = k->option.name;
            common_names[n] = NULL;
            fail_unknown(lc, setting, "option", common_names, options);
            continue;
        }
        if (!type_matches(opt, setting)) {
            fail_at(lc, setting, "option '%s' expects %s, got %s", key,
                    sluice_opt_type_name(opt->type), setting_type_name(setting));
            continue;
        }
        value = setting_to_json(lc, setting, opt->secret);
        if (!value)
            continue;
        if (opt->type == SLUICE_OPT_DOUBLE && json_is_integer(value)) {
            json_t *real = json_real((double)json_integer_value(value));
            json_decref(value);
            value = real;
        }
        /* a value left unresolved (SLUICE_LOAD_NO_SECRETS) is not judged */
        if (value && !(lc->leave_secrets && json_is_string(value) &&
                       strcmp(json_string_value(value), MASK) == 0) &&
            sluice_option_check_value(opt, value, reason, sizeof(reason)) != 0) {
            fail_at(lc, setting, "%s", reason);
            json_decref(value);
            continue;
        }
        if (!value || json_object_set_new(stage->config, key, value) != 0)
            fail_at(lc, setting, "out of memory");
    }
    for (size_t i = 0; options && options[i].name; i++) {
        const sluice_option *opt = &options[i];
        json_t *value;
        if (config_setting_get_member(group, opt->name))
            continue; /* set: in the config, or reported above */
        if (opt->required) {
            fail_at(lc, group, "missing required option '%s'", opt->name);
            continue;
        }
        if (!opt->default_value)
            continue;
        value = sluice_option_default_json(opt, reason, sizeof(reason));
        if (!value) {
            fail_at(lc, group, "%s", reason);
            continue;
        }
        json_object_set_new(stage->config, opt->name, value);
    }
    return lc->err->count > errors_before ? -1 : 0;
}

/* Load one stage from list element `group` (position index, 1-based). */
static int load_stage(load_ctx *lc, sluice_registry *reg, const config_setting_t *group,
                      sluice_stage_def *stage, int *options_ok)
{
    char reason[1024];
    char file[PATH_MAX];
    int missing;
    int common_result;

    *options_ok = 0;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        fail_at(lc, group, "expects a group { name = ...; plugin = ...; }, got %s",
                setting_type_name(group));
        return -1;
    }
    stage->file = strdup(source_file(lc, group, file, sizeof(file)));
    stage->line = (int)config_setting_source_line(group);
    stage->secret_values = json_array();
    if (!stage->file || !stage->secret_values) {
        fail_at(lc, group, "out of memory");
        return -1;
    }
    lc->secrets = stage->secret_values;
    /* a stage without a usable name is still read for its other errors
     * (named "stage #N" in them); the load fails anyway */
    stage->name = get_string(lc, group, "name", &missing);
    if (!stage->name && missing)
        fail_at(lc, group, "missing 'name'");
    if (stage->name && !identifier_valid(stage->name))
        fail_at(lc, config_setting_get_member(group, "name"),
                "stage name must match [A-Za-z0-9_.-]+, got \"%s\"", stage->name);
    lc->stage = stage->name;
    stage->plugin_name = get_string(lc, group, "plugin", &missing);
    if (!stage->plugin_name) {
        if (missing)
            fail_at(lc, group, "missing 'plugin'");
        return -1;
    }
    stage->plugin = sluice_registry_require(reg, stage->plugin_name, reason, sizeof(reason));
    if (!stage->plugin) {
        fail_at(lc, config_setting_get_member(group, "plugin"), "%s", reason);
        return -1;
    }
    lc->plugin = stage->plugin_name;
    /* both, so that every error of the stage is reported */
    common_result = load_common(lc, group, stage);
    *options_ok = load_options(lc, group, stage) == 0;
    return *options_ok && common_result == 0 ? 0 : -1;
}

static const char *role_name(sluice_role role)
{
    switch (role) {
    case SLUICE_ROLE_SOURCE: return "source";
    case SLUICE_ROLE_TRANSFORM: return "transform";
    case SLUICE_ROLE_SINK: return "sink";
    }
    return "plugin";
}

/* A stage with instances > 1: a transform whose plugin says it keeps no
 * state, in processes of its own on derived endpoints. 0 or -1. */
static int check_instances(load_ctx *lc, const config_setting_t *where,
                           const sluice_stage_def *stage)
{
    const config_setting_t *key = config_setting_get_member(where, "instances");
    const char *why = NULL;

    if (stage->plugin->role != SLUICE_ROLE_TRANSFORM)
        why = "only a middle stage (a transform) can run as several instances";
    else if (!(sluice_plugin_flags(stage->plugin) & SLUICE_PLUGIN_STATELESS))
        why = "the plugin keeps state from batch to batch (it does not declare "
              "SLUICE_PLUGIN_STATELESS), so one process must see every batch in order";
    else if (stage->common.group)
        why = "a stage of a placement group is a thread of the group's process; "
              "remove 'group' or set instances = 1";
    else if (stage->common.endpoint)
        why = "each instance binds an endpoint of its own (<stage>.<k>.data); "
              "remove 'endpoint' or set instances = 1";
    else if (stage->common.external)
        why = "an external stage is one process started by hand; set instances = 1";
    if (!why)
        return 0;
    fail_at(lc, key ? key : where, "instances = %d: %s", stage->common.instances, why);
    return -1;
}

/* What `sluice run` would bind must not clash (check_stages already
 * refused two equal endpoints with a plainer message). 0 or -1. */
static int check_binds(load_ctx *lc, const config_setting_t *stages,
                       const sluice_pipeline_def *def)
{
    char why[768];
    size_t bad;
    const config_setting_t *where;
    const config_setting_t *endpoint;

    if (sluice_pipeline_check_binds(def, &bad, why, sizeof(why)) == 0)
        return 0;
    where = config_setting_get_elem(stages, (unsigned)bad);
    endpoint = where ? config_setting_get_member(where, "endpoint") : NULL;
    lc->stage = def->stages[bad].name;
    lc->plugin = def->stages[bad].plugin_name;
    fail_at(lc, endpoint ? endpoint : where, "%s", why);
    lc->stage = NULL;
    lc->plugin = NULL;
    return -1;
}

/* Hold ack_timeout_ms above the longest silence of a stage that waits on
 * HTTP without heartbeats (sluice_stage_silence_ms: a transform): the
 * source would take that wait for a lost batch, rewind and send the window
 * again, over and over against a hanging server. Left unset it grows to
 * cover the silence (plus a margin); set too low it is an error. 0 or -1. */
static int check_ack_timeout(load_ctx *lc, const config_setting_t *root,
                             sluice_pipeline_def *def)
{
    const config_setting_t *set = config_setting_get_member(root, "ack_timeout_ms");
    long longest = 0;
    size_t worst = 0;

    for (size_t i = 0; i < def->stage_count; i++) {
        long silence = sluice_stage_silence_ms(&def->stages[i], i);
        if (silence > longest) {
            longest = silence;
            worst = i;
        }
    }
    if (longest == 0 || def->ack_timeout_ms > longest)
        return 0;
    if (!set) {
        def->ack_timeout_ms = longest + ACK_TIMEOUT_MARGIN_MS;
        return 0;
    }
    fail_at(lc, set, "'ack_timeout_ms' = %ld must be greater than http_timeout_ms + "
            "retry_max_backoff_ms = %ld + %ld of stage '%s' (plugin %s), a transform that "
            "makes HTTP requests: one hung request and the wait before its retry would look "
            "like a lost batch, and the source would rewind and send its window again (raise "
            "ack_timeout_ms, leave it unset, or lower the stage's two timeouts)",
            def->ack_timeout_ms, def->stages[worst].common.http_timeout_ms,
            def->stages[worst].common.retry_max_backoff_ms, def->stages[worst].name,
            def->stages[worst].plugin_name);
    return -1;
}

/* Check placement, unique names and endpoints. 0 or -1. */
static int check_stages(load_ctx *lc, const config_setting_t *stages, sluice_pipeline_def *def)
{
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];
        const config_setting_t *where = config_setting_get_elem(stages, (unsigned)i);
        sluice_role wanted = i == 0 ? SLUICE_ROLE_SOURCE
                             : i + 1 == def->stage_count ? SLUICE_ROLE_SINK
                                                         : SLUICE_ROLE_TRANSFORM;
        lc->stage = stage->name;
        lc->plugin = stage->plugin_name;
        if (stage->plugin->role != wanted) {
            fail_at(lc, where, "a %s cannot be %s; the %s must be a %s",
                    role_name(stage->plugin->role),
                    i == 0 ? "the first stage"
                           : wanted == SLUICE_ROLE_SINK ? "the last stage" : "a middle stage",
                    i == 0 ? "first stage" : wanted == SLUICE_ROLE_SINK ? "last stage"
                                                                       : "middle stages",
                    role_name(wanted));
            return -1;
        }
        if (stage->common.instances > 1 && check_instances(lc, where, stage) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(def->stages[j].name, stage->name) == 0) {
                fail_at(lc, config_setting_get_member(where, "name"),
                        "stage name already used at %s:%d", def->stages[j].file,
                        def->stages[j].line);
                return -1;
            }
            if (stage->common.endpoint && def->stages[j].common.endpoint &&
                strcmp(stage->common.endpoint, def->stages[j].common.endpoint) == 0) {
                fail_at(lc, config_setting_get_member(where, "endpoint"),
                        "endpoint %s already used by stage '%s'", stage->common.endpoint,
                        def->stages[j].name);
                return -1;
            }
        }
    }
    lc->stage = NULL;
    lc->plugin = NULL;
    return check_binds(lc, stages, def);
}

/* Check how every tcp link is secured (curve.c). 0 or -1. */
static int check_links(load_ctx *lc, const config_setting_t *stages,
                       const sluice_pipeline_def *def)
{
    size_t index = 0;
    const char *key = NULL;
    char why[768];
    const config_setting_t *where;

    if (sluice_pipeline_check_links(def, &index, &key, why, sizeof(why)) == 0)
        return 0;
    where = config_setting_get_elem(stages, (unsigned)index);
    lc->stage = def->stages[index].name;
    lc->plugin = def->stages[index].plugin_name;
    fail_at(lc, key && config_setting_get_member(where, key)
                    ? config_setting_get_member(where, key) : where, "%s", why);
    return -1;
}

/* Where run_plugin_checks sends a plugin's problems. */
typedef struct plugin_check_ctx {
    load_ctx *lc;
    const config_setting_t *stages;
    const sluice_pipeline_def *def;
} plugin_check_ctx;

/* sluice_check_report_fn: one problem a plugin's check() found, reported
 * at its option's line (the stage's when the option is not set there). */
static void report_plugin_problem(void *user, size_t index, const char *option,
                                  const char *text)
{
    plugin_check_ctx *ctx = user;
    const config_setting_t *where = config_setting_get_elem(ctx->stages, (unsigned)index);
    const config_setting_t *member = option && where ? config_setting_get_member(where, option)
                                                     : NULL;

    ctx->lc->stage = ctx->def->stages[index].name;
    ctx->lc->plugin = ctx->def->stages[index].plugin_name;
    if (option && !member)
        fail_at(ctx->lc, where, "option '%s': %s", option, text);
    else
        fail_at(ctx->lc, member ? member : where, "%s", text);
}

/* Run the plugin check() (cross-field rules: stage_check.c) of every
 * stage whose stage_ok[i] is set, reporting each problem. 0, or -1 when
 * any was reported. A check() may look at its neighbours' options: those
 * of a stage in error hold what was read without error. */
static int run_plugin_checks(load_ctx *lc, const config_setting_t *stages,
                             const sluice_pipeline_def *def, const unsigned char *stage_ok)
{
    plugin_check_ctx ctx = {lc, stages, def};
    size_t problems = 0;

    for (size_t i = 0; i < def->stage_count; i++) {
        if (stage_ok[i])
            problems += sluice_check_stage_run(def, i, report_plugin_problem, &ctx);
    }
    lc->stage = NULL;
    lc->plugin = NULL;
    return problems ? -1 : 0;
}

/* Report every member of `group` not in `names`. 0, or -1 if any. */
static int check_known_keys(load_ctx *lc, const config_setting_t *group, const char *what,
                            const char *const *names)
{
    int count = config_setting_length(group);
    int result = 0;

    for (int i = 0; i < count; i++) {
        const config_setting_t *setting = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(setting);
        int known = 0;
        for (size_t j = 0; names[j]; j++)
            known |= strcmp(names[j], key) == 0;
        if (!known) {
            fail_unknown(lc, setting, what, names, NULL);
            result = -1;
        }
    }
    return result;
}

/* Read the pipeline-level keys, reporting every error (a key in error
 * keeps its default). 0, or -1 when any was reported. */
static int load_pipeline_keys(load_ctx *lc, const config_setting_t *root,
                              sluice_pipeline_def *def)
{
    const config_setting_t *restart = config_setting_get_member(root, "restart");
    size_t errors_before = lc->err->count;
    long long number;
    char *text;
    int missing;

    check_known_keys(lc, root, "pipeline key", pipeline_keys);
    def->name = get_string(lc, root, "name", &missing);
    if (!def->name && missing)
        fail_at(lc, root, "pipeline: missing 'name'");
    if (def->name && !identifier_valid(def->name))
        fail_at(lc, config_setting_get_member(root, "name"),
                "pipeline name must match [A-Za-z0-9_.-]+, got \"%s\"", def->name);
    text = get_string(lc, root, "state_dir", &missing);
    if (!text && missing)
        fail_at(lc, root, "pipeline: missing 'state_dir'");
    if (text && !*text)
        fail_at(lc, config_setting_get_member(root, "state_dir"), "'state_dir' is empty");
    else if (text && !(def->state_dir = absolute_path(lc, text)))
        fail_at(lc, root, "out of memory");
    free(text);
    text = get_string(lc, root, "runtime_dir", &missing);
    if (text && !*text) {
        fail_at(lc, config_setting_get_member(root, "runtime_dir"), "'runtime_dir' is empty");
    } else if (text) {
        if (!(def->runtime_dir = absolute_path(lc, text)))
            fail_at(lc, root, "out of memory");
    } else if (missing && def->state_dir) {
        size_t len = strlen(def->state_dir) + sizeof("/run");
        def->runtime_dir = malloc(len);
        if (def->runtime_dir)
            snprintf(def->runtime_dir, len, "%s/run", def->state_dir);
        else
            fail_at(lc, root, "out of memory");
    }
    free(text);

    number = 500;
    get_integer(lc, root, "batch_size", 1, 100000, &number);
    def->batch_size = (size_t)number;
    number = 200;
    get_integer(lc, root, "batch_linger_ms", 0, 60000, &number);
    def->batch_linger_ms = (long)number;
    number = 8;
    get_integer(lc, root, "window", 1, 1024, &number);
    def->window = (int)number;
    number = 30000;
    get_integer(lc, root, "ack_timeout_ms", 100, 86400000, &number);
    def->ack_timeout_ms = (long)number;

    def->restart_max = 5;
    def->restart_window_s = 60;
    def->restart_backoff_ms = 200;
    if (restart && config_setting_type(restart) != CONFIG_TYPE_GROUP) {
        fail_at(lc, restart, "'restart' expects group, got %s", setting_type_name(restart));
    } else if (restart) {
        check_known_keys(lc, restart, "restart key", restart_keys);
        number = def->restart_max;
        get_integer(lc, restart, "max", 0, 1000, &number);
        def->restart_max = (int)number;
        number = def->restart_window_s;
        get_integer(lc, restart, "window_s", 1, 86400, &number);
        def->restart_window_s = (long)number;
        number = def->restart_backoff_ms;
        get_integer(lc, restart, "backoff_ms", 0, 3600000, &number);
        def->restart_backoff_ms = (long)number;
    }
    return lc->err->count > errors_before ? -1 : 0;
}

/* libconfig does not say which include file it could not open: read the
 * @include "..." on line `line` of `file` (relative to base_dir when
 * relative) into buf as a full path; buf stays empty if not found. */
static void include_named_at(const char *file, const char *base_dir, int line, char *buf,
                             size_t len)
{
    char path[PATH_MAX];
    char text[4096];
    FILE *in;
    int number = 0;

    /* An included file is named relative to base_dir, the main file
     * relative to the working directory: try both. */
    in = NULL;
    if (file[0] != '/' && base_dir &&
        (size_t)snprintf(path, sizeof(path), "%s/%s", base_dir, file) < sizeof(path))
        in = fopen(path, "r");
    if (!in)
        in = fopen(file, "r");
    if (!in)
        return;
    while (fgets(text, sizeof(text), in)) {
        const char *start;
        const char *end;
        if (++number != line)
            continue;
        start = strstr(text, "@include");
        start = start ? strchr(start, '"') : NULL;
        end = start ? strchr(start + 1, '"') : NULL;
        if (end) {
            int name_len = (int)(end - start - 1);
            if (start[1] == '/')
                snprintf(buf, len, "%.*s", name_len, start + 1);
            else
                snprintf(buf, len, "%s/%.*s", base_dir, name_len, start + 1);
        }
        break;
    }
    fclose(in);
}

/* Read `path` with libconfig into *cfg (initialised here; caller destroys
 * it), its @include names resolved in the directory of the include search
 * path that holds them (include_path.h), written into include_dir
 * (PATH_MAX bytes). Returns 0 or -1 with err set to FILE:LINE: text. */
static int read_config(const char *path, const char *base_dir, char *include_dir,
                       config_t *cfg, sluice_error *err)
{
    config_init(cfg);
    if (sluice_include_dir(path, base_dir, include_dir, PATH_MAX) != 0) {
        sluice_error_add(err, "%s: include search path: %s", path, strerror(errno));
        return -1;
    }
    config_set_include_dir(cfg, include_dir);
    /* libconfig would hang on a FIFO and exit(2) on a directory */
    if (sluice_config_check_files(path, include_dir, err) != 0)
        return -1;
    if (config_read_file(cfg, path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
        const char *what = config_error_file(cfg) ? config_error_file(cfg) : path;
        struct stat st;
        FILE *probe = fopen(what, "r");
        const char *why = probe ? "I/O error" : strerror(errno);
        if (stat(what, &st) == 0 && S_ISDIR(st.st_mode))
            why = "is a directory";
        sluice_error_add(err, "%s: cannot read: %s", what, why);
        if (probe)
            fclose(probe);
        return -1;
    }
    {
        const char *file = config_error_file(cfg) ? config_error_file(cfg) : path;
        char include[PATH_MAX] = "";
        if (strcmp(config_error_text(cfg), "cannot open include file") == 0)
            include_named_at(file, include_dir, config_error_line(cfg), include, sizeof(include));
        sluice_error_add(err, "%s:%d: %s%s%s", file, config_error_line(cfg),
                         config_error_text(cfg), include[0] ? " " : "", include);
    }
    return -1;
}

/* Absolute directory of `path` (new string) or NULL. */
static char *directory_of(const char *path)
{
    char *copy = strdup(path);
    char resolved[PATH_MAX];
    char *result = NULL;

    if (!copy)
        return NULL;
    if (realpath(dirname(copy), resolved))
        result = strdup(resolved);
    free(copy);
    return result;
}

int sluice_pipeline_load_flags(const char *path, sluice_registry *reg, unsigned flags,
                               sluice_pipeline_def **out, sluice_error *err)
{
    int result = -1;
    config_t cfg;
    int cfg_ready = 0;
    load_ctx lc = {path, NULL, err, NULL, NULL, 0, NULL, (flags & SLUICE_LOAD_NO_SECRETS) != 0};
    sluice_pipeline_def *def = NULL;
    const config_setting_t *root;
    const config_setting_t *stages;
    int count;
    char include_dir[PATH_MAX];
    unsigned char *stage_ok = NULL; /* per stage: its plugin options read without an error */

    *out = NULL;
    sluice_error_clear(err);
    lc.base_dir = directory_of(path);
    if (!lc.base_dir) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    cfg_ready = 1;
    if (read_config(path, lc.base_dir, include_dir, &cfg, err) != 0)
        goto out;
    lc.include_dir = include_dir;
    def = calloc(1, sizeof(*def));
    if (!def || !(def->file = strdup(path))) {
        sluice_error_add(err, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < config_setting_length(config_root_setting(&cfg)); i++) {
        const config_setting_t *top = config_setting_get_elem(config_root_setting(&cfg),
                                                              (unsigned)i);
        if (strcmp(config_setting_name(top), "pipeline") != 0) {
            static const char *const top_keys[] = {"pipeline", NULL};
            fail_unknown(&lc, top, "top-level setting", top_keys, NULL);
            goto out;
        }
    }
    root = config_lookup(&cfg, "pipeline");
    if (!root || config_setting_type(root) != CONFIG_TYPE_GROUP) {
        fail_at(&lc, root, "expected 'pipeline = { name = ...; state_dir = ...; stages = (...); };'");
        goto out;
    }
    load_pipeline_keys(&lc, root, def); /* its errors are reported with the stages' */
    stages = config_setting_get_member(root, "stages");
    if (!stages) {
        fail_at(&lc, root, "pipeline: missing 'stages'");
        goto out;
    }
    if (config_setting_type(stages) != CONFIG_TYPE_LIST) {
        fail_at(&lc, stages, "'stages' expects a list ( {...}, {...} ), got %s",
                setting_type_name(stages));
        goto out;
    }
    count = config_setting_length(stages);
    if (count < 2) {
        fail_at(&lc, stages, "'stages' needs at least a source and a sink, got %d stage%s",
                count, count == 1 ? "" : "s");
        goto out;
    }
    def->stages = calloc((size_t)count, sizeof(*def->stages));
    if (!def->stages) {
        fail_at(&lc, stages, "out of memory");
        goto out;
    }
    stage_ok = calloc((size_t)count, sizeof(*stage_ok));
    if (!stage_ok) {
        fail_at(&lc, stages, "out of memory");
        goto out;
    }
    for (int i = 0; i < count; i++) {
        int options_ok;
        lc.stage_index = i + 1;
        lc.stage = NULL;
        lc.plugin = NULL;
        def->stage_count = (size_t)i + 1;
        load_stage(&lc, reg, config_setting_get_elem(stages, (unsigned)i), &def->stages[i],
                   &options_ok);
        stage_ok[i] = (unsigned char)options_ok;
    }
    lc.stage_index = 0;
    lc.stage = NULL;
    lc.plugin = NULL;
    lc.secrets = NULL;
    /* a plugin's own rules, on every stage whose options were read without
     * an error; the core's rules across stages need every stage read */
    if (!lc.leave_secrets)
        run_plugin_checks(&lc, stages, def, stage_ok);
    if (err->count > 0)
        goto out;
    if (check_stages(&lc, stages, def) != 0 || check_links(&lc, stages, def) != 0 ||
        check_ack_timeout(&lc, root, def) != 0)
        goto out;
    *out = def;
    def = NULL;
    result = 0;
out:
    if (cfg_ready)
        config_destroy(&cfg);
    free(lc.base_dir);
    free(stage_ok);
    sluice_pipeline_free(&def);
    return result;
}

int sluice_pipeline_load(const char *path, sluice_registry *reg, sluice_pipeline_def **out,
                         sluice_error *err)
{
    return sluice_pipeline_load_flags(path, reg, 0, out, err);
}

int sluice_pipeline_require_plugins(const char *path, sluice_registry *reg, sluice_error *err)
{
    char include_dir[PATH_MAX];
    int result = SLUICE_EXIT_CONFIG;
    config_t cfg;
    int cfg_ready = 0;
    char *base_dir = directory_of(path);
    load_ctx lc = {path, base_dir, err, NULL, NULL, 0, NULL, 0};
    const config_setting_t *stages;

    sluice_error_clear(err);
    if (!base_dir) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    cfg_ready = 1;
    if (read_config(path, base_dir, include_dir, &cfg, err) != 0)
        goto out;
    lc.include_dir = include_dir;
    stages = config_lookup(&cfg, "pipeline.stages");
    for (int i = 0; stages && i < config_setting_length(stages); i++) {
        const config_setting_t *stage = config_setting_get_elem(stages, (unsigned)i);
        const char *plugin = NULL;
        const char *name = NULL;
        char reason[768];
        const config_setting_t *where;

        if (config_setting_type(stage) != CONFIG_TYPE_GROUP ||
            !config_setting_lookup_string(stage, "plugin", &plugin))
            continue;
        if (sluice_registry_require(reg, plugin, reason, sizeof(reason)))
            continue;
        config_setting_lookup_string(stage, "name", &name);
        where = config_setting_get_member(stage, "plugin");
        lc.stage = name ? name : "?";
        fail_at(&lc, where, "%s", reason);
        result = SLUICE_EXIT_UNAVAILABLE;
        goto out;
    }
    result = 0;
out:
    if (cfg_ready)
        config_destroy(&cfg);
    free(base_dir);
    return result;
}

void sluice_pipeline_free(sluice_pipeline_def **def_p)
{
    sluice_pipeline_def *def;

    if (!def_p || !*def_p)
        return;
    def = *def_p;
    for (size_t i = 0; i < def->stage_count; i++) {
        sluice_stage_def *stage = &def->stages[i];
        free(stage->name);
        free(stage->plugin_name);
        json_decref(stage->config);
        json_decref(stage->secret_values);
        free(stage->common.group);
        free(stage->common.endpoint);
        free(stage->common.ca_file);
        sluice_config_link_free(&stage->common);
        free(stage->file);
    }
    free(def->stages);
    free(def->name);
    free(def->file);
    free(def->state_dir);
    free(def->runtime_dir);
    free(def);
    *def_p = NULL;
}

const sluice_stage_def *sluice_pipeline_stage(const sluice_pipeline_def *def, const char *name)
{
    if (!def || !name)
        return NULL;
    for (size_t i = 0; i < def->stage_count; i++) {
        if (strcmp(def->stages[i].name, name) == 0)
            return &def->stages[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Printing as libconfig text.                                         */
/* ------------------------------------------------------------------ */

/* Write `text` as a libconfig string literal. */
static void print_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* 1 if `text` is one of the stage's secret values. */
static int is_secret(const json_t *secrets, const char *text)
{
    size_t i;
    json_t *item;

    json_array_foreach(secrets, i, item) {
        if (strcmp(json_string_value(item), text) == 0)
            return 1;
    }
    return 0;
}

/* Write a JSON value as libconfig; strings masked when `mask_all` or when
 * listed in `secrets`. */
static void print_json(FILE *out, const json_t *value, const json_t *secrets, int mask_all,
                       int depth)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        if (mask_all || is_secret(secrets, json_string_value(value)))
            print_string(out, MASK);
        else
            print_string(out, json_string_value(value));
        break;
    case JSON_INTEGER: {
        json_int_t number = json_integer_value(value);
        fprintf(out, "%" JSON_INTEGER_FORMAT "%s", number,
                number > INT32_MAX || number < INT32_MIN ? "L" : "");
        break;
    }
    case JSON_REAL: {
        char text[64];
        snprintf(text, sizeof(text), "%.17g", json_real_value(value));
        /* libconfig needs a dot or exponent to read it back as a float. */
        fputs(text, out);
        if (!strpbrk(text, ".eEn"))
            fputs(".0", out);
        break;
    }
    case JSON_TRUE: fputs("true", out); break;
    case JSON_FALSE: fputs("false", out); break;
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        fputs("( ", out);
        json_array_foreach(value, i, item) {
            if (i > 0)
                fputs(", ", out);
            print_json(out, item, secrets, mask_all, depth + 1);
        }
        fputs(" )", out);
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        fputs("{ ", out);
        json_object_foreach((json_t *)value, key, item) {
            fprintf(out, "%s = ", key);
            print_json(out, item, secrets, mask_all, depth + 1);
            fputs("; ", out);
        }
        fputs("}", out);
        break;
    }
    case JSON_NULL: print_string(out, ""); break;
    }
}

/* Print `key = "text";` unless text is NULL. */
static void print_string_key(FILE *out, const char *indent, const char *key, const char *text)
{
    if (!text)
        return;
    fprintf(out, "%s%s = ", indent, key);
    print_string(out, text);
    fputs(";\n", out);
}

int sluice_pipeline_print(const sluice_pipeline_def *def, FILE *out)
{
    if (!def || !out)
        return -1;
    fprintf(out, "# %s, resolved by sluice (secrets masked)\n", def->file);
    fputs("pipeline = {\n", out);
    print_string_key(out, "  ", "name", def->name);
    print_string_key(out, "  ", "state_dir", def->state_dir);
    print_string_key(out, "  ", "runtime_dir", def->runtime_dir);
    fprintf(out, "  batch_size = %zu;\n  batch_linger_ms = %ld;\n  window = %d;\n"
                 "  ack_timeout_ms = %ld;\n",
            def->batch_size, def->batch_linger_ms, def->window, def->ack_timeout_ms);
    fprintf(out, "  restart = { max = %d; window_s = %ld; backoff_ms = %ld; };\n",
            def->restart_max, def->restart_window_s, def->restart_backoff_ms);
    fputs("  stages = (\n", out);
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];
        const sluice_stage_common *common = &stage->common;
        const char *key;
        json_t *value;

        fprintf(out, "    {   # %s:%d\n", stage->file, stage->line);
        print_string_key(out, "      ", "name", stage->name);
        print_string_key(out, "      ", "plugin", stage->plugin_name);
        print_string_key(out, "      ", "group", common->group);
        print_string_key(out, "      ", "endpoint", common->endpoint);
        if (common->instances > 1)
            fprintf(out, "      instances = %d;\n", common->instances);
        fprintf(out, "      hwm = %d;\n", common->hwm);
        fprintf(out, "      rate_limit = %g;\n      burst = %g;\n", common->rate_limit,
                common->burst);
        fprintf(out, "      http_timeout_ms = %ld;\n      http_max_attempts = %d;\n"
                     "      retry_max_backoff_ms = %ld;\n",
                common->http_timeout_ms, common->http_max_attempts,
                common->retry_max_backoff_ms);
        print_string_key(out, "      ", "ca_file", common->ca_file);
        fprintf(out, "      tls_verify = %s;\n", common->tls_verify ? "true" : "false");
        if (common->external)
            fputs("      external = true;\n", out);
        sluice_config_link_print(def, i, out, "      ");
        json_object_foreach(stage->config, key, value) {
            const sluice_option *opt =
                stage->plugin ? sluice_options_find(stage->plugin->options, key) : NULL;
            fprintf(out, "      %s = ", key);
            print_json(out, value, stage->secret_values, opt && opt->secret, 0);
            fputs(";\n", out);
        }
        fprintf(out, "    }%s\n", i + 1 < def->stage_count ? "," : "");
    }
    fputs("  );\n};\n", out);
    return ferror(out) ? -1 : 0;
}
