/* config_stage.c: one stage of a pipeline file: its name and plugin, the
 * stage keys from the stage-key table (options.c), its plugin options
 * checked against the plugin's table and turned into typed JSON, ${ENV}
 * and @file: values resolved (docs/configuration.md). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libconfig.h>

#include "config_link.h"
#include "config_load.h"
#include "interp.h"
#include "log.h"
#include "options.h"

/* Interpolate a string setting's value. New string or NULL (error set).
 * Values read with @file: are added to lc->secrets and the log masks. */
static char *interpolate_setting(load_ctx *lc, const config_setting_t *setting, int secret)
{
    char reason[512];
    int from_file = 0;
    char *value = sluice_interpolate(config_setting_get_string(setting), lc->base_dir,
                                     &from_file, reason, sizeof(reason));

    if (!value) {
        cfgload_fail_at(lc, setting, "%s", reason);
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
char *cfgload_get_string(load_ctx *lc, const config_setting_t *group, const char *key,
                        int *missing)
{
    const config_setting_t *setting = config_setting_get_member(group, key);

    *missing = 0;
    if (!setting) {
        *missing = 1;
        return NULL;
    }
    if (config_setting_type(setting) != CONFIG_TYPE_STRING) {
        cfgload_fail_at(lc, setting, "'%s' expects string, got %s", key, cfgload_type_name(setting));
        return NULL;
    }
    return interpolate_setting(lc, setting, 0);
}

/* 1 if `text` is non-empty and only [A-Za-z0-9_.-]. */
int cfgload_identifier_valid(const char *text)
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
char *cfgload_absolute_path(const load_ctx *lc, const char *path)
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
        cfgload_fail_at(lc, setting, "out of memory");
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
        cfgload_fail_at(lc, setting, "out of memory");
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
    cfgload_fail_at(lc, where ? where : group, "%s", why);
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
        cfgload_fail_at(lc, setting, "'%s' expects %s, got %s", opt->name,
                sluice_opt_type_name(opt->type), cfgload_type_name(setting));
        return NULL;
    }
    value = setting_to_json(lc, setting, 0);
    if (value && sluice_option_check_value(opt, value, reason, sizeof(reason)) != 0) {
        cfgload_fail_at(lc, setting, "%s", reason);
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

    common->group = cfgload_get_string(lc, group, "group", &missing);
    if (common->group && !cfgload_identifier_valid(common->group))
        cfgload_fail_at(lc, config_setting_get_member(group, "group"),
                "'group' must match [A-Za-z0-9_.-]+, got \"%s\"", common->group);
    common->endpoint = cfgload_get_string(lc, group, "endpoint", &missing);
    if (common->endpoint && !endpoint_valid(common->endpoint))
        cfgload_fail_at(lc, config_setting_get_member(group, "endpoint"),
                "'endpoint' must be ipc://PATH or tcp://HOST:PORT with PORT in 1..65534 "
                "(acks use PORT+1), got \"%s\"",
                common->endpoint);
    common->ca_file = cfgload_get_string(lc, group, "ca_file", &missing);
    if (common->ca_file) {
        char *absolute = cfgload_absolute_path(lc, common->ca_file);
        free(common->ca_file);
        common->ca_file = absolute;
        if (!absolute)
            cfgload_fail_at(lc, group, "out of memory");
        else if (access(common->ca_file, R_OK) != 0)
            cfgload_fail_at(lc, config_setting_get_member(group, "ca_file"), "cannot read ca_file %s: %s",
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
        cfgload_fail_at(lc, group, "out of memory");
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
            cfgload_fail_unknown(lc, setting, "option", common_names, options);
            continue;
        }
        if (!type_matches(opt, setting)) {
            cfgload_fail_at(lc, setting, "option '%s' expects %s, got %s", key,
                    sluice_opt_type_name(opt->type), cfgload_type_name(setting));
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
            cfgload_fail_at(lc, setting, "%s", reason);
            json_decref(value);
            continue;
        }
        if (!value || json_object_set_new(stage->config, key, value) != 0)
            cfgload_fail_at(lc, setting, "out of memory");
    }
    for (size_t i = 0; options && options[i].name; i++) {
        const sluice_option *opt = &options[i];
        json_t *value;
        if (config_setting_get_member(group, opt->name))
            continue; /* set: in the config, or reported above */
        if (opt->required) {
            cfgload_fail_at(lc, group, "missing required option '%s'", opt->name);
            continue;
        }
        if (!opt->default_value)
            continue;
        value = sluice_option_default_json(opt, reason, sizeof(reason));
        if (!value) {
            cfgload_fail_at(lc, group, "%s", reason);
            continue;
        }
        json_object_set_new(stage->config, opt->name, value);
    }
    return lc->err->count > errors_before ? -1 : 0;
}

/* Load one stage from list element `group` (position index, 1-based). */
int cfgload_stage(load_ctx *lc, sluice_registry *reg, const config_setting_t *group,
                      sluice_stage_def *stage, int *options_ok)
{
    char reason[1024];
    char file[PATH_MAX];
    int missing;
    int common_result;

    *options_ok = 0;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        cfgload_fail_at(lc, group, "expects a group { name = ...; plugin = ...; }, got %s",
                cfgload_type_name(group));
        return -1;
    }
    stage->file = strdup(cfgload_source_file(lc, group, file, sizeof(file)));
    stage->line = (int)config_setting_source_line(group);
    lc->stage_line = stage->line;
    stage->secret_values = json_array();
    if (!stage->file || !stage->secret_values) {
        cfgload_fail_at(lc, group, "out of memory");
        return -1;
    }
    lc->secrets = stage->secret_values;
    /* a stage without a usable name is still read for its other errors
     * (named "stage #N" in them); the load fails anyway */
    stage->name = cfgload_get_string(lc, group, "name", &missing);
    if (!stage->name && missing)
        cfgload_fail_at(lc, group, "missing 'name'");
    if (stage->name && !cfgload_identifier_valid(stage->name))
        cfgload_fail_at(lc, config_setting_get_member(group, "name"),
                "stage name must match [A-Za-z0-9_.-]+, got \"%s\"", stage->name);
    lc->stage = stage->name;
    stage->plugin_name = cfgload_get_string(lc, group, "plugin", &missing);
    if (!stage->plugin_name) {
        if (missing)
            cfgload_fail_at(lc, group, "missing 'plugin'");
        return -1;
    }
    stage->plugin = sluice_registry_require(reg, stage->plugin_name, reason, sizeof(reason));
    if (!stage->plugin) {
        cfgload_fail_at(lc, config_setting_get_member(group, "plugin"), "%s", reason);
        return -1;
    }
    lc->plugin = stage->plugin_name;
    /* both, so that every error of the stage is reported */
    common_result = load_common(lc, group, stage);
    *options_ok = load_options(lc, group, stage) == 0;
    return *options_ok && common_result == 0 ? 0 : -1;
}

