/* fuzz_mapper.c: libFuzzer harness of the field-mapper's rule engine
 * (plugins/field-mapper/mapper_compile.c, mapper_apply.c). The input is
 * JSON: an object is a canonical record, mapped with the shipped Ometria
 * and Infobip mappings as the acme pipelines configure them (loaded once
 * through the real loader: pipelines/acme-*-webhook.cfg, stage "map");
 * an array [OPTIONS, RECORD...] compiles OPTIONS as a stage's mapping and
 * maps each RECORD with it. Properties: compile refuses with a message or
 * gives a mapper; apply gives exactly one of its outcomes (MAPPED with an
 * object that dumps as JSON, REJECT with a reason, PASS/DROP with
 * nothing), leaves its input unchanged, and gives the same result twice. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mapper.h"

const char fuzz_harness_name[] = "fuzz_mapper";

static mapper *shipped[2];
static const char *const shipped_names[2] = {"ometria", "infobip"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const files[2] = {"acme-ometria-webhook.cfg", "acme-infobip-webhook.cfg"};
    char err[512] = "";

    (void)argc;
    (void)argv;
    fuzz_setup();
    for (size_t i = 0; i < 2; i++) {
        json_t *options = fuzz_stage_options(files[i], "map");
        shipped[i] = mapper_compile(options, err, sizeof(err));
        if (!shipped[i])
            fuzz_fail("the shipped %s mapping does not compile: %s", shipped_names[i], err);
        json_decref(options);
    }
    return 0;
}

/* Free the shipped mappers when the process ends. */
__attribute__((destructor)) static void free_shipped(void)
{
    mapper_free(&shipped[0]);
    mapper_free(&shipped[1]);
}

/* Apply `m` (named `name`) to record once, checking the outcome's shape;
 * returns the outcome and *out (caller owns, may be NULL). */
static mapper_result apply_once(const mapper *m, const char *name, const json_t *record,
                                json_t **out, char *reason, size_t reason_len)
{
    mapper_result result;
    char *text;

    *out = NULL;
    reason[0] = '\0';
    result = mapper_apply(m, record, out, reason, reason_len);
    switch (result) {
    case MAPPER_MAPPED:
        if (!json_is_object(*out))
            fuzz_fail("%s: MAPPED without an object", name);
        text = json_dumps(*out, JSON_COMPACT);
        if (!text)
            fuzz_fail("%s: the mapped record does not dump as JSON", name);
        free(text);
        break;
    case MAPPER_REJECT:
        if (*out || !reason[0])
            fuzz_fail("%s: REJECT %s", name, *out ? "with a record" : "without a reason");
        break;
    case MAPPER_PASS:
    case MAPPER_DROP:
        if (*out)
            fuzz_fail("%s: outcome %d with a record", name, (int)result);
        break;
    default:
        fuzz_fail("%s: unknown outcome %d", name, (int)result);
    }
    return result;
}

/* Map record with `m` twice: same outcome and output, input untouched. */
static void map_record(const mapper *m, const char *name, const json_t *record)
{
    char reason[512], reason_again[512];
    json_t *before = json_deep_copy(record), *out = NULL, *out_again = NULL;
    mapper_result result, again;

    if (!before)
        abort();
    result = apply_once(m, name, record, &out, reason, sizeof(reason));
    if (!json_equal(before, record))
        fuzz_fail("%s: mapping changed its input record", name);
    again = apply_once(m, name, record, &out_again, reason_again, sizeof(reason_again));
    if (again != result || (out && !json_equal(out, out_again)) ||
        (result == MAPPER_REJECT && strcmp(reason, reason_again) != 0))
        fuzz_fail("%s: the same record mapped twice gave two results", name);
    json_decref(before);
    json_decref(out);
    json_decref(out_again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *input = json_loadb((const char *)data, size, 0, NULL);
    char err[512] = "";
    mapper *m = NULL;

    if (json_is_object(input)) {
        for (size_t i = 0; i < 2; i++)
            map_record(shipped[i], shipped_names[i], input);
    } else if (json_is_array(input) && json_array_size(input) > 0) {
        m = mapper_compile(json_array_get(input, 0), err, sizeof(err));
        if (!m && !err[0])
            fuzz_fail("compile refused a mapping without a message");
        for (size_t i = 1; m && i < json_array_size(input); i++)
            map_record(m, "mapping of the input", json_array_get(input, i));
    }
    mapper_free(&m);
    json_decref(input);
    return 0;
}
