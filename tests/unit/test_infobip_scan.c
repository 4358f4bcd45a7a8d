/* test_infobip_scan.c: unit tests of infobip_scan_record (infobip-sink's
 * walk over a record's JSON text): the facts it reads equal what jansson's
 * parse of the same text says, for hand-picked traps (nested externalIds,
 * escaped quotes and braces in other values, repeated members, spacing) and
 * for thousands of generated records; the text less the "tags" member it
 * finds is the record less "tags"; texts it cannot read are left to the
 * parser, never misread. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../plugins/infobip-sink/infobip.h"

/* Scan the NUL-terminated text; returns the scanner's result. */
static int scan(const char *text, infobip_record_facts *facts)
{
    return infobip_scan_record(text, strlen(text), facts);
}

/* 1 if facts->external_id is exactly `want` (NULL = absent). */
static int id_is(const infobip_record_facts *facts, const char *want)
{
    if (!want)
        return facts->external_id == NULL;
    return facts->external_id && facts->external_id_len == strlen(want) &&
           memcmp(facts->external_id, want, facts->external_id_len) == 0;
}

START_TEST(person_and_event)
{
    infobip_record_facts facts;

    ck_assert_int_eq(scan("{\"externalId\":\"L-1\",\"firstName\":\"Ann\",\"tags\":[\"Loyalty\", \"v]ip\"]}", &facts), 0);
    ck_assert(id_is(&facts, "L-1"));
    ck_assert_int_eq(facts.is_event, 0);
    ck_assert_int_eq(facts.has_tags, 1);
    ck_assert_uint_eq(facts.tags_len, strlen("[\"Loyalty\", \"v]ip\"]"));
    ck_assert_int_eq(memcmp(facts.tags_text, "[\"Loyalty\", \"v]ip\"]", facts.tags_len), 0);

    /* An event's identifier object holds an externalId-like member: only
     * top-level members count. */
    ck_assert_int_eq(scan("{\"definitionId\":\"annexTierUpgrade\",\"identifier\":{\"externalId\":\"zz\","
                          "\"type\":\"externalId\"},\"properties\":{\"tags\":[1]}}", &facts), 0);
    ck_assert(id_is(&facts, NULL));
    ck_assert_int_eq(facts.is_event, 1);
    ck_assert_int_eq(facts.has_tags, 0);

    ck_assert_int_eq(scan("{}", &facts), 0);
    ck_assert(id_is(&facts, NULL));
    ck_assert_int_eq(facts.is_event, 0);
}
END_TEST

START_TEST(strings_that_look_like_structure)
{
    infobip_record_facts facts;

    /* Quotes, braces, commas and colons inside other strings are skipped. */
    ck_assert_int_eq(scan("{\"firstName\":\"a\\\"b},\\\"externalId\\\":\\\"X\",\"address\":\"{[\\\\\","
                          "\"externalId\":\"L-2\",\"customAttributes\":{\"n\":\"}\",\"m\":[\"]\",{}]},"
                          "\"tags\":[]}", &facts), 0);
    ck_assert(id_is(&facts, "L-2"));
    ck_assert_int_eq(facts.has_tags, 1);
    /* Non-ASCII text is passed through byte for byte. */
    ck_assert_int_eq(scan("{\"externalId\":\"L-\xc3\xa9\xe2\x82\xac\"}", &facts), 0);
    ck_assert(id_is(&facts, "L-\xc3\xa9\xe2\x82\xac"));
}
END_TEST

START_TEST(member_values_and_repeats)
{
    infobip_record_facts facts;

    ck_assert_int_eq(scan("{\"externalId\":42,\"tags\":\"Loyalty\"}", &facts), 0);
    ck_assert(id_is(&facts, NULL));
    ck_assert_int_eq(facts.has_tags, 0);
    ck_assert_int_eq(scan("{\"externalId\":null,\"tags\":null,\"x\":true,\"y\":-1.5e3}", &facts), 0);
    ck_assert(id_is(&facts, NULL));
    /* The last of repeated members counts, as when jansson parses; a
     * repeated "tags" (which the upsert body must lose entirely) is left
     * to the parser. */
    ck_assert_int_eq(scan("{\"externalId\":\"a\",\"tags\":[],\"externalId\":\"b\"}", &facts), 0);
    ck_assert(id_is(&facts, "b"));
    ck_assert_int_eq(facts.has_tags, 1);
    ck_assert_int_eq(scan("{\"externalId\":\"a\",\"tags\":[],\"externalId\":\"b\",\"tags\":{}}", &facts), -1);
    ck_assert_int_eq(scan("{\"externalId\":\"a\",\"externalId\":7}", &facts), 0);
    ck_assert(id_is(&facts, NULL));
    /* Spacing as a source may have written it. */
    ck_assert_int_eq(scan(" { \"externalId\" : \"L-3\" ,\n\t\"tags\" : [ ] } ", &facts), 0);
    ck_assert(id_is(&facts, "L-3"));
    ck_assert_int_eq(facts.has_tags, 1);
}
END_TEST

/* The text less the cut the scan found. */
static char *cut_text(const char *text, const infobip_record_facts *facts)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1);

    ck_assert_ptr_nonnull(out);
    memcpy(out, text, facts->tags_cut_at);
    memcpy(out + facts->tags_cut_at, text + facts->tags_cut_at + facts->tags_cut_len,
           len - facts->tags_cut_at - facts->tags_cut_len + 1);
    return out;
}

START_TEST(tags_cut)
{
    static const char *const cases[][2] = {
        {"{\"externalId\":\"L-1\",\"tags\":[\"Loyalty\"],\"firstName\":\"A\"}",
         "{\"externalId\":\"L-1\",\"firstName\":\"A\"}"},
        {"{\"externalId\":\"L-1\",\"tags\":[\"Loyalty\"]}", "{\"externalId\":\"L-1\"}"},
        {"{\"tags\":[],\"externalId\":\"L-1\"}", "{\"externalId\":\"L-1\"}"},
        {"{ \"tags\" : [ \"a,b\" ] }", "{  }"},
        {" { \"a\" : 1 ,\n \"tags\" : null\n} ", " { \"a\" : 1 \n} "},
        {"{\"externalId\":\"L-1\"}", "{\"externalId\":\"L-1\"}"},
    };
    infobip_record_facts facts;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *cut;
        ck_assert_int_eq(scan(cases[i][0], &facts), 0);
        cut = cut_text(cases[i][0], &facts);
        ck_assert_msg(strcmp(cut, cases[i][1]) == 0, "case %zu: '%s' cut to '%s'", i, cases[i][0], cut);
        free(cut);
    }
}
END_TEST

START_TEST(left_to_the_parser)
{
    static const char *const texts[] = {
        "{\"externalId\":\"L\\u002d4\"}",          /* escape in externalId */
        "{\"externalId\":\"a\\\"b\"}",
        "{\"extern\\u0061lId\":\"L-5\"}",          /* escape in a member name */
        "not json", "", "[1,2]", "{", "{\"a\":1", "{\"a\" 1}", "{\"a\":1,}x",
        "{\"a\":1} {\"b\":2}", "{\"a\":\"unterminated}", "{\"a\":[1,2}",
    };
    infobip_record_facts facts;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        ck_assert_msg(scan(texts[i], &facts) == -1, "text %zu (%s) was read", i, texts[i]);
}
END_TEST

/* A random string value: letters, and now and then a character JSON must
 * escape or that looks like structure. */
static json_t *random_string(unsigned *seed)
{
    static const char pool[] = "abcXYZ019-_ \"\\{}[],:\n\t\xc3\xa9";
    char text[24];
    size_t len = (size_t)(rand_r(seed) % 12);

    for (size_t i = 0; i < len; i++) {
        char c = pool[rand_r(seed) % (sizeof(pool) - 1)];
        /* keep multi-byte UTF-8 whole: a lone byte of it becomes 'e' */
        text[i] = (unsigned char)c >= 0x80 ? 'e' : c;
    }
    text[len] = '\0';
    return json_string(text);
}

/* A random JSON value, nested up to `depth`. */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *const names[] = {"externalId", "definitionId", "tags", "firstName",
                                        "customAttributes", "contactInformation", "a\"b", "{"};
    int kind = rand_r(seed) % (depth > 0 ? 7 : 5);
    json_t *value;

    switch (kind) {
    case 0: return random_string(seed);
    case 1: return json_integer(rand_r(seed) % 2000 - 1000);
    case 2: return json_real((double)(rand_r(seed) % 1000) / 7.0);
    case 3: return json_boolean(rand_r(seed) % 2);
    case 4: return json_null();
    case 5:
        value = json_array();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            json_array_append_new(value, random_value(seed, depth - 1));
        return value;
    default:
        value = json_object();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            json_object_set_new(value, names[rand_r(seed) % 8], random_value(seed, depth - 1));
        return value;
    }
}

START_TEST(agrees_with_jansson)
{
    static const char *const names[] = {"externalId", "definitionId", "tags", "firstName",
                                        "customAttributes", "birthDate", "a\"b", "{"};
    unsigned seed = 20261122u;
    size_t read = 0;

    for (int n = 0; n < 5000; n++) {
        json_t *record = json_object();
        infobip_record_facts facts;
        const json_t *external_id;
        char *text;
        int rc;

        for (int i = rand_r(&seed) % 7; i > 0; i--)
            json_object_set_new(record, names[rand_r(&seed) % 8], random_value(&seed, 3));
        if (rand_r(&seed) % 2)
            json_object_set_new(record, "externalId", rand_r(&seed) % 4 ? random_string(&seed)
                                                                         : random_value(&seed, 1));
        text = json_dumps(record, n % 3 == 0 ? JSON_INDENT(1) : JSON_COMPACT);
        ck_assert_ptr_nonnull(text);
        rc = scan(text, &facts);
        external_id = json_object_get(record, "externalId");
        if (rc != 0) {
            /* Only escapes make the walk give up on valid text. */
            ck_assert_msg(strchr(text, '\\') != NULL, "valid text not read: %s", text);
            free(text);
            json_decref(record);
            continue;
        }
        read++;
        ck_assert_msg(facts.is_event == (json_object_get(record, "definitionId") != NULL), "%s", text);
        ck_assert_msg(facts.has_tags == json_is_array(json_object_get(record, "tags")), "%s", text);
        if (facts.has_tags) {
            /* The array's own text parses to the record's tags. */
            json_t *tags = json_loadb(facts.tags_text, facts.tags_len, 0, NULL);
            ck_assert_msg(json_equal(tags, json_object_get(record, "tags")), "tags misread in %s", text);
            json_decref(tags);
        } else {
            ck_assert_ptr_null(facts.tags_text);
        }
        {
            /* The text less the cut is the record less its tags. */
            char *cut = cut_text(text, &facts);
            json_t *got = json_loads(cut, 0, NULL), *want = json_copy(record);
            json_object_del(want, "tags");
            ck_assert_msg(got && json_equal(got, want), "%s cut to %s", text, cut);
            json_decref(got);
            json_decref(want);
            free(cut);
        }
        if (json_is_string(external_id)) {
            ck_assert_msg(facts.external_id && facts.external_id_len == json_string_length(external_id) &&
                          memcmp(facts.external_id, json_string_value(external_id),
                                 facts.external_id_len) == 0, "externalId misread in %s", text);
        } else {
            ck_assert_msg(facts.external_id == NULL, "externalId found in %s", text);
        }
        free(text);
        json_decref(record);
    }
    /* Most generated records have no escape where it matters. */
    ck_assert_uint_gt(read, 2500);
}
END_TEST

static Suite *scan_suite(void)
{
    Suite *suite = suite_create("infobip_scan");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, person_and_event);
    tcase_add_test(tc, strings_that_look_like_structure);
    tcase_add_test(tc, member_values_and_repeats);
    tcase_add_test(tc, tags_cut);
    tcase_add_test(tc, left_to_the_parser);
    tcase_add_test(tc, agrees_with_jansson);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(scan_suite());
    int failed;

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
