/* cmd_check.c: `sluice check [--print] FILE...`: validate pipeline files
 * against the plugins' option tables without starting anything. */
#include "config.h"

#include <stdio.h>
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
            "usage: sluice check [--print] FILE...\n"
            "Validate pipeline files: syntax, ${ENV} and @file: values, every stage's\n"
            "options against its plugin's option table, stage order. Loads the plugins\n"
            "but starts nothing and creates no file, directory or socket.\n"
            "  --print   also print each resolved pipeline (defaults filled in,\n"
            "            secrets shown as ********)\n"
            "Prints 'FILE: ok (pipeline NAME, N stages)' per valid file, errors as\n"
            "'FILE:LINE: message' on stderr.\n"
            "Exit status: 0 all valid, 64 usage, 69 a plugin cannot be loaded,\n"
            "78 configuration error.\n");
}

/* Print an error line with registered secrets masked. */
static void print_error(const char *text)
{
    char masked[2048];

    sluice_log_mask(text, masked, sizeof(masked));
    fprintf(stderr, "%s\n", masked);
}

int sluice_cmd_check(int argc, char **argv)
{
    int print = 0;
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
            print_error(err.text);
            saw_unavailable = 1;
            continue;
        }
        if (rc != 0 || sluice_pipeline_load(file, reg, &def, &err) != 0) {
            print_error(err.text);
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
    /* A missing plugin says nothing about the file; report it first. */
    if (saw_unavailable)
        status = SLUICE_EXIT_UNAVAILABLE;
    else if (saw_config_error)
        status = SLUICE_EXIT_CONFIG;
out:
    sluice_registry_destroy(&reg);
    return status;
}
