/* config_print.c: a loaded pipeline printed back as libconfig text
 * (`sluice check --print`), secrets shown as ********. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "config_link.h"
#include "config_load.h"
#include "options.h"
#include "pipeline.h"

/* ------------------------------------------------------------------ */
/* Printing as libconfig text.                                         */
/* ------------------------------------------------------------------ */

/* Write `text` as a libconfig string literal. */
static void print_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* 1 if `text` is one of the stage's secret values. */
static int is_secret(const json_t *secrets, const char *text)
{
    size_t i;
    json_t *item;

    json_array_foreach(secrets, i, item) {
        if (strcmp(json_string_value(item), text) == 0)
            return 1;
    }
    return 0;
}

/* Write a JSON value as libconfig; strings masked when `mask_all` or when
 * listed in `secrets`. */
static void print_json(FILE *out, const json_t *value, const json_t *secrets, int mask_all,
                       int depth)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        if (mask_all || is_secret(secrets, json_string_value(value)))
            print_string(out, MASK);
        else
            print_string(out, json_string_value(value));
        break;
    case JSON_INTEGER: {
        json_int_t number = json_integer_value(value);
        fprintf(out, "%" JSON_INTEGER_FORMAT "%s", number,
                number > INT32_MAX || number < INT32_MIN ? "L" : "");
        break;
    }
    case JSON_REAL: {
        char text[64];
        snprintf(text, sizeof(text), "%.17g", json_real_value(value));
        /* libconfig needs a dot or exponent to read it back as a float. */
        fputs(text, out);
        if (!strpbrk(text, ".eEn"))
            fputs(".0", out);
        break;
    }
    case JSON_TRUE: fputs("true", out); break;
    case JSON_FALSE: fputs("false", out); break;
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        fputs("( ", out);
        json_array_foreach(value, i, item) {
            if (i > 0)
                fputs(", ", out);
            print_json(out, item, secrets, mask_all, depth + 1);
        }
        fputs(" )", out);
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        fputs("{ ", out);
        json_object_foreach((json_t *)value, key, item) {
            fprintf(out, "%s = ", key);
            print_json(out, item, secrets, mask_all, depth + 1);
            fputs("; ", out);
        }
        fputs("}", out);
        break;
    }
    case JSON_NULL: print_string(out, ""); break;
    }
}

/* Print `key = "text";` unless text is NULL. */
static void print_string_key(FILE *out, const char *indent, const char *key, const char *text)
{
    if (!text)
        return;
    fprintf(out, "%s%s = ", indent, key);
    print_string(out, text);
    fputs(";\n", out);
}

int sluice_pipeline_print(const sluice_pipeline_def *def, FILE *out)
{
    if (!def || !out)
        return -1;
    fprintf(out, "# %s, resolved by sluice (secrets masked)\n", def->file);
    fputs("pipeline = {\n", out);
    print_string_key(out, "  ", "name", def->name);
    print_string_key(out, "  ", "state_dir", def->state_dir);
    print_string_key(out, "  ", "runtime_dir", def->runtime_dir);
    fprintf(out, "  batch_size = %zu;\n  batch_linger_ms = %ld;\n  window = %d;\n"
                 "  ack_timeout_ms = %ld;\n",
            def->batch_size, def->batch_linger_ms, def->window, def->ack_timeout_ms);
    fprintf(out, "  restart = { max = %d; window_s = %ld; backoff_ms = %ld; };\n",
            def->restart_max, def->restart_window_s, def->restart_backoff_ms);
    fputs("  stages = (\n", out);
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];
        const sluice_stage_common *common = &stage->common;
        const char *key;
        json_t *value;

        fprintf(out, "    {   # %s:%d\n", stage->file, stage->line);
        print_string_key(out, "      ", "name", stage->name);
        print_string_key(out, "      ", "plugin", stage->plugin_name);
        print_string_key(out, "      ", "group", common->group);
        print_string_key(out, "      ", "endpoint", common->endpoint);
        if (common->instances > 1)
            fprintf(out, "      instances = %d;\n", common->instances);
        fprintf(out, "      hwm = %d;\n", common->hwm);
        fprintf(out, "      rate_limit = %g;\n      burst = %g;\n", common->rate_limit,
                common->burst);
        fprintf(out, "      http_timeout_ms = %ld;\n      http_max_attempts = %d;\n"
                     "      retry_max_backoff_ms = %ld;\n",
                common->http_timeout_ms, common->http_max_attempts,
                common->retry_max_backoff_ms);
        print_string_key(out, "      ", "ca_file", common->ca_file);
        fprintf(out, "      tls_verify = %s;\n", common->tls_verify ? "true" : "false");
        if (common->external)
            fputs("      external = true;\n", out);
        sluice_config_link_print(def, i, out, "      ");
        json_object_foreach(stage->config, key, value) {
            const sluice_option *opt =
                stage->plugin ? sluice_options_find(stage->plugin->options, key) : NULL;
            fprintf(out, "      %s = ", key);
            print_json(out, value, stage->secret_values, opt && opt->secret, 0);
            fputs(";\n", out);
        }
        fprintf(out, "    }%s\n", i + 1 < def->stage_count ? "," : "");
    }
    fputs("  );\n};\n", out);
    return ferror(out) ? -1 : 0;
}

