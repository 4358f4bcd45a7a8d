/* test_config.c: unit tests of pipeline definitions (core/lib/config.c):
 * exact FILE:LINE errors, interpolation, @file: secrets and masking,
 * @include, defaults with the declared JSON types, the dlq commands' load
 * that leaves secrets unresolved. Pipelines are real files in a temp dir;
 * plugins are the real test modules. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_check.h"
#include "curve.h"
#include "log.h"
#include "pipeline.h"

#ifndef TEST_MODULE_DIR
#error "TEST_MODULE_DIR must name the directory of the built test plugins"
#endif

static char tmpdir[64];
static sluice_registry *reg;
static sluice_error err;

/* Write `content` to tmpdir/name; returns the path (static buffer). */
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

/* Load pipeline text written to tmpdir/name. Returns the definition or
 * NULL (err holds the message). */
static sluice_pipeline_def *load_text(const char *name, const char *content)
{
    sluice_pipeline_def *def = NULL;
    const char *path = write_file(name, content);

    err.text[0] = '\0';
    if (sluice_pipeline_load(path, reg, &def, &err) != 0)
        return NULL;
    return def;
}

/* Assert that loading `content` fails with exactly "tmpdir/name:" + tail. */
static void expect_error(const char *name, const char *content, const char *tail)
{
    char expected[2048];
    sluice_pipeline_def *def = load_text(name, content);

    if (def)
        sluice_pipeline_free(&def);
    ck_assert_msg(def == NULL, "pipeline %s was accepted", name);
    snprintf(expected, sizeof(expected), "%s/%s:%s", tmpdir, name, tail);
    ck_assert_str_eq(err.text, expected);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    setenv("SLUICE_PLUGIN_PATH", TEST_MODULE_DIR, 1);
    reg = sluice_registry_new();
    ck_assert_ptr_nonnull(reg);
}

static void teardown(void)
{
    char command[PATH_MAX + 16];

    sluice_registry_destroy(&reg);
    snprintf(command, sizeof(command), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(command), 0);
}

/* Two-stage pipeline with one source line varying (line 4). */
#define HEAD "pipeline = {\n  name = \"p\";\n  state_dir = \"state\";\n  stages = (\n"
#define SINK "    { name = \"out\"; plugin = \"test-sink\"; }\n  );\n};\n"

START_TEST(defaults_have_declared_types)
{
    sluice_pipeline_def *def = load_text("ok.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"/data/in\"; ratio = 2; },\n"
        SINK);
    const json_t *config;
    char expected[PATH_MAX + 16];

    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(def->name, "p");
    ck_assert_uint_eq(def->stage_count, 2);
    snprintf(expected, sizeof(expected), "%s/state", tmpdir);
    ck_assert_str_eq(def->state_dir, expected);
    snprintf(expected, sizeof(expected), "%s/state/run", tmpdir);
    ck_assert_str_eq(def->runtime_dir, expected);
    ck_assert_uint_eq(def->batch_size, 500);
    ck_assert_int_eq(def->batch_linger_ms, 200);
    ck_assert_int_eq(def->window, 8);
    ck_assert_int_eq(def->ack_timeout_ms, 30000);
    ck_assert_int_eq(def->restart_max, 5);

    config = def->stages[0].config;
    ck_assert_str_eq(json_string_value(json_object_get(config, "path")), "/data/in");
    ck_assert(json_is_integer(json_object_get(config, "count")));
    ck_assert_int_eq(json_integer_value(json_object_get(config, "count")), 3);
    /* An int given for a double option arrives as a real. */
    ck_assert(json_is_real(json_object_get(config, "ratio")));
    ck_assert(json_real_value(json_object_get(config, "ratio")) == 2.0);
    ck_assert(json_is_false(json_object_get(config, "verbose")));
    ck_assert(json_is_array(json_object_get(config, "tags")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(config, "tags"), 1)), "b");
    ck_assert(json_is_object(json_object_get(config, "extra")));
    /* No default and not set: absent. */
    ck_assert_ptr_null(json_object_get(config, "token"));

    ck_assert_int_eq(def->stages[0].common.hwm, 4);
    ck_assert(def->stages[0].common.rate_limit == 0);
    ck_assert(def->stages[0].common.burst == 1);
    ck_assert_int_eq(def->stages[0].common.http_timeout_ms, 30000);
    ck_assert_int_eq(def->stages[0].common.retry_max_backoff_ms, 60000);
    ck_assert_int_eq(def->stages[0].common.tls_verify, 1);
    ck_assert_ptr_null(def->stages[0].common.group);
    ck_assert_ptr_null(def->stages[0].common.endpoint);
    ck_assert_int_eq(def->stages[0].line, 5);
    ck_assert(json_is_integer(json_object_get(def->stages[1].config, "batch")));
    ck_assert_ptr_eq(sluice_pipeline_stage(def, "out"), &def->stages[1]);
    ck_assert_ptr_null(sluice_pipeline_stage(def, "nope"));
    sluice_pipeline_free(&def);
    ck_assert_ptr_null(def);
}
END_TEST

START_TEST(common_keys_parsed)
{
    sluice_pipeline_def *def = load_text("common.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"/var/x\";\n  runtime_dir = \"rt\";\n"
        "  batch_size = 50; window = 2; restart = { max = 1; backoff_ms = 10; };\n"
        "  stages = (\n"
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; group = \"g1\"; },\n"
        "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\"; group = \"g1\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\"; endpoint = \"tcp://127.0.0.1:5555\";\n"
        "      rate_limit = 4.0; http_max_attempts = 3; tls_verify = false; external = true; }\n"
        "  );\n};\n");
    const sluice_stage_common *common;
    char expected[PATH_MAX + 8];

    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(def->state_dir, "/var/x");
    snprintf(expected, sizeof(expected), "%s/rt", tmpdir);
    ck_assert_str_eq(def->runtime_dir, expected);
    ck_assert_uint_eq(def->batch_size, 50);
    ck_assert_int_eq(def->window, 2);
    ck_assert_int_eq(def->restart_max, 1);
    ck_assert_int_eq(def->restart_backoff_ms, 10);
    ck_assert_int_eq(def->restart_window_s, 60);
    ck_assert_str_eq(def->stages[1].common.group, "g1");
    common = &def->stages[2].common;
    ck_assert_str_eq(common->endpoint, "tcp://127.0.0.1:5555");
    ck_assert(common->rate_limit == 4.0);
    ck_assert(common->burst == 4.0);
    ck_assert_int_eq(common->http_max_attempts, 3);
    ck_assert_int_eq(common->tls_verify, 0);
    ck_assert_int_eq(common->external, 1);
    /* Common keys are not passed to the plugin. */
    ck_assert_ptr_null(json_object_get(def->stages[2].config, "rate_limit"));
    sluice_pipeline_free(&def);
}
END_TEST

START_TEST(errors_name_file_and_line)
{
    expect_error("syntax.cfg", "pipeline = {\n  name = \"p\";\n  state_dir = ;\n};\n",
                 "3: syntax error");
    expect_error("unknown.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\";\n      pth = \"/x\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): unknown option 'pth' (did you mean 'path'?)");
    expect_error("unknown2.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; colour = 1; },\n" SINK,
        "5: stage 'in' (plugin test-source): unknown option 'colour'");
    expect_error("common-typo.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; hwn = 2; },\n" SINK,
        "5: stage 'in' (plugin test-source): unknown option 'hwn' (did you mean 'hwm'?)");
    expect_error("type.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n      count = \"7\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): option 'count' expects int, got string");
    expect_error("required.cfg", HEAD "    { name = \"in\"; plugin = \"test-source\"; },\n" SINK,
                 "5: stage 'in' (plugin test-source): missing required option 'path'");
    expect_error("order.cfg", HEAD
        "    { name = \"out\"; plugin = \"test-sink\"; },\n"
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; }\n  );\n};\n",
        "5: stage 'out' (plugin test-sink): a sink cannot be the first stage; "
        "the first stage must be a source");
    expect_error("middle.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"in2\"; plugin = \"test-source\"; path = \"x\"; },\n" SINK,
        "6: stage 'in2' (plugin test-source): a source cannot be a middle stage; "
        "the middle stages must be a transform");
    expect_error("endpoint.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      endpoint = \"tcp://localhost\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): 'endpoint' must be ipc://PATH or "
        "tcp://HOST:PORT with PORT in 1..65534 (acks use PORT+1), got \"tcp://localhost\"");
    expect_error("range.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; hwm = 0; },\n" SINK,
        "5: stage 'in' (plugin test-source): option 'hwm' must be in 1..100000, got 0");
    expect_error("noname.cfg", HEAD "    { plugin = \"test-source\"; path = \"x\"; },\n" SINK,
                 "5: stage #1: missing 'name'");
    expect_error("pipekey.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"s\";\n  batch_sise = 10;\n};\n",
        "4: unknown pipeline key 'batch_sise' (did you mean 'batch_size'?)");
    expect_error("nostate.cfg", "pipeline = {\n  name = \"p\";\n  stages = ();\n};\n",
                 "1: pipeline: missing 'state_dir'");
    expect_error("badname.cfg", "pipeline = {\n  name = \"a b\";\n};\n",
                 "2: pipeline name must match [A-Za-z0-9_.-]+, got \"a b\"");
    expect_error("oneStage.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"s\";\n  stages = (\n"
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; }\n  );\n};\n",
        "4: 'stages' needs at least a source and a sink, got 1 stage");
}
END_TEST

/* expect_error compares the whole text; for messages ending in a path
 * or list, compare the prefix only. */
START_TEST(error_prefixes)
{
    sluice_pipeline_def *def = load_text("noplugin.cfg", HEAD
        "    { name = \"in\"; plugin = \"no-such-plugin\"; },\n" SINK);
    char expected[PATH_MAX + 128];

    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected),
             "%s/noplugin.cfg:5: stage 'in': plugin 'no-such-plugin' not found (searched: %s",
             tmpdir, TEST_MODULE_DIR);
    ck_assert_msg(strncmp(err.text, expected, strlen(expected)) == 0, "got: %s", err.text);

    def = load_text("dup.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"in\"; plugin = \"test-transform\"; field = \"f\"; },\n" SINK);
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected),
             "%s/dup.cfg:6: stage 'in' (plugin test-transform): stage name already used at "
             "%s/dup.cfg:5", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);
}
END_TEST

START_TEST(env_interpolation)
{
    sluice_pipeline_def *def;

    setenv("SLUICE_TEST_DIR", "/srv/in", 1);
    setenv("SLUICE_TEST_EMPTY", "", 1);
    unsetenv("SLUICE_TEST_UNSET");
    def = load_text("env.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"${SLUICE_TEST_DIR}/a.jsonl\";\n"
        "      tags = [\"${SLUICE_TEST_UNSET:-fallback}\", \"${SLUICE_TEST_EMPTY:-empty}\",\n"
        "              \"cost $$5 and $x\", \"${SLUICE_TEST_DIR:-unused}\"]; },\n" SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    {
        const json_t *config = def->stages[0].config;
        const json_t *tags = json_object_get(config, "tags");
        ck_assert_str_eq(json_string_value(json_object_get(config, "path")), "/srv/in/a.jsonl");
        ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "fallback");
        ck_assert_str_eq(json_string_value(json_array_get(tags, 1)), "empty");
        ck_assert_str_eq(json_string_value(json_array_get(tags, 2)), "cost $5 and $x");
        ck_assert_str_eq(json_string_value(json_array_get(tags, 3)), "/srv/in");
    }
    sluice_pipeline_free(&def);

    /* Pipeline-level strings are interpolated too. */
    def = load_text("env2.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"${SLUICE_TEST_DIR}/state\";\n"
        "  stages = (\n    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n" SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(def->state_dir, "/srv/in/state");
    sluice_pipeline_free(&def);

    expect_error("unset.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\";\n"
        "      path = \"${SLUICE_TEST_UNSET}/a\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): environment variable 'SLUICE_TEST_UNSET' is not set");
    expect_error("unterminated.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"${SLUICE_TEST_DIR\"; },\n" SINK,
        "5: stage 'in' (plugin test-source): unterminated '${' at byte 1 of the value (value "
        "not shown; write $$ for a literal $)");
    expect_error("unset2.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"${SLUICE_TEST_UNSET}\";\n};\n",
        "3: environment variable 'SLUICE_TEST_UNSET' is not set");
}
END_TEST

/* Read the whole of `file` (rewound) into buf. */
static void slurp(FILE *file, char *buf, size_t len)
{
    size_t got;

    rewind(file);
    got = fread(buf, 1, len - 1, file);
    buf[got] = '\0';
}

START_TEST(file_secrets_masked)
{
    sluice_pipeline_def *def;
    char printed[16384];
    char masked[256];
    char logged[4096];
    FILE *out;
    int saved_stderr;
    int log_fd;
    char log_path[PATH_MAX];

    write_file("api.key", "k-4a7f-SECRET-value\n");
    snprintf(log_path, sizeof(log_path), "%s/creds", tmpdir);
    mkdir(log_path, 0700);
    write_file("creds/token", "tok-123456");
    def = load_text("secret.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"@file:creds/token\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\"; api_key = \"@file:api.key\";\n"
        "      url = \"@file:" "creds/token\"; }\n  );\n};\n");
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    /* Content with one trailing newline removed; plugins get the value. */
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[1].config, "api_key")),
                     "k-4a7f-SECRET-value");
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[0].config, "token")),
                     "tok-123456");
    ck_assert_uint_eq(json_array_size(def->stages[1].secret_values), 2);

    out = tmpfile();
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(sluice_pipeline_print(def, out), 0);
    slurp(out, printed, sizeof(printed));
    fclose(out);
    ck_assert_msg(strstr(printed, "api_key = \"********\";"), "printed: %s", printed);
    ck_assert_msg(strstr(printed, "token = \"********\";"), "printed: %s", printed);
    /* A non-secret option read with @file: is masked too. */
    ck_assert_msg(strstr(printed, "url = \"********\";"), "printed: %s", printed);
    ck_assert_ptr_null(strstr(printed, "SECRET"));
    ck_assert_ptr_null(strstr(printed, "tok-123456"));

    sluice_log_mask("auth failed for key k-4a7f-SECRET-value", masked, sizeof(masked));
    ck_assert_str_eq(masked, "auth failed for key ********");

    /* And in real log lines. */
    snprintf(log_path, sizeof(log_path), "%s/log.txt", tmpdir);
    log_fd = open(log_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(log_fd, 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(log_fd, STDERR_FILENO);
    sluice_log_setup(SLUICE_LOG_INFO, SLUICE_LOG_FORMAT_TEXT);
    sluice_log_write("p", "out", SLUICE_LOG_ERROR, "sending token %s", "tok-123456");
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    lseek(log_fd, 0, SEEK_SET);
    {
        ssize_t got = read(log_fd, logged, sizeof(logged) - 1);
        ck_assert_int_gt(got, 0);
        logged[got] = '\0';
    }
    close(log_fd);
    ck_assert_msg(strstr(logged, "sending token ********"), "logged: %s", logged);
    ck_assert_ptr_null(strstr(logged, "tok-123456"));
    sluice_pipeline_free(&def);

    expect_error("nofile.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"@file:/nonexistent/sluice/token\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): cannot read @file:/nonexistent/sluice/token: "
        "No such file or directory");
}
END_TEST

START_TEST(interpolation_errors_hide_the_value)
{
    /* A literal secret with a '$' typo: the error must not print it (it
     * is not registered with the masks, the value being refused). */
    expect_error("typo1.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"live-KEY-0123456789${MISSING\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): unterminated '${' at byte 20 of the value (value "
        "not shown; write $$ for a literal $)");
    ck_assert_ptr_null(strstr(err.text, "live-KEY"));
    expect_error("typo2.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"live-KEY-0123456789${BAD-NAME}\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): invalid variable name in the '${...}' at byte 20 "
        "of the value (value not shown; names are [A-Za-z_][A-Za-z0-9_]*, write $$ for a "
        "literal $)");
    ck_assert_ptr_null(strstr(err.text, "live-KEY"));
}
END_TEST

/* A FIFO in tmpdir (name), for the tests that must not block on one. */
static const char *make_fifo(const char *name)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    return path;
}

START_TEST(file_value_must_be_a_regular_file)
{
    char expected[PATH_MAX + 128];
    const char *fifo = make_fifo("token.fifo");

    /* Reading a FIFO would wait for a writer forever: refused unopened.
     * (Check's timeout fails this test if it blocks.) */
    snprintf(expected, sizeof(expected), "6: stage 'in' (plugin test-source): cannot read "
             "@file:%s: is a FIFO, not a file", fifo);
    expect_error("fifo.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"@file:token.fifo\"; },\n" SINK, expected);
    snprintf(expected, sizeof(expected), "6: stage 'in' (plugin test-source): cannot read "
             "@file:%s/.: is a directory, not a file", tmpdir);
    expect_error("dir.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"@file:.\"; },\n" SINK, expected);
    expect_error("dev.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"@file:/dev/zero\"; },\n" SINK,
        "6: stage 'in' (plugin test-source): cannot read @file:/dev/zero: is a device, not a "
        "file");
}
END_TEST

START_TEST(secret_option_masked_from_env)
{
    sluice_pipeline_def *def;
    char printed[16384];
    FILE *out;

    setenv("SLUICE_TEST_KEY", "env-secret-9876", 1);
    def = load_text("envsecret.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      token = \"${SLUICE_TEST_KEY}\"; },\n" SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(json_string_value(json_array_get(def->stages[0].secret_values, 0)),
                     "env-secret-9876");
    out = tmpfile();
    ck_assert_int_eq(sluice_pipeline_print(def, out), 0);
    slurp(out, printed, sizeof(printed));
    fclose(out);
    ck_assert_ptr_null(strstr(printed, "env-secret-9876"));
    ck_assert_ptr_nonnull(strstr(printed, "token = \"********\";"));
    sluice_pipeline_free(&def);
}
END_TEST

START_TEST(no_secrets_mode_leaves_secrets_unresolved)
{
    sluice_pipeline_def *def = NULL;
    const char *path;
    char expected[PATH_MAX + 16];
    const char *text = HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"${SLUICE_TEST_UNSET_PATH}\";\n"
        "      token = \"${SLUICE_TEST_SET_TOKEN}\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\"; api_key = \"@file:/nonexistent/key\"; }\n"
        "  );\n};\n";

    unsetenv("SLUICE_TEST_UNSET_PATH");
    setenv("SLUICE_TEST_SET_TOKEN", "tok-never-read-4711", 1);
    /* what run and check load is refused at the first unresolvable value */
    def = load_text("nosecrets.cfg", text);
    ck_assert_ptr_null(def);
    ck_assert_msg(strstr(err.text, "environment variable 'SLUICE_TEST_UNSET_PATH' is not set"),
                  "error: %s", err.text);
    /* the dlq commands' load: state_dir and stages, no secret read */
    path = write_file("nosecrets.cfg", text);
    ck_assert_msg(sluice_pipeline_load_flags(path, reg, SLUICE_LOAD_NO_SECRETS, &def, &err) == 0,
                  "refused: %s", err.text);
    snprintf(expected, sizeof(expected), "%s/state", tmpdir);
    ck_assert_str_eq(def->state_dir, expected);
    ck_assert_uint_eq(def->stage_count, 2);
    ck_assert_ptr_nonnull(sluice_pipeline_stage(def, "in"));
    ck_assert_ptr_nonnull(sluice_pipeline_stage(def, "out"));
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[0].config, "token")),
                     "********"); /* set, but a secret: not looked up */
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[0].config, "path")),
                     "********"); /* unset: left */
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[1].config, "api_key")),
                     "********"); /* @file: not read */
    ck_assert_uint_eq(json_array_size(def->stages[0].secret_values), 0);
    sluice_pipeline_free(&def);
    /* a value that resolves is resolved as usual */
    setenv("SLUICE_TEST_UNSET_PATH", "/data/in", 1);
    ck_assert_int_eq(sluice_pipeline_load_flags(path, reg, SLUICE_LOAD_NO_SECRETS, &def, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[0].config, "path")),
                     "/data/in");
    sluice_pipeline_free(&def);
    unsetenv("SLUICE_TEST_UNSET_PATH");
    /* the pipeline's own keys are needed: still strict */
    path = write_file("nostate.cfg", "pipeline = {\n  name = \"p\";\n"
                      "  state_dir = \"${SLUICE_TEST_UNSET_PATH}\";\n  stages = (\n"
                      "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n" SINK);
    ck_assert_int_eq(sluice_pipeline_load_flags(path, reg, SLUICE_LOAD_NO_SECRETS, &def, &err),
                     -1);
    ck_assert_msg(strstr(err.text, "nostate.cfg:3: environment variable 'SLUICE_TEST_UNSET_PATH'"),
                  "error: %s", err.text);
    unsetenv("SLUICE_TEST_SET_TOKEN");
}
END_TEST

START_TEST(no_secrets_mode_leaves_curve_secret_key_unread)
{
    sluice_pipeline_def *def = NULL;
    char prefix[PATH_MAX], public_key[41], why[512], text[2048], key_file[PATH_MAX + 8];
    const char *path;

    if (!sluice_curve_available())
        return; /* this libzmq cannot do CURVE: keys are refused anyway */
    snprintf(prefix, sizeof(prefix), "%s/in", tmpdir);
    ck_assert_msg(sluice_curve_keygen(prefix, 0, public_key, why, sizeof(why)) == 0, "%s", why);
    snprintf(key_file, sizeof(key_file), "%s.key", prefix);
    ck_assert_int_eq(chmod(key_file, 0644), 0); /* open to others: run refuses to read it */
    snprintf(text, sizeof(text), HEAD
             "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
             "      curve_public_key = \"%s\"; curve_secret_key_file = \"in.key\"; },\n"
             SINK, public_key);
    path = write_file("curve.cfg", text);
    ck_assert_int_eq(sluice_pipeline_load(path, reg, &def, &err), -1);
    ck_assert_msg(strstr(err.text, "in.key"), "error: %s", err.text);
    /* the dlq commands never open the secret key file */
    ck_assert_msg(sluice_pipeline_load_flags(path, reg, SLUICE_LOAD_NO_SECRETS, &def, &err) == 0,
                  "refused: %s", err.text);
    ck_assert_str_eq(def->stages[0].common.curve_public_key, public_key);
    sluice_pipeline_free(&def);
}
END_TEST

START_TEST(include_fragment)
{
    sluice_pipeline_def *def;
    char expected[2 * PATH_MAX + 64];

    snprintf(expected, sizeof(expected), "%s/fragments", tmpdir);
    mkdir(expected, 0700);
    write_file("fragments/sink.cfg",
               "name = \"out\";\nplugin = \"test-sink\";\nbatch = 25;\n");
    def = load_text("include.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/sink.cfg\"\n    }\n  );\n};\n");
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(def->stages[1].name, "out");
    ck_assert_int_eq(json_integer_value(json_object_get(def->stages[1].config, "batch")), 25);
    sluice_pipeline_free(&def);

    /* An error inside the fragment names the fragment and its line, and
     * the line of the @include that brought it into the stage. */
    write_file("fragments/bad.cfg", "name = \"out\";\nplugin = \"test-sink\";\nbatch = true;\n");
    def = load_text("include-bad.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/bad.cfg\"\n    }\n  );\n};\n");
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected),
             "%s/fragments/bad.cfg:3: stage 'out' (plugin test-sink): option 'batch' expects "
             "int, got bool (included at %s/include-bad.cfg:7)", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);
}
END_TEST

/* A stage's own setting written after an @include that sets it too
 * overrides the included one (a value, and a string spanning lines); an
 * error in the overriding value names its own line. The same setting twice
 * in one group, or one written before the @include that sets it, is an
 * error naming the setting and both places. */
START_TEST(fragment_setting_overridden)
{
    sluice_pipeline_def *def;
    char expected[2 * PATH_MAX];

    snprintf(expected, sizeof(expected), "%s/fragments", tmpdir);
    mkdir(expected, 0700);
    write_file("fragments/sink.cfg",
               "plugin = \"test-sink\";\nbatch = 25;\nurl = \"http://a/\";\n");
    def = load_text("override.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"out\";\n      @include \"fragments/sink.cfg\"\n"
        "      batch = 40;\n      url = \"http://b\"\n            \"/c\";\n    }\n  );\n};\n");
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(json_integer_value(json_object_get(def->stages[1].config, "batch")), 40);
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[1].config, "url")),
                     "http://b/c");
    sluice_pipeline_free(&def);

    /* a bad overriding value: its own file and line */
    expect_error("override-bad.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"out\";\n      @include \"fragments/sink.cfg\"\n"
        "      batch = true;\n    }\n  );\n};\n",
        "8: stage 'out' (plugin test-sink): option 'batch' expects int, got bool");
    /* twice in the client's own group */
    expect_error("twice.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\";\n"
        "      path = \"y\"; },\n" SINK,
        "6: setting 'path' is set twice in this group (first on line 5)");
    /* written before the @include: the fragment's line, and why */
    def = load_text("before.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"out\"; batch = 40;\n      @include \"fragments/sink.cfg\"\n    }\n"
        "  );\n};\n");
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected), "%s/fragments/sink.cfg:2: duplicate setting name: "
             "'batch' is set twice in one group: here and in the group that includes this "
             "file, before its @include", tmpdir);
    ck_assert_msg(strncmp(err.text, expected, strlen(expected)) == 0, "error: %s", err.text);
}
END_TEST

/* libconfig's bare "syntax error" gets what was probably meant. */
START_TEST(syntax_errors_say_what_was_expected)
{
    expect_error("comma.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; }\n"
        "    { name = \"out\"; plugin = \"test-sink\"; }\n  );\n};\n",
        "6: syntax error: missing ',' between the elements of the list on lines 5 and 6");
    expect_error("brace.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\";\n  );\n};\n",
        "7: syntax error: ')' on line 7 does not close the '{' opened on line 6");
    expect_error("open.cfg", "pipeline = {\n  name = \"p\";\n  stages = (\n",
                 "4: syntax error: the '(' opened on line 3 is never closed");
}
END_TEST

/* Every error of a file in one load: each FILE:LINE, counted. */
START_TEST(every_error_reported)
{
    sluice_pipeline_def *def = load_text("many.cfg",
        "pipeline = {\n  name = \"bad name\";\n  state_dir = \"state\";\n  window = 0;\n"
        "  stages = (\n"
        "    { name = \"in\"; plugin = \"test-source\"; hwm = 0; pth = \"x\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\"; batch = \"x\"; }\n  );\n};\n");

    ck_assert_ptr_null(def);
    ck_assert_uint_eq(err.count, 6);
    ck_assert_msg(strstr(err.all, "many.cfg:2: pipeline name must match"), "%s", err.all);
    ck_assert_msg(strstr(err.all, "many.cfg:4: 'window' must be between 1 and 1024"), "%s",
                  err.all);
    ck_assert_msg(strstr(err.all, "many.cfg:6: stage 'in' (plugin test-source): option 'hwm' "
                         "must be in 1..100000, got 0"), "%s", err.all);
    ck_assert_msg(strstr(err.all, "many.cfg:6: stage 'in' (plugin test-source): unknown option "
                         "'pth'"), "%s", err.all);
    ck_assert_msg(strstr(err.all, "many.cfg:6: stage 'in' (plugin test-source): missing "
                         "required option 'path'"), "%s", err.all);
    ck_assert_msg(strstr(err.all, "many.cfg:7: stage 'out' (plugin test-sink): option 'batch' "
                         "expects int, got string"), "%s", err.all);
}
END_TEST

START_TEST(include_missing_named)
{
    char expected[PATH_MAX + 64];
    sluice_pipeline_def *def = load_text("include-missing.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/missing.cfg\"\n    }\n  );\n};\n");

    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected),
             "%s/include-missing.cfg:7: cannot open include file %s/fragments/missing.cfg: "
             "No such file or directory", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);
}
END_TEST

START_TEST(include_must_be_a_regular_file)
{
    char expected[PATH_MAX + 128];
    char dir[PATH_MAX];
    sluice_pipeline_def *def;

    snprintf(dir, sizeof(dir), "%s/fragments", tmpdir);
    mkdir(dir, 0700);
    /* libconfig 1.5 would exit(2) the process on a directory: refused
     * first with FILE:LINE (Check reports an exit as an error) */
    def = load_text("include-dir.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/\"\n    }\n  );\n};\n");
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected), "%s/include-dir.cfg:7: cannot open include file "
             "%s/fragments/: is a directory, not a file", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);

    /* ... and would block on a FIFO (Check's timeout fails the test) */
    make_fifo("fragments/sink.fifo");
    def = load_text("include-fifo.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/sink.fifo\"\n    }\n  );\n};\n");
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected), "%s/include-fifo.cfg:7: cannot open include file "
             "%s/fragments/sink.fifo: is a FIFO, not a file", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);

    /* nested: the error names the fragment and its line */
    write_file("fragments/outer.cfg", "name = \"out\";\n\n@include \"fragments/sink.fifo\"\n");
    def = load_text("include-nested.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    {\n      @include \"fragments/outer.cfg\"\n    }\n  );\n};\n");
    ck_assert_ptr_null(def);
    snprintf(expected, sizeof(expected), "%s/fragments/outer.cfg:3: cannot open include file "
             "%s/fragments/sink.fifo: is a FIFO, not a file", tmpdir, tmpdir);
    ck_assert_str_eq(err.text, expected);

    /* the pipeline file itself */
    snprintf(dir, sizeof(dir), "%s/main.fifo", tmpdir);
    make_fifo("main.fifo");
    ck_assert_int_ne(sluice_pipeline_load(dir, reg, &def, &err), 0);
    snprintf(expected, sizeof(expected), "%s: cannot read: is a FIFO, not a file", dir);
    ck_assert_str_eq(err.text, expected);
    ck_assert_int_eq(sluice_pipeline_require_plugins(dir, reg, &err), SLUICE_EXIT_CONFIG);
    ck_assert_str_eq(err.text, expected);
}
END_TEST

START_TEST(include_in_comments_and_strings_is_not_read)
{
    /* libconfig skips these, so the check must not refuse them */
    sluice_pipeline_def *def;

    make_fifo("trap.fifo");
    def = load_text("include-quiet.cfg", HEAD
        "    /*\n@include \"trap.fifo\"\n    */\n"
        "    # @include \"trap.fifo\"\n"
        "    { name = \"in\"; plugin = \"test-source\";\n      path = \"a\\\"\n"
        "@include \\\"trap.fifo\\\"\n\"; },\n" SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_str_eq(json_string_value(json_object_get(def->stages[0].config, "path")),
                     "a\"\n@include \"trap.fifo\"\n");
    sluice_pipeline_free(&def);
}
END_TEST

START_TEST(printed_pipeline_reloads)
{
    sluice_pipeline_def *def = load_text("orig.cfg",
        "pipeline = {\n  name = \"p\";\n  state_dir = \"/tmp/s\";\n  stages = (\n"
        "    { name = \"in\"; plugin = \"test-source\"; path = \"a \\\"q\\\" b\";\n"
        "      ratio = 0.25; count = 9000000000L; extra = { k = [1, 2]; }; },\n"
        "    { name = \"out\"; plugin = \"test-sink\"; rate_limit = 2.5; }\n  );\n};\n");
    sluice_pipeline_def *again;
    char printed[16384];
    FILE *out;
    char path[PATH_MAX];

    ck_assert_msg(def != NULL, "refused: %s", err.text);
    snprintf(path, sizeof(path), "%s/printed.cfg", tmpdir);
    out = fopen(path, "w+");
    ck_assert_int_eq(sluice_pipeline_print(def, out), 0);
    slurp(out, printed, sizeof(printed));
    fclose(out);
    ck_assert_msg(sluice_pipeline_load(path, reg, &again, &err) == 0, "reload: %s\n%s",
                  err.text, printed);
    ck_assert(json_equal(def->stages[0].config, again->stages[0].config));
    ck_assert(again->stages[1].common.rate_limit == 2.5);
    ck_assert_str_eq(again->state_dir, "/tmp/s");
    sluice_pipeline_free(&def);
    sluice_pipeline_free(&again);
}
END_TEST

/* A three-stage pipeline whose transform and sink get `endpoint` lines
 * (lines 7 and 9). */
#define ENDPOINTS(a, b) HEAD \
    "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n" \
    "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\";\n" \
    "      " a " },\n" \
    "    { name = \"out\"; plugin = \"test-sink\";\n" \
    "      " b " }\n  );\n};\n"

/* What `sluice run` binds must not clash: `check` refuses it with the
 * line of the endpoint that makes the clash, instead of a run that
 * crash-loops on "Address already in use". */
START_TEST(endpoints_that_clash_are_refused)
{
    sluice_pipeline_def *def;
    char expected[PATH_MAX + 512];
    static const char *const tail =
        " (a stage binds its endpoint for data and, for acks, PORT+1 of a tcp:// one or "
        "PATH.ack of an ipc:// one; pick endpoints that stay apart)";

    /* 65535 leaves no port for the acks */
    expect_error("port.cfg", ENDPOINTS("endpoint = \"tcp://127.0.0.1:65535\";", ""),
        "7: stage 'mid' (plugin test-transform): 'endpoint' must be ipc://PATH or "
        "tcp://HOST:PORT with PORT in 1..65534 (acks use PORT+1), got "
        "\"tcp://127.0.0.1:65535\"");
    /* N and N+1: mid's acks bind out's data port */
    snprintf(expected, sizeof(expected), "9: stage 'out' (plugin test-sink): its data endpoint "
             "tcp://127.0.0.1:27601 clashes with the ack endpoint tcp://127.0.0.1:27601 of "
             "stage 'mid'%s", tail);
    expect_error("n1.cfg", ENDPOINTS("endpoint = \"tcp://127.0.0.1:27600\";",
                                     "endpoint = \"tcp://127.0.0.1:27601\";"), expected);
    /* host names are compared as the OS binds them */
    snprintf(expected, sizeof(expected), "9: stage 'out' (plugin test-sink): its ack endpoint "
             "tcp://LOCALHOST:27601 clashes with the data endpoint tcp://127.0.0.1:27601 of "
             "stage 'mid'%s", tail);
    expect_error("host.cfg", ENDPOINTS("endpoint = \"tcp://127.0.0.1:27601\";",
                                       "endpoint = \"tcp://LOCALHOST:27600\";"), expected);
    snprintf(expected, sizeof(expected), "9: stage 'out' (plugin test-sink): its data endpoint "
             "tcp://*:27601 clashes with the ack endpoint tcp://10.1.2.3:27601 of stage "
             "'mid'%s", tail);
    expect_error("wild.cfg", ENDPOINTS("endpoint = \"tcp://10.1.2.3:27600\";",
                                       "endpoint = \"tcp://*:27601\";"), expected);
    /* ipc://P and ipc://P.ack */
    snprintf(expected, sizeof(expected), "9: stage 'out' (plugin test-sink): its data endpoint "
             "ipc:///tmp/sluice-p.ack clashes with the ack endpoint ipc:///tmp/sluice-p.ack of "
             "stage 'mid'%s", tail);
    expect_error("ipc.cfg", ENDPOINTS("endpoint = \"ipc:///tmp/sluice-p\";",
                                      "endpoint = \"ipc:///tmp/sluice-p.ack\";"), expected);
    /* an endpoint on another stage's default socket: the line of the
     * endpoint that was set, not of the stage that kept its default */
    snprintf(expected, sizeof(expected), "7: stage 'mid' (plugin test-transform): its data "
             "endpoint ipc://%s/state/run/out.data clashes with the data endpoint "
             "ipc://%s/state/run/out.data of stage 'out'%s", tmpdir, tmpdir, tail);
    {
        char text[2048];
        snprintf(text, sizeof(text), ENDPOINTS("endpoint = \"ipc://%s/state/run/out.data\";",
                                               ""), tmpdir);
        expect_error("default.cfg", text, expected);
    }

    /* what stays apart is accepted: ports two apart, one port on two
     * addresses (stages on two hosts) */
    def = load_text("apart.cfg", ENDPOINTS("endpoint = \"tcp://127.0.0.1:27600\";",
                                           "endpoint = \"tcp://127.0.0.1:27602\";"));
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    sluice_pipeline_free(&def);
    def = load_text("hosts.cfg", ENDPOINTS("endpoint = \"tcp://10.0.0.1:27600\"; "
                                           "insecure_tcp = true;",
                                           "endpoint = \"tcp://10.0.0.2:27600\"; "
                                           "insecure_tcp = true;"));
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    sluice_pipeline_free(&def);
}
END_TEST

/* An ipc:// path longer than a socket address holds: `run` refused it at
 * start, `check` accepted it. */
START_TEST(ipc_path_too_long_is_refused)
{
    char text[4096];
    char longdir[300];

    memset(longdir, 'd', 120);
    longdir[120] = '\0';
    snprintf(text, sizeof(text),
        "pipeline = {\n  name = \"p\";\n  state_dir = \"state\";\n  runtime_dir = \"/tmp/%s\";\n"
        "  stages = (\n"
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n" SINK, longdir);
    ck_assert_ptr_null(load_text("long.cfg", text));
    ck_assert_msg(strstr(err.text, "/long.cfg:7: stage 'out' (plugin test-sink): ipc socket path "
                         "/tmp/ddd") && strstr(err.text, "is longer than the 107 bytes the OS "
                         "allows"), "got: %s", err.text);
}
END_TEST

/* A transform that makes HTTP requests sends no heartbeat while it waits:
 * it can be silent for one request plus one backoff, so ack_timeout_ms
 * must be longer, or the source takes the wait for a lost batch and
 * rewinds, again and again against a hung server. A sink heartbeats while
 * it waits and is not held to it. */
START_TEST(ack_timeout_covers_an_http_transform)
{
    sluice_pipeline_def *def;
#define HTTP_PIPE(keys, mid_keys) \
    "pipeline = {\n  name = \"p\";\n  state_dir = \"state\";\n" keys "\n  stages = (\n" \
    "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n" \
    "    { name = \"enrich\"; plugin = \"test-http-transform\"; field = \"f\"; " mid_keys \
    " },\n" SINK

    /* unset: the default grows past 30 s + 60 s */
    def = load_text("http-default.cfg", HTTP_PIPE("", ""));
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(def->ack_timeout_ms, 95000);
    sluice_pipeline_free(&def);
    def = load_text("http-short.cfg", HTTP_PIPE("", "http_timeout_ms = 5000; "
                                                "retry_max_backoff_ms = 2000;"));
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(def->ack_timeout_ms, 30000); /* the plain default covers it */
    sluice_pipeline_free(&def);

    /* set too short: refused at its line, naming the stage and the sum */
    expect_error("http-30s.cfg", HTTP_PIPE("  ack_timeout_ms = 30000;", ""),
        "4: 'ack_timeout_ms' = 30000 must be greater than http_timeout_ms + "
        "retry_max_backoff_ms = 30000 + 60000 of stage 'enrich' (plugin test-http-transform), "
        "a transform that makes HTTP requests: one hung request and the wait before its retry "
        "would look like a lost batch, and the source would rewind and send its window again "
        "(raise ack_timeout_ms, leave it unset, or lower the stage's two timeouts)");
    ck_assert_ptr_null(load_text("http-equal.cfg", HTTP_PIPE("  ack_timeout_ms = 7000;",
        "http_timeout_ms = 5000; retry_max_backoff_ms = 2000;")));
    def = load_text("http-ok.cfg", HTTP_PIPE("  ack_timeout_ms = 7001;",
        "http_timeout_ms = 5000; retry_max_backoff_ms = 2000;"));
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(def->ack_timeout_ms, 7001);
    sluice_pipeline_free(&def);

    /* stages that heartbeat while they wait (a sink), or make no HTTP
     * requests, are not held to it */
    def = load_text("plain.cfg", "pipeline = {\n  name = \"p\";\n  state_dir = \"state\";\n"
                    "  ack_timeout_ms = 3000;\n  stages = (\n"
                    "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
                    "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\"; },\n"
                    SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(def->ack_timeout_ms, 3000);
    sluice_pipeline_free(&def);
#undef HTTP_PIPE
}
END_TEST

/* `instances`: only a stateless transform in processes of its own runs as
 * several; everything else is refused at its key's line; the key survives
 * --print. */
START_TEST(instances_only_for_a_stateless_transform)
{
    sluice_pipeline_def *def;
    char printed[16384];
    char path[PATH_MAX];
    FILE *out;

    def = load_text("inst.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\"; instances = 3; },\n"
        SINK);
    ck_assert_msg(def != NULL, "refused: %s", err.text);
    ck_assert_int_eq(def->stages[1].common.instances, 3);
    ck_assert_int_eq(def->stages[0].common.instances, 1);
    snprintf(path, sizeof(path), "%s/inst-printed.cfg", tmpdir);
    out = fopen(path, "w+");
    ck_assert_int_eq(sluice_pipeline_print(def, out), 0);
    slurp(out, printed, sizeof(printed));
    fclose(out);
    ck_assert_msg(strstr(printed, "instances = 3;"), "printed: %s", printed);
    sluice_pipeline_free(&def);

    expect_error("inst-sink.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"out\"; plugin = \"test-sink\";\n      instances = 2; }\n  );\n};\n",
        "7: stage 'out' (plugin test-sink): instances = 2: only a middle stage (a transform) "
        "can run as several instances");
    expect_error("inst-stateful.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"mid\"; plugin = \"test-stateful\"; field = \"f\"; instances = 2; },\n"
        SINK,
        "6: stage 'mid' (plugin test-stateful): instances = 2: the plugin keeps state from batch "
        "to batch (it does not declare SLUICE_PLUGIN_STATELESS), so one process must see "
        "every batch in order");
    expect_error("inst-group.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\"; group = \"g\";\n"
        "      instances = 2; },\n" SINK,
        "7: stage 'mid' (plugin test-transform): instances = 2: a stage of a placement group "
        "is a thread of the group's process; remove 'group' or set instances = 1");
    expect_error("inst-range.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; path = \"x\"; },\n"
        "    { name = \"mid\"; plugin = \"test-transform\"; field = \"f\"; instances = 0; },\n"
        SINK,
        "6: stage 'mid' (plugin test-transform): option 'instances' must be in 1..64, got 0");
}
END_TEST

START_TEST(require_plugins_tells_unavailable_from_config)
{
    const char *path = write_file("req.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-bad-abi\"; },\n" SINK);
    char expected[PATH_MAX + 64];

    ck_assert_int_eq(sluice_pipeline_require_plugins(path, reg, &err), SLUICE_EXIT_UNAVAILABLE);
    snprintf(expected, sizeof(expected), "%s/req.cfg:5: stage 'in': ", tmpdir);
    ck_assert_msg(strncmp(err.text, expected, strlen(expected)) == 0, "got %s", err.text);
    ck_assert_msg(strstr(err.text, "built for ABI 3, this sluice speaks ABI 1 and 2"), "got %s",
                  err.text);
    path = write_file("req2.cfg", "pipeline = {\n  name = ;\n};\n");
    ck_assert_int_eq(sluice_pipeline_require_plugins(path, reg, &err), SLUICE_EXIT_CONFIG);
    path = write_file("req3.cfg", HEAD
        "    { name = \"in\"; plugin = \"test-source\"; },\n" SINK);
    ck_assert_int_eq(sluice_pipeline_require_plugins(path, reg, &err), 0);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");
    TCase *tc = tcase_create("pipeline");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_have_declared_types);
    tcase_add_test(tc, common_keys_parsed);
    tcase_add_test(tc, errors_name_file_and_line);
    tcase_add_test(tc, instances_only_for_a_stateless_transform);
    tcase_add_test(tc, endpoints_that_clash_are_refused);
    tcase_add_test(tc, ipc_path_too_long_is_refused);
    tcase_add_test(tc, ack_timeout_covers_an_http_transform);
    tcase_add_test(tc, error_prefixes);
    tcase_add_test(tc, env_interpolation);
    tcase_add_test(tc, file_secrets_masked);
    tcase_add_test(tc, secret_option_masked_from_env);
    tcase_add_test(tc, interpolation_errors_hide_the_value);
    tcase_add_test(tc, file_value_must_be_a_regular_file);
    tcase_add_test(tc, no_secrets_mode_leaves_secrets_unresolved);
    tcase_add_test(tc, no_secrets_mode_leaves_curve_secret_key_unread);
    tcase_add_test(tc, include_fragment);
    tcase_add_test(tc, include_missing_named);
    tcase_add_test(tc, fragment_setting_overridden);
    tcase_add_test(tc, syntax_errors_say_what_was_expected);
    tcase_add_test(tc, every_error_reported);
    tcase_add_test(tc, include_must_be_a_regular_file);
    tcase_add_test(tc, include_in_comments_and_strings_is_not_read);
    tcase_add_test(tc, printed_pipeline_reloads);
    tcase_add_test(tc, require_plugins_tells_unavailable_from_config);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(config_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
