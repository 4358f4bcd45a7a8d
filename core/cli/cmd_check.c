/* cmd_check.c: `sluice check [--print] FILE...`: validate pipeline files
 * against the plugins' option tables without starting anything; with no
 * FILE, the service settings file and every pipeline of its pipelines_dir
 * (service_conf.h). */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands_config.h"
#include "config_check.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"
#include "service_conf.h"

#define EXIT_USAGE 64

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice check [--print] [--env-file FILE] [--without-secrets] FILE...\n"
            "       sluice check [--service-config FILE] [--print] [--env-file FILE] [...]\n"
            "Validate pipeline files: syntax, ${ENV} and @file: values, every stage's\n"
            "options against its plugin's option table, stage order. Loads the plugins\n"
            "but starts nothing and creates no file, directory or socket. With no FILE,\n"
            "check the service as `sluice run` would start it: its settings file\n"
            "(" SLUICE_SYSCONFDIR "/sluice.conf) and every *.cfg of its pipelines_dir,\n"
            "with SLUICE_STATE_DIR set to its state_dir unless the environment sets it.\n"
            "  --service-config FILE  the service settings file to check instead\n"
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

/* What a check has found so far. */
typedef struct check_tally {
    size_t errors;
    int unavailable;           /* a plugin could not be loaded */
    int config_error;
    int status;                /* 70 when a resolved pipeline cannot be printed */
} check_tally;

/* Check pipeline `file`: "FILE: ok (...)" on stdout (and the resolved
 * pipeline with `print`), or its errors on stderr, counted in *tally. */
static void check_file(const char *file, sluice_registry *reg, unsigned load_flags, int print,
                       check_tally *tally)
{
    sluice_error err;
    sluice_pipeline_def *def = NULL;
    int rc = sluice_pipeline_require_plugins(file, reg, &err);

    if (rc == SLUICE_EXIT_UNAVAILABLE) {
        sluice_error_print(&err, stderr, "");
        tally->errors += err.count ? err.count : 1;
        tally->unavailable = 1;
        return;
    }
    if (rc != 0 || sluice_pipeline_load_flags(file, reg, load_flags, &def, &err) != 0) {
        sluice_error_print(&err, stderr, "");
        tally->errors += err.count ? err.count : 1;
        tally->config_error = 1;
        return;
    }
    printf("%s: ok (pipeline %s, %zu stage%s)\n", file, def->name, def->stage_count,
           def->stage_count == 1 ? "" : "s");
    if (print && sluice_pipeline_print(def, stdout) != 0) {
        fprintf(stderr, "sluice check: cannot print %s\n", file);
        tally->status = 70;
    }
    sluice_pipeline_free(&def);
}

/* scandir filter: the files `sluice run` runs from a directory, *.cfg
 * that are not hidden. */
static int is_pipeline_file(const struct dirent *d)
{
    size_t len = strlen(d->d_name);

    return d->d_name[0] != '.' && len >= 5 && strcmp(d->d_name + len - 4, ".cfg") == 0;
}

/* scandir order: by name, bytewise (as the fleet orders them). */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Check the service: the settings file `path` (NULL: the default, which
 * must exist), then every pipeline of its pipelines_dir with its
 * state_dir exported as `sluice run` does. Every error is reported and
 * counted in *tally. Returns 0, or EXIT_USAGE after a message when the
 * default file is missing. */
static int check_service(const char *path, sluice_registry *reg, unsigned load_flags,
                         int print, check_tally *tally)
{
    const char *file = path ? path : sluice_service_conf_default_path();
    sluice_service_conf *conf = malloc(sizeof(*conf));
    sluice_error *err = malloc(sizeof(*err));
    struct dirent **names = NULL;
    int count = 0, result = 0;

    if (!conf || !err) {
        fprintf(stderr, "sluice check: out of memory\n");
        tally->status = 70;
        goto out;
    }
    if (!path && access(file, F_OK) != 0) {
        fprintf(stderr, "sluice check: no FILE given, and no service settings: %s: %s\n"
                        "(give FILE... or --service-config FILE)\n", file, strerror(errno));
        result = EXIT_USAGE;
        goto out;
    }
    if (sluice_service_conf_read(file, conf, err) != 0) {
        sluice_error_print(err, stderr, "");
        tally->errors += err->count ? err->count : 1;
        tally->config_error = 1;
        if (access(file, R_OK) != 0)
            goto out;        /* unreadable: its pipelines_dir is unknown */
    } else {
        printf("%s: ok (service settings; pipelines_dir %s, state_dir %s)\n", file,
               conf->pipelines_dir, conf->state_dir);
    }
    if (!conf->pipelines_dir[0])
        goto out;            /* its error is reported; nothing to list */
    if (sluice_service_conf_export_state_dir(conf) != 0) {
        fprintf(stderr, "sluice check: cannot set SLUICE_STATE_DIR: %s\n", strerror(errno));
        tally->status = 70;
        goto out;
    }
    count = scandir(conf->pipelines_dir, &names, is_pipeline_file, by_name);
    if (count < 0) {
        fprintf(stderr, "%s: pipelines_dir %s: %s\n", file, conf->pipelines_dir,
                strerror(errno));
        tally->errors++;
        tally->config_error = 1;
        goto out;
    }
    if (count == 0)
        printf("%s: no pipeline (*.cfg) to run\n", conf->pipelines_dir);
    for (int i = 0; i < count; i++) {
        char pipeline[PATH_MAX + 256];

        snprintf(pipeline, sizeof(pipeline), "%s/%s", conf->pipelines_dir, names[i]->d_name);
        check_file(pipeline, reg, load_flags, print, tally);
    }
out:
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    free(err);
    free(conf);
    return result;
}

int sluice_cmd_check(int argc, char **argv)
{
    int print = 0;
    unsigned load_flags = 0;
    int first_file = argc;
    const char *service_config = NULL;
    check_tally tally = {0};
    int status = 0;
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
        if (strcmp(argv[i], "--env-file") == 0 || strcmp(argv[i], "--service-config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice check: %s needs a FILE\n", argv[i]);
                return EXIT_USAGE;
            }
            if (strcmp(argv[i], "--service-config") == 0) {
                service_config = argv[++i];
                continue;
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
    if (service_config && first_file < argc) {
        fprintf(stderr, "sluice check: --service-config checks its pipelines_dir: no FILE\n");
        check_usage(stderr);
        return EXIT_USAGE;
    }
    reg = sluice_registry_new();
    if (!reg) {
        fprintf(stderr, "sluice check: cannot initialise the plugin loader\n");
        status = 70;
        goto out;
    }
    if (first_file >= argc) {
        status = check_service(service_config, reg, load_flags, print, &tally);
        if (status != 0) {
            check_usage(stderr);
            goto out;
        }
    }
    for (int i = first_file; i < argc; i++)
        check_file(argv[i], reg, load_flags, print, &tally);
    fflush(stdout);
    if (tally.errors)
        fprintf(stderr, "%zu error%s\n", tally.errors, tally.errors == 1 ? "" : "s");
    status = tally.status;
    /* A missing plugin says nothing about the file; report it first. */
    if (tally.unavailable)
        status = SLUICE_EXIT_UNAVAILABLE;
    else if (tally.config_error)
        status = SLUICE_EXIT_CONFIG;
out:
    sluice_registry_destroy(&reg);
    return status;
}
