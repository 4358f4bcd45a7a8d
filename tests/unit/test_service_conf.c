/* test_service_conf.c: unit tests of the service settings file
 * (core/lib/service_conf.c): a good file, the built-in defaults, each kind
 * of bad setting refused with FILE:LINE, every error of a file reported at
 * once, and how state_dir reaches the pipelines (SLUICE_STATE_DIR). Real
 * files in a temp dir. */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service_conf.h"

static char tmpdir[64];
static sluice_service_conf conf;
static sluice_error err;

/* Write `content` to tmpdir/name. Returns the path (static buffer: copy
 * before the next call). */
static const char *write_file(const char *name, const char *content)
{
    static char path[PATH_MAX];
    FILE *file;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fputs(content, file) >= 0, 1);
    ck_assert_int_eq(fclose(file), 0);
    return path;
}

/* Read the settings `content` (as tmpdir/sluice.conf); returns what
 * sluice_service_conf_read returns. */
static int read_conf(const char *content)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s", write_file("sluice.conf", content));
    return sluice_service_conf_read(path, &conf, &err);
}

/* Assert that the errors hold "tmpdir/sluice.conf:LINE: text". */
static void assert_error(int line, const char *text)
{
    char expected[PATH_MAX + 512];

    snprintf(expected, sizeof(expected), "%s/sluice.conf:%d: %s", tmpdir, line, text);
    ck_assert_msg(strstr(err.all, expected), "expected '%s' in:\n%s", expected, err.all);
}

static void setup(void)
{
    char dir[PATH_MAX];

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-svcconf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dir, sizeof(dir), "%s/pipelines.d", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    unsetenv("SLUICE_STATE_DIR");
}

static void teardown(void)
{
    char command[PATH_MAX + 16];

    unsetenv("SLUICE_STATE_DIR");
    snprintf(command, sizeof(command), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(command), 0);
}

START_TEST(good_file_sets_everything)
{
    char expected[PATH_MAX + 32];

    write_file("auth", "admin:secret\n");
    write_file("cert.pem", "cert\n");
    write_file("key.pem", "key\n");
    ck_assert_int_eq(read_conf("# the service\n"
                               "pipelines_dir = \"pipelines.d\";\n"
                               "state_dir = \"/srv/sluice\";\n"
                               "admin_listen = \"127.0.0.1:9999\";\n"
                               "admin_auth_file = \"auth\";\n"
                               "admin_tls_cert = \"cert.pem\";\n"
                               "admin_tls_key = \"key.pem\";\n"
                               "log_level = \"debug\";\n"), 0);
    ck_assert_int_eq((int)err.count, 0);
    /* relative paths are taken from the file's directory */
    snprintf(expected, sizeof(expected), "%s/pipelines.d", tmpdir);
    ck_assert_str_eq(conf.pipelines_dir, expected);
    ck_assert_int_eq(conf.pipelines_dir_line, 2);
    ck_assert_str_eq(conf.state_dir, "/srv/sluice");
    ck_assert_int_eq(conf.state_dir_line, 3);
    ck_assert_str_eq(conf.admin_listen, "127.0.0.1:9999");
    snprintf(expected, sizeof(expected), "%s/auth", tmpdir);
    ck_assert_str_eq(conf.admin_auth_file, expected);
    snprintf(expected, sizeof(expected), "%s/cert.pem", tmpdir);
    ck_assert_str_eq(conf.admin_tls_cert, expected);
    snprintf(expected, sizeof(expected), "%s/key.pem", tmpdir);
    ck_assert_str_eq(conf.admin_tls_key, expected);
    ck_assert_int_eq(conf.log_level, SLUICE_LOG_DEBUG);
    ck_assert_int_eq(conf.log_level_line, 8);
}
END_TEST

START_TEST(empty_file_gives_the_defaults)
{
    ck_assert_int_eq(read_conf("# nothing set\n"), 0);
    ck_assert_str_eq(conf.pipelines_dir, SLUICE_SYSCONFDIR "/pipelines.d");
    ck_assert_str_eq(conf.state_dir, SLUICE_STATEDIR);
    ck_assert_str_eq(conf.admin_listen, "");
    ck_assert_str_eq(conf.admin_auth_file, "");
    ck_assert_int_eq(conf.log_level, SLUICE_LOG_INFO);
    ck_assert_int_eq(conf.log_level_line, 0);
    ck_assert_int_eq(conf.pipelines_dir_line, 0);
    ck_assert_str_eq(sluice_service_conf_default_path(), SLUICE_SYSCONFDIR "/sluice.conf");
}
END_TEST

START_TEST(listen_forms)
{
    ck_assert_int_eq(read_conf("admin_listen = \"off\";\n"), 0);
    ck_assert_str_eq(conf.admin_listen, "off");
    ck_assert_int_eq(read_conf("admin_listen = \"[::1]:9180\";\n"), 0);
    ck_assert_int_eq(read_conf("admin_listen = \":9180\";\n"), 0);
    ck_assert_int_eq(read_conf("admin_listen = \"0.0.0.0:0\";\n"), 0);
}
END_TEST

START_TEST(unknown_setting_suggests)
{
    ck_assert_int_eq(read_conf("log_level = \"info\";\n\npipeline_dir = \"/x\";\n"),
                     SLUICE_EXIT_CONFIG);
    assert_error(3, "unknown setting 'pipeline_dir' (did you mean 'pipelines_dir'?)");
    ck_assert_int_eq((int)err.count, 1);
    ck_assert_int_eq(read_conf("colour = \"blue\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "unknown setting 'colour'");
    /* a group of settings is not how the file is written */
    ck_assert_int_eq(read_conf("service = { log_level = \"info\"; };\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "unknown setting 'service'");
}
END_TEST

START_TEST(wrong_types)
{
    ck_assert_int_eq(read_conf("\nlog_level = 3;\n"), SLUICE_EXIT_CONFIG);
    assert_error(2, "'log_level' must be a string, not int");
    ck_assert_int_eq(read_conf("admin_listen = [\"a\"];\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "'admin_listen' must be a string, not list");
    ck_assert_int_eq(read_conf("state_dir = true;\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "'state_dir' must be a string, not bool");
    ck_assert_int_eq(read_conf("state_dir = \"\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "'state_dir' is empty");
}
END_TEST

START_TEST(bad_values)
{
    char text[PATH_MAX + 128];

    ck_assert_int_eq(read_conf("log_level = \"loud\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "log_level 'loud': expected error, warn, info or debug");
    ck_assert_int_eq(read_conf("admin_listen = \"localhost\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "admin_listen 'localhost': expected ADDR:PORT");
    ck_assert_int_eq(read_conf("admin_listen = \"127.0.0.1:70000\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(1, "admin_listen '127.0.0.1:70000'");
    ck_assert_int_eq(read_conf("pipelines_dir = \"/nonexistent/sluice-pipelines.d\";\n"),
                     SLUICE_EXIT_CONFIG);
    assert_error(1, "pipelines_dir /nonexistent/sluice-pipelines.d: No such file or directory");
    ck_assert_str_eq(conf.pipelines_dir, "");
    write_file("plain", "x\n");
    ck_assert_int_eq(read_conf("pipelines_dir = \"plain\";\n"), SLUICE_EXIT_CONFIG);
    snprintf(text, sizeof(text), "pipelines_dir %s/plain: not a directory", tmpdir);
    assert_error(1, text);
    ck_assert_int_eq(read_conf("admin_auth_file = \"/nonexistent/auth\";\n"),
                     SLUICE_EXIT_CONFIG);
    assert_error(1, "admin_auth_file /nonexistent/auth: No such file or directory");
    write_file("cert.pem", "cert\n");
    ck_assert_int_eq(read_conf("\nadmin_tls_cert = \"cert.pem\";\n"), SLUICE_EXIT_CONFIG);
    assert_error(2, "admin_tls_cert needs admin_tls_key");
}
END_TEST

START_TEST(syntax_and_duplicates)
{
    ck_assert_int_eq(read_conf("log_level = \"info\";\nstate_dir = ;\n"), SLUICE_EXIT_CONFIG);
    assert_error(2, "syntax error");
    ck_assert_int_eq(read_conf("log_level = \"info\";\nlog_level = \"debug\";\n"),
                     SLUICE_EXIT_CONFIG);
    assert_error(2, "setting 'log_level' is set twice in this group (first on line 1)");
}
END_TEST

START_TEST(every_error_is_reported)
{
    ck_assert_int_eq(read_conf("log_level = \"loud\";\n"
                               "admin_listen = \"nowhere\";\n"
                               "state_dir = \"/srv/ok\";\n"
                               "pipelines_di = \"x\";\n"),
                     SLUICE_EXIT_CONFIG);
    ck_assert_int_eq((int)err.count, 3);
    assert_error(1, "log_level 'loud'");
    assert_error(2, "admin_listen 'nowhere'");
    assert_error(4, "unknown setting 'pipelines_di' (did you mean 'pipelines_dir'?)");
    /* the good one is read all the same */
    ck_assert_str_eq(conf.state_dir, "/srv/ok");
}
END_TEST

START_TEST(missing_file)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
    ck_assert_int_eq(sluice_service_conf_read(path, &conf, &err), SLUICE_EXIT_CONFIG);
    ck_assert_msg(strstr(err.text, "none.conf: cannot read: No such file or directory"),
                  "message was: %s", err.text);
}
END_TEST

START_TEST(state_dir_reaches_the_environment_unless_set)
{
    ck_assert_int_eq(read_conf("state_dir = \"/srv/state\";\n"), 0);
    ck_assert_int_eq(sluice_service_conf_export_state_dir(&conf), 0);
    ck_assert_str_eq(getenv("SLUICE_STATE_DIR"), "/srv/state");
    setenv("SLUICE_STATE_DIR", "/from/env", 1);
    ck_assert_int_eq(sluice_service_conf_export_state_dir(&conf), 0);
    ck_assert_str_eq(getenv("SLUICE_STATE_DIR"), "/from/env");
    /* empty is unset */
    setenv("SLUICE_STATE_DIR", "", 1);
    ck_assert_int_eq(sluice_service_conf_export_state_dir(&conf), 0);
    ck_assert_str_eq(getenv("SLUICE_STATE_DIR"), "/srv/state");
}
END_TEST

static Suite *service_conf_suite(void)
{
    Suite *suite = suite_create("service_conf");
    TCase *tc = tcase_create("service_conf");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_file_sets_everything);
    tcase_add_test(tc, empty_file_gives_the_defaults);
    tcase_add_test(tc, listen_forms);
    tcase_add_test(tc, unknown_setting_suggests);
    tcase_add_test(tc, wrong_types);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, syntax_and_duplicates);
    tcase_add_test(tc, every_error_is_reported);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, state_dir_reaches_the_environment_unless_set);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(service_conf_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
