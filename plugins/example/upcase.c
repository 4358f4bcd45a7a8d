/* upcase.c: example-upcase, the example out-of-tree plugin: a transform
 * that upper-cases (ASCII letters) one configured string field of every
 * record. Build it with the Makefile next to it (pkg-config sluice). */
#define _POSIX_C_SOURCE 200809L /* strdup under -std=c11 */
#include <stdlib.h>
#include <string.h>
#include <sluice/plugin.h>

/* One stage instance. */
typedef struct upcase {
    char *field;         /* top-level field to change */
    int reject_other;    /* 1: reject records where the field is not a string */
} upcase;

/* The option table: the core validates the pipeline against it, fills
 * defaults and prints it in `sluice plugins example-upcase`. */
static const sluice_option upcase_options[] = {
    { .name = "field", .type = SLUICE_OPT_STRING, .required = 1,
      .help = "top-level field to upper-case" },
    { .name = "reject_non_string", .type = SLUICE_OPT_BOOL, .default_value = "false",
      .help = "reject records whose field is present but not a string (else pass them on)" },
    SLUICE_OPTION_END
};

static void upcase_fini(sluice_ctx *ctx, void *state)
{
    upcase *up = state;

    if (!up)
        return;
    free(up->field);
    free(up);
}

/* config is validated already: "field" is a string, "reject_non_string"
 * a boolean (its default filled in). */
static sluice_status upcase_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    upcase *up = calloc(1, sizeof(*up));

    if (!up || !(up->field = strdup(json_string_value(json_object_get(config, "field"))))) {
        upcase_fini(ctx, up);
        sluice_fail(ctx, "out of memory");
        return SLUICE_FATAL;
    }
    up->reject_other = json_is_true(json_object_get(config, "reject_non_string"));
    *state = up;
    return SLUICE_OK;
}

/* Upper-case ASCII letters; other bytes (UTF-8 sequences) are kept. */
static json_t *upper_ascii(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    json_t *result;

    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = text[i] >= 'a' && text[i] <= 'z' ? (char)(text[i] - 'a' + 'A') : text[i];
    copy[len] = '\0';
    result = json_stringn(copy, len);
    free(copy);
    return result;
}

static sluice_status upcase_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    upcase *up = state;
    size_t count = sluice_batch_count(batch);

    for (size_t i = 0; i < count; i++) {
        json_t *record = sluice_batch_get(batch, i); /* NULL: dropped/rejected */
        json_t *value = record ? json_object_get(record, up->field) : NULL;
        json_t *upper;

        if (!value)
            continue;
        if (!json_is_string(value)) {
            if (up->reject_other)
                sluice_batch_reject(batch, i, "example-upcase: field is not a string");
            continue;
        }
        upper = upper_ascii(json_string_value(value), json_string_length(value));
        if (!upper || json_object_set_new(record, up->field, upper) != 0) {
            sluice_fail(ctx, "out of memory");
            return SLUICE_FATAL;
        }
    }
    return SLUICE_OK;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "example-upcase",
    .role = SLUICE_ROLE_TRANSFORM,
    .version = "1.0.0",
    .description = "example: upper-case one string field of every record",
    .options = upcase_options,
    .init = upcase_init,
    .fini = upcase_fini,
    .process = upcase_process,
};
