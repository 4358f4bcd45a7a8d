/* service_conf.c: the service settings file (service_conf.h): read with the
 * pipeline loader's reader (config_read.c: includes, syntax hints, a
 * setting set twice) and reported through its errors (FILE:LINE, "did you
 * mean"), so that `sluice check` and `sluice run` say the same. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libconfig.h>

#include "config_load.h"
#include "service_conf.h"

/* The settings a service file may hold, for "did you mean". */
static const char *const setting_names[] = {
    "pipelines_dir", "state_dir", "admin_listen", "admin_auth_file", "admin_tls_cert",
    "admin_tls_key", "log_level", NULL,
};

const char *sluice_service_conf_default_path(void)
{
    return SLUICE_SYSCONFDIR "/sluice.conf";
}

/* 1 if `text` is what --admin-listen takes: "off", "HOST:PORT" (IPv4,
 * empty host: every address) or "[HOST6]:PORT", PORT 0 to 65535. */
static int listen_valid(const char *text)
{
    char host[256];
    const char *colon;
    unsigned char addr[16];
    char *end;
    long port;
    int v6 = text[0] == '[';

    if (strcmp(text, "off") == 0)
        return 1;
    if (v6) {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return 0;
        snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return 0;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return 0;
    return inet_pton(v6 ? AF_INET6 : AF_INET, host[0] || v6 ? host : "0.0.0.0", addr) == 1;
}

/* `value` as an absolute path into out (len bytes): as is when absolute,
 * else under the settings file's directory. Returns 0, or -1 after an
 * error on `where` when it does not fit. */
static int absolute_path(load_ctx *lc, const config_setting_t *where, const char *value,
                         char *out, size_t len)
{
    int n = value[0] == '/' ? snprintf(out, len, "%s", value)
                            : snprintf(out, len, "%s/%s", lc->base_dir, value);

    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        cfgload_fail_at(lc, where, "'%s' is too long", config_setting_name(where));
        return -1;
    }
    return 0;
}

/* Read one path setting into out (len bytes) and check what it names:
 * `kind` 'd' a directory that exists, 'r' a file this process can read,
 * 0 nothing. Returns 0, or -1 after an error on `where`. */
static int read_path(load_ctx *lc, const config_setting_t *where, const char *value, int kind,
                     char *out, size_t len)
{
    const char *name = config_setting_name(where);
    struct stat st;

    if (absolute_path(lc, where, value, out, len) != 0)
        return -1;
    if (kind == 'd' && stat(out, &st) != 0) {
        cfgload_fail_at(lc, where, "%s %s: %s", name, out, strerror(errno));
        out[0] = '\0';
        return -1;
    }
    if (kind == 'd' && !S_ISDIR(st.st_mode)) {
        cfgload_fail_at(lc, where, "%s %s: not a directory", name, out);
        out[0] = '\0';
        return -1;
    }
    if (kind == 'r' && access(out, R_OK) != 0) {
        cfgload_fail_at(lc, where, "%s %s: %s", name, out, strerror(errno));
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Read one top-level setting of the file into conf. Returns 0, or -1
 * after an error. */
static int read_setting(load_ctx *lc, const config_setting_t *setting, sluice_service_conf *conf)
{
    const char *name = config_setting_name(setting);
    const char *value;
    int line = cfgload_line(setting);

    if (!name)
        return 0;
    for (size_t i = 0;; i++) {
        if (!setting_names[i]) {
            cfgload_fail_unknown(lc, setting, "setting", setting_names, NULL);
            return -1;
        }
        if (strcmp(setting_names[i], name) == 0)
            break;
    }
    if (config_setting_type(setting) != CONFIG_TYPE_STRING) {
        cfgload_fail_at(lc, setting, "'%s' must be a string, not %s", name,
                        cfgload_type_name(setting));
        return -1;
    }
    value = config_setting_get_string(setting);
    if (!value || !value[0]) {
        cfgload_fail_at(lc, setting, "'%s' is empty", name);
        return -1;
    }
    if (strcmp(name, "log_level") == 0) {
        if (sluice_log_level_parse(value, &conf->log_level) != 0) {
            cfgload_fail_at(lc, setting, "log_level '%s': expected error, warn, info or debug",
                            value);
            return -1;
        }
        conf->log_level_line = line;
        return 0;
    }
    if (strcmp(name, "admin_listen") == 0) {
        if (!listen_valid(value) || strlen(value) >= sizeof(conf->admin_listen)) {
            cfgload_fail_at(lc, setting, "admin_listen '%s': expected ADDR:PORT (e.g. "
                            "127.0.0.1:9180), [ADDR6]:PORT or off", value);
            return -1;
        }
        snprintf(conf->admin_listen, sizeof(conf->admin_listen), "%s", value);
        conf->admin_listen_line = line;
        return 0;
    }
    if (strcmp(name, "pipelines_dir") == 0) {
        conf->pipelines_dir_line = line;
        return read_path(lc, setting, value, 'd', conf->pipelines_dir,
                         sizeof(conf->pipelines_dir));
    }
    if (strcmp(name, "state_dir") == 0) {
        conf->state_dir_line = line;
        return read_path(lc, setting, value, 0, conf->state_dir, sizeof(conf->state_dir));
    }
    if (strcmp(name, "admin_auth_file") == 0) {
        conf->admin_auth_file_line = line;
        return read_path(lc, setting, value, 'r', conf->admin_auth_file,
                         sizeof(conf->admin_auth_file));
    }
    if (strcmp(name, "admin_tls_cert") == 0) {
        conf->admin_tls_cert_line = line;
        return read_path(lc, setting, value, 'r', conf->admin_tls_cert,
                         sizeof(conf->admin_tls_cert));
    }
    conf->admin_tls_key_line = line;
    return read_path(lc, setting, value, 'r', conf->admin_tls_key, sizeof(conf->admin_tls_key));
}

int sluice_service_conf_read(const char *path, sluice_service_conf *conf, sluice_error *err)
{
    char include_dir[PATH_MAX];
    config_t cfg;
    int cfg_ready = 0;
    char *base_dir = cfgload_directory_of(path);
    load_ctx lc = {.path = path, .base_dir = base_dir, .err = err};
    const config_setting_t *root;
    int result = SLUICE_EXIT_CONFIG;

    sluice_error_clear(err);
    memset(conf, 0, sizeof(*conf));
    snprintf(conf->file, sizeof(conf->file), "%s", path);
    snprintf(conf->pipelines_dir, sizeof(conf->pipelines_dir), "%s",
             SLUICE_SYSCONFDIR "/pipelines.d");
    snprintf(conf->state_dir, sizeof(conf->state_dir), "%s", SLUICE_STATEDIR);
    conf->log_level = SLUICE_LOG_INFO;
    if (!base_dir) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    cfg_ready = 1;
    if (cfgload_read(path, base_dir, include_dir, &cfg, err) != 0)
        goto out;
    lc.include_dir = include_dir;
    root = config_root_setting(&cfg);
    for (int i = 0; root && i < config_setting_length(root); i++)
        read_setting(&lc, config_setting_get_elem(root, (unsigned)i), conf);
    if (conf->admin_tls_cert[0] && !conf->admin_tls_key[0] && !conf->admin_tls_key_line)
        cfgload_fail_at(&lc, config_setting_get_member(root, "admin_tls_cert"),
                        "admin_tls_cert needs admin_tls_key");
    if (conf->admin_tls_key[0] && !conf->admin_tls_cert[0] && !conf->admin_tls_cert_line)
        cfgload_fail_at(&lc, config_setting_get_member(root, "admin_tls_key"),
                        "admin_tls_key needs admin_tls_cert");
    result = err->count ? SLUICE_EXIT_CONFIG : 0;
out:
    if (cfg_ready)
        config_destroy(&cfg);
    free(base_dir);
    return result;
}

int sluice_service_conf_export_state_dir(const sluice_service_conf *conf)
{
    const char *given = getenv("SLUICE_STATE_DIR");

    if (given && given[0])
        return 0;
    return setenv("SLUICE_STATE_DIR", conf->state_dir, 1);
}
