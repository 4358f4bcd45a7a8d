/* ac_convert.c: Annex Cloud member data to canonical loyalty records. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "ac_convert.h"
#include "loytime.h"

#define PURCHASE_ACTION_ID 109

const json_t *ac_user_object(const json_t *answer)
{
    const json_t *data = json_object_get(answer, "Data");

    if (json_is_object(data))
        return data;
    data = json_object_get(answer, "data");
    if (json_is_object(data))
        return data;
    return json_is_object(answer) ? answer : NULL;
}

/* The forms of Annex Cloud dates and times (ac_convert.h): a date, or a
 * time with 'T' (or a space) and a zone. */
#define ANNEX_TIME_FORMS (LOYTIME_DATE_ALONE | LOYTIME_SPACE_SEPARATOR)

int ac_time_epoch(const char *text, int64_t *epoch)
{
    int64_t when, year;
    unsigned month, day;

    if (loytime_parse_time(text, ANNEX_TIME_FORMS, &when) != 0)
        return -1;
    /* An offset can move a time across either end of the range: the
     * result would be a value no longer accepted (1799) or too long for
     * the canonical forms (10000). */
    loytime_civil_from_days(loytime_day_of(when), &year, &month, &day);
    if (year < 1800 || year > 9999)
        return -1;
    *epoch = when;
    return 0;
}

int ac_timestamp_canonical(const char *text, char out[21])
{
    int64_t when;

    if (ac_time_epoch(text, &when) != 0)
        return -1;
    loytime_format_timestamp(when, out, 21);
    return 0;
}

int ac_date_canonical(const char *text, char out[11])
{
    int64_t when;

    if (ac_time_epoch(text, &when) != 0)
        return -1;
    loytime_format_date(loytime_day_of(when), out, 11);
    return 0;
}

/* ---- field conversions: each sets record[key] from value (borrowed) ---- */

static void set_string(json_t *record, const char *key, const json_t *value)
{
    if (!value)
        return;
    if (json_is_string(value) || json_is_null(value)) {
        json_object_set(record, key, (json_t *)value);
    } else if (json_is_integer(value)) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        json_object_set_new(record, key, json_string(buf));
    } else {
        char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        json_object_set_new(record, key, text ? json_string(text) : json_null());
        free(text);
    }
}

/* Lower-case enum or email ("YES" -> "yes", "A@B.COM" -> "a@b.com"),
 * whatever its length. */
static void set_lower(json_t *record, const char *key, const json_t *value)
{
    const char *text = json_string_value(value);
    size_t len = json_string_length(value), i;
    char *lower;

    if (!text || !(lower = malloc(len + 1))) {
        set_string(record, key, value);
        return;
    }
    for (i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)text[i]);
    lower[len] = '\0';
    json_object_set_new(record, key, json_stringn(lower, len));
    free(lower);
}

/* Integer from a JSON number or numeric string; else the original text. */
static void set_int(json_t *record, const char *key, const json_t *value)
{
    if (!value)
        return;
    if (json_is_integer(value) || json_is_null(value)) {
        json_object_set(record, key, (json_t *)value);
        return;
    }
    if (json_is_real(value)) {
        double d = json_real_value(value);
        if (d == floor(d) && fabs(d) < 9e15)
            json_object_set_new(record, key, json_integer((json_int_t)d));
        else
            set_string(record, key, value);
        return;
    }
    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        char *end = NULL;
        long long parsed;
        errno = 0;
        parsed = strtoll(text, &end, 10);
        if (errno == 0 && end != text && *end == '\0') {
            json_object_set_new(record, key, json_integer((json_int_t)parsed));
            return;
        }
        if (end != text && strcmp(end, ".0") == 0 && errno == 0) {
            json_object_set_new(record, key, json_integer((json_int_t)parsed));
            return;
        }
    }
    set_string(record, key, value);
}

/* Set record[key] to the canonical form of a date or time value through
 * `convert` (ac_date_canonical / ac_timestamp_canonical, into a buffer of
 * 21 bytes); empty means null; what does not convert is passed on as is. */
static void set_converted(json_t *record, const char *key, const json_t *value,
                          int (*convert)(const char *text, char *out))
{
    char out[21];
    const char *text = json_string_value(value);

    if (!value)
        return;
    if (json_is_null(value) || (text && *text == '\0')) {
        json_object_set_new(record, key, json_null());
        return;
    }
    if (text && convert(text, out) == 0)
        json_object_set_new(record, key, json_string(out));
    else
        set_string(record, key, value);
}

static int date_into(const char *text, char *out)
{
    return ac_date_canonical(text, out);
}

static int timestamp_into(const char *text, char *out)
{
    return ac_timestamp_canonical(text, out);
}

static void set_date(json_t *record, const char *key, const json_t *value)
{
    set_converted(record, key, value, date_into);
}

static void set_timestamp(json_t *record, const char *key, const json_t *value)
{
    set_converted(record, key, value, timestamp_into);
}

/* Numeric value of a JSON number or numeric string; -1 if neither, or if
 * it is not finite or beyond +-9e15 (no points count is; the callers
 * subtract and convert to integers, which such values would overflow). */
static double number_of(const json_t *value)
{
    double d = -1;

    if (json_is_number(value)) {
        d = json_number_value(value);
    } else if (json_is_string(value)) {
        char *end = NULL;
        d = strtod(json_string_value(value), &end);
        if (!end || *end != '\0' || end == json_string_value(value))
            d = -1;
    }
    return isfinite(d) && fabs(d) <= 9e15 ? d : -1;
}

static int reward_cmp(const void *a, const void *b)
{
    double x = number_of(json_object_get(*(json_t *const *)a, "creditRequired"));
    double y = number_of(json_object_get(*(json_t *const *)b, "creditRequired"));
    return x < y ? -1 : x > y;
}

/* available_rewards, highest_available_reward, points_req_for_next_reward. */
static void set_rewards(json_t *record, const json_t *reward, const json_t *points)
{
    const json_t *details = json_object_get(reward, "rewardDetail");
    size_t n = json_array_size(details), i;
    json_t **sorted;
    json_t *available = json_array();
    double have = number_of(json_object_get(points, "availablePoints"));
    double next = -1;

    sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted || !available) {
        free(sorted);
        json_decref(available);
        return;
    }
    for (i = 0; i < n; i++)
        sorted[i] = json_array_get(details, i);
    qsort(sorted, n, sizeof(*sorted), reward_cmp);
    for (i = 0; i < n; i++) {
        const json_t *eligible = json_object_get(sorted[i], "eligible");
        const char *text = json_string_value(json_object_get(sorted[i], "displayText"));
        double cost = number_of(json_object_get(sorted[i], "creditRequired"));
        int yes = json_is_true(eligible) ||
                  (json_is_string(eligible) && strcasecmp(json_string_value(eligible), "yes") == 0);
        if (yes && text)
            json_array_append_new(available, json_string(text));
        if (have >= 0 && cost > have && (next < 0 || cost < next))
            next = cost;
    }
    json_object_set_new(record, "available_rewards", available);
    json_object_set_new(record, "points_req_for_next_reward",
                        json_integer(next > 0 && have >= 0 ? (json_int_t)(next - have) : 0));
    {
        size_t count = json_array_size(available);
        json_object_set(record, "highest_available_reward",
                        count ? json_array_get(available, count - 1) : json_null());
    }
    free(sorted);
}

/* First/last activity and purchase dates from ledger items. */
static void set_activity_dates(json_t *record, const json_t *items)
{
    char first[11] = "", last[11] = "", first_buy[11] = "", last_buy[11] = "";
    size_t i;
    json_t *item;

    json_array_foreach((json_t *)items, i, item) {
        char day[11];
        const char *when = json_string_value(json_object_get(item, "createDate"));
        double action = number_of(json_object_get(item, "actionId"));
        if (!when || ac_date_canonical(when, day) != 0)
            continue;
        if (!first[0] || strcmp(day, first) < 0)
            memcpy(first, day, sizeof(day));
        if (!last[0] || strcmp(day, last) > 0)
            memcpy(last, day, sizeof(day));
        if (action == PURCHASE_ACTION_ID) {
            if (!first_buy[0] || strcmp(day, first_buy) < 0)
                memcpy(first_buy, day, sizeof(day));
            if (!last_buy[0] || strcmp(day, last_buy) > 0)
                memcpy(last_buy, day, sizeof(day));
        }
    }
    json_object_set_new(record, "first_activity_date", first[0] ? json_string(first) : json_null());
    json_object_set_new(record, "last_activity_date", last[0] ? json_string(last) : json_null());
    json_object_set_new(record, "first_purchase_date", first_buy[0] ? json_string(first_buy) : json_null());
    json_object_set_new(record, "last_purchase_date", last_buy[0] ? json_string(last_buy) : json_null());
}

json_t *ac_member_canonical(const ac_member_parts *parts, const char *as_of)
{
    const json_t *user = ac_user_object(parts->user);
    const json_t *id = json_object_get(user, "id");
    const json_t *email = json_object_get(user, "email");
    json_t *record;

    if (!id || !(json_is_string(id) || json_is_integer(id)))
        return NULL;
    record = json_object();
    if (!record)
        return NULL;
    json_object_set_new(record, "kind", json_string("member"));
    set_string(record, "loyalty_id", id);
    json_object_set_new(record, "as_of", json_string(as_of));
    set_string(record, "first_name", json_object_get(user, "firstName"));
    set_string(record, "last_name", json_object_get(user, "lastName"));
    if (json_is_string(email))
        set_lower(record, "email", email);
    else
        set_string(record, "email", email);
    set_lower(record, "active_status", json_object_get(user, "status"));
    set_date(record, "birthday", json_object_get(user, "birthDate"));
    set_date(record, "anniversary_date", json_object_get(user, "anniversaryDate"));
    set_string(record, "phone", json_object_get(user, "phone"));
    set_string(record, "zip_code", json_object_get(user, "zipCode"));
    set_lower(record, "opt_in_status", json_object_get(user, "optInStatus"));
    set_timestamp(record, "opt_in_date", json_object_get(user, "optInDate"));
    set_date(record, "opt_out_date", json_object_get(user, "optOutDate"));
    if (parts->points) {
        set_int(record, "available_points", json_object_get(parts->points, "availablePoints"));
        set_int(record, "earned_points", json_object_get(parts->points, "lifetimePoints"));
        set_int(record, "used_points", json_object_get(parts->points, "usedPoints"));
        set_int(record, "hold_points", json_object_get(parts->points, "holdPoints"));
        set_int(record, "next_expiring_points", json_object_get(parts->points, "pointsToExpire"));
        set_date(record, "points_expiration_date", json_object_get(parts->points, "pointsToExpireDate"));
        set_int(record, "expired_points", json_object_get(parts->points, "expiredPoints"));
    }
    if (parts->tiers) {
        const json_t *next = json_object_get(parts->tiers, "nextTier");
        set_string(record, "current_tier", json_object_get(parts->tiers, "currentTier"));
        if (json_is_string(next) && json_string_length(next) == 0)
            json_object_set_new(record, "next_tier", json_null());
        else
            set_string(record, "next_tier", next);
        set_int(record, "points_req_for_next_tier", json_object_get(parts->tiers, "pointsToNextTier"));
        set_date(record, "tier_achieve_date", json_object_get(parts->tiers, "tierAchieveDate"));
    }
    if (parts->reward)
        set_rewards(record, parts->reward, parts->points);
    if (parts->activity_summary) {
        set_date(record, "first_activity_date", json_object_get(parts->activity_summary, "firstActivityDate"));
        set_date(record, "last_activity_date", json_object_get(parts->activity_summary, "lastActivityDate"));
        set_date(record, "first_purchase_date", json_object_get(parts->activity_summary, "firstPurchaseDate"));
        set_date(record, "last_purchase_date", json_object_get(parts->activity_summary, "lastPurchaseDate"));
    } else if (parts->activity) {
        set_activity_dates(record, parts->activity);
    }
    if (json_is_array(parts->segments))
        json_object_set(record, "segments", (json_t *)parts->segments);
    return record;
}

void ac_member_hash(const json_t *member, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    json_t *copy = json_copy((json_t *)member);
    char *text;
    unsigned char digest[32];
    unsigned int len = 0;

    out[0] = '\0';
    if (!copy)
        return;
    json_object_del(copy, "as_of");
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    if (!text)
        return;
    if (EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL) && len == 32) {
        for (size_t i = 0; i < 32; i++) {
            out[2 * i] = hex[digest[i] >> 4];
            out[2 * i + 1] = hex[digest[i] & 15];
        }
        out[64] = '\0';
    }
    free(text);
}

void ac_event_id(const char *loyalty_id, const char *event_type, const char *discriminator,
                 char out[33])
{
    static const char hex[] = "0123456789abcdef";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[32];
    unsigned int len = 0;

    out[0] = '\0';
    if (!md)
        return;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, loyalty_id, strlen(loyalty_id)) &&
        EVP_DigestUpdate(md, "|", 1) && EVP_DigestUpdate(md, event_type, strlen(event_type)) &&
        EVP_DigestUpdate(md, "|", 1) && EVP_DigestUpdate(md, discriminator, strlen(discriminator)) &&
        EVP_DigestFinal_ex(md, digest, &len) && len == 32) {
        for (size_t i = 0; i < 16; i++) {
            out[2 * i] = hex[digest[i] >> 4];
            out[2 * i + 1] = hex[digest[i] & 15];
        }
        out[32] = '\0';
    }
    EVP_MD_CTX_free(md);
}
