/* field_mapper.c: the field-mapper transform plugin: thin glue between the
 * SDK batch API and the pure rule engine in mapper_compile.c /
 * mapper_apply.c. See docs/field-mapper.md. */
#include <config.h>
#include <stdlib.h>
#include <sluice/plugin.h>
#include "mapper.h"

static const sluice_option field_mapper_options[] = {
    { "member", SLUICE_OPT_GROUP, NULL, 0, 0,
      "mapping for member records: { require = [...]; fields = (...); keep_unmapped = false; } "
      "(every field key, e.g. sanitize and max_length, is checked when the mapping compiles)" },
    { "events", SLUICE_OPT_GROUP, NULL, 0, 0,
      "mappings for event records per event_type, with `default` as the fallback" },
    { "drop_kinds", SLUICE_OPT_LIST, NULL, 0, 0, "record kinds to drop silently" },
    { "lists", SLUICE_OPT_GROUP, NULL, 0, 0,
      "segment name -> destination list id, for lists_add/lists_remove fields "
      "(e.g. { loyalty = 1001; vip = 1002; })" },
    { "tags", SLUICE_OPT_GROUP, NULL, 0, 0,
      "segment name -> tag name for tags fields (unlisted segments keep their name)" },
    { "vars", SLUICE_OPT_GROUP, NULL, 0, 0,
      "per-client values that fields read with `var = \"name\"` (e.g. collection)" },
    SLUICE_OPTION_END
};

/* Compile the mapping; a broken mapping stops the pipeline at start. */
static sluice_status field_mapper_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    char err[1024];
    mapper *m = mapper_compile(config, err, sizeof(err));
    if (!m) {
        sluice_fail(ctx, "bad mapping: %s", err);
        return SLUICE_FATAL;
    }
    *state = m;
    return SLUICE_OK;
}

/* check(): the mapping compiles as init() compiles it, so `sluice check`
 * refuses a broken mapping before anything runs. */
static void field_mapper_check(sluice_check *check, const json_t *config)
{
    char err[1024];
    mapper *m = mapper_compile(config, err, sizeof(err));

    if (!m) {
        sluice_check_error(check, NULL, "bad mapping: %s", err);
        return;
    }
    mapper_free(&m);
}

static void field_mapper_fini(sluice_ctx *ctx, void *state)
{
    mapper *m = state;
    mapper_free(&m);
}

/* Map every live record in place; bad records are rejected one by one and
 * the rest of the batch goes on. */
static sluice_status field_mapper_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    const mapper *m = state;
    size_t count = sluice_batch_count(batch);
    double mapped = 0, rejected = 0;

    for (size_t i = 0; i < count; i++) {
        json_t *record = sluice_batch_get(batch, i);
        json_t *out = NULL;
        char reason[512];
        if (!record)
            continue;
        switch (mapper_apply(m, record, &out, reason, sizeof(reason))) {
        case MAPPER_MAPPED:
            /* Replace the record's content in place: the batch owns it. */
            json_object_clear(record);
            if (json_object_update(record, out) != 0) {
                json_decref(out);
                sluice_fail(ctx, "out of memory while mapping");
                return SLUICE_FATAL;
            }
            json_decref(out);
            mapped++;
            break;
        case MAPPER_DROP:
            sluice_batch_drop(batch, i);
            break;
        case MAPPER_REJECT:
            sluice_batch_reject(batch, i, reason);
            rejected++;
            break;
        case MAPPER_PASS:
            break;
        }
    }
    if (mapped > 0)
        sluice_metric_add(ctx, "records_mapped", mapped);
    if (rejected > 0)
        sluice_metric_add(ctx, "records_rejected", rejected);
    return SLUICE_OK;
}

/* The descriptor: the one exported symbol. */
SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "field-mapper",
    .role = SLUICE_ROLE_TRANSFORM,
    .version = "1.0.0",
    .description = "declarative per-destination field mapping (types, enums, joins, "
                   "segment lists and tags)",
    .options = field_mapper_options,
    .init = field_mapper_init,
    .fini = field_mapper_fini,
    .process = field_mapper_process,
    .check = field_mapper_check,
    .flags = SLUICE_PLUGIN_STATELESS,
};
