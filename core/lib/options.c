/* options.c: option-table helpers shared by registry.c and config.c:
 * reserved stage keys, type names, typed defaults, table validation. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>
#include <strings.h>

#include "options.h"
#include "pipeline.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define BOUND(field, bind) bind, offsetof(sluice_stage_common, field)

static const sluice_common_key common_keys[] = {
    {{"name", SLUICE_OPT_STRING, NULL, 1, 0,
      "stage name, unique in the pipeline, [A-Za-z0-9_.-]+"}, SLUICE_BIND_NONE, 0, NULL},
    {{"plugin", SLUICE_OPT_STRING, NULL, 1, 0, "plugin providing the stage"},
     SLUICE_BIND_NONE, 0, NULL},
    {{"group", SLUICE_OPT_STRING, NULL, 0, 0,
      "placement group: stages of one group run as threads of one process"},
     SLUICE_BIND_NONE, 0, NULL},
    {{"endpoint", SLUICE_OPT_STRING, NULL, 0, 0,
      "input endpoint, ipc://PATH or tcp://HOST:PORT (default ipc://<runtime_dir>/<stage>.data)"},
     SLUICE_BIND_NONE, 0, NULL},
    {{"instances", SLUICE_OPT_INT, "1", 0, 0,
      "processes running the stage at once; only for a stateless transform",
      .range = "1.." STR(SLUICE_INSTANCES_MAX)}, BOUND(instances, SLUICE_BIND_INT), NULL},
    {{"hwm", SLUICE_OPT_INT, "4", 0, 0, "ZeroMQ high-water mark, in batches",
      .range = "1..100000"}, BOUND(hwm, SLUICE_BIND_INT), NULL},
    {{"rate_limit", SLUICE_OPT_DOUBLE, "0", 0, 0,
      "requests/s on the default HTTP bucket; 0 = unlimited", .range = "0..1000000"},
     BOUND(rate_limit, SLUICE_BIND_DOUBLE), NULL},
    {{"burst", SLUICE_OPT_DOUBLE, NULL, 0, 0, "token-bucket size", .range = "1..1000000"},
     SLUICE_BIND_NONE, 0, "max(1, rate_limit)"},
    {{"http_timeout_ms", SLUICE_OPT_INT, STR(SLUICE_DEFAULT_HTTP_TIMEOUT_MS_VALUE), 0, 0,
      "timeout of one HTTP request", .range = "1..3600000"},
     BOUND(http_timeout_ms, SLUICE_BIND_LONG), NULL},
    {{"http_max_attempts", SLUICE_OPT_INT, "0", 0, 0,
      "HTTP attempts per request; 0 = until stopping", .range = "0..1000000"},
     BOUND(http_max_attempts, SLUICE_BIND_INT), NULL},
    {{"retry_max_backoff_ms", SLUICE_OPT_INT, STR(SLUICE_DEFAULT_RETRY_MAX_BACKOFF_MS_VALUE), 0,
      0, "longest wait between retries", .range = "1..86400000"},
     BOUND(retry_max_backoff_ms, SLUICE_BIND_LONG), NULL},
    {{"ca_file", SLUICE_OPT_STRING, NULL, 0, 0, "CA bundle for TLS (default: system CAs)",
      .kind = SLUICE_KIND_PATH}, SLUICE_BIND_NONE, 0, NULL},
    {{"tls_verify", SLUICE_OPT_BOOL, "true", 0, 0, "verify TLS certificates"},
     BOUND(tls_verify, SLUICE_BIND_BOOL), NULL},
    {{"external", SLUICE_OPT_BOOL, "false", 0, 0,
      "the stage runs elsewhere (sluice run --stage NAME); sluice run does not start it"},
     BOUND(external, SLUICE_BIND_BOOL), NULL},
    {{"curve_public_key", SLUICE_OPT_STRING, NULL, 0, 0,
      "the stage's CURVE public key (Z85, sluice keygen): its tcp input's server key and its "
      "client key towards a tcp downstream"}, SLUICE_BIND_NONE, 0, NULL},
    {{"curve_secret_key_file", SLUICE_OPT_STRING, NULL, 0, 0,
      "file holding the stage's CURVE secret key (mode 0600), needed only where it runs",
      .kind = SLUICE_KIND_PATH}, SLUICE_BIND_NONE, 0, NULL},
    {{"curve_clients", SLUICE_OPT_LIST, NULL, 0, 0,
      "more client public keys its tcp input admits besides its upstream stage's (key "
      "rotation)"}, SLUICE_BIND_NONE, 0, NULL},
    {{"insecure_tcp", SLUICE_OPT_BOOL, "false", 0, 0,
      "accept a tcp endpoint off loopback without keys (anyone reaching it can inject records)"},
     SLUICE_BIND_NONE, 0, NULL},
    {{"max_frame_bytes", SLUICE_OPT_INT, NULL, 0, 0,
      "largest batch frame its input takes (ipc and tcp); a bigger batch parks records in the "
      "DLQ"}, SLUICE_BIND_NONE, 0, "16 MiB + batch_size x 32 KiB"},
    {SLUICE_OPTION_END, SLUICE_BIND_NONE, 0, NULL}
};

const sluice_common_key *sluice_common_keys(void)
{
    return common_keys;
}

int sluice_option_is_reserved(const char *key)
{
    for (const sluice_common_key *k = common_keys; k->option.name; k++) {
        if (strcmp(k->option.name, key) == 0)
            return 1;
    }
    return 0;
}

const char *sluice_opt_type_name(sluice_opt_type type)
{
    switch (type) {
    case SLUICE_OPT_STRING: return "string";
    case SLUICE_OPT_INT: return "int";
    case SLUICE_OPT_BOOL: return "bool";
    case SLUICE_OPT_DOUBLE: return "double";
    case SLUICE_OPT_LIST: return "list";
    case SLUICE_OPT_GROUP: return "group";
    }
    return NULL;
}

/* Parse a whole-text boolean. Returns 0/1, or -1 if not a boolean. */
static int parse_bool_text(const char *text)
{
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const lies[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++) {
        if (strcasecmp(text, truths[i]) == 0)
            return 1;
        if (strcasecmp(text, lies[i]) == 0)
            return 0;
    }
    return -1;
}

json_t *sluice_option_default_json(const sluice_option *opt, char *errbuf, size_t errlen)
{
    const char *text = opt->default_value;
    json_t *value = NULL;
    char *end = NULL;

    if (!text) {
        snprintf(errbuf, errlen, "option '%s' has no default", opt->name);
        goto out;
    }
    switch (opt->type) {
    case SLUICE_OPT_STRING:
        value = json_string(text);
        break;
    case SLUICE_OPT_INT: {
        long long number;
        errno = 0;
        number = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0') {
            snprintf(errbuf, errlen, "default '%s' of option '%s' is not an int", text,
                     opt->name);
            goto out;
        }
        value = json_integer((json_int_t)number);
        break;
    }
    case SLUICE_OPT_DOUBLE: {
        double number;
        errno = 0;
        number = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(number)) {
            snprintf(errbuf, errlen, "default '%s' of option '%s' is not a double", text,
                     opt->name);
            goto out;
        }
        value = json_real(number);
        break;
    }
    case SLUICE_OPT_BOOL: {
        int truth = parse_bool_text(text);
        if (truth < 0) {
            snprintf(errbuf, errlen, "default '%s' of option '%s' is not a bool", text,
                     opt->name);
            goto out;
        }
        value = json_boolean(truth);
        break;
    }
    case SLUICE_OPT_LIST:
    case SLUICE_OPT_GROUP: {
        int want_list = opt->type == SLUICE_OPT_LIST;
        value = json_loads(text, JSON_DECODE_ANY, NULL);
        if (!value || (want_list ? !json_is_array(value) : !json_is_object(value))) {
            json_decref(value);
            value = NULL;
            snprintf(errbuf, errlen, "default '%s' of option '%s' is not a JSON %s", text,
                     opt->name, want_list ? "array" : "object");
            goto out;
        }
        break;
    }
    default:
        snprintf(errbuf, errlen, "option '%s' has an invalid type %d", opt->name,
                 (int)opt->type);
        goto out;
    }
    if (!value)
        snprintf(errbuf, errlen, "out of memory");
out:
    return value;
}

/* Parse an option row's range, "MIN..MAX", "MIN.." or "..MAX" (numbers
 * as strtod reads them). Returns 0 with the bounds set (-/+HUGE_VAL for
 * an open end), or -1 if the text is not such a range or MIN > MAX. */
static int parse_range(const char *range, double *min, double *max)
{
    const char *dots = strstr(range, "..");
    char *end = NULL;

    *min = -HUGE_VAL;
    *max = HUGE_VAL;
    if (!dots)
        return -1;
    if (dots > range) {
        /* read MIN from a copy: strtod would take "1." of "1..32" */
        char lower[64];
        size_t len = (size_t)(dots - range);
        if (len >= sizeof(lower))
            return -1;
        memcpy(lower, range, len);
        lower[len] = '\0';
        errno = 0;
        *min = strtod(lower, &end);
        if (errno != 0 || end != lower + len || !isfinite(*min))
            return -1;
    }
    if (dots[2] != '\0') {
        errno = 0;
        *max = strtod(dots + 2, &end);
        if (errno != 0 || end == dots + 2 || *end != '\0' || !isfinite(*max))
            return -1;
    }
    if (dots == range && dots[2] == '\0')
        return -1; /* ".." alone says nothing */
    return *min <= *max ? 0 : -1;
}

/* 1 if `value` is one of the '|'-separated `choices`, else 0. */
static int choice_allowed(const char *choices, const char *value)
{
    size_t len = strlen(value);

    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* 1 if `text` is an http:// or https:// URL with a host, else 0. */
static int url_valid(const char *text)
{
    const char *host;
    size_t host_len;

    if (strncmp(text, "https://", 8) == 0)
        host = text + 8;
    else if (strncmp(text, "http://", 7) == 0)
        host = text + 7;
    else
        return 0;
    host_len = strcspn(host, "/?#");
    if (host_len == 0)
        return 0;
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c == 0x7f || c == '\\')
            return 0;
    }
    return host[0] != ':' && host[0] != '@';
}

int sluice_duration_ms(const char *text, long long *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end = NULL;
    double number;

    errno = 0;
    number = strtod(text, &end);
    if (errno != 0 || end == text || !isfinite(number) || number < 0 || *text == '-' ||
        *text == '+' || *text == ' ')
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double total = number * units[i].ms;
            if (total > 9.0e15)
                return -1;
            *ms = (long long)total;
            return 0;
        }
    }
    return -1;
}

/* 1 if `text` is HOST:PORT with PORT 1..65535 (HOST a name, an IPv4
 * address, "*", or an IPv6 address in brackets), else 0. */
static int hostport_valid(const char *text)
{
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    long port;

    if (!colon || colon == text)
        return 0;
    if (text[0] == '[' && colon[-1] != ']')
        return 0;
    for (const char *p = text; p < colon; p++) {
        if ((unsigned char)*p <= ' ' || *p == '/')
            return 0;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return errno == 0 && end != colon + 1 && *end == '\0' && port >= 1 && port <= 65535;
}

/* Check string `text` against the kind's rule. Returns 0, or -1 with what
 * was expected in errbuf. */
static int kind_check(sluice_opt_kind kind, const char *text, char *errbuf, size_t errlen)
{
    switch (kind) {
    case SLUICE_KIND_ANY:
        return 0;
    case SLUICE_KIND_URL:
        if (url_valid(text))
            return 0;
        snprintf(errbuf, errlen, "must be an http:// or https:// URL with a host");
        return -1;
    case SLUICE_KIND_PATH:
        if (*text)
            return 0;
        snprintf(errbuf, errlen, "must be a path, not empty");
        return -1;
    case SLUICE_KIND_REGEX: {
        regex_t compiled;
        int rc = regcomp(&compiled, text, REG_EXTENDED | REG_NOSUB);
        if (rc == 0) {
            regfree(&compiled);
            return 0;
        }
        char why[160];
        regerror(rc, &compiled, why, sizeof(why));
        snprintf(errbuf, errlen, "must be a POSIX extended regular expression: %s", why);
        return -1;
    }
    case SLUICE_KIND_DURATION: {
        long long ms;
        if (sluice_duration_ms(text, &ms) == 0)
            return 0;
        snprintf(errbuf, errlen, "must be a duration: a number with ms, s, m, h or d "
                                 "(e.g. \"30s\", \"15m\")");
        return -1;
    }
    case SLUICE_KIND_HOSTPORT:
        if (hostport_valid(text))
            return 0;
        snprintf(errbuf, errlen, "must be HOST:PORT with PORT in 1..65535");
        return -1;
    }
    snprintf(errbuf, errlen, "has an unknown kind %d", (int)kind);
    return -1;
}

/* `value` as shown in a message: strings quoted, numbers as they are. */
static void show_value(const json_t *value, char *buf, size_t len)
{
    if (json_is_string(value))
        snprintf(buf, len, "\"%.80s\"", json_string_value(value));
    else if (json_is_integer(value))
        snprintf(buf, len, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        snprintf(buf, len, "%g", json_real_value(value));
    else
        snprintf(buf, len, "the value");
}

/* Check one string against the row's choices and kind. 0 or -1 (errbuf). */
static int string_check(const sluice_option *opt, const char *text, char *errbuf,
                        size_t errlen)
{
    char why[256];

    if (opt->choices && !choice_allowed(opt->choices, text)) {
        snprintf(errbuf, errlen, "option '%s' must be one of %s, got \"%.80s\"", opt->name,
                 opt->choices, text);
        return -1;
    }
    if (kind_check(opt->kind, text, why, sizeof(why)) != 0) {
        snprintf(errbuf, errlen, "option '%s' %s, got \"%.80s\"", opt->name, why, text);
        return -1;
    }
    return 0;
}

int sluice_option_check_value(const sluice_option *opt, const json_t *value, char *errbuf,
                              size_t errlen)
{
    if (opt->range && (json_is_integer(value) || json_is_real(value))) {
        double min, max, number = json_number_value(value);
        if (parse_range(opt->range, &min, &max) == 0 && (number < min || number > max)) {
            char shown[96];
            show_value(value, shown, sizeof(shown));
            snprintf(errbuf, errlen, "option '%s' must be in %s, got %s", opt->name,
                     opt->range, shown);
            return -1;
        }
    }
    if (json_is_string(value))
        return string_check(opt, json_string_value(value), errbuf, errlen);
    if (json_is_array(value) && opt->choices) {
        size_t i;
        const json_t *item;
        json_array_foreach(value, i, item) {
            if (json_is_string(item) &&
                string_check(opt, json_string_value(item), errbuf, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

/* Check the ABI 2 fields of row `opt`: a range only on numbers and
 * well-formed, choices only on strings and lists, a kind only on strings,
 * and a default inside them. 0 or -1 (errbuf names the option). */
static int check_row_limits(const sluice_option *opt, char *errbuf, size_t errlen)
{
    double min, max;
    json_t *value = NULL;
    int result = -1;

    if (opt->range && (opt->type != SLUICE_OPT_INT && opt->type != SLUICE_OPT_DOUBLE)) {
        snprintf(errbuf, errlen, "option '%s' has a range but is not a number", opt->name);
        goto out;
    }
    if (opt->range && parse_range(opt->range, &min, &max) != 0) {
        snprintf(errbuf, errlen, "option '%s' has a malformed range '%s' (MIN..MAX, MIN.. "
                 "or ..MAX)", opt->name, opt->range);
        goto out;
    }
    if (opt->choices && (opt->type != SLUICE_OPT_STRING && opt->type != SLUICE_OPT_LIST)) {
        snprintf(errbuf, errlen, "option '%s' has choices but is not a string or list",
                 opt->name);
        goto out;
    }
    if (opt->choices && (!*opt->choices || strstr(opt->choices, "||") ||
                         opt->choices[0] == '|' ||
                         opt->choices[strlen(opt->choices) - 1] == '|')) {
        snprintf(errbuf, errlen, "option '%s' has malformed choices '%s' (a|b|c)", opt->name,
                 opt->choices);
        goto out;
    }
    if (opt->kind != SLUICE_KIND_ANY &&
        (opt->type != SLUICE_OPT_STRING || opt->kind > SLUICE_KIND_HOSTPORT)) {
        snprintf(errbuf, errlen, "option '%s' has a kind but is not a string (or an "
                 "unknown kind %d)", opt->name, (int)opt->kind);
        goto out;
    }
    if (opt->default_value) {
        char why[384];
        value = sluice_option_default_json(opt, errbuf, errlen);
        if (!value)
            goto out;
        if (sluice_option_check_value(opt, value, why, sizeof(why)) != 0) {
            snprintf(errbuf, errlen, "default of %s", why);
            goto out;
        }
    }
    result = 0;
out:
    json_decref(value);
    return result;
}

/* 1 if `name` is non-empty and only [A-Za-z0-9_]. */
static int option_name_valid(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

int sluice_options_check_table(const sluice_option *options, char *errbuf, size_t errlen)
{
    int result = -1;

    if (!options)
        return 0;
    for (size_t i = 0; options[i].name; i++) {
        const sluice_option *opt = &options[i];
        if (!option_name_valid(opt->name)) {
            snprintf(errbuf, errlen, "option #%zu has an invalid name '%s' (use [A-Za-z0-9_])",
                     i + 1, opt->name);
            goto out;
        }
        if (!sluice_opt_type_name(opt->type)) {
            snprintf(errbuf, errlen, "option '%s' has an invalid type %d", opt->name,
                     (int)opt->type);
            goto out;
        }
        if (sluice_option_is_reserved(opt->name)) {
            snprintf(errbuf, errlen, "option '%s' uses a reserved stage key", opt->name);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(options[j].name, opt->name) == 0) {
                snprintf(errbuf, errlen, "option '%s' is declared twice", opt->name);
                goto out;
            }
        }
        if (check_row_limits(opt, errbuf, errlen) != 0)
            goto out;
    }
    result = 0;
out:
    return result;
}

const sluice_option *sluice_options_find(const sluice_option *options, const char *key)
{
    if (!options)
        return NULL;
    for (size_t i = 0; options[i].name; i++) {
        if (strcmp(options[i].name, key) == 0)
            return &options[i];
    }
    return NULL;
}

size_t sluice_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];

    if (la > 64 || lb > 64)
        return 3;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb] < 3 ? row[lb] : 3;
}
