/* test_registry.c: unit tests of the plugin loader (core/lib/registry.c)
 * against real shared objects built from tests/unit/plugins/. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "registry.h"

#ifndef TEST_MODULE_DIR
#error "TEST_MODULE_DIR must name the directory of the built test plugins"
#endif

static char errbuf[2048];

/* Path of built test module `name` (static buffer per call site). */
static const char *module_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.so", TEST_MODULE_DIR, name);
    return buf;
}

/* Load module `name` into `reg`; returns sluice_registry_load_file's result. */
static int load(sluice_registry *reg, const char *name)
{
    char path[PATH_MAX];
    errbuf[0] = '\0';
    return sluice_registry_load_file(reg, module_path(name, path, sizeof(path)), errbuf,
                                     sizeof(errbuf));
}

/* Make a temp dir holding symlinks `link_names[i]` -> module `targets[i]`. */
static char *plugin_dir_with(const char *const *link_names, const char *const *targets,
                             size_t count)
{
    char *dir = strdup("/tmp/sluice-registry-XXXXXX");
    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t i = 0; i < count; i++) {
        char link_path[PATH_MAX];
        char target[PATH_MAX];
        snprintf(link_path, sizeof(link_path), "%s/%s.so", dir, link_names[i]);
        module_path(targets[i], target, sizeof(target));
        ck_assert_int_eq(symlink(target, link_path), 0);
    }
    return dir;
}

/* Remove the symlinks and the dir made by plugin_dir_with. */
static void remove_plugin_dir(char *dir, const char *const *link_names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char link_path[PATH_MAX];
        snprintf(link_path, sizeof(link_path), "%s/%s.so", dir, link_names[i]);
        unlink(link_path);
    }
    rmdir(dir);
    free(dir);
}

START_TEST(good_plugin_loads)
{
    sluice_registry *reg = sluice_registry_new();
    const sluice_plugin *plugin;

    ck_assert_ptr_nonnull(reg);
    ck_assert_msg(load(reg, "test-source") == 0, "refused: %s", errbuf);
    ck_assert_uint_eq(sluice_registry_count(reg), 1);
    plugin = sluice_registry_at(reg, 0);
    ck_assert_str_eq(plugin->name, "test-source");
    ck_assert_int_eq(plugin->role, SLUICE_ROLE_SOURCE);
    ck_assert_str_eq(plugin->options[0].name, "path");
    ck_assert_ptr_nonnull(strstr(sluice_registry_path_at(reg, 0), "test-source"));
    ck_assert_ptr_null(sluice_registry_at(reg, 1));
    sluice_registry_destroy(&reg);
    ck_assert_ptr_null(reg);
}
END_TEST

START_TEST(wrong_abi_refused)
{
    sluice_registry *reg = sluice_registry_new();

    ck_assert_int_eq(load(reg, "test-bad-abi"), -1);
    ck_assert_msg(strstr(errbuf, "test-bad-abi.so: built for ABI 3, this sluice speaks ABI 1 and 2"),
                  "message was: %s", errbuf);
    ck_assert_uint_eq(sluice_registry_count(reg), 0);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(wrong_struct_size_refused)
{
    sluice_registry *reg = sluice_registry_new();
    char expected[256];

    ck_assert_int_eq(load(reg, "test-bad-size"), -1);
    snprintf(expected, sizeof(expected),
             "test-bad-size.so: ABI 1 descriptor is %zu bytes, this sluice reads ABI 1 "
             "descriptors of %zu or %zu",
             (size_t)SLUICE_PLUGIN_SIZE_V1 - sizeof(void *), (size_t)SLUICE_PLUGIN_SIZE_V1,
             (size_t)SLUICE_PLUGIN_SIZE_ABI1);
    ck_assert_msg(strstr(errbuf, expected), "message was: %s", errbuf);
    /* A descriptor from a newer sluice of this ABI, longer than this one
     * knows: refused with the reason, nothing past our size is read. */
    ck_assert_int_eq(load(reg, "test-newer-size"), -1);
    snprintf(expected, sizeof(expected),
             "test-newer-size.so: ABI 2 descriptor is %zu bytes, this sluice expects %zu "
             "(rebuild the plugin against this sluice's plugin.h)",
             sizeof(sluice_plugin) + sizeof(void *), sizeof(sluice_plugin));
    ck_assert_msg(strstr(errbuf, expected), "message was: %s", errbuf);
    ck_assert_uint_eq(sluice_registry_count(reg), 0);
    sluice_registry_destroy(&reg);
}
END_TEST

/* A plugin built against the ABI 1 header (tests/unit/plugins/abi1) loads:
 * its option rows are shorter than ABI 2's, so read with this ABI's
 * layout every row after the first would be garbage; the registry gives
 * the plugin's options in this layout, with no range, choices or kind. */
START_TEST(abi1_plugin_loads_with_its_options)
{
    static const char *const names[] = {"path", "count", "ratio", "verbose", "tags", "extra",
                                        "token"};
    sluice_registry *reg = sluice_registry_new();
    const sluice_plugin *plugin;

    ck_assert_msg(load(reg, "test-abi1") == 0, "refused: %s", errbuf);
    plugin = sluice_registry_at(reg, 0);
    ck_assert_uint_eq(plugin->abi_version, 1);
    ck_assert_uint_eq(plugin->struct_size, SLUICE_PLUGIN_SIZE_ABI1);
    ck_assert_ptr_null(plugin->check);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ck_assert_str_eq(plugin->options[i].name, names[i]);
        ck_assert_ptr_null(plugin->options[i].range);
        ck_assert_ptr_null(plugin->options[i].choices);
        ck_assert_int_eq(plugin->options[i].kind, SLUICE_KIND_ANY);
    }
    ck_assert_str_eq(plugin->options[1].default_value, "3");
    ck_assert_int_eq(plugin->options[6].secret, 1);
    ck_assert_ptr_null(plugin->options[7].name);
    sluice_registry_destroy(&reg);
}
END_TEST

/* A descriptor of the first ABI 1 release ends before `flags`: what lies
 * past its struct_size is not its own and must read as no flags. */
START_TEST(flags_read_only_within_struct_size)
{
    sluice_plugin current = {SLUICE_PLUGIN_HEADER, .name = "x", .flags = SLUICE_PLUGIN_STATELESS};
    sluice_plugin first = current;

    ck_assert_uint_eq(sluice_plugin_flags(&current), SLUICE_PLUGIN_STATELESS);
    first.struct_size = (uint32_t)SLUICE_PLUGIN_SIZE_V1;
    ck_assert_uint_eq(sluice_plugin_flags(&first), 0);
}
END_TEST

/* Rows declare their limits; the loader checks them and their defaults. */
START_TEST(option_limits_are_checked_at_load)
{
    sluice_registry *reg = sluice_registry_new();
    const sluice_plugin *plugin;
    const sluice_option *opt;
    char why[256];
    json_t *value;
    static const struct {
        const char *option;
        const char *json;
        const char *error; /* NULL: accepted */
    } cases[] = {
        {"workers", "4", NULL},
        {"workers", "0", "option 'workers' must be in 1..32, got 0"},
        {"workers", "33", "option 'workers' must be in 1..32, got 33"},
        {"rate", "0.1", NULL},
        {"rate", "-5.0", "option 'rate' must be in 0.1.., got -5"},
        {"mode", "\"webhook\"", NULL},
        {"mode", "\"apii\"", "option 'mode' must be one of api|webhook|feed, got \"apii\""},
        {"base_url", "\"https://api.example.com/v2\"", NULL},
        {"base_url", "\"api.infobip.com\"",
         "option 'base_url' must be an http:// or https:// URL with a host, got \"api.infobip.com\""},
        {"base_url", "\"http:///x\"", "must be an http:// or https:// URL with a host"},
        {"pattern", "\"^[a-z]+\\\\.csv$\"", NULL},
        {"pattern", "\"([a-z\"", "option 'pattern' must be a POSIX extended regular expression"},
        {"every", "\"250ms\"", NULL},
        {"every", "\"1.5h\"", NULL},
        {"every", "\"ten\"", "option 'every' must be a duration"},
        {"every", "\"-1s\"", "option 'every' must be a duration"},
        {"listen", "\"127.0.0.1:8080\"", NULL},
        {"listen", "\"[::1]:80\"", NULL},
        {"listen", "\"127.0.0.1:65536\"", "must be HOST:PORT with PORT in 1..65535"},
        {"listen", "\"8080\"", "must be HOST:PORT"},
        {"kinds", "[\"member\", \"event\"]", NULL},
        {"kinds", "[\"member\", \"evnt\"]", "option 'kinds' must be one of member|event, got \"evnt\""},
    };

    ck_assert_msg(load(reg, "test-limits") == 0, "refused: %s", errbuf);
    plugin = sluice_registry_at(reg, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        opt = sluice_options_find(plugin->options, cases[i].option);
        ck_assert_ptr_nonnull(opt);
        value = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        ck_assert_msg(value != NULL, "bad test json %s", cases[i].json);
        why[0] = '\0';
        if (!cases[i].error)
            ck_assert_msg(sluice_option_check_value(opt, value, why, sizeof(why)) == 0,
                          "%s = %s refused: %s", cases[i].option, cases[i].json, why);
        else
            ck_assert_msg(sluice_option_check_value(opt, value, why, sizeof(why)) == -1 &&
                              strstr(why, cases[i].error),
                          "%s = %s: expected '%s', got '%s'", cases[i].option, cases[i].json,
                          cases[i].error, why);
        json_decref(value);
    }
    /* A table whose default breaks its own range is refused at load. */
    ck_assert_int_eq(load(reg, "test-bad-range"), -1);
    ck_assert_msg(strstr(errbuf, "plugin 'test-bad-options': default of option 'workers' must be "
                                 "in 1..32, got 40"), "message was: %s", errbuf);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(missing_symbol_refused)
{
    sluice_registry *reg = sluice_registry_new();

    ck_assert_int_eq(load(reg, "test-no-symbol"), -1);
    ck_assert_msg(strstr(errbuf, "test-no-symbol.so: not a sluice plugin (no symbol 'sluice_plugin')"),
                  "message was: %s", errbuf);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(missing_dependency_refused)
{
    char dep[PATH_MAX];
    char hidden[PATH_MAX];
    sluice_registry *reg = sluice_registry_new();
    int loaded;

    /* The module's runpath points at the build dir: hide the library there
     * for the duration of the load only, and restore it before asserting. */
    snprintf(dep, sizeof(dep), "%s/libtestdep.so", TEST_MODULE_DIR);
    snprintf(hidden, sizeof(hidden), "%s/libtestdep.so.hidden", TEST_MODULE_DIR);
    /* A run killed while the library was hidden left it so: put it back. */
    if (access(dep, F_OK) != 0 && access(hidden, F_OK) == 0)
        ck_assert_int_eq(rename(hidden, dep), 0);
    ck_assert_msg(rename(dep, hidden) == 0, "cannot hide %s: %s", dep, strerror(errno));
    loaded = load(reg, "test-needs-lib");
    ck_assert_int_eq(rename(hidden, dep), 0);
    ck_assert_int_eq(loaded, -1);
    ck_assert_msg(strstr(errbuf, "test-needs-lib.so: cannot load: "), "message was: %s", errbuf);
    ck_assert_msg(strstr(errbuf, "libtestdep.so: cannot open shared object file"),
                  "lt_dlerror text missing: %s", errbuf);

    /* With the library back the same module loads. */
    ck_assert_msg(load(reg, "test-needs-lib") == 0, "refused: %s", errbuf);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(duplicate_name_refused)
{
    sluice_registry *reg = sluice_registry_new();

    ck_assert_int_eq(load(reg, "test-sink"), 0);
    ck_assert_int_eq(load(reg, "test-dup-name"), -1);
    ck_assert_msg(strstr(errbuf, "test-dup-name.so: duplicate plugin name 'test-sink', already loaded from "),
                  "message was: %s", errbuf);
    ck_assert_msg(strstr(errbuf, "/test-sink.so"), "first file not named: %s", errbuf);
    ck_assert_uint_eq(sluice_registry_count(reg), 1);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(bad_descriptors_refused)
{
    sluice_registry *reg = sluice_registry_new();

    ck_assert_int_eq(load(reg, "test-sink-no-write"), -1);
    ck_assert_msg(strstr(errbuf, "test-sink-no-write.so: plugin 'test-sink' is a sink without write()"),
                  "message was: %s", errbuf);
    ck_assert_int_eq(load(reg, "test-reserved-option"), -1);
    ck_assert_msg(strstr(errbuf, "option 'hwm' uses a reserved stage key"), "message was: %s",
                  errbuf);
    ck_assert_int_eq(load(reg, "test-dup-option"), -1);
    ck_assert_msg(strstr(errbuf, "option 'path' is declared twice"), "message was: %s", errbuf);
    ck_assert_uint_eq(sluice_registry_count(reg), 0);
    sluice_registry_destroy(&reg);
}
END_TEST

START_TEST(require_searches_plugin_path)
{
    static const char *const links[] = {"test-source", "renamed-module"};
    static const char *const targets[] = {"test-source", "test-transform"};
    char *dir = plugin_dir_with(links, targets, 2);
    sluice_registry *reg;
    const sluice_plugin *plugin;

    ck_assert_int_eq(setenv("SLUICE_PLUGIN_PATH", dir, 1), 0);
    reg = sluice_registry_new();
    /* Names are plain: no path can sneak in through a pipeline file. */
    ck_assert_ptr_null(sluice_registry_require(reg, "../.libs/test-source", errbuf, sizeof(errbuf)));
    ck_assert_str_eq(errbuf, "invalid plugin name '../.libs/test-source' (use [A-Za-z0-9_.-])");
    /* A near miss is answered with the closest plugin name. */
    ck_assert_ptr_null(sluice_registry_require(reg, "test-sourse", errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "plugin 'test-sourse' not found (did you mean 'test-source'?) (searched: "),
                  "message was: %s", errbuf);
    plugin = sluice_registry_require(reg, "test-source", errbuf, sizeof(errbuf));
    ck_assert_msg(plugin != NULL, "not found: %s", errbuf);
    ck_assert_str_eq(plugin->name, "test-source");
    /* A second require returns the loaded one. */
    ck_assert_ptr_eq(sluice_registry_require(reg, "test-source", errbuf, sizeof(errbuf)), plugin);
    /* A file named differently is found by looking inside the modules. */
    plugin = sluice_registry_require(reg, "test-transform", errbuf, sizeof(errbuf));
    ck_assert_msg(plugin != NULL, "not found: %s", errbuf);
    ck_assert_int_eq(plugin->role, SLUICE_ROLE_TRANSFORM);
    ck_assert_ptr_null(sluice_registry_require(reg, "no-such-plugin", errbuf, sizeof(errbuf)));
    ck_assert_msg(strstr(errbuf, "plugin 'no-such-plugin' not found (searched: "),
                  "message was: %s", errbuf);
    ck_assert_msg(strstr(errbuf, dir), "search path not shown: %s", errbuf);
    sluice_registry_destroy(&reg);
    unsetenv("SLUICE_PLUGIN_PATH");
    remove_plugin_dir(dir, links, 2);
}
END_TEST

/* Collects warnings of sluice_registry_load_all. */
static void collect_warning(const char *msg, void *user)
{
    char *all = user;
    size_t used = strlen(all);
    snprintf(all + used, 4096 - used, "%s\n", msg);
}

START_TEST(load_all_reports_bad_files)
{
    static const char *const links[] = {"a-sink", "b-bad-abi", "c-source"};
    static const char *const targets[] = {"test-sink", "test-bad-abi", "test-source"};
    char *dir = plugin_dir_with(links, targets, 3);
    char warnings[4096] = "";
    sluice_registry *reg;
    int saw_sink = 0, saw_source = 0;

    ck_assert_int_eq(setenv("SLUICE_PLUGIN_PATH", dir, 1), 0);
    reg = sluice_registry_new();
    ck_assert_uint_ge(sluice_registry_load_all(reg, collect_warning, warnings), 2);
    for (size_t i = 0; i < sluice_registry_count(reg); i++) {
        saw_sink |= strcmp(sluice_registry_at(reg, i)->name, "test-sink") == 0;
        saw_source |= strcmp(sluice_registry_at(reg, i)->name, "test-source") == 0;
    }
    ck_assert(saw_sink && saw_source);
    ck_assert_msg(strstr(warnings, "b-bad-abi.so: built for ABI 3, this sluice speaks ABI 1 and 2"),
                  "warnings were: %s", warnings);
    sluice_registry_destroy(&reg);
    unsetenv("SLUICE_PLUGIN_PATH");
    remove_plugin_dir(dir, links, 3);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *suite = suite_create("registry");
    TCase *tc = tcase_create("load");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, good_plugin_loads);
    tcase_add_test(tc, wrong_abi_refused);
    tcase_add_test(tc, wrong_struct_size_refused);
    tcase_add_test(tc, flags_read_only_within_struct_size);
    tcase_add_test(tc, abi1_plugin_loads_with_its_options);
    tcase_add_test(tc, option_limits_are_checked_at_load);
    tcase_add_test(tc, missing_symbol_refused);
    tcase_add_test(tc, missing_dependency_refused);
    tcase_add_test(tc, duplicate_name_refused);
    tcase_add_test(tc, bad_descriptors_refused);
    tcase_add_test(tc, require_searches_plugin_path);
    tcase_add_test(tc, load_all_reports_bad_files);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(registry_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
