/* cmd_status.c: `sluice status [PIPELINE]`: what a running `sluice run`
 * says on its admin endpoint's /status, as a table (pipeline, state,
 * health, records/s, backlog, last commit age, DLQ, restarts, last
 * error), as JSON (--json), or refreshed like top (--watch). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "admin.h"
#include "commands_runtime.h"
#include "util/dynbuf.h"

#define EXIT_USAGE 64
#define EXIT_UNHEALTHY 1
#define EXIT_UNAVAILABLE 69
#define ANSWER_MAX (64u * 1024u * 1024u)

static volatile sig_atomic_t interrupted;

/* SIGINT/SIGTERM during --watch: leave after the current refresh. */
static void on_interrupt(int signo)
{
    (void)signo;
    interrupted = 1;
}

static void status_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice status [--admin ADDR:PORT|URL] [--json] [--watch [SECONDS]]\n"
            "                     [--auth-file FILE] [--cacert FILE] [PIPELINE]\n"
            "Show the pipelines a running `sluice run` serves on its admin endpoint\n"
            "(GET /status): state, health, records/s, backlog, last commit, DLQ, restarts,\n"
            "last error; PIPELINE: only that one.\n"
            "  --admin ADDR:PORT  the endpoint (default $SLUICE_ADMIN_LISTEN or %s);\n"
            "                  a URL (https://...) to use TLS\n"
            "  --json          print the /status document as it is\n"
            "  --watch [S]     refresh every S seconds (default 2) until interrupted\n"
            "  --auth-file FILE  `user:password` for the endpoint's basic auth (or\n"
            "                  $SLUICE_ADMIN_AUTH)\n"
            "  --cacert FILE   CA certificate(s) to verify an https endpoint with\n"
            "Exit status: 0 every pipeline healthy, 1 some unhealthy, 64 usage,\n"
            "66 no such pipeline, 69 endpoint unreachable.\n",
            SLUICE_ADMIN_DEFAULT_LISTEN);
}

/* libcurl's write callback: append to a dynbuf. */
static size_t collect(char *data, size_t size, size_t n, void *cls)
{
    return dynbuf_append(cls, data, size * n) == 0 ? size * n : 0;
}

typedef struct status_args {
    char url[2048];
    const char *pipeline;
    const char *auth;         /* user:password or NULL */
    const char *cacert;
    int json;
    double watch;             /* seconds; 0: once */
} status_args;

/* GET the /status document. Returns it (caller owns), or NULL after a
 * message; *code is the exit code then. */
static json_t *fetch_status(const status_args *a, int *code)
{
    CURL *curl = curl_easy_init();
    dynbuf body;
    char url[2300];
    char *escaped = NULL;
    long status = 0;
    json_t *doc = NULL;
    json_error_t err;
    CURLcode rc;

    dynbuf_init(&body, ANSWER_MAX);
    *code = EXIT_UNAVAILABLE;
    if (!curl) {
        fprintf(stderr, "sluice status: cannot start libcurl\n");
        goto out;
    }
    if (a->pipeline)
        escaped = curl_easy_escape(curl, a->pipeline, 0);
    snprintf(url, sizeof(url), "%s/status%s%s", a->url, escaped ? "?pipeline=" : "",
             escaped ? escaped : "");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (a->auth) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, a->auth);
    }
    if (a->cacert)
        curl_easy_setopt(curl, CURLOPT_CAINFO, a->cacert);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "sluice status: cannot reach the admin endpoint %s: %s (is `sluice "
                "run` running with --admin-listen there?)\n", a->url, curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404 && a->pipeline) {
        fprintf(stderr, "sluice status: no pipeline named '%s' runs there\n", a->pipeline);
        *code = 66;
        goto out;
    }
    if (status != 200) {
        fprintf(stderr, "sluice status: %s answered HTTP %ld%s\n", url, status,
                status == 401 ? " (credentials: --auth-file or SLUICE_ADMIN_AUTH)" : "");
        goto out;
    }
    doc = json_loadb(body.data ? body.data : "", body.len, 0, &err);
    if (!doc)
        fprintf(stderr, "sluice status: %s: not JSON: %s\n", url, err.text);
    else
        *code = 0;
out:
    curl_free(escaped);
    if (curl)
        curl_easy_cleanup(curl);
    dynbuf_free(&body);
    return doc;
}

/* "12 s", "3 min", "never" for the age of wall-clock time `t` at `now`. */
static void format_age(double t, double now, char *buf, size_t len)
{
    double s = now - t;

    if (t <= 0)
        snprintf(buf, len, "never");
    else if (s < 120)
        snprintf(buf, len, "%.0f s", s < 0 ? 0 : s);
    else if (s < 7200)
        snprintf(buf, len, "%.0f min", s / 60);
    else
        snprintf(buf, len, "%.1f h", s / 3600);
}

/* Print the table of `doc` to stdout. Returns how many pipelines are
 * unhealthy. */
static size_t print_table(const json_t *doc)
{
    double now = json_number_value(json_object_get(doc, "generated"));
    size_t unhealthy = 0;
    size_t i;
    const json_t *p;

    printf("%-28s %-10s %-9s %9s %8s %8s %12s %6s %8s  %s\n", "PIPELINE", "STATE", "HEALTH",
           "REC/S", "OUT", "BACKLOG", "LAST COMMIT", "DLQ", "RESTARTS", "LAST ERROR / WHY");
    json_array_foreach(json_object_get(doc, "pipelines"), i, p) {
        const json_t *health = json_object_get(p, "health");
        const json_t *reasons = json_object_get(health, "reasons");
        const json_t *err = json_object_get(p, "last_error");
        int ok = json_is_true(json_object_get(health, "ok"));
        char age[32], why[160];

        format_age(json_number_value(json_object_get(p, "last_commit")), now, age, sizeof(age));
        if (json_array_size(reasons))
            snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(
                                                 json_array_get(reasons, 0), "message")));
        else if (err)
            snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(err, "message")));
        else
            why[0] = '\0';
        if (!ok)
            unhealthy++;
        printf("%-28s %-10s %-9s %9.1f %8.0f %8.0f %12s %6.0f %8.0f  %s\n",
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "state")), ok ? "ok" : "UNHEALTHY",
               json_number_value(json_object_get(p, "records_per_second")),
               json_number_value(json_object_get(p, "records_out")),
               json_number_value(json_object_get(p, "backlog_batches")), age,
               json_number_value(json_object_get(json_object_get(p, "dlq"), "parked")),
               json_number_value(json_object_get(p, "restarts")), why);
    }
    return unhealthy;
}

/* Parse the command line into `a`. Returns 0, or an exit code after a
 * message (or -1 after --help). */
static int parse_args(int argc, char **argv, status_args *a, char **auth_owned)
{
    const char *admin = getenv("SLUICE_ADMIN_LISTEN");

    if (!admin || !*admin || strcmp(admin, "off") == 0)
        admin = SLUICE_ADMIN_DEFAULT_LISTEN;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            status_usage(stdout);
            return -1;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(arg, "--watch") == 0) {
            char *end;
            a->watch = 2;
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                errno = 0;
                a->watch = strtod(argv[++i], &end);
                if (errno || *end || !(a->watch >= 0.2 && a->watch <= 3600)) {
                    fprintf(stderr, "sluice status: --watch: seconds from 0.2 to 3600, got "
                                    "'%s'\n", argv[i]);
                    return EXIT_USAGE;
                }
            }
        } else if (strcmp(arg, "--admin") == 0 || strcmp(arg, "--auth-file") == 0 ||
                   strcmp(arg, "--cacert") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice status: %s needs a value\n", arg);
                return EXIT_USAGE;
            }
            if (strcmp(arg, "--admin") == 0)
                admin = argv[++i];
            else if (strcmp(arg, "--cacert") == 0)
                a->cacert = argv[++i];
            else {
                FILE *f = fopen(argv[++i], "r");
                char line[1024];
                if (!f || !fgets(line, sizeof(line), f)) {
                    fprintf(stderr, "sluice status: --auth-file %s: %s\n", argv[i],
                            f ? "empty" : strerror(errno));
                    if (f)
                        fclose(f);
                    return EXIT_USAGE;
                }
                fclose(f);
                line[strcspn(line, "\r\n")] = '\0';
                free(*auth_owned);
                *auth_owned = strdup(line);
                a->auth = *auth_owned;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "sluice status: unknown option '%s'\n", arg);
            status_usage(stderr);
            return EXIT_USAGE;
        } else if (!a->pipeline) {
            a->pipeline = arg;
        } else {
            fprintf(stderr, "sluice status: one PIPELINE at most\n");
            return EXIT_USAGE;
        }
    }
    if (!a->auth && getenv("SLUICE_ADMIN_AUTH") && *getenv("SLUICE_ADMIN_AUTH"))
        a->auth = getenv("SLUICE_ADMIN_AUTH");
    if (strstr(admin, "://"))
        snprintf(a->url, sizeof(a->url), "%s", admin);
    else
        snprintf(a->url, sizeof(a->url), "http://%s", admin);
    a->url[strcspn(a->url, "?#")] = '\0';
    while (strlen(a->url) > 8 && a->url[strlen(a->url) - 1] == '/')
        a->url[strlen(a->url) - 1] = '\0';
    return 0;
}

int sluice_cmd_status(int argc, char **argv)
{
    status_args a;
    char *auth_owned = NULL;
    int result;

    memset(&a, 0, sizeof(a));
    result = parse_args(argc, argv, &a, &auth_owned);
    if (result != 0) {
        free(auth_owned);
        return result < 0 ? 0 : result;
    }
    if (a.watch > 0) {
        signal(SIGINT, on_interrupt);
        signal(SIGTERM, on_interrupt);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    do {
        json_t *doc = fetch_status(&a, &result);
        size_t unhealthy;

        if (!doc) {
            if (a.watch > 0 && !interrupted) {
                struct timespec pause = {(time_t)a.watch, (long)((a.watch - (double)(time_t)a.watch) * 1e9)};
                nanosleep(&pause, NULL);
                continue;
            }
            break;
        }
        if (a.watch > 0 && isatty(STDOUT_FILENO))
            fputs("\033[H\033[2J", stdout); /* like top: the table in place */
        if (a.json) {
            json_dumpf(doc, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            unhealthy = json_is_true(json_object_get(doc, "healthy")) ? 0 : 1;
        } else {
            unhealthy = print_table(doc);
        }
        fflush(stdout);
        result = unhealthy ? EXIT_UNHEALTHY : 0;
        json_decref(doc);
        if (a.watch > 0 && !interrupted) {
            struct timespec pause = {(time_t)a.watch, (long)((a.watch - (double)(time_t)a.watch) * 1e9)};
            nanosleep(&pause, NULL);
        }
    } while (a.watch > 0 && !interrupted);
    curl_global_cleanup();
    free(auth_owned);
    return result;
}
