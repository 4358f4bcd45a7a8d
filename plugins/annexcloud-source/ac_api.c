/* ac_api.c: signed calls to the Annex Cloud Loyalty API v3, the window
 * enumerator and the per-member fetch. Error codes from the reference map
 * to outcomes deliberately: AC1002 (401) stops the pipeline, AC1005 (no
 * data) is "not found", other 4xx are refusals, 408/429/5xx and transport
 * errors were already retried by the core's HTTP client. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "ac_api.h"
#include "ac_convert.h"
#include "ac_jwt.h"

#define AC_TIME_FORMAT "%Y-%m-%d %H:%M:%S"
#define AC_MAX_ACTIVITY_PAGES 1000
/* actionId of a purchase in the activity ledger (ac_convert.c reads the
 * purchase dates from the same items). */
#define AC_PURCHASE_ACTION_ID 109

void ac_now_canonical(char out[21])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* errorCode/errorMessage of an Annex error body into buf. */
static void annex_error_text(const json_t *body, long status, char *buf, size_t buflen)
{
    const char *code = json_string_value(json_object_get(body, "errorCode"));
    const char *message = json_string_value(json_object_get(body, "errorMessage"));

    if (code || message)
        snprintf(buf, buflen, "HTTP %ld, %s%s%s", status, code ? code : "", code && message ? ": " : "",
                 message ? message : "");
    else
        snprintf(buf, buflen, "HTTP %ld", status);
}

ac_result ac_call(ac_client *client, const char *method, const char *path, const char *body,
                  const char *hmac_payload, json_t **answer, char *err, size_t errlen,
                  char *server_date)
{
    const char *payload = hmac_payload ? hmac_payload : (body ? body : "");
    char *token = NULL, *bearer = NULL, url[2048];
    sluice_http_header headers[3];
    sluice_http_request req;
    sluice_http_response resp;
    sluice_http_class cls;
    json_t *parsed = NULL;
    json_error_t error;
    const char *code;
    ac_result result = AC_RETRY;
    size_t len;

    *answer = NULL;
    memset(&resp, 0, sizeof(resp));
    token = ac_jwt_build(client->secret, client->site_id, client->sub,
                         (long long)time(NULL) + client->jwt_ttl_s, payload, strlen(payload));
    if (!token) {
        snprintf(err, errlen, "cannot build the request JWT");
        goto out;
    }
    len = strlen(token) + 8;
    bearer = malloc(len);
    if (!bearer)
        goto out;
    snprintf(bearer, len, "Bearer %s", token);
    headers[0] = (sluice_http_header){"Authorization", bearer};
    headers[1] = (sluice_http_header){"X-AnnexCloud-Site", client->site_id};
    headers[2] = (sluice_http_header){"Content-Type", "application/json"};
    snprintf(url, sizeof(url), "%s%s", client->base_url, path);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.header_count = 3;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;

    cls = sluice_http(client->ctx, &req, &resp);
    atomic_fetch_add(&client->requests, (unsigned long)resp.attempts);
    if (server_date) {
        char *date = sluice_http_header_get(&resp, "Date");
        time_t when = date ? curl_getdate(date, NULL) : -1;
        struct tm tm;
        server_date[0] = '\0';
        if (when > 0 && gmtime_r(&when, &tm))
            strftime(server_date, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
        free(date);
    }
    if (resp.body && resp.body_len)
        parsed = json_loadb(resp.body, resp.body_len, 0, &error);
    code = json_string_value(json_object_get(parsed, "errorCode"));
    switch (cls) {
    case SLUICE_HTTP_SUCCESS:
        if (!parsed) {
            snprintf(err, errlen, "%s %s: answer is not JSON", method, path);
            result = AC_REJECTED;
            break;
        }
        *answer = parsed;
        parsed = NULL;
        result = AC_OK;
        break;
    case SLUICE_HTTP_AUTH:
        sluice_fail(client->ctx, "credentials rejected by Annex Cloud (HTTP %ld, %s)", resp.status,
                    code ? code : "no error code");
        snprintf(err, errlen, "credentials rejected");
        result = AC_FATAL;
        break;
    case SLUICE_HTTP_CONFIG:
        /* e.g. a certificate that fails verification: retrying cannot help */
        sluice_fail(client->ctx, "cannot reach Annex Cloud: %s", resp.error);
        snprintf(err, errlen, "%s", resp.error);
        result = AC_FATAL;
        break;
    case SLUICE_HTTP_REJECTED:
        annex_error_text(parsed, resp.status, err, errlen);
        /* Only AC1005 means "no data". AC1001 ("Oops! Something went
         * wrong", sent with 404) is the server's trouble: try again. A
         * 404 without a code (wrong base_url) is a refusal. */
        if (code && strcmp(code, "AC1005") == 0)
            result = AC_NOT_FOUND;
        else if (code && strcmp(code, "AC1001") == 0)
            result = AC_RETRY;
        else
            result = AC_REJECTED;
        break;
    case SLUICE_HTTP_RETRYABLE:
        if (resp.status)
            annex_error_text(parsed, resp.status, err, errlen);
        else
            snprintf(err, errlen, "%s", resp.error);
        result = AC_RETRY;
        break;
    }
out:
    sluice_http_response_clear(&resp);
    json_decref(parsed);
    free(token);
    free(bearer);
    return result;
}

/* The array of users in a search answer: a bare array, or wrapped. */
static json_t *search_users(json_t *answer)
{
    static const char *const keys[] = {"Data", "data", "users", "results"};

    if (json_is_array(answer))
        return answer;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *list = json_object_get(answer, keys[i]);
        if (json_is_array(list))
            return list;
    }
    return NULL;
}

ac_result ac_search_window(ac_client *client, time_t start, time_t end, json_t **users,
                           char *err, size_t errlen)
{
    char from[32], to[32];
    struct tm tm;
    json_t *request, *answer = NULL, *list;
    char *body;
    ac_result result;

    *users = NULL;
    gmtime_r(&start, &tm);
    strftime(from, sizeof(from), AC_TIME_FORMAT, &tm);
    gmtime_r(&end, &tm);
    strftime(to, sizeof(to), AC_TIME_FORMAT, &tm);
    request = json_pack("{s:{s:s, s:s}}", "dataSearch", "optInStartDate", from, "optInEndDate", to);
    body = request ? json_dumps(request, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(request);
    if (!body) {
        snprintf(err, errlen, "cannot encode the search request");
        return AC_REJECTED;
    }
    result = ac_call(client, "POST", "/users/search", body, NULL, &answer, err, errlen, NULL);
    free(body);
    if (result == AC_NOT_FOUND) { /* AC1005: nothing in this window */
        *users = json_array();
        return AC_OK;
    }
    if (result != AC_OK)
        return result;
    list = search_users(answer);
    if (!list) {
        snprintf(err, errlen, "POST /users/search: answer has no list of users");
        json_decref(answer);
        return AC_REJECTED;
    }
    *users = json_incref(list);
    json_decref(answer);
    return AC_OK;
}

ac_result ac_enumerate(ac_search_fn search, void *user, time_t from, time_t to, json_t *ids,
                       size_t *searches, char *err, size_t errlen)
{
    /* Depth-first over windows, earlier half first, so ids come out in
     * opt-in order; the stack holds at most one pending window per level. */
    time_t stack_start[128], stack_end[128];
    int depth = 0;

    *searches = 0;
    if (to <= from)
        return AC_OK;
    stack_start[0] = from;
    stack_end[0] = to;
    depth = 1;
    while (depth > 0) {
        time_t start = stack_start[depth - 1], end = stack_end[depth - 1];
        json_t *users = NULL, *one;
        ac_result result;
        size_t i;

        depth--;
        result = search(user, start, end, &users, err, errlen);
        (*searches)++;
        if (result != AC_OK)
            return result;
        if (json_array_size(users) >= AC_SEARCH_LIMIT) {
            time_t middle = start + (end - start) / 2;
            json_decref(users);
            if (end - start <= 1 || depth + 2 > (int)(sizeof(stack_start) / sizeof(stack_start[0]))) {
                char when[32];
                struct tm tm;
                gmtime_r(&start, &tm);
                strftime(when, sizeof(when), AC_TIME_FORMAT, &tm);
                snprintf(err, errlen,
                         "%d or more members opted in within the second %s: POST /users/search "
                         "cannot list them (50-result cap); use feed mode for this program",
                         AC_SEARCH_LIMIT, when);
                return AC_REJECTED;
            }
            /* Later half below the earlier one: the earlier is searched next. */
            stack_start[depth] = middle;
            stack_end[depth] = end;
            depth++;
            stack_start[depth] = start;
            stack_end[depth] = middle;
            depth++;
            continue;
        }
        json_array_foreach(users, i, one) {
            const json_t *id = json_object_get(ac_user_object(one), "id");
            if (json_is_string(id))
                json_array_append(ids, (json_t *)id);
        }
        json_decref(users);
    }
    return AC_OK;
}

/* Path /prefix/<escaped id>/suffix into buf. */
static int member_path(char *buf, size_t buflen, const char *prefix, const char *id, const char *suffix)
{
    char *escaped = curl_easy_escape(NULL, id, 0);
    int n;

    if (!escaped)
        return -1;
    n = snprintf(buf, buflen, "%s%s%s", prefix, escaped, suffix);
    curl_free(escaped);
    return n > 0 && (size_t)n < buflen ? 0 : -1;
}

/* GET one member resource signed with the member id. */
static ac_result get_member_part(ac_client *client, const char *prefix, const char *id,
                                 const char *suffix, const char *id_literal, json_t **answer,
                                 char *err, size_t errlen, char *server_date)
{
    char path[1024];

    if (member_path(path, sizeof(path), prefix, id, suffix) != 0) {
        snprintf(err, errlen, "member id too long: %.40s...", id);
        return AC_REJECTED;
    }
    return ac_call(client, "GET", path, NULL, id_literal, answer, err, errlen, server_date);
}

/* 1 when an activity item is a purchase (actionId 109, number or text). */
static int is_purchase(const json_t *item)
{
    const json_t *action = json_object_get(item, "actionId");
    const char *text = json_string_value(action);

    return json_number_value(action) == AC_PURCHASE_ACTION_ID || (text && strcmp(text, "109") == 0);
}

/* Activity page `page` of a member: its items appended to `all`, *pages
 * set to the page count the answer gives (at least 1) and *purchase to 1
 * when one of its items is a purchase. A member without activity (AC1005)
 * is one empty page. */
static ac_result get_activity_page(ac_client *client, const char *id, const char *id_literal,
                                   long page, json_t *all, long *pages, int *purchase,
                                   char *err, size_t errlen)
{
    char suffix[48];
    json_t *answer = NULL, *details, *item;
    ac_result result;
    size_t i;

    snprintf(suffix, sizeof(suffix), "/activity?page=%ld", page);
    *pages = 1;
    *purchase = 0;
    result = get_member_part(client, "/users/", id, suffix, id_literal, &answer, err, errlen, NULL);
    if (result == AC_NOT_FOUND)
        return AC_OK;
    if (result != AC_OK)
        return result;
    details = json_object_get(answer, "activityDetail");
    if (json_is_object(details)) {
        json_array_append(all, details);
        *purchase = is_purchase(details);
    }
    json_array_foreach(json_is_array(details) ? details : NULL, i, item) {
        json_array_append(all, item);
        *purchase |= is_purchase(item);
    }
    if (json_integer_value(json_object_get(answer, "pages")) > 1)
        *pages = (long)json_integer_value(json_object_get(answer, "pages"));
    json_decref(answer);
    return AC_OK;
}

/* The activity items of a member that decide its first/last activity and
 * purchase dates, into one array (new reference). The ledger is paged in
 * date order (newest first as observed; the other order works as well):
 * page 1 and the last page hold the latest and the earliest items, so
 * those two are read, and the pages next to them only until each end has
 * shown a purchase. With client->activity_all every page is read. */
static ac_result get_activity(ac_client *client, const char *id, const char *id_literal,
                              json_t **items, char *err, size_t errlen)
{
    json_t *all = json_array();
    long pages = 1, seen = 1, front = 1, back;
    int front_purchase = 0, back_purchase = 0, purchase = 0;
    ac_result result = AC_REJECTED;

    *items = NULL;
    if (!all)
        goto out;
    result = get_activity_page(client, id, id_literal, 1, all, &pages, &front_purchase, err,
                               errlen);
    if (pages > AC_MAX_ACTIVITY_PAGES)
        pages = AC_MAX_ACTIVITY_PAGES;
    if (client->activity_all) {
        for (long page = 2; result == AC_OK && page <= pages; page++)
            result = get_activity_page(client, id, id_literal, page, all, &seen, &purchase, err,
                                       errlen);
        goto out;
    }
    back = pages;
    if (result == AC_OK && back > 1)
        result = get_activity_page(client, id, id_literal, back, all, &seen, &back_purchase,
                                   err, errlen);
    /* activity added meanwhile pushed the earliest items onto a new page */
    while (result == AC_OK && seen > back && back < AC_MAX_ACTIVITY_PAGES) {
        back++;
        result = get_activity_page(client, id, id_literal, back, all, &seen, &purchase, err,
                                   errlen);
        back_purchase |= purchase;
    }
    while (result == AC_OK && !front_purchase && front + 1 < back) {
        front++;
        result = get_activity_page(client, id, id_literal, front, all, &seen, &front_purchase,
                                   err, errlen);
    }
    while (result == AC_OK && !back_purchase && front + 1 < back) {
        back--;
        result = get_activity_page(client, id, id_literal, back, all, &seen, &back_purchase,
                                   err, errlen);
    }
out:
    if (result == AC_OK)
        *items = all;
    else
        json_decref(all);
    return result;
}

ac_result ac_fetch_member(ac_client *client, const char *id, const json_t *segments,
                          const char *as_of, json_t **member, char *err, size_t errlen)
{
    char *literal = ac_jwt_get_payload(id);
    json_t *user = NULL, *points = NULL, *tiers = NULL, *reward = NULL, *activity = NULL;
    json_t *no_segments = NULL;
    char server_date[21] = "";
    ac_member_parts parts;
    ac_result result = AC_REJECTED;

    *member = NULL;
    if (!literal)
        goto out;
    result = get_member_part(client, "/users/", id, "", literal, &user, err, errlen, server_date);
    if (result == AC_OK && client->read_points)
        result = get_member_part(client, "/points/", id, "", literal, &points, err, errlen, NULL);
    if (result == AC_OK && client->read_tiers)
        result = get_member_part(client, "/users/", id, "/tiers", literal, &tiers, err, errlen, NULL);
    if (result == AC_OK && client->read_reward)
        result = get_member_part(client, "/users/", id, "/reward", literal, &reward, err, errlen, NULL);
    if (result == AC_OK && client->fetch_activity)
        result = get_activity(client, id, literal, &activity, err, errlen);
    if (result != AC_OK)
        goto out;
    memset(&parts, 0, sizeof(parts));
    parts.user = user;
    parts.points = points;
    parts.tiers = tiers;
    parts.reward = reward;
    parts.activity = activity;
    if (segments) {
        const json_t *names = json_object_get(segments, id);
        no_segments = names ? NULL : json_array();
        parts.segments = names ? names : no_segments;
    }
    *member = ac_member_canonical(&parts, client->server_time && server_date[0] ? server_date : as_of);
    if (!*member) {
        snprintf(err, errlen, "GET /users/%s: answer has no member id", id);
        result = AC_REJECTED;
    }
out:
    free(literal);
    json_decref(user);
    json_decref(points);
    json_decref(tiers);
    json_decref(reward);
    json_decref(activity);
    json_decref(no_segments);
    return result;
}

ac_result ac_fetch_segments(ac_client *client, json_t **by_member, char *err, size_t errlen)
{
    json_t *answer = NULL, *list, *segment, *result_map = json_object();
    ac_result result;
    size_t i;

    *by_member = NULL;
    result = ac_call(client, "GET", "/segmentlist/all", NULL, "\"all\"", &answer, err, errlen, NULL);
    if (result == AC_NOT_FOUND) {
        *by_member = result_map;
        return AC_OK;
    }
    if (result != AC_OK) {
        json_decref(result_map);
        return result;
    }
    list = json_object_get(answer, "segmentList");
    if (!json_is_array(list))
        list = json_is_array(answer) ? answer : NULL;
    json_array_foreach(list, i, segment) {
        const json_t *sid = json_object_get(segment, "segmentId");
        const char *name = json_string_value(json_object_get(segment, "segmentName"));
        char sid_text[64], path[128], literal[80];
        json_t *eligible = NULL, *users, *one;
        size_t j;

        if (json_is_integer(sid))
            snprintf(sid_text, sizeof(sid_text), "%" JSON_INTEGER_FORMAT, json_integer_value(sid));
        else if (json_is_string(sid))
            snprintf(sid_text, sizeof(sid_text), "%s", json_string_value(sid));
        else
            continue;
        if (!name)
            continue;
        snprintf(path, sizeof(path), "/eligiblesegment/%s", sid_text);
        snprintf(literal, sizeof(literal), "\"%s\"", sid_text);
        result = ac_call(client, "GET", path, NULL, literal, &eligible, err, errlen, NULL);
        if (result == AC_NOT_FOUND)
            continue;
        if (result != AC_OK)
            break;
        users = json_object_get(eligible, "userId");
        json_array_foreach(users, j, one) {
            const char *member = json_string_value(one);
            json_t *names;
            if (!member)
                continue;
            names = json_object_get(result_map, member);
            if (!names) {
                names = json_array();
                json_object_set_new(result_map, member, names);
            }
            json_array_append_new(names, json_string(name));
        }
        json_decref(eligible);
    }
    json_decref(answer);
    if (result != AC_OK && result != AC_NOT_FOUND) {
        json_decref(result_map);
        return result;
    }
    *by_member = result_map;
    return AC_OK;
}
