/* fuzz_ometria.c: libFuzzer harness of ometria-sink's answer parsers
 * (plugins/ometria-sink/ometria_plan.c): the input is a response body as
 * the sink receives it. om_parse_push_result (2xx of POST /v2/push) must
 * take exactly an object with counts "accepted" (and "rejected") in
 * 0..OM_COUNT_MAX and read them as the JSON says; om_error_text (the
 * message of an error answer) must fit its buffer, stay on one line and
 * never show the API key; om_match_error (a GET /v2/push/_errors answer
 * against the records the sink sent, or {"errors": ..., "record": ...})
 * must answer NULL or the message of one of the entries. Retry-After is
 * the core's (fuzz_retry_after). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ometria-sink/ometria.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_ometria";

#define API_KEY "fuzz-ometria-key-0123456789"

static json_t *sent_records;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    sent_records = json_loads(
        "[{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\",\"id\":\"LID-000001\","
        "\"email\":\"anna@example.com\",\"date_of_birth\":\"1990-02-03\","
        "\"properties\":{\"annex_current_tier\":\"Gold\",\"annex_available_points\":120}},"
        "{\"@type\":\"custom_event\",\"id\":4711,\"event_type\":\"tier_upgrade\","
        "\"identity_email\":\"anna@example.com\",\"timestamp\":\"2026-01-02T03:04:05Z\"},"
        "{\"@type\":\"contact\",\"id\":\"root\"},{}]",
        0, NULL);
    if (!sent_records)
        fuzz_fail("the sample records do not parse");
    return 0;
}

/* Free the sample records when the process ends. */
__attribute__((destructor)) static void free_records(void)
{
    json_decref(sent_records);
}

/* 1 when value is an integer count om_parse_push_result takes. */
static int count_ok(const json_t *value)
{
    return json_is_integer(value) && json_integer_value(value) >= 0 &&
           json_integer_value(value) <= OM_COUNT_MAX;
}

/* om_parse_push_result against jansson's reading of the same body: it
 * takes exactly an object with "accepted" and, if present, "rejected" as
 * counts in 0..OM_COUNT_MAX. */
static void check_push_result(const char *body)
{
    long accepted = -7, rejected = -7;
    json_t *root = json_loads(body, 0, NULL);
    const json_t *a = json_object_get(root, "accepted"), *r = json_object_get(root, "rejected");
    int readable = json_is_object(root) && count_ok(a) && (!r || count_ok(r));

    if (om_parse_push_result(body, &accepted, &rejected) == 0) {
        if (!readable || accepted != (long)json_integer_value(a) ||
            rejected != (r ? (long)json_integer_value(r) : 0))
            fuzz_fail("push result read as %ld/%ld from %s", accepted, rejected, body);
    } else if (readable) {
        fuzz_fail("a readable push result was refused: %s", body);
    }
    json_decref(root);
}

/* om_error_text in a buffer of `size` bytes, with and without a key. */
static void check_error_text(const char *body, size_t size)
{
    char *out = malloc(size);
    size_t len;

    if (!out)
        abort();
    for (int with_key = 0; with_key < 2; with_key++) {
        memset(out, 'x', size);
        if (om_error_text(body, with_key ? API_KEY : NULL, out, size) != out)
            fuzz_fail("om_error_text did not return its buffer");
        len = strnlen(out, size);
        if (len >= size || len >= 300)
            fuzz_fail("error text of %zu bytes in a buffer of %zu", len, size);
        if (strpbrk(out, "\r\n"))
            fuzz_fail("error text on several lines: %s", out);
        if (with_key && strstr(out, API_KEY))
            fuzz_fail("error text shows the API key: %s", out);
    }
    free(out);
}

/* A match is NULL, or "MESSAGE" / "MESSAGE (PATH)" of one of the errors. */
static void check_match(const json_t *errors, const json_t *record)
{
    char *matched = om_match_error(errors, record);
    size_t i;
    const json_t *entry;
    int found = 0;

    if (!matched)
        return;
    json_array_foreach(errors, i, entry) {
        const char *message = json_string_value(json_object_get(entry, "error_message"));
        size_t len = message ? strlen(message) : 0;
        if (message && strncmp(matched, message, len) == 0 &&
            (matched[len] == '\0' || matched[len] == ' '))
            found = 1;
    }
    if (!found)
        fuzz_fail("om_match_error answered '%s', no entry's message", matched);
    free(matched);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t sizes[] = {1, 2, 9, 64, 300, 512};
    char *body = fuzz_text(data, size);
    json_t *answer = json_loads(body, 0, NULL);
    size_t i;
    const json_t *record;

    check_push_result(body);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_error_text(body, sizes[i]);
    if (json_is_array(answer)) {
        json_array_foreach(sent_records, i, record)
            check_match(answer, record);
    } else if (json_is_object(answer)) {
        check_match(json_object_get(answer, "errors"), json_object_get(answer, "record"));
    }
    json_decref(answer);
    free(body);
    return 0;
}
