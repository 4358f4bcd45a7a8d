/* tests/emulators/ometria_emu.c: a strict loopback emulator of Ometria's Data API push endpoint.
 *
 * Speaks what /work/shared/reference/ometria-api.md documents:
 *   POST /v2/push          X-Ometria-Auth: KEY; body a JSON array of 1..100
 *                          records of one @type; each record <= 60 KB.
 *                          Request-level errors: 400 {"status":"error","message":...}.
 *                          Record-level validation: invalid records are
 *                          counted "rejected" and kept for /v2/push/_errors;
 *                          valid ones are applied (contacts upsert: with
 *                          "@merge": true the fields not sent are kept;
 *                          without it --merge-without-flag keep (default)
 *                          keeps them too, blank replaces the stored contact
 *                          by the record, as Ometria says it "may or may not";
 *                          lists change segment memberships, custom events are
 *                          stored by id with a repeat count).
 *                          200 {"status":"OK","request_id":..,"accepted":N,"rejected":M}
 *   GET  /v2/push/_errors  the 100 most recent validation errors
 *   GET  /v2/lists/{id}    {"id":"ID","contact_ids":[...]} (emulator read side)
 *   POST /data-deletion-requests {"email":..}: 202 {"id":..,"status":"pending"};
 *   GET  /data-deletion-requests/{id}: {"id","status":"pending"|"completed",..}
 *                          GDPR anonymisation (ometria_gdpr.c): at most
 *                          --gdpr-rate-limit N calls a minute (default 6, 429
 *                          beyond), each request completing --gdpr-delay-s S
 *                          seconds later (default 5): the contacts with that
 *                          email keep only id and @collection ("@anonymised"),
 *                          leave their segments; /_emu/state "gdpr" shows them
 * Rate limit: token bucket per API key (--rate-limit R, default 4/s, burst R,
 * 0 = off): 429 with X-QueueSize-Limit / X-QueueSize-Remaining (+ Retry-After
 * only when --retry-after is given).
 * Record validation:
 *   contact: id (non-empty string) required; @collection string; email valid;
 *     date_of_birth YYYY-MM-DD; phone_number E.164; gender m|f; country_id
 *     ISO alpha-2; marketing_optin EXPLICITLY_OPTEDIN|EXPLICITLY_OPTEDOUT|
 *     NOT_SPECIFIED; timestamp_* ISO 8601 with offset; @force_optin and
 *     @merge boolean;
 *     properties an object of scalars; @add_to_lists/@remove_from_lists arrays
 *     of segment ids (integers or digit strings).
 *   custom_event: id, event_type (1..31 chars), timestamp (ISO 8601 with
 *     offset), identity_email (valid) or identity_account_id required;
 *     properties an object of scalars, strings <= 512 characters.
 *   Optional fields may be null (known to be empty).
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "emu_common.h"
#include "ometria_gdpr.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS 100
#define MAX_RECORD_BYTES (60 * 1024)
#define MAX_ERRORS 100
#define MAX_KEYS 8
#define MAX_EVENT_TYPE_LEN 31
#define MAX_PROPERTY_STRING 512
#define QUEUE_SIZE_LIMIT 50000

typedef struct api_key {
    const char *key;       /* points into argv */
    emu_bucket bucket;
} api_key;

typedef struct ometria {
    api_key keys[MAX_KEYS];
    size_t n_keys;
    double rate_limit;
    json_t *contacts;      /* "<collection>/<id>" -> merged record */
    json_t *events;        /* id -> {"record":..,"repeats":N} */
    json_t *segments;      /* segment id -> {contact id: true} */
    json_t *errors;        /* array, oldest first, <= MAX_ERRORS */
    uint64_t request_count;
    long gdpr_per_minute;  /* --gdpr-rate-limit */
    double gdpr_delay_s;   /* --gdpr-delay-s */
    bool blank_without_merge; /* --merge-without-flag blank */
    om_gdpr *gdpr;
    regex_t phone_re, email_re;
    bool regex_ready;
} ometria;

/* One record's validation errors, collected before anything is applied. */
typedef struct record_errors {
    json_t *list;          /* NULL, or array of {"error_message","error_path","record_id"} */
} record_errors;

static const char usage_text[] =
    "usage: ometria-emu --api-key KEY [--api-key KEY2 ...] [--rate-limit R] [common options]\n"
    "  --api-key KEY     accepted X-Ometria-Auth value (repeatable, at least one)\n"
    "  --rate-limit R    push requests/s per key (default 4, burst R, 0 = off)\n"
    "  --gdpr-rate-limit N  GDPR API calls per minute (default 6, 0 = off)\n"
    "  --gdpr-delay-s S  seconds until a deletion request completes (default 5)\n"
    "  --merge-without-flag keep|blank  a contact without \"@merge\": true keeps the\n"
    "                    stored fields it lacks (keep, default) or replaces the contact\n";

/* ---------------------------------------------------------------- options */

/* Emulator flags for emu_parse_args: --api-key (repeatable), --rate-limit.
 * Returns argv entries used, -1 on a bad flag (message on stderr). */
static int on_flag(void *user, const char *flag, const char *value)
{
    ometria *om = user;
    if (strcmp(flag, "--api-key") == 0) {
        if (!value || !*value || om->n_keys >= MAX_KEYS) {
            fprintf(stderr, "--api-key needs a non-empty value (at most %d keys)\n", MAX_KEYS);
            return -1;
        }
        om->keys[om->n_keys++].key = value;
        return 2;
    }
    if (strcmp(flag, "--rate-limit") == 0)
        return emu_parse_rate(flag, value, &om->rate_limit) == 0 ? 2 : -1;
    if (strcmp(flag, "--merge-without-flag") == 0) {
        if (!value || (strcmp(value, "keep") != 0 && strcmp(value, "blank") != 0)) {
            fprintf(stderr, "--merge-without-flag must be keep or blank\n");
            return -1;
        }
        om->blank_without_merge = strcmp(value, "blank") == 0;
        return 2;
    }
    if (strcmp(flag, "--gdpr-rate-limit") == 0 || strcmp(flag, "--gdpr-delay-s") == 0) {
        char *end = NULL;
        double number = value ? strtod(value, &end) : -1;
        if (!value || end == value || *end != '\0' || number < 0 || number > 1e6) {
            fprintf(stderr, "%s needs a number 0..1000000\n", flag);
            return -1;
        }
        if (flag[7] == 'r')
            om->gdpr_per_minute = (long)number;
        else
            om->gdpr_delay_s = number;
        return 2;
    }
    fprintf(stderr, "unknown option '%s' (try --help)\n", flag);
    return -1;
}

/* ---------------------------------------------------------------- answers */

/* Answers {"status":"error","message":message} with status. */
static void respond_error(emu_response *resp, int status, const char *message)
{
    emu_respond_pack(resp, status, "{s:s, s:s}", "status", "error", "message", message);
}

/* The 429 shape, used by the rate limiter and by injected 429 faults. */
static void fill_too_many(emu_server *srv, emu_response *resp, void *user)
{
    char limit[24];
    snprintf(limit, sizeof(limit), "%d", QUEUE_SIZE_LIMIT);
    respond_error(resp, 429, "Too many requests: rate limit exceeded");
    emu_respond_header(resp, "X-QueueSize-Limit", limit);
    emu_respond_header(resp, "X-QueueSize-Remaining", limit);
}

/* Checks X-Ometria-Auth. Returns the matching key slot, or NULL after
 * answering 401. */
static api_key *authenticate(emu_server *srv, ometria *om, const emu_request *req,
                             emu_response *resp)
{
    const char *given = emu_header(req, "X-Ometria-Auth");
    if (given && !emu_reject_auth(srv)) {
        for (size_t i = 0; i < om->n_keys; i++)
            if (strcmp(om->keys[i].key, given) == 0)
                return &om->keys[i];
    }
    respond_error(resp, 401, "Unauthorised");
    return NULL;
}

/* Takes a rate token for key; on refusal answers 429 and returns false. */
static bool admit(emu_server *srv, ometria *om, api_key *key, emu_response *resp)
{
    emu_lock(srv);
    bool ok = emu_bucket_take(&key->bucket, om->rate_limit);
    emu_unlock(srv);
    if (ok)
        return true;
    emu_count(srv, "rate_limited", 1);
    fill_too_many(srv, resp, om);
    int retry_after = emu_get_faults(srv).retry_after;
    if (retry_after >= 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%d", retry_after);
        emu_respond_header(resp, "Retry-After", secs);
    }
    return false;
}

/* ---------------------------------------------------------------- validation */

static void add_error(record_errors *errs, const char *record_id, const char *path,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records one validation error for the record. */
static void add_error(record_errors *errs, const char *record_id, const char *path,
                      const char *fmt, ...)
{
    char message[320];
    char full_path[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(full_path, sizeof(full_path), "root%s%s", path[0] ? " > " : "", path);
    if (!errs->list)
        errs->list = json_array(); /* created on the first error only */
    json_array_append_new(errs->list,
                          json_pack("{s:s, s:s, s:s?}", "error_message", message,
                                    "error_path", full_path, "record_id", record_id));
}

/* True when s matches re. */
static bool regex_ok(const regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}

/* Number of UTF-8 code points in s. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Checks v, the value of the optional string field key (NULL when absent),
 * with check (NULL = any string). Null is allowed (known empty). */
static void check_string_value(const ometria *om, json_t *v, const char *key, const char *rid,
                               record_errors *errs, bool (*check)(const ometria *, const char *),
                               const char *expected)
{
    if (!v || json_is_null(v))
        return;
    if (!json_is_string(v)) {
        add_error(errs, rid, key, "not a valid value: must be a string");
        return;
    }
    if (check && !check(om, json_string_value(v)))
        add_error(errs, rid, key, "not a valid value: '%.120s' is not %s",
                  json_string_value(v), expected);
}

/* check_string_value for the field key of rec. */
static void check_string(const ometria *om, json_t *rec, const char *key, const char *rid,
                         record_errors *errs, bool (*check)(const ometria *, const char *),
                         const char *expected)
{
    check_string_value(om, json_object_get(rec, key), key, rid, errs, check, expected);
}

/* Field checks for check_string: true when s is acceptable. */
static bool is_email(const ometria *om, const char *s) { return regex_ok(&om->email_re, s); }
static bool is_phone(const ometria *om, const char *s) { return regex_ok(&om->phone_re, s); }
static bool is_date(const ometria *om, const char *s) { return emu_valid_date(s); }
static bool is_timestamp(const ometria *om, const char *s)
{
    return emu_parse_timestamp(s, true, NULL);
}
static bool is_gender(const ometria *om, const char *s)
{
    return strcmp(s, "m") == 0 || strcmp(s, "f") == 0;
}
static bool is_country(const ometria *om, const char *s)
{
    return strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}
static bool is_optin(const ometria *om, const char *s)
{
    return strcmp(s, "EXPLICITLY_OPTEDIN") == 0 || strcmp(s, "EXPLICITLY_OPTEDOUT") == 0 ||
           strcmp(s, "NOT_SPECIFIED") == 0;
}

/* Checks props, the record's "properties" (NULL when absent): an object of
 * scalars; max_string > 0 limits string values (characters). */
static void check_properties(json_t *props, const char *rid, size_t max_string,
                             record_errors *errs)
{
    if (!props || json_is_null(props))
        return;
    if (!json_is_object(props)) {
        add_error(errs, rid, "properties", "not a valid value: must be an object");
        return;
    }
    const char *name;
    json_t *value;
    json_object_foreach(props, name, value) {
        bool nested = json_is_object(value) || json_is_array(value);
        bool too_long = max_string && json_is_string(value) &&
                        utf8_length(json_string_value(value)) > max_string;
        if (!nested && !too_long)
            continue;
        char path[160];
        snprintf(path, sizeof(path), "properties > %.120s", name);
        if (nested)
            add_error(errs, rid, path, "not a valid value: property values must be scalars");
        else
            add_error(errs, rid, path, "not a valid value: string longer than %zu characters",
                      max_string);
    }
}

/* Checks lists, the value of @add_to_lists / @remove_from_lists (key; NULL
 * when absent): an array of segment ids. */
static void check_lists(json_t *lists, const char *key, const char *rid, record_errors *errs)
{
    if (!lists)
        return;
    if (!json_is_array(lists)) {
        add_error(errs, rid, key, "not a valid value: must be an array of segment ids");
        return;
    }
    size_t i;
    json_t *id;
    json_array_foreach(lists, i, id) {
        bool ok = json_is_integer(id) && json_integer_value(id) > 0;
        if (json_is_string(id)) {
            const char *s = json_string_value(id);
            ok = *s != '\0' && strspn(s, "0123456789") == strlen(s);
        }
        if (!ok) {
            char path[64];
            snprintf(path, sizeof(path), "%s > %zu", key, i);
            add_error(errs, rid, path, "not a valid value: segment ids are positive integers");
        }
    }
}

/* Returns the record's id when it is a non-empty string, else NULL. */
static const char *record_id(json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    return id && *id ? id : NULL;
}

/* The contact fields validation reads, sorted by name for contact_field
 * (main checks the order). */
enum contact_field {
    CF_ADD_LISTS, CF_COLLECTION, CF_FORCE_OPTIN, CF_MERGE, CF_REMOVE_LISTS, CF_COUNTRY, CF_CUSTOMER_ID,
    CF_DATE_OF_BIRTH, CF_EMAIL, CF_FIRSTNAME, CF_GENDER, CF_ID, CF_LASTNAME, CF_OPTIN,
    CF_MIDDLENAME, CF_PHONE, CF_PREFIX, CF_PROPERTIES, CF_STORE_IDS, CF_TS_ACQUIRED,
    CF_TS_SUBSCRIBED, CF_TS_UNSUBSCRIBED, CF_TIMEZONE, CF_COUNT
};
static const char *const contact_field_names[CF_COUNT] = {
    "@add_to_lists", "@collection", "@force_optin", "@merge", "@remove_from_lists", "country_id",
    "customer_id", "date_of_birth", "email", "firstname", "gender", "id", "lastname",
    "marketing_optin", "middlename", "phone_number", "prefix", "properties", "store_ids",
    "timestamp_acquired", "timestamp_subscribed", "timestamp_unsubscribed", "timezone"};

/* The contact_field named name, or CF_COUNT when validation ignores it. */
static enum contact_field contact_field(const char *name)
{
    size_t lo = 0, hi = CF_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(name, contact_field_names[mid]);
        if (cmp == 0)
            return (enum contact_field)mid;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return CF_COUNT;
}

/* Adds an error per invalid field of a contact record to errs. One pass
 * over the record's keys finds the fields (a record has ~10 keys, the
 * checks look at 22), then the checks run in their documented order. */
static void validate_contact(const ometria *om, json_t *rec, record_errors *errs)
{
    json_t *field[CF_COUNT] = {NULL};
    const char *name;
    json_t *value;
    json_object_foreach(rec, name, value) {
        enum contact_field f = contact_field(name);
        if (f != CF_COUNT)
            field[f] = value;
    }
    const char *rid = json_string_value(field[CF_ID]);
    if (rid && !*rid)
        rid = NULL;
    if (!rid)
        add_error(errs, NULL, "id", "is required: a non-empty string");
    if (field[CF_COLLECTION] && !json_is_string(field[CF_COLLECTION]))
        add_error(errs, rid, "@collection", "not a valid value: must be a string");
    static const enum contact_field plain[] = {CF_PREFIX, CF_FIRSTNAME, CF_MIDDLENAME,
                                               CF_LASTNAME, CF_CUSTOMER_ID, CF_TIMEZONE};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        check_string_value(om, field[plain[i]], contact_field_names[plain[i]], rid, errs, NULL,
                           NULL);
    check_string_value(om, field[CF_EMAIL], "email", rid, errs, is_email, "an email address");
    check_string_value(om, field[CF_DATE_OF_BIRTH], "date_of_birth", rid, errs, is_date,
                       "a YYYY-MM-DD date");
    check_string_value(om, field[CF_PHONE], "phone_number", rid, errs, is_phone,
                       "an E.164 phone number");
    check_string_value(om, field[CF_GENDER], "gender", rid, errs, is_gender, "m or f");
    check_string_value(om, field[CF_COUNTRY], "country_id", rid, errs, is_country,
                       "an ISO 3166-1 alpha-2 code");
    check_string_value(om, field[CF_OPTIN], "marketing_optin", rid, errs, is_optin,
                       "EXPLICITLY_OPTEDIN, EXPLICITLY_OPTEDOUT or NOT_SPECIFIED");
    static const enum contact_field stamps[] = {CF_TS_SUBSCRIBED, CF_TS_UNSUBSCRIBED,
                                                CF_TS_ACQUIRED};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++)
        check_string_value(om, field[stamps[i]], contact_field_names[stamps[i]], rid, errs,
                           is_timestamp, "an ISO 8601 timestamp with offset");
    json_t *force = field[CF_FORCE_OPTIN];
    if (force && !json_is_boolean(force))
        add_error(errs, rid, "@force_optin", "not a valid value: must be a boolean");
    json_t *merge = field[CF_MERGE];
    if (merge && !json_is_boolean(merge))
        add_error(errs, rid, "@merge", "not a valid value: must be a boolean");
    json_t *stores = field[CF_STORE_IDS];
    if (stores && !json_is_array(stores) && !json_is_null(stores))
        add_error(errs, rid, "store_ids", "not a valid value: must be an array");
    check_properties(field[CF_PROPERTIES], rid, 0, errs);
    check_lists(field[CF_ADD_LISTS], "@add_to_lists", rid, errs);
    check_lists(field[CF_REMOVE_LISTS], "@remove_from_lists", rid, errs);
}

/* Adds an error per invalid field of a custom_event record to errs. */
static void validate_event(const ometria *om, json_t *rec, record_errors *errs)
{
    const char *rid = record_id(rec);
    if (!rid)
        add_error(errs, NULL, "id", "is required: a non-empty string");
    json_t *type = json_object_get(rec, "event_type");
    if (!json_is_string(type) || json_string_length(type) == 0)
        add_error(errs, rid, "event_type", "is required: a non-empty string");
    else if (utf8_length(json_string_value(type)) > MAX_EVENT_TYPE_LEN)
        add_error(errs, rid, "event_type", "not a valid value: longer than %d characters",
                  MAX_EVENT_TYPE_LEN);
    json_t *stamp = json_object_get(rec, "timestamp");
    if (!json_is_string(stamp))
        add_error(errs, rid, "timestamp", "is required: an ISO 8601 timestamp with offset");
    else
        check_string(om, rec, "timestamp", rid, errs, is_timestamp,
                     "an ISO 8601 timestamp with offset");
    const char *email = json_string_value(json_object_get(rec, "identity_email"));
    const char *account = json_string_value(json_object_get(rec, "identity_account_id"));
    if ((!email || !*email) && (!account || !*account))
        add_error(errs, rid, "identity_email",
                  "is required: identity_email or identity_account_id");
    check_string(om, rec, "identity_email", rid, errs, is_email, "an email address");
    check_string(om, rec, "identity_account_id", rid, errs, NULL, NULL);
    check_properties(json_object_get(rec, "properties"), rid, MAX_PROPERTY_STRING, errs);
}

/* Validates a record of a supported type; unknown types are errors. */
static void validate_record(const ometria *om, json_t *rec, const char *type,
                            record_errors *errs)
{
    if (strcmp(type, "contact") == 0)
        validate_contact(om, rec, errs);
    else if (strcmp(type, "custom_event") == 0)
        validate_event(om, rec, errs);
    else if (!record_id(rec)) /* order, product: stored nowhere, id needed */
        add_error(errs, NULL, "id", "is required: a non-empty string");
}

/* ---------------------------------------------------------------- applying */

/* Segment id as a string key. */
static void segment_key(json_t *id, char *out, size_t len)
{
    if (json_is_integer(id))
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else
        snprintf(out, len, "%s", json_string_value(id));
}

/* Applies @add_to_lists / @remove_from_lists of a valid contact to the
 * segment memberships (segment id -> set of contact ids). */
static void apply_lists(ometria *om, json_t *rec, const char *contact_id)
{
    size_t i;
    json_t *id;
    char key[64];
    json_array_foreach(json_object_get(rec, "@add_to_lists"), i, id) {
        segment_key(id, key, sizeof(key));
        json_t *members = json_object_get(om->segments, key);
        if (!members) {
            members = json_object();
            json_object_set_new(om->segments, key, members);
        }
        json_object_set_new(members, contact_id, json_true());
    }
    json_array_foreach(json_object_get(rec, "@remove_from_lists"), i, id) {
        segment_key(id, key, sizeof(key));
        json_t *members = json_object_get(om->segments, key);
        if (members)
            json_object_del(members, contact_id);
    }
}

/* Upserts a valid contact: fields overwrite, properties merge key by key,
 * unless the record lacks "@merge": true and --merge-without-flag is blank:
 * then the record replaces the stored contact (what it lacks is gone).
 * The record itself becomes the stored contact (the request's records are
 * never used again): the fields it lacks are taken over from the contact
 * stored before, which is then released. That is one table insert per
 * record instead of one per field, and nothing is copied. "@merge" is a
 * directive, not a field: it is not stored. */
static void apply_contact(ometria *om, json_t *rec)
{
    const char *id = record_id(rec);
    const char *coll = json_string_value(json_object_get(rec, "@collection"));
    size_t coll_len = coll ? strlen(coll) : 0, id_len = strlen(id);
    char small[256];
    char *key = coll_len + id_len + 2 <= sizeof(small) ? small : malloc(coll_len + id_len + 2);
    if (!key)
        return;
    memcpy(key, coll ? coll : "", coll_len); /* "<collection>/<id>" */
    key[coll_len] = '/';
    memcpy(key + coll_len + 1, id, id_len + 1);
    apply_lists(om, rec, id);
    json_object_del(rec, "@add_to_lists");
    json_object_del(rec, "@remove_from_lists");
    bool merge = json_is_true(json_object_get(rec, "@merge")) || !om->blank_without_merge;
    json_object_del(rec, "@merge");
    json_t *stored = merge ? json_object_get(om->contacts, key) : NULL;
    const char *name;
    json_t *value;
    json_object_foreach(stored, name, value) {
        json_t *now = json_object_get(rec, name);
        if (!now) {
            json_object_set_nocheck(rec, name, value);
        } else if (json_is_object(now) && json_is_object(value) && strcmp(name, "properties") == 0) {
            const char *prop;
            json_t *old;
            json_object_foreach(value, prop, old) {
                if (!json_object_get(now, prop))
                    json_object_set_nocheck(now, prop, old);
            }
        }
    }
    json_object_set_nocheck(om->contacts, key, rec);
    if (key != small)
        free(key);
}

/* Stores a valid custom event by id, or counts a repeat of a known id. */
static void apply_event(ometria *om, json_t *rec)
{
    const char *id = record_id(rec);
    json_t *stored = json_object_get(om->events, id);
    if (stored) {
        json_t *repeats = json_object_get(stored, "repeats");
        json_integer_set(repeats, json_integer_value(repeats) + 1);
        return;
    }
    json_object_set_new(om->events, id, json_pack("{s:O, s:i}", "record", rec, "repeats", 0));
}

/* Appends a record's errors to the 100-most-recent list. */
static void remember_errors(ometria *om, json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        json_array_append(om->errors, e);
    }
    while (json_array_size(om->errors) > MAX_ERRORS)
        json_array_remove(om->errors, 0);
}

/* ---------------------------------------------------------------- handlers */

/* Finds the single @type of the batch. Returns NULL and answers 400 when
 * records disagree; records without a usable @type are left to validation. */
static const char *batch_type(json_t *records, emu_response *resp)
{
    const char *type = NULL;
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        const char *t = json_string_value(json_object_get(rec, "@type"));
        if (!t)
            continue;
        if (type && strcmp(type, t) != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "Payload invalid: one @type per request (found '%.40s' and '%.40s')", type, t);
            respond_error(resp, 400, msg);
            return NULL;
        }
        type = t;
    }
    return type ? type : "";
}

/* True for the four documented @type values. */
static bool known_type(const char *t)
{
    return strcmp(t, "contact") == 0 || strcmp(t, "custom_event") == 0 ||
           strcmp(t, "order") == 0 || strcmp(t, "product") == 0;
}

/* POST /v2/push: auth, rate limit, request-level limits (400 and nothing
 * applied), then per-record validation and upsert; answers 200 with the
 * accepted/rejected counts. */
static void handle_push(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    ometria *om = user;
    json_t *records = NULL;
    json_t *verdicts = NULL; /* per record: errors array, or null when valid */
    json_error_t jerr;
    char msg[320];

    api_key *key = authenticate(srv, om, req, resp);
    if (!key || !admit(srv, om, key, resp))
        goto out;
    records = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!records) {
        snprintf(msg, sizeof(msg), "Payload invalid: body is not JSON (line %d column %d: %s)",
                 jerr.line, jerr.column, jerr.text);
        respond_error(resp, 400, msg);
        goto out;
    }
    if (!json_is_array(records)) {
        respond_error(resp, 400, "Payload invalid: body must be a JSON array of records");
        goto out;
    }
    if (json_array_size(records) > MAX_RECORDS) {
        snprintf(msg, sizeof(msg), "Payload invalid: at most %d records per request, got %zu",
                 MAX_RECORDS, json_array_size(records));
        respond_error(resp, 400, msg);
        goto out;
    }
    const char *type = batch_type(records, resp);
    if (!type)
        goto out;
    size_t i;
    json_t *rec;
    /* A record can only be over the limit when the whole body is. */
    if (req->body_len > MAX_RECORD_BYTES) {
        json_array_foreach(records, i, rec) {
            size_t size = json_dumpb(rec, NULL, 0, JSON_COMPACT); /* nothing allocated */
            if (size > MAX_RECORD_BYTES) {
                snprintf(msg, sizeof(msg), "Payload invalid: Record is too large.");
                respond_error(resp, 400, msg);
                emu_lock(srv);
                json_t *e = json_pack("[{s:s, s:s, s:s?}]", "error_message",
                                      "Payload invalid: Record is too large.",
                                      "error_path", "root", "record_id", record_id(rec));
                remember_errors(om, e);
                json_decref(e);
                emu_unlock(srv);
                goto out;
            }
        }
    }

    /* Validate outside the lock; apply under it. */
    verdicts = json_array();
    size_t accepted = 0, rejected = 0;
    json_array_foreach(records, i, rec) {
        record_errors errs = {NULL};
        const char *t = json_string_value(json_object_get(rec, "@type"));
        if (!json_is_object(rec))
            add_error(&errs, NULL, "", "not a valid value: a record must be a JSON object");
        else if (!t)
            add_error(&errs, record_id(rec), "@type", "is required");
        else if (!known_type(t))
            add_error(&errs, record_id(rec), "@type",
                      "not a valid value: '%.40s' is not contact, order, product or custom_event", t);
        else
            validate_record(om, rec, t, &errs);
        if (errs.list) {
            json_array_append_new(verdicts, errs.list);
            rejected++;
        } else {
            json_array_append_new(verdicts, json_null());
            accepted++;
        }
    }
    char request_id[37];
    emu_lock(srv);
    om_gdpr_settle(om->gdpr, om->contacts, om->segments, om->events);
    emu_uuid(emu_seed(srv), om->request_count++, request_id);
    json_array_foreach(records, i, rec) {
        json_t *verdict = json_array_get(verdicts, i);
        if (!json_is_null(verdict))
            remember_errors(om, verdict);
        else if (strcmp(type, "contact") == 0)
            apply_contact(om, rec);
        else if (strcmp(type, "custom_event") == 0)
            apply_event(om, rec);
    }
    emu_unlock(srv);
    emu_count(srv, "records_accepted", (long long)accepted);
    emu_count(srv, "records_rejected", (long long)rejected);
    emu_respond_pack(resp, 200, "{s:s, s:s, s:I, s:I}", "status", "OK", "request_id", request_id,
                     "accepted", (json_int_t)accepted, "rejected", (json_int_t)rejected);
out:
    json_decref(records);
    json_decref(verdicts);
}

/* GET /v2/push/_errors: the 100 most recent validation errors. */
static void handle_errors(emu_server *srv, const emu_request *req, emu_response *resp,
                          void *user)
{
    ometria *om = user;
    if (!authenticate(srv, om, req, resp))
        return;
    emu_lock(srv);
    json_t *copy = json_deep_copy(om->errors);
    emu_unlock(srv);
    emu_respond_json(resp, 200, copy);
}

/* qsort order of C strings (const char * elements) by strcmp. */
static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted array of the keys of obj (caller owns). */
static json_t *sorted_keys(json_t *obj)
{
    size_t n = json_object_size(obj), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    json_t *out = json_array();
    const char *name;
    json_t *value;
    if (!keys)
        return out;
    json_object_foreach(obj, name, value) {
        keys[k++] = name;
    }
    qsort(keys, k, sizeof(*keys), compare_strings);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(out, json_string(keys[i]));
    free(keys);
    return out;
}

/* GET /v2/lists/{id}: the segment's sorted contact ids, 404 if unknown. */
static void handle_list(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    ometria *om = user;
    if (!authenticate(srv, om, req, resp))
        return;
    emu_lock(srv);
    om_gdpr_settle(om->gdpr, om->contacts, om->segments, om->events);
    json_t *members = json_object_get(om->segments, req->params[0]);
    json_t *ids = members ? sorted_keys(members) : NULL;
    emu_unlock(srv);
    if (!ids) {
        respond_error(resp, 404, "Segment not found");
        return;
    }
    emu_respond_pack(resp, 200, "{s:s, s:o}", "id", req->params[0], "contact_ids", ids);
}

/* The GDPR API's own limit (the push bucket is not charged): a 429 in
 * Ometria's shape beyond it. Returns false after answering. Caller holds
 * no lock. */
static bool gdpr_admit(emu_server *srv, ometria *om, emu_response *resp)
{
    emu_lock(srv);
    bool ok = om_gdpr_admit(om->gdpr);
    emu_unlock(srv);
    if (!ok) {
        emu_count(srv, "gdpr_rate_limited", 1);
        respond_error(resp, 429, "Too many requests: the GDPR API takes 6 requests a minute");
    }
    return ok;
}

/* POST /data-deletion-requests {"email":..}: a pending request (202). */
static void handle_gdpr_create(emu_server *srv, const emu_request *req, emu_response *resp,
                               void *user)
{
    ometria *om = user;
    if (!authenticate(srv, om, req, resp) || !gdpr_admit(srv, om, resp))
        return;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    const char *email = json_string_value(json_object_get(body, "email"));
    if (!email || !is_email(om, email)) {
        json_decref(body);
        respond_error(resp, 400, "email: a valid email address is required");
        return;
    }
    emu_lock(srv);
    om_gdpr_settle(om->gdpr, om->contacts, om->segments, om->events);
    json_t *answer = om_gdpr_status(om->gdpr, om_gdpr_request(om->gdpr, email));
    emu_unlock(srv);
    json_decref(body);
    emu_count(srv, "gdpr_requests", 1);
    emu_respond_json(resp, 202, answer);
}

/* GET /data-deletion-requests/{id}: the request's status, 404 if unknown. */
static void handle_gdpr_get(emu_server *srv, const emu_request *req, emu_response *resp,
                            void *user)
{
    ometria *om = user;
    if (!authenticate(srv, om, req, resp) || !gdpr_admit(srv, om, resp))
        return;
    emu_lock(srv);
    om_gdpr_settle(om->gdpr, om->contacts, om->segments, om->events);
    json_t *answer = om_gdpr_status(om->gdpr, req->params[0]);
    emu_unlock(srv);
    if (!answer)
        respond_error(resp, 404, "Deletion request not found");
    else
        emu_respond_json(resp, 200, answer);
}

/* ---------------------------------------------------------------- hooks */

/* emu_hooks.state: the documented /_emu/state shape (caller owns). */
static json_t *dump_state(void *user)
{
    ometria *om = user;
    json_t *segments = json_object();
    const char *name;
    json_t *members;
    om_gdpr_settle(om->gdpr, om->contacts, om->segments, om->events);
    json_object_foreach(om->segments, name, members) {
        json_object_set_new(segments, name, sorted_keys(members));
    }
    return json_pack("{s:O, s:O, s:o, s:O, s:o}", "contacts", om->contacts, "events", om->events,
                     "segments", segments, "errors", om->errors, "gdpr", om_gdpr_dump(om->gdpr));
}

/* emu_hooks.reset: forgets contacts, events, segments, errors and buckets. */
static void reset_state(void *user)
{
    ometria *om = user;
    json_object_clear(om->contacts);
    json_object_clear(om->events);
    json_object_clear(om->segments);
    json_array_clear(om->errors);
    om_gdpr_reset(om->gdpr);
    for (size_t i = 0; i < om->n_keys; i++)
        memset(&om->keys[i].bucket, 0, sizeof(om->keys[i].bucket));
}

int main(int argc, char **argv)
{
    static ometria om;
    emu_config cfg;
    emu_server *srv = NULL;
    int status = 1;

    emu_memory_setup();
    for (size_t i = 1; i < CF_COUNT; i++)
        if (strcmp(contact_field_names[i - 1], contact_field_names[i]) >= 0) {
            fprintf(stderr, "ometria-emu bug: contact_field_names not sorted at %s\n",
                    contact_field_names[i]);
            return 1;
        }
    om.rate_limit = 4;
    om.gdpr_per_minute = 6;
    om.gdpr_delay_s = 5;
    int parsed = emu_parse_args(argc, argv, &cfg, usage_text, on_flag, &om);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (om.n_keys == 0) {
        fprintf(stderr, "ometria-emu: --api-key is required\n%s", usage_text);
        return 2;
    }
    om.contacts = json_object();
    om.events = json_object();
    om.segments = json_object();
    om.errors = json_array();
    om.gdpr = om_gdpr_new(om.gdpr_per_minute, om.gdpr_delay_s);
    if (!om.gdpr) {
        fprintf(stderr, "ometria-emu: out of memory\n");
        goto out;
    }
    if (regcomp(&om.phone_re, "^\\+[1-9][0-9]{6,14}$", REG_EXTENDED | REG_NOSUB) != 0 ||
        regcomp(&om.email_re, "^[^@[:space:]]+@[^@[:space:].]+(\\.[^@[:space:].]+)+$",
                REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "ometria-emu: regex compilation failed\n");
        goto out;
    }
    om.regex_ready = true;
    emu_hooks hooks = {.state = dump_state, .reset = reset_state, .too_many = fill_too_many};
    srv = emu_server_new("ometria-emu", &cfg, &hooks, &om);
    if (!srv || emu_route(srv, "POST", "/v2/push", handle_push) != 0 ||
        emu_route(srv, "GET", "/v2/push/_errors", handle_errors) != 0 ||
        emu_route(srv, "GET", "/v2/lists/{}", handle_list) != 0 ||
        emu_route(srv, "POST", "/data-deletion-requests", handle_gdpr_create) != 0 ||
        emu_route(srv, "GET", "/data-deletion-requests/{}", handle_gdpr_get) != 0) {
        fprintf(stderr, "ometria-emu: out of memory\n");
        goto out;
    }
    status = emu_run(srv) == 0 ? 0 : 1;
out:
    if (om.regex_ready) {
        regfree(&om.phone_re);
        regfree(&om.email_re);
    }
    emu_server_free(&srv);
    json_decref(om.contacts);
    json_decref(om.events);
    json_decref(om.segments);
    json_decref(om.errors);
    om_gdpr_free(&om.gdpr);
    return status;
}
