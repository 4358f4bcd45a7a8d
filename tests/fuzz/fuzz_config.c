/* fuzz_config.c: libFuzzer harness of pipeline definitions: the input is
 * a pipeline file's text, run in-process through what `sluice check
 * --print` runs (core/cli/cmd_check.c): sluice_pipeline_require_plugins,
 * sluice_pipeline_load (libconfig, @include, ${ENV} and @file:, every
 * stage's options against its plugin's table), sluice_pipeline_print.
 * The file sits in a temporary directory beside links to the shipped
 * pipelines/fragments and pipelines/mappings, so the shipped pipelines
 * (the seeds) load as they do from pipelines/. The plugins are the build
 * tree's, loaded once and kept (fuzz_keep_plugins_loaded). Properties: a refused file gets a message that
 * names a file ("FILE..." first); a loaded one prints, and its print
 * loads again to the same pipeline name and stage count.
 * Known and owned elsewhere (issue 13 item 12, branch harden): libconfig
 * exits the process on an @include of a directory, and an @include or
 * @file: of a FIFO blocks. Inputs naming an existing path that is not a
 * regular file are skipped until check refuses them itself; remove
 * skip_input's path test then. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_check.h"
#include "fuzz.h"
#include "pipeline.h"
#include "registry.h"

const char fuzz_harness_name[] = "fuzz_config";

static char work_dir[PATH_MAX];
static char pipeline_path[PATH_MAX + 32];
static char print_path[PATH_MAX + 32];
static sluice_registry *registry;

/* Link work_dir/NAME to the shipped pipelines/NAME. */
static void link_shipped(const char *name)
{
    char target[PATH_MAX + 64], link_path[PATH_MAX + 64];

    snprintf(target, sizeof(target), "%s/pipelines/%s", fuzz_srcdir(), name);
    snprintf(link_path, sizeof(link_path), "%s/%s", work_dir, name);
    if (symlink(target, link_path) != 0)
        fuzz_fail("cannot link %s to %s", link_path, target);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    fuzz_setup();
    snprintf(work_dir, sizeof(work_dir), "%s/sluice-fuzz-config-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(work_dir))
        fuzz_fail("cannot create a directory in %s", tmp && *tmp ? tmp : "/tmp");
    link_shipped("fragments");
    link_shipped("mappings");
    snprintf(pipeline_path, sizeof(pipeline_path), "%s/pipeline.cfg", work_dir);
    snprintf(print_path, sizeof(print_path), "%s/printed.cfg", work_dir);
    fuzz_keep_plugins_loaded();
    registry = sluice_registry_new();
    if (!registry)
        fuzz_fail("cannot start the plugin registry");
    return 0;
}

/* Remove the directory and the registry when the process ends. */
__attribute__((destructor)) static void clean_up(void)
{
    static const char *const names[] = {"fragments", "mappings", "pipeline.cfg", "printed.cfg"};
    char path[PATH_MAX + 64];

    if (!work_dir[0])
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", work_dir, names[i]);
        unlink(path);
    }
    rmdir(work_dir);
    sluice_registry_destroy(&registry);
}

/* 1 when the path that starts at `at` (ended by a quote, blank or the end
 * of the text; relative to work_dir) exists and is not a regular file. */
static int names_special_file(const char *at)
{
    char name[PATH_MAX], path[PATH_MAX * 2];
    size_t len = strcspn(at, "\"\n\r\t ");
    struct stat st;

    if (len == 0 || len >= sizeof(name))
        return 0;
    memcpy(name, at, len);
    name[len] = '\0';
    if (name[0] == '/')
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%s/%s", work_dir, name);
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* 1 when the text names, after an @include or @file:, an existing path
 * that is not a regular file (see the file comment). */
static int skip_input(const char *text)
{
    for (const char *at = strchr(text, '@'); at; at = strchr(at + 1, '@')) {
        if (strncmp(at, "@include", 8) == 0) {
            const char *quote = at + 8 + strspn(at + 8, " \t");
            if (*quote == '"' && names_special_file(quote + 1))
                return 1;
        } else if (strncmp(at, "@file:", 6) == 0 && names_special_file(at + 6)) {
            return 1;
        }
    }
    return 0;
}

/* Load path as `sluice check` does. Returns 0 with *def set, 1 when a
 * plugin cannot be loaded, -1 on a configuration error; err filled. */
static int check_file(const char *path, sluice_pipeline_def **def, sluice_error *err)
{
    int rc;

    *def = NULL;
    err->text[0] = '\0';
    rc = sluice_pipeline_require_plugins(path, registry, err);
    if (rc == SLUICE_EXIT_UNAVAILABLE)
        return 1;
    if (rc != 0 || sluice_pipeline_load(path, registry, def, err) != 0)
        return -1;
    return 0;
}

/* A refusal must say where: the message starts with a file's path (the
 * pipeline's or an included file's), as "FILE:LINE: ..." or "FILE: ...". */
static void check_refusal(const sluice_error *err)
{
    size_t path_len = strcspn(err->text, ": \t\n");

    if (!err->text[0])
        fuzz_fail("a pipeline was refused without a message");
    if (path_len == 0 || err->text[path_len] != ':')
        fuzz_fail("the refusal does not start with FILE: %s", err->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    sluice_pipeline_def *def = NULL, *again = NULL;
    sluice_error err;
    FILE *file;
    int rc;

    if (strlen(text) != size || skip_input(text))
        goto out;
    file = fopen(pipeline_path, "wb");
    if (!file || (size && fwrite(data, 1, size, file) != size) || fclose(file) != 0)
        fuzz_fail("cannot write %s", pipeline_path);
    rc = check_file(pipeline_path, &def, &err);
    if (rc != 0) {
        if (rc < 0)
            check_refusal(&err);
        goto out;
    }
    /* check --print, and what it prints is a pipeline that loads again. */
    file = fopen(print_path, "wb");
    if (!file)
        fuzz_fail("cannot write %s", print_path);
    if (sluice_pipeline_print(def, file) != 0)
        fuzz_fail("a valid pipeline does not print");
    if (fclose(file) != 0)
        fuzz_fail("cannot write %s", print_path);
    if (check_file(print_path, &again, &err) != 0)
        fuzz_fail("check --print printed a pipeline that does not load: %s", err.text);
    if (strcmp(again->name, def->name) != 0 || again->stage_count != def->stage_count)
        fuzz_fail("the printed pipeline is another one: %s/%zu -> %s/%zu", def->name,
                  def->stage_count, again->name, again->stage_count);
out:
    sluice_pipeline_free(&again);
    sluice_pipeline_free(&def);
    free(text);
    return 0;
}
