/* main.c: the sluice command line: global options, then dispatch to run,
 * reload, check, plugins, dlq, erase or keygen. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands_config.h"
#include "commands_runtime.h"
#include "commands_state.h"
#include "log.h"
#include "protect.h"
#include "util/proctitle.h"

#define EXIT_USAGE 64

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", sluice_cmd_run, "run pipelines (--once: until the sources are exhausted)"},
    {"reload", sluice_cmd_reload, "re-read the directory of the running `sluice run --dir`"},
    {"check", sluice_cmd_check, "validate pipeline files without running anything"},
    {"plugins", sluice_cmd_plugins, "list plugins, or show one plugin's options"},
    {"dlq", sluice_cmd_dlq, "list, show, replay or purge dead-lettered records"},
    {"erase", sluice_cmd_erase, "queue members' erasure, or show the erasures done (--status)"},
    {"keygen", sluice_cmd_keygen, "write a CURVE key pair for a stage's tcp links"},
    {"status", sluice_cmd_status, "show the pipelines of a running `sluice run` (admin endpoint)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sluice [--log-level error|warn|info|debug] [--log-format text|json]\n"
                 "              COMMAND [ARGS...]\n"
                 "       sluice --version | --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'sluice COMMAND --help' describes a command. Every sluice process\n"
                 "creates its files 0600 and writes no core dump (it would hold secrets);\n"
                 "SLUICE_ALLOW_CORE=1 in the environment allows core dumps for debugging.\n");
}

int main(int argc, char **argv)
{
    sluice_log_level level = SLUICE_LOG_INFO;
    sluice_log_format format = SLUICE_LOG_FORMAT_AUTO;
    int level_given = 0;
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--version") == 0) {
            printf("sluice %s (plugin ABI %u)\n", PACKAGE_VERSION, SLUICE_ABI_VERSION);
            return 0;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if ((strcmp(arg, "--log-level") == 0 || strcmp(arg, "--log-format") == 0) &&
            i + 1 < argc) {
            const char *value = argv[++i];
            if (strcmp(arg, "--log-level") == 0 && sluice_log_level_parse(value, &level) != 0) {
                fprintf(stderr, "sluice: --log-level: unknown level '%s' "
                                "(error, warn, info, debug)\n", value);
                return EXIT_USAGE;
            }
            if (strcmp(arg, "--log-level") == 0)
                level_given = 1;
            if (strcmp(arg, "--log-format") == 0) {
                if (strcmp(value, "text") == 0)
                    format = SLUICE_LOG_FORMAT_TEXT;
                else if (strcmp(value, "json") == 0)
                    format = SLUICE_LOG_FORMAT_JSON;
                else {
                    fprintf(stderr, "sluice: --log-format: expected text or json, got '%s'\n",
                            value);
                    return EXIT_USAGE;
                }
            }
            continue;
        }
        fprintf(stderr, "sluice: unknown option '%s'\n", arg);
        usage(stderr);
        return EXIT_USAGE;
    }
    sluice_log_setup(level, format);
    sluice_cmd_run_log_defaults(level, level_given, format);
    sluice_proctitle_init(argc, argv);
    /* Before any secret is read: pipeline files, @file: values, state. */
    {
        const char *failed = NULL;
        if (sluice_protect_process(sluice_core_dumps_allowed(), &failed) != 0)
            sluice_log_write(NULL, NULL, SLUICE_LOG_WARN, "%s failed: %s; a core dump of "
                             "this process could hold secrets", failed, strerror(errno));
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(argc - i, argv + i);
    }
    fprintf(stderr, "sluice: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return EXIT_USAGE;
}
