/* mapper_apply.c: runs a compiled field mapping over one record (see
 * mapper.h): looks up sources by pre-split paths, converts types, and
 * builds the destination object. Pure: no SDK, no global state. */
#include <config.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mapper_internal.h"
#include "loytime.h"
#include "plugin_text.h"
#include "util/dynbuf.h"

/* Internal outcome of converting one field. */
enum { FIELD_SET = 0, FIELD_OMIT = 1, FIELD_REJECT = -1 };

json_t *mapper_path_lookup(const json_t *record, const mapper_path *path)
{
    const json_t *node = record;
    for (size_t i = 0; i < path->count && node; i++)
        node = json_object_get(node, path->keys[i]);
    return (json_t *)node;
}

/* Show a value in a reason: strings as they are, others as compact JSON,
 * cut at 80 bytes. Writes into buf and returns it. */
static const char *show_value(const json_t *value, char *buf, size_t len)
{
    if (json_is_string(value)) {
        snprintf(buf, len, "%s", json_string_value(value));
    } else {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, len, "%s", text ? text : "?");
        free(text);
    }
    if (strlen(buf) > 80)
        memcpy(buf + 77, "...", 4);
    return buf;
}

/* Text form of a scalar for joins and map lookups into buf. 0, or -1 for
 * arrays, objects and null. */
static int scalar_text(const json_t *value, char *buf, size_t len, const char **text)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        *text = json_string_value(value);
        return 0;
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        break;
    case JSON_REAL:
        snprintf(buf, len, "%.15g", json_real_value(value));
        break;
    case JSON_TRUE:
        snprintf(buf, len, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, len, "false");
        break;
    default:
        return -1;
    }
    *text = buf;
    return 0;
}

/* Join the scalars of `list` with `separator`. New string or NULL with
 * reason. */
static json_t *join_list(const mapper_field *field, const json_t *list, char *reason,
                         size_t len)
{
    size_t i;
    dynbuf joined;
    json_t *item, *result = NULL;
    int first = 1;

    dynbuf_init(&joined, 0);
    json_array_foreach(list, i, item) {
        char number[64];
        const char *text;
        if (json_is_null(item))
            continue;
        if (scalar_text(item, number, sizeof(number), &text)) {
            char shown[96];
            text_format(reason, len, "field '%s': list item %zu is not a scalar: '%s'",
                       field->label, i, show_value(item, shown, sizeof(shown)));
            goto out;
        }
        if ((!first && dynbuf_append_str(&joined, field->join) != 0) ||
            dynbuf_append_str(&joined, text) != 0)
            goto out;
        first = 0;
    }
    result = json_stringn(joined.data ? joined.data : "", joined.len);
out:
    dynbuf_free(&joined);
    return result;
}

/* Join several input fields (absent, null and empty ones skipped). Sets
 * *out to a new string, or leaves it NULL when every field is absent. */
static int join_fields(const mapper_field *field, const json_t *in, json_t **out,
                       char *reason, size_t len)
{
    char buf[4096];
    size_t used = 0, seplen = strlen(field->separator);
    int present = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < field->join_count; i++) {
        const json_t *value = mapper_path_lookup(in, &field->join_from[i]);
        char number[64];
        const char *text;
        size_t textlen;
        if (!value)
            continue;
        present = 1;
        if (json_is_null(value))
            continue;
        if (scalar_text(value, number, sizeof(number), &text)) {
            text_format(reason, len, "field '%s': not a scalar", field->join_from[i].keys[0]);
            return FIELD_REJECT;
        }
        textlen = strlen(text);
        if (textlen == 0)
            continue;
        if (used + seplen + textlen + 1 > sizeof(buf)) {
            text_format(reason, len, "field '%s': joined value too long", field->label);
            return FIELD_REJECT;
        }
        if (used) {
            memcpy(buf + used, field->separator, seplen);
            used += seplen;
        }
        memcpy(buf + used, text, textlen);
        used += textlen;
        buf[used] = '\0';
    }
    if (!present)
        return FIELD_OMIT;
    *out = used ? json_stringn(buf, used) : json_null();
    return FIELD_SET;
}

static int check_range(const mapper_field *field, double number, const json_t *value,
                       char *reason, size_t len)
{
    char shown[96];
    if (field->has_min && number < field->min) {
        text_format(reason, len, "field '%s': %s is below the minimum %g", field->label,
                   show_value(value, shown, sizeof(shown)), field->min);
        return -1;
    }
    if (field->has_max && number > field->max) {
        text_format(reason, len, "field '%s': %s is above the maximum %g", field->label,
                   show_value(value, shown, sizeof(shown)), field->max);
        return -1;
    }
    return 0;
}

/* Convert non-null `value` to the field's type. New reference in *out, or
 * FIELD_REJECT with reason. */
static int convert(const mapper_field *field, json_t *value, json_t **out, char *reason,
                   size_t len)
{
    char shown[96], number[64];
    const char *text;
    int64_t epoch;

    switch (field->type) {
    case MAPPER_TYPE_ANY:
        *out = json_incref(value);
        return FIELD_SET;
    case MAPPER_TYPE_STRING:
        if (json_is_string(value)) {
            *out = json_incref(value);
            return FIELD_SET;
        }
        if (scalar_text(value, number, sizeof(number), &text))
            break;
        if (json_is_number(value) &&
            check_range(field, json_number_value(value), value, reason, len))
            return FIELD_REJECT;
        *out = json_string(text);
        return FIELD_SET;
    case MAPPER_TYPE_INTEGER: {
        json_int_t integer;
        if (json_is_integer(value)) {
            integer = json_integer_value(value);
        } else if (json_is_real(value) && json_real_value(value) == floor(json_real_value(value)) &&
                   fabs(json_real_value(value)) < 9.0e15) {
            integer = (json_int_t)json_real_value(value);
        } else if (json_is_string(value)) {
            char *end;
            long long parsed;
            errno = 0;
            text = json_string_value(value);
            parsed = strtoll(text, &end, 10);
            if (errno || end == text || *end != '\0')
                break;
            integer = parsed;
        } else {
            break;
        }
        if (check_range(field, (double)integer, value, reason, len))
            return FIELD_REJECT;
        *out = json_integer(integer);
        return FIELD_SET;
    }
    case MAPPER_TYPE_DECIMAL: {
        double real;
        if (json_is_number(value)) {
            real = json_number_value(value);
        } else if (json_is_string(value)) {
            char *end;
            errno = 0;
            text = json_string_value(value);
            real = strtod(text, &end);
            if (errno || end == text || *end != '\0' || !isfinite(real))
                break;
        } else {
            break;
        }
        if (check_range(field, real, value, reason, len))
            return FIELD_REJECT;
        *out = json_real(real);
        return FIELD_SET;
    }
    case MAPPER_TYPE_BOOLEAN:
        if (json_is_boolean(value)) {
            *out = json_incref(value);
            return FIELD_SET;
        }
        if (json_is_integer(value) &&
            (json_integer_value(value) == 0 || json_integer_value(value) == 1)) {
            *out = json_boolean(json_integer_value(value));
            return FIELD_SET;
        }
        if (json_is_string(value)) {
            text = json_string_value(value);
            if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "1")) {
                *out = json_true();
                return FIELD_SET;
            }
            if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "0")) {
                *out = json_false();
                return FIELD_SET;
            }
        }
        break;
    case MAPPER_TYPE_DATE: {
        char date[LOYTIME_DATE_LEN];
        if (!json_is_string(value) ||
            loytime_parse_date_or_timestamp(json_string_value(value), &epoch))
            break;
        /* A plain date is a calendar day: no zone shift. */
        if (strlen(json_string_value(value)) != 10)
            epoch += field->tz_offset;
        *out = json_string(loytime_format_date(loytime_day_of(epoch), date, sizeof(date)));
        return FIELD_SET;
    }
    case MAPPER_TYPE_DATETIME: {
        char formatted[128];
        struct tm tm;
        time_t shifted;
        if (!json_is_string(value) ||
            loytime_parse_date_or_timestamp(json_string_value(value), &epoch))
            break;
        shifted = (time_t)(epoch + field->tz_offset);
        if (!gmtime_r(&shifted, &tm))
            break;
        /* The format comes from the mapping (validated at compile time). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (strftime(formatted, sizeof(formatted), field->format, &tm) == 0)
            break;
#pragma GCC diagnostic pop
        *out = json_string(formatted);
        return FIELD_SET;
    }
    default:
        break;
    }
    {
        static const char *const what[] = {
            [MAPPER_TYPE_ANY] = "a value",        [MAPPER_TYPE_STRING] = "a string",
            [MAPPER_TYPE_INTEGER] = "an integer", [MAPPER_TYPE_DECIMAL] = "a number",
            [MAPPER_TYPE_BOOLEAN] = "a boolean",  [MAPPER_TYPE_DATE] = "a date",
            [MAPPER_TYPE_DATETIME] = "a timestamp",
        };
        const char *expected = field->type <= MAPPER_TYPE_DATETIME ? what[field->type]
                                                                   : "a value";
        text_format(reason, len, "field '%s': not %s: '%s'", field->label, expected,
                   show_value(value, shown, sizeof(shown)));
    }
    return FIELD_REJECT;
}

static int array_has_string(const json_t *array, const char *text)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), text) == 0)
            return 1;
    }
    return 0;
}

/* lists_add / lists_remove / tags: see docs/field-mapper.md. */
static int segment_field(const mapper_field *field, const json_t *in, json_t **out,
                         char *reason, size_t len)
{
    const json_t *segments = mapper_path_lookup(in, &field->from);
    const json_t *gate = mapper_path_lookup(in, &field->gate);
    const char *gate_text = json_string_value(gate);
    int on = gate_text && strcmp(gate_text, field->gate_on) == 0;
    int off = gate_text && strcmp(gate_text, field->gate_off) == 0;
    int known = segments != NULL;
    json_t *result, *id;
    const char *key;
    char shown[96];
    size_t i;

    if (segments && !json_is_null(segments) && !json_is_array(segments)) {
        text_format(reason, len, "field '%s': not a list: '%s'", field->label,
                   show_value(segments, shown, sizeof(shown)));
        return FIELD_REJECT;
    }
    if (!known && !on && !off)
        return FIELD_OMIT;
    result = json_array();
    if (!result)
        return FIELD_REJECT;
    if (field->type == MAPPER_TYPE_TAGS) {
        json_t *item;
        if (on)
            json_array_append_new(result, json_string(field->base));
        if (json_is_array(segments)) {
            json_array_foreach(segments, i, item) {
                const char *name = json_string_value(item);
                const char *mapped;
                if (!name)
                    continue;
                /* With a tag map, only the segments it lists become tags. */
                mapped = field->segment_map
                             ? json_string_value(json_object_get(field->segment_map, name))
                             : name;
                if (!mapped)
                    continue;
                if (!array_has_string(result, mapped))
                    json_array_append_new(result, json_string(mapped));
            }
        }
        *out = result;
        return FIELD_SET;
    }
    if (!field->segment_map) {
        json_decref(result);
        return FIELD_OMIT;
    }
    /* Ids in the order of the segment map, for a stable output. */
    json_object_foreach(field->segment_map, key, id) {
        int member = json_is_array(segments) && array_has_string(segments, key);
        int include;
        if (strcmp(key, field->base) == 0)
            include = field->type == MAPPER_TYPE_LISTS_ADD ? on : off;
        else if (field->type == MAPPER_TYPE_LISTS_ADD)
            include = member;
        else
            include = known && !member;
        if (include)
            json_array_append(result, id);
    }
    *out = result;
    return FIELD_SET;
}

/* Set `value` (stolen) at `path` in `target`, creating objects. -1 when
 * something that is not an object (or array for "[]") is in the way. */
static int path_set(json_t *target, const mapper_path *path, json_t *value)
{
    json_t *node = target;
    const char *last = path->keys[path->count - 1];
    for (size_t i = 0; i + 1 < path->count; i++) {
        json_t *next = json_object_get(node, path->keys[i]);
        if (!next) {
            next = json_object();
            if (json_object_set_new(node, path->keys[i], next))
                goto fail;
        } else if (!json_is_object(next)) {
            goto fail;
        }
        node = next;
    }
    if (path->append) {
        json_t *array = json_object_get(node, last);
        if (!array) {
            array = json_array();
            if (json_object_set_new(node, last, array))
                goto fail;
        } else if (!json_is_array(array)) {
            goto fail;
        }
        return json_array_append_new(array, value);
    }
    return json_object_set_new(node, last, value);
fail:
    json_decref(value);
    return -1;
}

static int apply_spec(const mapper_spec *spec, const json_t *in, json_t **out,
                      char *reason, size_t len);

/* Characters (UTF-8 code points) in text. */
static size_t utf8_characters(const char *text)
{
    size_t count = 0;
    for (; *text; text++)
        count += ((unsigned char)*text & 0xC0) != 0x80;
    return count;
}

/* `text` with every byte of `forbidden` and every control character
 * (line breaks, tabs) replaced by `with`, runs of spaces collapsed to one
 * and the ends trimmed. New string (caller frees) or NULL when out of
 * memory. Bytes of multi-byte characters are never forbidden ones (the
 * set is ASCII in practice), so UTF-8 stays valid. */
static char *sanitize_text(const char *text, const char *forbidden, const char *with)
{
    dynbuf out;
    char *result = NULL;

    dynbuf_init(&out, 0);
    for (const char *c = text; *c; c++) {
        unsigned char byte = (unsigned char)*c;
        int replace = byte < 0x20 || byte == 0x7F || strchr(forbidden, *c) != NULL;
        if ((replace ? dynbuf_append_str(&out, with) : dynbuf_append(&out, c, 1)) != 0)
            goto out;
    }
    result = dynbuf_steal(&out);
    if (!result)
        goto out;
    /* Collapse and trim spaces in place. */
    char *write = result;
    for (const char *read = result; *read; read++) {
        if (*read == ' ' && (write == result || write[-1] == ' '))
            continue;
        *write++ = *read;
    }
    if (write > result && write[-1] == ' ')
        write--;
    *write = '\0';
out:
    dynbuf_free(&out);
    return result;
}

/* A string field's `sanitize` and `max_length` on *value (replaced by the
 * sanitized string). Returns 0, or -1 with the reason ("field 'x': 300
 * characters, longer than the maximum 255" or out of memory). */
static int limit_text(const mapper_field *field, json_t **value, char *reason, size_t len)
{
    size_t characters;

    if (field->sanitize) {
        char *clean = sanitize_text(json_string_value(*value), field->sanitize,
                                    field->sanitize_with);
        json_t *replaced = clean ? json_string(clean) : NULL;
        free(clean);
        if (!replaced) {
            text_format(reason, len, "field '%s': out of memory sanitizing", field->label);
            return -1;
        }
        json_decref(*value);
        *value = replaced;
    }
    if (field->max_length > 0 &&
        (characters = utf8_characters(json_string_value(*value))) > (size_t)field->max_length) {
        text_format(reason, len, "field '%s': %zu characters, longer than the maximum %ld",
                    field->label, characters, field->max_length);
        return -1;
    }
    return 0;
}

/* Produce one field's value into *value (new reference). */
static int field_value(const mapper_field *field, const json_t *in, json_t **value,
                       char *reason, size_t len)
{
    json_t *source = NULL, *mapped = NULL, *joined = NULL;
    int result = FIELD_OMIT;

    switch (field->source) {
    case MAPPER_SRC_FROM:
        if (field->type == MAPPER_TYPE_LISTS_ADD || field->type == MAPPER_TYPE_LISTS_REMOVE ||
            field->type == MAPPER_TYPE_TAGS)
            return segment_field(field, in, value, reason, len);
        source = mapper_path_lookup(in, &field->from);
        break;
    case MAPPER_SRC_CONST:
    case MAPPER_SRC_VAR:
        source = field->constant;
        break;
    case MAPPER_SRC_JOIN_FIELDS:
        result = join_fields(field, in, &joined, reason, len);
        if (result != FIELD_SET)
            goto out;
        source = joined;
        break;
    case MAPPER_SRC_RECORD: {
        const json_t *when = field->when.count ? mapper_path_lookup(in, &field->when) : in;
        if (!when || json_is_null(when) ||
            (json_is_string(when) && json_string_length(when) == 0))
            goto out;
        if (apply_spec(field->object, in, value, reason, len)) {
            result = FIELD_REJECT;
            goto out;
        }
        result = FIELD_SET;
        goto out;
    }
    }
    if (!source)
        source = field->default_value;
    if (!source)
        goto out;
    if (json_is_null(source)) {
        if (!field->omit_if_null) {
            *value = json_null();
            result = FIELD_SET;
        }
        goto out;
    }
    if (field->map) {
        char number[64], shown[96];
        const char *text;
        if (scalar_text(source, number, sizeof(number), &text) ||
            !(mapped = json_object_get(field->map, text))) {
            if (!field->map_default) {
                text_format(reason, len, "field '%s': value '%s' is not in the map",
                           field->label, show_value(source, shown, sizeof(shown)));
                result = FIELD_REJECT;
                goto out;
            }
            mapped = field->map_default;
        }
        source = mapped;
        if (json_is_null(source)) {
            *value = json_null();
            result = FIELD_SET;
            goto out;
        }
    }
    if (field->join) {
        if (!json_is_array(source)) {
            char shown[96];
            text_format(reason, len, "field '%s': not a list: '%s'", field->label,
                       show_value(source, shown, sizeof(shown)));
            result = FIELD_REJECT;
            goto out;
        }
        json_decref(joined);
        joined = join_list(field, source, reason, len);
        if (!joined) {
            result = FIELD_REJECT;
            goto out;
        }
        source = joined;
    }
    result = convert(field, source, value, reason, len);
    if (result == FIELD_SET && field->strip_prefix && json_is_string(*value)) {
        const char *text = json_string_value(*value);
        size_t plen = strlen(field->strip_prefix);
        if (strncmp(text, field->strip_prefix, plen) == 0) {
            json_t *stripped = json_string(text + plen);
            json_decref(*value);
            *value = stripped;
        }
    }
    if (result == FIELD_SET && json_is_string(*value) &&
        limit_text(field, value, reason, len) != 0)
        result = FIELD_REJECT;
out:
    json_decref(joined);
    return result;
}

/* Apply a spec to `in`: a new object in *out, or -1 with reason. */
static int apply_spec(const mapper_spec *spec, const json_t *in, json_t **out,
                      char *reason, size_t len)
{
    json_t *result = NULL;
    int status = -1;

    for (size_t i = 0; i < spec->require_count; i++) {
        const json_t *value = mapper_path_lookup(in, &spec->require[i]);
        if (!value || json_is_null(value) ||
            (json_is_string(value) && json_string_length(value) == 0)) {
            text_format(reason, len, "missing required field %s", spec->require[i].keys[0]);
            goto out;
        }
    }
    if (spec->keep_unmapped && json_is_object(in)) {
        const char *key;
        json_t *value;
        result = json_object();
        json_object_foreach((json_t *)in, key, value) {
            int consumed = 0;
            for (size_t i = 0; i < spec->field_count && !consumed; i++)
                consumed = spec->fields[i].source == MAPPER_SRC_FROM &&
                           strcmp(spec->fields[i].from.keys[0], key) == 0;
            if (!consumed)
                json_object_set(result, key, value);
        }
    } else {
        result = json_object();
    }
    if (!result)
        goto out;
    for (size_t i = 0; i < spec->field_count; i++) {
        const mapper_field *field = &spec->fields[i];
        json_t *value = NULL;
        int outcome = field_value(field, in, &value, reason, len);
        if (outcome == FIELD_REJECT) {
            json_decref(value);
            goto out;
        }
        if (outcome == FIELD_OMIT)
            continue;
        if (!value || path_set(result, &field->to, value)) {
            text_format(reason, len, "field '%s': cannot set the target (another field's "
                       "value is in the way)", field->label);
            goto out;
        }
    }
    *out = result;
    result = NULL;
    status = 0;
out:
    json_decref(result);
    return status;
}

mapper_result mapper_apply(const mapper *m, const json_t *in, json_t **out,
                           char *reason, size_t reasonlen)
{
    const char *kind = json_string_value(json_object_get(in, "kind"));
    const mapper_spec *spec = NULL;

    *out = NULL;
    if (!json_is_object(in)) {
        text_format(reason, reasonlen, "record is not a JSON object");
        return MAPPER_REJECT;
    }
    if (!kind)
        kind = "member"; /* the canonical schema: no kind means a member */
    /* an erasure reaches the sink as it is, whatever drop_kinds says */
    if (strcmp(kind, "erase") == 0)
        return MAPPER_PASS;
    for (size_t i = 0; i < m->drop_count; i++) {
        if (strcmp(m->drop_kinds[i], kind) == 0)
            return MAPPER_DROP;
    }
    if (strcmp(kind, "member") == 0) {
        spec = m->member;
    } else if (strcmp(kind, "event") == 0 && m->has_events) {
        const char *event_type = json_string_value(json_object_get(in, "event_type"));
        for (size_t i = 0; event_type && i < m->event_count && !spec; i++) {
            if (strcmp(m->events[i].event_type, event_type) == 0)
                spec = m->events[i].spec;
        }
        if (!spec)
            spec = m->event_default;
        if (!spec) {
            text_format(reason, reasonlen, "field 'event_type': no mapping for '%s'",
                       event_type ? event_type : "(missing)");
            return MAPPER_REJECT;
        }
    }
    if (!spec)
        return MAPPER_PASS;
    return apply_spec(spec, in, out, reason, reasonlen) ? MAPPER_REJECT : MAPPER_MAPPED;
}
