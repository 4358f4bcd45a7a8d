/* tests/emulators/infobip_emu.c: a strict loopback emulator of Infobip's People (CDP) and events API.
 *
 * Speaks what /work/shared/reference/infobip-api.md documents (all endpoints
 * need "Authorization: App KEY", else 401 in the requestError shape):
 *   PATCH|PUT /people/3/persons/upsert  {"persons":[1..1000]}: 207
 *       {"errors":[{"code":"400100","message":..,"details":[{"property","message"}],"index":i}],
 *        "results":[{"id":N,"index":i,"status":"CREATED|UPDATED|NOT_MODIFIED"}]};
 *       malformed body 400 {"code":"400103",..}, 0 or > 1000 persons 400 {"code":"400104",..}.
 *       Match by externalId, then EMAIL, then PHONE. PATCH merges fields and
 *       customAttributes and, by --upsert-tags, appends tags (append, the
 *       default), replaces the list (replace: what v3 may do, which its
 *       specification does not rule out) or ignores them (ignore); PUT
 *       replaces the whole person. The counter upsert_persons_with_tags
 *       counts the persons sent with a "tags" member.
 *       Every customAttributes name must be defined (else that person errors)
 *       and its value must have the defined type.
 *   POST|GET /people/2/customAttributes, GET|DELETE /people/2/customAttributes/{name}
 *   POST|GET /people/2/tags, GET|DELETE /people/2/tags/{name},
 *   PATCH|DELETE /people/2/tags/{name}/persons {"people":[{"query":{"type":"EXTERNAL_ID","identifier":..}}]}
 *   GET /people/2/persons?filter={"#contains":{"tags":"T"}}&limit=&page=  (or ?identifier=&type=)
 *   DELETE /people/2/persons?identifier=&type=  deletes the person (its tags and
 *       contact identifiers go with it): 204, or 404 when there is none;
 *       /_emu/state lists the deleted externalIds under "deleted"
 *   POST|GET /peopleevents/2/definitions, GET /peopleevents/2/definitions/{id}
 *   POST /people/3/events  JSON array of <= 5000 events, all or nothing:
 *       400 problem details {"type","title","status":400,"traceId","errors":
 *       [{"index":i,"code":"4005xx","message":..,"details":[..]}]} naming
 *       every failing item (index -1: the request as a whole; 400500 bad
 *       JSON, 400501 schema, 400502 empty, 400503 too many, 400504 invalid
 *       item, 400505 person not found, 400506 unknown definition), else 202;
 *       events are stored by eventId with a repeat count. An event for a
 *       person nobody upserted fails with 400505 (--unknown-person reject,
 *       the default) or creates a bare CUSTOMER profile holding only that
 *       identifier (--unknown-person create; counter persons_auto_created):
 *       the specification says both.
 *   GET|POST /_emu/clock   the emulator clock used for the 30-day event limit
 * A request with a body must say Content-Type: application/json (else 415).
 * Rate limit per endpoint group (--rate-limit R, default 5/s, 0 = off):
 * 429 in the People API's shape {"requestError":{"serviceException":
 * {"messageId":"TOO_MANY_REQUESTS","text":"Too many requests"}}}, or with
 * --too-many-body e429 the shape of other Infobip products
 * {"errorCode":"E429","description":"Too many requests sent.",...}.
 * --upsert-delay-ms N holds each admitted upsert N ms before it is applied;
 * the counter upserts_in_flight_peak (GET /_emu/stats) is the most upserts
 * handled at one time, so a test sees whether a client overlaps them.
 * Every admitted request counts in requests_<group>_<METHOD> (groups:
 * upsert, persons, tags, attributes, definitions, events), so a test can
 * count a client's start-up requests.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "emu_common.h"
#include "infobip_emu_names.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_PERSONS_PER_UPSERT 1000
#define MAX_TAG_PEOPLE 1000
#define MAX_EVENTS 5000
#define MAX_EVENT_ITEM_BYTES 512000
#define MAX_EVENT_AGE_SECONDS (30 * 86400)
#define MAX_ATTRIBUTE_VALUE 4096
#define MAX_DEFINITION_FIELDS 120

/* Rate limit groups (one token bucket each). */
enum group { G_UPSERT, G_PERSONS, G_TAGS, G_ATTRIBUTES, G_DEFINITIONS, G_EVENTS, G_COUNT };
static const char *const group_names[G_COUNT] = {"upsert", "persons", "tags", "attributes",
                                                 "definitions", "events"};

/* What an upsert does with a person's "tags" (--upsert-tags). */
enum upsert_tags { UPSERT_TAGS_APPEND, UPSERT_TAGS_REPLACE, UPSERT_TAGS_IGNORE };

typedef struct infobip {
    const char *api_key;     /* points into argv */
    double rate_limit;
    emu_bucket buckets[G_COUNT];
    bool clock_fixed;
    int64_t clock_now;       /* Unix seconds when clock_fixed */
    json_int_t next_person_id;
    json_t *persons;         /* "<id>" -> person (with "id") */
    json_t *by_external;     /* externalId -> the stored person (a reference) */
    json_t *by_email;        /* email -> the stored person */
    json_t *by_phone;        /* phone -> the stored person */
    json_t *deleted;         /* externalId -> true: persons deleted (erasures) */
    json_t *attributes;      /* name -> "TYPE" */
    json_t *tag_names;       /* tag -> true (defined or used) */
    json_t *definitions;     /* definitionId -> {"definitionId","properties":{name:type}} */
    json_t *events;          /* eventId -> {"event":..,"repeats":N} */
    regex_t definition_re, field_re, event_id_re, email_re, phone_re;
    bool regex_ready;
    long upsert_delay_ms;    /* --upsert-delay-ms: hold each upsert this long */
    enum upsert_tags upsert_tags; /* --upsert-tags */
    long upserts_in_flight;  /* upserts being handled now (under emu_lock) */
    long upserts_peak;       /* the most at once so far (under emu_lock) */
    bool events_create_persons; /* --unknown-person create: an event for an
                                   unknown person creates a bare profile */
    bool too_many_e429;      /* --too-many-body e429: 429 in the E429 shape */
} infobip;

static const char usage_text[] =
    "usage: infobip-emu --api-key KEY [--rate-limit R] [--now ISO] [common options]\n"
    "  --api-key KEY     accepted 'Authorization: App KEY'\n"
    "  --rate-limit R    requests/s per endpoint group (default 5, 0 = off)\n"
    "  --now ISO         fix the emulator clock (default: real time)\n"
    "  --upsert-delay-ms N  hold each upsert N ms (a slow platform: shows overlap)\n"
    "  --upsert-tags append|replace|ignore  what a PATCH upsert does with a\n"
    "                    person's tags (default append)\n"
    "  --unknown-person reject|create  an event for an unknown person: 400505\n"
    "                    (default) or a bare CUSTOMER profile created for it\n"
    "  --too-many-body people|e429  429 body: requestError (default) or E429\n";

/* ---------------------------------------------------------------- options */

/* Emulator flags for emu_parse_args: --api-key, --rate-limit, --now.
 * Returns argv entries used, -1 on a bad flag (message on stderr). */
static int on_flag(void *user, const char *flag, const char *value)
{
    infobip *ib = user;
    if (strcmp(flag, "--api-key") == 0 && value && *value) {
        ib->api_key = value;
        return 2;
    }
    if (strcmp(flag, "--rate-limit") == 0)
        return emu_parse_rate(flag, value, &ib->rate_limit) == 0 ? 2 : -1;
    if (strcmp(flag, "--upsert-delay-ms") == 0) {
        char *end = NULL;
        errno = 0;
        ib->upsert_delay_ms = value ? strtol(value, &end, 10) : -1;
        if (!value || errno != 0 || end == value || *end != '\0' || ib->upsert_delay_ms < 0 ||
            ib->upsert_delay_ms > 600000) {
            fprintf(stderr, "--upsert-delay-ms: '%s' is not 0..600000\n", value ? value : "");
            return -1;
        }
        return 2;
    }
    if (strcmp(flag, "--upsert-tags") == 0 && value) {
        static const char *const modes[] = {"append", "replace", "ignore"};
        for (int m = 0; m < 3; m++) {
            if (strcmp(value, modes[m]) == 0) {
                ib->upsert_tags = (enum upsert_tags)m;
                return 2;
            }
        }
        fprintf(stderr, "--upsert-tags: '%s' is not append, replace or ignore\n", value);
        return -1;
    }
    if (strcmp(flag, "--unknown-person") == 0 || strcmp(flag, "--too-many-body") == 0) {
        bool people = strcmp(flag, "--too-many-body") == 0;
        const char *first = people ? "people" : "reject", *second = people ? "e429" : "create";
        if (!value || (strcmp(value, first) != 0 && strcmp(value, second) != 0)) {
            fprintf(stderr, "%s: '%s' is not %s or %s\n", flag, value ? value : "", first, second);
            return -1;
        }
        if (people)
            ib->too_many_e429 = strcmp(value, second) == 0;
        else
            ib->events_create_persons = strcmp(value, second) == 0;
        return 2;
    }
    if (strcmp(flag, "--now") == 0) {
        if (!value || !emu_parse_timestamp(value, false, &ib->clock_now)) {
            fprintf(stderr, "--now: '%s' is not an ISO 8601 timestamp\n", value ? value : "");
            return -1;
        }
        ib->clock_fixed = true;
        return 2;
    }
    fprintf(stderr, "unknown option or missing value '%s' (try --help)\n", flag);
    return -1;
}

/* ---------------------------------------------------------------- answers */

/* v2 error shape: {"requestError":{"serviceException":{"messageId","text"}}}. */
static void respond_v2_error(emu_response *resp, int status, const char *message_id,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void respond_v2_error(emu_response *resp, int status, const char *message_id,
                             const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    emu_respond_pack(resp, status, "{s:{s:{s:s, s:s}}}", "requestError", "serviceException",
                     "messageId", message_id, "text", text);
}

/* v3 error shape: {"code":"4001xx","message":..,"details":[...]} (+ index). */
static void respond_v3_error(emu_response *resp, int status, const char *code, long index,
                             const char *property, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void respond_v3_error(emu_response *resp, int status, const char *code, long index,
                             const char *property, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code", code, "message", text,
                             "details", "property", property, "message", text);
    if (body && index >= 0)
        json_object_set_new(body, "index", json_integer(index));
    emu_respond_json(resp, status, body);
}

/* The 429 answer, for the rate limiter and injected 429 faults: the People
 * API's requestError shape, or E429 with --too-many-body e429. */
static void fill_too_many(emu_server *srv, emu_response *resp, void *user)
{
    const infobip *ib = user;
    (void)srv;
    if (ib->too_many_e429)
        emu_respond_pack(resp, 429, "{s:s, s:s, s:n, s:[], s:[]}", "errorCode", "E429",
                         "description", "Too many requests sent.", "action", "violations",
                         "resources");
    else
        respond_v2_error(resp, 429, "TOO_MANY_REQUESTS", "Too many requests");
}

/* Checks the App key, the body's Content-Type (415) and the group's rate.
 * Returns false after answering. */
static bool admit(emu_server *srv, infobip *ib, const emu_request *req, emu_response *resp,
                  enum group g)
{
    const char *auth = emu_header(req, "Authorization");
    if (!auth || strncmp(auth, "App ", 4) != 0 || strcmp(auth + 4, ib->api_key) != 0 ||
        emu_reject_auth(srv)) {
        respond_v2_error(resp, 401, "UNAUTHORIZED", "Invalid login details");
        return false;
    }
    /* "Content-Type: application/json is mandatory with a body" [doc] */
    const char *type = emu_header(req, "Content-Type");
    if (req->body_len > 0 && (!type || strncasecmp(type, "application/json", 16) != 0)) {
        respond_v2_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE",
                         "Content-Type must be application/json, got '%.60s'", type ? type : "");
        return false;
    }
    emu_lock(srv);
    bool ok = emu_bucket_take(&ib->buckets[g], ib->rate_limit);
    emu_unlock(srv);
    if (ok) {
        char counter[64];
        snprintf(counter, sizeof(counter), "requests_%s_%.16s", group_names[g], req->method);
        emu_count(srv, counter, 1);
        return true;
    }
    emu_count(srv, "rate_limited", 1);
    fill_too_many(srv, resp, ib);
    int retry_after = emu_get_faults(srv).retry_after;
    if (retry_after >= 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%d", retry_after);
        emu_respond_header(resp, "Retry-After", secs);
    }
    return false;
}

/* Parses a JSON object body; answers 400 (v2 shape) and returns NULL when it
 * is not one. Caller owns the result. */
static json_t *object_body(const emu_request *req, emu_response *resp)
{
    json_error_t err;
    json_t *root = json_loadb(req->body, req->body_len, 0, &err);
    if (!root) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "body is not JSON: line %d: %s", err.line,
                         err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        respond_v2_error(resp, 400, "BAD_REQUEST", "body must be a JSON object");
        return NULL;
    }
    return root;
}

/* True when s is not NULL and matches re. */
static bool regex_ok(const regex_t *re, const char *s)
{
    return s && regexec(re, s, 0, NULL, 0) == 0;
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

/* ---------------------------------------------------------------- persons */

/* Collected problems of one person (array of {"property","message"}). */
static void detail(json_t *details, const char *property, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void detail(json_t *details, const char *property, const char *fmt, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(details, json_pack("{s:s, s:s}", "property", property, "message", text));
}

/* Checks an optional string field (value v of key, NULL when absent) with a
 * maximum length (0 = none). */
static void check_text(json_t *v, const char *key, size_t max, json_t *details)
{
    if (!v || json_is_null(v))
        return;
    if (!json_is_string(v))
        detail(details, key, "must be a string");
    else if (max && utf8_length(json_string_value(v)) > max)
        detail(details, key, "longer than %zu characters", max);
}

/* The documented custom attribute dataTypes. */
enum data_type { T_STRING, T_DECIMAL, T_INTEGER, T_BOOLEAN, T_DATE, T_DATE_TIME,
                 T_LIST_OF_OBJECTS, T_UNKNOWN };
static const char *const data_type_names[] = {"STRING", "DECIMAL", "INTEGER", "BOOLEAN",
                                              "DATE", "DATE_TIME", "LIST_OF_OBJECTS"};

/* The data_type named t (T_UNKNOWN for anything else, NULL too). */
static enum data_type data_type_of(const char *t)
{
    for (size_t i = 0; t && i < sizeof(data_type_names) / sizeof(data_type_names[0]); i++)
        if (strcmp(t, data_type_names[i]) == 0)
            return (enum data_type)i;
    return T_UNKNOWN;
}

/* Checks one custom attribute value against its defined type; types maps
 * each defined name to its data_type (a json integer). */
static void check_attribute(json_t *types, const char *name, json_t *value, json_t *details)
{
    json_t *defined = json_object_get(types, name);
    if (!defined) {
        char property[300];
        snprintf(property, sizeof(property), "customAttributes.%.250s", name);
        detail(details, property, "custom attribute '%.200s' is not defined", name);
        return;
    }
    if (json_is_null(value))
        return; /* clears the attribute */
    enum data_type type = (enum data_type)json_integer_value(defined);
    bool ok = false;
    const char *s = json_string_value(value);
    switch (type) {
    case T_STRING: ok = s && utf8_length(s) <= MAX_ATTRIBUTE_VALUE; break;
    case T_INTEGER: ok = json_is_integer(value); break;
    case T_DECIMAL: ok = json_is_number(value); break;
    case T_BOOLEAN: ok = json_is_boolean(value); break;
    case T_DATE: ok = s && emu_valid_date(s); break;
    case T_DATE_TIME: ok = s && emu_parse_timestamp(s, false, NULL); break;
    case T_LIST_OF_OBJECTS: ok = json_is_array(value); break;
    case T_UNKNOWN: break;
    }
    if (!ok) {
        char property[300];
        snprintf(property, sizeof(property), "customAttributes.%.250s", name);
        if (s && type == T_STRING)
            detail(details, property, "value longer than %d characters", MAX_ATTRIBUTE_VALUE);
        else
            detail(details, property, "value does not match the attribute type %s",
                   type < T_UNKNOWN ? data_type_names[type] : "?");
    }
}

/* Adds details for an invalid contactInformation array (contacts, NULL
 * when absent). */
static void check_contacts(const infobip *ib, json_t *contacts, json_t *details)
{
    if (!contacts || json_is_null(contacts))
        return;
    if (!json_is_array(contacts)) {
        detail(details, "contactInformation",
               "must be an array of {\"type\":\"EMAIL\"|\"PHONE\",\"identifier\",\"primary\"}");
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(contacts, i, c) {
        char property[64];
        snprintf(property, sizeof(property), "contactInformation[%zu]", i);
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *id = json_string_value(json_object_get(c, "identifier"));
        json_t *primary = json_object_get(c, "primary");
        if (!json_is_object(c) || !type || (strcmp(type, "EMAIL") != 0 && strcmp(type, "PHONE") != 0))
            detail(details, property, "type must be EMAIL or PHONE");
        else if (!id || !*id)
            detail(details, property, "identifier is required");
        else if (strcmp(type, "EMAIL") == 0 && !regex_ok(&ib->email_re, id))
            detail(details, property, "'%.120s' is not a valid email address", id);
        else if (strcmp(type, "PHONE") == 0 && !regex_ok(&ib->phone_re, id))
            detail(details, property,
                   "'%.120s' is not a valid phone number (international digits, no '+')", id);
        if (primary && !json_is_boolean(primary))
            detail(details, property, "primary must be a boolean");
    }
}

/* The person properties of the API, sorted for bsearch (main checks it). */
enum person_field {
    PF_ADDRESS, PF_BIRTH_DATE, PF_CITY, PF_CONTACT_INFORMATION, PF_COUNTRY,
    PF_CUSTOM_ATTRIBUTES, PF_EXTERNAL_ID, PF_FIRST_NAME, PF_GENDER, PF_LAST_NAME,
    PF_MIDDLE_NAME, PF_MODIFIED_FROM, PF_ORIGIN, PF_PREFERRED_LANGUAGE, PF_PROFILE_PICTURE,
    PF_TAGS, PF_TYPE, PF_COUNT
};
static const char *const person_field_names[PF_COUNT] = {
    "address", "birthDate", "city", "contactInformation", "country", "customAttributes",
    "externalId", "firstName", "gender", "lastName", "middleName", "modifiedFrom", "origin",
    "preferredLanguage", "profilePicture", "tags", "type"};

/* The person_field named name, or PF_COUNT when it is not a known property. */
static enum person_field person_field(const char *name)
{
    size_t lo = 0, hi = PF_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(name, person_field_names[mid]);
        if (cmp == 0)
            return (enum person_field)mid;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return PF_COUNT;
}

/* Validates one person of an upsert against the attribute definitions in
 * types (name -> data_type); returns the details array (empty when valid;
 * caller owns). Reads no emulator state: runs outside the lock. */
static json_t *validate_person(const infobip *ib, json_t *types, json_t *person)
{
    json_t *details = json_array();
    if (!json_is_object(person)) {
        detail(details, "", "a person must be a JSON object");
        return details;
    }
    json_t *field[PF_COUNT] = {NULL};
    const char *key;
    json_t *value;
    json_object_foreach(person, key, value) {
        enum person_field f = person_field(key);
        if (f == PF_COUNT)
            detail(details, key, "unknown property");
        else
            field[f] = value;
    }
    check_text(field[PF_EXTERNAL_ID], "externalId", 256, details);
    check_text(field[PF_FIRST_NAME], "firstName", 255, details);
    check_text(field[PF_LAST_NAME], "lastName", 255, details);
    check_text(field[PF_MIDDLE_NAME], "middleName", 50, details);
    check_text(field[PF_ADDRESS], "address", 256, details);
    check_text(field[PF_CITY], "city", 50, details);
    check_text(field[PF_COUNTRY], "country", 50, details);
    ib_check_name_characters(field[PF_FIRST_NAME], "firstName", details);
    ib_check_name_characters(field[PF_LAST_NAME], "lastName", details);
    ib_check_name_characters(field[PF_MIDDLE_NAME], "middleName", details);
    check_text(field[PF_PREFERRED_LANGUAGE], "preferredLanguage", 16, details);
    json_t *ext = field[PF_EXTERNAL_ID];
    if (json_is_string(ext) && json_string_length(ext) == 0)
        detail(details, "externalId", "must not be empty");
    const char *birth = json_string_value(field[PF_BIRTH_DATE]);
    if (birth && !emu_valid_date(birth))
        detail(details, "birthDate", "'%.40s' is not a YYYY-MM-DD date", birth);
    const char *gender = json_string_value(field[PF_GENDER]);
    if (gender && strcmp(gender, "MALE") != 0 && strcmp(gender, "FEMALE") != 0)
        detail(details, "gender", "must be MALE or FEMALE");
    check_contacts(ib, field[PF_CONTACT_INFORMATION], details);
    json_t *tags = field[PF_TAGS];
    if (tags && !json_is_null(tags)) {
        size_t i;
        json_t *t;
        if (!json_is_array(tags))
            detail(details, "tags", "must be an array of strings");
        else
            json_array_foreach(tags, i, t) {
                if (!json_is_string(t) || json_string_length(t) == 0)
                    detail(details, "tags", "must be an array of non-empty strings");
            }
    }
    json_t *attrs = field[PF_CUSTOM_ATTRIBUTES];
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_object(attrs)) {
            detail(details, "customAttributes", "must be an object");
        } else {
            json_object_foreach(attrs, key, value) {
                check_attribute(types, key, value, details);
            }
        }
    }
    if (!json_is_string(ext)) {
        bool has_contact = json_array_size(field[PF_CONTACT_INFORMATION]) > 0;
        if (!has_contact)
            detail(details, "externalId", "a person needs an externalId, an email or a phone");
    }
    return details;
}

/* The lookup table for a contact's type: EMAIL or PHONE (validated). */
static json_t *contact_index(infobip *ib, json_t *contact)
{
    return strcmp(json_string_value(json_object_get(contact, "type")), "EMAIL") == 0
               ? ib->by_email : ib->by_phone;
}

/* Finds the stored person for an incoming one: externalId, then each EMAIL,
 * then each PHONE. Returns the stored object (borrowed) or NULL. */
static json_t *match_person(infobip *ib, json_t *incoming)
{
    const char *ext = json_string_value(json_object_get(incoming, "externalId"));
    json_t *found = ext ? json_object_get(ib->by_external, ext) : NULL;
    json_t *contacts = json_object_get(incoming, "contactInformation");
    size_t i;
    json_t *c;
    for (int pass = 0; pass < 2 && !found; pass++) /* EMAIL first, then PHONE */
        json_array_foreach(contacts, i, c) {
            if (found)
                break;
            if ((contact_index(ib, c) == ib->by_email) == (pass == 0))
                found = json_object_get(contact_index(ib, c),
                                        json_string_value(json_object_get(c, "identifier")));
        }
    /* An email or phone of a person with another externalId is not a match
     * (contact_conflict reports it). */
    const char *found_ext = json_string_value(json_object_get(found, "externalId"));
    if (found && ext && found_ext && strcmp(found_ext, ext) != 0)
        return NULL;
    return found;
}

/* Returns another stored person (borrowed) that already owns one of the
 * incoming EMAIL/PHONE identifiers, storing that identifier in *which and
 * its type in *which_type; NULL when every identifier is free or belongs
 * to matched. Infobip refuses such a person as a whole, as here. */
static json_t *contact_conflict(infobip *ib, json_t *incoming, json_t *matched, const char **which,
                                const char **which_type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(incoming, "contactInformation"), i, c) {
        const char *ident = json_string_value(json_object_get(c, "identifier"));
        json_t *owner = json_object_get(contact_index(ib, c), ident);
        if (owner && owner != matched) {
            *which = ident;
            *which_type = json_string_value(json_object_get(c, "type"));
            return owner;
        }
    }
    return NULL;
}

/* Adds (or removes) the lookup entries of person's externalId and contact
 * identifiers; the tables hold references to the stored person. */
static void index_person(infobip *ib, json_t *stored, json_t *person, bool add)
{
    const char *ext = json_string_value(json_object_get(person, "externalId"));
    if (ext && add && json_object_get(ib->by_external, ext) != stored)
        json_object_set(ib->by_external, ext, stored);
    else if (ext && !add)
        json_object_del(ib->by_external, ext);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(person, "contactInformation"), i, c) {
        json_t *index = contact_index(ib, c);
        const char *ident = json_string_value(json_object_get(c, "identifier"));
        if (add && json_object_get(index, ident) != stored)
            json_object_set(index, ident, stored);
        else if (!add)
            json_object_del(index, ident);
    }
}

/* Appends the strings of extra to the array list when not already there.
 * Returns whether anything was appended. */
static bool append_unique(json_t *list, json_t *extra)
{
    size_t i, j;
    json_t *x, *y;
    bool appended = false;
    json_array_foreach(extra, i, x) {
        bool have = false;
        json_array_foreach(list, j, y) {
            if (json_equal(x, y)) {
                have = true;
                break;
            }
        }
        if (!have) {
            json_array_append(list, x);
            appended = true;
        }
    }
    return appended;
}

/* Merges contactInformation entries by (type, identifier). Returns whether
 * have changed. */
static bool merge_contacts(json_t *have, json_t *extra)
{
    size_t i, j;
    json_t *x, *y;
    bool changed = false;
    json_array_foreach(extra, i, x) {
        bool found = false;
        json_array_foreach(have, j, y) {
            if (json_equal(json_object_get(x, "type"), json_object_get(y, "type")) &&
                json_equal(json_object_get(x, "identifier"), json_object_get(y, "identifier"))) {
                if (!json_equal(x, y)) {
                    json_array_set(have, j, x);
                    changed = true;
                }
                found = true;
                break;
            }
        }
        if (!found) {
            json_array_append(have, x);
            changed = true;
        }
    }
    return changed;
}

/* Sets each custom attribute of extra in have. Returns whether have
 * changed. */
static bool merge_attributes(json_t *have, json_t *extra)
{
    const char *name;
    json_t *value;
    bool changed = false;
    json_object_foreach(extra, name, value) {
        json_t *old = json_object_get(have, name);
        if (!old || !json_equal(old, value)) {
            json_object_set_nocheck(have, name, value);
            changed = true;
        }
    }
    return changed;
}

/* Records tag names used by a person as known tags. */
static void note_tags(infobip *ib, json_t *person)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(person, "tags"), i, t) {
        const char *name = json_string_value(t);
        if (!json_object_get(ib->tag_names, name))
            json_object_set_new(ib->tag_names, name, json_true());
    }
}

/* Whether replacing stored by incoming (PUT) would leave it as it is:
 * the same properties with equal values, besides the "id". */
static bool same_person(json_t *stored, json_t *incoming)
{
    if (json_object_size(stored) != json_object_size(incoming) + 1)
        return false;
    const char *key;
    json_t *value;
    json_object_foreach(incoming, key, value) {
        if (!json_equal(json_object_get(stored, key), value))
            return false;
    }
    return true;
}

/* Applies a valid person; returns "CREATED", "UPDATED" or "NOT_MODIFIED" and
 * the person id in *id. The incoming object and its values become part of
 * the stored state (the request never uses them again): nothing is
 * copied. Runs under the lock. */
static const char *apply_person(infobip *ib, json_t *incoming, bool replace, json_int_t *id)
{
    if (ib->upsert_tags == UPSERT_TAGS_IGNORE)
        json_object_del(incoming, "tags");
    json_t *stored = match_person(ib, incoming);
    if (!stored) {
        char key[32];
        *id = ++ib->next_person_id;
        json_object_set_new(incoming, "id", json_integer(*id));
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, *id);
        json_object_set_nocheck(ib->persons, key, incoming);
        index_person(ib, incoming, incoming, true);
        note_tags(ib, incoming);
        return "CREATED";
    }
    *id = json_integer_value(json_object_get(stored, "id"));
    bool changed = false;
    if (replace) {
        changed = !same_person(stored, incoming);
        index_person(ib, stored, stored, false);
        json_object_clear(stored);
        json_object_update(stored, incoming);
        json_object_set_new(stored, "id", json_integer(*id));
        index_person(ib, stored, stored, true);
        note_tags(ib, stored);
        return changed ? "UPDATED" : "NOT_MODIFIED";
    }
    /* PATCH only adds identifiers, unless it sets externalId or
     * contactInformation to something that is not one: then the entries
     * of the old ones go. */
    json_t *new_ext = json_object_get(incoming, "externalId");
    json_t *new_contacts = json_object_get(incoming, "contactInformation");
    bool drops_identifiers = (new_ext && !json_is_string(new_ext)) ||
                             (new_contacts && !json_is_array(new_contacts));
    if (drops_identifiers)
        index_person(ib, stored, stored, false);
    const char *key;
    json_t *value;
    json_object_foreach(incoming, key, value) {
        json_t *have = json_object_get(stored, key);
        if (strcmp(key, "tags") == 0 && json_is_array(have) && json_is_array(value) &&
            ib->upsert_tags == UPSERT_TAGS_APPEND)
            changed = append_unique(have, value) || changed;
        else if (strcmp(key, "customAttributes") == 0 && json_is_object(have) && json_is_object(value))
            changed = merge_attributes(have, value) || changed;
        else if (strcmp(key, "contactInformation") == 0 && json_is_array(have) && json_is_array(value))
            changed = merge_contacts(have, value) || changed;
        else if (!have || !json_equal(have, value)) {
            json_object_set_nocheck(stored, key, value);
            changed = true;
        }
    }
    index_person(ib, stored, drops_identifiers ? stored : incoming, true);
    note_tags(ib, stored);
    return changed ? "UPDATED" : "NOT_MODIFIED";
}

/* The outcome of one person of an upsert, collected under the lock and
 * turned into the answer after it. */
typedef struct person_outcome {
    json_int_t id;
    const char *status;      /* "CREATED"...; NULL when error is set */
    json_t *error;           /* the per-index error (owned), or NULL */
} person_outcome;

/* The attribute definitions as name -> data_type (caller owns); a snapshot
 * taken under the lock so persons are validated outside it. */
static json_t *attribute_types(infobip *ib)
{
    json_t *types = json_object();
    const char *name;
    json_t *type;
    json_object_foreach(ib->attributes, name, type) {
        json_object_set_new_nocheck(types, name,
                                    json_integer(data_type_of(json_string_value(type))));
    }
    return types;
}

/* Count an admitted upsert in flight (the caller decrements when done),
 * raise the upserts_in_flight_peak counter when it is a new peak, and hold
 * the upsert --upsert-delay-ms. */
static void upsert_begin(emu_server *srv, infobip *ib)
{
    long raise = 0;

    emu_lock(srv);
    ib->upserts_in_flight++;
    if (ib->upserts_in_flight > ib->upserts_peak) {
        raise = ib->upserts_in_flight - ib->upserts_peak;
        ib->upserts_peak = ib->upserts_in_flight;
    }
    emu_unlock(srv);
    if (raise > 0)
        emu_count(srv, "upserts_in_flight_peak", raise);
    if (ib->upsert_delay_ms > 0) {
        struct timespec hold = {ib->upsert_delay_ms / 1000, (ib->upsert_delay_ms % 1000) * 1000000L};
        while (nanosleep(&hold, &hold) != 0 && errno == EINTR)
            ;
    }
}

/* PATCH|PUT /people/3/persons/upsert: 400103/400104 for a malformed
 * request, else 207 with a result or an error per index. The body is
 * parsed and validated outside the lock, persons are matched and applied
 * under it, the answer is built after it. */
static void handle_upsert(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    infobip *ib = user;
    json_t *root = NULL, *types = NULL, *verdicts = NULL;
    person_outcome *outcomes = NULL;
    size_t n = 0;
    json_error_t jerr;
    bool counted = false;
    if (!admit(srv, ib, req, resp, G_UPSERT))
        goto out;
    upsert_begin(srv, ib);
    counted = true;
    root = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        respond_v3_error(resp, 400, "400103", -1, "body", "Malformed request body: %s",
                         root ? "must be an object {\"persons\":[...]}" : jerr.text);
        goto out;
    }
    json_t *persons = json_object_get(root, "persons");
    if (!json_is_array(persons)) {
        respond_v3_error(resp, 400, "400103", -1, "persons",
                         "Malformed request body: \"persons\" must be an array");
        goto out;
    }
    n = json_array_size(persons);
    if (n < 1 || n > MAX_PERSONS_PER_UPSERT) {
        respond_v3_error(resp, 400, "400104", -1, "persons",
                         "persons must hold 1 to %d items, got %zu", MAX_PERSONS_PER_UPSERT, n);
        goto out;
    }
    bool replace = strcmp(req->method, "PUT") == 0;
    outcomes = calloc(n, sizeof(*outcomes));
    verdicts = json_array();
    if (!outcomes || !verdicts) {
        emu_respond_text(resp, 500, "infobip-emu: out of memory");
        goto out;
    }
    emu_lock(srv);
    types = attribute_types(ib);
    emu_unlock(srv);
    size_t i;
    json_t *person;
    json_array_foreach(persons, i, person) {
        json_array_append_new(verdicts, validate_person(ib, types, person));
    }
    long long created = 0, updated = 0, same = 0, bad = 0, with_tags = 0;
    json_array_foreach(persons, i, person) {
        with_tags += json_object_get(person, "tags") != NULL;
    }
    emu_count(srv, "upsert_persons_with_tags", with_tags);
    emu_lock(srv);
    json_array_foreach(persons, i, person) {
        json_t *details = json_array_get(verdicts, i);
        if (json_array_size(details) > 0) {
            outcomes[i].error = json_pack("{s:s, s:s, s:O, s:I}", "code", "400100", "message",
                                          "Invalid person", "details", details, "index",
                                          (json_int_t)i);
            bad++;
            continue;
        }
        const char *taken = NULL, *taken_type = NULL;
        json_t *owner = contact_conflict(ib, person, match_person(ib, person), &taken, &taken_type);
        if (owner) {
            char text[512];
            emu_count(srv, "contact_conflicts", 1);
            snprintf(text, sizeof(text), "%s %.200s belongs to another person", taken_type, taken);
            outcomes[i].error = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:I}", "code", "400100",
                                          "message", "Invalid person", "details", "property",
                                          "contactInformation", "message", text, "index",
                                          (json_int_t)i);
            bad++;
            continue;
        }
        outcomes[i].status = apply_person(ib, person, replace, &outcomes[i].id);
        created += outcomes[i].status[0] == 'C';
        updated += outcomes[i].status[0] == 'U';
        same += outcomes[i].status[0] == 'N';
    }
    emu_unlock(srv);
    emu_count(srv, "persons_created", created);
    emu_count(srv, "persons_updated", updated);
    emu_count(srv, "persons_not_modified", same);
    emu_count(srv, "person_errors", bad);
    json_t *errors = json_array(), *results = json_array();
    for (i = 0; i < n; i++) {
        if (outcomes[i].error) {
            json_array_append_new(errors, outcomes[i].error);
            outcomes[i].error = NULL;
        } else {
            json_array_append_new(results, json_pack("{s:I, s:I, s:s}", "id", outcomes[i].id,
                                                     "index", (json_int_t)i, "status",
                                                     outcomes[i].status));
        }
    }
    emu_respond_pack(resp, 207, "{s:o, s:o}", "errors", errors, "results", results);
out:
    if (counted) {
        emu_lock(srv);
        ib->upserts_in_flight--;
        emu_unlock(srv);
    }
    for (size_t k = 0; outcomes && k < n; k++)
        json_decref(outcomes[k].error);
    free(outcomes);
    json_decref(root);
    json_decref(types);
    json_decref(verdicts);
}

/* The stored person for identifier/type (borrowed), or NULL. */
static json_t *find_person(infobip *ib, const char *identifier, const char *type)
{
    if (!identifier || !type)
        return NULL;
    if (strcmp(type, "EXTERNAL_ID") == 0)
        return json_object_get(ib->by_external, identifier);
    if (strcmp(type, "EMAIL") == 0)
        return json_object_get(ib->by_email, identifier);
    if (strcmp(type, "PHONE") == 0)
        return json_object_get(ib->by_phone, identifier);
    if (strcmp(type, "ID") == 0)
        return json_object_get(ib->persons, identifier);
    return NULL;
}

/* Whether person carries tag. */
static bool has_tag(json_t *person, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(person, "tags"), i, t) {
        if (strcmp(json_string_value(t), tag) == 0)
            return true;
    }
    return false;
}

/* Removes tag from the person's tags (no-op when absent). */
static void remove_tag(json_t *person, const char *tag)
{
    json_t *tags = json_object_get(person, "tags");
    for (size_t i = json_array_size(tags); i-- > 0;)
        if (strcmp(json_string_value(json_array_get(tags, i)), tag) == 0)
            json_array_remove(tags, i);
}

/* Adds tag to the person's tags once. */
static void add_tag(json_t *person, const char *tag)
{
    json_t *tags = json_object_get(person, "tags");
    if (!json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(person, "tags", tags);
    }
    if (!has_tag(person, tag))
        json_array_append_new(tags, json_string(tag));
}

/* Parses a positive integer query parameter with a default and a maximum.
 * Returns -1 when present but bad. */
static long query_int(const emu_request *req, const char *name, long dflt, long max)
{
    const char *s = emu_query(req, name);
    if (!s)
        return dflt;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    return v;
}

/* qsort order of json_int_t values. */
static int compare_ids(const void *a, const void *b)
{
    json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;
    return (x > y) - (x < y);
}

/* Person ids of the store in ascending numeric order (caller frees). */
static json_int_t *sorted_person_ids(infobip *ib, size_t *count)
{
    size_t n = json_object_size(ib->persons), k = 0;
    json_int_t *ids = calloc(n ? n : 1, sizeof(*ids));
    const char *key;
    json_t *person;
    if (!ids) {
        *count = 0;
        return NULL;
    }
    json_object_foreach(ib->persons, key, person) {
        ids[k++] = json_integer_value(json_object_get(person, "id"));
    }
    qsort(ids, k, sizeof(*ids), compare_ids);
    *count = k;
    return ids;
}

/* GET /people/2/persons: one person by ?identifier=&type=, or the persons
 * carrying a tag by ?filter={"#contains":{"tags":T}} with limit/page. */
static void handle_persons_get(emu_server *srv, const emu_request *req, emu_response *resp,
                               void *user)
{
    infobip *ib = user;
    json_t *filter = NULL;
    json_int_t *ids = NULL;
    if (!admit(srv, ib, req, resp, G_PERSONS))
        goto out;
    const char *identifier = emu_query(req, "identifier");
    if (identifier) {
        const char *type = emu_query(req, "type");
        emu_lock(srv);
        json_t *p = find_person(ib, identifier, type ? type : "ID");
        json_t *copy = p ? json_deep_copy(p) : NULL;
        emu_unlock(srv);
        if (!copy)
            respond_v2_error(resp, 404, "NOT_FOUND", "Person not found");
        else
            emu_respond_json(resp, 200, copy);
        goto out;
    }
    const char *filter_text = emu_query(req, "filter");
    long limit = query_int(req, "limit", 20, 1000);
    long page = query_int(req, "page", 1, 1000000);
    json_error_t jerr;
    filter = filter_text ? json_loads(filter_text, 0, &jerr) : NULL;
    const char *tag = json_string_value(json_object_get(json_object_get(filter, "#contains"), "tags"));
    if (!filter_text || !tag || json_object_size(filter) != 1) {
        respond_v2_error(resp, 400, "BAD_REQUEST",
                         "filter must be {\"#contains\":{\"tags\":\"<tag>\"}} (or use identifier=&type=)");
        goto out;
    }
    if (limit < 1 || page < 1) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "limit must be 1..1000 and page >= 1");
        goto out;
    }
    json_t *list = json_array();
    emu_lock(srv);
    size_t n = 0, matched = 0;
    ids = sorted_person_ids(ib, &n);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, ids[i]);
        json_t *p = json_object_get(ib->persons, key);
        if (!has_tag(p, tag))
            continue;
        if (matched >= (size_t)((page - 1) * limit) && json_array_size(list) < (size_t)limit)
            json_array_append_new(list, json_deep_copy(p));
        matched++;
    }
    emu_unlock(srv);
    emu_respond_pack(resp, 200, "{s:o, s:i, s:i, s:I}", "persons", list, "limit", (int)limit,
                     "page", (int)page, "totalCount", (json_int_t)matched);
out:
    free(ids);
    json_decref(filter);
}

/* DELETE /people/2/persons?identifier=&type=: delete one person, as an
 * erasure does: the person, its contact identifiers and its tag
 * memberships are gone; its externalId is remembered in "deleted" (for
 * the ground truth). 204, 404 when no such person, 400 without both
 * parameters. */
static void handle_person_delete(emu_server *srv, const emu_request *req, emu_response *resp,
                                 void *user)
{
    infobip *ib = user;
    const char *identifier = emu_query(req, "identifier");
    const char *type = emu_query(req, "type");
    char key[32];
    bool found = false;

    if (!admit(srv, ib, req, resp, G_PERSONS))
        return;
    if (!identifier || !type) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "identifier and type are required");
        return;
    }
    emu_lock(srv);
    json_t *p = json_incref(find_person(ib, identifier, type));
    if (p) {
        const char *ext = json_string_value(json_object_get(p, "externalId"));
        found = true;
        if (ext)
            json_object_set_new(ib->deleted, ext, json_true());
        index_person(ib, p, p, false);
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p, "id")));
        json_object_del(ib->persons, key);
        emu_count(srv, "persons_deleted", 1);
    }
    emu_unlock(srv);
    json_decref(p);
    if (!found)
        respond_v2_error(resp, 404, "NOT_FOUND", "Person not found");
    else
        emu_respond_json(resp, 204, NULL);
}

/* ---------------------------------------------------------------- tags */

/* Tag names: 1..255 characters. */
static bool valid_tag_name(const char *s)
{
    return s && *s && utf8_length(s) <= 255;
}

/* POST /people/2/tags: 201, 409 when it exists, 400 for a bad name. */
static void handle_tag_create(emu_server *srv, const emu_request *req, emu_response *resp,
                              void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_TAGS))
        return;
    json_t *body = object_body(req, resp);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!valid_tag_name(name)) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "tag name must be a string of 1..255 characters");
    } else {
        emu_lock(srv);
        bool exists = json_object_get(ib->tag_names, name) != NULL;
        if (!exists)
            json_object_set_new(ib->tag_names, name, json_true());
        emu_unlock(srv);
        if (exists)
            respond_v2_error(resp, 409, "CONFLICT", "Tag '%.200s' already exists", name);
        else
            emu_respond_pack(resp, 201, "{s:s}", "name", name);
    }
    json_decref(body);
}

/* GET /people/2/tags: {"tags":[{"name":..}]}. */
static void handle_tag_list(emu_server *srv, const emu_request *req, emu_response *resp,
                            void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_TAGS))
        return;
    json_t *tags = json_array();
    emu_lock(srv);
    const char *name;
    json_t *v;
    json_object_foreach(ib->tag_names, name, v) {
        json_array_append_new(tags, json_pack("{s:s}", "name", name));
    }
    emu_unlock(srv);
    emu_respond_pack(resp, 200, "{s:o}", "tags", tags);
}

/* GET|DELETE /people/2/tags/{name}; DELETE also untags every person. */
static void handle_tag_one(emu_server *srv, const emu_request *req, emu_response *resp,
                           void *user)
{
    infobip *ib = user;
    const char *name = req->params[0];
    if (!admit(srv, ib, req, resp, G_TAGS))
        return;
    emu_lock(srv);
    bool exists = json_object_get(ib->tag_names, name) != NULL;
    if (exists && strcmp(req->method, "DELETE") == 0) {
        const char *key;
        json_t *p;
        json_object_foreach(ib->persons, key, p) {
            remove_tag(p, name);
        }
        json_object_del(ib->tag_names, name);
    }
    emu_unlock(srv);
    if (!exists)
        respond_v2_error(resp, 404, "NOT_FOUND", "Tag '%.200s' not found", name);
    else if (strcmp(req->method, "DELETE") == 0)
        emu_respond_json(resp, 204, NULL);
    else
        emu_respond_pack(resp, 200, "{s:s}", "name", name);
}

/* PATCH assigns the tag to the listed people, DELETE removes it. */
static void handle_tag_persons(emu_server *srv, const emu_request *req, emu_response *resp,
                               void *user)
{
    infobip *ib = user;
    const char *tag = req->params[0];
    bool assign = strcmp(req->method, "PATCH") == 0;
    if (!admit(srv, ib, req, resp, G_TAGS))
        return;
    json_t *body = object_body(req, resp);
    if (!body)
        return;
    json_t *people = json_object_get(body, "people");
    json_t *results = NULL;
    if (!json_is_array(people) || json_array_size(people) < 1 ||
        json_array_size(people) > MAX_TAG_PEOPLE) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "people must be an array of 1..%d queries",
                         MAX_TAG_PEOPLE);
        goto out;
    }
    size_t i;
    json_t *entry;
    json_array_foreach(people, i, entry) {
        json_t *query = json_object_get(entry, "query");
        const char *type = json_string_value(json_object_get(query, "type"));
        const char *ident = json_string_value(json_object_get(query, "identifier"));
        if (!type || !ident ||
            (strcmp(type, "EXTERNAL_ID") && strcmp(type, "EMAIL") && strcmp(type, "PHONE") &&
             strcmp(type, "ID"))) {
            respond_v2_error(resp, 400, "BAD_REQUEST",
                             "people[%zu].query needs type EXTERNAL_ID|EMAIL|PHONE|ID and identifier", i);
            goto out;
        }
    }
    results = json_array();
    long long done = 0;
    emu_lock(srv);
    bool tag_exists = json_object_get(ib->tag_names, tag) != NULL;
    if (tag_exists) {
        json_array_foreach(people, i, entry) {
            json_t *query = json_object_get(entry, "query");
            json_t *p = find_person(ib, json_string_value(json_object_get(query, "identifier")),
                                    json_string_value(json_object_get(query, "type")));
            if (p) {
                if (assign)
                    add_tag(p, tag);
                else
                    remove_tag(p, tag);
                done++;
            }
            json_array_append_new(results, json_pack("{s:I, s:s}", "index", (json_int_t)i,
                                                     "status", p ? "OK" : "NOT_FOUND"));
        }
    }
    emu_unlock(srv);
    if (!tag_exists)
        respond_v2_error(resp, 404, "NOT_FOUND", "Tag '%.200s' not found", tag);
    else
        emu_respond_pack(resp, 200, "{s:O, s:I}", "results", results, "processed", (json_int_t)done);
out:
    json_decref(results);
    json_decref(body);
}

/* ---------------------------------------------------------------- attributes */

/* The defined attribute name equal to name ignoring case, or NULL. */
static const char *attribute_named(infobip *ib, const char *name)
{
    const char *key;
    json_t *v;
    json_object_foreach(ib->attributes, key, v) {
        if (strcasecmp(key, name) == 0)
            return key;
    }
    return NULL;
}

/* POST /people/2/customAttributes: 201, 409 duplicate (case-insensitive),
 * 400 bad name or dataType. */
static void handle_attr_create(emu_server *srv, const emu_request *req, emu_response *resp,
                               void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_ATTRIBUTES))
        return;
    json_t *body = object_body(req, resp);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *type = json_string_value(json_object_get(body, "dataType"));
    if (!name || !*name || strlen(name) > 256 || strpbrk(name, "{}[]")) {
        respond_v2_error(resp, 400, "BAD_REQUEST",
                         "name must be 1..256 characters without {}[]");
    } else if (data_type_of(type) == T_UNKNOWN) {
        respond_v2_error(resp, 400, "BAD_REQUEST",
                         "dataType '%.40s' is not STRING, DECIMAL, INTEGER, BOOLEAN, DATE, "
                         "DATE_TIME or LIST_OF_OBJECTS", type ? type : "");
    } else if (strcmp(type, "LIST_OF_OBJECTS") == 0 && !json_is_object(json_object_get(body, "objectSchema"))) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "LIST_OF_OBJECTS needs an objectSchema");
    } else {
        emu_lock(srv);
        const char *existing = attribute_named(ib, name);
        char *existing_type = existing ? strdup(json_string_value(json_object_get(ib->attributes, existing))) : NULL;
        if (!existing)
            json_object_set_new(ib->attributes, name, json_string(type));
        emu_unlock(srv);
        if (existing)
            respond_v2_error(resp, 409, "CONFLICT",
                             "Duplicate: custom attribute '%.200s' already exists with type %s",
                             name, existing_type ? existing_type : "?");
        else
            emu_respond_pack(resp, 201, "{s:s, s:s}", "name", name, "dataType", type);
        free(existing_type);
    }
    json_decref(body);
}

/* GET /people/2/customAttributes: {"customAttributes":[{"name","dataType"}]}. */
static void handle_attr_list(emu_server *srv, const emu_request *req, emu_response *resp,
                             void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_ATTRIBUTES))
        return;
    json_t *list = json_array();
    emu_lock(srv);
    const char *name;
    json_t *type;
    json_object_foreach(ib->attributes, name, type) {
        json_array_append_new(list, json_pack("{s:s, s:O}", "name", name, "dataType", type));
    }
    emu_unlock(srv);
    emu_respond_pack(resp, 200, "{s:o}", "customAttributes", list);
}

/* GET|DELETE /people/2/customAttributes/{name} (case-insensitive name);
 * DELETE also drops the attribute from every person. */
static void handle_attr_one(emu_server *srv, const emu_request *req, emu_response *resp,
                            void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_ATTRIBUTES))
        return;
    json_t *answer = NULL;
    emu_lock(srv);
    const char *name = attribute_named(ib, req->params[0]);
    if (name) {
        answer = json_pack("{s:s, s:O}", "name", name, "dataType",
                           json_object_get(ib->attributes, name));
        if (strcmp(req->method, "DELETE") == 0) {
            const char *key;
            json_t *p;
            json_object_foreach(ib->persons, key, p) {
                json_object_del(json_object_get(p, "customAttributes"), name);
            }
            json_object_del(ib->attributes, name); /* name dangles after this */
        }
    }
    emu_unlock(srv);
    if (!answer)
        respond_v2_error(resp, 404, "NOT_FOUND", "Custom attribute '%.200s' not found",
                         req->params[0]);
    else if (strcmp(req->method, "DELETE") == 0) {
        json_decref(answer);
        emu_respond_json(resp, 204, NULL);
    } else
        emu_respond_json(resp, 200, answer);
}

/* ---------------------------------------------------------------- definitions */

/* True for the documented event definition field types. */
static bool valid_field_type(const char *t)
{
    static const char *const types[] = {"String", "Boolean", "DateTime", "Numeric", "Decimal",
                                        "List"};
    for (size_t i = 0; t && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

/* Normalises a definition's properties ([{"name","type"}] or {name:type})
 * into {name:type}. Returns NULL and writes why into msg when invalid. */
static json_t *definition_fields(const infobip *ib, json_t *props, char *msg, size_t len)
{
    json_t *fields = json_object();
    size_t i;
    json_t *p;
    const char *name;
    if (!props || json_is_null(props))
        return fields;
    if (json_is_array(props)) {
        json_array_foreach(props, i, p) {
            name = json_string_value(json_object_get(p, "name"));
            const char *type = json_string_value(json_object_get(p, "type"));
            if (!name) {
                snprintf(msg, len, "properties[%zu] needs a name", i);
                goto bad;
            }
            json_object_set_new(fields, name, json_string(type ? type : ""));
        }
    } else if (json_is_object(props)) {
        json_object_foreach(props, name, p) {
            json_object_set_new(fields, name, json_string(json_is_string(p) ? json_string_value(p) : ""));
        }
    } else {
        snprintf(msg, len, "properties must be an array of {\"name\",\"type\"}");
        goto bad;
    }
    if (json_object_size(fields) > MAX_DEFINITION_FIELDS) {
        snprintf(msg, len, "at most %d properties", MAX_DEFINITION_FIELDS);
        goto bad;
    }
    json_object_foreach(fields, name, p) {
        if (!regex_ok(&ib->field_re, name)) {
            snprintf(msg, len, "property name '%.80s' must match ^[a-z_][a-zA-Z0-9_]*$", name);
            goto bad;
        }
        if (!valid_field_type(json_string_value(p))) {
            snprintf(msg, len, "property '%.80s': type must be String, Boolean, DateTime, "
                     "Numeric, Decimal or List", name);
            goto bad;
        }
    }
    return fields;
bad:
    json_decref(fields);
    return NULL;
}

/* POST /peopleevents/2/definitions: 201, 409 exists, 400 bad id or fields. */
static void handle_def_create(emu_server *srv, const emu_request *req, emu_response *resp,
                              void *user)
{
    infobip *ib = user;
    char msg[240];
    if (!admit(srv, ib, req, resp, G_DEFINITIONS))
        return;
    json_t *body = object_body(req, resp);
    if (!body)
        return;
    const char *id = json_string_value(json_object_get(body, "definitionId"));
    json_t *fields = NULL;
    if (!id || !*id || !regex_ok(&ib->definition_re, id)) {
        respond_v2_error(resp, 400, "BAD_REQUEST",
                         "definitionId '%.60s' must match ^[a-zA-Z0-9]{1,36}$", id ? id : "");
    } else if (!(fields = definition_fields(ib, json_object_get(body, "properties"), msg, sizeof(msg)))) {
        respond_v2_error(resp, 400, "BAD_REQUEST", "%s", msg);
    } else {
        json_t *def = json_deep_copy(body);
        json_object_set_new(def, "properties", fields);
        emu_lock(srv);
        bool exists = json_object_get(ib->definitions, id) != NULL;
        if (!exists)
            json_object_set(ib->definitions, id, def);
        emu_unlock(srv);
        if (exists) {
            json_decref(def);
            respond_v2_error(resp, 409, "CONFLICT", "Event definition '%.60s' already exists", id);
        } else {
            emu_respond_json(resp, 201, def);
        }
    }
    json_decref(body);
}

/* GET /peopleevents/2/definitions[/{id}]: the list, or one (404 unknown). */
static void handle_def_get(emu_server *srv, const emu_request *req, emu_response *resp,
                           void *user)
{
    infobip *ib = user;
    if (!admit(srv, ib, req, resp, G_DEFINITIONS))
        return;
    json_t *answer = NULL;
    emu_lock(srv);
    if (req->params[0]) {
        json_t *def = json_object_get(ib->definitions, req->params[0]);
        answer = def ? json_deep_copy(def) : NULL;
    } else {
        json_t *list = json_array();
        const char *id;
        json_t *def;
        json_object_foreach(ib->definitions, id, def) {
            json_array_append_new(list, json_deep_copy(def));
        }
        answer = json_pack("{s:o}", "definitions", list);
    }
    emu_unlock(srv);
    if (!answer)
        respond_v2_error(resp, 404, "NOT_FOUND", "Event definition '%.60s' not found",
                         req->params[0]);
    else
        emu_respond_json(resp, 200, answer);
}

/* ---------------------------------------------------------------- events */

/* The emulator clock in Unix seconds (fixed or real time); under the lock. */
static int64_t clock_now(const infobip *ib)
{
    return ib->clock_fixed ? ib->clock_now : (int64_t)time(NULL);
}

/* Checks a property value against a definition field type. */
static bool value_has_type(json_t *v, const char *type)
{
    if (json_is_null(v))
        return true;
    if (strcmp(type, "String") == 0)
        return json_is_string(v);
    if (strcmp(type, "Boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "DateTime") == 0)
        return json_is_string(v) && emu_parse_timestamp(json_string_value(v), false, NULL);
    if (strcmp(type, "Numeric") == 0 || strcmp(type, "Decimal") == 0)
        return json_is_number(v);
    if (strcmp(type, "List") == 0)
        return json_is_array(v);
    return false;
}

/* Validates event i. Returns NULL when valid, else the error code and a
 * message in msg. An event for an unknown person is valid with
 * --unknown-person create (*creates set: apply it with create_bare_person).
 * Runs under the lock (definitions, persons). */
static const char *check_event(infobip *ib, json_t *ev, size_t i, char *msg, size_t len,
                               bool *creates)
{
    *creates = false;
    if (!json_is_object(ev)) {
        snprintf(msg, len, "event [%zu] must be an object", i);
        return "400504";
    }
    size_t size = json_dumpb(ev, NULL, 0, JSON_COMPACT); /* the size only, nothing allocated */
    if (size > MAX_EVENT_ITEM_BYTES) {
        snprintf(msg, len, "event [%zu] is larger than %d bytes", i, MAX_EVENT_ITEM_BYTES);
        return "400504";
    }
    const char *event_id = json_string_value(json_object_get(ev, "eventId"));
    if (!regex_ok(&ib->event_id_re, event_id)) {
        snprintf(msg, len, "event [%zu]: eventId must be 1-36 characters of [A-Za-z0-9_-]", i);
        return "400504";
    }
    const char *def_id = json_string_value(json_object_get(ev, "definitionId"));
    if (!def_id || !*def_id) {
        snprintf(msg, len, "event [%zu]: definitionId is required", i);
        return "400504";
    }
    const char *when = json_string_value(json_object_get(ev, "occurredTime"));
    int64_t at = 0;
    if (!when || !emu_parse_timestamp(when, true, &at)) {
        snprintf(msg, len, "event [%zu]: occurredTime '%.40s' is not like 2025-05-25T15:32:52.000+0000",
                 i, when ? when : "");
        return "400504";
    }
    if (at < clock_now(ib) - MAX_EVENT_AGE_SECONDS) {
        snprintf(msg, len, "event [%zu]: occurredTime %.40s is older than 30 days", i, when);
        return "400504";
    }
    json_t *ident = json_object_get(ev, "identifier");
    const char *who = json_string_value(json_object_get(ident, "id"));
    const char *who_type = json_string_value(json_object_get(ident, "type"));
    if (!who || !who_type ||
        (strcmp(who_type, "EXTERNAL_ID") && strcmp(who_type, "EMAIL") &&
         strcmp(who_type, "PHONE") && strcmp(who_type, "ID"))) {
        snprintf(msg, len, "event [%zu]: identifier must be {\"id\",\"type\":EXTERNAL_ID|EMAIL|PHONE|ID}", i);
        return "400504";
    }
    json_t *props = json_object_get(ev, "properties");
    if (props && !json_is_object(props) && !json_is_null(props)) {
        snprintf(msg, len, "event [%zu]: properties must be an object", i);
        return "400504";
    }
    json_t *def = json_object_get(ib->definitions, def_id);
    if (!def) {
        snprintf(msg, len, "event [%zu]: definition '%.60s' does not exist", i, def_id);
        return "400506";
    }
    json_t *fields = json_object_get(def, "properties");
    const char *name;
    json_t *value;
    json_object_foreach(props, name, value) {
        const char *type = json_string_value(json_object_get(fields, name));
        if (!type) {
            snprintf(msg, len, "event [%zu]: property '%.60s' is not in definition %.60s", i, name,
                     def_id);
            return "400504";
        }
        if (!value_has_type(value, type)) {
            snprintf(msg, len, "event [%zu]: property '%.60s' must be %s", i, name, type);
            return "400504";
        }
    }
    if (!find_person(ib, who, who_type)) {
        if (ib->events_create_persons && strcmp(who_type, "ID") != 0) {
            *creates = true;
            return NULL;
        }
        snprintf(msg, len, "event [%zu]: Person with such identifier doesn't exist (%.60s, %s)",
                 i, who, who_type);
        return "400505";
    }
    return NULL;
}

/* Creates the bare CUSTOMER profile an event for an unknown person makes
 * (--unknown-person create): only the event's identifier, nothing else.
 * No-op when an earlier event of the batch created it. Under the lock. */
static void create_bare_person(infobip *ib, json_t *ev)
{
    json_t *ident = json_object_get(ev, "identifier");
    const char *who = json_string_value(json_object_get(ident, "id"));
    const char *who_type = json_string_value(json_object_get(ident, "type"));
    json_int_t id;
    if (find_person(ib, who, who_type))
        return;
    json_t *bare = strcmp(who_type, "EXTERNAL_ID") == 0
                       ? json_pack("{s:s, s:s}", "externalId", who, "type", "CUSTOMER")
                       : json_pack("{s:[{s:s, s:s}], s:s}", "contactInformation", "type", who_type,
                                   "identifier", who, "type", "CUSTOMER");
    if (bare)
        apply_person(ib, bare, false, &id);
    json_decref(bare);
}

/* The 400 problem-details answer of a refused events batch (errors stolen:
 * [{"index","code","message","details"}]). */
static void respond_events_refused(emu_response *resp, json_t *errors)
{
    emu_respond_pack(resp, 400, "{s:s, s:s, s:i, s:s, s:o}", "type",
                     "https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes",
                     "title", "Bad Request", "status", 400, "traceId", "infobip-emu", "errors",
                     errors);
}

/* One item of a problem-details "errors" list (new reference). */
static json_t *event_error(long index, const char *code, const char *msg)
{
    char property[32];
    snprintf(property, sizeof(property), "[%ld]", index);
    return json_pack("{s:I, s:s, s:s, s:[{s:s, s:s}]}", "index", (json_int_t)index, "code", code,
                     "message", msg, "details", "property", index >= 0 ? property : "events",
                     "message", msg);
}

/* POST /people/3/events: all or nothing; any invalid item fails the batch,
 * the answer naming each with its 4005xx code and index, else 202 and
 * every event stored. */
static void handle_events(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    infobip *ib = user;
    json_t *events = NULL, *errors = NULL;
    bool *creates = NULL;
    json_error_t jerr;
    char msg[320];
    if (!admit(srv, ib, req, resp, G_EVENTS))
        goto out;
    events = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *code = NULL;
    if (!events) {
        code = "400500";
        snprintf(msg, sizeof(msg), "invalid JSON: line %d: %s", jerr.line, jerr.text);
    } else if (!json_is_array(events)) {
        code = "400501";
        snprintf(msg, sizeof(msg), "body must be a JSON array of events");
    } else if (json_array_size(events) == 0) {
        code = "400502";
        snprintf(msg, sizeof(msg), "the batch is empty");
    } else if (json_array_size(events) > MAX_EVENTS) {
        code = "400503";
        snprintf(msg, sizeof(msg), "at most %d events per batch, got %zu", MAX_EVENTS,
                 json_array_size(events));
    }
    if (code) {
        emu_count(srv, "event_batches_rejected", 1);
        respond_events_refused(resp, json_pack("[o]", event_error(-1, code, msg)));
        goto out;
    }
    size_t i;
    json_t *ev;
    long long created = 0;
    errors = json_array();
    creates = calloc(json_array_size(events), sizeof(*creates));
    if (!errors || !creates) {
        emu_respond_text(resp, 500, "infobip-emu: out of memory");
        goto out;
    }
    emu_lock(srv);
    json_array_foreach(events, i, ev) {
        code = check_event(ib, ev, i, msg, sizeof(msg), &creates[i]);
        if (code)
            json_array_append_new(errors, event_error((long)i, code, msg));
    }
    if (json_array_size(errors) == 0) {
        json_array_foreach(events, i, ev) {
            if (creates[i]) {
                size_t before = json_object_size(ib->persons);
                create_bare_person(ib, ev);
                created += json_object_size(ib->persons) > before;
            }
            const char *event_id = json_string_value(json_object_get(ev, "eventId"));
            json_t *stored = json_object_get(ib->events, event_id);
            if (stored) {
                json_t *repeats = json_object_get(stored, "repeats");
                json_integer_set(repeats, json_integer_value(repeats) + 1);
            } else {
                json_object_set_new(ib->events, event_id,
                                    json_pack("{s:O, s:i}", "event", ev, "repeats", 0));
            }
        }
    }
    emu_unlock(srv);
    if (json_array_size(errors) > 0) {
        emu_count(srv, "event_batches_rejected", 1);
        emu_count(srv, "events_refused", (long long)json_array_size(errors));
        respond_events_refused(resp, json_incref(errors));
        goto out;
    }
    emu_count(srv, "persons_auto_created", created);
    emu_count(srv, "events_accepted", (long long)json_array_size(events));
    emu_respond_json(resp, 202, NULL);
out:
    free(creates);
    json_decref(errors);
    json_decref(events);
}

/* ---------------------------------------------------------------- clock */

/* GET|POST /_emu/clock: read or set ({"now":ISO} or {"now":null}) the clock. */
static void handle_clock(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    infobip *ib = user;
    if (strcmp(req->method, "POST") == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
        json_t *now = json_object_get(body, "now");
        int64_t at = 0;
        if (!json_is_object(body) || !now ||
            (!json_is_null(now) && !emu_parse_timestamp(json_string_value(now), false, &at))) {
            json_decref(body);
            emu_respond_pack(resp, 400, "{s:s}", "error",
                             "body must be {\"now\":\"<ISO 8601>\"} or {\"now\":null}");
            return;
        }
        emu_lock(srv);
        ib->clock_fixed = !json_is_null(now);
        ib->clock_now = at;
        emu_unlock(srv);
        json_decref(body);
    }
    emu_lock(srv);
    int64_t t = clock_now(ib);
    bool fixed = ib->clock_fixed;
    emu_unlock(srv);
    time_t tt = (time_t)t;
    struct tm tm;
    char text[40];
    gmtime_r(&tt, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    emu_respond_pack(resp, 200, "{s:s, s:b}", "now", text, "fixed", fixed);
}

/* ---------------------------------------------------------------- hooks */

/* qsort order of json strings (json_t * elements) by strcmp. */
static int compare_json_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sorted copy of a JSON array of strings (the strings are shared). */
static json_t *sorted_strings(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **items = calloc(n ? n : 1, sizeof(*items));
    json_t *out = json_array();
    if (!items)
        return out;
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(list, i);
    qsort(items, n, sizeof(*items), compare_json_strings);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, items[i]);
    free(items);
    return out;
}

/* The keys of obj as a sorted JSON array of strings (caller owns). */
static json_t *sorted_keys_of(json_t *obj)
{
    json_t *keys = json_array(), *sorted;
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        json_array_append_new(keys, json_string(key));
    }
    sorted = sorted_strings(keys);
    json_decref(keys);
    return sorted;
}

/* emu_hooks.state: the documented /_emu/state shape (caller owns). */
static json_t *dump_state(void *user)
{
    infobip *ib = user;
    json_t *persons = json_object(), *tags = json_object();
    const char *key;
    json_t *p, *v;
    json_object_foreach(ib->tag_names, key, v) {
        json_object_set_new(tags, key, json_array());
    }
    size_t n = 0;
    json_int_t *ids = sorted_person_ids(ib, &n);
    for (size_t i = 0; i < n; i++) {
        char id[32], name[300];
        snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, ids[i]);
        p = json_object_get(ib->persons, id);
        json_t *copy = json_deep_copy(p);
        /* a person Infobip holds has a tags list, empty when it never had
         * one (created without tags, as infobip-sink creates persons) */
        if (json_is_array(json_object_get(copy, "tags")))
            json_object_set_new(copy, "tags", sorted_strings(json_object_get(p, "tags")));
        else if (!json_object_get(copy, "tags"))
            json_object_set_new(copy, "tags", json_array());
        const char *ext = json_string_value(json_object_get(p, "externalId"));
        if (ext)
            snprintf(name, sizeof(name), "%s", ext);
        else
            snprintf(name, sizeof(name), "#%s", id);
        json_object_set_new(persons, name, copy);
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(p, "tags"), k, t) {
            json_t *members = json_object_get(tags, json_string_value(t));
            if (!members) {
                members = json_array();
                json_object_set_new(tags, json_string_value(t), members);
            }
            json_array_append_new(members, json_string(name));
        }
    }
    free(ids);
    json_object_foreach(tags, key, v) {
        json_object_set_new(tags, key, sorted_strings(v));
    }
    return json_pack("{s:o, s:O, s:o, s:O, s:O, s:o}", "persons", persons, "customAttributes",
                     ib->attributes, "tags", tags, "definitions", ib->definitions, "events",
                     ib->events, "deleted", sorted_keys_of(ib->deleted));
}

/* emu_hooks.reset: forgets persons, attributes, tags, definitions, events. */
static void reset_state(void *user)
{
    infobip *ib = user;
    json_object_clear(ib->persons);
    json_object_clear(ib->by_external);
    json_object_clear(ib->by_email);
    json_object_clear(ib->by_phone);
    json_object_clear(ib->deleted);
    json_object_clear(ib->attributes);
    json_object_clear(ib->tag_names);
    json_object_clear(ib->definitions);
    json_object_clear(ib->events);
    ib->next_person_id = 0;
    ib->upserts_peak = 0; /* the counters start again from zero */
    memset(ib->buckets, 0, sizeof(ib->buckets));
}

int main(int argc, char **argv)
{
    static infobip ib;
    emu_config cfg;
    emu_server *srv = NULL;
    int status = 1;

    emu_memory_setup();
    for (size_t i = 1; i < PF_COUNT; i++)
        if (strcmp(person_field_names[i - 1], person_field_names[i]) >= 0) {
            fprintf(stderr, "infobip-emu bug: person_field_names not sorted at %s\n",
                    person_field_names[i]);
            return 1;
        }
    ib.rate_limit = 5;
    int parsed = emu_parse_args(argc, argv, &cfg, usage_text, on_flag, &ib);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (!ib.api_key) {
        fprintf(stderr, "infobip-emu: --api-key is required\n%s", usage_text);
        return 2;
    }
    ib.persons = json_object();
    ib.by_external = json_object();
    ib.deleted = json_object();
    ib.by_email = json_object();
    ib.by_phone = json_object();
    ib.attributes = json_object();
    ib.tag_names = json_object();
    ib.definitions = json_object();
    ib.events = json_object();
    if (regcomp(&ib.definition_re, "^[a-zA-Z0-9]{1,36}$", REG_EXTENDED | REG_NOSUB) ||
        regcomp(&ib.field_re, "^[a-z_][a-zA-Z0-9_]*$", REG_EXTENDED | REG_NOSUB) ||
        regcomp(&ib.event_id_re, "^[A-Za-z0-9_-]{1,36}$", REG_EXTENDED | REG_NOSUB) ||
        regcomp(&ib.email_re, "^[^@[:space:]]+@[^@[:space:].]+(\\.[^@[:space:].]+)+$",
                REG_EXTENDED | REG_NOSUB) ||
        regcomp(&ib.phone_re, "^[1-9][0-9]{5,14}$", REG_EXTENDED | REG_NOSUB)) {
        fprintf(stderr, "infobip-emu: regex compilation failed\n");
        goto out;
    }
    ib.regex_ready = true;
    emu_hooks hooks = {.state = dump_state, .reset = reset_state, .too_many = fill_too_many};
    srv = emu_server_new("infobip-emu", &cfg, &hooks, &ib);
    if (!srv ||
        emu_route(srv, "PATCH", "/people/3/persons/upsert", handle_upsert) ||
        emu_route(srv, "PUT", "/people/3/persons/upsert", handle_upsert) ||
        emu_route(srv, "GET", "/people/2/persons", handle_persons_get) ||
        emu_route(srv, "DELETE", "/people/2/persons", handle_person_delete) ||
        emu_route(srv, "POST", "/people/2/customAttributes", handle_attr_create) ||
        emu_route(srv, "GET", "/people/2/customAttributes", handle_attr_list) ||
        emu_route(srv, "GET", "/people/2/customAttributes/{}", handle_attr_one) ||
        emu_route(srv, "DELETE", "/people/2/customAttributes/{}", handle_attr_one) ||
        emu_route(srv, "POST", "/people/2/tags", handle_tag_create) ||
        emu_route(srv, "GET", "/people/2/tags", handle_tag_list) ||
        emu_route(srv, "GET", "/people/2/tags/{}", handle_tag_one) ||
        emu_route(srv, "DELETE", "/people/2/tags/{}", handle_tag_one) ||
        emu_route(srv, "PATCH", "/people/2/tags/{}/persons", handle_tag_persons) ||
        emu_route(srv, "DELETE", "/people/2/tags/{}/persons", handle_tag_persons) ||
        emu_route(srv, "POST", "/peopleevents/2/definitions", handle_def_create) ||
        emu_route(srv, "GET", "/peopleevents/2/definitions", handle_def_get) ||
        emu_route(srv, "GET", "/peopleevents/2/definitions/{}", handle_def_get) ||
        emu_route(srv, "POST", "/people/3/events", handle_events) ||
        emu_route(srv, "GET", "/_emu/clock", handle_clock) ||
        emu_route(srv, "POST", "/_emu/clock", handle_clock)) {
        fprintf(stderr, "infobip-emu: cannot set up routes\n");
        goto out;
    }
    status = emu_run(srv) == 0 ? 0 : 1;
out:
    if (ib.regex_ready) {
        regfree(&ib.definition_re);
        regfree(&ib.field_re);
        regfree(&ib.event_id_re);
        regfree(&ib.email_re);
        regfree(&ib.phone_re);
    }
    emu_server_free(&srv);
    json_decref(ib.persons);
    json_decref(ib.by_external);
    json_decref(ib.deleted);
    json_decref(ib.by_email);
    json_decref(ib.by_phone);
    json_decref(ib.attributes);
    json_decref(ib.tag_names);
    json_decref(ib.definitions);
    json_decref(ib.events);
    return status;
}
