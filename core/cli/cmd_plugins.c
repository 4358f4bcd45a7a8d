/* cmd_plugins.c: `sluice plugins [NAME]`: list the loadable plugins, or
 * print one plugin's options from its option table plus the stage keys
 * every stage accepts. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands_config.h"
#include "config_check.h"
#include "options.h"
#include "registry.h"

#define EXIT_USAGE 64

static void plugins_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice plugins [NAME]\n"
            "Without NAME, list every plugin found on the search path\n"
            "($SLUICE_PLUGIN_PATH, colon-separated, then the installed plugin dir\n"
            SLUICE_PKGLIBDIR "): name, role, version, the file it was loaded\n"
            "from, description. With NAME, print the plugin's file and options\n"
            "(name, type, required or default, secret, help) and the keys every\n"
            "stage accepts.\n"
            "Exit status: 0 ok, 64 usage, 69 plugin not found or refused.\n");
}

static const char *role_name(sluice_role role)
{
    switch (role) {
    case SLUICE_ROLE_SOURCE: return "source";
    case SLUICE_ROLE_TRANSFORM: return "transform";
    case SLUICE_ROLE_SINK: return "sink";
    }
    return "?";
}

/* Print a warning from the loader (a module that was refused). */
static void warn_refused(const char *msg, void *user)
{
    fprintf(stderr, "sluice plugins: skipped %s\n", msg);
}

/* List every loadable plugin. Returns an exit status. */
static int list_plugins(void)
{
    sluice_registry *reg = sluice_registry_new();
    size_t count;
    int name_width = 4;
    int file_width = 4;
    int status = 0;

    if (!reg) {
        fprintf(stderr, "sluice plugins: cannot initialise the plugin loader\n");
        return 70;
    }
    sluice_registry_load_all(reg, warn_refused, NULL);
    count = sluice_registry_count(reg);
    if (count == 0) {
        fprintf(stderr, "sluice plugins: no plugins found (set SLUICE_PLUGIN_PATH)\n");
        status = SLUICE_EXIT_UNAVAILABLE;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        int len = (int)strlen(sluice_registry_at(reg, i)->name);
        int file_len = (int)strlen(sluice_registry_path_at(reg, i));
        if (len > name_width)
            name_width = len;
        if (file_len > file_width)
            file_width = file_len;
    }
    printf("%-*s  %-9s  %-8s  %-*s  %s\n", name_width, "NAME", "ROLE", "VERSION", file_width,
           "FILE", "DESCRIPTION");
    for (size_t i = 0; i < count; i++) {
        const sluice_plugin *plugin = sluice_registry_at(reg, i);
        printf("%-*s  %-9s  %-8s  %-*s  %s\n", name_width, plugin->name, role_name(plugin->role),
               plugin->version ? plugin->version : "-", file_width,
               sluice_registry_path_at(reg, i), plugin->description ? plugin->description : "");
    }
out:
    sluice_registry_destroy(&reg);
    return status;
}

/* "required", "default X" or "optional", with ", secret". */
static void describe_presence(const sluice_option *opt, char *buf, size_t len)
{
    if (opt->required)
        snprintf(buf, len, "required%s", opt->secret ? ", secret" : "");
    else if (opt->default_value)
        snprintf(buf, len, "default %s%s", opt->default_value[0] ? opt->default_value : "\"\"",
                 opt->secret ? ", secret" : "");
    else
        snprintf(buf, len, "optional%s", opt->secret ? ", secret" : "");
}

/* What values a row takes beyond its type, as " [1..1000]", " [one of
 * skip|dlq]" or " [a URL]", into buf ("" when the row has no limits). */
static void describe_limits(const sluice_option *opt, char *buf, size_t len)
{
    static const char *const kinds[] = {NULL, "a URL", "a path", "a regular expression",
                                        "a duration: 30s, 15m, 1h", "HOST:PORT"};
    const char *kind = (size_t)opt->kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[opt->kind]
                                                                            : NULL;

    if (opt->range)
        snprintf(buf, len, " [%s]", opt->range);
    else if (opt->choices)
        snprintf(buf, len, " [one of %s]", opt->choices);
    else if (kind)
        snprintf(buf, len, " [%s]", kind);
    else if (len > 0)
        buf[0] = '\0';
}

/* Print one plugin's description and options. Returns an exit status. */
static int show_plugin(const char *name)
{
    sluice_registry *reg = sluice_registry_new();
    const sluice_plugin *plugin;
    char why[1024];
    int status = 0;
    int width = 4;

    if (!reg) {
        fprintf(stderr, "sluice plugins: cannot initialise the plugin loader\n");
        return 70;
    }
    plugin = sluice_registry_require(reg, name, why, sizeof(why));
    if (!plugin) {
        fprintf(stderr, "sluice plugins: %s\n", why);
        status = SLUICE_EXIT_UNAVAILABLE;
        goto out;
    }
    for (size_t i = 0; plugin->options && plugin->options[i].name; i++) {
        int len = (int)strlen(plugin->options[i].name);
        if (len > width)
            width = len;
    }
    for (const sluice_common_key *key = sluice_common_keys(); key->option.name; key++) {
        int len = (int)strlen(key->option.name);
        if (len > width)
            width = len;
    }
    printf("%s (%s) %s\n", plugin->name, role_name(plugin->role),
           plugin->version ? plugin->version : "");
    if (plugin->description)
        printf("  %s\n", plugin->description);
    if (sluice_plugin_flags(plugin) & SLUICE_PLUGIN_STATELESS)
        printf("  stateless: may run as several processes at once (instances = N)\n");
    if ((sluice_plugin_flags(plugin) & SLUICE_PLUGIN_HTTP) &&
        plugin->role == SLUICE_ROLE_TRANSFORM)
        printf("  HTTP: waits on remote servers without a heartbeat; the pipeline's "
               "ack_timeout_ms must exceed http_timeout_ms + retry_max_backoff_ms\n");
    for (size_t i = 0; i < sluice_registry_count(reg); i++) {
        if (sluice_registry_at(reg, i) == plugin)
            printf("  file: %s\n", sluice_registry_path_at(reg, i));
    }
    printf("\nOptions:\n");
    if (!plugin->options || !plugin->options[0].name)
        printf("  (none)\n");
    for (size_t i = 0; plugin->options && plugin->options[i].name; i++) {
        const sluice_option *opt = &plugin->options[i];
        char presence[256], limits[256];
        describe_presence(opt, presence, sizeof(presence));
        describe_limits(opt, limits, sizeof(limits));
        printf("  %-*s  %-6s  %-22s  %s%s\n", width, opt->name, sluice_opt_type_name(opt->type),
               presence, opt->help ? opt->help : "", limits);
    }
    printf("\nStage keys (every stage):\n");
    for (const sluice_common_key *key = sluice_common_keys(); key->option.name; key++) {
        const sluice_option *opt = &key->option;
        char presence[256], limits[256];
        if (key->shown)
            snprintf(presence, sizeof(presence), "default %s", key->shown);
        else
            describe_presence(opt, presence, sizeof(presence));
        describe_limits(opt, limits, sizeof(limits));
        printf("  %-*s  %-6s  %-22s  %s%s\n", width, opt->name, sluice_opt_type_name(opt->type),
               presence, opt->help, limits);
    }
out:
    sluice_registry_destroy(&reg);
    return status;
}

int sluice_cmd_plugins(int argc, char **argv)
{
    const char *name = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            plugins_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' || name) {
            fprintf(stderr, "sluice plugins: unexpected argument '%s'\n", argv[i]);
            plugins_usage(stderr);
            return EXIT_USAGE;
        }
        name = argv[i];
    }
    return name ? show_plugin(name) : list_plugins();
}
