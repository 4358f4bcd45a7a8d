/* test_generic_plugins.c: the generic plugins (file-source, file-sink,
 * set-field) loaded as real modules from $SLUICE_PLUGIN_PATH and driven
 * through their callbacks with a stage context built here over a real
 * SQLite store; plus the SDK state functions they would call. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "ctx.h"
#include "kv.h"
#include "pipeline.h"
#include "registry.h"
#include "stage_check.h"
#include "store.h"
#include "support/unit_support.h"

static char tmp_dir[256];
static sluice_registry *registry;
static sluice_pipeline_def pipeline;
static sluice_stage_def stage;
static struct sluice_ctx ctx;

static void setup(void)
{
    char err[512] = "";
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/sluice-test-plugins-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    registry = sluice_registry_new();
    ck_assert_ptr_nonnull(registry);
    memset(&pipeline, 0, sizeof(pipeline));
    memset(&stage, 0, sizeof(stage));
    memset(&ctx, 0, sizeof(ctx));
    pipeline.name = "unit";
    pipeline.state_dir = tmp_dir;
    stage.name = "stage1";
    ctx.pipeline = &pipeline;
    ctx.stage = &stage;
    ctx.store = sluice_store_open(tmp_dir, err, sizeof(err));
    ck_assert_msg(ctx.store != NULL, "%s", err);
    ctx.kv = sluice_kv_new(ctx.store, stage.name);
    ck_assert_ptr_nonnull(ctx.kv);
}

static void teardown(void)
{
    sluice_kv_destroy(&ctx.kv);
    sluice_store_close(&ctx.store);
    sluice_registry_destroy(&registry);
    unit_remove_tree(tmp_dir);
}

/* The built plugin `name` (fails the test if it cannot be loaded). */
static const sluice_plugin *plugin(const char *name)
{
    char err[1024] = "";
    const sluice_plugin *p = sluice_registry_require(registry, name, err, sizeof(err));
    ck_assert_msg(p != NULL, "cannot load %s (SLUICE_PLUGIN_PATH=%s): %s", name,
                  getenv("SLUICE_PLUGIN_PATH"), err);
    return p;
}

/* Path of a file in the test's temp dir (static buffer per slot). */
static const char *tmp_path(const char *name)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 512, "%s/%s", tmp_dir, name);
    return path;
}

/* Append text to file. */
static void append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A source batch as the runner would hand it to poll(). */
static sluice_batch *source_batch(uint64_t id, size_t capacity)
{
    sluice_batch *batch = sluice_batch_new(1, id, capacity);
    ck_assert_ptr_nonnull(batch);
    batch->current_stage = stage.name;
    return batch;
}

/* Integer field "id" of live record i, or -1. */
static json_int_t record_id(sluice_batch *batch, size_t i)
{
    json_t *record = sluice_batch_get(batch, i);
    return record ? json_integer_value(json_object_get(record, "id")) : -1;
}

/* Byte offset in a batch's checkpoint. */
static json_int_t checkpoint_offset(const sluice_batch *batch)
{
    ck_assert_ptr_nonnull(batch->checkpoint);
    return json_integer_value(json_object_get(batch->checkpoint, "offset"));
}

static const char SOURCE_LINES[] = "{\"id\":1}\n"       /* bytes 0-8 */
                                   "not json\n"         /* 9-17, line 2 */
                                   "\n"                 /* 18, blank */
                                   "{\"id\":2}\n"       /* 19-27 */
                                   "[1,2]\n"            /* 28-33, line 5 */
                                   "{\"id\":3}\n";      /* 34-42 */

START_TEST(test_file_source_reads_rejects_and_checkpoints)
{
    const sluice_plugin *src = plugin("file-source");
    const char *path = tmp_path("in.jsonl");
    append_file(path, SOURCE_LINES);
    json_t *config = json_pack("{s:s,s:b}", "path", path, "follow", 0);
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_OK);

    sluice_batch *b1 = source_batch(1, 3);
    ck_assert_int_eq(src->poll(&ctx, state, b1), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(b1), 3); /* id 1, bad line, id 2 */
    ck_assert_int_eq(record_id(b1, 0), 1);
    ck_assert_ptr_null(sluice_batch_get(b1, 1));
    ck_assert_int_eq(sluice_batch_outcome(b1, 1), SLUICE_RECORD_REJECTED);
    char expected[600];
    snprintf(expected, sizeof(expected), "%s:2: invalid JSON", path);
    ck_assert_msg(strncmp(b1->slots[1].reason, expected, strlen(expected)) == 0,
                  "reason '%s'", b1->slots[1].reason);
    ck_assert_str_eq(json_string_value(json_object_get(b1->slots[1].record, "raw")), "not json");
    ck_assert_str_eq(b1->slots[1].rejected_by, "stage1");
    ck_assert_int_eq(record_id(b1, 2), 2);
    ck_assert_int_eq(checkpoint_offset(b1), 28);

    sluice_batch *b2 = source_batch(2, 3);
    ck_assert_int_eq(src->poll(&ctx, state, b2), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(b2), 2);
    ck_assert_uint_eq(sluice_batch_live(b2), 2); /* lines travel unparsed... */
    sluice_batch_prepare_for_wire(b2); /* ...but a line that is no {...} is parsed before sending */
    ck_assert_uint_eq(sluice_batch_live(b2), 1);
    snprintf(expected, sizeof(expected), "%s:5: not a JSON object", path);
    ck_assert_str_eq(b2->slots[0].reason, expected);
    ck_assert_int_eq(record_id(b2, 1), 3);
    ck_assert_int_eq(checkpoint_offset(b2), 43);

    sluice_batch *b3 = source_batch(3, 3);
    ck_assert_int_eq(src->poll(&ctx, state, b3), SLUICE_EOF);
    ck_assert_uint_eq(sluice_batch_count(b3), 0);

    /* rewind to after batch 1: batch 2's lines come again */
    ck_assert_int_eq(src->rewind(&ctx, state, b1->checkpoint), SLUICE_OK);
    sluice_batch *again = source_batch(4, 10);
    ck_assert_int_eq(src->poll(&ctx, state, again), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(again), 2);
    sluice_batch_prepare_for_wire(again);
    ck_assert_str_eq(again->slots[0].reason, expected); /* same line number */
    ck_assert_int_eq(record_id(again, 1), 3);
    /* rewind to the very beginning */
    ck_assert_int_eq(src->rewind(&ctx, state, NULL), SLUICE_OK);
    sluice_batch *from_start = source_batch(5, 10);
    ck_assert_int_eq(src->poll(&ctx, state, from_start), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(from_start), 5);
    sluice_batch_prepare_for_wire(from_start);
    ck_assert_uint_eq(sluice_batch_live(from_start), 3);

    src->fini(&ctx, state);
    sluice_batch_destroy(&b1);
    sluice_batch_destroy(&b2);
    sluice_batch_destroy(&b3);
    sluice_batch_destroy(&again);
    sluice_batch_destroy(&from_start);
    json_decref(config);
}
END_TEST

START_TEST(test_file_source_resumes_from_committed_checkpoint)
{
    const sluice_plugin *src = plugin("file-source");
    const char *path = tmp_path("in.jsonl");
    append_file(path, SOURCE_LINES);
    /* what the runner stored after batch 1 was acknowledged (no "line") */
    json_t *cp = json_pack("{s:i}", "offset", 28);
    ck_assert_int_eq(sluice_store_checkpoint_set(ctx.store, stage.name, cp), 0);
    json_t *config = json_pack("{s:s}", "path", path);
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *batch = source_batch(1, 10);
    ck_assert_int_eq(src->poll(&ctx, state, batch), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(batch), 2);
    sluice_batch_prepare_for_wire(batch);
    char expected[600];
    snprintf(expected, sizeof(expected), "%s:5: not a JSON object", path);
    ck_assert_str_eq(batch->slots[0].reason, expected); /* line counted from the offset */
    ck_assert_int_eq(record_id(batch, 1), 3);
    src->fini(&ctx, state);
    sluice_batch_destroy(&batch);
    json_decref(cp);
    json_decref(config);
}
END_TEST

START_TEST(test_file_source_follow)
{
    const sluice_plugin *src = plugin("file-source");
    const char *path = tmp_path("follow.jsonl");
    append_file(path, "{\"id\":1}\n{\"id\":");
    json_t *config = json_pack("{s:s,s:b}", "path", path, "follow", 1);
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *b1 = source_batch(1, 10);
    ck_assert_int_eq(src->poll(&ctx, state, b1), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(b1), 1); /* half-written line held back */
    sluice_batch *b2 = source_batch(2, 10);
    ck_assert_int_eq(src->poll(&ctx, state, b2), SLUICE_AGAIN);
    append_file(path, "2}\n{\"id\":3}\n");
    ck_assert_int_eq(src->poll(&ctx, state, b2), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(b2), 2);
    ck_assert_int_eq(record_id(b2, 0), 2);
    ck_assert_int_eq(record_id(b2, 1), 3);
    src->fini(&ctx, state);
    sluice_batch_destroy(&b1);
    sluice_batch_destroy(&b2);
    json_decref(config);
}
END_TEST

START_TEST(test_file_source_stdin_rewind)
{
    const sluice_plugin *src = plugin("file-source");
    const char *path = tmp_path("stdin.jsonl");
    append_file(path, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n");
    /* Check runs each test in its own process: replacing stdin is local */
    ck_assert_ptr_nonnull(freopen(path, "r", stdin));
    json_t *config = json_pack("{s:s}", "path", "-");
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *b1 = source_batch(1, 2), *b2 = source_batch(2, 2);
    ck_assert_int_eq(src->poll(&ctx, state, b1), SLUICE_OK);
    ck_assert_int_eq(src->poll(&ctx, state, b2), SLUICE_OK);
    ck_assert_int_eq(record_id(b2, 1), 4);
    /* batch 2 was lost downstream: stdin cannot seek, the kept bytes are re-emitted */
    ck_assert_int_eq(src->rewind(&ctx, state, b1->checkpoint), SLUICE_OK);
    sluice_batch *again = source_batch(3, 10);
    ck_assert_int_eq(src->poll(&ctx, state, again), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_count(again), 2);
    sluice_batch_prepare_for_wire(again);
    ck_assert_int_eq(record_id(again, 0), 3);
    ck_assert_int_eq(record_id(again, 1), 4);
    ck_assert_int_eq(checkpoint_offset(again), checkpoint_offset(b2));
    sluice_batch *end = source_batch(4, 10);
    ck_assert_int_eq(src->poll(&ctx, state, end), SLUICE_EOF);
    /* once batch 1 is committed its bytes are forgotten: rewinding before it fails */
    src->committed(&ctx, state, b1->checkpoint);
    ck_assert_int_eq(src->rewind(&ctx, state, NULL), SLUICE_FATAL);
    ck_assert_msg(strstr(ctx.fail_message, "stdin cannot be rewound") != NULL, "%s",
                  ctx.fail_message);
    ck_assert_int_eq(src->rewind(&ctx, state, b1->checkpoint), SLUICE_OK);
    src->fini(&ctx, state);
    sluice_batch_destroy(&b1);
    sluice_batch_destroy(&b2);
    sluice_batch_destroy(&again);
    sluice_batch_destroy(&end);
    json_decref(config);
}
END_TEST

START_TEST(test_file_source_crlf_and_bom)
{
    const sluice_plugin *src = plugin("file-source");
    const char *path = tmp_path("windows.jsonl");
    append_file(path, "\xEF\xBB\xBF{\"id\":1}\r\n{\"id\":2}\r\n");
    json_t *config = json_pack("{s:s}", "path", path);
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *batch = source_batch(1, 10);
    ck_assert_int_eq(src->poll(&ctx, state, batch), SLUICE_OK);
    ck_assert_uint_eq(sluice_batch_live(batch), 2);
    ck_assert_int_eq(record_id(batch, 0), 1);
    ck_assert_int_eq(record_id(batch, 1), 2);
    ck_assert_int_eq(checkpoint_offset(batch), 23); /* 3 + 10 + 10 bytes */
    src->fini(&ctx, state);
    sluice_batch_destroy(&batch);
    json_decref(config);
}
END_TEST

START_TEST(test_file_source_missing_file)
{
    const sluice_plugin *src = plugin("file-source");
    json_t *config = json_pack("{s:s}", "path", "/nonexistent/in.jsonl");
    void *state = NULL;
    ck_assert_int_eq(src->init(&ctx, config, &state), SLUICE_FATAL);
    ck_assert_msg(strstr(ctx.fail_message, "/nonexistent/in.jsonl") != NULL, "%s",
                  ctx.fail_message);
    json_decref(config);
}
END_TEST

/* Contents of a file as a new string (free()). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

START_TEST(test_file_sink_appends_pending_records)
{
    const sluice_plugin *sink = plugin("file-sink");
    const char *path = tmp_path("out.jsonl");
    append_file(path, "{\"id\":0}\n"); /* existing content is kept */
    json_t *config = json_pack("{s:s,s:s}", "path", path, "sync", "batch");
    void *state = NULL;
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *batch = source_batch(1, 0);
    batch->current_stage = "sink";
    for (int i = 1; i <= 4; i++)
        sluice_batch_append(batch, json_pack("{s:i,s:s}", "id", i, "t", "\xc3\xa9\n"));
    sluice_batch_set_outcome(batch, 1, SLUICE_RECORD_DONE, NULL);     /* already delivered */
    sluice_batch_set_outcome(batch, 2, SLUICE_RECORD_REJECTED, "bad"); /* parked */
    sluice_batch_set_outcome(batch, 3, SLUICE_RECORD_RETRY, "later");  /* to write again */
    ck_assert_int_eq(sink->write(&ctx, state, batch), SLUICE_OK);
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_DONE);
    ck_assert_int_eq(sluice_batch_outcome(batch, 2), SLUICE_RECORD_REJECTED);
    ck_assert_int_eq(sluice_batch_outcome(batch, 3), SLUICE_RECORD_DONE);
    char *text = read_file(path);
    ck_assert_str_eq(text, "{\"id\":0}\n{\"id\":1,\"t\":\"\xc3\xa9\\n\"}\n"
                           "{\"id\":4,\"t\":\"\xc3\xa9\\n\"}\n");
    free(text);
    sink->fini(&ctx, state);
    sluice_batch_destroy(&batch);
    json_decref(config);
}
END_TEST

START_TEST(test_file_sink_cuts_torn_line)
{
    const sluice_plugin *sink = plugin("file-sink");
    const char *path = tmp_path("torn.jsonl");
    /* a sink killed mid-write left half a line; a longer torn tail than
     * one read chunk is cut too */
    char tail[6000];
    memset(tail, 'x', sizeof(tail) - 1);
    tail[sizeof(tail) - 1] = '\0';
    append_file(path, "{\"id\":1}\n{\"id\":2,\"name\":\"");
    append_file(path, tail);
    json_t *config = json_pack("{s:s}", "path", path);
    void *state = NULL;
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *batch = source_batch(1, 0);
    batch->current_stage = "sink";
    sluice_batch_append(batch, json_pack("{s:i}", "id", 2));
    ck_assert_int_eq(sink->write(&ctx, state, batch), SLUICE_OK);
    char *text = read_file(path);
    ck_assert_str_eq(text, "{\"id\":1}\n{\"id\":2}\n");
    free(text);
    sink->fini(&ctx, state);
    sluice_batch_destroy(&batch);
    /* a file that is one torn line is emptied; a whole last line is kept */
    const char *only = tmp_path("only-torn.jsonl");
    append_file(only, "{\"id\":");
    state = NULL;
    json_decref(config);
    config = json_pack("{s:s}", "path", only);
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_OK);
    sink->fini(&ctx, state);
    text = read_file(only);
    ck_assert_str_eq(text, "");
    free(text);
    append_file(only, "{\"id\":9}\n");
    state = NULL;
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_OK);
    sink->fini(&ctx, state);
    text = read_file(only);
    ck_assert_str_eq(text, "{\"id\":9}\n");
    free(text);
    json_decref(config);
}
END_TEST

START_TEST(test_file_sink_bad_options)
{
    const sluice_plugin *sink = plugin("file-sink");
    void *state = NULL;
    json_t *config = json_pack("{s:s,s:s}", "path", tmp_path("x"), "sync", "always");
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_FATAL);
    ck_assert_msg(strstr(ctx.fail_message, "'sync'") != NULL, "%s", ctx.fail_message);
    json_decref(config);
    config = json_pack("{s:s}", "path", "/nonexistent/dir/out.jsonl");
    ck_assert_int_eq(sink->init(&ctx, config, &state), SLUICE_FATAL);
    ck_assert_msg(strstr(ctx.fail_message, "/nonexistent/dir/out.jsonl") != NULL, "%s",
                  ctx.fail_message);
    json_decref(config);
}
END_TEST

START_TEST(test_set_field_paths)
{
    const sluice_plugin *sf = plugin("set-field");
    json_t *config = json_pack("{s:s,s:s}", "field", "a.b", "value", "x");
    void *state = NULL;
    ck_assert_int_eq(sf->init(&ctx, config, &state), SLUICE_OK);
    sluice_batch *batch = source_batch(1, 0);
    batch->current_stage = "setter";
    sluice_batch_append(batch, json_pack("{s:i}", "id", 1));                   /* creates a */
    sluice_batch_append(batch, json_pack("{s:{s:i,s:i}}", "a", "b", 1, "c", 2)); /* overrides */
    sluice_batch_append(batch, json_pack("{s:i}", "a", 5));                    /* a not object */
    ck_assert_int_eq(sf->process(&ctx, state, batch), SLUICE_OK);
    json_t *want0 = json_pack("{s:i,s:{s:s}}", "id", 1, "a", "b", "x");
    json_t *want1 = json_pack("{s:{s:s,s:i}}", "a", "b", "x", "c", 2);
    ck_assert(json_equal(sluice_batch_get(batch, 0), want0));
    ck_assert(json_equal(sluice_batch_get(batch, 1), want1));
    ck_assert_int_eq(sluice_batch_outcome(batch, 2), SLUICE_RECORD_REJECTED);
    ck_assert_msg(strstr(batch->slots[2].reason, "\"a.b\"") != NULL, "%s",
                  batch->slots[2].reason);
    ck_assert_str_eq(batch->slots[2].rejected_by, "setter");
    sf->fini(&ctx, state);
    json_decref(config);
    json_decref(want0);
    json_decref(want1);

    sluice_batch_destroy(&batch);
}
END_TEST

/* check()'s report callback: keeps the last problem's option and text. */
static void keep_problem(void *user, size_t index, const char *option, const char *text)
{
    char *out = user;

    (void)index;
    snprintf(out, 512, "%s: %s", option ? option : "(stage)", text);
}

/* set-field's check() refuses a field path with an empty part before
 * anything runs (sluice check), and accepts a good one. */
START_TEST(test_set_field_check)
{
    static const struct {
        const char *field;
        const char *problem; /* NULL: accepted */
    } cases[] = {
        {"a.b", NULL},
        {"a", NULL},
        {"a..b", "field: \"a..b\" has an empty part (at character 3)"},
        {".a", "field: \".a\" has an empty part (at character 1)"},
        {"a.", "field: \"a.\" has an empty part (at character 3)"},
        {"", "field: \"\" has an empty part (at character 1)"},
    };
    sluice_stage_def check_stage = {0};
    sluice_pipeline_def check_pipeline = {0};
    char problem[512];

    check_stage.plugin_name = "set-field";
    check_stage.plugin = plugin("set-field");
    check_pipeline.stages = &check_stage;
    check_pipeline.stage_count = 1;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t problems;
        check_stage.config = json_pack("{s:s,s:s}", "field", cases[i].field, "value", "x");
        problem[0] = '\0';
        problems = sluice_check_stage_run(&check_pipeline, 0, keep_problem, problem);
        if (cases[i].problem) {
            ck_assert_uint_eq(problems, 1);
            ck_assert_msg(strstr(problem, cases[i].problem) != NULL, "'%s': %s", cases[i].field,
                          problem);
        } else {
            ck_assert_msg(problems == 0, "'%s': %s", cases[i].field, problem);
        }
        json_decref(check_stage.config);
    }
}
END_TEST

START_TEST(test_sdk_state_functions)
{
    sluice_batch *b1 = source_batch(1, 0);
    sluice_batch *b2 = source_batch(2, 0);
    json_t *one = json_integer(1), *two = json_integer(2), *now = json_string("now");
    ck_assert_ptr_null(sluice_state_get(&ctx, "k"));
    ck_assert_int_eq(sluice_state_put(&ctx, b1, "k", one), 0);
    ck_assert_int_eq(sluice_state_put(&ctx, b2, "k", two), 0);
    json_t *got = sluice_state_get(&ctx, "k");
    ck_assert_int_eq(json_integer_value(got), 2);
    json_decref(got);
    /* put_now is durable at once and wins over staged writes */
    ck_assert_int_eq(sluice_state_put_now(&ctx, "k", now), 0);
    got = sluice_state_get(&ctx, "k");
    ck_assert_str_eq(json_string_value(got), "now");
    json_decref(got);
    ck_assert_int_eq(sluice_kv_commit(ctx.kv, 1, 2), 0);
    ck_assert_int_eq(sluice_store_kv_get(ctx.store, stage.name, "k", &got), 0);
    ck_assert_str_eq(json_string_value(got), "now");
    json_decref(got);
    /* checkpoint_get reads the committed checkpoint of this stage */
    ck_assert_ptr_null(sluice_checkpoint_get(&ctx));
    ck_assert_int_eq(sluice_store_checkpoint_set(ctx.store, stage.name, one), 0);
    got = sluice_checkpoint_get(&ctx);
    ck_assert(json_equal(got, one));
    json_decref(got);
    json_decref(one);
    json_decref(two);
    json_decref(now);
    sluice_batch_destroy(&b1);
    sluice_batch_destroy(&b2);
}
END_TEST

static Suite *plugins_suite(void)
{
    Suite *suite = suite_create("generic_plugins");
    TCase *tc = tcase_create("plugins");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_source_reads_rejects_and_checkpoints);
    tcase_add_test(tc, test_file_source_resumes_from_committed_checkpoint);
    tcase_add_test(tc, test_file_source_follow);
    tcase_add_test(tc, test_file_source_stdin_rewind);
    tcase_add_test(tc, test_file_source_crlf_and_bom);
    tcase_add_test(tc, test_file_source_missing_file);
    tcase_add_test(tc, test_file_sink_appends_pending_records);
    tcase_add_test(tc, test_file_sink_cuts_torn_line);
    tcase_add_test(tc, test_file_sink_bad_options);
    tcase_add_test(tc, test_set_field_paths);
    tcase_add_test(tc, test_set_field_check);
    tcase_add_test(tc, test_sdk_state_functions);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(plugins_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
