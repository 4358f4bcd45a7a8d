/* fuzz_common.c: helpers of the libFuzzer harnesses (fuzz.h). */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_check.h"
#include "fuzz.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: property broken: ", fuzz_harness_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

const char *fuzz_srcdir(void)
{
    const char *dir = getenv("top_srcdir");

    return dir && *dir ? dir : FUZZ_TOP_SRCDIR;
}

void fuzz_setup(void)
{
    static const char *const placeholders[][2] = {
        {"ANNEXCLOUD_BASE_URL", "http://127.0.0.1:9/api/3.0"},
        {"ANNEXCLOUD_SITE_ID", "29235480"},
        {"ANNEXCLOUD_SECRET", "fuzz-annexcloud-secret"},
        {"ANNEXCLOUD_WEBHOOK_SECRET", "fuzz-webhook-secret"},
        {"OMETRIA_BASE_URL", "http://127.0.0.1:9"},
        {"OMETRIA_API_KEY", "fuzz-ometria-key"},
        {"INFOBIP_BASE_URL", "http://127.0.0.1:9"},
        {"INFOBIP_API_KEY", "fuzz-infobip-key"},
        {"SLUICE_STATE_DIR", "/nonexistent/sluice-fuzz"},
    };

    sluice_log_setup(SLUICE_LOG_ERROR, SLUICE_LOG_FORMAT_AUTO);
    for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
        setenv(placeholders[i][0], placeholders[i][1], 0);
}

/* Load every *.so of `dir` for good (see fuzz_keep_plugins_loaded). */
static void keep_loaded_in(const char *dir)
{
    DIR *listing = opendir(dir);
    struct dirent *entry;

    if (!listing)
        return;
    while ((entry = readdir(listing))) {
        size_t len = strlen(entry->d_name);
        char path[4096];
        if (len < 4 || strcmp(entry->d_name + len - 3, ".so") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        /* RTLD_LOCAL as the registry's lt_dladvise_local; never closed. */
        dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    }
    closedir(listing);
}

void fuzz_keep_plugins_loaded(void)
{
    static int done;
    const char *path = getenv("SLUICE_PLUGIN_PATH");
    char *copy, *dir, *rest;

    if (done)
        return;
    done = 1;
    if (path && *path) {
        copy = strdup(path);
        if (!copy)
            abort();
        for (dir = copy; dir; dir = rest) {
            rest = strchr(dir, ':');
            if (rest)
                *rest++ = '\0';
            if (*dir)
                keep_loaded_in(dir);
        }
        free(copy);
    }
    keep_loaded_in(FUZZ_PLUGIN_DIR);
}

json_t *fuzz_stage_options(const char *file, const char *stage)
{
    char path[4096];
    sluice_error err;
    sluice_registry *reg;
    sluice_pipeline_def *def = NULL;
    const sluice_stage_def *found;
    json_t *options;

    fuzz_keep_plugins_loaded();
    snprintf(path, sizeof(path), "%s/pipelines/%s", fuzz_srcdir(), file);
    reg = sluice_registry_new();
    if (!reg)
        fuzz_fail("cannot start the plugin registry");
    if (sluice_pipeline_require_plugins(path, reg, &err) != 0 ||
        sluice_pipeline_load(path, reg, &def, &err) != 0)
        fuzz_fail("the shipped pipeline does not load: %s", err.text);
    found = sluice_pipeline_stage(def, stage);
    if (!found)
        fuzz_fail("%s has no stage '%s'", path, stage);
    options = json_deep_copy(found->config);
    if (!options)
        fuzz_fail("out of memory");
    sluice_pipeline_free(&def);
    sluice_registry_destroy(&reg);
    return options;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

int fuzz_is_event_id(const char *text)
{
    if (!text || strlen(text) != 32)
        return 0;
    for (size_t i = 0; i < 32; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return 0;
    return 1;
}
