/* test_wire.c: unit tests of wire.c: batch frames round trip (replay
 * batches with their marks too), corrupt frames are refused with a
 * reason, acks, and encode/decode throughput. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "batch.h"

START_TEST(test_round_trip)
{
    char err[256];
    size_t len = 0;
    sluice_batch *batch = sluice_batch_new(4, 12, 10);
    batch->current_stage = "t";
    sluice_batch_append(batch, json_pack("{s:s}", "text", "line1\nline2 \"quoted\" \xc3\xa9"));
    sluice_batch_append(batch, json_pack("{s:i}", "dropped", 1));
    sluice_batch_append(batch, json_pack("{s:{s:[i,i]}}", "nested", "a", 1, 2));
    sluice_batch_append(batch, json_pack("{s:i}", "rejected", 1));
    sluice_batch_drop(batch, 1);
    sluice_batch_reject(batch, 3, "bad");
    sluice_batch_set_checkpoint(batch, json_pack("{s:i}", "offset", 99));
    char *frame = sluice_wire_encode(batch, &len);
    ck_assert_ptr_nonnull(frame);
    sluice_batch *copy = sluice_wire_decode(frame, len, err, sizeof(err));
    ck_assert_msg(copy != NULL, "decode failed: %s", err);
    ck_assert_uint_eq(copy->epoch, 4);
    ck_assert_uint_eq(copy->id, 12);
    ck_assert_uint_eq(copy->capacity, 10);
    ck_assert_uint_eq(sluice_batch_count(copy), 2); /* only live records travel */
    ck_assert_str_eq(json_string_value(json_object_get(sluice_batch_get(copy, 0), "text")),
                     "line1\nline2 \"quoted\" \xc3\xa9");
    ck_assert(json_equal(sluice_batch_get(copy, 1), sluice_batch_get(batch, 2)));
    ck_assert_int_eq(json_integer_value(json_object_get(copy->checkpoint, "offset")), 99);
    sluice_batch_destroy(&copy);
    free(frame);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_replay_batch_round_trip)
{
    char err[256];
    size_t len = 0;
    sluice_batch *batch = sluice_batch_new(6, 3, 10);
    json_t *history = json_pack("[{s:s,s:s,s:s}]", "stage", "ometria", "reason",
                                "record too large: 900 bytes > 600", "parked_at",
                                "2026-12-01T10:00:00.000Z");
    batch->current_stage = "derive";
    ck_assert_int_eq(sluice_batch_set_enter_at(batch, "ometria"), 0);
    sluice_batch_append_replayed(batch, json_pack("{s:i}", "n", 0), 30, json_incref(history));
    sluice_batch_append_replayed(batch, json_pack("{s:i}", "n", 1), 31, json_incref(history));
    sluice_batch_append(batch, json_pack("{s:s}", "derived", "event")); /* added on the way */
    sluice_batch_append_replayed(batch, json_pack("{s:i}", "n", 3), 33, json_incref(history));
    sluice_batch_reject(batch, 1, "parked again"); /* does not travel */
    char *frame = sluice_wire_encode(batch, &len);
    ck_assert_ptr_nonnull(frame);
    char *text = strndup(frame, len); /* a frame is not NUL-terminated */
    ck_assert_msg(strstr(text, "\"replay\":[[0,30,") != NULL, "frame: %s", text);
    free(text);
    sluice_batch *copy = sluice_wire_decode(frame, len, err, sizeof(err));
    ck_assert_msg(copy != NULL, "decode failed: %s", err);
    ck_assert_str_eq(copy->enter_at, "ometria");
    ck_assert_uint_eq(sluice_batch_count(copy), 3);
    ck_assert_int_eq(copy->slots[0].replay_of, 30);
    ck_assert(json_equal(copy->slots[0].history, history));
    ck_assert_int_eq(copy->slots[1].replay_of, 0); /* the derived record */
    ck_assert_ptr_null(copy->slots[1].history);
    ck_assert_int_eq(copy->slots[2].replay_of, 33);
    ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(copy, 2), "n")), 3);
    sluice_batch_destroy(&copy);
    free(frame);
    /* a batch that is no replay batch has no such header keys */
    sluice_batch *plain = sluice_batch_new(6, 4, 10);
    sluice_batch_append(plain, json_pack("{s:i}", "n", 0));
    frame = sluice_wire_encode(plain, &len);
    text = strndup(frame, len);
    ck_assert_ptr_null(strstr(text, "enter_at"));
    ck_assert_ptr_null(strstr(text, "replay"));
    free(text);
    copy = sluice_wire_decode(frame, len, err, sizeof(err));
    ck_assert_ptr_null(copy->enter_at);
    sluice_batch_destroy(&copy);
    sluice_batch_destroy(&plain);
    free(frame);
    json_decref(history);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_empty_batch)
{
    char err[256];
    size_t len = 0;
    sluice_batch *batch = sluice_batch_new(1, 1, 0);
    char *frame = sluice_wire_encode(batch, &len);
    ck_assert_ptr_nonnull(frame);
    sluice_batch *copy = sluice_wire_decode(frame, len, err, sizeof(err));
    ck_assert_msg(copy != NULL, "decode failed: %s", err);
    ck_assert_uint_eq(sluice_batch_count(copy), 0);
    ck_assert_ptr_null(copy->checkpoint);
    sluice_batch_destroy(&copy);
    sluice_batch_destroy(&batch);
    free(frame);
}
END_TEST

/* Decoding `frame` must fail with a reason containing `expected`. */
static void expect_corrupt(const char *frame, const char *expected)
{
    char err[256] = "";
    sluice_batch *batch = sluice_wire_decode(frame, strlen(frame), err, sizeof(err));
    ck_assert_msg(batch == NULL, "decoded a corrupt frame: %s", frame);
    ck_assert_msg(strstr(err, expected) != NULL, "reason '%s' lacks '%s'", err, expected);
}

START_TEST(test_corrupt_replay_marks)
{
    const char *two = "\n{\"a\":1}\n{\"a\":2}\n";
    const struct { const char *header; const char *expected; } cases[] = {
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":5}", "enter_at must be" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"\"}", "enter_at must be" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"replay\":[[0,1,[]]]}", "with enter_at" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":{}}",
          "replay must be an array" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":[[2,1,[]]]}",
          "replay item 1" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":[[1,1,[]],[1,2,[]]]}",
          "replay item 2" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":[[0,0,[]]]}",
          "replay item 1" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":[[0,1,{}]]}",
          "replay item 1" },
        { "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"enter_at\":\"s\",\"replay\":[[0,1]]}",
          "replay item 1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char frame[512];
        snprintf(frame, sizeof(frame), "%s%s", cases[i].header, two);
        expect_corrupt(frame, cases[i].expected);
    }
}
END_TEST

START_TEST(test_corrupt_frames)
{
    expect_corrupt("", "empty frame");
    expect_corrupt("not json\n{}\n", "bad frame header");
    expect_corrupt("[1]\n", "bad frame header");
    expect_corrupt("{\"v\":2,\"epoch\":1,\"id\":1,\"n\":0}\n", "version");
    expect_corrupt("{\"v\":1,\"epoch\":-1,\"id\":1,\"n\":0}\n", "epoch, id and n");
    expect_corrupt("{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2}\n{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n",
                   "more than the 2 records");
    expect_corrupt("{\"v\":1,\"epoch\":1,\"id\":1,\"n\":3}\n{\"a\":1}\n{\"b\":2}\n",
                   "header says 3 records, found 2");
    expect_corrupt("{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2}\n{\"a\":1}\n{\"b\":\n", "record 2");
    expect_corrupt("{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1}\n[1,2]\n", "not a JSON object");
    expect_corrupt("{\"v\":1,\"epoch\":1,\"id\":1,\"n\":100000000000}\n{}\n", "too short");
}
END_TEST

START_TEST(test_ack)
{
    size_t len = 0;
    uint64_t epoch = 0, id = 0;
    char *ack = sluice_wire_encode_ack(9, 123456789012ULL, &len);
    ck_assert_ptr_nonnull(ack);
    ck_assert_int_eq(sluice_wire_decode_ack(ack, len, &epoch, &id), 0);
    ck_assert_uint_eq(epoch, 9);
    ck_assert_uint_eq(id, 123456789012ULL);
    free(ack);
    ck_assert_int_eq(sluice_wire_decode_ack("{\"v\":1,\"epoch\":1}", 17, &epoch, &id), -1);
    ck_assert_int_eq(sluice_wire_decode_ack("garbage", 7, &epoch, &id), -1);
}
END_TEST

/* Records decoded from a frame stay text until a stage asks for them:
 * peek gives the exact compact text, re-encoding an untouched record
 * copies it byte for byte, and one a stage changed is encoded again. */
START_TEST(test_lazy_records)
{
    const char *frame = "{\"v\":1,\"epoch\":2,\"id\":3,\"n\":3}\n"
                        "{\"a\":1,\"s\":\"\\u00e9\\n\"}\n{\"b\":[1,2]}\n{\"c\":true}\n";
    char err[256] = "";
    size_t len = 0, out_len = 0;
    sluice_batch *batch = sluice_wire_decode(frame, strlen(frame), err, sizeof(err));
    ck_assert_msg(batch != NULL, "decode failed: %s", err);
    const char *text = sluice_batch_peek_text(batch, 0, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen("{\"a\":1,\"s\":\"\\u00e9\\n\"}"));
    ck_assert_int_eq(memcmp(text, "{\"a\":1,", 7), 0);

    /* untouched: the records go out exactly as they came in */
    char *again = sluice_wire_encode(batch, &out_len);
    ck_assert_ptr_nonnull(again);
    const char *body_in = strchr(frame, '\n') + 1;
    const char *body_out = memchr(again, '\n', out_len);
    ck_assert_ptr_nonnull(body_out);
    body_out++;
    ck_assert_uint_eq((size_t)(again + out_len - body_out), strlen(body_in));
    ck_assert_int_eq(memcmp(body_out, body_in, strlen(body_in)), 0);
    free(again);

    /* a stage changes record 2: parsed once, no text any more, re-encoded */
    json_t *b = sluice_batch_get(batch, 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(sluice_batch_peek_text(batch, 1, &len));
    ck_assert_ptr_eq(sluice_batch_get(batch, 1), b);
    json_object_set_new(b, "x", json_string("y"));
    sluice_batch_drop(batch, 2);
    ck_assert_ptr_null(sluice_batch_peek_text(batch, 2, &len));
    again = sluice_wire_encode(batch, &out_len);
    ck_assert_ptr_nonnull(again);
    const char *expect = "{\"a\":1,\"s\":\"\\u00e9\\n\"}\n{\"b\":[1,2],\"x\":\"y\"}\n";
    ck_assert_msg(out_len > strlen(expect) &&
                  memcmp(again + out_len - strlen(expect), expect, strlen(expect)) == 0,
                  "re-encoded frame ends wrong: %.*s", (int)out_len, again);
    free(again);
    sluice_batch_destroy(&batch);
}
END_TEST

/* A line that looks like an object but does not parse passes the frame
 * check; the first stage that asks for it gets NULL and the record is
 * rejected with the parser's reason (so it reaches the DLQ), while the
 * other records of the batch go on. */
START_TEST(test_lazy_record_unparsable)
{
    const char *frame = "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2}\n{\"a\":}\n{\"ok\":1}\n";
    char err[256] = "";
    sluice_batch *batch = sluice_wire_decode(frame, strlen(frame), err, sizeof(err));
    ck_assert_msg(batch != NULL, "decode failed: %s", err);
    batch->current_stage = "t1";
    ck_assert_ptr_null(sluice_batch_get(batch, 0));
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_REJECTED);
    ck_assert_ptr_nonnull(batch->slots[0].reason);
    ck_assert_msg(strstr(batch->slots[0].reason, "not a JSON object on the wire") != NULL,
                  "reason: %s", batch->slots[0].reason);
    ck_assert_str_eq(batch->slots[0].rejected_by, "t1");
    ck_assert_ptr_nonnull(sluice_batch_slot_record(batch, 0)); /* something for the DLQ */
    ck_assert_ptr_nonnull(sluice_batch_get(batch, 1));
    ck_assert_uint_eq(sluice_batch_live(batch), 1);
    sluice_batch_destroy(&batch);
}
END_TEST

/* CPU seconds used by this process: unlike wall time, not inflated when
 * the shared machine is busy with other work. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Many large batches round-trip intact. The rate is printed for the
 * curious; speed is measured by `make bench`, not asserted here (a unit
 * test under a sanitizer or on a busy machine must not fail for time). */
START_TEST(test_large_batches)
{
    enum { BATCHES = 100, PER_BATCH = 500 };
    char err[256];
    char padding[700];
    memset(padding, 'x', sizeof(padding) - 1);
    padding[sizeof(padding) - 1] = '\0';
    sluice_batch *batch = sluice_batch_new(1, 1, PER_BATCH);
    for (int i = 0; i < PER_BATCH; i++)
        sluice_batch_append(batch, json_pack("{s:s,s:i,s:s,s:f,s:{s:s,s:i}}", "email",
                                             "member@example.com", "points", i, "notes", padding,
                                             "spend", 12.5, "tier", "name", "Gold", "rank", 3));
    size_t bytes = 0;
    double start = now_seconds();
    for (int b = 0; b < BATCHES; b++) {
        size_t len = 0;
        char *frame = sluice_wire_encode(batch, &len);
        ck_assert_ptr_nonnull(frame);
        sluice_batch *copy = sluice_wire_decode(frame, len, err, sizeof(err));
        ck_assert_msg(copy != NULL, "%s", err);
        ck_assert_uint_eq(sluice_batch_count(copy), PER_BATCH);
        bytes += len;
        sluice_batch_destroy(&copy);
        free(frame);
    }
    double elapsed = now_seconds() - start;
    double rate = BATCHES * PER_BATCH / elapsed;
    printf("wire: %d records (%zu bytes/record) encoded+decoded in %.3f CPU s: %.0f records/s\n",
           BATCHES * PER_BATCH, bytes / (BATCHES * PER_BATCH), elapsed, rate);
    sluice_batch_destroy(&batch);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *suite = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_replay_batch_round_trip);
    tcase_add_test(tc, test_corrupt_replay_marks);
    tcase_add_test(tc, test_empty_batch);
    tcase_add_test(tc, test_corrupt_frames);
    tcase_add_test(tc, test_ack);
    tcase_add_test(tc, test_lazy_records);
    tcase_add_test(tc, test_lazy_record_unparsable);
    suite_add_tcase(suite, tc);
    /* its own case so CK_RUN_CASE=core runs the rest under valgrind */
    TCase *large = tcase_create("large");
    tcase_add_test(large, test_large_batches);
    tcase_set_timeout(large, 600);
    suite_add_tcase(suite, large);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(wire_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
