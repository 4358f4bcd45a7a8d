/* config_link.c: the stage keys of link security and limits: a stage's
 * CURVE key pair (public key in the pipeline, secret key in a file on the
 * host that runs it), extra client keys, insecure_tcp and max_frame_bytes
 * (docs/configuration.md). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_link.h"
#include "curve.h"
#include "interp.h"

/* The interpolated string value of member `key`: NULL if absent (*where
 * stays NULL) or on error (*where set, why filled). */
static char *get_text(const config_setting_t *group, const char *key, const char *base_dir,
                      const config_setting_t **where, char *why, size_t len)
{
    const config_setting_t *setting = config_setting_get_member(group, key);
    int from_file = 0;
    char *value;

    if (!setting)
        return NULL;
    if (config_setting_type(setting) != CONFIG_TYPE_STRING) {
        *where = setting;
        snprintf(why, len, "'%s' expects string", key);
        return NULL;
    }
    /* public keys are not secrets, even read with @file: (no masking) */
    value = sluice_interpolate(config_setting_get_string(setting), base_dir, &from_file, why,
                               len);
    if (!value)
        *where = setting;
    return value;
}

/* Check that `text` (read from `setting`) is a Z85 public key. 0 or -1. */
static int check_key(const config_setting_t *setting, const char *what, const char *text,
                     const config_setting_t **where, char *why, size_t len)
{
    if (sluice_curve_key_valid(text))
        return 0;
    *where = setting;
    snprintf(why, len, "%s \"%.60s\" is not a CURVE key (40 Z85 characters, as in the .pub "
             "file sluice keygen writes)%s", what, text,
             config_setting_get_string(setting) && strchr(config_setting_get_string(setting), '$')
                 ? "; '$' in a value starts ${VAR} or $$: write a key's '$' as '$$', or read "
                   "the key with @file:NAME.pub"
                 : "");
    return -1;
}

/* Read the secret key file, if it is on this host, and check it is the
 * other half of curve_public_key. 0 or -1. */
static int check_secret_file(const sluice_stage_common *common, char *why, size_t len)
{
    char secret[41], public_key[41];
    int rc = sluice_curve_read_secret(common->curve_secret_key_file, secret, public_key, why,
                                      len);

    explicit_bzero(secret, sizeof(secret));
    if (rc == SLUICE_CURVE_NO_FILE)
        return 0; /* the stage runs on another host */
    if (rc != 0)
        return -1;
    if (common->curve_public_key && strcmp(public_key, common->curve_public_key) != 0) {
        snprintf(why, len, "curve_secret_key_file %s is the secret half of public key %s, "
                 "not of curve_public_key %s", common->curve_secret_key_file, public_key,
                 common->curve_public_key);
        return -1;
    }
    return 0;
}

/* Read curve_clients: a list of Z85 public keys. 0 or -1. */
static int load_clients(const config_setting_t *group, const char *base_dir,
                        sluice_stage_common *common, const config_setting_t **where, char *why,
                        size_t len)
{
    const config_setting_t *list = config_setting_get_member(group, "curve_clients");
    int count;

    if (!list)
        return 0;
    if (config_setting_type(list) != CONFIG_TYPE_LIST &&
        config_setting_type(list) != CONFIG_TYPE_ARRAY) {
        *where = list;
        snprintf(why, len, "'curve_clients' expects a list of public keys (\"...\", ...)");
        return -1;
    }
    common->curve_clients = json_array();
    if (!common->curve_clients) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    count = config_setting_length(list);
    for (int i = 0; i < count; i++) {
        const config_setting_t *item = config_setting_get_elem(list, (unsigned)i);
        int from_file = 0;
        char *text;

        if (config_setting_type(item) != CONFIG_TYPE_STRING) {
            *where = item;
            snprintf(why, len, "'curve_clients' entry %d is not a string", i + 1);
            return -1;
        }
        text = sluice_interpolate(config_setting_get_string(item), base_dir, &from_file, why,
                                  len);
        if (!text) {
            *where = item;
            return -1;
        }
        if (check_key(item, "curve_clients entry", text, where, why, len) != 0 ||
            json_array_append_new(common->curve_clients, json_string(text)) != 0) {
            free(text);
            return -1;
        }
        free(text);
    }
    return 0;
}

int sluice_config_link_load(const config_setting_t *group, const char *base_dir,
                            sluice_stage_common *common, const config_setting_t **where,
                            char *why, size_t len)
{
    const config_setting_t *setting;
    char *path;

    *where = NULL;
    common->curve_public_key = get_text(group, "curve_public_key", base_dir, where, why, len);
    if (*where)
        return -1;
    setting = config_setting_get_member(group, "curve_public_key");
    if (common->curve_public_key &&
        check_key(setting, "curve_public_key", common->curve_public_key, where, why, len) != 0)
        return -1;
    path = get_text(group, "curve_secret_key_file", base_dir, where, why, len);
    if (*where)
        return -1;
    setting = config_setting_get_member(group, "curve_secret_key_file");
    if (path && (!*path || path[0] == '/' || !base_dir)) {
        common->curve_secret_key_file = path;
    } else if (path) {
        size_t size = strlen(base_dir) + strlen(path) + 2;
        common->curve_secret_key_file = malloc(size);
        if (common->curve_secret_key_file)
            snprintf(common->curve_secret_key_file, size, "%s/%s", base_dir, path);
        free(path);
        if (!common->curve_secret_key_file) {
            snprintf(why, len, "out of memory");
            return -1;
        }
    }
    if (common->curve_secret_key_file && !*common->curve_secret_key_file) {
        *where = setting;
        snprintf(why, len, "'curve_secret_key_file' is empty");
        return -1;
    }
    if (common->curve_secret_key_file && check_secret_file(common, why, len) != 0) {
        *where = setting;
        return -1;
    }
    if (load_clients(group, base_dir, common, where, why, len) != 0)
        return -1;
    setting = config_setting_get_member(group, "insecure_tcp");
    if (setting) {
        if (config_setting_type(setting) != CONFIG_TYPE_BOOL) {
            *where = setting;
            snprintf(why, len, "'insecure_tcp' expects bool");
            return -1;
        }
        common->insecure_tcp = config_setting_get_bool(setting);
    }
    setting = config_setting_get_member(group, "max_frame_bytes");
    if (setting) {
        long long value;
        if (config_setting_type(setting) != CONFIG_TYPE_INT &&
            config_setting_type(setting) != CONFIG_TYPE_INT64) {
            *where = setting;
            snprintf(why, len, "'max_frame_bytes' expects int");
            return -1;
        }
        value = config_setting_get_int64(setting);
        if (value < SLUICE_FRAME_MIN_BYTES || value > SLUICE_FRAME_MAX_BYTES) {
            *where = setting;
            snprintf(why, len, "'max_frame_bytes' must be between %lld and %lld, got %lld",
                     SLUICE_FRAME_MIN_BYTES, SLUICE_FRAME_MAX_BYTES, value);
            return -1;
        }
        common->max_frame_bytes = value;
    }
    return 0;
}

void sluice_config_link_free(sluice_stage_common *common)
{
    free(common->curve_public_key);
    common->curve_public_key = NULL;
    free(common->curve_secret_key_file);
    common->curve_secret_key_file = NULL;
    json_decref(common->curve_clients);
    common->curve_clients = NULL;
}

/* Write `text` as a libconfig string literal (quotes and backslashes
 * escaped; keys and most paths have neither). */
static void print_quoted(FILE *out, const char *text)
{
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void sluice_config_link_print(const sluice_pipeline_def *def, size_t index, FILE *out,
                              const char *indent)
{
    const sluice_stage_common *common = &def->stages[index].common;
    long long frame_max = sluice_link_frame_max(def, index);
    size_t i;
    json_t *key;

    if (common->curve_public_key) {
        fprintf(out, "%scurve_public_key = ", indent);
        print_quoted(out, common->curve_public_key);
        fputs(";\n", out);
    }
    if (common->curve_secret_key_file) {
        fprintf(out, "%scurve_secret_key_file = ", indent);
        print_quoted(out, common->curve_secret_key_file);
        fputs(";\n", out);
    }
    if (common->curve_clients) {
        fprintf(out, "%scurve_clients = ( ", indent);
        json_array_foreach(common->curve_clients, i, key) {
            fputs(i ? ", " : "", out);
            print_quoted(out, json_string_value(key));
        }
        fputs(" );\n", out);
    }
    if (common->insecure_tcp)
        fprintf(out, "%sinsecure_tcp = true;\n", indent);
    fprintf(out, "%smax_frame_bytes = %lld%s;\n", indent, frame_max,
            frame_max > 2147483647LL ? "L" : "");
}
