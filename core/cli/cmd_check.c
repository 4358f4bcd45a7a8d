/* cmd_check.c: `sluice check [--print] FILE...`: validate pipeline files
 * against the plugins' option tables without starting anything. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands_config.h"
#include "config_check.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"

#define EXIT_USAGE 64

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice check [--print] [--env-file FILE] [--without-secrets] FILE...\n"
            "Validate pipeline files: syntax, ${ENV} and @file: values, every stage's\n"
            "options against its plugin's option table, stage order. Loads the plugins\n"
            "but starts nothing and creates no file, directory or socket.\n"
            "  --print            also print each resolved pipeline (defaults filled in,\n"
            "                     secrets shown as ********)\n"
            "  --env-file FILE    set the variables of FILE (KEY=VALUE lines, as systemd's\n"
            "                     EnvironmentFile=) before reading, e.g. the service's\n"
            "  --without-secrets  do not resolve options that hold secrets (declared\n"
            "                     secret, @file:, or an unset ${VAR}): check everything\n"
            "                     else without the service's secrets\n"
            "Prints 'FILE: ok (pipeline NAME, N stages)' per valid file, and every error\n"
            "of a file as 'FILE:LINE: message' on stderr, then 'N errors'.\n"
            "Exit status: 0 all valid, 64 usage, 69 a plugin cannot be loaded,\n"
            "78 configuration error.\n");
}

/* Set the variables of env file `path`: KEY=VALUE lines as systemd's
 * EnvironmentFile= reads them (blank lines and lines starting with # or ;
 * ignored, spaces around KEY and before VALUE dropped, a VALUE in single or
 * double quotes taken without them). Returns 0, or -1 after printing
 * "FILE:LINE: ..." for the first malformed line or a read error. */
static int load_env_file(const char *path)
{
    FILE *in = fopen(path, "r");
    char line[8192];
    int number = 0;
    int result = -1;

    if (!in) {
        fprintf(stderr, "sluice check: cannot read env file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), in)) {
        char *key = line;
        char *eq;
        char *value;
        size_t len;

        number++;
        len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        while (isspace((unsigned char)*key))
            key++;
        if (*key == '\0' || *key == '#' || *key == ';')
            continue;
        if (strncmp(key, "export ", 7) == 0)
            key += 7;
        eq = strchr(key, '=');
        if (!eq || eq == key) {
            fprintf(stderr, "%s:%d: expected KEY=VALUE\n", path, number);
            goto out;
        }
        value = eq + 1;
        for (char *end = eq; end > key && isspace((unsigned char)end[-1]); end--)
            end[-1] = '\0';
        *eq = '\0';
        while (isspace((unsigned char)*value))
            value++;
        len = strlen(value);
        if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
            value[len - 1] = '\0';
            value++;
        }
        for (const char *p = key; *p; p++) {
            if (!(isalnum((unsigned char)*p) || *p == '_')) {
                fprintf(stderr, "%s:%d: '%s' is not a variable name\n", path, number, key);
                goto out;
            }
        }
        if (setenv(key, value, 1) != 0) {
            fprintf(stderr, "%s:%d: cannot set %s: %s\n", path, number, key, strerror(errno));
            goto out;
        }
    }
    result = ferror(in) ? -1 : 0;
    if (result != 0)
        fprintf(stderr, "sluice check: cannot read env file %s\n", path);
out:
    fclose(in);
    return result;
}

int sluice_cmd_check(int argc, char **argv)
{
    int print = 0;
    unsigned load_flags = 0;
    size_t errors = 0;
    int first_file = argc;
    int status = 0;
    int saw_unavailable = 0;
    int saw_config_error = 0;
    sluice_registry *reg = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--print") == 0) {
            print = 1;
            continue;
        }
        if (strcmp(argv[i], "--without-secrets") == 0) {
            load_flags |= SLUICE_LOAD_NO_SECRETS;
            continue;
        }
        if (strcmp(argv[i], "--env-file") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice check: --env-file needs a FILE\n");
                return EXIT_USAGE;
            }
            if (load_env_file(argv[++i]) != 0)
                return SLUICE_EXIT_CONFIG;
            continue;
        }
        if (strcmp(argv[i], "--") == 0) {
            first_file = i + 1;
            break;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sluice check: unknown option '%s'\n", argv[i]);
            check_usage(stderr);
            return EXIT_USAGE;
        }
        first_file = i;
        break;
    }
    if (first_file >= argc) {
        fprintf(stderr, "sluice check: no pipeline file given\n");
        check_usage(stderr);
        return EXIT_USAGE;
    }
    reg = sluice_registry_new();
    if (!reg) {
        fprintf(stderr, "sluice check: cannot initialise the plugin loader\n");
        status = 70;
        goto out;
    }
    for (int i = first_file; i < argc; i++) {
        const char *file = argv[i];
        sluice_error err;
        sluice_pipeline_def *def = NULL;
        int rc = sluice_pipeline_require_plugins(file, reg, &err);

        if (rc == SLUICE_EXIT_UNAVAILABLE) {
            sluice_error_print(&err, stderr, "");
            errors += err.count ? err.count : 1;
            saw_unavailable = 1;
            continue;
        }
        if (rc != 0 || sluice_pipeline_load_flags(file, reg, load_flags, &def, &err) != 0) {
            sluice_error_print(&err, stderr, "");
            errors += err.count ? err.count : 1;
            saw_config_error = 1;
            continue;
        }
        printf("%s: ok (pipeline %s, %zu stage%s)\n", file, def->name, def->stage_count,
               def->stage_count == 1 ? "" : "s");
        if (print && sluice_pipeline_print(def, stdout) != 0) {
            fprintf(stderr, "sluice check: cannot print %s\n", file);
            status = 70;
        }
        sluice_pipeline_free(&def);
    }
    fflush(stdout);
    if (errors)
        fprintf(stderr, "%zu error%s\n", errors, errors == 1 ? "" : "s");
    /* A missing plugin says nothing about the file; report it first. */
    if (saw_unavailable)
        status = SLUICE_EXIT_UNAVAILABLE;
    else if (saw_config_error)
        status = SLUICE_EXIT_CONFIG;
out:
    sluice_registry_destroy(&reg);
    return status;
}
