/* deriver_rules.c: the derivation rules of docs/loyalty-schema.md as pure
 * functions (see deriver_rules.h). Event ids use OpenSSL's SHA-256. */
#include <config.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "deriver_rules.h"
#include "loytime.h"

static void set_text(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_text(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Concatenation of `parts` (a NULL-terminated list) into out (len > 0
 * bytes), truncated like snprintf. Event ids and times are built several
 * times per record: printf's format parsing was ~4% of process(). */
static char *join_text(char *out, size_t len, const char *const *parts)
{
    size_t used = 0;
    for (size_t i = 0; parts[i] && used + 1 < len; i++) {
        size_t part = strlen(parts[i]);
        if (part > len - 1 - used)
            part = len - 1 - used;
        memcpy(out + used, parts[i], part);
        used += part;
    }
    out[used] = '\0';
    return out;
}

/* Decimal text of v into out[24]. Returns the start of the text. */
static const char *int_text(long long v, char out[24])
{
    unsigned long long magnitude = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char *p = out + 23;
    *p = '\0';
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (v < 0)
        *--p = '-';
    return p;
}

/* Copy of s (caller frees), NULL on ENOMEM. */
static char *dup_string(const char *s)
{
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, s, len + 1);
    return copy;
}

void deriver_config_clear(deriver_config *cfg)
{
    for (size_t i = 0; i < cfg->ladder_count; i++)
        free(cfg->ladder[i].name);
    free(cfg->ladder);
    memset(cfg, 0, sizeof(*cfg));
}

/* Parse close_threshold: an integer, "100" or "10%". 0 or -1. */
static int parse_threshold(const json_t *value, deriver_config *cfg, char *err, size_t errlen)
{
    const char *text;
    char *end;
    if (!value || json_is_null(value)) {
        cfg->threshold_points = 100;
        return 0;
    }
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        cfg->threshold_points = json_integer_value(value);
        return 0;
    }
    text = json_string_value(value);
    if (!text || !*text)
        goto bad;
    errno = 0;
    if (text[strlen(text) - 1] == '%') {
        double percent = strtod(text, &end);
        if (errno || end == text || *end != '%' || end[1] != '\0' || percent < 0 ||
            percent > 100)
            goto bad;
        cfg->threshold_is_percent = 1;
        cfg->threshold_percent = percent;
        return 0;
    } else {
        long long points = strtoll(text, &end, 10);
        if (errno || end == text || *end != '\0' || points < 0)
            goto bad;
        cfg->threshold_points = points;
        return 0;
    }
bad:
    set_text(err, errlen, "close_threshold: expected points (100) or a percentage (\"10%%\")");
    return -1;
}

int deriver_config_parse(const json_t *options, deriver_config *cfg, char *err, size_t errlen)
{
    const json_t *ladder = json_object_get(options, "tier_ladder");
    const json_t *flag;
    json_t *item;
    size_t i;
    int result = -1;

    memset(cfg, 0, sizeof(*cfg));
    cfg->derive_points = 1;
    cfg->derive_opt = 1;
    if (!json_is_array(ladder) || json_array_size(ladder) == 0) {
        set_text(err, errlen, "tier_ladder: a non-empty list of tier names (lowest first) "
                              "or of groups { name = \"Gold\"; points = 5000; } is required");
        goto out;
    }
    cfg->ladder = calloc(json_array_size(ladder), sizeof(deriver_tier));
    if (!cfg->ladder)
        goto out;
    json_array_foreach(ladder, i, item) {
        deriver_tier *tier = &cfg->ladder[i];
        const char *name = json_string_value(item);
        if (json_is_object(item)) {
            const json_t *points = json_object_get(item, "points");
            name = json_string_value(json_object_get(item, "name"));
            if (points && (!json_is_integer(points) || json_integer_value(points) < 0)) {
                set_text(err, errlen, "tier_ladder[%zu]: 'points' must be a non-negative "
                                      "integer", i);
                goto out;
            }
            tier->has_points = points != NULL;
            tier->points = points ? json_integer_value(points) : 0;
        }
        if (!name || !*name) {
            set_text(err, errlen, "tier_ladder[%zu]: a tier name is required", i);
            goto out;
        }
        if (deriver_tier_index(cfg, name) >= 0) {
            set_text(err, errlen, "tier_ladder[%zu]: tier '%s' listed twice", i, name);
            goto out;
        }
        tier->name = dup_string(name);
        if (!tier->name)
            goto out;
        cfg->ladder_count++;
    }
    if (parse_threshold(json_object_get(options, "close_threshold"), cfg, err, errlen))
        goto out;
    if (cfg->threshold_is_percent) {
        for (i = 1; i < cfg->ladder_count; i++) {
            if (!cfg->ladder[i].has_points) {
                set_text(err, errlen, "close_threshold \"%g%%\" needs the entry points of "
                                      "every tier above the first in tier_ladder "
                                      "({ name = ...; points = ...; }); '%s' has none",
                         cfg->threshold_percent, cfg->ladder[i].name);
                goto out;
            }
        }
    }
    if ((flag = json_object_get(options, "derive_points")) && json_is_boolean(flag))
        cfg->derive_points = json_is_true(flag);
    if ((flag = json_object_get(options, "derive_opt")) && json_is_boolean(flag))
        cfg->derive_opt = json_is_true(flag);
    result = 0;
out:
    if (result != 0) {
        if (!err[0])
            set_text(err, errlen, "out of memory");
        deriver_config_clear(cfg);
    }
    return result;
}

int deriver_tier_index(const deriver_config *cfg, const char *tier)
{
    for (size_t i = 0; tier && i < cfg->ladder_count; i++) {
        if (cfg->ladder[i].name && strcmp(cfg->ladder[i].name, tier) == 0)
            return (int)i;
    }
    return -1;
}

/* SHA-256 fetched once per process: EVP_sha256() would make EVP_Digest
 * look the implementation up in the provider tables on every call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
/* Each thread's digest context, reused for every id (EVP_Digest makes and
 * frees one per call); freed when the thread exits or the module is
 * unloaded. */
static pthread_key_t digest_ctx_key;
static int digest_ctx_key_made;

static void digest_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    digest_ctx_key_made = pthread_key_create(&digest_ctx_key, digest_ctx_free) == 0;
}

/* SHA-256 of input into digest (>= EVP_MAX_MD_SIZE). 1, or 0 on error. */
static int sha256_digest(const char *input, size_t len, unsigned char *digest,
                         unsigned int *digest_len)
{
    const EVP_MD *md;
    EVP_MD_CTX *ctx = NULL;
    pthread_once(&sha256_once, sha256_fetch);
    md = sha256_md ? sha256_md : EVP_sha256();
    if (digest_ctx_key_made && !(ctx = pthread_getspecific(digest_ctx_key))) {
        ctx = EVP_MD_CTX_new();
        if (ctx && pthread_setspecific(digest_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    if (!ctx)
        return EVP_Digest(input, len, digest, digest_len, md, NULL);
    return EVP_DigestInit_ex2(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, input, len) == 1 &&
           EVP_DigestFinal_ex(ctx, digest, digest_len) == 1;
}

void deriver_event_id(const char *loyalty_id, const char *event_type,
                      const char *discriminator, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    size_t a = strlen(loyalty_id), b = strlen(event_type), c = strlen(discriminator);
    char small[512];
    /* Ids are short: the stack buffer nearly always fits. */
    char *input = a + b + c + 3 <= sizeof(small) ? small : malloc(a + b + c + 3);
    out[0] = '\0';
    if (!input)
        return;
    memcpy(input, loyalty_id, a);
    input[a] = '|';
    memcpy(input + a + 1, event_type, b);
    input[a + 1 + b] = '|';
    memcpy(input + a + b + 2, discriminator, c);
    if (sha256_digest(input, a + b + c + 2, digest, &digest_len) && digest_len >= 16) {
        for (int i = 0; i < 16; i++) {
            out[2 * i] = hex[digest[i] >> 4];
            out[2 * i + 1] = hex[digest[i] & 15];
        }
        out[32] = '\0';
    }
    if (input != small)
        free(input);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/* Check a points value (present, non-null). 0, or -1 with the reason. */
static int check_points(const json_t *value, const char *name, char *reason, size_t len)
{
    char *shown;
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        return 0;
    shown = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    set_text(reason, len, "field '%s': not a non-negative integer: '%.60s'", name,
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
        set_text(reason, len, "field '%s': not a %s: '%.60s'", name,
                 kind == 'd' ? "date" : "timestamp", text);
    } else {
        set_text(reason, len, "field '%s': not a %s", name, kind == 'd' ? "date" : "timestamp");
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

/* The keys of the member state, in the order the step first adds them
 * to a new state (so a rebuilt state keeps the key order it always had). */
typedef enum state_key {
    STATE_ANNIVERSARIES, STATE_LOYALTY_ID, STATE_AS_OF, STATE_EMAIL, STATE_OPT_IN_STATUS,
    STATE_EARNED_POINTS, STATE_USED_POINTS, STATE_CURRENT_TIER, STATE_TIER_ACHIEVE_DATE,
    STATE_POINTS_REQ_FOR_NEXT_TIER, STATE_NEXT_TIER, STATE_OPT_IN_DATE, STATE_ARMED,
    STATE_KEY_COUNT
} state_key;

static const char *const state_key_names[STATE_KEY_COUNT] = {
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
        name_table_add(&state_names, state_key_names[i], i);
}

/* The values of `state`'s known keys (borrowed; NULL when absent). */
static void state_values(const json_t *state, const json_t *values[STATE_KEY_COUNT])
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
        set_text(reason, len, "field '%s': not \"yes\" or \"no\"", name);
        return -1;
    case FIELD_ACTIVE:
        if (text && (strcmp(text, "active") == 0 || strcmp(text, "inactive") == 0))
            return 0;
        set_text(reason, len, "field '%s': not \"active\" or \"inactive\"", name);
        return -1;
    case FIELD_TIER:
        if (deriver_tier_index(cfg, text) >= 0)
            return 0;
        shown = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        set_text(reason, len, "field '%s': %.60s is not on the tier ladder", name,
                 shown ? shown : "?");
        free(shown);
        return -1;
    case FIELD_TEXT_LIST:
        if (!json_is_array(value))
            break;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item)) {
                set_text(reason, len, "field '%s': item %zu is not a string", name, i);
                return -1;
            }
        }
        return 0;
    }
    set_text(reason, len, "field '%s': not a %s", name,
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
        set_text(reason, len, "missing required field loyalty_id");
        return -1;
    }
    out->loyalty_id = loyalty_id;
    if (!as_of || json_is_null(as_of)) {
        set_text(reason, len, "missing required field as_of");
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

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Two decimal digits of v (0..99) at out. */
static void put_2digits(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

/* `YYYY-MM-DD` of UTC day `day` into out (>= LOYTIME_DATE_LEN): the same
 * text as loytime_format_date, without printf (this runs several times per
 * record). Returns out. */
static char *format_date(int64_t day, char *out, size_t len)
{
    int64_t year;
    unsigned month, mday;
    loytime_civil_from_days(day, &year, &month, &mday);
    if (year < 0 || year > 9999 || len < 11)
        return loytime_format_date(day, out, len);
    put_2digits(out, (unsigned)(year / 100));
    put_2digits(out + 2, (unsigned)(year % 100));
    out[4] = '-';
    put_2digits(out + 5, month);
    out[7] = '-';
    put_2digits(out + 8, mday);
    out[10] = '\0';
    return out;
}

/* `YYYY-MM-DDTHH:MM:SSZ` of `epoch` into out (>= LOYTIME_TS_LEN), the same
 * text as loytime_format_timestamp. Returns out. */
static char *format_timestamp(int64_t epoch, char *out, size_t len)
{
    int64_t day = loytime_day_of(epoch), second = epoch - day * 86400;
    if (len < 21 || !format_date(day, out, len) || out[10] != '\0')
        return loytime_format_timestamp(epoch, out, len);
    out[10] = 'T';
    put_2digits(out + 11, (unsigned)(second / 3600));
    out[13] = ':';
    put_2digits(out + 14, (unsigned)(second / 60 % 60));
    out[16] = ':';
    put_2digits(out + 17, (unsigned)(second % 60));
    out[19] = 'Z';
    out[20] = '\0';
    return out;
}

/* The constant strings of every derived event, made once and shared by
 * reference (nothing in sluice changes a JSON string in place). */
static const char *const event_types[] = { "opt_in", "opt_out", "point_accrual",
                                           "point_redemption", "tier_upgrade",
                                           "tier_downgrade", "tier_anniversary",
                                           "close_to_tier_upgrade", NULL };
static json_t *event_type_strings[sizeof(event_types) / sizeof(event_types[0])];
static json_t *kind_event_string, *origin_derived_string;
static pthread_once_t event_strings_once = PTHREAD_ONCE_INIT;

static void event_strings_make(void)
{
    for (size_t i = 0; event_types[i]; i++)
        event_type_strings[i] = json_string(event_types[i]);
    kind_event_string = json_string("event");
    origin_derived_string = json_string("derived");
}

/* Frees the process-wide constants (the shared strings above and the
 * fetched SHA-256) when the module is unloaded: a host that dlcloses the
 * plugin would otherwise lose them (LeakSanitizer reports them). */
__attribute__((destructor)) static void deriver_constants_free(void)
{
    for (size_t i = 0; event_types[i]; i++) {
        json_decref(event_type_strings[i]);
        event_type_strings[i] = NULL;
    }
    json_decref(kind_event_string);
    json_decref(origin_derived_string);
    kind_event_string = origin_derived_string = NULL;
    if (digest_ctx_key_made) {
        EVP_MD_CTX_free(pthread_getspecific(digest_ctx_key));
        pthread_setspecific(digest_ctx_key, NULL);
        pthread_key_delete(digest_ctx_key);
        digest_ctx_key_made = 0;
    }
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}

/* A reference to the shared string `text` (one of event_types or "event"/
 * "derived" via `shared`), or a new string when it is not shared. */
static json_t *shared_string(json_t *shared, const char *text)
{
    return shared ? json_incref(shared) : json_string(text);
}

static json_t *event_type_string(const char *type)
{
    for (size_t i = 0; event_types[i]; i++) {
        if (strcmp(event_types[i], type) == 0)
            return shared_string(event_type_strings[i], type);
    }
    return json_string(type);
}

/* Set obj[key] (key an ASCII literal) to a new string holding text. */
static void set_text_field(json_t *obj, const char *key, const char *text)
{
    json_object_set_new_nocheck(obj, key, json_string(text));
}

/* Append one derived event (properties stolen) to `events`. `loyalty_id`
 * is the id's JSON string (the event takes a reference). */
static void add_event(json_t *events, const char *type, const json_t *loyalty_id,
                      const json_t *email, const char *occurred_at, const char *discriminator,
                      json_t *properties)
{
    char id[33];
    json_t *event = json_object();
    deriver_event_id(json_string_value(loyalty_id), type, discriminator, id);
    if (!event) {
        json_decref(properties);
        return;
    }
    /* Keys are ASCII literals and type, id and occurred_at are ASCII the
     * deriver wrote: no UTF-8 check needed. */
    pthread_once(&event_strings_once, event_strings_make);
    json_object_set_new_nocheck(event, "kind", shared_string(kind_event_string, "event"));
    json_object_set_new_nocheck(event, "event_type", event_type_string(type));
    json_object_set_new_nocheck(event, "event_id", json_stringn_nocheck(id, strlen(id)));
    json_object_set_nocheck(event, "loyalty_id", (json_t *)loyalty_id);
    if (json_is_string(email))
        json_object_set_nocheck(event, "email", (json_t *)email);
    json_object_set_new_nocheck(event, "occurred_at",
                                json_stringn_nocheck(occurred_at, strlen(occurred_at)));
    json_object_set_new_nocheck(event, "origin", shared_string(origin_derived_string, "derived"));
    json_object_set_new_nocheck(event, "properties", properties ? properties : json_object());
    json_array_append_new(events, event);
}

static int get_int(const json_t *obj, const char *key, long long *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value))
        return 0;
    *out = json_integer_value(value);
    return 1;
}

/* Number of anniversaries of `achieved` (day) on or before `day`. */
static long long anniversaries_passed(int64_t achieved, int64_t day)
{
    long long n = 0;
    while (loytime_add_years(achieved, n + 1) <= day)
        n++;
    return n;
}

int64_t deriver_next_anniversary(const json_t *state)
{
    const char *achieved = json_string_value(json_object_get(state, "tier_achieve_date"));
    long long done = 0;
    int64_t day;
    if (!achieved || !json_is_string(json_object_get(state, "current_tier")) ||
        loytime_parse_date(achieved, &day))
        return DERIVER_NO_DAY;
    get_int(state, "anniversaries", &done);
    return loytime_add_years(day, done + 1);
}

int deriver_anniversaries(const json_t *state, int64_t day, json_t *events,
                          json_t **new_state)
{
    const char *achieved = json_string_value(json_object_get(state, "tier_achieve_date"));
    const char *tier = json_string_value(json_object_get(state, "current_tier"));
    const json_t *loyalty_id = json_object_get(state, "loyalty_id");
    long long done = 0;
    int64_t start;
    int fired = 0;

    *new_state = NULL;
    if (!achieved || !tier || !json_is_string(loyalty_id) || loytime_parse_date(achieved, &start))
        return 0;
    get_int(state, "anniversaries", &done);
    while (loytime_add_years(start, done + 1) <= day) {
        char date[LOYTIME_DATE_LEN], when[LOYTIME_TS_LEN + 8], discriminator[512];
        json_t *properties;
        done++;
        format_date(loytime_add_years(start, done), date, sizeof(date));
        char count[24];
        join_text(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
        join_text(discriminator, sizeof(discriminator),
                  (const char *const[]){ tier, ":", achieved, ":", int_text(done, count), NULL });
        properties = json_object();
        if (properties) {
            set_text_field(properties, "tier", tier);
            set_text_field(properties, "tier_achieve_date", achieved);
            json_object_set_new_nocheck(properties, "years", json_integer(done));
        }
        add_event(events, "tier_anniversary", loyalty_id, json_object_get(state, "email"),
                  when, discriminator, properties);
        fired++;
    }
    if (fired) {
        *new_state = json_copy((json_t *)state);
        json_object_set_new_nocheck(*new_state, "anniversaries", json_integer(done));
    }
    return fired;
}

/* The close-to-upgrade threshold for the member's next tier, or -1 when
 * it cannot be computed (percentage without the next tier's points). */
static double close_threshold(const deriver_config *cfg, const char *next_tier)
{
    int index;
    if (!cfg->threshold_is_percent)
        return (double)cfg->threshold_points;
    index = deriver_tier_index(cfg, next_tier);
    if (index < 0 || !cfg->ladder[index].has_points)
        return -1;
    return (double)cfg->ladder[index].points * cfg->threshold_percent / 100.0;
}

deriver_outcome deriver_step(const deriver_config *cfg, const json_t *state,
                             const json_t *record, int64_t clock_day, json_t *events,
                             json_t **new_state, char *reason, size_t reasonlen)
{
    deriver_record checked;
    *new_state = NULL;
    if (deriver_validate_record(cfg, record, &checked, reason, reasonlen))
        return DERIVER_REJECT;
    return deriver_step_record(cfg, state, &checked, clock_day, events, new_state, reason,
                               reasonlen);
}

/* A points value of a record field or state key: 1 with *out set when it
 * is an integer, else 0. */
static int int_value(const json_t *value, long long *out)
{
    if (!json_is_integer(value))
        return 0;
    *out = json_integer_value(value);
    return 1;
}

/* The new state as a new object: `state`'s keys in their order with the
 * values of `updated` (NULL: keep the old value), other keys kept, then
 * the keys `updated` adds, in state_key order. NULL on ENOMEM. */
static json_t *state_build(const json_t *state, json_t *const updated[STATE_KEY_COUNT])
{
    json_t *next = json_object();
    int present[STATE_KEY_COUNT] = { 0 };
    if (!next)
        return NULL;
    for (void *it = json_object_iter((json_t *)state); it;
         it = json_object_iter_next((json_t *)state, it)) {
        const char *key = json_object_iter_key(it);
        json_t *value = json_object_iter_value(it);
        int index = name_table_find(&state_names, key, json_object_iter_key_len(it));
        if (index >= 0) {
            present[index] = 1;
            if (updated[index])
                value = updated[index];
        }
        if (json_object_set_nocheck(next, key, value) != 0)
            goto oom;
    }
    for (int i = 0; i < STATE_KEY_COUNT; i++) {
        if (!present[i] && updated[i] &&
            json_object_set_nocheck(next, state_key_names[i], updated[i]) != 0)
            goto oom;
    }
    return next;
oom:
    json_decref(next);
    return NULL;
}

deriver_outcome deriver_step_record(const deriver_config *cfg, const json_t *state,
                                    const deriver_record *record, int64_t clock_day,
                                    json_t *events, json_t **new_state, char *reason,
                                    size_t reasonlen)
{
    /* Record fields the new state takes (when present; null only counts
     * for next_tier, "known empty" at the top tier). */
    static const struct {
        deriver_field field;
        state_key key;
    } copied[] = { { DERIVER_F_OPT_IN_STATUS, STATE_OPT_IN_STATUS },
                   { DERIVER_F_EARNED_POINTS, STATE_EARNED_POINTS },
                   { DERIVER_F_USED_POINTS, STATE_USED_POINTS },
                   { DERIVER_F_CURRENT_TIER, STATE_CURRENT_TIER },
                   { DERIVER_F_TIER_ACHIEVE_DATE, STATE_TIER_ACHIEVE_DATE },
                   { DERIVER_F_POINTS_REQ_FOR_NEXT_TIER, STATE_POINTS_REQ_FOR_NEXT_TIER },
                   { DERIVER_F_NEXT_TIER, STATE_NEXT_TIER } };
    const json_t *old[STATE_KEY_COUNT];
    json_t *updated[STATE_KEY_COUNT] = { NULL };
    json_t *owned_anniversaries = NULL, *owned_as_of = NULL;
    const json_t *const *fields = record->fields;
    const json_t *loyalty_id_value = record->loyalty_id;
    const json_t *email = fields[DERIVER_F_EMAIL];
    const char *rec_opt = json_string_value(fields[DERIVER_F_OPT_IN_STATUS]);
    const char *rec_tier = json_string_value(fields[DERIVER_F_CURRENT_TIER]);
    const char *rec_achieved = json_string_value(fields[DERIVER_F_TIER_ACHIEVE_DATE]);
    const char *old_opt, *old_tier, *old_achieved;
    char as_of_text[LOYTIME_TS_LEN], as_of_date[LOYTIME_DATE_LEN];
    int64_t as_of = record->as_of;
    long long old_value, new_value;
    int first = state == NULL, tier_changed = 0, armed;
    deriver_outcome outcome = DERIVER_REJECT;
    const json_t *value;

    *new_state = NULL;
    state_values(state, old);
    old_opt = json_string_value(old[STATE_OPT_IN_STATUS]);
    old_tier = json_string_value(old[STATE_CURRENT_TIER]);
    old_achieved = json_string_value(old[STATE_TIER_ACHIEVE_DATE]);
    if (!first && json_is_integer(old[STATE_AS_OF]) &&
        as_of < json_integer_value(old[STATE_AS_OF]))
        return DERIVER_STALE;
    if (!json_is_string(email))
        email = old[STATE_EMAIL];
    format_timestamp(as_of, as_of_text, sizeof(as_of_text));
    format_date(loytime_day_of(as_of), as_of_date, sizeof(as_of_date));

    /* 4/5. Opt-in and opt-out. */
    if (cfg->derive_opt && rec_opt) {
        if (strcmp(rec_opt, "yes") == 0 && (!old_opt || strcmp(old_opt, "yes") != 0)) {
            int64_t opt_in;
            char when[LOYTIME_TS_LEN];
            const char *given = json_string_value(fields[DERIVER_F_OPT_IN_DATE]);
            if (given && loytime_parse_date_or_timestamp(given, &opt_in) == 0)
                format_timestamp(opt_in, when, sizeof(when));
            else
                join_text(when, sizeof(when), (const char *const[]){ as_of_text, NULL });
            json_t *properties = json_object();
            if (properties)
                set_text_field(properties, "opt_in_date", when);
            add_event(events, "opt_in", loyalty_id_value, email, when, when, properties);
        } else if (!first && strcmp(rec_opt, "no") == 0 && old_opt &&
                   strcmp(old_opt, "yes") == 0) {
            char date[LOYTIME_DATE_LEN + 4], when[LOYTIME_TS_LEN + 8];
            const char *given = json_string_value(fields[DERIVER_F_OPT_OUT_DATE]);
            join_text(date, sizeof(date), (const char *const[]){ given ? given : as_of_date, NULL });
            join_text(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
            json_t *properties = json_object();
            if (properties)
                set_text_field(properties, "opt_out_date", date);
            add_event(events, "opt_out", loyalty_id_value, email, when, date, properties);
        }
    }

    /* 6. Points: increases only, never on first sight. */
    if (cfg->derive_points && !first) {
        static const struct {
            const char *field, *type, *tag;
            state_key key;
            deriver_field record_field;
        } counters[] = {
            { "earned_points", "point_accrual", "earned", STATE_EARNED_POINTS,
              DERIVER_F_EARNED_POINTS },
            { "used_points", "point_redemption", "used", STATE_USED_POINTS,
              DERIVER_F_USED_POINTS } };
        for (size_t i = 0; i < 2; i++) {
            if (int_value(old[counters[i].key], &old_value) &&
                int_value(fields[counters[i].record_field], &new_value) &&
                new_value > old_value) {
                char discriminator[96];
                json_t *properties = json_object();
                long long available;
                if (properties) {
                    json_object_set_new_nocheck(properties, "points",
                                                json_integer(new_value - old_value));
                    json_object_set_new_nocheck(properties, counters[i].field,
                                                json_integer(new_value));
                    if (int_value(fields[DERIVER_F_AVAILABLE_POINTS], &available))
                        json_object_set_new_nocheck(properties, "available_points",
                                                    json_integer(available));
                }
                char old_text[24], new_text[24];
                join_text(discriminator, sizeof(discriminator),
                          (const char *const[]){ counters[i].tag, ":",
                                                 int_text(old_value, old_text), ":",
                                                 int_text(new_value, new_text), NULL });
                add_event(events, counters[i].type, loyalty_id_value, email, as_of_text,
                          discriminator, properties);
            }
        }
    }

    /* 7. Tier changes. The anniversary count restarts: anniversaries of
     * the (new) achieve date already passed by the clock count as done. */
    if (!first && rec_tier && old_tier && strcmp(rec_tier, old_tier) != 0) {
        char date[LOYTIME_DATE_LEN + 4], when[LOYTIME_TS_LEN + 8], discriminator[512];
        const char *type = deriver_tier_index(cfg, rec_tier) > deriver_tier_index(cfg, old_tier)
                               ? "tier_upgrade" : "tier_downgrade";
        tier_changed = 1;
        /* Without a tier_achieve_date the tier changed on the as_of date. */
        join_text(date, sizeof(date),
                  (const char *const[]){ rec_achieved ? rec_achieved : as_of_date, NULL });
        join_text(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
        join_text(discriminator, sizeof(discriminator),
                  (const char *const[]){ old_tier, ":", rec_tier, ":", date, NULL });
        json_t *properties = json_object();
        if (properties) {
            set_text_field(properties, "from_tier", old_tier);
            set_text_field(properties, "to_tier", rec_tier);
            set_text_field(properties, "tier_achieve_date", date);
        }
        add_event(events, type, loyalty_id_value, email, when, discriminator, properties);
    }
    {
        const char *achieved = rec_achieved ? rec_achieved : old_achieved;
        int achieved_changed = rec_achieved && (!old_achieved ||
                                                strcmp(rec_achieved, old_achieved) != 0);
        int64_t achieved_day;
        if (first || tier_changed || achieved_changed) {
            long long passed = 0;
            if (achieved && loytime_parse_date(achieved, &achieved_day) == 0)
                passed = anniversaries_passed(achieved_day, clock_day);
            owned_anniversaries = json_integer(passed);
            if (!owned_anniversaries)
                goto oom;
            updated[STATE_ANNIVERSARIES] = owned_anniversaries;
        }
    }

    /* 8. Close to upgrade: fires once per approach. */
    armed = first || tier_changed || !json_is_false(old[STATE_ARMED]);
    if (int_value(fields[DERIVER_F_POINTS_REQ_FOR_NEXT_TIER], &new_value)) {
        value = fields[DERIVER_F_NEXT_TIER];
        const char *next_tier = json_string_value(value ? value : old[STATE_NEXT_TIER]);
        const char *current = rec_tier ? rec_tier : old_tier;
        double threshold = close_threshold(cfg, next_tier);
        if (threshold >= 0 && (double)new_value > threshold) {
            armed = 1;
        } else if (threshold >= 0 && armed && new_value > 0 && next_tier && current) {
            char discriminator[512];
            join_text(discriminator, sizeof(discriminator),
                      (const char *const[]){ current, ":", next_tier, ":", as_of_date, NULL });
            json_t *properties = json_object();
            if (properties) {
                set_text_field(properties, "current_tier", current);
                set_text_field(properties, "next_tier", next_tier);
                json_object_set_new_nocheck(properties, "points_req_for_next_tier",
                                            json_integer(new_value));
            }
            add_event(events, "close_to_tier_upgrade", loyalty_id_value, email, as_of_text,
                      discriminator, properties);
            armed = 0;
        }
    }

    /* The new state: the record's known fields over the old ones. */
    updated[STATE_LOYALTY_ID] = (json_t *)loyalty_id_value;
    owned_as_of = json_integer(as_of);
    if (!owned_as_of)
        goto oom;
    updated[STATE_AS_OF] = owned_as_of;
    if (json_is_string(email))
        updated[STATE_EMAIL] = (json_t *)email;
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        value = fields[copied[i].field];
        if (value && (!json_is_null(value) || copied[i].key == STATE_NEXT_TIER))
            updated[copied[i].key] = (json_t *)value;
    }
    if (rec_opt && strcmp(rec_opt, "yes") == 0 && json_is_string(fields[DERIVER_F_OPT_IN_DATE]))
        updated[STATE_OPT_IN_DATE] = (json_t *)fields[DERIVER_F_OPT_IN_DATE];
    updated[STATE_ARMED] = json_boolean(armed);
    *new_state = state_build(state, updated);
    if (!*new_state)
        goto oom;
    outcome = DERIVER_OK;
    goto out;
oom:
    set_text(reason, reasonlen, "out of memory");
out:
    json_decref(owned_anniversaries);
    json_decref(owned_as_of);
    return outcome;
}
