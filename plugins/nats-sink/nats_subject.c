/* nats_subject.c: nats-sink's subject template (see nats_subject.h). */
#include <stdio.h>
#include <string.h>

#include "nats_subject.h"

/* Longest field name a placeholder may hold. */
#define FIELD_NAME_MAX 128

/* 1 when `c` may not appear in a subject token. */
static int bad_subject_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '*' || c == '>' ||
           c == '.' || c == '{' || c == '}';
}

int nats_subject_check(const char *tmpl, char *err, size_t err_size)
{
    size_t token_len = 0;

    if (!tmpl || !*tmpl) {
        snprintf(err, err_size, "the subject is empty");
        return -1;
    }
    for (const char *p = tmpl; *p; p++) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t name_len = close ? (size_t)(close - p - 1) : 0;
            if (!close || name_len == 0 || name_len >= FIELD_NAME_MAX ||
                memchr(p + 1, '{', name_len) || memchr(p + 1, '.', name_len)) {
                snprintf(err, err_size, "'{' at column %zu opens no {field} (a name, then '}')",
                         (size_t)(p - tmpl) + 1);
                return -1;
            }
            p = close;
            token_len++;
            continue;
        }
        if (*p == '.') {
            if (token_len == 0) {
                snprintf(err, err_size, "empty token before column %zu (two dots, or a dot "
                         "at an end)", (size_t)(p - tmpl) + 1);
                return -1;
            }
            token_len = 0;
            continue;
        }
        if (bad_subject_char(*p)) {
            snprintf(err, err_size, "'%c' at column %zu cannot be in a subject published to",
                     *p, (size_t)(p - tmpl) + 1);
            return -1;
        }
        token_len++;
    }
    if (token_len == 0) {
        snprintf(err, err_size, "the subject ends with a dot");
        return -1;
    }
    return 0;
}

/* The text of `value` (a string, or an integer written into buf) as one
 * subject token in *text, or NULL when it is neither or not one token. */
static const char *token_of(const json_t *value, char *buf, size_t buf_size)
{
    const char *text = NULL;

    if (json_is_string(value))
        text = json_string_value(value);
    else if (json_is_integer(value)) {
        snprintf(buf, buf_size, "%lld", (long long)json_integer_value(value));
        text = buf;
    }
    if (!text || !*text)
        return NULL;
    for (const char *p = text; *p; p++)
        if (bad_subject_char(*p))
            return NULL;
    return text;
}

int nats_subject_expand(const char *tmpl, const json_t *record, const char *client,
                        char *out, size_t out_size, char *err, size_t err_size)
{
    size_t used = 0;

    if (out_size == 0)
        return -1;
    for (const char *p = tmpl; *p; p++) {
        const char *piece = p;
        size_t piece_len = 1;
        char name[FIELD_NAME_MAX];
        char number[32];

        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t name_len = close ? (size_t)(close - p - 1) : 0;
            if (!close || name_len == 0 || name_len >= sizeof(name)) {
                snprintf(err, err_size, "bad subject template at column %zu",
                         (size_t)(p - tmpl) + 1);
                return -1;
            }
            memcpy(name, p + 1, name_len);
            name[name_len] = '\0';
            if (strcmp(name, "client") == 0 && client)
                piece = client;
            else {
                const json_t *value = json_object_get(record, name);
                if (!value) {
                    snprintf(err, err_size, "the record has no field \"%s\" for the subject",
                             name);
                    return -1;
                }
                if (!(piece = token_of(value, number, sizeof(number)))) {
                    snprintf(err, err_size, "field \"%s\" cannot be a subject token (a "
                             "non-empty string or integer without '.', spaces, '*' or '>')",
                             name);
                    return -1;
                }
            }
            piece_len = strlen(piece);
            p = close;
        }
        if (used + piece_len >= out_size) {
            snprintf(err, err_size, "the subject is longer than %zu bytes", out_size - 1);
            return -1;
        }
        memcpy(out + used, piece, piece_len);
        used += piece_len;
    }
    out[used] = '\0';
    return 0;
}

int nats_subject_pattern(const char *tmpl, char *out, size_t out_size)
{
    size_t used = 0;
    const char *token = tmpl;

    if (out_size == 0)
        return -1;
    while (*token) {
        size_t len = strcspn(token, ".");
        int templated = memchr(token, '{', len) != NULL;
        size_t piece_len = templated ? 1 : len;
        if (used + piece_len + 1 >= out_size)
            return -1;
        memcpy(out + used, templated ? "*" : token, piece_len);
        used += piece_len;
        token += len;
        if (*token == '.')
            out[used++] = *token++;
    }
    out[used] = '\0';
    return 0;
}
