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
#include "config_text.h"
#include "include_path.h"
#include "pipeline.h"
#include "util/dynbuf.h"

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

/* Largest pipeline file read into memory to apply overrides. */
#define TEXT_MAX (4u << 20)
/* Most overrides in one file. */
#define OVERRIDES_MAX 256

/* A stage's own setting written after an @include that sets it too. */
typedef struct override {
    char name[128];
    char *setting;       /* its text, "name = value;" (owned) */
    int line;            /* where it is in the pipeline file */
    char include[PATH_MAX]; /* the @include as written */
    int include_line;    /* line of the same setting in the included file */
} override;

/* The whole of file `path` as a string (new; NULL with errno: EFBIG past
 * TEXT_MAX bytes). */
static char *read_text(const char *path)
{
    FILE *in = fopen(path, "r");
    char chunk[8192];
    size_t got;
    dynbuf text;
    char *result = NULL;

    if (!in)
        return NULL;
    dynbuf_init(&text, TEXT_MAX);
    if (dynbuf_append(&text, "", 0) != 0)
        goto out;
    while ((got = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        if (dynbuf_append(&text, chunk, got) != 0) {
            errno = text.overflow ? EFBIG : ENOMEM;
            goto out;
        }
    }
    if (!ferror(in))
        result = dynbuf_steal(&text);
out:
    fclose(in);
    dynbuf_free(&text);
    return result;
}

/* The setting an override replaces: the member `o->name` from the
 * included file at o->include_line, in the group nearest above the
 * override's line. Searches `setting`'s tree; *best is the candidate so
 * far. */
static void find_replaced(config_setting_t *setting, const override *o, config_setting_t **best)
{
    int count = config_setting_length(setting);

    for (int i = 0; i < count; i++) {
        config_setting_t *child = config_setting_get_elem(setting, (unsigned)i);
        const char *file = config_setting_source_file(child);
        const char *name = config_setting_name(child);
        if (config_setting_is_aggregate(child))
            find_replaced(child, o, best);
        if (!name || !file || strcmp(name, o->name) != 0 ||
            (int)config_setting_source_line(child) != o->include_line)
            continue;
        /* the include's file name as libconfig keeps it ends with it */
        if (strlen(file) < strlen(o->include) ||
            strcmp(file + strlen(file) - strlen(o->include), o->include) != 0)
            continue;
        if ((int)config_setting_source_line(setting) <= o->line &&
            (!*best || config_setting_source_line(setting) >
                           config_setting_source_line(config_setting_parent(*best))))
            *best = child;
    }
}

/* Copy `from` (and what it holds) into group or list `parent` as `name`
 * (NULL in a list), each new setting's origin `line` (a hook the config's
 * destructor frees). Returns 0 or -1. */
static int copy_setting(config_setting_t *parent, const char *name,
                        const config_setting_t *from, int line)
{
    config_setting_t *to = config_setting_add(parent, name, config_setting_type(from));
    cfgload_origin *origin;

    if (!to || !(origin = malloc(sizeof(*origin))))
        return -1;
    origin->line = line;
    config_setting_set_hook(to, origin);
    switch (config_setting_type(from)) {
    case CONFIG_TYPE_INT: return config_setting_set_int(to, config_setting_get_int(from)) ? 0 : -1;
    case CONFIG_TYPE_INT64:
        return config_setting_set_int64(to, config_setting_get_int64(from)) ? 0 : -1;
    case CONFIG_TYPE_FLOAT:
        return config_setting_set_float(to, config_setting_get_float(from)) ? 0 : -1;
    case CONFIG_TYPE_BOOL:
        return config_setting_set_bool(to, config_setting_get_bool(from)) ? 0 : -1;
    case CONFIG_TYPE_STRING:
        return config_setting_set_string(to, config_setting_get_string(from)) ? 0 : -1;
    default:
        for (int i = 0; i < config_setting_length(from); i++) {
            const config_setting_t *item = config_setting_get_elem(from, (unsigned)i);
            if (copy_setting(to, config_setting_type(from) == CONFIG_TYPE_GROUP
                                     ? config_setting_name(item) : NULL,
                             item, line) != 0)
                return -1;
        }
        return 0;
    }
}

/* Put each override in place of the setting it replaces in cfg. Returns
 * 0, or -1 with the error added. */
static int apply_overrides(config_t *cfg, const override *list, size_t count, const char *path,
                           sluice_error *err)
{
    for (size_t i = 0; i < count; i++) {
        const override *o = &list[i];
        config_setting_t *replaced = NULL;
        config_setting_t *parent;
        config_t snippet;
        int ok;

        find_replaced(config_root_setting(cfg), o, &replaced);
        if (!replaced) {
            sluice_error_add(err, "%s:%d: setting '%s' is set twice in this group", path,
                             o->line, o->name);
            return -1;
        }
        parent = config_setting_parent(replaced);
        config_init(&snippet);
        ok = config_read_string(&snippet, o->setting) == CONFIG_TRUE &&
             config_setting_length(config_root_setting(&snippet)) == 1;
        if (ok) {
            config_setting_remove(parent, o->name);
            ok = copy_setting(parent, o->name,
                              config_setting_get_elem(config_root_setting(&snippet), 0),
                              o->line) == 0;
        }
        config_destroy(&snippet);
        if (!ok) {
            sluice_error_add(err, "%s:%d: cannot override '%s'", path, o->line, o->name);
            return -1;
        }
    }
    return 0;
}

/* Report libconfig's parse error of `path` (file `file` as libconfig says,
 * NULL: the pipeline file itself, whose text is `text` when read), with a
 * hint for a syntax error and the name of an include it cannot open. */
static void report_parse_error(config_t *cfg, const char *path, const char *text,
                               const char *include_dir, sluice_error *err)
{
    const char *file = config_error_file(cfg) ? config_error_file(cfg) : path;
    const char *what = config_error_text(cfg);
    char full[2 * PATH_MAX];
    char include[PATH_MAX] = "";
    char hint[512] = "";
    char *own_text = NULL;

    if (strcmp(what, "cannot open include file") == 0)
        include_named_at(file, include_dir, config_error_line(cfg), include, sizeof(include));
    /* libconfig names an included file as written: show where it is */
    if (strcmp(file, path) != 0 && file[0] != '/' && include_dir) {
        snprintf(full, sizeof(full), "%s/%s", include_dir, file);
        file = full;
    }
    if (strcmp(what, "duplicate setting name") == 0) {
        char name[128];
        size_t start, end;
        if (!text || strcmp(file, path) != 0)
            text = own_text = read_text(file);
        if (text && cfgtext_setting_at(text, config_error_line(cfg), 0, name, sizeof(name),
                                       &start, &end) == 0)
            snprintf(hint, sizeof(hint), "'%s' is set twice in one group%s", name,
                     strcmp(file, path) != 0
                         ? ": here and in the group that includes this file, before its "
                           "@include (a stage's own setting overrides an included one when "
                           "written after the @include)"
                         : "");
    }
    if (strcmp(what, "syntax error") == 0) {
        if (!text || strcmp(file, path) != 0)
            text = own_text = read_text(file);
        if (text && cfgtext_syntax_hint(text, config_error_line(cfg), hint, sizeof(hint)) != 0)
            hint[0] = '\0';
    }
    sluice_error_add(err, "%s:%d: %s%s%s%s%s", file, config_error_line(cfg), what,
                     include[0] ? " " : "", include, hint[0] ? ": " : "", hint);
    free(own_text);
}

/* A duplicate setting at `line` of the pipeline file's `text`: when it
 * follows an @include of its group that sets it too, record it in *o,
 * blank it in text and return 1; else add the error (naming the setting
 * and both places) and return 0. -1 when no setting on that line is set
 * twice. */
static int take_override(char *text, int line, const char *path, const char *include_dir,
                         override *o, sluice_error *err)
{
    size_t start, end;
    int first = 0;
    char included[2 * PATH_MAX];
    char *fragment;

    memset(o, 0, sizeof(*o));
    /* the setting of that line whose name came before in its group, in
     * the group itself or from an @include */
    for (int nth = 0;; nth++) {
        if (cfgtext_setting_at(text, line, nth, o->name, sizeof(o->name), &start, &end) != 0)
            return -1;
        first = cfgtext_setting_line(text, o->name, start);
        if (first > 0)
            break;
        if (cfgtext_include_before(text, start, o->include, sizeof(o->include),
                                   &o->include_line) != 0)
            continue;
        if (o->include[0] == '/')
            snprintf(included, sizeof(included), "%s", o->include);
        else
            snprintf(included, sizeof(included), "%s/%s", include_dir, o->include);
        fragment = read_text(included);
        o->include_line = fragment ? cfgtext_setting_line(fragment, o->name, (size_t)-1) : 0;
        free(fragment);
        if (o->include_line > 0)
            break;
    }
    if (first > 0) {
        sluice_error_add(err, "%s:%d: setting '%s' is set twice in this group (first on line "
                         "%d)", path, line, o->name, first);
        return 0;
    }
    o->setting = strndup(text + start, end - start);
    o->line = line;
    if (!o->setting) {
        sluice_error_add(err, "%s:%d: out of memory", path, line);
        return 0;
    }
    cfgtext_blank(text, start, end);
    return 1;
}

/* Parse `path` again from its text with every setting that overrides an
 * included one taken out, then put those in place (config_read.c's
 * override rule, docs/configuration.md). Returns 0 or -1 (error added). */
static int read_with_overrides(const char *path, const char *include_dir, config_t *cfg,
                               sluice_error *err)
{
    override *list = calloc(OVERRIDES_MAX, sizeof(*list));
    size_t count = 0;
    char *text = read_text(path);
    int result = -1;

    if (!list || !text) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        FILE *stream = fmemopen(text, strlen(text), "r");
        int parsed, taken;

        config_destroy(cfg);
        config_init(cfg);
        config_set_destructor(cfg, free);
        config_set_include_dir(cfg, include_dir);
        if (!stream) {
            sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        parsed = config_read(cfg, stream) == CONFIG_TRUE;
        fclose(stream);
        if (parsed) {
            result = apply_overrides(cfg, list, count, path, err);
            goto out;
        }
        if (config_error_file(cfg) || strcmp(config_error_text(cfg), "duplicate setting name") != 0 ||
            count == OVERRIDES_MAX) {
            report_parse_error(cfg, path, text, include_dir, err);
            goto out;
        }
        taken = take_override(text, config_error_line(cfg), path, include_dir, &list[count], err);
        if (taken < 0)
            report_parse_error(cfg, path, text, include_dir, err);
        if (taken <= 0)
            goto out;
        count++;
    }
out:
    for (size_t i = 0; list && i < count; i++)
        free(list[i].setting);
    free(list);
    free(text);
    return result;
}

/* Read `path` with libconfig into *cfg (initialised here; caller destroys
 * it), its @include names resolved in the directory of the include search
 * path that holds them (include_path.h), written into include_dir
 * (PATH_MAX bytes). A stage's setting written after an @include that sets
 * it too overrides the included one. Returns 0 or -1 with the error added
 * to err as FILE:LINE: text. */
int cfgload_read(const char *path, const char *base_dir, char *include_dir, config_t *cfg,
                 sluice_error *err)
{
    config_init(cfg);
    config_set_destructor(cfg, free);
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
    if (strcmp(config_error_text(cfg), "duplicate setting name") == 0 &&
        (!config_error_file(cfg) || strcmp(config_error_file(cfg), path) == 0))
        return read_with_overrides(path, include_dir, cfg, err);
    report_parse_error(cfg, path, NULL, include_dir, err);
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

