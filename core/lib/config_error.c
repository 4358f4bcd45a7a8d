/* config_error.c: the pipeline loader's errors: sluice_error (every error
 * found, a line each), FILE:LINE of a setting, unknown keys with a "did
 * you mean". */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libconfig.h>

#include "config_load.h"
#include "log.h"
#include "options.h"

/* Where `where` was defined: libconfig names @include'd files as written,
 * so a relative one is shown under the include directory. Writes into buf
 * (len bytes) and returns it. */
const char *cfgload_source_file(const load_ctx *lc, const config_setting_t *where, char *buf,
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

int cfgload_line(const config_setting_t *where)
{
    const cfgload_origin *origin = config_setting_get_hook(where);

    return origin ? origin->line : (int)config_setting_source_line(where);
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
/* Where the file `included` (named as its @include wrote it) was
 * included in the stage being read: " (included at FILE:LINE)" into buf
 * (len bytes), the first @include of that name from the stage's line on;
 * buf is left empty when none is found. */
static void include_site(const load_ctx *lc, const char *included, char *buf, size_t len)
{
    FILE *in = fopen(lc->path, "r");
    char text[4096];
    char wanted[PATH_MAX + 4];
    int number = 0;

    buf[0] = '\0';
    if (!in)
        return;
    snprintf(wanted, sizeof(wanted), "\"%s\"", included);
    while (fgets(text, sizeof(text), in)) {
        const char *at;
        if (++number < lc->stage_line)
            continue;
        at = strstr(text, "@include");
        if (at && strstr(at, wanted)) {
            snprintf(buf, len, " (included at %s:%d)", lc->path, number);
            break;
        }
    }
    fclose(in);
}

void cfgload_fail_at(load_ctx *lc, const config_setting_t *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfgload_fail_at(load_ctx *lc, const config_setting_t *where, const char *fmt, ...)
{
    char file[PATH_MAX];
    char message[sizeof(lc->err->text)];
    char prefix[256] = "";
    char included[PATH_MAX + 64] = "";
    const char *from = where ? config_setting_source_file(where) : NULL;
    unsigned line = where ? (unsigned)cfgload_line(where) : 0;
    va_list ap;

    cfgload_source_file(lc, where, file, sizeof(file));
    /* a value from an included file: its own place, and where it came in */
    if (from && strcmp(from, lc->path) != 0 && lc->stage_line > 0 &&
        !config_setting_get_hook(where))
        include_site(lc, from, included, sizeof(included));
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
    sluice_error_add(lc->err, "%s:%u: %s%s%s", file, line, prefix, message, included);
}

/* Name of a libconfig type as users know it. */
const char *cfgload_type_name(const config_setting_t *setting)
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
void cfgload_fail_unknown(load_ctx *lc, const config_setting_t *setting, const char *what,
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
        cfgload_fail_at(lc, setting, "unknown %s '%s' (did you mean '%s'?)", what, key, best);
    else
        cfgload_fail_at(lc, setting, "unknown %s '%s'", what, key);
}

