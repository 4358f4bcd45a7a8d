/* infobip_scan.c: what infobip-sink needs of a record (externalId,
 * whether it is an event, whether it has a tags array and where its
 * "tags" member lies) read from the record's JSON text by walking its
 * top-level members, without building a tree: the text can then go into
 * the request body as it arrived (less its "tags"), with no parse and no
 * dump. */
#include "config.h"

#include <string.h>

#include "infobip.h"

/* Index just past the JSON string starting at text[at] (a '"'), or 0 if
 * it does not end within len. *escaped is set when it holds a backslash. */
static size_t string_end(const char *text, size_t len, size_t at, int *escaped)
{
    *escaped = 0;
    for (size_t i = at + 1; i < len; i++) {
        if (text[i] == '\\') {
            *escaped = 1;
            i++;
        } else if (text[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* Index just past the JSON value starting at text[at] (valid JSON, as the
 * core guarantees for a record's text), or 0 if it does not end within len. */
static size_t value_end(const char *text, size_t len, size_t at)
{
    int escaped, depth = 0;
    size_t i = at;

    if (text[at] == '"')
        return string_end(text, len, at, &escaped);
    if (text[at] != '{' && text[at] != '[') {
        /* number, true, false, null */
        while (i < len && !strchr(",}] \t\r\n", text[i]))
            i++;
        return i;
    }
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            i = string_end(text, len, i, &escaped);
            if (i == 0)
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

/* Index of the first non-blank at or after i. */
static size_t skip_blanks(const char *text, size_t len, size_t i)
{
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i;
}

/* infobip_scan_record: see infobip.h. */
int infobip_scan_record(const char *text, size_t len, infobip_record_facts *facts)
{
    size_t i = skip_blanks(text, len, 0);
    size_t comma_at = 0;     /* the comma before the member at hand */
    int after_comma = 0;     /* 1 when the member at hand follows a comma */
    int tags_seen = 0;

    memset(facts, 0, sizeof(*facts));
    if (i >= len || text[i] != '{')
        return -1;
    i = skip_blanks(text, len, i + 1);
    if (i < len && text[i] == '}')
        return 0;
    while (i < len) {
        size_t member_at = i, name_at = i + 1, name_len, value_at, end, next;
        int escaped;

        if (text[i] != '"')
            return -1;
        end = string_end(text, len, i, &escaped);
        if (end == 0 || escaped)
            return -1;
        name_len = end - 1 - name_at;
        i = skip_blanks(text, len, end);
        if (i >= len || text[i] != ':')
            return -1;
        value_at = skip_blanks(text, len, i + 1);
        if (value_at >= len)
            return -1;
        end = value_end(text, len, value_at);
        if (end == 0)
            return -1;
        if (name_len == 10 && memcmp(text + name_at, "externalId", 10) == 0) {
            facts->external_id = NULL;
            if (text[value_at] == '"') {
                if (string_end(text, len, value_at, &escaped) && escaped)
                    return -1;
                facts->external_id = text + value_at + 1;
                facts->external_id_len = end - value_at - 2;
            }
        } else if (name_len == 12 && memcmp(text + name_at, "definitionId", 12) == 0) {
            facts->is_event = 1;
        } else if (name_len == 4 && memcmp(text + name_at, "tags", 4) == 0) {
            if (tags_seen++)
                return -1; /* cutting one of several: leave it to the parser */
            facts->has_tags = text[value_at] == '[';
            facts->tags_text = facts->has_tags ? text + value_at : NULL;
            facts->tags_len = facts->has_tags ? end - value_at : 0;
            /* cut the member with the comma after it, or (the last
             * member) with the comma before it */
            next = skip_blanks(text, len, end);
            facts->tags_cut_at = member_at;
            facts->tags_cut_len = end - member_at;
            if (next < len && text[next] == ',') {
                facts->tags_cut_len = skip_blanks(text, len, next + 1) - member_at;
            } else if (after_comma) {
                facts->tags_cut_at = comma_at;
                facts->tags_cut_len = end - comma_at;
            }
        }
        i = skip_blanks(text, len, end);
        if (i < len && text[i] == '}')
            return skip_blanks(text, len, i + 1) == len ? 0 : -1;
        if (i >= len || text[i] != ',')
            return -1;
        comma_at = i;
        after_comma = 1;
        i = skip_blanks(text, len, i + 1);
    }
    return -1;
}
