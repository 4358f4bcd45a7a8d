/* test_mapper.c: unit tests (Check) of the field-mapper rule engine
 * (plugins/field-mapper/mapper_*.c): every type conversion, enums, joins,
 * defaults, rejections naming the field, compile-time validation, and the
 * two default mappings (pipelines/mappings/ometria.cfg and infobip.cfg) on the bench member
 * sample, compared with the documented destination shapes. */
#include <config.h>
#include <check.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "mapper.h"

/* libconfig setting -> JSON, the way the pipeline loader hands options to
 * init(): groups become objects, lists and arrays become arrays. */
static json_t *setting_to_json(const config_setting_t *setting)
{
    json_t *out = NULL;
    switch (config_setting_type(setting)) {
    case CONFIG_TYPE_GROUP:
        out = json_object();
        for (int i = 0; i < config_setting_length(setting); i++) {
            const config_setting_t *child = config_setting_get_elem(setting, (unsigned)i);
            json_object_set_new(out, config_setting_name(child), setting_to_json(child));
        }
        break;
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_ARRAY:
        out = json_array();
        for (int i = 0; i < config_setting_length(setting); i++)
            json_array_append_new(out, setting_to_json(config_setting_get_elem(setting, (unsigned)i)));
        break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        out = json_integer(config_setting_get_int64(setting));
        break;
    case CONFIG_TYPE_FLOAT:
        out = json_real(config_setting_get_float(setting));
        break;
    case CONFIG_TYPE_BOOL:
        out = json_boolean(config_setting_get_bool(setting));
        break;
    case CONFIG_TYPE_STRING:
        out = json_string(config_setting_get_string(setting));
        break;
    default:
        out = json_null();
    }
    return out;
}

/* Parse libconfig text (a stage body) into JSON options. */
static json_t *options_from_text(const char *text)
{
    config_t cfg;
    json_t *out;
    config_init(&cfg);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        fprintf(stderr, "libconfig: line %d: %s\n", config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return NULL;
    }
    out = setting_to_json(config_root_setting(&cfg));
    config_destroy(&cfg);
    return out;
}

/* The default mapping `name` from pipelines/mappings plus extra options. */
static json_t *options_from_mapping(const char *name, const char *extra)
{
    char path[4096];
    const char *srcdir = getenv("top_srcdir");
    FILE *f;
    char *text;
    long size;
    json_t *out;
    snprintf(path, sizeof(path), "%s/pipelines/mappings/%s", srcdir ? srcdir : "../..", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)size + strlen(extra) + 2);
    ck_assert_int_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    memcpy(text + size, "\n", 1);
    memcpy(text + size + 1, extra, strlen(extra));
    out = options_from_text(text);
    free(text);
    ck_assert_msg(out != NULL, "%s does not parse", path);
    return out;
}

static json_t *bench_sample(void)
{
    char path[4096];
    const char *srcdir = getenv("top_srcdir");
    json_error_t error;
    json_t *sample;
    snprintf(path, sizeof(path), "%s/tests/bench/member-sample.json", srcdir ? srcdir : "../..");
    sample = json_load_file(path, 0, &error);
    ck_assert_msg(sample != NULL, "%s: %s", path, error.text);
    return sample;
}

static mapper *compile_text(const char *text)
{
    char err[512];
    json_t *options = options_from_text(text);
    mapper *m;
    ck_assert_msg(options != NULL, "options do not parse: %s", text);
    m = mapper_compile(options, err, sizeof(err));
    ck_assert_msg(m != NULL, "compile failed: %s", err);
    json_decref(options);
    return m;
}

/* Compile `text`, expecting failure; returns the message (static). */
static const char *compile_error(const char *text)
{
    static char err[512];
    json_t *options = options_from_text(text);
    mapper *m;
    ck_assert(options != NULL);
    err[0] = '\0';
    m = mapper_compile(options, err, sizeof(err));
    ck_assert_msg(m == NULL, "compile of bad mapping succeeded");
    json_decref(options);
    return err;
}

/* Map record text; expect MAPPED and return the output's compact dump. */
static char *map_ok(const mapper *m, const char *record_text)
{
    char reason[512] = "";
    json_t *in = json_loads(record_text, 0, NULL), *out = NULL;
    char *dump;
    ck_assert_msg(in != NULL, "bad test record %s", record_text);
    ck_assert_msg(mapper_apply(m, in, &out, reason, sizeof(reason)) == MAPPER_MAPPED,
                  "rejected: %s", reason);
    dump = json_dumps(out, JSON_COMPACT);
    json_decref(in);
    json_decref(out);
    return dump;
}

static const char *map_reject(const mapper *m, const char *record_text)
{
    static char reason[512];
    json_t *in = json_loads(record_text, 0, NULL), *out = NULL;
    reason[0] = '\0';
    ck_assert(in != NULL);
    ck_assert_int_eq(mapper_apply(m, in, &out, reason, sizeof(reason)), MAPPER_REJECT);
    ck_assert(out == NULL);
    json_decref(in);
    return reason;
}

/* Map record text, expecting MAPPED; the output is not looked at. */
static void map_ok_free(const mapper *m, const char *record_text)
{
    free(map_ok(m, record_text));
}

#define ASSERT_MAPS(m, in, expected)                 \
    do {                                             \
        char *got_ = map_ok((m), (in));              \
        ck_assert_str_eq(got_, (expected));          \
        free(got_);                                  \
    } while (0)

START_TEST(test_string_integer_decimal_boolean)
{
    mapper *m = compile_text(
        "member = { fields = ("
        " { to = \"s\"; from = \"n\"; type = \"string\"; },"
        " { to = \"i\"; from = \"t\"; type = \"integer\"; },"
        " { to = \"d\"; from = \"t\"; type = \"decimal\"; },"
        " { to = \"b\"; from = \"y\"; type = \"boolean\"; },"
        " { to = \"b2\"; from = \"one\"; type = \"boolean\"; } ); };");
    ASSERT_MAPS(m, "{\"n\":1520,\"t\":\"6620\",\"y\":\"yes\",\"one\":0}",
                "{\"s\":\"1520\",\"i\":6620,\"d\":6620.0,\"b\":true,\"b2\":false}");
    ck_assert_str_eq(map_reject(m, "{\"t\":\"66x\"}"), "field 't': not an integer: '66x'");
    ck_assert_str_eq(map_reject(m, "{\"y\":\"maybe\"}"), "field 'y': not a boolean: 'maybe'");
    ck_assert_str_eq(map_reject(m, "{\"n\":[1]}"), "field 'n': not a string: '[1]'");
    mapper_free(&m);
    ck_assert(m == NULL);
}
END_TEST

START_TEST(test_min_max)
{
    mapper *m = compile_text("member = { fields = ( { to = \"p\"; from = \"points\"; "
                             "type = \"integer\"; min = 0; max = 1000; } ); };");
    ASSERT_MAPS(m, "{\"points\":0}", "{\"p\":0}");
    ck_assert_str_eq(map_reject(m, "{\"points\":-5}"),
                     "field 'points': -5 is below the minimum 0");
    ck_assert_str_eq(map_reject(m, "{\"points\":1001}"),
                     "field 'points': 1001 is above the maximum 1000");
    ck_assert_str_eq(map_reject(m, "{\"points\":1.5}"), "field 'points': not an integer: '1.5'");
    mapper_free(&m);
}
END_TEST

START_TEST(test_date)
{
    mapper *m = compile_text("member = { fields = ( { to = \"date_of_birth\"; from = \"birthday\"; "
                             "type = \"date\"; } ); };");
    ASSERT_MAPS(m, "{\"birthday\":\"1990-04-12\"}", "{\"date_of_birth\":\"1990-04-12\"}");
    ASSERT_MAPS(m, "{\"birthday\":\"2021-06-01T23:11:12Z\"}", "{\"date_of_birth\":\"2021-06-01\"}");
    /* An offset timestamp is converted to the UTC day. */
    ASSERT_MAPS(m, "{\"birthday\":\"2021-06-02T00:30:00+01:00\"}",
                "{\"date_of_birth\":\"2021-06-01\"}");
    ck_assert_str_eq(map_reject(m, "{\"birthday\":\"1990-13-45\"}"),
                     "field 'birthday': not a date: '1990-13-45'");
    ck_assert_str_eq(map_reject(m, "{\"birthday\":\"2023-02-29\"}"),
                     "field 'birthday': not a date: '2023-02-29'");
    ASSERT_MAPS(m, "{\"birthday\":\"2024-02-29\"}", "{\"date_of_birth\":\"2024-02-29\"}");
    mapper_free(&m);
}
END_TEST

START_TEST(test_datetime_formats_and_zones)
{
    mapper *m = compile_text(
        "member = { fields = ("
        " { to = \"om\"; from = \"at\"; type = \"datetime\"; format = \"%Y-%m-%dT%H:%M:%S+00:00\"; timezone = \"UTC\"; },"
        " { to = \"ib\"; from = \"at\"; type = \"datetime\"; format = \"%Y-%m-%dT%H:%M:%S.000%z\"; },"
        " { to = \"paris\"; from = \"at\"; type = \"datetime\"; timezone = \"+01:00\"; },"
        " { to = \"ny\"; from = \"at\"; type = \"datetime\"; format = \"%d/%m/%Y %H:%M %z\"; timezone = \"-0500\"; },"
        " { to = \"day_paris\"; from = \"at\"; type = \"date\"; timezone = \"+01:00\"; } ); };");
    /* 23:30 UTC is already the next day in Paris and still the same in New York. */
    ASSERT_MAPS(m, "{\"at\":\"2026-12-31T23:30:00Z\"}",
                "{\"om\":\"2026-12-31T23:30:00+00:00\",\"ib\":\"2026-12-31T23:30:00.000+0000\","
                "\"paris\":\"2027-01-01T00:30:00+01:00\",\"ny\":\"31/12/2026 18:30 -0500\","
                "\"day_paris\":\"2027-01-01\"}");
    ck_assert_str_eq(map_reject(m, "{\"at\":\"yesterday\"}"), "field 'at': not a timestamp: 'yesterday'");
    mapper_free(&m);
}
END_TEST

START_TEST(test_enum_map)
{
    mapper *m = compile_text(
        "member = { fields = ("
        " { to = \"status\"; from = \"opt_in_status\"; map = { yes = \"EXPLICITLY_OPTEDIN\"; no = \"EXPLICITLY_OPTEDOUT\"; }; },"
        " { to = \"tier\"; from = \"tier\"; map = ( (\"Gold Plus\", \"GOLDPLUS\") ); map_default = \"OTHER\"; } ); };");
    ASSERT_MAPS(m, "{\"opt_in_status\":\"no\",\"tier\":\"Gold Plus\"}",
                "{\"status\":\"EXPLICITLY_OPTEDOUT\",\"tier\":\"GOLDPLUS\"}");
    ASSERT_MAPS(m, "{\"tier\":\"Bronze\"}", "{\"tier\":\"OTHER\"}");
    ck_assert_str_eq(map_reject(m, "{\"opt_in_status\":\"maybe\"}"),
                     "field 'opt_in_status': value 'maybe' is not in the map");
    mapper_free(&m);
}
END_TEST

START_TEST(test_joins_defaults_consts_nulls)
{
    mapper *m = compile_text(
        "vars = { collection = \"acme\"; };"
        "member = { fields = ("
        " { to = \"@type\"; const = \"contact\"; },"
        " { to = \"@collection\"; var = \"collection\"; default = \"annex_loyalty\"; },"
        " { to = \"@other\"; var = \"unset\"; default = \"fallback\"; },"
        " { to = \"rewards\"; from = \"available_rewards\"; join = \" | \"; },"
        " { to = \"name\"; join_fields = [ \"first_name\", \"last_name\" ]; separator = \" \"; },"
        " { to = \"x\"; from = \"y\"; default = \"n/a\"; },"
        " { to = \"a.b.c\"; from = \"next_tier\"; },"
        " { to = \"gone\"; from = \"next_tier\"; omit_if_null = true; } ); };");
    ASSERT_MAPS(m,
                "{\"available_rewards\":[\"$5 Reward\",\"$10 Reward\"],\"first_name\":\"Alice\","
                "\"last_name\":\"Smith\",\"next_tier\":null}",
                "{\"@type\":\"contact\",\"@collection\":\"acme\",\"@other\":\"fallback\","
                "\"rewards\":\"$5 Reward | $10 Reward\",\"name\":\"Alice Smith\",\"x\":\"n/a\","
                "\"a\":{\"b\":{\"c\":null}}}");
    /* Only one name known; an empty list joins to "". */
    ASSERT_MAPS(m, "{\"available_rewards\":[],\"last_name\":\"Smith\",\"y\":\"given\"}",
                "{\"@type\":\"contact\",\"@collection\":\"acme\",\"@other\":\"fallback\","
                "\"rewards\":\"\",\"name\":\"Smith\",\"x\":\"given\"}");
    ck_assert_str_eq(map_reject(m, "{\"available_rewards\":\"$5\"}"),
                     "field 'available_rewards': not a list: '$5'");
    mapper_free(&m);
}
END_TEST

START_TEST(test_require_keep_unmapped_drop)
{
    mapper *m = compile_text(
        "drop_kinds = [ \"heartbeat\" ];"
        "member = { require = [ \"email\" ]; keep_unmapped = true;"
        " fields = ( { to = \"mail\"; from = \"email\"; } ); };");
    json_t *in = json_pack("{s:s}", "kind", "heartbeat"), *out = NULL;
    char reason[256];
    ASSERT_MAPS(m, "{\"email\":\"a@example.com\",\"zip_code\":\"SW1\"}",
                "{\"zip_code\":\"SW1\",\"mail\":\"a@example.com\"}");
    ck_assert_str_eq(map_reject(m, "{\"loyalty_id\":\"L1\"}"), "missing required field email");
    ck_assert_str_eq(map_reject(m, "{\"loyalty_id\":\"L1\",\"email\":null}"),
                     "missing required field email");
    ck_assert_int_eq(mapper_apply(m, in, &out, reason, sizeof(reason)), MAPPER_DROP);
    json_decref(in);
    /* No events group: events pass through untouched. */
    in = json_pack("{s:s, s:s}", "kind", "event", "event_type", "opt_in");
    ck_assert_int_eq(mapper_apply(m, in, &out, reason, sizeof(reason)), MAPPER_PASS);
    ck_assert(out == NULL);
    json_decref(in);
    mapper_free(&m);
}
END_TEST

/* An erase record reaches the sink unchanged (docs/erasure.md), even
 * when a mapping lists "erase" among the kinds it drops. */
START_TEST(test_erase_passes)
{
    mapper *m = compile_text(
        "drop_kinds = [ \"erase\" ];"
        "member = { fields = ( { to = \"mail\"; from = \"email\"; } ); };");
    json_t *in = json_pack("{s:s, s:s, s:s}", "kind", "erase", "loyalty_id", "L1", "email",
                           "a@example.com"), *out = NULL;
    char reason[256];
    ck_assert_int_eq(mapper_apply(m, in, &out, reason, sizeof(reason)), MAPPER_PASS);
    ck_assert(out == NULL);
    json_decref(in);
    mapper_free(&m);
}
END_TEST

START_TEST(test_compile_errors_name_the_field)
{
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; },"
                                   " { to = \"date_of_birth\"; from = \"birthday\"; type = \"dat\"; } ); };"),
                     "member.fields[1] (to 'date_of_birth'): unknown type 'dat'");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; const = 1; } ); };"),
                     "member.fields[0] (to 'a'): give only one of from, const, var, join_fields");
    ck_assert_str_eq(compile_error("events = { default = { fields = ( { to = \"a..b\"; from = \"b\"; } ); }; };"),
                     "events.default.fields[0] (to 'a..b'): bad path 'a..b': empty key");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"t\"; from = \"at\"; type = \"datetime\"; timezone = \"Mars\"; } ); };"),
                     "member.fields[0] (to 't'): bad timezone 'Mars' (use UTC or an offset like +01:00)");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"t\"; form = \"x\"; } ); };"),
                     "member.fields[0] (to 't'): unknown key 'form'");
    ck_assert_str_eq(compile_error("member = { fields = ( { from = \"x\"; } ); };"),
                     "member.fields[0] (to '?'): 'to' (a string) is required");
    ck_assert_str_eq(compile_error("mebmer = { fields = ( ); };"), "unknown option 'mebmer'");
}
END_TEST

START_TEST(test_sanitize_and_max_length)
{
    /* Infobip's names: & < > " / \ : ( ) { } = ; # and line breaks are
     * refused; the shipped mapping replaces them (default: a space) and
     * collapses the spaces. max_length counts characters, not bytes. */
    mapper *m = compile_text(
        "member = { fields = ("
        " { to = \"first\"; from = \"f\"; type = \"string\"; "
        "   sanitize = \"&<>\\\"/\\\\:(){}=;#\"; max_length = 5; },"
        " { to = \"last\"; from = \"l\"; type = \"string\"; "
        "   sanitize = \"&#\"; sanitize_with = \"-\"; } ); };");
    ASSERT_MAPS(m, "{\"f\":\" A&<>\\\"/\\\\:(){}=;#\\nB\\r\\tC \"}", "{\"first\":\"A B C\"}");
    ASSERT_MAPS(m, "{\"f\":\"Jørgé\"}", "{\"first\":\"Jørgé\"}");
    ASSERT_MAPS(m, "{\"l\":\"Smith & Sons#1\"}", "{\"last\":\"Smith - Sons-1\"}");
    ASSERT_MAPS(m, "{\"f\":\"&&&\",\"l\":null}", "{\"first\":\"\",\"last\":null}");
    /* Too long after sanitizing: parked with the field and the counts. */
    ck_assert_str_eq(map_reject(m, "{\"f\":\"Jørgensen\"}"),
                     "field 'f': 9 characters, longer than the maximum 5");
    ASSERT_MAPS(m, "{\"f\":\"(Ann)\"}", "{\"first\":\"Ann\"}");
    mapper_free(&m);

    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; "
                                   "type = \"date\"; max_length = 3; } ); };"),
                     "member.fields[0] (to 'a'): 'sanitize'/'max_length' only go with type = \"string\"");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; "
                                   "type = \"string\"; max_length = 0; } ); };"),
                     "member.fields[0] (to 'a'): 'max_length' must be an integer 1..1000000");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; "
                                   "type = \"string\"; sanitize_with = \"_\"; } ); };"),
                     "member.fields[0] (to 'a'): 'sanitize_with' needs 'sanitize'");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; "
                                   "type = \"string\"; sanitize = \"&;\"; sanitize_with = \";\"; } ); };"),
                     "member.fields[0] (to 'a'): 'sanitize_with' must not hold a character of 'sanitize'");
    ck_assert_str_eq(compile_error("member = { fields = ( { to = \"a\"; from = \"b\"; "
                                   "type = \"string\"; sanitize = \"\"; } ); };"),
                     "member.fields[0] (to 'a'): 'sanitize' must be a non-empty string (the characters to replace)");
}
END_TEST

START_TEST(test_lists_and_tags)
{
    mapper *m = compile_text(
        "lists = { loyalty = 1001; vip = 1002; newsletter = 1003; };"
        "tags = { vip = \"VIP\"; };"
        "member = { fields = ("
        " { to = \"add\"; from = \"segments\"; type = \"lists_add\"; },"
        " { to = \"remove\"; from = \"segments\"; type = \"lists_remove\"; },"
        " { to = \"tags\"; from = \"segments\"; type = \"tags\"; } ); };");
    ASSERT_MAPS(m, "{\"opt_in_status\":\"yes\",\"segments\":[\"vip\",\"unlisted\"]}",
                "{\"add\":[1001,1002],\"remove\":[1003],\"tags\":[\"Loyalty\",\"VIP\"]}");
    ASSERT_MAPS(m, "{\"opt_in_status\":\"no\",\"segments\":[\"newsletter\"]}",
                "{\"add\":[1003],\"remove\":[1001,1002],\"tags\":[]}");
    /* Opt-in unknown: the loyalty list is left alone. */
    ASSERT_MAPS(m, "{\"segments\":null}", "{\"add\":[],\"remove\":[1002,1003],\"tags\":[]}");
    /* Neither known: nothing to say. */
    ASSERT_MAPS(m, "{\"email\":\"x\"}", "{}");
    mapper_free(&m);
}
END_TEST

START_TEST(test_ometria_default_mapping_on_bench_sample)
{
    json_t *options = options_from_mapping("ometria.cfg",
                                           "lists = { loyalty = 1001; vip = 1002; newsletter = 1003; };");
    json_t *sample = bench_sample(), *out = NULL, *expected;
    char err[512], reason[512] = "";
    mapper *m = mapper_compile(options, err, sizeof(err));
    ck_assert_msg(m != NULL, "ometria.cfg: %s", err);
    ck_assert_int_eq(mapper_apply(m, sample, &out, reason, sizeof(reason)), MAPPER_MAPPED);
    expected = json_loads(
        "{\"@type\":\"contact\",\"@collection\":\"annex_loyalty\",\"id\":\"LID-000123456\","
        "\"customer_id\":\"LID-000123456\",\"email\":\"alice.smith123456@example.com\","
        "\"firstname\":\"Alice\",\"lastname\":\"Smith\",\"date_of_birth\":\"1990-04-12\","
        "\"phone_number\":\"+447700900123\",\"@add_to_lists\":[1001,1002,1003],"
        "\"@remove_from_lists\":[],\"properties\":{"
        "\"annex_loyalty_id\":\"LID-000123456\",\"annex_active_status\":\"active\","
        "\"annex_user_opt_in_status\":\"yes\",\"annex_opt_in_date\":\"2021-06-01\","
        "\"annex_loyalty_anniversary_date\":\"2021-06-01\",\"annex_available_points\":\"1520\","
        "\"annex_earned_points\":\"4200\",\"annex_used_points\":2600,\"annex_hold_points\":80,"
        "\"annex_next_expiring_points\":300,\"annex_points_expiration_date\":\"2026-12-31\","
        "\"annex_expired_points\":0,\"annex_current_tier\":\"Gold\",\"annex_next_tier\":\"Platinum\","
        "\"annex_points_req_for_next_tier\":480,\"annex_tier_achieve_date\":\"2025-02-14\","
        "\"annex_available_rewards1\":\"$5 Reward | $10 Reward | $15 Reward\","
        "\"annex_points_req_for_next_reward\":480,\"annex_highest_available_reward1\":\"$15 Reward\","
        "\"annex_first_activity\":\"2021-06-02\",\"annex_last_activity_date\":\"2026-11-20\","
        "\"annex_first_purchase_date\":\"2021-06-03\",\"annex_last_purchase_date\":\"2026-11-19\","
        "\"annex_zip_code\":\"SW1A 1AA\"}}", 0, NULL);
    ck_assert(expected != NULL);
    if (!json_equal(out, expected)) {
        char *got = json_dumps(out, JSON_COMPACT);
        ck_abort_msg("ometria contact differs: %s", got);
    }
    /* A contact without an email is refused, naming it. */
    json_object_del(sample, "email");
    json_decref(out);
    ck_assert_int_eq(mapper_apply(m, sample, &out, reason, sizeof(reason)), MAPPER_REJECT);
    ck_assert_str_eq(reason, "missing required field email");
    json_decref(expected);
    json_decref(sample);
    json_decref(options);
    mapper_free(&m);
}
END_TEST

START_TEST(test_infobip_default_mapping_on_bench_sample)
{
    json_t *options = options_from_mapping("infobip.cfg", "");
    json_t *sample = bench_sample(), *out = NULL, *expected;
    char err[512], reason[512] = "";
    mapper *m = mapper_compile(options, err, sizeof(err));
    ck_assert_msg(m != NULL, "infobip.cfg: %s", err);
    ck_assert_int_eq(mapper_apply(m, sample, &out, reason, sizeof(reason)), MAPPER_MAPPED);
    expected = json_loads(
        "{\"externalId\":\"LID-000123456\",\"firstName\":\"Alice\",\"lastName\":\"Smith\","
        "\"birthDate\":\"1990-04-12\",\"contactInformation\":["
        "{\"type\":\"EMAIL\",\"identifier\":\"alice.smith123456@example.com\",\"primary\":true},"
        "{\"type\":\"PHONE\",\"identifier\":\"447700900123\",\"primary\":true}],"
        "\"tags\":[\"Loyalty\",\"vip\",\"newsletter\"],\"customAttributes\":{"
        "\"annexLoyaltyId\":\"LID-000123456\",\"annexActiveStatus\":\"active\","
        "\"annexOptInStatus\":\"yes\",\"annexOptInDate\":\"2021-06-01\","
        "\"annexAnniversaryDate\":\"2021-06-01\",\"annexAvailablePoints\":1520,"
        "\"annexEarnedPoints\":4200,\"annexUsedPoints\":2600,\"annexHoldPoints\":80,"
        "\"annexNextExpiringPoints\":300,\"annexPointsExpirationDate\":\"2026-12-31\","
        "\"annexExpiredPoints\":0,\"annexCurrentTier\":\"Gold\",\"annexNextTier\":\"Platinum\","
        "\"annexPointsReqForNextTier\":480,\"annexTierAchieveDate\":\"2025-02-14\","
        "\"annexAvailableRewards\":\"$5 Reward | $10 Reward | $15 Reward\","
        "\"annexPointsReqForNextReward\":480,\"annexHighestAvailableReward\":\"$15 Reward\","
        "\"annexFirstActivityDate\":\"2021-06-02\",\"annexLastActivityDate\":\"2026-11-20\","
        "\"annexFirstPurchaseDate\":\"2021-06-03\",\"annexLastPurchaseDate\":\"2026-11-19\","
        "\"annexZipCode\":\"SW1A 1AA\"}}", 0, NULL);
    ck_assert(expected != NULL);
    if (!json_equal(out, expected)) {
        char *got = json_dumps(out, JSON_COMPACT);
        ck_abort_msg("infobip person differs: %s", got);
    }
    /* Without a phone, only the email contact is sent. */
    json_object_del(sample, "phone");
    json_decref(out);
    ck_assert_int_eq(mapper_apply(m, sample, &out, reason, sizeof(reason)), MAPPER_MAPPED);
    ck_assert_int_eq(json_array_size(json_object_get(out, "contactInformation")), 1);
    json_decref(out);
    json_decref(expected);
    json_decref(sample);
    json_decref(options);
    mapper_free(&m);
}
END_TEST

START_TEST(test_default_event_mappings)
{
    static const char *event =
        "{\"kind\":\"event\",\"event_type\":\"point_redemption\",\"event_id\":\"3f0c\","
        "\"loyalty_id\":\"LID-1\",\"email\":\"a@example.com\",\"occurred_at\":\"2026-02-14T09:08:07Z\","
        "\"origin\":\"derived\",\"properties\":{\"points\":20,\"used_points\":120}}";
    json_t *ometria = options_from_mapping("ometria.cfg", "");
    json_t *infobip = options_from_mapping("infobip.cfg", "");
    char err[512];
    mapper *om = mapper_compile(ometria, err, sizeof(err));
    mapper *ib = mapper_compile(infobip, err, sizeof(err));
    ck_assert(om && ib);
    ASSERT_MAPS(om, event,
                "{\"@type\":\"custom_event\",\"id\":\"3f0c\",\"timestamp\":\"2026-02-14T09:08:07+00:00\","
                "\"event_type\":\"Annex_loy_point_redemption\",\"identity_email\":\"a@example.com\","
                "\"identity_account_id\":\"LID-1\",\"properties\":{\"points\":20,\"used_points\":120}}");
    ASSERT_MAPS(ib, event,
                "{\"eventId\":\"3f0c\",\"definitionId\":\"LoyPointRedemption\","
                "\"occurredTime\":\"2026-02-14T09:08:07.000+0000\","
                "\"identifier\":{\"id\":\"LID-1\",\"type\":\"EXTERNAL_ID\"},"
                "\"properties\":{\"points\":20,\"used_points\":120}}");
    ck_assert_str_eq(map_reject(ib, "{\"kind\":\"event\",\"event_type\":\"birthday\",\"event_id\":\"x\"}"),
                     "field 'event_type': value 'birthday' is not in the map");
    json_decref(ometria);
    json_decref(infobip);
    mapper_free(&om);
    mapper_free(&ib);
}
END_TEST

START_TEST(test_infobip_default_mapping_names)
{
    /* Every character Infobip forbids in names, and the lengths it allows:
     * the shipped mapping sends a name Infobip takes or parks the member. */
    json_t *options = options_from_mapping("infobip.cfg", "");
    char err[512];
    mapper *m = mapper_compile(options, err, sizeof(err));
    char record[1024], name[300];

    ck_assert_msg(m != NULL, "infobip.cfg: %s", err);
    ASSERT_MAPS(m, "{\"loyalty_id\":\"L1\",\"first_name\":\"A&B<C>D\\\"E/F\\\\G:H(I)J{K}L=M;N#O\\nP\\rQ\","
                   "\"last_name\":\"  O'Brien-Jørgensen (Jr) \"}",
                "{\"externalId\":\"L1\",\"firstName\":\"A B C D E F G H I J K L M N O P Q\","
                "\"lastName\":\"O'Brien-Jørgensen Jr\",\"customAttributes\":{\"annexLoyaltyId\":\"L1\"}}");
    memset(name, 'n', 256);
    name[256] = '\0';
    snprintf(record, sizeof(record), "{\"loyalty_id\":\"L2\",\"first_name\":\"%s\"}", name);
    ck_assert_str_eq(map_reject(m, record),
                     "field 'first_name': 256 characters, longer than the maximum 255");
    snprintf(record, sizeof(record), "{\"loyalty_id\":\"L3\",\"last_name\":\"%.255s\"}", name);
    map_ok_free(m, record);
    snprintf(record, sizeof(record), "{\"loyalty_id\":\"%.256sx\"}", name);
    ck_assert_str_eq(map_reject(m, record),
                     "field 'loyalty_id': 257 characters, longer than the maximum 256");
    json_decref(options);
    mapper_free(&m);
}
END_TEST

static Suite *mapper_suite(void)
{
    Suite *s = suite_create("mapper");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_string_integer_decimal_boolean);
    tcase_add_test(tc, test_min_max);
    tcase_add_test(tc, test_date);
    tcase_add_test(tc, test_datetime_formats_and_zones);
    tcase_add_test(tc, test_enum_map);
    tcase_add_test(tc, test_joins_defaults_consts_nulls);
    tcase_add_test(tc, test_require_keep_unmapped_drop);
    tcase_add_test(tc, test_erase_passes);
    tcase_add_test(tc, test_compile_errors_name_the_field);
    tcase_add_test(tc, test_sanitize_and_max_length);
    tcase_add_test(tc, test_lists_and_tags);
    tcase_add_test(tc, test_ometria_default_mapping_on_bench_sample);
    tcase_add_test(tc, test_infobip_default_mapping_on_bench_sample);
    tcase_add_test(tc, test_infobip_default_mapping_names);
    tcase_add_test(tc, test_default_event_mappings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(mapper_suite());
    int failed;
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
