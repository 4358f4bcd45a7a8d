/* test_batch.c: unit tests of batch.c (records, drop/reject, outcomes,
 * live count and compaction, records appended as text, replayed records
 * and their history, drops with a reason). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"

/* Append `text` as a source would, checking it worked. */
static void append_text(sluice_batch *batch, const char *text, const char *origin)
{
    ck_assert_int_eq(sluice_batch_append_text(batch, text, strlen(text), origin), 0);
}

/* A batch with n records {"n": i}. */
static sluice_batch *make_batch(size_t n)
{
    sluice_batch *batch = sluice_batch_new(3, 7, n);
    ck_assert_ptr_nonnull(batch);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(sluice_batch_append(batch, json_pack("{s:I}", "n", (json_int_t)i)), 0);
    return batch;
}

START_TEST(test_append_and_get)
{
    sluice_batch *batch = make_batch(100);
    ck_assert_uint_eq(sluice_batch_count(batch), 100);
    ck_assert_uint_eq(sluice_batch_capacity(batch), 100);
    ck_assert_uint_eq(sluice_batch_id(batch), 7);
    ck_assert_uint_eq(sluice_batch_live(batch), 100);
    for (size_t i = 0; i < 100; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(batch, i), "n")),
                         (json_int_t)i);
    ck_assert_ptr_null(sluice_batch_get(batch, 100));
    ck_assert_int_eq(sluice_batch_append(batch, NULL), -1);
    ck_assert_int_eq(sluice_batch_append(NULL, json_object()), -1); /* freed, no leak */
    sluice_batch_destroy(&batch);
    ck_assert_ptr_null(batch);
    sluice_batch_destroy(&batch); /* safe twice */
}
END_TEST

START_TEST(test_drop_reject_compact)
{
    sluice_batch *batch = make_batch(5);
    batch->current_stage = "mapper";
    sluice_batch_drop(batch, 1);
    sluice_batch_reject(batch, 3, "missing email");
    ck_assert_ptr_null(sluice_batch_get(batch, 1));
    ck_assert_ptr_null(sluice_batch_get(batch, 3));
    ck_assert_int_eq(sluice_batch_outcome(batch, 3), SLUICE_RECORD_REJECTED);
    ck_assert_str_eq(batch->slots[3].reason, "missing email");
    ck_assert_str_eq(batch->slots[3].rejected_by, "mapper");
    ck_assert_ptr_nonnull(batch->slots[3].record); /* kept for the DLQ */
    ck_assert_uint_eq(sluice_batch_count(batch), 5);
    ck_assert_uint_eq(sluice_batch_live(batch), 3);
    sluice_batch_compact(batch);
    ck_assert_uint_eq(sluice_batch_count(batch), 3);
    const json_int_t expected[] = { 0, 2, 4 };
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(batch, i), "n")),
                         expected[i]);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_replayed_records)
{
    sluice_batch *batch = sluice_batch_new(2, 1, 10);
    json_t *history = json_pack("[{s:s,s:s}]", "stage", "ometria", "reason", "too large");
    ck_assert_int_eq(sluice_batch_set_enter_at(batch, "ometria"), 0);
    ck_assert_str_eq(batch->enter_at, "ometria");
    ck_assert_int_eq(sluice_batch_append(batch, json_pack("{s:i}", "n", 0)), 0);
    ck_assert_int_eq(sluice_batch_append_replayed(batch, json_pack("{s:i}", "n", 1), 17,
                                                  json_incref(history)), 0);
    ck_assert_int_eq(sluice_batch_append_replayed(batch, json_pack("{s:i}", "n", 2), 18,
                                                  json_incref(history)), 0);
    /* refused without an entry id or a history; nothing leaks */
    ck_assert_int_eq(sluice_batch_append_replayed(batch, json_object(), 0, json_array()), -1);
    ck_assert_int_eq(sluice_batch_append_replayed(batch, json_object(), 5, NULL), -1);
    ck_assert_int_eq(sluice_batch_append_replayed(NULL, json_object(), 5, json_array()), -1);
    ck_assert_uint_eq(sluice_batch_count(batch), 3);
    ck_assert_int_eq(batch->slots[0].replay_of, 0);
    ck_assert_ptr_null(batch->slots[0].history);
    /* compaction moves the marks with their records */
    sluice_batch_drop(batch, 0);
    sluice_batch_compact(batch);
    ck_assert_uint_eq(sluice_batch_count(batch), 2);
    ck_assert_int_eq(batch->slots[0].replay_of, 17);
    ck_assert_int_eq(batch->slots[1].replay_of, 18);
    ck_assert(json_equal(batch->slots[1].history, history));
    json_decref(history);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_drop_because)
{
    sluice_batch *batch = make_batch(3);
    sluice_batch_drop_because(batch, 1, "stale: as_of is older than the member's state");
    sluice_batch_drop(batch, 2);
    ck_assert_ptr_null(sluice_batch_get(batch, 1));
    ck_assert(batch->slots[1].dropped);
    ck_assert_str_eq(batch->slots[1].reason, "stale: as_of is older than the member's state");
    ck_assert(batch->slots[2].dropped);
    ck_assert_ptr_null(batch->slots[2].reason);
    /* a drop is not a rejection: the reason does not reach the DLQ */
    ck_assert_int_ne(sluice_batch_outcome(batch, 1), SLUICE_RECORD_REJECTED);
    ck_assert_uint_eq(sluice_batch_live(batch), 1);
    sluice_batch_drop_because(batch, 9, "out of range"); /* ignored */
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_outcomes)
{
    sluice_batch *batch = make_batch(3);
    batch->current_stage = "ometria";
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_PENDING);
    sluice_batch_set_outcome(batch, 0, SLUICE_RECORD_DONE, NULL);
    sluice_batch_set_outcome(batch, 1, SLUICE_RECORD_RETRY, "HTTP 503");
    sluice_batch_set_outcome(batch, 2, SLUICE_RECORD_REJECTED, "HTTP 400: bad email");
    ck_assert_int_eq(sluice_batch_outcome(batch, 0), SLUICE_RECORD_DONE);
    ck_assert_int_eq(sluice_batch_outcome(batch, 1), SLUICE_RECORD_RETRY);
    ck_assert_int_eq(sluice_batch_outcome(batch, 2), SLUICE_RECORD_REJECTED);
    ck_assert_str_eq(batch->slots[2].rejected_by, "ometria");
    ck_assert_str_eq(batch->slots[2].reason, "HTTP 400: bad email");
    ck_assert_ptr_nonnull(sluice_batch_get(batch, 1)); /* retry still gettable */
    ck_assert_ptr_null(sluice_batch_get(batch, 2));
    ck_assert_uint_eq(sluice_batch_live(batch), 2);
    sluice_batch_set_checkpoint(batch, json_pack("{s:i}", "offset", 42));
    sluice_batch_set_checkpoint(batch, json_pack("{s:i}", "offset", 43)); /* replaces */
    ck_assert_int_eq(json_integer_value(json_object_get(batch->checkpoint, "offset")), 43);
    /* out-of-range indexes are ignored */
    sluice_batch_drop(batch, 99);
    sluice_batch_reject(batch, 99, "x");
    ck_assert_int_eq(sluice_batch_outcome(batch, 99), SLUICE_RECORD_PENDING);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_text_parsed_on_first_get)
{
    sluice_batch *batch = sluice_batch_new(1, 1, 10);
    batch->current_stage = "src";
    append_text(batch, "{\"id\": 1, \"name\": \"a\"}", "in.jsonl:1");
    append_text(batch, "not json", "in.jsonl:2");
    append_text(batch, "[1,2]", "in.jsonl:3");
    ck_assert_uint_eq(sluice_batch_count(batch), 3);
    batch->current_stage = "mapper"; /* a later stage of the same process parses */
    json_t *first = sluice_batch_get(batch, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "id")), 1);
    ck_assert_ptr_null(sluice_batch_get(batch, 1));
    ck_assert_int_eq(sluice_batch_outcome(batch, 1), SLUICE_RECORD_REJECTED);
    /* the source's input was bad: the source is named, with file:line */
    ck_assert_str_eq(batch->slots[1].rejected_by, "src");
    ck_assert_msg(strncmp(batch->slots[1].reason, "in.jsonl:2: invalid JSON at column", 34) == 0,
                  "reason: %s", batch->slots[1].reason);
    /* the DLQ keeps the line as {"raw": ...} */
    ck_assert_str_eq(json_string_value(json_object_get(sluice_batch_slot_record(batch, 1), "raw")),
                     "not json");
    ck_assert_ptr_null(sluice_batch_get(batch, 2));
    ck_assert_str_eq(batch->slots[2].reason, "in.jsonl:3: not a JSON object");
    ck_assert_uint_eq(sluice_batch_live(batch), 1);
    sluice_batch_destroy(&batch);
}
END_TEST

START_TEST(test_text_peek_verifies)
{
    size_t len = 0;
    sluice_batch *batch = sluice_batch_new(1, 1, 10);
    batch->current_stage = "src";
    append_text(batch, "{\"a\": [1, 2]}", "f:1");
    append_text(batch, "{\"a\":", "f:2");
    append_text(batch, "{\"a\":\n 1}", "f:3");   /* valid, but two lines */
    append_text(batch, "{\"b\":2}  ", "f:4");     /* valid, trailing blanks */
    const char *text = sluice_batch_peek_text(batch, 0, &len);
    ck_assert_ptr_nonnull(text); /* checked, then served as the source read it */
    ck_assert_int_eq((int)len, 13);
    ck_assert_int_eq(memcmp(text, "{\"a\": [1, 2]}", len), 0);
    ck_assert_ptr_null(batch->slots[0].record); /* the check kept no tree */
    ck_assert_ptr_null(sluice_batch_peek_text(batch, 1, &len));
    ck_assert_int_eq(sluice_batch_outcome(batch, 1), SLUICE_RECORD_REJECTED);
    /* valid text that cannot travel as one wire line is served as a tree */
    ck_assert_ptr_null(sluice_batch_peek_text(batch, 2, &len));
    ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(batch, 2), "a")), 1);
    ck_assert_ptr_null(sluice_batch_peek_text(batch, 3, &len));
    ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(batch, 3), "b")), 2);
    sluice_batch_destroy(&batch);
}
END_TEST

/* Encode batch, decode the frame (the next process), and free the frame. */
static sluice_batch *cross_wire(const sluice_batch *batch)
{
    size_t len = 0;
    char err[256];
    char *frame = sluice_wire_encode(batch, &len);
    ck_assert_ptr_nonnull(frame);
    sluice_batch *decoded = sluice_wire_decode(frame, len, err, sizeof(err));
    ck_assert_msg(decoded != NULL, "decode: %s", err);
    free(frame);
    return decoded;
}

START_TEST(test_text_crosses_wire_unverified)
{
    size_t len = 0;
    sluice_batch *batch = sluice_batch_new(4, 2, 10);
    batch->current_stage = "src";
    append_text(batch, "{\"id\": 1}", "f:1");
    append_text(batch, "{oops}", "f:2");        /* one line {...}: travels unread */
    append_text(batch, "{\"id\":\n3}", "f:3");  /* two lines: parsed before the wire */
    sluice_batch_drop(batch, 0);
    append_text(batch, "{\"id\":4}", "f:4");
    append_text(batch, "nope", "f:5");          /* no {...}: checked, rejected here */
    sluice_batch_prepare_for_wire(batch);
    ck_assert_int_eq(sluice_batch_outcome(batch, 4), SLUICE_RECORD_REJECTED);
    ck_assert_str_eq(batch->slots[4].rejected_by, "src");
    ck_assert_msg(strncmp(batch->slots[4].reason, "f:5: invalid JSON", 17) == 0, "reason %s",
                  batch->slots[4].reason);
    ck_assert_int_eq(sluice_batch_outcome(batch, 1), SLUICE_RECORD_PENDING); /* not parsed */
    ck_assert_ptr_null(batch->slots[1].record);
    ck_assert_ptr_null(batch->slots[3].record);
    ck_assert_uint_eq(sluice_batch_live(batch), 3);

    /* two hops: a stage that does not read them passes the marks on */
    sluice_batch *relay = cross_wire(batch);
    relay->current_stage = "relay";
    sluice_batch *decoded = cross_wire(relay);
    sluice_batch_destroy(&relay);
    decoded->current_stage = "map";
    ck_assert_uint_eq(sluice_batch_count(decoded), 3);
    ck_assert_ptr_null(sluice_batch_get(decoded, 0));
    ck_assert_int_eq(sluice_batch_outcome(decoded, 0), SLUICE_RECORD_REJECTED);
    ck_assert_str_eq(decoded->slots[0].rejected_by, "src"); /* the source's input was bad */
    ck_assert_msg(strncmp(decoded->slots[0].reason, "f:2: invalid JSON at column", 27) == 0,
                  "reason %s", decoded->slots[0].reason);
    ck_assert_str_eq(json_string_value(json_object_get(decoded->slots[0].record, "raw")),
                     "{oops}");
    ck_assert_int_eq(json_integer_value(json_object_get(sluice_batch_get(decoded, 1), "id")), 3);
    const char *text = sluice_batch_peek_text(decoded, 2, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(memcmp(text, "{\"id\":4}", len), 0);
    ck_assert_int_eq(decoded->slots[2].unverified, 0); /* checked by the peek */
    sluice_batch_destroy(&decoded);
    sluice_batch_destroy(&batch);
    ck_assert_int_eq(sluice_batch_append_text(NULL, "{}", 2, NULL), -1);
}
END_TEST

START_TEST(test_wire_refuses_bad_unverified_list)
{
    static const char *const frames[] = {
        /* run outside the records, count of the wrong type, not a list */
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":[[\"s\",1,1]]}\n{}\nf:1\n",
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":[[\"s\",0,\"1\"]]}\n{}\nf:1\n",
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":{}}\n{}\n",
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":[[\"s\",0,2]]}\n{}\nf:1\nf:2\n",
        /* runs out of order or overlapping */
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"unverified\":[[\"s\",1,1],[\"s\",0,1]]}\n{}\n{}\na\nb\n",
        /* an origin line missing, one too many */
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":[[\"s\",0,1]]}\n{}\n",
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":1,\"unverified\":[[\"s\",0,1]]}\n{}\nf:1\nf:2\n",
    };
    char err[256];
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        sluice_batch *batch = sluice_wire_decode(frames[i], strlen(frames[i]), err, sizeof(err));
        ck_assert_msg(batch == NULL, "frame %zu accepted", i);
        ck_assert_msg(strstr(err, "unverified") != NULL || strstr(err, "origins") != NULL,
                      "frame %zu: %s", i, err);
    }
    /* a frame whose origin is empty: unverified, reason without an origin */
    static const char ok[] =
        "{\"v\":1,\"epoch\":1,\"id\":1,\"n\":2,\"unverified\":[[\"src\",0,2]]}\n{x}\n{y}\nin:7\n\n";
    sluice_batch *batch = sluice_wire_decode(ok, strlen(ok), err, sizeof(err));
    ck_assert_msg(batch != NULL, "decode: %s", err);
    batch->current_stage = "next";
    ck_assert_ptr_null(sluice_batch_get(batch, 0));
    ck_assert_msg(strncmp(batch->slots[0].reason, "in:7: invalid JSON", 18) == 0, "reason %s",
                  batch->slots[0].reason);
    ck_assert_ptr_null(sluice_batch_get(batch, 1));
    ck_assert_msg(strncmp(batch->slots[1].reason, "appended text: invalid JSON", 27) == 0,
                  "reason %s", batch->slots[1].reason);
    ck_assert_str_eq(batch->slots[1].rejected_by, "src");
    sluice_batch_destroy(&batch);
}
END_TEST


static Suite *batch_suite(void)
{
    Suite *suite = suite_create("batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append_and_get);
    tcase_add_test(tc, test_drop_reject_compact);
    tcase_add_test(tc, test_replayed_records);
    tcase_add_test(tc, test_drop_because);
    tcase_add_test(tc, test_outcomes);
    tcase_add_test(tc, test_text_parsed_on_first_get);
    tcase_add_test(tc, test_text_peek_verifies);
    tcase_add_test(tc, test_text_crosses_wire_unverified);
    tcase_add_test(tc, test_wire_refuses_bad_unverified_list);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(batch_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
