/* tests/emulators/ometria_gdpr.c: the ometria emulator's GDPR anonymisation
 * API (ometria_gdpr.h), after shared/reference/api-findings-2026-12.md O5:
 * POST /data-deletion-requests by email, GET /data-deletion-requests/{id},
 * 6 requests a minute, completion asynchronous (here after a configurable
 * delay instead of up to 14 days). Ometria anonymises: the profile stays
 * (its orders and counts keep their history) but its personal data goes;
 * the emulator does the same, keeping the contact's id and collection, so
 * a test sees both that the contact was reached and that no PII is left. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "ometria_gdpr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct om_gdpr {
    long per_minute;
    double delay_s;
    double *window;       /* per_minute times (monotonic s), a ring */
    long window_next;
    long anonymised;      /* contacts anonymised so far */
    unsigned long next_id;
    json_t *requests;     /* id -> {"email","due","status","created_at","completed_at"?} */
};

/* Monotonic seconds. */
static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The current UTC time as ISO 8601 into buf. */
static const char *now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

om_gdpr *om_gdpr_new(long per_minute, double delay_s)
{
    om_gdpr *gdpr = calloc(1, sizeof(*gdpr));
    if (!gdpr)
        return NULL;
    gdpr->per_minute = per_minute;
    gdpr->delay_s = delay_s;
    gdpr->requests = json_object();
    gdpr->window = per_minute > 0 ? calloc((size_t)per_minute, sizeof(double)) : NULL;
    if (!gdpr->requests || (per_minute > 0 && !gdpr->window))
        om_gdpr_free(&gdpr);
    return gdpr;
}

void om_gdpr_free(om_gdpr **gdpr_p)
{
    om_gdpr *gdpr = gdpr_p ? *gdpr_p : NULL;
    if (!gdpr)
        return;
    json_decref(gdpr->requests);
    free(gdpr->window);
    free(gdpr);
    *gdpr_p = NULL;
}

void om_gdpr_reset(om_gdpr *gdpr)
{
    json_object_clear(gdpr->requests);
    if (gdpr->window)
        memset(gdpr->window, 0, (size_t)gdpr->per_minute * sizeof(double));
    gdpr->window_next = 0;
    gdpr->anonymised = 0;
}

bool om_gdpr_admit(om_gdpr *gdpr)
{
    double now = now_mono();
    double oldest;
    if (gdpr->per_minute <= 0)
        return true;
    /* the slot to reuse holds the oldest of the last per_minute calls */
    oldest = gdpr->window[gdpr->window_next];
    if (oldest > 0 && now - oldest < 60.0)
        return false;
    gdpr->window[gdpr->window_next] = now;
    gdpr->window_next = (gdpr->window_next + 1) % gdpr->per_minute;
    return true;
}

const char *om_gdpr_request(om_gdpr *gdpr, const char *email)
{
    char id[40], at[32];
    snprintf(id, sizeof(id), "ddr-%06lu", ++gdpr->next_id);
    json_object_set_new(gdpr->requests, id,
                        json_pack("{s:s, s:f, s:s, s:s}", "email", email, "due",
                                  now_mono() + gdpr->delay_s, "status", "pending", "created_at",
                                  now_iso(at, sizeof(at))));
    return json_object_iter_key(json_object_iter_at(gdpr->requests, id));
}

json_t *om_gdpr_status(om_gdpr *gdpr, const char *id)
{
    json_t *request = json_object_get(gdpr->requests, id);
    if (!request)
        return NULL;
    return json_pack("{s:s, s:O, s:O, s:O?}", "id", id, "status",
                     json_object_get(request, "status"), "created_at",
                     json_object_get(request, "created_at"), "completed_at",
                     json_object_get(request, "completed_at"));
}

/* Anonymise every contact with `email`, take it out of every segment,
 * and strip the email from events naming it. */
static void anonymise(om_gdpr *gdpr, const char *email, json_t *contacts, json_t *segments,
                      json_t *events)
{
    const char *key, *name;
    json_t *contact, *members, *stored;
    json_object_foreach(contacts, key, contact) {
        const char *has = json_string_value(json_object_get(contact, "email"));
        if (!has || strcmp(has, email) != 0)
            continue;
        json_t *kept = json_pack("{s:O?, s:O?, s:b}", "id", json_object_get(contact, "id"),
                                 "@collection", json_object_get(contact, "@collection"),
                                 "@anonymised", 1);
        const char *id = json_string_value(json_object_get(contact, "id"));
        json_object_foreach(segments, name, members) {
            if (id)
                json_object_del(members, id);
        }
        json_object_clear(contact);
        json_object_update(contact, kept);
        json_decref(kept);
        gdpr->anonymised++;
    }
    json_object_foreach(events, key, stored) {
        json_t *record = json_object_get(stored, "record");
        const char *has = json_string_value(json_object_get(record, "identity_email"));
        if (has && strcmp(has, email) == 0)
            json_object_del(record, "identity_email");
    }
}

void om_gdpr_settle(om_gdpr *gdpr, json_t *contacts, json_t *segments, json_t *events)
{
    const char *id;
    json_t *request;
    double now = now_mono();
    char at[32];
    json_object_foreach(gdpr->requests, id, request) {
        const char *email = json_string_value(json_object_get(request, "email"));
        if (strcmp(json_string_value(json_object_get(request, "status")), "pending") != 0 ||
            json_real_value(json_object_get(request, "due")) > now)
            continue;
        if (email)
            anonymise(gdpr, email, contacts, segments, events);
        json_object_set_new(request, "status", json_string("completed"));
        json_object_set_new(request, "completed_at", json_string(now_iso(at, sizeof(at))));
        json_object_del(request, "email"); /* done: the request keeps no PII either */
    }
}

json_t *om_gdpr_dump(om_gdpr *gdpr)
{
    json_t *requests = json_object();
    const char *id;
    json_t *request;
    json_object_foreach(gdpr->requests, id, request) {
        json_object_set_new(requests, id, om_gdpr_status(gdpr, id));
    }
    return json_pack("{s:o, s:I}", "requests", requests, "anonymised", (json_int_t)gdpr->anonymised);
}
