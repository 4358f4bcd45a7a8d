/* mapper_compile.c: validates a declarative field mapping (the stage's
 * options as JSON) and compiles it into the form mapper_apply.c runs:
 * paths split once, zones and formats resolved, maps copied. */
#include <config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mapper_internal.h"
#include "loytime.h"
#include "plugin_text.h"

/* Copy of s (caller frees) or NULL on ENOMEM / NULL input. */
static char *dup_string(const char *s)
{
    size_t len;
    char *copy;
    if (!s)
        return NULL;
    len = strlen(s);
    copy = malloc(len + 1);
    if (copy)
        memcpy(copy, s, len + 1);
    return copy;
}

static void path_free(mapper_path *path)
{
    for (size_t i = 0; i < path->count; i++)
        free(path->keys[i]);
    free(path->keys);
    memset(path, 0, sizeof(*path));
}

/* Split a dotted path. `allow_append` accepts a trailing "[]" on the last
 * key. Returns 0, or -1 with a message in err (what is wrong, not where). */
static int path_parse(const char *text, int allow_append, mapper_path *path, char *err,
                      size_t errlen)
{
    size_t len, start = 0;
    int result = -1;
    memset(path, 0, sizeof(*path));
    if (!text || !*text) {
        text_format(err, errlen, "empty path");
        goto out;
    }
    len = strlen(text);
    if (allow_append && len > 2 && strcmp(text + len - 2, "[]") == 0) {
        path->append = 1;
        len -= 2;
    }
    path->keys = calloc(len + 1, sizeof(char *));
    if (!path->keys) {
        text_format(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '.')
            continue;
        if (i == start) {
            text_format(err, errlen, "bad path '%s': empty key", text);
            goto out;
        }
        if (memchr(text + start, '[', i - start) || memchr(text + start, ']', i - start)) {
            text_format(err, errlen, "bad path '%s': '[]' only allowed at the end of a target",
                      text);
            goto out;
        }
        path->keys[path->count] = malloc(i - start + 1);
        if (!path->keys[path->count]) {
            text_format(err, errlen, "out of memory");
            goto out;
        }
        memcpy(path->keys[path->count], text + start, i - start);
        path->keys[path->count][i - start] = '\0';
        path->count++;
        start = i + 1;
    }
    result = 0;
out:
    if (result != 0)
        path_free(path);
    return result;
}

static void field_free(mapper_field *field)
{
    free(field->label);
    path_free(&field->to);
    path_free(&field->from);
    json_decref(field->constant);
    for (size_t i = 0; i < field->join_count; i++)
        path_free(&field->join_from[i]);
    free(field->join_from);
    free(field->separator);
    free(field->format);
    json_decref(field->map);
    json_decref(field->map_default);
    free(field->join);
    json_decref(field->default_value);
    free(field->strip_prefix);
    free(field->sanitize);
    free(field->sanitize_with);
    json_decref(field->segment_map);
    path_free(&field->gate);
    free(field->gate_on);
    free(field->gate_off);
    free(field->base);
    mapper_spec_free(field->object);
    path_free(&field->when);
}

void mapper_spec_free(mapper_spec *spec)
{
    if (!spec)
        return;
    for (size_t i = 0; i < spec->field_count; i++)
        field_free(&spec->fields[i]);
    free(spec->fields);
    for (size_t i = 0; i < spec->require_count; i++)
        path_free(&spec->require[i]);
    free(spec->require);
    free(spec);
}

static const struct {
    const char *name;
    mapper_type type;
} type_names[] = {
    { "any", MAPPER_TYPE_ANY },           { "string", MAPPER_TYPE_STRING },
    { "integer", MAPPER_TYPE_INTEGER },   { "decimal", MAPPER_TYPE_DECIMAL },
    { "boolean", MAPPER_TYPE_BOOLEAN },   { "date", MAPPER_TYPE_DATE },
    { "datetime", MAPPER_TYPE_DATETIME }, { "lists_add", MAPPER_TYPE_LISTS_ADD },
    { "lists_remove", MAPPER_TYPE_LISTS_REMOVE }, { "tags", MAPPER_TYPE_TAGS },
    { "object", MAPPER_TYPE_OBJECT },
};

static const char *const field_keys[] = {
    "to", "from", "const", "var", "join_fields", "separator", "type", "format",
    "timezone", "min", "max", "map", "map_default", "join", "default", "omit_if_null",
    "strip_prefix", "sanitize", "sanitize_with", "max_length", "lists", "tags", "gate",
    "gate_on", "gate_off", "base", "fields", "require", "when", "keep_unmapped", NULL
};

/* The string options `sanitize`, `sanitize_with` and `max_length` of the
 * field definition `def` into field. Returns 0, or -1 with the reason in
 * why (e.g. "'max_length' must be an integer 1..1000000"). */
static int compile_text_limits(mapper_field *field, const json_t *def, char *why,
                               size_t why_len)
{
    const json_t *value;
    const char *with = " ";
    int result = -1;

    if ((value = json_object_get(def, "sanitize"))) {
        if (!json_is_string(value) || json_string_length(value) == 0) {
            snprintf(why, why_len, "'sanitize' must be a non-empty string (the characters "
                                   "to replace)");
            goto out;
        }
        field->sanitize = dup_string(json_string_value(value));
        if (!field->sanitize) {
            snprintf(why, why_len, "out of memory");
            goto out;
        }
    }
    if ((value = json_object_get(def, "sanitize_with"))) {
        if (!field->sanitize) {
            snprintf(why, why_len, "'sanitize_with' needs 'sanitize'");
            goto out;
        }
        if (!json_is_string(value)) {
            snprintf(why, why_len, "'sanitize_with' must be a string");
            goto out;
        }
        with = json_string_value(value);
        if (strpbrk(with, field->sanitize)) {
            snprintf(why, why_len, "'sanitize_with' must not hold a character of 'sanitize'");
            goto out;
        }
    }
    if (field->sanitize && !(field->sanitize_with = dup_string(with))) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    if ((value = json_object_get(def, "max_length"))) {
        if (!json_is_integer(value) || json_integer_value(value) < 1 ||
            json_integer_value(value) > 1000000) {
            snprintf(why, why_len, "'max_length' must be an integer 1..1000000");
            goto out;
        }
        field->max_length = (long)json_integer_value(value);
    }
    if ((field->sanitize || field->max_length) && field->type != MAPPER_TYPE_STRING) {
        snprintf(why, why_len, "'sanitize'/'max_length' only go with type = \"string\"");
        goto out;
    }
    result = 0;
out:
    return result;
}

/* Convert a `map` option (group, or list of [from, to] pairs) into an
 * object keyed by the input text. New reference or NULL with err. */
static json_t *compile_map(const json_t *spec, char *err, size_t errlen)
{
    json_t *map = NULL, *result = NULL;
    size_t i;
    json_t *pair;
    if (json_is_object(spec))
        return json_deep_copy(spec);
    if (!json_is_array(spec)) {
        text_format(err, errlen, "'map' must be a group or a list of (from, to) pairs");
        goto out;
    }
    map = json_object();
    if (!map)
        goto out;
    json_array_foreach(spec, i, pair) {
        if (!json_is_array(pair) || json_array_size(pair) != 2 ||
            !json_is_string(json_array_get(pair, 0))) {
            text_format(err, errlen, "'map' entry %zu must be (\"from\", value)", i);
            goto out;
        }
        if (json_object_set(map, json_string_value(json_array_get(pair, 0)),
                            json_array_get(pair, 1)) != 0)
            goto out;
    }
    result = map;
    map = NULL;
out:
    json_decref(map);
    return result;
}

/* Replace %z and %:z in a strftime format by the literal offset, so
 * formatting never depends on tm_gmtoff or the TZ environment. */
static char *resolve_format(const char *format, long offset)
{
    char numeric[24], colon[24];
    size_t len = strlen(format), used = 0, cap = len * 2 + 16;
    char *out = malloc(cap);
    long absolute = offset < 0 ? -offset : offset;
    int hours = (int)(absolute / 3600 % 24), minutes = (int)(absolute / 60 % 60);
    if (!out)
        return NULL;
    snprintf(numeric, sizeof(numeric), "%c%02d%02d", offset < 0 ? '-' : '+', hours, minutes);
    snprintf(colon, sizeof(colon), "%c%02d:%02d", offset < 0 ? '-' : '+', hours, minutes);
    for (size_t i = 0; i < len;) {
        const char *insert = NULL;
        size_t skip = 1;
        if (format[i] == '%' && i + 1 < len && format[i + 1] == 'z') {
            insert = numeric;
            skip = 2;
        } else if (format[i] == '%' && i + 2 < len && format[i + 1] == ':' &&
                   format[i + 2] == 'z') {
            insert = colon;
            skip = 3;
        } else if (format[i] == '%' && i + 1 < len) {
            skip = 2; /* keep "%%" and other conversions intact */
        }
        if (used + 8 >= cap) {
            free(out);
            return NULL; /* cannot happen: cap covers the worst case */
        }
        if (insert) {
            memcpy(out + used, insert, strlen(insert));
            used += strlen(insert);
        } else {
            memcpy(out + used, format + i, skip);
            used += skip;
        }
        i += skip;
    }
    out[used] = '\0';
    return out;
}

static const char *string_member(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static mapper_spec *compile_spec(const json_t *spec_json, const json_t *config,
                                 const char *where, char *err, size_t errlen);

/* Compile fields[index] of `where` into *field. 0, or -1 with err. */
static int compile_field(const json_t *def, const json_t *config, const char *where,
                         size_t index, mapper_field *field, char *err, size_t errlen)
{
    char why[512] = "";
    char prefix[512];
    const char *to, *key, *text;
    json_t *value;
    int sources = 0, result = -1;

    memset(field, 0, sizeof(*field));
    to = string_member(def, "to");
    snprintf(prefix, sizeof(prefix), "%s.fields[%zu] (to '%s')", where, index,
             to ? to : "?");
    if (!json_is_object(def)) {
        snprintf(why, sizeof(why), "must be a group { to = ...; ... }");
        goto out;
    }
    json_object_foreach((json_t *)def, key, value) {
        size_t k = 0;
        while (field_keys[k] && strcmp(field_keys[k], key) != 0)
            k++;
        if (!field_keys[k]) {
            snprintf(why, sizeof(why), "unknown key '%s'", key);
            goto out;
        }
    }
    if (!to) {
        snprintf(why, sizeof(why), "'to' (a string) is required");
        goto out;
    }
    if (path_parse(to, 1, &field->to, why, sizeof(why)))
        goto out;

    text = json_string_value(json_object_get(def, "type"));
    if (json_object_get(def, "type") && !text) {
        snprintf(why, sizeof(why), "'type' must be a string");
        goto out;
    }
    if (text) {
        size_t t = 0, n = sizeof(type_names) / sizeof(type_names[0]);
        while (t < n && strcmp(type_names[t].name, text) != 0)
            t++;
        if (t == n) {
            snprintf(why, sizeof(why), "unknown type '%s'", text);
            goto out;
        }
        field->type = type_names[t].type;
    }

    /* Where the value comes from: exactly one source. */
    if ((value = json_object_get(def, "from"))) {
        sources++;
        if (!json_is_string(value) ||
            path_parse(json_string_value(value), 0, &field->from, why, sizeof(why))) {
            if (!why[0])
                snprintf(why, sizeof(why), "'from' must be a string");
            goto out;
        }
        field->source = MAPPER_SRC_FROM;
    }
    if ((value = json_object_get(def, "const"))) {
        sources++;
        field->source = MAPPER_SRC_CONST;
        field->constant = json_deep_copy(value);
    }
    if ((value = json_object_get(def, "var"))) {
        const json_t *vars = json_object_get(config, "vars");
        sources++;
        if (!json_is_string(value)) {
            snprintf(why, sizeof(why), "'var' must be a string");
            goto out;
        }
        field->source = MAPPER_SRC_VAR;
        value = json_object_get(vars, json_string_value(value));
        field->constant = value ? json_deep_copy(value) : NULL;
    }
    if ((value = json_object_get(def, "join_fields"))) {
        size_t i;
        json_t *item;
        sources++;
        field->source = MAPPER_SRC_JOIN_FIELDS;
        if (!json_is_array(value) || json_array_size(value) == 0) {
            snprintf(why, sizeof(why), "'join_fields' must be a non-empty list of names");
            goto out;
        }
        field->join_from = calloc(json_array_size(value), sizeof(mapper_path));
        if (!field->join_from)
            goto out;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item)) {
                snprintf(why, sizeof(why), "'join_fields'[%zu] must be a string", i);
                goto out;
            }
            if (path_parse(json_string_value(item), 0, &field->join_from[i], why, sizeof(why)))
                goto out;
            field->join_count++;
        }
        text = string_member(def, "separator");
        field->separator = dup_string(text ? text : " ");
    } else if (json_object_get(def, "separator")) {
        snprintf(why, sizeof(why), "'separator' only goes with 'join_fields'");
        goto out;
    }
    if (field->type == MAPPER_TYPE_OBJECT) {
        if (sources) {
            snprintf(why, sizeof(why), "an object field takes no from/const/var/join_fields");
            goto out;
        }
        field->source = MAPPER_SRC_RECORD;
        field->object = compile_spec(def, config, prefix, err, errlen);
        if (!field->object) {
            result = -1;
            goto out_quiet;
        }
        if ((text = string_member(def, "when")) &&
            path_parse(text, 0, &field->when, why, sizeof(why)))
            goto out;
    } else if (json_object_get(def, "fields") || json_object_get(def, "when")) {
        snprintf(why, sizeof(why), "'fields' and 'when' only go with type = \"object\"");
        goto out;
    } else if (sources != 1) {
        snprintf(why, sizeof(why), sources ? "give only one of from, const, var, join_fields"
                                           : "needs one of from, const, var, join_fields");
        goto out;
    }

    /* Segment-driven list types read `from` (the segments) and a gate. */
    if (field->type == MAPPER_TYPE_LISTS_ADD || field->type == MAPPER_TYPE_LISTS_REMOVE ||
        field->type == MAPPER_TYPE_TAGS) {
        int is_tags = field->type == MAPPER_TYPE_TAGS;
        const char *option = string_member(def, is_tags ? "tags" : "lists");
        const json_t *map;
        if (field->source != MAPPER_SRC_FROM) {
            snprintf(why, sizeof(why), "type '%s' needs 'from' (the segments field)", text);
            goto out;
        }
        option = option ? option : (is_tags ? "tags" : "lists");
        map = json_object_get(config, option);
        if (map && !json_is_object(map)) {
            snprintf(why, sizeof(why), "option '%s' must be a group", option);
            goto out;
        }
        field->segment_map = map ? json_deep_copy(map) : NULL;
        text = string_member(def, "gate");
        if (path_parse(text ? text : "opt_in_status", 0, &field->gate, why, sizeof(why)))
            goto out;
        text = string_member(def, "gate_on");
        field->gate_on = dup_string(text ? text : "yes");
        text = string_member(def, "gate_off");
        field->gate_off = dup_string(text ? text : "no");
        text = string_member(def, "base");
        field->base = dup_string(text ? text : (is_tags ? "Loyalty" : "loyalty"));
    } else if (json_object_get(def, "gate") || json_object_get(def, "base") ||
               json_object_get(def, "lists") || json_object_get(def, "tags")) {
        snprintf(why, sizeof(why), "gate/base/lists/tags only go with lists_add, "
                                   "lists_remove or tags");
        goto out;
    }

    if (field->type == MAPPER_TYPE_DATE || field->type == MAPPER_TYPE_DATETIME) {
        text = string_member(def, "timezone");
        if (loytime_parse_zone(text ? text : "UTC", &field->tz_offset)) {
            snprintf(why, sizeof(why), "bad timezone '%s' (use UTC or an offset like +01:00)",
                     text);
            goto out;
        }
    } else if (json_object_get(def, "timezone")) {
        snprintf(why, sizeof(why), "'timezone' only goes with date or datetime");
        goto out;
    }
    if (field->type == MAPPER_TYPE_DATETIME) {
        text = string_member(def, "format");
        field->format = resolve_format(text ? text : "%Y-%m-%dT%H:%M:%S%:z", field->tz_offset);
        if (!field->format) {
            snprintf(why, sizeof(why), "bad format");
            goto out;
        }
    } else if (json_object_get(def, "format")) {
        snprintf(why, sizeof(why), "'format' only goes with type = \"datetime\"");
        goto out;
    }
    if ((value = json_object_get(def, "min"))) {
        if (!json_is_number(value)) {
            snprintf(why, sizeof(why), "'min' must be a number");
            goto out;
        }
        field->has_min = 1;
        field->min = json_number_value(value);
    }
    if ((value = json_object_get(def, "max"))) {
        if (!json_is_number(value)) {
            snprintf(why, sizeof(why), "'max' must be a number");
            goto out;
        }
        field->has_max = 1;
        field->max = json_number_value(value);
    }
    if ((field->has_min || field->has_max) && field->type != MAPPER_TYPE_INTEGER &&
        field->type != MAPPER_TYPE_DECIMAL && field->type != MAPPER_TYPE_STRING) {
        snprintf(why, sizeof(why), "'min'/'max' only go with integer, decimal or string "
                                   "(numbers written as text)");
        goto out;
    }
    if ((value = json_object_get(def, "map"))) {
        field->map = compile_map(value, why, sizeof(why));
        if (!field->map)
            goto out;
    }
    if ((value = json_object_get(def, "map_default"))) {
        if (!field->map) {
            snprintf(why, sizeof(why), "'map_default' needs 'map'");
            goto out;
        }
        field->map_default = json_deep_copy(value);
    }
    if ((value = json_object_get(def, "join"))) {
        if (!json_is_string(value)) {
            snprintf(why, sizeof(why), "'join' must be a string (the separator)");
            goto out;
        }
        field->join = dup_string(json_string_value(value));
    }
    if ((value = json_object_get(def, "default")))
        field->default_value = json_deep_copy(value);
    if ((value = json_object_get(def, "omit_if_null"))) {
        if (!json_is_boolean(value)) {
            snprintf(why, sizeof(why), "'omit_if_null' must be true or false");
            goto out;
        }
        field->omit_if_null = json_is_true(value);
    }
    if ((text = string_member(def, "strip_prefix")))
        field->strip_prefix = dup_string(text);
    if (compile_text_limits(field, def, why, sizeof(why)) != 0)
        goto out;

    switch (field->source) {
    case MAPPER_SRC_FROM:
        text = json_string_value(json_object_get(def, "from"));
        break;
    default:
        text = to;
        break;
    }
    field->label = dup_string(text);
    if (!field->label)
        goto out;
    result = 0;
out:
    if (result != 0)
        text_format(err, errlen, "%s: %s", prefix, why[0] ? why : "out of memory");
out_quiet:
    if (result != 0)
        field_free(field);
    return result;
}

/* Compile a group { require; fields; keep_unmapped }. NULL with err. */
static mapper_spec *compile_spec(const json_t *spec_json, const json_t *config,
                                 const char *where, char *err, size_t errlen)
{
    mapper_spec *spec = NULL, *result = NULL;
    const json_t *fields, *require, *keep;
    size_t i;
    json_t *item;

    if (!json_is_object(spec_json)) {
        text_format(err, errlen, "%s: must be a group { fields = (...); }", where);
        goto out;
    }
    spec = calloc(1, sizeof(*spec));
    if (!spec) {
        text_format(err, errlen, "%s: out of memory", where);
        goto out;
    }
    fields = json_object_get(spec_json, "fields");
    if (!json_is_array(fields)) {
        text_format(err, errlen, "%s: 'fields' (a list of groups) is required", where);
        goto out;
    }
    spec->fields = calloc(json_array_size(fields) + 1, sizeof(mapper_field));
    if (!spec->fields) {
        text_format(err, errlen, "%s: out of memory", where);
        goto out;
    }
    json_array_foreach(fields, i, item) {
        if (compile_field(item, config, where, i, &spec->fields[i], err, errlen))
            goto out;
        spec->field_count++;
    }
    require = json_object_get(spec_json, "require");
    if (require) {
        if (!json_is_array(require)) {
            text_format(err, errlen, "%s: 'require' must be a list of field names", where);
            goto out;
        }
        spec->require = calloc(json_array_size(require) + 1, sizeof(mapper_path));
        if (!spec->require)
            goto out;
        json_array_foreach(require, i, item) {
            char why[256];
            if (!json_is_string(item) ||
                path_parse(json_string_value(item), 0, &spec->require[i], why, sizeof(why))) {
                text_format(err, errlen, "%s: require[%zu] must be a field name", where, i);
                goto out;
            }
            spec->require_count++;
        }
    }
    keep = json_object_get(spec_json, "keep_unmapped");
    if (keep && !json_is_boolean(keep)) {
        text_format(err, errlen, "%s: 'keep_unmapped' must be true or false", where);
        goto out;
    }
    spec->keep_unmapped = json_is_true(keep);
    result = spec;
    spec = NULL;
out:
    mapper_spec_free(spec);
    return result;
}

static const char *const top_keys[] = { "member", "events", "drop_kinds", "lists",
                                        "tags", "vars", NULL };

mapper *mapper_compile(const json_t *config, char *err, size_t errlen)
{
    mapper *m = NULL, *result = NULL;
    const json_t *value;
    const char *key;
    json_t *item;
    size_t i;

    if (!json_is_object(config)) {
        text_format(err, errlen, "options must be a group");
        goto out;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        text_format(err, errlen, "out of memory");
        goto out;
    }
    json_object_foreach((json_t *)config, key, item) {
        size_t k = 0;
        while (top_keys[k] && strcmp(top_keys[k], key) != 0)
            k++;
        if (!top_keys[k] && !json_is_null(item)) {
            text_format(err, errlen, "unknown option '%s'", key);
            goto out;
        }
    }
    value = json_object_get(config, "vars");
    if (value && !json_is_null(value) && !json_is_object(value)) {
        text_format(err, errlen, "'vars' must be a group");
        goto out;
    }
    value = json_object_get(config, "member");
    if (value && !json_is_null(value)) {
        m->member = compile_spec(value, config, "member", err, errlen);
        if (!m->member)
            goto out;
    }
    value = json_object_get(config, "events");
    if (value && !json_is_null(value)) {
        if (!json_is_object(value)) {
            text_format(err, errlen, "'events' must be a group of per-event-type mappings");
            goto out;
        }
        m->has_events = 1;
        m->events = calloc(json_object_size(value) + 1, sizeof(mapper_event_spec));
        if (!m->events)
            goto out;
        json_object_foreach((json_t *)value, key, item) {
            char where[300];
            mapper_spec *spec;
            snprintf(where, sizeof(where), "events.%s", key);
            spec = compile_spec(item, config, where, err, errlen);
            if (!spec)
                goto out;
            if (strcmp(key, "default") == 0) {
                m->event_default = spec;
                continue;
            }
            m->events[m->event_count].spec = spec;
            m->events[m->event_count].event_type = dup_string(key);
            m->event_count++;
        }
    }
    value = json_object_get(config, "drop_kinds");
    if (value && !json_is_null(value)) {
        if (!json_is_array(value)) {
            text_format(err, errlen, "'drop_kinds' must be a list of kind names");
            goto out;
        }
        m->drop_kinds = calloc(json_array_size(value) + 1, sizeof(char *));
        if (!m->drop_kinds)
            goto out;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item)) {
                text_format(err, errlen, "drop_kinds[%zu] must be a string", i);
                goto out;
            }
            m->drop_kinds[m->drop_count++] = dup_string(json_string_value(item));
        }
    }
    result = m;
    m = NULL;
out:
    mapper_free(&m);
    return result;
}

void mapper_free(mapper **m_p)
{
    mapper *m;
    if (!m_p || !*m_p)
        return;
    m = *m_p;
    mapper_spec_free(m->member);
    for (size_t i = 0; i < m->event_count; i++) {
        free(m->events[i].event_type);
        mapper_spec_free(m->events[i].spec);
    }
    free(m->events);
    mapper_spec_free(m->event_default);
    for (size_t i = 0; i < m->drop_count; i++)
        free(m->drop_kinds[i]);
    free(m->drop_kinds);
    free(m);
    *m_p = NULL;
}
