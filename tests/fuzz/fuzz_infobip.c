/* fuzz_infobip.c: libFuzzer harness of infobip-sink's answer parsers. The
 * input is a response body as the sink receives it.
 * - The 2xx answer of a persons upsert: read_upsert_answer (static in
 *   plugins/infobip-sink/infobip_persons.c, included below to reach it; it
 *   only sets outcomes and sends nothing) over five persons must mark
 *   person i REJECTED when the first "errors" item naming integer index i
 *   does, else DONE when a "results" item does, else RETRY (an answer the
 *   sink cannot read is never a delivery); CREATED only for a DONE person
 *   whose first result says so; and it must say why exactly when some
 *   person is not named.
 * - infobip_error_text (the message of an error answer, for the answer
 *   and each 207 error) fits its buffer.
 * - The custom attribute list answer (item_list, find_item, static in
 *   infobip_setup.c, included too).
 * - infobip_scan_record, the walk over a record's JSON text, against
 *   jansson's parse when the input is a JSON object: what it reads is what
 *   jansson reads, or it leaves the record to the parser; the text less
 *   the "tags" member it found is the object less "tags". */
#include "../../plugins/infobip-sink/infobip_persons.c"
#include "../../plugins/infobip-sink/infobip_setup.c"

#include "batch.h"
#include "fuzz.h"

const char fuzz_harness_name[] = "fuzz_infobip";

/* Persons in the fuzzed upsert. */
#define PERSONS 5

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* infobip_error_text of `error` in buffers of several sizes. */
static void check_error_text(const json_t *error)
{
    static const size_t sizes[] = {1, 5, 64, 512};
    char buf[512];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(buf, 'x', sizeof(buf));
        if (infobip_error_text(error, buf, sizes[i]) != buf)
            fuzz_fail("infobip_error_text did not return its buffer");
        if (strnlen(buf, sizes[i]) >= sizes[i])
            fuzz_fail("error text overflows a buffer of %zu bytes", sizes[i]);
    }
}

/* A record outcome's name, for messages. */
static const char *outcome_name(sluice_outcome outcome)
{
    static const char *const names[] = {"PENDING", "DONE", "RETRY", "REJECTED"};

    return (unsigned)outcome < 4 ? names[outcome] : "?";
}

/* The outcome the 2xx `body` gives person `at`: REJECTED, DONE or RETRY,
 * and in *created whether it was created. */
static sluice_outcome expected_outcome(const json_t *body, size_t at, int *created)
{
    size_t i;
    const json_t *item;

    *created = 0;
    json_array_foreach(json_object_get(body, "errors"), i, item) {
        const json_t *index = json_object_get(item, "index");
        if (json_is_integer(index) && json_integer_value(index) == (json_int_t)at)
            return SLUICE_RECORD_REJECTED;
    }
    json_array_foreach(json_object_get(body, "results"), i, item) {
        const json_t *index = json_object_get(item, "index");
        if (json_is_integer(index) && json_integer_value(index) == (json_int_t)at) {
            const char *status = json_string_value(json_object_get(item, "status"));
            *created = status && strcmp(status, "CREATED") == 0;
            return SLUICE_RECORD_DONE;
        }
    }
    return SLUICE_RECORD_RETRY;
}

/* read_upsert_answer on a 2xx answer `body` for PERSONS persons. */
static void check_upsert_answer(json_t *body)
{
    sluice_batch *batch = sluice_batch_new(1, 1, PERSONS);
    infobip_reply reply;
    size_t idx[PERSONS], named = 0;
    unsigned char created[PERSONS] = {0};
    char why[200];

    if (!batch)
        abort();
    memset(&reply, 0, sizeof(reply));
    batch->current_stage = "infobip";
    for (size_t i = 0; i < PERSONS; i++) {
        idx[i] = i;
        sluice_batch_append(batch, json_pack("{s:s}", "externalId", "LID"));
    }
    reply.cls = SLUICE_HTTP_SUCCESS;
    reply.status = 207;
    reply.body = json_incref(body);
    if (read_upsert_answer(NULL, batch, idx, created, PERSONS, &reply, why, sizeof(why)) !=
        SLUICE_OK)
        fuzz_fail("a 2xx upsert answer was not read");
    for (size_t i = 0; i < PERSONS; i++) {
        int want_created;
        sluice_outcome want = expected_outcome(body, i, &want_created);
        sluice_outcome got = sluice_batch_outcome(batch, i);
        if (got != want)
            fuzz_fail("person %zu: %s, but the answer says %s", i, outcome_name(got),
                      outcome_name(want));
        if (created[i] != want_created)
            fuzz_fail("person %zu: created %d, the answer says %d", i, created[i], want_created);
        named += want != SLUICE_RECORD_RETRY;
    }
    if ((named == PERSONS) != (why[0] == '\0'))
        fuzz_fail("%zu of %d persons named, and why is '%s'", named, PERSONS, why);
    infobip_reply_clear(&reply);
    sluice_batch_destroy(&batch);
}

/* The custom attribute list answer: the list whatever the wrapper, and
 * the type of the first attribute named annexCurrentTier in any case. */
static void check_attribute_list(const json_t *body)
{
    const json_t *list = item_list(body, attribute_keys);
    const char *want = NULL;
    size_t i;
    json_t *item;

    if (!list)
        return;
    if (!json_is_array(list))
        fuzz_fail("item_list gave a non-array");
    json_array_foreach((json_t *)list, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name && strcasecmp(name, "annexCurrentTier") == 0) {
            want = json_string_value(json_object_get(item, "dataType"));
            break;
        }
    }
    if (json_string_value(json_object_get(find_item(list, "name", "annexCurrentTier", 1),
                                          "dataType")) != want)
        fuzz_fail("find_item did not give the first matching attribute's type");
}

/* The text less the bytes the scan says hold "tags" (and a comma) must be
 * `object` (jansson's parse of it) less "tags". */
static void check_cut(const char *text, size_t len, const infobip_record_facts *facts,
                      const json_t *object)
{
    char *cut;
    json_t *want, *got;

    if (facts->tags_cut_len == 0) {
        if (json_object_get(object, "tags"))
            fuzz_fail("scan found no tags member to cut but jansson has one");
        return;
    }
    if (facts->tags_cut_at + facts->tags_cut_len > len)
        fuzz_fail("the tags cut ends beyond the text");
    cut = malloc(len);
    if (!cut)
        return;
    memcpy(cut, text, facts->tags_cut_at);
    memcpy(cut + facts->tags_cut_at, text + facts->tags_cut_at + facts->tags_cut_len,
           len - facts->tags_cut_at - facts->tags_cut_len);
    got = json_loadb(cut, len - facts->tags_cut_len, 0, NULL);
    want = json_copy((json_t *)object);
    json_object_del(want, "tags");
    if (!got || !json_equal(got, want))
        fuzz_fail("the text less its tags member is not the object less tags");
    json_decref(got);
    json_decref(want);
    free(cut);
}

/* infobip_scan_record on text against jansson's parse `object`. */
static void check_scan(const char *text, size_t len, const json_t *object)
{
    infobip_record_facts facts;
    const json_t *external_id = json_object_get(object, "externalId");
    const json_t *tags = json_object_get(object, "tags");

    if (infobip_scan_record(text, len, &facts) != 0)
        return; /* left to the parser */
    if (json_is_string(external_id)) {
        if (!facts.external_id || facts.external_id_len != json_string_length(external_id) ||
            memcmp(facts.external_id, json_string_value(external_id), facts.external_id_len) != 0)
            fuzz_fail("scan read another externalId than jansson");
    } else if (facts.external_id) {
        fuzz_fail("scan read an externalId jansson does not see as a string");
    }
    if (facts.is_event != (json_object_get(object, "definitionId") != NULL))
        fuzz_fail("scan and jansson disagree on definitionId");
    if (facts.has_tags != json_is_array(tags))
        fuzz_fail("scan and jansson disagree on tags being an array");
    if (facts.has_tags) {
        json_t *scanned = json_loadb(facts.tags_text, facts.tags_len, 0, NULL);
        if (!scanned || !json_equal(scanned, tags))
            fuzz_fail("scan's tags text is not jansson's tags");
        json_decref(scanned);
    }
    check_cut(text, len, &facts, object);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    size_t i;
    json_t *item;

    if (!body)
        return 0;
    check_error_text(body);
    json_array_foreach(json_object_get(body, "errors"), i, item)
        check_error_text(item);
    check_upsert_answer(body);
    check_attribute_list(body);
    if (json_is_object(body))
        check_scan((const char *)data, size, body);
    json_decref(body);
    return 0;
}
