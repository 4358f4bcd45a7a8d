/* ometria_plan.c: the ometria-sink's pure logic: record checks and the 60 KB
 * limit, request bodies, push answers, matching /v2/push/_errors entries to
 * a record, and safe error texts. No I/O; unit-tested in
 * tests/unit/test_ometria_plan.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ometria.h"

#define MASK "********"

const char *om_type_plural(om_type type)
{
    return type == OM_TYPE_CONTACT ? "contacts" : "events";
}

/* Copy at most 40 bytes of `text` for a reason, with "..." when cut. */
static void clip(char *out, size_t out_len, const char *text)
{
    snprintf(out, out_len, "%.40s%s", text, strlen(text) > 40 ? "..." : "");
}

/* The biggest member of `record` (looking inside "properties" too) by
 * compact JSON size: its name ("x" or "properties.x") goes to out, its size
 * is returned (0 when the record has no members). */
static size_t largest_field(const json_t *record, char *out, size_t out_len)
{
    const json_t *properties = json_object_get(record, "properties");
    const char *key;
    const json_t *value;
    size_t best = 0;

    out[0] = '\0';
    json_object_foreach((json_t *)record, key, value) {
        size_t size = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (size > best && value != properties) {
            best = size;
            snprintf(out, out_len, "%s", key);
        }
    }
    if (json_is_object(properties)) {
        json_object_foreach((json_t *)properties, key, value) {
            size_t size = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
            if (size > best) {
                best = size;
                snprintf(out, out_len, "properties.%s", key);
            }
        }
    }
    return best;
}

int om_prepare_record(json_t *record, const char *collection, size_t max_bytes,
                      om_type *type, char *reason, size_t reason_len)
{
    const char *kind;
    const json_t *id;
    size_t size;
    char shown[64];

    if (!json_is_object(record)) {
        snprintf(reason, reason_len, "unsupported record: not a JSON object");
        return -1;
    }
    kind = json_string_value(json_object_get(record, "@type"));
    if (!kind) {
        snprintf(reason, reason_len,
                 "unsupported record: no \"@type\" (expected contact or custom_event; "
                 "map records with field-mapper's ometria mapping first)");
        return -1;
    }
    if (strcmp(kind, "contact") == 0) {
        *type = OM_TYPE_CONTACT;
    } else if (strcmp(kind, "custom_event") == 0) {
        *type = OM_TYPE_EVENT;
    } else {
        clip(shown, sizeof(shown), kind);
        snprintf(reason, reason_len,
                 "unsupported record: @type \"%s\" (expected contact or custom_event)", shown);
        return -1;
    }
    id = json_object_get(record, "id");
    if (!(json_is_string(id) && json_string_length(id) > 0) && !json_is_integer(id)) {
        snprintf(reason, reason_len, "unsupported record: %s without an \"id\"", kind);
        return -1;
    }
    if (*type == OM_TYPE_CONTACT && !json_object_get(record, "@collection") && collection &&
        json_object_set_new(record, "@collection", json_string(collection)) != 0) {
        snprintf(reason, reason_len, "out of memory setting @collection");
        return -1;
    }
    /* A contact is a partial record more often than not (a webhook delta,
     * a field the mapping leaves out when unknown): "@merge": true tells
     * Ometria to keep the fields it does not carry, which without the flag
     * "may or may not" be blanked. @force_optin would override a consent
     * the member gave through Ometria's own channels: never sent. */
    if (*type == OM_TYPE_CONTACT) {
        json_object_del(record, "@force_optin");
        if (json_object_set_new(record, "@merge", json_true()) != 0) {
            snprintf(reason, reason_len, "out of memory setting @merge");
            return -1;
        }
    }
    size = json_dumpb(record, NULL, 0, JSON_COMPACT);
    if (size == 0) {
        snprintf(reason, reason_len, "record cannot be encoded as JSON");
        return -1;
    }
    if (size > max_bytes) {
        char field[160];
        size_t field_size = largest_field(record, field, sizeof(field));
        if (field_size > 0)
            snprintf(reason, reason_len,
                     "record too large: %zu bytes > %zu (largest field: %s, %zu bytes)", size,
                     max_bytes, field, field_size);
        else
            snprintf(reason, reason_len, "record too large: %zu bytes > %zu", size, max_bytes);
        return -1;
    }
    return 0;
}

char *om_body(json_t *const *records, size_t count, size_t *len)
{
    json_t *array = json_array();
    char *text = NULL;

    if (!array)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        if (json_array_append(array, records[i]) != 0)
            goto out;
    }
    text = json_dumps(array, JSON_COMPACT);
    if (text)
        *len = strlen(text);
out:
    json_decref(array);
    return text;
}

int om_parse_push_result(const char *body, long *accepted, long *rejected)
{
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    const json_t *value;
    int result = -1;

    if (!json_is_object(root))
        goto out;
    value = json_object_get(root, "accepted");
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > OM_COUNT_MAX)
        goto out;
    *accepted = (long)json_integer_value(value);
    value = json_object_get(root, "rejected");
    if (value && (!json_is_integer(value) || json_integer_value(value) < 0 ||
                  json_integer_value(value) > OM_COUNT_MAX))
        goto out;
    *rejected = value ? (long)json_integer_value(value) : 0;
    result = 0;
out:
    json_decref(root);
    return result;
}

/* The record's id as text (strings as is, integers in decimal). */
static void id_text(const json_t *id, char *out, size_t out_len)
{
    if (json_is_string(id))
        snprintf(out, out_len, "%s", json_string_value(id));
    else if (json_is_integer(id))
        snprintf(out, out_len, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else
        out[0] = '\0';
}

/* 1 when the last segment of `path` ("root > properties > x") names a field
 * of `record` (top level or inside "properties"). */
static int path_names_field(const char *path, const json_t *record)
{
    const char *last = strrchr(path, '>');
    const json_t *properties = json_object_get(record, "properties");
    char field[256];
    size_t len;

    last = last ? last + 1 : path;
    while (*last == ' ')
        last++;
    len = strlen(last);
    while (len > 0 && last[len - 1] == ' ')
        len--;
    if (len == 0 || len >= sizeof(field) || strcmp(last, "root") == 0)
        return 0;
    memcpy(field, last, len);
    field[len] = '\0';
    return json_object_get(record, field) != NULL ||
           (json_is_object(properties) && json_object_get(properties, field) != NULL);
}

/* "MESSAGE (PATH)" for one error entry, new string or NULL. */
static char *format_error(const json_t *entry)
{
    const char *message = json_string_value(json_object_get(entry, "error_message"));
    const char *path = json_string_value(json_object_get(entry, "error_path"));
    size_t len;
    char *text;

    if (!message)
        return NULL;
    len = strlen(message) + (path ? strlen(path) : 0) + 4;
    text = malloc(len);
    if (!text)
        return NULL;
    if (path)
        snprintf(text, len, "%s (%s)", message, path);
    else
        snprintf(text, len, "%s", message);
    return text;
}

char *om_match_error(const json_t *errors, const json_t *record)
{
    char wanted[256];
    int answer_has_ids = 0;
    size_t count;

    if (!json_is_array(errors) || !json_is_object(record))
        return NULL;
    id_text(json_object_get(record, "id"), wanted, sizeof(wanted));
    count = json_array_size(errors);
    for (size_t i = count; i-- > 0;) {
        const json_t *entry = json_array_get(errors, i);
        const json_t *record_id = json_object_get(entry, "record_id");
        char have[256];

        if (!record_id || json_is_null(record_id))
            continue;
        answer_has_ids = 1;
        id_text(record_id, have, sizeof(have));
        if (wanted[0] && strcmp(have, wanted) == 0)
            return format_error(entry);
    }
    if (answer_has_ids)
        return NULL;
    /* Ometria's documented answer has no ids: take the newest error about
     * a field this record has (we just sent it alone, so it is likely ours). */
    for (size_t i = count; i-- > 0;) {
        const json_t *entry = json_array_get(errors, i);
        const char *path = json_string_value(json_object_get(entry, "error_path"));
        if (path && path_names_field(path, record))
            return format_error(entry);
    }
    return NULL;
}

/* Copy `text` into out with `secret` masked; always NUL-terminates. */
static void copy_masked(const char *text, const char *secret, char *out, size_t out_len)
{
    size_t used = 0;
    size_t secret_len = secret ? strlen(secret) : 0;
    size_t mask_len = strlen(MASK);

    while (*text && used + 1 < out_len) {
        if (secret_len > 0 && strncmp(text, secret, secret_len) == 0) {
            if (used + mask_len + 1 > out_len)
                break;
            memcpy(out + used, MASK, mask_len);
            used += mask_len;
            text += secret_len;
            continue;
        }
        /* Keep the message on one line. */
        out[used++] = (*text == '\n' || *text == '\r') ? ' ' : *text;
        text++;
    }
    out[used] = '\0';
}

char *om_error_text(const char *body, const char *secret, char *out, size_t out_len)
{
    static const char *const keys[] = {"message", "error", "detail", "error_message"};
    json_t *root;
    const char *text = NULL;

    if (out_len == 0)
        return out;
    root = body && *body ? json_loads(body, 0, NULL) : NULL;
    for (size_t i = 0; json_is_object(root) && i < sizeof(keys) / sizeof(keys[0]); i++) {
        text = json_string_value(json_object_get(root, keys[i]));
        if (text)
            break;
    }
    if (!text)
        text = body && *body ? body : "no details";
    copy_masked(text, secret, out, out_len < 300 ? out_len : 300);
    json_decref(root);
    return out;
}
