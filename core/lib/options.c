/* options.c: option-table helpers shared by registry.c and config.c:
 * reserved stage keys, type names, typed defaults, table validation. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

static const sluice_common_key common_keys[] = {
    {"name", "string", NULL, "stage name, unique in the pipeline, [A-Za-z0-9_.-]+"},
    {"plugin", "string", NULL, "plugin providing the stage"},
    {"group", "string", NULL,
     "placement group: stages of one group run as threads of one process"},
    {"endpoint", "string", NULL,
     "input endpoint, ipc://PATH or tcp://HOST:PORT (default ipc://<runtime_dir>/<stage>.data)"},
    {"instances", "int", "1",
     "processes running the stage at once (1..64); only for a stateless transform"},
    {"hwm", "int", "4", "ZeroMQ high-water mark, in batches (1..100000)"},
    {"rate_limit", "double", "0", "requests/s on the default HTTP bucket; 0 = unlimited"},
    {"burst", "double", "max(1, rate_limit)", "token-bucket size"},
    {"http_timeout_ms", "int", "30000", "timeout of one HTTP request"},
    {"http_max_attempts", "int", "0", "HTTP attempts per request; 0 = until stopping"},
    {"retry_max_backoff_ms", "int", "60000", "longest wait between retries"},
    {"ca_file", "string", NULL, "CA bundle for TLS (default: system CAs)"},
    {"tls_verify", "bool", "true", "verify TLS certificates"},
    {"external", "bool", "false",
     "the stage runs elsewhere (sluice run --stage NAME); sluice run does not start it"},
    {"curve_public_key", "string", NULL,
     "the stage's CURVE public key (Z85, sluice keygen): its tcp input's server key and its "
     "client key towards a tcp downstream"},
    {"curve_secret_key_file", "string", NULL,
     "file holding the stage's CURVE secret key (mode 0600), needed only where it runs"},
    {"curve_clients", "list", NULL,
     "more client public keys its tcp input admits besides its upstream stage's (key rotation)"},
    {"insecure_tcp", "bool", "false",
     "accept a tcp endpoint off loopback without keys (anyone reaching it can inject records)"},
    {"max_frame_bytes", "int", "16 MiB + batch_size x 32 KiB",
     "largest batch frame its input takes (ipc and tcp); a bigger batch parks records in the DLQ"},
    {NULL, NULL, NULL, NULL}
};

const sluice_common_key *sluice_common_keys(void)
{
    return common_keys;
}

int sluice_option_is_reserved(const char *key)
{
    for (const sluice_common_key *k = common_keys; k->name; k++) {
        if (strcmp(k->name, key) == 0)
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
        if (opt->default_value) {
            json_t *value = sluice_option_default_json(opt, errbuf, errlen);
            if (!value)
                goto out;
            json_decref(value);
        }
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
