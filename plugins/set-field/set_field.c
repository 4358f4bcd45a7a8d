/* set_field.c: the set-field plugin: a transform that sets one field
 * (a dotted path such as "a.b", intermediate objects created as needed)
 * to a fixed string in every record. */
#include <stdlib.h>
#include <string.h>
#include <sluice/plugin.h>

typedef struct set_field {
    char *field;     /* as configured, for messages */
    char **segments; /* the path split on '.' */
    size_t segment_count;
    json_t *value;   /* the string to set */
} set_field;

static const sluice_option set_field_options[] = {
    { "field", SLUICE_OPT_STRING, NULL, 1, 0,
      "field to set; a dotted path (\"a.b\") reaches into nested objects" },
    { "value", SLUICE_OPT_STRING, NULL, 1, 0, "string value to set" },
    SLUICE_OPTION_END
};

static void set_field_fini(sluice_ctx *ctx, void *state)
{
    set_field *sf = state;
    if (!sf)
        return;
    for (size_t i = 0; i < sf->segment_count; i++)
        free(sf->segments[i]);
    free(sf->segments);
    free(sf->field);
    json_decref(sf->value);
    free(sf);
}

/* 0 if `field` is a dotted path of non-empty parts ("a", "a.b"); else the
 * 1-based character where an empty part starts (1 for ""). */
static size_t empty_part_at(const char *field)
{
    const char *start = field;

    for (;;) {
        size_t len = strcspn(start, ".");
        if (len == 0)
            return (size_t)(start - field) + 1;
        if (start[len] == '\0')
            return 0;
        start += len + 1;
    }
}

/* check(): the field path has no empty part. The table checks the rest
 * (both options required strings). */
static void set_field_check(sluice_check *check, const json_t *config)
{
    const char *field = json_string_value(json_object_get(config, "field"));
    size_t at = field ? empty_part_at(field) : 0;

    if (at)
        sluice_check_error(check, "field", "\"%s\" has an empty part (at character %zu): "
                           "write a name, or names joined by '.'", field, at);
}

/* Split sf->field (checked: no empty part) on '.' into sf->segments.
 * Returns 0, or -1 after sluice_fail() (out of memory). */
static int split_path(sluice_ctx *ctx, set_field *sf)
{
    size_t parts = 1;
    for (const char *p = sf->field; *p; p++)
        parts += *p == '.';
    sf->segments = calloc(parts, sizeof(*sf->segments));
    if (!sf->segments) {
        sluice_fail(ctx, "out of memory");
        return -1;
    }
    const char *start = sf->field;
    for (size_t i = 0; i < parts; i++) {
        const char *dot = strchr(start, '.');
        size_t len = dot ? (size_t)(dot - start) : strlen(start);
        if (!(sf->segments[i] = strndup(start, len))) {
            sluice_fail(ctx, "out of memory");
            return -1;
        }
        sf->segment_count++;
        start = dot ? dot + 1 : start + len;
    }
    return 0;
}

static sluice_status set_field_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    sluice_status status = SLUICE_FATAL;
    set_field *sf = calloc(1, sizeof(*sf));
    const char *field = json_string_value(json_object_get(config, "field"));
    const char *value = json_string_value(json_object_get(config, "value"));
    if (!sf) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    /* Both are required strings (the table) and field has no empty part
     * (set_field_check): the core refused anything else, with FILE:LINE,
     * before anything ran. The guard keeps init() safe without the core. */
    if (!field || !value || empty_part_at(field)) {
        sluice_fail(ctx, "option 'field' is not a dotted path of names, or 'value' is not a "
                    "string (sluice check says where)");
        goto out;
    }
    if (!(sf->field = strdup(field)) || !(sf->value = json_string(value))) {
        sluice_fail(ctx, "out of memory or option 'value' is not UTF-8");
        goto out;
    }
    if (split_path(ctx, sf) != 0)
        goto out;
    *state = sf;
    sf = NULL;
    status = SLUICE_OK;
out:
    set_field_fini(ctx, sf);
    return status;
}

/* Set the field in record. Returns NULL, or a static reason when a part
 * of the path exists but is not an object. */
static const char *set_in_record(const set_field *sf, json_t *record)
{
    json_t *parent = record;
    for (size_t i = 0; i + 1 < sf->segment_count; i++) {
        json_t *child = json_object_get(parent, sf->segments[i]);
        if (!child) {
            child = json_object();
            if (!child || json_object_set_new(parent, sf->segments[i], child) != 0)
                return "out of memory";
        } else if (!json_is_object(child)) {
            return "a part of the path is not an object";
        }
        parent = child;
    }
    if (json_object_set(parent, sf->segments[sf->segment_count - 1], sf->value) != 0)
        return "out of memory";
    return NULL;
}

static sluice_status set_field_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    set_field *sf = state;
    size_t count = sluice_batch_count(batch);
    for (size_t i = 0; i < count; i++) {
        json_t *record = sluice_batch_get(batch, i);
        if (!record)
            continue;
        const char *problem = set_in_record(sf, record);
        if (problem) {
            char reason[512];
            snprintf(reason, sizeof(reason), "set-field: cannot set \"%s\": %s", sf->field,
                     problem);
            sluice_batch_reject(batch, i, reason);
        }
    }
    return SLUICE_OK;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "set-field",
    .role = SLUICE_ROLE_TRANSFORM,
    .version = "1.0.0",
    .description = "set one (dotted-path) field to a fixed string in every record",
    .options = set_field_options,
    .init = set_field_init,
    .fini = set_field_fini,
    .process = set_field_process,
    .check = set_field_check,
    .flags = SLUICE_PLUGIN_STATELESS,
};
