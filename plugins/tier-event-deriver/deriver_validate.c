/* deriver_validate.c: validation of canonical member records against the
 * schema of docs/loyalty-schema.md, and key lookup in records and member
 * states without hashing. */
#include <config.h>

#include <pthread.h>
#include <string.h>

#include "deriver_internal.h"
#include "loytime.h"
#include "plugin_text.h"

/* Check a points value (present, non-null). 0, or -1 with the reason. */
static int check_points(const json_t *value, const char *name, char *reason, size_t len)
{
    char *shown;
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        return 0;
    shown = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    text_format(reason, len, "field '%s': not a non-negative integer: '%.60s'", name,
             shown ? shown : "?");
    free(shown);
    return -1;
}

/* Check field `name`'s value (NULL: absent): kind 'd' date, 't' timestamp,
 * 'e' either; null allowed when nullable. Returns 0 (and the parsed day or
 * epoch in *parsed_out when given and parsed), or -1 with the reason. */
static int check_date(const json_t *value, const char *name, char kind, int nullable,
                      int64_t *parsed_out, char *reason, size_t len)
{
    const char *text = json_string_value(value);
    int64_t parsed;
    int ok;
    if (!value || (nullable && json_is_null(value)))
        return 0;
    if (kind == 'd')
        ok = text && loytime_parse_date(text, &parsed) == 0;
    else if (kind == 't')
        ok = text && loytime_parse_timestamp(text, &parsed) == 0;
    else
        ok = text && loytime_parse_date_or_timestamp(text, &parsed) == 0;
    if (ok) {
        if (parsed_out)
            *parsed_out = parsed;
        return 0;
    }
    if (text) {
        text_format(reason, len, "field '%s': not a %s: '%.60s'", name,
                 kind == 'd' ? "date" : "timestamp", text);
    } else {
        text_format(reason, len, "field '%s': not a %s", name, kind == 'd' ? "date" : "timestamp");
    }
    return -1;
}

/* How each canonical member field is checked, in the schema's table order
 * (the first invalid field is the one named). */
typedef enum field_kind {
    FIELD_TEXT, FIELD_DATE, FIELD_TIMESTAMP, FIELD_POINTS, FIELD_YES_NO, FIELD_ACTIVE,
    FIELD_TIER, FIELD_TEXT_LIST
} field_kind;

static const struct {
    const char *name;
    field_kind kind;
} member_fields[DERIVER_FIELD_COUNT] = {
    [DERIVER_F_FIRST_NAME] = { "first_name", FIELD_TEXT },
    [DERIVER_F_LAST_NAME] = { "last_name", FIELD_TEXT },
    [DERIVER_F_EMAIL] = { "email", FIELD_TEXT },
    [DERIVER_F_ACTIVE_STATUS] = { "active_status", FIELD_ACTIVE },
    [DERIVER_F_BIRTHDAY] = { "birthday", FIELD_DATE },
    [DERIVER_F_ANNIVERSARY_DATE] = { "anniversary_date", FIELD_DATE },
    [DERIVER_F_PHONE] = { "phone", FIELD_TEXT },
    [DERIVER_F_ZIP_CODE] = { "zip_code", FIELD_TEXT },
    [DERIVER_F_OPT_IN_STATUS] = { "opt_in_status", FIELD_YES_NO },
    [DERIVER_F_OPT_IN_DATE] = { "opt_in_date", FIELD_TIMESTAMP },
    [DERIVER_F_OPT_OUT_DATE] = { "opt_out_date", FIELD_DATE },
    [DERIVER_F_AVAILABLE_POINTS] = { "available_points", FIELD_POINTS },
    [DERIVER_F_EARNED_POINTS] = { "earned_points", FIELD_POINTS },
    [DERIVER_F_USED_POINTS] = { "used_points", FIELD_POINTS },
    [DERIVER_F_HOLD_POINTS] = { "hold_points", FIELD_POINTS },
    [DERIVER_F_NEXT_EXPIRING_POINTS] = { "next_expiring_points", FIELD_POINTS },
    [DERIVER_F_POINTS_EXPIRATION_DATE] = { "points_expiration_date", FIELD_DATE },
    [DERIVER_F_EXPIRED_POINTS] = { "expired_points", FIELD_POINTS },
    [DERIVER_F_CURRENT_TIER] = { "current_tier", FIELD_TIER },
    [DERIVER_F_NEXT_TIER] = { "next_tier", FIELD_TEXT },
    [DERIVER_F_POINTS_REQ_FOR_NEXT_TIER] = { "points_req_for_next_tier", FIELD_POINTS },
    [DERIVER_F_TIER_ACHIEVE_DATE] = { "tier_achieve_date", FIELD_DATE },
    [DERIVER_F_AVAILABLE_REWARDS] = { "available_rewards", FIELD_TEXT_LIST },
    [DERIVER_F_POINTS_REQ_FOR_NEXT_REWARD] = { "points_req_for_next_reward", FIELD_POINTS },
    [DERIVER_F_HIGHEST_AVAILABLE_REWARD] = { "highest_available_reward", FIELD_TEXT },
    [DERIVER_F_FIRST_ACTIVITY_DATE] = { "first_activity_date", FIELD_DATE },
    [DERIVER_F_LAST_ACTIVITY_DATE] = { "last_activity_date", FIELD_DATE },
    [DERIVER_F_FIRST_PURCHASE_DATE] = { "first_purchase_date", FIELD_DATE },
    [DERIVER_F_LAST_PURCHASE_DATE] = { "last_purchase_date", FIELD_DATE },
    [DERIVER_F_SEGMENTS] = { "segments", FIELD_TEXT_LIST },
};

const char *const deriver_state_key_names[STATE_KEY_COUNT] = {
    "anniversaries", "loyalty_id", "as_of", "email", "opt_in_status", "earned_points",
    "used_points", "current_tier", "tier_achieve_date", "points_req_for_next_tier",
    "next_tier", "opt_in_date", "armed"
};

/* Record keys besides the typed fields that validation reads. */
enum { RECORD_LOYALTY_ID = DERIVER_FIELD_COUNT, RECORD_AS_OF };

/* Key name -> index, without jansson's string hashing (a record's and a
 * state's keys are matched while iterating over them, so the deriver
 * hashes no key to read a record or a state): open addressing on length
 * and the first and last characters, built once. */
#define NAME_SLOTS 128
typedef struct name_table {
    struct {
        const char *name; /* NULL: empty slot */
        size_t len;
        int index;
    } slots[NAME_SLOTS];
} name_table;

static name_table record_names, state_names;
static pthread_once_t name_tables_once = PTHREAD_ONCE_INIT;

static unsigned name_slot(const char *key, size_t len)
{
    return ((unsigned)len * 31u + (unsigned char)key[0] * 7u +
            (unsigned char)key[len - 1]) & (NAME_SLOTS - 1);
}

static void name_table_add(name_table *table, const char *name, int index)
{
    size_t len = strlen(name);
    unsigned slot = name_slot(name, len);
    while (table->slots[slot].name)
        slot = (slot + 1) & (NAME_SLOTS - 1);
    table->slots[slot].name = name;
    table->slots[slot].len = len;
    table->slots[slot].index = index;
}

/* Index of key (len bytes) in table, or -1. */
static int name_table_find(const name_table *table, const char *key, size_t len)
{
    if (len == 0)
        return -1;
    for (unsigned slot = name_slot(key, len); table->slots[slot].name;
         slot = (slot + 1) & (NAME_SLOTS - 1)) {
        if (table->slots[slot].len == len && memcmp(table->slots[slot].name, key, len) == 0)
            return table->slots[slot].index;
    }
    return -1;
}

static void name_tables_make(void)
{
    for (int i = 0; i < DERIVER_FIELD_COUNT; i++)
        name_table_add(&record_names, member_fields[i].name, i);
    name_table_add(&record_names, "loyalty_id", RECORD_LOYALTY_ID);
    name_table_add(&record_names, "as_of", RECORD_AS_OF);
    for (int i = 0; i < STATE_KEY_COUNT; i++)
        name_table_add(&state_names, deriver_state_key_names[i], i);
}

int deriver_state_key(const char *key, size_t len)
{
    pthread_once(&name_tables_once, name_tables_make);
    return name_table_find(&state_names, key, len);
}

void deriver_state_values(const json_t *state, const json_t *values[STATE_KEY_COUNT])
{
    memset(values, 0, STATE_KEY_COUNT * sizeof(*values));
    pthread_once(&name_tables_once, name_tables_make);
    for (void *it = json_object_iter((json_t *)state); it;
         it = json_object_iter_next((json_t *)state, it)) {
        int index = name_table_find(&state_names, json_object_iter_key(it),
                                    json_object_iter_key_len(it));
        if (index >= 0)
            values[index] = json_object_iter_value(it);
    }
}

/* Check one present, non-null field. 0, or -1 with the reason. */
static int check_field(const deriver_config *cfg, const char *name, field_kind kind,
                       const json_t *value, char *reason, size_t len)
{
    const char *text = json_string_value(value);
    char *shown;
    size_t i;
    json_t *item;

    switch (kind) {
    case FIELD_DATE:
        return check_date(value, name, 'd', 1, NULL, reason, len);
    case FIELD_TIMESTAMP:
        return check_date(value, name, 't', 1, NULL, reason, len);
    case FIELD_POINTS:
        return check_points(value, name, reason, len);
    case FIELD_TEXT:
        if (text)
            return 0;
        break;
    case FIELD_YES_NO:
        if (text && (strcmp(text, "yes") == 0 || strcmp(text, "no") == 0))
            return 0;
        text_format(reason, len, "field '%s': not \"yes\" or \"no\"", name);
        return -1;
    case FIELD_ACTIVE:
        if (text && (strcmp(text, "active") == 0 || strcmp(text, "inactive") == 0))
            return 0;
        text_format(reason, len, "field '%s': not \"active\" or \"inactive\"", name);
        return -1;
    case FIELD_TIER:
        if (deriver_tier_index(cfg, text) >= 0)
            return 0;
        shown = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        text_format(reason, len, "field '%s': %.60s is not on the tier ladder", name,
                 shown ? shown : "?");
        free(shown);
        return -1;
    case FIELD_TEXT_LIST:
        if (!json_is_array(value))
            break;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item)) {
                text_format(reason, len, "field '%s': item %zu is not a string", name, i);
                return -1;
            }
        }
        return 0;
    }
    text_format(reason, len, "field '%s': not a %s", name,
             kind == FIELD_TEXT_LIST ? "list of strings" : "string");
    return -1;
}

int deriver_validate_record(const deriver_config *cfg, const json_t *record,
                            deriver_record *out, char *reason, size_t len)
{
    /* Every typed field of the canonical member record is checked, so a
     * malformed record never reaches a destination half-understood. The
     * record's keys are read in one pass (no key hashed), then checked in
     * the schema's table order. */
    const json_t *loyalty_id = NULL, *as_of = NULL;
    const char *text;

    memset(out, 0, sizeof(*out));
    pthread_once(&name_tables_once, name_tables_make);
    for (void *it = json_object_iter((json_t *)record); it;
         it = json_object_iter_next((json_t *)record, it)) {
        int index = name_table_find(&record_names, json_object_iter_key(it),
                                    json_object_iter_key_len(it));
        if (index < 0)
            continue;
        if (index == RECORD_LOYALTY_ID)
            loyalty_id = json_object_iter_value(it);
        else if (index == RECORD_AS_OF)
            as_of = json_object_iter_value(it);
        else
            out->fields[index] = json_object_iter_value(it);
    }
    text = json_string_value(loyalty_id);
    if (!text || !*text) {
        text_format(reason, len, "missing required field loyalty_id");
        return -1;
    }
    out->loyalty_id = loyalty_id;
    if (!as_of || json_is_null(as_of)) {
        text_format(reason, len, "missing required field as_of");
        return -1;
    }
    if (check_date(as_of, "as_of", 't', 0, &out->as_of, reason, len))
        return -1;
    for (int i = 0; i < DERIVER_FIELD_COUNT; i++) {
        const json_t *value = out->fields[i];
        if (!value || json_is_null(value))
            continue;
        if (check_field(cfg, member_fields[i].name, member_fields[i].kind, value, reason, len))
            return -1;
    }
    return 0;
}

int deriver_validate(const deriver_config *cfg, const json_t *record, int64_t *as_of,
                     char *reason, size_t len)
{
    deriver_record checked;
    if (deriver_validate_record(cfg, record, &checked, reason, len))
        return -1;
    *as_of = checked.as_of;
    return 0;
}

