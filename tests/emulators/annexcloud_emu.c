/* annexcloud_emu.c: annexcloud-emu, an emulator of the Annex Cloud Loyalty API v3 with webhooks and Data Feed (tests only).
 *
 * Follows /work/shared/reference/annexcloud-api.md (documented forms by default, switches for
 * the observed variants); see docs/testing.md, section "annexcloud-emu", for the contract.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "annexcloud_emu.h"
#include "emu_common.h"

#define DEFAULT_SITE_ID "29235480"
#define ADVANCE_WAIT_LIMIT_MS (15L * 60L * 1000L)
/* Sites with a token bucket of their own (--rate-limit); more share the last. */
#define RATE_SITES_MAX 16

typedef struct settings {
    const char *site_id;
    const char *secret;
    const char *program_dir;
    const char *webhook_url;
    const char *webhook_secret;
    const char *webhook_header;
    const char *webhook_basic;
    bool webhook_full;
    bool webhook_delta;       /* --webhook-payload delta (annexcloud_delta.c) */
    long webhook_max_attempts;
    const char *feed_dir;
    bool flat_users;
    bool search_wrap_data;
    const char *clock;
    bool has_clock;
    time_t clock_value;
    double rate_limit;        /* requests/s per site, 0 = none (--rate-limit) */
} settings;

/* One site's token bucket (the X-AnnexCloud-Site header names the site). */
typedef struct site_bucket {
    char site[64];
    emu_bucket bucket;
} site_bucket;

typedef struct emulator {
    settings cfg;
    annex_model *model;
    annex_webhook *webhook;
    unsigned long long feed_seq;
    unsigned long long event_serial;
    json_t *announced;        /* delta mode: member id -> profile last announced */
    site_bucket buckets[RATE_SITES_MAX]; /* under emu_lock */
    size_t bucket_count;
} emulator;

static const char USAGE[] =
    "usage: annexcloud-emu --secret S [--port N] [--site-id 29235480] [--program DIR]\n"
    "         [--webhook-url URL] [--webhook-secret S] [--webhook-header X-AnnexCloud-Signature]\n"
    "         [--webhook-basic user:pass] [--webhook-payload full|minimal|delta] [--webhook-max-attempts N]\n"
    "         [--feed-dir DIR] [--flat-users] [--search-wrap none|Data] [--clock ISO]\n"
    "         [--rate-limit R] [fault flags]\n"
    "Emulates the Annex Cloud Loyalty API v3 (JWT + hmac auth) for DIR/annex/members.jsonl; POST\n"
    "/_emu/advance {\"days\":N}|{\"until\":ISO} applies DIR/annex/changes.jsonl and sends webhooks;\n"
    "POST /_emu/feed writes a Data Feed CSV into --feed-dir. --rate-limit R: a token bucket of R\n"
    "requests/s (burst R) per site; beyond it 429, with Retry-After only when --retry-after S is\n"
    "given. See docs/testing.md.\n";

/* ------------------------------------------------------------ command line */

static int parse_flag(void *user, const char *flag, const char *value)
{
    settings *cfg = user;
    static const struct { const char *flag; size_t offset; } string_flags[] = {
        {"--site-id", offsetof(settings, site_id)},
        {"--secret", offsetof(settings, secret)},
        {"--program", offsetof(settings, program_dir)},
        {"--webhook-url", offsetof(settings, webhook_url)},
        {"--webhook-secret", offsetof(settings, webhook_secret)},
        {"--webhook-header", offsetof(settings, webhook_header)},
        {"--webhook-basic", offsetof(settings, webhook_basic)},
        {"--feed-dir", offsetof(settings, feed_dir)},
    };
    if (strcmp(flag, "--flat-users") == 0) {
        cfg->flat_users = true;
        return 1;
    }
    for (size_t i = 0; i < sizeof string_flags / sizeof string_flags[0]; i++) {
        if (strcmp(flag, string_flags[i].flag) != 0)
            continue;
        if (!value || !*value) {
            fprintf(stderr, "annexcloud-emu: %s needs a value\n", flag);
            return -1;
        }
        *(const char **)((char *)cfg + string_flags[i].offset) = value;
        return 2;
    }
    if (!value) {
        fprintf(stderr, "annexcloud-emu: unknown flag or missing value: %s\n", flag);
        return -1;
    }
    if (strcmp(flag, "--webhook-payload") == 0) {
        if (strcmp(value, "full") != 0 && strcmp(value, "minimal") != 0 &&
            strcmp(value, "delta") != 0) {
            fprintf(stderr, "annexcloud-emu: --webhook-payload must be full, minimal or delta, not '%s'\n",
                    value);
            return -1;
        }
        cfg->webhook_full = strcmp(value, "minimal") != 0;
        cfg->webhook_delta = strcmp(value, "delta") == 0;
        return 2;
    }
    if (strcmp(flag, "--search-wrap") == 0) {
        if (strcmp(value, "none") != 0 && strcmp(value, "Data") != 0) {
            fprintf(stderr, "annexcloud-emu: --search-wrap must be none or Data, not '%s'\n", value);
            return -1;
        }
        cfg->search_wrap_data = strcmp(value, "Data") == 0;
        return 2;
    }
    if (strcmp(flag, "--rate-limit") == 0)
        return emu_parse_rate(flag, value, &cfg->rate_limit) == 0 ? 2 : -1;
    if (strcmp(flag, "--webhook-max-attempts") == 0) {
        char *end = NULL;
        errno = 0;
        long attempts = strtol(value, &end, 10);
        if (errno || end == value || *end || attempts < 1 || attempts > 1000) {
            fprintf(stderr, "annexcloud-emu: --webhook-max-attempts must be 1..1000, not '%s'\n", value);
            return -1;
        }
        cfg->webhook_max_attempts = attempts;
        return 2;
    }
    if (strcmp(flag, "--clock") == 0) {
        if (annex_time_parse(value, &cfg->clock_value) != 0) {
            fprintf(stderr, "annexcloud-emu: --clock must be an ISO timestamp (2026-01-01T00:00:00Z), not '%s'\n",
                    value);
            return -1;
        }
        cfg->has_clock = true;
        return 2;
    }
    fprintf(stderr, "annexcloud-emu: unknown flag: %s\n", flag);
    return -1;
}

/* ------------------------------------------------------------ responses */

static void respond_error(emu_response *resp, int status, const char *code, const char *message)
{
    emu_respond_pack(resp, status, "{s:s,s:s}", "errorCode", code, "errorMessage", message);
}

static void respond_not_found(emu_response *resp)
{
    respond_error(resp, 404, "AC1005", "No data found");
}

/* Takes a token from the bucket of the request's site (--rate-limit); on
 * refusal answers 429 (Retry-After only with --retry-after) and returns
 * false. Call under emu_lock. */
static bool admit(emu_server *srv, emulator *emu, const emu_request *req, emu_response *resp)
{
    const char *site = emu_header(req, "X-AnnexCloud-Site");
    site_bucket *b = NULL;
    int retry_after;

    if (emu->cfg.rate_limit <= 0)
        return true;
    site = site ? site : "";
    for (size_t i = 0; i < emu->bucket_count && !b; i++)
        if (strncmp(emu->buckets[i].site, site, sizeof(emu->buckets[i].site) - 1) == 0)
            b = &emu->buckets[i];
    if (!b && emu->bucket_count < RATE_SITES_MAX) {
        b = &emu->buckets[emu->bucket_count++];
        snprintf(b->site, sizeof(b->site), "%s", site);
    }
    if (!b)
        b = &emu->buckets[RATE_SITES_MAX - 1];
    if (emu_bucket_take(&b->bucket, emu->cfg.rate_limit))
        return true;
    emu_count(srv, "rate_limited", 1);
    emu_respond_pack(resp, 429, "{s:s}", "errorMessage", "Too Many Requests");
    retry_after = emu_get_faults(srv).retry_after;
    if (retry_after >= 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%d", retry_after);
        emu_respond_header(resp, "Retry-After", secs);
    }
    return false;
}

/* Checks the request's rate (admit) and credentials; answers 429, or 401 AC1002 when
 * they fail, and returns false. hmac_id: the GET path value the hmac covers (NULL: the
 * raw body). Call under emu_lock. */
static bool authorised(emu_server *srv, emulator *emu, const emu_request *req, emu_response *resp,
                       const char *hmac_id)
{
    char why[160] = "credentials rejected by --reject-auth";
    char *literal = NULL;
    bool ok = false;
    if (!admit(srv, emu, req, resp))
        return false;
    if (!emu_reject_auth(srv)) {
        const void *payload = req->body;
        size_t payload_len = req->body_len;
        if (hmac_id) {
            json_t *id = json_string(hmac_id);
            literal = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            json_decref(id);
            payload = literal ? literal : "";
            payload_len = literal ? strlen(literal) : 0;
        }
        ok = annex_auth_verify(emu->cfg.secret, emu->cfg.site_id, emu_header(req, "Authorization"),
                               emu_header(req, "X-AnnexCloud-Site"), payload, payload_len,
                               annex_model_clock(emu->model), why, sizeof why) == 0;
    }
    if (ok) {
        /* The program's clock, not the machine's: a client that stamps what it
         * reads with the server's Date sees the simulated time. */
        char date[64];
        time_t clock = annex_model_clock(emu->model);
        struct tm tm;
        gmtime_r(&clock, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        emu_respond_header(resp, "Date", date);
    } else {
        fprintf(stderr, "annexcloud-emu: 401 %s %s: %s\n", req->method, req->path, why);
        emu_count(srv, "auth_rejected", 1);
        respond_error(resp, 401, "AC1002", "Request not authorized");
    }
    free(literal);
    return ok;
}

/* Shared shape of the per-member GET endpoints. */
typedef json_t *(*member_view)(const annex_model *model, const char *id);

static void serve_member_view(emu_server *srv, const emu_request *req, emu_response *resp, emulator *emu,
                              member_view view)
{
    emu_lock(srv);
    if (authorised(srv, emu, req, resp, req->params[0])) {
        json_t *body = view(emu->model, req->params[0]);
        if (body)
            emu_respond_json(resp, 200, body);
        else
            respond_not_found(resp);
    }
    emu_unlock(srv);
}

/* ------------------------------------------------------------ API handlers */

static void handle_get_user(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    emulator *emu = user;
    emu_lock(srv);
    if (authorised(srv, emu, req, resp, req->params[0])) {
        json_t *body = annex_model_user(emu->model, req->params[0], !emu->cfg.flat_users);
        if (body)
            emu_respond_json(resp, 200, body);
        else
            respond_not_found(resp);
    }
    emu_unlock(srv);
}

static void handle_points(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_points);
}

static void handle_tiers(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_tiers);
}

static void handle_reward(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_rewards);
}

static void handle_activity(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    emulator *emu = user;
    const char *page_text = emu_query(req, "page");
    long page = 1;
    if (page_text) {
        char *end = NULL;
        errno = 0;
        page = strtol(page_text, &end, 10);
        if (errno || end == page_text || *end || page < 1)
            page = -1;
    }
    emu_lock(srv);
    if (authorised(srv, emu, req, resp, req->params[0])) {
        json_t *body = page < 1 ? NULL : annex_model_activity(emu->model, req->params[0], page);
        if (page < 1)
            respond_error(resp, 400, "AC1004", "Missing parameters");
        else if (body)
            emu_respond_json(resp, 200, body);
        else
            respond_not_found(resp);
    }
    emu_unlock(srv);
}

static void handle_segment_list(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_segment_list);
}

static void handle_eligible_segment(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_eligible_segment);
}

static void handle_segment(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    serve_member_view(srv, req, resp, user, annex_model_segment);
}

static void handle_search(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    emulator *emu = user;
    json_t *request = NULL;
    emu_lock(srv);
    if (!authorised(srv, emu, req, resp, NULL))
        goto out;
    request = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *data_search = json_object_get(request, "dataSearch");
    if (!json_is_object(data_search)) {
        respond_error(resp, 400, "AC1004", "Missing parameters");
        goto out;
    }
    char err[160];
    json_t *results = annex_model_search(emu->model, data_search, err, sizeof err);
    if (!results) {
        fprintf(stderr, "annexcloud-emu: 400 POST /users/search: %s\n", err);
        respond_error(resp, 400, "AC1004", "Missing parameters");
    } else if (json_array_size(results) == 0) {
        json_decref(results);
        respond_not_found(resp);
    } else if (emu->cfg.search_wrap_data) {
        emu_respond_json(resp, 200, json_pack("{s:o}", "Data", results));
    } else {
        emu_respond_json(resp, 200, results);
    }
out:
    emu_unlock(srv);
    json_decref(request);
}

/* ------------------------------------------------------------ program time */

/* Model callback: one webhook per applied change (runs under emu_lock). */
static void on_change(void *user, const json_t *change, const char *member_id)
{
    emulator *emu = user;
    char generated_id[48];
    if (!emu->webhook)
        return;
    const char *event_id = json_string_value(json_object_get(change, "event_id"));
    if (!event_id) {
        snprintf(generated_id, sizeof generated_id, "emu-evt-%llu", ++emu->event_serial);
        event_id = generated_id;
    }
    char *body;
    if (emu->announced) /* a change Annex Cloud does not keep leaves the announced profile */
        body = annex_webhook_wrap(change, emu->cfg.site_id, event_id,
                                  annex_delta_data(emu->announced, emu->model, member_id,
                                                   !json_is_true(json_object_get(change, "deliver_only"))));
    else
        body = annex_webhook_body(emu->model, change, member_id, emu->cfg.site_id,
                                  emu->cfg.webhook_full, event_id);
    if (body)
        annex_webhook_enqueue(emu->webhook, body, event_id);
}

/* Canonical "YYYY-MM-DDTHH:MM:SSZ" of t into buf. */
static const char *canonical_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static json_t *webhook_counters_json(emulator *emu)
{
    json_int_t sent = 0, delivered = 0, failed = 0, attempts = 0;
    if (emu->webhook)
        annex_webhook_counters(emu->webhook, &sent, &delivered, &failed, &attempts);
    return json_pack("{s:I,s:I,s:I,s:I}", "sent", sent, "delivered", delivered, "failed", failed,
                     "attempts", attempts);
}

/* Writes a feed export; adds "feed" (path) and "feed_rows" to result, or "feed_error". Under emu_lock. */
static bool write_feed(emulator *emu, json_t *result)
{
    char path[4200], err[4400];
    size_t rows = 0;
    if (annex_feed_write(emu->model, emu->cfg.feed_dir, &emu->feed_seq, path, sizeof path, &rows, err,
                         sizeof err) != 0) {
        fprintf(stderr, "annexcloud-emu: feed export failed: %s\n", err);
        json_object_set_new(result, "feed_error", json_string(err));
        return false;
    }
    fprintf(stderr, "annexcloud-emu: feed export %s (%zu rows)\n", path, rows);
    json_object_set_new(result, "feed", json_string(path));
    json_object_set_new(result, "feed_rows", json_integer((json_int_t)rows));
    return true;
}

static void handle_advance(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    emulator *emu = user;
    json_error_t json_error;
    json_t *request = req->body_len ? json_loadb(req->body, req->body_len, 0, &json_error) : json_object();
    json_t *days = json_object_get(request, "days"), *until_value = json_object_get(request, "until");
    json_t *wait = json_object_get(request, "wait");
    time_t until = 0;
    char clock_text[40];

    if (!json_is_object(request) || (!days == !until_value) || (wait && !json_is_boolean(wait))) {
        emu_respond_pack(resp, 400, "{s:s}", "error",
                         "body must be {\"days\":N} or {\"until\":\"ISO timestamp\"}, optional \"wait\":bool");
        goto out;
    }
    if (days && (!json_is_number(days) || json_number_value(days) < 0)) {
        emu_respond_pack(resp, 400, "{s:s}", "error", "\"days\" must be a non-negative number");
        goto out;
    }
    if (until_value && annex_time_parse(json_string_value(until_value), &until) != 0) {
        emu_respond_pack(resp, 400, "{s:s}", "error", "\"until\" must be an ISO timestamp");
        goto out;
    }
    emu_lock(srv);
    if (days)
        until = annex_model_clock(emu->model) + (time_t)(json_number_value(days) * 86400.0);
    size_t applied = annex_model_advance(emu->model, until, on_change, emu);
    canonical_time(annex_model_clock(emu->model), clock_text, sizeof clock_text);
    size_t remaining = annex_model_changes_total(emu->model) - annex_model_changes_applied(emu->model);
    emu_unlock(srv);
    bool timed_out = false;
    if (emu->webhook && !json_is_false(wait))
        timed_out = annex_webhook_wait_idle(emu->webhook, ADVANCE_WAIT_LIMIT_MS) != 0;
    json_t *result = json_pack("{s:s,s:I,s:I,s:o,s:b}", "clock", clock_text, "applied", (json_int_t)applied,
                               "remaining", (json_int_t)remaining, "webhooks", webhook_counters_json(emu),
                               "webhooks_timed_out", timed_out);
    if (emu->cfg.feed_dir) {
        emu_lock(srv);
        write_feed(emu, result);
        emu_unlock(srv);
    }
    emu_respond_json(resp, 200, result);
out:
    json_decref(request);
}

static void handle_feed(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    emulator *emu = user;
    if (!emu->cfg.feed_dir) {
        emu_respond_pack(resp, 400, "{s:s}", "error", "no --feed-dir given");
        return;
    }
    json_t *result = json_object();
    emu_lock(srv);
    bool ok = write_feed(emu, result);
    emu_unlock(srv);
    emu_respond_json(resp, ok ? 200 : 500, result);
}

/* ------------------------------------------------------------ /_emu hooks */

static json_t *state_hook(void *user)
{
    emulator *emu = user;
    char clock_text[40];
    return json_pack("{s:s,s:o,s:o,s:{s:I,s:I,s:I}}", "clock",
                     canonical_time(annex_model_clock(emu->model), clock_text, sizeof clock_text), "members",
                     annex_model_members(emu->model), "webhooks", webhook_counters_json(emu), "changes",
                     "applied", (json_int_t)annex_model_changes_applied(emu->model), "total",
                     (json_int_t)annex_model_changes_total(emu->model), "ledger_items_dropped",
                     (json_int_t)annex_model_ledger_items_dropped(emu->model));
}

/* Loads the program and sets the starting clock. Returns a model or NULL (message on stderr). */
static annex_model *load_program(const settings *cfg)
{
    char err[4400];
    annex_model_options options = {cfg->site_id, cfg->program_dir};
    annex_model *model = annex_model_load(&options, err, sizeof err);
    if (!model) {
        fprintf(stderr, "annexcloud-emu: cannot load the program: %s\n", err);
        return NULL;
    }
    if (cfg->has_clock)
        annex_model_set_clock(model, cfg->clock_value);
    return model;
}

/* POST /_emu/reset: back to the program's starting state and full rate buckets (webhook
 * counters are kept). */
static void reset_hook(void *user)
{
    emulator *emu = user;
    annex_model *fresh = load_program(&emu->cfg);
    if (!fresh)
        return;
    annex_model_destroy(&emu->model);
    emu->model = fresh;
    if (emu->announced) {
        json_decref(emu->announced);
        emu->announced = annex_delta_start(fresh);
    }
    emu->feed_seq = 0;
    emu->bucket_count = 0; /* full buckets again */
}

int main(int argc, char **argv)
{
    emulator emu;
    emu_config config;
    emu_server *srv = NULL;
    int exit_code = 1;

    memset(&emu, 0, sizeof emu);
    emu.cfg.site_id = DEFAULT_SITE_ID;
    emu.cfg.webhook_full = true;
    emu.cfg.webhook_max_attempts = 20;
    int parsed = emu_parse_args(argc, argv, &config, USAGE, parse_flag, &emu.cfg);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (!emu.cfg.secret) {
        fprintf(stderr, "annexcloud-emu: --secret is required (the site's API secret)\n%s", USAGE);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    emu.model = load_program(&emu.cfg);
    if (!emu.model)
        goto out;
    if (emu.cfg.webhook_delta && !(emu.announced = annex_delta_start(emu.model))) {
        fprintf(stderr, "annexcloud-emu: out of memory\n");
        goto out;
    }
    if (emu.cfg.webhook_url) {
        char err[256];
        annex_webhook_options options = {emu.cfg.webhook_url, emu.cfg.webhook_secret, emu.cfg.webhook_header,
                                         emu.cfg.webhook_basic, emu.cfg.webhook_max_attempts, 100, 5000};
        emu.webhook = annex_webhook_start(&options, err, sizeof err);
        if (!emu.webhook) {
            fprintf(stderr, "annexcloud-emu: %s\n", err);
            goto out;
        }
    }
    emu_hooks hooks = {state_hook, reset_hook, NULL};
    srv = emu_server_new("annexcloud-emu", &config, &hooks, &emu);
    if (!srv)
        goto out;
    if (emu_route(srv, "POST", "/_emu/advance", handle_advance) || emu_route(srv, "POST", "/_emu/feed", handle_feed) ||
        emu_route(srv, "POST", "/users/search", handle_search) ||
        emu_route(srv, "GET", "/users/{}/tiers", handle_tiers) ||
        emu_route(srv, "GET", "/users/{}/reward", handle_reward) ||
        emu_route(srv, "GET", "/users/{}/activity", handle_activity) ||
        emu_route(srv, "GET", "/users/{}", handle_get_user) || emu_route(srv, "GET", "/points/{}", handle_points) ||
        emu_route(srv, "GET", "/segmentlist/{}", handle_segment_list) ||
        emu_route(srv, "GET", "/eligiblesegment/{}", handle_eligible_segment) ||
        emu_route(srv, "GET", "/segment/{}", handle_segment)) {
        fprintf(stderr, "annexcloud-emu: route table full\n");
        goto out;
    }
    exit_code = emu_run(srv) == 0 ? 0 : 1;
out:
    emu_server_free(&srv);
    annex_webhook_stop(&emu.webhook);
    annex_model_destroy(&emu.model);
    json_decref(emu.announced);
    curl_global_cleanup();
    return exit_code;
}
