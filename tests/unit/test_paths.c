/* test_paths.c: unit tests of where sluice finds and puts files: the
 * include search path of pipeline files (core/lib/include_path.c, through
 * config.c), the plugin search path of a program that is not the
 * uninstalled sluice (registry.c), and the mode of the state directories
 * it creates (util/private_dir.c, through the supervisor). Real files in
 * a temp dir; plugins are the real test modules. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_check.h"
#include "include_path.h"
#include "pipeline.h"
#include "registry.h"
#include "supervisor.h"
#include "util/private_dir.h"

#ifndef TEST_MODULE_DIR
#error "TEST_MODULE_DIR must name the directory of the built test plugins"
#endif

static char tmpdir[64];
static sluice_registry *reg;
static sluice_error err;

/* tmpdir/name (static buffer per call: copy before the next call). */
static const char *in_tmp(const char *name)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

/* Write `content` to tmpdir/name, making its directories. Returns the
 * path (static buffer). */
static const char *write_file(const char *name, const char *content)
{
    static char path[PATH_MAX];
    char dirs[PATH_MAX];
    char *slash;
    FILE *file;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    snprintf(dirs, sizeof(dirs), "%s", path);
    slash = strrchr(dirs, '/');
    *slash = '\0';
    ck_assert_int_eq(sluice_make_private_dirs(dirs), 0);
    file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fputs(content, file) >= 0, 1);
    ck_assert_int_eq(fclose(file), 0);
    return path;
}

/* The include directory chosen for tmpdir/name (static buffer). */
static const char *include_dir_of(const char *name, const char *base)
{
    static char dir[PATH_MAX];
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    ck_assert_int_eq(sluice_include_dir(path, base, dir, sizeof(dir)), 0);
    return dir;
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-paths-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    setenv("SLUICE_PLUGIN_PATH", TEST_MODULE_DIR, 1);
    unsetenv("SLUICE_INCLUDE_PATH");
    reg = sluice_registry_new();
    ck_assert_ptr_nonnull(reg);
}

static void teardown(void)
{
    char command[PATH_MAX + 16];

    sluice_registry_destroy(&reg);
    unsetenv("SLUICE_INCLUDE_PATH");
    snprintf(command, sizeof(command), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(command), 0);
}

/* A client's pipeline in etc/ whose sink comes from an @include. */
#define CLIENT_PIPELINE(include)                                                 \
    "pipeline = {\n  name = \"p\";\n  state_dir = \"state\";\n  stages = (\n"    \
    "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"           \
    "    {\n      @include \"" include "\"\n    }\n  );\n};\n"

START_TEST(include_dir_is_the_first_holding_every_include)
{
    char etc[PATH_MAX], extra[PATH_MAX], shared[PATH_MAX], search[2 * PATH_MAX + 8];

    snprintf(etc, sizeof(etc), "%s/etc", tmpdir);
    snprintf(extra, sizeof(extra), "%s/extra", tmpdir);
    snprintf(shared, sizeof(shared), "%s/share", tmpdir);
    snprintf(search, sizeof(search), "%s::%s", extra, shared);
    ck_assert_int_eq(sluice_make_private_dirs(extra), 0);
    write_file("share/mappings/sink.cfg", "name = \"out\";\n@include \"mappings/more.cfg\"\n");
    write_file("share/mappings/more.cfg", "plugin = \"test-sink\";\n");
    write_file("etc/local.cfg", "name = \"out\"; plugin = \"test-sink\";\n");
    write_file("etc/plain.cfg", "# no includes, and none in a comment:\n# @include \"x\"\n");
    write_file("etc/shared.cfg", CLIENT_PIPELINE("mappings/sink.cfg"));
    write_file("etc/own.cfg", CLIENT_PIPELINE("local.cfg"));
    write_file("etc/mixed.cfg", "@include \"local.cfg\"\n@include \"mappings/sink.cfg\"\n");

    /* Without the environment's directories, only the file's own. */
    ck_assert_str_eq(include_dir_of("etc/shared.cfg", etc), etc);
    ck_assert_int_eq(setenv("SLUICE_INCLUDE_PATH", search, 1), 0);
    /* The shared directory holds the include and the one nested in it. */
    ck_assert_str_eq(include_dir_of("etc/shared.cfg", etc), shared);
    /* The pipeline's own directory comes first. */
    ck_assert_str_eq(include_dir_of("etc/own.cfg", etc), etc);
    ck_assert_str_eq(include_dir_of("etc/plain.cfg", etc), etc);
    /* Split between two directories: libconfig 1.5 has one include
     * directory, so the file's own, where libconfig names what is missing. */
    ck_assert_str_eq(include_dir_of("etc/mixed.cfg", etc), etc);
    /* A nested include missing from the shared directory rules it out. */
    ck_assert_int_eq(unlink(in_tmp("share/mappings/more.cfg")), 0);
    ck_assert_str_eq(include_dir_of("etc/shared.cfg", etc), etc);
}
END_TEST

START_TEST(include_dir_never_opens_a_fifo)
{
    char etc[PATH_MAX];

    snprintf(etc, sizeof(etc), "%s", tmpdir);
    ck_assert_int_eq(mkfifo(in_tmp("pipe.cfg"), 0600), 0);
    write_file("fifo-include.cfg", "@include \"pipe.cfg\"\n");
    /* Would block forever in open() if either were read. */
    ck_assert_str_eq(include_dir_of("pipe.cfg", etc), etc);
    ck_assert_str_eq(include_dir_of("fifo-include.cfg", etc), etc);
}
END_TEST

START_TEST(pipeline_includes_shared_mapping)
{
    char shared[PATH_MAX], expected[3 * PATH_MAX];
    sluice_pipeline_def *def = NULL;
    char path[PATH_MAX];

    snprintf(shared, sizeof(shared), "%s/share", tmpdir);
    write_file("share/mappings/sink.cfg", "name = \"out\";\nplugin = \"test-sink\";\nbatch = 25;\n");
    write_file("share/mappings/bad.cfg", "name = \"out\";\nplugin = \"test-sink\";\nbatch = true;\n");
    ck_assert_int_eq(setenv("SLUICE_INCLUDE_PATH", shared, 1), 0);
    snprintf(path, sizeof(path), "%s", write_file("etc/client.cfg",
                                                  CLIENT_PIPELINE("mappings/sink.cfg")));
    ck_assert_msg(sluice_pipeline_load(path, reg, &def, &err) == 0, "refused: %s", err.text);
    ck_assert_str_eq(def->stages[1].name, "out");
    ck_assert_int_eq(json_integer_value(json_object_get(def->stages[1].config, "batch")), 25);
    /* Relative values still mean the pipeline file's directory. */
    snprintf(expected, sizeof(expected), "%s/etc/state", tmpdir);
    ck_assert_str_eq(def->state_dir, expected);
    sluice_pipeline_free(&def);
    ck_assert_int_eq(sluice_pipeline_require_plugins(path, reg, &err), 0);

    /* An error in the shared fragment names it where it is, and the
     * @include that brought it in. */
    snprintf(path, sizeof(path), "%s", write_file("etc/bad.cfg",
                                                  CLIENT_PIPELINE("mappings/bad.cfg")));
    ck_assert_int_ne(sluice_pipeline_load(path, reg, &def, &err), 0);
    snprintf(expected, sizeof(expected),
             "%s/mappings/bad.cfg:3: stage 'out' (plugin test-sink): option 'batch' expects "
             "int, got bool (included at %s:7)", shared, path);
    ck_assert_str_eq(err.text, expected);
}
END_TEST

START_TEST(state_dirs_are_private)
{
    sluice_pipeline_def *def = NULL;
    char path[PATH_MAX];
    char errbuf[512];
    struct stat st;
    mode_t old_umask = umask(022);

    snprintf(path, sizeof(path), "%s",
             write_file("p.cfg", "pipeline = {\n  name = \"p\";\n  state_dir = \"var/lib/p\";\n"
                                 "  runtime_dir = \"run/p\";\n  stages = (\n"
                                 "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
                                 "    { name = \"out\"; plugin = \"test-sink\"; }\n  );\n};\n"));
    ck_assert_msg(sluice_pipeline_load(path, reg, &def, &err) == 0, "refused: %s", err.text);
    ck_assert_msg(sluice_run_prepare(&def, 1, errbuf, sizeof(errbuf)) == 0, "%s", errbuf);
    umask(old_umask);
    for (size_t i = 0; i < 4; i++) {
        static const char *const made[] = {"var", "var/lib/p", "run", "run/p"};
        ck_assert_int_eq(stat(in_tmp(made[i]), &st), 0);
        ck_assert_msg((st.st_mode & 07777) == 0700, "%s is %04o, expected 0700", made[i],
                      (unsigned)(st.st_mode & 07777));
    }
    sluice_pipeline_free(&def);
    /* A file where a directory should be is named as such. */
    write_file("file", "x");
    errno = 0;
    ck_assert_int_eq(sluice_make_private_dirs(in_tmp("file")), -1);
    ck_assert_int_eq(errno, ENOTDIR);
}
END_TEST

START_TEST(test_program_searches_no_build_tree)
{
    sluice_registry *plain;
    const sluice_plugin *found;
    char why[4096];

    /* This program is not <build>/core/.libs/sluice: without
     * SLUICE_PLUGIN_PATH it searches the installed plugin dir only, never
     * <build>/plugins/.libs, whose plugins exist while the tests run. */
    unsetenv("SLUICE_PLUGIN_PATH");
    plain = sluice_registry_new();
    ck_assert_ptr_nonnull(plain);
    found = sluice_registry_require(plain, "file-sink", why, sizeof(why));
    if (found) /* installed on this machine */
        snprintf(why, sizeof(why), "loaded from %s", sluice_registry_path_at(plain, 0));
    else
        ck_assert_msg(strstr(why, "plugin 'file-sink' not found (searched:"), "message was: %s",
                      why);
    ck_assert_msg(strstr(why, "plugins/.libs") == NULL, "a build tree is searched: %s", why);
    sluice_registry_destroy(&plain);
}
END_TEST

static Suite *paths_suite(void)
{
    Suite *suite = suite_create("paths");
    TCase *tc = tcase_create("paths");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, include_dir_is_the_first_holding_every_include);
    tcase_add_test(tc, include_dir_never_opens_a_fifo);
    tcase_add_test(tc, pipeline_includes_shared_mapping);
    tcase_add_test(tc, state_dirs_are_private);
    tcase_add_test(tc, test_program_searches_no_build_tree);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(paths_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
