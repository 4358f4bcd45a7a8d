/* deriver_events.c: derived events as JSON objects (shared constant
 * strings, deterministic ids) and the tier anniversaries a day brings. */
#include <config.h>

#include <pthread.h>
#include <string.h>

#include "deriver_internal.h"
#include "loytime.h"

char *deriver_join(char *out, size_t len, const char *const *parts)
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

const char *deriver_int_text(long long v, char out[24])
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

/* Frees the shared strings above when the module is unloaded: a host
 * that dlcloses the plugin would otherwise lose them (LeakSanitizer
 * reports them). */
__attribute__((destructor)) static void deriver_constants_free(void)
{
    for (size_t i = 0; event_types[i]; i++) {
        json_decref(event_type_strings[i]);
        event_type_strings[i] = NULL;
    }
    json_decref(kind_event_string);
    json_decref(origin_derived_string);
    kind_event_string = origin_derived_string = NULL;
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

void deriver_set_text_field(json_t *obj, const char *key, const char *text)
{
    json_object_set_new_nocheck(obj, key, json_string(text));
}

void deriver_add_event(json_t *events, const char *type, const json_t *loyalty_id,
                       const json_t *email, const char *occurred_at,
                       const char *discriminator, json_t *properties)
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

/* obj[key] as an integer: 1 with *out set, or 0 when it is not one. */
static int get_int(const json_t *obj, const char *key, long long *out)
{
    const json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value))
        return 0;
    *out = json_integer_value(value);
    return 1;
}

long long deriver_anniversaries_passed(int64_t achieved, int64_t day)
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
        loytime_format_date(loytime_add_years(start, done), date, sizeof(date));
        char count[24];
        deriver_join(when, sizeof(when), (const char *const[]){ date, "T00:00:00Z", NULL });
        deriver_join(discriminator, sizeof(discriminator),
                  (const char *const[]){ tier, ":", achieved, ":", deriver_int_text(done, count), NULL });
        properties = json_object();
        if (properties) {
            deriver_set_text_field(properties, "tier", tier);
            deriver_set_text_field(properties, "tier_achieve_date", achieved);
            json_object_set_new_nocheck(properties, "years", json_integer(done));
        }
        deriver_add_event(events, "tier_anniversary", loyalty_id, json_object_get(state, "email"),
                  when, discriminator, properties);
        fired++;
    }
    if (fired) {
        *new_state = json_copy((json_t *)state);
        json_object_set_new_nocheck(*new_state, "anniversaries", json_integer(done));
    }
    return fired;
}
