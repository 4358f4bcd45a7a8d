/* config_read.c: reading a pipeline file with libconfig: the include
 * search path, include targets checked first, libconfig's errors made
 * FILE:LINE; and the plugins a file names, loaded before it is read. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libconfig.h>

#include "config_check.h"
#include "config_load.h"
#include "include_path.h"
#include "pipeline.h"

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
int cfgload_read(const char *path, const char *base_dir, char *include_dir,
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
char *cfgload_directory_of(const char *path)
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

int sluice_pipeline_require_plugins(const char *path, sluice_registry *reg, sluice_error *err)
{
    char include_dir[PATH_MAX];
    int result = SLUICE_EXIT_CONFIG;
    config_t cfg;
    int cfg_ready = 0;
    char *base_dir = cfgload_directory_of(path);
    load_ctx lc = {path, base_dir, err, NULL, NULL, 0, NULL, 0};
    const config_setting_t *stages;

    sluice_error_clear(err);
    if (!base_dir) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    cfg_ready = 1;
    if (cfgload_read(path, base_dir, include_dir, &cfg, err) != 0)
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
        cfgload_fail_at(&lc, where, "%s", reason);
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

